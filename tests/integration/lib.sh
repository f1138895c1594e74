#!/usr/bin/env bash
# Shared helpers for integration tests: each test starts its own carved on a temporary state
# directory with unique names (cgroup prefix, port, uid range) and removes everything it made on
# exit, also on failure. Tests need root; they exit 77 (skip) without it.
set -uo pipefail

: "${CARVED:?CARVED must point to the carved binary}"
: "${CARVE:?CARVE must point to the carve binary}"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: integration tests need root"
	exit 77
fi

T=$(mktemp -d /tmp/carve-it.XXXXXX)
PREFIX="carve-it-$$-$RANDOM"
UIDBASE=$((20000000 + ($$ % 2000) * 1048576))
PORT=$((20000 + ($$ * 7 + RANDOM) % 40000))
SOCK="$T/run/carved.sock"
CARVED_PID=""
N_OK=0
N_FAIL=0
export CARVE_URL="unix://$SOCK"
export HOME="$T/home"
export XDG_CONFIG_HOME="$T/home/.config"
mkdir -p "$HOME"

log() { printf '%s\n' "$*" >&2; }
ok() { N_OK=$((N_OK + 1)); log "ok: $*"; }
fail() { N_FAIL=$((N_FAIL + 1)); log "FAIL: $*"; }

# check DESC CMD...: passes when CMD succeeds
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}

# expect_eq DESC GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}

# expect_match DESC STRING REGEX
expect_match() {
	if [[ "$2" =~ $3 ]]; then ok "$1"; else fail "$1: '$2' does not match /$3/"; fi
}

kill_cgroups() {
	local d
	for d in /sys/fs/cgroup/*/"$PREFIX" /sys/fs/cgroup/"$PREFIX"; do
		[ -d "$d" ] || continue
		find "$d" -depth -type d 2>/dev/null | while read -r c; do
			if [ -f "$c/cgroup.procs" ]; then
				xargs -r kill -9 <"$c/cgroup.procs" 2>/dev/null || true
			fi
			rmdir "$c" 2>/dev/null || { sleep 0.2; rmdir "$c" 2>/dev/null || true; }
		done
	done
}

cleanup() {
	local f pid
	[ -n "$CARVED_PID" ] && kill -9 "$CARVED_PID" 2>/dev/null
	# every monitor of this test, and the container inits that are its children
	for pid in $(pgrep -f "carve-monitor --dir $T/" 2>/dev/null); do
		pkill -9 -P "$pid" 2>/dev/null
		kill -9 "$pid" 2>/dev/null
	done
	# carved's lxcfs (it outlives carved by design)
	if [ -f "$T/run/lxcfs.pid" ]; then
		pid=$(cat "$T/run/lxcfs.pid" 2>/dev/null)
		[ -n "$pid" ] && grep -qF "$T/run/lxcfs" "/proc/$pid/cmdline" 2>/dev/null && kill -9 "$pid"
	fi
	kill_cgroups
	sleep 0.2
	kill_cgroups
	# volumes and the pool image: unmount (deepest first), then loop devices backed by our files
	awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	losetup -a 2>/dev/null | grep -F "($T/" | cut -d: -f1 | while read -r l; do
		losetup -d "$l" 2>/dev/null
	done
	if [ -n "${KEEP_TMP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# start_carved [extra flags]: start carved and wait until it answers.
start_carved() {
	mkdir -p "$T/state"
	"$CARVED" --state-dir "$T/state" --run-dir "$T/run" --listen "127.0.0.1:$PORT" \
		--cgroup-prefix "$PREFIX" --uid-base "$UIDBASE" --stop-timeout 3 "$@" \
		>>"$T/carved.out" 2>>"$T/carved.log" &
	CARVED_PID=$!
	for _ in $(seq 1 100); do
		if curl -s -o /dev/null --unix-socket "$SOCK" http://localhost/api/v1/whoami; then
			return 0
		fi
		if ! kill -0 "$CARVED_PID" 2>/dev/null; then
			log "carved exited early:"; cat "$T/carved.log" >&2
			return 1
		fi
		sleep 0.1
	done
	log "carved did not answer in 10 s"; cat "$T/carved.log" >&2
	return 1
}

stop_carved() {
	[ -n "$CARVED_PID" ] || return 0
	kill -TERM "$CARVED_PID" 2>/dev/null
	wait "$CARVED_PID"
	local rc=$?
	CARVED_PID=""
	return $rc
}

# api METHOD PATH [BODY] [TOKEN]: sets STATUS and BODY. Root on the unix socket when no token.
api() {
	local method=$1 path=$2 data=${3:-} token=${4:-}
	local args=(-s -o "$T/body" -w '%{http_code}' -X "$method" --unix-socket "$SOCK")
	[ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	STATUS=$(curl "${args[@]}" "http://localhost/api/v1$path")
	BODY=$(cat "$T/body")
}

# api_tcp: the same over TCP (no root identity there)
api_tcp() {
	local method=$1 path=$2 data=${3:-} token=${4:-}
	local args=(-s -o "$T/body" -w '%{http_code}' -X "$method")
	[ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	STATUS=$(curl "${args[@]}" "http://127.0.0.1:$PORT/api/v1$path")
	BODY=$(cat "$T/body")
}

jf() { jq -r "$1" <<<"$BODY"; }

# wait_task ID [TOKEN]: poll until the task ends; prints its final state
wait_task() {
	local id=$1 token=${2:-} st
	for _ in $(seq 1 300); do
		api GET "/tasks/$id" "" "$token"
		st=$(jf .state)
		case "$st" in succeeded | failed) echo "$st"; return 0 ;; esac
		sleep 0.1
	done
	echo timeout
}

# login USER PASSWORD: prints the session secret
login() {
	api POST /login "{\"user\":\"$1\",\"password\":\"$2\"}"
	jf .secret
}

# mk_tenant NAME; mk_user NAME ROLE TENANT PASSWORD
mk_tenant() { api POST /tenants "{\"name\":\"$1\"}"; [ "$STATUS" = 201 ] || fail "create tenant $1: $STATUS $BODY"; }
mk_user() {
	api POST /users "{\"name\":\"$1\",\"role\":\"$2\",\"tenant\":\"$3\",\"password\":\"$4\"}"
	[ "$STATUS" = 201 ] || fail "create user $1: $STATUS $BODY"
}

# mk_server NAME TENANT [TOKEN]: create from busybox and wait for the task
mk_server() {
	local body="{\"name\":\"$1\",\"template\":\"busybox\",\"memory\":\"256M\""
	[ -n "${2:-}" ] && body+=",\"tenant\":\"$2\""
	api POST /servers "$body}" "${3:-}"
	[ "$STATUS" = 202 ] || { fail "create server $1: $STATUS $BODY"; return 1; }
	[ "$(wait_task "$(jf .task.id)" "${3:-}")" = succeeded ] || { fail "create server $1 task: $BODY"; return 1; }
}

# server_do NAME ACTION [TENANT] [TOKEN]: start/stop/restart and wait
server_do() {
	local q=""
	[ -n "${3:-}" ] && q="?tenant=$3"
	api POST "/servers/$1/$2$q" "" "${4:-}"
	[ "$STATUS" = 202 ] || { fail "$2 server $1: $STATUS $BODY"; return 1; }
	local st
	st=$(wait_task "$(jf .task.id)" "${4:-}")
	[ "$st" = succeeded ] || { fail "$2 server $1 task: $BODY"; return 1; }
}

server_field() {
	local q=""
	[ -n "${3:-}" ] && q="?tenant=$3"
	api GET "/servers/$1$q"
	jf "$2"
}

finish() {
	log "$N_OK checks passed, $N_FAIL failed"
	[ "$N_FAIL" = 0 ]
}

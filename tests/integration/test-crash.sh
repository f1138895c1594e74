#!/usr/bin/env bash
# Crash safety: carved is killed (SIGKILL, by a failpoint) in the middle of create, clone,
# snapshot, rollback, start and delete, then restarted without the failpoint. After each restart:
# no loop device or mount left but those of running servers, no temporary file in the pool, the
# database matches the disk (volumes, snapshots), and the server starts and stops, or, when its
# creation was interrupted, is in state error with a reason and deletes cleanly.
# Needs a build with -Dfailpoints=true (scripts/test.sh); skips otherwise.
. "$(dirname "$0")/lib.sh"

POOL="$T/state/pools/default"
IMAGE="$T/state/pools/default.img"
FLAGS=(--pool-size 8G --overcommit 2)

# crash_at FAILPOINT METHOD PATH [BODY]: restart carved with the failpoint armed, send the request
# and wait until carved dies of SIGKILL; then restart it without the failpoint.
crash_at() {
	local fp=$1 method=$2 path=$3 data=${4:-} rc
	stop_carved
	CARVE_FAILPOINT=$fp start_carved "${FLAGS[@]}" || { fail "$fp: start carved"; return 1; }
	api "$method" "$path" "$data"
	for _ in $(seq 1 100); do
		kill -0 "$CARVED_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$CARVED_PID" 2>/dev/null; then
		if [ "$fp" = "$FIRST_FP" ]; then
			log "SKIP: carved did not die at failpoint '$fp' (built without -Dfailpoints=true?)"
			exit 77
		fi
		fail "$fp: carved is still alive after $method $path ($STATUS $BODY)"
		return 1
	fi
	wait "$CARVED_PID"
	rc=$?
	CARVED_PID=""
	expect_eq "$fp: carved was killed by SIGKILL during $method $path" "$rc" 137
	start_carved "${FLAGS[@]}" || { fail "$fp: restart carved"; return 1; }
}

# ids of the servers in a state (jq select on .state)
ids_in_state() {
	api GET /servers
	jq -r ".[] | select($1) | .id" <<<"$BODY" | sort
}

# consistent LABEL: the disk, the kernel and the database agree
consistent() {
	local label=$1 running allowed got want bad name id
	running=$(ids_in_state '.state == "running"')
	allowed=$(
		echo "$IMAGE"
		for id in $running; do echo "$POOL/volumes/$id.raw"; done
	)
	bad=$(losetup -l -n -O BACK-FILE 2>/dev/null | sed 's/ (deleted)$//' | grep -F "$T/" |
		grep -vxF -f <(echo "$allowed") || true)
	expect_eq "$label: no loop device but the pool's and running servers'" "$bad" ""
	allowed=$(for id in $running; do echo "$T/run/servers/$id/rootfs"; done)
	bad=$(awk -v t="$T/run/servers/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo |
		grep -vxF -f <(echo "${allowed:-/nonexistent}") || true)
	expect_eq "$label: no mount under the run dir but running servers'" "$bad" ""
	bad=$(find "$POOL/volumes" "$POOL/snapshots" -name '.*' 2>/dev/null)
	expect_eq "$label: no temporary file in the pool" "$bad" ""
	want=$(ids_in_state '.state != "error"')
	got=$(find "$POOL/volumes" -maxdepth 1 -name '*.raw' ! -name 'template-*' -printf '%f\n' |
		sed 's/\.raw$//' | sort)
	expect_eq "$label: volume files are those of the servers" "$got" "$want"
	api GET /servers
	for name in $(jq -r '.[].name' <<<"$BODY"); do
		id=$(server_field "$name" .id)
		api GET "/servers/$name/snapshots"
		want=$(jq -r '.[].name' <<<"$BODY" | sort)
		got=$(find "$POOL/snapshots/$id" -maxdepth 1 -name '*.raw' -printf '%f\n' 2>/dev/null |
			sed 's/\.raw$//' | sort)
		expect_eq "$label: snapshot files of '$name' match its records" "$got" "$want"
	done
	got=$(find "$POOL/snapshots" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
	want=$(ids_in_state 'true' | while read -r id; do [ -d "$POOL/snapshots/$id" ] && echo "$id"; done)
	expect_eq "$label: no snapshot directory without a server" "$got" "$want"
}

# cycle NAME: the server starts, takes writes, and stops
cycle() {
	server_do "$1" start || return 1
	check "$2: '$1' runs and writes after the crash" \
		timeout 10 "$CARVE" exec "$1" -- sh -c 'echo ok > /root/cycle && sync'
	server_do "$1" stop
}

# interrupted_create NAME LABEL: the server is in error with a reason, and deletes cleanly
interrupted_create() {
	expect_eq "$2: '$1' is in state error" "$(server_field "$1" .state)" error
	expect_match "$2: the reason says why" "$(server_field "$1" .state_reason)" "interrupted"
	api DELETE "/servers/$1"
	expect_eq "$2: '$1' deletes cleanly" "$(wait_task "$(jf .task.id)")" succeeded
	api GET "/servers/$1"
	expect_eq "$2: '$1' is gone" "$STATUS" 404
}

t0=$(date +%s)
start_carved "${FLAGS[@]}" || exit 1
mk_tenant acme
mk_server web acme
server_do web start
"$CARVE" exec web -- sh -c 'echo v1 > /root/state && sync'
api POST /servers/web/snapshots '{"name":"s1"}'
[ "$(wait_task "$(jf .task.id)")" = succeeded ] || fail "snapshot s1"
"$CARVE" exec web -- sh -c 'echo v2 > /root/state && sync'
consistent "before any crash"

# create: between the clone and its rename into place; after the clone, before the state
FIRST_FP=storage-clone-partial
crash_at storage-clone-partial POST /servers '{"name":"c1","template":"busybox","tenant":"acme"}'
consistent "create, clone partial"
interrupted_create c1 "create, clone partial"
crash_at server-create-copied POST /servers '{"name":"c2","template":"busybox","tenant":"acme","disk":"1G"}'
consistent "create, copied"
interrupted_create c2 "create, copied"

# clone of a snapshot: between the clone and its rename
crash_at storage-clone-partial POST /servers/web/snapshots/s1/clone '{"name":"c3"}'
consistent "snapshot clone, partial"
interrupted_create c3 "snapshot clone, partial"

# snapshot of a running server: inside the frozen window (copy not renamed yet), and between the
# copy and its record
crash_at storage-snapshot-partial POST /servers/web/snapshots '{"name":"s2"}'
expect_eq "snapshot partial: 'web' still runs" "$(server_field web .state)" running
check "snapshot partial: the frozen filesystem was thawed (writes go through)" \
	timeout 10 "$CARVE" exec web -- sh -c 'echo v2 > /root/state && sync'
consistent "snapshot partial"
crash_at server-snapshot-taken POST /servers/web/snapshots '{"name":"s3"}'
consistent "snapshot taken, no record"
api POST /servers/web/snapshots '{"name":"s3"}'
expect_eq "snapshot taken: the same name can be taken again" "$(wait_task "$(jf .task.id)")" succeeded
consistent "snapshot retaken"

# rollback: between the copy of the snapshot and its rename over the volume
server_do web stop
crash_at storage-rollback-partial POST /servers/web/snapshots/s1/rollback
consistent "rollback partial"
server_do web start
expect_eq "rollback partial: the volume is unchanged" "$("$CARVE" exec web -- cat /root/state)" v2
server_do web stop
api POST /servers/web/snapshots/s1/rollback
expect_eq "rollback after the crash succeeds" "$(wait_task "$(jf .task.id)")" succeeded

# start: after the volume is attached (no monitor yet); after the monitor is launched
crash_at server-start-attached POST /servers/web/start
expect_eq "start attached: 'web' is stopped" "$(server_field web .state)" stopped
consistent "start attached"
cycle web "start attached"
crash_at server-start-launched POST /servers/web/start
expect_eq "start launched: 'web' is running (its monitor was adopted)" \
	"$(server_field web .state)" running
expect_eq "start launched: the rolled back data is there" "$("$CARVE" exec web -- cat /root/state)" v1
consistent "start launched"
server_do web stop
consistent "start launched, stopped"

# snapshot delete: between the data and the record
crash_at snapshot-delete-data-gone DELETE /servers/web/snapshots/s3
consistent "snapshot delete"
api GET /servers/web/snapshots
expect_eq "snapshot delete: the record went with the data" "$(jf '[.[].name] | index("s3")')" null

# delete: between detach and destroy; after the volume is gone, before the record
for fp in server-delete-detached server-delete-volume-gone; do
	mk_server "d-$fp" acme
	api POST "/servers/d-$fp/snapshots" '{"name":"x"}'
	wait_task "$(jf .task.id)" >/dev/null
	id=$(server_field "d-$fp" .id)
	crash_at "$fp" DELETE "/servers/d-$fp"
	api GET "/servers/d-$fp"
	expect_eq "$fp: the delete was finished at restart" "$STATUS" 404
	check "$fp: its volume is gone" test ! -e "$POOL/volumes/$id.raw"
	check "$fp: its snapshots are gone" test ! -e "$POOL/snapshots/$id"
	consistent "$fp"
done

cycle web "end"
consistent "end"
check "stopped cleanly" stop_carved
log "took $(($(date +%s) - t0)) s"
finish

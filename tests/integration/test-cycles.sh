#!/usr/bin/env bash
# Many create/start/stop/delete cycles leave carved's fd count and memory flat, and no zombie,
# mount, loop device or cgroup behind.
. "$(dirname "$0")/lib.sh"

CYCLES=${CYCLES:-100}
# AddressSanitizer's quarantine would look like growth: keep it small for this measurement.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1:detect_leaks=1"
start_carved || exit 1
mk_tenant acme

fds() { ls /proc/$CARVED_PID/fd | wc -l; }
rss() { awk '/^VmRSS:/ {print $2}' /proc/$CARVED_PID/status; }
cycle() {
	mk_server "c$1" acme || return 1
	server_do "c$1" start || return 1
	server_do "c$1" stop || return 1
	api DELETE "/servers/c$1"
	[ "$(wait_task "$(jf .task.id)")" = succeeded ] || { fail "delete c$1: $BODY"; return 1; }
}

warm=$((CYCLES / 10))
for i in $(seq 1 $warm); do cycle $i || break; done
fd0=$(fds)
rss0=$(rss)
for i in $(seq $((warm + 1)) $CYCLES); do cycle $i || break; done
fd1=$(fds)
rss1=$(rss)
log "after $warm cycles: $fd0 fds, $rss0 KiB; after $CYCLES: $fd1 fds, $rss1 KiB"
check "carved's fd count is flat ($fd0 -> $fd1)" test "$fd1" -le $((fd0 + 2))
check "carved's RSS is flat ($rss0 -> $rss1 KiB)" test "$rss1" -le $((rss0 + rss0 / 5 + 2048))
api GET /servers
expect_eq "no server is left" "$(jf length)" 0
check "no zombie child of carved" bash -c "! ps -o stat= --ppid $CARVED_PID | grep -q Z"
check "no monitor is left" bash -c "! pgrep -f 'carve-monito[r] --dir $T/'"
# (<run>/servers itself is carved's shared mount point, see docs/architecture.md)
n=$(awk -v t="$T/run/servers/" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)
expect_eq "no server mount is left" "$n" 0
check "no loop device of a server volume is left" bash -c "! losetup -a | grep -F '$T/state/pools/default/volumes/'"
left=$(find /sys/fs/cgroup/*/"$PREFIX" -mindepth 1 -type d 2>/dev/null | wc -l)
expect_eq "no server or tenant cgroup is left" "$left" 0
finish

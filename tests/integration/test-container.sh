#!/usr/bin/env bash
# A container server runs unprivileged in its own namespaces with its tenant's uid range, under a
# monitor that is not carved's child; it survives kill -9 of carved and a restarted carved finds
# it running.
. "$(dirname "$0")/lib.sh"

start_carved || exit 1
mk_tenant acme
api GET /tenants/acme
base=$(jf .uid_base)
mk_server web1 acme
mk_server db1 acme
vol="$T/state/pools/default/volumes/$(server_field web1 .id).raw"
check "a new server has its own volume" test -f "$vol"
expect_eq "default disk is 2G" "$(server_field web1 .disk)" $((2 << 30))
check "the volume is thin (under 64 MiB allocated)" test "$(server_field web1 .disk_used)" -lt $((64 << 20))

server_do web1 start
server_do db1 start
expect_eq "web1 running" "$(server_field web1 .state)" running
pid=$(server_field web1 .init_pid)
check "init pid is alive" kill -0 "$pid"

for ns in user pid mnt net uts ipc cgroup; do
	check "init has its own $ns namespace" test "$(readlink /proc/$pid/ns/$ns)" != "$(readlink /proc/self/ns/$ns)"
done
read -r inside outside count < /proc/$pid/uid_map
expect_eq "uid map is the tenant's range" "$inside $outside $count" "0 $base 65536"
read -r inside outside count < /proc/$pid/gid_map
expect_eq "gid map is the tenant's range" "$inside $outside $count" "0 $base 65536"
expect_eq "init runs as the tenant's host uid" "$(awk '/^Uid:/ {print $2}' /proc/$pid/status)" "$base"
expect_eq "init is pid 1 inside" "$(awk '/^NSpid:/ {print $3}' /proc/$pid/status)" 1
expect_eq "hostname is the server name" "$(nsenter -t "$pid" -U -u hostname 2>/dev/null || nsenter -t "$pid" -u hostname)" web1
check "root is the server's own copy" test "$(readlink /proc/$pid/root)" = /
check "server sees its own files" test -x "/proc/$pid/root/bin/busybox"
expect_eq "through the idmapped mount the server's files belong to its tenant's root" \
	"$(stat -c %u "/proc/$pid/root/bin/busybox")" "$base"
expect_eq "on disk they stay owned by uid 0 (no chown, no shifted copy)" \
	"$(stat -c %u "$T/run/servers/$(server_field web1 .id)/rootfs/bin/busybox")" 0
check "the container's root is writable by its root" nsenter -t "$pid" -U -m -- /bin/busybox touch /root/written-by-tenant
pid2=$(server_field db1 .init_pid)
check "two servers are in different pid namespaces" test "$(readlink /proc/$pid/ns/pid)" != "$(readlink /proc/$pid2/ns/pid)"
mon=$(awk '/^PPid:/ {print $2}' /proc/$pid/status)
check "init's parent is the monitor" grep -q carve-monitor /proc/$mon/cmdline
mppid=$(awk '/^PPid:/ {print $2}' /proc/$mon/status)
check "monitor is not carved's child" test "$mppid" != "$CARVED_PID"
check "monitor is in a session of its own, not carved's" \
	test "$(awk '{print $6}' /proc/$mon/stat)" != "$(awk '{print $6}' /proc/$CARVED_PID/stat)"
# CVE-2019-5736 without a copy per server: every monitor runs from the one sealed memfd carved made
mon2=$(awk '/^PPid:/ {print $2}' /proc/$pid2/status)
expect_match "the monitor runs from a memfd, not the binary on disk" "$(readlink /proc/$mon/exe)" '^/memfd:carve-monitor'
expect_eq "both monitors share that one copy" "$(stat -L -c %d:%i /proc/$mon/exe)" "$(stat -L -c %d:%i /proc/$mon2/exe)"
check "the copy cannot be opened for writing" bash -c "! exec 3>>/proc/$mon/exe"

# kill -9 carved: servers keep running; a new carved reports them running.
kill -9 "$CARVED_PID"; wait "$CARVED_PID" 2>/dev/null; CARVED_PID=""
sleep 0.3
check "web1 survives kill -9 of carved" kill -0 "$pid"
check "db1 survives kill -9 of carved" kill -0 "$pid2"
start_carved || exit 1
expect_eq "restarted carved reports web1 running" "$(server_field web1 .state)" running
expect_eq "restarted carved knows web1's init" "$(server_field web1 .init_pid)" "$pid"
server_do web1 stop
expect_eq "web1 stopped after restart of carved" "$(server_field web1 .state)" stopped
check "web1's init is gone" bash -c "! kill -0 $pid 2>/dev/null"
expect_match "stop reason recorded" "$(server_field web1 .state_reason)" "init"

# a server whose init exits by itself is seen as stopped
kill -9 "$pid2"
for _ in $(seq 1 50); do [ "$(server_field db1 .state)" = stopped ] && break; sleep 0.1; done
expect_eq "server whose init died is stopped" "$(server_field db1 .state)" stopped
expect_match "reason names the signal" "$(server_field db1 .state_reason)" "signal 9"

# SIGTERM of carved leaves servers running too
server_do web1 start
pid=$(server_field web1 .init_pid)
stop_carved
expect_eq "carved exits 0 on SIGTERM with a server running" "$?" 0
check "server survives SIGTERM of carved" kill -0 "$pid"
start_carved || exit 1
expect_eq "still running after a clean restart" "$(server_field web1 .state)" running
server_do web1 restart
npid=$(server_field web1 .init_pid)
check "restart gives a new init" test "$npid" != "$pid"

# resource limits and the freezer, seen from the host's cgroups
cg=/sys/fs/cgroup/memory/$PREFIX/acme/web1
expect_eq "the server's memory limit is its memory setting" "$(cat $cg/memory.limit_in_bytes)" $((256 << 20))
expect_eq "a vCPU is a CFS quota of one period" \
	"$(cat /sys/fs/cgroup/cpu/$PREFIX/acme/web1/cpu.cfs_quota_us)" "$(cat /sys/fs/cgroup/cpu/$PREFIX/acme/web1/cpu.cfs_period_us)"
api PATCH /tenants/acme '{"max_memory":"384M","max_pids":200,"max_vcpus":1}'
expect_eq "tenant caps set by the provider" "$STATUS/$(jf .caps.max_pids)" 200/200
expect_eq "the tenant's cgroup caps the memory of all its servers" \
	"$(cat /sys/fs/cgroup/memory/$PREFIX/acme/memory.limit_in_bytes)" $((384 << 20))
expect_eq "the tenant's cgroup caps its processes" "$(cat /sys/fs/cgroup/pids/$PREFIX/acme/pids.max)" 200
api POST /servers/web1/pause
expect_eq "pause" "$STATUS/$(jf .state)" 200/paused
expect_eq "the freezer holds every process" "$(cat /sys/fs/cgroup/freezer/$PREFIX/acme/web1/freezer.state)" FROZEN
check "a paused init is stopped by the kernel" grep -q "^State:.*[DT]" /proc/$npid/status
api POST /servers/web1/pause
expect_eq "pausing twice is 409" "$STATUS" 409
# a paused server's snapshot holds what its processes wrote (dirty pages synced, no FIFREEZE
# that could wait on a frozen writer)
api POST /servers/web1/snapshots '{"name":"while-paused"}'
expect_eq "snapshot of a paused server" "$(wait_task "$(jf .task.id)")" succeeded
expect_match "it holds the file the tenant wrote before the pause" \
	"$(debugfs -R "stat /root/written-by-tenant" "$T/state/pools/default/snapshots/$(server_field web1 .id)/while-paused.raw" 2>&1)" \
	"Type: regular"
api DELETE /servers/web1/snapshots/while-paused
api POST /servers/web1/resume
expect_eq "resume" "$STATUS/$(jf .state)" 200/running
expect_eq "thawed" "$(cat /sys/fs/cgroup/freezer/$PREFIX/acme/web1/freezer.state)" THAWED
api POST /servers/web1/pause
server_do web1 stop
expect_eq "a paused server can be stopped" "$(server_field web1 .state)" stopped

# delete removes the server's files
id=$(server_field web1 .id)
api DELETE /servers/web1
[ "$(wait_task "$(jf .task.id)")" = succeeded ] || fail "delete task"
api GET /servers/web1
expect_eq "deleted server is gone" "$STATUS" 404
check "its volume is gone" test ! -e "$T/state/pools/default/volumes/$id.raw"
check "no loop device is left for it" bash -c "! losetup -a | grep -q '$id'"
check "its run directory is gone" test ! -e "$T/run/servers/$id"
finish

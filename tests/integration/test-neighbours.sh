#!/usr/bin/env bash
# A hostile tenant's fork bomb, memory hog, CPU hog and disk-write hog, each confined by its
# server's and its tenant's cgroups and disk, while a probe in another tenant's server keeps
# answering: its latency before and during is reported and must stay within a bound.
. "$(dirname "$0")/lib.sh"

start_carved || exit 1
mk_tenant evil
mk_tenant good
api PATCH /tenants/evil '{"max_pids":256,"max_memory":"192M","max_vcpus":1}'
[ "$STATUS" = 200 ] || fail "tenant caps: $BODY"
api POST /servers '{"name":"hog","template":"busybox","tenant":"evil","memory":"128M","disk":"300M"}'
[ "$(wait_task "$(jf .task.id)")" = succeeded ] || fail "create hog"
api POST /servers '{"name":"probe","template":"busybox","tenant":"good","memory":"128M"}'
[ "$(wait_task "$(jf .task.id)")" = succeeded ] || fail "create probe"
server_do hog start
server_do probe start
ex() { "$CARVE" exec "$@"; }

# The probe: time a round trip into the good tenant's server (exec of a small command),
# median of 5, in milliseconds.
probe_ms() {
	local t=()
	for _ in 1 2 3 4 5; do
		local a b
		a=$(date +%s%N)
		ex probe -- sh -c 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done' >/dev/null || echo "probe failed" >&2
		b=$(date +%s%N)
		t+=($(((b - a) / 1000000)))
	done
	printf '%s\n' "${t[@]}" | sort -n | sed -n 3p
}
before=$(probe_ms)
log "probe before: ${before} ms"

# The attacks in the hostile tenant's server: a memory hog (a 400M buffer in a 128M server)
# and a disk hog (1000M into a 300M disk) run to their end; then CPU hogs on every core and a
# fork bomb stay running while the probe measures.
ex hog -- dd if=/dev/zero of=/dev/null bs=400M count=1 >"$T/oom.out" 2>&1
oom_rc=$?
ex hog -- sh -c 'dd if=/dev/zero of=/fill bs=1M count=1000; sync' >"$T/fill.out" 2>&1 &
fill_pid=$!
ex hog -- sh -c 'for i in 1 2 3 4; do (while :; do :; done) & done; wait' >/dev/null 2>&1 &
sleep 1
ex hog -- sh -c 'f() { f | f & }; f' >/dev/null 2>&1 &
sleep 3
during=$(probe_ms)
log "probe during: ${during} ms"
cpu_busy=$(cat /sys/fs/cgroup/cpu,cpuacct/$PREFIX/evil/hog/cpuacct.usage 2>/dev/null || cat /sys/fs/cgroup/cpuacct/$PREFIX/evil/hog/cpuacct.usage 2>/dev/null || echo 0)
wait "$fill_pid"

pids=$(cat /sys/fs/cgroup/pids/$PREFIX/evil/pids.current 2>/dev/null || echo 0)
check "the fork bomb is held by the tenant's pids cap ($pids <= 256)" test "$pids" -le 256
check "the memory hog is killed inside its cgroup (exit $oom_rc)" test "$oom_rc" = 137
check "the CPU hogs really ran (${cpu_busy} ns)" test "$cpu_busy" -gt 1000000000
check "the disk hog stops at its disk size" grep -q "No space left" "$T/fill.out"
usage=$(cat /sys/fs/cgroup/memory/$PREFIX/evil/memory.max_usage_in_bytes 2>/dev/null || echo 0)
check "the tenant never used more memory than its cap ($usage)" test "$usage" -le $((192 << 20))
bound=$((before * 5 + 1000))
check "the neighbour keeps answering: ${during} ms during vs ${before} ms before (bound ${bound} ms)" \
	test "$during" -le "$bound"
echo "neighbour probe latency: before ${before} ms, during ${during} ms" >&2

# The hostile server can still be stopped, and nothing of it is left.
server_do hog stop
expect_eq "the hog stopped" "$(server_field hog .state)" stopped
check "no process is left in its cgroup" bash -c "! test -s /sys/fs/cgroup/pids/$PREFIX/evil/hog/cgroup.procs"
server_do probe stop
finish

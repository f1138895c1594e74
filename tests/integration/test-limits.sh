#!/usr/bin/env bash
# Per-server process and disk I/O limits: set at create through the CLI, written into the
# server's cgroup for the loop device of its own disk, felt inside (direct I/O through the
# blkio throttle of this cgroup v1 host; v1 cannot throttle page-cache writeback, v2 does with
# io.max), changed live on a running server, and bad values refused naming the field.
. "$(dirname "$0")/lib.sh"

start_carved || exit 1
mk_tenant lim
"$CARVE" server create io1 --tenant lim --template busybox --memory 128M --disk 300M \
	--io-write-bps 4M --io-read-bps 4M --pids-max 40 >/dev/null ||
	fail "carve server create with limits"
server_do io1 start lim
expect_eq "io_write_bps recorded" "$(server_field io1 .io_write_bps lim)" 4194304
expect_eq "pids_max recorded" "$(server_field io1 .pids_max lim)" 40
ex() { "$CARVE" exec --tenant lim io1 -- "$@"; }

id=$(server_field io1 .id lim)
rootfs="$T/run/servers/$id/rootfs"
loop=$(findmnt -n -o SOURCE "$rootfs")
majmin=$(lsblk -n -d -o MAJ:MIN "$loop" | tr -d ' ')
log "io1's disk: $loop ($majmin)"
expect_match "the disk is a loop device" "$loop" '^/dev/loop[0-9]+$'

cg=$(ls -d /sys/fs/cgroup/blkio/"$PREFIX"/lim/io1 2>/dev/null)
if [ -n "$cg" ]; then
	expect_eq "blkio write rule for io1's own disk" \
		"$(cat "$cg/blkio.throttle.write_bps_device")" "$majmin 4194304"
	expect_eq "blkio read rule for io1's own disk" \
		"$(cat "$cg/blkio.throttle.read_bps_device")" "$majmin 4194304"
elif [ -f /sys/fs/cgroup/"$PREFIX"/lim/io1/io.max ]; then
	expect_match "io.max rule for io1's own disk" \
		"$(cat /sys/fs/cgroup/"$PREFIX"/lim/io1/io.max)" "^$majmin rbps=4194304 wbps=4194304"
else
	fail "no blkio or io controller for the server's cgroup"
fi
pids_cg=$(ls -d /sys/fs/cgroup/pids/"$PREFIX"/lim/io1 /sys/fs/cgroup/"$PREFIX"/lim/io1 2>/dev/null | head -1)
expect_eq "pids.max of the server" "$(cat "$pids_cg/pids.max")" 40

# 12 MiB at 4 MiB/s: about 3 s; unthrottled this disk takes well under a second.
elapsed_ms() {
	local a b
	a=$(date +%s%N)
	"$@" >/dev/null 2>&1 || echo "command failed: $*" >&2
	b=$(date +%s%N)
	echo $(((b - a) / 1000000))
}
w=$(elapsed_ms ex dd if=/dev/zero of=/io.bin bs=1M count=12 oflag=direct)
log "12M direct write at 4M/s: $w ms"
check "direct writes are throttled to the limit (>= 2500 ms, got $w)" test "$w" -ge 2500
r=$(elapsed_ms ex dd if=/io.bin of=/dev/null bs=1M count=12 iflag=direct)
log "12M direct read at 4M/s: $r ms"
check "direct reads are throttled to the limit (>= 2500 ms, got $r)" test "$r" -ge 2500

# Live: lifting the limits on the running server takes effect at once.
"$CARVE" server set io1 --tenant lim --io-write-bps 0 --io-read-bps 0 --pids-max 20 \
	--memory 96M >/dev/null || fail "carve server set (live)"
w=$(elapsed_ms ex dd if=/dev/zero of=/io2.bin bs=1M count=12 oflag=direct)
log "12M direct write unthrottled: $w ms"
check "lifting the write limit applies to the running server (< 2000 ms, got $w)" test "$w" -lt 2000
expect_eq "pids.max changed live" "$(cat "$pids_cg/pids.max")" 20
mem_cg=$(ls -d /sys/fs/cgroup/memory/"$PREFIX"/lim/io1 2>/dev/null)
[ -n "$mem_cg" ] && expect_eq "memory limit changed live" \
	"$(cat "$mem_cg/memory.limit_in_bytes")" $((96 << 20))

# pids: 30 sleepers in a server capped at 20 processes: forks fail inside, the host is fine.
ex sh -c 'for i in $(seq 30); do sleep 5 & done; wait' >"$T/fork.out" 2>&1
check "forks past pids_max fail inside the server" grep -qi "fork\|resource" "$T/fork.out"

# A memory limit below what the server uses is refused and nothing is recorded.
ex sh -c 'mkdir -p /dev/shm/x; dd if=/dev/zero of=/dev/shm/x/f bs=1M count=60' >/dev/null 2>&1
api PATCH /servers/io1?tenant=lim '{"memory":"16M"}'
if [ "$STATUS" = 200 ]; then
	log "note: the kernel accepted 16M (reclaimed the shm); no refusal to check"
else
	expect_match "a refused live memory limit is an error" "$STATUS" '^(4|5)[0-9][0-9]$'
	expect_eq "the old memory limit stays recorded" "$(server_field io1 .memory lim)" $((96 << 20))
fi
ex rm -rf /dev/shm/x >/dev/null 2>&1

# Bad values name the field and change nothing.
api PATCH /servers/io1?tenant=lim '{"io_write_bps":"fast"}'
expect_eq "a bad io_write_bps is a 400" "$STATUS" 400
expect_eq "the error names io_write_bps" "$(jf .error.field)" io_write_bps
api PATCH /servers/io1?tenant=lim '{"pids_max":-1}'
expect_eq "a negative pids_max is a 400" "$STATUS" 400
expect_eq "the error names pids_max" "$(jf .error.field)" pids_max
api PATCH /servers/io1?tenant=lim '{"io_read_iops":100000001}'
expect_eq "io_read_iops above the maximum is a 400" "$STATUS" 400
"$CARVE" server set io1 --tenant lim --io-write-iops many >/dev/null 2>"$T/cli.err"
expect_eq "the CLI refuses a bad --io-write-iops with exit 64" "$?" 64
check "the CLI names the option" grep -q -- "--io-write-iops" "$T/cli.err"
expect_eq "pids_max unchanged by the refused requests" "$(server_field io1 .pids_max lim)" 20

server_do io1 stop lim
api DELETE /servers/io1?tenant=lim
wait_task "$(jf .task.id)" >/dev/null
finish

#!/usr/bin/env bash
# A server of kind "vm": QEMU (TCG here) boots the busybox-vm template's kernel and initramfs
# under the per-server monitor, as an unprivileged uid, with the server's raw volume as its disk.
# Its serial console is the server console; stop is an ACPI powerdown; it survives kill -9 of
# carved like a container. A second VM, machine microvm (virtio-mmio, no firmware), boots beside
# it with a data volume: its markers are read through `carve console`, and it survives kill -9
# of carved and stops on its (GED) power button. Skips without QEMU or without the VM assets
# (scripts/vm-assets.sh builds them from Debian's mirror in a few seconds; this test tries it
# once).
if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: qemu-system-x86_64 is not installed"
	exit 77
fi
export CARVE_VM_ASSETS=${CARVE_VM_ASSETS:-/var/tmp/carve-vm-assets}
# builds the assets, or rebuilds them when the script's version changed (quick when current)
timeout 120 bash "$(dirname "$0")/../../scripts/vm-assets.sh" "$CARVE_VM_ASSETS" >/dev/null 2>&1
if [ ! -f "$CARVE_VM_ASSETS/vmlinuz" ] || [ ! -f "$CARVE_VM_ASSETS/initramfs.gz" ]; then
	echo "SKIP: no VM assets in $CARVE_VM_ASSETS (scripts/vm-assets.sh)"
	exit 77
fi
. "$(dirname "$0")/lib.sh"

# wait_console ID MARKER SECONDS: until console.log holds MARKER
wait_console() {
	local f="$T/run/servers/$1/console.log"
	for _ in $(seq 1 $(($3 * 10))); do
		grep -q "$2" "$f" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

start_carved || exit 1
api GET /templates/busybox-vm
expect_eq "carved made the busybox-vm template" "$STATUS" 200
expect_eq "the template is for VMs" "$(jf .kind)" vm
mk_tenant acme
api GET /tenants/acme
base=$(jf .uid_base)

api POST /servers '{"name":"vm1","template":"busybox","tenant":"acme","kind":"vm"}'
expect_eq "a container template does not make a VM" "$STATUS" 422
api POST /servers '{"name":"vm1","template":"busybox-vm","tenant":"acme","kind":"vm","memory":"256M"}'
expect_eq "create vm1" "$STATUS" 202
expect_eq "create task succeeds" "$(wait_task "$(jf .task.id)")" succeeded
id=$(server_field vm1 .id)
expect_eq "vm1 is a vm" "$(server_field vm1 .kind)" vm
disk="$T/state/pools/default/volumes/$id.raw"
check "vm1 has its own raw volume" test -f "$disk"
# every VM gets a uid of its own; a deleted VM's uid is reused
api POST /servers '{"name":"vm2","template":"busybox-vm","tenant":"acme","kind":"vm","memory":"128M"}'
expect_eq "create vm2" "$(wait_task "$(jf .task.id)")" succeeded
uid1=$(server_field vm1 .vm_uid)
uid2=$(server_field vm2 .vm_uid)
check "two VMs run as two different uids ($uid1, $uid2)" test -n "$uid1" -a "$uid1" != "$uid2"
expect_eq "a container has no VM uid" "$(api GET /servers; jf '[.[] | select(.kind == "container")] | map(has("vm_uid")) | any')" false
api DELETE /servers/vm2?tenant=acme
expect_eq "delete vm2" "$(wait_task "$(jf .task.id)")" succeeded
api POST /servers '{"name":"vm3","template":"busybox-vm","tenant":"acme","kind":"vm","memory":"128M"}'
expect_eq "create vm3" "$(wait_task "$(jf .task.id)")" succeeded
expect_eq "vm3 reuses vm2's uid" "$(server_field vm3 .vm_uid)" "$uid2"
api DELETE /servers/vm3?tenant=acme
wait_task "$(jf .task.id)" >/dev/null

# machine: q35 (default) or microvm, for VMs only
expect_eq "vm1 is a q35 VM (the default)" "$(server_field vm1 .machine)" q35
api POST /servers '{"name":"m0","template":"busybox-vm","tenant":"acme","kind":"vm","machine":"pc"}'
expect_eq "an unknown machine: 400 naming it" "$STATUS/$(jf .error.field)" 400/machine
api POST /servers '{"name":"m0","template":"busybox","tenant":"acme","machine":"microvm"}'
expect_eq "a machine for a container: 400 naming it" "$STATUS/$(jf .error.field)" 400/machine
api POST /servers '{"name":"m0","template":"busybox-vm","tenant":"acme","kind":"vm","machine":7}'
expect_eq "a machine that is no string: 400 naming it" "$STATUS/$(jf .error.field)" 400/machine
out=$("$CARVE" server create m0 --template busybox-vm --kind vm --machine virt --tenant acme 2>&1)
check "carve server create --machine virt fails" test $? != 0
expect_match "  ... naming the field" "$out" "machine"
check "nothing was created by the refused requests" bash -c "! '$CARVE' server show m0 --tenant acme >/dev/null 2>&1"
out=$("$CARVE" --json server create mvm --template busybox-vm --kind vm --machine microvm \
	--memory 128M --tenant acme 2>&1)
check "carve server create --machine microvm ($out)" test $? = 0
expect_eq "mvm is a microvm" "$(server_field mvm .machine)" microvm
mid=$(server_field mvm .id)
mdisk="$T/state/pools/default/volumes/$mid.raw"
api POST /volumes '{"name":"mdata","size":"64M","tenant":"acme"}'
expect_eq "create a data volume for mvm" "$STATUS" 201
api POST /volumes/mdata/attach?tenant=acme '{"server":"mvm"}'
expect_eq "a data volume for mvm, its /dev/vdb" "$STATUS/$(jf .path)" 200//dev/vdb

# a data volume: the VM sees it as its next virtio disk, never mounted on the host
api POST /volumes '{"name":"vmdata","size":"96M","tenant":"acme"}'
expect_eq "create a data volume" "$STATUS" 201
api POST /volumes/vmdata/attach?tenant=acme '{"server":"vm1","path":"/data"}'
expect_eq "a VM takes no mount path" "$STATUS/$(jf .error.field)" 400/path
api POST /volumes/vmdata/attach?tenant=acme '{"server":"vm1"}'
expect_eq "attach it to vm1" "$STATUS" 200
expect_eq "it becomes vm1's /dev/vdb" "$(jf .path)" /dev/vdb
expect_eq "  ... and is a guest's from now on" "$(jf .guest_written)" true

mk_server web1 acme
server_do web1 start
server_do vm1 start
expect_eq "vm1 running" "$(server_field vm1 .state)" running
# the accelerator QEMU reports (QMP query-kvm), shown while it runs
want_accel=tcg
[ "$(tr '\0' ' ' <"/proc/$(server_field vm1 .init_pid)/cmdline" | grep -o -- '-accel [a-z]*')" = "-accel kvm" ] && want_accel=kvm
expect_eq "vm1 shows its accelerator" "$(server_field vm1 .accel)" "$want_accel"
# mvm boots beside it; its console is read through carved's console API (carve console), the
# client's stdin a fifo held open so that it never sees EOF
server_do mvm start
expect_eq "mvm running" "$(server_field mvm .state)" running
mkfifo "$T/mvm.in"
timeout 300 "$CARVE" console mvm <>"$T/mvm.in" >"$T/mvm.out" 2>&1 &
mcon=$!
# the console client goes too when the test ends early
trap '[ -n "${mcon:-}" ] && kill "$mcon" 2>/dev/null; cleanup' EXIT
qpid=$(server_field vm1 .init_pid)
check "the server's init is QEMU" grep -q qemu-system /proc/"$qpid"/cmdline
vm_uid=$(server_field vm1 .vm_uid)
expect_eq "QEMU runs as the VM's own uid" "$(awk '/^Uid:/ {print $2}' /proc/"$qpid"/status)" "$vm_uid"
check "that uid lies outside every tenant's range (below --uid-base)" test "$vm_uid" -lt "$UIDBASE"
check "and is unprivileged" test "$vm_uid" -ge 65536
expect_eq "the VM's disk belongs to it" "$(stat -c %u "$disk")" "$vm_uid"
mon=$(awk '/^PPid:/ {print $2}' /proc/"$qpid"/status)
check "QEMU's parent is the monitor" grep -q carve-monitor /proc/"$mon"/cmdline
check "QEMU is in the server's memory cgroup" \
	grep -q "$PREFIX/acme/vm1" /proc/"$qpid"/cgroup
check "the disk is never mounted on the host" bash -c "! grep -q '$id' /proc/self/mountinfo"
limit=$(cat "/sys/fs/cgroup/memory/$PREFIX/acme/vm1/memory.limit_in_bytes")
check "the cgroup's memory limit is the guest's RAM plus QEMU's overhead" \
	test "$limit" -gt $((256 << 20)) -a "$limit" -lt $((1024 << 20))
# a container that stops while the VM runs leaves nothing behind in the monitor's namespace
wid=$(server_field web1 .id)
server_do web1 stop
api DELETE /servers/web1
expect_eq "delete web1 while vm1 runs" "$(wait_task "$(jf .task.id)")" succeeded
check "web1's volume is gone" test ! -e "$T/state/pools/default/volumes/$wid.raw"
check "no loop device is left for web1" bash -c "! losetup -a | grep -q '$wid'"
check "the VM monitor's namespace holds no mount of web1" \
	bash -c "! grep -q '$wid' /proc/$qpid/mountinfo"
check "the guest reaches userspace (CARVE-VM-READY on the console)" \
	wait_console "$id" CARVE-VM-READY 90
check "the guest wrote its token to its disk" wait_console "$id" "CARVE-VM-DISK-WRITTEN $id" 5
check "the guest sees the data volume as vdb, 96M" wait_console "$id" "CARVE-VM-DATA-DISK vdb sectors=$((96 * 2048))" 5
vdata=$(api GET /volumes/vmdata?tenant=acme; jf .id)
check "the data volume is not mounted on the host" bash -c "! grep -q '$vdata' /proc/self/mountinfo"
expect_eq "the data volume belongs to the VM's uid" \
	"$(stat -c %u "$T/state/pools/default/volumes/$vdata.raw")" "$(server_field vm1 .vm_uid)"

# A snapshot of the running VM: the guest is paused through QMP (its I/O drained into the raw
# file), the disk reflinked, the guest resumed. The snapshot holds the token the guest wrote.
api POST /servers/vm1/snapshots?tenant=acme '{"name":"live"}'
expect_eq "snapshot of the running VM accepted" "$STATUS" 202
expect_eq "snapshot task succeeds" "$(wait_task "$(jf .task.id)")" succeeded
snapfile="$T/state/pools/default/snapshots/$id/live.raw"
check "the snapshot is a file of its own" test -f "$snapfile"
expect_eq "the snapshot holds the guest's write" "$(head -c 64 "$snapfile" | tr -d '\0' | head -n1)" \
	"CARVE-DISK-OK $id"
check "the monitor paused and resumed the guest around it" \
	bash -c "grep -q 'guest paused' '$T/run/servers/$id/monitor.log' && grep -q 'guest resumed' '$T/run/servers/$id/monitor.log'"
expect_eq "vm1 still running after the snapshot" "$(server_field vm1 .state)" running
# Growing a running VM's disk: the file grows, QEMU is told (QMP block_resize) and the guest's
# kernel sees the new capacity at once; the host runs no e2fsck or resize2fs on the guest's
# bytes (the ext4 carved put in the template's disk keeps its size: the guest grows it).
blocks() { dumpe2fs -h "$1" 2>/dev/null | awk -F: '/^Block count/ {gsub(/ /, "", $2); print $2}'; }
old_disk=$(server_field vm1 .disk)
new_disk=$((old_disk + 64 * 1048576))
fs_blocks=$(blocks "$disk")
check "vm1's disk holds the template's ext4 ($fs_blocks blocks)" test -n "$fs_blocks"
api PATCH /servers/vm1?tenant=acme "{\"disk\":$new_disk}"
expect_eq "grow the running VM's disk by 64M" "$STATUS/$(jf .disk)" "200/$new_disk"
expect_eq "  ... the file has the new size" "$(stat -c %s "$disk")" "$new_disk"
check "  ... the guest's kernel sees it now" \
	wait_console "$id" "\\[vda\\] new size: $((new_disk / 512)) 512-byte" 10
check "  ... through QMP block_resize" grep -q "disk0 is now $new_disk bytes" "$T/run/servers/$id/monitor.log"
expect_eq "  ... the ext4 inside was not touched by the host" "$(blocks "$disk")" "$fs_blocks"
api PATCH /servers/vm1?tenant=acme "{\"disk\":$old_disk}"
expect_eq "a VM's disk does not shrink: 400 naming it" "$STATUS/$(jf .error.field)" 400/disk

api POST /servers/vm1/pause?tenant=acme
api POST /servers/vm1/snapshots?tenant=acme '{"name":"frozen"}'
tid=$(jf .task.id)
st=$(wait_task "$tid")
expect_eq "a paused (frozen) VM is not snapshotted mid-I/O" "$st" failed
api GET "/tasks/$tid"
expect_match "the task says to resume it" "$(jf .error.message)" "resume"
api POST /servers/vm1/resume?tenant=acme
expect_eq "vm1 resumed" "$(server_field vm1 .state)" running
# a hard reset (QMP system_reset): the guest boots again in the same QEMU
qpid_before=$(server_field vm1 .init_pid)
out=$("$CARVE" server reset vm1 --tenant acme 2>&1)
check "carve server reset vm1 ($out)" test $? = 0
check "  ... the guest boots again (a second CARVE-VM-INIT)" \
	bash -c "for i in \$(seq 1 600); do [ \$(grep -c CARVE-VM-INIT '$T/run/servers/$id/console.log') -ge 2 ] && exit 0; sleep 0.1; done; exit 1"
expect_eq "  ... in the same QEMU, still running" "$(server_field vm1 .init_pid)/$(server_field vm1 .state)" "$qpid_before/running"
check "  ... and reaches userspace again" \
	bash -c "for i in \$(seq 1 900); do [ \$(grep -c CARVE-VM-READY '$T/run/servers/$id/console.log') -ge 2 ] && exit 0; sleep 0.1; done; exit 1"
mk_server ct0 acme
api POST /servers/ct0/reset?tenant=acme
expect_eq "a container has no reset: 422" "$STATUS" 422
api DELETE /servers/ct0?tenant=acme
wait_task "$(jf .task.id)" >/dev/null
api POST /servers/vm2/reset?tenant=acme
expect_eq "reset of an unknown server: 404" "$STATUS" 404
out=$(timeout 10 "$CARVE" exec vm1 -- true 2>&1)
rc=$?
check "carve exec fails for a VM" test "$rc" != 0
expect_match "with a clear message" "$out" "not available for VMs"

# wait_file FILE MARKER SECONDS: until FILE holds MARKER
wait_file() {
	for _ in $(seq 1 $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
mqpid=$(server_field mvm .init_pid)
mcmd=$(tr '\0' ' ' <"/proc/$mqpid/cmdline")
expect_match "mvm's QEMU is a microvm with ACPI for its power button" "$mcmd" "-machine microvm,acpi=on"
expect_match "  ... its disks on virtio-mmio" "$mcmd" "-device virtio-blk-device,drive=disk0,.* -device virtio-blk-device,drive=disk1"
[ -c /dev/kvm ] || expect_match "  ... tsc_early_khz on the kernel command line under TCG" "$mcmd" "tsc_early_khz=[0-9]+"
check "mvm reaches userspace: CARVE-VM-READY through carve console" \
	wait_file "$T/mvm.out" CARVE-VM-READY 120
check "  ... its root disk is writable (the guest wrote its token)" \
	grep -q "CARVE-VM-DISK-WRITTEN $mid" "$T/mvm.out"
check "  ... it sees its data volume as vdb, 64M" \
	grep -q "CARVE-VM-DATA-DISK vdb sectors=$((64 * 2048))" "$T/mvm.out"
api POST /servers/mvm/snapshots?tenant=acme '{"name":"m1"}'
expect_eq "a snapshot of the running microvm" "$(wait_task "$(jf .task.id)")" succeeded
expect_eq "  ... holds the guest's write" \
	"$(head -c 64 "$T/state/pools/default/snapshots/$mid/m1.raw" | tr -d '\0' | head -n1)" "CARVE-DISK-OK $mid"
api POST /servers/mvm/snapshots/m1/clone?tenant=acme '{"name":"mvm2"}'
expect_eq "a clone of it" "$(wait_task "$(jf .task.id)")" succeeded
expect_eq "  ... is a microvm too" "$(server_field mvm2 .machine)" microvm
api DELETE /servers/mvm2?tenant=acme
wait_task "$(jf .task.id)" >/dev/null

# kill -9 carved: the VM keeps running; a new carved finds it running and can stop it.
kill -9 "$CARVED_PID"
wait "$CARVED_PID" 2>/dev/null
CARVED_PID=""
sleep 0.3
check "QEMU survives kill -9 of carved" kill -0 "$qpid"
start_carved || exit 1
expect_eq "restarted carved reports vm1 running" "$(server_field vm1 .state)" running
expect_eq "restarted carved knows QEMU's pid" "$(server_field vm1 .init_pid)" "$qpid"
kill "$mcon" 2>/dev/null
wait "$mcon" 2>/dev/null
check "mvm's QEMU survives kill -9 of carved" kill -0 "$mqpid"
expect_eq "restarted carved reports mvm running, same QEMU" \
	"$(server_field mvm .state) $(server_field mvm .init_pid) $(server_field mvm .machine)" \
	"running $mqpid microvm"
timeout 60 "$CARVE" console mvm <>"$T/mvm.in" >"$T/mvm2.out" 2>&1 &
mcon=$!
sleep 1
server_do mvm stop
expect_eq "mvm stopped through the restarted carved" "$(server_field mvm .state)" stopped
check "  ... on its power button (CARVE-VM-POWEROFF through carve console)" \
	wait_file "$T/mvm2.out" CARVE-VM-POWEROFF 5
check "  ... not by the SIGKILL fallback" \
	bash -c "! grep -q 'stop timeout' '$T/run/servers/$mid/monitor.log'"
check "  ... and QEMU is gone" bash -c "! kill -0 $mqpid 2>/dev/null"
wait "$mcon" 2>/dev/null
expect_eq "mvm's token is on its disk" "$(head -c 64 "$mdisk" | tr -d '\0' | head -n1)" \
	"CARVE-DISK-OK $mid"
api DELETE /servers/mvm?tenant=acme
expect_eq "delete mvm" "$(wait_task "$(jf .task.id)")" succeeded

# an attached console sees the guest power off
timeout 20 "$CARVE" console vm1 < <(sleep 15) >"$T/console.out" 2>&1 &
cpid=$!
sleep 1
t0=$(date +%s)
server_do vm1 stop
t1=$(date +%s)
expect_eq "vm1 stopped" "$(server_field vm1 .state)" stopped
check "the guest powered off on the ACPI button" wait_console "$id" CARVE-VM-POWEROFF 1
check "QEMU is gone" bash -c "! kill -0 $qpid 2>/dev/null"
wait "$cpid" 2>/dev/null
check "carve console showed the guest's serial console" grep -q CARVE-VM-POWEROFF "$T/console.out"
check "the stop took less than the stop timeout plus slack" test $((t1 - t0)) -lt 12
expect_eq "the token is on the disk" "$(head -c 64 "$disk" | tr -d '\0' | head -n1)" \
	"CARVE-DISK-OK $id"
check "the server cgroup is gone" test ! -d "/sys/fs/cgroup/memory/$PREFIX/acme/vm1"

# a second boot of the same disk works
server_do vm1 start
id2_pid=$(server_field vm1 .init_pid)
check "vm1 runs again" kill -0 "$id2_pid"
server_do vm1 stop
expect_eq "vm1 stopped again" "$(server_field vm1 .state)" stopped
expect_eq "a stopped VM shows no accelerator" "$(server_field vm1 .accel)" null
api POST /servers/vm1/reset?tenant=acme
expect_eq "a stopped VM cannot be reset: 409 naming the state" "$STATUS/$(jf .error.message)" \
	"409/server 'vm1' is stopped: reset needs it running"

# a volume that has been a VM's disk holds a guest's bytes: it grows as a file and is never
# mounted on the host, so no container gets it
vfile="$T/state/pools/default/volumes/$vdata.raw"
vblocks=$(blocks "$vfile")
api POST /volumes/vmdata/detach?tenant=acme
expect_eq "detach vmdata from the stopped vm1" "$STATUS/$(jf .guest_written)" 200/true
api PATCH /volumes/vmdata?tenant=acme '{"size":"128M"}'
expect_eq "grow it to 128M" "$STATUS/$(jf .size)" 200/134217728
expect_eq "  ... its ext4 was not touched by the host" "$(blocks "$vfile")" "$vblocks"
mk_server ct1 acme
api POST /volumes/vmdata/attach?tenant=acme '{"server":"ct1","path":"/data"}'
expect_eq "a container does not get it: 409 naming the server" "$STATUS/$(jf .error.field)" 409/server
expect_match "  ... saying why" "$(jf .error.message)" "has been a VM's disk"
api GET /volumes/vmdata?tenant=acme
expect_eq "  ... and it stays detached" "$(jf .server)" null
api POST /volumes/vmdata/attach?tenant=acme '{"server":"vm1"}'
expect_eq "a VM still gets it" "$STATUS/$(jf .path)" 200//dev/vdb

api DELETE /servers/vm1
expect_eq "delete vm1" "$(wait_task "$(jf .task.id)")" succeeded
check "its volume is gone" test ! -e "$disk"
finish

#!/usr/bin/env bash
# VM templates from disk images, and cloud-init: a bootable disk (a FAT filesystem with syslinux,
# Debian's cloud kernel and the test initramfs; no kernel of carve's) is converted to qcow2,
# imported with `carve template import --image`, and a VM server created from it with a larger
# disk and cloud-init settings boots it through the firmware, sees its grown disk and its
# NoCloud seed. Hostile images (a backing file) and bad settings are refused naming the field.
. "$(dirname "$0")/lib.sh"

for p in qemu-system-x86_64 qemu-img syslinux mcopy mkfs.vfat; do
	if ! command -v "$p" >/dev/null; then
		echo "SKIP: $p is not installed (scripts/deps.sh)"
		exit 77
	fi
done
export CARVE_VM_ASSETS=${CARVE_VM_ASSETS:-/var/tmp/carve-vm-assets}
timeout 120 bash "$(dirname "$0")/../../scripts/vm-assets.sh" "$CARVE_VM_ASSETS" >/dev/null 2>&1
if [ ! -f "$CARVE_VM_ASSETS/vmlinuz" ] || [ ! -f "$CARVE_VM_ASSETS/initramfs.gz" ]; then
	echo "SKIP: no VM assets in $CARVE_VM_ASSETS (scripts/vm-assets.sh)"
	exit 77
fi

wait_console() {
	local f="$T/run/servers/$1/console.log"
	for _ in $(seq 1 $(($3 * 10))); do
		grep -q "$2" "$f" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# A bootable disk: FAT with syslinux in its boot sector (SeaBIOS boots it), kernel, initramfs.
img="$T/boot.img"
truncate -s 64M "$img"
mkfs.vfat -n CARVEBOOT "$img" >/dev/null
syslinux --install "$img"
mcopy -i "$img" "$CARVE_VM_ASSETS/vmlinuz" ::vmlinuz
mcopy -i "$img" "$CARVE_VM_ASSETS/initramfs.gz" ::initrd.gz
printf 'DEFAULT linux\nPROMPT 0\nTIMEOUT 1\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.gz\n  APPEND console=ttyS0 panic=-1\n' >"$T/syslinux.cfg"
mcopy -i "$img" "$T/syslinux.cfg" ::syslinux.cfg
qemu-img convert -f raw -O qcow2 "$img" "$T/boot.qcow2"
# hostile: a qcow2 whose data lives in a backing file (here: the host's file)
qemu-img create -q -f qcow2 -b "$img" -F raw "$T/evil.qcow2"

start_carved || exit 1

api POST /templates "{\"name\":\"bad\",\"image\":\"relative.qcow2\"}"
expect_eq "a relative image path is a 400 naming image" "$STATUS/$(jf .error.field)" 400/image
api POST /templates "{\"name\":\"bad\",\"image\":\"$T/boot.qcow2\",\"rootfs\":\"$T/boot.qcow2\"}"
expect_eq "an image and a rootfs together: 400" "$STATUS/$(jf .error.field)" 400/rootfs
api POST /templates "{\"name\":\"bad\",\"image\":\"$T/boot.qcow2\",\"init\":\"/sbin/init\"}"
expect_eq "init is not for a disk image: 400" "$STATUS/$(jf .error.field)" 400/init
api POST /templates "{\"name\":\"evil\",\"image\":\"$T/evil.qcow2\"}"
expect_eq "an image with a backing file is accepted as a task" "$STATUS" 202
tid=$(jf .task.id)
expect_eq "  ... which fails" "$(wait_task "$tid")" failed
api GET "/tasks/$tid"
expect_match "  ... naming the backing file" "$(jf .error.message)" "backing"
api GET /templates/evil
expect_eq "  ... and leaves no template" "$STATUS" 404
check "  ... nor a volume file" bash -c "! ls '$T/state/pools/default/volumes/' | grep -q evil"

out=$("$CARVE" template import cloudy --image "$T/boot.qcow2" --description "boot test image" 2>&1)
check "carve template import --image ($out)" [ $? = 0 ]
api GET /templates/cloudy
expect_eq "the template is a VM template" "$(jf .kind)" vm
expect_eq "the volume is the image converted to raw" \
	"$(stat -c %s "$T/state/pools/default/volumes/template-cloudy.raw")" $((64 << 20))
check "  ... byte for byte" cmp -s "$img" "$T/state/pools/default/volumes/template-cloudy.raw"

mk_tenant acme
api POST /servers '{"name":"m0","template":"cloudy","tenant":"acme","kind":"vm","machine":"microvm"}'
expect_eq "microvm for a disk-image template (needs firmware): 422 naming machine" \
	"$STATUS/$(jf .error.field)" 422/machine
expect_match "  ... saying why" "$(jf .error.message)" "firmware"
hash='$6$saltsalt$3ki2cK3mJfzM3NCnpDxbgZLxVSfXbPgQmv5YhY7cyGsQ.5nbqSgW4b7vEdv4dxgJW8H2J0Z1cJe9rX1dWr2zK0'
key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop'
api POST /servers "{\"name\":\"c1\",\"template\":\"busybox\",\"tenant\":\"acme\",\"cloud_init\":{\"user\":\"alice\"}}"
expect_eq "cloud_init on a container: 400 naming it" "$STATUS/$(jf .error.field)" 400/cloud_init
api POST /servers "{\"name\":\"v0\",\"template\":\"cloudy\",\"tenant\":\"acme\",\"kind\":\"vm\",\"cloud_init\":{\"user\":\"alice\",\"password_hash\":\"hunter2\"}}"
expect_eq "a plain password instead of a hash: 400 naming cloud_init" "$STATUS/$(jf .error.field)" 400/cloud_init
api POST /servers "{\"name\":\"v0\",\"template\":\"cloudy\",\"tenant\":\"acme\",\"kind\":\"vm\",\"cloud_init\":{\"shell\":\"/bin/sh\"}}"
expect_eq "an unknown cloud_init member: 400" "$STATUS/$(jf .error.field)" 400/cloud_init

api POST /servers "{\"name\":\"v1\",\"template\":\"cloudy\",\"tenant\":\"acme\",\"kind\":\"vm\",\"memory\":\"256M\",\"disk\":\"256M\",\"cloud_init\":{\"user\":\"alice\",\"password_hash\":\"$hash\",\"ssh_keys\":[\"$key\"]}}"
expect_eq "create a VM from the image template, with cloud-init" "$STATUS" 202
expect_eq "  ... task" "$(wait_task "$(jf .task.id)")" succeeded
id=$(server_field v1 .id acme)
expect_eq "the password hash is not shown back" "$(server_field v1 .cloud_init.password_hash acme)" true
expect_eq "the user is" "$(server_field v1 .cloud_init.user acme)" alice
expect_eq "its disk grew to 256M as a file (the guest grows its partitions)" \
	"$(stat -c %s "$T/state/pools/default/volumes/$id.raw")" $((256 << 20))

server_do v1 start acme
check "the firmware boots the image to userspace" wait_console "$id" CARVE-VM-READY 90
check "the guest sees its 256M disk" wait_console "$id" "CARVE-VM-DISK-WRITTEN none sectors=524288" 5
check "and the seed as one more disk" wait_console "$id" "CARVE-VM-DATA-DISK vdb" 5
seed="$T/run/servers/$id/seed.img"
expect_eq "the seed belongs to the VM's uid" "$(stat -c %u "$seed")" "$(server_field v1 .vm_uid acme)"
expect_eq "  ... read-only" "$(stat -c %a "$seed")" 400
check "the seed is labelled cidata" bash -c "blkid -o value -s LABEL '$seed' | grep -qi cidata"
ud=$(mtype -i "$seed" ::user-data 2>/dev/null)
expect_match "user-data creates the user" "$ud" "alice"
expect_match "  ... with the hash" "$ud" "saltsalt"
expect_match "  ... and the key" "$ud" "alice@laptop"
expect_match "meta-data names the instance and host" "$(mtype -i "$seed" ::meta-data 2>/dev/null)" "$id"
check "QEMU got the seed read-only" grep -q "readonly=on" "/proc/$(server_field v1 .init_pid acme)/cmdline"
server_do v1 stop acme
expect_eq "v1 stopped" "$(server_field v1 .state acme)" stopped
api DELETE /servers/v1?tenant=acme
expect_eq "delete v1" "$(wait_task "$(jf .task.id)")" succeeded
"$CARVE" template delete cloudy >/dev/null
check "the image template is deleted" bash -c "! test -e '$T/state/pools/default/volumes/template-cloudy.raw'"
finish

#!/usr/bin/env bash
# Build the VM test assets into a cache directory, reproducibly:
#   <dir>/vmlinuz        Debian's cloud kernel (apt-get download + dpkg-deb -x, never installed)
#   <dir>/initramfs.gz   a busybox initramfs (cpio newc, gzip -n, fixed mtimes, sorted) whose /init
#                        loads the virtio modules, writes a token to /dev/vda, prints markers on
#                        the serial console and powers off when the ACPI power button is pressed
#   <dir>/kernel.version the kernel ABI, <dir>/stamp what the cache was built from
# Usage: scripts/vm-assets.sh [DIR]   (default $CARVE_VM_ASSETS or /var/tmp/carve-vm-assets)
# Prints DIR on stdout. Idempotent: an up-to-date cache is reused without the network.
#
# Serial console protocol of /init (one line each, in this order):
#   CARVE-VM-INIT                         init started
#   CARVE-VM-MODULES ok=N failed=M        virtio modules loaded
#   CARVE-VM-DISK-WRITTEN <token>         "CARVE-DISK-OK <token>\n" written at offset 0 of /dev/vda
#   CARVE-VM-NO-DISK                      (instead) no /dev/vda
#   CARVE-VM-DATA-DISK vdX sectors=N      each further virtio disk (data volumes), not written
#   CARVE-VM-READY                        setup done: the ACPI power button is watched
#   CARVE-VM-POWEROFF                     power button pressed, powering off
# <token> is carve.token=... from the kernel command line ("none" without one).
set -euo pipefail

dir=${1:-${CARVE_VM_ASSETS:-/var/tmp/carve-vm-assets}}
busybox=${BUSYBOX:-/bin/busybox}
version=6 # bump when /init or the module list changes

mods_blk="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio virtio_blk"
mods_rest="failover net_failover virtio_net virtio_console button evdev"

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9

abi=${CARVE_VM_KERNEL_ABI:-}
if [ -z "$abi" ] && [ -f "$dir/kernel.version" ] && [ -f "$dir/stamp" ] &&
	grep -qx "version=$version" "$dir/stamp"; then
	abi=$(cat "$dir/kernel.version")
fi
if [ -z "$abi" ]; then
	abi=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\(.*-cloud-amd64\)$/\1/p' | head -n1)
	[ -n "$abi" ] || {
		echo "vm-assets: cannot resolve the cloud kernel ABI (apt-cache depends linux-image-cloud-amd64)" >&2
		exit 1
	}
fi
bb_sum=$(sha256sum "$busybox" | cut -d' ' -f1)
want="version=$version
abi=$abi
busybox=$bb_sum"
if [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$want" ] &&
	[ -s "$dir/vmlinuz" ] && [ -s "$dir/initramfs.gz" ]; then
	echo "$dir"
	exit 0
fi

tmp=$(mktemp -d "$dir/.build.XXXXXX")
chmod 755 "$tmp"
chown _apt "$tmp" 2>/dev/null || true # apt-get download writes as _apt
trap 'rm -rf "$tmp"' EXIT
(
	cd "$tmp"
	apt-get download -qq "linux-image-$abi" >/dev/null
	dpkg-deb -x linux-image-"$abi"_*.deb kernel
)
moddir="$tmp/kernel/lib/modules/$abi"
[ -f "$tmp/kernel/boot/vmlinuz-$abi" ] || {
	echo "vm-assets: no vmlinuz in linux-image-$abi" >&2
	exit 1
}

root="$tmp/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
for m in $mods_blk $mods_rest; do
	f=$(find "$moddir" -name "$m.ko" | head -n1)
	[ -n "$f" ] || {
		echo "vm-assets: module $m not in linux-image-$abi" >&2
		exit 1
	}
	cp "$f" "$root/lib/modules/$m.ko"
done
[ "$(id -u)" = 0 ] && mknod -m 600 "$root/dev/console" c 5 1

cat >"$root/init" <<EOF
#!/bin/sh
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo CARVE-VM-INIT
ok=0 failed=0
for m in $mods_blk $mods_rest; do
	if insmod /lib/modules/\$m.ko 2>/dev/null; then ok=\$((ok + 1)); else failed=\$((failed + 1)); echo "carve-init: insmod \$m failed"; fi
done
echo "CARVE-VM-MODULES ok=\$ok failed=\$failed"
token=none
for a in \$(cat /proc/cmdline); do
	case "\$a" in carve.token=*) token=\${a#carve.token=} ;; esac
done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 20 ]; do sleep 0.1; i=\$((i + 1)); done
if [ -b /dev/vda ]; then
	printf 'CARVE-DISK-OK %s\n' "\$token" | dd of=/dev/vda bs=512 conv=sync,notrunc,fsync 2>/dev/null
	echo "CARVE-VM-DISK-WRITTEN \$token sectors=\$(cat /sys/block/vda/size)"
else
	echo CARVE-VM-NO-DISK
fi
for b in /sys/block/vd*; do
	[ -e "\$b" ] || continue
	n=\${b##*/}
	[ "\$n" = vda ] && continue
	echo "CARVE-VM-DATA-DISK \$n sectors=\$(cat \$b/size)"
done
# the power button's input device may appear after the modules load (microvm's GED):
# wait for it, or a power-off request arriving after READY would go unseen
ev=
i=0
while [ -z "\$ev" ] && [ \$i -lt 100 ]; do
	for n in /sys/class/input/event*; do
		[ -e "\$n/device/name" ] || continue
		case "\$(cat "\$n/device/name")" in "Power Button") ev=/dev/input/\${n##*/} ;; esac
	done
	[ -n "\$ev" ] || { sleep 0.1; i=\$((i + 1)); }
done
[ -e "\$ev" ] || mdev -s 2>/dev/null
# open the button before READY: an event is only queued for a reader that has it open, and a
# press right after READY (the tests do that) would otherwise be lost on a slow host
[ -n "\$ev" ] && exec 3<"\$ev"
echo CARVE-VM-READY
if [ -n "\$ev" ]; then
	dd bs=24 count=1 of=/dev/null <&3 2>/dev/null
else
	echo "carve-init: no power button input device"
	while :; do sleep 3600; done
fi
echo CARVE-VM-POWEROFF
sync
poweroff -f
EOF
chmod 755 "$root/init"

(
	cd "$root"
	find . -exec touch -h -d @0 {} +
	find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null | gzip -n -6 >"$tmp/initramfs.gz"
)
cp "$tmp/kernel/boot/vmlinuz-$abi" "$tmp/vmlinuz"
mv -f "$tmp/vmlinuz" "$dir/vmlinuz"
mv -f "$tmp/initramfs.gz" "$dir/initramfs.gz"
echo "$abi" >"$dir/kernel.version"
printf '%s\n' "$want" >"$dir/stamp"
echo "$dir"

#!/usr/bin/env bash
# Build a Debian 12 (bookworm) root filesystem with debootstrap and cache it as a tar.zst that
# `carve template import` takes:
#   <dir>/debian-12-<init>.tar.zst   the tree (numeric owners, /dev /proc /sys /run emptied)
#   <dir>/debian-12-<init>.stamp     what it was built from (script version, mirror, init)
# Usage: scripts/debian-rootfs.sh [--init systemd|sysvinit] [DIR]
#   DIR defaults to $CARVE_DEBIAN_CACHE or /var/tmp/carve-debian; the mirror is $DEBIAN_MIRROR or
#   the one in /etc/apt (falling back to deb.debian.org). Prints the tarball's path on stdout.
# Idempotent: an up-to-date cache is reused without the network. A first build takes about 80 s
# (debootstrap --variant=minbase plus the init, procps and a few small tools).
set -euo pipefail

init=systemd
while [ $# -gt 0 ]; do
	case "$1" in
	--init)
		init=$2
		shift 2
		;;
	--init=*)
		init=${1#--init=}
		shift
		;;
	-h | --help)
		sed -n '2,10p' "$0"
		exit 0
		;;
	*) break ;;
	esac
done
case "$init" in
systemd) initpkg=systemd-sysv ;;
sysvinit) initpkg=sysvinit-core ;;
*)
	echo "debian-rootfs: --init '$init': use systemd or sysvinit" >&2
	exit 2
	;;
esac

dir=${1:-${CARVE_DEBIAN_CACHE:-/var/tmp/carve-debian}}
version=1 # bump when the package list or the tweaks below change
suite=bookworm
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(sed -n 's/^URIs: *\(http[^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
	[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi
out="$dir/debian-12-$init.tar.zst"
stamp="$dir/debian-12-$init.stamp"
want="version=$version
suite=$suite
init=$initpkg"

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ -s "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "$out"
	exit 0
fi
command -v debootstrap >/dev/null || {
	echo "debian-rootfs: debootstrap is missing (apt-get install debootstrap)" >&2
	exit 1
}

tmp=$(mktemp -d "$dir/.build.XXXXXX")
cleanup() {
	# debootstrap may leave proc/sys mounted in the target if it fails half-way
	for m in proc sys dev/pts dev; do
		mountpoint -q "$tmp/root/$m" 2>/dev/null && umount -l "$tmp/root/$m" || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
root="$tmp/root"
echo "debian-rootfs: debootstrap $suite ($initpkg) from $mirror" >&2
debootstrap --variant=minbase --include="$initpkg,procps,iproute2,ifupdown,less" \
	"$suite" "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
	tail -n 30 "$tmp/debootstrap.log" >&2
	echo "debian-rootfs: debootstrap failed (log above)" >&2
	exit 1
}

# What a system container needs from its image: a hostname, an empty machine-id (systemd makes
# one at first boot), no getty on virtual terminals that do not exist, a console login.
echo debian >"$root/etc/hostname"
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
if [ "$init" = sysvinit ]; then
	# only the console getty; tty1-6 do not exist in a container
	sed -i -e 's/^\([1-6]\):/#\1:/' -e '/^p[fno]::/d' "$root/etc/inittab"
	echo "co:2345:respawn:/sbin/getty --noclear 115200 console" >>"$root/etc/inittab"
	# carve stops sysvinit with SIGPWR (a power failure): make that a halt, as LXC does
	echo "pf::powerwait:/sbin/shutdown -h now" >>"$root/etc/inittab"
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
# The runtime provides /dev, /proc, /sys and /run: ship them empty.
for d in dev proc sys run; do
	find "$root/$d" -mindepth 1 -xdev -delete 2>/dev/null || true
done

tar -C "$root" --numeric-owner --one-file-system -cf - . | zstd -q -T0 -9 -o "$tmp/out.tar.zst"
mv "$tmp/out.tar.zst" "$out"
printf '%s\n' "$want" >"$stamp"
echo "debian-rootfs: $(du -h "$out" | cut -f1) in $out" >&2
echo "$out"

#!/usr/bin/env bash
# Install what carve needs to build, run and test (Debian 12, as root). Idempotent and quiet when
# everything is already there.
set -euo pipefail
pkgs=(
	build-essential meson ninja-build pkg-config clang
	libsqlite3-dev libjansson-dev libmicrohttpd-dev libargon2-dev libssl-dev libcurl4-openssl-dev
	libseccomp-dev libcmocka-dev libzstd-dev
	busybox-static xfsprogs e2fsprogs qemu-system-x86 qemu-utils dosfstools mtools syslinux
	jq curl iproute2 util-linux procps python3 nftables dnsmasq-base iperf3 fio
	debootstrap lxcfs zstd bc
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: run as root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

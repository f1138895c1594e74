#!/usr/bin/env bash
# Set-up command (a): install dependencies, build, and start carved in the foreground with its
# embedded defaults: SQLite state under STATE_DIR (default ./state in this checkout), the
# built-in busybox template, and a provider admin whose generated password is printed once.
# Usage: sudo scripts/quickstart.sh [STATE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "quickstart: carved needs root (namespaces, cgroups, mounts): run it with sudo" >&2
	exit 1
fi
state=$(realpath -m "${1:-$PWD/state}")
scripts/deps.sh
[ -f build/build.ninja ] || meson setup build -Dtests=false >/dev/null
ninja -C build >/dev/null
cat <<MSG
quickstart: built build/src/daemon/carved and build/src/cli/carve
quickstart: state in $state; carved runs in the foreground (Ctrl-C stops carved, servers keep running)
quickstart: in another shell, as root on this host (no login needed over the unix socket):
    build/src/cli/carve server create web1 --template busybox --tenant TENANT
  or from anywhere, with the admin password printed below (first start only):
    build/src/cli/carve login --url http://127.0.0.1:8006 --user admin
MSG
exec build/src/daemon/carved --state-dir "$state" --run-dir /run/carve --listen 127.0.0.1:8006

#!/usr/bin/env bash
# Set-up command (b): install dependencies, build with ASan+UBSan and failpoints, and run every
# test: unit (cmocka), fuzz regression (corpus replay) and integration (real carved and carve,
# as root). Ends with the line "N passed, N failed" (plus ", N skipped").
# Usage: sudo scripts/test.sh [meson test args, e.g. --suite unit]
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1
b=build-test
if [ ! -f $b/build.ninja ]; then
	meson setup $b -Db_sanitize=address,undefined -Db_lundef=false -Dfailpoints=true \
		--buildtype=debugoptimized >/dev/null || exit 1
fi
ninja -C $b || exit 1
rm -f $b/meson-logs/testlog.json
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C $b --no-rebuild --print-errorlogs --num-processes 2 "$@"
log=$b/meson-logs/testlog.json
if [ ! -s "$log" ]; then
	echo "0 passed, 1 failed"
	exit 1
fi
read -r passed failed skipped < <(jq -rs '
	[ .[] | .result ] as $r |
	"\([$r[] | select(. == "OK" or . == "EXPECTEDFAIL")] | length) \([$r[] | select(. == "FAIL" or . == "TIMEOUT" or . == "ERROR" or . == "UNEXPECTEDPASS")] | length) \([$r[] | select(. == "SKIP")] | length)"' "$log")
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]

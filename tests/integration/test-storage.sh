#!/usr/bin/env bash
# Servers on thin volumes: hard disk limits, instant snapshots and clones, rollback, growth and
# the pool's admission control, seen as a tenant sees them.
. "$(dirname "$0")/lib.sh"

start_carved --pool-size 8G --overcommit 2 --fill-threshold 1 || exit 1
mk_tenant acme
ex() { "$CARVE" exec "$1" -- sh -c "$2"; }

api POST /servers '{"name":"small","template":"busybox","tenant":"acme","disk":"300M"}'
[ "$(wait_task "$(jf .task.id)")" = succeeded ] || fail "create small"
mk_server other acme
server_do small start
server_do other start
kib=$(ex small "df -k / | tail -n 1" | awk '{print $2}')
check "df inside shows the server's disk size, not the pool's (${kib} KiB)" \
	test "$kib" -gt $((250 * 1024)) -a "$kib" -le $((300 * 1024))
out=$(ex small "dd if=/dev/zero of=/fill bs=1M count=400 2>&1; echo rc=\$?")
expect_match "writing past the disk size fails with ENOSPC inside" "$out" "No space left on device"
check "the neighbour still writes" ex other "dd if=/dev/zero of=/data bs=1M count=20 2>/dev/null && sync"
api GET /pools
check "the pool itself has room left" test "$(jf '.[0].physical - .[0].allocated')" -gt $((1 << 30))
ex small "rm -f /fill"

# snapshots of a running server, rollback and clone
ex small "echo before > /root/state"
api POST /servers/small/snapshots '{"name":"snap1"}'
expect_eq "snapshot of a running server is a task" "$STATUS" 202
expect_eq "snapshot task succeeds" "$(wait_task "$(jf .task.id)")" succeeded
api POST /servers/small/snapshots '{"name":"snap1"}'
expect_eq "a duplicate snapshot name is 409" "$STATUS" 409
api GET /servers/small/snapshots
expect_eq "snapshot listed" "$(jf '.[0].name')" snap1
for _ in $(seq 1 50); do
	api GET /events
	[ "$(jf '[.[] | select(.kind == "pool.fill")] | length')" -ge 1 ] && break
	sleep 0.1
done
expect_match "crossing the fill threshold records an event" "$(jf '[.[] | select(.kind == "pool.fill")][0].message')" \
	"pool 'default' is [0-9]+% full"
api GET /tenants/acme
expect_eq "tenant usage counts its servers" "$(jf .usage.servers)" 2
expect_eq "tenant usage: provisioned disk" "$(jf .usage.disk_provisioned)" $(((300 << 20) + (2 << 30)))
check "tenant usage: really used bytes" test "$(jf .usage.disk_used)" -gt $((20 << 20))
ex small "echo after > /root/state"
api POST /servers/small/snapshots/snap1/rollback
expect_eq "rollback of a running server is 409" "$STATUS" 409
server_do small stop
api POST /servers/small/snapshots/snap1/rollback
expect_eq "rollback task succeeds" "$(wait_task "$(jf .task.id)")" succeeded
server_do small start
expect_eq "rollback restored the file" "$(ex small 'cat /root/state')" before
api POST /servers/small/snapshots/snap1/clone '{"name":"copy"}'
expect_eq "clone from a snapshot is a task" "$STATUS" 202
expect_eq "clone task succeeds" "$(wait_task "$(jf .task.id)")" succeeded
server_do copy start
expect_eq "the clone has the snapshot's data" "$(ex copy 'cat /root/state')" before
expect_eq "the clone has its own hostname" "$(ex copy hostname)" copy

# growth (stopped) and admission control
server_do copy stop
api PATCH /servers/copy '{"disk":"200M"}'
expect_eq "shrinking is refused" "$STATUS/$(jf .error.field)" 400/disk
api PATCH /servers/copy '{"disk":"600M"}'
expect_eq "growing a stopped server's disk" "$STATUS/$(jf .disk)" "200/$((600 << 20))"
server_do copy start
kib=$(ex copy "df -k / | tail -n 1" | awk '{print $2}')
check "df shows the grown disk (${kib} KiB)" test "$kib" -gt $((500 * 1024))
# online growth of the running server: ext4's EXT4_IOC_RESIZE_FS needs CAP_SYS_RESOURCE
api PATCH /servers/copy '{"disk":"700M"}'
if grep -q '^CapEff:' /proc/self/status &&
	(($(printf '%d' "0x$(awk '/^CapEff:/ {print $2}' /proc/self/status)") >> 24 & 1)); then
	expect_eq "growing a running server's disk online" "$STATUS/$(jf .disk)" "200/$((700 << 20))"
	kib=$(ex copy "df -k / | tail -n 1" | awk '{print $2}')
	check "df inside shows the online growth (${kib} KiB)" test "$kib" -gt $((600 * 1024))
else
	expect_eq "without CAP_SYS_RESOURCE the online grow is 403 naming the field" \
		"$STATUS/$(jf .error.field)" 403/disk
	expect_match "the error names the missing capability" "$(jf .error.message)" \
		"server 'copy': disk: .*online grow refused \(it needs CAP_SYS_RESOURCE\)"
	api GET /servers/copy
	expect_eq "the disk keeps its size" "$(jf .disk)/$(jf .state)" "$((600 << 20))/running"
	expect_eq "the volume file went back to its size" \
		"$(stat -c %s "$T/state/pools/default/volumes/$(server_field copy .id).raw")" $((600 << 20))
	check "the server still writes" ex copy "echo ok > /root/after-grow && sync"
fi
api POST /servers '{"name":"huge","template":"busybox","tenant":"acme","disk":"40G"}'
expect_eq "a disk past the pool's overcommit is 507 naming the field" "$STATUS/$(jf .error.field)" 507/disk
expect_match "the error names the pool, the size and what is left" "$(jf .error.message)" \
	"server 'huge': disk: pool 'default': cannot provision 40G: .* of .* \(ratio 2.0\) left"
api GET /servers/huge
expect_eq "nothing was created" "$STATUS" 404
api PATCH /servers/copy '{"disk":"40G"}'
expect_eq "growing past the overcommit is 507" "$STATUS" 507

# more pools: an embedded image pool and a directory that cannot reflink
api POST /pools '{"name":"extra","size":"2G","overcommit":1.5}'
expect_eq "a provider adds an image pool" "$STATUS/$(jf .kind)/$(jf .overcommit)" 201/image/1.5
mkdir -p "$T/plain"
api POST /pools "{\"name\":\"plain\",\"path\":\"$T/plain\"}"
expect_match "a directory without reflinks is refused naming the path" "$STATUS $(jf .error.field)" "^(400|422) path$"
api POST /servers '{"name":"elsewhere","template":"busybox","tenant":"acme","pool":"nope"}'
expect_eq "an unknown pool is 422" "$STATUS/$(jf .error.field)" 422/pool
api POST /servers '{"name":"elsewhere","template":"busybox","tenant":"acme","pool":"extra","disk":"500M"}'
expect_eq "a server in the second pool" "$(wait_task "$(jf .task.id)")" succeeded
server_do elsewhere start
expect_eq "it runs from the second pool" "$("$CARVE" exec elsewhere -- hostname)" elsewhere
check "its volume lives in the second pool" test -f "$T/state/pools/extra/volumes/$(server_field elsewhere .id).raw"
api GET /pools
expect_eq "both pools listed" "$(jf '[.[].name] | sort | join(",")')" default,extra
api DELETE /pools/extra
expect_eq "a pool in use cannot be deleted" "$STATUS" 409
server_do elsewhere stop
api DELETE /servers/elsewhere
wait_task "$(jf .task.id)" >/dev/null
api DELETE /pools/extra
expect_eq "an empty pool is deleted" "$STATUS" 200
check "its image is gone" test ! -e "$T/state/pools/extra.img"
check "its mount is gone" bash -c "! grep -q ' $T/state/pools/extra ' /proc/self/mountinfo"
api DELETE /pools/default
expect_eq "the default pool cannot be deleted" "$STATUS" 409

# freed space goes back: a trim (on demand, and when a server stops) punches what a tenant
# deleted out of its volume file and then out of the pool's image on the host
oid=$(server_field other .id)
ovol="$T/state/pools/default/volumes/$oid.raw"
img="$T/state/pools/default.img"
blocks() { echo $(($(stat -c %b "$1") * 512)); }
mib() { echo "$(($1 >> 20))M"; }
ex other "dd if=/dev/urandom of=/big bs=1M count=200 2>/dev/null && sync"
sum=$(ex other "md5sum < /big" | awk '{print $1}')
api POST /servers/other/snapshots '{"name":"pretrim"}'
expect_eq "snapshot before the delete" "$(wait_task "$(jf .task.id)")" succeeded
api GET /servers/other
used0=$(jf .disk_used)
vol0=$(blocks "$ovol")
ex other "rm /big && sync"
api POST /pools/default/trim
expect_eq "a trim is a task" "$STATUS/$(jf .task.kind)" 202/pool.trim
tid=$(jf .task.id)
expect_eq "the trim task succeeds" "$(wait_task "$tid")" succeeded
api POST /pools/nope/trim
expect_eq "trimming an unknown pool is 404" "$STATUS" 404
api POST /pools/default/trim '{"now":true}'
expect_eq "a trim takes no fields" "$STATUS" 400
mk_user acme-owner owner acme "trim-pass-123"
tok=$(login acme-owner "trim-pass-123")
api POST /pools/default/trim "" "$tok"
expect_match "a tenant's owner may not trim a pool (403 naming pools.write)" "$STATUS $(jf .error.message)" "^403 .*pools.write"
api GET /servers/other
used1=$(jf .disk_used)
vol1=$(blocks "$ovol")
echo "# trim of 'other': disk_used $(mib "$used0") -> $(mib "$used1"), volume file $(mib "$vol0") -> $(mib "$vol1")"
check "the trim gave the deleted 200M back to the volume's allocated bytes" test $((used0 - used1)) -gt $((180 << 20))
check "the volume file's blocks dropped as much" test $((vol0 - vol1)) -gt $((180 << 20))
api GET /pools/default
check "the pool reports the trim (volumes trimmed)" test "$(jf .last_trim.volumes)" -ge 3
snap="$T/state/pools/default/snapshots/$oid/pretrim.raw"
expect_eq "the snapshot still holds the deleted file, intact" \
	"$(debugfs -R 'cat /big' "$snap" 2>/dev/null | md5sum | awk '{print $1}')" "$sum"
img0=$(blocks "$img")
api DELETE /servers/other/snapshots/pretrim
[ "$STATUS" = 202 ] && wait_task "$(jf .task.id)" >/dev/null
out=$("$CARVE" pool trim default --json)
expect_eq "carve pool trim prints the result" "$(jq -r '.volumes >= 1 and .image_allocated_before > 0' <<<"$out")" true
img1=$(blocks "$img")
echo "# trim after the snapshot went: pool image on the host $(mib "$img0") -> $(mib "$img1"); $(jq -c . <<<"$out")"
check "the pool image gave the freed blocks back to the host" test $((img0 - img1)) -gt $((180 << 20))
expect_match "carve pool trim --help" "$("$CARVE" pool trim --help 2>&1)" "give the space tenants freed back"
api GET /events
expect_match "a trim records an event" "$(jf '[.[] | select(.kind == "pool.trim")][0].message')" \
	"pool 'default' trimmed: [0-9]+ volumes"
# a stop trims before it unmounts
ex other "dd if=/dev/urandom of=/big2 bs=1M count=200 2>/dev/null && sync"
vol0=$(blocks "$ovol")
img0=$(blocks "$img")
ex other "rm /big2 && sync"
server_do other stop
vol1=$(blocks "$ovol")
img1=$(blocks "$img")
echo "# stop of 'other' after a delete: volume file $(mib "$vol0") -> $(mib "$vol1"), pool image $(mib "$img0") -> $(mib "$img1")"
check "stopping a server trimmed its volume" test $((vol0 - vol1)) -gt $((180 << 20))
check "and its pool's image on the host" test $((img0 - img1)) -gt $((180 << 20))
server_do other start

# delete removes volume and snapshots
server_do small stop
id=$(server_field small .id)
api DELETE /servers/small
[ "$(wait_task "$(jf .task.id)")" = succeeded ] || fail "delete small"
check "volume gone" test ! -e "$T/state/pools/default/volumes/$id.raw"
check "snapshots gone" test ! -e "$T/state/pools/default/snapshots/$id"
# A process that copied the host's mounts into a namespace of its own while 'other' ran (what
# ip netns exec does) must not keep its disk busy: carved's mount trees are shared, the copies
# slaves, and the unmount reaches them.
unshare -m --propagation slave sleep 120 &
pinner=$!
sleep 0.3
server_do other stop
check "a stopped server's loop device is released despite a copied mount namespace" \
	bash -c "! losetup -a | grep -F '$T/state/pools/default/volumes/$(server_field other .id).raw'"
kill "$pinner" 2>/dev/null; wait "$pinner" 2>/dev/null
# the periodic trim (--trim-interval): carved restarted with 1 s; servers keep running
stop_carved
start_carved --pool-size 8G --overcommit 2 --fill-threshold 1 --trim-interval 1 || exit 1
cid=$(server_field copy .id)
ex copy "dd if=/dev/urandom of=/big bs=1M count=100 2>/dev/null && sync"
vol0=$(blocks "$T/state/pools/default/volumes/$cid.raw")
ex copy "rm /big && sync"
for _ in $(seq 1 50); do
	vol1=$(blocks "$T/state/pools/default/volumes/$cid.raw")
	[ $((vol0 - vol1)) -gt $((90 << 20)) ] && break
	sleep 0.2
done
echo "# periodic trim of 'copy': volume file $(mib "$vol0") -> $(mib "$vol1")"
check "the periodic trim gave a deleted file back without any call" test $((vol0 - vol1)) -gt $((90 << 20))
server_do copy stop
check "no volume is attached once every server stopped" \
	bash -c "! losetup -a | grep -F '$T/state/pools/default/volumes/'"
finish

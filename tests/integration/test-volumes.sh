#!/usr/bin/env bash
# Data volumes: created, attached to a stopped server at a path, mounted there (idmapped: root
# inside owns what it writes) from the next start, moved to another server with their data, kept
# per tenant, and never left attached once their servers stop.
. "$(dirname "$0")/lib.sh"

start_carved --pool-size 4G || exit 1
mk_tenant acme
mk_tenant beta
mk_server web1 acme || exit 1
mk_server web2 acme || exit 1
mk_server intruder beta || exit 1
PW=volumes-test-pw-1
mk_user b-owner owner beta "$PW"
B=$(login b-owner "$PW")

api POST /volumes '{"name":"vol1","size":"200M","tenant":"acme"}'
expect_eq "create a volume: 201" "$STATUS" 201
vid=$(jf .id)
expect_eq "size in bytes" "$(jf .size)" $((200 << 20))
expect_eq "detached at first" "$(jf .server)/$(jf .path)" null/null
expect_eq "in the default pool" "$(jf .pool)" default
check "the volume's file exists in the pool" test -e "$T/state/pools/default/volumes/$vid.raw"
api POST /volumes '{"name":"vol1","size":"200M","tenant":"acme"}'
expect_eq "a duplicate name is 409" "$STATUS" 409
api POST /volumes '{"name":"vol1","size":"200M"}'
expect_eq "an admin must name the tenant" "$STATUS/$(jf .error.field)" 400/tenant
api POST /volumes '{"name":"tiny","size":"1M","tenant":"acme"}'
expect_eq "below the minimum size is 400" "$STATUS/$(jf .error.field)" 400/size
api POST /volumes '{"name":"huge","size":"10T","tenant":"acme"}'
expect_eq "past the pool's capacity is 507" "$STATUS" 507
expect_match "the 507 names the pool" "$(jf .error.message)" "pool 'default'"

for p in '../x' 'relative' '/proc/x' '/' '/a/../b' '/sys' '/a//b'; do
	api POST /volumes/vol1/attach "{\"server\":\"web1\",\"path\":\"$p\"}"
	expect_eq "attach at '$p' is 400" "$STATUS/$(jf .error.field)" 400/path
done
api POST /volumes/vol1/attach '{"server":"web1"}'
expect_eq "a container needs a mount path" "$STATUS/$(jf .error.field)" 400/path
api POST /volumes/vol1/attach '{"server":"intruder","path":"/data"}'
expect_eq "attach to another tenant's server is 404" "$STATUS" 404
api POST /volumes/vol1/attach '{"server":"web1","path":"/data"}'
expect_eq "attach while stopped" "$STATUS" 200
expect_eq "attached to web1 at /data" "$(jf .server):$(jf .path)" web1:/data
api POST /volumes/vol1/attach '{"server":"web2","path":"/data"}'
expect_eq "attaching an attached volume is 409" "$STATUS" 409
expect_match "the 409 names the server" "$(jf .error.message)" "server 'web1'"
api POST /volumes '{"name":"vol2","size":"64M","tenant":"acme"}'
api POST /volumes/vol2/attach '{"server":"web1","path":"/data"}'
expect_eq "two volumes on one path is 409" "$STATUS" 409

server_do web1 start || exit 1
out=$("$CARVE" exec web1 -- sh -c 'df -k /data | tail -n 1; echo hi > /data/f; ls -ln /data/f')
log "$out"
kib=$(awk 'NR == 1 {print $2}' <<<"$out")
check "df inside shows a ~200M filesystem at /data (${kib} KiB)" \
	test "${kib:-0}" -gt $((150 * 1024)) -a "${kib:-0}" -le $((200 * 1024))
expect_match "the file is owned by root inside" "$(tail -n 1 <<<"$out")" '^-[rw-]+ +1 +0 +0 '
api POST /volumes/vol2/attach '{"server":"web1","path":"/logs"}'
expect_eq "attach to a running server is 409" "$STATUS" 409
expect_match "the 409 names the state" "$(jf .error.message)" "running"
api POST /volumes/vol1/detach
expect_eq "detach from a running server is 409" "$STATUS" 409
api DELETE /volumes/vol1
expect_eq "delete of an attached volume is 409" "$STATUS" 409
api PATCH /volumes/vol1 '{"size":"300M"}'
expect_eq "resize while its server runs is 409" "$STATUS" 409
check "the volume is attached on the host while web1 runs" \
	bash -c "losetup -a | grep -F '$vid'"

server_do web1 stop || exit 1
check "nothing attached after stop" bash -c "! losetup -a | grep -F '$vid'"
api PATCH /volumes/vol1 '{"size":"100M"}'
expect_eq "shrinking is 400" "$STATUS/$(jf .error.field)" 400/size
api PATCH /volumes/vol1 '{"size":"300M"}'
expect_eq "grow while the server is stopped" "$STATUS/$(jf .size)" 200/$((300 << 20))
api POST /volumes/vol1/detach
expect_eq "detach while stopped" "$STATUS/$(jf .server)" 200/null
api POST /volumes/vol1/attach '{"server":"web2","path":"/mnt/v"}'
expect_eq "attach to the second server" "$STATUS" 200
server_do web2 start || exit 1
expect_eq "the data moved with the volume" "$("$CARVE" exec web2 -- cat /mnt/v/f)" hi
kib=$("$CARVE" exec web2 -- sh -c 'df -k /mnt/v | tail -n 1' | awk '{print $2}')
check "the grown filesystem shows (${kib} KiB)" test "${kib:-0}" -gt $((250 * 1024))

# tenant isolation
api GET /volumes/vol1 "" "$B"
expect_eq "another tenant's volume is 404" "$STATUS" 404
api DELETE /volumes/vol1 "" "$B"
expect_eq "another tenant cannot delete it" "$STATUS" 404
api GET /volumes "" "$B"
expect_eq "another tenant lists none" "$(jf length)" 0
api POST /volumes '{"name":"vol1","size":"64M"}' "$B"
expect_eq "the same name in another tenant is fine" "$STATUS" 201
api GET '/volumes?tenant=acme'
expect_eq "admin lists acme's volumes" "$(jf '[.[].name] | join(",")')" vol1,vol2
api GET /volumes/vol1
expect_eq "an ambiguous name needs ?tenant= for admins" "$STATUS" 409
api GET '/volumes/vol1?tenant=acme'
expect_eq "used is reported" "$(jf '.used > 0')" true

# deleting a server keeps its volume, detached
server_do web2 stop || exit 1
api DELETE /servers/web2
[ "$(wait_task "$(jf .task.id)")" = succeeded ] || fail "delete web2: $BODY"
api GET '/volumes/vol1?tenant=acme'
expect_eq "the volume survives its server, detached" "$STATUS/$(jf .server)" 200/null
api DELETE '/volumes/vol1?tenant=acme'
expect_eq "delete a detached volume" "$STATUS" 200
check "its file is gone" test ! -e "$T/state/pools/default/volumes/$vid.raw"
check "no loop device is left for the volume" bash -c "! losetup -a | grep -F '$vid'"
finish

#!/usr/bin/env bash
# Two tenants, users of every role: each tenant sees only its own objects (404 otherwise) and
# every role can do exactly what it may (403 naming the right otherwise).
. "$(dirname "$0")/lib.sh"

start_carved || exit 1
PW=correct-horse-battery
mk_tenant alpha
mk_tenant beta
mk_user a-owner owner alpha "$PW"
mk_user a-oper operator alpha "$PW"
mk_user a-view viewer alpha "$PW"
mk_user b-owner owner beta "$PW"

api GET /tenants/alpha
ua=$(jf .uid_base)
api GET /tenants/beta
ub=$(jf .uid_base)
expect_eq "tenant uid ranges are 65536 long and disjoint" "$((ub - ua))" 65536

A=$(login a-owner "$PW")
AO=$(login a-oper "$PW")
AV=$(login a-view "$PW")
B=$(login b-owner "$PW")

mk_server app1 "" "$A"
mk_server app1 "" "$B"
api GET /servers "" "$A"
expect_eq "a tenant owner lists only its servers" "$(jf '[.[] | .tenant] | unique | join(",")')" alpha
api GET /servers "" "$B"
expect_eq "tenant beta sees only its own" "$(jf '[.[].tenant] | unique | join(",")')/$(jf length)" beta/1
mk_server secret1 "" "$A"

for req in "GET /servers/secret1" "POST /servers/secret1/start" "POST /servers/secret1/stop" \
	"DELETE /servers/secret1" "PATCH /servers/secret1"; do
	body=""
	[[ $req == PATCH* ]] && body='{"vcpus":2}'
	api ${req% *} "${req#* }" "$body" "$B"
	expect_eq "tenant beta: $req of alpha's server is 404" "$STATUS" 404
done
api GET "/servers?tenant=alpha" "" "$B"
expect_eq "tenant beta cannot list alpha by ?tenant=" "$STATUS" 404
api GET /tenants/alpha "" "$B"
expect_eq "tenant beta cannot see tenant alpha" "$STATUS" 404
api GET /users/a-owner "" "$B"
expect_eq "tenant beta cannot see alpha's users" "$STATUS" 404
api GET /servers/secret1 "" "$A"
expect_eq "alpha's owner sees it" "$STATUS" 200

# roles
api POST /servers/secret1/start "" "$AV"
expect_eq "viewer cannot start: 403" "$STATUS" 403
expect_match "403 names the right" "$(jf .error.message)" "missing right 'servers.operate'"
api GET /servers/secret1 "" "$AV"
expect_eq "viewer can read" "$STATUS" 200
server_do secret1 start "" "$AO"
expect_eq "operator started it" "$(server_field secret1 .state alpha)" running
api DELETE /servers/secret1 "" "$AO"
expect_eq "operator cannot delete: 403" "$STATUS" 403
api POST /servers/secret1/start "" "$AO"
expect_eq "start while running is 409" "$STATUS" 409
expect_match "409 names the state" "$(jf .error.message)" "is running"
server_do secret1 stop "" "$AO"
api POST /users '{"name":"sneaky","role":"owner","tenant":"alpha","password":"longenough"}' "$AO"
expect_eq "operator cannot create users" "$STATUS" 403
api POST /users '{"name":"boss","role":"admin","password":"longenough"}' "$A"
expect_eq "owner cannot create an admin" "$STATUS" 403
api POST /users '{"name":"a-new","role":"viewer","tenant":"beta","password":"longenough"}' "$A"
expect_eq "owner cannot create users in another tenant" "$STATUS" 404
api POST /users '{"name":"a-new","role":"viewer","password":"longenough"}' "$A"
expect_eq "owner creates a viewer in its own tenant" "$STATUS/$(jf .tenant)" 201/alpha
api POST /tenants '{"name":"gamma"}' "$A"
expect_eq "owner cannot create tenants" "$STATUS" 403

# API tokens never exceed their owner
api POST /tokens '{"name":"ci","role":"admin"}' "$AO"
expect_eq "operator cannot mint an admin token" "$STATUS" 403
api POST /tokens '{"name":"ro","role":"viewer"}' "$A"
expect_eq "owner mints a viewer token" "$STATUS" 201
TV=$(jf .secret)
TVID=$(jf .id)
api GET /tokens "" "$A"
expect_eq "token listed without its secret" "$(jf '.[0].secret // "none"')/$(jf '.[0].name')" none/ro
api POST /servers/app1/start "" "$TV"
expect_eq "viewer token cannot start" "$STATUS" 403
api GET /servers "" "$TV"
expect_eq "viewer token can read" "$STATUS" 200
api POST /tokens '{"name":"op"}' "$AO"
TO=$(jf .secret)
api PATCH /users/a-oper '{"role":"viewer"}' "$A"
expect_eq "owner demotes the operator" "$STATUS/$(jf .role)" 200/viewer
api POST /servers/app1/start "" "$TO"
expect_eq "token of a demoted user loses the right" "$STATUS" 403
api DELETE "/tokens/$TVID" "" "$A"
expect_eq "token revoked" "$STATUS" 200
api GET /servers "" "$TV"
expect_eq "revoked token is 401" "$STATUS" 401
api POST /logout "" "$B"
api GET /servers "" "$B"
expect_eq "session ends at logout" "$STATUS" 401

# the admin sees everything and names tenants
api GET /servers
expect_eq "admin lists every tenant's servers" "$(jf length)" 3
api GET /servers/app1
expect_eq "ambiguous name across tenants is 409 for the admin" "$STATUS" 409
api GET "/servers/app1?tenant=beta"
expect_eq "admin names the tenant" "$STATUS/$(jf .tenant)" 200/beta
api DELETE /tenants/beta
expect_eq "tenant with servers cannot be deleted" "$STATUS" 409

# audit log records mutating calls
n=$(python3 - "$T/state/carve.db" <<'PY' 2>/dev/null || echo 0
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from audit").fetchone()[0])
PY
)
check "audit log has records" test "$n" -gt 10
finish

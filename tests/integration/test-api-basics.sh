#!/usr/bin/env bash
# carved's API as a client meets it: bootstrap, login, limits and bad input that changes nothing.
. "$(dirname "$0")/lib.sh"

start_carved || exit 1

# The first start creates the provider admin and prints its password once.
pw=$(sed -n "s/^carved: created the provider admin 'admin' with password: //p" "$T/carved.out")
expect_match "admin password printed once at bootstrap" "$pw" '^.{16,}$'
tok=$(login admin "$pw")
expect_match "admin logs in over the unix socket" "$tok" '^carve_[0-9a-f]{64}$'
api_tcp GET /whoami "" "$tok"
expect_eq "session works over TCP" "$STATUS" 200
expect_eq "whoami names the admin" "$(jf .user.name)/$(jf .role)/$(jf .via)" "admin/admin/session"
api_tcp GET /servers
expect_eq "TCP without credentials is 401" "$STATUS" 401
expect_match "401 says how to log in" "$(jf .error.message)" "carve login"
api GET /whoami
expect_eq "root on the unix socket is provider admin" "$(jf .via)/$(jf .role)" "unix-root/admin"
stat_mode=$(stat -c %a "$SOCK")
expect_eq "unix socket is root-only" "$stat_mode" 600

# Same answer for an unknown user and a wrong password, then throttling.
api_tcp POST /login '{"user":"nobody-here","password":"wrongwrongwrong"}'
unknown="$STATUS $(jf .error.message)"
api_tcp POST /login '{"user":"admin","password":"wrongwrongwrong"}'
wrong="$STATUS $(jf .error.message)"
expect_eq "unknown user and wrong password get the same answer" "$unknown" "$wrong"
expect_eq "failed login is 401" "${wrong%% *}" 401
# The 5th failure from one address (nobody-here and admin above count) starts the back-off; it
# counts from the end of the attempt, so a slow hash cannot use it up: the next one is refused.
tries=0
while ((tries < 8)); do
	api_tcp POST /login '{"user":"admin","password":"wrongwrongwrong"}'
	tries=$((tries + 1))
	[[ $STATUS == 429 ]] && break
done
expect_eq "repeated failed logins are throttled" "$STATUS" 429
expect_eq "throttled after the 5th failure from this address" "$tries" 4
api_tcp POST /login "{\"user\":\"admin\",\"password\":\"$pw\"}"
expect_eq "throttled account refuses even the right password for now" "$STATUS" 429

api GET /templates
expect_eq "busybox template is there" "$(jf '.[] | select(.name=="busybox") | .kind')" container

# Bad input: each gets a 4xx naming the problem, and nothing changes.
mk_tenant acme
before=$(api GET /servers; echo "$BODY")
api POST /servers '{"name":"web1",'
expect_eq "malformed JSON is 400" "$STATUS" 400
expect_match "malformed JSON message" "$(jf .error.message)" "malformed JSON"
api POST /servers '{"name":"web1","template":"busybox","tenant":"acme","colour":"red"}'
expect_eq "unknown field is 400" "$STATUS" 400
expect_eq "unknown field is named" "$(jf .error.field)" colour
api POST /servers '{"name":"Web_1","template":"busybox","tenant":"acme"}'
expect_eq "bad name is 400" "$STATUS" 400
expect_match "bad name message names the server name" "$(jf .error.message)" "server name 'Web_1'"
api POST /servers '{"name":"web1","template":"busybox","tenant":"acme","memory":"12X"}'
expect_eq "bad size is 400" "$STATUS" 400
expect_eq "bad size message" "$(jf .error.message)" "server 'web1': memory '12X': not a size (use e.g. 512M, 2G)"
expect_eq "bad size names the field" "$(jf .error.field)" memory
api POST /servers '{"name":"web1","template":"busybox","tenant":"acme","vcpus":0}'
expect_eq "vcpus 0 is 400" "$STATUS/$(jf .error.field)" 400/vcpus
api POST /servers '{"name":"web1","template":"busybox","tenant":"acme","memory":"1M"}'
expect_match "memory below minimum" "$STATUS $(jf .error.message)" "^400 .*below the minimum"
api POST /servers '{"name":"web1","template":"nope","tenant":"acme"}'
expect_eq "unknown template is 422" "$STATUS/$(jf .error.field)" 422/template
api POST /servers '{"name":"web1","template":"busybox","tenant":"nope"}'
expect_eq "unknown tenant is 404" "$STATUS" 404
api POST /servers '{"name":"web1","template":"busybox"}'
expect_eq "admin must name the tenant" "$STATUS/$(jf .error.field)" 400/tenant
api POST /servers '{"name":"web1","tenant":"acme"}'
expect_eq "missing required field is 400 naming it" "$STATUS/$(jf .error.field)" 400/template
api POST /servers '[1,2,3]'
expect_eq "array body is 400" "$STATUS" 400
deep=$(printf '{"a":%.0s' $(seq 1 40))1$(printf '}%.0s' $(seq 1 40))
api POST /servers "$deep"
expect_eq "deep nesting is 400" "$STATUS" 400
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$T/big"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -H 'Content-Type: application/json' \
	--data-binary @"$T/big" http://localhost/api/v1/servers)
expect_eq "oversize body is 413" "$STATUS" 413
api GET /servers/web1
expect_eq "server from rejected requests does not exist" "$STATUS" 404
after=$(api GET /servers; echo "$BODY")
expect_eq "server list unchanged by bad input" "$after" "$before"
api GET /nothing-here
expect_eq "unknown path is 404" "$STATUS" 404
api DELETE /templates
expect_eq "wrong method is 405" "$STATUS" 405
api POST /tenants '{"name":"acme"}'
expect_eq "duplicate tenant is 409" "$STATUS" 409

# SIGTERM stops carved cleanly.
stop_carved
expect_eq "carved exits 0 on SIGTERM" "$?" 0
finish

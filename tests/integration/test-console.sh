#!/usr/bin/env bash
# carve exec and carve console against a running busybox server, through carved's websocket
# endpoints: output, exit status, stdin, rights, tenant isolation, console attach and detach.
. "$(dirname "$0")/lib.sh"

start_carved || exit 1
mk_tenant acme
mk_tenant other
mk_user alice operator acme 'alice-password-1'
mk_user victor viewer acme 'victor-password-1'
mk_user olga owner other 'olga-password-1'
mk_server web1 acme
mk_server db9 other

# a stopped server: 409 naming the state, before any upgrade
out=$("$CARVE" exec web1 -- true 2>&1)
rc=$?
expect_eq "exec in a stopped server fails" "$rc" 1
expect_match "the error names the state" "$out" "server 'web1' is stopped"

server_do web1 start
server_do db9 start

out=$("$CARVE" exec web1 -- sh -c 'echo hi; exit 7' </dev/null)
rc=$?
expect_eq "exec prints the command's output" "$out" hi
expect_eq "exec passes the exit status through" "$rc" 7

out=$(printf 'line one\nline two\n' | "$CARVE" exec web1 -- cat)
expect_eq "stdin is piped through" "$out" "$(printf 'line one\nline two')"

head -c 300000 /dev/urandom >"$T/blob"
"$CARVE" exec web1 -- cat <"$T/blob" >"$T/blob.out"
check "300 KB of binary stdin come back byte for byte" cmp -s "$T/blob" "$T/blob.out"

out=$("$CARVE" exec web1 -- hostname </dev/null)
expect_eq "exec runs inside the server (hostname)" "$out" web1

err=$("$CARVE" exec web1 -- sh -c 'echo oops >&2; exit 3' </dev/null 2>&1 >/dev/null)
rc=$?
expect_eq "stderr is kept apart" "$err" oops
expect_eq "exit status 3" "$rc" 3

"$CARVE" exec web1 -- sh -c 'kill -9 $$' </dev/null
expect_eq "killed by SIGKILL: 128+9" "$?" 137

out=$("$CARVE" exec web1 --env FOO=bar --cwd /etc -- sh -c 'echo "$FOO $(pwd)"' </dev/null)
expect_eq "--env and --cwd" "$out" "bar /etc"

out=$("$CARVE" exec web1 -t -- sh -c 'test -t 0 && echo tty' </dev/null)
expect_match "-t gives the command a terminal" "$out" "tty"

"$CARVE" exec web1 -- /no/such/command </dev/null >/dev/null 2>&1
rc=$?
check "a missing command fails" test "$rc" -ne 0

# rights and tenancy
ALICE=$(login alice 'alice-password-1')
VICTOR=$(login victor 'victor-password-1')
OLGA=$(login olga 'olga-password-1')
TCP="http://127.0.0.1:$PORT"
out=$("$CARVE" --url "$TCP" --token "$ALICE" exec web1 -- echo over tcp </dev/null)
expect_eq "an operator execs over TCP with a token" "$out" "over tcp"
out=$("$CARVE" --url "$TCP" --token "$VICTOR" exec web1 -- true </dev/null 2>&1)
rc=$?
expect_eq "a viewer is refused" "$rc" 1
expect_match "the refusal names the right" "$out" "servers.operate"
key=dGhlIHNhbXBsZSBub25jZQ==
ws_status() { # TOKEN PATH: the HTTP status of a websocket handshake
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
		-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H "Sec-WebSocket-Key: $key" \
		-H 'Sec-WebSocket-Version: 13' --max-time 3 "$TCP/api/v1$2"
}
expect_eq "viewer: 403 on exec" "$(ws_status "$VICTOR" /servers/web1/exec)" 403
expect_eq "viewer: 403 on console" "$(ws_status "$VICTOR" /servers/web1/console)" 403
expect_eq "another tenant's server: 404 on exec" "$(ws_status "$OLGA" /servers/web1/exec)" 404
expect_eq "another tenant's server: 404 on console" "$(ws_status "$OLGA" /servers/web1/console)" 404
out=$("$CARVE" --url "$TCP" --token "$OLGA" exec web1 -- true </dev/null 2>&1)
expect_match "carve exec of another tenant's server: not found" "$out" "not found"
expect_eq "no token: 401" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' \
	-H 'Upgrade: websocket' -H "Sec-WebSocket-Key: $key" -H 'Sec-WebSocket-Version: 13' \
	"$TCP/api/v1/servers/web1/exec")" 401
expect_eq "a plain GET without upgrade: 400" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ALICE" \
	"$TCP/api/v1/servers/web1/exec")" 400

# console: type a command whose output can only come from the console's shell (if the
# template's init offers one), detach with Ctrl-], and the server keeps running.
pid=$(server_field web1 .init_pid)
out=$(printf 'echo marker-$((6*7))\n' | timeout 20 "$CARVE" console web1 2>&1)
rc=$?
expect_eq "console with piped input exits 0" "$rc" 0
# the console's terminal echoes what was typed: input reached the pty and its output came back
expect_match "console output shows what was typed into it" "$out" "echo marker-"
if [[ "$out" == *marker-42* ]]; then ok "a shell on the console ran the typed command"; else
	log "note: no shell on the console ran the command (busybox init offers none)"
fi
out=$(printf 'x\035ignored' | timeout 20 "$CARVE" console web1 2>&1)
expect_eq "detach key ends the session with 0" "$?" 0
expect_eq "server still running after detach" "$(server_field web1 .state)" running
check "init still alive after detach" kill -0 "$pid"
out=$("$CARVE" console web1 </dev/null 2>&1)
expect_eq "console with empty input exits 0" "$?" 0

# a stopped server's console: 409
server_do db9 stop
expect_eq "console of a stopped server: 409" "$(ws_status "$OLGA" /servers/db9/console)" 409

server_do web1 stop
finish

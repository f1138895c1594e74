#!/usr/bin/env bash
# The carve CLI as a user drives it: help, login over TCP, JSON output, progress-waiting
# commands, errors that name the object and field, and exit codes.
. "$(dirname "$0")/lib.sh"

start_carved || exit 1
pw=$(sed -n "s/^carved: created the provider admin 'admin' with password: //p" "$T/carved.out")

check "carve --help exits 0" "$CARVE" --help
for g in login tenant user token server task template; do
	check "carve $g --help exits 0" "$CARVE" $g --help
done
"$CARVE" no-such-command >/dev/null 2>&1
expect_eq "unknown command is a usage error" "$?" 64

# As root with CARVE_URL pointing at the unix socket: provider admin, no login.
check "tenant create" "$CARVE" tenant create acme --description "Acme Corp"
check "tenant set: the provider's caps" "$CARVE" tenant set acme --max-vcpus 4 --max-memory 2G \
	--max-pids 500 --max-ports 7
expect_eq "the caps as the API shows them" \
	"$("$CARVE" tenant show acme --json | jq -c '[.caps.max_vcpus, .caps.max_memory, .caps.max_pids, .caps.max_ports]')" \
	"[4,$((2 << 30)),500,7]"
expect_match "tenant show lists them" "$("$CARVE" tenant show acme)" "max_memory: +2G"
"$CARVE" tenant set acme --max-pids lots 2>"$T/caps.err"
expect_eq "a bad cap is a usage error (64)" "$?" 64
check "  ... naming the option" grep -q -- "--max-pids" "$T/caps.err"
check "max_ports back to carved's default" "$CARVE" tenant set acme --max-ports default
check "caps lifted again" "$CARVE" tenant set acme --max-vcpus 0 --max-memory 0 --max-pids 0
out=$("$CARVE" --json tenant show acme)
expect_eq "tenant show --json" "$(jq -r .description <<<"$out")" "Acme Corp"
printf 'pass-word-123\n' | "$CARVE" user create alice --role owner --tenant acme --password-stdin >/dev/null
expect_eq "user create exits 0" "$?" 0

# Log in over TCP as the tenant owner; the config file remembers it.
unset CARVE_URL
printf 'pass-word-123\n' | "$CARVE" login --url "http://127.0.0.1:$PORT" --user alice --password-stdin >/dev/null
expect_eq "login exits 0" "$?" 0
cfg="$XDG_CONFIG_HOME/carve/config.json"
check "config file written" test -f "$cfg"
expect_eq "config file is private" "$(stat -c %a "$cfg")" 600
expect_eq "whoami after login" "$("$CARVE" --json whoami | jq -r .user.name)" alice

out=$("$CARVE" server create web1 --template busybox --memory 12X 2>&1)
rc=$?
expect_eq "bad memory exits 64 or 1" "$([ $rc = 64 ] || [ $rc = 1 ] && echo yes)" yes
expect_match "bad memory message names object and field" "$out" "server 'web1': memory '12X': not a size \(use e\.g\. 512M, 2G\)"
check "server create waits for its task" "$CARVE" server create web1 --template busybox --memory 256M --vcpus 2
out=$("$CARVE" --json server show web1)
expect_eq "server show --json" "$(jq -r '.state + " " + (.vcpus|tostring) + " " + (.memory|tostring)' <<<"$out")" "stopped 2 268435456"
check "server start" "$CARVE" server start web1
expect_eq "running after start" "$("$CARVE" --json server show web1 | jq -r .state)" running
out=$("$CARVE" server list)
expect_match "server list table" "$out" "web1.*running"
"$CARVE" server start web1 >/dev/null 2>"$T/err"
expect_eq "start while running exits 1" "$?" 1
expect_match "conflict message names the state" "$(cat "$T/err")" "is running"
out=$("$CARVE" server pause web1)
expect_eq "server pause" "$out" "server 'web1' paused (state: paused)"
expect_eq "paused in --json" "$("$CARVE" --json server show web1 | jq -r .state)" paused
check "server resume" "$CARVE" server resume web1
check "server stop" "$CARVE" server stop web1
"$CARVE" server show nope >/dev/null 2>"$T/err"
expect_eq "missing server exits 1" "$?" 1
expect_match "missing server message" "$(cat "$T/err")" "server 'nope' not found"
id=$("$CARVE" --json server delete web1 --no-wait | jq -r '.task.id // .id')
expect_match "--no-wait returns the task" "$id" '^[0-9a-f]{32}$'
check "task wait" "$CARVE" task wait "$id"
expect_eq "task show --json" "$("$CARVE" --json task show "$id" | jq -r .state)" succeeded

# API tokens via the CLI
secret=$("$CARVE" --json token create deploy --role viewer | jq -r .secret)
expect_match "token create prints the secret once" "$secret" '^carve_'
CARVE_TOKEN=$secret "$CARVE" server create web2 --template busybox >/dev/null 2>"$T/err"
expect_eq "viewer token cannot create: exit 1" "$?" 1
expect_match "403 names the right" "$(cat "$T/err")" "servers.write"

# unreachable carved
CARVE_URL="http://127.0.0.1:1" "$CARVE" server list >/dev/null 2>"$T/err"
expect_eq "unreachable carved exits 2" "$?" 2
check "logout" "$CARVE" logout
finish

#!/usr/bin/env bash
# Storage through the carve CLI as an admin drives it: server disks, snapshots (taken while
# running, rolled back, cloned), data volumes attached to a server and seen inside it, pools and
# the event log; errors name the object and field, exit codes 0/1/64.
. "$(dirname "$0")/lib.sh"

start_carved --pool-size 4G || exit 1
ex() { "$CARVE" exec "$1" -- sh -c "$2"; }

for g in snapshot pool volume event; do
	check "carve $g --help exits 0" "$CARVE" $g --help
done

# As root over the unix socket (CARVE_URL from lib.sh): the provider admin.
check "tenant create" "$CARVE" tenant create acme
check "server create --disk waits for its task" \
	"$CARVE" server create web1 --template busybox --memory 256M --disk 300M --tenant acme
out=$("$CARVE" --json server show web1)
expect_eq "server show --json: the disk is 300M" "$(jq -r .disk <<<"$out")" $((300 << 20))
expect_eq "server show --json: in the default pool" "$(jq -r .pool <<<"$out")" default
expect_match "server show prints the disk" "$("$CARVE" server show web1)" "disk: +300M"
expect_match "server list has a DISK column" "$("$CARVE" server list)" "DISK.*"$'\n'"web1 .* 300M "
out=$("$CARVE" server create web3 --template busybox --disk 3Q 2>&1)
expect_eq "a bad --disk exits 64" "$?" 64
expect_eq "a bad --disk names object and field" "$out" \
	"carve: server 'web3': disk '3Q': not a size (use e.g. 512M, 2G)"
check "server start" "$CARVE" server start web1
check "write a marker into the root disk" ex web1 'echo before > /root/state'

# snapshots of a running server
check "snapshot create on a running server" "$CARVE" snapshot create web1 s1
out=$("$CARVE" --json snapshot list web1)
expect_eq "snapshot list --json" "$(jq -r '[.[].name] | join(",")' <<<"$out")" s1
check "the snapshot has a size" test "$(jq -r '.[0].size' <<<"$out")" -gt 0
expect_match "snapshot list table" "$("$CARVE" snapshot list web1)" "^NAME +SIZE +CREATED"$'\n'"s1 +[0-9.]+[KMG]? +20"
"$CARVE" snapshot create web1 s1 >/dev/null 2>"$T/err"
expect_eq "a duplicate snapshot exits 1" "$?" 1
expect_match "the duplicate names server and snapshot" "$(cat "$T/err")" "server 'web1': snapshot 's1' already exists"
check "change the root disk after the snapshot" ex web1 'echo after > /root/state'

# data volumes
out=$("$CARVE" volume create v1 --size 12X --tenant acme 2>&1)
expect_eq "a bad --size exits 64" "$?" 64
expect_eq "a bad --size names object and field" "$out" \
	"carve: volume 'v1': size '12X': not a size (use e.g. 512M, 2G)"
check "volume create" "$CARVE" volume create v1 --size 100M --tenant acme
expect_eq "volume show --json" "$("$CARVE" --json volume show v1 | jq -r '.size')" $((100 << 20))
"$CARVE" volume attach v1 web1 --path /data >/dev/null 2>"$T/err"
expect_eq "attach to a running server exits 1" "$?" 1
expect_match "the refusal names the state" "$(cat "$T/err")" "volume 'v1': server 'web1' is running"
check "server stop" "$CARVE" server stop web1
check "volume attach while stopped" "$CARVE" volume attach v1 web1 --path /data
expect_match "volume list shows where it is attached" "$("$CARVE" volume list)" \
	"v1 +acme +default +100M +[-0-9.KMG]+ +web1 +/data"
check "server start with the volume" "$CARVE" server start web1
out=$(ex web1 'echo hi > /data/f && cat /data/f && df -k /data | tail -n 1')
expect_eq "carve exec sees /data" "$(head -n 1 <<<"$out")" hi
kib=$(awk 'NR == 2 {print $2}' <<<"$out")
check "/data is the ~100M volume (${kib} KiB)" test "${kib:-0}" -gt $((60 * 1024)) -a "${kib:-0}" -le $((100 * 1024))

# pools and events
out=$("$CARVE" pool list)
expect_match "pool list shows the default pool with numbers" "$out" \
	$'\n'"default +reflink +image +[0-9.]+[KMGT] +[0-9.]+[KMGT]? +[0-9.]+[KMGT] +[0-9.]+[KMGT] +[0-9.]+"
check "pool list --json has a size" test "$("$CARVE" --json pool list | jq -r '.[0].physical')" -gt 0
expect_match "pool show prints the threshold in percent" "$("$CARVE" pool show default)" "fill_threshold: +[0-9.]+%"
"$CARVE" pool set default --overcommit 2 >/dev/null 2>"$T/err"
expect_eq "the default pool is set by carved's flags: exit 1" "$?" 1
"$CARVE" pool create p1 --size 1G --fill-threshold 0 >/dev/null 2>&1
expect_eq "a bad fill threshold exits 64" "$?" 64
check "event list runs" "$CARVE" event list --limit 5
check "event list --json is an array" bash -c "'$CARVE' --json event list | jq -e 'type == \"array\"' >/dev/null"

# rollback and clone
"$CARVE" snapshot rollback web1 s1 >/dev/null 2>"$T/err"
expect_eq "rollback of a running server exits 1" "$?" 1
expect_match "the refusal names the state" "$(cat "$T/err")" "server 'web1' is running"
check "server stop" "$CARVE" server stop web1
expect_match "snapshot rollback" "$("$CARVE" snapshot rollback web1 s1)" "server 'web1' rolled back to snapshot 's1' \(state: stopped\)"
check "server start after rollback" "$CARVE" server start web1
expect_eq "the root disk is back to the snapshot" "$(ex web1 'cat /root/state')" before
expect_eq "the data volume kept its data" "$(ex web1 'cat /data/f')" hi
out=$("$CARVE" --json snapshot clone web1 s1 web2)
expect_eq "snapshot clone makes a stopped server of the same tenant" \
	"$(jq -r '.state + " " + .tenant' <<<"$out")" "stopped acme"
check "start the clone" "$CARVE" server start web2
expect_eq "the clone has the snapshot's data" "$(ex web2 'cat /root/state')" before
"$CARVE" snapshot clone web1 s1 web2 >/dev/null 2>"$T/err"
expect_eq "cloning onto a taken name exits 1" "$?" 1
expect_match "and names the new server" "$(cat "$T/err")" "server 'web2' already exists"
"$CARVE" snapshot delete web1 nope >/dev/null 2>"$T/err"
expect_eq "deleting a missing snapshot exits 1" "$?" 1
expect_match "and names it" "$(cat "$T/err")" "snapshot 'nope'"

# detach and delete
"$CARVE" volume detach v1 >/dev/null 2>"$T/err"
expect_eq "detach from a running server exits 1" "$?" 1
check "stop web1" "$CARVE" server stop web1
check "stop web2" "$CARVE" server stop web2
check "volume detach" "$CARVE" volume detach v1
expect_eq "detached" "$("$CARVE" --json volume show v1 | jq -r .server)" null
check "volume delete" "$CARVE" volume delete v1
expect_eq "no volumes left" "$("$CARVE" --json volume list | jq length)" 0
check "snapshot delete" "$CARVE" snapshot delete web1 s1
expect_eq "no snapshots left" "$("$CARVE" --json snapshot list web1 | jq length)" 0
check "delete the clone" "$CARVE" server delete web2
check "delete web1" "$CARVE" server delete web1
finish

#!/usr/bin/env bash
# Tenant networks end to end, entirely inside network namespaces this test creates: carved runs
# in a "host" namespace whose uplink is a veth to an "internet" namespace; nothing touches the
# machine's own interfaces, routes or firewall. Shows: networks per tenant (allocated and given
# subnets, 409s, 404 across tenants), static and DHCP interfaces with DNS names from the
# network's dnsmasq, a web site in a container reached from the internet through a published
# port, masquerade, isolation between tenants and from the host (ICMP, TCP, UDP, ARP and IP
# spoofing, a rogue DHCP server) with the nftables counters rising, bandwidth limits, counters,
# kill -9 of carved and reconcile, and deletion leaving nothing behind.
source "$(dirname "$0")/lib.sh"
not() { ! "$@"; }

NS_H="cvh$$"
NS_I="cvi$$"
NP=cv # carved's link prefix: every link of ours in NS_H starts with it
REAL_CARVED=$CARVED
export CARVE_VM_ASSETS=${CARVE_VM_ASSETS:-/var/tmp/carve-vm-assets}
HAVE_VM=""
command -v qemu-system-x86_64 >/dev/null && [ -f "$CARVE_VM_ASSETS/vmlinuz" ] &&
	[ -f "$CARVE_VM_ASSETS/initramfs.gz" ] && HAVE_VM=1

net_cleanup() {
	local pid
	# dnsmasq processes of this test's run directory (they daemonize away from carved)
	for pid in $(pgrep -f "dnsmasq.*$T/run/net" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	ip netns pids "$NS_I" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$NS_H" 2>/dev/null
	ip netns del "$NS_I" 2>/dev/null
	cleanup
}
trap net_cleanup EXIT

inh() { ip netns exec "$NS_H" "$@"; }
ini() { ip netns exec "$NS_I" "$@"; }
# sx SERVER CMD: run a shell command inside a server (as its root)
sx() { "$CARVE" exec "$1" -- sh -c "$2"; }
# get SERVER ADDR PORT: an HTTP GET from inside a server, printing the body (busybox nc; the
# static busybox's wget crashes on name service lookups in a container without NSS modules)
get() { sx "$1" "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $2 $3 | tail -n 1"; }

# --- the host and the internet --------------------------------------------------------------
ip netns add "$NS_H" && ip netns add "$NS_I" || { fail "create namespaces"; exit 1; }
# the uplink veth is made inside the host namespace, its peer moved straight to the internet
inh ip link add up0 type veth peer name eth0 netns "$NS_I"
inh ip link set lo up
inh ip addr add 203.0.113.1/24 dev up0
inh ip link set up0 up
inh ip route add default via 203.0.113.2
# a management address servers must never reach
inh ip link add mgmt0 type bridge
inh ip addr add 192.0.2.1/32 dev mgmt0
inh ip link set mgmt0 up
ini ip link set lo up
ini ip addr add 203.0.113.2/24 dev eth0
ini ip addr add 198.51.100.1/32 dev lo
ini ip link set eth0 up
# the internet counts what reaches it from the host's public address (masquerade)
ini nft -f - <<'EOF'
table inet probe {
	counter from_public {}
	chain input { type filter hook input priority 0; ip saddr 203.0.113.1 tcp dport 8000 counter name from_public; }
}
EOF
mkdir -p "$T/www-internet" && echo internet-ok >"$T/www-internet/index.html"
ini busybox httpd -p 198.51.100.1:8000 -h "$T/www-internet"

# carved runs inside the host namespace (nsenter execs it: the pid stays carved's)
cat >"$T/carved-ns" <<EOF
#!/bin/sh
exec nsenter --net=/run/netns/$NS_H "$REAL_CARVED" "\$@"
EOF
chmod +x "$T/carved-ns"
CARVED="$T/carved-ns"

# --- networking disabled without an uplink ---------------------------------------------------
start_carved --listen "0.0.0.0:$PORT" || exit 1
api POST /networks '{"name":"lan","tenant":"acme"}'
expect_eq "without --uplink networking answers 503" "$STATUS" 503
expect_match "the error names --uplink" "$(jf .error.message)" "uplink"
check "carved without networking stops cleanly" stop_carved

NETFLAGS=(--listen "0.0.0.0:$PORT" --uplink up0 --network-range 10.77.0.0/16 --max-ports 3
	--net-prefix "$NP")
start_carved "${NETFLAGS[@]}" || exit 1

mk_tenant acme
mk_tenant globex
mk_user alice owner acme pw-alice-123456
mk_user gina owner globex pw-gina-1234567
TA=$(login alice pw-alice-123456)
TG=$(login gina pw-gina-1234567)

# --- networks ----------------------------------------------------------------------------------
api POST /networks '{"name":"lan"}' "$TA"
expect_eq "a tenant creates a network" "$STATUS" 201
expect_eq "its subnet comes from the provider range" "$(jf .subnet)" 10.77.0.0/24
expect_eq "the gateway is the first address" "$(jf .gateway)" 10.77.0.1
LAN_BR=$(jf .bridge)
api POST /networks '{"name":"lan"}' "$TA"
expect_eq "a second network of the same name: 409" "$STATUS" 409
api POST /networks '{"name":"gnet","subnet":"10.77.0.0/25"}' "$TG"
expect_eq "an overlapping subnet: 409" "$STATUS/$(jf .error.field)" 409/subnet
api POST /networks '{"name":"gnet","subnet":"10.1.2.3/24"}' "$TG"
expect_eq "a subnet with host bits: 400 naming the field" "$STATUS/$(jf .error.field)" 400/subnet
api POST /networks '{"name":"gnet","subnet":"10.99.0.0/24"}' "$TG"
expect_eq "a given subnet" "$STATUS/$(jf .subnet)" 201/10.99.0.0/24
G_BR=$(jf .bridge)
api GET /networks/lan "" "$TG"
expect_eq "another tenant's network is a 404" "$STATUS" 404
expect_eq "carve network list --json" "$("$CARVE" network list --tenant acme --json | jq -r '.[0].subnet')" 10.77.0.0/24
api GET /networks "" "$TG"
expect_eq "a tenant lists only its own networks" "$(jf '[.[].name] | join(",")')" gnet
check "a bridge per network in the host namespace" inh ip link show "$LAN_BR"
check "a dnsmasq per network" test -n "$(api GET /networks/lan; jf .dnsmasq_pid | grep -v null)"

# --- servers with interfaces -------------------------------------------------------------------
mk_srv() { # NAME TOKEN NETWORKS-JSON
	api POST /servers "{\"name\":\"$1\",\"template\":\"busybox\",\"memory\":\"128M\",\"networks\":$3}" "$2"
	[ "$STATUS" = 202 ] || { fail "create server $1: $STATUS $BODY"; return 1; }
	[ "$(wait_task "$(jf .task.id)" "$2")" = succeeded ] || fail "create $1 task: $BODY"
}
api POST /servers '{"name":"bad","template":"busybox","networks":[{"network":"gnet"}]}' "$TA"
expect_eq "another tenant's network on a server: 404" "$STATUS/$(jf .error.field)" 404/networks
api POST /servers '{"name":"bad","template":"busybox","networks":[{"network":"lan","ip":"10.9.9.9"}]}' "$TA"
expect_eq "an address outside the subnet: 400" "$STATUS/$(jf .error.field)" 400/ip
mk_srv web "$TA" '[{"network":"lan","ip":"10.77.0.10"}]'
"$CARVE" server create db --template busybox --memory 128M --network lan,dhcp --tenant acme >/dev/null
expect_eq "carve server create --network NET,dhcp" "$?" 0
mk_srv evil "$TG" '[{"network":"gnet","dhcp":true}]'
mk_srv victim "$TG" '[{"network":"gnet","dhcp":true}]'
api GET /servers/db "" "$TA"
DB_IP=$(jf '.interfaces[0].address')
expect_eq "interfaces are shown on the server with a carve MAC" \
	"$(jf '.interfaces[0].mode')/$(jf '.interfaces[0].mac' | cut -c1-3)" dhcp/02:
api POST /servers/web/interfaces '{"network":"lan","ip":"10.77.0.10"}' "$TA"
expect_eq "an address in use: 409" "$STATUS/$(jf .error.field)" 409/ip
for s in web db; do server_do "$s" start "" "$TA"; done
for s in evil victim; do server_do "$s" start "" "$TG"; done
api POST /servers/web/interfaces '{"network":"lan"}' "$TA"
expect_eq "attaching to a running server: 409 naming the state" "$STATUS" 409
expect_match "  ... naming it" "$(jf .error.message)" "running"

WEB_PID=$(server_field web .init_pid acme)
check "web's eth0 is in its own network namespace with its address" \
	sh -c "nsenter -t $WEB_PID -n ip -4 addr show eth0 | grep -q 10.77.0.10/24"
EVIL_IP=$(server_field evil '.interfaces[0].address' globex)

# --- a web site reached from the internet through a published port ----------------------------
sx web 'mkdir -p /www && echo hello-from-acme >/www/index.html && httpd -p 80 -h /www'
"$CARVE" port publish web 80 --public 8080 --tenant acme >/dev/null
expect_eq "carve port publish" "$?" 0
got=$(ini curl -s -m 5 http://203.0.113.1:8080/)
expect_eq "the internet reaches the site through the public address" "$got" hello-from-acme
api POST /servers/evil/ports '{"port":80,"public_port":8080}' "$TG"
expect_eq "another tenant publishing the same public port: 409" "$STATUS/$(jf .error.field)" 409/public_port
api POST /servers/evil/ports "{\"port\":80,\"public_port\":$PORT}" "$TG"
expect_eq "publishing the API port: 409" "$STATUS" 409
api POST /servers/evil/ports '{"port":70000}' "$TG"
expect_eq "a bad port: 400 naming it" "$STATUS/$(jf .error.field)" 400/port
for p in 9001 9002 9003 9004; do api POST /servers/evil/ports "{\"port\":$p}" "$TG"; done
expect_eq "past the tenant's published-port limit: refused naming the quota" "$STATUS" 507
expect_match "  ... naming it" "$(jf .error.message)" "quota"
expect_eq "carve port list --json" "$("$CARVE" port list --tenant acme --json | jq -r '.[0].public_port')" 8080
api GET /ports "" "$TG"
expect_eq "a tenant lists only its own ports" "$(jf length)" 3
# the provider sets a tenant's own cap; null goes back to carved's default
ptenant=$(api GET /servers/evil "" "$TG"; jf .tenant)
api PATCH "/tenants/$ptenant" '{"max_ports":4}'
expect_eq "the provider raises one tenant's port cap" "$STATUS/$(jf .caps.max_ports)" 200/4
api POST /servers/evil/ports '{"port":9005}' "$TG"
expect_eq "one more port fits under the raised cap" "$STATUS" 201
api POST /servers/evil/ports '{"port":9006}' "$TG"
expect_eq "and the next one does not" "$STATUS" 507
api PATCH "/tenants/$ptenant" '{"max_ports":-2}'
expect_eq "a bad max_ports is a 400 naming it" "$STATUS/$(jf .error.field)" 400/max_ports
api PATCH "/tenants/$ptenant" '{"max_ports":null}'
expect_eq "null restores carved's --max-ports" "$(jf .caps.max_ports)" 3
api PATCH "/tenants/$ptenant" '{"max_ports":9}' "$TG"
expect_eq "a tenant cannot raise its own cap" "$STATUS" 403
api DELETE "/servers/evil/ports/9005" "" "$TG"

# --- inside the network: DHCP lease and DNS names of the tenant's servers ----------------------
cat >"$T/dhcp.sh" <<'EOF'
#!/bin/sh
case "$1" in
bound|renew)
	ifconfig "$interface" "$ip" netmask "$subnet" up
	[ -n "$router" ] && ip route replace default via "$router"
	echo "nameserver $dns" >/etc/resolv.conf
	echo "$ip $router $dns" >/tmp/lease ;;
esac
EOF
lease() { # SERVER
	"$CARVE" exec "$1" -- sh -c 'cat >/tmp/dhcp.sh && chmod +x /tmp/dhcp.sh' <"$T/dhcp.sh"
	sx "$1" 'udhcpc -i eth0 -n -q -f -t 4 -T 1 -s /tmp/dhcp.sh >/dev/null 2>&1; cat /tmp/lease'
}
expect_eq "db gets its lease from the network's dnsmasq" "$(lease db)" "$DB_IP 10.77.0.1 10.77.0.1"
got=$(sx db 'nslookup web 10.77.0.1 2>&1')
expect_match "db resolves web by name" "$got" "10\.77\.0\.10"
got=$(sx db 'nslookup evil 10.77.0.1 2>&1')
expect_match "another tenant's server has no name here" "$got" "NXDOMAIN|can't resolve|server can't find"
expect_eq "db reaches web over the network" "$(get db 10.77.0.10 80)" hello-from-acme

# --- masquerade, and the host is out of reach ------------------------------------------------
expect_eq "a server reaches the internet" "$(get web 198.51.100.1 8000)" internet-ok
check "  ... from the host's public address (masquerade)" \
	test "$(ini nft -j list counter inet probe from_public | jq '.nftables[1].counter.packets')" -gt 0
expect_eq "carved's API answers on the host's public address" \
	"$(inh curl -s -o /dev/null -w '%{http_code}' "http://203.0.113.1:$PORT/api/v1/whoami")" 401
check "a server cannot reach the API port" not sx web "nc -w 2 10.77.0.1 $PORT </dev/null"
check "  ... nor on the public address" not sx web "nc -w 2 203.0.113.1 $PORT </dev/null"
check "  ... nor a management address" not sx web 'ping -c 1 -W 1 192.0.2.1'
check "the gateway answers ping (same network traffic works)" sx web 'ping -c 1 -W 2 10.77.0.1'

# --- isolation between tenants, with the counters rising --------------------------------------
# evil configures its own interface (DHCP), so it holds CAP_NET_ADMIN in its netns and can try
expect_eq "evil gets its lease" "$(lease evil)" "$EVIL_IP 10.99.0.1 10.99.0.1"
dropped() { api GET "/networks/$1" "" "$2"; jf .dropped_packets; }
spoofed() { api GET "/servers/$1/interfaces" "" "$2"; jf '.[0].counters.spoofed_packets'; }
d0=$(dropped gnet "$TG")
check "ICMP from another tenant is dropped" not sx evil 'ping -c 2 -W 1 10.77.0.10'
d1=$(dropped gnet "$TG")
check "  ... and counted" test "$d1" -gt "$d0"
check "TCP from another tenant is dropped" not sx evil 'nc -w 2 10.77.0.10 80 </dev/null'
d2=$(dropped gnet "$TG")
check "  ... and counted" test "$d2" -gt "$d1"
# UDP: a DNS query to a server of the other tenant (web runs no DNS server, but a reply
# would be an ICMP port unreachable; a dropped query just times out)
got=$(sx evil 'nslookup web 10.77.0.10 2>&1')
d3=$(dropped gnet "$TG")
check "UDP from another tenant is dropped and counted" test "$d3" -gt "$d2"
expect_match "  ... and gets no answer at all" "$got" "timed out|no servers"
s0=$(spoofed evil "$TG")
check "IP spoofing (web's address as source) gets nothing" \
	not sx evil 'ip addr add 10.77.0.10/32 dev eth0 && ping -c 2 -W 1 -I 10.77.0.10 10.99.0.1'
s1=$(spoofed evil "$TG")
check "  ... and the port's spoof counter rises" test "$s1" -gt "$s0"
sx evil 'ip addr del 10.77.0.10/32 dev eth0'
sx evil 'arping -U -c 2 -I eth0 -s 10.99.0.77 10.99.0.1 >/dev/null 2>&1; ip addr add 10.99.0.77/24 dev eth0; arping -c 2 -w 2 -I eth0 -s 10.99.0.77 10.99.0.1 >/dev/null 2>&1; ip addr del 10.99.0.77/24 dev eth0'
s2=$(spoofed evil "$TG")
check "ARP spoofing (another address) is dropped and counted" test "$s2" -gt "$s1"
check "MAC spoofing gets nothing" \
	not sx evil 'ip link set eth0 address 02:66:66:66:66:66 && ping -c 2 -W 1 10.99.0.1'
sx evil "ip link set eth0 address $(server_field evil '.interfaces[0].mac' globex)"
s3=$(spoofed evil "$TG")
check "  ... and counted" test "$s3" -gt "$s2"
# a rogue DHCP server in evil: victim, on the same network, still gets carve's lease
sx evil 'printf "start 10.99.0.200\nend 10.99.0.210\ninterface eth0\nlease_file /tmp/udhcpd.leases\noption router 10.99.0.66\n" >/tmp/udhcpd.conf; touch /tmp/udhcpd.leases; setsid udhcpd -f -vv -a 100 /tmp/udhcpd.conf >/tmp/udhcpd.log 2>&1 </dev/null &'
VICTIM_IP=$(server_field victim '.interfaces[0].address' globex)
sleep 0.5
for _ in 1 2; do got=$(lease victim); done
sleep 1
expect_eq "a rogue DHCP server next door: the victim still gets carve's lease" "$got" \
	"$VICTIM_IP 10.99.0.1 10.99.0.1"
s4=$(spoofed evil "$TG")
expect_match "  ... the rogue did offer" "$(sx evil 'cat /tmp/udhcpd.log')" "sending OFFER"
check "  ... and its offers are dropped at evil's port and counted" test "$s4" -gt "$s3"
# a router advertisement from evil (ICMPv6 type 134, hop limit 255, to all nodes): dropped at its
# port. Sent from the host inside evil's network namespace: busybox has no tool for it.
cat >"$T/ra.py" <<'PYRA'
import socket, struct, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("eth0"))
ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
for _ in range(3):
    s.sendto(ra, ("ff02::1", 0, 0, socket.if_nametoindex("eth0")))
print("sent")
PYRA
evil_pid=$(server_field evil .init_pid globex)
expect_eq "evil sends router advertisements" \
	"$(nsenter --net=/proc/$evil_pid/ns/net python3 "$T/ra.py" 2>&1)" sent
sleep 0.3
s5=$(spoofed evil "$TG")
check "  ... which are dropped at its port and counted" test "$s5" -ge $((s4 + 3))
check "same-network traffic works (victim pings evil)" sx victim "ping -c 1 -W 2 $EVIL_IP"

# --- a VM's interface: a tap owned by its QEMU uid on the network's bridge -----------------------
VM_TAP=""
if [ -n "$HAVE_VM" ]; then
	api POST /servers '{"name":"vm1","template":"busybox-vm","kind":"vm","networks":[{"network":"lan"}]}' "$TA"
	[ "$STATUS" = 202 ] && [ "$(wait_task "$(jf .task.id)" "$TA")" = succeeded ] || fail "create vm1: $BODY"
	api GET /servers/vm1/interfaces "" "$TA"
	VM_TAP=$(jf '.[0].host_interface')
	VM_MAC=$(jf '.[0].mac')
	expect_match "a VM's interface is a tap" "$VM_TAP" "^${NP}t[0-9]+$"
	server_do vm1 start "" "$TA"
	expect_eq "  ... owned by the VM's own QEMU uid" \
		"$(inh cat "/sys/class/net/$VM_TAP/owner")" "$(server_field vm1 .vm_uid acme)"
	check "  ... on the network's bridge" sh -c "ip netns exec $NS_H ip -o link show $VM_TAP | grep -q 'master $LAN_BR'"
	qpid=$(server_field vm1 .init_pid acme)
	expect_match "  ... given to QEMU with the guest's MAC" "$(tr '\0' ' ' <"/proc/$qpid/cmdline")" \
		"-netdev tap,id=net0,fd=[0-9]+ -device virtio-net-pci,netdev=net0,mac=$VM_MAC"
	check "  ... and QEMU holds it (carrier)" sh -c "ip netns exec $NS_H ip -o link show $VM_TAP | grep -q LOWER_UP"
	# a microvm's interface is the same tap, on virtio-mmio
	api POST /servers '{"name":"vm2","template":"busybox-vm","kind":"vm","machine":"microvm","memory":"128M","networks":[{"network":"lan"}]}' "$TA"
	[ "$STATUS" = 202 ] && [ "$(wait_task "$(jf .task.id)" "$TA")" = succeeded ] || fail "create vm2: $BODY"
	api GET /servers/vm2/interfaces "" "$TA"
	VM2_TAP=$(jf '.[0].host_interface')
	VM2_MAC=$(jf '.[0].mac')
	server_do vm2 start "" "$TA"
	q2=$(server_field vm2 .init_pid acme)
	expect_match "a microvm's tap is given to QEMU as a virtio-mmio NIC" \
		"$(tr '\0' ' ' <"/proc/$q2/cmdline")" \
		"-netdev tap,id=net0,fd=[0-9]+ -device virtio-net-device,netdev=net0,mac=$VM2_MAC"
	check "  ... and QEMU holds it (carrier)" sh -c "ip netns exec $NS_H ip -o link show $VM2_TAP | grep -q LOWER_UP"
	server_do vm2 stop "" "$TA"
	api DELETE /servers/vm2 "" "$TA"
	wait_task "$(jf .task.id)" "$TA" >/dev/null
	check "  ... and deleting it removes its tap" not inh ip link show "$VM2_TAP"
else
	log "skip: VM interfaces (no qemu-system-x86_64 or no VM assets in $CARVE_VM_ASSETS)"
fi

# --- counters and bandwidth ---------------------------------------------------------------------
api GET /servers/web/interfaces "" "$TA"
check "per-interface byte counters" test "$(jf '.[0].counters.in_bytes')" -gt 0 -a "$(jf '.[0].counters.out_packets')" -gt 0
WEB_IF=$(jf '.[0].host_interface')
"$CARVE" server set web --bandwidth 8M --tenant acme >/dev/null
expect_eq "carve server set --bandwidth" "$?" 0
check "  ... a tbf qdisc limits what the server receives" sh -c "ip netns exec $NS_H tc qdisc show dev $WEB_IF | grep -q tbf"
check "  ... and nftables what it sends" sh -c "ip netns exec $NS_H nft list table bridge $NP | grep -q 'limit rate over 1000000 bytes/second'"
expect_eq "  ... shown on the server" "$(server_field web .bandwidth acme)" 8000000
api PATCH /servers/web '{"bandwidth":"lots"}' "$TA"
expect_eq "a bad bandwidth: 400 naming it" "$STATUS/$(jf .error.field)" 400/bandwidth

# --- kill -9 of carved, damage, restart: the host matches the database again ------------------
kill -9 "$CARVED_PID"
wait "$CARVED_PID" 2>/dev/null
CARVED_PID=""
inh ip link del "$WEB_IF"                      # the web container loses its interface
kill -9 "$(cat "$T/run/net/$LAN_BR/pid")"       # lan's dnsmasq dies
inh nft delete table inet "$NP"                 # the firewall is flushed
inh ip link add "${NP}b99999" type bridge       # a stray bridge
start_carved "${NETFLAGS[@]}" || exit 1
check "after restart: the running container has its interface back" \
	sh -c "nsenter -t $WEB_PID -n ip -4 addr show eth0 | grep -q 10.77.0.10/24"
expect_eq "  ... the published site answers again" "$(ini curl -s -m 5 http://203.0.113.1:8080/)" hello-from-acme
check "  ... lan's dnsmasq runs again" test "$(dropped lan "$TA"; api GET /networks/lan "" "$TA"; jf .dnsmasq_pid)" != null
check "  ... the stray bridge is gone" not inh ip link show "${NP}b99999"
check "  ... isolation holds again" not sx evil 'ping -c 1 -W 1 10.77.0.10'
check "  ... the bandwidth limit is back" sh -c "ip netns exec $NS_H tc qdisc show dev $WEB_IF | grep -q tbf"
if [ -n "$VM_TAP" ]; then
	check "  ... the VM's tap is still there" inh ip link show "$VM_TAP"
	server_do vm1 stop "" "$TA"
	api DELETE /servers/vm1 "" "$TA"
	wait_task "$(jf .task.id)" "$TA" >/dev/null
	check "deleting the VM removes its tap" not inh ip link show "$VM_TAP"
fi

# --- deleting servers and networks leaves nothing behind -------------------------------------
api DELETE /networks/lan "" "$TA"
expect_eq "deleting a network in use: 409" "$STATUS" 409
expect_eq "carve port remove" "$("$CARVE" port remove web 8080 --tenant acme >/dev/null; echo $?)" 0
check "  ... the site is no longer published" not ini curl -s -m 2 http://203.0.113.1:8080/
for s in web db; do server_do "$s" stop "" "$TA"; done
for s in evil victim; do server_do "$s" stop "" "$TG"; done
api DELETE /servers/db/interfaces/eth0 "" "$TA"
expect_eq "detaching an interface of a stopped server" "$STATUS" 200
for s in web db; do api DELETE /servers/$s "" "$TA"; wait_task "$(jf .task.id)" "$TA" >/dev/null; done
for s in evil victim; do api DELETE /servers/$s "" "$TG"; wait_task "$(jf .task.id)" "$TG" >/dev/null; done
expect_eq "carve network delete" "$("$CARVE" network delete lan --tenant acme >/dev/null; echo $?)" 0
api DELETE /networks/gnet "" "$TG"
expect_eq "the other network too" "$STATUS" 200
expect_eq "no link of ours is left" "$(inh ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$NP" | tr '\n' ' ')" ""
expect_eq "no dnsmasq is left" "$(pgrep -f "dnsmasq.*$T/run/net" | tr '\n' ' ')" ""
expect_eq "no rule names a bridge or port of ours" \
	"$(inh nft list ruleset | grep -cE "\"$NP[bvt][0-9]+\"")" 0
check "carved stops cleanly (no sanitizer report)" stop_carved
check "  ... and logged no sanitizer error" not grep -qE "Sanitizer|runtime error" "$T/carved.log"

finish

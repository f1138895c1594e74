/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The net module end to end, inside namespaces this test creates (root; 77 otherwise): a "host"
 * netns with an uplink veth to an "internet" netns, a management dummy address and an API port;
 * two tenant networks; three "containers" (plain netns). Nothing outside them is touched, and
 * everything is removed in the group teardown even when an assertion fails.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "net/net.h"

static char ns_h[64], ns_i[64], ns_c[3][64], tmpdir[128], run_dir[192];
static int fd_h = -EBADF, fd_c[3] = {-EBADF, -EBADF, -EBADF};
static struct net_host host;
static const char *mgmt[] = {"192.0.2.1/32"};
static struct net_network nets[2];
static struct net_iface ifaces[3];
static struct net_publish pubs[1];
static struct net_state state;
static char ifn[3][IFNAMSIZ], brn[2][IFNAMSIZ];

_printf_(1, 2) static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int r = system(cmd);
	return r < 0 ? -errno : WIFEXITED(r) ? WEXITSTATUS(r) : 128;
}

/* Start a background process in a namespace; its pid goes to tmpdir/pids for teardown. */
_printf_(2, 3) static void bg(const char *ns, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(
		sh("ip netns exec %s %s >/dev/null 2>&1 & echo $! >> %s/pids", ns, cmd, tmpdir), 0);
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static uint64_t counter(const char *name)
{
	struct net_counter *v = NULL;
	size_t n = 0;
	struct carve_error err = CARVE_ERROR_INIT;
	int r = net_counters_read(&host, &v, &n, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	uint64_t p = UINT64_MAX;
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].name, name))
			p = v[i].packets;
	free(v);
	if (p == UINT64_MAX)
		fail_msg("no counter '%s'", name);
	return p;
}

static void check(int r, struct carve_error *err)
{
	if (r < 0)
		fail_msg("%s (%d)", err->msg, r);
}

static int setup(void **state_)
{
	if (geteuid() != 0)
		return -1;
	pid_t pid = getpid();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/carve-t-net-%d", pid);
	snprintf(run_dir, sizeof(run_dir), "%s/run", tmpdir);
	if (mkdir_p(run_dir, 0755) < 0)
		return -1;
	snprintf(ns_h, sizeof(ns_h), "carve-t-%d-h", pid);
	snprintf(ns_i, sizeof(ns_i), "carve-t-%d-i", pid);
	for (int k = 0; k < 3; k++)
		snprintf(ns_c[k], sizeof(ns_c[k]), "carve-t-%d-c%d", pid, k + 1);
	if (sh("ip netns add %s && ip netns add %s && ip netns add %s && ip netns add %s && "
	       "ip netns add %s",
	       ns_h, ns_i, ns_c[0], ns_c[1], ns_c[2]) != 0)
		return -1;
	if (sh("ip link add up0 netns %s type veth peer name wan0 netns %s && "
	       "ip -n %s addr add 203.0.113.1/24 dev up0 && ip -n %s link set up0 up && "
	       "ip -n %s link set lo up && ip -n %s addr add 203.0.113.2/24 dev wan0 && "
	       "ip -n %s link set wan0 up && ip -n %s link set lo up && "
	       "ip -n %s link add mgmt0 type veth peer name mgmt1 && ip -n %s link set mgmt1 up && "
	       "ip -n %s addr add 192.0.2.1/32 dev mgmt0 && ip -n %s link set mgmt0 up",
	       ns_h, ns_i, ns_h, ns_h, ns_h, ns_i, ns_i, ns_i, ns_h, ns_h, ns_h, ns_h) != 0)
		return -1;
	char p[128];
	snprintf(p, sizeof(p), "/run/netns/%s", ns_h);
	fd_h = open(p, O_RDONLY | O_CLOEXEC);
	for (int k = 0; k < 3; k++) {
		snprintf(p, sizeof(p), "/run/netns/%s", ns_c[k]);
		fd_c[k] = open(p, O_RDONLY | O_CLOEXEC);
		if (fd_c[k] < 0)
			return -1;
	}
	if (fd_h < 0)
		return -1;

	host = (struct net_host){.netns_fd = fd_h,
				 .uplink = "up0",
				 .mgmt_addrs = mgmt,
				 .n_mgmt_addrs = 1,
				 .api_port = 8006,
				 .run_dir = run_dir};
	snprintf(host.prefix, sizeof(host.prefix), "t%x", (unsigned)pid & 0xfffff);
	assert_int_equal(net_addr_parse("203.0.113.1", &host.uplink_addr), 0);

	nets[0] = (struct net_network){.id = 1, .name = "a-net", .domain = "a.test"};
	nets[1] = (struct net_network){.id = 2, .name = "b-net", .domain = "b.test"};
	assert_int_equal(net_subnet_parse("10.77.1.0/24", &nets[0].subnet, NULL), 0);
	assert_int_equal(net_subnet_parse("10.77.2.0/24", &nets[1].subnet, NULL), 0);
	static const char *const names[] = {"web", "db", "evil"};
	static const char *const addrs[] = {"10.77.1.10", "10.77.1.11", "10.77.2.10"};
	for (int k = 0; k < 3; k++) {
		ifaces[k] = (struct net_iface){.id = (uint32_t)k + 1,
					       .network_id = k < 2 ? 1 : 2,
					       .kind = NET_IFACE_VETH,
					       .hostname = names[k],
					       .dhcp = k == 1};
		net_mac_from_id(names[k], 0, ifaces[k].mac);
		assert_int_equal(net_addr_parse(addrs[k], &ifaces[k].addr), 0);
		assert_int_equal(net_iface_name(&host, &ifaces[k], ifn[k]), 0);
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(net_bridge_name(&host, nets[k].id, brn[k]), 0);
	pubs[0] = (struct net_publish){.proto = NET_PROTO_TCP,
				       .public_port = 8080,
				       .addr = ifaces[0].addr,
				       .port = 80,
				       .owner = "web"};
	state = (struct net_state){nets, 2, ifaces, 3, pubs, 1};
	return 0;
}

static int teardown(void **state_)
{
	if (getenv("CARVE_TEST_KEEP")) {
		fprintf(stderr, "kept: namespaces %s..., prefix %s, %s\n", ns_h, host.prefix,
			tmpdir);
		return 0;
	}
	if (tmpdir[0]) {
		sh("[ -f %s/pids ] && for p in $(cat %s/pids); do kill -9 $p 2>/dev/null; done",
		   tmpdir, tmpdir);
		if (fd_h >= 0) {
			struct carve_error err = CARVE_ERROR_INIT;
			(void)net_teardown(&host, &err);
		}
	}
	fd_h = safe_close(fd_h);
	for (int k = 0; k < 3; k++)
		fd_c[k] = safe_close(fd_c[k]);
	/* Whatever still runs in our namespaces (dnsmasq if teardown failed). */
	const char *all[] = {ns_h, ns_i, ns_c[0], ns_c[1], ns_c[2]};
	for (size_t k = 0; k < ELEMENTSOF(all); k++)
		if (all[k][0]) {
			sh("for p in $(ip netns pids %s 2>/dev/null); do kill -9 $p; done", all[k]);
			sh("ip netns del %s 2>/dev/null", all[k]);
		}
	if (tmpdir[0])
		rm_rf(tmpdir);
	return 0;
}

#define IN(k, cmd, ...) sh("ip netns exec %s " cmd " >/dev/null 2>&1", ns_c[k], ##__VA_ARGS__)

static void test_network(void **state_)
{
	struct carve_error err = CARVE_ERROR_INIT;
	check(net_reconcile(&host, &state, &err), &err);
	for (int k = 0; k < 3; k++)
		check(net_veth_add(&host, &nets[k < 2 ? 0 : 1], &ifaces[k], fd_c[k], NULL, &err),
		      &err);
	pid_t pid;
	assert_int_equal(net_dnsmasq_pid(&host, 1, &pid), 0);
	assert_int_equal(net_dnsmasq_pid(&host, 2, &pid), 0);

	/* A web site in tenant A's container, reached from the internet through 8080. */
	assert_int_equal(
		sh("mkdir -p %s/www && echo hello-carve > %s/www/index.html", tmpdir, tmpdir), 0);
	bg(ns_c[0], "busybox httpd -f -p 80 -h %s/www", tmpdir);
	assert_int_equal(
		sh("ip netns exec %s busybox timeout 3 busybox wget -q -O - http://203.0.113.1:8080/ "
		   "| grep -q hello-carve",
		   ns_i),
		0);
	/* The host's API port and management address, served on every host address. */
	assert_int_equal(sh("mkdir -p %s/api && echo api > %s/api/index.html", tmpdir, tmpdir), 0);
	bg(ns_h, "busybox httpd -f -p 8006 -h %s/api", tmpdir);
	assert_int_equal(sh("ip netns exec %s busybox timeout 3 busybox wget -q -O /dev/null "
			    "http://203.0.113.1:8006/",
			    ns_i),
			 0);

	/* DHCP lease from dnsmasq in c2, and the names of the tenant's servers. */
	assert_int_equal(sh("printf '#!/bin/sh\\ncase \"$1\" in bound|renew) busybox ip addr add "
			    "$ip/$mask dev $interface; busybox ip route add default via $router; "
			    "echo \"$ip $serverid\" > %s/lease;; esac\\n' > %s/udhcpc.sh && "
			    "chmod +x %s/udhcpc.sh",
			    tmpdir, tmpdir, tmpdir),
			 0);
	assert_int_equal(IN(1, "busybox udhcpc -i eth0 -n -q -t 5 -T 1 -s %s/udhcpc.sh", tmpdir),
			 0);
	assert_int_equal(sh("grep -qx '10.77.1.11 10.77.1.1' %s/lease", tmpdir), 0);
	assert_int_equal(sh("ip netns exec %s busybox nslookup web.a.test 10.77.1.1 | "
			    "grep -q 10.77.1.10",
			    ns_c[1]),
			 0);
	/* Another tenant's names are unknown here. */
	assert_int_not_equal(sh("ip netns exec %s busybox nslookup evil.b.test 10.77.1.1 2>&1 | "
				"grep -q 10.77.2.10",
				ns_c[1]),
			     0);

	/* Same network works; masquerade to the internet works. */
	assert_int_equal(IN(1, "busybox ping -c 1 -W 2 10.77.1.10"), 0);
	assert_int_equal(IN(1, "busybox timeout 3 busybox wget -q -O /dev/null http://10.77.1.10/"),
			 0);
	assert_int_equal(IN(0, "busybox ping -c 1 -W 2 203.0.113.2"), 0);

	/* Cross-tenant ICMP, TCP, UDP: dropped, and the isolation counter sees them. */
	char dA[80];
	snprintf(dA, sizeof(dA), "drop_%s", brn[0]);
	uint64_t before = counter(dA);
	assert_int_not_equal(IN(2, "busybox ping -c 2 -W 1 10.77.1.10"), 0);
	assert_int_not_equal(
		IN(2, "busybox timeout 2 busybox wget -q -O /dev/null http://10.77.1.10/"), 0);
	bg(ns_c[0],
	   "/usr/bin/python3 -c \"import socket;s=socket.socket(2,2);"
	   "s.bind(('0.0.0.0',5353));d=s.recv(100);open('%s/udp','wb').write(d)\"",
	   tmpdir);
	IN(2, "/usr/bin/python3 -c \"import socket;s=socket.socket(2,2);"
	      "[s.sendto(b'x',('10.77.1.10',5353)) for i in range(3)]\"");
	IN(1, "/usr/bin/python3 -c \"import socket;s=socket.socket(2,2);"
	      "s.sendto(b'same',('10.77.1.10',5353))\"");
	sleep(1);
	/* The receiver got the same-network datagram and not the cross-tenant ones. */
	assert_int_equal(sh("grep -qx same %s/udp", tmpdir), 0);
	assert_true(counter(dA) >= before + 2 + 1 + 3);

	/* The host's management address and API port are out of reach. */
	char dB[80];
	snprintf(dB, sizeof(dB), "drop_%s", brn[1]);
	before = counter(dB);
	assert_int_not_equal(
		IN(2, "busybox timeout 2 busybox wget -q -O /dev/null http://192.0.2.1:8006/"), 0);
	assert_int_not_equal(
		IN(2, "busybox timeout 2 busybox wget -q -O /dev/null http://10.77.2.1:8006/"), 0);
	assert_int_not_equal(
		IN(0, "busybox timeout 2 busybox wget -q -O /dev/null http://203.0.113.1:8006/"),
		0);
	assert_true(counter(dB) > before);

	/* Spoofing: another IP, another MAC, ARP for another IP. */
	char sp[3][80];
	for (int k = 0; k < 3; k++)
		snprintf(sp[k], sizeof(sp[k]), "spoof_%s", ifn[k]);
	before = counter(sp[1]);
	assert_int_equal(IN(1, "ip addr add 10.77.1.50/24 dev eth0"), 0);
	/* (its ARP requests carry the spoofed sender address and are the first to go) */
	assert_int_not_equal(IN(1, "busybox ping -c 2 -W 1 -I 10.77.1.50 10.77.1.10"), 0);
	assert_int_equal(IN(1, "ip addr del 10.77.1.50/24 dev eth0"), 0);
	uint64_t mid = counter(sp[1]);
	assert_true(mid > before);
	/* Three ARP replies claiming c1's address, from c2's own MAC (a raw socket). */
	assert_int_equal(IN(1,
			    "/usr/bin/python3 -c \"import socket,struct;"
			    "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);s.bind(('eth0',0));"
			    "m=s.getsockname()[4];ip=socket.inet_aton('10.77.1.10');"
			    "f=b'\\xff'*6+m+b'\\x08\\x06'+struct.pack('!HHBBH',1,0x800,6,4,2)"
			    "+m+ip+b'\\xff'*6+ip;[s.send(f) for i in range(3)]\""),
			 0);
	assert_true(counter(sp[1]) >= mid + 3);
	before = counter(sp[0]);
	assert_int_equal(IN(0, "ip link set eth0 address 02:00:00:00:00:99"), 0);
	assert_int_not_equal(IN(0, "busybox ping -c 2 -W 1 10.77.1.11"), 0);
	char mac[NET_MAC_STRLEN];
	net_mac_format(ifaces[0].mac, mac);
	assert_int_equal(IN(0, "ip link set eth0 address %s", mac), 0);
	assert_true(counter(sp[0]) >= before + 2);
	assert_int_equal(IN(1, "busybox ping -c 1 -W 2 10.77.1.10"), 0);

	/* A rogue DHCP server in c1, with dnsmasq stopped: c2 gets no lease. */
	check(net_dnsmasq_stop(&host, 1, &err), &err);
	assert_int_equal(sh("printf 'interface eth0\\nstart 10.77.1.100\\nend 10.77.1.110\\n"
			    "lease_file %s/rogue.leases\\noption router 10.77.1.10\\n' > "
			    "%s/udhcpd.conf && touch %s/rogue.leases",
			    tmpdir, tmpdir, tmpdir),
			 0);
	bg(ns_c[0], "busybox udhcpd -f %s/udhcpd.conf", tmpdir);
	before = counter(sp[0]);
	assert_int_equal(IN(1, "ip addr flush dev eth0"), 0);
	assert_int_not_equal(
		IN(1, "busybox udhcpc -i eth0 -n -q -t 3 -T 1 -s %s/udhcpc.sh", tmpdir), 0);
	assert_true(counter(sp[0]) > before);
	check(net_dnsmasq_write(&host, &nets[0], ifaces, 3, &err), &err);
	check(net_dnsmasq_start(&host, &nets[0], &err), &err);
	sh("kill $(tail -n 1 %s/pids)", tmpdir);
	assert_int_equal(IN(1, "busybox udhcpc -i eth0 -n -q -t 5 -T 1 -s %s/udhcpc.sh", tmpdir),
			 0);

	/* Per-interface counters rise with traffic both ways. */
	struct net_iface_stats s0, s1;
	check(net_iface_stats(&host, ifn[0], &s0, &err), &err);
	assert_int_equal(sh("ip netns exec %s busybox timeout 3 busybox wget -q -O /dev/null "
			    "http://203.0.113.1:8080/",
			    ns_i),
			 0);
	check(net_iface_stats(&host, ifn[0], &s1, &err), &err);
	assert_true(s1.in_packets > s0.in_packets && s1.out_packets > s0.out_packets);
	assert_true(s1.in_bytes > s0.in_bytes && s1.out_bytes > s0.out_bytes);

	/* Published port conflict. */
	struct net_publish dup = {
		.proto = NET_PROTO_TCP, .public_port = 8080, .addr = ifaces[1].addr, .port = 81};
	assert_int_equal(net_publish_check(&host, pubs, 1, &dup, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "tcp port 8080 is already published by 'web'"));
	carve_err_clear(&err);

	/* Reconcile after a "restart": a stray link, a dead dnsmasq; counters survive. */
	char in0[64];
	snprintf(in0, sizeof(in0), "in_%s", ifn[0]);
	uint64_t c_in = counter(in0);
	assert_true(c_in > 0);
	assert_int_equal(sh("ip -n %s link add %sv999 type veth peer name %sv998", ns_h,
			    host.prefix, host.prefix),
			 0);
	assert_int_equal(net_dnsmasq_pid(&host, 2, &pid), 0);
	kill(pid, SIGKILL);
	sleep(1);
	assert_int_equal(net_dnsmasq_pid(&host, 2, &pid), -ESRCH);
	check(net_reconcile(&host, &state, &err), &err);
	assert_int_equal(net_dnsmasq_pid(&host, 2, &pid), 0);
	char stray[IFNAMSIZ];
	snprintf(stray, sizeof(stray), "%sv999", host.prefix);
	assert_int_equal(net_link_exists(&host, stray), 0);
	stray[strlen(stray) - 1] = '8';
	assert_int_equal(net_link_exists(&host, stray), 0);
	assert_true(counter(in0) >= c_in);
	assert_int_equal(IN(1, "busybox ping -c 1 -W 2 10.77.1.10"), 0);
}

static double iperf(int from, const char *to, bool reverse)
{
	char out[256];
	snprintf(out, sizeof(out), "%s/iperf.json", tmpdir);
	bg(ns_c[from == 1 ? 0 : 1], "iperf3 -s -1");
	if (sh("ip netns exec %s iperf3 -c %s -t 2 %s -J > %s 2>/dev/null", ns_c[from], to,
	       reverse ? "-R" : "", out) != 0)
		return -1;
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c \"import json;print(json.load(open('%s'))['end']"
		 "['sum_received']['bits_per_second'])\"",
		 out);
	FILE *f = popen(cmd, "r");
	double bps = -1;
	if (f) {
		if (fscanf(f, "%lf", &bps) != 1)
			bps = -1;
		pclose(f);
	}
	return bps;
}

static void test_rate(void **state_)
{
	if (access("/usr/bin/iperf3", X_OK) != 0)
		skip();
	struct carve_error err = CARVE_ERROR_INIT;
	/* c2 -> c1 (c1's input: tbf) and c1 -> c2 (c1's output: policer), 8 Mbit/s. */
	double free_bps = iperf(1, "10.77.1.10", false);
	assert_true(free_bps > 50e6);
	ifaces[0].rate_bps = 8000000;
	check(net_firewall_apply(&host, &state, &err), &err);
	check(net_iface_set_rate(&host, ifn[0], ifaces[0].rate_bps, &err), &err);
	double in_bps = iperf(1, "10.77.1.10", false);
	double out_bps = iperf(1, "10.77.1.10", true);
	print_message("rate: free %.1f Mbit/s, limited in %.2f out %.2f Mbit/s\n", free_bps / 1e6,
		      in_bps / 1e6, out_bps / 1e6);
	assert_true(in_bps > 2e6 && in_bps < 10e6);
	/* The nftables policer lets TCP overshoot somewhat (measured 11 Mbit/s for 8). */
	assert_true(out_bps > 1e6 && out_bps < 14e6);
	ifaces[0].rate_bps = 0;
	check(net_firewall_apply(&host, &state, &err), &err);
	check(net_iface_set_rate(&host, ifn[0], 0, &err), &err);
	assert_true(iperf(1, "10.77.1.10", false) > 50e6);
}

static void test_teardown(void **state_)
{
	struct carve_error err = CARVE_ERROR_INIT;
	check(net_teardown(&host, &err), &err);
	char **links = NULL;
	check(net_links_list(&host, &links, &err), &err);
	assert_null(links[0]);
	strv_free(links);
	pid_t pid;
	assert_int_equal(net_dnsmasq_pid(&host, 1, &pid), -ESRCH);
	assert_int_not_equal(
		sh("ip netns exec %s nft list table inet %s >/dev/null 2>&1", ns_h, host.prefix),
		0);
	assert_int_not_equal(
		sh("ip netns exec %s nft list table bridge %s >/dev/null 2>&1", ns_h, host.prefix),
		0);
	assert_int_not_equal(sh("ls %s/%s >/dev/null 2>&1", run_dir, brn[0]), 0);
	/* The veth peers went with their host ends. */
	assert_int_not_equal(sh("ip -n %s link show eth0 >/dev/null 2>&1", ns_c[0]), 0);
}

int main(void)
{
	if (geteuid() != 0 || access("/usr/sbin/nft", X_OK) != 0 ||
	    access("/usr/sbin/dnsmasq", X_OK) != 0) {
		fprintf(stderr, "skip: needs root, nft and dnsmasq\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_teardown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

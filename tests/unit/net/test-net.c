/* SPDX-License-Identifier: Apache-2.0 */
/* The pure parts of src/net: subnets, IPAM, MACs, validation, generated configs. No root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/string-util.h"
#include "net/net.h"

static struct net_subnet sn(const char *s)
{
	struct net_subnet r;
	assert_int_equal(net_subnet_parse(s, &r, NULL), 0);
	return r;
}

static uint32_t ad(const char *s)
{
	uint32_t a;
	assert_int_equal(net_addr_parse(s, &a), 0);
	return a;
}

static void test_subnet(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct net_subnet s;
	char out[NET_SUBNET_STRLEN];
	assert_int_equal(net_subnet_parse("10.1.2.0/24", &s, &err), 0);
	net_subnet_format(&s, out);
	assert_string_equal(out, "10.1.2.0/24");
	assert_int_equal(net_subnet_gateway(&s), ad("10.1.2.1"));
	assert_int_equal(net_subnet_broadcast(&s), ad("10.1.2.255"));
	assert_int_equal(net_subnet_parse("10.1.2.5/24", &s, &err), -EINVAL);
	assert_string_equal(err.msg, "subnet '10.1.2.5/24': host bits set");
	assert_string_equal(err.field, "subnet");
	assert_int_equal(net_subnet_parse("10.1.2.0/33", &s, NULL), -EINVAL);
	assert_int_equal(net_subnet_parse("10.1.2.0", &s, NULL), -EINVAL);
	assert_int_equal(net_subnet_parse("10.1.2.0/2x", &s, NULL), -EINVAL);
	assert_int_equal(net_subnet_parse("nonsense/8", &s, NULL), -EINVAL);
	struct net_subnet a = sn("10.0.0.0/16"), b = sn("10.0.5.0/24"), c = sn("10.1.0.0/24");
	assert_true(net_subnets_overlap(&a, &b));
	assert_true(net_subnets_overlap(&b, &a));
	assert_false(net_subnets_overlap(&a, &c));
}

static void test_subnet_allocate(void **state)
{
	struct net_subnet range = sn("10.128.0.0/9"), r;
	struct net_subnet used[3] = {sn("10.128.0.0/24"), sn("10.128.1.0/25"), sn("10.128.2.0/23")};
	assert_int_equal(net_subnet_allocate(&range, 24, used, 3, &r), 0);
	char out[NET_SUBNET_STRLEN];
	net_subnet_format(&r, out);
	assert_string_equal(out, "10.128.4.0/24");
	/* A used range larger than the request covers several candidates. */
	struct net_subnet small = sn("10.0.0.0/22"), big = sn("10.0.0.0/23");
	assert_int_equal(net_subnet_allocate(&small, 24, &big, 1, &r), 0);
	assert_int_equal(r.addr, ad("10.0.2.0"));
	struct net_subnet full[2] = {sn("10.0.0.0/23"), sn("10.0.2.0/23")};
	assert_int_equal(net_subnet_allocate(&small, 24, full, 2, &r), -ENOSPC);
	assert_int_equal(net_subnet_allocate(&small, 20, NULL, 0, &r), -EINVAL);
}

static void test_ipam(void **state)
{
	struct net_subnet s = sn("192.168.7.0/29");
	struct net_ipam *ipam = NULL;
	assert_int_equal(net_ipam_new(&s, &ipam), 0);
	assert_int_equal(net_ipam_free_count(ipam), 5);
	assert_int_equal(net_ipam_reserve(ipam, ad("192.168.7.1")), -EEXIST); /* gateway */
	assert_int_equal(net_ipam_reserve(ipam, ad("192.168.7.8")), -ERANGE);
	assert_int_equal(net_ipam_reserve(ipam, ad("192.168.7.3")), 0);
	uint32_t got[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(net_ipam_allocate(ipam, &got[i]), 0);
	assert_int_equal(got[0], ad("192.168.7.2"));
	assert_int_equal(got[1], ad("192.168.7.4"));
	assert_int_equal(got[3], ad("192.168.7.6"));
	uint32_t x;
	assert_int_equal(net_ipam_allocate(ipam, &x), -ENOSPC);
	assert_int_equal(net_ipam_release(ipam, ad("192.168.7.4")), 0);
	assert_int_equal(net_ipam_release(ipam, ad("192.168.7.4")), -ENOENT);
	assert_int_equal(net_ipam_release(ipam, ad("192.168.7.7")), -EPERM); /* broadcast */
	assert_int_equal(net_ipam_allocate(ipam, &x), 0);
	assert_int_equal(x, ad("192.168.7.4"));
	ipam = net_ipam_free(ipam);
	struct net_subnet too_big = sn("10.0.0.0/8");
	assert_int_equal(net_ipam_new(&too_big, &ipam), -EINVAL);
	/* A /16 has 65533 usable addresses. */
	struct net_subnet s16 = sn("10.9.0.0/16");
	assert_int_equal(net_ipam_new(&s16, &ipam), 0);
	assert_int_equal(net_ipam_free_count(ipam), 65533);
	net_ipam_free(ipam);
}

static void test_mac(void **state)
{
	uint8_t a[6], b[6], c[6], p[6];
	net_mac_from_id("0123abcd", 0, a);
	net_mac_from_id("0123abcd", 0, b);
	net_mac_from_id("0123abcd", 1, c);
	assert_memory_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	assert_int_equal(a[0], 0x02);
	char s[NET_MAC_STRLEN];
	net_mac_format(a, s);
	assert_int_equal(net_mac_parse(s, p), 0);
	assert_memory_equal(a, p, 6);
	assert_int_equal(net_mac_parse("02:00:00:00:00", p), -EINVAL);
	assert_int_equal(net_mac_parse("02-00-00-00-00-01", p), -EINVAL);
}

static struct net_host host(void)
{
	static const char *const mgmt[] = {"192.0.2.0/24"};
	struct net_host h = {.netns_fd = -EBADF,
			     .prefix = "cv1a2",
			     .uplink = "eth0",
			     .mgmt_addrs = mgmt,
			     .n_mgmt_addrs = 1,
			     .api_port = 8006,
			     .run_dir = "/run/carve/net"};
	h.uplink_addr = ad("203.0.113.5");
	return h;
}

static void test_validate(void **state)
{
	struct net_host h = host();
	struct carve_error err = CARVE_ERROR_INIT;
	assert_int_equal(net_host_validate(&h, &err), 0);
	struct net_host bad = h;
	strscpy(bad.prefix, "toolongx", sizeof(bad.prefix));
	assert_int_equal(net_host_validate(&bad, &err), -EINVAL);
	carve_err_clear(&err);

	struct net_network n[2] = {{.id = 1, .name = "a", .subnet = sn("10.5.0.0/24")},
				   {.id = 2, .name = "b", .subnet = sn("10.5.0.128/25")}};
	struct net_iface i[1] = {{.id = 1, .network_id = 1, .addr = ad("10.5.0.1")}};
	net_mac_from_id("x", 0, i[0].mac);
	struct net_state st = {n, 2, NULL, 0, NULL, 0};
	assert_int_equal(net_state_validate(&h, &st, &err), -EEXIST);
	assert_string_equal(err.msg, "network 'b': subnet overlaps network 'a'");
	carve_err_clear(&err);
	st.n_networks = 1;
	st.ifaces = i;
	st.n_ifaces = 1;
	assert_int_equal(net_state_validate(&h, &st, &err), -EINVAL); /* the gateway */
	assert_string_equal(err.field, "addr");
	carve_err_clear(&err);
	i[0].addr = ad("10.5.0.9");
	assert_int_equal(net_state_validate(&h, &st, &err), 0);

	struct net_publish p[2] = {
		{.proto = NET_PROTO_TCP,
		 .public_port = 443,
		 .addr = i[0].addr,
		 .port = 443,
		 .owner = "web1"},
		{.proto = NET_PROTO_TCP, .public_port = 443, .addr = i[0].addr, .port = 8443},
	};
	assert_int_equal(net_publish_check(&h, p, 1, &p[1], &err), -EEXIST);
	assert_string_equal(err.msg, "tcp port 443 is already published by 'web1'");
	carve_err_clear(&err);
	p[1].proto = NET_PROTO_UDP; /* another protocol, same number: fine */
	assert_int_equal(net_publish_check(&h, p, 1, &p[1], &err), 0);
	p[1] = (struct net_publish){.proto = NET_PROTO_TCP, .public_port = 8006, .port = 1};
	assert_int_equal(net_publish_check(&h, p, 1, &p[1], &err), -EEXIST);
	assert_string_equal(err.msg, "tcp port 8006 is the API port");
	assert_int_equal(net_proto_from_string("udp"), NET_PROTO_UDP);
	assert_int_equal(net_proto_from_string("sctp"), _NET_PROTO_INVALID);
}

static void test_ruleset(void **state)
{
	struct net_host h = host();
	struct net_network n[2] = {{.id = 1, .name = "a", .subnet = sn("10.5.0.0/24")},
				   {.id = 2, .name = "b", .subnet = sn("10.6.0.0/24")}};
	struct net_iface i[2] = {
		{.id = 7, .network_id = 1, .addr = ad("10.5.0.9"), .rate_bps = 8000000},
		{.id = 8, .network_id = 2, .addr = ad("10.6.0.2")}};
	net_mac_from_id("x", 0, i[0].mac);
	net_mac_from_id("y", 0, i[1].mac);
	struct net_publish p = {
		.proto = NET_PROTO_TCP, .public_port = 8080, .addr = ad("10.5.0.9"), .port = 80};
	struct net_state st = {n, 2, i, 2, &p, 1};
	struct net_counter carry = {.name = "in_cv1a2v7", .packets = 42, .bytes = 4200};
	cleanup_free char *r = NULL;
	assert_int_equal(net_ruleset_generate(&h, &st, &carry, 1, &r), 0);
	char mac[NET_MAC_STRLEN], line[256];
	net_mac_format(i[0].mac, mac);
	const char *want[] = {
		"table inet cv1a2 {}\ndelete table inet cv1a2\n",
		"iifname \"cv1a2b1\" oifname \"cv1a2b1\" accept",
		"iifname \"cv1a2b1\" counter name drop_cv1a2b1 drop",
		"oifname \"cv1a2b2\" counter name drop_cv1a2b2 drop",
		"iifname \"cv1a2b1\" ip daddr @mgmt4 counter name drop_cv1a2b1 drop",
		"elements = { 192.0.2.0/24 }",
		"iifname \"eth0\" ip daddr 203.0.113.5 tcp dport 8080 dnat ip to 10.5.0.9:80",
		"ip saddr 10.6.0.0/24 oifname \"eth0\" masquerade",
		"counter in_cv1a2v7 { packets 42 bytes 4200 }",
		"counter out_cv1a2v7 { packets 0 bytes 0 }",
		"ip saddr != { 10.5.0.9, 0.0.0.0 } counter name spoof_cv1a2v7 drop",
		"udp sport { 67, 547 } counter name spoof_cv1a2v7 drop",
		"nd-router-advert",
		"limit rate over 1000000 bytes/second burst 100000 bytes drop",
		"iifname \"cv1a2v8\" jump port_cv1a2v8",
	};
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		if (!strstr(r, want[k]))
			fail_msg("ruleset lacks '%s':\n%s", want[k], r);
	snprintf(line, sizeof(line), "ether saddr != %s counter name spoof_cv1a2v7 drop", mac);
	assert_non_null(strstr(r, line));
	/* The same-network accept precedes that network's drops. */
	assert_true(strstr(r, "iifname \"cv1a2b1\" oifname \"cv1a2b1\" accept") <
		    strstr(r, "iifname \"cv1a2b1\" counter name drop_cv1a2b1 drop"));
	/* Only the limited port has a limit. */
	assert_null(strstr(strstr(r, "chain port_cv1a2v8"), "limit rate"));

	struct net_iface orphan = {.id = 9, .network_id = 3};
	st.ifaces = &orphan;
	st.n_ifaces = 1;
	char *r2 = NULL;
	assert_int_equal(net_ruleset_generate(&h, &st, NULL, 0, &r2), -ENOENT);
}

static void test_dnsmasq_config(void **state)
{
	struct net_host h = host();
	struct net_network n = {
		.id = 3, .name = "a", .subnet = sn("10.5.0.0/24"), .domain = "acme.carve"};
	struct net_iface i[3] = {
		{.id = 1, .network_id = 3, .addr = ad("10.5.0.9"), .hostname = "web1"},
		{.id = 2, .network_id = 4, .addr = ad("10.6.0.9"), .hostname = "other"},
		{.id = 3, .network_id = 3, .addr = ad("10.5.0.10")},
	};
	for (int k = 0; k < 3; k++)
		net_mac_from_id("s", (unsigned)k, i[k].mac);
	cleanup_free char *conf = NULL, *dhcp = NULL, *hosts = NULL;
	assert_int_equal(net_dnsmasq_config(&h, &n, &conf), 0);
	assert_non_null(strstr(conf, "interface=cv1a2b3\n"));
	assert_non_null(strstr(conf, "listen-address=10.5.0.1\n"));
	assert_non_null(strstr(conf, "dhcp-range=10.5.0.0,static,255.255.255.0,1h\n"));
	assert_non_null(strstr(conf, "local=/acme.carve/\n"));
	assert_non_null(strstr(conf, "pid-file=/run/carve/net/cv1a2b3/pid\n"));
	assert_non_null(strstr(conf, "no-resolv\n"));
	assert_null(strstr(conf, "server="));
	assert_int_equal(net_dnsmasq_hosts(&h, &n, i, 3, &dhcp, &hosts), 0);
	char mac0[NET_MAC_STRLEN], mac2[NET_MAC_STRLEN], want[128];
	net_mac_format(i[0].mac, mac0);
	net_mac_format(i[2].mac, mac2);
	snprintf(want, sizeof(want), "%s,10.5.0.9,web1\n%s,10.5.0.10\n", mac0, mac2);
	assert_string_equal(dhcp, want);
	/* Another network's server is not in this network's DNS. */
	assert_string_equal(hosts, "10.5.0.9 web1\n");
}

static void test_counters_json(void **state)
{
	const char *json =
		"{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\"}}, {\"counter\": "
		"{\"family\": \"bridge\", \"name\": \"in_cv1v1\", \"table\": \"cv1\", \"handle\": "
		"3, \"packets\": 12, \"bytes\": 3400}}, {\"counter\": {\"family\": \"bridge\", "
		"\"name\": \"out_cv1v1\", \"table\": \"cv1\", \"handle\": 4, \"packets\": 7, "
		"\"bytes\": 99}}]}";
	struct net_counter *v = NULL;
	size_t n = 0;
	assert_int_equal(net_counters_parse_json(json, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "in_cv1v1");
	assert_int_equal(v[0].bytes, 3400);
	assert_int_equal(v[1].packets, 7);
	assert_int_equal(net_counters_parse_json("{\"nftables\": 3}", &v, &n), -EBADMSG);
	assert_int_equal(net_counters_parse_json("not json", &v, &n), -EBADMSG);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subnet),	       cmocka_unit_test(test_subnet_allocate),
		cmocka_unit_test(test_ipam),	       cmocka_unit_test(test_mac),
		cmocka_unit_test(test_validate),       cmocka_unit_test(test_ruleset),
		cmocka_unit_test(test_dnsmasq_config), cmocka_unit_test(test_counters_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

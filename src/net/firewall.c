/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftables: two tables per carved instance, regenerated as a whole from the desired state and
 * swapped in one `nft -f -` transaction (create-if-missing, delete, recreate: atomic, and the
 * host never runs without rules in between). Named counters survive the swap: their values are
 * read first and written back as the new counters' starting values (packets counted in the few
 * milliseconds between the read and the swap are lost).
 *
 *   table inet <prefix>    L3: isolation between networks and from the host, masquerade, DNAT
 *   table bridge <prefix>  L2: per-port anti-spoofing and the per-interface counters
 *
 * Every chain has policy accept and drops only what enters or leaves carve's own bridges, so it
 * composes with the host's firewall and with other carved instances (another prefix).
 * Bridge netfilter makes frames between two ports of one bridge visit the inet forward hook with
 * iif = oif = the bridge: that traffic is accepted explicitly before the isolation drops.
 */
#define LOG_DOMAIN "net"
#include <jansson.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/string-util.h"
#include "net/net-internal.h"

static void counter_decl(struct strbuf *b, const char *name, const struct net_counter *carry,
			 size_t n_carry)
{
	uint64_t packets = 0, bytes = 0;
	for (size_t i = 0; i < n_carry; i++)
		if (streq(carry[i].name, name)) {
			packets = carry[i].packets;
			bytes = carry[i].bytes;
		}
	sb_printf(b, "\tcounter %s { packets %llu bytes %llu }\n", name,
		  (unsigned long long)packets, (unsigned long long)bytes);
}

static const struct net_network *network_of(const struct net_state *st, uint32_t id)
{
	for (size_t i = 0; i < st->n_networks; i++)
		if (st->networks[i].id == id)
			return &st->networks[i];
	return NULL;
}

static void gen_inet(struct strbuf *b, const struct net_host *h, const struct net_state *st,
		     const struct net_counter *carry, size_t n_carry)
{
	char br[IFNAMSIZ], a[NET_ADDR_STRLEN], sn[NET_SUBNET_STRLEN], cname[64];
	const char *up = h->uplink;

	sb_printf(b, "table inet %s {\n", h->prefix);
	for (size_t k = 0; k < st->n_networks; k++) {
		(void)net_bridge_name(h, st->networks[k].id, br);
		snprintf(cname, sizeof(cname), "drop_%s", br);
		counter_decl(b, cname, carry, n_carry);
	}
	if (h->n_mgmt_addrs) {
		sb_printf(b, "\tset mgmt4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
			     "\t\tauto-merge\n\t\telements = { ");
		for (size_t i = 0; i < h->n_mgmt_addrs; i++)
			sb_printf(b, "%s%s", i ? ", " : "", h->mgmt_addrs[i]);
		sb_printf(b, " }\n\t}\n");
	}

	sb_printf(b, "\tchain forward {\n\t\ttype filter hook forward priority filter; "
		     "policy accept;\n");
	for (size_t k = 0; k < st->n_networks; k++) {
		(void)net_bridge_name(h, st->networks[k].id, br);
		sb_printf(b, "\t\tiifname \"%s\" oifname \"%s\" accept\n", br, br);
		if (h->n_mgmt_addrs)
			sb_printf(b,
				  "\t\tiifname \"%s\" ip daddr @mgmt4 counter name drop_%s drop\n",
				  br, br);
		sb_printf(b, "\t\tiifname \"%s\" oifname \"%s\" accept\n", br, up);
		sb_printf(b,
			  "\t\tiifname \"%s\" oifname \"%s\" ct state established,related "
			  "accept\n",
			  up, br);
		sb_printf(b, "\t\tiifname \"%s\" oifname \"%s\" ct status dnat accept\n", up, br);
		sb_printf(b, "\t\tiifname \"%s\" counter name drop_%s drop\n", br, br);
		sb_printf(b, "\t\toifname \"%s\" counter name drop_%s drop\n", br, br);
	}
	sb_printf(b, "\t}\n");

	/* To the host itself: DHCP, DNS and ping on the gateway; replies to what the host
	 * opened; nothing else (management addresses, the API port, any other service). */
	sb_printf(b, "\tchain input {\n\t\ttype filter hook input priority filter; "
		     "policy accept;\n");
	for (size_t k = 0; k < st->n_networks; k++) {
		const struct net_network *n = &st->networks[k];
		(void)net_bridge_name(h, n->id, br);
		net_addr_format(net_subnet_gateway(&n->subnet), a);
		sb_printf(b, "\t\tiifname \"%s\" ct state established,related accept\n", br);
		sb_printf(b, "\t\tiifname \"%s\" udp sport 68 udp dport 67 accept\n", br);
		sb_printf(b, "\t\tiifname \"%s\" ip daddr %s udp dport 53 accept\n", br, a);
		sb_printf(b, "\t\tiifname \"%s\" ip daddr %s tcp dport 53 accept\n", br, a);
		sb_printf(b, "\t\tiifname \"%s\" ip daddr %s icmp type echo-request accept\n", br,
			  a);
		sb_printf(b, "\t\tiifname \"%s\" counter name drop_%s drop\n", br, br);
	}
	sb_printf(b, "\t}\n");

	net_addr_format(h->uplink_addr, a);
	sb_printf(b, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; "
		     "policy accept;\n");
	for (size_t k = 0; k < st->n_publishes; k++) {
		const struct net_publish *p = &st->publishes[k];
		char to[NET_ADDR_STRLEN];
		net_addr_format(p->addr, to);
		sb_printf(b, "\t\tiifname \"%s\" ip daddr %s %s dport %u dnat ip to %s:%u\n", up, a,
			  net_proto_to_string(p->proto), p->public_port, to, p->port);
	}
	sb_printf(b, "\t}\n");
	/* The host itself reaching a published port on its own uplink address. */
	sb_printf(b, "\tchain output {\n\t\ttype nat hook output priority -100; "
		     "policy accept;\n");
	for (size_t k = 0; k < st->n_publishes; k++) {
		const struct net_publish *p = &st->publishes[k];
		char to[NET_ADDR_STRLEN];
		net_addr_format(p->addr, to);
		sb_printf(b, "\t\tip daddr %s %s dport %u dnat ip to %s:%u\n", a,
			  net_proto_to_string(p->proto), p->public_port, to, p->port);
	}
	sb_printf(b, "\t}\n");
	sb_printf(b, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; "
		     "policy accept;\n");
	for (size_t k = 0; k < st->n_networks; k++) {
		net_subnet_format(&st->networks[k].subnet, sn);
		sb_printf(b, "\t\tip saddr %s oifname \"%s\" masquerade\n", sn, up);
	}
	sb_printf(b, "\t}\n}\n");
}

static void gen_bridge(struct strbuf *b, const struct net_host *h, const struct net_state *st,
		       const struct net_counter *carry, size_t n_carry)
{
	char ifn[IFNAMSIZ], cname[64];
	sb_printf(b, "table bridge %s {\n", h->prefix);
	for (size_t k = 0; k < st->n_ifaces; k++) {
		(void)net_iface_name(h, &st->ifaces[k], ifn);
		static const char *const kinds[] = {"in", "out", "spoof"};
		for (size_t j = 0; j < ELEMENTSOF(kinds); j++) {
			snprintf(cname, sizeof(cname), "%s_%s", kinds[j], ifn);
			counter_decl(b, cname, carry, n_carry);
		}
	}
	/* What a server port may send: its own MAC, its own IPv4 address (0.0.0.0 only for a
	 * DHCP request and ARP probes), no DHCP or DHCPv6 server replies, no router
	 * advertisements or redirects, and only IPv4, ARP and IPv6 frames (no VLAN tags). */
	for (size_t k = 0; k < st->n_ifaces; k++) {
		const struct net_iface *i = &st->ifaces[k];
		char mac[NET_MAC_STRLEN], a[NET_ADDR_STRLEN];
		(void)net_iface_name(h, i, ifn);
		net_mac_format(i->mac, mac);
		net_addr_format(i->addr, a);
		sb_printf(b, "\tchain port_%s {\n", ifn);
		sb_printf(b, "\t\tether saddr != %s counter name spoof_%s drop\n", mac, ifn);
		sb_printf(b, "\t\tether type != { ip, arp, ip6 } counter name spoof_%s drop\n",
			  ifn);
		sb_printf(b, "\t\tarp saddr ether != %s counter name spoof_%s drop\n", mac, ifn);
		sb_printf(b, "\t\tarp saddr ip != { %s, 0.0.0.0 } counter name spoof_%s drop\n", a,
			  ifn);
		sb_printf(b, "\t\tip saddr != { %s, 0.0.0.0 } counter name spoof_%s drop\n", a,
			  ifn);
		sb_printf(b, "\t\tip saddr 0.0.0.0 udp sport != 68 counter name spoof_%s drop\n",
			  ifn);
		sb_printf(b, "\t\tip saddr 0.0.0.0 udp dport != 67 counter name spoof_%s drop\n",
			  ifn);
		sb_printf(b, "\t\tip saddr 0.0.0.0 ip protocol != udp counter name spoof_%s drop\n",
			  ifn);
		sb_printf(b, "\t\tudp sport { 67, 547 } counter name spoof_%s drop\n", ifn);
		sb_printf(b,
			  "\t\ticmpv6 type { nd-router-advert, nd-redirect } counter name "
			  "spoof_%s drop\n",
			  ifn);
		if (i->rate_bps) {
			uint64_t bytes = i->rate_bps / 8, burst = bytes / 10;
			if (burst < 32768)
				burst = 32768;
			sb_printf(b,
				  "\t\tlimit rate over %llu bytes/second burst %llu bytes drop\n",
				  (unsigned long long)bytes, (unsigned long long)burst);
		}
		sb_printf(b, "\t\tcounter name out_%s\n\t}\n", ifn);
	}
	sb_printf(b, "\tchain forward {\n\t\ttype filter hook forward priority -200; "
		     "policy accept;\n");
	for (size_t k = 0; k < st->n_ifaces; k++) {
		(void)net_iface_name(h, &st->ifaces[k], ifn);
		sb_printf(b, "\t\tiifname \"%s\" jump port_%s\n", ifn, ifn);
	}
	for (size_t k = 0; k < st->n_ifaces; k++) {
		(void)net_iface_name(h, &st->ifaces[k], ifn);
		sb_printf(b, "\t\toifname \"%s\" counter name in_%s\n", ifn, ifn);
	}
	sb_printf(b, "\t}\n");
	sb_printf(b, "\tchain input {\n\t\ttype filter hook input priority -200; "
		     "policy accept;\n");
	for (size_t k = 0; k < st->n_ifaces; k++) {
		(void)net_iface_name(h, &st->ifaces[k], ifn);
		sb_printf(b, "\t\tiifname \"%s\" jump port_%s\n", ifn, ifn);
	}
	sb_printf(b, "\t}\n");
	sb_printf(b, "\tchain output {\n\t\ttype filter hook output priority -200; "
		     "policy accept;\n");
	for (size_t k = 0; k < st->n_ifaces; k++) {
		(void)net_iface_name(h, &st->ifaces[k], ifn);
		sb_printf(b, "\t\toifname \"%s\" counter name in_%s\n", ifn, ifn);
	}
	sb_printf(b, "\t}\n}\n");
}

int net_ruleset_generate(const struct net_host *h, const struct net_state *st,
			 const struct net_counter *carry, size_t n_carry, char **ret)
{
	for (size_t k = 0; k < st->n_ifaces; k++)
		if (!network_of(st, st->ifaces[k].network_id))
			return -ENOENT;
	struct strbuf b = {};
	sb_printf(&b, "# carve '%s': generated, replaced as a whole\n", h->prefix);
	sb_printf(&b, "table inet %s {}\ndelete table inet %s\n", h->prefix, h->prefix);
	sb_printf(&b, "table bridge %s {}\ndelete table bridge %s\n", h->prefix, h->prefix);
	gen_inet(&b, h, st, carry, n_carry);
	gen_bridge(&b, h, st, carry, n_carry);
	return sb_take(&b, ret);
}

int net_counters_parse_json(const char *json, struct net_counter **ret, size_t *ret_n)
{
	json_error_t jerr;
	json_t *root = json_loads(json, 0, &jerr);
	if (!root)
		return -EBADMSG;
	json_t *arr = json_object_get(root, "nftables");
	if (!json_is_array(arr)) {
		json_decref(root);
		return -EBADMSG;
	}
	size_t idx;
	json_t *item;
	int r = 0;
	json_array_foreach (arr, idx, item) {
		json_t *c = json_object_get(item, "counter");
		if (!c)
			continue;
		const char *name = json_string_value(json_object_get(c, "name"));
		json_t *p = json_object_get(c, "packets"), *by = json_object_get(c, "bytes");
		if (!name || !json_is_integer(p) || !json_is_integer(by)) {
			r = -EBADMSG;
			break;
		}
		struct net_counter *v = realloc(*ret, (*ret_n + 1) * sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			break;
		}
		*ret = v;
		struct net_counter *nc = &v[(*ret_n)++];
		memset(nc, 0, sizeof(*nc));
		strscpy(nc->name, name, sizeof(nc->name));
		nc->packets = (uint64_t)json_integer_value(p);
		nc->bytes = (uint64_t)json_integer_value(by);
	}
	json_decref(root);
	return r;
}

int net_counters_read(const struct net_host *h, struct net_counter **ret, size_t *ret_n,
		      struct carve_error *err)
{
	cleanup_free struct net_counter *v = NULL;
	size_t n = 0;
	static const char *const families[] = {"inet", "bridge"};
	for (size_t f = 0; f < ELEMENTSOF(families); f++) {
		const char *const argv[] = {"nft",   "-j",	  "list",    "counters",
					    "table", families[f], h->prefix, NULL};
		cleanup_free char *out = NULL;
		int r = net_run(h->netns_fd, argv, NULL, &out);
		if (r < 0)
			return carve_err(err, r, "run 'nft'");
		if (r != 0)
			continue; /* no such table yet */
		r = net_counters_parse_json(out, &v, &n);
		if (r < 0)
			return carve_err(err, r, "nft counters of table %s %s: parse", families[f],
					 h->prefix);
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

int net_firewall_apply(const struct net_host *h, const struct net_state *st,
		       struct carve_error *err)
{
	cleanup_free struct net_counter *carry = NULL;
	size_t n_carry = 0;
	int r = net_counters_read(h, &carry, &n_carry, err);
	if (r < 0)
		return carve_err_prefix(err, "firewall");
	cleanup_free char *rules = NULL;
	r = net_ruleset_generate(h, st, carry, n_carry, &rules);
	if (r < 0)
		return carve_err(err, r, "firewall: generate ruleset");
	const char *const argv[] = {"nft", "-f", "-", NULL};
	r = net_run_checked(h->netns_fd, argv, rules, NULL, err);
	if (r < 0)
		return carve_err_prefix(err, "firewall: apply");
	return 0;
}

int net_firewall_remove(const struct net_host *h, struct carve_error *err)
{
	struct strbuf b = {};
	sb_printf(&b, "table inet %s {}\ndelete table inet %s\n", h->prefix, h->prefix);
	sb_printf(&b, "table bridge %s {}\ndelete table bridge %s\n", h->prefix, h->prefix);
	cleanup_free char *rules = NULL;
	int r = sb_take(&b, &rules);
	if (r < 0)
		return carve_err(err, r, "firewall: remove");
	const char *const argv[] = {"nft", "-f", "-", NULL};
	r = net_run_checked(h->netns_fd, argv, rules, NULL, err);
	if (r < 0)
		return carve_err_prefix(err, "firewall: remove");
	return 0;
}

int net_iface_stats(const struct net_host *h, const char *ifname, struct net_iface_stats *ret,
		    struct carve_error *err)
{
	cleanup_free struct net_counter *v = NULL;
	size_t n = 0;
	int r = net_counters_read(h, &v, &n, err);
	if (r < 0)
		return carve_err_prefix(err, "interface '%s': counters", ifname);
	char in[64], out[64];
	snprintf(in, sizeof(in), "in_%s", ifname);
	snprintf(out, sizeof(out), "out_%s", ifname);
	struct net_iface_stats s = {};
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		if (streq(v[i].name, in)) {
			s.in_bytes = v[i].bytes;
			s.in_packets = v[i].packets;
			found++;
		} else if (streq(v[i].name, out)) {
			s.out_bytes = v[i].bytes;
			s.out_packets = v[i].packets;
			found++;
		}
	}
	if (found != 2)
		return carve_err(err, -ENOENT, "interface '%s': no counters", ifname);
	*ret = s;
	return 0;
}

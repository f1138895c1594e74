/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "net"
#include "base/cleanup.h"
#include "base/string-util.h"
#include "net/net.h"

static const char *const proto_table[_NET_PROTO_MAX] = {
	[NET_PROTO_TCP] = "tcp",
	[NET_PROTO_UDP] = "udp",
};

const char *net_proto_to_string(enum net_proto p)
{
	return p >= 0 && p < _NET_PROTO_MAX ? proto_table[p] : NULL;
}

enum net_proto net_proto_from_string(const char *s)
{
	for (int i = 0; i < _NET_PROTO_MAX; i++)
		if (streq(s, proto_table[i]))
			return i;
	return _NET_PROTO_INVALID;
}

int net_host_validate(const struct net_host *h, struct carve_error *err)
{
	size_t len = strnlen(h->prefix, sizeof(h->prefix));
	if (len == 0 || len > NET_PREFIX_MAX)
		return carve_err_field(err, -EINVAL, "prefix",
				       "network prefix '%.16s': 1 to %d characters", h->prefix,
				       NET_PREFIX_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = h->prefix[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return carve_err_field(err, -EINVAL, "prefix",
					       "network prefix '%s': only a-z and 0-9", h->prefix);
	}
	if (h->prefix[0] >= '0' && h->prefix[0] <= '9')
		return carve_err_field(err, -EINVAL, "prefix",
				       "network prefix '%s': must start with a letter", h->prefix);
	if (!h->uplink[0] || strnlen(h->uplink, IFNAMSIZ) >= IFNAMSIZ ||
	    strpbrk(h->uplink, "\"\\ /{}"))
		return carve_err_field(err, -EINVAL, "uplink", "uplink interface '%.16s': invalid",
				       h->uplink);
	if (!h->run_dir || h->run_dir[0] != '/')
		return carve_err_field(err, -EINVAL, "run_dir", "network run dir: not absolute");
	for (size_t i = 0; i < h->n_mgmt_addrs; i++) {
		const char *a = h->mgmt_addrs[i];
		uint32_t x;
		struct net_subnet sn;
		if (net_addr_parse(a, &x) < 0 && net_subnet_parse(a, &sn, NULL) < 0)
			return carve_err_field(err, -EINVAL, "mgmt_addrs",
					       "management address '%s': not a.b.c.d[/len]", a);
	}
	for (size_t i = 0; i < h->n_dns_upstream; i++) {
		uint32_t x;
		if (net_addr_parse(h->dns_upstream[i], &x) < 0)
			return carve_err_field(err, -EINVAL, "dns_upstream",
					       "dns upstream '%s': not a.b.c.d",
					       h->dns_upstream[i]);
	}
	return 0;
}

int net_bridge_name(const struct net_host *h, uint32_t network_id, char ret[IFNAMSIZ])
{
	int n = snprintf(ret, IFNAMSIZ, "%sb%u", h->prefix, network_id);
	return n < 0 || n >= IFNAMSIZ ? -ENAMETOOLONG : 0;
}

int net_iface_name(const struct net_host *h, const struct net_iface *i, char ret[IFNAMSIZ])
{
	int n = snprintf(ret, IFNAMSIZ, "%s%c%u", h->prefix, i->kind == NET_IFACE_TAP ? 't' : 'v',
			 i->id);
	return n < 0 || n >= IFNAMSIZ ? -ENAMETOOLONG : 0;
}

static bool hostname_valid(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

static bool domain_valid(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 200 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.'))
			return false;
	return true;
}

int net_publish_check(const struct net_host *h, const struct net_publish *existing,
		      size_t n_existing, const struct net_publish *p, struct carve_error *err)
{
	const char *proto = net_proto_to_string(p->proto);
	if (!proto)
		return carve_err_field(err, -EINVAL, "proto", "published port: unknown protocol");
	if (p->public_port == 0 || p->port == 0)
		return carve_err_field(err, -EINVAL, "port", "published port: port 0");
	if (h && h->api_port && p->proto == NET_PROTO_TCP && p->public_port == h->api_port)
		return carve_err_field(err, -EEXIST, "public_port", "tcp port %u is the API port",
				       p->public_port);
	for (size_t i = 0; i < n_existing; i++) {
		const struct net_publish *e = &existing[i];
		if (e == p)
			continue;
		if (e->proto == p->proto && e->public_port == p->public_port)
			return carve_err_field(err, -EEXIST, "public_port",
					       "%s port %u is already published by '%s'", proto,
					       p->public_port,
					       e->owner ? e->owner : "another server");
	}
	return 0;
}

int net_state_validate(const struct net_host *h, const struct net_state *st,
		       struct carve_error *err)
{
	for (size_t a = 0; a < st->n_networks; a++) {
		const struct net_network *n = &st->networks[a];
		const char *name = n->name ? n->name : "?";
		char ifname[IFNAMSIZ];
		if (n->id == 0 || n->id > NET_ID_MAX || net_bridge_name(h, n->id, ifname) < 0)
			return carve_err_field(err, -EINVAL, "id", "network '%s': bad id %u", name,
					       n->id);
		if (n->subnet.prefixlen < 16 || n->subnet.prefixlen > 29)
			return carve_err_field(err, -EINVAL, "subnet",
					       "network '%s': subnet must be /16 to /29", name);
		if (n->domain && !domain_valid(n->domain))
			return carve_err_field(err, -EINVAL, "domain",
					       "network '%s': domain '%s': invalid", name,
					       n->domain);
		if (n->mtu && (n->mtu < 576 || n->mtu > 65535))
			return carve_err_field(err, -EINVAL, "mtu", "network '%s': mtu %u: invalid",
					       name, n->mtu);
		for (size_t b = 0; b < a; b++) {
			if (st->networks[b].id == n->id)
				return carve_err_field(err, -EEXIST, "id",
						       "network '%s': id %u used twice", name,
						       n->id);
			if (net_subnets_overlap(&st->networks[b].subnet, &n->subnet))
				return carve_err_field(
					err, -EEXIST, "subnet",
					"network '%s': subnet overlaps network '%s'", name,
					st->networks[b].name ? st->networks[b].name : "?");
		}
	}
	for (size_t a = 0; a < st->n_ifaces; a++) {
		const struct net_iface *i = &st->ifaces[a];
		const struct net_network *n = NULL;
		char ifname[IFNAMSIZ];
		for (size_t b = 0; b < st->n_networks; b++)
			if (st->networks[b].id == i->network_id)
				n = &st->networks[b];
		if (i->id == 0 || i->id > NET_ID_MAX || net_iface_name(h, i, ifname) < 0)
			return carve_err_field(err, -EINVAL, "id", "interface %u: bad id", i->id);
		if (!n)
			return carve_err_field(err, -ENOENT, "network",
					       "interface %u: network %u not found", i->id,
					       i->network_id);
		if (i->kind != NET_IFACE_VETH && i->kind != NET_IFACE_TAP)
			return carve_err_field(err, -EINVAL, "kind", "interface %u: bad kind",
					       i->id);
		if (i->hostname && !hostname_valid(i->hostname))
			return carve_err_field(err, -EINVAL, "hostname",
					       "interface %u: hostname '%s': invalid", i->id,
					       i->hostname);
		if ((i->mac[0] & 1) || !memcmp(i->mac, "\0\0\0\0\0\0", 6))
			return carve_err_field(err, -EINVAL, "mac",
					       "interface %u: mac: not a unicast address", i->id);
		const struct net_subnet *s = &n->subnet;
		if (!net_subnet_contains(s, i->addr) || i->addr == s->addr ||
		    i->addr == net_subnet_gateway(s) || i->addr == net_subnet_broadcast(s)) {
			char a_s[NET_ADDR_STRLEN];
			net_addr_format(i->addr, a_s);
			return carve_err_field(err, -EINVAL, "addr",
					       "interface %u: address %s: not a host address of "
					       "network '%s'",
					       i->id, a_s, n->name ? n->name : "?");
		}
		for (size_t b = 0; b < a; b++) {
			const struct net_iface *o = &st->ifaces[b];
			if (o->id == i->id && o->kind == i->kind)
				return carve_err_field(err, -EEXIST, "id",
						       "interface %u: id used twice", i->id);
			if (!memcmp(o->mac, i->mac, 6))
				return carve_err_field(err, -EEXIST, "mac",
						       "interface %u: mac used by interface %u",
						       i->id, o->id);
			if (o->addr == i->addr)
				return carve_err_field(err, -EEXIST, "addr",
						       "interface %u: address used by interface %u",
						       i->id, o->id);
		}
	}
	for (size_t a = 0; a < st->n_publishes; a++) {
		const struct net_publish *p = &st->publishes[a];
		bool found = false;
		for (size_t b = 0; b < st->n_ifaces && !found; b++)
			found = st->ifaces[b].addr == p->addr;
		if (!found)
			return carve_err_field(err, -ENOENT, "addr",
					       "published port %u: no interface has that address",
					       p->public_port);
		int r = net_publish_check(h, st->publishes, a, p, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "net"
#include <arpa/inet.h>
#include <ctype.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "net/net.h"

int net_addr_parse(const char *s, uint32_t *ret)
{
	struct in_addr a;
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = ntohl(a.s_addr);
	return 0;
}

void net_addr_format(uint32_t addr, char out[NET_ADDR_STRLEN])
{
	snprintf(out, NET_ADDR_STRLEN, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff,
		 (addr >> 8) & 0xff, addr & 0xff);
}

uint32_t net_subnet_mask(const struct net_subnet *s)
{
	return s->prefixlen == 0 ? 0 : ~0u << (32 - s->prefixlen);
}

uint32_t net_subnet_broadcast(const struct net_subnet *s)
{
	return s->addr | ~net_subnet_mask(s);
}

uint32_t net_subnet_gateway(const struct net_subnet *s)
{
	return s->addr + 1;
}

bool net_subnet_contains(const struct net_subnet *s, uint32_t addr)
{
	return (addr & net_subnet_mask(s)) == s->addr;
}

bool net_subnets_overlap(const struct net_subnet *a, const struct net_subnet *b)
{
	return net_subnet_contains(a, b->addr) || net_subnet_contains(b, a->addr);
}

int net_subnet_parse(const char *s, struct net_subnet *ret, struct carve_error *err)
{
	char buf[NET_SUBNET_STRLEN + 1];
	if (!s || strscpy(buf, s, sizeof(buf)) < 0)
		return carve_err_field(err, -EINVAL, "subnet", "subnet '%s': not a.b.c.d/len",
				       s ? s : "");
	char *slash = strchr(buf, '/');
	if (!slash)
		return carve_err_field(err, -EINVAL, "subnet", "subnet '%s': not a.b.c.d/len", s);
	*slash = '\0';
	uint32_t addr;
	if (net_addr_parse(buf, &addr) < 0)
		return carve_err_field(err, -EINVAL, "subnet", "subnet '%s': not a.b.c.d/len", s);
	const char *p = slash + 1;
	if (!*p || strlen(p) > 2 || !isdigit((unsigned char)p[0]) ||
	    (p[1] && !isdigit((unsigned char)p[1])))
		return carve_err_field(err, -EINVAL, "subnet", "subnet '%s': bad prefix length", s);
	unsigned len = (unsigned)strtoul(p, NULL, 10);
	if (len > 32)
		return carve_err_field(err, -EINVAL, "subnet", "subnet '%s': bad prefix length", s);
	struct net_subnet sn = {.addr = addr, .prefixlen = (uint8_t)len};
	if ((addr & net_subnet_mask(&sn)) != addr)
		return carve_err_field(err, -EINVAL, "subnet", "subnet '%s': host bits set", s);
	*ret = sn;
	return 0;
}

void net_subnet_format(const struct net_subnet *s, char out[NET_SUBNET_STRLEN])
{
	char a[NET_ADDR_STRLEN];
	net_addr_format(s->addr, a);
	snprintf(out, NET_SUBNET_STRLEN, "%s/%u", a, s->prefixlen);
}

int net_subnet_allocate(const struct net_subnet *range, uint8_t prefixlen,
			const struct net_subnet *used, size_t n_used, struct net_subnet *ret)
{
	if (prefixlen < range->prefixlen || prefixlen > 30)
		return -EINVAL;
	uint64_t step = 1ull << (32 - prefixlen);
	uint64_t end = (uint64_t)range->addr + (1ull << (32 - range->prefixlen));
	for (uint64_t a = range->addr; a < end; a += step) {
		struct net_subnet c = {.addr = (uint32_t)a, .prefixlen = prefixlen};
		bool clash = false;
		for (size_t i = 0; i < n_used && !clash; i++)
			clash = net_subnets_overlap(&c, &used[i]);
		if (!clash) {
			*ret = c;
			return 0;
		}
	}
	return -ENOSPC;
}

struct net_ipam {
	struct net_subnet subnet;
	size_t size; /* addresses */
	size_t used;
	uint64_t bits[];
};

int net_ipam_new(const struct net_subnet *s, struct net_ipam **ret)
{
	if (s->prefixlen < 16 || s->prefixlen > 29 || (s->addr & ~net_subnet_mask(s)))
		return -EINVAL;
	size_t size = (size_t)1 << (32 - s->prefixlen);
	struct net_ipam *ipam = calloc(1, sizeof(*ipam) + (size / 64 + 1) * sizeof(uint64_t));
	if (!ipam)
		return -ENOMEM;
	ipam->subnet = *s;
	ipam->size = size;
	(void)net_ipam_reserve(ipam, s->addr);
	(void)net_ipam_reserve(ipam, net_subnet_gateway(s));
	(void)net_ipam_reserve(ipam, net_subnet_broadcast(s));
	*ret = ipam;
	return 0;
}

struct net_ipam *net_ipam_free(struct net_ipam *ipam)
{
	free(ipam);
	return NULL;
}

int net_ipam_reserve(struct net_ipam *ipam, uint32_t addr)
{
	if (!net_subnet_contains(&ipam->subnet, addr))
		return -ERANGE;
	size_t i = addr - ipam->subnet.addr;
	if (ipam->bits[i / 64] & (1ull << (i % 64)))
		return -EEXIST;
	ipam->bits[i / 64] |= 1ull << (i % 64);
	ipam->used++;
	return 0;
}

int net_ipam_allocate(struct net_ipam *ipam, uint32_t *ret)
{
	for (size_t w = 0; w * 64 < ipam->size; w++) {
		if (ipam->bits[w] == ~0ull)
			continue;
		for (size_t b = 0; b < 64 && w * 64 + b < ipam->size; b++)
			if (!(ipam->bits[w] & (1ull << b))) {
				ipam->bits[w] |= 1ull << b;
				ipam->used++;
				*ret = ipam->subnet.addr + (uint32_t)(w * 64 + b);
				return 0;
			}
	}
	return -ENOSPC;
}

int net_ipam_release(struct net_ipam *ipam, uint32_t addr)
{
	if (!net_subnet_contains(&ipam->subnet, addr))
		return -ERANGE;
	const struct net_subnet *s = &ipam->subnet;
	if (addr == s->addr || addr == net_subnet_gateway(s) || addr == net_subnet_broadcast(s))
		return -EPERM;
	size_t i = addr - s->addr;
	if (!(ipam->bits[i / 64] & (1ull << (i % 64))))
		return -ENOENT;
	ipam->bits[i / 64] &= ~(1ull << (i % 64));
	ipam->used--;
	return 0;
}

size_t net_ipam_free_count(const struct net_ipam *ipam)
{
	return ipam->size - ipam->used;
}

void net_mac_from_id(const char *server_id, unsigned index, uint8_t ret[6])
{
	/* FNV-1a 64 over the id, a separator and the index: stable across releases. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *p = server_id; p && *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	char idx[16];
	snprintf(idx, sizeof(idx), "/%u", index);
	for (const char *p = idx; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	ret[0] = 0x02; /* locally administered, unicast */
	for (int i = 1; i < 6; i++)
		ret[i] = (uint8_t)(h >> (8 * (i - 1)));
}

int net_mac_parse(const char *s, uint8_t ret[6])
{
	uint8_t m[6];
	if (!s || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
		    (i < 5 && p[2] != ':'))
			return -EINVAL;
		char h[3] = {p[0], p[1], 0};
		m[i] = (uint8_t)strtoul(h, NULL, 16);
	}
	memcpy(ret, m, 6);
	return 0;
}

void net_mac_format(const uint8_t mac[6], char out[NET_MAC_STRLEN])
{
	snprintf(out, NET_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}

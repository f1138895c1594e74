/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Links over raw rtnetlink. A netlink socket belongs to the namespace it was created in, so each
 * operation opens its socket inside the host (or container) namespace and then works from the
 * caller's own namespace.
 */
#define LOG_DOMAIN "net"
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "net/net-internal.h"

struct nlreq {
	struct nlmsghdr *nh;
	char buf[4096];
	bool overflow;
};

static void *req_init(struct nlreq *q, uint16_t type, uint16_t flags, size_t hdrlen)
{
	memset(q, 0, sizeof(*q));
	q->nh = (struct nlmsghdr *)q->buf;
	q->nh->nlmsg_type = type;
	q->nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	q->nh->nlmsg_len = NLMSG_LENGTH(hdrlen);
	return NLMSG_DATA(q->nh);
}

static struct rtattr *attr_put(struct nlreq *q, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(q->nh->nlmsg_len);
	if (off + RTA_SPACE(len) > sizeof(q->buf)) {
		q->overflow = true;
		return NULL;
	}
	struct rtattr *a = (struct rtattr *)(q->buf + off);
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	q->nh->nlmsg_len = off + RTA_SPACE(len);
	return a;
}

static void attr_str(struct nlreq *q, uint16_t type, const char *s)
{
	attr_put(q, type, s, strlen(s) + 1);
}

static void attr_u32(struct nlreq *q, uint16_t type, uint32_t v)
{
	attr_put(q, type, &v, sizeof(v));
}

static struct rtattr *nest_start(struct nlreq *q, uint16_t type)
{
	return attr_put(q, type, NULL, 0);
}

static void nest_end(struct nlreq *q, struct rtattr *a)
{
	if (a)
		a->rta_len = (unsigned short)((char *)q->buf + q->nh->nlmsg_len - (char *)a);
}

static int nl_open(int netns_fd)
{
	int saved, r = netns_enter(netns_fd, &saved);
	if (r < 0)
		return r;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	r = fd < 0 ? -errno : fd;
	netns_leave(&saved);
	return r;
}

/* Send and wait for the ack; for dumps, call cb on each message. */
static int nl_talk(int fd, struct nlreq *q, void (*cb)(struct nlmsghdr *nh, void *userdata),
		   void *userdata)
{
	static uint32_t seq;
	if (q->overflow)
		return -ENOBUFS;
	q->nh->nlmsg_seq = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	if (sendto(fd, q->buf, q->nh->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	bool dump = q->nh->nlmsg_flags & NLM_F_DUMP;
	for (;;) {
		char rbuf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *nh = (struct nlmsghdr *)rbuf; NLMSG_OK(nh, (size_t)n);
		     nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != q->nh->nlmsg_seq)
				continue;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);
				return e->error;
			}
			if (nh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (cb)
				cb(nh, userdata);
			if (!dump && !(nh->nlmsg_flags & NLM_F_MULTI))
				return 0;
		}
	}
}

struct get_index {
	int ifindex;
};

static void index_cb(struct nlmsghdr *nh, void *userdata)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	((struct get_index *)userdata)->ifindex = ifi->ifi_index;
}

/* ifindex of name in the socket's namespace; -ENODEV when missing. */
static int link_index(int fd, const char *name)
{
	struct nlreq q;
	req_init(&q, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
	attr_str(&q, IFLA_IFNAME, name);
	struct get_index gi = {0};
	int r = nl_talk(fd, &q, index_cb, &gi);
	if (r < 0)
		return r;
	return gi.ifindex > 0 ? gi.ifindex : -ENODEV;
}

static int link_set(int fd, int ifindex, bool up, uint32_t master, uint32_t mtu)
{
	struct nlreq q;
	struct ifinfomsg *ifi = req_init(&q, RTM_NEWLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	if (master)
		attr_u32(&q, IFLA_MASTER, master);
	if (mtu)
		attr_u32(&q, IFLA_MTU, mtu);
	return nl_talk(fd, &q, NULL, NULL);
}

static int addr_add(int fd, int ifindex, uint32_t addr, uint8_t prefixlen, uint32_t brd)
{
	struct nlreq q;
	struct ifaddrmsg *ifa =
		req_init(&q, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_index = ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	uint32_t a = htonl(addr), b = htonl(brd);
	attr_put(&q, IFA_LOCAL, &a, 4);
	attr_put(&q, IFA_ADDRESS, &a, 4);
	attr_put(&q, IFA_BROADCAST, &b, 4);
	return nl_talk(fd, &q, NULL, NULL);
}

static int route_default(int fd, int ifindex, uint32_t gw)
{
	struct nlreq q;
	struct rtmsg *rt = req_init(&q, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_STATIC;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	uint32_t g = htonl(gw);
	attr_put(&q, RTA_GATEWAY, &g, 4);
	attr_u32(&q, RTA_OIF, (uint32_t)ifindex);
	return nl_talk(fd, &q, NULL, NULL);
}

static int link_del(int fd, const char *name)
{
	struct nlreq q;
	req_init(&q, RTM_DELLINK, 0, sizeof(struct ifinfomsg));
	attr_str(&q, IFLA_IFNAME, name);
	int r = nl_talk(fd, &q, NULL, NULL);
	return r == -ENODEV ? 0 : r;
}

int net_host_prepare(const struct net_host *h, struct carve_error *err)
{
	int saved, r = netns_enter(h->netns_fd, &saved);
	if (r < 0)
		return carve_err(err, r, "enter host network namespace");
	/* /proc/sys/net shows the namespace of the opener. */
	r = write_string_file("/proc/sys/net/ipv4/ip_forward", "1");
	netns_leave(&saved);
	if (r < 0)
		return carve_err(err, r, "enable ipv4 forwarding");
	return 0;
}

int net_bridge_ensure(const struct net_host *h, const struct net_network *n,
		      struct carve_error *err)
{
	char br[IFNAMSIZ];
	int r = net_bridge_name(h, n->id, br);
	if (r < 0)
		return carve_err(err, r, "network '%s': bridge name", n->name);
	cleanup_close int fd = nl_open(h->netns_fd);
	if (fd < 0)
		return carve_err(err, fd, "network '%s': netlink", n->name);

	int idx = link_index(fd, br);
	if (idx == -ENODEV) {
		struct nlreq q;
		struct ifinfomsg *ifi =
			req_init(&q, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
		ifi->ifi_family = AF_UNSPEC;
		attr_str(&q, IFLA_IFNAME, br);
		if (n->mtu)
			attr_u32(&q, IFLA_MTU, n->mtu);
		struct rtattr *li = nest_start(&q, IFLA_LINKINFO);
		attr_str(&q, IFLA_INFO_KIND, "bridge");
		nest_end(&q, li);
		r = nl_talk(fd, &q, NULL, NULL);
		if (r < 0 && r != -EEXIST)
			return carve_err(err, r, "network '%s': create bridge '%s'", n->name, br);
		idx = link_index(fd, br);
	}
	if (idx < 0)
		return carve_err(err, idx, "network '%s': bridge '%s'", n->name, br);
	r = addr_add(fd, idx, net_subnet_gateway(&n->subnet), n->subnet.prefixlen,
		     net_subnet_broadcast(&n->subnet));
	if (r < 0)
		return carve_err(err, r, "network '%s': gateway address on '%s'", n->name, br);
	r = link_set(fd, idx, true, 0, 0);
	if (r < 0)
		return carve_err(err, r, "network '%s': bring '%s' up", n->name, br);
	return 0;
}

int net_veth_add(const struct net_host *h, const struct net_network *n, const struct net_iface *i,
		 int ct_netns_fd, const char *guest_ifname, struct carve_error *err)
{
	char host_if[IFNAMSIZ], br[IFNAMSIZ];
	const char *guest = guest_ifname ? guest_ifname : "eth0";
	int r = net_iface_name(h, i, host_if);
	if (r < 0 || net_bridge_name(h, n->id, br) < 0)
		return carve_err(err, -ENAMETOOLONG, "interface %u: link name", i->id);
	if (strlen(guest) >= IFNAMSIZ)
		return carve_err_field(err, -EINVAL, "ifname", "interface '%s': name too long",
				       guest);
	if (ct_netns_fd < 0)
		return carve_err(err, -EBADF, "interface '%s': no container namespace", host_if);

	cleanup_close int cfd = -EBADF;
	cleanup_close int fd = nl_open(h->netns_fd);
	if (fd < 0)
		return carve_err(err, fd, "interface '%s': netlink", host_if);
	int br_idx = link_index(fd, br);
	if (br_idx < 0)
		return carve_err(err, br_idx, "interface '%s': bridge '%s'", host_if, br);
	/* A host end left over from a container that died: its peer died with the namespace
	 * or is stale; replace it. */
	r = link_del(fd, host_if);
	if (r < 0)
		return carve_err(err, r, "interface '%s': remove stale link", host_if);

	uint32_t mtu = n->mtu ? n->mtu : 1500;
	struct nlreq q;
	struct ifinfomsg *ifi = req_init(&q, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	attr_str(&q, IFLA_IFNAME, host_if);
	attr_u32(&q, IFLA_MTU, mtu);
	/* The host end's MAC never appears on the wire as a source of server traffic; fe: keeps
	 * the bridge from taking it as its own address (the bridge uses the lowest port MAC). */
	uint8_t hmac[6] = {0xfe, i->mac[1], i->mac[2], i->mac[3], i->mac[4], i->mac[5]};
	attr_put(&q, IFLA_ADDRESS, hmac, 6);
	struct rtattr *li = nest_start(&q, IFLA_LINKINFO);
	attr_str(&q, IFLA_INFO_KIND, "veth");
	struct rtattr *data = nest_start(&q, IFLA_INFO_DATA);
	struct rtattr *peer = nest_start(&q, VETH_INFO_PEER);
	struct ifinfomsg pifi = {.ifi_family = AF_UNSPEC};
	if (q.nh->nlmsg_len + NLMSG_ALIGN(sizeof(pifi)) < sizeof(q.buf)) {
		memcpy(q.buf + q.nh->nlmsg_len, &pifi, sizeof(pifi));
		q.nh->nlmsg_len += NLMSG_ALIGN(sizeof(pifi));
	}
	attr_str(&q, IFLA_IFNAME, guest);
	attr_put(&q, IFLA_ADDRESS, i->mac, 6);
	attr_u32(&q, IFLA_MTU, mtu);
	attr_u32(&q, IFLA_NET_NS_FD, (uint32_t)ct_netns_fd);
	nest_end(&q, peer);
	nest_end(&q, data);
	nest_end(&q, li);
	r = nl_talk(fd, &q, NULL, NULL);
	if (r < 0)
		return carve_err(err, r, "interface '%s': create veth pair", host_if);

	int idx = link_index(fd, host_if);
	if (idx < 0) {
		r = idx;
		carve_err(err, r, "interface '%s': created link not found", host_if);
		goto fail;
	}
	r = link_set(fd, idx, true, (uint32_t)br_idx, 0);
	if (r < 0) {
		carve_err(err, r, "interface '%s': attach to '%s'", host_if, br);
		goto fail;
	}

	cfd = nl_open(ct_netns_fd);
	if (cfd < 0) {
		r = carve_err(err, cfd, "interface '%s': netlink in container", host_if);
		goto fail;
	}
	int lo = link_index(cfd, "lo");
	if (lo > 0)
		(void)link_set(cfd, lo, true, 0, 0);
	int gidx = link_index(cfd, guest);
	if (gidx < 0) {
		r = carve_err(err, gidx, "interface '%s': peer '%s' in container", host_if, guest);
		goto fail;
	}
	r = link_set(cfd, gidx, true, 0, 0);
	if (r < 0) {
		carve_err(err, r, "interface '%s': bring '%s' up in container", host_if, guest);
		goto fail;
	}
	if (!i->dhcp) {
		r = addr_add(cfd, gidx, i->addr, n->subnet.prefixlen,
			     net_subnet_broadcast(&n->subnet));
		if (r < 0) {
			carve_err(err, r, "interface '%s': address in container", host_if);
			goto fail;
		}
		r = route_default(cfd, gidx, net_subnet_gateway(&n->subnet));
		if (r < 0) {
			carve_err(err, r, "interface '%s': default route in container", host_if);
			goto fail;
		}
	}
	return 0;
fail:
	(void)link_del(fd, host_if);
	return r;
}

int net_tap_add(const struct net_host *h, const struct net_network *n, const struct net_iface *i,
		struct carve_error *err)
{
	char tap[IFNAMSIZ], br[IFNAMSIZ];
	if (net_iface_name(h, i, tap) < 0 || net_bridge_name(h, n->id, br) < 0)
		return carve_err(err, -ENAMETOOLONG, "interface %u: link name", i->id);
	cleanup_close int fd = nl_open(h->netns_fd);
	if (fd < 0)
		return carve_err(err, fd, "tap '%s': netlink", tap);
	int br_idx = link_index(fd, br);
	if (br_idx < 0)
		return carve_err(err, br_idx, "tap '%s': bridge '%s'", tap, br);

	int idx = link_index(fd, tap);
	if (idx == -ENODEV) {
		/* A tun device belongs to the namespace of the task that opens /dev/net/tun. */
		int saved, r = netns_enter(h->netns_fd, &saved);
		if (r < 0)
			return carve_err(err, r, "tap '%s': enter host namespace", tap);
		cleanup_close int tfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
		strscpy(ifr.ifr_name, tap, sizeof(ifr.ifr_name));
		if (tfd < 0 || ioctl(tfd, TUNSETIFF, &ifr) < 0 ||
		    (i->tap_owner && (ioctl(tfd, TUNSETOWNER, (unsigned long)i->tap_owner) < 0 ||
				      ioctl(tfd, TUNSETGROUP, (unsigned long)i->tap_owner) < 0)) ||
		    ioctl(tfd, TUNSETPERSIST, 1) < 0)
			r = -errno;
		netns_leave(&saved);
		if (r < 0)
			return carve_err(err, r, "tap '%s': create", tap);
		idx = link_index(fd, tap);
	}
	if (idx < 0)
		return carve_err(err, idx, "tap '%s'", tap);
	/* The guest's MAC lives inside QEMU (-netdev tap + -device ...,mac=); the tap's own
	 * address only needs to differ from it. */
	struct nlreq q;
	struct ifinfomsg *ifi = req_init(&q, RTM_NEWLINK, 0, sizeof(*ifi));
	ifi->ifi_index = idx;
	uint8_t hmac[6] = {0xfe, i->mac[1], i->mac[2], i->mac[3], i->mac[4], i->mac[5]};
	attr_put(&q, IFLA_ADDRESS, hmac, 6);
	int r = nl_talk(fd, &q, NULL, NULL);
	if (r >= 0)
		r = link_set(fd, idx, true, (uint32_t)br_idx, n->mtu ? n->mtu : 1500);
	if (r < 0)
		return carve_err(err, r, "tap '%s': attach to '%s'", tap, br);
	return 0;
}

int net_link_delete(const struct net_host *h, const char *ifname, struct carve_error *err)
{
	cleanup_close int fd = nl_open(h->netns_fd);
	if (fd < 0)
		return carve_err(err, fd, "link '%s': netlink", ifname);
	int r = link_del(fd, ifname);
	if (r < 0)
		return carve_err(err, r, "link '%s': delete", ifname);
	return 0;
}

int net_link_exists(const struct net_host *h, const char *ifname)
{
	cleanup_close int fd = nl_open(h->netns_fd);
	if (fd < 0)
		return fd;
	int r = link_index(fd, ifname);
	return r == -ENODEV ? 0 : r < 0 ? r : 1;
}

struct list_ctx {
	const char *prefix;
	char **names;
	size_t n;
	int r;
};

/* Our names are <prefix><b|v|t><digits>. */
static bool ours(const char *prefix, const char *name)
{
	size_t pl = strlen(prefix);
	if (strncmp(name, prefix, pl) != 0 || !strchr("bvt", name[pl]) || !name[pl + 1])
		return false;
	for (const char *p = name + pl + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static void list_cb(struct nlmsghdr *nh, void *userdata)
{
	struct list_ctx *c = userdata;
	if (nh->nlmsg_type != RTM_NEWLINK || c->r < 0)
		return;
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = (int)IFLA_PAYLOAD(nh);
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != IFLA_IFNAME)
			continue;
		const char *name = RTA_DATA(a);
		if (!ours(c->prefix, name))
			return;
		char **v = realloc(c->names, (c->n + 2) * sizeof(char *));
		if (!v) {
			c->r = -ENOMEM;
			return;
		}
		c->names = v;
		c->names[c->n] = strdup(name);
		if (!c->names[c->n]) {
			c->r = -ENOMEM;
			return;
		}
		c->names[++c->n] = NULL;
	}
}

int net_links_list(const struct net_host *h, char ***ret, struct carve_error *err)
{
	cleanup_close int fd = nl_open(h->netns_fd);
	if (fd < 0)
		return carve_err(err, fd, "list links: netlink");
	struct nlreq q;
	struct ifinfomsg *ifi = req_init(&q, RTM_GETLINK, NLM_F_DUMP, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	struct list_ctx c = {.prefix = h->prefix};
	int r = nl_talk(fd, &q, list_cb, &c);
	if (r >= 0)
		r = c.r;
	if (r >= 0 && !c.names) {
		c.names = calloc(1, sizeof(char *));
		if (!c.names)
			r = -ENOMEM;
	}
	if (r < 0) {
		strv_free(c.names);
		return carve_err(err, r, "list links");
	}
	*ret = c.names;
	return 0;
}

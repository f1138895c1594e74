/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net: per-tenant private networks. A network is a Linux bridge with the gateway address, one
 * dnsmasq (DHCP + DNS for the tenant's servers) and its share of the nftables ruleset; a server
 * interface is a veth pair (containers: the peer lives in the container's netns as eth0) or a
 * persistent tap (VMs) enslaved to the bridge.
 *
 * Everything happens inside the "host" network namespace named by struct net_host (a real host,
 * or a namespace a test built), and every object carries the host's short prefix: bridges
 * "<prefix>b<network id>", host ends "<prefix>v<iface id>", taps "<prefix>t<iface id>", nftables
 * tables "inet <prefix>" and "bridge <prefix>". The caller (the daemon) owns the desired state
 * (struct net_state, from its database) and persists addresses; this module holds no state of
 * its own, so after a restart net_reconcile() makes the host match the state again.
 * Functions may be called from any thread: namespace switches are per thread and undone before
 * returning. Nothing here logs above debug.
 */
#ifndef CARVE_NET_H
#define CARVE_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define NET_PREFIX_MAX 7 /* so that "<prefix>v<id>" fits IFNAMSIZ with ids up to 99999999 */
#define NET_ID_MAX 99999999u
#define NET_ADDR_STRLEN 16 /* "255.255.255.255" */
#define NET_SUBNET_STRLEN 19 /* "255.255.255.255/32" */
#define NET_MAC_STRLEN 18

struct net_host {
	int netns_fd; /* the host network namespace; -EBADF: the calling thread's own */
	char prefix[16]; /* [a-z0-9], 1..NET_PREFIX_MAX characters, unique per carved instance */
	char uplink[IFNAMSIZ]; /* the interface towards the internet (masquerade, DNAT) */
	uint32_t uplink_addr; /* host byte order; the address published ports listen on */
	const char *const *mgmt_addrs; /* "a.b.c.d" or "a.b.c.d/len" servers may never reach */
	size_t n_mgmt_addrs;
	uint16_t api_port; /* dropped from servers on every host address (0: none) */
	const char *run_dir; /* dnsmasq files go in <run_dir>/<bridge>/ */
	const char *const *dns_upstream; /* dnsmasq upstream servers (none: no forwarding) */
	size_t n_dns_upstream;
};

/* Check prefix, uplink and run_dir. */
int net_host_validate(const struct net_host *h, struct carve_error *err);

/* ---- IPv4 subnets and addresses (pure) ---- */

struct net_subnet {
	uint32_t addr; /* host byte order, the network address (host bits zero) */
	uint8_t prefixlen;
};

int net_addr_parse(const char *s, uint32_t *ret);
void net_addr_format(uint32_t addr, char out[NET_ADDR_STRLEN]);
/* "10.1.2.0/24"; host bits set is an error (-EINVAL with a message naming the input). */
int net_subnet_parse(const char *s, struct net_subnet *ret, struct carve_error *err);
void net_subnet_format(const struct net_subnet *s, char out[NET_SUBNET_STRLEN]);
uint32_t net_subnet_mask(const struct net_subnet *s);
uint32_t net_subnet_broadcast(const struct net_subnet *s);
/* The gateway is the first host address (network + 1). */
uint32_t net_subnet_gateway(const struct net_subnet *s);
bool net_subnet_contains(const struct net_subnet *s, uint32_t addr);
bool net_subnets_overlap(const struct net_subnet *a, const struct net_subnet *b);
/* The first /prefixlen inside range that overlaps none of used[]; -ENOSPC when full. */
int net_subnet_allocate(const struct net_subnet *range, uint8_t prefixlen,
			const struct net_subnet *used, size_t n_used, struct net_subnet *ret);

/* A bitmap of one subnet's addresses. Network, gateway and broadcast are reserved at creation.
 * Subnets from /16 to /29. The caller persists what it allocates and replays it with reserve. */
struct net_ipam;
int net_ipam_new(const struct net_subnet *s, struct net_ipam **ret);
struct net_ipam *net_ipam_free(struct net_ipam *ipam);
/* -ERANGE outside the subnet, -EEXIST already taken (or reserved). */
int net_ipam_reserve(struct net_ipam *ipam, uint32_t addr);
/* The lowest free address; -ENOSPC when none. */
int net_ipam_allocate(struct net_ipam *ipam, uint32_t *ret);
int net_ipam_release(struct net_ipam *ipam, uint32_t addr);
size_t net_ipam_free_count(const struct net_ipam *ipam);

/* Deterministic, locally administered unicast MAC (02:xx:...) from a server id and an index. */
void net_mac_from_id(const char *server_id, unsigned index, uint8_t ret[6]);
int net_mac_parse(const char *s, uint8_t ret[6]);
void net_mac_format(const uint8_t mac[6], char out[NET_MAC_STRLEN]);

/* ---- Desired state ---- */

enum net_iface_kind {
	NET_IFACE_VETH,
	NET_IFACE_TAP,
	_NET_IFACE_KIND_MAX,
	_NET_IFACE_KIND_INVALID = -EINVAL,
};

struct net_network {
	uint32_t id; /* 1..NET_ID_MAX, unique per host; names the bridge */
	const char *name; /* for messages */
	struct net_subnet subnet;
	const char *domain; /* DNS domain of the tenant's servers, e.g. "acme.carve" */
	uint32_t mtu; /* 0: 1500 */
};

struct net_iface {
	uint32_t id; /* 1..NET_ID_MAX, unique per host; names the host-side link */
	uint32_t network_id;
	enum net_iface_kind kind;
	const char *hostname; /* DNS name in the network's domain (may be NULL) */
	uint8_t mac[6];
	uint32_t addr; /* always assigned by carve; with dhcp, handed out by dnsmasq */
	bool dhcp; /* false: net_veth_add configures addr and the default route inside */
	uint64_t rate_bps; /* bandwidth limit each way in bits/s, 0: none */
	uint32_t tap_owner; /* taps: uid and gid that may open it (QEMU's), 0: root only */
};

enum net_proto {
	NET_PROTO_TCP,
	NET_PROTO_UDP,
	_NET_PROTO_MAX,
	_NET_PROTO_INVALID = -EINVAL,
};

const char *net_proto_to_string(enum net_proto p);
enum net_proto net_proto_from_string(const char *s);

struct net_publish {
	enum net_proto proto;
	uint16_t public_port; /* on the uplink address */
	uint32_t addr; /* the server interface's address */
	uint16_t port;
	const char *owner; /* for the conflict message, e.g. the server's name */
};

struct net_state {
	const struct net_network *networks;
	size_t n_networks;
	const struct net_iface *ifaces;
	size_t n_ifaces;
	const struct net_publish *publishes;
	size_t n_publishes;
};

/* Check the state: ids, duplicate names/addresses/MACs, addresses inside their subnet and not the
 * gateway, overlapping subnets, published port conflicts. */
int net_state_validate(const struct net_host *h, const struct net_state *st,
		       struct carve_error *err);

/* Would publishing p conflict with existing[] or the API port? -EEXIST with
 * "tcp port 8080 is already published by 'web1'". */
int net_publish_check(const struct net_host *h, const struct net_publish *existing,
		      size_t n_existing, const struct net_publish *p, struct carve_error *err);

/* Link names ("cv1b7"); -ENAMETOOLONG if they would not fit. */
int net_bridge_name(const struct net_host *h, uint32_t network_id, char ret[IFNAMSIZ]);
int net_iface_name(const struct net_host *h, const struct net_iface *i, char ret[IFNAMSIZ]);

/* ---- Links (rtnetlink) ---- */

/* Turn on IPv4 forwarding in the host namespace (needed for masquerade and DNAT). */
int net_host_prepare(const struct net_host *h, struct carve_error *err);

/* Create the bridge if missing, give it the gateway address and bring it up. Idempotent. */
int net_bridge_ensure(const struct net_host *h, const struct net_network *n,
		      struct carve_error *err);
/* Create a veth pair: the host end on the bridge, the peer moved into ct_netns_fd and named
 * guest_ifname (NULL: "eth0") with the iface's MAC, lo and the peer up, and when !dhcp the
 * address and a default route through the gateway. Replaces a stale host end of the same name. */
int net_veth_add(const struct net_host *h, const struct net_network *n, const struct net_iface *i,
		 int ct_netns_fd, const char *guest_ifname, struct carve_error *err);
/* Create a persistent tap on the bridge (for QEMU's ifname=...,script=no), up, owned by
 * i->tap_owner (so an unprivileged QEMU may open it). Idempotent. */
int net_tap_add(const struct net_host *h, const struct net_network *n, const struct net_iface *i,
		struct carve_error *err);
/* Delete a link by name; a missing link is success. */
int net_link_delete(const struct net_host *h, const char *ifname, struct carve_error *err);
/* Names of the links in the host namespace that carry the prefix (NULL-terminated strv). */
int net_links_list(const struct net_host *h, char ***ret, struct carve_error *err);
/* Is the link present in the host namespace? 1 yes, 0 no, <0 error. */
int net_link_exists(const struct net_host *h, const char *ifname);

/* ---- Bandwidth (tc) ---- */

/* Limit what the server receives on this interface to rate_bps (tbf on the host end's egress);
 * 0 removes the limit. What it sends is limited by the ruleset (struct net_iface.rate_bps, an
 * nftables limit on its port), so a rate change is this call plus net_firewall_apply(). */
int net_iface_set_rate(const struct net_host *h, const char *ifname, uint64_t rate_bps,
		       struct carve_error *err);

/* ---- dnsmasq (one per network) ---- */

/* The configuration and hosts file texts (pure; heap strings). */
int net_dnsmasq_config(const struct net_host *h, const struct net_network *n, char **ret);
int net_dnsmasq_hosts(const struct net_host *h, const struct net_network *n,
		      const struct net_iface *ifaces, size_t n_ifaces, char **ret_dhcp_hosts,
		      char **ret_dns_hosts);
/* Write config and hosts files under <run_dir>/<bridge>/ (only this network's ifaces are used). */
int net_dnsmasq_write(const struct net_host *h, const struct net_network *n,
		      const struct net_iface *ifaces, size_t n_ifaces, struct carve_error *err);
/* Start dnsmasq in the host namespace (it daemonizes; returns once it serves); no-op if running. */
int net_dnsmasq_start(const struct net_host *h, const struct net_network *n,
		      struct carve_error *err);
/* Re-read the hosts files (SIGHUP). */
int net_dnsmasq_reload(const struct net_host *h, uint32_t network_id, struct carve_error *err);
/* Stop it (SIGTERM, then SIGKILL after 2 s) and remove its directory. Missing is success. */
int net_dnsmasq_stop(const struct net_host *h, uint32_t network_id, struct carve_error *err);
/* The pid of the running dnsmasq of that network; -ESRCH when not running. */
int net_dnsmasq_pid(const struct net_host *h, uint32_t network_id, pid_t *ret);
/* Network ids that have a dnsmasq directory under run_dir (running or not), sorted. */
int net_dnsmasq_list(const struct net_host *h, uint32_t **ret, size_t *ret_n);

/* ---- nftables ---- */

struct net_counter {
	char name[64];
	uint64_t packets;
	uint64_t bytes;
};

/* The whole ruleset (both tables) for st, replacing the old tables atomically, named counters
 * starting from carry[] where names match (pure; heap string). Counters:
 *   in_<ifname>, out_<ifname>   per server interface (in = towards the server)
 *   spoof_<ifname>              frames dropped by anti-spoofing on that port
 *   drop_<bridge>               packets dropped by isolation for that network */
int net_ruleset_generate(const struct net_host *h, const struct net_state *st,
			 const struct net_counter *carry, size_t n_carry, char **ret);
/* Read the counters, generate, apply with `nft -f -`. */
int net_firewall_apply(const struct net_host *h, const struct net_state *st,
		       struct carve_error *err);
/* Delete both tables; missing is success. */
int net_firewall_remove(const struct net_host *h, struct carve_error *err);
/* All named counters of both tables (heap array). */
int net_counters_read(const struct net_host *h, struct net_counter **ret, size_t *ret_n,
		      struct carve_error *err);
/* Parse the output of `nft -j list counters` (pure; appends to *ret). */
int net_counters_parse_json(const char *json, struct net_counter **ret, size_t *ret_n);

struct net_iface_stats {
	uint64_t in_bytes, in_packets; /* towards the server */
	uint64_t out_bytes, out_packets; /* from the server */
};
int net_iface_stats(const struct net_host *h, const char *ifname, struct net_iface_stats *ret,
		    struct carve_error *err);

/* ---- Reconcile ---- */

/* Make the host match st: forwarding on, bridges created, links carrying the prefix that st
 * does not name deleted (veths of running containers are the caller's to re-add: they need the
 * container's netns; missing taps are created), dnsmasq configs rewritten, missing ones started,
 * stray ones stopped, firewall applied, rates set. */
int net_reconcile(const struct net_host *h, const struct net_state *st, struct carve_error *err);
/* Remove everything with the prefix: links, dnsmasq processes and directories, tables. */
int net_teardown(const struct net_host *h, struct carve_error *err);

#endif

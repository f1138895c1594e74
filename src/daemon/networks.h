/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carved's side of networking: the host configuration (uplink, provider range, public address)
 * and the glue between the database (networks, nics, ports, bandwidth) and src/net, which is
 * stateless. Every change is written to the database first, then daemon_net_sync() turns the
 * whole database into a struct net_state and lets net_reconcile() make the host match it
 * (bridges, dnsmasq per network, one nftables table pair, tc). The same call repairs the host
 * after a crash of carved, at start-up.
 *
 * Container interfaces: carved adds the veth pairs itself once the monitor reports the
 * container's init pid (monitor_launch), through /proc/<init>/ns/net: the monitor stays free of
 * networking, and reconcile re-adds a running container's missing link the same way. Inside,
 * eth<N> therefore appears a few milliseconds after init starts, like a hot-plugged NIC.
 *
 * VM interfaces are persistent taps owned by the VM's QEMU uid, on the bridge whether the VM
 * runs or not; the monitor passes them to QEMU (-netdev tap,ifname=...,script=no).
 *
 * All functions take one mutex, so syncs, address allocation and veth additions never
 * interleave. Networking is disabled (every call answers 503) when carved has no --uplink.
 */
#ifndef CARVE_DAEMON_NETWORKS_H
#define CARVE_DAEMON_NETWORKS_H

#include <jansson.h>

#include "daemon/daemon.h"
#include "net/net.h"

struct daemon_net {
	bool enabled;
	pthread_mutex_t lock;
	struct net_host host;
	struct net_subnet range;
	unsigned subnet_prefixlen;
	unsigned max_ports;
	char run_dir[PATH_MAX];
	char public_addr[NET_ADDR_STRLEN];
	char dns[NET_ADDR_STRLEN];
	const char *dns_list[1];
	char (*mgmt)[NET_SUBNET_STRLEN];
	const char **mgmt_list;
};

struct daemon_net_config {
	const char *uplink; /* NULL or "": networking disabled */
	const char *range; /* provider range tenant subnets are allocated from */
	unsigned subnet_prefixlen; /* size of an allocated subnet */
	const char *public_addr; /* NULL: the uplink's first IPv4 address */
	const char *prefix; /* host link and nftables names */
	const char *dns_upstream; /* NULL: none */
	unsigned max_ports; /* published ports per tenant */
	uint16_t api_port;
};

/* Set up and reconcile the host with the database (after servers_reconcile). */
int daemon_net_open(struct daemon *d, const struct daemon_net_config *cfg, struct carve_error *err);
void daemon_net_close(struct daemon *d);
/* -ESHUTDOWN (503) naming --uplink when networking is disabled. */
int daemon_net_check(struct daemon *d, struct carve_error *err);
/* Make the host match the database. */
int daemon_net_sync(struct daemon *d, struct carve_error *err);

/* The host-side link of a nic ("cvv12"). */
void daemon_net_nic_ifname(struct daemon *d, const struct db_nic *n, char ret[IFNAMSIZ]);
/* Allocate an address on network net for a new nic of server s at idx (ip NULL: the lowest
 * free one), record it, sync. */
int daemon_net_nic_add(struct daemon *d, const struct db_server *s, const struct db_network *net,
		       uint32_t idx, const char *ip, bool dhcp, struct db_nic *ret,
		       struct carve_error *err);
/* JSON of a nic with its counters (counters: from net_counters_read, may be NULL). */
json_t *daemon_net_nic_json(struct daemon *d, const struct db_nic *n,
			    const struct net_counter *counters, size_t n_counters);

/* A VM's taps and guest MACs for the monitor (QEMU -netdev tap); the taps exist on return. */
struct daemon_vm_nics {
	char ifname[8][IFNAMSIZ];
	char mac[8][NET_MAC_STRLEN];
	const char *ifnames[8];
	const char *macs[8];
	size_t n;
};
int daemon_net_vm_nics(struct daemon *d, const char *server_id, struct daemon_vm_nics *ret,
		       struct carve_error *err);

/* Does the server configure an interface itself (DHCP)? Then its init keeps CAP_NET_ADMIN. */
bool daemon_net_server_configures(struct daemon *d, const char *server_id);

/* servers.c hooks. A container server's init runs: add its veths. */
int daemon_net_server_started(struct daemon *d, const char *server_id, pid_t init_pid,
			      struct carve_error *err);
/* A server row is gone (its nics and ports cascaded): remove what was left on the host. */
void daemon_net_server_deleted(struct daemon *d);

/* Server create: "networks": [{"network": N, "ip": A, "dhcp": B}, ...] on the new server. */
int daemon_net_server_nics(struct daemon *d, const struct db_server *s, json_t *networks,
			   struct carve_error *err);
/* Server patch: "bandwidth" (bits/s, or "100M"; 0 removes it). */
int daemon_net_set_bandwidth(struct daemon *d, const struct db_server *s, json_t *value,
			     struct carve_error *err);
/* Add "interfaces" and "bandwidth" to a server's JSON. */
void daemon_net_server_json(struct daemon *d, const struct db_server *s, json_t *j);

#endif

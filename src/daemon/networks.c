/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "networks"
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/networks.h"

#define NICS_PER_SERVER_MAX 8
#define BANDWIDTH_MIN 100000ULL /* 100 kbit/s */
#define BANDWIDTH_MAX 100000000000ULL /* 100 Gbit/s */

/* The desired state built from the database, with the strings it points to. */
struct built {
	struct db_network *dbn;
	size_t n_dbn;
	struct db_nic *dbi;
	size_t n_dbi;
	struct db_port *dbp;
	size_t n_dbp;
	struct net_network *nets;
	char (*domains)[80];
	struct net_iface *ifs;
	char (*hostnames)[64];
	uint8_t *running; /* per nic: its container runs, with this init pid */
	pid_t *pids;
	struct net_publish *pubs;
	char (*owners)[64];
	size_t n_pubs;
	struct net_state st;
};

static void built_release(struct built *b)
{
	free(b->dbn);
	free(b->dbi);
	free(b->dbp);
	free(b->nets);
	free(b->domains);
	free(b->ifs);
	free(b->hostnames);
	free(b->running);
	free(b->pids);
	free(b->pubs);
	free(b->owners);
	*b = (struct built){0};
}

static int build(struct daemon *d, struct built *b, struct carve_error *err)
{
	int r;

	r = db_network_list(d->db, NULL, &b->dbn, &b->n_dbn, err);
	if (r >= 0)
		r = db_nic_list(d->db, NULL, 0, &b->dbi, &b->n_dbi, err);
	if (r >= 0)
		r = db_port_list(d->db, NULL, NULL, &b->dbp, &b->n_dbp, err);
	if (r < 0)
		return r;
	b->nets = calloc(b->n_dbn + 1, sizeof(*b->nets));
	b->domains = calloc(b->n_dbn + 1, sizeof(*b->domains));
	b->ifs = calloc(b->n_dbi + 1, sizeof(*b->ifs));
	b->hostnames = calloc(b->n_dbi + 1, sizeof(*b->hostnames));
	b->running = calloc(b->n_dbi + 1, sizeof(*b->running));
	b->pids = calloc(b->n_dbi + 1, sizeof(*b->pids));
	b->pubs = calloc(b->n_dbp + 1, sizeof(*b->pubs));
	b->owners = calloc(b->n_dbp + 1, sizeof(*b->owners));
	if (!b->nets || !b->domains || !b->ifs || !b->hostnames || !b->running || !b->pids ||
	    !b->pubs || !b->owners)
		return carve_err(err, -ENOMEM, "network state");
	for (size_t i = 0; i < b->n_dbn; i++) {
		cleanup(db_tenant_freep) struct db_tenant *t = NULL;
		struct net_network *n = &b->nets[i];

		n->id = b->dbn[i].id;
		n->name = b->dbn[i].name;
		r = net_subnet_parse(b->dbn[i].subnet, &n->subnet, err);
		if (r < 0)
			return carve_err_prefix(err, "network '%s'", n->name);
		if (db_tenant_get_by_id(d->db, b->dbn[i].tenant_id, &t, NULL) >= 0) {
			snprintf(b->domains[i], sizeof(b->domains[i]), "%s.carve", t->name);
			n->domain = b->domains[i];
		}
	}
	for (size_t i = 0; i < b->n_dbi; i++) {
		cleanup(db_server_freep) struct db_server *s = NULL;
		struct net_iface *f = &b->ifs[i];
		uint64_t rate = 0;

		f->id = b->dbi[i].id;
		f->network_id = b->dbi[i].network_id;
		f->kind = NET_IFACE_VETH;
		f->dhcp = b->dbi[i].dhcp;
		if (net_mac_parse(b->dbi[i].mac, f->mac) < 0 ||
		    net_addr_parse(b->dbi[i].addr, &f->addr) < 0)
			return carve_err(err, -EINVAL,
					 "interface %u: bad MAC or address in the "
					 "database",
					 f->id);
		if (db_server_get_by_id(d->db, b->dbi[i].server_id, &s, NULL) >= 0) {
			/* VMs get taps owned by their QEMU's own uid */
			if (streq(s->kind, "vm")) {
				f->kind = NET_IFACE_TAP;
				f->tap_owner = daemon_vm_uid(d, s);
			}
			/* DNS names: only the first interface of a server on a network */
			bool first = true;
			for (size_t j = 0; j < i; j++)
				if (b->dbi[j].network_id == f->network_id &&
				    streq(b->dbi[j].server_id, s->id))
					first = false;
			if (first && strlen(s->name) < sizeof(b->hostnames[i])) {
				strscpy(b->hostnames[i], s->name, sizeof(b->hostnames[i]));
				f->hostname = b->hostnames[i];
			}
			if ((s->state == DB_SERVER_RUNNING || s->state == DB_SERVER_PAUSED) &&
			    s->pid > 0 && f->kind == NET_IFACE_VETH) {
				b->running[i] = 1;
				b->pids[i] = (pid_t)s->pid;
			}
		}
		(void)db_server_bandwidth_get(d->db, b->dbi[i].server_id, &rate, NULL);
		f->rate_bps = rate;
	}
	for (size_t i = 0; i < b->n_dbp; i++) {
		cleanup(db_server_freep) struct db_server *s = NULL;
		struct net_publish *p = &b->pubs[b->n_pubs];
		bool found = false;

		for (size_t j = 0; j < b->n_dbi && !found; j++)
			if (b->dbi[j].id == b->dbp[i].nic_id) {
				p->addr = b->ifs[j].addr;
				found = true;
			}
		if (!found)
			continue;
		p->proto = net_proto_from_string(b->dbp[i].protocol);
		if ((int)p->proto < 0)
			continue;
		p->public_port = (uint16_t)b->dbp[i].public_port;
		p->port = (uint16_t)b->dbp[i].port;
		if (db_server_get_by_id(d->db, b->dbp[i].server_id, &s, NULL) >= 0)
			strscpy(b->owners[b->n_pubs], s->name, sizeof(b->owners[0]));
		p->owner = b->owners[b->n_pubs];
		b->n_pubs++;
	}
	b->st = (struct net_state){
		.networks = b->nets,
		.n_networks = b->n_dbn,
		.ifaces = b->ifs,
		.n_ifaces = b->n_dbi,
		.publishes = b->pubs,
		.n_publishes = b->n_pubs,
	};
	return 0;
}

static const struct net_network *network_of(const struct built *b, uint32_t id)
{
	for (size_t i = 0; i < b->n_dbn; i++)
		if (b->nets[i].id == id)
			return &b->nets[i];
	return NULL;
}

/* Add the veth of nic i (of a running container) into the container's netns. */
static int add_veth(struct daemon *d, const struct built *b, size_t i, pid_t pid,
		    struct carve_error *err)
{
	const struct net_network *n = network_of(b, b->ifs[i].network_id);
	char path[64], guest[IFNAMSIZ], ifn[IFNAMSIZ];
	cleanup_close int fd = -EBADF;
	int r;

	if (!n)
		return carve_err(err, -ENOENT, "interface %u: network gone", b->ifs[i].id);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return carve_err(err, -errno, "open '%s'", path);
	snprintf(guest, sizeof(guest), "eth%u", b->dbi[i].idx);
	r = net_veth_add(&d->net->host, n, &b->ifs[i], fd, guest, err);
	if (r < 0)
		return r;
	(void)net_iface_name(&d->net->host, &b->ifs[i], ifn);
	return net_iface_set_rate(&d->net->host, ifn, b->ifs[i].rate_bps, err);
}

static int sync_locked(struct daemon *d, struct carve_error *err)
{
	struct built b = {0};
	int r;

	r = build(d, &b, err);
	if (r >= 0)
		r = net_reconcile(&d->net->host, &b.st, err);
	/* a running container whose host link is gone (crash, manual delete) gets it back */
	for (size_t i = 0; r >= 0 && i < b.n_dbi; i++) {
		char ifn[IFNAMSIZ];
		if (!b.running[i])
			continue;
		(void)net_iface_name(&d->net->host, &b.ifs[i], ifn);
		if (net_link_exists(&d->net->host, ifn) > 0)
			continue;
		log_info("network: re-adding interface '%s' of a running container", ifn);
		struct carve_error e2 = CARVE_ERROR_INIT;
		if (add_veth(d, &b, i, b.pids[i], &e2) < 0)
			log_warning("network: interface '%s': %s", ifn, e2.msg);
	}
	built_release(&b);
	return r;
}

int daemon_net_check(struct daemon *d, struct carve_error *err)
{
	if (d->net && d->net->enabled)
		return 0;
	return carve_err(err, -ESHUTDOWN,
			 "networking is disabled on this host: carved runs without --uplink");
}

int daemon_net_sync(struct daemon *d, struct carve_error *err)
{
	int r = daemon_net_check(d, err);

	if (r < 0)
		return r;
	pthread_mutex_lock(&d->net->lock);
	r = sync_locked(d, err);
	pthread_mutex_unlock(&d->net->lock);
	if (r < 0)
		carve_err_prefix(err, "network");
	return r;
}

int daemon_net_server_started(struct daemon *d, const char *server_id, pid_t init_pid,
			      struct carve_error *err)
{
	struct built b = {0};
	int r = 0;

	if (!d->net || !d->net->enabled)
		return 0;
	pthread_mutex_lock(&d->net->lock);
	r = build(d, &b, err);
	for (size_t i = 0; r >= 0 && i < b.n_dbi; i++)
		if (streq(b.dbi[i].server_id, server_id))
			r = add_veth(d, &b, i, init_pid, err);
	pthread_mutex_unlock(&d->net->lock);
	built_release(&b);
	return r;
}

int daemon_net_vm_nics(struct daemon *d, const char *server_id, struct daemon_vm_nics *ret,
		       struct carve_error *err)
{
	struct db_nic *l = NULL;
	size_t n = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!d->net || !d->net->enabled)
		return 0;
	r = db_nic_list(d->db, server_id, 0, &l, &n, err);
	if (r < 0)
		return r;
	/* the taps exist after any sync; one more makes sure after a manual delete */
	if (n > 0)
		r = daemon_net_sync(d, err);
	for (size_t i = 0; r >= 0 && i < n && i < ELEMENTSOF(ret->ifname); i++) {
		daemon_net_nic_ifname(d, &l[i], ret->ifname[i]);
		strscpy(ret->mac[i], l[i].mac, sizeof(ret->mac[i]));
		ret->ifnames[i] = ret->ifname[i];
		ret->macs[i] = ret->mac[i];
		ret->n = i + 1;
	}
	free(l);
	return r;
}

bool daemon_net_server_configures(struct daemon *d, const char *server_id)
{
	struct db_nic *l = NULL;
	size_t n = 0;
	bool dhcp = false;

	if (!d->net || !d->net->enabled || db_nic_list(d->db, server_id, 0, &l, &n, NULL) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		dhcp = dhcp || l[i].dhcp;
	free(l);
	return dhcp;
}

void daemon_net_server_deleted(struct daemon *d)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (d->net && d->net->enabled && daemon_net_sync(d, &err) < 0)
		log_warning("%s", err.msg);
}

void daemon_net_nic_ifname(struct daemon *d, const struct db_nic *n, char ret[IFNAMSIZ])
{
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct net_iface f = {.id = n->id, .kind = NET_IFACE_VETH};

	ret[0] = '\0';
	if (db_server_get_by_id(d->db, n->server_id, &s, NULL) >= 0 && streq(s->kind, "vm"))
		f.kind = NET_IFACE_TAP;
	if (d->net && d->net->host.prefix[0])
		(void)net_iface_name(&d->net->host, &f, ret);
}

int daemon_net_nic_add(struct daemon *d, const struct db_server *s, const struct db_network *net,
		       uint32_t idx, const char *ip, bool dhcp, struct db_nic *ret,
		       struct carve_error *err)
{
	struct net_ipam *ipam = NULL;
	struct net_subnet sn;
	struct db_nic *l = NULL, nic = {0};
	uint8_t mac[6];
	uint32_t addr = 0;
	size_t n = 0;
	int r;

	r = daemon_net_check(d, err);
	if (r < 0)
		return r;
	if (!streq(net->tenant_id, s->tenant_id))
		return carve_err_field(err, -ENOENT, "network", "network '%s' not found",
				       net->name);
	if (ip && net_addr_parse(ip, &addr) < 0)
		return carve_err_field(err, -EINVAL, "ip",
				       "server '%s': ip '%.32s': not an IPv4 "
				       "address",
				       s->name, ip);
	r = net_subnet_parse(net->subnet, &sn, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&d->net->lock);
	r = db_nic_list(d->db, NULL, net->id, &l, &n, err);
	if (r < 0)
		goto out;
	r = net_ipam_new(&sn, &ipam);
	if (r < 0) {
		carve_err(err, r, "network '%s': address map", net->name);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t a;
		if (net_addr_parse(l[i].addr, &a) >= 0)
			(void)net_ipam_reserve(ipam, a);
	}
	if (ip) {
		r = net_ipam_reserve(ipam, addr);
		if (r == -ERANGE)
			r = carve_err_field(err, -EINVAL, "ip",
					    "server '%s': ip '%s': not inside network '%s' (%s)",
					    s->name, ip, net->name, net->subnet);
		else if (r == -EEXIST)
			r = carve_err_field(err, -EEXIST, "ip",
					    "server '%s': ip '%s': already in use or reserved on "
					    "network '%s'",
					    s->name, ip, net->name);
	} else {
		r = net_ipam_allocate(ipam, &addr);
		if (r == -ENOSPC)
			carve_err_field(err, -ENOSPC, "network", "network '%s' (%s) is full",
					net->name, net->subnet);
	}
	if (r < 0)
		goto out;
	net_mac_from_id(s->id, idx, mac);
	net_mac_format(mac, nic.mac);
	net_addr_format(addr, nic.addr);
	strscpy(nic.server_id, s->id, sizeof(nic.server_id));
	nic.network_id = net->id;
	nic.idx = idx;
	nic.dhcp = dhcp;
	r = db_nic_create(d->db, &nic, err);
	if (r < 0)
		goto out;
	r = sync_locked(d, err);
	if (r < 0) {
		struct carve_error e2 = CARVE_ERROR_INIT;
		(void)db_nic_delete(d->db, nic.id, NULL);
		if (sync_locked(d, &e2) < 0)
			log_warning("network: %s", e2.msg);
		goto out;
	}
	if (ret)
		*ret = nic;
out:
	pthread_mutex_unlock(&d->net->lock);
	net_ipam_free(ipam);
	free(l);
	return r;
}

int daemon_net_server_nics(struct daemon *d, const struct db_server *s, json_t *networks,
			   struct carve_error *err)
{
	static const char *const allowed[] = {"network", "ip", "dhcp", NULL};
	size_t idx;
	json_t *item;
	int r;

	if (!networks || json_is_null(networks))
		return 0;
	if (!json_is_array(networks) || json_array_size(networks) > NICS_PER_SERVER_MAX)
		return carve_err_field(err, -EINVAL, "networks",
				       "server '%s': networks: a list of at most %d objects like "
				       "{\"network\": \"lan\", \"ip\": \"10.0.0.5\", \"dhcp\": "
				       "false}",
				       s->name, NICS_PER_SERVER_MAX);
	if (json_array_size(networks) > 0) {
		r = daemon_net_check(d, err);
		if (r < 0)
			return r;
	}
	json_array_foreach (networks, idx, item) {
		const char *name = NULL, *ip = NULL, *key;
		struct db_network net;
		bool dhcp = false;
		json_t *v;

		if (!json_is_object(item))
			return carve_err_field(err, -EINVAL, "networks",
					       "server '%s': networks[%zu]: not an object", s->name,
					       idx);
		json_object_foreach (item, key, v) {
			bool ok = false;
			for (size_t k = 0; allowed[k]; k++)
				ok = ok || streq(allowed[k], key);
			if (!ok)
				return carve_err_field(err, -EINVAL, "networks",
						       "server '%s': networks[%zu]: unknown field "
						       "'%.32s'",
						       s->name, idx, key);
		}
		if (json_get_string(item, "network", true, CARVE_NAME_MAX + 1, &name, err) < 0 ||
		    json_get_string(item, "ip", false, 32, &ip, err) < 0 ||
		    json_get_bool(item, "dhcp", false, &dhcp, err) < 0) {
			strscpy(err->field, "networks", sizeof(err->field));
			return carve_err_prefix(err, "server '%s': networks[%zu]", s->name, idx);
		}
		if (!name_is_valid(name) ||
		    db_network_get_by_name(d->db, s->tenant_id, name, &net, NULL) < 0)
			return carve_err_field(err, -ENOENT, "networks",
					       "server '%s': network '%.64s' not found", s->name,
					       name);
		r = daemon_net_nic_add(d, s, &net, (uint32_t)idx, ip, dhcp, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "100M", "1G" (bits/s, SI), or an integer of bits/s; 0 or "0" removes the limit. */
static int parse_rate(json_t *v, uint64_t *ret)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	const char *s = json_string_value(v);
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	uint64_t mul = 1;
	if (*end == 'k' || *end == 'K')
		mul = 1000ULL, end++;
	else if (*end == 'M')
		mul = 1000000ULL, end++;
	else if (*end == 'G')
		mul = 1000000000ULL, end++;
	if (*end != '\0' || x > UINT64_MAX / mul)
		return -EINVAL;
	*ret = x * mul;
	return 0;
}

int daemon_net_set_bandwidth(struct daemon *d, const struct db_server *s, json_t *value,
			     struct carve_error *err)
{
	uint64_t rate = 0;
	int r;

	if (parse_rate(value, &rate) < 0 ||
	    (rate && (rate < BANDWIDTH_MIN || rate > BANDWIDTH_MAX)))
		return carve_err_field(err, -EINVAL, "bandwidth",
				       "server '%s': bandwidth: bits per second from 100k to 100G "
				       "(e.g. \"50M\"), or 0 for no limit",
				       s->name);
	r = db_server_bandwidth_set(d->db, s->id, rate, err);
	if (r < 0)
		return r;
	if (d->net && d->net->enabled)
		return daemon_net_sync(d, err);
	return 0;
}

json_t *daemon_net_nic_json(struct daemon *d, const struct db_nic *n,
			    const struct net_counter *counters, size_t n_counters)
{
	struct db_network net = {0};
	char ifn[IFNAMSIZ], name[16], in[64], out[64], spoof[64];
	uint64_t spoofed = 0;
	json_t *j, *c = json_null();
	int found = 0;
	struct net_iface_stats st = {0};

	(void)db_network_get_by_id(d->db, n->network_id, &net, NULL);
	daemon_net_nic_ifname(d, n, ifn);
	snprintf(name, sizeof(name), "eth%u", n->idx);
	snprintf(in, sizeof(in), "in_%s", ifn);
	snprintf(out, sizeof(out), "out_%s", ifn);
	snprintf(spoof, sizeof(spoof), "spoof_%s", ifn);
	for (size_t i = 0; i < n_counters; i++) {
		if (streq(counters[i].name, in)) {
			st.in_bytes = counters[i].bytes;
			st.in_packets = counters[i].packets;
			found++;
		} else if (streq(counters[i].name, out)) {
			st.out_bytes = counters[i].bytes;
			st.out_packets = counters[i].packets;
			found++;
		} else if (streq(counters[i].name, spoof))
			spoofed = counters[i].packets;
	}
	if (found == 2)
		c = json_pack("{s:I, s:I, s:I, s:I, s:I}", "in_bytes", (json_int_t)st.in_bytes,
			      "in_packets", (json_int_t)st.in_packets, "out_bytes",
			      (json_int_t)st.out_bytes, "out_packets", (json_int_t)st.out_packets,
			      "spoofed_packets", (json_int_t)spoofed);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "name", name, "network", net.name,
		      "mac", n->mac, "address", n->addr, "mode", n->dhcp ? "dhcp" : "static",
		      "host_interface", ifn, "counters", c ? c : json_null());
	return j;
}

void daemon_net_server_json(struct daemon *d, const struct db_server *s, json_t *j)
{
	struct db_nic *l = NULL;
	uint64_t rate = 0;
	size_t n = 0;
	json_t *arr = json_array();

	if (!j || !arr) {
		json_decref(arr);
		return;
	}
	if (db_nic_list(d->db, s->id, 0, &l, &n, NULL) >= 0)
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, daemon_net_nic_json(d, &l[i], NULL, 0));
	free(l);
	json_object_set_new(j, "interfaces", arr);
	(void)db_server_bandwidth_get(d->db, s->id, &rate, NULL);
	json_object_set_new(j, "bandwidth", rate ? json_integer((json_int_t)rate) : json_null());
}

/* The IPv4 addresses of the host outside carve's own bridges: servers never reach them. */
static int collect_mgmt(struct daemon_net *dn)
{
	struct ifaddrs *ifa = NULL;
	size_t n = 0;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
		n += i->ifa_addr && i->ifa_addr->sa_family == AF_INET;
	dn->mgmt = calloc(n + 1, sizeof(*dn->mgmt));
	dn->mgmt_list = calloc(n + 1, sizeof(*dn->mgmt_list));
	if (!dn->mgmt || !dn->mgmt_list) {
		freeifaddrs(ifa);
		return -ENOMEM;
	}
	n = 0;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    startswith(i->ifa_name, dn->host.prefix))
			continue;
		uint32_t a = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
		bool dup = false;
		net_addr_format(a, dn->mgmt[n]);
		for (size_t k = 0; k < n; k++)
			dup = dup || streq(dn->mgmt[k], dn->mgmt[n]);
		if (dup)
			continue;
		dn->mgmt_list[n] = dn->mgmt[n];
		n++;
	}
	freeifaddrs(ifa);
	dn->host.mgmt_addrs = dn->mgmt_list;
	dn->host.n_mgmt_addrs = n;
	return 0;
}

/* The first IPv4 address of ifname; -ENOENT when it has none, -ENODEV when it is missing. */
static int uplink_address(const char *ifname, uint32_t *ret)
{
	struct ifaddrs *ifa = NULL;
	bool seen = false;
	int r = -ENOENT;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!streq(i->ifa_name, ifname))
			continue;
		seen = true;
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && r < 0) {
			*ret = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
			r = 0;
		}
	}
	freeifaddrs(ifa);
	return seen ? r : -ENODEV;
}

int daemon_net_open(struct daemon *d, const struct daemon_net_config *cfg, struct carve_error *err)
{
	struct daemon_net *dn = calloc(1, sizeof(*dn));
	int r;

	if (!dn)
		return carve_err(err, -ENOMEM, "network");
	pthread_mutex_init(&dn->lock, NULL);
	d->net = dn;
	if (!cfg->uplink || !cfg->uplink[0]) {
		struct db_network *l = NULL;
		size_t n = 0;
		if (db_network_list(d->db, NULL, &l, &n, NULL) >= 0 && n > 0)
			log_warning(
				"networking is disabled (no --uplink) but the database holds %zu "
				"networks: their servers start without interfaces",
				n);
		free(l);
		return 0;
	}
	dn->host.netns_fd = -EBADF;
	if (strscpy(dn->host.prefix, cfg->prefix, sizeof(dn->host.prefix)) < 0 ||
	    strscpy(dn->host.uplink, cfg->uplink, sizeof(dn->host.uplink)) < 0)
		return carve_err_field(err, -EINVAL, "uplink", "--uplink or --net-prefix too long");
	snprintf(dn->run_dir, sizeof(dn->run_dir), "%s/net", d->run_dir);
	dn->host.run_dir = dn->run_dir;
	dn->host.api_port = cfg->api_port;
	dn->max_ports = cfg->max_ports;
	dn->subnet_prefixlen = cfg->subnet_prefixlen;
	r = net_subnet_parse(cfg->range, &dn->range, err);
	if (r < 0)
		return carve_err_prefix(err, "--network-range");
	if (dn->range.prefixlen > dn->subnet_prefixlen || dn->subnet_prefixlen < 16 ||
	    dn->subnet_prefixlen > 29)
		return carve_err(err, -EINVAL,
				 "--subnet-size /%u: must be /16 to /29 and inside --network-range "
				 "%s",
				 dn->subnet_prefixlen, cfg->range);
	if (cfg->public_addr) {
		if (net_addr_parse(cfg->public_addr, &dn->host.uplink_addr) < 0)
			return carve_err(err, -EINVAL, "--public-address '%s': not an IPv4 address",
					 cfg->public_addr);
		r = uplink_address(cfg->uplink, &(uint32_t){0});
	} else
		r = uplink_address(cfg->uplink, &dn->host.uplink_addr);
	if (r == -ENODEV)
		return carve_err(err, r, "--uplink '%s': no such interface", cfg->uplink);
	if (r < 0 && !cfg->public_addr)
		return carve_err(err, r, "--uplink '%s' has no IPv4 address: give --public-address",
				 cfg->uplink);
	net_addr_format(dn->host.uplink_addr, dn->public_addr);
	if (cfg->dns_upstream) {
		uint32_t a;
		if (net_addr_parse(cfg->dns_upstream, &a) < 0)
			return carve_err(err, -EINVAL, "--dns-upstream '%s': not an IPv4 address",
					 cfg->dns_upstream);
		strscpy(dn->dns, cfg->dns_upstream, sizeof(dn->dns));
		dn->dns_list[0] = dn->dns;
		dn->host.dns_upstream = dn->dns_list;
		dn->host.n_dns_upstream = 1;
	}
	r = collect_mgmt(dn);
	if (r < 0)
		return carve_err(err, r, "host addresses");
	r = net_host_validate(&dn->host, err);
	if (r < 0)
		return r;
	dn->enabled = true;
	/* A host that cannot be made to match now (a tool missing, a link busy) is reported, and
	 * the next change retries: carved still serves, so servers can be managed. */
	pthread_mutex_lock(&dn->lock);
	r = sync_locked(d, err);
	pthread_mutex_unlock(&dn->lock);
	if (r < 0) {
		log_error("network reconcile: %s", err->msg);
		carve_err_clear(err);
	}
	log_info("networking on uplink '%s', public address %s, tenant subnets from %s",
		 cfg->uplink, dn->public_addr, cfg->range);
	return 0;
}

void daemon_net_close(struct daemon *d)
{
	if (!d->net)
		return;
	pthread_mutex_destroy(&d->net->lock);
	free(d->net->mgmt);
	free(d->net->mgmt_list);
	free(d->net);
	d->net = NULL;
}

unsigned daemon_tenant_max_ports(const struct daemon *d, const struct db_tenant *t)
{
	if (t->max_ports >= 0)
		return (unsigned)t->max_ports;
	return d->net ? d->net->max_ports : 0;
}

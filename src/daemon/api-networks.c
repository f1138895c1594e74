/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Networks, server interfaces and published ports (networks.read / networks.write). Each change
 * is recorded in the database, then networks.c makes the host match it. A tenant sees only its
 * own networks, interfaces and ports (another tenant's are a 404). Interfaces are added and
 * removed only on stopped servers; ports are published and removed at any time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"
#include "daemon/networks.h"

#define NETWORKS_PER_TENANT_MAX 64

static bool need_net(struct daemon *d, struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (daemon_net_check(d, &err) >= 0)
		return true;
	api_fail(resp, &err);
	return false;
}

static json_t *network_json(struct daemon *d, const struct db_network *n,
			    const struct net_counter *counters, size_t n_counters)
{
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	struct net_subnet sn = {0};
	struct db_nic *l = NULL;
	char gw[NET_ADDR_STRLEN] = "", br[IFNAMSIZ] = "", cname[64];
	size_t n_nics = 0;
	pid_t pid = 0;
	json_t *servers = json_array(), *dropped = json_null();

	(void)db_tenant_get_by_id(d->db, n->tenant_id, &t, NULL);
	if (net_subnet_parse(n->subnet, &sn, NULL) >= 0)
		net_addr_format(net_subnet_gateway(&sn), gw);
	if (db_nic_list(d->db, NULL, n->id, &l, &n_nics, NULL) >= 0)
		for (size_t i = 0; i < n_nics; i++) {
			cleanup(db_server_freep) struct db_server *s = NULL;
			if (db_server_get_by_id(d->db, l[i].server_id, &s, NULL) >= 0)
				json_array_append_new(
					servers, json_pack("{s:s, s:s, s:s}", "server", s->name,
							   "address", l[i].addr, "mac", l[i].mac));
		}
	free(l);
	if (d->net && d->net->enabled) {
		(void)net_bridge_name(&d->net->host, n->id, br);
		if (net_dnsmasq_pid(&d->net->host, n->id, &pid) < 0)
			pid = 0;
		snprintf(cname, sizeof(cname), "drop_%s", br);
		for (size_t i = 0; i < n_counters; i++)
			if (streq(counters[i].name, cname))
				dropped = json_integer((json_int_t)counters[i].packets);
	}
	return json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s?, s:o, s:o, s:o, s:o}", "name", n->name,
			 "tenant", t ? t->name : NULL, "subnet", n->subnet, "gateway", gw, "bridge",
			 br, "domain", t ? t->name : NULL, "dnsmasq_pid",
			 pid > 0 ? json_integer(pid) : json_null(), "dropped_packets", dropped,
			 "interfaces", servers, "created_at", json_timestamp(n->created_at));
}

/* The network named by {name} as the caller may see it; admins may add ?tenant=, and without
 * it the name must be unique across tenants. */
static int find_network(struct daemon *d, const struct caller *c, struct http_request *req,
			struct db_network *ret, struct carve_error *err)
{
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	const char *name = http_request_param(req, "name");
	struct db_network *l = NULL;
	size_t n = 0, matches = 0;
	char buf[128];
	int r;

	r = parse_name(name, "network", err);
	if (r < 0)
		return r;
	r = api_tenant_scope(d, c, http_request_query(req, "tenant", buf, sizeof(buf)), false, &t,
			     err);
	if (r < 0)
		return r;
	if (t)
		return db_network_get_by_name(d->db, t->id, name, ret, err);
	r = db_network_list(d->db, NULL, &l, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (streq(l[i].name, name)) {
			if (!matches)
				*ret = l[i];
			matches++;
		}
	free(l);
	if (matches == 0)
		return carve_err(err, -ENOENT, "network '%s' not found", name);
	if (matches > 1)
		return carve_err(err, -EBUSY,
				 "network '%s' exists in %zu tenants: add ?tenant=NAME (carve "
				 "--tenant)",
				 name, matches);
	return 0;
}

static void read_counters(struct daemon *d, struct net_counter **ret, size_t *ret_n)
{
	*ret = NULL;
	*ret_n = 0;
	if (d->net && d->net->enabled)
		(void)net_counters_read(&d->net->host, ret, ret_n, NULL);
}

void api_networks_list(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	struct db_network *l = NULL;
	struct net_counter *cs = NULL;
	size_t n = 0, n_cs = 0;
	char buf[128];
	json_t *arr;

	if (api_tenant_scope(d, c, http_request_query(req, "tenant", buf, sizeof(buf)), false, &t,
			     &err) < 0 ||
	    db_network_list(d->db, t ? t->id : NULL, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	read_counters(d, &cs, &n_cs);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, network_json(d, &l[i], cs, n_cs));
	free(l);
	free(cs);
	http_response_json(resp, 200, arr);
}

void api_networks_get(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_network n;
	struct net_counter *cs = NULL;
	size_t n_cs = 0;

	if (find_network(d, c, req, &n, &err) < 0)
		return api_fail(resp, &err);
	read_counters(d, &cs, &n_cs);
	http_response_json(resp, 200, network_json(d, &n, cs, n_cs));
	free(cs);
}

/* A subnet given by the tenant must not overlap another network or contain a host address. */
static int check_subnet(struct daemon *d, const char *name, const struct net_subnet *sn,
			const struct db_network *all, size_t n_all, struct carve_error *err)
{
	struct daemon_net *dn = d->net;

	if (sn->prefixlen < 16 || sn->prefixlen > 29)
		return carve_err_field(err, -EINVAL, "subnet",
				       "network '%s': subnet: the prefix length must be /16 to /29",
				       name);
	for (size_t i = 0; i < n_all; i++) {
		struct net_subnet o;
		if (net_subnet_parse(all[i].subnet, &o, NULL) >= 0 && net_subnets_overlap(sn, &o))
			return carve_err_field(err, -EEXIST, "subnet",
					       "network '%s': subnet overlaps another network "
					       "on this host",
					       name);
	}
	for (size_t i = 0; i < dn->host.n_mgmt_addrs; i++) {
		uint32_t a;
		if (net_addr_parse(dn->host.mgmt_addrs[i], &a) >= 0 && net_subnet_contains(sn, a))
			return carve_err_field(err, -EEXIST, "subnet",
					       "network '%s': subnet contains the host "
					       "address %s",
					       name, dn->host.mgmt_addrs[i]);
	}
	if (net_subnet_contains(sn, dn->host.uplink_addr))
		return carve_err_field(err, -EEXIST, "subnet",
				       "network '%s': subnet contains the public address", name);
	return 0;
}

void api_networks_create(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp)
{
	static const char *const fields[] = {"name", "subnet", "tenant", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	cleanup_json json_t *body = NULL;
	const char *name = NULL, *subnet = NULL, *tenant = NULL;
	struct db_network net = {0}, *all = NULL, have;
	struct net_subnet sn, *used = NULL;
	size_t n_all = 0, n_mine = 0;
	int r;

	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "network", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	if (json_get_string(body, "subnet", false, 32, &subnet, &err) < 0 ||
	    json_get_string(body, "tenant", false, CARVE_NAME_MAX + 1, &tenant, &err) < 0) {
		carve_err_prefix(&err, "network '%s'", name);
		return api_fail(resp, &err);
	}
	if (!need_net(d, resp))
		return;
	if (subnet && net_subnet_parse(subnet, &sn, &err) < 0) {
		carve_err_prefix(&err, "network '%s': subnet", name);
		strscpy(err.field, "subnet", sizeof(err.field));
		return api_fail(resp, &err);
	}
	if (api_tenant_scope(d, c, tenant, true, &t, &err) < 0) {
		carve_err_prefix(&err, "network '%s'", name);
		return api_fail(resp, &err);
	}
	if (db_network_get_by_name(d->db, t->id, name, &have, NULL) >= 0) {
		http_response_error(resp, 409, "name", "network '%s' already exists", name);
		return;
	}
	/* one lock for the overlap check, the allocation and the insert */
	pthread_mutex_lock(&d->net->lock);
	r = db_network_list(d->db, NULL, &all, &n_all, &err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_all; i++)
		n_mine += streq(all[i].tenant_id, t->id);
	if (n_mine >= NETWORKS_PER_TENANT_MAX) {
		r = carve_err(&err, -EDQUOT, "tenant '%s': at most %d networks", t->name,
			      NETWORKS_PER_TENANT_MAX);
		goto out;
	}
	if (subnet) {
		r = check_subnet(d, name, &sn, all, n_all, &err);
		if (r < 0)
			goto out;
	} else {
		used = calloc(n_all + 1, sizeof(*used));
		if (!used) {
			r = carve_err(&err, -ENOMEM, "network '%s'", name);
			goto out;
		}
		for (size_t i = 0; i < n_all; i++)
			(void)net_subnet_parse(all[i].subnet, &used[i], NULL);
		r = net_subnet_allocate(&d->net->range, (uint8_t)d->net->subnet_prefixlen, used,
					n_all, &sn);
		if (r < 0) {
			carve_err_field(&err, -ENOSPC, "subnet",
					"network '%s': no free /%u left in the provider range",
					name, d->net->subnet_prefixlen);
			goto out;
		}
	}
	net_subnet_format(&sn, net.subnet);
	strscpy(net.tenant_id, t->id, sizeof(net.tenant_id));
	strscpy(net.name, name, sizeof(net.name));
	r = db_network_create(d->db, &net, &err);
out:
	pthread_mutex_unlock(&d->net->lock);
	free(all);
	free(used);
	if (r < 0)
		return api_fail(resp, &err);
	if (daemon_net_sync(d, &err) < 0) {
		struct carve_error e2 = CARVE_ERROR_INIT;
		(void)db_network_delete(d->db, net.id, NULL);
		(void)daemon_net_sync(d, &e2);
		return api_fail(resp, &err);
	}
	http_response_json(resp, 201, network_json(d, &net, NULL, 0));
	snprintf(resp->location, sizeof(resp->location), "/api/v1/networks/%s", net.name);
}

void api_networks_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_network n;
	struct db_nic *l = NULL;
	size_t n_nics = 0;

	if (find_network(d, c, req, &n, &err) < 0)
		return api_fail(resp, &err);
	if (db_nic_list(d->db, NULL, n.id, &l, &n_nics, &err) < 0)
		return api_fail(resp, &err);
	if (n_nics > 0) {
		cleanup(db_server_freep) struct db_server *s = NULL;
		(void)db_server_get_by_id(d->db, l[0].server_id, &s, NULL);
		free(l);
		http_response_error(resp, 409, NULL,
				    "network '%s' is in use by server '%s' (%zu interfaces): "
				    "detach them first",
				    n.name, s ? s->name : "?", n_nics);
		return;
	}
	free(l);
	if (db_network_delete(d->db, n.id, &err) < 0) {
		if (err.code == -EBUSY) {
			carve_err_clear(&err);
			carve_err(&err, -EBUSY, "network '%s' is in use", n.name);
		}
		return api_fail(resp, &err);
	}
	if (d->net && d->net->enabled && daemon_net_sync(d, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, json_pack("{s:s}", "deleted", n.name));
}

/* --- server interfaces -------------------------------------------------------------------- */

static bool server_stopped(const struct db_server *s, const char *what, struct http_response *resp)
{
	if (s->state == DB_SERVER_STOPPED || s->state == DB_SERVER_ERROR)
		return true;
	http_response_error(resp, 409, NULL, "server '%s' is %s: stop it before %s", s->name,
			    db_server_state_to_string(s->state), what);
	return false;
}

void api_interfaces_list(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct db_nic *l = NULL;
	struct net_counter *cs = NULL;
	size_t n = 0, n_cs = 0;
	json_t *arr;

	if (api_find_server(d, c, req, &s, &err) < 0 ||
	    db_nic_list(d->db, s->id, 0, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	read_counters(d, &cs, &n_cs);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, daemon_net_nic_json(d, &l[i], cs, n_cs));
	free(l);
	free(cs);
	http_response_json(resp, 200, arr);
}

void api_interfaces_attach(struct daemon *d, const struct caller *c, struct http_request *req,
			   struct http_response *resp)
{
	static const char *const fields[] = {"network", "ip", "dhcp", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup_json json_t *body = NULL;
	const char *name = NULL, *ip = NULL;
	struct db_network net;
	struct db_nic *l = NULL, nic;
	uint32_t idx = 0;
	bool dhcp = false, taken;
	size_t n = 0;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "network", true, CARVE_NAME_MAX + 1, &name, &err) < 0 ||
	    json_get_string(body, "ip", false, 32, &ip, &err) < 0 ||
	    json_get_bool(body, "dhcp", false, &dhcp, &err) < 0)
		return api_fail(resp, &err);
	if (!need_net(d, resp) || !server_stopped(s, "attaching an interface", resp))
		return;
	if (!name_is_valid(name) ||
	    db_network_get_by_name(d->db, s->tenant_id, name, &net, NULL) < 0) {
		http_response_error(resp, 404, "network", "network '%.64s' not found", name);
		return;
	}
	if (db_nic_list(d->db, s->id, 0, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	/* the lowest free eth<N> */
	do {
		taken = false;
		for (size_t i = 0; i < n; i++)
			taken = taken || l[i].idx == idx;
		idx += taken;
	} while (taken);
	free(l);
	if (n >= 8) {
		http_response_error(resp, 409, "network", "server '%s' has 8 interfaces already",
				    s->name);
		return;
	}
	if (daemon_net_nic_add(d, s, &net, idx, ip, dhcp, &nic, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 201, daemon_net_nic_json(d, &nic, NULL, 0));
}

static int find_nic(struct daemon *d, const struct db_server *s, const char *ifname,
		    struct db_nic *ret, struct carve_error *err)
{
	struct db_nic *l = NULL;
	size_t n = 0;
	char want[16];
	int r;

	r = db_nic_list(d->db, s->id, 0, &l, &n, err);
	if (r < 0)
		return r;
	r = carve_err_field(err, -ENOENT, "interface", "server '%s': interface '%.16s' not found",
			    s->name, ifname ? ifname : "");
	for (size_t i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "eth%u", l[i].idx);
		if (ifname && streq(ifname, want)) {
			*ret = l[i];
			carve_err_clear(err);
			r = 0;
		}
	}
	free(l);
	return r;
}

void api_interfaces_detach(struct daemon *d, const struct caller *c, struct http_request *req,
			   struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	const char *ifname = http_request_param(req, "interface");
	struct db_nic nic;

	if (api_find_server(d, c, req, &s, &err) < 0 || find_nic(d, s, ifname, &nic, &err) < 0)
		return api_fail(resp, &err);
	if (!server_stopped(s, "detaching an interface", resp))
		return;
	if (db_nic_delete(d->db, nic.id, &err) < 0)
		return api_fail(resp, &err);
	if (d->net && d->net->enabled && daemon_net_sync(d, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, json_pack("{s:s}", "detached", ifname));
}

/* --- published ports ---------------------------------------------------------------------- */

static json_t *port_json(struct daemon *d, const struct db_port *p)
{
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct db_nic *l = NULL;
	size_t n = 0;
	char ifname[16] = "", addr[16] = "";

	(void)db_server_get_by_id(d->db, p->server_id, &s, NULL);
	if (db_nic_list(d->db, p->server_id, 0, &l, &n, NULL) >= 0)
		for (size_t i = 0; i < n; i++)
			if (l[i].id == p->nic_id) {
				snprintf(ifname, sizeof(ifname), "eth%u", l[i].idx);
				strscpy(addr, l[i].addr, sizeof(addr));
			}
	free(l);
	return json_pack("{s:s?, s:s, s:i, s:i, s:s, s:s, s:s, s:o}", "server", s ? s->name : NULL,
			 "protocol", p->protocol, "port", (int)p->port, "public_port",
			 (int)p->public_port, "public_address", d->net ? d->net->public_addr : "",
			 "interface", ifname, "address", addr, "created_at",
			 json_timestamp(p->created_at));
}

static void ports_answer(struct daemon *d, const char *tenant_id, const char *server_id,
			 struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_port *l = NULL;
	size_t n = 0;
	json_t *arr;

	if (db_port_list(d->db, tenant_id, server_id, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, port_json(d, &l[i]));
	free(l);
	http_response_json(resp, 200, arr);
}

void api_ports_list(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	char buf[128];

	if (api_tenant_scope(d, c, http_request_query(req, "tenant", buf, sizeof(buf)), false, &t,
			     &err) < 0)
		return api_fail(resp, &err);
	ports_answer(d, t ? t->id : NULL, NULL, resp);
}

void api_server_ports_list(struct daemon *d, const struct caller *c, struct http_request *req,
			   struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	ports_answer(d, NULL, s->id, resp);
}

void api_ports_publish(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	static const char *const fields[] = {"port", "public_port", "protocol", "interface", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_tenant_freep) struct db_tenant *owner = NULL;
	cleanup_json json_t *body = NULL;
	const char *proto = "tcp", *ifname = "eth0";
	uint64_t port = 0, public_port = 0;
	unsigned max = 0;
	struct db_port p = {0}, *l = NULL;
	struct db_nic nic;
	size_t n = 0;
	int r;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_uint(body, "port", true, 1, 65535, &port, &err) < 0 ||
	    json_get_uint(body, "public_port", false, 1, 65535, &public_port, &err) < 0 ||
	    json_get_string(body, "protocol", false, 8, &proto, &err) < 0 ||
	    json_get_string(body, "interface", false, 16, &ifname, &err) < 0) {
		carve_err_prefix(&err, "server '%s': publish", s->name);
		return api_fail(resp, &err);
	}
	if (!public_port)
		public_port = port;
	if ((int)net_proto_from_string(proto) < 0) {
		http_response_error(resp, 400, "protocol",
				    "server '%s': protocol '%.8s': use tcp or udp", s->name, proto);
		return;
	}
	if (!need_net(d, resp))
		return;
	if (find_nic(d, s, ifname, &nic, &err) < 0) {
		if (streq(ifname, "eth0"))
			carve_err_clear(&err),
				carve_err_field(&err, -EINVAL, "interface",
						"server '%s' has no network interface to publish "
						"on",
						s->name);
		return api_fail(resp, &err);
	}
	if (d->net->host.api_port && streq(proto, "tcp") && public_port == d->net->host.api_port) {
		http_response_error(resp, 409, "public_port",
				    "tcp port %" PRIu64 " is the API port", public_port);
		return;
	}
	pthread_mutex_lock(&d->net->lock);
	r = db_tenant_get_by_id(d->db, s->tenant_id, &owner, &err);
	if (r >= 0)
		max = daemon_tenant_max_ports(d, owner);
	if (r >= 0)
		r = db_port_list(d->db, s->tenant_id, NULL, &l, &n, &err);
	if (r >= 0 && n >= max)
		r = carve_err_field(&err, -EDQUOT, "public_port",
				    "tenant '%s': quota: at most %u published ports (%zu in use)",
				    owner->name, max, n);
	free(l);
	if (r >= 0) {
		strscpy(p.tenant_id, s->tenant_id, sizeof(p.tenant_id));
		strscpy(p.server_id, s->id, sizeof(p.server_id));
		strscpy(p.protocol, proto, sizeof(p.protocol));
		p.nic_id = nic.id;
		p.port = (uint32_t)port;
		p.public_port = (uint32_t)public_port;
		r = db_port_create(d->db, &p, &err);
	}
	pthread_mutex_unlock(&d->net->lock);
	if (r < 0)
		return api_fail(resp, &err);
	if (daemon_net_sync(d, &err) < 0) {
		struct carve_error e2 = CARVE_ERROR_INIT;
		(void)db_port_delete(d->db, p.id, NULL);
		(void)daemon_net_sync(d, &e2);
		return api_fail(resp, &err);
	}
	http_response_json(resp, 201, port_json(d, &p));
}

void api_ports_remove(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	const char *param = http_request_param(req, "public_port");
	char buf[16];
	const char *proto = http_request_query(req, "protocol", buf, sizeof(buf));
	struct db_port *l = NULL, found = {0};
	uint64_t public_port;
	size_t n = 0;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!proto)
		proto = "tcp";
	if (!param || parse_uint64(param, 1, 65535, &public_port, NULL) < 0) {
		http_response_error(resp, 400, "public_port", "public port '%.16s': not 1..65535",
				    param ? param : "");
		return;
	}
	if (db_port_list(d->db, NULL, s->id, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	for (size_t i = 0; i < n; i++)
		if (l[i].public_port == public_port && streq(l[i].protocol, proto))
			found = l[i];
	free(l);
	if (!found.id) {
		http_response_error(resp, 404, "public_port",
				    "server '%s': %.8s port %" PRIu64 " is not published", s->name,
				    proto, public_port);
		return;
	}
	if (db_port_delete(d->db, found.id, &err) < 0)
		return api_fail(resp, &err);
	if (d->net && d->net->enabled && daemon_net_sync(d, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, port_json(d, &found));
}

/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "net"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/string-util.h"
#include "net/net-internal.h"

static bool wanted_link(const struct net_host *h, const struct net_state *st, const char *name)
{
	char ifn[IFNAMSIZ];
	for (size_t k = 0; k < st->n_networks; k++)
		if (net_bridge_name(h, st->networks[k].id, ifn) >= 0 && streq(ifn, name))
			return true;
	for (size_t k = 0; k < st->n_ifaces; k++)
		if (net_iface_name(h, &st->ifaces[k], ifn) >= 0 && streq(ifn, name))
			return true;
	return false;
}

int net_reconcile(const struct net_host *h, const struct net_state *st, struct carve_error *err)
{
	int r = net_host_validate(h, err);
	if (r >= 0)
		r = net_state_validate(h, st, err);
	if (r < 0)
		return r;
	r = net_host_prepare(h, err);
	if (r < 0)
		return r;

	/* Stray links first, so that a stale host end never sits on a bridge we keep. */
	cleanup_strv char **links = NULL;
	r = net_links_list(h, &links, err);
	if (r < 0)
		return r;
	for (char **l = links; *l; l++) {
		if (wanted_link(h, st, *l))
			continue;
		log_debug("reconcile: delete stray link '%s'", *l);
		r = net_link_delete(h, *l, err);
		if (r < 0)
			return r;
	}

	cleanup_free uint32_t *running = NULL;
	size_t n_running = 0;
	r = net_dnsmasq_list(h, &running, &n_running);
	if (r < 0)
		return carve_err(err, r, "list dnsmasq directories in '%s'", h->run_dir);
	for (size_t k = 0; k < n_running; k++) {
		bool keep = false;
		for (size_t j = 0; j < st->n_networks && !keep; j++)
			keep = st->networks[j].id == running[k];
		if (keep)
			continue;
		log_debug("reconcile: stop stray dnsmasq of network %u", running[k]);
		r = net_dnsmasq_stop(h, running[k], err);
		if (r < 0)
			return r;
	}

	for (size_t k = 0; k < st->n_networks; k++) {
		const struct net_network *n = &st->networks[k];
		r = net_bridge_ensure(h, n, err);
		if (r < 0)
			return r;
		r = net_dnsmasq_write(h, n, st->ifaces, st->n_ifaces, err);
		if (r < 0)
			return r;
		pid_t pid;
		if (net_dnsmasq_pid(h, n->id, &pid) == 0)
			r = net_dnsmasq_reload(h, n->id, err);
		else
			r = net_dnsmasq_start(h, n, err);
		if (r < 0)
			return r;
	}

	for (size_t k = 0; k < st->n_ifaces; k++) {
		const struct net_iface *i = &st->ifaces[k];
		if (i->kind != NET_IFACE_TAP)
			continue;
		const struct net_network *n = NULL;
		for (size_t j = 0; j < st->n_networks; j++)
			if (st->networks[j].id == i->network_id)
				n = &st->networks[j];
		r = net_tap_add(h, n, i, err);
		if (r < 0)
			return r;
	}

	r = net_firewall_apply(h, st, err);
	if (r < 0)
		return r;

	for (size_t k = 0; k < st->n_ifaces; k++) {
		char ifn[IFNAMSIZ];
		(void)net_iface_name(h, &st->ifaces[k], ifn);
		if (net_link_exists(h, ifn) <= 0)
			continue; /* a veth whose container is not running */
		r = net_iface_set_rate(h, ifn, st->ifaces[k].rate_bps, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int net_teardown(const struct net_host *h, struct carve_error *err)
{
	int r = net_host_validate(h, err);
	if (r < 0)
		return r;
	cleanup_free uint32_t *ids = NULL;
	size_t n = 0;
	r = net_dnsmasq_list(h, &ids, &n);
	if (r < 0)
		return carve_err(err, r, "list dnsmasq directories in '%s'", h->run_dir);
	for (size_t k = 0; k < n; k++) {
		r = net_dnsmasq_stop(h, ids[k], err);
		if (r < 0)
			return r;
	}
	cleanup_strv char **links = NULL;
	r = net_links_list(h, &links, err);
	if (r < 0)
		return r;
	for (char **l = links; *l; l++) {
		r = net_link_delete(h, *l, err);
		if (r < 0)
			return r;
	}
	return net_firewall_remove(h, err);
}

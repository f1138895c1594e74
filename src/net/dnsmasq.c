/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One dnsmasq per network, in <run_dir>/<bridge>/: dnsmasq.conf, dhcp-hosts (MAC,address,name:
 * the only leases it gives out, so an unknown MAC gets none), hosts (DNS names of the network's
 * servers, re-read on SIGHUP), leases, pid. It answers only on the bridge's gateway address and
 * knows only its own network's names; other names go upstream if dns_upstream is set.
 * dnsmasq daemonizes itself and survives carved restarts; the pid file plus a check of
 * /proc/<pid>/cmdline for our config path tell whether it is ours and alive.
 */
#define LOG_DOMAIN "net"
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "net/net-internal.h"

static int dir_of(const struct net_host *h, uint32_t network_id, char out[PATH_MAX])
{
	char br[IFNAMSIZ];
	int r = net_bridge_name(h, network_id, br);
	if (r < 0)
		return r;
	int n = snprintf(out, PATH_MAX, "%s/%s", h->run_dir, br);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int net_dnsmasq_config(const struct net_host *h, const struct net_network *n, char **ret)
{
	char br[IFNAMSIZ], dir[PATH_MAX], gw[NET_ADDR_STRLEN], net[NET_ADDR_STRLEN],
		mask[NET_ADDR_STRLEN];
	int r = net_bridge_name(h, n->id, br);
	if (r < 0 || (r = dir_of(h, n->id, dir)) < 0)
		return r;
	net_addr_format(net_subnet_gateway(&n->subnet), gw);
	net_addr_format(n->subnet.addr, net);
	net_addr_format(net_subnet_mask(&n->subnet), mask);

	struct strbuf b = {};
	sb_printf(&b, "# carve network %u; generated, do not edit\n", n->id);
	sb_printf(&b, "interface=%s\nexcept-interface=lo\nbind-interfaces\nlisten-address=%s\n", br,
		  gw);
	sb_printf(&b, "pid-file=%s/pid\ndhcp-leasefile=%s/leases\n", dir, dir);
	sb_printf(&b, "no-hosts\naddn-hosts=%s/hosts\ndhcp-hostsfile=%s/dhcp-hosts\n", dir, dir);
	/* "static": leases only for the MACs in dhcp-hosts, i.e. the servers carve made. */
	sb_printf(&b, "dhcp-range=%s,static,%s,1h\ndhcp-authoritative\n", net, mask);
	sb_printf(&b, "dhcp-option=option:router,%s\ndhcp-option=option:dns-server,%s\n", gw, gw);
	if (n->mtu)
		sb_printf(&b, "dhcp-option=option:mtu,%u\n", n->mtu);
	if (n->domain) {
		sb_printf(&b, "domain=%s\nlocal=/%s/\nexpand-hosts\n", n->domain, n->domain);
		sb_printf(&b, "dhcp-option=option:domain-search,%s\n", n->domain);
	}
	sb_printf(&b, "no-resolv\nno-poll\ndomain-needed\nbogus-priv\nstop-dns-rebind\n");
	for (size_t i = 0; i < h->n_dns_upstream; i++)
		sb_printf(&b, "server=%s\n", h->dns_upstream[i]);
	sb_printf(&b, "no-ping\nlog-facility=%s/log\n", dir);
	return sb_take(&b, ret);
}

int net_dnsmasq_hosts(const struct net_host *h, const struct net_network *n,
		      const struct net_iface *ifaces, size_t n_ifaces, char **ret_dhcp_hosts,
		      char **ret_dns_hosts)
{
	struct strbuf dh = {}, hs = {};
	sb_printf(&dh, "%s", "");
	sb_printf(&hs, "%s", "");
	for (size_t k = 0; k < n_ifaces; k++) {
		const struct net_iface *i = &ifaces[k];
		if (i->network_id != n->id)
			continue;
		char mac[NET_MAC_STRLEN], a[NET_ADDR_STRLEN];
		net_mac_format(i->mac, mac);
		net_addr_format(i->addr, a);
		if (i->hostname) {
			sb_printf(&dh, "%s,%s,%s\n", mac, a, i->hostname);
			sb_printf(&hs, "%s %s\n", a, i->hostname);
		} else
			sb_printf(&dh, "%s,%s\n", mac, a);
	}
	cleanup_free char *d = NULL;
	int r = sb_take(&dh, &d);
	if (r < 0) {
		free(hs.s);
		return r;
	}
	r = sb_take(&hs, ret_dns_hosts);
	if (r < 0)
		return r;
	*ret_dhcp_hosts = TAKE_PTR(d);
	return 0;
}

int net_dnsmasq_write(const struct net_host *h, const struct net_network *n,
		      const struct net_iface *ifaces, size_t n_ifaces, struct carve_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	int r = dir_of(h, n->id, dir);
	if (r < 0)
		return carve_err(err, r, "network '%s': dnsmasq directory", n->name);
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return carve_err(err, r, "network '%s': create '%s'", n->name, dir);
	cleanup_free char *conf = NULL, *dhcp = NULL, *hosts = NULL;
	r = net_dnsmasq_config(h, n, &conf);
	if (r >= 0)
		r = net_dnsmasq_hosts(h, n, ifaces, n_ifaces, &dhcp, &hosts);
	if (r < 0)
		return carve_err(err, r, "network '%s': dnsmasq configuration", n->name);
	const struct {
		const char *name;
		const char *text;
	} files[] = {{"dnsmasq.conf", conf}, {"dhcp-hosts", dhcp}, {"hosts", hosts}};
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		r = write_file_atomic(path, files[i].text, strlen(files[i].text), 0644);
		if (r < 0)
			return carve_err(err, r, "network '%s': write '%s'", n->name, path);
	}
	return 0;
}

int net_dnsmasq_pid(const struct net_host *h, uint32_t network_id, pid_t *ret)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	int r = dir_of(h, network_id, dir);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/pid", dir);
	cleanup_free char *s = NULL;
	r = read_full_file(path, 64, &s, NULL);
	if (r < 0)
		return -ESRCH;
	char *end;
	long pid = strtol(s, &end, 10);
	if (pid <= 0 || (*end && *end != '\n'))
		return -ESRCH;

	/* Is it still dnsmasq with our config (not a recycled pid)? */
	char cpath[64];
	snprintf(cpath, sizeof(cpath), "/proc/%ld/cmdline", pid);
	cleanup_free char *cmd = NULL;
	size_t len;
	if (read_full_file(cpath, 65536, &cmd, &len) < 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "--conf-file=%s/dnsmasq.conf", dir);
	bool found = false;
	for (size_t off = 0; off < len && !found; off += strlen(cmd + off) + 1)
		found = streq(cmd + off, path);
	if (!found)
		return -ESRCH;
	/* A zombie is not alive. */
	snprintf(cpath, sizeof(cpath), "/proc/%ld/stat", pid);
	cleanup_free char *stat = NULL;
	if (read_full_file(cpath, 4096, &stat, NULL) < 0)
		return -ESRCH;
	const char *p = strrchr(stat, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return -ESRCH;
	if (ret)
		*ret = (pid_t)pid;
	return 0;
}

int net_dnsmasq_start(const struct net_host *h, const struct net_network *n,
		      struct carve_error *err)
{
	if (net_dnsmasq_pid(h, n->id, NULL) == 0)
		return 0;
	char dir[PATH_MAX], conf[PATH_MAX + 32];
	int r = dir_of(h, n->id, dir);
	if (r < 0)
		return carve_err(err, r, "network '%s': dnsmasq directory", n->name);
	snprintf(conf, sizeof(conf), "--conf-file=%s/dnsmasq.conf", dir);
	/* Without --keep-in-foreground, dnsmasq's parent exits only once the daemon has bound
	 * its sockets (or with the error that stopped it). */
	const char *const argv[] = {"dnsmasq", conf, "--user=root", "--group=root", NULL};
	r = net_run_checked(h->netns_fd, argv, NULL, NULL, err);
	if (r < 0)
		return carve_err_prefix(err, "network '%s': start dnsmasq", n->name);
	pid_t pid;
	for (int i = 0; i < 100; i++) {
		if (net_dnsmasq_pid(h, n->id, &pid) == 0)
			return 0;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return carve_err(err, -ESRCH, "network '%s': dnsmasq did not stay up", n->name);
}

int net_dnsmasq_reload(const struct net_host *h, uint32_t network_id, struct carve_error *err)
{
	pid_t pid;
	int r = net_dnsmasq_pid(h, network_id, &pid);
	if (r < 0)
		return carve_err(err, r, "network %u: dnsmasq not running", network_id);
	if (kill(pid, SIGHUP) < 0)
		return carve_err(err, -errno, "network %u: signal dnsmasq", network_id);
	return 0;
}

int net_dnsmasq_stop(const struct net_host *h, uint32_t network_id, struct carve_error *err)
{
	pid_t pid;
	char dir[PATH_MAX];
	int r = dir_of(h, network_id, dir);
	if (r < 0)
		return carve_err(err, r, "network %u: dnsmasq directory", network_id);
	if (net_dnsmasq_pid(h, network_id, &pid) == 0) {
		(void)kill(pid, SIGTERM);
		for (int i = 0; i < 200 && net_dnsmasq_pid(h, network_id, NULL) == 0; i++) {
			if (i == 199)
				(void)kill(pid, SIGKILL);
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	r = rm_rf(dir);
	if (r < 0 && r != -ENOENT)
		return carve_err(err, r, "network %u: remove '%s'", network_id, dir);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int net_dnsmasq_list(const struct net_host *h, uint32_t **ret, size_t *ret_n)
{
	cleanup_closedir DIR *d = opendir(h->run_dir);
	cleanup_free uint32_t *ids = NULL;
	size_t n = 0;
	if (!d && errno != ENOENT)
		return -errno;
	size_t pl = strlen(h->prefix);
	for (struct dirent *de; d && (de = readdir(d));) {
		if (strncmp(de->d_name, h->prefix, pl) != 0 || de->d_name[pl] != 'b')
			continue;
		char *end;
		const char *num = de->d_name + pl + 1;
		unsigned long id = strtoul(num, &end, 10);
		if (!*num || *end || id == 0 || id > NET_ID_MAX)
			continue;
		uint32_t *v = realloc(ids, (n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ids = v;
		ids[n++] = (uint32_t)id;
	}
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_u32);
	*ret = TAKE_PTR(ids);
	*ret_n = n;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bandwidth limit towards a server: a tbf on the host end's egress, with the tc tool inside the
 * host namespace. The other direction (what the server sends) is an nftables limit in the
 * server port's bridge chain (see firewall.c): this kernel has no act_police or act_mirred, and
 * nftables polices the same way (excess dropped, which TCP reads as congestion).
 */
#define LOG_DOMAIN "net"
#include "base/cleanup.h"
#include "net/net-internal.h"

int net_iface_set_rate(const struct net_host *h, const char *ifname, uint64_t rate_bps,
		       struct carve_error *err)
{
	/* Removing what is not there fails with a status we ignore. */
	const char *const del_root[] = {"tc", "qdisc", "del", "dev", ifname, "root", NULL};
	int r = net_run(h->netns_fd, del_root, NULL, NULL);
	if (r < 0)
		return carve_err(err, r, "interface '%s': run tc", ifname);
	if (rate_bps == 0)
		return 0;
	if (rate_bps < 8000)
		return carve_err_field(err, -EINVAL, "rate", "interface '%s': rate below 8 kbit/s",
				       ifname);

	char rate[32], burst[32];
	snprintf(rate, sizeof(rate), "%llubit", (unsigned long long)rate_bps);
	/* At least 10 ms worth of bytes and a few full frames, or tbf cannot reach the rate. */
	uint64_t b = rate_bps / 8 / 100;
	if (b < 16384)
		b = 16384;
	snprintf(burst, sizeof(burst), "%llu", (unsigned long long)b);

	const char *const tbf[] = {"tc",   "qdisc", "replace", "dev", ifname,	 "root", "tbf",
				   "rate", rate,    "burst",   burst, "latency", "50ms", NULL};
	r = net_run_checked(h->netns_fd, tbf, NULL, NULL, err);
	if (r < 0)
		return carve_err_prefix(err, "interface '%s': egress limit", ifname);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net: per-tenant networks (a later issue): bridges, veth/tap interfaces, IPAM, dnsmasq, nftables.
 * The attach point is the server-kind interface in src/daemon/kind.h: a kind's start() receives
 * the server's network interfaces (none yet) after the container's network namespace exists;
 * servers today run with a private network namespace holding only loopback.
 */
#ifndef CARVE_NET_H
#define CARVE_NET_H
#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carved's shared state: the one struct daemon, created in main() and passed to every API
 * handler, task and thread. It owns the database, the HTTP server, the storage pool, the task
 * workers and the watcher of running servers. Fields are set before the HTTP server starts and
 * read-only afterwards, except where a module owns its own locking (db, tasks, watcher).
 */
#ifndef CARVE_DAEMON_H
#define CARVE_DAEMON_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "ct/cgroup.h"
#include "db/db.h"
#include "http/http.h"
#include "storage/storage.h"

struct tasks;
struct watcher;
struct housekeeping;
struct daemon_net;

struct daemon {
	char state_dir[PATH_MAX];
	char run_dir[PATH_MAX];
	char listen[128]; /* "" : no TCP listener */
	char monitor_binary[PATH_MAX];
	int monitor_fd; /* a sealed copy of monitor_binary every monitor runs from; -EBADF: none */
	char cgroup_root[PATH_MAX]; /* "" : no cgroups */
	char cgroup_prefix[64];
	uint32_t uid_base; /* first host uid handed to tenants */
	uint32_t vm_uid_base; /* VMs' QEMU uids: vm_uid_base + slot, 65536 of them (0: uid_base -
				 65536) */
	int64_t session_ttl; /* seconds */
	int stop_timeout; /* seconds a server gets to power off before SIGKILL */
	char pool_driver[16]; /* "reflink" (servers on loop-mounted ext4 volumes) or "dir" */
	uint64_t pool_size; /* size of the embedded pool image (reflink) */
	double overcommit; /* provisioned disk may reach physical * overcommit */
	bool volumes; /* pool_driver is "reflink": servers live on volumes */
	double fill_threshold; /* 0..1: a pool.fill event when the pool's allocation crosses it */
	char lxcfs_binary[PATH_MAX]; /* "" : no lxcfs (--lxcfs none) */
	char lxcfs_dir[PATH_MAX]; /* its mount point while it runs, else "" */
	char backup_dir[PATH_MAX]; /* the default backup store */
	bool backup_encrypt; /* the default store encrypts each tenant's backups with its key */
	uint64_t backup_min_interval; /* seconds: the shortest "@every" schedule */
	uint64_t trim_interval; /* seconds between periodic trims of every pool (0: never) */

	struct db *db;
	struct auth_throttle *throttle;
	struct storage_pool *pool;
	struct tasks *tasks;
	struct watcher *watcher;
	struct housekeeping *housekeeping;
	struct cgroup_manager *cgroups; /* NULL without cgroups (--cgroup-root none) */
	struct daemon_net *net; /* networks.c; disabled without --uplink */
	struct http_router *router;
	struct http_server *http;
};

/* The per-server run directory: <run-dir>/servers/<id>. */
int daemon_server_dir(const struct daemon *d, const char *server_id, char *buf, size_t len);
/* The first host uid of a tenant's range. */
uint32_t daemon_tenant_uid_base(const struct daemon *d, const struct db_tenant *t);
/* The tenant's cap on published ports: its own, else carved's --max-ports (0 without networks). */
unsigned daemon_tenant_max_ports(const struct daemon *d, const struct db_tenant *t);
/* The host uid a VM's QEMU runs as (and owns its disk), or 0 for a server that is no VM. */
uint32_t daemon_vm_uid(const struct daemon *d, const struct db_server *s);

/* pools.c: the default pool and those added through the API. daemon_pool() returns NULL for an
 * unknown name; a returned pool stays valid until carved exits. */
#define DAEMON_POOLS_MAX 16
struct storage_pool *daemon_pool(struct daemon *d, const char *name);
int daemon_pools_open(struct daemon *d, struct carve_error *err);
int daemon_pool_add(struct daemon *d, struct db_pool *p, struct carve_error *err);
int daemon_pool_remove(struct daemon *d, const char *name, struct carve_error *err);
int daemon_pool_set(struct daemon *d, const struct db_pool *p, struct carve_error *err);
size_t daemon_pools_names(char (*names)[64], size_t max);
/* A pool's fill threshold; optionally reads and/or sets whether it was above it. */
double daemon_pool_threshold(const char *name, bool *above, bool set_above, bool value);
void daemon_pools_close(struct daemon *d);
/* The pool holding a server's (or a volume's) data, or -ENXIO naming it when it is gone. */
int daemon_pool_of(struct daemon *d, const char *pool_name, struct storage_pool **ret,
		   struct carve_error *err);

/* A pool's trim (pools.c): FITRIM of every volume of its running servers, then of the pool. */
struct daemon_trim_result {
	int64_t at; /* when it started */
	uint64_t allocated_before, allocated_after; /* the pool filesystem's allocated bytes */
	uint64_t image_before,
		image_after; /* host bytes under an embedded pool's image (0: none) */
	uint64_t trimmed; /* bytes the volumes' filesystems discarded (their free space) */
	unsigned volumes, skipped; /* volumes trimmed; servers skipped (busy with a backup) */
};
struct task_ctx;
/* -EBUSY while a trim of the pool runs; ctx (progress) may be NULL. Records a "pool.trim" event
 * and keeps the result for daemon_pool_last_trim (until carved exits). */
int daemon_pool_trim(struct daemon *d, const char *name, struct task_ctx *ctx,
		     struct daemon_trim_result *ret, struct carve_error *err);
bool daemon_pool_last_trim(const char *name, struct daemon_trim_result *ret);
/* Every pool in turn (the periodic trim); failures are logged. */
void daemon_pools_trim_all(struct daemon *d);

/* housekeeping.c: pool fill events, expired sessions; kick it after provisioning */
int housekeeping_new(struct daemon *d, struct housekeeping **ret);
void housekeeping_kick(struct housekeeping *h);
struct housekeeping *housekeeping_free(struct housekeeping *h);

/* The tenant's aggregate caps on its cgroup (created if needed); no-op without cgroups. */
int daemon_tenant_apply_limits(struct daemon *d, const struct db_tenant *t,
			       struct carve_error *err);

/* lxcfs.c: start (or reuse) carved's lxcfs at <run-dir>/lxcfs; its mount point for a server
 * start, or NULL when it is not running (servers then see the host's /proc views). */
int lxcfs_start(struct daemon *d);
const char *lxcfs_dir(struct daemon *d);

/* api.c */
int api_register(struct daemon *d);

/* templates.c: create the built-in busybox template if it is missing. */
int templates_bootstrap(struct daemon *d, struct carve_error *err);
/* template-import.c: remove what an import interrupted by a crash left behind (at start). */
void templates_import_reconcile(struct daemon *d);
/* "SIGRTMIN+3", "PWR", "15" -> the signal number; -EINVAL otherwise. */
int template_parse_signal(const char *s, int *ret);

#endif

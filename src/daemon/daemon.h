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
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "db/db.h"
#include "http/http.h"
#include "storage/storage.h"

struct tasks;
struct watcher;

struct daemon {
	char state_dir[PATH_MAX];
	char run_dir[PATH_MAX];
	char listen[128]; /* "" : no TCP listener */
	char monitor_binary[PATH_MAX];
	char cgroup_root[PATH_MAX]; /* "" : no cgroups */
	char cgroup_prefix[64];
	uint32_t uid_base; /* first host uid handed to tenants */
	int64_t session_ttl; /* seconds */
	int stop_timeout; /* seconds a server gets to power off before SIGKILL */
	char pool_driver[16]; /* "reflink" (servers on loop-mounted ext4 volumes) or "dir" */
	uint64_t pool_size; /* size of the embedded pool image (reflink) */
	double overcommit; /* provisioned disk may reach physical * overcommit */
	bool volumes; /* pool_driver is "reflink": servers live on volumes */

	struct db *db;
	struct auth_throttle *throttle;
	struct storage_pool *pool;
	struct tasks *tasks;
	struct watcher *watcher;
	struct http_router *router;
	struct http_server *http;
};

/* The per-server run directory: <run-dir>/servers/<id>. */
int daemon_server_dir(const struct daemon *d, const char *server_id, char *buf, size_t len);
/* The first host uid of a tenant's range. */
uint32_t daemon_tenant_uid_base(const struct daemon *d, const struct db_tenant *t);

/* api.c */
int api_register(struct daemon *d);

/* templates.c: create the built-in busybox template if it is missing. */
int templates_bootstrap(struct daemon *d, struct carve_error *err);

#endif

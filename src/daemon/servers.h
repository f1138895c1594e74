/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server lifecycle on the host, for the "container" kind: preparing the root filesystem,
 * launching the monitor, stopping, deleting, and watching running servers so that a server whose
 * init exits on its own is recorded as stopped. The state machine:
 *
 *    creating --> stopped --> starting --> running --> stopping --> stopped
 *                  |  ^          |                                    |
 *                  |  '----------+---- error <------------------------'
 *                  '--> deleting --> (gone)          (error: start or stop failed;
 *                                                      start and delete are allowed from it)
 *
 * API handlers move a server into starting/stopping/deleting with a compare-and-set on the
 * database row (so a second request gets 409 naming the state) and queue a task; the task
 * finishes the transition. The watcher thread owns the epoll set of monitor connections.
 */
#ifndef CARVE_DAEMON_SERVERS_H
#define CARVE_DAEMON_SERVERS_H

#include "ct/cgroup.h"
#include "daemon/daemon.h"
#include "daemon/tasks.h"
#include "vm/vm.h"

struct server_op {
	char server_id[33];
	char tenant_id[33];
	/* server.create from a snapshot instead of the template; server.snapshot and
	 * server.rollback: the snapshot */
	char source_server_id[33];
	char snapshot[64];
};

/* The cgroup limits of a server: vcpus, memory (a VM's with QEMU's overhead), pids_max, and its
 * I/O limits on the block device of each of its disks that is attached now. */
int servers_limits(struct daemon *d, const struct db_server *s, struct cgroup_limits *ret,
		   struct carve_error *err);
/* FITRIM the server's volumes mounted on the host (root and data; only those in pool `only`
 * unless NULL): bytes the filesystems discarded are added to ret_trimmed, volumes trimmed to
 * ret_volumes. Volumes not mounted are skipped. -EBUSY while a backup, restore or other trim
 * holds the server; never concurrent with a snapshot's freeze. The pools are not trimmed. */
int servers_trim_volumes(struct daemon *d, const struct db_server *s,
			 const struct storage_pool *only, uint64_t *ret_trimmed,
			 unsigned *ret_volumes, struct carve_error *err);
/* Snapshot a server's root volume at a consistent point: a mounted container filesystem is
 * frozen (FIFREEZE) around the reflink; a running VM's guest is paused through QMP (stop, which
 * drains its I/O) and resumed after; a paused VM is refused (-EBUSY). */
int servers_volume_snapshot(struct daemon *d, const struct db_server *s, const char *snapshot,
			    struct carve_error *err);
/* A VM's cloud_init object ({"user","password_hash","ssh_keys"}) into seed's user, password
 * hash and keys (keys: room for 32 and the NULL; pointers into o); errors name cloud_init. */
int servers_cloud_init_parse(json_t *o, struct vm_seed *seed, const char *keys[33],
			     struct carve_error *err);
/* Write them into a running server's cgroup (no-op without cgroups). */
int servers_apply_limits(struct daemon *d, const struct db_server *s, struct carve_error *err);

int server_task_snapshot(struct daemon *d, struct task_ctx *ctx, void *userdata,
			 struct carve_error *err);
int server_task_rollback(struct daemon *d, struct task_ctx *ctx, void *userdata,
			 struct carve_error *err);

int server_task_create(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err);
int server_task_start(struct daemon *d, struct task_ctx *ctx, void *userdata,
		      struct carve_error *err);
int server_task_stop(struct daemon *d, struct task_ctx *ctx, void *userdata,
		     struct carve_error *err);
int server_task_restart(struct daemon *d, struct task_ctx *ctx, void *userdata,
			struct carve_error *err);
int server_task_delete(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err);

int watcher_new(struct daemon *d, struct watcher **ret);
struct watcher *watcher_free(struct watcher *w);
/* Watch a running server's monitor; when it goes away the server becomes stopped. */
int watcher_add(struct watcher *w, const char *server_id);

/* At start-up: compare every server row with what really runs and repair the row. */
int servers_reconcile(struct daemon *d);

#endif

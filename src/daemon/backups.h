/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backups of whole servers, as carved runs them: the default store (<state>/backups or
 * --backup-dir) and the provider's extra stores, one random key per tenant (kept in the database,
 * never sent anywhere), and the tasks that drive src/backup:
 *
 *   create:  row "running" -> freeze every mounted volume, reflink snapshot each, thaw ->
 *            read-only mounts of the snapshots (file index) -> backup_create (incremental against
 *            the previous backup's kept snapshots) -> row "complete" -> the older kept snapshots go
 *   restore: in place (server stopped; each volume replaced by rename) or as a new server
 *   verify, prune, gc, delete
 *
 * One operation at a time per server (backups_claim). After a crash, backups_reconcile() removes
 * what an interrupted task left (running rows and their snapshots, mounts, manifests without a
 * row, restore temp files) so the store verifies clean and every server starts.
 */
#ifndef CARVE_DAEMON_BACKUPS_H
#define CARVE_DAEMON_BACKUPS_H

#include "backup/backup.h"
#include "daemon/daemon.h"
#include "daemon/tasks.h"
#include "db/db-backup.h"

#define BACKUP_STORE_DEFAULT "default"

DEFINE_CLEANUP_FUNC(struct backup_store, backup_store_free)

struct backup_op {
	char server_id[33]; /* create, restore in place; restore as new: the new server */
	char tenant_id[33];
	char store[64];
	char backup_id[64]; /* restore, verify, delete ("" for verify: the whole store) */
	bool scheduled;
	bool new_server; /* restore as a new server */
	struct backup_prune_policy policy; /* prune; create: prune after it when set */
	bool prune_after;
};

/* Open every store's directory (creating the default), then repair what a crash left. */
int backups_init(struct daemon *d, struct carve_error *err);

/* A store's path and whether it encrypts; -ENOENT naming it. */
int backups_store_lookup(struct daemon *d, const char *name, char *path, size_t len,
			 bool *ret_encrypt, struct carve_error *err);
/* Open a store with the key of tenant_id added (NULL: every tenant's key). */
int backups_store_open(struct daemon *d, const char *name, const char *tenant_id,
		       struct backup_store **ret, struct carve_error *err);

/* Mark a server busy with a backup operation; -EBUSY naming it when it already is. */
int backups_claim(struct daemon *d, const char *server_id, const char *what,
		  struct carve_error *err);
void backups_release(const char *server_id);
/* Whether a restore into the server's own volumes (in place, or a single file) holds it. */
bool backups_restoring(const char *server_id);

/* Whether name is a storage snapshot a backup keeps (servers.c's reconcile leaves it). */
bool backups_snapshot_known(struct daemon *d, const char *name);

/* Recompute the bytes tenant_id's backups occupy in store. */
void backups_update_usage(struct daemon *d, const char *tenant_id, const char *store);

/* Schedules: validate an expression ("m h dom mon dow", "@daily", "@every 6h"); the next run
 * after now (UTC). min_interval: the shortest interval an "@every" may have. */
int backup_schedule_parse(const char *expr, int64_t now, uint64_t min_interval, int64_t *ret_next,
			  struct carve_error *err);
/* Run due schedules (housekeeping); returns the seconds until the next one is due (or 30). */
int backups_housekeeping(struct daemon *d);

int backup_task_create(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err);
int backup_task_delete(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err);
int backup_task_restore(struct daemon *d, struct task_ctx *ctx, void *userdata,
			struct carve_error *err);
int backup_task_verify(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err);
int backup_task_prune(struct daemon *d, struct task_ctx *ctx, void *userdata,
		      struct carve_error *err);
int backup_task_gc(struct daemon *d, struct task_ctx *ctx, void *userdata, struct carve_error *err);

/* Queue a backup of server s (tenant's, into store). */
int backups_submit(struct daemon *d, const char *user_id, const struct db_server *s,
		   const char *kind, struct backup_op *op, task_fn fn, const char *object,
		   struct db_task **ret, struct carve_error *err);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backup records (schema version 5). A backup's data and manifest live in a backup store (see
 * src/backup); these rows say whose it is (tenant, server), where it is (store), which storage
 * snapshot of the server's volumes it keeps for the next incremental backup, and its statistics.
 * A row is "running" (backup_id NULL) from before its snapshots are taken until the store holds
 * the complete manifest: after a crash, reconcile removes what a running row names. Also: the
 * provider's extra backup stores, one random key per tenant (never leaves carved), schedules and
 * the bytes each tenant's backups reference per store.
 *
 * Ownership and threads as in db.h.
 */
#ifndef CARVE_DB_BACKUP_H
#define CARVE_DB_BACKUP_H

#include "db/db.h"

struct db_backup_store {
	char name[64];
	char *path;
	bool encrypt;
	int64_t created_at;
};

int db_backup_store_create(struct db *db, struct db_backup_store *s, struct carve_error *err);
int db_backup_store_get(struct db *db, const char *name, struct db_backup_store **ret,
			struct carve_error *err);
int db_backup_store_list(struct db *db, struct db_backup_store ***ret, size_t *ret_n,
			 struct carve_error *err);
int db_backup_store_delete(struct db *db, const char *name, struct carve_error *err);
struct db_backup_store *db_backup_store_free(struct db_backup_store *s);
void db_backup_store_list_free(struct db_backup_store **l, size_t n);

/* The tenant's key; created (random, from the caller) on first use: if a key exists already,
 * it is returned and `fresh` is ignored. */
int db_backup_key_get_or_create(struct db *db, const char *tenant_id, const uint8_t fresh[32],
				uint8_t ret[32], struct carve_error *err);
/* Every tenant's key (for verify and listing across a store). */
int db_backup_key_list(struct db *db, uint8_t (**ret)[32], size_t *ret_n, struct carve_error *err);

enum db_backup_state {
	DB_BACKUP_RUNNING,
	DB_BACKUP_COMPLETE,
	_DB_BACKUP_STATE_MAX,
	_DB_BACKUP_STATE_INVALID = -EINVAL,
};

struct db_backup {
	char id[33]; /* carved's row id */
	char backup_id[64]; /* the store's id; "" while running */
	enum db_backup_state state;
	char store[64];
	char tenant_id[33];
	char server_id[33]; /* the server may be gone: backups outlive it */
	char server_name[64];
	char kind[16];
	char snapshot[64]; /* storage snapshot kept for the next incremental; "" when none */
	/* JSON array: [{"name","volume_id","pool","size","path"}] (path: data volumes) */
	char *volumes;
	char *stats; /* JSON object, NULL while running */
	bool encrypted;
	bool scheduled;
	int64_t created_at;
	char *verify; /* JSON: the last verify report, NULL when never verified */
};

/* Fills b->id and created_at. */
int db_backup_create(struct db *db, struct db_backup *b, struct carve_error *err);
/* By the store's backup id. */
int db_backup_get(struct db *db, const char *backup_id, struct db_backup **ret,
		  struct carve_error *err);
/* Filters are nullable; complete_only hides running rows. Oldest first. */
int db_backup_list(struct db *db, const char *tenant_id, const char *server_id, const char *store,
		   bool complete_only, struct db_backup ***ret, size_t *ret_n,
		   struct carve_error *err);
/* Writes backup_id, state, snapshot, stats, encrypted (by row id). */
int db_backup_update(struct db *db, const struct db_backup *b, struct carve_error *err);
int db_backup_delete(struct db *db, const char *id, struct carve_error *err);
int db_backup_set_verify(struct db *db, const char *id, const char *report,
			 struct carve_error *err);
struct db_backup *db_backup_free(struct db_backup *b);
void db_backup_list_free(struct db_backup **l, size_t n);
/* Whether a storage snapshot of that name belongs to a backup row (any state). */
bool db_backup_snapshot_known(struct db *db, const char *snapshot);

int db_backup_usage_set(struct db *db, const char *tenant_id, const char *store, uint64_t bytes,
			uint64_t chunks, struct carve_error *err);
/* Sum over stores of the tenant's referenced bytes. */
int db_backup_usage_get(struct db *db, const char *tenant_id, uint64_t *ret_bytes,
			struct carve_error *err);

struct db_backup_schedule {
	char server_id[33];
	char expr[128];
	char store[64];
	uint32_t keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
	int64_t next_run;
	int64_t last_run;
	char *last_error;
};

/* Insert or replace. */
int db_backup_schedule_set(struct db *db, const struct db_backup_schedule *s,
			   struct carve_error *err);
int db_backup_schedule_get(struct db *db, const char *server_id, struct db_backup_schedule **ret,
			   struct carve_error *err);
/* Those with next_run <= now. */
int db_backup_schedule_due(struct db *db, int64_t now, struct db_backup_schedule ***ret,
			   size_t *ret_n, struct carve_error *err);
/* The earliest next_run (0 when there is no schedule). */
int64_t db_backup_schedule_next(struct db *db);
int db_backup_schedule_delete(struct db *db, const char *server_id, struct carve_error *err);
struct db_backup_schedule *db_backup_schedule_free(struct db_backup_schedule *s);
void db_backup_schedule_list_free(struct db_backup_schedule **l, size_t n);

DEFINE_CLEANUP_FUNC(struct db_backup_store, db_backup_store_free)
DEFINE_CLEANUP_FUNC(struct db_backup, db_backup_free)
DEFINE_CLEANUP_FUNC(struct db_backup_schedule, db_backup_schedule_free)

#endif

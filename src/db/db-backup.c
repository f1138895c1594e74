/* SPDX-License-Identifier: Apache-2.0 */
/* Backup records, extra backup stores, tenant keys, usage and schedules (see db-backup.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-backup.h"
#include "db/db-internal.h"

/* --- stores ------------------------------------------------------------------------------- */

static int store_row(sqlite3_stmt *st, void **ret)
{
	struct db_backup_store *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	column_copy(st, 0, s->name, sizeof(s->name));
	if (column_dup(st, 1, &s->path) < 0) {
		free(s);
		return -ENOMEM;
	}
	s->encrypt = sqlite3_column_int(st, 2) != 0;
	s->created_at = sqlite3_column_int64(st, 3);
	*ret = s;
	return 0;
}

static void store_free_row(void *p)
{
	db_backup_store_free(p);
}

int db_backup_store_create(struct db *db, struct db_backup_store *s, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	int rc, r;

	r = check_fits(s->name, sizeof(s->name), "backup store name", err);
	if (r < 0)
		return r;
	r = db_prepare(db,
		       "INSERT INTO backup_stores (name, path, encrypt, created_at) VALUES (?, ?, "
		       "?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, s->name) < 0 || bind_text(st, 2, s->path) < 0)
		return -ENOMEM;
	sqlite3_bind_int(st, 3, s->encrypt ? 1 : 0);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "backup store '%s'", s->name);
	s->created_at = now;
	return 0;
}

int db_backup_store_get(struct db *db, const char *name, struct db_backup_store **ret,
			struct carve_error *err)
{
	return db_get_one(
		db, "SELECT name, path, encrypt, created_at FROM backup_stores WHERE name = ?",
		name, store_row, (void **)ret, "backup store", err);
}

int db_backup_store_list(struct db *db, struct db_backup_store ***ret, size_t *ret_n,
			 struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT name, path, encrypt, created_at FROM backup_stores ORDER BY name",
		       &st, err);
	if (r < 0)
		return r;
	return db_collect(db, st, store_row, store_free_row, (void ***)ret, ret_n, "backup stores",
			  err);
}

int db_backup_store_delete(struct db *db, const char *name, struct carve_error *err)
{
	return db_delete_by_id(db, "DELETE FROM backup_stores WHERE name = ?", name, "backup store",
			       err);
}

struct db_backup_store *db_backup_store_free(struct db_backup_store *s)
{
	if (!s)
		return NULL;
	free(s->path);
	free(s);
	return NULL;
}

void db_backup_store_list_free(struct db_backup_store **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		db_backup_store_free(l[i]);
	free(l);
}

/* --- keys --------------------------------------------------------------------------------- */

int db_backup_key_get_or_create(struct db *db, const char *tenant_id, const uint8_t fresh[32],
				uint8_t ret[32], struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *ins = NULL;
	cleanup_stmt sqlite3_stmt *sel = NULL;
	int rc, r;

	r = db_prepare(db,
		       "INSERT OR IGNORE INTO backup_keys (tenant_id, key, created_at) VALUES (?, "
		       "?, ?)",
		       &ins, err);
	if (r < 0)
		return r;
	if (bind_text(ins, 1, tenant_id) < 0 ||
	    sqlite3_bind_blob(ins, 2, fresh, 32, SQLITE_TRANSIENT) != SQLITE_OK)
		return -ENOMEM;
	sqlite3_bind_int64(ins, 3, time(NULL));
	rc = sqlite3_step(ins);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "backup key of tenant '%s'", tenant_id);
	r = db_prepare(db, "SELECT key FROM backup_keys WHERE tenant_id = ?", &sel, err);
	if (r < 0)
		return r;
	if (bind_text(sel, 1, tenant_id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(sel);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "backup key of tenant '%s'", tenant_id);
	if (sqlite3_column_bytes(sel, 0) != 32)
		return carve_err(err, -EIO, "backup key of tenant '%s': bad length", tenant_id);
	memcpy(ret, sqlite3_column_blob(sel, 0), 32);
	return 0;
}

int db_backup_key_list(struct db *db, uint8_t (**ret)[32], size_t *ret_n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	uint8_t(*a)[32] = NULL;
	size_t n = 0;
	int rc, r;

	r = db_prepare(db, "SELECT key FROM backup_keys", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t(*na)[32];

		if (sqlite3_column_bytes(st, 0) != 32)
			continue;
		na = reallocarray(a, n + 1, sizeof(*a));
		if (!na) {
			free(a);
			return -ENOMEM;
		}
		a = na;
		memcpy(a[n++], sqlite3_column_blob(st, 0), 32);
	}
	if (rc != SQLITE_DONE) {
		free(a);
		return db_step_error(db, rc, false, err, "backup keys");
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* --- backups ------------------------------------------------------------------------------ */

#define BACKUP_COLUMNS                                                                              \
	"id, backup_id, state, store, tenant_id, server_id, server_name, kind, snapshot, volumes, " \
	"stats, encrypted, scheduled, created_at, verify"

static int backup_row(sqlite3_stmt *st, void **ret)
{
	struct db_backup *b = calloc(1, sizeof(*b));
	char state[16];

	if (!b)
		return -ENOMEM;
	column_copy(st, 0, b->id, sizeof(b->id));
	column_copy(st, 1, b->backup_id, sizeof(b->backup_id));
	column_copy(st, 2, state, sizeof(state));
	b->state = streq(state, "complete") ? DB_BACKUP_COMPLETE : DB_BACKUP_RUNNING;
	column_copy(st, 3, b->store, sizeof(b->store));
	column_copy(st, 4, b->tenant_id, sizeof(b->tenant_id));
	column_copy(st, 5, b->server_id, sizeof(b->server_id));
	column_copy(st, 6, b->server_name, sizeof(b->server_name));
	column_copy(st, 7, b->kind, sizeof(b->kind));
	column_copy(st, 8, b->snapshot, sizeof(b->snapshot));
	if (column_dup(st, 9, &b->volumes) < 0 || column_dup(st, 10, &b->stats) < 0) {
		db_backup_free(b);
		return -ENOMEM;
	}
	b->encrypted = sqlite3_column_int(st, 11) != 0;
	b->scheduled = sqlite3_column_int(st, 12) != 0;
	b->created_at = sqlite3_column_int64(st, 13);
	if (column_dup(st, 14, &b->verify) < 0) {
		db_backup_free(b);
		return -ENOMEM;
	}
	*ret = b;
	return 0;
}

static void backup_free_row(void *p)
{
	db_backup_free(p);
}

int db_backup_create(struct db *db, struct db_backup *b, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	char id[33];
	int rc, r;

	r = random_id(id);
	if (r < 0)
		return carve_err(err, r, "backup: random id");
	r = db_prepare(db,
		       "INSERT INTO backups (" BACKUP_COLUMNS
		       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, id) < 0 || bind_text_or_null(st, 2, b->backup_id) < 0 ||
	    bind_text(st, 3, b->state == DB_BACKUP_COMPLETE ? "complete" : "running") < 0 ||
	    bind_text(st, 4, b->store) < 0 || bind_text(st, 5, b->tenant_id) < 0 ||
	    bind_text(st, 6, b->server_id) < 0 || bind_text(st, 7, b->server_name) < 0 ||
	    bind_text(st, 8, b->kind) < 0 || bind_text(st, 9, b->snapshot) < 0 ||
	    bind_text(st, 10, b->volumes ? b->volumes : "[]") < 0 ||
	    bind_text(st, 11, b->stats) < 0)
		return -ENOMEM;
	sqlite3_bind_int(st, 12, b->encrypted ? 1 : 0);
	sqlite3_bind_int(st, 13, b->scheduled ? 1 : 0);
	sqlite3_bind_int64(st, 14, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "backup of server '%s'", b->server_name);
	memcpy(b->id, id, sizeof(id));
	b->created_at = now;
	return 0;
}

int db_backup_get(struct db *db, const char *backup_id, struct db_backup **ret,
		  struct carve_error *err)
{
	return db_get_one(db, "SELECT " BACKUP_COLUMNS " FROM backups WHERE backup_id = ?",
			  backup_id, backup_row, (void **)ret, "backup", err);
}

int db_backup_list(struct db *db, const char *tenant_id, const char *server_id, const char *store,
		   bool complete_only, struct db_backup ***ret, size_t *ret_n,
		   struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT " BACKUP_COLUMNS " FROM backups WHERE (?1 IS NULL OR tenant_id = ?1)"
		       " AND (?2 IS NULL OR server_id = ?2) AND (?3 IS NULL OR store = ?3)"
		       " AND (?4 = 0 OR state = 'complete') ORDER BY created_at, rowid",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, tenant_id) < 0 || bind_text(st, 2, server_id) < 0 ||
	    bind_text(st, 3, store) < 0)
		return -ENOMEM;
	sqlite3_bind_int(st, 4, complete_only ? 1 : 0);
	return db_collect(db, st, backup_row, backup_free_row, (void ***)ret, ret_n, "backups",
			  err);
}

int db_backup_update(struct db *db, const struct db_backup *b, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db,
		       "UPDATE backups SET backup_id = ?, state = ?, snapshot = ?, stats = ?, "
		       "encrypted = ?, volumes = ? WHERE id = ?",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text_or_null(st, 1, b->backup_id) < 0 ||
	    bind_text(st, 2, b->state == DB_BACKUP_COMPLETE ? "complete" : "running") < 0 ||
	    bind_text(st, 3, b->snapshot) < 0 || bind_text(st, 4, b->stats) < 0 ||
	    bind_text(st, 6, b->volumes ? b->volumes : "[]") < 0 || bind_text(st, 7, b->id) < 0)
		return -ENOMEM;
	sqlite3_bind_int(st, 5, b->encrypted ? 1 : 0);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "backup '%s'", b->backup_id);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "backup '%s' not found", b->backup_id);
	return 0;
}

int db_backup_delete(struct db *db, const char *id, struct carve_error *err)
{
	return db_delete_by_id(db, "DELETE FROM backups WHERE id = ?", id, "backup", err);
}

int db_backup_set_verify(struct db *db, const char *id, const char *report, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, "UPDATE backups SET verify = ? WHERE id = ?", &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, report) < 0 || bind_text(st, 2, id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "backup verify report");
	return 0;
}

bool db_backup_snapshot_known(struct db *db, const char *snapshot)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;

	if (!snapshot || !*snapshot ||
	    db_prepare(db, "SELECT 1 FROM backups WHERE snapshot = ?", &st, NULL) < 0 ||
	    bind_text(st, 1, snapshot) < 0)
		return false;
	return sqlite3_step(st) == SQLITE_ROW;
}

struct db_backup *db_backup_free(struct db_backup *b)
{
	if (!b)
		return NULL;
	free(b->volumes);
	free(b->stats);
	free(b->verify);
	free(b);
	return NULL;
}

void db_backup_list_free(struct db_backup **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		db_backup_free(l[i]);
	free(l);
}

/* --- usage -------------------------------------------------------------------------------- */

int db_backup_usage_set(struct db *db, const char *tenant_id, const char *store, uint64_t bytes,
			uint64_t chunks, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(
		db,
		"INSERT OR REPLACE INTO backup_usage (tenant_id, store, bytes, chunks) VALUES "
		"(?, ?, ?, ?)",
		&st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, tenant_id) < 0 || bind_text(st, 2, store) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 3, (int64_t)(bytes > INT64_MAX ? INT64_MAX : bytes));
	sqlite3_bind_int64(st, 4, (int64_t)(chunks > INT64_MAX ? INT64_MAX : chunks));
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "backup usage of tenant '%s'", tenant_id);
	return 0;
}

int db_backup_usage_get(struct db *db, const char *tenant_id, uint64_t *ret_bytes,
			struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, "SELECT COALESCE(SUM(bytes), 0) FROM backup_usage WHERE tenant_id = ?",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, tenant_id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "backup usage");
	*ret_bytes = (uint64_t)sqlite3_column_int64(st, 0);
	return 0;
}

/* --- schedules ---------------------------------------------------------------------------- */

#define SCHEDULE_COLUMNS                                                                          \
	"server_id, expr, store, keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, " \
	"keep_yearly, next_run, last_run, last_error"

static int schedule_row(sqlite3_stmt *st, void **ret)
{
	struct db_backup_schedule *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	column_copy(st, 0, s->server_id, sizeof(s->server_id));
	column_copy(st, 1, s->expr, sizeof(s->expr));
	column_copy(st, 2, s->store, sizeof(s->store));
	s->keep_last = (uint32_t)sqlite3_column_int64(st, 3);
	s->keep_hourly = (uint32_t)sqlite3_column_int64(st, 4);
	s->keep_daily = (uint32_t)sqlite3_column_int64(st, 5);
	s->keep_weekly = (uint32_t)sqlite3_column_int64(st, 6);
	s->keep_monthly = (uint32_t)sqlite3_column_int64(st, 7);
	s->keep_yearly = (uint32_t)sqlite3_column_int64(st, 8);
	s->next_run = sqlite3_column_int64(st, 9);
	s->last_run = sqlite3_column_int64(st, 10);
	if (column_dup(st, 11, &s->last_error) < 0) {
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

static void schedule_free_row(void *p)
{
	db_backup_schedule_free(p);
}

int db_backup_schedule_set(struct db *db, const struct db_backup_schedule *s,
			   struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db,
		       "INSERT OR REPLACE INTO backup_schedules (" SCHEDULE_COLUMNS
		       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, s->server_id) < 0 || bind_text(st, 2, s->expr) < 0 ||
	    bind_text(st, 3, s->store) < 0 || bind_text(st, 12, s->last_error) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 4, s->keep_last);
	sqlite3_bind_int64(st, 5, s->keep_hourly);
	sqlite3_bind_int64(st, 6, s->keep_daily);
	sqlite3_bind_int64(st, 7, s->keep_weekly);
	sqlite3_bind_int64(st, 8, s->keep_monthly);
	sqlite3_bind_int64(st, 9, s->keep_yearly);
	sqlite3_bind_int64(st, 10, s->next_run);
	sqlite3_bind_int64(st, 11, s->last_run);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "backup schedule");
	return 0;
}

int db_backup_schedule_get(struct db *db, const char *server_id, struct db_backup_schedule **ret,
			   struct carve_error *err)
{
	return db_get_one(db,
			  "SELECT " SCHEDULE_COLUMNS " FROM backup_schedules WHERE server_id = ?",
			  server_id, schedule_row, (void **)ret, "backup schedule of server", err);
}

int db_backup_schedule_due(struct db *db, int64_t now, struct db_backup_schedule ***ret,
			   size_t *ret_n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT " SCHEDULE_COLUMNS
		       " FROM backup_schedules WHERE next_run <= ? ORDER BY next_run",
		       &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, now);
	return db_collect(db, st, schedule_row, schedule_free_row, (void ***)ret, ret_n,
			  "backup schedules", err);
}

int64_t db_backup_schedule_next(struct db *db)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;

	if (db_prepare(db, "SELECT COALESCE(MIN(next_run), 0) FROM backup_schedules", &st, NULL) <
		    0 ||
	    sqlite3_step(st) != SQLITE_ROW)
		return 0;
	return sqlite3_column_int64(st, 0);
}

int db_backup_schedule_delete(struct db *db, const char *server_id, struct carve_error *err)
{
	return db_delete_by_id(db, "DELETE FROM backup_schedules WHERE server_id = ?", server_id,
			       "backup schedule of server", err);
}

struct db_backup_schedule *db_backup_schedule_free(struct db_backup_schedule *s)
{
	if (!s)
		return NULL;
	free(s->last_error);
	free(s);
	return NULL;
}

void db_backup_schedule_list_free(struct db_backup_schedule **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		db_backup_schedule_free(l[i]);
	free(l);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Tasks: long operations with progress. Kept as history: no foreign keys to tenants or users. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define TASK_COLUMNS                                                                   \
	"id, tenant_id, user_id, kind, object, state, progress_done, progress_total, " \
	"progress_unit, error_code, error_message, created_at, started_at, finished_at"

static int task_row(sqlite3_stmt *st, void **ret)
{
	struct db_task *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	column_copy(st, 0, t->id, sizeof(t->id));
	column_copy(st, 1, t->tenant_id, sizeof(t->tenant_id));
	column_copy(st, 2, t->user_id, sizeof(t->user_id));
	column_copy(st, 3, t->kind, sizeof(t->kind));
	column_copy(st, 4, t->object, sizeof(t->object));
	t->state = db_task_state_from_string((const char *)sqlite3_column_text(st, 5));
	t->progress_done = (uint64_t)sqlite3_column_int64(st, 6);
	t->progress_total = (uint64_t)sqlite3_column_int64(st, 7);
	column_copy(st, 8, t->progress_unit, sizeof(t->progress_unit));
	column_copy(st, 9, t->error_code, sizeof(t->error_code));
	if (column_dup(st, 10, &t->error_message) < 0) {
		free(t);
		return -ENOMEM;
	}
	t->created_at = sqlite3_column_int64(st, 11);
	t->started_at = sqlite3_column_int64(st, 12);
	t->finished_at = sqlite3_column_int64(st, 13);
	*ret = t;
	return 0;
}

static void task_free_row(void *p)
{
	db_task_free(p);
}

static int task_check(const struct db_task *t, struct carve_error *err)
{
	int r;

	r = check_fits(t->kind, sizeof(t->kind), "task kind", err);
	if (r >= 0)
		r = check_fits(t->object, sizeof(t->object), "task object", err);
	if (r >= 0)
		r = check_fits(t->progress_unit, sizeof(t->progress_unit), "task progress unit",
			       err);
	if (r >= 0)
		r = check_fits(t->error_code, sizeof(t->error_code), "task error code", err);
	if (r < 0)
		return r;
	if (!db_task_state_to_string(t->state))
		return carve_err(err, -EINVAL, "task '%s': invalid state", t->kind);
	if (t->progress_done > INT64_MAX || t->progress_total > INT64_MAX)
		return carve_err(err, -ERANGE, "task '%s': progress out of range", t->kind);
	return 0;
}

int db_task_create(struct db *db, struct db_task *t, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	char id[33];
	int rc, r;

	r = task_check(t, err);
	if (r < 0)
		return r;
	r = random_id(id);
	if (r < 0)
		return carve_err(err, r, "task '%s': random id", t->kind);
	r = db_prepare(db,
		       "INSERT INTO tasks (" TASK_COLUMNS ") "
		       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, id) < 0 || bind_text_or_null(st, 2, t->tenant_id) < 0 ||
	    bind_text_or_null(st, 3, t->user_id) < 0 || bind_text(st, 4, t->kind) < 0 ||
	    bind_text(st, 5, t->object) < 0 ||
	    bind_text(st, 6, db_task_state_to_string(t->state)) < 0 ||
	    bind_text(st, 9, t->progress_unit) < 0 || bind_text(st, 10, t->error_code) < 0 ||
	    bind_text(st, 11, t->error_message) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 7, (int64_t)t->progress_done);
	sqlite3_bind_int64(st, 8, (int64_t)t->progress_total);
	sqlite3_bind_int64(st, 12, now);
	sqlite3_bind_int64(st, 13, t->started_at);
	sqlite3_bind_int64(st, 14, t->finished_at);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "task '%s'", t->kind);
	memcpy(t->id, id, sizeof(id));
	t->created_at = now;
	return 0;
}

int db_task_get(struct db *db, const char *id, struct db_task **ret, struct carve_error *err)
{
	return db_get_one(db, "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?", id, task_row,
			  (void **)ret, "task", err);
}

int db_task_list(struct db *db, const char *tenant_id, size_t limit, struct db_task ***ret,
		 size_t *ret_n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	/* rowid breaks ties between tasks created within the same second. */
	if (!tenant_id)
		r = db_prepare(db,
			       "SELECT " TASK_COLUMNS " FROM tasks "
			       "ORDER BY created_at DESC, rowid DESC LIMIT ?1",
			       &st, err);
	else
		r = db_prepare(db,
			       "SELECT " TASK_COLUMNS " FROM tasks WHERE tenant_id IS ?2 "
			       "ORDER BY created_at DESC, rowid DESC LIMIT ?1",
			       &st, err);
	if (r < 0)
		return r;
	/* limit 0: no limit (SQLite reads a negative LIMIT as none). */
	sqlite3_bind_int64(st, 1, limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit);
	if (tenant_id && bind_text_or_null(st, 2, tenant_id) < 0)
		return -ENOMEM;
	return db_collect(db, st, task_row, task_free_row, (void ***)ret, ret_n, "tasks", err);
}

int db_task_update(struct db *db, const struct db_task *t, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = task_check(t, err);
	if (r < 0)
		return r;
	r = db_prepare(db,
		       "UPDATE tasks SET state = ?, progress_done = ?, progress_total = ?, "
		       "progress_unit = ?, error_code = ?, error_message = ?, started_at = ?, "
		       "finished_at = ? WHERE id = ?",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, db_task_state_to_string(t->state)) < 0 ||
	    bind_text(st, 4, t->progress_unit) < 0 || bind_text(st, 5, t->error_code) < 0 ||
	    bind_text(st, 6, t->error_message) < 0 || bind_text(st, 9, t->id) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 2, (int64_t)t->progress_done);
	sqlite3_bind_int64(st, 3, (int64_t)t->progress_total);
	sqlite3_bind_int64(st, 7, t->started_at);
	sqlite3_bind_int64(st, 8, t->finished_at);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "task '%s'", t->id);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "task '%s' not found", t->id);
	return 0;
}

int db_task_fail_interrupted(struct db *db, int64_t now, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db,
		       "UPDATE tasks SET state = 'failed', error_code = 'interrupted', "
		       "error_message = 'interrupted: carved restarted', finished_at = ? "
		       "WHERE state IN ('pending', 'running')",
		       &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "interrupted tasks");
	return sqlite3_changes(db->sql);
}

struct db_task *db_task_free(struct db_task *t)
{
	if (!t)
		return NULL;
	free(t->error_message);
	free(t);
	return NULL;
}

void db_task_list_free(struct db_task **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		db_task_free(l[i]);
	free(l);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Pools besides the built-in default, and the provider's event log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define POOL_COLUMNS "name, driver, path, image, size, overcommit, fill_threshold, created_at"

static int pool_row(sqlite3_stmt *st, void **ret)
{
	struct db_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	column_copy(st, 0, p->name, sizeof(p->name));
	column_copy(st, 1, p->driver, sizeof(p->driver));
	if (column_dup(st, 2, &p->path) < 0 || column_dup(st, 3, &p->image) < 0) {
		db_pool_free(p);
		return -ENOMEM;
	}
	p->size = (uint64_t)sqlite3_column_int64(st, 4);
	p->overcommit = sqlite3_column_double(st, 5);
	p->fill_threshold = sqlite3_column_double(st, 6);
	p->created_at = sqlite3_column_int64(st, 7);
	*ret = p;
	return 0;
}

static void pool_free_row(void *p)
{
	db_pool_free(p);
}

int db_pool_create(struct db *db, struct db_pool *p, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	int rc, r;

	r = check_fits(p->name, sizeof(p->name), "pool name", err);
	if (r < 0)
		return r;
	if (p->size > INT64_MAX)
		return carve_err(err, -ERANGE, "pool '%s': size too large", p->name);
	r = db_prepare(db, "INSERT INTO pools (" POOL_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, p->name) < 0 || bind_text(st, 2, p->driver) < 0 ||
	    bind_text(st, 3, p->path) < 0 || bind_text_or_null(st, 4, p->image) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 5, (int64_t)p->size);
	sqlite3_bind_double(st, 6, p->overcommit);
	sqlite3_bind_double(st, 7, p->fill_threshold);
	sqlite3_bind_int64(st, 8, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "pool '%s'", p->name);
	p->created_at = now;
	return 0;
}

int db_pool_get(struct db *db, const char *name, struct db_pool **ret, struct carve_error *err)
{
	return db_get_one(db, "SELECT " POOL_COLUMNS " FROM pools WHERE name = ?", name, pool_row,
			  (void **)ret, "pool", err);
}

int db_pool_list(struct db *db, struct db_pool ***ret, size_t *ret_n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_prepare(db, "SELECT " POOL_COLUMNS " FROM pools ORDER BY name", &st, err);

	if (r < 0)
		return r;
	return db_collect(db, st, pool_row, pool_free_row, (void ***)ret, ret_n, "pools", err);
}

int db_pool_update(struct db *db, const struct db_pool *p, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, "UPDATE pools SET overcommit = ?, fill_threshold = ? WHERE name = ?",
		       &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_double(st, 1, p->overcommit);
	sqlite3_bind_double(st, 2, p->fill_threshold);
	if (bind_text(st, 3, p->name) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "pool '%s'", p->name);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "pool '%s' not found", p->name);
	return 0;
}

static int count_users(struct db *db, const char *sql, const char *name, int64_t *ret,
		       struct carve_error *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(db, sql, &st, err);

	if (r < 0)
		return r;
	if (bind_text(st, 1, name) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "pool '%s'", name);
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

int db_pool_delete(struct db *db, const char *name, struct carve_error *err)
{
	DB_LOCKED(db);
	int64_t servers = 0, volumes = 0;
	int r;

	r = count_users(db, "SELECT count(*) FROM servers WHERE pool = ?", name, &servers, err);
	if (r >= 0)
		r = count_users(db, "SELECT count(*) FROM volumes WHERE pool = ?", name, &volumes,
				err);
	if (r < 0)
		return r;
	if (servers + volumes > 0)
		return carve_err(err, -EBUSY, "pool '%s' still holds %lld servers and %lld volumes",
				 name, (long long)servers, (long long)volumes);
	return db_delete_by_id(db, "DELETE FROM pools WHERE name = ?", name, "pool", err);
}

struct db_pool *db_pool_free(struct db_pool *p)
{
	if (!p)
		return NULL;
	free(p->path);
	free(p->image);
	free(p);
	return NULL;
}

void db_pool_list_free(struct db_pool **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		db_pool_free(l[i]);
	free(l);
}

/* --- events --------------------------------------------------------------------------------- */

int db_event_append(struct db *db, const char *kind, const char *object, const char *message,
		    struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, "INSERT INTO events (at, kind, object, message) VALUES (?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, time(NULL));
	if (bind_text(st, 2, kind) < 0 || bind_text(st, 3, object) < 0 ||
	    bind_text(st, 4, message) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "event '%s'", kind);
	return 0;
}

static int event_row(sqlite3_stmt *st, void **ret)
{
	struct db_event *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->seq = sqlite3_column_int64(st, 0);
	e->at = sqlite3_column_int64(st, 1);
	column_copy(st, 2, e->kind, sizeof(e->kind));
	column_copy(st, 3, e->object, sizeof(e->object));
	if (column_dup(st, 4, &e->message) < 0) {
		free(e);
		return -ENOMEM;
	}
	*ret = e;
	return 0;
}

static void event_free_row(void *p)
{
	struct db_event *e = p;

	if (e)
		free(e->message);
	free(e);
}

int db_event_list(struct db *db, size_t limit, struct db_event ***ret, size_t *ret_n,
		  struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_prepare(db,
			   "SELECT seq, at, kind, object, message FROM events ORDER BY seq DESC "
			   "LIMIT ?",
			   &st, err);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, limit ? (int64_t)limit : -1);
	return db_collect(db, st, event_row, event_free_row, (void ***)ret, ret_n, "events", err);
}

void db_event_list_free(struct db_event **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		event_free_row(l[i]);
	free(l);
}

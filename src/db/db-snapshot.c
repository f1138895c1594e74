/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshots: named points in time of a server's root volume. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define SNAPSHOT_COLUMNS "id, server_id, name, size, created_at"

static int snapshot_row(sqlite3_stmt *st, void **ret)
{
	struct db_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	column_copy(st, 0, s->id, sizeof(s->id));
	column_copy(st, 1, s->server_id, sizeof(s->server_id));
	column_copy(st, 2, s->name, sizeof(s->name));
	s->size = (uint64_t)sqlite3_column_int64(st, 3);
	s->created_at = sqlite3_column_int64(st, 4);
	*ret = s;
	return 0;
}

static void snapshot_free_row(void *p)
{
	db_snapshot_free(p);
}

int db_snapshot_create(struct db *db, struct db_snapshot *s, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	char id[33];
	int rc, r;

	r = check_fits(s->name, sizeof(s->name), "snapshot name", err);
	if (r < 0)
		return r;
	if (s->size > INT64_MAX)
		return carve_err(err, -ERANGE, "snapshot '%s': size too large", s->name);
	r = random_id(id);
	if (r < 0)
		return carve_err(err, r, "snapshot '%s': random id", s->name);
	r = db_prepare(db, "INSERT INTO snapshots (" SNAPSHOT_COLUMNS ") VALUES (?, ?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, id) < 0 || bind_text(st, 2, s->server_id) < 0 ||
	    bind_text(st, 3, s->name) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 4, (int64_t)s->size);
	sqlite3_bind_int64(st, 5, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return carve_err(err, -ENOENT, "snapshot '%s': server not found", s->name);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "snapshot '%s'", s->name);
	memcpy(s->id, id, sizeof(id));
	s->created_at = now;
	return 0;
}

int db_snapshot_get(struct db *db, const char *server_id, const char *name,
		    struct db_snapshot **ret, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	void *row = NULL;
	int rc, r;

	r = db_prepare(
		db, "SELECT " SNAPSHOT_COLUMNS " FROM snapshots WHERE server_id = ? AND name = ?",
		&st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, server_id) < 0 || bind_text(st, 2, name) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return carve_err(err, -ENOENT, "snapshot '%s' not found", name);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "snapshot '%s'", name);
	r = snapshot_row(st, &row);
	if (r < 0)
		return carve_err(err, r, "snapshot '%s'", name);
	*ret = row;
	return 0;
}

int db_snapshot_list(struct db *db, const char *server_id, struct db_snapshot ***ret, size_t *ret_n,
		     struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT " SNAPSHOT_COLUMNS
		       " FROM snapshots WHERE server_id = ? ORDER BY created_at, name",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, server_id) < 0)
		return -ENOMEM;
	return db_collect(db, st, snapshot_row, snapshot_free_row, (void ***)ret, ret_n,
			  "snapshots", err);
}

int db_snapshot_delete(struct db *db, const char *id, struct carve_error *err)
{
	return db_delete_by_id(db, "DELETE FROM snapshots WHERE id = ?", id, "snapshot", err);
}

struct db_snapshot *db_snapshot_free(struct db_snapshot *s)
{
	free(s);
	return NULL;
}

void db_snapshot_list_free(struct db_snapshot **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		db_snapshot_free(l[i]);
	free(l);
}

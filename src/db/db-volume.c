/* SPDX-License-Identifier: Apache-2.0 */
/* Data volumes: a tenant's thin ext4 volumes, each attached to at most one server at a path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define VOLUME_COLUMNS "id, tenant_id, name, pool, size, server_id, path, created_at, guest_written"

static int volume_row(sqlite3_stmt *st, void **ret)
{
	struct db_volume *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	column_copy(st, 0, v->id, sizeof(v->id));
	column_copy(st, 1, v->tenant_id, sizeof(v->tenant_id));
	column_copy(st, 2, v->name, sizeof(v->name));
	column_copy(st, 3, v->pool, sizeof(v->pool));
	v->size = (uint64_t)sqlite3_column_int64(st, 4);
	column_copy(st, 5, v->server_id, sizeof(v->server_id));
	r = column_dup(st, 6, &v->path);
	if (r < 0) {
		db_volume_free(v);
		return r;
	}
	v->created_at = sqlite3_column_int64(st, 7);
	v->guest_written = sqlite3_column_int(st, 8) != 0;
	*ret = v;
	return 0;
}

static void volume_free_row(void *p)
{
	db_volume_free(p);
}

static int volume_check(const struct db_volume *v, struct carve_error *err)
{
	int r;

	r = check_fits(v->name, sizeof(v->name), "volume name", err);
	if (r < 0)
		return r;
	if (!v->name[0])
		return carve_err(err, -EINVAL, "volume: no name given");
	if (v->size > INT64_MAX)
		return carve_err(err, -ERANGE, "volume '%s': size too large", v->name);
	if (!v->server_id[0] != !v->path)
		return carve_err(err, -EINVAL, "volume '%s': server and path go together", v->name);
	return 0;
}

/* Two volumes of one server cannot share a mount path: checked under the lock of the write. */
static int path_taken(struct db *db, const struct db_volume *v, struct carve_error *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	if (!v->server_id[0])
		return 0;
	r = db_prepare(db, "SELECT name FROM volumes WHERE server_id = ? AND path = ? AND id != ?",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, v->server_id) < 0 || bind_text(st, 2, v->path) < 0 ||
	    bind_text(st, 3, v->id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return carve_err(err, -EEXIST, "volume '%s': path '%s' is taken by volume '%s'",
				 v->name, v->path, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "volume '%s'", v->name);
	return 0;
}

int db_volume_create(struct db *db, struct db_volume *v, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	char id[33];
	int rc, r;

	r = volume_check(v, err);
	if (r < 0)
		return r;
	r = random_id(id);
	if (r < 0)
		return carve_err(err, r, "volume '%s': random id", v->name);
	memcpy(v->id, id, sizeof(id));
	r = path_taken(db, v, err);
	if (r < 0)
		goto fail;
	r = db_prepare(
		db, "INSERT INTO volumes (" VOLUME_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		&st, err);
	if (r < 0)
		goto fail;
	if (bind_text(st, 1, id) < 0 || bind_text(st, 2, v->tenant_id) < 0 ||
	    bind_text(st, 3, v->name) < 0 ||
	    bind_text(st, 4, v->pool[0] ? v->pool : "default") < 0 ||
	    bind_text_or_null(st, 6, v->server_id) < 0 || bind_text(st, 7, v->path) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	sqlite3_bind_int64(st, 5, (int64_t)v->size);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_bind_int(st, 9, v->guest_written);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		r = carve_err(err, -ENOENT, "volume '%s': tenant or server not found", v->name);
		goto fail;
	}
	if (rc != SQLITE_DONE) {
		r = db_step_error(db, rc, false, err, "volume '%s'", v->name);
		goto fail;
	}
	if (!v->pool[0])
		strscpy(v->pool, "default", sizeof(v->pool));
	v->created_at = now;
	return 0;
fail:
	v->id[0] = 0;
	return r;
}

int db_volume_get_by_name(struct db *db, const char *tenant_id, const char *name,
			  struct db_volume **ret, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	void *row = NULL;
	int rc, r;

	if (!tenant_id || !name)
		return carve_err(err, -EINVAL, "volume: no tenant or name given");
	r = db_prepare(db,
		       "SELECT " VOLUME_COLUMNS " FROM volumes WHERE tenant_id = ? AND name = ?",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, tenant_id) < 0 || bind_text(st, 2, name) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return carve_err(err, -ENOENT, "volume '%s' not found", name);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "volume '%s'", name);
	r = volume_row(st, &row);
	if (r < 0)
		return carve_err(err, r, "volume '%s'", name);
	*ret = row;
	return 0;
}

int db_volume_get_by_id(struct db *db, const char *id, struct db_volume **ret,
			struct carve_error *err)
{
	return db_get_one(db, "SELECT " VOLUME_COLUMNS " FROM volumes WHERE id = ?", id, volume_row,
			  (void **)ret, "volume", err);
}

int db_volume_list(struct db *db, const char *tenant_id, struct db_volume ***ret, size_t *ret_n,
		   struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	if (!tenant_id)
		r = db_prepare(db,
			       "SELECT " VOLUME_COLUMNS " FROM volumes ORDER BY name, tenant_id",
			       &st, err);
	else
		r = db_prepare(db,
			       "SELECT " VOLUME_COLUMNS
			       " FROM volumes WHERE tenant_id = ? ORDER BY name",
			       &st, err);
	if (r < 0)
		return r;
	if (tenant_id && bind_text(st, 1, tenant_id) < 0)
		return -ENOMEM;
	return db_collect(db, st, volume_row, volume_free_row, (void ***)ret, ret_n, "volumes",
			  err);
}

int db_volume_list_by_server(struct db *db, const char *server_id, struct db_volume ***ret,
			     size_t *ret_n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	if (!server_id)
		return carve_err(err, -EINVAL, "volumes: no server given");
	r = db_prepare(db,
		       "SELECT " VOLUME_COLUMNS
		       " FROM volumes WHERE server_id = ? ORDER BY path, name",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, server_id) < 0)
		return -ENOMEM;
	return db_collect(db, st, volume_row, volume_free_row, (void ***)ret, ret_n, "volumes",
			  err);
}

int db_volume_update(struct db *db, const struct db_volume *v, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = volume_check(v, err);
	if (r < 0)
		return r;
	r = path_taken(db, v, err);
	if (r < 0)
		return r;
	/* guest_written only ever goes from 0 to 1 */
	r = db_prepare(db,
		       "UPDATE volumes SET size = ?, server_id = ?, path = ?,"
		       " guest_written = MAX(guest_written, ?) WHERE id = ?",
		       &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (int64_t)v->size);
	sqlite3_bind_int(st, 4, v->guest_written);
	if (bind_text_or_null(st, 2, v->server_id) < 0 || bind_text(st, 3, v->path) < 0 ||
	    bind_text(st, 5, v->id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return carve_err(err, -ENOENT, "volume '%s': server not found", v->name);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "volume '%s'", v->name);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "volume '%s' not found", v->name);
	return 0;
}

int db_volume_delete(struct db *db, const char *id, struct carve_error *err)
{
	return db_delete_by_id(db, "DELETE FROM volumes WHERE id = ?", id, "volume", err);
}

struct db_volume *db_volume_free(struct db_volume *v)
{
	if (!v)
		return NULL;
	free(v->path);
	free(v);
	return NULL;
}

void db_volume_list_free(struct db_volume **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		db_volume_free(l[i]);
	free(l);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Users: login accounts. Provider admins have no tenant (SQL NULL, "" in struct db_user). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define USER_COLUMNS "id, name, tenant_id, role, password_hash, created_at"

static int user_from_row(sqlite3_stmt *st, struct db_user **ret)
{
	struct db_user *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	column_copy(st, 0, u->id, sizeof(u->id));
	column_copy(st, 1, u->name, sizeof(u->name));
	column_copy(st, 2, u->tenant_id, sizeof(u->tenant_id));
	u->role = db_role_from_string((const char *)sqlite3_column_text(st, 3));
	if (column_dup(st, 4, &u->password_hash) < 0) {
		free(u);
		return -ENOMEM;
	}
	u->created_at = sqlite3_column_int64(st, 5);
	*ret = u;
	return 0;
}

static int user_row(sqlite3_stmt *st, void **ret)
{
	return user_from_row(st, (struct db_user **)ret);
}

static void user_free_row(void *p)
{
	db_user_free(p);
}

int db_user_get_by_name(struct db *db, const char *name, struct db_user **ret,
			struct carve_error *err)
{
	return db_get_one(db, "SELECT " USER_COLUMNS " FROM users WHERE name = ?", name, user_row,
			  (void **)ret, "user", err);
}

int db_user_get_by_id(struct db *db, const char *id, struct db_user **ret, struct carve_error *err)
{
	return db_get_one(db, "SELECT " USER_COLUMNS " FROM users WHERE id = ?", id, user_row,
			  (void **)ret, "user", err);
}

int db_user_list(struct db *db, const char *tenant_id, struct db_user ***ret, size_t *ret_n,
		 struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	if (!tenant_id)
		r = db_prepare(db, "SELECT " USER_COLUMNS " FROM users ORDER BY name", &st, err);
	else
		r = db_prepare(
			db, "SELECT " USER_COLUMNS " FROM users WHERE tenant_id IS ? ORDER BY name",
			&st, err);
	if (r < 0)
		return r;
	if (tenant_id && bind_text_or_null(st, 1, tenant_id) < 0)
		return -ENOMEM;
	return db_collect(db, st, user_row, user_free_row, (void ***)ret, ret_n, "users", err);
}

static int user_check(const struct db_user *u, struct carve_error *err)
{
	int r;

	r = check_fits(u->name, sizeof(u->name), "user name", err);
	if (r < 0)
		return r;
	r = check_fits(u->tenant_id, sizeof(u->tenant_id), "user tenant id", err);
	if (r < 0)
		return r;
	if (!db_role_to_string(u->role))
		return carve_err_field(err, -EINVAL, "role", "user '%s': invalid role", u->name);
	return 0;
}

static int user_write_error(struct db *db, int rc, const struct db_user *u, struct carve_error *err)
{
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return carve_err(err, -ENOENT, "user '%s': tenant '%s' not found", u->name,
				 u->tenant_id);
	return db_step_error(db, rc, false, err, "user '%s'", u->name);
}

int db_user_create(struct db *db, struct db_user *u, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	char id[33];
	int rc, r;

	r = user_check(u, err);
	if (r < 0)
		return r;
	r = random_id(id);
	if (r < 0)
		return carve_err(err, r, "user '%s': random id", u->name);
	r = db_prepare(db, "INSERT INTO users (" USER_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?)", &st,
		       err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, id) < 0 || bind_text(st, 2, u->name) < 0 ||
	    bind_text_or_null(st, 3, u->tenant_id) < 0 ||
	    bind_text(st, 4, db_role_to_string(u->role)) < 0 ||
	    bind_text(st, 5, u->password_hash) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 6, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return user_write_error(db, rc, u, err);
	memcpy(u->id, id, sizeof(id));
	u->created_at = now;
	return 0;
}

int db_user_update(struct db *db, const struct db_user *u, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = user_check(u, err);
	if (r < 0)
		return r;
	r = db_prepare(db,
		       "UPDATE users SET name = ?, tenant_id = ?, role = ?, password_hash = ? "
		       "WHERE id = ?",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, u->name) < 0 || bind_text_or_null(st, 2, u->tenant_id) < 0 ||
	    bind_text(st, 3, db_role_to_string(u->role)) < 0 ||
	    bind_text(st, 4, u->password_hash) < 0 || bind_text(st, 5, u->id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return user_write_error(db, rc, u, err);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "user '%s' not found", u->name);
	return 0;
}

int db_user_delete(struct db *db, const char *id, struct carve_error *err)
{
	/* The user's sessions and tokens go with it (ON DELETE CASCADE). */
	return db_delete_by_id(db, "DELETE FROM users WHERE id = ?", id, "user", err);
}

struct db_user *db_user_free(struct db_user *u)
{
	if (!u)
		return NULL;
	if (u->password_hash) {
		explicit_bzero(u->password_hash, strlen(u->password_hash));
		free(u->password_hash);
	}
	free(u);
	return NULL;
}

void db_user_list_free(struct db_user **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		db_user_free(l[i]);
	free(l);
}

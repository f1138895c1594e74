/* SPDX-License-Identifier: Apache-2.0 */
/* Login sessions and API tokens, stored only as the SHA-256 hex of their secret. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define TOKEN_COLUMNS \
	"id, user_id, name, is_session, role, token_hash, created_at, expires_at, last_used_at"

static int token_row(sqlite3_stmt *st, void **ret)
{
	struct db_token *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	column_copy(st, 0, t->id, sizeof(t->id));
	column_copy(st, 1, t->user_id, sizeof(t->user_id));
	column_copy(st, 2, t->name, sizeof(t->name));
	t->is_session = sqlite3_column_int(st, 3) != 0;
	t->role = db_role_from_string((const char *)sqlite3_column_text(st, 4));
	column_copy(st, 5, t->token_hash, sizeof(t->token_hash));
	t->created_at = sqlite3_column_int64(st, 6);
	t->expires_at = sqlite3_column_int64(st, 7);
	t->last_used_at = sqlite3_column_int64(st, 8);
	*ret = t;
	return 0;
}

static void token_free_row(void *p)
{
	db_token_free(p);
}

int db_token_create(struct db *db, struct db_token *t, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	const char *what = t->is_session ? "session" : "token";
	int64_t now = time(NULL);
	char id[33];
	int rc, r;

	r = check_fits(t->name, sizeof(t->name), "token name", err);
	if (r < 0)
		return r;
	if (strlen(t->token_hash) != 64)
		return carve_err(err, -EINVAL, "%s '%s': token hash is not 64 hex characters", what,
				 t->name);
	if (!db_role_to_string(t->role))
		return carve_err_field(err, -EINVAL, "role", "%s '%s': invalid role", what,
				       t->name);
	r = random_id(id);
	if (r < 0)
		return carve_err(err, r, "%s '%s': random id", what, t->name);
	r = db_prepare(db,
		       "INSERT INTO tokens (" TOKEN_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, id) < 0 || bind_text(st, 2, t->user_id) < 0 ||
	    bind_text(st, 3, t->name) < 0 || bind_text(st, 5, db_role_to_string(t->role)) < 0 ||
	    bind_text(st, 6, t->token_hash) < 0)
		return -ENOMEM;
	sqlite3_bind_int(st, 4, t->is_session ? 1 : 0);
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_int64(st, 8, t->expires_at);
	sqlite3_bind_int64(st, 9, t->last_used_at);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return carve_err(err, -ENOENT, "%s '%s': user '%s' not found", what, t->name,
				 t->user_id);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "%s '%s'", what, t->name);
	memcpy(t->id, id, sizeof(id));
	t->created_at = now;
	return 0;
}

int db_token_get_by_hash(struct db *db, const char *token_hash, struct db_token **ret,
			 struct carve_error *err)
{
	struct carve_error local = CARVE_ERROR_INIT;
	int r;

	r = db_get_one(db, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE token_hash = ?", token_hash,
		       token_row, (void **)ret, "token", &local);
	if (r >= 0)
		return r;
	/* Never echo a secret's hash back in a message. */
	if (r == -ENOENT)
		return carve_err(err, r, "token not found");
	return carve_err(err, r, "%s", local.msg);
}

int db_token_get_by_id(struct db *db, const char *id, struct db_token **ret,
		       struct carve_error *err)
{
	return db_get_one(db, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE id = ?", id, token_row,
			  (void **)ret, "token", err);
}

int db_token_list(struct db *db, const char *user_id, struct db_token ***ret, size_t *ret_n,
		  struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	if (!user_id)
		r = db_prepare(db,
			       "SELECT " TOKEN_COLUMNS " FROM tokens WHERE is_session = 0 "
			       "ORDER BY name, created_at",
			       &st, err);
	else
		r = db_prepare(db,
			       "SELECT " TOKEN_COLUMNS " FROM tokens WHERE is_session = 0 "
			       "AND user_id = ? ORDER BY name, created_at",
			       &st, err);
	if (r < 0)
		return r;
	if (user_id && bind_text(st, 1, user_id) < 0)
		return -ENOMEM;
	return db_collect(db, st, token_row, token_free_row, (void ***)ret, ret_n, "tokens", err);
}

int db_token_touch(struct db *db, const char *id, int64_t now, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, "UPDATE tokens SET last_used_at = ? WHERE id = ?", &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, now);
	if (bind_text(st, 2, id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "token '%s'", id);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "token '%s' not found", id);
	return 0;
}

int db_token_delete(struct db *db, const char *id, struct carve_error *err)
{
	return db_delete_by_id(db, "DELETE FROM tokens WHERE id = ?", id, "token", err);
}

int db_token_delete_expired(struct db *db, int64_t now, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, "DELETE FROM tokens WHERE expires_at > 0 AND expires_at < ?", &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, true, err, "expired tokens");
	return sqlite3_changes(db->sql);
}

struct db_token *db_token_free(struct db_token *t)
{
	free(t);
	return NULL;
}

void db_token_list_free(struct db_token **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		db_token_free(l[i]);
	free(l);
}

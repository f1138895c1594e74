/* SPDX-License-Identifier: Apache-2.0 */
/* Templates: the OS images servers are created from. Servers refer to them by id. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define TEMPLATE_COLUMNS                                                                        \
	"id, name, kind, os, description, rootfs_path, init, stop_signal, created_at, volume, " \
	"disk_min, system"

static int template_row(sqlite3_stmt *st, void **ret)
{
	struct db_template *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	column_copy(st, 0, t->id, sizeof(t->id));
	column_copy(st, 1, t->name, sizeof(t->name));
	column_copy(st, 2, t->kind, sizeof(t->kind));
	column_copy(st, 3, t->os, sizeof(t->os));
	if (column_dup(st, 4, &t->description) < 0 || column_dup(st, 5, &t->rootfs_path) < 0 ||
	    column_dup(st, 6, &t->init) < 0 || column_dup(st, 9, &t->volume) < 0) {
		db_template_free(t);
		return -ENOMEM;
	}
	t->stop_signal = sqlite3_column_int(st, 7);
	t->created_at = sqlite3_column_int64(st, 8);
	t->disk_min = (uint64_t)sqlite3_column_int64(st, 10);
	t->system = sqlite3_column_int(st, 11) != 0;
	*ret = t;
	return 0;
}

static void template_free_row(void *p)
{
	db_template_free(p);
}

int db_template_create(struct db *db, struct db_template *t, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	char id[33];
	int rc, r;

	r = check_fits(t->name, sizeof(t->name), "template name", err);
	if (r >= 0)
		r = check_fits(t->kind, sizeof(t->kind), "template kind", err);
	if (r >= 0)
		r = check_fits(t->os, sizeof(t->os), "template os", err);
	if (r < 0)
		return r;
	r = random_id(id);
	if (r < 0)
		return carve_err(err, r, "template '%s': random id", t->name);
	r = db_prepare(db,
		       "INSERT INTO templates (" TEMPLATE_COLUMNS ") "
		       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, id) < 0 || bind_text(st, 2, t->name) < 0 ||
	    bind_text(st, 3, t->kind) < 0 || bind_text(st, 4, t->os) < 0 ||
	    bind_text(st, 5, t->description) < 0 || bind_text(st, 6, t->rootfs_path) < 0 ||
	    bind_text(st, 7, t->init) < 0 || bind_text(st, 10, t->volume) < 0)
		return -ENOMEM;
	sqlite3_bind_int(st, 8, t->stop_signal);
	sqlite3_bind_int64(st, 9, now);
	sqlite3_bind_int64(st, 11, (int64_t)t->disk_min);
	sqlite3_bind_int(st, 12, t->system ? 1 : 0);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "template '%s'", t->name);
	memcpy(t->id, id, sizeof(id));
	t->created_at = now;
	return 0;
}

int db_template_get_by_name(struct db *db, const char *name, struct db_template **ret,
			    struct carve_error *err)
{
	return db_get_one(db, "SELECT " TEMPLATE_COLUMNS " FROM templates WHERE name = ?", name,
			  template_row, (void **)ret, "template", err);
}

int db_template_get_by_id(struct db *db, const char *id, struct db_template **ret,
			  struct carve_error *err)
{
	return db_get_one(db, "SELECT " TEMPLATE_COLUMNS " FROM templates WHERE id = ?", id,
			  template_row, (void **)ret, "template", err);
}

int db_template_list(struct db *db, struct db_template ***ret, size_t *ret_n,
		     struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db, "SELECT " TEMPLATE_COLUMNS " FROM templates ORDER BY name", &st, err);
	if (r < 0)
		return r;
	return db_collect(db, st, template_row, template_free_row, (void ***)ret, ret_n,
			  "templates", err);
}

int db_template_delete(struct db *db, const char *id, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct db_template *t = NULL;
	int64_t n;
	int rc, r;

	r = db_template_get_by_id(db, id, &t, err);
	if (r < 0)
		return r;
	r = db_prepare(db, "SELECT count(*) FROM servers WHERE template_id = ?", &st, err);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, id) < 0) {
		r = -ENOMEM;
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = db_step_error(db, rc, false, err, "template '%s'", t->name);
		goto out;
	}
	n = sqlite3_column_int64(st, 0);
	if (n > 0) {
		r = carve_err(err, -EBUSY, "template '%s' is still used by %lld server%s", t->name,
			      (long long)n, n == 1 ? "" : "s");
		goto out;
	}
	r = db_delete_by_id(db, "DELETE FROM templates WHERE id = ?", id, "template", err);
out:
	db_template_free(t);
	return r;
}

struct db_template *db_template_free(struct db_template *t)
{
	if (!t)
		return NULL;
	free(t->description);
	free(t->rootfs_path);
	free(t->init);
	free(t->volume);
	free(t);
	return NULL;
}

void db_template_list_free(struct db_template **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		db_template_free(l[i]);
	free(l);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Tenants: the client organizations. Each holds a uid_slot, its disjoint host uid/gid range. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define TENANT_COLUMNS \
	"id, name, description, uid_slot, created_at, max_vcpus, max_memory, max_pids, max_ports"

/* How many names a "still in use" message lists before "...". */
#define BUSY_NAMES_MAX 5

static int tenant_from_row(sqlite3_stmt *st, struct db_tenant **ret)
{
	struct db_tenant *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	column_copy(st, 0, t->id, sizeof(t->id));
	column_copy(st, 1, t->name, sizeof(t->name));
	if (column_dup(st, 2, &t->description) < 0) {
		free(t);
		return -ENOMEM;
	}
	t->uid_slot = (uint32_t)sqlite3_column_int64(st, 3);
	t->created_at = sqlite3_column_int64(st, 4);
	t->max_vcpus = (uint32_t)sqlite3_column_int64(st, 5);
	t->max_memory = (uint64_t)sqlite3_column_int64(st, 6);
	t->max_pids = (uint64_t)sqlite3_column_int64(st, 7);
	t->max_ports = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 8);
	*ret = t;
	return 0;
}

static int tenant_row(sqlite3_stmt *st, void **ret)
{
	return tenant_from_row(st, (struct db_tenant **)ret);
}

static void tenant_free_row(void *p)
{
	db_tenant_free(p);
}

int db_tenant_get_by_name(struct db *db, const char *name, struct db_tenant **ret,
			  struct carve_error *err)
{
	return db_get_one(db, "SELECT " TENANT_COLUMNS " FROM tenants WHERE name = ?", name,
			  tenant_row, (void **)ret, "tenant", err);
}

int db_tenant_get_by_id(struct db *db, const char *id, struct db_tenant **ret,
			struct carve_error *err)
{
	return db_get_one(db, "SELECT " TENANT_COLUMNS " FROM tenants WHERE id = ?", id, tenant_row,
			  (void **)ret, "tenant", err);
}

int db_tenant_list(struct db *db, struct db_tenant ***ret, size_t *ret_n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db, "SELECT " TENANT_COLUMNS " FROM tenants ORDER BY name", &st, err);
	if (r < 0)
		return r;
	return db_collect(db, st, tenant_row, tenant_free_row, (void ***)ret, ret_n, "tenants",
			  err);
}

static int lowest_free_slot(struct db *db, uint32_t *ret, struct carve_error *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	/* 0 if free, else the first slot after a used one that is itself free: the lowest gap. */
	r = db_prepare(db,
		       "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM tenants WHERE uid_slot = 0) "
		       "THEN 0 ELSE (SELECT min(a.uid_slot + 1) FROM tenants a WHERE NOT EXISTS "
		       "(SELECT 1 FROM tenants b WHERE b.uid_slot = a.uid_slot + 1)) END",
		       &st, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "tenant uid slot");
	if (sqlite3_column_int64(st, 0) > UINT32_MAX)
		return carve_err(err, -ENOSPC, "no free tenant uid slot");
	*ret = (uint32_t)sqlite3_column_int64(st, 0);
	return 0;
}

int db_tenant_create(struct db *db, struct db_tenant *t, struct carve_error *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	char id[33];
	uint32_t slot = 0;
	int64_t now = time(NULL);
	int rc, r;

	r = check_fits(t->name, sizeof(t->name), "tenant name", err);
	if (r < 0)
		return r;
	r = random_id(id);
	if (r < 0)
		return carve_err(err, r, "tenant '%s': random id", t->name);

	r = db_transaction_begin(db, err);
	if (r < 0)
		return r;
	r = lowest_free_slot(db, &slot, err);
	if (r < 0)
		goto fail;
	r = db_prepare(
		db,
		"INSERT INTO tenants (id, name, description, uid_slot, created_at) VALUES (?, ?, ?, ?, ?)",
		&st, err);
	if (r < 0)
		goto fail;
	if (bind_text(st, 1, id) < 0 || bind_text(st, 2, t->name) < 0 ||
	    bind_text(st, 3, t->description) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	sqlite3_bind_int64(st, 4, slot);
	sqlite3_bind_int64(st, 5, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		r = db_step_error(db, rc, false, err, "tenant '%s'", t->name);
		goto fail;
	}
	r = db_transaction_commit(db, err);
	if (r < 0)
		return r;
	memcpy(t->id, id, sizeof(id));
	t->uid_slot = slot;
	t->created_at = now;
	t->max_ports = -1;
	return 0;
fail:
	db_transaction_rollback(db);
	return r;
}

int db_tenant_update(struct db *db, const struct db_tenant *t, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = check_fits(t->name, sizeof(t->name), "tenant name", err);
	if (r < 0)
		return r;
	r = db_prepare(
		db,
		"UPDATE tenants SET name = ?, description = ?, max_vcpus = ?, max_memory = ?, "
		"max_pids = ?, max_ports = ? WHERE id = ?",
		&st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, t->name) < 0 || bind_text(st, 2, t->description) < 0 ||
	    bind_text(st, 7, t->id) < 0)
		return -ENOMEM;
	if (t->max_memory > INT64_MAX || t->max_pids > INT64_MAX)
		return carve_err(err, -ERANGE, "tenant '%s': limit too large", t->name);
	sqlite3_bind_int64(st, 3, t->max_vcpus);
	sqlite3_bind_int64(st, 4, (int64_t)t->max_memory);
	sqlite3_bind_int64(st, 5, (int64_t)t->max_pids);
	if (t->max_ports >= 0)
		sqlite3_bind_int64(st, 6, t->max_ports);
	else
		sqlite3_bind_null(st, 6);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "tenant '%s'", t->name);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "tenant '%s' not found", t->id);
	return 0;
}

/* "2 servers (web1, web2)" into buf; returns the count. */
static int describe_users_of(struct db *db, const char *sql_count, const char *sql_names,
			     const char *id, const char *noun, char *buf, size_t len,
			     struct carve_error *err)
{
	cleanup_stmt sqlite3_stmt *cnt = NULL, *names = NULL;
	int64_t n;
	size_t off;
	int rc, r, i = 0;

	buf[0] = '\0';
	r = db_prepare(db, sql_count, &cnt, err);
	if (r < 0)
		return r;
	if (bind_text(cnt, 1, id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(cnt);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "%s", noun);
	n = sqlite3_column_int64(cnt, 0);
	if (n == 0)
		return 0;
	r = db_prepare(db, sql_names, &names, err);
	if (r < 0)
		return r;
	if (bind_text(names, 1, id) < 0)
		return -ENOMEM;
	sqlite3_bind_int(names, 2, BUSY_NAMES_MAX);
	off = (size_t)snprintf(buf, len, "%lld %s%s (", (long long)n, noun, n == 1 ? "" : "s");
	while (off < len && (rc = sqlite3_step(names)) == SQLITE_ROW)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i++ ? ", " : "",
					(const char *)sqlite3_column_text(names, 0));
	if (off < len)
		snprintf(buf + off, len - off, "%s)", n > BUSY_NAMES_MAX ? ", ..." : "");
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

int db_tenant_delete(struct db *db, const char *id, struct carve_error *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct db_tenant *t = NULL;
	char servers[256], users[256];
	int ns, nu, rc, r;

	r = db_transaction_begin(db, err);
	if (r < 0)
		return r;
	r = db_tenant_get_by_id(db, id, &t, err);
	if (r < 0)
		goto fail;
	r = ns = describe_users_of(
		db, "SELECT count(*) FROM servers WHERE tenant_id = ?",
		"SELECT name FROM servers WHERE tenant_id = ? ORDER BY name LIMIT ?", id, "server",
		servers, sizeof(servers), err);
	if (r < 0)
		goto fail;
	r = nu = describe_users_of(
		db, "SELECT count(*) FROM users WHERE tenant_id = ?",
		"SELECT name FROM users WHERE tenant_id = ? ORDER BY name LIMIT ?", id, "user",
		users, sizeof(users), err);
	if (r < 0)
		goto fail;
	if (ns > 0 || nu > 0) {
		r = carve_err(err, -EBUSY, "tenant '%s' still has %s%s%s", t->name, servers,
			      ns > 0 && nu > 0 ? " and " : "", users);
		goto fail;
	}
	r = db_prepare(db, "DELETE FROM tenants WHERE id = ?", &st, err);
	if (r < 0)
		goto fail;
	if (bind_text(st, 1, id) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		r = db_step_error(db, rc, true, err, "tenant '%s'", t->name);
		goto fail;
	}
	db_tenant_free(t);
	return db_transaction_commit(db, err);
fail:
	db_tenant_free(t);
	db_transaction_rollback(db);
	return r;
}

struct db_tenant *db_tenant_free(struct db_tenant *t)
{
	if (!t)
		return NULL;
	free(t->description);
	free(t);
	return NULL;
}

void db_tenant_list_free(struct db_tenant **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		db_tenant_free(l[i]);
	free(l);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Servers. The store records the state; the daemon owns the state machine and moves a server only
 * through db_server_transition(), a compare-and-set, so two requests racing on one server cannot
 * both win.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define SERVER_COLUMNS                                                                      \
	"id, name, tenant_id, template_id, kind, vcpus, memory, state, state_reason, pid, " \
	"monitor_pid, created_at, updated_at, disk, pool, pids_max, io_read_bps, "          \
	"io_write_bps, io_read_iops, io_write_iops, vm_uid_slot, cloud_init, machine"

static int server_row(sqlite3_stmt *st, void **ret)
{
	struct db_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	column_copy(st, 0, s->id, sizeof(s->id));
	column_copy(st, 1, s->name, sizeof(s->name));
	column_copy(st, 2, s->tenant_id, sizeof(s->tenant_id));
	column_copy(st, 3, s->template_id, sizeof(s->template_id));
	column_copy(st, 4, s->kind, sizeof(s->kind));
	s->vcpus = (uint32_t)sqlite3_column_int64(st, 5);
	s->memory = (uint64_t)sqlite3_column_int64(st, 6);
	s->state = db_server_state_from_string((const char *)sqlite3_column_text(st, 7));
	if (column_dup(st, 8, &s->state_reason) < 0) {
		free(s);
		return -ENOMEM;
	}
	s->pid = sqlite3_column_int64(st, 9);
	s->monitor_pid = sqlite3_column_int64(st, 10);
	s->created_at = sqlite3_column_int64(st, 11);
	s->updated_at = sqlite3_column_int64(st, 12);
	s->disk = (uint64_t)sqlite3_column_int64(st, 13);
	column_copy(st, 14, s->pool, sizeof(s->pool));
	s->pids_max = (uint64_t)sqlite3_column_int64(st, 15);
	s->io.read_bps = (uint64_t)sqlite3_column_int64(st, 16);
	s->io.write_bps = (uint64_t)sqlite3_column_int64(st, 17);
	s->io.read_iops = (uint64_t)sqlite3_column_int64(st, 18);
	s->io.write_iops = (uint64_t)sqlite3_column_int64(st, 19);
	s->vm_uid_slot =
		sqlite3_column_type(st, 20) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 20);
	if (column_dup(st, 21, &s->cloud_init) < 0) {
		db_server_free(s);
		return -ENOMEM;
	}
	column_copy(st, 22, s->machine, sizeof(s->machine));
	/* rows from before migration 10 are q35 VMs */
	if (!s->machine[0] && streq(s->kind, "vm"))
		strscpy(s->machine, "q35", sizeof(s->machine));
	*ret = s;
	return 0;
}

static void server_free_row(void *p)
{
	db_server_free(p);
}

static int server_check(const struct db_server *s, struct carve_error *err)
{
	int r;

	r = check_fits(s->name, sizeof(s->name), "server name", err);
	if (r >= 0)
		r = check_fits(s->kind, sizeof(s->kind), "server kind", err);
	if (r >= 0)
		r = check_fits(s->machine, sizeof(s->machine), "server machine", err);
	if (r < 0)
		return r;
	if (!db_server_state_to_string(s->state))
		return carve_err_field(err, -EINVAL, "state", "server '%s': invalid state",
				       s->name);
	if (s->memory > INT64_MAX)
		return carve_err_field(err, -ERANGE, "memory", "server '%s': memory too large",
				       s->name);
	if (s->disk > INT64_MAX)
		return carve_err_field(err, -ERANGE, "disk", "server '%s': disk too large",
				       s->name);
	if (s->pids_max > INT64_MAX || s->io.read_bps > INT64_MAX || s->io.write_bps > INT64_MAX ||
	    s->io.read_iops > INT64_MAX || s->io.write_iops > INT64_MAX)
		return carve_err(err, -ERANGE, "server '%s': limit too large", s->name);
	return 0;
}

int db_server_create(struct db *db, struct db_server *s, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	char id[33];
	int rc, r;

	r = server_check(s, err);
	if (r < 0)
		return r;
	r = random_id(id);
	if (r < 0)
		return carve_err(err, r, "server '%s': random id", s->name);
	r = db_prepare(db,
		       "INSERT INTO servers (" SERVER_COLUMNS ") "
		       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
		       /* a VM takes the lowest free uid slot, in the same statement */
		       "CASE WHEN ?21 THEN (SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM servers "
		       "WHERE vm_uid_slot = 0) THEN 0 ELSE (SELECT min(a.vm_uid_slot + 1) FROM "
		       "servers a WHERE a.vm_uid_slot IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
		       "servers b WHERE b.vm_uid_slot = a.vm_uid_slot + 1)) END) END, ?22, ?23) "
		       "RETURNING vm_uid_slot",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, id) < 0 || bind_text(st, 2, s->name) < 0 ||
	    bind_text(st, 3, s->tenant_id) < 0 || bind_text(st, 4, s->template_id) < 0 ||
	    bind_text(st, 5, s->kind) < 0 ||
	    bind_text(st, 8, db_server_state_to_string(s->state)) < 0 ||
	    bind_text(st, 9, s->state_reason) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 6, s->vcpus);
	sqlite3_bind_int64(st, 7, (int64_t)s->memory);
	sqlite3_bind_int64(st, 10, s->pid);
	sqlite3_bind_int64(st, 11, s->monitor_pid);
	sqlite3_bind_int64(st, 12, now);
	sqlite3_bind_int64(st, 13, now);
	sqlite3_bind_int64(st, 14, (int64_t)s->disk);
	if (bind_text(st, 15, s->pool[0] ? s->pool : "default") < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 16, (int64_t)s->pids_max);
	sqlite3_bind_int64(st, 17, (int64_t)s->io.read_bps);
	sqlite3_bind_int64(st, 18, (int64_t)s->io.write_bps);
	sqlite3_bind_int64(st, 19, (int64_t)s->io.read_iops);
	sqlite3_bind_int64(st, 20, (int64_t)s->io.write_iops);
	sqlite3_bind_int(st, 21, streq(s->kind, "vm"));
	if (bind_text(st, 22, s->cloud_init) < 0 || bind_text_or_null(st, 23, s->machine) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		s->vm_uid_slot = sqlite3_column_type(st, 0) == SQLITE_NULL
					 ? -1
					 : sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return carve_err(err, -ENOENT,
				 "server '%s': tenant '%s' or template '%s' not found", s->name,
				 s->tenant_id, s->template_id);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "server '%s'", s->name);
	memcpy(s->id, id, sizeof(id));
	if (!s->pool[0])
		strscpy(s->pool, "default", sizeof(s->pool));
	s->created_at = now;
	s->updated_at = now;
	return 0;
}

int db_server_get_by_name(struct db *db, const char *tenant_id, const char *name,
			  struct db_server **ret, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	if (!tenant_id || !name)
		return carve_err(err, -EINVAL, "server: no tenant or name given");
	r = db_prepare(db,
		       "SELECT " SERVER_COLUMNS " FROM servers WHERE tenant_id = ? AND name = ?",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, tenant_id) < 0 || bind_text(st, 2, name) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return carve_err(err, -ENOENT, "server '%s' not found", name);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "server '%s'", name);
	return server_row(st, (void **)ret);
}

int db_server_get_by_id(struct db *db, const char *id, struct db_server **ret,
			struct carve_error *err)
{
	return db_get_one(db, "SELECT " SERVER_COLUMNS " FROM servers WHERE id = ?", id, server_row,
			  (void **)ret, "server", err);
}

int db_server_list(struct db *db, const char *tenant_id, struct db_server ***ret, size_t *ret_n,
		   struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	if (!tenant_id)
		r = db_prepare(db,
			       "SELECT " SERVER_COLUMNS " FROM servers ORDER BY name, tenant_id",
			       &st, err);
	else
		r = db_prepare(db,
			       "SELECT " SERVER_COLUMNS " FROM servers WHERE tenant_id = ? "
			       "ORDER BY name",
			       &st, err);
	if (r < 0)
		return r;
	if (tenant_id && bind_text(st, 1, tenant_id) < 0)
		return -ENOMEM;
	return db_collect(db, st, server_row, server_free_row, (void ***)ret, ret_n, "servers",
			  err);
}

int db_server_update(struct db *db, const struct db_server *s, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = server_check(s, err);
	if (r < 0)
		return r;
	/* updated_at is the time of this write, whatever the caller's copy says. */
	r = db_prepare(db,
		       "UPDATE servers SET vcpus = ?, memory = ?, state = ?, state_reason = ?, "
		       "pid = ?, monitor_pid = ?, updated_at = ?, disk = ?, pids_max = ?, "
		       "io_read_bps = ?, io_write_bps = ?, io_read_iops = ?, io_write_iops = ? "
		       "WHERE id = ?",
		       &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, s->vcpus);
	sqlite3_bind_int64(st, 2, (int64_t)s->memory);
	if (bind_text(st, 3, db_server_state_to_string(s->state)) < 0 ||
	    bind_text(st, 4, s->state_reason) < 0 || bind_text(st, 14, s->id) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 5, s->pid);
	sqlite3_bind_int64(st, 6, s->monitor_pid);
	sqlite3_bind_int64(st, 7, time(NULL));
	sqlite3_bind_int64(st, 8, (int64_t)s->disk);
	sqlite3_bind_int64(st, 9, (int64_t)s->pids_max);
	sqlite3_bind_int64(st, 10, (int64_t)s->io.read_bps);
	sqlite3_bind_int64(st, 11, (int64_t)s->io.write_bps);
	sqlite3_bind_int64(st, 12, (int64_t)s->io.read_iops);
	sqlite3_bind_int64(st, 13, (int64_t)s->io.write_iops);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "server '%s'", s->name);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "server '%s' not found", s->name);
	return 0;
}

int db_server_transition(struct db *db, const char *id, enum db_server_state from,
			 enum db_server_state to, enum db_server_state *ret_current,
			 struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL, *cur = NULL;
	enum db_server_state current;
	int rc, r;

	if (!id)
		return carve_err(err, -EINVAL, "server: no id given");
	if (!db_server_state_to_string(from) || !db_server_state_to_string(to))
		return carve_err(err, -EINVAL, "server '%s': invalid state", id);
	r = db_prepare(db,
		       "UPDATE servers SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, db_server_state_to_string(to)) < 0 || bind_text(st, 3, id) < 0 ||
	    bind_text(st, 4, db_server_state_to_string(from)) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 2, time(NULL));
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "server '%s'", id);
	if (sqlite3_changes(db->sql) > 0)
		return 0;

	/* Lost the race (or never was in `from`): say where the server is instead. */
	r = db_prepare(db, "SELECT name, state FROM servers WHERE id = ?", &cur, err);
	if (r < 0)
		return r;
	if (bind_text(cur, 1, id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(cur);
	if (rc == SQLITE_DONE)
		return carve_err(err, -ENOENT, "server '%s' not found", id);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "server '%s'", id);
	current = db_server_state_from_string((const char *)sqlite3_column_text(cur, 1));
	if (ret_current)
		*ret_current = current;
	return carve_err(err, -EBUSY, "server '%s' is %s, not %s",
			 (const char *)sqlite3_column_text(cur, 0),
			 db_server_state_to_string(current) ?: "in an unknown state",
			 db_server_state_to_string(from));
}

int db_server_delete(struct db *db, const char *id, struct carve_error *err)
{
	return db_delete_by_id(db, "DELETE FROM servers WHERE id = ?", id, "server", err);
}

struct db_server *db_server_free(struct db_server *s)
{
	if (!s)
		return NULL;
	free(s->state_reason);
	free(s->cloud_init);
	free(s);
	return NULL;
}

void db_server_list_free(struct db_server **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		db_server_free(l[i]);
	free(l);
}

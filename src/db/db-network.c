/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Networks, server interfaces (nics), published ports and per-server bandwidth limits. Rows are
 * small fixed-size structs returned by value (lists as heap arrays freed with free()). Integer
 * ids come from AUTOINCREMENT so a deleted network's or nic's id (which names host links and
 * nftables counters) is never given to a new one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/string-util.h"
#include "db/db-internal.h"

#define NETWORK_COLUMNS "id, tenant_id, name, subnet, created_at"
#define NIC_COLUMNS "id, server_id, network_id, idx, mac, addr, dhcp, created_at"
#define PORT_COLUMNS "id, tenant_id, server_id, nic_id, protocol, port, public_port, created_at"

/* Step st to the end, copying each row with fill() into a growing array of size-byte items. */
static int collect(struct db *db, sqlite3_stmt *st, size_t size,
		   void (*fill)(sqlite3_stmt *st, void *item), void **ret, size_t *ret_n,
		   const char *what, struct carve_error *err)
{
	char *a = NULL;
	size_t n = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char *na = realloc(a, ncap * size);
			if (!na) {
				free(a);
				return carve_err(err, -ENOMEM, "%s", what);
			}
			a = na;
			cap = ncap;
		}
		memset(a + n * size, 0, size);
		fill(st, a + n * size);
		n++;
	}
	if (rc != SQLITE_DONE) {
		free(a);
		return db_step_error(db, rc, false, err, "%s", what);
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* Run an INSERT; on success *ret_id is the new row's id. */
static int insert_done(struct db *db, sqlite3_stmt *st, uint32_t *ret_id, const char *what,
		       struct carve_error *err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return carve_err(err, -ENOENT, "%s: a referenced object is gone", what);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "%s", what);
	*ret_id = (uint32_t)sqlite3_last_insert_rowid(db->sql);
	return 0;
}

static int delete_int(struct db *db, const char *sql, uint32_t id, const char *noun,
		      struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, true, err, "%s %u", noun, id);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "%s %u not found", noun, id);
	return 0;
}

/* --- networks ------------------------------------------------------------------------------ */

static void network_fill(sqlite3_stmt *st, void *item)
{
	struct db_network *n = item;

	n->id = (uint32_t)sqlite3_column_int64(st, 0);
	column_copy(st, 1, n->tenant_id, sizeof(n->tenant_id));
	column_copy(st, 2, n->name, sizeof(n->name));
	column_copy(st, 3, n->subnet, sizeof(n->subnet));
	n->created_at = sqlite3_column_int64(st, 4);
}

int db_network_create(struct db *db, struct db_network *n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	int r;

	if (!n->name[0] || !n->subnet[0] || !n->tenant_id[0])
		return carve_err(err, -EINVAL, "network: name, subnet and tenant are required");
	r = db_prepare(db,
		       "INSERT INTO networks (tenant_id, name, subnet, created_at) "
		       "VALUES (?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, n->tenant_id) < 0 || bind_text(st, 2, n->name) < 0 ||
	    bind_text(st, 3, n->subnet) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 4, now);
	r = insert_done(db, st, &n->id, "network", err);
	if (r < 0) {
		carve_err_prefix(err, "network '%s'", n->name);
		return r;
	}
	n->created_at = now;
	return 0;
}

static int network_get(struct db *db, const char *sql, const char *key, int64_t id,
		       const char *key2, struct db_network *ret, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	if (key ? bind_text(st, 1, key) < 0 || bind_text(st, 2, key2) < 0
		: sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return key ? carve_err(err, -ENOENT, "network '%s' not found", key2)
			   : carve_err(err, -ENOENT, "network %lld not found", (long long)id);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "network");
	memset(ret, 0, sizeof(*ret));
	network_fill(st, ret);
	return 0;
}

int db_network_get_by_name(struct db *db, const char *tenant_id, const char *name,
			   struct db_network *ret, struct carve_error *err)
{
	if (!tenant_id || !name)
		return carve_err(err, -EINVAL, "network: no tenant or name given");
	return network_get(
		db, "SELECT " NETWORK_COLUMNS " FROM networks WHERE tenant_id = ? AND name = ?",
		tenant_id, 0, name, ret, err);
}

int db_network_get_by_id(struct db *db, uint32_t id, struct db_network *ret,
			 struct carve_error *err)
{
	return network_get(db, "SELECT " NETWORK_COLUMNS " FROM networks WHERE id = ?", NULL, id,
			   NULL, ret, err);
}

int db_network_list(struct db *db, const char *tenant_id, struct db_network **ret, size_t *ret_n,
		    struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT " NETWORK_COLUMNS
		       " FROM networks WHERE ?1 IS NULL OR tenant_id = ?1 "
		       "ORDER BY name, tenant_id",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, tenant_id) < 0)
		return -ENOMEM;
	return collect(db, st, sizeof(**ret), network_fill, (void **)ret, ret_n, "networks", err);
}

int db_network_delete(struct db *db, uint32_t id, struct carve_error *err)
{
	return delete_int(db, "DELETE FROM networks WHERE id = ?", id, "network", err);
}

/* --- nics ---------------------------------------------------------------------------------- */

static void nic_fill(sqlite3_stmt *st, void *item)
{
	struct db_nic *n = item;

	n->id = (uint32_t)sqlite3_column_int64(st, 0);
	column_copy(st, 1, n->server_id, sizeof(n->server_id));
	n->network_id = (uint32_t)sqlite3_column_int64(st, 2);
	n->idx = (uint32_t)sqlite3_column_int64(st, 3);
	column_copy(st, 4, n->mac, sizeof(n->mac));
	column_copy(st, 5, n->addr, sizeof(n->addr));
	n->dhcp = sqlite3_column_int(st, 6) != 0;
	n->created_at = sqlite3_column_int64(st, 7);
}

int db_nic_create(struct db *db, struct db_nic *n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	int r;

	r = db_prepare(db,
		       "INSERT INTO nics (server_id, network_id, idx, mac, addr, dhcp, created_at) "
		       "VALUES (?, ?, ?, ?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, n->server_id) < 0 || bind_text(st, 4, n->mac) < 0 ||
	    bind_text(st, 5, n->addr) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 2, n->network_id);
	sqlite3_bind_int64(st, 3, n->idx);
	sqlite3_bind_int(st, 6, n->dhcp);
	sqlite3_bind_int64(st, 7, now);
	r = insert_done(db, st, &n->id, "interface", err);
	if (r < 0)
		return r;
	n->created_at = now;
	return 0;
}

int db_nic_list(struct db *db, const char *server_id, uint32_t network_id, struct db_nic **ret,
		size_t *ret_n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT " NIC_COLUMNS " FROM nics WHERE (?1 IS NULL OR server_id = ?1) AND "
		       "(?2 = 0 OR network_id = ?2) ORDER BY server_id, idx",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, server_id) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 2, network_id);
	return collect(db, st, sizeof(**ret), nic_fill, (void **)ret, ret_n, "interfaces", err);
}

int db_nic_delete(struct db *db, uint32_t id, struct carve_error *err)
{
	return delete_int(db, "DELETE FROM nics WHERE id = ?", id, "interface", err);
}

/* --- ports --------------------------------------------------------------------------------- */

static void port_fill(sqlite3_stmt *st, void *item)
{
	struct db_port *p = item;

	p->id = (uint32_t)sqlite3_column_int64(st, 0);
	column_copy(st, 1, p->tenant_id, sizeof(p->tenant_id));
	column_copy(st, 2, p->server_id, sizeof(p->server_id));
	p->nic_id = (uint32_t)sqlite3_column_int64(st, 3);
	column_copy(st, 4, p->protocol, sizeof(p->protocol));
	p->port = (uint32_t)sqlite3_column_int64(st, 5);
	p->public_port = (uint32_t)sqlite3_column_int64(st, 6);
	p->created_at = sqlite3_column_int64(st, 7);
}

int db_port_create(struct db *db, struct db_port *p, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	int r;

	r = db_prepare(db,
		       "INSERT INTO ports (tenant_id, server_id, nic_id, protocol, port, "
		       "public_port, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, p->tenant_id) < 0 || bind_text(st, 2, p->server_id) < 0 ||
	    bind_text(st, 4, p->protocol) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 3, p->nic_id);
	sqlite3_bind_int64(st, 5, p->port);
	sqlite3_bind_int64(st, 6, p->public_port);
	sqlite3_bind_int64(st, 7, now);
	r = insert_done(db, st, &p->id, "published port", err);
	if (r == -EEXIST)
		return carve_err_field(err, -EEXIST, "public_port",
				       "%s port %u is already published", p->protocol,
				       p->public_port);
	if (r < 0)
		return r;
	p->created_at = now;
	return 0;
}

int db_port_list(struct db *db, const char *tenant_id, const char *server_id, struct db_port **ret,
		 size_t *ret_n, struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT " PORT_COLUMNS " FROM ports WHERE (?1 IS NULL OR tenant_id = ?1) "
		       "AND (?2 IS NULL OR server_id = ?2) ORDER BY protocol, public_port",
		       &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, tenant_id) < 0 || bind_text(st, 2, server_id) < 0)
		return -ENOMEM;
	return collect(db, st, sizeof(**ret), port_fill, (void **)ret, ret_n, "ports", err);
}

int db_port_delete(struct db *db, uint32_t id, struct carve_error *err)
{
	return delete_int(db, "DELETE FROM ports WHERE id = ?", id, "published port", err);
}

/* --- bandwidth ----------------------------------------------------------------------------- */

int db_server_bandwidth_get(struct db *db, const char *server_id, uint64_t *ret,
			    struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, "SELECT rate_bps FROM server_bandwidth WHERE server_id = ?", &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, server_id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = (uint64_t)sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		*ret = 0;
	else
		return db_step_error(db, rc, false, err, "server bandwidth");
	return 0;
}

int db_server_bandwidth_set(struct db *db, const char *server_id, uint64_t rate_bps,
			    struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	if (rate_bps > INT64_MAX)
		return carve_err(err, -ERANGE, "bandwidth too large");
	r = db_prepare(
		db,
		rate_bps ? "INSERT INTO server_bandwidth (server_id, rate_bps) VALUES (?1, ?2) "
			   "ON CONFLICT (server_id) DO UPDATE SET rate_bps = ?2"
			 : "DELETE FROM server_bandwidth WHERE server_id = ?1",
		&st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, server_id) < 0)
		return -ENOMEM;
	if (rate_bps)
		sqlite3_bind_int64(st, 2, (int64_t)rate_bps);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "server bandwidth");
	return 0;
}

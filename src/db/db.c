/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening the store, the schema migrations, transactions, and the helpers the per-object files
 * share. The migrations are an append-only array: entry i takes the schema from version i to i + 1
 * (recorded in PRAGMA user_version). Never edit a shipped entry; add a new one.
 */
#define LOG_DOMAIN "db"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/string-util.h"
#include "db/db-internal.h"

#define DB_BUSY_TIMEOUT_MS 5000

static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE tenants ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  name TEXT NOT NULL UNIQUE,"
	"  description TEXT,"
	"  uid_slot INTEGER NOT NULL UNIQUE CHECK (uid_slot >= 0),"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE users ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  name TEXT NOT NULL UNIQUE,"
	"  tenant_id TEXT REFERENCES tenants(id),"
	"  role TEXT NOT NULL CHECK (role IN ('admin', 'owner', 'operator', 'viewer')),"
	"  password_hash TEXT,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE INDEX users_tenant ON users(tenant_id);"
	"CREATE TABLE tokens ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  is_session INTEGER NOT NULL CHECK (is_session IN (0, 1)),"
	"  role TEXT NOT NULL CHECK (role IN ('admin', 'owner', 'operator', 'viewer')),"
	"  token_hash TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL DEFAULT 0,"
	"  last_used_at INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX tokens_user ON tokens(user_id);"
	"CREATE TABLE templates ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  name TEXT NOT NULL UNIQUE,"
	"  kind TEXT NOT NULL,"
	"  os TEXT NOT NULL,"
	"  description TEXT,"
	"  rootfs_path TEXT,"
	"  init TEXT,"
	"  stop_signal INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE servers ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  name TEXT NOT NULL,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id),"
	"  template_id TEXT NOT NULL REFERENCES templates(id),"
	"  kind TEXT NOT NULL,"
	"  vcpus INTEGER NOT NULL,"
	"  memory INTEGER NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('creating', 'stopped', 'starting', 'running',"
	"                                       'stopping', 'deleting', 'error', 'paused')),"
	"  state_reason TEXT,"
	"  pid INTEGER NOT NULL DEFAULT 0,"
	"  monitor_pid INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (tenant_id, name)"
	");"
	"CREATE INDEX servers_template ON servers(template_id);"
	"CREATE TABLE tasks ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  tenant_id TEXT,"
	"  user_id TEXT,"
	"  kind TEXT NOT NULL,"
	"  object TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed')),"
	"  progress_done INTEGER NOT NULL DEFAULT 0,"
	"  progress_total INTEGER NOT NULL DEFAULT 0,"
	"  progress_unit TEXT NOT NULL DEFAULT '',"
	"  error_code TEXT NOT NULL DEFAULT '',"
	"  error_message TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  started_at INTEGER NOT NULL DEFAULT 0,"
	"  finished_at INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX tasks_tenant ON tasks(tenant_id, created_at);"
	"CREATE INDEX tasks_state ON tasks(state);"
	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  user_id TEXT,"
	"  tenant_id TEXT,"
	"  action TEXT NOT NULL,"
	"  object TEXT,"
	"  status INTEGER NOT NULL,"
	"  remote TEXT"
	");",
	/* 2: servers live on volumes: a disk size per server, a volume per template */
	"ALTER TABLE servers ADD COLUMN disk INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE templates ADD COLUMN volume TEXT;"
	"ALTER TABLE templates ADD COLUMN disk_min INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tenants ADD COLUMN max_vcpus INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tenants ADD COLUMN max_memory INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tenants ADD COLUMN max_pids INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE snapshots ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  server_id TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (server_id, name)"
	");"
	"ALTER TABLE servers ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';"
	"CREATE TABLE pools ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  driver TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  image TEXT,"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  overcommit REAL NOT NULL DEFAULT 1.0,"
	"  fill_threshold REAL NOT NULL DEFAULT 0.8,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE volumes ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id),"
	"  name TEXT NOT NULL,"
	"  pool TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  server_id TEXT REFERENCES servers(id),"
	"  path TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (tenant_id, name)"
	");"
	"CREATE INDEX volumes_server ON volumes(server_id);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  object TEXT NOT NULL,"
	"  message TEXT NOT NULL"
	");",
	/* 3: per-server process and disk I/O limits */
	"ALTER TABLE servers ADD COLUMN pids_max INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE servers ADD COLUMN io_read_bps INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE servers ADD COLUMN io_write_bps INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE servers ADD COLUMN io_read_iops INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE servers ADD COLUMN io_write_iops INTEGER NOT NULL DEFAULT 0;",
	/* 4: every VM's QEMU runs as a host uid of its own: vm_uid_base + vm_uid_slot */
	"ALTER TABLE servers ADD COLUMN vm_uid_slot INTEGER;"
	"CREATE UNIQUE INDEX servers_vm_uid_slot ON servers(vm_uid_slot) "
	"  WHERE vm_uid_slot IS NOT NULL;",
	/* 5: templates that boot a full OS init (systemd, sysvinit): init keeps CAP_SYS_ADMIN,
	 * CAP_NET_ADMIN and CAP_SYS_BOOT inside its user namespace */
	"ALTER TABLE templates ADD COLUMN system INTEGER NOT NULL DEFAULT 0;",
	/* 6: backups of whole servers (the store's manifests hold the data; these rows say whose
	 * they are), extra backup stores, per-tenant keys, schedules */
	"CREATE TABLE backup_stores ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  path TEXT NOT NULL UNIQUE,"
	"  encrypt INTEGER NOT NULL CHECK (encrypt IN (0, 1)),"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE backup_keys ("
	"  tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  key BLOB NOT NULL CHECK (length(key) = 32),"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE backups ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  backup_id TEXT UNIQUE,"
	"  state TEXT NOT NULL CHECK (state IN ('running', 'complete')),"
	"  store TEXT NOT NULL,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id),"
	"  server_id TEXT NOT NULL,"
	"  server_name TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  snapshot TEXT NOT NULL DEFAULT '',"
	"  volumes TEXT NOT NULL,"
	"  stats TEXT,"
	"  encrypted INTEGER NOT NULL DEFAULT 0,"
	"  scheduled INTEGER NOT NULL DEFAULT 0,"
	"  verify TEXT,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE INDEX backups_server ON backups(server_id);"
	"CREATE INDEX backups_tenant ON backups(tenant_id);"
	"CREATE TABLE backup_usage ("
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  store TEXT NOT NULL,"
	"  bytes INTEGER NOT NULL,"
	"  chunks INTEGER NOT NULL,"
	"  PRIMARY KEY (tenant_id, store)"
	");"
	"CREATE TABLE backup_schedules ("
	"  server_id TEXT PRIMARY KEY NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
	"  expr TEXT NOT NULL,"
	"  store TEXT NOT NULL,"
	"  keep_last INTEGER NOT NULL DEFAULT 0,"
	"  keep_hourly INTEGER NOT NULL DEFAULT 0,"
	"  keep_daily INTEGER NOT NULL DEFAULT 0,"
	"  keep_weekly INTEGER NOT NULL DEFAULT 0,"
	"  keep_monthly INTEGER NOT NULL DEFAULT 0,"
	"  keep_yearly INTEGER NOT NULL DEFAULT 0,"
	"  next_run INTEGER NOT NULL,"
	"  last_run INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT"
	");",
	/* 7: per-tenant networks, server interfaces on them, published ports, bandwidth */
	"CREATE TABLE networks ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id BETWEEN 1 AND 99999999),"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id),"
	"  name TEXT NOT NULL,"
	"  subnet TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (tenant_id, name)"
	");"
	"CREATE TABLE nics ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id BETWEEN 1 AND 99999999),"
	"  server_id TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
	"  network_id INTEGER NOT NULL REFERENCES networks(id),"
	"  idx INTEGER NOT NULL CHECK (idx >= 0),"
	"  mac TEXT NOT NULL UNIQUE,"
	"  addr TEXT NOT NULL,"
	"  dhcp INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (server_id, idx),"
	"  UNIQUE (network_id, addr)"
	");"
	"CREATE INDEX nics_network ON nics(network_id);"
	"CREATE TABLE ports ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id),"
	"  server_id TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
	"  nic_id INTEGER NOT NULL REFERENCES nics(id) ON DELETE CASCADE,"
	"  protocol TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),"
	"  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
	"  public_port INTEGER NOT NULL CHECK (public_port BETWEEN 1 AND 65535),"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (protocol, public_port)"
	");"
	"CREATE INDEX ports_server ON ports(server_id);"
	"CREATE TABLE server_bandwidth ("
	"  server_id TEXT PRIMARY KEY NOT NULL REFERENCES servers(id) ON DELETE CASCADE,"
	"  rate_bps INTEGER NOT NULL CHECK (rate_bps >= 0)"
	");",
	/* 8: a per-tenant cap on published ports (NULL: carved's --max-ports) */
	"ALTER TABLE tenants ADD COLUMN max_ports INTEGER;",
	/* 9: a VM's cloud-init settings (JSON), given to the guest as a NoCloud seed */
	"ALTER TABLE servers ADD COLUMN cloud_init TEXT;",
	/* 10: a VM's QEMU machine type ("q35", "microvm"; NULL: q35) */
	"ALTER TABLE servers ADD COLUMN machine TEXT;",
	/* 11: a data volume that has been a VM's disk holds what a guest wrote: the host never
	 * mounts it or runs filesystem tools on it (those attached to a VM now are such) */
	"ALTER TABLE volumes ADD COLUMN guest_written INTEGER NOT NULL DEFAULT 0;"
	"UPDATE volumes SET guest_written = 1"
	"  WHERE server_id IN (SELECT id FROM servers WHERE kind = 'vm');",
};

/* --- locking ---------------------------------------------------------------------------------- */

struct db *db_lock(struct db *db)
{
	pthread_mutex_lock(&db->lock);
	return db;
}

void db_unlockp(struct db **db)
{
	if (*db)
		pthread_mutex_unlock(&(*db)->lock);
	*db = NULL;
}

/* --- helpers ---------------------------------------------------------------------------------- */

int db_prepare(struct db *db, const char *sql, sqlite3_stmt **ret, struct carve_error *err)
{
	int rc = sqlite3_prepare_v2(db->sql, sql, -1, ret, NULL);

	if (rc != SQLITE_OK) {
		*ret = NULL;
		return carve_err(err, rc == SQLITE_NOMEM ? -ENOMEM : -EIO, "database: prepare: %s",
				 sqlite3_errmsg(db->sql));
	}
	return 0;
}

int db_step_error(struct db *db, int rc, bool deleting, struct carve_error *err, const char *fmt,
		  ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return carve_err(err, -EEXIST, "%s already exists", what);
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		if (deleting)
			return carve_err(err, -EBUSY, "%s: still in use", what);
		return carve_err(err, -ENOENT, "%s: a referenced object does not exist", what);
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return carve_err(err, -EINVAL, "%s: invalid value: %s", what,
				 sqlite3_errmsg(db->sql));
	case SQLITE_NOMEM:
		return carve_err(err, -ENOMEM, "%s: out of memory", what);
	case SQLITE_FULL:
		return carve_err(err, -ENOSPC, "%s: database: %s", what, sqlite3_errmsg(db->sql));
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return carve_err(err, -EBUSY, "%s: database: %s", what, sqlite3_errmsg(db->sql));
	default:
		return carve_err(err, -EIO, "%s: database: %s", what, sqlite3_errmsg(db->sql));
	}
}

int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (!s)
		return sqlite3_bind_null(st, i) == SQLITE_OK ? 0 : -EIO;
	return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -ENOMEM;
}

int bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	return bind_text(st, i, s && *s ? s : NULL);
}

void column_copy(sqlite3_stmt *st, int i, char *dst, size_t n)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	(void)strscpy(dst, s ? (const char *)s : "", n);
}

int column_dup(sqlite3_stmt *st, int i, char **ret)
{
	const unsigned char *s;

	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		*ret = NULL;
		return 0;
	}
	s = sqlite3_column_text(st, i);
	*ret = strdup(s ? (const char *)s : "");
	return *ret ? 0 : -ENOMEM;
}

int check_fits(const char *s, size_t n, const char *what, struct carve_error *err)
{
	if (!s)
		return carve_err(err, -EINVAL, "%s is missing", what);
	if (strnlen(s, n) >= n)
		return carve_err(err, -EINVAL, "%s is longer than %zu characters", what, n - 1);
	return 0;
}

int ptr_array_push(void ***a, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void **na = reallocarray(*a, nc, sizeof(void *));

		if (!na)
			return -ENOMEM;
		*a = na;
		*cap = nc;
	}
	(*a)[(*n)++] = p;
	return 0;
}

int db_collect(struct db *db, sqlite3_stmt *st, int (*row)(sqlite3_stmt *st, void **ret),
	       void (*free_row)(void *p), void ***ret, size_t *ret_n, const char *what,
	       struct carve_error *err)
{
	void **a = NULL;
	size_t n = 0, cap = 0;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *p = NULL;

		r = row(st, &p);
		if (r >= 0) {
			r = ptr_array_push(&a, &n, &cap, p);
			if (r < 0)
				free_row(p);
		}
		if (r < 0)
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		r = db_step_error(db, rc, false, err, "%s", what);
		goto fail;
	}
	*ret = a;
	*ret_n = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free_row(a[i]);
	free(a);
	return r;
}

int db_get_one(struct db *db, const char *sql, const char *key,
	       int (*row)(sqlite3_stmt *st, void **ret), void **ret, const char *noun,
	       struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	if (!key)
		return carve_err(err, -EINVAL, "%s: no name or id given", noun);
	r = db_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, key) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return carve_err(err, -ENOENT, "%s '%s' not found", noun, key);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "%s '%s'", noun, key);
	return row(st, ret);
}

int db_delete_by_id(struct db *db, const char *sql, const char *id, const char *noun,
		    struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	if (!id)
		return carve_err(err, -EINVAL, "%s: no id given", noun);
	r = db_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	if (bind_text(st, 1, id) < 0)
		return -ENOMEM;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, true, err, "%s '%s'", noun, id);
	if (sqlite3_changes(db->sql) == 0)
		return carve_err(err, -ENOENT, "%s '%s' not found", noun, id);
	return 0;
}

int db_exec(struct db *db, const char *sql, struct carve_error *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->sql, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		int r = carve_err(err, rc == SQLITE_BUSY ? -EBUSY : -EIO, "database: %s",
				  msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return r;
	}
	return 0;
}

/* --- enums ------------------------------------------------------------------------------------ */

static const char *const role_table[_DB_ROLE_MAX] = {
	[DB_ROLE_ADMIN] = "admin",
	[DB_ROLE_OWNER] = "owner",
	[DB_ROLE_OPERATOR] = "operator",
	[DB_ROLE_VIEWER] = "viewer",
};

static const char *const server_state_table[_DB_SERVER_STATE_MAX] = {
	[DB_SERVER_CREATING] = "creating", [DB_SERVER_STOPPED] = "stopped",
	[DB_SERVER_STARTING] = "starting", [DB_SERVER_RUNNING] = "running",
	[DB_SERVER_STOPPING] = "stopping", [DB_SERVER_DELETING] = "deleting",
	[DB_SERVER_ERROR] = "error",	   [DB_SERVER_PAUSED] = "paused",
};

static const char *const task_state_table[_DB_TASK_STATE_MAX] = {
	[DB_TASK_PENDING] = "pending",
	[DB_TASK_RUNNING] = "running",
	[DB_TASK_SUCCEEDED] = "succeeded",
	[DB_TASK_FAILED] = "failed",
};

static int lookup(const char *const *table, int n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (streq(table[i], s))
			return i;
	return -EINVAL;
}

const char *db_role_to_string(enum db_role r)
{
	return r >= 0 && r < _DB_ROLE_MAX ? role_table[r] : NULL;
}

enum db_role db_role_from_string(const char *s)
{
	return (enum db_role)lookup(role_table, _DB_ROLE_MAX, s);
}

const char *db_server_state_to_string(enum db_server_state s)
{
	return s >= 0 && s < _DB_SERVER_STATE_MAX ? server_state_table[s] : NULL;
}

enum db_server_state db_server_state_from_string(const char *s)
{
	return (enum db_server_state)lookup(server_state_table, _DB_SERVER_STATE_MAX, s);
}

const char *db_task_state_to_string(enum db_task_state s)
{
	return s >= 0 && s < _DB_TASK_STATE_MAX ? task_state_table[s] : NULL;
}

enum db_task_state db_task_state_from_string(const char *s)
{
	return (enum db_task_state)lookup(task_state_table, _DB_TASK_STATE_MAX, s);
}

/* --- open, migrate, close --------------------------------------------------------------------- */

static int pragma_text(struct db *db, const char *sql, const char *what, char *buf, size_t n,
		       struct carve_error *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		column_copy(st, 0, buf, n);
	else if (rc == SQLITE_DONE)
		buf[0] = '\0';
	else
		return carve_err(err, rc == SQLITE_BUSY ? -EBUSY : -EIO, "%s: %s", what,
				 sqlite3_errmsg(db->sql));
	return 0;
}

static int read_user_version(struct db *db, int *ret, struct carve_error *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	r = db_prepare(db, "PRAGMA user_version", &st, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return db_step_error(db, rc, false, err, "schema version");
	*ret = sqlite3_column_int(st, 0);
	return 0;
}

static int check_integrity(struct db *db, struct carve_error *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	const unsigned char *first;
	char msg[256];
	int rc, r;

	r = db_prepare(db, "PRAGMA integrity_check(1)", &st, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return carve_err(err, -EIO, "corrupt: integrity check: %s",
				 sqlite3_errmsg(db->sql));
	first = sqlite3_column_text(st, 0);
	if (first && strcmp((const char *)first, "ok") == 0)
		return 0;
	/* SQLite reports one problem per line; keep the message on one line. */
	snprintf(msg, sizeof(msg), "%s", first ? (const char *)first : "no result");
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return carve_err(err, -EIO, "corrupt: integrity check: %s", msg);
}

static int migrate(struct db *db, struct carve_error *err)
{
	int version = 0, r;

	r = db_transaction_begin(db, err);
	if (r < 0)
		return r;
	/* Read inside the write transaction: two processes opening a fresh file at once must not
	 * both apply migration 1. */
	r = read_user_version(db, &version, err);
	if (r < 0)
		goto fail;
	if (version < 0 || (size_t)version > ELEMENTSOF(migrations)) {
		r = carve_err(err, -EPROTONOSUPPORT,
			      "schema version %d is newer than this carve supports (%zu)", version,
			      ELEMENTSOF(migrations));
		goto fail;
	}
	for (size_t i = (size_t)version; i < ELEMENTSOF(migrations); i++) {
		char sql[64];

		r = db_exec(db, migrations[i], err);
		if (r < 0) {
			carve_err_prefix(err, "migration to schema version %zu", i + 1);
			goto fail;
		}
		/* PRAGMA takes no bound parameters; the value is our own integer. */
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", i + 1);
		r = db_exec(db, sql, err);
		if (r < 0)
			goto fail;
		log_debug("database '%s': migrated to schema version %zu", db->path, i + 1);
	}
	return db_transaction_commit(db, err);
fail:
	db_transaction_rollback(db);
	return r;
}

static int db_setup(struct db *db, struct carve_error *err)
{
	char mode[16];
	int r;

	sqlite3_extended_result_codes(db->sql, 1);
	sqlite3_busy_timeout(db->sql, DB_BUSY_TIMEOUT_MS);

	/* The first read of the header: a file that is not a database fails here. */
	r = pragma_text(db, "PRAGMA journal_mode = WAL", "set journal mode", mode, sizeof(mode),
			err);
	if (r < 0)
		return r;
	if (strcmp(mode, "wal") != 0)
		return carve_err(err, -EIO, "cannot enable WAL journal mode (got '%s')", mode);
	r = db_exec(db, "PRAGMA synchronous = FULL", err);
	if (r < 0)
		return r;
	r = db_exec(db, "PRAGMA foreign_keys = ON", err);
	if (r < 0)
		return r;
	r = check_integrity(db, err);
	if (r < 0)
		return r;
	return migrate(db, err);
}

/*
 * The database holds password hashes, token digests and tenants' backup keys: only root may read
 * it, whatever the umask and whoever made the state directory. The file is made (or its mode
 * corrected) 0600 before SQLite opens it; SQLite gives its -wal and -shm files the database's
 * mode, and those left by an older carved are corrected too.
 */
static int restrict_file_mode(const char *path, struct carve_error *err)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char p[PATH_MAX];
	int fd;

	if (streq(path, ":memory:") || startswith(path, "file:"))
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, suffixes[i]) >= sizeof(p))
			return carve_err(err, -ENAMETOOLONG, "path too long");
		fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | (i == 0 ? O_CREAT : 0),
			  0600);
		if (fd < 0) {
			if (i > 0 && errno == ENOENT)
				continue;
			return carve_err(err, -errno, "open '%s': %s", p, strerror(errno));
		}
		if (fchmod(fd, 0600) < 0) {
			int e = -errno;
			close(fd);
			return carve_err(err, e, "chmod '%s': %s", p, strerror(-e));
		}
		close(fd);
	}
	return 0;
}

int db_open(const char *path, struct db **ret, struct carve_error *err)
{
	pthread_mutexattr_t attr;
	struct db *db;
	int rc, r;

	if (!path || !*path)
		return carve_err(err, -EINVAL, "database path is empty");
	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	db->path = strdup(path);
	if (!db->path) {
		free(db);
		return -ENOMEM;
	}
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&db->lock, &attr);
	pthread_mutexattr_destroy(&attr);

	r = restrict_file_mode(path, err);
	if (r < 0)
		goto fail;
	/* NOMUTEX: db->lock already serializes every use of the connection. */
	rc = sqlite3_open_v2(path, &db->sql,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		r = carve_err(err, rc == SQLITE_CANTOPEN ? -ENOENT : -EIO, "%s",
			      db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc));
		goto fail;
	}
	r = db_setup(db, err);
	if (r < 0)
		goto fail;
	*ret = db;
	return 0;
fail:
	carve_err_prefix(err, "database '%s'", path);
	db_close(db);
	return r;
}

struct db *db_close(struct db *db)
{
	if (!db)
		return NULL;
	/* A transaction left open by the caller is not committed behind its back. */
	if (db->sql && db->tx_depth > 0) {
		(void)sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
		for (; db->tx_depth > 0; db->tx_depth--)
			pthread_mutex_unlock(&db->lock);
	}
	if (db->sql)
		sqlite3_close_v2(db->sql);
	pthread_mutex_destroy(&db->lock);
	free(db->path);
	free(db);
	return NULL;
}

int db_schema_latest(void)
{
	return (int)ELEMENTSOF(migrations);
}

int db_schema_version(struct db *db)
{
	DB_LOCKED(db);
	int v = 0, r;

	r = read_user_version(db, &v, NULL);
	return r < 0 ? r : v;
}

/* --- transactions ----------------------------------------------------------------------------- */

int db_transaction_begin(struct db *db, struct carve_error *err)
{
	int r;

	db_lock(db);
	/* Nested begin (a db_* call inside the caller's transaction) becomes a savepoint. */
	r = db_exec(db, db->tx_depth == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT nested", err);
	if (r < 0) {
		pthread_mutex_unlock(&db->lock);
		return carve_err_prefix(err, "begin transaction");
	}
	db->tx_depth++;
	return 0;
}

int db_transaction_commit(struct db *db, struct carve_error *err)
{
	int r;

	if (db->tx_depth == 0)
		return carve_err(err, -EINVAL, "commit without a transaction");
	r = db_exec(db, db->tx_depth == 1 ? "COMMIT" : "RELEASE nested", err);
	if (r < 0) {
		carve_err_prefix(err, "commit transaction");
		if (db->tx_depth == 1)
			(void)sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
		else
			(void)sqlite3_exec(db->sql, "ROLLBACK TO nested; RELEASE nested", NULL,
					   NULL, NULL);
	}
	db->tx_depth--;
	pthread_mutex_unlock(&db->lock);
	return r;
}

void db_transaction_rollback(struct db *db)
{
	if (db->tx_depth == 0)
		return;
	if (db->tx_depth == 1)
		(void)sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	else
		(void)sqlite3_exec(db->sql, "ROLLBACK TO nested; RELEASE nested", NULL, NULL, NULL);
	db->tx_depth--;
	pthread_mutex_unlock(&db->lock);
}

/* --- audit ------------------------------------------------------------------------------------ */

int db_audit_append(struct db *db, int64_t when, const char *user_id, const char *tenant_id,
		    const char *action, const char *object, int status, const char *remote,
		    struct carve_error *err)
{
	DB_LOCKED(db);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r;

	if (!action || !*action)
		return carve_err(err, -EINVAL, "audit record: action is missing");
	r = db_prepare(db,
		       "INSERT INTO audit (at, user_id, tenant_id, action, object, status, remote) "
		       "VALUES (?, ?, ?, ?, ?, ?, ?)",
		       &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, when);
	if (bind_text_or_null(st, 2, user_id) < 0 || bind_text_or_null(st, 3, tenant_id) < 0 ||
	    bind_text(st, 4, action) < 0 || bind_text_or_null(st, 5, object) < 0 ||
	    bind_text_or_null(st, 7, remote) < 0)
		return -ENOMEM;
	sqlite3_bind_int(st, 6, status);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_step_error(db, rc, false, err, "audit record '%s'", action);
	return 0;
}

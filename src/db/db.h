/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state store: one SQLite database (WAL, synchronous=FULL, foreign keys on) holding tenants,
 * users, sessions, API tokens, templates, servers and tasks. db_open() runs an integrity check and
 * the versioned migrations compiled into this module before anything else reads it.
 *
 * Ownership: struct db is opaque and owned by the caller of db_open(). Row structs returned through
 * ret_* are heap-allocated and freed with the matching *_free() (which accepts NULL). Lists are
 * returned as an array plus a count and freed with the matching *_list_free().
 *
 * Threads: one struct db may be used from several threads; every call takes the db's own mutex, and
 * db_transaction_begin()/commit()/rollback() hold it across several calls of the same thread
 * (recursive). Nothing here logs above debug or knows about HTTP.
 *
 * Errors: -ENOENT when a row is missing, -EEXIST on a unique-constraint violation, -EIO (with the
 * SQLite message in err) otherwise.
 */
#ifndef CARVE_DB_H
#define CARVE_DB_H

#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"

struct db;

int db_open(const char *path, struct db **ret, struct carve_error *err);
struct db *db_close(struct db *db);
int db_schema_version(struct db *db);
/* The version this build migrates to. */
int db_schema_latest(void);

int db_transaction_begin(struct db *db, struct carve_error *err);
int db_transaction_commit(struct db *db, struct carve_error *err);
void db_transaction_rollback(struct db *db);

/* --- tenants ------------------------------------------------------------------------------- */

struct db_tenant {
	char id[33];
	char name[64];
	char *description;
	uint32_t uid_slot; /* tenant's host uid/gid range is base + slot * 65536, 65536 ids long */
	/* aggregate caps over all its servers (0: none), enforced by the tenant's cgroup */
	uint32_t max_vcpus;
	uint64_t max_memory;
	uint64_t max_pids;
	int64_t max_ports; /* published ports; -1: carved's default (--max-ports) */
	int64_t created_at;
};

/* Allocates the lowest free uid_slot (>= 0) atomically with the insert; fills t->id, uid_slot and
 * created_at. */
int db_tenant_create(struct db *db, struct db_tenant *t, struct carve_error *err);
int db_tenant_get_by_name(struct db *db, const char *name, struct db_tenant **ret,
			  struct carve_error *err);
int db_tenant_get_by_id(struct db *db, const char *id, struct db_tenant **ret,
			struct carve_error *err);
int db_tenant_list(struct db *db, struct db_tenant ***ret, size_t *ret_n, struct carve_error *err);
int db_tenant_update(struct db *db, const struct db_tenant *t, struct carve_error *err);
/* -EBUSY when the tenant still has servers or users. */
int db_tenant_delete(struct db *db, const char *id, struct carve_error *err);
struct db_tenant *db_tenant_free(struct db_tenant *t);
void db_tenant_list_free(struct db_tenant **l, size_t n);

/* --- users --------------------------------------------------------------------------------- */

enum db_role {
	DB_ROLE_ADMIN, /* provider admin: every tenant, every right; tenant_id is empty */
	DB_ROLE_OWNER, /* per tenant: everything within the tenant, users and tokens included */
	DB_ROLE_OPERATOR, /* per tenant: read, and operate servers (start/stop/restart) */
	DB_ROLE_VIEWER, /* per tenant: read only */
	_DB_ROLE_MAX,
	_DB_ROLE_INVALID = -EINVAL,
};
const char *db_role_to_string(enum db_role r);
enum db_role db_role_from_string(const char *s);

struct db_user {
	char id[33];
	char name[64]; /* unique across the host: it is the login name */
	char tenant_id[33]; /* "" for provider admins */
	enum db_role role;
	char *password_hash; /* argon2id encoded string */
	int64_t created_at;
};

int db_user_create(struct db *db, struct db_user *u, struct carve_error *err);
int db_user_get_by_name(struct db *db, const char *name, struct db_user **ret,
			struct carve_error *err);
int db_user_get_by_id(struct db *db, const char *id, struct db_user **ret, struct carve_error *err);
/* tenant_id NULL: all users; "" : provider admins only; else that tenant's users. */
int db_user_list(struct db *db, const char *tenant_id, struct db_user ***ret, size_t *ret_n,
		 struct carve_error *err);
int db_user_update(struct db *db, const struct db_user *u, struct carve_error *err);
/* Deletes the user's sessions and tokens too. */
int db_user_delete(struct db *db, const char *id, struct carve_error *err);
struct db_user *db_user_free(struct db_user *u);
void db_user_list_free(struct db_user **l, size_t n);

/* --- sessions and API tokens --------------------------------------------------------------- */

/* Both are stored only as the SHA-256 hex of the secret (token_hash). */
struct db_token {
	char id[33];
	char user_id[33];
	char name[64]; /* "" for login sessions */
	bool is_session; /* true: a login session; false: an API token */
	enum db_role role; /* the most this token may do; effective = min(role, user's role) */
	char token_hash[65];
	int64_t created_at;
	int64_t expires_at; /* 0: never */
	int64_t last_used_at;
};

int db_token_create(struct db *db, struct db_token *t, struct carve_error *err);
int db_token_get_by_hash(struct db *db, const char *token_hash, struct db_token **ret,
			 struct carve_error *err);
int db_token_get_by_id(struct db *db, const char *id, struct db_token **ret,
		       struct carve_error *err);
/* user_id NULL: all API tokens; sessions are never listed. */
int db_token_list(struct db *db, const char *user_id, struct db_token ***ret, size_t *ret_n,
		  struct carve_error *err);
int db_token_touch(struct db *db, const char *id, int64_t now, struct carve_error *err);
int db_token_delete(struct db *db, const char *id, struct carve_error *err);
/* Deletes every token and session whose expires_at is in (0, now). */
int db_token_delete_expired(struct db *db, int64_t now, struct carve_error *err);
struct db_token *db_token_free(struct db_token *t);
void db_token_list_free(struct db_token **l, size_t n);

/* --- templates ----------------------------------------------------------------------------- */

struct db_template {
	char id[33];
	char name[64];
	char kind[16]; /* "container" (later "vm") */
	char os[64]; /* "busybox", "debian-12", ... */
	char *description;
	char *rootfs_path; /* the template's root filesystem (directory) */
	char *init; /* init command inside the server, e.g. "/sbin/init" */
	int stop_signal; /* the signal that asks init to power off (busybox: SIGUSR2) */
	char *volume; /* the template's volume in the default pool (NULL: dir pools) */
	uint64_t disk_min; /* smallest disk a server of this template may have (bytes) */
	int64_t created_at;
	bool system; /* boots a full OS init: its init keeps CAP_SYS_ADMIN, CAP_NET_ADMIN and
			CAP_SYS_BOOT in its user namespace (systemd mounts its own API filesystems)
		      */
};

int db_template_create(struct db *db, struct db_template *t, struct carve_error *err);
int db_template_get_by_name(struct db *db, const char *name, struct db_template **ret,
			    struct carve_error *err);
int db_template_get_by_id(struct db *db, const char *id, struct db_template **ret,
			  struct carve_error *err);
int db_template_list(struct db *db, struct db_template ***ret, size_t *ret_n,
		     struct carve_error *err);
int db_template_delete(struct db *db, const char *id, struct carve_error *err);
struct db_template *db_template_free(struct db_template *t);
void db_template_list_free(struct db_template **l, size_t n);

/* --- servers ------------------------------------------------------------------------------- */

/*
 * Server states (the state machine lives in the daemon; the store only records):
 *   stopped -> starting -> running -> stopping -> stopped; any -> error; error -> stopped.
 *   creating (rootfs being prepared) -> stopped; deleting -> (row gone).
 */
enum db_server_state {
	DB_SERVER_CREATING,
	DB_SERVER_STOPPED,
	DB_SERVER_STARTING,
	DB_SERVER_RUNNING,
	DB_SERVER_STOPPING,
	DB_SERVER_DELETING,
	DB_SERVER_ERROR,
	DB_SERVER_PAUSED, /* running, every process frozen (cgroup freezer) */
	_DB_SERVER_STATE_MAX,
	_DB_SERVER_STATE_INVALID = -EINVAL,
};
const char *db_server_state_to_string(enum db_server_state s);
enum db_server_state db_server_state_from_string(const char *s);

struct db_server {
	char id[33];
	char name[64]; /* unique within its tenant */
	char tenant_id[33];
	char template_id[33];
	char kind[16]; /* "container" */
	uint32_t vcpus;
	uint64_t memory; /* bytes */
	uint64_t disk; /* root volume size in bytes (0: unbounded, dir pools) */
	char pool[64]; /* the pool holding its volumes */
	uint64_t pids_max; /* processes and threads (0: only the tenant's cap) */
	struct {
		/* on each of its disks (0: unlimited) */
		uint64_t read_bps, write_bps, read_iops, write_iops;
	} io;
	int64_t vm_uid_slot; /* kind vm: its QEMU's uid is the daemon's vm uid base + this; else -1
			      */
	char *cloud_init; /* kind vm: {"user","password_hash","ssh_keys"} for its seed, or NULL */
	char machine[16]; /* kind vm: QEMU's machine type, "q35" or "microvm"; "" otherwise */
	enum db_server_state state;
	char *state_reason; /* why it is in error, or how it last stopped; may be NULL */
	int64_t pid; /* host pid of the container's init while running, else 0 */
	int64_t monitor_pid; /* host pid of the monitor while running, else 0 */
	int64_t created_at;
	int64_t updated_at;
};

int db_server_create(struct db *db, struct db_server *s, struct carve_error *err);
int db_server_get_by_name(struct db *db, const char *tenant_id, const char *name,
			  struct db_server **ret, struct carve_error *err);
int db_server_get_by_id(struct db *db, const char *id, struct db_server **ret,
			struct carve_error *err);
/* tenant_id NULL: every server. */
int db_server_list(struct db *db, const char *tenant_id, struct db_server ***ret, size_t *ret_n,
		   struct carve_error *err);
/* Writes every mutable column (vcpus, memory, disk, pids_max, io, state, state_reason, pid,
 * monitor_pid, updated_at). */
int db_server_update(struct db *db, const struct db_server *s, struct carve_error *err);
/* Compare-and-set of the state: -EBUSY (and ret_current set) when the row is not in `from`. */
int db_server_transition(struct db *db, const char *id, enum db_server_state from,
			 enum db_server_state to, enum db_server_state *ret_current,
			 struct carve_error *err);
int db_server_delete(struct db *db, const char *id, struct carve_error *err);
struct db_server *db_server_free(struct db_server *s);
void db_server_list_free(struct db_server **l, size_t n);

/* --- tasks --------------------------------------------------------------------------------- */

enum db_task_state {
	DB_TASK_PENDING,
	DB_TASK_RUNNING,
	DB_TASK_SUCCEEDED,
	DB_TASK_FAILED,
	_DB_TASK_STATE_MAX,
	_DB_TASK_STATE_INVALID = -EINVAL,
};
const char *db_task_state_to_string(enum db_task_state s);
enum db_task_state db_task_state_from_string(const char *s);

struct db_task {
	char id[33];
	char tenant_id[33]; /* "" for provider-level tasks */
	char user_id[33]; /* who asked */
	char kind[32]; /* "server.create", "server.start", ... */
	char object[128]; /* what it acts on, e.g. "server/web1" */
	enum db_task_state state;
	uint64_t progress_done;
	uint64_t progress_total;
	char progress_unit[16]; /* "bytes", "steps" */
	char error_code[32]; /* "" unless failed */
	char *error_message; /* NULL unless failed */
	int64_t created_at;
	int64_t started_at;
	int64_t finished_at;
};

int db_task_create(struct db *db, struct db_task *t, struct carve_error *err);
int db_task_get(struct db *db, const char *id, struct db_task **ret, struct carve_error *err);
/* tenant_id NULL: all tasks. Newest first, at most limit. */
int db_task_list(struct db *db, const char *tenant_id, size_t limit, struct db_task ***ret,
		 size_t *ret_n, struct carve_error *err);
/* Writes state, progress, error, started_at, finished_at. */
int db_task_update(struct db *db, const struct db_task *t, struct carve_error *err);
/* At start-up: tasks left pending or running by a previous carved become failed
 * ("interrupted: carved restarted"). Returns how many. */
int db_task_fail_interrupted(struct db *db, int64_t now, struct carve_error *err);
struct db_task *db_task_free(struct db_task *t);
void db_task_list_free(struct db_task **l, size_t n);

/* --- snapshots ---------------------------------------------------------------------------- */

/* A snapshot of a server's root volume; its data lives in the pool. Deleted with the server. */
struct db_snapshot {
	char id[33];
	char server_id[33];
	char name[64]; /* unique per server */
	uint64_t size; /* the volume's size when taken */
	int64_t created_at;
};

int db_snapshot_create(struct db *db, struct db_snapshot *s, struct carve_error *err);
int db_snapshot_get(struct db *db, const char *server_id, const char *name,
		    struct db_snapshot **ret, struct carve_error *err);
/* Oldest first. */
int db_snapshot_list(struct db *db, const char *server_id, struct db_snapshot ***ret, size_t *ret_n,
		     struct carve_error *err);
int db_snapshot_delete(struct db *db, const char *id, struct carve_error *err);
struct db_snapshot *db_snapshot_free(struct db_snapshot *s);
void db_snapshot_list_free(struct db_snapshot **l, size_t n);

/* --- pools ------------------------------------------------------------------------------- */

/* A storage pool carved knows besides its built-in "default" (which is not stored here). */
struct db_pool {
	char name[64];
	char driver[16]; /* "reflink" */
	char *path; /* mount point / directory of the pool */
	char *image; /* the embedded kind's image file, or NULL for a given directory */
	uint64_t size; /* image size (embedded kind) */
	double overcommit;
	double fill_threshold; /* 0..1: an event when allocation crosses it */
	int64_t created_at;
};

int db_pool_create(struct db *db, struct db_pool *p, struct carve_error *err);
int db_pool_get(struct db *db, const char *name, struct db_pool **ret, struct carve_error *err);
int db_pool_list(struct db *db, struct db_pool ***ret, size_t *ret_n, struct carve_error *err);
/* Writes overcommit and fill_threshold. */
int db_pool_update(struct db *db, const struct db_pool *p, struct carve_error *err);
/* -EBUSY while servers or volumes use it. */
int db_pool_delete(struct db *db, const char *name, struct carve_error *err);
struct db_pool *db_pool_free(struct db_pool *p);
void db_pool_list_free(struct db_pool **l, size_t n);

/* --- data volumes ------------------------------------------------------------------------ */

/* A tenant's data volume: a thin ext4 volume in a pool, attached to at most one server at a
 * path inside it. Its storage name in the pool is its id. */
struct db_volume {
	char id[33];
	char tenant_id[33];
	char name[64]; /* unique per tenant */
	char pool[64];
	uint64_t size;
	char server_id[33]; /* "" when detached */
	char *path; /* mount path inside the server, NULL when detached */
	int64_t created_at;
	/* it has been a VM's disk: its blocks are a guest's, never mounted or parsed on the host
	 * (set when attached to a VM, never cleared) */
	bool guest_written;
};

int db_volume_create(struct db *db, struct db_volume *v, struct carve_error *err);
int db_volume_get_by_name(struct db *db, const char *tenant_id, const char *name,
			  struct db_volume **ret, struct carve_error *err);
int db_volume_get_by_id(struct db *db, const char *id, struct db_volume **ret,
			struct carve_error *err);
/* tenant_id NULL: all; ordered by name. */
int db_volume_list(struct db *db, const char *tenant_id, struct db_volume ***ret, size_t *ret_n,
		   struct carve_error *err);
/* The volumes attached to a server, ordered by path. */
int db_volume_list_by_server(struct db *db, const char *server_id, struct db_volume ***ret,
			     size_t *ret_n, struct carve_error *err);
/* Writes size, server_id and path, and sets guest_written (never clears it). */
int db_volume_update(struct db *db, const struct db_volume *v, struct carve_error *err);
int db_volume_delete(struct db *db, const char *id, struct carve_error *err);
struct db_volume *db_volume_free(struct db_volume *v);
void db_volume_list_free(struct db_volume **l, size_t n);

/* --- networks (db-network.c) ------------------------------------------------------------- */

/* A tenant's private network; id names its bridge on the host (never reused). */
struct db_network {
	uint32_t id;
	char tenant_id[33];
	char name[64]; /* unique per tenant */
	char subnet[20]; /* "10.1.2.0/24", unique on the host */
	int64_t created_at;
};

/* A server's interface on a network (eth<idx> inside); id names its host-side link. */
struct db_nic {
	uint32_t id;
	char server_id[33];
	uint32_t network_id;
	uint32_t idx;
	char mac[18];
	char addr[16]; /* always assigned by carve; with dhcp dnsmasq hands it out */
	bool dhcp;
	int64_t created_at;
};

/* A published port: public_port on the host's public address forwarded to port on a nic. */
struct db_port {
	uint32_t id;
	char tenant_id[33];
	char server_id[33];
	uint32_t nic_id;
	char protocol[4]; /* "tcp" or "udp" */
	uint32_t port;
	uint32_t public_port;
	int64_t created_at;
};

/* Lists are heap arrays freed with free(); tenant_id/server_id NULL and network_id 0: all. */
int db_network_create(struct db *db, struct db_network *n, struct carve_error *err);
int db_network_get_by_name(struct db *db, const char *tenant_id, const char *name,
			   struct db_network *ret, struct carve_error *err);
int db_network_get_by_id(struct db *db, uint32_t id, struct db_network *ret,
			 struct carve_error *err);
int db_network_list(struct db *db, const char *tenant_id, struct db_network **ret, size_t *ret_n,
		    struct carve_error *err);
/* -EBUSY while interfaces are on it. */
int db_network_delete(struct db *db, uint32_t id, struct carve_error *err);

int db_nic_create(struct db *db, struct db_nic *n, struct carve_error *err);
int db_nic_list(struct db *db, const char *server_id, uint32_t network_id, struct db_nic **ret,
		size_t *ret_n, struct carve_error *err);
int db_nic_delete(struct db *db, uint32_t id, struct carve_error *err);

int db_port_create(struct db *db, struct db_port *p, struct carve_error *err);
int db_port_list(struct db *db, const char *tenant_id, const char *server_id, struct db_port **ret,
		 size_t *ret_n, struct carve_error *err);
int db_port_delete(struct db *db, uint32_t id, struct carve_error *err);

/* A server's bandwidth limit in bits/s each way (0: none). */
int db_server_bandwidth_get(struct db *db, const char *server_id, uint64_t *ret,
			    struct carve_error *err);
int db_server_bandwidth_set(struct db *db, const char *server_id, uint64_t rate_bps,
			    struct carve_error *err);

/* --- events ------------------------------------------------------------------------------ */

struct db_event {
	int64_t seq;
	int64_t at;
	char kind[32]; /* "pool.fill", ... */
	char object[128]; /* "pool/default" */
	char *message;
};

int db_event_append(struct db *db, const char *kind, const char *object, const char *message,
		    struct carve_error *err);
/* Newest first, at most limit. */
int db_event_list(struct db *db, size_t limit, struct db_event ***ret, size_t *ret_n,
		  struct carve_error *err);
void db_event_list_free(struct db_event **l, size_t n);

/* --- audit --------------------------------------------------------------------------------- */

/* Append one audit record of a mutating call. */
int db_audit_append(struct db *db, int64_t when, const char *user_id, const char *tenant_id,
		    const char *action, const char *object, int status, const char *remote,
		    struct carve_error *err);

/* Cleanup helpers: cleanup(db_server_freep) struct db_server *s = NULL; */
DEFINE_CLEANUP_FUNC(struct db_tenant, db_tenant_free)
DEFINE_CLEANUP_FUNC(struct db_user, db_user_free)
DEFINE_CLEANUP_FUNC(struct db_token, db_token_free)
DEFINE_CLEANUP_FUNC(struct db_template, db_template_free)
DEFINE_CLEANUP_FUNC(struct db_server, db_server_free)
DEFINE_CLEANUP_FUNC(struct db_task, db_task_free)
DEFINE_CLEANUP_FUNC(struct db_snapshot, db_snapshot_free)
DEFINE_CLEANUP_FUNC(struct db_pool, db_pool_free)
DEFINE_CLEANUP_FUNC(struct db_volume, db_volume_free)

#endif

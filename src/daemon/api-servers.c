/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"
#include "daemon/backups.h"
#include "daemon/networks.h"
#include "daemon/servers.h"
#include "monitor/monitor.h"
#include "vm/vm.h"

#define VCPUS_MAX 256
#define MEMORY_MIN (32ULL << 20)
#define MEMORY_MAX (1ULL << 40)
#define MEMORY_DEFAULT (512ULL << 20)
#define DISK_MIN (64ULL << 20)
#define DISK_MAX (16ULL << 40)
#define DISK_DEFAULT (2ULL << 30)

/* Find a server the caller may see. Admins may name the tenant with ?tenant=; without it the
 * name must be unique across tenants. */
int api_find_server(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct db_server **ret, struct carve_error *err)
{
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	const char *name = http_request_param(req, "name");
	char buf[128];
	int r;

	r = parse_name(name, "server", err);
	if (r < 0)
		return r;
	r = api_tenant_scope(d, c, http_request_query(req, "tenant", buf, sizeof(buf)), false, &t,
			     err);
	if (r < 0)
		return r;
	if (t) {
		r = db_server_get_by_name(d->db, t->id, name, ret, NULL);
		if (r == -ENOENT)
			return carve_err(err, r, "server '%s' not found", name);
		return r < 0 ? carve_err(err, r, "server '%s'", name) : 0;
	} else {
		struct db_server **l = NULL, *found = NULL;
		size_t n = 0, matches = 0;

		r = db_server_list(d->db, NULL, &l, &n, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (streq(l[i]->name, name)) {
				matches++;
				if (!found) {
					found = l[i];
					l[i] = NULL;
				}
			}
		db_server_list_free(l, n);
		if (matches == 0)
			return carve_err(err, -ENOENT, "server '%s' not found", name);
		if (matches > 1) {
			db_server_free(found);
			return carve_err(
				err, -EBUSY,
				"server '%s' exists in %zu tenants: add ?tenant=NAME (carve --tenant)",
				name, matches);
		}
		*ret = found;
		return 0;
	}
}

/* A size field that may be a string ("512M") or an integer (bytes). */
static int get_size(json_t *body, const char *key, const char *server, uint64_t min, uint64_t max,
		    uint64_t *ret, struct carve_error *err)
{
	json_t *v = json_object_get(body, key);
	char a[32], b[32];
	uint64_t x;

	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		x = (uint64_t)json_integer_value(v);
		snprintf(a, sizeof(a), "%" PRIu64, x);
	} else if (json_is_string(v)) {
		snprintf(a, sizeof(a), "%.31s", json_string_value(v));
		if (parse_size(json_string_value(v), &x, NULL) < 0)
			return carve_err_field(
				err, -EINVAL, key,
				"server '%s': %s '%s': not a size (use e.g. 512M, 2G)", server, key,
				a);
	} else {
		return carve_err_field(
			err, -EINVAL, key,
			"server '%s': %s: must be a size string like \"512M\" or a number of bytes",
			server, key);
	}
	if (x < min)
		return carve_err_field(err, -ERANGE, key,
				       "server '%s': %s '%s': below the minimum %s", server, key, a,
				       format_size(min, b, sizeof(b)));
	if (x > max)
		return carve_err_field(err, -ERANGE, key,
				       "server '%s': %s '%s': above the maximum %s", server, key, a,
				       format_size(max, b, sizeof(b)));
	*ret = x;
	return 0;
}

static int get_vcpus(json_t *body, const char *server, uint32_t *ret, struct carve_error *err)
{
	json_t *v = json_object_get(body, "vcpus");

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > VCPUS_MAX)
		return carve_err_field(err, -EINVAL, "vcpus",
				       "server '%s': vcpus: must be an integer between 1 and %d",
				       server, VCPUS_MAX);
	*ret = (uint32_t)json_integer_value(v);
	return 0;
}

#define PIDS_MAX_LIMIT 4194304 /* the kernel's pid_max ceiling */
#define IO_BPS_MAX (UINT64_C(1) << 50)
#define IO_IOPS_MAX 100000000

/* pids_max and the io_* limits, each optional (0 lifts the limit). */
static int get_limits(json_t *body, struct db_server *s, struct carve_error *err)
{
	static const struct {
		const char *key;
		bool bytes;
	} io[] = {{"io_read_bps", true},
		  {"io_write_bps", true},
		  {"io_read_iops", false},
		  {"io_write_iops", false}};
	uint64_t *dst[] = {&s->io.read_bps, &s->io.write_bps, &s->io.read_iops, &s->io.write_iops};
	int r;

	r = json_get_uint(body, "pids_max", false, 0, PIDS_MAX_LIMIT, &s->pids_max, err);
	if (r < 0)
		return carve_err_prefix(err, "server '%s'", s->name);
	for (size_t i = 0; i < ELEMENTSOF(io); i++) {
		if (io[i].bytes) {
			r = get_size(body, io[i].key, s->name, 0, IO_BPS_MAX, dst[i], err);
			if (r < 0)
				return r;
			continue;
		}
		r = json_get_uint(body, io[i].key, false, 0, IO_IOPS_MAX, dst[i], err);
		if (r < 0)
			return carve_err_prefix(err, "server '%s'", s->name);
	}
	return 0;
}

/*
 * "cloud_init": {"user": NAME, "password_hash": CRYPT, "ssh_keys": [LINE, ...]} for a VM: checked
 * by rendering a seed the way the VM's start will (src/vm), stored as compact JSON.
 */
static int get_cloud_init(json_t *body, const char *server, const char *kind, char **ret,
			  struct carve_error *err)
{
	json_t *o = json_object_get(body, "cloud_init");
	const char *keys[33];
	struct vm_seed seed = {.instance_id = "check", .hostname = "check"};
	cleanup_free char *meta = NULL, *user = NULL;

	if (!streq(kind, "vm"))
		return carve_err_field(err, -EINVAL, "cloud_init",
				       "server '%s': cloud_init: only for kind vm", server);
	if (servers_cloud_init_parse(o, &seed, keys, err) < 0)
		return carve_err_prefix(err, "server '%s'", server);
	if (vm_seed_render(&seed, &meta, &user, err) < 0) {
		carve_err_prefix(err, "server '%s': cloud_init", server);
		strscpy(err->field, "cloud_init", sizeof(err->field));
		return err->code;
	}
	*ret = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	return *ret ? 0 : carve_err(err, -ENOMEM, "out of memory");
}

/* "machine": QEMU's machine type of a VM, q35 (firmware, PCI) or microvm (direct kernel boot,
 * virtio-mmio, no firmware). */
static int get_machine(const char *machine, const char *server, const char *kind, char *ret,
		       size_t n, struct carve_error *err)
{
	if (!streq(kind, "vm"))
		return carve_err_field(err, -EINVAL, "machine",
				       "server '%s': machine: only for kind vm", server);
	if (vm_machine_from_string(machine) < 0)
		return carve_err_field(err, -EINVAL, "machine",
				       "server '%s': machine '%.16s': use q35 or microvm", server,
				       machine);
	strscpy(ret, machine, n);
	return 0;
}

static void respond_task(struct daemon *d, struct http_response *resp, const struct db_server *s,
			 const struct db_task *t)
{
	http_response_json(resp, 202,
			   json_pack("{s:o, s:o}", "server", api_server_json(d, s), "task",
				     api_task_json(d, t)));
	snprintf(resp->location, sizeof(resp->location), "/api/v1/tasks/%s", t->id);
}

static int submit(struct daemon *d, const struct caller *c, const struct db_server *s,
		  const char *kind, task_fn fn, struct db_task **ret, struct carve_error *err)
{
	struct db_task tmpl = {0};
	struct server_op *op = calloc(1, sizeof(*op));

	if (!op)
		return carve_err(err, -ENOMEM, "server '%s'", s->name);
	strscpy(op->server_id, s->id, sizeof(op->server_id));
	strscpy(op->tenant_id, s->tenant_id, sizeof(op->tenant_id));
	strscpy(tmpl.tenant_id, s->tenant_id, sizeof(tmpl.tenant_id));
	strscpy(tmpl.user_id, c->user_id, sizeof(tmpl.user_id));
	strscpy(tmpl.kind, kind, sizeof(tmpl.kind));
	snprintf(tmpl.object, sizeof(tmpl.object), "server/%s", s->name);
	strscpy(tmpl.progress_unit, "steps", sizeof(tmpl.progress_unit));
	return tasks_submit(d->tasks, &tmpl, fn, op, free, ret, err);
}

void api_servers_list(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	struct db_server **l = NULL;
	char buf[128];
	size_t n = 0;
	json_t *arr;

	if (api_tenant_scope(d, c, http_request_query(req, "tenant", buf, sizeof(buf)), false, &t,
			     &err) < 0)
		return api_fail(resp, &err);
	if (db_server_list(d->db, t ? t->id : NULL, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, api_server_json(d, l[i]));
	db_server_list_free(l, n);
	http_response_json(resp, 200, arr);
}

#define QEMU_BINARY "qemu-system-x86_64"

/* Whether QEMU is an executable in PATH (VM servers need it). */
static bool qemu_available(void)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		if (n > 0 &&
		    (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, QEMU_BINARY) <
			    sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

void api_servers_create(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	static const char *const fields[] = {"name",	      "template",     "vcpus",
					     "memory",	      "disk",	      "pool",
					     "kind",	      "tenant",	      "pids_max",
					     "io_read_bps",   "io_write_bps", "io_read_iops",
					     "io_write_iops", "networks",     "bandwidth",
					     "cloud_init",    "machine",      NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	cleanup(db_template_freep) struct db_template *tpl = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;
	cleanup_json json_t *body = NULL;
	const char *name = NULL, *template = NULL, *kind = "container", *tenant = NULL;
	const char *pool_name = "default", *machine = NULL;
	struct storage_pool *pool = d->pool;
	struct db_server s = {0};
	cleanup_free char *ci = NULL;
	int r;

	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "server", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	s.vcpus = 1;
	s.memory = MEMORY_DEFAULT;
	s.disk = d->volumes ? DISK_DEFAULT : 0;
	if (json_get_string(body, "template", true, CARVE_NAME_MAX + 1, &template, &err) < 0 ||
	    json_get_string(body, "kind", false, 16, &kind, &err) < 0 ||
	    json_get_string(body, "tenant", false, CARVE_NAME_MAX + 1, &tenant, &err) < 0 ||
	    json_get_string(body, "pool", false, CARVE_NAME_MAX + 1, &pool_name, &err) < 0 ||
	    json_get_string(body, "machine", false, 16, &machine, &err) < 0 ||
	    get_vcpus(body, name, &s.vcpus, &err) < 0 ||
	    get_size(body, "memory", name, MEMORY_MIN, MEMORY_MAX, &s.memory, &err) < 0 ||
	    get_size(body, "disk", name, DISK_MIN, DISK_MAX, &s.disk, &err) < 0) {
		if (!streq(err.field, "memory") && !streq(err.field, "vcpus") &&
		    !streq(err.field, "disk"))
			carve_err_prefix(&err, "server '%s'", name);
		return api_fail(resp, &err);
	}
	strscpy(s.name, name, sizeof(s.name));
	if (get_limits(body, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!streq(kind, "container") && !streq(kind, "vm")) {
		http_response_error(resp, 422, "kind",
				    "server '%s': kind '%.16s': use container or vm", name, kind);
		return;
	}
	if (streq(kind, "vm") && !d->volumes) {
		http_response_error(resp, 422, "kind",
				    "server '%s': kind 'vm' needs a volume pool (reflink driver)",
				    name);
		return;
	}
	if (streq(kind, "vm") && !qemu_available()) {
		http_response_error(resp, 422, "kind",
				    "server '%s': kind 'vm': %s is not installed on this host",
				    name, QEMU_BINARY);
		return;
	}
	if (machine && get_machine(machine, name, kind, s.machine, sizeof(s.machine), &err) < 0)
		return api_fail(resp, &err);
	if (streq(kind, "vm") && !machine)
		strscpy(s.machine, "q35", sizeof(s.machine));
	if (json_object_get(body, "cloud_init") && get_cloud_init(body, name, kind, &ci, &err) < 0)
		return api_fail(resp, &err);
	s.cloud_init = ci;
	if (api_tenant_scope(d, c, tenant, true, &t, &err) < 0) {
		carve_err_prefix(&err, "server '%s'", name);
		return api_fail(resp, &err);
	}
	r = parse_name(template, "template", NULL) < 0
		    ? -ENOENT
		    : db_template_get_by_name(d->db, template, &tpl, NULL);
	if (r < 0) {
		http_response_error(resp, 422, "template",
				    "server '%s': template '%.64s' not found", name, template);
		return;
	}
	if (!streq(tpl->kind, kind)) {
		http_response_error(resp, 422, "template",
				    "server '%s': template '%s' is for kind %s, not %s", name,
				    tpl->name, tpl->kind, kind);
		return;
	}
	/* vm templates: rootfs_path is the kernel; an image template has none and boots its
	 * disk through q35's firmware, which microvm does not have */
	if (streq(s.machine, "microvm") && (!tpl->rootfs_path || !tpl->rootfs_path[0])) {
		http_response_error(resp, 422, "machine",
				    "server '%s': machine 'microvm' boots a kernel directly; "
				    "template '%s' is a disk image that needs firmware: use q35",
				    name, tpl->name);
		return;
	}

	if (!d->volumes && json_object_get(body, "disk")) {
		http_response_error(
			resp, 422, "disk",
			"server '%s': disk sizes need a volume pool (carved --pool-driver reflink)",
			name);
		return;
	}
	if (s.disk && s.disk < tpl->disk_min) {
		char a[32];
		http_response_error(resp, 400, "disk",
				    "server '%s': disk: template '%s' needs at least %s", name,
				    tpl->name, format_size(tpl->disk_min, a, sizeof(a)));
		return;
	}
	pool = daemon_pool(d, pool_name);
	if (!pool) {
		http_response_error(resp, 422, "pool", "server '%s': pool '%.64s' not found", name,
				    pool_name);
		return;
	}
	/* a vm template's disk volume exists in the default pool only (templates.c) */
	if (streq(kind, "vm") && pool != d->pool) {
		http_response_error(resp, 422, "pool",
				    "server '%s': kind 'vm': only the default pool holds VM disks",
				    name);
		return;
	}
	strscpy(s.pool, pool_name, sizeof(s.pool));
	if (d->volumes && storage_pool_admit(pool, s.disk, &err) < 0) {
		carve_err_prefix(&err, "server '%s': disk", name);
		strscpy(err.field, "disk", sizeof(err.field));
		return api_fail(resp, &err);
	}
	strscpy(s.name, name, sizeof(s.name));
	strscpy(s.tenant_id, t->id, sizeof(s.tenant_id));
	strscpy(s.template_id, tpl->id, sizeof(s.template_id));
	strscpy(s.kind, kind, sizeof(s.kind));
	s.state = DB_SERVER_CREATING;
	r = db_server_create(d->db, &s, &err);
	if (r == -EEXIST) {
		carve_err_clear(&err);
		carve_err_field(&err, -EEXIST, "name", "server '%s' already exists in tenant '%s'",
				name, t->name);
		return api_fail(resp, &err);
	}
	if (r < 0)
		return api_fail(resp, &err);
	if (daemon_net_server_nics(d, &s, json_object_get(body, "networks"), &err) < 0 ||
	    (json_object_get(body, "bandwidth") &&
	     daemon_net_set_bandwidth(d, &s, json_object_get(body, "bandwidth"), &err) < 0)) {
		(void)db_server_delete(d->db, s.id, NULL);
		daemon_net_server_deleted(d);
		return api_fail(resp, &err);
	}
	r = submit(d, c, &s, "server.create", server_task_create, &task, &err);
	if (r < 0) {
		(void)db_server_delete(d->db, s.id, NULL);
		daemon_net_server_deleted(d);
		return api_fail(resp, &err);
	}
	respond_task(d, resp, &s, task);
	snprintf(resp->location, sizeof(resp->location), "/api/v1/servers/%s", s.name);
}

void api_servers_get(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, api_server_json(d, s));
}

void api_servers_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	static const char *const fields[] = {
		"vcpus",	"memory",	"disk",		 "pids_max",  "io_read_bps",
		"io_write_bps", "io_read_iops", "io_write_iops", "bandwidth", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL, *cur = NULL;
	cleanup_json json_t *body = NULL;
	uint64_t disk = 0;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!api_body(req, fields, &body, resp))
		return;
	if (get_vcpus(body, s->name, &s->vcpus, &err) < 0 ||
	    get_size(body, "memory", s->name, MEMORY_MIN, MEMORY_MAX, &s->memory, &err) < 0 ||
	    get_size(body, "disk", s->name, DISK_MIN, DISK_MAX, &disk, &err) < 0 ||
	    get_limits(body, s, &err) < 0)
		return api_fail(resp, &err);
	if (json_object_get(body, "bandwidth") &&
	    daemon_net_set_bandwidth(d, s, json_object_get(body, "bandwidth"), &err) < 0)
		return api_fail(resp, &err);
	if (disk && disk != s->disk) {
		char a[32], b[32];

		if (!d->volumes) {
			http_response_error(resp, 422, "disk",
					    "server '%s': disk sizes need a volume pool", s->name);
			return;
		}
		if (disk < s->disk) {
			http_response_error(
				resp, 400, "disk",
				"server '%s': disk: resize to %s: smaller than current size %s (disks only grow)",
				s->name, format_size(disk, a, sizeof(a)),
				format_size(s->disk, b, sizeof(b)));
			return;
		}
		if (s->state == DB_SERVER_CREATING || s->state == DB_SERVER_DELETING) {
			http_response_error(resp, 409, NULL,
					    "server '%s' is %s: cannot change it now", s->name,
					    db_server_state_to_string(s->state));
			return;
		}
		struct storage_pool *pool = NULL;

		if (daemon_pool_of(d, s->pool, &pool, &err) < 0)
			return api_fail(resp, &err);
		if (storage_pool_admit(pool, disk - s->disk, &err) < 0) {
			carve_err_prefix(&err, "server '%s': disk", s->name);
			strscpy(err.field, "disk", sizeof(err.field));
			return api_fail(resp, &err);
		}
		/* a container's: the file and the ext4 in it (online when it runs); a VM's: the
		 * file only (the guest grows its partitions and filesystems), and a running QEMU
		 * is told, so that the guest sees the new size now */
		if ((streq(s->kind, "vm") ? storage_volume_resize_raw(pool, s->id, disk, &err)
					  : storage_volume_resize(pool, s->id, disk, &err)) < 0) {
			carve_err_prefix(&err, "server '%s': disk", s->name);
			strscpy(err.field, "disk", sizeof(err.field));
			return api_fail(resp, &err);
		}
		if (streq(s->kind, "vm") && s->state == DB_SERVER_RUNNING) {
			char dir[PATH_MAX];

			if (daemon_server_dir(d, s->id, dir, sizeof(dir)) < 0 ||
			    monitor_vm_block_resize(dir, 0, disk, &err) < 0) {
				/* the file has grown: QEMU opens it at that size next start */
				log_warning("server '%s': disk grown to %" PRIu64
					    " bytes, but the running guest was not told: %s",
					    s->name, disk, err.msg);
				carve_err_clear(&err);
			}
		}
	}
	/* Re-read inside a transaction so a concurrent state change is not overwritten. */
	if (db_transaction_begin(d->db, &err) < 0)
		return api_fail(resp, &err);
	if (db_server_get_by_id(d->db, s->id, &cur, &err) < 0) {
		db_transaction_rollback(d->db);
		return api_fail(resp, &err);
	}
	if (cur->state == DB_SERVER_DELETING || cur->state == DB_SERVER_CREATING) {
		db_transaction_rollback(d->db);
		http_response_error(resp, 409, NULL, "server '%s' is %s: cannot change it now",
				    s->name, db_server_state_to_string(cur->state));
		return;
	}
	/* A running server gets its new cgroup limits now; if the kernel refuses one (memory
	 * below what the server uses), nothing is recorded. A VM's vCPUs and RAM are QEMU's
	 * and change at its next start. */
	struct db_server live = *s;

	if (streq(s->kind, "vm")) {
		live.vcpus = cur->vcpus;
		live.memory = cur->memory;
	}
	if ((cur->state == DB_SERVER_RUNNING || cur->state == DB_SERVER_PAUSED) &&
	    servers_apply_limits(d, &live, &err) < 0) {
		db_transaction_rollback(d->db);
		carve_err_prefix(&err, "server '%s': apply the new limits", s->name);
		return api_fail(resp, &err);
	}
	cur->vcpus = s->vcpus;
	cur->memory = s->memory;
	cur->pids_max = s->pids_max;
	cur->io = s->io;
	if (disk > cur->disk)
		cur->disk = disk;
	cur->updated_at = time(NULL);
	if (db_server_update(d->db, cur, &err) < 0 || db_transaction_commit(d->db, &err) < 0) {
		db_transaction_rollback(d->db);
		return api_fail(resp, &err);
	}
	http_response_json(resp, 200, api_server_json(d, cur));
}

/* Move the server from one of the allowed states to `to`, or answer 409 naming the state. */
static bool transition(struct daemon *d, struct db_server *s, const enum db_server_state *from,
		       size_t n_from, enum db_server_state to, const char *verb,
		       enum db_server_state *ret_from, struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	enum db_server_state cur = s->state;

	for (size_t i = 0; i < n_from; i++) {
		int r = db_server_transition(d->db, s->id, from[i], to, &cur, &err);
		if (r >= 0) {
			s->state = to;
			if (ret_from)
				*ret_from = from[i];
			return true;
		}
		if (r != -EBUSY) {
			api_fail(resp, &err);
			return false;
		}
		carve_err_clear(&err);
	}
	http_response_error(resp, 409, NULL, "server '%s' is %s: cannot %s it", s->name,
			    db_server_state_to_string(cur), verb);
	return false;
}

static void lifecycle(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp, const enum db_server_state *from, size_t n_from,
		      enum db_server_state to, const char *verb, const char *kind, task_fn fn)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;
	enum db_server_state was = from[0];

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (req->body_len > 0) {
		cleanup_json json_t *body = NULL;
		static const char *const none[] = {NULL};
		if (!api_body(req, none, &body, resp))
			return;
	}
	if (!transition(d, s, from, n_from, to, verb, &was, resp))
		return;
	/* a restore in place replaces the volumes of a stopped server: no start meanwhile. The
	 * restore claims the server before it checks the state, the start moves the state before
	 * it checks the claim, so one of the two always sees the other. */
	if (to == DB_SERVER_STARTING && backups_restoring(s->id)) {
		(void)db_server_transition(d->db, s->id, to, was, NULL, NULL);
		http_response_error(resp, 409, NULL,
				    "server '%s' is %s and being restored from a backup: cannot "
				    "start it until the restore finishes",
				    s->name, db_server_state_to_string(was));
		return;
	}
	if (submit(d, c, s, kind, fn, &task, &err) < 0) {
		(void)db_server_transition(d->db, s->id, to, was, NULL, NULL);
		return api_fail(resp, &err);
	}
	respond_task(d, resp, s, task);
}

void api_servers_start(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	static const enum db_server_state from[] = {DB_SERVER_STOPPED, DB_SERVER_ERROR};
	lifecycle(d, c, req, resp, from, ELEMENTSOF(from), DB_SERVER_STARTING, "start",
		  "server.start", server_task_start);
}

void api_servers_stop(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	static const enum db_server_state from[] = {DB_SERVER_RUNNING, DB_SERVER_PAUSED};
	lifecycle(d, c, req, resp, from, ELEMENTSOF(from), DB_SERVER_STOPPING, "stop",
		  "server.stop", server_task_stop);
}

void api_servers_restart(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp)
{
	static const enum db_server_state from[] = {DB_SERVER_RUNNING};
	lifecycle(d, c, req, resp, from, ELEMENTSOF(from), DB_SERVER_STOPPING, "restart",
		  "server.restart", server_task_restart);
}

void api_servers_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	static const enum db_server_state from[] = {DB_SERVER_STOPPED, DB_SERVER_ERROR};
	lifecycle(d, c, req, resp, from, ELEMENTSOF(from), DB_SERVER_DELETING, "delete",
		  "server.delete", server_task_delete);
}

/* Freeze or thaw every process of a running server (cgroup freezer): synchronous, the state
 * moves with a compare-and-set so a concurrent stop or pause gets 409. */
static void freeze(struct daemon *d, const struct caller *c, struct http_request *req,
		   struct http_response *resp, bool frozen)
{
	enum db_server_state from = frozen ? DB_SERVER_RUNNING : DB_SERVER_PAUSED;
	enum db_server_state to = frozen ? DB_SERVER_PAUSED : DB_SERVER_RUNNING;
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	const char *verb = frozen ? "pause" : "resume";

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!d->cgroups) {
		http_response_error(resp, 422, NULL, "server '%s': %s needs cgroups", s->name,
				    verb);
		return;
	}
	if (!transition(d, s, &from, 1, to, verb, NULL, resp))
		return;
	if (db_tenant_get_by_id(d->db, s->tenant_id, &t, &err) < 0 ||
	    cgroup_server_freeze(d->cgroups, t->name, s->name, frozen, &err) < 0) {
		(void)db_server_transition(d->db, s->id, to, from, NULL, NULL);
		carve_err_prefix(&err, "server '%s': %s", s->name, verb);
		return api_fail(resp, &err);
	}
	s->state = to;
	http_response_json(resp, 200, api_server_json(d, s));
}

/* A running VM's hard reset, as a reset button does: synchronous, the state stays running. */
void api_servers_reset(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	char dir[PATH_MAX];

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!streq(s->kind, "vm")) {
		http_response_error(resp, 422, NULL,
				    "server '%s' is a container: reset is a VM's (use restart)",
				    s->name);
		return;
	}
	if (s->state != DB_SERVER_RUNNING) {
		http_response_error(resp, 409, NULL, "server '%s' is %s: reset needs it running",
				    s->name, db_server_state_to_string(s->state));
		return;
	}
	if (daemon_server_dir(d, s->id, dir, sizeof(dir)) < 0 || monitor_vm_reset(dir, &err) < 0) {
		carve_err_prefix(&err, "server '%s': reset", s->name);
		return api_fail(resp, &err);
	}
	log_info("server '%s': reset", s->name);
	http_response_json(resp, 200, api_server_json(d, s));
}

void api_servers_pause(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	freeze(d, c, req, resp, true);
}

void api_servers_resume(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	freeze(d, c, req, resp, false);
}

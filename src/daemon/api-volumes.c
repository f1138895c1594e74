/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data volumes: a tenant's thin ext4 volumes in the pool (storage name = the volume's id),
 * created synchronously (a sparse file and mkfs.ext4), attached to at most one stopped server at
 * an absolute path inside it. servers.c mounts a server's volumes at start, next to its root
 * volume, and releases them with it. Attach, detach and resize check the server's state inside a
 * transaction, so a concurrent start either sees the change or makes it fail with 409.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"
#include "daemon/servers.h"

#define VOLUME_MIN (64ULL << 20)
#define VOLUME_MAX (16ULL << 40)
#define VOLUME_PATH_MAX 255
#define VOLUMES_PER_SERVER_MAX 16 /* CT_MOUNTS_MAX */
#define VM_VOLUMES_MAX 14 /* /dev/vdb../dev/vdo: the monitor's VM_DATA_DISKS_MAX */

static bool need_volumes(struct daemon *d, struct http_response *resp)
{
	if (d->volumes)
		return true;
	http_response_error(resp, 422, NULL,
			    "data volumes need a volume pool (carved --pool-driver reflink)");
	return false;
}

/* Where a server's data volume is mounted on the host while the server runs. */
static int mountpoint(struct daemon *d, const char *server_id, const char *volume_id, char *buf,
		      size_t len)
{
	char dir[PATH_MAX];
	int r = daemon_server_dir(d, server_id, dir, sizeof(dir));

	if (r < 0)
		return r;
	if ((size_t)snprintf(buf, len, "%s/volumes/%s", dir, volume_id) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static json_t *volume_json(struct daemon *d, const struct db_volume *v)
{
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct storage_usage u = {0};
	json_t *j;

	(void)db_tenant_get_by_id(d->db, v->tenant_id, &t, NULL);
	if (v->server_id[0])
		(void)db_server_get_by_id(d->db, v->server_id, &s, NULL);
	j = json_pack("{s:s, s:s, s:s?, s:s, s:I, s:s?, s:s?, s:o}", "id", v->id, "name", v->name,
		      "tenant", t ? t->name : NULL, "pool", v->pool, "size", (json_int_t)v->size,
		      "server", s ? s->name : NULL, "path", s ? v->path : NULL, "created_at",
		      json_timestamp(v->created_at));
	if (!j)
		return NULL;
	json_object_set_new(j, "guest_written", json_boolean(v->guest_written));
	if (d->volumes && daemon_pool(d, v->pool) &&
	    storage_volume_usage(daemon_pool(d, v->pool), v->id, &u, NULL) >= 0)
		json_object_set_new(j, "used", json_integer((json_int_t)u.used));
	else
		json_object_set_new(j, "used", json_null());
	return j;
}

/* The volume named by {name} as the caller may see it (404 otherwise); admins may add
 * ?tenant=, and without it the name must be unique across tenants. */
static int find_volume(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct db_volume **ret, struct carve_error *err)
{
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	const char *name = http_request_param(req, "name");
	struct db_volume **l = NULL, *found = NULL;
	size_t n = 0, matches = 0;
	char buf[128];
	int r;

	r = parse_name(name, "volume", err);
	if (r < 0)
		return r;
	r = api_tenant_scope(d, c, http_request_query(req, "tenant", buf, sizeof(buf)), false, &t,
			     err);
	if (r < 0)
		return r;
	if (t) {
		r = db_volume_get_by_name(d->db, t->id, name, ret, NULL);
		if (r == -ENOENT)
			return carve_err(err, r, "volume '%s' not found", name);
		return r < 0 ? carve_err(err, r, "volume '%s'", name) : 0;
	}
	r = db_volume_list(d->db, NULL, &l, &n, err);
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
	db_volume_list_free(l, n);
	if (matches == 0)
		return carve_err(err, -ENOENT, "volume '%s' not found", name);
	if (matches > 1) {
		db_volume_free(found);
		return carve_err(
			err, -EBUSY,
			"volume '%s' exists in %zu tenants: add ?tenant=NAME (carve --tenant)",
			name, matches);
	}
	*ret = found;
	return 0;
}

/* "size": a string ("10G") or an integer (bytes), 64M..16T. */
static int get_size(json_t *body, const char *volume, uint64_t *ret, struct carve_error *err)
{
	json_t *v = json_object_get(body, "size");
	char a[32], b[32];
	uint64_t x;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		x = (uint64_t)json_integer_value(v);
		snprintf(a, sizeof(a), "%" PRIu64, x);
	} else if (json_is_string(v)) {
		snprintf(a, sizeof(a), "%.31s", json_string_value(v));
		if (parse_size(json_string_value(v), &x, NULL) < 0)
			return carve_err_field(
				err, -EINVAL, "size",
				"volume '%s': size '%s': not a size (use e.g. 512M, 10G)", volume,
				a);
	} else {
		return carve_err_field(
			err, -EINVAL, "size",
			"volume '%s': size: must be a size string like \"10G\" or a number of bytes",
			volume);
	}
	if (x < VOLUME_MIN)
		return carve_err_field(err, -ERANGE, "size",
				       "volume '%s': size '%s': below the minimum %s", volume, a,
				       format_size(VOLUME_MIN, b, sizeof(b)));
	if (x > VOLUME_MAX)
		return carve_err_field(err, -ERANGE, "size",
				       "volume '%s': size '%s': above the maximum %s", volume, a,
				       format_size(VOLUME_MAX, b, sizeof(b)));
	*ret = x;
	return 0;
}

/* A mount path inside a server: absolute, normalized, not "/", no "." or "..", no control
 * characters, and not where the runtime builds /proc, /sys, /dev and /run. */
static int check_path(const char *volume, const char *path, struct carve_error *err)
{
	static const char *const reserved[] = {"/proc", "/sys", "/dev", "/run"};
	size_t len = strlen(path);

	if (path[0] != '/')
		return carve_err_field(err, -EINVAL, "path",
				       "volume '%s': path '%s': not an absolute path", volume,
				       path);
	if (len > VOLUME_PATH_MAX)
		return carve_err_field(err, -EINVAL, "path",
				       "volume '%s': path: longer than %d characters", volume,
				       VOLUME_PATH_MAX);
	if (len == 1)
		return carve_err_field(err, -EINVAL, "path",
				       "volume '%s': path '/': cannot cover the server's root",
				       volume);
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return carve_err_field(err, -EINVAL, "path",
					       "volume '%s': path: control character", volume);
	for (const char *p = path; *p;) {
		size_t l;

		p++; /* the '/' */
		l = strcspn(p, "/");
		if (l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
			return carve_err_field(err, -EINVAL, "path",
					       "volume '%s': path '%s': not normalized (empty, '.' "
					       "or '..' component)",
					       volume, path);
		p += l;
	}
	for (size_t i = 0; i < ELEMENTSOF(reserved); i++) {
		size_t l = strlen(reserved[i]);

		if (strncmp(path, reserved[i], l) == 0 && (path[l] == '/' || path[l] == '\0'))
			return carve_err_field(
				err, -EINVAL, "path",
				"volume '%s': path '%s': under %s, which the server's "
				"runtime provides",
				volume, path, reserved[i]);
	}
	return 0;
}

void api_volumes_list(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	struct db_volume **l = NULL;
	char buf[128];
	size_t n = 0;
	json_t *arr;

	if (api_tenant_scope(d, c, http_request_query(req, "tenant", buf, sizeof(buf)), false, &t,
			     &err) < 0 ||
	    db_volume_list(d->db, t ? t->id : NULL, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, volume_json(d, l[i]));
	db_volume_list_free(l, n);
	http_response_json(resp, 200, arr);
}

void api_volumes_get(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_volume_freep) struct db_volume *v = NULL;

	if (find_volume(d, c, req, &v, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, volume_json(d, v));
}

void api_volumes_create(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	static const char *const fields[] = {"name", "size", "pool", "tenant", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	cleanup(db_volume_freep) struct db_volume *have = NULL;
	cleanup_json json_t *body = NULL;
	const char *name = NULL, *pool = "default", *tenant = NULL;
	struct db_volume v = {0};

	if (!need_volumes(d, resp) || !api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "volume", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	if (!json_object_get(body, "size")) {
		http_response_error(resp, 400, "size", "volume '%s': size: required", name);
		return;
	}
	if (json_get_string(body, "pool", false, CARVE_NAME_MAX + 1, &pool, &err) < 0 ||
	    json_get_string(body, "tenant", false, CARVE_NAME_MAX + 1, &tenant, &err) < 0) {
		carve_err_prefix(&err, "volume '%s'", name);
		return api_fail(resp, &err);
	}
	if (get_size(body, name, &v.size, &err) < 0)
		return api_fail(resp, &err);
	if (!daemon_pool(d, pool)) {
		http_response_error(resp, 422, "pool", "volume '%s': pool '%.64s' not found", name,
				    pool);
		return;
	}
	if (api_tenant_scope(d, c, tenant, true, &t, &err) < 0) {
		carve_err_prefix(&err, "volume '%s'", name);
		return api_fail(resp, &err);
	}
	if (db_volume_get_by_name(d->db, t->id, name, &have, NULL) >= 0) {
		http_response_error(resp, 409, "name", "volume '%s' already exists", name);
		return;
	}
	if (storage_pool_admit(daemon_pool(d, pool), v.size, &err) < 0) {
		carve_err_prefix(&err, "volume '%s': size", name);
		strscpy(err.field, "size", sizeof(err.field));
		return api_fail(resp, &err);
	}
	strscpy(v.tenant_id, t->id, sizeof(v.tenant_id));
	strscpy(v.name, name, sizeof(v.name));
	strscpy(v.pool, pool, sizeof(v.pool));
	/* the row first: it owns the id that names the data, and a crash in between leaves a
	 * row without data (shown with "used": null, deletable) rather than unowned data */
	if (db_volume_create(d->db, &v, &err) < 0)
		return api_fail(resp, &err);
	if (storage_volume_create(daemon_pool(d, pool), v.id, v.size, &err) < 0) {
		(void)db_volume_delete(d->db, v.id, NULL);
		carve_err_prefix(&err, "volume '%s'", name);
		return api_fail(resp, &err);
	}
	housekeeping_kick(d->housekeeping);
	http_response_json(resp, 201, volume_json(d, &v));
	snprintf(resp->location, sizeof(resp->location), "/api/v1/volumes/%s", v.name);
}

/*
 * Begin a transaction and read the volume's server in it: with must_be_stopped, 409 naming the
 * state unless it is stopped (or error, when error_ok). Leaves the transaction open on success.
 */
static int lock_server(struct daemon *d, const char *volume, const char *server_id, bool error_ok,
		       struct db_server **ret, struct carve_error *err)
{
	cleanup(db_server_freep) struct db_server *s = NULL;
	int r;

	r = db_transaction_begin(d->db, err);
	if (r < 0)
		return r;
	if (!server_id || !server_id[0])
		return 0;
	r = db_server_get_by_id(d->db, server_id, &s, err);
	if (r < 0)
		goto fail;
	if (s->state != DB_SERVER_STOPPED && !(error_ok && s->state == DB_SERVER_ERROR)) {
		r = carve_err(err, -EBUSY, "volume '%s': server '%s' is %s: stop it first", volume,
			      s->name, db_server_state_to_string(s->state));
		goto fail;
	}
	if (ret)
		*ret = TAKE_PTR(s);
	return 0;
fail:
	db_transaction_rollback(d->db);
	return r;
}

void api_volumes_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	static const char *const fields[] = {"size", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_volume_freep) struct db_volume *v = NULL, *cur = NULL;
	cleanup_json json_t *body = NULL;
	struct storage_pool *pool = NULL;
	uint64_t size = 0;
	char a[32], b[32];

	if (find_volume(d, c, req, &v, &err) < 0)
		return api_fail(resp, &err);
	if (!need_volumes(d, resp) || !api_body(req, fields, &body, resp))
		return;
	if (!json_object_get(body, "size")) {
		http_response_json(resp, 200, volume_json(d, v));
		return;
	}
	if (get_size(body, v->name, &size, &err) < 0)
		return api_fail(resp, &err);
	if (size < v->size) {
		http_response_error(
			resp, 400, "size",
			"volume '%s': resize to %s: smaller than current size %s (volumes only grow)",
			v->name, format_size(size, a, sizeof(a)),
			format_size(v->size, b, sizeof(b)));
		return;
	}
	if (size == v->size) {
		http_response_json(resp, 200, volume_json(d, v));
		return;
	}
	if (daemon_pool_of(d, v->pool, &pool, &err) < 0 ||
	    lock_server(d, v->name, v->server_id, true, NULL, &err) < 0)
		return api_fail(resp, &err);
	/* re-read inside the transaction: an attach may have raced with us */
	if (db_volume_get_by_id(d->db, v->id, &cur, &err) < 0)
		goto fail;
	if (!streq(cur->server_id, v->server_id)) {
		carve_err(&err, -EBUSY, "volume '%s': attached meanwhile, try again", v->name);
		goto fail;
	}
	/* a VM's disk grows as a file: its guest grows what is inside */
	if (storage_pool_admit(pool, size - cur->size, &err) < 0 ||
	    (cur->guest_written ? storage_volume_resize_raw(pool, cur->id, size, &err)
				: storage_volume_resize(pool, cur->id, size, &err)) < 0) {
		carve_err_prefix(&err, "volume '%s': size", v->name);
		strscpy(err.field, "size", sizeof(err.field));
		goto fail;
	}
	cur->size = size;
	if (db_volume_update(d->db, cur, &err) < 0 || db_transaction_commit(d->db, &err) < 0)
		goto fail;
	housekeeping_kick(d->housekeeping);
	http_response_json(resp, 200, volume_json(d, cur));
	return;
fail:
	db_transaction_rollback(d->db);
	api_fail(resp, &err);
}

void api_volumes_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_volume_freep) struct db_volume *v = NULL, *cur = NULL;
	cleanup(db_server_freep) struct db_server *s = NULL;

	if (find_volume(d, c, req, &v, &err) < 0)
		return api_fail(resp, &err);
	if (db_transaction_begin(d->db, &err) < 0)
		return api_fail(resp, &err);
	if (db_volume_get_by_id(d->db, v->id, &cur, &err) < 0)
		goto fail;
	if (cur->server_id[0]) {
		(void)db_server_get_by_id(d->db, cur->server_id, &s, NULL);
		carve_err(&err, -EBUSY, "volume '%s' is attached to server '%s': detach it first",
			  cur->name, s ? s->name : cur->server_id);
		goto fail;
	}
	/* the data first: a failure leaves the row, which a retry deletes */
	if (d->volumes && daemon_pool(d, cur->pool) &&
	    storage_volume_destroy(daemon_pool(d, cur->pool), cur->id, &err) < 0 &&
	    err.code != -ENOENT) {
		carve_err_prefix(&err, "volume '%s'", cur->name);
		goto fail;
	}
	carve_err_clear(&err);
	if (db_volume_delete(d->db, cur->id, &err) < 0 || db_transaction_commit(d->db, &err) < 0)
		goto fail;
	housekeeping_kick(d->housekeeping);
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
	return;
fail:
	db_transaction_rollback(d->db);
	api_fail(resp, &err);
}

void api_volumes_attach(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	static const char *const fields[] = {"server", "path", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_volume_freep) struct db_volume *v = NULL, *cur = NULL;
	cleanup(db_server_freep) struct db_server *s = NULL, *other = NULL;
	cleanup_json json_t *body = NULL;
	const char *server = NULL, *path = NULL;
	struct db_volume **l = NULL;
	char dev[16];
	bool is_vm;
	size_t n = 0;
	int r;

	if (find_volume(d, c, req, &v, &err) < 0)
		return api_fail(resp, &err);
	if (!need_volumes(d, resp) || !api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "server", true, CARVE_NAME_MAX + 1, &server, &err) < 0 ||
	    json_get_string(body, "path", false, VOLUME_PATH_MAX + 1, &path, &err) < 0) {
		carve_err_prefix(&err, "volume '%s'", v->name);
		return api_fail(resp, &err);
	}
	if (parse_name(server, "server", NULL) < 0 ||
	    db_server_get_by_name(d->db, v->tenant_id, server, &s, NULL) < 0) {
		http_response_error(resp, 404, "server", "volume '%s': server '%.64s' not found",
				    v->name, server);
		return;
	}
	/* a container mounts it at a path; a VM sees it as its next virtio disk */
	is_vm = streq(s->kind, "vm");
	if (is_vm && path) {
		http_response_error(resp, 400, "path",
				    "volume '%s': server '%s' is a VM: it sees volumes as disks "
				    "(/dev/vdb, /dev/vdc, ...); leave out path",
				    v->name, s->name);
		return;
	}
	if (!is_vm && !path) {
		http_response_error(resp, 400, "path", "volume '%s': path: required", v->name);
		return;
	}
	if (!is_vm && check_path(v->name, path, &err) < 0)
		return api_fail(resp, &err);
	if (lock_server(d, v->name, s->id, false, NULL, &err) < 0)
		return api_fail(resp, &err);
	if (db_volume_get_by_id(d->db, v->id, &cur, &err) < 0)
		goto fail;
	if (cur->server_id[0]) {
		(void)db_server_get_by_id(d->db, cur->server_id, &other, NULL);
		carve_err(&err, -EBUSY, "volume '%s' is already attached to server '%s'", cur->name,
			  other ? other->name : cur->server_id);
		goto fail;
	}
	if (db_volume_list_by_server(d->db, s->id, &l, &n, &err) < 0)
		goto fail;
	if (is_vm) {
		/* the lowest free device name */
		for (int k = 0; k < VM_VOLUMES_MAX && !path; k++) {
			bool used = false;

			snprintf(dev, sizeof(dev), "/dev/vd%c", 'b' + k);
			for (size_t i = 0; i < n; i++)
				used = used || (l[i]->path && streq(l[i]->path, dev));
			if (!used)
				path = dev;
		}
	}
	db_volume_list_free(l, n);
	if (n >= (is_vm ? VM_VOLUMES_MAX : VOLUMES_PER_SERVER_MAX) || !path) {
		carve_err(&err, -EBUSY, "volume '%s': server '%s' already has %d volumes",
			  cur->name, s->name, is_vm ? VM_VOLUMES_MAX : VOLUMES_PER_SERVER_MAX);
		goto fail;
	}
	/* a guest's blocks are never mounted on the host: once a VM's disk, never a container's */
	if (!is_vm && cur->guest_written) {
		carve_err_field(&err, -EBUSY, "server",
				"volume '%s' has been a VM's disk (its blocks are what a guest "
				"wrote): the host does not mount it, so it cannot go to container "
				"'%s'; attach it to a VM",
				cur->name, s->name);
		goto fail;
	}
	if (is_vm)
		cur->guest_written = true;
	strscpy(cur->server_id, s->id, sizeof(cur->server_id));
	free(cur->path);
	cur->path = strdup(path);
	if (!cur->path) {
		carve_err(&err, -ENOMEM, "out of memory");
		goto fail;
	}
	r = db_volume_update(d->db, cur, &err);
	if (r == -EEXIST)
		strscpy(err.field, "path", sizeof(err.field));
	if (r < 0 || db_transaction_commit(d->db, &err) < 0)
		goto fail;
	http_response_json(resp, 200, volume_json(d, cur));
	return;
fail:
	db_transaction_rollback(d->db);
	api_fail(resp, &err);
}

void api_volumes_detach(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	static const char *const fields[] = {NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_volume_freep) struct db_volume *v = NULL, *cur = NULL;
	cleanup_json json_t *body = NULL;
	char mnt[PATH_MAX];

	if (find_volume(d, c, req, &v, &err) < 0)
		return api_fail(resp, &err);
	/* an empty body is fine; fields, if any, are refused */
	if (req->body_len > 0 && !api_body(req, fields, &body, resp))
		return;
	if (!v->server_id[0]) {
		http_response_error(resp, 409, NULL, "volume '%s' is not attached", v->name);
		return;
	}
	if (lock_server(d, v->name, v->server_id, true, NULL, &err) < 0)
		return api_fail(resp, &err);
	if (db_volume_get_by_id(d->db, v->id, &cur, &err) < 0)
		goto fail;
	if (!streq(cur->server_id, v->server_id)) {
		carve_err(&err, -EBUSY, "volume '%s': changed meanwhile, try again", v->name);
		goto fail;
	}
	/* a stopped server's volumes are released already; this only mops up after a crash */
	if (d->volumes && daemon_pool(d, cur->pool) &&
	    mountpoint(d, cur->server_id, cur->id, mnt, sizeof(mnt)) >= 0 &&
	    storage_volume_detach(daemon_pool(d, cur->pool), cur->id, mnt, &err) < 0) {
		carve_err_prefix(&err, "volume '%s'", cur->name);
		goto fail;
	}
	cur->server_id[0] = '\0';
	free(cur->path);
	cur->path = NULL;
	if (db_volume_update(d->db, cur, &err) < 0 || db_transaction_commit(d->db, &err) < 0)
		goto fail;
	http_response_json(resp, 200, volume_json(d, cur));
	return;
fail:
	db_transaction_rollback(d->db);
	api_fail(resp, &err);
}

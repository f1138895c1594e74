/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backups in the API: stores (provider), backups of servers (tenants see only their own: another
 * tenant's backup is a 404), restore in place or as a new server, file listing and single-file
 * fetch, verify, prune, gc and schedules. Long operations answer 202 with a task.
 */
#define LOG_DOMAIN "api"
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api-backups.h"
#include "daemon/api.h"
#include "daemon/backups.h"

static bool backup_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= BACKUP_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/* The backup named by {id}, as the caller may see it (404 otherwise). */
static int find_backup(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct db_backup **ret, struct carve_error *err)
{
	const char *id = http_request_param(req, "id");
	struct db_backup *b = NULL;

	if (!backup_id_ok(id) || db_backup_get(d->db, id, &b, NULL) < 0 ||
	    (!caller_is_admin(c) && !streq(b->tenant_id, c->tenant_id))) {
		db_backup_free(b);
		return carve_err(err, -ENOENT, "backup '%.64s' not found", id ? id : "");
	}
	*ret = b;
	return 0;
}

/* An optional body must be an empty object; false after answering 400. */
static bool empty_body(struct http_request *req, struct http_response *resp)
{
	static const char *const none[] = {NULL};
	cleanup_json json_t *body = NULL;

	return req->body_len == 0 || api_body(req, none, &body, resp);
}

static json_t *tenant_name(struct daemon *d, const char *tenant_id)
{
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;

	if (db_tenant_get_by_id(d->db, tenant_id, &t, NULL) < 0)
		return json_null();
	return json_string(t->name);
}

static json_t *backup_json(struct daemon *d, const struct caller *c, const struct db_backup *b)
{
	json_t *stats = b->stats ? json_loads(b->stats, 0, NULL) : NULL;
	json_t *vols = json_loads(b->volumes ? b->volumes : "[]", 0, NULL);
	json_t *verify = b->verify ? json_loads(b->verify, 0, NULL) : NULL;
	json_t *v;
	size_t i;
	bool encrypt = true;
	char path[PATH_MAX];

	/* in a store shared without per-tenant keys, whether a chunk was new would tell a tenant
	 * whether another tenant stored the same data: tenants see only what they read */
	if (stats && !caller_is_admin(c) &&
	    backups_store_lookup(d, b->store, path, sizeof(path), &encrypt, NULL) >= 0 &&
	    !b->encrypted) {
		json_object_del(stats, "bytes_written");
		json_object_del(stats, "chunks_new");
		json_object_del(stats, "chunks_dedup");
	}
	json_array_foreach (vols, i, v)
		json_object_del(v, "volume_id");
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:b, s:b, s:o, s:o, s:o, s:o}", "id",
			 b->backup_id, "server", b->server_name, "server_id", b->server_id,
			 "tenant", tenant_name(d, b->tenant_id), "store", b->store, "kind", b->kind,
			 "state", b->state == DB_BACKUP_COMPLETE ? "complete" : "running",
			 "encrypted", b->encrypted, "scheduled", b->scheduled, "created_at",
			 json_timestamp(b->created_at), "volumes", vols ? vols : json_array(),
			 "stats", stats ? stats : json_null(), "verify",
			 verify ? verify : json_null());
}

static void respond_task(struct daemon *d, struct http_response *resp, json_t *extra,
			 const struct db_task *task)
{
	json_t *j = extra ? extra : json_object();

	json_object_set_new(j, "task", api_task_json(d, task));
	http_response_json(resp, 202, j);
	snprintf(resp->location, sizeof(resp->location), "/api/v1/tasks/%s", task->id);
}

/* Resolve the optional "store" field: a name of an existing store, "default" when absent. */
static int store_field(struct daemon *d, json_t *body, const char *name_in_query, char *ret,
		       struct carve_error *err)
{
	const char *store = name_in_query;
	char path[PATH_MAX];
	int r;

	if (body && json_get_string(body, "store", false, 63, &store, err) < 0)
		return -EINVAL;
	if (!store)
		store = BACKUP_STORE_DEFAULT;
	r = backups_store_lookup(d, store, path, sizeof(path), NULL, err);
	if (r < 0)
		return r;
	strscpy(ret, store, 64);
	return 0;
}

/* --- stores ------------------------------------------------------------------------------- */

static json_t *store_json(struct daemon *d, const struct caller *c, const char *name,
			  const char *path, bool encrypt, int64_t created_at)
{
	json_t *j = json_pack("{s:s, s:b, s:b, s:o}", "name", name, "encrypt", encrypt, "offsite",
			      !streq(name, BACKUP_STORE_DEFAULT), "created_at",
			      json_timestamp(created_at));

	if (caller_is_admin(c)) {
		struct db_backup **l = NULL;
		size_t n = 0;

		json_object_set_new(j, "path", json_string(path));
		if (db_backup_list(d->db, NULL, NULL, name, true, &l, &n, NULL) >= 0)
			json_object_set_new(j, "backups", json_integer((json_int_t)n));
		db_backup_list_free(l, n);
	}
	return j;
}

void api_backup_stores_list(struct daemon *d, const struct caller *c, struct http_request *req,
			    struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_backup_store **l = NULL;
	size_t n = 0;
	json_t *arr;

	if (db_backup_store_list(d->db, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	json_array_append_new(
		arr, store_json(d, c, BACKUP_STORE_DEFAULT, d->backup_dir, d->backup_encrypt, 0));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, store_json(d, c, l[i]->name, l[i]->path, l[i]->encrypt,
						      l[i]->created_at));
	db_backup_store_list_free(l, n);
	http_response_json(resp, 200, arr);
}

void api_backup_stores_create(struct daemon *d, const struct caller *c, struct http_request *req,
			      struct http_response *resp)
{
	static const char *const fields[] = {"name", "path", "encrypt", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_json json_t *body = NULL;
	struct backup_store *bs = NULL;
	struct db_backup_store s = {0};
	const char *name = NULL, *path = NULL;
	bool encrypt = true;
	char real[PATH_MAX];

	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, 63, &name, &err) < 0 ||
	    json_get_string(body, "path", true, PATH_MAX - 64, &path, &err) < 0 ||
	    json_get_bool(body, "encrypt", false, &encrypt, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "backup store", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	if (streq(name, BACKUP_STORE_DEFAULT)) {
		http_response_error(resp, 409, "name", "backup store 'default' already exists");
		return;
	}
	if (path[0] != '/' || strstr(path, "/../") ||
	    (strlen(path) >= 3 && streq(path + strlen(path) - 3, "/.."))) {
		http_response_error(resp, 400, "path",
				    "backup store '%s': path '%s': must be absolute, without '..'",
				    name, path);
		return;
	}
	if (backup_store_open(path, true, NULL, &bs, &err) < 0) {
		carve_err_prefix(&err, "backup store '%s'", name);
		strscpy(err.field, "path", sizeof(err.field));
		if (err.code == -ENOENT || err.code == -ENOTDIR || err.code == -EEXIST)
			err.code = -EINVAL;
		return api_fail(resp, &err);
	}
	backup_store_free(bs);
	if (!realpath(path, real) || streq(real, d->backup_dir)) {
		http_response_error(resp, 409, "path",
				    "backup store '%s': path '%s' is already the default store",
				    name, path);
		return;
	}
	strscpy(s.name, name, sizeof(s.name));
	s.path = real;
	s.encrypt = encrypt;
	if (db_backup_store_create(d->db, &s, &err) < 0) {
		if (err.code == -EEXIST)
			strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	http_response_json(resp, 201, store_json(d, c, s.name, s.path, s.encrypt, s.created_at));
	snprintf(resp->location, sizeof(resp->location), "/api/v1/backup-stores/%s", s.name);
}

void api_backup_stores_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = http_request_param(req, "name");
	struct db_backup **l = NULL;
	size_t n = 0;

	if (name && streq(name, BACKUP_STORE_DEFAULT)) {
		http_response_error(resp, 409, NULL, "backup store 'default' cannot be removed");
		return;
	}
	if (!name_is_valid(name)) {
		http_response_error(resp, 404, NULL, "backup store '%.64s' not found",
				    name ? name : "");
		return;
	}
	if (db_backup_list(d->db, NULL, NULL, name, false, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	db_backup_list_free(l, n);
	if (n > 0) {
		http_response_error(resp, 409, NULL,
				    "backup store '%s' still holds %zu backups: delete them first",
				    name, n);
		return;
	}
	/* the store's files stay where they are: it only leaves carved's list */
	if (db_backup_store_delete(d->db, name, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static void store_task(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp, const char *kind, task_fn fn)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_task_freep) struct db_task *task = NULL;
	struct backup_op op = {0};
	char object[128];

	if (store_field(d, NULL, http_request_param(req, "name"), op.store, &err) < 0)
		return api_fail(resp, &err);
	if (!empty_body(req, resp))
		return;
	snprintf(object, sizeof(object), "backup-store/%s", op.store);
	if (backups_submit(d, c->user_id, NULL, kind, &op, fn, object, &task, &err) < 0)
		return api_fail(resp, &err);
	respond_task(d, resp, NULL, task);
}

void api_backup_stores_gc(struct daemon *d, const struct caller *c, struct http_request *req,
			  struct http_response *resp)
{
	store_task(d, c, req, resp, "backup.gc", backup_task_gc);
}

void api_backup_stores_verify(struct daemon *d, const struct caller *c, struct http_request *req,
			      struct http_response *resp)
{
	store_task(d, c, req, resp, "backup.verify", backup_task_verify);
}

/* --- backups ------------------------------------------------------------------------------ */

void api_backups_list(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	cleanup(db_server_freep) struct db_server *s = NULL;
	char tbuf[128], sbuf[128], stbuf[128];
	const char *tenant = http_request_query(req, "tenant", tbuf, sizeof(tbuf));
	const char *server = http_request_query(req, "server", sbuf, sizeof(sbuf));
	const char *store = http_request_query(req, "store", stbuf, sizeof(stbuf));
	struct db_backup **l = NULL;
	size_t n = 0;
	json_t *arr;

	if (api_tenant_scope(d, c, tenant, false, &t, &err) < 0)
		return api_fail(resp, &err);
	if (server) {
		if (!t) {
			http_response_error(resp, 400, "tenant",
					    "server '%.64s': name the tenant (?tenant=)", server);
			return;
		}
		if (!name_is_valid(server) ||
		    db_server_get_by_name(d->db, t->id, server, &s, NULL) < 0) {
			/* the backups of a deleted server are listed by its name */
			struct db_backup **all = NULL;
			size_t na = 0;
			if (db_backup_list(d->db, t->id, NULL, NULL, false, &all, &na, &err) < 0)
				return api_fail(resp, &err);
			arr = json_array();
			for (size_t i = 0; i < na; i++)
				if (streq(all[i]->server_name, server) &&
				    all[i]->state == DB_BACKUP_COMPLETE &&
				    (!store || streq(all[i]->store, store)))
					json_array_append_new(arr, backup_json(d, c, all[i]));
			db_backup_list_free(all, na);
			if (json_array_size(arr) == 0) {
				json_decref(arr);
				http_response_error(resp, 404, "server", "server '%.64s' not found",
						    server);
				return;
			}
			http_response_json(resp, 200, arr);
			return;
		}
	}
	if (db_backup_list(d->db, t ? t->id : NULL, s ? s->id : NULL, store, true, &l, &n, &err) <
	    0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, backup_json(d, c, l[i]));
	db_backup_list_free(l, n);
	http_response_json(resp, 200, arr);
}

void api_backups_create(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	static const char *const fields[] = {"server", "store", "tenant", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_json json_t *body = NULL;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;
	const char *server = NULL, *tenant = NULL;
	struct backup_op op = {0};
	char object[128];
	int r;

	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "server", true, CARVE_NAME_MAX + 1, &server, &err) < 0 ||
	    json_get_string(body, "tenant", false, CARVE_NAME_MAX + 1, &tenant, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(server, "server", &err) < 0) {
		strscpy(err.field, "server", sizeof(err.field));
		return api_fail(resp, &err);
	}
	if (api_tenant_scope(d, c, tenant, true, &t, &err) < 0)
		return api_fail(resp, &err);
	r = db_server_get_by_name(d->db, t->id, server, &s, NULL);
	if (r < 0) {
		http_response_error(resp, 404, "server", "server '%s' not found", server);
		return;
	}
	if (store_field(d, body, NULL, op.store, &err) < 0)
		return api_fail(resp, &err);
	if (!d->volumes) {
		http_response_error(resp, 422, NULL,
				    "backups need a volume pool (carved --pool-driver reflink)");
		return;
	}
	if (streq(s->kind, "vm") && s->state == DB_SERVER_PAUSED) {
		http_response_error(
			resp, 409, NULL,
			"server '%s' is a paused VM (its QEMU frozen mid-I/O): resume it "
			"first",
			s->name);
		return;
	}
	if (s->state != DB_SERVER_RUNNING && s->state != DB_SERVER_PAUSED &&
	    s->state != DB_SERVER_STOPPED && s->state != DB_SERVER_ERROR) {
		http_response_error(resp, 409, NULL, "server '%s' is %s: cannot back it up now",
				    s->name, db_server_state_to_string(s->state));
		return;
	}
	strscpy(op.server_id, s->id, sizeof(op.server_id));
	strscpy(op.tenant_id, s->tenant_id, sizeof(op.tenant_id));
	snprintf(object, sizeof(object), "server/%s", s->name);
	if (backups_submit(d, c->user_id, s, "backup.create", &op, backup_task_create, object,
			   &task, &err) < 0)
		return api_fail(resp, &err);
	respond_task(d, resp, json_pack("{s:s, s:s}", "server", s->name, "store", op.store), task);
}

void api_backups_get(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_backup_freep) struct db_backup *b = NULL;

	if (find_backup(d, c, req, &b, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, backup_json(d, c, b));
}

/* DELETE /backups/{id} and POST /backups/{id}/verify: a task on one backup, no body. */
static void submit_on_backup(struct daemon *d, const struct caller *c, struct http_request *req,
			     struct http_response *resp, const char *kind, task_fn fn)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_backup_freep) struct db_backup *b = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;
	struct backup_op op = {0};
	char object[128];

	if (find_backup(d, c, req, &b, &err) < 0)
		return api_fail(resp, &err);
	if (!empty_body(req, resp))
		return;
	strscpy(op.backup_id, b->backup_id, sizeof(op.backup_id));
	strscpy(op.tenant_id, b->tenant_id, sizeof(op.tenant_id));
	strscpy(op.store, b->store, sizeof(op.store));
	snprintf(object, sizeof(object), "backup/%s", b->backup_id);
	if (backups_submit(d, c->user_id, NULL, kind, &op, fn, object, &task, &err) < 0)
		return api_fail(resp, &err);
	respond_task(d, resp, NULL, task);
}

void api_backups_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	submit_on_backup(d, c, req, resp, "backup.delete", backup_task_delete);
}

/* Restore as a new server: same tenant, template and sizes as the backup's configuration. */
static int new_server_from_backup(struct daemon *d, const struct db_backup *b, const char *name,
				  struct db_server *ret, struct carve_error *err)
{
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	cleanup_free char *config = NULL;
	cleanup_json json_t *cfg = NULL;
	cleanup(db_template_freep) struct db_template *tpl = NULL;
	struct storage_pool *pool;
	const char *pool_name, *tid;
	uint64_t total = 0;
	json_t *vols, *v;
	size_t i;
	int r;

	r = backups_store_open(d, b->store, b->tenant_id, &store, err);
	if (r >= 0)
		r = backup_config_get(store, b->backup_id, &config, err);
	if (r < 0)
		return r;
	cfg = config ? json_loads(config, 0, NULL) : NULL;
	if (!cfg)
		return carve_err(err, -ENOMEDIUM, "backup '%s' holds no server configuration",
				 b->backup_id);
	tid = json_string_value(json_object_get(cfg, "template_id"));
	if (!tid || db_template_get_by_id(d->db, tid, &tpl, NULL) < 0)
		return carve_err(err, -ENOMEDIUM,
				 "backup '%s': the server's template no longer exists",
				 b->backup_id);
	pool_name = json_string_value(json_object_get(cfg, "pool"));
	if (!pool_name || !daemon_pool(d, pool_name))
		pool_name = "default";
	pool = daemon_pool(d, pool_name);
	vols = json_object_get(cfg, "volumes");
	json_array_foreach (vols, i, v)
		total += (uint64_t)json_integer_value(json_object_get(v, "size"));
	if (pool && storage_pool_admit(pool, total, err) < 0)
		return carve_err_prefix(err, "server '%s'", name);
	memset(ret, 0, sizeof(*ret));
	strscpy(ret->name, name, sizeof(ret->name));
	strscpy(ret->tenant_id, b->tenant_id, sizeof(ret->tenant_id));
	strscpy(ret->template_id, tpl->id, sizeof(ret->template_id));
	strscpy(ret->kind, b->kind, sizeof(ret->kind));
	ret->vcpus = (uint32_t)json_integer_value(json_object_get(cfg, "vcpus"));
	ret->memory = (uint64_t)json_integer_value(json_object_get(cfg, "memory"));
	ret->disk = (uint64_t)json_integer_value(json_object_get(cfg, "disk"));
	/* backups from before the machine setting hold none: q35 */
	if (streq(b->kind, "vm")) {
		const char *m = json_string_value(json_object_get(cfg, "machine"));

		strscpy(ret->machine, m && streq(m, "microvm") ? "microvm" : "q35",
			sizeof(ret->machine));
	}
	strscpy(ret->pool, pool_name, sizeof(ret->pool));
	ret->state = DB_SERVER_CREATING;
	r = db_server_create(d->db, ret, err);
	if (r == -EEXIST) {
		carve_err_clear(err);
		return carve_err_field(err, -EEXIST, "name", "server '%s' already exists", name);
	}
	return r;
}

void api_backups_restore(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp)
{
	static const char *const fields[] = {"target", "name", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_backup_freep) struct db_backup *b = NULL;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;
	cleanup_json json_t *body = NULL;
	const char *target = "in-place", *name = NULL;
	struct db_server ns = {0};
	struct backup_op op = {0};
	char object[128];

	if (find_backup(d, c, req, &b, &err) < 0)
		return api_fail(resp, &err);
	if (req->body_len == 0)
		body = json_object();
	else if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "target", false, 16, &target, &err) < 0 ||
	    json_get_string(body, "name", false, CARVE_NAME_MAX + 1, &name, &err) < 0)
		return api_fail(resp, &err);
	strscpy(op.backup_id, b->backup_id, sizeof(op.backup_id));
	strscpy(op.tenant_id, b->tenant_id, sizeof(op.tenant_id));
	strscpy(op.store, b->store, sizeof(op.store));
	if (streq(target, "new")) {
		if (!name) {
			http_response_error(resp, 400, "name",
					    "backup '%s': restore as a new server: name required",
					    b->backup_id);
			return;
		}
		if (parse_name(name, "server", &err) < 0) {
			strscpy(err.field, "name", sizeof(err.field));
			return api_fail(resp, &err);
		}
		if (new_server_from_backup(d, b, name, &ns, &err) < 0) {
			carve_err_prefix(&err, "backup '%s': restore", b->backup_id);
			return api_fail(resp, &err);
		}
		op.new_server = true;
		strscpy(op.server_id, ns.id, sizeof(op.server_id));
		snprintf(object, sizeof(object), "server/%s", ns.name);
		if (backups_submit(d, c->user_id, &ns, "backup.restore", &op, backup_task_restore,
				   object, &task, &err) < 0) {
			(void)db_server_delete(d->db, ns.id, NULL);
			return api_fail(resp, &err);
		}
		respond_task(d, resp, json_pack("{s:o}", "server", api_server_json(d, &ns)), task);
		return;
	}
	if (!streq(target, "in-place")) {
		http_response_error(resp, 400, "target",
				    "backup '%s': target '%.16s': use in-place or new",
				    b->backup_id, target);
		return;
	}
	if (name) {
		http_response_error(resp, 400, "name",
				    "backup '%s': a name is only for target 'new'", b->backup_id);
		return;
	}
	if (db_server_get_by_id(d->db, b->server_id, &s, NULL) < 0) {
		http_response_error(
			resp, 409, NULL,
			"backup '%s': server '%s' no longer exists: restore it as a new "
			"server (target 'new')",
			b->backup_id, b->server_name);
		return;
	}
	if (s->state != DB_SERVER_STOPPED && s->state != DB_SERVER_ERROR) {
		http_response_error(
			resp, 409, NULL,
			"server '%s' is %s: stop it before restoring backup '%s' in place", s->name,
			db_server_state_to_string(s->state), b->backup_id);
		return;
	}
	strscpy(op.server_id, s->id, sizeof(op.server_id));
	snprintf(object, sizeof(object), "server/%s", s->name);
	if (backups_submit(d, c->user_id, s, "backup.restore", &op, backup_task_restore, object,
			   &task, &err) < 0)
		return api_fail(resp, &err);
	respond_task(d, resp, json_pack("{s:o}", "server", api_server_json(d, s)), task);
}

void api_backups_verify(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	submit_on_backup(d, c, req, resp, "backup.verify", backup_task_verify);
}

/* "volume" (default root) and "path" of a file request; path made relative. */
static int file_args(struct http_request *req, char *volume, size_t vlen, char *path, size_t plen,
		     bool path_required, struct carve_error *err)
{
	char vb[128];
	const char *v = http_request_query(req, "volume", vb, sizeof(vb));
	const char *p = http_request_query(req, "path", path, plen);

	strscpy(volume, v ? v : "root", vlen);
	if (!p) {
		if (path_required)
			return carve_err_field(err, -EINVAL, "path", "path: required");
		path[0] = '\0';
		return 0;
	}
	/* "/etc/hosts" and "etc/hosts" name the same file; "." and ".." are refused below */
	while (path[0] == '/')
		memmove(path, path + 1, strlen(path));
	while (strlen(path) > 0 && path[strlen(path) - 1] == '/')
		path[strlen(path) - 1] = '\0';
	return 0;
}

static const char *file_type_name(enum backup_file_type t)
{
	const char *s = backup_file_type_to_string(t);
	return s ? s : "other";
}

void api_backups_files(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_backup_freep) struct db_backup *b = NULL;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	struct backup_file *files = NULL;
	char volume[128], path[1024];
	size_t n = 0;
	json_t *arr;

	if (find_backup(d, c, req, &b, &err) < 0)
		return api_fail(resp, &err);
	if (file_args(req, volume, sizeof(volume), path, sizeof(path), false, &err) < 0)
		return api_fail(resp, &err);
	if (backups_store_open(d, b->store, b->tenant_id, &store, &err) < 0 ||
	    backup_files_list(store, b->backup_id, volume, path, &files, &n, &err) < 0) {
		if (err.code == -ENOTDIR || err.code == -ENOMEDIUM || err.code == -EISDIR)
			err.code = -EINVAL;
		if (err.code == -EINVAL && !err.field[0])
			strscpy(err.field, "path", sizeof(err.field));
		return api_fail(resp, &err);
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_pack(
			"{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "path", files[i].path, "type",
			file_type_name(files[i].type), "mode", (json_int_t)files[i].mode, "uid",
			(json_int_t)files[i].uid, "gid", (json_int_t)files[i].gid, "size",
			(json_int_t)files[i].size, "mtime", json_timestamp(files[i].mtime));
		if (files[i].link_target)
			json_object_set_new(j, "target", json_string(files[i].link_target));
		json_array_append_new(arr, j);
	}
	backup_file_array_free(files, n);
	http_response_json(resp, 200, arr);
}

/* Restore one file into a fresh directory under <state>/backup-tmp and hand back an fd of it. */
static int fetch_file(struct daemon *d, struct backup_store *store, const struct db_backup *b,
		      const char *volume, const char *path, int *ret_fd, uint64_t *ret_size,
		      struct carve_error *err)
{
	char dir[PATH_MAX], rnd[33];
	cleanup_close int dfd = -EBADF;
	struct stat st;
	int fd, r;

	r = random_id(rnd);
	if (r < 0)
		return carve_err(err, r, "random");
	snprintf(dir, sizeof(dir), "%s/backup-tmp/%s", d->state_dir, rnd);
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return carve_err(err, r, "create '%s'", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = carve_err(err, -errno, "open '%s'", dir);
		goto out;
	}
	r = backup_file_restore(store, b->backup_id, volume, path, dfd, err);
	if (r < 0)
		goto out;
	fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = errno == ELOOP ? carve_err_field(err, -EINVAL, "path",
						     "'%s' is a symlink: see 'backup files'", path)
				   : carve_err(err, -errno, "open restored '%s'", path);
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		r = carve_err_field(err, -EINVAL, "path", "'%s' is not a regular file", path);
		goto out;
	}
	*ret_fd = fd;
	*ret_size = (uint64_t)st.st_size;
	r = 0;
out:
	/* the open fd keeps the data; nothing stays on disk */
	(void)rm_rf(dir);
	return r;
}

void api_backups_file(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_backup_freep) struct db_backup *b = NULL;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	char volume[128], path[1024];
	const char *base;
	uint64_t size = 0;
	int fd = -EBADF;

	if (find_backup(d, c, req, &b, &err) < 0)
		return api_fail(resp, &err);
	if (file_args(req, volume, sizeof(volume), path, sizeof(path), true, &err) < 0)
		return api_fail(resp, &err);
	if (backups_store_open(d, b->store, b->tenant_id, &store, &err) < 0 ||
	    fetch_file(d, store, b, volume, path, &fd, &size, &err) < 0) {
		if (err.code == -EISDIR || err.code == -ENOMEDIUM || err.code == -ENOTDIR) {
			err.code = -EINVAL;
			strscpy(err.field, "path", sizeof(err.field));
		}
		return api_fail(resp, &err);
	}
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	resp->status = 200;
	resp->content_type = "application/octet-stream";
	resp->body_fd_set = true;
	resp->body_fd = fd;
	resp->body_fd_len = size;
	/* the name as a token only: quotes and controls never reach the header */
	snprintf(resp->disposition, sizeof(resp->disposition), "attachment; filename=\"%.100s\"",
		 strpbrk(base, "\"\\\r\n;") ? "file" : base);
}

/* Write one file into the stopped server's volume at its own path. */
void api_backups_restore_file(struct daemon *d, const struct caller *c, struct http_request *req,
			      struct http_response *resp)
{
	static const char *const fields[] = {"path", "volume", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_backup_freep) struct db_backup *b = NULL;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	cleanup_json json_t *body = NULL;
	const char *path = NULL, *volume = "root";
	char rel[1024], mnt[PATH_MAX], vid[33] = "";
	struct storage_pool *pool = NULL;
	cleanup_close int dfd = -EBADF;
	int r;

	if (find_backup(d, c, req, &b, &err) < 0)
		return api_fail(resp, &err);
	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "path", true, sizeof(rel) - 1, &path, &err) < 0 ||
	    json_get_string(body, "volume", false, 63, &volume, &err) < 0)
		return api_fail(resp, &err);
	strscpy(rel, path, sizeof(rel));
	while (rel[0] == '/')
		memmove(rel, rel + 1, strlen(rel));
	if (db_server_get_by_id(d->db, b->server_id, &s, NULL) < 0) {
		http_response_error(resp, 409, NULL, "backup '%s': server '%s' no longer exists",
				    b->backup_id, b->server_name);
		return;
	}
	if (s->state != DB_SERVER_STOPPED && s->state != DB_SERVER_ERROR) {
		http_response_error(resp, 409, NULL,
				    "server '%s' is %s: stop it to write a file into its volume "
				    "(or fetch the file with GET .../file)",
				    s->name, db_server_state_to_string(s->state));
		return;
	}
	if (streq(volume, "root")) {
		strscpy(vid, s->id, sizeof(vid));
		pool = daemon_pool(d, s->pool) ? daemon_pool(d, s->pool) : d->pool;
	} else {
		struct db_volume **l = NULL;
		size_t n = 0;
		if (db_volume_list_by_server(d->db, s->id, &l, &n, &err) < 0)
			return api_fail(resp, &err);
		for (size_t i = 0; i < n; i++)
			if (streq(l[i]->name, volume)) {
				strscpy(vid, l[i]->id, sizeof(vid));
				pool = daemon_pool(d, l[i]->pool);
			}
		db_volume_list_free(l, n);
		if (!vid[0] || !pool) {
			http_response_error(resp, 400, "volume",
					    "volume '%s' is not attached to server '%s'", volume,
					    s->name);
			return;
		}
	}
	r = backups_claim(d, s->id, "restore", &err);
	if (r < 0)
		return api_fail(resp, &err);
	/* the state after the claim (see api-servers.c's lifecycle): still stopped? */
	{
		cleanup(db_server_freep) struct db_server *now = NULL;

		if (db_server_get_by_id(d->db, s->id, &now, &err) < 0) {
			backups_release(s->id);
			return api_fail(resp, &err);
		}
		if (now->state != DB_SERVER_STOPPED && now->state != DB_SERVER_ERROR) {
			backups_release(s->id);
			http_response_error(resp, 409, NULL,
					    "server '%s' is %s: stop it to write a file into its "
					    "volume",
					    s->name, db_server_state_to_string(now->state));
			return;
		}
	}
	snprintf(mnt, sizeof(mnt), "%s/backup-mnt/file-%s", d->run_dir, vid);
	r = backups_store_open(d, b->store, b->tenant_id, &store, &err);
	if (r >= 0)
		r = storage_volume_attach(pool, vid, mnt, 0, NULL, 0, &err);
	if (r >= 0) {
		dfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = dfd < 0 ? carve_err(&err, -errno, "open '%s'", mnt)
			    : backup_file_restore(store, b->backup_id, volume, rel, dfd, &err);
		safe_close(dfd);
		dfd = -EBADF;
		(void)storage_volume_detach(pool, vid, mnt, NULL);
		(void)rmdir(mnt);
	}
	backups_release(s->id);
	if (r < 0) {
		if (err.code == -EISDIR || err.code == -ELOOP || err.code == -EXDEV) {
			err.code = -EINVAL;
			strscpy(err.field, "path", sizeof(err.field));
		}
		return api_fail(resp, &err);
	}
	http_response_json(
		resp, 200,
		json_pack("{s:s, s:s, s:s}", "server", s->name, "volume", volume, "path", rel));
}

/* --- per server: prune and schedules ------------------------------------------------------ */

static int get_policy(json_t *body, struct backup_prune_policy *p, struct carve_error *err)
{
	static const char *const keys[] = {"keep_last",	  "keep_hourly",  "keep_daily",
					   "keep_weekly", "keep_monthly", "keep_yearly"};
	unsigned *dst[] = {&p->keep_last,   &p->keep_hourly,  &p->keep_daily,
			   &p->keep_weekly, &p->keep_monthly, &p->keep_yearly};

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		uint64_t v = 0;
		if (json_get_uint(body, keys[i], false, 0, 100000, &v, err) < 0)
			return -EINVAL;
		*dst[i] = (unsigned)v;
	}
	return 0;
}

void api_backups_prune(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	static const char *const fields[] = {"store",	    "keep_last",   "keep_hourly",
					     "keep_daily",  "keep_weekly", "keep_monthly",
					     "keep_yearly", "dry_run",	   NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	cleanup_json json_t *body = NULL;
	struct backup_op op = {0};
	bool dry_run = false;
	char object[128];

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!api_body(req, fields, &body, resp))
		return;
	if (get_policy(body, &op.policy, &err) < 0 ||
	    json_get_bool(body, "dry_run", false, &dry_run, &err) < 0 ||
	    store_field(d, body, NULL, op.store, &err) < 0)
		return api_fail(resp, &err);
	if (!op.policy.keep_last && !op.policy.keep_hourly && !op.policy.keep_daily &&
	    !op.policy.keep_weekly && !op.policy.keep_monthly && !op.policy.keep_yearly) {
		http_response_error(resp, 400, "keep_last",
				    "server '%s': prune: a policy keeping nothing would remove "
				    "every backup: set at least one keep_*",
				    s->name);
		return;
	}
	strscpy(op.server_id, s->id, sizeof(op.server_id));
	strscpy(op.tenant_id, s->tenant_id, sizeof(op.tenant_id));
	if (dry_run) {
		char **removed = NULL;
		json_t *arr = json_array();

		if (backups_store_open(d, op.store, s->tenant_id, &store, &err) < 0 ||
		    backup_prune(store, s->id, &op.policy, true, &removed, &err) < 0) {
			json_decref(arr);
			return api_fail(resp, &err);
		}
		for (size_t i = 0; removed && removed[i]; i++) {
			json_array_append_new(arr, json_string(removed[i]));
			free(removed[i]);
		}
		free(removed);
		http_response_json(resp, 200, json_pack("{s:b, s:o}", "dry_run", 1, "remove", arr));
		return;
	}
	snprintf(object, sizeof(object), "server/%s", s->name);
	if (backups_submit(d, c->user_id, s, "backup.prune", &op, backup_task_prune, object, &task,
			   &err) < 0)
		return api_fail(resp, &err);
	respond_task(d, resp, NULL, task);
}

static json_t *schedule_json(const struct db_backup_schedule *sc, const char *server)
{
	return json_pack("{s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:o, s:o, s:s?}",
			 "server", server, "schedule", sc->expr, "store", sc->store, "retention",
			 "keep_last", (int)sc->keep_last, "keep_hourly", (int)sc->keep_hourly,
			 "keep_daily", (int)sc->keep_daily, "keep_weekly", (int)sc->keep_weekly,
			 "keep_monthly", (int)sc->keep_monthly, "keep_yearly", (int)sc->keep_yearly,
			 "next_run", json_timestamp(sc->next_run), "last_run",
			 json_timestamp(sc->last_run), "last_error", sc->last_error);
}

void api_backup_schedule_get(struct daemon *d, const struct caller *c, struct http_request *req,
			     struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_backup_schedule_freep) struct db_backup_schedule *sc = NULL;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (db_backup_schedule_get(d->db, s->id, &sc, NULL) < 0) {
		http_response_error(resp, 404, NULL, "server '%s' has no backup schedule", s->name);
		return;
	}
	http_response_json(resp, 200, schedule_json(sc, s->name));
}

void api_backup_schedule_set(struct daemon *d, const struct caller *c, struct http_request *req,
			     struct http_response *resp)
{
	static const char *const fields[] = {"schedule",     "store",	    "keep_last",
					     "keep_hourly",  "keep_daily",  "keep_weekly",
					     "keep_monthly", "keep_yearly", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup_json json_t *body = NULL;
	struct db_backup_schedule sc = {0};
	struct backup_prune_policy p = {0};
	const char *expr = NULL;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "schedule", true, sizeof(sc.expr) - 1, &expr, &err) < 0 ||
	    get_policy(body, &p, &err) < 0 || store_field(d, body, NULL, sc.store, &err) < 0)
		return api_fail(resp, &err);
	if (backup_schedule_parse(expr, time(NULL), d->backup_min_interval, &sc.next_run, &err) <
	    0) {
		carve_err_prefix(&err, "server '%s'", s->name);
		return api_fail(resp, &err);
	}
	strscpy(sc.server_id, s->id, sizeof(sc.server_id));
	strscpy(sc.expr, expr, sizeof(sc.expr));
	sc.keep_last = p.keep_last;
	sc.keep_hourly = p.keep_hourly;
	sc.keep_daily = p.keep_daily;
	sc.keep_weekly = p.keep_weekly;
	sc.keep_monthly = p.keep_monthly;
	sc.keep_yearly = p.keep_yearly;
	if (db_backup_schedule_set(d->db, &sc, &err) < 0)
		return api_fail(resp, &err);
	housekeeping_kick(d->housekeeping);
	http_response_json(resp, 200, schedule_json(&sc, s->name));
}

void api_backup_schedule_delete(struct daemon *d, const struct caller *c, struct http_request *req,
				struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (db_backup_schedule_delete(d->db, s->id, NULL) < 0) {
		http_response_error(resp, 404, NULL, "server '%s' has no backup schedule", s->name);
		return;
	}
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "api"
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api-backups.h"
#include "daemon/api.h"
#include "db/db-backup.h"
#include "daemon/networks.h"
#include "monitor/monitor.h"

/* Rights: RIGHT_NONE means the route authenticates by itself (login); RIGHT_ANY means any
 * authenticated caller. */
#define RIGHT_NONE (-1)
#define RIGHT_ANY (-2)

struct api_route {
	const char *method;
	const char *pattern;
	api_fn fn;
	int right;
};

struct api_binding {
	struct daemon *d;
	const struct api_route *route;
};

#define R(m, p, f, right)                \
	{                                \
		m, "/api/v1" p, f, right \
	}
static const struct api_route routes[] = {
	R("POST", "/login", api_login, RIGHT_NONE),
	R("POST", "/logout", api_logout, RIGHT_ANY),
	R("GET", "/whoami", api_whoami, RIGHT_ANY),
	R("GET", "/tenants", api_tenants_list, AUTH_RIGHT_TENANTS_READ),
	R("POST", "/tenants", api_tenants_create, AUTH_RIGHT_TENANTS_WRITE),
	R("GET", "/tenants/{name}", api_tenants_get, AUTH_RIGHT_TENANTS_READ),
	R("PATCH", "/tenants/{name}", api_tenants_patch, AUTH_RIGHT_TENANTS_WRITE),
	R("DELETE", "/tenants/{name}", api_tenants_delete, AUTH_RIGHT_TENANTS_WRITE),
	R("GET", "/users", api_users_list, AUTH_RIGHT_USERS_READ),
	R("POST", "/users", api_users_create, AUTH_RIGHT_USERS_WRITE),
	R("GET", "/users/{name}", api_users_get, RIGHT_ANY),
	R("PATCH", "/users/{name}", api_users_patch, RIGHT_ANY),
	R("DELETE", "/users/{name}", api_users_delete, AUTH_RIGHT_USERS_WRITE),
	R("GET", "/tokens", api_tokens_list, AUTH_RIGHT_TOKENS_WRITE),
	R("POST", "/tokens", api_tokens_create, AUTH_RIGHT_TOKENS_WRITE),
	R("DELETE", "/tokens/{id}", api_tokens_delete, AUTH_RIGHT_TOKENS_WRITE),
	R("GET", "/templates", api_templates_list, AUTH_RIGHT_TEMPLATES_READ),
	R("GET", "/templates/{name}", api_templates_get, AUTH_RIGHT_TEMPLATES_READ),
	R("POST", "/templates", api_templates_import, AUTH_RIGHT_TEMPLATES_WRITE),
	R("DELETE", "/templates/{name}", api_templates_delete, AUTH_RIGHT_TEMPLATES_WRITE),
	R("GET", "/servers", api_servers_list, AUTH_RIGHT_SERVERS_READ),
	R("POST", "/servers", api_servers_create, AUTH_RIGHT_SERVERS_WRITE),
	R("GET", "/servers/{name}", api_servers_get, AUTH_RIGHT_SERVERS_READ),
	R("PATCH", "/servers/{name}", api_servers_patch, AUTH_RIGHT_SERVERS_WRITE),
	R("DELETE", "/servers/{name}", api_servers_delete, AUTH_RIGHT_SERVERS_WRITE),
	R("POST", "/servers/{name}/start", api_servers_start, AUTH_RIGHT_SERVERS_OPERATE),
	R("POST", "/servers/{name}/stop", api_servers_stop, AUTH_RIGHT_SERVERS_OPERATE),
	R("POST", "/servers/{name}/restart", api_servers_restart, AUTH_RIGHT_SERVERS_OPERATE),
	R("GET", "/servers/{name}/console", api_servers_console, AUTH_RIGHT_SERVERS_OPERATE),
	R("GET", "/servers/{name}/exec", api_servers_exec, AUTH_RIGHT_SERVERS_OPERATE),
	R("GET", "/servers/{name}/snapshots", api_snapshots_list, AUTH_RIGHT_SERVERS_READ),
	R("POST", "/servers/{name}/snapshots", api_snapshots_create, AUTH_RIGHT_SERVERS_WRITE),
	R("DELETE", "/servers/{name}/snapshots/{snapshot}", api_snapshots_delete,
	  AUTH_RIGHT_SERVERS_WRITE),
	R("POST", "/servers/{name}/snapshots/{snapshot}/rollback", api_snapshots_rollback,
	  AUTH_RIGHT_SERVERS_WRITE),
	R("POST", "/servers/{name}/snapshots/{snapshot}/clone", api_snapshots_clone,
	  AUTH_RIGHT_SERVERS_WRITE),
	R("GET", "/pools", api_pools_list, AUTH_RIGHT_POOLS_READ),
	R("POST", "/pools", api_pools_create, AUTH_RIGHT_POOLS_WRITE),
	R("GET", "/pools/{name}", api_pools_get, AUTH_RIGHT_POOLS_READ),
	R("PATCH", "/pools/{name}", api_pools_patch, AUTH_RIGHT_POOLS_WRITE),
	R("DELETE", "/pools/{name}", api_pools_delete, AUTH_RIGHT_POOLS_WRITE),
	R("POST", "/pools/{name}/trim", api_pools_trim, AUTH_RIGHT_POOLS_WRITE),
	R("GET", "/events", api_events_list, AUTH_RIGHT_POOLS_READ),
	R("GET", "/volumes", api_volumes_list, AUTH_RIGHT_SERVERS_READ),
	R("POST", "/volumes", api_volumes_create, AUTH_RIGHT_SERVERS_WRITE),
	R("GET", "/volumes/{name}", api_volumes_get, AUTH_RIGHT_SERVERS_READ),
	R("PATCH", "/volumes/{name}", api_volumes_patch, AUTH_RIGHT_SERVERS_WRITE),
	R("DELETE", "/volumes/{name}", api_volumes_delete, AUTH_RIGHT_SERVERS_WRITE),
	R("POST", "/volumes/{name}/attach", api_volumes_attach, AUTH_RIGHT_SERVERS_WRITE),
	R("POST", "/volumes/{name}/detach", api_volumes_detach, AUTH_RIGHT_SERVERS_WRITE),
	R("POST", "/servers/{name}/pause", api_servers_pause, AUTH_RIGHT_SERVERS_OPERATE),
	R("POST", "/servers/{name}/reset", api_servers_reset, AUTH_RIGHT_SERVERS_OPERATE),
	R("POST", "/servers/{name}/resume", api_servers_resume, AUTH_RIGHT_SERVERS_OPERATE),
	R("GET", "/networks", api_networks_list, AUTH_RIGHT_NETWORKS_READ),
	R("POST", "/networks", api_networks_create, AUTH_RIGHT_NETWORKS_WRITE),
	R("GET", "/networks/{name}", api_networks_get, AUTH_RIGHT_NETWORKS_READ),
	R("DELETE", "/networks/{name}", api_networks_delete, AUTH_RIGHT_NETWORKS_WRITE),
	R("GET", "/servers/{name}/interfaces", api_interfaces_list, AUTH_RIGHT_NETWORKS_READ),
	R("POST", "/servers/{name}/interfaces", api_interfaces_attach, AUTH_RIGHT_NETWORKS_WRITE),
	R("DELETE", "/servers/{name}/interfaces/{interface}", api_interfaces_detach,
	  AUTH_RIGHT_NETWORKS_WRITE),
	R("GET", "/ports", api_ports_list, AUTH_RIGHT_NETWORKS_READ),
	R("GET", "/servers/{name}/ports", api_server_ports_list, AUTH_RIGHT_NETWORKS_READ),
	R("POST", "/servers/{name}/ports", api_ports_publish, AUTH_RIGHT_NETWORKS_WRITE),
	R("DELETE", "/servers/{name}/ports/{public_port}", api_ports_remove,
	  AUTH_RIGHT_NETWORKS_WRITE),
	R("GET", "/tasks", api_tasks_list, AUTH_RIGHT_TASKS_READ),
	R("GET", "/tasks/{id}", api_tasks_get, AUTH_RIGHT_TASKS_READ),
	/* backups (api-backups.c) */
	R("GET", "/backup-stores", api_backup_stores_list, AUTH_RIGHT_BACKUPS_READ),
	R("POST", "/backup-stores", api_backup_stores_create, AUTH_RIGHT_POOLS_WRITE),
	R("DELETE", "/backup-stores/{name}", api_backup_stores_delete, AUTH_RIGHT_POOLS_WRITE),
	R("POST", "/backup-stores/{name}/gc", api_backup_stores_gc, AUTH_RIGHT_POOLS_WRITE),
	R("POST", "/backup-stores/{name}/verify", api_backup_stores_verify, AUTH_RIGHT_POOLS_WRITE),
	R("GET", "/backups", api_backups_list, AUTH_RIGHT_BACKUPS_READ),
	R("POST", "/backups", api_backups_create, AUTH_RIGHT_BACKUPS_WRITE),
	R("GET", "/backups/{id}", api_backups_get, AUTH_RIGHT_BACKUPS_READ),
	R("DELETE", "/backups/{id}", api_backups_delete, AUTH_RIGHT_BACKUPS_WRITE),
	R("POST", "/backups/{id}/restore", api_backups_restore, AUTH_RIGHT_BACKUPS_WRITE),
	R("POST", "/backups/{id}/verify", api_backups_verify, AUTH_RIGHT_BACKUPS_WRITE),
	R("GET", "/backups/{id}/files", api_backups_files, AUTH_RIGHT_BACKUPS_READ),
	R("GET", "/backups/{id}/file", api_backups_file, AUTH_RIGHT_BACKUPS_READ),
	R("POST", "/backups/{id}/restore-file", api_backups_restore_file, AUTH_RIGHT_BACKUPS_WRITE),
	R("POST", "/servers/{name}/backups/prune", api_backups_prune, AUTH_RIGHT_BACKUPS_WRITE),
	R("GET", "/servers/{name}/backup-schedule", api_backup_schedule_get,
	  AUTH_RIGHT_BACKUPS_READ),
	R("PUT", "/servers/{name}/backup-schedule", api_backup_schedule_set,
	  AUTH_RIGHT_BACKUPS_WRITE),
	R("DELETE", "/servers/{name}/backup-schedule", api_backup_schedule_delete,
	  AUTH_RIGHT_BACKUPS_WRITE),
};
#undef R

static struct api_binding bindings[ELEMENTSOF(routes)];

static int status_for(int code)
{
	switch (-code) {
	case ENOENT:
	case ESRCH:
		return 404;
	case EEXIST:
	case EBUSY:
	case ENOTEMPTY:
		return 409;
	case EINVAL:
	case ERANGE:
	case ENAMETOOLONG:
	case EOVERFLOW:
		return 400;
	case EPERM:
	case EACCES:
		return 403;
	case ENOSPC:
	case EDQUOT:
		return 507;
	case EAGAIN:
		return 429;
	case E2BIG:
	case EMSGSIZE:
	case EFBIG:
		return 413;
	case EOPNOTSUPP:
	case ENOMEDIUM:
		return 422;
	case ESHUTDOWN:
		return 503;
	default:
		return 500;
	}
}

void api_fail(struct http_response *resp, const struct carve_error *err)
{
	int status = status_for(err->code);

	if (status == 500)
		log_error("internal error: %s", err->msg[0] ? err->msg : strerror(-err->code));
	http_response_error(resp, status, err->field[0] ? err->field : NULL, "%s",
			    err->msg[0] ? err->msg : strerror(-err->code));
}

bool api_require(const struct caller *c, enum auth_right right, struct http_response *resp)
{
	if (auth_role_has_right(c->role, right))
		return true;
	http_response_error(resp, 403, NULL, "missing right '%s' (role %s)",
			    auth_right_to_string(right), db_role_to_string(c->role));
	return false;
}

/* Resolve the caller from the request. Returns false after answering 401. */
static bool authenticate(struct daemon *d, struct http_request *req, struct caller *c,
			 struct http_response *resp)
{
	cleanup(db_token_freep) struct db_token *tok = NULL;
	cleanup(db_user_freep) struct db_user *u = NULL;
	const char *auth = req->authorization;
	char hash[65];
	int64_t now = time(NULL);

	memset(c, 0, sizeof(*c));
	if (!auth || !*auth) {
		if (req->via_unix && req->peer_uid == 0) {
			c->root = true;
			c->role = DB_ROLE_ADMIN;
			strscpy(c->user_name, "root", sizeof(c->user_name));
			return true;
		}
		http_response_error(
			resp, 401, NULL,
			"authentication required: log in with 'carve login' or send an API token");
		return false;
	}
	if (strncasecmp(auth, "Bearer ", 7) != 0) {
		http_response_error(resp, 401, NULL,
				    "unsupported authorization scheme (use Bearer)");
		return false;
	}
	auth += 7;
	if (strlen(auth) != AUTH_SECRET_LEN || !startswith(auth, AUTH_SECRET_PREFIX))
		goto bad;
	auth_secret_hash(auth, hash);
	if (db_token_get_by_hash(d->db, hash, &tok, NULL) < 0)
		goto bad;
	if (tok->expires_at > 0 && tok->expires_at <= now) {
		http_response_error(resp, 401, NULL, "%s expired: log in again",
				    tok->is_session ? "session" : "token");
		return false;
	}
	if (db_user_get_by_id(d->db, tok->user_id, &u, NULL) < 0)
		goto bad;
	strscpy(c->user_id, u->id, sizeof(c->user_id));
	strscpy(c->user_name, u->name, sizeof(c->user_name));
	strscpy(c->tenant_id, u->tenant_id, sizeof(c->tenant_id));
	strscpy(c->token_id, tok->id, sizeof(c->token_id));
	c->is_session = tok->is_session;
	c->role = auth_role_min(tok->role, u->role);
	if (c->tenant_id[0]) {
		cleanup(db_tenant_freep) struct db_tenant *t = NULL;
		if (db_tenant_get_by_id(d->db, c->tenant_id, &t, NULL) < 0)
			goto bad;
		strscpy(c->tenant_name, t->name, sizeof(c->tenant_name));
	}
	if (now - tok->last_used_at >= 60)
		(void)db_token_touch(d->db, tok->id, now, NULL);
	return true;
bad:
	http_response_error(resp, 401, NULL, "invalid or revoked credentials");
	return false;
}

static bool is_mutating(const char *method)
{
	return !streq(method, "GET") && !streq(method, "HEAD");
}

static void entry(struct http_request *req, struct http_response *resp, void *userdata)
{
	const struct api_binding *b = userdata;
	struct caller c;

	if (b->route->right == RIGHT_NONE) {
		memset(&c, 0, sizeof(c));
		c.role = _DB_ROLE_INVALID;
	} else {
		if (!authenticate(b->d, req, &c, resp))
			goto audit;
		if (b->route->right >= 0 && !api_require(&c, b->route->right, resp))
			goto audit;
	}
	b->route->fn(b->d, &c, req, resp);
audit:
	if (is_mutating(req->method)) {
		char action[HTTP_PATH_MAX + 16];
		snprintf(action, sizeof(action), "%s %s", req->method, req->path);
		(void)db_audit_append(b->d->db, time(NULL), c.user_id[0] ? c.user_id : NULL,
				      c.tenant_id[0] ? c.tenant_id : NULL, action, req->path,
				      resp->status ? resp->status : 200, req->remote, NULL);
	}
}

int api_register(struct daemon *d)
{
	for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
		int r;
		bindings[i].d = d;
		bindings[i].route = &routes[i];
		r = http_router_add(d->router, routes[i].method, routes[i].pattern, entry,
				    &bindings[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int api_tenant_scope(struct daemon *d, const struct caller *c, const char *named, bool required,
		     struct db_tenant **ret, struct carve_error *err)
{
	int r;

	if (!caller_is_admin(c)) {
		if (named && !streq(named, c->tenant_name))
			return carve_err_field(err, -ENOENT, "tenant", "tenant '%.64s' not found",
					       named);
		return db_tenant_get_by_id(d->db, c->tenant_id, ret, err);
	}
	if (!named) {
		if (required)
			return carve_err_field(err, -EINVAL, "tenant",
					       "tenant: required for a provider admin");
		*ret = NULL;
		return 0;
	}
	r = parse_name(named, "tenant", err);
	if (r < 0) {
		strscpy(err->field, "tenant", sizeof(err->field));
		return r;
	}
	r = db_tenant_get_by_name(d->db, named, ret, NULL);
	if (r == -ENOENT)
		return carve_err_field(err, -ENOENT, "tenant", "tenant '%s' not found", named);
	if (r < 0)
		return carve_err(err, r, "tenant '%s'", named);
	return 0;
}

json_t *json_timestamp(int64_t t)
{
	char buf[32];

	if (t <= 0)
		return json_null();
	format_timestamp(t, buf);
	return json_string(buf);
}

static json_t *tenant_name_json(struct daemon *d, const char *tenant_id)
{
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;

	if (!tenant_id || !tenant_id[0] || db_tenant_get_by_id(d->db, tenant_id, &t, NULL) < 0)
		return json_null();
	return json_string(t->name);
}

/* What a tenant holds: provisioned is what it pays for, used what the pool really spends. */
static json_t *tenant_usage_json(struct daemon *d, const struct db_tenant *t)
{
	struct db_server **l = NULL;
	uint64_t provisioned = 0, used = 0;
	size_t n = 0;

	if (db_server_list(d->db, t->id, &l, &n, NULL) < 0)
		return json_null();
	for (size_t i = 0; i < n; i++) {
		struct storage_usage u = {0};

		provisioned += l[i]->disk;
		if (d->volumes && l[i]->state != DB_SERVER_CREATING && daemon_pool(d, l[i]->pool) &&
		    storage_volume_usage(daemon_pool(d, l[i]->pool), l[i]->id, &u, NULL) >= 0)
			used += u.used;
	}
	db_server_list_free(l, n);
	uint64_t backup_bytes = 0;
	(void)db_backup_usage_get(d->db, t->id, &backup_bytes, NULL);
	return json_pack("{s:I, s:I, s:I, s:I}", "servers", (json_int_t)n, "disk_provisioned",
			 (json_int_t)provisioned, "disk_used", (json_int_t)used, "backup_bytes",
			 (json_int_t)backup_bytes);
}

json_t *api_tenant_json(struct daemon *d, const struct db_tenant *t)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:o, s:o}", "id", t->id,
			 "name", t->name, "description", t->description ? t->description : "",
			 "uid_base", (json_int_t)daemon_tenant_uid_base(d, t), "uid_count",
			 (json_int_t)65536, "caps", "max_vcpus", (json_int_t)t->max_vcpus,
			 "max_memory", (json_int_t)t->max_memory, "max_pids",
			 (json_int_t)t->max_pids, "max_ports",
			 (json_int_t)daemon_tenant_max_ports(d, t), "usage",
			 tenant_usage_json(d, t), "created_at", json_timestamp(t->created_at));
}

json_t *api_user_json(struct daemon *d, const struct db_user *u)
{
	return json_pack("{s:s, s:s, s:o, s:s, s:o}", "id", u->id, "name", u->name, "tenant",
			 tenant_name_json(d, u->tenant_id), "role", db_role_to_string(u->role),
			 "created_at", json_timestamp(u->created_at));
}

json_t *api_token_json(const struct db_token *t, const char *user_name)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", t->id, "name", t->name,
			 "user", user_name ? user_name : "", "role", db_role_to_string(t->role),
			 "created_at", json_timestamp(t->created_at), "expires_at",
			 json_timestamp(t->expires_at), "last_used_at",
			 json_timestamp(t->last_used_at));
}

json_t *api_template_json(const struct db_template *t)
{
	char sig[32] = "";
	json_t *j;

	if (t->stop_signal >= SIGRTMIN && t->stop_signal <= SIGRTMAX)
		snprintf(sig, sizeof(sig), "SIGRTMIN+%d", t->stop_signal - SIGRTMIN);
	else if (t->stop_signal > 0 && sigabbrev_np(t->stop_signal))
		snprintf(sig, sizeof(sig), "SIG%s", sigabbrev_np(t->stop_signal));
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "id", t->id, "name", t->name, "kind",
		      t->kind, "os", t->os, "description", t->description ? t->description : "",
		      "init", t->init ? t->init : "", "created_at", json_timestamp(t->created_at));
	if (!j)
		return NULL;
	json_object_set_new(j, "stop_signal", sig[0] ? json_string(sig) : json_null());
	json_object_set_new(j, "volume", t->volume ? json_string(t->volume) : json_null());
	json_object_set_new(j, "disk_min", json_integer((json_int_t)t->disk_min));
	json_object_set_new(j, "system", json_boolean(t->system));
	return j;
}

/* While QEMU runs: the accelerator it reported at start ("kvm" or "tcg"); null otherwise. */
static json_t *vm_accel_json(struct daemon *d, const struct db_server *s)
{
	char dir[PATH_MAX], path[PATH_MAX + sizeof(MONITOR_VM_ACCEL_FILE) + 1];
	cleanup_free char *buf = NULL;
	size_t n = 0;

	if (s->state != DB_SERVER_RUNNING && s->state != DB_SERVER_PAUSED &&
	    s->state != DB_SERVER_STOPPING)
		return json_null();
	if (daemon_server_dir(d, s->id, dir, sizeof(dir)) < 0)
		return json_null();
	snprintf(path, sizeof(path), "%s/%s", dir, MONITOR_VM_ACCEL_FILE);
	if (read_full_file(path, 16, &buf, &n) < 0 || !(streq(buf, "kvm") || streq(buf, "tcg")))
		return json_null();
	return json_string(buf);
}

json_t *api_server_json(struct daemon *d, const struct db_server *s)
{
	cleanup(db_template_freep) struct db_template *tpl = NULL;

	(void)db_template_get_by_id(d->db, s->template_id, &tpl, NULL);
	json_t *j = json_pack(
		"{s:s, s:s, s:o, s:s, s:s?, s:i, s:I, s:s, s:s?, s:o, s:o, s:o}", "id", s->id,
		"name", s->name, "tenant", tenant_name_json(d, s->tenant_id), "kind", s->kind,
		"template", tpl ? tpl->name : NULL, "vcpus", (int)s->vcpus, "memory",
		(json_int_t)s->memory, "state", db_server_state_to_string(s->state), "state_reason",
		s->state_reason, "init_pid", s->pid > 0 ? json_integer(s->pid) : json_null(),
		"created_at", json_timestamp(s->created_at), "updated_at",
		json_timestamp(s->updated_at));
	struct storage_usage u = {0};

	if (!j)
		return NULL;
	if (streq(s->kind, "vm")) {
		json_object_set_new(j, "vm_uid", json_integer((json_int_t)daemon_vm_uid(d, s)));
		json_object_set_new(j, "machine", json_string(s->machine[0] ? s->machine : "q35"));
		json_object_set_new(j, "accel", vm_accel_json(d, s));
	}
	if (s->cloud_init) {
		/* the password hash is not shown back, only that one is set */
		json_t *ci = json_loads(s->cloud_init, 0, NULL);

		if (json_is_object(ci) && json_object_get(ci, "password_hash"))
			json_object_set_new(ci, "password_hash", json_true());
		json_object_set_new(j, "cloud_init", ci ? ci : json_null());
	}
	json_object_set_new(j, "pids_max", json_integer((json_int_t)s->pids_max));
	json_object_set_new(j, "io_read_bps", json_integer((json_int_t)s->io.read_bps));
	json_object_set_new(j, "io_write_bps", json_integer((json_int_t)s->io.write_bps));
	json_object_set_new(j, "io_read_iops", json_integer((json_int_t)s->io.read_iops));
	json_object_set_new(j, "io_write_iops", json_integer((json_int_t)s->io.write_iops));
	/* disk: what the tenant pays for; disk_used: what the volume really occupies */
	json_object_set_new(j, "disk", s->disk ? json_integer((json_int_t)s->disk) : json_null());
	json_object_set_new(j, "pool", json_string(s->pool[0] ? s->pool : "default"));
	if (d->volumes && s->state != DB_SERVER_CREATING && s->state != DB_SERVER_DELETING &&
	    daemon_pool(d, s->pool) &&
	    storage_volume_usage(daemon_pool(d, s->pool), s->id, &u, NULL) >= 0)
		json_object_set_new(j, "disk_used", json_integer((json_int_t)u.used));
	else
		json_object_set_new(j, "disk_used", json_null());
	daemon_net_server_json(d, s, j);
	return j;
}

json_t *api_task_json(struct daemon *d, const struct db_task *t)
{
	json_t *error = json_null();

	if (t->state == DB_TASK_FAILED)
		error = json_pack("{s:s, s:s}", "code",
				  t->error_code[0] ? t->error_code : "internal", "message",
				  t->error_message ? t->error_message : "");
	return json_pack(
		"{s:s, s:s, s:s, s:o, s:s, s:{s:I, s:I, s:s}, s:o, s:o, s:o, s:o}", "id", t->id,
		"kind", t->kind, "object", t->object, "tenant", tenant_name_json(d, t->tenant_id),
		"state", db_task_state_to_string(t->state), "progress", "done",
		(json_int_t)t->progress_done, "total", (json_int_t)t->progress_total, "unit",
		t->progress_unit[0] ? t->progress_unit : "steps", "error", error, "created_at",
		json_timestamp(t->created_at), "started_at", json_timestamp(t->started_at),
		"finished_at", json_timestamp(t->finished_at));
}

bool api_body(struct http_request *req, const char *const *allowed, json_t **ret,
	      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (json_parse_object(req->body, req->body_len, allowed, ret, &err) < 0) {
		http_response_error(resp, 400, err.field[0] ? err.field : NULL, "request body: %s",
				    err.msg);
		return false;
	}
	return true;
}

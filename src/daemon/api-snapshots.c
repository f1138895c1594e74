/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots of a server's root volume (reflink copies: constant time whatever the size), rollback
 * of a stopped server, and new servers cloned from a snapshot; plus the provider's event log.
 */
#include <string.h>
#include <time.h>

#include "base/failpoint.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"
#include "daemon/servers.h"

static json_t *snapshot_json(const struct db_snapshot *s, const char *server)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", s->id, "name", s->name, "server",
			 server, "size", (json_int_t)s->size, "created_at",
			 json_timestamp(s->created_at));
}

static bool need_volumes(struct daemon *d, struct http_response *resp)
{
	if (d->volumes)
		return true;
	http_response_error(resp, 422, NULL,
			    "snapshots need a volume pool (carved --pool-driver reflink)");
	return false;
}

static int submit_op(struct daemon *d, const struct caller *c, const struct db_server *s,
		     const char *kind, const char *snapshot, const char *source_id, task_fn fn,
		     struct db_task **ret, struct carve_error *err)
{
	struct db_task tmpl = {0};
	struct server_op *op = calloc(1, sizeof(*op));

	if (!op)
		return carve_err(err, -ENOMEM, "server '%s'", s->name);
	strscpy(op->server_id, s->id, sizeof(op->server_id));
	strscpy(op->tenant_id, s->tenant_id, sizeof(op->tenant_id));
	if (snapshot)
		strscpy(op->snapshot, snapshot, sizeof(op->snapshot));
	if (source_id)
		strscpy(op->source_server_id, source_id, sizeof(op->source_server_id));
	strscpy(tmpl.tenant_id, s->tenant_id, sizeof(tmpl.tenant_id));
	strscpy(tmpl.user_id, c->user_id, sizeof(tmpl.user_id));
	strscpy(tmpl.kind, kind, sizeof(tmpl.kind));
	if (snapshot && !source_id)
		snprintf(tmpl.object, sizeof(tmpl.object), "server/%s/snapshot/%s", s->name,
			 snapshot);
	else
		snprintf(tmpl.object, sizeof(tmpl.object), "server/%s", s->name);
	strscpy(tmpl.progress_unit, "steps", sizeof(tmpl.progress_unit));
	return tasks_submit(d->tasks, &tmpl, fn, op, free, ret, err);
}

static int find_snapshot(struct daemon *d, const struct db_server *s, struct http_request *req,
			 struct db_snapshot **ret, struct carve_error *err)
{
	const char *name = http_request_param(req, "snapshot");
	int r = parse_name(name, "snapshot", err);

	if (r < 0)
		return r;
	r = db_snapshot_get(d->db, s->id, name, ret, NULL);
	if (r == -ENOENT)
		return carve_err(err, r, "server '%s': snapshot '%s' not found", s->name, name);
	return r < 0 ? carve_err(err, r, "server '%s': snapshot '%s'", s->name, name) : 0;
}

void api_snapshots_list(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct db_snapshot **l = NULL;
	size_t n = 0;
	json_t *arr;

	if (api_find_server(d, c, req, &s, &err) < 0 ||
	    db_snapshot_list(d->db, s->id, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, snapshot_json(l[i], s->name));
	db_snapshot_list_free(l, n);
	http_response_json(resp, 200, arr);
}

void api_snapshots_create(struct daemon *d, const struct caller *c, struct http_request *req,
			  struct http_response *resp)
{
	static const char *const fields[] = {"name", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;
	cleanup(db_snapshot_freep) struct db_snapshot *have = NULL;
	cleanup_json json_t *body = NULL;
	const char *name = NULL;

	if (api_find_server(d, c, req, &s, &err) < 0)
		return api_fail(resp, &err);
	if (!need_volumes(d, resp) || !api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "snapshot", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		carve_err_prefix(&err, "server '%s'", s->name);
		return api_fail(resp, &err);
	}
	if (db_snapshot_get(d->db, s->id, name, &have, NULL) >= 0) {
		http_response_error(resp, 409, "name", "server '%s': snapshot '%s' already exists",
				    s->name, name);
		return;
	}
	if (s->state == DB_SERVER_CREATING || s->state == DB_SERVER_DELETING) {
		http_response_error(resp, 409, NULL, "server '%s' is %s: cannot snapshot it",
				    s->name, db_server_state_to_string(s->state));
		return;
	}
	if (submit_op(d, c, s, "server.snapshot", name, NULL, server_task_snapshot, &task, &err) <
	    0)
		return api_fail(resp, &err);
	http_response_json(resp, 202,
			   json_pack("{s:o, s:o}", "server", api_server_json(d, s), "task",
				     api_task_json(d, task)));
	snprintf(resp->location, sizeof(resp->location), "/api/v1/tasks/%s", task->id);
}

void api_snapshots_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			  struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_snapshot_freep) struct db_snapshot *snap = NULL;

	if (api_find_server(d, c, req, &s, &err) < 0 || find_snapshot(d, s, req, &snap, &err) < 0)
		return api_fail(resp, &err);
	/* the data first: a crash in between leaves a row without data, which reconcile
	 * removes, never data without a row */
	if (daemon_pool(d, s->pool) &&
	    storage_volume_snapshot_delete(daemon_pool(d, s->pool), s->id, snap->name, &err) < 0 &&
	    err.code != -ENOENT)
		return api_fail(resp, &err);
	CARVE_FAILPOINT("snapshot-delete-data-gone");
	carve_err_clear(&err);
	if (db_snapshot_delete(d->db, snap->id, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

void api_snapshots_rollback(struct daemon *d, const struct caller *c, struct http_request *req,
			    struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_snapshot_freep) struct db_snapshot *snap = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;

	if (api_find_server(d, c, req, &s, &err) < 0 || find_snapshot(d, s, req, &snap, &err) < 0)
		return api_fail(resp, &err);
	if (s->state != DB_SERVER_STOPPED && s->state != DB_SERVER_ERROR) {
		http_response_error(
			resp, 409, NULL,
			"server '%s' is %s: stop it before rolling back to snapshot '%s'", s->name,
			db_server_state_to_string(s->state), snap->name);
		return;
	}
	if (submit_op(d, c, s, "server.rollback", snap->name, NULL, server_task_rollback, &task,
		      &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 202,
			   json_pack("{s:o, s:o}", "server", api_server_json(d, s), "task",
				     api_task_json(d, task)));
	snprintf(resp->location, sizeof(resp->location), "/api/v1/tasks/%s", task->id);
}

void api_snapshots_clone(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp)
{
	static const char *const fields[] = {"name", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_snapshot_freep) struct db_snapshot *snap = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;
	cleanup_json json_t *body = NULL;
	struct db_server n = {0};
	const char *name = NULL;
	int r;

	if (api_find_server(d, c, req, &s, &err) < 0 || find_snapshot(d, s, req, &snap, &err) < 0)
		return api_fail(resp, &err);
	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "server", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	/* the new server belongs to the source's tenant and starts as the snapshot left it */
	strscpy(n.name, name, sizeof(n.name));
	strscpy(n.tenant_id, s->tenant_id, sizeof(n.tenant_id));
	strscpy(n.template_id, s->template_id, sizeof(n.template_id));
	strscpy(n.kind, s->kind, sizeof(n.kind));
	n.vcpus = s->vcpus;
	n.memory = s->memory;
	n.disk = snap->size;
	n.cloud_init = s->cloud_init;
	strscpy(n.machine, s->machine, sizeof(n.machine));
	strscpy(n.pool, s->pool, sizeof(n.pool)); /* reflinks never cross filesystems */
	n.state = DB_SERVER_CREATING;
	r = db_server_create(d->db, &n, &err);
	if (r == -EEXIST) {
		carve_err_clear(&err);
		carve_err_field(&err, -EEXIST, "name", "server '%s' already exists", name);
	}
	if (r < 0)
		return api_fail(resp, &err);
	r = submit_op(d, c, &n, "server.create", snap->name, s->id, server_task_create, &task,
		      &err);
	if (r < 0) {
		(void)db_server_delete(d->db, n.id, NULL);
		return api_fail(resp, &err);
	}
	http_response_json(resp, 202,
			   json_pack("{s:o, s:o}", "server", api_server_json(d, &n), "task",
				     api_task_json(d, task)));
	snprintf(resp->location, sizeof(resp->location), "/api/v1/servers/%s", n.name);
}

void api_events_list(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_event **l = NULL;
	uint64_t limit = 100;
	char buf[32];
	const char *q = http_request_query(req, "limit", buf, sizeof(buf));
	size_t n = 0;
	json_t *arr;

	if (q && parse_uint64(q, 1, 10000, &limit, &err) < 0) {
		carve_err_field(&err, err.code, "limit", "limit");
		return api_fail(resp, &err);
	}
	if (db_event_list(d->db, (size_t)limit, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:I, s:o, s:s, s:s, s:s}", "id",
						     (json_int_t)l[i]->seq, "at",
						     json_timestamp(l[i]->at), "kind", l[i]->kind,
						     "object", l[i]->object, "message",
						     l[i]->message ? l[i]->message : ""));
	db_event_list_free(l, n);
	http_response_json(resp, 200, arr);
}

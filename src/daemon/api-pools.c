/* SPDX-License-Identifier: Apache-2.0 */
/* Storage pools for the provider: capacity, admission settings, adding and removing pools. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"
#include "daemon/tasks.h"

static json_t *trim_json(const struct daemon_trim_result *t)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i}", "at", (json_int_t)t->at,
			 "allocated_before", (json_int_t)t->allocated_before, "allocated_after",
			 (json_int_t)t->allocated_after, "given_back",
			 (json_int_t)(t->allocated_before > t->allocated_after
					      ? t->allocated_before - t->allocated_after
					      : 0),
			 "image_allocated_before", (json_int_t)t->image_before,
			 "image_allocated_after", (json_int_t)t->image_after,
			 "volumes_free_trimmed", (json_int_t)t->trimmed, "volumes", (int)t->volumes,
			 "skipped", (int)t->skipped);
}

static json_t *pool_json(struct daemon *d, const char *name, struct carve_error *err)
{
	cleanup(db_pool_freep) struct db_pool *row = NULL;
	struct storage_pool *p = daemon_pool(d, name);
	struct storage_pool_usage u = {0};
	json_t *j;

	if (!p) {
		carve_err(err, -ENOENT, "pool '%s' not found", name);
		return NULL;
	}
	if (!streq(name, "default"))
		(void)db_pool_get(d->db, name, &row, NULL);
	j = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "driver",
		      streq(name, "default") ? d->pool_driver : "reflink", "path",
		      storage_pool_path(p), "kind",
		      streq(name, "default") ? (d->volumes ? "image" : "directory")
		      : row && row->image    ? "image"
					     : "directory");
	if (!j)
		return NULL;
	json_object_set_new(j, "fill_threshold",
			    json_real(daemon_pool_threshold(name, NULL, false, false)));
	if (!streq(d->pool_driver, "dir") || !streq(name, "default")) {
		if (storage_pool_usage(p, &u, err) < 0) {
			json_decref(j);
			return NULL;
		}
		double limit = (double)u.physical * u.overcommit;
		json_object_set_new(j, "physical", json_integer((json_int_t)u.physical));
		json_object_set_new(j, "allocated", json_integer((json_int_t)u.allocated));
		json_object_set_new(j, "provisioned", json_integer((json_int_t)u.provisioned));
		json_object_set_new(j, "volumes", json_integer((json_int_t)u.volumes));
		json_object_set_new(j, "overcommit", json_real(u.overcommit));
		json_object_set_new(
			j, "available",
			json_integer((json_int_t)(limit > (double)u.provisioned
							  ? limit - (double)u.provisioned
							  : 0)));
	}
	{
		struct daemon_trim_result t;

		if (daemon_pool_last_trim(name, &t))
			json_object_set_new(j, "last_trim", trim_json(&t));
	}
	return j;
}

void api_pools_list(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char names[DAEMON_POOLS_MAX][64];
	size_t n = daemon_pools_names(names, DAEMON_POOLS_MAX);
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *j = pool_json(d, names[i], &err);
		if (!j) {
			json_decref(arr);
			return api_fail(resp, &err);
		}
		json_array_append_new(arr, j);
	}
	http_response_json(resp, 200, arr);
}

static int pool_name(struct http_request *req, const char **ret, struct carve_error *err)
{
	const char *name = http_request_param(req, "name");
	int r = parse_name(name, "pool", err);

	if (r < 0)
		return r;
	*ret = name;
	return 0;
}

void api_pools_get(struct daemon *d, const struct caller *c, struct http_request *req,
		   struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name;
	json_t *j;

	if (pool_name(req, &name, &err) < 0 || !(j = pool_json(d, name, &err)))
		return api_fail(resp, &err);
	http_response_json(resp, 200, j);
}

static int get_ratio(json_t *body, const char *key, double min, double max, double *ret,
		     struct carve_error *err)
{
	json_t *v = json_object_get(body, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < min ||
	    json_number_value(v) > max)
		return carve_err_field(err, -EINVAL, key, "%s: a number from %g to %g", key, min,
				       max);
	*ret = json_number_value(v);
	return 0;
}

void api_pools_create(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	static const char *const fields[] = {"name",	   "path",	     "size",
					     "overcommit", "fill_threshold", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_json json_t *body = NULL;
	struct db_pool p = {.overcommit = 1.0, .fill_threshold = 0.8};
	const char *name = NULL, *path = NULL;
	char dir[PATH_MAX], image[PATH_MAX];
	json_t *j;

	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0 ||
	    json_get_string(body, "path", false, PATH_MAX - 1, &path, &err) < 0 ||
	    get_ratio(body, "overcommit", 0.01, 100, &p.overcommit, &err) < 0 ||
	    get_ratio(body, "fill_threshold", 0.01, 1, &p.fill_threshold, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "pool", &err) < 0 || streq(name, "default")) {
		if (!err.code)
			carve_err(&err, -EEXIST, "pool 'default' already exists");
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	if (!d->volumes) {
		http_response_error(
			resp, 422, NULL,
			"pool '%s': this carved runs the dir driver (--pool-driver dir)", name);
		return;
	}
	strscpy(p.name, name, sizeof(p.name));
	strscpy(p.driver, "reflink", sizeof(p.driver));
	if (path) {
		struct stat st;
		if (path[0] != '/' || strstr(path, "/../") || stat(path, &st) < 0 ||
		    !S_ISDIR(st.st_mode)) {
			carve_err_field(&err, -EINVAL, "path",
					"pool '%s': path '%s': not an existing absolute directory",
					name, path);
			return api_fail(resp, &err);
		}
		if (json_object_get(body, "size")) {
			carve_err_field(
				&err, -EINVAL, "size",
				"pool '%s': size is for pools carved makes itself (no path)", name);
			return api_fail(resp, &err);
		}
		p.path = (char *)path;
	} else {
		json_t *v = json_object_get(body, "size");
		if (!v || !json_is_string(v) ||
		    parse_size(json_string_value(v), &p.size, NULL) < 0 ||
		    p.size < (300ULL << 20)) {
			carve_err_field(&err, -EINVAL, "size",
					"pool '%s': size: a size of at least 300M (or give a path)",
					name);
			return api_fail(resp, &err);
		}
		snprintf(dir, sizeof(dir), "%s/pools/%s", d->state_dir, name);
		snprintf(image, sizeof(image), "%s/pools/%s.img", d->state_dir, name);
		p.path = dir;
		p.image = image;
	}
	if (daemon_pool_add(d, &p, &err) < 0) {
		if (err.code == -EOPNOTSUPP)
			strscpy(err.field, "path", sizeof(err.field));
		return api_fail(resp, &err);
	}
	if (!(j = pool_json(d, name, &err)))
		return api_fail(resp, &err);
	snprintf(resp->location, sizeof(resp->location), "/api/v1/pools/%s", name);
	http_response_json(resp, 201, j);
}

void api_pools_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp)
{
	static const char *const fields[] = {"overcommit", "fill_threshold", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_pool_freep) struct db_pool *p = NULL;
	cleanup_json json_t *body = NULL;
	const char *name;
	json_t *j;

	if (pool_name(req, &name, &err) < 0)
		return api_fail(resp, &err);
	if (streq(name, "default")) {
		http_response_error(
			resp, 409, NULL,
			"pool 'default' is configured by carved's flags (--overcommit, --fill-threshold)");
		return;
	}
	if (db_pool_get(d->db, name, &p, &err) < 0)
		return api_fail(resp, &err);
	if (!api_body(req, fields, &body, resp))
		return;
	if (get_ratio(body, "overcommit", 0.01, 100, &p->overcommit, &err) < 0 ||
	    get_ratio(body, "fill_threshold", 0.01, 1, &p->fill_threshold, &err) < 0 ||
	    daemon_pool_set(d, p, &err) < 0)
		return api_fail(resp, &err);
	if (!(j = pool_json(d, name, &err)))
		return api_fail(resp, &err);
	http_response_json(resp, 200, j);
}

void api_pools_delete(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name;

	if (pool_name(req, &name, &err) < 0 || daemon_pool_remove(d, name, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

struct trim_op {
	char name[64];
};

static int trim_task(struct daemon *d, struct task_ctx *ctx, void *userdata,
		     struct carve_error *err)
{
	const struct trim_op *op = userdata;

	return daemon_pool_trim(d, op->name, ctx, NULL, err);
}

void api_pools_trim(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_task_freep) struct db_task *task = NULL;
	struct db_task tmpl = {0};
	struct trim_op *op;
	const char *name;
	json_t *j;

	if (pool_name(req, &name, &err) < 0)
		return api_fail(resp, &err);
	if (!(j = pool_json(d, name, &err)))
		return api_fail(resp, &err);
	/* an optional body must be an empty object */
	if (req->body_len > 0) {
		static const char *const none[] = {NULL};
		cleanup_json json_t *body = NULL;

		if (!api_body(req, none, &body, resp)) {
			json_decref(j);
			return;
		}
	}
	if (streq(json_string_value(json_object_get(j, "driver")), "dir")) {
		json_decref(j);
		http_response_error(resp, 422, NULL,
				    "pool '%s': the dir driver has no volumes to trim", name);
		return;
	}
	op = calloc(1, sizeof(*op));
	if (!op) {
		json_decref(j);
		carve_err(&err, -ENOMEM, "pool '%s': trim", name);
		return api_fail(resp, &err);
	}
	strscpy(op->name, name, sizeof(op->name));
	strscpy(tmpl.user_id, c->user_id, sizeof(tmpl.user_id));
	strscpy(tmpl.kind, "pool.trim", sizeof(tmpl.kind));
	snprintf(tmpl.object, sizeof(tmpl.object), "pool/%s", name);
	strscpy(tmpl.progress_unit, "steps", sizeof(tmpl.progress_unit));
	if (tasks_submit(d->tasks, &tmpl, trim_task, op, free, &task, &err) < 0) {
		json_decref(j);
		return api_fail(resp, &err);
	}
	http_response_json(resp, 202,
			   json_pack("{s:o, s:o}", "pool", j, "task", api_task_json(d, task)));
	snprintf(resp->location, sizeof(resp->location), "/api/v1/tasks/%s", task->id);
}

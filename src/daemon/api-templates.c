/* SPDX-License-Identifier: Apache-2.0 */
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"

void api_templates_list(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_template **l = NULL;
	size_t n = 0;
	json_t *arr;

	if (db_template_list(d->db, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, api_template_json(l[i]));
	db_template_list_free(l, n);
	http_response_json(resp, 200, arr);
}

void api_templates_get(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_template_freep) struct db_template *t = NULL;
	const char *name = http_request_param(req, "name");
	int r;

	if (parse_name(name, "template", &err) < 0)
		return api_fail(resp, &err);
	r = db_template_get_by_name(d->db, name, &t, NULL);
	if (r < 0) {
		carve_err(&err, r, "template '%s'%s", name, r == -ENOENT ? " not found" : "");
		return api_fail(resp, &err);
	}
	http_response_json(resp, 200, api_template_json(t));
}

void api_tasks_list(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_task **l = NULL;
	uint64_t limit = 50;
	char buf[32];
	const char *q = http_request_query(req, "limit", buf, sizeof(buf));
	size_t n = 0;
	json_t *arr;

	if (q && parse_uint64(q, 1, 1000, &limit, &err) < 0) {
		carve_err_field(&err, err.code, "limit", "limit");
		return api_fail(resp, &err);
	}
	if (db_task_list(d->db, caller_is_admin(c) ? NULL : c->tenant_id, (size_t)limit, &l, &n,
			 &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, api_task_json(d, l[i]));
	db_task_list_free(l, n);
	http_response_json(resp, 200, arr);
}

void api_tasks_get(struct daemon *d, const struct caller *c, struct http_request *req,
		   struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_task_freep) struct db_task *t = NULL;
	const char *id = http_request_param(req, "id");

	if (parse_id(id, &err) < 0) {
		strscpy(err.field, "id", sizeof(err.field));
		carve_err_prefix(&err, "task");
		return api_fail(resp, &err);
	}
	if (db_task_get(d->db, id, &t, NULL) < 0 ||
	    (!caller_is_admin(c) && !streq(t->tenant_id, c->tenant_id))) {
		http_response_error(resp, 404, NULL, "task '%s' not found", id);
		return;
	}
	http_response_json(resp, 200, api_task_json(d, t));
}

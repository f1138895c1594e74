/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"

/* Look up a tenant the caller may see: admins see all, others only their own (else 404). */
static int find_tenant(struct daemon *d, const struct caller *c, const char *name,
		       struct db_tenant **ret, struct carve_error *err)
{
	int r = parse_name(name, "tenant", err);

	if (r < 0)
		return r;
	if (!caller_is_admin(c) && !streq(name, c->tenant_name))
		return carve_err(err, -ENOENT, "tenant '%s' not found", name);
	r = db_tenant_get_by_name(d->db, name, ret, NULL);
	if (r == -ENOENT)
		return carve_err(err, r, "tenant '%s' not found", name);
	if (r < 0)
		return carve_err(err, r, "tenant '%s'", name);
	return 0;
}

void api_tenants_list(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant **l = NULL;
	size_t n = 0;
	json_t *arr;

	if (!caller_is_admin(c)) {
		cleanup(db_tenant_freep) struct db_tenant *t = NULL;
		if (db_tenant_get_by_id(d->db, c->tenant_id, &t, &err) < 0)
			return api_fail(resp, &err);
		arr = json_array();
		json_array_append_new(arr, api_tenant_json(d, t));
		http_response_json(resp, 200, arr);
		return;
	}
	if (db_tenant_list(d->db, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, api_tenant_json(d, l[i]));
	db_tenant_list_free(l, n);
	http_response_json(resp, 200, arr);
}

void api_tenants_create(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	static const char *const fields[] = {"name", "description", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_json json_t *body = NULL;
	struct db_tenant t = {0};
	const char *name = NULL, *desc = "";

	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0 ||
	    json_get_string(body, "description", false, 1024, &desc, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "tenant", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	strscpy(t.name, name, sizeof(t.name));
	t.description = (char *)desc;
	if (db_tenant_create(d->db, &t, &err) < 0)
		return api_fail(resp, &err);
	snprintf(resp->location, sizeof(resp->location), "/api/v1/tenants/%s", t.name);
	http_response_json(resp, 201, api_tenant_json(d, &t));
}

void api_tenants_get(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;

	if (find_tenant(d, c, http_request_param(req, "name"), &t, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, api_tenant_json(d, t));
}

void api_tenants_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	static const char *const fields[] = {"description", "max_vcpus", "max_memory",
					     "max_pids",    "max_ports", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	cleanup_json json_t *body = NULL;
	const char *desc = NULL;
	uint64_t vcpus = 0, pids = 0;
	json_t *mem;
	char *old;

	if (find_tenant(d, c, http_request_param(req, "name"), &t, &err) < 0)
		return api_fail(resp, &err);
	if (!api_body(req, fields, &body, resp))
		return;
	vcpus = t->max_vcpus;
	pids = t->max_pids;
	if (json_get_string(body, "description", false, 1024, &desc, &err) < 0 ||
	    json_get_uint(body, "max_vcpus", false, 0, 4096, &vcpus, &err) < 0 ||
	    json_get_uint(body, "max_pids", false, 0, 4194304, &pids, &err) < 0)
		return api_fail(resp, &err);
	t->max_vcpus = (uint32_t)vcpus;
	t->max_pids = pids;
	/* max_ports: null goes back to carved's default (--max-ports) */
	if (json_object_get(body, "max_ports") &&
	    json_is_null(json_object_get(body, "max_ports"))) {
		t->max_ports = -1;
	} else if (json_object_get(body, "max_ports")) {
		uint64_t ports = 0;

		if (json_get_uint(body, "max_ports", false, 0, 65535, &ports, &err) < 0)
			return api_fail(resp, &err);
		t->max_ports = (int64_t)ports;
	}
	mem = json_object_get(body, "max_memory");
	if (mem && !json_is_null(mem)) {
		uint64_t v = 0;
		if (json_is_integer(mem) && json_integer_value(mem) >= 0)
			v = (uint64_t)json_integer_value(mem);
		else if (!json_is_string(mem) || parse_size(json_string_value(mem), &v, NULL) < 0) {
			carve_err_field(
				&err, -EINVAL, "max_memory",
				"tenant '%s': max_memory: not a size (use e.g. 512M, 2G; 0: no cap)",
				t->name);
			return api_fail(resp, &err);
		}
		t->max_memory = v;
	}
	if (!desc) {
		if (db_tenant_update(d->db, t, &err) < 0)
			return api_fail(resp, &err);
	} else {
		old = t->description;
		t->description = strdup(desc);
		free(old);
		if (!t->description || db_tenant_update(d->db, t, &err) < 0) {
			if (!err.code)
				carve_err(&err, -ENOMEM, "tenant '%s'", t->name);
			return api_fail(resp, &err);
		}
	}
	/* the caps hold at once for what runs, and are applied again at every start */
	if (daemon_tenant_apply_limits(d, t, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, api_tenant_json(d, t));
}

void api_tenants_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;

	if (find_tenant(d, c, http_request_param(req, "name"), &t, &err) < 0)
		return api_fail(resp, &err);
	if (db_tenant_delete(d->db, t->id, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"

/* A user the caller may see: itself, or (with users.read) one of its tenant; admins see all. */
static int find_user(struct daemon *d, const struct caller *c, const char *name,
		     struct db_user **ret, struct carve_error *err)
{
	cleanup(db_user_freep) struct db_user *u = NULL;
	int r = parse_name(name, "user", err);

	if (r < 0)
		return r;
	r = db_user_get_by_name(d->db, name, &u, NULL);
	if (r < 0 && r != -ENOENT)
		return carve_err(err, r, "user '%s'", name);
	/* A caller without a tenant (an admin's token limited to a tenant role) sees only itself:
	 * the provider admins are no tenant it could own. */
	if (r == -ENOENT || (!caller_is_admin(c) && !streq(u->id, c->user_id) &&
			     (!auth_role_has_right(c->role, AUTH_RIGHT_USERS_READ) ||
			      !c->tenant_id[0] || !streq(u->tenant_id, c->tenant_id))))
		return carve_err(err, -ENOENT, "user '%s' not found", name);
	*ret = TAKE_PTR(u);
	return 0;
}

void api_users_list(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	struct db_user **l = NULL;
	char buf[128];
	size_t n = 0;
	json_t *arr;

	if (api_tenant_scope(d, c, http_request_query(req, "tenant", buf, sizeof(buf)), false, &t,
			     &err) < 0)
		return api_fail(resp, &err);
	if (db_user_list(d->db, t ? t->id : NULL, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, api_user_json(d, l[i]));
	db_user_list_free(l, n);
	http_response_json(resp, 200, arr);
}

void api_users_create(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	static const char *const fields[] = {"name", "password", "role", "tenant", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	cleanup_json json_t *body = NULL;
	cleanup_free char *hash = NULL;
	const char *name = NULL, *password = NULL, *role_s = NULL, *tenant = NULL;
	struct db_user u = {0};
	enum db_role role;

	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0 ||
	    json_get_string(body, "password", true, AUTH_PASSWORD_MAX + 1, &password, &err) < 0 ||
	    json_get_string(body, "role", true, 16, &role_s, &err) < 0 ||
	    json_get_string(body, "tenant", false, CARVE_NAME_MAX + 1, &tenant, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "user", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	role = db_role_from_string(role_s);
	if (role < 0) {
		carve_err_field(&err, -EINVAL, "role",
				"user '%s': role '%.16s': use admin, owner, operator or viewer",
				name, role_s);
		return api_fail(resp, &err);
	}
	if (!auth_role_may_grant(c->role, role)) {
		http_response_error(resp, 403, "role",
				    "user '%s': role %s may not create a user with role %s", name,
				    db_role_to_string(c->role), db_role_to_string(role));
		return;
	}
	if (role == DB_ROLE_ADMIN) {
		if (tenant) {
			carve_err_field(&err, -EINVAL, "tenant",
					"user '%s': provider admins belong to no tenant", name);
			return api_fail(resp, &err);
		}
	} else if (api_tenant_scope(d, c, tenant, true, &t, &err) < 0) {
		carve_err_prefix(&err, "user '%s'", name);
		return api_fail(resp, &err);
	}
	if (auth_password_hash(password, &hash, &err) < 0) {
		strscpy(err.field, "password", sizeof(err.field));
		carve_err_prefix(&err, "user '%s'", name);
		return api_fail(resp, &err);
	}
	strscpy(u.name, name, sizeof(u.name));
	if (t)
		strscpy(u.tenant_id, t->id, sizeof(u.tenant_id));
	u.role = role;
	u.password_hash = hash;
	if (db_user_create(d->db, &u, &err) < 0)
		return api_fail(resp, &err);
	snprintf(resp->location, sizeof(resp->location), "/api/v1/users/%s", u.name);
	http_response_json(resp, 201, api_user_json(d, &u));
}

void api_users_get(struct daemon *d, const struct caller *c, struct http_request *req,
		   struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_user_freep) struct db_user *u = NULL;

	if (find_user(d, c, http_request_param(req, "name"), &u, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, api_user_json(d, u));
}

void api_users_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp)
{
	static const char *const fields[] = {"password", "current_password", "role", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_user_freep) struct db_user *u = NULL;
	cleanup_json json_t *body = NULL;
	const char *password = NULL, *current = NULL, *role_s = NULL;
	bool self;

	if (find_user(d, c, http_request_param(req, "name"), &u, &err) < 0)
		return api_fail(resp, &err);
	self = streq(u->id, c->user_id);
	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "password", false, AUTH_PASSWORD_MAX + 1, &password, &err) < 0 ||
	    json_get_string(body, "current_password", false, AUTH_PASSWORD_MAX + 1, &current,
			    &err) < 0 ||
	    json_get_string(body, "role", false, 16, &role_s, &err) < 0)
		return api_fail(resp, &err);
	if (!self && !api_require(c, AUTH_RIGHT_USERS_WRITE, resp))
		return;
	/* Changing one's own password proves knowledge of the current one, so a stolen session
	 * or a restricted API token cannot take over the account. */
	if (self && password) {
		if (!current) {
			carve_err_field(
				&err, -EINVAL, "current_password",
				"user '%s': changing your own password needs current_password",
				u->name);
			return api_fail(resp, &err);
		}
		if (auth_password_verify(u->password_hash, current) != 1) {
			http_response_error(resp, 403, "current_password",
					    "user '%s': current password is wrong", u->name);
			return;
		}
	}
	if (role_s) {
		enum db_role role = db_role_from_string(role_s);
		if (role < 0) {
			carve_err_field(
				&err, -EINVAL, "role",
				"user '%s': role '%.16s': use admin, owner, operator or viewer",
				u->name, role_s);
			return api_fail(resp, &err);
		}
		if (self && role != u->role) {
			http_response_error(resp, 403, "role",
					    "user '%s': you cannot change your own role", u->name);
			return;
		}
		if (!auth_role_may_grant(c->role, role) ||
		    (role == DB_ROLE_ADMIN) != (u->tenant_id[0] == '\0')) {
			http_response_error(resp, 403, "role",
					    "user '%s': role %s cannot be granted here", u->name,
					    db_role_to_string(role));
			return;
		}
		u->role = role;
	}
	if (password) {
		char *hash = NULL;
		if (auth_password_hash(password, &hash, &err) < 0) {
			strscpy(err.field, "password", sizeof(err.field));
			carve_err_prefix(&err, "user '%s'", u->name);
			return api_fail(resp, &err);
		}
		free(u->password_hash);
		u->password_hash = hash;
	}
	if (db_user_update(d->db, u, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, api_user_json(d, u));
}

void api_users_delete(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_user_freep) struct db_user *u = NULL;

	if (find_user(d, c, http_request_param(req, "name"), &u, &err) < 0)
		return api_fail(resp, &err);
	if (streq(u->id, c->user_id)) {
		http_response_error(resp, 409, NULL, "user '%s': you cannot delete yourself",
				    u->name);
		return;
	}
	if (!auth_role_may_grant(c->role, u->role)) {
		http_response_error(resp, 403, NULL, "user '%s': role %s may not delete role %s",
				    u->name, db_role_to_string(c->role),
				    db_role_to_string(u->role));
		return;
	}
	if (db_user_delete(d->db, u->id, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

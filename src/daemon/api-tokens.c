/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>
#include <time.h>

#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"

static bool need_user(const struct caller *c, struct http_response *resp)
{
	if (c->root) {
		http_response_error(
			resp, 400, NULL,
			"root on the unix socket is no user and has no tokens: create a user and log in");
		return false;
	}
	return true;
}

void api_tokens_list(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_token **l = NULL;
	size_t n = 0;
	json_t *arr;

	if (!need_user(c, resp))
		return;
	if (db_token_list(d->db, c->user_id, &l, &n, &err) < 0)
		return api_fail(resp, &err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, api_token_json(l[i], c->user_name));
	db_token_list_free(l, n);
	http_response_json(resp, 200, arr);
}

void api_tokens_create(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	static const char *const fields[] = {"name", "role", "expires_in", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_json json_t *body = NULL;
	const char *name = NULL, *role_s = NULL;
	uint64_t expires_in = 0;
	char secret[AUTH_SECRET_LEN + 1];
	struct db_token t = {0};
	json_t *j;
	int r;

	if (!need_user(c, resp))
		return;
	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0 ||
	    json_get_string(body, "role", false, 16, &role_s, &err) < 0 ||
	    json_get_uint(body, "expires_in", false, 60, 10ULL * 366 * 86400, &expires_in, &err) <
		    0)
		return api_fail(resp, &err);
	if (parse_name(name, "token", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	t.role = c->role;
	if (role_s) {
		t.role = db_role_from_string(role_s);
		if (t.role < 0) {
			carve_err_field(
				&err, -EINVAL, "role",
				"token '%s': role '%.16s': use admin, owner, operator or viewer",
				name, role_s);
			return api_fail(resp, &err);
		}
		if (auth_role_min(t.role, c->role) != t.role) {
			http_response_error(resp, 403, "role",
					    "token '%s': role %s exceeds your own role %s", name,
					    db_role_to_string(t.role), db_role_to_string(c->role));
			return;
		}
	}
	r = auth_secret_new(secret, t.token_hash);
	if (r < 0) {
		carve_err(&err, r, "token '%s'", name);
		return api_fail(resp, &err);
	}
	strscpy(t.name, name, sizeof(t.name));
	strscpy(t.user_id, c->user_id, sizeof(t.user_id));
	t.expires_at = expires_in ? time(NULL) + (int64_t)expires_in : 0;
	if (db_token_create(d->db, &t, &err) < 0)
		return api_fail(resp, &err);
	j = api_token_json(&t, c->user_name);
	json_object_set_new(j, "secret", json_string(secret));
	explicit_bzero(secret, sizeof(secret));
	http_response_json(resp, 201, j);
}

void api_tokens_delete(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_token_freep) struct db_token *t = NULL;
	const char *id = http_request_param(req, "id");

	if (parse_id(id, &err) < 0) {
		strscpy(err.field, "id", sizeof(err.field));
		carve_err_prefix(&err, "token");
		return api_fail(resp, &err);
	}
	if (db_token_get_by_id(d->db, id, &t, NULL) < 0 || t->is_session ||
	    (!caller_is_admin(c) && !streq(t->user_id, c->user_id))) {
		http_response_error(resp, 404, NULL, "token '%s' not found", id);
		return;
	}
	if (db_token_delete(d->db, t->id, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

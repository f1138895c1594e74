/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "api"
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/string-util.h"
#include "daemon/api.h"

void api_login(struct daemon *d, const struct caller *c, struct http_request *req,
	       struct http_response *resp)
{
	static const char *const fields[] = {"user", "password", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_json json_t *body = NULL;
	cleanup(db_user_freep) struct db_user *u = NULL;
	struct db_token tok = {0};
	char secret[AUTH_SECRET_LEN + 1];
	const char *name = NULL, *password = NULL;
	int64_t now = time(NULL), retry = 0;
	int r;

	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "user", true, 64, &name, &err) < 0 ||
	    json_get_string(body, "password", true, AUTH_PASSWORD_MAX, &password, &err) < 0)
		return api_fail(resp, &err);

	if (auth_throttle_check(d->throttle, name, req->remote, now, &retry) < 0) {
		http_response_error(resp, 429, NULL,
				    "too many failed logins: try again in %lld seconds",
				    (long long)retry);
		resp->retry_after = (int)(retry > 0 ? retry : 1);
		return;
	}
	r = db_user_get_by_name(d->db, name, &u, NULL);
	if (r < 0 && r != -ENOENT) {
		err.code = r;
		snprintf(err.msg, sizeof(err.msg), "login: user lookup failed");
		return api_fail(resp, &err);
	}
	/* Unknown users cost a full verify too, and get the same answer. */
	if (auth_password_verify(u ? u->password_hash : NULL, password) != 1 || !u) {
		/* The back-off counts from the end of this attempt, not from its start: a slow
		 * hash must not use up the wait. */
		auth_throttle_failed(d->throttle, name, req->remote, time(NULL));
		log_info("failed login for '%.64s' from %s", name, req->remote);
		http_response_error(resp, 401, NULL, "invalid user name or password");
		return;
	}
	auth_throttle_succeeded(d->throttle, name, req->remote);

	r = auth_secret_new(secret, tok.token_hash);
	if (r < 0) {
		err.code = r;
		snprintf(err.msg, sizeof(err.msg), "login: cannot make a session");
		return api_fail(resp, &err);
	}
	strscpy(tok.user_id, u->id, sizeof(tok.user_id));
	tok.is_session = true;
	tok.role = u->role;
	tok.expires_at = now + d->session_ttl;
	r = db_token_create(d->db, &tok, &err);
	if (r < 0)
		return api_fail(resp, &err);
	(void)db_token_delete_expired(d->db, now, NULL);
	http_response_json(resp, 200,
			   json_pack("{s:s, s:o, s:o}", "secret", secret, "expires_at",
				     json_timestamp(tok.expires_at), "user", api_user_json(d, u)));
	explicit_bzero(secret, sizeof(secret));
}

void api_logout(struct daemon *d, const struct caller *c, struct http_request *req,
		struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (!c->is_session) {
		http_response_error(
			resp, 400, NULL,
			"not a login session: revoke API tokens with 'carve token revoke'");
		return;
	}
	if (db_token_delete(d->db, c->token_id, &err) < 0)
		return api_fail(resp, &err);
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

void api_whoami(struct daemon *d, const struct caller *c, struct http_request *req,
		struct http_response *resp)
{
	json_t *user = json_null();

	if (!c->root) {
		cleanup(db_user_freep) struct db_user *u = NULL;
		if (db_user_get_by_id(d->db, c->user_id, &u, NULL) >= 0)
			user = api_user_json(d, u);
	}
	http_response_json(resp, 200,
			   json_pack("{s:o, s:s, s:s?, s:s, s:s}", "user", user, "name",
				     c->user_name, "tenant",
				     c->tenant_id[0] ? c->tenant_name : NULL, "role",
				     db_role_to_string(c->role), "via",
				     c->root	     ? "unix-root"
				     : c->is_session ? "session"
						     : "token"));
}

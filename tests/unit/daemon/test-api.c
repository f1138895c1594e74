/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carved's REST API driven in-process: a real struct daemon (database, dir pool, task worker,
 * watcher, router) in a temporary directory, requests built by hand and passed through
 * http_request_process() exactly as the HTTP server does. The monitor binary does not exist, so
 * no container is ever started: a start fails in its task and leaves the server in error.
 *
 * Creating a server copies the busybox template with shifted owners, which needs root; tests
 * that need a created server are skipped when not root or without /bin/busybox.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "daemon/api.h"
#include "daemon/servers.h"
#include "daemon/tasks.h"

static struct daemon d;
static char tmpdir[PATH_MAX];
static bool have_template;
static struct http_response last;
static const char *remote = "127.0.0.1";

#define ROOT NULL /* root on the unix socket */
#define ANON "" /* TCP, no Authorization header */
#define PASSWORD "correct horse battery"

static int setup(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char path[PATH_MAX + 32];

	memset(&d, 0, sizeof(d));
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/carve-test-api-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(d.state_dir, sizeof(d.state_dir), "%s/state", tmpdir);
	snprintf(d.run_dir, sizeof(d.run_dir), "%s/run", tmpdir);
	snprintf(path, sizeof(path), "%s/servers", d.run_dir);
	assert_int_equal(mkdir_p(d.state_dir, 0700), 0);
	assert_int_equal(mkdir_p(path, 0700), 0);
	strscpy(d.monitor_binary, "/nonexistent/carve-monitor", sizeof(d.monitor_binary));
	d.monitor_fd = -EBADF;
	strscpy(d.cgroup_prefix, "carve-test", sizeof(d.cgroup_prefix));
	d.uid_base = 1000000;
	d.session_ttl = 3600;
	d.stop_timeout = 1;

	snprintf(path, sizeof(path), "%s/carve.db", d.state_dir);
	assert_int_equal(db_open(path, &d.db, &err), 0);
	snprintf(path, sizeof(path), "%s/pools/default", d.state_dir);
	assert_int_equal(storage_pool_open("dir", "default", path, &d.pool, &err), 0);
	have_template = templates_bootstrap(&d, &err) >= 0;
	assert_int_equal(auth_throttle_new(&d.throttle), 0);
	assert_int_equal(watcher_new(&d, &d.watcher), 0);
	assert_int_equal(tasks_new(&d, 1, &d.tasks), 0);
	assert_int_equal(http_router_new(&d.router), 0);
	assert_int_equal(api_register(&d), 0);
	remote = "127.0.0.1";
	return 0;
}

static int teardown(void **state)
{
	http_response_release(&last);
	memset(&last, 0, sizeof(last));
	d.tasks = tasks_free(d.tasks);
	d.watcher = watcher_free(d.watcher);
	d.router = http_router_free(d.router);
	d.throttle = auth_throttle_free(d.throttle);
	d.pool = storage_pool_free(d.pool);
	d.db = db_close(d.db);
	assert_int_equal(rm_rf(tmpdir), 0);
	return 0;
}

/* One request; auth is ROOT, ANON or a bearer secret. The response stays in `last`. */
static int call(const char *auth, const char *method, const char *target, const char *body)
{
	struct http_request req = {0};
	char header[128];

	http_response_release(&last);
	memset(&last, 0, sizeof(last));
	req.method = method;
	req.body = body ? body : "";
	req.body_len = strlen(req.body);
	req.content_type = body ? "application/json" : NULL;
	if (auth == ROOT) {
		req.via_unix = true;
		req.peer_uid = 0;
		strscpy(req.remote, "unix", sizeof(req.remote));
	} else {
		req.peer_uid = (uid_t)-1;
		strscpy(req.remote, remote, sizeof(req.remote));
		if (auth[0]) {
			snprintf(header, sizeof(header), "Bearer %s", auth);
			req.authorization = header;
		}
	}
	http_request_process(d.router, &req, target, &last);
	if (!last.status)
		last.status = 200;
	if (last.status >= 400) {
		json_t *e = json_object_get(last.json, "error");
		assert_true(json_is_object(e));
		assert_string_equal(json_string_value(json_object_get(e, "code")),
				    http_status_to_code(last.status));
		assert_non_null(json_string_value(json_object_get(e, "message")));
	}
	return last.status;
}

static const char *bodyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *bodyf(const char *fmt, ...)
{
	static char buf[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

static const char *err_message(void)
{
	return json_string_value(json_object_get(json_object_get(last.json, "error"), "message"));
}

static const char *err_field(void)
{
	const char *f =
		json_string_value(json_object_get(json_object_get(last.json, "error"), "field"));
	return f ? f : "";
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	assert_non_null(s);
	return s;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!haystack || !strstr(haystack, needle))
		fail_msg("'%s' does not contain '%s'", haystack ? haystack : "(null)", needle);
}

static void make_tenant(const char *name)
{
	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants", bodyf("{\"name\":\"%s\"}", name)),
			 201);
}

static void make_user(const char *auth, const char *name, const char *role, const char *tenant)
{
	int r;

	if (tenant)
		r = call(
			auth, "POST", "/api/v1/users",
			bodyf("{\"name\":\"%s\",\"password\":\"%s\",\"role\":\"%s\",\"tenant\":\"%s\"}",
			      name, PASSWORD, role, tenant));
	else
		r = call(auth, "POST", "/api/v1/users",
			 bodyf("{\"name\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"}", name,
			       PASSWORD, role));
	if (r != 201)
		fail_msg("create user '%s': %d %s", name, r, err_message());
}

/* Log in and return the secret (static storage per slot). */
static const char *login(const char *name, int slot)
{
	static char secrets[4][AUTH_SECRET_LEN + 1];

	assert_int_equal(call(ANON, "POST", "/api/v1/login",
			      bodyf("{\"user\":\"%s\",\"password\":\"%s\"}", name, PASSWORD)),
			 200);
	strscpy(secrets[slot], str(last.json, "secret"), sizeof(secrets[slot]));
	assert_true(startswith(secrets[slot], AUTH_SECRET_PREFIX));
	assert_int_equal(strlen(secrets[slot]), AUTH_SECRET_LEN);
	return secrets[slot];
}

static struct db_task *wait_task(const char *id)
{
	for (int i = 0; i < 3000; i++) {
		struct db_task *t = NULL;
		assert_int_equal(db_task_get(d.db, id, &t, NULL), 0);
		if (t->state == DB_TASK_SUCCEEDED || t->state == DB_TASK_FAILED)
			return t;
		db_task_free(t);
		usleep(10000);
	}
	fail_msg("task %s did not finish", id);
	return NULL;
}

/* The task id of the last 202 answer. */
static void last_task_id(char id[33])
{
	assert_int_equal(last.status, 202);
	strscpy(id, str(json_object_get(last.json, "task"), "id"), 33);
}

static bool server_tests_possible(void)
{
	if (geteuid() != 0 || !have_template)
		return false;
	return true;
}

/* Create server `name` in `tenant` as root and wait until it is stopped. */
static void make_server(const char *tenant, const char *name, char task_id[33])
{
	cleanup(db_task_freep) struct db_task *t = NULL;

	assert_int_equal(call(ROOT, "POST", "/api/v1/servers",
			      bodyf("{\"name\":\"%s\",\"template\":\"busybox\",\"tenant\":\"%s\","
				    "\"memory\":\"256M\"}",
				    name, tenant)),
			 202);
	assert_string_equal(last.location, bodyf("/api/v1/servers/%s", name));
	assert_string_equal(str(json_object_get(last.json, "server"), "state"), "creating");
	last_task_id(task_id);
	t = wait_task(task_id);
	if (t->state != DB_TASK_SUCCEEDED)
		fail_msg("create '%s': %s", name, t->error_message);
}

/* --- generic ------------------------------------------------------------------------------- */

static void test_routing_and_status(void **state)
{
	char target[HTTP_PATH_MAX + 64];
	char *big;

	assert_int_equal(call(ROOT, "GET", "/api/v1/whoami", NULL), 200);
	assert_string_equal(str(last.json, "via"), "unix-root");
	assert_string_equal(str(last.json, "role"), "admin");
	assert_string_equal(str(last.json, "name"), "root");

	/* not root, no credentials */
	assert_int_equal(call(ANON, "GET", "/api/v1/whoami", NULL), 401);
	assert_contains(err_message(), "authentication required");
	assert_int_equal(call("carve_nope", "GET", "/api/v1/servers", NULL), 401);
	assert_string_equal(err_message(), "invalid or revoked credentials");

	/* router and target parsing */
	assert_int_equal(call(ROOT, "GET", "/api/v1/nothing", NULL), 404);
	assert_int_equal(call(ROOT, "PUT", "/api/v1/tenants", "{}"), 405);
	assert_contains(last.allow, "GET");
	assert_contains(last.allow, "POST");
	assert_int_equal(call(ROOT, "GET", "/api/v1/../v1/whoami", NULL), 400);
	memset(target, 'a', sizeof(target) - 1);
	target[0] = '/';
	target[sizeof(target) - 1] = '\0';
	assert_int_equal(call(ROOT, "GET", target, NULL), 414);

	/* bodies */
	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants", "{\"name\":"), 400);
	assert_contains(err_message(), "request body");
	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants", "[1]"), 400);
	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants", ""), 400);
	big = malloc(JSON_STRING_MAX + 64);
	assert_non_null(big);
	memset(big, 'x', JSON_STRING_MAX + 64);
	snprintf(big, JSON_STRING_MAX + 64, "{\"name\":\"acme\",\"description\":\"");
	memcpy(big + JSON_STRING_MAX + 64 - 3, "\"}", 3);
	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants", big), 400);
	free(big);

	/* a 415 for a body that is not JSON */
	{
		struct http_request req = {.method = "POST",
					   .body = "name=x",
					   .body_len = 6,
					   .content_type = "application/x-www-form-urlencoded",
					   .via_unix = true,
					   .peer_uid = 0};
		http_response_release(&last);
		memset(&last, 0, sizeof(last));
		http_request_process(d.router, &req, "/api/v1/tenants", &last);
		assert_int_equal(last.status, 415);
	}

	/* bad ids in paths */
	assert_int_equal(call(ROOT, "GET", "/api/v1/tasks/xyz", NULL), 400);
	assert_string_equal(err_field(), "id");
	assert_int_equal(call(ROOT, "GET", "/api/v1/tasks/0123456789abcdef0123456789abcdef", NULL),
			 404);
	assert_int_equal(call(ROOT, "GET", "/api/v1/tasks?limit=0", NULL), 400);
	assert_string_equal(err_field(), "limit");
	assert_int_equal(call(ROOT, "GET", "/api/v1/tasks?limit=5", NULL), 200);
	assert_true(json_is_array(last.json));
	assert_int_equal(call(ROOT, "GET", "/api/v1/templates/nope", NULL), 404);
	assert_int_equal(call(ROOT, "GET", "/api/v1/templates/Bad%20Name", NULL), 400);
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers?tenant=ghost", NULL), 404);
	assert_string_equal(err_field(), "tenant");
}

/* --- tenants ------------------------------------------------------------------------------- */

static void test_tenants(void **state)
{
	json_t *t;

	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants",
			      "{\"name\":\"acme\",\"description\":\"ACME Corp\"}"),
			 201);
	assert_string_equal(last.location, "/api/v1/tenants/acme");
	assert_string_equal(str(last.json, "name"), "acme");
	assert_int_equal(json_integer_value(json_object_get(last.json, "uid_base")), 1000000);
	make_tenant("globex");
	assert_int_equal(call(ROOT, "GET", "/api/v1/tenants/globex", NULL), 200);
	assert_int_equal(json_integer_value(json_object_get(last.json, "uid_base")),
			 1000000 + 65536);

	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants", "{\"name\":\"acme\"}"), 409);
	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants", "{\"name\":\"Bad Name\"}"), 400);
	assert_string_equal(err_field(), "name");
	assert_int_equal(
		call(ROOT, "POST", "/api/v1/tenants", "{\"name\":\"x\",\"color\":\"red\"}"), 400);
	assert_string_equal(err_field(), "color");
	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants", "{\"description\":\"x\"}"), 400);
	assert_string_equal(err_field(), "name");
	assert_int_equal(call(ROOT, "POST", "/api/v1/tenants", "{\"name\":42}"), 400);
	assert_string_equal(err_field(), "name");

	assert_int_equal(call(ROOT, "GET", "/api/v1/tenants", NULL), 200);
	assert_int_equal(json_array_size(last.json), 2);
	assert_int_equal(call(ROOT, "GET", "/api/v1/tenants/nope", NULL), 404);
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/tenants/acme", "{\"description\":\"new\"}"),
			 200);
	assert_string_equal(str(last.json, "description"), "new");
	assert_int_equal(call(ROOT, "GET", "/api/v1/tenants/acme", NULL), 200);
	assert_string_equal(str(last.json, "description"), "new");
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/tenants/acme", "{\"name\":\"other\"}"), 400);
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/tenants/nope", "{\"description\":\"x\"}"),
			 404);

	/* a tenant with users cannot go */
	make_user(ROOT, "wile", "owner", "acme");
	assert_int_equal(call(ROOT, "DELETE", "/api/v1/tenants/acme", NULL), 409);
	assert_int_equal(call(ROOT, "GET", "/api/v1/tenants/acme", NULL), 200);

	/* a tenant user sees only its own tenant and cannot create tenants */
	{
		const char *s = login("wile", 0);
		assert_int_equal(call(s, "GET", "/api/v1/tenants", NULL), 200);
		assert_int_equal(json_array_size(last.json), 1);
		t = json_array_get(last.json, 0);
		assert_string_equal(str(t, "name"), "acme");
		assert_int_equal(call(s, "GET", "/api/v1/tenants/globex", NULL), 404);
		assert_int_equal(call(s, "POST", "/api/v1/tenants", "{\"name\":\"mine\"}"), 403);
		assert_contains(err_message(), "tenants.write");
		assert_int_equal(call(s, "DELETE", "/api/v1/tenants/acme", NULL), 403);
	}

	assert_int_equal(call(ROOT, "DELETE", "/api/v1/users/wile", NULL), 200);
	assert_int_equal(call(ROOT, "DELETE", "/api/v1/tenants/acme", NULL), 200);
	assert_int_equal(call(ROOT, "GET", "/api/v1/tenants/acme", NULL), 404);
	assert_int_equal(call(ROOT, "DELETE", "/api/v1/tenants/acme", NULL), 404);
	assert_int_equal(call(ROOT, "GET", "/api/v1/tenants", NULL), 200);
	assert_int_equal(json_array_size(last.json), 1);
}

/* --- login, sessions ----------------------------------------------------------------------- */

static void test_login(void **state)
{
	const char *s;
	int64_t retry;

	make_user(ROOT, "alice", "admin", NULL);
	s = login("alice", 0);
	assert_string_equal(str(json_object_get(last.json, "user"), "name"), "alice");
	assert_true(json_is_string(json_object_get(last.json, "expires_at")));

	assert_int_equal(call(s, "GET", "/api/v1/whoami", NULL), 200);
	assert_string_equal(str(last.json, "name"), "alice");
	assert_string_equal(str(last.json, "via"), "session");
	assert_string_equal(str(last.json, "role"), "admin");
	assert_true(json_is_null(json_object_get(last.json, "tenant")));
	assert_string_equal(str(json_object_get(last.json, "user"), "name"), "alice");

	/* wrong password and unknown user: the same answer */
	assert_int_equal(call(ANON, "POST", "/api/v1/login",
			      "{\"user\":\"alice\",\"password\":\"wrong password\"}"),
			 401);
	assert_string_equal(err_message(), "invalid user name or password");
	remote = "10.0.0.2";
	assert_int_equal(call(ANON, "POST", "/api/v1/login",
			      "{\"user\":\"nobody\",\"password\":\"wrong password\"}"),
			 401);
	assert_string_equal(err_message(), "invalid user name or password");
	assert_int_equal(call(ANON, "POST", "/api/v1/login", "{\"user\":\"alice\"}"), 400);
	assert_string_equal(err_field(), "password");
	assert_int_equal(call(ANON, "POST", "/api/v1/login",
			      "{\"user\":\"alice\",\"password\":\"x\",\"otp\":1}"),
			 400);
	assert_string_equal(err_field(), "otp");

	/*
	 * Throttling: five failures are free (one above, four here), then the account waits 1 s,
	 * 2 s, 4 s... from its last failure, and even the right password gets 429. A slow
	 * password check (sanitizers, a busy machine) can outlast the 1 s wait, so fail on until
	 * the wait is at least 2 s, then try the right password at once.
	 */
	remote = "10.0.0.3";
	for (int i = 0; i < 4; i++)
		assert_int_equal(call(ANON, "POST", "/api/v1/login",
				      "{\"user\":\"alice\",\"password\":\"wrong password\"}"),
				 401);
	for (int i = 0; i < 10; i++) {
		int r = call(ANON, "POST", "/api/v1/login",
			     "{\"user\":\"alice\",\"password\":\"wrong password\"}");
		if (r == 429 && last.retry_after >= 2)
			break;
		if (r == 429)
			sleep((unsigned)last.retry_after);
		else
			assert_int_equal(r, 401);
	}
	assert_int_equal(last.status, 429);
	assert_true(last.retry_after >= 2);
	assert_int_equal(call(ANON, "POST", "/api/v1/login",
			      bodyf("{\"user\":\"alice\",\"password\":\"%s\"}", PASSWORD)),
			 429);
	assert_true(last.retry_after > 0);
	assert_contains(err_message(), "too many failed logins");
	retry = last.retry_after;
	assert_true(retry <= 15 * 60);
	/* the session from before still works */
	assert_int_equal(call(s, "GET", "/api/v1/whoami", NULL), 200);

	/* logout ends the session; root has none */
	assert_int_equal(call(ROOT, "POST", "/api/v1/logout", NULL), 400);
	assert_int_equal(call(s, "POST", "/api/v1/logout", NULL), 200);
	assert_int_equal(call(s, "GET", "/api/v1/whoami", NULL), 401);
	assert_string_equal(err_message(), "invalid or revoked credentials");

	/* other auth schemes */
	{
		struct http_request req = {.method = "GET",
					   .body = "",
					   .authorization = "Basic YWxpY2U6eA==",
					   .peer_uid = (uid_t)-1};
		http_response_release(&last);
		memset(&last, 0, sizeof(last));
		http_request_process(d.router, &req, "/api/v1/whoami", &last);
		assert_int_equal(last.status, 401);
		assert_contains(err_message(), "Bearer");
	}
}

static void test_expired_session(void **state)
{
	cleanup(db_user_freep) struct db_user *u = NULL;
	struct db_token tok = {0};
	char secret[AUTH_SECRET_LEN + 1], secret2[AUTH_SECRET_LEN + 1];

	make_tenant("acme");
	make_user(ROOT, "bob", "owner", "acme");
	assert_int_equal(db_user_get_by_name(d.db, "bob", &u, NULL), 0);

	assert_int_equal(auth_secret_new(secret, tok.token_hash), 0);
	strscpy(tok.user_id, u->id, sizeof(tok.user_id));
	tok.is_session = true;
	tok.role = DB_ROLE_OWNER;
	tok.expires_at = time(NULL) - 10;
	assert_int_equal(db_token_create(d.db, &tok, NULL), 0);
	assert_int_equal(call(secret, "GET", "/api/v1/whoami", NULL), 401);
	assert_string_equal(err_message(), "session expired: log in again");

	memset(&tok, 0, sizeof(tok));
	assert_int_equal(auth_secret_new(secret2, tok.token_hash), 0);
	strscpy(tok.user_id, u->id, sizeof(tok.user_id));
	strscpy(tok.name, "old", sizeof(tok.name));
	tok.role = DB_ROLE_VIEWER;
	tok.expires_at = time(NULL) - 1;
	assert_int_equal(db_token_create(d.db, &tok, NULL), 0);
	assert_int_equal(call(secret2, "GET", "/api/v1/servers", NULL), 401);
	assert_string_equal(err_message(), "token expired: log in again");

	/* a valid login purges expired rows: the old secrets stay refused */
	login("bob", 0);
	assert_int_equal(call(secret, "GET", "/api/v1/whoami", NULL), 401);
	assert_string_equal(err_message(), "invalid or revoked credentials");
}

/* --- users --------------------------------------------------------------------------------- */

static void test_users(void **state)
{
	const char *own, *op, *view;

	make_tenant("acme");
	make_tenant("globex");

	/* root's rules: admins have no tenant, everyone else needs one */
	assert_int_equal(call(ROOT, "POST", "/api/v1/users",
			      bodyf("{\"name\":\"adm\",\"password\":\"%s\",\"role\":\"admin\","
				    "\"tenant\":\"acme\"}",
				    PASSWORD)),
			 400);
	assert_string_equal(err_field(), "tenant");
	assert_int_equal(
		call(ROOT, "POST", "/api/v1/users",
		     bodyf("{\"name\":\"own\",\"password\":\"%s\",\"role\":\"owner\"}", PASSWORD)),
		400);
	assert_string_equal(err_field(), "tenant");
	assert_contains(err_message(), "required for a provider admin");
	assert_int_equal(call(ROOT, "POST", "/api/v1/users",
			      bodyf("{\"name\":\"own\",\"password\":\"%s\",\"role\":\"superuser\","
				    "\"tenant\":\"acme\"}",
				    PASSWORD)),
			 400);
	assert_string_equal(err_field(), "role");
	assert_contains(err_message(), "use admin, owner, operator or viewer");
	assert_int_equal(call(ROOT, "POST", "/api/v1/users",
			      "{\"name\":\"own\",\"password\":\"short\",\"role\":\"owner\","
			      "\"tenant\":\"acme\"}"),
			 400);
	assert_string_equal(err_field(), "password");
	assert_int_equal(call(ROOT, "POST", "/api/v1/users",
			      bodyf("{\"name\":\"own\",\"password\":\"%s\",\"role\":\"owner\","
				    "\"tenant\":\"nope\"}",
				    PASSWORD)),
			 404);
	assert_int_equal(call(ROOT, "POST", "/api/v1/users",
			      bodyf("{\"name\":\"-bad-\",\"password\":\"%s\",\"role\":\"owner\","
				    "\"tenant\":\"acme\"}",
				    PASSWORD)),
			 400);
	assert_string_equal(err_field(), "name");
	make_user(ROOT, "own", "owner", "acme");
	assert_string_equal(str(last.json, "tenant"), "acme");
	assert_string_equal(str(last.json, "role"), "owner");
	assert_string_equal(last.location, "/api/v1/users/own");
	/* user names are unique across tenants */
	assert_int_equal(call(ROOT, "POST", "/api/v1/users",
			      bodyf("{\"name\":\"own\",\"password\":\"%s\",\"role\":\"owner\","
				    "\"tenant\":\"globex\"}",
				    PASSWORD)),
			 409);
	make_user(ROOT, "gown", "owner", "globex");

	/* an owner: not admins, not other tenants; its own tenant by default */
	own = login("own", 0);
	assert_int_equal(
		call(own, "POST", "/api/v1/users",
		     bodyf("{\"name\":\"adm\",\"password\":\"%s\",\"role\":\"admin\"}", PASSWORD)),
		403);
	assert_string_equal(err_field(), "role");
	assert_contains(err_message(), "may not create a user with role admin");
	assert_int_equal(call(own, "POST", "/api/v1/users",
			      bodyf("{\"name\":\"op\",\"password\":\"%s\",\"role\":\"operator\","
				    "\"tenant\":\"globex\"}",
				    PASSWORD)),
			 404);
	make_user(own, "op", "operator", NULL);
	assert_string_equal(str(last.json, "tenant"), "acme");
	make_user(own, "view", "viewer", "acme");
	assert_int_equal(call(own, "GET", "/api/v1/users", NULL), 200);
	assert_int_equal(json_array_size(last.json), 3);
	assert_int_equal(call(own, "GET", "/api/v1/users?tenant=globex", NULL), 404);
	assert_int_equal(call(own, "GET", "/api/v1/users/gown", NULL), 404);
	assert_int_equal(call(ROOT, "GET", "/api/v1/users", NULL), 200);
	assert_int_equal(json_array_size(last.json), 4);
	assert_int_equal(call(ROOT, "GET", "/api/v1/users?tenant=globex", NULL), 200);
	assert_int_equal(json_array_size(last.json), 1);

	/* an operator cannot create users or change others, but may change its own password */
	op = login("op", 1);
	assert_int_equal(
		call(op, "POST", "/api/v1/users",
		     bodyf("{\"name\":\"x\",\"password\":\"%s\",\"role\":\"viewer\"}", PASSWORD)),
		403);
	assert_contains(err_message(), "missing right 'users.write'");
	assert_int_equal(call(op, "GET", "/api/v1/users/op", NULL), 200);
	assert_int_equal(call(op, "PATCH", "/api/v1/users/op", "{\"role\":\"owner\"}"), 403);
	assert_contains(err_message(), "your own role");
	/* without users.read, the others of its tenant are not there */
	assert_int_equal(call(op, "GET", "/api/v1/users/view", NULL), 404);
	assert_int_equal(
		call(op, "PATCH", "/api/v1/users/view", bodyf("{\"password\":\"%s\"}", PASSWORD)),
		404);
	/* one's own password: only with the current one */
	assert_int_equal(
		call(op, "PATCH", "/api/v1/users/op", "{\"password\":\"another good one\"}"), 400);
	assert_contains(err_message(), "current_password");
	assert_int_equal(
		call(op, "PATCH", "/api/v1/users/op",
		     "{\"password\":\"another good one\",\"current_password\":\"wrong one!\"}"),
		403);
	assert_int_equal(
		call(op, "PATCH", "/api/v1/users/op",
		     bodyf("{\"password\":\"another good one\",\"current_password\":\"%s\"}",
			   PASSWORD)),
		200);
	assert_int_equal(call(ANON, "POST", "/api/v1/login",
			      "{\"user\":\"op\",\"password\":\"another good one\"}"),
			 200);

	/* a viewer sees only itself */
	view = login("view", 2);
	assert_int_equal(call(view, "GET", "/api/v1/users/own", NULL), 404);
	assert_int_equal(call(view, "GET", "/api/v1/users/view", NULL), 200);
	assert_int_equal(call(view, "DELETE", "/api/v1/users/op", NULL), 403);

	/* owners manage their tenant's users; admin roles cannot be granted there */
	assert_int_equal(call(own, "PATCH", "/api/v1/users/view", "{\"role\":\"admin\"}"), 403);
	assert_int_equal(call(own, "PATCH", "/api/v1/users/view", "{\"role\":\"operator\"}"), 200);
	assert_string_equal(str(last.json, "role"), "operator");
	assert_int_equal(call(own, "DELETE", "/api/v1/users/own", NULL), 409);
	assert_int_equal(call(own, "DELETE", "/api/v1/users/view", NULL), 200);
	assert_int_equal(call(view, "GET", "/api/v1/whoami", NULL), 401);
	assert_int_equal(call(own, "DELETE", "/api/v1/users/gown", NULL), 404);
}

/* --- tokens -------------------------------------------------------------------------------- */

static void test_tokens(void **state)
{
	const char *own;
	char tok_viewer[AUTH_SECRET_LEN + 1], tok_owner[AUTH_SECRET_LEN + 1], id[33];

	make_tenant("acme");
	make_user(ROOT, "own", "owner", "acme");
	own = login("own", 0);

	assert_int_equal(call(ROOT, "POST", "/api/v1/tokens", "{\"name\":\"ci\"}"), 400);
	assert_contains(err_message(), "root on the unix socket");
	assert_int_equal(
		call(own, "POST", "/api/v1/tokens", "{\"name\":\"ci\",\"role\":\"admin\"}"), 403);
	assert_string_equal(err_field(), "role");
	assert_contains(err_message(), "exceeds your own role owner");
	assert_int_equal(call(own, "POST", "/api/v1/tokens", "{\"name\":\"ci\",\"role\":\"boss\"}"),
			 400);
	assert_string_equal(err_field(), "role");
	assert_int_equal(call(own, "POST", "/api/v1/tokens", "{\"name\":\"ci\",\"expires_in\":10}"),
			 400);
	assert_string_equal(err_field(), "expires_in");
	assert_int_equal(call(own, "POST", "/api/v1/tokens", "{\"name\":\"c i\"}"), 400);
	assert_string_equal(err_field(), "name");

	assert_int_equal(call(own, "POST", "/api/v1/tokens",
			      "{\"name\":\"ci\",\"role\":\"viewer\",\"expires_in\":3600}"),
			 201);
	assert_string_equal(str(last.json, "role"), "viewer");
	assert_true(json_is_string(json_object_get(last.json, "expires_at")));
	strscpy(tok_viewer, str(last.json, "secret"), sizeof(tok_viewer));
	strscpy(id, str(last.json, "id"), sizeof(id));
	assert_int_equal(call(own, "POST", "/api/v1/tokens", "{\"name\":\"deploy\"}"), 201);
	assert_string_equal(str(last.json, "role"), "owner");
	strscpy(tok_owner, str(last.json, "secret"), sizeof(tok_owner));

	/* the secret is shown once; the list has no secrets and no sessions */
	assert_int_equal(call(own, "GET", "/api/v1/tokens", NULL), 200);
	assert_int_equal(json_array_size(last.json), 2);
	assert_null(json_object_get(json_array_get(last.json, 0), "secret"));

	assert_int_equal(call(tok_viewer, "GET", "/api/v1/whoami", NULL), 200);
	assert_string_equal(str(last.json, "via"), "token");
	assert_string_equal(str(last.json, "role"), "viewer");
	assert_string_equal(str(last.json, "tenant"), "acme");
	assert_int_equal(call(tok_viewer, "GET", "/api/v1/servers", NULL), 200);
	assert_int_equal(call(tok_viewer, "POST", "/api/v1/servers",
			      "{\"name\":\"web1\",\"template\":\"busybox\"}"),
			 403);
	assert_contains(err_message(), "servers.write");
	/* a token makes tokens of at most its own role */
	assert_int_equal(call(tok_viewer, "POST", "/api/v1/tokens",
			      "{\"name\":\"more\",\"role\":\"operator\"}"),
			 403);
	assert_contains(err_message(), "exceeds your own role viewer");

	/* revoked: 401 */
	assert_int_equal(call(own, "DELETE", bodyf("/api/v1/tokens/%s", id), NULL), 200);
	assert_int_equal(call(tok_viewer, "GET", "/api/v1/whoami", NULL), 401);
	assert_int_equal(call(own, "DELETE", bodyf("/api/v1/tokens/%s", id), NULL), 404);
	assert_int_equal(call(own, "DELETE", "/api/v1/tokens/not-an-id", NULL), 400);

	/* demoted user: the token keeps no more than the user has */
	assert_int_equal(
		call(tok_owner, "POST", "/api/v1/users",
		     bodyf("{\"name\":\"x1\",\"password\":\"%s\",\"role\":\"viewer\"}", PASSWORD)),
		201);
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/users/own", "{\"role\":\"viewer\"}"), 200);
	assert_int_equal(call(tok_owner, "GET", "/api/v1/whoami", NULL), 200);
	assert_string_equal(str(last.json, "role"), "viewer");
	assert_int_equal(
		call(tok_owner, "POST", "/api/v1/users",
		     bodyf("{\"name\":\"x2\",\"password\":\"%s\",\"role\":\"viewer\"}", PASSWORD)),
		403);
	assert_int_equal(
		call(own, "POST", "/api/v1/tokens", "{\"name\":\"again\",\"role\":\"owner\"}"),
		403);

	/* another user's token is not found */
	make_user(ROOT, "own2", "owner", "acme");
	assert_int_equal(call(login("own2", 1), "POST", "/api/v1/tokens", "{\"name\":\"t\"}"), 201);
	strscpy(id, str(last.json, "id"), sizeof(id));
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/users/own", "{\"role\":\"owner\"}"), 200);
	assert_int_equal(call(own, "DELETE", bodyf("/api/v1/tokens/%s", id), NULL), 404);

	/* deleting the user revokes everything it had */
	assert_int_equal(call(ROOT, "DELETE", "/api/v1/users/own", NULL), 200);
	assert_int_equal(call(tok_owner, "GET", "/api/v1/whoami", NULL), 401);
	assert_int_equal(call(own, "GET", "/api/v1/whoami", NULL), 401);
}

/* An admin's token limited to a tenant role belongs to no tenant: it must not act as the owner
 * of "the admins' tenant" (change another admin's password, then log in as that admin). */
static void test_admin_token_with_tenant_role(void **state)
{
	char tok[AUTH_SECRET_LEN + 1];
	const char *alice;

	make_tenant("acme");
	make_user(ROOT, "alice", "admin", NULL);
	make_user(ROOT, "bob", "admin", NULL);
	alice = login("alice", 0);
	assert_int_equal(
		call(alice, "POST", "/api/v1/tokens", "{\"name\":\"t\",\"role\":\"owner\"}"), 201);
	strscpy(tok, str(last.json, "secret"), sizeof(tok));
	assert_int_equal(call(tok, "GET", "/api/v1/whoami", NULL), 200);
	assert_string_equal(str(last.json, "role"), "owner");

	assert_int_equal(call(tok, "GET", "/api/v1/users/bob", NULL), 404);
	assert_int_equal(
		call(tok, "PATCH", "/api/v1/users/bob", "{\"password\":\"taken over now\"}"), 404);
	assert_int_equal(call(ANON, "POST", "/api/v1/login",
			      "{\"user\":\"bob\",\"password\":\"taken over now\"}"),
			 401);
	assert_int_equal(call(tok, "GET", "/api/v1/users", NULL), 404);
	assert_int_equal(
		call(tok, "POST", "/api/v1/users",
		     bodyf("{\"name\":\"x\",\"password\":\"%s\",\"role\":\"viewer\"}", PASSWORD)),
		404);
	assert_int_equal(call(tok, "GET", "/api/v1/servers", NULL), 404);
	assert_int_equal(call(tok, "GET", "/api/v1/tenants", NULL), 404);
	assert_int_equal(call(tok, "GET", "/api/v1/tenants/acme", NULL), 404);
	assert_int_equal(call(tok, "POST", "/api/v1/servers",
			      "{\"name\":\"w\",\"template\":\"busybox\",\"tenant\":\"acme\"}"),
			 404);
	assert_int_equal(call(tok, "GET", "/api/v1/users/alice", NULL), 200);
}

/* --- servers: validation (no server is created) ------------------------------------------- */

#define CREATE(body) call(ROOT, "POST", "/api/v1/servers", body)

static void test_server_validation(void **state)
{
	make_tenant("acme");

	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"memory\":\"12X\"}"),
			 400);
	assert_string_equal(err_message(),
			    "server 'web1': memory '12X': not a size (use e.g. 512M, 2G)");
	assert_string_equal(err_field(), "memory");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"memory\":\"1K\"}"),
			 400);
	assert_contains(err_message(), "below the minimum");
	assert_string_equal(err_field(), "memory");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"memory\":\"4T\"}"),
			 400);
	assert_contains(err_message(), "above the maximum");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"memory\":[1]}"),
			 400);
	assert_string_equal(err_field(), "memory");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"memory\":-5}"),
			 400);
	assert_string_equal(err_field(), "memory");

	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"vcpus\":0}"),
			 400);
	assert_string_equal(err_field(), "vcpus");
	assert_string_equal(err_message(),
			    "server 'web1': vcpus: must be an integer between 1 and 256");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"vcpus\":257}"),
			 400);
	assert_string_equal(err_field(), "vcpus");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"vcpus\":\"2\"}"),
			 400);
	assert_string_equal(err_field(), "vcpus");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"vcpus\":99999999999999999999}"),
			 400);

	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"disk\":\"10G\"}"),
			 422); /* this daemon's pool is a dir pool: disk sizes need volumes */
	assert_string_equal(err_field(), "disk");
	assert_int_equal(CREATE("{\"template\":\"busybox\",\"tenant\":\"acme\"}"), 400);
	assert_string_equal(err_field(), "name");
	assert_contains(err_message(), "name");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"tenant\":\"acme\"}"), 400);
	assert_string_equal(err_field(), "template");
	assert_contains(err_message(), "server 'web1'");
	assert_contains(err_message(), "template");
	assert_int_equal(
		CREATE("{\"name\":\"web 1\",\"template\":\"busybox\",\"tenant\":\"acme\"}"), 400);
	assert_string_equal(err_field(), "name");

	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"kind\":\"vm\"}"),
			 422);
	assert_string_equal(err_field(), "kind");
	assert_string_equal(err_message(),
			    "server 'web1': kind 'vm' needs a volume pool (reflink driver)");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\","
				"\"kind\":\"lxc\"}"),
			 422);
	assert_string_equal(err_field(), "kind");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"nope\",\"tenant\":\"acme\"}"),
			 422);
	assert_string_equal(err_field(), "template");
	assert_string_equal(err_message(), "server 'web1': template 'nope' not found");
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"No Pe\",\"tenant\":\"acme\"}"),
			 422);

	/* root must name the tenant; a tenant that does not exist is a 404 */
	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\"}"), 400);
	assert_string_equal(err_field(), "tenant");
	assert_int_equal(
		CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"ghost\"}"), 404);
	assert_string_equal(err_field(), "tenant");

	/* nothing was created */
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers", NULL), 200);
	assert_int_equal(json_array_size(last.json), 0);
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers/web1", NULL), 404);
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers/web%201", NULL), 400);
	assert_int_equal(call(ROOT, "POST", "/api/v1/servers/web1/start", NULL), 404);
	assert_int_equal(call(ROOT, "DELETE", "/api/v1/servers/web1", NULL), 404);
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/servers/web1", "{\"vcpus\":2}"), 404);
}

/* --- servers: lifecycle -------------------------------------------------------------------- */

static void test_server_lifecycle(void **state)
{
	cleanup(db_task_freep) struct db_task *t = NULL;
	char create_id[33], id[33];

	if (!server_tests_possible())
		skip();
	make_tenant("acme");
	make_server("acme", "web1", create_id);

	assert_int_equal(call(ROOT, "GET", "/api/v1/servers/web1", NULL), 200);
	assert_string_equal(str(last.json, "state"), "stopped");
	assert_string_equal(str(last.json, "tenant"), "acme");
	assert_string_equal(str(last.json, "template"), "busybox");
	assert_int_equal(json_integer_value(json_object_get(last.json, "memory")), 256 << 20);
	assert_int_equal(json_integer_value(json_object_get(last.json, "vcpus")), 1);

	/* the copy belongs to the tenant's shifted root */
	{
		char path[PATH_MAX + 64];
		struct stat st;
		snprintf(path, sizeof(path), "%s/pools/default/%s/etc/passwd", d.state_dir,
			 str(last.json, "id"));
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_uid, 1000000);
	}

	assert_int_equal(CREATE("{\"name\":\"web1\",\"template\":\"busybox\",\"tenant\":\"acme\"}"),
			 409);
	assert_string_equal(err_field(), "name");
	assert_string_equal(err_message(), "server 'web1' already exists in tenant 'acme'");

	/* state machine */
	assert_int_equal(call(ROOT, "POST", "/api/v1/servers/web1/stop", NULL), 409);
	assert_string_equal(err_message(), "server 'web1' is stopped: cannot stop it");
	assert_int_equal(call(ROOT, "POST", "/api/v1/servers/web1/restart", NULL), 409);
	assert_contains(err_message(), "is stopped");
	assert_int_equal(call(ROOT, "POST", "/api/v1/servers/web1/start", "{\"force\":true}"), 400);
	assert_string_equal(err_field(), "force");

	/* PATCH */
	assert_int_equal(
		call(ROOT, "PATCH", "/api/v1/servers/web1", "{\"vcpus\":2,\"memory\":\"1G\"}"),
		200);
	assert_int_equal(json_integer_value(json_object_get(last.json, "vcpus")), 2);
	assert_int_equal(json_integer_value(json_object_get(last.json, "memory")), 1 << 30);
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/servers/web1", "{\"memory\":536870912}"),
			 200);
	assert_int_equal(json_integer_value(json_object_get(last.json, "memory")), 512 << 20);
	assert_int_equal(json_integer_value(json_object_get(last.json, "vcpus")), 2);
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/servers/web1", "{\"memory\":\"12X\"}"), 400);
	assert_string_equal(err_message(),
			    "server 'web1': memory '12X': not a size (use e.g. 512M, 2G)");
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/servers/web1", "{\"vcpus\":0}"), 400);
	assert_int_equal(call(ROOT, "PATCH", "/api/v1/servers/web1", "{\"name\":\"x\"}"), 400);
	assert_string_equal(err_field(), "name");
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers/web1?tenant=acme", NULL), 200);
	assert_int_equal(json_integer_value(json_object_get(last.json, "vcpus")), 2);

	/* start: no monitor binary here, so the task fails and the server is in error */
	assert_int_equal(call(ROOT, "POST", "/api/v1/servers/web1/start", NULL), 202);
	assert_string_equal(str(json_object_get(last.json, "server"), "state"), "starting");
	last_task_id(id);
	t = wait_task(id);
	assert_int_equal(t->state, DB_TASK_FAILED);
	assert_int_equal(call(ROOT, "GET", bodyf("/api/v1/tasks/%s", id), NULL), 200);
	assert_string_equal(str(last.json, "state"), "failed");
	assert_contains(str(json_object_get(last.json, "error"), "message"),
			"server 'web1': start");
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers/web1", NULL), 200);
	assert_string_equal(str(last.json, "state"), "error");
	assert_int_equal(call(ROOT, "POST", "/api/v1/servers/web1/stop", NULL), 409);
	assert_string_equal(err_message(), "server 'web1' is error: cannot stop it");

	/* a tenant with a server cannot go */
	assert_int_equal(call(ROOT, "DELETE", "/api/v1/tenants/acme", NULL), 409);

	/* tasks list, newest first */
	assert_int_equal(call(ROOT, "GET", "/api/v1/tasks", NULL), 200);
	assert_int_equal(json_array_size(last.json), 2);
	assert_string_equal(str(json_array_get(last.json, 1), "id"), create_id);
	assert_string_equal(str(json_array_get(last.json, 1), "kind"), "server.create");
	assert_string_equal(str(json_array_get(last.json, 1), "state"), "succeeded");
	assert_int_equal(call(ROOT, "GET", "/api/v1/tasks?limit=1", NULL), 200);
	assert_int_equal(json_array_size(last.json), 1);

	/* delete from error */
	assert_int_equal(call(ROOT, "DELETE", "/api/v1/servers/web1", NULL), 202);
	last_task_id(id);
	db_task_free(t);
	t = wait_task(id);
	assert_int_equal(t->state, DB_TASK_SUCCEEDED);
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers/web1", NULL), 404);
	assert_int_equal(call(ROOT, "DELETE", "/api/v1/tenants/acme", NULL), 200);
}

static void test_server_name_in_two_tenants(void **state)
{
	char id[33];

	if (!server_tests_possible())
		skip();
	make_tenant("acme");
	make_tenant("globex");
	make_server("acme", "web1", id);
	make_server("globex", "web1", id);
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers/web1", NULL), 409);
	assert_contains(err_message(), "exists in 2 tenants");
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers/web1?tenant=globex", NULL), 200);
	assert_string_equal(str(last.json, "tenant"), "globex");
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers", NULL), 200);
	assert_int_equal(json_array_size(last.json), 2);
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers?tenant=acme", NULL), 200);
	assert_int_equal(json_array_size(last.json), 1);
}

/* --- isolation ----------------------------------------------------------------------------- */

/* Without --uplink: reads answer (empty), writes 503 naming the flag; rights as for any route. */
static void test_networks_disabled(void **state)
{
	const char *viewer, *owner;

	make_tenant("acme");
	make_user(ROOT, "aview", "viewer", "acme");
	make_user(ROOT, "aown", "owner", "acme");
	viewer = login("aview", 0);
	owner = login("aown", 1);

	assert_int_equal(call(viewer, "GET", "/api/v1/networks", NULL), 200);
	assert_int_equal(json_array_size(last.json), 0);
	assert_int_equal(call(viewer, "GET", "/api/v1/ports", NULL), 200);
	assert_int_equal(call(viewer, "POST", "/api/v1/networks", "{\"name\":\"lan\"}"), 403);
	assert_non_null(strstr(err_message(), "networks.write"));
	assert_int_equal(call(owner, "POST", "/api/v1/networks", "{\"name\":\"lan\"}"), 503);
	assert_non_null(strstr(err_message(), "--uplink"));
	assert_int_equal(call(owner, "POST", "/api/v1/networks", "{\"name\":\"lan\",\"x\":1}"),
			 400);
	assert_int_equal(call(owner, "GET", "/api/v1/networks/lan", NULL), 404);
	assert_int_equal(call(owner, "DELETE", "/api/v1/networks/lan", NULL), 404);
	assert_int_equal(call(owner, "GET", "/api/v1/networks/Bad_Name", NULL), 400);
	if (!server_tests_possible())
		return;
	assert_int_equal(call(owner, "POST", "/api/v1/servers",
			      "{\"name\":\"web1\",\"template\":\"busybox\",\"networks\":\"lan\"}"),
			 400);
	assert_string_equal(err_field(), "networks");
	assert_int_equal(call(owner, "POST", "/api/v1/servers",
			      "{\"name\":\"web1\",\"template\":\"busybox\",\"networks\":[{"
			      "\"network\":\"lan\"}]}"),
			 503);
	assert_int_equal(call(owner, "POST", "/api/v1/servers",
			      "{\"name\":\"web1\",\"template\":\"busybox\",\"bandwidth\":\"9X\"}"),
			 400);
	assert_string_equal(err_field(), "bandwidth");
	/* nothing was left behind by the refusals */
	assert_int_equal(call(owner, "GET", "/api/v1/servers", NULL), 200);
	assert_int_equal(json_array_size(last.json), 0);
}

static void test_isolation(void **state)
{
	const char *mine, *theirs, *op;
	char task_id[33];

	if (!server_tests_possible())
		skip();
	make_tenant("acme");
	make_tenant("globex");
	make_user(ROOT, "aown", "owner", "acme");
	make_user(ROOT, "gown", "owner", "globex");
	make_user(ROOT, "aop", "operator", "acme");
	make_server("acme", "web1", task_id);
	mine = login("aown", 0);
	theirs = login("gown", 1);
	op = login("aop", 2);

	/* the owner of acme sees it */
	assert_int_equal(call(mine, "GET", "/api/v1/servers/web1", NULL), 200);
	assert_int_equal(call(mine, "GET", "/api/v1/servers", NULL), 200);
	assert_int_equal(json_array_size(last.json), 1);
	assert_int_equal(call(mine, "GET", bodyf("/api/v1/tasks/%s", task_id), NULL), 200);
	assert_int_equal(call(mine, "GET", "/api/v1/tasks", NULL), 200);
	assert_int_equal(json_array_size(last.json), 1);

	/* globex's owner: acme's server and task do not exist */
	assert_int_equal(call(theirs, "GET", "/api/v1/servers/web1", NULL), 404);
	assert_string_equal(err_message(), "server 'web1' not found");
	assert_int_equal(call(theirs, "GET", "/api/v1/servers/web1?tenant=acme", NULL), 404);
	assert_int_equal(call(theirs, "PATCH", "/api/v1/servers/web1", "{\"vcpus\":4}"), 404);
	assert_int_equal(call(theirs, "DELETE", "/api/v1/servers/web1", NULL), 404);
	assert_int_equal(call(theirs, "POST", "/api/v1/servers/web1/start", NULL), 404);
	assert_int_equal(call(theirs, "POST", "/api/v1/servers/web1/stop", NULL), 404);
	assert_int_equal(call(theirs, "POST", "/api/v1/servers/web1/restart", NULL), 404);
	assert_int_equal(call(theirs, "GET", "/api/v1/servers", NULL), 200);
	assert_int_equal(json_array_size(last.json), 0);
	assert_int_equal(call(theirs, "GET", "/api/v1/servers?tenant=acme", NULL), 404);
	assert_int_equal(call(theirs, "GET", bodyf("/api/v1/tasks/%s", task_id), NULL), 404);
	assert_int_equal(call(theirs, "GET", "/api/v1/tasks", NULL), 200);
	assert_int_equal(json_array_size(last.json), 0);
	assert_int_equal(call(theirs, "POST", "/api/v1/servers",
			      "{\"name\":\"web2\",\"template\":\"busybox\",\"tenant\":\"acme\"}"),
			 404);
	assert_int_equal(call(ROOT, "GET", "/api/v1/servers/web1", NULL), 200);
	assert_int_equal(json_integer_value(json_object_get(last.json, "vcpus")), 1);
	assert_string_equal(str(last.json, "state"), "stopped");

	/* the same name in globex is a different server */
	assert_int_equal(call(theirs, "POST", "/api/v1/servers",
			      "{\"name\":\"web1\",\"template\":\"busybox\",\"memory\":\"64M\"}"),
			 202);
	assert_string_equal(str(json_object_get(last.json, "server"), "tenant"), "globex");
	last_task_id(task_id);
	db_task_free(wait_task(task_id));
	assert_int_equal(call(mine, "GET", "/api/v1/servers/web1", NULL), 200);
	assert_int_equal(json_integer_value(json_object_get(last.json, "memory")), 256 << 20);

	/* an operator operates but does not change */
	assert_int_equal(call(op, "PATCH", "/api/v1/servers/web1", "{\"vcpus\":4}"), 403);
	assert_contains(err_message(), "servers.write");
	assert_int_equal(call(op, "DELETE", "/api/v1/servers/web1", NULL), 403);
	assert_int_equal(call(op, "POST", "/api/v1/servers/web1/stop", NULL), 409);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routing_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_token_with_tenant_role, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_name_in_two_tenants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_networks_disabled, setup, teardown),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

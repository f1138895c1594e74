/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carved's real REST API (every route, handler, database row and task) behind
 * http_request_process(), on a daemon set up once in a temporary directory. The monitor binary
 * does not exist, so a start fails in its task and no container ever runs.
 *
 * Input: "<method><caller><any byte><target>\n<body>".
 *   method: G GET, P POST, A PATCH, D DELETE, U PUT, H HEAD, O OPTIONS; other bytes pick one.
 *   caller: r root on the unix socket, o the owner of tenant "fz" (a login session), v a viewer
 *           token of "fz", a anonymous over TCP, u a non-root uid on the unix socket, x an
 *           unknown bearer secret, t an owner-role token of the provider admin "fzadmin"; other
 *           bytes pick one.
 *   target: the raw request target; "@task" in it becomes the id of the last task answered,
 *           "@id" the id of the last object created (a 201), so later inputs can name them.
 *   body:   everything after the first newline; sent as application/json when not empty.
 * FUZZ_API_VERBOSE=1 in the environment prints each request and its answer.
 *
 * Invariants: the status is in 200..599 and never 500 (an internal error reachable from input);
 * an error answer is {"error":{"code","message"}} with the code for its status; a JSON answer
 * serializes and parses back; the tenant users and the restricted admin token see nothing beyond
 * their scope (check_scope). State is bounded: after RESET_AFTER created objects (or inputs) the
 * daemon is torn down and set up afresh.
 */
#include <stdio.h>
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
#include "fuzz.h"

#define RESET_AFTER_CREATED 40
#define RESET_AFTER_INPUTS 20000
#define PASSWORD "fuzz-password"

static struct daemon d;
static char tmpdir[PATH_MAX];
static bool ready;
static unsigned created, inputs;
static char owner_secret[AUTH_SECRET_LEN + 1], viewer_secret[AUTH_SECRET_LEN + 1];
static char limited_secret[AUTH_SECRET_LEN + 1];
static char owner_id[33], viewer_id[33], admin_id[33];
static char last_task[33] = "0123456789abcdef0123456789abcdef";
static char last_id[33] = "0123456789abcdef0123456789abcdef";

static void check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "fuzz-api: set up: %s: %s\n", what, strerror(-r));
		abort();
	}
}

static void make_secret(const char *user_id, bool session, enum db_role role, char *secret)
{
	struct db_token t = {0};

	check(auth_secret_new(secret, t.token_hash), "secret");
	strscpy(t.user_id, user_id, sizeof(t.user_id));
	if (!session)
		strscpy(t.name, "fuzz", sizeof(t.name));
	t.is_session = session;
	t.role = role;
	check(db_token_create(d.db, &t, NULL), "token");
}

static void make_user(const char *name, const char *tenant_id, enum db_role role, const char *hash,
		      struct db_user *u)
{
	memset(u, 0, sizeof(*u));
	strscpy(u->name, name, sizeof(u->name));
	strscpy(u->tenant_id, tenant_id, sizeof(u->tenant_id));
	u->role = role;
	u->password_hash = (char *)hash;
	check(db_user_create(d.db, u, NULL), "user");
}

static void teardown(void)
{
	if (!ready)
		return;
	d.tasks = tasks_free(d.tasks);
	d.watcher = watcher_free(d.watcher);
	d.router = http_router_free(d.router);
	d.throttle = auth_throttle_free(d.throttle);
	d.pool = storage_pool_free(d.pool);
	d.db = db_close(d.db);
	(void)rm_rf(tmpdir);
	ready = false;
}

static void setup(void)
{
	static bool registered;
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *hash = NULL;
	struct db_tenant t = {0}, t2 = {0};
	struct db_user owner, viewer, other;
	char path[PATH_MAX + 32];

	memset(&d, 0, sizeof(d));
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/carve-fuzz-api-XXXXXX");
	if (!mkdtemp(tmpdir))
		check(-errno, "mkdtemp");
	snprintf(d.state_dir, sizeof(d.state_dir), "%s/state", tmpdir);
	snprintf(d.run_dir, sizeof(d.run_dir), "%s/run", tmpdir);
	snprintf(path, sizeof(path), "%s/servers", d.run_dir);
	check(mkdir_p(d.state_dir, 0700), "state dir");
	check(mkdir_p(path, 0700), "run dir");
	strscpy(d.monitor_binary, "/nonexistent/carve-monitor", sizeof(d.monitor_binary));
	d.monitor_fd = -EBADF;
	strscpy(d.cgroup_prefix, "carve-fuzz", sizeof(d.cgroup_prefix));
	d.uid_base = 1000000;
	d.session_ttl = 3600;
	d.stop_timeout = 1;

	snprintf(path, sizeof(path), "%s/carve.db", d.state_dir);
	check(db_open(path, &d.db, &err), "db");
	snprintf(path, sizeof(path), "%s/pools/default", d.state_dir);
	check(storage_pool_open("dir", "default", path, &d.pool, &err), "pool");
	/* without /bin/busybox the template is missing and creates answer 422: still fuzzable */
	(void)templates_bootstrap(&d, &err);
	check(auth_throttle_new(&d.throttle), "throttle");
	check(watcher_new(&d, &d.watcher), "watcher");
	check(tasks_new(&d, 1, &d.tasks), "tasks");
	check(http_router_new(&d.router), "router");
	check(api_register(&d), "routes");

	strscpy(t.name, "fz", sizeof(t.name));
	t.description = (char *)"fuzz";
	check(db_tenant_create(d.db, &t, NULL), "tenant");
	strscpy(t2.name, "other", sizeof(t2.name));
	t2.description = (char *)"";
	check(db_tenant_create(d.db, &t2, NULL), "tenant");
	check(auth_password_hash(PASSWORD, &hash, NULL), "hash");
	make_user("fzowner", t.id, DB_ROLE_OWNER, hash, &owner);
	make_user("fzviewer", t.id, DB_ROLE_VIEWER, hash, &viewer);
	make_user("otherowner", t2.id, DB_ROLE_OWNER, hash, &other);
	make_user("fzadmin2", "", DB_ROLE_ADMIN, hash, &other);
	make_user("fzadmin", "", DB_ROLE_ADMIN, hash, &other);
	make_secret(owner.id, true, DB_ROLE_OWNER, owner_secret);
	make_secret(viewer.id, false, DB_ROLE_VIEWER, viewer_secret);
	strscpy(owner_id, owner.id, sizeof(owner_id));
	strscpy(viewer_id, viewer.id, sizeof(viewer_id));
	strscpy(admin_id, other.id, sizeof(admin_id));
	make_secret(admin_id, false, DB_ROLE_OWNER, limited_secret);

	created = inputs = 0;
	ready = true;
	if (!registered) {
		atexit(teardown);
		registered = true;
	}
}

/*
 * An input may log the owner out, revoke the viewer's token or delete either user. Give the
 * caller a new secret when its own is gone, and start afresh when the user is gone, so that
 * later inputs keep reaching past authentication.
 */
static void refresh_secret(const char *user_id, bool session, enum db_role role, char *secret)
{
	cleanup(db_token_freep) struct db_token *t = NULL;
	cleanup(db_user_freep) struct db_user *u = NULL;
	char hash[65];

	auth_secret_hash(secret, hash);
	if (db_token_get_by_hash(d.db, hash, &t, NULL) >= 0)
		return;
	if (db_user_get_by_id(d.db, user_id, &u, NULL) < 0) {
		teardown();
		setup();
		return;
	}
	make_secret(user_id, session, role, secret);
}

static const char *pick_method(uint8_t b)
{
	static const char *const methods[] = {"GET", "POST", "PATCH",	"DELETE",
					      "PUT", "HEAD", "OPTIONS", "POST"};
	switch (b) {
	case 'G':
		return "GET";
	case 'P':
		return "POST";
	case 'A':
		return "PATCH";
	case 'D':
		return "DELETE";
	case 'U':
		return "PUT";
	case 'H':
		return "HEAD";
	case 'O':
		return "OPTIONS";
	default:
		return methods[b % ELEMENTSOF(methods)];
	}
}

enum fuzz_caller {
	ROOT,
	OWNER,
	VIEWER,
	ANON,
	USER_UNIX,
	BAD_BEARER,
	LIMITED,
	_CALLER_MAX
};

static enum fuzz_caller pick_caller(uint8_t b)
{
	static const char letters[] = "rovauxt";
	const char *p = b ? strchr(letters, b) : NULL;

	return p ? (enum fuzz_caller)(p - letters) : (enum fuzz_caller)(b % _CALLER_MAX);
}

/* Copy target into buf, replacing "@task" and "@id". */
static void expand(const char *target, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < size;) {
		const char *with = NULL;
		size_t skip = 0;

		if (len - i >= 5 && memcmp(target + i, "@task", 5) == 0)
			with = last_task, skip = 5;
		else if (len - i >= 3 && memcmp(target + i, "@id", 3) == 0)
			with = last_id, skip = 3;
		if (with) {
			size_t n = strlen(with);
			if (o + n + 1 >= size)
				break;
			memcpy(buf + o, with, n);
			o += n;
			i += skip;
		} else
			buf[o++] = target[i++];
	}
	buf[o] = '\0';
}

/*
 * Tenant isolation: whatever the owner or viewer of "fz" gets names no other tenant, and what
 * the admin's owner-role token gets names no tenant and no user but that admin.
 */
static void check_scope(json_t *j, enum fuzz_caller caller)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_array(j)) {
		json_array_foreach (j, i, v)
			check_scope(v, caller);
		return;
	}
	if (!json_is_object(j))
		return;
	v = json_object_get(j, "tenant");
	if (v && caller == LIMITED) {
		fuzz_assert(json_is_null(v));
		if (json_object_get(j, "role"))
			fuzz_assert(
				streq(json_string_value(json_object_get(j, "name")), "fzadmin"));
	} else if (v)
		fuzz_assert(json_is_string(v) && streq(json_string_value(v), "fz"));
	if (json_object_get(j, "uid_base"))
		fuzz_assert(caller != LIMITED &&
			    streq(json_string_value(json_object_get(j, "name")), "fz"));
	fuzz_assert(!json_object_get(j, "password_hash") && !json_object_get(j, "token_hash"));
	json_object_foreach (j, key, v)
		check_scope(v, caller);
}

static void check_response(struct http_response *resp, enum fuzz_caller caller)
{
	int status = resp->status ? resp->status : 200;
	json_t *id;

	fuzz_assert(status >= 200 && status <= 599);
	if (status == 500)
		fprintf(stderr, "500: %s\n",
			json_string_value(
				json_object_get(json_object_get(resp->json, "error"), "message")));
	fuzz_assert(status != 500);
	if (status >= 400) {
		json_t *e = json_object_get(resp->json, "error");
		fuzz_assert(json_is_object(e));
		fuzz_assert(streq(json_string_value(json_object_get(e, "code")),
				  http_status_to_code(status)));
		fuzz_assert(json_is_string(json_object_get(e, "message")));
		fuzz_assert(json_string_length(json_object_get(e, "message")) > 0);
	} else
		fuzz_assert(resp->json != NULL);
	if (status == 405)
		fuzz_assert(resp->allow[0] != '\0');
	if (status == 429)
		fuzz_assert(resp->retry_after > 0);
	if (resp->json) {
		char *dumped = json_dumps(resp->json, JSON_COMPACT | JSON_ENCODE_ANY);
		json_t *back;

		fuzz_assert(dumped != NULL);
		back = json_loads(dumped, JSON_DECODE_ANY, NULL);
		fuzz_assert(back != NULL);
		fuzz_assert(json_equal(back, resp->json));
		json_decref(back);
		free(dumped);
	}

	if (caller == OWNER || caller == VIEWER || caller == LIMITED)
		check_scope(resp->json, caller);

	if (status == 202) {
		id = json_object_get(json_object_get(resp->json, "task"), "id");
		fuzz_assert(json_is_string(id) && strlen(json_string_value(id)) == 32);
		strscpy(last_task, json_string_value(id), sizeof(last_task));
		created++;
	} else if (status == 201) {
		id = json_object_get(resp->json, "id");
		fuzz_assert(json_is_string(id) && strlen(json_string_value(id)) == 32);
		strscpy(last_id, json_string_value(id), sizeof(last_id));
		created++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	char target[HTTP_PATH_MAX * 2], header[16 + AUTH_SECRET_LEN];
	struct http_request req = {0};
	struct http_response resp = {0};
	cleanup_free char *body = NULL;
	enum fuzz_caller caller;

	if (size < 3 || size > 64 * 1024)
		return 0;
	if (!ready) {
		log_set_level(LOG_LEVEL_ERROR);
		setup();
	}
	req.method = pick_method(data[0]);
	caller = pick_caller(data[1]);
	p += 3;
	nl = memchr(p, '\n', (size_t)(end - p));
	expand(p, (size_t)((nl ? nl : end) - p), target, sizeof(target));
	p = nl ? nl + 1 : end;

	body = malloc((size_t)(end - p) + 1);
	if (!body)
		return 0;
	memcpy(body, p, (size_t)(end - p));
	body[end - p] = '\0';
	req.body = body;
	req.body_len = (size_t)(end - p);
	req.content_type = req.body_len > 0 ? "application/json" : NULL;
	req.peer_uid = (uid_t)-1;
	strscpy(req.remote, "127.0.0.1", sizeof(req.remote));
	switch (caller) {
	case ROOT:
	case USER_UNIX:
		req.via_unix = true;
		req.peer_uid = caller == ROOT ? 0 : 1000;
		strscpy(req.remote, "unix", sizeof(req.remote));
		break;
	case OWNER:
		refresh_secret(owner_id, true, DB_ROLE_OWNER, owner_secret);
		snprintf(header, sizeof(header), "Bearer %s", owner_secret);
		req.authorization = header;
		break;
	case VIEWER:
		refresh_secret(viewer_id, false, DB_ROLE_VIEWER, viewer_secret);
		snprintf(header, sizeof(header), "Bearer %s", viewer_secret);
		req.authorization = header;
		break;
	case LIMITED:
		refresh_secret(admin_id, false, DB_ROLE_OWNER, limited_secret);
		snprintf(header, sizeof(header), "Bearer %s", limited_secret);
		req.authorization = header;
		break;
	case BAD_BEARER:
		snprintf(header, sizeof(header), "Bearer carve_%064d", 0);
		req.authorization = header;
		break;
	default:
		break;
	}

	http_request_process(d.router, &req, target, &resp);
	if (getenv("FUZZ_API_VERBOSE"))
		fprintf(stderr, "%s %c %.80s -> %d %.160s\n", req.method, "rovauxt"[caller], target,
			resp.status ? resp.status : 200,
			json_string_value(
				json_object_get(json_object_get(resp.json, "error"), "message")));
	check_response(&resp, caller);
	fuzz_assert(req.path == NULL);
	http_response_release(&resp);

	if (++inputs >= RESET_AFTER_INPUTS || created >= RESET_AFTER_CREATED) {
		teardown();
		setup();
	}
	return 0;
}

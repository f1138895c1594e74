/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/string-util.h"
#include "http/http.h"

struct seen {
	int calls;
	const char *which;
	char name[64];
	char id[64];
	size_t n_params;
};

static void handler(struct http_request *req, struct http_response *resp, void *userdata)
{
	struct seen *s = userdata;
	const char *v;

	s->calls++;
	s->n_params = req->n_params;
	v = http_request_param(req, "name");
	snprintf(s->name, sizeof(s->name), "%s", v ? v : "(null)");
	v = http_request_param(req, "id");
	snprintf(s->id, sizeof(s->id), "%s", v ? v : "(null)");
	http_response_json(resp, 200, json_pack("{s:s}", "method", req->method));
}

static struct seen s_list, s_create, s_get, s_delete, s_start, s_snap, s_root;

static struct http_router *make_router(void)
{
	struct http_router *r = NULL;

	assert_int_equal(http_router_new(&r), 0);
	assert_int_equal(http_router_add(r, "GET", "/", handler, &s_root), 0);
	assert_int_equal(http_router_add(r, "GET", "/api/v1/servers", handler, &s_list), 0);
	assert_int_equal(http_router_add(r, "POST", "/api/v1/servers", handler, &s_create), 0);
	assert_int_equal(http_router_add(r, "GET", "/api/v1/servers/{name}", handler, &s_get), 0);
	assert_int_equal(http_router_add(r, "DELETE", "/api/v1/servers/{name}", handler, &s_delete),
			 0);
	assert_int_equal(
		http_router_add(r, "POST", "/api/v1/servers/{name}/start", handler, &s_start), 0);
	assert_int_equal(http_router_add(r, "GET", "/api/v1/servers/{name}/snapshots/{id}", handler,
					 &s_snap),
			 0);
	memset(&s_list, 0, sizeof(s_list));
	memset(&s_create, 0, sizeof(s_create));
	memset(&s_get, 0, sizeof(s_get));
	memset(&s_delete, 0, sizeof(s_delete));
	memset(&s_start, 0, sizeof(s_start));
	memset(&s_snap, 0, sizeof(s_snap));
	memset(&s_root, 0, sizeof(s_root));
	return r;
}

static const char *error_code(const struct http_response *resp)
{
	json_t *e = json_object_get(resp->json, "error");
	return json_string_value(json_object_get(e, "code"));
}

static int dispatch(struct http_router *r, const char *method, const char *path,
		    struct http_response *resp)
{
	struct http_request req = {.method = method, .path = path, .body = ""};

	http_router_dispatch(r, &req, resp);
	return resp->status;
}

static void test_match_and_params(void **state)
{
	struct http_router *r = make_router();
	struct http_response resp = {};

	assert_int_equal(dispatch(r, "GET", "/api/v1/servers", &resp), 200);
	assert_int_equal(s_list.calls, 1);
	assert_int_equal(s_list.n_params, 0);
	http_response_release(&resp);

	assert_int_equal(dispatch(r, "GET", "/api/v1/servers/web1", &resp), 200);
	assert_int_equal(s_get.calls, 1);
	assert_string_equal(s_get.name, "web1");
	assert_int_equal(s_get.n_params, 1);
	http_response_release(&resp);

	assert_int_equal(dispatch(r, "DELETE", "/api/v1/servers/web2", &resp), 200);
	assert_int_equal(s_delete.calls, 1);
	assert_string_equal(s_delete.name, "web2");
	assert_int_equal(s_get.calls, 1);
	http_response_release(&resp);

	assert_int_equal(dispatch(r, "POST", "/api/v1/servers/db/start", &resp), 200);
	assert_int_equal(s_start.calls, 1);
	assert_string_equal(s_start.name, "db");
	http_response_release(&resp);

	assert_int_equal(dispatch(r, "GET", "/api/v1/servers/db/snapshots/abc", &resp), 200);
	assert_string_equal(s_snap.name, "db");
	assert_string_equal(s_snap.id, "abc");
	assert_int_equal(s_snap.n_params, 2);
	http_response_release(&resp);

	assert_int_equal(dispatch(r, "GET", "/", &resp), 200);
	assert_int_equal(s_root.calls, 1);
	http_response_release(&resp);

	/* HEAD is answered by the GET handler */
	assert_int_equal(dispatch(r, "HEAD", "/api/v1/servers", &resp), 200);
	assert_int_equal(s_list.calls, 2);
	http_response_release(&resp);

	http_router_free(r);
}

static void test_404(void **state)
{
	struct http_router *r = make_router();
	struct http_response resp = {};
	static const char *const paths[] = {
		"/api/v1/server", /* literal mismatch */
		"/api/v1/servers/a/b", /* too many segments */
		"/api/v1", /* too few */
		"/api/v1/servers/web1/stop", /* unknown action */
		"/api/v1/servers/", /* empty parameter */
		"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", /* more segments than any route */
	};

	for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
		assert_int_equal(dispatch(r, "GET", paths[i], &resp), 404);
		assert_string_equal(error_code(&resp), "not_found");
		assert_true(json_is_string(
			json_object_get(json_object_get(resp.json, "error"), "message")));
		http_response_release(&resp);
	}
	assert_int_equal(s_get.calls + s_list.calls + s_start.calls, 0);
	http_router_free(r);
}

static void test_405(void **state)
{
	struct http_router *r = make_router();
	struct http_response resp = {};

	assert_int_equal(dispatch(r, "PUT", "/api/v1/servers/web1", &resp), 405);
	assert_string_equal(error_code(&resp), "method_not_allowed");
	assert_string_equal(resp.allow, "GET, DELETE");
	assert_int_equal(s_get.calls + s_delete.calls, 0);
	http_response_release(&resp);

	memset(&resp, 0, sizeof(resp));
	assert_int_equal(dispatch(r, "DELETE", "/api/v1/servers", &resp), 405);
	assert_string_equal(resp.allow, "GET, POST");
	http_response_release(&resp);
	http_router_free(r);
}

static void test_add_invalid(void **state)
{
	struct http_router *r = NULL;

	assert_int_equal(http_router_new(&r), 0);
	assert_int_equal(http_router_add(r, "GET", "no-slash", handler, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, "GET", "/a//b", handler, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, "GET", "/a/", handler, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, "GET", "/a/{}", handler, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, "GET", "/a/{x", handler, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, "GET", "/a", NULL, NULL), -EINVAL);
	assert_int_equal(
		http_router_add(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", handler, NULL),
		-EINVAL);
	http_router_free(r);
	assert_null(http_router_free(NULL));
}

static void test_target_parse(void **state)
{
	char buf[HTTP_PATH_MAX + 1];
	const char *q = NULL;
	struct carve_error err = CARVE_ERROR_INIT;
	char big[HTTP_PATH_MAX + 16];

	assert_int_equal(http_target_parse("/api/v1/servers?limit=5&x", buf, sizeof(buf), &q, &err),
			 0);
	assert_string_equal(buf, "/api/v1/servers");
	assert_string_equal(q, "limit=5&x");

	assert_int_equal(http_target_parse("/a%20b/%C3%A9", buf, sizeof(buf), &q, NULL), 0);
	assert_string_equal(buf, "/a b/\xc3\xa9");
	assert_null(q);

	static const char *const bad[] = {
		"",	 "relative",  "/a/%00",	     "/a/%2",  "/a/%zz",
		"/a//b", "/a/../b",   "/a/%2e%2E/b", "/..",    "/a/./b",
		"/a/.",	 "/a%2F%2Fb", "/a/%0a",	     "/a/%ff", "/a/%C0%AF",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		carve_err_clear(&err);
		assert_int_equal(http_target_parse(bad[i], buf, sizeof(buf), &q, &err), -EINVAL);
		assert_true(err.msg[0] != '\0');
	}
	/* dots inside a segment are fine */
	assert_int_equal(http_target_parse("/a/..b/c.d/...", buf, sizeof(buf), &q, NULL), 0);

	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[HTTP_PATH_MAX] = '\0';
	assert_int_equal(http_target_parse(big, buf, sizeof(buf), &q, NULL), 0);
	big[HTTP_PATH_MAX] = 'a';
	big[HTTP_PATH_MAX + 1] = '\0';
	assert_int_equal(http_target_parse(big, buf, sizeof(buf), &q, NULL), -ENAMETOOLONG);
}

static void test_query(void **state)
{
	struct http_request req = {.query = "limit=10&name=a%20b+c&flag&empty=&bad=%zz&k%65y=v"};
	char buf[64], small[3];

	assert_string_equal(http_request_query(&req, "limit", buf, sizeof(buf)), "10");
	assert_string_equal(http_request_query(&req, "name", buf, sizeof(buf)), "a b c");
	assert_string_equal(http_request_query(&req, "flag", buf, sizeof(buf)), "");
	assert_string_equal(http_request_query(&req, "empty", buf, sizeof(buf)), "");
	assert_string_equal(http_request_query(&req, "key", buf, sizeof(buf)), "v");
	assert_null(http_request_query(&req, "bad", buf, sizeof(buf)));
	assert_null(http_request_query(&req, "missing", buf, sizeof(buf)));
	assert_null(http_request_query(&req, "lim", buf, sizeof(buf)));
	assert_null(http_request_query(&req, "limit", small, 2)); /* does not fit */
	req.query = NULL;
	assert_null(http_request_query(&req, "limit", buf, sizeof(buf)));
}

static void test_response_error(void **state)
{
	struct http_response resp = {};
	static const struct {
		int status;
		const char *code;
	} table[] = {
		{400, "invalid_argument"},
		{401, "unauthenticated"},
		{403, "forbidden"},
		{404, "not_found"},
		{405, "method_not_allowed"},
		{409, "conflict"},
		{413, "payload_too_large"},
		{414, "uri_too_long"},
		{415, "unsupported_media_type"},
		{422, "unprocessable"},
		{429, "too_many_requests"},
		{431, "headers_too_large"},
		{500, "internal"},
		{503, "unavailable"},
		{507, "insufficient_storage"},
	};
	char *s;

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		http_response_error(&resp, table[i].status, NULL, "x");
		assert_int_equal(resp.status, table[i].status);
		assert_string_equal(error_code(&resp), table[i].code);
		assert_string_equal(http_status_to_code(table[i].status), table[i].code);
	}

	http_response_error(&resp, 400, "memory", "server '%s': memory '%s': not a size", "web1",
			    "12X");
	s = json_dumps(resp.json, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
		s,
		"{\"error\":{\"code\":\"invalid_argument\",\"field\":\"memory\",\"message\":\"server 'web1': memory '12X': not a size\"}}");
	free(s);

	/* invalid UTF-8 in a message still gives a JSON body */
	http_response_error(&resp, 404, "\xff", "server '%s' not found", "a\xc3(b");
	assert_non_null(resp.json);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(resp.json, "error"), "message")),
		"server 'a?(b' not found");
	http_response_release(&resp);
	assert_null(resp.json);
}

static void test_process(void **state)
{
	struct http_router *r = make_router();
	struct http_response resp = {};
	struct http_request req = {.method = "POST", .body = "{}", .body_len = 2};

	req.content_type = "text/plain";
	http_request_process(r, &req, "/api/v1/servers", &resp);
	assert_int_equal(resp.status, 415);
	assert_string_equal(error_code(&resp), "unsupported_media_type");
	assert_int_equal(s_create.calls, 0);
	http_response_release(&resp);

	req.content_type = "Application/JSON; charset=utf-8";
	http_request_process(r, &req, "/api/v1/servers?x=1", &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(s_create.calls, 1);
	assert_null(req.path); /* pointers into the stack are not left behind */
	http_response_release(&resp);

	req.content_type = NULL;
	http_request_process(r, &req, "/api/v1/servers", &resp);
	assert_int_equal(resp.status, 200);
	http_response_release(&resp);

	http_request_process(r, &req, "/api/v1/../v1/servers", &resp);
	assert_int_equal(resp.status, 400);
	http_response_release(&resp);

	http_request_process(r, &req, "/api/v1/servers/w%2Fx", &resp);
	assert_int_equal(resp.status, 404);
	http_response_release(&resp);

	http_request_process(r, &req, "/api/v1/servers/w%20x", &resp);
	assert_int_equal(resp.status, 405);
	http_response_release(&resp);

	req.method = "GET";
	http_request_process(r, &req, "/api/v1/servers/w%20x", &resp);
	assert_int_equal(resp.status, 200);
	assert_string_equal(s_get.name, "w x");
	http_response_release(&resp);

	http_router_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_and_params),
		cmocka_unit_test(test_404),
		cmocka_unit_test(test_405),
		cmocka_unit_test(test_add_invalid),
		cmocka_unit_test(test_target_parse),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_response_error),
		cmocka_unit_test(test_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

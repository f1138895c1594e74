/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A raw HTTP/1.1 request through the code the server runs once libmicrohttpd has framed it:
 * http_request_process() (target decoding and validation, the 415 check, routing) into handlers
 * shaped like carved's (json_parse_object, the getters, the base parsers, query parameters).
 *
 * The input is split the way libmicrohttpd hands a request over: the request line gives method
 * and raw target (what the URI log callback sees), headers give Content-Type and Authorization,
 * the rest is the body. Inputs that libmicrohttpd itself would refuse are skipped.
 *
 * Invariants: every response has a status in 200..599; error responses carry
 * {"error":{"code","message"}} with the code for the status; a 405 has an Allow header; every
 * response serializes; a handler never sees a path parameter that is empty, contains '/' or is
 * "." or "..".
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "base/parse-util.h"
#include "base/string-util.h"
#include "fuzz.h"
#include "http/http.h"

static void check_param(const struct http_request *req, const char *name)
{
	const char *v = http_request_param(req, name);

	fuzz_assert(v != NULL);
	fuzz_assert(v[0] != '\0' && !strchr(v, '/') && !streq(v, ".") && !streq(v, ".."));
}

static void fail(struct http_response *resp, const struct carve_error *err)
{
	http_response_error(resp, err->code == -ENOENT && !err->field[0] ? 404 : 400, err->field,
			    "%s", err->msg);
}

static void servers_list(struct http_request *req, struct http_response *resp, void *userdata)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char buf[128];
	uint64_t limit = 100;
	const char *v;

	v = http_request_query(req, "limit", buf, sizeof(buf));
	if (v && parse_uint64(v, 1, 1000, &limit, &err) < 0) {
		http_response_error(resp, 400, "limit", "limit: %s", err.msg);
		return;
	}
	v = http_request_query(req, "tenant", buf, sizeof(buf));
	if (v && parse_name(v, "tenant", &err) < 0) {
		http_response_error(resp, 400, "tenant", "%s", err.msg);
		return;
	}
	http_response_json(resp, 200,
			   json_pack("{s:[], s:I}", "servers", "limit", (json_int_t)limit));
}

static void servers_create(struct http_request *req, struct http_response *resp, void *userdata)
{
	static const char *const allowed[] = {"name", "template", "vcpus",	 "memory",
					      "disk", "start",	  "description", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = NULL, *tmpl = NULL, *mem = "512M", *disk = "10G", *desc = "";
	uint64_t vcpus = 1, mem_b, disk_b;
	bool start = false;
	json_t *o = NULL;

	if (json_parse_object(req->body, req->body_len, allowed, &o, &err) < 0 ||
	    json_get_string(o, "name", true, CARVE_NAME_MAX, &name, &err) < 0 ||
	    parse_name(name, "server", &err) < 0 ||
	    json_get_string(o, "template", true, CARVE_NAME_MAX, &tmpl, &err) < 0 ||
	    json_get_uint(o, "vcpus", false, 1, 64, &vcpus, &err) < 0 ||
	    json_get_string(o, "memory", false, 32, &mem, &err) < 0 ||
	    parse_size(mem, &mem_b, &err) < 0 ||
	    json_get_string(o, "disk", false, 32, &disk, &err) < 0 ||
	    parse_size(disk, &disk_b, &err) < 0 ||
	    json_get_string(o, "description", false, 1024, &desc, &err) < 0 ||
	    json_get_bool(o, "start", false, &start, &err) < 0) {
		json_decref(o);
		{
			http_response_error(resp, 400, err.field, "%s", err.msg);
			return;
		}
	}
	fuzz_assert(vcpus >= 1 && vcpus <= 64 && name_is_valid(name));
	snprintf(resp->location, sizeof(resp->location), "/api/v1/servers/%s", name);
	http_response_json(resp, 201,
			   json_pack("{s:s, s:s, s:I, s:I, s:I, s:b, s:s}", "name", name,
				     "template", tmpl, "vcpus", (json_int_t)vcpus, "memory",
				     (json_int_t)mem_b, "disk", (json_int_t)disk_b, "start", start,
				     "description", desc));
	json_decref(o);
}

static void server_get(struct http_request *req, struct http_response *resp, void *userdata)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = http_request_param(req, "name");

	check_param(req, "name");
	if (parse_name(name, "server", &err) < 0) {
		fail(resp, &err);
		return;
	}
	if (streq(name, "missing")) {
		http_response_error(resp, 404, NULL, "server '%s' not found", name);
		return;
	}
	http_response_json(resp, 200, json_pack("{s:s}", "name", name));
}

static void server_patch(struct http_request *req, struct http_response *resp, void *userdata)
{
	static const char *const allowed[] = {"vcpus", "memory", "description", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	const char *mem = NULL;
	uint64_t vcpus = 0, mem_b = 0;
	json_t *o = NULL;

	check_param(req, "name");
	if (json_parse_object(req->body, req->body_len, allowed, &o, &err) < 0 ||
	    json_get_uint(o, "vcpus", false, 1, 64, &vcpus, &err) < 0 ||
	    json_get_string(o, "memory", false, 32, &mem, &err) < 0 ||
	    (mem && parse_size(mem, &mem_b, &err) < 0)) {
		json_decref(o);
		{
			http_response_error(resp, 400, err.field, "server '%s': %s",
					    http_request_param(req, "name"), err.msg);
			return;
		}
	}
	json_decref(o);
	resp->status = 202;
	resp->retry_after = 1;
}

static void snapshot_restore(struct http_request *req, struct http_response *resp, void *userdata)
{
	struct carve_error err = CARVE_ERROR_INIT;

	check_param(req, "name");
	check_param(req, "id");
	if (parse_id(http_request_param(req, "id"), &err) < 0) {
		http_response_error(resp, 400, "id", "%s", err.msg);
		return;
	}
	http_response_error(resp, 409, NULL, "server '%s' is running",
			    http_request_param(req, "name"));
}

static struct http_router *router(void)
{
	static struct http_router *r;

	if (r)
		return r;
	if (http_router_new(&r) < 0 ||
	    http_router_add(r, "GET", "/api/v1/servers", servers_list, NULL) < 0 ||
	    http_router_add(r, "POST", "/api/v1/servers", servers_create, NULL) < 0 ||
	    http_router_add(r, "GET", "/api/v1/servers/{name}", server_get, NULL) < 0 ||
	    http_router_add(r, "PATCH", "/api/v1/servers/{name}", server_patch, NULL) < 0 ||
	    http_router_add(r, "POST", "/api/v1/servers/{name}/snapshots/{id}/restore",
			    snapshot_restore, NULL) < 0)
		abort();
	return r;
}

/* One line ending in "\r\n" or "\n", as a NUL-terminated copy; NULL at the end or on a NUL. */
static char *next_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n;
	char *s;

	if (!nl)
		return NULL;
	n = (size_t)(nl - *p);
	if (n > 0 && (*p)[n - 1] == '\r')
		n--;
	if (memchr(*p, '\0', n))
		return NULL;
	s = strndup(*p, n);
	*p = nl + 1;
	return s;
}

static void check_response(const struct http_request *req, struct http_response *resp)
{
	int status = resp->status ? resp->status : 200;
	char *dumped;

	fuzz_assert(status >= 200 && status <= 599);
	if (status >= 400) {
		json_t *e = json_object_get(resp->json, "error");
		fuzz_assert(json_is_object(e));
		fuzz_assert(streq(json_string_value(json_object_get(e, "code")),
				  http_status_to_code(status)));
		fuzz_assert(json_is_string(json_object_get(e, "message")));
	}
	if (status == 405)
		fuzz_assert(resp->allow[0] != '\0');
	if (resp->json) {
		dumped = json_dumps(resp->json, JSON_COMPACT);
		fuzz_assert(dumped != NULL);
		free(dumped);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char *line, *method = NULL, *target = NULL, *content_type = NULL, *auth = NULL;
	char *body = NULL, *sp1, *sp2;
	struct http_request req = {};
	struct http_response resp = {};
	size_t header_bytes = 0;

	line = next_line(&p, end);
	if (!line)
		return 0;
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || !streq(sp2 + 1, "HTTP/1.1") || sp1 == line)
		goto out;
	*sp1 = *sp2 = '\0';
	for (const char *m = line; *m; m++)
		if (!isupper((unsigned char)*m))
			goto out; /* libmicrohttpd wants a token; carve only uses upper-case ones */
	method = strdup(line);
	target = strdup(sp1 + 1);
	header_bytes = strlen(line) + 2;

	for (;;) {
		char *h = next_line(&p, end), *colon;
		if (!h)
			goto out; /* no end of headers: libmicrohttpd would still be waiting */
		if (h[0] == '\0') {
			free(h);
			break;
		}
		header_bytes += strlen(h) + 2;
		colon = strchr(h, ':');
		if (colon) {
			char *v = colon + 1;
			*colon = '\0';
			while (*v == ' ' || *v == '\t')
				v++;
			if (strcasecmp(h, "Content-Type") == 0 && !content_type)
				content_type = strdup(v);
			else if (strcasecmp(h, "Authorization") == 0 && !auth)
				auth = strdup(v);
		}
		free(h);
	}
	if (header_bytes > HTTP_HEADER_MAX || (size_t)(end - p) > HTTP_BODY_MAX)
		goto out; /* answered 431 / 413 before any of this runs */

	body = malloc((size_t)(end - p) + 1);
	if (!body)
		goto out;
	memcpy(body, p, (size_t)(end - p));
	body[end - p] = '\0';

	req.method = method;
	req.body = body;
	req.body_len = (size_t)(end - p);
	req.content_type = content_type;
	req.authorization = auth;
	req.via_unix = size & 1;
	req.peer_uid = req.via_unix ? 0 : (uid_t)-1;
	snprintf(req.remote, sizeof(req.remote), "%s", req.via_unix ? "unix" : "127.0.0.1");

	http_request_process(router(), &req, target, &resp);
	check_response(&req, &resp);
	fuzz_assert(req.path == NULL && req.n_params == 0);
	http_response_release(&resp);
out:
	free(line);
	free(method);
	free(target);
	free(content_type);
	free(auth);
	free(body);
	return 0;
}

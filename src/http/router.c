/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Router, request targets and responses. Nothing here touches a socket, so the fuzzers and unit
 * tests drive exactly the code the server runs.
 *
 * Paths are decoded before they are split into segments, and a decoded path may not contain
 * "//", "." or ".." segments: a handler can then use a path parameter as a name without
 * worrying about traversal, and "%2F" cannot smuggle an extra segment past a pattern's literal
 * segments unnoticed (it becomes a separator and changes the segment count).
 */
#define LOG_DOMAIN "http"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"
#include "base/string-util.h"
#include "http/http.h"

#define ROUTE_SEGMENTS_MAX 16
#define ROUTES_MAX 512

struct route {
	char method[16];
	char *pattern; /* a copy, segments NUL-separated */
	size_t n_segments;
	const char *segments[ROUTE_SEGMENTS_MAX]; /* "{name}" segments point past the '{' */
	bool is_param[ROUTE_SEGMENTS_MAX];
	http_handler_fn fn;
	void *userdata;
};

struct http_router {
	struct route *routes;
	size_t n_routes;
};

/* --- responses ----------------------------------------------------------------------------- */

static const struct {
	int status;
	const char *code;
} status_codes[] = {
	{400, "invalid_argument"},  {401, "unauthenticated"},	 {403, "forbidden"},
	{404, "not_found"},	    {405, "method_not_allowed"}, {409, "conflict"},
	{413, "payload_too_large"}, {414, "uri_too_long"},	 {415, "unsupported_media_type"},
	{422, "unprocessable"},	    {429, "too_many_requests"},	 {431, "headers_too_large"},
	{500, "internal"},	    {503, "unavailable"},	 {507, "insufficient_storage"},
};

const char *http_status_to_code(int status)
{
	for (size_t i = 0; i < ELEMENTSOF(status_codes); i++)
		if (status_codes[i].status == status)
			return status_codes[i].code;
	if (status >= 400 && status < 500)
		return "invalid_argument";
	return "internal";
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. Rejects
 * overlong forms, surrogates and code points above U+10FFFF, as jansson does. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool utf8_is_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_sequence(p + i, n - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

/* Error messages quote user input, which need not be UTF-8; JSON strings must be. */
static void utf8_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		size_t l = utf8_sequence(p + i, n - i);
		if (l == 0) {
			p[i] = '?';
			l = 1;
		}
		i += l;
	}
}

void http_response_release(struct http_response *resp)
{
	if (!resp)
		return;
	if (resp->ws_destroy && resp->ws_userdata)
		resp->ws_destroy(resp->ws_userdata);
	resp->ws_fn = NULL;
	resp->ws_userdata = NULL;
	resp->ws_destroy = NULL;
	json_decref(resp->json);
	resp->json = NULL;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	if (resp->body_fd_set && resp->body_fd >= 0)
		close(resp->body_fd);
	resp->body_fd_set = false;
	resp->body_fd = -1;
}

void http_response_json(struct http_response *resp, int status, json_t *json)
{
	http_response_release(resp);
	resp->status = status;
	resp->json = json;
}

void http_response_error(struct http_response *resp, int status, const char *field, const char *fmt,
			 ...)
{
	char msg[CARVE_ERROR_MSG_MAX], fld[128];
	json_t *e, *o = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_sanitize(msg);

	e = json_pack("{s:s, s:s}", "code", http_status_to_code(status), "message", msg);
	if (e && field && *field) {
		snprintf(fld, sizeof(fld), "%s", field);
		utf8_sanitize(fld);
		if (json_object_set_new(e, "field", json_string(fld)) < 0) {
			json_decref(e);
			e = NULL;
		}
	}
	if (e)
		o = json_pack("{s:o}", "error", e);
	/* On allocation failure the status alone still tells the client what happened. */
	http_response_json(resp, status, o);
}

/* --- websocket handshake ------------------------------------------------------------------- */

/* Does the comma-separated header value list token (case-insensitive)? */
static bool header_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);

	for (const char *p = value; p && *p;) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == tl && strncasecmp(p, token, tl) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

int http_request_websocket_check(const struct http_request *req, struct carve_error *err)
{
	if (!streq(req->method, "GET"))
		return carve_err(err, -EINVAL, "websocket handshake: method must be GET");
	if (!req->upgrade || !header_has_token(req->upgrade, "websocket"))
		return carve_err(err, -EINVAL,
				 "websocket handshake: this resource needs 'Upgrade: websocket'");
	if (!req->connection || !header_has_token(req->connection, "upgrade"))
		return carve_err(err, -EINVAL,
				 "websocket handshake: the Connection header must list 'Upgrade'");
	if (!req->ws_version || !streq(req->ws_version, "13"))
		return carve_err(err, -EINVAL,
				 "websocket handshake: Sec-WebSocket-Version must be 13");
	if (!ws_key_is_valid(req->ws_key))
		return carve_err(
			err, -EINVAL,
			"websocket handshake: Sec-WebSocket-Key must be 16 bytes in base64");
	return 0;
}

bool http_response_websocket(const struct http_request *req, struct http_response *resp,
			     http_websocket_fn fn, void *userdata, void (*destroy)(void *))
{
	struct carve_error err = CARVE_ERROR_INIT;

	http_response_release(resp);
	if (http_request_websocket_check(req, &err) < 0) {
		if (destroy && userdata)
			destroy(userdata);
		http_response_error(resp, 400, NULL, "%s", err.msg);
		return false;
	}
	resp->status = 101;
	resp->ws_fn = fn;
	resp->ws_userdata = userdata;
	resp->ws_destroy = destroy;
	ws_accept_key(req->ws_key, resp->ws_accept);
	return true;
}

/* --- requests ------------------------------------------------------------------------------ */

const char *http_request_param(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_params && i < HTTP_PARAMS_MAX; i++)
		if (streq(req->param_names[i], name))
			return req->param_values[i];
	return NULL;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode n bytes of s into buf (size len, NUL-terminated). plus: '+' means space (query
 * strings). Returns the decoded length, -EINVAL on a bad escape or %00, -ENOBUFS when it does
 * not fit. */
static ssize_t percent_decode(const char *s, size_t n, bool plus, char *buf, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;
			if (n - i < 3)
				return -EINVAL;
			hi = unhex(s[i + 1]);
			lo = unhex(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			if (c == '\0')
				return -EINVAL;
			i += 2;
		} else if (c == '+' && plus)
			c = ' ';
		else if (c == '\0')
			return -EINVAL;
		if (o + 1 >= len)
			return -ENOBUFS;
		buf[o++] = c;
	}
	if (len == 0)
		return -ENOBUFS;
	buf[o] = '\0';
	return (ssize_t)o;
}

const char *http_request_query(const struct http_request *req, const char *name, char *buf,
			       size_t len)
{
	const char *p = req->query;
	size_t name_len = strlen(name);
	char key[256];

	while (p && *p) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t klen = eq ? (size_t)(eq - p) : n;
		ssize_t k;

		k = percent_decode(p, klen, true, key, sizeof(key));
		if (k >= 0 && (size_t)k == name_len && memcmp(key, name, name_len) == 0) {
			if (!eq) {
				if (len == 0)
					return NULL;
				buf[0] = '\0';
				return buf;
			}
			if (percent_decode(eq + 1, n - klen - 1, true, buf, len) < 0)
				return NULL;
			return buf;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

int http_target_parse(const char *target, char *buf, size_t len, const char **ret_query,
		      struct carve_error *err)
{
	const char *q = strchr(target, '?');
	size_t n = q ? (size_t)(q - target) : strlen(target);
	ssize_t d;

	if (n > HTTP_PATH_MAX)
		return carve_err(err, -ENAMETOOLONG, "path longer than %d bytes", HTTP_PATH_MAX);
	if (n == 0 || target[0] != '/')
		return carve_err(err, -EINVAL, "path must start with '/'");
	d = percent_decode(target, n, false, buf, len);
	if (d == -ENOBUFS)
		return carve_err(err, -ENAMETOOLONG, "path longer than %d bytes", HTTP_PATH_MAX);
	if (d < 0)
		return carve_err(err, -EINVAL, "path has an invalid percent escape or a NUL byte");
	for (ssize_t i = 0; i < d; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			return carve_err(err, -EINVAL, "path has a control character");
	if (!utf8_is_valid(buf, (size_t)d))
		return carve_err(err, -EINVAL, "path is not valid UTF-8");
	if (strstr(buf, "//"))
		return carve_err(err, -EINVAL, "path has an empty segment ('//')");
	for (const char *s = buf; s; s = strchr(s + 1, '/')) {
		const char *seg = s + 1;
		size_t sl = strcspn(seg, "/");
		if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			return carve_err(err, -EINVAL, "path has a '.' or '..' segment");
	}
	*ret_query = q ? q + 1 : NULL;
	return 0;
}

/* --- router -------------------------------------------------------------------------------- */

int http_router_new(struct http_router **ret)
{
	struct http_router *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	*ret = r;
	return 0;
}

struct http_router *http_router_free(struct http_router *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n_routes; i++)
		free(r->routes[i].pattern);
	free(r->routes);
	free(r);
	return NULL;
}

int http_router_add(struct http_router *r, const char *method, const char *pattern,
		    http_handler_fn fn, void *userdata)
{
	struct route rt = {.fn = fn, .userdata = userdata};
	struct route *n;
	char *p;

	if (!r || !method || !pattern || !fn || pattern[0] != '/')
		return -EINVAL;
	if (strscpy(rt.method, method, sizeof(rt.method)) < 0)
		return -EINVAL;
	if (r->n_routes >= ROUTES_MAX)
		return -E2BIG;
	rt.pattern = strdup(pattern + 1);
	if (!rt.pattern)
		return -ENOMEM;

	p = rt.pattern;
	for (;;) {
		char *slash = strchr(p, '/');
		size_t sl;

		if (slash)
			*slash = '\0';
		sl = strlen(p);
		if (rt.n_segments >= ROUTE_SEGMENTS_MAX || (sl == 0 && (slash || rt.n_segments)))
			goto invalid;
		if (sl > 0 && p[0] == '{') {
			if (sl < 3 || p[sl - 1] != '}')
				goto invalid;
			p[sl - 1] = '\0';
			rt.is_param[rt.n_segments] = true;
			rt.segments[rt.n_segments++] = p + 1;
		} else if (sl > 0)
			rt.segments[rt.n_segments++] = p;
		if (!slash)
			break;
		p = slash + 1;
	}
	size_t n_params = 0;
	for (size_t i = 0; i < rt.n_segments; i++)
		n_params += rt.is_param[i];
	if (n_params > HTTP_PARAMS_MAX)
		goto invalid;

	n = realloc(r->routes, (r->n_routes + 1) * sizeof(*n));
	if (!n) {
		free(rt.pattern);
		return -ENOMEM;
	}
	r->routes = n;
	r->routes[r->n_routes++] = rt;
	return 0;
invalid:
	free(rt.pattern);
	return -EINVAL;
}

/* Split path (a writable copy) in place into segments. Returns the count, or -E2BIG. */
static int split_path(char *path, const char **segments, size_t max)
{
	size_t n = 0;
	char *p = path + 1;

	if (*p == '\0')
		return 0; /* "/" */
	for (;;) {
		char *slash = strchr(p, '/');

		if (n >= max)
			return -E2BIG;
		segments[n++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return (int)n;
}

static bool route_matches_path(const struct route *rt, const char *const *segments, size_t n)
{
	if (rt->n_segments != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (rt->is_param[i]) {
			if (segments[i][0] == '\0')
				return false;
		} else if (strcmp(rt->segments[i], segments[i]) != 0)
			return false;
	}
	return true;
}

static void allow_add(char *allow, size_t len, const char *method)
{
	size_t n = strlen(allow);
	const char *p = allow;

	/* skip duplicates */
	while ((p = strstr(p, method))) {
		size_t ml = strlen(method);
		if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
			return;
		p += ml;
	}
	snprintf(allow + n, len - n, "%s%s", n ? ", " : "", method);
}

void http_router_dispatch(struct http_router *r, struct http_request *req,
			  struct http_response *resp)
{
	char copy[HTTP_PATH_MAX + 1];
	const char *segments[ROUTE_SEGMENTS_MAX];
	const struct route *match = NULL, *head_match = NULL;
	bool path_matched = false;
	char allow[sizeof(resp->allow)] = "";
	int n;

	if (!req->path || req->path[0] != '/') {
		http_response_error(resp, 400, NULL, "path must start with '/'");
		return;
	}
	if (strscpy(copy, req->path, sizeof(copy)) < 0) {
		http_response_error(resp, 414, NULL, "path longer than %d bytes", HTTP_PATH_MAX);
		return;
	}
	n = split_path(copy, segments, ELEMENTSOF(segments));
	if (n < 0) {
		http_response_error(resp, 404, NULL, "no such resource");
		return;
	}

	for (size_t i = 0; r && i < r->n_routes; i++) {
		const struct route *rt = &r->routes[i];

		if (!route_matches_path(rt, segments, (size_t)n))
			continue;
		path_matched = true;
		allow_add(allow, sizeof(allow), rt->method);
		if (streq(rt->method, req->method)) {
			match = rt;
			break;
		}
		if (!head_match && streq(req->method, "HEAD") && streq(rt->method, "GET"))
			head_match = rt;
	}
	if (!match)
		match = head_match;
	if (!match) {
		if (!path_matched) {
			http_response_error(resp, 404, NULL, "no such resource");
			return;
		}
		http_response_error(resp, 405, NULL, "method %.16s not allowed here (allowed: %s)",
				    req->method ? req->method : "", allow);
		snprintf(resp->allow, sizeof(resp->allow), "%s", allow);
		return;
	}

	req->n_params = 0;
	for (size_t i = 0; i < match->n_segments; i++)
		if (match->is_param[i] && req->n_params < HTTP_PARAMS_MAX) {
			req->param_names[req->n_params] = match->segments[i];
			req->param_values[req->n_params] = segments[i];
			req->n_params++;
		}
	match->fn(req, resp, match->userdata);
	req->n_params = 0;
}

static bool media_type_is_json(const char *ct)
{
	size_t n;

	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	return n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0;
}

void http_request_process(struct http_router *r, struct http_request *req, const char *target,
			  struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char path[HTTP_PATH_MAX + 1];
	const char *query = NULL;
	int k;

	k = http_target_parse(target, path, sizeof(path), &query, &err);
	if (k < 0) {
		http_response_error(resp, k == -ENAMETOOLONG ? 414 : 400, NULL, "%s", err.msg);
		return;
	}
	if ((streq(req->method, "POST") || streq(req->method, "PUT") ||
	     streq(req->method, "PATCH")) &&
	    req->body_len > 0 && req->content_type && !media_type_is_json(req->content_type)) {
		http_response_error(resp, 415, NULL, "request body must be application/json");
		return;
	}
	req->path = path;
	req->query = query;
	http_router_dispatch(r, req, resp);
	req->path = NULL;
	req->query = NULL;
}

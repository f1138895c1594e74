/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP front of carved: a libmicrohttpd server listening on a root-only unix socket and on a
 * TCP address, a router from (method, path pattern) to handlers, and request limits.
 *
 *  - Limits (enforced before a handler runs): body at most HTTP_BODY_MAX bytes (413), request
 *    line + headers at most HTTP_HEADER_MAX bytes (431), path at most HTTP_PATH_MAX (414),
 *    JSON nesting at most JSON_DEPTH_MAX (400), at most HTTP_CONNECTIONS_MAX connections.
 *  - Handlers run on libmicrohttpd's worker threads (a thread pool) and may block; they receive a
 *    complete request (body buffered) and fill a response. A handler may instead answer a
 *    websocket handshake (http_response_websocket): after the 101 answer went out, its callback
 *    runs on a thread of its own with the connection as a struct ws_conn; http_server_stop()
 *    shuts those connections down and waits for their callbacks to return.
 *  - Ownership: struct http_server and struct http_router are owned by their creator; the router
 *    must outlive the server. Handlers must not keep pointers into the request after returning.
 *  - Peer credentials: on the unix socket the peer's uid/pid come from SO_PEERCRED.
 *
 * Depends on base, jansson, libmicrohttpd. Logs at debug only.
 */
#ifndef CARVE_HTTP_H
#define CARVE_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/err.h"
#include "base/websocket.h"

#define HTTP_BODY_MAX (1024 * 1024)
#define HTTP_HEADER_MAX (16 * 1024)
#define HTTP_PATH_MAX 1024
#define HTTP_CONNECTIONS_MAX 256
#define HTTP_PARAMS_MAX 8

struct http_request {
	const char *method; /* "GET", "POST", ... */
	const char *path; /* percent-decoded, without the query string */
	const char *query; /* raw query string without '?', or NULL */
	const char *body; /* NUL-terminated; "" when there is none */
	size_t body_len;
	const char *authorization; /* the Authorization header, or NULL */
	const char *content_type; /* the Content-Type header, or NULL */
	bool via_unix; /* came in on the unix socket */
	uid_t peer_uid; /* via_unix only: SO_PEERCRED uid; (uid_t)-1 otherwise */
	pid_t peer_pid;
	char remote[64]; /* "unix" or the peer's IP address */
	/* websocket handshake headers, NULL when absent */
	const char *upgrade; /* Upgrade */
	const char *connection; /* Connection */
	const char *ws_key; /* Sec-WebSocket-Key */
	const char *ws_version; /* Sec-WebSocket-Version */
	/* filled by the router: */
	size_t n_params;
	const char *param_names[HTTP_PARAMS_MAX];
	const char *param_values[HTTP_PARAMS_MAX];
};

/* A path parameter by name ("name" for "/servers/{name}"), or NULL. */
const char *http_request_param(const struct http_request *req, const char *name);
/* A query parameter by name, percent-decoded into buf; NULL when absent. */
const char *http_request_query(const struct http_request *req, const char *name, char *buf,
			       size_t len);

struct http_response {
	int status; /* 200 when the handler leaves it 0 */
	json_t *json; /* owned; serialized compactly as the body when set */
	char *body; /* owned; used when json is NULL */
	size_t body_len;
	const char *content_type; /* static string; default application/json */
	/* with body_fd_set (and json, body unset): stream body_fd_len bytes of body_fd, which the
	 * response owns (closed once sent, or by http_response_release) */
	bool body_fd_set;
	int body_fd;
	uint64_t body_fd_len;
	char disposition[160]; /* non-empty: a Content-Disposition header */
	int retry_after; /* > 0: a Retry-After header (seconds) */
	char location[256]; /* non-empty: a Location header */
	char allow[64]; /* non-empty: an Allow header (set by the router on 405) */
	/* set by http_response_websocket(); owned until the callback has run */
	void (*ws_fn)(struct ws_conn *ws, void *userdata);
	void *ws_userdata;
	void (*ws_destroy)(void *userdata);
	char ws_accept[WS_ACCEPT_LEN + 1];
};

/* The error code string for an HTTP status: 404 -> "not_found", 413 -> "payload_too_large", ... */
const char *http_status_to_code(int status);

/* Set resp to an error: {"error": {"code": code_str, "message": msg, "field": field?}}, where the
 * code string is derived from the HTTP status ("invalid_argument", "not_found", ...). */
void http_response_error(struct http_response *resp, int status, const char *field, const char *fmt,
			 ...) __attribute__((format(printf, 4, 5)));
/* Set resp to status with a JSON body; takes ownership of json. */
void http_response_json(struct http_response *resp, int status, json_t *json);

/* Runs on a thread of its own once the 101 answer went out. ws is a server-side connection
 * (blocking fd, messages up to WS_MESSAGE_MAX_DEFAULT); the callback must return when the peer
 * goes away or the fd is shut down. The connection is closed after it returns. */
typedef void (*http_websocket_fn)(struct ws_conn *ws, void *userdata);

/* Check that req is an RFC 6455 opening handshake: GET, "Upgrade: websocket", a Connection
 * header listing "upgrade", a valid Sec-WebSocket-Key and Sec-WebSocket-Version 13. -EINVAL
 * with a message otherwise. */
int http_request_websocket_check(const struct http_request *req, struct carve_error *err);

/* Answer req with 101 Switching Protocols and hand the connection to fn(ws, userdata) (destroy,
 * when not NULL, is called on userdata afterwards, or when the upgrade never happens). When req
 * is not a valid handshake, answers 400 naming the problem, destroys userdata and returns false.
 */
bool http_response_websocket(const struct http_request *req, struct http_response *resp,
			     http_websocket_fn fn, void *userdata, void (*destroy)(void *));

typedef void (*http_handler_fn)(struct http_request *req, struct http_response *resp,
				void *userdata);

struct http_router;
int http_router_new(struct http_router **ret);
struct http_router *http_router_free(struct http_router *r);
/* pattern: literal segments and {param} segments, e.g. "/api/v1/servers/{name}/start". */
int http_router_add(struct http_router *r, const char *method, const char *pattern,
		    http_handler_fn fn, void *userdata);
/* Route req: 404 when no pattern matches the path, 405 (with Allow) when none matches the
 * method; otherwise calls the handler. Also used directly by tests and fuzzers. */
void http_router_dispatch(struct http_router *r, struct http_request *req,
			  struct http_response *resp);

/* Split a raw request target ("/a%20b/c?x=1") into the percent-decoded path, written to buf, and
 * the raw query (a pointer into target after '?', or NULL). Rejects with -ENAMETOOLONG (answer
 * 414) a path longer than HTTP_PATH_MAX, and with -EINVAL (answer 400) a path that does not start
 * with '/', has an invalid escape, a NUL, a control character, invalid UTF-8, "//", or a "." or
 * ".." segment. */
int http_target_parse(const char *target, char *buf, size_t len, const char **ret_query,
		      struct carve_error *err);

/* What the server does with a complete request, shared with the fuzzers: parse the target into
 * req->path and req->query (400, 414), refuse a POST/PUT/PATCH body whose Content-Type is not
 * application/json (415), then http_router_dispatch(). req must have method, body (NUL-terminated
 * at body_len), content_type, authorization and the peer fields set. */
void http_request_process(struct http_router *r, struct http_request *req, const char *target,
			  struct http_response *resp);

struct http_server_config {
	const char *unix_path; /* NULL: no unix socket. Created 0600 owned by the caller. */
	const char *tcp_address; /* "127.0.0.1:8006", "[::1]:8006", NULL: no TCP */
	unsigned threads; /* worker threads per listener; 0: default (4) */
};

struct http_server;
int http_server_start(const struct http_server_config *cfg, struct http_router *router,
		      struct http_server **ret, struct carve_error *err);
/* Stops listening, finishes in-flight requests, removes the unix socket. */
struct http_server *http_server_stop(struct http_server *s);
/* The bound TCP port (useful with port 0 in tcp_address), or -ENOENT without TCP. */
int http_server_tcp_port(struct http_server *s);

void http_response_release(struct http_response *resp);

/* --- JSON bodies -------------------------------------------------------------------------- */

#define JSON_DEPTH_MAX 16
#define JSON_STRING_MAX 4096

/* Parse a request body that must be a JSON object. Rejects (-EINVAL, err names the problem and
 * position): empty body, invalid JSON (including a NUL byte and duplicate keys), nesting deeper
 * than JSON_DEPTH_MAX, a top level that is not an object, any top-level key not in allowed
 * (NULL-terminated; NULL allows any key; err->field set to the key), any string or key longer
 * than JSON_STRING_MAX bytes anywhere in the document. */
int json_parse_object(const char *body, size_t len, const char *const *allowed, json_t **ret,
		      struct carve_error *err);

/* Typed getters for a field of obj. A missing field (or JSON null): -EINVAL (err->field set) when
 * required, else 0 and *ret untouched. A wrong type or a string longer than max_len (0:
 * JSON_STRING_MAX) bytes: -EINVAL, as is an integer outside [min, max] (json_get_uint takes JSON
 * integers only, no reals, no negatives); err->field is set to the key in every case. The string
 * returned by json_get_string belongs to obj. */
int json_get_string(json_t *obj, const char *key, bool required, size_t max_len, const char **ret,
		    struct carve_error *err);
int json_get_uint(json_t *obj, const char *key, bool required, uint64_t min, uint64_t max,
		  uint64_t *ret, struct carve_error *err);
int json_get_bool(json_t *obj, const char *key, bool required, bool *ret, struct carve_error *err);

#endif

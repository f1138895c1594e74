/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libmicrohttpd glue: listening sockets, per-request buffering and limits, peer identity,
 * and turning a struct http_response into an MHD response.
 *
 * The listening sockets are created here, not by MHD, so that the unix socket is 0600 from the
 * moment it exists (umask around bind) and a TCP port of 0 can be read back with getsockname().
 *
 * The raw request target comes from MHD's URI log callback, which sees the request line before
 * MHD unescapes the path and splits off the query: the router wants to decode and validate the
 * path itself (http_target_parse) and keep the query raw.
 *
 * A request's life (access handler calls):
 *   first call   headers complete: check header size (431) and Content-Length (413)
 *   next calls   body chunks: append to ctx->body, or count and drop once past HTTP_BODY_MAX
 *   last call    (upload_data_size == 0): 413 if the body was too large, else route and answer
 * MHD refuses a response queued while a body is still arriving, so an oversized chunked body is
 * drained (up to DRAIN_MAX, then the connection is dropped) before the 413 goes out.
 *
 * A websocket answer is an MHD upgrade response. Its state (struct upgrade: the handler's
 * callback and userdata) hangs off the request until MHD calls upgrade_cb, which hands it to a
 * detached session thread; if the upgrade never happens (the client went away before the 101 was
 * sent) completed_cb frees it. Session threads are listed in the server so that stopping can shut
 * their sockets down and wait for them: MHD must not be stopped under an upgraded connection.
 */
#define LOG_DOMAIN "http"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "http/http.h"

#define DRAIN_MAX (8 * HTTP_BODY_MAX)
#define CONNECTION_TIMEOUT_S 30
#define THREADS_DEFAULT 4
#define THREADS_MAX 64
#define SESSION_STOP_WAIT_S 10

struct upgrade {
	struct http_server *server;
	http_websocket_fn fn;
	void *userdata;
	void (*destroy)(void *userdata);
};

struct session {
	struct upgrade *up;
	struct MHD_UpgradeResponseHandle *urh;
	int fd;
	char *extra;
	size_t extra_len;
	struct session *next;
};

struct listener {
	struct http_server *server;
	struct MHD_Daemon *daemon;
	bool is_unix;
};

struct http_server {
	struct http_router *router;
	struct listener unix_listener;
	struct listener tcp_listener;
	char *unix_path;
	int tcp_port;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct session *sessions; /* running websocket sessions */
	size_t n_sessions;
	bool stopping;
};

struct request_ctx {
	char *target;
	bool started;
	bool too_large;
	bool done;
	char *body;
	size_t body_len;
	size_t body_cap;
	size_t dropped;
	struct upgrade *up; /* queued upgrade that has not happened yet */
};

static void upgrade_free(struct upgrade *up)
{
	if (!up)
		return;
	if (up->destroy && up->userdata)
		up->destroy(up->userdata);
	free(up);
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct request_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->target = strdup(uri ? uri : "");
	if (!ctx->target) {
		free(ctx);
		return NULL;
	}
	return ctx;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request_ctx *ctx = *req_cls;

	if (!ctx)
		return;
	upgrade_free(ctx->up);
	free(ctx->target);
	free(ctx->body);
	free(ctx);
	*req_cls = NULL;
}

_printf_(2, 0) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("libmicrohttpd: %s", buf);
}

static enum MHD_Result add_header(struct MHD_Response *r, const char *name, const char *value)
{
	return MHD_add_response_header(r, name, value);
}

/* Consumes resp's body or JSON. */
static enum MHD_Result queue(struct MHD_Connection *conn, struct http_response *resp)
{
	static const char fallback[] =
		"{\"error\":{\"code\":\"internal\",\"message\":\"cannot serialize the response\"}}";
	struct MHD_Response *r;
	enum MHD_Result ret;
	int status = resp->status ? resp->status : 200;
	const char *ctype = resp->content_type ? resp->content_type : "application/json";
	char *body = NULL;
	size_t len = 0;
	char num[32];

	if (resp->json) {
		body = json_dumps(resp->json, JSON_COMPACT);
		if (!body) {
			status = 500;
			ctype = "application/json";
		} else
			len = strlen(body);
	} else if (resp->body) {
		body = TAKE_PTR(resp->body);
		len = resp->body_len;
	}
	if (!body && resp->body_fd_set && resp->body_fd >= 0) {
		/* MHD owns the fd from here */
		r = MHD_create_response_from_fd64(resp->body_fd_len, resp->body_fd);
		if (r)
			resp->body_fd_set = false;
		len = resp->body_fd_len;
	} else if (body)
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	else if (status == 500 && resp->json)
		r = MHD_create_response_from_buffer(strlen(fallback), (void *)fallback,
						    MHD_RESPMEM_PERSISTENT);
	else
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (len > 0 || status == 500)
		add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	add_header(r, "X-Content-Type-Options", "nosniff");
	if (resp->retry_after > 0) {
		snprintf(num, sizeof(num), "%d", resp->retry_after);
		add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (resp->location[0])
		add_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
	if (resp->allow[0])
		add_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
	if (resp->disposition[0])
		add_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, resp->disposition);
	ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	http_response_release(resp);
	return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *conn, int status, const char *msg)
{
	struct http_response resp = {};

	http_response_error(&resp, status, NULL, "%s", msg);
	return queue(conn, &resp);
}

/* --- websocket sessions -------------------------------------------------------------------- */

static void session_end(struct session *se)
{
	struct http_server *s = se->up->server;

	pthread_mutex_lock(&s->lock);
	for (struct session **p = &s->sessions; *p; p = &(*p)->next)
		if (*p == se) {
			*p = se->next;
			break;
		}
	s->n_sessions--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void *session_thread(void *arg)
{
	struct session *se = arg;
	struct ws_conn *ws = NULL;
	int flags;

	/* MHD's sockets are non-blocking; the callback gets a plain blocking one. */
	flags = fcntl(se->fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(se->fd, F_SETFL, flags & ~O_NONBLOCK);
	if (ws_conn_new(se->fd, WS_ROLE_SERVER, 0, &ws) >= 0 &&
	    ws_conn_push(ws, se->extra, se->extra_len) >= 0)
		se->up->fn(ws, se->up->userdata);
	else
		log_debug("websocket: cannot set up the connection");
	ws_conn_free(ws);
	(void)MHD_upgrade_action(se->urh, MHD_UPGRADE_ACTION_CLOSE);
	session_end(se);
	upgrade_free(se->up);
	free(se->extra);
	free(se);
	return NULL;
}

static void upgrade_cb(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
		       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct request_ctx *ctx = req_cls;
	struct upgrade *up = cls;
	struct http_server *s = up->server;
	struct session *se;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (ctx && ctx->up == up)
		ctx->up = NULL; /* the session owns it now */
	se = calloc(1, sizeof(*se));
	if (!se)
		goto fail;
	se->up = up;
	se->urh = urh;
	se->fd = sock;
	if (extra_in_size > 0) {
		se->extra = malloc(extra_in_size);
		if (!se->extra)
			goto fail;
		memcpy(se->extra, extra_in, extra_in_size);
		se->extra_len = extra_in_size;
	}
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		goto fail;
	}
	se->next = s->sessions;
	s->sessions = se;
	s->n_sessions++;
	pthread_mutex_unlock(&s->lock);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, session_thread, se);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		session_end(se);
		goto fail;
	}
	return;
fail:
	log_debug("websocket: cannot start a session thread");
	if (se)
		free(se->extra);
	free(se);
	upgrade_free(up);
	(void)MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static enum MHD_Result queue_upgrade(struct http_server *s, struct MHD_Connection *conn,
				     struct request_ctx *ctx, struct http_response *resp)
{
	struct upgrade *up = calloc(1, sizeof(*up));
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!up) {
		http_response_release(resp);
		return queue_error(conn, 500, "out of memory");
	}
	up->server = s;
	up->fn = TAKE_PTR(resp->ws_fn);
	up->userdata = TAKE_PTR(resp->ws_userdata);
	up->destroy = TAKE_PTR(resp->ws_destroy);
	r = MHD_create_response_for_upgrade(upgrade_cb, up);
	if (!r) {
		upgrade_free(up);
		http_response_release(resp);
		return MHD_NO;
	}
	add_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
	add_header(r, "Sec-WebSocket-Accept", resp->ws_accept);
	upgrade_free(ctx->up);
	ctx->up = up;
	ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
	MHD_destroy_response(r);
	http_response_release(resp);
	if (ret != MHD_YES) {
		ctx->up = NULL;
		upgrade_free(up);
	}
	return ret;
}

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	size_t *total = cls;

	/* "key: value\r\n" */
	*total += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

static void peer_identity(struct MHD_Connection *conn, bool is_unix, struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;

	req->peer_uid = (uid_t)-1;
	req->peer_pid = 0;
	if (is_unix) {
		struct ucred cred;
		socklen_t sl = sizeof(cred);

		snprintf(req->remote, sizeof(req->remote), "unix");
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci && getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) == 0 &&
		    sl == sizeof(cred)) {
			req->peer_uid = cred.uid;
			req->peer_pid = cred.pid;
		}
		return;
	}
	snprintf(req->remote, sizeof(req->remote), "unknown");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ci->client_addr;
		inet_ntop(AF_INET, &a->sin_addr, req->remote, sizeof(req->remote));
	} else if (ci->client_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ci->client_addr;
		inet_ntop(AF_INET6, &a->sin6_addr, req->remote, sizeof(req->remote));
	}
}

static enum MHD_Result first_call(struct MHD_Connection *conn, const char *method,
				  const char *version, struct request_ctx *ctx)
{
	const char *cl;
	size_t total = 0;

	ctx->started = true;
	total = strlen(method) + strlen(ctx->target) + strlen(version) + 4;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_header, &total);
	if (total > HTTP_HEADER_MAX) {
		ctx->done = true;
		return queue_error(conn, 431, "request line and headers longer than 16384 bytes");
	}
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		/* MHD itself answers 400 to a Content-Length that is not a number; stop counting
		 * once past the limit so that no number of digits overflows. */
		uint64_t v = 0;

		for (const char *p = cl; *p >= '0' && *p <= '9' && v <= HTTP_BODY_MAX; p++)
			v = v * 10 + (uint64_t)(*p - '0');
		if (v > HTTP_BODY_MAX) {
			ctx->done = true;
			return queue_error(conn, 413, "request body larger than 1048576 bytes");
		}
	}
	return MHD_YES;
}

static enum MHD_Result receive(struct request_ctx *ctx, const char *data, size_t n)
{
	if (!ctx->too_large && ctx->body_len + n > HTTP_BODY_MAX) {
		ctx->too_large = true;
		ctx->dropped = ctx->body_len;
		free(ctx->body);
		ctx->body = NULL;
		ctx->body_len = ctx->body_cap = 0;
	}
	if (ctx->too_large) {
		ctx->dropped += n;
		return ctx->dropped > DRAIN_MAX ? MHD_NO : MHD_YES;
	}
	if (ctx->body_len + n + 1 > ctx->body_cap) {
		size_t cap = ctx->body_cap ? ctx->body_cap : 4096;
		char *b;

		while (cap < ctx->body_len + n + 1)
			cap *= 2;
		if (cap > HTTP_BODY_MAX + 1)
			cap = HTTP_BODY_MAX + 1;
		b = realloc(ctx->body, cap);
		if (!b)
			return MHD_NO;
		ctx->body = b;
		ctx->body_cap = cap;
	}
	memcpy(ctx->body + ctx->body_len, data, n);
	ctx->body_len += n;
	ctx->body[ctx->body_len] = '\0';
	return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **req_cls)
{
	struct listener *l = cls;
	struct request_ctx *ctx = *req_cls;
	struct http_request req = {};
	struct http_response resp = {};

	if (!ctx)
		return MHD_NO; /* out of memory in uri_log_cb */
	if (!ctx->started)
		return first_call(conn, method, version, ctx);
	if (ctx->done) {
		*upload_data_size = 0; /* a response is queued; MHD closes after it */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		enum MHD_Result r = receive(ctx, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return r;
	}

	ctx->done = true;
	if (ctx->too_large)
		return queue_error(conn, 413, "request body larger than 1048576 bytes");

	req.method = method;
	req.body = ctx->body ? ctx->body : "";
	req.body_len = ctx->body_len;
	req.authorization =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	req.content_type =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	req.upgrade = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
	req.connection =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
	req.ws_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	req.ws_version =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	req.via_unix = l->is_unix;
	peer_identity(conn, l->is_unix, &req);

	http_request_process(l->server->router, &req, ctx->target, &resp);
	if (resp.ws_fn)
		return queue_upgrade(l->server, conn, ctx, &resp);
	return queue(conn, &resp);
}

/* --- listening sockets --------------------------------------------------------------------- */

static int listen_unix(const char *path, int *ret_fd, struct carve_error *err)
{
	cleanup_close int fd = -EBADF;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int r;

	if (strscpy(sa.sun_path, path, sizeof(sa.sun_path)) < 0)
		return carve_err(err, -ENAMETOOLONG, "unix socket '%s': path longer than %zu bytes",
				 path, sizeof(sa.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return carve_err(err, -errno, "unix socket '%s': socket", path);

	if (lstat(path, &st) == 0) {
		cleanup_close int probe = -EBADF;

		if (!S_ISSOCK(st.st_mode))
			return carve_err(err, -EEXIST,
					 "unix socket '%s': exists and is not a socket", path);
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return carve_err(err, -EADDRINUSE,
					 "unix socket '%s': another server is listening", path);
		if (unlink(path) < 0 && errno != ENOENT)
			return carve_err(err, -errno, "unix socket '%s': remove stale socket",
					 path);
	}

	old = umask(0177);
	r = RET_NERRNO(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	umask(old);
	if (r < 0)
		return carve_err(err, r, "unix socket '%s': bind", path);
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		(void)unlink(path);
		return carve_err(err, r, "unix socket '%s': listen", path);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int parse_tcp_address(const char *s, struct sockaddr_storage *ss, socklen_t *ret_len,
			     struct carve_error *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s;
	uint64_t port;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			goto bad;
		hl = (size_t)(close - s - 1);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		port_s = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host) || memchr(s, ':', hl))
			goto bad;
		memcpy(host, s, hl);
		host[hl] = '\0';
		port_s = colon + 1;
	}
	if (parse_uint64(port_s, 0, 65535, &port, NULL) < 0)
		return carve_err(err, -EINVAL, "tcp address '%s': port must be 0..65535", s);

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		*ret_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		*ret_len = sizeof(*a);
	}
	return 0;
bad:
	return carve_err(
		err, -EINVAL,
		"tcp address '%s': use an IP address and a port, e.g. 127.0.0.1:8006 or [::1]:8006",
		s);
}

static int listen_tcp(const char *address, int *ret_fd, int *ret_port, struct carve_error *err)
{
	cleanup_close int fd = -EBADF;
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, r;

	r = parse_tcp_address(address, &ss, &sl, err);
	if (r < 0)
		return r;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return carve_err(err, -errno, "tcp address '%s': socket", address);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		return carve_err(err, -errno, "tcp address '%s': bind", address);
	if (listen(fd, 128) < 0)
		return carve_err(err, -errno, "tcp address '%s': listen", address);
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return carve_err(err, -errno, "tcp address '%s': getsockname", address);
	*ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Hands fd to MHD, which closes it on stop. If MHD fails to start, whether it closed fd is not
 * documented: fd is left alone (a leak on a failed start) rather than risk closing a number that
 * another thread has since been given. */
static int start_daemon(struct listener *l, int fd, bool ipv6, unsigned threads, const char *what,
			struct carve_error *err)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_UPGRADE;

	if (ipv6)
		flags |= MHD_USE_IPv6;
	l->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, l, MHD_OPTION_LISTEN_SOCKET,
				     (MHD_socket)fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				     (size_t)(3 * HTTP_HEADER_MAX), MHD_OPTION_URI_LOG_CALLBACK,
				     uri_log_cb, l, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, l,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, l, MHD_OPTION_END);
	if (!l->daemon)
		return carve_err(err, -EIO, "%s: cannot start the HTTP server", what);
	return 0;
}

static int socket_family(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	return ss.ss_family;
}

int http_server_start(const struct http_server_config *cfg, struct http_router *router,
		      struct http_server **ret, struct carve_error *err)
{
	struct http_server *s;
	unsigned threads;
	int fd = -EBADF, r;

	if (!cfg || !router || (!cfg->unix_path && !cfg->tcp_address))
		return carve_err(err, -EINVAL, "http server: nothing to listen on");
	threads = cfg->threads ? cfg->threads : THREADS_DEFAULT;
	if (threads > THREADS_MAX)
		threads = THREADS_MAX;

	s = calloc(1, sizeof(*s));
	if (!s)
		return carve_err(err, -ENOMEM, "http server: out of memory");
	s->router = router;
	s->tcp_port = -ENOENT;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->unix_listener = (struct listener){.server = s, .is_unix = true};
	s->tcp_listener = (struct listener){.server = s, .is_unix = false};

	if (cfg->unix_path) {
		r = listen_unix(cfg->unix_path, &fd, err);
		if (r < 0)
			goto fail;
		s->unix_path = strdup(cfg->unix_path);
		if (!s->unix_path) {
			(void)unlink(cfg->unix_path);
			safe_close(fd);
			r = carve_err(err, -ENOMEM, "http server: out of memory");
			goto fail;
		}
		r = start_daemon(&s->unix_listener, fd, false, threads, cfg->unix_path, err);
		if (r < 0)
			goto fail;
	}
	if (cfg->tcp_address) {
		r = listen_tcp(cfg->tcp_address, &fd, &s->tcp_port, err);
		if (r < 0)
			goto fail;
		r = start_daemon(&s->tcp_listener, fd, socket_family(fd) == AF_INET6, threads,
				 cfg->tcp_address, err);
		if (r < 0)
			goto fail;
	}
	log_debug("http server: listening on %s%s%s", cfg->unix_path ? cfg->unix_path : "",
		  cfg->unix_path && cfg->tcp_address ? " and " : "",
		  cfg->tcp_address ? cfg->tcp_address : "");
	*ret = s;
	return 0;
fail:
	http_server_stop(s);
	return r;
}

/* Shut every websocket down (their callbacks see EOF) and wait for the session threads. */
static bool stop_sessions(struct http_server *s)
{
	bool done;
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += SESSION_STOP_WAIT_S;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	for (struct session *se = s->sessions; se; se = se->next)
		(void)shutdown(se->fd, SHUT_RDWR);
	while (s->n_sessions > 0)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT) {
			log_debug("http server: %zu websocket sessions did not end", s->n_sessions);
			break;
		}
	done = s->n_sessions == 0;
	pthread_mutex_unlock(&s->lock);
	return done;
}

struct http_server *http_server_stop(struct http_server *s)
{
	bool sessions_done;

	if (!s)
		return NULL;
	sessions_done = stop_sessions(s);
	if (s->tcp_listener.daemon)
		MHD_stop_daemon(s->tcp_listener.daemon);
	if (s->unix_listener.daemon)
		MHD_stop_daemon(s->unix_listener.daemon);
	if (s->unix_path) {
		(void)unlink(s->unix_path);
		free(s->unix_path);
	}
	/* A session thread that did not end still points at s: leak it rather than free it. */
	if (!sessions_done)
		return NULL;
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

int http_server_tcp_port(struct http_server *s)
{
	return s ? s->tcp_port : -ENOENT;
}

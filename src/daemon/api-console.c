/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Console and exec over websockets. The handler checks the handshake, the caller's right to the
 * server and that it runs, then upgrades; the session (one thread per connection, started by the
 * http module) proxies between the websocket and the monitor's socket with poll(2):
 *
 *   console: binary frames <-> raw console bytes; text {"type":"resize","rows":R,"cols":C}.
 *   exec:    the first text frame is the request; then binary frames [channel u8][data]
 *            (0 stdin from the client; 1 stdout, 2 stderr from the server), text frames
 *            {"type":"resize",...} and {"type":"eof"} from the client; the server ends with
 *            {"type":"exit","status":N,"signal":S} and a close frame.
 *
 * Errors after the upgrade are a text frame {"type":"error","code":C,"message":M} and a close
 * frame with code 4000 + the HTTP status that fits (4400, 4404, 4409, 4500).
 */
#define LOG_DOMAIN "api"

#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"
#include "monitor/monitor.h"

#define EXEC_ARGS_MAX 256
#define EXEC_ENV_MAX 256
#define EXEC_ARG_LEN_MAX 4096
#define EXEC_REQUEST_TIMEOUT_MS (30 * 1000)
#define CLOSE_DRAIN_MS 2000
#define COPY_CHUNK (32 * 1024)

struct session {
	struct daemon *d;
	char server[CARVE_NAME_MAX + 1];
	char dir[PATH_MAX];
	int fd; /* console: the monitor connection, opened before the upgrade */
};

static void session_free(void *p)
{
	struct session *s = p;

	if (!s)
		return;
	safe_close(s->fd);
	free(s);
}

/* Common part of both handlers: handshake, server, state. Returns a session or NULL after
 * answering. */
static struct session *prepare(struct daemon *d, const struct caller *c, struct http_request *req,
			       struct http_response *resp, const char *action, const char *what)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct session *se;

	if (http_request_websocket_check(req, &err) < 0) {
		http_response_error(resp, 400, NULL, "%s", err.msg);
		return NULL;
	}
	if (api_find_server(d, c, req, &s, &err) < 0) {
		api_fail(resp, &err);
		return NULL;
	}
	if (s->state != DB_SERVER_RUNNING) {
		http_response_error(resp, 409, NULL, "server '%s' is %s: cannot %s", s->name,
				    db_server_state_to_string(s->state), what);
		return NULL;
	}
	se = calloc(1, sizeof(*se));
	if (!se) {
		http_response_error(resp, 500, NULL, "out of memory");
		return NULL;
	}
	se->d = d;
	se->fd = -EBADF;
	strscpy(se->server, s->name, sizeof(se->server));
	if (daemon_server_dir(d, s->id, se->dir, sizeof(se->dir)) < 0) {
		session_free(se);
		http_response_error(resp, 500, NULL, "server '%s': run directory path too long",
				    s->name);
		return NULL;
	}
	(void)db_audit_append(d->db, time(NULL), c->user_id[0] ? c->user_id : NULL, s->tenant_id,
			      action, s->name, 101, req->remote, NULL);
	return se;
}

/* --- websocket helpers ---------------------------------------------------------------------- */

static int close_code_for(int r)
{
	switch (-r) {
	case EINVAL:
	case E2BIG:
	case ENAMETOOLONG:
		return 4400;
	case EPERM:
	case EACCES:
		return 4403;
	case ENOENT:
		return 4404;
	case ESRCH:
	case EBUSY:
		return 4409;
	default:
		return 4500;
	}
}

/* Tell the client what went wrong: an error message, then a close frame. */
static void send_error(struct ws_conn *ws, int r, const char *msg)
{
	int code = close_code_for(r);
	json_t *j = json_pack("{s:s, s:s, s:s}", "type", "error", "code",
			      http_status_to_code(code - 4000), "message", msg);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s)
		(void)ws_conn_send(ws, WS_OP_TEXT, s, strlen(s));
	free(s);
	json_decref(j);
	(void)ws_conn_close(ws, (uint16_t)code, msg);
}

static void send_json(struct ws_conn *ws, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s)
		(void)ws_conn_send(ws, WS_OP_TEXT, s, strlen(s));
	free(s);
	json_decref(j);
}

/* Send our close (if not yet) and read until the client's close or EOF, so that closing the
 * socket does not reset a connection with unread data in it. */
static void finish(struct ws_conn *ws, uint16_t code, const char *reason)
{
	struct ws_message m;
	struct timespec t0, t;

	(void)ws_conn_close(ws, code, reason);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = {ws_conn_fd(ws), POLLIN, 0};
		long left;
		int r;

		while ((r = ws_conn_next(ws, &m)) > 0)
			if (m.opcode == WS_OP_CLOSE)
				return;
		if (r < 0)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = CLOSE_DRAIN_MS -
		       ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 || ws_conn_read(ws) <= 0)
			return;
	}
}

/* {"type":"resize","rows":R,"cols":C} or {"type":T} with only a type; *ret_type points into
 * *ret. */
static int parse_control(const struct ws_message *m, json_t **ret, const char **ret_type,
			 unsigned *ret_rows, unsigned *ret_cols, struct carve_error *err)
{
	static const char *const fields[] = {"type", "rows", "cols", NULL};
	cleanup_json json_t *j = NULL;
	const char *type = NULL;
	uint64_t rows = 0, cols = 0;
	int r;

	r = json_parse_object((const char *)m->data, m->len, fields, &j, err);
	if (r < 0)
		return r;
	if (json_get_string(j, "type", true, 16, &type, err) < 0)
		return -EINVAL;
	if (streq(type, "resize")) {
		if (json_get_uint(j, "rows", true, 1, 10000, &rows, err) < 0 ||
		    json_get_uint(j, "cols", true, 1, 10000, &cols, err) < 0)
			return -EINVAL;
	} else if (json_object_get(j, "rows") || json_object_get(j, "cols"))
		return carve_err(err, -EINVAL, "message type '%s' takes no rows or cols", type);
	*ret_rows = (unsigned)rows;
	*ret_cols = (unsigned)cols;
	*ret_type = type;
	*ret = TAKE_PTR(j);
	return 0;
}

/* --- console -------------------------------------------------------------------------------- */

static void console_session(struct ws_conn *ws, void *userdata)
{
	struct session *se = userdata;
	uint8_t buf[COPY_CHUNK];
	const char *why = "console closed";
	bool first = true;

	for (;;) {
		struct pollfd pfd[2] = {{ws_conn_fd(ws), POLLIN, 0}, {se->fd, POLLIN, 0}};
		struct ws_message m;
		bool buffered = first && ws_conn_buffered(ws);
		ssize_t n;
		int r;

		/* bytes that came right behind the handshake are already in our buffer, where
		 * poll() does not see them: handle them first. Later, every read is followed by
		 * handling all complete messages, so only a partial one can wait in the buffer. */
		first = false;
		if (poll(pfd, 2, buffered ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents || buffered) {
			n = pfd[0].revents ? ws_conn_read(ws) : 1;
			if (n <= 0)
				return;
			while ((r = ws_conn_next(ws, &m)) > 0) {
				struct carve_error err = CARVE_ERROR_INIT;
				cleanup_json json_t *j = NULL;
				const char *type;
				unsigned rows, cols;

				if (m.opcode == WS_OP_CLOSE)
					return;
				if (m.opcode == WS_OP_BINARY) {
					if (loop_write(se->fd, m.data, m.len) < 0) {
						why = "console write failed";
						goto out;
					}
					continue;
				}
				if (parse_control(&m, &j, &type, &rows, &cols, &err) < 0 ||
				    !streq(type, "resize")) {
					if (!err.msg[0])
						carve_err(&err, -EINVAL,
							  "unknown message type '%.16s'", type);
					carve_err_prefix(&err, "console of server '%s'",
							 se->server);
					send_error(ws, -EINVAL, err.msg);
					return;
				}
				if (monitor_console_resize(se->dir, rows, cols, &err) < 0)
					log_debug("server '%s': console resize: %s", se->server,
						  err.msg);
			}
			if (r < 0)
				return;
		}
		if (pfd[1].revents) {
			do
				n = read(se->fd, buf, sizeof(buf));
			while (n < 0 && errno == EINTR);
			if (n <= 0)
				break; /* the monitor went away: the server stopped */
			if (ws_conn_send(ws, WS_OP_BINARY, buf, (size_t)n) < 0)
				return;
		}
	}
out:
	finish(ws, WS_CLOSE_NORMAL, why);
}

void api_servers_console(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct session *se = prepare(d, c, req, resp, "console", "open its console");

	if (!se)
		return;
	se->fd = monitor_console_open(se->dir, &err);
	if (se->fd < 0) {
		int r = se->fd;

		se->fd = -EBADF;
		session_free(se);
		if (r == -ESRCH || r == -ENOENT || r == -ECONNREFUSED) {
			http_response_error(resp, 409, NULL,
					    "server '%s' is stopped: cannot open its console",
					    http_request_param(req, "name"));
			return;
		}
		carve_err_prefix(&err, "server '%s': console", http_request_param(req, "name"));
		return api_fail(resp, &err);
	}
	(void)http_response_websocket(req, resp, console_session, se, session_free);
}

/* --- exec ----------------------------------------------------------------------------------- */

struct exec_request {
	char **argv;
	char **env;
	const char *cwd;
	bool tty;
	unsigned rows, cols;
};

static int get_strv(json_t *j, const char *key, bool required, size_t max, char ***ret,
		    struct carve_error *err)
{
	json_t *a = json_object_get(j, key), *v;
	cleanup_strv char **l = NULL;
	size_t i;

	if (!a || json_is_null(a)) {
		if (required)
			return carve_err_field(err, -EINVAL, key, "%s: required", key);
		return 0;
	}
	if (!json_is_array(a))
		return carve_err_field(err, -EINVAL, key, "%s: must be an array of strings", key);
	if (json_array_size(a) > max)
		return carve_err_field(err, -E2BIG, key, "%s: more than %zu entries", key, max);
	if (required && json_array_size(a) == 0)
		return carve_err_field(err, -EINVAL, key, "%s: must not be empty", key);
	l = calloc(json_array_size(a) + 1, sizeof(char *));
	if (!l)
		return carve_err(err, -ENOMEM, "out of memory");
	json_array_foreach (a, i, v) {
		const char *s = json_string_value(v);

		if (!s)
			return carve_err_field(err, -EINVAL, key, "%s[%zu]: must be a string", key,
					       i);
		if (json_string_length(v) > EXEC_ARG_LEN_MAX)
			return carve_err_field(err, -E2BIG, key, "%s[%zu]: longer than %d bytes",
					       key, i, EXEC_ARG_LEN_MAX);
		l[i] = strdup(s);
		if (!l[i])
			return carve_err(err, -ENOMEM, "out of memory");
	}
	*ret = TAKE_PTR(l);
	return 0;
}

static void exec_request_release(struct exec_request *x)
{
	strv_free(x->argv);
	strv_free(x->env);
	*x = (struct exec_request){};
}

/* Parse the request; *ret_json keeps cwd's string alive. */
static int parse_exec(const struct ws_message *m, struct exec_request *x, json_t **ret_json,
		      struct carve_error *err)
{
	static const char *const fields[] = {"command", "tty", "env", "cwd", "rows", "cols", NULL};
	cleanup_json json_t *j = NULL;
	uint64_t rows = 24, cols = 80;
	int r;

	if (m->opcode != WS_OP_TEXT)
		return carve_err(err, -EINVAL, "the first message must be the JSON request");
	r = json_parse_object((const char *)m->data, m->len, fields, &j, err);
	if (r < 0)
		return carve_err_prefix(err, "request");
	if (get_strv(j, "command", true, EXEC_ARGS_MAX, &x->argv, err) < 0 ||
	    get_strv(j, "env", false, EXEC_ENV_MAX, &x->env, err) < 0 ||
	    json_get_bool(j, "tty", false, &x->tty, err) < 0 ||
	    json_get_string(j, "cwd", false, EXEC_ARG_LEN_MAX, &x->cwd, err) < 0 ||
	    json_get_uint(j, "rows", false, 1, 10000, &rows, err) < 0 ||
	    json_get_uint(j, "cols", false, 1, 10000, &cols, err) < 0)
		return -EINVAL;
	if (x->argv[0][0] == '\0')
		return carve_err_field(err, -EINVAL, "command", "command[0]: must not be empty");
	for (size_t i = 0; x->env && x->env[i]; i++) {
		const char *eq = strchr(x->env[i], '=');

		if (!eq || eq == x->env[i])
			return carve_err_field(err, -EINVAL, "env",
					       "env[%zu] '%.64s': use NAME=VALUE", i, x->env[i]);
	}
	if (x->cwd && x->cwd[0] != '/')
		return carve_err_field(err, -EINVAL, "cwd", "cwd '%.64s': must be absolute",
				       x->cwd);
	x->rows = (unsigned)rows;
	x->cols = (unsigned)cols;
	*ret_json = TAKE_PTR(j);
	return 0;
}

/* Wait for one whole message (the exec request), at most timeout_ms. */
static int recv_first(struct ws_conn *ws, int timeout_ms, struct ws_message *ret)
{
	for (;;) {
		struct pollfd pfd = {ws_conn_fd(ws), POLLIN, 0};
		ssize_t n;
		int r;

		r = ws_conn_next(ws, ret);
		if (r != 0)
			return r;
		r = poll(&pfd, 1, timeout_ms);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
		n = ws_conn_read(ws);
		if (n <= 0)
			return n == 0 ? -ECONNRESET : (int)n;
	}
}

/* One client message during exec. Returns 0 to go on, 1 when the client closed, <0 on error
 * (already reported to the client). */
static int exec_client_message(struct session *se, struct ws_conn *ws, int fd,
			       const struct ws_message *m)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_json json_t *j = NULL;
	const char *type;
	unsigned rows, cols;
	char buf[64];
	int r;

	if (m->opcode == WS_OP_CLOSE)
		return 1;
	if (m->opcode == WS_OP_BINARY) {
		if (m->len < 1 || m->data[0] != MONITOR_FRAME_STDIN) {
			send_error(ws, -EINVAL, "exec: binary messages must start with channel 0");
			return -EINVAL;
		}
		for (size_t off = 1; off < m->len; off += MONITOR_FRAME_MAX_PAYLOAD) {
			size_t n = m->len - off;

			if (n > MONITOR_FRAME_MAX_PAYLOAD)
				n = MONITOR_FRAME_MAX_PAYLOAD;
			r = monitor_frame_write(fd, MONITOR_FRAME_STDIN, m->data + off, n);
			if (r < 0)
				return 0; /* the process is gone; its exit frame follows */
		}
		return 0;
	}
	if (parse_control(m, &j, &type, &rows, &cols, &err) < 0) {
		carve_err_prefix(&err, "exec in server '%s'", se->server);
		send_error(ws, -EINVAL, err.msg);
		return -EINVAL;
	}
	if (streq(type, "resize")) {
		int n = snprintf(buf, sizeof(buf), "{\"rows\":%u,\"cols\":%u}", rows, cols);
		(void)monitor_frame_write(fd, MONITOR_FRAME_RESIZE, buf, (size_t)n);
	} else if (streq(type, "eof"))
		(void)monitor_frame_write(fd, MONITOR_FRAME_EOF, NULL, 0);
	else {
		snprintf(buf, sizeof(buf), "exec: unknown message type '%.16s'", type);
		send_error(ws, -EINVAL, buf);
		return -EINVAL;
	}
	return 0;
}

/* One monitor frame. Returns 0 to go on, 1 after the exit message, <0 when the monitor went
 * away. */
static int exec_monitor_frame(struct ws_conn *ws, int fd, uint8_t *buf)
{
	enum monitor_frame_type type;
	size_t len;
	int r;

	r = monitor_frame_read(fd, &type, buf + 1, MONITOR_FRAME_MAX_PAYLOAD, &len);
	if (r <= 0)
		return r < 0 ? r : -ECONNRESET;
	switch (type) {
	case MONITOR_FRAME_STDOUT:
	case MONITOR_FRAME_STDERR:
		buf[0] = (uint8_t)type;
		r = ws_conn_send(ws, WS_OP_BINARY, buf, len + 1);
		return r < 0 ? r : 0;
	case MONITOR_FRAME_EXIT: {
		json_error_t jerr;
		cleanup_json json_t *st = json_loadb((const char *)buf + 1, len, 0, &jerr);
		json_t *status = json_object_get(st, "status"),
		       *sig = json_object_get(st, "signal");

		send_json(ws,
			  json_pack("{s:s, s:I, s:I}", "type", "exit", "status",
				    json_is_integer(status) ? json_integer_value(status) : -1,
				    "signal", json_is_integer(sig) ? json_integer_value(sig) : 0));
		return 1;
	}
	default:
		return 0;
	}
}

static void exec_session(struct ws_conn *ws, void *userdata)
{
	struct session *se = userdata;
	struct carve_error err = CARVE_ERROR_INIT;
	struct exec_request x = {};
	cleanup_json json_t *j = NULL;
	cleanup_close int fd = -EBADF;
	cleanup_free uint8_t *buf = NULL;
	struct ws_message m;
	int r;

	r = recv_first(ws, EXEC_REQUEST_TIMEOUT_MS, &m);
	if (r <= 0 || m.opcode == WS_OP_CLOSE) {
		if (r == -ETIMEDOUT)
			send_error(ws, -EINVAL, "exec: no request within 30 seconds");
		return;
	}
	r = parse_exec(&m, &x, &j, &err);
	if (r < 0) {
		carve_err_prefix(&err, "exec in server '%s'", se->server);
		send_error(ws, r, err.msg);
		goto out;
	}
	struct monitor_exec_request mreq = {.argv = x.argv,
					    .env = x.env,
					    .cwd = x.cwd,
					    .tty = x.tty,
					    .rows = x.rows,
					    .cols = x.cols};
	fd = monitor_exec_open(se->dir, &mreq, &err);
	if (fd < 0) {
		r = fd;
		if (r == -ENOENT || r == -ECONNREFUSED)
			r = -ESRCH;
		if (r == -ESRCH)
			carve_err(&err, r, "server '%s' is stopped: cannot exec in it", se->server);
		else
			carve_err_prefix(&err, "exec in server '%s'", se->server);
		send_error(ws, r, err.msg);
		goto out;
	}
	buf = malloc(MONITOR_FRAME_MAX_PAYLOAD + 1);
	if (!buf) {
		send_error(ws, -ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		struct pollfd pfd[2] = {{ws_conn_fd(ws), POLLIN, 0}, {fd, POLLIN, 0}};
		bool client_done = false;

		/* Messages already buffered come first: one read() may have brought several (the
		 * request and the client's stdin and EOF right behind it), and poll() does not
		 * report what is in our buffer. */
		while ((r = ws_conn_next(ws, &m)) > 0) {
			r = exec_client_message(se, ws, fd, &m);
			if (r != 0) {
				client_done = true;
				break;
			}
		}
		if (r < 0 || client_done)
			goto out;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents) {
			r = exec_monitor_frame(ws, fd, buf);
			if (r == 1) {
				finish(ws, WS_CLOSE_NORMAL, "exited");
				goto out;
			}
			if (r < 0) {
				send_error(ws, -ESRCH, "exec: the server stopped");
				goto out;
			}
		}
		if (pfd[0].revents) {
			ssize_t n = ws_conn_read(ws);

			if (n <= 0)
				goto out; /* the client went away: closing fd ends the process */
			/* what it brought is handled at the top of the loop */
		}
	}
out:
	exec_request_release(&x);
}

void api_servers_exec(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp)
{
	struct session *se = prepare(d, c, req, resp, "exec", "exec in it");

	if (!se)
		return;
	(void)http_response_websocket(req, resp, exec_session, se, session_free);
}

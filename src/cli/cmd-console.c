/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carve console and carve exec: a websocket client of carved's /servers/NAME/console and
 * /servers/NAME/exec. libcurl does not speak websockets here, so the HTTP/1.1 Upgrade handshake
 * is written by hand on a socket to the same address the other commands use (unix socket or
 * http://host:port; not https yet), then frames go through base/websocket.
 *
 * On a terminal the input is put in raw mode, and restored on every way out: normal end, detach
 * key, connection loss and the terminating signals (which are turned into poll events through a
 * pipe, so that nothing but write(2) runs in a handler). SIGWINCH becomes a resize message.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "base/websocket.h"
#include "carve-config.h"
#include "cli/cli.h"

#define DETACH_KEY 0x1d /* Ctrl-] */
#define HEAD_MAX (16 * 1024)
#define BODY_MAX (64 * 1024)
#define CHUNK (32 * 1024)
#define LINGER_IDLE_MS 1000 /* console, stdin not a terminal: wait for output after EOF */
#define LINGER_MAX_MS 10000
#define EXEC_ARGS_MAX 256

/* --- connection ----------------------------------------------------------------------------- */

static int status_to_errno(long status)
{
	switch (status) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	default:
		return -EIO;
	}
}

static int connect_unix(const char *path, const char *url, struct carve_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_close int fd = -EBADF;

	if (strscpy(sa.sun_path, path, sizeof(sa.sun_path)) < 0)
		return carve_err(err, CLI_ERR_UNREACHABLE, "url '%s': socket path too long", url);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return carve_err(err, CLI_ERR_UNREACHABLE, "cannot reach carved at %s: %s", url,
				 strerror(errno));
	return TAKE_FD(fd);
}

/* base is "http://host[:port][/prefix]": connect, and return the Host header and prefix. */
static int connect_tcp(const char *base, const char *url, char *host_hdr, size_t host_len,
		       const char **ret_prefix, struct carve_error *err)
{
	const char *hp = base + strlen("http://"), *slash = strchr(hp, '/');
	size_t n = slash ? (size_t)(slash - hp) : strlen(hp);
	char host[256], port[8] = "80";
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	const char *colon;
	int fd = -EBADF, r;

	if (n == 0 || n >= host_len || n >= sizeof(host))
		return carve_err(err, -EINVAL, "url '%s': use http://host:port", url);
	memcpy(host_hdr, hp, n);
	host_hdr[n] = '\0';
	if (host_hdr[0] == '[') {
		const char *close = strchr(host_hdr, ']');

		if (!close)
			return carve_err(err, -EINVAL, "url '%s': use http://[addr]:port", url);
		snprintf(host, sizeof(host), "%.*s", (int)(close - host_hdr - 1), host_hdr + 1);
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strrchr(host_hdr, ':');
		snprintf(host, sizeof(host), "%.*s",
			 colon ? (int)(colon - host_hdr) : (int)strlen(host_hdr), host_hdr);
	}
	if (colon)
		snprintf(port, sizeof(port), "%.7s", colon + 1);
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return carve_err(err, CLI_ERR_UNREACHABLE, "cannot reach carved at %s: %s", url,
				 gai_strerror(r));
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		r = errno;
		fd = safe_close(fd);
		errno = r;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return carve_err(err, CLI_ERR_UNREACHABLE, "cannot reach carved at %s: %s", url,
				 strerror(errno));
	*ret_prefix = slash ? slash : "";
	return fd;
}

/* The value of header name in the response head (CRLF-separated), copied into buf. */
static const char *head_value(const char *head, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (!end || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
			continue;
		line += nl + 1;
		while (*line == ' ' || *line == '\t')
			line++;
		snprintf(buf, len, "%.*s", (int)(end - line), line);
		while (*buf && strchr(" \t", buf[strlen(buf) - 1]))
			buf[strlen(buf) - 1] = '\0';
		return buf;
	}
	return NULL;
}

static int refused(struct cli *cli, int fd, long status, const char *head, const char *rest,
		   size_t rest_len, struct carve_error *err)
{
	char cl_buf[32], body[BODY_MAX + 1];
	const char *cl = head_value(head, "Content-Length", cl_buf, sizeof(cl_buf));
	size_t want = cl ? strtoul(cl, NULL, 10) : 0, n = 0;
	json_t *j, *e;
	const char *msg;
	int r;

	if (want > BODY_MAX)
		want = BODY_MAX;
	n = rest_len < want ? rest_len : want;
	memcpy(body, rest, n);
	if (n < want) {
		ssize_t k = loop_read(fd, body + n, want - n);
		if (k > 0)
			n += (size_t)k;
	}
	body[n] = '\0';
	j = json_loadb(body, n, 0, NULL);
	e = json_object_get(j, "error");
	msg = json_string_value(json_object_get(e, "message"));
	if (msg && *msg)
		r = carve_err(err, status_to_errno(status), "%s", msg);
	else
		r = carve_err(err, status_to_errno(status), "carved at %s answered HTTP %ld",
			      cli->cfg.url, status);
	if (status == 401 && !cli->cfg.token && !strstr(err->msg, "carve login")) {
		size_t l = strlen(err->msg);
		snprintf(err->msg + l, sizeof(err->msg) - l,
			 " (log in with 'carve login' or use --token)");
	}
	json_decref(j);
	return r;
}

/* Connect and upgrade GET /api/v1<path>; on success *ret is a client connection on the
 * returned fd (which the caller closes after freeing the connection). */
static int ws_open(struct cli *cli, const char *path, struct ws_conn **ret, struct carve_error *err)
{
	cleanup_free char *sock = NULL, *base = NULL, *req = NULL;
	cleanup_close int fd = -EBADF;
	char key[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1], got[64], host[256] = "localhost";
	char head[HEAD_MAX + 1];
	const char *prefix = "", *end;
	struct ws_conn *ws = NULL;
	size_t n = 0;
	long status;
	int r;

	if (!cli->cfg_resolved) {
		r = cli_config_resolve(cli->flag_url, cli->flag_token, geteuid(), &cli->cfg, err);
		if (r < 0)
			return r;
		cli->cfg_resolved = true;
	}
	if (!cli->cfg.url)
		return carve_err(
			err, CLI_ERR_UNREACHABLE,
			"cannot reach carved: no address (use --url URL, $CARVE_URL or 'carve login')");
	r = cli_url_parse(cli->cfg.url, &sock, &base, err);
	if (r < 0)
		return r;
	if (sock)
		fd = connect_unix(sock, cli->cfg.url, err);
	else if (startswith(base, "https://"))
		return carve_err(err, -EOPNOTSUPP,
				 "url '%s': console and exec do not support https yet; use the "
				 "unix socket or http://",
				 cli->cfg.url);
	else
		fd = connect_tcp(base, cli->cfg.url, host, sizeof(host), &prefix, err);
	if (fd < 0)
		return fd;

	r = ws_key_generate(key);
	if (r < 0)
		return carve_err(err, r, "websocket key");
	if (asprintf(&req,
		     "GET %s/api/v1%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: carve/" CARVE_VERSION
		     "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
		     prefix, path, host, key, cli->cfg.token ? "Authorization: Bearer " : "",
		     cli->cfg.token ? cli->cfg.token : "", cli->cfg.token ? "\r\n" : "") < 0)
		return carve_err(err, -ENOMEM, "out of memory");
	r = loop_write(fd, req, strlen(req));
	explicit_bzero(req, strlen(req));
	if (r < 0)
		return carve_err(err, CLI_ERR_UNREACHABLE, "cannot reach carved at %s: %s",
				 cli->cfg.url, strerror(-r));

	for (;;) {
		ssize_t k;

		head[n] = '\0';
		end = strstr(head, "\r\n\r\n");
		if (end)
			break;
		if (n >= HEAD_MAX)
			return carve_err(err, -EBADMSG, "carved at %s: answer head too long",
					 cli->cfg.url);
		k = read(fd, head + n, HEAD_MAX - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return carve_err(err, CLI_ERR_UNREACHABLE,
					 "cannot reach carved at %s: connection closed",
					 cli->cfg.url);
		n += (size_t)k;
	}
	end += 4;
	if (sscanf(head, "HTTP/1.%*c %ld", &status) != 1)
		return carve_err(err, -EBADMSG, "carved at %s: not an HTTP answer", cli->cfg.url);
	if (status != 101)
		return refused(cli, fd, status, head, end, n - (size_t)(end - head), err);
	ws_accept_key(key, accept);
	if (!head_value(head, "Sec-WebSocket-Accept", got, sizeof(got)) || !streq(got, accept))
		return carve_err(err, -EBADMSG,
				 "carved at %s: wrong Sec-WebSocket-Accept in the answer",
				 cli->cfg.url);
	r = ws_conn_new(fd, WS_ROLE_CLIENT, 0, &ws);
	if (r < 0 || (r = ws_conn_push(ws, end, n - (size_t)(end - head))) < 0) {
		ws_conn_free(ws);
		return carve_err(err, r, "websocket");
	}
	TAKE_FD(fd);
	*ret = ws;
	return 0;
}

static void ws_close_fd(struct ws_conn **ws)
{
	if (!*ws)
		return;
	safe_close(ws_conn_fd(*ws));
	*ws = ws_conn_free(*ws);
}

/* --- terminal and signals ------------------------------------------------------------------- */

static int sig_pipe[2] = {-EBADF, -EBADF};

static void on_signal(int sig)
{
	int saved = errno;
	uint8_t b = (uint8_t)sig;

	(void)!write(sig_pipe[1], &b, 1);
	errno = saved;
}

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGPIPE};

struct term {
	bool raw;
	struct termios saved;
	struct sigaction old[ELEMENTSOF(handled_signals)];
	bool signals;
};

static int term_setup(struct term *t, bool raw, struct carve_error *err)
{
	struct sigaction sa = {.sa_handler = on_signal};

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return carve_err(err, -errno, "pipe");
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ELEMENTSOF(handled_signals); i++)
		sigaction(handled_signals[i], &sa, &t->old[i]);
	t->signals = true;
	if (raw && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		struct termios tio = t->saved;

		cfmakeraw(&tio);
		if (tcsetattr(STDIN_FILENO, TCSADRAIN, &tio) == 0)
			t->raw = true;
	}
	return 0;
}

static void term_restore(struct term *t)
{
	if (t->raw)
		(void)tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved);
	t->raw = false;
	if (t->signals)
		for (size_t i = 0; i < ELEMENTSOF(handled_signals); i++)
			sigaction(handled_signals[i], &t->old[i], NULL);
	t->signals = false;
	sig_pipe[0] = safe_close(sig_pipe[0]);
	sig_pipe[1] = safe_close(sig_pipe[1]);
}

static bool window_size(unsigned *rows, unsigned *cols)
{
	struct winsize w;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &w) < 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) < 0)
		return false;
	if (w.ws_row == 0 || w.ws_col == 0)
		return false;
	*rows = w.ws_row;
	*cols = w.ws_col;
	return true;
}

static int send_text(struct ws_conn *ws, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int r = s ? ws_conn_send(ws, WS_OP_TEXT, s, strlen(s)) : -ENOMEM;

	free(s);
	json_decref(j);
	return r;
}

static int send_resize(struct ws_conn *ws)
{
	unsigned rows, cols;

	if (!window_size(&rows, &cols))
		return 0;
	return send_text(ws, json_pack("{s:s, s:i, s:i}", "type", "resize", "rows", (int)rows,
				       "cols", (int)cols));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the session loop shared by console and exec -------------------------------------------- */

struct session {
	struct cli *cli;
	struct ws_conn *ws;
	struct term term;
	bool exec;
	bool stdin_done;
	bool detached;
	int exit_code; /* exec: from the exit message; -1 until then */
	int signal; /* a terminating signal arrived */
	char error[CARVE_ERROR_MSG_MAX]; /* from an error message or a close reason */
	bool closed;
};

static int write_out(int fd, const void *data, size_t len)
{
	return loop_write(fd, data, len);
}

static void handle_text(struct session *s, const struct ws_message *m)
{
	json_t *j = json_loadb((const char *)m->data, m->len, 0, NULL);
	const char *type = json_string_value(json_object_get(j, "type"));

	if (streq(type, "exit")) {
		json_int_t st = json_integer_value(json_object_get(j, "status"));
		json_int_t sig = json_integer_value(json_object_get(j, "signal"));

		s->exit_code = sig > 0 ? 128 + (int)sig : (int)(st & 0xff);
	} else if (streq(type, "error")) {
		const char *msg = json_string_value(json_object_get(j, "message"));

		snprintf(s->error, sizeof(s->error), "%s", msg ? msg : "error");
	}
	json_decref(j);
}

/* Handle everything buffered on the websocket. Returns 1 when the session is over. */
static int drain_ws(struct session *s)
{
	struct ws_message m;
	int r;

	while ((r = ws_conn_next(s->ws, &m)) > 0) {
		switch (m.opcode) {
		case WS_OP_BINARY:
			if (!s->exec)
				(void)write_out(STDOUT_FILENO, m.data, m.len);
			else if (m.len > 0 && m.data[0] == 1)
				(void)write_out(STDOUT_FILENO, m.data + 1, m.len - 1);
			else if (m.len > 0 && m.data[0] == 2)
				(void)write_out(STDERR_FILENO, m.data + 1, m.len - 1);
			break;
		case WS_OP_TEXT:
			handle_text(s, &m);
			break;
		case WS_OP_CLOSE:
			s->closed = true;
			if (m.close_code >= 4000 && !s->error[0])
				snprintf(s->error, sizeof(s->error), "%.*s", (int)m.len,
					 (const char *)m.data);
			return 1;
		default:
			break;
		}
	}
	if (r < 0) {
		snprintf(s->error, sizeof(s->error), "websocket protocol error: %s", strerror(-r));
		return 1;
	}
	return 0;
}

/* stdin has data. Returns 1 when the session should end (detach). */
static int pump_stdin(struct session *s)
{
	uint8_t buf[CHUNK + 1];
	ssize_t n;

	n = read(STDIN_FILENO, buf + 1, CHUNK);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : (s->stdin_done = true, 0);
	if (n == 0) {
		s->stdin_done = true;
		if (s->exec)
			(void)send_text(s->ws, json_pack("{s:s}", "type", "eof"));
		return 0;
	}
	if (!s->exec) {
		uint8_t *k = memchr(buf + 1, DETACH_KEY, (size_t)n);

		if (k) {
			if (k > buf + 1)
				(void)ws_conn_send(s->ws, WS_OP_BINARY, buf + 1,
						   (size_t)(k - buf - 1));
			s->detached = true;
			return 1;
		}
		return ws_conn_send(s->ws, WS_OP_BINARY, buf + 1, (size_t)n) < 0 ? 1 : 0;
	}
	buf[0] = 0; /* channel 0: stdin */
	return ws_conn_send(s->ws, WS_OP_BINARY, buf, (size_t)n + 1) < 0 ? 1 : 0;
}

/* Send our close and wait briefly for the answer. */
static void close_session(struct session *s, uint16_t code, const char *reason)
{
	int64_t deadline = now_ms() + 2000;

	if (s->closed)
		return;
	if (ws_conn_close(s->ws, code, reason) < 0)
		return;
	while (!s->closed) {
		struct pollfd p = {ws_conn_fd(s->ws), POLLIN, 0};
		int64_t left = deadline - now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0 || ws_conn_read(s->ws) <= 0)
			return;
		if (drain_ws(s))
			return;
	}
}

static void run_loop(struct session *s)
{
	int64_t linger_start = 0;

	for (;;) {
		struct pollfd p[3] = {
			{ws_conn_fd(s->ws), POLLIN, 0},
			{sig_pipe[0], POLLIN, 0},
			{s->stdin_done ? -1 : STDIN_FILENO, POLLIN, 0},
		};
		int timeout = -1, r;

		/* console with piped input: after EOF, show what the server still prints */
		if (!s->exec && s->stdin_done && !s->term.raw) {
			if (!linger_start)
				linger_start = now_ms();
			if (now_ms() - linger_start > LINGER_MAX_MS)
				return close_session(s, WS_CLOSE_NORMAL, "input ended");
			timeout = LINGER_IDLE_MS;
		}
		r = poll(p, 3, timeout);
		if (r < 0 && errno != EINTR)
			return;
		if (r == 0)
			return close_session(s, WS_CLOSE_NORMAL, "input ended");
		if (p[1].revents & POLLIN) {
			uint8_t sig;

			while (read(sig_pipe[0], &sig, 1) == 1) {
				if (sig == SIGWINCH)
					(void)send_resize(s->ws);
				else if (sig != SIGPIPE) {
					s->signal = sig;
					return close_session(s, WS_CLOSE_GOING_AWAY, "interrupted");
				}
			}
		}
		if (p[0].revents) {
			ssize_t n = ws_conn_read(s->ws);

			if (n <= 0) {
				if (!s->error[0] && !(s->exec && s->exit_code >= 0))
					snprintf(s->error, sizeof(s->error),
						 "connection to carved lost");
				return;
			}
			if (drain_ws(s))
				return;
		}
		if (p[2].revents && pump_stdin(s))
			return close_session(s, WS_CLOSE_NORMAL, "detached");
	}
}

static int finish(struct session *s, const char *kind, const char *name)
{
	struct carve_error err = CARVE_ERROR_INIT;

	term_restore(&s->term);
	ws_close_fd(&s->ws);
	if (s->signal)
		return 128 + s->signal;
	if (s->exec && s->exit_code >= 0)
		return s->exit_code;
	if (s->error[0]) {
		carve_err(&err, -EIO, "%s", s->error);
		return cli_fail_object(s->cli, &err, kind, name);
	}
	if (s->exec) {
		carve_err(&err, -EIO, "exec ended without an exit status");
		return cli_fail_object(s->cli, &err, kind, name);
	}
	if (s->detached && isatty(STDERR_FILENO) && !s->cli->quiet)
		fprintf(s->cli->err, "\r\ncarve: detached from server '%s'\r\n", name);
	return CLI_EXIT_OK;
}

/* --- commands ------------------------------------------------------------------------------- */

static int check_target(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *tenant = cli_args_get(a, "tenant");

	if (cli_check_name("server", a->pos[0], &err) < 0)
		return cli_invalid(cli, &err);
	if (tenant && cli_check_name("tenant", tenant, &err) < 0) {
		carve_err_prefix(&err, "server '%s'", a->pos[0]);
		return cli_invalid(cli, &err);
	}
	return CLI_EXIT_OK;
}

static int open_session(struct cli *cli, const struct cli_args *a, const char *what,
			struct session *s)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *p = NULL, *path = NULL;

	if (asprintf(&p, "/servers/%s/%s", a->pos[0], what) < 0)
		return CLI_EXIT_FAILURE;
	path = cli_path_with_tenant(p, cli_args_get(a, "tenant"));
	if (!path)
		return CLI_EXIT_FAILURE;
	*s = (struct session){.cli = cli, .exit_code = -1};
	if (ws_open(cli, path, &s->ws, &err) < 0)
		return cli_fail_object(cli, &err, "server", a->pos[0]);
	return CLI_EXIT_OK;
}

static int run_console(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct session s;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	ex = open_session(cli, a, "console", &s);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (term_setup(&s.term, true, &err) < 0) {
		ws_close_fd(&s.ws);
		return cli_fail(cli, &err);
	}
	if (s.term.raw) {
		if (!cli->quiet)
			fprintf(cli->err, "carve: attached to server '%s' (detach with Ctrl-])\r\n",
				a->pos[0]);
		(void)send_resize(s.ws);
	}
	run_loop(&s);
	return finish(&s, "server", a->pos[0]);
}

/* NAME=VALUE list from --env, with PATH, TERM and HOME defaults when any --env is given (the
 * server's default environment is replaced as a whole). */
static json_t *env_json(const struct cli_args *a, struct carve_error *err)
{
	static const char *const defaults[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"TERM=", "HOME=/root"};
	json_t *env = NULL;
	bool have[ELEMENTSOF(defaults)] = {};

	for (size_t i = 0; i < a->n_opts; i++) {
		const char *v = a->opt_values[i], *eq;

		if (!streq(a->opt_names[i], "env"))
			continue;
		eq = strchr(v, '=');
		if (!eq || eq == v) {
			json_decref(env);
			carve_err_field(err, -EINVAL, "env", "env '%.64s': use NAME=VALUE", v);
			return NULL;
		}
		for (size_t k = 0; k < ELEMENTSOF(defaults); k++)
			if (strncmp(v, defaults[k], (size_t)(eq - v) + 1) == 0)
				have[k] = true;
		if (!env)
			env = json_array();
		json_array_append_new(env, json_string(v));
	}
	if (!env)
		return json_null();
	for (size_t k = 0; k < ELEMENTSOF(defaults); k++) {
		char buf[256];

		if (have[k])
			continue;
		if (streq(defaults[k], "TERM="))
			snprintf(buf, sizeof(buf), "TERM=%.200s", getenv("TERM") ?: "xterm");
		else
			snprintf(buf, sizeof(buf), "%s", defaults[k]);
		json_array_append_new(env, json_string(buf));
	}
	return env;
}

static int run_exec(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *cwd = cli_args_get(a, "cwd");
	bool tty = cli_args_has(a, "tty");
	json_t *req, *cmd, *env;
	unsigned rows = 24, cols = 80;
	struct session s;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (a->n_pos < 2)
		return cli_usage(cli,
				 "server '%s': no command (usage: carve exec %s -- CMD [ARGS])",
				 a->pos[0], a->pos[0]);
	if (cwd && cwd[0] != '/')
		return cli_usage(cli, "server '%s': cwd '%s': must be an absolute path", a->pos[0],
				 cwd);
	env = env_json(a, &err);
	if (!env) {
		carve_err_prefix(&err, "server '%s'", a->pos[0]);
		return cli_invalid(cli, &err);
	}
	cmd = json_array();
	for (size_t i = 1; i < a->n_pos; i++)
		json_array_append_new(cmd, json_string(a->pos[i]));
	if (tty)
		(void)window_size(&rows, &cols);
	req = json_pack("{s:o, s:b, s:o, s:s?, s:i, s:i}", "command", cmd, "tty", tty, "env", env,
			"cwd", cwd, "rows", (int)rows, "cols", (int)cols);
	if (!req)
		return CLI_EXIT_FAILURE;

	ex = open_session(cli, a, "exec", &s);
	if (ex != CLI_EXIT_OK) {
		json_decref(req);
		return ex;
	}
	s.exec = true;
	if (send_text(s.ws, req) < 0) {
		ws_close_fd(&s.ws);
		carve_err(&err, CLI_ERR_UNREACHABLE, "connection to carved lost");
		return cli_fail_object(cli, &err, "server", a->pos[0]);
	}
	if (term_setup(&s.term, tty, &err) < 0) {
		ws_close_fd(&s.ws);
		return cli_fail(cli, &err);
	}
	run_loop(&s);
	return finish(&s, "server", a->pos[0]);
}

static const struct cli_option console_options[] = {
	{"tenant", 0, "TENANT", "the server's tenant (provider admins)"},
	{NULL},
};

static const struct cli_option exec_options[] = {
	{"tty", 't', NULL, "run the command on a terminal (raw mode here)"},
	{"env", 'e', "NAME=VALUE", "set an environment variable (repeatable)"},
	{"cwd", 0, "DIR", "working directory inside the server (default /)"},
	{"tenant", 0, "TENANT", "the server's tenant (provider admins)"},
	{NULL},
};

const struct cli_group cli_group_console = {
	"console",
	"attach to a running server's console",
	(const struct cli_verb[]){
		{"", "SERVER [--tenant T]",
		 "Attach to the console of a running server. On a terminal, input is sent as typed;\n"
		 "Ctrl-] detaches and leaves the server running. With input from a pipe, carve\n"
		 "sends it, shows the output until the console is quiet for a second, and exits.",
		 "Example:\n  carve console web1\n  printf 'uptime\\n' | carve console web1",
		 console_options, 1, 1, run_console},
		{NULL},
	},
};

const struct cli_group cli_group_exec = {
	"exec",
	"run a command inside a running server",
	(const struct cli_verb[]){
		{"", "SERVER [-t] [--env K=V]... [--cwd DIR] -- CMD [ARGS...]",
		 "Run a command inside a running server, streaming stdin, stdout and stderr.\n"
		 "carve exits with the command's exit status (128+N when killed by signal N).\n"
		 "--env replaces the server's default environment (PATH, TERM and HOME are kept\n"
		 "unless given).",
		 "Example:\n  carve exec web1 -- sh -c 'echo hi; exit 7'\n"
		 "  carve exec web1 -t -- sh\n  tar c dir | carve exec web1 -- tar x -C /srv",
		 exec_options, 2, CLI_ARGS_MAX, run_exec},
		{NULL},
	},
};

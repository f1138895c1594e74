/* SPDX-License-Identifier: Apache-2.0 */
/* The real server on a unix socket in a temp dir and on 127.0.0.1 (port 0), driven with plain
 * sockets and hand-written requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "base/cleanup.h"
#include "http/http.h"

struct fixture {
	char dir[64];
	char sock[128];
	struct http_router *router;
	struct http_server *server;
	int port;
};

static int echo_calls;

static void echo(struct http_request *req, struct http_response *resp, void *userdata)
{
	const char *name = http_request_param(req, "name");
	char q[64];
	const char *x = http_request_query(req, "x", q, sizeof(q));

	__atomic_add_fetch(&echo_calls, 1, __ATOMIC_SEQ_CST);
	http_response_json(
		resp, 200,
		json_pack("{s:s, s:s?, s:s?, s:I, s:I, s:b, s:s, s:s?, s:I}", "method", req->method,
			  "name", name, "x", x, "body_len", (json_int_t)req->body_len, "uid",
			  (json_int_t)(req->peer_uid == (uid_t)-1 ? -1 : (json_int_t)req->peer_uid),
			  "via_unix", req->via_unix, "remote", req->remote, "auth",
			  req->authorization, "pid", (json_int_t)req->peer_pid));
	if (name && strcmp(name, "busy") == 0) {
		resp->retry_after = 7;
		snprintf(resp->location, sizeof(resp->location), "/api/v1/tasks/1");
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct carve_error err = CARVE_ERROR_INIT;

	snprintf(f->dir, sizeof(f->dir), "/tmp/carve-http-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/carved.sock", f->dir);
	assert_int_equal(http_router_new(&f->router), 0);
	assert_int_equal(http_router_add(f->router, "GET", "/api/v1/servers/{name}", echo, NULL),
			 0);
	assert_int_equal(http_router_add(f->router, "DELETE", "/api/v1/servers/{name}", echo, NULL),
			 0);
	assert_int_equal(http_router_add(f->router, "POST", "/api/v1/servers", echo, NULL), 0);

	struct http_server_config cfg = {
		.unix_path = f->sock, .tcp_address = "127.0.0.1:0", .threads = 2};
	if (http_server_start(&cfg, f->router, &f->server, &err) < 0)
		fail_msg("start: %s", err.msg);
	f->port = http_server_tcp_port(f->server);
	assert_true(f->port > 0 && f->port < 65536);
	echo_calls = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	http_server_stop(f->server);
	http_router_free(f->router);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int connect_tcp(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return; /* the server may answer and close early */
		p += k;
		n -= (size_t)k;
	}
}

struct reply {
	int status;
	char head[8192];
	char *body;
	json_t *json;
	char raw[65536];
};

/* Read until EOF (requests say "Connection: close"). */
static void read_reply(int fd, struct reply *rep)
{
	size_t n = 0;
	char *sep;

	memset(rep, 0, sizeof(*rep));
	for (;;) {
		ssize_t k = recv(fd, rep->raw + n, sizeof(rep->raw) - 1 - n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n == sizeof(rep->raw) - 1)
			break;
	}
	rep->raw[n] = '\0';
	assert_true(sscanf(rep->raw, "HTTP/1.1 %d", &rep->status) == 1);
	sep = strstr(rep->raw, "\r\n\r\n");
	assert_non_null(sep);
	snprintf(rep->head, sizeof(rep->head), "%.*s", (int)(sep - rep->raw), rep->raw);
	rep->body = sep + 4;
	rep->json = json_loads(rep->body, 0, NULL);
}

static bool has_header(const struct reply *rep, const char *line)
{
	return strcasestr(rep->head, line) != NULL;
}

static const char *error_code(const struct reply *rep)
{
	return json_string_value(json_object_get(json_object_get(rep->json, "error"), "code"));
}

static void request(int fd, const char *req, struct reply *rep)
{
	send_all(fd, req, strlen(req));
	read_reply(fd, rep);
	close(fd);
}

static void test_get_unix(void **state)
{
	struct fixture *f = *state;
	struct reply rep;
	struct stat st;

	assert_int_equal(stat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	request(connect_unix(f->sock),
		"GET /api/v1/servers/web1?x=a%20b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
		"Connection: close\r\n\r\n",
		&rep);
	assert_int_equal(rep.status, 200);
	assert_true(has_header(&rep, "Content-Type: application/json"));
	assert_true(has_header(&rep, "Cache-Control: no-store"));
	assert_non_null(rep.json);
	assert_string_equal(json_string_value(json_object_get(rep.json, "name")), "web1");
	assert_string_equal(json_string_value(json_object_get(rep.json, "x")), "a b");
	assert_string_equal(json_string_value(json_object_get(rep.json, "auth")), "Bearer t");
	assert_true(json_is_true(json_object_get(rep.json, "via_unix")));
	assert_string_equal(json_string_value(json_object_get(rep.json, "remote")), "unix");
	/* SO_PEERCRED: the test's own uid (0 when run as root) and pid */
	assert_int_equal(json_integer_value(json_object_get(rep.json, "uid")),
			 (json_int_t)geteuid());
	assert_int_equal(json_integer_value(json_object_get(rep.json, "pid")),
			 (json_int_t)getpid());
	json_decref(rep.json);

	request(connect_unix(f->sock),
		"GET /api/v1/servers/busy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &rep);
	assert_int_equal(rep.status, 200);
	assert_true(has_header(&rep, "Retry-After: 7"));
	assert_true(has_header(&rep, "Location: /api/v1/tasks/1"));
	json_decref(rep.json);
}

static void test_get_tcp(void **state)
{
	struct fixture *f = *state;
	struct reply rep;

	request(connect_tcp(f->port),
		"GET /api/v1/servers/db%2Dmain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		&rep);
	assert_int_equal(rep.status, 200);
	assert_string_equal(json_string_value(json_object_get(rep.json, "name")), "db-main");
	assert_true(json_is_false(json_object_get(rep.json, "via_unix")));
	assert_string_equal(json_string_value(json_object_get(rep.json, "remote")), "127.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(rep.json, "uid")), -1);
	json_decref(rep.json);

	/* keep-alive: two requests on one connection */
	int fd = connect_tcp(f->port);
	const char *two = "GET /api/v1/servers/a HTTP/1.1\r\nHost: x\r\n\r\n"
			  "GET /api/v1/servers/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	send_all(fd, two, strlen(two));
	read_reply(fd, &rep);
	close(fd);
	assert_int_equal(rep.status, 200);
	assert_non_null(strstr(rep.body, "\"name\":\"a\""));
	assert_non_null(strstr(rep.body, "\"name\":\"b\""));
	json_decref(rep.json);
}

static void test_404_405(void **state)
{
	struct fixture *f = *state;
	struct reply rep;

	request(connect_unix(f->sock),
		"GET /api/v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &rep);
	assert_int_equal(rep.status, 404);
	assert_string_equal(error_code(&rep), "not_found");
	assert_true(has_header(&rep, "Content-Type: application/json"));
	json_decref(rep.json);

	request(connect_unix(f->sock),
		"PUT /api/v1/servers/web1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		"Content-Length: 0\r\n\r\n",
		&rep);
	assert_int_equal(rep.status, 405);
	assert_string_equal(error_code(&rep), "method_not_allowed");
	assert_true(has_header(&rep, "Allow: GET, DELETE"));
	json_decref(rep.json);
	assert_int_equal(echo_calls, 0);
}

static void test_bad_paths(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {"/api/v1/servers/..", "/api/v1/servers/a%00b",
					  "/api/v1//servers/a", "/api/v1/servers/%zz",
					  "/api/v1/servers/%2e%2e"};
	struct reply rep;
	char req[4096], longpath[2100];

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", bad[i]);
		request(connect_unix(f->sock), req, &rep);
		if (rep.status != 400)
			fail_msg("%s: status %d", bad[i], rep.status);
		assert_string_equal(error_code(&rep), "invalid_argument");
		json_decref(rep.json);
	}

	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "/api/v1/servers/", 16);
	longpath[sizeof(longpath) - 1] = '\0';
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 longpath);
	request(connect_unix(f->sock), req, &rep);
	assert_int_equal(rep.status, 414);
	assert_string_equal(error_code(&rep), "uri_too_long");
	json_decref(rep.json);
	assert_int_equal(echo_calls, 0);
}

static void test_415(void **state)
{
	struct fixture *f = *state;
	struct reply rep;

	request(connect_unix(f->sock),
		"POST /api/v1/servers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
		&rep);
	assert_int_equal(rep.status, 415);
	assert_string_equal(error_code(&rep), "unsupported_media_type");
	json_decref(rep.json);
	assert_int_equal(echo_calls, 0);

	request(connect_unix(f->sock),
		"POST /api/v1/servers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		&rep);
	assert_int_equal(rep.status, 200);
	assert_int_equal(json_integer_value(json_object_get(rep.json, "body_len")), 2);
	json_decref(rep.json);
}

static void test_body_limits(void **state)
{
	struct fixture *f = *state;
	size_t big = 2 * 1024 * 1024, chunk = 65536;
	char *buf = malloc(big);
	struct reply rep;
	char hdr[256];
	int fd;

	memset(buf, ' ', big);

	/* Exactly HTTP_BODY_MAX is accepted. */
	fd = connect_unix(f->sock);
	snprintf(hdr, sizeof(hdr),
		 "POST /api/v1/servers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		 HTTP_BODY_MAX);
	send_all(fd, hdr, strlen(hdr));
	send_all(fd, buf, HTTP_BODY_MAX);
	read_reply(fd, &rep);
	close(fd);
	assert_int_equal(rep.status, 200);
	assert_int_equal(json_integer_value(json_object_get(rep.json, "body_len")), HTTP_BODY_MAX);
	json_decref(rep.json);
	assert_int_equal(echo_calls, 1);

	/* Content-Length of 2 MiB: refused from the headers alone, before any body is sent. */
	fd = connect_unix(f->sock);
	snprintf(hdr, sizeof(hdr),
		 "POST /api/v1/servers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		 big);
	send_all(fd, hdr, strlen(hdr));
	read_reply(fd, &rep);
	close(fd);
	assert_int_equal(rep.status, 413);
	assert_string_equal(error_code(&rep), "payload_too_large");
	json_decref(rep.json);

	/* Chunked, 2 MiB in total. */
	fd = connect_tcp(f->port);
	snprintf(hdr, sizeof(hdr),
		 "POST /api/v1/servers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
	send_all(fd, hdr, strlen(hdr));
	for (size_t o = 0; o < big; o += chunk) {
		snprintf(hdr, sizeof(hdr), "%zx\r\n", chunk);
		send_all(fd, hdr, strlen(hdr));
		send_all(fd, buf + o, chunk);
		send_all(fd, "\r\n", 2);
	}
	send_all(fd, "0\r\n\r\n", 5);
	read_reply(fd, &rep);
	close(fd);
	assert_int_equal(rep.status, 413);
	assert_string_equal(error_code(&rep), "payload_too_large");
	json_decref(rep.json);

	assert_int_equal(echo_calls, 1);
	free(buf);
}

static void test_header_limits(void **state)
{
	struct fixture *f = *state;
	size_t sizes[] = {20 * 1024, 200 * 1024};

	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		size_t n = sizes[i];
		char *req = malloc(n + 256);
		struct reply rep;
		size_t o;

		o = (size_t)snprintf(
			req, n + 256,
			"GET /api/v1/servers/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			"X-Big: ");
		memset(req + o, 'b', n);
		o += n;
		snprintf(req + o, 256, "\r\n\r\n");
		request(connect_unix(f->sock), req, &rep);
		/* just past HTTP_HEADER_MAX: our own check, with a JSON body; far past it:
		 * libmicrohttpd's memory limit may answer first */
		if (i == 0) {
			assert_int_equal(rep.status, 431);
			assert_string_equal(error_code(&rep), "headers_too_large");
		} else if (rep.status != 431 && rep.status != 413)
			fail_msg("headers of %zu bytes: status %d", n, rep.status);
		json_decref(rep.json);
		free(req);
	}
	assert_int_equal(echo_calls, 0);
}

static void test_restart_and_stale(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct http_server *s2 = NULL;
	struct http_server_config cfg = {.unix_path = f->sock};
	struct reply rep;
	char path[160];
	struct stat st;
	int fd;

	/* a live server on the path is not taken over */
	assert_int_equal(http_server_start(&cfg, f->router, &s2, &err), -EADDRINUSE);
	assert_null(s2);
	assert_int_equal(stat(f->sock, &st), 0);

	/* stop removes the socket */
	f->server = http_server_stop(f->server);
	assert_int_equal(stat(f->sock, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* a stale socket (bound, nobody listening) is replaced */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	carve_err_clear(&err);
	if (http_server_start(&cfg, f->router, &f->server, &err) < 0)
		fail_msg("restart: %s", err.msg);
	request(connect_unix(f->sock),
		"GET /api/v1/servers/again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &rep);
	assert_int_equal(rep.status, 200);
	json_decref(rep.json);
	assert_int_equal(http_server_tcp_port(f->server), -ENOENT);

	/* a regular file is never removed */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	cfg.unix_path = path;
	carve_err_clear(&err);
	assert_int_equal(http_server_start(&cfg, f->router, &s2, &err), -EEXIST);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);

	/* bad TCP addresses */
	static const char *const bad_addr[] = {"localhost:80", "127.0.0.1", "127.0.0.1:65536",
					       "[::1]8006",    "::1:8006",  "1.2.3.4:-1"};
	for (size_t i = 0; i < ELEMENTSOF(bad_addr); i++) {
		struct http_server_config c = {.tcp_address = bad_addr[i]};
		carve_err_clear(&err);
		assert_int_equal(http_server_start(&c, f->router, &s2, &err), -EINVAL);
		assert_non_null(strstr(err.msg, bad_addr[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_unix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_404_405, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_415, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_and_stale, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

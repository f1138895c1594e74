/* SPDX-License-Identifier: Apache-2.0 */
/* Websocket upgrade against the real server: a tiny in-test handler that echoes messages, driven
 * by a hand-written handshake and a client-side struct ws_conn over the unix socket and TCP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/websocket.h"
#include "http/http.h"

struct fixture {
	char dir[64];
	char sock[128];
	struct http_router *router;
	struct http_server *server;
	int port;
};

static int destroyed;
static int sessions_ended;

struct echo_ctx {
	char name[64];
};

static void echo_destroy(void *userdata)
{
	__atomic_add_fetch(&destroyed, 1, __ATOMIC_SEQ_CST);
	free(userdata);
}

/* Echo every message back as "<name>:<data>" with the same opcode, until close or EOF. */
static void echo_session(struct ws_conn *ws, void *userdata)
{
	struct echo_ctx *e = userdata;
	struct ws_message m;
	char buf[70000];

	while (ws_conn_recv(ws, &m) > 0 && m.opcode != WS_OP_CLOSE) {
		int n = snprintf(buf, sizeof(buf), "%s:", e->name);

		if (m.len > sizeof(buf) - (size_t)n)
			break;
		memcpy(buf + n, m.data, m.len);
		if (ws_conn_send(ws, m.opcode, buf, (size_t)n + m.len) < 0)
			break;
	}
	__atomic_add_fetch(&sessions_ended, 1, __ATOMIC_SEQ_CST);
}

static void ws_handler(struct http_request *req, struct http_response *resp, void *userdata)
{
	struct echo_ctx *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	snprintf(e->name, sizeof(e->name), "%s", http_request_param(req, "name"));
	(void)http_response_websocket(req, resp, echo_session, e, echo_destroy);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct carve_error err = CARVE_ERROR_INIT;

	snprintf(f->dir, sizeof(f->dir), "/tmp/carve-ws-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/carved.sock", f->dir);
	assert_int_equal(http_router_new(&f->router), 0);
	assert_int_equal(http_router_add(f->router, "GET", "/ws/{name}", ws_handler, NULL), 0);
	struct http_server_config cfg = {
		.unix_path = f->sock, .tcp_address = "127.0.0.1:0", .threads = 2};
	if (http_server_start(&cfg, f->router, &f->server, &err) < 0)
		fail_msg("start: %s", err.msg);
	f->port = http_server_tcp_port(f->server);
	destroyed = 0;
	sessions_ended = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	http_server_stop(f->server);
	http_router_free(f->router);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int connect_unix(struct fixture *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int connect_tcp(struct fixture *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Read the response head (up to and including the blank line) byte by byte, so that nothing
 * after it is consumed. */
static void read_head(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd pfd = {fd, POLLIN, 0};

		assert_int_equal(poll(&pfd, 1, 5000), 1);
		if (read(fd, buf + n, 1) != 1)
			break;
		n++;
		buf[n] = '\0';
		if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
			return;
	}
	buf[n] = '\0';
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

#define HANDSHAKE                                                          \
	"GET /ws/%s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n" \
	"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: %s\r\n"     \
	"Sec-WebSocket-Version: 13\r\n\r\n"

static void test_upgrade_and_echo(void **state)
{
	struct fixture *f = *state;
	char req[512], head[2048], key[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1], want[64];
	struct ws_conn *ws;
	struct ws_message m;

	for (int transport = 0; transport < 2; transport++) {
		int fd = transport == 0 ? connect_unix(f) : connect_tcp(f);

		assert_int_equal(ws_key_generate(key), 0);
		snprintf(req, sizeof(req), HANDSHAKE, transport == 0 ? "web1" : "tcp1", key);
		send_str(fd, req);
		read_head(fd, head, sizeof(head));
		assert_true(strncmp(head, "HTTP/1.1 101", 12) == 0);
		ws_accept_key(key, accept);
		snprintf(want, sizeof(want), "Sec-WebSocket-Accept: %s\r\n", accept);
		assert_non_null(strcasestr(head, want));
		assert_non_null(strcasestr(head, "Upgrade: websocket\r\n"));

		assert_int_equal(ws_conn_new(fd, WS_ROLE_CLIENT, 0, &ws), 0);
		assert_int_equal(ws_conn_send(ws, WS_OP_TEXT, "hello", 5), 0);
		assert_int_equal(ws_conn_recv(ws, &m), 1);
		assert_int_equal(m.opcode, WS_OP_TEXT);
		assert_string_equal((const char *)m.data,
				    transport == 0 ? "web1:hello" : "tcp1:hello");

		/* a 65536-byte binary message (64-bit length) round-trips */
		static uint8_t big[65536];
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)(i ^ (i >> 8));
		assert_int_equal(ws_conn_send(ws, WS_OP_BINARY, big, sizeof(big)), 0);
		assert_int_equal(ws_conn_recv(ws, &m), 1);
		assert_int_equal(m.opcode, WS_OP_BINARY);
		assert_int_equal(m.len, 5 + sizeof(big));
		assert_memory_equal(m.data + 5, big, sizeof(big));

		/* a ping is answered by the server side's connection */
		assert_int_equal(ws_conn_send(ws, WS_OP_PING, "p", 1), 0);
		assert_int_equal(ws_conn_send(ws, WS_OP_TEXT, "x", 1), 0);
		assert_int_equal(ws_conn_recv(ws, &m), 1);
		assert_string_equal((const char *)m.data + 5, "x");

		/* close handshake: the server echoes the close, then the connection ends */
		assert_int_equal(ws_conn_close(ws, WS_CLOSE_NORMAL, NULL), 0);
		assert_int_equal(ws_conn_recv(ws, &m), 1);
		assert_int_equal(m.opcode, WS_OP_CLOSE);
		assert_int_equal(m.close_code, WS_CLOSE_NORMAL);
		assert_int_equal(ws_conn_recv(ws, &m), 0); /* EOF */
		ws_conn_free(ws);
		close(fd);
	}
	/* both sessions ended and their userdata was destroyed */
	for (int i = 0; i < 100 && __atomic_load_n(&destroyed, __ATOMIC_SEQ_CST) < 2; i++)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&sessions_ended, __ATOMIC_SEQ_CST), 2);
	assert_int_equal(__atomic_load_n(&destroyed, __ATOMIC_SEQ_CST), 2);
}

static void test_frame_with_handshake(void **state)
{
	struct fixture *f = *state;
	char req[512], head[2048], key[WS_KEY_LEN + 1];
	uint8_t frame[64];
	const uint8_t mask[4] = {1, 2, 3, 4};
	struct ws_conn *ws;
	struct ws_message m;
	int fd = connect_unix(f);
	size_t hl;

	/* the first frame arrives in the same write as the request: MHD hands it over as
	 * extra_in, and it must not be lost */
	assert_int_equal(ws_key_generate(key), 0);
	int n = snprintf(req, sizeof(req), HANDSHAKE, "early", key);
	hl = ws_frame_header(frame, true, WS_OP_TEXT, 3, mask);
	memcpy(frame + hl, "abc", 3);
	ws_mask(frame + hl, 3, mask, 0);
	memcpy(req + n, frame, hl + 3);
	assert_int_equal(write(fd, req, (size_t)n + hl + 3), (ssize_t)((size_t)n + hl + 3));
	read_head(fd, head, sizeof(head));
	assert_true(strncmp(head, "HTTP/1.1 101", 12) == 0);
	assert_int_equal(ws_conn_new(fd, WS_ROLE_CLIENT, 0, &ws), 0);
	assert_int_equal(ws_conn_recv(ws, &m), 1);
	assert_string_equal((const char *)m.data, "early:abc");
	ws_conn_free(ws);
	close(fd);
}

static void expect_refused(struct fixture *f, const char *request, const char *what)
{
	char head[4096];
	int fd = connect_unix(f);

	send_str(fd, request);
	read_head(fd, head, sizeof(head));
	if (strncmp(head, "HTTP/1.1 400", 12) != 0)
		fail_msg("%s: got %.40s", what, head);
	close(fd);
}

static void test_bad_handshakes(void **state)
{
	struct fixture *f = *state;

	expect_refused(f, "GET /ws/a HTTP/1.1\r\nHost: x\r\n\r\n", "no upgrade");
	expect_refused(
		f,
		"GET /ws/a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
		"version 8");
	expect_refused(
		f,
		"GET /ws/a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: short==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		"bad key");
	expect_refused(
		f,
		"GET /ws/a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: close\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		"connection without upgrade");
	/* every refused handshake destroyed its userdata and started no session */
	assert_int_equal(__atomic_load_n(&destroyed, __ATOMIC_SEQ_CST), 4);
	assert_int_equal(__atomic_load_n(&sessions_ended, __ATOMIC_SEQ_CST), 0);
}

static void test_header_tokens(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct http_request req = {.method = "GET",
				   .upgrade = "WebSocket",
				   .connection = "keep-alive,  upgrade ",
				   .ws_key = "dGhlIHNhbXBsZSBub25jZQ==",
				   .ws_version = "13"};
	struct http_response resp = {};

	assert_int_equal(http_request_websocket_check(&req, &err), 0);
	req.connection = "upgraded";
	assert_int_equal(http_request_websocket_check(&req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "Connection"));
	req.connection = "Upgrade";
	req.method = "POST";
	assert_int_equal(http_request_websocket_check(&req, NULL), -EINVAL);
	req.method = "GET";
	assert_true(http_response_websocket(&req, &resp, echo_session, NULL, NULL));
	assert_int_equal(resp.status, 101);
	assert_string_equal(resp.ws_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* a response released before the upgrade destroys the userdata */
	resp.ws_userdata = calloc(1, 1);
	resp.ws_destroy = echo_destroy;
	destroyed = 0;
	http_response_release(&resp);
	assert_int_equal(destroyed, 1);
	assert_null(resp.ws_fn);
}

static void test_stop_ends_sessions(void **state)
{
	struct fixture *f = *state;
	char req[512], head[2048], key[WS_KEY_LEN + 1];
	struct ws_conn *ws;
	struct ws_message m;
	int fd = connect_unix(f);
	struct timespec t0, t1;

	assert_int_equal(ws_key_generate(key), 0);
	snprintf(req, sizeof(req), HANDSHAKE, "open", key);
	send_str(fd, req);
	read_head(fd, head, sizeof(head));
	assert_true(strncmp(head, "HTTP/1.1 101", 12) == 0);
	assert_int_equal(ws_conn_new(fd, WS_ROLE_CLIENT, 0, &ws), 0);
	assert_int_equal(ws_conn_send(ws, WS_OP_TEXT, "1", 1), 0);
	assert_int_equal(ws_conn_recv(ws, &m), 1);

	/* stopping the server with a session open ends the session promptly */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	f->server = http_server_stop(f->server);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	assert_int_equal(__atomic_load_n(&sessions_ended, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(__atomic_load_n(&destroyed, __ATOMIC_SEQ_CST), 1);
	assert_true(ws_conn_recv(ws, &m) <= 0);
	ws_conn_free(ws);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upgrade_and_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_with_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_handshakes, setup, teardown),
		cmocka_unit_test(test_header_tokens),
		cmocka_unit_test_setup_teardown(test_stop_ends_sessions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

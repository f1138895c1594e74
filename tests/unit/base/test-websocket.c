/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 6455 framing and handshake keys, driven over socketpairs: one end a struct ws_conn, the
 * other end raw bytes written and read by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/websocket.h"

struct pair {
	int raw; /* the test's end */
	int fd; /* the ws_conn's end */
	struct ws_conn *ws;
};

static void pair_open(struct pair *p, enum ws_role role, size_t max)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->raw = sv[0];
	p->fd = sv[1];
	assert_int_equal(ws_conn_new(p->fd, role, max, &p->ws), 0);
}

static void pair_close(struct pair *p)
{
	ws_conn_free(p->ws);
	close(p->raw);
	close(p->fd);
}

/* Write a frame as a peer would: masked with mask when given. */
static void raw_frame(int fd, bool fin, unsigned op, const void *data, size_t len,
		      const uint8_t *mask)
{
	uint8_t buf[WS_HEADER_MAX + 70000];
	size_t hl = ws_frame_header(buf, fin, op, len, mask);

	assert_true(len <= sizeof(buf) - hl);
	memcpy(buf + hl, data, len);
	if (mask)
		ws_mask(buf + hl, len, mask, 0);
	assert_int_equal(write(fd, buf, hl + len), (ssize_t)(hl + len));
}

static const uint8_t mask1[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Read exactly n bytes from fd (with a timeout). */
static void raw_read(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t k;

		assert_int_equal(poll(&pfd, 1, 2000), 1);
		k = read(fd, (uint8_t *)buf + got, n - got);
		assert_true(k > 0);
		got += (size_t)k;
	}
}

static bool raw_readable(int fd)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	return poll(&pfd, 1, 0) == 1;
}

static void test_sha1_and_accept(void **state)
{
	uint8_t d[20];
	char hex[41], accept[WS_ACCEPT_LEN + 1];

	ws_sha1("abc", 3, d);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	/* 56 bytes: the padding needs a second block */
	ws_sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");

	/* RFC 6455 section 1.3 */
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept);
	/* (the value in the RFC; checked with openssl sha1 | base64) */
	assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_base64_and_keys(void **state)
{
	char out[16], key[WS_KEY_LEN + 1], key2[WS_KEY_LEN + 1];

	ws_base64_encode("", 0, out);
	assert_string_equal(out, "");
	ws_base64_encode("f", 1, out);
	assert_string_equal(out, "Zg==");
	ws_base64_encode("fo", 2, out);
	assert_string_equal(out, "Zm8=");
	ws_base64_encode("foobar", 6, out);
	assert_string_equal(out, "Zm9vYmFy");

	assert_true(ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ=="));
	assert_false(ws_key_is_valid(NULL));
	assert_false(ws_key_is_valid(""));
	assert_false(ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ=")); /* too short */
	assert_false(ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ=A")); /* bad padding */
	assert_false(ws_key_is_valid("dGhlIHNhbXBsZSBub25j*Q==")); /* not base64 */
	assert_false(ws_key_is_valid("dGhlIHNhbXBsZSBub25jZR==")); /* trailing bits set */
	assert_false(ws_key_is_valid("Zm9vYmFyZm9vYmFyZm9vYmFy")); /* 18 bytes */

	assert_int_equal(ws_key_generate(key), 0);
	assert_int_equal(ws_key_generate(key2), 0);
	assert_true(ws_key_is_valid(key));
	assert_string_not_equal(key, key2);
}

static void test_header_lengths(void **state)
{
	uint8_t buf[WS_HEADER_MAX + 8] = {};
	struct ws_frame f;

	/* 7-bit, 16-bit and 64-bit lengths round-trip, with and without a mask */
	const uint64_t lens[] = {0, 125, 126, 65535, 65536, 1u << 20};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t hl = ws_frame_header(buf, true, WS_OP_BINARY, lens[i], mask1);

		assert_int_equal(hl, (lens[i] < 126 ? 2 : lens[i] <= 65535 ? 4 : 10) + 4);
		assert_int_equal(ws_frame_parse(buf, hl, UINT64_MAX, &f), 1);
		assert_int_equal(f.len, lens[i]);
		assert_int_equal(f.header_len, hl);
		assert_true(f.masked && f.fin);
		assert_memory_equal(f.mask, mask1, 4);
		/* every shorter prefix asks for more bytes */
		for (size_t k = 0; k < hl; k++)
			assert_int_equal(ws_frame_parse(buf, k, UINT64_MAX, &f), 0);
	}

	/* over the limit */
	size_t hl = ws_frame_header(buf, true, WS_OP_BINARY, 1001, NULL);
	assert_int_equal(ws_frame_parse(buf, hl, 1000, &f), -EMSGSIZE);
	assert_int_equal(ws_frame_parse(buf, hl, 1001, &f), 1);
	assert_false(f.masked);

	/* reserved bits, unknown opcode, fragmented and long control frames, non-minimal length,
	 * a 64-bit length with the top bit set */
	uint8_t rsv[] = {0xc2, 0x00};
	assert_int_equal(ws_frame_parse(rsv, 2, 100, &f), -EBADMSG);
	uint8_t op3[] = {0x83, 0x00};
	assert_int_equal(ws_frame_parse(op3, 2, 100, &f), -EBADMSG);
	uint8_t fragping[] = {0x09, 0x00};
	assert_int_equal(ws_frame_parse(fragping, 2, 100, &f), -EBADMSG);
	uint8_t longping[] = {0x89, 126, 0x00, 0x80};
	assert_int_equal(ws_frame_parse(longping, 4, 1000, &f), -EBADMSG);
	uint8_t nonmin[] = {0x82, 126, 0x00, 0x05};
	assert_int_equal(ws_frame_parse(nonmin, 4, 1000, &f), -EBADMSG);
	uint8_t huge[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
	assert_int_equal(ws_frame_parse(huge, 10, UINT64_MAX, &f), -EBADMSG);
}

static void test_mask(void **state)
{
	uint8_t data[] = "Hello";
	/* RFC 6455 5.7: masked "Hello" */
	const uint8_t want[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};

	ws_mask(data, 5, mask1, 0);
	assert_memory_equal(data, want, 5);
	ws_mask(data, 5, mask1, 0);
	assert_memory_equal(data, "Hello", 5);
	/* masking in two pieces with an offset equals masking at once */
	ws_mask(data, 2, mask1, 0);
	ws_mask(data + 2, 3, mask1, 2);
	assert_memory_equal(data, want, 5);
}

static void test_server_receives_masked(void **state)
{
	struct pair p;
	struct ws_message m;

	pair_open(&p, WS_ROLE_SERVER, 0);
	raw_frame(p.raw, true, WS_OP_TEXT, "Hello", 5, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), 1);
	assert_int_equal(m.opcode, WS_OP_TEXT);
	assert_int_equal(m.len, 5);
	assert_string_equal((const char *)m.data, "Hello");

	/* an unmasked frame from a client is a protocol error, answered with close 1002 */
	raw_frame(p.raw, true, WS_OP_BINARY, "x", 1, NULL);
	assert_int_equal(ws_conn_recv(p.ws, &m), -EBADMSG);
	uint8_t close_frame[4];
	raw_read(p.raw, close_frame, 4);
	assert_int_equal(close_frame[0], 0x88);
	assert_int_equal(close_frame[1] & 0x80, 0); /* servers do not mask */
	assert_int_equal(close_frame[2] << 8 | close_frame[3], WS_CLOSE_PROTOCOL_ERROR);
	pair_close(&p);
}

static void test_client_masks_and_server_decodes(void **state)
{
	int sv[2];
	struct ws_conn *client, *server;
	struct ws_message m;
	uint8_t big[70000], raw[WS_HEADER_MAX];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(ws_conn_new(sv[0], WS_ROLE_CLIENT, 0, &client), 0);
	assert_int_equal(ws_conn_new(sv[1], WS_ROLE_SERVER, 0, &server), 0);

	/* a client frame is masked on the wire: the payload does not appear in clear */
	assert_int_equal(ws_conn_send(client, WS_OP_BINARY, "secretsecret", 12), 0);
	assert_int_equal(recv(sv[1], raw, 6, MSG_PEEK), 6);
	assert_true(raw[1] & 0x80);
	uint8_t wire[18];
	assert_int_equal(recv(sv[1], wire, 18, MSG_PEEK), 18);
	assert_memory_not_equal(wire + 6, "secretsecret", 12);
	assert_int_equal(ws_conn_recv(server, &m), 1);
	assert_int_equal(m.opcode, WS_OP_BINARY);
	assert_int_equal(m.len, 12);
	assert_memory_equal(m.data, "secretsecret", 12);

	/* a 64-bit-length message both ways; written by a thread-free trick: the socket buffer
	 * may be too small, so send from a child */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r = ws_conn_send(client, WS_OP_BINARY, big, sizeof(big));
		_exit(r == 0 ? 0 : 1);
	}
	assert_int_equal(ws_conn_recv(server, &m), 1);
	assert_int_equal(m.len, sizeof(big));
	assert_memory_equal(m.data, big, sizeof(big));
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* server -> client: unmasked, accepted by the client */
	assert_int_equal(ws_conn_send(server, WS_OP_TEXT, "hi", 2), 0);
	assert_int_equal(ws_conn_recv(client, &m), 1);
	assert_string_equal((const char *)m.data, "hi");

	/* close handshake: the server answers the client's close with the same code */
	assert_int_equal(ws_conn_close(client, WS_CLOSE_NORMAL, "bye"), 0);
	assert_true(ws_conn_close_sent(client));
	assert_int_equal(ws_conn_send(client, WS_OP_TEXT, "late", 4), -EPIPE);
	assert_int_equal(ws_conn_recv(server, &m), 1);
	assert_int_equal(m.opcode, WS_OP_CLOSE);
	assert_int_equal(m.close_code, WS_CLOSE_NORMAL);
	assert_int_equal(m.len, 3);
	assert_memory_equal(m.data, "bye", 3);
	assert_true(ws_conn_close_sent(server));
	assert_int_equal(ws_conn_recv(client, &m), 1);
	assert_int_equal(m.opcode, WS_OP_CLOSE);
	assert_int_equal(m.close_code, WS_CLOSE_NORMAL);

	ws_conn_free(client);
	ws_conn_free(server);
	close(sv[0]);
	close(sv[1]);
}

static void test_fragmentation_with_ping(void **state)
{
	struct pair p;
	struct ws_message m;
	uint8_t pong[2 + 4];

	pair_open(&p, WS_ROLE_SERVER, 0);
	raw_frame(p.raw, false, WS_OP_TEXT, "Hel", 3, mask1);
	raw_frame(p.raw, true, WS_OP_PING, "ping", 4, mask1);
	raw_frame(p.raw, false, WS_OP_CONTINUATION, "lo, ", 4, mask1);
	raw_frame(p.raw, true, WS_OP_CONTINUATION, "world", 5, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), 1);
	assert_int_equal(m.opcode, WS_OP_TEXT);
	assert_int_equal(m.len, 12);
	assert_string_equal((const char *)m.data, "Hello, world");
	/* the ping in the middle was answered with a pong carrying its payload */
	raw_read(p.raw, pong, sizeof(pong));
	assert_int_equal(pong[0], 0x8a);
	assert_int_equal(pong[1], 4);
	assert_memory_equal(pong + 2, "ping", 4);
	/* a pong from the peer is dropped silently */
	raw_frame(p.raw, true, WS_OP_PONG, "", 0, mask1);
	raw_frame(p.raw, true, WS_OP_BINARY, "\x00\x01", 2, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), 1);
	assert_int_equal(m.opcode, WS_OP_BINARY);
	assert_int_equal(m.len, 2);
	assert_false(raw_readable(p.raw));

	/* a continuation with no message started */
	raw_frame(p.raw, true, WS_OP_CONTINUATION, "x", 1, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), -EBADMSG);
	pair_close(&p);

	/* a new message while one is fragmented */
	pair_open(&p, WS_ROLE_SERVER, 0);
	raw_frame(p.raw, false, WS_OP_BINARY, "a", 1, mask1);
	raw_frame(p.raw, true, WS_OP_BINARY, "b", 1, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), -EBADMSG);
	pair_close(&p);
}

static void test_oversize_refused(void **state)
{
	struct pair p;
	struct ws_message m;
	uint8_t data[200] = {}, close_frame[4];

	/* one frame over the limit */
	pair_open(&p, WS_ROLE_SERVER, 100);
	raw_frame(p.raw, true, WS_OP_BINARY, data, 101, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), -EMSGSIZE);
	raw_read(p.raw, close_frame, 4);
	assert_int_equal(close_frame[2] << 8 | close_frame[3], WS_CLOSE_TOO_BIG);
	/* the connection stays failed */
	assert_int_equal(ws_conn_next(p.ws, &m), -EBADMSG);
	pair_close(&p);

	/* fragments each under the limit that add up to more */
	pair_open(&p, WS_ROLE_SERVER, 100);
	raw_frame(p.raw, false, WS_OP_BINARY, data, 60, mask1);
	raw_frame(p.raw, true, WS_OP_CONTINUATION, data, 60, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), -EMSGSIZE);
	pair_close(&p);

	/* exactly the limit passes */
	pair_open(&p, WS_ROLE_SERVER, 100);
	raw_frame(p.raw, false, WS_OP_BINARY, data, 50, mask1);
	raw_frame(p.raw, true, WS_OP_CONTINUATION, data, 50, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), 1);
	assert_int_equal(m.len, 100);
	pair_close(&p);
}

static void test_truncated_frame(void **state)
{
	struct pair p;
	struct ws_message m;
	uint8_t buf[64];
	size_t hl = ws_frame_header(buf, true, WS_OP_BINARY, 10, mask1);

	memcpy(buf + hl, "0123456789", 10);
	ws_mask(buf + hl, 10, mask1, 0);

	/* fed one byte at a time, the frame is only complete at its last byte */
	pair_open(&p, WS_ROLE_SERVER, 0);
	for (size_t i = 0; i < hl + 10; i++) {
		assert_int_equal(ws_conn_next(p.ws, &m), 0);
		assert_int_equal(ws_conn_push(p.ws, buf + i, 1), 0);
	}
	assert_int_equal(ws_conn_next(p.ws, &m), 1);
	assert_memory_equal(m.data, "0123456789", 10);
	assert_int_equal(ws_conn_next(p.ws, &m), 0);
	pair_close(&p);

	/* the peer hangs up in the middle of a frame: EOF, no message */
	pair_open(&p, WS_ROLE_SERVER, 0);
	assert_int_equal(write(p.raw, buf, hl + 4), (ssize_t)(hl + 4));
	shutdown(p.raw, SHUT_WR);
	assert_int_equal(ws_conn_recv(p.ws, &m), 0);
	pair_close(&p);
}

static void test_invalid_text_and_close(void **state)
{
	struct pair p;
	struct ws_message m;

	pair_open(&p, WS_ROLE_SERVER, 0);
	raw_frame(p.raw, true, WS_OP_TEXT, "\xc3\x28", 2, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), -EBADMSG);
	pair_close(&p);

	/* a close frame of one byte */
	pair_open(&p, WS_ROLE_SERVER, 0);
	raw_frame(p.raw, true, WS_OP_CLOSE, "x", 1, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), -EBADMSG);
	pair_close(&p);

	/* an empty close frame: code 1005 reported, answered with 1000 */
	pair_open(&p, WS_ROLE_SERVER, 0);
	raw_frame(p.raw, true, WS_OP_CLOSE, "", 0, mask1);
	assert_int_equal(ws_conn_recv(p.ws, &m), 1);
	assert_int_equal(m.opcode, WS_OP_CLOSE);
	assert_int_equal(m.close_code, WS_CLOSE_NO_STATUS);
	uint8_t reply[4];
	raw_read(p.raw, reply, 4);
	assert_int_equal(reply[2] << 8 | reply[3], WS_CLOSE_NORMAL);
	pair_close(&p);

	/* a long reason is cut to fit a control frame at a UTF-8 boundary */
	char reason[300];
	memset(reason, 'a', sizeof(reason));
	memcpy(reason + 122, "\xe2\x82\xac", 3); /* a 3-byte sequence across the cut */
	reason[sizeof(reason) - 1] = '\0';
	pair_open(&p, WS_ROLE_SERVER, 0);
	assert_int_equal(ws_conn_close(p.ws, 4400, reason), 0);
	uint8_t frame[2 + 125];
	raw_read(p.raw, frame, 2);
	assert_int_equal(frame[0], 0x88);
	assert_int_equal(frame[1], 2 + 122);
	raw_read(p.raw, frame + 2, 2 + 122);
	assert_int_equal(frame[2] << 8 | frame[3], 4400);
	/* control frames are limited */
	assert_int_equal(ws_conn_send(p.ws, WS_OP_PING, reason, 126), -EINVAL);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha1_and_accept),
		cmocka_unit_test(test_base64_and_keys),
		cmocka_unit_test(test_header_lengths),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_server_receives_masked),
		cmocka_unit_test(test_client_masks_and_server_decodes),
		cmocka_unit_test(test_fragmentation_with_ping),
		cmocka_unit_test(test_oversize_refused),
		cmocka_unit_test(test_truncated_frame),
		cmocka_unit_test(test_invalid_text_and_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

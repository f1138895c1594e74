/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 6455 websockets over a connected stream fd, for both ends: the frame codec (header
 * encoding and parsing, masking), a connection that reassembles fragmented messages, answers
 * pings and the close handshake by itself, and refuses a message larger than its limit; and the
 * handshake's Sec-WebSocket-Key / Sec-WebSocket-Accept (SHA-1 and base64, here because base is
 * libc only).
 *
 *  - A struct ws_conn does not own its fd. It is buffered: ws_conn_read() does exactly one read(2)
 *    (so it never blocks after poll(2) said POLLIN), ws_conn_next() hands out the messages that
 *    are complete in the buffer; ws_conn_recv() combines both for blocking use.
 *  - Role: a client masks every frame it sends and refuses masked frames; a server refuses
 *    unmasked ones (RFC 6455 5.1).
 *  - A message returned by ws_conn_next() points into the connection and stays valid until the
 *    next call on it. Text messages are checked to be UTF-8.
 *  - One thread at a time per connection (sending and receiving included).
 */
#ifndef CARVE_BASE_WEBSOCKET_H
#define CARVE_BASE_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN 24 /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */
#define WS_HEADER_MAX 14
#define WS_CONTROL_MAX 125
#define WS_MESSAGE_MAX_DEFAULT (1024 * 1024)

enum ws_opcode {
	WS_OP_CONTINUATION = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL_ERROR = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005, /* never sent: "the close frame had no code" */
	WS_CLOSE_INVALID_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
};

enum ws_role {
	WS_ROLE_SERVER,
	WS_ROLE_CLIENT,
};

/* --- codec ---------------------------------------------------------------------------------- */

struct ws_frame {
	bool fin;
	enum ws_opcode opcode;
	bool masked;
	uint8_t mask[4];
	uint64_t len; /* payload length */
	size_t header_len;
};

/* Encode a frame header into buf (at least WS_HEADER_MAX bytes); mask NULL: unmasked. Returns
 * the header's length. */
size_t ws_frame_header(uint8_t *buf, bool fin, enum ws_opcode op, uint64_t len,
		       const uint8_t *mask);

/* XOR data with the masking key, starting at key position offset % 4 (masking is its own
 * inverse). */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);

/*
 * Parse the frame header at the start of buf[0..n). Returns 1 and fills *ret when the header is
 * complete (the payload may not be), 0 when more bytes are needed, -EBADMSG for reserved bits, an
 * unknown opcode, a fragmented or oversized (> 125) control frame or a length not in its shortest
 * form, -EMSGSIZE when the payload is longer than max_payload.
 */
int ws_frame_parse(const uint8_t *buf, size_t n, uint64_t max_payload, struct ws_frame *ret);

/* --- handshake ------------------------------------------------------------------------------ */

void ws_sha1(const void *data, size_t len, uint8_t ret[20]);
/* Standard base64 with padding; out needs 4 * ((len + 2) / 3) + 1 bytes. Returns the length. */
size_t ws_base64_encode(const void *data, size_t len, char *out);
/* true when key is the base64 encoding of exactly 16 bytes (RFC 6455 4.2.1). */
bool ws_key_is_valid(const char *key);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
void ws_accept_key(const char *key, char ret[WS_ACCEPT_LEN + 1]);
/* A fresh random Sec-WebSocket-Key. */
int ws_key_generate(char ret[WS_KEY_LEN + 1]);

/* --- connection ----------------------------------------------------------------------------- */

struct ws_message {
	enum ws_opcode opcode; /* WS_OP_TEXT, WS_OP_BINARY or WS_OP_CLOSE */
	const uint8_t *data; /* for text: NUL-terminated (not counted in len) */
	size_t len;
	uint16_t close_code; /* WS_OP_CLOSE: the peer's code, WS_CLOSE_NO_STATUS when none */
};

struct ws_conn;

/* max_message: largest reassembled message accepted (0: WS_MESSAGE_MAX_DEFAULT). */
int ws_conn_new(int fd, enum ws_role role, size_t max_message, struct ws_conn **ret);
struct ws_conn *ws_conn_free(struct ws_conn *c);
int ws_conn_fd(const struct ws_conn *c);
/* Bytes that were read from fd before the connection existed (after the HTTP headers). */
int ws_conn_push(struct ws_conn *c, const void *data, size_t len);

/* One read(2) into the buffer: the byte count, 0 at EOF, -errno (-EAGAIN on a non-blocking fd). */
ssize_t ws_conn_read(struct ws_conn *c);
/*
 * The next complete message in the buffer: 1 and *ret, or 0 when more bytes are needed. Pings
 * are answered and pongs dropped here. A close frame is answered (once) and returned. On a
 * protocol violation a close frame with the fitting code is sent and -EBADMSG (malformed,
 * masking wrong for the role, invalid UTF-8 text, unexpected continuation), -EMSGSIZE (too big)
 * is returned; the connection is then unusable.
 */
int ws_conn_next(struct ws_conn *c, struct ws_message *ret);
/* Blocking: 1 and a message, 0 on EOF (without a close frame), <0 on error. */
int ws_conn_recv(struct ws_conn *c, struct ws_message *ret);

/* Send one unfragmented message (text, binary, ping, pong). */
int ws_conn_send(struct ws_conn *c, enum ws_opcode op, const void *data, size_t len);
/* Send a frame as is (for fragmentation: fin false, then WS_OP_CONTINUATION frames). */
int ws_conn_send_frame(struct ws_conn *c, bool fin, enum ws_opcode op, const void *data,
		       size_t len);
/* Send a close frame (at most once; later calls do nothing) with code and a reason (may be
 * NULL, truncated to fit 125 bytes at a UTF-8 boundary). */
int ws_conn_close(struct ws_conn *c, uint16_t code, const char *reason);
/* Whether received bytes wait in the buffer (poll(2) does not see them): call ws_conn_next()
 * before polling again. */
bool ws_conn_buffered(const struct ws_conn *c);
bool ws_conn_close_sent(const struct ws_conn *c);

#endif

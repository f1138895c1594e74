/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 6455 framing. The receive buffer holds at most one frame header plus the largest message
 * payload; ws_conn_next() parses frames from its start, unmasks the payload in place and appends
 * it to the message being reassembled, so a message handed out is always a private copy that
 * the next read cannot move. Control frames may arrive between the fragments of a message
 * (RFC 6455 5.4) and are handled without disturbing it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/string-util.h"
#include "base/websocket.h"

#define READ_CHUNK 16384

/* --- SHA-1 (FIPS 180-4), only for the handshake ---------------------------------------------- */

static uint32_t rol32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;

		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void ws_sha1(const void *data, size_t len, uint8_t ret[20])
{
	uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
	const uint8_t *p = data;
	uint8_t block[64];
	uint64_t bits = (uint64_t)len * 8;
	size_t rest;

	for (; len >= 64; p += 64, len -= 64)
		sha1_block(h, p);
	rest = len;
	memcpy(block, p, rest);
	block[rest++] = 0x80;
	if (rest > 56) {
		memset(block + rest, 0, 64 - rest);
		sha1_block(h, block);
		rest = 0;
	}
	memset(block + rest, 0, 56 - rest);
	for (int i = 0; i < 8; i++)
		block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_block(h, block);
	for (int i = 0; i < 5; i++) {
		ret[4 * i] = (uint8_t)(h[i] >> 24);
		ret[4 * i + 1] = (uint8_t)(h[i] >> 16);
		ret[4 * i + 2] = (uint8_t)(h[i] >> 8);
		ret[4 * i + 3] = (uint8_t)h[i];
	}
}

/* --- base64 and the handshake keys ----------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ws_base64_encode(const void *data, size_t len, char *out)
{
	const uint8_t *p = data;
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

bool ws_key_is_valid(const char *key)
{
	/* 16 bytes encode to 22 significant characters and "=="; the last significant character
	 * carries 2 bits, so it must be one of A, Q, g, w (the low 4 bits are zero). */
	if (!key || strlen(key) != WS_KEY_LEN || key[22] != '=' || key[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++)
		if (!strchr(b64, key[i]) || key[i] == '\0')
			return false;
	return strchr("AQgw", key[21]) != NULL;
}

void ws_accept_key(const char *key, char ret[WS_ACCEPT_LEN + 1])
{
	char buf[128];
	uint8_t digest[20];
	int n;

	n = snprintf(buf, sizeof(buf), "%.64s%s", key ? key : "", WS_GUID);
	ws_sha1(buf, (size_t)n, digest);
	ws_base64_encode(digest, sizeof(digest), ret);
}

int ws_key_generate(char ret[WS_KEY_LEN + 1])
{
	uint8_t nonce[16];
	int r;

	r = random_bytes(nonce, sizeof(nonce));
	if (r < 0)
		return r;
	ws_base64_encode(nonce, sizeof(nonce), ret);
	return 0;
}

/* --- codec ---------------------------------------------------------------------------------- */

size_t ws_frame_header(uint8_t *buf, bool fin, enum ws_opcode op, uint64_t len, const uint8_t *mask)
{
	size_t n = 0;

	buf[n++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
	if (len < 126)
		buf[n++] = (uint8_t)((mask ? 0x80 : 0) | len);
	else if (len <= 0xffff) {
		buf[n++] = (uint8_t)((mask ? 0x80 : 0) | 126);
		buf[n++] = (uint8_t)(len >> 8);
		buf[n++] = (uint8_t)len;
	} else {
		buf[n++] = (uint8_t)((mask ? 0x80 : 0) | 127);
		for (int i = 7; i >= 0; i--)
			buf[n++] = (uint8_t)(len >> (8 * i));
	}
	if (mask) {
		memcpy(buf + n, mask, 4);
		n += 4;
	}
	return n;
}

void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset)
{
	for (size_t i = 0; i < len; i++)
		data[i] ^= mask[(i + offset) & 3];
}

static bool opcode_is_control(unsigned op)
{
	return op & 0x8;
}

static bool opcode_is_known(unsigned op)
{
	return op == WS_OP_CONTINUATION || op == WS_OP_TEXT || op == WS_OP_BINARY ||
	       op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG;
}

int ws_frame_parse(const uint8_t *buf, size_t n, uint64_t max_payload, struct ws_frame *ret)
{
	struct ws_frame f = {};
	size_t need = 2;
	uint64_t len;

	if (n < 2)
		return 0;
	if (buf[0] & 0x70)
		return -EBADMSG; /* RSV1-3 without a negotiated extension */
	f.fin = buf[0] & 0x80;
	f.opcode = buf[0] & 0x0f;
	f.masked = buf[1] & 0x80;
	len = buf[1] & 0x7f;
	if (!opcode_is_known(f.opcode))
		return -EBADMSG;
	if (opcode_is_control(f.opcode) && (!f.fin || len > WS_CONTROL_MAX))
		return -EBADMSG;
	if (len == 126)
		need += 2;
	else if (len == 127)
		need += 8;
	if (f.masked)
		need += 4;
	if (n < need)
		return 0;
	if (len == 126) {
		len = (uint64_t)buf[2] << 8 | buf[3];
		if (len < 126)
			return -EBADMSG;
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | buf[2 + i];
		if (len >> 63 || len <= 0xffff)
			return -EBADMSG;
	}
	if (len > max_payload)
		return -EMSGSIZE;
	if (f.masked)
		memcpy(f.mask, buf + need - 4, 4);
	f.len = len;
	f.header_len = need;
	*ret = f;
	return 1;
}

/* --- UTF-8 ----------------------------------------------------------------------------------- */

static bool utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			len = 2;
			cp = s[i] & 0x1f;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			len = 3;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			len = 4;
			cp = s[i] & 0x07;
		} else
			return false;
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* --- connection ----------------------------------------------------------------------------- */

struct ws_conn {
	int fd;
	enum ws_role role;
	size_t max_message;

	uint8_t *rbuf; /* received bytes; [rpos, rlen) not yet parsed */
	size_t rpos, rlen, rcap;

	uint8_t *msg; /* the message being reassembled, NUL-terminated */
	size_t msg_len, msg_cap;
	bool in_message;
	enum ws_opcode msg_opcode;

	bool close_sent, failed;
};

int ws_conn_new(int fd, enum ws_role role, size_t max_message, struct ws_conn **ret)
{
	struct ws_conn *c;

	if (fd < 0 || (role != WS_ROLE_SERVER && role != WS_ROLE_CLIENT))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->role = role;
	c->max_message = max_message ? max_message : WS_MESSAGE_MAX_DEFAULT;
	*ret = c;
	return 0;
}

struct ws_conn *ws_conn_free(struct ws_conn *c)
{
	if (!c)
		return NULL;
	free(c->rbuf);
	free(c->msg);
	free(c);
	return NULL;
}

int ws_conn_fd(const struct ws_conn *c)
{
	return c->fd;
}

bool ws_conn_buffered(const struct ws_conn *c)
{
	return c->rlen > c->rpos;
}

bool ws_conn_close_sent(const struct ws_conn *c)
{
	return c->close_sent;
}

static size_t rbuf_limit(const struct ws_conn *c)
{
	return c->max_message + WS_HEADER_MAX;
}

/* Move the unparsed bytes to the front and make room for at least want more (capped at the
 * limit). */
static int rbuf_reserve(struct ws_conn *c, size_t want)
{
	size_t cap;
	uint8_t *p;

	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rcap - c->rlen >= want)
		return 0;
	cap = c->rcap ? c->rcap : READ_CHUNK;
	while (cap - c->rlen < want && cap < rbuf_limit(c))
		cap *= 2;
	if (cap > rbuf_limit(c))
		cap = rbuf_limit(c);
	if (cap <= c->rcap)
		return c->rcap > c->rlen ? 0 : -ENOBUFS;
	p = realloc(c->rbuf, cap);
	if (!p)
		return -ENOMEM;
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

int ws_conn_push(struct ws_conn *c, const void *data, size_t len)
{
	int r;

	if (len == 0)
		return 0;
	if (len > rbuf_limit(c))
		return -EMSGSIZE;
	r = rbuf_reserve(c, len);
	if (r < 0)
		return r;
	if (c->rcap - c->rlen < len)
		return -EMSGSIZE;
	memcpy(c->rbuf + c->rlen, data, len);
	c->rlen += len;
	return 0;
}

ssize_t ws_conn_read(struct ws_conn *c)
{
	ssize_t n;
	int r;

	r = rbuf_reserve(c, READ_CHUNK);
	if (r < 0)
		return r;
	do
		n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	c->rlen += (size_t)n;
	return n;
}

static int write_all(int fd, const struct iovec *iov_in, int n_iov)
{
	struct iovec iov[2];
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n_iov};

	memcpy(iov, iov_in, sizeof(*iov) * (size_t)n_iov);
	while (mh.msg_iovlen > 0) {
		/* sendmsg with MSG_NOSIGNAL: a peer that went away is EPIPE, not SIGPIPE. */
		ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (k < 0 && errno == ENOTSOCK)
			k = writev(fd, mh.msg_iov, (int)mh.msg_iovlen);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (k > 0 && mh.msg_iovlen > 0) {
			size_t take = (size_t)k < mh.msg_iov[0].iov_len ? (size_t)k
									: mh.msg_iov[0].iov_len;

			mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + take;
			mh.msg_iov[0].iov_len -= take;
			k -= (ssize_t)take;
			if (mh.msg_iov[0].iov_len == 0) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
	return 0;
}

int ws_conn_send_frame(struct ws_conn *c, bool fin, enum ws_opcode op, const void *data, size_t len)
{
	uint8_t hdr[WS_HEADER_MAX], mask[4];
	cleanup_free uint8_t *copy = NULL;
	struct iovec iov[2];
	size_t hl;
	int r;

	if (!opcode_is_known(op) || (opcode_is_control(op) && (len > WS_CONTROL_MAX || !fin)))
		return -EINVAL;
	if (c->close_sent)
		return -EPIPE;
	if (c->role == WS_ROLE_CLIENT) {
		r = random_bytes(mask, sizeof(mask));
		if (r < 0)
			return r;
		if (len > 0) {
			copy = malloc(len);
			if (!copy)
				return -ENOMEM;
			memcpy(copy, data, len);
			ws_mask(copy, len, mask, 0);
			data = copy;
		}
	}
	hl = ws_frame_header(hdr, fin, op, len, c->role == WS_ROLE_CLIENT ? mask : NULL);
	iov[0] = (struct iovec){hdr, hl};
	iov[1] = (struct iovec){(void *)data, len};
	r = write_all(c->fd, iov, len > 0 ? 2 : 1);
	if (r >= 0 && op == WS_OP_CLOSE)
		c->close_sent = true;
	return r;
}

int ws_conn_send(struct ws_conn *c, enum ws_opcode op, const void *data, size_t len)
{
	if (op == WS_OP_CONTINUATION || op == WS_OP_CLOSE)
		return -EINVAL;
	return ws_conn_send_frame(c, true, op, data, len);
}

int ws_conn_close(struct ws_conn *c, uint16_t code, const char *reason)
{
	uint8_t buf[WS_CONTROL_MAX];
	size_t n = 0, rl = reason ? strlen(reason) : 0;

	if (c->close_sent)
		return 0;
	if (code == WS_CLOSE_NO_STATUS)
		code = WS_CLOSE_NORMAL;
	buf[n++] = (uint8_t)(code >> 8);
	buf[n++] = (uint8_t)code;
	if (rl > sizeof(buf) - n) {
		rl = sizeof(buf) - n;
		/* do not cut a UTF-8 sequence */
		while (rl > 0 && ((uint8_t)reason[rl] & 0xc0) == 0x80)
			rl--;
	}
	if (rl > 0)
		memcpy(buf + n, reason, rl);
	n += rl;
	return ws_conn_send_frame(c, true, WS_OP_CLOSE, buf, n);
}

static int fail(struct ws_conn *c, int r, uint16_t code, const char *why)
{
	(void)ws_conn_close(c, code, why);
	c->failed = true;
	return r;
}

static int msg_append(struct ws_conn *c, const uint8_t *p, size_t n)
{
	if (c->msg_len + n + 1 > c->msg_cap) {
		size_t cap = c->msg_cap ? c->msg_cap : 4096;
		uint8_t *m;

		while (cap < c->msg_len + n + 1)
			cap *= 2;
		m = realloc(c->msg, cap);
		if (!m)
			return -ENOMEM;
		c->msg = m;
		c->msg_cap = cap;
	}
	memcpy(c->msg + c->msg_len, p, n);
	c->msg_len += n;
	c->msg[c->msg_len] = '\0';
	return 0;
}

int ws_conn_next(struct ws_conn *c, struct ws_message *ret)
{
	for (;;) {
		struct ws_frame f;
		uint8_t *payload;
		size_t avail;
		int r;

		if (c->failed)
			return -EBADMSG;
		avail = c->rlen - c->rpos;
		r = ws_frame_parse(c->rbuf + c->rpos, avail, c->max_message, &f);
		if (r == -EMSGSIZE)
			return fail(c, r, WS_CLOSE_TOO_BIG, "message too big");
		if (r < 0)
			return fail(c, r, WS_CLOSE_PROTOCOL_ERROR, "malformed frame");
		if (r == 0 || avail - f.header_len < f.len) {
			/* Keep what we have at the front and make room for the whole frame. */
			r = rbuf_reserve(c, r == 0 ? WS_HEADER_MAX : f.header_len + f.len - avail);
			if (r < 0)
				return fail(c, r, WS_CLOSE_INTERNAL, "out of memory");
			return 0;
		}
		if (f.masked != (c->role == WS_ROLE_SERVER))
			return fail(c, -EBADMSG, WS_CLOSE_PROTOCOL_ERROR,
				    c->role == WS_ROLE_SERVER ? "client frames must be masked"
							      : "server frames must not be masked");
		payload = c->rbuf + c->rpos + f.header_len;
		if (f.masked)
			ws_mask(payload, f.len, f.mask, 0);
		c->rpos += f.header_len + f.len;

		switch (f.opcode) {
		case WS_OP_PING:
			if (!c->close_sent) {
				r = ws_conn_send_frame(c, true, WS_OP_PONG, payload, f.len);
				if (r < 0)
					return r;
			}
			continue;
		case WS_OP_PONG:
			continue;
		case WS_OP_CLOSE: {
			uint16_t code = WS_CLOSE_NO_STATUS;

			if (f.len == 1)
				return fail(c, -EBADMSG, WS_CLOSE_PROTOCOL_ERROR,
					    "close frame of 1 byte");
			if (f.len >= 2) {
				code = (uint16_t)(payload[0] << 8 | payload[1]);
				if (!utf8_valid(payload + 2, f.len - 2))
					return fail(c, -EBADMSG, WS_CLOSE_INVALID_DATA,
						    "close reason is not UTF-8");
			}
			(void)ws_conn_close(c, code, NULL);
			c->msg_len = 0;
			r = msg_append(c, payload + (f.len >= 2 ? 2 : 0),
				       f.len >= 2 ? f.len - 2 : 0);
			if (r < 0)
				return r;
			c->in_message = false;
			*ret = (struct ws_message){WS_OP_CLOSE, c->msg, c->msg_len, code};
			return 1;
		}
		case WS_OP_TEXT:
		case WS_OP_BINARY:
			if (c->in_message)
				return fail(c, -EBADMSG, WS_CLOSE_PROTOCOL_ERROR,
					    "new message inside a fragmented one");
			c->in_message = true;
			c->msg_opcode = f.opcode;
			c->msg_len = 0;
			break;
		case WS_OP_CONTINUATION:
			if (!c->in_message)
				return fail(c, -EBADMSG, WS_CLOSE_PROTOCOL_ERROR,
					    "continuation without a message");
			break;
		}
		if (c->msg_len + f.len > c->max_message)
			return fail(c, -EMSGSIZE, WS_CLOSE_TOO_BIG, "message too big");
		r = msg_append(c, payload, f.len);
		if (r < 0)
			return fail(c, r, WS_CLOSE_INTERNAL, "out of memory");
		if (!f.fin)
			continue;
		c->in_message = false;
		if (c->msg_opcode == WS_OP_TEXT && !utf8_valid(c->msg, c->msg_len))
			return fail(c, -EBADMSG, WS_CLOSE_INVALID_DATA, "text is not UTF-8");
		*ret = (struct ws_message){c->msg_opcode, c->msg, c->msg_len, 0};
		return 1;
	}
}

int ws_conn_recv(struct ws_conn *c, struct ws_message *ret)
{
	for (;;) {
		ssize_t n;
		int r;

		r = ws_conn_next(c, ret);
		if (r != 0)
			return r;
		n = ws_conn_read(c);
		if (n == 0)
			return 0;
		if (n < 0)
			return (int)n;
	}
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunk codec. A chunk file is a 12-byte header ("CVC1", flags, 3 reserved zero bytes, raw length
 * u32 LE), for encrypted chunks followed by a 12-byte nonce and a 16-byte GCM tag, then the
 * payload: zstd frame when compressed, raw bytes otherwise; encrypted after compression. The
 * header (with nonce) and the chunk name are the AEAD's additional data, so a chunk renamed to
 * another name fails authentication. Compression is kept only when it saves at least 1/32.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zstd.h>

#include "backup/backup-internal.h"
#include "base/string-util.h"

struct chunk_codec {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	EVP_CIPHER_CTX *cipher; /* reused for every chunk: no allocation per chunk */
	int level;
	uint8_t *buf; /* encode output / decode scratch */
	size_t cap;
	uint8_t *file; /* a chunk file's bytes as read (chunk_codec_file_buf) */
	size_t file_cap;
};

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int chunk_header_parse(const uint8_t *buf, size_t len, struct chunk_hdr *ret)
{
	struct chunk_hdr h = {};

	if (len < CHUNK_HDR_PLAIN || memcmp(buf, CHUNK_MAGIC, 4) != 0)
		return -EBADMSG;
	h.flags = buf[4];
	if (h.flags & ~(CHUNK_FLAG_COMPRESSED | CHUNK_FLAG_ENCRYPTED))
		return -EBADMSG;
	if (buf[5] || buf[6] || buf[7])
		return -EBADMSG;
	h.raw_len = get_le32(buf + 8);
	if (h.raw_len == 0 || h.raw_len > CHUNK_RAW_MAX)
		return -EBADMSG;
	h.hdr_len = CHUNK_HDR_PLAIN;
	if (h.flags & CHUNK_FLAG_ENCRYPTED) {
		if (len < CHUNK_HDR_ENC)
			return -EBADMSG;
		h.nonce = buf + CHUNK_HDR_PLAIN;
		h.tag = buf + CHUNK_HDR_PLAIN + CHUNK_NONCE_SIZE;
		h.hdr_len = CHUNK_HDR_ENC;
	}
	/* an uncompressed payload is exactly raw_len bytes */
	if (!(h.flags & CHUNK_FLAG_COMPRESSED) && len - h.hdr_len != h.raw_len)
		return -EBADMSG;
	*ret = h;
	return 0;
}

void bkey_derive(const uint8_t key[BACKUP_KEY_SIZE], const char *store_id, struct bkey *ret)
{
	uint8_t id[32];
	unsigned len = 32;
	char label[96];

	HMAC(EVP_sha256(), key, BACKUP_KEY_SIZE, (const uint8_t *)"carve-backup-enc", 16,
	     ret->enc_key, &len);
	HMAC(EVP_sha256(), key, BACKUP_KEY_SIZE, (const uint8_t *)"carve-backup-name", 17,
	     ret->mac_key, &len);
	snprintf(label, sizeof(label), "carve-backup-id:%s", store_id);
	HMAC(EVP_sha256(), key, BACKUP_KEY_SIZE, (const uint8_t *)label, strlen(label), id, &len);
	hex_encode(id, 8, ret->id);
	ret->set = true;
}

void chunk_digest(const struct bkey *k, const void *data, size_t len, uint8_t ret[32])
{
	unsigned n = 32;

	if (k && k->set)
		HMAC(EVP_sha256(), k->mac_key, 32, data, len, ret, &n);
	else
		EVP_Digest(data, len, ret, &n, EVP_sha256(), NULL);
}

struct chunk_codec *chunk_codec_new(int level)
{
	struct chunk_codec *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	c->cipher = EVP_CIPHER_CTX_new();
	c->level = level > 0 ? level : 1;
	if (!c->cctx || !c->dctx || !c->cipher)
		return chunk_codec_free(c);
	return c;
}

struct chunk_codec *chunk_codec_free(struct chunk_codec *c)
{
	if (!c)
		return NULL;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	EVP_CIPHER_CTX_free(c->cipher);
	free(c->buf);
	free(c->file);
	free(c);
	return NULL;
}

static int codec_reserve(struct chunk_codec *c, size_t n)
{
	uint8_t *p;

	if (c->cap >= n)
		return 0;
	p = realloc(c->buf, n);
	if (!p)
		return -ENOMEM;
	c->buf = p;
	c->cap = n;
	return 0;
}

uint8_t *chunk_codec_file_buf(struct chunk_codec *c, size_t n)
{
	uint8_t *p;

	if (c->file_cap >= n)
		return c->file;
	p = realloc(c->file, n);
	if (!p)
		return NULL;
	c->file = p;
	c->file_cap = n;
	return p;
}

static int aead(EVP_CIPHER_CTX *ctx, bool enc, const struct bkey *k, const uint8_t *aad,
		size_t aad_len, const uint8_t *nonce, uint8_t *tag, const uint8_t *in, size_t len,
		uint8_t *out)
{
	int n, ok = 0;

	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CHUNK_NONCE_SIZE, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, k->enc_key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CHUNK_TAG_SIZE, tag) != 1)
		goto out;
	if (len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CHUNK_TAG_SIZE, tag) != 1)
		goto out;
	ok = 1;
out:
	return ok ? 0 : -EKEYREJECTED;
}

int chunk_encode(struct chunk_codec *c, const struct bkey *k, const uint8_t digest[32],
		 const void *raw, size_t len, const uint8_t **ret, size_t *ret_len)
{
	bool enc = k && k->set;
	size_t hdr = enc ? CHUNK_HDR_ENC : CHUNK_HDR_PLAIN, bound, clen, payload;
	uint8_t flags = 0, aad[CHUNK_HDR_PLAIN + CHUNK_NONCE_SIZE + 32];
	int r;

	if (len == 0 || len > CHUNK_RAW_MAX)
		return -EINVAL;
	bound = ZSTD_compressBound(len);
	/* room for the header, the compressed frame, and (encrypted) a second copy to encrypt
	 * into */
	r = codec_reserve(c, hdr + (enc ? 2 : 1) * (bound > len ? bound : len));
	if (r < 0)
		return r;
	clen = ZSTD_compressCCtx(c->cctx, c->buf + hdr, bound, raw, len, c->level);
	if (!ZSTD_isError(clen) && clen < len - len / 32) {
		flags |= CHUNK_FLAG_COMPRESSED;
		payload = clen;
	} else {
		memcpy(c->buf + hdr, raw, len);
		payload = len;
	}
	if (enc)
		flags |= CHUNK_FLAG_ENCRYPTED;
	memcpy(c->buf, CHUNK_MAGIC, 4);
	c->buf[4] = flags;
	c->buf[5] = c->buf[6] = c->buf[7] = 0;
	put_le32(c->buf + 8, (uint32_t)len);
	if (enc) {
		uint8_t *nonce = c->buf + CHUNK_HDR_PLAIN, *tag = nonce + CHUNK_NONCE_SIZE;
		uint8_t *tmp = c->buf + hdr + payload;

		r = random_bytes(nonce, CHUNK_NONCE_SIZE);
		if (r < 0)
			return r;
		memcpy(aad, c->buf, CHUNK_HDR_PLAIN + CHUNK_NONCE_SIZE);
		memcpy(aad + CHUNK_HDR_PLAIN + CHUNK_NONCE_SIZE, digest, 32);
		r = aead(c->cipher, true, k, aad, sizeof(aad), nonce, tag, c->buf + hdr, payload,
			 tmp);
		if (r < 0)
			return r;
		memmove(c->buf + hdr, tmp, payload);
	}
	*ret = c->buf;
	*ret_len = hdr + payload;
	return 0;
}

int chunk_decode(struct chunk_codec *c, const struct bkey *k, const uint8_t digest[32],
		 const uint8_t *data, size_t len, uint8_t *out, size_t cap, size_t *ret_len,
		 const char **ret_reason)
{
	struct chunk_hdr h;
	const uint8_t *payload;
	size_t plen, n;
	uint8_t d[32];
	const char *dummy;
	int r;

	if (!ret_reason)
		ret_reason = &dummy;
	r = chunk_header_parse(data, len, &h);
	if (r < 0) {
		*ret_reason = len < CHUNK_HDR_PLAIN ? "truncated" : "bad header or length";
		return r;
	}
	if (h.raw_len > cap) {
		*ret_reason = "larger than expected";
		return -EBADMSG;
	}
	payload = data + h.hdr_len;
	plen = len - h.hdr_len;
	if (h.flags & CHUNK_FLAG_ENCRYPTED) {
		uint8_t aad[CHUNK_HDR_PLAIN + CHUNK_NONCE_SIZE + 32], tag[CHUNK_TAG_SIZE];

		if (!k || !k->set) {
			*ret_reason = "encrypted, key not available";
			return -ENOKEY;
		}
		/* an uncompressed payload decrypts straight into out (its length is raw_len,
		 * checked by chunk_header_parse), a compressed one into the scratch buffer */
		bool direct = !(h.flags & CHUNK_FLAG_COMPRESSED);

		if (!direct) {
			r = codec_reserve(c, plen + 16);
			if (r < 0)
				return r;
		}
		memcpy(aad, data, CHUNK_HDR_PLAIN + CHUNK_NONCE_SIZE);
		memcpy(aad + CHUNK_HDR_PLAIN + CHUNK_NONCE_SIZE, digest, 32);
		memcpy(tag, h.tag, CHUNK_TAG_SIZE);
		r = aead(c->cipher, false, k, aad, sizeof(aad), h.nonce, tag, payload, plen,
			 direct ? out : c->buf);
		if (r < 0) {
			*ret_reason = "authentication failed (wrong key or corrupt)";
			return r;
		}
		if (direct) {
			n = plen;
			goto check;
		}
		payload = c->buf;
	} else if (k && k->set) {
		*ret_reason = "not encrypted in an encrypted backup";
		return -EBADMSG;
	}
	if (h.flags & CHUNK_FLAG_COMPRESSED) {
		unsigned long long fs = ZSTD_getFrameContentSize(payload, plen);

		if (fs != h.raw_len) {
			*ret_reason = "truncated or bad compressed frame";
			return -EBADMSG;
		}
		n = ZSTD_decompressDCtx(c->dctx, out, h.raw_len, payload, plen);
		if (ZSTD_isError(n) || n != h.raw_len) {
			*ret_reason = "truncated or bad compressed frame";
			return -EBADMSG;
		}
	} else {
		if (plen != h.raw_len) {
			*ret_reason = "truncated";
			return -EBADMSG;
		}
		memcpy(out, payload, plen);
		n = plen;
	}
check:
	chunk_digest(k, out, n, d);
	if (memcmp(d, digest, 32) != 0) {
		*ret_reason = "digest mismatch";
		return -EBADMSG;
	}
	*ret_len = n;
	return 0;
}

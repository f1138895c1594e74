/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifests: JSON, one per backup.
 *   {"format":1, "id":"...", "server_id":"...", "created_at":<unix s>, "complete":true,
 *    "key_id":"<16 hex>"|null, "config":"<digest>"|null,
 *    "volumes":[{"name":"root", "size":N, "chunk_size":N, "index":"<digest>"|null,
 *                "chunks":[[offset,"<digest>"], ...]}],
 *    "stats":{...}}
 * The parser is strict (fuzzed by tests/fuzz/fuzz-manifest.c): offsets ascending, aligned to
 * the chunk size and inside the volume; ids and names validated before they become paths.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "backup/backup-internal.h"
#include "base/cleanup.h"
#include "base/string-util.h"

bool backup_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n >= BACKUP_ID_MAX || id[0] == '-' || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
			return false;
	return true;
}

bool volume_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 64 || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_' ||
		      name[i] == '.'))
			return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int hex_decode32(const char *hex, uint8_t out[32])
{
	if (!hex || strlen(hex) != 64)
		return -EINVAL;
	for (size_t i = 0; i < 32; i++) {
		int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);

		if (a < 0 || b < 0)
			return -EINVAL;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return 0;
}

struct manifest *manifest_free(struct manifest *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_volumes; i++) {
		free(m->volumes[i].name);
		free(m->volumes[i].chunks);
	}
	free(m->volumes);
	free(m->server_id);
	free(m);
	return NULL;
}

static int get_u64(json_t *o, const char *key, uint64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EBADMSG;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_digest(json_t *v, bool *has, uint8_t out[32])
{
	if (!v || json_is_null(v)) {
		*has = false;
		return 0;
	}
	if (!json_is_string(v) || hex_decode32(json_string_value(v), out) < 0)
		return -EBADMSG;
	*has = true;
	return 0;
}

static int parse_volume(json_t *jv, struct mvolume *v)
{
	json_t *chunks, *e;
	uint64_t cs;
	size_t i;
	const char *name = json_string_value(json_object_get(jv, "name"));

	if (!json_is_object(jv) || !volume_name_valid(name))
		return -EBADMSG;
	v->name = strdup(name);
	if (!v->name)
		return -ENOMEM;
	if (get_u64(jv, "size", &v->size) < 0 || get_u64(jv, "chunk_size", &cs) < 0)
		return -EBADMSG;
	if (cs < 4096 || cs > (64u << 20) || (cs & (cs - 1)) != 0 || v->size > (1ull << 50))
		return -EBADMSG;
	v->chunk_size = (uint32_t)cs;
	if (get_digest(json_object_get(jv, "index"), &v->has_index, v->index_digest) < 0)
		return -EBADMSG;
	chunks = json_object_get(jv, "chunks");
	if (!json_is_array(chunks))
		return -EBADMSG;
	if (json_array_size(chunks) > v->size / cs + 1)
		return -EBADMSG;
	v->chunks = calloc(json_array_size(chunks) + 1, sizeof(*v->chunks));
	if (!v->chunks)
		return -ENOMEM;
	json_array_foreach (chunks, i, e) {
		json_t *off = json_array_get(e, 0), *dg = json_array_get(e, 1);
		struct chunk_ref *c = &v->chunks[i];

		if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(off) ||
		    json_integer_value(off) < 0 || !json_is_string(dg))
			return -EBADMSG;
		c->offset = (uint64_t)json_integer_value(off);
		if (c->offset % cs != 0 || c->offset >= v->size ||
		    (i > 0 && c->offset <= v->chunks[i - 1].offset))
			return -EBADMSG;
		if (hex_decode32(json_string_value(dg), c->digest) < 0)
			return -EBADMSG;
		v->n_chunks++;
	}
	return 0;
}

int manifest_parse(const char *text, size_t len, struct manifest **ret)
{
	json_t *root = NULL, *vols, *jv, *st;
	struct manifest *m = NULL;
	json_error_t jerr;
	const char *s;
	uint64_t u;
	size_t i;
	int r = -EBADMSG;

	if (len > MANIFEST_MAX)
		return -EFBIG;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root))
		goto out;
	m = calloc(1, sizeof(*m));
	if (!m) {
		r = -ENOMEM;
		goto out;
	}
	if (get_u64(root, "format", &u) < 0 || u != MANIFEST_FORMAT)
		goto out;
	s = json_string_value(json_object_get(root, "id"));
	if (!backup_id_valid(s))
		goto out;
	strscpy(m->id, s, sizeof(m->id));
	s = json_string_value(json_object_get(root, "server_id"));
	if (!s || strlen(s) > 256 || !(m->server_id = strdup(s)))
		goto out;
	if (!json_is_integer(json_object_get(root, "created_at")))
		goto out;
	m->created_at = (int64_t)json_integer_value(json_object_get(root, "created_at"));
	if (!json_is_boolean(json_object_get(root, "complete")))
		goto out;
	m->complete = json_is_true(json_object_get(root, "complete"));
	jv = json_object_get(root, "key_id");
	if (jv && !json_is_null(jv)) {
		s = json_string_value(jv);
		if (!s || strlen(s) != BACKUP_KEY_ID_MAX - 1)
			goto out;
		for (const char *p = s; *p; p++)
			if (hexval(*p) < 0)
				goto out;
		strscpy(m->key_id, s, sizeof(m->key_id));
		m->encrypted = true;
	}
	if (get_digest(json_object_get(root, "config"), &m->has_config, m->config_digest) < 0)
		goto out;
	vols = json_object_get(root, "volumes");
	if (!json_is_array(vols) || json_array_size(vols) > 64)
		goto out;
	m->volumes = calloc(json_array_size(vols) + 1, sizeof(*m->volumes));
	if (!m->volumes) {
		r = -ENOMEM;
		goto out;
	}
	json_array_foreach (vols, i, jv) {
		m->n_volumes++;
		r = parse_volume(jv, &m->volumes[i]);
		if (r < 0)
			goto out;
		for (size_t j = 0; j < i; j++)
			if (streq(m->volumes[j].name, m->volumes[i].name)) {
				r = -EBADMSG;
				goto out;
			}
	}
	st = json_object_get(root, "stats");
	if (json_is_object(st)) {
		get_u64(st, "bytes_total", &m->stats.bytes_total);
		get_u64(st, "bytes_read", &m->stats.bytes_read);
		get_u64(st, "bytes_written", &m->stats.bytes_written);
		get_u64(st, "chunks_total", &m->stats.chunks_total);
		get_u64(st, "chunks_new", &m->stats.chunks_new);
		get_u64(st, "chunks_reused", &m->stats.chunks_reused);
		get_u64(st, "chunks_dedup", &m->stats.chunks_dedup);
		get_u64(st, "chunks_zero", &m->stats.chunks_zero);
		get_u64(st, "files_indexed", &m->stats.files_indexed);
	}
	*ret = m;
	m = NULL;
	r = 0;
out:
	manifest_free(m);
	json_decref(root);
	return r;
}

/* Written by hand (not through jansson) because a volume may list hundreds of thousands of
 * chunks: one pass into a growing buffer. */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) _printf_(2, 3);
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap + (size_t)n + 1) * 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void sb_digest(struct sbuf *b, bool has, const uint8_t d[32])
{
	char hex[65];

	if (!has) {
		sb_printf(b, "null");
		return;
	}
	hex_encode(d, 32, hex);
	sb_printf(b, "\"%s\"", hex);
}

int manifest_format(const struct manifest *m, char **ret)
{
	struct sbuf b = {};
	char *sid;

	/* server ids are caller-given: let jansson quote them */
	json_t *arr = json_pack("[s]", m->server_id ? m->server_id : "");

	sid = arr ? json_dumps(arr, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	json_decref(arr);
	if (!sid)
		return -ENOMEM;
	b.cap = 4096;
	b.p = malloc(b.cap);
	if (!b.p) {
		free(sid);
		return -ENOMEM;
	}
	sid[strlen(sid) - 1] = 0; /* strip the array brackets: ["x"] -> "x" */
	sb_printf(&b, "{\"format\":%d,\"id\":\"%s\",\"server_id\":%s,\"created_at\":%lld,",
		  MANIFEST_FORMAT, m->id, sid + 1, (long long)m->created_at);
	free(sid);
	sb_printf(&b, "\"complete\":%s,\"key_id\":", m->complete ? "true" : "false");
	if (m->encrypted)
		sb_printf(&b, "\"%s\"", m->key_id);
	else
		sb_printf(&b, "null");
	sb_printf(&b, ",\"config\":");
	sb_digest(&b, m->has_config, m->config_digest);
	sb_printf(&b, ",\"volumes\":[");
	for (size_t i = 0; i < m->n_volumes; i++) {
		const struct mvolume *v = &m->volumes[i];

		sb_printf(&b, "%s{\"name\":\"%s\",\"size\":%llu,\"chunk_size\":%u,\"index\":",
			  i ? "," : "", v->name, (unsigned long long)v->size, v->chunk_size);
		sb_digest(&b, v->has_index, v->index_digest);
		sb_printf(&b, ",\"chunks\":[");
		for (size_t j = 0; j < v->n_chunks; j++) {
			sb_printf(&b, "%s\n[%llu,", j ? "," : "",
				  (unsigned long long)v->chunks[j].offset);
			sb_digest(&b, true, v->chunks[j].digest);
			sb_printf(&b, "]");
		}
		sb_printf(&b, "]}");
	}
	sb_printf(
		&b,
		"],\"stats\":{\"bytes_total\":%llu,\"bytes_read\":%llu,\"bytes_written\":%llu,"
		"\"chunks_total\":%llu,\"chunks_new\":%llu,\"chunks_reused\":%llu,"
		"\"chunks_dedup\":%llu,\"chunks_zero\":%llu,\"files_indexed\":%llu}}\n",
		(unsigned long long)m->stats.bytes_total, (unsigned long long)m->stats.bytes_read,
		(unsigned long long)m->stats.bytes_written,
		(unsigned long long)m->stats.chunks_total, (unsigned long long)m->stats.chunks_new,
		(unsigned long long)m->stats.chunks_reused,
		(unsigned long long)m->stats.chunks_dedup, (unsigned long long)m->stats.chunks_zero,
		(unsigned long long)m->stats.files_indexed);
	if (b.err) {
		free(b.p);
		return b.err;
	}
	*ret = b.p;
	return 0;
}

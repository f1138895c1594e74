/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store directory: config, chunk files, manifests; listing, deleting and restoring volumes.
 */
#define LOG_DOMAIN "backup"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "backup/backup-internal.h"
#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"

static int open_subdir(int dfd, const char *name, bool create)
{
	if (create && mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* temp file in dfd, fsync, rename to name, fsync dfd when sync_dir */
static int write_at_atomic(int dfd, const char *name, const void *data, size_t len, bool sync_dir)
{
	char tmp[128], rnd[33];
	cleanup_close int fd = -EBADF;
	int r;

	r = random_id(rnd);
	if (r < 0)
		return r;
	snprintf(tmp, sizeof(tmp), ".tmp-%.16s", rnd);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = loop_write(fd, data, len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dfd, tmp, 0);
		return r;
	}
	if (sync_dir && fsync(dfd) < 0)
		return -errno;
	return 0;
}

static int read_all_at(int dfd, const char *name, size_t max, uint8_t **ret, size_t *ret_len)
{
	cleanup_close int fd = -EBADF;
	cleanup_free uint8_t *buf = NULL;
	struct stat st;
	ssize_t n;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	n = loop_read(fd, buf, (size_t)st.st_size);
	if (n < 0)
		return (int)n;
	buf[n] = 0;
	*ret_len = (size_t)n;
	*ret = TAKE_PTR(buf);
	return 0;
}

int backup_store_open(const char *path, bool create, const struct backup_store_opts *opts,
		      struct backup_store **ret, struct carve_error *err)
{
	struct backup_store *s = NULL;
	cleanup_free uint8_t *cfg = NULL;
	size_t cfg_len;
	json_t *j = NULL;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return carve_err(err, -ENOMEM, "backup store '%s'", path);
	s->dfd = s->chunks_fd = s->backups_fd = s->locks_fd = s->bad_fd = -EBADF;
	pthread_mutex_init(&s->stage_lock, NULL);
	s->path = strdup(path);
	if (!s->path) {
		r = carve_err(err, -ENOMEM, "backup store '%s'", path);
		goto fail;
	}
	if (create) {
		r = mkdir_p(path, 0700);
		if (r < 0) {
			carve_err(err, r, "backup store '%s': create: %s", path, strerror(-r));
			goto fail;
		}
	}
	s->dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		r = carve_err(err, -errno, "backup store '%s': open: %m", path);
		goto fail;
	}
	r = read_all_at(s->dfd, "config", 65536, &cfg, &cfg_len);
	if (r == -ENOENT && create) {
		uint32_t cs =
			opts && opts->chunk_size ? opts->chunk_size : BACKUP_CHUNK_SIZE_DEFAULT;
		char buf[256];

		if (cs < (64u << 10) || cs > (64u << 20) || (cs & (cs - 1)) != 0) {
			r = carve_err_field(err, -EINVAL, "chunk_size",
					    "backup store '%s': chunk size %u: not a power of two "
					    "between 64K and 64M",
					    path, cs);
			goto fail;
		}
		r = random_id(s->store_id);
		if (r < 0)
			goto fail;
		snprintf(buf, sizeof(buf), "{\"format\":1,\"chunk_size\":%u,\"id\":\"%s\"}\n", cs,
			 s->store_id);
		r = write_at_atomic(s->dfd, "config", buf, strlen(buf), true);
		if (r < 0) {
			carve_err(err, r, "backup store '%s': write config: %s", path,
				  strerror(-r));
			goto fail;
		}
		r = read_all_at(s->dfd, "config", 65536, &cfg, &cfg_len);
	}
	if (r < 0) {
		carve_err(err, r, "backup store '%s': config: %s", path,
			  r == -ENOENT ? "not a backup store" : strerror(-r));
		goto fail;
	}
	j = json_loadb((const char *)cfg, cfg_len, 0, NULL);
	{
		json_int_t fmt = json_integer_value(json_object_get(j, "format"));
		json_int_t cs = json_integer_value(json_object_get(j, "chunk_size"));
		const char *id = json_string_value(json_object_get(j, "id"));

		if (fmt != 1 || cs < (64 << 10) || cs > (64 << 20) || (cs & (cs - 1)) != 0 || !id ||
		    strlen(id) != 32) {
			r = carve_err(err, -EBADMSG,
				      "backup store '%s': config: bad or unknown format", path);
			goto fail;
		}
		s->chunk_size = (uint32_t)cs;
		strscpy(s->store_id, id, sizeof(s->store_id));
	}
	s->level = opts && opts->compression_level > 0 ? opts->compression_level : 1;
	s->chunks_fd = open_subdir(s->dfd, "chunks", true);
	s->backups_fd = open_subdir(s->dfd, "backups", true);
	s->locks_fd = open_subdir(s->dfd, "locks", true);
	s->bad_fd = open_subdir(s->dfd, "bad", true);
	if (s->chunks_fd < 0 || s->backups_fd < 0 || s->locks_fd < 0 || s->bad_fd < 0) {
		r = carve_err(err, -errno, "backup store '%s': directories: %m", path);
		goto fail;
	}
	json_decref(j);
	*ret = s;
	return 0;
fail:
	json_decref(j);
	backup_store_free(s);
	return r;
}

struct backup_store *backup_store_free(struct backup_store *s)
{
	if (!s)
		return NULL;
	store_chunks_discard(s);
	pthread_mutex_destroy(&s->stage_lock);
	safe_close(s->dfd);
	safe_close(s->chunks_fd);
	safe_close(s->backups_fd);
	safe_close(s->locks_fd);
	safe_close(s->bad_fd);
	if (s->keys)
		OPENSSL_cleanse(s->keys, s->n_keys * sizeof(*s->keys));
	free(s->keys);
	free(s->path);
	free(s);
	return NULL;
}

uint32_t backup_store_chunk_size(const struct backup_store *s)
{
	return s->chunk_size;
}

int backup_store_add_key(struct backup_store *s, const uint8_t key[BACKUP_KEY_SIZE],
			 char ret_key_id[BACKUP_KEY_ID_MAX])
{
	struct bkey k, *n;

	bkey_derive(key, s->store_id, &k);
	if (ret_key_id)
		strscpy(ret_key_id, k.id, BACKUP_KEY_ID_MAX);
	if (store_key_find(s, k.id))
		return 0;
	n = realloc(s->keys, (s->n_keys + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->keys = n;
	s->keys[s->n_keys++] = k;
	return 0;
}

const struct bkey *store_key_find(const struct backup_store *s, const char *key_id)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (streq(s->keys[i].id, key_id))
			return &s->keys[i];
	return NULL;
}

int manifest_key(struct backup_store *s, const struct manifest *m, const struct bkey **ret,
		 struct carve_error *err)
{
	*ret = NULL;
	if (!m->encrypted)
		return 0;
	*ret = store_key_find(s, m->key_id);
	if (!*ret)
		return carve_err(err, -ENOKEY,
				 "backup '%s': encrypted with key '%s': key not provided (or wrong "
				 "key)",
				 m->id, m->key_id);
	return 0;
}

void chunk_relpath(const uint8_t digest[32], char out[72])
{
	char hex[65];

	hex_encode(digest, 32, hex);
	snprintf(out, 72, "%.2s/%s", hex, hex);
}

int store_chunk_read(struct backup_store *s, struct chunk_codec *c, const struct bkey *k,
		     const uint8_t digest[32], uint8_t *out, size_t cap, size_t *ret_len,
		     const char **ret_reason)
{
	cleanup_close int fd = -EBADF;
	const char *dummy;
	uint8_t *data;
	struct stat st;
	char rel[72];
	ssize_t n;

	if (!ret_reason)
		ret_reason = &dummy;
	chunk_relpath(digest, rel);
	/* O_NOATIME: reading a chunk is no reason to write its inode (GC goes by mtime) */
	fd = openat(s->chunks_fd, rel, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(s->chunks_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		*ret_reason = errno == ENOENT ? "missing" : "unreadable";
		return -errno;
	}
	if ((uint64_t)st.st_size > CHUNK_RAW_MAX + 4096) {
		*ret_reason = "unreadable";
		return -EFBIG;
	}
	data = chunk_codec_file_buf(c, (size_t)st.st_size + 1);
	if (!data)
		return -ENOMEM;
	n = loop_read(fd, data, (size_t)st.st_size);
	if (n < 0) {
		*ret_reason = "unreadable";
		return (int)n;
	}
	return chunk_decode(c, k, digest, data, (size_t)n, out, cap, ret_len, ret_reason);
}

int store_chunk_write(struct backup_store *s, struct chunk_codec *c, const struct bkey *k,
		      const uint8_t digest[32], const void *raw, size_t len, uint64_t *ret_written)
{
	char rel[72], dir[3], tmp[24], rnd[33];
	const uint8_t *enc;
	size_t enc_len;
	cleanup_close int dfd = -EBADF, fd = -EBADF;
	struct staged_chunk *st;
	bool full;
	int r;

	*ret_written = 0;
	chunk_relpath(digest, rel);
	/* present: reuse, and touch it so a concurrent GC sees it is in use (see backup_gc) */
	if (utimensat(s->chunks_fd, rel, NULL, 0) == 0)
		return 0;
	if (errno != ENOENT)
		return -errno;
	/* written by this backup already, not yet flushed */
	pthread_mutex_lock(&s->stage_lock);
	for (size_t i = 0; i < s->n_stage; i++)
		if (memcmp(s->stage[i].digest, digest, 32) == 0) {
			pthread_mutex_unlock(&s->stage_lock);
			return 0;
		}
	pthread_mutex_unlock(&s->stage_lock);
	r = chunk_encode(c, k, digest, raw, len, &enc, &enc_len);
	if (r < 0)
		return r;
	memcpy(dir, rel, 2);
	dir[2] = 0;
	dfd = open_subdir(s->chunks_fd, dir, true);
	if (dfd < 0)
		return dfd;
	r = random_id(rnd);
	if (r < 0)
		return r;
	snprintf(tmp, sizeof(tmp), ".tmp-%.16s", rnd);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = loop_write(fd, enc, enc_len);
	if (r < 0) {
		(void)unlinkat(dfd, tmp, 0);
		return r;
	}
	/* no fsync here: the batch is made durable by one syncfs before it gets its names */
	pthread_mutex_lock(&s->stage_lock);
	while (s->n_stage >= STAGE_CHUNKS_MAX) {
		pthread_mutex_unlock(&s->stage_lock);
		r = store_chunks_flush(s);
		if (r < 0) {
			(void)unlinkat(dfd, tmp, 0);
			return r;
		}
		pthread_mutex_lock(&s->stage_lock);
	}
	st = &s->stage[s->n_stage++];
	st->dfd = TAKE_FD(dfd);
	strscpy(st->tmp, tmp, sizeof(st->tmp));
	strscpy(st->name, rel + 3, sizeof(st->name));
	memcpy(st->digest, digest, 32);
	s->stage_bytes += enc_len;
	full = s->n_stage >= STAGE_CHUNKS_MAX || s->stage_bytes >= STAGE_BYTES_MAX;
	pthread_mutex_unlock(&s->stage_lock);
	if (full) {
		r = store_chunks_flush(s);
		if (r < 0)
			return r;
	}
	*ret_written = enc_len;
	return 1;
}

/*
 * The batch is taken out of the store under the lock and made durable outside it, so the other
 * workers go on encoding and writing the next batch while this one syncs. A chunk of the batch
 * in flight is not found by the "already staged" check above: another worker may write it again
 * under another temporary name, and the second rename replaces the first with the same bytes.
 * Every flush a worker starts ends before that worker returns, so the caller's last flush (after
 * the workers are joined) leaves nothing in flight.
 */
int store_chunks_flush(struct backup_store *s)
{
	struct staged_chunk batch[STAGE_CHUNKS_MAX];
	size_t n;
	int r = 0;

	pthread_mutex_lock(&s->stage_lock);
	n = s->n_stage;
	memcpy(batch, s->stage, n * sizeof(batch[0]));
	s->n_stage = 0;
	s->stage_bytes = 0;
	pthread_mutex_unlock(&s->stage_lock);

	if (n > 0 && syncfs(s->chunks_fd) < 0)
		r = -errno;
	for (size_t i = 0; i < n; i++) {
		struct staged_chunk *st = &batch[i];

		if (r >= 0 && renameat(st->dfd, st->tmp, st->dfd, st->name) < 0)
			r = -errno;
		if (r < 0)
			(void)unlinkat(st->dfd, st->tmp, 0);
		safe_close(st->dfd);
	}
	return r;
}

void store_chunks_discard(struct backup_store *s)
{
	pthread_mutex_lock(&s->stage_lock);
	for (size_t i = 0; i < s->n_stage; i++) {
		(void)unlinkat(s->stage[i].dfd, s->stage[i].tmp, 0);
		safe_close(s->stage[i].dfd);
	}
	s->n_stage = 0;
	s->stage_bytes = 0;
	pthread_mutex_unlock(&s->stage_lock);
}

int store_blob_read(struct backup_store *s, const struct bkey *k, const uint8_t digest[32],
		    uint8_t **ret, size_t *ret_len, const char **ret_reason)
{
	cleanup_free uint8_t *data = NULL, *out = NULL;
	struct chunk_codec *c = NULL;
	struct chunk_hdr h;
	char rel[72];
	size_t len, n;
	int r;

	chunk_relpath(digest, rel);
	r = read_all_at(s->chunks_fd, rel, CHUNK_RAW_MAX + 4096, &data, &len);
	if (r < 0) {
		if (ret_reason)
			*ret_reason = r == -ENOENT ? "missing" : "unreadable";
		return r;
	}
	r = chunk_header_parse(data, len, &h);
	if (r < 0) {
		if (ret_reason)
			*ret_reason = "bad header or length";
		return r;
	}
	out = malloc((size_t)h.raw_len + 1);
	c = chunk_codec_new(1);
	if (!out || !c) {
		chunk_codec_free(c);
		return -ENOMEM;
	}
	r = chunk_decode(c, k, digest, data, len, out, h.raw_len, &n, ret_reason);
	chunk_codec_free(c);
	if (r < 0)
		return r;
	out[n] = 0;
	*ret_len = n;
	*ret = TAKE_PTR(out);
	return 0;
}

int store_manifest_load(struct backup_store *s, const char *id, bool partial, struct manifest **ret,
			struct carve_error *err)
{
	cleanup_free uint8_t *text = NULL;
	char name[BACKUP_ID_MAX + 16];
	size_t len;
	int r;

	if (!backup_id_valid(id))
		return carve_err_field(err, -EINVAL, "id", "backup '%s': invalid id", id ? id : "");
	snprintf(name, sizeof(name), "%s%s", id, partial ? ".partial.json" : ".json");
	r = read_all_at(s->backups_fd, name, MANIFEST_MAX, &text, &len);
	if (r == -ENOENT)
		return carve_err(err, r, "backup '%s': not found", id);
	if (r < 0)
		return carve_err(err, r, "backup '%s': read manifest: %s", id, strerror(-r));
	r = manifest_parse((const char *)text, len, ret);
	if (r < 0)
		return carve_err(err, r, "backup '%s': manifest: malformed", id);
	if (!streq((*ret)->id, id) || (!partial && !(*ret)->complete)) {
		manifest_free(*ret);
		*ret = NULL;
		return carve_err(err, -EBADMSG,
				 "backup '%s': manifest: id or completeness mismatch", id);
	}
	return 0;
}

int store_manifest_write(struct backup_store *s, const struct manifest *m, bool partial)
{
	cleanup_free char *text = NULL;
	char name[BACKUP_ID_MAX + 16];
	int r;

	r = manifest_format(m, &text);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s%s", m->id, partial ? ".partial.json" : ".json");
	return write_at_atomic(s->backups_fd, name, text, strlen(text), !partial);
}

static void info_from_manifest(const struct manifest *m, struct backup_info *info)
{
	memset(info, 0, sizeof(*info));
	strscpy(info->id, m->id, sizeof(info->id));
	info->server_id = strdup(m->server_id);
	info->created_at = m->created_at;
	info->encrypted = m->encrypted;
	strscpy(info->key_id, m->key_id, sizeof(info->key_id));
	info->stats = m->stats;
	info->volumes = calloc(m->n_volumes + 1, sizeof(*info->volumes));
	if (!info->volumes)
		return;
	info->n_volumes = m->n_volumes;
	for (size_t i = 0; i < m->n_volumes; i++) {
		info->volumes[i].name = strdup(m->volumes[i].name);
		info->volumes[i].size = m->volumes[i].size;
		info->volumes[i].chunk_size = m->volumes[i].chunk_size;
		info->volumes[i].chunks = m->volumes[i].n_chunks;
		info->volumes[i].has_index = m->volumes[i].has_index;
	}
}

void backup_info_release(struct backup_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->n_volumes; i++)
		free(info->volumes[i].name);
	free(info->volumes);
	free(info->server_id);
	memset(info, 0, sizeof(*info));
}

void backup_info_array_free(struct backup_info *infos, size_t n)
{
	for (size_t i = 0; infos && i < n; i++)
		backup_info_release(&infos[i]);
	free(infos);
}

int backup_get(struct backup_store *s, const char *id, struct backup_info *ret,
	       struct carve_error *err)
{
	cleanup(manifest_freep) struct manifest *m = NULL;
	int r;

	r = store_manifest_load(s, id, false, &m, err);
	if (r < 0)
		return r;
	info_from_manifest(m, ret);
	return 0;
}

static int cmp_info(const void *a, const void *b)
{
	const struct backup_info *x = a, *y = b;

	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? -1 : 1;
	return strcmp(x->id, y->id);
}

int backup_list(struct backup_store *s, struct backup_info **ret, size_t *ret_n,
		struct carve_error *err)
{
	cleanup_closedir DIR *d = NULL;
	struct backup_info *infos = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd;

	fd = openat(s->backups_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		safe_close(fd);
		return carve_err(err, -errno, "backup store '%s': list: %m", s->path);
	}
	while ((de = readdir(d))) {
		char id[BACKUP_ID_MAX];
		size_t l = strlen(de->d_name);
		struct manifest *m = NULL;

		if (l <= 5 || l - 5 >= sizeof(id) || !streq(de->d_name + l - 5, ".json") ||
		    strstr(de->d_name, ".partial."))
			continue;
		memcpy(id, de->d_name, l - 5);
		id[l - 5] = 0;
		if (store_manifest_load(s, id, false, &m, NULL) < 0)
			continue; /* unreadable manifests are verify's business */
		if (n == cap) {
			struct backup_info *ni;

			cap = cap ? cap * 2 : 16;
			ni = realloc(infos, cap * sizeof(*ni));
			if (!ni) {
				manifest_free(m);
				backup_info_array_free(infos, n);
				return carve_err(err, -ENOMEM, "backup store '%s': list", s->path);
			}
			infos = ni;
		}
		info_from_manifest(m, &infos[n++]);
		manifest_free(m);
	}
	if (n > 0)
		qsort(infos, n, sizeof(*infos), cmp_info);
	*ret = infos;
	*ret_n = n;
	return 0;
}

int backup_config_get(struct backup_store *s, const char *id, char **ret_json,
		      struct carve_error *err)
{
	cleanup(manifest_freep) struct manifest *m = NULL;
	const struct bkey *k;
	const char *reason = "";
	uint8_t *data;
	size_t len;
	int r;

	r = store_manifest_load(s, id, false, &m, err);
	if (r < 0)
		return r;
	if (!m->has_config) {
		*ret_json = NULL;
		return 0;
	}
	r = manifest_key(s, m, &k, err);
	if (r < 0)
		return r;
	r = store_blob_read(s, k, m->config_digest, &data, &len, &reason);
	if (r < 0)
		return carve_err(err, r, "backup '%s': config: %s", id, reason);
	*ret_json = (char *)data;
	return 0;
}

int backup_delete(struct backup_store *s, const char *id, struct carve_error *err)
{
	char name[BACKUP_ID_MAX + 8];

	if (!backup_id_valid(id))
		return carve_err_field(err, -EINVAL, "id", "backup '%s': invalid id", id ? id : "");
	snprintf(name, sizeof(name), "%s.json", id);
	if (unlinkat(s->backups_fd, name, 0) < 0)
		return carve_err(err, -errno, "backup '%s': %s", id,
				 errno == ENOENT ? "not found" : strerror(errno));
	(void)fsync(s->backups_fd);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Restore of a volume image from the store.
 *
 * Decoders (one per CPU and one more, at least 3) take chunks in offset order from a shared
 * cursor; each reads the chunk file into its codec's buffer, decrypts, decompresses and checks
 * the digest, and writes the chunk's non-zero 64 KiB pieces (holes stay holes) into a temporary
 * file next to the destination with O_DIRECT (no copy into the page cache, and no turns on the
 * file's lock: buffered writes to one file are serialized by it); what cannot go direct (an
 * unaligned tail, a filesystem without O_DIRECT) is written buffered and its writeback started
 * at once (sync_file_range). A flusher thread fdatasyncs each FLUSH_STEP bytes written, so the
 * device cache and the filesystem's log are flushed while the decoders decode and the fsync
 * before the rename has only the tail left; the rename gives the volume its name only after it.
 *
 * With a base (a local snapshot of the same volume kept from an earlier backup, and that
 * backup's id), the temporary file starts as a reflink clone of the snapshot (FICLONE); a chunk
 * whose digest is the same in both manifests is read from the snapshot and hashed, and kept
 * when it matches: only chunks that differ, or that do not match there, are fetched from the
 * store. Ranges the backup holds no chunk for are punched to holes. Without a usable base
 * (missing, another size, no reflink, changed during the restore) it restores from the store.
 */
#define LOG_DOMAIN "backup"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/backup-internal.h"
#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"

#define RESTORE_THREADS_MAX 9
#define FLUSH_STEP (256ULL << 20)
#define PIECE (64u << 10)
#define DIRECT_ALIGN 4096

struct restore_ctx {
	struct backup_store *s;
	const struct mvolume *v;
	const struct bkey *k;
	const uint8_t *try_base; /* per chunk: its data may already be in the clone (or NULL) */
	int base_fd; /* the base the clone was made of: read (page cache) instead of the clone */
	int fd;
	int direct_fd; /* the same file with O_DIRECT (-EBADF: the filesystem has none) */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the flusher waits on it */
	size_t next;
	int error;
	uint64_t error_offset;
	const char *error_reason;
	uint64_t done; /* bytes of the volume dealt with (progress) */
	uint64_t written; /* bytes written into the file */
	unsigned running; /* decoders not yet finished */
	bool finished; /* the decoders are joined: the flusher stops */
	struct backup_restore_stats st;
};

/* Write buf (n bytes at offset) into the file: the non-zero 64K pieces, each run of them in one
 * call; the range is a hole already. Aligned runs go through O_DIRECT: no copy into the page
 * cache, and XFS and ext4 let aligned direct writes inside the file run side by side, where
 * buffered writes to one file take its lock in turn. Returns the bytes written or -errno;
 * *ret_buffered tells whether some went through the page cache. */
static int64_t write_nonzero(struct restore_ctx *c, const uint8_t *buf, size_t n, uint64_t offset,
			     bool *ret_buffered)
{
	uint64_t written = 0;

	for (size_t o = 0; o < n;) {
		size_t l = n - o < PIECE ? n - o : PIECE, run = 0;
		ssize_t w = -1;
		bool direct;

		if (mem_is_zero(buf + o, l)) {
			o += l;
			continue;
		}
		while (o + run < n) {
			size_t k = n - o - run < PIECE ? n - o - run : PIECE;

			if (run > 0 && mem_is_zero(buf + o + run, k))
				break;
			run += k;
		}
		direct = c->direct_fd >= 0 && (offset + o) % DIRECT_ALIGN == 0 &&
			 run % DIRECT_ALIGN == 0 && (uintptr_t)(buf + o) % DIRECT_ALIGN == 0;
		if (direct)
			w = pwrite(c->direct_fd, buf + o, run, (off_t)(offset + o));
		if (!direct || (w < 0 && errno == EINVAL)) {
			w = pwrite(c->fd, buf + o, run, (off_t)(offset + o));
			*ret_buffered = true;
		}
		if (w != (ssize_t)run)
			return w < 0 ? -errno : -EIO;
		written += run;
		o += run;
	}
	return (int64_t)written;
}

/* A chunk's range of the base (and so of its clone) holds its data: read and check the digest.
 * The base is read rather than the clone: its pages may be cached, the fresh clone's are not;
 * that the base did not change meanwhile is checked after (same_stat on its ctime and mtime). */
static bool base_matches(struct restore_ctx *c, const struct chunk_ref *ref, uint8_t *buf,
			 size_t want)
{
	uint8_t d[32];
	ssize_t n = pread(c->base_fd, buf, want, (off_t)ref->offset);

	if (n != (ssize_t)want)
		return false;
	chunk_digest(c->k, buf, want, d);
	return memcmp(d, ref->digest, 32) == 0;
}

static void *restore_worker(void *arg)
{
	struct restore_ctx *c = arg;
	struct chunk_codec *codec = chunk_codec_new(1);
	uint8_t *buf = NULL;

	if (posix_memalign((void **)&buf, DIRECT_ALIGN, c->v->chunk_size) != 0)
		buf = NULL;

	for (;;) {
		const struct chunk_ref *ref;
		const char *reason = NULL;
		size_t n = 0, want, i;
		int64_t w = 0;
		bool reused = false, mismatch = false, buffered = false;
		int r = 0;

		pthread_mutex_lock(&c->lock);
		if (c->error || c->next >= c->v->n_chunks || !codec || !buf) {
			if ((!codec || !buf) && !c->error)
				c->error = -ENOMEM;
			pthread_mutex_unlock(&c->lock);
			break;
		}
		i = c->next++;
		pthread_mutex_unlock(&c->lock);
		ref = &c->v->chunks[i];

		want = c->v->size - ref->offset < c->v->chunk_size ? c->v->size - ref->offset
								   : c->v->chunk_size;
		if (c->try_base && c->try_base[i]) {
			reused = base_matches(c, ref, buf, want);
			mismatch = !reused;
		}
		if (!reused) {
			r = store_chunk_read(c->s, codec, c->k, ref->digest, buf, c->v->chunk_size,
					     &n, &reason);
			if (r >= 0 && n != want) {
				r = -EBADMSG;
				reason = "wrong length";
			}
			/* on a clone the range may hold the base's data: make it a hole first */
			if (r >= 0 && c->try_base &&
			    fallocate(c->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)ref->offset, (off_t)want) < 0) {
				r = -errno;
				reason = "punch";
			}
			if (r >= 0) {
				w = write_nonzero(c, buf, n, ref->offset, &buffered);
				if (w < 0) {
					r = (int)w;
					reason = "write";
				}
			}
			/* start writing back what went through the page cache; the flusher waits */
			if (r >= 0 && buffered)
				(void)sync_file_range(c->fd, (off_t)ref->offset, (off_t)n,
						      SYNC_FILE_RANGE_WRITE);
		}
		pthread_mutex_lock(&c->lock);
		if (r < 0 && !c->error) {
			c->error = r;
			c->error_offset = ref->offset;
			c->error_reason = reason;
		}
		c->done += want;
		if (r >= 0) {
			c->written += (uint64_t)w;
			c->st.bytes_written += (uint64_t)w;
			if (reused)
				c->st.chunks_from_base++;
			else
				c->st.chunks_fetched++;
			if (mismatch)
				c->st.chunks_base_mismatch++;
		}
		pthread_cond_signal(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_lock(&c->lock);
	c->running--;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	free(buf);
	chunk_codec_free(codec);
	return NULL;
}

/* fdatasync each FLUSH_STEP bytes written while the decoders run */
static void *restore_flusher(void *arg)
{
	struct restore_ctx *c = arg;
	uint64_t synced = 0;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		uint64_t w;

		while (!c->finished && !c->error && c->written - synced < FLUSH_STEP)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->finished || c->error)
			break;
		w = c->written;
		pthread_mutex_unlock(&c->lock);
		(void)fdatasync(c->fd); /* errors: the final fdatasync reports them */
		synced = w;
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* one decoder per CPU and one more, to keep the CPUs busy while a decoder waits on a read or a
 * write; at least 3 */
static unsigned restore_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN) + 1;

	if (n < 3)
		return 3;
	return n > RESTORE_THREADS_MAX ? RESTORE_THREADS_MAX : (unsigned)n;
}

static const struct mvolume *manifest_volume(const struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_volumes; i++)
		if (streq(m->volumes[i].name, name))
			return &m->volumes[i];
	return NULL;
}

/* Set up the temporary file as a clone of the base and mark the chunks to try from it. Returns
 * 0 with *ret_try set, or a reason (static string) why the base cannot be used. */
static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static const char *base_prepare(struct backup_store *s, const struct mvolume *v,
				const struct backup_restore_base *base, int fd, int *ret_bfd,
				struct stat *ret_st, uint8_t **ret_try)
{
	cleanup(manifest_freep) struct manifest *bm = NULL;
	cleanup_close int bfd = -EBADF;
	const struct mvolume *bv;
	struct stat st;
	uint8_t *try;
	uint64_t end = 0;
	size_t j = 0;

	if (!base->backup_id || store_manifest_load(s, base->backup_id, false, &bm, NULL) < 0)
		return "its backup is not in the store";
	bv = manifest_volume(bm, v->name);
	if (!bv)
		return "the volume is not in its backup";
	if (bv->chunk_size != v->chunk_size)
		return "its backup has another chunk size";
	bfd = open(base->path, O_RDONLY | O_CLOEXEC);
	if (bfd < 0)
		return "missing";
	if (fstat(bfd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != bv->size)
		return "not the size its backup recorded";
	*ret_st = st;
	if (ioctl(fd, FICLONE, bfd) < 0)
		return "no reflink to the destination's filesystem";
	if (ftruncate(fd, (off_t)v->size) < 0)
		return "cannot size the clone";
	try = calloc(v->n_chunks ? v->n_chunks : 1, 1);
	if (!try)
		return "out of memory";
	/* both chunk lists ascend by offset */
	for (size_t i = 0; i < v->n_chunks; i++) {
		const struct chunk_ref *ref = &v->chunks[i];

		while (j < bv->n_chunks && bv->chunks[j].offset < ref->offset)
			j++;
		try[i] = j < bv->n_chunks && bv->chunks[j].offset == ref->offset &&
			 memcmp(bv->chunks[j].digest, ref->digest, 32) == 0;
		/* what the backup has no chunk for is zero: punch it */
		if (ref->offset > end)
			(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)end,
					(off_t)(ref->offset - end));
		end = ref->offset + v->chunk_size;
	}
	if (v->size > end)
		(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)end,
				(off_t)(v->size - end));
	*ret_try = try;
	*ret_bfd = TAKE_FD(bfd);
	return NULL;
}

int backup_restore_volume_ex(struct backup_store *s, const char *id, const char *volume,
			     const char *dest_path, const struct backup_restore_base *base,
			     struct backup_restore_stats *ret_stats, backup_progress_fn progress,
			     void *userdata, struct carve_error *err)
{
	cleanup(manifest_freep) struct manifest *m = NULL;
	struct restore_ctx c = {.fd = -EBADF, .base_fd = -EBADF, .direct_fd = -EBADF};
	struct stat base_st = {};
	cleanup_free char *tmp = NULL;
	cleanup_free uint8_t *try = NULL;
	pthread_t th[RESTORE_THREADS_MAX], flusher;
	unsigned nth = 0, want_th = restore_threads();
	bool have_flusher = false;
	int r;

	r = store_manifest_load(s, id, false, &m, err);
	if (r < 0)
		return r;
	c.v = manifest_volume(m, volume ? volume : "");
	if (!c.v)
		return carve_err(err, -ENOENT, "backup '%s': volume '%s': not in this backup", id,
				 volume ? volume : "");
	r = manifest_key(s, m, &c.k, err);
	if (r < 0)
		return r;
	if (asprintf(&tmp, "%s.restore-%d", dest_path, (int)getpid()) < 0)
		return carve_err(err, -ENOMEM, "restore");
	c.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (c.fd < 0)
		return carve_err(err, -errno, "backup '%s': volume '%s': create '%s': %m", id,
				 volume, tmp);
	if (base && base->path) {
		const char *why = base_prepare(s, c.v, base, c.fd, &c.base_fd, &base_st, &try);

		if (why) {
			log_info("backup '%s': volume '%s': base '%s' not used (%s): restoring "
				 "from the store",
				 id, volume, base->path, why);
			if (ftruncate(c.fd, 0) < 0) {
				r = carve_err(err, -errno, "backup '%s': volume '%s': '%s': %m", id,
					      volume, tmp);
				goto fail;
			}
		} else {
			c.try_base = try;
			c.st.base_used = true;
		}
	}
	if (ftruncate(c.fd, (off_t)c.v->size) < 0) {
		r = carve_err(err, -errno, "backup '%s': volume '%s': size '%s': %m", id, volume,
			      tmp);
		goto fail;
	}
	/* none on some filesystems (tmpfs): then every write is buffered */
	c.direct_fd = open(tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
	c.s = s;
	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	have_flusher = pthread_create(&flusher, NULL, restore_flusher, &c) == 0;
	for (nth = 0; nth < want_th; nth++) {
		pthread_mutex_lock(&c.lock);
		c.running++;
		pthread_mutex_unlock(&c.lock);
		if (pthread_create(&th[nth], NULL, restore_worker, &c) != 0) {
			pthread_mutex_lock(&c.lock);
			c.running--;
			pthread_mutex_unlock(&c.lock);
			break;
		}
	}
	if (nth == 0) {
		c.running = 1;
		restore_worker(&c);
	}
	while (progress) {
		uint64_t done;
		bool finished;

		pthread_mutex_lock(&c.lock);
		done = c.done;
		finished = c.running == 0 || c.error;
		pthread_mutex_unlock(&c.lock);
		if (progress(done, c.v->size, userdata) < 0) {
			pthread_mutex_lock(&c.lock);
			if (!c.error)
				c.error = -ECANCELED;
			pthread_cond_signal(&c.cond);
			pthread_mutex_unlock(&c.lock);
		}
		if (finished)
			break;
		usleep(100 * 1000);
	}
	for (unsigned i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_lock(&c.lock);
	c.finished = true;
	pthread_cond_signal(&c.cond);
	pthread_mutex_unlock(&c.lock);
	if (have_flusher)
		pthread_join(flusher, NULL);
	pthread_cond_destroy(&c.cond);
	pthread_mutex_destroy(&c.lock);
	if (c.error) {
		if (c.error == -ECANCELED)
			r = carve_err(err, c.error, "backup '%s': volume '%s': restore cancelled",
				      id, volume);
		else
			r = carve_err(err, c.error,
				      "backup '%s': volume '%s': offset %llu: chunk %s", id, volume,
				      (unsigned long long)c.error_offset,
				      c.error_reason ? c.error_reason : strerror(-c.error));
		goto fail;
	}
	if (c.try_base) {
		struct stat now;

		if (fstat(c.base_fd, &now) < 0 || !same_stat(&now, &base_st)) {
			/* written to while we read it: what the clone holds is unknown */
			log_info("backup '%s': volume '%s': base '%s' changed during the restore: "
				 "restoring from the store",
				 id, volume, base->path);
			safe_close(c.fd);
			safe_close(c.base_fd);
			safe_close(c.direct_fd);
			(void)unlink(tmp);
			return backup_restore_volume_ex(s, id, volume, dest_path, NULL, ret_stats,
							progress, userdata, err);
		}
	}
	/* durable before it gets its name */
	if (fsync(c.fd) < 0 || rename(tmp, dest_path) < 0) {
		r = carve_err(err, -errno, "backup '%s': volume '%s': '%s': %m", id, volume,
			      dest_path);
		goto fail;
	}
	safe_close(c.fd);
	safe_close(c.base_fd);
	safe_close(c.direct_fd);
	if (ret_stats)
		*ret_stats = c.st;
	if (progress)
		progress(c.v->size, c.v->size, userdata);
	return 0;
fail:
	safe_close(c.fd);
	safe_close(c.base_fd);
	safe_close(c.direct_fd);
	(void)unlink(tmp);
	return r;
}

int backup_restore_volume(struct backup_store *s, const char *id, const char *volume,
			  const char *dest_path, backup_progress_fn progress, void *userdata,
			  struct carve_error *err)
{
	return backup_restore_volume_ex(s, id, volume, dest_path, NULL, NULL, progress, userdata,
					err);
}

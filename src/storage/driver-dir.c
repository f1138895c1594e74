/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dir driver: a volume is a plain directory tree. Clones are shifted copies, made file by file
 * with copy_file_range(2) (which reflinks on XFS/btrfs where the kernel can). The copy is built
 * under "<volume>.partial" and renamed into place only when complete, so a crash never leaves a
 * half-copied volume under the real name; destroy removes both.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "storage/storage-internal.h"

struct link_seen {
	dev_t dev;
	ino_t ino;
	char *path; /* the first copy's path, relative to the destination root */
};

struct copy_ctx {
	const struct storage_clone_opts *opts;
	int dst_root;
	uint64_t done, total, last_report;
	struct link_seen *links;
	size_t n_links, cap_links;
	struct carve_error *err;
};

static int shift_id(struct copy_ctx *c, const char *rel, uid_t uid, gid_t gid, uid_t *ret_uid,
		    gid_t *ret_gid)
{
	uint32_t range = c->opts && c->opts->id_range ? c->opts->id_range : 65536;

	if (uid >= range || gid >= range)
		return carve_err(c->err, -EOVERFLOW,
				 "'%s': owner %u:%u is outside the template's id range (0..%u)",
				 rel, (unsigned)uid, (unsigned)gid, range - 1);
	*ret_uid = uid + (c->opts ? c->opts->uid_shift : 0);
	*ret_gid = gid + (c->opts ? c->opts->gid_shift : 0);
	return 0;
}

static int report(struct copy_ctx *c, bool force)
{
	if (!c->opts || !c->opts->progress)
		return 0;
	if (!force && c->done - c->last_report < (4u << 20))
		return 0;
	c->last_report = c->done;
	/* a source file that grew while we copied must not push done past total */
	return c->opts->progress(c->done, c->total < c->done ? c->done : c->total,
				 c->opts->userdata);
}

/* The largest shifted id must stay below (uid_t)-1, which chown(2) reads as "leave unchanged",
 * and must not wrap around to host root. */
static int check_shift(const struct storage_clone_opts *opts, struct carve_error *err)
{
	uint64_t range = opts && opts->id_range ? opts->id_range : 65536;

	if (!opts)
		return 0;
	if ((uint64_t)opts->uid_shift + range > UINT32_MAX)
		return carve_err(err, -EOVERFLOW,
				 "uid shift %u with id range %u passes the largest id",
				 (unsigned)opts->uid_shift, (unsigned)range);
	if ((uint64_t)opts->gid_shift + range > UINT32_MAX)
		return carve_err(err, -EOVERFLOW,
				 "gid shift %u with id range %u passes the largest id",
				 (unsigned)opts->gid_shift, (unsigned)range);
	return 0;
}

static int measure(int dfd, uint64_t *total)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		safe_close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISREG(st.st_mode)) {
			*total += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			cleanup_close int sub =
				openat(dirfd(d), de->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int r;
			if (sub < 0)
				return -errno;
			r = measure(sub, total);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int copy_range(int in, int out, uint64_t off, uint64_t len, uint64_t *ret_copied,
		      struct copy_ctx *c)
{
	loff_t ioff = (loff_t)off, ooff = (loff_t)off;
	bool fallback = false;
	uint64_t copied = 0;
	int r;

	while (copied < len) {
		size_t chunk = len - copied > (8u << 20) ? (8u << 20) : (size_t)(len - copied);
		ssize_t n = -1;

		if (!fallback) {
			n = copy_file_range(in, &ioff, out, &ooff, chunk, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
				      errno == EINVAL))
				fallback = true;
		}
		if (fallback) {
			char buf[65536];

			n = pread(in, buf, sizeof(buf) < chunk ? sizeof(buf) : chunk, ioff);
			if (n > 0) {
				for (ssize_t w = 0; w < n;) {
					ssize_t k = pwrite(out, buf + w, (size_t)(n - w), ooff + w);
					if (k < 0 && errno == EINTR)
						continue;
					if (k <= 0)
						return k < 0 ? -errno : -EIO;
					w += k;
				}
				ioff += n;
				ooff += n;
			}
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break; /* the source shrank while we copied */
		copied += (uint64_t)n;
		c->done += (uint64_t)n;
		r = report(c, false);
		if (r < 0)
			return r;
	}
	*ret_copied = copied;
	return 0;
}

/* Copy size bytes, keeping holes: templates hold sparse files (lastlog, images) that would
 * otherwise be allocated in every clone. Holes count as done for progress. */
static int copy_data(int in, int out, uint64_t size, struct copy_ctx *c)
{
	uint64_t off = 0;
	int r;

	while (off < size) {
		off_t data = lseek(in, (off_t)off, SEEK_DATA), hole;
		uint64_t end, want, copied;

		if (data < 0 && errno == ENXIO)
			data = (off_t)size; /* only a hole is left */
		else if (data < 0 && errno == EINVAL)
			data = (off_t)off; /* no SEEK_DATA here: copy everything */
		else if (data < 0)
			return -errno;
		if ((uint64_t)data > size)
			data = (off_t)size;
		if ((uint64_t)data > off) {
			c->done += (uint64_t)data - off;
			off = (uint64_t)data;
			r = report(c, false);
			if (r < 0)
				return r;
			continue;
		}
		hole = lseek(in, (off_t)off, SEEK_HOLE);
		end = hole < 0 || (uint64_t)hole > size ? size : (uint64_t)hole;
		if (end <= off)
			end = size;
		want = end - off;
		r = copy_range(in, out, off, want, &copied, c);
		if (r < 0)
			return r;
		off += copied;
		if (copied < want) {
			size = off; /* the source shrank */
			break;
		}
	}
	if (ftruncate(out, (off_t)size) < 0)
		return -errno;
	return 0;
}

static int remember_link(struct copy_ctx *c, const struct stat *st, const char *rel)
{
	if (c->n_links == c->cap_links) {
		size_t cap = c->cap_links ? c->cap_links * 2 : 64;
		struct link_seen *n = realloc(c->links, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->links = n;
		c->cap_links = cap;
	}
	c->links[c->n_links].path = strdup(rel);
	if (!c->links[c->n_links].path)
		return -ENOMEM;
	c->links[c->n_links].dev = st->st_dev;
	c->links[c->n_links].ino = st->st_ino;
	c->n_links++;
	return 0;
}

static const char *find_link(struct copy_ctx *c, const struct stat *st)
{
	for (size_t i = 0; i < c->n_links; i++)
		if (c->links[i].dev == st->st_dev && c->links[i].ino == st->st_ino)
			return c->links[i].path;
	return NULL;
}

static int copy_entry(int sdir, int ddir, const char *name, const char *rel, struct copy_ctx *c);

static int copy_dir(int sfd, int dfd, const char *rel, struct copy_ctx *c)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		safe_close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name) >= sizeof(sub))
			return carve_err(c->err, -ENAMETOOLONG, "'%s/%s': path too long", rel,
					 de->d_name);
		r = copy_entry(dirfd(d), dfd, de->d_name, sub, c);
		if (r < 0)
			return r;
	}
	return 0;
}

static int copy_entry(int sdir, int ddir, const char *name, const char *rel, struct copy_ctx *c)
{
	struct timespec times[2];
	struct stat st;
	uid_t uid = 0;
	gid_t gid = 0;
	int r;

	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return carve_err(c->err, -errno, "'%s': stat", rel);
	r = shift_id(c, rel, st.st_uid, st.st_gid, &uid, &gid);
	if (r < 0)
		return r;
	times[0] = st.st_atim;
	times[1] = st.st_mtim;

	if (S_ISDIR(st.st_mode)) {
		cleanup_close int s = -EBADF, d = -EBADF;

		if (mkdirat(ddir, name, 0700) < 0)
			return carve_err(c->err, -errno, "'%s': mkdir", rel);
		s = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		d = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0 || d < 0)
			return carve_err(c->err, -errno, "'%s': open", rel);
		r = copy_dir(s, d, rel, c);
		if (r < 0)
			return r;
		if (fchown(d, uid, gid) < 0 || fchmod(d, st.st_mode & 07777) < 0 ||
		    futimens(d, times) < 0)
			return carve_err(c->err, -errno, "'%s': set owner and mode", rel);
	} else if (S_ISREG(st.st_mode)) {
		cleanup_close int s = -EBADF, d = -EBADF;
		const char *first = st.st_nlink > 1 ? find_link(c, &st) : NULL;
		struct stat now;

		if (first) {
			if (linkat(c->dst_root, first, ddir, name, 0) < 0)
				return carve_err(c->err, -errno, "'%s': link to '%s'", rel, first);
			/* measure() counted every name */
			c->done += (uint64_t)st.st_size;
			return 0;
		}
		/* O_NONBLOCK: a FIFO swapped in since fstatat() must not hang the copy */
		s = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (s < 0)
			return carve_err(c->err, -errno, "'%s': open", rel);
		if (fstat(s, &now) < 0)
			return carve_err(c->err, -errno, "'%s': stat", rel);
		if (!S_ISREG(now.st_mode) || now.st_ino != st.st_ino || now.st_dev != st.st_dev)
			return carve_err(c->err, -ESTALE, "'%s': replaced while copying", rel);
		d = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (d < 0)
			return carve_err(c->err, -errno, "'%s': create", rel);
		r = copy_data(s, d, (uint64_t)st.st_size, c);
		if (r < 0)
			return carve_err(c->err, r, "'%s': copy", rel);
		/* chown clears setuid/setgid bits, so the mode comes after it */
		if (fchown(d, uid, gid) < 0 || fchmod(d, st.st_mode & 07777) < 0 ||
		    futimens(d, times) < 0)
			return carve_err(c->err, -errno, "'%s': set owner and mode", rel);
		if (st.st_nlink > 1) {
			r = remember_link(c, &st, rel + 1);
			if (r < 0)
				return carve_err(c->err, r, "'%s'", rel);
		}
	} else if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);

		if (n < 0)
			return carve_err(c->err, -errno, "'%s': readlink", rel);
		target[n] = '\0';
		if (symlinkat(target, ddir, name) < 0)
			return carve_err(c->err, -errno, "'%s': symlink", rel);
		if (fchownat(ddir, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    utimensat(ddir, name, times, AT_SYMLINK_NOFOLLOW) < 0)
			return carve_err(c->err, -errno, "'%s': set owner", rel);
	} else if (S_ISFIFO(st.st_mode)) {
		if (mkfifoat(ddir, name, 0600) < 0 ||
		    fchownat(ddir, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(ddir, name, st.st_mode & 07777, 0) < 0 ||
		    utimensat(ddir, name, times, AT_SYMLINK_NOFOLLOW) < 0)
			return carve_err(c->err, -errno, "'%s': fifo", rel);
	}
	/* Device nodes and sockets are not copied: /dev is provided by the runtime. */
	return 0;
}

int storage_copy_tree(const char *src, const char *dst, const struct storage_clone_opts *opts,
		      struct carve_error *err)
{
	cleanup_close int s = -EBADF, d = -EBADF;
	struct copy_ctx c = {.opts = opts, .err = err};
	struct timespec times[2];
	struct stat st;
	uid_t uid = 0;
	gid_t gid = 0;
	int r;

	r = check_shift(opts, err);
	if (r < 0)
		return r;
	s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s < 0)
		return carve_err(err, -errno, "source '%s'", src);
	if (fstat(s, &st) < 0)
		return carve_err(err, -errno, "source '%s'", src);
	r = measure(s, &c.total);
	if (r < 0)
		return carve_err(err, r, "source '%s': measure", src);
	if (mkdir(dst, 0700) < 0)
		return carve_err(err, -errno, "destination '%s'", dst);
	d = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		return carve_err(err, -errno, "destination '%s'", dst);
	c.dst_root = d;
	r = copy_dir(s, d, "", &c);
	if (r >= 0)
		r = shift_id(&c, "/", st.st_uid, st.st_gid, &uid, &gid);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	if (r >= 0 && (fchown(d, uid, gid) < 0 || fchmod(d, st.st_mode & 07777) < 0 ||
		       futimens(d, times) < 0))
		r = carve_err(err, -errno, "destination '%s': set owner and mode", dst);
	if (r >= 0) {
		c.total = c.done; /* the source may have changed since measure() */
		r = report(&c, true);
		if (r < 0)
			r = carve_err(err, r, "destination '%s': cancelled", dst);
	}
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].path);
	free(c.links);
	return r;
}

static int dir_init(struct storage_pool *pool, struct carve_error *err)
{
	int r = mkdir_p(pool->path, 0700);
	struct stat st;

	if (r < 0)
		return carve_err(err, r, "create '%s'", pool->path);
	/* mkdir_p() accepts anything that exists under the name */
	if (stat(pool->path, &st) < 0)
		return carve_err(err, -errno, "'%s'", pool->path);
	if (!S_ISDIR(st.st_mode))
		return carve_err(err, -ENOTDIR, "'%s' is not a directory", pool->path);
	return 0;
}

static int dir_volume_create(struct storage_pool *pool, const char *volume, uint64_t size,
			     struct carve_error *err)
{
	char path[PATH_MAX];
	int r = storage_volume_path(pool, volume, path, sizeof(path));

	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	if (mkdir(path, 0700) < 0)
		return carve_err(err, -errno, "volume '%s'", volume);
	return 0;
}

static int dir_volume_clone_tree(struct storage_pool *pool, const char *src_dir, const char *volume,
				 const struct storage_clone_opts *opts, struct carve_error *err)
{
	char path[PATH_MAX], partial[PATH_MAX + 16];
	int r = storage_volume_path(pool, volume, path, sizeof(path));

	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	snprintf(partial, sizeof(partial), "%s.partial", path);
	/* rename(2) would silently replace an empty directory */
	if (storage_volume_exists(pool, volume) > 0)
		return carve_err(err, -EEXIST, "volume '%s': already exists", volume);
	r = rm_rf(partial); /* left by a crash */
	if (r < 0)
		return carve_err(err, r, "volume '%s': remove stale '%s'", volume, partial);
	r = storage_copy_tree(src_dir, partial, opts, err);
	if (r < 0) {
		(void)rm_rf(partial);
		carve_err_prefix(err, "volume '%s': copy from '%s'", volume, src_dir);
		return r;
	}
	if (renameat2(AT_FDCWD, partial, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		r = -errno;
		(void)rm_rf(partial);
		return carve_err(err, r, "volume '%s': rename into place", volume);
	}
	return 0;
}

static int dir_volume_destroy(struct storage_pool *pool, const char *volume,
			      struct carve_error *err)
{
	char path[PATH_MAX], partial[PATH_MAX + 16];
	int r = storage_volume_path(pool, volume, path, sizeof(path));

	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	snprintf(partial, sizeof(partial), "%s.partial", path);
	r = rm_rf(partial);
	if (r < 0)
		return carve_err(err, r, "volume '%s': remove '%s'", volume, partial);
	r = rm_rf(path);
	if (r < 0)
		return carve_err(err, r, "volume '%s': remove '%s'", volume, path);
	return 0;
}

static int dir_volume_usage(struct storage_pool *pool, const char *volume,
			    struct storage_usage *ret, struct carve_error *err)
{
	char path[PATH_MAX];
	cleanup_close int fd = -EBADF;
	uint64_t used = 0;
	int r = storage_volume_path(pool, volume, path, sizeof(path));

	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return carve_err(err, -errno, "volume '%s'", volume);
	r = storage_tree_allocated(fd, &used);
	if (r < 0)
		return carve_err(err, r, "volume '%s': usage", volume);
	ret->provisioned = 0;
	ret->used = used;
	return 0;
}

const struct storage_driver_ops storage_driver_dir = {
	.name = "dir",
	.init = dir_init,
	.volume_create = dir_volume_create,
	.volume_clone_tree = dir_volume_clone_tree,
	.volume_destroy = dir_volume_destroy,
	.volume_usage = dir_volume_usage,
};

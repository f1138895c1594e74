/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reflink driver. Layout under the pool path:
 *   volumes/<v>.raw                 a sparse raw file holding ext4
 *   volumes/.<v>.raw.partial        a volume being built (mkfs, clone); renamed into place when
 *                                   complete, so a crash never leaves a half-made volume
 *   volumes/.<v>.raw.rollback       a snapshot copy about to be renamed over <v>.raw
 *   snapshots/<v>/<s>.raw           FICLONE copies of a volume
 *   .lock                           flock(2): admission control and creation are serialized, so
 *                                   two creates cannot both pass the overcommit check
 * Clones and snapshots share blocks until written (copy on write in XFS/btrfs), so they are
 * constant time whatever the size. The kernel does the thin provisioning (holes) and the hard
 * limit (ext4 inside a file of fixed size).
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/failpoint.h"
#include "base/fd-util.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "storage/loop.h"
#include "storage/storage-internal.h"

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

#define MIN_VOLUME_SIZE (8ull << 20)
#define SIZE_BUF 32

static bool snapshot_name_is_valid(const char *s)
{
	return s && (name_is_valid(s) || id_is_valid(s));
}

static int reflink_volume_path(const struct storage_pool *pool, const char *volume, char *buf,
			       size_t len)
{
	if (!snapshot_name_is_valid(volume))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s/volumes/%s.raw", pool->path, volume) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int volume_temp_path(const struct storage_pool *pool, const char *volume, const char *kind,
			    char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/volumes/.%s.raw.%s", pool->path, volume, kind) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int snapshot_dir(const struct storage_pool *pool, const char *volume, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/snapshots/%s", pool->path, volume) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int storage_volume_snapshot_path(const struct storage_pool *p, const char *volume,
				 const char *snapshot, char *buf, size_t len)
{
	if (p->ops != &storage_driver_reflink)
		return -EOPNOTSUPP;
	if (!snapshot_name_is_valid(volume) || !snapshot_name_is_valid(snapshot))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s/snapshots/%s/%s.raw", p->path, volume, snapshot) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static char *fmt(uint64_t v, char buf[static SIZE_BUF])
{
	return format_size(v, buf, SIZE_BUF);
}

/* --- mounts ------------------------------------------------------------------------------------
 */

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

int storage_mount_find(const char *path, char *ret_source, size_t source_len, char *ret_fstype,
		       size_t fstype_len)
{
	cleanup_fclose FILE *f = NULL;
	cleanup_free char *line = NULL;
	char want[PATH_MAX];
	size_t cap = 0;
	int found = 0;

	if (!realpath(path, want))
		return errno == ENOENT ? 0 : -errno;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *fields[5], *sep, *fstype, *source, *save = NULL;
		size_t n = 0;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		for (char *t = strtok_r(line, " ", &save); t && n < 5;
		     t = strtok_r(NULL, " ", &save))
			fields[n++] = t;
		if (n < 5)
			continue;
		unescape(fields[4]);
		if (!streq(fields[4], want))
			continue;
		save = NULL;
		fstype = strtok_r(sep + 3, " ", &save);
		source = fstype ? strtok_r(NULL, " ", &save) : NULL;
		if (!source)
			continue;
		unescape(source);
		/* the last entry for a mount point is the one on top */
		found = 1;
		if (ret_source)
			(void)strscpy(ret_source, source, source_len);
		if (ret_fstype)
			(void)strscpy(ret_fstype, fstype, fstype_len);
	}
	return found;
}

static int devnode_is_mounted(const char *devnode)
{
	cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
	cleanup_free char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - "), *save = NULL, *source;

		if (!sep)
			continue;
		source = strtok_r(sep + 3, " ", &save);
		source = source ? strtok_r(NULL, " ", &save) : NULL;
		if (source && streq(source, devnode))
			return 1;
	}
	return 0;
}

/* Unmount path if something is mounted there; 0 when nothing was. */
static int umount_if_mounted(const char *path)
{
	int r = storage_mount_find(path, NULL, 0, NULL, 0);

	if (r <= 0)
		return r;
	if (umount2(path, UMOUNT_NOFOLLOW) < 0)
		return -errno;
	return 1;
}

/* Autoclear devices are released by the kernel after the last close, from a workqueue, after
 * the filesystem has written back and the last mount namespace holding it has died: wait for
 * that (up to 30 s: a loaded host with a loop on a loop takes seconds) so callers (and
 * reconcile) see a clean state when detach returns. */
static int detach_and_wait(const char *backing)
{
	int r = 0;

	for (int i = 0; i < 1500; i++) {
		cleanup_strv char **left = NULL;

		r = loop_detach_by_backing(backing);
		if (r < 0)
			return r;
		r = loop_find_by_backing(backing, &left);
		if (r < 0)
			return r == -ENOENT ? 0 : r;
		if (!left[0])
			return 0;
		(void)nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	}
	return -EBUSY;
}

/* --- freeze, grow ----------------------------------------------------------------------------- */

int storage_fs_freeze(const char *mountpoint, struct carve_error *err)
{
	cleanup_close int fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return carve_err(err, -errno, "freeze '%s'", mountpoint);
	if (ioctl(fd, FIFREEZE, 0) < 0)
		return carve_err(err, -errno, "freeze '%s'", mountpoint);
	return 0;
}

int storage_fs_thaw(const char *mountpoint, struct carve_error *err)
{
	cleanup_close int fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return carve_err(err, -errno, "thaw '%s'", mountpoint);
	if (ioctl(fd, FITHAW, 0) < 0)
		return carve_err(err, -errno, "thaw '%s'", mountpoint);
	return 0;
}

static int attached_to(const char *path, char *ret_devnode, size_t len);

int storage_fs_trim(const char *mountpoint, uint64_t *ret_trimmed, struct carve_error *err)
{
	cleanup_close int fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct fstrim_range range = {.start = 0, .len = UINT64_MAX, .minlen = 0};

	if (fd < 0)
		return carve_err(err, -errno, "trim '%s'", mountpoint);
	if (ioctl(fd, FITRIM, &range) < 0) {
		int r = -errno;

		if (r == -EOPNOTSUPP || r == -ENOTTY)
			return carve_err(err, -EOPNOTSUPP,
					 "trim '%s': its filesystem or device does not support "
					 "discard",
					 mountpoint);
		return carve_err(err, r, "trim '%s'", mountpoint);
	}
	if (ret_trimmed)
		*ret_trimmed = range.len;
	return 0;
}

int storage_volume_trim(struct storage_pool *p, const char *volume, const char *mountpoint,
			uint64_t *ret_trimmed, struct carve_error *err)
{
	char path[PATH_MAX], source[PATH_MAX], fstype[32], dev[LOOP_DEVNODE_MAX];
	int r;

	if (p->ops != &storage_driver_reflink)
		return carve_err(err, -EOPNOTSUPP, "pool '%s': driver '%s' has no trim", p->name,
				 p->ops->name);
	r = reflink_volume_path(p, volume, path, sizeof(path));
	if (r < 0)
		return carve_err(err, r, "volume '%.64s'", volume);
	r = storage_mount_find(mountpoint, source, sizeof(source), fstype, sizeof(fstype));
	if (r < 0)
		return carve_err(err, r, "volume '%s': read mounts", volume);
	if (r == 0)
		return carve_err(err, -ENOTCONN, "volume '%s': '%s' is not mounted", volume,
				 mountpoint);
	/* only the volume's own ext4: never the filesystem below a stale mount point */
	r = attached_to(path, dev, sizeof(dev));
	if (r < 0)
		return carve_err(err, r, "volume '%s': find loop devices", volume);
	if (r == 0 || !streq(source, dev))
		return carve_err(err, -ENOTCONN,
				 "volume '%s': '%s' is mounted from '%s', not its "
				 "loop device",
				 volume, mountpoint, source);
	r = storage_fs_trim(mountpoint, ret_trimmed, err);
	if (r < 0)
		carve_err_prefix(err, "volume '%s'", volume);
	return r;
}

int storage_pool_trim(struct storage_pool *p, uint64_t *ret_trimmed, struct carve_error *err)
{
	int r;

	if (p->ops != &storage_driver_reflink)
		return carve_err(err, -EOPNOTSUPP, "pool '%s': driver '%s' has no trim", p->name,
				 p->ops->name);
	r = storage_fs_trim(p->path, ret_trimmed, err);
	if (r < 0)
		carve_err_prefix(err, "pool '%s'", p->name);
	return r;
}

int storage_fs_grow(const char *devnode, struct carve_error *err)
{
	int r = loop_set_capacity(devnode);

	if (r < 0)
		return carve_err(err, r, "'%s': set capacity", devnode);
	r = devnode_is_mounted(devnode);
	if (r < 0)
		return carve_err(err, r, "'%s': read mounts", devnode);
	r = storage_ext4_grow(devnode, r > 0, err);
	if (r < 0)
		carve_err_prefix(err, "'%s': grow filesystem", devnode);
	return r;
}

/* --- pool --------------------------------------------------------------------------------------
 */

static int pool_lock(const struct storage_pool *pool, struct carve_error *err)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/.lock", pool->path) >= sizeof(path))
		return carve_err(err, -ENAMETOOLONG, "pool '%s': lock path too long", pool->name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return carve_err(err, -errno, "pool '%s': lock '%s'", pool->name, path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int r = -errno;
			safe_close(fd);
			return carve_err(err, r, "pool '%s': lock '%s'", pool->name, path);
		}
	return fd;
}

static int probe_reflink(const char *path, struct carve_error *err)
{
	cleanup_close int a = -EBADF, b = -EBADF;
	char name[PATH_MAX], block[4096];
	struct statfs sfs;
	uint8_t rnd[6];
	char hex[13];
	int r;

	if (statfs(path, &sfs) < 0)
		return carve_err(err, -errno, "statfs '%s'", path);
	if (sfs.f_type != XFS_SUPER_MAGIC && sfs.f_type != BTRFS_SUPER_MAGIC)
		return carve_err(
			err, -EOPNOTSUPP,
			"'%s' is not on XFS or btrfs (filesystem type 0x%lx): no reflinks; "
			"use an image pool",
			path, (unsigned long)sfs.f_type);
	r = random_bytes(rnd, sizeof(rnd));
	if (r < 0)
		return carve_err(err, r, "random");
	hex_encode(rnd, sizeof(rnd), hex);
	/* named files, unlinked at once: O_TMPFILE is not on every filesystem */
	for (int i = 0; i < 2; i++) {
		int fd;
		snprintf(name, sizeof(name), "%s/.reflink-probe-%s-%d", path, hex, i);
		fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return carve_err(err, -errno, "reflink probe '%s'", name);
		(void)unlink(name);
		if (i == 0)
			a = fd;
		else
			b = fd;
	}
	memset(block, 0x5a, sizeof(block));
	r = loop_write(a, block, sizeof(block));
	if (r < 0)
		return carve_err(err, r, "reflink probe in '%s'", path);
	if (ioctl(b, FICLONE, a) < 0)
		return carve_err(err, errno == EOPNOTSUPP || errno == EINVAL ? -EOPNOTSUPP : -errno,
				 "'%s' does not support reflinks (XFS needs mkfs.xfs -m reflink=1)",
				 path);
	return 0;
}

static int mkdir_in(const char *base, const char *sub)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", base, sub) >= sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int reflink_init(struct storage_pool *pool, struct carve_error *err)
{
	int r = mkdir_p(pool->path, 0700);

	if (r < 0)
		return carve_err(err, r, "create '%s'", pool->path);
	r = probe_reflink(pool->path, err);
	if (r < 0)
		return r;
	r = mkdir_in(pool->path, "volumes");
	if (r >= 0)
		r = mkdir_in(pool->path, "snapshots");
	if (r < 0)
		return carve_err(err, r, "create layout in '%s'", pool->path);
	return 0;
}

static int provisioned(const struct storage_pool *pool, uint64_t *ret_sum, uint64_t *ret_count)
{
	cleanup_closedir DIR *d = NULL;
	char path[PATH_MAX];
	struct dirent *de;
	uint64_t sum = 0, count = 0;

	snprintf(path, sizeof(path), "%s/volumes", pool->path);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct stat st;

		/* dot files are partial copies, counted by their own admission while they last */
		if (de->d_name[0] == '.' || len < 5 || !streq(de->d_name + len - 4, ".raw"))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		sum += (uint64_t)st.st_size;
		count++;
	}
	*ret_sum = sum;
	if (ret_count)
		*ret_count = count;
	return 0;
}

static int reflink_pool_usage(struct storage_pool *pool, struct storage_pool_usage *ret,
			      struct carve_error *err)
{
	struct statvfs sv;
	uint64_t sum, count;
	int r;

	if (statvfs(pool->path, &sv) < 0)
		return carve_err(err, -errno, "pool '%s': statvfs '%s'", pool->name, pool->path);
	r = provisioned(pool, &sum, &count);
	if (r < 0)
		return carve_err(err, r, "pool '%s': list volumes", pool->name);
	ret->physical = (uint64_t)sv.f_blocks * sv.f_frsize;
	ret->allocated = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	ret->provisioned = sum;
	ret->volumes = count;
	ret->overcommit = pool->overcommit;
	return 0;
}

/* Called with the pool lock held. */
static int admit(struct storage_pool *pool, uint64_t more, struct carve_error *err)
{
	struct storage_pool_usage u = {0};
	char a[SIZE_BUF], b[SIZE_BUF], c[SIZE_BUF];
	uint64_t limit, left;
	int r = reflink_pool_usage(pool, &u, err);

	if (r < 0)
		return r;
	limit = (uint64_t)((double)u.physical * pool->overcommit);
	left = limit > u.provisioned ? limit - u.provisioned : 0;
	if (more > left)
		return carve_err(
			err, -ENOSPC, "pool '%s': cannot provision %s: %s of %s (ratio %.1f) left",
			pool->name, fmt(more, a), fmt(left, b), fmt(limit, c), pool->overcommit);
	return 0;
}

int storage_pool_admit(struct storage_pool *p, uint64_t more, struct carve_error *err)
{
	if (p->ops != &storage_driver_reflink)
		return 0; /* dir pools provision nothing */
	return admit(p, more, err);
}

static int attached_to(const char *path, char *ret_devnode, size_t len)
{
	cleanup_strv char **nodes = NULL;
	int r = loop_find_by_backing(path, &nodes);

	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (!nodes[0])
		return 0;
	if (ret_devnode)
		(void)strscpy(ret_devnode, nodes[0], len);
	return 1;
}

/* --- volumes -----------------------------------------------------------------------------------
 */

static int create_common(struct storage_pool *pool, const char *volume, uint64_t size,
			 const char *src_dir, struct carve_error *err)
{
	char path[PATH_MAX], partial[PATH_MAX], a[SIZE_BUF], b[SIZE_BUF];
	cleanup_close int lock = -EBADF, fd = -EBADF;
	struct stat st;
	int r;

	r = reflink_volume_path(pool, volume, path, sizeof(path));
	if (r >= 0)
		r = volume_temp_path(pool, volume, "partial", partial, sizeof(partial));
	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	if (size < MIN_VOLUME_SIZE)
		return carve_err_field(err, -EINVAL, "size", "volume '%s': size %s is below %s",
				       volume, fmt(size, a), fmt(MIN_VOLUME_SIZE, b));
	if (src_dir && (stat(src_dir, &st) < 0 || !S_ISDIR(st.st_mode)))
		return carve_err(err, errno ? -errno : -ENOTDIR,
				 "volume '%s': source '%s' is not a directory", volume, src_dir);
	lock = pool_lock(pool, err);
	if (lock < 0)
		return lock;
	if (access(path, F_OK) == 0)
		return carve_err(err, -EEXIST, "volume '%s': already exists", volume);
	r = admit(pool, size, err);
	if (r < 0)
		return r;
	(void)unlink(partial); /* left by a crash */
	fd = open(partial, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return carve_err(err, -errno, "volume '%s': create '%s'", volume, partial);
	if (ftruncate(fd, (off_t)size) < 0) {
		r = carve_err(err, -errno, "volume '%s': size %s", volume, fmt(size, a));
		goto fail;
	}
	fd = safe_close(fd);
	r = storage_mkfs_ext4(partial, src_dir, err);
	if (r == -ENOSPC) {
		uint64_t need = 0;
		cleanup_close int sfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd >= 0)
			(void)storage_tree_allocated(sfd, &need);
		carve_err_clear(err);
		r = carve_err_field(err, -ENOSPC, "size",
				    "volume '%s': size %s is too small for '%s' (%s of files)",
				    volume, fmt(size, a), src_dir, fmt(need, b));
		goto fail;
	}
	if (r < 0) {
		carve_err_prefix(err, "volume '%s'", volume);
		goto fail;
	}
	if (renameat2(AT_FDCWD, partial, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		r = carve_err(err, -errno, "volume '%s': rename into place", volume);
		goto fail;
	}
	return 0;
fail:
	(void)unlink(partial);
	return r;
}

static int reflink_volume_create(struct storage_pool *pool, const char *volume, uint64_t size,
				 struct carve_error *err)
{
	return create_common(pool, volume, size, NULL, err);
}

static int reflink_volume_create_from_dir(struct storage_pool *pool, const char *volume,
					  uint64_t size, const char *src_dir,
					  struct carve_error *err)
{
	if (!src_dir)
		return carve_err(err, -EINVAL, "volume '%s': no source directory", volume);
	return create_common(pool, volume, size, src_dir, err);
}

/* Reflink src into a new file dst (which must not exist). */
static int clone_file(const char *src, const char *dst)
{
	cleanup_close int in = -EBADF, out = -EBADF;
	int r;

	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return -errno;
	if (ioctl(out, FICLONE, in) < 0) {
		r = -errno;
		(void)unlink(dst);
		return r;
	}
	return 0;
}

/* A new volume as a reflink copy of the file src (a volume or a snapshot), under the pool lock
 * and admission control, built under a temporary name and renamed into place. */
static int clone_from(struct storage_pool *pool, const char *src, const char *what,
		      const char *volume, struct carve_error *err)
{
	char path[PATH_MAX], partial[PATH_MAX];
	cleanup_close int lock = -EBADF;
	struct stat st;
	int r;

	r = reflink_volume_path(pool, volume, path, sizeof(path));
	if (r >= 0)
		r = volume_temp_path(pool, volume, "partial", partial, sizeof(partial));
	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	lock = pool_lock(pool, err);
	if (lock < 0)
		return lock;
	if (stat(src, &st) < 0)
		return carve_err(err, -errno, "volume '%s': source %s", volume, what);
	if (access(path, F_OK) == 0)
		return carve_err(err, -EEXIST, "volume '%s': already exists", volume);
	r = admit(pool, (uint64_t)st.st_size, err);
	if (r < 0)
		return r;
	(void)unlink(partial);
	r = clone_file(src, partial);
	if (r < 0)
		return carve_err(err, r, "volume '%s': clone of %s", volume, what);
	CARVE_FAILPOINT("storage-clone-partial");
	if (renameat2(AT_FDCWD, partial, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		r = -errno;
		(void)unlink(partial);
		return carve_err(err, r, "volume '%s': rename into place", volume);
	}
	return 0;
}

static int reflink_volume_clone(struct storage_pool *pool, const char *src_volume,
				const char *volume, struct carve_error *err)
{
	char src[PATH_MAX], what[128];
	int r;

	if (!snapshot_name_is_valid(src_volume))
		return carve_err(err, -EINVAL, "volume '%s': source name '%.64s' is not valid",
				 volume, src_volume);
	r = reflink_volume_path(pool, src_volume, src, sizeof(src));
	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	snprintf(what, sizeof(what), "volume '%s'", src_volume);
	return clone_from(pool, src, what, volume, err);
}

int storage_volume_clone_snapshot(struct storage_pool *p, const char *src_volume,
				  const char *snapshot, const char *volume, struct carve_error *err)
{
	char src[PATH_MAX], what[160];
	int r;

	if (p->ops != &storage_driver_reflink)
		return carve_err(err, -EOPNOTSUPP, "pool '%s': driver '%s' has no snapshots",
				 p->name, p->ops->name);
	if (!snapshot_name_is_valid(volume))
		return carve_err(err, -EINVAL, "volume name '%.64s' is not valid", volume);
	r = storage_volume_snapshot_path(p, src_volume, snapshot, src, sizeof(src));
	if (r < 0)
		return carve_err(err, r, "snapshot '%s' of volume '%s'", snapshot, src_volume);
	snprintf(what, sizeof(what), "snapshot '%s' of volume '%s'", snapshot, src_volume);
	return clone_from(p, src, what, volume, err);
}

static int reflink_volume_snapshot(struct storage_pool *pool, const char *volume,
				   const char *snapshot, struct carve_error *err)
{
	char path[PATH_MAX], dir[PATH_MAX], snap[PATH_MAX], partial[PATH_MAX + 16];
	int r;

	if (!snapshot_name_is_valid(snapshot))
		return carve_err_field(err, -EINVAL, "name",
				       "volume '%s': snapshot name '%.64s' is not valid", volume,
				       snapshot);
	r = reflink_volume_path(pool, volume, path, sizeof(path));
	if (r >= 0)
		r = snapshot_dir(pool, volume, dir, sizeof(dir));
	if (r >= 0)
		r = storage_volume_snapshot_path(pool, volume, snapshot, snap, sizeof(snap));
	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	snprintf(partial, sizeof(partial), "%s/.%s.raw.partial", dir, snapshot);
	if (access(path, F_OK) < 0)
		return carve_err(err, -errno, "volume '%s'", volume);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return carve_err(err, -errno, "volume '%s': create '%s'", volume, dir);
	if (access(snap, F_OK) == 0)
		return carve_err(err, -EEXIST, "volume '%s': snapshot '%s' already exists", volume,
				 snapshot);
	(void)unlink(partial);
	r = clone_file(path, partial);
	if (r < 0)
		return carve_err(err, r, "volume '%s': snapshot '%s'", volume, snapshot);
	CARVE_FAILPOINT("storage-snapshot-partial");
	if (renameat2(AT_FDCWD, partial, AT_FDCWD, snap, RENAME_NOREPLACE) < 0) {
		r = -errno;
		(void)unlink(partial);
		return carve_err(err, r, "volume '%s': snapshot '%s': rename into place", volume,
				 snapshot);
	}
	return 0;
}

static int reflink_volume_rollback(struct storage_pool *pool, const char *volume,
				   const char *snapshot, struct carve_error *err)
{
	char path[PATH_MAX], snap[PATH_MAX], tmp[PATH_MAX], dev[LOOP_DEVNODE_MAX];
	cleanup_close int lock = -EBADF;
	int r;

	if (!snapshot_name_is_valid(snapshot))
		return carve_err_field(err, -EINVAL, "name",
				       "volume '%s': snapshot name '%.64s' is not valid", volume,
				       snapshot);
	r = reflink_volume_path(pool, volume, path, sizeof(path));
	if (r >= 0)
		r = storage_volume_snapshot_path(pool, volume, snapshot, snap, sizeof(snap));
	if (r >= 0)
		r = volume_temp_path(pool, volume, "rollback", tmp, sizeof(tmp));
	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	lock = pool_lock(pool, err);
	if (lock < 0)
		return lock;
	if (access(path, F_OK) < 0)
		return carve_err(err, -errno, "volume '%s'", volume);
	if (access(snap, F_OK) < 0)
		return carve_err(err, -errno, "volume '%s': snapshot '%s'", volume, snapshot);
	r = attached_to(path, dev, sizeof(dev));
	if (r < 0)
		return carve_err(err, r, "volume '%s': find loop devices", volume);
	if (r > 0)
		return carve_err(err, -EBUSY, "volume '%s': attached to '%s': detach it first",
				 volume, dev);
	(void)unlink(tmp);
	r = clone_file(snap, tmp);
	if (r < 0)
		return carve_err(err, r, "volume '%s': copy snapshot '%s'", volume, snapshot);
	CARVE_FAILPOINT("storage-rollback-partial");
	if (rename(tmp, path) < 0) {
		r = -errno;
		(void)unlink(tmp);
		return carve_err(err, r, "volume '%s': rename snapshot '%s' into place", volume,
				 snapshot);
	}
	return 0;
}

static int reflink_snapshot_delete(struct storage_pool *pool, const char *volume,
				   const char *snapshot, struct carve_error *err)
{
	char snap[PATH_MAX], dir[PATH_MAX];
	int r;

	if (!snapshot_name_is_valid(snapshot))
		return carve_err_field(err, -EINVAL, "name",
				       "volume '%s': snapshot name '%.64s' is not valid", volume,
				       snapshot);
	r = storage_volume_snapshot_path(pool, volume, snapshot, snap, sizeof(snap));
	if (r >= 0)
		r = snapshot_dir(pool, volume, dir, sizeof(dir));
	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	if (unlink(snap) < 0)
		return carve_err(err, -errno, "volume '%s': snapshot '%s'", volume, snapshot);
	(void)rmdir(dir); /* only when it was the last one */
	return 0;
}

/* Whether the file starts with an ext4 (superblock magic 0xEF53 at byte 1080). */
static bool holds_ext4(const char *path)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	uint8_t magic[2];

	if (fd < 0 || pread(fd, magic, sizeof(magic), 1080) != (ssize_t)sizeof(magic))
		return false;
	return magic[0] == 0x53 && magic[1] == 0xEF;
}

static int reflink_volume_resize(struct storage_pool *pool, const char *volume, uint64_t size,
				 unsigned flags, struct carve_error *err)
{
	char path[PATH_MAX], dev[LOOP_DEVNODE_MAX], a[SIZE_BUF], b[SIZE_BUF];
	cleanup_close int lock = -EBADF;
	struct stat st;
	int r;

	r = reflink_volume_path(pool, volume, path, sizeof(path));
	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	lock = pool_lock(pool, err);
	if (lock < 0)
		return lock;
	if (stat(path, &st) < 0)
		return carve_err(err, -errno, "volume '%s'", volume);
	if (size < (uint64_t)st.st_size)
		return carve_err_field(err, -EINVAL, "size",
				       "volume '%s': resize to %s: smaller than current size %s "
				       "(volumes only grow)",
				       volume, fmt(size, a), fmt((uint64_t)st.st_size, b));
	if (size == (uint64_t)st.st_size)
		return 0;
	r = admit(pool, size - (uint64_t)st.st_size, err);
	if (r < 0)
		return r;
	if (truncate(path, (off_t)size) < 0)
		return carve_err(err, -errno, "volume '%s': resize to %s", volume, fmt(size, a));
	/* a VM's disk grows as a file (the guest grows its own partitions and filesystems), and
	 * so does anything without an ext4 at its start */
	if ((flags & STORAGE_RESIZE_RAW) || !holds_ext4(path))
		return 0;
	r = attached_to(path, dev, sizeof(dev));
	if (r < 0)
		return carve_err(err, r, "volume '%s': find loop devices", volume);
	if (r > 0) {
		r = storage_fs_grow(dev, err);
		if (r < 0) {
			/* the filesystem did not grow and uses nothing past the old end */
			if (truncate(path, st.st_size) == 0)
				(void)loop_set_capacity(dev);
			carve_err_prefix(err, "volume '%s': resize to %s", volume, fmt(size, a));
		}
		return r;
	}
	r = storage_ext4_grow(path, false, err);
	if (r < 0) {
		/* resize2fs changed nothing: give the space back */
		(void)truncate(path, st.st_size);
		carve_err_prefix(err, "volume '%s': resize to %s", volume, fmt(size, a));
	}
	return r;
}

static int reflink_volume_destroy(struct storage_pool *pool, const char *volume,
				  struct carve_error *err)
{
	char path[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX], dev[LOOP_DEVNODE_MAX];
	static const char *const kinds[] = {"partial", "rollback"};
	cleanup_close int lock = -EBADF;
	int r;

	r = reflink_volume_path(pool, volume, path, sizeof(path));
	if (r >= 0)
		r = snapshot_dir(pool, volume, dir, sizeof(dir));
	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	lock = pool_lock(pool, err);
	if (lock < 0)
		return lock;
	r = attached_to(path, dev, sizeof(dev));
	if (r < 0)
		return carve_err(err, r, "volume '%s': find loop devices", volume);
	if (r > 0)
		return carve_err(err, -EBUSY, "volume '%s': attached to '%s': detach it first",
				 volume, dev);
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (volume_temp_path(pool, volume, kinds[i], tmp, sizeof(tmp)) >= 0)
			(void)unlink(tmp);
	if (unlink(path) < 0 && errno != ENOENT)
		return carve_err(err, -errno, "volume '%s': remove '%s'", volume, path);
	r = rm_rf(dir);
	if (r < 0 && r != -ENOENT)
		return carve_err(err, r, "volume '%s': remove snapshots '%s'", volume, dir);
	return 0;
}

static int reflink_volume_usage(struct storage_pool *pool, const char *volume,
				struct storage_usage *ret, struct carve_error *err)
{
	char path[PATH_MAX];
	struct stat st;
	int r = reflink_volume_path(pool, volume, path, sizeof(path));

	if (r < 0)
		return carve_err(err, r, "volume '%s'", volume);
	if (stat(path, &st) < 0)
		return carve_err(err, -errno, "volume '%s'", volume);
	ret->provisioned = (uint64_t)st.st_size;
	ret->used = (uint64_t)st.st_blocks * 512;
	return 0;
}

const struct storage_driver_ops storage_driver_reflink = {
	.name = "reflink",
	.init = reflink_init,
	.volume_create = reflink_volume_create,
	.volume_snapshot = reflink_volume_snapshot,
	.volume_resize = reflink_volume_resize,
	.volume_destroy = reflink_volume_destroy,
	.volume_usage = reflink_volume_usage,
	.volume_path = reflink_volume_path,
	.volume_create_from_dir = reflink_volume_create_from_dir,
	.volume_clone = reflink_volume_clone,
	.volume_rollback = reflink_volume_rollback,
	.snapshot_delete = reflink_snapshot_delete,
	.pool_usage = reflink_pool_usage,
};

/* --- attach ------------------------------------------------------------------------------------
 */

int storage_volume_attach(struct storage_pool *p, const char *volume, const char *mountpoint,
			  unsigned flags, char *ret_devnode, size_t devnode_len,
			  struct carve_error *err)
{
	bool ro = flags & STORAGE_ATTACH_READ_ONLY;
	char path[PATH_MAX], dev[LOOP_DEVNODE_MAX], tag[LO_NAME_SIZE];
	cleanup_close int fd = -EBADF;
	int r;

	if (p->ops != &storage_driver_reflink)
		return carve_err(err, -EOPNOTSUPP, "pool '%s': driver '%s' has no attach", p->name,
				 p->ops->name);
	r = reflink_volume_path(p, volume, path, sizeof(path));
	if (r < 0)
		return carve_err(err, r, "volume '%.64s'", volume);
	if (access(path, F_OK) < 0)
		return carve_err(err, -errno, "volume '%s'", volume);
	r = attached_to(path, dev, sizeof(dev));
	if (r < 0)
		return carve_err(err, r, "volume '%s': find loop devices", volume);
	if (r > 0)
		return carve_err(err, -EBUSY, "volume '%s': already attached to '%s'", volume, dev);
	r = mkdir_p(mountpoint, 0700);
	if (r < 0)
		return carve_err(err, r, "volume '%s': create mount point '%s'", volume,
				 mountpoint);
	snprintf(tag, sizeof(tag), "carve:%s/%s", p->name, volume);
	r = loop_attach(path,
			LOOP_ATTACH_DIRECT_IO | LOOP_ATTACH_AUTOCLEAR |
				(ro ? LOOP_ATTACH_READ_ONLY : 0),
			tag, dev, sizeof(dev), &fd);
	if (r < 0)
		return carve_err(err, r, "volume '%s': attach loop device", volume);
	if (mount(dev, mountpoint, "ext4", MS_NODEV | (ro ? MS_RDONLY : 0), NULL) < 0) {
		r = -errno;
		fd = safe_close(fd); /* autoclear detaches it */
		(void)detach_and_wait(path);
		return carve_err(err, r, "volume '%s': mount '%s' on '%s'", volume, dev,
				 mountpoint);
	}
	if (ret_devnode)
		(void)strscpy(ret_devnode, dev, devnode_len);
	return 0;
}

int storage_volume_detach(struct storage_pool *p, const char *volume, const char *mountpoint,
			  struct carve_error *err)
{
	char path[PATH_MAX];
	int r;

	if (p->ops != &storage_driver_reflink)
		return carve_err(err, -EOPNOTSUPP, "pool '%s': driver '%s' has no attach", p->name,
				 p->ops->name);
	r = reflink_volume_path(p, volume, path, sizeof(path));
	if (r < 0)
		return carve_err(err, r, "volume '%.64s'", volume);
	if (mountpoint) {
		r = umount_if_mounted(mountpoint);
		if (r < 0)
			return carve_err(err, r, "volume '%s': unmount '%s'", volume, mountpoint);
	}
	r = detach_and_wait(path);
	if (r < 0)
		return carve_err(err, r, "volume '%s': detach loop devices", volume);
	return 0;
}

/* --- image pools -------------------------------------------------------------------------------
 */

static int image_create(const char *image, uint64_t size, struct carve_error *err)
{
	cleanup_close int fd = -EBADF;
	char a[SIZE_BUF];
	int r;

	if (size < (300ull << 20))
		return carve_err_field(err, -EINVAL, "size", "image '%s': size %s is below 300M",
				       image, fmt(size, a));
	fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return carve_err(err, -errno, "image '%s': create", image);
	if (ftruncate(fd, (off_t)size) < 0) {
		r = carve_err(err, -errno, "image '%s': size %s", image, fmt(size, a));
		goto fail;
	}
	fd = safe_close(fd);
	r = storage_mkfs_xfs(image, err);
	if (r < 0) {
		carve_err_prefix(err, "image '%s'", image);
		goto fail;
	}
	return 0;
fail:
	(void)unlink(image);
	return r;
}

static int image_mount(const char *name, const char *path, const char *image, uint64_t size,
		       struct carve_error *err)
{
	char source[PATH_MAX], fstype[32], dev[LOOP_DEVNODE_MAX], tag[LO_NAME_SIZE];
	cleanup_strv char **nodes = NULL;
	cleanup_close int fd = -EBADF;
	int r;

	r = mkdir_p(path, 0700);
	if (r < 0)
		return carve_err(err, r, "create '%s'", path);
	r = storage_mount_find(path, source, sizeof(source), fstype, sizeof(fstype));
	if (r < 0)
		return carve_err(err, r, "read mounts");
	if (access(image, F_OK) < 0) {
		if (errno != ENOENT)
			return carve_err(err, -errno, "image '%s'", image);
		if (r > 0)
			return carve_err(err, -EEXIST, "'%s' is already mounted from '%s'", path,
					 source);
		r = image_create(image, size, err);
		if (r < 0)
			return r;
		r = 0;
	}
	{
		int k = loop_find_by_backing(image, &nodes);
		if (k < 0)
			return carve_err(err, k, "image '%s': find loop devices", image);
	}
	if (r > 0) {
		for (char **i = nodes; *i; i++)
			if (streq(*i, source))
				return 0; /* already mounted: a restart */
		return carve_err(err, -EEXIST, "'%s' is already mounted from '%s', not '%s'", path,
				 source, image);
	}
	if (nodes[0]) {
		/* attached without a mount (left by a crash in another mount namespace) */
		(void)strscpy(dev, nodes[0], sizeof(dev));
	} else {
		snprintf(tag, sizeof(tag), "carve:%s", name);
		r = loop_attach(image, LOOP_ATTACH_DIRECT_IO | LOOP_ATTACH_AUTOCLEAR, tag, dev,
				sizeof(dev), &fd);
		if (r < 0)
			return carve_err(err, r, "image '%s': attach loop device", image);
	}
	if (mount(dev, path, "xfs", MS_NODEV | MS_NOSUID | MS_NOEXEC, NULL) < 0) {
		r = -errno;
		fd = safe_close(fd);
		(void)detach_and_wait(image);
		return carve_err(err, r, "image '%s': mount '%s' on '%s'", image, dev, path);
	}
	return 0;
}

int storage_pool_open_image(const char *name, const char *path, const char *image, uint64_t size,
			    struct storage_pool **ret, struct carve_error *err)
{
	int r = parse_name(name, "pool", err);

	if (r < 0)
		return r;
	if (!path || !*path || !image || !*image)
		return carve_err(err, -EINVAL, "pool '%s': path or image is empty", name);
	r = image_mount(name, path, image, size, err);
	if (r < 0) {
		carve_err_prefix(err, "pool '%s'", name);
		return r;
	}
	return storage_pool_open("reflink", name, path, ret, err);
}

int storage_pool_image_teardown(const char *path, const char *image, struct carve_error *err)
{
	int r = umount_if_mounted(path);

	if (r == -EBUSY)
		return carve_err(err, r, "unmount '%s': busy (volumes still attached?)", path);
	if (r < 0)
		return carve_err(err, r, "unmount '%s'", path);
	r = detach_and_wait(image);
	if (r < 0)
		return carve_err(err, r, "image '%s': detach loop devices", image);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"

int loop_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t loop_read(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, p + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	cleanup_close int fd = -EBADF;
	cleanup_free char *buf = NULL;
	size_t len = 0, cap = max < 4096 ? max : 4096;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;
			if (cap >= max) {
				/* Exactly max bytes is allowed: only a further byte is too many. */
				char probe;
				n = read(fd, &probe, 1);
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0)
					return -errno;
				if (n == 0)
					break;
				return -EFBIG;
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	*ret = TAKE_PTR(buf);
	return 0;
}

static int fsync_parent(const char *path)
{
	cleanup_free char *dir = strdup(path);
	cleanup_close int fd = -EBADF;
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*(slash == dir ? slash + 1 : slash) = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return RET_NERRNO(fsync(fd));
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	cleanup_close int fd = -EBADF;
	int r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = loop_write(fd, data, len);
	if (r >= 0)
		r = RET_NERRNO(fsync(fd));
	if (r >= 0)
		r = RET_NERRNO(rename(tmp, path));
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	return fsync_parent(path);
}

int write_string_file(const char *path, const char *s)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	return loop_write(fd, s, strlen(s));
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, strlen(path) + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Which mount an fd (or dfd/name, not followed) lives on. A bind mount from the same filesystem
 * keeps st_dev, so st_dev alone would let rm_rf() walk into it; the mount id tells them apart.
 * 0 when the kernel cannot say (before 5.8), leaving st_dev as the only check. */
static uint64_t mount_id_at(int dfd, const char *name, int flags)
{
	const int at = flags | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;
	struct statx sx;

	if (statx(dfd, name, at, STATX_MNT_ID, &sx) < 0 || !(sx.stx_mask & STATX_MNT_ID))
		return 0;
	return sx.stx_mnt_id;
}

static int rm_rf_at(int dfd, const char *name, dev_t dev, uint64_t mnt_id)
{
	cleanup_close int fd = -EBADF;
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	int r = 0;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_dev != dev)
		return -EBUSY;
	if (mnt_id != 0 && mount_id_at(fd, "", AT_EMPTY_PATH) != mnt_id)
		return -EBUSY;
	d = fdopendir(fd);
	if (!d)
		return -errno;
	fd = -EBADF; /* owned by d now */
	while ((de = readdir(d))) {
		int q;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR)
			q = rm_rf_at(dirfd(d), de->d_name, dev, mnt_id);
		else
			q = RET_NERRNO(unlinkat(dirfd(d), de->d_name, 0));
		if (q == -EISDIR)
			q = rm_rf_at(dirfd(d), de->d_name, dev, mnt_id);
		if (q < 0 && q != -ENOENT && r == 0)
			r = q;
	}
	if (r < 0)
		return r;
	r = RET_NERRNO(unlinkat(dfd, name, AT_REMOVEDIR));
	return r == -ENOENT ? 0 : r;
}

int rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return RET_NERRNO(unlink(path));
	return rm_rf_at(AT_FDCWD, path, st.st_dev, mount_id_at(AT_FDCWD, path, 0));
}

int close_all_fds(const int *except, size_t n_except)
{
	cleanup_closedir DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d) {
		/* no /proc: close a generous range */
		for (int fd = 3; fd < 65536; fd++) {
			bool keep = false;
			for (size_t i = 0; i < n_except; i++)
				keep = keep || except[i] == fd;
			if (!keep)
				close(fd);
		}
		return 0;
	}
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		bool keep = false;

		if (*end != '\0' || fd < 3 || fd == dirfd(d))
			continue;
		for (size_t i = 0; i < n_except; i++)
			keep = keep || except[i] == fd;
		if (!keep)
			close((int)fd);
	}
	return 0;
}

int fd_set_cloexec(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -errno;
	flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	return RET_NERRNO(fcntl(fd, F_SETFD, flags));
}

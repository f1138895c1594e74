/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "storage/loop.h"

#define ATTACH_TRIES 16

static int configure(int loop_fd, int file_fd, unsigned flags, const char *tag)
{
	struct loop_config cfg = {.fd = (unsigned)file_fd};

	if (flags & LOOP_ATTACH_READ_ONLY)
		cfg.info.lo_flags |= LO_FLAGS_READ_ONLY;
	if (flags & LOOP_ATTACH_AUTOCLEAR)
		cfg.info.lo_flags |= LO_FLAGS_AUTOCLEAR;
	if (tag)
		(void)strscpy((char *)cfg.info.lo_file_name, tag, sizeof(cfg.info.lo_file_name));
	if (flags & LOOP_ATTACH_DIRECT_IO) {
		cfg.info.lo_flags |= LO_FLAGS_DIRECT_IO;
		if (ioctl(loop_fd, LOOP_CONFIGURE, &cfg) == 0)
			return 0;
		/* the backing filesystem cannot do direct I/O at this block size: buffered */
		if (errno != EINVAL)
			return -errno;
		cfg.info.lo_flags &= ~(uint32_t)LO_FLAGS_DIRECT_IO;
	}
	return RET_NERRNO(ioctl(loop_fd, LOOP_CONFIGURE, &cfg));
}

int loop_attach(const char *path, unsigned flags, const char *tag, char *ret_devnode,
		size_t devnode_len, int *ret_fd)
{
	bool ro = flags & LOOP_ATTACH_READ_ONLY;
	cleanup_close int file_fd = -EBADF, ctl = -EBADF;
	int r = -EBUSY;

	if ((flags & LOOP_ATTACH_AUTOCLEAR) && !ret_fd)
		return -EINVAL; /* closing our fd would detach it at once */
	file_fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (file_fd < 0)
		return -errno;
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	for (int i = 0; i < ATTACH_TRIES; i++) {
		cleanup_close int loop_fd = -EBADF;
		char node[LOOP_DEVNODE_MAX];
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (n < 0)
			return -errno;
		snprintf(node, sizeof(node), "/dev/loop%d", n);
		loop_fd = open(node, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (loop_fd < 0) {
			r = -errno;
			if (r == -ENOENT || r == -ENXIO)
				continue; /* removed under us */
			return r;
		}
		r = configure(loop_fd, file_fd, flags, tag);
		if (r == -EBUSY)
			continue; /* another process configured it first */
		if (r < 0)
			return r;
		if (strscpy(ret_devnode, node, devnode_len) < 0) {
			(void)ioctl(loop_fd, LOOP_CLR_FD);
			return -ENAMETOOLONG;
		}
		if (ret_fd)
			*ret_fd = TAKE_FD(loop_fd);
		return 0;
	}
	return r;
}

int loop_detach(const char *devnode)
{
	cleanup_close int fd = open(devnode, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ENXIO ? 0 : -errno;
	if (ioctl(fd, LOOP_CLR_FD) < 0)
		return errno == ENXIO ? 0 : -errno;
	return 0;
}

int loop_set_capacity(const char *devnode)
{
	cleanup_close int fd = open(devnode, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return RET_NERRNO(ioctl(fd, LOOP_SET_CAPACITY, 0));
}

static int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

int loop_find_by_backing(const char *path, char ***ret_devnodes)
{
	cleanup_strv char **v = calloc(1, sizeof(char *));
	cleanup_closedir DIR *d = NULL;
	char want[PATH_MAX];
	struct dirent *de;
	size_t n = 0;
	int r;

	if (!v)
		return -ENOMEM;
	if (!realpath(path, want))
		return -errno;
	d = opendir("/sys/block");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char attr[PATH_MAX], node[LOOP_DEVNODE_MAX];
		cleanup_free char *backing = NULL;
		size_t len;

		if (!startswith(de->d_name, "loop"))
			continue;
		snprintf(attr, sizeof(attr), "/sys/block/%s/loop/backing_file", de->d_name);
		if (read_full_file(attr, PATH_MAX + 16, &backing, &len) < 0)
			continue; /* not bound (no loop/ attributes) or gone */
		while (len > 0 && backing[len - 1] == '\n')
			backing[--len] = '\0';
		if (!streq(backing, want))
			continue;
		if (snprintf(node, sizeof(node), "/dev/%s", de->d_name) >= (int)sizeof(node))
			continue;
		r = strv_push(&v, &n, node);
		if (r < 0)
			return r;
	}
	*ret_devnodes = TAKE_PTR(v);
	return 0;
}

int loop_detach_by_backing(const char *path)
{
	cleanup_strv char **nodes = NULL;
	int r = loop_find_by_backing(path, &nodes), n = 0;

	if (r < 0)
		return r == -ENOENT ? 0 : r;
	for (char **i = nodes; *i; i++) {
		r = loop_detach(*i);
		if (r < 0)
			return r;
		n++;
	}
	return n;
}

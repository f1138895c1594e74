/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container's mount tree. The rootfs belongs to the tenant: any of its directories may be a
 * symlink planted to make a mount land on the host (proc -> /etc, dev -> ../../host). So no path
 * inside the root is ever handed to mount(2) as a string: each target is opened O_PATH with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to the root fd, checked not to be a
 * symlink itself, and mounted onto through /proc/self/fd/N (the host's /proc: the old root is
 * still "/" at this point), which names exactly the opened dentry.
 *
 * Masked and read-only paths follow runc's defaults. A read-only bind is remounted keeping the
 * flags the mount already had (in a user namespace nosuid/nodev/noexec may be locked, and a
 * remount that drops them fails with EPERM).
 *
 * These mounts are made in a mount namespace owned by the container's user namespace, so by
 * themselves they are not locked: a root with CAP_SYS_ADMIN there could take them off again.
 * ct.c locks the whole tree after pivot_root (lock_mounts), before anything of the tenant runs.
 */
#define LOG_DOMAIN "ct"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <limits.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "base/cleanup.h"
#include "ct/ct-internal.h"

#define FD_PATH_MAX 32

enum create_kind {
	CREATE_NONE,
	CREATE_DIR,
	CREATE_FILE,
};

static const char *const masked_paths[] = {
	"proc/acpi",
	"proc/asound",
	"proc/kcore",
	"proc/keys",
	"proc/latency_stats",
	"proc/timer_list",
	"proc/timer_stats",
	"proc/sched_debug",
	"proc/scsi",
	"sys/firmware",
	"sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
	"proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger",
};

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int openat2_in(int dir_fd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = resolve,
	};
	long fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static const char *fd_path(int fd, char buf[static FD_PATH_MAX])
{
	snprintf(buf, FD_PATH_MAX, "/proc/self/fd/%d", fd);
	return buf;
}

/*
 * Open "path" (relative to the root, no leading slash) as an O_PATH fd, every component resolved
 * inside the root; create a missing last component when asked. The last component itself must not
 * be a symlink: mounting onto it would follow it. -ENOENT for a missing path is not reported in
 * err (callers skip optional paths).
 */
static int open_target(int root_fd, const char *path, enum create_kind create, mode_t mode,
		       struct carve_error *err)
{
	cleanup_close int parent_fd = -EBADF;
	const char *slash = strrchr(path, '/'), *name = path;
	struct stat st;
	int fd, r;

	if (slash) {
		char parent[256];

		if ((size_t)(slash - path) >= sizeof(parent))
			return carve_err(err, -ENAMETOOLONG, "rootfs: '/%s': path too long", path);
		memcpy(parent, path, (size_t)(slash - path));
		parent[slash - path] = '\0';
		name = slash + 1;
		parent_fd = openat2_in(root_fd, parent, O_PATH | O_DIRECTORY,
				       RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
		if (parent_fd == -ENOENT)
			return -ENOENT;
		if (parent_fd < 0)
			return carve_err(err, parent_fd, "rootfs: open '/%s': %s", parent,
					 strerror(-parent_fd));
	}

	if (create == CREATE_DIR) {
		if (mkdirat(slash ? parent_fd : root_fd, name, mode) < 0 && errno != EEXIST)
			return carve_err(err, -errno, "rootfs: mkdir '/%s': %s", path,
					 strerror(errno));
	} else if (create == CREATE_FILE) {
		fd = openat(slash ? parent_fd : root_fd, name,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno != EEXIST)
			return carve_err(err, -errno, "rootfs: create '/%s': %s", path,
					 strerror(errno));
		safe_close(fd);
	}

	fd = openat2_in(slash ? parent_fd : root_fd, name, O_PATH | O_NOFOLLOW,
			RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (fd == -ENOENT)
		return -ENOENT;
	if (fd < 0)
		return carve_err(err, fd, "rootfs: open '/%s': %s", path, strerror(-fd));
	if (fstat(fd, &st) < 0) {
		r = -errno;
		safe_close(fd);
		return carve_err(err, r, "rootfs: stat '/%s': %s", path, strerror(-r));
	}
	if (S_ISLNK(st.st_mode)) {
		safe_close(fd);
		return carve_err(err, -ELOOP, "rootfs: '/%s' is a symlink", path);
	}
	if (create == CREATE_DIR && !S_ISDIR(st.st_mode)) {
		safe_close(fd);
		return carve_err(err, -ENOTDIR, "rootfs: '/%s' is not a directory", path);
	}
	return fd;
}

/* mount(2) onto a target inside the root; source is a host path or "none"-like fs name */
static int mount_at(int root_fd, const char *path, enum create_kind create, mode_t mode,
		    const char *source, const char *fstype, unsigned long flags, const char *data,
		    struct carve_error *err)
{
	cleanup_close int fd = open_target(root_fd, path, create, mode, err);
	char buf[FD_PATH_MAX];

	if (fd < 0)
		return fd == -ENOENT ? carve_err(err, fd, "rootfs: '/%s' is missing", path) : fd;
	if (mount(source, fd_path(fd, buf), fstype, flags, data) < 0)
		return carve_err(err, -errno, "mount /%s: %s", path, strerror(errno));
	return 0;
}

/* Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory. */
static int mask_path(int root_fd, const char *path, struct carve_error *err)
{
	cleanup_close int fd = open_target(root_fd, path, CREATE_NONE, 0, err);
	char buf[FD_PATH_MAX];
	struct stat st;
	int r;

	if (fd == -ENOENT)
		return 0; /* not on this kernel */
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return carve_err(err, -errno, "mask /%s: stat: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		r = mount("tmpfs", fd_path(fd, buf), "tmpfs",
			  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=4k");
	else
		r = mount("/dev/null", fd_path(fd, buf), NULL, MS_BIND, NULL);
	if (r < 0)
		return carve_err(err, -errno, "mask /%s: %s", path, strerror(errno));
	return 0;
}

/* The flags a read-only remount must keep (locked ones in a user namespace). */
static unsigned long kept_flags(int fd)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {
		{ST_NOSUID, MS_NOSUID},		{ST_NODEV, MS_NODEV},
		{ST_NOEXEC, MS_NOEXEC},		{ST_NOATIME, MS_NOATIME},
		{ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
	};
	struct statvfs sv;
	unsigned long flags = 0;

	if (fstatvfs(fd, &sv) < 0)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (sv.f_flag & map[i].st)
			flags |= map[i].ms;
	return flags;
}

static int readonly_path(int root_fd, const char *path, struct carve_error *err)
{
	cleanup_close int fd = open_target(root_fd, path, CREATE_NONE, 0, err);
	cleanup_close int top = -EBADF;
	char buf[FD_PATH_MAX], buf2[FD_PATH_MAX];

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	if (mount(fd_path(fd, buf), fd_path(fd, buf2), NULL, MS_BIND | MS_REC, NULL) < 0)
		return carve_err(err, -errno, "bind /%s read-only: %s", path, strerror(errno));
	/* the fd names the dentry under the new bind: reopen to reach the bind itself */
	top = open_target(root_fd, path, CREATE_NONE, 0, err);
	if (top < 0)
		return top == -ENOENT ? carve_err(err, top, "rootfs: '/%s' vanished", path) : top;
	if (mount(NULL, fd_path(top, buf), NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(top),
		  NULL) < 0)
		return carve_err(err, -errno, "remount /%s read-only: %s", path, strerror(errno));
	return 0;
}

/* /dev: a tmpfs with bind-mounted host nodes (never chowned or chmodded: they are the host's),
 * devpts (newinstance), /dev/shm and the usual symlinks. */
static int setup_dev(int root_fd, struct carve_error *err)
{
	static const char *const links[][2] = {
		{"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	};
	cleanup_close int dev_fd = -EBADF;
	char src[32], dst[32];
	int r;

	r = mount_at(root_fd, "dev", CREATE_DIR, 0755, "tmpfs", "tmpfs",
		     MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=755,size=65536k", err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++) {
		snprintf(src, sizeof(src), "/dev/%s", dev_nodes[i]);
		snprintf(dst, sizeof(dst), "dev/%s", dev_nodes[i]);
		r = mount_at(root_fd, dst, CREATE_FILE, 0600, src, NULL, MS_BIND, NULL, err);
		if (r < 0)
			return r;
	}
	r = mount_at(root_fd, "dev/pts", CREATE_DIR, 0755, "devpts", "devpts",
		     MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", err);
	if (r < 0)
		return r;
	r = mount_at(root_fd, "dev/shm", CREATE_DIR, 01777, "shm", "tmpfs",
		     MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", err);
	if (r < 0)
		return r;

	/* our own tmpfs by now: no symlink of the tenant's can be on the way */
	dev_fd = openat2_in(root_fd, "dev", O_DIRECTORY | O_RDONLY,
			    RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
	if (dev_fd < 0)
		return carve_err(err, dev_fd, "open /dev: %s", strerror(-dev_fd));
	for (size_t i = 0; i < ELEMENTSOF(links); i++)
		if (symlinkat(links[i][0], dev_fd, links[i][1]) < 0)
			return carve_err(err, -errno, "symlink /dev/%s: %s", links[i][1],
					 strerror(errno));
	return 0;
}

int ct_rootfs_enter(const char *rootfs, int *ret_root_fd, struct carve_error *err)
{
	int fd;

	/* nothing mounted from here on propagates to the host, nor from the host in */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return carve_err(err, -errno, "make / rprivate: %s", strerror(errno));
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return carve_err(err, -errno, "bind rootfs '%s': %s", rootfs, strerror(errno));
	if (mount(NULL, rootfs, NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return carve_err(err, -errno, "make rootfs '%s' rprivate: %s", rootfs,
				 strerror(errno));
	if (chdir(rootfs) < 0)
		return carve_err(err, -errno, "chdir '%s': %s", rootfs, strerror(errno));
	fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return carve_err(err, -errno, "open rootfs '%s': %s", rootfs, strerror(errno));
	*ret_root_fd = fd;
	return 0;
}

int ct_rootfs_mount(int root_fd, struct carve_error *err)
{
	int r;

	/* proc and sysfs before pivot_root: once the old root is gone the kernel refuses them */
	r = mount_at(root_fd, "proc", CREATE_DIR, 0555, "proc", "proc",
		     MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err);
	if (r < 0)
		return r;
	r = mount_at(root_fd, "sys", CREATE_DIR, 0555, "sysfs", "sysfs",
		     MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(masked_paths); i++) {
		r = mask_path(root_fd, masked_paths[i], err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(readonly_paths); i++) {
		r = readonly_path(root_fd, readonly_paths[i], err);
		if (r < 0)
			return r;
	}
	r = setup_dev(root_fd, err);
	if (r < 0)
		return r;
	return mount_at(root_fd, "run", CREATE_DIR, 0755, "tmpfs", "tmpfs",
			MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k", err);
}

static const char *const lxcfs_files[CT_LXCFS_FILES] = {
	"proc/cpuinfo", "proc/meminfo",	  "proc/stat",	"proc/uptime",
	"proc/loadavg", "proc/diskstats", "proc/swaps", "sys/devices/system/cpu",
};

void ct_lxcfs_open(const char *lxcfs_dir, int fds[CT_LXCFS_FILES])
{
	char src[PATH_MAX];

	for (size_t i = 0; i < CT_LXCFS_FILES; i++) {
		fds[i] = -EBADF;
		if (!lxcfs_dir)
			continue;
		snprintf(src, sizeof(src), "%s/%s", lxcfs_dir, lxcfs_files[i]);
		fds[i] = open(src, O_PATH | O_CLOEXEC);
	}
}

int ct_rootfs_mount_system(int root_fd, int console_fd, bool cgroup2,
			   const int lxcfs_fds[CT_LXCFS_FILES], struct carve_error *err)
{
	char buf[FD_PATH_MAX];
	int r;

	if (console_fd >= 0 && isatty(console_fd)) {
		char tty[64];
		ssize_t n = readlink(fd_path(console_fd, buf), tty, sizeof(tty) - 1);

		/* /dev is our own tmpfs: the pty slave appears as the console. Bound by its path
		 * ("/dev/pts/N" in our copy of the host's mounts): the fd itself belongs to a mount
		 * of the parent namespace, which mount(2) refuses to bind */
		if (n <= 0 || (size_t)n >= sizeof(tty) - 1)
			return carve_err(err, n < 0 ? -errno : -ENAMETOOLONG,
					 "console: readlink: %s",
					 strerror(n < 0 ? errno : ENAMETOOLONG));
		tty[n] = '\0';
		r = mount_at(root_fd, "dev/console", CREATE_FILE, 0600, tty, NULL, MS_BIND, NULL,
			     err);
		if (r < 0)
			return r;
	}
	if (cgroup2) {
		r = mount_at(root_fd, "sys/fs/cgroup", CREATE_NONE, 0, "cgroup2", "cgroup2",
			     MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; lxcfs_fds && i < CT_LXCFS_FILES; i++) {
		if (lxcfs_fds[i] < 0)
			continue; /* this lxcfs does not provide it */
		r = mount_at(root_fd, lxcfs_files[i], CREATE_NONE, 0, fd_path(lxcfs_fds[i], buf),
			     NULL, MS_BIND, NULL, err);
		if (r == -ENOENT) {
			carve_err_clear(err);
			continue;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

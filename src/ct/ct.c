/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ct_spawn(): a raw clone() used like fork() (the caller is single-threaded, so no separate stack
 * is needed) with new user, pid, mount, net, uts and ipc namespaces. The two processes then
 * follow this handshake:
 *
 *   parent (host root)                          child (no ids mapped yet)
 *   write /proc/PID/uid_map, gid_map            block on the sync pipe
 *   attach PID to the server cgroup
 *   write "go" on the sync pipe      ------->   unshare(CLONE_NEWCGROUP): root = server cgroup
 *   read the error pipe until EOF               become root inside, build the root, pivot_root
 *                                    <-------   execve() closes the cloexec error pipe: EOF
 *                                               (or: "<step>: <strerror>", then _exit(127))
 *
 * The cgroup namespace comes after the attach, so the container sees its own cgroup as "/".
 *
 * In the child, in this order: rprivate mount tree and the rootfs bound onto itself (host uid 0),
 * container root, /proc /sys /dev /run built inside the root fd (mounts.c), pivot_root, the
 * finished tree locked (lock_mounts: a copy of the mount namespace made through a helper in a
 * child user namespace, so that no mount can be unmounted, moved, bound without its children or
 * made writable, even with CAP_SYS_ADMIN), stdio, every other fd close-on-exec and checked so,
 * then the capability bounding set (caps.c), no_new_privs and the seccomp filter compiled by the
 * parent (seccomp.c), and execve: the runtime itself never runs confined, and nothing runs
 * between the filter and init.
 */
#define LOG_DOMAIN "ct"

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <linux/openat2.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "ct/ct.h"
#include "ct/ct-internal.h"

#define HOSTNAME_MAX 64

struct child_report {
	int error; /* positive errno */
	char msg[512];
};

static char *const default_envp[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"TERM=linux",
	"container=carve",
	NULL,
};

/* In the child: report "<step>: <strerror>" on the error pipe and die. */
_noreturn_ _printf_(3, 4) static void child_fail(int fd, int error, const char *fmt, ...)
{
	struct child_report rep = {.error = error > 0 ? error : EIO};
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rep.msg, sizeof(rep.msg), fmt, ap);
	va_end(ap);
	n = strlen(rep.msg);
	snprintf(rep.msg + n, sizeof(rep.msg) - n, ": %s", strerror(rep.error));
	(void)!write(fd, &rep, sizeof(rep));
	_exit(127);
}

/* errno-preserving helpers for the child: each failing step names itself */
#define CHILD_TRY(fd, expr, ...)                            \
	do {                                                \
		if ((expr) < 0)                             \
			child_fail(fd, errno, __VA_ARGS__); \
	} while (0)

/* In the child: report a step that filled err, and die. */
_noreturn_ static void child_fail_err(int fd, const struct carve_error *e)
{
	struct child_report rep = {.error = e->code < 0 ? -e->code : EIO};

	snprintf(rep.msg, sizeof(rep.msg), "%s", e->msg);
	(void)!write(fd, &rep, sizeof(rep));
	_exit(127);
}

/*
 * CVE-2024-21626: only 0, 1 and 2 may reach init. Everything else was marked close-on-exec; check
 * that explicitly, reading the fd table from the container's /proc.
 */
static int check_fds(int efd, struct carve_error *e)
{
	cleanup_closedir DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return carve_err(e, -errno, "list fds: %s", strerror(errno));
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		int flags;

		if (de->d_name[0] == '.' || *end != '\0' || fd < 3 || fd == dirfd(d) || fd == efd)
			continue;
		flags = fcntl((int)fd, F_GETFD);
		if (flags < 0 && errno == EBADF)
			continue;
		if (flags < 0 || !(flags & FD_CLOEXEC))
			return carve_err(e, -EBADFD, "fd %ld would leak into init", fd);
	}
	return 0;
}

/* The root's tree (with an idmapped root) and one tree per extra mount. */
#define GO_FDS_MAX (1 + CT_MOUNTS_MAX)

/* Receive the go byte and up to max fds (SCM_RIGHTS); *ret_n says how many came. Returns bytes
 * read. */
static ssize_t recv_go(int sock, char *ret_go, int *ret_fds, size_t max, size_t *ret_n)
{
	char control[CMSG_SPACE(sizeof(int) * GO_FDS_MAX)] = {0};
	struct iovec iov = {.iov_base = ret_go, .iov_len = 1};
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *c;
	size_t got = 0;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (c = CMSG_FIRSTHDR(&msg); n > 0 && c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (got < max)
					ret_fds[got++] = fd;
				else
					close(fd);
			}
		}
	*ret_n = got;
	return n;
}

static int send_go(int sock, const int *fds, size_t n_fds)
{
	char control[CMSG_SPACE(sizeof(int) * GO_FDS_MAX)] = {0};
	struct iovec iov = {.iov_base = (char *)"G", .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	assert(n_fds <= GO_FDS_MAX);
	if (n_fds > 0) {
		struct cmsghdr *c;
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : n < 0 ? -errno : -EIO;
}

/* Mount points the runtime builds itself: an extra mount never goes over or under them. */
static bool reserved_target(const char *target)
{
	static const char *const reserved[] = {"proc", "sys", "dev", "run"};
	const char *p = target + strspn(target, "/");

	for (size_t i = 0; i < ELEMENTSOF(reserved); i++) {
		size_t l = strlen(reserved[i]);

		if (strncmp(p, reserved[i], l) == 0 && (p[l] == '/' || p[l] == '\0'))
			return true;
	}
	return false;
}

static bool has_dotdot(const char *path)
{
	for (const char *p = path; (p = strstr(p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return true;
	return false;
}

static int open_component(int dir_fd, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dir_fd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

int ct_mount_target_open(int root_fd, const char *target, bool create, int *ret_fd,
			 struct carve_error *err)
{
	cleanup_close int dir_fd = -EBADF;
	const char *p;

	if (!target || target[0] != '/')
		return carve_err(err, -EINVAL, "mount target '%s': not an absolute path",
				 target ? target : "");
	if (strlen(target) >= PATH_MAX)
		return carve_err(err, -ENAMETOOLONG, "mount target: too long");
	p = target + strspn(target, "/");
	if (!*p)
		return carve_err(err, -EINVAL, "mount target '%s': the root itself", target);
	dir_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
	if (dir_fd < 0)
		return carve_err(err, -errno, "mount target '%s': dup root", target);
	while (*p) {
		size_t len = strcspn(p, "/");
		char name[NAME_MAX + 1];
		int fd;

		if (len > NAME_MAX)
			return carve_err(err, -ENAMETOOLONG, "mount target '%s': name too long",
					 target);
		memcpy(name, p, len);
		name[len] = '\0';
		if (streq(name, "..") || streq(name, "."))
			return carve_err(err, -EINVAL, "mount target '%s': '%s' component", target,
					 name);
		fd = open_component(dir_fd, name);
		if (fd == -ENOENT && create) {
			if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
				return carve_err(err, -errno, "mount target '%s': mkdir '%s'",
						 target, name);
			fd = open_component(dir_fd, name);
		}
		if (fd == -ENOTDIR) {
			struct stat st;

			/* O_NOFOLLOW | O_DIRECTORY says ENOTDIR for a symlink too */
			if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				fd = -ELOOP;
		}
		if (fd == -ELOOP)
			return carve_err(err, -ELOOP, "mount target '%s': '%s' is a symlink",
					 target, name);
		if (fd == -ENOTDIR)
			return carve_err(err, fd, "mount target '%s': '%s' is not a directory",
					 target, name);
		if (fd < 0)
			return carve_err(err, fd, "mount target '%s': open '%s'", target, name);
		safe_close(dir_fd);
		dir_fd = fd;
		p += len;
		p += strspn(p, "/");
	}
	*ret_fd = TAKE_FD(dir_fd);
	return 0;
}

/* Place the detached trees of the extra mounts inside the root, as the container's root. */
static int place_mounts(const struct ct_config *cfg, int root_fd, const int *trees,
			struct carve_error *e)
{
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		cleanup_close int target = -EBADF;
		int r;

		r = ct_mount_target_open(root_fd, cfg->mounts[i].target, true, &target, e);
		if (r < 0)
			return r;
		if (move_mount(trees[i], "", target, "",
			       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			return carve_err(e, -errno, "mount '%s' on '%s'", cfg->mounts[i].source,
					 cfg->mounts[i].target);
	}
	return 0;
}

/*
 * A detached copy of the mount at rootfs whose ids are shifted by the child's user namespace
 * (files owned by 0 on disk appear owned by uid_base): the template stays unshifted on disk and
 * nothing is chowned. Needs CAP_SYS_ADMIN in the initial user namespace, so the parent does it.
 */
static int idmapped_tree(pid_t child, const char *rootfs, bool idmap, uint64_t attrs, int *ret_fd,
			 struct carve_error *err)
{
	struct mount_attr attr = {.attr_set = (idmap ? MOUNT_ATTR_IDMAP : 0) | attrs};
	cleanup_close int userns = -EBADF, tree = -EBADF;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)child);
	userns = open(path, O_RDONLY | O_CLOEXEC);
	if (userns < 0)
		return carve_err(err, -errno, "open the container's user namespace");
	tree = open_tree(AT_FDCWD, rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return carve_err(err, -errno, "open_tree '%s'", rootfs);
	if (idmap)
		attr.userns_fd = (uint64_t)userns;
	if (attr.attr_set && mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return carve_err(err, -errno,
				 "idmap '%s' (does its filesystem support idmapped mounts?)",
				 rootfs);
	*ret_fd = TAKE_FD(tree);
	return 0;
}

/*
 * Lock the finished mount tree. The runtime built it in a mount namespace owned by the container's
 * own user namespace, so none of its mounts is MNT_LOCKED: a root with CAP_SYS_ADMIN there (a
 * system container) could umount or move the masks over /proc/keys or /sys/firmware and lxcfs's
 * views, remount /sys read-write, bind /proc or /sys non-recursively (a copy without the masks),
 * or mount a fresh proc or sysfs (the kernel allows that while no locked mount covers part of the
 * existing one). The kernel locks every mount (MNT_LOCKED, and its read-only, nosuid, nodev,
 * noexec and atime flags) when it copies a mount namespace into one owned by another user
 * namespace. So: a helper clone()d into a new user namespace (a child of ours, with our owner,
 * so we keep every capability over it) and a new mount namespace (the locked copy) sends us an
 * fd of that namespace; we join it and unshare once more, so that init's mount namespace is
 * again owned by the container's user namespace (which owns its pid, net, uts, ipc and cgroup
 * namespaces too) while every mount in it stays locked. Nested mount namespaces (systemd's
 * services, unshare) copy the locks. The fd comes from the helper itself: we may not open its
 * /proc/PID/ns files (after setresuid we are not dumpable). A kernel that refuses nested user
 * namespaces (Debian's kernel.unprivileged_userns_clone=0) fails the start here: a container
 * never runs with an unlocked tree.
 */
static int lock_mounts(struct carve_error *e)
{
	int sock[2] = {-EBADF, -EBADF}, ns_fd = -EBADF;
	size_t n_fds = 0;
	pid_t helper;
	char go = 0;
	int r = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) < 0)
		return carve_err(e, -errno, "lock mounts: socketpair: %s", strerror(errno));
	helper = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL,
				NULL);
	if (helper < 0) {
		r = carve_err(e, -errno, "lock mounts: clone: %s", strerror(errno));
		goto out;
	}
	if (helper == 0) {
		int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);

		_exit(fd >= 0 && send_go(sock[1], &fd, 1) == 0 ? 0 : 127);
	}
	sock[1] = safe_close(sock[1]);
	if (recv_go(sock[0], &go, &ns_fd, 1, &n_fds) != 1 || go != 'G' || n_fds != 1)
		r = carve_err(e, -EIO, "lock mounts: no namespace from the helper");
	else if (setns(ns_fd, CLONE_NEWNS) < 0)
		r = carve_err(e, -errno, "lock mounts: join the locked copy: %s", strerror(errno));
	else if (unshare(CLONE_NEWNS) < 0)
		r = carve_err(e, -errno, "lock mounts: unshare: %s", strerror(errno));
	else if (chdir("/") < 0)
		r = carve_err(e, -errno, "lock mounts: chdir /: %s", strerror(errno));
	while (waitpid(helper, NULL, 0) < 0 && errno == EINTR)
		;
out:
	safe_close(ns_fd);
	safe_close(sock[0]);
	safe_close(sock[1]);
	return r;
}

struct child_params {
	const struct ct_config *cfg;
	const struct sock_fprog *seccomp;
	int last_cap;
	int sync_fd;
	int efd;
	int null_fd;
};

_noreturn_ static void child_main(const struct child_params *p)
{
	const struct ct_config *cfg = p->cfg;
	char *const *envp = cfg->envp ? cfg->envp : default_envp;
	int stdio_fd = cfg->stdio_fd >= 0 ? cfg->stdio_fd : p->null_fd;
	int efd = p->efd, root_fd = -EBADF, tree_fd = -EBADF, trees[GO_FDS_MAX];
	int lxcfs_fds[CT_LXCFS_FILES];
	size_t n_trees = 0, want = (cfg->idmap_rootfs ? 1 : 0) + cfg->n_mounts;
	struct carve_error e = CARVE_ERROR_INIT;
	sigset_t all;
	char go = 0;

	/* the parent writes the id maps and places us in the cgroup first; with an idmapped
	 * root it also sends the detached, idmapped mount of the root, then one detached tree
	 * per extra mount */
	if (recv_go(p->sync_fd, &go, trees, ELEMENTSOF(trees), &n_trees) != 1 || go != 'G' ||
	    n_trees != want)
		_exit(127);
	if (cfg->idmap_rootfs)
		tree_fd = trees[0];
	close(p->sync_fd);

	/* the caller's ignored or blocked signals must not leak into init */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)signal(sig, SIG_DFL);
	sigemptyset(&all);
	CHILD_TRY(efd, sigprocmask(SIG_SETMASK, &all, NULL), "sigprocmask");

	CHILD_TRY(efd, unshare(CLONE_NEWCGROUP), "unshare cgroup namespace");
	/*
	 * Reach the root while our credentials are still the host's uid 0: the directories above
	 * it (the state directory, a checkout under /root) may be 0700, which the tenant's ids
	 * cannot search. Everything after this is relative to the root fd.
	 */
	if (tree_fd >= 0) {
		/* cover the host's mount of the root with its idmapped copy, in our namespace only
		 */
		CHILD_TRY(efd, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL),
			  "make / rprivate");
		CHILD_TRY(efd,
			  move_mount(tree_fd, "", AT_FDCWD, cfg->rootfs, MOVE_MOUNT_F_EMPTY_PATH),
			  "attach the idmapped root on '%s'", cfg->rootfs);
		close(tree_fd);
	}
	if (ct_rootfs_enter(cfg->rootfs, &root_fd, &e) < 0)
		child_fail_err(efd, &e);

	ct_lxcfs_open(cfg->lxcfs_dir, lxcfs_fds);
	CHILD_TRY(efd, setresgid(0, 0, 0), "setresgid 0");
	CHILD_TRY(efd, setresuid(0, 0, 0), "setresuid 0");
	CHILD_TRY(efd, setgroups(0, NULL), "setgroups");

	if (ct_rootfs_mount(root_fd, &e) < 0)
		child_fail_err(efd, &e);
	if (ct_rootfs_mount_system(root_fd, cfg->stdio_fd,
				   cfg->cgroups && cgroup_manager_has_unified(cfg->cgroups),
				   lxcfs_fds, &e) < 0)
		child_fail_err(efd, &e);
	for (size_t i = 0; i < CT_LXCFS_FILES; i++)
		safe_close(lxcfs_fds[i]);
	if (place_mounts(cfg, root_fd, trees + (cfg->idmap_rootfs ? 1 : 0), &e) < 0)
		child_fail_err(efd, &e);
	for (size_t i = cfg->idmap_rootfs ? 1 : 0; i < n_trees; i++)
		close(trees[i]);
	close(root_fd);

	CHILD_TRY(efd, sethostname(cfg->hostname, strlen(cfg->hostname)), "sethostname '%s'",
		  cfg->hostname);

	/* no .oldroot directory: the shifted rootfs may not be writable to us */
	CHILD_TRY(efd, syscall(SYS_pivot_root, ".", "."), "pivot_root");
	CHILD_TRY(efd, umount2(".", MNT_DETACH), "umount old root");
	CHILD_TRY(efd, chdir("/"), "chdir /");
	if (lock_mounts(&e) < 0)
		child_fail_err(efd, &e);

	if (stdio_fd < 3) {
		stdio_fd = fcntl(stdio_fd, F_DUPFD_CLOEXEC, 3);
		CHILD_TRY(efd, stdio_fd, "dup stdio");
	}
	for (int fd = 0; fd < 3; fd++)
		CHILD_TRY(efd, dup2(stdio_fd, fd), "dup2 stdio");
	/* everything else, including the error pipe (already cloexec), dies at execve */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		int keep[] = {efd};
		close_all_fds(keep, ELEMENTSOF(keep));
	}
	if (check_fds(efd, &e) < 0)
		child_fail_err(efd, &e);

	/* last: the runtime itself ran unconfined; from here on only execve */
	if (ct_caps_bound((cfg->system ? CT_CAPS_SYSTEM : CT_CAPS_DEFAULT) |
				  (p->cfg->net_admin ? CT_CAP_NET_ADMIN : 0),
			  p->last_cap, &e) < 0)
		child_fail_err(efd, &e);
	if (ct_seccomp_apply(p->seccomp, &e) < 0)
		child_fail_err(efd, &e);

	execve(cfg->argv[0], cfg->argv, envp);
	child_fail(efd, errno, "execve '%s'", cfg->argv[0]);
}

static int write_map(pid_t pid, const char *file, uint32_t base, uint32_t count)
{
	char path[64], line[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	snprintf(line, sizeof(line), "0 %u %u\n", base, count);
	return write_string_file(path, line);
}

static int check_config(const struct ct_config *cfg, uint32_t count, struct carve_error *err)
{
	size_t n = cfg->hostname ? strlen(cfg->hostname) : 0;

	if (n == 0 || n > HOSTNAME_MAX)
		return carve_err_field(err, -EINVAL, "hostname",
				       "hostname '%s': 1 to %d characters",
				       cfg->hostname ? cfg->hostname : "", HOSTNAME_MAX);
	if (!cfg->rootfs || cfg->rootfs[0] != '/')
		return carve_err_field(err, -EINVAL, "rootfs", "rootfs '%s': not an absolute path",
				       cfg->rootfs ? cfg->rootfs : "");
	if (!cfg->argv || !cfg->argv[0] || cfg->argv[0][0] != '/')
		return carve_err_field(err, -EINVAL, "init", "init: not an absolute path");
	if (cfg->uid_base == 0 || cfg->gid_base == 0)
		return carve_err_field(err, -EINVAL, "uid_base",
				       "uid/gid base 0: host root is never mapped");
	if ((uint64_t)cfg->uid_base + count > UINT32_MAX ||
	    (uint64_t)cfg->gid_base + count > UINT32_MAX)
		return carve_err_field(err, -ERANGE, "uid_base", "id range %u+%u: out of range",
				       cfg->uid_base, count);
	if (cfg->cgroups && (!cfg->cgroup_tenant || !cfg->cgroup_server))
		return carve_err(err, -EINVAL, "cgroup placement needs tenant and server names");
	if (cfg->n_mounts > CT_MOUNTS_MAX || (cfg->n_mounts && !cfg->mounts))
		return carve_err_field(err, -E2BIG, "mounts", "mounts: at most %d", CT_MOUNTS_MAX);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct ct_mount *m = &cfg->mounts[i];

		if (!m->source || m->source[0] != '/')
			return carve_err_field(err, -EINVAL, "mounts",
					       "mount source '%s': not an absolute path",
					       m->source ? m->source : "");
		if (!m->target || m->target[0] != '/' || has_dotdot(m->target) ||
		    reserved_target(m->target))
			return carve_err_field(err, -EINVAL, "mounts",
					       "mount target '%s': not an allowed absolute path",
					       m->target ? m->target : "");
	}
	return 0;
}

static void seccomp_freep(struct sock_fprog *prog)
{
	ct_seccomp_release(prog);
}

static void kill_and_reap(pid_t pid)
{
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int ct_spawn(const struct ct_config *cfg, pid_t *ret_pid, struct carve_error *err)
{
	cleanup_close int null_fd = -EBADF;
	cleanup(seccomp_freep) struct sock_fprog seccomp = {0};
	struct child_params params;
	int sync_pipe[2] = {-EBADF, -EBADF}, err_pipe[2] = {-EBADF, -EBADF}, trees[GO_FDS_MAX];
	size_t n_trees = 0;
	uint32_t count = cfg->id_count ? cfg->id_count : CT_ID_RANGE;
	struct child_report rep = {0};
	ssize_t n;
	pid_t pid;
	int r;

	r = check_config(cfg, count, err);
	if (r < 0)
		goto fail_early;

	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (null_fd < 0) {
		r = carve_err(err, -errno, "open /dev/null");
		goto fail_early;
	}
	/* the console pty is this server's own (not a host device node): its root owns it, so
	 * init can open /dev/console (systemd does) */
	if (cfg->stdio_fd >= 0 && isatty(cfg->stdio_fd) &&
	    fchown(cfg->stdio_fd, cfg->uid_base, cfg->gid_base + 5 /* tty */) < 0) {
		r = carve_err(err, -errno, "chown the console");
		goto fail_early;
	}
	/* compiled here, where a failure is simply reported; the child only loads it */
	r = ct_seccomp_build(&seccomp, err);
	if (r < 0)
		goto fail_early;
	params = (struct child_params){
		.cfg = cfg,
		.seccomp = &seccomp,
		.last_cap = ct_caps_last_cap(),
		.null_fd = null_fd,
	};
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_pipe) < 0 ||
	    pipe2(err_pipe, O_CLOEXEC) < 0) {
		r = carve_err(err, -errno, "pipe");
		goto out;
	}

	pid = (pid_t)syscall(SYS_clone,
			     CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
				     CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD,
			     NULL, NULL, NULL, NULL);
	if (pid < 0) {
		r = carve_err(err, -errno, "clone");
		goto out;
	}
	if (pid == 0) {
		close(sync_pipe[1]);
		close(err_pipe[0]);
		params.sync_fd = sync_pipe[0];
		params.efd = err_pipe[1];
		child_main(&params);
	}
	sync_pipe[0] = safe_close(sync_pipe[0]);
	err_pipe[1] = safe_close(err_pipe[1]);
	log_debug("container '%s': child %d cloned", cfg->hostname, (int)pid);

	r = write_map(pid, "uid_map", cfg->uid_base, count);
	if (r < 0) {
		carve_err(err, r, "write uid_map");
		goto fail_child;
	}
	r = write_map(pid, "gid_map", cfg->gid_base, count);
	if (r < 0) {
		carve_err(err, r, "write gid_map");
		goto fail_child;
	}
	if (cfg->cgroups) {
		r = cgroup_server_attach(cfg->cgroups, cfg->cgroup_tenant, cfg->cgroup_server, pid,
					 err);
		if (r >= 0)
			r = cgroup_server_delegate(cfg->cgroups, cfg->cgroup_tenant,
						   cfg->cgroup_server, cfg->uid_base, cfg->gid_base,
						   err);
		if (r < 0)
			goto fail_child;
	}
	if (cfg->idmap_rootfs) {
		r = idmapped_tree(pid, cfg->rootfs, true, 0, &trees[n_trees], err);
		if (r < 0)
			goto fail_child;
		n_trees++;
	}
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		r = idmapped_tree(pid, cfg->mounts[i].source, cfg->mounts[i].idmap,
				  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, &trees[n_trees], err);
		if (r < 0) {
			carve_err_prefix(err, "mount '%s'", cfg->mounts[i].target);
			goto fail_child;
		}
		n_trees++;
	}
	r = send_go(sync_pipe[1], trees, n_trees);
	for (size_t i = 0; i < n_trees; i++)
		safe_close(trees[i]);
	n_trees = 0;
	if (r < 0) {
		carve_err(err, r, "release child");
		goto fail_child;
	}
	sync_pipe[1] = safe_close(sync_pipe[1]);

	/* EOF: execve succeeded and closed the cloexec pipe */
	n = loop_read(err_pipe[0], &rep, sizeof(rep));
	if (n < 0) {
		r = carve_err(err, (int)n, "read child status");
		goto fail_child;
	}
	if (n > 0) {
		rep.msg[sizeof(rep.msg) - 1] = '\0';
		r = carve_err(err, -(rep.error > 0 ? rep.error : EIO), "%s", rep.msg);
		goto fail_child;
	}
	log_debug("container '%s': init %d started", cfg->hostname, (int)pid);
	*ret_pid = pid;
	r = 0;
	goto out;

fail_child:
	for (size_t i = 0; i < n_trees; i++)
		safe_close(trees[i]);
	kill_and_reap(pid);
out:
	safe_close(sync_pipe[0]);
	safe_close(sync_pipe[1]);
	safe_close(err_pipe[0]);
	safe_close(err_pipe[1]);
	if (r < 0)
		carve_err_prefix(err, "container '%s'", cfg->hostname);
	return r;

fail_early:
	carve_err_prefix(err, "container '%s'", cfg->hostname ? cfg->hostname : "");
	return r;
}

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
 */
#define LOG_DOMAIN "ct"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "ct/ct.h"

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

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

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

static int ensure_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

static int create_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Build /dev in the new root (cwd is the root): a tmpfs with bind-mounted host nodes; the nodes
 * themselves are never chowned or chmodded, they are the host's. */
static void setup_dev(int efd)
{
	static const char *const links[][2] = {
		{"/proc/self/fd", "dev/fd"},	   {"/proc/self/fd/0", "dev/stdin"},
		{"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"},
		{"pts/ptmx", "dev/ptmx"},
	};
	char src[64], dst[64];

	CHILD_TRY(efd, ensure_dir("dev", 0755), "mkdir /dev");
	CHILD_TRY(efd,
		  mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME,
			"mode=755,size=65536k"),
		  "mount /dev");
	for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++) {
		snprintf(src, sizeof(src), "/dev/%s", dev_nodes[i]);
		snprintf(dst, sizeof(dst), "dev/%s", dev_nodes[i]);
		CHILD_TRY(efd, create_file(dst), "create %s", src);
		CHILD_TRY(efd, mount(src, dst, NULL, MS_BIND, NULL), "bind %s", src);
	}
	CHILD_TRY(efd, mkdir("dev/pts", 0755), "mkdir /dev/pts");
	CHILD_TRY(efd,
		  mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
			"newinstance,ptmxmode=0666,mode=0620"),
		  "mount /dev/pts");
	CHILD_TRY(efd, mkdir("dev/shm", 01777), "mkdir /dev/shm");
	CHILD_TRY(efd,
		  mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			"mode=1777,size=65536k"),
		  "mount /dev/shm");
	for (size_t i = 0; i < ELEMENTSOF(links); i++)
		CHILD_TRY(efd, symlink(links[i][0], links[i][1]), "symlink /%s", links[i][1]);
}

_noreturn_ static void child_main(const struct ct_config *cfg, int sync_fd, int efd, int null_fd)
{
	char *const *envp = cfg->envp ? cfg->envp : default_envp;
	int stdio_fd = cfg->stdio_fd >= 0 ? cfg->stdio_fd : null_fd;
	sigset_t all;
	char go = 0;

	/* the parent writes the id maps and places us in the cgroup first */
	if (read(sync_fd, &go, 1) != 1 || go != 'G')
		_exit(127);
	close(sync_fd);

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
	 * cannot search. Everything after the chdir is relative to the root.
	 */
	CHILD_TRY(efd, mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL), "make / rslave");
	CHILD_TRY(efd, mount(cfg->rootfs, cfg->rootfs, NULL, MS_BIND | MS_REC, NULL),
		  "bind rootfs '%s'", cfg->rootfs);
	CHILD_TRY(efd, chdir(cfg->rootfs), "chdir '%s'", cfg->rootfs);

	CHILD_TRY(efd, setresgid(0, 0, 0), "setresgid 0");
	CHILD_TRY(efd, setresuid(0, 0, 0), "setresuid 0");
	CHILD_TRY(efd, setgroups(0, NULL), "setgroups");

	/* proc and sysfs before pivot_root: once the old root is gone the kernel refuses them */
	CHILD_TRY(efd, ensure_dir("proc", 0555), "mkdir /proc");
	CHILD_TRY(efd, mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
		  "mount /proc");
	CHILD_TRY(efd, ensure_dir("sys", 0555), "mkdir /sys");
	CHILD_TRY(
		efd,
		mount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
		"mount /sys");
	setup_dev(efd);

	CHILD_TRY(efd, sethostname(cfg->hostname, strlen(cfg->hostname)), "sethostname '%s'",
		  cfg->hostname);

	/* no .oldroot directory: the shifted rootfs may not be writable to us */
	CHILD_TRY(efd, syscall(SYS_pivot_root, ".", "."), "pivot_root");
	CHILD_TRY(efd, umount2(".", MNT_DETACH), "umount old root");
	CHILD_TRY(efd, chdir("/"), "chdir /");

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
	return 0;
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
	int sync_pipe[2] = {-EBADF, -EBADF}, err_pipe[2] = {-EBADF, -EBADF};
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
	if (pipe2(sync_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
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
		child_main(cfg, sync_pipe[0], err_pipe[1], null_fd);
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
		if (r < 0)
			goto fail_child;
	}
	r = loop_write(sync_pipe[1], "G", 1);
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

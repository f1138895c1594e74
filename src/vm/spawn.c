/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Start QEMU: fork, join the server's cgroups, drop to the VM's own uid, exec. QEMU 7.2's -runas
 * changes uid after its seccomp sandbox is installed, and elevateprivileges=deny forbids exactly
 * that, so privileges are dropped here, before exec. The child reports the step that failed over
 * a CLOEXEC pipe: EOF means exec succeeded.
 */
#define LOG_DOMAIN "vm"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "vm/vm.h"

struct child_report {
	int error; /* positive errno */
	char step[96];
};

_noreturn_ static void child_fail(int pipe_fd, int error, const char *step)
{
	struct child_report rep = {.error = error};
	size_t n = strlen(step);
	if (n >= sizeof(rep.step))
		n = sizeof(rep.step) - 1;
	memcpy(rep.step, step, n);
	(void)loop_write(pipe_fd, &rep, sizeof(rep));
	_exit(127);
}

static int dup_or_null(int fd, int target)
{
	int null_fd;
	if (fd >= 0)
		return dup2(fd, target) < 0 ? -errno : 0;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		return -errno;
	if (dup2(null_fd, target) < 0) {
		int r = -errno;
		close(null_fd);
		return r;
	}
	close(null_fd);
	return 0;
}

_noreturn_ static void child(char *const *argv, const struct vm_spawn_opts *o, int pipe_fd)
{
	sigset_t all;
	int keep[9] = {pipe_fd};
	size_t n_keep = 1;
	int fds[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
	int r;

	/* the parent may have blocked signals; QEMU needs them */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);

	if (o->kill_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(pipe_fd, errno, "prctl PR_SET_PDEATHSIG");

	for (const char *const *c = o->cgroup_procs; c && *c; c++) {
		int fd = open(*c, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			child_fail(pipe_fd, errno ? errno : EIO, "join cgroup");
		close(fd);
	}

	/* move the stdio sources out of the way of 0..2 before dup2 overwrites them */
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0 && fds[i] < 3) {
			int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
			if (d < 0)
				child_fail(pipe_fd, errno, "dup stdio");
			fds[i] = d;
		}
	for (int i = 0; i < 3; i++) {
		r = dup_or_null(fds[i], i);
		if (r < 0)
			child_fail(pipe_fd, -r, "set up stdio");
	}
	for (size_t i = 0; i < o->n_pass_fds && n_keep < ELEMENTSOF(keep); i++)
		keep[n_keep++] = o->pass_fds[i];
	r = close_all_fds(keep, n_keep);
	if (r < 0)
		child_fail(pipe_fd, -r, "close fds");
	for (size_t i = 1; i < n_keep; i++)
		if (fcntl(keep[i], F_SETFD, 0) < 0)
			child_fail(pipe_fd, errno, "pass fd");

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(pipe_fd, errno, "prctl PR_SET_NO_NEW_PRIVS");
	if (o->drop_privileges) {
		if (setgroups(o->n_groups, o->n_groups ? o->groups : NULL) < 0)
			child_fail(pipe_fd, errno, "setgroups");
		if (setresgid(o->gid, o->gid, o->gid) < 0)
			child_fail(pipe_fd, errno, "setresgid");
		if (setresuid(o->uid, o->uid, o->uid) < 0)
			child_fail(pipe_fd, errno, "setresuid");
	}
	execvp(argv[0], argv);
	child_fail(pipe_fd, errno, "exec");
}

int vm_spawn(char *const *argv, const struct vm_spawn_opts *opts, pid_t *ret_pid,
	     struct carve_error *err)
{
	struct vm_spawn_opts none = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	struct child_report rep = {};
	int p[2];
	ssize_t n;
	pid_t pid;

	if (!argv || !argv[0])
		return carve_err(err, -EINVAL, "qemu: empty command line");
	if (!opts)
		opts = &none;
	if (pipe2(p, O_CLOEXEC) < 0)
		return carve_err(err, -errno, "qemu: pipe");
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return carve_err(err, r, "qemu: fork");
	}
	if (pid == 0) {
		close(p[0]);
		child(argv, opts, p[1]);
	}
	close(p[1]);
	n = loop_read(p[0], &rep, sizeof(rep));
	close(p[0]);
	if (n == (ssize_t)sizeof(rep)) {
		rep.step[sizeof(rep.step) - 1] = '\0';
		(void)waitpid(pid, NULL, 0);
		return carve_err(err, -rep.error, "qemu '%s': %s: %s", argv[0], rep.step,
				 strerror(rep.error));
	}
	log_debug("qemu '%s' started as pid %d", argv[0], (int)pid);
	*ret_pid = pid;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ct_exec() and ct_exec_openpty(); see exec.h for the process layout. One cloexec pipe carries
 * fixed-size reports (atomic writes, < PIPE_BUF) from the helper and the process to the caller:
 * the process's host pid (from the helper), or the failing step. EOF means that the helper
 * closed its end and the process execve()d.
 */
#define LOG_DOMAIN "ct"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <linux/openat2.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "ct/ct-internal.h"
#include "ct/exec.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

extern char **environ;

enum report_kind {
	REPORT_PID = 1,
	REPORT_ERROR = 2,
};

struct exec_report {
	int kind;
	int error; /* positive errno */
	pid_t pid;
	char msg[256];
};

static char *const default_envp[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"TERM=xterm",
	"HOME=/root",
	"container=carve",
	NULL,
};

_noreturn_ _printf_(3, 4) static void fail(int efd, int error, const char *fmt, ...)
{
	struct exec_report rep = {.kind = REPORT_ERROR, .error = error > 0 ? error : EIO};
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rep.msg, sizeof(rep.msg), fmt, ap);
	va_end(ap);
	n = strlen(rep.msg);
	snprintf(rep.msg + n, sizeof(rep.msg) - n, ": %s", strerror(rep.error));
	(void)!write(efd, &rep, sizeof(rep));
	_exit(rep.error == ENOENT ? 127 : 126);
}

_noreturn_ static void fail_err(int efd, const struct carve_error *e)
{
	struct exec_report rep = {.kind = REPORT_ERROR, .error = e->code < 0 ? -e->code : EIO};

	snprintf(rep.msg, sizeof(rep.msg), "%s", e->msg);
	(void)!write(efd, &rep, sizeof(rep));
	_exit(126);
}

#define TRY(efd, expr, ...)                            \
	do {                                           \
		if ((expr) < 0)                        \
			fail(efd, errno, __VA_ARGS__); \
	} while (0)

struct exec_params {
	const struct ct_exec_config *cfg;
	const struct sock_fprog *seccomp;
	int last_cap;
	uint64_t caps; /* init's bounding set, within what a container may hold */
	int efd;
	int null_fd;
};

/* In the process (inside the pid namespace): become the container's root and execvp. */
_noreturn_ static void process_main(const struct exec_params *p, pid_t helper)
{
	const struct ct_exec_config *cfg = p->cfg;
	int fds[3] = {cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd};
	struct carve_error e = CARVE_ERROR_INIT;
	int efd = p->efd;

	if (cfg->tty)
		TRY(efd, setsid(), "setsid");
	else
		TRY(efd, setpgid(0, 0), "setpgid");
	TRY(efd, setresgid(0, 0, 0), "setresgid 0");
	TRY(efd, setresuid(0, 0, 0), "setresuid 0");
	TRY(efd, setgroups(0, NULL), "setgroups");
	/* after the credential change, which clears it; die with the helper */
	TRY(efd, prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl pdeathsig");
	/* the helper is outside our pid namespace (ppid 0); anything else: it already died */
	if (getppid() != 0)
		_exit(126);
	(void)helper;

	TRY(efd, chdir(cfg->cwd ? cfg->cwd : "/"), "chdir '%s'", cfg->cwd ? cfg->cwd : "/");

	/* lift the sources above 2 first, so no dup2 below overwrites another source */
	for (int i = 0; i < 3; i++) {
		fds[i] = fcntl(fds[i] >= 0 ? fds[i] : p->null_fd, F_DUPFD_CLOEXEC, 3);
		TRY(efd, fds[i], "dup stdio");
	}
	for (int i = 0; i < 3; i++)
		TRY(efd, dup2(fds[i], i), "dup2 stdio");
	if (cfg->tty)
		TRY(efd, ioctl(0, TIOCSCTTY, 0), "set controlling terminal");
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		int keep[] = {efd};
		close_all_fds(keep, ELEMENTSOF(keep));
	}

	if (ct_caps_bound(p->caps, p->last_cap, &e) < 0)
		fail_err(efd, &e);
	if (ct_seccomp_apply(p->seccomp, &e) < 0)
		fail_err(efd, &e);

	/* execvp searches the PATH of environ */
	environ = (char **)(cfg->envp ? cfg->envp : default_envp);
	execvp(cfg->argv[0], cfg->argv);
	fail(efd, errno, "exec '%s'", cfg->argv[0]);
}

/* In the helper: join the container, fork the process, wait for it and pass its status on. */
_noreturn_ static void helper_main(const struct exec_params *p, pid_t init_pid)
{
	const struct ct_exec_config *cfg = p->cfg;
	struct carve_error e = CARVE_ERROR_INIT;
	struct rlimit no_core = {0, 0};
	struct exec_report rep = {.kind = REPORT_PID};
	int keep[] = {cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd, p->efd, p->null_fd};
	int efd = p->efd, pidfd, wstatus;
	sigset_t none;
	pid_t pid, self = getpid();

	/* the monitor's other clients and sessions must not stay open in here */
	close_all_fds(keep, ELEMENTSOF(keep));
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)signal(sig, SIG_DFL);
	sigemptyset(&none);
	TRY(efd, sigprocmask(SIG_SETMASK, &none, NULL), "sigprocmask");
	/* the helper is the host's root in the container's user namespace: keep it out of reach */
	TRY(efd, prctl(PR_SET_DUMPABLE, 0), "prctl dumpable");
	(void)setrlimit(RLIMIT_CORE, &no_core);

	if (cfg->cgroups && cgroup_server_attach(cfg->cgroups, cfg->cgroup_tenant,
						 cfg->cgroup_server, self, &e) < 0)
		fail_err(efd, &e);
	pidfd = (int)syscall(SYS_pidfd_open, init_pid, 0);
	TRY(efd, pidfd, "pidfd_open init %d", (int)init_pid);
	TRY(efd,
	    setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS |
				 CLONE_NEWIPC | CLONE_NEWCGROUP),
	    "setns to init %d", (int)init_pid);
	close(pidfd);

	pid = fork();
	TRY(efd, pid, "fork");
	if (pid == 0)
		process_main(p, self);
	rep.pid = pid;
	(void)!write(efd, &rep, sizeof(rep));
	for (size_t i = 0; i < ELEMENTSOF(keep); i++)
		if (keep[i] >= 0)
			close(keep[i]);

	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			_exit(126);
	if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		sigset_t one;

		sigemptyset(&one);
		sigaddset(&one, sig);
		(void)kill(self, sig);
		(void)sigprocmask(SIG_UNBLOCK, &one, NULL);
		_exit(128 + sig);
	}
	_exit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 126);
}

static void seccomp_freep(struct sock_fprog *prog)
{
	ct_seccomp_release(prog);
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* A process joins with init's bounding set (which may hold CAP_NET_ADMIN, and a system
 * container's CAP_SYS_ADMIN and CAP_SYS_BOOT), never more than a container may have; the default
 * set when init's cannot be read. */
static uint64_t init_caps(pid_t init_pid)
{
	cleanup_free char *s = NULL;
	char path[64];
	const char *line;
	unsigned long long v;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)init_pid);
	if (read_full_file(path, 1 << 16, &s, NULL) < 0 || !(line = strstr(s, "\nCapBnd:")) ||
	    sscanf(line + 8, "%llx", &v) != 1)
		return CT_CAPS_DEFAULT;
	return (uint64_t)v & (CT_CAPS_SYSTEM | CT_CAP_NET_ADMIN);
}

int ct_exec(pid_t init_pid, const struct ct_exec_config *cfg, pid_t *ret_pid, pid_t *ret_inner_pid,
	    struct carve_error *err)
{
	cleanup(seccomp_freep) struct sock_fprog seccomp = {0};
	cleanup_close int null_fd = -EBADF, rfd = -EBADF;
	struct exec_params params;
	struct exec_report rep;
	pid_t pid, inner = 0;
	int efd[2], r;

	if (init_pid <= 0)
		return carve_err(err, -ESRCH, "exec: no init");
	if (!cfg->argv || !cfg->argv[0] || !cfg->argv[0][0])
		return carve_err_field(err, -EINVAL, "argv", "exec: empty command");
	if (cfg->cgroups && (!cfg->cgroup_tenant || !cfg->cgroup_server))
		return carve_err(err, -EINVAL, "exec: cgroup placement needs tenant and server");
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (null_fd < 0)
		return carve_err(err, -errno, "open /dev/null");
	r = ct_seccomp_build(&seccomp, err);
	if (r < 0)
		return r;
	if (pipe2(efd, O_CLOEXEC) < 0)
		return carve_err(err, -errno, "pipe");
	rfd = efd[0];
	params = (struct exec_params){
		.cfg = cfg,
		.seccomp = &seccomp,
		.last_cap = ct_caps_last_cap(),
		.caps = init_caps(init_pid),
		.efd = efd[1],
		.null_fd = null_fd,
	};

	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(efd[1]);
		return carve_err(err, r, "fork");
	}
	if (pid == 0) {
		close(rfd);
		helper_main(&params, init_pid);
	}
	close(efd[1]);

	/* reports until EOF: the helper closed its end and the process execve()d */
	for (;;) {
		ssize_t n = loop_read(rfd, &rep, sizeof(rep));

		if (n == 0)
			break;
		if (n != (ssize_t)sizeof(rep)) {
			(void)kill(pid, SIGKILL);
			reap(pid);
			return carve_err(err, n < 0 ? (int)n : -EIO, "exec: read child status");
		}
		if (rep.kind == REPORT_PID) {
			inner = rep.pid;
			continue;
		}
		rep.msg[sizeof(rep.msg) - 1] = '\0';
		(void)kill(pid, SIGKILL);
		reap(pid);
		return carve_err(err, -(rep.error > 0 ? rep.error : EIO), "%s", rep.msg);
	}
	if (inner <= 0) {
		(void)kill(pid, SIGKILL);
		reap(pid);
		return carve_err(err, -EIO, "exec: helper died before starting the process");
	}
	log_debug("exec '%s': helper %d, process %d", cfg->argv[0], (int)pid, (int)inner);
	*ret_pid = pid;
	if (ret_inner_pid)
		*ret_inner_pid = inner;
	return 0;
}

int ct_exec_openpty(pid_t init_pid, uid_t uid, gid_t gid, int *ret_master, int *ret_slave,
		    struct carve_error *err)
{
	struct open_how how = {
		.flags = O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	cleanup_close int root = -EBADF, master = -EBADF, slave = -EBADF;
	char path[64];
	struct statfs sfs;
	struct stat st;
	int unlock = 0;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)init_pid);
	root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return carve_err(err, -errno, "open '%s'", path);
	master = (int)syscall(SYS_openat2, root, "dev/pts/ptmx", &how, sizeof(how));
	if (master < 0)
		return carve_err(err, -errno, "open container's /dev/pts/ptmx");
	/* only the container's devpts instance: nothing it could have put there instead */
	if (fstatfs(master, &sfs) < 0 || fstat(master, &st) < 0)
		return carve_err(err, -errno, "stat container's /dev/pts/ptmx");
	if (sfs.f_type != DEVPTS_SUPER_MAGIC || !S_ISCHR(st.st_mode))
		return carve_err(err, -EPERM, "container's /dev/pts/ptmx: not a devpts ptmx");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return carve_err(err, -errno, "unlock pty");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return carve_err(err, -errno, "open pty peer");
	if (fchown(slave, uid, gid) < 0)
		return carve_err(err, -errno, "chown pty");
	*ret_master = TAKE_FD(master);
	*ret_slave = TAKE_FD(slave);
	return 0;
}

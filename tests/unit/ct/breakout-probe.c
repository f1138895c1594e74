/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A static probe run inside a container by test-breakout (there is no compiler in the rootfs).
 * Prints one line per attack, "name: BLOCKED" or "name: ESCAPED (detail)". Modes:
 *
 *   probe init          as the container's init: fds and cwd inherited through execve, then waits
 *                       for /tmp/go and runs /bin/sh /probe.sh, reaps everything, exits 0
 *   probe syscalls      the seccomp deny-list, natively, through int 0x80 (i386) and x32
 *   probe setuid        drop to uid 1000 and exec the setuid-root copy /probe-suid
 *   probe whoami        (as /probe-suid) whether the setuid bit made us root
 *   probe ptrace PID    PTRACE_ATTACH to a host pid
 *
 * Libc only (linked statically, outside the project's libraries).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define X32_BIT 0x40000000L
#define I386_KEYCTL 288
#define I386_BPF 357
#define I386_IO_URING_SETUP 425
#define X32_KEYCTL 250
#define X32_BPF 321
#define X32_IO_URING_SETUP 425

static void report(const char *name, int escaped, const char *detail)
{
	printf("%s: %s%s%s%s\n", name, escaped ? "ESCAPED" : "BLOCKED", detail ? " (" : "",
	       detail ? detail : "", detail ? ")" : "");
	fflush(stdout);
}

/* A syscall counts as blocked only when it failed with EPERM (the deny-list's answer). */
static void report_sys(const char *name, long ret, int err)
{
	char detail[64];

	if (ret >= 0)
		snprintf(detail, sizeof(detail), "returned %ld", ret);
	else
		snprintf(detail, sizeof(detail), "%s", strerror(err));
	report(name, !(ret < 0 && err == EPERM), detail);
	if (ret >= 3 && ret < 1024)
		close((int)ret);
}

#define SYS(name, ...)                              \
	do {                                        \
		long _r;                            \
		errno = 0;                          \
		_r = syscall(__VA_ARGS__);          \
		report_sys("sys-" name, _r, errno); \
	} while (0)

static long int80(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

/* Some kernels (confidential guests, ia32_emulation=0) have no int 0x80 entry: #GP, SIGSEGV. */
static int have_int80(void)
{
	static int known = -1;
	pid_t pid;
	int st;

	if (known >= 0)
		return known;
	pid = fork();
	if (pid == 0) {
		(void)int80(20 /* i386 getpid */, 0, 0, 0);
		_exit(0);
	}
	known = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	return known;
}

static void int80_sys(const char *name, long nr, long a, long b, long c)
{
	long r;

	if (!have_int80()) {
		report(name, 0, "no i386 syscall entry on this kernel");
		return;
	}
	r = int80(nr, a, b, c);

	report_sys(name, r < 0 ? -1 : r, r < 0 ? (int)-r : 0);
}

static int do_syscalls(void)
{
	struct io_uring_params {
		unsigned int pad[30];
	} params;
	struct timespec ts = {0};
	int mnt_id;
	long r;

	memset(&params, 0, sizeof(params));
	SYS("keyctl", SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
	SYS("add_key", SYS_add_key, NULL, NULL, NULL, 0, 0);
	SYS("request_key", SYS_request_key, NULL, NULL, NULL, 0);
	SYS("bpf", SYS_bpf, 0x7fffffff, NULL, 0);
	SYS("perf_event_open", SYS_perf_event_open, NULL, 0, -1, -1, 0);
	SYS("userfaultfd", SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	SYS("io_uring_setup", SYS_io_uring_setup, 1, &params);
	SYS("kexec_load", SYS_kexec_load, 0, 0, NULL, 0);
	SYS("init_module", SYS_init_module, NULL, 0, "");
	SYS("finit_module", SYS_finit_module, -1, "", 0);
	SYS("open_by_handle_at", SYS_open_by_handle_at, AT_FDCWD, NULL, 0);
	SYS("name_to_handle_at", SYS_name_to_handle_at, AT_FDCWD, "/", NULL, &mnt_id, 0);
	SYS("swapon", SYS_swapon, NULL, 0);
	/* EFAULT if reachable: never actually sets the clock */
	SYS("clock_settime", SYS_clock_settime, CLOCK_REALTIME, NULL);
	(void)ts;
	SYS("quotactl", SYS_quotactl, 0, NULL, 0, NULL);
	SYS("fanotify_init", SYS_fanotify_init, 0, 0);
	SYS("acct", SYS_acct, "/nonexistent-acct");

	errno = 0;
	r = personality(ADDR_NO_RANDOMIZE);
	report_sys("sys-personality", r < 0 ? -1 : 0, errno);
	if (r >= 0)
		(void)personality(PER_LINUX);
	errno = 0;
	r = personality(0xffffffff);
	/* the query must keep working: it is allowed, so "escaping" it means the filter is wrong */
	report("personality-query", r < 0, r < 0 ? strerror(errno) : NULL);

	int80_sys("i386-keyctl", I386_KEYCTL, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
	int80_sys("i386-bpf", I386_BPF, 0x7fffffff, 0, 0);
	int80_sys("i386-io_uring_setup", I386_IO_URING_SETUP, 0, 0, 0);
	SYS("x32-keyctl", X32_BIT | X32_KEYCTL, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
	SYS("x32-bpf", X32_BIT | X32_BPF, 0x7fffffff, NULL, 0);
	SYS("x32-io_uring_setup", X32_BIT | X32_IO_URING_SETUP, 1, &params);
	return 0;
}

/* CVE-2024-21626: nothing but 0, 1, 2 may come through execve; cwd is the new root */
static void check_inherited(void)
{
	char list[256] = "", cwd[256] = "";
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int leaked = 0;
	ssize_t n;

	if (!d) {
		report("fds", 1, "cannot list /proc/self/fd");
	} else {
		while ((de = readdir(d))) {
			int fd = (int)strtol(de->d_name, NULL, 10);

			if (de->d_name[0] == '.' || fd == dirfd(d))
				continue;
			if (fd > 2)
				leaked = 1;
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s ",
				 de->d_name);
		}
		closedir(d);
		report("fds", leaked, list);
	}
	n = readlink("/proc/self/cwd", cwd, sizeof(cwd) - 1);
	if (n > 0)
		cwd[n] = '\0';
	report("cwd", n <= 0 || strcmp(cwd, "/") != 0, cwd);
}

static int do_init(void)
{
	char *sh[] = {"/bin/sh", "/probe.sh", NULL};
	pid_t child;
	int status = 0;

	check_inherited();
	for (int i = 0; i < 1000 && access("/tmp/go", F_OK) < 0; i++)
		usleep(10 * 1000);
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		execv(sh[0], sh);
		_exit(127);
	}
	for (;;) {
		int st;
		pid_t p = wait(&st);

		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			break;
		if (p == child)
			status = st;
	}
	printf("probe: done (sh status %d)\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	fflush(stdout);
	return 0;
}

static int do_setuid(void)
{
	char *argv[] = {"/probe-suid", "whoami", NULL};

	if (setgroups(0, NULL) < 0 || setresgid(1000, 1000, 1000) < 0 ||
	    setresuid(1000, 1000, 1000) < 0) {
		report("setuid", 1, "cannot drop to uid 1000 to try");
		return 1;
	}
	execv(argv[0], argv);
	report("setuid", 1, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "init"))
		return do_init();
	if (!strcmp(argv[1], "syscalls"))
		return do_syscalls();
	if (!strcmp(argv[1], "setuid"))
		return do_setuid();
	if (!strcmp(argv[1], "whoami")) {
		char d[64];

		snprintf(d, sizeof(d), "euid %d", (int)geteuid());
		report("setuid", geteuid() == 0, d);
		return 0;
	}
	if (!strcmp(argv[1], "ptrace") && argc == 3) {
		pid_t pid = (pid_t)strtol(argv[2], NULL, 10);
		long r = ptrace(PTRACE_ATTACH, pid, NULL, NULL);

		report("ptrace-host", r == 0, r == 0 ? "attached" : strerror(errno));
		return 0;
	}
	return 2;
}

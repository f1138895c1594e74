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
 *   probe mounts        what CAP_SYS_ADMIN in the container's user namespace could do to the
 *                       runtime's mount tree: umount or move a mask, bind /proc or /sys without
 *                       their masks, remount /proc/sys or /sys read-write, a fresh proc, sysfs
 *                       or devtmpfs, the same from a nested user namespace, and a chroot escape
 *   probe allowed       what a system container may do in its own namespaces, each printed
 *                       "name: ALLOWED" or "name: REFUSED" (the test knows which per kind):
 *                       mount a tmpfs (on /srv/mnt, with a marker the host must not see),
 *                       sethostname, unshare every namespace but the user one, a nested user
 *                       namespace
 *
 * As init, after the shell: reboot(2) power-off (only the pid namespace's init can end that
 * way: the monitor must report the server ended by SIGINT, the host keeps running).
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
#include <sched.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/reboot.h>
#include <sys/statvfs.h>
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
	/* SYSLOG_ACTION_SIZE_BUFFER: allowed to anyone where kernel.dmesg_restrict is 0 */
	SYS("syslog", SYS_syslog, 10, NULL, 0);

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

static const char *const masked[] = {
	"/proc/kcore",
	"/proc/keys",
	"/proc/timer_list",
	"/proc/sched_debug",
	"/proc/acpi",
	"/proc/scsi",
	"/proc/latency_stats",
	"/proc/timer_stats",
	"/proc/asound",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
};

/* lxcfs's files bound over the kernel's (host-wide) views */
static const char *const lxcfs_views[] = {
	"/proc/cpuinfo", "/proc/meminfo",   "/proc/stat",  "/proc/uptime",
	"/proc/loadavg", "/proc/diskstats", "/proc/swaps", "/sys/devices/system/cpu",
};

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* a file the size of at least one byte could be read from */
static int readable(const char *path)
{
	char c;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, &c, 1) : -1;

	if (fd >= 0)
		close(fd);
	return n == 1;
}

static int dir_nonempty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n > 0;
}

/* Try umount2(path) with and without MNT_DETACH on every path; the first success escapes. */
static void try_umount(const char *name, const char *const *paths, size_t n)
{
	char detail[160] = "";

	for (size_t i = 0; i < n; i++) {
		if (access(paths[i], F_OK) < 0)
			continue;
		if (umount2(paths[i], 0) == 0 || umount2(paths[i], MNT_DETACH) == 0) {
			snprintf(detail, sizeof(detail), "unmounted %s", paths[i]);
			report(name, 1, detail);
			return;
		}
		snprintf(detail, sizeof(detail), "%s", strerror(errno));
	}
	report(name, 0, detail[0] ? detail : "nothing to try");
}

/* A remount that keeps every flag the mount has but read-only. */
static int remount_rw(const char *path)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {
		{ST_NOSUID, MS_NOSUID},		{ST_NODEV, MS_NODEV},
		{ST_NOEXEC, MS_NOEXEC},		{ST_NOATIME, MS_NOATIME},
		{ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
	};
	struct statvfs sv;
	unsigned long flags = MS_REMOUNT | MS_BIND;

	if (statvfs(path, &sv) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (sv.f_flag & map[i].st)
			flags |= map[i].ms;
	return mount(NULL, path, NULL, flags, NULL);
}

/* A fresh mount of fstype at dir: escaped when it mounts and reveal() finds a hidden path. */
static void try_fresh(const char *name, const char *fstype, const char *dir,
		      const char *const *hidden, size_t n)
{
	char detail[160];

	mkdir(dir, 0755);
	if (mount(fstype, dir, fstype, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0) {
		report(name, 0, strerror(errno));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char p[128];

		snprintf(p, sizeof(p), "%s/%s", dir, hidden[i]);
		if (is_dir(p) ? dir_nonempty(p) : readable(p)) {
			snprintf(detail, sizeof(detail), "mounted; %s visible", hidden[i]);
			umount2(dir, MNT_DETACH);
			report(name, 1, detail);
			return;
		}
	}
	umount2(dir, MNT_DETACH);
	report(name, 1, "mounted (nothing hidden readable, but the masks are gone)");
}

static const char *const proc_hidden[] = {"timer_list", "sched_debug", "keys", "kcore"};
static const char *const sys_hidden[] = {"firmware", "devices/virtual/powercap"};

static void do_mounts(void)
{
	char detail[160];
	int r;

	try_umount("unmask", masked, sizeof(masked) / sizeof(masked[0]));
	/* the kernel's host-wide meminfo, cpuinfo, ... under lxcfs's per-server views */
	try_umount("unmask-lxcfs", lxcfs_views, sizeof(lxcfs_views) / sizeof(lxcfs_views[0]));
	/* the server's own /proc, /sys, /dev and /run: umounting shows the rootfs's directories
	 * (harmless) but is the runtime's tree all the same; last, the root itself (under it: the
	 * host's initial rootfs) */
	{
		static const char *const api[] = {"/proc/sys", "/dev/pts",	 "/dev/null",
						  "/run",      "/sys/fs/cgroup", "/"};
		try_umount("umount-api", api, sizeof(api) / sizeof(api[0]));
	}

	/* move a mask away instead of unmounting it */
	close(open("/tmp/mv-file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	mkdir("/tmp/mv-dir", 0755);
	r = mount("/proc/kcore", "/tmp/mv-file", NULL, MS_MOVE, NULL);
	if (r < 0)
		r = mount("/sys/firmware", "/tmp/mv-dir", NULL, MS_MOVE, NULL);
	report("move-mask", r == 0, r == 0 ? "moved" : strerror(errno));

	/* a non-recursive bind copies /proc or /sys without the masks on it */
	mkdir("/tmp/bind-proc", 0755);
	r = mount("/proc", "/tmp/bind-proc", NULL, MS_BIND, NULL);
	snprintf(detail, sizeof(detail), "%s", r == 0 ? "bound" : strerror(errno));
	if (r == 0 && readable("/tmp/bind-proc/timer_list"))
		snprintf(detail, sizeof(detail), "bound; timer_list readable");
	if (r == 0)
		umount2("/tmp/bind-proc", MNT_DETACH);
	report("bind-proc", r == 0, detail);
	mkdir("/tmp/bind-sys", 0755);
	r = mount("/sys", "/tmp/bind-sys", NULL, MS_BIND, NULL);
	snprintf(detail, sizeof(detail), "%s", r == 0 ? "bound" : strerror(errno));
	if (r == 0 && dir_nonempty("/tmp/bind-sys/firmware"))
		snprintf(detail, sizeof(detail), "bound; /sys/firmware listed");
	if (r == 0)
		umount2("/tmp/bind-sys", MNT_DETACH);
	report("bind-sys", r == 0, detail);

	r = remount_rw("/proc/sys");
	report("remount-proc-sys-rw", r == 0, r == 0 ? "read-write now" : strerror(errno));
	r = remount_rw("/sys");
	report("remount-sys-rw", r == 0, r == 0 ? "read-write now" : strerror(errno));
	{
		/* the other read-only binds (sysrq-trigger only where the kernel has it) */
		static const char *const ro[] = {"/proc/sysrq-trigger", "/proc/irq", "/proc/bus",
						 "/proc/fs"};
		int tried = 0;

		r = -1;
		for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]) && r < 0; i++) {
			if (access(ro[i], F_OK) < 0)
				continue;
			tried++;
			r = remount_rw(ro[i]);
			snprintf(detail, sizeof(detail), "%s: %s", ro[i],
				 r == 0 ? "read-write now" : strerror(errno));
		}
		if (!tried)
			printf("remount-proc-ro-rw: NOT-RUN (none of them here)\n");
		else
			report("remount-proc-ro-rw", r == 0, detail);
	}

	try_fresh("fresh-proc", "proc", "/tmp/fresh-proc", proc_hidden,
		  sizeof(proc_hidden) / sizeof(proc_hidden[0]));
	try_fresh("fresh-sysfs", "sysfs", "/tmp/fresh-sys", sys_hidden,
		  sizeof(sys_hidden) / sizeof(sys_hidden[0]));
	mkdir("/tmp/devtmpfs", 0755);
	r = mount("devtmpfs", "/tmp/devtmpfs", "devtmpfs", 0, NULL);
	report("devtmpfs", r == 0, r == 0 ? "mounted the host's device nodes" : strerror(errno));
	if (r == 0)
		umount2("/tmp/devtmpfs", MNT_DETACH);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? write(fd, s, strlen(s)) : -1;

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* "name: ALLOWED" / "name: REFUSED (reason)" for what a system container may do in its own
 * namespaces; harm is checked elsewhere (the host's view) */
static void allowed(const char *name, int ok)
{
	printf("%s: %s%s%s%s\n", name, ok ? "ALLOWED" : "REFUSED", ok ? "" : " (",
	       ok ? "" : strerror(errno), ok ? "" : ")");
	fflush(stdout);
}

/* In a child: a nested user namespace (allowed to everyone) with its own mount namespace, where
 * it is root with every capability: the masks must still not come off. */
static void do_nested(void)
{
	char map[32];
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		uid_t uid = geteuid();
		gid_t gid = getegid();

		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
			allowed("nested-userns", 0);
			report("nested-unmask", 0, "no nested user namespace");
			report("nested-fresh-proc", 0, "no nested user namespace");
			_exit(0);
		}
		allowed("nested-userns", 1);
		snprintf(map, sizeof(map), "0 %d 1", (int)uid);
		(void)write_file("/proc/self/uid_map", map);
		(void)write_file("/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "0 %d 1", (int)gid);
		(void)write_file("/proc/self/gid_map", map);
		try_umount("nested-unmask", masked, sizeof(masked) / sizeof(masked[0]));
		try_fresh("nested-fresh-proc", "proc", "/tmp/nested-proc", proc_hidden,
			  sizeof(proc_hidden) / sizeof(proc_hidden[0]));
		fflush(stdout);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
}

/* The classic chroot escape: chroot into a subdirectory keeping the cwd outside, climb, chroot
 * again. At best it reaches the root of the mount namespace, which is the server's own root:
 * host_only (a path the host has and the rootfs does not) must stay out of reach. */
static void do_chroot(const char *host_only)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		mkdir("/tmp/jail", 0755);
		if (chdir("/") < 0 || chroot("/tmp/jail") < 0) {
			report("chroot-escape", 0, strerror(errno));
			_exit(0);
		}
		for (int i = 0; i < 64; i++)
			(void)!chdir("..");
		(void)!chroot(".");
		report("chroot-escape", access(host_only, F_OK) == 0, host_only);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
}

static void do_allowed(const char *hostname)
{
	int fd;

	mkdir("/srv/mnt", 0755);
	if (mount("probe", "/srv/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") == 0) {
		fd = open("/srv/mnt/marker", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		allowed("mount-tmpfs", fd >= 0);
		if (fd >= 0)
			close(fd);
	} else {
		allowed("mount-tmpfs", 0);
	}
	allowed("sethostname", sethostname(hostname, strlen(hostname)) == 0);
	fflush(stdout);
	if (fork() == 0) {
		allowed("unshare", unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
					   CLONE_NEWNET | CLONE_NEWCGROUP) == 0);
		_exit(0);
	}
	wait(NULL);
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
	/* only the pid namespace's init ends: pid 1 here is never the host's init */
	if (getpid() == 1 && reboot(RB_POWER_OFF) < 0) {
		report("reboot", 0, strerror(errno));
		return 0;
	}
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
	if (!strcmp(argv[1], "mounts"))
		return do_mounts(), 0;
	if (!strcmp(argv[1], "nested"))
		return do_nested(), 0;
	if (!strcmp(argv[1], "chroot") && argc == 3)
		return do_chroot(argv[2]), 0;
	if (!strcmp(argv[1], "allowed") && argc == 3)
		return do_allowed(argv[2]), 0;
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

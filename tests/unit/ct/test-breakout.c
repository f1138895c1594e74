/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hostile tenant cannot escape, in either kind of server. Tenant B (a busybox container started
 * by ct_spawn() directly, disjoint random id range) holds a secret; tenant A runs the static
 * breakout probe as init through the real carve-monitor, with carved's settings for the kind
 * (src/daemon/servers.c): real cgroups under a unique prefix (cgroup2 delegated to the server's
 * root), a lxcfs of the test's own started as src/daemon/lxcfs.c starts carved's, and
 *
 *   application  Docker's capability set, a rootfs chowned to the tenant's range (dir pool)
 *   system       CT_CAPS_SYSTEM (plus CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_BOOT in its user
 *                namespace), an unshifted rootfs given through an idmapped mount (reflink pool)
 *
 * The probe prints "name: VERDICT (detail)" for every attack: mknod (block and char), masked,
 * read-only and lxcfs-covered paths and every way around them (umount, move, non-recursive
 * bind, remount read-write, fresh proc/sysfs/devtmpfs, the same from a nested user namespace),
 * /proc/sys and sysrq, dmesg, cgroup v1 release_agent, cgroup limits and escape, the capability
 * sets, no_new_privs and a setuid-root binary, seccomp on all three x86 ABIs, host and tenant B
 * pids, fds and cwd through execve, propagation, host links, chroot and bind escapes. What a
 * system container may do in its own namespaces (mount a tmpfs, sethostname, unshare, add a
 * link) it prints as ALLOWED (REFUSED for an application container); the probe then holds while
 * the host checks the harm (mount, hostname and link invisible on the host, every server process
 * inside the server's cgroup) and writes those lines into the server for the probe to print.
 * Last, init calls reboot(2): refused to an application container, it ends only a system
 * container's pid namespace (the monitor reports SIGINT; tenant B and the host run on).
 *
 * The test asserts the exact verdict of every line in expected[] per kind and no other verdict
 * line, and checks from the host that the monitor runs from a sealed memfd (CVE-2019-5736).
 * Needs root (exits 77 otherwise) and lxcfs. Containers, cgroups, lxcfs and temp dirs are
 * removed in teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "ct/ct.h"
#include "monitor/monitor.h"

/*
 * The attack script. attack NAME CMD: CMD succeeding is an escape; CMD exiting 9 means a
 * precondition was missing (the check did not run, which fails the test too). Lines from the
 * static probe come in the same "name: VERDICT (detail)" form.
 */
static const char probe_sh[] =
	"#!/bin/sh\n"
	". /hostinfo\n"
	"attack() { n=$1; shift; \"$@\" >/dev/null 2>&1; rc=$?; if [ $rc = 0 ]; then "
	"echo \"$n: ESCAPED\"; elif [ $rc = 9 ]; then echo \"$n: NOT-RUN\"; "
	"else echo \"$n: BLOCKED\"; fi; }\n"
	/* a real block device (sd, vd, nvme, dm, loop) made and read */
	"attack mknod sh -c 'for d in \"8 0\" \"254 0\" \"259 0\" \"253 0\" \"7 0\"; do "
	"mknod /tmp/blk b $d || continue; head -c 512 /tmp/blk >/tmp/d && [ -s /tmp/d ] && exit 0; "
	"rm -f /tmp/blk; done; exit 1'\n"
	/* char devices beyond the bound null, zero, full, random, urandom, tty: mem, kmem, port,
	 * loop-control, tty1 */
	"attack mknod-char sh -c 'for d in \"1 1\" \"1 2\" \"1 4\" \"10 237\" \"4 1\"; do "
	"mknod /tmp/chr c $d || continue; head -c 1 /tmp/chr >/tmp/c && [ -s /tmp/c ] && exit 0; "
	"rm -f /tmp/chr; done; exit 1'\n"
	/* every masked path this kernel has is a mount, and stays one; so are lxcfs's views */
	"attack masks sh -c 'for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug "
	"/proc/acpi /proc/scsi /sys/firmware /proc/meminfo /proc/cpuinfo /proc/stat /proc/uptime; do "
	"[ -e $f ] || continue; grep -q \" $f \" /proc/self/mountinfo || exit 0; done; exit 1'\n"
	"attack kcore sh -c 'head -c 64 /proc/kcore >/tmp/k; [ -s /tmp/k ]'\n"
	"attack mask-proc sh -c 'for f in /proc/keys /proc/timer_list /proc/sched_debug "
	"/proc/latency_stats; do [ -e $f ] && [ -n \"$(head -c 1 $f)\" ] && exit 0; done; exit 1'\n"
	"attack proc-sys sh -c 'echo evil > /proc/sys/kernel/hostname'\n"
	"attack proc-sys-global sh -c 'echo 1 > /proc/sys/kernel/panic_on_oops || "
	"echo 0 > /proc/sys/vm/overcommit_memory'\n"
	"attack proc-sys-ro sh -c '! grep -q \" /proc/sys ro,\" /proc/self/mountinfo'\n"
	/* 'h' (help) rather than 'b': proves writability without rebooting the host if it leaks */
	"attack sysrq sh -c 'echo h > /proc/sysrq-trigger'\n"
	"attack sys-write sh -c 'touch /sys/kernel/uevent_helper'\n"
	"attack sys-ro sh -c '! grep -q \" /sys ro,\" /proc/self/mountinfo'\n"
	"attack mask-sys-firmware sh -c '[ -n \"$(ls -A /sys/firmware)\" ]'\n"
	"attack dmesg sh -c '[ -n \"$(dmesg | head -c 1)\" ]'\n"
	/* CVE-2022-0492: release_agent of an existing v1 hierarchy or of a new named one */
	"attack release-agent sh -c 'mkdir -p /tmp/cg; for c in rdma memory none,name=carvebrk$RAND; "
	"do mount -t cgroup -o $c cgroup /tmp/cg || continue; echo /evil > /tmp/cg/release_agent "
	"&& exit 0; umount /tmp/cg; done; exit 1'\n"
	/* the delegated cgroup is the server's own: its limits are the host's to set. cgroup2 as
	 * mounted by the runtime and fresh, and the v1 hierarchies mounted fresh */
	"mkdir -p /tmp/cg2 /tmp/cgv1/memory /tmp/cgv1/pids /tmp/cgv1/cpu\n"
	"mount -t cgroup2 none /tmp/cg2 2>/dev/null\n"
	"for c in memory pids cpu; do mount -t cgroup -o $c cgroup /tmp/cgv1/$c 2>/dev/null; done\n"
	"attack cgroup-limits sh -c 'tried=0; for f in /sys/fs/cgroup/*.max /sys/fs/cgroup/cgroup.max.* "
	"/tmp/cg2/*.max /tmp/cg2/cgroup.max.* /tmp/cgv1/memory/memory.limit_in_bytes "
	"/tmp/cgv1/pids/pids.max /tmp/cgv1/cpu/cpu.cfs_quota_us; do [ -e $f ] || continue; "
	"tried=1; case $f in *_us|*_bytes) v=-1;; *) v=max;; esac; echo $v > $f && exit 0; done; "
	"[ $tried = 1 ] || exit 9; exit 1'\n"
	/* this shell moves itself wherever it can (the host checks where it ended up) */
	"for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/../cgroup.procs /tmp/cg2/cgroup.procs "
	"/tmp/cgv1/*/cgroup.procs /tmp/cgv1/*/../cgroup.procs; do [ -e $f ] && echo $$ > $f; "
	"done 2>/dev/null\n"
	"attack cgroup-escape sh -c '[ -e /sys/fs/cgroup/cgroup.procs ] || exit 9; "
	"grep -q \"/\\.\\.\" /proc/'$$'/cgroup'\n"
	"attack capbnd sh -c '! grep -q \"^CapBnd:.$CAPS$\" /proc/self/status'\n"
	"attack init-capeff sh -c '! grep -q \"^CapEff:.$CAPS$\" /proc/1/status'\n"
	"attack capamb sh -c '! grep -q \"^CapAmb:.0000000000000000$\" /proc/self/status'\n"
	"attack no-new-privs sh -c '! grep -q \"^NoNewPrivs:.1$\" /proc/self/status'\n"
	"attack seccomp-mode sh -c '! grep -q \"^Seccomp:.2$\" /proc/self/status'\n"
	"attack uid-map sh -c 'set -- $(cat /proc/self/uid_map); "
	"[ \"$1 $2 $3\" != \"0 $BASE 65536\" ] || [ \"$2\" = 0 ]'\n"
	"attack propagation grep -q -e shared: -e master: /proc/self/mountinfo\n"
	"attack host-pids sh -c '[ $(ls -d /proc/[0-9]* | wc -l) -gt 20 ] || "
	"! grep -q probe /proc/1/cmdline'\n"
	"attack tenant-b sh -c 'for d in /proc/[0-9]* /proc/$B_PID; do "
	"[ -r $d/root/secret-b ] && exit 0; done; exit 1'\n"
	/* the host's links are not in the server's network namespace, by name or in a list */
	"attack net-links sh -c '[ -n \"$HOST_LINKS\" ] || exit 9; for l in $HOST_LINKS; do "
	"ip link show dev $l && exit 0; [ -e /sys/class/net/$l ] && exit 0; done; "
	"ip link | grep -q -e \" $HOST_LINK1:\" -e \" $HOST_LINK1@\"'\n"
	/* a bind of init's root (or a recursive one of /) shows the server's root, nothing more */
	"attack bind-root sh -c 'mkdir -p /tmp/r; for s in /proc/1/root /proc/self/root; do "
	"for o in --bind --rbind; do mount $o $s /tmp/r || continue; [ -e /tmp/r$HOST_ONLY ] && "
	"exit 0; umount -l /tmp/r; done; done; exit 1'\n"
	"/probe chroot $HOST_ONLY\n"
	"/probe mounts\n"
	"/probe nested\n"
	"/probe syscalls\n"
	"/probe setuid\n"
	"/probe ptrace $B_PID\n"
	/* allowed to a system container in its own namespaces; the host checks the harm */
	"/probe allowed carve-evil-$RAND\n"
	"if ip link add cvb$RAND type veth 2>/dev/null; then echo 'net-link-add: ALLOWED'; "
	"else echo 'net-link-add: REFUSED'; fi\n"
	/* hold everything in place while the host looks, then print what it saw */
	"touch /tmp/hold\n"
	"while [ ! -e /tmp/go2 ]; do usleep 10000; done\n"
	"cat /tmp/host-checks\n";

enum verdict {
	BLOCKED, /* an attack that must fail, or a harm the host must not see */
	ALLOWED, /* a system container's right in its own namespaces */
	REFUSED, /* the same, refused to an application container */
	ABSENT, /* no line (a system container's init ends at reboot(2) before printing) */
};

static const char *const verdict_names[] = {"BLOCKED", "ALLOWED", "REFUSED", "ABSENT"};

/* every line the probe (and the host, through /tmp/host-checks) must print, per kind: a check
 * that silently did not run fails the test */
static const struct expect {
	const char *name;
	enum verdict application, system;
} expected[] = {
	{"fds", BLOCKED, BLOCKED},
	{"cwd", BLOCKED, BLOCKED},
	{"mknod", BLOCKED, BLOCKED},
	{"mknod-char", BLOCKED, BLOCKED},
	{"masks", BLOCKED, BLOCKED},
	{"kcore", BLOCKED, BLOCKED},
	{"mask-proc", BLOCKED, BLOCKED},
	{"proc-sys", BLOCKED, BLOCKED},
	{"proc-sys-global", BLOCKED, BLOCKED},
	{"proc-sys-ro", BLOCKED, BLOCKED},
	{"sysrq", BLOCKED, BLOCKED},
	{"sys-write", BLOCKED, BLOCKED},
	{"sys-ro", BLOCKED, BLOCKED},
	{"mask-sys-firmware", BLOCKED, BLOCKED},
	{"dmesg", BLOCKED, BLOCKED},
	{"release-agent", BLOCKED, BLOCKED},
	{"cgroup-limits", BLOCKED, BLOCKED},
	{"cgroup-escape", BLOCKED, BLOCKED},
	{"capbnd", BLOCKED, BLOCKED},
	{"init-capeff", BLOCKED, BLOCKED},
	{"capamb", BLOCKED, BLOCKED},
	{"no-new-privs", BLOCKED, BLOCKED},
	{"seccomp-mode", BLOCKED, BLOCKED},
	{"uid-map", BLOCKED, BLOCKED},
	{"propagation", BLOCKED, BLOCKED},
	{"host-pids", BLOCKED, BLOCKED},
	{"tenant-b", BLOCKED, BLOCKED},
	{"net-links", BLOCKED, BLOCKED},
	{"bind-root", BLOCKED, BLOCKED},
	{"chroot-escape", BLOCKED, BLOCKED},
	{"unmask", BLOCKED, BLOCKED},
	{"unmask-lxcfs", BLOCKED, BLOCKED},
	{"umount-api", BLOCKED, BLOCKED},
	{"move-mask", BLOCKED, BLOCKED},
	{"bind-proc", BLOCKED, BLOCKED},
	{"bind-sys", BLOCKED, BLOCKED},
	{"remount-proc-sys-rw", BLOCKED, BLOCKED},
	{"remount-sys-rw", BLOCKED, BLOCKED},
	{"remount-proc-ro-rw", BLOCKED, BLOCKED},
	{"fresh-proc", BLOCKED, BLOCKED},
	{"fresh-sysfs", BLOCKED, BLOCKED},
	{"devtmpfs", BLOCKED, BLOCKED},
	{"nested-userns", ALLOWED, ALLOWED},
	{"nested-unmask", BLOCKED, BLOCKED},
	{"nested-fresh-proc", BLOCKED, BLOCKED},
	{"sys-keyctl", BLOCKED, BLOCKED},
	{"sys-add_key", BLOCKED, BLOCKED},
	{"sys-request_key", BLOCKED, BLOCKED},
	{"sys-bpf", BLOCKED, BLOCKED},
	{"sys-perf_event_open", BLOCKED, BLOCKED},
	{"sys-userfaultfd", BLOCKED, BLOCKED},
	{"sys-io_uring_setup", BLOCKED, BLOCKED},
	{"sys-kexec_load", BLOCKED, BLOCKED},
	{"sys-init_module", BLOCKED, BLOCKED},
	{"sys-finit_module", BLOCKED, BLOCKED},
	{"sys-open_by_handle_at", BLOCKED, BLOCKED},
	{"sys-name_to_handle_at", BLOCKED, BLOCKED},
	{"sys-swapon", BLOCKED, BLOCKED},
	{"sys-clock_settime", BLOCKED, BLOCKED},
	{"sys-quotactl", BLOCKED, BLOCKED},
	{"sys-fanotify_init", BLOCKED, BLOCKED},
	{"sys-acct", BLOCKED, BLOCKED},
	{"sys-syslog", BLOCKED, BLOCKED},
	{"sys-personality", BLOCKED, BLOCKED},
	{"personality-query", BLOCKED, BLOCKED},
	{"i386-keyctl", BLOCKED, BLOCKED},
	{"i386-bpf", BLOCKED, BLOCKED},
	{"i386-io_uring_setup", BLOCKED, BLOCKED},
	{"sys-x32-keyctl", BLOCKED, BLOCKED},
	{"sys-x32-bpf", BLOCKED, BLOCKED},
	{"sys-x32-io_uring_setup", BLOCKED, BLOCKED},
	{"setuid", BLOCKED, BLOCKED},
	{"ptrace-host", BLOCKED, BLOCKED},
	{"mount-tmpfs", REFUSED, ALLOWED},
	{"sethostname", REFUSED, ALLOWED},
	{"unshare", REFUSED, ALLOWED},
	{"net-link-add", REFUSED, ALLOWED},
	/* the host's view, written into the server while it holds its mounts, name and links */
	{"host-mount-tmpfs", BLOCKED, BLOCKED},
	{"host-hostname", BLOCKED, BLOCKED},
	{"host-net-link", BLOCKED, BLOCKED},
	{"host-cgroup", BLOCKED, BLOCKED},
	/* after the script: reboot(2) as init (a system container's init just ends) */
	{"reboot", BLOCKED, ABSENT},
};

static const char *const applets[] = {
	"sh",	 "sleep", "cat",   "echo", "mknod", "head", "umount", "mount", "grep",
	"touch", "ls",	  "mkdir", "wc",   "kill",  "rm",   "ip",     "dmesg", "usleep",
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* One kind of server run through the monitor: the daemon's settings for it. */
struct kind {
	const char *name; /* "application" or "system" */
	const char *server; /* hostname and server cgroup */
	bool system; /* CT_CAPS_SYSTEM: CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_BOOT */
	bool idmap; /* the rootfs is unshifted on disk (a reflink pool's volume) */
	const char *caps; /* the bounding set init must have */
};

static const struct kind application = {
	.name = "application",
	.server = "tenant-a-app",
	.caps = "00000000a80425fb",
};

static const struct kind system_kind = {
	.name = "system",
	.server = "tenant-a-sys",
	.system = true,
	.idmap = true,
	.caps = "00000000a86435fb",
};

static char tmp[PATH_MAX], lxcfs_dir[PATH_MAX], cg_prefix[64], host_name[256];
static const char *monitor_binary, *probe_binary;
static uid_t base_a, base_b, chown_base;
static uint32_t rand_tag;
static pid_t pids[8], lxcfs_pid, b_pid;
static size_t n_pids;

static void remember(pid_t pid)
{
	if (pid > 0 && n_pids < ELEMENTSOF(pids))
		pids[n_pids++] = pid;
}

static void write_file(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(loop_write(fd, s, strlen(s)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	cleanup_free char *data = NULL;
	size_t len = 0;
	int fd;

	assert_int_equal(read_full_file(from, 64 << 20, &data, &len), 0);
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(loop_write(fd, data, len), 0);
	close(fd);
}

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return lchown(path, chown_base + st->st_uid, chown_base + st->st_gid) < 0 ? -1 : 0;
}

/* A busybox rootfs at tmp/name owned by the range at base (0: unshifted, for an idmapped root). */
static void build_rootfs(const char *name, uid_t base, char *root, size_t n)
{
	static const char *const dirs[] = {"bin", "proc", "sys", "dev", "etc", "tmp", "run", "srv"};
	char p[PATH_MAX];

	snprintf(root, n, "%s/%s", tmp, name);
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
		assert_int_equal(mkdir_p(p, 0755), 0);
	}
	snprintf(p, sizeof(p), "%s/tmp", root);
	assert_int_equal(chmod(p, 01777), 0);
	snprintf(p, sizeof(p), "%s/bin/busybox", root);
	copy_file("/bin/busybox", p, 0755);
	for (size_t i = 0; i < ELEMENTSOF(applets); i++) {
		snprintf(p, sizeof(p), "%s/bin/%s", root, applets[i]);
		assert_int_equal(symlink("busybox", p), 0);
	}
	chown_base = base;
	assert_int_equal(nftw(root, chown_one, 16, FTW_PHYS), 0);
}

static bool is_fuse(const char *dir)
{
	struct statfs sf;

	return statfs(dir, &sf) == 0 && sf.f_type == 0x65735546 /* FUSE_SUPER_MAGIC */;
}

/* carved's lxcfs, started the way src/daemon/lxcfs.c does (one instance for every server) */
static int start_lxcfs(void)
{
	char pidfile[PATH_MAX];

	snprintf(lxcfs_dir, sizeof(lxcfs_dir), "%s/lxcfs", tmp);
	snprintf(pidfile, sizeof(pidfile), "%s/lxcfs.pid", tmp);
	if (mkdir(lxcfs_dir, 0755) < 0)
		return -1;
	lxcfs_pid = fork();
	if (lxcfs_pid < 0)
		return -1;
	if (lxcfs_pid == 0) {
		int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0)
			_exit(127);
		execl("/usr/bin/lxcfs", "lxcfs", "-f", "-l", "--enable-cfs", "-p", pidfile,
		      lxcfs_dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !is_fuse(lxcfs_dir); i++)
		usleep(10 * 1000);
	return is_fuse(lxcfs_dir) ? 0 : -1;
}

/* Tenant B: a sleeping container with a secret, started by ct_spawn() itself. */
static pid_t start_tenant_b(void)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char root[PATH_MAX], p[PATH_MAX];
	char *argv[] = {"/bin/sleep", "1000", NULL};
	struct ct_config cfg;
	pid_t pid = 0;

	build_rootfs("rootfs-b", base_b, root, sizeof(root));
	snprintf(p, sizeof(p), "%s/secret-b", root);
	write_file(p, "tenant b secret\n", 0644);
	assert_int_equal(chown(p, base_b, base_b), 0);
	cfg = (struct ct_config){
		.hostname = "tenant-b",
		.rootfs = root,
		.argv = argv,
		.uid_base = base_b,
		.gid_base = base_b,
		.id_count = CT_ID_RANGE,
		.stdio_fd = -1,
	};
	if (ct_spawn(&cfg, &pid, &err) < 0)
		fail_msg("tenant b: %s", err.msg);
	remember(pid);
	return pid;
}

static int setup(void **state)
{
	uint32_t r;

	monitor_binary = getenv("CARVE_MONITOR");
	probe_binary = getenv("BREAKOUT_PROBE");
	if (!monitor_binary || !probe_binary)
		return -1;
	if (access("/usr/bin/lxcfs", X_OK) < 0) {
		fprintf(stderr, "lxcfs is missing (scripts/deps.sh installs it)\n");
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "/tmp/carve-test-breakout-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	/* private: the rootfs holds a setuid-root copy of the probe (root of the container, and
	 * of the host in the unshifted rootfs); the runtime enters it as host root */
	chmod(tmp, 0700);
	random_bytes(&r, sizeof(r));
	base_a = 1000000 + (r % 1000) * 2 * CT_ID_RANGE;
	base_b = base_a + CT_ID_RANGE;
	random_bytes(&rand_tag, sizeof(rand_tag));
	rand_tag %= 100000;
	snprintf(cg_prefix, sizeof(cg_prefix), "carve-test-breakout-%d", (int)getpid());
	if (gethostname(host_name, sizeof(host_name)) < 0)
		return -1;
	if (start_lxcfs() < 0) {
		fprintf(stderr, "lxcfs did not mount at '%s'\n", lxcfs_dir);
		return -1;
	}
	b_pid = start_tenant_b();
	return 0;
}

static void remove_cgroups(void)
{
	static const char *const servers[] = {"tenant-a-app", "tenant-a-sys"};
	cleanup_closedir DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *de;
	char p[PATH_MAX];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		for (size_t s = 0; s < ELEMENTSOF(servers); s++) {
			snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s/a/%s", de->d_name, cg_prefix,
				 servers[s]);
			(void)rmdir(p);
		}
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s/a", de->d_name, cg_prefix);
		(void)rmdir(p);
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", de->d_name, cg_prefix);
		(void)rmdir(p);
	}
}

static int teardown(void **state)
{
	for (size_t i = 0; i < n_pids; i++)
		(void)kill(pids[i], SIGKILL);
	for (size_t i = 0; i < n_pids; i++)
		(void)waitpid(pids[i], NULL, 0);
	usleep(100 * 1000);
	remove_cgroups();
	/* detached first: a FUSE daemon killed under its mount leaves it answering ENOTCONN */
	if (lxcfs_dir[0])
		(void)umount2(lxcfs_dir, MNT_DETACH);
	if (lxcfs_pid > 0) {
		(void)kill(lxcfs_pid, SIGKILL);
		(void)waitpid(lxcfs_pid, NULL, 0);
	}
	if (tmp[0])
		rm_rf(tmp);
	return 0;
}

/* The host's network links (read only: the test never touches them). */
static void host_links(char *buf, size_t n, char *first, size_t first_n)
{
	cleanup_closedir DIR *d = opendir("/sys/class/net");
	struct dirent *de;

	buf[0] = first[0] = '\0';
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || streq(de->d_name, "lo"))
			continue;
		if (!first[0])
			snprintf(first, first_n, "%s", de->d_name);
		if (strlen(buf) + strlen(de->d_name) + 2 < n)
			snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? " " : "",
				 de->d_name);
	}
}

static void prepare_tenant_a(const struct kind *k, char *root, size_t n)
{
	char p[PATH_MAX], info[1024], links[512], first[64];
	uid_t owner = k->idmap ? 0 : base_a;

	snprintf(p, sizeof(p), "rootfs-%s", k->name);
	build_rootfs(p, k->idmap ? 0 : base_a, root, n);
	snprintf(p, sizeof(p), "%s/probe", root);
	copy_file(probe_binary, p, 0755);
	assert_int_equal(chown(p, owner, owner), 0);
	/* a setuid-root (container root) copy: chown first, it clears the bit */
	snprintf(p, sizeof(p), "%s/probe-suid", root);
	copy_file(probe_binary, p, 0755);
	assert_int_equal(chown(p, owner, owner), 0);
	assert_int_equal(chmod(p, 04755), 0);
	snprintf(p, sizeof(p), "%s/probe.sh", root);
	write_file(p, probe_sh, 0755);
	host_links(links, sizeof(links), first, sizeof(first));
	snprintf(info, sizeof(info),
		 "export B_PID=%d BASE=%u CAPS=%s RAND=%u HOST_ONLY=/usr HOST_LINKS='%s' "
		 "HOST_LINK1='%s'\n",
		 (int)b_pid, base_a, k->caps, rand_tag, links, first);
	snprintf(p, sizeof(p), "%s/hostinfo", root);
	write_file(p, info, 0644);
}

/* CVE-2019-5736: the monitor runs from a sealed memfd, not from the binary on disk. */
static void assert_monitor_sealed(pid_t mon)
{
	char p[64], target[PATH_MAX] = "";
	ssize_t n;
	int fd, seals;

	snprintf(p, sizeof(p), "/proc/%d/exe", (int)mon);
	n = readlink(p, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	if (strncmp(target, "/memfd:carve-monitor", strlen("/memfd:carve-monitor")) != 0)
		fail_msg("monitor exe is '%s', not a memfd", target);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	seals = fcntl(fd, F_GET_SEALS);
	close(fd);
	assert_true(seals >= 0);
	assert_int_equal(seals & (F_SEAL_SEAL | F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK),
			 F_SEAL_SEAL | F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK);
	/* even host root cannot write through /proc/<monitor>/exe */
	assert_int_equal(open(p, O_WRONLY | O_CLOEXEC), -1);
}

static bool same_ns(pid_t a, pid_t b, const char *ns)
{
	char pa[64], pb[64];
	struct stat sa, sb;

	snprintf(pa, sizeof(pa), "/proc/%d/ns/%s", (int)a, ns);
	snprintf(pb, sizeof(pb), "/proc/%d/ns/%s", (int)b, ns);
	return stat(pa, &sa) == 0 && stat(pb, &sb) == 0 && sa.st_ino == sb.st_ino &&
	       sa.st_dev == sb.st_dev;
}

/*
 * host-cgroup: every process of the server (its pid namespace, seen from the host) is, in every
 * hierarchy where init was placed in the server's cgroup, still at or below that cgroup.
 */
static void check_cgroups(const struct kind *k, pid_t init, char *out, size_t n)
{
	cleanup_closedir DIR *d = opendir("/proc");
	struct dirent *de;
	char server[PATH_MAX], p[64], detail[256] = "";
	size_t tasks = 0, hiers = 0;
	bool escaped = false;

	snprintf(server, sizeof(server), "/%s/a/%s", cg_prefix, k->server);
	while (d && (de = readdir(d))) {
		cleanup_free char *cg = NULL;
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		size_t h = 0;

		if (*end || pid <= 0 || !same_ns((pid_t)pid, init, "pid"))
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/cgroup", pid);
		if (read_full_file(p, 1 << 16, &cg, NULL) < 0)
			continue;
		tasks++;
		for (char *line = cg, *nl; line && *line; line = nl ? nl + 1 : NULL) {
			char *path = strchr(line, ':');

			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			path = path ? strchr(path + 1, ':') : NULL;
			if (!path || !strstr(line, cg_prefix))
				continue; /* a hierarchy carve does not manage (name=systemd) */
			path++;
			h++;
			if (strncmp(path, server, strlen(server)) != 0 ||
			    (path[strlen(server)] != '\0' && path[strlen(server)] != '/')) {
				escaped = true;
				snprintf(detail, sizeof(detail), "pid %ld in %s", pid, path);
			}
		}
		hiers = h > hiers ? h : hiers;
	}
	if (!escaped)
		snprintf(detail, sizeof(detail), "%zu processes, %zu hierarchies", tasks, hiers);
	snprintf(out, n, "host-cgroup: %s (%s)\n",
		 escaped		  ? "ESCAPED"
		 : tasks < 2 || hiers < 2 ? "NOT-RUN"
					  : "BLOCKED",
		 detail);
}

/* While the probe holds its mounts, hostname and links: what the host sees of them. */
static void host_checks(const struct kind *k, const char *root, pid_t init)
{
	char p[PATH_MAX], name[256] = "", link[32], lines[1024], cg[512];
	bool marker, renamed, link_seen;

	snprintf(p, sizeof(p), "%s/srv/mnt/marker", root);
	marker = access(p, F_OK) == 0;
	renamed = gethostname(name, sizeof(name)) < 0 || !streq(name, host_name);
	snprintf(link, sizeof(link), "cvb%u", rand_tag);
	link_seen = if_nametoindex(link) != 0;
	check_cgroups(k, init, cg, sizeof(cg));
	snprintf(lines, sizeof(lines),
		 "host-mount-tmpfs: %s\nhost-hostname: %s (%s)\nhost-net-link: %s\n%s",
		 marker ? "ESCAPED" : "BLOCKED", renamed ? "ESCAPED" : "BLOCKED", name,
		 link_seen ? "ESCAPED" : "BLOCKED", cg);
	snprintf(p, sizeof(p), "%s/tmp/host-checks", root);
	write_file(p, lines, 0644);
}

/* Every expected line, with the kind's verdict; nothing ESCAPED, NOT-RUN or unexpected. */
static void assert_verdicts(const struct kind *k, const char *console)
{
	size_t lines = 0, want = 0;

	for (const char *line = console; *line;) {
		const char *end = strchrnul(line, '\n');
		size_t len = (size_t)(end - line);

		const char *colon = memmem(line, len, ": ", 2);

		/* "name: VERDICT" or "name: VERDICT (detail)" */
		for (size_t v = 0; colon && v < ELEMENTSOF(verdict_names); v++) {
			size_t vl = strlen(verdict_names[v]);
			const char *w = colon + 2;

			if ((size_t)(end - w) >= vl && strncmp(w, verdict_names[v], vl) == 0 &&
			    (w + vl == end || w[vl] == ' '))
				lines++;
		}
		if (memmem(line, len, ": ESCAPED", 9) || memmem(line, len, ": NOT-RUN", 9)) {
			fprintf(stderr, "console:\n%s", console);
			fail_msg("%s: %.*s", k->name, (int)len, line);
		}
		line = *end ? end + 1 : end;
	}
	for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
		enum verdict v = k->system ? expected[i].system : expected[i].application;
		char needle[96];
		const char *at;

		snprintf(needle, sizeof(needle), "\n%s: ", expected[i].name);
		at = strstr(console, needle);
		if (v == ABSENT) {
			if (at) {
				fprintf(stderr, "console:\n%s", console);
				fail_msg("%s: unexpected '%s' line", k->name, expected[i].name);
			}
			continue;
		}
		want++;
		snprintf(needle, sizeof(needle), "\n%s: %s", expected[i].name, verdict_names[v]);
		if (!strstr(console, needle)) {
			fprintf(stderr, "console:\n%s", console);
			fail_msg("%s: no '%s: %s' line", k->name, expected[i].name,
				 verdict_names[v]);
		}
	}
	if (lines != want) {
		fprintf(stderr, "console:\n%s", console);
		fail_msg("%s: %zu verdict lines, %zu expected", k->name, lines, want);
	}
	if (!strstr(console, "probe: done (sh status 0)")) {
		fprintf(stderr, "console:\n%s", console);
		fail_msg("%s: the probe script did not finish", k->name);
	}
}

/* console.log has CRLF line ends: plain lines, with a leading newline for the searches */
static char *plain_lines(const char *raw)
{
	size_t n = strlen(raw);
	char *out = malloc(n + 2), *w = out;

	assert_non_null(out);
	*w++ = '\n';
	for (const char *r = raw; *r; r++)
		if (*r != '\r')
			*w++ = *r;
	*w = '\0';
	return out;
}

static void run_kind(const struct kind *k)
{
	long t0 = now_ms(), t_launch, t_hold, t_exit;
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_status st;
	struct monitor_config cfg;
	char root[PATH_MAX], dir[PATH_MAX], p[PATH_MAX], name[256] = "";
	cleanup_free char *raw = NULL, *console = NULL;
	pid_t mon = 0, init = 0;
	int i;

	prepare_tenant_a(k, root, sizeof(root));
	snprintf(dir, sizeof(dir), "%s/run-%s", tmp, k->name);
	/* what carved's servers_start() gives a server of this kind (src/daemon/servers.c) */
	cfg = (struct monitor_config){
		.server_id = "0123456789abcdef0123456789abcdef",
		.server_name = k->server,
		.tenant_name = "a",
		.rootfs = root,
		.init = "/probe init",
		.stop_signal = SIGTERM,
		.uid_base = base_a,
		.vcpus = 1,
		.memory = 256ULL << 20,
		.pids_max = 512,
		.cgroup_root = "/sys/fs/cgroup",
		.cgroup_prefix = cg_prefix,
		.idmap_rootfs = k->idmap,
		.system = k->system,
		.lxcfs_dir = lxcfs_dir,
	};
	if (monitor_launch(monitor_binary, -EBADF, dir, &cfg, 10000, &mon, &init, &err) < 0)
		fail_msg("launch %s: %s", k->name, err.msg);
	remember(init);
	remember(mon);
	assert_monitor_sealed(mon);
	t_launch = now_ms();

	/* release the probe, let it attack, look from the host while it holds */
	snprintf(p, sizeof(p), "%s/tmp/go", root);
	write_file(p, "", 0644);
	snprintf(p, sizeof(p), "%s/tmp/hold", root);
	for (i = 0; i < 3000 && access(p, F_OK) < 0 && kill(init, 0) == 0; i++)
		usleep(10 * 1000);
	if (access(p, F_OK) < 0) {
		snprintf(p, sizeof(p), "%s/console.log", dir);
		(void)read_full_file(p, 1 << 20, &raw, NULL);
		fail_msg("%s: the probe never reached its hold point:\n%s", k->name,
			 raw ? raw : "");
	}
	t_hold = now_ms();
	host_checks(k, root, init);
	snprintf(p, sizeof(p), "%s/tmp/go2", root);
	write_file(p, "", 0644);

	if (monitor_wait(dir, 60000, &st, &err) < 0)
		fail_msg("wait %s: %s", k->name, err.msg);
	assert_true(st.exited);
	t_exit = now_ms();
	snprintf(p, sizeof(p), "%s/console.log", dir);
	assert_int_equal(read_full_file(p, 1 << 20, &raw, NULL), 0);
	console = plain_lines(raw);
	fprintf(stderr, "%s: %ld ms (launch %ld, attacks %ld, host checks and exit %ld)\n", k->name,
		t_exit - t0, t_launch - t0, t_hold - t_launch, t_exit - t_hold);
	fprintf(stderr, "--- %s container: what the probe and the host saw ---%s", k->name,
		console);
	assert_verdicts(k, console);

	if (k->system) {
		/* reboot(2) ended the server's pid namespace (its init, by SIGINT) and nothing
		 * else: the monitor reports the server stopped, tenant B and the host run on */
		if (st.exit_signal != SIGINT)
			fail_msg("system: init ended with status %d signal %d, not by reboot(2)'s "
				 "SIGINT",
				 st.exit_status, st.exit_signal);
		fprintf(stderr, "reboot: BLOCKED (only the server's pid namespace ended, by "
				"SIGINT)\n");
	} else {
		assert_int_equal(st.exit_signal, 0);
		assert_int_equal(st.exit_status, 0);
	}
	assert_int_equal(kill(b_pid, 0), 0);
	assert_int_equal(gethostname(name, sizeof(name)), 0);
	assert_string_equal(name, host_name);
}

static void test_application_contained(void **state)
{
	run_kind(&application);
}

static void test_system_contained(void **state)
{
	run_kind(&system_kind);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_application_contained),
		cmocka_unit_test(test_system_contained),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

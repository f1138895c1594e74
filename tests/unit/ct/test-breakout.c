/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hostile tenant cannot escape. Two busybox containers of two tenants (disjoint random id
 * ranges): tenant B runs ct_spawn() directly and holds a secret file; tenant A runs through the
 * real carve-monitor with the static breakout probe as init, which reports "name: BLOCKED" or
 * "name: ESCAPED" for every attack (mknod, masked and read-only /proc, read-only /sys, the seccomp
 * deny-list on all three x86 ABIs, the capability bounding set, no_new_privs and a setuid-root
 * binary, host and tenant B pids, fds and cwd through execve, cgroup v1 release_agent, mount
 * propagation). The test asserts every expected line is there and says BLOCKED, and checks from
 * the host that the monitor runs from a sealed memfd (CVE-2019-5736).
 *
 * Needs root: exits 77 (skipped) otherwise. Containers and temp dirs are removed in teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "ct/ct.h"
#include "monitor/monitor.h"

static const char probe_sh[] =
	"#!/bin/sh\n"
	". /hostinfo\n"
	"attack() { n=$1; shift; if \"$@\" >/dev/null 2>&1; then echo \"$n: ESCAPED\"; "
	"else echo \"$n: BLOCKED\"; fi; }\n"
	"attack mknod sh -c 'mknod /dev/sda b 8 0 && head -c 512 /dev/sda >/tmp/d && [ -s /tmp/d ]'\n"
	/* every masked path this kernel has is a mount, and stays one */
	"attack masks sh -c 'for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug "
	"/proc/acpi /proc/scsi /sys/firmware; do [ -e $f ] || continue; "
	"grep -q \" $f \" /proc/self/mountinfo || exit 0; done; exit 1'\n"
	"attack unmask sh -c 'for f in /proc/kcore /proc/timer_list /proc/keys /sys/firmware; do "
	"[ -e $f ] && umount $f && exit 0; done; exit 1'\n"
	"attack kcore sh -c 'head -c 64 /proc/kcore >/tmp/k; [ -s /tmp/k ]'\n"
	"attack mask-proc sh -c 'for f in /proc/keys /proc/timer_list /proc/sched_debug "
	"/proc/latency_stats; do [ -e $f ] && [ -n \"$(head -c 1 $f)\" ] && exit 0; done; exit 1'\n"
	"attack proc-sys sh -c 'echo evil > /proc/sys/kernel/hostname'\n"
	"attack proc-sys-ro sh -c '! grep -q \" /proc/sys ro,\" /proc/self/mountinfo'\n"
	/* 'h' (help) rather than 'b': proves writability without rebooting the host if it leaks */
	"attack sysrq sh -c 'echo h > /proc/sysrq-trigger'\n"
	"attack sys-write sh -c 'touch /sys/kernel/uevent_helper'\n"
	"attack sys-ro sh -c '! grep -q \" /sys ro,\" /proc/self/mountinfo'\n"
	"attack mask-sys-firmware sh -c '[ -n \"$(ls -A /sys/firmware)\" ]'\n"
	"attack release-agent sh -c 'mkdir -p /tmp/cg; for c in rdma memory; do "
	"mount -t cgroup -o $c cgroup /tmp/cg || continue; echo /evil > /tmp/cg/release_agent "
	"&& exit 0; umount /tmp/cg; done; exit 1'\n"
	"attack capbnd sh -c '! grep -q \"^CapBnd:.00000000a80425fb$\" /proc/self/status'\n"
	"attack init-capeff sh -c '! grep -q \"^CapEff:.00000000a80425fb$\" /proc/1/status'\n"
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
	"/probe syscalls\n"
	"/probe setuid\n"
	"/probe ptrace $B_PID\n";

/* every line the probe must print (a check that silently did not run fails the test) */
static const char *const expected[] = {
	"fds",
	"cwd",
	"mknod",
	"masks",
	"unmask",
	"kcore",
	"mask-proc",
	"proc-sys",
	"proc-sys-ro",
	"sysrq",
	"sys-write",
	"sys-ro",
	"mask-sys-firmware",
	"release-agent",
	"capbnd",
	"init-capeff",
	"capamb",
	"no-new-privs",
	"seccomp-mode",
	"uid-map",
	"propagation",
	"host-pids",
	"tenant-b",
	"sys-keyctl",
	"sys-add_key",
	"sys-request_key",
	"sys-bpf",
	"sys-perf_event_open",
	"sys-userfaultfd",
	"sys-io_uring_setup",
	"sys-kexec_load",
	"sys-init_module",
	"sys-finit_module",
	"sys-open_by_handle_at",
	"sys-name_to_handle_at",
	"sys-swapon",
	"sys-clock_settime",
	"sys-quotactl",
	"sys-fanotify_init",
	"sys-acct",
	"sys-personality",
	"personality-query",
	"i386-keyctl",
	"i386-bpf",
	"i386-io_uring_setup",
	"sys-x32-keyctl",
	"sys-x32-bpf",
	"sys-x32-io_uring_setup",
	"setuid",
	"ptrace-host",
};

static const char *const applets[] = {"sh",    "sleep", "cat",	 "echo", "mknod", "head", "umount",
				      "mount", "grep",	"touch", "ls",	 "mkdir", "wc",	  "kill"};

static char tmp[PATH_MAX];
static const char *monitor_binary, *probe_binary;
static uid_t base_a, base_b, chown_base;
static pid_t pids[8];
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

/* A busybox rootfs at tmp/name owned by the range at base. */
static void build_rootfs(const char *name, uid_t base, char *root, size_t n)
{
	static const char *const dirs[] = {"bin", "proc", "sys", "dev", "etc", "tmp", "run"};
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

static int setup(void **state)
{
	uint32_t r;

	monitor_binary = getenv("CARVE_MONITOR");
	probe_binary = getenv("BREAKOUT_PROBE");
	if (!monitor_binary || !probe_binary)
		return -1;
	snprintf(tmp, sizeof(tmp), "/tmp/carve-test-breakout-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	/* the containers' roots (tenant uids) must be able to reach their rootfs */
	chmod(tmp, 0711);
	random_bytes(&r, sizeof(r));
	base_a = 1000000 + (r % 1000) * 2 * CT_ID_RANGE;
	base_b = base_a + CT_ID_RANGE;
	return 0;
}

static int teardown(void **state)
{
	for (size_t i = 0; i < n_pids; i++)
		(void)kill(pids[i], SIGKILL);
	for (size_t i = 0; i < n_pids; i++)
		(void)waitpid(pids[i], NULL, 0);
	usleep(100 * 1000);
	if (tmp[0])
		rm_rf(tmp);
	return 0;
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

static void prepare_tenant_a(char *root, size_t n, pid_t b_pid)
{
	char p[PATH_MAX], info[256];

	build_rootfs("rootfs-a", base_a, root, n);
	snprintf(p, sizeof(p), "%s/probe", root);
	copy_file(probe_binary, p, 0755);
	assert_int_equal(chown(p, base_a, base_a), 0);
	/* a setuid-root (container root) copy: chown first, it clears the bit */
	snprintf(p, sizeof(p), "%s/probe-suid", root);
	copy_file(probe_binary, p, 0755);
	assert_int_equal(chown(p, base_a, base_a), 0);
	assert_int_equal(chmod(p, 04755), 0);
	snprintf(p, sizeof(p), "%s/probe.sh", root);
	write_file(p, probe_sh, 0755);
	snprintf(info, sizeof(info), "export B_PID=%d BASE=%u\n", (int)b_pid, base_a);
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

static void assert_all_blocked(const char *console)
{
	size_t blocked = 0;

	for (const char *line = console; *line;) {
		const char *end = strchrnul(line, '\n');

		if (memmem(line, (size_t)(end - line), ": ESCAPED", 9)) {
			fprintf(stderr, "console:\n%s", console);
			fail_msg("attack escaped: %.*s", (int)(end - line), line);
		}
		if (memmem(line, (size_t)(end - line), ": BLOCKED", 9))
			blocked++;
		line = *end ? end + 1 : end;
	}
	for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
		char needle[64];
		bool found;

		snprintf(needle, sizeof(needle), "%s: BLOCKED", expected[i]);
		found = strncmp(console, needle, strlen(needle)) == 0;
		snprintf(needle, sizeof(needle), "\n%s: BLOCKED", expected[i]);
		found = found || strstr(console, needle);
		if (!found) {
			fprintf(stderr, "console:\n%s", console);
			fail_msg("no '%s: BLOCKED' line", expected[i]);
		}
	}
	assert_int_equal(blocked, ELEMENTSOF(expected));
	if (!strstr(console, "probe: done (sh status 0)"))
		fprintf(stderr, "console:\n%s", console);
	assert_non_null(strstr(console, "probe: done (sh status 0)"));
}

static void test_hostile_tenant_is_contained(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_status st;
	struct monitor_config cfg;
	char root[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	cleanup_free char *console = NULL;
	pid_t b_pid, mon = 0, init = 0;

	b_pid = start_tenant_b();
	prepare_tenant_a(root, sizeof(root), b_pid);

	snprintf(dir, sizeof(dir), "%s/run-a", tmp);
	cfg = (struct monitor_config){
		.server_id = "0123456789abcdef0123456789abcdef",
		.server_name = "tenant-a",
		.tenant_name = "a",
		.rootfs = root,
		.init = "/probe init",
		.stop_signal = SIGTERM,
		.uid_base = base_a,
		.vcpus = 1,
		.memory = 256ULL << 20,
		.cgroup_root = "",
		.cgroup_prefix = "carve-test-breakout",
	};
	if (monitor_launch(monitor_binary, -EBADF, dir, &cfg, 10000, &mon, &init, &err) < 0)
		fail_msg("launch tenant a: %s", err.msg);
	remember(init);
	remember(mon);
	assert_monitor_sealed(mon);

	/* release the probe */
	snprintf(p, sizeof(p), "%s/tmp/go", root);
	write_file(p, "", 0644);
	if (monitor_wait(dir, 60000, &st, &err) < 0)
		fail_msg("wait tenant a: %s", err.msg);
	assert_true(st.exited);
	assert_int_equal(st.exit_status, 0);

	snprintf(p, sizeof(p), "%s/console.log", dir);
	assert_int_equal(read_full_file(p, 1 << 20, &console, NULL), 0);
	assert_all_blocked(console);

	/* tenant B was not disturbed */
	assert_int_equal(kill(b_pid, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_tenant_is_contained),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carve-monitor end to end: a busybox rootfs owned by a random tenant id range, launched through
 * monitor_launch(), checked from the host (namespaces, id map, cgroup, console), then stopped,
 * killed or failed. Needs root: exits 77 (skipped) otherwise. Every monitor, init, cgroup and
 * temp dir made here is removed in teardown, also when a check fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "monitor/monitor.h"

#define CGROOT "/sys/fs/cgroup"
#define TENANT "t1"
#define MEMORY (256ULL << 20)

/* every hierarchy the monitor may create the server's cgroup in (cpuset for vCPU pinning,
 * unified for a system container's delegated subtree) */
static const char *const controllers[] = {"cpu",     "cpuacct", "memory", "pids",   "blkio",
					  "freezer", "devices", "cpuset", "unified"};

static char tmp[PATH_MAX];
static char rootfs[PATH_MAX];
static char prefix[64];
static const char *binary;
static bool have_cgroups;
static uid_t base;
static pid_t pids[32];
static size_t n_pids;

static void remember(pid_t pid)
{
	if (pid > 0 && n_pids < ELEMENTSOF(pids))
		pids[n_pids++] = pid;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_file(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(loop_write(fd, s, strlen(s)), 0);
	close(fd);
}

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return lchown(path, base + st->st_uid, base + st->st_gid) < 0 ? -1 : 0;
}

static void build_rootfs(void)
{
	static const char *const dirs[] = {"bin", "proc", "sys", "dev", "etc", "tmp"};
	static const char *const applets[] = {"sh", "sleep", "hostname", "echo", "cat"};
	static const char *const scripts[][2] = {
		/* SIGTERM from the host to a pid-namespace init without a handler is dropped */
		{"ignore.sh", "#!/bin/sh\necho hello\nhostname\nsleep 1000 &\nwait\n"},
		{"graceful.sh", "#!/bin/sh\ntrap 'exit 3' TERM\necho ready\nsleep 1000 &\nwait\n"},
	};
	char p[PATH_MAX], cmd[PATH_MAX + 64];

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		snprintf(p, sizeof(p), "%s/%s", rootfs, dirs[i]);
		assert_int_equal(mkdir_p(p, 0755), 0);
	}
	snprintf(cmd, sizeof(cmd), "cp /bin/busybox %s/bin/busybox", rootfs);
	assert_int_equal(system(cmd), 0);
	for (size_t i = 0; i < ELEMENTSOF(applets); i++) {
		snprintf(p, sizeof(p), "%s/bin/%s", rootfs, applets[i]);
		assert_int_equal(symlink("busybox", p), 0);
	}
	for (size_t i = 0; i < ELEMENTSOF(scripts); i++) {
		snprintf(p, sizeof(p), "%s/%s", rootfs, scripts[i][0]);
		write_file(p, scripts[i][1], 0755);
	}
	assert_int_equal(nftw(rootfs, chown_one, 16, FTW_PHYS), 0);
}

static int setup(void **state)
{
	uint32_t r;

	binary = getenv("CARVE_MONITOR");
	if (!binary)
		return -1;
	snprintf(tmp, sizeof(tmp), "/tmp/carve-test-monitor-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	/* the container's root (a tenant uid) must be able to reach its rootfs */
	chmod(tmp, 0711);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
	snprintf(prefix, sizeof(prefix), "carve-test-%d", (int)getpid());
	random_bytes(&r, sizeof(r));
	base = 1000000 + (r % 1000) * 65536;
	have_cgroups = access(CGROOT "/memory/cgroup.procs", F_OK) == 0;
	build_rootfs();
	return 0;
}

static void remove_cgroups(void)
{
	static const char *const servers[] = {"web1", "web2", "web3", "web4"};
	char p[PATH_MAX];

	for (size_t c = 0; c < ELEMENTSOF(controllers); c++) {
		for (size_t s = 0; s < ELEMENTSOF(servers); s++) {
			cleanup_free char *procs = NULL;

			snprintf(p, sizeof(p), CGROOT "/%s/%s/%s/%s/cgroup.procs", controllers[c],
				 prefix, TENANT, servers[s]);
			if (read_full_file(p, 1 << 20, &procs, NULL) == 0)
				for (char *q = procs, *end; *q; q = end) {
					long pid = strtol(q, &end, 10);
					if (end == q)
						break;
					if (pid > 0)
						(void)kill((pid_t)pid, SIGKILL);
				}
			usleep(procs && *procs ? 100 * 1000 : 0);
			snprintf(p, sizeof(p), CGROOT "/%s/%s/%s/%s", controllers[c], prefix,
				 TENANT, servers[s]);
			(void)rmdir(p);
		}
		snprintf(p, sizeof(p), CGROOT "/%s/%s/%s", controllers[c], prefix, TENANT);
		(void)rmdir(p);
		snprintf(p, sizeof(p), CGROOT "/%s/%s", controllers[c], prefix);
		(void)rmdir(p);
	}
}

static int teardown(void **state)
{
	for (size_t i = 0; i < n_pids; i++)
		(void)kill(pids[i], SIGKILL);
	usleep(200 * 1000);
	remove_cgroups();
	if (tmp[0])
		rm_rf(tmp);
	return 0;
}

static void run_dir(const char *server, char *buf, size_t n)
{
	snprintf(buf, n, "%s/run-%s", tmp, server);
}

static void config(struct monitor_config *cfg, const char *server, const char *init)
{
	*cfg = (struct monitor_config){
		.server_id = "0123456789abcdef0123456789abcdef",
		.server_name = server,
		.tenant_name = TENANT,
		.rootfs = rootfs,
		.init = init,
		.stop_signal = SIGTERM,
		.uid_base = base,
		.vcpus = 1,
		.memory = MEMORY,
		.cgroup_root = have_cgroups ? CGROOT : "",
		.cgroup_prefix = prefix,
	};
}

static void launch(const char *server, const char *init, char *dir, size_t n, pid_t *ret_monitor,
		   pid_t *ret_init)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_config cfg;
	int r;

	run_dir(server, dir, n);
	config(&cfg, server, init);
	r = monitor_launch(binary, -EBADF, dir, &cfg, 10000, ret_monitor, ret_init, &err);
	if (r < 0) {
		char p[PATH_MAX];
		cleanup_free char *s = NULL;

		/* a monitor that never answered may still run: teardown kills it */
		snprintf(p, sizeof(p), "%s/monitor.pid", dir);
		if (read_full_file(p, 64, &s, NULL) == 0)
			remember((pid_t)strtol(s, NULL, 10));
		fail_msg("launch '%s': %s", server, err.msg);
	}
	remember(*ret_monitor);
	remember(*ret_init);
	assert_true(*ret_monitor > 0);
	assert_true(*ret_init > 0);
}

static bool file_contains(const char *path, const char *needle)
{
	cleanup_free char *s = NULL;

	return read_full_file(path, 1 << 20, &s, NULL) == 0 && strstr(s, needle);
}

static bool wait_file_contains(const char *path, const char *needle, int ms)
{
	for (int64_t end = now_ms() + ms; now_ms() < end; usleep(20 * 1000))
		if (file_contains(path, needle))
			return true;
	return false;
}

static pid_t parent_of(pid_t pid)
{
	char p[64];
	cleanup_free char *s = NULL;
	const char *close_paren;
	int ppid = -1;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if (read_full_file(p, 4096, &s, NULL) < 0)
		return -1;
	close_paren = strrchr(s, ')');
	if (!close_paren || sscanf(close_paren + 2, "%*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

/* Gone or a zombie waiting for a reaper that is not us. */
static bool process_gone(pid_t pid, int ms)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	for (int64_t end = now_ms() + ms; now_ms() < end; usleep(20 * 1000)) {
		cleanup_free char *s = NULL;
		const char *cp;

		if (read_full_file(p, 4096, &s, NULL) < 0)
			return true;
		cp = strrchr(s, ')');
		if (cp && cp[2] == 'Z')
			return true;
	}
	return false;
}

static void assert_ns_differs(pid_t pid, const char *ns)
{
	char a[64], b[64], la[128] = "", lb[128] = "";

	snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)pid, ns);
	snprintf(b, sizeof(b), "/proc/self/ns/%s", ns);
	assert_true(readlink(a, la, sizeof(la) - 1) > 0);
	assert_true(readlink(b, lb, sizeof(lb) - 1) > 0);
	if (streq(la, lb))
		fail_msg("namespace %s of init is the host's (%s)", ns, la);
}

static void cg_path(const char *controller, const char *server, const char *file, char *buf,
		    size_t n)
{
	snprintf(buf, n, CGROOT "/%s/%s/%s/%s%s%s", controller, prefix, TENANT, server,
		 file ? "/" : "", file ? file : "");
}

static void assert_cleaned_up(const char *dir, const char *server)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/monitor.sock", dir);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/monitor.pid", dir);
	assert_int_equal(access(p, F_OK), -1);
	if (!have_cgroups)
		return;
	for (size_t c = 0; c < ELEMENTSOF(controllers); c++) {
		cg_path(controllers[c], server, NULL, p, sizeof(p));
		if (access(p, F_OK) == 0)
			fail_msg("cgroup '%s' left behind", p);
	}
}

static void test_run_and_stop_with_sigkill_fallback(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_status st;
	char dir[PATH_MAX], p[PATH_MAX];
	cleanup_free char *map = NULL;
	unsigned long inside = 1, outside = 0, count = 0;
	pid_t mon, init;
	int64_t t0;

	launch("web1", "/ignore.sh", dir, sizeof(dir), &mon, &init);

	/* not our child: carved may die without taking the monitor along */
	assert_int_not_equal(parent_of(mon), getpid());
	assert_int_equal(parent_of(init), mon);

	static const char *const nss[] = {"user", "pid", "mnt", "net", "uts", "ipc", "cgroup"};
	for (size_t i = 0; i < ELEMENTSOF(nss); i++)
		assert_ns_differs(init, nss[i]);

	snprintf(p, sizeof(p), "/proc/%d/uid_map", (int)init);
	assert_int_equal(read_full_file(p, 4096, &map, NULL), 0);
	assert_int_equal(sscanf(map, "%lu %lu %lu", &inside, &outside, &count), 3);
	assert_int_equal(inside, 0);
	assert_int_equal(outside, base);
	assert_int_equal(count, 65536);

	/* init runs as container root: host uid base */
	{
		struct stat stt;
		snprintf(p, sizeof(p), "/proc/%d", (int)init);
		assert_int_equal(stat(p, &stt), 0);
		assert_int_equal(stt.st_uid, base);
	}

	snprintf(p, sizeof(p), "%s/console.log", dir);
	assert_true(wait_file_contains(p, "hello\r\n", 5000));
	assert_true(wait_file_contains(p, "web1\r\n", 5000));

	/* the new root: /proc/<init>/root is the rootfs, with /dev and a read-only /sys */
	snprintf(p, sizeof(p), "/proc/%d/root/bin/busybox", (int)init);
	assert_int_equal(access(p, X_OK), 0);
	snprintf(p, sizeof(p), "/proc/%d/mountinfo", (int)init);
	assert_true(file_contains(p, " /dev/pts "));
	assert_true(file_contains(p, " /sys ro,"));
	assert_true(file_contains(p, " /proc "));

	if (have_cgroups) {
		char v[32];
		snprintf(v, sizeof(v), "%d\n", (int)init);
		cg_path("memory", "web1", "cgroup.procs", p, sizeof(p));
		assert_true(file_contains(p, v));
		cg_path("memory", "web1", "memory.limit_in_bytes", p, sizeof(p));
		assert_true(file_contains(p, "268435456"));
		cg_path("cpu", "web1", "cpu.cfs_quota_us", p, sizeof(p));
		assert_true(file_contains(p, "100000"));
	}

	assert_int_equal(monitor_status(dir, &st, &err), 0);
	assert_true(st.running);
	assert_false(st.exited);
	assert_int_equal(st.init_pid, init);
	assert_int_equal(st.monitor_pid, mon);

	t0 = now_ms();
	if (monitor_stop(dir, 1, &err) < 0)
		fail_msg("stop: %s", err.msg);
	assert_int_equal(monitor_wait(dir, 10000, &st, &err), 0);
	assert_true(st.exited);
	assert_int_equal(st.exit_signal, SIGKILL);
	assert_int_equal(st.exit_status, -1);
	/* init ignored SIGTERM: the monitor waited the timeout, then killed it */
	assert_true(now_ms() - t0 >= 900);

	snprintf(p, sizeof(p), "%s/exit.json", dir);
	assert_true(file_contains(p, "\"signal\":9"));
	assert_true(process_gone(mon, 5000));
	assert_true(process_gone(init, 1000));
	assert_cleaned_up(dir, "web1");

	assert_int_equal(monitor_status(dir, &st, &err), 0);
	assert_false(st.running);
	assert_true(st.exited);
	assert_int_equal(st.exit_signal, SIGKILL);
	assert_int_equal(monitor_stop(dir, 1, &err), -ESRCH);
}

static void test_graceful_stop(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_status st;
	char dir[PATH_MAX], p[PATH_MAX];
	pid_t mon, init;
	int64_t t0;

	launch("web2", "/graceful.sh", dir, sizeof(dir), &mon, &init);
	snprintf(p, sizeof(p), "%s/console.log", dir);
	/* the trap is set once the script printed (console.log is the raw terminal: CRLF) */
	assert_true(wait_file_contains(p, "ready\r\n", 5000));
	t0 = now_ms();
	if (monitor_stop(dir, 30, &err) < 0)
		fail_msg("stop: %s", err.msg);
	assert_int_equal(monitor_wait(dir, 10000, &st, &err), 0);
	assert_true(st.exited);
	assert_int_equal(st.exit_status, 3);
	assert_int_equal(st.exit_signal, 0);
	assert_true(now_ms() - t0 < 5000);
	assert_true(process_gone(mon, 5000));
	assert_cleaned_up(dir, "web2");
}

static void test_kill_and_watch_fd(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char dir[PATH_MAX], line[512] = "";
	struct pollfd pfd;
	pid_t mon, init;
	ssize_t n;
	int fd;

	launch("web3", "/ignore.sh", dir, sizeof(dir), &mon, &init);
	fd = monitor_watch_fd(dir, &err);
	if (fd < 0)
		fail_msg("watch: %s", err.msg);
	/* nothing to read while init runs */
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 100), 0);
	if (monitor_kill(dir, &err) < 0)
		fail_msg("kill: %s", err.msg);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	n = read(fd, line, sizeof(line) - 1);
	assert_true(n > 0);
	assert_non_null(strstr(line, "\"state\":\"exited\""));
	assert_non_null(strstr(line, "\"signal\":9"));
	close(fd);
	assert_true(process_gone(mon, 5000));
	assert_cleaned_up(dir, "web3");
}

static void test_failed_start_reports_step(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_config cfg;
	char dir[PATH_MAX];
	pid_t mon = 0, init = 0;
	int r;

	run_dir("web4", dir, sizeof(dir));
	config(&cfg, "web4", "/no/such/init");
	r = monitor_launch(binary, -EBADF, dir, &cfg, 10000, &mon, &init, &err);
	if (r != -ENOENT) /* seen once as -ENOSPC under parallel tests: say which step */
		fail_msg("launch with a missing init: %d (%s), not -ENOENT", r, err.msg);
	assert_non_null(strstr(err.msg, "container 'web4': execve '/no/such/init'"));
	assert_non_null(strstr(err.msg, "No such file or directory"));
	/* the monitor gives up and cleans up before it exits: poll for that */
	for (int i = 0; i < 100 && access(dir, F_OK) == 0; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/monitor.pid", dir);
		if (access(p, F_OK) < 0)
			break;
		usleep(20 * 1000);
	}
	assert_cleaned_up(dir, "web4");
}

static void test_uid_base_zero_refused(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_config cfg;
	char dir[PATH_MAX];
	pid_t mon = 0, init = 0;

	run_dir("web4", dir, sizeof(dir));
	config(&cfg, "web4", "/ignore.sh");
	cfg.uid_base = 0;
	assert_int_equal(monitor_launch(binary, -EBADF, dir, &cfg, 10000, &mon, &init, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "host root is never mapped"));
	assert_int_equal(mon, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_and_stop_with_sigkill_fallback),
		cmocka_unit_test(test_graceful_stop),
		cmocka_unit_test(test_kill_and_watch_fd),
		cmocka_unit_test(test_failed_start_reports_step),
		cmocka_unit_test(test_uid_base_zero_refused),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

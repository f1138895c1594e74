/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carve-monitor console and exec, end to end: a busybox rootfs owned by a random tenant id range,
 * servers launched through monitor_launch(), processes started in them with monitor_exec_open()
 * and the console attached with monitor_console_open(). Needs root: exits 77 (skipped) otherwise.
 * Every monitor, init, cgroup and temp dir made here is removed in teardown.
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
#include <dirent.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "monitor/monitor.h"
#include "monitor/protocol.h"

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
	static const char *const applets[] = {"sh",  "sleep", "hostname", "echo", "cat",
					      "tty", "stty",  "readlink", "grep"};
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
	snprintf(prefix, sizeof(prefix), "carve-test-exec-%d", (int)getpid());
	random_bytes(&r, sizeof(r));
	base = 1000000 + (r % 1000) * 65536;
	have_cgroups = access(CGROOT "/memory/cgroup.procs", F_OK) == 0;
	build_rootfs();
	return 0;
}

static void remove_cgroups(void)
{
	static const char *const servers[] = {"ex1", "ex2"};
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

static char ex1[PATH_MAX];
static pid_t ex1_init;

struct result {
	char out[8192], err[8192];
	size_t out_len, err_len;
	int status, signal;
	bool exited;
};

static void append(char *buf, size_t *len, size_t cap, const char *data, size_t n)
{
	if (*len + n >= cap)
		n = cap - 1 - *len;
	memcpy(buf + *len, data, n);
	*len += n;
	buf[*len] = '\0';
}

/* Read frames until the exit frame (or EOF, or until needle shows up on stdout if given). */
static void collect(int fd, struct result *res, const char *needle)
{
	static char buf[MONITOR_FRAME_MAX_PAYLOAD];

	for (;;) {
		enum monitor_frame_type type;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		size_t n;
		int r;

		assert_int_equal(poll(&p, 1, 10000), 1);
		r = monitor_frame_read(fd, &type, buf, sizeof(buf), &n);
		assert_true(r >= 0);
		if (r == 0)
			return;
		if (type == MONITOR_FRAME_STDOUT)
			append(res->out, &res->out_len, sizeof(res->out), buf, n);
		else if (type == MONITOR_FRAME_STDERR)
			append(res->err, &res->err_len, sizeof(res->err), buf, n);
		else if (type == MONITOR_FRAME_EXIT) {
			buf[n] = '\0';
			assert_int_equal(sscanf(buf, "{\"status\":%d,\"signal\":%d}", &res->status,
						&res->signal),
					 2);
			res->exited = true;
			/* the last frame: the monitor closes the connection */
			assert_int_equal(monitor_frame_read(fd, &type, buf, sizeof(buf), &n), 0);
			return;
		} else
			fail_msg("unexpected frame type %d", (int)type);
		if (needle && strstr(res->out, needle))
			return;
	}
}

static int exec_open(const char *dir, char *const *argv, bool tty)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_exec_request req = {.argv = argv, .tty = tty, .rows = 24, .cols = 80};
	int fd = monitor_exec_open(dir, &req, &err);

	if (fd < 0)
		fail_msg("exec '%s': %s", argv[0], err.msg);
	return fd;
}

static void ensure_ex1(void)
{
	pid_t mon;

	if (ex1_init > 0)
		return;
	launch("ex1", "/ignore.sh", ex1, sizeof(ex1), &mon, &ex1_init);
}

static void test_exec_pipes(void **state)
{
	char *argv[] = {"sh", "-c", "echo hi; echo err >&2; exit 3", NULL};
	struct result res = {0};
	int fd;

	ensure_ex1();
	fd = exec_open(ex1, argv, false);
	collect(fd, &res, NULL);
	close(fd);
	assert_true(res.exited);
	assert_string_equal(res.out, "hi\n");
	assert_string_equal(res.err, "err\n");
	assert_int_equal(res.status, 3);
	assert_int_equal(res.signal, 0);
}

static void test_exec_stdin(void **state)
{
	char *argv[] = {"cat", NULL};
	struct result res = {0};
	int fd;

	ensure_ex1();
	fd = exec_open(ex1, argv, false);
	assert_int_equal(monitor_frame_write(fd, MONITOR_FRAME_STDIN, "abc\n", 4), 0);
	collect(fd, &res, "abc\n");
	assert_string_equal(res.out, "abc\n");
	assert_int_equal(monitor_frame_write(fd, MONITOR_FRAME_STDIN, "def", 3), 0);
	assert_int_equal(monitor_frame_write(fd, MONITOR_FRAME_EOF, NULL, 0), 0);
	collect(fd, &res, NULL);
	close(fd);
	assert_true(res.exited);
	assert_string_equal(res.out, "abc\ndef");
	assert_int_equal(res.status, 0);
}

static void test_exec_tty(void **state)
{
	char *argv[] = {"sh", "-c", "tty; read x; stty size", NULL};
	const char *size = "{\"rows\":40,\"cols\":100}";
	struct result res = {0};
	int fd;

	ensure_ex1();
	fd = exec_open(ex1, argv, true);
	collect(fd, &res, "\n");
	assert_non_null(strstr(res.out, "/dev/pts/"));
	assert_int_equal(monitor_frame_write(fd, MONITOR_FRAME_RESIZE, size, strlen(size)), 0);
	assert_int_equal(monitor_frame_write(fd, MONITOR_FRAME_STDIN, "go\n", 3), 0);
	collect(fd, &res, NULL);
	close(fd);
	assert_true(res.exited);
	assert_non_null(strstr(res.out, "40 100"));
	/* stdout and stderr merged on the terminal */
	assert_int_equal(res.err_len, 0);
	assert_int_equal(res.status, 0);
}

static void test_exec_missing_command(void **state)
{
	char *argv[] = {"nosuchcmd", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_exec_request req = {.argv = argv};

	ensure_ex1();
	assert_int_equal(monitor_exec_open(ex1, &req, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "exec 'nosuchcmd': No such file or directory"));
}

static void status_line(const char *status, const char *key, char *buf, size_t n)
{
	const char *p = strstr(status, key);
	size_t len;

	assert_non_null(p);
	len = strcspn(p, "\n");
	assert_true(len < n);
	memcpy(buf, p, len);
	buf[len] = '\0';
}

static void test_exec_joins_init(void **state)
{
	char *argv[] = {"sh", "-c",
			"readlink /proc/self/ns/pid; cat /proc/self/uid_map; "
			"cat /proc/self/status; cat /proc/self/cgroup",
			NULL};
	char p[PATH_MAX], ns[128] = "", line[256], want[256];
	cleanup_free char *init_status = NULL;
	unsigned long inside = 1, outside = 0, count = 0;
	struct result res = {0};
	int fd;

	ensure_ex1();
	fd = exec_open(ex1, argv, false);
	collect(fd, &res, NULL);
	close(fd);
	assert_int_equal(res.status, 0);

	snprintf(p, sizeof(p), "/proc/%d/ns/pid", (int)ex1_init);
	assert_true(readlink(p, ns, sizeof(ns) - 2) > 0);
	ns[strlen(ns)] = '\n';
	if (strncmp(res.out, ns, strlen(ns)) != 0)
		fail_msg("pid namespace: got '%.40s', init's is '%s'", res.out, ns);

	assert_int_equal(sscanf(res.out + strlen(ns), "%lu %lu %lu", &inside, &outside, &count), 3);
	assert_int_equal(inside, 0);
	assert_int_equal(outside, base);
	assert_int_equal(count, 65536);

	snprintf(p, sizeof(p), "/proc/%d/status", (int)ex1_init);
	assert_int_equal(read_full_file(p, 1 << 16, &init_status, NULL), 0);
	status_line(init_status, "CapBnd:", want, sizeof(want));
	status_line(res.out, "CapBnd:", line, sizeof(line));
	assert_string_equal(line, want);
	status_line(res.out, "NoNewPrivs:", line, sizeof(line));
	assert_string_equal(line, "NoNewPrivs:\t1");
	status_line(res.out, "Seccomp:", line, sizeof(line));
	assert_string_equal(line, "Seccomp:\t2");
	/* uid 0 inside */
	status_line(res.out, "Uid:", line, sizeof(line));
	assert_string_equal(line, "Uid:\t0\t0\t0\t0");
	/* in the server's cgroup, which its cgroup namespace shows as the root */
	if (have_cgroups)
		assert_non_null(strstr(res.out, ":memory:/\n"));
}

/* The host pid of the process whose pid is inner in init's pid namespace. */
static pid_t host_pid_of(pid_t init, pid_t inner)
{
	cleanup_closedir DIR *d = opendir("/proc");
	char p[PATH_MAX], init_ns[128] = "", ns[128];
	struct dirent *de;
	int outer, in;

	snprintf(p, sizeof(p), "/proc/%d/ns/pid", (int)init);
	assert_true(readlink(p, init_ns, sizeof(init_ns) - 1) > 0);
	while ((de = readdir(d))) {
		cleanup_free char *st = NULL;
		char *nspid;
		long pid = strtol(de->d_name, NULL, 10);

		if (pid <= 0)
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/ns/pid", pid);
		memset(ns, 0, sizeof(ns));
		if (readlink(p, ns, sizeof(ns) - 1) < 0 || !streq(ns, init_ns))
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/status", pid);
		if (read_full_file(p, 1 << 16, &st, NULL) < 0 || !(nspid = strstr(st, "NSpid:")))
			continue;
		if (sscanf(nspid, "NSpid:\t%d\t%d", &outer, &in) == 2 && in == (int)inner)
			return (pid_t)pid;
	}
	return -1;
}

static void test_exec_disconnect_kills(void **state)
{
	char *argv[] = {"sh", "-c", "echo $$; exec sleep 1000", NULL};
	struct result res = {0};
	pid_t host;
	int fd;

	ensure_ex1();
	fd = exec_open(ex1, argv, false);
	collect(fd, &res, "\n");
	host = host_pid_of(ex1_init, (pid_t)strtol(res.out, NULL, 10));
	assert_true(host > 0);
	remember(host);
	assert_false(process_gone(host, 200));
	close(fd);
	assert_true(process_gone(host, 5000));
	/* init is untouched */
	assert_int_equal(kill(ex1_init, 0), 0);
}

static void test_console(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_status st;
	char dir[PATH_MAX], p[PATH_MAX], got[16384];
	const char *cmd = "echo marker-$((100+23))\n";
	size_t len = 0;
	pid_t mon, init;
	int fd;

	launch("ex2", "/bin/sh -i", dir, sizeof(dir), &mon, &init);
	fd = monitor_console_open(dir, &err);
	if (fd < 0)
		fail_msg("console: %s", err.msg);
	assert_int_equal(loop_write(fd, cmd, strlen(cmd)), 0);
	for (int64_t end = now_ms() + 5000; !strstr(got, "marker-123") && now_ms() < end;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(fd, got + len, sizeof(got) - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
		got[len] = '\0';
	}
	assert_non_null(strstr(got, "marker-123"));
	snprintf(p, sizeof(p), "%s/console.log", dir);
	assert_true(wait_file_contains(p, "marker-123", 2000));

	/* the console's size */
	if (monitor_console_resize(dir, 30, 90, &err) < 0)
		fail_msg("resize: %s", err.msg);
	assert_int_equal(loop_write(fd, "stty size\n", 10), 0);
	assert_true(wait_file_contains(p, "30 90", 5000));

	/* detaching leaves init running */
	close(fd);
	usleep(200 * 1000);
	assert_int_equal(monitor_status(dir, &st, &err), 0);
	assert_true(st.running);
	assert_int_equal(st.init_pid, init);

	/* a second client attaches; 1.4 MB of output: console.log keeps its last 512 KiB */
	fd = monitor_console_open(dir, &err);
	assert_true(fd >= 0);
	{
		/* short: ash's line editing cuts long lines */
		const char *line = "x=0123456789; x=$x$x$x$x$x$x$x$x$x$x; x=$x$x$x$x$x$x$x$x$x$x; "
				   "i=0; while [ $i -lt 1400 ]; do echo $i-$x; i=$((i+1)); done; "
				   "echo done-$((1+1))\n";
		struct stat stt;

		assert_int_equal(loop_write(fd, line, strlen(line)), 0);
		assert_true(wait_file_contains(p, "done-2", 20000));
		assert_int_equal(stat(p, &stt), 0);
		assert_true(stt.st_size <= 1024 * 1024);
		assert_true(stt.st_size >= 512 * 1024);
		assert_false(file_contains(p, "marker-123"));
	}
	close(fd);

	assert_int_equal(monitor_kill(dir, &err), 0);
	assert_int_equal(monitor_wait(dir, 10000, &st, &err), 0);
	assert_true(st.exited);
	assert_true(process_gone(mon, 5000));
}

static void test_stop_ex1(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct monitor_status st;

	ensure_ex1();
	assert_int_equal(monitor_kill(ex1, &err), 0);
	assert_int_equal(monitor_wait(ex1, 10000, &st, &err), 0);
	assert_true(st.exited);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_pipes),
		cmocka_unit_test(test_exec_stdin),
		cmocka_unit_test(test_exec_tty),
		cmocka_unit_test(test_exec_missing_command),
		cmocka_unit_test(test_exec_joins_init),
		cmocka_unit_test(test_exec_disconnect_kills),
		cmocka_unit_test(test_console),
		cmocka_unit_test(test_stop_ex1),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup manager: both backends against a fake tree of plain directories (the exact files
 * written are checked), and, as root on a host with the v1 memory controller, a real cgroup with
 * a real process in it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
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
#include "ct/cgroup.h"

static const char *const v1_ctrls[] = {"cpu",	"cpuacct", "memory", "pids",
				       "blkio", "freezer", "devices"};

struct fixture {
	char root[PATH_MAX];
	struct cgroup_manager *m;
	pid_t child;
};

static const struct cgroup_limits limits = {
	.vcpus = 2,
	.cpu_weight = 200,
	.memory_max = 512ULL << 20,
	.pids_max = 100,
};

static void path(const struct fixture *f, char *buf, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, PATH_MAX, "%s/", f->root);

	va_start(ap, fmt);
	vsnprintf(buf + n, PATH_MAX - (size_t)n, fmt, ap);
	va_end(ap);
}

static void put(const struct fixture *f, const char *rel, const char *content)
{
	char p[PATH_MAX];
	int fd;

	path(f, p, "%s", rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(loop_write(fd, content, strlen(content)), 0);
	close(fd);
}

static void mk(const struct fixture *f, const char *rel)
{
	char p[PATH_MAX];

	path(f, p, "%s", rel);
	assert_int_equal(mkdir_p(p, 0755), 0);
}

static void assert_content(const struct fixture *f, const char *rel, const char *want)
{
	char p[PATH_MAX];
	cleanup_free char *s = NULL;

	path(f, p, "%s", rel);
	if (read_full_file(p, 4096, &s, NULL) < 0)
		fail_msg("'%s' was not written", rel);
	if (!streq(s, want))
		fail_msg("'%s' holds '%s', want '%s'", rel, s, want);
}

static bool exists(const struct fixture *f, const char *rel)
{
	char p[PATH_MAX];

	path(f, p, "%s", rel);
	return access(p, F_OK) == 0;
}

/* the names of the plain files in a directory, sorted, joined by ' ' */
static void assert_files(const struct fixture *f, const char *rel, const char *want)
{
	char p[PATH_MAX], got[1024] = "";
	struct dirent **list;
	size_t len = 0;
	int n;

	path(f, p, "%s", rel);
	n = scandir(p, &list, NULL, alphasort);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (list[i]->d_type == DT_REG)
			len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s",
						len ? " " : "", list[i]->d_name);
		free(list[i]);
	}
	free(list);
	if (!streq(got, want))
		fail_msg("'%s' has files '%s', want '%s'", rel, got, want);
}

static int setup_tree(void **state, bool v2)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/carve-test-cgroup-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	if (!v2)
		for (size_t i = 0; i < ELEMENTSOF(v1_ctrls); i++)
			mk(f, v1_ctrls[i]);
	*state = f;
	return 0;
}

static int setup_v1(void **state)
{
	return setup_tree(state, false);
}

static int setup_v2(void **state)
{
	return setup_tree(state, true);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	cgroup_manager_free(f->m);
	rm_rf(f->root);
	free(f);
	return 0;
}

static void new_manager(struct fixture *f, enum cgroup_backend b)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (cgroup_manager_new(f->root, "carve-t", b, &f->m, &err) < 0)
		fail_msg("manager: %s", err.msg);
	assert_int_equal(cgroup_manager_backend(f->m), b);
}

static pid_t sleeper(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

static void test_v1_create_writes_limits(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;

	new_manager(f, CGROUP_BACKEND_V1);
	assert_int_equal(cgroup_server_create(f->m, "acme", "web1", &limits, &err), 0);
	assert_content(f, "memory/carve-t/acme/web1/memory.limit_in_bytes", "536870912");
	assert_content(f, "cpu/carve-t/acme/web1/cpu.cfs_period_us", "100000");
	assert_content(f, "cpu/carve-t/acme/web1/cpu.cfs_quota_us", "200000");
	assert_content(f, "cpu/carve-t/acme/web1/cpu.shares", "2048");
	assert_content(f, "pids/carve-t/acme/web1/pids.max", "100");
	/* exactly these files, and none in the parents */
	assert_files(f, "memory/carve-t/acme/web1", "memory.limit_in_bytes");
	assert_files(f, "cpu/carve-t/acme/web1", "cpu.cfs_period_us cpu.cfs_quota_us cpu.shares");
	assert_files(f, "pids/carve-t/acme/web1", "pids.max");
	for (size_t i = 0; i < ELEMENTSOF(v1_ctrls); i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "%s/carve-t/acme", v1_ctrls[i]);
		assert_files(f, rel, "");
		snprintf(rel, sizeof(rel), "%s/carve-t/acme/web1", v1_ctrls[i]);
		assert_true(exists(f, rel));
	}
	assert_files(f, "freezer/carve-t/acme/web1", "");
}

static void test_v1_memsw_and_no_limits(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	const struct cgroup_limits none = {0};

	new_manager(f, CGROUP_BACKEND_V1);
	/* the kernel has swap accounting: the file is there before carve writes it */
	mk(f, "memory/carve-t/acme/web1");
	put(f, "memory/carve-t/acme/web1/memory.memsw.limit_in_bytes", "9223372036854771712");
	assert_int_equal(cgroup_server_create(f->m, "acme", "web1", &limits, &err), 0);
	assert_content(f, "memory/carve-t/acme/web1/memory.memsw.limit_in_bytes", "536870912");
	assert_content(f, "memory/carve-t/acme/web1/memory.limit_in_bytes", "536870912");

	assert_int_equal(cgroup_server_set_limits(f->m, "acme", "web1", &none, &err), 0);
	assert_content(f, "memory/carve-t/acme/web1/memory.memsw.limit_in_bytes", "-1");
	assert_content(f, "memory/carve-t/acme/web1/memory.limit_in_bytes", "-1");
	assert_content(f, "cpu/carve-t/acme/web1/cpu.cfs_quota_us", "-1");
	assert_content(f, "cpu/carve-t/acme/web1/cpu.shares", "1024");
	assert_content(f, "pids/carve-t/acme/web1/pids.max", "max");

	assert_int_equal(cgroup_tenant_set_limits(f->m, "acme", &limits, &err), 0);
	assert_content(f, "memory/carve-t/acme/memory.limit_in_bytes", "536870912");
	assert_content(f, "pids/carve-t/acme/pids.max", "100");
}

static void test_v1_io_limits(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct cgroup_limits l = limits;

	l.io[0] = (struct cgroup_io_limit){.major = 7,
					   .minor = 3,
					   .read_bps = 50 << 20,
					   .write_bps = 20 << 20,
					   .write_iops = 300};
	l.n_io = 1;
	new_manager(f, CGROUP_BACKEND_V1);
	assert_int_equal(cgroup_server_create(f->m, "acme", "web1", &l, &err), 0);
	assert_content(f, "blkio/carve-t/acme/web1/blkio.throttle.read_bps_device", "7:3 52428800");
	assert_content(f, "blkio/carve-t/acme/web1/blkio.throttle.write_bps_device",
		       "7:3 20971520");
	/* 0 is how v1 removes a rule */
	assert_content(f, "blkio/carve-t/acme/web1/blkio.throttle.read_iops_device", "7:3 0");
	assert_content(f, "blkio/carve-t/acme/web1/blkio.throttle.write_iops_device", "7:3 300");
	/* the tenant cgroup gets no device rules */
	assert_files(f, "blkio/carve-t/acme", "");

	l.n_io = CGROUP_IO_DEVICES_MAX + 1;
	assert_int_equal(cgroup_server_set_limits(f->m, "acme", "web1", &l, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "more than"));
}

static void test_v1_attach_freeze_destroy(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	char want[32];
	bool pop = true;
	int status;

	new_manager(f, CGROUP_BACKEND_V1);
	assert_int_equal(cgroup_server_create(f->m, "acme", "web1", &limits, &err), 0);
	assert_int_equal(cgroup_server_create(f->m, "acme", "web2", NULL, &err), 0);
	assert_int_equal(cgroup_server_populated(f->m, "acme", "web1", &pop, &err), 0);
	assert_false(pop);

	f->child = sleeper();
	assert_int_equal(cgroup_server_attach(f->m, "acme", "web1", f->child, &err), 0);
	snprintf(want, sizeof(want), "%d", (int)f->child);
	for (size_t i = 0; i < ELEMENTSOF(v1_ctrls); i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "%s/carve-t/acme/web1/cgroup.procs", v1_ctrls[i]);
		assert_content(f, rel, want);
	}
	assert_int_equal(cgroup_server_populated(f->m, "acme", "web1", &pop, &err), 0);
	assert_true(pop);

	assert_int_equal(cgroup_server_freeze(f->m, "acme", "web1", true, &err), 0);
	assert_content(f, "freezer/carve-t/acme/web1/freezer.state", "FROZEN");
	assert_int_equal(cgroup_server_freeze(f->m, "acme", "web1", false, &err), 0);
	assert_content(f, "freezer/carve-t/acme/web1/freezer.state", "THAWED");

	/* destroy kills what cgroup.procs lists and removes the server, not the busy tenant */
	assert_int_equal(cgroup_server_destroy(f->m, "acme", "web1", &err), 0);
	assert_int_equal(waitpid(f->child, &status, 0), f->child);
	f->child = 0;
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_false(exists(f, "memory/carve-t/acme/web1"));
	assert_false(exists(f, "freezer/carve-t/acme/web1"));
	assert_true(exists(f, "memory/carve-t/acme/web2"));

	/* the last server takes the tenant with it; the prefix stays; twice is fine */
	assert_int_equal(cgroup_server_destroy(f->m, "acme", "web2", &err), 0);
	assert_int_equal(cgroup_server_destroy(f->m, "acme", "web2", &err), 0);
	for (size_t i = 0; i < ELEMENTSOF(v1_ctrls); i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "%s/carve-t/acme", v1_ctrls[i]);
		assert_false(exists(f, rel));
		snprintf(rel, sizeof(rel), "%s/carve-t", v1_ctrls[i]);
		assert_true(exists(f, rel));
	}
}

static void test_v1_combined_cpu_cpuacct(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	char p[PATH_MAX];

	/* this layout: one "cpu,cpuacct" hierarchy with two symlinks to it */
	path(f, p, "cpu");
	assert_int_equal(rmdir(p), 0);
	path(f, p, "cpuacct");
	assert_int_equal(rmdir(p), 0);
	mk(f, "cpu,cpuacct");
	path(f, p, "cpu");
	assert_int_equal(symlink("cpu,cpuacct", p), 0);
	path(f, p, "cpuacct");
	assert_int_equal(symlink("cpu,cpuacct", p), 0);
	new_manager(f, CGROUP_BACKEND_V1);
	assert_int_equal(cgroup_server_create(f->m, "acme", "web1", &limits, &err), 0);
	assert_content(f, "cpu,cpuacct/carve-t/acme/web1/cpu.cfs_quota_us", "200000");
	assert_int_equal(cgroup_server_destroy(f->m, "acme", "web1", &err), 0);
	assert_false(exists(f, "cpu,cpuacct/carve-t/acme"));
}

static void test_v1_rejects_bad_names(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct cgroup_manager *m = NULL;

	new_manager(f, CGROUP_BACKEND_V1);
	assert_int_equal(cgroup_server_create(f->m, "../acme", "web1", &limits, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "tenant name '../acme'"));
	carve_err_clear(&err);
	assert_int_equal(cgroup_server_create(f->m, "acme", "a/b", &limits, &err), -EINVAL);
	assert_false(exists(f, "memory/carve-t"));
	assert_int_equal(cgroup_manager_new(f->root, "../x", CGROUP_BACKEND_V1, &m, &err), -EINVAL);
	assert_null(m);
	assert_int_equal(cgroup_manager_new("relative", "x", CGROUP_BACKEND_V1, &m, &err), -EINVAL);
}

static void test_v1_no_controllers(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct cgroup_manager *m = NULL;
	char p[PATH_MAX];

	path(f, p, "memory");
	/* an empty directory: detection says v1 (not cgroup2fs), and v1 finds no hierarchy */
	assert_int_equal(cgroup_manager_new(p, "carve-t", _CGROUP_BACKEND_INVALID, &m, &err),
			 -ENOENT);
	assert_null(m);
	assert_non_null(strstr(err.msg, "no v1 controller hierarchy"));
}

static void test_v2_create_writes_limits(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;

	put(f, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
	put(f, "cgroup.subtree_control", "cpu io memory pids\n");
	/* what the kernel shows below: the controllers the parent enabled */
	mk(f, "carve-t/acme/web1");
	put(f, "carve-t/cgroup.controllers", "cpu io memory pids\n");
	put(f, "carve-t/cgroup.subtree_control", "\n");
	put(f, "carve-t/acme/cgroup.controllers", "cpu io memory pids\n");
	put(f, "carve-t/acme/cgroup.subtree_control", "memory\n");
	put(f, "carve-t/acme/web1/memory.swap.max", "max\n");
	new_manager(f, CGROUP_BACKEND_V2);
	assert_int_equal(cgroup_server_create(f->m, "acme", "web1", &limits, &err), 0);

	assert_content(f, "cgroup.subtree_control", "cpu io memory pids\n");
	assert_content(f, "carve-t/cgroup.subtree_control", "+cpu +memory +pids +io");
	assert_content(f, "carve-t/acme/cgroup.subtree_control", "+cpu +pids +io");
	assert_content(f, "carve-t/acme/web1/memory.max", "536870912");
	assert_content(f, "carve-t/acme/web1/memory.swap.max", "0");
	assert_content(f, "carve-t/acme/web1/cpu.max", "200000 100000");
	assert_content(f, "carve-t/acme/web1/cpu.weight", "200");
	assert_content(f, "carve-t/acme/web1/pids.max", "100");
	assert_files(f, "carve-t/acme/web1",
		     "cpu.max cpu.weight memory.max memory.swap.max pids.max");

	assert_int_equal(cgroup_server_set_limits(f->m, "acme", "web1", NULL, &err), 0);
	assert_content(f, "carve-t/acme/web1/memory.max", "max");
	assert_content(f, "carve-t/acme/web1/cpu.max", "max 100000");
	assert_content(f, "carve-t/acme/web1/cpu.weight", "100");
	assert_content(f, "carve-t/acme/web1/pids.max", "max");
}

static void test_v2_io_limits(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct cgroup_limits l = limits;

	l.io[0] = (struct cgroup_io_limit){
		.major = 7, .minor = 3, .read_bps = 50 << 20, .write_iops = 300};
	l.n_io = 1;
	new_manager(f, CGROUP_BACKEND_V2);
	/* without the io controller in the server's cgroup a limit is refused, not ignored */
	assert_int_equal(cgroup_server_create(f->m, "acme", "web1", &l, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "io controller"));
	carve_err_clear(&err);
	put(f, "carve-t/acme/web1/io.max", "");
	assert_int_equal(cgroup_server_set_limits(f->m, "acme", "web1", &l, &err), 0);
	assert_content(f, "carve-t/acme/web1/io.max",
		       "7:3 rbps=52428800 wbps=max riops=max wiops=300");
	/* all zeros: the device's limits are lifted */
	l.io[0] = (struct cgroup_io_limit){.major = 7, .minor = 3};
	assert_int_equal(cgroup_server_set_limits(f->m, "acme", "web1", &l, &err), 0);
	assert_content(f, "carve-t/acme/web1/io.max", "7:3 rbps=max wbps=max riops=max wiops=max");
}

static void test_v2_attach_freeze_destroy(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	char want[32];
	bool pop = false;
	int status;

	new_manager(f, CGROUP_BACKEND_V2);
	assert_int_equal(cgroup_server_create(f->m, "acme", "web1", &limits, &err), 0);
	assert_files(f, "carve-t/acme/web1", "cpu.max cpu.weight memory.max pids.max");
	f->child = sleeper();
	assert_int_equal(cgroup_server_attach(f->m, "acme", "web1", f->child, &err), 0);
	snprintf(want, sizeof(want), "%d", (int)f->child);
	assert_content(f, "carve-t/acme/web1/cgroup.procs", want);

	/* cgroup.events, where present, is the authority */
	put(f, "carve-t/acme/web1/cgroup.events", "populated 0\nfrozen 0\n");
	assert_int_equal(cgroup_server_populated(f->m, "acme", "web1", &pop, &err), 0);
	assert_false(pop);
	put(f, "carve-t/acme/web1/cgroup.events", "populated 1\nfrozen 1\n");
	assert_int_equal(cgroup_server_populated(f->m, "acme", "web1", &pop, &err), 0);
	assert_true(pop);
	assert_int_equal(cgroup_server_freeze(f->m, "acme", "web1", true, &err), 0);
	assert_content(f, "carve-t/acme/web1/cgroup.freeze", "1");

	assert_int_equal(cgroup_server_destroy(f->m, "acme", "web1", &err), 0);
	assert_int_equal(waitpid(f->child, &status, 0), f->child);
	f->child = 0;
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_false(exists(f, "carve-t/acme"));
	assert_true(exists(f, "carve-t"));
}

/* real v1 */

static bool real_v1_usable(void)
{
	return geteuid() == 0 && access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0;
}

static void real_rmdir_prefix(const char *prefix)
{
	char p[PATH_MAX];

	for (size_t i = 0; i < ELEMENTSOF(v1_ctrls); i++) {
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s/t1/s1", v1_ctrls[i], prefix);
		(void)rmdir(p);
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s/t1", v1_ctrls[i], prefix);
		(void)rmdir(p);
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", v1_ctrls[i], prefix);
		(void)rmdir(p);
	}
}

static void test_real_v1(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct cgroup_limits l = {.vcpus = 1, .memory_max = 64ULL << 20, .pids_max = 50};
	cleanup_free char *s = NULL, *cg = NULL;
	struct cgroup_manager *m = NULL;
	char prefix[64], p[PATH_MAX], want[128];
	pid_t child = 0;
	bool pop = false;
	int status;

	if (!real_v1_usable())
		skip();
	snprintf(prefix, sizeof(prefix), "carve-test-%d", (int)getpid());
	if (cgroup_manager_new("/sys/fs/cgroup", prefix, _CGROUP_BACKEND_INVALID, &m, &err) < 0)
		fail_msg("manager: %s", err.msg);
	if (cgroup_manager_backend(m) != CGROUP_BACKEND_V1) {
		cgroup_manager_free(m);
		skip();
	}
	if (cgroup_server_create(m, "t1", "s1", &l, &err) < 0) {
		real_rmdir_prefix(prefix);
		cgroup_manager_free(m);
		fail_msg("create: %s", err.msg);
	}
	snprintf(p, sizeof(p), "/sys/fs/cgroup/memory/%s/t1/s1/memory.limit_in_bytes", prefix);
	assert_int_equal(read_full_file(p, 64, &s, NULL), 0);
	child = sleeper();
	if (cgroup_server_attach(m, "t1", "s1", child, &err) < 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		cgroup_server_destroy(m, "t1", "s1", NULL);
		real_rmdir_prefix(prefix);
		cgroup_manager_free(m);
		fail_msg("attach: %s", err.msg);
	}
	snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)child);
	(void)read_full_file(p, 4096, &cg, NULL);
	(void)cgroup_server_populated(m, "t1", "s1", &pop, &err);
	(void)cgroup_server_freeze(m, "t1", "s1", true, &err);
	(void)cgroup_server_freeze(m, "t1", "s1", false, &err);
	assert_int_equal(cgroup_server_destroy(m, "t1", "s1", &err), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	cgroup_manager_free(m);
	real_rmdir_prefix(prefix);

	/* checked after cleanup, so a failure leaves nothing behind */
	assert_string_equal(s, "67108864\n");
	snprintf(want, sizeof(want), ":memory:/%s/t1/s1\n", prefix);
	assert_non_null(cg);
	assert_non_null(strstr(cg, want));
	assert_true(pop);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	for (size_t i = 0; i < ELEMENTSOF(v1_ctrls); i++) {
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", v1_ctrls[i], prefix);
		assert_int_equal(access(p, F_OK), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v1_create_writes_limits, setup_v1, teardown),
		cmocka_unit_test_setup_teardown(test_v1_memsw_and_no_limits, setup_v1, teardown),
		cmocka_unit_test_setup_teardown(test_v1_io_limits, setup_v1, teardown),
		cmocka_unit_test_setup_teardown(test_v1_attach_freeze_destroy, setup_v1, teardown),
		cmocka_unit_test_setup_teardown(test_v1_combined_cpu_cpuacct, setup_v1, teardown),
		cmocka_unit_test_setup_teardown(test_v1_rejects_bad_names, setup_v1, teardown),
		cmocka_unit_test_setup_teardown(test_v1_no_controllers, setup_v1, teardown),
		cmocka_unit_test_setup_teardown(test_v2_create_writes_limits, setup_v2, teardown),
		cmocka_unit_test_setup_teardown(test_v2_io_limits, setup_v2, teardown),
		cmocka_unit_test_setup_teardown(test_v2_attach_freeze_destroy, setup_v2, teardown),
		cmocka_unit_test(test_real_v1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

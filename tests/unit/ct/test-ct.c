/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ct_spawn(): configuration checks (any user), and, as root, that a failing step inside the
 * child comes back named with its errno and that a rootfs with symlinked mount points is refused.
 * The full container is exercised by the monitor tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct/ct.h"

static char *init_argv[] = {"/bin/sh", NULL};

static char *strcat_path(char *buf, size_t n, const char *a, const char *b)
{
	snprintf(buf, n, "%s/%s", a, b);
	return buf;
}

static struct ct_config good(void)
{
	return (struct ct_config){
		.hostname = "web1",
		.rootfs = "/nonexistent-carve-rootfs",
		.argv = init_argv,
		.uid_base = 1000000,
		.gid_base = 1000000,
		.id_count = CT_ID_RANGE,
		.stdio_fd = -1,
	};
}

static void expect_refused(struct ct_config cfg, int code, const char *msg)
{
	struct carve_error err = CARVE_ERROR_INIT;
	pid_t pid = 0;

	assert_int_equal(ct_spawn(&cfg, &pid, &err), code);
	assert_int_equal(pid, 0);
	if (!strstr(err.msg, msg))
		fail_msg("message '%s' lacks '%s'", err.msg, msg);
}

static void test_refuses_host_root(void **state)
{
	struct ct_config c = good();

	c.uid_base = 0;
	expect_refused(c, -EINVAL, "container 'web1': uid/gid base 0: host root is never mapped");
	c = good();
	c.gid_base = 0;
	expect_refused(c, -EINVAL, "host root is never mapped");
}

static void test_refuses_bad_config(void **state)
{
	struct ct_config c = good();
	char *rel[] = {"sbin/init", NULL};

	c.rootfs = "relative/root";
	expect_refused(c, -EINVAL, "rootfs 'relative/root': not an absolute path");
	c = good();
	c.argv = rel;
	expect_refused(c, -EINVAL, "init: not an absolute path");
	c = good();
	c.hostname = "";
	expect_refused(c, -EINVAL, "hostname '': 1 to 64 characters");
	c = good();
	c.uid_base = 4294967295U - 1000;
	expect_refused(c, -ERANGE, "out of range");
}

static void test_child_failure_names_step(void **state)
{
	struct ct_config c = good();

	if (geteuid() != 0)
		skip();
	expect_refused(
		c, -ENOENT,
		"container 'web1': bind rootfs '/nonexistent-carve-rootfs': No such file or directory");
	/* the failed child was reaped by ct_spawn */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* A rootfs whose mount points are symlinks (planted to make a mount land elsewhere) is refused,
 * naming the path; the symlink's target is left alone. */
static void refuse_symlinked(const char *dir, const char *target, const char *msg)
{
	struct ct_config c = good();
	char tmp[] = "/tmp/carve-test-ct-XXXXXX", root[64], p[128], cmd[128];
	const uid_t base = 1000000 + (uid_t)(getpid() % 1000) * CT_ID_RANGE;
	struct stat before, after;

	assert_non_null(mkdtemp(tmp));
	assert_int_equal(chmod(tmp, 0711), 0);
	snprintf(root, sizeof(root), "%s/root", tmp);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(strcat_path(p, sizeof(p), root, "etc"), 0755), 0);
	assert_int_equal(stat(strcat_path(p, sizeof(p), root, "etc"), &before), 0);
	assert_int_equal(symlink(target, strcat_path(p, sizeof(p), root, dir)), 0);
	assert_int_equal(lchown(root, base, base), 0);
	assert_int_equal(lchown(strcat_path(p, sizeof(p), root, "etc"), base, base), 0);
	assert_int_equal(lchown(strcat_path(p, sizeof(p), root, dir), base, base), 0);
	c.rootfs = root;
	c.uid_base = c.gid_base = base;
	expect_refused(c, -ELOOP, msg);
	/* nothing was mounted over the target (inside the root, /etc) */
	assert_int_equal(stat(strcat_path(p, sizeof(p), root, "etc"), &after), 0);
	assert_int_equal(before.st_dev, after.st_dev);
	assert_int_equal(before.st_ino, after.st_ino);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	assert_int_equal(system(cmd), 0);
}

static void test_refuses_symlinked_mount_points(void **state)
{
	if (geteuid() != 0)
		skip();
	refuse_symlinked("proc", "/etc", "container 'web1': rootfs: '/proc' is a symlink");
	refuse_symlinked("sys", "etc", "container 'web1': rootfs: '/sys' is a symlink");
	refuse_symlinked("dev", "../../etc", "container 'web1': rootfs: '/dev' is a symlink");
	refuse_symlinked("run", "/etc", "container 'web1': rootfs: '/run' is a symlink");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refuses_host_root),
		cmocka_unit_test(test_refuses_bad_config),
		cmocka_unit_test(test_child_failure_names_step),
		cmocka_unit_test(test_refuses_symlinked_mount_points),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

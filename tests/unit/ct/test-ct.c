/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ct_spawn(): configuration checks (any user), and, as root, that a failing step inside the
 * child comes back named with its errno. The full container is exercised by the monitor tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct/ct.h"

static char *init_argv[] = {"/bin/sh", NULL};

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refuses_host_root),
		cmocka_unit_test(test_refuses_bad_config),
		cmocka_unit_test(test_child_failure_names_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

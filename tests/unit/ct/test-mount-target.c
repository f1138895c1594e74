/* SPDX-License-Identifier: Apache-2.0 */
/* ct_mount_target_open(): where an extra mount may go inside a container's root. No root needed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fd-util.h"
#include "ct/ct.h"

struct fixture {
	char dir[64]; /* holds root/ and outside/ */
	char root[96];
	int root_fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[160];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/carve-test-mnt-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	assert_int_equal(mkdir(f->root, 0755), 0);
	snprintf(p, sizeof(p), "%s/outside", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/srv", f->root);
	assert_int_equal(mkdir(p, 0755), 0);
	/* an absolute link that would leave the root if followed on the host */
	snprintf(p, sizeof(p), "%s/escape", f->root);
	assert_int_equal(symlink(f->dir, p), 0);
	snprintf(p, sizeof(p), "%s/srv/link", f->root);
	assert_int_equal(symlink("../srv", p), 0);
	snprintf(p, sizeof(p), "%s/file", f->root);
	int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	f->root_fd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->root_fd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->root_fd);
	assert_int_equal(rm_rf(f->dir), 0);
	free(f);
	return 0;
}

static bool exists(const struct fixture *f, const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	return lstat(p, &st) == 0;
}

static void test_creates_missing_components(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct stat a, b;
	char p[256];
	int fd = -1;

	assert_int_equal(ct_mount_target_open(f->root_fd, "/data/deep//x/", true, &fd, &err), 0);
	assert_true(fd >= 0);
	snprintf(p, sizeof(p), "%s/data/deep/x", f->root);
	assert_int_equal(stat(p, &a), 0);
	assert_true(S_ISDIR(a.st_mode));
	assert_int_equal(fstat(fd, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_dev, b.st_dev);
	close(fd);
	/* an existing directory is reused */
	assert_int_equal(ct_mount_target_open(f->root_fd, "/srv", false, &fd, NULL), 0);
	close(fd);
}

static void test_no_create(void **state)
{
	struct fixture *f = *state;
	int fd = -1;

	assert_int_equal(ct_mount_target_open(f->root_fd, "/nope/x", false, &fd, NULL), -ENOENT);
	assert_false(exists(f, "root/nope"));
	assert_int_equal(fd, -1);
}

static void test_symlinks_refused(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	int fd = -1;

	/* the target itself is a symlink */
	assert_int_equal(ct_mount_target_open(f->root_fd, "/srv/link", true, &fd, &err), -ELOOP);
	assert_string_equal(err.msg, "mount target '/srv/link': 'link' is a symlink");
	/* a symlink on the way, pointing out of the root: nothing created outside */
	assert_int_equal(ct_mount_target_open(f->root_fd, "/escape/outside/pwned", true, &fd, NULL),
			 -ELOOP);
	assert_false(exists(f, "outside/pwned"));
	assert_int_equal(fd, -1);
}

static void test_escapes_refused(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	int fd = -1;

	assert_int_equal(ct_mount_target_open(f->root_fd, "/../outside/x", true, &fd, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "mount target '/../outside/x': '..' component");
	assert_int_equal(ct_mount_target_open(f->root_fd, "/srv/../../outside", true, &fd, NULL),
			 -EINVAL);
	assert_int_equal(ct_mount_target_open(f->root_fd, "/srv/./x", true, &fd, NULL), -EINVAL);
	assert_false(exists(f, "outside/x"));
	assert_false(exists(f, "root/srv/x"));
	assert_int_equal(ct_mount_target_open(f->root_fd, "relative", true, &fd, NULL), -EINVAL);
	assert_int_equal(ct_mount_target_open(f->root_fd, "/", true, &fd, NULL), -EINVAL);
	assert_int_equal(ct_mount_target_open(f->root_fd, "//", true, &fd, NULL), -EINVAL);
	assert_false(exists(f, "root/relative"));
	assert_int_equal(fd, -1);
}

static void test_not_a_directory(void **state)
{
	struct fixture *f = *state;
	int fd = -1;

	assert_int_equal(ct_mount_target_open(f->root_fd, "/file", true, &fd, NULL), -ENOTDIR);
	assert_int_equal(ct_mount_target_open(f->root_fd, "/file/x", true, &fd, NULL), -ENOTDIR);
	assert_int_equal(fd, -1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_creates_missing_components),
		T(test_no_create),
		T(test_symlinks_refused),
		T(test_escapes_refused),
		T(test_not_a_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

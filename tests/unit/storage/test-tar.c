/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Template archive extraction (src/storage/tar.c): archives written here byte by byte (ustar, GNU
 * long names, pax), plain and zstd-compressed, extracted into a temporary directory; every
 * hostile shape is refused with the entry named and nothing lands outside the target. Owners are
 * the caller's own ids, so the test needs no root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zstd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "storage/storage.h"

struct tarbuf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct tarbuf *t, const void *data, size_t n)
{
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2 + 4096;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	memcpy(t->p + t->len, data, n);
	t->len += n;
}

static void pad(struct tarbuf *t)
{
	static const uint8_t zero[512];

	if (t->len % 512)
		put(t, zero, 512 - t->len % 512);
}

/* One header (and data, for regular files and pax/longname records). */
static void entry(struct tarbuf *t, const char *name, char type, const char *link, const void *data,
		  size_t size, unsigned uid, unsigned major, unsigned minor)
{
	uint8_t h[512] = {0};
	unsigned sum = 0;

	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0755);
	snprintf((char *)h + 108, 8, "%07o", uid);
	snprintf((char *)h + 116, 8, "%07o", (unsigned)getgid());
	snprintf((char *)h + 124, 12, "%011zo", size);
	snprintf((char *)h + 136, 12, "%011o", 1700000000);
	h[156] = (uint8_t)type;
	if (link)
		snprintf((char *)h + 157, 100, "%s", link);
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	snprintf((char *)h + 329, 8, "%07o", major);
	snprintf((char *)h + 337, 8, "%07o", minor);
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	put(t, h, 512);
	if (size) {
		put(t, data, size);
		pad(t);
	}
}

#define UID ((unsigned)getuid())
#define FILE_(t, n, s) entry(t, n, '0', NULL, s, strlen(s), UID, 0, 0)
#define DIR_(t, n) entry(t, n, '5', NULL, NULL, 0, UID, 0, 0)

static void end(struct tarbuf *t)
{
	static const uint8_t zero[1024];

	put(t, zero, sizeof(zero));
}

struct fixture {
	char dir[PATH_MAX]; /* holds root/ and outside/ */
	char root[PATH_MAX + 8];
	char outside[PATH_MAX + 8];
	int root_fd;
	struct tarbuf t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/carve-test-tar-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
	if (mkdir(f->root, 0755) < 0 || mkdir(f->outside, 0755) < 0)
		return -1;
	f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*state = f;
	return f->root_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->root_fd);
	rm_rf(f->dir);
	free(f->t.p);
	free(f);
	return 0;
}

/* Extract f->t (optionally zstd-compressed) through a file, as carved does. */
static int extract(struct fixture *f, bool zstd, uint64_t max, struct storage_tar_stats *st,
		   struct carve_error *err)
{
	char path[PATH_MAX + 16];
	cleanup_close int fd = -EBADF;
	void *z = NULL;
	size_t n = f->t.len;
	const void *data = f->t.p;
	int r;

	snprintf(path, sizeof(path), "%s/a.tar", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	if (zstd) {
		size_t cap = ZSTD_compressBound(n);

		z = malloc(cap);
		n = ZSTD_compress(z, cap, f->t.p, f->t.len, 3);
		assert_false(ZSTD_isError(n));
		data = z;
	}
	assert_int_equal(loop_write(fd, data, n), 0);
	free(z);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	r = storage_tar_extract(fd, f->root_fd, max, NULL, NULL, st, err);
	(void)unlink(path);
	return r;
}

static void read_rel(const struct fixture *f, const char *rel, const char *want)
{
	char p[PATH_MAX * 2];
	cleanup_free char *s = NULL;

	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	assert_int_equal(read_full_file(p, 4096, &s, NULL), 0);
	assert_string_equal(s, want);
}

static bool outside_empty(const struct fixture *f)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/pwned", f->outside);
	return access(p, F_OK) < 0;
}

static void test_path_clean(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char out[64];

	assert_int_equal(storage_tar_path_clean("./a//b/./c/", out, sizeof(out), &err), 0);
	assert_string_equal(out, "a/b/c");
	assert_int_equal(storage_tar_path_clean("./", out, sizeof(out), &err), 0);
	assert_string_equal(out, "");
	assert_int_equal(storage_tar_path_clean("a..b/..c", out, sizeof(out), &err), 0);
	assert_string_equal(out, "a..b/..c");
	assert_int_equal(storage_tar_path_clean("a/../b", out, sizeof(out), &err), -EPERM);
	assert_string_equal(err.msg, "'..' component");
	carve_err_clear(&err);
	assert_int_equal(storage_tar_path_clean("/etc/passwd", out, sizeof(out), &err), -EPERM);
	assert_int_equal(storage_tar_path_clean("..", out, sizeof(out), &err), -EPERM);
	carve_err_clear(&err);
	assert_int_equal(
		storage_tar_path_clean(
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			out, sizeof(out), &err),
		-ENAMETOOLONG);
}

static void good_archive(struct fixture *f)
{
	char longname[200], pax[256];
	int n;

	DIR_(&f->t, "./");
	DIR_(&f->t, "./etc/");
	FILE_(&f->t, "./etc/hostname", "debian\n");
	entry(&f->t, "./bin", '2', "usr/bin", NULL, 0, UID, 0, 0);
	entry(&f->t, "./etc/mtab", '2', "/proc/self/mounts", NULL, 0, UID, 0, 0);
	entry(&f->t, "./etc/hostname2", '1', "./etc/hostname", NULL, 0, UID, 0, 0);
	entry(&f->t, "./run-fifo", '6', NULL, NULL, 0, UID, 0, 0);
	/* a harmless device node: skipped */
	entry(&f->t, "./null", '3', NULL, NULL, 0, UID, 1, 3);
	/* a file in a directory with no entry of its own */
	FILE_(&f->t, "usr/share/doc/x", "doc");
	/* GNU long name */
	memset(longname, 'l', sizeof(longname));
	memcpy(longname, "usr/", 4);
	longname[150] = '\0';
	entry(&f->t, "././@LongLink", 'L', NULL, longname, strlen(longname) + 1, 0, 0, 0);
	FILE_(&f->t, "truncated-name", "long");
	/* pax path */
	n = snprintf(pax, sizeof(pax), "%d path=usr/pax-named\n", 22 + 0);
	assert_int_equal(n, 22);
	entry(&f->t, "PaxHeaders/x", 'x', NULL, pax, (size_t)n, 0, 0, 0);
	FILE_(&f->t, "ignored-name", "pax");
	end(&f->t);
}

static void check_good(struct fixture *f, const struct storage_tar_stats *st)
{
	char p[PATH_MAX * 2], buf[64], longname[200];
	struct stat a, b;
	ssize_t n;

	read_rel(f, "etc/hostname", "debian\n");
	read_rel(f, "usr/share/doc/x", "doc");
	read_rel(f, "usr/pax-named", "pax");
	memset(longname, 'l', sizeof(longname));
	memcpy(longname, "usr/", 4);
	longname[150] = '\0';
	read_rel(f, longname, "long");
	snprintf(p, sizeof(p), "%s/etc/mtab", f->root);
	n = readlink(p, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "/proc/self/mounts");
	snprintf(p, sizeof(p), "%s/etc/hostname", f->root);
	assert_int_equal(stat(p, &a), 0);
	snprintf(p, sizeof(p), "%s/etc/hostname2", f->root);
	assert_int_equal(stat(p, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	assert_int_equal(a.st_mode & 07777, 0755);
	snprintf(p, sizeof(p), "%s/run-fifo", f->root);
	assert_int_equal(lstat(p, &a), 0);
	assert_true(S_ISFIFO(a.st_mode));
	snprintf(p, sizeof(p), "%s/null", f->root);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(st->skipped_devices, 1);
	assert_int_equal(st->hardlinks, 1);
	assert_int_equal(st->symlinks, 2);
	assert_int_equal(st->files, 4);
}

static void test_extract_plain(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_tar_stats st;

	good_archive(f);
	if (extract(f, false, 1 << 20, &st, &err) < 0)
		fail_msg("extract: %s", err.msg);
	check_good(f, &st);
}

static void test_extract_zstd(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_tar_stats st;

	good_archive(f);
	if (extract(f, true, 1 << 20, &st, &err) < 0)
		fail_msg("extract: %s", err.msg);
	check_good(f, &st);
}

/* Each hostile archive: refused with the message, nothing outside. */
static void refused(struct fixture *f, int code, const char *msg)
{
	struct carve_error err = CARVE_ERROR_INIT;

	end(&f->t);
	assert_int_equal(extract(f, false, 1 << 20, NULL, &err), code);
	if (!strstr(err.msg, msg))
		fail_msg("error '%s' does not say '%s'", err.msg, msg);
	assert_true(outside_empty(f));
	f->t.len = 0;
}

static void test_hostile(void **state)
{
	struct fixture *f = *state;
	char target[PATH_MAX * 2];

	FILE_(&f->t, "../outside/pwned", "x");
	refused(f, -EPERM, "entry '../outside/pwned': '..' component");

	snprintf(target, sizeof(target), "%s/pwned", f->outside);
	FILE_(&f->t, target, "x");
	refused(f, -EPERM, "absolute path");

	/* a symlink planted, then a write through it */
	entry(&f->t, "evil", '2', f->outside, NULL, 0, UID, 0, 0);
	FILE_(&f->t, "evil/pwned", "x");
	refused(f, -ELOOP, "entry 'evil/pwned': 'evil' is a symlink: refusing to write through it");

	/* a relative one climbing out */
	entry(&f->t, "up", '2', "../outside", NULL, 0, UID, 0, 0);
	FILE_(&f->t, "up/pwned", "x");
	refused(f, -ELOOP, "'up' is a symlink");

	/* a directory replaced by a symlink, then written into */
	DIR_(&f->t, "d");
	entry(&f->t, "d", '2', f->outside, NULL, 0, UID, 0, 0);
	FILE_(&f->t, "d/pwned", "x");
	refused(f, -ELOOP, "'d' is a symlink");

	entry(&f->t, "h", '1', "../outside/x", NULL, 0, UID, 0, 0);
	refused(f, -EPERM, "entry 'h': hard link to '../outside/x': '..' component");

	entry(&f->t, "mem", '3', NULL, NULL, 0, UID, 1, 1);
	refused(f, -EPERM, "entry 'mem': character device 1:1: device nodes are not allowed");
	entry(&f->t, "sda", '4', NULL, NULL, 0, UID, 8, 0);
	refused(f, -EPERM, "block device 8:0");

	entry(&f->t, "f", '0', NULL, "x", 1, 70000, 0, 0);
	refused(f, -ERANGE, "owner 70000");

	entry(&f->t, "s", 'S', NULL, NULL, 0, UID, 0, 0);
	refused(f, -EPROTONOSUPPORT, "type 'S' is not supported");
}

static void test_limits_and_corruption(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	char big[4096];

	memset(big, 'b', sizeof(big));
	entry(&f->t, "a", '0', NULL, big, sizeof(big), UID, 0, 0);
	entry(&f->t, "b", '0', NULL, big, sizeof(big), UID, 0, 0);
	end(&f->t);
	assert_int_equal(extract(f, false, 6000, NULL, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "entry 'b': the archive's files exceed"));

	/* truncated in the middle of a file */
	carve_err_clear(&err);
	f->t.len = 512 + 100;
	assert_int_equal(extract(f, false, 1 << 20, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "truncated"));

	/* a flipped byte in a header */
	carve_err_clear(&err);
	f->t.len = 0;
	FILE_(&f->t, "c", "x");
	end(&f->t);
	f->t.p[10] ^= 1;
	assert_int_equal(extract(f, false, 1 << 20, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "not a tar archive"));

	/* gzip is named */
	carve_err_clear(&err);
	f->t.len = 0;
	put(&f->t, "\x1f\x8b\x08\x00", 4);
	assert_int_equal(extract(f, false, 1 << 20, NULL, &err), -EPROTONOSUPPORT);
	assert_non_null(strstr(err.msg, "gzip"));

	/* empty */
	carve_err_clear(&err);
	f->t.len = 0;
	end(&f->t);
	assert_int_equal(extract(f, false, 1 << 20, NULL, &err), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_clean),
		cmocka_unit_test_setup_teardown(test_extract_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extract_zstd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_and_corruption, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The base module: parsers, error composition, string helpers, file helpers. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fd-util.h"
#include "base/parse-util.h"
#include "base/string-util.h"

/* --- parse_size / format_size ----------------------------------------------------------------- */

static void assert_size(const char *s, uint64_t want)
{
	struct carve_error err = CARVE_ERROR_INIT;
	uint64_t v = 0xdeadbeef;

	if (parse_size(s, &v, &err) != 0)
		fail_msg("parse_size('%s'): %s", s, err.msg);
	if (v != want)
		fail_msg("parse_size('%s') = %llu, want %llu", s, (unsigned long long)v,
			 (unsigned long long)want);
}

static void assert_size_fails(const char *s, int want)
{
	struct carve_error err = CARVE_ERROR_INIT;
	uint64_t v = 42;

	if (parse_size(s, &v, &err) != want)
		fail_msg("parse_size('%s') did not fail with %d", s ? s : "(null)", want);
	assert_int_equal(v, 42); /* untouched on failure */
	assert_int_equal(err.code, want);
	assert_true(err.msg[0] != '\0');
}

static void test_parse_size_valid(void **state)
{
	assert_size("0", 0);
	assert_size("100", 100);
	assert_size("100B", 100);
	assert_size("1K", 1024);
	assert_size("1k", 1024);
	assert_size("512M", UINT64_C(512) << 20);
	assert_size("2G", UINT64_C(2) << 30);
	assert_size("2Gi", UINT64_C(2) << 30);
	assert_size("2GiB", UINT64_C(2) << 30);
	assert_size("2gb", UINT64_C(2) << 30);
	assert_size("3T", UINT64_C(3) << 40);
	assert_size("1P", UINT64_C(1) << 50);
	assert_size("1.5G", UINT64_C(3) << 29);
	assert_size("0.5K", 512);
	assert_size("1.25M", UINT64_C(5) << 18);
	assert_size("9223372036854775807", INT64_MAX);
	assert_size("8191P", UINT64_C(8191) << 50);
	assert_size("8191.5P", (UINT64_C(8191) << 50) + (UINT64_C(1) << 49));
	/* precision beyond what a byte holds is ignored, not an error */
	assert_size("1.0000000000001K", 1024);
}

static void test_parse_size_invalid(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	uint64_t v;

	assert_size_fails(NULL, -EINVAL);
	assert_size_fails("", -EINVAL);
	assert_size_fails("-1", -EINVAL);
	assert_size_fails("+1", -EINVAL);
	assert_size_fails(" 1G", -EINVAL);
	assert_size_fails("1G ", -EINVAL);
	assert_size_fails("1 G", -EINVAL);
	assert_size_fails("12X", -EINVAL);
	assert_size_fails("G", -EINVAL);
	assert_size_fails("1.5", -EINVAL); /* a fraction of a byte */
	assert_size_fails("1.", -EINVAL);
	assert_size_fails(".5G", -EINVAL);
	assert_size_fails("1..5G", -EINVAL);
	assert_size_fails("1GG", -EINVAL);
	assert_size_fails("1BB", -EINVAL);
	assert_size_fails("1KiBx", -EINVAL);
	assert_size_fails("0x10", -EINVAL);
	assert_size_fails("1e9", -EINVAL);
	assert_size_fails("123456789012345678901234567890123", -EINVAL); /* > 32 chars */
	/* overflow: past 2^63-1, in the number or through the suffix */
	assert_size_fails("9223372036854775808", -ERANGE);
	assert_size_fails("99999999999999999999999", -ERANGE);
	assert_size_fails("8192P", -ERANGE);
	assert_size_fails("100000000000000T", -ERANGE);

	assert_int_equal(parse_size("12X", &v, &err), -EINVAL);
	assert_string_equal(err.msg, "'12X': not a size (use e.g. 512M, 2G)");
}

static void test_format_size(void **state)
{
	static const uint64_t round_trip[] = {
		0,
		100,
		1024,
		1536,
		UINT64_C(512) << 20,
		UINT64_C(3) << 29,
		UINT64_C(3) << 40,
		UINT64_C(1) << 50,
		UINT64_C(1) << 60,
	};
	char buf[32];

	assert_string_equal(format_size(0, buf, sizeof(buf)), "0");
	assert_string_equal(format_size(100, buf, sizeof(buf)), "100");
	assert_string_equal(format_size(1023, buf, sizeof(buf)), "1023");
	assert_string_equal(format_size(1024, buf, sizeof(buf)), "1K");
	assert_string_equal(format_size(UINT64_C(512) << 20, buf, sizeof(buf)), "512M");
	assert_string_equal(format_size(UINT64_C(10) << 30, buf, sizeof(buf)), "10G");
	assert_string_equal(format_size(UINT64_C(1) << 60, buf, sizeof(buf)), "1E");
	/* a small buffer is never overrun */
	format_size(UINT64_C(512) << 20, buf, 3);
	assert_string_equal(buf, "51");

	for (size_t i = 0; i < ELEMENTSOF(round_trip); i++) {
		uint64_t v;

		format_size(round_trip[i], buf, sizeof(buf));
		if (round_trip[i] == UINT64_C(1) << 60)
			continue; /* 'E' is beyond what parse_size accepts */
		assert_int_equal(parse_size(buf, &v, NULL), 0);
		assert_int_equal(v, round_trip[i]);
	}
}

/* --- names, integers, ids --------------------------------------------------------------------- */

static void test_parse_name(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char n63[64], n64[65];

	memset(n63, 'a', 63);
	n63[63] = '\0';
	memset(n64, 'a', 64);
	n64[64] = '\0';
	assert_int_equal(parse_name("web1", "server", &err), 0);
	assert_int_equal(parse_name("a", "server", &err), 0);
	assert_int_equal(parse_name("my-web-2", "server", &err), 0);
	assert_int_equal(parse_name(n63, "server", &err), 0);
	assert_false(carve_err_isset(&err));

	assert_int_equal(parse_name("", "server", &err), -EINVAL);
	assert_string_equal(err.msg, "server name is empty");
	carve_err_clear(&err);
	assert_int_equal(parse_name(n64, "tenant", &err), -EINVAL);
	assert_string_equal(err.msg, "tenant name is longer than 63 characters");
	carve_err_clear(&err);
	assert_int_equal(parse_name("Web1", "server", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "server name 'Web1': use lowercase letters"));
	assert_int_equal(parse_name(NULL, "server", NULL), -EINVAL);
	assert_int_equal(parse_name("1web", "server", NULL), -EINVAL);
	assert_int_equal(parse_name("-web", "server", NULL), -EINVAL);
	assert_int_equal(parse_name("web-", "server", NULL), -EINVAL);
	assert_int_equal(parse_name("web_1", "server", NULL), -EINVAL);
	assert_int_equal(parse_name("web.1", "server", NULL), -EINVAL);
	assert_int_equal(parse_name("web 1", "server", NULL), -EINVAL);
	assert_int_equal(parse_name("../etc", "server", NULL), -EINVAL);
	assert_true(name_is_valid("x-1"));
	assert_false(name_is_valid(NULL));
}

static void test_parse_uint64(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	uint64_t v = 7;

	assert_int_equal(parse_uint64("0", 0, 10, &v, NULL), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_uint64("42", 0, 100, &v, NULL), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_uint64("18446744073709551615", 0, UINT64_MAX, &v, NULL), 0);
	assert_true(v == UINT64_MAX);

	v = 7;
	assert_int_equal(parse_uint64("18446744073709551616", 0, UINT64_MAX, &v, NULL), -ERANGE);
	assert_int_equal(parse_uint64("99999999999999999999", 0, UINT64_MAX, &v, NULL), -ERANGE);
	assert_int_equal(parse_uint64("5", 10, 20, &v, &err), -ERANGE);
	assert_string_equal(err.msg, "'5': out of range 10..20");
	assert_int_equal(parse_uint64("21", 10, 20, &v, NULL), -ERANGE);
	assert_int_equal(parse_uint64("", 0, 10, &v, NULL), -EINVAL);
	assert_int_equal(parse_uint64(NULL, 0, 10, &v, NULL), -EINVAL);
	assert_int_equal(parse_uint64("007", 0, 10, &v, NULL), -EINVAL);
	assert_int_equal(parse_uint64("-1", 0, 10, &v, NULL), -EINVAL);
	assert_int_equal(parse_uint64("+1", 0, 10, &v, NULL), -EINVAL);
	assert_int_equal(parse_uint64(" 1", 0, 10, &v, NULL), -EINVAL);
	assert_int_equal(parse_uint64("1a", 0, 10, &v, NULL), -EINVAL);
	assert_int_equal(parse_uint64("184467440737095516150", 0, UINT64_MAX, &v, NULL), -EINVAL);
	assert_int_equal(v, 7);
}

static void test_parse_id(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char id[33];

	assert_int_equal(parse_id("0123456789abcdef0123456789abcdef", NULL), 0);
	assert_int_equal(parse_id("0123456789ABCDEF0123456789abcdef", &err), -EINVAL);
	assert_string_equal(err.msg,
			    "'0123456789ABCDEF0123456789abcdef': not an id (32 hex characters)");
	assert_int_equal(parse_id("0123456789abcdef0123456789abcde", NULL), -EINVAL);
	assert_int_equal(parse_id("0123456789abcdef0123456789abcdef0", NULL), -EINVAL);
	assert_int_equal(parse_id("0123456789abcdef0123456789abcdeg", NULL), -EINVAL);
	assert_int_equal(parse_id("", NULL), -EINVAL);
	assert_int_equal(parse_id(NULL, NULL), -EINVAL);

	assert_int_equal(random_id(id), 0);
	assert_true(id_is_valid(id));
}

/* --- errors ----------------------------------------------------------------------------------- */

static int inner(struct carve_error *err)
{
	return carve_err_field(err, -ENOENT, "memory", "'12X': not a size");
}

static void test_carve_err(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char longer[2 * CARVE_ERROR_MSG_MAX];

	assert_int_equal(inner(&err), -ENOENT);
	assert_int_equal(carve_err_prefix(&err, "memory"), -ENOENT);
	assert_int_equal(carve_err_prefix(&err, "server '%s'", "web1"), -ENOENT);
	assert_string_equal(err.msg, "server 'web1': memory: '12X': not a size");
	assert_string_equal(err.field, "memory");
	assert_true(carve_err_isset(&err));

	/* a second carve_err adds context but keeps the first code and field */
	assert_int_equal(carve_err_field(&err, -EIO, "name", "create"), -ENOENT);
	assert_string_equal(err.msg, "create: server 'web1': memory: '12X': not a size");
	assert_string_equal(err.field, "memory");

	carve_err_clear(&err);
	assert_false(carve_err_isset(&err));
	assert_string_equal(err.msg, "");
	assert_string_equal(err.field, "");

	/* positive and zero codes become negative */
	assert_int_equal(carve_err(&err, EPERM, "x"), -EPERM);
	carve_err_clear(&err);
	assert_int_equal(carve_err(&err, 0, "x"), -EIO);

	/* NULL err: the code still comes back */
	assert_int_equal(carve_err(NULL, -EEXIST, "x"), -EEXIST);
	assert_int_equal(carve_err_prefix(NULL, "x"), -EIO);
	assert_false(carve_err_isset(NULL));
	carve_err_clear(NULL);

	/* too long: truncated, never overrun */
	carve_err_clear(&err);
	memset(longer, 'y', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	carve_err(&err, -EINVAL, "%s", longer);
	carve_err_prefix(&err, "%s", longer);
	assert_int_equal(strlen(err.msg), CARVE_ERROR_MSG_MAX - 1);
	assert_int_equal(err.code, -EINVAL);
}

/* --- string helpers --------------------------------------------------------------------------- */

static void test_strscpy(void **state)
{
	char buf[6];

	memset(buf, 'z', sizeof(buf));
	assert_int_equal(strscpy(buf, "hello", sizeof(buf)), 0);
	assert_string_equal(buf, "hello");
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(strscpy(buf, "hello!", sizeof(buf)), -E2BIG);
	assert_string_equal(buf, "hello");
	assert_int_equal(strscpy(buf, "", sizeof(buf)), 0);
	assert_string_equal(buf, "");
	buf[0] = 'q';
	assert_int_equal(strscpy(buf, "x", 0), -E2BIG);
	assert_int_equal(buf[0], 'q');
	assert_int_equal(strscpy(buf, "x", 1), -E2BIG);
	assert_string_equal(buf, "");
}

static void test_string_misc(void **state)
{
	static const uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
	char hex[9];

	hex_encode(bytes, sizeof(bytes), hex);
	assert_string_equal(hex, "000fa5ff");
	assert_true(memeq_consttime("abcd", "abcd", 4));
	assert_false(memeq_consttime("abcd", "abce", 4));
	{
		static uint8_t big[3 * 4096 + 7];
		assert_true(mem_is_zero(big, 0));
		assert_true(mem_is_zero(big, sizeof(big)));
		big[sizeof(big) - 1] = 1; /* in the tail after the whole pages */
		assert_false(mem_is_zero(big, sizeof(big)));
		assert_true(mem_is_zero(big, sizeof(big) - 1));
		big[4096] = 1; /* in a whole page */
		assert_false(mem_is_zero(big, sizeof(big) - 1));
		assert_true(mem_is_zero(big, 4096));
	}
	assert_true(streq("a", "a"));
	assert_false(streq("a", NULL));
	assert_true(startswith("carve_123", "carve_"));
	assert_false(startswith("carv", "carve_"));

	char ts[32];
	format_timestamp(0, ts);
	assert_string_equal(ts, "1970-01-01T00:00:00Z");
	format_timestamp(1795341600, ts);
	assert_string_equal(ts, "2026-11-22T10:00:00Z");
}

/* --- files ------------------------------------------------------------------------------------ */

struct tmpdir {
	char path[64];
};

static int setup_dir(void **state)
{
	struct tmpdir *d = calloc(1, sizeof(*d));

	snprintf(d->path, sizeof(d->path), "/tmp/carve-test-base-XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	*state = d;
	return 0;
}

static int teardown_dir(void **state)
{
	struct tmpdir *d = *state;
	int r = rm_rf(d->path);

	free(d);
	return r;
}

static void test_write_read_file(void **state)
{
	struct tmpdir *d = *state;
	char path[128];
	char *data = NULL;
	size_t len = 0;
	struct stat st;
	char big[10000];

	umask(022);
	snprintf(path, sizeof(path), "%s/conf", d->path);
	assert_int_equal(write_file_atomic(path, "one\n", 4, 0640), 0);
	assert_int_equal(read_full_file(path, 1024, &data, &len), 0);
	assert_int_equal(len, 4);
	assert_string_equal(data, "one\n");
	free(data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);

	/* replaced whole, and no temporary file left behind */
	assert_int_equal(write_file_atomic(path, "two", 3, 0600), 0);
	assert_int_equal(read_full_file(path, 1024, &data, &len), 0);
	assert_string_equal(data, "two");
	assert_int_equal(len, 3);
	free(data);
	/* limits below the first buffer size hold too, and exactly max bytes is fine */
	data = NULL;
	assert_int_equal(read_full_file(path, 2, &data, &len), -EFBIG);
	assert_null(data);
	assert_int_equal(read_full_file(path, 3, &data, NULL), 0);
	assert_string_equal(data, "two");
	free(data);
	snprintf(path, sizeof(path), "%s/conf.tmp%d", d->path, (int)getpid());
	assert_int_equal(access(path, F_OK), -1);

	/* the size limit holds, and grows the buffer past its first guess */
	snprintf(path, sizeof(path), "%s/big", d->path);
	memset(big, 'b', sizeof(big));
	assert_int_equal(write_file_atomic(path, big, sizeof(big), 0600), 0);
	data = NULL;
	assert_int_equal(read_full_file(path, 9999, &data, &len), -EFBIG);
	assert_null(data);
	assert_int_equal(read_full_file(path, 10000, &data, &len), 0);
	assert_int_equal(len, 10000);
	assert_memory_equal(data, big, sizeof(big));
	free(data);

	snprintf(path, sizeof(path), "%s/missing", d->path);
	assert_int_equal(read_full_file(path, 10, &data, &len), -ENOENT);
	snprintf(path, sizeof(path), "%s/no/such/dir/f", d->path);
	assert_int_equal(write_file_atomic(path, "x", 1, 0600), -ENOENT);
}

static void test_mkdir_p_rm_rf(void **state)
{
	struct tmpdir *d = *state;
	char path[160], outside[160], link[192];
	struct stat st;

	snprintf(path, sizeof(path), "%s/a/b/c/d", d->path);
	assert_int_equal(mkdir_p(path, 0755), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mkdir_p(path, 0755), 0); /* already there */
	snprintf(path, sizeof(path), "%s/a/b/file", d->path);
	assert_int_equal(write_file_atomic(path, "x", 1, 0600), 0);
	snprintf(path, sizeof(path), "%s/a/b/file/sub", d->path);
	assert_int_equal(mkdir_p(path, 0755), -ENOTDIR);

	/* a symlink inside the tree is removed, never followed */
	snprintf(outside, sizeof(outside), "%s/outside", d->path);
	assert_int_equal(mkdir_p(outside, 0755), 0);
	snprintf(path, sizeof(path), "%s/keep", outside);
	assert_int_equal(write_file_atomic(path, "k", 1, 0600), 0);
	snprintf(link, sizeof(link), "%s/a/b/c/link", d->path);
	assert_int_equal(symlink(outside, link), 0);

	snprintf(path, sizeof(path), "%s/a", d->path);
	assert_int_equal(rm_rf(path), 0);
	assert_int_equal(lstat(path, &st), -1);
	snprintf(path, sizeof(path), "%s/keep", outside);
	assert_int_equal(access(path, F_OK), 0);

	/* missing is fine; a single file works too */
	snprintf(path, sizeof(path), "%s/a", d->path);
	assert_int_equal(rm_rf(path), 0);
	snprintf(path, sizeof(path), "%s/keep", outside);
	assert_int_equal(rm_rf(path), 0);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_loop_io(void **state)
{
	int p[2];
	char in[100000], out[100000];
	pid_t pid;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* larger than the pipe buffer: the writer must loop over short writes */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(loop_write(p[1], in, sizeof(in)) == 0 ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(loop_read(p[0], out, sizeof(out)), sizeof(out));
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(loop_read(p[0], out, 10), 0); /* EOF */
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size_valid),
		cmocka_unit_test(test_parse_size_invalid),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_parse_name),
		cmocka_unit_test(test_parse_uint64),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_carve_err),
		cmocka_unit_test(test_strscpy),
		cmocka_unit_test(test_string_misc),
		cmocka_unit_test_setup_teardown(test_write_read_file, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mkdir_p_rm_rf, setup_dir, teardown_dir),
		cmocka_unit_test(test_loop_io),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Backup schedules: cron expressions, macros and "@every", their next run (UTC) and their
 * errors, which name the field and say how to write it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "daemon/backups.h"

/* 2026-11-23 01:02:03 UTC, a Monday */
#define NOW ((int64_t)1795395723)

static int64_t next(const char *expr)
{
	struct carve_error err = CARVE_ERROR_INIT;
	int64_t t = 0;

	assert_int_equal(backup_schedule_parse(expr, NOW, 300, &t, &err), 0);
	return t;
}

static void fmt(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M %a", &tm);
}

static void expect(const char *expr, const char *want)
{
	char got[32];

	fmt(next(expr), got);
	assert_string_equal(got, want);
}

static void test_now_is_monday(void **state)
{
	char s[32];

	fmt(NOW, s);
	assert_string_equal(s, "2026-11-23 01:02 Mon");
}

static void test_cron(void **state)
{
	expect("* * * * *", "2026-11-23 01:03 Mon");
	expect("30 2 * * *", "2026-11-23 02:30 Mon");
	expect("0 0 * * *", "2026-11-24 00:00 Tue");
	expect("*/15 * * * *", "2026-11-23 01:15 Mon");
	expect("0 9-17/4 * * 1-5", "2026-11-23 09:00 Mon");
	expect("0 0 * * 0", "2026-11-29 00:00 Sun");
	expect("0 0 * * 7", "2026-11-29 00:00 Sun");
	expect("0 12 1 1 *", "2027-01-01 12:00 Fri");
	expect("0 0 29 2 *", "2028-02-29 00:00 Tue");
	/* day of month and day of week both set: either matches (cron) */
	expect("0 0 1 * 3", "2026-11-25 00:00 Wed");
	expect("5,10 1 * * *", "2026-11-23 01:05 Mon");
}

static void test_macros(void **state)
{
	expect("@hourly", "2026-11-23 02:00 Mon");
	expect("@daily", "2026-11-24 00:00 Tue");
	expect("@weekly", "2026-11-29 00:00 Sun");
	expect("@monthly", "2026-12-01 00:00 Tue");
	expect("@yearly", "2027-01-01 00:00 Fri");
	assert_int_equal(next("@every 6h"), NOW + 6 * 3600);
	assert_int_equal(next("@every 30m"), NOW + 1800);
	assert_int_equal(next("@every 1d"), NOW + 86400);
}

static void test_errors(void **state)
{
	static const char *const bad[] = {
		"",	     "* * * *",	   "* * * * * *", "60 * * * *",	  "* 24 * * *",
		"* * 0 * *", "* * * 13 *", "* * * * 8",	  "*/0 * * * *",  "5-1 * * * *",
		"a * * * *", "-1 * * * *", "@sometimes",  "@every",	  "@every 10x",
		"@every 0s", "@every 1m",  "@every -5m",  "1,,2 * * * *", "0 0 31 2 *",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct carve_error err = CARVE_ERROR_INIT;
		int64_t t = 0;

		if (backup_schedule_parse(bad[i], NOW, 300, &t, &err) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_string_equal(err.field, "schedule");
		assert_true(strlen(err.msg) > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_now_is_monday),
		cmocka_unit_test(test_cron),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

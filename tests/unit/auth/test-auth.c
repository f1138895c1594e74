/* SPDX-License-Identifier: Apache-2.0 */
/* Passwords, secrets, the rights table and the login throttle. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth/auth.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- passwords -------------------------------------------------------------------------------- */

static void test_password_hash_verify(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char *h1 = NULL, *h2 = NULL;

	assert_int_equal(auth_password_hash("correct horse battery", &h1, &err), 0);
	assert_non_null(h1);
	assert_true(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	assert_int_equal(auth_password_verify(h1, "correct horse battery"), 1);
	assert_int_equal(auth_password_verify(h1, "correct horse batterY"), 0);
	assert_int_equal(auth_password_verify(h1, ""), 0);

	/* a fresh salt each time: the same password never gives the same string */
	assert_int_equal(auth_password_hash("correct horse battery", &h2, &err), 0);
	assert_string_not_equal(h1, h2);
	assert_int_equal(auth_password_verify(h2, "correct horse battery"), 1);

	/* not an argon2id string: an error, never a match */
	assert_true(auth_password_verify("$2b$10$abcdefghijklmnopqrstuv", "x") < 0);
	assert_true(auth_password_verify("", "correct horse battery") < 0);
	free(h1);
	free(h2);
}

static void test_password_length_limits(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char pw[AUTH_PASSWORD_MAX + 2];
	char *h = NULL;

	assert_int_equal(auth_password_hash("1234567", &h, &err), -EINVAL);
	assert_null(h);
	assert_string_equal(err.msg, "password is shorter than 8 characters");
	assert_string_equal(err.field, "password");
	assert_int_equal(auth_password_hash(NULL, &h, NULL), -EINVAL);

	assert_int_equal(auth_password_hash("12345678", &h, NULL), 0);
	assert_int_equal(auth_password_verify(h, "12345678"), 1);
	free(h);
	h = NULL;

	memset(pw, 'p', AUTH_PASSWORD_MAX);
	pw[AUTH_PASSWORD_MAX] = '\0';
	assert_int_equal(auth_password_hash(pw, &h, NULL), 0);
	assert_int_equal(auth_password_verify(h, pw), 1);
	/* one more character: refused on hashing, and never matches on verify */
	pw[AUTH_PASSWORD_MAX] = 'p';
	pw[AUTH_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(auth_password_verify(h, pw), 0);
	free(h);
	h = NULL;
	carve_err_clear(&err);
	assert_int_equal(auth_password_hash(pw, &h, &err), -EINVAL);
	assert_string_equal(err.msg, "password is longer than 256 characters");
	assert_null(h);
}

static void test_password_unknown_user_costs_the_same(void **state)
{
	char *h = NULL;
	double t0, real = 0, dummy = 0;

	assert_int_equal(auth_password_hash("some password", &h, NULL), 0);
	assert_int_equal(auth_password_verify(NULL, "warm up"), 0);
	for (int i = 0; i < 3; i++) {
		t0 = now_s();
		assert_int_equal(auth_password_verify(h, "wrong password"), 0);
		real += now_s() - t0;
		t0 = now_s();
		assert_int_equal(auth_password_verify(NULL, "wrong password"), 0);
		dummy += now_s() - t0;
	}
	/* The same argon2id work: within a generous factor on a noisy machine, and far from the
	 * microseconds a shortcut would take. */
	assert_true(dummy > real / 3);
	assert_true(dummy < real * 3);
	/* Even the dummy hash's own password does not log an unknown user in. */
	assert_int_equal(auth_password_verify(NULL, ""), 0);
	free(h);
}

struct hash_thread {
	const char *encoded;
	int result;
};

static void *verify_worker(void *p)
{
	struct hash_thread *t = p;

	t->result = auth_password_verify(t->encoded, "parallel password");
	return NULL;
}

static void test_password_parallel(void **state)
{
	struct hash_thread th[3 * AUTH_MAX_CONCURRENT_HASHES];
	pthread_t tid[ELEMENTSOF(th)];
	char *h = NULL;

	/* More callers than slots: all finish, each with the right answer. */
	assert_int_equal(auth_password_hash("parallel password", &h, NULL), 0);
	for (size_t i = 0; i < ELEMENTSOF(th); i++) {
		th[i] = (struct hash_thread){.encoded = i % 3 == 2 ? NULL : h, .result = -1};
		assert_int_equal(pthread_create(&tid[i], NULL, verify_worker, &th[i]), 0);
	}
	for (size_t i = 0; i < ELEMENTSOF(th); i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(th[i].result, i % 3 == 2 ? 0 : 1);
	}
	free(h);
}

static void test_password_generate(void **state)
{
	char a[25], b[25], tiny[1];

	/* len is the buffer size: 24 characters and a NUL, nothing past it */
	memset(a, 0x7f, sizeof(a));
	assert_int_equal(auth_password_generate(a, sizeof(a)), 0);
	assert_int_equal(strlen(a), 24);
	for (size_t i = 0; i < 24; i++)
		assert_non_null(
			strchr("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", a[i]));
	assert_int_equal(auth_password_generate(b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(auth_password_generate(tiny, sizeof(tiny)), 0);
	assert_string_equal(tiny, "");
	assert_int_equal(auth_password_generate(tiny, 0), -EINVAL);
}

/* --- secrets ---------------------------------------------------------------------------------- */

static void test_secret(void **state)
{
	char s1[AUTH_SECRET_LEN + 1], s2[AUTH_SECRET_LEN + 1], h1[65], h2[65], again[65];

	assert_int_equal(auth_secret_new(s1, h1), 0);
	assert_int_equal(auth_secret_new(s2, h2), 0);
	assert_int_equal(strlen(s1), AUTH_SECRET_LEN);
	assert_true(strncmp(s1, "carve_", 6) == 0);
	for (size_t i = 6; i < AUTH_SECRET_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", s1[i]));
	assert_string_not_equal(s1, s2);
	assert_string_not_equal(h1, h2);
	assert_int_equal(strlen(h1), 64);
	auth_secret_hash(s1, again);
	assert_string_equal(again, h1);

	/* FIPS 180-2 test vectors */
	auth_secret_hash("abc", again);
	assert_string_equal(again,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	auth_secret_hash("", again);
	assert_string_equal(again,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* --- rights ----------------------------------------------------------------------------------- */

static void test_rights_table(void **state)
{
	/* Written out in full, independently of the implementation's bit masks. */
	static const struct {
		enum auth_right right;
		bool admin, owner, operator, viewer;
	} want[] = {
		{AUTH_RIGHT_SERVERS_READ, true, true, true, true},
		{AUTH_RIGHT_SERVERS_OPERATE, true, true, true, false},
		{AUTH_RIGHT_SERVERS_WRITE, true, true, false, false},
		{AUTH_RIGHT_TASKS_READ, true, true, true, true},
		{AUTH_RIGHT_TEMPLATES_READ, true, true, true, true},
		{AUTH_RIGHT_TEMPLATES_WRITE, true, false, false, false},
		{AUTH_RIGHT_USERS_READ, true, true, false, false},
		{AUTH_RIGHT_USERS_WRITE, true, true, false, false},
		{AUTH_RIGHT_TOKENS_WRITE, true, true, true, true},
		{AUTH_RIGHT_TENANTS_READ, true, true, true, true},
		{AUTH_RIGHT_TENANTS_WRITE, true, false, false, false},
		{AUTH_RIGHT_POOLS_READ, true, false, false, false},
		{AUTH_RIGHT_POOLS_WRITE, true, false, false, false},
		{AUTH_RIGHT_BACKUPS_READ, true, true, true, true},
		{AUTH_RIGHT_BACKUPS_WRITE, true, true, false, false},
		{AUTH_RIGHT_NETWORKS_READ, true, true, true, true},
		{AUTH_RIGHT_NETWORKS_WRITE, true, true, false, false},
	};

	assert_int_equal(ELEMENTSOF(want), _AUTH_RIGHT_MAX);
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		assert_int_equal(auth_role_has_right(DB_ROLE_ADMIN, want[i].right), want[i].admin);
		assert_int_equal(auth_role_has_right(DB_ROLE_OWNER, want[i].right), want[i].owner);
		assert_int_equal(auth_role_has_right(DB_ROLE_OPERATOR, want[i].right),
				 want[i].operator);
		assert_int_equal(auth_role_has_right(DB_ROLE_VIEWER, want[i].right),
				 want[i].viewer);
	}
	assert_false(auth_role_has_right(_DB_ROLE_INVALID, AUTH_RIGHT_SERVERS_READ));
	assert_false(auth_role_has_right((enum db_role)17, AUTH_RIGHT_SERVERS_READ));
	assert_false(auth_role_has_right(DB_ROLE_ADMIN, _AUTH_RIGHT_MAX));

	assert_string_equal(auth_right_to_string(AUTH_RIGHT_SERVERS_OPERATE), "servers.operate");
	assert_string_equal(auth_right_to_string(AUTH_RIGHT_TENANTS_WRITE), "tenants.write");
	assert_string_equal(auth_right_to_string(AUTH_RIGHT_TOKENS_WRITE), "tokens.write");
	assert_null(auth_right_to_string(_AUTH_RIGHT_MAX));
	for (int r = 0; r < _AUTH_RIGHT_MAX; r++)
		assert_non_null(auth_right_to_string(r));
}

static void test_role_min_and_grant(void **state)
{
	/* A token never does more than its owner: for every pair, min has no right that either
	 * side lacks. */
	for (int a = 0; a < _DB_ROLE_MAX; a++)
		for (int b = 0; b < _DB_ROLE_MAX; b++) {
			enum db_role m = auth_role_min(a, b);

			assert_int_equal(m, auth_role_min(b, a));
			for (int r = 0; r < _AUTH_RIGHT_MAX; r++)
				if (auth_role_has_right(m, r)) {
					assert_true(auth_role_has_right(a, r));
					assert_true(auth_role_has_right(b, r));
				}
		}
	assert_int_equal(auth_role_min(DB_ROLE_ADMIN, DB_ROLE_VIEWER), DB_ROLE_VIEWER);
	assert_int_equal(auth_role_min(DB_ROLE_OWNER, DB_ROLE_ADMIN), DB_ROLE_OWNER);
	assert_int_equal(auth_role_min(DB_ROLE_OPERATOR, DB_ROLE_OWNER), DB_ROLE_OPERATOR);
	/* an owner's admin-role token still is an owner */
	assert_false(auth_role_has_right(auth_role_min(DB_ROLE_ADMIN, DB_ROLE_OWNER),
					 AUTH_RIGHT_TENANTS_WRITE));
	assert_int_equal(auth_role_min(_DB_ROLE_INVALID, DB_ROLE_VIEWER), _DB_ROLE_INVALID);

	assert_true(auth_role_may_grant(DB_ROLE_ADMIN, DB_ROLE_ADMIN));
	assert_true(auth_role_may_grant(DB_ROLE_ADMIN, DB_ROLE_VIEWER));
	assert_false(auth_role_may_grant(DB_ROLE_OWNER, DB_ROLE_ADMIN));
	assert_true(auth_role_may_grant(DB_ROLE_OWNER, DB_ROLE_OWNER));
	assert_true(auth_role_may_grant(DB_ROLE_OWNER, DB_ROLE_OPERATOR));
	assert_false(auth_role_may_grant(DB_ROLE_OPERATOR, DB_ROLE_OWNER));
	assert_true(auth_role_may_grant(DB_ROLE_OPERATOR, DB_ROLE_VIEWER));
	assert_false(auth_role_may_grant(DB_ROLE_VIEWER, DB_ROLE_OPERATOR));
	assert_true(auth_role_may_grant(DB_ROLE_VIEWER, DB_ROLE_VIEWER));
	assert_false(auth_role_may_grant(DB_ROLE_ADMIN, _DB_ROLE_INVALID));
	assert_false(auth_role_may_grant(_DB_ROLE_INVALID, DB_ROLE_VIEWER));
}

/* --- throttle --------------------------------------------------------------------------------- */

static void test_throttle_backoff(void **state)
{
	struct auth_throttle *t = NULL;
	int64_t now = 1000000, retry = -1;

	assert_int_equal(auth_throttle_new(&t), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(auth_throttle_check(t, "alice", "10.0.0.1", now, &retry), 0);
		auth_throttle_failed(t, "alice", "10.0.0.1", now);
	}
	/* after the 5th failure: wait 2 s (whole seconds: at least one full second) */
	assert_int_equal(auth_throttle_check(t, "alice", "10.0.0.1", now, &retry), -EAGAIN);
	assert_int_equal(retry, 2);
	assert_int_equal(auth_throttle_check(t, "alice", "10.0.0.1", now + 1, &retry), -EAGAIN);
	assert_int_equal(auth_throttle_check(t, "alice", "10.0.0.1", now + 2, &retry), 0);
	/* each further failure doubles the wait */
	for (int n = 6; n <= 13; n++) {
		now += 1;
		auth_throttle_failed(t, "alice", "10.0.0.1", now);
		retry = -1;
		assert_int_equal(auth_throttle_check(t, "alice", "10.0.0.1", now, &retry), -EAGAIN);
		assert_int_equal(retry, INT64_C(2) << (n - 5));
		assert_int_equal(
			auth_throttle_check(t, "alice", "10.0.0.1", now + retry - 1, &retry),
			-EAGAIN);
		assert_int_equal(retry, 1);
	}
	/* capped at 15 minutes */
	for (int n = 15; n <= 40; n++)
		auth_throttle_failed(t, "alice", "10.0.0.1", now);
	assert_int_equal(auth_throttle_check(t, "alice", "10.0.0.1", now, &retry), -EAGAIN);
	assert_int_equal(retry, 900);
	assert_int_equal(auth_throttle_check(t, "alice", "10.0.0.1", now + 900, &retry), 0);

	/* another account from another address is untouched */
	assert_int_equal(auth_throttle_check(t, "bob", "10.0.0.2", now, &retry), 0);
	auth_throttle_free(t);
}

static void test_throttle_window(void **state)
{
	struct auth_throttle *t = NULL;
	int64_t now = 5000, retry;

	assert_int_equal(auth_throttle_new(&t), 0);
	/* 5 failures spread over more than 15 minutes never trip it... */
	for (int i = 0; i < 4; i++)
		auth_throttle_failed(t, "alice", NULL, now);
	now += 901;
	auth_throttle_failed(t, "alice", NULL, now);
	assert_int_equal(auth_throttle_check(t, "alice", NULL, now, &retry), 0);
	/* ...5 within the window do */
	for (int i = 0; i < 4; i++)
		auth_throttle_failed(t, "alice", NULL, now + 10 * i);
	assert_int_equal(auth_throttle_check(t, "alice", NULL, now + 30, &retry), -EAGAIN);
	auth_throttle_free(t);
}

static void test_throttle_per_address(void **state)
{
	struct auth_throttle *t = NULL;
	int64_t now = 7000, retry = 0;
	char account[16];

	assert_int_equal(auth_throttle_new(&t), 0);
	/* one address guessing at five different accounts */
	for (int i = 0; i < 5; i++) {
		snprintf(account, sizeof(account), "user%d", i);
		auth_throttle_failed(t, account, "192.0.2.7", now);
	}
	assert_int_equal(auth_throttle_check(t, "user9", "192.0.2.7", now, &retry), -EAGAIN);
	assert_int_equal(retry, 2);
	/* the accounts themselves are not locked for other addresses */
	assert_int_equal(auth_throttle_check(t, "user0", "192.0.2.8", now, &retry), 0);
	/* a success on one account from that address does not clear the address */
	auth_throttle_succeeded(t, "user0", "192.0.2.7");
	assert_int_equal(auth_throttle_check(t, "user9", "192.0.2.7", now, &retry), -EAGAIN);
	auth_throttle_free(t);
}

static void test_throttle_success_resets_account(void **state)
{
	struct auth_throttle *t = NULL;
	int64_t now = 9000, retry = 0;
	char remote[32];

	assert_int_equal(auth_throttle_new(&t), 0);
	/* one account attacked from many addresses */
	for (int i = 0; i < 6; i++) {
		snprintf(remote, sizeof(remote), "198.51.100.%d", i);
		auth_throttle_failed(t, "alice", remote, now);
	}
	assert_int_equal(auth_throttle_check(t, "alice", "203.0.113.1", now, &retry), -EAGAIN);
	assert_int_equal(retry, 4);
	auth_throttle_succeeded(t, "alice", "203.0.113.1");
	assert_int_equal(auth_throttle_check(t, "alice", "203.0.113.1", now, &retry), 0);
	/* counting starts over */
	for (int i = 0; i < 4; i++)
		auth_throttle_failed(t, "alice", NULL, now);
	assert_int_equal(auth_throttle_check(t, "alice", NULL, now, &retry), 0);
	auth_throttle_failed(t, "alice", NULL, now);
	assert_int_equal(auth_throttle_check(t, "alice", NULL, now, &retry), -EAGAIN);
	auth_throttle_free(t);
}

static void test_throttle_table_full(void **state)
{
	struct auth_throttle *t = NULL;
	int64_t now = 100000, retry;
	char account[32], longname[1000];

	assert_int_equal(auth_throttle_new(&t), 0);
	/* Far more keys than entries: the table stays bounded and keeps the newest. */
	for (int i = 0; i < 20000; i++) {
		snprintf(account, sizeof(account), "spray%d", i);
		auth_throttle_failed(t, account, NULL, now + i / 100);
	}
	for (int i = 0; i < 5; i++)
		auth_throttle_failed(t, "victim", NULL, now + 200);
	assert_int_equal(auth_throttle_check(t, "victim", NULL, now + 200, &retry), -EAGAIN);
	/* very long names are keyed too */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (int i = 0; i < 5; i++)
		auth_throttle_failed(t, longname, NULL, now + 200);
	assert_int_equal(auth_throttle_check(t, longname, NULL, now + 200, &retry), -EAGAIN);
	auth_throttle_free(t);
}

struct throttle_thread {
	struct auth_throttle *t;
	int id;
};

static void *throttle_worker(void *p)
{
	struct throttle_thread *tt = p;
	char account[32];
	int64_t retry;

	for (int i = 0; i < 5000; i++) {
		snprintf(account, sizeof(account), "t%d-%d", tt->id, i % 50);
		auth_throttle_failed(tt->t, account, "10.1.1.1", 1000 + i / 1000);
		(void)auth_throttle_check(tt->t, account, "10.1.1.1", 1000 + i / 1000, &retry);
		if (i % 7 == 0)
			auth_throttle_succeeded(tt->t, account, "10.1.1.1");
	}
	return NULL;
}

static void test_throttle_threads(void **state)
{
	struct auth_throttle *t = NULL;
	struct throttle_thread tt[4];
	pthread_t tid[4];
	int64_t retry;

	assert_int_equal(auth_throttle_new(&t), 0);
	for (int i = 0; i < 4; i++) {
		tt[i] = (struct throttle_thread){.t = t, .id = i};
		assert_int_equal(pthread_create(&tid[i], NULL, throttle_worker, &tt[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	/* 20000 failures from one address, none forgiven: it waits the maximum */
	assert_int_equal(auth_throttle_check(t, "someone", "10.1.1.1", 1004, &retry), -EAGAIN);
	assert_int_equal(retry, 900);
	auth_throttle_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_hash_verify),
		cmocka_unit_test(test_password_length_limits),
		cmocka_unit_test(test_password_unknown_user_costs_the_same),
		cmocka_unit_test(test_password_parallel),
		cmocka_unit_test(test_password_generate),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_rights_table),
		cmocka_unit_test(test_role_min_and_grant),
		cmocka_unit_test(test_throttle_backoff),
		cmocka_unit_test(test_throttle_window),
		cmocka_unit_test(test_throttle_per_address),
		cmocka_unit_test(test_throttle_success_resets_account),
		cmocka_unit_test(test_throttle_table_full),
		cmocka_unit_test(test_throttle_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

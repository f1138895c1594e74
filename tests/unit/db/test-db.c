/* SPDX-License-Identifier: Apache-2.0 */
/* The state store against a real SQLite file in a temporary directory. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/fd-util.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "db/db-backup.h"
#include "db/db.h"

struct fixture {
	char dir[64];
	char path[128];
	struct db *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct carve_error err = CARVE_ERROR_INIT;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/carve-test-db-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/carve.db", f->dir);
	assert_int_equal(db_open(f->path, &f->db, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	db_close(f->db);
	assert_int_equal(rm_rf(f->dir), 0);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	struct carve_error err = CARVE_ERROR_INIT;

	f->db = db_close(f->db);
	assert_int_equal(db_open(f->path, &f->db, &err), 0);
}

/* Run one statement on a second, raw connection and return the first column as text. */
static void raw_query(const char *path, const char *sql, char *out, size_t n)
{
	sqlite3 *s = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open(path, &s), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
	out[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(s);
}

static void make_tenant(struct db *db, const char *name, struct db_tenant *t)
{
	struct carve_error err = CARVE_ERROR_INIT;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	assert_int_equal(db_tenant_create(db, t, &err), 0);
}

static void make_template(struct db *db, const char *name, struct db_template *t)
{
	struct carve_error err = CARVE_ERROR_INIT;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->kind, sizeof(t->kind), "container");
	snprintf(t->os, sizeof(t->os), "busybox");
	t->rootfs_path = (char *)"/var/lib/carve/templates/busybox";
	t->init = (char *)"/sbin/init";
	t->stop_signal = 12;
	assert_int_equal(db_template_create(db, t, &err), 0);
	t->rootfs_path = t->init = NULL;
}

static void make_server(struct db *db, const char *name, const char *tenant_id,
			const char *template_id, struct db_server *s)
{
	struct carve_error err = CARVE_ERROR_INIT;

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->tenant_id, sizeof(s->tenant_id), "%s", tenant_id);
	snprintf(s->template_id, sizeof(s->template_id), "%s", template_id);
	snprintf(s->kind, sizeof(s->kind), "container");
	s->vcpus = 2;
	s->memory = UINT64_C(512) << 20;
	s->state = DB_SERVER_STOPPED;
	assert_int_equal(db_server_create(db, s, &err), 0);
}

static void make_user(struct db *db, const char *name, const char *tenant_id, enum db_role role,
		      struct db_user *u)
{
	struct carve_error err = CARVE_ERROR_INIT;

	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->tenant_id, sizeof(u->tenant_id), "%s", tenant_id);
	u->role = role;
	u->password_hash = (char *)"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
	assert_int_equal(db_user_create(db, u, &err), 0);
	u->password_hash = NULL;
}

/* --- open and schema -------------------------------------------------------------------------- */

static void test_open_migrates_once(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	struct db_tenant t;
	struct db_tenant *got = NULL;

	assert_int_equal(db_schema_version(f->db), db_schema_latest());
	assert_true(db_schema_latest() >= 3);
	raw_query(f->path, "PRAGMA user_version", buf, sizeof(buf));
	assert_int_equal(strtol(buf, NULL, 10), db_schema_latest());
	raw_query(f->path, "PRAGMA journal_mode", buf, sizeof(buf));
	assert_string_equal(buf, "wal");

	make_tenant(f->db, "acme", &t);
	/* Reopening runs no migration again: the data and the version are unchanged. */
	reopen(f);
	reopen(f);
	assert_int_equal(db_schema_version(f->db), db_schema_latest());
	assert_int_equal(db_tenant_get_by_name(f->db, "acme", &got, NULL), 0);
	assert_string_equal(got->id, t.id);
	db_tenant_free(got);
	raw_query(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'tenants'", buf,
		  sizeof(buf));
	assert_string_equal(buf, "1");
}

static void test_open_refuses_newer_schema(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db *db = NULL;
	char buf[16];

	f->db = db_close(f->db);
	raw_query(f->path, "PRAGMA user_version = 99", buf, sizeof(buf));
	assert_int_equal(db_open(f->path, &db, &err), -EPROTONOSUPPORT);
	assert_null(db);
	assert_non_null(strstr(err.msg, "schema version 99"));
	assert_non_null(strstr(err.msg, f->path));
}

static void test_open_refuses_garbage(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	char path[160], junk[8192];
	struct db *db = NULL;

	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(write_file_atomic(path, junk, sizeof(junk), 0600), 0);
	assert_true(db_open(path, &db, &err) < 0);
	assert_null(db);
	assert_non_null(strstr(err.msg, "garbage.db"));
	assert_non_null(strstr(err.msg, "not a database"));
}

static void test_open_refuses_corrupt_pages(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db *db = NULL;
	struct db_tenant t;
	char junk[4096], name[32];
	int fd;

	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "tenant-%03d", i);
		make_tenant(f->db, name, &t);
	}
	/* Closing the last connection checkpoints the WAL into the main file. */
	f->db = db_close(f->db);
	memset(junk, 0x5a, sizeof(junk));
	fd = open(f->path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	/* Page 2 is the root of the first table created (tenants); pages 3.. hold its rows. */
	for (off_t page = 1; page < 4; page++)
		assert_int_equal(pwrite(fd, junk, sizeof(junk), page * 4096), sizeof(junk));
	close(fd);
	assert_true(db_open(f->path, &db, &err) < 0);
	assert_null(db);
	assert_non_null(strstr(err.msg, f->path));
	assert_non_null(strstr(err.msg, "corrupt: integrity check: "));
	assert_null(strchr(err.msg, '\n'));
}

/* --- tenants ---------------------------------------------------------------------------------- */

static void test_tenant_crud(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant a, b, dup = {0};
	struct db_tenant *got = NULL, **l = NULL;
	size_t n = 0;
	int64_t before = time(NULL);

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "zeta");
	a.description = (char *)"the last one";
	assert_int_equal(db_tenant_create(f->db, &a, &err), 0);
	assert_true(id_is_valid(a.id));
	assert_true(a.created_at >= before && a.created_at <= time(NULL));
	make_tenant(f->db, "acme", &b);
	assert_string_not_equal(a.id, b.id);

	snprintf(dup.name, sizeof(dup.name), "acme");
	assert_int_equal(db_tenant_create(f->db, &dup, &err), -EEXIST);
	assert_string_equal(err.msg, "tenant 'acme' already exists");

	assert_int_equal(db_tenant_get_by_id(f->db, a.id, &got, NULL), 0);
	assert_string_equal(got->name, "zeta");
	assert_string_equal(got->description, "the last one");
	assert_int_equal(got->uid_slot, a.uid_slot);
	assert_int_equal(got->created_at, a.created_at);
	got = db_tenant_free(got);

	carve_err_clear(&err);
	assert_int_equal(db_tenant_get_by_name(f->db, "nope", &got, &err), -ENOENT);
	assert_null(got);
	assert_string_equal(err.msg, "tenant 'nope' not found");

	assert_int_equal(db_tenant_list(f->db, &l, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0]->name, "acme");
	assert_string_equal(l[1]->name, "zeta");
	assert_null(l[0]->description);
	db_tenant_list_free(l, n);

	/* update: rename and describe; renaming onto another tenant's name is refused */
	snprintf(a.name, sizeof(a.name), "omega");
	a.description = (char *)"renamed";
	assert_int_equal(db_tenant_update(f->db, &a, NULL), 0);
	assert_int_equal(db_tenant_get_by_name(f->db, "omega", &got, NULL), 0);
	assert_string_equal(got->description, "renamed");
	got = db_tenant_free(got);
	assert_int_equal(db_tenant_get_by_name(f->db, "zeta", &got, NULL), -ENOENT);
	snprintf(a.name, sizeof(a.name), "acme");
	assert_int_equal(db_tenant_update(f->db, &a, NULL), -EEXIST);
	snprintf(dup.id, sizeof(dup.id), "00000000000000000000000000000000");
	assert_int_equal(db_tenant_update(f->db, &dup, NULL), -ENOENT);

	assert_int_equal(db_tenant_delete(f->db, b.id, NULL), 0);
	assert_int_equal(db_tenant_delete(f->db, b.id, NULL), -ENOENT);
	assert_int_equal(db_tenant_get_by_id(f->db, b.id, &got, NULL), -ENOENT);
}

static void test_tenant_uid_slots(void **state)
{
	struct fixture *f = *state;
	struct db_tenant a, b, c, d, e;

	make_tenant(f->db, "a", &a);
	make_tenant(f->db, "b", &b);
	make_tenant(f->db, "c", &c);
	assert_int_equal(a.uid_slot, 0);
	assert_int_equal(b.uid_slot, 1);
	assert_int_equal(c.uid_slot, 2);
	/* A freed slot is reused before a new one is opened, and the lowest gap comes first. */
	assert_int_equal(db_tenant_delete(f->db, b.id, NULL), 0);
	assert_int_equal(db_tenant_delete(f->db, a.id, NULL), 0);
	make_tenant(f->db, "d", &d);
	assert_int_equal(d.uid_slot, 0);
	make_tenant(f->db, "e", &e);
	assert_int_equal(e.uid_slot, 1);
	make_tenant(f->db, "f", &a);
	assert_int_equal(a.uid_slot, 3);
}

struct slot_thread {
	struct db *db;
	int first;
	uint32_t slots[10];
};

static void *slot_worker(void *p)
{
	struct slot_thread *st = p;

	for (int i = 0; i < 10; i++) {
		struct db_tenant t = {0};

		snprintf(t.name, sizeof(t.name), "t%d", st->first + i);
		if (db_tenant_create(st->db, &t, NULL) < 0)
			return (void *)1;
		st->slots[i] = t.uid_slot;
	}
	return NULL;
}

static void test_tenant_uid_slots_concurrent(void **state)
{
	struct fixture *f = *state;
	struct slot_thread th[4];
	pthread_t tid[4];
	bool seen[40] = {0};

	for (int i = 0; i < 4; i++) {
		th[i] = (struct slot_thread){.db = f->db, .first = i * 10};
		assert_int_equal(pthread_create(&tid[i], NULL, slot_worker, &th[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rv;

		assert_int_equal(pthread_join(tid[i], &rv), 0);
		assert_null(rv);
	}
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 10; j++) {
			assert_true(th[i].slots[j] < 40);
			assert_false(seen[th[i].slots[j]]);
			seen[th[i].slots[j]] = true;
		}
}

static void test_tenant_delete_busy(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant t;
	struct db_template tpl;
	struct db_server s1, s2;
	struct db_user u;

	make_tenant(f->db, "acme", &t);
	make_template(f->db, "busybox", &tpl);
	make_server(f->db, "web2", t.id, tpl.id, &s2);
	make_server(f->db, "web1", t.id, tpl.id, &s1);
	make_user(f->db, "alice", t.id, DB_ROLE_OWNER, &u);

	assert_int_equal(db_tenant_delete(f->db, t.id, &err), -EBUSY);
	assert_string_equal(err.msg,
			    "tenant 'acme' still has 2 servers (web1, web2) and 1 user (alice)");

	assert_int_equal(db_server_delete(f->db, s1.id, NULL), 0);
	assert_int_equal(db_server_delete(f->db, s2.id, NULL), 0);
	carve_err_clear(&err);
	assert_int_equal(db_tenant_delete(f->db, t.id, &err), -EBUSY);
	assert_string_equal(err.msg, "tenant 'acme' still has 1 user (alice)");

	assert_int_equal(db_user_delete(f->db, u.id, NULL), 0);
	assert_int_equal(db_tenant_delete(f->db, t.id, NULL), 0);
}

/* --- users and tokens ------------------------------------------------------------------------- */

static void test_user_crud(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant t1, t2;
	struct db_user root, alice, bob, carol, bad;
	struct db_user *got = NULL, **l = NULL;
	size_t n;

	make_tenant(f->db, "acme", &t1);
	make_tenant(f->db, "beta", &t2);
	make_user(f->db, "root", "", DB_ROLE_ADMIN, &root);
	make_user(f->db, "carol", t2.id, DB_ROLE_VIEWER, &carol);
	make_user(f->db, "bob", t1.id, DB_ROLE_OPERATOR, &bob);
	make_user(f->db, "alice", t1.id, DB_ROLE_OWNER, &alice);

	assert_int_equal(db_user_get_by_name(f->db, "root", &got, NULL), 0);
	assert_string_equal(got->tenant_id, "");
	assert_int_equal(got->role, DB_ROLE_ADMIN);
	assert_string_equal(got->password_hash, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
	got = db_user_free(got);
	assert_int_equal(db_user_get_by_id(f->db, bob.id, &got, NULL), 0);
	assert_string_equal(got->name, "bob");
	assert_string_equal(got->tenant_id, t1.id);
	assert_int_equal(got->role, DB_ROLE_OPERATOR);
	got = db_user_free(got);
	assert_int_equal(db_user_get_by_name(f->db, "dave", &got, &err), -ENOENT);
	assert_string_equal(err.msg, "user 'dave' not found");

	/* login names are unique across tenants */
	memset(&bad, 0, sizeof(bad));
	snprintf(bad.name, sizeof(bad.name), "alice");
	snprintf(bad.tenant_id, sizeof(bad.tenant_id), "%s", t2.id);
	bad.role = DB_ROLE_VIEWER;
	carve_err_clear(&err);
	assert_int_equal(db_user_create(f->db, &bad, &err), -EEXIST);
	assert_string_equal(err.msg, "user 'alice' already exists");
	/* the tenant must exist */
	snprintf(bad.name, sizeof(bad.name), "eve");
	snprintf(bad.tenant_id, sizeof(bad.tenant_id), "ffffffffffffffffffffffffffffffff");
	assert_int_equal(db_user_create(f->db, &bad, NULL), -ENOENT);
	bad.role = (enum db_role)42;
	assert_int_equal(db_user_create(f->db, &bad, NULL), -EINVAL);

	assert_int_equal(db_user_list(f->db, NULL, &l, &n, NULL), 0);
	assert_int_equal(n, 4);
	assert_string_equal(l[0]->name, "alice");
	assert_string_equal(l[1]->name, "bob");
	assert_string_equal(l[2]->name, "carol");
	assert_string_equal(l[3]->name, "root");
	db_user_list_free(l, n);
	assert_int_equal(db_user_list(f->db, "", &l, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0]->name, "root");
	db_user_list_free(l, n);
	assert_int_equal(db_user_list(f->db, t1.id, &l, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0]->name, "alice");
	assert_string_equal(l[1]->name, "bob");
	db_user_list_free(l, n);

	bob.role = DB_ROLE_VIEWER;
	bob.password_hash = (char *)"$argon2id$new";
	assert_int_equal(db_user_update(f->db, &bob, NULL), 0);
	bob.password_hash = NULL;
	assert_int_equal(db_user_get_by_name(f->db, "bob", &got, NULL), 0);
	assert_int_equal(got->role, DB_ROLE_VIEWER);
	assert_string_equal(got->password_hash, "$argon2id$new");
	got = db_user_free(got);

	assert_int_equal(db_user_delete(f->db, bob.id, NULL), 0);
	assert_int_equal(db_user_delete(f->db, bob.id, NULL), -ENOENT);
	assert_int_equal(db_user_update(f->db, &bob, NULL), -ENOENT);
}

static void make_token(struct db *db, const char *user_id, const char *name, bool session,
		       char hash_char, int64_t expires_at, struct db_token *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->user_id, sizeof(t->user_id), "%s", user_id);
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->is_session = session;
	t->role = DB_ROLE_OPERATOR;
	memset(t->token_hash, hash_char, 64);
	t->expires_at = expires_at;
	assert_int_equal(db_token_create(db, t, NULL), 0);
}

static void test_token_crud(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant t;
	struct db_user alice, bob;
	struct db_token ci, deploy, sess, old, bobs, dup;
	struct db_token *got = NULL, **l = NULL;
	char hash[65];
	size_t n;

	make_tenant(f->db, "acme", &t);
	make_user(f->db, "alice", t.id, DB_ROLE_OWNER, &alice);
	make_user(f->db, "bob", t.id, DB_ROLE_OPERATOR, &bob);
	make_token(f->db, alice.id, "deploy", false, 'a', 0, &deploy);
	make_token(f->db, alice.id, "ci", false, 'b', 5000, &ci);
	make_token(f->db, alice.id, "", true, 'c', 0, &sess);
	make_token(f->db, alice.id, "", true, 'd', 1000, &old);
	make_token(f->db, bob.id, "bobs", false, 'e', 0, &bobs);

	memset(hash, 'a', 64);
	hash[64] = '\0';
	assert_int_equal(db_token_get_by_hash(f->db, hash, &got, NULL), 0);
	assert_string_equal(got->id, deploy.id);
	assert_string_equal(got->user_id, alice.id);
	assert_string_equal(got->name, "deploy");
	assert_false(got->is_session);
	assert_int_equal(got->role, DB_ROLE_OPERATOR);
	assert_int_equal(got->expires_at, 0);
	assert_int_equal(got->last_used_at, 0);
	got = db_token_free(got);
	memset(hash, '9', 64);
	assert_int_equal(db_token_get_by_hash(f->db, hash, &got, &err), -ENOENT);
	assert_null(strstr(err.msg, "9999"));
	assert_int_equal(db_token_get_by_id(f->db, sess.id, &got, NULL), 0);
	assert_true(got->is_session);
	got = db_token_free(got);

	/* the same secret hash twice is refused; a malformed hash never reaches the table */
	make_token(f->db, bob.id, "x", false, 'f', 0, &dup);
	memset(&dup, 0, sizeof(dup));
	snprintf(dup.user_id, sizeof(dup.user_id), "%s", bob.id);
	memset(dup.token_hash, 'a', 64);
	assert_int_equal(db_token_create(f->db, &dup, NULL), -EEXIST);
	snprintf(dup.token_hash, sizeof(dup.token_hash), "short");
	assert_int_equal(db_token_create(f->db, &dup, NULL), -EINVAL);
	memset(dup.token_hash, '7', 64);
	snprintf(dup.user_id, sizeof(dup.user_id), "ffffffffffffffffffffffffffffffff");
	assert_int_equal(db_token_create(f->db, &dup, NULL), -ENOENT);

	/* sessions are never listed */
	assert_int_equal(db_token_list(f->db, alice.id, &l, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0]->name, "ci");
	assert_string_equal(l[1]->name, "deploy");
	db_token_list_free(l, n);
	assert_int_equal(db_token_list(f->db, NULL, &l, &n, NULL), 0);
	assert_int_equal(n, 4);
	db_token_list_free(l, n);

	assert_int_equal(db_token_touch(f->db, deploy.id, 4242, NULL), 0);
	assert_int_equal(db_token_get_by_id(f->db, deploy.id, &got, NULL), 0);
	assert_int_equal(got->last_used_at, 4242);
	got = db_token_free(got);
	assert_int_equal(db_token_touch(f->db, "00000000000000000000000000000000", 1, NULL),
			 -ENOENT);

	/* expired: expires_at in (0, now); 0 never expires */
	assert_int_equal(db_token_delete_expired(f->db, 2000, NULL), 1);
	assert_int_equal(db_token_get_by_id(f->db, old.id, &got, NULL), -ENOENT);
	assert_int_equal(db_token_get_by_id(f->db, ci.id, &got, NULL), 0);
	got = db_token_free(got);
	assert_int_equal(db_token_delete_expired(f->db, 6000, NULL), 1);
	assert_int_equal(db_token_get_by_id(f->db, ci.id, &got, NULL), -ENOENT);
	assert_int_equal(db_token_get_by_id(f->db, deploy.id, &got, NULL), 0);
	got = db_token_free(got);

	assert_int_equal(db_token_delete(f->db, bobs.id, NULL), 0);
	assert_int_equal(db_token_delete(f->db, bobs.id, NULL), -ENOENT);

	/* deleting a user takes its sessions and tokens along */
	assert_int_equal(db_user_delete(f->db, alice.id, NULL), 0);
	assert_int_equal(db_token_get_by_id(f->db, deploy.id, &got, NULL), -ENOENT);
	assert_int_equal(db_token_get_by_id(f->db, sess.id, &got, NULL), -ENOENT);
}

/* --- templates and servers -------------------------------------------------------------------- */

static void test_template_crud(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_template a, b, dup;
	struct db_template *got = NULL, **l = NULL;
	struct db_tenant t;
	struct db_server s;
	size_t n;

	make_template(f->db, "debian-12", &a);
	make_template(f->db, "busybox", &b);
	assert_int_equal(db_template_get_by_name(f->db, "busybox", &got, NULL), 0);
	assert_string_equal(got->id, b.id);
	assert_string_equal(got->kind, "container");
	assert_string_equal(got->os, "busybox");
	assert_string_equal(got->rootfs_path, "/var/lib/carve/templates/busybox");
	assert_string_equal(got->init, "/sbin/init");
	assert_null(got->description);
	assert_int_equal(got->stop_signal, 12);
	got = db_template_free(got);
	assert_int_equal(db_template_get_by_id(f->db, a.id, &got, NULL), 0);
	assert_string_equal(got->name, "debian-12");
	got = db_template_free(got);
	assert_int_equal(db_template_get_by_name(f->db, "nope", &got, NULL), -ENOENT);

	memset(&dup, 0, sizeof(dup));
	snprintf(dup.name, sizeof(dup.name), "busybox");
	snprintf(dup.kind, sizeof(dup.kind), "container");
	snprintf(dup.os, sizeof(dup.os), "busybox");
	assert_int_equal(db_template_create(f->db, &dup, &err), -EEXIST);
	assert_string_equal(err.msg, "template 'busybox' already exists");

	assert_int_equal(db_template_list(f->db, &l, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0]->name, "busybox");
	assert_string_equal(l[1]->name, "debian-12");
	db_template_list_free(l, n);

	/* a template in use cannot go */
	make_tenant(f->db, "acme", &t);
	make_server(f->db, "web1", t.id, b.id, &s);
	carve_err_clear(&err);
	assert_int_equal(db_template_delete(f->db, b.id, &err), -EBUSY);
	assert_string_equal(err.msg, "template 'busybox' is still used by 1 server");
	assert_int_equal(db_server_delete(f->db, s.id, NULL), 0);
	assert_int_equal(db_template_delete(f->db, b.id, NULL), 0);
	assert_int_equal(db_template_delete(f->db, b.id, NULL), -ENOENT);
}

static void test_server_crud(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant t1, t2;
	struct db_template tpl;
	struct db_server a, b, other, dup;
	struct db_server *got = NULL, **l = NULL;
	size_t n;

	make_tenant(f->db, "acme", &t1);
	make_tenant(f->db, "beta", &t2);
	make_template(f->db, "busybox", &tpl);
	make_server(f->db, "web1", t1.id, tpl.id, &a);
	make_server(f->db, "db1", t1.id, tpl.id, &b);
	/* names are unique within a tenant only */
	make_server(f->db, "web1", t2.id, tpl.id, &other);
	assert_true(a.created_at > 0);
	assert_int_equal(a.updated_at, a.created_at);

	memset(&dup, 0, sizeof(dup));
	snprintf(dup.name, sizeof(dup.name), "web1");
	snprintf(dup.tenant_id, sizeof(dup.tenant_id), "%s", t1.id);
	snprintf(dup.template_id, sizeof(dup.template_id), "%s", tpl.id);
	snprintf(dup.kind, sizeof(dup.kind), "container");
	assert_int_equal(db_server_create(f->db, &dup, &err), -EEXIST);
	assert_string_equal(err.msg, "server 'web1' already exists");
	snprintf(dup.name, sizeof(dup.name), "web9");
	snprintf(dup.template_id, sizeof(dup.template_id), "ffffffffffffffffffffffffffffffff");
	assert_int_equal(db_server_create(f->db, &dup, NULL), -ENOENT);

	assert_int_equal(db_server_get_by_name(f->db, t1.id, "web1", &got, NULL), 0);
	assert_string_equal(got->id, a.id);
	assert_string_equal(got->tenant_id, t1.id);
	assert_string_equal(got->template_id, tpl.id);
	assert_string_equal(got->kind, "container");
	assert_int_equal(got->vcpus, 2);
	assert_int_equal(got->memory, UINT64_C(512) << 20);
	assert_int_equal(got->state, DB_SERVER_STOPPED);
	assert_null(got->state_reason);
	got = db_server_free(got);
	assert_int_equal(db_server_get_by_name(f->db, t2.id, "web1", &got, NULL), 0);
	assert_string_equal(got->id, other.id);
	got = db_server_free(got);
	/* another tenant's server is not found by name */
	assert_int_equal(db_server_get_by_name(f->db, t2.id, "db1", &got, NULL), -ENOENT);
	assert_int_equal(db_server_get_by_id(f->db, b.id, &got, NULL), 0);
	assert_string_equal(got->name, "db1");
	got = db_server_free(got);

	assert_int_equal(db_server_list(f->db, t1.id, &l, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0]->name, "db1");
	assert_string_equal(l[1]->name, "web1");
	db_server_list_free(l, n);
	assert_int_equal(db_server_list(f->db, NULL, &l, &n, NULL), 0);
	assert_int_equal(n, 3);
	db_server_list_free(l, n);

	a.vcpus = 4;
	a.memory = UINT64_C(8) << 30;
	a.state = DB_SERVER_ERROR;
	a.state_reason = (char *)"init exited with status 1";
	a.pid = 1234;
	a.monitor_pid = 1233;
	a.pids_max = 512;
	a.io.read_bps = UINT64_C(50) << 20;
	a.io.write_bps = UINT64_C(20) << 20;
	a.io.read_iops = 1000;
	a.io.write_iops = 500;
	assert_int_equal(db_server_update(f->db, &a, NULL), 0);
	a.state_reason = NULL;
	assert_int_equal(db_server_get_by_id(f->db, a.id, &got, NULL), 0);
	assert_int_equal(got->vcpus, 4);
	assert_int_equal(got->memory, UINT64_C(8) << 30);
	assert_int_equal(got->state, DB_SERVER_ERROR);
	assert_string_equal(got->state_reason, "init exited with status 1");
	assert_int_equal(got->pid, 1234);
	assert_int_equal(got->monitor_pid, 1233);
	assert_int_equal(got->pids_max, 512);
	assert_int_equal(got->io.read_bps, UINT64_C(50) << 20);
	assert_int_equal(got->io.write_bps, UINT64_C(20) << 20);
	assert_int_equal(got->io.read_iops, 1000);
	assert_int_equal(got->io.write_iops, 500);
	assert_true(got->updated_at >= a.created_at);
	got = db_server_free(got);

	assert_int_equal(db_server_delete(f->db, a.id, NULL), 0);
	assert_int_equal(db_server_delete(f->db, a.id, NULL), -ENOENT);
	assert_int_equal(db_server_update(f->db, &a, NULL), -ENOENT);
}

static void test_server_vm_uid_slots(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant t;
	struct db_template tpl;
	struct db_server ct, vm[3], again;
	struct db_server *got = NULL;

	make_tenant(f->db, "acme", &t);
	make_template(f->db, "busybox", &tpl);
	make_server(f->db, "ct", t.id, tpl.id, &ct);
	assert_int_equal(ct.vm_uid_slot, -1);
	for (int i = 0; i < 3; i++) {
		memset(&vm[i], 0, sizeof(vm[i]));
		snprintf(vm[i].name, sizeof(vm[i].name), "vm%d", i);
		snprintf(vm[i].tenant_id, sizeof(vm[i].tenant_id), "%s", t.id);
		snprintf(vm[i].template_id, sizeof(vm[i].template_id), "%s", tpl.id);
		snprintf(vm[i].kind, sizeof(vm[i].kind), "vm");
		vm[i].vcpus = 1;
		vm[i].memory = UINT64_C(256) << 20;
		if (i == 2)
			snprintf(vm[i].machine, sizeof(vm[i].machine), "microvm");
		assert_int_equal(db_server_create(f->db, &vm[i], &err), 0);
		/* each VM takes the lowest free slot */
		assert_int_equal(vm[i].vm_uid_slot, i);
	}
	assert_int_equal(db_server_get_by_id(f->db, vm[2].id, &got, NULL), 0);
	assert_int_equal(got->vm_uid_slot, 2);
	assert_string_equal(got->machine, "microvm");
	got = db_server_free(got);
	/* a VM stored without a machine (as before migration 10) reads back as q35 */
	assert_int_equal(db_server_get_by_id(f->db, vm[0].id, &got, NULL), 0);
	assert_string_equal(got->machine, "q35");
	got = db_server_free(got);
	assert_int_equal(db_server_get_by_id(f->db, ct.id, &got, NULL), 0);
	assert_int_equal(got->vm_uid_slot, -1);
	assert_string_equal(got->machine, "");
	got = db_server_free(got);
	/* a freed slot is the next one given */
	assert_int_equal(db_server_delete(f->db, vm[1].id, NULL), 0);
	again = vm[1];
	snprintf(again.name, sizeof(again.name), "vm9");
	assert_int_equal(db_server_create(f->db, &again, &err), 0);
	assert_int_equal(again.vm_uid_slot, 1);
	/* foreign-key errors still surface through the RETURNING statement */
	snprintf(again.name, sizeof(again.name), "vm10");
	snprintf(again.template_id, sizeof(again.template_id), "ffffffffffffffffffffffffffffffff");
	assert_int_equal(db_server_create(f->db, &again, NULL), -ENOENT);
}

static void test_server_transition(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant t;
	struct db_template tpl;
	struct db_server s;
	struct db_server *got = NULL;
	enum db_server_state cur = _DB_SERVER_STATE_INVALID;

	make_tenant(f->db, "acme", &t);
	make_template(f->db, "busybox", &tpl);
	make_server(f->db, "web1", t.id, tpl.id, &s);

	assert_int_equal(db_server_transition(f->db, s.id, DB_SERVER_STOPPED, DB_SERVER_STARTING,
					      &cur, NULL),
			 0);
	/* a second request that still believes it is stopped loses */
	assert_int_equal(db_server_transition(f->db, s.id, DB_SERVER_STOPPED, DB_SERVER_STARTING,
					      &cur, &err),
			 -EBUSY);
	assert_int_equal(cur, DB_SERVER_STARTING);
	assert_string_equal(err.msg, "server 'web1' is starting, not stopped");
	assert_int_equal(db_server_get_by_id(f->db, s.id, &got, NULL), 0);
	assert_int_equal(got->state, DB_SERVER_STARTING);
	got = db_server_free(got);

	assert_int_equal(db_server_transition(f->db, s.id, DB_SERVER_STARTING, DB_SERVER_RUNNING,
					      NULL, NULL),
			 0);
	assert_int_equal(db_server_get_by_id(f->db, s.id, &got, NULL), 0);
	assert_int_equal(got->state, DB_SERVER_RUNNING);
	got = db_server_free(got);

	assert_int_equal(db_server_transition(f->db, "00000000000000000000000000000000",
					      DB_SERVER_STOPPED, DB_SERVER_STARTING, &cur, NULL),
			 -ENOENT);
	assert_int_equal(db_server_transition(f->db, s.id, (enum db_server_state)99,
					      DB_SERVER_STARTING, &cur, NULL),
			 -EINVAL);
}

/* --- tasks and audit -------------------------------------------------------------------------- */

static void make_task(struct db *db, const char *tenant_id, const char *kind, enum db_task_state st,
		      struct db_task *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->tenant_id, sizeof(t->tenant_id), "%s", tenant_id);
	snprintf(t->user_id, sizeof(t->user_id), "11111111111111111111111111111111");
	snprintf(t->kind, sizeof(t->kind), "%s", kind);
	snprintf(t->object, sizeof(t->object), "server/web1");
	t->state = st;
	assert_int_equal(db_task_create(db, t, NULL), 0);
}

static void test_task_crud(void **state)
{
	struct fixture *f = *state;
	struct db_task t1, t2, t3, t4;
	struct db_task *got = NULL, **l = NULL;
	size_t n;
	const char *ten = "22222222222222222222222222222222";

	make_task(f->db, ten, "server.create", DB_TASK_SUCCEEDED, &t1);
	make_task(f->db, ten, "server.start", DB_TASK_RUNNING, &t2);
	make_task(f->db, "", "template.import", DB_TASK_PENDING, &t3);
	make_task(f->db, ten, "server.stop", DB_TASK_PENDING, &t4);

	assert_int_equal(db_task_get(f->db, t2.id, &got, NULL), 0);
	assert_string_equal(got->kind, "server.start");
	assert_string_equal(got->object, "server/web1");
	assert_string_equal(got->tenant_id, ten);
	assert_string_equal(got->user_id, "11111111111111111111111111111111");
	assert_int_equal(got->state, DB_TASK_RUNNING);
	assert_string_equal(got->error_code, "");
	assert_null(got->error_message);
	got = db_task_free(got);
	assert_int_equal(db_task_get(f->db, "00000000000000000000000000000000", &got, NULL),
			 -ENOENT);

	/* newest first, limited */
	assert_int_equal(db_task_list(f->db, NULL, 0, &l, &n, NULL), 0);
	assert_int_equal(n, 4);
	assert_string_equal(l[0]->id, t4.id);
	assert_string_equal(l[1]->id, t3.id);
	assert_string_equal(l[2]->id, t2.id);
	assert_string_equal(l[3]->id, t1.id);
	db_task_list_free(l, n);
	assert_int_equal(db_task_list(f->db, ten, 2, &l, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0]->id, t4.id);
	assert_string_equal(l[1]->id, t2.id);
	db_task_list_free(l, n);
	assert_int_equal(db_task_list(f->db, "", 0, &l, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0]->id, t3.id);
	db_task_list_free(l, n);

	t2.progress_done = 512;
	t2.progress_total = UINT64_C(1) << 40;
	snprintf(t2.progress_unit, sizeof(t2.progress_unit), "bytes");
	t2.started_at = 100;
	assert_int_equal(db_task_update(f->db, &t2, NULL), 0);
	assert_int_equal(db_task_get(f->db, t2.id, &got, NULL), 0);
	assert_int_equal(got->progress_done, 512);
	assert_int_equal(got->progress_total, UINT64_C(1) << 40);
	assert_string_equal(got->progress_unit, "bytes");
	assert_int_equal(got->started_at, 100);
	got = db_task_free(got);

	/* carved restarted: pending and running become failed, finished ones stay */
	assert_int_equal(db_task_fail_interrupted(f->db, 777, NULL), 3);
	assert_int_equal(db_task_get(f->db, t2.id, &got, NULL), 0);
	assert_int_equal(got->state, DB_TASK_FAILED);
	assert_string_equal(got->error_code, "interrupted");
	assert_string_equal(got->error_message, "interrupted: carved restarted");
	assert_int_equal(got->finished_at, 777);
	assert_int_equal(got->progress_done, 512);
	got = db_task_free(got);
	assert_int_equal(db_task_get(f->db, t1.id, &got, NULL), 0);
	assert_int_equal(got->state, DB_TASK_SUCCEEDED);
	assert_int_equal(got->finished_at, 0);
	got = db_task_free(got);
	assert_int_equal(db_task_fail_interrupted(f->db, 778, NULL), 0);

	memset(&t1.id, '0', 32);
	assert_int_equal(db_task_update(f->db, &t1, NULL), -ENOENT);
}

static void test_audit_append(void **state)
{
	struct fixture *f = *state;
	char buf[256];

	assert_int_equal(db_audit_append(f->db, 1000, "u1", "t1", "server.create", "server/web1",
					 202, "10.0.0.1", NULL),
			 0);
	assert_int_equal(db_audit_append(f->db, 1001, NULL, NULL, "login", NULL, 401, "::1", NULL),
			 0);
	assert_int_equal(db_audit_append(f->db, 1002, NULL, NULL, "", NULL, 0, NULL, NULL),
			 -EINVAL);
	raw_query(f->path, "SELECT count(*) FROM audit", buf, sizeof(buf));
	assert_string_equal(buf, "2");
	raw_query(f->path,
		  "SELECT at || ' ' || user_id || ' ' || tenant_id || ' ' || action || ' ' || "
		  "object || ' ' || status || ' ' || remote FROM audit ORDER BY seq LIMIT 1",
		  buf, sizeof(buf));
	assert_string_equal(buf, "1000 u1 t1 server.create server/web1 202 10.0.0.1");
}

/* --- transactions ----------------------------------------------------------------------------- */

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	struct db_tenant a, b;
	struct db_tenant *got = NULL;

	assert_int_equal(db_transaction_begin(f->db, NULL), 0);
	make_tenant(f->db, "gone", &a); /* its own transaction nests as a savepoint */
	db_transaction_rollback(f->db);
	assert_int_equal(db_tenant_get_by_name(f->db, "gone", &got, NULL), -ENOENT);

	assert_int_equal(db_transaction_begin(f->db, NULL), 0);
	make_tenant(f->db, "kept", &a);
	make_tenant(f->db, "also", &b);
	assert_int_equal(db_transaction_commit(f->db, NULL), 0);
	assert_int_equal(db_tenant_get_by_name(f->db, "kept", &got, NULL), 0);
	got = db_tenant_free(got);

	/* a failing call inside a transaction leaves the outer transaction usable */
	assert_int_equal(db_transaction_begin(f->db, NULL), 0);
	assert_int_equal(db_tenant_create(f->db, &b, NULL), -EEXIST);
	make_tenant(f->db, "after", &b);
	assert_int_equal(db_transaction_commit(f->db, NULL), 0);
	assert_int_equal(db_tenant_get_by_name(f->db, "after", &got, NULL), 0);
	got = db_tenant_free(got);

	assert_int_equal(db_transaction_commit(f->db, NULL), -EINVAL);
	/* the lock is free again: another thread's work would proceed */
	reopen(f);
	assert_int_equal(db_tenant_get_by_name(f->db, "also", &got, NULL), 0);
	db_tenant_free(got);
}

static void test_enum_strings(void **state)
{
	for (int i = 0; i < _DB_ROLE_MAX; i++)
		assert_int_equal(db_role_from_string(db_role_to_string(i)), i);
	for (int i = 0; i < _DB_SERVER_STATE_MAX; i++)
		assert_int_equal(db_server_state_from_string(db_server_state_to_string(i)), i);
	for (int i = 0; i < _DB_TASK_STATE_MAX; i++)
		assert_int_equal(db_task_state_from_string(db_task_state_to_string(i)), i);
	assert_string_equal(db_role_to_string(DB_ROLE_OPERATOR), "operator");
	assert_string_equal(db_server_state_to_string(DB_SERVER_RUNNING), "running");
	assert_int_equal(db_role_from_string("root"), -EINVAL);
	assert_int_equal(db_role_from_string(NULL), -EINVAL);
	assert_null(db_role_to_string(_DB_ROLE_MAX));
	assert_null(db_task_state_to_string(-1));
}

/* --- data volumes ---------------------------------------------------------------------------- */

static void make_volume(struct db *db, const char *name, const char *tenant_id, uint64_t size,
			struct db_volume *v)
{
	struct carve_error err = CARVE_ERROR_INIT;

	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->tenant_id, sizeof(v->tenant_id), "%s", tenant_id);
	v->size = size;
	assert_int_equal(db_volume_create(db, v, &err), 0);
}

/* Networks, interfaces, published ports, bandwidth: uniqueness, in-use refusal, cascades. */
static void test_network_rows(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant t, u;
	struct db_template tpl;
	struct db_server s;
	struct db_network n = {0}, dup = {0}, got, *l = NULL;
	struct db_nic nic = {0}, nic2 = {0}, *nl = NULL;
	struct db_port p = {0}, p2 = {0}, *pl = NULL;
	size_t cnt = 0;
	uint64_t rate = 1;

	make_tenant(f->db, "acme", &t);
	make_tenant(f->db, "globex", &u);
	make_template(f->db, "busybox", &tpl);
	make_server(f->db, "web", t.id, tpl.id, &s);

	snprintf(n.tenant_id, sizeof(n.tenant_id), "%s", t.id);
	snprintf(n.name, sizeof(n.name), "lan");
	snprintf(n.subnet, sizeof(n.subnet), "10.1.0.0/24");
	assert_int_equal(db_network_create(f->db, &n, &err), 0);
	assert_true(n.id >= 1);
	dup = n;
	snprintf(dup.subnet, sizeof(dup.subnet), "10.2.0.0/24");
	assert_int_equal(db_network_create(f->db, &dup, NULL), -EEXIST); /* name in tenant */
	snprintf(dup.tenant_id, sizeof(dup.tenant_id), "%s", u.id);
	snprintf(dup.subnet, sizeof(dup.subnet), "10.1.0.0/24");
	assert_int_equal(db_network_create(f->db, &dup, NULL), -EEXIST); /* subnet on host */
	snprintf(dup.subnet, sizeof(dup.subnet), "10.2.0.0/24");
	assert_int_equal(db_network_create(f->db, &dup, &err), 0); /* same name, other tenant */
	assert_true(dup.id > n.id);
	assert_int_equal(db_network_get_by_name(f->db, t.id, "lan", &got, NULL), 0);
	assert_int_equal(got.id, n.id);
	assert_int_equal(db_network_get_by_id(f->db, dup.id, &got, NULL), 0);
	assert_string_equal(got.tenant_id, u.id);
	assert_int_equal(db_network_list(f->db, t.id, &l, &cnt, NULL), 0);
	assert_int_equal(cnt, 1);
	free(l);

	snprintf(nic.server_id, sizeof(nic.server_id), "%s", s.id);
	nic.network_id = n.id;
	snprintf(nic.mac, sizeof(nic.mac), "02:00:00:00:00:01");
	snprintf(nic.addr, sizeof(nic.addr), "10.1.0.2");
	nic.dhcp = true;
	assert_int_equal(db_nic_create(f->db, &nic, &err), 0);
	nic2 = nic;
	nic2.idx = 1;
	snprintf(nic2.mac, sizeof(nic2.mac), "02:00:00:00:00:02");
	assert_int_equal(db_nic_create(f->db, &nic2, NULL), -EEXIST); /* address on network */
	nic2.network_id = 99999;
	snprintf(nic2.addr, sizeof(nic2.addr), "10.1.0.3");
	assert_int_equal(db_nic_create(f->db, &nic2, NULL), -ENOENT); /* no such network */
	assert_int_equal(db_nic_list(f->db, s.id, 0, &nl, &cnt, NULL), 0);
	assert_int_equal(cnt, 1);
	assert_true(nl[0].dhcp);
	assert_string_equal(nl[0].mac, "02:00:00:00:00:01");
	free(nl);
	assert_int_equal(db_network_delete(f->db, n.id, NULL), -EBUSY); /* in use */

	snprintf(p.tenant_id, sizeof(p.tenant_id), "%s", t.id);
	snprintf(p.server_id, sizeof(p.server_id), "%s", s.id);
	snprintf(p.protocol, sizeof(p.protocol), "tcp");
	p.nic_id = nic.id;
	p.port = 80;
	p.public_port = 8080;
	assert_int_equal(db_port_create(f->db, &p, &err), 0);
	p2 = p;
	p2.port = 81;
	assert_int_equal(db_port_create(f->db, &p2, NULL), -EEXIST); /* public port taken */
	snprintf(p2.protocol, sizeof(p2.protocol), "udp");
	assert_int_equal(db_port_create(f->db, &p2, &err), 0); /* udp is another space */
	assert_int_equal(db_port_list(f->db, u.id, NULL, &pl, &cnt, NULL), 0);
	assert_int_equal(cnt, 0);
	free(pl);

	assert_int_equal(db_server_bandwidth_set(f->db, s.id, 50000000, &err), 0);
	assert_int_equal(db_server_bandwidth_get(f->db, s.id, &rate, NULL), 0);
	assert_int_equal(rate, 50000000);
	assert_int_equal(db_server_bandwidth_set(f->db, s.id, 0, &err), 0);
	assert_int_equal(db_server_bandwidth_get(f->db, s.id, &rate, NULL), 0);
	assert_int_equal(rate, 0);
	assert_int_equal(db_server_bandwidth_set(f->db, s.id, 7, &err), 0);

	/* the server's interfaces, ports and bandwidth go with it; then the network is free */
	assert_int_equal(db_server_delete(f->db, s.id, &err), 0);
	assert_int_equal(db_nic_list(f->db, NULL, n.id, &nl, &cnt, NULL), 0);
	assert_int_equal(cnt, 0);
	free(nl);
	assert_int_equal(db_port_list(f->db, NULL, NULL, &pl, &cnt, NULL), 0);
	assert_int_equal(cnt, 0);
	free(pl);
	assert_int_equal(db_network_delete(f->db, n.id, &err), 0);
	assert_int_equal(db_network_delete(f->db, n.id, NULL), -ENOENT);
}

/* guest_written: set with an update, never cleared by one; migration 11 sets it on the volumes
 * attached to VMs when it runs. */
static void test_volume_guest_written(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant t;
	struct db_template tpl;
	struct db_server web, vm;
	struct db_volume a, b, c;
	struct db_volume *got = NULL;
	char buf[64];

	make_tenant(f->db, "acme", &t);
	make_template(f->db, "busybox", &tpl);
	make_server(f->db, "web1", t.id, tpl.id, &web);
	memset(&vm, 0, sizeof(vm));
	snprintf(vm.name, sizeof(vm.name), "vm1");
	snprintf(vm.tenant_id, sizeof(vm.tenant_id), "%s", t.id);
	snprintf(vm.template_id, sizeof(vm.template_id), "%s", tpl.id);
	snprintf(vm.kind, sizeof(vm.kind), "vm");
	vm.vcpus = 1;
	vm.memory = UINT64_C(256) << 20;
	assert_int_equal(db_server_create(f->db, &vm, &err), 0);
	make_volume(f->db, "ctdata", t.id, UINT64_C(64) << 20, &a);
	make_volume(f->db, "vmdata", t.id, UINT64_C(64) << 20, &b);
	make_volume(f->db, "spare", t.id, UINT64_C(64) << 20, &c);
	assert_false(a.guest_written);

	/* attached to a container: not a guest's */
	snprintf(a.server_id, sizeof(a.server_id), "%s", web.id);
	a.path = (char *)"/data";
	assert_int_equal(db_volume_update(f->db, &a, &err), 0);
	/* attached to a VM: set, and a later update without it (a detach) keeps it */
	snprintf(c.server_id, sizeof(c.server_id), "%s", vm.id);
	c.path = (char *)"/dev/vdb";
	c.guest_written = true;
	assert_int_equal(db_volume_update(f->db, &c, &err), 0);
	c.server_id[0] = '\0';
	c.path = NULL;
	c.guest_written = false;
	assert_int_equal(db_volume_update(f->db, &c, &err), 0);
	assert_int_equal(db_volume_get_by_id(f->db, c.id, &got, NULL), 0);
	assert_true(got->guest_written);
	assert_string_equal(got->server_id, "");
	got = db_volume_free(got);

	/* a store from before migration 11, with vmdata attached to the VM and no column yet */
	snprintf(b.server_id, sizeof(b.server_id), "%s", vm.id);
	b.path = (char *)"/dev/vdb";
	assert_int_equal(db_volume_update(f->db, &b, &err), 0);
	f->db = db_close(f->db);
	raw_query(f->path, "ALTER TABLE volumes DROP COLUMN guest_written", buf, sizeof(buf));
	raw_query(f->path, "PRAGMA user_version = 10", buf, sizeof(buf));
	assert_int_equal(db_open(f->path, &f->db, &err), 0);
	assert_int_equal(db_schema_version(f->db), db_schema_latest());
	assert_int_equal(db_volume_get_by_id(f->db, b.id, &got, NULL), 0);
	assert_true(got->guest_written);
	got = db_volume_free(got);
	assert_int_equal(db_volume_get_by_id(f->db, a.id, &got, NULL), 0);
	assert_false(got->guest_written);
	got = db_volume_free(got);
	/* the detached one was a guest's before, which the migration cannot know: not set */
	assert_int_equal(db_volume_get_by_id(f->db, c.id, &got, NULL), 0);
	assert_false(got->guest_written);
	got = db_volume_free(got);
}

static void test_volume_crud(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant t1, t2;
	struct db_template tpl;
	struct db_server web, other;
	struct db_volume a, b, c, dup;
	struct db_volume *got = NULL, **l = NULL;
	size_t n = 0;

	make_tenant(f->db, "acme", &t1);
	make_tenant(f->db, "beta", &t2);
	make_template(f->db, "busybox", &tpl);
	make_server(f->db, "web1", t1.id, tpl.id, &web);
	make_server(f->db, "web2", t1.id, tpl.id, &other);
	make_volume(f->db, "data", t1.id, UINT64_C(200) << 20, &a);
	make_volume(f->db, "logs", t1.id, UINT64_C(1) << 30, &b);
	/* names are unique per tenant only */
	make_volume(f->db, "data", t2.id, UINT64_C(64) << 20, &c);
	assert_int_equal(strlen(a.id), 32);
	assert_string_not_equal(a.id, c.id);
	assert_string_equal(a.pool, "default");
	assert_true(a.created_at > 0);

	memset(&dup, 0, sizeof(dup));
	snprintf(dup.name, sizeof(dup.name), "data");
	snprintf(dup.tenant_id, sizeof(dup.tenant_id), "%s", t1.id);
	assert_int_equal(db_volume_create(f->db, &dup, &err), -EEXIST);
	assert_string_equal(err.msg, "volume 'data' already exists");
	snprintf(dup.name, sizeof(dup.name), "orphan");
	snprintf(dup.tenant_id, sizeof(dup.tenant_id), "ffffffffffffffffffffffffffffffff");
	assert_int_equal(db_volume_create(f->db, &dup, NULL), -ENOENT);

	assert_int_equal(db_volume_get_by_name(f->db, t1.id, "data", &got, NULL), 0);
	assert_string_equal(got->id, a.id);
	assert_string_equal(got->tenant_id, t1.id);
	assert_int_equal(got->size, UINT64_C(200) << 20);
	assert_string_equal(got->server_id, "");
	assert_null(got->path);
	got = db_volume_free(got);
	carve_err_clear(&err);
	assert_int_equal(db_volume_get_by_name(f->db, t2.id, "logs", &got, &err), -ENOENT);
	assert_string_equal(err.msg, "volume 'logs' not found");
	assert_int_equal(db_volume_get_by_id(f->db, c.id, &got, NULL), 0);
	assert_string_equal(got->tenant_id, t2.id);
	got = db_volume_free(got);

	/* lists: one tenant by name, or all */
	assert_int_equal(db_volume_list(f->db, t1.id, &l, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0]->name, "data");
	assert_string_equal(l[1]->name, "logs");
	db_volume_list_free(l, n);
	assert_int_equal(db_volume_list(f->db, NULL, &l, &n, NULL), 0);
	assert_int_equal(n, 3);
	db_volume_list_free(l, n);

	/* attach both to web1, ordered by path; a path is taken once per server */
	snprintf(a.server_id, sizeof(a.server_id), "%s", web.id);
	a.path = (char *)"/srv/z";
	assert_int_equal(db_volume_update(f->db, &a, NULL), 0);
	snprintf(b.server_id, sizeof(b.server_id), "%s", web.id);
	b.path = (char *)"/srv/z";
	carve_err_clear(&err);
	assert_int_equal(db_volume_update(f->db, &b, &err), -EEXIST);
	assert_string_equal(err.msg, "volume 'logs': path '/srv/z' is taken by volume 'data'");
	b.path = (char *)"/logs";
	b.size = UINT64_C(2) << 30;
	assert_int_equal(db_volume_update(f->db, &b, NULL), 0);
	/* the same path on another server is fine */
	snprintf(c.server_id, sizeof(c.server_id), "%s", other.id);
	c.path = (char *)"/srv/z";
	assert_int_equal(db_volume_update(f->db, &c, NULL), 0);
	/* a server id and a path go together; an unknown server is refused */
	a.path = NULL;
	assert_int_equal(db_volume_update(f->db, &a, NULL), -EINVAL);
	a.path = (char *)"/srv/z";
	snprintf(a.server_id, sizeof(a.server_id), "ffffffffffffffffffffffffffffffff");
	assert_int_equal(db_volume_update(f->db, &a, NULL), -ENOENT);
	snprintf(a.server_id, sizeof(a.server_id), "%s", web.id);

	assert_int_equal(db_volume_list_by_server(f->db, web.id, &l, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0]->name, "logs");
	assert_string_equal(l[0]->path, "/logs");
	assert_int_equal(l[0]->size, UINT64_C(2) << 30);
	assert_string_equal(l[1]->name, "data");
	assert_string_equal(l[1]->server_id, web.id);
	db_volume_list_free(l, n);

	/* an attached volume keeps its server from being deleted underneath it */
	assert_int_not_equal(db_server_delete(f->db, web.id, NULL), 0);

	/* detach */
	a.server_id[0] = '\0';
	a.path = NULL;
	assert_int_equal(db_volume_update(f->db, &a, NULL), 0);
	assert_int_equal(db_volume_get_by_id(f->db, a.id, &got, NULL), 0);
	assert_string_equal(got->server_id, "");
	assert_null(got->path);
	got = db_volume_free(got);
	assert_int_equal(db_volume_list_by_server(f->db, web.id, &l, &n, NULL), 0);
	assert_int_equal(n, 1);
	db_volume_list_free(l, n);

	/* survives a reopen */
	reopen(f);
	assert_int_equal(db_volume_get_by_name(f->db, t1.id, "logs", &got, NULL), 0);
	assert_string_equal(got->path, "/logs");
	got = db_volume_free(got);

	assert_int_equal(db_volume_delete(f->db, a.id, NULL), 0);
	assert_int_equal(db_volume_delete(f->db, a.id, NULL), -ENOENT);
	assert_int_equal(db_volume_get_by_id(f->db, a.id, &got, NULL), -ENOENT);
	assert_null(got);
	/* a tenant with volumes cannot be deleted */
	assert_int_not_equal(db_tenant_delete(f->db, t2.id, NULL), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* The database (password hashes, token digests, backup keys) is root's alone, whatever the
 * umask: a new one is made 0600, and an old one left 0644 (with its WAL) is corrected. */
static void test_file_mode(void **state)
{
	struct fixture *f = *state;
	char wal[160];
	struct stat st;
	mode_t old = umask(022);

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	f->db = db_close(f->db);
	assert_int_equal(chmod(f->path, 0644), 0);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	close(open(wal, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	assert_int_equal(chmod(wal, 0644), 0);
	reopen(f);
	umask(old);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_backup_records(void **state)
{
	struct fixture *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_tenant a, b;
	struct db_backup row = {0}, *got = NULL, **l = NULL;
	struct db_backup_schedule sc = {0}, **due = NULL;
	uint8_t k1[32], k2[32], fresh[32], out[32];
	uint64_t bytes = 1;
	size_t n = 0;

	make_tenant(f->db, "acme", &a);
	make_tenant(f->db, "beta", &b);
	/* one key per tenant, created once */
	memset(fresh, 1, sizeof(fresh));
	assert_int_equal(db_backup_key_get_or_create(f->db, a.id, fresh, k1, &err), 0);
	memset(fresh, 2, sizeof(fresh));
	assert_int_equal(db_backup_key_get_or_create(f->db, a.id, fresh, out, &err), 0);
	assert_memory_equal(k1, out, 32);
	assert_int_equal(db_backup_key_get_or_create(f->db, b.id, fresh, k2, &err), 0);
	assert_memory_not_equal(k1, k2, 32);

	/* running, then complete; the snapshot it keeps is known */
	snprintf(row.store, sizeof(row.store), "default");
	snprintf(row.tenant_id, sizeof(row.tenant_id), "%s", a.id);
	snprintf(row.server_id, sizeof(row.server_id), "0123456789abcdef0123456789abcdef");
	snprintf(row.server_name, sizeof(row.server_name), "web1");
	snprintf(row.kind, sizeof(row.kind), "container");
	snprintf(row.snapshot, sizeof(row.snapshot), "fedcba9876543210fedcba9876543210");
	row.volumes = (char *)"[]";
	assert_int_equal(db_backup_create(f->db, &row, &err), 0);
	assert_true(db_backup_snapshot_known(f->db, row.snapshot));
	assert_false(db_backup_snapshot_known(f->db, "other"));
	assert_int_equal(db_backup_list(f->db, a.id, NULL, NULL, true, &l, &n, &err), 0);
	assert_int_equal(n, 0);
	db_backup_list_free(l, n);
	snprintf(row.backup_id, sizeof(row.backup_id), "20261123T010203Z-abcdef12");
	row.state = DB_BACKUP_COMPLETE;
	row.stats = (char *)"{\"bytes_read\":5}";
	assert_int_equal(db_backup_update(f->db, &row, &err), 0);
	assert_int_equal(db_backup_get(f->db, row.backup_id, &got, &err), 0);
	assert_int_equal(got->state, DB_BACKUP_COMPLETE);
	assert_string_equal(got->stats, "{\"bytes_read\":5}");
	assert_null(got->verify);
	db_backup_free(got);
	assert_int_equal(db_backup_set_verify(f->db, row.id, "{\"ok\":true}", &err), 0);
	assert_int_equal(db_backup_list(f->db, a.id, row.server_id, "default", true, &l, &n, &err),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0]->verify, "{\"ok\":true}");
	db_backup_list_free(l, n);
	assert_int_equal(db_backup_list(f->db, b.id, NULL, NULL, false, &l, &n, &err), 0);
	assert_int_equal(n, 0);
	db_backup_list_free(l, n);
	/* a tenant with backups is not deleted */
	assert_int_equal(db_tenant_delete(f->db, a.id, NULL), -EBUSY);

	assert_int_equal(db_backup_usage_set(f->db, a.id, "default", 100, 2, &err), 0);
	assert_int_equal(db_backup_usage_set(f->db, a.id, "offsite", 50, 1, &err), 0);
	assert_int_equal(db_backup_usage_set(f->db, a.id, "default", 70, 2, &err), 0);
	assert_int_equal(db_backup_usage_get(f->db, a.id, &bytes, &err), 0);
	assert_int_equal(bytes, 120);
	assert_int_equal(db_backup_usage_get(f->db, b.id, &bytes, &err), 0);
	assert_int_equal(bytes, 0);

	assert_int_equal(db_backup_delete(f->db, row.id, &err), 0);
	assert_int_equal(db_backup_get(f->db, row.backup_id, &got, NULL), -ENOENT);
	assert_false(db_backup_snapshot_known(f->db, row.snapshot));

	/* schedules of a server, due by next_run */
	struct db_template tpl;
	struct db_server s;
	make_template(f->db, "busybox", &tpl);
	make_server(f->db, "web1", a.id, tpl.id, &s);
	snprintf(sc.server_id, sizeof(sc.server_id), "%s", s.id);
	snprintf(sc.expr, sizeof(sc.expr), "@daily");
	snprintf(sc.store, sizeof(sc.store), "default");
	sc.keep_last = 3;
	sc.next_run = 1000;
	assert_int_equal(db_backup_schedule_set(f->db, &sc, &err), 0);
	assert_int_equal(db_backup_schedule_next(f->db), 1000);
	assert_int_equal(db_backup_schedule_due(f->db, 999, &due, &n, &err), 0);
	assert_int_equal(n, 0);
	db_backup_schedule_list_free(due, n);
	assert_int_equal(db_backup_schedule_due(f->db, 1000, &due, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(due[0]->keep_last, 3);
	db_backup_schedule_list_free(due, n);
	/* deleting the server removes its schedule */
	assert_int_equal(db_server_delete(f->db, s.id, &err), 0);
	assert_int_equal(db_backup_schedule_next(f->db), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_migrates_once),
		T(test_open_refuses_newer_schema),
		T(test_open_refuses_garbage),
		T(test_open_refuses_corrupt_pages),
		T(test_tenant_crud),
		T(test_tenant_uid_slots),
		T(test_tenant_uid_slots_concurrent),
		T(test_tenant_delete_busy),
		T(test_user_crud),
		T(test_token_crud),
		T(test_template_crud),
		T(test_server_crud),
		T(test_server_vm_uid_slots),
		T(test_server_transition),
		T(test_task_crud),
		T(test_audit_append),
		T(test_transactions),
		T(test_volume_crud),
		T(test_volume_guest_written),
		T(test_backup_records),
		T(test_network_rows),
		cmocka_unit_test(test_enum_strings),
		T(test_file_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

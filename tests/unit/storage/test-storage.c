/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage module: pool open, volume names, storage_copy_tree (contents, holes, modes, owners
 * shifted into a tenant's range, links, FIFOs, devices skipped, timestamps, progress and cancel),
 * and the dir driver's volume lifecycle (atomic clone, stale partial copies, destroy that never
 * crosses a mount point). Tests that must chown to other ids or mount are skipped when not root;
 * as root the process runs in a private mount namespace so a crash cannot leak a mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fd-util.h"
#include "storage/storage.h"

#define UID_SHIFT 100000u
#define GID_SHIFT 200000u
#define BIG_SIZE (20u << 20)
#define DENSE_SIZE (12u << 20)
#define MAX_MOUNTS 8

static const struct timespec fixed_mtime = {.tv_sec = 1000000000, .tv_nsec = 123456789};

struct fx {
	char dir[PATH_MAX];
	char mounts[MAX_MOUNTS][PATH_MAX];
	size_t n_mounts;
	struct storage_pool *pool;
};

/* --- helpers ------------------------------------------------------------------------------------
 */

#define REQUIRE_ROOT()              \
	do {                        \
		if (geteuid() != 0) \
			skip();     \
	} while (0)

#define assert_contains(haystack, needle)                                             \
	do {                                                                          \
		if (!strstr((haystack), (needle)))                                    \
			fail_msg("'%s' does not contain '%s'", (haystack), (needle)); \
	} while (0)

_printf_(3, 4) static char *pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < len);
	return buf;
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed | 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

static void set_owner_mode(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	/* chown clears setuid/setgid, so the mode comes last */
	if (chown(path, uid, gid) < 0)
		fail_msg("chown '%s': %s", path, strerror(errno));
	if (chmod(path, mode) < 0)
		fail_msg("chmod '%s': %s", path, strerror(errno));
}

static void mk_file(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
		    gid_t gid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		fail_msg("create '%s': %s", path, strerror(errno));
	assert_int_equal(loop_write(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
	set_owner_mode(path, uid, gid, mode);
}

static void mk_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(path, 0700) < 0)
		fail_msg("mkdir '%s': %s", path, strerror(errno));
	set_owner_mode(path, uid, gid, mode);
}

static void set_mtime(const char *path)
{
	struct timespec t[2] = {fixed_mtime, fixed_mtime};

	if (utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW) < 0)
		fail_msg("utimensat '%s': %s", path, strerror(errno));
}

static struct stat lstat_ok(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		fail_msg("lstat '%s': %s", path, strerror(errno));
	return st;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void assert_owner(const char *path, uid_t uid, gid_t gid)
{
	struct stat st = lstat_ok(path);

	if (st.st_uid != uid || st.st_gid != gid)
		fail_msg("'%s': owner %u:%u, want %u:%u", path, (unsigned)st.st_uid,
			 (unsigned)st.st_gid, (unsigned)uid, (unsigned)gid);
}

static void assert_mode(const char *path, mode_t type, mode_t perm)
{
	struct stat st = lstat_ok(path);

	if ((st.st_mode & S_IFMT) != type || (st.st_mode & 07777) != perm)
		fail_msg("'%s': mode %o, want %o", path, (unsigned)st.st_mode,
			 (unsigned)(type | perm));
}

static void assert_mtime(const char *path)
{
	struct stat st = lstat_ok(path);

	if (st.st_mtim.tv_sec != fixed_mtime.tv_sec || st.st_mtim.tv_nsec != fixed_mtime.tv_nsec)
		fail_msg("'%s': mtime %lld.%09ld, want %lld.%09ld", path,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (long long)fixed_mtime.tv_sec, fixed_mtime.tv_nsec);
}

static void assert_same_bytes(const char *a, const char *b)
{
	char *da = NULL, *db = NULL;
	size_t la = 0, lb = 0;

	assert_int_equal(read_full_file(a, 64u << 20, &da, &la), 0);
	assert_int_equal(read_full_file(b, 64u << 20, &db, &lb), 0);
	if (la != lb || memcmp(da, db, la) != 0) {
		free(da);
		free(db);
		fail_msg("'%s' and '%s' differ (%zu and %zu bytes)", a, b, la, lb);
	}
	free(da);
	free(db);
}

static void fx_mount(struct fx *f, const char *src, const char *target, const char *type,
		     unsigned long flags)
{
	assert_true(f->n_mounts < MAX_MOUNTS);
	if (mount(src, target, type, flags, type ? "size=1m,mode=0755" : NULL) < 0)
		fail_msg("mount '%s' on '%s': %s", src, target, strerror(errno));
	pathf(f->mounts[f->n_mounts++], PATH_MAX, "%s", target);
}

struct progress {
	uint64_t last_done, last_total;
	unsigned calls;
	unsigned cancel_at; /* return -ECANCELED at this call (1-based); 0: never */
	bool backwards, past_total;
};

static int progress_cb(uint64_t done, uint64_t total, void *userdata)
{
	struct progress *p = userdata;

	p->calls++;
	if (done < p->last_done)
		p->backwards = true;
	if (done > total)
		p->past_total = true;
	p->last_done = done;
	p->last_total = total;
	return p->cancel_at && p->calls >= p->cancel_at ? -ECANCELED : 0;
}

/* --- fixtures ------------------------------------------------------------------------------------
 */

static int setup_fx(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char pool[PATH_MAX];
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/carve-test-storage-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(pool, sizeof(pool), "%s/pool", f->dir);
	if (storage_pool_open("dir", "p1", pool, &f->pool, &err) < 0) {
		print_error("pool: %s\n", err.msg);
		rmdir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown_fx(void **state)
{
	struct fx *f = *state;
	int r = 0;

	while (f->n_mounts > 0) {
		const char *m = f->mounts[--f->n_mounts];
		if (umount2(m, MNT_DETACH) < 0) {
			print_error("umount '%s': %s\n", m, strerror(errno));
			r = -1;
		}
	}
	storage_pool_free(f->pool);
	if (rm_rf(f->dir) < 0) {
		print_error("remove '%s' failed\n", f->dir);
		r = -1;
	}
	free(f);
	return r;
}

static int setup_group(void **state)
{
	(void)state;
	/* Mounts made by the tests die with this namespace even if the process crashes. */
	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			print_error("private mount namespace: %s\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The tree every copy test starts from (root only: other owners, a device node). Returns the sum
 * of the sizes of all regular files (each name counted). */
static uint64_t build_full_tree(const char *src)
{
	char p[PATH_MAX], q[PATH_MAX];
	uint8_t *big = malloc(1u << 20);
	uint64_t total = 0;
	int fd;

	assert_non_null(big);
	set_owner_mode(src, 0, 0, 0755);

	mk_dir(pathf(p, sizeof(p), "%s/etc", src), 0755, 0, 0);
	mk_file(pathf(p, sizeof(p), "%s/etc/hostname", src), "tenant\n", 7, 0644, 0, 0);
	total += 7;
	mk_dir(pathf(p, sizeof(p), "%s/home", src), 0755, 0, 0);
	mk_dir(pathf(p, sizeof(p), "%s/home/user", src), 0700, 1000, 1001);
	mk_file(pathf(p, sizeof(p), "%s/home/user/notes", src), "hello user\n", 11, 0600, 1000,
		1001);
	total += 11;
	set_mtime(pathf(p, sizeof(p), "%s/home/user/notes", src));
	set_mtime(pathf(p, sizeof(p), "%s/home/user", src));
	mk_file(pathf(p, sizeof(p), "%s/empty", src), "", 0, 0640, 0, 0);
	mk_dir(pathf(p, sizeof(p), "%s/tmp", src), 01777, 0, 0);
	mk_dir(pathf(p, sizeof(p), "%s/shared", src), 02775, 0, 50);

	mk_dir(pathf(p, sizeof(p), "%s/bin", src), 0755, 0, 0);
	fill_pattern(big, 4096, 7);
	mk_file(pathf(p, sizeof(p), "%s/bin/su", src), big, 4096, 04755, 0, 0);
	mk_file(pathf(p, sizeof(p), "%s/bin/wall", src), big, 100, 02755, 0, 5);
	total += 4096 + 100;

	/* 20 MiB with 2 MiB of data: two extents and a trailing hole */
	pathf(p, sizeof(p), "%s/big", src);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	fill_pattern(big, 1u << 20, 1);
	assert_int_equal(pwrite(fd, big, 1u << 20, 0), 1u << 20);
	fill_pattern(big, 1u << 20, 2);
	assert_int_equal(pwrite(fd, big, 1u << 20, 12u << 20), 1u << 20);
	assert_int_equal(ftruncate(fd, BIG_SIZE), 0);
	assert_int_equal(close(fd), 0);
	set_mtime(p);
	total += BIG_SIZE;

	assert_int_equal(symlink("/etc/passwd", pathf(p, sizeof(p), "%s/abs", src)), 0);
	assert_int_equal(symlink("etc/hostname", pathf(p, sizeof(p), "%s/rel", src)), 0);
	assert_int_equal(lchown(p, 1000, 1000), 0);
	set_mtime(p);
	assert_int_equal(symlink("nowhere/at/all", pathf(p, sizeof(p), "%s/dangling", src)), 0);

	mk_file(pathf(p, sizeof(p), "%s/hl-a", src), "linked", 6, 0644, 1000, 1000);
	mk_dir(pathf(q, sizeof(q), "%s/sub", src), 0755, 0, 0);
	assert_int_equal(link(p, pathf(q, sizeof(q), "%s/sub/hl-b", src)), 0);
	total += 2 * 6;

	pathf(p, sizeof(p), "%s/fifo", src);
	assert_int_equal(mkfifo(p, 0600), 0);
	set_owner_mode(p, 1000, 1000, 0640);
	set_mtime(p);

	pathf(p, sizeof(p), "%s/null", src);
	assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);

	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		pathf(p, sizeof(p), "%s/sock", src);
		assert_true(s >= 0);
		assert_true(strlen(p) < sizeof(sa.sun_path));
		memcpy(sa.sun_path, p, strlen(p) + 1);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(s);
	}

	set_mtime(pathf(p, sizeof(p), "%s/etc", src)); /* after its children */
	set_mtime(src);
	free(big);
	return total;
}

/* --- pools -------------------------------------------------------------------------------------
 */

static void test_pool_open_errors(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_pool *p = NULL;
	char path[PATH_MAX], *longpath;

	pathf(path, sizeof(path), "%s/other", f->dir);
	assert_int_equal(storage_pool_open("zfs", "p2", path, &p, &err), -EINVAL);
	assert_null(p);
	assert_contains(err.msg, "pool 'p2'");
	assert_contains(err.msg, "unknown driver 'zfs'");
	assert_false(exists(path));

	carve_err_clear(&err);
	assert_int_equal(storage_pool_open("dir", "Bad_Name", path, &p, &err), -EINVAL);
	assert_contains(err.msg, "pool name 'Bad_Name'");
	carve_err_clear(&err);
	assert_int_equal(storage_pool_open("dir", "", path, &p, &err), -EINVAL);
	assert_contains(err.msg, "pool name is empty");
	carve_err_clear(&err);
	assert_int_equal(storage_pool_open("dir", "p2", "", &p, &err), -EINVAL);
	assert_contains(err.msg, "path is empty");
	assert_null(p);
	assert_false(exists(path));

	longpath = malloc(PATH_MAX + 64);
	assert_non_null(longpath);
	memset(longpath, 'a', PATH_MAX + 63);
	longpath[0] = '/';
	longpath[PATH_MAX + 63] = '\0';
	carve_err_clear(&err);
	assert_int_equal(storage_pool_open("dir", "p2", longpath, &p, &err), -ENAMETOOLONG);
	free(longpath);
	assert_null(p);
	assert_contains(err.msg, "pool 'p2': path too long");

	/* a pool path that exists but is not a directory */
	pathf(path, sizeof(path), "%s/afile", f->dir);
	mk_file(path, "x", 1, 0600, geteuid(), getegid());
	carve_err_clear(&err);
	assert_int_equal(storage_pool_open("dir", "p2", path, &p, &err), -ENOTDIR);
	assert_null(p);
	assert_contains(err.msg, "pool 'p2'");

	/* without an error struct the code still comes back */
	assert_int_equal(storage_pool_open("dir", "p2", path, &p, NULL), -ENOTDIR);
	assert_null(p);
}

static void test_pool_open_creates_dir(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_pool *p = NULL;
	char path[PATH_MAX];

	pathf(path, sizeof(path), "%s/a/b/c/pool", f->dir);
	if (storage_pool_open("dir", "second", path, &p, &err) < 0)
		fail_msg("%s", err.msg);
	assert_mode(path, S_IFDIR, 0700);
	assert_string_equal(storage_pool_name(p), "second");
	assert_string_equal(storage_pool_path(p), path);
	p = storage_pool_free(p);
	assert_null(p);
	assert_null(storage_pool_free(NULL));

	/* reopening an existing pool works and keeps its contents */
	mk_file(pathf(path, sizeof(path), "%s/a/b/c/pool/keep", f->dir), "k", 1, 0600, geteuid(),
		getegid());
	pathf(path, sizeof(path), "%s/a/b/c/pool", f->dir);
	assert_int_equal(storage_pool_open("dir", "second", path, &p, &err), 0);
	assert_true(exists(pathf(path, sizeof(path), "%s/a/b/c/pool/keep", f->dir)));
	storage_pool_free(p);
}

static void test_volume_path(void **state)
{
	struct fx *f = *state;
	const char *id = "0123456789abcdef0123456789abcdef";
	const char *bad[] = {"../x",
			     "",
			     "A",
			     "a/b",
			     "web1.partial",
			     ".",
			     "..",
			     "-x",
			     "x-",
			     "0123456789abcdef0123456789abcdeF",
			     "0123456789abcdef0123456789abcdef0"};
	char buf[PATH_MAX], want[PATH_MAX];

	assert_int_equal(storage_volume_path(f->pool, "web1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, pathf(want, sizeof(want), "%s/pool/web1", f->dir));
	assert_int_equal(storage_volume_path(f->pool, id, buf, sizeof(buf)), 0);
	assert_string_equal(buf, pathf(want, sizeof(want), "%s/pool/%s", f->dir, id));

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		if (storage_volume_path(f->pool, bad[i], buf, sizeof(buf)) != -EINVAL)
			fail_msg("volume name '%s' accepted", bad[i]);
		assert_int_equal(storage_volume_exists(f->pool, bad[i]), -EINVAL);
	}
	assert_int_equal(storage_volume_path(f->pool, "web1", buf, 8), -ENAMETOOLONG);
	assert_int_equal(storage_volume_exists(f->pool, "web1"), 0);
}

/* --- storage_copy_tree ------------------------------------------------------------------------ */

static void test_copy_tree_full(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct progress prog = {0};
	struct storage_clone_opts opts = {.uid_shift = UID_SHIFT,
					  .gid_shift = GID_SHIFT,
					  .id_range = 65536,
					  .progress = progress_cb,
					  .userdata = &prog};
	char src[PATH_MAX], dst[PATH_MAX], a[PATH_MAX], b[PATH_MAX], link[PATH_MAX];
	struct stat sa, sb;
	uint64_t total;
	ssize_t n;

	REQUIRE_ROOT();
	pathf(src, sizeof(src), "%s/src", f->dir);
	pathf(dst, sizeof(dst), "%s/dst", f->dir);
	assert_int_equal(mkdir(src, 0755), 0);
	total = build_full_tree(src);

	if (storage_copy_tree(src, dst, &opts, &err) < 0)
		fail_msg("copy: %s", err.msg);

	/* progress: monotonic, never past total, ends at done == total */
	assert_true(prog.calls >= 3); /* 20 MiB reports at least every 4 MiB */
	assert_false(prog.backwards);
	assert_false(prog.past_total);
	assert_int_equal(prog.last_done, prog.last_total);
	assert_int_equal(prog.last_total, total);

	/* the root */
	assert_owner(dst, UID_SHIFT, GID_SHIFT);
	assert_mode(dst, S_IFDIR, 0755);
	assert_mtime(dst);

	/* regular files: bytes, modes, shifted owners */
#define BOTH(rel) pathf(a, sizeof(a), "%s/%s", src, rel), pathf(b, sizeof(b), "%s/%s", dst, rel)
	BOTH("etc/hostname");
	assert_same_bytes(a, b);
	assert_owner(b, UID_SHIFT, GID_SHIFT);
	assert_mode(b, S_IFREG, 0644);
	BOTH("home/user/notes");
	assert_same_bytes(a, b);
	assert_owner(b, UID_SHIFT + 1000, GID_SHIFT + 1001);
	assert_mode(b, S_IFREG, 0600);
	assert_mtime(b);
	BOTH("empty");
	assert_int_equal(lstat_ok(b).st_size, 0);
	assert_mode(b, S_IFREG, 0640);
	BOTH("big");
	assert_same_bytes(a, b);
	assert_mtime(b);
	sb = lstat_ok(b);
	assert_int_equal(sb.st_size, BIG_SIZE);
	if ((uint64_t)sb.st_blocks * 512 > (4u << 20))
		fail_msg("'%s': holes not kept: %llu bytes allocated for 2 MiB of data", b,
			 (unsigned long long)sb.st_blocks * 512);

	/* setuid/setgid survive the shifted chown */
	BOTH("bin/su");
	assert_same_bytes(a, b);
	assert_mode(b, S_IFREG, 04755);
	assert_owner(b, UID_SHIFT, GID_SHIFT);
	BOTH("bin/wall");
	assert_mode(b, S_IFREG, 02755);
	assert_owner(b, UID_SHIFT, GID_SHIFT + 5);

	/* directories: modes incl. sticky and setgid, owners, mtimes set after their children */
	BOTH("home/user");
	assert_mode(b, S_IFDIR, 0700);
	assert_owner(b, UID_SHIFT + 1000, GID_SHIFT + 1001);
	assert_mtime(b);
	BOTH("tmp");
	assert_mode(b, S_IFDIR, 01777);
	BOTH("shared");
	assert_mode(b, S_IFDIR, 02775);
	assert_owner(b, UID_SHIFT, GID_SHIFT + 50);
	BOTH("etc");
	assert_mtime(b);

	/* symlinks stay links (never followed), with shifted owners */
	BOTH("abs");
	assert_true(S_ISLNK(lstat_ok(b).st_mode));
	n = readlink(b, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, "/etc/passwd");
	assert_owner(b, UID_SHIFT, GID_SHIFT);
	BOTH("rel");
	n = readlink(b, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, "etc/hostname");
	assert_owner(b, UID_SHIFT + 1000, GID_SHIFT + 1000);
	assert_mtime(b);
	BOTH("dangling");
	n = readlink(b, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, "nowhere/at/all");

	/* hard links: one inode in the copy */
	BOTH("hl-a");
	sa = lstat_ok(b);
	BOTH("sub/hl-b");
	sb = lstat_ok(b);
	assert_int_equal(sa.st_ino, sb.st_ino);
	assert_int_equal(sb.st_nlink, 2);
	assert_owner(b, UID_SHIFT + 1000, GID_SHIFT + 1000);
	assert_same_bytes(a, b);

	/* FIFO kept; device node and socket not copied */
	BOTH("fifo");
	assert_mode(b, S_IFIFO, 0640);
	assert_owner(b, UID_SHIFT + 1000, GID_SHIFT + 1000);
	assert_mtime(b);
	BOTH("null");
	assert_true(S_ISCHR(lstat_ok(a).st_mode));
	assert_false(exists(b));
	BOTH("sock");
	assert_true(S_ISSOCK(lstat_ok(a).st_mode));
	assert_false(exists(b));
#undef BOTH
}

/* Without root: the same owner (shift 0) and a range that admits any id. */
static void test_copy_tree_unprivileged(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct progress prog = {0};
	struct storage_clone_opts opts = {
		.id_range = UINT32_MAX, .progress = progress_cb, .userdata = &prog};
	char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
	uint8_t data[3000];

	pathf(src, sizeof(src), "%s/src", f->dir);
	pathf(dst, sizeof(dst), "%s/dst", f->dir);
	assert_int_equal(mkdir(src, 0750), 0);
	fill_pattern(data, sizeof(data), 3);
	mk_file(pathf(p, sizeof(p), "%s/f", src), data, sizeof(data), 0604, geteuid(), getegid());
	assert_int_equal(mkdir(pathf(p, sizeof(p), "%s/d", src), 0711), 0);
	assert_int_equal(symlink("../f", pathf(p, sizeof(p), "%s/d/l", src)), 0);

	if (storage_copy_tree(src, dst, &opts, &err) < 0)
		fail_msg("copy: %s", err.msg);
	assert_same_bytes(pathf(p, sizeof(p), "%s/f", src), pathf(p, sizeof(p), "%s/f", dst));
	assert_mode(p, S_IFREG, 0604);
	assert_mode(pathf(p, sizeof(p), "%s/d", dst), S_IFDIR, 0711);
	assert_true(S_ISLNK(lstat_ok(pathf(p, sizeof(p), "%s/d/l", dst)).st_mode));
	assert_mode(dst, S_IFDIR, 0750);
	assert_int_equal(prog.calls, 1);
	assert_int_equal(prog.last_done, sizeof(data));
	assert_int_equal(prog.last_total, sizeof(data));

	/* the destination must not exist yet */
	carve_err_clear(&err);
	assert_int_equal(storage_copy_tree(src, dst, &opts, &err), -EEXIST);
	assert_contains(err.msg, dst);
	/* nor may the source be missing */
	carve_err_clear(&err);
	pathf(p, sizeof(p), "%s/missing", f->dir);
	assert_int_equal(
		storage_copy_tree(p, pathf(dst, sizeof(dst), "%s/dst2", f->dir), &opts, &err),
		-ENOENT);
	assert_contains(err.msg, "source");
	assert_false(exists(dst));
}

static void test_copy_tree_overflow(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_clone_opts opts = {
		.uid_shift = UID_SHIFT, .gid_shift = GID_SHIFT, .id_range = 65536};
	char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];

	REQUIRE_ROOT();
	pathf(src, sizeof(src), "%s/src", f->dir);
	assert_int_equal(mkdir(src, 0755), 0);
	mk_dir(pathf(p, sizeof(p), "%s/deep", src), 0755, 0, 0);
	mk_dir(pathf(p, sizeof(p), "%s/deep/a", src), 0755, 0, 0);
	mk_file(pathf(p, sizeof(p), "%s/deep/a/owner", src), "x", 1, 0644, 70000, 0);

	pathf(dst, sizeof(dst), "%s/dst1", f->dir);
	assert_int_equal(storage_copy_tree(src, dst, &opts, &err), -EOVERFLOW);
	assert_int_equal(err.code, -EOVERFLOW);
	assert_contains(err.msg, "/deep/a/owner");
	assert_contains(err.msg, "70000");

	/* the group id too */
	assert_int_equal(chown(p, 0, 65536), 0);
	carve_err_clear(&err);
	pathf(dst, sizeof(dst), "%s/dst2", f->dir);
	assert_int_equal(storage_copy_tree(src, dst, &opts, &err), -EOVERFLOW);
	assert_contains(err.msg, "/deep/a/owner");
	assert_contains(err.msg, "65536");

	/* the boundary: the last id in the range passes, the first one past it does not */
	assert_int_equal(chown(p, 999, 999), 0);
	opts.id_range = 1000;
	carve_err_clear(&err);
	pathf(dst, sizeof(dst), "%s/dst3", f->dir);
	if (storage_copy_tree(src, dst, &opts, &err) < 0)
		fail_msg("id 999 in range 1000 refused: %s", err.msg);
	assert_owner(pathf(p, sizeof(p), "%s/deep/a/owner", dst), UID_SHIFT + 999, GID_SHIFT + 999);
	pathf(p, sizeof(p), "%s/deep/a/owner", src);
	assert_int_equal(chown(p, 1000, 0), 0);
	carve_err_clear(&err);
	pathf(dst, sizeof(dst), "%s/dst4", f->dir);
	assert_int_equal(storage_copy_tree(src, dst, &opts, &err), -EOVERFLOW);

	/* the source root is checked too */
	assert_int_equal(chown(p, 0, 0), 0);
	assert_int_equal(chown(src, 5000, 0), 0);
	carve_err_clear(&err);
	pathf(dst, sizeof(dst), "%s/dst5", f->dir);
	assert_int_equal(storage_copy_tree(src, dst, &opts, &err), -EOVERFLOW);
}

/* A shift that would push ids to (uid_t)-1 (chown's "leave unchanged") or wrap them to host root
 * is refused before anything is written. */
static void test_copy_tree_shift_wraps(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_clone_opts opts = {.uid_shift = UINT32_MAX - 65535, .id_range = 65536};
	char src[PATH_MAX], dst[PATH_MAX];

	pathf(src, sizeof(src), "%s/src", f->dir);
	pathf(dst, sizeof(dst), "%s/dst", f->dir);
	assert_int_equal(mkdir(src, 0755), 0);

	assert_int_equal(storage_copy_tree(src, dst, &opts, &err), -EOVERFLOW);
	assert_contains(err.msg, "uid shift");
	assert_false(exists(dst));

	opts.uid_shift = 0;
	opts.gid_shift = UINT32_MAX;
	carve_err_clear(&err);
	assert_int_equal(storage_copy_tree(src, dst, &opts, &err), -EOVERFLOW);
	assert_contains(err.msg, "gid shift");
	assert_false(exists(dst));

	/* the largest shift that keeps every id below (uid_t)-1 passes the check */
	opts.gid_shift = UINT32_MAX - 65536;
	opts.id_range = 65536;
	carve_err_clear(&err);
	if (geteuid() == 0) {
		if (storage_copy_tree(src, dst, &opts, &err) < 0)
			fail_msg("copy: %s", err.msg);
		assert_owner(dst, 0, UINT32_MAX - 65536);
	}
}

static void test_copy_tree_cancel(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct progress prog = {.cancel_at = 1};
	struct storage_clone_opts opts = {
		.id_range = UINT32_MAX, .progress = progress_cb, .userdata = &prog};
	char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
	uint8_t *data = malloc(DENSE_SIZE);

	assert_non_null(data);
	pathf(src, sizeof(src), "%s/src", f->dir);
	assert_int_equal(mkdir(src, 0755), 0);
	fill_pattern(data, DENSE_SIZE, 9);
	mk_file(pathf(p, sizeof(p), "%s/dense", src), data, DENSE_SIZE, 0644, geteuid(), getegid());
	free(data);

	/* cancelled mid-file */
	pathf(dst, sizeof(dst), "%s/dst1", f->dir);
	assert_int_equal(storage_copy_tree(src, dst, &opts, &err), -ECANCELED);
	assert_int_equal(err.code, -ECANCELED);
	assert_int_equal(prog.calls, 1);
	assert_true(prog.last_done < DENSE_SIZE);

	/* a cancel at the very last report still counts */
	unlink(p);
	mk_file(p, "small", 5, 0644, geteuid(), getegid());
	prog = (struct progress){.cancel_at = 1};
	carve_err_clear(&err);
	pathf(dst, sizeof(dst), "%s/dst2", f->dir);
	assert_int_equal(storage_copy_tree(src, dst, &opts, &err), -ECANCELED);
	assert_int_equal(err.code, -ECANCELED);
	assert_contains(err.msg, "cancelled");
	assert_int_equal(prog.calls, 1);
	assert_int_equal(prog.last_done, 5);
}

/* --- the dir driver's volumes ------------------------------------------------------------------
 */

static void small_tree(const char *src, uid_t uid, gid_t gid)
{
	char p[PATH_MAX];

	assert_int_equal(mkdir(src, 0755), 0);
	mk_dir(pathf(p, sizeof(p), "%s/etc", src), 0755, uid, gid);
	mk_file(pathf(p, sizeof(p), "%s/etc/motd", src), "welcome\n", 8, 0644, uid, gid);
}

static void assert_volume_absent(struct fx *f, const char *volume)
{
	char p[PATH_MAX];

	assert_int_equal(storage_volume_exists(f->pool, volume), 0);
	assert_false(exists(pathf(p, sizeof(p), "%s/pool/%s", f->dir, volume)));
	assert_false(exists(pathf(p, sizeof(p), "%s/pool/%s.partial", f->dir, volume)));
}

static void test_volume_clone(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_clone_opts opts = {
		.uid_shift = UID_SHIFT, .gid_shift = GID_SHIFT, .id_range = 65536};
	struct storage_usage u = {.provisioned = 77};
	const char *id = "0123456789abcdef0123456789abcdef";
	char src[PATH_MAX], p[PATH_MAX];

	REQUIRE_ROOT();
	pathf(src, sizeof(src), "%s/src", f->dir);
	small_tree(src, 1000, 1000);

	if (storage_volume_clone_tree(f->pool, src, id, &opts, &err) < 0)
		fail_msg("clone: %s", err.msg);
	assert_int_equal(storage_volume_exists(f->pool, id), 1);
	assert_false(exists(pathf(p, sizeof(p), "%s/pool/%s.partial", f->dir, id)));
	assert_owner(pathf(p, sizeof(p), "%s/pool/%s", f->dir, id), UID_SHIFT, GID_SHIFT);
	pathf(p, sizeof(p), "%s/pool/%s/etc/motd", f->dir, id);
	assert_owner(p, UID_SHIFT + 1000, GID_SHIFT + 1000);
	assert_same_bytes(pathf(src, sizeof(src), "%s/src/etc/motd", f->dir), p);

	if (storage_volume_usage(f->pool, id, &u, &err) < 0)
		fail_msg("usage: %s", err.msg);
	assert_true(u.used > 0);
	assert_int_equal(u.provisioned, 0);
}

static void test_volume_clone_failure_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_clone_opts opts = {
		.uid_shift = UID_SHIFT, .gid_shift = GID_SHIFT, .id_range = 65536};
	char src[PATH_MAX], p[PATH_MAX];

	REQUIRE_ROOT();
	pathf(src, sizeof(src), "%s/src", f->dir);
	small_tree(src, 0, 0);
	/* files before and after the bad one, so the failure comes mid-copy */
	mk_dir(pathf(p, sizeof(p), "%s/zz", src), 0755, 0, 0);
	mk_file(pathf(p, sizeof(p), "%s/zz/bad", src), "x", 1, 0644, 0, 100000);

	assert_int_equal(storage_volume_clone_tree(f->pool, src, "web1", &opts, &err), -EOVERFLOW);
	assert_contains(err.msg, "volume 'web1'");
	assert_contains(err.msg, "/zz/bad");
	assert_volume_absent(f, "web1");

	/* the same without an error struct: the code is kept */
	assert_int_equal(storage_volume_clone_tree(f->pool, src, "web1", &opts, NULL), -EOVERFLOW);
	assert_volume_absent(f, "web1");
}

static void test_volume_clone_cancel_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct progress prog = {.cancel_at = 1};
	struct storage_clone_opts opts = {
		.id_range = UINT32_MAX, .progress = progress_cb, .userdata = &prog};
	char src[PATH_MAX];

	pathf(src, sizeof(src), "%s/src", f->dir);
	small_tree(src, geteuid(), getegid());
	assert_int_equal(storage_volume_clone_tree(f->pool, src, "web1", &opts, &err), -ECANCELED);
	assert_int_equal(err.code, -ECANCELED);
	assert_contains(err.msg, "volume 'web1'");
	assert_volume_absent(f, "web1");

	/* a missing source fails the same way */
	carve_err_clear(&err);
	opts.progress = NULL;
	pathf(src, sizeof(src), "%s/nope", f->dir);
	assert_int_equal(storage_volume_clone_tree(f->pool, src, "web1", &opts, &err), -ENOENT);
	assert_contains(err.msg, src);
	assert_volume_absent(f, "web1");

	/* an invalid volume name is refused before anything is touched */
	carve_err_clear(&err);
	assert_int_equal(storage_volume_clone_tree(f->pool, src, "../x", &opts, &err), -EINVAL);
	assert_contains(err.msg, "pool 'p1'");
}

static void test_volume_clone_replaces_stale_partial(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_clone_opts opts = {.id_range = UINT32_MAX};
	char src[PATH_MAX], p[PATH_MAX];

	pathf(src, sizeof(src), "%s/src", f->dir);
	small_tree(src, geteuid(), getegid());
	/* what a crash mid-copy leaves behind */
	assert_int_equal(mkdir(pathf(p, sizeof(p), "%s/pool/web1.partial", f->dir), 0700), 0);
	assert_int_equal(mkdir(pathf(p, sizeof(p), "%s/pool/web1.partial/etc", f->dir), 0700), 0);
	mk_file(pathf(p, sizeof(p), "%s/pool/web1.partial/etc/junk", f->dir), "j", 1, 0600,
		geteuid(), getegid());

	if (storage_volume_clone_tree(f->pool, src, "web1", &opts, &err) < 0)
		fail_msg("clone: %s", err.msg);
	assert_int_equal(storage_volume_exists(f->pool, "web1"), 1);
	assert_false(exists(pathf(p, sizeof(p), "%s/pool/web1.partial", f->dir)));
	assert_false(exists(pathf(p, sizeof(p), "%s/pool/web1/etc/junk", f->dir)));
	assert_true(exists(pathf(p, sizeof(p), "%s/pool/web1/etc/motd", f->dir)));
}

static void test_volume_clone_existing(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_clone_opts opts = {.id_range = UINT32_MAX};
	char src[PATH_MAX], p[PATH_MAX];

	pathf(src, sizeof(src), "%s/src", f->dir);
	small_tree(src, geteuid(), getegid());

	/* an existing empty volume is not silently replaced */
	assert_int_equal(storage_volume_create(f->pool, "web1", 0, &err), 0);
	assert_int_equal(storage_volume_clone_tree(f->pool, src, "web1", &opts, &err), -EEXIST);
	assert_contains(err.msg, "volume 'web1'");
	assert_false(exists(pathf(p, sizeof(p), "%s/pool/web1/etc", f->dir)));
	assert_false(exists(pathf(p, sizeof(p), "%s/pool/web1.partial", f->dir)));

	/* nor a full one */
	mk_file(pathf(p, sizeof(p), "%s/pool/web1/keep", f->dir), "k", 1, 0600, geteuid(),
		getegid());
	carve_err_clear(&err);
	assert_int_equal(storage_volume_clone_tree(f->pool, src, "web1", &opts, &err), -EEXIST);
	assert_true(exists(p));
}

static void test_volume_create_destroy(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_clone_opts opts = {.id_range = UINT32_MAX};
	char src[PATH_MAX], p[PATH_MAX];

	assert_int_equal(storage_volume_create(f->pool, "data1", 1u << 30, &err), 0);
	assert_mode(pathf(p, sizeof(p), "%s/pool/data1", f->dir), S_IFDIR, 0700);
	assert_int_equal(storage_volume_create(f->pool, "data1", 0, &err), -EEXIST);
	assert_contains(err.msg, "volume 'data1'");
	carve_err_clear(&err);
	assert_int_equal(storage_volume_create(f->pool, "A", 0, &err), -EINVAL);
	assert_contains(err.msg, "pool 'p1'");
	assert_contains(err.msg, "volume name 'A'");

	pathf(src, sizeof(src), "%s/src", f->dir);
	small_tree(src, geteuid(), getegid());
	assert_int_equal(storage_volume_clone_tree(f->pool, src, "web1", &opts, &err), 0);
	/* and a partial copy beside it, as a crash during another clone would leave */
	assert_int_equal(mkdir(pathf(p, sizeof(p), "%s/pool/web1.partial", f->dir), 0700), 0);
	mk_file(pathf(p, sizeof(p), "%s/pool/web1.partial/x", f->dir), "x", 1, 0600, geteuid(),
		getegid());

	carve_err_clear(&err);
	if (storage_volume_destroy(f->pool, "web1", &err) < 0)
		fail_msg("destroy: %s", err.msg);
	assert_volume_absent(f, "web1");
	assert_int_equal(storage_volume_destroy(f->pool, "web1", &err), 0);
	assert_int_equal(storage_volume_destroy(f->pool, "never", &err), 0);
	assert_int_equal(storage_volume_destroy(f->pool, "data1", &err), 0);
	assert_volume_absent(f, "data1");
	assert_int_equal(storage_volume_destroy(f->pool, "../pool", &err), -EINVAL);
	assert_true(exists(pathf(p, sizeof(p), "%s/pool", f->dir)));
}

static void test_volume_usage(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_usage u = {.provisioned = 5, .used = 0};
	uint8_t data[256 << 10];
	char p[PATH_MAX];

	assert_int_equal(storage_volume_create(f->pool, "web1", 0, &err), 0);
	fill_pattern(data, sizeof(data), 4);
	mk_file(pathf(p, sizeof(p), "%s/pool/web1/f", f->dir), data, sizeof(data), 0600, geteuid(),
		getegid());
	if (storage_volume_usage(f->pool, "web1", &u, &err) < 0)
		fail_msg("usage: %s", err.msg);
	assert_true(u.used >= sizeof(data));
	assert_int_equal(u.provisioned, 0);

	assert_int_equal(storage_volume_usage(f->pool, "nothere", &u, &err), -ENOENT);
	assert_contains(err.msg, "volume 'nothere'");
}

static void test_unsupported_ops(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;

	assert_int_equal(storage_volume_create(f->pool, "web1", 0, &err), 0);
	assert_int_equal(storage_volume_snapshot(f->pool, "web1", "snap1", &err), -EOPNOTSUPP);
	assert_contains(err.msg, "pool 'p1'");
	assert_contains(err.msg, "driver 'dir'");
	assert_contains(err.msg, "snapshot");
	carve_err_clear(&err);
	assert_int_equal(storage_volume_resize(f->pool, "web1", 1u << 30, &err), -EOPNOTSUPP);
	assert_contains(err.msg, "pool 'p1'");
	assert_contains(err.msg, "driver 'dir'");
	assert_contains(err.msg, "resize");
	/* the name is checked first */
	carve_err_clear(&err);
	assert_int_equal(storage_volume_resize(f->pool, "", 1, &err), -EINVAL);
	assert_contains(err.msg, "volume name");
}

/* --- removal never crosses a mount point ---------------------------------------------------- */

static void test_rm_rf_leaves_tmpfs(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], m[PATH_MAX];

	REQUIRE_ROOT();
	assert_int_equal(mkdir_p(pathf(m, sizeof(m), "%s/tree/a/mnt", f->dir), 0755), 0);
	mk_file(pathf(p, sizeof(p), "%s/tree/a/sibling", f->dir), "s", 1, 0600, 0, 0);
	mk_file(pathf(p, sizeof(p), "%s/tree/top", f->dir), "t", 1, 0600, 0, 0);
	fx_mount(f, "tmpfs", m, "tmpfs", 0);
	mk_file(pathf(p, sizeof(p), "%s/inside", m), "i", 1, 0600, 0, 0);

	assert_int_equal(rm_rf(pathf(p, sizeof(p), "%s/tree", f->dir)), -EBUSY);
	assert_true(exists(pathf(p, sizeof(p), "%s/inside", m)));
	assert_true(exists(m));
	/* everything beside the mount is gone */
	assert_false(exists(pathf(p, sizeof(p), "%s/tree/a/sibling", f->dir)));
	assert_false(exists(pathf(p, sizeof(p), "%s/tree/top", f->dir)));
}

static void test_rm_rf_leaves_bind_mount(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], m[PATH_MAX], host[PATH_MAX];

	REQUIRE_ROOT();
	/* a bind mount from the same filesystem: st_dev does not change at the mount point */
	assert_int_equal(mkdir(pathf(host, sizeof(host), "%s/hostdata", f->dir), 0755), 0);
	mk_file(pathf(p, sizeof(p), "%s/precious", host), "p", 1, 0600, 0, 0);
	assert_int_equal(mkdir_p(pathf(m, sizeof(m), "%s/tree/mnt", f->dir), 0755), 0);
	fx_mount(f, host, m, NULL, MS_BIND);

	assert_int_equal(rm_rf(pathf(p, sizeof(p), "%s/tree", f->dir)), -EBUSY);
	assert_true(exists(pathf(p, sizeof(p), "%s/precious", host)));
}

static void test_volume_destroy_leaves_mount(void **state)
{
	struct fx *f = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	char p[PATH_MAX], m[PATH_MAX];

	REQUIRE_ROOT();
	assert_int_equal(storage_volume_create(f->pool, "web1", 0, &err), 0);
	assert_int_equal(mkdir(pathf(m, sizeof(m), "%s/pool/web1/proc", f->dir), 0755), 0);
	mk_file(pathf(p, sizeof(p), "%s/pool/web1/file", f->dir), "f", 1, 0600, 0, 0);
	fx_mount(f, "tmpfs", m, "tmpfs", 0);
	mk_file(pathf(p, sizeof(p), "%s/inside", m), "i", 1, 0600, 0, 0);

	assert_int_equal(storage_volume_destroy(f->pool, "web1", &err), -EBUSY);
	assert_contains(err.msg, "volume 'web1'");
	assert_true(exists(pathf(p, sizeof(p), "%s/inside", m)));
	assert_int_equal(storage_volume_exists(f->pool, "web1"), 1);

	/* once unmounted, destroy finishes the job */
	assert_int_equal(umount2(m, 0), 0);
	f->n_mounts--;
	carve_err_clear(&err);
	if (storage_volume_destroy(f->pool, "web1", &err) < 0)
		fail_msg("destroy: %s", err.msg);
	assert_volume_absent(f, "web1");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_fx, teardown_fx)
	const struct CMUnitTest tests[] = {
		T(test_pool_open_errors),
		T(test_pool_open_creates_dir),
		T(test_volume_path),
		T(test_copy_tree_full),
		T(test_copy_tree_unprivileged),
		T(test_copy_tree_overflow),
		T(test_copy_tree_shift_wraps),
		T(test_copy_tree_cancel),
		T(test_volume_clone),
		T(test_volume_clone_failure_leaves_nothing),
		T(test_volume_clone_cancel_leaves_nothing),
		T(test_volume_clone_replaces_stale_partial),
		T(test_volume_clone_existing),
		T(test_volume_create_destroy),
		T(test_volume_usage),
		T(test_unsupported_ops),
		T(test_rm_rf_leaves_tmpfs),
		T(test_rm_rf_leaves_bind_mount),
		T(test_volume_destroy_leaves_mount),
	};
#undef T
	return cmocka_run_group_tests(tests, setup_group, NULL);
}

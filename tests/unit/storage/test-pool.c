/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reflink driver on a real image pool: a sparse XFS image (mkfs.xfs -m reflink=1) attached to
 * a loop device and mounted in a temporary directory; volumes are sparse ext4 files attached and
 * mounted through loop devices. Needs root, /dev/loop-control, mkfs.xfs and mkfs.ext4: skipped
 * (77) otherwise. The process enters a private mount namespace first, and every loop device and
 * mount is removed by the group teardown even when a test fails.
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
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fd-util.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "storage/loop.h"
#include "storage/storage.h"

#define POOL "testpool"
#define IMAGE_SIZE (2ull << 30)
#define MAX_ATTACHED 16

static char tmpdir[PATH_MAX], pool_path[PATH_MAX], image_path[PATH_MAX], tree_path[PATH_MAX];
static struct storage_pool *pool;

struct attached {
	char volume[64];
	char mountpoint[PATH_MAX];
};
static struct attached attached[MAX_ATTACHED];

#define assert_contains(haystack, needle)                                             \
	do {                                                                          \
		if (!strstr((haystack), (needle)))                                    \
			fail_msg("'%s' does not contain '%s'", (haystack), (needle)); \
	} while (0)

#define assert_ok(expr, e)                                                       \
	do {                                                                     \
		int _r = (expr);                                                 \
		if (_r < 0)                                                      \
			fail_msg("%s: %s (%s)", #expr, (e)->msg, strerror(-_r)); \
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

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		fail_msg("create '%s': %s", path, strerror(errno));
	assert_int_equal(loop_write(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

static void assert_file(const char *path, const void *data, size_t len)
{
	char *buf = NULL;
	size_t n = 0;
	int r = read_full_file(path, 64u << 20, &buf, &n);

	if (r < 0)
		fail_msg("read '%s': %s", path, strerror(-r));
	assert_int_equal(n, len);
	assert_memory_equal(buf, data, len);
	free(buf);
}

static void attach(const char *volume, char *mp, size_t len, unsigned flags)
{
	struct carve_error e = CARVE_ERROR_INIT;
	char dev[LOOP_DEVNODE_MAX];
	size_t i;

	pathf(mp, len, "%s/mnt-%s", tmpdir, volume);
	for (i = 0; i < MAX_ATTACHED && attached[i].volume[0]; i++)
		;
	assert_true(i < MAX_ATTACHED);
	assert_ok(storage_volume_attach(pool, volume, mp, flags, dev, sizeof(dev), &e), &e);
	assert_true(startswith(dev, "/dev/loop"));
	strscpy(attached[i].volume, volume, sizeof(attached[i].volume));
	strscpy(attached[i].mountpoint, mp, sizeof(attached[i].mountpoint));
}

static void detach(const char *volume)
{
	struct carve_error e = CARVE_ERROR_INIT;

	for (size_t i = 0; i < MAX_ATTACHED; i++) {
		if (!streq(attached[i].volume, volume))
			continue;
		assert_ok(storage_volume_detach(pool, volume, attached[i].mountpoint, &e), &e);
		attached[i].volume[0] = '\0';
		return;
	}
	fail_msg("'%s' is not attached", volume);
}

static uint64_t fs_size(const char *mp)
{
	struct statvfs sv;

	assert_int_equal(statvfs(mp, &sv), 0);
	return (uint64_t)sv.f_blocks * sv.f_frsize;
}

/* Like `losetup -a | grep <tmpdir>`: loop devices whose backing file lies under our directory. */
static int loops_under_tmpdir(void)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char attr[PATH_MAX], *buf = NULL;
		size_t len;

		if (!startswith(de->d_name, "loop"))
			continue;
		pathf(attr, sizeof(attr), "/sys/block/%s/loop/backing_file", de->d_name);
		if (read_full_file(attr, PATH_MAX + 16, &buf, &len) < 0)
			continue;
		if (strstr(buf, tmpdir))
			n++;
		free(buf);
	}
	closedir(d);
	return n;
}

static int mounts_under_tmpdir(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, tmpdir))
			n++;
	fclose(f);
	return n;
}

/* carve_err keeps the first error's code: every expected failure starts from a clear one */
static struct carve_error *fresh(struct carve_error *e)
{
	carve_err_clear(e);
	return e;
}

static bool have_cap_sys_resource(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	unsigned long long eff = 0;
	char line[256];

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return eff & (1ull << 24);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- fixture -----------------------------------------------------------------------------------
 */

static void cleanup_all(void)
{
	for (size_t i = 0; i < MAX_ATTACHED; i++) {
		if (!attached[i].volume[0])
			continue;
		if (pool)
			(void)storage_volume_detach(pool, attached[i].volume,
						    attached[i].mountpoint, NULL);
		(void)umount2(attached[i].mountpoint, MNT_DETACH);
		attached[i].volume[0] = '\0';
	}
	pool = storage_pool_free(pool);
	(void)storage_pool_image_teardown(pool_path, image_path, NULL);
	/* anything else still backed by a file of ours */
	(void)umount2(pool_path, MNT_DETACH);
	for (int tries = 0; tries < 100 && loops_under_tmpdir() > 0; tries++) {
		DIR *d = opendir("/sys/block");
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char attr[PATH_MAX], node[PATH_MAX], *buf = NULL;
			size_t len;

			if (!startswith(de->d_name, "loop"))
				continue;
			snprintf(attr, sizeof(attr), "/sys/block/%s/loop/backing_file", de->d_name);
			if (read_full_file(attr, PATH_MAX + 16, &buf, &len) < 0)
				continue;
			if (strstr(buf, tmpdir)) {
				snprintf(node, sizeof(node), "/dev/%s", de->d_name);
				(void)loop_detach(node);
			}
			free(buf);
		}
		if (d)
			closedir(d);
		usleep(10000);
	}
}

static int group_setup(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	uint8_t data[3000];
	char p[PATH_MAX];
	int r;

	strscpy(tmpdir, "/var/tmp/carve-test-pool.XXXXXX", sizeof(tmpdir));
	if (!mkdtemp(tmpdir))
		return -1;
	pathf(pool_path, sizeof(pool_path), "%s/pool", tmpdir);
	pathf(image_path, sizeof(image_path), "%s/pool.img", tmpdir);
	pathf(tree_path, sizeof(tree_path), "%s/tree", tmpdir);
	r = storage_pool_open_image(POOL, pool_path, image_path, IMAGE_SIZE, &pool, &e);
	if (r < 0) {
		fprintf(stderr, "open image pool: %s\n", e.msg);
		cleanup_all();
		return -1;
	}
	assert_int_equal(storage_pool_set_overcommit(pool, 50.0), 0);

	/* a small template tree */
	assert_int_equal(mkdir(tree_path, 0755), 0);
	assert_int_equal(mkdir(pathf(p, sizeof(p), "%s/etc", tree_path), 0755), 0);
	write_file(pathf(p, sizeof(p), "%s/etc/hostname", tree_path), "template\n", 9);
	fill_pattern(data, sizeof(data), 7);
	write_file(pathf(p, sizeof(p), "%s/etc/blob", tree_path), data, sizeof(data));
	assert_int_equal(chown(p, 1234, 4321), 0);
	assert_int_equal(symlink("hostname", pathf(p, sizeof(p), "%s/etc/link", tree_path)), 0);
	return 0;
}

static int group_teardown(void **state)
{
	cleanup_all();
	(void)rm_rf(tmpdir);
	return 0;
}

/* --- tests -------------------------------------------------------------------------------------
 */

static void test_plain_dir_is_refused(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	struct storage_pool *p = NULL;
	char path[PATH_MAX];

	/* the temporary directory itself is on the host's root filesystem, not in the image */
	pathf(path, sizeof(path), "%s/plain", tmpdir);
	if (storage_pool_open("reflink", "plain", path, &p, &e) == 0) {
		storage_pool_free(p);
		skip(); /* the host's own /var/tmp has reflinks: nothing to refuse */
	}
	assert_int_equal(e.code, -EOPNOTSUPP);
	assert_contains(e.msg, "pool 'plain'");
	assert_contains(e.msg, "reflink");
}

static void test_reopen_finds_mount(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	struct storage_pool *p = NULL;
	char **nodes = NULL;

	assert_ok(storage_pool_open_image(POOL, pool_path, image_path, IMAGE_SIZE, &p, &e), &e);
	storage_pool_free(p);
	assert_int_equal(loop_find_by_backing(image_path, &nodes), 0);
	assert_non_null(nodes[0]);
	assert_null(nodes[1]); /* no second loop device for the same image */
	strv_free(nodes);
}

static void test_create_is_thin(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	struct storage_usage u;
	char path[PATH_MAX];
	struct stat st;

	assert_ok(storage_volume_create(pool, "thin", 10ull << 30, &e), &e);
	assert_int_equal(storage_volume_path(pool, "thin", path, sizeof(path)), 0);
	assert_contains(path, "/volumes/thin.raw");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 10ll << 30);
	assert_true((uint64_t)st.st_blocks * 512 < (16u << 20));
	assert_ok(storage_volume_usage(pool, "thin", &u, &e), &e);
	assert_int_equal(u.provisioned, 10ull << 30);
	assert_int_equal(u.used, (uint64_t)st.st_blocks * 512);
	assert_int_equal(storage_volume_exists(pool, "thin"), 1);
	assert_int_equal(storage_volume_create(pool, "thin", 1ull << 30, fresh(&e)), -EEXIST);
	assert_ok(storage_volume_destroy(pool, "thin", &e), &e);
	assert_int_equal(storage_volume_exists(pool, "thin"), 0);
}

static void test_template_clone(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	char mp_t[PATH_MAX], mp_c[PATH_MAX], p[PATH_MAX];
	uint8_t data[3000];
	struct stat st;
	uint64_t t0, dt;

	fill_pattern(data, sizeof(data), 7);
	assert_ok(storage_volume_create_from_dir(pool, "tmpl", 64u << 20, tree_path, &e), &e);
	t0 = now_us();
	assert_ok(storage_volume_clone(pool, "tmpl", "web1", &e), &e);
	dt = now_us() - t0;
	if (dt >= 50000)
		fail_msg("clone took %llu us", (unsigned long long)dt);

	attach("tmpl", mp_t, sizeof(mp_t), STORAGE_ATTACH_READ_ONLY);
	attach("web1", mp_c, sizeof(mp_c), 0);
	assert_file(pathf(p, sizeof(p), "%s/etc/hostname", mp_c), "template\n", 9);
	assert_file(pathf(p, sizeof(p), "%s/etc/blob", mp_c), data, sizeof(data));
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 4321);
	assert_int_equal(lstat(pathf(p, sizeof(p), "%s/etc/link", mp_c), &st), 0);
	assert_true(S_ISLNK(st.st_mode));

	write_file(pathf(p, sizeof(p), "%s/etc/hostname", mp_c), "web1\n", 5);
	detach("web1");
	detach("tmpl");
	attach("tmpl", mp_t, sizeof(mp_t), STORAGE_ATTACH_READ_ONLY);
	assert_file(pathf(p, sizeof(p), "%s/etc/hostname", mp_t), "template\n", 9);
	detach("tmpl");
	attach("web1", mp_c, sizeof(mp_c), 0);
	assert_file(pathf(p, sizeof(p), "%s/etc/hostname", mp_c), "web1\n", 5);
	/* attached volumes cannot be attached twice or destroyed */
	assert_int_equal(storage_volume_attach(pool, "web1", mp_t, 0, NULL, 0, fresh(&e)), -EBUSY);
	assert_int_equal(storage_volume_destroy(pool, "web1", fresh(&e)), -EBUSY);
	detach("web1");
	assert_int_equal(storage_volume_clone(pool, "tmpl", "web1", fresh(&e)), -EEXIST);
	assert_int_equal(storage_volume_clone(pool, "nope", "web2", fresh(&e)), -ENOENT);
	assert_ok(storage_volume_destroy(pool, "web1", &e), &e);
	assert_ok(storage_volume_destroy(pool, "tmpl", &e), &e);
}

static void test_template_too_small(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	char big[PATH_MAX], p[PATH_MAX];
	uint8_t *data = malloc(12u << 20);

	assert_non_null(data);
	pathf(big, sizeof(big), "%s/bigtree", tmpdir);
	assert_int_equal(mkdir(big, 0755), 0);
	fill_pattern(data, 12u << 20, 3);
	write_file(pathf(p, sizeof(p), "%s/big", big), data, 12u << 20);
	free(data);
	assert_int_equal(storage_volume_create_from_dir(pool, "small", 8u << 20, big, &e), -ENOSPC);
	assert_contains(e.msg, "volume 'small': size 8M is too small for");
	assert_int_equal(storage_volume_exists(pool, "small"), 0);
	assert_int_equal(rm_rf(big), 0);
}

static void test_snapshot_rollback(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	char mp[PATH_MAX], p[PATH_MAX], snap[PATH_MAX];

	assert_ok(storage_volume_create(pool, "snapv", 64u << 20, &e), &e);
	attach("snapv", mp, sizeof(mp), 0);
	write_file(pathf(p, sizeof(p), "%s/state", mp), "v1", 2);
	detach("snapv");
	assert_ok(storage_volume_snapshot(pool, "snapv", "s1", &e), &e);
	assert_int_equal(storage_volume_snapshot(pool, "snapv", "s1", fresh(&e)), -EEXIST);
	assert_int_equal(storage_volume_snapshot_path(pool, "snapv", "s1", snap, sizeof(snap)), 0);
	assert_contains(snap, "/snapshots/snapv/s1.raw");
	assert_int_equal(access(snap, F_OK), 0);

	attach("snapv", mp, sizeof(mp), 0);
	write_file(pathf(p, sizeof(p), "%s/state", mp), "v2-changed", 10);
	assert_int_equal(storage_volume_rollback(pool, "snapv", "s1", fresh(&e)), -EBUSY);
	detach("snapv");
	assert_ok(storage_volume_rollback(pool, "snapv", "s1", &e), &e);
	attach("snapv", mp, sizeof(mp), 0);
	assert_file(pathf(p, sizeof(p), "%s/state", mp), "v1", 2);
	detach("snapv");

	assert_int_equal(storage_volume_rollback(pool, "snapv", "nope", fresh(&e)), -ENOENT);
	assert_ok(storage_volume_snapshot_delete(pool, "snapv", "s1", &e), &e);
	assert_int_equal(access(snap, F_OK), -1);
	assert_int_equal(storage_volume_snapshot_delete(pool, "snapv", "s1", fresh(&e)), -ENOENT);
	assert_int_equal(storage_volume_snapshot(pool, "snapv", "../x", fresh(&e)), -EINVAL);
	assert_ok(storage_volume_destroy(pool, "snapv", &e), &e);
}

static void test_resize(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	char mp[PATH_MAX];
	struct storage_usage u;

	assert_ok(storage_volume_create(pool, "grow", 64u << 20, &e), &e);
	/* offline */
	assert_ok(storage_volume_resize(pool, "grow", 128u << 20, &e), &e);
	attach("grow", mp, sizeof(mp), 0);
	assert_true(fs_size(mp) > (100u << 20));
	assert_true(fs_size(mp) <= (128u << 20));
	/* online, while mounted: ext4's resize ioctl needs CAP_SYS_RESOURCE */
	if (have_cap_sys_resource()) {
		assert_ok(storage_volume_resize(pool, "grow", 256u << 20, &e), &e);
		assert_true(fs_size(mp) > (200u << 20));
	} else {
		assert_int_equal(storage_volume_resize(pool, "grow", 256u << 20, fresh(&e)),
				 -EPERM);
		assert_contains(e.msg, "CAP_SYS_RESOURCE");
		/* nothing changed: the file went back to its size, the filesystem still works */
		assert_ok(storage_volume_usage(pool, "grow", &u, &e), &e);
		assert_int_equal(u.provisioned, 128u << 20);
		assert_true(fs_size(mp) <= (128u << 20));
		detach("grow");
		assert_ok(storage_volume_resize(pool, "grow", 256u << 20, &e), &e);
		attach("grow", mp, sizeof(mp), 0);
		assert_true(fs_size(mp) > (200u << 20));
	}
	assert_ok(storage_volume_usage(pool, "grow", &u, &e), &e);
	assert_int_equal(u.provisioned, 256u << 20);
	/* shrinking is refused, naming both sizes */
	assert_int_equal(storage_volume_resize(pool, "grow", 32u << 20, fresh(&e)), -EINVAL);
	assert_contains(e.msg, "volume 'grow': resize to 32M: smaller than current size 256M");
	detach("grow");
	/* a VM's disk: the file grows, the ext4 in it is left as the guest wrote it (the host ran
	 * no e2fsck or resize2fs on it), also while something holds it open */
	{
		char vp[PATH_MAX];
		cleanup_close int fd = -EBADF;
		struct stat st;

		assert_true(storage_volume_path(pool, "grow", vp, sizeof(vp)) >= 0);
		fd = open(vp, O_RDWR | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_ok(storage_volume_resize_raw(pool, "grow", 512u << 20, &e), &e);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, 512u << 20);
		attach("grow", mp, sizeof(mp), 0);
		assert_true(fs_size(mp) > (200u << 20));
		assert_true(fs_size(mp) <= (256u << 20));
		detach("grow");
		assert_ok(storage_volume_usage(pool, "grow", &u, &e), &e);
		assert_int_equal(u.provisioned, 512u << 20);
		assert_int_equal(storage_volume_resize_raw(pool, "grow", 256u << 20, fresh(&e)),
				 -EINVAL);
	}
	assert_ok(storage_volume_destroy(pool, "grow", &e), &e);
}

static void test_overcommit(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	struct storage_pool_usage u;
	char want[256], a[32], b[32];
	uint64_t limit;

	assert_ok(storage_volume_create(pool, "oc1", 512u << 20, &e), &e);
	assert_int_equal(storage_pool_set_overcommit(pool, 1.0), 0);
	assert_ok(storage_pool_usage(pool, &u, &e), &e);
	assert_true(u.physical > (1ull << 30) && u.physical <= IMAGE_SIZE);
	assert_int_equal(u.provisioned, 512u << 20);
	assert_int_equal(u.volumes, 1);
	assert_true(u.allocated > 0 && u.allocated < u.physical);
	limit = u.physical;
	pathf(want, sizeof(want),
	      "pool '" POOL "': cannot provision 20G: %s of %s (ratio 1.0) left",
	      format_size(limit - (512u << 20), a, sizeof(a)), format_size(limit, b, sizeof(b)));
	carve_err_clear(&e);
	assert_int_equal(storage_volume_create(pool, "oc2", 20ull << 30, fresh(&e)), -ENOSPC);
	assert_string_equal(e.msg, want);
	assert_int_equal(storage_volume_exists(pool, "oc2"), 0);
	/* growing past the limit and cloning past it are refused too */
	assert_int_equal(storage_volume_resize(pool, "oc1", 4ull << 30, fresh(&e)), -ENOSPC);
	assert_ok(storage_volume_create(pool, "oc3", 1ull << 30, &e), &e);
	assert_int_equal(storage_volume_clone(pool, "oc3", "oc4", fresh(&e)), -ENOSPC);
	assert_int_equal(storage_pool_set_overcommit(pool, 0), -EINVAL);
	assert_int_equal(storage_pool_set_overcommit(pool, 50.0), 0);
	assert_ok(storage_volume_clone(pool, "oc3", "oc4", &e), &e);
	assert_ok(storage_volume_destroy(pool, "oc1", &e), &e);
	assert_ok(storage_volume_destroy(pool, "oc3", &e), &e);
	assert_ok(storage_volume_destroy(pool, "oc4", &e), &e);
}

static void test_hard_limit(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	char mp_a[PATH_MAX], mp_b[PATH_MAX], p[PATH_MAX];
	static uint8_t buf[1u << 20];
	struct statvfs sv;
	uint64_t written = 0;
	int fd, saved = 0;

	assert_ok(storage_volume_create(pool, "full", 64u << 20, &e), &e);
	assert_ok(storage_volume_create(pool, "neighbour", 64u << 20, &e), &e);
	attach("full", mp_a, sizeof(mp_a), 0);
	attach("neighbour", mp_b, sizeof(mp_b), 0);
	fill_pattern(buf, sizeof(buf), 11);
	fd = open(pathf(p, sizeof(p), "%s/fill", mp_a), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	for (;;) {
		ssize_t n = write(fd, buf, sizeof(buf));
		if (n < 0) {
			saved = errno;
			break;
		}
		written += (uint64_t)n;
		assert_true(written <= (64u << 20));
	}
	close(fd);
	assert_int_equal(saved, ENOSPC);
	assert_true(written > (32u << 20));
	/* the pool itself still has room, and the neighbour writes normally */
	assert_int_equal(statvfs(pool_path, &sv), 0);
	assert_true((uint64_t)sv.f_bavail * sv.f_frsize > (512u << 20));
	write_file(pathf(p, sizeof(p), "%s/ok", mp_b), buf, sizeof(buf));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	assert_file(p, buf, sizeof(buf));
	detach("full");
	detach("neighbour");
	assert_ok(storage_volume_destroy(pool, "full", &e), &e);
	assert_ok(storage_volume_destroy(pool, "neighbour", &e), &e);
}

static void test_frozen_snapshot(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	char mp[PATH_MAX], p[PATH_MAX];

	assert_ok(storage_volume_create(pool, "live", 64u << 20, &e), &e);
	attach("live", mp, sizeof(mp), 0);
	/* not synced: only the freeze flushes it into the raw file */
	write_file(pathf(p, sizeof(p), "%s/data", mp), "at-snapshot", 11);
	assert_ok(storage_volume_snapshot_frozen(pool, "live", "f1", mp, &e), &e);
	/* thawed: thawing again is refused because nothing is frozen, and writes go on */
	assert_int_equal(storage_fs_thaw(mp, NULL), -EINVAL);
	write_file(p, "after", 5);
	/* the error path thaws too */
	assert_int_equal(storage_volume_snapshot_frozen(pool, "live", "f1", mp, fresh(&e)),
			 -EEXIST);
	assert_int_equal(storage_fs_thaw(mp, NULL), -EINVAL);
	detach("live");
	assert_ok(storage_volume_rollback(pool, "live", "f1", &e), &e);
	attach("live", mp, sizeof(mp), 0);
	assert_file(p, "at-snapshot", 11);
	detach("live");
	assert_ok(storage_volume_destroy(pool, "live", &e), &e);
}

static void test_trim(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	struct storage_usage u0, u1;
	struct storage_pool_usage pu;
	char mp[PATH_MAX], p[PATH_MAX], other[PATH_MAX];
	size_t len = 24u << 20;
	uint8_t *buf = malloc(len);
	uint64_t trimmed = 0;

	assert_non_null(buf);
	fill_pattern(buf, len, 7);
	assert_ok(storage_volume_create(pool, "trimmed", 128u << 20, &e), &e);
	/* not mounted (yet): refused, naming the volume */
	pathf(mp, sizeof(mp), "%s/mnt-trimmed", tmpdir);
	assert_int_equal(mkdir(mp, 0700) < 0 && errno != EEXIST ? -errno : 0, 0);
	assert_int_equal(storage_volume_trim(pool, "trimmed", mp, NULL, fresh(&e)), -ENOTCONN);
	assert_non_null(strstr(e.msg, "volume 'trimmed'"));
	assert_int_equal(storage_fs_trim("/nonexistent-carve-trim", NULL, fresh(&e)), -ENOENT);
	attach("trimmed", mp, sizeof(mp), 0);
	write_file(pathf(p, sizeof(p), "%s/big", mp), buf, len);
	sync();
	assert_ok(storage_volume_snapshot_frozen(pool, "trimmed", "kept", mp, &e), &e);
	assert_ok(storage_volume_usage(pool, "trimmed", &u0, &e), &e);
	assert_int_equal(unlink(p), 0);
	sync();
	assert_ok(storage_volume_trim(pool, "trimmed", mp, &trimmed, &e), &e);
	assert_ok(storage_pool_trim(pool, NULL, &e), &e);
	assert_ok(storage_volume_usage(pool, "trimmed", &u1, &e), &e);
	/* the deleted file's blocks are holes in the volume file now */
	assert_true(trimmed >= len);
	assert_true(u0.used - u1.used >= len - (1u << 20));
	assert_ok(storage_pool_usage(pool, &pu, &e), &e);
	/* another volume's mount point is not this volume's */
	assert_ok(storage_volume_create(pool, "bystander", 64u << 20, &e), &e);
	attach("bystander", other, sizeof(other), 0);
	assert_int_equal(storage_volume_trim(pool, "trimmed", other, NULL, fresh(&e)), -ENOTCONN);
	detach("bystander");
	detach("trimmed");
	/* the snapshot kept the file: its extents were only un-shared */
	assert_ok(storage_volume_rollback(pool, "trimmed", "kept", &e), &e);
	attach("trimmed", mp, sizeof(mp), 0);
	assert_file(p, buf, len);
	detach("trimmed");
	assert_ok(storage_volume_destroy(pool, "bystander", &e), &e);
	assert_ok(storage_volume_destroy(pool, "trimmed", &e), &e);
	free(buf);
}

static void test_teardown_and_reopen(void **state)
{
	struct carve_error e = CARVE_ERROR_INIT;
	char mp[PATH_MAX], p[PATH_MAX];

	assert_ok(storage_volume_create(pool, "keep", 64u << 20, &e), &e);
	attach("keep", mp, sizeof(mp), 0);
	write_file(pathf(p, sizeof(p), "%s/kept", mp), "yes", 3);
	/* the pool is busy while a volume is attached */
	assert_int_equal(storage_pool_image_teardown(pool_path, image_path, fresh(&e)), -EBUSY);
	detach("keep");
	pool = storage_pool_free(pool);
	assert_ok(storage_pool_image_teardown(pool_path, image_path, &e), &e);
	assert_int_equal(loops_under_tmpdir(), 0);
	assert_int_equal(mounts_under_tmpdir(), 0);
	assert_ok(storage_pool_image_teardown(pool_path, image_path, &e), &e);

	/* a restart: the image is attached and mounted again, the volume is still there */
	assert_ok(storage_pool_open_image(POOL, pool_path, image_path, IMAGE_SIZE, &pool, &e), &e);
	assert_int_equal(storage_pool_set_overcommit(pool, 50.0), 0);
	attach("keep", mp, sizeof(mp), 0);
	assert_file(p, "yes", 3);
	detach("keep");
	assert_ok(storage_volume_destroy(pool, "keep", &e), &e);
	pool = storage_pool_free(pool);
	assert_ok(storage_pool_image_teardown(pool_path, image_path, &e), &e);
	assert_int_equal(loops_under_tmpdir(), 0);
	assert_int_equal(mounts_under_tmpdir(), 0);
}

static bool have_tool(const char *name)
{
	static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dirs[i], name);
		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_dir_is_refused),
		cmocka_unit_test(test_reopen_finds_mount),
		cmocka_unit_test(test_create_is_thin),
		cmocka_unit_test(test_template_clone),
		cmocka_unit_test(test_template_too_small),
		cmocka_unit_test(test_snapshot_rollback),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_overcommit),
		cmocka_unit_test(test_hard_limit),
		cmocka_unit_test(test_frozen_snapshot),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_teardown_and_reopen),
	};

	if (geteuid() != 0 || access("/dev/loop-control", W_OK) < 0 || !have_tool("mkfs.xfs") ||
	    !have_tool("mkfs.ext4") || !have_tool("resize2fs")) {
		fprintf(stderr, "skipped: needs root, /dev/loop-control, mkfs.xfs and e2fsprogs\n");
		return 77;
	}
	/* a crash must not leak a mount into the host's namespace */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "skipped: private mount namespace: %s\n", strerror(errno));
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

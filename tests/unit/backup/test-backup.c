/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backup: round trips of sparse images, incremental and dedup, encryption, verify against
 * corruption, prune policy, GC with a running backup, kill -9 during backups. The FICLONE
 * (reflink) and single-file parts need root (XFS and ext4 loop mounts) and skip otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "backup/backup-internal.h"
#include "backup/backup.h"
#include "base/fd-util.h"
#include "base/string-util.h"

#define CS (64u << 10)

static char base[256];

static void xrun(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t xrand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t v = xrand();
		memcpy(p + i, &v, 8);
	}
}

/* a sparse image: random chunks, text-ish chunks, zero-written chunks, holes; size not a
 * multiple of the chunk size */
static void make_image(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t *buf = malloc(CS);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	for (uint64_t off = 0; off < size; off += CS) {
		size_t len = size - off < CS ? size - off : CS;
		unsigned kind = (unsigned)((off / CS) % 5);

		if (kind == 3)
			continue; /* hole */
		if (kind == 0)
			fill_random(buf, len);
		else if (kind == 1)
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)("carve backup test line\n"[i % 23]);
		else if (kind == 2)
			memset(buf, 0, len); /* written zeros */
		else {
			memset(buf, 0, len);
			fill_random(buf + len / 2, len / 4); /* partly zero */
		}
		assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	}
	free(buf);
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static void file_sha(const char *path, uint8_t out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(c, buf, (size_t)n);
	EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
	close(fd);
}

static void assert_same_file(const char *a, const char *b)
{
	uint8_t x[32], y[32];
	struct stat sa, sb;

	assert_int_equal(stat(a, &sa), 0);
	assert_int_equal(stat(b, &sb), 0);
	assert_int_equal(sa.st_size, sb.st_size);
	file_sha(a, x);
	file_sha(b, y);
	assert_memory_equal(x, y, 32);
}

static void path_in(char *out, const char *name)
{
	snprintf(out, 512, "%s/%s", base, name);
}

static struct backup_store *open_store(const char *name)
{
	struct backup_store_opts o = {.chunk_size = CS};
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_store *s = NULL;
	char p[512];

	path_in(p, name);
	assert_int_equal(backup_store_open(p, true, &o, &s, &err), 0);
	return s;
}

static void backup_one(struct backup_store *s, const char *img, const char *prev_img,
		       const char *prev_id, const uint8_t *key, char *id, struct backup_stats *st)
{
	struct backup_volume_source v = {
		.name = "root", .snapshot_path = img, .prev_snapshot_path = prev_img};
	struct backup_create_opts o = {.server_id = "web1",
				       .config_json = "{\"memory\":\"1G\"}",
				       .key = key,
				       .prev_backup_id = prev_id};
	struct carve_error err = CARVE_ERROR_INIT;
	int r = backup_create(s, &o, &v, 1, id, st, &err);

	if (r < 0)
		fprintf(stderr, "backup: %s\n", err.msg);
	assert_int_equal(r, 0);
}

static void test_roundtrip(void **state)
{
	char img[512], out[512], id[BACKUP_ID_MAX], *cfg = NULL;
	struct backup_store *s = open_store("store-rt");
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_stats st;
	struct backup_info *infos = NULL;
	size_t n = 0;
	struct stat sst;

	path_in(img, "rt.img");
	path_in(out, "rt.out");
	make_image(img, 10 * CS * 5 + 12345);
	backup_one(s, img, NULL, NULL, NULL, id, &st);
	/* 51 chunks: 10 random, 10 text, 10 written zero, 10 holes, 10 partly zero, 1 tail */
	assert_int_equal(st.chunks_zero, 20);
	assert_int_equal(st.chunks_total, 31);
	/* the 10 text chunks dedup; two workers may both write the first copy at once */
	assert_true(st.chunks_new >= 11 + 1 + 10 && st.chunks_new <= 11 + 2 + 10);
	assert_int_equal(st.chunks_new + st.chunks_dedup, 31);
	assert_true(st.bytes_written < 15 * CS); /* text and zeros compressed */
	assert_int_equal(backup_restore_volume(s, id, "root", out, NULL, NULL, &err), 0);
	assert_same_file(img, out);
	assert_int_equal(stat(out, &sst), 0);
	assert_true((uint64_t)sst.st_blocks * 512 < (uint64_t)sst.st_size); /* sparse */
	assert_int_equal(backup_config_get(s, id, &cfg, &err), 0);
	assert_string_equal(cfg, "{\"memory\":\"1G\"}");
	free(cfg);
	assert_int_equal(backup_list(s, &infos, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(infos[0].id, id);
	assert_string_equal(infos[0].volumes[0].name, "root");
	backup_info_array_free(infos, n);
	/* unknown volume, invalid id */
	assert_int_equal(backup_restore_volume(s, id, "data", out, NULL, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "volume 'data'"));
	carve_err_clear(&err);
	assert_int_equal(backup_restore_volume(s, "../x", "root", out, NULL, NULL, &err), -EINVAL);
	backup_store_free(s);
}

static bool try_reflink(const char *src, const char *dst)
{
	int a = open(src, O_RDONLY), b = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	bool ok = ioctl(b, FICLONE, a) == 0;

	close(a);
	close(b);
	if (!ok)
		xrun("cp --sparse=always '%s' '%s'", src, dst);
	return ok;
}

/* change 1% of the chunks (in place, 4K each) */
static unsigned change_percent(const char *img, uint64_t size)
{
	int fd = open(img, O_RDWR);
	uint8_t blk[4096];
	unsigned n = 0;

	for (uint64_t c = 6; c * CS < size; c += 100, n++) { /* text chunks */
		fill_random(blk, sizeof(blk));
		assert_int_equal(pwrite(fd, blk, sizeof(blk), (off_t)(c * CS + 8192)), 4096);
	}
	fsync(fd);
	close(fd);
	return n;
}

static void restore_base_one(struct backup_store *s, const char *id, const char *out,
			     const char *base_path, const char *base_id,
			     struct backup_restore_stats *st)
{
	struct backup_restore_base b = {.path = base_path, .backup_id = base_id};
	struct carve_error err = CARVE_ERROR_INIT;
	int r;

	memset(st, 0xff, sizeof(*st));
	unlink(out);
	r = backup_restore_volume_ex(s, id, "root", out, &b, st, NULL, NULL, &err);
	if (r < 0)
		fprintf(stderr, "restore: %s\n", err.msg);
	assert_int_equal(r, 0);
}

/* Restore id1 (s1's backup) onto a clone of s2, the snapshot kept from backup id2: only the
 * chunks that differ are fetched; a base whose data does not match its backup, or that cannot
 * be used at all, still gives s1 byte for byte. */
static void restore_with_base(struct backup_store *s, const char *dir, bool reflink, const char *s1,
			      const char *id1, const char *s2, const char *id2, unsigned changed,
			      uint64_t total)
{
	char out[512], bad[512], small[512];
	struct backup_restore_stats st;
	uint8_t blk[4096];
	int fd;

	snprintf(out, sizeof(out), "%s/out-base.raw", dir);
	snprintf(bad, sizeof(bad), "%s/snap2-bad.raw", dir);
	snprintf(small, sizeof(small), "%s/snap2-small.raw", dir);
	restore_base_one(s, id1, out, s2, id2, &st);
	assert_same_file(s1, out);
	if (!reflink) {
		/* no FICLONE here: a restore from the store */
		assert_false(st.base_used);
		assert_int_equal(st.chunks_fetched, total);
		unlink(out);
		return;
	}
	assert_true(st.base_used);
	assert_int_equal(st.chunks_fetched, changed);
	assert_int_equal(st.chunks_from_base, total - changed);
	assert_int_equal(st.chunks_base_mismatch, 0);
	/* the latest backup onto its own snapshot: nothing fetched, nothing written */
	restore_base_one(s, id2, out, s2, id2, &st);
	assert_same_file(s2, out);
	assert_int_equal(st.chunks_fetched, 0);
	assert_int_equal(st.bytes_written, 0);

	/* a base that is not what its backup saw: data in chunk 1 (same digest in both manifests)
	 * and in chunk 3 (a hole in both backups) */
	try_reflink(s2, bad);
	fd = open(bad, O_RDWR);
	assert_true(fd >= 0);
	fill_random(blk, sizeof(blk));
	assert_int_equal(pwrite(fd, blk, sizeof(blk), (off_t)(1 * CS + 100)), 4096);
	assert_int_equal(pwrite(fd, blk, sizeof(blk), (off_t)(3 * CS)), 4096);
	close(fd);
	restore_base_one(s, id1, out, bad, id2, &st);
	assert_same_file(s1, out);
	assert_true(st.base_used);
	assert_int_equal(st.chunks_base_mismatch, 1);
	assert_int_equal(st.chunks_fetched, changed + 1);

	/* unusable bases: another size than its backup recorded, no such backup, no such file */
	xrun("cp --reflink=always '%s' '%s' && truncate -s -4096 '%s'", s2, small, small);
	restore_base_one(s, id1, out, small, id2, &st);
	assert_same_file(s1, out);
	assert_false(st.base_used);
	assert_int_equal(st.chunks_fetched, total);
	restore_base_one(s, id1, out, s2, "20990101T000000Z-00000000", &st);
	assert_same_file(s1, out);
	assert_false(st.base_used);
	restore_base_one(s, id1, out, bad, NULL, &st);
	assert_false(st.base_used);
	unlink(bad);
	restore_base_one(s, id1, out, bad, id2, &st);
	assert_same_file(s1, out);
	assert_false(st.base_used);
	unlink(small);
	unlink(out);
}

static void incremental_in(const char *dir, bool expect_reflink)
{
	char img[512], s1[512], s2[512], out[512], id1[BACKUP_ID_MAX], id2[BACKUP_ID_MAX];
	const uint64_t size = 400ull * CS;
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_stats st1, st2;
	struct backup_store *s = open_store("store-inc");
	unsigned changed;
	bool reflink;

	snprintf(img, sizeof(img), "%s/vol.raw", dir);
	snprintf(s1, sizeof(s1), "%s/snap1.raw", dir);
	snprintf(s2, sizeof(s2), "%s/snap2.raw", dir);
	snprintf(out, sizeof(out), "%s/out.raw", dir);
	make_image(img, size);
	reflink = try_reflink(img, s1);
	if (expect_reflink)
		assert_true(reflink);
	backup_one(s, s1, NULL, NULL, NULL, id1, &st1);
	assert_true(st1.bytes_read <= 320ull * CS); /* holes not read */
	changed = change_percent(img, size);
	try_reflink(img, s2);
	backup_one(s, s2, s1, id1, NULL, id2, &st2);
	/* each changed chunk is new; nothing else */
	assert_int_equal(st2.chunks_new, changed);
	assert_int_equal(st2.chunks_total, st1.chunks_total);
	if (reflink) {
		/* only the changed chunks were read */
		assert_int_equal(st2.bytes_read, (uint64_t)changed * CS);
		assert_true(st2.chunks_reused >= st1.chunks_total - changed - 1);
	} else {
		assert_int_equal(st2.bytes_read, st1.bytes_read);
	}
	assert_int_equal(backup_restore_volume(s, id2, "root", out, NULL, NULL, &err), 0);
	assert_same_file(s2, out);
	assert_int_equal(backup_restore_volume(s, id1, "root", out, NULL, NULL, &err), 0);
	assert_same_file(s1, out);
	restore_with_base(s, dir, reflink, s1, id1, s2, id2, changed, st1.chunks_total);
	unlink(img);
	unlink(s1);
	unlink(s2);
	unlink(out);
	backup_store_free(s);
}

static void test_incremental(void **state)
{
	/* wherever base lives (reflink or not): dedup holds either way */
	incremental_in(base, false);
}

static bool mount_xfs(char *mnt, size_t len, char *img, size_t ilen)
{
	char cmd[1200];

	if (geteuid() != 0 || system("command -v mkfs.xfs >/dev/null 2>&1") != 0)
		return false;
	snprintf(img, ilen, "%s/xfs.img", base);
	snprintf(mnt, len, "%s/xfs", base);
	mkdir(mnt, 0700);
	xrun("truncate -s 300M '%s' && mkfs.xfs -q -m reflink=1 '%s'", img, img);
	/* mount allocates a free loop device itself */
	snprintf(cmd, sizeof(cmd), "mount -o loop '%s' '%s'", img, mnt);
	return system(cmd) == 0;
}

static void test_incremental_reflink(void **state)
{
	char mnt[512], img[512];

	if (!mount_xfs(mnt, sizeof(mnt), img, sizeof(img))) {
		skip();
		return;
	}
	incremental_in(mnt, true);
	xrun("umount '%s'", mnt);
	unlink(img);
}

static void test_dedup_and_encryption(void **state)
{
	char img[512], out[512], id1[BACKUP_ID_MAX], id2[BACKUP_ID_MAX], id3[BACKUP_ID_MAX];
	uint8_t key[32], key2[32], d[32];
	char kid[BACKUP_KEY_ID_MAX], rel[72], p[600];
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_stats st;
	struct backup_store *s = open_store("store-enc"), *s2;
	struct backup_store_opts o = {.chunk_size = CS};
	uint8_t *buf = malloc(CS);
	int fd;
	struct stat sst;

	memset(key, 0x11, sizeof(key));
	memset(key2, 0x22, sizeof(key2));
	path_in(img, "enc.img");
	path_in(out, "enc.out");
	make_image(img, 50 * CS);
	backup_one(s, img, NULL, NULL, NULL, id1, &st);
	backup_one(s, img, NULL, NULL, NULL, id2, &st);
	assert_int_equal(st.chunks_new, 0); /* the same data again: all dedup */
	assert_int_equal(st.chunks_dedup, st.chunks_total);
	/* encrypted: new chunks, named by HMAC, not SHA-256 */
	backup_one(s, img, NULL, NULL, key, id3, &st);
	assert_int_equal(st.chunks_dedup, st.chunks_total - st.chunks_new);
	assert_true(st.chunks_new > 0);
	fd = open(img, O_RDONLY);
	assert_int_equal(pread(fd, buf, CS, 0), CS);
	close(fd);
	EVP_Digest(buf, CS, d, NULL, EVP_sha256(), NULL);
	chunk_relpath(d, rel);
	snprintf(p, sizeof(p), "%s/store-enc/chunks/%s", base, rel);
	assert_int_equal(stat(p, &sst), 0); /* plain backup's chunk */
	{
		struct bkey k;
		uint8_t h[32];

		bkey_derive(key, s->store_id, &k);
		chunk_digest(&k, buf, CS, h);
		assert_memory_not_equal(h, d, 32);
		chunk_relpath(h, rel);
		snprintf(p, sizeof(p), "%s/store-enc/chunks/%s", base, rel);
		assert_int_equal(stat(p, &sst), 0);
		/* the plaintext does not appear in the chunk */
		uint8_t *raw = malloc((size_t)sst.st_size);
		fd = open(p, O_RDONLY);
		assert_int_equal(read(fd, raw, (size_t)sst.st_size), sst.st_size);
		close(fd);
		assert_null(memmem(raw, (size_t)sst.st_size, buf, 64));
		free(raw);
	}
	/* another handle, no key: clear error */
	snprintf(p, sizeof(p), "%s/store-enc", base);
	assert_int_equal(backup_store_open(p, false, &o, &s2, &err), 0);
	assert_int_equal(backup_restore_volume(s2, id3, "root", out, NULL, NULL, &err), -ENOKEY);
	assert_non_null(strstr(err.msg, "key"));
	carve_err_clear(&err);
	/* the wrong key: still no key for this backup */
	assert_int_equal(backup_store_add_key(s2, key2, kid), 0);
	assert_int_equal(backup_restore_volume(s2, id3, "root", out, NULL, NULL, &err), -ENOKEY);
	carve_err_clear(&err);
	/* the right key */
	assert_int_equal(backup_store_add_key(s2, key, kid), 0);
	assert_int_equal(backup_restore_volume(s2, id3, "root", out, NULL, NULL, &err), 0);
	assert_same_file(img, out);
	/* decrypting a chunk with the wrong key fails authentication */
	{
		struct bkey good, bad;
		struct chunk_codec *c = chunk_codec_new(1);
		const uint8_t *enc;
		size_t enc_len, n;
		uint8_t h[32], *copy, *o2 = malloc(CS);
		const char *reason = NULL;

		bkey_derive(key, s->store_id, &good);
		bkey_derive(key2, s->store_id, &bad);
		chunk_digest(&good, buf, CS, h);
		assert_int_equal(chunk_encode(c, &good, h, buf, CS, &enc, &enc_len), 0);
		copy = malloc(enc_len);
		memcpy(copy, enc, enc_len);
		assert_int_equal(chunk_decode(c, &bad, h, copy, enc_len, o2, CS, &n, &reason),
				 -EKEYREJECTED);
		assert_non_null(strstr(reason, "wrong key"));
		assert_int_equal(chunk_decode(c, &good, h, copy, enc_len, o2, CS, &n, &reason), 0);
		assert_memory_equal(o2, buf, CS);
		free(copy);
		free(o2);
		chunk_codec_free(c);
	}
	free(buf);
	backup_store_free(s2);
	backup_store_free(s);
}

static void chunk_path_of(const char *store, const char *img, uint64_t off, char *p, size_t len)
{
	uint8_t *buf = malloc(CS), d[32];
	char rel[72];
	int fd = open(img, O_RDONLY);

	assert_int_equal(pread(fd, buf, CS, (off_t)off), CS);
	close(fd);
	EVP_Digest(buf, CS, d, NULL, EVP_sha256(), NULL);
	chunk_relpath(d, rel);
	snprintf(p, len, "%s/%s/chunks/%s", base, store, rel);
	free(buf);
}

static void test_verify(void **state)
{
	char img[512], img2[512], out[512], id1[BACKUP_ID_MAX], id2[BACKUP_ID_MAX];
	char pa[600], pb[600], pc[600], pd[600], badp[700];
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_verify_report rep;
	struct backup_stats st;
	struct backup_store *s = open_store("store-verify");
	int fd;

	path_in(img, "v1.img");
	path_in(img2, "v2.img");
	path_in(out, "v.out");
	make_image(img, 30 * CS);
	make_image(img2, 30 * CS); /* different random data (rng advanced) */
	backup_one(s, img, NULL, NULL, NULL, id1, &st);
	backup_one(s, img2, NULL, NULL, NULL, id2, &st);
	assert_int_equal(backup_verify(s, NULL, &rep, &err), 0);
	assert_int_equal(rep.n_bad, 0);
	assert_int_equal(rep.backups, 2);
	assert_true(rep.chunks_checked > 20);
	backup_verify_report_release(&rep);

	/* flip a byte (random chunk at 0), truncate (chunk at 5), remove (10), swap (15 <- 20) */
	chunk_path_of("store-verify", img, 0, pa, sizeof(pa));
	chunk_path_of("store-verify", img, 5 * CS, pb, sizeof(pb));
	chunk_path_of("store-verify", img, 10 * CS, pc, sizeof(pc));
	chunk_path_of("store-verify", img, 15 * CS, pd, sizeof(pd));
	fd = open(pa, O_RDWR);
	{
		uint8_t b;
		assert_int_equal(pread(fd, &b, 1, 100), 1);
		b ^= 0x40;
		assert_int_equal(pwrite(fd, &b, 1, 100), 1);
	}
	close(fd);
	assert_int_equal(truncate(pb, 1000), 0);
	assert_int_equal(unlink(pc), 0);
	{
		char p20[600];
		chunk_path_of("store-verify", img, 20 * CS, p20, sizeof(p20));
		xrun("cp '%s' '%s'", p20, pd);
	}
	assert_int_equal(backup_verify(s, NULL, &rep, &err), 0);
	assert_int_equal(rep.chunks_bad, 4);
	assert_int_equal(rep.n_bad, 4); /* only backup 1 references them */
	for (size_t i = 0; i < rep.n_bad; i++) {
		assert_string_equal(rep.bad[i].backup_id, id1);
		assert_string_equal(rep.bad[i].volume, "root");
		switch (rep.bad[i].offset / CS) {
		case 0:
			assert_string_equal(rep.bad[i].reason, "digest mismatch");
			break;
		case 5:
			assert_non_null(rep.bad[i].reason);
			break;
		case 10:
			assert_string_equal(rep.bad[i].reason, "missing");
			break;
		case 15:
			assert_string_equal(rep.bad[i].reason, "digest mismatch");
			break;
		default:
			fail_msg("unexpected offset %llu", (unsigned long long)rep.bad[i].offset);
		}
	}
	backup_verify_report_release(&rep);
	/* quarantined */
	assert_int_equal(access(pa, F_OK), -1);
	snprintf(badp, sizeof(badp), "%s/store-verify/bad/%s", base, strrchr(pa, '/') + 1);
	assert_int_equal(access(badp, F_OK), 0);
	/* restore of the damaged backup names the offset; the other backup restores */
	assert_true(backup_restore_volume(s, id1, "root", out, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, id1));
	assert_non_null(strstr(err.msg, "offset"));
	carve_err_clear(&err);
	assert_int_equal(backup_restore_volume(s, id2, "root", out, NULL, NULL, &err), 0);
	assert_same_file(img2, out);
	/* a new backup writes the bad chunks anew and verifies clean */
	backup_one(s, img, NULL, NULL, NULL, id1, &st);
	assert_int_equal(st.chunks_new, 4);
	assert_int_equal(backup_verify(s, id1, &rep, &err), 0);
	assert_int_equal(rep.n_bad, 0);
	backup_verify_report_release(&rep);
	assert_int_equal(backup_restore_volume(s, id1, "root", out, NULL, NULL, &err), 0);
	assert_same_file(img, out);
	backup_store_free(s);
}

static void test_prune_policy(void **state)
{
	const int64_t H = 3600, D = 86400;
	/* 2024-01-01T00:00Z */
	const int64_t t0 = 1704067200;
	int64_t t[48];
	bool keep[48];
	size_t n = 0, kept = 0;
	struct backup_prune_policy none = {};
	struct backup_prune_policy last3 = {.keep_last = 3};
	struct backup_prune_policy daily = {.keep_daily = 2};
	struct backup_prune_policy mix = {.keep_last = 1,
					  .keep_hourly = 2,
					  .keep_weekly = 1,
					  .keep_monthly = 2,
					  .keep_yearly = 5};

	/* every 6 hours for 4 days, then two old ones in 2023 */
	for (int i = 0; i < 16; i++)
		t[n++] = t0 + i * 6 * H;
	t[n++] = t0 - 40 * D; /* 2023-11-22 */
	t[n++] = t0 - 200 * D; /* 2023-06-15 */
	assert_int_equal(backup_prune_select(t, n, &none, keep), -EINVAL);
	assert_int_equal(backup_prune_select(t, n, &last3, keep), 0);
	for (size_t i = 0; i < n; i++)
		kept += keep[i];
	assert_int_equal(kept, 3);
	assert_true(keep[15] && keep[14] && keep[13]);
	/* daily 2: the newest of each of the two newest days */
	assert_int_equal(backup_prune_select(t, n, &daily, keep), 0);
	kept = 0;
	for (size_t i = 0; i < n; i++)
		kept += keep[i];
	assert_int_equal(kept, 2);
	assert_true(keep[15] && keep[11]);
	/* mix: last 15; hourly 15,14; weekly 15; monthly 15 (Jan), 16 (Nov 2023);
	 * yearly 15 (2024), 16 (2023) */
	assert_int_equal(backup_prune_select(t, n, &mix, keep), 0);
	kept = 0;
	for (size_t i = 0; i < n; i++)
		kept += keep[i];
	assert_int_equal(kept, 3);
	assert_true(keep[15] && keep[14] && keep[16] && !keep[17]);
}

static void test_prune_store(void **state)
{
	char img[512], ids[4][BACKUP_ID_MAX], **removed = NULL;
	struct backup_store *s = open_store("store-prune");
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_prune_policy pol = {.keep_last = 2};
	struct backup_volume_source v = {.name = "root"};
	struct backup_info *infos;
	size_t n;

	path_in(img, "prune.img");
	make_image(img, 10 * CS);
	v.snapshot_path = img;
	for (int i = 0; i < 4; i++) {
		struct backup_create_opts o = {.server_id = i == 3 ? "other" : "web1",
					       .now = 1704067200 + i * 3600};
		assert_int_equal(backup_create(s, &o, &v, 1, ids[i], NULL, &err), 0);
	}
	assert_int_equal(backup_prune(s, "web1", &pol, false, &removed, &err), 0);
	assert_non_null(removed);
	assert_string_equal(removed[0], ids[0]);
	assert_null(removed[1]);
	strv_free(removed);
	assert_int_equal(backup_list(s, &infos, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(infos[0].id, ids[1]);
	backup_info_array_free(infos, n);
	backup_store_free(s);
}

static int age_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	struct timespec ts[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};

	(void)utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

static void age_store(const char *name)
{
	char p[512];

	path_in(p, name);
	assert_int_equal(nftw(p, age_one, 16, FTW_PHYS), 0);
}

static size_t count_chunks(const char *name)
{
	char cmd[700], buf[64] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "find '%s/%s/chunks' -type f ! -name '.tmp-*' | wc -l", base,
		 name);
	f = popen(cmd, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	pclose(f);
	return (size_t)strtoul(buf, NULL, 10);
}

static void test_gc_running(void **state)
{
	char img[512], img2[512], id1[BACKUP_ID_MAX], id2[BACKUP_ID_MAX], p[600], q[600];
	struct backup_store *s = open_store("store-gc");
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_gc_stats gs;
	struct backup_stats st;
	size_t before;
	int lock;

	path_in(img, "gc1.img");
	path_in(img2, "gc2.img");
	make_image(img, 20 * CS);
	make_image(img2, 20 * CS);
	backup_one(s, img, NULL, NULL, NULL, id1, &st);
	backup_one(s, img2, NULL, NULL, NULL, id2, &st);
	before = count_chunks("store-gc");
	/* backup 1 turns into a running backup "run1": its manifest as a partial, lock held */
	snprintf(p, sizeof(p), "%s/store-gc/backups/%s.json", base, id1);
	snprintf(q, sizeof(q), "%s/store-gc/backups/run1.partial.json", base);
	xrun("sed -e 's/\"id\":\"%s\"/\"id\":\"run1\"/' -e 's/\"complete\":true/\"complete\":false/' "
	     "'%s' > '%s' && rm '%s'",
	     id1, p, q, p);
	snprintf(p, sizeof(p), "%s/store-gc/locks/run1.lock", base);
	lock = open(p, O_RDWR | O_CREAT, 0600);
	assert_int_equal(flock(lock, LOCK_EX), 0);
	assert_int_equal(write(lock, "1\n", 2), 2); /* started long ago */
	age_store("store-gc");
	/* the partial is a root: nothing goes */
	assert_int_equal(backup_gc(s, &gs, &err), 0);
	assert_int_equal(gs.running_backups, 1);
	assert_int_equal(gs.chunks_removed, 0);
	assert_int_equal(count_chunks("store-gc"), before);
	/* the backup dies: its partial is stale, its own chunks go, backup 2 still restores */
	close(lock);
	assert_int_equal(backup_gc(s, &gs, &err), 0);
	assert_int_equal(gs.partials_removed, 1);
	assert_true(gs.chunks_removed > 0);
	assert_int_equal(count_chunks("store-gc"), before - gs.chunks_removed);
	{
		struct backup_verify_report rep;
		assert_int_equal(backup_verify(s, NULL, &rep, &err), 0);
		assert_int_equal(rep.n_bad, 0);
		assert_int_equal(rep.backups, 1);
		backup_verify_report_release(&rep);
	}
	/* young unreferenced chunks are kept (a running backup may be about to list them) */
	make_image(img, 20 * CS);
	backup_one(s, img, NULL, NULL, NULL, id1, &st);
	assert_int_equal(backup_delete(s, id1, &err), 0);
	assert_int_equal(backup_gc(s, &gs, &err), 0);
	assert_int_equal(gs.chunks_removed, 0);
	assert_true(gs.chunks_kept_recent > 0);
	assert_int_equal(backup_delete(s, id2, &err), 0);
	age_store("store-gc");
	assert_int_equal(backup_gc(s, &gs, &err), 0);
	assert_int_equal(count_chunks("store-gc"), 0);
	backup_store_free(s);
}

static void test_crash(void **state)
{
	char img[512], sp[512];
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_store *s;
	struct backup_verify_report rep;
	struct backup_info *infos;
	struct backup_gc_stats gs;
	size_t n, completed = 0;
	char cmd[700], buf[64];
	FILE *f;

	path_in(img, "crash.img");
	path_in(sp, "store-crash");
	make_image(img, 300 * CS);
	for (int round = 0; round < 12; round++) {
		pid_t pid;
		int status;

		/* a fresh image content each round so every backup writes chunks */
		{
			int fd = open(img, O_RDWR);
			uint8_t b[4096];
			for (int i = 0; i < 300; i += 5) {
				fill_random(b, sizeof(b));
				assert_int_equal(pwrite(fd, b, sizeof(b), (off_t)i * CS), 4096);
			}
			close(fd);
		}
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct backup_store *cs = NULL;
			struct backup_store_opts o = {.chunk_size = CS};
			struct backup_volume_source v = {.name = "root", .snapshot_path = img};
			struct backup_create_opts co = {.server_id = "crash"};
			char id[BACKUP_ID_MAX];

			if (backup_store_open(sp, true, &o, &cs, NULL) < 0 ||
			    backup_create(cs, &co, &v, 1, id, NULL, NULL) < 0)
				_exit(1);
			_exit(0);
		}
		usleep((useconds_t)(round * 20000 + (round % 3) * 3000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			completed++;
	}
	assert_int_equal(backup_store_open(sp, true, NULL, &s, &err), 0);
	assert_int_equal(backup_list(s, &infos, &n, &err), 0);
	/* a child killed after its manifest's rename (before exiting 0) has a complete backup */
	assert_true(n >= completed && n <= 12);
	assert_true(n < 12); /* some were killed */
	backup_info_array_free(infos, n);
	assert_int_equal(backup_verify(s, NULL, &rep, &err), 0);
	assert_int_equal(rep.n_bad, 0);
	backup_verify_report_release(&rep);
	age_store("store-crash");
	assert_int_equal(backup_gc(s, &gs, &err), 0);
	assert_int_equal(gs.running_backups, 0);
	/* no temp files or partials remain */
	snprintf(cmd, sizeof(cmd), "find '%s' -name '.tmp-*' -o -name '*.partial.json' | wc -l",
		 sp);
	f = popen(cmd, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	pclose(f);
	if (strtol(buf, NULL, 10) != 0)
		xrun("find '%s' -name '.tmp-*' -o -name '*.partial.json' >&2; false", sp);
	assert_int_equal(backup_verify(s, NULL, &rep, &err), 0);
	assert_int_equal(rep.n_bad, 0);
	backup_verify_report_release(&rep);
	fprintf(stderr, "crash: %zu of 12 backups completed\n", completed);
	backup_store_free(s);
}

static void test_files(void **state)
{
	char tree[512], img[512], mnt[512], dest[512], id[BACKUP_ID_MAX], p[700];
	struct backup_volume_source v = {.name = "root"};
	struct backup_create_opts o = {.server_id = "ct1"};
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_store *s;
	struct backup_stats st;
	struct backup_file *files;
	size_t n;
	int dfd;
	bool saw_etc = false, saw_big = false, saw_link = false;

	if (geteuid() != 0 || system("command -v mkfs.ext4 >/dev/null 2>&1") != 0) {
		skip();
		return;
	}
	s = open_store("store-files");
	path_in(tree, "tree");
	path_in(img, "ct.img");
	path_in(mnt, "ctmnt");
	path_in(dest, "dest");
	xrun("mkdir -p '%s/etc' '%s/var/lib' '%s' '%s' && echo 'root:x:0:0::/root:/bin/sh' > "
	     "'%s/etc/passwd' && head -c 3000000 /dev/urandom > '%s/var/lib/big.bin' && "
	     "printf 'x%%.0s' $(seq 1 70000) > '%s/var/lib/text.txt' && ln -s ../etc/passwd "
	     "'%s/var/link' && truncate -s 1M '%s/var/sparse' && echo tail >> '%s/var/sparse' && "
	     "chmod 640 '%s/etc/passwd'",
	     tree, tree, mnt, dest, tree, tree, tree, tree, tree, tree, tree);
	xrun("truncate -s 64M '%s' && mkfs.ext4 -q -F -E lazy_itable_init=0 -d '%s' '%s'", img,
	     tree, img);
	xrun("mount -o loop,ro,noload '%s' '%s'", img, mnt);
	v.snapshot_path = img;
	v.mount_path = mnt;
	assert_int_equal(backup_create(s, &o, &v, 1, id, &st, &err), 0);
	xrun("umount '%s'", mnt);
	assert_true(st.files_indexed >= 8);

	assert_int_equal(backup_files_list(s, id, "root", "/", &files, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		if (streq(files[i].path, "etc") && files[i].type == BACKUP_FILE_DIRECTORY)
			saw_etc = true;
	backup_file_array_free(files, n);
	assert_true(saw_etc);
	assert_int_equal(backup_files_list(s, id, "root", "var/lib", &files, &n, &err), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		if (streq(files[i].path, "var/lib/big.bin") && files[i].size == 3000000)
			saw_big = true;
	backup_file_array_free(files, n);
	assert_true(saw_big);
	assert_int_equal(backup_files_list(s, id, "root", "var", &files, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		if (streq(files[i].path, "var/link") && files[i].type == BACKUP_FILE_SYMLINK &&
		    streq(files[i].link_target, "../etc/passwd"))
			saw_link = true;
	backup_file_array_free(files, n);
	assert_true(saw_link);
	assert_int_equal(backup_files_list(s, id, "root", "nope", &files, &n, &err), -ENOENT);
	carve_err_clear(&err);

	dfd = open(dest, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	const char *paths[] = {"etc/passwd", "var/lib/big.bin", "var/lib/text.txt", "var/sparse"};
	for (size_t i = 0; i < 4; i++) {
		char a[700], b[700];
		struct stat sa, sb;

		assert_int_equal(backup_file_restore(s, id, "root", paths[i], dfd, &err), 0);
		snprintf(a, sizeof(a), "%s/%s", tree, paths[i]);
		snprintf(b, sizeof(b), "%s/%s", dest, paths[i]);
		assert_same_file(a, b);
		assert_int_equal(stat(a, &sa), 0);
		assert_int_equal(stat(b, &sb), 0);
		assert_int_equal(sa.st_mode & 07777, sb.st_mode & 07777);
		assert_int_equal(sa.st_mtime, sb.st_mtime);
	}
	assert_int_equal(backup_file_restore(s, id, "root", "var/link", dfd, &err), 0);
	snprintf(p, sizeof(p), "%s/var/link", dest);
	{
		char t[256] = "";
		assert_true(readlink(p, t, sizeof(t) - 1) > 0);
		assert_string_equal(t, "../etc/passwd");
	}
	/* escapes */
	assert_int_equal(backup_file_restore(s, id, "root", "../../etc/passwd", dfd, &err),
			 -EINVAL);
	carve_err_clear(&err);
	assert_int_equal(backup_file_restore(s, id, "root", "/etc/passwd", dfd, &err), -EINVAL);
	carve_err_clear(&err);
	assert_int_equal(backup_file_restore(s, id, "root", "etc/../etc/passwd", dfd, &err),
			 -EINVAL);
	carve_err_clear(&err);
	/* a symlink in the destination path is not followed */
	xrun("rm -rf '%s/etc' && ln -s /tmp '%s/etc'", dest, dest);
	assert_true(backup_file_restore(s, id, "root", "etc/passwd", dfd, &err) < 0);
	assert_non_null(strstr(err.msg, "refused"));
	carve_err_clear(&err);
	assert_int_equal(backup_file_restore(s, id, "root", "var", dfd, &err), -EISDIR);
	close(dfd);
	xrun("rm -rf '%s' '%s' '%s'", tree, dest, img);
	backup_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_incremental_reflink),
		cmocka_unit_test(test_dedup_and_encryption),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_prune_policy),
		cmocka_unit_test(test_prune_store),
		cmocka_unit_test(test_gc_running),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_files),
	};
	const char *tmp = getenv("TMPDIR");
	int r;

	snprintf(base, sizeof(base), "%s/carve-backup-test.XXXXXX", tmp ? tmp : "/var/tmp");
	if (!mkdtemp(base))
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "umount -q '%s/xfs' 2>/dev/null; rm -rf '%s'", base,
			 base);
		(void)system(cmd);
	}
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Extracting an untrusted tar archive (a template's root filesystem) into a directory.
 *
 * The archive comes from outside: every name is cleaned (no absolute path, no ".." component),
 * and every path is walked from the root one component at a time with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV), so an entry can never reach
 * through a symlink (one the archive planted a moment ago included) nor leave the target's
 * filesystem. The final component is created relative to its parent's fd with O_NOFOLLOW /
 * *at() calls that do not follow it. Hard links name a cleaned path walked the same way. Device
 * nodes are never created: the harmless ones (null, zero, full, random, urandom, tty, console,
 * ptmx: the runtime provides /dev) are skipped and counted, any other is refused. Owners must lie
 * in the container id range. File bytes are bounded by a limit (the template's disk size).
 *
 * Formats: POSIX ustar, GNU (long names 'L'/'K', base-256 numbers) and pax ('x' headers: path,
 * linkpath, size, uid, gid, mtime; 'g' ignored), plain or zstd-compressed. xattrs and ACLs are
 * not restored (counted as skipped).
 */
#define LOG_DOMAIN "storage"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <zstd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "storage/storage.h"

#define BLOCK 512
#define LONGNAME_MAX 4096
#define PAX_MAX (1U << 20)
#define ID_MAX 65536
#define COPY_BUF (128U << 10)

/* --- a byte stream: the file, or zstd frames decoded from it -------------------------------- */

struct reader {
	int fd;
	ZSTD_DStream *z; /* NULL: plain */
	uint8_t *in;
	size_t in_cap, in_pos, in_len;
	bool in_eof;
	uint64_t in_total; /* compressed bytes read (progress) */
	uint64_t in_size; /* the file's size (0: unknown) */
	uint8_t peek[4];
	size_t peek_len, peek_pos;
	storage_progress_fn progress;
	void *userdata;
};

static int fill_in(struct reader *rd)
{
	ssize_t n;

	if (rd->in_eof)
		return 0;
	n = read(rd->fd, rd->in, rd->in_cap);
	if (n < 0)
		return -errno;
	if (n == 0)
		rd->in_eof = true;
	rd->in_pos = 0;
	rd->in_len = (size_t)n;
	rd->in_total += (uint64_t)n;
	if (rd->progress && rd->progress(rd->in_total, rd->in_size, rd->userdata) < 0)
		return -ECANCELED;
	return (int)n;
}

/* Read exactly len bytes; -EBADMSG when the archive ends first. */
static int rd_read(struct reader *rd, void *buf, size_t len, struct carve_error *err)
{
	uint8_t *p = buf;

	while (len > 0 && rd->peek_pos < rd->peek_len) {
		*p++ = rd->peek[rd->peek_pos++];
		len--;
	}
	while (len > 0) {
		if (!rd->z) {
			ssize_t n = read(rd->fd, p, len);

			if (n < 0)
				return carve_err(err, -errno, "read: %s", strerror(errno));
			if (n == 0)
				return carve_err(err, -EBADMSG, "archive is truncated");
			rd->in_total += (uint64_t)n;
			if (rd->progress &&
			    rd->progress(rd->in_total, rd->in_size, rd->userdata) < 0)
				return carve_err(err, -ECANCELED, "cancelled");
			p += n;
			len -= (size_t)n;
			continue;
		}
		ZSTD_inBuffer zin = {rd->in, rd->in_len, rd->in_pos};
		ZSTD_outBuffer zout = {p, len, 0};
		size_t ret;

		if (rd->in_pos == rd->in_len) {
			int r = fill_in(rd);

			if (r < 0)
				return carve_err(err, r, "read: %s", strerror(-r));
			if (r == 0)
				return carve_err(err, -EBADMSG, "archive is truncated");
			zin = (ZSTD_inBuffer){rd->in, rd->in_len, rd->in_pos};
		}
		ret = ZSTD_decompressStream(rd->z, &zout, &zin);
		if (ZSTD_isError(ret))
			return carve_err(err, -EBADMSG, "zstd: %s", ZSTD_getErrorName(ret));
		rd->in_pos = zin.pos;
		p += zout.pos;
		len -= zout.pos;
	}
	return 0;
}

static int rd_skip(struct reader *rd, uint64_t len, struct carve_error *err)
{
	uint8_t buf[4096];

	while (len > 0) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		int r = rd_read(rd, buf, n, err);

		if (r < 0)
			return r;
		len -= n;
	}
	return 0;
}

static int rd_open(struct reader *rd, struct carve_error *err)
{
	static const uint8_t zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
	struct stat st;
	ssize_t n;

	if (fstat(rd->fd, &st) == 0 && S_ISREG(st.st_mode))
		rd->in_size = (uint64_t)st.st_size;
	n = loop_read(rd->fd, rd->peek, sizeof(rd->peek));
	if (n < 0)
		return carve_err(err, (int)n, "read: %s", strerror((int)-n));
	rd->peek_len = (size_t)n;
	rd->in_total = (uint64_t)n;
	if (n >= 2 && rd->peek[0] == 0x1f && rd->peek[1] == 0x8b)
		return carve_err(err, -EPROTONOSUPPORT,
				 "archive is gzip-compressed: use a plain or zstd-compressed tar");
	if (n >= 4 && rd->peek[0] == 0xfd && rd->peek[1] == '7' && rd->peek[2] == 'z' &&
	    rd->peek[3] == 'X')
		return carve_err(err, -EPROTONOSUPPORT,
				 "archive is xz-compressed: use a plain or zstd-compressed tar");
	if (n < 4 || memcmp(rd->peek, zstd_magic, 4) != 0)
		return 0;
	rd->z = ZSTD_createDStream();
	rd->in_cap = ZSTD_DStreamInSize();
	rd->in = malloc(rd->in_cap);
	if (!rd->z || !rd->in)
		return carve_err(err, -ENOMEM, "out of memory");
	ZSTD_initDStream(rd->z);
	memcpy(rd->in, rd->peek, 4);
	rd->in_len = 4;
	rd->in_pos = 0;
	rd->peek_len = rd->peek_pos = 0;
	return 0;
}

static void rd_close(struct reader *rd)
{
	ZSTD_freeDStream(rd->z);
	free(rd->in);
}

/* --- names ---------------------------------------------------------------------------------- */

int storage_tar_path_clean(const char *in, char *out, size_t len, struct carve_error *err)
{
	size_t o = 0;

	if (in[0] == '/')
		return carve_err(err, -EPERM, "absolute path");
	for (const char *p = in; *p;) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return carve_err(err, -EPERM, "'..' component");
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (o + n + 2 > len)
				return carve_err(err, -ENAMETOOLONG, "name too long");
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	out[o] = '\0';
	return 0;
}

/* --- header fields -------------------------------------------------------------------------- */

/* Octal (NUL/space terminated) or GNU base-256 (high bit of the first byte). */
static int parse_num(const uint8_t *f, size_t n, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] & 0x40)
			return -ERANGE; /* negative */
		v = f[0] & 0x3f;
		for (i = 1; i < n; i++) {
			if (v >> 55)
				return -ERANGE;
			v = (v << 8) | f[i];
		}
		*ret = v;
		return 0;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -ERANGE;
		v = v * 8 + (uint64_t)(f[i] - '0');
	}
	if (i < n && f[i] != '\0' && f[i] != ' ')
		return -EINVAL;
	*ret = v;
	return 0;
}

static bool header_checksum_ok(const uint8_t *h)
{
	uint64_t want;
	unsigned long u = 0;
	long s = 0;

	if (parse_num(h + 148, 8, &want) < 0)
		return false;
	for (size_t i = 0; i < BLOCK; i++) {
		uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];

		u += c;
		s += (signed char)c;
	}
	return want == u || (long)want == s;
}

struct entry {
	char name[PATH_MAX];
	char link[PATH_MAX];
	char type;
	mode_t mode;
	uint64_t uid, gid, size, mtime;
	unsigned major, minor;
	/* overrides from 'L', 'K' and 'x' headers for the next entry */
	bool have_name, have_link, have_size, have_uid, have_gid, have_mtime;
};

/* pax records: "<len> <key>=<value>\n" */
static int parse_pax(const char *buf, size_t len, struct entry *e, struct storage_tar_stats *st,
		     struct carve_error *err)
{
	for (size_t off = 0; off < len;) {
		const char *rec = buf + off, *sp, *eq;
		char *end;
		unsigned long long n;
		size_t klen, vlen;
		const char *val;

		errno = 0;
		n = strtoull(rec, &end, 10);
		if (errno || end == rec || *end != ' ' || n == 0 || n > len - off ||
		    rec[n - 1] != '\n')
			return carve_err(err, -EBADMSG, "pax header: malformed record");
		sp = end;
		eq = memchr(sp + 1, '=', (size_t)(rec + n - 1 - (sp + 1)));
		if (!eq)
			return carve_err(err, -EBADMSG, "pax header: record without '='");
		klen = (size_t)(eq - (sp + 1));
		val = eq + 1;
		vlen = (size_t)(rec + n - 1 - val);
		off += n;
#define KEY(k) (klen == strlen(k) && memcmp(sp + 1, k, klen) == 0)
		if (KEY("path") || KEY("linkpath")) {
			char *dst = KEY("path") ? e->name : e->link;

			if (memchr(val, '\0', vlen) || vlen >= PATH_MAX)
				return carve_err(err, -EBADMSG, "pax header: bad %.*s", (int)klen,
						 sp + 1);
			memcpy(dst, val, vlen);
			dst[vlen] = '\0';
			if (KEY("path"))
				e->have_name = true;
			else
				e->have_link = true;
		} else if (KEY("size") || KEY("uid") || KEY("gid") || KEY("mtime")) {
			char num[32];
			uint64_t v;

			if (vlen == 0 || vlen >= sizeof(num))
				return carve_err(err, -EBADMSG, "pax header: bad %.*s", (int)klen,
						 sp + 1);
			memcpy(num, val, vlen);
			num[vlen] = '\0';
			if (KEY("mtime"))
				num[strcspn(num, ".")] = '\0';
			errno = 0;
			v = strtoull(num, &end, 10);
			if (errno || *end || num[0] == '-')
				return carve_err(err, -EBADMSG, "pax header: bad %.*s '%s'",
						 (int)klen, sp + 1, num);
			if (KEY("size")) {
				e->size = v;
				e->have_size = true;
			} else if (KEY("uid")) {
				e->uid = v;
				e->have_uid = true;
			} else if (KEY("gid")) {
				e->gid = v;
				e->have_gid = true;
			} else {
				e->mtime = v;
				e->have_mtime = true;
			}
		} else if (klen > 6 && (memcmp(sp + 1, "SCHILY.", 7) == 0 ||
					memcmp(sp + 1, "LIBARCHIVE.", 11) == 0)) {
			st->skipped_xattrs++;
		}
#undef KEY
	}
	return 0;
}

/* --- the tree ------------------------------------------------------------------------------- */

static int openat2_beneath(int dir, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, dir, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/*
 * Open the parent directory of the cleaned path, creating missing directories (0755, root) when
 * create is set; *ret_name points at the last component inside path.
 */
static int open_parent(int root_fd, const char *path, bool create, const char **ret_name,
		       const char *entry, struct carve_error *err)
{
	cleanup_close int cur = -EBADF;
	char comp[NAME_MAX + 1];
	const char *p = path, *slash;

	cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return carve_err(err, -errno, "dup: %s", strerror(errno));
	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		int fd;

		if (n > NAME_MAX)
			return carve_err(err, -ENAMETOOLONG, "entry '%s': component too long",
					 entry);
		memcpy(comp, p, n);
		comp[n] = '\0';
		fd = openat2_beneath(cur, comp, O_PATH | O_DIRECTORY);
		if (fd == -ENOENT && create) {
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
				return carve_err(err, -errno, "entry '%s': mkdir '%.*s': %s", entry,
						 (int)(slash - path), path, strerror(errno));
			fd = openat2_beneath(cur, comp, O_PATH | O_DIRECTORY);
		}
		if (fd == -ELOOP || fd == -EXDEV)
			return carve_err(err, -ELOOP,
					 "entry '%s': '%.*s' is a symlink: refusing to write "
					 "through it",
					 entry, (int)(slash - path), path);
		if (fd == -ENOTDIR)
			return carve_err(err, -ENOTDIR, "entry '%s': '%.*s' is not a directory",
					 entry, (int)(slash - path), path);
		if (fd < 0)
			return carve_err(err, fd, "entry '%s': open '%.*s': %s", entry,
					 (int)(slash - path), path, strerror(-fd));
		safe_close(cur);
		cur = fd;
		p = slash + 1;
	}
	if (strlen(p) > NAME_MAX)
		return carve_err(err, -ENAMETOOLONG, "entry '%s': name too long", entry);
	*ret_name = p;
	return TAKE_FD(cur);
}

/* Make room for a new entry: remove what is there, unless it is a directory and we want one. */
static int clear_slot(int dir, const char *name, bool want_dir, const char *entry,
		      struct carve_error *err)
{
	struct stat st;

	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT
			       ? 0
			       : carve_err(err, -errno, "entry '%s': %s", entry, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		if (want_dir)
			return 1;
		if (unlinkat(dir, name, AT_REMOVEDIR) < 0)
			return carve_err(err, -errno, "entry '%s': replaces a directory: %s", entry,
					 strerror(errno));
		return 0;
	}
	if (unlinkat(dir, name, 0) < 0)
		return carve_err(err, -errno, "entry '%s': %s", entry, strerror(errno));
	return 0;
}

static bool harmless_device(char type, unsigned major, unsigned minor)
{
	if (type != '3')
		return false;
	if (major == 1)
		return minor == 3 || minor == 5 || minor == 7 || minor == 8 || minor == 9;
	return major == 5 && minor <= 2; /* tty, console, ptmx */
}

struct extract {
	int root_fd;
	uint64_t max_bytes;
	struct storage_tar_stats *stats;
	uint8_t *buf;
};

static int write_data(struct extract *x, struct reader *rd, int fd, const struct entry *e,
		      struct carve_error *err)
{
	uint64_t left = e->size;

	while (left > 0) {
		size_t n = left < COPY_BUF ? (size_t)left : COPY_BUF;
		int r = rd_read(rd, x->buf, n, err);

		if (r < 0)
			return carve_err_prefix(err, "entry '%s'", e->name);
		r = loop_write(fd, x->buf, n);
		if (r == -ENOSPC || r == -EDQUOT)
			return carve_err(err, -ENOSPC,
					 "entry '%s': no space left: the template's disk is too "
					 "small for the archive",
					 e->name);
		if (r < 0)
			return carve_err(err, r, "entry '%s': write: %s", e->name, strerror(-r));
		left -= n;
	}
	return rd_skip(rd, (BLOCK - e->size % BLOCK) % BLOCK, err);
}

static int set_meta(int dir, const char *name, int fd, const struct entry *e,
		    struct carve_error *err)
{
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = (time_t)e->mtime}};
	int r;

	/* chown first: it clears setuid bits that the chmod then sets */
	if (fd >= 0)
		r = fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0 || fchmod(fd, e->mode) < 0 ||
				    futimens(fd, ts) < 0
			    ? -errno
			    : 0;
	else
		r = fchownat(dir, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
				    utimensat(dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0
			    ? -errno
			    : 0;
	if (r < 0)
		return carve_err(err, r, "entry '%s': set owner and mode: %s", e->name,
				 strerror(-r));
	return 0;
}

static int extract_entry(struct extract *x, struct reader *rd, struct entry *e,
			 struct carve_error *err)
{
	cleanup_close int dir = -EBADF, fd = -EBADF;
	const char *name;
	int r;

	if (e->uid >= ID_MAX || e->gid >= ID_MAX)
		return carve_err(err, -ERANGE,
				 "entry '%s': owner %" PRIu64 ":%" PRIu64
				 " outside the container's ids 0..%d",
				 e->name, e->uid, e->gid, ID_MAX - 1);
	if (e->type == '3' || e->type == '4') {
		if (harmless_device(e->type, e->major, e->minor)) {
			x->stats->skipped_devices++;
			return rd_skip(rd, 0, err);
		}
		return carve_err(err, -EPERM,
				 "entry '%s': %s device %u:%u: device nodes are not allowed in a "
				 "template (the runtime provides /dev)",
				 e->name, e->type == '3' ? "character" : "block", e->major,
				 e->minor);
	}
	if (e->name[0] == '\0') {
		/* "./": the root itself */
		if (e->type != '5')
			return carve_err(err, -EINVAL, "entry '.': not a directory");
		return set_meta(-1, NULL, x->root_fd, e, err) < 0 ? err->code : 0;
	}
	dir = open_parent(x->root_fd, e->name, true, &name, e->name, err);
	if (dir < 0)
		return dir;

	switch (e->type) {
	case '0':
	case '\0':
	case '7':
		if (e->size > x->max_bytes - x->stats->bytes)
			return carve_err(err, -EFBIG,
					 "entry '%s': the archive's files exceed the template's "
					 "disk size (%" PRIu64 " bytes)",
					 e->name, x->max_bytes);
		r = clear_slot(dir, name, false, e->name, err);
		if (r < 0)
			return r;
		fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return carve_err(err, -errno, "entry '%s': create: %s", e->name,
					 strerror(errno));
		r = write_data(x, rd, fd, e, err);
		if (r < 0)
			return r;
		x->stats->bytes += e->size;
		x->stats->files++;
		return set_meta(dir, name, fd, e, err);
	case '5':
		r = clear_slot(dir, name, true, e->name, err);
		if (r < 0)
			return r;
		if (r == 0 && mkdirat(dir, name, 0700) < 0)
			return carve_err(err, -errno, "entry '%s': mkdir: %s", e->name,
					 strerror(errno));
		fd = openat2_beneath(dir, name, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return carve_err(err, fd, "entry '%s': open: %s", e->name, strerror(-fd));
		x->stats->dirs++;
		return set_meta(dir, name, fd, e, err);
	case '2':
		r = clear_slot(dir, name, false, e->name, err);
		if (r < 0)
			return r;
		if (symlinkat(e->link, dir, name) < 0)
			return carve_err(err, -errno, "entry '%s': symlink: %s", e->name,
					 strerror(errno));
		x->stats->symlinks++;
		return set_meta(dir, name, -1, e, err);
	case '1': {
		cleanup_close int src_dir = -EBADF;
		char target[PATH_MAX];
		const char *src_name;

		r = storage_tar_path_clean(e->link, target, sizeof(target), err);
		if (r < 0)
			return carve_err_prefix(err, "entry '%s': hard link to '%.200s'", e->name,
						e->link);
		if (!target[0])
			return carve_err(err, -EPERM, "entry '%s': hard link to the root", e->name);
		src_dir = open_parent(x->root_fd, target, false, &src_name, e->name, err);
		if (src_dir < 0)
			return src_dir;
		r = clear_slot(dir, name, false, e->name, err);
		if (r < 0)
			return r;
		if (linkat(src_dir, src_name, dir, name, 0) < 0)
			return carve_err(err, -errno, "entry '%s': hard link to '%s': %s", e->name,
					 target, strerror(errno));
		x->stats->hardlinks++;
		return 0;
	}
	case '6':
		r = clear_slot(dir, name, false, e->name, err);
		if (r < 0)
			return r;
		if (mkfifoat(dir, name, 0600) < 0)
			return carve_err(err, -errno, "entry '%s': mkfifo: %s", e->name,
					 strerror(errno));
		fd = openat2_beneath(dir, name, O_PATH);
		if (fd < 0)
			return carve_err(err, fd, "entry '%s': open: %s", e->name, strerror(-fd));
		/* O_PATH fds take no fchmod: go through the parent with the name */
		if (fchownat(dir, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(dir, name, e->mode, 0) < 0)
			return carve_err(err, -errno, "entry '%s': set owner and mode: %s", e->name,
					 strerror(errno));
		return 0;
	default:
		return carve_err(err, -EPROTONOSUPPORT,
				 "entry '%s': tar entry type '%c' is not "
				 "supported",
				 e->name, e->type);
	}
}

int storage_tar_extract(int tar_fd, int root_fd, uint64_t max_bytes, storage_progress_fn progress,
			void *userdata, struct storage_tar_stats *ret_stats,
			struct carve_error *err)
{
	struct storage_tar_stats stats = {0};
	struct reader rd = {.fd = tar_fd, .progress = progress, .userdata = userdata};
	struct extract x = {.root_fd = root_fd, .max_bytes = max_bytes, .stats = &stats};
	struct entry *e = NULL;
	uint8_t h[BLOCK];
	cleanup_free char *pax = NULL;
	bool any = false;
	int r;

	r = rd_open(&rd, err);
	if (r < 0)
		goto out;
	x.buf = malloc(COPY_BUF);
	e = calloc(1, sizeof(*e));
	if (!x.buf || !e) {
		r = carve_err(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		uint64_t size;
		char type;

		r = rd_read(&rd, h, BLOCK, err);
		if (r < 0)
			goto out;
		if (mem_is_zero(h, BLOCK)) {
			if (!any) {
				r = carve_err(err, -EBADMSG, "archive is empty");
				goto out;
			}
			break;
		}
		if (!header_checksum_ok(h)) {
			r = carve_err(err, -EBADMSG,
				      any ? "archive is corrupt: bad header checksum after %" PRIu64
					    " entries"
					  : "not a tar archive (nor zstd-compressed): bad header "
					    "checksum after %" PRIu64 " entries",
				      stats.entries);
			goto out;
		}
		any = true;
		type = (char)h[156];
		if (parse_num(h + 124, 12, &size) < 0) {
			r = carve_err(err, -EBADMSG, "archive is corrupt: bad size field");
			goto out;
		}
		if (e->have_size && type != 'x' && type != 'L' && type != 'K')
			size = e->size;

		if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
			uint64_t cap = type == 'x' || type == 'g' ? PAX_MAX : LONGNAME_MAX;

			if (size > cap) {
				r = carve_err(err, -E2BIG,
					      "archive: a '%c' header of %" PRIu64
					      " bytes (at most %" PRIu64 ")",
					      type, size, cap);
				goto out;
			}
			free(pax);
			pax = malloc((size_t)size + 1);
			if (!pax) {
				r = carve_err(err, -ENOMEM, "out of memory");
				goto out;
			}
			r = rd_read(&rd, pax, (size_t)size, err);
			if (r >= 0)
				r = rd_skip(&rd, (BLOCK - size % BLOCK) % BLOCK, err);
			if (r < 0)
				goto out;
			pax[size] = '\0';
			if (type == 'L' || type == 'K') {
				char *dst = type == 'L' ? e->name : e->link;

				if (strlen(pax) >= PATH_MAX) {
					r = carve_err(err, -ENAMETOOLONG,
						      "archive: long name too long");
					goto out;
				}
				strscpy(dst, pax, PATH_MAX);
				if (type == 'L')
					e->have_name = true;
				else
					e->have_link = true;
			} else if (type == 'x') {
				r = parse_pax(pax, (size_t)size, e, &stats, err);
				if (r < 0)
					goto out;
			}
			continue;
		}
		if (type == 'V') {
			r = rd_skip(&rd, (size + BLOCK - 1) / BLOCK * BLOCK, err);
			if (r < 0)
				goto out;
			memset(e, 0, sizeof(*e));
			continue;
		}

		/* the entry itself */
		{
			char raw[PATH_MAX];
			uint64_t mode, uid, gid, mtime, major = 0, minor = 0;
			bool ustar = memcmp(h + 257, "ustar\0", 6) == 0;

			if (e->have_name)
				strscpy(raw, e->name, sizeof(raw));
			else if (ustar && h[345])
				snprintf(raw, sizeof(raw), "%.155s/%.100s", (const char *)h + 345,
					 (const char *)h);
			else
				snprintf(raw, sizeof(raw), "%.100s", (const char *)h);
			if (!e->have_link)
				snprintf(e->link, sizeof(e->link), "%.100s", (const char *)h + 157);
			if (parse_num(h + 100, 8, &mode) < 0 || parse_num(h + 108, 8, &uid) < 0 ||
			    parse_num(h + 116, 8, &gid) < 0 || parse_num(h + 136, 12, &mtime) < 0 ||
			    ((type == '3' || type == '4') && (parse_num(h + 329, 8, &major) < 0 ||
							      parse_num(h + 337, 8, &minor) < 0))) {
				r = carve_err(err, -EBADMSG, "entry '%.200s': bad numeric field",
					      raw);
				goto out;
			}
			r = storage_tar_path_clean(raw, e->name, sizeof(e->name), err);
			if (r < 0) {
				carve_err_prefix(err, "entry '%.200s'", raw);
				goto out;
			}
			e->type = type;
			e->mode = (mode_t)(mode & 07777);
			e->size = size;
			if (!e->have_uid)
				e->uid = uid;
			if (!e->have_gid)
				e->gid = gid;
			if (!e->have_mtime)
				e->mtime = mtime;
			e->major = (unsigned)major;
			e->minor = (unsigned)minor;
			if (type != '0' && type != '\0' && type != '7' && size > 0 && type != '5') {
				/* only regular files carry data; skip anything else's */
				r = carve_err(err, -EBADMSG, "entry '%s': type '%c' with data",
					      e->name, type);
				goto out;
			}
			r = extract_entry(&x, &rd, e, err);
			if (r < 0)
				goto out;
			if (type == '5' && size > 0) {
				r = rd_skip(&rd, (size + BLOCK - 1) / BLOCK * BLOCK, err);
				if (r < 0)
					goto out;
			}
			stats.entries++;
			memset(e, 0, sizeof(*e));
		}
	}
	r = 0;
out:
	rd_close(&rd);
	free(x.buf);
	free(e);
	if (r >= 0 && ret_stats)
		*ret_stats = stats;
	return r;
}

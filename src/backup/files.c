/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Single files from a volume backup. At backup time the caller mounts the same snapshot's ext4
 * read-only; we walk it and record, per entry, its metadata and its extents in the image (FIEMAP
 * on a file of a loop-mounted filesystem reports fe_physical as the offset in the loop device,
 * i.e. in the raw image). Files whose data FIEMAP cannot place (inline data, encoded, tails) are
 * stored as their own blob. The index is a JSON blob chunk:
 *   {"entries":[{"p":"etc/passwd","t":"f","m":420,"u":0,"g":0,"s":1234,"mt":1700000000,
 *                "x":[[logical,physical,length],...] | "b":"<digest>" | "l":"target"}]}
 * Restore rebuilds a file from the chunks holding those image ranges, beneath a directory fd
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), never outside it.
 */
#define LOG_DOMAIN "backup"
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <jansson.h>

#include "backup/backup-internal.h"
#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"

#define INDEX_MAX_ENTRIES 4000000
#define INDEX_MAX_DEPTH 256

struct walk {
	struct backup_store *s;
	const struct bkey *k;
	uint64_t image_size;
	dev_t dev;
	json_t *entries;
	uint64_t n;
	struct backup_stats *st;
};

static json_t *file_extents(int fd, uint64_t size, uint64_t image_size, bool *ret_fallback)
{
	const unsigned batch = 256;
	cleanup_free struct fiemap *fm = NULL;
	json_t *x = json_array();
	uint64_t start = 0;
	bool last = false;

	*ret_fallback = false;
	fm = malloc(sizeof(*fm) + batch * sizeof(struct fiemap_extent));
	if (!fm || !x)
		goto fallback;
	while (!last && start < size) {
		memset(fm, 0, sizeof(*fm));
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_extent_count = batch;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0)
			goto fallback;
		if (fm->fm_mapped_extents == 0)
			break;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *fe = &fm->fm_extents[i];

			if (fe->fe_flags & FIEMAP_EXTENT_LAST)
				last = true;
			start = fe->fe_logical + fe->fe_length;
			if (fe->fe_flags & FIEMAP_EXTENT_UNWRITTEN)
				continue; /* reads as zeros: a hole on restore */
			if (fe->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
					    FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |
					    FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |
					    FIEMAP_EXTENT_DATA_TAIL) ||
			    fe->fe_physical + fe->fe_length > image_size)
				goto fallback;
			if (fe->fe_logical >= size)
				continue;
			json_array_append_new(x, json_pack("[III]", (json_int_t)fe->fe_logical,
							   (json_int_t)fe->fe_physical,
							   (json_int_t)fe->fe_length));
		}
	}
	return x;
fallback:
	json_decref(x);
	*ret_fallback = true;
	return NULL;
}

static int walk_dir(struct walk *w, int dfd, const char *prefix, unsigned depth)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	int fd, r;

	if (depth > INDEX_MAX_DEPTH)
		return -ELOOP;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		safe_close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		cleanup_free char *path = NULL;
		struct stat st;
		json_t *e;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (w->n >= INDEX_MAX_ENTRIES)
			return -E2BIG;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", de->d_name) < 0)
			return -ENOMEM;
		e = json_pack("{s:s,s:i,s:i,s:i,s:I,s:I}", "p", path, "m",
			      (int)(st.st_mode & 07777), "u", (int)st.st_uid, "g", (int)st.st_gid,
			      "s", (json_int_t)st.st_size, "mt", (json_int_t)st.st_mtime);
		if (!e)
			return -ENOMEM;
		json_array_append_new(w->entries, e);
		w->n++;
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int sub = -EBADF;

			json_object_set_new(e, "t", json_string("d"));
			if (st.st_dev != w->dev)
				continue; /* another filesystem mounted inside: not part of the
					     image */
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return -errno;
			r = walk_dir(w, sub, path, depth + 1);
			if (r < 0)
				return r;
		} else if (S_ISLNK(st.st_mode)) {
			char target[4097];
			ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

			if (n < 0)
				return -errno;
			target[n] = 0;
			json_object_set_new(e, "t", json_string("l"));
			json_object_set_new(e, "l", json_string(target));
		} else if (S_ISREG(st.st_mode)) {
			cleanup_close int f = -EBADF;
			bool fallback = false;
			json_t *x;

			json_object_set_new(e, "t", json_string("f"));
			if (st.st_size == 0)
				continue;
			f = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (f < 0)
				return -errno;
			x = file_extents(f, (uint64_t)st.st_size, w->image_size, &fallback);
			if (x) {
				json_object_set_new(e, "x", x);
				continue;
			}
			/* inline data and the like: the content as its own blob */
			if ((uint64_t)st.st_size <= CHUNK_RAW_MAX) {
				cleanup_free uint8_t *buf = malloc((size_t)st.st_size);
				uint8_t dg[32];
				char hex[65];
				ssize_t n;

				if (!buf)
					return -ENOMEM;
				n = loop_read(f, buf, (size_t)st.st_size);
				if (n != st.st_size)
					return n < 0 ? (int)n : -EIO;
				r = store_blob(w->s, w->k, buf, (size_t)n, dg, w->st);
				if (r < 0)
					return r;
				hex_encode(dg, 32, hex);
				json_object_set_new(e, "b", json_string(hex));
			}
		} else {
			json_object_set_new(e, "t", json_string("o"));
		}
	}
	return 0;
}

int file_index_build(struct backup_store *s, const struct bkey *k, const char *mount_path,
		     uint64_t image_size, char **ret_json, uint64_t *ret_n, struct backup_stats *st,
		     struct carve_error *err)
{
	struct walk w = {.s = s, .k = k, .image_size = image_size, .st = st};
	cleanup_close int fd = -EBADF;
	struct stat rst;
	json_t *root;
	int r;

	fd = open(mount_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &rst) < 0)
		return carve_err(err, -errno, "mount '%s': %m", mount_path);
	w.dev = rst.st_dev;
	w.entries = json_array();
	if (!w.entries)
		return carve_err(err, -ENOMEM, "mount '%s'", mount_path);
	r = walk_dir(&w, fd, "", 0);
	if (r < 0) {
		json_decref(w.entries);
		return carve_err(err, r, "mount '%s': walk: %s", mount_path, strerror(-r));
	}
	root = json_pack("{s:o}", "entries", w.entries);
	*ret_json = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!*ret_json)
		return carve_err(err, -ENOMEM, "mount '%s'", mount_path);
	*ret_n = w.n;
	return 0;
}

/* ---- reading the index back ---- */

static int index_load(struct backup_store *s, const char *id, const char *volume,
		      struct manifest **ret_m, const struct mvolume **ret_v,
		      const struct bkey **ret_k, json_t **ret_entries, struct carve_error *err)
{
	cleanup(manifest_freep) struct manifest *m = NULL;
	const struct mvolume *v = NULL;
	cleanup_free uint8_t *text = NULL;
	const char *reason = "";
	json_t *root, *entries;
	size_t len;
	int r;

	r = store_manifest_load(s, id, false, &m, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->n_volumes; i++)
		if (streq(m->volumes[i].name, volume))
			v = &m->volumes[i];
	if (!v)
		return carve_err(err, -ENOENT, "backup '%s': volume '%s': not in this backup", id,
				 volume ? volume : "");
	if (!v->has_index)
		return carve_err(err, -EOPNOTSUPP,
				 "backup '%s': volume '%s': no file index (not a container backup)",
				 id, volume);
	r = manifest_key(s, m, ret_k, err);
	if (r < 0)
		return r;
	r = store_blob_read(s, *ret_k, v->index_digest, &text, &len, &reason);
	if (r < 0)
		return carve_err(err, r, "backup '%s': volume '%s': file index: chunk %s", id,
				 volume, reason);
	root = json_loadb((const char *)text, len, 0, NULL);
	entries = json_object_get(root, "entries");
	if (!json_is_array(entries)) {
		json_decref(root);
		return carve_err(err, -EBADMSG, "backup '%s': volume '%s': file index: malformed",
				 id, volume);
	}
	json_incref(entries);
	json_decref(root);
	*ret_entries = entries;
	*ret_v = v;
	*ret_m = TAKE_PTR(m);
	return 0;
}

static enum backup_file_type type_from(const char *t)
{
	if (streq(t, "f"))
		return BACKUP_FILE_REGULAR;
	if (streq(t, "d"))
		return BACKUP_FILE_DIRECTORY;
	if (streq(t, "l"))
		return BACKUP_FILE_SYMLINK;
	return BACKUP_FILE_OTHER;
}

const char *backup_file_type_to_string(enum backup_file_type t)
{
	static const char *const names[] = {"file", "directory", "symlink", "other"};

	return t >= 0 && t < _BACKUP_FILE_TYPE_MAX ? names[t] : NULL;
}

void backup_file_array_free(struct backup_file *files, size_t n)
{
	for (size_t i = 0; files && i < n; i++) {
		free(files[i].path);
		free(files[i].link_target);
	}
	free(files);
}

static void entry_to_file(json_t *e, struct backup_file *f)
{
	const char *l = json_string_value(json_object_get(e, "l"));

	f->path = strdup(json_string_value(json_object_get(e, "p")));
	f->type = type_from(json_string_value(json_object_get(e, "t")));
	f->mode = (uint32_t)json_integer_value(json_object_get(e, "m"));
	f->uid = (uint32_t)json_integer_value(json_object_get(e, "u"));
	f->gid = (uint32_t)json_integer_value(json_object_get(e, "g"));
	f->size = (uint64_t)json_integer_value(json_object_get(e, "s"));
	f->mtime = (int64_t)json_integer_value(json_object_get(e, "mt"));
	f->link_target = l ? strdup(l) : NULL;
}

int backup_files_list(struct backup_store *s, const char *id, const char *volume, const char *dir,
		      struct backup_file **ret, size_t *ret_n, struct carve_error *err)
{
	cleanup(manifest_freep) struct manifest *m = NULL;
	const struct mvolume *v;
	const struct bkey *k;
	json_t *entries = NULL, *e;
	struct backup_file *files = NULL;
	char d[4096];
	size_t n = 0, i, dl;
	int r;

	while (dir && *dir == '/')
		dir++;
	strscpy(d, dir ? dir : "", sizeof(d));
	dl = strlen(d);
	while (dl > 0 && d[dl - 1] == '/')
		d[--dl] = 0;
	r = index_load(s, id, volume, &m, &v, &k, &entries, err);
	if (r < 0)
		return r;
	files = calloc(json_array_size(entries) + 1, sizeof(*files));
	if (!files) {
		json_decref(entries);
		return carve_err(err, -ENOMEM, "list");
	}
	json_array_foreach (entries, i, e) {
		const char *p = json_string_value(json_object_get(e, "p"));
		const char *rest;

		if (!p)
			continue;
		if (dl > 0) {
			if (strncmp(p, d, dl) != 0 || p[dl] != '/')
				continue;
			rest = p + dl + 1;
		} else
			rest = p;
		if (strchr(rest, '/'))
			continue;
		entry_to_file(e, &files[n++]);
	}
	json_decref(entries);
	if (n == 0 && dl > 0) {
		backup_file_array_free(files, 0);
		return carve_err(err, -ENOENT, "backup '%s': volume '%s': '%s': no such directory",
				 id, volume, d);
	}
	*ret = files;
	*ret_n = n;
	return 0;
}

static int openat2_beneath(int dfd, const char *name, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* Reject absolute paths, empty, "." and ".." components. */
static bool rel_path_valid(const char *p)
{
	const char *c = p;

	if (!p || !*p || *p == '/' || strlen(p) >= 4096)
		return false;
	while (*c) {
		const char *e = strchrnul(c, '/');
		size_t l = (size_t)(e - c);

		if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c = *e ? e + 1 : e;
		if (*e && !*c)
			return false; /* trailing slash */
	}
	return true;
}

struct chunk_cache {
	struct backup_store *s;
	const struct mvolume *v;
	const struct bkey *k;
	struct chunk_codec *codec;
	uint8_t *buf;
	size_t len;
	int64_t idx; /* cached chunk index, -1: none */
	const char *reason;
};

static const struct chunk_ref *find_ref(const struct mvolume *v, uint64_t off)
{
	size_t lo = 0, hi = v->n_chunks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v->chunks[mid].offset < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->n_chunks && v->chunks[lo].offset == off ? &v->chunks[lo] : NULL;
}

/* Copy image bytes [phys, phys+len) into out (zeros where no chunk). */
static int image_read(struct chunk_cache *c, uint64_t phys, uint8_t *out, size_t len,
		      uint64_t *ret_bad_off)
{
	while (len > 0) {
		uint64_t idx = phys / c->v->chunk_size, in = phys % c->v->chunk_size;
		size_t n = c->v->chunk_size - in < len ? c->v->chunk_size - in : len;
		const struct chunk_ref *ref = find_ref(c->v, idx * c->v->chunk_size);

		if (!ref) {
			memset(out, 0, n);
		} else {
			if (c->idx != (int64_t)idx) {
				int r = store_chunk_read(c->s, c->codec, c->k, ref->digest, c->buf,
							 c->v->chunk_size, &c->len, &c->reason);
				if (r < 0) {
					c->idx = -1;
					*ret_bad_off = ref->offset;
					return r;
				}
				c->idx = (int64_t)idx;
			}
			if (in + n > c->len) {
				c->reason = "short chunk";
				*ret_bad_off = ref->offset;
				return -EBADMSG;
			}
			memcpy(out, c->buf + in, n);
		}
		out += n;
		phys += n;
		len -= n;
	}
	return 0;
}

int backup_file_restore(struct backup_store *s, const char *id, const char *volume,
			const char *path, int dest_dir_fd, struct carve_error *err)
{
	cleanup(manifest_freep) struct manifest *m = NULL;
	const struct mvolume *v;
	const struct bkey *k;
	json_t *entries = NULL, *e, *found = NULL;
	struct chunk_cache cc = {.idx = -1};
	cleanup_close int parent = -EBADF, fd = -EBADF;
	char tmp[64], rnd[33], dir[4096];
	const char *base, *type;
	size_t i;
	int r;

	if (!rel_path_valid(path))
		return carve_err_field(err, -EINVAL, "path",
				       "path '%s': must be relative, without '.' or '..'",
				       path ? path : "");
	r = index_load(s, id, volume, &m, &v, &k, &entries, err);
	if (r < 0)
		return r;
	json_array_foreach (entries, i, e)
		if (streq(json_string_value(json_object_get(e, "p")), path)) {
			found = e;
			break;
		}
	if (!found) {
		json_decref(entries);
		return carve_err(err, -ENOENT, "backup '%s': volume '%s': '%s': not in the backup",
				 id, volume, path);
	}
	json_incref(found);
	json_decref(entries);
	type = json_string_value(json_object_get(found, "t"));
	if (!streq(type, "f") && !streq(type, "l")) {
		json_decref(found);
		return carve_err(err, -EISDIR,
				 "backup '%s': volume '%s': '%s': not a file or symlink", id,
				 volume, path);
	}

	/* parents, one component at a time, never through a symlink or out of dest_dir_fd */
	base = strrchr(path, '/');
	parent = openat2_beneath(dest_dir_fd, ".", O_PATH | O_DIRECTORY, 0);
	if (base) {
		char *c, *save = NULL;

		memcpy(dir, path, (size_t)(base - path));
		dir[base - path] = 0;
		base++;
		for (c = strtok_r(dir, "/", &save); c && parent >= 0;
		     c = strtok_r(NULL, "/", &save)) {
			int nfd;

			if (mkdirat(parent, c, 0755) < 0 && errno != EEXIST) {
				r = -errno;
				safe_close(parent);
				parent = r;
				break;
			}
			nfd = openat2_beneath(parent, c, O_PATH | O_DIRECTORY, 0);
			safe_close(parent);
			parent = nfd;
		}
	} else
		base = path;
	if (parent < 0) {
		r = parent;
		json_decref(found);
		return carve_err(err, r, "restore '%s': destination: %s", path,
				 r == -ELOOP || r == -EXDEV ? "symlink or escape refused"
							    : strerror(-r));
	}
	r = random_id(rnd);
	if (r < 0)
		goto out;
	snprintf(tmp, sizeof(tmp), ".carve-restore-%.12s", rnd);
	if (streq(type, "l")) {
		const char *target = json_string_value(json_object_get(found, "l"));

		if (!target || symlinkat(target, parent, tmp) < 0) {
			r = carve_err(err, -errno, "restore '%s': symlink: %m", path);
			goto out;
		}
	} else {
		uint64_t size = (uint64_t)json_integer_value(json_object_get(found, "s"));
		json_t *x = json_object_get(found, "x"), *ext;
		const char *blob = json_string_value(json_object_get(found, "b"));
		uint64_t bad_off = 0;
		struct timespec ts[2] = {};

		fd = openat2_beneath(parent, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0) {
			r = carve_err(err, fd, "restore '%s': create: %s", path, strerror(-fd));
			goto out;
		}
		cc.s = s;
		cc.v = v;
		cc.k = k;
		cc.codec = chunk_codec_new(1);
		cc.buf = malloc(v->chunk_size);
		if (!cc.codec || !cc.buf) {
			r = carve_err(err, -ENOMEM, "restore '%s'", path);
			goto out_unlink;
		}
		if (blob) {
			uint8_t dg[32], *data = NULL;
			size_t len = 0;
			const char *reason = "";

			if (hex_decode32(blob, dg) < 0 ||
			    (r = store_blob_read(s, k, dg, &data, &len, &reason)) < 0) {
				r = carve_err(err, r < 0 ? r : -EBADMSG,
					      "backup '%s': volume '%s': '%s': content chunk %s",
					      id, volume, path, reason);
				goto out_unlink;
			}
			r = loop_write(fd, data, len);
			free(data);
			if (r < 0) {
				carve_err(err, r, "restore '%s': write: %s", path, strerror(-r));
				goto out_unlink;
			}
		}
		json_array_foreach (x, i, ext) {
			uint64_t lo = (uint64_t)json_integer_value(json_array_get(ext, 0));
			uint64_t ph = (uint64_t)json_integer_value(json_array_get(ext, 1));
			uint64_t ln = (uint64_t)json_integer_value(json_array_get(ext, 2));

			if (lo >= size)
				continue;
			if (ln > size - lo)
				ln = size - lo;
			if (ph + ln > v->size) {
				r = carve_err(err, -EBADMSG,
					      "restore '%s': extent outside the volume", path);
				goto out_unlink;
			}
			while (ln > 0) {
				size_t n = ln < v->chunk_size ? (size_t)ln : v->chunk_size;
				cleanup_free uint8_t *piece = malloc(n);

				if (!piece) {
					r = carve_err(err, -ENOMEM, "restore '%s'", path);
					goto out_unlink;
				}
				r = image_read(&cc, ph, piece, n, &bad_off);
				if (r < 0) {
					r = carve_err(
						err, r,
						"backup '%s': volume '%s': offset %llu: chunk %s "
						"(restoring '%s')",
						id, volume, (unsigned long long)bad_off,
						cc.reason ? cc.reason : strerror(-r), path);
					goto out_unlink;
				}
				if (pwrite(fd, piece, n, (off_t)lo) != (ssize_t)n) {
					r = carve_err(err, -errno, "restore '%s': write: %m", path);
					goto out_unlink;
				}
				lo += n;
				ph += n;
				ln -= n;
			}
		}
		if (ftruncate(fd, (off_t)size) < 0 ||
		    fchmod(fd, (mode_t)json_integer_value(json_object_get(found, "m")) & 07777) <
			    0) {
			r = carve_err(err, -errno, "restore '%s': %m", path);
			goto out_unlink;
		}
		ts[0].tv_nsec = UTIME_OMIT;
		ts[1].tv_sec = (time_t)json_integer_value(json_object_get(found, "mt"));
		(void)futimens(fd, ts);
		if (fsync(fd) < 0) {
			r = carve_err(err, -errno, "restore '%s': fsync: %m", path);
			goto out_unlink;
		}
	}
	if (renameat(parent, tmp, parent, base) < 0) {
		r = carve_err(err, -errno, "restore '%s': rename: %m", path);
		goto out_unlink;
	}
	r = 0;
	goto out;
out_unlink:
	(void)unlinkat(parent, tmp, 0);
out:
	chunk_codec_free(cc.codec);
	free(cc.buf);
	json_decref(found);
	return r;
}

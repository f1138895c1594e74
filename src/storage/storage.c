/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "storage/storage-internal.h"

static const struct storage_driver_ops *const drivers[] = {
	&storage_driver_dir,
	&storage_driver_reflink,
};

int storage_pool_open(const char *driver, const char *name, const char *path,
		      struct storage_pool **ret, struct carve_error *err)
{
	const struct storage_driver_ops *ops = NULL;
	struct storage_pool *p;
	int r;

	r = parse_name(name, "pool", err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(drivers); i++)
		if (streq(drivers[i]->name, driver))
			ops = drivers[i];
	if (!ops)
		return carve_err(err, -EINVAL, "pool '%s': unknown driver '%.32s'", name,
				 driver ? driver : "");
	if (!path || !*path)
		return carve_err(err, -EINVAL, "pool '%s': path is empty", name);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->overcommit = 1.0;
	strscpy(p->name, name, sizeof(p->name));
	if (strscpy(p->path, path, sizeof(p->path)) < 0) {
		free(p);
		return carve_err(err, -ENAMETOOLONG, "pool '%s': path too long", name);
	}
	r = ops->init(p, err);
	if (r < 0) {
		free(p);
		carve_err_prefix(err, "pool '%s'", name);
		return r;
	}
	*ret = p;
	return 0;
}

struct storage_pool *storage_pool_free(struct storage_pool *p)
{
	free(p);
	return NULL;
}

const char *storage_pool_name(const struct storage_pool *p)
{
	return p->name;
}

const char *storage_pool_path(const struct storage_pool *p)
{
	return p->path;
}

int storage_pool_set_overcommit(struct storage_pool *p, double ratio)
{
	if (!(ratio > 0 && ratio <= 100))
		return -EINVAL;
	p->overcommit = ratio;
	return 0;
}

int storage_volume_path(const struct storage_pool *p, const char *volume, char *buf, size_t len)
{
	if (!name_is_valid(volume) && !id_is_valid(volume))
		return -EINVAL;
	if (p->ops->volume_path)
		return p->ops->volume_path(p, volume, buf, len);
	if ((size_t)snprintf(buf, len, "%s/%s", p->path, volume) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int storage_volume_exists(const struct storage_pool *p, const char *volume)
{
	char path[PATH_MAX];
	struct stat st;
	int r = storage_volume_path(p, volume, path, sizeof(path));

	if (r < 0)
		return r;
	return lstat(path, &st) == 0;
}

static int check_volume(const struct storage_pool *p, const char *volume, struct carve_error *err)
{
	if (!name_is_valid(volume) && !id_is_valid(volume))
		return carve_err(err, -EINVAL, "pool '%s': volume name '%.64s' is not valid",
				 p->name, volume);
	return 0;
}

#define CALL_OP(p, op, volume, err, ...)                                                       \
	({                                                                                     \
		int _r = check_volume(p, volume, err);                                         \
		if (_r >= 0) {                                                                 \
			if (!(p)->ops->op)                                                     \
				_r = carve_err(err, -EOPNOTSUPP,                               \
					       "pool '%s': driver '%s' does not support " #op, \
					       (p)->name, (p)->ops->name);                     \
			else                                                                   \
				_r = (p)->ops->op(__VA_ARGS__);                                \
		}                                                                              \
		_r;                                                                            \
	})

int storage_volume_create(struct storage_pool *p, const char *volume, uint64_t size,
			  struct carve_error *err)
{
	return CALL_OP(p, volume_create, volume, err, p, volume, size, err);
}

int storage_volume_clone_tree(struct storage_pool *p, const char *src_dir, const char *volume,
			      const struct storage_clone_opts *opts, struct carve_error *err)
{
	return CALL_OP(p, volume_clone_tree, volume, err, p, src_dir, volume, opts, err);
}

int storage_volume_snapshot(struct storage_pool *p, const char *volume, const char *snapshot,
			    struct carve_error *err)
{
	return CALL_OP(p, volume_snapshot, volume, err, p, volume, snapshot, err);
}

int storage_volume_resize(struct storage_pool *p, const char *volume, uint64_t size,
			  struct carve_error *err)
{
	return CALL_OP(p, volume_resize, volume, err, p, volume, size, 0, err);
}

int storage_volume_resize_raw(struct storage_pool *p, const char *volume, uint64_t size,
			      struct carve_error *err)
{
	return CALL_OP(p, volume_resize, volume, err, p, volume, size, STORAGE_RESIZE_RAW, err);
}

int storage_volume_destroy(struct storage_pool *p, const char *volume, struct carve_error *err)
{
	return CALL_OP(p, volume_destroy, volume, err, p, volume, err);
}

int storage_volume_usage(struct storage_pool *p, const char *volume, struct storage_usage *ret,
			 struct carve_error *err)
{
	return CALL_OP(p, volume_usage, volume, err, p, volume, ret, err);
}

int storage_volume_create_from_dir(struct storage_pool *p, const char *volume, uint64_t size,
				   const char *src_dir, struct carve_error *err)
{
	return CALL_OP(p, volume_create_from_dir, volume, err, p, volume, size, src_dir, err);
}

int storage_volume_clone(struct storage_pool *p, const char *src_volume, const char *volume,
			 struct carve_error *err)
{
	return CALL_OP(p, volume_clone, volume, err, p, src_volume, volume, err);
}

int storage_volume_rollback(struct storage_pool *p, const char *volume, const char *snapshot,
			    struct carve_error *err)
{
	return CALL_OP(p, volume_rollback, volume, err, p, volume, snapshot, err);
}

int storage_volume_snapshot_delete(struct storage_pool *p, const char *volume, const char *snapshot,
				   struct carve_error *err)
{
	return CALL_OP(p, snapshot_delete, volume, err, p, volume, snapshot, err);
}

int storage_volume_snapshot_frozen(struct storage_pool *p, const char *volume, const char *snapshot,
				   const char *mountpoint, struct carve_error *err)
{
	int r, k;

	r = check_volume(p, volume, err);
	if (r < 0)
		return r;
	r = storage_fs_freeze(mountpoint, err);
	if (r < 0) {
		carve_err_prefix(err, "volume '%s': snapshot '%.64s'", volume, snapshot);
		return r;
	}
	r = storage_volume_snapshot(p, volume, snapshot, err);
	/* a frozen filesystem blocks every writer: thaw whatever happened */
	k = storage_fs_thaw(mountpoint, r < 0 ? NULL : err);
	if (r >= 0 && k < 0) {
		carve_err_prefix(err, "volume '%s': snapshot '%s'", volume, snapshot);
		return k;
	}
	return r;
}

int storage_pool_usage(struct storage_pool *p, struct storage_pool_usage *ret,
		       struct carve_error *err)
{
	if (!p->ops->pool_usage)
		return carve_err(err, -EOPNOTSUPP, "pool '%s': driver '%s' does not report usage",
				 p->name, p->ops->name);
	return p->ops->pool_usage(p, ret, err);
}

int storage_tree_allocated(int dfd, uint64_t *total)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		safe_close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		*total += (uint64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int sub =
				openat(dirfd(d), de->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				(void)storage_tree_allocated(sub, total);
		}
	}
	return 0;
}

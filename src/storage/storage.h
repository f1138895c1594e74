/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Storage: pools hold volumes; a driver (ops table, like LXC's bdevs[]) implements them for one
 * kind of backing store. A volume is named by a validated name (carved uses the server id) and
 * lives at a path the driver reports.
 *
 * Drivers:
 *   dir  - a volume is a directory tree under <pool>/<volume>/. Clone copies a source tree,
 *          shifting every owner uid/gid by a base (so an unprivileged container's root owns its
 *          files). Not thin, no hard size limit, no snapshots: the transitional driver until
 *          loop-backed volumes on a reflink pool land (see docs/architecture.md).
 *
 * struct storage_pool is owned by its creator. Progress callbacks run on the caller's thread.
 * Nothing here logs above debug. Thread-safe as long as two calls do not act on the same volume.
 */
#ifndef CARVE_STORAGE_H
#define CARVE_STORAGE_H

#include <stdint.h>
#include <sys/types.h>
#include "base/err.h"

struct storage_pool;

/* Called with bytes done so far and the total; return < 0 to cancel. */
typedef int (*storage_progress_fn)(uint64_t done, uint64_t total, void *userdata);

struct storage_clone_opts {
	uid_t uid_shift;      /* added to every uid in the copy (0: none) */
	gid_t gid_shift;
	uint32_t id_range;    /* source ids must be below this (65536) */
	storage_progress_fn progress;
	void *userdata;
};

struct storage_usage {
	uint64_t provisioned; /* bytes promised (0: unbounded, dir driver) */
	uint64_t used;        /* bytes really allocated */
};

struct storage_driver_ops {
	const char *name;
	int (*init)(struct storage_pool *pool, struct carve_error *err);
	int (*volume_create)(struct storage_pool *pool, const char *volume, uint64_t size,
			     struct carve_error *err);
	/* New volume as a copy of a directory tree (a template's root). */
	int (*volume_clone_tree)(struct storage_pool *pool, const char *src_dir,
				 const char *volume, const struct storage_clone_opts *opts,
				 struct carve_error *err);
	int (*volume_snapshot)(struct storage_pool *pool, const char *volume,
			       const char *snapshot, struct carve_error *err);
	int (*volume_resize)(struct storage_pool *pool, const char *volume, uint64_t size,
			     struct carve_error *err);
	int (*volume_destroy)(struct storage_pool *pool, const char *volume,
			      struct carve_error *err);
	int (*volume_usage)(struct storage_pool *pool, const char *volume,
			    struct storage_usage *ret, struct carve_error *err);
};

/* Open (creating if needed) a pool of the named driver at path. */
int storage_pool_open(const char *driver, const char *name, const char *path,
		      struct storage_pool **ret, struct carve_error *err);
struct storage_pool *storage_pool_free(struct storage_pool *p);
const char *storage_pool_name(const struct storage_pool *p);
const char *storage_pool_path(const struct storage_pool *p);

/* Where the volume's root lives ("<pool>/<volume>"); -ENAMETOOLONG if it does not fit. */
int storage_volume_path(const struct storage_pool *p, const char *volume, char *buf, size_t len);

int storage_volume_create(struct storage_pool *p, const char *volume, uint64_t size,
			  struct carve_error *err);
int storage_volume_clone_tree(struct storage_pool *p, const char *src_dir, const char *volume,
			      const struct storage_clone_opts *opts, struct carve_error *err);
int storage_volume_snapshot(struct storage_pool *p, const char *volume, const char *snapshot,
			    struct carve_error *err);
int storage_volume_resize(struct storage_pool *p, const char *volume, uint64_t size,
			  struct carve_error *err);
int storage_volume_destroy(struct storage_pool *p, const char *volume, struct carve_error *err);
int storage_volume_usage(struct storage_pool *p, const char *volume, struct storage_usage *ret,
			 struct carve_error *err);
/* Whether the volume exists. */
int storage_volume_exists(const struct storage_pool *p, const char *volume);

/* Copy a directory tree (used by the dir driver; exported for tests). Hard links, symlinks,
 * modes incl. setuid, timestamps and FIFOs are kept; device nodes and sockets are skipped; every
 * owner id is shifted; ids at or above id_range are refused (-EOVERFLOW). */
int storage_copy_tree(const char *src, const char *dst, const struct storage_clone_opts *opts,
		      struct carve_error *err);

#endif

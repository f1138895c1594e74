/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CARVE_STORAGE_INTERNAL_H
#define CARVE_STORAGE_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include "storage/storage.h"

struct storage_pool {
	const struct storage_driver_ops *ops;
	char name[64];
	char path[PATH_MAX];
	double overcommit;
};

extern const struct storage_driver_ops storage_driver_dir;

/* Bytes allocated (st_blocks) by everything below the directory dfd, not following symlinks;
 * entries that vanish or cannot be read are skipped: an estimate for usage and sizing. */
int storage_tree_allocated(int dfd, uint64_t *total);
extern const struct storage_driver_ops storage_driver_reflink;

/* mkfs.c: run a tool found in the sbin/bin directories with stdin from /dev/null; its output
 * (tail, one line) lands in out. Returns the exit status (>= 0) or -errno (err set). */
int storage_run(char *const argv[], char *out, size_t out_len, struct carve_error *err);
bool storage_tool_exists(const char *name);
int storage_mkfs_xfs(const char *path, struct carve_error *err);
/* src_dir NULL: empty filesystem. -ENOSPC when the tree does not fit. */
int storage_mkfs_ext4(const char *path, const char *src_dir, struct carve_error *err);
/* resize2fs target (a file or device) to its size; offline (mounted false) checks it first. */
int storage_ext4_grow(const char *target, bool mounted, struct carve_error *err);

/* driver-reflink.c: the mount at path from /proc/self/mountinfo. 0: not a mount point. */
int storage_mount_find(const char *path, char *ret_source, size_t source_len, char *ret_fstype,
		       size_t fstype_len);

#endif

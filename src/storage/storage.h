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
 *   reflink - the pool is a directory on a filesystem with reflinks (XFS reflink=1 or btrfs; the
 *          embedded default is a sparse XFS image loop-mounted at the pool path, see
 *          storage_pool_open_image). A volume is a sparse raw file "<pool>/volumes/<v>.raw"
 *          holding ext4 (hard size limit, thin, growable); clones and snapshots
 *          ("<pool>/snapshots/<v>/<s>.raw") are FICLONE copies: constant time. Provisioning past
 *          physical size * overcommit ratio is refused with -ENOSPC. A container's volume is
 *          attached (loop device, direct I/O) and mounted by storage_volume_attach.
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
struct storage_pool_usage;

/* Called with bytes done so far and the total; return < 0 to cancel. */
typedef int (*storage_progress_fn)(uint64_t done, uint64_t total, void *userdata);

struct storage_clone_opts {
	uid_t uid_shift; /* added to every uid in the copy (0: none) */
	gid_t gid_shift;
	uint32_t id_range; /* source ids must be below this (65536) */
	storage_progress_fn progress;
	void *userdata;
};

struct storage_usage {
	uint64_t provisioned; /* bytes promised (0: unbounded, dir driver) */
	uint64_t used; /* bytes really allocated */
};

struct storage_pool_usage {
	uint64_t physical; /* size of the pool's filesystem */
	uint64_t allocated; /* bytes in use on it */
	uint64_t provisioned; /* sum of the volumes' sizes (snapshots not counted) */
	uint64_t volumes;
	double overcommit; /* provisioned may reach physical * overcommit */
};

struct storage_driver_ops {
	const char *name;
	int (*init)(struct storage_pool *pool, struct carve_error *err);
	int (*volume_create)(struct storage_pool *pool, const char *volume, uint64_t size,
			     struct carve_error *err);
	/* New volume as a copy of a directory tree (a template's root). */
	int (*volume_clone_tree)(struct storage_pool *pool, const char *src_dir, const char *volume,
				 const struct storage_clone_opts *opts, struct carve_error *err);
	int (*volume_snapshot)(struct storage_pool *pool, const char *volume, const char *snapshot,
			       struct carve_error *err);
	/* flags: STORAGE_RESIZE_RAW */
	int (*volume_resize)(struct storage_pool *pool, const char *volume, uint64_t size,
			     unsigned flags, struct carve_error *err);
	int (*volume_destroy)(struct storage_pool *pool, const char *volume,
			      struct carve_error *err);
	int (*volume_usage)(struct storage_pool *pool, const char *volume,
			    struct storage_usage *ret, struct carve_error *err);
	/* Optional (NULL: "<pool>/<volume>"). */
	int (*volume_path)(const struct storage_pool *pool, const char *volume, char *buf,
			   size_t len);
	int (*volume_create_from_dir)(struct storage_pool *pool, const char *volume, uint64_t size,
				      const char *src_dir, struct carve_error *err);
	int (*volume_clone)(struct storage_pool *pool, const char *src_volume, const char *volume,
			    struct carve_error *err);
	int (*volume_rollback)(struct storage_pool *pool, const char *volume, const char *snapshot,
			       struct carve_error *err);
	int (*snapshot_delete)(struct storage_pool *pool, const char *volume, const char *snapshot,
			       struct carve_error *err);
	int (*pool_usage)(struct storage_pool *pool, struct storage_pool_usage *ret,
			  struct carve_error *err);
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
/* Grow the volume to size, and the ext4 in it when it holds one (a container's root or data
 * volume: resize2fs offline, or online when it is attached). */
int storage_volume_resize(struct storage_pool *p, const char *volume, uint64_t size,
			  struct carve_error *err);
/* Grow the volume's file only, never looking inside: a VM's disk, whose blocks its guest
 * writes. The host runs no filesystem tool on guest-controlled bytes (e2fsck and resize2fs
 * would parse whatever the guest put there, as root, and a running guest's filesystem would be
 * written under it); the guest grows its own partitions and filesystems (cloud-init's growpart
 * does). */
#define STORAGE_RESIZE_RAW 1u
int storage_volume_resize_raw(struct storage_pool *p, const char *volume, uint64_t size,
			      struct carve_error *err);
int storage_volume_destroy(struct storage_pool *p, const char *volume, struct carve_error *err);
int storage_volume_usage(struct storage_pool *p, const char *volume, struct storage_usage *ret,
			 struct carve_error *err);
/* Whether the volume exists. */
int storage_volume_exists(const struct storage_pool *p, const char *volume);

/* --- reflink pools ------------------------------------------------------------------------------
 */

/* The embedded default: a sparse XFS image (mkfs.xfs -m reflink=1; created with size when missing)
 * attached to a loop device (direct I/O, autoclear: it detaches itself when unmounted) and mounted
 * at path, then opened as a "reflink" pool. Idempotent, for every carved start: a mount of the
 * image already at path is reused; a loop device still backed by the image is mounted again. */
int storage_pool_open_image(const char *name, const char *path, const char *image, uint64_t size,
			    struct storage_pool **ret, struct carve_error *err);
/* Unmount path (if mounted) and detach every loop device backed by image. Volumes must be
 * detached first (-EBUSY). Idempotent; needs no open pool (reconcile, tests). */
int storage_pool_image_teardown(const char *path, const char *image, struct carve_error *err);

/* Admission control: provisioned sizes may reach physical * ratio (default 1.0). -EINVAL if
 * ratio is not in (0, 100]. */
int storage_pool_set_overcommit(struct storage_pool *p, double ratio);
/* Whether `more` bytes may still be provisioned (-ENOSPC naming the pool, the size and what is
 * left otherwise). An early answer for the API; create, clone and grow check again under the
 * pool's lock. */
int storage_pool_admit(struct storage_pool *p, uint64_t more, struct carve_error *err);
int storage_pool_usage(struct storage_pool *p, struct storage_pool_usage *ret,
		       struct carve_error *err);

/* New volume of size bytes holding ext4 populated from src_dir (mkfs.ext4 -d; owners, modes and
 * xattrs kept): a template's volume. -ENOSPC with a message when the tree does not fit. */
int storage_volume_create_from_dir(struct storage_pool *p, const char *volume, uint64_t size,
				   const char *src_dir, struct carve_error *err);
/* New volume as a reflink copy of another (constant time): a server from a template. */
int storage_volume_clone(struct storage_pool *p, const char *src_volume, const char *volume,
			 struct carve_error *err);
/* New volume as a reflink copy of a snapshot of another volume (constant time). */
int storage_volume_clone_snapshot(struct storage_pool *p, const char *src_volume,
				  const char *snapshot, const char *volume,
				  struct carve_error *err);
/* storage_volume_snapshot with the filesystem mounted at mountpoint frozen (FIFREEZE) around the
 * copy, so the snapshot is consistent; always thawed, on every path. */
int storage_volume_snapshot_frozen(struct storage_pool *p, const char *volume, const char *snapshot,
				   const char *mountpoint, struct carve_error *err);
/* Replace the volume's contents by the snapshot's (atomic rename); -EBUSY while attached. */
int storage_volume_rollback(struct storage_pool *p, const char *volume, const char *snapshot,
			    struct carve_error *err);
int storage_volume_snapshot_delete(struct storage_pool *p, const char *volume, const char *snapshot,
				   struct carve_error *err);
int storage_volume_snapshot_path(const struct storage_pool *p, const char *volume,
				 const char *snapshot, char *buf, size_t len);

#define STORAGE_ATTACH_READ_ONLY (1u << 0)
/* Attach the volume to a loop device (direct I/O, autoclear) and mount its ext4 at mountpoint
 * (nodev; as host root: the runtime hands it to the container through an idmapped mount). The
 * device node ("/dev/loopN") goes to ret_devnode if non-NULL. -EBUSY if already attached. */
int storage_volume_attach(struct storage_pool *p, const char *volume, const char *mountpoint,
			  unsigned flags, char *ret_devnode, size_t devnode_len,
			  struct carve_error *err);
/* Unmount mountpoint (if mounted there) and detach every loop device backed by the volume.
 * Idempotent. */
int storage_volume_detach(struct storage_pool *p, const char *volume, const char *mountpoint,
			  struct carve_error *err);
/* Grow a mounted (or attached) ext4 to its loop device's backing file size: LOOP_SET_CAPACITY,
 * then resize2fs online. storage_volume_resize calls it for attached volumes. */
int storage_fs_grow(const char *devnode, struct carve_error *err);
/* Give a mounted filesystem's free space back to its device: FITRIM over the whole filesystem
 * (minlen 0), as fstrim does; a loop device turns the discards into holes punched in its backing
 * file. The bytes the filesystem reports trimmed (its free space it discarded, not what the file
 * really lost) go to ret_trimmed if non-NULL. -EOPNOTSUPP with a clear message where the
 * filesystem or the device has no discard. Safe on a filesystem in use; a frozen one makes it
 * wait for the thaw, so callers keep it away from snapshots. */
int storage_fs_trim(const char *mountpoint, uint64_t *ret_trimmed, struct carve_error *err);
/* storage_fs_trim of the volume's ext4 mounted at mountpoint; -ENOTCONN unless mountpoint is
 * mounted from the volume's own loop device. Follow it with storage_pool_trim: the holes it
 * punches free pool blocks that only the pool's trim gives back to the host. */
int storage_volume_trim(struct storage_pool *p, const char *volume, const char *mountpoint,
			uint64_t *ret_trimmed, struct carve_error *err);
/* storage_fs_trim of the pool's filesystem (the embedded XFS image's mount, or the filesystem
 * holding a directory pool). */
int storage_pool_trim(struct storage_pool *p, uint64_t *ret_trimmed, struct carve_error *err);
int storage_fs_freeze(const char *mountpoint, struct carve_error *err);
int storage_fs_thaw(const char *mountpoint, struct carve_error *err);

/* Copy a directory tree (used by the dir driver; exported for tests). Hard links, symlinks,
 * modes incl. setuid, timestamps and FIFOs are kept; device nodes and sockets are skipped; every
 * owner id is shifted; ids at or above id_range are refused (-EOVERFLOW). */
int storage_copy_tree(const char *src, const char *dst, const struct storage_clone_opts *opts,
		      struct carve_error *err);

/* --- template archives (tar.c) -------------------------------------------------------------- */

struct storage_tar_stats {
	uint64_t entries, files, dirs, symlinks, hardlinks;
	uint64_t bytes; /* file bytes written */
	uint64_t skipped_devices; /* harmless device nodes not created (null, zero, tty, ...) */
	uint64_t skipped_xattrs; /* pax xattr/ACL records not restored */
};

/*
 * Extract an untrusted tar archive (plain or zstd-compressed; ustar, GNU and pax) read from tar_fd
 * into the directory root_fd (opened O_RDONLY | O_DIRECTORY, on the filesystem that receives the
 * tree). Refused, with the entry named: absolute names and ".." components, any path through a
 * symlink, hard links out of the tree, device nodes other than the harmless ones (skipped), owners
 * outside 0..65535, file bytes past max_bytes (-EFBIG), unknown entry types. Nothing is ever
 * created outside root_fd's filesystem; on failure the partial tree is the caller's to remove.
 * progress gets compressed bytes read and the file's size.
 */
int storage_tar_extract(int tar_fd, int root_fd, uint64_t max_bytes, storage_progress_fn progress,
			void *userdata, struct storage_tar_stats *ret_stats,
			struct carve_error *err);
/* Clean an archive member name into out: "./a//b/" -> "a/b", "." -> "". -EPERM for an absolute
 * name or a ".." component, -ENAMETOOLONG if it does not fit (the message does not repeat the
 * name: callers prefix it). */
int storage_tar_path_clean(const char *in, char *out, size_t len, struct carve_error *err);

#endif

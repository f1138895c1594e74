/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backup: content-addressed, deduplicated, incremental backups of whole servers into a store
 * directory. A store holds config (format, chunk size, random store id), chunks/ab/<name>
 * (fixed-size pieces of volume images, zstd-compressed, optionally AES-256-GCM encrypted; the
 * name is SHA-256 of the plaintext, or HMAC-SHA256 with the tenant's key when encrypted),
 * backups/<id>.json (one manifest per complete backup; <id>.partial.json while one runs),
 * locks/<id>.lock (flocked by the running backup), bad/ (chunks verify found corrupt).
 * Every file is written to a temp name, made durable and renamed (manifests and config each with
 * an fsync; new chunks in batches, one syncfs before a batch is renamed), so a crash at any
 * point leaves a store that verifies clean. Keys are given by the caller and never stored; a
 * manifest names its key by an id derived from key and store id.
 *
 * struct backup_store is owned by its opener; one handle is used by one thread at a time (a
 * backup runs its own worker threads inside). Several processes may use one store at once: GC
 * never deletes chunks a running backup references or may still reference. Nothing here logs
 * above debug, prints or exits. Input volumes are sparse raw images (snapshots, not written to).
 */
#ifndef CARVE_BACKUP_H
#define CARVE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/err.h"

#define BACKUP_KEY_SIZE 32
#define BACKUP_ID_MAX 64 /* ids are [A-Za-z0-9_-], at most 63 characters */
#define BACKUP_KEY_ID_MAX 17 /* 16 hex characters + NUL */
#define BACKUP_CHUNK_SIZE_DEFAULT (4u << 20)

struct backup_store;

/* Called with bytes done so far and the total; return < 0 to cancel (the call fails with it). */
typedef int (*backup_progress_fn)(uint64_t done, uint64_t total, void *userdata);

struct backup_store_opts {
	uint32_t chunk_size; /* for a new store: 64 KiB .. 64 MiB, power of two (0: 4 MiB) */
	int compression_level; /* zstd level 1..19 (0: 1) */
};

/* Open the store at path; with create, make it (and the directory) if it does not exist. */
int backup_store_open(const char *path, bool create, const struct backup_store_opts *opts,
		      struct backup_store **ret, struct carve_error *err);
struct backup_store *backup_store_free(struct backup_store *s);
uint32_t backup_store_chunk_size(const struct backup_store *s);

/* Make a tenant key known to this handle (for restore, verify, file listing of backups made with
 * it). ret_key_id (optional) receives the id manifests record. */
int backup_store_add_key(struct backup_store *s, const uint8_t key[BACKUP_KEY_SIZE],
			 char ret_key_id[BACKUP_KEY_ID_MAX]);

struct backup_stats {
	uint64_t bytes_total; /* sum of the volumes' sizes */
	uint64_t bytes_read; /* read from the snapshots (unchanged extents are not read) */
	uint64_t bytes_written; /* written into the store (compressed, headers included) */
	uint64_t chunks_total; /* non-zero chunks in the new backup */
	uint64_t chunks_new; /* written by this backup */
	uint64_t chunks_reused; /* unchanged since the previous backup (FIEMAP), not read */
	uint64_t chunks_dedup; /* read, but already in the store */
	uint64_t chunks_zero; /* all-zero or holes: not stored */
	uint64_t files_indexed;
};

struct backup_volume_source {
	const char *name; /* "root": [A-Za-z0-9_.-], unique within a backup */
	const char *snapshot_path; /* the raw image to read */
	/* Optional: the previous backup's snapshot of this volume, still on disk: extents that
	 * both files share (reflink) reuse the previous digest without being read. */
	const char *prev_snapshot_path;
	/* Optional: a read-only mount of the same snapshot's ext4 (loop, same image): a file index
	 * is recorded so single files can be listed and restored later. */
	const char *mount_path;
};

struct backup_create_opts {
	const char *server_id; /* what prune groups by */
	const char *config_json; /* the server's configuration, stored with the backup (nullable) */
	const uint8_t *key; /* BACKUP_KEY_SIZE bytes: encrypt with it; NULL: no encryption */
	const char *prev_backup_id; /* incremental: the backup prev_snapshot_path belongs to */
	unsigned threads; /* hash/compress workers (0: 2) */
	int64_t now; /* created_at (0: time(NULL)); tests set it */
	backup_progress_fn progress;
	void *userdata;
};

/* Back up the volumes. ret_id (BACKUP_ID_MAX) receives the new backup's id. */
int backup_create(struct backup_store *s, const struct backup_create_opts *opts,
		  const struct backup_volume_source *volumes, size_t n_volumes, char *ret_id,
		  struct backup_stats *ret_stats, struct carve_error *err);

struct backup_volume_info {
	char *name;
	uint64_t size;
	uint32_t chunk_size;
	uint64_t chunks; /* non-zero chunks */
	bool has_index; /* single files can be listed */
};

struct backup_info {
	char id[BACKUP_ID_MAX];
	char *server_id;
	int64_t created_at;
	bool encrypted;
	char key_id[BACKUP_KEY_ID_MAX];
	struct backup_volume_info *volumes;
	size_t n_volumes;
	struct backup_stats stats;
};

void backup_info_release(struct backup_info *info);
void backup_info_array_free(struct backup_info *infos, size_t n);

/* Complete backups, oldest first (partial ones are never listed). */
int backup_list(struct backup_store *s, struct backup_info **ret, size_t *ret_n,
		struct carve_error *err);
int backup_get(struct backup_store *s, const char *id, struct backup_info *ret,
	       struct carve_error *err);
/* The server configuration stored with the backup (NULL if none was given). */
int backup_config_get(struct backup_store *s, const char *id, char **ret_json,
		      struct carve_error *err);
/* Remove a backup's manifest; its chunks go at the next GC. */
int backup_delete(struct backup_store *s, const char *id, struct carve_error *err);

/* Restore a volume into a new sparse file at dest_path (temp name, then renamed over dest_path:
 * on failure an existing file there stays). Every chunk is verified on the way. */
int backup_restore_volume(struct backup_store *s, const char *id, const char *volume,
			  const char *dest_path, backup_progress_fn progress, void *userdata,
			  struct carve_error *err);

/* A local copy of the volume as an earlier backup saw it: carved keeps the snapshot of each
 * server's last backup for incrementals. */
struct backup_restore_base {
	const char *path; /* the snapshot image */
	const char *backup_id; /* the backup made from it, in the same store */
};

struct backup_restore_stats {
	bool base_used; /* the file started as a reflink clone of the base */
	uint64_t chunks_fetched; /* read from the store */
	uint64_t chunks_from_base; /* kept from the clone, its digest checked */
	uint64_t chunks_base_mismatch; /* the manifests agree but the base's data did not */
	uint64_t bytes_written; /* into the file */
};

/* backup_restore_volume with an optional base: the file starts as a reflink clone of
 * base->path, and only chunks whose digest differs from that of base->backup_id's manifest, or
 * whose data on the clone does not hash to it, are fetched from the store. Every chunk of the
 * result is checked against the manifest's digest either way. Without a usable base (missing,
 * another size than its backup recorded, no reflink there) it restores from the store. */
int backup_restore_volume_ex(struct backup_store *s, const char *id, const char *volume,
			     const char *dest_path, const struct backup_restore_base *base,
			     struct backup_restore_stats *ret_stats, backup_progress_fn progress,
			     void *userdata, struct carve_error *err);

enum backup_file_type {
	BACKUP_FILE_REGULAR,
	BACKUP_FILE_DIRECTORY,
	BACKUP_FILE_SYMLINK,
	BACKUP_FILE_OTHER, /* devices, fifos, sockets: listed, not restored */
	_BACKUP_FILE_TYPE_MAX,
	_BACKUP_FILE_TYPE_INVALID = -EINVAL,
};

const char *backup_file_type_to_string(enum backup_file_type t);

struct backup_file {
	char *path; /* relative to the volume's root, no leading '/' */
	enum backup_file_type type;
	uint32_t mode; /* permission bits */
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime;
	char *link_target; /* symlinks */
};

void backup_file_array_free(struct backup_file *files, size_t n);

/* The entries directly inside dir ("" or "/" for the root) of a volume's file index. */
int backup_files_list(struct backup_store *s, const char *id, const char *volume, const char *dir,
		      struct backup_file **ret, size_t *ret_n, struct carve_error *err);

/* Restore one regular file or symlink at path (relative to the volume's root; absolute paths,
 * "." and ".." components are refused) to the same relative path beneath dest_dir_fd, creating
 * parent directories. Never leaves dest_dir_fd: symlinks and ".." in the destination are refused
 * (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). An existing file there is replaced atomically.
 */
int backup_file_restore(struct backup_store *s, const char *id, const char *volume,
			const char *path, int dest_dir_fd, struct carve_error *err);

struct backup_bad_ref {
	char backup_id[BACKUP_ID_MAX];
	char *volume; /* NULL for the config or file index blob */
	uint64_t offset;
	char chunk[65];
	char *reason; /* "missing", "truncated", "digest mismatch", ... */
};

struct backup_verify_report {
	uint64_t backups;
	uint64_t chunks_checked;
	uint64_t bytes_checked; /* plaintext bytes re-hashed */
	uint64_t chunks_bad; /* distinct chunks */
	struct backup_bad_ref
		*bad; /* one per (backup, volume, offset) that references a bad chunk */
	size_t n_bad;
};

void backup_verify_report_release(struct backup_verify_report *r);

/* Re-hash every chunk referenced by backup id (NULL: all backups). Bad chunks are moved to
 * <store>/bad/ so later backups store them anew. Returns 0 even when bad chunks were found
 * (see ret->n_bad); < 0 when the check itself could not run. Encrypted backups whose key was
 * not added are reported with reason "key not available" and not moved. */
int backup_verify(struct backup_store *s, const char *id, struct backup_verify_report *ret,
		  struct carve_error *err);

struct backup_prune_policy {
	unsigned keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
};

/* Apply policy to the complete backups of server_id (created_at in UTC); removes the others'
 * manifests. ret_removed (optional): NULL-terminated ids removed. With dry_run nothing is
 * removed. A policy keeping nothing is refused (-EINVAL). */
int backup_prune(struct backup_store *s, const char *server_id,
		 const struct backup_prune_policy *policy, bool dry_run, char ***ret_removed,
		 struct carve_error *err);

/* Pure policy: of n backups with the given created_at times, which to keep (keep[i]). */
int backup_prune_select(const int64_t *created_at, size_t n,
			const struct backup_prune_policy *policy, bool *keep);

struct backup_gc_stats {
	uint64_t chunks_total;
	uint64_t chunks_removed;
	uint64_t bytes_removed;
	uint64_t chunks_kept_recent; /* unreferenced, but young enough that a running backup may use
					them */
	uint64_t partials_removed; /* stale partial manifests of dead backups */
	uint64_t temp_removed;
	uint64_t running_backups;
};

/* Mark (complete manifests + partial manifests of running backups) and sweep. Unreferenced
 * chunks modified after the oldest running backup started (less a slack) are kept. */
int backup_gc(struct backup_store *s, struct backup_gc_stats *ret, struct carve_error *err);

/* The bytes (and number) of distinct chunk files the listed backups reference, each counted once
 * (what these backups occupy in the store; missing manifests count nothing). */
int backup_usage(struct backup_store *s, const char *const *ids, size_t n_ids, uint64_t *ret_bytes,
		 uint64_t *ret_chunks, struct carve_error *err);

#endif

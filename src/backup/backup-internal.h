/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the backup module's files: the chunk codec (header, zstd, AES-256-GCM),
 * manifests (parse/format, also used by the fuzzer) and the store handle.
 */
#ifndef CARVE_BACKUP_INTERNAL_H
#define CARVE_BACKUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include "backup/backup.h"

#define CHUNK_MAGIC "CVC1"
#define CHUNK_FLAG_COMPRESSED 0x01u
#define CHUNK_FLAG_ENCRYPTED 0x02u
#define CHUNK_HDR_PLAIN 12
#define CHUNK_NONCE_SIZE 12
#define CHUNK_TAG_SIZE 16
#define CHUNK_HDR_ENC (CHUNK_HDR_PLAIN + CHUNK_NONCE_SIZE + CHUNK_TAG_SIZE)
#define CHUNK_RAW_MAX (1u << 30) /* blobs (file index) may exceed the chunk size */
#define MANIFEST_MAX (512u << 20)
#define MANIFEST_FORMAT 1

struct chunk_hdr {
	uint8_t flags;
	uint32_t raw_len;
	size_t hdr_len;
	const uint8_t *nonce, *tag;
};

/* Parse and validate a chunk header from a chunk file's first bytes. */
int chunk_header_parse(const uint8_t *buf, size_t len, struct chunk_hdr *ret);

struct bkey {
	bool set;
	uint8_t enc_key[32];
	uint8_t mac_key[32];
	char id[BACKUP_KEY_ID_MAX];
};

void bkey_derive(const uint8_t key[BACKUP_KEY_SIZE], const char *store_id, struct bkey *ret);
/* The chunk name of raw data: SHA-256, or HMAC-SHA256 with the key's name key. */
void chunk_digest(const struct bkey *k, const void *data, size_t len, uint8_t ret[32]);

struct chunk_codec; /* per thread: zstd contexts and scratch buffers */
struct chunk_codec *chunk_codec_new(int level);
struct chunk_codec *chunk_codec_free(struct chunk_codec *c);
/* The codec's buffer for a chunk file's bytes, at least n of them (NULL: out of memory); reused
 * from chunk to chunk so reading a chunk allocates nothing. */
uint8_t *chunk_codec_file_buf(struct chunk_codec *c, size_t n);
/* Encode raw into the codec's scratch buffer; *ret points into it until the next call. */
int chunk_encode(struct chunk_codec *c, const struct bkey *k, const uint8_t digest[32],
		 const void *raw, size_t len, const uint8_t **ret, size_t *ret_len);
/* Decode a chunk file's bytes into out (cap bytes) and check it against digest. -EBADMSG: bad
 * header or digest mismatch, -EKEYREJECTED: authentication failed, -ENOKEY: no key. */
int chunk_decode(struct chunk_codec *c, const struct bkey *k, const uint8_t digest[32],
		 const uint8_t *data, size_t len, uint8_t *out, size_t cap, size_t *ret_len,
		 const char **ret_reason);

struct chunk_ref {
	uint64_t offset;
	uint8_t digest[32];
};

struct mvolume {
	char *name;
	uint64_t size;
	uint32_t chunk_size;
	struct chunk_ref *chunks; /* ascending offsets */
	size_t n_chunks;
	bool has_index;
	uint8_t index_digest[32];
};

struct manifest {
	char id[BACKUP_ID_MAX];
	char *server_id;
	int64_t created_at;
	bool complete;
	bool encrypted;
	char key_id[BACKUP_KEY_ID_MAX];
	bool has_config;
	uint8_t config_digest[32];
	struct mvolume *volumes;
	size_t n_volumes;
	struct backup_stats stats;
};

struct manifest *manifest_free(struct manifest *m);
DEFINE_CLEANUP_FUNC(struct manifest, manifest_free);
int manifest_parse(const char *text, size_t len, struct manifest **ret);
int manifest_format(const struct manifest *m, char **ret);

bool backup_id_valid(const char *id);
bool volume_name_valid(const char *name);
int hex_decode32(const char *hex, uint8_t out[32]);

/* New chunks are written to temporary names without an fsync each; a batch is made durable by
 * one syncfs and only then renamed to its final names (store_chunks_flush), so a chunk under its
 * final name is always complete on disk. */
#define STAGE_CHUNKS_MAX 128
#define STAGE_BYTES_MAX (64ULL << 20)
struct staged_chunk {
	int dfd; /* chunks/ab/ */
	char tmp[24];
	char name[68];
	uint8_t digest[32];
};

struct backup_store {
	char *path;
	int dfd, chunks_fd, backups_fd, locks_fd, bad_fd;
	char store_id[33];
	uint32_t chunk_size;
	int level;
	struct bkey *keys;
	size_t n_keys;
	pthread_mutex_t stage_lock;
	struct staged_chunk stage[STAGE_CHUNKS_MAX];
	size_t n_stage;
	uint64_t stage_bytes;
};

const struct bkey *store_key_find(const struct backup_store *s, const char *key_id);
void chunk_relpath(const uint8_t digest[32], char out[72]);
/* Read a chunk into out; decode and check. */
int store_chunk_read(struct backup_store *s, struct chunk_codec *c, const struct bkey *k,
		     const uint8_t digest[32], uint8_t *out, size_t cap, size_t *ret_len,
		     const char **ret_reason);
/* Make the staged chunks durable (syncfs) and give them their final names; or drop them. */
int store_chunks_flush(struct backup_store *s);
void store_chunks_discard(struct backup_store *s);
/* Store raw data as a chunk (skipped when present). ret_written: bytes written (0 if present). */
int store_chunk_write(struct backup_store *s, struct chunk_codec *c, const struct bkey *k,
		      const uint8_t digest[32], const void *raw, size_t len, uint64_t *ret_written);
int store_manifest_load(struct backup_store *s, const char *id, bool partial, struct manifest **ret,
			struct carve_error *err);
int store_manifest_write(struct backup_store *s, const struct manifest *m, bool partial);
/* A blob (config, file index) as one chunk. */
int store_blob_read(struct backup_store *s, const struct bkey *k, const uint8_t digest[32],
		    uint8_t **ret, size_t *ret_len, const char **ret_reason);
int manifest_key(struct backup_store *s, const struct manifest *m, const struct bkey **ret,
		 struct carve_error *err);

/* files.c */
int file_index_build(struct backup_store *s, const struct bkey *k, const char *mount_path,
		     uint64_t image_size, char **ret_json, uint64_t *ret_n, struct backup_stats *st,
		     struct carve_error *err);
/* create.c: store data as one chunk (blob) */
int store_blob(struct backup_store *s, const struct bkey *k, const void *data, size_t len,
	       uint8_t digest[32], struct backup_stats *st);

#endif

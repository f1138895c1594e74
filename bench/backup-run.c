/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/backup's driver for carve's backup module (see bench/README.md):
 *   backup-run backup STORE IMAGE [PREV_IMAGE PREV_ID] [MOUNT]   prints "id ID" and the stats
 *   backup-run restore STORE ID OUT [BASE BASE_ID]   BASE: a local snapshot made by BASE_ID
 *   backup-run verify STORE
 * Environment: CARVE_BENCH_CHUNK (chunk size of a new store, bytes), CARVE_BENCH_KEY (64 hex:
 * encrypt with that key), CARVE_BENCH_LEVEL (zstd level).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/backup.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_key(uint8_t key[BACKUP_KEY_SIZE])
{
	const char *h = getenv("CARVE_BENCH_KEY");

	if (!h || strlen(h) != 2 * BACKUP_KEY_SIZE)
		return 0;
	for (int i = 0; i < BACKUP_KEY_SIZE; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return 0;
		key[i] = (uint8_t)v;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct backup_store_opts so = {};
	struct backup_store *s = NULL;
	uint8_t key[BACKUP_KEY_SIZE];
	int have_key = parse_key(key), r;
	double t0;

	if (argc < 3) {
		fprintf(stderr, "usage: backup-run backup|restore|verify STORE ...\n");
		return 2;
	}
	if (getenv("CARVE_BENCH_CHUNK"))
		so.chunk_size = (uint32_t)strtoul(getenv("CARVE_BENCH_CHUNK"), NULL, 0);
	if (getenv("CARVE_BENCH_LEVEL"))
		so.compression_level = (int)strtol(getenv("CARVE_BENCH_LEVEL"), NULL, 10);
	if (backup_store_open(argv[2], true, &so, &s, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	if (have_key)
		backup_store_add_key(s, key, NULL);
	t0 = now_s();
	if (strcmp(argv[1], "backup") == 0 && argc >= 4) {
		struct backup_volume_source v = {.name = "root", .snapshot_path = argv[3]};
		struct backup_create_opts o = {.server_id = "bench",
					       .key = have_key ? key : NULL,
					       .config_json = "{\"name\":\"bench\"}"};
		struct backup_stats st = {};
		char id[BACKUP_ID_MAX];

		if (argc >= 6) {
			v.prev_snapshot_path = argv[4];
			o.prev_backup_id = argv[5];
		}
		if (argc >= 7)
			v.mount_path = argv[6];
		r = backup_create(s, &o, &v, 1, id, &st, &err);
		if (r < 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		printf("id %s\n", id);
		printf("seconds %.3f\n", now_s() - t0);
		printf("bytes_total %llu\nbytes_read %llu\nbytes_written %llu\nchunks_total %llu\n"
		       "chunks_new %llu\nchunks_reused %llu\nchunks_dedup %llu\nchunks_zero %llu\n"
		       "files_indexed %llu\n",
		       (unsigned long long)st.bytes_total, (unsigned long long)st.bytes_read,
		       (unsigned long long)st.bytes_written, (unsigned long long)st.chunks_total,
		       (unsigned long long)st.chunks_new, (unsigned long long)st.chunks_reused,
		       (unsigned long long)st.chunks_dedup, (unsigned long long)st.chunks_zero,
		       (unsigned long long)st.files_indexed);
	} else if (strcmp(argv[1], "restore") == 0 && (argc == 5 || argc == 7)) {
		struct backup_restore_base base = {};
		struct backup_restore_stats st = {};

		if (argc == 7) {
			base.path = argv[5];
			base.backup_id = argv[6];
		}
		r = backup_restore_volume_ex(s, argv[3], "root", argv[4], argc == 7 ? &base : NULL,
					     &st, NULL, NULL, &err);
		if (r < 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		printf("seconds %.3f\n", now_s() - t0);
		printf("base_used %d\nchunks_fetched %llu\nchunks_from_base %llu\n"
		       "chunks_base_mismatch %llu\nbytes_written %llu\n",
		       st.base_used, (unsigned long long)st.chunks_fetched,
		       (unsigned long long)st.chunks_from_base,
		       (unsigned long long)st.chunks_base_mismatch,
		       (unsigned long long)st.bytes_written);
	} else if (strcmp(argv[1], "verify") == 0) {
		struct backup_verify_report rep = {};

		r = backup_verify(s, NULL, &rep, &err);
		if (r < 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		printf("seconds %.3f\nchunks_checked %llu\nbad %zu\n", now_s() - t0,
		       (unsigned long long)rep.chunks_checked, rep.n_bad);
		r = rep.n_bad ? 1 : 0;
		backup_verify_report_release(&rep);
		backup_store_free(s);
		return r;
	} else {
		fprintf(stderr, "usage: backup-run backup|restore|verify STORE ...\n");
		return 2;
	}
	backup_store_free(s);
	return 0;
}

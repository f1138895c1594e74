/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-op: times the reflink pool's clone and snapshot calls directly (no API, no database),
 * for bench/storage. Opens the reflink pool at POOL (a directory on XFS or btrfs; carved's pool
 * may be in use: the calls take the pool's lock), then N times: clone (or snapshot) the volume,
 * stop the clock, remove the copy. Prints one line per iteration: nanoseconds (CLOCK_MONOTONIC).
 *
 *   storage-op POOL clone VOLUME N
 *   storage-op POOL snapshot VOLUME N [MOUNTPOINT]   (frozen around the copy when MOUNTPOINT)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "storage/storage.h"
#include "bench-util.h"

int main(int argc, char **argv)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_pool *p = NULL;
	const char *op, *volume, *mnt;
	char copy[64];
	long n;
	int r = 0;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: storage-op POOL clone|snapshot VOLUME N [MOUNTPOINT]\n");
		return 2;
	}
	op = argv[2];
	volume = argv[3];
	n = strtol(argv[4], NULL, 10);
	mnt = argc == 6 ? argv[5] : NULL;
	if (n <= 0 || (strcmp(op, "clone") != 0 && strcmp(op, "snapshot") != 0)) {
		fprintf(stderr, "storage-op: bad operation or count\n");
		return 2;
	}
	if (storage_pool_open("reflink", "bench", argv[1], &p, &err) < 0) {
		fprintf(stderr, "storage-op: %s\n", err.msg);
		return 1;
	}
	for (long i = 0; i < n && r >= 0; i++) {
		uint64_t t0, t1;

		snprintf(copy, sizeof(copy), "bench-%d-%ld", (int)getpid(), i);
		carve_err_clear(&err);
		t0 = bench_now_ns();
		if (strcmp(op, "clone") == 0)
			r = storage_volume_clone(p, volume, copy, &err);
		else if (mnt)
			r = storage_volume_snapshot_frozen(p, volume, copy, mnt, &err);
		else
			r = storage_volume_snapshot(p, volume, copy, &err);
		t1 = bench_now_ns();
		if (r < 0)
			break;
		printf("%" PRIu64 "\n", t1 - t0);
		if (strcmp(op, "clone") == 0)
			r = storage_volume_destroy(p, copy, &err);
		else
			r = storage_volume_snapshot_delete(p, volume, copy, &err);
	}
	if (r < 0)
		fprintf(stderr, "storage-op: %s\n", err.msg);
	storage_pool_free(p);
	return r < 0 ? 1 : 0;
}

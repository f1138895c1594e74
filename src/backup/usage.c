/* SPDX-License-Identifier: Apache-2.0 */
/* What a set of backups occupies in the store: the distinct chunks (and blobs) they reference,
 * counted once however many of them share a chunk. carved uses it for per-tenant accounting. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup/backup-internal.h"
#include "base/cleanup.h"

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int push(uint8_t (**a)[32], size_t *n, size_t *cap, const uint8_t d[32])
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		uint8_t(*na)[32] = reallocarray(*a, nc, 32);
		if (!na)
			return -ENOMEM;
		*a = na;
		*cap = nc;
	}
	memcpy((*a)[(*n)++], d, 32);
	return 0;
}

int backup_usage(struct backup_store *s, const char *const *ids, size_t n_ids, uint64_t *ret_bytes,
		 uint64_t *ret_chunks, struct carve_error *err)
{
	uint8_t(*all)[32] = NULL;
	size_t n = 0, cap = 0;
	uint64_t bytes = 0, chunks = 0;
	int r = 0;

	for (size_t i = 0; i < n_ids && r >= 0; i++) {
		cleanup(manifest_freep) struct manifest *m = NULL;

		r = store_manifest_load(s, ids[i], false, &m, NULL);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0) {
			carve_err(err, r, "backup '%s': manifest", ids[i]);
			break;
		}
		if (m->has_config)
			r = push(&all, &n, &cap, m->config_digest);
		for (size_t v = 0; r >= 0 && v < m->n_volumes; v++) {
			const struct mvolume *mv = &m->volumes[v];
			if (mv->has_index)
				r = push(&all, &n, &cap, mv->index_digest);
			for (size_t c = 0; r >= 0 && c < mv->n_chunks; c++)
				r = push(&all, &n, &cap, mv->chunks[c].digest);
		}
		if (r < 0)
			carve_err(err, r, "backup usage");
	}
	if (r >= 0 && n > 0) {
		qsort(all, n, 32, cmp_digest);
		for (size_t i = 0; i < n; i++) {
			char rel[72];
			struct stat st;

			if (i > 0 && memcmp(all[i], all[i - 1], 32) == 0)
				continue;
			chunk_relpath(all[i], rel);
			if (fstatat(s->chunks_fd, rel, &st, 0) < 0)
				continue;
			bytes += (uint64_t)st.st_size;
			chunks++;
		}
	}
	free(all);
	if (r < 0)
		return r;
	*ret_bytes = bytes;
	*ret_chunks = chunks;
	return 0;
}

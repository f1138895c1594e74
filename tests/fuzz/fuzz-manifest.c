/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backup store's parsers: manifests (JSON, strict) and chunk headers. First byte selects:
 * even: the rest is a manifest; a parsed one must format and parse back to the same content.
 * odd: the rest is a chunk file; its header and a full decode (unencrypted, no key) must not
 * crash, and a decode that succeeds must have produced the header's length.
 */
#include <stdlib.h>
#include <string.h>

#include "backup/backup-internal.h"
#include "base/string-util.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		struct manifest *m = NULL, *m2 = NULL;
		char *text = NULL;

		if (manifest_parse((const char *)data + 1, size - 1, &m) < 0)
			return 0;
		fuzz_assert(manifest_format(m, &text) == 0);
		fuzz_assert(manifest_parse(text, strlen(text), &m2) == 0);
		fuzz_assert(streq(m->id, m2->id) && m->n_volumes == m2->n_volumes);
		fuzz_assert(m->complete == m2->complete && m->encrypted == m2->encrypted);
		for (size_t i = 0; i < m->n_volumes; i++) {
			fuzz_assert(m->volumes[i].n_chunks == m2->volumes[i].n_chunks);
			fuzz_assert(m->volumes[i].n_chunks == 0 ||
				    memcmp(m->volumes[i].chunks, m2->volumes[i].chunks,
					   m->volumes[i].n_chunks * sizeof(struct chunk_ref)) == 0);
		}
		free(text);
		manifest_free(m);
		manifest_free(m2);
	} else {
		struct chunk_hdr h;
		struct chunk_codec *c;
		uint8_t digest[32] = {}, *out;
		size_t n = 0;
		const char *reason = NULL;
		int r;

		if (chunk_header_parse(data + 1, size - 1, &h) < 0)
			return 0;
		fuzz_assert(h.hdr_len <= size - 1);
		if (h.raw_len > (1u << 20))
			return 0;
		c = chunk_codec_new(1);
		out = malloc(h.raw_len);
		fuzz_assert(c && out);
		r = chunk_decode(c, NULL, digest, data + 1, size - 1, out, h.raw_len, &n, &reason);
		fuzz_assert(r < 0 ? reason != NULL : n == h.raw_len);
		free(out);
		chunk_codec_free(c);
	}
	return 0;
}

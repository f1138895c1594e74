/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the fuzz targets: the libFuzzer entry point and an invariant check that aborts (so
 * libFuzzer and the corpus replay both report it) with a message.
 */
#ifndef CARVE_FUZZ_H
#define CARVE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_assert(cond)                                                                    \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

#endif

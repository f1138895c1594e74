/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small string helpers: bounded copy, hex encoding, random ids, prefix tests. libc only.
 */
#ifndef CARVE_BASE_STRING_UTIL_H
#define CARVE_BASE_STRING_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copy src into dst of size n, always NUL-terminated. Returns -E2BIG when truncated. */
int strscpy(char *dst, const char *src, size_t n);

static inline bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static inline bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Lowercase hex of len bytes into out (2*len+1). */
void hex_encode(const uint8_t *in, size_t len, char *out);

/* Fill buf with len bytes from getrandom(). */
int random_bytes(void *buf, size_t len);

/* A new random id: 32 hex characters + NUL into out[33]. */
int random_id(char out[33]);

/* Constant-time comparison of two buffers of equal length. */
bool memeq_consttime(const void *a, const void *b, size_t len);

/* Whether the n bytes at p are all zero (fast: compared a page at a time). */
bool mem_is_zero(const void *p, size_t n);

/* Format now (or t) as RFC 3339 UTC "2026-11-22T10:00:00Z" into out[21]. */
void format_timestamp(int64_t t, char out[32]);

#endif

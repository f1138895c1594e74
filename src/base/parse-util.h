/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsers for user input: sizes ("512M", "2G", "1.5T"), object names, ids, integers. Every parser
 * is total: any input string gives either a value or a negative errno plus a message in err that
 * says what was wrong and how to write it. Nothing here allocates or logs. libc only.
 */
#ifndef CARVE_BASE_PARSE_UTIL_H
#define CARVE_BASE_PARSE_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"

/* Object names (servers, tenants, users, templates, tokens): 1..63 characters of [a-z0-9-],
 * starting with a letter, not ending with '-'; also usable as a hostname label. */
#define CARVE_NAME_MAX 63

/*
 * Parse a size: a decimal number (fraction allowed) with an optional binary suffix
 * K, M, G, T, P, E (optionally followed by "i" and/or "B"; case-insensitive; 1K = 1024). A bare
 * number is bytes. Rejects empty strings, signs, whitespace, overflow (> 2^63-1) and trailing
 * garbage.
 */
int parse_size(const char *s, uint64_t *ret, struct carve_error *err);

/* Format bytes for display with the largest binary unit it reaches: exact ("512M", "100") when
 * the value is a whole number of that unit, else one decimal rounded to nearest ("1.5G"). */
char *format_size(uint64_t bytes, char *buf, size_t len);

/* Validate an object name (see CARVE_NAME_MAX). kind names the object in the message. */
int parse_name(const char *s, const char *kind, struct carve_error *err);
bool name_is_valid(const char *s);

/* Parse an unsigned decimal integer within [min, max]; no sign, no whitespace, no leading zeros
 * except "0". */
int parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *ret, struct carve_error *err);

/* Object ids are 32 lowercase hex characters (128 random bits). */
#define CARVE_ID_LEN 32
int parse_id(const char *s, struct carve_error *err);
bool id_is_valid(const char *s);

#endif

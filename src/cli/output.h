/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What carve prints: aligned tables with a header row, "key: value" blocks, cells taken from JSON
 * answers and the task progress bar. A table owns copies of its cells. Cells are sanitized:
 * control characters from the server become '?', so an object's description cannot drive the
 * terminal.
 */
#ifndef CARVE_CLI_OUTPUT_H
#define CARVE_CLI_OUTPUT_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

struct table;

/* headers: NULL-terminated. */
struct table *table_new(const char *const *headers);
struct table *table_free(struct table *t);
/* cells: one per column; NULL prints "-". */
int table_add_row(struct table *t, const char *const *cells);
size_t table_rows(const struct table *t);
/* Columns separated by two spaces, padded to the widest cell (in characters), no trailing blanks.
 */
int table_print(const struct table *t, FILE *f);

/* Print "key:  value" lines, keys aligned; pairs is NULL-terminated key, value, key, value... */
void output_kv(FILE *f, const char *const *pairs);

/*
 * A cell from obj[key] (key may be a dotted path, "error.message"): strings as they are, integers
 * in decimal, true/false, null or missing as
 * "-"; with as_size an integer is formatted with format_size ("512M"). Returns buf.
 */
const char *json_cell(json_t *obj, const char *key, bool as_size, char *buf, size_t len);

/*
 * "[#####     ] 50% 12.3M/24.6M" for unit "bytes", "[##        ] 20% 1/5 steps" otherwise;
 * without a total only the count. width is the bar's inner width.
 */
char *progress_format(uint64_t done, uint64_t total, const char *unit, unsigned width, char *buf,
		      size_t len);

#endif

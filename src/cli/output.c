/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "cli/output.h"

#define TABLE_COLS_MAX 16

struct table {
	size_t n_cols, n_rows, cap_rows;
	char **cells; /* n_rows * n_cols, row 0 is the header */
	size_t width[TABLE_COLS_MAX];
};

/* Characters, not bytes: UTF-8 continuation bytes do not take a column. */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static char *sanitized(const char *s)
{
	char *d = strdup(s ? s : "-");

	if (!d)
		return NULL;
	for (char *p = d; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

struct table *table_free(struct table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

int table_add_row(struct table *t, const char *const *cells)
{
	if (t->n_rows == t->cap_rows) {
		size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
		char **p = reallocarray(t->cells, cap * t->n_cols, sizeof(char *));

		if (!p)
			return -ENOMEM;
		t->cells = p;
		t->cap_rows = cap;
	}
	for (size_t i = 0; i < t->n_cols; i++) {
		char *c = sanitized(cells[i]);
		size_t w;

		if (!c) {
			for (size_t j = 0; j < i; j++)
				free(t->cells[t->n_rows * t->n_cols + j]);
			return -ENOMEM;
		}
		t->cells[t->n_rows * t->n_cols + i] = c;
		w = text_width(c);
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->n_rows++;
	return 0;
}

struct table *table_new(const char *const *headers)
{
	struct table *t;
	size_t n = 0;

	while (headers[n])
		n++;
	if (n == 0 || n > TABLE_COLS_MAX)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->n_cols = n;
	if (table_add_row(t, headers) < 0)
		return table_free(t);
	return t;
}

size_t table_rows(const struct table *t)
{
	return t->n_rows - 1;
}

int table_print(const struct table *t, FILE *f)
{
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t i = 0; i < t->n_cols; i++) {
			const char *c = t->cells[r * t->n_cols + i];

			fputs(c, f);
			if (i + 1 < t->n_cols)
				fprintf(f, "%*s", (int)(t->width[i] - text_width(c) + 2), "");
		}
		fputc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}

void output_kv(FILE *f, const char *const *pairs)
{
	size_t w = 0;

	for (size_t i = 0; pairs[i]; i += 2)
		if (strlen(pairs[i]) > w)
			w = strlen(pairs[i]);
	for (size_t i = 0; pairs[i]; i += 2) {
		cleanup_free char *v = sanitized(pairs[i + 1]);

		fprintf(f, "%s:%*s%s\n", pairs[i], (int)(w - strlen(pairs[i]) + 1), "",
			v ? v : "-");
	}
}

/* obj[key], where key may be a dotted path into nested objects ("progress.done"). */
static json_t *json_dotted(json_t *obj, const char *key)
{
	const char *dot;

	while ((dot = strchr(key, '.'))) {
		char part[64];

		if ((size_t)(dot - key) >= sizeof(part))
			return NULL;
		memcpy(part, key, (size_t)(dot - key));
		part[dot - key] = '\0';
		obj = json_object_get(obj, part);
		key = dot + 1;
	}
	return json_object_get(obj, key);
}

const char *json_cell(json_t *obj, const char *key, bool as_size, char *buf, size_t len)
{
	json_t *v = json_dotted(obj, key);

	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v) && as_size && json_integer_value(v) >= 0)
		format_size((uint64_t)json_integer_value(v), buf, len);
	else if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
	else
		snprintf(buf, len, "-");
	return buf;
}

char *progress_format(uint64_t done, uint64_t total, const char *unit, unsigned width, char *buf,
		      size_t len)
{
	bool bytes = streq(unit, "bytes");
	char d[32], t[32], bar[256];
	unsigned filled, pct;

	if (total > 0 && done > total)
		done = total;
	if (bytes) {
		format_size(done, d, sizeof(d));
		format_size(total, t, sizeof(t));
	} else {
		snprintf(d, sizeof(d), "%" PRIu64, done);
		snprintf(t, sizeof(t), "%" PRIu64, total);
	}
	if (total == 0) {
		snprintf(buf, len, "%s%s%s", d, !bytes && unit && *unit ? " " : "",
			 !bytes && unit ? unit : "");
		return buf;
	}
	if (width > sizeof(bar) - 1)
		width = sizeof(bar) - 1;
	/* Compute in long double: done * 100 may overflow uint64 for huge byte counts. */
	pct = (unsigned)((long double)done * 100 / (long double)total);
	filled = (unsigned)((long double)done * width / (long double)total);
	memset(bar, '#', filled);
	memset(bar + filled, ' ', width - filled);
	bar[width] = '\0';
	snprintf(buf, len, "[%s] %u%% %s/%s%s%s", bar, pct, d, t,
		 !bytes && unit && *unit ? " " : "", !bytes && unit ? unit : "");
	return buf;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * struct carve_error: an error code (negative errno) and a message, owned by the caller (usually
 * on its stack) and passed down as a nullable pointer at module boundaries. The callee fills it
 * with carve_err(); callers add context on the way up with carve_err_prefix(). No heap.
 * The final message reads "outer: inner: innermost", e.g.
 * "server 'web1': memory '12X': not a size (use e.g. 512M, 2G)".
 */
#ifndef CARVE_BASE_ERR_H
#define CARVE_BASE_ERR_H

#include <stdbool.h>
#include "base/cleanup.h"

#define CARVE_ERROR_MSG_MAX 1024

struct carve_error {
	int code; /* negative errno, 0 when unset */
	char msg[CARVE_ERROR_MSG_MAX]; /* empty when unset */
	char field[64]; /* the input field at fault, if any ("memory", "name") */
};

#define CARVE_ERROR_INIT  \
	{                 \
		0, "", "" \
	}

/* Set err (if non-NULL) to code r and the formatted message; returns r (negative). If err already
 * holds a message, the new one is prepended as context. */
int carve_err(struct carve_error *err, int r, const char *fmt, ...) _printf_(3, 4);

/* Same, and names the input field at fault. */
int carve_err_field(struct carve_error *err, int r, const char *field, const char *fmt, ...)
	_printf_(4, 5);

/* Prepend "context: " to the message. Returns err->code. */
int carve_err_prefix(struct carve_error *err, const char *fmt, ...) _printf_(2, 3);

void carve_err_clear(struct carve_error *err);

static inline bool carve_err_isset(const struct carve_error *err)
{
	return err && err->code != 0;
}

#endif

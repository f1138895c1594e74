/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"

static void prepend(struct carve_error *err, const char *head)
{
	char old[CARVE_ERROR_MSG_MAX];

	if (err->msg[0] == '\0') {
		snprintf(err->msg, sizeof(err->msg), "%s", head);
		return;
	}
	snprintf(old, sizeof(old), "%s", err->msg);
	snprintf(err->msg, sizeof(err->msg), "%s: %s", head, old);
}

_printf_(4, 0) static int verr(struct carve_error *err, int r, const char *field, const char *fmt,
			       va_list ap)
{
	char buf[CARVE_ERROR_MSG_MAX];

	if (r > 0)
		r = -r;
	if (r == 0)
		r = -EIO;
	if (!err)
		return r;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (err->code == 0)
		err->code = r;
	if (field && err->field[0] == '\0')
		snprintf(err->field, sizeof(err->field), "%s", field);
	prepend(err, buf);
	return err->code;
}

int carve_err(struct carve_error *err, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r = verr(err, r, NULL, fmt, ap);
	va_end(ap);
	return r;
}

int carve_err_field(struct carve_error *err, int r, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r = verr(err, r, field, fmt, ap);
	va_end(ap);
	return r;
}

int carve_err_prefix(struct carve_error *err, const char *fmt, ...)
{
	char buf[CARVE_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return -EIO;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	prepend(err, buf);
	return err->code;
}

void carve_err_clear(struct carve_error *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
	err->field[0] = '\0';
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr with a level, a timestamp and the file's domain. Each .c file may
 * `#define LOG_DOMAIN "name"` before including this. Library modules log at debug only; daemon and
 * cli log at warning or above, once, at the boundary. Thread-safe (one write(2) per line).
 */
#ifndef CARVE_BASE_LOG_H
#define CARVE_BASE_LOG_H

#include "base/cleanup.h"

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	_LOG_LEVEL_MAX,
	_LOG_LEVEL_INVALID = -EINVAL,
};

#ifndef LOG_DOMAIN
#define LOG_DOMAIN "carve"
#endif

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
enum log_level log_level_from_string(const char *s);
const char *log_level_to_string(enum log_level level);
/* Returns -abs(error) when error != 0, else 0, so `return log_error_errno(r, ...)` works. */
int log_internal(enum log_level level, int error, const char *domain, const char *fmt, ...)
	_printf_(4, 5);

#define log_full(level, ...) log_internal(level, 0, LOG_DOMAIN, __VA_ARGS__)
#define log_debug(...) log_full(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warning(...) log_full(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_error_errno(r, ...) log_internal(LOG_LEVEL_ERROR, r, LOG_DOMAIN, __VA_ARGS__)
#define log_warning_errno(r, ...) log_internal(LOG_LEVEL_WARNING, r, LOG_DOMAIN, __VA_ARGS__)
#define log_debug_errno(r, ...) log_internal(LOG_LEVEL_DEBUG, r, LOG_DOMAIN, __VA_ARGS__)

#endif

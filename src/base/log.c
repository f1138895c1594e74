/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

static enum log_level max_level = LOG_LEVEL_INFO;

static const char *const level_names[_LOG_LEVEL_MAX] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	if (level >= 0 && level < _LOG_LEVEL_MAX)
		max_level = level;
}

enum log_level log_get_level(void)
{
	return max_level;
}

const char *log_level_to_string(enum log_level level)
{
	if (level < 0 || level >= _LOG_LEVEL_MAX)
		return NULL;
	return level_names[level];
}

enum log_level log_level_from_string(const char *s)
{
	for (int i = 0; i < _LOG_LEVEL_MAX; i++)
		if (s && strcmp(s, level_names[i]) == 0)
			return i;
	return _LOG_LEVEL_INVALID;
}

int log_internal(enum log_level level, int error, const char *domain, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;
	int saved = errno;

	if (error > 0)
		error = -error;
	if (level > max_level)
		goto out;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s: ", ts.tv_nsec / 1000000,
		      level_names[level], domain);
	if (n < sizeof(line)) {
		va_start(ap, fmt);
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
	}
	if (error != 0 && n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, ": %s", strerror(-error));
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
out:
	errno = saved;
	return error;
}

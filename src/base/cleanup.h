/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scope-bound ownership: a variable declared with cleanup_free / cleanup_close / cleanup(fn) is
 * released when it goes out of scope. Ownership leaves a scope only through TAKE_PTR / TAKE_FD,
 * which return the value and leave NULL / -EBADF behind. fds start at -EBADF. Destructors accept
 * NULL and -EBADF. Header-only, libc only.
 */
#ifndef CARVE_BASE_CLEANUP_H
#define CARVE_BASE_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#define cleanup(fn) __attribute__((cleanup(fn)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		/* close() must not be retried on EINTR on Linux: the fd is gone either way. */
		(void)close(fd);
		errno = saved;
	}
	return -EBADF;
}

static inline void closep(int *fd)
{
	*fd = safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
	*f = NULL;
}

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
	*d = NULL;
}

/* Free a NULL-terminated vector of strings. */
static inline void strv_free(char **v)
{
	if (!v)
		return;
	for (char **i = v; *i; i++)
		free(*i);
	free(v);
}

static inline void strv_freep(char ***v)
{
	strv_free(*v);
	*v = NULL;
}

#define cleanup_free cleanup(freep)
#define cleanup_close cleanup(closep)
#define cleanup_fclose cleanup(fclosep)
#define cleanup_closedir cleanup(closedirp)
#define cleanup_strv cleanup(strv_freep)

/* DEFINE_CLEANUP_FUNC(struct foo, foo_free) defines foo_freep for cleanup(foo_freep). */
#define DEFINE_CLEANUP_FUNC(type, func)      \
	static inline void func##p(type **p) \
	{                                    \
		if (*p)                      \
			*p = func(*p);       \
	}

#define TAKE_PTR(p)                      \
	({                               \
		__typeof__(p) _tp = (p); \
		(p) = NULL;              \
		_tp;                     \
	})

#define TAKE_FD(fd)             \
	({                      \
		int _tf = (fd); \
		(fd) = -EBADF;  \
		_tf;            \
	})

/* For syscalls that return -1 and set errno: turn into -errno. */
#define RET_NERRNO(expr)                   \
	({                                 \
		long _r = (long)(expr);    \
		_r < 0 ? -errno : (int)_r; \
	})

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))

#endif

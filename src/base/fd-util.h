/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File and directory helpers that speak -errno: whole-file read and atomic write, mkdir -p,
 * recursive removal that never crosses a mount point, loops that survive EINTR and short I/O.
 * Every fd opened here is O_CLOEXEC. libc only.
 */
#ifndef CARVE_BASE_FD_UTIL_H
#define CARVE_BASE_FD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int loop_write(int fd, const void *buf, size_t len);
/* Read up to len bytes, looping until EOF or len; returns bytes read. */
ssize_t loop_read(int fd, void *buf, size_t len);

/* Read a whole file (at most max bytes, else -EFBIG) into a NUL-terminated heap buffer. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Write data to path.tmp, fsync, rename over path, fsync the directory. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int write_string_file(const char *path, const char *s);

int mkdir_p(const char *path, mode_t mode);
/* Remove a tree; does not descend into other filesystems (mount points are left, -EBUSY). */
int rm_rf(const char *path);

/* Close every fd >= 3 except those listed (used in forked children before exec). */
int close_all_fds(const int *except, size_t n_except);

int fd_set_cloexec(int fd, bool on);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loop devices: attach a file (always a free device from LOOP_CTL_GET_FREE, never a fixed number:
 * other processes use loop devices too), detach, grow after the file grew, and find which devices
 * back a file (for reconcile after a restart: /sys/block/loopN/loop/backing_file). Device nodes
 * are "/dev/loopN". Safe from any thread; attach retries when another process takes the device
 * between allocation and configuration.
 */
#ifndef CARVE_STORAGE_LOOP_H
#define CARVE_STORAGE_LOOP_H

#include <stddef.h>

#define LOOP_ATTACH_READ_ONLY (1u << 0)
/* Direct I/O against the backing file (pages are not cached twice); silently dropped where the
 * backing filesystem refuses it. */
#define LOOP_ATTACH_DIRECT_IO (1u << 1)
/* The device detaches itself when its last opener closes it (after umount): nothing leaks when
 * the process or its mount namespace dies. Requires ret_fd: the caller closes it after mounting. */
#define LOOP_ATTACH_AUTOCLEAR (1u << 2)

#define LOOP_DEVNODE_MAX 32

/* Attach path to a free loop device. tag (nullable) is stored as lo_file_name ("carve:<pool>").
 * On success writes "/dev/loopN" to ret_devnode and, if ret_fd is non-NULL, hands over an open
 * O_CLOEXEC fd of the device. */
int loop_attach(const char *path, unsigned flags, const char *tag, char *ret_devnode,
		size_t devnode_len, int *ret_fd);

/* Detach a device. A device still in use (mounted) is detached by the kernel when released.
 * -ENXIO/-ENOENT are returned as 0: already detached. */
int loop_detach(const char *devnode);

/* Re-read the backing file's size (LOOP_SET_CAPACITY) after it grew. */
int loop_set_capacity(const char *devnode);

/* Every loop device backing path (compared by canonical path), as a NULL-terminated vector of
 * "/dev/loopN" strings (free with strv_free); an empty vector when none. */
int loop_find_by_backing(const char *path, char ***ret_devnodes);

/* Detach every device backing path; returns how many were detached. */
int loop_detach_by_backing(const char *path);

#endif

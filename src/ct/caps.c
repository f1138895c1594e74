/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capabilities of the container's init. The child holds every capability in its own user
 * namespace; execve() as uid 0 gives init the bounding set, so shrinking the bounding set here is
 * what limits init and everything it starts. Ambient and inheritable sets are emptied so nothing
 * can carry a capability across an exec of a non-root program.
 */
#define LOG_DOMAIN "ct"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "ct/ct-internal.h"

int ct_caps_last_cap(void)
{
	cleanup_free char *s = NULL;
	char *end;
	long v;
	int r;

	r = read_full_file("/proc/sys/kernel/cap_last_cap", 64, &s, NULL);
	if (r < 0)
		return r;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || v < 0 || v > 63)
		return -EINVAL;
	return (int)v;
}

/* Without /proc: the highest capability the kernel knows answers PR_CAPBSET_READ. */
static int probe_last_cap(void)
{
	int cap = 0;

	while (cap < 63 && prctl(PR_CAPBSET_READ, (unsigned long)cap + 1, 0, 0, 0) >= 0)
		cap++;
	return cap;
}

int ct_caps_bound(uint64_t keep, int last_cap, struct carve_error *err)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (last_cap < 0)
		last_cap = probe_last_cap();
	for (int cap = 0; cap <= last_cap; cap++) {
		if (keep & (UINT64_C(1) << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0) < 0 && errno != EINVAL)
			return carve_err(err, -errno,
					 "drop capability %d from the bounding set: %s", cap,
					 strerror(errno));
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return carve_err(err, -errno, "clear ambient capabilities: %s", strerror(errno));

	if (syscall(SYS_capget, &hdr, data) < 0)
		return carve_err(err, -errno, "capget: %s", strerror(errno));
	for (size_t i = 0; i < ELEMENTSOF(data); i++)
		data[i].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return carve_err(err, -errno, "clear inheritable capabilities: %s",
				 strerror(errno));
	return 0;
}

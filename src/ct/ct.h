/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container runtime: starts one process (the server's init) in new user, pid, mount, net,
 * uts, ipc and cgroup namespaces, unprivileged (the tenant's 65536-id range, host uid 0 never
 * mapped), with its own hostname, /proc, read-only /sys, a minimal /dev, and pivot_root into its
 * root directory.
 *
 * The caller (the monitor) is root on the host and single-threaded. ct_spawn() returns once the
 * child has execve()d its init (or reports the exact step that failed, via a cloexec pipe); the
 * caller then owns the child: it reaps it with waitpid(). Nothing here logs above debug, prints,
 * or exits; every failure comes back as -errno plus a message in err.
 *
 * The child binds and enters rootfs while its credentials are still the host's uid 0, before
 * switching to the tenant's root, so the directories above rootfs may be private (0700).
 */
#ifndef CARVE_CT_H
#define CARVE_CT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/err.h"
#include "ct/cgroup.h"

#define CT_ID_RANGE 65536

/* An extra mount: the host directory source (typically a mounted data volume) appears at the
 * absolute path target inside the container. */
struct ct_mount {
	const char *source; /* host path of a mounted volume */
	const char *target; /* absolute path inside the container: no "..", not a symlink */
	bool idmap; /* shift its ids like an idmapped root (files owned by 0 on disk are root) */
};

#define CT_MOUNTS_MAX 16

struct ct_config {
	const char *hostname; /* the server's name */
	const char *rootfs; /* host path of the root directory, owned by uid_base */
	char *const *argv; /* init and its arguments (path inside the root) */
	char *const *envp; /* environment for init; NULL: a minimal default */
	uid_t uid_base; /* host uid that is uid 0 inside; must be > 0 */
	gid_t gid_base; /* host gid that is gid 0 inside; must be > 0 */
	uint32_t id_count; /* ids mapped (CT_ID_RANGE) */
	int stdio_fd; /* init's stdin/stdout/stderr; -1: /dev/null */
	struct cgroup_manager *cgroups; /* NULL: no cgroup placement */
	const char *cgroup_tenant; /* tenant cgroup name (with cgroups) */
	const char *cgroup_server; /* server cgroup name (with cgroups) */
	bool idmap_rootfs; /* rootfs is owned by host ids 0..id_count: give it to the container
			      through an idmapped mount (mount_setattr MOUNT_ATTR_IDMAP with
			      the container's user namespace) instead of expecting it to be
			      owned by uid_base already */
	bool net_admin; /* keep CAP_NET_ADMIN (its own network namespace only), for servers that
			   configure their interfaces themselves (DHCP) */
	const struct ct_mount *mounts; /* extra mounts, placed in order after /proc /sys /dev
					  /run; at most CT_MOUNTS_MAX */
	size_t n_mounts;
	bool system; /* a full OS init: keep CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_SYS_BOOT in the
			user namespace besides Docker's set (CT_CAPS_SYSTEM) */
	const char *lxcfs_dir; /* a running lxcfs's mount point: its proc and sys files are bound
				  over the container's (NULL: the kernel's, i.e. the host's view) */
};

/*
 * Start init as described; *ret_pid is its host pid. Init starts with a private mount tree (masked
 * and read-only /proc paths as runc's defaults, every path resolved inside the root; a rootfs whose
 * /proc, /sys, /dev or /run is a symlink is refused) in which every mount is locked (MNT_LOCKED
 * with its flags, as in a namespace copied from a more privileged one: a system container's
 * CAP_SYS_ADMIN cannot unmask, move, remount read-write or bind around them, nor mount a fresh
 * proc or sysfs), Docker's default capability bounding set (CT_CAPS_SYSTEM with system),
 * no_new_privs, a seccomp deny-list (ct-internal.h) and only fds 0, 1 and 2.
 */
int ct_spawn(const struct ct_config *cfg, pid_t *ret_pid, struct carve_error *err);

/*
 * Open (O_PATH) the directory target inside the tree at root_fd, one component at a time, never
 * following a symlink and never leaving the root; missing components are created (mode 0755,
 * owned by the caller) when create is set. -EINVAL for a relative target, "/" or a ".."
 * component; -ELOOP when a component is a symlink; -ENOTDIR when one is not a directory.
 */
int ct_mount_target_open(int root_fd, const char *target, bool create, int *ret_fd,
			 struct carve_error *err);

/*
 * CVE-2019-5736: re-execute the calling program from a sealed memfd copy of /proc/self/exe (named
 * name), with the same argv, so that /proc/<pid>/exe cannot reach the binary on disk. Call first
 * thing in main(), single-threaded. Returns 0 when already running from a sealed copy; otherwise
 * returns only on failure.
 */
int ct_cloned_binary_reexec(const char *name, char **argv, struct carve_error *err);
/* Whether /proc/self/exe is a sealed memfd. */
bool ct_cloned_binary_is_sealed(void);
/* A sealed memfd copy (named name, close-on-exec) of the regular file at path, for fexecve()
 * by several processes that then share its pages. */
int ct_cloned_binary_seal(const char *path, const char *name, int *ret_fd, struct carve_error *err);

#endif

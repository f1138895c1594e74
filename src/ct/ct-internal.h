/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hardening steps of ct_spawn(), one file each, exposed here for ct.c and the unit tests:
 *
 *   mounts.c   the container's mount tree, built with every path resolved inside the root
 *   caps.c     the capability bounding set (Docker's default set), ambient and inheritable cleared
 *   seccomp.c  the syscall deny-list, compiled to BPF in the caller before clone()
 *
 * The mount and capability functions run in the cloned child, before execve(); they allocate
 * nothing and report the failing step in err (message without a trailing strerror: the message
 * names the step and the reason).
 */
#ifndef CARVE_CT_INTERNAL_H
#define CARVE_CT_INTERNAL_H

#include <stdint.h>
#include <linux/filter.h>
#include "base/err.h"

/* Docker's default capability set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
 * NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP */
#define CT_CAPS_DEFAULT UINT64_C(0x00000000a80425fb)
/* A system container (a full OS init): Docker's set plus CAP_NET_ADMIN (12), CAP_SYS_ADMIN (21)
 * and CAP_SYS_BOOT (22), which in the container's own user namespace let init mount its API
 * filesystems, set up its network namespace and halt (reboot(2) in a child pid namespace only
 * ends that namespace's init); the host's root is never mapped, so they reach nothing outside,
 * and the runtime's own mounts are locked (ct.c, lock_mounts), so they cannot undo the masks. */
#define CT_CAPS_SYSTEM \
	(CT_CAPS_DEFAULT | (UINT64_C(1) << 12) | (UINT64_C(1) << 21) | (UINT64_C(1) << 22))
/* CAP_NET_ADMIN, kept with ct_config.net_admin: it acts only on the container's own network
 * namespace (owned by its user namespace), e.g. to configure an address a DHCP client got. */
#define CT_CAP_NET_ADMIN (UINT64_C(1) << 12)

/*
 * mounts.c. ct_rootfs_enter(): make the mount tree private, bind rootfs onto itself (recursively,
 * private), chdir into it and return an O_PATH fd of it. Runs with the host's credentials.
 * ct_rootfs_mount(): as the container's root, mount /proc (masked and read-only paths), a
 * read-only /sys (masked paths), /dev, /run. Every target is opened with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) and mounted onto through /proc/self/fd/N; a target that is a symlink in
 * the rootfs is refused (-ELOOP, "rootfs: '/proc' is a symlink").
 */
int ct_rootfs_enter(const char *rootfs, int *ret_root_fd, struct carve_error *err);
int ct_rootfs_mount(int root_fd, struct carve_error *err);
/* After ct_rootfs_mount, still before pivot_root: /dev/console bound to console_fd (a tty, or
 * -1: none); a cgroup2 mount on /sys/fs/cgroup (the cgroup namespace's own subtree) when
 * cgroup2 is set; lxcfs's files bound over /proc/{cpuinfo,meminfo,stat,uptime,loadavg,diskstats,
 * swaps} and /sys/devices/system/cpu from the fds of ct_lxcfs_open (each where lxcfs has it). */
#define CT_LXCFS_FILES 8
/* Open (O_PATH) lxcfs's files while still the host's root (the run directory above them may be
 * 0700); a missing one (or lxcfs_dir NULL) gives -EBADF. */
void ct_lxcfs_open(const char *lxcfs_dir, int fds[CT_LXCFS_FILES]);
int ct_rootfs_mount_system(int root_fd, int console_fd, bool cgroup2,
			   const int lxcfs_fds[CT_LXCFS_FILES], struct carve_error *err);

/* caps.c: drop every capability outside keep (up to last_cap, < 0: probe the kernel) from the
 * bounding set, clear the ambient and inheritable sets. */
int ct_caps_bound(uint64_t keep, int last_cap, struct carve_error *err);
/* /proc/sys/kernel/cap_last_cap, or -errno */
int ct_caps_last_cap(void);

/* seccomp.c: the deny-list for the native, i386 and x32 ABIs as a BPF program (heap, owned by the
 * caller: ct_seccomp_release()). ct_seccomp_apply() sets no_new_privs and loads it. */
int ct_seccomp_build(struct sock_fprog *ret, struct carve_error *err);
void ct_seccomp_release(struct sock_fprog *prog);
int ct_seccomp_apply(const struct sock_fprog *prog, struct carve_error *err);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seccomp deny-list of a system container, modelled on Docker's default profile: default
 * allow, the listed syscalls fail with EPERM, for the native, i386 and x32 ABIs (a filter for one
 * ABI alone is bypassed with int 0x80 or the x32 bit).
 *
 * Unlike Docker, a system container keeps mount/umount/pivot_root (needed inside its own user
 * namespace, as LXD allows), unshare/clone of nested user namespaces, ptrace and
 * process_vm_readv/writev (bounded by the pid and user namespaces) and reboot (the kernel turns it
 * into the exit of the pid namespace's init: busybox and systemd power off that way).
 *
 * The filter is compiled in the caller before clone(); the child only loads the BPF.
 */
#define LOG_DOMAIN "ct"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/seccomp.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "ct/ct-internal.h"

#define FILTER_MAX_BYTES (256 * 1024)

static const char *const denied_syscalls[] = {
	"acct",
	"add_key",
	"bpf",
	"clock_adjtime",
	"clock_adjtime64",
	"clock_settime",
	"clock_settime64",
	"create_module",
	"delete_module",
	"fanotify_init",
	"finit_module",
	"get_kernel_syms",
	"init_module",
	"io_uring_enter",
	"io_uring_register",
	"io_uring_setup",
	"ioperm",
	"iopl",
	"kexec_file_load",
	"kexec_load",
	"keyctl",
	"lookup_dcookie",
	"move_pages",
	"name_to_handle_at",
	"nfsservctl",
	"open_by_handle_at",
	"perf_event_open",
	"query_module",
	"quotactl",
	"quotactl_fd",
	"request_key",
	"settimeofday",
	"stime",
	"swapoff",
	"swapon",
	"_sysctl",
	"sysfs",
	"syslog", /* the host's kernel log, where kernel.dmesg_restrict is 0 (Docker: CAP_SYSLOG) */
	"uselib",
	"userfaultfd",
	"ustat",
	"vm86",
	"vm86old",
};

/* personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26 (with and without
 * PER_LINUX32) and the 0xffffffff query; anything else (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ..)
 * is refused by personality_prefix(). */

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
	*ctx = NULL;
}

static int add_rules(scmp_filter_ctx ctx, struct carve_error *err)
{
	int r, nr;

	for (size_t i = 0; i < ELEMENTSOF(denied_syscalls); i++) {
		nr = seccomp_syscall_resolve_name(denied_syscalls[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown to this libseccomp: not on any of our ABIs */
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0)
			return carve_err(err, r, "seccomp: deny %s: %s", denied_syscalls[i],
					 strerror(-r));
	}
	return 0;
}

/*
 * personality(2) with an argument outside Docker's values: libseccomp 2.5 cannot say "not
 * one of these" (one comparison per argument and rule), so this check is a few instructions of
 * BPF put in front of libseccomp's program; every path that does not refuse falls through to it
 * (BPF jumps are relative, so the program after it is unchanged). The kernel takes an unsigned
 * int: only the low 32 bits of the argument count.
 */
#define X32_SYSCALL_BIT 0x40000000U
#define NR_PERSONALITY_X86_64 135U
#define NR_PERSONALITY_I386 136U
#define PREFIX_LEN 16
#define OFF_NR 0
#define OFF_ARCH 4
#define OFF_ARG0_LO 16

static void personality_prefix(struct sock_filter out[static PREFIX_LEN])
{
	enum {
		CHECK = 9,
		END = PREFIX_LEN
	};
#define JUMP(i, to) ((unsigned char)((to) - ((i) + 1)))
	const struct sock_filter f[PREFIX_LEN] = {
		/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_ARCH),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, JUMP(1, 6)),
		/* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_NR),
		/* 3 */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_PERSONALITY_X86_64, JUMP(3, CHECK), 0),
		/* 4 */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, X32_SYSCALL_BIT | NR_PERSONALITY_X86_64,
			 JUMP(4, CHECK), 0),
		/* 5 */ BPF_STMT(BPF_JMP | BPF_JA, END - 6),
		/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, JUMP(6, END)),
		/* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_NR),
		/* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_PERSONALITY_I386, 0, JUMP(8, END)),
		/* 9 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_ARG0_LO),
		/* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0, JUMP(10, END), 0),
		/* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x8, JUMP(11, END), 0),
		/* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20000, JUMP(12, END), 0),
		/* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20008, JUMP(13, END), 0),
		/* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff, JUMP(14, END), 0),
		/* 15 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
#undef JUMP
	memcpy(out, f, sizeof(f));
}

int ct_seccomp_build(struct sock_fprog *ret, struct carve_error *err)
{
	cleanup(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	cleanup_close int fd = -EBADF;
	cleanup_free struct sock_filter *insns = NULL;
	struct stat st;
	size_t len;
	ssize_t n;
	int r;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return carve_err(err, -ENOMEM, "seccomp: init");
	/* native (x86_64) is in already; the other x86 ABIs reach the same kernel */
	static const uint32_t arches[] = {SCMP_ARCH_X86, SCMP_ARCH_X32};
	for (size_t i = 0; i < ELEMENTSOF(arches); i++) {
		if (seccomp_arch_native() != SCMP_ARCH_X86_64)
			break;
		r = seccomp_arch_add(ctx, arches[i]);
		if (r < 0 && r != -EEXIST)
			return carve_err(err, r, "seccomp: add arch 0x%x: %s", arches[i],
					 strerror(-r));
	}
	/* the child sets no_new_privs itself, right before loading */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r < 0)
		return carve_err(err, r, "seccomp: attribute: %s", strerror(-r));
	r = add_rules(ctx, err);
	if (r < 0)
		return r;

	/* libseccomp 2.5 exports only to an fd */
	fd = memfd_create("carve-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return carve_err(err, -errno, "seccomp: memfd: %s", strerror(errno));
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return carve_err(err, r, "seccomp: export: %s", strerror(-r));
	if (fstat(fd, &st) < 0)
		return carve_err(err, -errno, "seccomp: stat: %s", strerror(errno));
	if (st.st_size <= 0 || st.st_size > FILTER_MAX_BYTES ||
	    st.st_size % (off_t)sizeof(struct sock_filter) != 0)
		return carve_err(err, -EINVAL, "seccomp: export: bad program size %lld",
				 (long long)st.st_size);
	len = PREFIX_LEN + (size_t)st.st_size / sizeof(struct sock_filter);
	if (len > BPF_MAXINSNS)
		return carve_err(err, -E2BIG, "seccomp: program of %zu instructions", len);
	insns = calloc(len, sizeof(struct sock_filter));
	if (!insns)
		return carve_err(err, -ENOMEM, "seccomp: out of memory");
	personality_prefix(insns);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return carve_err(err, -errno, "seccomp: seek: %s", strerror(errno));
	n = loop_read(fd, insns + PREFIX_LEN, (size_t)st.st_size);
	if (n != st.st_size)
		return carve_err(err, n < 0 ? (int)n : -EIO, "seccomp: read back program");

	*ret = (struct sock_fprog){
		.len = (unsigned short)len,
		.filter = TAKE_PTR(insns),
	};
	return 0;
}

void ct_seccomp_release(struct sock_fprog *prog)
{
	if (!prog)
		return;
	free(prog->filter);
	prog->filter = NULL;
	prog->len = 0;
}

int ct_seccomp_apply(const struct sock_fprog *prog, struct carve_error *err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return carve_err(err, -errno, "set no_new_privs: %s", strerror(errno));
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) < 0)
		return carve_err(err, -errno, "load seccomp filter: %s", strerror(errno));
	return 0;
}

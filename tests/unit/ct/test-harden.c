/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hardening pieces of ct_spawn() on their own, as any user:
 *  - the seccomp program, run through a classic-BPF interpreter for every x86 ABI (so the i386 and
 *    x32 rules are checked even on kernels without those entry points), then loaded for real in a
 *    child: denied syscalls that worked before now fail with EPERM, allowed ones still work;
 *  - the capability bounding set in a fresh user namespace equals Docker's default set;
 *  - ct_cloned_binary_reexec(): this program re-executed runs from a sealed memfd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "ct/ct-internal.h"
#include "ct/ct.h"

#define X32 0x40000000U
#define RET_EPERM (SECCOMP_RET_ERRNO | EPERM)

/* Classic BPF, the subset seccomp programs use, over a struct seccomp_data. */
static uint32_t run_bpf(const struct sock_fprog *prog, const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};

	for (size_t pc = 0; pc < prog->len; pc++) {
		const struct sock_filter *f = &prog->filter[pc];
		uint32_t src = BPF_SRC(f->code) == BPF_X ? x : f->k;

		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
			if (BPF_MODE(f->code) == BPF_ABS) {
				assert_true(f->k + 4 <= sizeof(*d));
				memcpy(&a, (const char *)d + f->k, 4);
			} else if (BPF_MODE(f->code) == BPF_IMM) {
				a = f->k;
			} else if (BPF_MODE(f->code) == BPF_MEM) {
				a = mem[f->k];
			} else {
				fail_msg("ld mode 0x%x at %zu", f->code, pc);
			}
			break;
		case BPF_LDX:
			x = BPF_MODE(f->code) == BPF_MEM ? mem[f->k] : f->k;
			break;
		case BPF_ST:
			mem[f->k] = a;
			break;
		case BPF_STX:
			mem[f->k] = x;
			break;
		case BPF_ALU:
			switch (BPF_OP(f->code)) {
			case BPF_AND:
				a &= src;
				break;
			case BPF_OR:
				a |= src;
				break;
			case BPF_ADD:
				a += src;
				break;
			case BPF_SUB:
				a -= src;
				break;
			case BPF_RSH:
				a >>= src;
				break;
			case BPF_LSH:
				a <<= src;
				break;
			default:
				fail_msg("alu op 0x%x at %zu", f->code, pc);
			}
			break;
		case BPF_JMP:
			if (BPF_OP(f->code) == BPF_JA) {
				pc += f->k;
				break;
			}
			{
				bool t = false;
				switch (BPF_OP(f->code)) {
				case BPF_JEQ:
					t = a == src;
					break;
				case BPF_JGT:
					t = a > src;
					break;
				case BPF_JGE:
					t = a >= src;
					break;
				case BPF_JSET:
					t = (a & src) != 0;
					break;
				default:
					fail_msg("jmp op 0x%x at %zu", f->code, pc);
				}
				pc += t ? f->jt : f->jf;
			}
			break;
		case BPF_RET:
			return BPF_RVAL(f->code) == BPF_A ? a : f->k;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				x = a;
			else
				a = x;
			break;
		}
	}
	fail_msg("program ran off its end");
	return 0;
}

static uint32_t verdict(const struct sock_fprog *prog, uint32_t arch, uint32_t nr, uint64_t arg0)
{
	struct seccomp_data d = {.nr = (int)nr, .arch = arch, .args = {arg0}};

	return run_bpf(prog, &d);
}

static void test_seccomp_program_all_abis(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct sock_fprog prog = {0};
	static const struct {
		uint32_t arch, nr;
		uint64_t arg0;
		uint32_t want;
		const char *what;
	} cases[] = {
		/* x86_64 numbers */
		{AUDIT_ARCH_X86_64, 250, 0, RET_EPERM, "keyctl"},
		{AUDIT_ARCH_X86_64, 321, 0, RET_EPERM, "bpf"},
		{AUDIT_ARCH_X86_64, 425, 0, RET_EPERM, "io_uring_setup"},
		{AUDIT_ARCH_X86_64, 323, 0, RET_EPERM, "userfaultfd"},
		{AUDIT_ARCH_X86_64, 298, 0, RET_EPERM, "perf_event_open"},
		{AUDIT_ARCH_X86_64, 304, 0, RET_EPERM, "open_by_handle_at"},
		{AUDIT_ARCH_X86_64, 246, 0, RET_EPERM, "kexec_load"},
		{AUDIT_ARCH_X86_64, 227, 0, RET_EPERM, "clock_settime"},
		{AUDIT_ARCH_X86_64, 39, 0, SECCOMP_RET_ALLOW, "getpid"},
		{AUDIT_ARCH_X86_64, 169, 0, SECCOMP_RET_ALLOW, "reboot (pid-ns init exit)"},
		{AUDIT_ARCH_X86_64, 165, 0, SECCOMP_RET_ALLOW, "mount"},
		{AUDIT_ARCH_X86_64, 272, 0x10000000, SECCOMP_RET_ALLOW, "unshare(CLONE_NEWUSER)"},
		{AUDIT_ARCH_X86_64, 101, 0, SECCOMP_RET_ALLOW, "ptrace"},
		{AUDIT_ARCH_X86_64, 155, 0, SECCOMP_RET_ALLOW, "pivot_root"},
		{AUDIT_ARCH_X86_64, 135, 0x0040000, RET_EPERM, "personality(ADDR_NO_RANDOMIZE)"},
		{AUDIT_ARCH_X86_64, 135, 0xffffffff, SECCOMP_RET_ALLOW, "personality query"},
		{AUDIT_ARCH_X86_64, 135, 0x8, SECCOMP_RET_ALLOW, "personality(PER_LINUX32)"},
		{AUDIT_ARCH_X86_64, 135, 0x20008, SECCOMP_RET_ALLOW,
		 "personality(UNAME26|LINUX32)"},
		/* x32: the same table with the x32 bit */
		{AUDIT_ARCH_X86_64, X32 | 250, 0, RET_EPERM, "x32 keyctl"},
		{AUDIT_ARCH_X86_64, X32 | 321, 0, RET_EPERM, "x32 bpf"},
		{AUDIT_ARCH_X86_64, X32 | 39, 0, SECCOMP_RET_ALLOW, "x32 getpid"},
		{AUDIT_ARCH_X86_64, X32 | 135, 0x0040000, RET_EPERM, "x32 personality"},
		/* i386 numbers */
		{AUDIT_ARCH_I386, 288, 0, RET_EPERM, "i386 keyctl"},
		{AUDIT_ARCH_I386, 357, 0, RET_EPERM, "i386 bpf"},
		{AUDIT_ARCH_I386, 425, 0, RET_EPERM, "i386 io_uring_setup"},
		{AUDIT_ARCH_I386, 113, 0, RET_EPERM, "i386 vm86old"},
		{AUDIT_ARCH_I386, 110, 0, RET_EPERM, "i386 iopl"},
		{AUDIT_ARCH_I386, 404, 0, RET_EPERM, "i386 clock_settime64"},
		{AUDIT_ARCH_I386, 20, 0, SECCOMP_RET_ALLOW, "i386 getpid"},
		{AUDIT_ARCH_I386, 88, 0, SECCOMP_RET_ALLOW, "i386 reboot"},
		{AUDIT_ARCH_I386, 136, 0x0040000, RET_EPERM, "i386 personality"},
		{AUDIT_ARCH_I386, 136, 0xffffffff, SECCOMP_RET_ALLOW, "i386 personality query"},
	};

	if (ct_seccomp_build(&prog, &err) < 0)
		fail_msg("build: %s", err.msg);
	assert_true(prog.len > 16);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint32_t got = verdict(&prog, cases[i].arch, cases[i].nr, cases[i].arg0);

		if (got != cases[i].want)
			fail_msg("%s: verdict 0x%x, want 0x%x", cases[i].what, got, cases[i].want);
	}
	/* an unknown ABI is never simply allowed */
	assert_int_not_equal(verdict(&prog, 0x12345678, 39, 0), SECCOMP_RET_ALLOW);
	ct_seccomp_release(&prog);
	assert_null(prog.filter);
}

static long raw_keyctl(void)
{
	return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
}

static void test_seccomp_loaded(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct sock_fprog prog = {0};
	pid_t pid;
	int st;

	if (ct_seccomp_build(&prog, &err) < 0)
		fail_msg("build: %s", err.msg);
	/* before: keyctl answers (an id or a key error), never EPERM */
	errno = 0;
	assert_false(raw_keyctl() < 0 && errno == EPERM);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int bad = 0;

		if (ct_seccomp_apply(&prog, NULL) < 0)
			_exit(100);
		if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
			bad |= 1;
		if (!(raw_keyctl() < 0 && errno == EPERM))
			bad |= 2;
		if (!(syscall(SYS_io_uring_setup, 0, NULL) < 0 && errno == EPERM))
			bad |= 4;
		if (!(personality(ADDR_NO_RANDOMIZE) < 0 && errno == EPERM))
			bad |= 8;
		if (personality(0xffffffff) < 0 || getpid() <= 0)
			bad |= 16;
		/* x32 entry (absent or not): the filter answers first */
		if (!(syscall(X32 | 250, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0) < 0 &&
		      errno == EPERM))
			bad |= 32;
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	ct_seccomp_release(&prog);
}

static uint64_t status_hex(const char *status, const char *key)
{
	const char *p = strstr(status, key);

	assert_non_null(p);
	return strtoull(p + strlen(key), NULL, 16);
}

static void test_caps_bounding_set(void **state)
{
	int last = ct_caps_last_cap();
	pid_t pid;
	int st;

	assert_true(last >= 36); /* CAP_AUDIT_READ is old */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cleanup_free char *status = NULL;

		/* a user namespace of our own gives us every capability to drop, as any user */
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(77);
		if (ct_caps_bound(CT_CAPS_DEFAULT, last, NULL) < 0)
			_exit(100);
		if (read_full_file("/proc/self/status", 1 << 16, &status, NULL) < 0)
			_exit(101);
		if (status_hex(status, "CapBnd:") != CT_CAPS_DEFAULT)
			_exit(1);
		if (status_hex(status, "CapAmb:") != 0 || status_hex(status, "CapInh:") != 0)
			_exit(2);
		/* dropped for good: CAP_SYS_ADMIN (21) cannot come back */
		if (prctl(PR_CAPBSET_READ, 21, 0, 0, 0) != 0)
			_exit(3);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
	/* Docker's set, bit by bit */
	assert_int_equal(CT_CAPS_DEFAULT, (1ULL << 0) | (1ULL << 1) | (1ULL << 3) | (1ULL << 4) |
						  (1ULL << 5) | (1ULL << 6) | (1ULL << 7) |
						  (1ULL << 8) | (1ULL << 10) | (1ULL << 13) |
						  (1ULL << 18) | (1ULL << 27) | (1ULL << 29) |
						  (1ULL << 31));
	/* a system container adds exactly NET_ADMIN, SYS_ADMIN and SYS_BOOT (in its user ns) */
	assert_int_equal(CT_CAPS_SYSTEM ^ CT_CAPS_DEFAULT,
			 (1ULL << 12) | (1ULL << 21) | (1ULL << 22));
	assert_int_equal(CT_CAPS_SYSTEM & CT_CAPS_DEFAULT, CT_CAPS_DEFAULT);
}

static const char *self_path;

static void test_cloned_binary(void **state)
{
	char out[512] = "";
	int pfd[2];
	pid_t pid;
	ssize_t n;
	int st;

	/* not us: this test process runs from disk */
	assert_false(ct_cloned_binary_is_sealed());
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = {(char *)self_path, "--reexec-child", "extra-arg", NULL};

		dup2(pfd[1], 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(pfd[1]);
	n = loop_read(pfd[0], out, sizeof(out) - 1);
	close(pfd[0]);
	assert_true(n > 0);
	out[n] = '\0';
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* argv kept, exe is the memfd, sealed, and the marker did not leak into the environment */
	if (!strstr(out, "exe=/memfd:carve-test-harden") || !strstr(out, " sealed=1") ||
	    !strstr(out, " marker=0") || !strstr(out, " argv2=extra-arg"))
		fail_msg("child said '%s'", out);
}

static int reexec_child(char **argv)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char exe[256] = "";
	ssize_t n;

	if (ct_cloned_binary_reexec("carve-test-harden", argv, &err) < 0) {
		printf("error=%s\n", err.msg);
		return 1;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0)
		exe[n] = '\0';
	printf("exe=%s sealed=%d marker=%d argv2=%s\n", exe, ct_cloned_binary_is_sealed(),
	       getenv("_CARVE_CLONED_BINARY") != NULL, argv[2] ? argv[2] : "");
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seccomp_program_all_abis),
		cmocka_unit_test(test_seccomp_loaded),
		cmocka_unit_test(test_caps_bounding_set),
		cmocka_unit_test(test_cloned_binary),
	};

	if (argc >= 2 && strcmp(argv[1], "--reexec-child") == 0)
		return reexec_child(argv);
	self_path = argv[0];
	return cmocka_run_group_tests(tests, NULL, NULL);
}

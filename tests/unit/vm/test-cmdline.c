/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Golden tests for vm_cmdline_build: kvm vs tcg, q35 vs microvm, explicit formats and cache
 * modes, the sandbox flags, no defaults, and validation errors naming the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/string-util.h"
#include "vm/vm.h"

static char *join(char **argv)
{
	size_t n = 1;
	char *s, *p;
	for (char **a = argv; *a; a++)
		n += strlen(*a) + 1;
	s = malloc(n);
	assert_non_null(s);
	p = s;
	for (char **a = argv; *a; a++) {
		size_t k = strlen(*a);
		memcpy(p, *a, k);
		p += k;
		*p++ = ' ';
	}
	if (p > s)
		p--;
	*p = '\0';
	return s;
}

static const struct vm_disk disks[] = {
	{.path = "/pool/web1,root.raw", .format = VM_DISK_FORMAT_RAW, .serial = "root"},
	{.path = "/pool/seed.img", .format = VM_DISK_FORMAT_RAW, .read_only = true},
};

static struct vm_config base_cfg(void)
{
	return (struct vm_config){
		.name = "web1",
		.accel = VM_ACCEL_TCG,
		.machine = VM_MACHINE_Q35,
		.vcpus = 2,
		.memory = UINT64_C(256) << 20,
		.kernel = "/assets/vmlinuz",
		.initrd = "/assets/initramfs.gz",
		.append = "console=ttyS0",
		.disks = disks,
		.n_disks = 2,
		.aio = VM_AIO_THREADS,
		.qmp_socket = "/run/carve/web1/qmp.sock",
		.serial_socket = "/run/carve/web1/serial.sock",
		.pidfile = "/run/carve/web1/qemu.pid",
	};
}

static void test_q35_tcg_golden(void **state)
{
	struct vm_config cfg = base_cfg();
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_strv char **argv = NULL;
	cleanup_free char *s = NULL;

	assert_int_equal(vm_cmdline_build(&cfg, &argv, &err), 0);
	s = join(argv);
	assert_string_equal(
		s,
		"qemu-system-x86_64 -name guest=web1,debug-threads=on -nodefaults -no-user-config "
		"-nographic -machine q35 -accel tcg,thread=multi,tb-size=128 -cpu " VM_TCG_CPU
		" -smp 2 "
		"-m 256M -sandbox "
		"on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny "
		"-chardev socket,id=serial0,path=/run/carve/web1/serial.sock,server=on,wait=off "
		"-serial chardev:serial0 "
		"-chardev socket,id=qmp0,path=/run/carve/web1/qmp.sock,server=on,wait=off "
		"-mon chardev=qmp0,mode=control -pidfile /run/carve/web1/qemu.pid "
		"-kernel /assets/vmlinuz -initrd /assets/initramfs.gz -append console=ttyS0 "
		"-drive "
		"if=none,id=disk0,file=/pool/web1,,root.raw,format=raw,cache=none,aio=threads,"
		"readonly=off,discard=unmap "
		"-device virtio-blk-pci,drive=disk0,id=vblk0,serial=root "
		"-drive "
		"if=none,id=disk1,file=/pool/seed.img,format=raw,cache=none,aio=threads,readonly=on,"
		"discard=ignore "
		"-device virtio-blk-pci,drive=disk1,id=vblk1");
	/* QEMU never guesses: no -daemonize, no -runas, no -hda style options */
	assert_null(strstr(s, "-daemonize"));
	assert_null(strstr(s, "-hda"));
	assert_null(strstr(s, "-runas"));
}

static void test_kvm(void **state)
{
	struct vm_config cfg = base_cfg();
	cleanup_strv char **argv = NULL;
	cleanup_free char *s = NULL;

	cfg.accel = VM_ACCEL_KVM;
	cfg.serial_socket = NULL;
	cfg.aio = VM_AIO_IO_URING;
	assert_int_equal(vm_cmdline_build(&cfg, &argv, NULL), 0);
	s = join(argv);
	assert_non_null(strstr(s, " -accel kvm -cpu host "));
	assert_null(strstr(s, "tcg"));
	assert_non_null(
		strstr(s, " -chardev stdio,id=serial0,signal=off -serial chardev:serial0 "));
	assert_non_null(strstr(s, "format=raw,cache=none,aio=io_uring,"));
}

static void test_microvm_tcg_tsc(void **state)
{
	struct vm_config cfg = base_cfg();
	cleanup_strv char **argv = NULL;
	cleanup_free char *s = NULL;

	cfg.machine = VM_MACHINE_MICROVM;
	cfg.tsc_khz = 2096026;
	assert_int_equal(vm_cmdline_build(&cfg, &argv, NULL), 0);
	s = join(argv);
	assert_non_null(
		strstr(s, " -machine microvm,acpi=on,pit=off,pic=off,rtc=on,isa-serial=on "));
	assert_non_null(strstr(s, " -append console=ttyS0 tsc_early_khz=2096026 "));
	assert_non_null(strstr(s, " -device virtio-blk-device,drive=disk0,id=vblk0,serial=root"));
	assert_null(strstr(s, "virtio-blk-pci"));

	/* tsc from the host when not given */
	{
		cleanup_strv char **argv2 = NULL;
		uint64_t khz = 0;
		cfg.tsc_khz = 0;
		if (vm_host_tsc_khz(&khz, NULL) == 0) {
			char want[64];
			cleanup_free char *s2 = NULL;
			assert_int_equal(vm_cmdline_build(&cfg, &argv2, NULL), 0);
			s2 = join(argv2);
			snprintf(want, sizeof(want), "tsc_early_khz=%llu", (unsigned long long)khz);
			assert_non_null(strstr(s2, want));
			assert_true(khz > 100000);
		}
	}
	/* under KVM no tsc_early_khz */
	{
		cleanup_strv char **argv3 = NULL;
		cleanup_free char *s3 = NULL;
		cfg.accel = VM_ACCEL_KVM;
		cfg.tsc_khz = 1234;
		assert_int_equal(vm_cmdline_build(&cfg, &argv3, NULL), 0);
		s3 = join(argv3);
		assert_null(strstr(s3, "tsc_early_khz"));
	}
}

static void test_formats_explicit(void **state)
{
	struct vm_disk d[] = {
		{.path = "/pool/a.qcow2", .format = VM_DISK_FORMAT_QCOW2},
		{.path = "/pool/b.raw", .format = VM_DISK_FORMAT_RAW, .writeback = true},
	};
	struct vm_config cfg = base_cfg();
	cleanup_strv char **argv = NULL;
	size_t drives = 0;

	cfg.disks = d;
	cfg.n_disks = 2;
	cfg.kernel = cfg.initrd = cfg.append = NULL;
	cfg.aio = VM_AIO_NATIVE;
	assert_int_equal(vm_cmdline_build(&cfg, &argv, NULL), 0);
	for (char **a = argv; *a; a++) {
		if (!streq(*a, "-drive"))
			continue;
		drives++;
		assert_non_null(a[1]);
		assert_true(strstr(a[1], ",format=raw,") || strstr(a[1], ",format=qcow2,"));
		assert_non_null(strstr(a[1], "if=none,"));
	}
	assert_int_equal(drives, 2);
	{
		cleanup_free char *s = join(argv);
		assert_non_null(strstr(s, "file=/pool/a.qcow2,format=qcow2,cache=none,aio=native"));
		/* aio=native needs O_DIRECT: a writeback disk falls back to threads */
		assert_non_null(
			strstr(s, "file=/pool/b.raw,format=raw,cache=writeback,aio=threads"));
		/* disk boot: the root disk boots first */
		assert_non_null(strstr(s, "virtio-blk-pci,drive=disk0,id=vblk0,bootindex=0"));
		assert_null(strstr(s, "-kernel"));
	}
}

static void test_auto_accel_and_aio(void **state)
{
	struct vm_config cfg = base_cfg();
	cleanup_strv char **argv = NULL;
	cleanup_free char *s = NULL;

	cfg.accel = VM_ACCEL_AUTO;
	cfg.aio = VM_AIO_AUTO;
	assert_int_equal(vm_cmdline_build(&cfg, &argv, NULL), 0);
	s = join(argv);
	if (vm_kvm_usable())
		assert_non_null(strstr(s, "-accel kvm -cpu host"));
	else
		assert_non_null(strstr(s, "-accel tcg,thread=multi"));
	assert_true(strstr(s, "aio=io_uring") || strstr(s, "aio=threads"));
	assert_int_equal(vm_accel_resolve(VM_ACCEL_TCG), VM_ACCEL_TCG);
}

static void expect_invalid(struct vm_config *cfg, const char *field, const char *msg_part)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char **argv = NULL;
	assert_int_equal(vm_cmdline_build(cfg, &argv, &err), -EINVAL);
	assert_null(argv);
	assert_string_equal(err.field, field);
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
}

static void test_validation(void **state)
{
	struct vm_config cfg;
	struct vm_disk bad[] = {{.path = "relative.raw", .format = VM_DISK_FORMAT_RAW}};
	struct vm_disk badfmt[] = {{.path = "/a.raw", .format = (enum vm_disk_format)7}};

	cfg = base_cfg();
	cfg.vcpus = 0;
	expect_invalid(&cfg, "vcpus", "vm 'web1': vcpus 0");
	cfg = base_cfg();
	cfg.memory = (UINT64_C(256) << 20) + 1;
	expect_invalid(&cfg, "memory", "memory");
	cfg = base_cfg();
	cfg.name = "Web 1";
	expect_invalid(&cfg, "name", "vm name 'Web 1'");
	cfg = base_cfg();
	cfg.append = "console=ttyS0\ninit=/bin/sh";
	expect_invalid(&cfg, "append", "control character");
	cfg = base_cfg();
	cfg.disks = bad;
	cfg.n_disks = 1;
	expect_invalid(&cfg, "disk path", "not an absolute path");
	cfg = base_cfg();
	cfg.disks = badfmt;
	cfg.n_disks = 1;
	expect_invalid(&cfg, "format", "disk 0: format");
	cfg = base_cfg();
	cfg.qmp_socket = NULL;
	expect_invalid(&cfg, "qmp_socket", "qmp_socket: missing");
	cfg = base_cfg();
	cfg.machine = VM_MACHINE_MICROVM;
	cfg.kernel = cfg.initrd = cfg.append = NULL;
	expect_invalid(&cfg, "kernel", "microvm");
}

/* Interfaces: a tap fd passed in (QEMU never opens /dev/net/tun), or a tap by name; virtio-net
 * with the MAC carve assigned; bad names and MACs refused. */
static void test_nics(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct vm_nic nics[] = {{.ifname = "cvt5", .mac = "02:49:d6:66:27:8e", .fd = 7},
				{.ifname = "cvt6", .mac = "02:00:00:00:00:01"}};
	struct vm_config cfg = base_cfg();
	char **argv = NULL, *s;

	cfg.nics = nics;
	cfg.n_nics = 2;
	assert_int_equal(vm_cmdline_build(&cfg, &argv, &err), 0);
	s = join(argv);
	assert_non_null(strstr(s, "-netdev tap,id=net0,fd=7 -device "
				  "virtio-net-pci,netdev=net0,mac=02:49:d6:66:27:8e"));
	assert_non_null(strstr(s, "-netdev tap,id=net1,ifname=cvt6,script=no,downscript=no "
				  "-device virtio-net-pci,netdev=net1,mac=02:00:00:00:00:01"));
	free(s);
	strv_free(argv);

	nics[1].ifname = "cv t6";
	expect_invalid(&cfg, "nics", "nic 1");
	nics[1].ifname = "cvt6";
	nics[1].mac = "03:00:00:00:00:01"; /* multicast */
	expect_invalid(&cfg, "nics", "nic 1");
	nics[1].mac = "02:00:00:00:00";
	expect_invalid(&cfg, "nics", "nic 1");
	cfg.n_nics = VM_NICS_MAX + 1;
	expect_invalid(&cfg, "nics", "at most");
}

static void test_enums_and_limit(void **state)
{
	struct vm_config cfg = base_cfg();
	assert_string_equal(vm_machine_to_string(VM_MACHINE_MICROVM), "microvm");
	assert_int_equal(vm_machine_from_string("q35"), VM_MACHINE_Q35);
	assert_int_equal(vm_machine_from_string("pc"), -EINVAL);
	assert_int_equal(vm_disk_format_from_string("qcow2"), VM_DISK_FORMAT_QCOW2);
	assert_int_equal(vm_accel_from_string("kvm"), VM_ACCEL_KVM);
	/* guest RAM plus overhead, and the overhead is bounded */
	assert_true(vm_memory_limit(&cfg) > cfg.memory + (UINT64_C(128) << 20));
	assert_true(vm_memory_limit(&cfg) < cfg.memory + (UINT64_C(512) << 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_q35_tcg_golden),	   cmocka_unit_test(test_kvm),
		cmocka_unit_test(test_microvm_tcg_tsc),	   cmocka_unit_test(test_formats_explicit),
		cmocka_unit_test(test_auto_accel_and_aio), cmocka_unit_test(test_validation),
		cmocka_unit_test(test_enums_and_limit),	   cmocka_unit_test(test_nics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/vm-boot's driver for the rows without carved (built by bench/vm-boot): one boot of the
 * asset kernel + initramfs with a raw virtio disk the guest writes to, KVM when usable, else TCG,
 * either
 *   plain: a plain `qemu-system-x86_64` command line (serial on a pipe; killed after the
 *          marker), timed from fork to the marker, or
 *   srcvm: carve's src/vm alone (vm_cmdline_build + vm_spawn + serial socket; QMP powerdown
 *          after the marker), timed from before the command line is built to the marker,
 * and prints "<ms to marker> <accel> <QEMU VmRSS KiB> <QEMU Pss KiB>" (memory at the marker).
 * Usage: vm-boot-run ASSETS_DIR TMP_DIR plain|srcvm q35|microvm MEMORY_MIB DISK_MIB INDEX
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "vm/vm.h"
#include "bench-util.h"

#define MARKER "CARVE-VM-READY"

static int64_t now_us(void)
{
	return (int64_t)(bench_now_ns() / 1000);
}

static void print_row(int64_t t0, int64_t t1, pid_t pid)
{
	printf("%.1f %s %ld %ld\n", (double)(t1 - t0) / 1000.0, vm_kvm_usable() ? "kvm" : "tcg",
	       bench_proc_kib(pid, "status", "VmRSS"), bench_proc_kib(pid, "smaps_rollup", "Pss"));
	fflush(stdout);
}

/* read fd until MARKER, up to 120 s; 0 or -1 */
static int wait_marker(int fd)
{
	static char buf[1 << 20];
	size_t len = 0;
	int64_t end = now_us() + 120 * 1000000LL;
	buf[0] = '\0';
	while (!strstr(buf, MARKER)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (now_us() > end || len + 1 >= sizeof(buf))
			return -1;
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return -1;
		for (ssize_t i = 0; i < n; i++)
			if (buf[len + (size_t)i] == '\0')
				buf[len + (size_t)i] = ' ';
		len += (size_t)n;
		buf[len] = '\0';
	}
	return 0;
}

/* the same size as the carve server's disk, sparse like its reflinked volume */
static int make_disk(const char *path, long mib)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)mib << 20) < 0)
		return -1;
	close(fd);
	return 0;
}

/* the kernel command line carved gives its VMs, without the per-server token */
#define APPEND "console=ttyS0 panic=-1"

static int run_srcvm(const char *assets, const char *tmp, enum vm_machine machine, long mem_mib,
		     long disk_mib, int i)
{
	char kernel[512], initrd[512], disk_path[512], qmp[512], serial[512];
	struct carve_error err = CARVE_ERROR_INIT;
	struct vm_disk disk = {.path = disk_path, .format = VM_DISK_FORMAT_RAW};
	struct vm_config cfg = {.name = "bench",
				.accel = VM_ACCEL_AUTO,
				.machine = machine,
				.vcpus = 1,
				.memory = (uint64_t)mem_mib << 20,
				.kernel = kernel,
				.initrd = initrd,
				.append = APPEND,
				.disks = &disk,
				.n_disks = 1,
				.qmp_socket = qmp,
				.serial_socket = serial};
	struct vm_spawn_opts opts = {
		.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .kill_with_parent = true};
	cleanup_strv char **argv = NULL;
	struct vm_qmp *q = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int64_t t0, t1;
	int fd = -1;
	pid_t pid;
	bool forced;

	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", assets);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.gz", assets);
	snprintf(disk_path, sizeof(disk_path), "%s/srcvm-%d.raw", tmp, i);
	snprintf(qmp, sizeof(qmp), "%s/qmp-%d.sock", tmp, i);
	snprintf(serial, sizeof(serial), "%s/serial-%d.sock", tmp, i);
	if (make_disk(disk_path, disk_mib) < 0)
		return -1;

	t0 = now_us(); /* create: command line, spawn, console attach */
	if (vm_cmdline_build(&cfg, &argv, &err) < 0 || vm_spawn(argv, &opts, &pid, &err) < 0) {
		fprintf(stderr, "srcvm: %s\n", err.msg);
		return -1;
	}
	strscpy(sa.sun_path, serial, sizeof(sa.sun_path));
	for (int k = 0; k < 5000; k++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(fd);
		fd = -1;
		usleep(1000);
	}
	if (fd < 0 || wait_marker(fd) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	t1 = now_us();
	print_row(t0, t1, pid);
	if (vm_qmp_connect(qmp, 5000, &q, &err) < 0 ||
	    vm_powerdown(q, pid, 20000, &forced, &err) < 0)
		fprintf(stderr, "srcvm: %s\n", err.msg);
	vm_qmp_free(q);
	close(fd);
	waitpid(pid, NULL, 0);
	unlink(disk_path);
	return 0;
}

static int run_plain(const char *assets, const char *tmp, enum vm_machine machine, long mem_mib,
		     long disk_mib, int i)
{
	char kernel[512], initrd[512], disk_path[512], drive[600], mem[32], append[128];
	bool microvm = machine == VM_MACHINE_MICROVM, kvm = vm_kvm_usable();
	uint64_t khz = 0;
	int p[2];
	int64_t t0, t1;
	pid_t pid;

	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", assets);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.gz", assets);
	snprintf(disk_path, sizeof(disk_path), "%s/plain-%d.raw", tmp, i);
	/* what a user types: q35's if=virtio is virtio-blk-pci; microvm has no PCI bus, so the
	 * disk is a virtio-mmio device; under TCG microvm needs tsc_early_khz or it hangs */
	if (microvm)
		snprintf(drive, sizeof(drive), "id=d0,file=%s,format=raw,if=none", disk_path);
	else
		snprintf(drive, sizeof(drive), "file=%s,format=raw,if=virtio", disk_path);
	snprintf(mem, sizeof(mem), "%ld", mem_mib);
	if (microvm && !kvm && vm_host_tsc_khz(&khz, NULL) < 0)
		return -1;
	if (khz)
		snprintf(append, sizeof(append), "%s tsc_early_khz=%" PRIu64, APPEND, khz);
	else
		snprintf(append, sizeof(append), "%s", APPEND);
	if (make_disk(disk_path, disk_mib) < 0 || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	t0 = now_us();
	pid = fork();
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDWR);
		dup2(null_fd, 0);
		dup2(p[1], 1);
		dup2(null_fd, 2);
		if (microvm)
			execlp("qemu-system-x86_64", "qemu-system-x86_64", "-machine", "microvm",
			       "-accel", kvm ? "kvm" : "tcg", "-m", mem, "-nographic", "-kernel",
			       kernel, "-initrd", initrd, "-append", append, "-drive", drive,
			       "-device", "virtio-blk-device,drive=d0", (char *)NULL);
		else
			execlp("qemu-system-x86_64", "qemu-system-x86_64", "-machine", "q35",
			       "-accel", kvm ? "kvm" : "tcg", "-m", mem, "-nographic", "-kernel",
			       kernel, "-initrd", initrd, "-append", append, "-drive", drive,
			       (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (wait_marker(p[0]) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(p[0]);
		return -1;
	}
	t1 = now_us();
	print_row(t0, t1, pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	unlink(disk_path);
	return 0;
}

int main(int argc, char **argv)
{
	enum vm_machine machine;
	long mem_mib, disk_mib;
	int i, r;

	if (argc != 8 || (machine = vm_machine_from_string(argv[4])) < 0) {
		fprintf(stderr, "usage: vm-boot-run ASSETS_DIR TMP_DIR plain|srcvm q35|microvm "
				"MEMORY_MIB DISK_MIB INDEX\n");
		return 2;
	}
	mem_mib = strtol(argv[5], NULL, 10);
	disk_mib = strtol(argv[6], NULL, 10);
	i = (int)strtol(argv[7], NULL, 10);
	if (strcmp(argv[3], "plain") == 0)
		r = run_plain(argv[1], argv[2], machine, mem_mib, disk_mib, i);
	else if (strcmp(argv[3], "srcvm") == 0)
		r = run_srcvm(argv[1], argv[2], machine, mem_mib, disk_mib, i);
	else
		r = -1;
	if (r < 0)
		fprintf(stderr, "vm-boot-run: %s %s boot %d failed\n", argv[3], argv[4], i);
	return r < 0 ? 1 : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/vm-boot driver (built by bench/vm-boot): boots the asset kernel + initramfs under TCG,
 * alternately through carve's vm API (vm_cmdline_build + vm_spawn + serial socket + QMP
 * powerdown) and through a plain `qemu-system-x86_64` command line (serial on a pipe, killed
 * after the marker), and prints one line per boot: "<mode> <ms to marker> <VmRSS KiB>".
 * Usage: vm-boot-run ASSETS_DIR TMP_DIR ITERATIONS
 */
#include <fcntl.h>
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

#define MARKER "CARVE-VM-READY"

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
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

static int make_disk(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 16 << 20) < 0)
		return -1;
	close(fd);
	return 0;
}

static int run_carve(const char *assets, const char *tmp, int i)
{
	char kernel[512], initrd[512], disk_path[512], qmp[512], serial[512];
	struct carve_error err = CARVE_ERROR_INIT;
	struct vm_disk disk = {.path = disk_path, .format = VM_DISK_FORMAT_RAW};
	struct vm_config cfg = {.name = "bench",
				.accel = VM_ACCEL_AUTO,
				.machine = VM_MACHINE_Q35,
				.vcpus = 1,
				.memory = UINT64_C(256) << 20,
				.kernel = kernel,
				.initrd = initrd,
				.append = "console=ttyS0 quiet",
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
	long rss;
	pid_t pid;
	bool forced;

	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", assets);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.gz", assets);
	snprintf(disk_path, sizeof(disk_path), "%s/carve-%d.raw", tmp, i);
	snprintf(qmp, sizeof(qmp), "%s/qmp-%d.sock", tmp, i);
	snprintf(serial, sizeof(serial), "%s/serial-%d.sock", tmp, i);
	if (make_disk(disk_path) < 0)
		return -1;

	t0 = now_us(); /* create: command line, spawn, console attach */
	if (vm_cmdline_build(&cfg, &argv, &err) < 0 || vm_spawn(argv, &opts, &pid, &err) < 0) {
		fprintf(stderr, "carve: %s\n", err.msg);
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
	rss = rss_kib(pid);
	if (vm_qmp_connect(qmp, 5000, &q, &err) < 0 ||
	    vm_powerdown(q, pid, 20000, &forced, &err) < 0)
		fprintf(stderr, "carve: %s\n", err.msg);
	vm_qmp_free(q);
	close(fd);
	waitpid(pid, NULL, 0);
	unlink(disk_path);
	printf("carve %.1f %ld\n", (double)(t1 - t0) / 1000.0, rss);
	fflush(stdout);
	return 0;
}

static int run_plain(const char *assets, const char *tmp, int i)
{
	char kernel[512], initrd[512], disk_path[512], drive[600];
	int p[2];
	int64_t t0, t1;
	long rss;
	pid_t pid;

	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", assets);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.gz", assets);
	snprintf(disk_path, sizeof(disk_path), "%s/plain-%d.raw", tmp, i);
	snprintf(drive, sizeof(drive), "file=%s,format=raw,if=virtio", disk_path);
	if (make_disk(disk_path) < 0 || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	t0 = now_us();
	pid = fork();
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDWR);
		dup2(null_fd, 0);
		dup2(p[1], 1);
		dup2(null_fd, 2);
		execlp("qemu-system-x86_64", "qemu-system-x86_64", "-machine", "q35", "-accel",
		       vm_kvm_usable() ? "kvm" : "tcg", "-m", "256", "-nographic", "-kernel",
		       kernel, "-initrd", initrd, "-append", "console=ttyS0 quiet", "-drive", drive,
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
	rss = rss_kib(pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	unlink(disk_path);
	printf("plain %.1f %ld\n", (double)(t1 - t0) / 1000.0, rss);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int n;
	if (argc != 4) {
		fprintf(stderr, "usage: vm-boot-run ASSETS_DIR TMP_DIR ITERATIONS\n");
		return 2;
	}
	n = (int)strtol(argv[3], NULL, 10);
	for (int i = 0; i < n; i++) {
		/* interleaved so machine noise hits both */
		if (run_plain(argv[1], argv[2], i) < 0 || run_carve(argv[1], argv[2], i) < 0) {
			fprintf(stderr, "vm-boot: iteration %d failed\n", i);
			return 1;
		}
	}
	return 0;
}

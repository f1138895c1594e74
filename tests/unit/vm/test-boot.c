/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: boot Debian's cloud kernel with the busybox initramfs of scripts/vm-assets.sh under
 * TCG through vm_cmdline_build + vm_spawn (as root: a per-VM uid and a memory cgroup), read the
 * marker from the serial socket, query-status over QMP, pause/resume, ACPI powerdown, and check
 * that the guest wrote its token to the raw virtio disk. q35 and microvm.
 * Skips (77) without qemu-system-x86_64 or when the assets cannot be built. VM_ASSETS_SCRIPT
 * names the script; CARVE_VM_ASSETS the cache directory.
 */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "vm/vm.h"

static char assets[512];
static char tmpdir[] = "/tmp/carve-test-vm-boot.XXXXXX";
/* memory cgroups made by boot(), removed in teardown even when a test fails */
static char cgroups[2][256];

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_unix(const char *path, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int64_t end = now_ms() + timeout_ms;
	strscpy(sa.sun_path, path, sizeof(sa.sun_path));
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

/* Append serial output to buf until marker shows up; returns 0 or -ETIMEDOUT/-ECONNRESET. */
static int read_until(int fd, char *buf, size_t size, size_t *len, const char *marker,
		      int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	while (!strstr(buf, marker)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = (int)(end - now_ms());
		ssize_t n;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		if (*len + 1 >= size)
			return -ENOBUFS;
		n = read(fd, buf + *len, size - 1 - *len);
		if (n <= 0)
			return -ECONNRESET;
		*len += (size_t)n;
		buf[*len] = '\0';
		/* the console carries NULs and escapes: keep strstr working */
		for (size_t i = *len - (size_t)n; i < *len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
	}
	return 0;
}

static void boot(enum vm_machine machine)
{
	char disk_path[256], run_dir[256], qmp[256], serial[256], errlog[256], append[256];
	char token[33], cg[256] = "", cgprocs[300], cglimit[300];
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_strv char **argv = NULL;
	cleanup_close int serial_fd = -EBADF, errfd = -EBADF;
	cleanup(vm_qmp_freep) struct vm_qmp *q = NULL;
	char kernel[600], initrd[600];
	static char out[1 << 20];
	size_t out_len = 0;
	struct vm_run_status st;
	bool root = geteuid() == 0, forced = true;
	uid_t uid = 3500000000u + (uid_t)(getpid() % 100000);
	const char *procs[2] = {NULL, NULL};
	struct vm_disk disk = {.path = disk_path, .format = VM_DISK_FORMAT_RAW};
	struct vm_config cfg = {
		.name = machine == VM_MACHINE_Q35 ? "boot-q35" : "boot-microvm",
		.accel = VM_ACCEL_TCG,
		.machine = machine,
		.vcpus = 1,
		.memory = UINT64_C(256) << 20,
		.kernel = kernel,
		.initrd = initrd,
		.append = append,
		.disks = &disk,
		.n_disks = 1,
		.qmp_socket = qmp,
		.serial_socket = serial,
	};
	struct vm_spawn_opts opts = {
		.drop_privileges = root,
		.uid = uid,
		.gid = uid,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.kill_with_parent = true,
	};
	cleanup_free char *disk_data = NULL;
	int64_t t0;
	pid_t pid;
	int r, status;

	out[0] = '\0';
	assert_int_equal(random_id(token), 0);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", assets);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.gz", assets);
	snprintf(append, sizeof(append), "console=ttyS0 quiet panic=-1 carve.token=%s", token);
	snprintf(disk_path, sizeof(disk_path), "%s/%s-root.raw", tmpdir, cfg.name);
	snprintf(run_dir, sizeof(run_dir), "%s/%s-run", tmpdir, cfg.name);
	snprintf(qmp, sizeof(qmp), "%s/qmp.sock", run_dir);
	snprintf(serial, sizeof(serial), "%s/serial.sock", run_dir);
	snprintf(errlog, sizeof(errlog), "%s/%s-qemu.log", tmpdir, cfg.name);

	/* the disk and the run dir belong to the VM's uid */
	{
		int fd = open(disk_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 16 << 20), 0);
		if (root)
			assert_int_equal(fchown(fd, uid, uid), 0);
		close(fd);
		assert_int_equal(mkdir(run_dir, 0700), 0);
		if (root)
			assert_int_equal(chown(run_dir, uid, uid), 0);
	}
	errfd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(errfd >= 0);
	opts.stderr_fd = errfd;

	/* a memory cgroup (v1) sized by vm_memory_limit */
	if (root && access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0) {
		char lim[32];
		snprintf(cg, sizeof(cg), "/sys/fs/cgroup/memory/carve-test-vm-%d-%s", (int)getpid(),
			 cfg.name);
		assert_int_equal(mkdir(cg, 0755), 0);
		strscpy(cgroups[machine], cg, sizeof(cgroups[0]));
		snprintf(cglimit, sizeof(cglimit), "%s/memory.limit_in_bytes", cg);
		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)vm_memory_limit(&cfg));
		assert_int_equal(write_string_file(cglimit, lim), 0);
		snprintf(cgprocs, sizeof(cgprocs), "%s/cgroup.procs", cg);
		procs[0] = cgprocs;
		opts.cgroup_procs = procs;
	}

	assert_int_equal(vm_cmdline_build(&cfg, &argv, &err), 0);
	t0 = now_ms();
	r = vm_spawn(argv, &opts, &pid, &err);
	if (r < 0)
		fail_msg("vm_spawn: %s", err.msg);

	if (root) {
		/* QEMU runs as the VM's uid */
		char path[64], line[256];
		cleanup_fclose FILE *f = NULL;
		bool seen = false;
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
		f = fopen(path, "re");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f))
			if (startswith(line, "Uid:")) {
				unsigned a, b, c, d;
				assert_int_equal(sscanf(line, "Uid: %u %u %u %u", &a, &b, &c, &d),
						 4);
				assert_true(a == uid && b == uid && c == uid && d == uid);
				seen = true;
			}
		assert_true(seen);
	}

	serial_fd = connect_unix(serial, 10000);
	assert_true(serial_fd >= 0);
	r = read_until(serial_fd, out, sizeof(out), &out_len, "CARVE-VM-READY", 90000);
	if (r < 0) {
		cleanup_free char *log = NULL;
		(void)read_full_file(errlog, 65536, &log, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("no marker (%d); serial: %s; qemu: %s", r, out, log ? log : "");
	}
	fprintf(stderr, "# %s: create to marker %lld ms\n", cfg.name, (long long)(now_ms() - t0));
	assert_non_null(strstr(out, "CARVE-VM-MODULES ok=13 failed=0"));
	{
		char want[96];
		snprintf(want, sizeof(want), "CARVE-VM-DISK-WRITTEN %s sectors=32768", token);
		assert_non_null(strstr(out, want));
	}

	r = vm_qmp_connect(qmp, 5000, &q, &err);
	if (r < 0)
		fail_msg("qmp: %s", err.msg);
	assert_int_equal(vm_status(q, &st, &err), 0);
	assert_true(st.running);
	assert_string_equal(st.status, "running");
	assert_int_equal(vm_pause(q, &err), 0);
	assert_int_equal(vm_status(q, &st, &err), 0);
	assert_false(st.running);
	assert_string_equal(st.status, "paused");
	assert_int_equal(vm_resume(q, &err), 0);
	assert_int_equal(vm_status(q, &st, &err), 0);
	assert_true(st.running);

	r = vm_powerdown(q, pid, 90000, &forced, &err); /* TCG on a loaded 2-core host is slow */
	if (r < 0)
		fail_msg("powerdown: %s", err.msg);
	if (forced) {
		(void)read_until(serial_fd, out, sizeof(out), &out_len, "CARVE-VM-POWEROFF", 1000);
		fail_msg("%s: the guest did not power off on the ACPI button; serial: %s", cfg.name,
			 out);
	}
	(void)read_until(serial_fd, out, sizeof(out), &out_len, "CARVE-VM-POWEROFF", 5000);
	assert_non_null(strstr(out, "CARVE-VM-POWEROFF"));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* the guest wrote its token to the raw file */
	assert_int_equal(read_full_file(disk_path, 32 << 20, &disk_data, NULL), 0);
	{
		char want[96];
		snprintf(want, sizeof(want), "CARVE-DISK-OK %s\n", token);
		assert_memory_equal(disk_data, want, strlen(want));
	}
	if (cg[0]) {
		assert_int_equal(rmdir(cg), 0);
		cgroups[machine][0] = '\0';
	}
}

static void test_boot_q35(void **state)
{
	boot(VM_MACHINE_Q35);
}

static void test_boot_microvm(void **state)
{
	boot(VM_MACHINE_MICROVM);
}

static int teardown(void **state)
{
	char buf[512];
	for (size_t i = 0; i < ELEMENTSOF(cgroups); i++)
		if (cgroups[i][0])
			(void)rmdir(cgroups[i]); /* QEMU was killed with the failed test */
	snprintf(buf, sizeof(buf), "rm -rf '%s'", tmpdir);
	return system(buf) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	if (!mkdtemp(tmpdir))
		return -1;
	return chmod(tmpdir, 0755);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_q35),
		cmocka_unit_test(test_boot_microvm),
	};
	const char *script = getenv("VM_ASSETS_SCRIPT");
	const char *dir = getenv("CARVE_VM_ASSETS");
	char cmd[1024], k[600], i[600];

	if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0) {
		fprintf(stderr, "qemu-system-x86_64 missing: skipped\n");
		return 77;
	}
	snprintf(assets, sizeof(assets), "%s", dir && *dir ? dir : "/var/tmp/carve-vm-assets");
	snprintf(k, sizeof(k), "%s/vmlinuz", assets);
	snprintf(i, sizeof(i), "%s/initramfs.gz", assets);
	if (script && *script) {
		/* cached: no network; otherwise one apt-get download (a few seconds) */
		snprintf(cmd, sizeof(cmd), "'%s' '%s' >/dev/null", script, assets);
		if (system(cmd) != 0) {
			fprintf(stderr, "vm assets could not be built: skipped\n");
			return 77;
		}
	}
	if (access(k, R_OK) != 0 || access(i, R_OK) != 0) {
		fprintf(stderr, "vm assets missing in %s: skipped\n", assets);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

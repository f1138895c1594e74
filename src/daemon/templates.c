/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The built-in busybox template: a root filesystem made from the host's static busybox
 * (Debian's busybox-static), with busybox init as the server's init. Built once under
 * <state-dir>/templates/busybox/rootfs (owned by uid 0, unshifted; servers get shifted copies)
 * and recorded in the database.
 *
 * The built-in busybox-vm template (kind "vm"): Debian's cloud kernel and a busybox initramfs
 * from the VM asset cache that scripts/vm-assets.sh builds ($CARVE_VM_ASSETS, default
 * /var/tmp/carve-vm-assets; never downloaded here), copied once under
 * <state-dir>/templates/busybox-vm/, and an empty raw disk volume. For kind "vm" the template
 * row's rootfs_path is the kernel and init is the initrd (both absolute host paths). Skipped,
 * with an info line, when the assets, QEMU or a volume pool are missing.
 */
#define LOG_DOMAIN "templates"
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "daemon/daemon.h"

#define BUSYBOX "/bin/busybox"

static const char inittab[] = "# carve busybox template: busybox init runs these\n"
			      "::sysinit:/etc/init.d/rcS\n"
			      "::respawn:/sbin/syslogd -n -O /var/log/messages\n"
			      "::shutdown:/bin/echo carve: powering off\n";

static const char rcs[] = "#!/bin/sh\n"
			  "mkdir -p /run /var/log /tmp\n"
			  "echo \"carve: $(hostname) up\"\n";

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group[] = "root:x:0:\nnobody:x:65534:\n";
static const char os_release[] =
	"NAME=BusyBox\nID=busybox\nPRETTY_NAME=\"BusyBox (carve template)\"\n";

static int write_file(const char *root, const char *rel, const char *content, mode_t mode)
{
	char path[PATH_MAX];
	cleanup_close int fd = -EBADF;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		return -errno;
	return loop_write(fd, content, strlen(content));
}

static int copy_busybox(const char *root)
{
	char path[PATH_MAX];
	cleanup_close int in = -EBADF, out = -EBADF;
	struct stat st;

	in = open(BUSYBOX, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/bin/busybox", root);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (out < 0)
		return -errno;
	for (off_t left = st.st_size; left > 0;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		left -= n;
	}
	return RET_NERRNO(fchmod(out, 0755));
}

/* busybox --list-full prints "usr/bin/wc" lines: make each a symlink to /bin/busybox. */
static int link_applets(const char *root)
{
	FILE *f;
	char line[256];
	int status, r = 0;

	f = popen(BUSYBOX " --list-full", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char path[PATH_MAX], dir[PATH_MAX];
		char *nl = strchr(line, '\n'), *slash;

		if (nl)
			*nl = '\0';
		if (!line[0] || strstr(line, "..") || line[0] == '/' || streq(line, "bin/busybox"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, line);
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		(void)mkdir_p(dir, 0755);
		if (symlink("/bin/busybox", path) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
	}
	status = pclose(f);
	if (r < 0)
		return r;
	return status != 0 ? -EIO : 0;
}

static int build_rootfs(const char *root, struct carve_error *err)
{
	static const struct {
		const char *path;
		mode_t mode;
	} dirs[] = {
		{"bin", 0755},	      {"sbin", 0755},	 {"usr/bin", 0755}, {"usr/sbin", 0755},
		{"etc/init.d", 0755}, {"proc", 0555},	 {"sys", 0555},	    {"dev", 0755},
		{"tmp", 01777},	      {"var/log", 0755}, {"run", 0755},	    {"root", 0700},
		{"home", 0755},
	};
	char path[PATH_MAX];
	int r;

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i].path);
		r = mkdir_p(path, 0755);
		if (r < 0 || chmod(path, dirs[i].mode) < 0)
			return carve_err(err, r < 0 ? r : -errno, "create '%s'", path);
	}
	r = copy_busybox(root);
	if (r < 0)
		return carve_err(err, r, "copy %s", BUSYBOX);
	r = link_applets(root);
	if (r < 0)
		return carve_err(err, r, "link busybox applets");
	if ((r = write_file(root, "etc/inittab", inittab, 0644)) < 0 ||
	    (r = write_file(root, "etc/init.d/rcS", rcs, 0755)) < 0 ||
	    (r = write_file(root, "etc/passwd", passwd, 0644)) < 0 ||
	    (r = write_file(root, "etc/group", group, 0644)) < 0 ||
	    (r = write_file(root, "etc/os-release", os_release, 0644)) < 0 ||
	    (r = write_file(root, "etc/hostname", "busybox\n", 0644)) < 0)
		return carve_err(err, r, "write /etc files");
	return 0;
}

#define TEMPLATE_VOLUME "template-busybox"
#define TEMPLATE_DISK (256ULL << 20)

static int ensure_rootfs(const char *root, struct carve_error *err)
{
	char partial[PATH_MAX + 16];
	int r;

	if (access(root, F_OK) == 0)
		return 0;
	if (access(BUSYBOX, X_OK) < 0)
		return carve_err(err, -ENOENT, "%s is missing (apt-get install busybox-static)",
				 BUSYBOX);
	snprintf(partial, sizeof(partial), "%s.partial", root);
	(void)rm_rf(partial);
	r = mkdir(partial, 0755) < 0 ? -errno : build_rootfs(partial, err);
	if (r >= 0 && rename(partial, root) < 0)
		r = -errno;
	if (r < 0) {
		(void)rm_rf(partial);
		if (!carve_err_isset(err))
			carve_err(err, r, "build");
		return err->code;
	}
	log_info("built the busybox root filesystem in %s", root);
	return 0;
}

#define VM_TEMPLATE "busybox-vm"
#define VM_TEMPLATE_VOLUME "template-busybox-vm"
#define VM_TEMPLATE_DISK (64ULL << 20)
#define VM_ASSETS_DEFAULT "/var/tmp/carve-vm-assets"
#define VM_QEMU "qemu-system-x86_64"

static bool qemu_in_path(void)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		if (n > 0 &&
		    (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, VM_QEMU) <
			    sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* Copy src to dst (0644) through dst.partial unless dst exists. */
static int copy_asset(const char *src, const char *dst)
{
	char partial[PATH_MAX + 16];
	cleanup_close int in = -EBADF, out = -EBADF;
	struct stat st;
	int r = 0;

	if (access(dst, F_OK) == 0)
		return 0;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return -errno;
	snprintf(partial, sizeof(partial), "%s.partial", dst);
	out = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return -errno;
	for (off_t left = st.st_size; left > 0 && r == 0;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
		left -= n;
	}
	if (r == 0 && (fchmod(out, 0644) < 0 || fsync(out) < 0 || rename(partial, dst) < 0))
		r = -errno;
	if (r < 0)
		(void)unlink(partial);
	return r;
}

static int bootstrap_vm(struct daemon *d, struct carve_error *err)
{
	cleanup(db_template_freep) struct db_template *have = NULL;
	const char *assets = getenv("CARVE_VM_ASSETS");
	char dir[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX], src[PATH_MAX];
	struct db_template t = {0};
	int r;

	if (db_template_get_by_name(d->db, VM_TEMPLATE, &have, NULL) >= 0)
		return 0;
	if (!d->volumes) {
		log_info("template '%s' not created: VMs need a volume pool", VM_TEMPLATE);
		return 0;
	}
	if (!qemu_in_path()) {
		log_info("template '%s' not created: %s is not installed", VM_TEMPLATE, VM_QEMU);
		return 0;
	}
	if (!assets || !*assets)
		assets = VM_ASSETS_DEFAULT;
	snprintf(dir, sizeof(dir), "%s/templates/%s", d->state_dir, VM_TEMPLATE);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.gz", dir);
	if (access(kernel, R_OK) < 0 || access(initrd, R_OK) < 0) {
		snprintf(src, sizeof(src), "%s/vmlinuz", assets);
		if (access(src, R_OK) < 0) {
			log_info("template '%s' not created: no VM assets in '%s' "
				 "(scripts/vm-assets.sh builds them)",
				 VM_TEMPLATE, assets);
			return 0;
		}
		r = mkdir_p(dir, 0755);
		if (r < 0)
			return carve_err(err, r, "template '%s': create '%s'", VM_TEMPLATE, dir);
		r = copy_asset(src, kernel);
		if (r < 0)
			return carve_err(err, r, "template '%s': copy '%s'", VM_TEMPLATE, src);
		snprintf(src, sizeof(src), "%s/initramfs.gz", assets);
		r = copy_asset(src, initrd);
		if (r < 0)
			return carve_err(err, r, "template '%s': copy '%s'", VM_TEMPLATE, src);
	}
	if (storage_volume_exists(d->pool, VM_TEMPLATE_VOLUME) <= 0) {
		r = storage_volume_create(d->pool, VM_TEMPLATE_VOLUME, VM_TEMPLATE_DISK, err);
		if (r < 0)
			return carve_err_prefix(err, "template '%s'", VM_TEMPLATE);
	}
	strscpy(t.name, VM_TEMPLATE, sizeof(t.name));
	strscpy(t.kind, "vm", sizeof(t.kind));
	strscpy(t.os, "busybox", sizeof(t.os));
	t.description = (char *)"Debian cloud kernel with a busybox initramfs (test VM)";
	t.rootfs_path = kernel; /* kind vm: the kernel */
	t.init = initrd; /* kind vm: the initrd */
	t.stop_signal = 0; /* ACPI powerdown */
	t.volume = (char *)VM_TEMPLATE_VOLUME;
	t.disk_min = VM_TEMPLATE_DISK;
	r = db_template_create(d->db, &t, err);
	if (r < 0)
		return carve_err_prefix(err, "template '%s'", VM_TEMPLATE);
	log_info("created template '%s'", VM_TEMPLATE);
	return 0;
}

static int bootstrap_busybox(struct daemon *d, struct carve_error *err)
{
	cleanup(db_template_freep) struct db_template *have = NULL;
	char dir[PATH_MAX], root[PATH_MAX];
	struct db_template t = {0};
	int r;

	snprintf(dir, sizeof(dir), "%s/templates/busybox", d->state_dir);
	snprintf(root, sizeof(root), "%s/rootfs", dir);
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return carve_err(err, r, "template 'busybox': create '%s'", dir);
	r = ensure_rootfs(root, err);
	if (r < 0)
		return carve_err_prefix(err, "template 'busybox'");
	/* With volumes, servers are reflink clones of the template's own ext4 volume, which
	 * keeps the files owned by uid 0: an idmapped mount shifts them per tenant. */
	if (d->volumes && storage_volume_exists(d->pool, TEMPLATE_VOLUME) <= 0) {
		r = storage_volume_create_from_dir(d->pool, TEMPLATE_VOLUME, TEMPLATE_DISK, root,
						   err);
		if (r < 0)
			return carve_err_prefix(err, "template 'busybox'");
		log_info("created the volume of template 'busybox'");
	}

	r = db_template_get_by_name(d->db, "busybox", &have, NULL);
	if (r >= 0 && (!!have->volume == d->volumes))
		return 0;
	if (r >= 0) {
		/* made for the other pool driver: replace it if no server uses it */
		r = db_template_delete(d->db, have->id, err);
		if (r < 0)
			return carve_err_prefix(
				err, "template 'busybox' was made for another pool driver");
	}
	strscpy(t.name, "busybox", sizeof(t.name));
	strscpy(t.kind, "container", sizeof(t.kind));
	strscpy(t.os, "busybox", sizeof(t.os));
	t.description =
		(char *)"BusyBox userland with busybox init (from the host's busybox-static)";
	t.rootfs_path = root;
	t.init = (char *)"/sbin/init";
	t.stop_signal = SIGUSR2; /* busybox init: poweroff */
	t.volume = d->volumes ? (char *)TEMPLATE_VOLUME : NULL;
	t.disk_min = d->volumes ? TEMPLATE_DISK : 0;
	r = db_template_create(d->db, &t, err);
	if (r < 0)
		return carve_err_prefix(err, "template 'busybox'");
	log_info("created template 'busybox'");
	return 0;
}

int templates_bootstrap(struct daemon *d, struct carve_error *err)
{
	int r = bootstrap_busybox(d, err);

	if (r < 0)
		return r;
	/* VMs are optional: a failure here leaves carved running with containers only */
	if (bootstrap_vm(d, err) < 0) {
		log_warning("%s", err->msg);
		carve_err_clear(err);
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Templates a provider adds: POST /templates imports a root filesystem archive (tar or tar.zst, a
 * path on the host that carved reads as root) into a new template, as a task:
 *
 *   volume "template-<name>" created (ext4 of the template's disk size) -> attached at
 *   <run-dir>/template-import/<name> -> archive extracted into it (src/storage/tar.c: untrusted
 *   input, nothing can land outside the volume) -> init checked, stop signal and OS detected ->
 *   detached -> template row recorded.
 *
 * With the dir pool driver the tree goes to <state-dir>/templates/<name>/rootfs instead. A failed
 * import removes what it made; a carved killed mid-import leaves the import directory behind,
 * which templates_import_reconcile() cleans at the next start. DELETE /templates/{name} removes
 * an imported template no server uses.
 */
#define LOG_DOMAIN "templates"
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/api.h"
#include "daemon/tasks.h"
#include "vm/vm.h"

#define IMPORT_DIR "template-import"
#define DISK_DEFAULT (2ULL << 30)
#define DISK_MIN (64ULL << 20)
#define DISK_MAX (1ULL << 40)
#define IMPORTS_MAX 8

/* names being imported: a second import of one name is a 409 until the first ends */
static pthread_mutex_t importing_lock = PTHREAD_MUTEX_INITIALIZER;
static char importing[IMPORTS_MAX][64];

static int importing_claim(const char *name)
{
	int r = -EAGAIN;

	pthread_mutex_lock(&importing_lock);
	for (size_t i = 0; i < IMPORTS_MAX; i++)
		if (streq(importing[i], name)) {
			r = -EEXIST;
			goto out;
		}
	for (size_t i = 0; i < IMPORTS_MAX; i++)
		if (!importing[i][0]) {
			strscpy(importing[i], name, sizeof(importing[i]));
			r = 0;
			break;
		}
out:
	pthread_mutex_unlock(&importing_lock);
	return r;
}

static void importing_release(const char *name)
{
	pthread_mutex_lock(&importing_lock);
	for (size_t i = 0; i < IMPORTS_MAX; i++)
		if (streq(importing[i], name))
			importing[i][0] = '\0';
	pthread_mutex_unlock(&importing_lock);
}

struct import_op {
	char name[64];
	char os[32];
	char init[256];
	char *description;
	char archive[PATH_MAX];
	int stop_signal; /* 0: detect */
	int system; /* -1: detect (systemd: yes) */
	uint64_t disk;
	bool image; /* archive is a VM disk image (qcow2 or raw), not a root filesystem */
};

static void import_op_free(void *p)
{
	struct import_op *op = p;

	if (!op)
		return;
	importing_release(op->name);
	free(op->description);
	free(op);
}

/* "SIGRTMIN+3", "RTMIN+3", "SIGPWR", "PWR", "15" */
int template_parse_signal(const char *s, int *ret)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
		{"TERM", SIGTERM}, {"INT", SIGINT},   {"PWR", SIGPWR},	 {"HUP", SIGHUP},
		{"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"KILL", SIGKILL},
	};
	char *end;
	long v;

	if (startswith(s, "SIG"))
		s += 3;
	if (startswith(s, "RTMIN")) {
		s += 5;
		v = 0;
		if (*s == '+') {
			errno = 0;
			v = strtol(s + 1, &end, 10);
			if (errno || *end || end == s + 1)
				return -EINVAL;
		} else if (*s)
			return -EINVAL;
		if (v < 0 || SIGRTMIN + v > SIGRTMAX)
			return -EINVAL;
		*ret = SIGRTMIN + (int)v;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (streq(s, names[i].name)) {
			*ret = names[i].sig;
			return 0;
		}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v <= 0 || v >= NSIG)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static int open_in_root(int root_fd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd;

	while (*path == '/')
		path++;
	fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

static bool same_file(int root_fd, const char *a, const char *b)
{
	cleanup_close int fa = open_in_root(root_fd, a, O_PATH);
	cleanup_close int fb = open_in_root(root_fd, b, O_PATH);
	struct stat sa, sb;

	return fa >= 0 && fb >= 0 && fstat(fa, &sa) == 0 && fstat(fb, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Check init and fill in what was not given: the stop signal its init expects, the OS id. */
static int inspect_tree(int root_fd, struct import_op *op, struct carve_error *err)
{
	char init[256];
	cleanup_close int fd = -EBADF;
	struct stat st;

	strscpy(init, op->init, sizeof(init));
	init[strcspn(init, " ")] = '\0';
	fd = open_in_root(root_fd, init, O_PATH);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return carve_err_field(err, -ENOENT, "init",
				       "init '%s': not an executable file in the archive", init);
	bool systemd = same_file(root_fd, init, "lib/systemd/systemd") ||
		       same_file(root_fd, init, "usr/lib/systemd/systemd");
	bool busybox = same_file(root_fd, init, "bin/busybox");
	cleanup_close int inittab = open_in_root(root_fd, "etc/inittab", O_PATH);
	bool sysvinit = !systemd && !busybox && inittab >= 0;

	/* a full OS init (systemd, sysvinit) mounts its API filesystems and halts with reboot(2) */
	if (op->system < 0)
		op->system = systemd || sysvinit;
	if (!op->stop_signal) {
		if (systemd)
			op->stop_signal = SIGRTMIN + 3; /* systemd: halt */
		else if (busybox)
			op->stop_signal = SIGUSR2; /* busybox init: poweroff */
		else
			/* sysvinit: power failure, which the template's inittab turns into a
			 * halt; anything else gets SIGTERM */
			op->stop_signal = sysvinit ? SIGPWR : SIGTERM;
	}
	if (!op->os[0]) {
		cleanup_free char *buf = NULL;
		cleanup_close int rel = open_in_root(root_fd, "etc/os-release", O_RDONLY);
		char line[256];
		FILE *f;

		if (rel < 0)
			rel = open_in_root(root_fd, "usr/lib/os-release", O_RDONLY);
		strscpy(op->os, "linux", sizeof(op->os));
		if (rel >= 0 && (f = fdopen(TAKE_FD(rel), "re"))) {
			while (fgets(line, sizeof(line), f)) {
				char *v = line + 3;
				size_t n;

				if (!startswith(line, "ID="))
					continue;
				if (*v == '"')
					v++;
				n = strcspn(v, "\"\n");
				v[n] = '\0';
				if (name_is_valid(v) && n < sizeof(op->os))
					strscpy(op->os, v, sizeof(op->os));
				break;
			}
			fclose(f);
		}
	}
	return 0;
}

static int progress_cb(uint64_t done, uint64_t total, void *userdata)
{
	task_progress(userdata, done, total, "bytes");
	return 0;
}

static int import_dir(const struct daemon *d, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/%s", d->run_dir, IMPORT_DIR, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int extract(struct daemon *d, struct task_ctx *ctx, struct import_op *op, const char *dir,
		   struct carve_error *err)
{
	cleanup_close int tar = -EBADF, root = -EBADF;
	struct storage_tar_stats stats;
	struct stat st;
	int r;

	tar = open(op->archive, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (tar < 0 || fstat(tar, &st) < 0)
		return carve_err_field(err, -errno, "rootfs", "archive '%s': %s", op->archive,
				       strerror(errno));
	if (!S_ISREG(st.st_mode))
		return carve_err_field(err, -EINVAL, "rootfs", "archive '%s': not a regular file",
				       op->archive);
	root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return carve_err(err, -errno, "open '%s': %s", dir, strerror(errno));
	if (fchmod(root, 0755) < 0)
		return carve_err(err, -errno, "chmod '%s': %s", dir, strerror(errno));
	r = storage_tar_extract(tar, root, op->disk, progress_cb, ctx, &stats, err);
	if (r < 0)
		return carve_err_prefix(err, "archive '%s'", op->archive);
	r = inspect_tree(root, op, err);
	if (r < 0)
		return r;
	if (syncfs(root) < 0)
		return carve_err(err, -errno, "sync '%s': %s", dir, strerror(errno));
	log_info("template '%s': %" PRIu64 " entries, %" PRIu64 " bytes extracted; %" PRIu64
		 " device nodes and %" PRIu64 " xattr records skipped",
		 op->name, stats.entries, stats.bytes, stats.skipped_devices, stats.skipped_xattrs);
	return 0;
}

/*
 * A VM template from a disk image: converted to raw by qemu-img (src/vm: never probed, backing
 * files and external data files refused) into a temporary name beside the template's volume
 * file, admitted by the pool at its virtual size, then renamed into place. Servers of the
 * template boot it through the firmware (no kernel of carve's).
 */
static int import_image(struct daemon *d, struct task_ctx *ctx, struct import_op *op,
			const char *volume, struct carve_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	struct stat st;
	int r;

	r = storage_volume_path(d->pool, volume, path, sizeof(path));
	if (r < 0)
		return carve_err(err, r, "volume '%s': path", volume);
	snprintf(tmp, sizeof(tmp), "%s.import", path);
	(void)unlink(tmp);
	task_progress(ctx, 0, 2, "steps");
	r = vm_image_import(NULL, op->archive, tmp, err);
	if (r < 0) {
		(void)unlink(tmp);
		return carve_err_prefix(err, "image '%s'", op->archive);
	}
	task_progress(ctx, 1, 2, "steps");
	if (stat(tmp, &st) < 0) {
		r = carve_err(err, -errno, "stat '%s'", tmp);
		goto fail;
	}
	op->disk = (uint64_t)st.st_size;
	r = storage_pool_admit(d->pool, op->disk, err);
	if (r < 0) {
		carve_err_prefix(err, "image '%s'", op->archive);
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		r = carve_err(err, -errno, "rename '%s'", tmp);
		goto fail;
	}
	task_progress(ctx, 2, 2, "steps");
	return 0;
fail:
	(void)unlink(tmp);
	return r;
}

static int import_task(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err)
{
	struct import_op *op = userdata;
	char dir[PATH_MAX], volume[80], tree[PATH_MAX];
	struct db_template t = {0};
	bool made_volume = false;
	int r;

	snprintf(volume, sizeof(volume), "template-%s", op->name);
	if (d->volumes) {
		r = import_dir(d, op->name, dir, sizeof(dir));
		if (r < 0) {
			carve_err(err, r, "run dir too long");
			goto fail;
		}
		/* no template of this name exists (the API checked): a volume of that name is
		 * what a failed delete left behind */
		if (storage_volume_exists(d->pool, volume) > 0 &&
		    storage_volume_destroy(d->pool, volume, err) < 0) {
			r = carve_err_prefix(err, "remove the leftover volume '%s'", volume);
			goto fail;
		}
		if (op->image) {
			r = import_image(d, ctx, op, volume, err);
			if (r < 0)
				goto fail;
			made_volume = true;
			tree[0] = '\0';
			if (!op->os[0])
				strscpy(op->os, "linux", sizeof(op->os));
			goto record;
		}
		r = mkdir_p(dir, 0700);
		if (r < 0) {
			carve_err(err, r, "create '%s'", dir);
			goto fail;
		}
		r = storage_volume_create(d->pool, volume, op->disk, err);
		if (r < 0)
			goto fail;
		made_volume = true;
		r = storage_volume_attach(d->pool, volume, dir, 0, NULL, 0, err);
		if (r < 0)
			goto fail;
		r = extract(d, ctx, op, dir, err);
		if (r >= 0)
			r = storage_volume_detach(d->pool, volume, dir, err);
		if (r < 0)
			goto fail;
		(void)rmdir(dir);
		snprintf(tree, sizeof(tree), "%s", op->archive);
	} else {
		r = snprintf(dir, sizeof(dir), "%s/templates/%s/rootfs.partial", d->state_dir,
			     op->name) >= (int)sizeof(dir)
			    ? -ENAMETOOLONG
			    : 0;
		snprintf(tree, sizeof(tree), "%s/templates/%s/rootfs", d->state_dir, op->name);
		if (r >= 0) {
			(void)rm_rf(dir);
			(void)rm_rf(tree);
			r = mkdir_p(dir, 0755);
		}
		if (r < 0) {
			carve_err(err, r, "create '%s'", dir);
			goto fail;
		}
		r = extract(d, ctx, op, dir, err);
		if (r >= 0 && rename(dir, tree) < 0)
			r = carve_err(err, -errno, "rename '%s': %s", dir, strerror(errno));
		if (r < 0)
			goto fail;
	}
record:
	strscpy(t.name, op->name, sizeof(t.name));
	strscpy(t.kind, op->image ? "vm" : "container", sizeof(t.kind));
	strscpy(t.os, op->os, sizeof(t.os));
	t.description = op->description;
	/* kind vm: rootfs_path is the kernel and init the initrd; none: boot the disk */
	t.rootfs_path = tree;
	t.init = op->image ? (char *)"" : op->init;
	t.stop_signal = op->image ? 0 : op->stop_signal;
	t.volume = d->volumes ? volume : NULL;
	t.disk_min = d->volumes ? op->disk : 0;
	t.system = op->system > 0;
	r = db_template_create(d->db, &t, err);
	if (r < 0)
		goto fail;
	housekeeping_kick(d->housekeeping);
	log_info("imported template '%s' from '%s' (stop signal %d)", op->name, op->archive,
		 op->stop_signal);
	return 0;
fail:
	if (d->volumes) {
		(void)storage_volume_detach(d->pool, volume, dir, NULL);
		(void)rmdir(dir);
		if (made_volume)
			(void)storage_volume_destroy(d->pool, volume, NULL);
	} else {
		char parent[PATH_MAX];

		(void)rm_rf(dir);
		snprintf(parent, sizeof(parent), "%s/templates/%s", d->state_dir, op->name);
		(void)rm_rf(parent);
	}
	carve_err_prefix(err, "template '%s': import", op->name);
	log_warning("%s", err->msg);
	return err->code ? err->code : r;
}

void templates_import_reconcile(struct daemon *d)
{
	char base[PATH_MAX], dir[PATH_MAX], volume[80];
	cleanup(closedirp) DIR *dp = NULL;
	struct dirent *de;

	snprintf(base, sizeof(base), "%s/%s", d->run_dir, IMPORT_DIR);
	dp = opendir(base);
	if (!dp)
		return;
	while ((de = readdir(dp))) {
		cleanup(db_template_freep) struct db_template *t = NULL;

		if (!name_is_valid(de->d_name))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, de->d_name);
		snprintf(volume, sizeof(volume), "template-%s", de->d_name);
		if (d->volumes) {
			(void)storage_volume_detach(d->pool, volume, dir, NULL);
			if (db_template_get_by_name(d->db, de->d_name, &t, NULL) < 0)
				(void)storage_volume_destroy(d->pool, volume, NULL);
		}
		(void)rmdir(dir);
		log_info("template '%s': removed what an interrupted import left", de->d_name);
	}
}

static bool builtin(const char *name)
{
	return streq(name, "busybox") || streq(name, "busybox-vm");
}

void api_templates_import(struct daemon *d, const struct caller *c, struct http_request *req,
			  struct http_response *resp)
{
	static const char *const fields[] = {"name",  "rootfs",	     "disk",	    "os",
					     "init",  "stop_signal", "description", "system",
					     "image", NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_template_freep) struct db_template *have = NULL;
	cleanup(db_task_freep) struct db_task *task = NULL;
	cleanup_json json_t *body = NULL;
	const char *name = NULL, *rootfs = NULL, *disk = NULL, *os = NULL, *init = NULL,
		   *sig = NULL, *desc = NULL, *image = NULL;
	struct import_op *op = NULL;
	struct db_task tmpl = {0};
	struct stat st;
	int r;

	if (!api_body(req, fields, &body, resp))
		return;
	if (json_get_string(body, "name", true, CARVE_NAME_MAX + 1, &name, &err) < 0 ||
	    json_get_string(body, "image", false, PATH_MAX - 1, &image, &err) < 0 ||
	    json_get_string(body, "rootfs", !image, PATH_MAX - 1, &rootfs, &err) < 0 ||
	    json_get_string(body, "disk", false, 32, &disk, &err) < 0 ||
	    json_get_string(body, "os", false, 31, &os, &err) < 0 ||
	    json_get_string(body, "init", false, 255, &init, &err) < 0 ||
	    json_get_string(body, "stop_signal", false, 16, &sig, &err) < 0 ||
	    json_get_string(body, "description", false, 1024, &desc, &err) < 0)
		return api_fail(resp, &err);
	if (parse_name(name, "template", &err) < 0) {
		strscpy(err.field, "name", sizeof(err.field));
		return api_fail(resp, &err);
	}
	/* a VM disk image (qcow2 or raw) instead of a root filesystem archive */
	if (image) {
		static const char *const container_only[] = {"rootfs", "disk", "init",
							     "stop_signal", "system"};

		for (size_t i = 0; i < ELEMENTSOF(container_only); i++)
			if (json_object_get(body, container_only[i]))
				return http_response_error(
					resp, 400, container_only[i],
					"template '%s': %s: not for a disk image (a VM boots the "
					"image's own bootloader; its size is the image's)",
					name, container_only[i]);
		if (!d->volumes)
			return http_response_error(
				resp, 422, "image",
				"template '%s': disk images need a volume pool (reflink driver)",
				name);
		rootfs = image;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return http_response_error(resp, 500, NULL, "out of memory");
	strscpy(op->name, name, sizeof(op->name));
	op->image = image != NULL;
	op->disk = DISK_DEFAULT;
	op->system = -1;
	if (json_object_get(body, "system")) {
		bool b = false;

		if (json_get_bool(body, "system", false, &b, &err) < 0) {
			free(op);
			return api_fail(resp, &err);
		}
		op->system = b;
	}
	strscpy(op->init, init ? init : "/sbin/init", sizeof(op->init));
	if (os)
		strscpy(op->os, os, sizeof(op->os));
	if (desc && !(op->description = strdup(desc))) {
		free(op);
		return http_response_error(resp, 500, NULL, "out of memory");
	}
	if (rootfs[0] != '/' || stat(rootfs, &st) < 0 || !S_ISREG(st.st_mode) ||
	    access(rootfs, R_OK) < 0)
		r = carve_err_field(&err, -EINVAL, image ? "image" : "rootfs",
				    "template '%s': %s '%s': not a readable regular file "
				    "(an absolute path on the carved host)",
				    name, image ? "image" : "rootfs", rootfs);
	else if (disk && (parse_size(disk, &op->disk, NULL) < 0 || op->disk < DISK_MIN ||
			  op->disk > DISK_MAX))
		r = carve_err_field(&err, -EINVAL, "disk",
				    "template '%s': disk '%s': a size from 64M to 1T", name, disk);
	else if (os && !name_is_valid(os))
		r = carve_err_field(&err, -EINVAL, "os",
				    "template '%s': os '%s': lowercase letters, digits and '-'",
				    name, os);
	else if (op->init[0] != '/' || strstr(op->init, ".."))
		r = carve_err_field(&err, -EINVAL, "init",
				    "template '%s': init '%s': an absolute path inside the root",
				    name, op->init);
	else if (sig && template_parse_signal(sig, &op->stop_signal) < 0)
		r = carve_err_field(&err, -EINVAL, "stop_signal",
				    "template '%s': stop_signal '%s': a signal name or number "
				    "(e.g. SIGRTMIN+3, SIGPWR, SIGTERM)",
				    name, sig);
	else
		r = 0;
	strscpy(op->archive, rootfs, sizeof(op->archive));
	if (r >= 0 && db_template_get_by_name(d->db, name, &have, NULL) >= 0)
		r = carve_err_field(&err, -EEXIST, "name", "template '%s' already exists", name);
	/* an image is admitted at its virtual size once converted */
	if (r >= 0 && d->volumes && !op->image && storage_pool_admit(d->pool, op->disk, &err) < 0)
		r = carve_err_prefix(&err, "template '%s': disk", name);
	if (r < 0) {
		free(op->description);
		free(op);
		return api_fail(resp, &err);
	}
	r = importing_claim(name);
	if (r < 0) {
		free(op->description);
		free(op);
		if (r == -EEXIST)
			return http_response_error(resp, 409, "name",
						   "template '%s' is being imported", name);
		return http_response_error(resp, 503, NULL,
					   "template '%s': %d imports already running", name,
					   IMPORTS_MAX);
	}
	strscpy(tmpl.user_id, c->user_id, sizeof(tmpl.user_id));
	strscpy(tmpl.kind, "template.import", sizeof(tmpl.kind));
	snprintf(tmpl.object, sizeof(tmpl.object), "template/%s", name);
	strscpy(tmpl.progress_unit, "bytes", sizeof(tmpl.progress_unit));
	if (tasks_submit(d->tasks, &tmpl, import_task, op, import_op_free, &task, &err) < 0)
		return api_fail(resp, &err);
	snprintf(resp->location, sizeof(resp->location), "/api/v1/tasks/%s", task->id);
	http_response_json(resp, 202, json_pack("{s:o}", "task", api_task_json(d, task)));
}

void api_templates_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			  struct http_response *resp)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_template_freep) struct db_template *t = NULL;
	const char *name = http_request_param(req, "name");
	char dir[PATH_MAX];
	int r;

	if (parse_name(name, "template", &err) < 0)
		return api_fail(resp, &err);
	r = db_template_get_by_name(d->db, name, &t, NULL);
	if (r < 0) {
		carve_err(&err, r, "template '%s'%s", name, r == -ENOENT ? " not found" : "");
		return api_fail(resp, &err);
	}
	if (builtin(name))
		return http_response_error(resp, 409, NULL,
					   "template '%s' is built in: carved recreates it", name);
	if (db_template_delete(d->db, t->id, &err) < 0)
		return api_fail(resp, &err);
	if (t->volume) {
		char pools[DAEMON_POOLS_MAX][64];
		size_t n = daemon_pools_names(pools, DAEMON_POOLS_MAX);

		/* servers of other pools may have had a copy made there */
		for (size_t i = 0; i < n; i++) {
			struct storage_pool *p = daemon_pool(d, pools[i]);

			if (p && storage_volume_exists(p, t->volume) > 0 &&
			    storage_volume_destroy(p, t->volume, &err) < 0) {
				log_warning("template '%s': %s", name, err.msg);
				carve_err_clear(&err);
			}
		}
	} else {
		snprintf(dir, sizeof(dir), "%s/templates/%s", d->state_dir, name);
		(void)rm_rf(dir);
	}
	housekeeping_kick(d->housekeeping);
	http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

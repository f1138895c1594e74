/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Disk images and cloud-init seeds.
 *
 * Import never lets qemu-img guess a format: the format comes from the header magic read here,
 * and is passed with -f to both `qemu-img info` and `qemu-img convert`. A qcow2 image may name
 * other host files (a backing file, an external data file): reading it would read those files,
 * so such images are refused. The source is opened once and handed to qemu-img as
 * /proc/self/fd/N, so a path swapped between the check and the conversion changes nothing.
 */
#define LOG_DOMAIN "vm"

#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "vm/vm.h"

#define OUTPUT_MAX (1024 * 1024)

/*
 * Run argv with stdout captured (at most OUTPUT_MAX) and stderr kept for the error message.
 * keep_fd (>= 0) is inherited by the command. Returns the exit status (0..255) or -errno.
 */
static int run(char *const *argv, int keep_fd, char **ret_out, char *errbuf, size_t errsize)
{
	cleanup_close int errfd = -EBADF;
	cleanup_free char *out = NULL;
	size_t len = 0;
	int p[2], status;
	pid_t pid;

	if (errsize)
		errbuf[0] = '\0';
	errfd = memfd_create("carve-vm-stderr", MFD_CLOEXEC);
	if (errfd < 0)
		return -errno;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(p[1], 1) < 0 || dup2(errfd, 2) < 0)
			_exit(127);
		if (keep_fd >= 0 && fcntl(keep_fd, F_SETFD, 0) < 0)
			_exit(127);
		setenv("MTOOLS_SKIP_CHECK", "1", 1);
		setenv("LC_ALL", "C", 1);
		execvp(argv[0], argv);
		if (errno == ENOENT && !strchr(argv[0], '/')) {
			char path[256];
			snprintf(path, sizeof(path), "/usr/sbin/%s", argv[0]);
			execv(path, argv);
		}
		dprintf(2, "exec: %s", strerror(errno));
		_exit(127);
	}
	close(p[1]);
	out = malloc(OUTPUT_MAX + 1);
	for (;;) {
		char tmp[8192];
		ssize_t n = read(p[0], tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && len + (size_t)n <= OUTPUT_MAX) {
			memcpy(out + len, tmp, (size_t)n);
			len += (size_t)n;
		}
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (errsize) {
		ssize_t n = pread(errfd, errbuf, errsize - 1, 0);
		errbuf[n > 0 ? n : 0] = '\0';
		/* one line for the message */
		for (char *c = errbuf; *c; c++)
			if (*c == '\n' || *c == '\r')
				*c = (c[1] ? ' ' : '\0');
	}
	if (!out)
		return -ENOMEM;
	out[len] = '\0';
	if (ret_out)
		*ret_out = TAKE_PTR(out);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int detect_fd(int fd, enum vm_disk_format *ret)
{
	unsigned char magic[4] = {};
	ssize_t n = pread(fd, magic, sizeof(magic), 0);
	if (n < 0)
		return -errno;
	if (n == 4 && memcmp(magic, "QFI\xfb", 4) == 0)
		*ret = VM_DISK_FORMAT_QCOW2;
	else
		*ret = VM_DISK_FORMAT_RAW;
	return 0;
}

static int open_image(const char *path, struct carve_error *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return carve_err(err, -errno, "image '%s': open", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int r = errno ? -errno : -EINVAL;
		safe_close(fd);
		return carve_err(err, S_ISREG(st.st_mode) ? r : -EINVAL,
				 "image '%s': not a regular file", path);
	}
	return fd;
}

int vm_image_detect_format(const char *path, enum vm_disk_format *ret, struct carve_error *err)
{
	cleanup_close int fd = open_image(path, err);
	int r;
	if (fd < 0)
		return fd;
	r = detect_fd(fd, ret);
	if (r < 0)
		return carve_err(err, r, "image '%s': read header", path);
	return 0;
}

/* Refuse what would make QEMU read other host files or need a key. */
static int check_qcow2_info(const char *src, const char *json, struct carve_error *err)
{
	json_error_t jerr;
	json_t *info = json_loads(json, 0, &jerr), *data;
	static const char *const backing_keys[] = {"backing-filename", "full-backing-filename",
						   "backing-filename-format"};
	int r = 0;

	if (!json_is_object(info)) {
		json_decref(info);
		return carve_err(err, -EIO, "image '%s': qemu-img info: unreadable output", src);
	}
	if (!streq(json_string_value(json_object_get(info, "format")), "qcow2"))
		r = carve_err_field(err, -EINVAL, "format",
				    "image '%s': qemu-img info: format is not qcow2", src);
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(backing_keys); i++)
		if (json_object_get(info, backing_keys[i]))
			r = carve_err_field(
				err, -EINVAL, backing_keys[i],
				"image '%s': qcow2 '%s' is set ('%s'): images with a backing file "
				"are refused, flatten it first (qemu-img convert -O qcow2)",
				src, backing_keys[i],
				json_string_value(json_object_get(info, backing_keys[i])) ?: "");
	data = json_object_get(json_object_get(json_object_get(info, "format-specific"), "data"),
			       "data-file");
	if (r == 0 && data)
		r = carve_err_field(err, -EINVAL, "data-file",
				    "image '%s': qcow2 'data-file' is set ('%s'): images with an "
				    "external data file are refused",
				    src, json_string_value(data) ?: "");
	if (r == 0 && json_is_true(json_object_get(info, "encrypted")))
		r = carve_err_field(err, -EINVAL, "encrypted",
				    "image '%s': qcow2 'encrypted' is set: encrypted images are "
				    "refused",
				    src);
	json_decref(info);
	return r;
}

int vm_image_import(const char *qemu_img, const char *src, const char *dst, struct carve_error *err)
{
	cleanup_close int fd = -EBADF;
	cleanup_free char *out = NULL;
	char fdpath[64], errbuf[512];
	enum vm_disk_format fmt = VM_DISK_FORMAT_RAW;
	struct stat st;
	int r;

	if (!qemu_img)
		qemu_img = "qemu-img";
	if (!src || !dst || dst[0] != '/')
		return carve_err(err, -EINVAL,
				 "image import: source and an absolute destination "
				 "are required");
	if (lstat(dst, &st) == 0)
		return carve_err(err, -EEXIST, "image import: destination '%s' exists", dst);
	fd = open_image(src, err);
	if (fd < 0)
		return fd;
	r = detect_fd(fd, &fmt);
	if (r < 0)
		return carve_err(err, r, "image '%s': read header", src);
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);

	if (fmt == VM_DISK_FORMAT_QCOW2) {
		char *const info_argv[] = {(char *)qemu_img, "info", "-f", "qcow2",
					   "--output=json",  fdpath, NULL};
		r = run(info_argv, fd, &out, errbuf, sizeof(errbuf));
		if (r < 0)
			return carve_err(err, r, "image '%s': run qemu-img info", src);
		if (r != 0)
			return carve_err(err, -EINVAL, "image '%s': qemu-img info -f qcow2: %s",
					 src, errbuf[0] ? errbuf : "failed");
		r = check_qcow2_info(src, out, err);
		if (r < 0)
			return r;
	}
	{
		char *const conv_argv[] = {(char *)qemu_img,
					   "convert",
					   "-f",
					   (char *)vm_disk_format_to_string(fmt),
					   "-O",
					   "raw",
					   fdpath,
					   (char *)dst,
					   NULL};
		r = run(conv_argv, fd, NULL, errbuf, sizeof(errbuf));
		if (r < 0)
			return carve_err(err, r, "image '%s': run qemu-img convert", src);
		if (r != 0) {
			(void)unlink(dst);
			return carve_err(err, -EIO, "image '%s': qemu-img convert -f %s -O raw: %s",
					 src, vm_disk_format_to_string(fmt),
					 errbuf[0] ? errbuf : "failed");
		}
	}
	log_debug("image '%s' (%s) imported as raw '%s'", src, vm_disk_format_to_string(fmt), dst);
	return 0;
}

/* cloud-init NoCloud seed */

static bool printable_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return false;
	return true;
}

static bool chars_in(const char *s, const char *extra, bool alnum)
{
	for (const char *p = s; *p; p++)
		if (!(alnum && isalnum((unsigned char)*p)) && !strchr(extra, *p))
			return false;
	return true;
}

static bool hostname_valid(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n < 1 || n > 253)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
		if (label == 0 && *p == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-';
}

static bool user_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return false;
	return true;
}

static bool ssh_key_valid(const char *k)
{
	static const char *const types[] = {"ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-",
					    "sk-ssh-ed25519@openssh.com ", "sk-ecdsa-sha2-"};
	bool known = false;
	if (strlen(k) > 16384 || !printable_ascii(k))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		known = known || startswith(k, types[i]);
	return known;
}

/* A YAML double-quoted scalar: only printable ASCII reaches here (validated); escape \ and ". */
static int yaml_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
	return 0;
}

int vm_seed_render(const struct vm_seed *seed, char **ret_meta_data, char **ret_user_data,
		   struct carve_error *err)
{
	cleanup_free char *meta = NULL, *user = NULL;
	size_t meta_len = 0, user_len = 0;
	FILE *f;

	if (!seed->instance_id || strlen(seed->instance_id) < 1 ||
	    strlen(seed->instance_id) > 128 || !chars_in(seed->instance_id, "._-", true))
		return carve_err_field(err, -EINVAL, "instance_id",
				       "seed: instance_id '%s': use 1-128 of [A-Za-z0-9._-]",
				       seed->instance_id ? seed->instance_id : "");
	if (!seed->hostname || !hostname_valid(seed->hostname))
		return carve_err_field(err, -EINVAL, "hostname",
				       "seed: hostname: not a valid host name (RFC 1123)");
	if (seed->user && !user_valid(seed->user))
		return carve_err_field(err, -EINVAL, "user",
				       "seed: user: use [a-z_][a-z0-9_-], at most 32 characters");
	if (seed->password_hash &&
	    (seed->password_hash[0] != '$' || strlen(seed->password_hash) > 512 ||
	     !chars_in(seed->password_hash, "$./=+,-", true)))
		return carve_err_field(err, -EINVAL, "password_hash",
				       "seed: password_hash: not a crypt(3) hash ($6$..., $y$...)");
	if (seed->password_hash && !seed->user)
		return carve_err_field(err, -EINVAL, "password_hash",
				       "seed: password_hash: needs a user");
	for (size_t i = 0; seed->ssh_keys && seed->ssh_keys[i]; i++) {
		if (i >= 64)
			return carve_err_field(err, -E2BIG, "ssh_keys",
					       "seed: ssh_keys: at most 64");
		if (!ssh_key_valid(seed->ssh_keys[i]))
			return carve_err_field(err, -EINVAL, "ssh_keys",
					       "seed: ssh_keys[%zu]: not a single-line OpenSSH "
					       "public key",
					       i);
	}

	f = open_memstream(&meta, &meta_len);
	if (!f)
		return carve_err(err, -ENOMEM, "seed");
	fputs("instance-id: ", f);
	yaml_quote(f, seed->instance_id);
	fputs("\nlocal-hostname: ", f);
	yaml_quote(f, seed->hostname);
	fputs("\n", f);
	if (fclose(f) != 0)
		return carve_err(err, -ENOMEM, "seed");

	f = open_memstream(&user, &user_len);
	if (!f)
		return carve_err(err, -ENOMEM, "seed");
	fputs("#cloud-config\nhostname: ", f);
	yaml_quote(f, seed->hostname);
	fputs("\n", f);
	if (seed->user) {
		fputs("users:\n  - name: ", f);
		yaml_quote(f, seed->user);
		fputs("\n    shell: /bin/sh\n", f);
		if (seed->password_hash) {
			fputs("    lock_passwd: false\n    passwd: ", f);
			yaml_quote(f, seed->password_hash);
			fputs("\n", f);
		}
		if (seed->ssh_keys && seed->ssh_keys[0]) {
			fputs("    ssh_authorized_keys:\n", f);
			for (size_t i = 0; seed->ssh_keys[i]; i++) {
				fputs("      - ", f);
				yaml_quote(f, seed->ssh_keys[i]);
				fputs("\n", f);
			}
		}
	} else if (seed->ssh_keys && seed->ssh_keys[0]) {
		fputs("ssh_authorized_keys:\n", f);
		for (size_t i = 0; seed->ssh_keys[i]; i++) {
			fputs("  - ", f);
			yaml_quote(f, seed->ssh_keys[i]);
			fputs("\n", f);
		}
	}
	fputs(seed->password_hash ? "ssh_pwauth: true\n" : "ssh_pwauth: false\n", f);
	if (fclose(f) != 0)
		return carve_err(err, -ENOMEM, "seed");

	*ret_meta_data = TAKE_PTR(meta);
	*ret_user_data = TAKE_PTR(user);
	return 0;
}

int vm_seed_build(const struct vm_seed *seed, const char *path, struct carve_error *err)
{
	cleanup_free char *meta = NULL, *user = NULL;
	char dir[] = "/tmp/carve-seed.XXXXXX", mpath[64], upath[64], errbuf[512];
	struct stat st;
	int r;

	if (!path || path[0] != '/')
		return carve_err(err, -EINVAL, "seed image: an absolute path is required");
	if (lstat(path, &st) == 0)
		return carve_err(err, -EEXIST, "seed image '%s': exists", path);
	r = vm_seed_render(seed, &meta, &user, err);
	if (r < 0)
		return r;
	if (!mkdtemp(dir))
		return carve_err(err, -errno, "seed image '%s': temp dir", path);
	snprintf(mpath, sizeof(mpath), "%s/meta-data", dir);
	snprintf(upath, sizeof(upath), "%s/user-data", dir);
	r = write_file_atomic(mpath, meta, strlen(meta), 0600);
	if (r >= 0)
		r = write_file_atomic(upath, user, strlen(user), 0600);
	if (r < 0) {
		carve_err(err, r, "seed image '%s': write temp files", path);
		goto out;
	}
	{
		/* 1 MiB FAT12, label CIDATA (cloud-init matches the label case-insensitively) */
		char *const mkfs[] = {"mkfs.vfat",  "-n",   "CIDATA", "-C",
				      (char *)path, "1024", NULL};
		r = run(mkfs, -1, NULL, errbuf, sizeof(errbuf));
		if (r != 0) {
			carve_err(err, r < 0 ? r : -EIO, "seed image '%s': mkfs.vfat: %s", path,
				  r < 0 ? strerror(-r) : errbuf);
			r = r < 0 ? r : -EIO;
			goto fail;
		}
	}
	{
		char *const mcopy[] = {"mcopy", "-i", (char *)path, mpath, upath, "::", NULL};
		r = run(mcopy, -1, NULL, errbuf, sizeof(errbuf));
		if (r != 0) {
			carve_err(err, r < 0 ? r : -EIO, "seed image '%s': mcopy: %s", path,
				  r < 0 ? strerror(-r) : errbuf);
			r = r < 0 ? r : -EIO;
			goto fail;
		}
	}
	r = 0;
	goto out;
fail:
	(void)unlink(path);
out:
	(void)unlink(mpath);
	(void)unlink(upath);
	(void)rmdir(dir);
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image import with the real qemu-img (skips with 77 without it): raw and qcow2 are converted to
 * raw with the data intact; a qcow2 with a backing file or an external data file is refused
 * naming the field; a raw file that starts with a qcow2 header is treated as qcow2, never as a
 * guess by qemu-img. cloud-init seeds: rendering, quoting, validation, and a real vfat image
 * (mkfs.vfat + mcopy; skipped when missing).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "vm/vm.h"

static char tmpdir[] = "/tmp/carve-test-vm-image.XXXXXX";

static bool have(const char *cmd)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "command -v %s >/dev/null 2>&1 || test -x /usr/sbin/%s", cmd,
		 cmd);
	return system(buf) == 0;
}

static void sh(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (system(buf) != 0)
		fail_msg("command failed: %s", buf);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "rm -rf '%s'", tmpdir);
	return system(buf) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static void test_detect(void **state)
{
	char p[256];
	enum vm_disk_format f = _VM_DISK_FORMAT_INVALID;

	path_of(p, sizeof(p), "magic.img");
	assert_int_equal(write_file_atomic(p, "QFI\xfb\0\0\0\3", 8, 0600), 0);
	assert_int_equal(vm_image_detect_format(p, &f, NULL), 0);
	assert_int_equal(f, VM_DISK_FORMAT_QCOW2);
	assert_int_equal(write_file_atomic(p, "QFI", 3, 0600), 0);
	assert_int_equal(vm_image_detect_format(p, &f, NULL), 0);
	assert_int_equal(f, VM_DISK_FORMAT_RAW);
	assert_int_equal(vm_image_detect_format(tmpdir, &f, NULL), -EINVAL);
}

static void test_import_raw_and_qcow2(void **state)
{
	char raw[256], q[256], out1[256], out2[256];
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *data = NULL;
	size_t len = 0;

	path_of(raw, sizeof(raw), "src.raw");
	path_of(q, sizeof(q), "src.qcow2");
	path_of(out1, sizeof(out1), "out1.raw");
	path_of(out2, sizeof(out2), "out2.raw");
	sh("truncate -s 4M '%s' && printf 'CARVE-IMPORT-MARK' | dd of='%s' bs=1 seek=1048576 "
	   "conv=notrunc status=none",
	   raw, raw);
	sh("qemu-img convert -f raw -O qcow2 '%s' '%s'", raw, q);

	assert_int_equal(vm_image_import(NULL, raw, out1, &err), 0);
	assert_int_equal(vm_image_import(NULL, q, out2, &err), 0);
	assert_int_equal(read_full_file(out2, 8 << 20, &data, &len), 0);
	assert_int_equal(len, 4 << 20);
	assert_memory_equal(data + 1048576, "CARVE-IMPORT-MARK", 17);
	{
		struct stat st;
		enum vm_disk_format f;
		assert_int_equal(stat(out1, &st), 0);
		assert_int_equal(st.st_size, 4 << 20);
		/* the output is raw: no qcow2 header */
		assert_int_equal(vm_image_detect_format(out2, &f, NULL), 0);
		assert_int_equal(f, VM_DISK_FORMAT_RAW);
	}
	/* an existing destination is refused */
	assert_int_equal(vm_image_import(NULL, raw, out1, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "exists"));
}

static void test_import_backing_refused(void **state)
{
	char base[256], over[256], out[256];
	struct carve_error err = CARVE_ERROR_INIT;
	struct stat st;

	path_of(base, sizeof(base), "secret-base.raw");
	path_of(over, sizeof(over), "overlay.qcow2");
	path_of(out, sizeof(out), "out-backing.raw");
	sh("truncate -s 1M '%s' && qemu-img create -q -f qcow2 -F raw -b '%s' '%s'", base, base,
	   over);
	assert_int_equal(vm_image_import(NULL, over, out, &err), -EINVAL);
	assert_string_equal(err.field, "backing-filename");
	assert_non_null(strstr(err.msg, "qcow2 'backing-filename' is set"));
	assert_non_null(strstr(err.msg, "overlay.qcow2"));
	assert_int_equal(stat(out, &st), -1);
}

static void test_import_data_file_refused(void **state)
{
	char img[256], data[256], out[256];
	struct carve_error err = CARVE_ERROR_INIT;

	path_of(img, sizeof(img), "ext.qcow2");
	path_of(data, sizeof(data), "ext.data");
	path_of(out, sizeof(out), "out-data.raw");
	sh("qemu-img create -q -f qcow2 -o data_file='%s' '%s' 1M", data, img);
	assert_int_equal(vm_image_import(NULL, img, out, &err), -EINVAL);
	assert_string_equal(err.field, "data-file");
	assert_non_null(strstr(err.msg, "qcow2 'data-file' is set"));
}

static void test_import_fake_qcow2_header(void **state)
{
	/* a "raw" file that starts with the qcow2 magic is handled as qcow2 (and here refused as
	 * a broken one): the format is decided by us, and never probed by qemu-img */
	char img[256], out[256];
	struct carve_error err = CARVE_ERROR_INIT;

	path_of(img, sizeof(img), "fake.img");
	path_of(out, sizeof(out), "out-fake.raw");
	assert_int_equal(write_file_atomic(img, "QFI\xfb garbage garbage garbage", 28, 0600), 0);
	assert_true(vm_image_import(NULL, img, out, &err) < 0);
	assert_non_null(strstr(err.msg, "qemu-img info -f qcow2"));
}

static void test_seed_render(void **state)
{
	const char *keys[] = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host", NULL};
	struct vm_seed seed = {
		.instance_id = "srv-0123",
		.hostname = "web1",
		.user = "admin",
		.password_hash = "$6$salt$abcdefghijklmnopqrstuvwxyz./ABCDEF",
		.ssh_keys = keys,
	};
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *meta = NULL, *user = NULL;

	assert_int_equal(vm_seed_render(&seed, &meta, &user, &err), 0);
	assert_string_equal(meta, "instance-id: \"srv-0123\"\nlocal-hostname: \"web1\"\n");
	assert_string_equal(user,
			    "#cloud-config\n"
			    "hostname: \"web1\"\n"
			    "users:\n"
			    "  - name: \"admin\"\n"
			    "    shell: /bin/sh\n"
			    "    lock_passwd: false\n"
			    "    passwd: \"$6$salt$abcdefghijklmnopqrstuvwxyz./ABCDEF\"\n"
			    "    ssh_authorized_keys:\n"
			    "      - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host\"\n"
			    "ssh_pwauth: true\n");

	/* a key comment with a quote is escaped, not closing the scalar */
	{
		const char *k2[] = {"ssh-rsa AAAAB3 a\"b\\c", NULL};
		cleanup_free char *m2 = NULL, *u2 = NULL;
		seed.ssh_keys = k2;
		assert_int_equal(vm_seed_render(&seed, &m2, &u2, NULL), 0);
		assert_non_null(strstr(u2, "      - \"ssh-rsa AAAAB3 a\\\"b\\\\c\"\n"));
	}
}

static void expect_seed_invalid(const struct vm_seed *seed, const char *field)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char *m = NULL, *u = NULL;
	assert_true(vm_seed_render(seed, &m, &u, &err) < 0);
	assert_null(m);
	assert_null(u);
	assert_string_equal(err.field, field);
}

static void test_seed_injection_refused(void **state)
{
	const char *nl_key[] = {"ssh-ed25519 AAAA\nruncmd: [reboot]", NULL};
	const char *not_key[] = {"runcmd: [reboot]", NULL};
	struct vm_seed s = {.instance_id = "i1", .hostname = "web1"};

	s.hostname = "web1\nruncmd: x";
	expect_seed_invalid(&s, "hostname");
	s.hostname = "-web";
	expect_seed_invalid(&s, "hostname");
	s.hostname = "web1";
	s.instance_id = "a\"b";
	expect_seed_invalid(&s, "instance_id");
	s.instance_id = "i1";
	s.user = "root\n";
	expect_seed_invalid(&s, "user");
	s.user = "admin";
	s.password_hash = "plaintext";
	expect_seed_invalid(&s, "password_hash");
	s.password_hash = "$6$x\"\ny";
	expect_seed_invalid(&s, "password_hash");
	s.password_hash = NULL;
	s.ssh_keys = nl_key;
	expect_seed_invalid(&s, "ssh_keys");
	s.ssh_keys = not_key;
	expect_seed_invalid(&s, "ssh_keys");
}

static void test_seed_build(void **state)
{
	struct vm_seed seed = {.instance_id = "i-42", .hostname = "db1", .user = "ops"};
	struct carve_error err = CARVE_ERROR_INIT;
	char img[256], cmd[512], buf[256] = "";
	FILE *f;

	if (!have("mkfs.vfat") || !have("mcopy") || !have("mtype"))
		skip();
	path_of(img, sizeof(img), "seed.img");
	assert_int_equal(vm_seed_build(&seed, img, &err), 0);
	/* label and contents as cloud-init reads them */
	snprintf(cmd, sizeof(cmd), "MTOOLS_SKIP_CHECK=1 mtype -i '%s' ::meta-data", img);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	pclose(f);
	assert_string_equal(buf, "instance-id: \"i-42\"\nlocal-hostname: \"db1\"\n");
	snprintf(cmd, sizeof(cmd), "blkid -s LABEL -o value '%s' | grep -qx CIDATA", img);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		 "MTOOLS_SKIP_CHECK=1 mtype -i '%s' ::user-data | grep -qx '#cloud-config'", img);
	assert_int_equal(system(cmd), 0);
	/* not over an existing file */
	assert_int_equal(vm_seed_build(&seed, img, &err), -EEXIST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_import_raw_and_qcow2),
		cmocka_unit_test(test_import_backing_refused),
		cmocka_unit_test(test_import_data_file_refused),
		cmocka_unit_test(test_import_fake_qcow2_header),
		cmocka_unit_test(test_seed_render),
		cmocka_unit_test(test_seed_injection_refused),
		cmocka_unit_test(test_seed_build),
	};
	if (!have("qemu-img")) {
		fprintf(stderr, "qemu-img missing: skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

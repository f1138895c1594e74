/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QEMU command lines. Every choice QEMU could make by itself (the image format, the cache mode,
 * default devices, a user config file, a monitor on stdio) is made explicitly here, because what
 * QEMU guesses from a guest-supplied image is an attack surface (format probing turns a raw
 * disk that starts with a qcow2 header into a file reader of the host).
 */
#define LOG_DOMAIN "vm"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "vm/vm.h"

static const char *const accel_table[_VM_ACCEL_MAX] = {
	[VM_ACCEL_AUTO] = "auto",
	[VM_ACCEL_KVM] = "kvm",
	[VM_ACCEL_TCG] = "tcg",
};
static const char *const machine_table[_VM_MACHINE_MAX] = {
	[VM_MACHINE_Q35] = "q35",
	[VM_MACHINE_MICROVM] = "microvm",
};
static const char *const format_table[_VM_DISK_FORMAT_MAX] = {
	[VM_DISK_FORMAT_RAW] = "raw",
	[VM_DISK_FORMAT_QCOW2] = "qcow2",
};
static const char *const aio_table[_VM_AIO_MAX] = {
	[VM_AIO_AUTO] = "auto",
	[VM_AIO_IO_URING] = "io_uring",
	[VM_AIO_THREADS] = "threads",
	[VM_AIO_NATIVE] = "native",
};

static int table_lookup(const char *const *table, size_t n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (table[i] && streq(table[i], s))
			return (int)i;
	return -EINVAL;
}

const char *vm_accel_to_string(enum vm_accel a)
{
	return a >= 0 && a < _VM_ACCEL_MAX ? accel_table[a] : NULL;
}
enum vm_accel vm_accel_from_string(const char *s)
{
	return table_lookup(accel_table, _VM_ACCEL_MAX, s);
}
const char *vm_machine_to_string(enum vm_machine m)
{
	return m >= 0 && m < _VM_MACHINE_MAX ? machine_table[m] : NULL;
}
enum vm_machine vm_machine_from_string(const char *s)
{
	return table_lookup(machine_table, _VM_MACHINE_MAX, s);
}
const char *vm_disk_format_to_string(enum vm_disk_format f)
{
	return f >= 0 && f < _VM_DISK_FORMAT_MAX ? format_table[f] : NULL;
}
enum vm_disk_format vm_disk_format_from_string(const char *s)
{
	return table_lookup(format_table, _VM_DISK_FORMAT_MAX, s);
}
const char *vm_aio_to_string(enum vm_aio a)
{
	return a >= 0 && a < _VM_AIO_MAX ? aio_table[a] : NULL;
}

bool vm_kvm_usable(void)
{
	cleanup_close int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	return ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
}

enum vm_accel vm_accel_resolve(enum vm_accel a)
{
	if (a == VM_ACCEL_AUTO)
		return vm_kvm_usable() ? VM_ACCEL_KVM : VM_ACCEL_TCG;
	return a;
}

int vm_host_tsc_khz(uint64_t *ret, struct carve_error *err)
{
	cleanup_free char *buf = NULL;
	int r = read_full_file("/proc/cpuinfo", 4 << 20, &buf, NULL);
	if (r < 0)
		return carve_err(err, r, "read '/proc/cpuinfo'");
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (startswith(line, "cpu MHz")) {
			char *colon = strchr(line, ':'), *end = NULL;
			double mhz;
			if (colon) {
				errno = 0;
				mhz = strtod(colon + 1, &end);
				if (errno == 0 && end != colon + 1 && mhz > 1 && mhz < 1e6) {
					*ret = (uint64_t)(mhz * 1000.0 + 0.5);
					return 0;
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return carve_err(err, -ENOENT, "'/proc/cpuinfo': no 'cpu MHz' line");
}

static bool io_uring_usable(void)
{
	struct io_uring_params p = {};
	int fd = (int)syscall(SYS_io_uring_setup, 1, &p);
	if (fd < 0)
		return false;
	safe_close(fd);
	return true;
}

/* argv under construction */
struct argv_builder {
	char **v;
	size_t n;
	size_t cap;
	int r;
};

static void argv_add(struct argv_builder *b, const char *fmt, ...) _printf_(2, 3);
static void argv_add(struct argv_builder *b, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (b->r < 0)
		return;
	if (b->n + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char **nv = realloc(b->v, cap * sizeof(char *));
		if (!nv) {
			b->r = -ENOMEM;
			return;
		}
		b->v = nv;
		b->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		b->r = -ENOMEM;
		return;
	}
	b->v[b->n++] = s;
	b->v[b->n] = NULL;
}

/* QEMU option values escape ',' as ",,". */
static char *escape_commas(const char *s)
{
	size_t n = 0;
	char *out, *o;
	for (const char *p = s; *p; p++)
		n += *p == ',' ? 2 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}

static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

static int check_path(const char *path, const char *field, bool required, struct carve_error *err)
{
	if (!path) {
		if (required)
			return carve_err_field(err, -EINVAL, field, "%s: missing", field);
		return 0;
	}
	if (path[0] != '/')
		return carve_err_field(err, -EINVAL, field, "%s '%s': not an absolute path", field,
				       path);
	if (has_control(path))
		return carve_err_field(err, -EINVAL, field, "%s: control character in path", field);
	if (strlen(path) > 4095)
		return carve_err_field(err, -ENAMETOOLONG, field, "%s: path too long", field);
	return 0;
}

static bool serial_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 20)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
	return true;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

static bool nic_ok(const struct vm_nic *n)
{
	size_t len = n->ifname ? strlen(n->ifname) : 0;

	if (len == 0 || len > 15 || !n->mac || strlen(n->mac) != 17)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n->ifname[i] >= 'a' && n->ifname[i] <= 'z') ||
		      (n->ifname[i] >= '0' && n->ifname[i] <= '9')))
			return false;
	for (size_t i = 0; i < 17; i++) {
		char c = n->mac[i];
		bool hex =
			(c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (i % 3 == 2 ? c != ':' : !hex)
			return false;
	}
	/* the low bit of the first octet is multicast */
	unsigned first = (unsigned)strtoul(n->mac, NULL, 16);
	return (first & 1) == 0;
}

static int validate(const struct vm_config *cfg, struct carve_error *err)
{
	int r;

	if (!cfg->name || !name_ok(cfg->name))
		return carve_err_field(err, -EINVAL, "name", "vm name '%s': use 1-64 of [a-z0-9-]",
				       cfg->name ? cfg->name : "");
	if (!vm_accel_to_string(cfg->accel))
		return carve_err_field(err, -EINVAL, "accel", "vm '%s': accel: unknown value %d",
				       cfg->name, (int)cfg->accel);
	if (!vm_machine_to_string(cfg->machine))
		return carve_err_field(err, -EINVAL, "machine",
				       "vm '%s': machine: unknown value %d", cfg->name,
				       (int)cfg->machine);
	if (!vm_aio_to_string(cfg->aio))
		return carve_err_field(err, -EINVAL, "aio", "vm '%s': aio: unknown value %d",
				       cfg->name, (int)cfg->aio);
	if (cfg->vcpus < 1 || cfg->vcpus > VM_VCPUS_MAX)
		return carve_err_field(err, -EINVAL, "vcpus",
				       "vm '%s': vcpus %" PRIu32 ": not in 1..%d", cfg->name,
				       cfg->vcpus, VM_VCPUS_MAX);
	if (cfg->memory < VM_MEMORY_MIN || cfg->memory > VM_MEMORY_MAX || cfg->memory % (1 << 20))
		return carve_err_field(err, -EINVAL, "memory",
				       "vm '%s': memory %" PRIu64
				       ": not a multiple of 1 MiB between 16M and 4T",
				       cfg->name, cfg->memory);
	if (cfg->qemu_binary && (has_control(cfg->qemu_binary) || !cfg->qemu_binary[0]))
		return carve_err_field(err, -EINVAL, "qemu_binary", "vm '%s': qemu_binary: invalid",
				       cfg->name);
	if ((r = check_path(cfg->kernel, "kernel", false, err)) < 0 ||
	    (r = check_path(cfg->initrd, "initrd", false, err)) < 0 ||
	    (r = check_path(cfg->qmp_socket, "qmp_socket", true, err)) < 0 ||
	    (r = check_path(cfg->serial_socket, "serial_socket", false, err)) < 0 ||
	    (r = check_path(cfg->pidfile, "pidfile", false, err)) < 0)
		return carve_err_prefix(err, "vm '%s'", cfg->name);
	if (cfg->initrd && !cfg->kernel)
		return carve_err_field(err, -EINVAL, "initrd", "vm '%s': initrd without a kernel",
				       cfg->name);
	if (cfg->append && !cfg->kernel)
		return carve_err_field(err, -EINVAL, "append", "vm '%s': append without a kernel",
				       cfg->name);
	if (cfg->append && (has_control(cfg->append) || strlen(cfg->append) > 2048))
		return carve_err_field(err, -EINVAL, "append",
				       "vm '%s': append: control character or longer than 2048",
				       cfg->name);
	if (cfg->machine == VM_MACHINE_MICROVM && !cfg->kernel)
		return carve_err_field(err, -EINVAL, "kernel",
				       "vm '%s': machine 'microvm' needs a kernel (direct boot)",
				       cfg->name);
	if (!cfg->kernel && cfg->n_disks == 0)
		return carve_err_field(err, -EINVAL, "disks",
				       "vm '%s': nothing to boot: no kernel and no disk",
				       cfg->name);
	if (cfg->n_disks > VM_DISKS_MAX || (cfg->n_disks > 0 && !cfg->disks))
		return carve_err_field(err, -EINVAL, "disks", "vm '%s': disks: at most %d",
				       cfg->name, VM_DISKS_MAX);
	if (cfg->n_nics > VM_NICS_MAX || (cfg->n_nics > 0 && !cfg->nics))
		return carve_err_field(err, -EINVAL, "nics", "vm '%s': nics: at most %d", cfg->name,
				       VM_NICS_MAX);
	for (size_t i = 0; i < cfg->n_nics; i++)
		if (!nic_ok(&cfg->nics[i]))
			return carve_err_field(err, -EINVAL, "nics",
					       "vm '%s': nic %zu: tap name [a-z0-9]{1,15} and a "
					       "unicast MAC xx:xx:xx:xx:xx:xx",
					       cfg->name, i);
	for (size_t i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		if ((r = check_path(d->path, "disk path", true, err)) < 0)
			return carve_err_prefix(err, "vm '%s': disk %zu", cfg->name, i);
		if (!vm_disk_format_to_string(d->format))
			return carve_err_field(err, -EINVAL, "format",
					       "vm '%s': disk %zu: format: unknown value %d",
					       cfg->name, i, (int)d->format);
		if (d->serial && !serial_valid(d->serial))
			return carve_err_field(err, -EINVAL, "serial",
					       "vm '%s': disk %zu: serial '%s': use 1-20 of "
					       "[A-Za-z0-9_-]",
					       cfg->name, i, d->serial);
	}
	return 0;
}

uint64_t vm_memory_limit(const struct vm_config *cfg)
{
	uint64_t overhead;
	/* measured: a 256 MiB TCG guest runs at about 230 MiB RSS before it touches its RAM;
	 * the translation cache is capped by tb-size */
	if (vm_accel_resolve(cfg->accel) == VM_ACCEL_TCG)
		overhead = ((uint64_t)(cfg->tb_size_mib ? cfg->tb_size_mib : 128) << 20) +
			   (UINT64_C(192) << 20);
	else
		overhead = UINT64_C(160) << 20;
	return cfg->memory + overhead + cfg->memory / 64 + (uint64_t)cfg->vcpus * (8 << 20);
}

int vm_cmdline_build(const struct vm_config *cfg, char ***ret_argv, struct carve_error *err)
{
	struct argv_builder b = {};
	enum vm_accel accel;
	enum vm_aio aio;
	bool microvm;
	uint64_t tsc = 0;
	int r;

	r = validate(cfg, err);
	if (r < 0)
		return r;
	accel = vm_accel_resolve(cfg->accel);
	microvm = cfg->machine == VM_MACHINE_MICROVM;
	aio = cfg->aio == VM_AIO_AUTO ? (io_uring_usable() ? VM_AIO_IO_URING : VM_AIO_THREADS)
				      : cfg->aio;
	if (microvm && accel == VM_ACCEL_TCG) {
		tsc = cfg->tsc_khz;
		if (tsc == 0) {
			r = vm_host_tsc_khz(&tsc, err);
			if (r < 0)
				return carve_err_prefix(err, "vm '%s': tsc_early_khz", cfg->name);
		}
	}

	argv_add(&b, "%s", cfg->qemu_binary ? cfg->qemu_binary : "qemu-system-x86_64");
	argv_add(&b, "-name");
	argv_add(&b, "guest=%s,debug-threads=on", cfg->name);
	argv_add(&b, "-nodefaults");
	argv_add(&b, "-no-user-config");
	argv_add(&b, "-nographic");
	argv_add(&b, "-machine");
	if (microvm)
		/* no legacy PIT/PIC, ISA serial for the console, ACPI for the power button */
		argv_add(&b, "microvm,acpi=on,pit=off,pic=off,rtc=on,isa-serial=on");
	else
		argv_add(&b, "q35");
	argv_add(&b, "-accel");
	if (accel == VM_ACCEL_KVM)
		argv_add(&b, "kvm");
	else
		argv_add(&b, "tcg,thread=multi,tb-size=%" PRIu32,
			 cfg->tb_size_mib ? cfg->tb_size_mib : 128);
	argv_add(&b, "-cpu");
	argv_add(&b, "%s", accel == VM_ACCEL_KVM ? "host" : VM_TCG_CPU);
	argv_add(&b, "-smp");
	argv_add(&b, "%" PRIu32, cfg->vcpus);
	argv_add(&b, "-m");
	argv_add(&b, "%" PRIu64 "M", cfg->memory >> 20);
	argv_add(&b, "-sandbox");
	argv_add(&b, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");

	/* the serial console: a unix socket the monitor connects to, or QEMU's stdio (the monitor
	 * hands QEMU the console pty there, as it does for a container's init) */
	if (cfg->serial_socket) {
		cleanup_free char *p = escape_commas(cfg->serial_socket);
		if (!p)
			b.r = -ENOMEM;
		argv_add(&b, "-chardev");
		argv_add(&b, "socket,id=serial0,path=%s,server=on,wait=off", p ? p : "");
	} else {
		argv_add(&b, "-chardev");
		argv_add(&b, "stdio,id=serial0,signal=off");
	}
	argv_add(&b, "-serial");
	argv_add(&b, "chardev:serial0");
	{
		cleanup_free char *p = escape_commas(cfg->qmp_socket);
		if (!p)
			b.r = -ENOMEM;
		argv_add(&b, "-chardev");
		argv_add(&b, "socket,id=qmp0,path=%s,server=on,wait=off", p ? p : "");
		argv_add(&b, "-mon");
		argv_add(&b, "chardev=qmp0,mode=control");
	}
	if (cfg->pidfile) {
		argv_add(&b, "-pidfile");
		argv_add(&b, "%s", cfg->pidfile);
	}

	if (cfg->kernel) {
		argv_add(&b, "-kernel");
		argv_add(&b, "%s", cfg->kernel);
		if (cfg->initrd) {
			argv_add(&b, "-initrd");
			argv_add(&b, "%s", cfg->initrd);
		}
		if (cfg->append || tsc) {
			const char *a = cfg->append ? cfg->append : "";
			argv_add(&b, "-append");
			if (tsc) /* microvm under TCG hangs calibrating the TSC without it */
				argv_add(&b, "%s%stsc_early_khz=%" PRIu64, a, *a ? " " : "", tsc);
			else
				argv_add(&b, "%s", a);
		}
	}

	for (size_t i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		cleanup_free char *p = escape_commas(d->path);
		if (!p)
			b.r = -ENOMEM;
		/* format explicit (nothing probed), cache=none (O_DIRECT, no host page cache);
		 * a guest's discard (fstrim) punches holes in the raw file, giving the space back
		 * to the pool as a container's trim does */
		argv_add(&b, "-drive");
		argv_add(
			&b,
			"if=none,id=disk%zu,file=%s,format=%s,cache=%s,aio=%s,readonly=%s,discard=%s",
			i, p ? p : "", vm_disk_format_to_string(d->format),
			d->writeback ? "writeback" : "none",
			vm_aio_to_string(d->writeback && aio == VM_AIO_NATIVE ? VM_AIO_THREADS
									      : aio),
			d->read_only ? "on" : "off", d->read_only ? "ignore" : "unmap");
		argv_add(&b, "-device");
		argv_add(&b, "%s,drive=disk%zu,id=vblk%zu%s%s%s",
			 microvm ? "virtio-blk-device" : "virtio-blk-pci", i, i,
			 d->serial ? ",serial=" : "", d->serial ? d->serial : "",
			 (!cfg->kernel && i == 0) ? ",bootindex=0" : "");
	}
	for (size_t i = 0; i < cfg->n_nics; i++) {
		argv_add(&b, "-netdev");
		if (cfg->nics[i].fd > 2)
			argv_add(&b, "tap,id=net%zu,fd=%d", i, cfg->nics[i].fd);
		else
			argv_add(&b, "tap,id=net%zu,ifname=%s,script=no,downscript=no", i,
				 cfg->nics[i].ifname);
		argv_add(&b, "-device");
		argv_add(&b, "%s,netdev=net%zu,mac=%s",
			 microvm ? "virtio-net-device" : "virtio-net-pci", i, cfg->nics[i].mac);
	}
	if (b.r < 0) {
		strv_free(b.v);
		return carve_err(err, b.r, "vm '%s': build command line", cfg->name);
	}
	*ret_argv = b.v;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm: QEMU virtual machines. This module builds QEMU command lines (KVM when /dev/kvm is usable,
 * TCG otherwise; q35 or microvm; every image with an explicit format, cache=none, the seccomp
 * sandbox always on), starts QEMU as an unprivileged per-VM uid inside given cgroups, speaks QMP
 * over a unix socket, imports disk images into raw pool files with qemu-img without ever letting
 * it probe a format, and builds cloud-init NoCloud seed images.
 *
 * Ownership: the caller (the per-server monitor) owns the QEMU process: vm_spawn() forks and
 * execs it and returns the pid; the caller reaps it. vm_powerdown() watches it with a pidfd and
 * never reaps it. A struct vm_qmp is one connection, used by one thread at a time.
 * Layering: base and jansson only; never prints, never exits, logs at debug only.
 */
#ifndef CARVE_VM_H
#define CARVE_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "base/err.h"

enum vm_accel {
	VM_ACCEL_AUTO, /* kvm when /dev/kvm answers KVM_GET_API_VERSION, else tcg */
	VM_ACCEL_KVM,
	VM_ACCEL_TCG,
	_VM_ACCEL_MAX,
	_VM_ACCEL_INVALID = -EINVAL,
};

enum vm_machine {
	VM_MACHINE_Q35,
	VM_MACHINE_MICROVM, /* direct kernel boot only; virtio-mmio devices */
	_VM_MACHINE_MAX,
	_VM_MACHINE_INVALID = -EINVAL,
};

enum vm_disk_format {
	VM_DISK_FORMAT_RAW,
	VM_DISK_FORMAT_QCOW2,
	_VM_DISK_FORMAT_MAX,
	_VM_DISK_FORMAT_INVALID = -EINVAL,
};

enum vm_aio {
	VM_AIO_AUTO, /* io_uring when the kernel allows it, else threads */
	VM_AIO_IO_URING,
	VM_AIO_THREADS,
	VM_AIO_NATIVE,
	_VM_AIO_MAX,
	_VM_AIO_INVALID = -EINVAL,
};

const char *vm_accel_to_string(enum vm_accel a);
enum vm_accel vm_accel_from_string(const char *s);
const char *vm_machine_to_string(enum vm_machine m);
enum vm_machine vm_machine_from_string(const char *s);
const char *vm_disk_format_to_string(enum vm_disk_format f);
enum vm_disk_format vm_disk_format_from_string(const char *s);
const char *vm_aio_to_string(enum vm_aio a);

#define VM_DISKS_MAX 16
#define VM_VCPUS_MAX 256
#define VM_MEMORY_MIN (UINT64_C(16) << 20)
#define VM_MEMORY_MAX (UINT64_C(1) << 42)

struct vm_disk {
	const char *path; /* absolute */
	enum vm_disk_format format; /* always passed explicitly: QEMU never probes */
	bool read_only;
	bool writeback; /* cache=writeback instead of cache=none (no O_DIRECT) */
	const char *serial; /* optional, [A-Za-z0-9_-]{1,20} */
};

/* A network interface: a persistent tap (made by the caller, openable by QEMU's uid) and the
 * guest's MAC; virtio-net. */
#define VM_NICS_MAX 8
struct vm_nic {
	const char *ifname; /* [a-z0-9], 1..15 characters */
	const char *mac; /* "xx:xx:xx:xx:xx:xx", unicast */
	int fd; /* > 2: the tap, opened by the caller and passed to QEMU (fd=N, with
		   vm_spawn_opts.pass_fds), so QEMU needs no access to /dev/net/tun */
};

struct vm_config {
	const char *name; /* server name, for -name and messages ([a-z0-9-]) */
	const char *qemu_binary; /* NULL: "qemu-system-x86_64" */
	enum vm_accel accel;
	enum vm_machine machine;
	uint32_t vcpus; /* 1..VM_VCPUS_MAX */
	uint64_t memory; /* bytes, a multiple of 1 MiB, VM_MEMORY_MIN..VM_MEMORY_MAX */
	/* direct boot: kernel (+ initrd, + append); without kernel, boot from disks[0] (q35 only)
	 */
	const char *kernel;
	const char *initrd;
	const char *append;
	/* disks[0] is the root volume; a cloud-init seed is one more disk with read_only */
	const struct vm_disk *disks;
	size_t n_disks;
	enum vm_aio aio;
	const char *qmp_socket; /* unix socket QEMU listens on (required) */
	const char *serial_socket; /* unix socket for the serial console; NULL: QEMU's stdio */
	const char *pidfile; /* optional -pidfile */
	uint64_t tsc_khz; /* microvm under TCG: tsc_early_khz; 0: read /proc/cpuinfo */
	uint32_t tb_size_mib; /* TCG translation cache; 0: 128 */
	const struct vm_nic *nics; /* -netdev tap,ifname=...,script=no + virtio-net */
	size_t n_nics;
};

/* True when /dev/kvm opens and answers KVM_GET_API_VERSION == 12. */
bool vm_kvm_usable(void);
/* The host TSC/CPU frequency in kHz from /proc/cpuinfo ("cpu MHz"). */
int vm_host_tsc_khz(uint64_t *ret, struct carve_error *err);
/* The accelerator AUTO resolves to on this host. */
enum vm_accel vm_accel_resolve(enum vm_accel a);

/* The guest's CPU under TCG: x86-64-v2 with AES-NI (what Proxmox VE calls x86-64-v2-AES, its
 * default), enough for every distribution that needs x86-64-v2 (RHEL 9 and its rebuilds, Debian,
 * Ubuntu). "max" would also give AVX/AVX2 and more, which TCG emulates at a cost: measured on the
 * busybox guest of bench/vm-boot, about 5% longer to boot than this model (which boots as fast
 * as QEMU's qemu64 default). Guests built for x86-64-v3 (RHEL 10) need KVM, where the CPU is
 * the host's. */
#define VM_TCG_CPU "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16,+lahf-lm,+pni,+aes"

/*
 * Build QEMU's argv (NULL-terminated, free with strv_free) from cfg. Validates cfg (errors name the
 * field). Resolves AUTO accel/aio by probing the host. Commas in paths are doubled (QEMU's
 * escape); newlines anywhere are refused.
 */
int vm_cmdline_build(const struct vm_config *cfg, char ***ret_argv, struct carve_error *err);

/* Memory limit for the cgroup that holds QEMU: guest RAM plus QEMU's own overhead (TCG
 * translation cache, device emulation, page tables). */
uint64_t vm_memory_limit(const struct vm_config *cfg);

struct vm_spawn_opts {
	bool drop_privileges; /* setgroups + setresgid + setresuid to uid/gid before exec */
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups (e.g. kvm), may be NULL */
	size_t n_groups;
	const char *const
		*cgroup_procs; /* NULL-terminated cgroup.procs paths to join, may be NULL */
	int stdin_fd; /* < 0: /dev/null */
	int stdout_fd; /* < 0: /dev/null */
	int stderr_fd; /* < 0: /dev/null */
	bool kill_with_parent; /* PR_SET_PDEATHSIG SIGKILL */
	const int *pass_fds; /* kept open in QEMU at the same numbers (> 2), at most 8 */
	size_t n_pass_fds;
};

/*
 * Fork and exec argv[0] (PATH lookup) with opts: join the cgroups, set no_new_privs, drop
 * privileges, close every other fd. Returns only when exec succeeded (or with the failing step in
 * err, the child reaped). The caller owns and reaps the pid.
 */
int vm_spawn(char *const *argv, const struct vm_spawn_opts *opts, pid_t *ret_pid,
	     struct carve_error *err);

/*
 * QMP: one connection to QEMU's monitor. connect reads the greeting and negotiates
 * capabilities. Each command carries an "id"; replies are matched by id (stale replies dropped);
 * events that arrive meanwhile are queued (at most VM_QMP_EVENTS_MAX, the oldest dropped).
 * A line over VM_QMP_LINE_MAX is refused with -EMSGSIZE and the connection is unusable after it.
 * EOF gives -ECONNRESET. Timeouts give -ETIMEDOUT; -1 waits forever.
 */
#define VM_QMP_LINE_MAX (1024 * 1024)
#define VM_QMP_EVENTS_MAX 1024

struct vm_qmp;

int vm_qmp_connect(const char *path, int timeout_ms, struct vm_qmp **ret, struct carve_error *err);
/* The same on an already connected stream socket (takes ownership of fd, even on failure). */
int vm_qmp_connect_fd(int fd, int timeout_ms, struct vm_qmp **ret, struct carve_error *err);
struct vm_qmp *vm_qmp_free(struct vm_qmp *q);
DEFINE_CLEANUP_FUNC(struct vm_qmp, vm_qmp_free);
int vm_qmp_fd(const struct vm_qmp *q);
/* The greeting's "QMP" object (borrowed). */
const json_t *vm_qmp_greeting(const struct vm_qmp *q);

/*
 * Run command with args (borrowed, NULL for none). On success *ret_return (if non-NULL) gets the
 * "return" value (new reference). A QMP error reply gives -EOPNOTSUPP for CommandNotFound, else
 * -EIO, with "qmp '<command>': <class>: <desc>" in err.
 */
int vm_qmp_execute(struct vm_qmp *q, const char *command, json_t *args, json_t **ret_return,
		   int timeout_ms, struct carve_error *err);
/* Next queued or arriving event (new reference). */
int vm_qmp_next_event(struct vm_qmp *q, json_t **ret_event, int timeout_ms,
		      struct carve_error *err);
/* Wait for the event named name (earlier other events are dropped from the queue). */
int vm_qmp_wait_event(struct vm_qmp *q, const char *name, json_t **ret_event, int timeout_ms,
		      struct carve_error *err);

/* The QMP line reader and message classifier (exposed for the fuzzer). */
struct vm_qmp_reader {
	char *buf;
	size_t len;
	size_t cap;
	size_t max; /* VM_QMP_LINE_MAX unless set */
};
void vm_qmp_reader_release(struct vm_qmp_reader *r);
/* Append bytes; -EMSGSIZE when the pending partial line exceeds max. */
int vm_qmp_reader_push(struct vm_qmp_reader *r, const void *data, size_t n);
/* Pop one complete line (without "\r\n") into a new string: 1 and *ret, 0 when none complete. */
int vm_qmp_reader_pop(struct vm_qmp_reader *r, char **ret);

enum vm_qmp_msg_kind {
	VM_QMP_MSG_GREETING,
	VM_QMP_MSG_RETURN,
	VM_QMP_MSG_ERROR,
	VM_QMP_MSG_EVENT,
	_VM_QMP_MSG_MAX,
	_VM_QMP_MSG_INVALID = -EINVAL,
};
/* Parse one line: its kind, the message (new reference) and for replies the id (a string we
 * sent, "" when absent or not a string). -EBADMSG when not a QMP message. */
int vm_qmp_parse_line(const char *line, enum vm_qmp_msg_kind *ret_kind, json_t **ret_msg,
		      char *ret_id, size_t id_size);

/* helpers on a connected client */
struct vm_run_status {
	bool running;
	char status[32]; /* QEMU's RunState: "running", "paused", "shutdown", ... */
};
int vm_status(struct vm_qmp *q, struct vm_run_status *ret, struct carve_error *err);
/*
 * ACPI shutdown: system_powerdown, then wait up to timeout_ms for the SHUTDOWN event, EOF on the
 * QMP socket or the exit of pid (pidfd, never reaped); past it "quit", and SIGKILL to pid if it
 * still runs 2 s later. *ret_forced tells whether the hard stop was needed. pid <= 0: no pidfd.
 */
int vm_powerdown(struct vm_qmp *q, pid_t pid, int timeout_ms, bool *ret_forced,
		 struct carve_error *err);
int vm_reset(struct vm_qmp *q, struct carve_error *err);
int vm_pause(struct vm_qmp *q, struct carve_error *err);
int vm_resume(struct vm_qmp *q, struct carve_error *err);

/*
 * Images. vm_image_detect_format reads the header magic ("QFI\xfb": qcow2, else raw).
 * vm_image_import converts src into a new raw file dst (which must not exist) with
 * `qemu-img convert -f <detected> -O raw`; a qcow2 with a backing file or an external data file
 * (read from `qemu-img info -f qcow2 --output=json`) is refused naming the field. qemu-img is
 * never asked to probe. qemu_img: NULL for "qemu-img" in PATH.
 */
int vm_image_detect_format(const char *path, enum vm_disk_format *ret, struct carve_error *err);
int vm_image_import(const char *qemu_img, const char *src, const char *dst,
		    struct carve_error *err);

/* cloud-init NoCloud seed: a vfat image labelled "cidata" with meta-data and user-data. */
struct vm_seed {
	const char *instance_id; /* required, [A-Za-z0-9._-] */
	const char *hostname; /* required, RFC 1123 label(s) */
	const char *user; /* optional, [a-z_][a-z0-9_-]{0,31} */
	const char
		*password_hash; /* optional crypt(3) hash ($6$, $y$, ...), never a plain password */
	const char *const *ssh_keys; /* NULL-terminated, optional; one line each */
};
/* Render meta-data and user-data (validated, YAML-quoted). */
int vm_seed_render(const struct vm_seed *seed, char **ret_meta_data, char **ret_user_data,
		   struct carve_error *err);
/* Write the seed image at path (must not exist) with mkfs.vfat and mcopy. */
int vm_seed_build(const struct vm_seed *seed, const char *path, struct carve_error *err);

#endif

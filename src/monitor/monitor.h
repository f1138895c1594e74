/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-server monitor: a small process, one per running server, that is not a child of carved
 * (carved forks, the child calls setsid() and forks again, the grandchild execs `carve-monitor`,
 * the middle process exits). The monitor starts the container's init through ct_spawn(), owns it
 * (reaps it, records its exit status), keeps the console log, and answers on a unix socket. It
 * outlives carved: killing or restarting carved never stops a server.
 *
 * Per-server run directory <dir> (given by carved; carved owns it):
 *   <dir>/config.json   what to run (written by carved before launch; see monitor_config)
 *   <dir>/monitor.sock  the control socket (0600, root)
 *   <dir>/monitor.pid   the monitor's pid
 *   <dir>/console.log   init's stdout and stderr
 *   <dir>/exit.json     {"status": N, "signal": S, "at": T} written when init has exited
 *   <dir>/qemu.log      QEMU's stderr (kind "vm": QEMU is the server's "init")
 *
 * Protocol on monitor.sock: the client sends one JSON object per line, the monitor answers one
 * JSON object per line:
 *   {"cmd":"status"}              -> {"ok":true,"state":"running","init_pid":N,"monitor_pid":M}
 *   {"cmd":"stop","timeout":S}    -> sends the stop signal to init, SIGKILL after S seconds;
 *                                    answers {"ok":true} at once
 *   {"cmd":"kill"}                -> SIGKILL to init; {"ok":true}
 *   {"cmd":"wait"}                -> answers {"ok":true,"state":"exited","status":..} only when
 *                                    init has exited (the connection stays open until then)
 * When init exits, the monitor writes exit.json, destroys the server's cgroup, answers every
 * waiting client, removes monitor.sock and monitor.pid, and exits 0.
 *
 * This header is the client side used by carved, plus the launcher. Both are thread-safe.
 */
#ifndef CARVE_MONITOR_H
#define CARVE_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/err.h"
#include "ct/cgroup.h"

/* A directory of the host (a mounted data volume) that appears at target inside the server,
 * idmapped like the root. */
struct monitor_mount {
	const char *source;
	const char *target;
};

struct monitor_config {
	const char *server_id;
	const char *server_name; /* hostname */
	const char *tenant_name; /* cgroup naming */
	const char *rootfs;
	const char *init; /* init command line, split on spaces */
	int stop_signal;
	uint32_t uid_base; /* host uid/gid mapped to 0 inside */
	uint32_t vcpus;
	uint64_t memory; /* bytes */
	const char *cgroup_root; /* "/sys/fs/cgroup" */
	const char *cgroup_prefix; /* carve's parent cgroup name */
	bool idmap_rootfs; /* rootfs holds host ids 0..65535: idmap it (see ct.h) */
	bool net_admin; /* init keeps CAP_NET_ADMIN in its own network namespace (ct.h) */
	const struct monitor_mount *mounts; /* extra mounts, at most CT_MOUNTS_MAX */
	size_t n_mounts;
	bool system; /* a system container's capability set (ct.h) */
	const char *lxcfs_dir; /* lxcfs mount point for the container's /proc views (NULL: none) */
	/*
	 * kind "vm" (NULL or "container": a container): the monitor runs QEMU instead of init,
	 * with direct kernel boot of kernel + initrd + append and disk (a raw file, never
	 * mounted) as the root disk; rootfs, init, idmap_rootfs and mounts are unused. QEMU's
	 * serial port is the console, QEMU runs as uid/gid vm_uid (a host uid of this VM's own,
	 * outside every tenant's range), the disk file is chowned to it, and the server cgroup's
	 * memory limit is
	 * vm_memory_limit(). Stop is an ACPI power-button press (QMP system_powerdown), then
	 * SIGKILL after the timeout. exec is refused.
	 */
	const char *kind;
	uint32_t vm_uid;
	/* QEMU's machine type: "q35" (NULL: q35) or "microvm" (direct kernel boot only; its
	 * devices are virtio-mmio, its power button the ACPI GED) */
	const char *machine;
	/* a VM's data volumes (raw files), in device order: /dev/vdb, /dev/vdc, ... */
	const char *const *data_disks;
	size_t n_data_disks;
	/* a cloud-init NoCloud seed image, given to the guest read-only after the data disks */
	const char *seed;
	const char *const *nic_ifnames; /* vm: taps (openable by QEMU's uid) and guest MACs */
	const char *const *nic_macs;
	size_t n_nics;
	const char *kernel;
	const char *initrd;
	const char *append;
	const char *disk;
	/* cgroup limits beyond vcpus and memory (0: none) */
	uint64_t pids_max;
	const struct cgroup_io_limit *io; /* one per disk, at most CGROUP_IO_DEVICES_MAX */
	size_t n_io;
};

/*
 * Write <dir>/config.json, launch the monitor (double fork + setsid + exec of monitor_binary, or
 * of the executable open at monitor_fd when that is >= 0: a sealed copy shared by every monitor,
 * see ct_cloned_binary_seal), and wait (up to timeout_ms) until it reports that init runs. On
 * success the monitor and init pids are returned. On failure the monitor's own error message is
 * in err (e.g. "pivot_root: ...").
 */
int monitor_launch(const char *monitor_binary, int monitor_fd, const char *dir,
		   const struct monitor_config *cfg, int timeout_ms, pid_t *ret_monitor_pid,
		   pid_t *ret_init_pid, struct carve_error *err);

struct monitor_status {
	bool running; /* monitor answered and init is alive */
	pid_t init_pid;
	pid_t monitor_pid;
	bool exited; /* exit.json present */
	int exit_status; /* exit code, or -1 */
	int exit_signal; /* terminating signal, or 0 */
};

/* Ask the monitor in dir. A missing or refusing socket is not an error: running = false, and
 * exit.json (if present) fills the exit fields. */
int monitor_status(const char *dir, struct monitor_status *ret, struct carve_error *err);
/* Ask for a graceful stop (stop signal, then SIGKILL after timeout_s). Returns at once.
 * monitor_stop, monitor_kill and monitor_watch_fd return -ESRCH when no monitor runs in dir. */
int monitor_stop(const char *dir, int timeout_s, struct carve_error *err);
int monitor_kill(const char *dir, struct carve_error *err);
/* A VM's guest: pause (QMP stop: vCPUs halted, I/O drained and flushed) or resume (cont). */
int monitor_vm_pause(const char *dir, bool pause, struct carve_error *err);
/* A running VM's accelerator as QEMU reported it at start (QMP query-kvm): "kvm" or "tcg", in
 * this file of its run directory. */
#define MONITOR_VM_ACCEL_FILE "accel"
/* A VM's hard reset (QMP system_reset): the guest reboots, QEMU stays. */
int monitor_vm_reset(const char *dir, struct carve_error *err);
/* A running VM's disk (0 the root disk, 1.. its data disks in order) grew to size bytes: QMP
 * block_resize, so that QEMU and the guest see it now. */
int monitor_vm_block_resize(const char *dir, unsigned disk, uint64_t size, struct carve_error *err);
/* Block until init has exited or timeout_ms passed (-ETIMEDOUT). -1: no timeout. */
int monitor_wait(const char *dir, int timeout_ms, struct monitor_status *ret,
		 struct carve_error *err);
/* Open a connection that the monitor closes (after an exit message) when init exits; for an
 * event loop in carved. Returns the fd (O_CLOEXEC|O_NONBLOCK after the request is sent). */
int monitor_watch_fd(const char *dir, struct carve_error *err);

/* --- console and exec ----------------------------------------------------------------------
 *
 * The monitor runs init on a pty (the console); its output goes to console.log and to every
 * attached client. Exec starts a process inside the running server (same namespaces, cgroup,
 * capability bounding set, no_new_privs and seccomp filter as init), with a pty or with pipes.
 *
 * Wire protocol on monitor.sock, after the JSON request line and a JSON reply line {"ok":true}:
 *   console: raw bytes both ways (what the client writes is typed into the console).
 *   exec:    frames [type u8][length u32 big-endian][payload], both ways, see enum below.
 */

/* Attach to the console: a connected fd (O_CLOEXEC) carrying raw console bytes both ways.
 * Closing it detaches (init keeps running). console.log is the raw terminal output (CRLF line
 * ends); past 1 MiB it is cut to its last 512 KiB. A client that does not keep up loses output
 * beyond 256 KiB rather than slowing init down. Resize: {"cmd":"resize","rows":R,"cols":C}. */
int monitor_console_open(const char *dir, struct carve_error *err);
int monitor_console_resize(const char *dir, unsigned rows, unsigned cols, struct carve_error *err);

struct monitor_exec_request {
	char *const *argv; /* argv[0] is looked up in the server's PATH when it has no '/' */
	char *const *env; /* NULL: a default environment (PATH, TERM, HOME=/root) */
	const char *cwd; /* NULL: "/" */
	bool tty; /* a pty (stdout and stderr merged) instead of pipes */
	unsigned rows, cols; /* initial size with tty */
};

enum monitor_frame_type {
	MONITOR_FRAME_STDIN = 0, /* client -> monitor: bytes for the process's stdin */
	MONITOR_FRAME_STDOUT = 1, /* monitor -> client */
	MONITOR_FRAME_STDERR = 2, /* monitor -> client (never with tty) */
	MONITOR_FRAME_EXIT = 3, /* monitor -> client, last frame: JSON {"status":N,"signal":S} */
	MONITOR_FRAME_RESIZE = 4, /* client -> monitor: JSON {"rows":R,"cols":C} */
	MONITOR_FRAME_EOF = 5, /* client -> monitor: close the process's stdin */
	_MONITOR_FRAME_MAX,
};
#define MONITOR_FRAME_MAX_PAYLOAD (64 * 1024)

/* Start a process in the server; returns a connected fd speaking the frame protocol. Closing
 * the fd (or the client dying) before the exit frame kills the process (SIGKILL to it and its
 * process group). A command that cannot be started fails here, with the reason in err (e.g.
 * "exec 'nosuchcmd': No such file or directory", -ENOENT). Request JSON:
 * {"cmd":"exec","argv":[..],"env":[..]|null,"cwd":".."|absent,"tty":B,"rows":R,"cols":C}.
 * EXIT's status is -1 when the process was killed by a signal. With tty, EOF types ^D. */
int monitor_exec_open(const char *dir, const struct monitor_exec_request *req,
		      struct carve_error *err);
int monitor_frame_write(int fd, enum monitor_frame_type type, const void *data, size_t len);
/* Reads one whole frame: payload into buf (cap >= MONITOR_FRAME_MAX_PAYLOAD). 0 on EOF before
 * a frame, 1 when a frame was read, <0 on error (-EBADMSG for a malformed frame). */
int monitor_frame_read(int fd, enum monitor_frame_type *ret_type, void *buf, size_t cap,
		       size_t *ret_len);

#endif

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

struct monitor_config {
	const char *server_id;
	const char *server_name;   /* hostname */
	const char *tenant_name;   /* cgroup naming */
	const char *rootfs;
	const char *init;          /* init command line, split on spaces */
	int stop_signal;
	uint32_t uid_base;         /* host uid/gid mapped to 0 inside */
	uint32_t vcpus;
	uint64_t memory;           /* bytes */
	const char *cgroup_root;   /* "/sys/fs/cgroup" */
	const char *cgroup_prefix; /* carve's parent cgroup name */
};

/*
 * Write <dir>/config.json, launch the monitor (double fork + setsid + exec of monitor_binary), and
 * wait (up to timeout_ms) until it reports that init runs. On success the monitor and init pids
 * are returned. On failure the monitor's own error message is in err (e.g. "pivot_root: ...").
 */
int monitor_launch(const char *monitor_binary, const char *dir, const struct monitor_config *cfg,
		   int timeout_ms, pid_t *ret_monitor_pid, pid_t *ret_init_pid,
		   struct carve_error *err);

struct monitor_status {
	bool running;      /* monitor answered and init is alive */
	pid_t init_pid;
	pid_t monitor_pid;
	bool exited;       /* exit.json present */
	int exit_status;   /* exit code, or -1 */
	int exit_signal;   /* terminating signal, or 0 */
};

/* Ask the monitor in dir. A missing or refusing socket is not an error: running = false, and
 * exit.json (if present) fills the exit fields. */
int monitor_status(const char *dir, struct monitor_status *ret, struct carve_error *err);
/* Ask for a graceful stop (stop signal, then SIGKILL after timeout_s). Returns at once.
 * monitor_stop, monitor_kill and monitor_watch_fd return -ESRCH when no monitor runs in dir. */
int monitor_stop(const char *dir, int timeout_s, struct carve_error *err);
int monitor_kill(const char *dir, struct carve_error *err);
/* Block until init has exited or timeout_ms passed (-ETIMEDOUT). -1: no timeout. */
int monitor_wait(const char *dir, int timeout_ms, struct monitor_status *ret,
		 struct carve_error *err);
/* Open a connection that the monitor closes (after an exit message) when init exits; for an
 * event loop in carved. Returns the fd (O_CLOEXEC|O_NONBLOCK after the request is sent). */
int monitor_watch_fd(const char *dir, struct carve_error *err);

#endif

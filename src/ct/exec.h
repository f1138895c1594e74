/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ct_exec(): start a process inside a running container (the one whose init is init_pid): the
 * same user, mount, pid, net, uts, ipc and cgroup namespaces, the same cgroup, container root
 * (uid and gid 0 inside), the same capability bounding set, no_new_privs and seccomp filter as
 * init.
 *
 * The caller (the monitor) is root on the host and single-threaded. The design is a double fork:
 *
 *   caller ---fork---> helper (host pid ns): joins init's cgroup, setns() into every namespace of
 *                      init through a pidfd, forks, then waits for the process and exits with its
 *                      status (or re-raises its terminating signal). Non-dumpable.
 *            helper ---fork---> process (inside the pid ns): root inside, cwd, stdio, caps,
 *                      seccomp, execvp. It dies with SIGKILL when the helper dies.
 *
 * The caller reaps the helper: its wait status is the process's. ct_exec() returns once the
 * process has execve()d, or reports the failing step ("exec 'nosuchcmd': No such file or
 * directory") after reaping the helper itself. Nothing here logs above debug.
 */
#ifndef CARVE_CT_EXEC_H
#define CARVE_CT_EXEC_H

#include <stdbool.h>
#include <sys/types.h>
#include "base/err.h"
#include "ct/cgroup.h"

struct ct_exec_config {
	char *const *argv; /* argv[0] is looked up in envp's PATH when it has no '/' */
	char *const *envp; /* NULL: PATH, TERM, HOME=/root */
	const char *cwd; /* inside the container; NULL: "/" */
	int stdin_fd; /* host fds given to the process as 0, 1, 2; < 0: /dev/null */
	int stdout_fd;
	int stderr_fd;
	bool tty; /* stdin_fd is a terminal: new session, controlling tty */
	struct cgroup_manager *cgroups; /* NULL: stay in the caller's cgroups */
	const char *cgroup_tenant;
	const char *cgroup_server;
	bool system; /* the same capability set as a system container's init (ct.h) */
};

/* *ret_pid: the helper's host pid (reap it; SIGKILL to it kills the process too). ret_inner_pid
 * (nullable): the process's host pid, leader of its own process group (or session with tty). */
int ct_exec(pid_t init_pid, const struct ct_exec_config *cfg, pid_t *ret_pid, pid_t *ret_inner_pid,
	    struct carve_error *err);

/*
 * Allocate a pty pair on the container's own devpts (/dev/pts/ptmx inside init's root, resolved
 * with RESOLVE_IN_ROOT), so that the process sees its terminal as /dev/pts/N. The slave is owned
 * by uid:gid (the container's root on the host). Both fds are O_CLOEXEC, the master O_NONBLOCK.
 */
int ct_exec_openpty(pid_t init_pid, uid_t uid, gid_t gid, int *ret_master, int *ret_slave,
		    struct carve_error *err);

#endif

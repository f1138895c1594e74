/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of the monitor protocol, and the launcher. No global state: every call opens
 * its own connection, so any thread may call any function. The launcher forks from a possibly
 * multi-threaded carved, so between fork() and execv() only async-signal-safe calls are made;
 * everything the grandchild needs is prepared before the fork.
 */
#define LOG_DOMAIN "monitor-client"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "monitor/monitor.h"
#include "monitor/protocol.h"

#define REQUEST_TIMEOUT_MS 5000
#define VM_PAUSE_TIMEOUT_MS 15000

#define cleanup_json cleanup(json_decrefp)

int monitor_sock_address(const char *dir, struct sockaddr_un *addr, socklen_t *ret_len,
			 int *ret_dirfd)
{
	int k;

	*ret_dirfd = -EBADF;
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	k = snprintf(addr->sun_path, sizeof(addr->sun_path), "%s/%s", dir, MONITOR_SOCK_FILE);
	if (k < 0)
		return -EINVAL;
	if ((size_t)k >= sizeof(addr->sun_path)) {
		int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0)
			return -errno;
		k = snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/%s", dfd,
			     MONITOR_SOCK_FILE);
		*ret_dirfd = dfd;
	}
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)k + 1);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect to <dir>/monitor.sock. -ENOENT / -ECONNREFUSED: no monitor listens there. */
static int connect_monitor(const char *dir, int *ret_fd)
{
	cleanup_close int fd = -EBADF, dfd = -EBADF;
	struct timeval tv = {.tv_sec = REQUEST_TIMEOUT_MS / 1000};
	struct sockaddr_un addr;
	socklen_t len;
	int r;

	r = monitor_sock_address(dir, &addr, &len, &dfd);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* an AF_UNIX connect blocks only on a full backlog; bound it */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, len) < 0)
		return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static bool not_running(int r)
{
	return r == -ENOENT || r == -ECONNREFUSED || r == -ENOTDIR;
}

static int send_request(int fd, json_t *req)
{
	cleanup_free char *s = json_dumps(req, JSON_COMPACT);
	size_t n;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	/* the line ends with '\n', sent in one write so the monitor sees it whole */
	{
		cleanup_free char *line = malloc(n + 2);
		if (!line)
			return -ENOMEM;
		memcpy(line, s, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		if (send(fd, line, n + 1, MSG_NOSIGNAL) != (ssize_t)(n + 1))
			return errno ? -errno : -EIO;
	}
	return 0;
}

/* Read one line (without '\n') within timeout_ms (-1: forever). 0: EOF before a line. */
static int read_line(int fd, int timeout_ms, char *buf, size_t size)
{
	int64_t deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;
	size_t len = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int wait = -1, r;
		ssize_t n;

		if (timeout_ms >= 0) {
			int64_t left = deadline - now_ms();
			wait = left < 0 ? 0 : (int)left;
		}
		r = poll(&p, 1, wait);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? 0 : -errno;
		}
		if (n == 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len)) {
			*strchr(buf, '\n') = '\0';
			return (int)strlen(buf) + 1;
		}
		if (len == size - 1)
			return -EMSGSIZE;
	}
}

/* Send cmd and parse the answer. -ESRCH: no monitor runs (or it went away before answering). */
static int request(const char *dir, json_t *req, int timeout_ms, json_t **ret,
		   struct carve_error *err)
{
	cleanup_close int fd = -EBADF;
	char line[MONITOR_LINE_MAX];
	json_error_t jerr;
	json_t *reply;
	int r;

	r = connect_monitor(dir, &fd);
	if (not_running(r))
		return -ESRCH;
	if (r < 0)
		return carve_err(err, r, "monitor in '%s': connect", dir);
	r = send_request(fd, req);
	if (r == -EPIPE || r == -ECONNRESET)
		return -ESRCH;
	if (r < 0)
		return carve_err(err, r, "monitor in '%s': send", dir);
	r = read_line(fd, timeout_ms, line, sizeof(line));
	if (r == 0)
		return -ESRCH;
	if (r == -ETIMEDOUT)
		return carve_err(err, r, "monitor in '%s': no answer within %d ms", dir,
				 timeout_ms);
	if (r < 0)
		return carve_err(err, r, "monitor in '%s': read", dir);
	reply = json_loads(line, 0, &jerr);
	if (!json_is_object(reply)) {
		json_decref(reply);
		return carve_err(err, -EBADMSG, "monitor in '%s': bad answer", dir);
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		r = carve_err(err, -EINVAL, "monitor in '%s': %s", dir, e ? e : "request refused");
		json_decref(reply);
		return r;
	}
	*ret = reply;
	return 0;
}

static void read_exit_file(const char *dir, struct monitor_status *st)
{
	char path[PATH_MAX];
	cleanup_json json_t *o = NULL;

	st->exited = false;
	st->exit_status = -1;
	st->exit_signal = 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, MONITOR_EXIT_FILE) >= (int)sizeof(path))
		return;
	o = json_load_file(path, 0, NULL);
	if (!json_is_object(o))
		return;
	st->exited = true;
	st->exit_status = (int)json_integer_value(json_object_get(o, "status"));
	st->exit_signal = (int)json_integer_value(json_object_get(o, "signal"));
}

int monitor_status(const char *dir, struct monitor_status *ret, struct carve_error *err)
{
	cleanup_json json_t *req = json_pack("{s:s}", "cmd", "status");
	cleanup_json json_t *reply = NULL;
	struct monitor_status st = {.exit_status = -1};
	int r;

	if (!req)
		return carve_err(err, -ENOMEM, "out of memory");
	r = request(dir, req, REQUEST_TIMEOUT_MS, &reply, err);
	if (r == -ESRCH) {
		read_exit_file(dir, &st);
		*ret = st;
		return 0;
	}
	if (r < 0)
		return r;
	st.running = true;
	st.init_pid = (pid_t)json_integer_value(json_object_get(reply, "init_pid"));
	st.monitor_pid = (pid_t)json_integer_value(json_object_get(reply, "monitor_pid"));
	*ret = st;
	return 0;
}

static int simple_command(const char *dir, json_t *req, struct carve_error *err)
{
	cleanup_json json_t *reply = NULL;
	int r;

	if (!req)
		return carve_err(err, -ENOMEM, "out of memory");
	r = request(dir, req, REQUEST_TIMEOUT_MS, &reply, err);
	json_decref(req);
	if (r == -ESRCH)
		return carve_err(err, r, "monitor in '%s': not running", dir);
	return r;
}

int monitor_stop(const char *dir, int timeout_s, struct carve_error *err)
{
	return simple_command(dir, json_pack("{s:s, s:i}", "cmd", "stop", "timeout", timeout_s),
			      err);
}

/* A VM request (req taken): QEMU answers over QMP within the monitor's QMP timeout, and a QMP
 * stop drains the guest's I/O first: allow that and some. */
static int vm_request(const char *dir, json_t *req, struct carve_error *err)
{
	cleanup_json json_t *reply = NULL;
	int r;

	if (!req)
		return carve_err(err, -ENOMEM, "out of memory");
	r = request(dir, req, VM_PAUSE_TIMEOUT_MS, &reply, err);
	json_decref(req);
	if (r == -ESRCH)
		return carve_err(err, r, "monitor in '%s': not running", dir);
	return r;
}

int monitor_vm_pause(const char *dir, bool pause, struct carve_error *err)
{
	return vm_request(dir, json_pack("{s:s}", "cmd", pause ? "vm-pause" : "vm-resume"), err);
}

int monitor_vm_block_resize(const char *dir, unsigned disk, uint64_t size, struct carve_error *err)
{
	return vm_request(dir,
			  json_pack("{s:s, s:i, s:I}", "cmd", "vm-block-resize", "disk", (int)disk,
				    "size", (json_int_t)size),
			  err);
}

int monitor_vm_reset(const char *dir, struct carve_error *err)
{
	return vm_request(dir, json_pack("{s:s}", "cmd", "vm-reset"), err);
}

int monitor_kill(const char *dir, struct carve_error *err)
{
	return simple_command(dir, json_pack("{s:s}", "cmd", "kill"), err);
}

int monitor_wait(const char *dir, int timeout_ms, struct monitor_status *ret,
		 struct carve_error *err)
{
	cleanup_json json_t *req = json_pack("{s:s}", "cmd", "wait");
	cleanup_json json_t *reply = NULL;
	struct monitor_status st = {.exit_status = -1};
	int r;

	if (!req)
		return carve_err(err, -ENOMEM, "out of memory");
	r = request(dir, req, timeout_ms, &reply, err);
	if (r == -ESRCH) {
		read_exit_file(dir, &st);
		*ret = st;
		return 0;
	}
	if (r < 0)
		return r;
	st.exited = true;
	st.exit_status = (int)json_integer_value(json_object_get(reply, "status"));
	st.exit_signal = (int)json_integer_value(json_object_get(reply, "signal"));
	*ret = st;
	return 0;
}

int monitor_watch_fd(const char *dir, struct carve_error *err)
{
	cleanup_json json_t *req = json_pack("{s:s}", "cmd", "wait");
	cleanup_close int fd = -EBADF;
	int r;

	if (!req)
		return carve_err(err, -ENOMEM, "out of memory");
	r = connect_monitor(dir, &fd);
	if (not_running(r))
		return carve_err(err, -ESRCH, "monitor in '%s': not running", dir);
	if (r < 0)
		return carve_err(err, r, "monitor in '%s': connect", dir);
	r = send_request(fd, req);
	if (r < 0)
		return carve_err(err, r, "monitor in '%s': send", dir);
	r = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (r < 0)
		return carve_err(err, -errno, "monitor in '%s': fcntl", dir);
	return TAKE_FD(fd);
}

static int write_config(const char *dir, const struct monitor_config *cfg, struct carve_error *err)
{
	cleanup_json json_t *o = NULL;
	cleanup_free char *s = NULL;
	char path[PATH_MAX];
	int r;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:s, s:s, s:b}", "server_id",
		      cfg->server_id ? cfg->server_id : "", "server_name",
		      cfg->server_name ? cfg->server_name : "", "tenant_name",
		      cfg->tenant_name ? cfg->tenant_name : "", "rootfs",
		      cfg->rootfs ? cfg->rootfs : "", "init", cfg->init ? cfg->init : "",
		      "stop_signal", cfg->stop_signal, "uid_base", (json_int_t)cfg->uid_base,
		      "vcpus", (json_int_t)cfg->vcpus, "memory", (json_int_t)cfg->memory,
		      "cgroup_root", cfg->cgroup_root ? cfg->cgroup_root : "", "cgroup_prefix",
		      cfg->cgroup_prefix ? cfg->cgroup_prefix : "", "idmap_rootfs",
		      (int)cfg->idmap_rootfs);
	if (o && cfg->system && json_object_set_new(o, "system", json_true()) < 0)
		return carve_err(err, -ENOMEM, "out of memory");
	if (o && cfg->lxcfs_dir && json_object_set_new(o, "lxcfs", json_string(cfg->lxcfs_dir)) < 0)
		return carve_err(err, -ENOMEM, "out of memory");
	if (o && cfg->net_admin)
		json_object_set_new(o, "net_admin", json_true());
	if (o && cfg->n_nics > 0) {
		json_t *nics = json_array();

		if (!nics || json_object_set_new(o, "nics", nics) < 0)
			return carve_err(err, -ENOMEM, "out of memory");
		for (size_t i = 0; i < cfg->n_nics; i++)
			if (json_array_append_new(nics, json_pack("{s:s, s:s}", "ifname",
								  cfg->nic_ifnames[i], "mac",
								  cfg->nic_macs[i])) < 0)
				return carve_err(err, -ENOMEM, "out of memory");
	}
	if (o && cfg->n_mounts > 0) {
		json_t *mounts = json_array();

		if (!mounts || json_object_set_new(o, "mounts", mounts) < 0)
			return carve_err(err, -ENOMEM, "out of memory");
		for (size_t i = 0; i < cfg->n_mounts; i++) {
			const struct monitor_mount *m = &cfg->mounts[i];

			if (!m->source || !m->target)
				return carve_err(err, -EINVAL, "mount %zu: no source or target", i);
			if (json_array_append_new(mounts,
						  json_pack("{s:s, s:s}", "source", m->source,
							    "target", m->target)) < 0)
				return carve_err(err, -ENOMEM, "out of memory");
		}
	}
	if (o && cfg->pids_max &&
	    json_object_set_new(o, "pids_max", json_integer((json_int_t)cfg->pids_max)) < 0)
		return carve_err(err, -ENOMEM, "out of memory");
	if (o && cfg->n_io > 0) {
		json_t *io = json_array();

		if (cfg->n_io > CGROUP_IO_DEVICES_MAX)
			return carve_err(err, -E2BIG, "io limits: more than %d disks",
					 CGROUP_IO_DEVICES_MAX);
		if (!io || json_object_set_new(o, "io", io) < 0)
			return carve_err(err, -ENOMEM, "out of memory");
		for (size_t i = 0; i < cfg->n_io; i++) {
			const struct cgroup_io_limit *l = &cfg->io[i];

			if (json_array_append_new(io,
						  json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
							    "major", (json_int_t)l->major, "minor",
							    (json_int_t)l->minor, "read_bps",
							    (json_int_t)l->read_bps, "write_bps",
							    (json_int_t)l->write_bps, "read_iops",
							    (json_int_t)l->read_iops, "write_iops",
							    (json_int_t)l->write_iops)) < 0)
				return carve_err(err, -ENOMEM, "out of memory");
		}
	}
	if (o && cfg->kind && streq(cfg->kind, "vm")) {
		if (!cfg->disk)
			return carve_err(err, -EINVAL, "vm: no disk");
		if (cfg->n_data_disks > 0) {
			json_t *a = json_array();

			if (!a || json_object_set_new(o, "data_disks", a) < 0)
				return carve_err(err, -ENOMEM, "out of memory");
			for (size_t i = 0; i < cfg->n_data_disks; i++)
				if (!cfg->data_disks[i] ||
				    json_array_append_new(a, json_string(cfg->data_disks[i])) < 0)
					return carve_err(err, -EINVAL, "vm: data disk %zu", i);
		}
		if (cfg->vm_uid < 65536)
			return carve_err(err, -EINVAL, "vm: uid %u: not an unprivileged uid",
					 cfg->vm_uid);
		if (json_object_update_new(o, json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "kind",
							"vm", "vm_uid", (json_int_t)cfg->vm_uid,
							"kernel", cfg->kernel ? cfg->kernel : "",
							"initrd", cfg->initrd ? cfg->initrd : "",
							"append", cfg->append ? cfg->append : "",
							"disk", cfg->disk)) < 0)
			return carve_err(err, -ENOMEM, "out of memory");
		if (cfg->seed && json_object_set_new(o, "seed", json_string(cfg->seed)) < 0)
			return carve_err(err, -ENOMEM, "out of memory");
		if (json_object_set_new(o, "machine",
					json_string(cfg->machine ? cfg->machine : "q35")) < 0)
			return carve_err(err, -ENOMEM, "out of memory");
	}
	s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!s)
		return carve_err(err, -ENOMEM, "out of memory");
	if (snprintf(path, sizeof(path), "%s/%s", dir, MONITOR_CONFIG_FILE) >= (int)sizeof(path))
		return carve_err(err, -ENAMETOOLONG, "run dir '%s': too long", dir);
	r = write_file_atomic(path, s, strlen(s), 0600);
	if (r < 0)
		return carve_err(err, r, "write '%s'", path);
	return 0;
}

/* In the forked grandchild: only async-signal-safe calls from here to the exec. */
_noreturn_ static void exec_monitor(const char *binary, int binary_fd, char *const argv[],
				    int null_fd, int log_fd, int ready_fd)
{
	sigset_t none;
	int fds[4] = {null_fd, log_fd, ready_fd, binary_fd};

	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	/* lift the sources above 0..4 first, so no dup2 below overwrites another source */
	for (int i = 0; i < 4; i++) {
		if (fds[i] < 0)
			continue;
		fds[i] = fcntl(fds[i], F_DUPFD, 10);
		if (fds[i] < 0)
			_exit(127);
	}
	if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0 ||
	    dup2(fds[2], 3) < 0)
		_exit(127);
	/* the binary stays open close-on-exec at 4: the kernel maps it before it closes fds */
	if (fds[3] >= 0 && dup3(fds[3], 4, O_CLOEXEC) < 0)
		_exit(127);
	if (syscall(SYS_close_range, fds[3] >= 0 ? 5U : 4U, ~0U, 0U) < 0)
		for (int fd = fds[3] >= 0 ? 5 : 4; fd < 65536; fd++)
			(void)close(fd);
	if (fds[3] >= 0)
		(void)syscall(SYS_execveat, 4, "", argv, environ, AT_EMPTY_PATH);
	else
		execv(binary, argv);
	_exit(127);
}

int monitor_launch(const char *monitor_binary, int monitor_fd, const char *dir,
		   const struct monitor_config *cfg, int timeout_ms, pid_t *ret_monitor_pid,
		   pid_t *ret_init_pid, struct carve_error *err)
{
	cleanup_close int null_fd = -EBADF, log_fd = -EBADF;
	int pipe_fds[2] = {-EBADF, -EBADF};
	cleanup_close int ready_r = -EBADF;
	cleanup_json json_t *reply = NULL;
	char path[PATH_MAX], line[MONITOR_LINE_MAX];
	char *argv[] = {"carve-monitor", "--dir", (char *)dir, "--ready-fd", "3", NULL};
	pid_t middle;
	int r, wstatus;

	if (!dir || dir[0] != '/')
		return carve_err(err, -EINVAL, "monitor run dir '%s': not an absolute path",
				 dir ? dir : "");
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return carve_err(err, r, "monitor run dir '%s'", dir);
	r = write_config(dir, cfg, err);
	if (r < 0)
		return r;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (null_fd < 0)
		return carve_err(err, -errno, "open /dev/null");
	if (snprintf(path, sizeof(path), "%s/%s", dir, MONITOR_LOG_FILE) >= (int)sizeof(path))
		return carve_err(err, -ENAMETOOLONG, "run dir '%s': too long", dir);
	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (log_fd < 0)
		return carve_err(err, -errno, "open '%s'", path);
	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		return carve_err(err, -errno, "pipe");
	ready_r = pipe_fds[0];

	middle = fork();
	if (middle < 0) {
		r = -errno;
		safe_close(pipe_fds[1]);
		return carve_err(err, r, "fork");
	}
	if (middle == 0) {
		pid_t pid;

		/* a new session: no terminal, no signals from carved's process group */
		if (setsid() < 0)
			_exit(127);
		pid = fork();
		if (pid < 0)
			_exit(127);
		if (pid == 0)
			exec_monitor(monitor_binary, monitor_fd, argv, null_fd, log_fd,
				     pipe_fds[1]);
		_exit(0);
	}
	safe_close(pipe_fds[1]);
	while (waitpid(middle, &wstatus, 0) < 0)
		if (errno != EINTR)
			return carve_err(err, -errno, "waitpid");
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
		return carve_err(err, -ECHILD, "monitor launch for '%s': fork failed", dir);

	r = read_line(ready_r, timeout_ms, line, sizeof(line));
	if (r == -ETIMEDOUT)
		return carve_err(err, r, "monitor in '%s': not ready within %d ms", dir,
				 timeout_ms);
	if (r < 0)
		return carve_err(err, r, "monitor in '%s': read ready line", dir);
	if (r == 0)
		return carve_err(err, -EIO, "monitor in '%s': exited before it was ready (see %s)",
				 dir, MONITOR_LOG_FILE);
	reply = json_loads(line, 0, NULL);
	if (!json_is_object(reply))
		return carve_err(err, -EBADMSG, "monitor in '%s': bad ready line", dir);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		int code = (int)json_integer_value(json_object_get(reply, "errno"));

		return carve_err(err, code > 0 ? -code : -EIO, "%s", e ? e : "monitor failed");
	}
	if (ret_monitor_pid)
		*ret_monitor_pid = (pid_t)json_integer_value(json_object_get(reply, "monitor_pid"));
	if (ret_init_pid)
		*ret_init_pid = (pid_t)json_integer_value(json_object_get(reply, "init_pid"));
	return 0;
}

/* Read the reply line byte by byte: what follows it on a stream connection is not ours. */
static int read_reply_exact(int fd, int timeout_ms, char *buf, size_t size)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;
		int r;

		r = poll(&p, 1, left < 0 ? 0 : (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(fd, buf + len, 1, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? 0 : -errno;
		}
		if (n == 0)
			return 0;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return (int)len + 1;
		}
		if (++len == size - 1)
			return -EMSGSIZE;
	}
}

/* Connect, send req, read the reply; returns the connection for the stream that follows. */
static int open_stream(const char *dir, json_t *req, struct carve_error *err)
{
	cleanup_close int fd = -EBADF;
	cleanup_json json_t *reply = NULL;
	struct timeval none = {0};
	char line[MONITOR_LINE_MAX];
	int r;

	if (!req)
		return carve_err(err, -ENOMEM, "out of memory");
	r = connect_monitor(dir, &fd);
	if (not_running(r))
		return carve_err(err, -ESRCH, "monitor in '%s': not running", dir);
	if (r < 0)
		return carve_err(err, r, "monitor in '%s': connect", dir);
	r = send_request(fd, req);
	if (r < 0)
		return carve_err(err, r, "monitor in '%s': send", dir);
	r = read_reply_exact(fd, REQUEST_TIMEOUT_MS, line, sizeof(line));
	if (r == 0)
		return carve_err(err, -ESRCH, "monitor in '%s': went away", dir);
	if (r < 0)
		return carve_err(err, r, "monitor in '%s': read", dir);
	reply = json_loads(line, 0, NULL);
	if (!json_is_object(reply))
		return carve_err(err, -EBADMSG, "monitor in '%s': bad answer", dir);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		int code = (int)json_integer_value(json_object_get(reply, "errno"));

		return carve_err(err, code > 0 ? -code : -EINVAL, "%s", e ? e : "request refused");
	}
	/* a stream may block as long as its peer does */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	return TAKE_FD(fd);
}

int monitor_console_open(const char *dir, struct carve_error *err)
{
	cleanup_json json_t *req = json_pack("{s:s}", "cmd", "console");

	return open_stream(dir, req, err);
}

int monitor_console_resize(const char *dir, unsigned rows, unsigned cols, struct carve_error *err)
{
	return simple_command(dir,
			      json_pack("{s:s, s:I, s:I}", "cmd", "resize", "rows",
					(json_int_t)rows, "cols", (json_int_t)cols),
			      err);
}

static json_t *strv_to_json(char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && v && v[i]; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int monitor_exec_open(const char *dir, const struct monitor_exec_request *req,
		      struct carve_error *err)
{
	cleanup_json json_t *o = NULL;

	if (!req->argv || !req->argv[0])
		return carve_err_field(err, -EINVAL, "argv", "exec: empty command");
	o = json_pack("{s:s, s:o, s:o, s:s?, s:b, s:I, s:I}", "cmd", "exec", "argv",
		      strv_to_json(req->argv), "env",
		      req->env ? strv_to_json(req->env) : json_null(), "cwd", req->cwd, "tty",
		      req->tty, "rows", (json_int_t)(req->rows ? req->rows : 24), "cols",
		      (json_int_t)(req->cols ? req->cols : 80));
	return open_stream(dir, o, err);
}

static int send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int monitor_frame_write(int fd, enum monitor_frame_type type, const void *data, size_t len)
{
	uint8_t hdr[MONITOR_FRAME_HEADER] = {(uint8_t)type, (uint8_t)(len >> 24),
					     (uint8_t)(len >> 16), (uint8_t)(len >> 8),
					     (uint8_t)len};
	int r;

	if ((unsigned)type >= _MONITOR_FRAME_MAX || len > MONITOR_FRAME_MAX_PAYLOAD)
		return -EINVAL;
	r = send_all(fd, hdr, sizeof(hdr));
	if (r < 0 || len == 0)
		return r;
	return send_all(fd, data, len);
}

int monitor_frame_read(int fd, enum monitor_frame_type *ret_type, void *buf, size_t cap,
		       size_t *ret_len)
{
	uint8_t hdr[MONITOR_FRAME_HEADER];
	ssize_t n = loop_read(fd, hdr, sizeof(hdr));
	size_t len;

	if (n == 0)
		return 0;
	if (n < 0)
		return (int)n;
	if (n != (ssize_t)sizeof(hdr))
		return -EBADMSG;
	len = (size_t)hdr[1] << 24 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 8 | hdr[4];
	if (hdr[0] >= _MONITOR_FRAME_MAX || len > MONITOR_FRAME_MAX_PAYLOAD || len > cap)
		return -EBADMSG;
	n = loop_read(fd, buf, len);
	if (n < 0)
		return (int)n;
	if ((size_t)n != len)
		return -EBADMSG;
	*ret_type = (enum monitor_frame_type)hdr[0];
	*ret_len = len;
	return 1;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carve-monitor --dir DIR --ready-fd N
 *
 * One per running server (see monitor.h for the files and the protocol). Lifecycle:
 *
 *   read config.json -> monitor.pid -> server cgroup -> monitor.sock -> ct_spawn(init)
 *     -> "ready" line on the ready fd -> event loop (signalfd, timerfd, socket, clients)
 *     -> init exits -> exit.json -> cgroup destroyed -> sock and pid removed -> waiters answered
 *     -> exit 0
 *
 * Single-threaded (ct_spawn needs it). SIGHUP and SIGPIPE are ignored, SIGTERM is only logged: the
 * monitor ends when init ends, never because its parent session went away.
 */
#define LOG_DOMAIN "monitor"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "ct/cgroup.h"
#include "ct/ct.h"
#include "monitor/monitor.h"
#include "monitor/protocol.h"

#define MAX_CLIENTS 64
#define DEFAULT_STOP_TIMEOUT 10
#define MAX_STOP_TIMEOUT 86400
#define MAX_ARGS 64

struct client {
	int fd;
	bool waiting;
	size_t len;
	char buf[MONITOR_LINE_MAX];
};

struct monitor {
	const char *dir;
	json_t *config;
	const char *server_name;
	const char *tenant_name;
	int stop_signal;
	struct cgroup_manager *cgroups;

	pid_t init_pid;
	int listen_fd;
	int signal_fd;
	int timer_fd;
	bool stopping;
	struct client *clients[MAX_CLIENTS];
	size_t n_clients;
};

static int dir_path(const struct monitor *m, const char *file, char *buf, size_t n)
{
	int k = snprintf(buf, n, "%s/%s", m->dir, file);

	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static const char *cfg_string(json_t *cfg, const char *key)
{
	const char *s = json_string_value(json_object_get(cfg, key));

	return s ? s : "";
}

static int load_config(struct monitor *m, struct carve_error *err)
{
	char path[PATH_MAX];
	json_error_t jerr;

	if (dir_path(m, MONITOR_CONFIG_FILE, path, sizeof(path)) < 0)
		return carve_err(err, -ENAMETOOLONG, "run dir '%s': too long", m->dir);
	m->config = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!m->config)
		return carve_err(err, -EINVAL, "config '%s': line %d: %s", path, jerr.line,
				 jerr.text);
	if (!json_is_object(m->config))
		return carve_err(err, -EINVAL, "config '%s': not an object", path);
	m->server_name = cfg_string(m->config, "server_name");
	m->tenant_name = cfg_string(m->config, "tenant_name");
	m->stop_signal = (int)json_integer_value(json_object_get(m->config, "stop_signal"));
	if (m->stop_signal <= 0 || m->stop_signal >= NSIG)
		m->stop_signal = SIGTERM;
	if (!name_is_valid(m->server_name))
		return carve_err_field(err, -EINVAL, "server_name",
				       "config: server name '%s': not valid", m->server_name);
	return 0;
}

/* Split the init command line on spaces into argv (at most MAX_ARGS words). */
static int split_init(const char *line, char **buf, char *argv[MAX_ARGS + 1],
		      struct carve_error *err)
{
	size_t n = 0;
	char *save = NULL;

	*buf = strdup(line);
	if (!*buf)
		return carve_err(err, -ENOMEM, "out of memory");
	for (char *w = strtok_r(*buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (n == MAX_ARGS)
			return carve_err_field(err, -E2BIG, "init", "init: more than %d words",
					       MAX_ARGS);
		argv[n++] = w;
	}
	argv[n] = NULL;
	if (n == 0)
		return carve_err_field(err, -EINVAL, "init", "init: empty command line");
	return 0;
}

static int setup_cgroups(struct monitor *m, struct carve_error *err)
{
	const char *root = cfg_string(m->config, "cgroup_root");
	const char *prefix = cfg_string(m->config, "cgroup_prefix");
	struct carve_error cerr = CARVE_ERROR_INIT;
	struct cgroup_limits limits = {
		.vcpus = (uint32_t)json_integer_value(json_object_get(m->config, "vcpus")),
		.memory_max = (uint64_t)json_integer_value(json_object_get(m->config, "memory")),
	};
	int r;

	if (!*root) {
		log_debug("server '%s': no cgroup root configured: running without cgroups",
			  m->server_name);
		return 0;
	}
	r = cgroup_manager_new(root, prefix, _CGROUP_BACKEND_INVALID, &m->cgroups, &cerr);
	if (r < 0) {
		log_debug("server '%s': no usable cgroups (%s): running without cgroups",
			  m->server_name, cerr.msg);
		return 0;
	}
	r = cgroup_server_create(m->cgroups, m->tenant_name, m->server_name, &limits, err);
	if (r < 0)
		return r;
	log_debug("server '%s': cgroup %s '%s/%s/%s' created", m->server_name,
		  cgroup_backend_to_string(cgroup_manager_backend(m->cgroups)), prefix,
		  m->tenant_name, m->server_name);
	return 0;
}

static void destroy_cgroups(struct monitor *m)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (!m->cgroups)
		return;
	if (cgroup_server_destroy(m->cgroups, m->tenant_name, m->server_name, &err) < 0)
		log_error("server '%s': %s", m->server_name, err.msg);
	m->cgroups = cgroup_manager_free(m->cgroups);
}

static int setup_socket(struct monitor *m, struct carve_error *err)
{
	cleanup_close int fd = -EBADF, dfd = -EBADF;
	struct sockaddr_un addr;
	char path[PATH_MAX];
	socklen_t len;
	mode_t old;
	int r;

	if (dir_path(m, MONITOR_SOCK_FILE, path, sizeof(path)) < 0)
		return carve_err(err, -ENAMETOOLONG, "run dir '%s': too long", m->dir);
	r = monitor_sock_address(m->dir, &addr, &len, &dfd);
	if (r < 0)
		return carve_err(err, r, "socket '%s'", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return carve_err(err, -errno, "socket");
	(void)unlink(path);
	old = umask(0077);
	r = RET_NERRNO(bind(fd, (struct sockaddr *)&addr, len));
	umask(old);
	if (r < 0)
		return carve_err(err, r, "bind '%s'", path);
	if (listen(fd, 16) < 0)
		return carve_err(err, -errno, "listen '%s'", path);
	m->listen_fd = TAKE_FD(fd);
	return 0;
}

static int setup_signals(struct monitor *m, struct carve_error *err)
{
	sigset_t mask;

	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return carve_err(err, -errno, "sigprocmask");
	m->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->signal_fd < 0)
		return carve_err(err, -errno, "signalfd");
	m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (m->timer_fd < 0)
		return carve_err(err, -errno, "timerfd");
	return 0;
}

static int spawn_init(struct monitor *m, struct carve_error *err)
{
	cleanup_free char *words = NULL;
	cleanup_close int console = -EBADF;
	char *argv[MAX_ARGS + 1];
	char path[PATH_MAX];
	struct ct_config ct = {
		.hostname = m->server_name,
		.rootfs = cfg_string(m->config, "rootfs"),
		.uid_base = (uid_t)json_integer_value(json_object_get(m->config, "uid_base")),
		.gid_base = (gid_t)json_integer_value(json_object_get(m->config, "uid_base")),
		.id_count = CT_ID_RANGE,
		.cgroups = m->cgroups,
		.cgroup_tenant = m->tenant_name,
		.cgroup_server = m->server_name,
	};
	int r;

	r = split_init(cfg_string(m->config, "init"), &words, argv, err);
	if (r < 0)
		return r;
	ct.argv = argv;
	if (dir_path(m, MONITOR_CONSOLE_FILE, path, sizeof(path)) < 0)
		return carve_err(err, -ENAMETOOLONG, "run dir '%s': too long", m->dir);
	console = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (console < 0)
		return carve_err(err, -errno, "open '%s'", path);
	ct.stdio_fd = console;
	return ct_spawn(&ct, &m->init_pid, err);
}

static void write_line(int fd, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s && fd >= 0) {
		(void)loop_write(fd, s, strlen(s));
		(void)loop_write(fd, "\n", 1);
	}
	free(s);
	json_decref(o);
}

static void send_json(struct client *c, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s) {
		size_t n = strlen(s);
		s[n] = '\n';
		/* a reader that cannot take one short line at once is dropped */
		if (send(c->fd, s, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(n + 1))
			log_debug("client %d: short reply dropped", c->fd);
		s[n] = '\0';
	}
	free(s);
	json_decref(o);
}

static void client_drop(struct monitor *m, size_t i)
{
	safe_close(m->clients[i]->fd);
	free(m->clients[i]);
	m->clients[i] = m->clients[--m->n_clients];
}

static void arm_timer(struct monitor *m, int seconds)
{
	struct itimerspec its = {.it_value = {.tv_sec = seconds}};

	if (timerfd_settime(m->timer_fd, 0, &its, NULL) < 0)
		log_debug("server '%s': timerfd: %s", m->server_name, strerror(errno));
}

static void do_stop(struct monitor *m, int timeout)
{
	log_info("server '%s': stop: signal %d to init %d, SIGKILL after %ds", m->server_name,
		 m->stop_signal, (int)m->init_pid, timeout);
	m->stopping = true;
	(void)kill(m->init_pid, m->stop_signal);
	if (timeout == 0)
		(void)kill(m->init_pid, SIGKILL);
	else
		arm_timer(m, timeout);
}

/* Handle one request line; returns false if the client is to be dropped. */
static bool handle_line(struct monitor *m, struct client *c, const char *line)
{
	json_t *req = json_loads(line, 0, NULL);
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	bool keep = true;

	if (!cmd) {
		send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", "request: not a command"));
		keep = false;
	} else if (streq(cmd, "status")) {
		send_json(c, json_pack("{s:b, s:s, s:i, s:i}", "ok", 1, "state",
				       m->stopping ? "stopping" : "running", "init_pid",
				       (int)m->init_pid, "monitor_pid", (int)getpid()));
	} else if (streq(cmd, "stop")) {
		json_t *t = json_object_get(req, "timeout");
		json_int_t timeout =
			json_is_integer(t) ? json_integer_value(t) : DEFAULT_STOP_TIMEOUT;

		if (timeout < 0 || timeout > MAX_STOP_TIMEOUT) {
			send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error",
					       "stop: timeout out of range"));
		} else {
			do_stop(m, (int)timeout);
			send_json(c, json_pack("{s:b}", "ok", 1));
		}
	} else if (streq(cmd, "kill")) {
		log_info("server '%s': kill init %d", m->server_name, (int)m->init_pid);
		m->stopping = true;
		(void)kill(m->init_pid, SIGKILL);
		send_json(c, json_pack("{s:b}", "ok", 1));
	} else if (streq(cmd, "wait")) {
		c->waiting = true;
	} else {
		send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", "unknown command"));
	}
	json_decref(req);
	return keep;
}

/* Read what the client sent and handle complete lines; false: drop it. */
static bool client_read(struct monitor *m, struct client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
	char *nl;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	while ((nl = strchr(c->buf, '\n'))) {
		*nl = '\0';
		if (!handle_line(m, c, c->buf))
			return false;
		c->len -= (size_t)(nl + 1 - c->buf);
		memmove(c->buf, nl + 1, c->len + 1);
	}
	return c->len < sizeof(c->buf) - 1;
}

static void accept_client(struct monitor *m)
{
	int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct client *c;

	if (fd < 0)
		return;
	if (m->n_clients == MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
		safe_close(fd);
		return;
	}
	c->fd = fd;
	m->clients[m->n_clients++] = c;
}

static void write_exit_file(struct monitor *m, int status, int sig)
{
	char path[PATH_MAX];
	json_t *o = json_pack("{s:i, s:i, s:I}", "status", status, "signal", sig, "at",
			      (json_int_t)time(NULL));
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int r = -ENOMEM;

	if (s && dir_path(m, MONITOR_EXIT_FILE, path, sizeof(path)) == 0)
		r = write_file_atomic(path, s, strlen(s), 0644);
	if (r < 0)
		log_error_errno(r, "server '%s': write %s", m->server_name, MONITOR_EXIT_FILE);
	free(s);
	json_decref(o);
}

static void remove_run_files(struct monitor *m)
{
	char path[PATH_MAX];

	if (dir_path(m, MONITOR_SOCK_FILE, path, sizeof(path)) == 0)
		(void)unlink(path);
	if (dir_path(m, MONITOR_PID_FILE, path, sizeof(path)) == 0)
		(void)unlink(path);
}

_noreturn_ static void finish(struct monitor *m, int wstatus)
{
	int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	int sig = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;

	log_info("server '%s': init %d exited (status %d, signal %d)", m->server_name,
		 (int)m->init_pid, status, sig);
	write_exit_file(m, status, sig);
	destroy_cgroups(m);
	remove_run_files(m);
	for (size_t i = 0; i < m->n_clients; i++)
		if (m->clients[i]->waiting)
			send_json(m->clients[i],
				  json_pack("{s:b, s:s, s:i, s:i}", "ok", 1, "state", "exited",
					    "status", status, "signal", sig));
	while (m->n_clients > 0)
		client_drop(m, m->n_clients - 1);
	safe_close(m->listen_fd);
	json_decref(m->config);
	exit(EXIT_SUCCESS);
}

static void handle_signals(struct monitor *m)
{
	struct signalfd_siginfo si;

	while (read(m->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo != SIGCHLD) {
			log_info("server '%s': signal %u ignored (the monitor ends with init)",
				 m->server_name, si.ssi_signo);
			continue;
		}
	}
	for (;;) {
		int wstatus;
		pid_t pid = waitpid(-1, &wstatus, WNOHANG);

		if (pid <= 0)
			break;
		if (pid == m->init_pid)
			finish(m, wstatus);
	}
}

static void handle_timer(struct monitor *m)
{
	uint64_t ticks;

	if (read(m->timer_fd, &ticks, sizeof(ticks)) != (ssize_t)sizeof(ticks))
		return;
	log_info("server '%s': stop timeout: SIGKILL to init %d", m->server_name, (int)m->init_pid);
	(void)kill(m->init_pid, SIGKILL);
}

_noreturn_ static void event_loop(struct monitor *m)
{
	struct pollfd pfd[3 + MAX_CLIENTS];

	for (;;) {
		size_t n = 3, nc = m->n_clients;

		pfd[0] = (struct pollfd){.fd = m->signal_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = m->timer_fd, .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
		for (size_t i = 0; i < nc; i++)
			pfd[n++] = (struct pollfd){.fd = m->clients[i]->fd, .events = POLLIN};
		if (poll(pfd, n, -1) < 0) {
			if (errno != EINTR)
				log_error_errno(-errno, "poll");
			continue;
		}
		if (pfd[0].revents)
			handle_signals(m);
		if (pfd[1].revents)
			handle_timer(m);
		/* clients from last to first: client_drop moves the last one into the hole */
		for (size_t i = nc; i-- > 0;)
			if (pfd[3 + i].revents && !client_read(m, m->clients[i]))
				client_drop(m, i);
		if (pfd[2].revents)
			accept_client(m);
	}
}

static int parse_args(int argc, char **argv, const char **ret_dir, int *ret_ready_fd)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"ready-fd", required_argument, NULL, 'r'},
		{},
	};
	uint64_t v;
	int c;

	*ret_ready_fd = -1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'd':
			*ret_dir = optarg;
			break;
		case 'r':
			if (parse_uint64(optarg, 3, INT_MAX, &v, NULL) < 0)
				return -EINVAL;
			*ret_ready_fd = (int)v;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!*ret_dir || optind != argc)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct monitor m = {
		.listen_fd = -EBADF,
		.signal_fd = -EBADF,
		.timer_fd = -EBADF,
	};
	struct carve_error err = CARVE_ERROR_INIT;
	char path[PATH_MAX], pid[32];
	int ready_fd, r;

	log_set_level(LOG_LEVEL_DEBUG);
	if (parse_args(argc, argv, &m.dir, &ready_fd) < 0) {
		fprintf(stderr, "usage: carve-monitor --dir DIR --ready-fd N\n");
		return 2;
	}
	if (ready_fd >= 0)
		(void)fd_set_cloexec(ready_fd, true);

	r = load_config(&m, &err);
	if (r < 0)
		goto fail;
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (dir_path(&m, MONITOR_EXIT_FILE, path, sizeof(path)) == 0)
		(void)unlink(path);
	if (dir_path(&m, MONITOR_PID_FILE, path, sizeof(path)) < 0 ||
	    (r = write_file_atomic(path, pid, strlen(pid), 0644)) < 0) {
		r = carve_err(&err, r < 0 ? r : -ENAMETOOLONG, "write %s", MONITOR_PID_FILE);
		goto fail;
	}
	r = setup_signals(&m, &err);
	if (r >= 0)
		r = setup_cgroups(&m, &err);
	if (r >= 0)
		r = setup_socket(&m, &err);
	if (r >= 0)
		r = spawn_init(&m, &err);
	if (r < 0)
		goto fail;

	write_line(ready_fd, json_pack("{s:b, s:i, s:i}", "ok", 1, "init_pid", (int)m.init_pid,
				       "monitor_pid", (int)getpid()));
	safe_close(ready_fd);
	log_info("server '%s': init %d running", m.server_name, (int)m.init_pid);
	event_loop(&m);

fail:
	log_error("server '%s': %s", m.server_name ? m.server_name : "?", err.msg);
	write_line(ready_fd, json_pack("{s:b, s:s, s:i}", "ok", 0, "error", err.msg, "errno",
				       err.code < 0 ? -err.code : EIO));
	safe_close(ready_fd);
	destroy_cgroups(&m);
	remove_run_files(&m);
	json_decref(m.config);
	return EXIT_FAILURE;
}

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
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/if_tun.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "ct/cgroup.h"
#include "ct/ct.h"
#include "ct/exec.h"
#include "monitor/monitor.h"
#include "monitor/protocol.h"
#include "vm/vm.h"

#define MAX_CLIENTS 64
#define DEFAULT_STOP_TIMEOUT 10
#define MAX_STOP_TIMEOUT 86400
#define MAX_ARGS 64
#define CONSOLE_LOG_MAX (1024 * 1024) /* console.log past this keeps its last CONSOLE_LOG_KEEP */
#define CONSOLE_LOG_KEEP (512 * 1024)
#define CONSOLE_ROWS 24
#define CONSOLE_COLS 80
#define CONSOLE_IN_MAX (16 * 1024)
#define CLIENT_OUT_MAX (256 * 1024) /* console bytes beyond this for a slow client are dropped */
#define EXEC_DRAIN_MS 300 /* after exit, how long to wait for the output to end */
#define TTY_DIM_MAX 10000
/* VM servers: a tmpfs at VM_STAGE in the monitor's own mount namespace, owned by the VM's uid,
 * where the kernel, the initrd and the disk are bind-mounted and QEMU makes its QMP socket: the
 * state and run directories stay 0700 root, and each monitor sees only its own VM's files. */
#define VM_STAGE "/run/carve-vm"
#define VM_QMP_TIMEOUT_MS 10000
#define VM_LOG_FILE "qemu.log"
#define VM_ACCEL_FILE MONITOR_VM_ACCEL_FILE

enum client_mode {
	MODE_LINE, /* JSON lines */
	MODE_CONSOLE, /* raw console bytes both ways */
	MODE_EXEC, /* frames */
};

struct exec_session {
	pid_t pid; /* the helper (ct_exec): reaped here, its status is the process's */
	pid_t inner; /* the process: leader of its process group */
	bool tty;
	int in_fd; /* stdin pipe or pty master; -EBADF once closed */
	int out_fd[2]; /* stdout and stderr pipes; with tty: the pty master and -EBADF */
	bool exited;
	bool done; /* exit frame queued */
	int wstatus;
	int64_t deadline; /* after exit: stop waiting for the end of the output */
	char *pending; /* stdin bytes not written yet */
	size_t pending_len, pending_off;
};

struct client {
	int fd;
	enum client_mode mode;
	bool waiting;
	bool dead; /* freed at the end of the loop iteration */
	bool close_after_flush; /* dead once out is sent */
	struct exec_session *exec;
	char *out;
	size_t out_len, out_cap;
	size_t len;
	char buf[MONITOR_REQUEST_MAX + 1];
};

struct monitor {
	const char *dir;
	json_t *config;
	const char *server_name;
	const char *tenant_name;
	int stop_signal;
	bool vm; /* "kind": "vm": init is QEMU */
	struct cgroup_manager *cgroups;

	pid_t init_pid;
	int listen_fd;
	int signal_fd;
	int timer_fd;
	bool stopping;
	struct client *clients[MAX_CLIENTS];
	size_t n_clients;

	int console_master; /* the monitor's end of init's console */
	int console_slave; /* kept open: the master never sees a hangup */
	int console_log;
	off_t console_log_size;
	size_t console_in_len;
	char console_in[CONSOLE_IN_MAX]; /* typed by clients, not yet written to the master */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	m->vm = streq(cfg_string(m->config, "kind"), "vm");
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
		.pids_max = (uint64_t)json_integer_value(json_object_get(m->config, "pids_max")),
	};
	json_t *io = json_object_get(m->config, "io"), *e;
	size_t i;
	int r;

	json_array_foreach (io, i, e) {
		if (i >= CGROUP_IO_DEVICES_MAX)
			return carve_err_field(err, -E2BIG, "io", "io: more than %d disks",
					       CGROUP_IO_DEVICES_MAX);
		limits.io[i] = (struct cgroup_io_limit){
			.major = (uint32_t)json_integer_value(json_object_get(e, "major")),
			.minor = (uint32_t)json_integer_value(json_object_get(e, "minor")),
			.read_bps = (uint64_t)json_integer_value(json_object_get(e, "read_bps")),
			.write_bps = (uint64_t)json_integer_value(json_object_get(e, "write_bps")),
			.read_iops = (uint64_t)json_integer_value(json_object_get(e, "read_iops")),
			.write_iops =
				(uint64_t)json_integer_value(json_object_get(e, "write_iops")),
		};
		limits.n_io = i + 1;
	}

	if (m->vm) {
		struct vm_config vc = {
			.vcpus = limits.vcpus ? limits.vcpus : 1,
			.memory = limits.memory_max,
			.accel = VM_ACCEL_AUTO,
		};
		limits.memory_max = vm_memory_limit(&vc);
	}
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

/* init's console: a pty whose slave is init's stdio; the master stays in the event loop */
static int setup_console(struct monitor *m, struct carve_error *err)
{
	struct winsize ws = {.ws_row = CONSOLE_ROWS, .ws_col = CONSOLE_COLS};
	char path[PATH_MAX], pts[64];
	struct stat st;
	int r;

	m->console_master = m->console_slave = m->console_log = -EBADF;
	if (dir_path(m, MONITOR_CONSOLE_FILE, path, sizeof(path)) < 0)
		return carve_err(err, -ENAMETOOLONG, "run dir '%s': too long", m->dir);
	m->console_log = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (m->console_log < 0)
		return carve_err(err, -errno, "open '%s'", path);
	m->console_log_size = fstat(m->console_log, &st) == 0 ? st.st_size : 0;

	m->console_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m->console_master < 0)
		return carve_err(err, -errno, "console: posix_openpt");
	if (grantpt(m->console_master) < 0 || unlockpt(m->console_master) < 0)
		return carve_err(err, -errno, "console: unlock pty");
	r = ptsname_r(m->console_master, pts, sizeof(pts));
	if (r != 0)
		return carve_err(err, -r, "console: ptsname");
	m->console_slave = open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m->console_slave < 0)
		return carve_err(err, -errno, "console: open '%s'", pts);
	if (ioctl(m->console_master, TIOCSWINSZ, &ws) < 0)
		return carve_err(err, -errno, "console: set size");
	if (fcntl(m->console_master, F_SETFL, fcntl(m->console_master, F_GETFL) | O_NONBLOCK) < 0)
		return carve_err(err, -errno, "console: fcntl");
	return 0;
}

/* "mounts": [{"source", "target"}] of config.json; the strings stay owned by m->config. */
static int load_mounts(struct monitor *m, struct ct_mount *mounts, size_t *ret_n,
		       struct carve_error *err)
{
	json_t *arr = json_object_get(m->config, "mounts"), *e;
	size_t i;

	*ret_n = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > CT_MOUNTS_MAX)
		return carve_err_field(err, -EINVAL, "mounts",
				       "config: mounts: an array of at most %d", CT_MOUNTS_MAX);
	json_array_foreach (arr, i, e) {
		const char *source = json_string_value(json_object_get(e, "source"));
		const char *target = json_string_value(json_object_get(e, "target"));

		if (!source || !target)
			return carve_err_field(err, -EINVAL, "mounts",
					       "config: mount %zu: source and target needed", i);
		mounts[i] = (struct ct_mount){.source = source, .target = target, .idmap = true};
	}
	*ret_n = json_array_size(arr);
	return 0;
}

static int spawn_init(struct monitor *m, struct carve_error *err)
{
	cleanup_free char *words = NULL;
	char *argv[MAX_ARGS + 1];
	struct ct_mount mounts[CT_MOUNTS_MAX];
	struct ct_config ct = {
		.hostname = m->server_name,
		.rootfs = cfg_string(m->config, "rootfs"),
		.uid_base = (uid_t)json_integer_value(json_object_get(m->config, "uid_base")),
		.gid_base = (gid_t)json_integer_value(json_object_get(m->config, "uid_base")),
		.id_count = CT_ID_RANGE,
		.cgroups = m->cgroups,
		.cgroup_tenant = m->tenant_name,
		.cgroup_server = m->server_name,
		.idmap_rootfs = json_is_true(json_object_get(m->config, "idmap_rootfs")),
		.net_admin = json_is_true(json_object_get(m->config, "net_admin")),
	};
	int r;

	r = split_init(cfg_string(m->config, "init"), &words, argv, err);
	if (r < 0)
		return r;
	ct.argv = argv;
	r = load_mounts(m, mounts, &ct.n_mounts, err);
	if (r < 0)
		return r;
	ct.mounts = mounts;
	ct.system = json_is_true(json_object_get(m->config, "system"));
	if (cfg_string(m->config, "lxcfs")[0])
		ct.lxcfs_dir = cfg_string(m->config, "lxcfs");
	r = setup_console(m, err);
	if (r < 0)
		return r;
	ct.stdio_fd = m->console_slave;
	return ct_spawn(&ct, &m->init_pid, err);
}

/* An empty file or directory at VM_STAGE/name with src bind-mounted on it. */
static int stage_bind(const char *src, const char *name, bool read_only, char *ret, size_t n,
		      struct carve_error *err)
{
	cleanup_close int fd = -EBADF;

	if ((size_t)snprintf(ret, n, "%s/%s", VM_STAGE, name) >= n)
		return carve_err(err, -ENAMETOOLONG, "vm: stage path");
	fd = open(ret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return carve_err(err, -errno, "vm: create '%s'", ret);
	if (mount(src, ret, NULL, MS_BIND, NULL) < 0)
		return carve_err(err, -errno, "vm: bind '%s'", src);
	if (read_only && mount(NULL, ret, NULL,
			       MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return carve_err(err, -errno, "vm: read-only '%s'", ret);
	return 0;
}

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo: decode in place */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r; w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else
			*w = *r++;
	}
	*w = '\0';
}

/*
 * The new mount namespace starts as a copy of the host's: detach (in it only) whatever is mounted
 * under the servers' run directory, the other servers' roots and data volumes, so that this
 * namespace never keeps their file systems (and loop devices) busy after the host unmounts them.
 * Mounts made later on the host do not reach it (slave or private propagation).
 */
static void detach_server_mounts(struct monitor *m)
{
	char servers[PATH_MAX], line[4 * PATH_MAX];
	char *slash;
	size_t n;
	FILE *f;

	if (!realpath(m->dir, servers))
		return;
	slash = strrchr(servers, '/');
	if (!slash || slash == servers)
		return;
	slash[1] = '\0'; /* "<run>/servers/" */
	n = strlen(servers);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *mnt = NULL, *w = strtok_r(line, " ", &save);

		for (int i = 1; w && i < 5; i++) /* the 5th field is the mount point */
			mnt = w = strtok_r(NULL, " ", &save);
		if (!mnt)
			continue;
		unescape_octal(mnt);
		if (strncmp(mnt, servers, n) == 0 && umount2(mnt, MNT_DETACH) == 0)
			log_debug("server '%s': detached '%s' from the monitor's namespace",
				  m->server_name, mnt);
	}
	fclose(f);
}

/* A private mount namespace with a tmpfs at VM_STAGE for QEMU's files (see VM_STAGE). */
/* A disk of the VM: chowned to its uid, bound into the stage as name. */
static int stage_disk(const char *src, const char *name, uid_t uid, char *ret, size_t n,
		      struct carve_error *err)
{
	cleanup_close int fd = open(src, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);

	if (fd < 0)
		return carve_err_field(err, -errno, "disk", "vm: open disk '%s'", src);
	if (fchown(fd, uid, uid) < 0 || fchmod(fd, 0600) < 0)
		return carve_err(err, -errno, "vm: chown disk '%s'", src);
	return stage_bind(src, name, false, ret, n, err);
}

#define VM_DATA_DISKS_MAX 14 /* vdb..vdo: VM_DISKS_MAX less the root disk and a seed */

static int setup_vm_stage(struct monitor *m, uid_t uid, char *kernel, char *initrd, char *disk,
			  size_t n, char (*data)[PATH_MAX], size_t *n_data, size_t *n_seed,
			  struct carve_error *err)
{
	json_t *extra = json_object_get(m->config, "data_disks"), *e;
	size_t i;
	const char *initrd_src = cfg_string(m->config, "initrd");
	const char *disk_src = cfg_string(m->config, "disk");
	char opts[64];
	int r;

	if (unshare(CLONE_NEWNS) < 0)
		return carve_err(err, -errno, "vm: unshare mount namespace");
	/* slave: the host's unmounts still reach this namespace, nothing goes back */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return carve_err(err, -errno, "vm: make mounts slaves");
	detach_server_mounts(m);
	if (mkdir(VM_STAGE, 0755) < 0 && errno != EEXIST)
		return carve_err(err, -errno, "vm: create '%s'", VM_STAGE);
	snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u,size=1m", (unsigned)uid,
		 (unsigned)uid);
	if (mount("tmpfs", VM_STAGE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
		return carve_err(err, -errno, "vm: mount tmpfs on '%s'", VM_STAGE);
	/* the disks belong to the VM's uid */
	r = stage_disk(disk_src, "disk", uid, disk, n, err);
	*n_data = 0;
	json_array_foreach (extra, i, e) {
		char name[32];

		if (r < 0)
			break;
		if (i >= VM_DATA_DISKS_MAX || !json_is_string(e))
			return carve_err_field(err, -EINVAL, "data_disks",
					       "vm: data_disks: at most %d paths",
					       VM_DATA_DISKS_MAX);
		snprintf(name, sizeof(name), "data%zu", i);
		r = stage_disk(json_string_value(e), name, uid, data[i], PATH_MAX, err);
		*n_data = i + 1;
	}
	/* no kernel: the guest boots its disk through the firmware */
	if (r >= 0 && *cfg_string(m->config, "kernel"))
		r = stage_bind(cfg_string(m->config, "kernel"), "kernel", true, kernel, n, err);
	else
		kernel[0] = '\0';
	if (r >= 0 && *cfg_string(m->config, "seed")) {
		r = stage_bind(cfg_string(m->config, "seed"), "seed", true, data[*n_data], PATH_MAX,
			       err);
		if (r >= 0)
			*n_seed = 1;
	}
	if (r >= 0 && *initrd_src)
		r = stage_bind(initrd_src, "initrd", true, initrd, n, err);
	else
		initrd[0] = '\0';
	return r;
}

/* cache=none needs O_DIRECT on the disk's file system; without it, writeback. */
static bool supports_direct_io(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* The tail of qemu.log, for an error message. */
static void qemu_log_tail(struct monitor *m, char *buf, size_t n)
{
	char path[PATH_MAX];
	cleanup_close int fd = -EBADF;
	struct stat st;
	ssize_t k;

	buf[0] = '\0';
	if (dir_path(m, VM_LOG_FILE, path, sizeof(path)) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0)
		return;
	k = pread(fd, buf, n - 1, st.st_size > (off_t)n - 1 ? st.st_size - (off_t)n + 1 : 0);
	buf[k > 0 ? k : 0] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

struct taps {
	int *fds;
	size_t n;
};

static void close_tapsp(struct taps *t)
{
	for (size_t i = 0; i < t->n; i++)
		safe_close(t->fds[i]);
}

/* Attach to the persistent tap carved made (on the server's network bridge). */
static int open_tap(const char *ifname, int *ret, struct carve_error *err)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
	int fd;

	if (!ifname || strlen(ifname) >= IFNAMSIZ)
		return carve_err(err, -EINVAL, "vm: bad tap name");
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return carve_err(err, -errno, "vm: open /dev/net/tun");
	strscpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int r = -errno;
		safe_close(fd);
		return carve_err(err, r, "vm: attach to tap '%s'", ifname);
	}
	*ret = fd;
	return 0;
}

static int spawn_vm(struct monitor *m, struct carve_error *err)
{
	uid_t uid = (uid_t)json_integer_value(json_object_get(m->config, "vm_uid"));
	char kernel[PATH_MAX], initrd[PATH_MAX], disk[PATH_MAX], path[PATH_MAX], tail[512];
	cleanup_strv char **argv = NULL;
	cleanup_close int log_fd = -EBADF;
	cleanup(vm_qmp_freep) struct vm_qmp *q = NULL;
	cleanup(json_decrefp) json_t *kvm = NULL;
	const char *accel;
	struct vm_run_status st;
	struct vm_disk vd[2 + VM_DATA_DISKS_MAX] = {{.format = VM_DISK_FORMAT_RAW}};
	char data[VM_DATA_DISKS_MAX + 1][PATH_MAX];
	size_t n_data = 0, n_seed = 0;
	struct vm_config vc = {
		.name = m->server_name,
		.accel = VM_ACCEL_AUTO,
		.machine = VM_MACHINE_Q35,
		.vcpus = (uint32_t)json_integer_value(json_object_get(m->config, "vcpus")),
		.memory = (uint64_t)json_integer_value(json_object_get(m->config, "memory")),
		.kernel = kernel,
		.append = cfg_string(m->config, "append"),
		.disks = vd,
		.n_disks = 1,
		.aio = VM_AIO_AUTO,
		.qmp_socket = VM_STAGE "/qmp.sock",
	};
	struct vm_spawn_opts opts = {
		.drop_privileges = true,
		.uid = uid,
		.gid = uid,
		.kill_with_parent = true,
	};
	int r;

	struct vm_nic nics[VM_NICS_MAX];
	int tap_fds[VM_NICS_MAX];
	cleanup(close_tapsp) struct taps taps = {.fds = tap_fds};
	json_t *jn = json_object_get(m->config, "nics");

	if (json_is_array(jn)) {
		size_t i;
		json_t *e;

		json_array_foreach (jn, i, e) {
			if (i >= VM_NICS_MAX)
				break;
			nics[i] = (struct vm_nic){
				.ifname = json_string_value(json_object_get(e, "ifname")),
				.mac = json_string_value(json_object_get(e, "mac")),
			};
			/* opened here, as root: QEMU gets the fd, never /dev/net/tun */
			r = open_tap(nics[i].ifname, &nics[i].fd, err);
			if (r < 0)
				return r;
			tap_fds[taps.n++] = nics[i].fd;
			vc.n_nics = i + 1;
		}
		vc.nics = nics;
		opts.pass_fds = tap_fds;
		opts.n_pass_fds = taps.n;
	}
	if (vc.vcpus == 0)
		vc.vcpus = 1;
	if (*cfg_string(m->config, "machine")) {
		vc.machine = vm_machine_from_string(cfg_string(m->config, "machine"));
		if (vc.machine < 0)
			return carve_err_field(err, -EINVAL, "machine", "vm: machine '%s': unknown",
					       cfg_string(m->config, "machine"));
	}
	if (uid < 65536)
		return carve_err_field(err, -EINVAL, "vm_uid",
				       "vm: uid %u: not an unprivileged uid", (unsigned)uid);
	r = setup_vm_stage(m, uid, kernel, initrd, disk, sizeof(kernel), data, &n_data, &n_seed,
			   err);
	if (r < 0)
		return r;
	vc.kernel = kernel[0] ? kernel : NULL;
	if (!vc.kernel)
		vc.append = NULL;
	vc.initrd = initrd[0] ? initrd : NULL;
	vd[0].path = disk;
	vd[0].writeback = !supports_direct_io(disk);
	for (size_t i = 0; i < n_data; i++)
		vd[1 + i] = (struct vm_disk){.path = data[i],
					     .format = VM_DISK_FORMAT_RAW,
					     .writeback = !supports_direct_io(data[i])};
	if (n_seed)
		vd[1 + n_data] = (struct vm_disk){.path = data[n_data],
						  .format = VM_DISK_FORMAT_RAW,
						  .read_only = true,
						  .writeback = true};
	vc.n_disks = 1 + n_data + n_seed;
	r = vm_cmdline_build(&vc, &argv, err);
	if (r < 0)
		return r;
	r = setup_console(m, err);
	if (r < 0)
		return r;
	if (dir_path(m, VM_LOG_FILE, path, sizeof(path)) < 0)
		return carve_err(err, -ENAMETOOLONG, "run dir '%s': too long", m->dir);
	log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
	if (log_fd < 0)
		return carve_err(err, -errno, "open '%s'", path);
	opts.stdin_fd = opts.stdout_fd = m->console_slave;
	opts.stderr_fd = log_fd;
	r = vm_spawn(argv, &opts, &m->init_pid, err);
	if (r < 0)
		return r;
	if (m->cgroups) {
		r = cgroup_server_attach(m->cgroups, m->tenant_name, m->server_name, m->init_pid,
					 err);
		if (r < 0)
			goto kill;
	}
	r = vm_qmp_connect(VM_STAGE "/qmp.sock", VM_QMP_TIMEOUT_MS, &q, err);
	if (r >= 0)
		r = vm_status(q, &st, err);
	if (r >= 0)
		r = vm_qmp_execute(q, "query-kvm", NULL, &kvm, VM_QMP_TIMEOUT_MS, err);
	if (r < 0)
		goto kill;
	/* the accelerator QEMU really runs with, for the server's "accel" */
	accel = json_is_true(json_object_get(kvm, "enabled")) ? "kvm" : "tcg";
	if (dir_path(m, VM_ACCEL_FILE, path, sizeof(path)) < 0 ||
	    write_file_atomic(path, accel, strlen(accel), 0644) < 0)
		log_warning("server '%s': cannot record its accelerator", m->server_name);
	log_info("server '%s': qemu %d runs as uid %u (%s, %s, %s, %s, %zu data disks)",
		 m->server_name, (int)m->init_pid, (unsigned)uid, vm_machine_to_string(vc.machine),
		 accel, st.status, vd[0].writeback ? "cache=writeback" : "cache=none", n_data);
	return 0;
kill:
	(void)kill(m->init_pid, SIGKILL);
	(void)waitpid(m->init_pid, NULL, 0);
	m->init_pid = 0;
	qemu_log_tail(m, tail, sizeof(tail));
	if (tail[0])
		carve_err_prefix(err, "qemu: %s", tail);
	return err->code;
}

/* A VM's stop: press the ACPI power button over QMP (SIGTERM when QMP does not answer). */
static void vm_stop_request(struct monitor *m)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(vm_qmp_freep) struct vm_qmp *q = NULL;
	int r;

	r = vm_qmp_connect(VM_STAGE "/qmp.sock", 2000, &q, &err);
	if (r >= 0)
		r = vm_qmp_execute(q, "system_powerdown", NULL, NULL, 2000, &err);
	if (r < 0) {
		log_warning("server '%s': powerdown: %s: SIGTERM to qemu", m->server_name, err.msg);
		(void)kill(m->init_pid, SIGTERM);
	}
}

/* {"cmd":"vm-pause"} / {"cmd":"vm-resume"}: QMP stop (vCPUs halted, guest I/O drained and
 * flushed to the disk file: a consistent point for a reflink of it) and cont. */
static int vm_run_state(struct monitor *m, bool pause, struct carve_error *err)
{
	cleanup(vm_qmp_freep) struct vm_qmp *q = NULL;
	int r;

	r = vm_qmp_connect(VM_STAGE "/qmp.sock", 2000, &q, err);
	if (r >= 0)
		r = vm_qmp_execute(q, pause ? "stop" : "cont", NULL, NULL, VM_QMP_TIMEOUT_MS, err);
	if (r >= 0)
		log_info("server '%s': guest %s", m->server_name, pause ? "paused" : "resumed");
	return r;
}

/* {"cmd":"vm-block-resize","disk":N,"size":S}: QMP block_resize of drive diskN (0 the root
 * disk, 1.. the data disks in their order on the command line) to S bytes, after carved grew
 * the file: QEMU takes the new size and the guest's virtio-blk gets a capacity change. */
static int vm_block_resize(struct monitor *m, json_t *req, struct carve_error *err)
{
	cleanup(vm_qmp_freep) struct vm_qmp *q = NULL;
	json_t *args = NULL;
	json_t *jd = json_object_get(req, "disk"), *js = json_object_get(req, "size");
	char dev[32];
	int r;

	if (!json_is_integer(jd) || json_integer_value(jd) < 0 ||
	    json_integer_value(jd) > VM_DATA_DISKS_MAX)
		return carve_err_field(err, -EINVAL, "disk", "vm-block-resize: disk: 0 to %d",
				       VM_DATA_DISKS_MAX);
	if (!json_is_integer(js) || json_integer_value(js) <= 0 || json_integer_value(js) % 512)
		return carve_err_field(err, -EINVAL, "size",
				       "vm-block-resize: size: a positive multiple of 512");
	snprintf(dev, sizeof(dev), "disk%" JSON_INTEGER_FORMAT, json_integer_value(jd));
	args = json_pack("{s:s, s:I}", "device", dev, "size", json_integer_value(js));
	if (!args)
		return carve_err(err, -ENOMEM, "out of memory");
	r = vm_qmp_connect(VM_STAGE "/qmp.sock", 2000, &q, err);
	if (r >= 0)
		r = vm_qmp_execute(q, "block_resize", args, NULL, VM_QMP_TIMEOUT_MS, err);
	json_decref(args);
	if (r < 0)
		return carve_err_prefix(err, "block_resize %s", dev);
	log_info("server '%s': %s is now %" JSON_INTEGER_FORMAT " bytes", m->server_name, dev,
		 json_integer_value(js));
	return 0;
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

/* Send what is queued for c, as far as the socket takes it now. */
static void client_flush(struct client *c)
{
	while (c->out_len > 0 && !c->dead) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->dead = true;
			return;
		}
		c->out_len -= (size_t)n;
		memmove(c->out, c->out + n, c->out_len);
	}
	if (c->out_len == 0 && c->close_after_flush)
		c->dead = true;
}

/* Queue data for c and send what the socket takes. Console bytes (may_drop) beyond
 * CLIENT_OUT_MAX are dropped for a reader that does not keep up: init never waits for it. */
static void client_queue(struct client *c, const void *data, size_t n, bool may_drop)
{
	if (c->dead)
		return;
	if (may_drop && c->out_len + n > CLIENT_OUT_MAX) {
		log_debug("client %d: slow reader, %zu console bytes dropped", c->fd, n);
		return;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap * 2 > c->out_len + n ? c->out_cap * 2 : c->out_len + n;
		char *p = realloc(c->out, cap);

		if (!p) {
			c->dead = true;
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
	client_flush(c);
}

static void send_json(struct client *c, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s) {
		size_t n = strlen(s);
		s[n] = '\n';
		client_queue(c, s, n + 1, false);
		s[n] = '\0';
	}
	free(s);
	json_decref(o);
}

static void queue_frame(struct client *c, enum monitor_frame_type type, const void *data, size_t n)
{
	uint8_t hdr[MONITOR_FRAME_HEADER] = {(uint8_t)type, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
					     (uint8_t)(n >> 8), (uint8_t)n};

	client_queue(c, hdr, sizeof(hdr), false);
	if (n > 0)
		client_queue(c, data, n, false);
}

static void exec_close_fds(struct exec_session *s)
{
	s->in_fd = safe_close(s->in_fd);
	s->out_fd[0] = safe_close(s->out_fd[0]);
	s->out_fd[1] = safe_close(s->out_fd[1]);
	free(s->pending);
	s->pending = NULL;
	s->pending_len = s->pending_off = 0;
}

static void exec_free(struct exec_session *s)
{
	if (!s)
		return;
	if (!s->exited && s->pid > 0) {
		/* a client that goes away takes its process, and its process group, along; the
		 * process also dies with its helper (parent-death signal) */
		if (s->inner > 0)
			(void)kill(-s->inner, SIGKILL);
		(void)kill(s->pid, SIGKILL);
	}
	exec_close_fds(s);
	free(s);
}

static void client_free(struct client *c)
{
	exec_free(c->exec);
	safe_close(c->fd);
	free(c->out);
	free(c);
}

static void sweep_clients(struct monitor *m)
{
	for (size_t i = m->n_clients; i-- > 0;)
		if (m->clients[i]->dead) {
			client_free(m->clients[i]);
			m->clients[i] = m->clients[--m->n_clients];
		}
}

/* Keep console.log under CONSOLE_LOG_MAX: replace it (atomically) by its last CONSOLE_LOG_KEEP. */
static void console_log_trim(struct monitor *m)
{
	cleanup_free char *tail = malloc(CONSOLE_LOG_KEEP);
	char path[PATH_MAX];
	ssize_t n;
	int fd, r;

	if (!tail || dir_path(m, MONITOR_CONSOLE_FILE, path, sizeof(path)) < 0)
		return;
	n = pread(m->console_log, tail, CONSOLE_LOG_KEEP, m->console_log_size - CONSOLE_LOG_KEEP);
	if (n < 0) {
		log_error_errno(-errno, "server '%s': read %s", m->server_name,
				MONITOR_CONSOLE_FILE);
		return;
	}
	r = write_file_atomic(path, tail, (size_t)n, 0600);
	if (r < 0) {
		log_error_errno(r, "server '%s': trim %s", m->server_name, MONITOR_CONSOLE_FILE);
		return;
	}
	fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		log_error_errno(-errno, "server '%s': open %s", m->server_name,
				MONITOR_CONSOLE_FILE);
		return;
	}
	safe_close(m->console_log);
	m->console_log = fd;
	m->console_log_size = n;
}

/* Init wrote to its console: into console.log and to every attached client. Returns whether
 * something was read. */
static bool console_output(struct monitor *m)
{
	char buf[16384];
	ssize_t n = read(m->console_master, buf, sizeof(buf));

	if (n <= 0)
		return false;
	if (m->console_log >= 0) {
		int r = loop_write(m->console_log, buf, (size_t)n);

		if (r < 0)
			log_debug("server '%s': console.log: %s", m->server_name, strerror(-r));
		m->console_log_size += n;
		if (m->console_log_size > CONSOLE_LOG_MAX)
			console_log_trim(m);
	}
	for (size_t i = 0; i < m->n_clients; i++)
		if (m->clients[i]->mode == MODE_CONSOLE)
			client_queue(m->clients[i], buf, (size_t)n, true);
	return true;
}

/* What clients typed, into the console (non-blocking; the rest waits for POLLOUT). */
static void console_input(struct monitor *m)
{
	while (m->console_in_len > 0) {
		ssize_t n = write(m->console_master, m->console_in, m->console_in_len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				log_debug("server '%s': console: %s", m->server_name,
					  strerror(errno));
				m->console_in_len = 0;
			}
			return;
		}
		m->console_in_len -= (size_t)n;
		memmove(m->console_in, m->console_in + n, m->console_in_len);
	}
}

static bool parse_winsize(json_t *o, struct winsize *ws)
{
	json_t *r = json_object_get(o, "rows"), *c = json_object_get(o, "cols");

	if (!json_is_integer(r) || !json_is_integer(c) || json_integer_value(r) < 1 ||
	    json_integer_value(r) > TTY_DIM_MAX || json_integer_value(c) < 1 ||
	    json_integer_value(c) > TTY_DIM_MAX)
		return false;
	*ws = (struct winsize){.ws_row = (unsigned short)json_integer_value(r),
			       .ws_col = (unsigned short)json_integer_value(c)};
	return true;
}

/* Read one chunk of the process's stdout (0) or stderr (1) into a frame; false: nothing read. */
static bool exec_output(struct client *c, int idx)
{
	static char buf[MONITOR_FRAME_MAX_PAYLOAD];
	struct exec_session *s = c->exec;
	ssize_t n;

	if (s->out_fd[idx] < 0)
		return false;
	n = read(s->out_fd[idx], buf, sizeof(buf));
	if (n > 0) {
		queue_frame(c, idx == 0 ? MONITOR_FRAME_STDOUT : MONITOR_FRAME_STDERR, buf,
			    (size_t)n);
		return true;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	/* EOF; or EIO: a pty master whose slave side is closed everywhere */
	s->out_fd[idx] = safe_close(s->out_fd[idx]);
	return false;
}

/* The process exited: send what is left of its output, then the exit frame, then close. */
static void exec_finish(struct client *c)
{
	struct exec_session *s = c->exec;
	int status = WIFEXITED(s->wstatus) ? WEXITSTATUS(s->wstatus) : -1;
	int sig = WIFSIGNALED(s->wstatus) ? WTERMSIG(s->wstatus) : 0;
	json_t *o = json_pack("{s:i, s:i}", "status", status, "signal", sig);
	char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;

	/* written before the exit: already in the pipes */
	for (int i = 0; i < 2; i++)
		while (!c->dead && exec_output(c, i))
			;
	if (js)
		queue_frame(c, MONITOR_FRAME_EXIT, js, strlen(js));
	else
		c->dead = true;
	free(js);
	json_decref(o);
	s->done = true;
	exec_close_fds(s);
	c->close_after_flush = true;
	client_flush(c);
}

static void exec_check(struct client *c, int64_t now)
{
	struct exec_session *s = c->exec;

	if (!s || !s->exited || s->done || c->dead)
		return;
	/* the output ends when every holder of the pipes or pty is gone; a background process
	 * that keeps them open only delays the exit frame by EXEC_DRAIN_MS */
	if ((s->out_fd[0] < 0 && s->out_fd[1] < 0) || (now >= s->deadline && c->out_len == 0))
		exec_finish(c);
}

static void exec_reaped(struct monitor *m, pid_t pid, int wstatus)
{
	for (size_t i = 0; i < m->n_clients; i++) {
		struct exec_session *s = m->clients[i]->exec;

		if (s && s->pid == pid && !s->exited) {
			s->exited = true;
			s->wstatus = wstatus;
			s->deadline = now_ms() + EXEC_DRAIN_MS;
			return;
		}
	}
}

static void exec_write_pending(struct client *c)
{
	struct exec_session *s = c->exec;

	while (s->in_fd >= 0 && s->pending_off < s->pending_len) {
		ssize_t n = write(s->in_fd, s->pending + s->pending_off,
				  s->pending_len - s->pending_off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* EPIPE: the process closed its stdin; the rest is dropped */
			break;
		}
		s->pending_off += (size_t)n;
	}
	free(s->pending);
	s->pending = NULL;
	s->pending_len = s->pending_off = 0;
}

static void exec_stdin(struct client *c, const char *data, size_t n)
{
	struct exec_session *s = c->exec;

	if (s->in_fd < 0 || n == 0)
		return;
	s->pending = malloc(n);
	if (!s->pending) {
		c->dead = true;
		return;
	}
	memcpy(s->pending, data, n);
	s->pending_len = n;
	s->pending_off = 0;
	exec_write_pending(c);
}

/* Handle the complete frames in c->buf, until one cannot be written at once. */
static void exec_input(struct client *c)
{
	struct exec_session *s = c->exec;

	while (!c->dead && !s->pending && c->len >= MONITOR_FRAME_HEADER) {
		const uint8_t *h = (const uint8_t *)c->buf;
		size_t n = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
		const char *payload = c->buf + MONITOR_FRAME_HEADER;
		struct winsize ws;

		if (n > MONITOR_FRAME_MAX_PAYLOAD) {
			log_debug("client %d: frame of %zu bytes refused", c->fd, n);
			c->dead = true;
			return;
		}
		if (c->len < MONITOR_FRAME_HEADER + n)
			return;
		switch (h[0]) {
		case MONITOR_FRAME_STDIN:
			if (!s->done)
				exec_stdin(c, payload, n);
			break;
		case MONITOR_FRAME_EOF:
			if (s->tty)
				exec_stdin(c, "\x04", 1); /* VEOF */
			else
				s->in_fd = safe_close(s->in_fd);
			break;
		case MONITOR_FRAME_RESIZE: {
			json_t *o = json_loadb(payload, n, 0, NULL);
			int fd = s->out_fd[0] >= 0 ? s->out_fd[0] : s->in_fd;

			if (s->tty && fd >= 0 && parse_winsize(o, &ws))
				(void)ioctl(fd, TIOCSWINSZ, &ws);
			json_decref(o);
			break;
		}
		default:
			log_debug("client %d: frame type %u refused", c->fd, h[0]);
			c->dead = true;
			return;
		}
		c->len -= MONITOR_FRAME_HEADER + n;
		memmove(c->buf, c->buf + MONITOR_FRAME_HEADER + n, c->len);
	}
}

/* A JSON array of strings as a NULL-terminated vector pointing into the array. */
static int json_strv(json_t *a, const char *field, char ***ret, struct carve_error *err)
{
	size_t n = json_array_size(a);
	char **v;

	if (!json_is_array(a) || n > MONITOR_EXEC_MAX_ARGS)
		return carve_err_field(err, -EINVAL, field,
				       "exec: %s: not an array of at most %d strings", field,
				       MONITOR_EXEC_MAX_ARGS);
	v = calloc(n + 1, sizeof(char *));
	if (!v)
		return carve_err(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(a, i);
		const char *str = json_string_value(e);

		if (!str || strlen(str) != json_string_length(e)) {
			free(v);
			return carve_err_field(err, -EINVAL, field, "exec: %s[%zu]: not a string",
					       field, i);
		}
		v[i] = (char *)str;
	}
	*ret = v;
	return 0;
}

static int exec_setup(struct monitor *m, struct exec_session *s, json_t *req,
		      struct ct_exec_config *cfg, int child[3], struct carve_error *err)
{
	uid_t base = (uid_t)json_integer_value(json_object_get(m->config, "uid_base"));
	json_t *jenv = json_object_get(req, "env"), *jcwd = json_object_get(req, "cwd");
	struct winsize ws = {.ws_row = CONSOLE_ROWS, .ws_col = CONSOLE_COLS};
	int r;

	r = json_strv(json_object_get(req, "argv"), "argv", (char ***)&cfg->argv, err);
	if (r < 0)
		return r;
	if (!cfg->argv[0])
		return carve_err_field(err, -EINVAL, "argv", "exec: argv: empty");
	if (jenv && !json_is_null(jenv)) {
		r = json_strv(jenv, "env", (char ***)&cfg->envp, err);
		if (r < 0)
			return r;
	}
	if (jcwd && !json_is_null(jcwd)) {
		cfg->cwd = json_string_value(jcwd);
		if (!cfg->cwd || cfg->cwd[0] != '/')
			return carve_err_field(err, -EINVAL, "cwd",
					       "exec: cwd: not an absolute path");
	}
	s->tty = json_is_true(json_object_get(req, "tty"));
	cfg->tty = s->tty;
	if (s->tty) {
		int master, slave;

		if (json_object_get(req, "rows") && !parse_winsize(req, &ws))
			return carve_err_field(err, -EINVAL, "rows", "exec: rows, cols: 1 to %d",
					       TTY_DIM_MAX);
		r = ct_exec_openpty(m->init_pid, base, base, &master, &slave, err);
		if (r < 0)
			return r;
		s->out_fd[0] = master;
		child[0] = slave;
		(void)ioctl(master, TIOCSWINSZ, &ws);
		s->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
		if (s->in_fd < 0)
			return carve_err(err, -errno, "exec: dup pty");
		cfg->stdin_fd = cfg->stdout_fd = cfg->stderr_fd = slave;
	} else {
		int p[3][2];

		for (int i = 0; i < 3; i++) {
			if (pipe2(p[i], O_CLOEXEC) < 0)
				return carve_err(err, -errno, "exec: pipe");
			/* stdin: the process reads p[0][0]; stdout, stderr: it writes p[i][1] */
			child[i] = i == 0 ? p[0][0] : p[i][1];
			if (i == 0)
				s->in_fd = p[0][1];
			else
				s->out_fd[i - 1] = p[i][0];
		}
		if (fcntl(s->in_fd, F_SETFL, O_NONBLOCK) < 0 ||
		    fcntl(s->out_fd[0], F_SETFL, O_NONBLOCK) < 0 ||
		    fcntl(s->out_fd[1], F_SETFL, O_NONBLOCK) < 0)
			return carve_err(err, -errno, "exec: fcntl");
		cfg->stdin_fd = child[0];
		cfg->stdout_fd = child[1];
		cfg->stderr_fd = child[2];
	}
	if (m->cgroups) {
		cfg->cgroups = m->cgroups;
		cfg->cgroup_tenant = m->tenant_name;
		cfg->cgroup_server = m->server_name;
	}
	cfg->system = json_is_true(json_object_get(m->config, "system"));
	return ct_exec(m->init_pid, cfg, &s->pid, &s->inner, err);
}

/* {"cmd":"exec",...}: start the process; the connection then speaks frames. */
static void exec_start(struct monitor *m, struct client *c, json_t *req)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct ct_exec_config cfg = {.stdin_fd = -EBADF, .stdout_fd = -EBADF, .stderr_fd = -EBADF};
	struct exec_session *s = calloc(1, sizeof(*s));
	int child[3] = {-EBADF, -EBADF, -EBADF};
	int r;

	if (!s) {
		c->dead = true;
		return;
	}
	s->in_fd = s->out_fd[0] = s->out_fd[1] = -EBADF;
	r = exec_setup(m, s, req, &cfg, child, &err);
	for (int i = 0; i < 3; i++)
		safe_close(child[i]);
	free((char **)cfg.argv);
	free((char **)cfg.envp);
	if (r < 0) {
		log_info("server '%s': %s", m->server_name, err.msg);
		send_json(c, json_pack("{s:b, s:s, s:i}", "ok", 0, "error", err.msg, "errno",
				       err.code < 0 ? -err.code : EIO));
		c->close_after_flush = true;
		exec_free(s);
		return;
	}
	log_info("server '%s': exec '%s': process %d", m->server_name,
		 json_string_value(json_array_get(json_object_get(req, "argv"), 0)), (int)s->inner);
	send_json(c, json_pack("{s:b}", "ok", 1));
	c->exec = s;
	c->mode = MODE_EXEC;
}

static void arm_timer(struct monitor *m, int seconds)
{
	struct itimerspec its = {.it_value = {.tv_sec = seconds}};

	if (timerfd_settime(m->timer_fd, 0, &its, NULL) < 0)
		log_debug("server '%s': timerfd: %s", m->server_name, strerror(errno));
}

static void do_stop(struct monitor *m, int timeout)
{
	m->stopping = true;
	if (m->vm) {
		log_info("server '%s': stop: ACPI powerdown, SIGKILL to qemu %d after %ds",
			 m->server_name, (int)m->init_pid, timeout);
		if (timeout > 0)
			vm_stop_request(m);
	} else {
		log_info("server '%s': stop: signal %d to init %d, SIGKILL after %ds",
			 m->server_name, m->stop_signal, (int)m->init_pid, timeout);
		(void)kill(m->init_pid, m->stop_signal);
	}
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
	} else if (streq(cmd, "console")) {
		send_json(c, json_pack("{s:b}", "ok", 1));
		c->mode = MODE_CONSOLE;
	} else if (streq(cmd, "resize")) {
		struct winsize ws;

		if (!parse_winsize(req, &ws))
			send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error",
					       "resize: rows and cols: 1 to 10000"));
		else if (ioctl(m->console_master, TIOCSWINSZ, &ws) < 0)
			send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", strerror(errno)));
		else
			send_json(c, json_pack("{s:b}", "ok", 1));
	} else if ((streq(cmd, "vm-pause") || streq(cmd, "vm-resume")) && m->vm) {
		struct carve_error e = CARVE_ERROR_INIT;

		if (vm_run_state(m, streq(cmd, "vm-pause"), &e) < 0)
			send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", e.msg));
		else
			send_json(c, json_pack("{s:b}", "ok", 1));
	} else if (streq(cmd, "vm-pause") || streq(cmd, "vm-resume")) {
		send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", "not a VM"));
	} else if (streq(cmd, "vm-reset") && m->vm) {
		struct carve_error e = CARVE_ERROR_INIT;
		cleanup(vm_qmp_freep) struct vm_qmp *q = NULL;

		/* QMP system_reset: the guest reboots at once, QEMU and its devices stay */
		if (vm_qmp_connect(VM_STAGE "/qmp.sock", 2000, &q, &e) < 0 || vm_reset(q, &e) < 0)
			send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", e.msg));
		else {
			log_info("server '%s': guest reset", m->server_name);
			send_json(c, json_pack("{s:b}", "ok", 1));
		}
	} else if (streq(cmd, "vm-reset")) {
		send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", "not a VM"));
	} else if (streq(cmd, "vm-block-resize") && m->vm) {
		struct carve_error e = CARVE_ERROR_INIT;

		if (vm_block_resize(m, req, &e) < 0)
			send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", e.msg));
		else
			send_json(c, json_pack("{s:b}", "ok", 1));
	} else if (streq(cmd, "vm-block-resize")) {
		send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", "not a VM"));
	} else if (streq(cmd, "exec") && m->vm) {
		send_json(c, json_pack("{s:b, s:s, s:i}", "ok", 0, "error",
				       "exec is not available for VMs", "errno", EOPNOTSUPP));
		c->close_after_flush = true;
	} else if (streq(cmd, "exec")) {
		exec_start(m, c, req);
	} else {
		send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", "unknown command"));
	}
	json_decref(req);
	return keep;
}

/* Handle what c sent: request lines, then (after console or exec) the stream. */
static void client_process(struct monitor *m, struct client *c)
{
	while (!c->dead && !c->close_after_flush && c->mode == MODE_LINE) {
		char *nl = memchr(c->buf, '\n', c->len);
		size_t used;

		if (!nl) {
			if (c->len >= MONITOR_REQUEST_MAX)
				c->dead = true;
			return;
		}
		*nl = '\0';
		used = (size_t)(nl + 1 - c->buf);
		if (!handle_line(m, c, c->buf))
			c->close_after_flush = true;
		c->len -= used;
		memmove(c->buf, c->buf + used, c->len);
	}
	if (c->mode == MODE_CONSOLE && c->len > 0) {
		size_t room = sizeof(m->console_in) - m->console_in_len;
		size_t n = c->len < room ? c->len : room;

		memcpy(m->console_in + m->console_in_len, c->buf, n);
		m->console_in_len += n;
		c->len = 0;
		console_input(m);
	}
	if (c->mode == MODE_EXEC)
		exec_input(c);
}

static void client_read(struct monitor *m, struct client *c)
{
	ssize_t n;

	if (c->mode == MODE_CONSOLE) {
		size_t room = sizeof(m->console_in) - m->console_in_len;

		if (room == 0)
			return;
		n = recv(c->fd, m->console_in + m->console_in_len, room, MSG_DONTWAIT);
		if (n > 0) {
			m->console_in_len += (size_t)n;
			console_input(m);
		}
	} else {
		if (c->len >= MONITOR_REQUEST_MAX)
			return;
		n = recv(c->fd, c->buf + c->len, MONITOR_REQUEST_MAX - c->len, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			client_process(m, c);
		}
	}
	/* EOF: a console client detaches; an exec client takes its process along */
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		c->dead = true;
}

static bool client_wants_input(const struct monitor *m, const struct client *c)
{
	if (c->close_after_flush)
		return false;
	switch (c->mode) {
	case MODE_CONSOLE:
		return m->console_in_len < sizeof(m->console_in);
	case MODE_EXEC:
		return !c->exec->pending && c->len < MONITOR_REQUEST_MAX;
	default:
		return c->len < MONITOR_REQUEST_MAX;
	}
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
	/* what init wrote last is still in the pty: into console.log before anyone is told (the
	 * master is non-blocking; a read with nothing left flushes the tty's pending buffer) */
	if (m->console_master >= 0)
		for (int i = 0; i < 64 && console_output(m); i++)
			;
	write_exit_file(m, status, sig);
	destroy_cgroups(m);
	remove_run_files(m);
	for (size_t i = 0; i < m->n_clients; i++)
		if (m->clients[i]->waiting)
			send_json(m->clients[i],
				  json_pack("{s:b, s:s, s:i, s:i}", "ok", 1, "state", "exited",
					    "status", status, "signal", sig));
	for (size_t i = 0; i < m->n_clients; i++)
		client_free(m->clients[i]);
	m->n_clients = 0;
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
		exec_reaped(m, pid, wstatus);
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

enum slot_kind {
	SLOT_SIGNAL,
	SLOT_TIMER,
	SLOT_LISTEN,
	SLOT_CONSOLE,
	SLOT_CLIENT,
	SLOT_EXEC_STDOUT,
	SLOT_EXEC_STDERR,
	SLOT_EXEC_STDIN,
};

struct slot {
	enum slot_kind kind;
	struct client *c;
};

#define MAX_SLOTS (4 + 4 * MAX_CLIENTS)

static void dispatch(struct monitor *m, const struct slot *slot, short revents)
{
	struct client *c = slot->c;

	if (c && c->dead)
		return;
	switch (slot->kind) {
	case SLOT_SIGNAL:
		handle_signals(m);
		break;
	case SLOT_TIMER:
		handle_timer(m);
		break;
	case SLOT_LISTEN:
		accept_client(m);
		break;
	case SLOT_CONSOLE:
		if (revents & POLLOUT)
			console_input(m);
		if (revents & (POLLIN | POLLHUP | POLLERR))
			console_output(m);
		break;
	case SLOT_CLIENT:
		if (revents & POLLOUT)
			client_flush(c);
		if (revents & POLLIN)
			client_read(m, c);
		else if (revents & (POLLHUP | POLLERR))
			c->dead = true;
		break;
	case SLOT_EXEC_STDOUT:
	case SLOT_EXEC_STDERR:
		if (!c->exec->done)
			(void)exec_output(c, slot->kind - SLOT_EXEC_STDOUT);
		break;
	case SLOT_EXEC_STDIN:
		exec_write_pending(c);
		exec_input(c);
		break;
	}
}

_noreturn_ static void event_loop(struct monitor *m)
{
	static struct pollfd pfd[MAX_SLOTS];
	static struct slot slots[MAX_SLOTS];

	for (;;) {
		int64_t now = now_ms();
		int timeout = -1;
		size_t n = 0;

#define ADD_SLOT(fd_, events_, kind_, c_)                                          \
	do {                                                                       \
		pfd[n] = (struct pollfd){.fd = (fd_), .events = (short)(events_)}; \
		slots[n++] = (struct slot){.kind = (kind_), .c = (c_)};            \
	} while (0)

		ADD_SLOT(m->signal_fd, POLLIN, SLOT_SIGNAL, NULL);
		ADD_SLOT(m->timer_fd, POLLIN, SLOT_TIMER, NULL);
		ADD_SLOT(m->listen_fd, POLLIN, SLOT_LISTEN, NULL);
		ADD_SLOT(m->console_master, POLLIN | (m->console_in_len ? POLLOUT : 0),
			 SLOT_CONSOLE, NULL);
		for (size_t i = 0; i < m->n_clients; i++) {
			struct client *c = m->clients[i];
			struct exec_session *s = c->exec;

			ADD_SLOT(c->fd,
				 (client_wants_input(m, c) ? POLLIN : 0) |
					 (c->out_len ? POLLOUT : 0),
				 SLOT_CLIENT, c);
			if (!s || s->done)
				continue;
			/* the process's output waits while the client has not taken the last */
			for (int k = 0; k < 2; k++)
				if (s->out_fd[k] >= 0 && c->out_len < MONITOR_FRAME_MAX_PAYLOAD)
					ADD_SLOT(s->out_fd[k], POLLIN, SLOT_EXEC_STDOUT + k, c);
			if (s->pending && s->in_fd >= 0)
				ADD_SLOT(s->in_fd, POLLOUT, SLOT_EXEC_STDIN, c);
			if (s->exited) {
				int64_t left = s->deadline - now;
				int ms = left < 0 ? 0 : (int)left + 1;

				timeout = timeout < 0 || ms < timeout ? ms : timeout;
			}
		}
#undef ADD_SLOT
		if (poll(pfd, n, timeout) < 0) {
			if (errno != EINTR)
				log_error_errno(-errno, "poll");
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if (pfd[i].revents)
				dispatch(m, &slots[i], pfd[i].revents);
		now = now_ms();
		for (size_t i = 0; i < m->n_clients; i++)
			exec_check(m->clients[i], now);
		sweep_clients(m);
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

	/* CVE-2019-5736: run from a sealed memfd copy, so /proc/<monitor>/exe of a process that a
	 * container can reach never opens the binary on disk; returns only if that is impossible */
	r = ct_cloned_binary_reexec("carve-monitor", argv, &err);
	if (r < 0) {
		fprintf(stderr, "carve-monitor: %s\n", err.msg);
		return 1;
	}
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
		r = m.vm ? spawn_vm(&m, &err) : spawn_init(&m, &err);
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

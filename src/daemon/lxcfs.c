/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lxcfs: the FUSE filesystem (Debian's lxcfs) whose /proc/{cpuinfo,meminfo,stat,uptime,...} and
 * /sys/devices/system/cpu answer from the reading process's cgroups, so a container sees its
 * server's vCPUs, memory and uptime. carved owns one instance, mounted at <run-dir>/lxcfs with its
 * pid in <run-dir>/lxcfs.pid, started detached (double fork + setsid, like the monitors) so that
 * it outlives carved restarts: at start carved reuses a live instance of its own, and replaces a
 * dead or foreign one (stale mount detached first). carved never stops it; the container runtime
 * binds its files at each server start (ct_rootfs_mount_system). Without it (the binary missing,
 * --lxcfs none, or a failed start) servers start with the kernel's host-wide views and carved
 * logs a warning once.
 */
#define LOG_DOMAIN "lxcfs"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "daemon/daemon.h"

#define FUSE_SUPER_MAGIC 0x65735546
#define START_WAIT_MS 5000

static bool is_fuse_mount(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == FUSE_SUPER_MAGIC;
}

/* The pid in the pidfile if it is an lxcfs serving dir, else 0. */
static pid_t running_pid(const char *pidfile, const char *dir)
{
	cleanup_free char *s = NULL, *cmd = NULL;
	char p[64];
	size_t len = 0;
	long pid;

	if (read_full_file(pidfile, 64, &s, NULL) < 0)
		return 0;
	pid = strtol(s, NULL, 10);
	if (pid <= 1 || pid > 1 << 22)
		return 0;
	snprintf(p, sizeof(p), "/proc/%ld/cmdline", pid);
	if (read_full_file(p, 8192, &cmd, &len) < 0 || len == 0)
		return 0;
	/* argv is NUL-separated: find the lxcfs binary and our mount point among the words */
	bool binary = false, ours = false;
	for (size_t o = 0; o < len; o += strlen(cmd + o) + 1) {
		const char *w = cmd + o, *base = strrchr(w, '/');

		if (o == 0 && streq(base ? base + 1 : w, "lxcfs"))
			binary = true;
		if (streq(w, dir))
			ours = true;
	}
	return binary && ours ? (pid_t)pid : 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int spawn(const char *binary, const char *dir, const char *pidfile, const char *logfile)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		pid_t inner;
		int null_fd, log_fd;

		if (setsid() < 0)
			_exit(1);
		inner = fork();
		if (inner != 0)
			_exit(inner < 0 ? 1 : 0);
		null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		log_fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (null_fd < 0 || log_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 ||
		    dup2(log_fd, 2) < 0)
			_exit(1);
		(void)close_all_fds(NULL, 0);
		/* -f: stay in this (detached) process, so the pidfile names it; -l: loadavg;
		 * --enable-cfs: CPU counts from the CFS quota too */
		execl(binary, binary, "-f", "-l", "--enable-cfs", "-p", pidfile, dir, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int lxcfs_start(struct daemon *d)
{
	char pidfile[PATH_MAX], logfile[PATH_MAX];
	pid_t pid;
	int r;

	d->lxcfs_dir[0] = '\0';
	if (!d->lxcfs_binary[0])
		return 0;
	if (access(d->lxcfs_binary, X_OK) < 0) {
		log_warning("'%s' is not installed (apt-get install lxcfs): servers will "
			    "see the host's /proc/meminfo, cpuinfo, stat and uptime",
			    d->lxcfs_binary);
		return 0;
	}
	snprintf(d->lxcfs_dir, sizeof(d->lxcfs_dir), "%s/lxcfs", d->run_dir);
	snprintf(pidfile, sizeof(pidfile), "%s/lxcfs.pid", d->run_dir);
	snprintf(logfile, sizeof(logfile), "%s/lxcfs.log", d->run_dir);

	pid = running_pid(pidfile, d->lxcfs_dir);
	if (pid > 0 && is_fuse_mount(d->lxcfs_dir)) {
		log_info("reusing pid %d at '%s'", (int)pid, d->lxcfs_dir);
		return 0;
	}
	/* a dead or wedged instance of ours: replace it */
	if (pid > 0)
		(void)kill(pid, SIGKILL);
	if (umount2(d->lxcfs_dir, MNT_DETACH) == 0)
		log_info("detached a stale mount at '%s'", d->lxcfs_dir);
	(void)unlink(pidfile);
	r = mkdir_p(d->lxcfs_dir, 0755);
	if (r >= 0)
		r = spawn(d->lxcfs_binary, d->lxcfs_dir, pidfile, logfile);
	for (int waited = 0; r >= 0 && !is_fuse_mount(d->lxcfs_dir); waited += 20) {
		if (waited >= START_WAIT_MS) {
			r = -ETIMEDOUT;
			break;
		}
		sleep_ms(20);
	}
	if (r < 0) {
		log_warning("cannot start '%s' at '%s' (%s; see '%s'): servers will see "
			    "the host's /proc views",
			    d->lxcfs_binary, d->lxcfs_dir, strerror(-r), logfile);
		d->lxcfs_dir[0] = '\0';
		return r;
	}
	pid = running_pid(pidfile, d->lxcfs_dir);
	log_info("started pid %d at '%s'", (int)pid, d->lxcfs_dir);
	return 0;
}

const char *lxcfs_dir(struct daemon *d)
{
	if (!d->lxcfs_dir[0])
		return NULL;
	if (!is_fuse_mount(d->lxcfs_dir)) {
		log_warning("'%s' is no longer mounted: this server gets the host's /proc "
			    "views (restart carved to start lxcfs again)",
			    d->lxcfs_dir);
		return NULL;
	}
	return d->lxcfs_dir;
}

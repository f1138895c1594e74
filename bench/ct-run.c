/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ct-run: the timing helper of bench/ct-start. Prints one line per iteration: the nanoseconds
 * (CLOCK_MONOTONIC) it took.
 *
 *   ct-run spawn --rootfs DIR --uid-base N [--cgroup-prefix P] [--iter N] [--warmup N]
 *       ct_spawn() of /bin/true in a new container (user, pid, mnt, net, uts, ipc, cgroup
 *       namespaces, pivot_root, /proc, /sys, /dev) plus waitpid(). With --cgroup-prefix, each
 *       iteration also creates a real server cgroup under /sys/fs/cgroup/<controller>/P/bench/,
 *       places the child in it and removes it after the exit (what crun does with its cgroupfs
 *       manager); without, no cgroup is touched.
 *
 *   ct-run exec [--iter N] [--warmup N] -- CMD [ARG...]
 *       fork + execvp(CMD) + waitpid(), for peers (crun run, unshare) and the fork+exec floor.
 *       "{}" in an argument is replaced by the iteration number (unique container ids). A
 *       non-zero exit of CMD is an error. CMD's stdout is /dev/null.
 *
 * Warm-up iterations (default 2) are run but not printed.
 */
#define LOG_DOMAIN "bench"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/parse-util.h"
#include "ct/cgroup.h"
#include "ct/ct.h"
#include "bench-util.h"

#define ARG_MAX_COUNT 64
#define ARG_LEN_MAX 512

static int wait_exit(pid_t pid, const char *what, struct carve_error *err)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return carve_err(err, -errno, "waitpid %s", what);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return carve_err(err, -EIO, "%s: exit status 0x%x", what, (unsigned)status);
	return 0;
}

struct opts {
	const char *rootfs;
	const char *cgroup_prefix;
	uint64_t uid_base;
	uint64_t iter;
	uint64_t warmup;
};

static int one_spawn(const struct opts *o, struct cgroup_manager *cg, struct carve_error *err)
{
	char *const argv[] = {"/bin/true", NULL};
	struct ct_config cfg = {
		.hostname = "bench",
		.rootfs = o->rootfs,
		.argv = argv,
		.uid_base = (uid_t)o->uid_base,
		.gid_base = (gid_t)o->uid_base,
		.id_count = CT_ID_RANGE,
		.stdio_fd = -1,
		.cgroups = cg,
		.cgroup_tenant = "bench",
		.cgroup_server = "true",
	};
	struct cgroup_limits limits = {0};
	pid_t pid;
	int r;

	if (cg) {
		r = cgroup_server_create(cg, "bench", "true", &limits, err);
		if (r < 0)
			return r;
	}
	r = ct_spawn(&cfg, &pid, err);
	if (r >= 0)
		r = wait_exit(pid, "container init", err);
	if (cg) {
		int q = cgroup_server_destroy(cg, "bench", "true", r < 0 ? NULL : err);
		if (r >= 0)
			r = q;
	}
	return r;
}

static int run_spawn(const struct opts *o, struct carve_error *err)
{
	struct cgroup_manager *cg = NULL;
	int r = 0;

	if (!o->rootfs || o->uid_base == 0)
		return carve_err(err, -EINVAL, "spawn needs --rootfs and --uid-base");
	if (o->cgroup_prefix) {
		r = cgroup_manager_new("/sys/fs/cgroup", o->cgroup_prefix, _CGROUP_BACKEND_INVALID,
				       &cg, err);
		if (r < 0)
			return r;
	}
	for (uint64_t i = 0; i < o->warmup + o->iter; i++) {
		uint64_t t0 = bench_now_ns();

		r = one_spawn(o, cg, err);
		if (r < 0)
			break;
		if (i >= o->warmup)
			printf("%" PRIu64 "\n", bench_now_ns() - t0);
	}
	cgroup_manager_free(cg);
	return r;
}

/* argv with "{}" replaced by the iteration number, in bufs */
static void expand_args(char **argv, int argc, uint64_t i, char bufs[][ARG_LEN_MAX], char **out)
{
	for (int k = 0; k < argc; k++) {
		const char *p = strstr(argv[k], "{}");

		if (!p) {
			out[k] = argv[k];
			continue;
		}
		snprintf(bufs[k], ARG_LEN_MAX, "%.*s%" PRIu64 "%s", (int)(p - argv[k]), argv[k], i,
			 p + 2);
		out[k] = bufs[k];
	}
	out[argc] = NULL;
}

static int run_exec(const struct opts *o, int argc, char **argv, struct carve_error *err)
{
	static char bufs[ARG_MAX_COUNT][ARG_LEN_MAX];
	char *args[ARG_MAX_COUNT + 1];

	if (argc < 1 || argc > ARG_MAX_COUNT)
		return carve_err(err, -EINVAL, "exec needs a command (at most %d words)",
				 ARG_MAX_COUNT);
	for (uint64_t i = 0; i < o->warmup + o->iter; i++) {
		uint64_t t0;
		pid_t pid;
		int r;

		expand_args(argv, argc, i, bufs, args);
		t0 = bench_now_ns();
		pid = fork();
		if (pid < 0)
			return carve_err(err, -errno, "fork");
		if (pid == 0) {
			/* our stdout carries the timings: the command's output goes nowhere */
			int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (null_fd < 0 || dup2(null_fd, STDOUT_FILENO) < 0)
				_exit(127);
			execvp(args[0], args);
			fprintf(stderr, "ct-run: execvp '%s': %s\n", args[0], strerror(errno));
			_exit(127);
		}
		r = wait_exit(pid, args[0], err);
		if (r < 0)
			return r;
		if (i >= o->warmup)
			printf("%" PRIu64 "\n", bench_now_ns() - t0);
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: ct-run spawn --rootfs DIR --uid-base N [--cgroup-prefix P] [--iter N] "
	      "[--warmup N]\n"
	      "       ct-run exec [--iter N] [--warmup N] -- CMD [ARG...]\n",
	      f);
}

int main(int argc, char **argv)
{
	enum {
		OPT_ROOTFS = 256,
		OPT_UID_BASE,
		OPT_CGROUP_PREFIX,
		OPT_ITER,
		OPT_WARMUP
	};
	static const struct option options[] = {
		{"rootfs", required_argument, NULL, OPT_ROOTFS},
		{"uid-base", required_argument, NULL, OPT_UID_BASE},
		{"cgroup-prefix", required_argument, NULL, OPT_CGROUP_PREFIX},
		{"iter", required_argument, NULL, OPT_ITER},
		{"warmup", required_argument, NULL, OPT_WARMUP},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct carve_error err = CARVE_ERROR_INIT;
	struct opts o = {.iter = 50, .warmup = 2};
	const char *mode;
	int c, r;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	argv++;
	argc--;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
		switch (c) {
		case OPT_ROOTFS:
			o.rootfs = optarg;
			break;
		case OPT_UID_BASE:
			r = parse_uint64(optarg, 1, UINT32_MAX - CT_ID_RANGE, &o.uid_base, &err);
			if (r < 0)
				goto fail;
			break;
		case OPT_CGROUP_PREFIX:
			o.cgroup_prefix = optarg;
			break;
		case OPT_ITER:
			r = parse_uint64(optarg, 1, 1000000, &o.iter, &err);
			if (r < 0)
				goto fail;
			break;
		case OPT_WARMUP:
			r = parse_uint64(optarg, 0, 1000, &o.warmup, &err);
			if (r < 0)
				goto fail;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "spawn") == 0)
		r = run_spawn(&o, &err);
	else if (strcmp(mode, "exec") == 0)
		r = run_exec(&o, argc - optind, argv + optind, &err);
	else {
		usage(stderr);
		return 2;
	}
	if (r >= 0)
		return 0;
fail:
	fprintf(stderr, "ct-run: %s\n", err.msg);
	return 1;
}

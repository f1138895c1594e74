/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup manager: one interface, two backends (cgroup v1: a hierarchy per controller under
 * <root>/<controller>/; cgroup v2: one unified hierarchy at <root>). The layout is the same in
 * both:
 *
 *     <root>/<prefix>/                  carve's parent (one per carved instance)
 *     <root>/<prefix>/<tenant>/         aggregate caps of one tenant
 *     <root>/<prefix>/<tenant>/<server> one server: cpu, memory, pids, io, freezer
 *
 * The backend is detected from the filesystem type of <root> (cgroup2fs: v2; else v1), or forced,
 * so tests run both against a fake tree under a temporary directory. Names are validated object
 * names; nothing outside <root>/<prefix> is ever written. No logging above debug.
 */
#ifndef CARVE_CT_CGROUP_H
#define CARVE_CT_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/err.h"

enum cgroup_backend {
	CGROUP_BACKEND_V1,
	CGROUP_BACKEND_V2,
	_CGROUP_BACKEND_MAX,
	_CGROUP_BACKEND_INVALID = -EINVAL,
};
const char *cgroup_backend_to_string(enum cgroup_backend b);

/* Disk I/O limits on one block device (0: unlimited). v2: io.max; v1: blkio.throttle.*, which the
 * kernel applies to reads and direct writes only (v1 cannot attribute page-cache writeback). */
#define CGROUP_IO_DEVICES_MAX 16
struct cgroup_io_limit {
	uint32_t major, minor;
	uint64_t read_bps, write_bps, read_iops, write_iops;
};

/* 0 in a field means "no limit". */
struct cgroup_limits {
	uint32_t vcpus; /* CPU quota: vcpus * period */
	uint64_t cpu_weight; /* 1..10000, v2 scale (100 default); v1 shares = weight * 1024 / 100 */
	uint64_t memory_max; /* bytes; swap is disabled where the kernel allows */
	uint64_t pids_max;
	/* servers only: one entry per disk; a device listed with all zeros has its limits
	 * removed (devices not listed are left as they are) */
	struct cgroup_io_limit io[CGROUP_IO_DEVICES_MAX];
	size_t n_io;
};

struct cgroup_manager;

/* root: "/sys/fs/cgroup" or a fake tree; prefix: carve's parent name (e.g. "carve" or a unique
 * test prefix). backend: _CGROUP_BACKEND_INVALID to detect. */
int cgroup_manager_new(const char *root, const char *prefix, enum cgroup_backend backend,
		       struct cgroup_manager **ret, struct carve_error *err);
struct cgroup_manager *cgroup_manager_free(struct cgroup_manager *m);
enum cgroup_backend cgroup_manager_backend(const struct cgroup_manager *m);

/* Create (idempotent) the tenant cgroup and the server cgroup below it, and apply limits. */
int cgroup_server_create(struct cgroup_manager *m, const char *tenant, const char *server,
			 const struct cgroup_limits *limits, struct carve_error *err);
int cgroup_server_set_limits(struct cgroup_manager *m, const char *tenant, const char *server,
			     const struct cgroup_limits *limits, struct carve_error *err);
/* Move pid into the server cgroup (every hierarchy on v1). */
int cgroup_server_attach(struct cgroup_manager *m, const char *tenant, const char *server,
			 pid_t pid, struct carve_error *err);
/* Freeze or thaw every process of the server. */
int cgroup_server_freeze(struct cgroup_manager *m, const char *tenant, const char *server,
			 bool frozen, struct carve_error *err);
/* Whether any process is still in the server's cgroup. */
int cgroup_server_populated(struct cgroup_manager *m, const char *tenant, const char *server,
			    bool *ret, struct carve_error *err);
/* SIGKILL what is left, then remove the server cgroup (and the tenant cgroup if now empty).
 * Missing cgroups are not an error. */
int cgroup_server_destroy(struct cgroup_manager *m, const char *tenant, const char *server,
			  struct carve_error *err);
/* Caps for a whole tenant (the tenant cgroup). */
int cgroup_tenant_set_limits(struct cgroup_manager *m, const char *tenant,
			     const struct cgroup_limits *limits, struct carve_error *err);

#endif

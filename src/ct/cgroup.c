/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup manager. Both backends share the path logic (<prefix>/<tenant>/<server> below each
 * hierarchy) and differ in the files they write, behind struct cgroup_ops.
 *
 * A tree that is not a cgroup filesystem (the unit tests' fake tree) behaves like a cgroup tree
 * whose control files spring into existence when first written: required files are created, and
 * removal deletes the files before rmdir. Optional files (memory.memsw.limit_in_bytes,
 * memory.swap.max, cgroup.kill, cgroup.events) are written only where they already exist, so the
 * kernel decides whether the feature is there.
 */
#define LOG_DOMAIN "cgroup"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "ct/cgroup.h"

#define CPU_PERIOD_US 100000ULL
#define V1_MAX_HIERARCHIES 10
#define KILL_ROUNDS 200 /* x 10 ms */
#define RMDIR_ROUNDS 100 /* x 10 ms */
#define FREEZE_ROUNDS 100 /* x 10 ms */
#define PROCS_MAX (1U << 20) /* bytes read from one cgroup.procs */

struct cgroup_ops;

struct hierarchy {
	char *controller; /* "memory", "cpu", ... (v2: "") */
	char *path; /* <root>/<controller> (v2: <root>) */
};

struct cgroup_manager {
	enum cgroup_backend backend;
	const struct cgroup_ops *ops;
	char *root;
	char *prefix;
	bool fake; /* not a cgroup filesystem: create control files, delete them on removal */
	struct hierarchy hier[V1_MAX_HIERARCHIES];
	size_t n_hier;
};

struct cgroup_ops {
	int (*setup)(struct cgroup_manager *m, struct carve_error *err);
	/* Called after mkdir of rel in every hierarchy; parent is the relative parent path. */
	int (*prepare_parent)(struct cgroup_manager *m, const char *parent_rel,
			      struct carve_error *err);
	int (*set_limits)(struct cgroup_manager *m, const char *rel, bool tenant,
			  const struct cgroup_limits *l, struct carve_error *err);
	int (*freeze)(struct cgroup_manager *m, const char *rel, bool frozen,
		      struct carve_error *err);
	int (*populated)(struct cgroup_manager *m, const char *rel, bool *ret,
			 struct carve_error *err);
	int (*kill)(struct cgroup_manager *m, const char *rel, struct carve_error *err);
};

static const char *const backend_names[_CGROUP_BACKEND_MAX] = {
	[CGROUP_BACKEND_V1] = "v1",
	[CGROUP_BACKEND_V2] = "v2",
};

const char *cgroup_backend_to_string(enum cgroup_backend b)
{
	if (b < 0 || b >= _CGROUP_BACKEND_MAX)
		return NULL;
	return backend_names[b];
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int path_join(char *buf, size_t n, const char *a, const char *b, const char *c)
{
	int k;

	if (c)
		k = snprintf(buf, n, "%s/%s/%s", a, b, c);
	else if (b)
		k = snprintf(buf, n, "%s/%s", a, b);
	else
		k = snprintf(buf, n, "%s", a);
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static bool file_exists(const char *dir, const char *rel, const char *file)
{
	char p[PATH_MAX];

	if (path_join(p, sizeof(p), dir, rel, file) < 0)
		return false;
	return access(p, F_OK) == 0;
}

/* Write value to <dir>/<rel>/<file>; in a fake tree the file is created. */
static int cg_write(struct cgroup_manager *m, const char *dir, const char *rel, const char *file,
		    const char *value, struct carve_error *err)
{
	char p[PATH_MAX];
	cleanup_close int fd = -EBADF;
	int flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_TRUNC;
	int r;

	if (path_join(p, sizeof(p), dir, rel, file) < 0)
		return carve_err(err, -ENAMETOOLONG, "cgroup path '%s/%s': too long", dir, rel);
	if (m->fake)
		flags |= O_CREAT;
	fd = open(p, flags, 0644);
	if (fd < 0)
		return carve_err(err, -errno, "open '%s'", p);
	r = loop_write(fd, value, strlen(value));
	if (r < 0)
		return carve_err(err, r, "write '%s' to '%s'", value, p);
	log_debug("wrote '%s' to '%s'", value, p);
	return 0;
}

static int cg_read(const char *dir, const char *rel, const char *file, char **ret)
{
	char p[PATH_MAX];

	if (path_join(p, sizeof(p), dir, rel, file) < 0)
		return -ENAMETOOLONG;
	return read_full_file(p, PROCS_MAX, ret, NULL);
}

static int cg_mkdir(const char *dir, const char *rel, struct carve_error *err)
{
	char p[PATH_MAX];

	if (path_join(p, sizeof(p), dir, rel, NULL) < 0)
		return carve_err(err, -ENAMETOOLONG, "cgroup path '%s/%s': too long", dir, rel);
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return carve_err(err, -errno, "mkdir '%s'", p);
	return 0;
}

/* rmdir <dir>/<rel>; missing is fine; in a fake tree the plain files go first. */
static int cg_rmdir(struct cgroup_manager *m, const char *dir, const char *rel)
{
	char p[PATH_MAX];

	if (path_join(p, sizeof(p), dir, rel, NULL) < 0)
		return -ENAMETOOLONG;
	if (m->fake) {
		cleanup_closedir DIR *d = opendir(p);
		struct dirent *de;

		if (!d)
			return errno == ENOENT ? 0 : -errno;
		/* like the kernel: a cgroup with child cgroups stays */
		while ((de = readdir(d)))
			if (de->d_type == DT_DIR && !streq(de->d_name, ".") &&
			    !streq(de->d_name, ".."))
				return -ENOTEMPTY;
		rewinddir(d);
		while ((de = readdir(d)))
			if (de->d_type == DT_REG)
				(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	if (rmdir(p) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Parse a cgroup.procs buffer; calls fn(pid) for each. Returns the number of pids. */
static int for_each_pid(const char *buf, void (*fn)(pid_t pid))
{
	int n = 0;

	for (const char *s = buf; *s;) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s) {
			s++;
			continue;
		}
		if (v > 0 && v <= INT_MAX) {
			n++;
			if (fn)
				fn((pid_t)v);
		}
		s = end;
	}
	return n;
}

static void kill_pid(pid_t pid)
{
	(void)kill(pid, SIGKILL);
}

/* Number of pids in <dir>/<rel>/cgroup.procs and in the cgroups below it (a delegated subtree:
 * systemd in a container makes its own); 0 if the cgroup is gone. */
static int procs_count(const char *dir, const char *rel, void (*fn)(pid_t pid))
{
	cleanup_free char *buf = NULL;
	cleanup_closedir DIR *d = NULL;
	char p[PATH_MAX];
	struct dirent *de;
	int r = cg_read(dir, rel, "cgroup.procs", &buf), n;

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	n = for_each_pid(buf, fn);
	if (path_join(p, sizeof(p), dir, rel, NULL) < 0 || !(d = opendir(p)))
		return n;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (path_join(sub, sizeof(sub), rel, de->d_name, NULL) < 0)
			continue;
		r = procs_count(dir, sub, fn);
		if (r > 0)
			n += r;
	}
	return n;
}

/* rmdir <dir>/<rel> and every cgroup below it, deepest first. */
static int cg_rmdir_tree(struct cgroup_manager *m, const char *dir, const char *rel)
{
	cleanup_closedir DIR *d = NULL;
	char p[PATH_MAX];
	struct dirent *de;

	if (path_join(p, sizeof(p), dir, rel, NULL) < 0)
		return -ENAMETOOLONG;
	d = opendir(p);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		int r;

		if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (path_join(sub, sizeof(sub), rel, de->d_name, NULL) < 0)
			return -ENAMETOOLONG;
		r = cg_rmdir_tree(m, dir, sub);
		if (r < 0)
			return r;
	}
	return cg_rmdir(m, dir, rel);
}

static const struct hierarchy *find_hier(const struct cgroup_manager *m, const char *controller)
{
	for (size_t i = 0; i < m->n_hier; i++)
		if (streq(m->hier[i].controller, controller))
			return &m->hier[i];
	return NULL;
}

/* v1 */

static const char *const v1_controllers[] = {"cpu",   "cpuacct", "memory",  "pids",
					     "blkio", "freezer", "devices", "cpuset"};

static int v1_setup(struct cgroup_manager *m, struct carve_error *err)
{
	struct stat seen[ELEMENTSOF(v1_controllers)];

	for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
		char p[PATH_MAX];
		struct stat st;
		struct statfs sfs;
		bool dup = false;

		if (path_join(p, sizeof(p), m->root, v1_controllers[i], NULL) < 0)
			return carve_err(err, -ENAMETOOLONG, "cgroup root '%s': too long", m->root);
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		/* "cpu" and "cpuacct" may be symlinks to one combined "cpu,cpuacct" hierarchy */
		for (size_t j = 0; j < m->n_hier; j++)
			dup = dup || (seen[j].st_dev == st.st_dev && seen[j].st_ino == st.st_ino);
		if (dup)
			continue;
		if (statfs(p, &sfs) == 0 && sfs.f_type != CGROUP_SUPER_MAGIC)
			m->fake = true;
		seen[m->n_hier] = st;
		m->hier[m->n_hier].controller = strdup(v1_controllers[i]);
		m->hier[m->n_hier].path = strdup(p);
		if (!m->hier[m->n_hier].controller || !m->hier[m->n_hier].path)
			return carve_err(err, -ENOMEM, "out of memory");
		m->n_hier++;
	}
	if (m->n_hier == 0)
		return carve_err(err, -ENOENT, "cgroup root '%s': no v1 controller hierarchy found",
				 m->root);
	/* a hybrid host's cgroup2 tree (systemd's "unified"): servers get a cgroup there too, so
	 * a container's init (systemd) finds a delegated cgroup2 subtree of its own */
	{
		char p[PATH_MAX];
		struct statfs sfs;
		struct stat st;

		if (path_join(p, sizeof(p), m->root, "unified", NULL) == 0 && stat(p, &st) == 0 &&
		    S_ISDIR(st.st_mode) && statfs(p, &sfs) == 0 &&
		    (sfs.f_type == CGROUP2_SUPER_MAGIC || m->fake) &&
		    m->n_hier < V1_MAX_HIERARCHIES) {
			m->hier[m->n_hier].controller = strdup("unified");
			m->hier[m->n_hier].path = strdup(p);
			if (!m->hier[m->n_hier].controller || !m->hier[m->n_hier].path)
				return carve_err(err, -ENOMEM, "out of memory");
			m->n_hier++;
		}
	}
	return 0;
}

/* --- cpusets -------------------------------------------------------------------------------- */

/* "0-3,8,10-11" -> set[]; -EINVAL for anything else */
int cgroup_cpulist_parse(const char *s, bool set[CGROUP_CPUS_MAX])
{
	memset(set, 0, CGROUP_CPUS_MAX * sizeof(bool));
	for (const char *p = s; *p && *p != '\n';) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b;

		if (end == p || a >= CGROUP_CPUS_MAX)
			return -EINVAL;
		b = a;
		p = end;
		if (*p == '-') {
			b = strtoul(p + 1, &end, 10);
			if (end == p + 1 || b >= CGROUP_CPUS_MAX || b < a)
				return -EINVAL;
			p = end;
		}
		for (unsigned long i = a; i <= b; i++)
			set[i] = true;
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return -EINVAL;
	}
	return 0;
}

int cgroup_cpulist_format(const bool set[CGROUP_CPUS_MAX], char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < CGROUP_CPUS_MAX; i++) {
		size_t j = i;
		int k;

		if (!set[i])
			continue;
		while (j + 1 < CGROUP_CPUS_MAX && set[j + 1])
			j++;
		k = j == i ? snprintf(buf + o, len - o, "%s%zu", o ? "," : "", i)
			   : snprintf(buf + o, len - o, "%s%zu-%zu", o ? "," : "", i, j);
		if (k < 0 || (size_t)k >= len - o)
			return -ENAMETOOLONG;
		o += (size_t)k;
		i = j;
	}
	return 0;
}

int cgroup_cpuset_pick(const char *allowed, const unsigned load[CGROUP_CPUS_MAX], uint32_t n,
		       char *buf, size_t len)
{
	bool ok[CGROUP_CPUS_MAX], pick[CGROUP_CPUS_MAX] = {false};
	uint32_t have = 0;
	int r = cgroup_cpulist_parse(allowed, ok);

	if (r < 0)
		return r;
	for (size_t i = 0; i < CGROUP_CPUS_MAX; i++)
		have += ok[i];
	if (have == 0)
		return -ENOENT;
	if (n == 0 || n >= have)
		return cgroup_cpulist_format(ok, buf, len);
	/* n times: the allowed CPU with the fewest servers on it, the lowest number on a tie */
	for (uint32_t k = 0; k < n; k++) {
		size_t best = CGROUP_CPUS_MAX;

		for (size_t i = 0; i < CGROUP_CPUS_MAX; i++)
			if (ok[i] && !pick[i] && (best == CGROUP_CPUS_MAX || load[i] < load[best]))
				best = i;
		pick[best] = true;
	}
	return cgroup_cpulist_format(pick, buf, len);
}

/* How many servers (other than skip_rel) are pinned to each CPU: every
 * <dir>/<prefix>/<tenant>/<server>/<file>. */
static void cpuset_load(const struct cgroup_manager *m, const char *dir, const char *file,
			const char *skip_rel, unsigned load[CGROUP_CPUS_MAX])
{
	cleanup_closedir DIR *td = NULL;
	char p[PATH_MAX];
	struct dirent *t;

	memset(load, 0, CGROUP_CPUS_MAX * sizeof(unsigned));
	if (path_join(p, sizeof(p), dir, m->prefix, NULL) < 0 || !(td = opendir(p)))
		return;
	while ((t = readdir(td))) {
		cleanup_closedir DIR *sd = NULL;
		char tp[PATH_MAX];
		struct dirent *sv;

		if (t->d_type != DT_DIR || !name_is_valid(t->d_name) ||
		    path_join(tp, sizeof(tp), p, t->d_name, NULL) < 0 || !(sd = opendir(tp)))
			continue;
		while ((sv = readdir(sd))) {
			cleanup_free char *s = NULL;
			char rel[PATH_MAX];
			bool set[CGROUP_CPUS_MAX];

			if (sv->d_type != DT_DIR || !name_is_valid(sv->d_name))
				continue;
			snprintf(rel, sizeof(rel), "%s/%s/%s", m->prefix, t->d_name, sv->d_name);
			if (streq(rel, skip_rel) || cg_read(dir, rel, file, &s) < 0 ||
			    cgroup_cpulist_parse(s, set) < 0)
				continue;
			for (size_t i = 0; i < CGROUP_CPUS_MAX; i++)
				load[i] += set[i];
		}
	}
}

/* The parent of rel ("a/b/c" -> "a/b", "a" -> ".": the root). */
static const char *parent_of(const char *rel, char *buf, size_t len)
{
	const char *slash = strrchr(rel, '/');

	if (!slash)
		return "."; /* the hierarchy's root */
	snprintf(buf, len, "%.*s", (int)(slash - rel), rel);
	return buf;
}

/* v1 cpuset cgroups start with no CPUs and no memory nodes (nothing can join them): copy the
 * parent's where rel has none. A parent that is itself still empty (just made by someone else
 * who has not filled it yet) is filled first from its own parent, up the tree. A tree without
 * cpuset files at the parent (a fake tree) is left alone. */
static int v1_cpuset_inherit(struct cgroup_manager *m, const char *dir, const char *rel,
			     struct carve_error *err)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	char pbuf[PATH_MAX];
	const char *parent = parent_of(rel, pbuf, sizeof(pbuf));

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		cleanup_free char *pv = NULL, *v = NULL;

		if (cg_read(dir, parent, files[i], &pv) < 0)
			continue;
		if (!pv[strspn(pv, " \n")] && !streq(parent, ".")) {
			free(pv);
			pv = NULL;
			if (v1_cpuset_inherit(m, dir, parent, err) < 0 ||
			    cg_read(dir, parent, files[i], &pv) < 0)
				return err ? err->code : -EIO;
		}
		if (!pv[strspn(pv, " \n")])
			continue;
		if (cg_read(dir, rel, files[i], &v) == 0 && v[strspn(v, " \n")])
			continue;
		pv[strcspn(pv, "\n")] = '\0';
		if (cg_write(m, dir, rel, files[i], pv, err) < 0)
			return err ? err->code : -EIO;
	}
	return 0;
}

/* A server's CPUs: vcpus of those its parent allows, the least used by other servers. */
static int set_cpuset(struct cgroup_manager *m, const char *dir, const char *rel,
		      const char *allowed_file, uint32_t vcpus, struct carve_error *err)
{
	cleanup_free char *allowed = NULL;
	unsigned load[CGROUP_CPUS_MAX];
	char pbuf[PATH_MAX], cpus[4096];
	const char *parent = parent_of(rel, pbuf, sizeof(pbuf));
	int r;

	if (cg_read(dir, parent, allowed_file, &allowed) < 0 || !allowed[strspn(allowed, " \n")])
		return 0; /* no cpuset here */
	cpuset_load(m, dir, "cpuset.cpus", rel, load);
	r = cgroup_cpuset_pick(allowed, load, vcpus, cpus, sizeof(cpus));
	if (r < 0)
		return carve_err(err, r, "cpuset: cannot pick %u CPUs of '%s'", vcpus, allowed);
	return cg_write(m, dir, rel, "cpuset.cpus", cpus, err);
}

static int v1_prepare_parent(struct cgroup_manager *m, const char *parent_rel,
			     struct carve_error *err)
{
	const struct hierarchy *h = find_hier(m, "cpuset");

	return h ? v1_cpuset_inherit(m, h->path, parent_rel, err) : 0;
}

static int v1_set_memory(struct cgroup_manager *m, const char *dir, const char *rel, uint64_t max,
			 struct carve_error *err)
{
	char v[32];
	bool memsw = file_exists(dir, rel, "memory.memsw.limit_in_bytes");
	int r, q;

	if (max == 0)
		strscpy(v, "-1", sizeof(v));
	else
		snprintf(v, sizeof(v), "%llu", (unsigned long long)max);
	if (!memsw)
		return cg_write(m, dir, rel, "memory.limit_in_bytes", v, err);
	/* memsw must stay >= the memory limit: whichever order fails first is retried after. */
	r = cg_write(m, dir, rel, "memory.limit_in_bytes", v, NULL);
	q = cg_write(m, dir, rel, "memory.memsw.limit_in_bytes", v, err);
	if (q < 0)
		return q;
	if (r < 0)
		return cg_write(m, dir, rel, "memory.limit_in_bytes", v, err);
	return 0;
}

static bool io_limited(const struct cgroup_io_limit *io)
{
	return io->read_bps || io->write_bps || io->read_iops || io->write_iops;
}

static int v1_set_io(struct cgroup_manager *m, const char *rel, const struct cgroup_limits *l,
		     struct carve_error *err)
{
	static const char *const files[] = {
		"blkio.throttle.read_bps_device",
		"blkio.throttle.write_bps_device",
		"blkio.throttle.read_iops_device",
		"blkio.throttle.write_iops_device",
	};
	const struct hierarchy *h = find_hier(m, "blkio");

	if (l->n_io > CGROUP_IO_DEVICES_MAX)
		return carve_err(err, -E2BIG, "io limits: more than %d devices",
				 CGROUP_IO_DEVICES_MAX);
	for (size_t i = 0; i < l->n_io; i++) {
		const struct cgroup_io_limit *io = &l->io[i];
		const uint64_t v[] = {io->read_bps, io->write_bps, io->read_iops, io->write_iops};

		if (!h) {
			if (io_limited(io))
				return carve_err(err, -EOPNOTSUPP, "io limit: no blkio controller");
			continue;
		}
		for (size_t k = 0; k < ELEMENTSOF(files); k++) {
			char line[64];
			int r;

			/* "MAJ:MIN 0" removes the rule */
			snprintf(line, sizeof(line), "%u:%u %llu", io->major, io->minor,
				 (unsigned long long)v[k]);
			r = cg_write(m, h->path, rel, files[k], line, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int v1_set_limits(struct cgroup_manager *m, const char *rel, bool tenant,
			 const struct cgroup_limits *l, struct carve_error *err)
{
	const struct hierarchy *h;
	char v[32];
	int r;

	if ((h = find_hier(m, "memory"))) {
		r = v1_set_memory(m, h->path, rel, l->memory_max, err);
		if (r < 0)
			return r;
	} else if (l->memory_max)
		return carve_err(err, -EOPNOTSUPP, "memory limit: no memory controller");
	if ((h = find_hier(m, "cpu"))) {
		uint64_t w = l->cpu_weight ? l->cpu_weight : 100;
		uint64_t shares = w * 1024 / 100;

		r = cg_write(m, h->path, rel, "cpu.cfs_period_us", "100000", err);
		if (r < 0)
			return r;
		if (l->vcpus)
			snprintf(v, sizeof(v), "%llu",
				 (unsigned long long)(l->vcpus * CPU_PERIOD_US));
		else
			strscpy(v, "-1", sizeof(v));
		r = cg_write(m, h->path, rel, "cpu.cfs_quota_us", v, err);
		if (r < 0)
			return r;
		snprintf(v, sizeof(v), "%llu", (unsigned long long)(shares < 2 ? 2 : shares));
		r = cg_write(m, h->path, rel, "cpu.shares", v, err);
		if (r < 0)
			return r;
	} else if (l->vcpus)
		return carve_err(err, -EOPNOTSUPP, "cpu limit: no cpu controller");
	if ((h = find_hier(m, "pids"))) {
		if (l->pids_max)
			snprintf(v, sizeof(v), "%llu", (unsigned long long)l->pids_max);
		else
			strscpy(v, "max", sizeof(v));
		r = cg_write(m, h->path, rel, "pids.max", v, err);
		if (r < 0)
			return r;
	} else if (l->pids_max)
		return carve_err(err, -EOPNOTSUPP, "pids limit: no pids controller");
	if ((h = find_hier(m, "cpuset"))) {
		/* mems (and cpus) from the parent first: nothing can join an empty cpuset */
		r = v1_cpuset_inherit(m, h->path, rel, err);
		if (r >= 0 && !tenant)
			r = set_cpuset(m, h->path, rel, "cpuset.cpus", l->vcpus, err);
		if (r < 0)
			return r;
	}
	return v1_set_io(m, rel, l, err);
}

static int v1_freeze(struct cgroup_manager *m, const char *rel, bool frozen,
		     struct carve_error *err)
{
	const struct hierarchy *h = find_hier(m, "freezer");
	const char *want = frozen ? "FROZEN" : "THAWED";
	int r;

	if (!h)
		return carve_err(err, -EOPNOTSUPP, "freeze: no freezer controller");
	r = cg_write(m, h->path, rel, "freezer.state", want, err);
	if (r < 0)
		return r;
	/* FREEZING is transient: wait until every task is frozen */
	for (int i = 0; i < FREEZE_ROUNDS; i++) {
		cleanup_free char *s = NULL;

		r = cg_read(h->path, rel, "freezer.state", &s);
		if (r < 0)
			return carve_err(err, r, "read freezer.state");
		if (startswith(s, want))
			return 0;
		if (i + 1 < FREEZE_ROUNDS)
			sleep_ms(10);
	}
	return carve_err(err, -ETIMEDOUT, "freezer.state: still not %s", want);
}

static int v1_populated(struct cgroup_manager *m, const char *rel, bool *ret,
			struct carve_error *err)
{
	for (size_t i = 0; i < m->n_hier; i++) {
		int n = procs_count(m->hier[i].path, rel, NULL);

		if (n < 0)
			return carve_err(err, n, "read '%s/%s/cgroup.procs'", m->hier[i].path, rel);
		if (n > 0) {
			*ret = true;
			return 0;
		}
	}
	*ret = false;
	return 0;
}

/* SIGKILL every pid found in any hierarchy until none is left (forks race with the loop). */
static int kill_loop(struct cgroup_manager *m, const char *rel, struct carve_error *err)
{
	for (int round = 0; round < KILL_ROUNDS; round++) {
		int total = 0;

		for (size_t i = 0; i < m->n_hier; i++) {
			int n = procs_count(m->hier[i].path, rel, kill_pid);
			if (n < 0)
				return carve_err(err, n, "read '%s/%s/cgroup.procs'",
						 m->hier[i].path, rel);
			total += n;
		}
		/* a fake tree's cgroup.procs never empties: one round is all it can show */
		if (total == 0 || m->fake)
			return 0;
		sleep_ms(10);
	}
	return carve_err(err, -EBUSY, "processes left after SIGKILL");
}

static const struct cgroup_ops v1_ops = {
	.setup = v1_setup,
	.prepare_parent = v1_prepare_parent,
	.set_limits = v1_set_limits,
	.freeze = v1_freeze,
	.populated = v1_populated,
	.kill = kill_loop,
};

/* v2 */

static int v2_setup(struct cgroup_manager *m, struct carve_error *err)
{
	struct statfs sfs;

	if (statfs(m->root, &sfs) < 0)
		return carve_err(err, -errno, "cgroup root '%s'", m->root);
	m->fake = sfs.f_type != CGROUP2_SUPER_MAGIC;
	m->hier[0].controller = strdup("");
	m->hier[0].path = strdup(m->root);
	if (!m->hier[0].controller || !m->hier[0].path)
		return carve_err(err, -ENOMEM, "out of memory");
	m->n_hier = 1;
	return 0;
}

static bool word_in(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *s = list; (s = strstr(s, word)); s += n)
		if ((s == list || s[-1] == ' ' || s[-1] == '+') &&
		    (s[n] == '\0' || s[n] == ' ' || s[n] == '\n'))
			return true;
	return false;
}

/* Enable cpu, memory, pids and io for the children of parent_rel, as far as parent_rel has them
 * (the host decides what reaches <root>/<prefix>; carve never writes above it). */
static int v2_prepare_parent(struct cgroup_manager *m, const char *parent_rel,
			     struct carve_error *err)
{
	static const char *const wanted[] = {"cpu", "memory", "pids", "io", "cpuset"};
	cleanup_free char *avail = NULL, *enabled = NULL;
	char buf[64] = "";
	size_t n = 0;
	int r;

	r = cg_read(m->root, parent_rel, "cgroup.controllers", &avail);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return carve_err(err, r, "read '%s/%s/cgroup.controllers'", m->root, parent_rel);
	r = cg_read(m->root, parent_rel, "cgroup.subtree_control", &enabled);
	if (r < 0 && r != -ENOENT)
		return carve_err(err, r, "read '%s/%s/cgroup.subtree_control'", m->root,
				 parent_rel);
	for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
		if (!word_in(avail, wanted[i]) || (enabled && word_in(enabled, wanted[i])))
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s+%s", n ? " " : "", wanted[i]);
	}
	if (n == 0)
		return 0;
	return cg_write(m, m->root, parent_rel, "cgroup.subtree_control", buf, err);
}

static void io_value(char *buf, size_t n, const char *key, uint64_t v)
{
	if (v)
		snprintf(buf, n, "%s=%llu", key, (unsigned long long)v);
	else
		snprintf(buf, n, "%s=max", key);
}

static int v2_set_io(struct cgroup_manager *m, const char *rel, const struct cgroup_limits *l,
		     struct carve_error *err)
{
	bool have = file_exists(m->root, rel, "io.max");

	if (l->n_io > CGROUP_IO_DEVICES_MAX)
		return carve_err(err, -E2BIG, "io limits: more than %d devices",
				 CGROUP_IO_DEVICES_MAX);
	for (size_t i = 0; i < l->n_io; i++) {
		const struct cgroup_io_limit *io = &l->io[i];
		char rb[32], wb[32], ri[32], wi[32], line[192];
		int r;

		if (!have) {
			if (io_limited(io))
				return carve_err(err, -EOPNOTSUPP,
						 "io limit: the io controller is not enabled");
			continue;
		}
		io_value(rb, sizeof(rb), "rbps", io->read_bps);
		io_value(wb, sizeof(wb), "wbps", io->write_bps);
		io_value(ri, sizeof(ri), "riops", io->read_iops);
		io_value(wi, sizeof(wi), "wiops", io->write_iops);
		snprintf(line, sizeof(line), "%u:%u %s %s %s %s", io->major, io->minor, rb, wb, ri,
			 wi);
		r = cg_write(m, m->root, rel, "io.max", line, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int v2_set_limits(struct cgroup_manager *m, const char *rel, bool tenant,
			 const struct cgroup_limits *l, struct carve_error *err)
{
	char v[64];
	int r;

	if (l->memory_max)
		snprintf(v, sizeof(v), "%llu", (unsigned long long)l->memory_max);
	else
		strscpy(v, "max", sizeof(v));
	r = cg_write(m, m->root, rel, "memory.max", v, err);
	if (r < 0)
		return r;
	if (file_exists(m->root, rel, "memory.swap.max")) {
		r = cg_write(m, m->root, rel, "memory.swap.max", "0", err);
		if (r < 0)
			return r;
	}
	if (l->vcpus)
		snprintf(v, sizeof(v), "%llu %llu", (unsigned long long)(l->vcpus * CPU_PERIOD_US),
			 CPU_PERIOD_US);
	else
		snprintf(v, sizeof(v), "max %llu", CPU_PERIOD_US);
	r = cg_write(m, m->root, rel, "cpu.max", v, err);
	if (r < 0)
		return r;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(l->cpu_weight ? l->cpu_weight : 100));
	r = cg_write(m, m->root, rel, "cpu.weight", v, err);
	if (r < 0)
		return r;
	if (l->pids_max)
		snprintf(v, sizeof(v), "%llu", (unsigned long long)l->pids_max);
	else
		strscpy(v, "max", sizeof(v));
	r = cg_write(m, m->root, rel, "pids.max", v, err);
	if (r < 0)
		return r;
	r = v2_set_io(m, rel, l, err);
	if (r < 0 || tenant || !file_exists(m->root, rel, "cpuset.cpus"))
		return r;
	return set_cpuset(m, m->root, rel, "cpuset.cpus.effective", l->vcpus, err);
}

/* Value of key in a flat keyed file ("populated 1\nfrozen 0\n"), or -ENOENT. */
static int v2_events_key(const char *rel, const char *root, const char *key)
{
	cleanup_free char *s = NULL;
	size_t n = strlen(key);
	int r = cg_read(root, rel, "cgroup.events", &s);

	if (r < 0)
		return r;
	for (const char *p = s; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, n) == 0 && p[n] == ' ')
			return p[n + 1] == '1';
	return -ENOENT;
}

static int v2_freeze(struct cgroup_manager *m, const char *rel, bool frozen,
		     struct carve_error *err)
{
	int r = cg_write(m, m->root, rel, "cgroup.freeze", frozen ? "1" : "0", err);

	if (r < 0)
		return r;
	for (int i = 0; i < FREEZE_ROUNDS; i++) {
		int v = v2_events_key(rel, m->root, "frozen");
		if (v < 0 || v == (int)frozen)
			return 0;
		sleep_ms(10);
	}
	return carve_err(err, -ETIMEDOUT, "cgroup.events: still not frozen=%d", frozen);
}

static int v2_populated(struct cgroup_manager *m, const char *rel, bool *ret,
			struct carve_error *err)
{
	int v = v2_events_key(rel, m->root, "populated");

	if (v >= 0) {
		*ret = v;
		return 0;
	}
	return v1_populated(m, rel, ret, err);
}

static int v2_kill(struct cgroup_manager *m, const char *rel, struct carve_error *err)
{
	if (!file_exists(m->root, rel, "cgroup.kill"))
		return kill_loop(m, rel, err);
	int r = cg_write(m, m->root, rel, "cgroup.kill", "1", err);

	if (r < 0)
		return r;
	for (int i = 0; i < KILL_ROUNDS && !m->fake; i++) {
		bool pop = false;

		r = v2_populated(m, rel, &pop, err);

		if (r < 0)
			return r;
		if (!pop)
			return 0;
		sleep_ms(10);
	}
	return m->fake ? 0 : carve_err(err, -EBUSY, "processes left after cgroup.kill");
}

static const struct cgroup_ops v2_ops = {
	.setup = v2_setup,
	.prepare_parent = v2_prepare_parent,
	.set_limits = v2_set_limits,
	.freeze = v2_freeze,
	.populated = v2_populated,
	.kill = v2_kill,
};

static const struct cgroup_ops *const backend_ops[_CGROUP_BACKEND_MAX] = {
	[CGROUP_BACKEND_V1] = &v1_ops,
	[CGROUP_BACKEND_V2] = &v2_ops,
};

/* the manager */

struct cgroup_manager *cgroup_manager_free(struct cgroup_manager *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < V1_MAX_HIERARCHIES; i++) {
		free(m->hier[i].controller);
		free(m->hier[i].path);
	}
	free(m->root);
	free(m->prefix);
	free(m);
	return NULL;
}
DEFINE_CLEANUP_FUNC(struct cgroup_manager, cgroup_manager_free)

int cgroup_manager_new(const char *root, const char *prefix, enum cgroup_backend backend,
		       struct cgroup_manager **ret, struct carve_error *err)
{
	cleanup(cgroup_manager_freep) struct cgroup_manager *m = NULL;
	int r;

	if (!root || root[0] != '/')
		return carve_err(err, -EINVAL, "cgroup root '%s': not an absolute path",
				 root ? root : "");
	if (!name_is_valid(prefix))
		return carve_err_field(err, -EINVAL, "cgroup_prefix",
				       "cgroup prefix '%s': not a valid name",
				       prefix ? prefix : "");
	if (backend == _CGROUP_BACKEND_INVALID) {
		struct statfs sfs;

		if (statfs(root, &sfs) < 0)
			return carve_err(err, -errno, "cgroup root '%s'", root);
		backend = sfs.f_type == CGROUP2_SUPER_MAGIC ? CGROUP_BACKEND_V2 : CGROUP_BACKEND_V1;
	}
	if (backend < 0 || backend >= _CGROUP_BACKEND_MAX)
		return carve_err(err, -EINVAL, "cgroup backend %d: unknown", (int)backend);

	m = calloc(1, sizeof(*m));
	if (!m)
		return carve_err(err, -ENOMEM, "out of memory");
	m->backend = backend;
	m->ops = backend_ops[backend];
	m->root = strdup(root);
	m->prefix = strdup(prefix);
	if (!m->root || !m->prefix)
		return carve_err(err, -ENOMEM, "out of memory");
	/* strip trailing slashes so that joined paths stay canonical */
	for (size_t n = strlen(m->root); n > 1 && m->root[n - 1] == '/'; n--)
		m->root[n - 1] = '\0';
	r = m->ops->setup(m, err);
	if (r < 0)
		return r;
	log_debug("cgroup manager %s at '%s' prefix '%s'%s", backend_names[backend], m->root,
		  m->prefix, m->fake ? " (not a cgroup filesystem)" : "");
	*ret = TAKE_PTR(m);
	return 0;
}

enum cgroup_backend cgroup_manager_backend(const struct cgroup_manager *m)
{
	return m->backend;
}

static int check_names(const char *tenant, const char *server, struct carve_error *err)
{
	if (!name_is_valid(tenant))
		return carve_err_field(err, -EINVAL, "tenant", "tenant name '%s': not valid",
				       tenant ? tenant : "");
	if (server && !name_is_valid(server))
		return carve_err_field(err, -EINVAL, "server", "server name '%s': not valid",
				       server);
	return 0;
}

static void rel_path(const struct cgroup_manager *m, const char *tenant, const char *server,
		     char *buf, size_t n)
{
	/* names are validated (<= 63 chars each) and n is PATH_MAX: this cannot truncate */
	if (server)
		snprintf(buf, n, "%s/%s/%s", m->prefix, tenant, server);
	else if (tenant)
		snprintf(buf, n, "%s/%s", m->prefix, tenant);
	else
		snprintf(buf, n, "%s", m->prefix);
}

/* mkdir rel in every hierarchy, enabling controllers in each parent on the way (v2) */
static int create_path(struct cgroup_manager *m, const char *tenant, const char *server,
		       struct carve_error *err)
{
	char prefix_rel[PATH_MAX], tenant_rel[PATH_MAX], server_rel[PATH_MAX];
	const char *levels[3] = {prefix_rel, tenant_rel, server ? server_rel : NULL};
	int r;

	rel_path(m, NULL, NULL, prefix_rel, sizeof(prefix_rel));
	rel_path(m, tenant, NULL, tenant_rel, sizeof(tenant_rel));
	rel_path(m, tenant, server, server_rel, sizeof(server_rel));
	for (size_t l = 0; l < ELEMENTSOF(levels) && levels[l]; l++) {
		for (size_t i = 0; i < m->n_hier; i++) {
			r = cg_mkdir(m->hier[i].path, levels[l], err);
			if (r < 0)
				return r;
		}
		if (l + 1 < ELEMENTSOF(levels) && levels[l + 1]) {
			r = m->ops->prepare_parent(m, levels[l], err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int cgroup_server_create(struct cgroup_manager *m, const char *tenant, const char *server,
			 const struct cgroup_limits *limits, struct carve_error *err)
{
	int r;

	r = check_names(tenant, server, err);
	if (r < 0)
		return r;
	r = create_path(m, tenant, server, err);
	if (r >= 0)
		r = cgroup_server_set_limits(m, tenant, server, limits, err);
	else
		carve_err_prefix(err, "cgroup '%s/%s/%s'", m->prefix, tenant, server);
	return r;
}

int cgroup_server_set_limits(struct cgroup_manager *m, const char *tenant, const char *server,
			     const struct cgroup_limits *limits, struct carve_error *err)
{
	static const struct cgroup_limits none = {0};
	char rel[PATH_MAX];
	int r;

	r = check_names(tenant, server, err);
	if (r < 0)
		return r;
	rel_path(m, tenant, server, rel, sizeof(rel));
	r = m->ops->set_limits(m, rel, false, limits ? limits : &none, err);
	if (r < 0) {
		carve_err_prefix(err, "cgroup '%s'", rel);
		return r;
	}
	return 0;
}

int cgroup_tenant_set_limits(struct cgroup_manager *m, const char *tenant,
			     const struct cgroup_limits *limits, struct carve_error *err)
{
	static const struct cgroup_limits none = {0};
	char rel[PATH_MAX];
	int r;

	r = check_names(tenant, NULL, err);
	if (r < 0)
		return r;
	r = create_path(m, tenant, NULL, err);
	rel_path(m, tenant, NULL, rel, sizeof(rel));
	if (r >= 0)
		r = m->ops->set_limits(m, rel, true, limits ? limits : &none, err);
	if (r < 0) {
		carve_err_prefix(err, "cgroup '%s'", rel);
		return r;
	}
	return 0;
}

int cgroup_server_attach(struct cgroup_manager *m, const char *tenant, const char *server,
			 pid_t pid, struct carve_error *err)
{
	char rel[PATH_MAX], v[32];
	int r;

	r = check_names(tenant, server, err);
	if (r < 0)
		return r;
	if (pid <= 0)
		return carve_err(err, -EINVAL, "attach: pid %d not valid", (int)pid);
	rel_path(m, tenant, server, rel, sizeof(rel));
	snprintf(v, sizeof(v), "%d", (int)pid);
	for (size_t i = 0; i < m->n_hier; i++) {
		r = cg_write(m, m->hier[i].path, rel, "cgroup.procs", v, err);
		if (r < 0) {
			carve_err_prefix(err, "cgroup '%s': attach %d", rel, (int)pid);
			return r;
		}
	}
	return 0;
}

int cgroup_server_freeze(struct cgroup_manager *m, const char *tenant, const char *server,
			 bool frozen, struct carve_error *err)
{
	char rel[PATH_MAX];
	int r;

	r = check_names(tenant, server, err);
	if (r < 0)
		return r;
	rel_path(m, tenant, server, rel, sizeof(rel));
	r = m->ops->freeze(m, rel, frozen, err);
	if (r < 0) {
		carve_err_prefix(err, "cgroup '%s'", rel);
		return r;
	}
	return 0;
}

int cgroup_server_populated(struct cgroup_manager *m, const char *tenant, const char *server,
			    bool *ret, struct carve_error *err)
{
	char rel[PATH_MAX];
	bool pop = false;
	int r;

	r = check_names(tenant, server, err);
	if (r < 0)
		return r;
	rel_path(m, tenant, server, rel, sizeof(rel));
	r = m->ops->populated(m, rel, &pop, err);
	if (r < 0) {
		carve_err_prefix(err, "cgroup '%s'", rel);
		return r;
	}
	*ret = pop;
	return 0;
}

int cgroup_server_destroy(struct cgroup_manager *m, const char *tenant, const char *server,
			  struct carve_error *err)
{
	char rel[PATH_MAX], tenant_rel[PATH_MAX];
	int r;

	r = check_names(tenant, server, err);
	if (r < 0)
		return r;
	rel_path(m, tenant, server, rel, sizeof(rel));
	rel_path(m, tenant, NULL, tenant_rel, sizeof(tenant_rel));
	r = m->ops->kill(m, rel, err);
	if (r < 0) {
		carve_err_prefix(err, "cgroup '%s'", rel);
		return r;
	}
	for (size_t i = 0; i < m->n_hier; i++) {
		/* a killed task leaves its cgroup only once it is fully gone: EBUSY for a while */
		for (int round = 0;; round++) {
			r = cg_rmdir_tree(m, m->hier[i].path, rel);
			if (r != -EBUSY || round >= RMDIR_ROUNDS)
				break;
			sleep_ms(10);
		}
		if (r < 0)
			return carve_err(err, r, "cgroup '%s': rmdir '%s/%s'", rel, m->hier[i].path,
					 rel);
		/* the tenant cgroup goes with its last server; others may still use it */
		r = cg_rmdir(m, m->hier[i].path, tenant_rel);
		if (r < 0 && r != -EBUSY && r != -ENOTEMPTY)
			return carve_err(err, r, "cgroup '%s': rmdir '%s/%s'", tenant_rel,
					 m->hier[i].path, tenant_rel);
	}
	return 0;
}

bool cgroup_manager_has_unified(const struct cgroup_manager *m)
{
	return m->backend == CGROUP_BACKEND_V2 || find_hier(m, "unified");
}

int cgroup_server_delegate(struct cgroup_manager *m, const char *tenant, const char *server,
			   uid_t uid, gid_t gid, struct carve_error *err)
{
	static const char *const files[] = {NULL, "cgroup.procs", "cgroup.threads",
					    "cgroup.subtree_control"};
	char rel[PATH_MAX], p[PATH_MAX];
	int r;

	r = check_names(tenant, server, err);
	if (r < 0)
		return r;
	rel_path(m, tenant, server, rel, sizeof(rel));
	for (size_t i = 0; i < m->n_hier; i++) {
		if (!streq(m->hier[i].controller, "") && !streq(m->hier[i].controller, "unified"))
			continue;
		for (size_t f = 0; f < ELEMENTSOF(files); f++) {
			if (path_join(p, sizeof(p), m->hier[i].path, rel, files[f]) < 0)
				return carve_err(err, -ENAMETOOLONG, "cgroup '%s': too long", rel);
			if (lchown(p, uid, gid) < 0 && (errno != ENOENT || !files[f]))
				return carve_err(err, -errno, "cgroup '%s': delegate '%s'", rel, p);
		}
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "servers"
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "base/fd-util.h"
#include "base/failpoint.h"
#include "base/log.h"
#include "base/string-util.h"
#include "daemon/api.h"
#include "daemon/backups.h"
#include "daemon/networks.h"
#include "daemon/servers.h"
#include "monitor/monitor.h"
#include "vm/vm.h"

/*
 * Set a server's state (and reason, pids) if it is in `from` (or any state when from < 0),
 * inside one transaction so that a concurrent PATCH or another task never interleaves.
 * -EBUSY when the state was not `from`.
 */
static int set_state(struct daemon *d, const char *id, int from, enum db_server_state to,
		     const char *reason, int64_t pid, int64_t monitor_pid)
{
	cleanup(db_server_freep) struct db_server *s = NULL;
	int r;

	r = db_transaction_begin(d->db, NULL);
	if (r < 0)
		return r;
	r = db_server_get_by_id(d->db, id, &s, NULL);
	if (r < 0)
		goto fail;
	if (from >= 0 && s->state != (enum db_server_state)from) {
		r = -EBUSY;
		goto fail;
	}
	s->state = to;
	free(s->state_reason);
	s->state_reason = reason ? strdup(reason) : NULL;
	s->pid = pid;
	s->monitor_pid = monitor_pid;
	s->updated_at = time(NULL);
	r = db_server_update(d->db, s, NULL);
	if (r < 0)
		goto fail;
	return db_transaction_commit(d->db, NULL);
fail:
	db_transaction_rollback(d->db);
	return r;
}

/* The pool holding a server's volumes. A pool that failed to open at start leaves its servers
 * pointing at the default pool, where their files are missing and every operation fails. */
static struct storage_pool *spool(struct daemon *d, const struct db_server *s)
{
	struct storage_pool *p = daemon_pool(d, s->pool);

	return p ? p : d->pool;
}

/* Where a server's root volume is mounted on the host while it runs (volumes only). */
static int rootfs_mountpoint(struct daemon *d, const char *id, char *buf, size_t len)
{
	char dir[PATH_MAX];
	int r = daemon_server_dir(d, id, dir, sizeof(dir));

	if (r < 0)
		return r;
	if ((size_t)snprintf(buf, len, "%s/rootfs", dir) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Where a server's data volume is mounted on the host while it runs (api-volumes.c agrees). */
static int data_mountpoint(struct daemon *d, const char *id, const char *volume_id, char *buf,
			   size_t len)
{
	char dir[PATH_MAX];
	int r = daemon_server_dir(d, id, dir, sizeof(dir));

	if (r < 0)
		return r;
	if ((size_t)snprintf(buf, len, "%s/volumes/%s", dir, volume_id) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* One I/O rule for the block device path lives on (cgroup I/O limits are per device): the loop
 * device of a mounted volume, or the pool's device for a VM's raw disk. Paths on filesystems
 * without a block device (major 0) and devices already listed are skipped. */
static void add_io_device(const struct db_server *s, const char *path, struct cgroup_limits *l)
{
	struct stat st;

	if (l->n_io >= CGROUP_IO_DEVICES_MAX || stat(path, &st) < 0 || major(st.st_dev) == 0)
		return;
	for (size_t i = 0; i < l->n_io; i++)
		if (l->io[i].major == major(st.st_dev) && l->io[i].minor == minor(st.st_dev))
			return;
	l->io[l->n_io++] = (struct cgroup_io_limit){
		.major = major(st.st_dev),
		.minor = minor(st.st_dev),
		.read_bps = s->io.read_bps,
		.write_bps = s->io.write_bps,
		.read_iops = s->io.read_iops,
		.write_iops = s->io.write_iops,
	};
}

int servers_limits(struct daemon *d, const struct db_server *s, struct cgroup_limits *ret,
		   struct carve_error *err)
{
	struct db_volume **vols = NULL;
	char path[PATH_MAX];
	size_t n = 0;
	int r;

	*ret = (struct cgroup_limits){
		.vcpus = s->vcpus,
		.memory_max = s->memory,
		.pids_max = s->pids_max,
	};
	if (streq(s->kind, "vm")) {
		const struct vm_config vc = {.vcpus = s->vcpus ? s->vcpus : 1,
					     .memory = s->memory,
					     .accel = VM_ACCEL_AUTO};

		/* guest RAM plus QEMU's own overhead, as the monitor sets it */
		ret->memory_max = vm_memory_limit(&vc);
		if (!d->volumes)
			return 0;
		if (storage_volume_path(spool(d, s), s->id, path, sizeof(path)) >= 0)
			add_io_device(s, path, ret);
		/* its data volumes are raw files in their pools too */
		r = db_volume_list_by_server(d->db, s->id, &vols, &n, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++) {
			struct storage_pool *p = daemon_pool(d, vols[i]->pool);

			if (p && storage_volume_path(p, vols[i]->id, path, sizeof(path)) >= 0)
				add_io_device(s, path, ret);
		}
		db_volume_list_free(vols, n);
		return 0;
	}
	if (!d->volumes)
		return 0;
	if (rootfs_mountpoint(d, s->id, path, sizeof(path)) >= 0)
		add_io_device(s, path, ret);
	r = db_volume_list_by_server(d->db, s->id, &vols, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (data_mountpoint(d, s->id, vols[i]->id, path, sizeof(path)) >= 0)
			add_io_device(s, path, ret);
	db_volume_list_free(vols, n);
	return 0;
}

int servers_apply_limits(struct daemon *d, const struct db_server *s, struct carve_error *err)
{
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	struct cgroup_limits l;
	int r;

	if (!d->cgroups)
		return 0;
	r = db_tenant_get_by_id(d->db, s->tenant_id, &t, err);
	if (r >= 0)
		r = servers_limits(d, s, &l, err);
	if (r >= 0)
		r = cgroup_server_set_limits(d->cgroups, t->name, s->name, &l, err);
	return r;
}

/* The data volumes attached to a server, mounted on the host and described for the monitor. */
struct data_mounts {
	struct db_volume **volumes;
	size_t n;
	char (*sources)[PATH_MAX];
	struct monitor_mount *mounts;
};

static void data_mounts_release(struct data_mounts *m)
{
	db_volume_list_free(m->volumes, m->n);
	free(m->sources);
	free(m->mounts);
	*m = (struct data_mounts){0};
}

/* Attach and mount every data volume of the server; on failure the caller releases them with
 * release_volume(). */
static int attach_data_volumes(struct daemon *d, const char *id, struct data_mounts *m,
			       struct carve_error *err)
{
	struct storage_pool *pool = NULL;
	int r;

	r = db_volume_list_by_server(d->db, id, &m->volumes, &m->n, err);
	if (r < 0 || m->n == 0)
		return r;
	m->sources = calloc(m->n, sizeof(*m->sources));
	m->mounts = calloc(m->n, sizeof(*m->mounts));
	if (!m->sources || !m->mounts)
		return carve_err(err, -ENOMEM, "data volumes");
	for (size_t i = 0; i < m->n; i++) {
		const struct db_volume *v = m->volumes[i];

		/* the attach refuses it; a row that got here otherwise is not trusted either */
		if (v->guest_written)
			return carve_err(
				err, -EPERM,
				"volume '%s' has been a VM's disk: the host does not mount "
				"it; detach it",
				v->name);
		r = data_mountpoint(d, id, v->id, m->sources[i], sizeof(m->sources[i]));
		if (r < 0)
			return carve_err(err, r, "volume '%s': mount point", v->name);
		r = mkdir_p(m->sources[i], 0700);
		if (r < 0)
			return carve_err(err, r, "volume '%s': create '%s'", v->name,
					 m->sources[i]);
		r = daemon_pool_of(d, v->pool, &pool, err);
		if (r >= 0)
			r = storage_volume_attach(pool, v->id, m->sources[i], 0, NULL, 0, err);
		if (r < 0)
			return carve_err_prefix(err, "volume '%s'", v->name);
		m->mounts[i] = (struct monitor_mount){.source = m->sources[i], .target = v->path};
	}
	return 0;
}

/* A VM's data volumes: never mounted on the host, handed to QEMU as raw disks in the order of
 * their device names (/dev/vdb, /dev/vdc, ...). */
static int vm_data_disks(struct daemon *d, const char *id, struct data_mounts *m,
			 const char **paths, struct carve_error *err)
{
	struct storage_pool *pool = NULL;
	int r;

	r = db_volume_list_by_server(d->db, id, &m->volumes, &m->n, err);
	if (r < 0 || m->n == 0)
		return r;
	if (m->n > 14)
		return carve_err(err, -E2BIG, "a VM takes at most 14 data volumes, it has %zu",
				 m->n);
	m->sources = calloc(m->n, sizeof(*m->sources));
	if (!m->sources)
		return carve_err(err, -ENOMEM, "data volumes");
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = i + 1; j < m->n; j++)
			if (strcmp(m->volumes[j]->path ? m->volumes[j]->path : "",
				   m->volumes[i]->path ? m->volumes[i]->path : "") < 0) {
				struct db_volume *t = m->volumes[i];

				m->volumes[i] = m->volumes[j];
				m->volumes[j] = t;
			}
	for (size_t i = 0; i < m->n; i++) {
		const struct db_volume *v = m->volumes[i];

		r = daemon_pool_of(d, v->pool, &pool, err);
		if (r >= 0)
			r = storage_volume_path(pool, v->id, m->sources[i], sizeof(m->sources[i]));
		if (r < 0)
			return carve_err_prefix(err, "volume '%s'", v->name);
		paths[i] = m->sources[i];
	}
	return 0;
}

int servers_cloud_init_parse(json_t *o, struct vm_seed *seed, const char *keys[33],
			     struct carve_error *err)
{
	static const char *const members[] = {"user", "password_hash", "ssh_keys"};
	json_t *v, *list = json_object_get(o, "ssh_keys");
	const char *key;
	size_t i;

	if (!json_is_object(o))
		return carve_err_field(err, -EINVAL, "cloud_init",
				       "cloud_init: an object with user, password_hash, ssh_keys");
	json_object_foreach (o, key, v) {
		bool known = false;

		for (i = 0; i < ELEMENTSOF(members); i++)
			known = known || streq(key, members[i]);
		if (!known)
			return carve_err_field(err, -EINVAL, "cloud_init",
					       "cloud_init: unknown member '%.32s'", key);
		if (!streq(key, "ssh_keys") && !json_is_string(v))
			return carve_err_field(err, -EINVAL, "cloud_init",
					       "cloud_init: %s: a string", key);
	}
	if (list && (!json_is_array(list) || json_array_size(list) > 32))
		return carve_err_field(err, -EINVAL, "cloud_init",
				       "cloud_init: ssh_keys: at most 32 strings");
	memset(keys, 0, 33 * sizeof(*keys));
	json_array_foreach (list, i, v) {
		if (!json_is_string(v))
			return carve_err_field(err, -EINVAL, "cloud_init",
					       "cloud_init: ssh_keys: strings");
		keys[i] = json_string_value(v);
	}
	seed->user = json_string_value(json_object_get(o, "user"));
	seed->password_hash = json_string_value(json_object_get(o, "password_hash"));
	seed->ssh_keys = keys;
	return 0;
}

/* A VM's cloud-init NoCloud seed, rebuilt at every start into its run directory (instance id:
 * the server's id; hostname: its name), owned by its QEMU's uid, read-only. */
static int build_seed(const struct db_server *s, const char *dir, uint32_t uid, char *path,
		      size_t len, struct carve_error *err)
{
	cleanup_json json_t *o = json_loads(s->cloud_init, 0, NULL);
	const char *keys[33];
	struct vm_seed seed = {.instance_id = s->id, .hostname = s->name};
	int r;

	r = servers_cloud_init_parse(o, &seed, keys, err);
	if (r < 0)
		return r;
	if ((size_t)snprintf(path, len, "%s/seed.img", dir) >= len)
		return carve_err(err, -ENAMETOOLONG, "seed path");
	(void)unlink(path);
	r = vm_seed_build(&seed, path, err);
	if (r < 0)
		return carve_err_prefix(err, "cloud-init seed");
	if (chown(path, uid, uid) < 0 || chmod(path, 0400) < 0)
		return carve_err(err, -errno, "cloud-init seed '%s'", path);
	return 0;
}

/* Unmount and detach a stopped server's data volumes; idempotent. */
static int release_data_volumes(struct daemon *d, const char *id, struct carve_error *err)
{
	struct db_volume **l = NULL;
	char mnt[PATH_MAX];
	size_t n = 0;
	int r, ret = 0;

	r = db_volume_list_by_server(d->db, id, &l, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct storage_pool *pool = daemon_pool(d, l[i]->pool);

		r = data_mountpoint(d, id, l[i]->id, mnt, sizeof(mnt));
		if (r >= 0 && pool)
			r = storage_volume_detach(pool, l[i]->id, mnt, ret < 0 ? NULL : err);
		else
			carve_err(ret < 0 ? NULL : err, r, "volume '%s': mount point", l[i]->name);
		if (r < 0 && ret == 0)
			ret = r;
	}
	db_volume_list_free(l, n);
	return ret;
}

/* Held around a freeze for a snapshot and around each trim: a trim never runs on a frozen
 * filesystem (FITRIM would wait for the thaw) and a snapshot never waits behind a long trim of
 * the same volume for more than one volume's trim. Backups and restores, which freeze by
 * themselves, are kept away by backups_claim() instead. Unmounts take it too, so that a trim
 * holding a volume's mount root open never makes a stop's unmount fail with EBUSY. */
static pthread_mutex_t freeze_lock = PTHREAD_MUTEX_INITIALIZER;

/* Unmount and detach a stopped server's root and data volumes; idempotent. */
static int release_volume_locked(struct daemon *d, const char *id, struct carve_error *err)
{
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct storage_pool *pool = d->pool;
	char mnt[PATH_MAX];
	int r;

	if (!d->volumes)
		return 0;
	r = release_data_volumes(d, id, err);
	if (r < 0)
		return r;
	r = rootfs_mountpoint(d, id, mnt, sizeof(mnt));
	if (r < 0)
		return carve_err(err, r, "volume paths");
	if (db_server_get_by_id(d->db, id, &s, NULL) >= 0)
		pool = spool(d, s);
	return storage_volume_detach(pool, id, mnt, err);
}

static int release_volume(struct daemon *d, const char *id, struct carve_error *err)
{
	int r;

	pthread_mutex_lock(&freeze_lock);
	r = release_volume_locked(d, id, err);
	pthread_mutex_unlock(&freeze_lock);
	return r;
}

static int trim_one(struct storage_pool *pool, const char *volume, const char *mnt,
		    uint64_t *trimmed, unsigned *volumes, struct carve_error *err)
{
	uint64_t t = 0;
	int r;

	pthread_mutex_lock(&freeze_lock);
	r = storage_volume_trim(pool, volume, mnt, &t, err);
	pthread_mutex_unlock(&freeze_lock);
	if (r == -ENOTCONN) /* not mounted on the host (a VM's disk, a stopped server) */
		return 0;
	if (r < 0)
		return r;
	*trimmed += t;
	(*volumes)++;
	return 0;
}

int servers_trim_volumes(struct daemon *d, const struct db_server *s,
			 const struct storage_pool *only, uint64_t *ret_trimmed,
			 unsigned *ret_volumes, struct carve_error *err)
{
	struct db_volume **l = NULL;
	char mnt[PATH_MAX];
	size_t n = 0;
	int r, ret = 0;

	if (!d->volumes)
		return 0;
	r = backups_claim(d, s->id, "trim", err);
	if (r < 0)
		return carve_err_prefix(err, "server '%s'", s->name);
	if (!only || only == spool(d, s)) {
		r = rootfs_mountpoint(d, s->id, mnt, sizeof(mnt));
		if (r < 0)
			ret = carve_err(err, r, "server '%s': volume paths", s->name);
		else
			ret = trim_one(spool(d, s), s->id, mnt, ret_trimmed, ret_volumes, err);
	}
	if (ret >= 0)
		ret = db_volume_list_by_server(d->db, s->id, &l, &n, err);
	for (size_t i = 0; ret >= 0 && i < n; i++) {
		struct storage_pool *pool = daemon_pool(d, l[i]->pool);

		if (!pool || (only && pool != only))
			continue;
		r = data_mountpoint(d, s->id, l[i]->id, mnt, sizeof(mnt));
		if (r < 0)
			ret = carve_err(err, r, "volume '%s': mount point", l[i]->name);
		else
			ret = trim_one(pool, l[i]->id, mnt, ret_trimmed, ret_volumes, err);
	}
	db_volume_list_free(l, n);
	backups_release(s->id);
	if (ret < 0)
		carve_err_prefix(err, "server '%s'", s->name);
	return ret;
}

/* Before a stopped server's volumes are unmounted: trim them and then their pools, so what the
 * tenant deleted goes back to the pool and the host. Best effort: failures are logged only. */
static void trim_on_stop(struct daemon *d, const struct db_server *s)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_pool *pools[DAEMON_POOLS_MAX + 1] = {spool(d, s)};
	struct db_volume **l = NULL;
	uint64_t trimmed = 0;
	unsigned volumes = 0;
	size_t n = 0, np = 1;

	if (!d->volumes)
		return;
	if (servers_trim_volumes(d, s, NULL, &trimmed, &volumes, &err) < 0) {
		log_warning("server '%s': trim before unmount: %s", s->name, err.msg);
		return;
	}
	if (volumes == 0)
		return;
	if (db_volume_list_by_server(d->db, s->id, &l, &n, NULL) >= 0)
		for (size_t i = 0; i < n; i++) {
			struct storage_pool *p = daemon_pool(d, l[i]->pool);
			bool seen = !p;

			for (size_t j = 0; j < np && !seen; j++)
				seen = pools[j] == p;
			if (!seen && np < ELEMENTSOF(pools))
				pools[np++] = p;
		}
	db_volume_list_free(l, n);
	for (size_t i = 0; i < np; i++) {
		carve_err_clear(&err);
		if (storage_pool_trim(pools[i], NULL, &err) < 0)
			log_warning("server '%s': trim its pool: %s", s->name, err.msg);
	}
	log_debug("server '%s': trimmed %u volumes (%llu bytes free) before unmount", s->name,
		  volumes, (unsigned long long)trimmed);
}

static void exit_reason(const struct monitor_status *st, const char *when, char *buf, size_t len)
{
	if (!st->exited)
		snprintf(buf, len, "init is gone%s", when);
	else if (st->exit_signal > 0)
		snprintf(buf, len, "init was killed by signal %d (%s)%s", st->exit_signal,
			 strsignal(st->exit_signal), when);
	else
		snprintf(buf, len, "init exited with status %d%s", st->exit_status, when);
}

static int progress_cb(uint64_t done, uint64_t total, void *userdata)
{
	task_progress(userdata, done, total, "bytes");
	return 0;
}

int server_task_create(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err)
{
	const struct server_op *op = userdata;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_template_freep) struct db_template *tpl = NULL;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	struct storage_clone_opts opts = {0};
	int r;

	r = db_server_get_by_id(d->db, op->server_id, &s, err);
	if (r < 0)
		return r;
	r = db_template_get_by_id(d->db, s->template_id, &tpl, err);
	if (r >= 0)
		r = db_tenant_get_by_id(d->db, s->tenant_id, &t, err);
	if (r < 0)
		goto fail;
	if (d->volumes) {
		if (!tpl->volume) {
			r = carve_err(err, -ENOMEDIUM, "template '%s' has no volume", tpl->name);
			goto fail;
		}
		task_progress(ctx, 1, 3, "steps");
		if (op->snapshot[0])
			r = storage_volume_clone_snapshot(spool(d, s), op->source_server_id,
							  op->snapshot, s->id, err);
		else {
			/* a pool added later gets its own copy of the template's volume */
			if (storage_volume_exists(spool(d, s), tpl->volume) <= 0) {
				r = storage_volume_create_from_dir(spool(d, s), tpl->volume,
								   tpl->disk_min, tpl->rootfs_path,
								   err);
				if (r < 0 && r != -EEXIST)
					goto fail;
				carve_err_clear(err);
			}
			r = storage_volume_clone(spool(d, s), tpl->volume, s->id, err);
		}
		if (r < 0)
			goto fail;
		task_progress(ctx, 2, 3, "steps");
		if (!op->snapshot[0] && s->disk > tpl->disk_min) {
			/* a VM's disk grows as a file; a container's ext4 grows with it */
			r = streq(s->kind, "vm")
				    ? storage_volume_resize_raw(spool(d, s), s->id, s->disk, err)
				    : storage_volume_resize(spool(d, s), s->id, s->disk, err);
			if (r < 0) {
				carve_err_prefix(err, "disk");
				(void)storage_volume_destroy(spool(d, s), s->id, NULL);
				goto fail;
			}
		}
		task_progress(ctx, 3, 3, "steps");
	} else {
		opts.uid_shift = daemon_tenant_uid_base(d, t);
		opts.gid_shift = opts.uid_shift;
		opts.id_range = 65536;
		opts.progress = progress_cb;
		opts.userdata = ctx;
		r = storage_volume_clone_tree(spool(d, s), tpl->rootfs_path, s->id, &opts, err);
		if (r < 0)
			goto fail;
	}
	CARVE_FAILPOINT("server-create-copied");
	housekeeping_kick(d->housekeeping);
	r = set_state(d, s->id, DB_SERVER_CREATING, DB_SERVER_STOPPED, NULL, 0, 0);
	if (r < 0) {
		carve_err(err, r, "server '%s': record state", s->name);
		goto fail;
	}
	return 0;
fail:
	carve_err_prefix(err, "server '%s': create", s->name);
	(void)set_state(d, s->id, DB_SERVER_CREATING, DB_SERVER_ERROR, err->msg, 0, 0);
	return err->code ? err->code : r;
}

static int do_start(struct daemon *d, struct task_ctx *ctx, const char *id, struct carve_error *err)
{
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_template_freep) struct db_template *tpl = NULL;
	cleanup(db_tenant_freep) struct db_tenant *t = NULL;
	char dir[PATH_MAX], rootfs[PATH_MAX], path[PATH_MAX + 32], append[128];
	struct monitor_config cfg = {0};
	struct cgroup_limits limits;
	const char *vm_disks[16] = {0};
	char seed[PATH_MAX + 16];
	struct daemon_vm_nics vm_nics;
	cleanup(data_mounts_release) struct data_mounts data = {0};
	pid_t mpid = 0, ipid = 0;
	bool attached = false;
	int r;

	r = db_server_get_by_id(d->db, id, &s, err);
	if (r < 0)
		return r;
	r = db_template_get_by_id(d->db, s->template_id, &tpl, err);
	if (r >= 0)
		r = db_tenant_get_by_id(d->db, s->tenant_id, &t, err);
	if (r < 0)
		goto fail;
	task_progress(ctx, 1, 3, "steps");
	r = daemon_server_dir(d, s->id, dir, sizeof(dir));
	if (r >= 0)
		r = d->volumes && !streq(s->kind, "vm")
			    ? rootfs_mountpoint(d, s->id, rootfs, sizeof(rootfs))
			    : storage_volume_path(spool(d, s), s->id, rootfs, sizeof(rootfs));
	if (r < 0) {
		carve_err(err, r, "paths");
		goto fail;
	}
	if (streq(s->kind, "vm") && !d->volumes) {
		r = carve_err(err, -EOPNOTSUPP, "kind 'vm' needs a volume pool");
		goto fail;
	}
	/* a VM's root volume is its raw disk: never mounted on the host */
	r = mkdir_p(d->volumes && !streq(s->kind, "vm") ? rootfs : dir, 0700);
	if (r < 0) {
		carve_err(err, r, "create '%s'", dir);
		goto fail;
	}
	if (d->volumes && !streq(s->kind, "vm")) {
		/* a volume left attached by a crash is released first */
		(void)release_volume(d, s->id, NULL);
		r = storage_volume_attach(spool(d, s), s->id, rootfs, 0, NULL, 0, err);
		if (r < 0)
			goto fail;
		attached = true;
	}
	if (d->volumes && !streq(s->kind, "vm")) {
		r = attach_data_volumes(d, s->id, &data, err);
		if (r < 0)
			goto fail;
	}
	if (d->volumes && streq(s->kind, "vm")) {
		r = vm_data_disks(d, s->id, &data, vm_disks, err);
		if (r < 0)
			goto fail;
	}
	CARVE_FAILPOINT("server-start-attached");
	/* after the attach: the I/O rules name the volumes' loop devices */
	r = servers_limits(d, s, &limits, err);
	if (r < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/exit.json", dir);
	(void)unlink(path);

	cfg.server_id = s->id;
	cfg.server_name = s->name;
	cfg.tenant_name = t->name;
	cfg.rootfs = rootfs;
	cfg.init = tpl->init;
	cfg.stop_signal = tpl->stop_signal;
	cfg.uid_base = daemon_tenant_uid_base(d, t);
	cfg.vcpus = s->vcpus;
	cfg.memory = s->memory;
	cfg.cgroup_root = d->cgroup_root;
	cfg.cgroup_prefix = d->cgroup_prefix;
	cfg.idmap_rootfs = d->volumes;
	cfg.net_admin = daemon_net_server_configures(d, s->id);
	cfg.mounts = data.mounts;
	cfg.n_mounts = data.n;
	cfg.pids_max = limits.pids_max;
	cfg.io = limits.io;
	cfg.n_io = limits.n_io;
	cfg.lxcfs_dir = lxcfs_dir(d);
	cfg.system = tpl->system;
	if (streq(s->kind, "vm")) {
		r = daemon_net_vm_nics(d, s->id, &vm_nics, err);
		if (r < 0) {
			carve_err_prefix(err, "network");
			goto fail;
		}
		cfg.nic_ifnames = vm_nics.ifnames;
		cfg.nic_macs = vm_nics.macs;
		cfg.n_nics = vm_nics.n;
		/* vm templates: rootfs_path is the kernel, init the initrd (templates.c) */
		snprintf(append, sizeof(append), "console=ttyS0 panic=-1 carve.token=%s", s->id);
		cfg.kind = "vm";
		cfg.vm_uid = daemon_vm_uid(d, s);
		cfg.machine = s->machine[0] ? s->machine : "q35";
		if (s->cloud_init) {
			r = build_seed(s, dir, cfg.vm_uid, seed, sizeof(seed), err);
			if (r < 0)
				goto fail;
			cfg.seed = seed;
		}
		cfg.data_disks = vm_disks;
		cfg.n_data_disks = data.n;
		cfg.mounts = NULL;
		cfg.n_mounts = 0;
		/* a template from a disk image has no kernel: the firmware boots the disk */
		cfg.kernel = tpl->rootfs_path && tpl->rootfs_path[0] ? tpl->rootfs_path : NULL;
		cfg.initrd = cfg.kernel && tpl->init && tpl->init[0] ? tpl->init : NULL;
		cfg.append = cfg.kernel ? append : NULL;
		cfg.disk = rootfs;
		cfg.rootfs = NULL;
		cfg.init = NULL;
		cfg.idmap_rootfs = false;
	}
	task_progress(ctx, 2, 3, "steps");
	r = monitor_launch(d->monitor_binary, d->monitor_fd, dir, &cfg, 15000, &mpid, &ipid, err);
	if (r < 0)
		goto fail;
	CARVE_FAILPOINT("server-start-launched");
	if (!streq(s->kind, "vm") && daemon_net_server_started(d, s->id, ipid, err) < 0) {
		/* a server without the interfaces it was given does not run */
		(void)monitor_kill(dir, NULL);
		(void)monitor_wait(dir, 5000, &(struct monitor_status){0}, NULL);
		carve_err_prefix(err, "network");
		goto fail_stopped;
	}
	carve_err_clear(err);
	if (daemon_tenant_apply_limits(d, t, err) < 0) {
		log_warning("tenant '%s': caps not applied: %s", t->name, err->msg);
		carve_err_clear(err);
	}
	r = set_state(d, s->id, DB_SERVER_STARTING, DB_SERVER_RUNNING, NULL, ipid, mpid);
	if (r < 0) {
		carve_err(err, r, "record state");
		goto fail;
	}
	r = watcher_add(d->watcher, s->id);
	if (r < 0)
		log_warning_errno(r, "server '%s': cannot watch its monitor", s->name);
	task_progress(ctx, 3, 3, "steps");
	log_info("server '%s' (tenant '%s') running, init pid %d", s->name, t->name, (int)ipid);
	return 0;
fail_stopped:
	mpid = 0; /* the monitor is gone: release like a failed launch */
fail:
	if (attached && mpid == 0)
		(void)release_volume(d, s->id, NULL);
	carve_err_prefix(err, "server '%s': start", s->name);
	(void)set_state(d, s->id, DB_SERVER_STARTING, DB_SERVER_ERROR, err->msg, 0, 0);
	return err->code ? err->code : r;
}

int servers_volume_snapshot(struct daemon *d, const struct db_server *s, const char *snapshot,
			    struct carve_error *err)
{
	struct carve_error e = CARVE_ERROR_INIT;
	char path[PATH_MAX];
	int r;

	if (streq(s->kind, "vm")) {
		if (s->state == DB_SERVER_PAUSED)
			return carve_err(err, -EBUSY,
					 "server '%s' is paused (its QEMU frozen mid-I/O): resume "
					 "it first",
					 s->name);
		if (s->state != DB_SERVER_RUNNING)
			return storage_volume_snapshot(spool(d, s), s->id, snapshot, err);
		/* QMP stop halts the vCPUs and drains the guest's I/O into the raw file
		 * (cache=none): the reflink then holds what a power cut at that instant would */
		r = daemon_server_dir(d, s->id, path, sizeof(path));
		if (r < 0)
			return carve_err(err, r, "server '%s'", s->name);
		r = monitor_vm_pause(path, true, err);
		if (r < 0)
			return carve_err_prefix(err, "pause the guest");
		CARVE_FAILPOINT("server-snapshot-vm-paused");
		r = storage_volume_snapshot(spool(d, s), s->id, snapshot, err);
		if (monitor_vm_pause(path, false, &e) < 0) {
			log_error("server '%s': the guest stays paused after snapshot '%s': %s",
				  s->name, snapshot, e.msg);
			if (r >= 0) {
				(void)storage_volume_snapshot_delete(spool(d, s), s->id, snapshot,
								     NULL);
				r = carve_err(err, e.code, "resume the guest: %s", e.msg);
			}
		}
		return r;
	}
	r = rootfs_mountpoint(d, s->id, path, sizeof(path));
	if (r < 0)
		return carve_err(err, r, "server '%s'", s->name);
	/* A running server's filesystem is frozen around the reflink (which also writes its
	 * dirty pages first), so the snapshot is consistent. A paused server's processes are
	 * frozen already (FIFREEZE could wait forever on one frozen inside a write): its dirty
	 * pages are written with syncfs. A stopped one is not mounted and needs nothing. */
	if (s->state == DB_SERVER_RUNNING) {
		pthread_mutex_lock(&freeze_lock);
		r = storage_volume_snapshot_frozen(spool(d, s), s->id, snapshot, path, err);
		pthread_mutex_unlock(&freeze_lock);
		return r;
	}
	if (s->state == DB_SERVER_PAUSED) {
		cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || syncfs(fd) < 0)
			return carve_err(err, -errno, "server '%s': sync '%s'", s->name, path);
	}
	return storage_volume_snapshot(spool(d, s), s->id, snapshot, err);
}

int server_task_snapshot(struct daemon *d, struct task_ctx *ctx, void *userdata,
			 struct carve_error *err)
{
	const struct server_op *op = userdata;
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct db_snapshot snap = {0};
	int r;

	r = db_server_get_by_id(d->db, op->server_id, &s, err);
	if (r < 0)
		return r;
	r = servers_volume_snapshot(d, s, op->snapshot, err);
	if (r < 0)
		return carve_err_prefix(err, "server '%s': snapshot '%s'", s->name, op->snapshot);
	CARVE_FAILPOINT("server-snapshot-taken");
	strscpy(snap.server_id, s->id, sizeof(snap.server_id));
	strscpy(snap.name, op->snapshot, sizeof(snap.name));
	snap.size = s->disk;
	r = db_snapshot_create(d->db, &snap, err);
	if (r < 0) {
		(void)storage_volume_snapshot_delete(spool(d, s), s->id, op->snapshot, NULL);
		return carve_err_prefix(err, "server '%s'", s->name);
	}
	housekeeping_kick(d->housekeeping);
	log_info("server '%s': snapshot '%s' taken", s->name, op->snapshot);
	return 0;
}

int server_task_rollback(struct daemon *d, struct task_ctx *ctx, void *userdata,
			 struct carve_error *err)
{
	const struct server_op *op = userdata;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(db_snapshot_freep) struct db_snapshot *snap = NULL;
	int r;

	r = db_server_get_by_id(d->db, op->server_id, &s, err);
	if (r >= 0)
		r = db_snapshot_get(d->db, s->id, op->snapshot, &snap, err);
	if (r < 0)
		return r;
	if (s->state != DB_SERVER_STOPPED && s->state != DB_SERVER_ERROR)
		return carve_err(err, -EBUSY, "server '%s' is %s: stop it before rolling back",
				 s->name, db_server_state_to_string(s->state));
	/* the volume is replaced atomically (rename); a running start would hold it attached
	 * and make this fail with EBUSY rather than swap it under the server */
	r = storage_volume_rollback(spool(d, s), s->id, op->snapshot, err);
	if (r < 0)
		return carve_err_prefix(err, "server '%s': rollback to '%s'", s->name,
					op->snapshot);
	if (snap->size && snap->size != s->disk) {
		cleanup(db_server_freep) struct db_server *cur = NULL;
		/* the disk is the snapshot's size again */
		if (db_server_get_by_id(d->db, s->id, &cur, NULL) >= 0) {
			cur->disk = snap->size;
			(void)db_server_update(d->db, cur, NULL);
		}
	}
	log_info("server '%s' rolled back to snapshot '%s'", s->name, op->snapshot);
	return 0;
}

int server_task_start(struct daemon *d, struct task_ctx *ctx, void *userdata,
		      struct carve_error *err)
{
	const struct server_op *op = userdata;
	return do_start(d, ctx, op->server_id, err);
}

static int do_stop(struct daemon *d, const char *id, struct carve_error *err)
{
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct monitor_status st = {0};
	char dir[PATH_MAX], reason[256];
	int r;

	r = db_server_get_by_id(d->db, id, &s, err);
	if (r < 0)
		return r;
	r = daemon_server_dir(d, s->id, dir, sizeof(dir));
	if (r < 0)
		return carve_err(err, r, "server '%s'", s->name);
	/* a paused server must run to hear the stop signal */
	if (d->cgroups) {
		cleanup(db_tenant_freep) struct db_tenant *t = NULL;
		if (db_tenant_get_by_id(d->db, s->tenant_id, &t, NULL) >= 0)
			(void)cgroup_server_freeze(d->cgroups, t->name, s->name, false, NULL);
	}
	r = monitor_stop(dir, d->stop_timeout, err);
	if (r < 0 && r != -ENOENT && r != -ECONNREFUSED)
		goto fail;
	carve_err_clear(err);
	r = monitor_wait(dir, (d->stop_timeout + 10) * 1000, &st, err);
	if (r < 0)
		goto fail;
	exit_reason(&st, "", reason, sizeof(reason));
	trim_on_stop(d, s);
	r = release_volume(d, s->id, err);
	if (r < 0)
		goto fail;
	r = set_state(d, s->id, DB_SERVER_STOPPING, DB_SERVER_STOPPED, reason, 0, 0);
	if (r < 0) {
		carve_err(err, r, "record state");
		goto fail;
	}
	log_info("server '%s' stopped: %s", s->name, reason);
	return 0;
fail:
	carve_err_prefix(err, "server '%s': stop", s->name);
	(void)set_state(d, s->id, DB_SERVER_STOPPING, DB_SERVER_ERROR, err->msg, 0, 0);
	return err->code ? err->code : r;
}

int server_task_stop(struct daemon *d, struct task_ctx *ctx, void *userdata,
		     struct carve_error *err)
{
	const struct server_op *op = userdata;
	return do_stop(d, op->server_id, err);
}

int server_task_restart(struct daemon *d, struct task_ctx *ctx, void *userdata,
			struct carve_error *err)
{
	const struct server_op *op = userdata;
	int r = do_stop(d, op->server_id, err);

	if (r < 0)
		return r;
	r = set_state(d, op->server_id, DB_SERVER_STOPPED, DB_SERVER_STARTING, NULL, 0, 0);
	if (r < 0)
		return carve_err(err, r, "restart: server changed state while stopped");
	return do_start(d, ctx, op->server_id, err);
}

/* Forget which data volumes a deleted server had (they are unmounted already). */
static int detach_data_volumes(struct daemon *d, const char *id, struct carve_error *err)
{
	struct db_volume **l = NULL;
	size_t n = 0;
	int r;

	r = db_volume_list_by_server(d->db, id, &l, &n, err);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		l[i]->server_id[0] = '\0';
		free(l[i]->path);
		l[i]->path = NULL;
		r = db_volume_update(d->db, l[i], err);
	}
	db_volume_list_free(l, n);
	return r < 0 ? r : 0;
}

static int destroy(struct daemon *d, const struct db_server *s, struct carve_error *err)
{
	char dir[PATH_MAX];
	int r;

	r = release_volume(d, s->id, err);
	CARVE_FAILPOINT("server-delete-detached");
	if (r >= 0)
		r = storage_volume_destroy(spool(d, s), s->id, err);
	if (r < 0)
		return r;
	CARVE_FAILPOINT("server-delete-volume-gone");
	if (daemon_server_dir(d, s->id, dir, sizeof(dir)) >= 0)
		(void)rm_rf(dir);
	/* its data volumes survive it, detached */
	r = detach_data_volumes(d, s->id, err);
	if (r < 0)
		return r;
	r = db_server_delete(d->db, s->id, err);
	if (r >= 0)
		daemon_net_server_deleted(d); /* its interfaces and ports went with the row */
	return r;
}

int server_task_delete(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err)
{
	const struct server_op *op = userdata;
	cleanup(db_server_freep) struct db_server *s = NULL;
	int r;

	r = db_server_get_by_id(d->db, op->server_id, &s, err);
	if (r < 0)
		return r;
	r = destroy(d, s, err);
	if (r < 0) {
		carve_err_prefix(err, "server '%s': delete", s->name);
		(void)set_state(d, s->id, DB_SERVER_DELETING, DB_SERVER_ERROR, err->msg, 0, 0);
		return r;
	}
	log_info("server '%s' deleted", s->name);
	return 0;
}

/* --- watcher ------------------------------------------------------------------------------ */

struct watch {
	char server_id[33];
	int fd;
	struct watch *prev, *next;
};

struct watcher {
	struct daemon *d;
	int epfd;
	int stop_fd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* guards the list of watches */
	struct watch *head;
};

static void watch_unlink(struct watcher *w, struct watch *wt)
{
	pthread_mutex_lock(&w->lock);
	if (wt->prev)
		wt->prev->next = wt->next;
	else
		w->head = wt->next;
	if (wt->next)
		wt->next->prev = wt->prev;
	pthread_mutex_unlock(&w->lock);
}

static void on_monitor_gone(struct daemon *d, const char *id)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(db_server_freep) struct db_server *s = NULL;
	struct monitor_status st = {0};
	char dir[PATH_MAX], reason[256];

	if (db_server_get_by_id(d->db, id, &s, NULL) < 0)
		return;
	if (daemon_server_dir(d, id, dir, sizeof(dir)) < 0)
		return;
	(void)monitor_status(dir, &st, NULL);
	if (st.running)
		return; /* a new monitor already runs (restart) */
	exit_reason(&st, "", reason, sizeof(reason));
	/* Only a running (or paused) server changes here; starting/stopping belong to their
	 * task. */
	if (s->state != DB_SERVER_RUNNING && s->state != DB_SERVER_PAUSED)
		return;
	trim_on_stop(d, s);
	if (release_volume(d, id, &err) < 0)
		log_warning("server '%s': release its volume: %s", s->name, err.msg);
	if (set_state(d, id, s->state, DB_SERVER_STOPPED, reason, 0, 0) >= 0)
		log_info("server '%s' stopped by itself: %s", s->name, reason);
}

static void *watcher_main(void *arg)
{
	struct watcher *w = arg;
	struct epoll_event ev[16];

	for (;;) {
		int n = epoll_wait(w->epfd, ev, ELEMENTSOF(ev), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct watch *wt = ev[i].data.ptr;
			char buf[512];
			ssize_t k;

			if (!wt)
				return NULL; /* the stop eventfd */
			do
				k = read(wt->fd, buf, sizeof(buf));
			while (k > 0);
			if (k < 0 && errno == EAGAIN && !(ev[i].events & (EPOLLHUP | EPOLLERR)))
				continue;
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, wt->fd, NULL);
			safe_close(wt->fd);
			watch_unlink(w, wt);
			on_monitor_gone(w->d, wt->server_id);
			free(wt);
		}
	}
}

int watcher_new(struct daemon *d, struct watcher **ret)
{
	struct watcher *w = calloc(1, sizeof(*w));
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int r;

	if (!w)
		return -ENOMEM;
	w->d = d;
	pthread_mutex_init(&w->lock, NULL);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epfd < 0 || w->stop_fd < 0 ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->stop_fd, &ev) < 0) {
		r = -errno;
		watcher_free(w);
		return r;
	}
	r = -pthread_create(&w->thread, NULL, watcher_main, w);
	if (r < 0) {
		watcher_free(w);
		return r;
	}
	w->started = true;
	*ret = w;
	return 0;
}

struct watcher *watcher_free(struct watcher *w)
{
	if (!w)
		return NULL;
	if (w->started) {
		uint64_t one = 1;
		(void)!write(w->stop_fd, &one, sizeof(one));
		pthread_join(w->thread, NULL);
	}
	/* Closing a watch connection tells a monitor nothing: servers keep running. */
	while (w->head) {
		struct watch *wt = w->head;
		w->head = wt->next;
		safe_close(wt->fd);
		free(wt);
	}
	pthread_mutex_destroy(&w->lock);
	safe_close(w->stop_fd);
	safe_close(w->epfd);
	free(w);
	return NULL;
}

int watcher_add(struct watcher *w, const char *server_id)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
	char dir[PATH_MAX];
	struct watch *wt;
	int r;

	r = daemon_server_dir(w->d, server_id, dir, sizeof(dir));
	if (r < 0)
		return r;
	wt = calloc(1, sizeof(*wt));
	if (!wt)
		return -ENOMEM;
	strscpy(wt->server_id, server_id, sizeof(wt->server_id));
	wt->fd = monitor_watch_fd(dir, &err);
	if (wt->fd < 0) {
		r = wt->fd;
		free(wt);
		log_debug("watch '%s': %s", server_id, err.msg);
		return r;
	}
	ev.data.ptr = wt;
	pthread_mutex_lock(&w->lock);
	wt->next = w->head;
	if (w->head)
		w->head->prev = wt;
	w->head = wt;
	pthread_mutex_unlock(&w->lock);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, wt->fd, &ev) < 0) {
		r = -errno;
		watch_unlink(w, wt);
		safe_close(wt->fd);
		free(wt);
		return r;
	}
	return 0;
}

/* --- reconcile ---------------------------------------------------------------------------- */

/* The directory holding a file the pool names (a volume or a snapshot): where a crash may leave
 * temporary files next to it. */
static DIR *open_parent(const char *path, char *buf, size_t len)
{
	char *slash;

	if (strscpy(buf, path, len) < 0 || !(slash = strrchr(buf, '/')))
		return NULL;
	*slash = '\0';
	return opendir(buf);
}

/* A crash may leave a half-made volume or rollback copy (".<v>.raw.partial", ".<v>.raw.rollback";
 * no task runs yet, so none is in use): remove them. */
static void reconcile_volume_files(struct daemon *d, unsigned *repaired)
{
	cleanup_closedir DIR *dir = NULL;
	char path[PATH_MAX], parent[PATH_MAX];
	struct dirent *de;

	if (storage_volume_path(d->pool, "reconcile", path, sizeof(path)) < 0)
		return;
	dir = open_parent(path, parent, sizeof(parent));
	while (dir && (de = readdir(dir))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] != '.' ||
		    !((len > 12 && streq(de->d_name + len - 12, ".raw.partial")) ||
		      (len > 13 && streq(de->d_name + len - 13, ".raw.rollback"))))
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) < 0)
			continue;
		log_warning("reconcile: removed '%s/%s' left by an interrupted task", parent,
			    de->d_name);
		(*repaired)++;
	}
}

/* Snapshots are taken data first, record second, and deleted data first: after a crash, drop
 * records without data, data without a record (the task failed) and half-made copies. */
static void reconcile_snapshots(struct daemon *d, const struct db_server *s, unsigned *repaired)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_closedir DIR *dir = NULL;
	struct db_snapshot **l = NULL;
	char path[PATH_MAX], parent[PATH_MAX];
	struct dirent *de;
	size_t n = 0;

	if (db_snapshot_list(d->db, s->id, &l, &n, &err) < 0) {
		log_warning("reconcile: server '%s': %s", s->name, err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (storage_volume_snapshot_path(spool(d, s), s->id, l[i]->name, path,
						 sizeof(path)) < 0 ||
		    access(path, F_OK) == 0 || errno != ENOENT)
			continue;
		if (db_snapshot_delete(d->db, l[i]->id, NULL) < 0)
			continue;
		log_warning("reconcile: server '%s': snapshot '%s' had no data: record removed",
			    s->name, l[i]->name);
		(*repaired)++;
	}
	if (storage_volume_snapshot_path(spool(d, s), s->id, "reconcile", path, sizeof(path)) >= 0)
		dir = open_parent(path, parent, sizeof(parent));
	while (dir && (de = readdir(dir))) {
		char name[sizeof(l[0]->name)];
		size_t len = strlen(de->d_name);
		bool known = false;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (de->d_name[0] == '.') {
			if (unlinkat(dirfd(dir), de->d_name, 0) < 0)
				continue;
			log_warning("reconcile: server '%s': removed '%s/%s' left by an "
				    "interrupted snapshot",
				    s->name, parent, de->d_name);
			(*repaired)++;
			continue;
		}
		if (len <= 4 || len - 4 >= sizeof(name) || !streq(de->d_name + len - 4, ".raw"))
			continue;
		memcpy(name, de->d_name, len - 4);
		name[len - 4] = '\0';
		for (size_t i = 0; i < n && !known; i++)
			known = streq(l[i]->name, name);
		known = known || backups_snapshot_known(d, name);
		if (known || storage_volume_snapshot_delete(spool(d, s), s->id, name, NULL) < 0)
			continue;
		log_warning("reconcile: server '%s': snapshot '%s' had no record (interrupted): "
			    "data removed",
			    s->name, name);
		(*repaired)++;
	}
	if (dir)
		(void)rmdir(parent); /* only when empty */
	db_snapshot_list_free(l, n);
}

int servers_reconcile(struct daemon *d)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_server **l = NULL;
	size_t n = 0;
	unsigned running = 0, repaired = 0;
	int r;

	r = db_server_list(d->db, NULL, &l, &n, &err);
	if (r < 0)
		return log_error_errno(r, "reconcile: %s", err.msg);
	for (size_t i = 0; i < n; i++) {
		struct db_server *s = l[i];
		struct monitor_status st = {0};
		char dir[PATH_MAX], mnt[PATH_MAX], reason[256];

		if (daemon_server_dir(d, s->id, dir, sizeof(dir)) < 0)
			continue;
		switch (s->state) {
		case DB_SERVER_CREATING:
			(void)storage_volume_destroy(spool(d, s), s->id, NULL);
			(void)set_state(
				d, s->id, -1, DB_SERVER_ERROR,
				"creation was interrupted (carved restarted): delete the server and create it again",
				0, 0);
			repaired++;
			break;
		case DB_SERVER_DELETING:
			carve_err_clear(&err);
			if (destroy(d, s, &err) < 0)
				log_warning("reconcile: server '%s': finish delete: %s", s->name,
					    err.msg);
			repaired++;
			break;
		case DB_SERVER_STARTING:
		case DB_SERVER_RUNNING:
		case DB_SERVER_STOPPING:
		case DB_SERVER_STOPPED:
		case DB_SERVER_ERROR:
		case DB_SERVER_PAUSED:
			(void)monitor_status(dir, &st, NULL);
			if (st.running) {
				/* a paused server stays paused: its cgroup is still frozen */
				enum db_server_state now = s->state == DB_SERVER_PAUSED
								   ? DB_SERVER_PAUSED
								   : DB_SERVER_RUNNING;
				if (s->state != now || s->pid != st.init_pid)
					repaired++;
				(void)set_state(d, s->id, -1, now, NULL, st.init_pid,
						st.monitor_pid);
				/* a crash during a snapshot leaves the filesystem frozen: every
				 * writer inside would hang (thaw fails with EINVAL otherwise) */
				if (d->volumes &&
				    rootfs_mountpoint(d, s->id, mnt, sizeof(mnt)) >= 0 &&
				    storage_fs_thaw(mnt, NULL) >= 0) {
					log_warning(
						"reconcile: server '%s': thawed its filesystem, "
						"left frozen by an interrupted snapshot",
						s->name);
					repaired++;
				}
				if (watcher_add(d->watcher, s->id) < 0)
					log_warning(
						"reconcile: server '%s': cannot watch its monitor",
						s->name);
				running++;
			} else {
				/* a stopped server holds no mount or loop device */
				carve_err_clear(&err);
				if (release_volume(d, s->id, &err) < 0)
					log_warning("reconcile: server '%s': %s", s->name, err.msg);
			}
			if (!st.running &&
			    (s->state == DB_SERVER_STARTING || s->state == DB_SERVER_RUNNING ||
			     s->state == DB_SERVER_PAUSED || s->state == DB_SERVER_STOPPING)) {
				exit_reason(&st, " while carved was down", reason, sizeof(reason));
				(void)set_state(d, s->id, -1, DB_SERVER_STOPPED, reason, 0, 0);
				repaired++;
			}
			break;
		default:
			break;
		}
		if (d->volumes && s->state != DB_SERVER_DELETING)
			reconcile_snapshots(d, s, &repaired);
	}
	if (d->volumes)
		reconcile_volume_files(d, &repaired);
	db_server_list_free(l, n);
	log_info("reconciled %zu servers: %u running, %u records repaired", n, running, repaired);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "backups"
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/fd-util.h"
#include "base/failpoint.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/backups.h"
#include "daemon/servers.h"
#include "monitor/monitor.h"
#include "storage/loop.h"

/* --- busy servers ------------------------------------------------------------------------- */

#define BUSY_MAX 256
static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;
static char busy_ids[BUSY_MAX][33];
static char busy_what[BUSY_MAX][32];

int backups_claim(struct daemon *d, const char *server_id, const char *what,
		  struct carve_error *err)
{
	int free_slot = -1;

	(void)d;
	pthread_mutex_lock(&busy_lock);
	for (int i = 0; i < BUSY_MAX; i++) {
		if (busy_ids[i][0] && streq(busy_ids[i], server_id)) {
			pthread_mutex_unlock(&busy_lock);
			return carve_err(err, -EBUSY, "a %s of this server is running",
					 busy_what[i]);
		}
		if (!busy_ids[i][0] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0) {
		pthread_mutex_unlock(&busy_lock);
		return carve_err(err, -EAGAIN, "too many backup operations at once");
	}
	strscpy(busy_ids[free_slot], server_id, sizeof(busy_ids[0]));
	strscpy(busy_what[free_slot], what, sizeof(busy_what[0]));
	pthread_mutex_unlock(&busy_lock);
	return 0;
}

bool backups_restoring(const char *server_id)
{
	bool r = false;

	pthread_mutex_lock(&busy_lock);
	for (int i = 0; i < BUSY_MAX; i++)
		if (busy_ids[i][0] && streq(busy_ids[i], server_id) &&
		    streq(busy_what[i], "restore"))
			r = true;
	pthread_mutex_unlock(&busy_lock);
	return r;
}

void backups_release(const char *server_id)
{
	pthread_mutex_lock(&busy_lock);
	for (int i = 0; i < BUSY_MAX; i++)
		if (streq(busy_ids[i], server_id))
			busy_ids[i][0] = '\0';
	pthread_mutex_unlock(&busy_lock);
}

/* --- stores and keys ---------------------------------------------------------------------- */

int backups_store_lookup(struct daemon *d, const char *name, char *path, size_t len,
			 bool *ret_encrypt, struct carve_error *err)
{
	cleanup(db_backup_store_freep) struct db_backup_store *s = NULL;
	int r;

	if (!name || !*name || streq(name, BACKUP_STORE_DEFAULT)) {
		if (strscpy(path, d->backup_dir, len) < 0)
			return carve_err(err, -ENAMETOOLONG, "backup store 'default': path");
		if (ret_encrypt)
			*ret_encrypt = d->backup_encrypt;
		return 0;
	}
	if (!name_is_valid(name))
		return carve_err_field(err, -ENOENT, "store", "backup store '%.64s' not found",
				       name);
	r = db_backup_store_get(d->db, name, &s, NULL);
	if (r == -ENOENT)
		return carve_err_field(err, -ENOENT, "store", "backup store '%s' not found", name);
	if (r < 0)
		return carve_err(err, r, "backup store '%s'", name);
	if (strscpy(path, s->path, len) < 0)
		return carve_err(err, -ENAMETOOLONG, "backup store '%s': path", name);
	if (ret_encrypt)
		*ret_encrypt = s->encrypt;
	return 0;
}

static int tenant_key(struct daemon *d, const char *tenant_id, uint8_t key[BACKUP_KEY_SIZE],
		      struct carve_error *err)
{
	uint8_t fresh[BACKUP_KEY_SIZE];
	int r = random_bytes(fresh, sizeof(fresh));

	if (r < 0)
		return carve_err(err, r, "backup key: random bytes");
	r = db_backup_key_get_or_create(d->db, tenant_id, fresh, key, err);
	explicit_bzero(fresh, sizeof(fresh));
	return r;
}

int backups_store_open(struct daemon *d, const char *name, const char *tenant_id,
		       struct backup_store **ret, struct carve_error *err)
{
	struct backup_store *s = NULL;
	char path[PATH_MAX];
	uint8_t key[BACKUP_KEY_SIZE];
	int r;

	r = backups_store_lookup(d, name, path, sizeof(path), NULL, err);
	if (r < 0)
		return r;
	/* only the default store is made on demand: an extra store's directory missing (an
	 * off-site disk not mounted) must fail, not start an empty store in its place */
	r = backup_store_open(path, !name || streq(name, BACKUP_STORE_DEFAULT), NULL, &s, err);
	if (r < 0)
		return carve_err_prefix(err, "backup store '%s'", name ? name : "default");
	if (tenant_id) {
		r = tenant_key(d, tenant_id, key, err);
		if (r >= 0)
			r = backup_store_add_key(s, key, NULL);
		explicit_bzero(key, sizeof(key));
	} else {
		uint8_t(*keys)[32] = NULL;
		size_t n = 0;

		r = db_backup_key_list(d->db, &keys, &n, err);
		for (size_t i = 0; r >= 0 && i < n; i++)
			r = backup_store_add_key(s, keys[i], NULL);
		if (keys)
			explicit_bzero(keys, n * 32);
		free(keys);
	}
	if (r < 0) {
		backup_store_free(s);
		return carve_err(err, r, "backup store '%s': keys", name ? name : "default");
	}
	*ret = s;
	return 0;
}

bool backups_snapshot_known(struct daemon *d, const char *name)
{
	return db_backup_snapshot_known(d->db, name);
}

void backups_update_usage(struct daemon *d, const char *tenant_id, const char *store)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(backup_store_freep) struct backup_store *s = NULL;
	struct db_backup **l = NULL;
	const char **ids = NULL;
	uint64_t bytes = 0, chunks = 0;
	size_t n = 0;

	if (db_backup_list(d->db, tenant_id, NULL, store, true, &l, &n, &err) < 0)
		goto out;
	ids = calloc(n + 1, sizeof(*ids));
	if (!ids)
		goto out;
	for (size_t i = 0; i < n; i++)
		ids[i] = l[i]->backup_id;
	if (backups_store_open(d, store, tenant_id, &s, &err) < 0 ||
	    backup_usage(s, ids, n, &bytes, &chunks, &err) < 0)
		goto out;
	(void)db_backup_usage_set(d->db, tenant_id, store, bytes, chunks, &err);
out:
	if (err.msg[0])
		log_warning("backup usage of tenant %s in store '%s': %s", tenant_id, store,
			    err.msg);
	free(ids);
	db_backup_list_free(l, n);
}

/* --- volumes of a server ------------------------------------------------------------------ */

struct bvol {
	char name[64]; /* "root" or the data volume's name */
	char id[33]; /* its storage name */
	char pool[64];
	uint64_t size;
	char path[256]; /* data volumes: where it is mounted inside */
	struct storage_pool *p;
	char live_mnt[PATH_MAX]; /* mounted on the host while the server runs */
	char snap[PATH_MAX];
	char prev[PATH_MAX];
	char index_mnt[PATH_MAX];
	bool frozen, snapped, index_mounted, has_prev;
};

static struct storage_pool *pool_or_default(struct daemon *d, const char *name)
{
	struct storage_pool *p = daemon_pool(d, name);

	return p ? p : d->pool;
}

/* Root first, then the data volumes attached to the server. */
static int server_volumes(struct daemon *d, const struct db_server *s, struct bvol **ret,
			  size_t *ret_n, struct carve_error *err)
{
	struct db_volume **l = NULL;
	struct bvol *v;
	char dir[PATH_MAX];
	size_t n = 0;
	int r;

	r = db_volume_list_by_server(d->db, s->id, &l, &n, err);
	if (r < 0)
		return r;
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		db_volume_list_free(l, n);
		return carve_err(err, -ENOMEM, "volumes");
	}
	(void)daemon_server_dir(d, s->id, dir, sizeof(dir));
	strscpy(v[0].name, "root", sizeof(v[0].name));
	strscpy(v[0].id, s->id, sizeof(v[0].id));
	strscpy(v[0].pool, s->pool[0] ? s->pool : "default", sizeof(v[0].pool));
	v[0].size = s->disk;
	v[0].p = pool_or_default(d, s->pool);
	snprintf(v[0].live_mnt, sizeof(v[0].live_mnt), "%s/rootfs", dir);
	for (size_t i = 0; i < n; i++) {
		struct bvol *b = &v[i + 1];

		strscpy(b->name, l[i]->name, sizeof(b->name));
		strscpy(b->id, l[i]->id, sizeof(b->id));
		strscpy(b->pool, l[i]->pool, sizeof(b->pool));
		strscpy(b->path, l[i]->path ? l[i]->path : "", sizeof(b->path));
		b->size = l[i]->size;
		b->p = daemon_pool(d, l[i]->pool);
		snprintf(b->live_mnt, sizeof(b->live_mnt), "%s/volumes/%s", dir, l[i]->id);
		if (!b->p) {
			db_volume_list_free(l, n);
			free(v);
			return carve_err(err, -ENXIO, "volume '%s': pool '%s' is not open",
					 l[i]->name, l[i]->pool);
		}
	}
	db_volume_list_free(l, n);
	*ret = v;
	*ret_n = n + 1;
	return 0;
}

static json_t *volumes_json(const struct bvol *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:s?}", "name", v[i].name,
						   "volume_id", v[i].id, "pool", v[i].pool, "size",
						   (json_int_t)v[i].size, "path",
						   v[i].path[0] ? v[i].path : NULL));
	return a;
}

static json_t *server_config_json(struct daemon *d, const struct db_server *s, const struct bvol *v,
				  size_t n)
{
	cleanup(db_template_freep) struct db_template *tpl = NULL;

	(void)db_template_get_by_id(d->db, s->template_id, &tpl, NULL);
	return json_pack("{s:s, s:s, s:s, s:s?, s:i, s:I, s:I, s:s, s:o, s:s?}", "name", s->name,
			 "kind", s->kind, "template_id", s->template_id, "template",
			 tpl ? tpl->name : NULL, "vcpus", (int)s->vcpus, "memory",
			 (json_int_t)s->memory, "disk", (json_int_t)s->disk, "pool",
			 s->pool[0] ? s->pool : "default", "volumes", volumes_json(v, n), "machine",
			 s->machine[0] ? s->machine : NULL);
}

/* Where snapshots are mounted read-only for the file index: <run>/backup-mnt/<row>/<volume>. */
static int index_mountpoint(struct daemon *d, const char *row_id, const char *volume, char *buf,
			    size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/backup-mnt/%s/%s", d->run_dir, row_id, volume) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int mount_snapshot(const char *image, const char *mnt, struct carve_error *err)
{
	char dev[LOOP_DEVNODE_MAX];
	cleanup_close int fd = -EBADF;
	int r;

	r = mkdir_p(mnt, 0700);
	if (r < 0)
		return carve_err(err, r, "create '%s'", mnt);
	r = loop_attach(image, LOOP_ATTACH_READ_ONLY | LOOP_ATTACH_AUTOCLEAR, "carve:backup", dev,
			sizeof(dev), &fd);
	if (r < 0)
		return carve_err(err, r, "loop device for '%s'", image);
	if (mount(dev, mnt, "ext4", MS_RDONLY | MS_NODEV | MS_NOSUID | MS_NOEXEC, "noload") < 0)
		return carve_err(err, -errno, "mount '%s' on '%s'", dev, mnt);
	return 0;
}

static void unmount_snapshot(const char *mnt)
{
	if (umount2(mnt, 0) < 0 && errno != EINVAL && errno != ENOENT)
		(void)umount2(mnt, MNT_DETACH);
	(void)rmdir(mnt);
}

static int progress_cb(uint64_t done, uint64_t total, void *userdata)
{
	task_progress(userdata, done, total, "bytes");
	return 0;
}

static json_t *stats_json(const struct backup_stats *st)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "bytes_total",
			 (json_int_t)st->bytes_total, "bytes_read", (json_int_t)st->bytes_read,
			 "bytes_written", (json_int_t)st->bytes_written, "chunks_total",
			 (json_int_t)st->chunks_total, "chunks_new", (json_int_t)st->chunks_new,
			 "chunks_reused", (json_int_t)st->chunks_reused, "chunks_dedup",
			 (json_int_t)st->chunks_dedup, "chunks_zero", (json_int_t)st->chunks_zero,
			 "files_indexed", (json_int_t)st->files_indexed);
}

/* Serialize and drop j. */
static char *dump_free(json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return text;
}

/* The storage snapshot paths a backup row keeps, per volume of its volumes JSON. */
static void delete_row_snapshots(struct daemon *d, const struct db_backup *b)
{
	json_t *vols, *v;
	size_t i;

	if (!b->snapshot[0] || !b->volumes)
		return;
	vols = json_loads(b->volumes, 0, NULL);
	json_array_foreach (vols, i, v) {
		const char *id = json_string_value(json_object_get(v, "volume_id"));
		const char *pool = json_string_value(json_object_get(v, "pool"));

		if (id)
			(void)storage_volume_snapshot_delete(pool_or_default(d, pool), id,
							     b->snapshot, NULL);
	}
	json_decref(vols);
}

/* --- create ------------------------------------------------------------------------------- */

static void thaw_all(struct bvol *v, size_t n)
{
	for (size_t i = n; i-- > 0;)
		if (v[i].frozen) {
			struct carve_error e = CARVE_ERROR_INIT;
			if (storage_fs_thaw(v[i].live_mnt, &e) < 0)
				log_error("backup: %s", e.msg);
			v[i].frozen = false;
		}
}

/* One consistent point for all volumes of a server: a running container's filesystems are all
 * frozen, reflinked and thawed; a paused one's (its writers frozen, FIFREEZE could wait on one
 * frozen mid-write) are synced; a running VM's vCPUs are stopped over QMP around the reflink of
 * its disks; a stopped server needs nothing. */
static int take_snapshots(struct daemon *d, const struct db_server *s, struct bvol *v, size_t n,
			  const char *snap, struct carve_error *err)
{
	bool vm = streq(s->kind, "vm"), running = s->state == DB_SERVER_RUNNING;
	int r = 0;

	if (vm && s->state == DB_SERVER_PAUSED)
		return carve_err(err, -EBUSY,
				 "server '%s' is a paused VM (its QEMU frozen mid-I/O): resume it "
				 "first",
				 s->name);
	if (vm && running) {
		struct carve_error e = CARVE_ERROR_INIT;
		char dir[PATH_MAX];

		/* QMP stop halts the vCPUs and drains the guest's I/O into its disks (root and
		 * data volumes alike): the reflinks then hold what a power cut would */
		r = daemon_server_dir(d, s->id, dir, sizeof(dir));
		if (r < 0)
			return carve_err(err, r, "server '%s'", s->name);
		r = monitor_vm_pause(dir, true, err);
		if (r < 0)
			return carve_err_prefix(err, "pause the guest");
		CARVE_FAILPOINT("backup-frozen");
		for (size_t i = 0; r >= 0 && i < n; i++) {
			r = storage_volume_snapshot(v[i].p, v[i].id, snap, err);
			if (r < 0) {
				carve_err_prefix(err, "volume '%s': snapshot", v[i].name);
				break;
			}
			v[i].snapped = true;
			r = storage_volume_snapshot_path(v[i].p, v[i].id, snap, v[i].snap,
							 sizeof(v[i].snap));
			if (r < 0)
				carve_err(err, r, "volume '%s': snapshot path", v[i].name);
		}
		if (monitor_vm_pause(dir, false, &e) < 0) {
			log_error(
				"server '%s': the guest stays paused after its backup snapshot: %s",
				s->name, e.msg);
			if (r >= 0)
				r = carve_err(err, e.code, "resume the guest: %s", e.msg);
		}
		return r;
	}
	for (size_t i = 0; !vm && s->state == DB_SERVER_PAUSED && i < n; i++) {
		cleanup_close int fd = open(v[i].live_mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || syncfs(fd) < 0)
			return carve_err(err, -errno, "volume '%s': sync '%s'", v[i].name,
					 v[i].live_mnt);
	}
	for (size_t i = 0; !vm && running && i < n; i++) {
		r = storage_fs_freeze(v[i].live_mnt, err);
		if (r < 0) {
			carve_err_prefix(err, "volume '%s'", v[i].name);
			goto out;
		}
		v[i].frozen = true;
	}
	CARVE_FAILPOINT("backup-frozen");
	for (size_t i = 0; i < n; i++) {
		r = storage_volume_snapshot(v[i].p, v[i].id, snap, err);
		if (r < 0) {
			carve_err_prefix(err, "volume '%s': snapshot", v[i].name);
			goto out;
		}
		v[i].snapped = true;
		r = storage_volume_snapshot_path(v[i].p, v[i].id, snap, v[i].snap,
						 sizeof(v[i].snap));
		if (r < 0) {
			carve_err(err, r, "volume '%s': snapshot path", v[i].name);
			goto out;
		}
	}
out:
	thaw_all(v, n);
	return r;
}

int backup_task_create(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err)
{
	struct backup_op *op = userdata;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	struct db_backup **prevs = NULL, *prev = NULL;
	struct db_backup row = {0};
	struct backup_volume_source *src = NULL;
	struct backup_stats st = {0};
	struct bvol *v = NULL;
	cleanup_free char *config = NULL;
	uint8_t key[BACKUP_KEY_SIZE];
	bool encrypt = false, claimed = false, running, row_made = false, complete = false;
	char path[PATH_MAX], id[BACKUP_ID_MAX] = "", rowdir[PATH_MAX];
	size_t n = 0, n_prev = 0;
	json_t *cfg;
	int r;

	r = db_server_get_by_id(d->db, op->server_id, &s, err);
	if (r < 0)
		return r;
	running = s->state == DB_SERVER_RUNNING || s->state == DB_SERVER_PAUSED;
	if (streq(s->kind, "vm") && s->state == DB_SERVER_PAUSED) {
		r = carve_err(err, -EBUSY,
			      "server '%s' is a paused VM (its QEMU frozen mid-I/O): resume it "
			      "first",
			      s->name);
		goto out;
	}
	if (!running && s->state != DB_SERVER_STOPPED && s->state != DB_SERVER_ERROR) {
		r = carve_err(err, -EBUSY, "server '%s' is %s: cannot back it up now", s->name,
			      db_server_state_to_string(s->state));
		goto out;
	}
	r = backups_claim(d, s->id, "backup", err);
	if (r < 0)
		goto out;
	claimed = true;
	r = backups_store_lookup(d, op->store, path, sizeof(path), &encrypt, err);
	if (r < 0)
		goto out;
	r = server_volumes(d, s, &v, &n, err);
	if (r < 0)
		goto out;

	/* the previous backup into this store whose snapshots are still kept */
	r = db_backup_list(d->db, NULL, s->id, op->store, true, &prevs, &n_prev, err);
	if (r < 0)
		goto out;
	for (size_t i = n_prev; i-- > 0;)
		if (prevs[i]->snapshot[0]) {
			prev = prevs[i];
			break;
		}

	/* the row first: reconcile finds the snapshots by it after a crash */
	strscpy(row.store, op->store, sizeof(row.store));
	strscpy(row.tenant_id, s->tenant_id, sizeof(row.tenant_id));
	strscpy(row.server_id, s->id, sizeof(row.server_id));
	strscpy(row.server_name, s->name, sizeof(row.server_name));
	strscpy(row.kind, s->kind, sizeof(row.kind));
	r = random_id(row.snapshot);
	if (r < 0)
		goto out;
	row.volumes = dump_free(volumes_json(v, n));
	row.encrypted = encrypt;
	row.scheduled = op->scheduled;
	row.state = DB_BACKUP_RUNNING;
	r = db_backup_create(d->db, &row, err);
	if (r < 0)
		goto out;
	row_made = true;
	CARVE_FAILPOINT("backup-row-created");
	task_progress(ctx, 0, 1, "bytes");

	r = take_snapshots(d, s, v, n, row.snapshot, err);
	if (r < 0)
		goto out;
	CARVE_FAILPOINT("backup-snapshots-taken");

	src = calloc(n, sizeof(*src));
	if (!src) {
		r = carve_err(err, -ENOMEM, "backup");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct carve_error e = CARVE_ERROR_INIT;

		src[i].name = v[i].name;
		src[i].snapshot_path = v[i].snap;
		if (prev &&
		    storage_volume_snapshot_path(v[i].p, v[i].id, prev->snapshot, v[i].prev,
						 sizeof(v[i].prev)) >= 0 &&
		    access(v[i].prev, R_OK) == 0)
			src[i].prev_snapshot_path = v[i].prev;
		/* containers: a file index from a read-only mount of the snapshot */
		if (!streq(s->kind, "vm") && index_mountpoint(d, row.id, v[i].name, v[i].index_mnt,
							      sizeof(v[i].index_mnt)) >= 0) {
			if (mount_snapshot(v[i].snap, v[i].index_mnt, &e) >= 0) {
				v[i].index_mounted = true;
				src[i].mount_path = v[i].index_mnt;
			} else
				log_warning("backup of server '%s': volume '%s': no file index: %s",
					    s->name, v[i].name, e.msg);
		}
	}
	CARVE_FAILPOINT("backup-snapshots-mounted");

	cfg = server_config_json(d, s, v, n);
	config = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
	json_decref(cfg);
	r = backups_store_open(d, op->store, NULL, &store, err);
	if (r >= 0 && encrypt)
		r = tenant_key(d, s->tenant_id, key, err);
	if (r < 0)
		goto out;
	{
		struct backup_create_opts o = {
			.server_id = s->id,
			.config_json = config,
			.key = encrypt ? key : NULL,
			.prev_backup_id = prev ? prev->backup_id : NULL,
			.threads = 2,
			.progress = progress_cb,
			.userdata = ctx,
		};
		r = backup_create(store, &o, src, n, id, &st, err);
	}
	explicit_bzero(key, sizeof(key));
	for (size_t i = 0; i < n; i++)
		if (v[i].index_mounted) {
			unmount_snapshot(v[i].index_mnt);
			v[i].index_mounted = false;
		}
	if (r < 0) {
		carve_err_prefix(err, "server '%s': backup", s->name);
		goto out;
	}
	CARVE_FAILPOINT("backup-stored");

	strscpy(row.backup_id, id, sizeof(row.backup_id));
	row.state = DB_BACKUP_COMPLETE;
	row.stats = dump_free(stats_json(&st));
	r = db_backup_update(d->db, &row, err);
	if (r < 0) {
		(void)backup_delete(store, id, NULL);
		goto out;
	}
	complete = true;
	CARVE_FAILPOINT("backup-recorded");

	/* the new snapshots are the base of the next backup: the older ones go, data first */
	for (size_t i = 0; i < n_prev; i++)
		if (prevs[i]->snapshot[0]) {
			delete_row_snapshots(d, prevs[i]);
			prevs[i]->snapshot[0] = '\0';
			(void)db_backup_update(d->db, prevs[i], NULL);
		}
	log_info("server '%s': backup '%s' into store '%s': %" PRIu64 " bytes read, %" PRIu64
		 " new chunks",
		 s->name, id, op->store, st.bytes_read, st.chunks_new);
	backups_update_usage(d, s->tenant_id, op->store);
	r = 0;
out:
	if (v)
		for (size_t i = 0; i < n; i++)
			if (v[i].index_mounted)
				unmount_snapshot(v[i].index_mnt);
	if (row_made && index_mountpoint(d, row.id, "", rowdir, sizeof(rowdir)) >= 0)
		(void)rmdir(rowdir);
	if (r < 0 && row_made && !complete) {
		for (size_t i = 0; i < n; i++)
			if (v[i].snapped)
				(void)storage_volume_snapshot_delete(v[i].p, v[i].id, row.snapshot,
								     NULL);
		(void)db_backup_delete(d->db, row.id, NULL);
	}
	if (claimed)
		backups_release(s->id);
	free(row.volumes);
	free(row.stats);
	free(src);
	free(v);
	db_backup_list_free(prevs, n_prev);
	if (r >= 0 && op->prune_after) {
		struct backup_op p = *op;
		struct carve_error e = CARVE_ERROR_INIT;
		if (backup_task_prune(d, ctx, &p, &e) < 0)
			log_warning("scheduled prune of server '%s': %s", s->name, e.msg);
	}
	return r;
}

/* --- delete ------------------------------------------------------------------------------- */

int backup_task_delete(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err)
{
	struct backup_op *op = userdata;
	cleanup(db_backup_freep) struct db_backup *b = NULL;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	int r;

	r = db_backup_get(d->db, op->backup_id, &b, err);
	if (r < 0)
		return r;
	r = backups_claim(d, b->server_id, "backup delete", err);
	if (r < 0)
		return carve_err_prefix(err, "backup '%s'", b->backup_id);
	task_progress(ctx, 1, 3, "steps");
	r = backups_store_open(d, b->store, b->tenant_id, &store, err);
	if (r >= 0) {
		/* the manifest first: a crash after it leaves a row reconcile drops */
		r = backup_delete(store, b->backup_id, err);
		if (r == -ENOENT)
			r = 0;
	}
	CARVE_FAILPOINT("backup-delete-manifest-gone");
	if (r >= 0) {
		task_progress(ctx, 2, 3, "steps");
		delete_row_snapshots(d, b);
		r = db_backup_delete(d->db, b->id, err);
	}
	backups_release(b->server_id);
	if (r < 0)
		return carve_err_prefix(err, "backup '%s': delete", b->backup_id);
	backups_update_usage(d, b->tenant_id, b->store);
	log_info("backup '%s' of server '%s' deleted", b->backup_id, b->server_name);
	return 0;
}

/* --- restore ------------------------------------------------------------------------------ */

int backup_task_restore(struct daemon *d, struct task_ctx *ctx, void *userdata,
			struct carve_error *err)
{
	struct backup_op *op = userdata;
	cleanup(db_backup_freep) struct db_backup *b = NULL;
	cleanup(db_server_freep) struct db_server *s = NULL;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	struct db_volume **attached = NULL;
	size_t n_attached = 0, i;
	json_t *vols = NULL, *v;
	bool claimed = false;
	char **created = NULL; /* data volume ids made for a new server */
	size_t n_created = 0;
	struct db_backup **kept = NULL, *base = NULL;
	size_t n_kept = 0;
	int r;

	r = db_backup_get(d->db, op->backup_id, &b, err);
	if (r >= 0)
		r = db_server_get_by_id(d->db, op->server_id, &s, err);
	if (r < 0)
		goto out;
	r = backups_claim(d, s->id, "restore", err);
	if (r < 0)
		goto out;
	claimed = true;
	/* the state as of now, after the claim: a start moves it before it looks for a claim */
	db_server_free(s);
	s = NULL;
	r = db_server_get_by_id(d->db, op->server_id, &s, err);
	if (r < 0)
		goto out;
	if (!op->new_server && s->state != DB_SERVER_STOPPED && s->state != DB_SERVER_ERROR) {
		r = carve_err(err, -EBUSY, "server '%s' is %s: stop it before restoring in place",
			      s->name, db_server_state_to_string(s->state));
		goto out;
	}
	CARVE_FAILPOINT("restore-claimed");
	r = backups_store_open(d, b->store, b->tenant_id, &store, err);
	if (r < 0)
		goto out;
	r = db_volume_list_by_server(d->db, s->id, &attached, &n_attached, err);
	if (r < 0)
		goto out;
	/* in place: the snapshots kept from the server's last backup into this store are a base,
	 * so only the chunks that differ are fetched (backup_restore_volume_ex checks them) */
	if (!op->new_server &&
	    db_backup_list(d->db, NULL, s->id, b->store, true, &kept, &n_kept, NULL) >= 0)
		for (size_t j = n_kept; j-- > 0;)
			if (kept[j]->snapshot[0]) {
				base = kept[j];
				break;
			}
	vols = json_loads(b->volumes, 0, NULL);
	created = calloc(json_array_size(vols) + 1, sizeof(*created));
	if (!vols || !created) {
		r = carve_err(err, -ENOMEM, "backup '%s': volumes", b->backup_id);
		goto out;
	}
	json_array_foreach (vols, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *vpath = json_string_value(json_object_get(v, "path"));
		uint64_t size = (uint64_t)json_integer_value(json_object_get(v, "size"));
		struct storage_pool *p = NULL;
		char dest[PATH_MAX], vid[33] = "";

		if (!name)
			continue;
		if (streq(name, "root")) {
			strscpy(vid, s->id, sizeof(vid));
			p = pool_or_default(d, s->pool);
		} else if (!op->new_server) {
			for (size_t j = 0; j < n_attached; j++)
				if (streq(attached[j]->name, name)) {
					strscpy(vid, attached[j]->id, sizeof(vid));
					p = daemon_pool(d, attached[j]->pool);
				}
			if (!vid[0] || !p) {
				r = carve_err(err, -EBUSY,
					      "volume '%s' of the backup is not attached to server "
					      "'%s'",
					      name, s->name);
				goto out;
			}
		} else {
			/* a new data volume "<server>-<volume>", attached at the same path */
			struct db_volume nv = {0};
			const char *pool = json_string_value(json_object_get(v, "pool"));

			if ((size_t)snprintf(nv.name, sizeof(nv.name), "%s-%s", s->name, name) >=
			    sizeof(nv.name)) {
				r = carve_err(err, -ENAMETOOLONG, "volume name '%s-%s' too long",
					      s->name, name);
				goto out;
			}
			strscpy(nv.tenant_id, s->tenant_id, sizeof(nv.tenant_id));
			strscpy(nv.pool, pool && daemon_pool(d, pool) ? pool : "default",
				sizeof(nv.pool));
			strscpy(nv.server_id, s->id, sizeof(nv.server_id));
			nv.path = (char *)vpath;
			nv.size = size;
			r = db_volume_create(d->db, &nv, err);
			if (r < 0)
				goto out;
			created[n_created++] = strdup(nv.id);
			strscpy(vid, nv.id, sizeof(vid));
			p = daemon_pool(d, nv.pool);
		}
		r = storage_volume_path(p, vid, dest, sizeof(dest));
		if (r < 0) {
			carve_err(err, r, "volume '%s': path", name);
			goto out;
		}
		task_progress(ctx, 0, 1, "bytes");
		{
			struct backup_restore_base rb = {.backup_id =
								 base ? base->backup_id : NULL};
			struct backup_restore_stats rs = {};
			char snap[PATH_MAX];

			if (base && storage_volume_snapshot_path(p, vid, base->snapshot, snap,
								 sizeof(snap)) >= 0)
				rb.path = snap;
			r = backup_restore_volume_ex(store, b->backup_id, name, dest,
						     rb.path ? &rb : NULL, &rs, progress_cb, ctx,
						     err);
			if (r < 0) {
				carve_err_prefix(err, "volume '%s'", name);
				goto out;
			}
			if (rs.base_used)
				log_info("backup '%s': volume '%s': restored onto the snapshot of "
					 "backup '%s': %llu chunks kept, %llu fetched",
					 b->backup_id, name, base->backup_id,
					 (unsigned long long)rs.chunks_from_base,
					 (unsigned long long)rs.chunks_fetched);
		}
		CARVE_FAILPOINT("restore-volume-written");
		/* the size is the backup's again */
		if (streq(name, "root")) {
			cleanup(db_server_freep) struct db_server *cur = NULL;
			if (db_server_get_by_id(d->db, s->id, &cur, NULL) >= 0 && size &&
			    cur->disk != size) {
				cur->disk = size;
				(void)db_server_update(d->db, cur, NULL);
			}
		} else {
			cleanup(db_volume_freep) struct db_volume *cur = NULL;
			if (db_volume_get_by_id(d->db, vid, &cur, NULL) >= 0 && size &&
			    cur->size != size) {
				cur->size = size;
				(void)db_volume_update(d->db, cur, NULL);
			}
		}
	}
	if (op->new_server) {
		cleanup(db_server_freep) struct db_server *cur = NULL;
		r = db_server_get_by_id(d->db, s->id, &cur, err);
		if (r >= 0 && cur->state == DB_SERVER_CREATING) {
			cur->state = DB_SERVER_STOPPED;
			cur->updated_at = time(NULL);
			r = db_server_update(d->db, cur, err);
		}
		if (r < 0)
			goto out;
	}
	housekeeping_kick(d->housekeeping);
	log_info("backup '%s' restored %s server '%s'", b->backup_id,
		 op->new_server ? "as new" : "into", s->name);
	r = 0;
out:
	if (r < 0 && op->new_server && s) {
		cleanup(db_server_freep) struct db_server *cur = NULL;
		for (size_t j = 0; j < n_created; j++) {
			cleanup(db_volume_freep) struct db_volume *dv = NULL;
			if (db_volume_get_by_id(d->db, created[j], &dv, NULL) >= 0) {
				(void)storage_volume_destroy(pool_or_default(d, dv->pool), dv->id,
							     NULL);
				(void)db_volume_delete(d->db, dv->id, NULL);
			}
		}
		(void)storage_volume_destroy(pool_or_default(d, s->pool), s->id, NULL);
		if (db_server_get_by_id(d->db, s->id, &cur, NULL) >= 0) {
			cur->state = DB_SERVER_ERROR;
			free(cur->state_reason);
			cur->state_reason = strdup(err->msg);
			(void)db_server_update(d->db, cur, NULL);
		}
	}
	if (created)
		for (size_t j = 0; j < n_created; j++)
			free(created[j]);
	free(created);
	json_decref(vols);
	db_volume_list_free(attached, n_attached);
	db_backup_list_free(kept, n_kept);
	if (claimed)
		backups_release(s->id);
	if (r < 0 && b)
		carve_err_prefix(err, "backup '%s': restore", b->backup_id);
	return r;
}

/* --- verify ------------------------------------------------------------------------------- */

int backup_task_verify(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err)
{
	struct backup_op *op = userdata;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	struct backup_verify_report rep = {0};
	struct db_backup **l = NULL;
	char when[32], first[512] = "";
	size_t n = 0;
	int r;

	task_progress(ctx, 1, 3, "steps");
	r = backups_store_open(d, op->store, op->backup_id[0] ? op->tenant_id : NULL, &store, err);
	if (r < 0)
		return r;
	r = backup_verify(store, op->backup_id[0] ? op->backup_id : NULL, &rep, err);
	if (r < 0)
		return carve_err_prefix(err, "verify");
	CARVE_FAILPOINT("backup-verified");
	task_progress(ctx, 2, 3, "steps");
	format_timestamp(time(NULL), when);
	/* one report per backup row */
	r = db_backup_list(d->db, NULL, NULL, op->store, true, &l, &n, err);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		json_t *bad = json_array();
		char *text;

		if (op->backup_id[0] && !streq(l[i]->backup_id, op->backup_id)) {
			json_decref(bad);
			continue;
		}
		for (size_t j = 0; j < rep.n_bad; j++)
			if (streq(rep.bad[j].backup_id, l[i]->backup_id))
				json_array_append_new(
					bad,
					json_pack("{s:s, s:s?, s:I, s:s, s:s}", "backup",
						  rep.bad[j].backup_id, "volume", rep.bad[j].volume,
						  "offset", (json_int_t)rep.bad[j].offset, "chunk",
						  rep.bad[j].chunk, "reason",
						  rep.bad[j].reason ? rep.bad[j].reason : ""));
		text = dump_free(json_pack("{s:s, s:b, s:o}", "verified_at", when, "ok",
					   json_array_size(bad) == 0, "bad", bad));
		(void)db_backup_set_verify(d->db, l[i]->id, text, NULL);
		free(text);
	}
	db_backup_list_free(l, n);
	for (size_t j = 0; j < rep.n_bad && j < 4; j++) {
		size_t len = strlen(first);
		snprintf(first + len, sizeof(first) - len,
			 "%sbackup '%s' volume '%s' offset %" PRIu64 " (%s)", j ? "; " : "",
			 rep.bad[j].backup_id, rep.bad[j].volume ? rep.bad[j].volume : "-",
			 rep.bad[j].offset, rep.bad[j].reason ? rep.bad[j].reason : "bad");
	}
	if (rep.n_bad > 0) {
		r = carve_err(err, -EBADMSG, "verify: %" PRIu64 " bad chunks, %zu references: %s%s",
			      rep.chunks_bad, rep.n_bad, first, rep.n_bad > 4 ? "; ..." : "");
		log_warning("store '%s': %s", op->store, err->msg);
	} else {
		r = 0;
		log_info("store '%s': verified %" PRIu64 " chunks of %" PRIu64 " backups: all good",
			 op->store, rep.chunks_checked, rep.backups);
	}
	backup_verify_report_release(&rep);
	return r;
}

/* --- prune and gc ------------------------------------------------------------------------- */

int backup_task_prune(struct daemon *d, struct task_ctx *ctx, void *userdata,
		      struct carve_error *err)
{
	struct backup_op *op = userdata;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	char **removed = NULL;
	int r;

	r = backups_claim(d, op->server_id, "prune", err);
	if (r < 0)
		return r;
	task_progress(ctx, 1, 3, "steps");
	r = backups_store_open(d, op->store, op->tenant_id, &store, err);
	if (r >= 0)
		r = backup_prune(store, op->server_id, &op->policy, false, &removed, err);
	if (r < 0)
		goto out;
	CARVE_FAILPOINT("prune-manifests-removed");
	task_progress(ctx, 2, 3, "steps");
	for (size_t i = 0; removed && removed[i]; i++) {
		cleanup(db_backup_freep) struct db_backup *b = NULL;
		if (db_backup_get(d->db, removed[i], &b, NULL) < 0)
			continue;
		delete_row_snapshots(d, b);
		(void)db_backup_delete(d->db, b->id, NULL);
		log_info("prune: backup '%s' of server '%s' removed", b->backup_id, b->server_name);
	}
	backups_update_usage(d, op->tenant_id, op->store);
out:
	backups_release(op->server_id);
	if (removed)
		for (size_t i = 0; removed[i]; i++)
			free(removed[i]);
	free(removed);
	return r;
}

int backup_task_gc(struct daemon *d, struct task_ctx *ctx, void *userdata, struct carve_error *err)
{
	struct backup_op *op = userdata;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	struct backup_gc_stats gs = {0};
	struct db_tenant **t = NULL;
	size_t n = 0;
	int r;

	task_progress(ctx, 1, 3, "steps");
	r = backups_store_open(d, op->store, NULL, &store, err);
	if (r < 0)
		return r;
	CARVE_FAILPOINT("gc-start");
	r = backup_gc(store, &gs, err);
	if (r < 0)
		return carve_err_prefix(err, "backup store '%s': gc", op->store);
	CARVE_FAILPOINT("gc-swept");
	task_progress(ctx, 2, 3, "steps");
	if (db_tenant_list(d->db, &t, &n, NULL) >= 0) {
		for (size_t i = 0; i < n; i++)
			backups_update_usage(d, t[i]->id, op->store);
		for (size_t i = 0; i < n; i++)
			db_tenant_free(t[i]);
		free(t);
	}
	log_info("backup store '%s': gc removed %" PRIu64 " of %" PRIu64 " chunks (%" PRIu64
		 " bytes), kept %" PRIu64 " recent",
		 op->store, gs.chunks_removed, gs.chunks_total, gs.bytes_removed,
		 gs.chunks_kept_recent);
	return 0;
}

/* --- submitting --------------------------------------------------------------------------- */

int backups_submit(struct daemon *d, const char *user_id, const struct db_server *s,
		   const char *kind, struct backup_op *op, task_fn fn, const char *object,
		   struct db_task **ret, struct carve_error *err)
{
	struct db_task tmpl = {0};
	struct backup_op *copy = malloc(sizeof(*copy));

	if (!copy)
		return carve_err(err, -ENOMEM, "%s", kind);
	*copy = *op;
	if (s)
		strscpy(tmpl.tenant_id, s->tenant_id, sizeof(tmpl.tenant_id));
	else
		strscpy(tmpl.tenant_id, op->tenant_id, sizeof(tmpl.tenant_id));
	if (user_id)
		strscpy(tmpl.user_id, user_id, sizeof(tmpl.user_id));
	strscpy(tmpl.kind, kind, sizeof(tmpl.kind));
	strscpy(tmpl.object, object, sizeof(tmpl.object));
	strscpy(tmpl.progress_unit, "bytes", sizeof(tmpl.progress_unit));
	return tasks_submit(d->tasks, &tmpl, fn, copy, free, ret, err);
}

/* --- schedules ---------------------------------------------------------------------------- */

struct cron {
	uint64_t minute, hour, dom, month, dow;
	bool dom_any, dow_any;
};

static int cron_field(const char *s, unsigned lo, unsigned hi, uint64_t *ret, bool *ret_any,
		      const char *what, struct carve_error *err)
{
	char buf[64], *save = NULL, *item;
	uint64_t mask = 0;

	if (strscpy(buf, s, sizeof(buf)) < 0)
		return carve_err_field(err, -EINVAL, "schedule", "schedule: %s field too long",
				       what);
	if (!*s || s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
		goto bad;
	if (ret_any)
		*ret_any = streq(s, "*");
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		unsigned a = lo, b = hi, step = 1;
		char *slash = strchr(item, '/'), *dash;
		uint64_t x;

		if (slash) {
			*slash = '\0';
			if (parse_uint64(slash + 1, 1, hi - lo + 1, &x, NULL) < 0)
				goto bad;
			step = (unsigned)x;
		}
		if (!streq(item, "*")) {
			dash = strchr(item, '-');
			if (dash)
				*dash = '\0';
			if (parse_uint64(item, lo, hi, &x, NULL) < 0)
				goto bad;
			a = b = (unsigned)x;
			if (dash) {
				if (parse_uint64(dash + 1, lo, hi, &x, NULL) < 0 || x < a)
					goto bad;
				b = (unsigned)x;
			} else if (slash)
				b = hi;
		}
		for (unsigned v = a; v <= b; v += step)
			mask |= UINT64_C(1) << v;
	}
	if (!mask)
		goto bad;
	*ret = mask;
	return 0;
bad:
	return carve_err_field(err, -EINVAL, "schedule",
			       "schedule: %s field '%s': use *, N, N-M, lists and /step within "
			       "%u-%u",
			       what, s, lo, hi);
}

static int parse_every(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v == 0 || v > 366ULL * 86400)
		return -EINVAL;
	if (streq(end, "s") || streq(end, ""))
		mul = 1;
	else if (streq(end, "m"))
		mul = 60;
	else if (streq(end, "h"))
		mul = 3600;
	else if (streq(end, "d"))
		mul = 86400;
	else
		return -EINVAL;
	if (v * mul > 366ULL * 86400)
		return -EINVAL;
	*ret = v * mul;
	return 0;
}

int backup_schedule_parse(const char *expr, int64_t now, uint64_t min_interval, int64_t *ret_next,
			  struct carve_error *err)
{
	static const struct {
		const char *name, *cron;
	} macros[] = {
		{"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
		{"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
		{"@annually", "0 0 1 1 *"},
	};
	char buf[128], *f[6], *save = NULL;
	struct cron c = {0};
	size_t nf = 0;
	int64_t t;

	if (!expr || !*expr || strlen(expr) >= sizeof(buf))
		return carve_err_field(err, -EINVAL, "schedule",
				       "schedule: missing or too long (use 'M H DOM MON DOW', "
				       "'@daily' or '@every 6h')");
	if (startswith(expr, "@every ")) {
		uint64_t secs;

		if (parse_every(expr + 7, &secs) < 0)
			return carve_err_field(err, -EINVAL, "schedule",
					       "schedule '%s': '@every' takes a duration like 30m, "
					       "6h or 1d",
					       expr);
		if (secs < min_interval)
			return carve_err_field(err, -EINVAL, "schedule",
					       "schedule '%s': at most one backup every %" PRIu64
					       " seconds (carved --backup-min-interval)",
					       expr, min_interval);
		*ret_next = now + (int64_t)secs;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(macros); i++)
		if (streq(expr, macros[i].name))
			expr = macros[i].cron;
	strscpy(buf, expr, sizeof(buf));
	for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (nf == ELEMENTSOF(f))
			break;
		f[nf++] = tok;
	}
	if (nf != 5)
		return carve_err_field(err, -EINVAL, "schedule",
				       "schedule '%s': want 5 fields 'minute hour day-of-month "
				       "month day-of-week' (e.g. '30 2 * * *'), '@daily' or "
				       "'@every 6h'",
				       expr);
	if (cron_field(f[0], 0, 59, &c.minute, NULL, "minute", err) < 0 ||
	    cron_field(f[1], 0, 23, &c.hour, NULL, "hour", err) < 0 ||
	    cron_field(f[2], 1, 31, &c.dom, &c.dom_any, "day-of-month", err) < 0 ||
	    cron_field(f[3], 1, 12, &c.month, NULL, "month", err) < 0 ||
	    cron_field(f[4], 0, 7, &c.dow, &c.dow_any, "day-of-week", err) < 0)
		return -EINVAL;
	if (c.dow & (UINT64_C(1) << 7))
		c.dow |= 1;
	/* the next minute that matches, at most about 4 years ahead (29 Feb) */
	for (t = (now / 60 + 1) * 60; t < now + 4 * 366 * 86400LL;) {
		time_t tt = (time_t)t;
		struct tm tm;
		bool dom_ok, dow_ok, day_ok;

		gmtime_r(&tt, &tm);
		if (!(c.month & (UINT64_C(1) << (tm.tm_mon + 1)))) {
			t += 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60);
			continue;
		}
		dom_ok = c.dom & (UINT64_C(1) << tm.tm_mday);
		dow_ok = c.dow & (UINT64_C(1) << tm.tm_wday);
		day_ok = c.dom_any && c.dow_any ? true
			 : c.dom_any		? dow_ok
			 : c.dow_any		? dom_ok
						: (dom_ok || dow_ok);
		if (!day_ok) {
			t += 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60);
			continue;
		}
		if (!(c.hour & (UINT64_C(1) << tm.tm_hour))) {
			t += 3600 - tm.tm_min * 60;
			continue;
		}
		if (!(c.minute & (UINT64_C(1) << tm.tm_min))) {
			t += 60;
			continue;
		}
		*ret_next = t;
		return 0;
	}
	return carve_err_field(err, -EINVAL, "schedule", "schedule '%s': never matches a date",
			       expr);
}

static bool policy_set(const struct backup_prune_policy *p)
{
	return p->keep_last || p->keep_hourly || p->keep_daily || p->keep_weekly ||
	       p->keep_monthly || p->keep_yearly;
}

int backups_housekeeping(struct daemon *d)
{
	struct db_backup_schedule **l = NULL;
	int64_t now = time(NULL), next;
	size_t n = 0;

	if (db_backup_schedule_due(d->db, now, &l, &n, NULL) < 0)
		return 30;
	for (size_t i = 0; i < n; i++) {
		struct carve_error err = CARVE_ERROR_INIT;
		cleanup(db_server_freep) struct db_server *s = NULL;
		cleanup(db_task_freep) struct db_task *task = NULL;
		struct db_backup_schedule *sc = l[i];
		struct backup_op op = {0};
		char object[128];

		if (db_server_get_by_id(d->db, sc->server_id, &s, NULL) < 0) {
			(void)db_backup_schedule_delete(d->db, sc->server_id, NULL);
			continue;
		}
		if (backup_schedule_parse(sc->expr, now, 0, &next, &err) < 0)
			next = now + 86400;
		sc->next_run = next;
		sc->last_run = now;
		free(sc->last_error);
		sc->last_error = NULL;
		strscpy(op.server_id, s->id, sizeof(op.server_id));
		strscpy(op.tenant_id, s->tenant_id, sizeof(op.tenant_id));
		strscpy(op.store, sc->store, sizeof(op.store));
		op.scheduled = true;
		op.policy = (struct backup_prune_policy){sc->keep_last,	   sc->keep_hourly,
							 sc->keep_daily,   sc->keep_weekly,
							 sc->keep_monthly, sc->keep_yearly};
		op.prune_after = policy_set(&op.policy);
		snprintf(object, sizeof(object), "server/%s", s->name);
		if (backups_submit(d, NULL, s, "backup.create", &op, backup_task_create, object,
				   &task, &err) < 0)
			sc->last_error = strdup(err.msg);
		else
			log_info("server '%s': scheduled backup (task %s)", s->name, task->id);
		(void)db_backup_schedule_set(d->db, sc, NULL);
	}
	db_backup_schedule_list_free(l, n);
	next = db_backup_schedule_next(d->db);
	if (next <= 0)
		return 30;
	now = time(NULL);
	return next <= now ? 1 : next - now > 30 ? 30 : (int)(next - now);
}

/* --- start-up ----------------------------------------------------------------------------- */

/* Unmount whatever an interrupted backup left mounted under <run>/backup-mnt. */
static void reconcile_mounts(struct daemon *d, unsigned *repaired)
{
	char prefix[PATH_MAX], line[4096];
	FILE *f;
	char **found = NULL;
	size_t n = 0;

	snprintf(prefix, sizeof(prefix), "%s/backup-mnt/", d->run_dir);
	f = fopen("/proc/self/mountinfo", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX];
		char **nf;

		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 || !startswith(mp, prefix))
			continue;
		nf = reallocarray(found, n + 1, sizeof(*found));
		if (!nf)
			break;
		found = nf;
		found[n++] = strdup(mp);
	}
	if (f)
		fclose(f);
	for (size_t i = n; i-- > 0;) {
		if (found[i] && (umount2(found[i], 0) == 0 || umount2(found[i], MNT_DETACH) == 0)) {
			log_warning("reconcile: unmounted '%s' left by an interrupted backup",
				    found[i]);
			(*repaired)++;
		}
		free(found[i]);
	}
	free(found);
	snprintf(prefix, sizeof(prefix), "%s/backup-mnt", d->run_dir);
	(void)rm_rf(prefix);
}

/* Temp files of an interrupted restore ("<v>.raw.restore-<pid>") beside the volumes. */
static void reconcile_restore_temps(struct daemon *d, struct storage_pool *p, unsigned *repaired)
{
	char path[PATH_MAX], *slash;
	DIR *dir;
	struct dirent *de;

	if (!p || storage_volume_path(p, "reconcile", path, sizeof(path)) < 0 ||
	    !(slash = strrchr(path, '/')))
		return;
	*slash = '\0';
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		if (!strstr(de->d_name, ".raw.restore-"))
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) == 0) {
			log_warning("reconcile: removed '%s/%s' left by an interrupted restore",
				    path, de->d_name);
			(*repaired)++;
		}
	}
	if (dir)
		closedir(dir);
	(void)d;
}

static void reconcile_store(struct daemon *d, const char *store_name, unsigned *repaired)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(backup_store_freep) struct backup_store *store = NULL;
	struct backup_info *infos = NULL;
	struct db_backup **l = NULL;
	size_t n_infos = 0, n = 0;

	if (backups_store_open(d, store_name, NULL, &store, &err) < 0) {
		log_warning("reconcile: %s", err.msg);
		return;
	}
	if (backup_list(store, &infos, &n_infos, &err) < 0 ||
	    db_backup_list(d->db, NULL, NULL, store_name, false, &l, &n, &err) < 0) {
		log_warning("reconcile: backup store '%s': %s", store_name, err.msg);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct db_backup *b = l[i];
		bool have = false;

		for (size_t j = 0; j < n_infos && b->state == DB_BACKUP_COMPLETE && !have; j++)
			have = streq(infos[j].id, b->backup_id);
		if (b->state == DB_BACKUP_COMPLETE && have)
			continue;
		if (b->state == DB_BACKUP_RUNNING) {
			/* interrupted: its manifest, if it got that far, has no row */
			for (size_t j = 0; j < n_infos; j++) {
				bool known = false;
				if (!streq(infos[j].server_id, b->server_id) ||
				    infos[j].created_at < b->created_at - 1)
					continue;
				for (size_t k = 0; k < n && !known; k++)
					known = streq(l[k]->backup_id, infos[j].id);
				if (!known && backup_delete(store, infos[j].id, NULL) >= 0)
					log_warning("reconcile: backup '%s' of server '%s' was not "
						    "recorded (interrupted): manifest removed",
						    infos[j].id, b->server_name);
			}
		}
		delete_row_snapshots(d, b);
		(void)db_backup_delete(d->db, b->id, NULL);
		log_warning("reconcile: %s backup of server '%s' removed (%s)",
			    b->state == DB_BACKUP_RUNNING ? "interrupted" : "pruned",
			    b->server_name,
			    b->state == DB_BACKUP_RUNNING ? "carved stopped during it"
							  : "its manifest is gone");
		(*repaired)++;
		backups_update_usage(d, b->tenant_id, store_name);
	}
	/* a crash between recording a backup and dropping the older snapshots: only the newest
	 * backup of each server keeps its snapshots (l is oldest first) */
	db_backup_list_free(l, n);
	l = NULL;
	n = 0;
	if (db_backup_list(d->db, NULL, NULL, store_name, true, &l, &n, &err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool newer = false;

		if (!l[i]->snapshot[0])
			continue;
		for (size_t j = i + 1; j < n && !newer; j++)
			newer = streq(l[j]->server_id, l[i]->server_id) && l[j]->snapshot[0];
		if (!newer)
			continue;
		delete_row_snapshots(d, l[i]);
		l[i]->snapshot[0] = '\0';
		(void)db_backup_update(d->db, l[i], NULL);
		log_warning("reconcile: backup '%s': dropped its snapshots (a newer backup keeps "
			    "them)",
			    l[i]->backup_id);
		(*repaired)++;
	}
out:
	backup_info_array_free(infos, n_infos);
	db_backup_list_free(l, n);
}

/* A running container left frozen by an interrupted backup: thaw every data volume (servers.c
 * thaws the root). */
static void reconcile_thaw(struct daemon *d, unsigned *repaired)
{
	struct db_server **l = NULL;
	size_t n = 0;

	if (db_server_list(d->db, NULL, &l, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct bvol *v = NULL;
		size_t nv = 0;

		if (l[i]->state == DB_SERVER_RUNNING && streq(l[i]->kind, "vm")) {
			char dir[PATH_MAX];
			/* QMP cont: a no-op unless a crash left the guest stopped for a snapshot */
			if (daemon_server_dir(d, l[i]->id, dir, sizeof(dir)) >= 0)
				(void)monitor_vm_pause(dir, false, NULL);
			continue;
		}
		if (l[i]->state != DB_SERVER_RUNNING || server_volumes(d, l[i], &v, &nv, NULL) < 0)
			continue;
		for (size_t j = 1; j < nv; j++)
			if (storage_fs_thaw(v[j].live_mnt, NULL) >= 0) {
				log_warning("reconcile: server '%s': thawed volume '%s', left "
					    "frozen by an interrupted backup",
					    l[i]->name, v[j].name);
				(*repaired)++;
			}
		free(v);
	}
	db_server_list_free(l, n);
}

int backups_init(struct daemon *d, struct carve_error *err)
{
	cleanup(backup_store_freep) struct backup_store *s = NULL;
	struct db_backup_store **l = NULL;
	char names[DAEMON_POOLS_MAX][64], tmp[PATH_MAX];
	unsigned repaired = 0;
	size_t n = 0, np;
	int r;

	r = backup_store_open(d->backup_dir, true, NULL, &s, err);
	if (r < 0)
		return carve_err_prefix(err, "backup store 'default' at '%s'", d->backup_dir);
	reconcile_mounts(d, &repaired);
	reconcile_thaw(d, &repaired);
	reconcile_store(d, BACKUP_STORE_DEFAULT, &repaired);
	if (db_backup_store_list(d->db, &l, &n, NULL) >= 0)
		for (size_t i = 0; i < n; i++)
			reconcile_store(d, l[i]->name, &repaired);
	db_backup_store_list_free(l, n);
	reconcile_restore_temps(d, d->pool, &repaired);
	np = daemon_pools_names(names, DAEMON_POOLS_MAX);
	for (size_t i = 0; i < np; i++)
		if (daemon_pool(d, names[i]) != d->pool)
			reconcile_restore_temps(d, daemon_pool(d, names[i]), &repaired);
	snprintf(tmp, sizeof(tmp), "%s/backup-tmp", d->state_dir);
	(void)rm_rf(tmp);
	if (repaired)
		log_info("backups: %u things repaired after an interrupted operation", repaired);
	return 0;
}

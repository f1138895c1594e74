/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pools carved serves volumes from: "default" (from the command line: the embedded sparse XFS
 * image, or a dir pool) and those the provider adds through the API (rows in the pools table):
 * either an existing directory on XFS (reflink=1) or btrfs, or another embedded image. Pools are
 * opened at start and kept open; a deleted pool's struct stays allocated until carved exits, so a
 * task that looked it up never sees it freed.
 */
#define LOG_DOMAIN "pools"
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>
#include <time.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "daemon/daemon.h"
#include "daemon/servers.h"
#include "daemon/tasks.h"

struct pool_entry {
	char name[64];
	struct storage_pool *pool;
	char *image; /* embedded kind: the image file */
	double fill_threshold;
	bool above; /* above its threshold at the last check */
	bool deleted;
	bool trimming; /* a trim runs (one at a time per pool) */
	bool trimmed; /* last_trim holds a result */
	struct daemon_trim_result last_trim;
};

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_entry pools[DAEMON_POOLS_MAX];
static size_t n_pools;

static struct pool_entry *find(const char *name)
{
	for (size_t i = 0; i < n_pools; i++)
		if (!pools[i].deleted && streq(pools[i].name, name))
			return &pools[i];
	return NULL;
}

struct storage_pool *daemon_pool(struct daemon *d, const char *name)
{
	struct pool_entry *e;
	struct storage_pool *p;

	if (!name || !*name || streq(name, "default"))
		return d->pool;
	pthread_mutex_lock(&pools_lock);
	e = find(name);
	p = e ? e->pool : NULL;
	pthread_mutex_unlock(&pools_lock);
	return p;
}

static int add_entry(const char *name, struct storage_pool *pool, const char *image,
		     double threshold)
{
	struct pool_entry *e;

	if (n_pools >= DAEMON_POOLS_MAX)
		return -E2BIG;
	e = &pools[n_pools++];
	memset(e, 0, sizeof(*e));
	strscpy(e->name, name, sizeof(e->name));
	e->pool = pool;
	e->image = image ? strdup(image) : NULL;
	e->fill_threshold = threshold;
	return 0;
}

static int open_pool(struct daemon *d, const struct db_pool *p, struct storage_pool **ret,
		     struct carve_error *err)
{
	int r;

	if (p->image) {
		r = mkdir_p(p->path, 0700);
		if (r < 0)
			return carve_err(err, r, "pool '%s': create '%s'", p->name, p->path);
		r = storage_pool_open_image(p->name, p->path, p->image, p->size, ret, err);
	} else {
		r = storage_pool_open("reflink", p->name, p->path, ret, err);
	}
	if (r < 0)
		return r;
	return storage_pool_set_overcommit(*ret, p->overcommit);
}

int daemon_pools_open(struct daemon *d, struct carve_error *err)
{
	struct db_pool **l = NULL;
	size_t n = 0;
	int r;

	char image[PATH_MAX + 32];

	snprintf(image, sizeof(image), "%s/pools/default.img", d->state_dir);
	pthread_mutex_lock(&pools_lock);
	r = add_entry("default", d->pool, d->volumes ? image : NULL, d->fill_threshold);
	pthread_mutex_unlock(&pools_lock);
	if (r < 0)
		return r;
	r = db_pool_list(d->db, &l, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct carve_error e = CARVE_ERROR_INIT;
		struct storage_pool *sp = NULL;

		if (open_pool(d, l[i], &sp, &e) < 0) {
			/* its servers fail to start with a clear error; the rest runs */
			log_error("pool '%s' is unavailable: %s", l[i]->name, e.msg);
			continue;
		}
		pthread_mutex_lock(&pools_lock);
		r = add_entry(l[i]->name, sp, l[i]->image, l[i]->fill_threshold);
		pthread_mutex_unlock(&pools_lock);
		if (r < 0)
			storage_pool_free(sp);
	}
	db_pool_list_free(l, n);
	return 0;
}

int daemon_pool_add(struct daemon *d, struct db_pool *p, struct carve_error *err)
{
	struct storage_pool *sp = NULL;
	int r;

	pthread_mutex_lock(&pools_lock);
	r = find(p->name) ? -EEXIST : n_pools >= DAEMON_POOLS_MAX ? -E2BIG : 0;
	pthread_mutex_unlock(&pools_lock);
	if (r == -EEXIST)
		return carve_err_field(err, r, "name", "pool '%s' already exists", p->name);
	if (r < 0)
		return carve_err(err, r, "pool '%s': at most %d pools", p->name, DAEMON_POOLS_MAX);
	r = open_pool(d, p, &sp, err);
	if (r < 0)
		return r;
	r = db_pool_create(d->db, p, err);
	if (r < 0) {
		if (p->image)
			(void)storage_pool_image_teardown(p->path, p->image, NULL);
		storage_pool_free(sp);
		return r;
	}
	pthread_mutex_lock(&pools_lock);
	r = add_entry(p->name, sp, p->image, p->fill_threshold);
	pthread_mutex_unlock(&pools_lock);
	return r < 0 ? carve_err(err, r, "pool '%s'", p->name) : 0;
}

int daemon_pool_remove(struct daemon *d, const char *name, struct carve_error *err)
{
	cleanup(db_pool_freep) struct db_pool *p = NULL;
	struct pool_entry *e;
	char tpl[PATH_MAX];
	int r;

	if (streq(name, "default"))
		return carve_err(err, -EBUSY, "pool 'default' cannot be deleted");
	r = db_pool_get(d->db, name, &p, err);
	if (r < 0)
		return r;
	r = db_pool_delete(d->db, name, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&pools_lock);
	e = find(name);
	if (e)
		e->deleted = true;
	pthread_mutex_unlock(&pools_lock);
	/* what carved put there itself: template volumes; then the embedded image */
	if (e && storage_volume_path(e->pool, "template-busybox", tpl, sizeof(tpl)) >= 0)
		(void)storage_volume_destroy(e->pool, "template-busybox", NULL);
	if (p->image) {
		r = storage_pool_image_teardown(p->path, p->image, err);
		if (r < 0)
			return r;
		(void)unlink(p->image);
		(void)rmdir(p->path);
	}
	log_info("pool '%s' deleted", name);
	return 0;
}

int daemon_pool_set(struct daemon *d, const struct db_pool *p, struct carve_error *err)
{
	struct pool_entry *e;
	int r = db_pool_update(d->db, p, err);

	if (r < 0)
		return r;
	pthread_mutex_lock(&pools_lock);
	e = find(p->name);
	if (e) {
		(void)storage_pool_set_overcommit(e->pool, p->overcommit);
		e->fill_threshold = p->fill_threshold;
	}
	pthread_mutex_unlock(&pools_lock);
	return 0;
}

size_t daemon_pools_names(char (*names)[64], size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&pools_lock);
	for (size_t i = 0; i < n_pools && n < max; i++)
		if (!pools[i].deleted)
			strscpy(names[n++], pools[i].name, 64);
	pthread_mutex_unlock(&pools_lock);
	return n;
}

double daemon_pool_threshold(const char *name, bool *above, bool set_above, bool value)
{
	struct pool_entry *e;
	double t = 0.8;

	pthread_mutex_lock(&pools_lock);
	e = find(name);
	if (e) {
		t = e->fill_threshold;
		if (set_above)
			e->above = value;
		if (above)
			*above = e->above;
	}
	pthread_mutex_unlock(&pools_lock);
	return t;
}

void daemon_pools_close(struct daemon *d)
{
	pthread_mutex_lock(&pools_lock);
	for (size_t i = 0; i < n_pools; i++) {
		if (pools[i].pool != d->pool)
			storage_pool_free(pools[i].pool);
		free(pools[i].image);
	}
	n_pools = 0;
	pthread_mutex_unlock(&pools_lock);
}

int daemon_pool_of(struct daemon *d, const char *pool_name, struct storage_pool **ret,
		   struct carve_error *err)
{
	struct storage_pool *p = daemon_pool(d, pool_name);

	if (!p)
		return carve_err(err, -ENXIO, "pool '%s' is not available", pool_name);
	*ret = p;
	return 0;
}

/* --- trim ------------------------------------------------------------------------------------ */

bool daemon_pool_last_trim(const char *name, struct daemon_trim_result *ret)
{
	struct pool_entry *e;
	bool found = false;

	pthread_mutex_lock(&pools_lock);
	e = find(name);
	if (e && e->trimmed) {
		*ret = e->last_trim;
		found = true;
	}
	pthread_mutex_unlock(&pools_lock);
	return found;
}

/* The host blocks under an embedded pool's image (0 without one). */
static uint64_t image_allocated(const char *image)
{
	struct stat st;

	return image && stat(image, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

int daemon_pool_trim(struct daemon *d, const char *name, struct task_ctx *ctx,
		     struct daemon_trim_result *ret, struct carve_error *err)
{
	struct daemon_trim_result res = {.at = time(NULL)};
	struct storage_pool_usage u = {0};
	struct db_server **l = NULL;
	struct storage_pool *p;
	struct pool_entry *e;
	char image[PATH_MAX] = "";
	size_t n = 0;
	int r;

	pthread_mutex_lock(&pools_lock);
	e = find(name);
	r = !e ? -ENOENT : e->trimming ? -EBUSY : 0;
	if (r == 0) {
		e->trimming = true;
		p = e->pool;
		if (e->image)
			strscpy(image, e->image, sizeof(image));
	}
	pthread_mutex_unlock(&pools_lock);
	if (r == -ENOENT)
		return carve_err(err, r, "pool '%s' not found", name);
	if (r < 0)
		return carve_err(err, r, "pool '%s': a trim of it is running", name);
	r = storage_pool_usage(p, &u, err);
	if (r < 0)
		goto out;
	res.allocated_before = u.allocated;
	res.image_before = image_allocated(image[0] ? image : NULL);
	r = db_server_list(d->db, NULL, &l, &n, err);
	if (r < 0)
		goto out;
	/* every volume of a running server: what its tenant deleted frees pool blocks... */
	for (size_t i = 0; i < n; i++) {
		struct carve_error e2 = CARVE_ERROR_INIT;

		if (ctx)
			task_progress(ctx, i, n + 1, "steps");
		if (l[i]->state != DB_SERVER_RUNNING && l[i]->state != DB_SERVER_PAUSED)
			continue;
		if (servers_trim_volumes(d, l[i], p, &res.trimmed, &res.volumes, &e2) < 0) {
			log_info("pool '%s': %s: skipped", name, e2.msg);
			res.skipped++;
		}
	}
	/* ...which the pool's own trim then gives back to the host */
	r = storage_pool_trim(p, NULL, err);
	if (r < 0)
		goto out;
	r = storage_pool_usage(p, &u, err);
	if (r < 0)
		goto out;
	res.allocated_after = u.allocated;
	res.image_after = image_allocated(image[0] ? image : NULL);
	if (ctx)
		task_progress(ctx, n + 1, n + 1, "steps");
	if (ret)
		*ret = res;
out:
	db_server_list_free(l, n);
	pthread_mutex_lock(&pools_lock);
	e = find(name);
	if (e) {
		e->trimming = false;
		if (r >= 0) {
			e->last_trim = res;
			e->trimmed = true;
		}
	}
	pthread_mutex_unlock(&pools_lock);
	if (r < 0)
		return r;
	{
		char a[32], b[32], msg[320], object[80];
		uint64_t back = res.allocated_before > res.allocated_after
					? res.allocated_before - res.allocated_after
					: 0;

		snprintf(msg, sizeof(msg),
			 "pool '%s' trimmed: %u volumes (%u skipped), allocated %s -> %s", name,
			 res.volumes, res.skipped, format_size(res.allocated_before, a, sizeof(a)),
			 format_size(res.allocated_after, b, sizeof(b)));
		snprintf(object, sizeof(object), "pool/%s", name);
		log_info("%s (%llu bytes given back)", msg, (unsigned long long)back);
		(void)db_event_append(d->db, "pool.trim", object, msg, NULL);
	}
	return 0;
}

void daemon_pools_trim_all(struct daemon *d)
{
	char names[DAEMON_POOLS_MAX][64];
	size_t n = daemon_pools_names(names, DAEMON_POOLS_MAX);

	if (!d->volumes)
		return;
	for (size_t i = 0; i < n; i++) {
		struct carve_error err = CARVE_ERROR_INIT;

		if (daemon_pool_trim(d, names[i], NULL, NULL, &err) < 0)
			log_warning("periodic trim: %s", err.msg);
	}
}

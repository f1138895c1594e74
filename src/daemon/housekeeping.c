/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Housekeeping: a thread that wakes every HOUSEKEEPING_INTERVAL seconds (and at once when asked)
 * to watch every pool's fill level, recording a "pool.fill" event when a pool's allocation crosses
 * its threshold (and "pool.fill.cleared" when it falls back), to drop expired sessions and, every
 * --trim-interval, to trim every pool (what tenants deleted goes back to the pool and the host).
 * Guests fill their disks without any API call, so this cannot hang off the API paths alone.
 */
#define LOG_DOMAIN "housekeeping"
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/parse-util.h"
#include "daemon/backups.h"
#include "daemon/daemon.h"

#define HOUSEKEEPING_INTERVAL 30

struct housekeeping {
	struct daemon *d;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping, kick;
	time_t next_trim; /* when every pool is trimmed next (d->trim_interval; 0: never) */
};

static void check_pool(struct daemon *d, const char *name)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct storage_pool_usage u = {0};
	struct storage_pool *p = daemon_pool(d, name);
	char msg[256], a[32], b[32], object[80];
	double fill, threshold;
	bool above = false;

	if (!p || !d->volumes || storage_pool_usage(p, &u, &err) < 0 || u.physical == 0)
		return;
	threshold = daemon_pool_threshold(name, &above, false, false);
	fill = (double)u.allocated / (double)u.physical;
	snprintf(object, sizeof(object), "pool/%s", name);
	if (fill >= threshold && !above) {
		snprintf(msg, sizeof(msg),
			 "pool '%s' is %.0f%% full (%s of %s allocated; threshold %.0f%%)", name,
			 fill * 100, format_size(u.allocated, a, sizeof(a)),
			 format_size(u.physical, b, sizeof(b)), threshold * 100);
		log_warning("%s", msg);
		(void)db_event_append(d->db, "pool.fill", object, msg, NULL);
		daemon_pool_threshold(name, NULL, true, true);
	} else if (fill < threshold && above) {
		snprintf(msg, sizeof(msg), "pool '%s' is back below its threshold (%.0f%% full)",
			 name, fill * 100);
		log_info("%s", msg);
		(void)db_event_append(d->db, "pool.fill.cleared", object, msg, NULL);
		daemon_pool_threshold(name, NULL, true, false);
	}
}

static void check_pools(struct housekeeping *h)
{
	char names[DAEMON_POOLS_MAX][64];
	size_t n = daemon_pools_names(names, DAEMON_POOLS_MAX);

	for (size_t i = 0; i < n; i++)
		check_pool(h->d, names[i]);
}

static void *housekeeping_main(void *arg)
{
	struct housekeeping *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stopping) {
		struct timespec until;
		int wait;

		pthread_mutex_unlock(&h->lock);
		check_pools(h);
		(void)db_token_delete_expired(h->d->db, time(NULL), NULL);
		/* due backup schedules; wake again when the next one is due */
		wait = h->d->tasks ? backups_housekeeping(h->d) : 1;
		if (h->next_trim && time(NULL) >= h->next_trim) {
			daemon_pools_trim_all(h->d);
			h->next_trim = time(NULL) + (time_t)h->d->trim_interval;
		}
		pthread_mutex_lock(&h->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait < HOUSEKEEPING_INTERVAL ? wait : HOUSEKEEPING_INTERVAL;
		/* a --trim-interval shorter than the usual wait is kept too */
		if (h->next_trim) {
			time_t early =
				h->next_trim > until.tv_sec ? 0 : until.tv_sec - h->next_trim;

			until.tv_sec -= early;
		}
		while (!h->stopping && !h->kick)
			if (pthread_cond_timedwait(&h->cond, &h->lock, &until) != 0)
				break;
		h->kick = false;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int housekeeping_new(struct daemon *d, struct housekeeping **ret)
{
	struct housekeeping *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	h->d = d;
	if (d->trim_interval && d->volumes)
		h->next_trim = time(NULL) + (time_t)d->trim_interval;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	r = -pthread_create(&h->thread, NULL, housekeeping_main, h);
	if (r < 0) {
		free(h);
		return r;
	}
	*ret = h;
	return 0;
}

void housekeeping_kick(struct housekeeping *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->kick = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

struct housekeeping *housekeeping_free(struct housekeeping *h)
{
	if (!h)
		return NULL;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return NULL;
}

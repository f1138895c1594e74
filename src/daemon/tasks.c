/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "tasks"
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/string-util.h"
#include "daemon/tasks.h"

struct task_ctx {
	struct tasks *tasks;
	struct db_task *row;
	task_fn fn;
	void *userdata;
	task_free_fn free_fn;
	struct timespec last_write;
	struct task_ctx *next;
};

struct tasks {
	struct daemon *d;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct task_ctx *head, *tail;
	bool stopping;
	unsigned n_workers;
	pthread_t workers[16];
};

static void ctx_free(struct task_ctx *c)
{
	if (!c)
		return;
	if (c->free_fn)
		c->free_fn(c->userdata);
	db_task_free(c->row);
	free(c);
}

static const char *error_code_for(int r)
{
	switch (-r) {
	case ENOENT:
		return "not_found";
	case EEXIST:
	case EBUSY:
		return "conflict";
	case EINVAL:
	case ERANGE:
		return "invalid_argument";
	case ENOSPC:
	case EDQUOT:
		return "insufficient_storage";
	case ETIMEDOUT:
		return "timeout";
	case ECANCELED:
		return "canceled";
	default:
		return "internal";
	}
}

static void run_one(struct tasks *t, struct task_ctx *c)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_task *row = c->row;
	int r;

	row->state = DB_TASK_RUNNING;
	row->started_at = time(NULL);
	(void)db_task_update(t->d->db, row, NULL);

	r = c->fn(t->d, c, c->userdata, &err);

	row->finished_at = time(NULL);
	if (r < 0) {
		row->state = DB_TASK_FAILED;
		strscpy(row->error_code, error_code_for(r), sizeof(row->error_code));
		free(row->error_message);
		row->error_message = strdup(err.msg[0] ? err.msg : strerror(-r));
		log_info("task %s %s %s failed: %s", row->id, row->kind, row->object,
			 row->error_message ? row->error_message : "");
	} else {
		row->state = DB_TASK_SUCCEEDED;
		if (row->progress_total > 0)
			row->progress_done = row->progress_total;
		log_debug("task %s %s %s succeeded", row->id, row->kind, row->object);
	}
	(void)db_task_update(t->d->db, row, NULL);
}

static void *worker(void *arg)
{
	struct tasks *t = arg;

	for (;;) {
		struct task_ctx *c;

		pthread_mutex_lock(&t->lock);
		while (!t->head && !t->stopping)
			pthread_cond_wait(&t->cond, &t->lock);
		if (!t->head) {
			pthread_mutex_unlock(&t->lock);
			return NULL;
		}
		c = t->head;
		t->head = c->next;
		if (!t->head)
			t->tail = NULL;
		pthread_mutex_unlock(&t->lock);

		run_one(t, c);
		ctx_free(c);
	}
}

int tasks_new(struct daemon *d, unsigned workers, struct tasks **ret)
{
	struct tasks *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->d = d;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (workers > ELEMENTSOF(t->workers))
		workers = ELEMENTSOF(t->workers);
	for (unsigned i = 0; i < workers; i++) {
		int r = -pthread_create(&t->workers[i], NULL, worker, t);
		if (r < 0) {
			t->n_workers = i;
			tasks_free(t);
			return r;
		}
	}
	t->n_workers = workers;
	*ret = t;
	return 0;
}

struct tasks *tasks_free(struct tasks *t)
{
	if (!t)
		return NULL;
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	for (unsigned i = 0; i < t->n_workers; i++)
		pthread_join(t->workers[i], NULL);
	/* Workers drain the queue before they exit; nothing is left here. */
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
	return NULL;
}

int tasks_submit(struct tasks *t, const struct db_task *tmpl, task_fn fn, void *userdata,
		 task_free_fn free_fn, struct db_task **ret, struct carve_error *err)
{
	struct task_ctx *c = calloc(1, sizeof(*c));
	struct db_task *copy = NULL;
	int r;

	if (!c) {
		if (free_fn)
			free_fn(userdata);
		return carve_err(err, -ENOMEM, "task");
	}
	c->tasks = t;
	c->fn = fn;
	c->userdata = userdata;
	c->free_fn = free_fn;
	c->row = calloc(1, sizeof(*c->row));
	copy = calloc(1, sizeof(*copy));
	if (!c->row || !copy) {
		free(copy);
		ctx_free(c);
		return carve_err(err, -ENOMEM, "task");
	}
	memcpy(c->row->tenant_id, tmpl->tenant_id, sizeof(c->row->tenant_id));
	memcpy(c->row->user_id, tmpl->user_id, sizeof(c->row->user_id));
	memcpy(c->row->kind, tmpl->kind, sizeof(c->row->kind));
	memcpy(c->row->object, tmpl->object, sizeof(c->row->object));
	memcpy(c->row->progress_unit, tmpl->progress_unit, sizeof(c->row->progress_unit));
	c->row->progress_total = tmpl->progress_total;
	c->row->state = DB_TASK_PENDING;
	r = db_task_create(t->d->db, c->row, err);
	if (r < 0) {
		free(copy);
		ctx_free(c);
		return r;
	}
	*copy = *c->row;
	copy->error_message = NULL;

	pthread_mutex_lock(&t->lock);
	if (t->stopping) {
		pthread_mutex_unlock(&t->lock);
		free(copy);
		ctx_free(c);
		return carve_err(err, -ESHUTDOWN, "carved is shutting down");
	}
	if (t->tail)
		t->tail->next = c;
	else
		t->head = c;
	t->tail = c;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	*ret = copy;
	return 0;
}

void task_progress(struct task_ctx *ctx, uint64_t done, uint64_t total, const char *unit)
{
	struct timespec now;
	bool final = total > 0 && done >= total;

	ctx->row->progress_done = done;
	ctx->row->progress_total = total;
	if (unit)
		strscpy(ctx->row->progress_unit, unit, sizeof(ctx->row->progress_unit));
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final && (now.tv_sec - ctx->last_write.tv_sec) * 1000000000L +
				      (now.tv_nsec - ctx->last_write.tv_nsec) <
			      200000000L)
		return;
	ctx->last_write = now;
	(void)db_task_update(ctx->tasks->d->db, ctx->row, NULL);
}

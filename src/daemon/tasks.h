/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tasks: long operations run by a fixed pool of worker threads, each recorded as a row in the
 * tasks table (pending -> running -> succeeded | failed) with progress, so that API calls return
 * 202 at once and clients poll GET /tasks/{id}. A task function gets a context for progress and a
 * carve_error for its failure message; its return value decides the final state.
 * tasks_free() stops taking work, waits for running tasks to finish and fails queued ones.
 */
#ifndef CARVE_DAEMON_TASKS_H
#define CARVE_DAEMON_TASKS_H

#include "daemon/daemon.h"

struct task_ctx;

typedef int (*task_fn)(struct daemon *d, struct task_ctx *ctx, void *userdata,
		       struct carve_error *err);
typedef void (*task_free_fn)(void *userdata);

int tasks_new(struct daemon *d, unsigned workers, struct tasks **ret);
struct tasks *tasks_free(struct tasks *t);

/* Record a new pending task (kind, object, tenant_id, user_id taken from tmpl) and queue it.
 * On success *ret holds the task row as created; userdata is owned by the task from then on
 * (freed with free_fn), also on failure. */
int tasks_submit(struct tasks *t, const struct db_task *tmpl, task_fn fn, void *userdata,
		 task_free_fn free_fn, struct db_task **ret, struct carve_error *err);

/* Report progress; cheap enough to call often (writes at most a few times a second). */
void task_progress(struct task_ctx *ctx, uint64_t done, uint64_t total, const char *unit);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* carve task: long operations (create, start, delete...) and their progress. */
#include <inttypes.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "cli/cli.h"

#define TASK_LIST_LIMIT_MAX 10000

static const struct cli_column task_columns[] = {
	{"ID", "id"},
	{"KIND", "kind"},
	{"OBJECT", "object"},
	{"STATE", "state"},
	{"CREATED", "created_at"},
	{"ERROR", "error.message"},
	{NULL},
};

static const struct cli_column task_fields[] = {
	{"id", "id"},
	{"kind", "kind"},
	{"object", "object"},
	{"tenant", "tenant"},
	{"state", "state"},
	{"progress", "progress.done"},
	{"total", "progress.total"},
	{"unit", "progress.unit"},
	{"error", "error.message"},
	{"created_at", "created_at"},
	{"started_at", "started_at"},
	{"finished_at", "finished_at"},
	{NULL},
};

static int run_list(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *limit = cli_args_get(a, "limit");
	char path[64] = "/tasks";
	uint64_t n;

	if (limit) {
		if (parse_uint64(limit, 1, TASK_LIST_LIMIT_MAX, &n, &err) < 0) {
			carve_err_prefix(&err, "limit");
			return cli_invalid(cli, &err);
		}
		snprintf(path, sizeof(path), "/tasks?limit=%" PRIu64, n);
	}
	return cli_list(cli, path, "tasks", task_columns);
}

static int check_id(struct cli *cli, const char *id)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (parse_id(id, &err) < 0) {
		carve_err_prefix(&err, "task");
		return cli_invalid(cli, &err);
	}
	return CLI_EXIT_OK;
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	char path[64];
	int ex;

	ex = check_id(cli, a->pos[0]);
	if (ex != CLI_EXIT_OK)
		return ex;
	snprintf(path, sizeof(path), "/tasks/%s", a->pos[0]);
	return cli_show(cli, path, "task", task_fields, "task", a->pos[0]);
}

static int run_wait(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	json_t *task = NULL;
	int ex;

	ex = check_id(cli, a->pos[0]);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (cli_task_wait(cli, a->pos[0], &task, &err) < 0) {
		if (task && cli->json)
			cli_print_json(cli, task);
		json_decref(task);
		return cli_fail_object(cli, &err, "task", a->pos[0]);
	}
	if (cli->json)
		cli_print_json(cli, task);
	else if (!cli->quiet)
		fprintf(cli->out, "task '%s' succeeded\n", a->pos[0]);
	json_decref(task);
	return CLI_EXIT_OK;
}

static const struct cli_option list_options[] = {
	{"limit", 'n', "N", "at most N tasks, newest first"},
	{NULL},
};

const struct cli_group cli_group_task = {
	"task",
	"follow long operations",
	(const struct cli_verb[]){
		{"list", "[--limit N]", "list tasks, newest first",
		 "Example:\n  carve task list --limit 10", list_options, 0, 0, run_list},
		{"show", "ID", "show a task", "Example:\n  carve task show <id> --json", NULL, 1, 1,
		 run_show},
		{"wait", "ID", "wait for a task to end; fails when the task failed",
		 "Example:\n  id=$(carve server start web1 --no-wait) && carve task wait \"$id\"",
		 NULL, 1, 1, run_wait},
		{NULL},
	},
};

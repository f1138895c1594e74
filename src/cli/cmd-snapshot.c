/* SPDX-License-Identifier: Apache-2.0 */
/* carve snapshot: snapshots of a server's root disk, rollback to one, new servers cloned from one.
 */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "cli/cli.h"

static const struct cli_column snapshot_columns[] = {
	{"NAME", "name"},
	{"SIZE", "size", true},
	{"CREATED", "created_at"},
	{NULL},
};

/* "/servers/<server>/snapshots[/<snapshot>[/<action>]][?tenant=T]" */
static char *snapshot_path(const char *server, const char *snapshot, const char *action,
			   const char *tenant)
{
	cleanup_free char *p = NULL;

	if (asprintf(&p, "/servers/%s/snapshots%s%s%s%s", server, snapshot ? "/" : "",
		     snapshot ? snapshot : "", action ? "/" : "", action ? action : "") < 0)
		return NULL;
	return cli_path_with_tenant(p, tenant);
}

/* Validate SERVER, SNAPSHOT (when given), NEW-SERVER (when given) and --tenant. */
static int check_args(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0], *tenant = cli_args_get(a, "tenant");

	if (cli_check_name("server", server, &err) < 0)
		return cli_invalid(cli, &err);
	if (a->n_pos > 1 && cli_check_name("snapshot", a->pos[1], &err) < 0) {
		carve_err_prefix(&err, "server '%s'", server);
		return cli_invalid(cli, &err);
	}
	if (a->n_pos > 2 && cli_check_name("server", a->pos[2], &err) < 0) {
		carve_err_prefix(&err, "server '%s': snapshot '%s': clone", server, a->pos[1]);
		return cli_invalid(cli, &err);
	}
	if (tenant && cli_check_name("tenant", tenant, &err) < 0) {
		carve_err_prefix(&err, "server '%s'", server);
		return cli_invalid(cli, &err);
	}
	return CLI_EXIT_OK;
}

/* An error naming the server and the snapshot unless the message names them already. */
static int fail_snapshot(struct cli *cli, struct carve_error *err, const char *server,
			 const char *snapshot)
{
	char quoted[CARVE_NAME_MAX + 8];

	snprintf(quoted, sizeof(quoted), "'%s'", snapshot);
	if (err->code != CLI_ERR_UNREACHABLE && !strstr(err->msg, quoted))
		carve_err_prefix(err, "snapshot %s", quoted);
	return cli_fail_object(cli, err, "server", server);
}

static int run_list(struct cli *cli, const struct cli_args *a)
{
	cleanup_free char *path = NULL;
	int ex;

	ex = check_args(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = snapshot_path(a->pos[0], NULL, NULL, cli_args_get(a, "tenant"));
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_list_of(cli, path, "snapshots", snapshot_columns, "server", a->pos[0]);
}

/* The snapshot named snapshot of server as listed now (new reference), or NULL. */
static json_t *find_snapshot(struct cli *cli, const char *server, const char *snapshot,
			     const char *tenant)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = snapshot_path(server, NULL, NULL, tenant);
	json_t *answer = NULL, *list, *item, *found = NULL;
	size_t i;

	if (!path || cli_request(cli, "GET", path, NULL, &answer, &err) < 0)
		return NULL;
	list = cli_unwrap_list(answer, "snapshots");
	json_array_foreach (list, i, item)
		if (streq(json_string_value(json_object_get(item, "name")), snapshot)) {
			found = json_incref(item);
			break;
		}
	json_decref(answer);
	return found;
}

static int run_create(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0], *snapshot = a->pos[1], *tenant = cli_args_get(a, "tenant");
	bool no_wait = cli_args_has(a, "no-wait");
	cleanup_free char *path = NULL;
	json_t *body, *answer = NULL, *snap;
	int ex, r;

	ex = check_args(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = snapshot_path(server, NULL, NULL, tenant);
	body = json_pack("{s:s}", "name", snapshot);
	if (!path || !body) {
		json_decref(body);
		return CLI_EXIT_FAILURE;
	}
	r = cli_request(cli, "POST", path, body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return fail_snapshot(cli, &err, server, snapshot);
	ex = cli_task_follow(cli, answer, no_wait, "server", server);
	json_decref(answer);
	if (ex != CLI_EXIT_OK || no_wait || (cli->quiet && !cli->json))
		return ex;
	snap = find_snapshot(cli, server, snapshot, tenant);
	if (cli->json)
		cli_print_json(cli, snap);
	else {
		char size[32] = "-";

		if (json_is_integer(json_object_get(snap, "size")))
			format_size((uint64_t)json_integer_value(json_object_get(snap, "size")),
				    size, sizeof(size));
		fprintf(cli->out, "snapshot '%s' of server '%s' created (size %s)\n", snapshot,
			server, size);
	}
	json_decref(snap);
	return CLI_EXIT_OK;
}

static int run_delete(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0], *snapshot = a->pos[1];
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int ex;

	ex = check_args(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = snapshot_path(server, snapshot, NULL, cli_args_get(a, "tenant"));
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return fail_snapshot(cli, &err, server, snapshot);
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "snapshot '%s' of server '%s' deleted\n", snapshot, server);
	json_decref(answer);
	return CLI_EXIT_OK;
}

/* Print server name as it is now: JSON, or one line saying what happened. */
static int report_server(struct cli *cli, const char *name, const char *tenant, const char *what)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *base = NULL, *path = NULL;
	json_t *answer = NULL, *server;

	if (cli->quiet && !cli->json)
		return CLI_EXIT_OK;
	if (asprintf(&base, "/servers/%s", name) < 0)
		return CLI_EXIT_FAILURE;
	path = cli_path_with_tenant(base, tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "GET", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "server", name);
	server = cli_unwrap(answer, "server");
	if (cli->json)
		cli_print_json(cli, server);
	else
		fprintf(cli->out, "server '%s' %s (state: %s)\n", name, what,
			json_string_value(json_object_get(server, "state")) ?: "-");
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_rollback(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0], *snapshot = a->pos[1], *tenant = cli_args_get(a, "tenant");
	bool no_wait = cli_args_has(a, "no-wait");
	cleanup_free char *path = NULL, *what = NULL;
	json_t *answer = NULL;
	int ex;

	ex = check_args(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = snapshot_path(server, snapshot, "rollback", tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "POST", path, NULL, &answer, &err) < 0)
		return fail_snapshot(cli, &err, server, snapshot);
	ex = cli_task_follow(cli, answer, no_wait, "server", server);
	json_decref(answer);
	if (ex != CLI_EXIT_OK || no_wait)
		return ex;
	if (asprintf(&what, "rolled back to snapshot '%s'", snapshot) < 0)
		return CLI_EXIT_FAILURE;
	return report_server(cli, server, tenant, what);
}

static int run_clone(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0], *snapshot = a->pos[1], *target = a->pos[2],
		   *tenant = cli_args_get(a, "tenant");
	bool no_wait = cli_args_has(a, "no-wait");
	cleanup_free char *path = NULL, *what = NULL;
	json_t *body, *answer = NULL;
	int ex, r;

	ex = check_args(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = snapshot_path(server, snapshot, "clone", tenant);
	body = json_pack("{s:s}", "name", target);
	if (!path || !body) {
		json_decref(body);
		return CLI_EXIT_FAILURE;
	}
	r = cli_request(cli, "POST", path, body, &answer, &err);
	json_decref(body);
	if (r < 0) {
		/* "server 'new' already exists" names the new server: keep it as it is. */
		char quoted[CARVE_NAME_MAX + 8];

		snprintf(quoted, sizeof(quoted), "'%s'", target);
		if (strstr(err.msg, quoted))
			return cli_fail(cli, &err);
		return fail_snapshot(cli, &err, server, snapshot);
	}
	if (no_wait && cli->json && json_object_get(answer, "task")) {
		cli_print_json(cli, answer);
		json_decref(answer);
		return CLI_EXIT_OK;
	}
	ex = cli_task_follow(cli, answer, no_wait, "server", target);
	json_decref(answer);
	if (ex != CLI_EXIT_OK || no_wait)
		return ex;
	if (asprintf(&what, "created from snapshot '%s' of server '%s'", snapshot, server) < 0)
		return CLI_EXIT_FAILURE;
	/* The clone belongs to the source's tenant, so the same --tenant finds it. */
	return report_server(cli, target, tenant, what);
}

#define TENANT_OPTION                                                                    \
	{                                                                                \
		"tenant", 't', "TENANT", "the server's tenant (admin, when names clash)" \
	}
#define NO_WAIT_OPTION                                                     \
	{                                                                  \
		"no-wait", 0, NULL, "print the task id and return at once" \
	}

static const struct cli_option tenant_options[] = {
	TENANT_OPTION,
	{NULL},
};

static const struct cli_option task_options[] = {
	NO_WAIT_OPTION,
	TENANT_OPTION,
	{NULL},
};

const struct cli_group cli_group_snapshot = {
	"snapshot",
	"snapshot servers' disks, roll back, clone",
	(const struct cli_verb[]){
		{"list", "SERVER", "list a server's snapshots, oldest first",
		 "Example:\n  carve snapshot list web1 --json", tenant_options, 1, 1, run_list},
		{"create", "SERVER NAME [--no-wait]",
		 "snapshot a server's root disk (a running server is frozen for a moment)",
		 "Example:\n  carve snapshot create web1 before-upgrade", task_options, 2, 2,
		 run_create},
		{"delete", "SERVER NAME", "delete a snapshot",
		 "Example:\n  carve snapshot delete web1 before-upgrade", tenant_options, 2, 2,
		 run_delete},
		{"rollback", "SERVER NAME [--no-wait]",
		 "put a stopped server's disk back to a snapshot (later changes are lost)",
		 "Example:\n  carve server stop web1\n  carve snapshot rollback web1 before-upgrade",
		 task_options, 2, 2, run_rollback},
		{"clone", "SERVER NAME NEW-SERVER [--no-wait]",
		 "create a new server of the same tenant from a snapshot",
		 "The new server has the source's template, limits and pool, and starts stopped.\n"
		 "Example:\n  carve snapshot clone web1 before-upgrade web1-test",
		 task_options, 3, 3, run_clone},
		{NULL},
	},
};

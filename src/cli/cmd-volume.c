/* SPDX-License-Identifier: Apache-2.0 */
/* carve volume: a tenant's data volumes, attached to stopped servers at a path inside them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "cli/cli.h"

static const struct cli_column volume_columns[] = {
	{"NAME", "name"},	{"TENANT", "tenant"}, {"POOL", "pool"}, {"SIZE", "size", true},
	{"USED", "used", true}, {"SERVER", "server"}, {"PATH", "path"}, {NULL},
};

static const struct cli_column volume_fields[] = {
	{"name", "name"},
	{"id", "id"},
	{"tenant", "tenant"},
	{"pool", "pool"},
	{"size", "size", true},
	{"used", "used", true},
	{"server", "server"},
	{"path", "path"},
	{"created_at", "created_at"},
	{NULL},
};

/* "/volumes/<name>[/<action>][?tenant=T]" */
static char *volume_path(const char *name, const char *action, const char *tenant)
{
	cleanup_free char *p = NULL;

	if (asprintf(&p, "/volumes/%s%s%s", name, action ? "/" : "", action ? action : "") < 0)
		return NULL;
	return cli_path_with_tenant(p, tenant);
}

/* Validate NAME and --tenant; returns an exit code. */
static int check_target(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *tenant = cli_args_get(a, "tenant");

	if (cli_check_name("volume", a->pos[0], &err) < 0)
		return cli_invalid(cli, &err);
	if (tenant && cli_check_name("tenant", tenant, &err) < 0) {
		carve_err_prefix(&err, "volume '%s'", a->pos[0]);
		return cli_invalid(cli, &err);
	}
	return CLI_EXIT_OK;
}

/* --size as bytes into body (required); returns an exit code. */
static int add_size(struct cli *cli, const struct cli_args *a, json_t *body)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *size = cli_args_get(a, "size");
	uint64_t v;

	if (!size)
		return cli_usage(cli, "volume '%s': --size is required (e.g. --size 10G)", name);
	if (cli_parse_size("volume", name, "size", size, &v, &err) < 0)
		return cli_invalid(cli, &err);
	json_object_set_new(body, "size", json_integer((json_int_t)v));
	return CLI_EXIT_OK;
}

/* The volume a write returned: JSON, or one line. */
static int done(struct cli *cli, json_t *answer, const char *name, const char *what)
{
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "volume '%s' %s\n", name, what);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_list(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;

	if (tenant && cli_check_name("tenant", tenant, &err) < 0)
		return cli_invalid(cli, &err);
	path = cli_path_with_tenant("/volumes", tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_list(cli, path, "volumes", volume_columns);
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	cleanup_free char *path = NULL;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = volume_path(a->pos[0], NULL, cli_args_get(a, "tenant"));
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_show(cli, path, "volume", volume_fields, "volume", a->pos[0]);
}

static int run_create(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *pool = cli_args_get(a, "pool"),
		   *tenant = cli_args_get(a, "tenant");
	json_t *body, *answer = NULL;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (pool && cli_check_name("pool", pool, &err) < 0) {
		carve_err_prefix(&err, "volume '%s'", name);
		return cli_invalid(cli, &err);
	}
	body = json_pack("{s:s}", "name", name);
	if (!body)
		return CLI_EXIT_FAILURE;
	ex = add_size(cli, a, body);
	if (ex == CLI_EXIT_OK) {
		if (pool)
			json_object_set_new(body, "pool", json_string(pool));
		if (tenant)
			json_object_set_new(body, "tenant", json_string(tenant));
		if (cli_request(cli, "POST", "/volumes", body, &answer, &err) < 0)
			ex = cli_fail_object(cli, &err, "volume", name);
	}
	json_decref(body);
	if (ex != CLI_EXIT_OK)
		return ex;
	return done(cli, answer, name, "created");
}

static int run_delete(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = volume_path(name, NULL, cli_args_get(a, "tenant"));
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "volume", name);
	return done(cli, answer, name, "deleted");
}

static int run_resize(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *body, *answer = NULL;
	char size[32] = "-";
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	body = json_object();
	if (!body)
		return CLI_EXIT_FAILURE;
	ex = add_size(cli, a, body);
	path = volume_path(name, NULL, cli_args_get(a, "tenant"));
	if (ex == CLI_EXIT_OK && !path)
		ex = CLI_EXIT_FAILURE;
	if (ex == CLI_EXIT_OK && cli_request(cli, "PATCH", path, body, &answer, &err) < 0)
		ex = cli_fail_object(cli, &err, "volume", name);
	json_decref(body);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet) {
		json_t *v = json_object_get(answer, "size");

		if (json_is_integer(v) && json_integer_value(v) >= 0)
			format_size((uint64_t)json_integer_value(v), size, sizeof(size));
		fprintf(cli->out, "volume '%s' resized to %s\n", name, size);
	}
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_attach(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *server = a->pos[1], *mnt = cli_args_get(a, "path");
	cleanup_free char *path = NULL, *what = NULL;
	json_t *body, *answer = NULL;
	int ex, r;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (cli_check_name("server", server, &err) < 0) {
		carve_err_prefix(&err, "volume '%s'", name);
		return cli_invalid(cli, &err);
	}
	if (mnt && mnt[0] != '/') {
		carve_err_field(&err, -EINVAL, "path",
				"volume '%s': path '%s': not an absolute path", name, mnt);
		return cli_invalid(cli, &err);
	}
	path = volume_path(name, "attach", cli_args_get(a, "tenant"));
	/* no --path: a VM takes it as its next disk; carved says when a container needs one */
	body = mnt ? json_pack("{s:s, s:s}", "server", server, "path", mnt)
		   : json_pack("{s:s}", "server", server);
	if (!path || !body) {
		json_decref(body);
		return CLI_EXIT_FAILURE;
	}
	r = cli_request(cli, "POST", path, body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "volume", name);
	if (mnt ? asprintf(&what, "attached to server '%s' at %s (mounted from its next start)",
			   server, mnt) < 0
		: asprintf(&what, "attached to server '%s' as %s (a disk from its next start)",
			   server,
			   json_string_value(json_object_get(cli_unwrap(answer, "volume"), "path"))
				   ?: "a disk") < 0) {
		json_decref(answer);
		return CLI_EXIT_FAILURE;
	}
	return done(cli, answer, name, what);
}

static int run_detach(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = volume_path(name, "detach", cli_args_get(a, "tenant"));
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "POST", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "volume", name);
	return done(cli, answer, name, "detached");
}

#define TENANT_OPTION                                                                    \
	{                                                                                \
		"tenant", 't', "TENANT", "the volume's tenant (admin, when names clash)" \
	}
#define SIZE_OPTION                                              \
	{                                                        \
		"size", 's', "SIZE", "e.g. 512M, 10G (64M..16T)" \
	}

static const struct cli_option list_options[] = {
	{"tenant", 't', "TENANT", "only this tenant's volumes (admin)"},
	{NULL},
};

static const struct cli_option tenant_options[] = {
	TENANT_OPTION,
	{NULL},
};

static const struct cli_option create_options[] = {
	SIZE_OPTION,
	{"pool", 'p', "POOL", "the pool to allocate it in (default: default)"},
	{"tenant", 't', "TENANT", "create for this tenant (admin)"},
	{NULL},
};

static const struct cli_option resize_options[] = {
	SIZE_OPTION,
	TENANT_OPTION,
	{NULL},
};

static const struct cli_option attach_options[] = {
	{"path", 'p', "PATH", "where it is mounted inside a container (absolute; not for a VM)"},
	TENANT_OPTION,
	{NULL},
};

const struct cli_group cli_group_volume = {
	"volume",
	"manage data volumes",
	(const struct cli_verb[]){
		{"list", "[--tenant T]", "list data volumes",
		 "Example:\n  carve volume list --json", list_options, 0, 0, run_list},
		{"show", "NAME", "show a volume", "Example:\n  carve volume show data1",
		 tenant_options, 1, 1, run_show},
		{"create", "NAME --size SIZE [--pool P] [--tenant T]",
		 "create a thin ext4 data volume",
		 "Example:\n  carve volume create data1 --size 10G", create_options, 1, 1,
		 run_create},
		{"delete", "NAME", "delete a detached volume and its data",
		 "Example:\n  carve volume delete data1", tenant_options, 1, 1, run_delete},
		{"resize", "NAME --size SIZE", "grow a volume (its server must be stopped)",
		 "Example:\n  carve volume resize data1 --size 20G", resize_options, 1, 1,
		 run_resize},
		{"attach", "NAME SERVER [--path PATH]",
		 "attach a volume to a stopped server: a container mounts it at PATH, a VM sees "
		 "its next virtio disk (/dev/vdb, ...), from its next start",
		 "Example:\n  carve volume attach data1 web1 --path /data\n  carve volume attach "
		 "data2 vm1",
		 attach_options, 2, 2, run_attach},
		{"detach", "NAME", "detach a volume from its (stopped) server",
		 "Example:\n  carve volume detach data1", tenant_options, 1, 1, run_detach},
		{NULL},
	},
};

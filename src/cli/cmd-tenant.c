/* SPDX-License-Identifier: Apache-2.0 */
/* carve tenant: the client organizations. */
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "cli/cli.h"

static const struct cli_column tenant_columns[] = {
	{"NAME", "name"},
	{"UIDS", "uid_base"},
	{"CREATED", "created_at"},
	{"DESCRIPTION", "description"},
	{NULL},
};

static const struct cli_column tenant_fields[] = {
	{"name", "name"},
	{"id", "id"},
	{"description", "description"},
	{"uid_base", "uid_base"},
	{"uid_count", "uid_count"},
	{"max_vcpus", "caps.max_vcpus"},
	{"max_memory", "caps.max_memory", true},
	{"max_pids", "caps.max_pids"},
	{"max_ports", "caps.max_ports"},
	{"servers", "usage.servers"},
	{"disk_provisioned", "usage.disk_provisioned", true},
	{"disk_used", "usage.disk_used", true},
	{"backup_bytes", "usage.backup_bytes", true},
	{"created_at", "created_at"},
	{NULL},
};

static int run_list(struct cli *cli, const struct cli_args *a)
{
	return cli_list(cli, "/tenants", "tenants", tenant_columns);
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = NULL;

	if (cli_check_name("tenant", a->pos[0], &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&path, "/tenants/%s", a->pos[0]) < 0)
		return CLI_EXIT_FAILURE;
	return cli_show(cli, path, "tenant", tenant_fields, "tenant", a->pos[0]);
}

/* Print the object a write returned (JSON, or a confirmation line). */
static int done(struct cli *cli, json_t *answer, const char *name, const char *what)
{
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "tenant '%s' %s\n", name, what);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_create(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *desc = cli_args_get(a, "description");
	json_t *body, *answer = NULL;
	int r;

	if (cli_check_name("tenant", name, &err) < 0)
		return cli_invalid(cli, &err);
	body = json_pack("{s:s}", "name", name);
	if (!body)
		return CLI_EXIT_FAILURE;
	if (desc)
		json_object_set_new(body, "description", json_string(desc));
	r = cli_request(cli, "POST", "/tenants", body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "tenant", name);
	return done(cli, answer, name, "created");
}

/* The provider's caps on a tenant: option, API field, and the largest count (0: a size). */
static const struct {
	const char *option, *field;
	uint64_t max;
} caps[] = {
	{"max-vcpus", "max_vcpus", 4096},
	{"max-memory", "max_memory", 0},
	{"max-pids", "max_pids", 4194304},
	{"max-ports", "max_ports", 65535},
};

static int run_set(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *desc = cli_args_get(a, "description");
	cleanup_free char *path = NULL;
	json_t *body, *answer = NULL;
	bool any = desc != NULL;
	int r;

	if (cli_check_name("tenant", name, &err) < 0)
		return cli_invalid(cli, &err);
	body = json_object();
	if (!body)
		return CLI_EXIT_FAILURE;
	if (desc)
		json_object_set_new(body, "description", json_string(desc));
	for (size_t i = 0; i < ELEMENTSOF(caps); i++) {
		const char *v = cli_args_get(a, caps[i].option);
		struct carve_error e = CARVE_ERROR_INIT;
		uint64_t x;

		if (!v)
			continue;
		any = true;
		if (streq(caps[i].field, "max_ports") && streq(v, "default")) {
			json_object_set_new(body, caps[i].field, json_null());
			continue;
		}
		if (caps[i].max ? parse_uint64(v, 0, caps[i].max, &x, &e) < 0
				: parse_size(v, &x, &e) < 0) {
			json_decref(body);
			carve_err_field(&err, -EINVAL, caps[i].field, "tenant '%s': --%s: %s", name,
					caps[i].option, e.msg);
			return cli_invalid(cli, &err);
		}
		json_object_set_new(body, caps[i].field, json_integer((json_int_t)x));
	}
	if (!any) {
		json_decref(body);
		return cli_usage(
			cli, "tenant '%s': nothing to change (use --description or a --max-* cap)",
			name);
	}
	if (asprintf(&path, "/tenants/%s", name) < 0) {
		json_decref(body);
		return CLI_EXIT_FAILURE;
	}
	r = cli_request(cli, "PATCH", path, body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "tenant", name);
	return done(cli, answer, name, "updated");
}

static int run_delete(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int r;

	if (cli_check_name("tenant", name, &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&path, "/tenants/%s", name) < 0)
		return CLI_EXIT_FAILURE;
	r = cli_request(cli, "DELETE", path, NULL, &answer, &err);
	if (r < 0)
		return cli_fail_object(cli, &err, "tenant", name);
	return done(cli, answer, name, "deleted");
}

static const struct cli_option description_option[] = {
	{"description", 'd', "TEXT", "free text shown in lists"},
	{NULL},
};

static const struct cli_option set_options[] = {
	{"description", 'd', "TEXT", "free text shown in lists"},
	{"max-vcpus", 0, "N", "CPUs all its servers together may use (0: no cap)"},
	{"max-memory", 0, "SIZE", "memory of all its servers together, e.g. 16G (0: no cap)"},
	{"max-pids", 0, "N", "processes of all its servers together (0: no cap)"},
	{"max-ports", 0, "N", "ports it may publish ('default': carved's --max-ports)"},
	{NULL},
};

const struct cli_group cli_group_tenant = {
	"tenant",
	"manage tenants (client organizations)",
	(const struct cli_verb[]){
		{"list", "", "list tenants", "Example:\n  carve tenant list --json", NULL, 0, 0,
		 run_list},
		{"create", "NAME [--description TEXT]", "create a tenant",
		 "Example:\n  carve tenant create acme --description 'ACME Corp'",
		 description_option, 1, 1, run_create},
		{"show", "NAME", "show a tenant", "Example:\n  carve tenant show acme", NULL, 1, 1,
		 run_show},
		{"set",
		 "NAME [--description TEXT] [--max-vcpus N] [--max-memory SIZE] [--max-pids N] "
		 "[--max-ports N|default]",
		 "change a tenant's description or the provider's caps on it",
		 "Example:\n  carve tenant set acme --max-vcpus 8 --max-memory 16G --max-ports 20",
		 set_options, 1, 1, run_set},
		{"delete", "NAME", "delete a tenant (refused while it has servers or users)",
		 "Example:\n  carve tenant delete acme", NULL, 1, 1, run_delete},
		{NULL},
	},
};

/* SPDX-License-Identifier: Apache-2.0 */
/* carve pool: the provider's storage pools, their capacity and admission settings (admin). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/string-util.h"
#include "cli/cli.h"

#define OVERCOMMIT_MIN 0.01
#define OVERCOMMIT_MAX 100.0

static const struct cli_column pool_columns[] = {
	{"NAME", "name"},
	{"DRIVER", "driver"},
	{"KIND", "kind"},
	{"SIZE", "physical", true},
	{"ALLOCATED", "allocated", true},
	{"PROVISIONED", "provisioned", true},
	{"AVAILABLE", "available", true},
	{"OVERCOMMIT", "overcommit"},
	{NULL},
};

static const struct cli_column pool_fields[] = {
	{"name", "name"},
	{"driver", "driver"},
	{"kind", "kind"},
	{"path", "path"},
	{"size", "physical", true},
	{"allocated", "allocated", true},
	{"provisioned", "provisioned", true},
	{"available", "available", true},
	{"volumes", "volumes"},
	{"overcommit", "overcommit"},
	{"fill_threshold", "fill_threshold"},
	{NULL},
};

/* A finite decimal number, all of s (no sign, no blanks), within [min, max]. */
static int parse_number(const char *s, double min, double max, double *ret)
{
	char *end = NULL;
	double v;

	if (!s || !*s || (!(s[0] >= '0' && s[0] <= '9') && s[0] != '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v))
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* --overcommit and --fill-threshold into body; returns an exit code. */
static int add_settings(struct cli *cli, const char *name, const struct cli_args *a, json_t *body)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *oc = cli_args_get(a, "overcommit"), *fill = cli_args_get(a, "fill-threshold");
	double v;

	if (oc) {
		if (parse_number(oc, OVERCOMMIT_MIN, OVERCOMMIT_MAX, &v) < 0) {
			carve_err_field(&err, -EINVAL, "overcommit",
					"pool '%s': overcommit '%.32s': not a ratio from %g to %g "
					"(e.g. 1.5)",
					name, oc, OVERCOMMIT_MIN, OVERCOMMIT_MAX);
			return cli_invalid(cli, &err);
		}
		json_object_set_new(body, "overcommit", json_real(v));
	}
	if (fill) {
		char buf[32];
		size_t n = strlen(fill);

		/* "80" and "80%" alike */
		snprintf(buf, sizeof(buf), "%.*s", (int)(n > 0 && fill[n - 1] == '%' ? n - 1 : n),
			 fill);
		if (n >= sizeof(buf) || parse_number(buf, 1, 100, &v) < 0) {
			carve_err_field(&err, -EINVAL, "fill_threshold",
					"pool '%s': fill threshold '%.32s': not a percentage from "
					"1 to 100",
					name, fill);
			return cli_invalid(cli, &err);
		}
		json_object_set_new(body, "fill_threshold", json_real(v / 100.0));
	}
	return CLI_EXIT_OK;
}

/* For people: the fill threshold as a percentage ("80%"). */
static void humanize(json_t *pool)
{
	json_t *v = json_object_get(pool, "fill_threshold");

	if (json_is_number(v))
		json_object_set_new(pool, "fill_threshold",
				    json_sprintf("%g%%", json_number_value(v) * 100.0));
}

/* The pool a write returned: JSON, the pool's fields, or one line. */
static int done(struct cli *cli, json_t *answer, const char *name, const char *what)
{
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "pool '%s' %s\n", name, what);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static char *pool_path(const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "/pools/%s", name) < 0)
		return NULL;
	return p;
}

static int run_list(struct cli *cli, const struct cli_args *a)
{
	return cli_list(cli, "/pools", "pools", pool_columns);
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *answer = NULL, *pool;

	if (cli_check_name("pool", name, &err) < 0)
		return cli_invalid(cli, &err);
	path = pool_path(name);
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "GET", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "pool", name);
	if (cli->json)
		cli_print_json(cli, answer);
	else {
		pool = cli_unwrap(answer, "pool");
		humanize(pool);
		cli_print_object(cli, pool, pool_fields);
	}
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_create(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *size = cli_args_get(a, "size"),
		   *dir = cli_args_get(a, "path");
	json_t *body, *answer = NULL;
	uint64_t bytes;
	char buf[32];
	int ex;

	if (cli_check_name("pool", name, &err) < 0)
		return cli_invalid(cli, &err);
	if (!size == !dir)
		return cli_usage(cli,
				 "pool '%s': give either --size SIZE (an image carved makes) "
				 "or --path DIR (an XFS or btrfs directory)",
				 name);
	if (size && cli_parse_size("pool", name, "size", size, &bytes, &err) < 0)
		return cli_invalid(cli, &err);
	if (dir && dir[0] != '/') {
		carve_err_field(&err, -EINVAL, "path", "pool '%s': path '%s': not an absolute path",
				name, dir);
		return cli_invalid(cli, &err);
	}
	body = json_pack("{s:s}", "name", name);
	if (!body)
		return CLI_EXIT_FAILURE;
	if (size) {
		/* the API takes a pool's size as a string only: send the bytes as one */
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)bytes);
		json_object_set_new(body, "size", json_string(buf));
	} else
		json_object_set_new(body, "path", json_string(dir));
	ex = add_settings(cli, name, a, body);
	if (ex == CLI_EXIT_OK && cli_request(cli, "POST", "/pools", body, &answer, &err) < 0)
		ex = cli_fail_object(cli, &err, "pool", name);
	json_decref(body);
	if (ex != CLI_EXIT_OK)
		return ex;
	return done(cli, answer, name, "created");
}

static int run_set(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *body, *answer = NULL;
	int ex;

	if (cli_check_name("pool", name, &err) < 0)
		return cli_invalid(cli, &err);
	if (!cli_args_has(a, "overcommit") && !cli_args_has(a, "fill-threshold"))
		return cli_usage(
			cli, "pool '%s': nothing to change (use --overcommit or --fill-threshold)",
			name);
	path = pool_path(name);
	body = json_object();
	if (!path || !body) {
		json_decref(body);
		return CLI_EXIT_FAILURE;
	}
	ex = add_settings(cli, name, a, body);
	if (ex == CLI_EXIT_OK && cli_request(cli, "PATCH", path, body, &answer, &err) < 0)
		ex = cli_fail_object(cli, &err, "pool", name);
	json_decref(body);
	if (ex != CLI_EXIT_OK)
		return ex;
	return done(cli, answer, name, "updated");
}

static int run_delete(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *answer = NULL;

	if (cli_check_name("pool", name, &err) < 0)
		return cli_invalid(cli, &err);
	path = pool_path(name);
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "pool", name);
	return done(cli, answer, name, "deleted");
}

static const struct cli_column trim_fields[] = {
	{"given_back", "given_back", true},
	{"allocated_before", "allocated_before", true},
	{"allocated_after", "allocated_after", true},
	{"image_allocated_before", "image_allocated_before", true},
	{"image_allocated_after", "image_allocated_after", true},
	{"volumes", "volumes"},
	{"skipped", "skipped"},
	{NULL},
};

/* POST /pools/NAME/trim, wait for its task, then print the pool's last_trim. */
static int run_trim(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *id;
	cleanup_free char *path = NULL, *tpath = NULL;
	json_t *answer = NULL, *result;
	int ex = CLI_EXIT_OK;

	if (cli_check_name("pool", name, &err) < 0)
		return cli_invalid(cli, &err);
	path = pool_path(name);
	if (!path || asprintf(&tpath, "%s/trim", path) < 0)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "POST", tpath, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "pool", name);
	id = json_string_value(json_object_get(json_object_get(answer, "task"), "id"));
	if (!id || cli_task_wait(cli, id, NULL, &err) < 0) {
		if (!id)
			carve_err(&err, -EPROTO, "pool '%s': the answer names no task", name);
		json_decref(answer);
		return cli_fail_object(cli, &err, "pool", name);
	}
	json_decref(answer);
	answer = NULL;
	if (cli_request(cli, "GET", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "pool", name);
	result = json_object_get(cli_unwrap(answer, "pool"), "last_trim");
	if (!result) {
		carve_err(&err, -EPROTO, "pool '%s': no trim result", name);
		ex = cli_fail_object(cli, &err, "pool", name);
	} else if (cli->json)
		cli_print_json(cli, result);
	else if (!cli->quiet)
		cli_print_object(cli, result, trim_fields);
	json_decref(answer);
	return ex;
}

#define SETTINGS_OPTIONS                                                                             \
	{"overcommit", 'o', "RATIO",                                                                 \
	 "provision up to RATIO times the pool's size, 0.01..100 (default 1)"},                      \
	{                                                                                            \
		"fill-threshold", 'f', "PCT",                                                        \
			"record a pool.fill event when allocation crosses PCT% of the size, 1..100 " \
			"(default 80)"                                                               \
	}

static const struct cli_option create_options[] = {
	{"size", 's', "SIZE", "size of a sparse XFS image carved makes, at least 300M"},
	{"path", 'p', "DIR", "an existing directory on XFS (reflink=1) or btrfs"},
	SETTINGS_OPTIONS,
	{NULL},
};

static const struct cli_option set_options[] = {
	SETTINGS_OPTIONS,
	{NULL},
};

const struct cli_group cli_group_pool = {
	"pool",
	"manage storage pools (provider admin)",
	(const struct cli_verb[]){
		{"list", "", "list pools with their capacity",
		 "Sizes: SIZE physical, ALLOCATED really used, PROVISIONED promised to disks and\n"
		 "volumes, AVAILABLE still admissible (SIZE x OVERCOMMIT - PROVISIONED).\n"
		 "Example:\n  carve pool list --json",
		 NULL, 0, 0, run_list},
		{"show", "NAME", "show a pool", "Example:\n  carve pool show default", NULL, 1, 1,
		 run_show},
		{"create",
		 "NAME (--size SIZE | --path DIR) [--overcommit R] [--fill-threshold PCT]",
		 "add a pool",
		 "Example:\n  carve pool create fast --path /srv/xfs --overcommit 1.5\n"
		 "  carve pool create small --size 20G --fill-threshold 90",
		 create_options, 1, 1, run_create},
		{"set", "NAME [--overcommit R] [--fill-threshold PCT]",
		 "change a pool's admission settings",
		 "The default pool is configured by carved's flags instead.\n"
		 "Example:\n  carve pool set fast --overcommit 2",
		 set_options, 1, 1, run_set},
		{"trim", "NAME", "give the space tenants freed back to the pool and the host",
		 "Trims (FITRIM) the mounted volumes of every running server in the pool, then the\n"
		 "pool's own filesystem, and waits for the task. Prints the pool's allocated bytes\n"
		 "before and after (given_back) and, for a pool image carved made, the host bytes\n"
		 "under it. carved also does this every --trim-interval and when a server stops.\n"
		 "Example:\n  carve pool trim default\n  carve pool trim default --json",
		 NULL, 1, 1, run_trim},
		{"delete", "NAME", "remove a pool nothing uses",
		 "Example:\n  carve pool delete small", NULL, 1, 1, run_delete},
		{NULL},
	},
};

/* SPDX-License-Identifier: Apache-2.0 */
/* carve template: the OS and application images servers are made from. */
#include <stdlib.h>

#include "base/cleanup.h"
#include "cli/cli.h"

static const struct cli_column template_columns[] = {
	{"NAME", "name"},
	{"KIND", "kind"},
	{"OS", "os"},
	{"INIT", "init"},
	{"DESCRIPTION", "description"},
	{NULL},
};

static const struct cli_column template_fields[] = {
	{"name", "name"},
	{"id", "id"},
	{"kind", "kind"},
	{"os", "os"},
	{"init", "init"},
	{"description", "description"},
	{"created_at", "created_at"},
	{NULL},
};

static int run_list(struct cli *cli, const struct cli_args *a)
{
	return cli_list(cli, "/templates", "templates", template_columns);
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = NULL;

	if (cli_check_name("template", a->pos[0], &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&path, "/templates/%s", a->pos[0]) < 0)
		return CLI_EXIT_FAILURE;
	return cli_show(cli, path, "template", template_fields, "template", a->pos[0]);
}

const struct cli_group cli_group_template = {
	"template",
	"list the templates servers are created from",
	(const struct cli_verb[]){
		{"list", "", "list templates", "Example:\n  carve template list", NULL, 0, 0,
		 run_list},
		{"show", "NAME", "show a template", "Example:\n  carve template show debian-12",
		 NULL, 1, 1, run_show},
		{NULL},
	},
};

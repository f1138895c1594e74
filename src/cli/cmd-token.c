/* SPDX-License-Identifier: Apache-2.0 */
/* carve token: API tokens for scripts, at most the rights of their owner. */
#include <inttypes.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "cli/cli.h"

static const struct cli_column token_columns[] = {
	{"ID", "id"},
	{"NAME", "name"},
	{"ROLE", "role"},
	{"CREATED", "created_at"},
	{"EXPIRES", "expires_at"},
	{"LAST-USED", "last_used_at"},
	{NULL},
};

static int run_list(struct cli *cli, const struct cli_args *a)
{
	return cli_list(cli, "/tokens", "tokens", token_columns);
}

static int run_create(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *role = cli_args_get(a, "role"),
		   *expires = cli_args_get(a, "expires");
	json_t *body, *answer = NULL, *token;
	uint64_t seconds = 0;
	const char *secret;
	int r;

	if (cli_check_name("token", name, &err) < 0)
		return cli_invalid(cli, &err);
	if ((role && cli_check_role(role, &err) < 0) ||
	    (expires && cli_parse_duration(expires, &seconds, &err) < 0)) {
		if (expires && err.field[0] == '\0')
			carve_err_prefix(&err, "expires");
		carve_err_prefix(&err, "token '%s'", name);
		return cli_invalid(cli, &err);
	}
	body = json_pack("{s:s}", "name", name);
	if (!body)
		return CLI_EXIT_FAILURE;
	if (role)
		json_object_set_new(body, "role", json_string(role));
	if (expires)
		json_object_set_new(body, "expires_in", json_integer((json_int_t)seconds));
	r = cli_request(cli, "POST", "/tokens", body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "token", name);
	if (cli->json) {
		cli_print_json(cli, answer);
		json_decref(answer);
		return CLI_EXIT_OK;
	}
	token = cli_unwrap(answer, "token");
	secret = json_string_value(json_object_get(token, "secret"));
	if (!secret)
		secret = json_string_value(json_object_get(answer, "secret"));
	fprintf(cli->out, "id:     %s\nsecret: %s\n",
		json_string_value(json_object_get(token, "id")) ?: "-", secret ?: "-");
	if (!cli->quiet)
		fputs("The secret is shown only this once: store it now.\n", cli->err);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_revoke(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *id = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *answer = NULL;

	if (parse_id(id, &err) < 0) {
		carve_err_prefix(&err, "token");
		return cli_invalid(cli, &err);
	}
	if (asprintf(&path, "/tokens/%s", id) < 0)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "token", id);
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "token '%s' revoked\n", id);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static const struct cli_option create_options[] = {
	{"role", 'r', "ROLE", "the token's role, at most your own (default: your role)"},
	{"expires", 'e', "DURATION", "lifetime: 3600s, 90m, 12h, 30d, 2w (default: never)"},
	{NULL},
};

const struct cli_group cli_group_token = {
	"token",
	"manage your API tokens",
	(const struct cli_verb[]){
		{"list", "", "list your tokens", "Example:\n  carve token list", NULL, 0, 0,
		 run_list},
		{"create", "NAME [--role ROLE] [--expires DURATION]",
		 "create a token and print its secret once",
		 "Example:\n  carve token create ci --role operator --expires 30d\n"
		 "  CARVE_TOKEN=<secret> carve server list",
		 create_options, 1, 1, run_create},
		{"revoke", "ID", "revoke a token",
		 "Example:\n  carve token revoke 0123456789abcdef0123456789abcdef", NULL, 1, 1,
		 run_revoke},
		{NULL},
	},
};

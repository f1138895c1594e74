/* SPDX-License-Identifier: Apache-2.0 */
/* carve user: accounts of the provider and of tenants. */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/string-util.h"
#include "cli/cli.h"

#define GENERATED_PASSWORD_LEN 20

static const struct cli_column user_columns[] = {
	{"NAME", "name"}, {"TENANT", "tenant"}, {"ROLE", "role"}, {"CREATED", "created_at"}, {NULL},
};

static const struct cli_column user_fields[] = {
	{"name", "name"},
	{"id", "id"},
	{"tenant", "tenant"},
	{"role", "role"},
	{"created_at", "created_at"},
	{NULL},
};

static void password_freep(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
}

/* 20 characters from an alphabet without look-alikes (0/O, 1/l/I): about 115 bits. */
static int generate_password(char **ret)
{
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	const size_t n = sizeof(alphabet) - 1, limit = 256 - 256 % n;
	char *p = calloc(GENERATED_PASSWORD_LEN + 1, 1);
	size_t i = 0;

	if (!p)
		return -ENOMEM;
	while (i < GENERATED_PASSWORD_LEN) {
		uint8_t b[32];
		int r = random_bytes(b, sizeof(b));

		if (r < 0) {
			free(p);
			return r;
		}
		/* Rejection sampling keeps every character equally likely. */
		for (size_t j = 0; j < sizeof(b) && i < GENERATED_PASSWORD_LEN; j++)
			if (b[j] < limit)
				p[i++] = alphabet[b[j] % n];
		explicit_bzero(b, sizeof(b));
	}
	*ret = p;
	return 0;
}

static int run_list(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;

	if (tenant && cli_check_name("tenant", tenant, &err) < 0)
		return cli_invalid(cli, &err);
	path = cli_path_with_tenant("/users", tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_list(cli, path, "users", user_columns);
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = NULL;

	if (cli_check_name("user", a->pos[0], &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&path, "/users/%s", a->pos[0]) < 0)
		return CLI_EXIT_FAILURE;
	return cli_show(cli, path, "user", user_fields, "user", a->pos[0]);
}

static int run_create(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *role = cli_args_get(a, "role"),
		   *tenant = cli_args_get(a, "tenant");
	bool generate = cli_args_has(a, "generate-password");
	cleanup(password_freep) char *password = NULL;
	json_t *body, *answer = NULL;
	int r;

	if (cli_check_name("user", name, &err) < 0)
		return cli_invalid(cli, &err);
	if (!role)
		return cli_usage(cli,
				 "user '%s': --role is required (admin, owner, operator, viewer)",
				 name);
	if (cli_check_role(role, &err) < 0 ||
	    (tenant && cli_check_name("tenant", tenant, &err) < 0)) {
		carve_err_prefix(&err, "user '%s'", name);
		return cli_invalid(cli, &err);
	}
	if (generate && cli_args_has(a, "password-stdin"))
		return cli_usage(cli,
				 "--generate-password and --password-stdin exclude each other");
	if (generate)
		r = generate_password(&password);
	else
		r = cli_read_password(cli_args_has(a, "password-stdin"), "Password: ", true,
				      &password, &err);
	if (r < 0) {
		if (!carve_err_isset(&err))
			carve_err(&err, r, "password: cannot generate: %s", strerror(-r));
		carve_err_prefix(&err, "user '%s'", name);
		return cli_invalid(cli, &err);
	}
	body = json_pack("{s:s, s:s, s:s}", "name", name, "password", password, "role", role);
	if (!body)
		return CLI_EXIT_FAILURE;
	if (tenant)
		json_object_set_new(body, "tenant", json_string(tenant));
	r = cli_request(cli, "POST", "/users", body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "user", name);
	if (cli->json) {
		if (generate && json_is_object(answer))
			json_object_set_new(answer, "password", json_string(password));
		cli_print_json(cli, answer);
	} else if (generate)
		fprintf(cli->out, "user '%s' created; password (shown once): %s\n", name, password);
	else if (!cli->quiet)
		fprintf(cli->out, "user '%s' created\n", name);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int patch_user(struct cli *cli, const char *name, json_t *body)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int r;

	if (asprintf(&path, "/users/%s", name) < 0)
		return CLI_EXIT_FAILURE;
	r = cli_request(cli, "PATCH", path, body, &answer, &err);
	if (r < 0)
		return cli_fail_object(cli, &err, "user", name);
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "user '%s' updated\n", name);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_set(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *role = cli_args_get(a, "role");
	bool pw_stdin = cli_args_has(a, "password-stdin"),
	     pw = pw_stdin || cli_args_has(a, "password");
	cleanup(password_freep) char *password = NULL;
	json_t *body;
	int ex;

	if (cli_check_name("user", name, &err) < 0)
		return cli_invalid(cli, &err);
	if (!role && !pw)
		return cli_usage(
			cli,
			"user '%s': nothing to change (use --role, --password or --password-stdin)",
			name);
	if (role && cli_check_role(role, &err) < 0) {
		carve_err_prefix(&err, "user '%s'", name);
		return cli_invalid(cli, &err);
	}
	if (pw && cli_read_password(pw_stdin, "New password: ", true, &password, &err) < 0) {
		carve_err_prefix(&err, "user '%s'", name);
		return cli_invalid(cli, &err);
	}
	body = json_object();
	if (!body)
		return CLI_EXIT_FAILURE;
	if (role)
		json_object_set_new(body, "role", json_string(role));
	if (password)
		json_object_set_new(body, "password", json_string(password));
	ex = patch_user(cli, name, body);
	json_decref(body);
	return ex;
}

static int run_delete(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *answer = NULL;

	if (cli_check_name("user", name, &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&path, "/users/%s", name) < 0)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "user", name);
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "user '%s' deleted\n", name);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_passwd(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup(password_freep) char *password = NULL, *current = NULL;
	cleanup_free char *name = NULL;
	json_t *who = NULL, *body;
	const char *n;
	int ex;

	if (cli_request(cli, "GET", "/whoami", NULL, &who, &err) < 0)
		return cli_fail(cli, &err);
	n = json_string_value(json_object_get(json_object_get(who, "user"), "name"));
	name = n ? strdup(n) : NULL;
	json_decref(who);
	if (!name) {
		fputs("carve: passwd: these credentials belong to no user (unix socket or token?)\n",
		      cli->err);
		return CLI_EXIT_FAILURE;
	}
	if (cli_read_password(cli_args_has(a, "password-stdin"), "Current password: ", false,
			      &current, &err) < 0 ||
	    cli_read_password(cli_args_has(a, "password-stdin"), "New password: ", true, &password,
			      &err) < 0) {
		carve_err_prefix(&err, "user '%s'", name);
		return cli_invalid(cli, &err);
	}
	body = json_pack("{s:s, s:s}", "password", password, "current_password", current);
	if (!body)
		return CLI_EXIT_FAILURE;
	ex = patch_user(cli, name, body);
	json_decref(body);
	return ex;
}

static const struct cli_option list_options[] = {
	{"tenant", 't', "TENANT", "only this tenant's users (admin)"},
	{NULL},
};

static const struct cli_option create_options[] = {
	{"role", 'r', "ROLE", "admin, owner, operator or viewer"},
	{"tenant", 't', "TENANT", "the user's tenant (required for an admin creating a non-admin)"},
	{"password-stdin", 0, NULL, "read the password from stdin (one line)"},
	{"generate-password", 0, NULL, "generate a random password and print it once"},
	{NULL},
};

static const struct cli_option set_options[] = {
	{"role", 'r', "ROLE", "the new role"},
	{"password", 0, NULL, "prompt for a new password"},
	{"password-stdin", 0, NULL, "read the new password from stdin (one line)"},
	{NULL},
};

static const struct cli_option passwd_options[] = {
	{"password-stdin", 0, NULL, "read the new password from stdin (one line)"},
	{NULL},
};

const struct cli_group cli_group_user = {
	"user",
	"manage users",
	(const struct cli_verb[]){
		{"list", "[--tenant T]", "list users", "Example:\n  carve user list --tenant acme",
		 list_options, 0, 0, run_list},
		{"create", "NAME --role ROLE [--tenant T] [--password-stdin|--generate-password]",
		 "create a user; prompts for the password on the terminal unless told otherwise",
		 "Example:\n  carve user create bob --role operator --tenant acme --generate-password",
		 create_options, 1, 1, run_create},
		{"show", "NAME", "show a user", "Example:\n  carve user show bob", NULL, 1, 1,
		 run_show},
		{"set", "NAME [--role ROLE] [--password|--password-stdin]",
		 "change a user's role or password", "Example:\n  carve user set bob --role viewer",
		 set_options, 1, 1, run_set},
		{"delete", "NAME", "delete a user", "Example:\n  carve user delete bob", NULL, 1, 1,
		 run_delete},
		{"passwd", "[--password-stdin]",
		 "change your own password (stdin: current, then new, one per line)",
		 "Example:\n  carve user passwd", passwd_options, 0, 0, run_passwd},
		{NULL},
	},
};

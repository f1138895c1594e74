/* SPDX-License-Identifier: Apache-2.0 */
/* carve login, logout, whoami: sessions and the config file that keeps one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/string-util.h"
#include "cli/cli.h"
#include "cli/output.h"

static int save_session(struct cli *cli, const char *url, const char *secret, const char *user)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = NULL;
	int r;

	r = cli_config_path(&path);
	if (r < 0) {
		fputs("carve: config file: neither $XDG_CONFIG_HOME nor $HOME is set\n", cli->err);
		return CLI_EXIT_FAILURE;
	}
	r = cli_config_save(path, url, secret, user, &err);
	if (r < 0)
		return cli_fail(cli, &err);
	return CLI_EXIT_OK;
}

static int run_login(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *user = cli_args_get(a, "user");
	cleanup_free char *password = NULL;
	json_t *body, *answer = NULL;
	const char *secret;
	int r, ex;

	if (!user)
		return cli_usage(cli, "login: --user NAME is required");
	if (cli_check_name("user", user, &err) < 0)
		return cli_invalid(cli, &err);
	r = cli_read_password(cli_args_has(a, "password-stdin"), "Password: ", false, &password,
			      &err);
	if (r < 0)
		return cli_invalid(cli, &err);

	body = json_pack("{s:s, s:s}", "user", user, "password", password);
	explicit_bzero(password, strlen(password));
	if (!body)
		return CLI_EXIT_FAILURE;
	r = cli_request(cli, "POST", "/login", body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(cli, &err);
	secret = json_string_value(json_object_get(answer, "secret"));
	if (!secret) {
		json_decref(answer);
		fputs("carve: login: answer holds no secret\n", cli->err);
		return CLI_EXIT_FAILURE;
	}
	ex = save_session(cli, cli->cfg.url, secret, user);
	if (ex == CLI_EXIT_OK) {
		/* The secret is in the config file; it is not printed, even with --json. */
		json_object_del(answer, "secret");
		if (cli->json)
			cli_print_json(cli, answer);
		else if (!cli->quiet) {
			const char *exp = json_string_value(json_object_get(answer, "expires_at"));

			fprintf(cli->out, "logged in to %s as '%s'%s%s%s\n", cli->cfg.url, user,
				exp ? " (session expires " : "", exp ? exp : "", exp ? ")" : "");
		}
	}
	json_decref(answer);
	return ex;
}

static int run_logout(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = NULL;
	struct cli_config file = {0};
	int r, ex = CLI_EXIT_OK;

	r = cli_request(cli, "POST", "/logout", NULL, NULL, &err);
	/* 401: the session had already ended; forgetting it locally is all that is left. */
	if (r < 0 && err.code != -EACCES)
		ex = cli_fail(cli, &err);

	if (cli_config_path(&path) >= 0 && cli_config_load(path, &file, NULL) >= 0 && file.token &&
	    streq(file.url, cli->cfg.url)) {
		carve_err_clear(&err);
		if (cli_config_save(path, file.url, NULL, NULL, &err) < 0)
			ex = cli_fail(cli, &err);
	}
	cli_config_release(&file);
	if (ex == CLI_EXIT_OK && !cli->quiet && !cli->json)
		fprintf(cli->out, "logged out of %s\n", cli->cfg.url);
	return ex;
}

static const struct cli_column whoami_fields[] = {
	{"user", "user.name"}, {"tenant", "tenant"}, {"role", "role"}, {"via", "via"}, {NULL},
};

static int run_whoami(struct cli *cli, const struct cli_args *a)
{
	return cli_show(cli, "/whoami", "", whoami_fields, "session", NULL);
}

static const struct cli_option login_options[] = {
	{"user", 'u', "NAME", "the user to log in as"},
	{"password-stdin", 0, NULL, "read the password from stdin (one line) instead of prompting"},
	{NULL},
};

const struct cli_group cli_group_login = {
	"login",
	"log in and keep the session in the config file",
	(const struct cli_verb[]){
		{"", "--user NAME [--url URL] [--password-stdin]",
		 "Log in to carved and save the address and session secret to\n"
		 "$XDG_CONFIG_HOME/carve/config.json (mode 0600); later commands use them.",
		 "Example:\n  carve login --url http://carve.example:8443 --user alice\n"
		 "  echo \"$PW\" | carve login --user alice --password-stdin",
		 login_options, 0, 0, run_login},
		{NULL},
	},
};

const struct cli_group cli_group_logout = {
	"logout",
	"end the saved session",
	(const struct cli_verb[]){
		{"", "", "End the session on carved and forget its secret.",
		 "Example:\n  carve logout", NULL, 0, 0, run_logout},
		{NULL},
	},
};

const struct cli_group cli_group_whoami = {
	"whoami",
	"show who carved takes you for",
	(const struct cli_verb[]){
		{"", "", "Show the user, tenant and role of the current credentials.",
		 "Example:\n  carve whoami --json", NULL, 0, 0, run_whoami},
		{NULL},
	},
};

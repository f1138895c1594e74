/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carve, the command-line client: shared types of the command table, the option parser and the
 * helpers every command group uses. A command is a verb of a group ("server create"); a group
 * may itself be a single command ("login"). One struct cli lives for one invocation and owns the
 * HTTP client, opened lazily on the first request. Commands return an exit code (CLI_EXIT_*) and
 * print their own errors through cli_fail()/cli_usage()/cli_invalid(); nothing calls exit().
 * Single-threaded.
 */
#ifndef CARVE_CLI_CLI_H
#define CARVE_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "base/err.h"
#include "cli/config.h"

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILURE = 1, /* the API refused, or a task failed */
	CLI_EXIT_UNREACHABLE = 2, /* carved cannot be reached */
	CLI_EXIT_USAGE = 64, /* EX_USAGE: bad arguments, nothing was sent */
};

/* err->code of a transport failure (exit code 2); never produced for an API error. */
#define CLI_ERR_UNREACHABLE (-ENOTCONN)

#define CLI_ARGS_MAX 64

struct cli_option {
	const char *name; /* long name without "--"; NULL ends a table */
	char short_name; /* 0: none */
	const char *arg; /* metavariable when the option takes a value, NULL for a flag */
	const char *help;
};

struct cli_args {
	size_t n_opts;
	const char *opt_names[CLI_ARGS_MAX];
	const char *opt_values[CLI_ARGS_MAX]; /* "" for a flag */
	size_t n_pos;
	char *pos[CLI_ARGS_MAX];
};

/*
 * Parse argv[0..argc) against the option tables (NULL-terminated list of tables). Accepts
 * "--name value", "--name=value", "-x value", "-x" and "--" (everything after it is positional).
 * Options and positionals may be mixed unless stop_at_positional, which stops at the first
 * positional and stores its index in *ret_next (argc when none). Results are appended to a.
 */
int cli_args_parse(struct cli_args *a, int argc, char **argv,
		   const struct cli_option *const *tables, bool stop_at_positional, int *ret_next,
		   struct carve_error *err);
/* The last value given for an option, "" for a flag, NULL when absent. */
const char *cli_args_get(const struct cli_args *a, const char *name);
bool cli_args_has(const struct cli_args *a, const char *name);

struct cli;

struct cli_verb {
	const char *name; /* NULL ends a table; "" for a group that is a single command */
	const char *synopsis; /* arguments after the verb, e.g. "NAME --template T" */
	const char *summary; /* one line */
	const char *help; /* more lines and an example; may be NULL */
	const struct cli_option *options;
	unsigned min_pos, max_pos;
	int (*run)(struct cli *cli, const struct cli_args *a);
};

struct cli_group {
	const char *name;
	const char *summary;
	const struct cli_verb *verbs;
};

extern const struct cli_group cli_group_login, cli_group_logout, cli_group_whoami, cli_group_tenant,
	cli_group_user, cli_group_token, cli_group_template, cli_group_server, cli_group_snapshot,
	cli_group_pool, cli_group_volume, cli_group_event, cli_group_task, cli_group_console,
	cli_group_exec, cli_group_network, cli_group_port, cli_group_backup;

struct carve_client;

struct cli {
	const struct cli_group *group;
	const struct cli_verb *verb;
	bool json, quiet;
	const char *flag_url, *flag_token;
	struct cli_config cfg; /* resolved address and token */
	bool cfg_resolved;
	struct carve_client *client;
	FILE *out, *err;
};

/* Run carve with argv; returns the exit code. */
int cli_main(int argc, char **argv);

/* Print "carve: <msg>" and a hint to --help; returns CLI_EXIT_USAGE. */
int cli_usage(struct cli *cli, const char *fmt, ...) _printf_(2, 3);
/* A local validation error: print "carve: <msg>"; returns CLI_EXIT_USAGE. */
int cli_invalid(struct cli *cli, const struct carve_error *err);
/* Print "carve: <msg>"; returns CLI_EXIT_UNREACHABLE for a transport failure, else FAILURE. */
int cli_fail(struct cli *cli, const struct carve_error *err);
/* Same, prefixing "<kind> '<name>': " unless the message already names the object. */
int cli_fail_object(struct cli *cli, struct carve_error *err, const char *kind, const char *name);

/*
 * Send a request to /api/v1<path> (body may be NULL; it is not stolen). On a 2xx answer stores the
 * parsed body (NULL when empty) in *ret. Else fills err: the API's error message, or
 * CLI_ERR_UNREACHABLE with "cannot reach carved at <url>: <reason>".
 */
int cli_request(struct cli *cli, const char *method, const char *path, json_t *body, json_t **ret,
		struct carve_error *err);

/* GET path and write the raw answer to fd (a file download). */
int cli_download(struct cli *cli, const char *path, int fd, uint64_t *ret_bytes,
		 struct carve_error *err);
/* Poll a task until it ends, drawing a progress bar on a terminal. Fills err with the task's
 * error when it failed. *ret_task (optional) receives the final task object. */
int cli_task_wait(struct cli *cli, const char *task_id, json_t **ret_task, struct carve_error *err);

/* Handle a 202 answer {"task":{...}}: with no_wait print the task id (or the task's JSON), else
 * wait for it, and on failure print the task's error naming the object. Returns an exit code. */
int cli_task_follow(struct cli *cli, json_t *answer, bool no_wait, const char *kind,
		    const char *name);

/* Columns of a table, or fields of a "key: value" block; header NULL ends the list. */
struct cli_column {
	const char *header;
	const char *key; /* member of the object, may be dotted */
	bool size; /* integer bytes shown with format_size */
};

/* GET path, print the list (key names the array in the answer) as a table or JSON. */
int cli_list(struct cli *cli, const char *path, const char *key, const struct cli_column *cols);
/* Same; errors name kind 'name' (the object the list belongs to). */
int cli_list_of(struct cli *cli, const char *path, const char *key, const struct cli_column *cols,
		const char *kind, const char *name);
/* GET path, print the object as "key: value" lines or JSON; errors name kind 'name'. */
int cli_show(struct cli *cli, const char *path, const char *key, const struct cli_column *fields,
	     const char *kind, const char *name);
/* Print one object (human: "key: value" lines). */
void cli_print_object(struct cli *cli, json_t *obj, const struct cli_column *fields);

/* Read a password: from stdin (one line) or prompted on the terminal without echo. */
int cli_read_password(bool from_stdin, const char *prompt, bool confirm, char **ret,
		      struct carve_error *err);

/* Print a JSON value, indent 2, to cli->out. */
void cli_print_json(struct cli *cli, json_t *v);

/* Validation shared by the command groups; messages name the object and the field. */
int cli_check_name(const char *kind, const char *name, struct carve_error *err);
/* A size for field of kind 'name': "<kind> '<name>': <field> '12X': not a size (...)". */
int cli_parse_size(const char *kind, const char *name, const char *field, const char *s,
		   uint64_t *ret, struct carve_error *err);
int cli_parse_memory(const char *kind, const char *name, const char *s, uint64_t *ret,
		     struct carve_error *err);
int cli_parse_vcpus(const char *kind, const char *name, const char *s, uint64_t *ret,
		    struct carve_error *err);
/* "30d", "12h", "90m", "45s", "2w" or bare seconds. */
int cli_parse_duration(const char *s, uint64_t *ret_seconds, struct carve_error *err);
int cli_check_role(const char *role, struct carve_error *err);

/* "<path>?tenant=<t>" (escaped) when tenant is set, else path; heap string or NULL on OOM. */
char *cli_path_with_tenant(const char *path, const char *tenant);

/* cmd-network.c: --network NET[,ip=A][,dhcp] (repeatable) and --bandwidth RATE of server
 * create/set into body; returns an exit code. */
int cli_network_options(struct cli *cli, const struct cli_args *a, const char *server,
			json_t *body);

/* The object inside an answer: answer[key] when it is an object, else answer itself. */
json_t *cli_unwrap(json_t *answer, const char *key);
/* The array inside a list answer: the answer itself, answer[key], or NULL. */
json_t *cli_unwrap_list(json_t *answer, const char *key);

extern const struct cli_option cli_global_options[];

#endif

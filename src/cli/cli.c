/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dispatch: global options, then a group, then a verb, then the verb's options and arguments
 * (global options are accepted anywhere before "--"). Also the helpers shared by command groups.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "carve-config.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"

/* Poll fast at first (most tasks end within milliseconds), then every 150 ms. */
#define TASK_POLL_FIRST_NS (20 * 1000 * 1000L)
#define TASK_POLL_NS (150 * 1000 * 1000L)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define PASSWORD_MAX 1024

const struct cli_option cli_global_options[] = {
	{"url", 0, "URL", "carved's address: unix:///run/carve/carved.sock or http://host:port"},
	{"token", 0, "SECRET", "API token or session secret (default: $CARVE_TOKEN, then login)"},
	{"json", 0, NULL, "print the API's JSON instead of tables"},
	{"quiet", 'q', NULL, "print nothing but errors and requested values"},
	{"help", 'h', NULL, "show help"},
	{"version", 0, NULL, "show the version"},
	{NULL},
};

static const struct cli_group *const groups[] = {
	&cli_group_login,    &cli_group_logout, &cli_group_whoami,   &cli_group_tenant,
	&cli_group_user,     &cli_group_token,	&cli_group_template, &cli_group_server,
	&cli_group_snapshot, &cli_group_pool,	&cli_group_volume,   &cli_group_network,
	&cli_group_port,     &cli_group_event,	&cli_group_task,     &cli_group_console,
	&cli_group_exec,     &cli_group_backup,
};

static bool group_is_single(const struct cli_group *g)
{
	return g->verbs[0].name[0] == '\0';
}

static void print_options(FILE *f, const struct cli_option *opts)
{
	for (const struct cli_option *o = opts; o && o->name; o++) {
		char left[64];

		snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->short_name ? "-" : "",
			 o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-28s %s\n", left[0] == ' ' ? left + 1 : left, o->help);
	}
}

static void print_main_help(FILE *f)
{
	fputs("Usage: carve [OPTIONS] COMMAND [ARGS]\n\n"
	      "The command-line client of carved, the carve virtualization daemon.\n\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < ELEMENTSOF(groups); i++)
		fprintf(f, "  %-10s %s\n", groups[i]->name, groups[i]->summary);
	fputs("\nOptions (accepted before or after the command):\n", f);
	print_options(f, cli_global_options);
	fputs("\nExit status: 0 success, 1 refused by carved or task failed, 2 carved unreachable,\n"
	      "64 usage error.\n"
	      "Run 'carve COMMAND --help' for a command's arguments and an example.\n",
	      f);
}

static void print_group_help(FILE *f, const struct cli_group *g)
{
	fprintf(f, "Usage: carve %s COMMAND [OPTIONS]\n\n%s\n\nCommands:\n", g->name, g->summary);
	for (const struct cli_verb *v = g->verbs; v->name; v++) {
		char left[80];

		snprintf(left, sizeof(left), "%s %s", v->name, v->synopsis ? v->synopsis : "");
		if (strlen(left) > 34)
			fprintf(f, "  %s\n  %-34s %s\n", left, "", v->summary);
		else
			fprintf(f, "  %-34s %s\n", left, v->summary);
	}
	fprintf(f, "\nRun 'carve %s COMMAND --help' for details.\n", g->name);
}

static void print_verb_help(FILE *f, const struct cli_group *g, const struct cli_verb *v)
{
	fprintf(f, "Usage: carve %s%s%s%s%s\n\n%s\n", g->name, v->name[0] ? " " : "", v->name,
		v->synopsis && v->synopsis[0] ? " " : "", v->synopsis ? v->synopsis : "",
		v->summary);
	if (v->options && v->options->name) {
		fputs("\nOptions:\n", f);
		print_options(f, v->options);
	}
	if (v->help)
		fprintf(f, "\n%s\n", v->help);
	fputs("\nGlobal options: --url URL, --token SECRET, --json, --quiet, --help\n", f);
}

static void hint(struct cli *cli)
{
	if (cli->verb && cli->verb->name[0])
		fprintf(cli->err, "Try 'carve %s %s --help'.\n", cli->group->name, cli->verb->name);
	else if (cli->group)
		fprintf(cli->err, "Try 'carve %s --help'.\n", cli->group->name);
	else
		fputs("Try 'carve --help'.\n", cli->err);
}

int cli_usage(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fputs("carve: ", cli->err);
	va_start(ap, fmt);
	vfprintf(cli->err, fmt, ap);
	va_end(ap);
	fputc('\n', cli->err);
	hint(cli);
	return CLI_EXIT_USAGE;
}

int cli_invalid(struct cli *cli, const struct carve_error *err)
{
	fprintf(cli->err, "carve: %s\n", err->msg[0] ? err->msg : "invalid argument");
	return CLI_EXIT_USAGE;
}

int cli_fail(struct cli *cli, const struct carve_error *err)
{
	fprintf(cli->err, "carve: %s\n", err->msg[0] ? err->msg : strerror(-err->code));
	return err->code == CLI_ERR_UNREACHABLE ? CLI_EXIT_UNREACHABLE : CLI_EXIT_FAILURE;
}

int cli_fail_object(struct cli *cli, struct carve_error *err, const char *kind, const char *name)
{
	char quoted[CARVE_NAME_MAX + 8];

	snprintf(quoted, sizeof(quoted), "'%s'", name ? name : "");
	if (err->code != CLI_ERR_UNREACHABLE && name && !strstr(err->msg, quoted))
		carve_err_prefix(err, "%s %s", kind, quoted);
	return cli_fail(cli, err);
}

static int cli_connect(struct cli *cli, struct carve_error *err)
{
	int r;

	if (cli->client)
		return 0;
	if (!cli->cfg_resolved) {
		r = cli_config_resolve(cli->flag_url, cli->flag_token, geteuid(), &cli->cfg, err);
		if (r < 0)
			return r;
		cli->cfg_resolved = true;
	}
	if (!cli->cfg.url)
		return carve_err(
			err, CLI_ERR_UNREACHABLE,
			"cannot reach carved: no address (use --url URL, $CARVE_URL or 'carve login')");
	return carve_client_new(cli->cfg.url, cli->cfg.token, &cli->client, err);
}

int cli_request(struct cli *cli, const char *method, const char *path, json_t *body, json_t **ret,
		struct carve_error *err)
{
	long status = 0;
	int r;

	r = cli_connect(cli, err);
	if (r < 0)
		return r;
	r = carve_client_request(cli->client, method, path, body, ret, &status, err);
	if (r < 0 && status == 401 && !cli->cfg.token && !streq(path, "/login") &&
	    !strstr(err->msg, "carve login")) {
		size_t n = strlen(err->msg);

		snprintf(err->msg + n, sizeof(err->msg) - n,
			 " (log in with 'carve login' or use --token)");
	}
	return r;
}

int cli_download(struct cli *cli, const char *path, int fd, uint64_t *ret_bytes,
		 struct carve_error *err)
{
	int r = cli_connect(cli, err);

	if (r < 0)
		return r;
	return carve_client_download(cli->client, path, fd, ret_bytes, err);
}

json_t *cli_unwrap(json_t *answer, const char *key)
{
	json_t *v = json_object_get(answer, key);

	return json_is_object(v) ? v : answer;
}

json_t *cli_unwrap_list(json_t *answer, const char *key)
{
	const char *k;
	json_t *v, *found = NULL;

	if (json_is_array(answer))
		return answer;
	v = json_object_get(answer, key);
	if (json_is_array(v))
		return v;
	/* Tolerate a differently named wrapper when it is the only array in the answer. */
	json_object_foreach (answer, k, v) {
		if (!json_is_array(v))
			continue;
		if (found)
			return NULL;
		found = v;
	}
	return found;
}

void cli_print_json(struct cli *cli, json_t *v)
{
	if (v)
		json_dumpf(v, cli->out, JSON_INDENT(2) | JSON_ENCODE_ANY);
	else
		fputs("null", cli->out);
	fputc('\n', cli->out);
}

void cli_print_object(struct cli *cli, json_t *obj, const struct cli_column *fields)
{
	const char *pairs[64 + 1];
	char bufs[32][256];
	size_t n = 0;

	for (size_t i = 0; fields[i].header && i < 32; i++) {
		pairs[n++] = fields[i].header;
		pairs[n++] =
			json_cell(obj, fields[i].key, fields[i].size, bufs[i], sizeof(bufs[i]));
	}
	pairs[n] = NULL;
	output_kv(cli->out, pairs);
}

int cli_list(struct cli *cli, const char *path, const char *key, const struct cli_column *cols)
{
	return cli_list_of(cli, path, key, cols, NULL, NULL);
}

int cli_list_of(struct cli *cli, const char *path, const char *key, const struct cli_column *cols,
		const char *kind, const char *name)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *headers[17], *cells[16];
	char bufs[16][256];
	struct table *t;
	json_t *answer = NULL, *list, *item;
	size_t n = 0, i;
	int r;

	r = cli_request(cli, "GET", path, NULL, &answer, &err);
	if (r < 0)
		return kind ? cli_fail_object(cli, &err, kind, name) : cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(cli, answer);
		json_decref(answer);
		return CLI_EXIT_OK;
	}
	list = cli_unwrap_list(answer, key);
	if (!list) {
		json_decref(answer);
		fprintf(cli->err, "carve: GET %s: answer holds no list of %s\n", path, key);
		return CLI_EXIT_FAILURE;
	}
	while (cols[n].header && n < 16) {
		headers[n] = cols[n].header;
		n++;
	}
	headers[n] = NULL;
	t = table_new(headers);
	if (!t) {
		json_decref(answer);
		return CLI_EXIT_FAILURE;
	}
	json_array_foreach (list, i, item) {
		for (size_t c = 0; c < n; c++)
			cells[c] = json_cell(item, cols[c].key, cols[c].size, bufs[c],
					     sizeof(bufs[c]));
		if (table_add_row(t, cells) < 0)
			break;
	}
	table_print(t, cli->out);
	table_free(t);
	json_decref(answer);
	return CLI_EXIT_OK;
}

int cli_show(struct cli *cli, const char *path, const char *key, const struct cli_column *fields,
	     const char *kind, const char *name)
{
	struct carve_error err = CARVE_ERROR_INIT;
	json_t *answer = NULL;
	int r;

	r = cli_request(cli, "GET", path, NULL, &answer, &err);
	if (r < 0)
		return cli_fail_object(cli, &err, kind, name);
	if (cli->json)
		cli_print_json(cli, answer);
	else
		cli_print_object(cli, cli_unwrap(answer, key), fields);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static void draw_progress(struct cli *cli, json_t *task)
{
	json_t *p = json_object_get(task, "progress");
	json_int_t done = json_integer_value(json_object_get(p, "done"));
	json_int_t total = json_integer_value(json_object_get(p, "total"));
	const char *unit = json_string_value(json_object_get(p, "unit"));
	const char *kind = json_string_value(json_object_get(task, "kind"));
	char bar[160];

	progress_format(done > 0 ? (uint64_t)done : 0, total > 0 ? (uint64_t)total : 0, unit, 20,
			bar, sizeof(bar));
	fprintf(cli->err, "\r%s %s\033[K", kind ? kind : "task", bar);
	fflush(cli->err);
}

int cli_task_wait(struct cli *cli, const char *task_id, json_t **ret_task, struct carve_error *err)
{
	bool tty = !cli->quiet && !cli->json && isatty(fileno(cli->err));
	char path[64 + CARVE_ID_LEN];
	json_t *answer = NULL, *task;
	const char *state;
	int r;

	if (parse_id(task_id, err) < 0)
		return carve_err_prefix(err, "task");
	snprintf(path, sizeof(path), "/tasks/%s", task_id);
	for (long delay = TASK_POLL_FIRST_NS;; delay = MIN(delay * 2, TASK_POLL_NS)) {
		struct timespec ts = {0, delay};

		r = cli_request(cli, "GET", path, NULL, &answer, err);
		if (r < 0)
			goto out;
		task = cli_unwrap(answer, "task");
		state = json_string_value(json_object_get(task, "state"));
		if (tty)
			draw_progress(cli, task);
		if (streq(state, "succeeded") || streq(state, "failed"))
			break;
		json_decref(answer);
		answer = NULL;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (streq(state, "failed")) {
		const char *msg = json_string_value(
			json_object_get(json_object_get(task, "error"), "message"));

		r = carve_err(err, -EIO, "%s", msg && *msg ? msg : "task failed");
	} else
		r = 0;
	if (ret_task)
		*ret_task = json_incref(task);
out:
	if (tty) {
		fputs("\r\033[K", cli->err);
		fflush(cli->err);
	}
	json_decref(answer);
	return r;
}

int cli_task_follow(struct cli *cli, json_t *answer, bool no_wait, const char *kind,
		    const char *name)
{
	struct carve_error err = CARVE_ERROR_INIT;
	json_t *task = json_object_get(answer, "task");
	const char *id = json_string_value(json_object_get(task, "id"));
	int r;

	if (!id) {
		/* Finished synchronously: nothing to wait for. */
		if (no_wait && cli->json)
			cli_print_json(cli, answer);
		return CLI_EXIT_OK;
	}
	if (no_wait) {
		if (cli->json)
			cli_print_json(cli, task);
		else
			fprintf(cli->out, "%s\n", id);
		return CLI_EXIT_OK;
	}
	r = cli_task_wait(cli, id, NULL, &err);
	if (r < 0)
		return cli_fail_object(cli, &err, kind, name);
	return CLI_EXIT_OK;
}

static int read_line_fd(FILE *f, char **ret, struct carve_error *err)
{
	cleanup_free char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	n = getline(&line, &cap, f);
	if (n < 0)
		return carve_err(err, -ENODATA, "password: no input");
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n == 0)
		return carve_err(err, -EINVAL, "password: empty");
	if (n > PASSWORD_MAX) {
		explicit_bzero(line, (size_t)n);
		return carve_err(err, -EINVAL, "password: longer than %d characters", PASSWORD_MAX);
	}
	*ret = TAKE_PTR(line);
	return 0;
}

static int prompt_tty(FILE *tty, const char *prompt, char **ret, struct carve_error *err)
{
	struct termios old, noecho;
	int fd = fileno(tty), r;

	if (tcgetattr(fd, &old) < 0)
		return carve_err(err, -errno, "password: terminal: %s", strerror(errno));
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	fputs(prompt, tty);
	fflush(tty);
	if (tcsetattr(fd, TCSAFLUSH, &noecho) < 0)
		return carve_err(err, -errno, "password: terminal: %s", strerror(errno));
	r = read_line_fd(tty, ret, err);
	(void)tcsetattr(fd, TCSAFLUSH, &old);
	return r;
}

int cli_read_password(bool from_stdin, const char *prompt, bool confirm, char **ret,
		      struct carve_error *err)
{
	cleanup_free char *a = NULL, *b = NULL;
	cleanup_fclose FILE *tty = NULL;
	int r;

	if (from_stdin)
		return read_line_fd(stdin, ret, err);
	tty = fopen("/dev/tty", "r+e");
	if (!tty)
		return carve_err(err, -ENOTTY,
				 "password: no terminal to prompt on (use --password-stdin)");
	r = prompt_tty(tty, prompt, &a, err);
	if (r >= 0 && confirm) {
		r = prompt_tty(tty, "Repeat the password: ", &b, err);
		if (r >= 0 && !streq(a, b))
			r = carve_err(err, -EINVAL, "password: the two entries differ");
	}
	if (b)
		explicit_bzero(b, strlen(b));
	if (r < 0) {
		if (a)
			explicit_bzero(a, strlen(a));
		return r;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

int cli_check_name(const char *kind, const char *name, struct carve_error *err)
{
	return parse_name(name, kind, err);
}

int cli_parse_size(const char *kind, const char *name, const char *field, const char *s,
		   uint64_t *ret, struct carve_error *err)
{
	struct carve_error e = CARVE_ERROR_INIT;
	int r;

	r = parse_size(s, ret, &e);
	if (r < 0) {
		if (!s || !*s)
			return carve_err_field(err, r, field, "%s '%s': %s: %s", kind, name, field,
					       e.msg);
		/* parse_size says "'12X': not a size (...)": the field name goes in front. */
		return carve_err_field(err, r, field, "%s '%s': %s %s", kind, name, field, e.msg);
	}
	return 0;
}

int cli_parse_memory(const char *kind, const char *name, const char *s, uint64_t *ret,
		     struct carve_error *err)
{
	return cli_parse_size(kind, name, "memory", s, ret, err);
}

int cli_parse_vcpus(const char *kind, const char *name, const char *s, uint64_t *ret,
		    struct carve_error *err)
{
	struct carve_error e = CARVE_ERROR_INIT;
	int r;

	r = parse_uint64(s, 1, 256, ret, &e);
	if (r < 0)
		return carve_err_field(err, r, "vcpus", "%s '%s': vcpus %s", kind, name,
				       s && *s ? e.msg : "'': empty (use 1..256)");
	return 0;
}

int cli_parse_duration(const char *s, uint64_t *ret_seconds, struct carve_error *err)
{
	static const struct {
		char suffix;
		uint64_t seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
	char digits[24];
	uint64_t v, mult = 1;
	size_t n;

	if (!s || !*s)
		return carve_err(err, -EINVAL, "empty duration (use e.g. 12h, 30d)");
	n = strlen(s);
	if (n >= sizeof(digits))
		goto bad;
	memcpy(digits, s, n + 1);
	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (digits[n - 1] == units[i].suffix) {
			mult = units[i].seconds;
			digits[--n] = '\0';
			break;
		}
	if (parse_uint64(digits, 1, UINT64_MAX, &v, NULL) < 0)
		goto bad;
	/* At most 100 years: beyond that it is a typo, and no timestamp overflows. */
	if (v > UINT64_C(3155760000) / mult)
		return carve_err(err, -ERANGE, "'%s': duration too long (at most 100 years)", s);
	*ret_seconds = v * mult;
	return 0;
bad:
	return carve_err(err, -EINVAL,
			 "'%.32s': not a duration (use e.g. 3600s, 90m, 12h, 30d, 2w)", s);
}

int cli_check_role(const char *role, struct carve_error *err)
{
	static const char *const roles[] = {"admin", "owner", "operator", "viewer"};

	for (size_t i = 0; i < ELEMENTSOF(roles); i++)
		if (streq(role, roles[i]))
			return 0;
	return carve_err_field(err, -EINVAL, "role",
			       "role '%.32s': use admin, owner, operator or viewer",
			       role ? role : "");
}

char *cli_path_with_tenant(const char *path, const char *tenant)
{
	char *esc, *p = NULL;

	if (!tenant)
		return strdup(path);
	esc = curl_easy_escape(NULL, tenant, 0);
	if (!esc)
		return NULL;
	if (asprintf(&p, "%s%stenant=%s", path, strchr(path, '?') ? "&" : "?", esc) < 0)
		p = NULL;
	curl_free(esc);
	return p;
}

static const struct cli_group *find_group(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(groups); i++)
		if (streq(groups[i]->name, name))
			return groups[i];
	return NULL;
}

static const struct cli_verb *find_verb(const struct cli_group *g, const char *name)
{
	for (const struct cli_verb *v = g->verbs; v->name; v++)
		if (streq(v->name, name))
			return v;
	return NULL;
}

static void apply_globals(struct cli *cli, const struct cli_args *a)
{
	cli->json = cli_args_has(a, "json");
	cli->quiet = cli_args_has(a, "quiet");
	cli->flag_url = cli_args_get(a, "url");
	cli->flag_token = cli_args_get(a, "token");
}

static int run(struct cli *cli, int argc, char **argv)
{
	const struct cli_option *globals_only[] = {cli_global_options, NULL};
	struct carve_error err = CARVE_ERROR_INIT;
	struct cli_args a = {0};
	int next = 0, r;

	r = cli_args_parse(&a, argc, argv, globals_only, true, &next, &err);
	if (r < 0)
		return cli_usage(cli, "%s", err.msg);
	argc -= next;
	argv += next;
	if (cli_args_has(&a, "version")) {
		fprintf(cli->out, "carve %s\n", CARVE_VERSION);
		return CLI_EXIT_OK;
	}
	if (argc == 0) {
		if (cli_args_has(&a, "help")) {
			print_main_help(cli->out);
			return CLI_EXIT_OK;
		}
		print_main_help(cli->err);
		return CLI_EXIT_USAGE;
	}
	if (streq(argv[0], "help")) {
		const struct cli_group *g = argc > 1 ? find_group(argv[1]) : NULL;
		const struct cli_verb *v = g && argc > 2 ? find_verb(g, argv[2]) : NULL;

		if (argc > 1 && !g)
			return cli_usage(cli, "unknown command '%s'", argv[1]);
		if (!g)
			print_main_help(cli->out);
		else if (v || group_is_single(g))
			print_verb_help(cli->out, g, v ?: &g->verbs[0]);
		else
			print_group_help(cli->out, g);
		return CLI_EXIT_OK;
	}
	cli->group = find_group(argv[0]);
	if (!cli->group)
		return cli_usage(cli, "unknown command '%s'", argv[0]);
	argc--;
	argv++;

	if (group_is_single(cli->group))
		cli->verb = &cli->group->verbs[0];
	else {
		r = cli_args_parse(&a, argc, argv, globals_only, true, &next, &err);
		if (r < 0)
			return cli_usage(cli, "%s", err.msg);
		argc -= next;
		argv += next;
		if (argc == 0) {
			if (cli_args_has(&a, "help")) {
				print_group_help(cli->out, cli->group);
				return CLI_EXIT_OK;
			}
			print_group_help(cli->err, cli->group);
			return CLI_EXIT_USAGE;
		}
		cli->verb = find_verb(cli->group, argv[0]);
		if (!cli->verb)
			return cli_usage(cli, "unknown command '%s %s'", cli->group->name, argv[0]);
		argc--;
		argv++;
	}

	const struct cli_option *tables[] = {cli_global_options, cli->verb->options, NULL};

	r = cli_args_parse(&a, argc, argv, tables, false, NULL, &err);
	if (r < 0)
		return cli_usage(cli, "%s", err.msg);
	if (cli_args_has(&a, "help")) {
		print_verb_help(cli->out, cli->group, cli->verb);
		return CLI_EXIT_OK;
	}
	if (a.n_pos < cli->verb->min_pos)
		return cli_usage(cli, "missing argument (usage: carve %s%s%s %s)", cli->group->name,
				 cli->verb->name[0] ? " " : "", cli->verb->name,
				 cli->verb->synopsis ? cli->verb->synopsis : "");
	if (a.n_pos > cli->verb->max_pos)
		return cli_usage(cli, "unexpected argument '%s'", a.pos[cli->verb->max_pos]);
	apply_globals(cli, &a);
	if (cli->flag_url && cli_url_parse(cli->flag_url, NULL, NULL, &err) < 0)
		return cli_usage(cli, "%s", err.msg);
	return cli->verb->run(cli, &a);
}

int cli_main(int argc, char **argv)
{
	struct cli cli = {.out = stdout, .err = stderr};
	int r;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fputs("carve: cannot initialize libcurl\n", stderr);
		return CLI_EXIT_FAILURE;
	}
	r = run(&cli, argc > 0 ? argc - 1 : 0, argc > 0 ? argv + 1 : argv);
	carve_client_free(cli.client);
	cli_config_release(&cli.cfg);
	curl_global_cleanup();
	if (fflush(stdout) != 0 && r == CLI_EXIT_OK) {
		fprintf(stderr, "carve: write to stdout: %s\n", strerror(errno));
		r = CLI_EXIT_FAILURE;
	}
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* carve backup: backups of whole servers, restore, single files, verify, prune, gc, schedules and
 * the provider's backup stores. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "cli/cli.h"

static const struct cli_column backup_columns[] = {
	{"ID", "id"},
	{"SERVER", "server"},
	{"TENANT", "tenant"},
	{"STORE", "store"},
	{"CREATED", "created_at"},
	{"SIZE", "stats.bytes_total", true},
	{"READ", "stats.bytes_read", true},
	{NULL},
};

static const struct cli_column backup_fields[] = {
	{"id", "id"},
	{"server", "server"},
	{"tenant", "tenant"},
	{"store", "store"},
	{"kind", "kind"},
	{"state", "state"},
	{"encrypted", "encrypted"},
	{"scheduled", "scheduled"},
	{"created", "created_at"},
	{"size", "stats.bytes_total", true},
	{"bytes read", "stats.bytes_read", true},
	{"bytes written", "stats.bytes_written", true},
	{"chunks", "stats.chunks_total"},
	{"chunks new", "stats.chunks_new"},
	{"chunks reused", "stats.chunks_reused"},
	{"chunks dedup", "stats.chunks_dedup"},
	{"chunks zero", "stats.chunks_zero"},
	{"files indexed", "stats.files_indexed"},
	{"verified", "verify.verified_at"},
	{"verify ok", "verify.ok"},
	{NULL},
};

static const struct cli_column file_columns[] = {
	{"TYPE", "type"}, {"MODE", "mode"},	  {"UID", "uid"},
	{"GID", "gid"},	  {"SIZE", "size", true}, {"MTIME", "mtime"},
	{"PATH", "path"}, {"TARGET", "target"},	  {NULL},
};

static const struct cli_column store_columns[] = {
	{"NAME", "name"},	{"ENCRYPT", "encrypt"}, {"OFFSITE", "offsite"},
	{"BACKUPS", "backups"}, {"PATH", "path"},	{NULL},
};

static const struct cli_column schedule_fields[] = {
	{"server", "server"},
	{"schedule", "schedule"},
	{"store", "store"},
	{"keep last", "retention.keep_last"},
	{"keep hourly", "retention.keep_hourly"},
	{"keep daily", "retention.keep_daily"},
	{"keep weekly", "retention.keep_weekly"},
	{"keep monthly", "retention.keep_monthly"},
	{"keep yearly", "retention.keep_yearly"},
	{"next run", "next_run"},
	{"last run", "last_run"},
	{"last error", "last_error"},
	{NULL},
};

/* Backup ids: [A-Za-z0-9_-], 1..63 characters. */
static int check_backup_id(struct cli *cli, const char *id)
{
	struct carve_error err = CARVE_ERROR_INIT;
	size_t n = strlen(id);

	for (size_t i = 0; i < n; i++)
		if (!(id[i] >= 'a' && id[i] <= 'z') && !(id[i] >= 'A' && id[i] <= 'Z') &&
		    !(id[i] >= '0' && id[i] <= '9') && id[i] != '-' && id[i] != '_')
			n = 0;
	if (n == 0 || n > 63) {
		carve_err(&err, -EINVAL,
			  "backup '%.64s': not a backup id (see 'carve backup list')", id);
		return cli_invalid(cli, &err);
	}
	return CLI_EXIT_OK;
}

/* Append "?k=v&..." (escaped) for the non-NULL pairs to base; heap string. */
static char *with_query(const char *base, const char *const *kv)
{
	char *p = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&p, &len);
	bool first = true;

	if (!f)
		return NULL;
	fputs(base, f);
	for (size_t i = 0; kv[i]; i += 2) {
		const char *v = kv[i + 1];
		if (!v)
			continue;
		fprintf(f, "%c%s=", first ? '?' : '&', kv[i]);
		first = false;
		for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
			if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c >= '0' && *c <= '9') || strchr("-_.~/", *c))
				fputc(*c, f);
			else
				fprintf(f, "%%%02X", *c);
		}
	}
	fclose(f);
	return p;
}

/* cli_task_follow, and with --json (when waiting) the finished task is printed. */
static int follow(struct cli *cli, json_t *answer, bool no_wait, const char *kind, const char *name)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *id = json_string_value(json_object_get(json_object_get(answer, "task"), "id"));
	json_t *task = NULL;

	if (no_wait || !cli->json || !id)
		return cli_task_follow(cli, answer, no_wait, kind, name);
	if (cli_task_wait(cli, id, &task, &err) < 0) {
		json_decref(task);
		return cli_fail_object(cli, &err, kind, name);
	}
	cli_print_json(cli, task);
	json_decref(task);
	return CLI_EXIT_OK;
}

static int fail_backup(struct cli *cli, struct carve_error *err, const char *id)
{
	return cli_fail_object(cli, err, "backup", id);
}

static int show_backup(struct cli *cli, const char *id)
{
	cleanup_free char *path = NULL;

	if (asprintf(&path, "/backups/%s", id) < 0)
		return CLI_EXIT_FAILURE;
	return cli_show(cli, path, NULL, backup_fields, "backup", id);
}

static int run_list(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->n_pos > 0 ? a->pos[0] : NULL;
	const char *tenant = cli_args_get(a, "tenant"), *store = cli_args_get(a, "store");
	cleanup_free char *path = NULL;

	if (server && cli_check_name("server", server, &err) < 0)
		return cli_invalid(cli, &err);
	path = with_query("/backups", (const char *const[]){"server", server, "tenant", tenant,
							    "store", store, NULL});
	if (!path)
		return CLI_EXIT_FAILURE;
	if (server)
		return cli_list_of(cli, path, "backups", backup_columns, "server", server);
	return cli_list(cli, path, "backups", backup_columns);
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	int ex = check_backup_id(cli, a->pos[0]);

	if (ex != CLI_EXIT_OK)
		return ex;
	return show_backup(cli, a->pos[0]);
}

/* The newest backup of server (after a create), or NULL. */
static json_t *newest_backup(struct cli *cli, const char *server, const char *tenant)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = with_query(
		"/backups", (const char *const[]){"server", server, "tenant", tenant, NULL});
	json_t *answer = NULL, *list, *last = NULL;

	if (!path || cli_request(cli, "GET", path, NULL, &answer, &err) < 0)
		return NULL;
	list = cli_unwrap_list(answer, "backups");
	if (json_array_size(list) > 0)
		last = json_incref(json_array_get(list, json_array_size(list) - 1));
	json_decref(answer);
	return last;
}

static int run_create(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0], *tenant = cli_args_get(a, "tenant"),
		   *store = cli_args_get(a, "store");
	bool no_wait = cli_args_has(a, "no-wait");
	json_t *body, *answer = NULL, *b;
	int ex, r;

	if (cli_check_name("server", server, &err) < 0)
		return cli_invalid(cli, &err);
	body = json_pack("{s:s, s:s?, s:s?}", "server", server, "tenant", tenant, "store", store);
	if (!body)
		return CLI_EXIT_FAILURE;
	r = cli_request(cli, "POST", "/backups", body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "server", server);
	ex = cli_task_follow(cli, answer, no_wait, "server", server);
	json_decref(answer);
	if (ex != CLI_EXIT_OK || no_wait || (cli->quiet && !cli->json))
		return ex;
	b = newest_backup(cli, server, tenant);
	if (cli->json)
		cli_print_json(cli, b);
	else if (b) {
		char read[32] = "-", total[32] = "-";
		json_t *st = json_object_get(b, "stats");
		format_size((uint64_t)json_integer_value(json_object_get(st, "bytes_read")), read,
			    sizeof(read));
		format_size((uint64_t)json_integer_value(json_object_get(st, "bytes_total")), total,
			    sizeof(total));
		fprintf(cli->out,
			"backup '%s' of server '%s' created (%s of %s read, %lld new chunks)\n",
			json_string_value(json_object_get(b, "id")), server, read, total,
			(long long)json_integer_value(json_object_get(st, "chunks_new")));
	}
	json_decref(b);
	return CLI_EXIT_OK;
}

static int run_delete(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *id = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int ex;

	ex = check_backup_id(cli, id);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (asprintf(&path, "/backups/%s", id) < 0)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return fail_backup(cli, &err, id);
	ex = follow(cli, answer, cli_args_has(a, "no-wait"), "backup", id);
	json_decref(answer);
	if (ex == CLI_EXIT_OK && !cli->quiet && !cli->json && !cli_args_has(a, "no-wait"))
		fprintf(cli->out, "backup '%s' deleted (its chunks go at the next gc)\n", id);
	return ex;
}

static int run_restore(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *id = a->pos[0], *as = cli_args_get(a, "as");
	bool no_wait = cli_args_has(a, "no-wait");
	cleanup_free char *path = NULL;
	json_t *body, *answer = NULL, *server;
	char name[CARVE_NAME_MAX + 1] = "";
	int ex, r;

	ex = check_backup_id(cli, id);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (as && cli_check_name("server", as, &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&path, "/backups/%s/restore", id) < 0)
		return CLI_EXIT_FAILURE;
	body = as ? json_pack("{s:s, s:s}", "target", "new", "name", as)
		  : json_pack("{s:s}", "target", "in-place");
	r = cli_request(cli, "POST", path, body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return fail_backup(cli, &err, id);
	server = json_object_get(answer, "server");
	strscpy(name, json_string_value(json_object_get(server, "name")) ?: "", sizeof(name));
	ex = cli_task_follow(cli, answer, no_wait, "backup", id);
	json_decref(answer);
	if (ex != CLI_EXIT_OK || no_wait)
		return ex;
	if (cli->json)
		cli_print_json(cli, json_pack("{s:s, s:s, s:s}", "backup", id, "server", name,
					      "target", as ? "new" : "in-place"));
	else if (!cli->quiet)
		fprintf(cli->out, "backup '%s' restored %s server '%s'\n", id,
			as ? "as new" : "into", name);
	return CLI_EXIT_OK;
}

static int run_files(struct cli *cli, const struct cli_args *a)
{
	const char *id = a->pos[0], *dir = a->n_pos > 1 ? a->pos[1] : NULL;
	cleanup_free char *base = NULL, *path = NULL;
	int ex;

	ex = check_backup_id(cli, id);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (asprintf(&base, "/backups/%s/files", id) < 0)
		return CLI_EXIT_FAILURE;
	path = with_query(base, (const char *const[]){"volume", cli_args_get(a, "volume"), "path",
						      dir, NULL});
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_list_of(cli, path, "files", file_columns, "backup", id);
}

static int run_restore_file(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *id = a->pos[0], *file = a->pos[1], *volume = cli_args_get(a, "volume");
	const char *out = cli_args_get(a, "output"), *base;
	cleanup_free char *p = NULL, *path = NULL;
	uint64_t bytes = 0;
	int ex, fd, r;

	ex = check_backup_id(cli, id);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (!*file) {
		carve_err_field(&err, -EINVAL, "path", "backup '%s': path: empty", id);
		return cli_invalid(cli, &err);
	}
	if (cli_args_has(a, "into-server")) {
		json_t *body = json_pack("{s:s, s:s?}", "path", file, "volume", volume),
		       *answer = NULL;

		if (asprintf(&path, "/backups/%s/restore-file", id) < 0)
			return CLI_EXIT_FAILURE;
		r = cli_request(cli, "POST", path, body, &answer, &err);
		json_decref(body);
		if (r < 0)
			return fail_backup(cli, &err, id);
		if (cli->json)
			cli_print_json(cli, answer);
		else if (!cli->quiet)
			fprintf(cli->out, "'%s' restored into server '%s'\n", file,
				json_string_value(json_object_get(answer, "server")) ?: "-");
		json_decref(answer);
		return CLI_EXIT_OK;
	}
	if (asprintf(&p, "/backups/%s/file", id) < 0)
		return CLI_EXIT_FAILURE;
	path = with_query(p, (const char *const[]){"volume", volume, "path", file, NULL});
	if (!path)
		return CLI_EXIT_FAILURE;
	base = strrchr(file, '/');
	base = base ? base + 1 : file;
	if (!out)
		out = base;
	if (!*out || streq(out, ".") || streq(out, "..")) {
		carve_err_field(&err, -EINVAL, "output", "backup '%s': '%s': name the file with -o",
				id, file);
		return cli_invalid(cli, &err);
	}
	if (streq(out, "-"))
		fd = STDOUT_FILENO;
	else {
		/* never replace a file that is there already, never follow a symlink */
		fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			carve_err(&err, -errno, "output '%s': %m", out);
			return cli_fail(cli, &err);
		}
	}
	r = cli_download(cli, path, fd, &bytes, &err);
	if (fd != STDOUT_FILENO) {
		if (close(fd) < 0 && r >= 0)
			r = carve_err(&err, -errno, "output '%s': %m", out);
		if (r < 0)
			(void)unlink(out);
	}
	if (r < 0)
		return fail_backup(cli, &err, id);
	if (streq(out, "-"))
		return CLI_EXIT_OK;
	if (cli->json)
		cli_print_json(cli, json_pack("{s:s, s:s, s:s, s:I}", "backup", id, "path", file,
					      "output", out, "bytes", (json_int_t)bytes));
	else if (!cli->quiet)
		fprintf(cli->out, "'%s' of backup '%s' written to '%s' (%llu bytes)\n", file, id,
			out, (unsigned long long)bytes);
	return CLI_EXIT_OK;
}

static int run_verify(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *id = a->n_pos > 0 ? a->pos[0] : NULL;
	const char *store = cli_args_get(a, "store");
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int ex, r;

	if (id) {
		ex = check_backup_id(cli, id);
		if (ex != CLI_EXIT_OK)
			return ex;
		r = asprintf(&path, "/backups/%s/verify", id);
	} else {
		if (store && cli_check_name("backup store", store, &err) < 0)
			return cli_invalid(cli, &err);
		r = asprintf(&path, "/backup-stores/%s/verify", store ? store : "default");
	}
	if (r < 0)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "POST", path, NULL, &answer, &err) < 0)
		return id ? fail_backup(cli, &err, id) : cli_fail(cli, &err);
	ex = follow(cli, answer, cli_args_has(a, "no-wait"), id ? "backup" : "store",
		    id ? id : (store ? store : "default"));
	json_decref(answer);
	if (ex == CLI_EXIT_OK && !cli->quiet && !cli->json && !cli_args_has(a, "no-wait"))
		fprintf(cli->out, "%s%s%s verified: every chunk is good\n",
			id ? "backup '" : "store '", id ? id : (store ? store : "default"), "'");
	return ex;
}

static int parse_keep(struct cli *cli, const struct cli_args *a, json_t *body)
{
	static const char *const opts[] = {"keep-last",	  "keep-hourly",  "keep-daily",
					   "keep-weekly", "keep-monthly", "keep-yearly"};
	static const char *const keys[] = {"keep_last",	  "keep_hourly",  "keep_daily",
					   "keep_weekly", "keep_monthly", "keep_yearly"};

	for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
		struct carve_error err = CARVE_ERROR_INIT;
		const char *v = cli_args_get(a, opts[i]);
		uint64_t n;

		if (!v)
			continue;
		if (parse_uint64(v, 0, 100000, &n, &err) < 0) {
			carve_err_prefix(&err, "--%s", opts[i]);
			return cli_invalid(cli, &err);
		}
		json_object_set_new(body, keys[i], json_integer((json_int_t)n));
	}
	return CLI_EXIT_OK;
}

static int run_prune(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0];
	cleanup_free char *base = NULL, *path = NULL;
	json_t *body, *answer = NULL;
	bool dry = cli_args_has(a, "dry-run");
	int ex, r;

	if (cli_check_name("server", server, &err) < 0)
		return cli_invalid(cli, &err);
	body = json_pack("{s:s?, s:b}", "store", cli_args_get(a, "store"), "dry_run", dry);
	ex = parse_keep(cli, a, body);
	if (ex != CLI_EXIT_OK) {
		json_decref(body);
		return ex;
	}
	if (asprintf(&base, "/servers/%s/backups/prune", server) < 0 ||
	    !(path = cli_path_with_tenant(base, cli_args_get(a, "tenant")))) {
		json_decref(body);
		return CLI_EXIT_FAILURE;
	}
	r = cli_request(cli, "POST", path, body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "server", server);
	if (dry) {
		json_t *rm = json_object_get(answer, "remove"), *v;
		size_t i;
		if (cli->json)
			cli_print_json(cli, answer);
		else
			json_array_foreach (rm, i, v)
				fprintf(cli->out, "would remove %s\n", json_string_value(v));
		json_decref(answer);
		return CLI_EXIT_OK;
	}
	ex = follow(cli, answer, cli_args_has(a, "no-wait"), "server", server);
	json_decref(answer);
	if (ex == CLI_EXIT_OK && !cli->quiet && !cli->json && !cli_args_has(a, "no-wait"))
		fprintf(cli->out, "backups of server '%s' pruned\n", server);
	return ex;
}

static int run_gc(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *store = cli_args_get(a, "store");
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int ex;

	if (store && cli_check_name("backup store", store, &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&path, "/backup-stores/%s/gc", store ? store : "default") < 0)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "POST", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "backup store", store ? store : "default");
	ex = follow(cli, answer, cli_args_has(a, "no-wait"), "backup store",
		    store ? store : "default");
	json_decref(answer);
	if (ex == CLI_EXIT_OK && !cli->quiet && !cli->json && !cli_args_has(a, "no-wait"))
		fprintf(cli->out, "backup store '%s': garbage collected\n",
			store ? store : "default");
	return ex;
}

static int run_schedule(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *action = a->pos[0], *server = a->n_pos > 1 ? a->pos[1] : NULL;
	cleanup_free char *base = NULL, *path = NULL;
	json_t *answer = NULL, *body;
	int ex, r;

	if (!streq(action, "set") && !streq(action, "show") && !streq(action, "clear"))
		return cli_usage(cli, "schedule '%s': use set, show or clear", action);
	if (!server)
		return cli_usage(cli, "schedule %s: SERVER is missing", action);
	if (cli_check_name("server", server, &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&base, "/servers/%s/backup-schedule", server) < 0 ||
	    !(path = cli_path_with_tenant(base, cli_args_get(a, "tenant"))))
		return CLI_EXIT_FAILURE;
	if (streq(action, "show"))
		return cli_show(cli, path, NULL, schedule_fields, "server", server);
	if (streq(action, "clear")) {
		if (a->n_pos > 2)
			return cli_usage(cli, "schedule clear: unexpected '%s'", a->pos[2]);
		if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
			return cli_fail_object(cli, &err, "server", server);
		if (cli->json)
			cli_print_json(cli, answer);
		else if (!cli->quiet)
			fprintf(cli->out, "backup schedule of server '%s' cleared\n", server);
		json_decref(answer);
		return CLI_EXIT_OK;
	}
	if (a->n_pos < 3)
		return cli_usage(cli, "schedule set: EXPR is missing (e.g. '30 2 * * *', '@daily', "
				      "'@every 6h')");
	body = json_pack("{s:s, s:s?}", "schedule", a->pos[2], "store", cli_args_get(a, "store"));
	ex = parse_keep(cli, a, body);
	if (ex != CLI_EXIT_OK) {
		json_decref(body);
		return ex;
	}
	r = cli_request(cli, "PUT", path, body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "server", server);
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		cli_print_object(cli, answer, schedule_fields);
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_store(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *action = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *answer = NULL, *body;
	int r;

	if (streq(action, "list")) {
		if (a->n_pos > 1)
			return cli_usage(cli, "store list: unexpected '%s'", a->pos[1]);
		return cli_list(cli, "/backup-stores", "stores", store_columns);
	}
	if (streq(action, "add")) {
		if (a->n_pos != 3)
			return cli_usage(cli, "store add: want NAME PATH");
		if (cli_check_name("backup store", a->pos[1], &err) < 0)
			return cli_invalid(cli, &err);
		body = json_pack("{s:s, s:s, s:b}", "name", a->pos[1], "path", a->pos[2], "encrypt",
				 !cli_args_has(a, "no-encrypt"));
		r = cli_request(cli, "POST", "/backup-stores", body, &answer, &err);
		json_decref(body);
		if (r < 0)
			return cli_fail_object(cli, &err, "backup store", a->pos[1]);
		if (cli->json)
			cli_print_json(cli, answer);
		else if (!cli->quiet)
			fprintf(cli->out, "backup store '%s' added at '%s'\n", a->pos[1],
				json_string_value(json_object_get(answer, "path")) ?: a->pos[2]);
		json_decref(answer);
		return CLI_EXIT_OK;
	}
	if (streq(action, "remove")) {
		if (a->n_pos != 2)
			return cli_usage(cli, "store remove: want NAME");
		if (cli_check_name("backup store", a->pos[1], &err) < 0)
			return cli_invalid(cli, &err);
		if (asprintf(&path, "/backup-stores/%s", a->pos[1]) < 0)
			return CLI_EXIT_FAILURE;
		if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
			return cli_fail_object(cli, &err, "backup store", a->pos[1]);
		if (cli->json)
			cli_print_json(cli, answer);
		else if (!cli->quiet)
			fprintf(cli->out, "backup store '%s' removed (its files stay)\n",
				a->pos[1]);
		json_decref(answer);
		return CLI_EXIT_OK;
	}
	return cli_usage(cli, "store '%s': use list, add or remove", action);
}

#define TENANT_OPTION                                                   \
	{                                                               \
		"tenant", 't', "TENANT", "the server's tenant (admins)" \
	}
#define STORE_OPTION                                                     \
	{                                                                \
		"store", 's', "STORE", "backup store (default: default)" \
	}
#define NO_WAIT_OPTION                                                     \
	{                                                                  \
		"no-wait", 0, NULL, "print the task id and return at once" \
	}
#define KEEP_OPTIONS                                                             \
	{"keep-last", 0, "N", "keep the N newest"},                              \
		{"keep-hourly", 0, "N", "keep the newest of each of N hours"},   \
		{"keep-daily", 0, "N", "keep the newest of each of N days"},     \
		{"keep-weekly", 0, "N", "keep the newest of each of N weeks"},   \
		{"keep-monthly", 0, "N", "keep the newest of each of N months"}, \
	{                                                                        \
		"keep-yearly", 0, "N", "keep the newest of each of N years"      \
	}

static const struct cli_option list_options[] = {TENANT_OPTION, STORE_OPTION, {NULL}};
static const struct cli_option create_options[] = {
	TENANT_OPTION, STORE_OPTION, NO_WAIT_OPTION, {NULL}};
static const struct cli_option no_options[] = {{NULL}};
static const struct cli_option wait_options[] = {NO_WAIT_OPTION, {NULL}};
static const struct cli_option restore_options[] = {
	{"as", 0, "NAME", "restore as a new server NAME (default: in place, server stopped)"},
	NO_WAIT_OPTION,
	{NULL},
};
static const struct cli_option files_options[] = {
	{"volume", 'V', "VOLUME", "the volume: root (default) or a data volume's name"},
	{NULL},
};
static const struct cli_option restore_file_options[] = {
	{"volume", 'V', "VOLUME", "the volume: root (default) or a data volume's name"},
	{"output", 'o', "FILE", "where to write it ('-': stdout; default: its name, here)"},
	{"into-server", 0, NULL, "write it into the stopped server's volume at its path"},
	{NULL},
};
static const struct cli_option verify_options[] = {STORE_OPTION, NO_WAIT_OPTION, {NULL}};
static const struct cli_option prune_options[] = {
	TENANT_OPTION,	STORE_OPTION, KEEP_OPTIONS, {"dry-run", 'n', NULL, "only list"},
	NO_WAIT_OPTION, {NULL},
};
static const struct cli_option gc_options[] = {STORE_OPTION, NO_WAIT_OPTION, {NULL}};
static const struct cli_option schedule_options[] = {
	TENANT_OPTION, STORE_OPTION, KEEP_OPTIONS, {NULL}};
static const struct cli_option store_options[] = {
	{"no-encrypt", 0, NULL, "store: add: no per-tenant encryption (cross-tenant dedup)"},
	{NULL},
};

const struct cli_group cli_group_backup = {
	"backup",
	"back up whole servers, restore them or single files, verify, prune, gc",
	(const struct cli_verb[]){
		{"create", "SERVER [--store S] [--no-wait]",
		 "back up every volume and the configuration of a server (it may run)",
		 "A running container is frozen for a moment to take a consistent snapshot;\n"
		 "the next backup reads only what changed since.\n"
		 "Example:\n  carve backup create web1",
		 create_options, 1, 1, run_create},
		{"list", "[SERVER]", "list backups, oldest first",
		 "Example:\n  carve backup list web1 --json", list_options, 0, 1, run_list},
		{"show", "BACKUP", "show a backup, its statistics and last verify",
		 "Example:\n  carve backup show 20261123T010203Z-ab12cd34", no_options, 1, 1,
		 run_show},
		{"delete", "BACKUP", "delete a backup (its chunks go at the next gc)", NULL,
		 wait_options, 1, 1, run_delete},
		{"restore", "BACKUP [--as NEW-SERVER]",
		 "restore a stopped server in place, or as a new server of the same tenant",
		 "In place, each volume is replaced atomically; on failure the old one stays.\n"
		 "Example:\n  carve server stop web1 && carve backup restore ID\n"
		 "  carve backup restore ID --as web1-copy",
		 restore_options, 1, 1, run_restore},
		{"files", "BACKUP [PATH]", "list the files in a directory of a backed-up volume",
		 "Example:\n  carve backup files ID /etc", files_options, 1, 2, run_files},
		{"restore-file", "BACKUP PATH [-o FILE | --into-server]",
		 "fetch one file from a backup (or write it into the stopped server)",
		 "Example:\n  carve backup restore-file ID /etc/hosts -o hosts.old",
		 restore_file_options, 2, 2, run_restore_file},
		{"verify", "[BACKUP]", "re-hash every chunk of a backup (or a whole store: admins)",
		 "Bad chunks are reported by backup, volume and offset, and moved aside.\n"
		 "Example:\n  carve backup verify ID",
		 verify_options, 0, 1, run_verify},
		{"prune", "SERVER --keep-...",
		 "remove a server's backups the retention does not keep",
		 "Example:\n  carve backup prune web1 --keep-last 3 --keep-daily 7", prune_options,
		 1, 1, run_prune},
		{"gc", "[--store S]", "remove chunks no backup references (admins)", NULL,
		 gc_options, 0, 0, run_gc},
		{"schedule", "set|show|clear SERVER [EXPR]",
		 "back up a server on a schedule, with retention",
		 "EXPR: 'minute hour day-of-month month day-of-week' (UTC), @hourly, @daily,\n"
		 "@weekly, @monthly, @yearly or '@every 6h'.\n"
		 "Example:\n  carve backup schedule set web1 '30 2 * * *' --keep-daily 7 "
		 "--keep-weekly 4",
		 schedule_options, 2, 3, run_schedule},
		{"store", "list|add|remove [NAME] [PATH]",
		 "backup stores: the default one and extra ones (off-site; admins add them)",
		 "Example:\n  carve backup store add offsite /mnt/nas/carve-backups", store_options,
		 1, 3, run_store},
		{NULL},
	},
};

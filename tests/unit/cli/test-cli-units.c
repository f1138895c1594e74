/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's pure parts: option parsing, URL parsing, address resolution, the config file,
 * validation messages, tables, the progress bar and answer unwrapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "cli/cli.h"
#include "cli/output.h"

static const struct cli_option test_opts[] = {
	{"memory", 'm', "SIZE", ""},
	{"no-wait", 0, NULL, ""},
	{NULL},
};

static int parse(struct cli_args *a, int argc, char **argv, struct carve_error *err)
{
	const struct cli_option *tables[] = {cli_global_options, test_opts, NULL};

	*a = (struct cli_args){0};
	return cli_args_parse(a, argc, argv, tables, false, NULL, err);
}

static void test_args_mixed(void **state)
{
	char *argv[] = {"web1",	 "--memory", "1G",	 "--json", "-q", "--url=unix:///x.sock",
			"extra", "--",	     "--no-wait"};
	struct carve_error err = CARVE_ERROR_INIT;
	struct cli_args a;

	assert_int_equal(parse(&a, 9, argv, &err), 0);
	assert_int_equal(a.n_pos, 3);
	assert_string_equal(a.pos[0], "web1");
	assert_string_equal(a.pos[1], "extra");
	assert_string_equal(a.pos[2], "--no-wait"); /* after "--" everything is positional */
	assert_string_equal(cli_args_get(&a, "memory"), "1G");
	assert_string_equal(cli_args_get(&a, "json"), "");
	assert_true(cli_args_has(&a, "quiet"));
	assert_string_equal(cli_args_get(&a, "url"), "unix:///x.sock");
	assert_false(cli_args_has(&a, "no-wait"));
}

static void test_args_short_and_last_wins(void **state)
{
	char *argv[] = {"-m512M", "-m", "2G", "--memory=3G"};
	struct carve_error err = CARVE_ERROR_INIT;
	struct cli_args a;

	assert_int_equal(parse(&a, 4, argv, &err), 0);
	assert_string_equal(cli_args_get(&a, "memory"), "3G");
	assert_int_equal(a.n_opts, 3);
	assert_string_equal(a.opt_values[0], "512M");
}

static void test_args_errors(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct cli_args a;
	char *unknown[] = {"--bogus"}, *novalue[] = {"--memory"}, *flagvalue[] = {"--json=yes"},
	     *shortunknown[] = {"-Z"};

	assert_int_equal(parse(&a, 1, unknown, &err), -EINVAL);
	assert_string_equal(err.msg, "unknown option '--bogus'");
	carve_err_clear(&err);
	assert_int_equal(parse(&a, 1, novalue, &err), -EINVAL);
	assert_string_equal(err.msg, "option '--memory' needs a value (SIZE)");
	carve_err_clear(&err);
	assert_int_equal(parse(&a, 1, flagvalue, &err), -EINVAL);
	assert_string_equal(err.msg, "option '--json' takes no value");
	carve_err_clear(&err);
	assert_int_equal(parse(&a, 1, shortunknown, &err), -EINVAL);
	assert_string_equal(err.msg, "unknown option '-Z'");
}

static void test_args_stop_at_positional(void **state)
{
	const struct cli_option *tables[] = {cli_global_options, NULL};
	char *argv[] = {"--json", "server", "--memory", "1G"};
	struct carve_error err = CARVE_ERROR_INIT;
	struct cli_args a = {0};
	int next = -1;

	assert_int_equal(cli_args_parse(&a, 4, argv, tables, true, &next, &err), 0);
	assert_int_equal(next, 1);
	assert_int_equal(a.n_pos, 0);
	assert_true(cli_args_has(&a, "json"));
}

static void test_url_parse(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *sock = NULL, *base = NULL, *sock2 = NULL, *base2 = NULL;

	assert_int_equal(cli_url_parse("unix:///run/carve/carved.sock", &sock, &base, &err), 0);
	assert_string_equal(sock, "/run/carve/carved.sock");
	assert_string_equal(base, "http://localhost");
	assert_int_equal(cli_url_parse("http://10.0.0.1:8443//", &sock2, &base2, &err), 0);
	assert_null(sock2);
	assert_string_equal(base2, "http://10.0.0.1:8443");
	assert_int_equal(cli_url_parse("https://carve.example", NULL, NULL, &err), 0);

	assert_int_equal(cli_url_parse("unix://relative.sock", NULL, NULL, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "url 'unix://relative.sock': use unix:///absolute/path/carved.sock");
	carve_err_clear(&err);
	assert_int_equal(cli_url_parse("ftp://x", NULL, NULL, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "url 'ftp://x': use unix:///path/carved.sock or http://host:port");
	carve_err_clear(&err);
	assert_int_equal(cli_url_parse("http://", NULL, NULL, &err), -EINVAL);
	carve_err_clear(&err);
	assert_int_equal(cli_url_parse("", NULL, NULL, &err), -EINVAL);
}

/* A scratch $HOME and run dir per test; the environment variables are reset each time. */
struct env {
	char dir[64];
	char cfg[128];
	char run[128];
};

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char path[256];

	snprintf(e->dir, sizeof(e->dir), "/tmp/carve-cli-test-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->cfg, sizeof(e->cfg), "%s/xdg/carve/config.json", e->dir);
	snprintf(e->run, sizeof(e->run), "%s/run", e->dir);
	assert_int_equal(mkdir(e->run, 0700), 0);
	snprintf(path, sizeof(path), "%s/xdg", e->dir);
	setenv("XDG_CONFIG_HOME", path, 1);
	setenv("HOME", e->dir, 1);
	setenv("CARVE_RUN_DIR", e->run, 1);
	unsetenv("CARVE_URL");
	unsetenv("CARVE_TOKEN");
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	assert_int_equal(rm_rf(e->dir), 0);
	free(e);
	return 0;
}

static void make_socket_file(const struct env *e)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/carved.sock", e->run);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void test_config_written_0600(void **state)
{
	struct env *e = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct cli_config c = {0};
	cleanup_free char *path = NULL;
	char dir[256];
	struct stat st;
	mode_t old = umask(0);

	assert_int_equal(cli_config_path(&path), 0);
	assert_string_equal(path, e->cfg);
	assert_int_equal(cli_config_save(path, "http://h:1", "sec", "alice", &err), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(dir, sizeof(dir), "%s/xdg/carve", e->dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	assert_int_equal(cli_config_load(path, &c, &err), 0);
	assert_string_equal(c.url, "http://h:1");
	assert_string_equal(c.token, "sec");
	assert_string_equal(c.user, "alice");
	cli_config_release(&c);

	/* Overwriting keeps 0600 and drops what is not given. */
	assert_int_equal(cli_config_save(path, "http://h:1", NULL, NULL, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(cli_config_load(path, &c, &err), 0);
	assert_null(c.token);
	cli_config_release(&c);
}

static void test_config_path_home_fallback(void **state)
{
	struct env *e = *state;
	cleanup_free char *path = NULL;
	char want[256];

	unsetenv("XDG_CONFIG_HOME");
	assert_int_equal(cli_config_path(&path), 0);
	snprintf(want, sizeof(want), "%s/.config/carve/config.json", e->dir);
	assert_string_equal(path, want);
}

static void test_config_missing_and_bad(void **state)
{
	struct env *e = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct cli_config c = {0};
	char dir[256];

	assert_int_equal(cli_config_load(e->cfg, &c, &err), 0);
	assert_null(c.url);
	snprintf(dir, sizeof(dir), "%s/xdg/carve", e->dir);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	assert_int_equal(write_file_atomic(e->cfg, "[1]", 3, 0600), 0);
	assert_int_equal(cli_config_load(e->cfg, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a JSON object"));
}

static void test_resolve_order(void **state)
{
	struct env *e = *state;
	struct carve_error err = CARVE_ERROR_INIT;
	struct cli_config c = {0};
	char want[256];

	/* Nothing anywhere: no address for a user; root without a socket neither. */
	assert_int_equal(cli_config_resolve(NULL, NULL, 1000, &c, &err), 0);
	assert_null(c.url);
	assert_int_equal(c.url_source, CLI_SOURCE_NONE);
	cli_config_release(&c);
	assert_int_equal(cli_config_resolve(NULL, NULL, 0, &c, &err), 0);
	assert_null(c.url);
	cli_config_release(&c);

	/* The socket exists: root uses it, others do not. */
	make_socket_file(e);
	assert_int_equal(cli_config_resolve(NULL, NULL, 0, &c, &err), 0);
	snprintf(want, sizeof(want), "unix://%s/carved.sock", e->run);
	assert_string_equal(c.url, want);
	assert_int_equal(c.url_source, CLI_SOURCE_SOCKET);
	assert_null(c.token);
	cli_config_release(&c);
	assert_int_equal(cli_config_resolve(NULL, NULL, 1000, &c, &err), 0);
	assert_null(c.url);
	cli_config_release(&c);

	/* The config file beats the socket, and its secret goes with its address. */
	assert_int_equal(cli_config_save(e->cfg, "http://cfg:1", "cfgsecret", "alice", &err), 0);
	assert_int_equal(cli_config_resolve(NULL, NULL, 0, &c, &err), 0);
	assert_string_equal(c.url, "http://cfg:1");
	assert_int_equal(c.url_source, CLI_SOURCE_CONFIG);
	assert_string_equal(c.token, "cfgsecret");
	assert_int_equal(c.token_source, CLI_SOURCE_CONFIG);
	assert_string_equal(c.user, "alice");
	cli_config_release(&c);

	/* The environment beats the config; the config's secret is not sent elsewhere. */
	setenv("CARVE_URL", "http://env:2", 1);
	assert_int_equal(cli_config_resolve(NULL, NULL, 0, &c, &err), 0);
	assert_string_equal(c.url, "http://env:2");
	assert_int_equal(c.url_source, CLI_SOURCE_ENV);
	assert_null(c.token);
	cli_config_release(&c);
	setenv("CARVE_TOKEN", "envsecret", 1);
	assert_int_equal(cli_config_resolve(NULL, NULL, 0, &c, &err), 0);
	assert_string_equal(c.token, "envsecret");
	assert_int_equal(c.token_source, CLI_SOURCE_ENV);
	cli_config_release(&c);

	/* Flags beat everything. */
	assert_int_equal(cli_config_resolve("http://flag:3", "flagsecret", 0, &c, &err), 0);
	assert_string_equal(c.url, "http://flag:3");
	assert_int_equal(c.url_source, CLI_SOURCE_FLAG);
	assert_string_equal(c.token, "flagsecret");
	assert_int_equal(c.token_source, CLI_SOURCE_FLAG);
	cli_config_release(&c);

	/* A flag naming the config's own address still gets the saved secret. */
	unsetenv("CARVE_TOKEN");
	assert_int_equal(cli_config_resolve("http://cfg:1", NULL, 0, &c, &err), 0);
	assert_string_equal(c.token, "cfgsecret");
	cli_config_release(&c);
}

static void test_validation_messages(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	uint64_t v = 0;

	assert_int_equal(cli_parse_memory("server", "web1", "12X", &v, &err), -EINVAL);
	assert_string_equal(err.msg, "server 'web1': memory '12X': not a size (use e.g. 512M, 2G)");
	assert_string_equal(err.field, "memory");
	carve_err_clear(&err);
	assert_int_equal(cli_parse_memory("server", "web1", "1.5G", &v, &err), 0);
	assert_int_equal(v, 1536ULL << 20);

	assert_int_equal(cli_parse_vcpus("server", "web1", "0", &v, &err), -ERANGE);
	assert_string_equal(err.msg, "server 'web1': vcpus '0': out of range 1..256");
	carve_err_clear(&err);
	assert_int_equal(cli_parse_vcpus("server", "web1", "257", &v, &err), -ERANGE);
	carve_err_clear(&err);
	assert_int_equal(cli_parse_vcpus("server", "web1", "two", &v, &err), -EINVAL);
	assert_string_equal(err.msg, "server 'web1': vcpus 'two': not a number");
	carve_err_clear(&err);
	assert_int_equal(cli_parse_vcpus("server", "web1", "256", &v, &err), 0);
	assert_int_equal(v, 256);

	assert_int_equal(cli_check_name("server", "Web1", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "server name 'Web1'"));
	carve_err_clear(&err);

	assert_int_equal(cli_check_role("root", &err), -EINVAL);
	assert_string_equal(err.msg, "role 'root': use admin, owner, operator or viewer");
	carve_err_clear(&err);
	assert_int_equal(cli_check_role("viewer", &err), 0);
}

static void test_duration(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	uint64_t s = 0;

	assert_int_equal(cli_parse_duration("30d", &s, &err), 0);
	assert_int_equal(s, 30 * 86400);
	assert_int_equal(cli_parse_duration("90m", &s, &err), 0);
	assert_int_equal(s, 5400);
	assert_int_equal(cli_parse_duration("3600", &s, &err), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(cli_parse_duration("2w", &s, &err), 0);
	assert_int_equal(s, 14 * 86400);
	assert_int_equal(cli_parse_duration("30x", &s, &err), -EINVAL);
	assert_string_equal(err.msg, "'30x': not a duration (use e.g. 3600s, 90m, 12h, 30d, 2w)");
	carve_err_clear(&err);
	assert_int_equal(cli_parse_duration("d", &s, &err), -EINVAL);
	carve_err_clear(&err);
	assert_int_equal(cli_parse_duration("0s", &s, &err), -EINVAL);
	carve_err_clear(&err);
	assert_int_equal(cli_parse_duration("99999999999999w", &s, &err), -ERANGE);
}

static char *print_table(struct table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(table_print(t, f), 0);
	fclose(f);
	return buf;
}

static void test_table(void **state)
{
	const char *headers[] = {"NAME", "STATE", "MEMORY", NULL};
	const char *r1[] = {"web1", "running", "512M"}, *r2[] = {"database-01", NULL, "2G"},
		   *r3[] = {"x\x1b[2J", "stopped", "1G"};
	struct table *t = table_new(headers);
	cleanup_free char *out = NULL;

	assert_non_null(t);
	assert_int_equal(table_add_row(t, r1), 0);
	assert_int_equal(table_add_row(t, r2), 0);
	assert_int_equal(table_add_row(t, r3), 0);
	assert_int_equal(table_rows(t), 3);
	out = print_table(t);
	assert_string_equal(out, "NAME         STATE    MEMORY\n"
				 "web1         running  512M\n"
				 "database-01  -        2G\n"
				 "x?[2J        stopped  1G\n");
	table_free(t);
}

static void test_table_utf8_width(void **state)
{
	const char *headers[] = {"A", "B", NULL};
	const char *r1[] = {"\xc3\xa9t\xc3\xa9", "x"}; /* "été": 3 characters, 5 bytes */
	struct table *t = table_new(headers);
	cleanup_free char *out = NULL;

	assert_int_equal(table_add_row(t, r1), 0);
	out = print_table(t);
	assert_string_equal(out, "A    B\n\xc3\xa9t\xc3\xa9  x\n");
	table_free(t);
}

static void test_progress(void **state)
{
	char buf[128];

	assert_string_equal(progress_format(12897484, 25794968, "bytes", 10, buf, sizeof(buf)),
			    "[#####     ] 50% 12.3M/24.6M");
	assert_string_equal(progress_format(1, 5, "steps", 10, buf, sizeof(buf)),
			    "[##        ] 20% 1/5 steps");
	assert_string_equal(progress_format(9, 3, "steps", 4, buf, sizeof(buf)),
			    "[####] 100% 3/3 steps");
	assert_string_equal(progress_format(2048, 0, "bytes", 10, buf, sizeof(buf)), "2K");
	assert_string_equal(progress_format(0, 10, NULL, 5, buf, sizeof(buf)), "[     ] 0% 0/10");
}

static void test_json_cell_and_unwrap(void **state)
{
	json_t *s = json_pack("{s:s, s:I, s:n, s:{s:s}}", "name", "web1", "memory",
			      (json_int_t)(512 << 20), "state_reason", "error", "message", "boom");
	json_t *wrapped = json_pack("{s:O}", "server", s);
	json_t *list = json_pack("{s:[O]}", "servers", s);
	json_t *other = json_pack("{s:[O], s:i}", "items", s, "count", 1);
	json_t *two = json_pack("{s:[], s:[]}", "a", "b");
	char buf[64];

	assert_string_equal(json_cell(s, "name", false, buf, sizeof(buf)), "web1");
	assert_string_equal(json_cell(s, "memory", true, buf, sizeof(buf)), "512M");
	assert_string_equal(json_cell(s, "memory", false, buf, sizeof(buf)), "536870912");
	assert_string_equal(json_cell(s, "state_reason", false, buf, sizeof(buf)), "-");
	assert_string_equal(json_cell(s, "missing", false, buf, sizeof(buf)), "-");
	assert_string_equal(json_cell(s, "error.message", false, buf, sizeof(buf)), "boom");

	assert_ptr_equal(cli_unwrap(wrapped, "server"), s);
	assert_ptr_equal(cli_unwrap(s, "server"), s);
	assert_ptr_equal(json_array_get(cli_unwrap_list(list, "servers"), 0), s);
	assert_ptr_equal(json_array_get(cli_unwrap_list(other, "servers"), 0), s);
	assert_null(cli_unwrap_list(two, "servers"));
	assert_null(cli_unwrap_list(s, "servers"));
	json_decref(s);
	json_decref(wrapped);
	json_decref(list);
	json_decref(other);
	json_decref(two);
}

static void test_path_with_tenant(void **state)
{
	cleanup_free char *a = cli_path_with_tenant("/servers", "acme");
	cleanup_free char *b = cli_path_with_tenant("/tasks?limit=3", "a b&c");
	cleanup_free char *c = cli_path_with_tenant("/servers", NULL);

	assert_string_equal(a, "/servers?tenant=acme");
	assert_string_equal(b, "/tasks?limit=3&tenant=a%20b%26c");
	assert_string_equal(c, "/servers");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_mixed),
		cmocka_unit_test(test_args_short_and_last_wins),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_stop_at_positional),
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test_setup_teardown(test_config_written_0600, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_config_path_home_fallback, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_config_missing_and_bad, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_resolve_order, env_setup, env_teardown),
		cmocka_unit_test(test_validation_messages),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_utf8_width),
		cmocka_unit_test(test_progress),
		cmocka_unit_test(test_json_cell_and_unwrap),
		cmocka_unit_test(test_path_with_tenant),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The carve binary as a user runs it, against fake-carved.py (a stand-in speaking the REST
 * contract on a unix socket in a scratch directory): exit codes, --json output, error messages,
 * what is sent, the config file. One fake serves the group and is reset (SIGUSR1) before each
 * test; the group teardown kills it, it also dies with this process (PR_SET_PDEATHSIG), and it
 * exits by itself after 300 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"

struct fake {
	char dir[64];
	char sock[128];
	char url[160];
	char log[128];
	char cfg[160];
	pid_t pid;
	char *out, *err; /* of the last run */
};

static bool socket_ready(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	return fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

static int group_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	const char *script = getenv("FAKE_CARVED");
	char path[256];
	pid_t parent = getpid();

	assert_non_null(f);
	assert_non_null(script);
	snprintf(f->dir, sizeof(f->dir), "/tmp/carve-cli-exec-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/carved.sock", f->dir);
	snprintf(f->url, sizeof(f->url), "unix://%s", f->sock);
	snprintf(f->log, sizeof(f->log), "%s/requests.log", f->dir);
	snprintf(f->cfg, sizeof(f->cfg), "%s/xdg/carve/config.json", f->dir);
	/* The CLI must find nothing but what a test gives it (see fake_setup). */
	snprintf(path, sizeof(path), "%s/run", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);

	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		execlp("python3", "python3", script, f->sock, f->log, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 3000 && !socket_ready(f->sock); i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		int status;

		assert_int_equal(waitpid(f->pid, &status, WNOHANG), 0); /* the fake died */
		nanosleep(&ts, NULL);
	}
	assert_true(socket_ready(f->sock));
	*state = f;
	return 0;
}

/* Before each test: the fake back to its initial state, no config file, a clean environment. */
static int fake_setup(void **state)
{
	struct fake *f = *state;
	char path[256], ready[192];

	snprintf(path, sizeof(path), "%s/run", f->dir);
	setenv("CARVE_RUN_DIR", path, 1);
	setenv("HOME", f->dir, 1);
	snprintf(path, sizeof(path), "%s/xdg", f->dir);
	setenv("XDG_CONFIG_HOME", path, 1);
	unsetenv("CARVE_URL");
	unsetenv("CARVE_TOKEN");
	rm_rf(path);

	snprintf(ready, sizeof(ready), "%s.ready", f->sock);
	(void)unlink(ready);
	assert_int_equal(kill(f->pid, SIGUSR1), 0);
	for (int i = 0; i < 5000 && access(ready, F_OK) < 0; i++) {
		struct timespec ts = {0, 2 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(access(ready, F_OK), 0);
	return 0;
}

static int group_teardown(void **state)
{
	struct fake *f = *state;

	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	free(f->out);
	free(f->err);
	assert_int_equal(rm_rf(f->dir), 0);
	free(f);
	return 0;
}

/* Run carve with the NULL-terminated arguments; stdin from in (or /dev/null). Returns the exit
 * code; stdout and stderr land in f->out and f->err. */
static int run_carve(struct fake *f, const char *in, ...)
{
	const char *bin = getenv("CARVE_BIN");
	char out_path[192], err_path[192], in_path[192];
	char *argv[32] = {"carve"};
	int argc = 1, status;
	va_list ap;
	pid_t pid;

	assert_non_null(bin);
	va_start(ap, in);
	for (char *a; (a = va_arg(ap, char *)) && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(out_path, sizeof(out_path), "%s/stdout", f->dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", f->dir);
	snprintf(in_path, sizeof(in_path), "%s/stdin", f->dir);
	assert_int_equal(write_file_atomic(in_path, in ? in : "", in ? strlen(in) : 0, 0600), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int i = open(in_path, O_RDONLY | O_CLOEXEC);
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (i < 0 || o < 0 || e < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		/* No controlling terminal: password prompts must not wait for one. */
		setsid();
		execv(bin, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	free(f->out);
	free(f->err);
	f->out = f->err = NULL;
	assert_int_equal(read_full_file(out_path, 1 << 20, &f->out, NULL), 0);
	assert_int_equal(read_full_file(err_path, 1 << 20, &f->err, NULL), 0);
	return WEXITSTATUS(status);
}

/* The requests the fake saw, as a JSON array. */
static json_t *requests(struct fake *f)
{
	cleanup_free char *data = NULL;
	json_t *all = json_array();
	char *save = NULL;

	if (read_full_file(f->log, 1 << 20, &data, NULL) < 0)
		return all;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_array_append_new(all, json_loads(line, 0, NULL));
	return all;
}

static size_t count_requests(struct fake *f, const char *method, const char *path_prefix)
{
	json_t *all = requests(f), *r;
	size_t i, n = 0;

	json_array_foreach (all, i, r) {
		const char *m = json_string_value(json_object_get(r, "method"));
		const char *p = json_string_value(json_object_get(r, "path"));

		if (m && p && strcmp(m, method) == 0 &&
		    strncmp(p, path_prefix, strlen(path_prefix)) == 0)
			n++;
	}
	json_decref(all);
	return n;
}

static void test_list_json_shape(void **state)
{
	struct fake *f = *state;
	json_t *j, *servers;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "list", "--json", NULL), 0);
	assert_string_equal(f->err, "");
	j = json_loads(f->out, 0, NULL);
	assert_non_null(j);
	servers = json_object_get(j, "servers");
	assert_true(json_is_array(servers));
	assert_int_equal(json_array_size(servers), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(servers, 0), "name")),
			    "web0");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(servers, 0), "memory")),
			 512 << 20);
	json_decref(j);
	/* Pretty, indent 2. */
	assert_non_null(strstr(f->out, "{\n  \"servers\": [\n    {\n      \"id\""));
	j = requests(f);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "path")),
			    "/api/v1/servers");
	json_decref(j);
}

static void test_global_flags_anywhere(void **state)
{
	struct fake *f = *state;

	assert_int_equal(run_carve(f, NULL, "--json", "server", "list", "--url", f->url, NULL), 0);
	assert_true(f->out[0] == '{');
	assert_int_equal(run_carve(f, NULL, "server", "--json", "list", "--url", f->url, NULL), 0);
	assert_true(f->out[0] == '{');
	setenv("CARVE_URL", f->url, 1);
	assert_int_equal(run_carve(f, NULL, "server", "list", "-q", NULL), 0);
	unsetenv("CARVE_URL");
	assert_true(f->out[0] == 'N');
}

static void test_table_output(void **state)
{
	struct fake *f = *state;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "list", NULL), 0);
	assert_string_equal(f->out,
			    "NAME  TENANT  KIND       STATE    VCPUS  MEMORY  DISK  TEMPLATE\n"
			    "web0  acme    container  running  1      512M    2G    debian\n");
	/* A bare array answer works too; control characters from the server are neutralized. */
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "tenant", "list", NULL), 0);
	assert_non_null(strstr(f->out, "acme  100000  2026-01-01T00:00:00Z  ACME?[31m Corp\n"));
	assert_null(strchr(f->out, '\x1b'));
}

static void test_show_human(void **state)
{
	struct fake *f = *state;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "show", "web0", NULL), 0);
	assert_non_null(strstr(f->out, "name:          web0\n"));
	assert_non_null(strstr(f->out, "memory:        512M\n"));
	assert_non_null(strstr(f->out, "state_reason:  -\n"));
	assert_non_null(strstr(f->out, "pool:          default\n"));
	assert_non_null(strstr(f->out, "disk:          2G\n"));
	assert_non_null(strstr(f->out, "disk_used:     300M\n"));
}

static void test_api_errors(void **state)
{
	struct fake *f = *state;

	/* The API's message lacks the object: the CLI names it. */
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "show", "nope", NULL), 1);
	assert_string_equal(f->err, "carve: server 'nope': no such server\n");
	assert_string_equal(f->out, "");
	/* It names it already: not twice. */
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "start", "web0", NULL), 1);
	assert_string_equal(f->err, "carve: server 'web0' is running\n");
}

static void test_create_waits_and_sends_bytes(void **state)
{
	struct fake *f = *state;
	json_t *all, *r, *body = NULL;
	size_t i;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "create", "web1",
				   "--template", "debian", "--memory", "1G", "--vcpus", "2", NULL),
			 0);
	assert_string_equal(f->out, "server 'web1' created (state: stopped)\n");
	assert_string_equal(f->err, ""); /* no terminal: no progress bar */
	all = requests(f);
	json_array_foreach (all, i, r)
		if (strcmp(json_string_value(json_object_get(r, "method")), "POST") == 0)
			body = json_object_get(r, "body");
	assert_non_null(body);
	assert_true(json_is_integer(json_object_get(body, "memory")));
	assert_int_equal(json_integer_value(json_object_get(body, "memory")), 1073741824);
	assert_int_equal(json_integer_value(json_object_get(body, "vcpus")), 2);
	assert_string_equal(json_string_value(json_object_get(body, "template")), "debian");
	json_decref(all);
	/* The fake finishes a task on its third poll. */
	assert_int_equal(count_requests(f, "GET", "/api/v1/tasks/"), 3);

	/* With --json the final server object. */
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "--json", "server", "stop", "web0", NULL), 0);
	assert_non_null(strstr(f->out, "\"state\": \"stopped\""));
}

static void test_task_failure(void **state)
{
	struct fake *f = *state;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "create", "web2",
				   "--template", "broken", NULL),
			 1);
	assert_string_equal(f->err, "carve: server 'web2': template 'broken': image missing\n");
}

static void test_no_wait(void **state)
{
	struct fake *f = *state;
	json_t *j;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "create", "web3",
				   "--template", "debian", "--no-wait", NULL),
			 0);
	assert_int_equal(strlen(f->out), 33);
	assert_int_equal(strspn(f->out, "0123456789abcdef"), 32);
	assert_int_equal(count_requests(f, "GET", "/api/v1/tasks/"), 0);

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "start", "web3", "--no-wait",
				   "--json", NULL),
			 0);
	j = json_loads(f->out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "server.start");
	assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
	json_decref(j);

	/* task wait follows it afterwards. */
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "task", "wait",
				   "00000000000000000000000000abc002", NULL),
			 0);
	assert_string_equal(f->out, "task '00000000000000000000000000abc002' succeeded\n");
}

static void test_validation_sends_nothing(void **state)
{
	struct fake *f = *state;
	struct stat st;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "create", "web1",
				   "--template", "debian", "--memory", "12X", NULL),
			 64);
	assert_string_equal(f->err,
			    "carve: server 'web1': memory '12X': not a size (use e.g. 512M, 2G)\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "create", "web1",
				   "--template", "debian", "--vcpus", "300", NULL),
			 64);
	assert_string_equal(f->err, "carve: server 'web1': vcpus '300': out of range 1..256\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "show", "Bad_Name", NULL),
			 64);
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "token", "create", "ci", "--expires",
				   "soon", NULL),
			 64);
	assert_string_equal(f->err, "carve: token 'ci': expires: 'soon': not a duration (use e.g. "
				    "3600s, 90m, 12h, 30d, 2w)\n");
	assert_true(stat(f->log, &st) < 0 || st.st_size == 0);
}

static void test_unreachable(void **state)
{
	struct fake *f = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	char url[256], want[320];
	int fd;

	snprintf(url, sizeof(url), "unix://%s/none.sock", f->dir);
	assert_int_equal(run_carve(f, NULL, "--url", url, "server", "list", NULL), 2);
	snprintf(want, sizeof(want),
		 "carve: cannot reach carved at %s: No such file or directory\n", url);
	assert_string_equal(f->err, want);

	/* A TCP port nobody listens on: bind one, note it, close it. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sa.sin_port));
	assert_int_equal(run_carve(f, NULL, "--url", url, "tenant", "list", NULL), 2);
	snprintf(want, sizeof(want), "carve: cannot reach carved at %s: ", url);
	assert_int_equal(strncmp(f->err, want, strlen(want)), 0);

	/* No address at all. */
	assert_int_equal(run_carve(f, NULL, "whoami", NULL), 2);
	assert_non_null(strstr(f->err, "cannot reach carved: no address"));
}

static void test_usage(void **state)
{
	struct fake *f = *state;

	assert_int_equal(run_carve(f, NULL, "server", "create", NULL), 64);
	assert_non_null(strstr(f->err, "missing argument"));
	assert_non_null(strstr(f->err, "Try 'carve server create --help'.\n"));
	assert_int_equal(run_carve(f, NULL, "frobnicate", NULL), 64);
	assert_string_equal(f->err, "carve: unknown command 'frobnicate'\nTry 'carve --help'.\n");
	assert_int_equal(run_carve(f, NULL, "server", "list", "--bogus", NULL), 64);
	assert_int_equal(run_carve(f, NULL, "server", "show", "a", "b", NULL), 64);
	assert_int_equal(run_carve(f, NULL, "server", NULL), 64);
	assert_int_equal(run_carve(f, NULL, NULL), 64);
	assert_int_equal(run_carve(f, NULL, "--url", "ftp://x", "server", "list", NULL), 64);
	assert_int_equal(run_carve(f, NULL, "server", "create", "w", "--template", "t", NULL), 2);

	assert_int_equal(run_carve(f, NULL, "--help", NULL), 0);
	assert_non_null(strstr(f->out, "server "));
	assert_int_equal(run_carve(f, NULL, "server", "--help", NULL), 0);
	assert_non_null(strstr(f->out, "  restart NAME"));
	assert_int_equal(run_carve(f, NULL, "server", "create", "--help", NULL), 0);
	assert_non_null(strstr(f->out, "Example:\n  carve server create web1"));
	assert_int_equal(run_carve(f, NULL, "help", "token", "create", NULL), 0);
	assert_non_null(strstr(f->out, "--expires DURATION"));
	assert_int_equal(run_carve(f, NULL, "--version", NULL), 0);
	assert_int_equal(strncmp(f->out, "carve ", 6), 0);
}

static void test_login_whoami_logout(void **state)
{
	struct fake *f = *state;
	json_t *cfg, *all, *last;
	struct stat st;

	assert_int_equal(run_carve(f, "wrong\n", "login", "--url", f->url, "--user", "alice",
				   "--password-stdin", NULL),
			 1);
	assert_string_equal(f->err, "carve: wrong user name or password\n");
	assert_true(stat(f->cfg, &st) < 0);
	/* No terminal and no --password-stdin: a usage error, not a hang. */
	assert_int_equal(run_carve(f, NULL, "login", "--url", f->url, "--user", "alice", NULL), 64);

	assert_int_equal(run_carve(f, "pw\n", "login", "--url", f->url, "--user", "alice",
				   "--password-stdin", NULL),
			 0);
	assert_int_equal(stat(f->cfg, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	cfg = json_load_file(f->cfg, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(cfg, "url")), f->url);
	assert_string_equal(json_string_value(json_object_get(cfg, "secret")), "s3cret");
	assert_string_equal(json_string_value(json_object_get(cfg, "user")), "alice");
	json_decref(cfg);
	assert_null(strstr(f->out, "s3cret"));

	/* Address and secret now come from the config file. */
	assert_int_equal(run_carve(f, NULL, "whoami", "--json", NULL), 0);
	assert_non_null(strstr(f->out, "\"name\": \"alice\""));
	all = requests(f);
	last = json_array_get(all, json_array_size(all) - 1);
	assert_string_equal(json_string_value(json_object_get(last, "auth")), "Bearer s3cret");
	json_decref(all);

	/* --token wins over the saved secret. */
	assert_int_equal(run_carve(f, NULL, "--token", "other", "whoami", NULL), 1);
	assert_string_equal(f->err, "carve: bad credentials\n");

	assert_int_equal(run_carve(f, NULL, "logout", NULL), 0);
	assert_int_equal(count_requests(f, "POST", "/api/v1/logout"), 1);
	cfg = json_load_file(f->cfg, 0, NULL);
	assert_null(json_object_get(cfg, "secret"));
	assert_string_equal(json_string_value(json_object_get(cfg, "url")), f->url);
	json_decref(cfg);

	/* Without a secret on the socket the fake answers as root would get it. */
	assert_int_equal(run_carve(f, NULL, "whoami", NULL), 0);
	assert_non_null(strstr(f->out, "via:    unix\n"));
}

/* The body of the last request with this method and path prefix (new reference), or NULL. */
static json_t *last_body(struct fake *f, const char *method, const char *path_prefix)
{
	json_t *all = requests(f), *r, *body = NULL;
	size_t i;

	json_array_foreach (all, i, r) {
		const char *m = json_string_value(json_object_get(r, "method"));
		const char *p = json_string_value(json_object_get(r, "path"));

		if (m && p && strcmp(m, method) == 0 &&
		    strncmp(p, path_prefix, strlen(path_prefix)) == 0) {
			json_decref(body);
			body = json_incref(json_object_get(r, "body"));
		}
	}
	json_decref(all);
	return body;
}

static void test_server_disk_and_pool(void **state)
{
	struct fake *f = *state;
	json_t *body;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "create", "web1",
				   "--template", "debian", "--disk", "300M", "--pool", "fast",
				   NULL),
			 0);
	body = last_body(f, "POST", "/api/v1/servers");
	assert_non_null(body);
	assert_true(json_is_integer(json_object_get(body, "disk")));
	assert_int_equal(json_integer_value(json_object_get(body, "disk")), 300 << 20);
	assert_string_equal(json_string_value(json_object_get(body, "pool")), "fast");
	json_decref(body);

	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "server", "set", "web0", "--disk", "4G", NULL),
		0);
	body = last_body(f, "PATCH", "/api/v1/servers/web0");
	assert_non_null(body);
	assert_int_equal(json_integer_value(json_object_get(body, "disk")), 4LL << 30);
	assert_null(json_object_get(body, "memory"));
	json_decref(body);

	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "server", "set", "web0", "--disk", "4Q", NULL),
		64);
	assert_string_equal(f->err,
			    "carve: server 'web0': disk '4Q': not a size (use e.g. 512M, 2G)\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "create", "web2",
				   "--template", "debian", "--pool", "Fast", NULL),
			 64);
	assert_non_null(strstr(f->err, "carve: server 'web2': pool name 'Fast'"));
	assert_int_equal(count_requests(f, "PATCH", "/api/v1/servers/web0"), 1);
}

static void test_snapshots(void **state)
{
	struct fake *f = *state;
	size_t sent;
	json_t *j;

	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "snapshot", "create", "web0", "s1", NULL), 0);
	assert_string_equal(f->out, "snapshot 's1' of server 'web0' created (size 300M)\n");
	assert_int_equal(count_requests(f, "GET", "/api/v1/tasks/"), 3);
	j = last_body(f, "POST", "/api/v1/servers/web0/snapshots");
	assert_string_equal(json_string_value(json_object_get(j, "name")), "s1");
	json_decref(j);

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "snapshot", "list", "web0", NULL), 0);
	assert_string_equal(f->out, "NAME  SIZE  CREATED\n"
				    "s1    300M  2026-01-03T00:00:00Z\n");
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "--json", "snapshot", "list", "web0", NULL), 0);
	j = json_loads(f->out, 0, NULL);
	assert_true(json_is_array(j));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "size")),
			 300 << 20);
	json_decref(j);

	/* A conflict names the state; a missing snapshot names server and snapshot. */
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "snapshot", "rollback", "web0", "s1", NULL), 1);
	assert_string_equal(
		f->err,
		"carve: server 'web0' is running: stop it before rolling back to snapshot 's1'\n");
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "snapshot", "delete", "web0", "nope", NULL), 1);
	assert_string_equal(f->err, "carve: server 'web0': snapshot 'nope' not found\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "snapshot", "list", "ghost",
				   "--tenant", "acme", NULL),
			 1);
	assert_string_equal(f->err, "carve: server 'ghost': no such server\n");
	assert_int_equal(count_requests(f, "GET", "/api/v1/servers/ghost/snapshots?tenant=acme"),
			 1);

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "stop", "web0", NULL), 0);
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "snapshot", "rollback", "web0", "s1", NULL), 0);
	assert_string_equal(f->out,
			    "server 'web0' rolled back to snapshot 's1' (state: stopped)\n");

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "--json", "snapshot", "clone", "web0",
				   "s1", "web9", NULL),
			 0);
	j = json_loads(f->out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "web9");
	assert_int_equal(json_integer_value(json_object_get(j, "disk")), 300 << 20);
	json_decref(j);
	j = last_body(f, "POST", "/api/v1/servers/web0/snapshots/s1/clone");
	assert_string_equal(json_string_value(json_object_get(j, "name")), "web9");
	json_decref(j);
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "snapshot", "clone", "web0", "s1",
				   "web9", NULL),
			 1);
	assert_string_equal(f->err, "carve: server 'web9' already exists\n");

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "snapshot", "create", "web0", "s2",
				   "--no-wait", NULL),
			 0);
	assert_int_equal(strspn(f->out, "0123456789abcdef"), 32);
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "snapshot", "delete", "web0", "s1", NULL), 0);
	assert_string_equal(f->out, "snapshot 's1' of server 'web0' deleted\n");
	assert_int_equal(count_requests(f, "DELETE", "/api/v1/servers/web0/snapshots/s1"), 1);

	/* Validation: nothing sent. */
	j = requests(f);
	sent = json_array_size(j);
	json_decref(j);
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "snapshot", "create", "web0", "S_1", NULL), 64);
	assert_non_null(strstr(f->err, "carve: server 'web0': snapshot name 'S_1'"));
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "snapshot", "clone", "web0", "s1", NULL), 64);
	j = requests(f);
	assert_int_equal(json_array_size(j), sent);
	json_decref(j);
}

static void test_pools(void **state)
{
	struct fake *f = *state;
	json_t *body;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "pool", "list", NULL), 0);
	assert_string_equal(f->out, "NAME     DRIVER   KIND   SIZE  ALLOCATED  PROVISIONED  "
				    "AVAILABLE  OVERCOMMIT\n"
				    "default  reflink  image  64G   3G         10G          86G    "
				    "    1.5\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "pool", "show", "default", NULL), 0);
	assert_non_null(strstr(f->out, "fill_threshold: 80%\n"));
	assert_non_null(strstr(f->out, "size:           64G\n"));

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "pool", "create", "small", "--size",
				   "1G", "--overcommit", "2.5", "--fill-threshold", "90%", NULL),
			 0);
	assert_string_equal(f->out, "pool 'small' created\n");
	body = last_body(f, "POST", "/api/v1/pools");
	assert_string_equal(json_string_value(json_object_get(body, "size")), "1073741824");
	assert_true(json_real_value(json_object_get(body, "overcommit")) == 2.5);
	assert_true(json_real_value(json_object_get(body, "fill_threshold")) > 0.8999 &&
		    json_real_value(json_object_get(body, "fill_threshold")) < 0.9001);
	assert_null(json_object_get(body, "path"));
	json_decref(body);

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "--json", "pool", "set", "small",
				   "--fill-threshold", "50", NULL),
			 0);
	assert_non_null(strstr(f->out, "\"fill_threshold\": 0.5"));
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "pool", "delete", "small", NULL), 0);
	assert_string_equal(f->out, "pool 'small' deleted\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "pool", "show", "small", NULL), 1);
	assert_string_equal(f->err, "carve: pool 'small' not found\n");

	/* Validation: nothing sent. */
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "pool", "create", "p", NULL), 64);
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "pool", "create", "p", "--size", "1G",
				   "--path", "/srv", NULL),
			 64);
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "pool", "create", "p", "--path", "srv", NULL),
		64);
	assert_string_equal(f->err, "carve: pool 'p': path 'srv': not an absolute path\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "pool", "create", "p", "--size", "1G",
				   "--fill-threshold", "101", NULL),
			 64);
	assert_string_equal(
		f->err, "carve: pool 'p': fill threshold '101': not a percentage from 1 to 100\n");
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "pool", "set", "p", "--overcommit", "-1", NULL),
		64);
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "pool", "set", "p", NULL), 64);
	assert_int_equal(count_requests(f, "POST", "/api/v1/pools"), 1);
	assert_int_equal(count_requests(f, "PATCH", "/api/v1/pools"), 1);
}

static void test_volumes_and_events(void **state)
{
	struct fake *f = *state;
	json_t *body;

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "create", "v1", "--size",
				   "12X", NULL),
			 64);
	assert_string_equal(f->err,
			    "carve: volume 'v1': size '12X': not a size (use e.g. 512M, 2G)\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "create", "v1", NULL), 64);
	assert_int_equal(count_requests(f, "POST", "/api/v1/volumes"), 0);

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "create", "v1", "--size",
				   "100M", "--tenant", "acme", NULL),
			 0);
	assert_string_equal(f->out, "volume 'v1' created\n");
	body = last_body(f, "POST", "/api/v1/volumes");
	assert_int_equal(json_integer_value(json_object_get(body, "size")), 100 << 20);
	assert_string_equal(json_string_value(json_object_get(body, "tenant")), "acme");
	json_decref(body);

	/* The server runs: refused, and the message names the state. */
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "attach", "v1", "web0",
				   "--path", "/data", NULL),
			 1);
	assert_string_equal(f->err,
			    "carve: volume 'v1': server 'web0' is running: stop it first\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "server", "stop", "web0", NULL), 0);
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "attach", "v1", "web0",
				   "--path", "/data", NULL),
			 0);
	body = last_body(f, "POST", "/api/v1/volumes/v1/attach");
	assert_string_equal(json_string_value(json_object_get(body, "server")), "web0");
	assert_string_equal(json_string_value(json_object_get(body, "path")), "/data");
	json_decref(body);

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "list", NULL), 0);
	assert_string_equal(f->out, "NAME  TENANT  POOL     SIZE  USED  SERVER  PATH\n"
				    "v1    acme    default  100M  1M    web0    /data\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "delete", "v1", NULL), 1);
	assert_string_equal(f->err,
			    "carve: volume 'v1' is attached to server 'web0': detach it first\n");
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "volume", "resize", "v1", "--size", "1G", NULL),
		0);
	assert_string_equal(f->out, "volume 'v1' resized to 1G\n");
	assert_int_equal(
		run_carve(f, NULL, "--url", f->url, "--json", "volume", "detach", "v1", NULL), 0);
	assert_non_null(strstr(f->out, "\"server\": null"));
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "delete", "v1", NULL), 0);
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "show", "v1", NULL), 1);
	assert_string_equal(f->err, "carve: volume 'v1' not found\n");
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "volume", "attach", "v1", "web0",
				   "--path", "data", NULL),
			 64);

	assert_int_equal(run_carve(f, NULL, "--url", f->url, "event", "list", "--limit", "1", NULL),
			 0);
	assert_string_equal(f->out, "ID  AT                    KIND       OBJECT        MESSAGE\n"
				    "2   2026-01-02T00:00:00Z  pool.fill  pool/default  pool "
				    "'default' is 81% full\n");
	assert_int_equal(count_requests(f, "GET", "/api/v1/events?limit=1"), 1);
	assert_int_equal(run_carve(f, NULL, "--url", f->url, "event", "list", "--limit", "0", NULL),
			 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_json_shape, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_global_flags_anywhere, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_table_output, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_show_human, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_api_errors, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_create_waits_and_sends_bytes, fake_setup,
						NULL),
		cmocka_unit_test_setup_teardown(test_task_failure, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_no_wait, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_validation_sends_nothing, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_unreachable, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_usage, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_login_whoami_logout, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_server_disk_and_pool, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_snapshots, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_pools, fake_setup, NULL),
		cmocka_unit_test_setup_teardown(test_volumes_and_events, fake_setup, NULL),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

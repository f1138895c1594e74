/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The QMP client against a fake QMP server on a socketpair, run by a thread that plays a script:
 * greeting, capabilities, replies matched by id with an interleaved event and a stale reply,
 * error replies, timeouts, an oversize line, EOF; and the line reader on its own.
 */
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "vm/vm.h"

#define GREETING                                                                           \
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, " \
	"\"capabilities\": [\"oob\"]}}\r\n"

enum script {
	SCRIPT_BASIC,
	SCRIPT_SILENT, /* answers capabilities, then never answers again */
	SCRIPT_OVERSIZE, /* answers a command with a 1 MiB + 1 line */
	SCRIPT_NO_GREETING,
	SCRIPT_EOF,
};

struct server {
	int fd;
	enum script script;
	pthread_t thread;
	char seen[8][256]; /* commands received */
	int n_seen;
};

/* Read one line from fd (blocking); returns length or -1 on EOF. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		char c;
		ssize_t k = read(fd, &c, 1);
		if (k <= 0)
			return -1;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return (int)n;
}

static void say(int fd, const char *s)
{
	assert_int_equal(loop_write(fd, s, strlen(s)), 0);
}

/* The id of a request line ("id":"carve-N"). */
static void id_of(const char *line, char *id, size_t size)
{
	json_t *j = json_loads(line, 0, NULL);
	strscpy(id, json_string_value(json_object_get(j, "id")) ?: "", size);
	json_decref(j);
}

static void *server_main(void *p)
{
	struct server *s = p;
	char line[4096], id[64], out[8192];

	if (s->script == SCRIPT_NO_GREETING) {
		say(s->fd, "{\"return\": {}}\r\n");
		(void)read_line(s->fd, line, sizeof(line));
		return NULL;
	}
	say(s->fd, GREETING);
	if (read_line(s->fd, line, sizeof(line)) < 0)
		return NULL;
	snprintf(s->seen[s->n_seen++], sizeof(s->seen[0]), "%s", line);
	id_of(line, id, sizeof(id));
	snprintf(out, sizeof(out), "{\"return\": {}, \"id\": \"%s\"}\r\n", id);
	say(s->fd, out);

	while (read_line(s->fd, line, sizeof(line)) >= 0) {
		json_t *j = json_loads(line, 0, NULL);
		const char *cmd = json_string_value(json_object_get(j, "execute"));
		if (s->n_seen < 8)
			snprintf(s->seen[s->n_seen++], sizeof(s->seen[0]), "%s", line);
		id_of(line, id, sizeof(id));
		if (s->script == SCRIPT_SILENT) {
			json_decref(j);
			continue;
		}
		if (s->script == SCRIPT_EOF) {
			json_decref(j);
			shutdown(s->fd, SHUT_RDWR);
			break;
		}
		if (s->script == SCRIPT_OVERSIZE) {
			size_t n = VM_QMP_LINE_MAX + 1;
			char *big = malloc(n + 2);
			memset(big, 'x', n);
			memcpy(big + n, "\r\n", 2);
			(void)loop_write(s->fd, big, n + 2);
			free(big);
			json_decref(j);
			continue;
		}
		if (streq(cmd, "query-status")) {
			/* an event first, then a stale reply to an old id, then ours split in
			 * two writes */
			say(s->fd, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
				   "\"event\": \"RESUME\"}\r\n");
			say(s->fd, "{\"return\": {\"status\": \"paused\", \"running\": false}, "
				   "\"id\": \"carve-999\"}\r\n");
			snprintf(out, sizeof(out),
				 "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
				 "\"running\": true}, \"id\": \"%s\"}\r\n",
				 id);
			(void)loop_write(s->fd, out, 20);
			usleep(20000);
			say(s->fd, out + 20);
		} else if (streq(cmd, "system_powerdown")) {
			snprintf(out, sizeof(out), "{\"return\": {}, \"id\": \"%s\"}\r\n", id);
			say(s->fd, "{\"event\": \"POWERDOWN\", \"timestamp\": {}}\r\n");
			say(s->fd, out);
			usleep(50000);
			say(s->fd, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true}, "
				   "\"timestamp\": {}}\r\n");
		} else if (streq(cmd, "human-monitor-command")) {
			const char *arg = json_string_value(
				json_object_get(json_object_get(j, "arguments"), "command-line"));
			char echo[512];
			json_t *rep;
			char *txt;
			snprintf(echo, sizeof(echo), "echo:%s", arg ?: "");
			rep = json_pack("{s:s, s:s}", "return", echo, "id", id);
			txt = json_dumps(rep, JSON_COMPACT);
			say(s->fd, txt);
			say(s->fd, "\r\n");
			free(txt);
			json_decref(rep);
		} else if (streq(cmd, "stop") || streq(cmd, "cont") || streq(cmd, "system_reset")) {
			snprintf(out, sizeof(out), "{\"return\": {}, \"id\": \"%s\"}\r\n", id);
			say(s->fd, out);
		} else {
			snprintf(out, sizeof(out),
				 "{\"id\": \"%s\", \"error\": {\"class\": \"CommandNotFound\", "
				 "\"desc\": \"The command %s has not been found\"}}\r\n",
				 id, cmd ?: "?");
			say(s->fd, out);
		}
		json_decref(j);
	}
	return NULL;
}

static struct vm_qmp *start(struct server *s, enum script script, int *ret_r,
			    struct carve_error *err)
{
	int sv[2];
	struct vm_qmp *q = NULL;
	memset(s, 0, sizeof(*s));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->fd = sv[1];
	s->script = script;
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	*ret_r = vm_qmp_connect_fd(sv[0], 2000, &q, err);
	return q;
}

static void stop(struct server *s, struct vm_qmp *q)
{
	vm_qmp_free(q); /* EOF ends the server loop */
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static void test_basic(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct server s;
	struct vm_run_status st;
	json_t *ev = NULL, *ret = NULL, *args;
	int r;
	struct vm_qmp *q = start(&s, SCRIPT_BASIC, &r, &err);

	if (r != 0)
		fail_msg("connect: %s", err.msg);
	assert_non_null(q);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(json_object_get(vm_qmp_greeting(q), "version"), "qemu"),
			"major")),
		7);

	/* reply matched by id; the interleaved event is queued; the stale reply dropped */
	r = vm_status(q, &st, &err);
	assert_int_equal(r, 0);
	assert_true(st.running);
	assert_string_equal(st.status, "running");
	assert_int_equal(vm_qmp_next_event(q, &ev, 0, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "event")), "RESUME");
	json_decref(ev);
	assert_int_equal(vm_qmp_next_event(q, &ev, 50, NULL), -ETIMEDOUT);

	/* arguments are passed */
	args = json_pack("{s:s}", "command-line", "info \"x\"");
	r = vm_qmp_execute(q, "human-monitor-command", args, &ret, 1000, &err);
	json_decref(args);
	assert_int_equal(r, 0);
	assert_string_equal(json_string_value(ret), "echo:info \"x\"");
	json_decref(ret);

	/* an error reply */
	r = vm_qmp_execute(q, "no-such-command", NULL, NULL, 1000, &err);
	assert_int_equal(r, -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "qmp 'no-such-command': CommandNotFound: The command "
					"no-such-command has not been found"));
	carve_err_clear(&err);

	assert_int_equal(vm_pause(q, &err), 0);
	assert_int_equal(vm_resume(q, &err), 0);
	assert_int_equal(vm_reset(q, &err), 0);

	/* powerdown: SHUTDOWN arrives after the reply; no pid to watch */
	{
		bool forced = true;
		assert_int_equal(vm_powerdown(q, 0, 2000, &forced, &err), 0);
		assert_false(forced);
	}
	stop(&s, q);

	/* what the server saw: capabilities first, every command with a distinct id */
	assert_non_null(strstr(s.seen[0], "\"execute\":\"qmp_capabilities\""));
	assert_non_null(strstr(s.seen[0], "\"id\":\"carve-1\""));
	assert_non_null(strstr(s.seen[1], "\"execute\":\"query-status\""));
	assert_non_null(strstr(s.seen[1], "\"id\":\"carve-2\""));
	assert_non_null(strstr(s.seen[2], "\"arguments\":{\"command-line\":\"info \\\"x\\\"\"}"));
}

static void test_timeout(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct server s;
	int r;
	struct vm_qmp *q = start(&s, SCRIPT_SILENT, &r, &err);

	assert_int_equal(r, 0);
	r = vm_qmp_execute(q, "query-status", NULL, NULL, 100, &err);
	assert_int_equal(r, -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "qmp 'query-status': no reply in time"));
	stop(&s, q);
}

static void test_oversize(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct server s;
	int r;
	struct vm_qmp *q = start(&s, SCRIPT_OVERSIZE, &r, &err);

	assert_int_equal(r, 0);
	r = vm_qmp_execute(q, "query-status", NULL, NULL, 5000, &err);
	assert_int_equal(r, -EMSGSIZE);
	assert_non_null(strstr(err.msg, "over 1 MiB"));
	carve_err_clear(&err);
	/* the connection is unusable afterwards */
	assert_int_equal(vm_qmp_execute(q, "query-status", NULL, NULL, 100, &err), -EMSGSIZE);
	stop(&s, q);
}

static void test_bad_greeting_and_eof(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct server s;
	int r;
	struct vm_qmp *q = start(&s, SCRIPT_NO_GREETING, &r, &err);

	assert_int_equal(r, -EPROTO);
	assert_null(q);
	assert_non_null(strstr(err.msg, "greeting"));
	shutdown(s.fd, SHUT_RDWR);
	pthread_join(s.thread, NULL);
	close(s.fd);

	carve_err_clear(&err);
	q = start(&s, SCRIPT_EOF, &r, &err);
	assert_int_equal(r, 0);
	r = vm_qmp_execute(q, "query-status", NULL, NULL, 2000, &err);
	assert_int_equal(r, -ECONNRESET);
	assert_non_null(strstr(err.msg, "connection closed"));
	stop(&s, q);
}

static void test_connect_missing_socket(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct vm_qmp *q = NULL;
	assert_int_equal(vm_qmp_connect("/nonexistent/carve-qmp.sock", 50, &q, &err), -ENOENT);
	assert_null(q);
	assert_non_null(strstr(err.msg, "qmp socket '/nonexistent/carve-qmp.sock'"));
}

static void test_reader(void **state)
{
	struct vm_qmp_reader r = {.max = 8};
	char *line = NULL;

	assert_int_equal(vm_qmp_reader_push(&r, "abc", 3), 0);
	assert_int_equal(vm_qmp_reader_pop(&r, &line), 0);
	assert_int_equal(vm_qmp_reader_push(&r, "de\r\nfg", 6), 0);
	assert_int_equal(vm_qmp_reader_pop(&r, &line), 1);
	assert_string_equal(line, "abcde");
	free(line);
	assert_int_equal(vm_qmp_reader_pop(&r, &line), 0);
	/* exactly max is fine, max + 1 is refused even before the newline */
	assert_int_equal(vm_qmp_reader_push(&r, "345678\n", 7), 0);
	assert_int_equal(vm_qmp_reader_pop(&r, &line), 1);
	assert_string_equal(line, "fg345678");
	free(line);
	/* max + 1 may be a "\r" before the "\n"; a line that is longer without is refused */
	assert_int_equal(vm_qmp_reader_push(&r, "123456789\n", 10), 0);
	assert_int_equal(vm_qmp_reader_pop(&r, &line), -EMSGSIZE);
	vm_qmp_reader_release(&r);
	r.max = 8;
	assert_int_equal(vm_qmp_reader_push(&r, "12345678\r\n", 10), 0);
	assert_int_equal(vm_qmp_reader_pop(&r, &line), 1);
	assert_string_equal(line, "12345678");
	free(line);
	assert_int_equal(vm_qmp_reader_push(&r, "12345", 5), 0);
	assert_int_equal(vm_qmp_reader_push(&r, "67890", 5), -EMSGSIZE);
	vm_qmp_reader_release(&r);

	/* parse */
	{
		enum vm_qmp_msg_kind kind;
		json_t *m = NULL;
		char id[16];
		assert_int_equal(vm_qmp_parse_line("{\"return\":{},\"id\":\"carve-7\"}", &kind, &m,
						   id, sizeof(id)),
				 0);
		assert_int_equal(kind, VM_QMP_MSG_RETURN);
		assert_string_equal(id, "carve-7");
		json_decref(m);
		assert_int_equal(
			vm_qmp_parse_line("{\"event\":\"STOP\"}", &kind, &m, id, sizeof(id)), 0);
		assert_int_equal(kind, VM_QMP_MSG_EVENT);
		assert_string_equal(id, "");
		json_decref(m);
		assert_int_equal(vm_qmp_parse_line("[1]", &kind, &m, id, sizeof(id)), -EBADMSG);
		assert_int_equal(vm_qmp_parse_line("{\"foo\":1}", &kind, &m, id, sizeof(id)),
				 -EBADMSG);
		assert_int_equal(
			vm_qmp_parse_line("{\"return\":1,\"return\":2}", &kind, &m, id, sizeof(id)),
			-EBADMSG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_bad_greeting_and_eof),
		cmocka_unit_test(test_connect_missing_socket),
		cmocka_unit_test(test_reader),
	};
	signal(SIGPIPE, SIG_IGN); /* the fake server writes to a client that has gone */
	return cmocka_run_group_tests(tests, NULL, NULL);
}

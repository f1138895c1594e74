/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QMP client. QEMU writes one JSON object per line ("\r\n"): the greeting, replies
 * ({"return": ..., "id": ...} or {"error": {...}, "id": ...}) and asynchronous events
 * ({"event": ..., "timestamp": ..., "data": ...}) that may come before the reply to the command in
 * flight. Every command carries an id of ours; a reply with another id is the late answer to a
 * command that timed out and is dropped. The socket is non-blocking and every wait has a deadline.
 */
#define LOG_DOMAIN "vm"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "vm/vm.h"

struct vm_qmp {
	int fd;
	struct vm_qmp_reader reader;
	json_t *greeting;
	json_t **events; /* ring of queued events */
	size_t ev_head;
	size_t ev_len;
	uint64_t next_id;
	int broken; /* sticky error (-EMSGSIZE, -ECONNRESET, -EPROTO) */
};

/* reader */

void vm_qmp_reader_release(struct vm_qmp_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
}

int vm_qmp_reader_push(struct vm_qmp_reader *r, const void *data, size_t n)
{
	size_t max = r->max ? r->max : VM_QMP_LINE_MAX;
	const char *p = data, *end = p + n, *last;
	size_t cur;

	if (n == 0)
		return 0;
	/* the length of the line in progress (a "\r" before the "\n" counts, the "\n" not) */
	last = r->len ? memrchr(r->buf, '\n', r->len) : NULL;
	cur = last ? r->len - (size_t)(last - r->buf) - 1 : r->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		cur += (size_t)((nl ? nl : end) - p);
		if (cur > max + 1)
			return -EMSGSIZE;
		if (!nl)
			break;
		cur = 0;
		p = nl + 1;
	}
	/* the buffer holds at most the unfinished line (<= max + 1) plus the complete lines of
	 * this push, which the caller pops before pushing again */
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *nb;
		while (cap < r->len + n)
			cap *= 2;
		nb = realloc(r->buf, cap);
		if (!nb)
			return -ENOMEM;
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return 0;
}

int vm_qmp_reader_pop(struct vm_qmp_reader *r, char **ret)
{
	char *nl, *line;
	size_t n, used;

	if (r->len == 0)
		return 0;
	nl = memchr(r->buf, '\n', r->len);
	if (!nl)
		return 0;
	used = (size_t)(nl - r->buf) + 1;
	n = used - 1;
	if (n > 0 && r->buf[n - 1] == '\r')
		n--;
	if (n > (r->max ? r->max : VM_QMP_LINE_MAX))
		return -EMSGSIZE;
	line = strndup(r->buf, n);
	if (!line)
		return -ENOMEM;
	memmove(r->buf, r->buf + used, r->len - used);
	r->len -= used;
	*ret = line;
	return 1;
}

int vm_qmp_parse_line(const char *line, enum vm_qmp_msg_kind *ret_kind, json_t **ret_msg,
		      char *ret_id, size_t id_size)
{
	json_error_t jerr;
	json_t *m, *id;
	enum vm_qmp_msg_kind kind;

	m = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (!m)
		return -EBADMSG;
	if (!json_is_object(m)) {
		json_decref(m);
		return -EBADMSG;
	}
	if (json_is_object(json_object_get(m, "QMP")))
		kind = VM_QMP_MSG_GREETING;
	else if (json_object_get(m, "return"))
		kind = VM_QMP_MSG_RETURN;
	else if (json_is_object(json_object_get(m, "error")))
		kind = VM_QMP_MSG_ERROR;
	else if (json_is_string(json_object_get(m, "event")))
		kind = VM_QMP_MSG_EVENT;
	else {
		json_decref(m);
		return -EBADMSG;
	}
	if (ret_id && id_size > 0) {
		ret_id[0] = '\0';
		id = json_object_get(m, "id");
		if (json_is_string(id) && strlen(json_string_value(id)) < id_size)
			strscpy(ret_id, json_string_value(id), id_size);
	}
	*ret_kind = kind;
	*ret_msg = m;
	return 0;
}

/* time */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static int remaining(int64_t deadline)
{
	int64_t left;
	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	return left < 0 ? 0 : (int)(left > INT32_MAX ? INT32_MAX : left);
}

/* client */

static int fail(struct vm_qmp *q, int r)
{
	if (r == -EMSGSIZE || r == -ECONNRESET || r == -EPROTO)
		q->broken = r;
	return r;
}

/* Read what is there (waiting until deadline for at least something). */
static int fill(struct vm_qmp *q, int64_t deadline)
{
	char buf[65536];
	struct pollfd pfd = {.fd = q->fd, .events = POLLIN};
	ssize_t n;
	int r;

	for (;;) {
		r = poll(&pfd, 1, remaining(deadline));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		n = read(q->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fail(q, -errno == -ECONNRESET ? -ECONNRESET : -errno);
		}
		if (n == 0)
			return fail(q, -ECONNRESET);
		r = vm_qmp_reader_push(&q->reader, buf, (size_t)n);
		if (r < 0)
			return fail(q, r);
		return 0;
	}
}

/* Next complete message, reading until the deadline. */
static int next_message(struct vm_qmp *q, int64_t deadline, enum vm_qmp_msg_kind *ret_kind,
			json_t **ret_msg, char *id, size_t id_size)
{
	int r;

	if (q->broken)
		return q->broken;
	for (;;) {
		cleanup_free char *line = NULL;
		r = vm_qmp_reader_pop(&q->reader, &line);
		if (r < 0)
			return fail(q, r);
		if (r > 0) {
			if (line[0] == '\0')
				continue;
			r = vm_qmp_parse_line(line, ret_kind, ret_msg, id, id_size);
			if (r < 0)
				return fail(q, -EPROTO);
			return 0;
		}
		r = fill(q, deadline);
		if (r < 0)
			return r;
	}
}

static void queue_event(struct vm_qmp *q, json_t *ev)
{
	if (!q->events) {
		q->events = calloc(VM_QMP_EVENTS_MAX, sizeof(json_t *));
		if (!q->events) {
			json_decref(ev);
			return;
		}
	}
	if (q->ev_len == VM_QMP_EVENTS_MAX) {
		json_decref(q->events[q->ev_head]);
		q->ev_head = (q->ev_head + 1) % VM_QMP_EVENTS_MAX;
		q->ev_len--;
	}
	q->events[(q->ev_head + q->ev_len) % VM_QMP_EVENTS_MAX] = ev;
	q->ev_len++;
}

static json_t *dequeue_event(struct vm_qmp *q)
{
	json_t *ev;
	if (q->ev_len == 0)
		return NULL;
	ev = q->events[q->ev_head];
	q->events[q->ev_head] = NULL;
	q->ev_head = (q->ev_head + 1) % VM_QMP_EVENTS_MAX;
	q->ev_len--;
	return ev;
}

static int send_all(struct vm_qmp *q, const char *s, size_t n, int64_t deadline)
{
	struct pollfd pfd = {.fd = q->fd, .events = POLLOUT};
	while (n > 0) {
		ssize_t k = send(q->fd, s, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = poll(&pfd, 1, remaining(deadline));
				if (r == 0)
					return -ETIMEDOUT;
				continue;
			}
			return fail(q, errno == EPIPE ? -ECONNRESET : -errno);
		}
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

static int execute(struct vm_qmp *q, const char *command, json_t *args, json_t **ret_return,
		   int timeout_ms, struct carve_error *err)
{
	int64_t deadline = deadline_of(timeout_ms);
	char id[32], got[32];
	cleanup_free char *line = NULL;
	json_t *msg;
	int r;

	if (q->broken)
		return carve_err(err, q->broken, "qmp '%s': connection unusable: %s", command,
				 strerror(-q->broken));
	if (args && !json_is_object(args))
		return carve_err(err, -EINVAL, "qmp '%s': arguments: not an object", command);
	snprintf(id, sizeof(id), "carve-%" PRIu64, ++q->next_id);
	msg = json_pack("{s:s, s:s}", "execute", command, "id", id);
	if (!msg)
		return carve_err(err, -ENOMEM, "qmp '%s'", command);
	if (args)
		json_object_set(msg, "arguments", args);
	line = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!line)
		return carve_err(err, -ENOMEM, "qmp '%s'", command);
	{
		size_t n = strlen(line);
		char *l2 = realloc(line, n + 2);
		if (!l2)
			return carve_err(err, -ENOMEM, "qmp '%s'", command);
		line = l2;
		line[n] = '\n';
		line[n + 1] = '\0';
	}
	r = send_all(q, line, strlen(line), deadline);
	if (r < 0)
		return carve_err(err, r, "qmp '%s': send", command);

	for (;;) {
		enum vm_qmp_msg_kind kind;
		json_t *m = NULL;

		r = next_message(q, deadline, &kind, &m, got, sizeof(got));
		if (r < 0)
			return carve_err(err, r, "qmp '%s': %s", command,
					 r == -ETIMEDOUT    ? "no reply in time"
					 : r == -EMSGSIZE   ? "reply line over 1 MiB"
					 : r == -EPROTO	    ? "not a QMP message"
					 : r == -ECONNRESET ? "connection closed"
							    : strerror(-r));
		if (kind == VM_QMP_MSG_EVENT) {
			queue_event(q, m);
			continue;
		}
		if (kind == VM_QMP_MSG_GREETING || !streq(got, id)) {
			log_debug("qmp: dropping a stale message (id '%s')", got);
			json_decref(m);
			continue;
		}
		if (kind == VM_QMP_MSG_ERROR) {
			json_t *e = json_object_get(m, "error");
			const char *cls = json_string_value(json_object_get(e, "class"));
			const char *desc = json_string_value(json_object_get(e, "desc"));
			r = streq(cls, "CommandNotFound") ? -EOPNOTSUPP : -EIO;
			carve_err(err, r, "qmp '%s': %s: %s", command, cls ? cls : "Error",
				  desc ? desc : "(no description)");
			json_decref(m);
			return r;
		}
		if (ret_return)
			*ret_return = json_incref(json_object_get(m, "return"));
		json_decref(m);
		return 0;
	}
}

int vm_qmp_execute(struct vm_qmp *q, const char *command, json_t *args, json_t **ret_return,
		   int timeout_ms, struct carve_error *err)
{
	if (!q || !command || !command[0])
		return carve_err(err, -EINVAL, "qmp: no command");
	return execute(q, command, args, ret_return, timeout_ms, err);
}

int vm_qmp_next_event(struct vm_qmp *q, json_t **ret_event, int timeout_ms, struct carve_error *err)
{
	int64_t deadline = deadline_of(timeout_ms);
	json_t *ev = dequeue_event(q);
	int r;

	if (ev) {
		*ret_event = ev;
		return 0;
	}
	for (;;) {
		enum vm_qmp_msg_kind kind;
		json_t *m = NULL;
		r = next_message(q, deadline, &kind, &m, NULL, 0);
		if (r < 0)
			return carve_err(err, r, "qmp: wait for an event: %s",
					 r == -ETIMEDOUT ? "none in time" : strerror(-r));
		if (kind == VM_QMP_MSG_EVENT) {
			*ret_event = m;
			return 0;
		}
		json_decref(m); /* a stale reply */
	}
}

int vm_qmp_wait_event(struct vm_qmp *q, const char *name, json_t **ret_event, int timeout_ms,
		      struct carve_error *err)
{
	int64_t deadline = deadline_of(timeout_ms);
	for (;;) {
		json_t *ev = NULL;
		int r = vm_qmp_next_event(q, &ev, remaining(deadline), NULL);
		if (r < 0)
			return carve_err(err, r, "qmp: wait for event '%s': %s", name,
					 r == -ETIMEDOUT ? "none in time" : strerror(-r));
		if (streq(json_string_value(json_object_get(ev, "event")), name)) {
			if (ret_event)
				*ret_event = ev;
			else
				json_decref(ev);
			return 0;
		}
		json_decref(ev);
	}
}

int vm_qmp_connect_fd(int fd, int timeout_ms, struct vm_qmp **ret, struct carve_error *err)
{
	int64_t deadline = deadline_of(timeout_ms);
	cleanup(vm_qmp_freep) struct vm_qmp *q = NULL;
	enum vm_qmp_msg_kind kind;
	json_t *m = NULL;
	int r, fl;

	q = calloc(1, sizeof(*q));
	if (!q) {
		safe_close(fd);
		return carve_err(err, -ENOMEM, "qmp");
	}
	q->fd = fd;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return carve_err(err, -errno, "qmp: set non-blocking");
	(void)fd_set_cloexec(fd, true);

	r = next_message(q, deadline, &kind, &m, NULL, 0);
	if (r < 0)
		return carve_err(err, r, "qmp: greeting: %s",
				 r == -ETIMEDOUT ? "none in time" : strerror(-r));
	if (kind != VM_QMP_MSG_GREETING) {
		json_decref(m);
		return carve_err(err, -EPROTO, "qmp: greeting: not a QMP greeting");
	}
	q->greeting = json_incref(json_object_get(m, "QMP"));
	json_decref(m);
	r = execute(q, "qmp_capabilities", NULL, NULL, remaining(deadline), err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(q);
	return 0;
}

int vm_qmp_connect(const char *path, int timeout_ms, struct vm_qmp **ret, struct carve_error *err)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int r;

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return carve_err(err, -EINVAL, "qmp socket '%s': path too long", path ? path : "");
	memcpy(sa.sun_path, path, strlen(path));
	/* QEMU creates the socket a moment after it starts: retry until the deadline */
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return carve_err(err, -errno, "qmp socket '%s': socket", path);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			r = vm_qmp_connect_fd(fd, remaining(deadline), ret, err);
			if (r < 0)
				return carve_err_prefix(err, "qmp socket '%s'", path);
			return 0;
		}
		r = -errno;
		safe_close(fd);
		if ((r != -ENOENT && r != -ECONNREFUSED) || remaining(deadline) == 0)
			return carve_err(err, r, "qmp socket '%s': connect", path);
		(void)poll(NULL, 0, 10);
	}
}

struct vm_qmp *vm_qmp_free(struct vm_qmp *q)
{
	if (!q)
		return NULL;
	safe_close(q->fd);
	vm_qmp_reader_release(&q->reader);
	json_decref(q->greeting);
	while (q->ev_len > 0)
		json_decref(dequeue_event(q));
	free(q->events);
	free(q);
	return NULL;
}

int vm_qmp_fd(const struct vm_qmp *q)
{
	return q ? q->fd : -EBADF;
}

const json_t *vm_qmp_greeting(const struct vm_qmp *q)
{
	return q ? q->greeting : NULL;
}

/* helpers */

int vm_status(struct vm_qmp *q, struct vm_run_status *ret, struct carve_error *err)
{
	json_t *st = NULL;
	const char *s;
	int r;

	r = vm_qmp_execute(q, "query-status", NULL, &st, 5000, err);
	if (r < 0)
		return r;
	s = json_string_value(json_object_get(st, "status"));
	if (!s) {
		json_decref(st);
		return carve_err(err, -EPROTO, "qmp 'query-status': no 'status' in the reply");
	}
	memset(ret, 0, sizeof(*ret));
	ret->running = json_is_true(json_object_get(st, "running"));
	strscpy(ret->status, s, sizeof(ret->status));
	json_decref(st);
	return 0;
}

int vm_reset(struct vm_qmp *q, struct carve_error *err)
{
	return vm_qmp_execute(q, "system_reset", NULL, NULL, 5000, err);
}

int vm_pause(struct vm_qmp *q, struct carve_error *err)
{
	return vm_qmp_execute(q, "stop", NULL, NULL, 5000, err);
}

int vm_resume(struct vm_qmp *q, struct carve_error *err)
{
	return vm_qmp_execute(q, "cont", NULL, NULL, 5000, err);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Wait until deadline for: the SHUTDOWN event, EOF on QMP, or the pidfd readable. 1: gone or
 * shutting down, 0: timeout. */
static int wait_gone(struct vm_qmp *q, int pidfd, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd[2] = {{.fd = q->fd, .events = POLLIN},
					{.fd = pidfd, .events = POLLIN}};
		json_t *ev;
		int r;

		/* queued events first */
		while ((ev = dequeue_event(q))) {
			bool down =
				streq(json_string_value(json_object_get(ev, "event")), "SHUTDOWN");
			json_decref(ev);
			if (down)
				return 1;
		}
		if (q->broken)
			return 1; /* EOF: QEMU is gone */
		r = poll(pfd, pidfd >= 0 ? 2 : 1, remaining(deadline));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0)
			return 0;
		if (pidfd >= 0 && (pfd[1].revents & POLLIN))
			return 1;
		if (pfd[0].revents) {
			enum vm_qmp_msg_kind kind;
			json_t *m = NULL;
			/* a complete message is there or the socket ended */
			r = next_message(q, now_ms() + 50, &kind, &m, NULL, 0);
			if (r == -ECONNRESET || r == -EMSGSIZE || r == -EPROTO)
				return 1;
			if (r == 0) {
				if (kind == VM_QMP_MSG_EVENT)
					queue_event(q, m);
				else
					json_decref(m);
			}
		}
	}
}

static bool pid_gone(int pidfd, int wait_ms)
{
	struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
	if (pidfd < 0)
		return false;
	return poll(&pfd, 1, wait_ms) > 0;
}

int vm_powerdown(struct vm_qmp *q, pid_t pid, int timeout_ms, bool *ret_forced,
		 struct carve_error *err)
{
	int64_t deadline = deadline_of(timeout_ms);
	cleanup_close int pidfd = -EBADF;
	struct carve_error e2 = CARVE_ERROR_INIT;
	int r;

	if (pid > 0) {
		pidfd = pidfd_open_(pid);
		if (pidfd < 0 && errno == ESRCH) {
			if (ret_forced)
				*ret_forced = false;
			return 0; /* already gone */
		}
	}
	r = vm_qmp_execute(q, "system_powerdown", NULL, NULL, remaining(deadline), &e2);
	if (r < 0 && r != -ECONNRESET && r != -ETIMEDOUT)
		return carve_err(err, r, "%s", e2.msg);
	if (r == 0) {
		r = wait_gone(q, pidfd, deadline);
		if (r < 0)
			return carve_err(err, r, "vm powerdown: wait");
	} else
		r = 1; /* QMP already closed: QEMU is exiting */
	if (r == 1) {
		/* SHUTDOWN seen or QMP closed: QEMU exits by itself (no -no-shutdown) */
		if (pidfd < 0 || pid_gone(pidfd, 5000)) {
			if (ret_forced)
				*ret_forced = false;
			return 0;
		}
	}
	/* hard stop: quit over QMP, then SIGKILL */
	log_debug("vm powerdown: no shutdown in %d ms, hard stop", timeout_ms);
	if (!q->broken)
		(void)vm_qmp_execute(q, "quit", NULL, NULL, 1000, NULL);
	if (pidfd >= 0 && !pid_gone(pidfd, 2000)) {
		if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
			return carve_err(err, -errno, "vm powerdown: kill pid %d", (int)pid);
		(void)pid_gone(pidfd, 5000);
	}
	if (ret_forced)
		*ret_forced = true;
	return 0;
}

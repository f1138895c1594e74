/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm-api: the carved client of bench/vm-boot. One VM through carved's API, as root on its unix
 * socket (provider admin), timed in this process:
 *
 *   POST /servers {kind vm, machine, memory, vcpus, disk, tenant}   and poll its task (1 ms)
 *   POST /servers/NAME/start                                         and poll its task
 *   GET  /servers/NAME/console (websocket upgrade)                   read until the marker
 *
 * and prints "<ms from the create request to the marker> <accel> <QEMU VmRSS KiB> <QEMU Pss KiB>
 * <monitor Pss KiB> <ms of the create task> <ms of the start task> <ms from the console's upgrade
 * to the marker>" (QEMU's pid from GET /servers/NAME, its accelerator from its command line,
 * the monitor is its parent). Then, untimed: stop (ACPI powerdown) and delete.
 *
 *   vm-api SOCKET TENANT NAME MACHINE MEMORY DISK MARKER
 *
 * With VM_API_CONSOLE=FILE the console bytes read are also written to FILE (to compare the
 * guest's printk timestamps with a plain boot's).
 * Exit status 0 when the marker was seen and the server was deleted again.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/websocket.h"
#include "bench-util.h"

#define TASK_POLL_LIMIT 120000 /* two minutes of 1 ms polls */
#define MARKER_TIMEOUT_MS (180 * 1000)
#define HEAD_MAX 8192

static struct bench_buf b;
static CURL *c;
static const char *sock_path;

/* One request on the shared connection; the HTTP status or -1. */
static long request(const char *method, const char *path, const char *body)
{
	char url[1024];
	long status = -1;

	snprintf(url, sizeof(url), "http://localhost/api/v1%s", path);
	b.len = 0;
	b.data[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body ? (long)strlen(body) : 0L);
	if (curl_easy_perform(c) != CURLE_OK)
		return -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* An asynchronous request: 202, then poll its task until it ends. 0 when it succeeded. */
static int task(const char *method, const char *path, const char *body)
{
	char task_path[256];
	json_t *j, *id;
	long status;

	status = request(method, path, body);
	if (status != 202) {
		fprintf(stderr, "vm-api: %s %s: %ld %s\n", method, path, status, b.data);
		return -1;
	}
	j = json_loads(b.data, 0, NULL);
	id = j ? json_object_get(json_object_get(j, "task"), "id") : NULL;
	if (!json_is_string(id)) {
		fprintf(stderr, "vm-api: no task id in %s\n", b.data);
		json_decref(j);
		return -1;
	}
	snprintf(task_path, sizeof(task_path), "/tasks/%s", json_string_value(id));
	json_decref(j);
	for (int i = 0; i < TASK_POLL_LIMIT; i++) {
		const char *state;
		int done = 0;

		status = request("GET", task_path, NULL);
		j = status == 200 ? json_loads(b.data, 0, NULL) : NULL;
		state = j ? json_string_value(json_object_get(j, "state")) : NULL;
		if (state && strcmp(state, "succeeded") == 0)
			done = 1;
		else if (state && strcmp(state, "failed") == 0)
			done = -1;
		json_decref(j);
		if (done > 0)
			return 0;
		if (done < 0)
			break;
		usleep(1000);
	}
	fprintf(stderr, "vm-api: %s %s: task did not succeed: %s\n", method, path, b.data);
	return -1;
}

/* Upgrade GET /api/v1<path> to a websocket on a new unix socket connection. */
static struct ws_conn *console_open(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char key[WS_KEY_LEN + 1], req[1024], head[HEAD_MAX + 1];
	struct ws_conn *ws = NULL;
	const char *end = NULL;
	size_t n = 0;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || strlen(sock_path) >= sizeof(sa.sun_path))
		return NULL;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || ws_key_generate(key) < 0)
		goto fail;
	snprintf(
		req, sizeof(req),
		"GET /api/v1%s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, key);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto fail;
	while (!end) {
		ssize_t k;

		if (n >= HEAD_MAX)
			goto fail;
		k = read(fd, head + n, HEAD_MAX - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			goto fail;
		n += (size_t)k;
		head[n] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	end += 4;
	if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
		fprintf(stderr, "vm-api: console: %.*s\n", (int)(end - head), head);
		goto fail;
	}
	if (ws_conn_new(fd, WS_ROLE_CLIENT, 0, &ws) < 0 ||
	    ws_conn_push(ws, end, n - (size_t)(end - head)) < 0) {
		ws_conn_free(ws);
		goto fail;
	}
	return ws;
fail:
	close(fd);
	return NULL;
}

/* Read console bytes until marker; 0 when seen. */
static int console_wait(struct ws_conn *ws, const char *marker, FILE *copy)
{
	static char seen[1 << 20];
	size_t len = 0, keep = strlen(marker);
	uint64_t deadline = bench_now_ns() + (uint64_t)MARKER_TIMEOUT_MS * 1000000ULL;

	for (;;) {
		struct ws_message m;
		int r;

		while ((r = ws_conn_next(ws, &m)) > 0) {
			if (m.opcode == WS_OP_CLOSE || m.opcode == WS_OP_TEXT) {
				fprintf(stderr, "vm-api: console ended: %.*s\n", (int)m.len,
					(const char *)m.data);
				return -1;
			}
			if (m.opcode != WS_OP_BINARY)
				continue;
			if (copy)
				(void)fwrite(m.data, 1, m.len, copy);
			/* keep the tail, in case the marker spans two frames */
			if (len + m.len >= sizeof(seen)) {
				memmove(seen, seen + len - keep, keep);
				len = keep;
			}
			if (m.len >= sizeof(seen) - len)
				continue;
			/* search only where the marker can end in the new bytes: the console comes
			 * a few bytes a frame, and rescanning all of it each time costs the CPU the
			 * guest runs on */
			size_t from = len > keep ? len - keep : 0;
			for (size_t i = 0; i < m.len; i++)
				seen[len++] = m.data[i] ? (char)m.data[i] : ' ';
			seen[len] = '\0';
			if (strstr(seen + from, marker))
				return 0;
		}
		if (r < 0)
			return -1;
		/* what came behind the handshake was pushed and handled above */
		struct pollfd pfd = {ws_conn_fd(ws), POLLIN, 0};
		int64_t left = ((int64_t)deadline - (int64_t)bench_now_ns()) / 1000000;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			fprintf(stderr, "vm-api: no '%s' on the console in %d s\n", marker,
				MARKER_TIMEOUT_MS / 1000);
			return -1;
		}
		if (ws_conn_read(ws) <= 0)
			return -1;
	}
}

/* "kvm" or "tcg" from QEMU's -accel argument. */
static const char *qemu_accel(long pid)
{
	static char cmd[1 << 16];
	char path[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = fopen(path, "re");
	if (!f)
		return "?";
	n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	for (size_t i = 0; i + 1 < n; i += strlen(cmd + i) + 1)
		if (strcmp(cmd + i, "-accel") == 0 && i + 7 < n)
			return strncmp(cmd + i + 7, "kvm", 3) == 0 ? "kvm" : "tcg";
	return "?";
}

int main(int argc, char **argv)
{
	struct curl_slist *hdrs = NULL;
	struct ws_conn *ws = NULL;
	char body[1024], path[512];
	const char *tenant, *name, *machine, *memory, *disk, *marker, *accel = "?";
	long qemu_pid = 0, mon_pid = 0, rss = -1, pss = -1, mon_pss = -1;
	uint64_t t0, t_created = 0, t_started = 0, t_console = 0, t1 = 0;
	const char *copy_path = getenv("VM_API_CONSOLE");
	FILE *copy = copy_path ? fopen(copy_path, "we") : NULL;
	int ok = 0;
	json_t *j;

	if (argc != 8) {
		fputs("usage: vm-api SOCKET TENANT NAME MACHINE MEMORY DISK MARKER\n", stderr);
		return 2;
	}
	sock_path = argv[1];
	tenant = argv[2];
	name = argv[3];
	machine = argv[4];
	memory = argv[5];
	disk = argv[6];
	marker = argv[7];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (!c)
		return 1;
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock_path);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	snprintf(body, sizeof(body),
		 "{\"name\":\"%s\",\"template\":\"busybox-vm\",\"kind\":\"vm\",\"machine\":\"%s\","
		 "\"vcpus\":1,\"memory\":\"%s\",\"disk\":\"%s\",\"tenant\":\"%s\"}",
		 name, machine, memory, disk, tenant);

	t0 = bench_now_ns();
	if (task("POST", "/servers", body) < 0)
		goto out;
	t_created = bench_now_ns();
	snprintf(path, sizeof(path), "/servers/%s/start?tenant=%s", name, tenant);
	if (task("POST", path, NULL) < 0)
		goto del;
	t_started = bench_now_ns();
	snprintf(path, sizeof(path), "/servers/%s/console?tenant=%s", name, tenant);
	ws = console_open(path);
	t_console = bench_now_ns();
	if (!ws || console_wait(ws, marker, copy) < 0)
		goto stop;
	t1 = bench_now_ns();

	snprintf(path, sizeof(path), "/servers/%s?tenant=%s", name, tenant);
	if (request("GET", path, NULL) == 200 && (j = json_loads(b.data, 0, NULL))) {
		qemu_pid = (long)json_integer_value(json_object_get(j, "init_pid"));
		json_decref(j);
	}
	if (qemu_pid > 0) {
		accel = qemu_accel(qemu_pid);
		rss = bench_proc_kib(qemu_pid, "status", "VmRSS");
		pss = bench_proc_kib(qemu_pid, "smaps_rollup", "Pss");
		mon_pid = bench_proc_kib(qemu_pid, "status", "PPid");
		if (mon_pid > 0)
			mon_pss = bench_proc_kib(mon_pid, "smaps_rollup", "Pss");
	}
	ok = qemu_pid > 0 && rss > 0;
	if (!ok)
		fprintf(stderr, "vm-api: no QEMU pid or RSS for server '%s'\n", name);
stop:
	if (ws) {
		close(ws_conn_fd(ws));
		ws_conn_free(ws);
	}
	snprintf(path, sizeof(path), "/servers/%s/stop?tenant=%s", name, tenant);
	if (task("POST", path, NULL) < 0)
		ok = 0;
del:
	snprintf(path, sizeof(path), "/servers/%s?tenant=%s", name, tenant);
	if (task("DELETE", path, NULL) < 0)
		ok = 0;
	if (ok)
		printf("%.1f %s %ld %ld %ld %.1f %.1f %.1f\n", (double)(t1 - t0) / 1e6, accel, rss,
		       pss, mon_pss, (double)(t_created - t0) / 1e6,
		       (double)(t_started - t_created) / 1e6, (double)(t1 - t_console) / 1e6);
out:
	if (copy)
		fclose(copy);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return ok ? 0 : 1;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api-task: the carved client of bench/ct-start. Sends one asynchronous request to carved on its
 * unix socket as root (provider admin), then polls GET /api/v1/tasks/<id> on the same connection
 * (every 1 ms) until the task ends, and prints the nanoseconds from the request to the first poll
 * that saw the task done. Timing inside one process leaves curl's own start-up (about 40 ms here)
 * out of the numbers.
 *
 *   api-task SOCKET METHOD PATH [JSON-BODY]
 *
 * Exit status 0 when the task succeeded, 1 otherwise (the last answer on stderr).
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench-util.h"

#define POLL_LIMIT 120000 /* two minutes of 1 ms polls */

/* One request; returns the HTTP status or -1. */
static long request(CURL *c, const char *method, const char *url, const char *body,
		    struct bench_buf *b)
{
	long status = -1;

	b->len = 0;
	b->data[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body ? (long)strlen(body) : 0L);
	if (curl_easy_perform(c) != CURLE_OK)
		return -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

int main(int argc, char **argv)
{
	static struct bench_buf b;
	struct curl_slist *hdrs = NULL;
	const char *state = NULL;
	char url[1024], task_url[1024];
	json_t *j, *id;
	uint64_t t0;
	long status;
	CURL *c;
	int ok = 0;

	if (argc < 4 || argc > 5) {
		fputs("usage: api-task SOCKET METHOD PATH [JSON-BODY]\n", stderr);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (!c)
		return 1;
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, argv[1]);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	snprintf(url, sizeof(url), "http://localhost/api/v1%s", argv[3]);

	t0 = bench_now_ns();
	status = request(c, argv[2], url, argc == 5 ? argv[4] : NULL, &b);
	if (status != 202) {
		fprintf(stderr, "api-task: %s %s: %ld %s\n", argv[2], argv[3], status, b.data);
		goto out;
	}
	j = json_loads(b.data, 0, NULL);
	id = j ? json_object_get(json_object_get(j, "task"), "id") : NULL;
	if (!json_is_string(id)) {
		fprintf(stderr, "api-task: no task id in %s\n", b.data);
		json_decref(j);
		goto out;
	}
	snprintf(task_url, sizeof(task_url), "http://localhost/api/v1/tasks/%s",
		 json_string_value(id));
	json_decref(j);

	for (int i = 0; i < POLL_LIMIT; i++) {
		status = request(c, "GET", task_url, NULL, &b);
		j = status == 200 ? json_loads(b.data, 0, NULL) : NULL;
		state = j ? json_string_value(json_object_get(j, "state")) : NULL;
		if (state && (strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0)) {
			uint64_t dt = bench_now_ns() - t0;

			ok = strcmp(state, "succeeded") == 0;
			json_decref(j);
			if (ok)
				printf("%" PRIu64 "\n", dt);
			break;
		}
		json_decref(j);
		state = NULL;
		usleep(1000);
	}
	if (!ok)
		fprintf(stderr, "api-task: %s %s: task did not succeed: %s\n", argv[2], argv[3],
			b.data);
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return ok ? 0 : 1;
}

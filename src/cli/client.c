/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "carve-config.h"
#include "cli/client.h"
#include "cli/config.h"

#define API_PREFIX "/api/v1"

struct carve_client {
	CURL *curl;
	char *url; /* as the user wrote it, for messages */
	char *socket_path;
	char *base;
	char *auth_header;
	char last_code[64];
};

struct buffer {
	char *data;
	size_t len, cap;
	bool overflow;
};

static void buffer_release(struct buffer *b)
{
	free(b->data);
	*b = (struct buffer){0};
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buffer *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n > CLIENT_BODY_MAX) {
		b->overflow = true;
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

struct carve_client *carve_client_free(struct carve_client *c)
{
	if (!c)
		return NULL;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	free(c->socket_path);
	free(c->base);
	if (c->auth_header) {
		explicit_bzero(c->auth_header, strlen(c->auth_header));
		free(c->auth_header);
	}
	free(c);
	return NULL;
}

int carve_client_new(const char *url, const char *token, struct carve_client **ret,
		     struct carve_error *err)
{
	struct carve_client *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return carve_err(err, -ENOMEM, "out of memory");
	r = cli_url_parse(url, &c->socket_path, &c->base, err);
	if (r < 0) {
		carve_client_free(c);
		return r;
	}
	c->url = strdup(url);
	c->curl = curl_easy_init();
	if (token && asprintf(&c->auth_header, "Authorization: Bearer %s", token) < 0)
		c->auth_header = NULL, r = -ENOMEM;
	if (!c->url || !c->curl || r < 0) {
		carve_client_free(c);
		return carve_err(err, -ENOMEM, "out of memory");
	}
	*ret = c;
	return 0;
}

const char *carve_client_last_error_code(const struct carve_client *c)
{
	return c->last_code;
}

static int status_to_errno(long status)
{
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	case 413:
		return -E2BIG;
	case 422:
		return -EINVAL;
	case 429:
		return -EAGAIN;
	case 507:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

static int api_error(struct carve_client *c, long status, json_t *answer, struct carve_error *err)
{
	json_t *e = json_object_get(answer, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *field = json_string_value(json_object_get(e, "field"));

	snprintf(c->last_code, sizeof(c->last_code), "%s", code ?: "");
	if (field && err && !carve_err_isset(err))
		snprintf(err->field, sizeof(err->field), "%s", field);
	if (msg && *msg)
		return carve_err(err, status_to_errno(status), "%s", msg);
	return carve_err(err, status_to_errno(status), "carved at %s answered HTTP %ld", c->url,
			 status);
}

int carve_client_request(struct carve_client *c, const char *method, const char *path, json_t *body,
			 json_t **ret, long *ret_status, struct carve_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct buffer buf = {0};
	struct curl_slist *headers = NULL;
	cleanup_free char *full = NULL, *payload = NULL;
	json_error_t jerr;
	json_t *answer = NULL;
	long status = 0, os_errno = 0;
	CURLcode cc;
	int r;

	c->last_code[0] = '\0';
	if (ret_status)
		*ret_status = 0;
	if (asprintf(&full, "%s%s%s", c->base, API_PREFIX, path) < 0)
		return carve_err(err, -ENOMEM, "out of memory");
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		if (!payload)
			return carve_err(err, -ENOMEM, "out of memory");
	}

	curl_easy_reset(c->curl);
	headers = curl_slist_append(headers, "Accept: application/json");
	if (payload)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	if (c->auth_header)
		headers = curl_slist_append(headers, c->auth_header);
	/* "Expect: 100-continue" costs a round trip for nothing. */
	headers = curl_slist_append(headers, "Expect:");
	if (!headers)
		return carve_err(err, -ENOMEM, "out of memory");

	curl_easy_setopt(c->curl, CURLOPT_URL, full);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->socket_path)
		curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	if (streq(method, "GET"))
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	else if (payload) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
	} else if (!streq(method, "DELETE")) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "carve/" CARVE_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 300L);

	cc = curl_easy_perform(c->curl);
	curl_slist_free_all(headers);
	if (cc != CURLE_OK) {
		bool overflow = buf.overflow;

		buffer_release(&buf);
		if (overflow)
			return carve_err(err, -EFBIG, "carved at %s: answer larger than %d bytes",
					 c->url, CLIENT_BODY_MAX);
		/* curl words a unix socket failure as "localhost port 80": say what the OS said. */
		if (c->socket_path &&
		    curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
		    os_errno > 0)
			return carve_err(err, -ENOTCONN, "cannot reach carved at %s: %s", c->url,
					 strerror((int)os_errno));
		return carve_err(err, -ENOTCONN, "cannot reach carved at %s: %s", c->url,
				 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (ret_status)
		*ret_status = status;

	if (buf.len > 0) {
		answer = json_loadb(buf.data, buf.len, JSON_DECODE_ANY, &jerr);
		if (!answer && status >= 200 && status < 300) {
			buffer_release(&buf);
			return carve_err(err, -EBADMSG,
					 "carved at %s: answer is not JSON (HTTP %ld): %s", c->url,
					 status, jerr.text);
		}
	}
	buffer_release(&buf);

	if (status < 200 || status >= 300) {
		r = api_error(c, status, answer, err);
		json_decref(answer);
		return r;
	}
	if (ret)
		*ret = answer;
	else
		json_decref(answer);
	return (int)status;
}

struct download {
	CURL *curl;
	int fd;
	struct buffer err; /* the error answer of a non-2xx status */
	bool failed_write;
	uint64_t written;
};

static size_t download_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct download *dl = userdata;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(dl->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300)
		return write_cb(ptr, size, nmemb, &dl->err);
	if (loop_write(dl->fd, ptr, n) < 0) {
		dl->failed_write = true;
		return 0;
	}
	dl->written += n;
	return n;
}

int carve_client_download(struct carve_client *c, const char *path, int fd, uint64_t *ret_bytes,
			  struct carve_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct download dl = {.curl = c->curl, .fd = fd};
	struct curl_slist *headers = NULL;
	cleanup_free char *full = NULL;
	long status = 0;
	CURLcode cc;
	int r = 0;

	c->last_code[0] = '\0';
	if (asprintf(&full, "%s%s%s", c->base, API_PREFIX, path) < 0)
		return carve_err(err, -ENOMEM, "out of memory");
	curl_easy_reset(c->curl);
	if (c->auth_header)
		headers = curl_slist_append(headers, c->auth_header);
	curl_easy_setopt(c->curl, CURLOPT_URL, full);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->socket_path)
		curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	if (headers)
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "carve/" CARVE_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, download_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &dl);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	cc = curl_easy_perform(c->curl);
	curl_slist_free_all(headers);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (dl.failed_write)
		r = carve_err(err, -EIO, "write the file: %m");
	else if (cc != CURLE_OK && status == 0)
		r = carve_err(err, -ENOTCONN, "cannot reach carved at %s: %s", c->url,
			      errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else if (status < 200 || status >= 300) {
		json_t *answer = dl.err.len ? json_loadb(dl.err.data, dl.err.len, 0, NULL) : NULL;
		r = api_error(c, status, answer, err);
		json_decref(answer);
	} else if (cc != CURLE_OK)
		r = carve_err(err, -EIO, "carved at %s: %s", c->url,
			      errbuf[0] ? errbuf : curl_easy_strerror(cc));
	buffer_release(&dl.err);
	if (r >= 0 && ret_bytes)
		*ret_bytes = dl.written;
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP client of carve: one libcurl easy handle speaking JSON to carved's /api/v1, over its
 * unix socket (unix:///path) or TCP (http://, https://). The client owns its handle, the URL and
 * the bearer secret. Answers are read into memory, at most CLIENT_BODY_MAX bytes. Not thread-safe;
 * curl_global_init() is the caller's job.
 */
#ifndef CARVE_CLI_CLIENT_H
#define CARVE_CLI_CLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"

#define CLIENT_BODY_MAX (16 * 1024 * 1024)

struct carve_client;

/* url as accepted by cli_url_parse(); token may be NULL (no Authorization header). */
int carve_client_new(const char *url, const char *token, struct carve_client **ret,
		     struct carve_error *err);
struct carve_client *carve_client_free(struct carve_client *c);

/*
 * method path (below /api/v1, may carry a query) with an optional JSON body. Returns the HTTP
 * status (2xx) and stores the parsed answer (NULL when empty) in *ret. On an error status fills err
 * with the API's error.message and returns a negative errno fitting the status (404 -ENOENT, 409
 * -EEXIST, 401 -EACCES, ...); on a transport failure returns -ENOTCONN with "cannot reach carved at
 * <url>: <reason>". *ret_status (optional) gets the status either way (0 when nothing came back).
 */
int carve_client_request(struct carve_client *c, const char *method, const char *path, json_t *body,
			 json_t **ret, long *ret_status, struct carve_error *err);

/* GET path and write a 2xx answer's body to fd as it arrives (no size limit); an error answer
 * fills err as carve_client_request does. */
int carve_client_download(struct carve_client *c, const char *path, int fd, uint64_t *ret_bytes,
			  struct carve_error *err);
/* The API's error.code of the last failed request ("not_found"), "" when none. */
const char *carve_client_last_error_code(const struct carve_client *c);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A request body through json_parse_object() and the typed getters, as a handler would use them.
 * Invariants: an accepted object dumps and re-parses to an equal object; accepting with an
 * allow-list implies accepting without one; getters respect their bounds; failures always carry
 * -EINVAL and a message.
 */
#include <string.h>

#include "base/string-util.h"
#include "fuzz.h"
#include "http/http.h"

static const char *const allowed[] = {"name",  "template", "vcpus",	  "memory", "disk",
				      "start", "tags",	   "description", "meta",   NULL};

static void check_getters(json_t *o)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *s = NULL;
	uint64_t u = 0;
	bool b;
	int r;

	for (const char *const *k = allowed; *k; k++) {
		carve_err_clear(&err);
		s = NULL;
		r = json_get_string(o, *k, false, 63, &s, &err);
		fuzz_assert(r == 0 || r == -EINVAL);
		if (r == 0 && s)
			fuzz_assert(strlen(s) <= 63);
		if (r < 0)
			fuzz_assert(streq(err.field, *k) && err.msg[0]);

		carve_err_clear(&err);
		u = 12345;
		r = json_get_uint(o, *k, false, 1, 64, &u, &err);
		fuzz_assert(r == 0 || r == -EINVAL);
		if (r == 0)
			fuzz_assert(u == 12345 || (u >= 1 && u <= 64));
		if (r < 0)
			fuzz_assert(u == 12345 && streq(err.field, *k));

		carve_err_clear(&err);
		r = json_get_uint(o, *k, true, 0, UINT64_MAX, &u, &err);
		fuzz_assert(r == 0 || r == -EINVAL || r == -ENOENT);

		carve_err_clear(&err);
		r = json_get_bool(o, *k, false, &b, &err);
		fuzz_assert(r == 0 || r == -EINVAL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct carve_error err = CARVE_ERROR_INIT, err2 = CARVE_ERROR_INIT;
	json_t *o = NULL, *any = NULL, *again = NULL;
	char *body, *dumped;
	int r, r_any;

	if (size > HTTP_BODY_MAX)
		return 0;
	/* exact-size copy: ASan sees any read past the end */
	body = malloc(size ? size : 1);
	if (!body)
		return 0;
	memcpy(body, data, size);

	r = json_parse_object(body, size, allowed, &o, &err);
	r_any = json_parse_object(body, size, NULL, &any, &err2);
	fuzz_assert(r == 0 || r == -EINVAL);
	fuzz_assert(r_any == 0 || r_any == -EINVAL);
	if (r < 0) {
		fuzz_assert(o == NULL && err.code == -EINVAL && err.msg[0] != '\0');
	} else {
		fuzz_assert(r_any == 0 && json_is_object(o) && json_equal(o, any));
		check_getters(o);

		dumped = json_dumps(o, JSON_COMPACT);
		fuzz_assert(dumped != NULL);
		carve_err_clear(&err);
		r = json_parse_object(dumped, strlen(dumped), allowed, &again, &err);
		fuzz_assert(r == 0);
		fuzz_assert(json_equal(o, again));
		free(dumped);
	}
	json_decref(o);
	json_decref(any);
	json_decref(again);
	free(body);
	return 0;
}

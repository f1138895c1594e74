/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The base parsers for user input: parse_size/format_size, parse_name, parse_uint64, parse_id.
 * Invariants: each parser agrees with its predicate, accepted values are in range and canonical,
 * and format_size() round-trips through parse_size(): exactly when the format has no fraction,
 * within half a tenth of a unit when it has one.
 */
#include <inttypes.h>
#include <string.h>

#include "base/parse-util.h"
#include "fuzz.h"

static void check_format_roundtrip(uint64_t x)
{
	char buf[64], *p;
	uint64_t back = 0, unit = 1, diff;
	size_t n;
	int r;

	format_size(x, buf, sizeof(buf));
	n = strlen(buf);
	fuzz_assert(n > 0 && n < sizeof(buf));
	if (x > INT64_MAX) /* not a size parse_size() accepts */
		return;
	r = parse_size(buf, &back, NULL);
	p = strchr(buf, '.');
	/* just below 2^63 the display may round up past the largest size */
	if (r == -ERANGE && p && x > (uint64_t)INT64_MAX - (UINT64_C(1) << 60) / 20)
		return;
	fuzz_assert(r == 0);
	if (!p) {
		fuzz_assert(back == x);
		return;
	}
	switch (buf[n - 1]) {
	case 'K':
		unit = UINT64_C(1) << 10;
		break;
	case 'M':
		unit = UINT64_C(1) << 20;
		break;
	case 'G':
		unit = UINT64_C(1) << 30;
		break;
	case 'T':
		unit = UINT64_C(1) << 40;
		break;
	case 'P':
		unit = UINT64_C(1) << 50;
		break;
	case 'E':
		unit = UINT64_C(1) << 60;
		break;
	default:
		fuzz_assert(!"a fraction without a suffix");
	}
	/* format rounds to the nearest tenth of a unit, parse truncates to a byte */
	diff = back > x ? back - x : x - back;
	fuzz_assert(diff <= unit / 20 + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct carve_error err = CARVE_ERROR_INIT;
	char s[128], canon[32];
	uint64_t v = 0, x = 0;
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	int r;

	memcpy(s, data, n);
	s[n] = '\0';

	/* sizes */
	r = parse_size(s, &v, &err);
	fuzz_assert(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r == 0) {
		fuzz_assert(v <= INT64_MAX);
		check_format_roundtrip(v);
	} else
		fuzz_assert(err.code == r && err.msg[0] != '\0');

	/* format_size() on the raw bytes as a number, over the whole range */
	if (size >= 8) {
		memcpy(&x, data, 8);
		check_format_roundtrip(x);
		check_format_roundtrip(x >> (x & 63));
		check_format_roundtrip(x & ~((UINT64_C(1) << (x & 63)) - 1));
	}

	/* names */
	carve_err_clear(&err);
	r = parse_name(s, "server", &err);
	fuzz_assert((r == 0) == name_is_valid(s));
	if (r == 0) {
		fuzz_assert(strlen(s) >= 1 && strlen(s) <= CARVE_NAME_MAX);
		fuzz_assert(s[0] >= 'a' && s[0] <= 'z' && s[strlen(s) - 1] != '-');
		for (const char *p = s; *p; p++)
			fuzz_assert((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
				    *p == '-');
	} else
		fuzz_assert(r == -EINVAL && strstr(err.msg, "server name") == err.msg);

	/* integers: accepted means canonical decimal */
	carve_err_clear(&err);
	r = parse_uint64(s, 0, UINT64_MAX, &v, &err);
	fuzz_assert(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r == 0) {
		snprintf(canon, sizeof(canon), "%" PRIu64, v);
		fuzz_assert(strcmp(canon, s) == 0);
		r = parse_uint64(s, v, v, &x, NULL);
		fuzz_assert(r == 0 && x == v);
		if (v > 0)
			fuzz_assert(parse_uint64(s, 0, v - 1, &x, NULL) == -ERANGE);
	}

	/* ids */
	carve_err_clear(&err);
	r = parse_id(s, &err);
	fuzz_assert((r == 0) == id_is_valid(s));
	if (r == 0)
		fuzz_assert(strlen(s) == CARVE_ID_LEN);
	return 0;
}

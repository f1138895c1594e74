/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/parse-util.h"

static const char size_hint[] = "use e.g. 512M, 2G";

int parse_size(const char *s, uint64_t *ret, struct carve_error *err)
{
	uint64_t whole = 0, frac = 0, frac_div = 1, mult = 1;
	const char *p = s;
	int shift = 0;

	if (!s || !*s)
		return carve_err(err, -EINVAL, "empty size (%s)", size_hint);
	if (strlen(s) > 32)
		return carve_err(err, -EINVAL, "size too long (%s)", size_hint);
	if (!isdigit((unsigned char)*p))
		goto bad;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			goto range;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_div >= 1000000000ULL)
				continue; /* more precision than a byte can hold */
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_div *= 10;
		}
	}
	switch (toupper((unsigned char)*p)) {
	case '\0':
		break;
	case 'B':
		if (p[1] != '\0')
			goto bad;
		p++;
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	case 'P':
		shift = 50;
		break;
	case 'E':
		shift = 60;
		break;
	default:
		goto bad;
	}
	if (shift) {
		p++;
		if (*p == 'i')
			p++;
		if (toupper((unsigned char)*p) == 'B')
			p++;
		if (*p != '\0')
			goto bad;
	}
	if (frac && !shift)
		goto bad; /* "1.5" bytes */
	mult = UINT64_C(1) << shift;
	if (whole > (uint64_t)INT64_MAX / mult)
		goto range;
	whole *= mult;
	frac = (uint64_t)((unsigned __int128)frac * mult / frac_div);
	if (whole > (uint64_t)INT64_MAX - frac)
		goto range;
	*ret = whole + frac;
	return 0;
bad:
	return carve_err(err, -EINVAL, "'%s': not a size (%s)", s, size_hint);
range:
	return carve_err(err, -ERANGE, "'%s': size too large", s);
}

char *format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char suffix[] = "KMGTPE";

	for (int i = 5; i >= 0; i--) {
		uint64_t unit = UINT64_C(1) << (10 * (i + 1));
		uint64_t whole = bytes / unit, rest = bytes % unit;

		if (whole == 0)
			continue;
		if (rest == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", whole, suffix[i]);
		} else {
			/* one decimal, rounded to nearest; a fraction always shows it is inexact */
			uint64_t tenths =
				(uint64_t)(((unsigned __int128)rest * 10 + unit / 2) / unit);
			if (tenths == 10) {
				whole++;
				tenths = 0;
			}
			snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "%c", whole, tenths, suffix[i]);
		}
		return buf;
	}
	snprintf(buf, len, "%" PRIu64, bytes);
	return buf;
}

bool name_is_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > CARVE_NAME_MAX)
		return false;
	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	if (s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

int parse_name(const char *s, const char *kind, struct carve_error *err)
{
	size_t n;

	if (!s || !*s)
		return carve_err(err, -EINVAL, "%s name is empty", kind);
	n = strnlen(s, CARVE_NAME_MAX + 1);
	if (n > CARVE_NAME_MAX)
		return carve_err(err, -EINVAL, "%s name is longer than %d characters", kind,
				 CARVE_NAME_MAX);
	if (!name_is_valid(s))
		return carve_err(
			err, -EINVAL,
			"%s name '%.*s': use lowercase letters, digits and '-', starting with a letter and not ending with '-'",
			kind, (int)n, s);
	return 0;
}

int parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *ret, struct carve_error *err)
{
	uint64_t v = 0;

	if (!s || !*s)
		return carve_err(err, -EINVAL, "empty number");
	if (strlen(s) > 20 || (s[0] == '0' && s[1] != '\0'))
		goto bad;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			goto bad;
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			goto range;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min || v > max)
		goto range;
	*ret = v;
	return 0;
bad:
	return carve_err(err, -EINVAL, "'%.32s': not a number", s);
range:
	return carve_err(err, -ERANGE, "'%.32s': out of range %" PRIu64 "..%" PRIu64, s, min, max);
}

bool id_is_valid(const char *s)
{
	if (!s || strlen(s) != CARVE_ID_LEN)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int parse_id(const char *s, struct carve_error *err)
{
	if (!id_is_valid(s))
		return carve_err(err, -EINVAL, "'%.40s': not an id (32 hex characters)",
				 s ? s : "");
	return 0;
}

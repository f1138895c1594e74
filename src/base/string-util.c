/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "base/string-util.h"

bool mem_is_zero(const void *p, size_t n)
{
	static const uint8_t zero[4096];
	const uint8_t *b = p;

	for (; n >= sizeof(zero); b += sizeof(zero), n -= sizeof(zero))
		if (memcmp(b, zero, sizeof(zero)) != 0)
			return false;
	return n == 0 || memcmp(b, zero, n) == 0;
}

int strscpy(char *dst, const char *src, size_t n)
{
	size_t l = strlen(src);

	if (n == 0)
		return -E2BIG;
	if (l >= n) {
		memcpy(dst, src, n - 1);
		dst[n - 1] = '\0';
		return -E2BIG;
	}
	memcpy(dst, src, l + 1);
	return 0;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int random_id(char out[33])
{
	uint8_t b[16];
	int r = random_bytes(b, sizeof(b));

	if (r < 0)
		return r;
	hex_encode(b, sizeof(b), out);
	return 0;
}

bool memeq_consttime(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void format_timestamp(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

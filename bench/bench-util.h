/* SPDX-License-Identifier: Apache-2.0 */
/* What the benchmark drivers share: a monotonic clock, a response buffer for libcurl, and a
 * field of /proc/PID/status or smaps_rollup. */
#ifndef CARVE_BENCH_UTIL_H
#define CARVE_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

#define BENCH_BODY_MAX (1 << 20)

/* A response body, NUL-terminated; bench_buf_write is its CURLOPT_WRITEFUNCTION (a body
 * larger than the buffer fails the transfer). */
struct bench_buf {
	char data[BENCH_BODY_MAX];
	size_t len;
};
size_t bench_buf_write(char *p, size_t size, size_t n, void *userdata);

/* KEY's value in kB (or the bare number, e.g. PPid) from /proc/PID/FILE ("status" VmRSS,
 * "smaps_rollup" Pss); -1 when it cannot be read. */
long bench_proc_kib(long pid, const char *file, const char *key);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Functions that are too easy to misuse: unbounded copies, formats without a size, tokenizers
 * with hidden state, conversions that cannot report errors. Included into every translation unit
 * by meson (-include), so a use is a compile error. Use snprintf, strscpy-like helpers in
 * string-util.h, strtok_r, and the parsers in parse-util.h instead (git's banned.h).
 */
#ifndef CARVE_BANNED_H
#define CARVE_BANNED_H

/* The system headers first, so the macros below do not rewrite their declarations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef atoll
#define atoll(x) BANNED(atoll)
#undef gets
#define gets(x) BANNED(gets)

#endif

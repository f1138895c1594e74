/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the net module's files: entering the host namespace for one operation and
 * running a tool (nft, tc, dnsmasq) inside it.
 */
#ifndef CARVE_NET_INTERNAL_H
#define CARVE_NET_INTERNAL_H

#include "net/net.h"

/* Switch the calling thread into netns_fd (no-op for -EBADF); *ret_saved holds the old one. */
int netns_enter(int netns_fd, int *ret_saved);
/* Switch back and close saved. */
void netns_leave(int *saved);

/* Run argv[0] (looked up in the sbin/bin directories) inside netns_fd with input on stdin; the
 * combined stdout and stderr go to *ret_output when non-NULL. Returns the exit status (>= 0) or
 * -errno when it could not run. */
int net_run(int netns_fd, const char *const *argv, const char *input, char **ret_output);
/* Same, and an error naming the tool and its output when the status is not 0. */
int net_run_checked(int netns_fd, const char *const *argv, const char *input, char **ret_output,
		    struct carve_error *err);

/* A growable string. */
struct strbuf {
	char *s;
	size_t len, cap;
	bool oom;
};
void sb_printf(struct strbuf *b, const char *fmt, ...) _printf_(2, 3);
/* Hand the string over (NULL and -ENOMEM if an append failed). */
int sb_take(struct strbuf *b, char **ret);

#endif

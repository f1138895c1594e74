/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What carve-monitor and its client library share: the names of the files in the run directory,
 * the socket address (with a /proc/self/fd detour for directories too long for sun_path), and the
 * config.json field names. Internal to src/monitor.
 */
#ifndef CARVE_MONITOR_PROTOCOL_H
#define CARVE_MONITOR_PROTOCOL_H

#include <sys/socket.h>
#include <sys/un.h>
#include "monitor/monitor.h"

#define MONITOR_CONFIG_FILE "config.json"
#define MONITOR_SOCK_FILE "monitor.sock"
#define MONITOR_PID_FILE "monitor.pid"
#define MONITOR_CONSOLE_FILE "console.log"
#define MONITOR_EXIT_FILE "exit.json"
#define MONITOR_LOG_FILE "monitor.log"
#define MONITOR_LINE_MAX 4096
/* a request line (an exec request carries argv and env) and a whole frame fit in this */
#define MONITOR_FRAME_HEADER 5
#define MONITOR_REQUEST_MAX (MONITOR_FRAME_MAX_PAYLOAD + MONITOR_FRAME_HEADER)
#define MONITOR_EXEC_MAX_ARGS 4096

/*
 * Fill *addr for <dir>/monitor.sock. When the path does not fit in sun_path, *ret_dirfd receives
 * an O_PATH fd of dir (the caller closes it after bind/connect) and the address goes through
 * /proc/self/fd/N/. Otherwise *ret_dirfd is -EBADF.
 */
int monitor_sock_address(const char *dir, struct sockaddr_un *addr, socklen_t *ret_len,
			 int *ret_dirfd);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where carve finds carved and which secret it sends. The address comes from --url, else
 * $CARVE_URL, else the config file ($XDG_CONFIG_HOME or ~/.config, /carve/config.json, mode 0600,
 * written by `carve login`), else, for root, the local socket <run-dir>/carved.sock
 * ($CARVE_RUN_DIR, default /run/carve). The token comes from --token, else $CARVE_TOKEN, else the
 * config file; the file's secret is only sent to the address it was issued by. A struct cli_config
 * owns its strings.
 */
#ifndef CARVE_CLI_CONFIG_H
#define CARVE_CLI_CONFIG_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"

#define CLI_DEFAULT_RUN_DIR "/run/carve"

enum cli_source {
	CLI_SOURCE_NONE,
	CLI_SOURCE_FLAG,
	CLI_SOURCE_ENV,
	CLI_SOURCE_CONFIG,
	CLI_SOURCE_SOCKET,
};

struct cli_config {
	char *url; /* NULL when no address is known */
	char *token; /* NULL when none */
	char *user; /* from the config file, informational */
	enum cli_source url_source, token_source;
};

void cli_config_release(struct cli_config *c);

/* The config file's path, from $XDG_CONFIG_HOME or $HOME. -ENOENT when neither is set. */
int cli_config_path(char **ret);

/* Read the config file; a missing file gives an empty config and 0. */
int cli_config_load(const char *path, struct cli_config *ret, struct carve_error *err);

/* Write url, token (may be NULL) and user (may be NULL) atomically with mode 0600, creating the
 * directory with mode 0700. */
int cli_config_save(const char *path, const char *url, const char *token, const char *user,
		    struct carve_error *err);

/* Resolve address and token (see the top of this file). euid decides the root-only socket. */
int cli_config_resolve(const char *flag_url, const char *flag_token, uid_t euid,
		       struct cli_config *ret, struct carve_error *err);

/*
 * Split a carved URL: "unix:///path/carved.sock" gives socket path "/path/carved.sock" and base
 * "http://localhost"; "http://host:port[/prefix]" and https give no socket and the URL without a
 * trailing '/'. Anything else is -EINVAL with a message naming the URL.
 */
int cli_url_parse(const char *url, char **ret_socket, char **ret_base, struct carve_error *err);

#endif

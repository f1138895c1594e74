/* SPDX-License-Identifier: Apache-2.0 */
/* carve event: the provider's event log (e.g. pool.fill), newest first. */
#include <inttypes.h>
#include <stdio.h>

#include "base/parse-util.h"
#include "cli/cli.h"

#define EVENT_LIST_LIMIT_MAX 10000

static const struct cli_column event_columns[] = {
	{"ID", "id"},	      {"AT", "at"},	      {"KIND", "kind"},
	{"OBJECT", "object"}, {"MESSAGE", "message"}, {NULL},
};

static int run_list(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *limit = cli_args_get(a, "limit");
	char path[64] = "/events";
	uint64_t n;

	if (limit) {
		if (parse_uint64(limit, 1, EVENT_LIST_LIMIT_MAX, &n, &err) < 0) {
			carve_err_prefix(&err, "limit");
			return cli_invalid(cli, &err);
		}
		snprintf(path, sizeof(path), "/events?limit=%" PRIu64, n);
	}
	return cli_list(cli, path, "events", event_columns);
}

static const struct cli_option list_options[] = {
	{"limit", 'n', "N", "at most N events, 1..10000 (default 100)"},
	{NULL},
};

const struct cli_group cli_group_event = {
	"event",
	"the provider's event log (provider admin)",
	(const struct cli_verb[]){
		{"list", "[--limit N]", "list events, newest first",
		 "Example:\n  carve event list --limit 20", list_options, 0, 0, run_list},
		{NULL},
	},
};

/* SPDX-License-Identifier: Apache-2.0 */
/* carve server: virtual servers (containers and VMs) and their life cycle. */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "cli/cli.h"

static const struct cli_column server_columns[] = {
	{"NAME", "name"},	{"TENANT", "tenant"},	  {"KIND", "kind"},
	{"STATE", "state"},	{"VCPUS", "vcpus"},	  {"MEMORY", "memory", true},
	{"DISK", "disk", true}, {"TEMPLATE", "template"}, {NULL},
};

static const struct cli_column server_fields[] = {
	{"name", "name"},
	{"id", "id"},
	{"tenant", "tenant"},
	{"kind", "kind"},
	{"machine", "machine"},
	{"accel", "accel"},
	{"template", "template"},
	{"state", "state"},
	{"state_reason", "state_reason"},
	{"vcpus", "vcpus"},
	{"memory", "memory", true},
	{"pool", "pool"},
	{"disk", "disk", true},
	{"disk_used", "disk_used", true},
	{"pids_max", "pids_max"},
	{"io_read_bps", "io_read_bps", true},
	{"io_write_bps", "io_write_bps", true},
	{"io_read_iops", "io_read_iops"},
	{"io_write_iops", "io_write_iops"},
	{"init_pid", "init_pid"},
	{"created_at", "created_at"},
	{"updated_at", "updated_at"},
	{NULL},
};

/* "/servers/<name>[/<action>][?tenant=T]" */
static char *server_path(const char *name, const char *action, const char *tenant)
{
	cleanup_free char *p = NULL;

	if (asprintf(&p, "/servers/%s%s%s", name, action ? "/" : "", action ? action : "") < 0)
		return NULL;
	return cli_path_with_tenant(p, tenant);
}

/* Validate NAME and --tenant; returns an exit code. */
static int check_target(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *tenant = cli_args_get(a, "tenant");

	if (cli_check_name("server", a->pos[0], &err) < 0)
		return cli_invalid(cli, &err);
	if (tenant && cli_check_name("tenant", tenant, &err) < 0) {
		carve_err_prefix(&err, "server '%s'", a->pos[0]);
		return cli_invalid(cli, &err);
	}
	return CLI_EXIT_OK;
}

/* After a change: print the server as it is now (JSON), or one line naming its state. */
static int report(struct cli *cli, const char *name, const char *tenant, const char *what)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = server_path(name, NULL, tenant);
	json_t *answer = NULL, *server;

	if (cli->quiet && !cli->json)
		return CLI_EXIT_OK;
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "GET", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "server", name);
	server = cli_unwrap(answer, "server");
	if (cli->json)
		cli_print_json(cli, server);
	else
		fprintf(cli->out, "server '%s' %s (state: %s)\n", name, what,
			json_string_value(json_object_get(server, "state")) ?: "-");
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_list(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;

	if (tenant && cli_check_name("tenant", tenant, &err) < 0)
		return cli_invalid(cli, &err);
	path = cli_path_with_tenant("/servers", tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_list(cli, path, "servers", server_columns);
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	cleanup_free char *path = NULL;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = server_path(a->pos[0], NULL, cli_args_get(a, "tenant"));
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_show(cli, path, "server", server_fields, "server", a->pos[0]);
}

/* Limits beyond vcpus, memory and disk: option, API field, size or count (0 lifts a limit). */
static const struct {
	const char *option, *field;
	bool bytes;
	uint64_t max;
} counted_limits[] = {
	{"pids-max", "pids_max", false, 4194304},
	{"io-read-bps", "io_read_bps", true, 0},
	{"io-write-bps", "io_write_bps", true, 0},
	{"io-read-iops", "io_read_iops", false, 100000000},
	{"io-write-iops", "io_write_iops", false, 100000000},
};

/* --vcpus, --memory, --disk and the counted limits into body; returns an exit code. */
static int add_limits(struct cli *cli, const struct cli_args *a, json_t *body)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *vcpus = cli_args_get(a, "vcpus"),
		   *memory = cli_args_get(a, "memory"), *disk = cli_args_get(a, "disk");
	uint64_t v;

	if (vcpus) {
		if (cli_parse_vcpus("server", name, vcpus, &v, &err) < 0)
			return cli_invalid(cli, &err);
		json_object_set_new(body, "vcpus", json_integer((json_int_t)v));
	}
	if (memory) {
		if (cli_parse_memory("server", name, memory, &v, &err) < 0)
			return cli_invalid(cli, &err);
		json_object_set_new(body, "memory", json_integer((json_int_t)v));
	}
	if (disk) {
		if (cli_parse_size("server", name, "disk", disk, &v, &err) < 0)
			return cli_invalid(cli, &err);
		json_object_set_new(body, "disk", json_integer((json_int_t)v));
	}
	for (size_t i = 0; i < ELEMENTSOF(counted_limits); i++) {
		const char *s = cli_args_get(a, counted_limits[i].option);
		struct carve_error e = CARVE_ERROR_INIT;

		if (!s)
			continue;
		if (counted_limits[i].bytes
			    ? parse_size(s, &v, &e) < 0
			    : parse_uint64(s, 0, counted_limits[i].max, &v, &e) < 0) {
			carve_err_field(&err, -EINVAL, counted_limits[i].field,
					"server '%s': --%s: %s", name, counted_limits[i].option,
					e.msg);
			return cli_invalid(cli, &err);
		}
		json_object_set_new(body, counted_limits[i].field, json_integer((json_int_t)v));
	}
	return cli_network_options(cli, a, name, body);
}

static bool has_limits(const struct cli_args *a)
{
	if (cli_args_has(a, "vcpus") || cli_args_has(a, "memory") || cli_args_has(a, "disk") ||
	    cli_args_has(a, "bandwidth"))
		return true;
	for (size_t i = 0; i < ELEMENTSOF(counted_limits); i++)
		if (cli_args_has(a, counted_limits[i].option))
			return true;
	return false;
}

static int run_create(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *template = cli_args_get(a, "template"),
		   *kind = cli_args_get(a, "kind"), *tenant = cli_args_get(a, "tenant"),
		   *pool = cli_args_get(a, "pool"), *machine = cli_args_get(a, "machine");
	bool no_wait = cli_args_has(a, "no-wait");
	json_t *body, *answer = NULL;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (!template)
		return cli_usage(cli,
				 "server '%s': --template is required (see 'carve template list')",
				 name);
	if (cli_check_name("template", template, &err) < 0) {
		carve_err_prefix(&err, "server '%s'", name);
		return cli_invalid(cli, &err);
	}
	if (kind && !streq(kind, "container") && !streq(kind, "vm")) {
		carve_err_field(&err, -EINVAL, "kind",
				"server '%s': kind '%.32s': use container or vm", name, kind);
		return cli_invalid(cli, &err);
	}
	if (machine && !streq(machine, "q35") && !streq(machine, "microvm")) {
		carve_err_field(&err, -EINVAL, "machine",
				"server '%s': machine '%.32s': use q35 or microvm", name, machine);
		return cli_invalid(cli, &err);
	}
	if (pool && cli_check_name("pool", pool, &err) < 0) {
		carve_err_prefix(&err, "server '%s'", name);
		return cli_invalid(cli, &err);
	}
	body = json_pack("{s:s, s:s}", "name", name, "template", template);
	if (!body)
		return CLI_EXIT_FAILURE;
	ex = add_limits(cli, a, body);
	if (ex == CLI_EXIT_OK) {
		if (kind)
			json_object_set_new(body, "kind", json_string(kind));
		if (tenant)
			json_object_set_new(body, "tenant", json_string(tenant));
		if (pool)
			json_object_set_new(body, "pool", json_string(pool));
		if (machine)
			json_object_set_new(body, "machine", json_string(machine));
		if (cli_request(cli, "POST", "/servers", body, &answer, &err) < 0)
			ex = cli_fail_object(cli, &err, "server", name);
	}
	json_decref(body);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (no_wait && cli->json && json_object_get(answer, "task")) {
		/* The task is what --no-wait promises; keep the server beside it. */
		cli_print_json(cli, answer);
		json_decref(answer);
		return CLI_EXIT_OK;
	}
	ex = cli_task_follow(cli, answer, no_wait, "server", name);
	json_decref(answer);
	if (ex != CLI_EXIT_OK || no_wait)
		return ex;
	return report(cli, name, tenant, "created");
}

static int run_set(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0];
	cleanup_free char *path = NULL;
	json_t *body, *answer = NULL;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (!has_limits(a))
		return cli_usage(cli,
				 "server '%s': nothing to change (use --vcpus, --memory, --disk, "
				 "--pids-max, --io-* or --bandwidth)",
				 name);
	body = json_object();
	if (!body)
		return CLI_EXIT_FAILURE;
	ex = add_limits(cli, a, body);
	path = server_path(name, NULL, cli_args_get(a, "tenant"));
	if (ex == CLI_EXIT_OK && !path)
		ex = CLI_EXIT_FAILURE;
	if (ex == CLI_EXIT_OK && cli_request(cli, "PATCH", path, body, &answer, &err) < 0)
		ex = cli_fail_object(cli, &err, "server", name);
	json_decref(body);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (cli->json)
		cli_print_json(cli, cli_unwrap(answer, "server"));
	else if (!cli->quiet)
		fprintf(cli->out, "server '%s' updated\n", name);
	json_decref(answer);
	return CLI_EXIT_OK;
}

/* start, stop, restart, delete: a 202 with a task to follow. */
static int operate(struct cli *cli, const struct cli_args *a, const char *method,
		   const char *action, const char *what)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *tenant = cli_args_get(a, "tenant");
	bool no_wait = cli_args_has(a, "no-wait");
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = server_path(name, action, tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, method, path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "server", name);
	ex = cli_task_follow(cli, answer, no_wait, "server", name);
	json_decref(answer);
	if (ex != CLI_EXIT_OK || no_wait)
		return ex;
	if (!action) {
		if (!cli->quiet && !cli->json)
			fprintf(cli->out, "server '%s' deleted\n", name);
		return CLI_EXIT_OK;
	}
	return report(cli, name, tenant, what);
}

static int run_start(struct cli *cli, const struct cli_args *a)
{
	return operate(cli, a, "POST", "start", "started");
}

static int run_stop(struct cli *cli, const struct cli_args *a)
{
	return operate(cli, a, "POST", "stop", "stopped");
}

static int run_restart(struct cli *cli, const struct cli_args *a)
{
	return operate(cli, a, "POST", "restart", "restarted");
}

static int run_delete(struct cli *cli, const struct cli_args *a)
{
	return operate(cli, a, "DELETE", NULL, "deleted");
}

/* pause, resume, reset: answered at once with the server (the cgroup freezer and QMP need no
 * task). */
static int freeze(struct cli *cli, const struct cli_args *a, const char *action, const char *what)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	int ex;

	ex = check_target(cli, a);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = server_path(name, action, tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "POST", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "server", name);
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "server '%s' %s (state: %s)\n", name, what,
			json_string_value(json_object_get(answer, "state")) ?: "?");
	json_decref(answer);
	return CLI_EXIT_OK;
}

static int run_pause(struct cli *cli, const struct cli_args *a)
{
	return freeze(cli, a, "pause", "paused");
}

static int run_resume(struct cli *cli, const struct cli_args *a)
{
	return freeze(cli, a, "resume", "resumed");
}

static int run_reset(struct cli *cli, const struct cli_args *a)
{
	return freeze(cli, a, "reset", "reset");
}

#define TENANT_OPTION                                                                    \
	{                                                                                \
		"tenant", 't', "TENANT", "the server's tenant (admin, when names clash)" \
	}
#define NO_WAIT_OPTION                                                     \
	{                                                                  \
		"no-wait", 0, NULL, "print the task id and return at once" \
	}

static const struct cli_option list_options[] = {
	{"tenant", 't', "TENANT", "only this tenant's servers (admin)"},
	{NULL},
};

static const struct cli_option create_options[] = {
	{"template", 'T', "TEMPLATE", "the template to create the server from (required)"},
	{"vcpus", 'c', "N", "virtual CPUs, 1..256"},
	{"memory", 'm', "SIZE", "memory limit, e.g. 512M, 2G"},
	{"disk", 'd', "SIZE", "root disk size, e.g. 2G (default 2G; needs a volume pool)"},
	{"pool", 'p', "POOL", "the storage pool of its disk (default: default)"},
	{"pids-max", 0, "N", "processes and threads it may have (0: only the tenant's cap)"},
	{"io-read-bps", 0, "SIZE", "disk read bytes per second, e.g. 100M (0: unlimited)"},
	{"io-write-bps", 0, "SIZE", "disk write bytes per second, e.g. 50M (0: unlimited)"},
	{"io-read-iops", 0, "N", "disk read operations per second (0: unlimited)"},
	{"io-write-iops", 0, "N", "disk write operations per second (0: unlimited)"},
	{"kind", 'k', "KIND", "container (default) or vm"},
	{"machine", 0, "MACHINE",
	 "vm: q35 (default; firmware, PCI devices) or microvm (direct kernel boot templates only; "
	 "no firmware, virtio-mmio devices)"},
	{"tenant", 't', "TENANT", "create for this tenant (admin)"},
	{"network", 'n', "NET[,ip=A][,dhcp]",
	 "an interface on network NET (repeatable: eth0, eth1, ...); ip= a fixed address, dhcp: "
	 "the server configures it by DHCP"},
	{"bandwidth", 'b', "RATE", "bandwidth limit each way in bits/s, e.g. 50M (0: none)"},
	NO_WAIT_OPTION,
	{NULL},
};

static const struct cli_option show_options[] = {
	TENANT_OPTION,
	{NULL},
};

static const struct cli_option set_options[] = {
	{"vcpus", 'c', "N", "virtual CPUs, 1..256"},
	{"memory", 'm', "SIZE", "memory limit, e.g. 512M, 2G"},
	{"disk", 'd', "SIZE", "grow the root disk to SIZE (at once; disks only grow)"},
	{"pids-max", 0, "N", "processes and threads it may have (0: only the tenant's cap)"},
	{"io-read-bps", 0, "SIZE", "disk read bytes per second, e.g. 100M (0: unlimited)"},
	{"io-write-bps", 0, "SIZE", "disk write bytes per second, e.g. 50M (0: unlimited)"},
	{"io-read-iops", 0, "N", "disk read operations per second (0: unlimited)"},
	{"io-write-iops", 0, "N", "disk write operations per second (0: unlimited)"},
	{"bandwidth", 'b', "RATE", "bandwidth limit each way in bits/s, e.g. 50M (0: none)"},
	TENANT_OPTION,
	{NULL},
};

static const struct cli_option operate_options[] = {
	NO_WAIT_OPTION,
	TENANT_OPTION,
	{NULL},
};

const struct cli_group cli_group_server = {
	"server",
	"manage virtual servers",
	(const struct cli_verb[]){
		{"list", "[--tenant T]", "list servers", "Example:\n  carve server list --json",
		 list_options, 0, 0, run_list},
		{"create",
		 "NAME --template T [--vcpus N] [--memory SIZE] [--disk SIZE] [--pool P] [--kind KIND] "
		 "[--machine q35|microvm] [--network NET[,ip=A][,dhcp]]... [--bandwidth RATE] "
		 "[--no-wait]",
		 "create a server and wait until it is provisioned",
		 "Sizes take K, M, G, T suffixes (binary: 1G = 1024M).\n"
		 "Example:\n  carve server create web1 --template debian-12 --vcpus 2 --memory 1G "
		 "--disk 10G\n  carve server create vm1 --template busybox-vm --kind vm --machine "
		 "microvm --memory 256M",
		 create_options, 1, 1, run_create},
		{"show", "NAME", "show a server", "Example:\n  carve server show web1",
		 show_options, 1, 1, run_show},
		{"set",
		 "NAME [--vcpus N] [--memory SIZE] [--disk SIZE] [--pids-max N] [--io-* N] [--bandwidth RATE]",
		 "change a server's limits (at once when it runs; a VM's vCPUs and memory at its next "
		 "start) or grow its disk",
		 "Example:\n  carve server set web1 --memory 2G --disk 20G --io-write-bps 50M",
		 set_options, 1, 1, run_set},
		{"start", "NAME [--no-wait]", "start a server",
		 "Example:\n  carve server start web1", operate_options, 1, 1, run_start},
		{"stop", "NAME [--no-wait]", "stop a server", "Example:\n  carve server stop web1",
		 operate_options, 1, 1, run_stop},
		{"restart", "NAME [--no-wait]", "restart a server",
		 "Example:\n  carve server restart web1", operate_options, 1, 1, run_restart},
		{"pause", "NAME", "freeze every process of a running server",
		 "Example:\n  carve server pause web1", show_options, 1, 1, run_pause},
		{"resume", "NAME", "thaw a paused server", "Example:\n  carve server resume web1",
		 show_options, 1, 1, run_resume},
		{"reset", "NAME", "hard-reset a running VM (its reset button: no shutdown)",
		 "The guest reboots at once, as on a power cycle, without an ACPI shutdown;\n"
		 "QEMU and the server keep running. VMs only (containers: restart).\n\n"
		 "Example:\n  carve server reset vm1",
		 show_options, 1, 1, run_reset},
		{"delete", "NAME [--no-wait]", "delete a stopped server and its volumes",
		 "Example:\n  carve server delete web1", operate_options, 1, 1, run_delete},
		{NULL},
	},
};

/* SPDX-License-Identifier: Apache-2.0 */
/* carve template: the OS and application images servers are made from. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "cli/cli.h"

static const struct cli_column template_columns[] = {
	{"NAME", "name"},
	{"KIND", "kind"},
	{"OS", "os"},
	{"INIT", "init"},
	{"DESCRIPTION", "description"},
	{NULL},
};

static const struct cli_column template_fields[] = {
	{"name", "name"},
	{"id", "id"},
	{"kind", "kind"},
	{"os", "os"},
	{"init", "init"},
	{"description", "description"},
	{"stop_signal", "stop_signal"},
	{"volume", "volume"},
	{"disk_min", "disk_min", true},
	{"created_at", "created_at"},
	{NULL},
};

static int run_list(struct cli *cli, const struct cli_args *a)
{
	return cli_list(cli, "/templates", "templates", template_columns);
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = NULL;

	if (cli_check_name("template", a->pos[0], &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&path, "/templates/%s", a->pos[0]) < 0)
		return CLI_EXIT_FAILURE;
	return cli_show(cli, path, "template", template_fields, "template", a->pos[0]);
}

static const struct cli_option import_options[] = {
	{"rootfs", 'r', "FILE",
	 "root filesystem archive (tar or tar.zst) on the carved host; a relative path is made "
	 "absolute from here"},
	{"image", 'i', "FILE",
	 "instead of --rootfs: a VM disk image (qcow2 or raw) on the carved host, booted by its own "
	 "bootloader"},
	{"disk", 'd', "SIZE", "the template's disk: files must fit (default 2G)"},
	{"os", 0, "OS", "OS id (default: ID= of the archive's os-release)"},
	{"init", 0, "PATH", "init inside the root (default /sbin/init)"},
	{"stop-signal", 0, "SIG",
	 "signal that powers init off (default: SIGRTMIN+3 for systemd, SIGPWR for sysvinit)"},
	{"description", 0, "TEXT", "one line shown in template list"},
	{"no-wait", 0, NULL, "print the task and return at once"},
	{NULL},
};

static int run_import(struct cli *cli, const struct cli_args *a)
{
	static const char *const passthrough[][2] = {
		{"disk", "disk"},
		{"os", "os"},
		{"init", "init"},
		{"stop-signal", "stop_signal"},
		{"description", "description"},
	};
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *rootfs = cli_args_get(a, "rootfs"),
		   *image = cli_args_get(a, "image");
	const char *what = image ? "image" : "rootfs";
	bool no_wait = cli_args_has(a, "no-wait");
	char abs[PATH_MAX];
	json_t *body, *answer = NULL;
	int ex;

	if (cli_check_name("template", name, &err) < 0)
		return cli_invalid(cli, &err);
	if (image && rootfs)
		return cli_usage(cli, "template '%s': --rootfs or --image, not both", name);
	if (image)
		rootfs = image;
	if (!rootfs || !*rootfs)
		return cli_usage(cli, "template '%s': --rootfs FILE or --image FILE is required",
				 name);
	if (rootfs[0] != '/') {
		if (!realpath(rootfs, abs))
			return cli_usage(cli, "template '%s': %s '%s': %s", name, what, rootfs,
					 strerror(errno));
		rootfs = abs;
	}
	body = json_pack("{s:s, s:s}", "name", name, what, rootfs);
	if (!body)
		return CLI_EXIT_FAILURE;
	for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++) {
		const char *v = cli_args_get(a, passthrough[i][0]);

		if (v)
			json_object_set_new(body, passthrough[i][1], json_string(v));
	}
	ex = cli_request(cli, "POST", "/templates", body, &answer, &err) < 0
		     ? cli_fail_object(cli, &err, "template", name)
		     : CLI_EXIT_OK;
	json_decref(body);
	if (ex != CLI_EXIT_OK)
		return ex;
	ex = cli_task_follow(cli, answer, no_wait, "template", name);
	json_decref(answer);
	if (ex != CLI_EXIT_OK || no_wait || (cli->quiet && !cli->json))
		return ex;
	if (cli->json) {
		cleanup_free char *path = NULL;

		if (asprintf(&path, "/templates/%s", name) < 0)
			return CLI_EXIT_FAILURE;
		if (cli_request(cli, "GET", path, NULL, &answer, &err) < 0)
			return cli_fail_object(cli, &err, "template", name);
		cli_print_json(cli, answer);
		json_decref(answer);
	} else
		fprintf(cli->out, "template '%s' imported\n", name);
	return CLI_EXIT_OK;
}

static int run_delete(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *path = NULL;
	json_t *answer = NULL;

	if (cli_check_name("template", a->pos[0], &err) < 0)
		return cli_invalid(cli, &err);
	if (asprintf(&path, "/templates/%s", a->pos[0]) < 0)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "template", a->pos[0]);
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "template '%s' deleted\n", a->pos[0]);
	json_decref(answer);
	return CLI_EXIT_OK;
}

const struct cli_group cli_group_template = {
	"template",
	"list, import and delete the templates servers are created from",
	(const struct cli_verb[]){
		{"list", "", "list templates", "Example:\n  carve template list", NULL, 0, 0,
		 run_list},
		{"show", "NAME", "show a template", "Example:\n  carve template show debian-12",
		 NULL, 1, 1, run_show},
		{"import",
		 "NAME (--rootfs FILE [--disk SIZE] [--init PATH] [--stop-signal SIG] | --image FILE)",
		 "import a root filesystem archive as a container template, or a disk image as a VM "
		 "template (provider admin)",
		 "The archive (tar or tar.zst; ustar, GNU or pax) is read by carved from a path on\n"
		 "its host and extracted into a new volume of --disk size as untrusted input: absolute\n"
		 "or '..' names, writes through symlinks, device nodes and owners outside 0..65535\n"
		 "are refused. The stop signal is detected from init (systemd: SIGRTMIN+3,\n"
		 "sysvinit: SIGPWR) unless given.\n"
		 "Example:\n  scripts/debian-rootfs.sh\n"
		 "  carve template import debian-12 --rootfs /var/tmp/carve-debian/debian-12-systemd.tar.zst\n"
		 "A disk image (--image) is converted to raw by qemu-img without format probing;\n"
		 "one with a backing file or an external data file is refused.\n"
		 "  carve template import debian-12-vm --image debian-12-genericcloud-amd64.qcow2",
		 import_options, 1, 1, run_import},
		{"delete", "NAME", "delete an imported template no server uses (provider admin)",
		 "Example:\n  carve template delete debian-12", NULL, 1, 1, run_delete},
		{NULL},
	},
};

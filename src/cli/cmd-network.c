/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carve network: a tenant's private networks and the interfaces of its servers on them.
 * carve port: ports of a server published on the host's public address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "cli/cli.h"

static const struct cli_column network_columns[] = {
	{"NAME", "name"},	{"TENANT", "tenant"}, {"SUBNET", "subnet"},
	{"GATEWAY", "gateway"}, {"BRIDGE", "bridge"}, {NULL},
};

static const struct cli_column network_fields[] = {
	{"name", "name"},
	{"tenant", "tenant"},
	{"subnet", "subnet"},
	{"gateway", "gateway"},
	{"bridge", "bridge"},
	{"domain", "domain"},
	{"dnsmasq_pid", "dnsmasq_pid"},
	{"dropped_packets", "dropped_packets"},
	{"created_at", "created_at"},
	{NULL},
};

static const struct cli_column interface_columns[] = {
	{"NAME", "name"},
	{"NETWORK", "network"},
	{"ADDRESS", "address"},
	{"MODE", "mode"},
	{"MAC", "mac"},
	{"HOST", "host_interface"},
	{"IN_BYTES", "counters.in_bytes"},
	{"OUT_BYTES", "counters.out_bytes"},
	{NULL},
};

static const struct cli_column port_columns[] = {
	{"SERVER", "server"},
	{"PROTO", "protocol"},
	{"PUBLIC", "public_port"},
	{"PORT", "port"},
	{"ADDRESS", "address"},
	{"PUBLIC_ADDRESS", "public_address"},
	{NULL},
};

static int check_names(struct cli *cli, const char *kind, const char *name, const char *tenant)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (cli_check_name(kind, name, &err) < 0)
		return cli_invalid(cli, &err);
	if (tenant && cli_check_name("tenant", tenant, &err) < 0) {
		carve_err_prefix(&err, "%s '%s'", kind, name);
		return cli_invalid(cli, &err);
	}
	return CLI_EXIT_OK;
}

/* "/<coll>/<a>[/<sub>[/<b>]]" with ?tenant= */
static char *path_of(const char *coll, const char *a, const char *sub, const char *b,
		     const char *tenant)
{
	cleanup_free char *p = NULL;

	if (asprintf(&p, "/%s/%s%s%s%s%s", coll, a, sub ? "/" : "", sub ? sub : "", b ? "/" : "",
		     b ? b : "") < 0)
		return NULL;
	return cli_path_with_tenant(p, tenant);
}

static int done(struct cli *cli, json_t *answer, const char *what)
{
	if (cli->json)
		cli_print_json(cli, answer);
	else if (!cli->quiet)
		fprintf(cli->out, "%s\n", what);
	json_decref(answer);
	return CLI_EXIT_OK;
}

/* "NET[,ip=A][,dhcp]" into {"network":..,"ip":..,"dhcp":..}. */
static int parse_spec(struct cli *cli, const char *server, const char *spec, json_t **ret)
{
	struct carve_error err = CARVE_ERROR_INIT;
	cleanup_free char *copy = strdup(spec);
	json_t *o = json_object();
	char *save = NULL, *tok;
	bool first = true;

	if (!copy || !o) {
		json_decref(o);
		return CLI_EXIT_FAILURE;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (first) {
			if (cli_check_name("network", tok, &err) < 0) {
				carve_err_prefix(&err, "server '%s': --network", server);
				json_decref(o);
				return cli_invalid(cli, &err);
			}
			json_object_set_new(o, "network", json_string(tok));
			first = false;
		} else if (startswith(tok, "ip=") && tok[3]) {
			json_object_set_new(o, "ip", json_string(tok + 3));
		} else if (streq(tok, "dhcp")) {
			json_object_set_new(o, "dhcp", json_true());
		} else {
			json_decref(o);
			return cli_usage(cli,
					 "server '%s': --network '%s': unknown option '%s' (use "
					 "NET[,ip=ADDRESS][,dhcp])",
					 server, spec, tok);
		}
	}
	if (first) {
		json_decref(o);
		return cli_usage(cli, "server '%s': --network: a network name is required", server);
	}
	*ret = o;
	return CLI_EXIT_OK;
}

int cli_network_options(struct cli *cli, const struct cli_args *a, const char *server, json_t *body)
{
	const char *bw = cli_args_get(a, "bandwidth");
	json_t *nets = NULL;

	for (size_t i = 0; i < a->n_opts; i++) {
		json_t *o = NULL;
		int ex;

		if (!streq(a->opt_names[i], "network"))
			continue;
		ex = parse_spec(cli, server, a->opt_values[i], &o);
		if (ex != CLI_EXIT_OK) {
			json_decref(nets);
			return ex;
		}
		if (!nets)
			nets = json_array();
		json_array_append_new(nets, o);
	}
	if (nets)
		json_object_set_new(body, "networks", nets);
	if (bw)
		json_object_set_new(body, "bandwidth", json_string(bw));
	return CLI_EXIT_OK;
}

/* --- carve network ------------------------------------------------------------------------- */

static int run_list(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;

	if (tenant && cli_check_name("tenant", tenant, &err) < 0)
		return cli_invalid(cli, &err);
	path = cli_path_with_tenant("/networks", tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_list(cli, path, "networks", network_columns);
}

static int run_show(struct cli *cli, const struct cli_args *a)
{
	const char *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;
	int ex = check_names(cli, "network", a->pos[0], tenant);

	if (ex != CLI_EXIT_OK)
		return ex;
	path = path_of("networks", a->pos[0], NULL, NULL, tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_show(cli, path, "network", network_fields, "network", a->pos[0]);
}

static int run_create(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *tenant = cli_args_get(a, "tenant"),
		   *subnet = cli_args_get(a, "subnet");
	json_t *body, *answer = NULL;
	char what[160];
	int ex = check_names(cli, "network", name, tenant), r;

	if (ex != CLI_EXIT_OK)
		return ex;
	body = json_pack("{s:s}", "name", name);
	if (!body)
		return CLI_EXIT_FAILURE;
	if (subnet)
		json_object_set_new(body, "subnet", json_string(subnet));
	if (tenant)
		json_object_set_new(body, "tenant", json_string(tenant));
	r = cli_request(cli, "POST", "/networks", body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "network", name);
	snprintf(what, sizeof(what), "network '%s' created: %s", name,
		 json_string_value(json_object_get(answer, "subnet"))
			 ? json_string_value(json_object_get(answer, "subnet"))
			 : "?");
	return done(cli, answer, what);
}

static int run_delete(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *name = a->pos[0], *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	char what[128];
	int ex = check_names(cli, "network", name, tenant);

	if (ex != CLI_EXIT_OK)
		return ex;
	path = path_of("networks", name, NULL, NULL, tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "network", name);
	snprintf(what, sizeof(what), "network '%s' deleted", name);
	return done(cli, answer, what);
}

static int run_interfaces(struct cli *cli, const struct cli_args *a)
{
	const char *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;
	int ex = check_names(cli, "server", a->pos[0], tenant);

	if (ex != CLI_EXIT_OK)
		return ex;
	path = path_of("servers", a->pos[0], "interfaces", NULL, tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_list_of(cli, path, "interfaces", interface_columns, "server", a->pos[0]);
}

static int run_attach(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *net = a->pos[0], *server = a->pos[1], *tenant = cli_args_get(a, "tenant"),
		   *ip = cli_args_get(a, "ip");
	cleanup_free char *path = NULL;
	json_t *body, *answer = NULL;
	char what[200];
	int ex = check_names(cli, "network", net, tenant), r;

	if (ex == CLI_EXIT_OK)
		ex = check_names(cli, "server", server, NULL);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = path_of("servers", server, "interfaces", NULL, tenant);
	body = json_pack("{s:s, s:b}", "network", net, "dhcp", cli_args_has(a, "dhcp"));
	if (!path || !body) {
		json_decref(body);
		return CLI_EXIT_FAILURE;
	}
	if (ip)
		json_object_set_new(body, "ip", json_string(ip));
	r = cli_request(cli, "POST", path, body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "server", server);
	snprintf(what, sizeof(what), "server '%s': %s on network '%s' at %s", server,
		 json_string_value(json_object_get(answer, "name")) ?: "?", net,
		 json_string_value(json_object_get(answer, "address")) ?: "?");
	return done(cli, answer, what);
}

static int run_detach(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0], *ifname = a->pos[1], *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;
	json_t *answer = NULL;
	char what[160];
	int ex = check_names(cli, "server", server, tenant);

	if (ex != CLI_EXIT_OK)
		return ex;
	if (!startswith(ifname, "eth") || strlen(ifname) > 6 ||
	    strspn(ifname + 3, "0123456789") != strlen(ifname + 3) || !ifname[3]) {
		carve_err_field(&err, -EINVAL, "interface",
				"server '%s': interface '%.16s': use eth0, eth1, ...", server,
				ifname);
		return cli_invalid(cli, &err);
	}
	path = path_of("servers", server, "interfaces", ifname, tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "server", server);
	snprintf(what, sizeof(what), "server '%s': %s detached", server, ifname);
	return done(cli, answer, what);
}

#define TENANT_OPTION                                                                    \
	{                                                                                \
		"tenant", 't', "TENANT", "the object's tenant (admin, when names clash)" \
	}

static const struct cli_option list_options[] = {
	{"tenant", 't', "TENANT", "only this tenant's (admin)"},
	{NULL},
};

static const struct cli_option tenant_options[] = {
	TENANT_OPTION,
	{NULL},
};

static const struct cli_option create_options[] = {
	{"subnet", 's', "CIDR",
	 "the subnet, e.g. 10.20.0.0/24 (default: the next free one from the provider's range)"},
	{"tenant", 't', "TENANT", "create for this tenant (admin)"},
	{NULL},
};

static const struct cli_option attach_options[] = {
	{"ip", 'i', "ADDRESS", "a fixed address (default: the lowest free one)"},
	{"dhcp", 0, NULL, "the server configures the address by DHCP (dnsmasq hands it out)"},
	TENANT_OPTION,
	{NULL},
};

const struct cli_group cli_group_network = {
	"network",
	"manage private networks and server interfaces",
	(const struct cli_verb[]){
		{"list", "[--tenant T]", "list networks", "Example:\n  carve network list --json",
		 list_options, 0, 0, run_list},
		{"show", "NAME", "show a network, its servers and dropped packets",
		 "Example:\n  carve network show lan", tenant_options, 1, 1, run_show},
		{"create", "NAME [--subnet CIDR]",
		 "create a private network (a bridge, DHCP and DNS, NAT to the internet)",
		 "Examples:\n  carve network create lan\n  carve network create db --subnet "
		 "10.20.0.0/24",
		 create_options, 1, 1, run_create},
		{"delete", "NAME", "delete a network no server uses",
		 "Example:\n  carve network delete lan", tenant_options, 1, 1, run_delete},
		{"attach", "NET SERVER [--ip A] [--dhcp]",
		 "give a stopped server an interface on a network",
		 "Example:\n  carve network attach lan web1 --ip 10.128.0.10", attach_options, 2, 2,
		 run_attach},
		{"detach", "SERVER IFACE", "remove an interface (eth0, ...) from a stopped server",
		 "Example:\n  carve network detach web1 eth1", tenant_options, 2, 2, run_detach},
		{"interfaces", "SERVER", "list a server's interfaces with their byte counters",
		 "Example:\n  carve network interfaces web1 --json", tenant_options, 1, 1,
		 run_interfaces},
		{NULL},
	},
};

/* --- carve port ---------------------------------------------------------------------------- */

static int parse_port(struct cli *cli, const char *what, const char *s, uint64_t *ret)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (parse_uint64(s, 1, 65535, ret, NULL) < 0) {
		carve_err_field(&err, -EINVAL, what, "%s '%.16s': a port number 1..65535", what, s);
		return cli_invalid(cli, &err);
	}
	return CLI_EXIT_OK;
}

static int check_proto(struct cli *cli, const char *proto)
{
	struct carve_error err = CARVE_ERROR_INIT;

	if (!proto || streq(proto, "tcp") || streq(proto, "udp"))
		return CLI_EXIT_OK;
	carve_err_field(&err, -EINVAL, "protocol", "protocol '%.8s': use tcp or udp", proto);
	return cli_invalid(cli, &err);
}

static int run_publish(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0], *tenant = cli_args_get(a, "tenant"),
		   *pub = cli_args_get(a, "public"), *proto = cli_args_get(a, "protocol"),
		   *ifname = cli_args_get(a, "interface");
	cleanup_free char *path = NULL;
	uint64_t port, public_port = 0;
	json_t *body, *answer = NULL;
	char what[200];
	int ex = check_names(cli, "server", server, tenant), r;

	if (ex == CLI_EXIT_OK)
		ex = parse_port(cli, "port", a->pos[1], &port);
	if (ex == CLI_EXIT_OK && pub)
		ex = parse_port(cli, "public_port", pub, &public_port);
	if (ex == CLI_EXIT_OK)
		ex = check_proto(cli, proto);
	if (ex != CLI_EXIT_OK)
		return ex;
	path = path_of("servers", server, "ports", NULL, tenant);
	body = json_pack("{s:I}", "port", (json_int_t)port);
	if (!path || !body) {
		json_decref(body);
		return CLI_EXIT_FAILURE;
	}
	if (public_port)
		json_object_set_new(body, "public_port", json_integer((json_int_t)public_port));
	if (proto)
		json_object_set_new(body, "protocol", json_string(proto));
	if (ifname)
		json_object_set_new(body, "interface", json_string(ifname));
	r = cli_request(cli, "POST", path, body, &answer, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail_object(cli, &err, "server", server);
	snprintf(what, sizeof(what), "server '%s': %s %s:%lld -> port %llu", server,
		 json_string_value(json_object_get(answer, "protocol")) ?: "?",
		 json_string_value(json_object_get(answer, "public_address")) ?: "?",
		 (long long)json_integer_value(json_object_get(answer, "public_port")),
		 (unsigned long long)port);
	return done(cli, answer, what);
}

static int run_port_list(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *tenant = cli_args_get(a, "tenant");
	cleanup_free char *path = NULL;

	if (tenant && cli_check_name("tenant", tenant, &err) < 0)
		return cli_invalid(cli, &err);
	if (a->n_pos) {
		int ex = check_names(cli, "server", a->pos[0], NULL);
		if (ex != CLI_EXIT_OK)
			return ex;
		path = path_of("servers", a->pos[0], "ports", NULL, tenant);
	} else
		path = cli_path_with_tenant("/ports", tenant);
	if (!path)
		return CLI_EXIT_FAILURE;
	return cli_list(cli, path, "ports", port_columns);
}

static int run_remove(struct cli *cli, const struct cli_args *a)
{
	struct carve_error err = CARVE_ERROR_INIT;
	const char *server = a->pos[0], *tenant = cli_args_get(a, "tenant"),
		   *proto = cli_args_get(a, "protocol");
	cleanup_free char *base = NULL, *path = NULL;
	json_t *answer = NULL;
	uint64_t public_port;
	char what[160];
	int ex = check_names(cli, "server", server, tenant);

	if (ex == CLI_EXIT_OK)
		ex = parse_port(cli, "public_port", a->pos[1], &public_port);
	if (ex == CLI_EXIT_OK)
		ex = check_proto(cli, proto);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (asprintf(&base, "/servers/%s/ports/%llu%s%s", server, (unsigned long long)public_port,
		     proto ? "?protocol=" : "", proto ? proto : "") < 0)
		return CLI_EXIT_FAILURE;
	if (tenant) {
		if (asprintf(&path, "%s%ctenant=%s", base, proto ? '&' : '?', tenant) < 0)
			return CLI_EXIT_FAILURE;
	} else
		path = TAKE_PTR(base);
	if (cli_request(cli, "DELETE", path, NULL, &answer, &err) < 0)
		return cli_fail_object(cli, &err, "server", server);
	snprintf(what, sizeof(what), "server '%s': %s port %llu removed", server,
		 proto ? proto : "tcp", (unsigned long long)public_port);
	return done(cli, answer, what);
}

static const struct cli_option publish_options[] = {
	{"public", 'P', "PORT", "the port on the public address (default: the same as PORT)"},
	{"protocol", 'p', "PROTO", "tcp (default) or udp"},
	{"interface", 'i', "IFACE", "the server's interface to forward to (default eth0)"},
	TENANT_OPTION,
	{NULL},
};

static const struct cli_option remove_options[] = {
	{"protocol", 'p', "PROTO", "tcp (default) or udp"},
	TENANT_OPTION,
	{NULL},
};

const struct cli_group cli_group_port = {
	"port",
	"publish server ports on the host's public address",
	(const struct cli_verb[]){
		{"publish", "SERVER PORT [--public PORT] [--protocol tcp|udp]",
		 "forward a public port to a port of a server",
		 "Example:\n  carve port publish web1 80 --public 8080", publish_options, 2, 2,
		 run_publish},
		{"list", "[SERVER] [--tenant T]", "list published ports",
		 "Example:\n  carve port list --json", list_options, 0, 1, run_port_list},
		{"remove", "SERVER PUBLIC_PORT [--protocol tcp|udp]", "stop publishing a port",
		 "Example:\n  carve port remove web1 8080", remove_options, 2, 2, run_remove},
		{NULL},
	},
};

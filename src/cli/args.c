/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "base/string-util.h"
#include "cli/cli.h"

static const struct cli_option *find_long(const struct cli_option *const *tables, const char *name,
					  size_t len)
{
	for (size_t t = 0; tables[t]; t++)
		for (const struct cli_option *o = tables[t]; o->name; o++)
			if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
				return o;
	return NULL;
}

static const struct cli_option *find_short(const struct cli_option *const *tables, char c)
{
	for (size_t t = 0; tables[t]; t++)
		for (const struct cli_option *o = tables[t]; o->name; o++)
			if (o->short_name && o->short_name == c)
				return o;
	return NULL;
}

static int add_opt(struct cli_args *a, const char *name, const char *value, struct carve_error *err)
{
	if (a->n_opts >= CLI_ARGS_MAX)
		return carve_err(err, -E2BIG, "too many options");
	a->opt_names[a->n_opts] = name;
	a->opt_values[a->n_opts] = value;
	a->n_opts++;
	return 0;
}

static int add_pos(struct cli_args *a, char *arg, struct carve_error *err)
{
	if (a->n_pos >= CLI_ARGS_MAX)
		return carve_err(err, -E2BIG, "too many arguments");
	a->pos[a->n_pos++] = arg;
	return 0;
}

int cli_args_parse(struct cli_args *a, int argc, char **argv,
		   const struct cli_option *const *tables, bool stop_at_positional, int *ret_next,
		   struct carve_error *err)
{
	int i, r;

	for (i = 0; i < argc; i++) {
		char *arg = argv[i];
		const struct cli_option *o;
		const char *value = NULL;

		if (streq(arg, "--")) {
			if (stop_at_positional) {
				i++;
				break;
			}
			for (i++; i < argc; i++) {
				r = add_pos(a, argv[i], err);
				if (r < 0)
					return r;
			}
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			/* "-" alone is a positional (conventionally stdin). */
			if (stop_at_positional)
				break;
			r = add_pos(a, arg, err);
			if (r < 0)
				return r;
			continue;
		}
		if (arg[1] == '-') {
			const char *name = arg + 2, *eq = strchr(name, '=');

			o = find_long(tables, name, eq ? (size_t)(eq - name) : strlen(name));
			if (!o)
				return carve_err(err, -EINVAL, "unknown option '--%.*s'",
						 eq ? (int)(eq - name) : (int)strlen(name), name);
			if (eq) {
				if (!o->arg)
					return carve_err(err, -EINVAL,
							 "option '--%s' takes no value", o->name);
				value = eq + 1;
			}
		} else {
			o = find_short(tables, arg[1]);
			if (!o)
				return carve_err(err, -EINVAL, "unknown option '-%c'", arg[1]);
			if (arg[2] != '\0') {
				if (!o->arg)
					return carve_err(err, -EINVAL, "unknown option '%s'", arg);
				value = arg + 2;
			}
		}
		if (o->arg && !value) {
			if (i + 1 >= argc)
				return carve_err(err, -EINVAL, "option '--%s' needs a value (%s)",
						 o->name, o->arg);
			value = argv[++i];
		}
		r = add_opt(a, o->name, o->arg ? value : "", err);
		if (r < 0)
			return r;
	}
	if (ret_next)
		*ret_next = i;
	return 0;
}

const char *cli_args_get(const struct cli_args *a, const char *name)
{
	for (size_t i = a->n_opts; i > 0; i--)
		if (streq(a->opt_names[i - 1], name))
			return a->opt_values[i - 1];
	return NULL;
}

bool cli_args_has(const struct cli_args *a, const char *name)
{
	return cli_args_get(a, name) != NULL;
}

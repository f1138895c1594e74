/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/string-util.h"
#include "cli/config.h"

#define CONFIG_MAX (64 * 1024)

void cli_config_release(struct cli_config *c)
{
	if (!c)
		return;
	free(c->url);
	free(c->token);
	free(c->user);
	*c = (struct cli_config){0};
}

static const char *nonempty_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int cli_config_path(char **ret)
{
	const char *xdg = nonempty_env("XDG_CONFIG_HOME"), *home = nonempty_env("HOME");
	char *p;
	int n;

	/* The XDG base directory spec says relative values are invalid and to be ignored. */
	if (xdg && xdg[0] == '/')
		n = asprintf(&p, "%s/carve/config.json", xdg);
	else if (home)
		n = asprintf(&p, "%s/.config/carve/config.json", home);
	else
		return -ENOENT;
	if (n < 0)
		return -ENOMEM;
	*ret = p;
	return 0;
}

static int dup_member(json_t *obj, const char *key, char **ret)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

int cli_config_load(const char *path, struct cli_config *ret, struct carve_error *err)
{
	struct cli_config c = {0};
	cleanup_free char *data = NULL;
	json_error_t jerr;
	json_t *root;
	int r;

	r = read_full_file(path, CONFIG_MAX, &data, NULL);
	if (r == -ENOENT) {
		*ret = c;
		return 0;
	}
	if (r < 0)
		return carve_err(err, r, "config file '%s': %s", path, strerror(-r));
	root = json_loads(data, 0, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return carve_err(err, -EINVAL, "config file '%s': not a JSON object", path);
	}
	r = dup_member(root, "url", &c.url);
	if (r >= 0)
		r = dup_member(root, "secret", &c.token);
	if (r >= 0)
		r = dup_member(root, "user", &c.user);
	json_decref(root);
	if (r < 0) {
		cli_config_release(&c);
		return carve_err(err, r, "config file '%s': bad field", path);
	}
	*ret = c;
	return 0;
}

static int mkdir_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (strscpy(dir, path, sizeof(dir)) < 0)
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return mkdir_p(dir, 0700);
}

int cli_config_save(const char *path, const char *url, const char *token, const char *user,
		    struct carve_error *err)
{
	char tmp[PATH_MAX];
	cleanup_free char *text = NULL;
	cleanup_close int fd = -EBADF;
	json_t *root;
	int r;

	root = json_object();
	if (!root)
		return carve_err(err, -ENOMEM, "out of memory");
	if (url)
		json_object_set_new(root, "url", json_string(url));
	if (token)
		json_object_set_new(root, "secret", json_string(token));
	if (user)
		json_object_set_new(root, "user", json_string(user));
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!text)
		return carve_err(err, -ENOMEM, "out of memory");

	r = mkdir_parent(path);
	if (r < 0)
		return carve_err(err, r, "config file '%s': create directory: %s", path,
				 strerror(-r));
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return carve_err(err, -ENAMETOOLONG, "config file '%s': path too long", path);
	/* mkostemp creates the file 0600 whatever the umask: the secret is never readable by
	 * others, not even for a moment. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return carve_err(err, -errno, "config file '%s': %s", path, strerror(errno));
	r = RET_NERRNO(fchmod(fd, 0600));
	if (r >= 0)
		r = loop_write(fd, text, strlen(text));
	if (r >= 0)
		r = loop_write(fd, "\n", 1);
	if (r >= 0)
		r = RET_NERRNO(fsync(fd));
	if (r >= 0)
		r = RET_NERRNO(rename(tmp, path));
	if (r < 0) {
		(void)unlink(tmp);
		return carve_err(err, r, "config file '%s': write: %s", path, strerror(-r));
	}
	return 0;
}

static int set_dup(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
	return !src || *dst ? 0 : -ENOMEM;
}

int cli_config_resolve(const char *flag_url, const char *flag_token, uid_t euid,
		       struct cli_config *ret, struct carve_error *err)
{
	struct cli_config file = {0}, c = {0};
	cleanup_free char *path = NULL;
	const char *v;
	int r = 0;

	if (cli_config_path(&path) >= 0) {
		r = cli_config_load(path, &file, err);
		if (r < 0)
			return r;
	}

	if (flag_url && *flag_url) {
		r = set_dup(&c.url, flag_url);
		c.url_source = CLI_SOURCE_FLAG;
	} else if ((v = nonempty_env("CARVE_URL"))) {
		r = set_dup(&c.url, v);
		c.url_source = CLI_SOURCE_ENV;
	} else if (file.url && (file.token || euid != 0 || startswith(file.url, "unix://"))) {
		/* after logging out of a TCP address (no secret kept) root uses the local socket */
		r = set_dup(&c.url, file.url);
		c.url_source = CLI_SOURCE_CONFIG;
	} else if (euid == 0) {
		const char *run_dir = nonempty_env("CARVE_RUN_DIR") ?: CLI_DEFAULT_RUN_DIR;
		cleanup_free char *sock = NULL;

		if (asprintf(&sock, "%s/carved.sock", run_dir) < 0)
			r = -ENOMEM;
		else if (access(sock, F_OK) == 0) {
			c.url = NULL;
			if (asprintf(&c.url, "unix://%s", sock) < 0)
				r = -ENOMEM;
			c.url_source = CLI_SOURCE_SOCKET;
		}
	}
	if (r < 0)
		goto oom;

	if (flag_token && *flag_token) {
		r = set_dup(&c.token, flag_token);
		c.token_source = CLI_SOURCE_FLAG;
	} else if ((v = nonempty_env("CARVE_TOKEN"))) {
		r = set_dup(&c.token, v);
		c.token_source = CLI_SOURCE_ENV;
	} else if (file.token && file.url && streq(file.url, c.url)) {
		/* A saved session secret goes only to the carved that issued it. */
		r = set_dup(&c.token, file.token);
		c.token_source = CLI_SOURCE_CONFIG;
	}
	if (r >= 0 && file.user && streq(file.url, c.url))
		r = set_dup(&c.user, file.user);
	if (r < 0)
		goto oom;

	cli_config_release(&file);
	*ret = c;
	return 0;
oom:
	cli_config_release(&file);
	cli_config_release(&c);
	return carve_err(err, -ENOMEM, "out of memory");
}

int cli_url_parse(const char *url, char **ret_socket, char **ret_base, struct carve_error *err)
{
	cleanup_free char *sock = NULL, *base = NULL;
	size_t n;

	if (!url || !*url)
		return carve_err(err, -EINVAL, "empty carved URL");
	if (startswith(url, "unix://")) {
		const char *p = url + strlen("unix://");

		if (p[0] != '/' || p[1] == '\0')
			return carve_err(err, -EINVAL,
					 "url '%s': use unix:///absolute/path/carved.sock", url);
		if (strlen(p) >= 108)
			return carve_err(err, -ENAMETOOLONG, "url '%s': socket path too long", url);
		sock = strdup(p);
		base = strdup("http://localhost");
	} else if (startswith(url, "http://") || startswith(url, "https://")) {
		const char *host = strchr(url, ':') + 3;

		if (*host == '\0' || *host == '/' || strpbrk(url, " \t\r\n?#"))
			return carve_err(err, -EINVAL, "url '%s': use http://host:port", url);
		base = strdup(url);
		if (base) {
			n = strlen(base);
			while (n > 0 && base[n - 1] == '/')
				base[--n] = '\0';
		}
	} else
		return carve_err(err, -EINVAL,
				 "url '%s': use unix:///path/carved.sock or http://host:port", url);
	if (!base || (startswith(url, "unix://") && !sock))
		return carve_err(err, -ENOMEM, "out of memory");
	if (ret_socket)
		*ret_socket = TAKE_PTR(sock);
	if (ret_base)
		*ret_base = TAKE_PTR(base);
	return 0;
}

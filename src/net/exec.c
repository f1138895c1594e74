/* SPDX-License-Identifier: Apache-2.0 */
#define LOG_DOMAIN "net"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"
#include "net/net-internal.h"

int netns_enter(int netns_fd, int *ret_saved)
{
	*ret_saved = -EBADF;
	if (netns_fd < 0)
		return 0;
	cleanup_close int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0)
		return -errno;
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return -errno;
	*ret_saved = TAKE_FD(saved);
	return 0;
}

void netns_leave(int *saved)
{
	if (*saved < 0)
		return;
	/* Cannot fail for a namespace we were in a moment ago, short of a kernel bug. */
	if (setns(*saved, CLONE_NEWNET) < 0)
		log_debug("setns back to the original network namespace: %m");
	*saved = safe_close(*saved);
}

static int find_tool(const char *name, char out[256])
{
	static const char *const dirs[] = {"/usr/sbin", "/usr/bin",	   "/sbin",
					   "/bin",	"/usr/local/sbin", "/usr/local/bin"};
	if (strchr(name, '/'))
		return strscpy(out, name, 256) < 0 ? -ENAMETOOLONG : 0;
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		snprintf(out, 256, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

int net_run(int netns_fd, const char *const *argv, const char *input, char **ret_output)
{
	char path[256];
	int r = find_tool(argv[0], path);
	if (r < 0)
		return r;

	int in[2] = {-EBADF, -EBADF}, out[2] = {-EBADF, -EBADF};
	/* stdin is a socket so that writing to a tool that exited early is EPIPE, not SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		safe_close(in[0]);
		safe_close(in[1]);
		return r;
	}

	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		safe_close(in[0]);
		safe_close(in[1]);
		safe_close(out[0]);
		safe_close(out[1]);
		return r;
	}
	if (pid == 0) {
		/* the tools (dnsmasq above all, which lives on) must not inherit carved's blocked
		 * signals or its ignored SIGPIPE: SIGHUP reloads dnsmasq, SIGTERM stops it */
		sigset_t none;
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		(void)sigaction(SIGPIPE, &dfl, NULL);
		if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0)
			_exit(126);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0)
			_exit(126);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	safe_close(in[0]);
	safe_close(out[1]);

	/* The input is small (a ruleset); write it all, then read. A tool that answers before
	 * reading all its input could block us only on outputs larger than the pipe. */
	for (size_t off = 0, len = input ? strlen(input) : 0; off < len;) {
		ssize_t n = send(in[1], input + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	safe_close(in[1]);

	struct strbuf b = {};
	char buf[4096];
	for (;;) {
		ssize_t n = read(out[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sb_printf(&b, "%.*s", (int)n, buf);
	}
	safe_close(out[0]);

	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			free(b.s);
			return -errno;
		}
	if (ret_output) {
		if (!b.s)
			sb_printf(&b, "%s", "");
		r = sb_take(&b, ret_output);
		if (r < 0)
			return r;
	} else
		free(b.s);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int net_run_checked(int netns_fd, const char *const *argv, const char *input, char **ret_output,
		    struct carve_error *err)
{
	cleanup_free char *output = NULL;
	int r = net_run(netns_fd, argv, input, &output);
	if (r < 0)
		return carve_err(err, r, "run '%s'", argv[0]);
	if (r != 0) {
		/* Keep the first line or so of the tool's complaint. */
		const char *o = output ? output : "";
		o += strspn(o, " \t\n");
		size_t len = strcspn(o, "\n");
		if (len > 400)
			len = 400;
		return carve_err(err, r == 127 ? -ENOENT : -EIO, "'%s' failed (status %d): %.*s",
				 argv[0], r, (int)len, o);
	}
	if (ret_output)
		*ret_output = TAKE_PTR(output);
	return 0;
}

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t avail = b->cap - b->len;
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? avail : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && (size_t)n < avail) {
			b->len += n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

int sb_take(struct strbuf *b, char **ret)
{
	if (b->oom || !b->s) {
		free(b->s);
		*b = (struct strbuf){};
		return -ENOMEM;
	}
	*ret = b->s;
	*b = (struct strbuf){};
	return 0;
}

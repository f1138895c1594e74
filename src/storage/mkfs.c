/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Filesystem tools run as child processes (mkfs.xfs, mkfs.ext4, e2fsck, resize2fs): posix_spawn
 * (safe in a threaded daemon), stdin from /dev/null, a fixed environment (LC_ALL=C so messages
 * are stable), stdout and stderr captured so a failure carries the tool's own words.
 */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/parse-util.h"
#include "storage/storage-internal.h"

static const char *const tool_dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};

static int find_tool(const char *name, char *buf, size_t len)
{
	for (size_t i = 0; i < ELEMENTSOF(tool_dirs); i++) {
		if ((size_t)snprintf(buf, len, "%s/%s", tool_dirs[i], name) >= len)
			return -ENAMETOOLONG;
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

bool storage_tool_exists(const char *name)
{
	char path[PATH_MAX];

	return find_tool(name, path, sizeof(path)) == 0;
}

/* Keep the tail of the output: that is where tools put the reason they failed. */
static void append_tail(char *out, size_t cap, size_t *used, const char *data, size_t n)
{
	if (n >= cap - 1) {
		data += n - (cap - 1);
		n = cap - 1;
	}
	if (*used + n > cap - 1) {
		size_t drop = *used + n - (cap - 1);
		memmove(out, out + drop, *used - drop);
		*used -= drop;
	}
	memcpy(out + *used, data, n);
	*used += n;
	out[*used] = '\0';
}

int storage_run(char *const argv[], char *out, size_t out_len, struct carve_error *err)
{
	static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
	posix_spawn_file_actions_t fa;
	cleanup_close int rd = -EBADF, wr = -EBADF;
	char tool[PATH_MAX], buf[4096];
	size_t used = 0;
	int fds[2], r, status;
	pid_t pid;

	assert(out && out_len > 1);
	out[0] = '\0';
	r = find_tool(argv[0], tool, sizeof(tool));
	if (r < 0)
		return carve_err(err, r, "'%s' not found (install its package)", argv[0]);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return carve_err(err, -errno, "%s: pipe", argv[0]);
	rd = fds[0];
	wr = fds[1];
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return carve_err(err, -r, "%s: spawn", argv[0]);
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, wr, 1);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, wr, 2);
	if (r == 0)
		r = posix_spawn(&pid, tool, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return carve_err(err, -r, "%s: spawn", argv[0]);
	wr = safe_close(wr);
	for (;;) {
		ssize_t n = read(rd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		append_tail(out, out_len, &used, buf, (size_t)n);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return carve_err(err, -errno, "%s: wait", argv[0]);
	/* one line for messages */
	while (used > 0 && (out[used - 1] == '\n' || out[used - 1] == ' '))
		out[--used] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return carve_err(err, -EIO, "%s: killed by signal %d", argv[0],
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int run_ok(char *const argv[], struct carve_error *err)
{
	char out[768];
	int r = storage_run(argv, out, sizeof(out), err);

	if (r < 0)
		return r;
	if (r != 0)
		return carve_err(err, -EIO, "%s: exit %d: %s", argv[0], r, out);
	return 0;
}

int storage_mkfs_xfs(const char *path, struct carve_error *err)
{
	char *const argv[] = {"mkfs.xfs", "-q", "-f", "-m", "reflink=1", (char *)path, NULL};

	return run_ok(argv, err);
}

int storage_mkfs_ext4(const char *path, const char *src_dir, struct carve_error *err)
{
	/* Discard (the default) punches holes in the fresh sparse file and lets mke2fs mark inode
	 * tables zeroed, so the kernel's lazy init never writes them; the journal needs no zeroing
	 * on a file that is all holes. A 10G volume starts at about 4M allocated. */
	char *argv[] = {"mkfs.ext4",
			"-q",
			"-F",
			"-b",
			"4096",
			"-m",
			"0",
			"-E",
			"lazy_journal_init=1",
			"-d",
			(char *)src_dir,
			(char *)path,
			NULL};
	char out[768];
	int r;

	if (!src_dir) {
		argv[9] = (char *)path;
		argv[10] = NULL;
	}
	r = storage_run(argv, out, sizeof(out), err);
	if (r <= 0)
		return r;
	if (src_dir && (strstr(out, "Could not allocate block") || strstr(out, "No space left") ||
			strstr(out, "too small")))
		return carve_err(err, -ENOSPC, "mkfs.ext4: does not fit: %s", out);
	return carve_err(err, -EIO, "mkfs.ext4: exit %d: %s", r, out);
}

int storage_ext4_grow(const char *target, bool mounted, struct carve_error *err)
{
	char *const fsck[] = {"e2fsck", "-f", "-p", (char *)target, NULL};
	char *const resize[] = {"resize2fs", (char *)target, NULL};
	char out[768];
	int r;

	if (!mounted) {
		/* offline resize2fs insists on a freshly checked filesystem; 1 means fixed */
		r = storage_run(fsck, out, sizeof(out), err);
		if (r < 0)
			return r;
		if (r > 1)
			return carve_err(err, -EIO, "e2fsck: exit %d: %s", r, out);
	}
	r = storage_run(resize, out, sizeof(out), err);
	if (r < 0)
		return r;
	if (r != 0 && strstr(out, "Permission denied"))
		return carve_err(err, -EPERM,
				 "resize2fs: online grow refused (it needs CAP_SYS_RESOURCE): %s",
				 out);
	if (r != 0)
		return carve_err(err, -EIO, "resize2fs: exit %d: %s", r, out);
	return 0;
}

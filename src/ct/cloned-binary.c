/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CVE-2019-5736: a process in a container that can open /proc/<pid>/exe of a host process that
 * entered its namespaces (or its parent) could write the host binary. The monitor therefore runs
 * from a sealed memfd copy of itself: /proc/<monitor>/exe is that memfd, which nothing can write
 * or resize (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW, and F_SEAL_SEAL so the seals stay).
 *
 * ct_cloned_binary_reexec() is idempotent: a process already running from a sealed memfd returns
 * at once; an environment marker stops a loop if the copy is somehow not recognised.
 *
 * A memfd copy costs its size in memory for as long as a process runs from it, so carved seals
 * one copy of carve-monitor (ct_cloned_binary_seal) and starts every monitor from it: the
 * monitors share its pages and find themselves already sealed.
 */
#define LOG_DOMAIN "ct"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "ct/ct.h"

#define MARKER "_CARVE_CLONED_BINARY"
#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

bool ct_cloned_binary_is_sealed(void)
{
	cleanup_close int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int seals;

	if (fd < 0)
		return false;
	seals = fcntl(fd, F_GET_SEALS);
	return seals >= 0 && (seals & SEALS) == SEALS;
}

int ct_cloned_binary_seal(const char *path, const char *name, int *ret_fd, struct carve_error *err)
{
	cleanup_close int in = -EBADF, out = -EBADF;
	struct stat st;
	off_t left;

	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return carve_err(err, -errno, "open %s: %s", path, strerror(errno));
	if (fstat(in, &st) < 0)
		return carve_err(err, -errno, "stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return carve_err(err, -EINVAL, "%s: not a regular file", path);
	out = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (out < 0)
		return carve_err(err, -errno, "memfd_create: %s", strerror(errno));
	for (left = st.st_size; left > 0;) {
		ssize_t n = sendfile(out, in, NULL, (size_t)left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return carve_err(err, n < 0 ? -errno : -EIO, "copy %s: %s", path,
					 n < 0 ? strerror(errno) : "short copy");
		left -= n;
	}
	if (fcntl(out, F_ADD_SEALS, SEALS) < 0)
		return carve_err(err, -errno, "seal the copy: %s", strerror(errno));
	*ret_fd = TAKE_FD(out);
	return 0;
}

int ct_cloned_binary_reexec(const char *name, char **argv, struct carve_error *err)
{
	cleanup_close int fd = -EBADF;
	cleanup_free char **envp = NULL;
	size_t n = 0, k = 0;
	int r;

	if (ct_cloned_binary_is_sealed()) {
		(void)unsetenv(MARKER);
		return 0;
	}
	if (getenv(MARKER))
		return carve_err(err, -ELOOP, "re-executed, yet not running from a sealed copy");

	r = ct_cloned_binary_seal("/proc/self/exe", name, &fd, err);
	if (r < 0)
		return r;
	while (environ && environ[n])
		n++;
	envp = calloc(n + 2, sizeof(char *));
	if (!envp)
		return carve_err(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		envp[k++] = environ[i];
	envp[k++] = (char *)MARKER "=1";
	envp[k] = NULL;

	fexecve(fd, argv, envp);
	return carve_err(err, -errno, "execute the sealed copy: %s", strerror(errno));
}

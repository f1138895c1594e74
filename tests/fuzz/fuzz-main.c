/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Without libFuzzer (gcc builds): replay every file named on the command line, and every regular
 * file in every directory named there, through LLVMFuzzerTestOneInput. Used as a regression test
 * over each target's corpus (systemd's fuzz-main.c). Fails when nothing was replayed, so an
 * empty or misnamed corpus does not pass silently.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "fuzz.h"

static int replay_file(int dirfd, const char *name)
{
	cleanup_close int fd = -EBADF;
	cleanup_free uint8_t *buf = NULL;
	struct stat st;
	size_t n = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s\n", name, strerror(errno));
		return -errno;
	}
	/* one spare byte so an empty input still has a valid, distinct pointer */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *path, unsigned *count)
{
	cleanup_closedir DIR *d = opendir(path);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	int r = 0;

	if (!d) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;
		char **nn;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn)
			break;
		names = nn;
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	qsort(names, n, sizeof(*names), cmp);
	for (size_t i = 0; i < n; i++) {
		if (replay_file(dirfd(d), names[i]) < 0)
			r = -EIO;
		else
			(*count)++;
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int r = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			r = -EIO;
		} else if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) < 0)
				r = -EIO;
		} else if (replay_file(AT_FDCWD, argv[i]) < 0)
			r = -EIO;
		else
			count++;
	}
	printf("%u inputs replayed\n", count);
	if (count == 0) {
		fprintf(stderr, "no inputs: pass corpus directories or files\n");
		return EXIT_FAILURE;
	}
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

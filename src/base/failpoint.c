/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/failpoint.h"

#ifdef CARVE_FAILPOINTS
void failpoint_hit(const char *name)
{
	const char *want = getenv("CARVE_FAILPOINT");
	const char *pause = getenv("CARVE_FAILPOINT_SLEEP");
	size_t l = strlen(name);

	if (want && strcmp(want, name) == 0)
		raise(SIGKILL);
	/* "NAME:SECONDS": hold the step there, so a test can race something against it */
	if (pause && strncmp(pause, name, l) == 0 && pause[l] == ':')
		sleep((unsigned)strtoul(pause + l + 1, NULL, 10));
}
#endif

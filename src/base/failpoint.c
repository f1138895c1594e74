/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/failpoint.h"

#ifdef CARVE_FAILPOINTS
void failpoint_hit(const char *name)
{
	const char *want = getenv("CARVE_FAILPOINT");

	if (want && strcmp(want, name) == 0)
		raise(SIGKILL);
}
#endif

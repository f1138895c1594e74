/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Failpoints for crash-safety tests. Built only with -Dfailpoints=true: CARVE_FAILPOINT("name")
 * then kills the process with SIGKILL when the environment variable CARVE_FAILPOINT equals name,
 * simulating a crash at exactly that step; CARVE_FAILPOINT_SLEEP=name:SECONDS holds the step there
 * for that long instead (to race another request against it). In normal builds it compiles to
 * nothing.
 */
#ifndef CARVE_BASE_FAILPOINT_H
#define CARVE_BASE_FAILPOINT_H

#ifdef CARVE_FAILPOINTS
void failpoint_hit(const char *name);
#define CARVE_FAILPOINT(name) failpoint_hit(name)
#else
#define CARVE_FAILPOINT(name) ((void)0)
#endif

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers on struct daemon, shared by the API, tasks and main(), and usable by tests. */
#include <stdio.h>

#include "base/parse-util.h"
#include "daemon/daemon.h"

int daemon_server_dir(const struct daemon *d, const char *server_id, char *buf, size_t len)
{
	if (!id_is_valid(server_id))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s/servers/%s", d->run_dir, server_id) >= len)
		return -ENAMETOOLONG;
	return 0;
}

uint32_t daemon_tenant_uid_base(const struct daemon *d, const struct db_tenant *t)
{
	return d->uid_base + t->uid_slot * 65536u;
}

uint32_t daemon_vm_uid(const struct daemon *d, const struct db_server *s)
{
	uint32_t base = d->vm_uid_base ? d->vm_uid_base : d->uid_base - 65536u;

	if (s->vm_uid_slot < 0 || s->vm_uid_slot >= 65536)
		return 0;
	return base + (uint32_t)s->vm_uid_slot;
}

int daemon_tenant_apply_limits(struct daemon *d, const struct db_tenant *t, struct carve_error *err)
{
	struct cgroup_limits l = {
		.vcpus = t->max_vcpus,
		.memory_max = t->max_memory,
		.pids_max = t->max_pids,
	};

	if (!d->cgroups)
		return 0;
	return cgroup_tenant_set_limits(d->cgroups, t->name, &l, err);
}

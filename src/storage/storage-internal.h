/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CARVE_STORAGE_INTERNAL_H
#define CARVE_STORAGE_INTERNAL_H

#include <limits.h>
#include "storage/storage.h"

struct storage_pool {
	const struct storage_driver_ops *ops;
	char name[64];
	char path[PATH_MAX];
};

extern const struct storage_driver_ops storage_driver_dir;

#endif

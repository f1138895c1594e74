/* SPDX-License-Identifier: Apache-2.0 */
/* Route handlers of api-backups.c (backups, backup stores, schedules). */
#ifndef CARVE_DAEMON_API_BACKUPS_H
#define CARVE_DAEMON_API_BACKUPS_H

#include "daemon/api.h"

#define API_BACKUP_HANDLER(name)                                                      \
	void name(struct daemon *d, const struct caller *c, struct http_request *req, \
		  struct http_response *resp)

API_BACKUP_HANDLER(api_backup_stores_list);
API_BACKUP_HANDLER(api_backup_stores_create);
API_BACKUP_HANDLER(api_backup_stores_delete);
API_BACKUP_HANDLER(api_backup_stores_gc);
API_BACKUP_HANDLER(api_backup_stores_verify);
API_BACKUP_HANDLER(api_backups_list);
API_BACKUP_HANDLER(api_backups_create);
API_BACKUP_HANDLER(api_backups_get);
API_BACKUP_HANDLER(api_backups_delete);
API_BACKUP_HANDLER(api_backups_restore);
API_BACKUP_HANDLER(api_backups_verify);
API_BACKUP_HANDLER(api_backups_files);
API_BACKUP_HANDLER(api_backups_file);
API_BACKUP_HANDLER(api_backups_restore_file);
API_BACKUP_HANDLER(api_backups_prune);
API_BACKUP_HANDLER(api_backup_schedule_get);
API_BACKUP_HANDLER(api_backup_schedule_set);
API_BACKUP_HANDLER(api_backup_schedule_delete);

#endif

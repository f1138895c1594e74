/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backup: content-addressed, deduplicated, incremental backups of whole servers (a later issue).
 * It will read volume snapshots from storage and never talk to the database or HTTP itself.
 */
#ifndef CARVE_BACKUP_H
#define CARVE_BACKUP_H
#endif

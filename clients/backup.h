/* SPDX-License-Identifier: MIT */
/*
 * backup.h: lms-admin backup FILE: a consistent copy of the whole state
 * from the leader (a snapshot stream, docs/snapshots.md), saved to FILE
 * only once its size, index and digest check out; lmsd --restore FILE
 * reads it (docs/operations.md, "Backup and restore").
 */
#ifndef LMS_CLIENTS_BACKUP_H
#define LMS_CLIENTS_BACKUP_H

#include "cli.h"

extern const struct cli_param cmd_backup_params[];
int cmd_backup(struct cli_ctx *ctx, const struct cli_args *a);

#endif

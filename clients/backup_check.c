/* SPDX-License-Identifier: MIT */
/*
 * backup_check.c: the server's snapshot reader (core/repl/snapshot.c) for
 * lms-admin backup, apart from the client headers (both name a struct
 * lms_session).
 */
#include "backup_check.h"

#include "snapshot.h"

#include <stdio.h>
#include <string.h>

int backup_check_file(const char *path, uint64_t *index, uint64_t *size,
                      uint8_t digest[32], char *why, size_t n)
{
    snapshot_info info;
    lms_err err = {0};
    int rc = snapshot_check(path, &info, digest, &err);
    if (rc != LMS_OK) {
        snprintf(why, n, "%s", err.msg);
        return rc == LMS_DATA_LOSS ? 1 : -1;
    }
    *index = info.index;
    *size = info.size;
    snapshot_info_free(&info);
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * backup_check.h: check a backup file whole (framing, record count and the
 * trailer's canonical digest) with the server's snapshot reader.
 */
#ifndef LMS_CLIENTS_BACKUP_CHECK_H
#define LMS_CLIENTS_BACKUP_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* 0: the file at path is a whole snapshot stream; *index is its header's,
 * *size the file's, digest its trailer's. 1: it is damaged, -1: it cannot
 * be read; why says so. */
int backup_check_file(const char *path, uint64_t *index, uint64_t *size,
                      uint8_t digest[32], char *why, size_t n);

#endif

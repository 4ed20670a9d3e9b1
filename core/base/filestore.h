/* SPDX-License-Identifier: MIT */
/*
 * filestore.h: the content-addressed store of file bodies (DESIGN.md: the
 * bodies of submissions and materials live here, named by their SHA-256,
 * shared by every storage backend; the database holds their metadata).
 *
 * Layout: <data_dir>/files/XX/<64 hex digits>, XX the first two digits.
 * A body is written under files/tmp/, checked against its name (its size
 * and its SHA-256), fdatasynced, renamed into place and its directory
 * fsynced: a name that exists holds the whole body, durably. Identical
 * bodies are stored once. Nothing is ever changed in place.
 *
 * Every function is safe on any thread (two threads storing the same body
 * at once both succeed; one rename wins with the same bytes). Errors:
 * LMS_RESOURCE_EXHAUSTED for a full disk (ENOSPC, EDQUOT: lmsd holds and
 * retries, as for its log and its storage), LMS_DATA_LOSS for bytes that
 * do not match their name or a body of the wrong size, LMS_NOT_FOUND for
 * a body the store does not hold, LMS_INTERNAL for other I/O errors.
 */
#ifndef LMS_CORE_FILESTORE_H
#define LMS_CORE_FILESTORE_H

#include <lms/plugin.h>

#include <stddef.h>
#include <stdint.h>

#define FILESTORE_SHA_LEN 32

typedef struct filestore filestore;
typedef struct filestore_file filestore_file;

/* Open (creating) <data_dir>/files; leftovers of writes that a crash cut
 * short (files/tmp/) are removed. */
int filestore_open(const char *data_dir, filestore **out, lms_err *err);
void filestore_free(filestore *fs);
const char *filestore_dir(const filestore *fs);

/* Store len bytes named sha: LMS_OK once they are there, durably (also
 * when they already were: then nothing is written). verify = 0 when the
 * caller knows that sha is the bytes' SHA-256 (it just computed it, or
 * the cluster agreed on both): they are then not hashed again. */
int filestore_put(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                  const void *data, uint64_t len, int verify, lms_err *err);

/* 1 when the store holds a body named sha of size bytes, else 0. */
int filestore_has(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                  uint64_t size);

/* Read the whole body named sha (size bytes) into buf. */
int filestore_get(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                  uint64_t size, void *buf, lms_err *err);

/* A body written in pieces: create, write (in order, size bytes in all),
 * then finish(keep = 1) checks and stores it; finish(keep = 0), or any
 * failure, leaves nothing behind. finish frees the handle either way. */
int filestore_create(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                     uint64_t size, filestore_file **out, lms_err *err);
int filestore_write(filestore_file *f, const void *buf, size_t len,
                    lms_err *err);
/* A body read in pieces: open, read at any offsets, then finish (keep is
 * ignored). */
int filestore_open_body(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                        uint64_t size, filestore_file **out, lms_err *err);
int filestore_read(filestore_file *f, uint64_t off, void *buf, size_t len,
                   lms_err *err);
int filestore_finish(filestore_file *f, int keep, lms_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * files.h: the local file work of the clients: reading a file to submit or
 * upload, saving a downloaded one without clobbering anything by accident,
 * and the SHA-256 that proves the bytes arrived intact.
 */
#ifndef LMS_CLIENTS_FILES_H
#define LMS_CLIENTS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMS_SHA256_LEN 32

/* Read all of path (binary-safe) into a new buffer. Returns 0, or -1 with
 * errno set and a message in err. */
int lms_file_read(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen);

/* Write len bytes to path ("-": stdout). Unless overwrite, an existing file
 * is left alone (errno EEXIST). 0, or -1 with errno and err. */
int lms_file_write(const char *path, const uint8_t *data, size_t len, bool overwrite, char *err,
                   size_t errlen);

void lms_sha256(const void *data, size_t len, uint8_t out[LMS_SHA256_LEN]);

/* The last component of path ("dir/a.c" -> "a.c"); NULL if it has none. */
const char *lms_basename(const char *path);

/* Is name (from the server) safe to create in the current directory: not
 * empty, no '/', not "." or "..", nothing utf8_text_check refuses? */
bool lms_safe_file_name(const char *name);

#endif

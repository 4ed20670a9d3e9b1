/* SPDX-License-Identifier: MIT */
/*
 * targz.h: a minimal writer of .tar.gz archives (POSIX ustar inside gzip,
 * through zlib) for lms-instructor fetch-all --tar: one directory entry,
 * then regular files, each whole in memory. Names are checked, never
 * trusted: a member is DIR/NAME with DIR and NAME plain names (no '/',
 * not "." or ".."), so that extracting cannot write outside DIR.
 */
#ifndef LMS_CLIENTS_TARGZ_H
#define LMS_CLIENTS_TARGZ_H

#include <stddef.h>
#include <stdint.h>

/* The longest NAME of a member (ustar's name field; DIR goes in the
 * prefix field, at most 155 bytes). */
#define LMS_TAR_NAME_MAX 100

struct lms_targz;

/* Start an archive on fd (a new, empty file; the writer neither closes nor
 * syncs it) whose members live in directory dir (mode 0700, time mtime,
 * seconds). NULL with the reason in err. */
struct lms_targz *lms_targz_open(int fd, const char *dir, int64_t mtime, char *err,
                                 size_t errlen);
/* Add dir/name (mode 0600) holding len bytes of data, dated mtime
 * (seconds). 0, or -1 with the reason in err. */
int lms_targz_add(struct lms_targz *t, const char *name, const void *data, size_t len,
                  int64_t mtime, char *err, size_t errlen);
/* End the archive (two zero blocks, the gzip trailer) and free t. 0, or
 * -1 with the reason in err; either way t is gone. */
int lms_targz_close(struct lms_targz *t, char *err, size_t errlen);
/* Free t without ending the archive (after a failure). */
void lms_targz_abort(struct lms_targz *t);

#endif

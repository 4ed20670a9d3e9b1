/* SPDX-License-Identifier: MIT */
/*
 * unenrolment.h: who left a course (lms-admin unenroll), kept as a keyed
 * record (storage ABI 1.4) under "unenr/<course>/<user>" with the value
 * records.proto's UnenrolmentRecord.
 *
 * Leaving is two writes in apply (sm.c): the enrolment row is set to
 * LMS_ROLE_NONE, which every storage backend returns from enrolment_get as
 * "not enrolled" (so every course check refuses them, with no check of its
 * own), and this record, which says that the user was in the course: the
 * lists of the course's work (submissions, grades, the export) leave their
 * work out unless asked for, and keep it stored. Enrolling them again
 * deletes the record and gives everything back.
 */
#ifndef LMS_CORE_UNENROLMENT_H
#define LMS_CORE_UNENROLMENT_H

#include <lms/storage.h>

#define UNENROLMENT_KEY_PREFIX "unenr/"

typedef struct unenrolment {
    int role;           /* the enrolment role they had */
    int64_t unenrolled; /* when (ms) */
    char unenrolled_by[LMS_NAME_MAX + 1];
} unenrolment;

/* The record of (course, user) into *out, *found 1; *found 0 when there
 * is none. LMS_OK or the storage's error (LMS_INTERNAL: it does not
 * decode). course is the code as stored. */
int unenrolment_get(const struct lms_storage_ops *ops, void *st, const char *course,
                    const char *user, unenrolment *out, int *found, lms_err *err);
/* Inside apply's transaction. */
int unenrolment_put(const struct lms_storage_ops *ops, void *st, const char *course,
                    const char *user, const unenrolment *u, lms_err *err);
/* LMS_OK also when there is none. */
int unenrolment_delete(const struct lms_storage_ops *ops, void *st, const char *course,
                       const char *user, lms_err *err);

/* Every user who left course, by name (bytewise). each() returning
 * nonzero stops the walk. */
typedef int (*unenrolment_fn)(void *arg, const char *user, const unenrolment *u);
int unenrolment_list(const struct lms_storage_ops *ops, void *st, const char *course,
                     unenrolment_fn each, void *arg, lms_err *err);

#endif

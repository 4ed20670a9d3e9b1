/* SPDX-License-Identifier: MIT */
/*
 * inbox.h: telling people what happened. Kept as keyed records (storage
 * ABI 1.4) whose values are records.proto messages:
 *
 *   ann/<course>/<id, 20 digits>      AnnouncementRecord: an announcement of
 *                                     course (its stored code); id is the
 *                                     log index of the command that posted
 *                                     it, so a course's keys order like ids
 *   inbox/<user>                      InboxMarkRecord: how far user has read
 *                                     their inbox
 *   inbox/<user>/ext/<assignment id>  InboxEventRecord: when user was last
 *                                     granted an extension of it
 *   inbox/.released/<assignment id>   InboxEventRecord: when its held grades
 *                                     were released
 *
 * (assignment ids as 20 digits too; a user name never starts with '.').
 * The last two are the times the tables do not keep. Written by apply
 * only (sm.c); read by apply and the handlers (handlers_inbox.c), any
 * thread, each on its own storage handle.
 *
 * A student's inbox itself is not stored: inbox_collect derives its items
 * from the rows and records of the student's courses when it is read, so
 * nothing is written to every member when something happens.
 */
#ifndef LMS_CORE_INBOX_H
#define LMS_CORE_INBOX_H

#include <lms/storage.h>

#include <stddef.h>
#include <stdint.h>

#define ANN_KEY_PREFIX "ann/"
#define INBOX_KEY_PREFIX "inbox/"

/* ---- announcements ----------------------------------------------------- */

typedef struct announcement {
    uint64_t id;
    char course[LMS_NAME_MAX + 1];
    char author[LMS_NAME_MAX + 1];
    char title[LMS_TITLE_MAX + 1];
    const char *text; /* never NULL; valid during the callback only */
    int64_t created;
} announcement;

/* Called per announcement; nonzero stops the walk. */
typedef int (*announcement_each_fn)(void *arg, const announcement *a);

/* Store a (inside apply's transaction) under its course and id. */
int announcement_put(const struct lms_storage_ops *ops, void *st, const announcement *a,
                     lms_err *err);

/* each(arg, the announcement id of course): LMS_OK, LMS_NOT_FOUND when
 * there is none, or the storage's error; LMS_INTERNAL when the stored
 * value does not decode (it was written by apply: a damaged store). */
int announcement_get(const struct lms_storage_ops *ops, void *st, const char *course,
                     uint64_t id, announcement_each_fn each, void *arg, lms_err *err);

/* The announcements of course, newest (largest id) first, those with an
 * id below before only (0: all). */
int announcement_list(const struct lms_storage_ops *ops, void *st, const char *course,
                      uint64_t before, announcement_each_fn each, void *arg, lms_err *err);

/* ---- the read mark and the times the tables do not keep ------------------ */

/* user's read mark into *seen (0 when they never read their inbox). */
int inbox_mark_get(const struct lms_storage_ops *ops, void *st, const char *user,
                   int64_t *seen, lms_err *err);
/* Store user's read mark seen, set at time changed (inside apply). */
int inbox_mark_put(const struct lms_storage_ops *ops, void *st, const char *user,
                   int64_t seen, int64_t changed, lms_err *err);

/* Note (inside apply) that by granted student an extension of assignment
 * aid until until, at time. */
int inbox_note_extension(const struct lms_storage_ops *ops, void *st, const char *student,
                         uint64_t aid, int64_t time, const char *by, int64_t until,
                         lms_err *err);
/* Note (inside apply) that by released assignment aid's grades at time. */
int inbox_note_release(const struct lms_storage_ops *ops, void *st, uint64_t aid,
                       int64_t time, const char *by, lms_err *err);

/* ---- a student's inbox --------------------------------------------------- */

enum inbox_kind {
    INBOX_ANNOUNCEMENT = 0, /* id: the announcement */
    INBOX_ASSIGNMENT = 1,   /* a new or changed assignment; id: the assignment */
    INBOX_GRADE = 2,        /* a grade they can see; id: the submission */
    INBOX_REPLY = 3,        /* to their question; id: the query */
    INBOX_EXTENSION = 4,    /* granted to them; id: the assignment */
    INBOX_KINDS = 5,
};

#define INBOX_SUMMARY_MAX 320 /* bytes of a summary, one line */

typedef struct inbox_item {
    int64_t time; /* when it happened: the leader's clock */
    int kind;     /* enum inbox_kind */
    uint64_t id;
    char course[LMS_NAME_MAX + 1];
    char by[LMS_NAME_MAX + 1]; /* who did it */
    char summary[INBOX_SUMMARY_MAX + 1];
} inbox_item;

typedef struct inbox_page {
    inbox_item *items; /* newest first (then by kind, then by id, descending) */
    size_t n;
    size_t more; /* items of the window left out, all older than the last */
} inbox_page;

/* "announcement", "assignment", "grade", "reply", "extension". */
const char *inbox_kind_name(int kind);

/*
 * The newest max (at least 1) of what happened for student user in the
 * window (since, until] (until 0: no end) into *out (free it with
 * inbox_page_free, also after a failure):
 *  - the announcements of every course they are enrolled in (as a
 *    student or a teaching assistant; not one they were unenrolled from);
 *  - in the courses they study in: the new assignments (as they are
 *    now), and the changes to older ones (edits, shown again: one item at
 *    the newest change), none hidden from its students or deleted
 *    (assignments.h); the grades of their submissions they may see (a
 *    held grade once released, at the later of its grading and its
 *    release; less a late penalty, as `grades` shows it); the extensions
 *    granted to them;
 *  - the replies of others to their questions to the instructors.
 * Only what happened in the window is read past the course lists: an
 * announcement walk stops at the first one older than since.
 */
int inbox_collect(const struct lms_storage_ops *ops, void *st, const char *user,
                  int64_t since, int64_t until, size_t max, inbox_page *out,
                  lms_err *err);
void inbox_page_free(inbox_page *p);

#endif

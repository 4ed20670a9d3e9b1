/* SPDX-License-Identifier: MIT */
/*
 * assignments.h: an assignment's state beyond its row (include/lms/storage.h
 * lms_assignment): its late penalty, whether it is hidden from its students
 * or deleted, and who changed it when. Kept as a keyed record (storage ABI
 * 1.4) under "asg/<id as 20 decimal digits>", the value records.proto's
 * AssignmentRecord; an assignment without one has no late penalty, is
 * visible and was never changed. Written by apply only (sm.c); read by
 * apply and by every handler that reads assignments.
 *
 * There is no storage op that deletes an assignment: a deleted one keeps
 * its row and gets a tombstone here, and asg_load() is the one lookup that
 * treats it as gone. Every path that finds assignments by id goes through
 * it; lists skip the tombstones (asg_get).
 */
#ifndef LMS_CORE_ASSIGNMENTS_H
#define LMS_CORE_ASSIGNMENTS_H

#include "client.pb-c.h"

#include <lms/storage.h>

#define ASG_KEY_PREFIX "asg/"
#define ASG_HISTORY_MAX 16   /* changes kept in the record, the newest */
#define ASG_CHANGED_MAX 120  /* bytes of one change's "what changed" */

/* One change: when, by whom, what ("due, max-points", "hidden"). */
typedef struct asg_edit {
    int64_t at;
    char by[LMS_NAME_MAX + 1];
    char changed[ASG_CHANGED_MAX + 1];
} asg_edit;

typedef struct asg_state {
    uint32_t late_penalty; /* percent of max_points per started day late */
    int hidden;            /* not shown to students, no submissions */
    int deleted;           /* a tombstone: gone for everyone */
    uint32_t edit_count;   /* changes in all */
    size_t n_history;      /* the last changes (at most ASG_HISTORY_MAX), */
    asg_edit history[ASG_HISTORY_MAX]; /* oldest first */
} asg_state;

/* Assignment id's state into *out (all zero when there is no record):
 * LMS_OK, or the storage's error; LMS_INTERNAL when the stored value does
 * not decode (apply wrote it: a damaged store). Any thread, on its
 * handle. */
int asg_get(const struct lms_storage_ops *ops, void *st, uint64_t id, asg_state *out,
            lms_err *err);

/* Store id's state (inside apply's transaction). */
int asg_put(const struct lms_storage_ops *ops, void *st, uint64_t id,
            const asg_state *x, lms_err *err);

/* Add a change to x's history (dropping the oldest beyond
 * ASG_HISTORY_MAX) and count it. */
void asg_note(asg_state *x, int64_t at, const char *by, const char *changed);

/* Assignment id with its state (x may be NULL): LMS_NOT_FOUND (err
 * cleared) when it has no row or is deleted. The record is read first, so
 * a->description stays valid until the next call on st. */
int asg_load(const struct lms_storage_ops *ops, void *st, uint64_t id, lms_assignment *a,
             asg_state *x, lms_err *err);

/* Apply the changes of edit e to an assignment a and its state x, in
 * place: each field e sets takes e's value (a->description then points
 * into e). changed (cap bytes) names, in the order of the CLI's options,
 * those whose value differs ("due, max-points"; "" when none does).
 * Returns how many fields e sets. The result is not checked: callers ask
 * the rules (texts, rule_assignment, rule_late_penalty). */
unsigned asg_edit_apply(const Lms__EditAssignmentRequest *e, lms_assignment *a,
                        asg_state *x, char *changed, size_t cap);

/* How many of assignment a's grades are above max_points (an edit that
 * lowers the points must not cut them). Walks the grades of a's course. */
int asg_grades_above(const struct lms_storage_ops *ops, void *st, const lms_assignment *a,
                     double max_points, uint32_t *n, lms_err *err);

#endif

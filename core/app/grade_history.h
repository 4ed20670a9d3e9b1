/* SPDX-License-Identifier: MIT */
/*
 * grade_history.h: every grade a submission was given, kept as keyed
 * records (storage ABI 1.4) under "gh/<submission id>/<log index>" (20
 * zero-padded digits each) with the value records.proto's
 * GradeHistoryRecord. The grade row (grade_put) holds the current grade;
 * apply (sm.c, apply_grade) adds an entry for each grade it stores, so the
 * last entry is the current grade. A grade stored before the history was
 * kept is added as entry 0 when it is first changed.
 */
#ifndef LMS_CORE_GRADE_HISTORY_H
#define LMS_CORE_GRADE_HISTORY_H

#include <lms/storage.h>

#define GRADE_HISTORY_KEY_PREFIX "gh/"

/* Add g (its submission_id, grade, feedback, grader, graded) as the entry
 * of log index index, inside apply's transaction. */
int grade_history_add(const struct lms_storage_ops *ops, void *st, uint64_t index,
                      const lms_grade *g, lms_err *err);

/* The entries of submission id, oldest first: each(arg, index, g), g and
 * its feedback valid during the call; nonzero stops the walk. LMS_INTERNAL
 * for an entry that does not decode. */
typedef int (*grade_history_fn)(void *arg, uint64_t index, const lms_grade *g);
int grade_history_list(const struct lms_storage_ops *ops, void *st, uint64_t id,
                       grade_history_fn each, void *arg, lms_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * grade_history.c: see grade_history.h.
 */
#include "grade_history.h"

#include "lms_assert.h"
#include "records.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_CAP (sizeof GRADE_HISTORY_KEY_PREFIX + 2 * 20 + 2)

int grade_history_add(const struct lms_storage_ops *ops, void *st, uint64_t index,
                      const lms_grade *g, lms_err *err)
{
    char key[KEY_CAP];
    snprintf(key, sizeof key, GRADE_HISTORY_KEY_PREFIX "%020" PRIu64 "/%020" PRIu64,
             g->submission_id, index);
    Lms__GradeHistoryRecord m = LMS__GRADE_HISTORY_RECORD__INIT;
    m.grade = g->grade;
    m.feedback = (char *)(g->feedback ? g->feedback : "");
    m.grader = (char *)g->grader;
    m.graded = g->graded;
    size_t n = lms__grade_history_record__get_packed_size(&m);
    uint8_t *buf = malloc(n ? n : 1); /* the feedback may be long */
    if (!buf)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "out of memory keeping the grade history of submission %" PRIu64,
                           g->submission_id);
    lms__grade_history_record__pack(&m, buf);
    int rc = ops->record_put(st, key, buf, n, err);
    free(buf);
    return rc;
}

typedef struct walk {
    uint64_t id;
    grade_history_fn each;
    void *arg;
    lms_err *err;
    int rc;
} walk;

static int each_entry(void *arg, const lms_record *r)
{
    walk *w = arg;
    size_t n = strlen(r->key);
    LMS_ASSERT(n > 20);
    uint64_t index = strtoull(r->key + n - 20, NULL, 10);
    Lms__GradeHistoryRecord *m = lms__grade_history_record__unpack(NULL, r->len, r->value);
    if (!m) {
        w->rc = lms_err_set(w->err, LMS_INTERNAL,
                            "the stored grade history entry %s does not decode", r->key);
        return 1;
    }
    lms_grade g = {.submission_id = w->id, .grade = m->grade, .feedback = m->feedback,
                   .graded = m->graded};
    snprintf(g.grader, sizeof g.grader, "%s", m->grader);
    int stop = w->each(w->arg, index, &g);
    lms__grade_history_record__free_unpacked(m, NULL);
    return stop;
}

int grade_history_list(const struct lms_storage_ops *ops, void *st, uint64_t id,
                       grade_history_fn each, void *arg, lms_err *err)
{
    char prefix[KEY_CAP];
    snprintf(prefix, sizeof prefix, GRADE_HISTORY_KEY_PREFIX "%020" PRIu64 "/", id);
    walk w = {.id = id, .each = each, .arg = arg, .err = err, .rc = LMS_OK};
    int rc = ops->record_list(st, prefix, NULL, 0, each_entry, &w, err);
    return rc != LMS_OK ? rc : w.rc;
}

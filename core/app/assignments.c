/* SPDX-License-Identifier: MIT */
/*
 * assignments.c: see assignments.h.
 */
#include "assignments.h"

#include "lms_assert.h"
#include "records.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "asg/" and 20 digits: ids sort as numbers, bytewise. */
#define ASG_KEY_LEN (sizeof ASG_KEY_PREFIX - 1 + 20)

static void key_of(uint64_t id, char key[ASG_KEY_LEN + 1])
{
    int w = snprintf(key, ASG_KEY_LEN + 1, ASG_KEY_PREFIX "%020" PRIu64, id);
    LMS_ASSERT(w == (int)ASG_KEY_LEN);
}

/* Copy src into dst[cap], cut at a UTF-8 character boundary. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int decode(const lms_record *r, asg_state *out, lms_err *err)
{
    memset(out, 0, sizeof *out);
    Lms__AssignmentRecord *m = lms__assignment_record__unpack(NULL, r->len, r->value);
    if (!m)
        return lms_err_set(err, LMS_INTERNAL,
                           "the stored assignment record %s does not decode", r->key);
    out->late_penalty = m->late_penalty;
    out->hidden = m->hidden;
    out->deleted = m->deleted;
    out->edit_count = m->edit_count;
    /* the newest, should a record hold more than this build keeps */
    size_t skip = m->n_history > ASG_HISTORY_MAX ? m->n_history - ASG_HISTORY_MAX : 0;
    for (size_t i = skip; i < m->n_history; i++) {
        asg_edit *e = &out->history[out->n_history++];
        e->at = m->history[i]->at;
        copy_cut(e->by, sizeof e->by, m->history[i]->by);
        copy_cut(e->changed, sizeof e->changed, m->history[i]->changed);
    }
    lms__assignment_record__free_unpacked(m, NULL);
    return LMS_OK;
}

int asg_get(const struct lms_storage_ops *ops, void *st, uint64_t id, asg_state *out,
            lms_err *err)
{
    char key[ASG_KEY_LEN + 1];
    lms_record r;
    memset(out, 0, sizeof *out);
    key_of(id, key);
    int rc = ops->record_get(st, key, &r, err);
    if (rc == LMS_NOT_FOUND) {
        lms_err_clear(err);
        return LMS_OK;
    }
    return rc != LMS_OK ? rc : decode(&r, out, err);
}

int asg_put(const struct lms_storage_ops *ops, void *st, uint64_t id,
            const asg_state *x, lms_err *err)
{
    char key[ASG_KEY_LEN + 1];
    Lms__AssignmentEdit edits[ASG_HISTORY_MAX], *pe[ASG_HISTORY_MAX];
    LMS_ASSERT(x->n_history <= ASG_HISTORY_MAX);
    key_of(id, key);
    Lms__AssignmentRecord m = LMS__ASSIGNMENT_RECORD__INIT;
    m.late_penalty = x->late_penalty;
    m.hidden = x->hidden != 0;
    m.deleted = x->deleted != 0;
    m.edit_count = x->edit_count;
    for (size_t i = 0; i < x->n_history; i++) {
        lms__assignment_edit__init(&edits[i]);
        edits[i].at = x->history[i].at;
        edits[i].by = (char *)x->history[i].by;
        edits[i].changed = (char *)x->history[i].changed;
        pe[i] = &edits[i];
    }
    m.n_history = x->n_history;
    m.history = pe;
    uint8_t buf[ASG_HISTORY_MAX * (sizeof(asg_edit) + 16) + 64];
    size_t n = lms__assignment_record__get_packed_size(&m);
    LMS_ASSERT(n <= sizeof buf);
    lms__assignment_record__pack(&m, buf);
    return ops->record_put(st, key, buf, n, err);
}

void asg_note(asg_state *x, int64_t at, const char *by, const char *changed)
{
    LMS_ASSERT(x->n_history <= ASG_HISTORY_MAX);
    if (x->n_history == ASG_HISTORY_MAX) {
        memmove(&x->history[0], &x->history[1],
                (ASG_HISTORY_MAX - 1) * sizeof x->history[0]);
        x->n_history--;
    }
    asg_edit *e = &x->history[x->n_history++];
    e->at = at;
    copy_cut(e->by, sizeof e->by, by);
    copy_cut(e->changed, sizeof e->changed, changed);
    if (x->edit_count < UINT32_MAX)
        x->edit_count++;
}

int asg_load(const struct lms_storage_ops *ops, void *st, uint64_t id, lms_assignment *a,
             asg_state *x, lms_err *err)
{
    asg_state mine;
    asg_state *s = x ? x : &mine;
    int rc = asg_get(ops, st, id, s, err);
    if (rc != LMS_OK)
        return rc;
    if (s->deleted) {
        lms_err_clear(err);
        return LMS_NOT_FOUND;
    }
    return ops->assignment_get(st, id, a, err);
}

/* Add name to the list in changed (", "-separated). */
static void add_change(char *changed, size_t cap, const char *name)
{
    size_t n = strlen(changed);
    snprintf(changed + n, cap - n, "%s%s", n ? ", " : "", name);
}

unsigned asg_edit_apply(const Lms__EditAssignmentRequest *e, lms_assignment *a,
                        asg_state *x, char *changed, size_t cap)
{
    unsigned given = 0;
    LMS_ASSERT(cap > 0);
    changed[0] = '\0';
/* One field: count it, note it if the value differs, take the value. */
#define EDIT(flag, name, differs, assign) \
    do {                                  \
        if (e->flag) {                    \
            given++;                      \
            if (differs)                  \
                add_change(changed, cap, name); \
            assign;                       \
        }                                 \
    } while (0)
    EDIT(set_title, "title", strcmp(a->title, e->title) != 0,
         copy_cut(a->title, sizeof a->title, e->title));
    EDIT(set_description, "description", strcmp(a->description, e->description) != 0,
         a->description = e->description);
    EDIT(set_due, "due", a->due != e->due, a->due = e->due);
    EDIT(set_cutoff, "cutoff", a->cutoff != e->cutoff, a->cutoff = e->cutoff);
    EDIT(set_max_points, "max-points", !(a->max_points == e->max_points),
         a->max_points = e->max_points);
    EDIT(set_max_attempts, "max-attempts", a->max_attempts != e->max_attempts,
         a->max_attempts = e->max_attempts);
    EDIT(set_max_size, "max-size", a->max_size != e->max_size, a->max_size = e->max_size);
    EDIT(set_late_penalty, "late-penalty", x->late_penalty != e->late_penalty,
         x->late_penalty = e->late_penalty);
#undef EDIT
    return given;
}

typedef struct above_ctx {
    uint64_t id;
    double max_points;
    uint32_t n;
} above_ctx;

static int count_above(void *arg, const void *row)
{
    above_ctx *x = arg;
    const lms_grade_view *v = row;
    if (v->submission->assignment_id == x->id && v->grade->grade > x->max_points)
        x->n++;
    return 0;
}

int asg_grades_above(const struct lms_storage_ops *ops, void *st, const lms_assignment *a,
                     double max_points, uint32_t *n, lms_err *err)
{
    above_ctx x = {.id = a->id, .max_points = max_points};
    int rc = ops->grade_list(st, a->course, NULL, count_above, &x, err);
    *n = x.n;
    return rc;
}

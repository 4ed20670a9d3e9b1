/* SPDX-License-Identifier: MIT */
/*
 * handlers_grading.c: the grader's reads. The to-grade queue (the latest
 * attempt of each student that has no grade, oldest first, across the
 * caller's courses), one assignment with the caller's own standing, and
 * the marks that tell instructors when two students handed in the same
 * bytes. Everything here is computed when read from the stored rows: no
 * command, no replicated state of its own.
 */
#include "handlers.h"

#include "lms_assert.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- a student's own standing in an assignment ------------------------ */

typedef struct mine_acc {
    uint32_t attempts;
    int64_t last;
} mine_acc;

static int mine_each(void *arg, const void *row)
{
    mine_acc *m = arg;
    const lms_submission *s = row;
    m->attempts++;
    if (s->submitted > m->last)
        m->last = s->submitted;
    return 0;
}

int req_assignment_mine(req *r, Lms__Assignment *a)
{
    const struct lms_storage_ops *ops = req_ops(r);
    lms_extension x;
    lms_err err = {0};
    int64_t until = 0;
    int role;
    if (req_course_role(r, a->course, &role, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    if (role != LMS_ROLE_STUDENT)
        return 0; /* staff of this course (or an admin): nothing of theirs */
    a->as_student = 1;
    int rc = ops->extension_get(req_st(r), a->id, r->who.name, &x, &err);
    if (rc == LMS_OK)
        until = x.until;
    else if (rc != LMS_NOT_FOUND)
        return req_storage_error(r, &err), -1;
    rule_effective_times(a->due, a->cutoff, until, &a->my_due, &a->my_cutoff);
    mine_acc m = {0};
    if (ops->submission_list(req_st(r), a->id, r->who.name, mine_each, &m,
                             &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    a->my_attempts = m.attempts;
    a->my_last_submitted = m.last;
    return 0;
}

/* ---- identical submissions --------------------------------------------- */

static int sha_cmp(const Lms__Submission *x, const Lms__Submission *y)
{
    if (x->sha256.len != y->sha256.len)
        return x->sha256.len < y->sha256.len ? -1 : 1;
    return x->sha256.len ? memcmp(x->sha256.data, y->sha256.data, x->sha256.len) : 0;
}

/* By SHA-256, then student, then id: equal bytes together, each student's
 * run of them in order, earliest first. */
static int by_sha_student_id(const void *a, const void *b)
{
    const Lms__Submission *x = *(Lms__Submission *const *)a;
    const Lms__Submission *y = *(Lms__Submission *const *)b;
    int c = sha_cmp(x, y);
    if (c == 0)
        c = strcmp(x->student, y->student);
    if (c == 0)
        c = (x->id > y->id) - (x->id < y->id);
    return c;
}

/* v[0..n): submissions with equal bytes, sorted by student then id. Each
 * student's first is their earliest; the two earliest of different
 * students are what every member is told about. */
static void mark_group(Lms__Submission **v, size_t n)
{
    const Lms__Submission *first = NULL, *second = NULL;
    uint32_t students = 0;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && strcmp(v[k]->student, v[k - 1]->student) == 0)
            continue;
        students++;
        if (!first || v[k]->id < first->id) {
            second = first;
            first = v[k];
        } else if (!second || v[k]->id < second->id) {
            second = v[k];
        }
    }
    if (students < 2)
        return;
    LMS_ASSERT(first && second && strcmp(first->student, second->student) != 0);
    for (size_t k = 0; k < n; k++) {
        const Lms__Submission *o =
            strcmp(v[k]->student, first->student) != 0 ? first : second;
        v[k]->identical_to = o->id;
        v[k]->identical_student = o->student;
        v[k]->identical_count = students - 1;
    }
}

void req_mark_identical(req *r, const ptr_vec *subs)
{
    if (subs->n < 2)
        return;
    Lms__Submission **v = req_alloc(r, subs->n * sizeof *v);
    memcpy(v, subs->v, subs->n * sizeof *v);
    qsort(v, subs->n, sizeof *v, by_sha_student_id);
    for (size_t i = 0, j; i < subs->n; i = j) {
        for (j = i + 1; j < subs->n && sha_cmp(v[i], v[j]) == 0; j++)
            ;
        mark_group(v + i, j - i);
    }
}

/* ---- the to-grade queue ------------------------------------------------ *
 * For the staff of a course (its instructors and teaching assistants, who
 * grade it) and admins; a TA may be a student elsewhere, so the global
 * role alone decides nothing but the admin's view of every course. */

typedef struct queue_assignment {
    uint64_t id;
    const char *title;
} queue_assignment;

static void *keep_queue_assignment(req *r, const void *row, void *ctx)
{
    const lms_assignment *a = row;
    queue_assignment *q = req_alloc(r, sizeof *q);
    q->id = a->id;
    q->title = req_strdup(r, a->title);
    return q;
}

static void *keep_row(req *r, const void *row, void *ctx)
{
    return pb_submission(r, row);
}

static void *keep_name(req *r, const void *row, void *ctx)
{
    return req_strdup(r, ((const lms_enrolment *)row)->user);
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* By student, then id: each student's latest attempt ends their run. */
static int by_student_id(const void *a, const void *b)
{
    const Lms__Submission *x = *(Lms__Submission *const *)a;
    const Lms__Submission *y = *(Lms__Submission *const *)b;
    int c = strcmp(x->student, y->student);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* Oldest submission first; ties (one leader stamp) by id. */
static int by_submitted(const void *a, const void *b)
{
    const Lms__Submission *x = (*(Lms__ToGradeItem *const *)a)->submission;
    const Lms__Submission *y = (*(Lms__ToGradeItem *const *)b)->submission;
    if (x->submitted != y->submitted)
        return x->submitted < y->submitted ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Push onto queue the ungraded latest attempts at assignment a of course,
 * by the students of students (sorted). 0, or -1 with the answer set. */
static int queue_assignment_add(req *r, const char *course,
                                const queue_assignment *a,
                                const ptr_vec *students, ptr_vec *queue)
{
    ptr_vec subs = {0};
    row_sink sink = {r, &subs, keep_row, NULL};
    lms_err err = {0};
    if (req_ops(r)->submission_list(req_st(r), a->id, NULL, row_sink_each,
                                    &sink, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    req_mark_identical(r, &subs);
    if (subs.n > 1)
        qsort(subs.v, subs.n, sizeof *subs.v, by_student_id);
    for (size_t i = 0; i < subs.n; i++) {
        Lms__Submission *s = subs.v[i];
        if (i + 1 < subs.n &&
            strcmp(s->student, ((Lms__Submission *)subs.v[i + 1])->student) == 0)
            continue; /* superseded by a later attempt */
        const char *key = s->student;
        if (s->graded ||
            !bsearch(&key, students->v, students->n, sizeof *students->v, by_str))
            continue;
        Lms__ToGradeItem *it = req_alloc(r, sizeof *it);
        lms__to_grade_item__init(it);
        it->submission = s;
        it->course = (char *)course;
        it->assignment_title = (char *)a->title;
        ptr_vec_push(r, queue, it);
    }
    return 0;
}

/* The queue's part from one course. 0, or -1 with the answer set. */
static int queue_course_add(req *r, const char *course, ptr_vec *queue)
{
    const struct lms_storage_ops *ops = req_ops(r);
    ptr_vec students = {0}, assignments = {0};
    row_sink ss = {r, &students, keep_name, NULL};
    row_sink as = {r, &assignments, keep_queue_assignment, NULL};
    lms_err err = {0};
    int rc = ops->enrolment_list(req_st(r), course, LMS_ROLE_STUDENT,
                                 row_sink_each, &ss, &err);
    if (rc == LMS_OK)
        rc = ops->assignment_list(req_st(r), course, row_sink_each, &as, &err);
    if (rc != LMS_OK)
        return req_storage_error(r, &err), -1;
    if (students.n > 1) /* storage orders them, but bsearch needs strcmp's order */
        qsort(students.v, students.n, sizeof *students.v, by_str);
    for (size_t j = 0; j < assignments.n; j++)
        if (queue_assignment_add(r, course, assignments.v[j], &students, queue) < 0)
            return -1;
    return 0;
}

static next_step to_grade_prepare(req *r)
{
    char *course = r->msg->to_grade->course;
    int admin = r->who.role == LMS_ROLE_ADMIN;
    ptr_vec codes = {0}, queue = {0};
    if (course[0]) {
        if (req_check_course(r, course, admin ? COURSE_EXISTS : COURSE_STAFF,
                             "list what awaits a grade") < 0)
            return NEXT_RESPOND;
        ptr_vec_push(r, &codes, course);
    } else if (req_my_courses(r, admin ? COURSE_MEMBER : COURSE_STAFF, &codes) < 0) {
        return NEXT_RESPOND;
    } else if (codes.n == 0 && r->who.role == LMS_ROLE_STUDENT) {
        /* a student who assists in no course: not an empty queue, a refusal */
        return req_fail(r, LMS_PERMISSION_DENIED,
                        "only the instructors and teaching assistants of a course may "
                        "list what awaits a grade, and %s teaches or assists in none",
                        r->who.name);
    }
    for (size_t i = 0; i < codes.n; i++)
        if (queue_course_add(r, codes.v[i], &queue) < 0)
            return NEXT_RESPOND;
    /* late as judged now, by the due times as they are */
    Lms__Submission **subs = req_alloc(r, (queue.n ? queue.n : 1) * sizeof *subs);
    for (size_t i = 0; i < queue.n; i++)
        subs[i] = ((Lms__ToGradeItem *)queue.v[i])->submission;
    if (req_fix_late(r, subs, queue.n) < 0)
        return NEXT_RESPOND;
    if (queue.n > 1)
        qsort(queue.v, queue.n, sizeof *queue.v, by_submitted);
    r->resp.body_case = LMS__RESPONSE__BODY_TO_GRADE;
    r->resp.to_grade = pb_list(r, &lms__to_grade_response__descriptor, &queue);
    return NEXT_RESPOND;
}

/* ---- one assignment ---------------------------------------------------- */

static next_step get_assignment_prepare(req *r)
{
    uint64_t id = r->msg->get_assignment->assignment_id;
    lms_assignment a;
    asg_state x;
    if (req_load_assignment(r, id, &a, &x) < 0) /* a deleted one: NOT_FOUND */
        return NEXT_RESPOND;
    /* copied before the next storage call: a.description is the store's */
    Lms__Assignment *m = pb_assignment(r, &a);
    if (req_check_course(r, a.course, COURSE_MEMBER, "see its assignments") < 0 ||
        req_assignment_visible(r, m, &x) < 0)
        return NEXT_RESPOND;
    if (req_assignment_mine(r, m) < 0)
        return NEXT_RESPOND;
    r->resp.body_case = LMS__RESPONSE__BODY_ASSIGNMENT;
    r->resp.assignment = m;
    return NEXT_RESPOND;
}

#define B(x) LMS__REQUEST__BODY_##x
const handler handlers_grading[] = {
    {.body = B(TO_GRADE), .name = "to-grade",
     .roles = ROLES_ANY, .prepare = to_grade_prepare},
    {.body = B(GET_ASSIGNMENT), .name = "assignment", .roles = ROLES_ANY,
     .prepare = get_assignment_prepare},
    {.name = NULL},
};

/* SPDX-License-Identifier: MIT */
/*
 * handlers_work.c: assignments, submissions, grades and the grade export.
 *
 * A submitted file is hashed on the worker pool (work()), never in apply;
 * the command points at the request's bytes rather than copying them. A
 * fetched file is answered straight from the storage buffer, so the get
 * that loads it is the handler's last storage call (the engine packs the
 * answer before the next one). Students see their own submissions and
 * grades only, and a held grade only once its assignment is released.
 */
#include "handlers.h"

#include "csv_out.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIME_BUFSZ 32

/* ms since the epoch as 2026-12-01T23:59:00Z (UTC, whole seconds). */
static const char *iso_utc(int64_t ms, char buf[TIME_BUFSZ])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, TIME_BUFSZ, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, TIME_BUFSZ, "%" PRId64 "ms", ms);
    return buf;
}

/* Load assignment id into *a; with a verb ("grade it"), the caller must
 * also teach its course. a->description lasts only until the next storage
 * call. */
static int load_assignment(req *r, uint64_t id, lms_assignment *a, const char *teach)
{
    if (req_load_assignment(r, id, a, NULL) < 0)
        return -1;
    return teach ? req_check_course(r, a->course, COURSE_INSTRUCTOR, teach) : 0;
}

/* Load submission id (without its file) and its assignment: its student
 * may touch their own when own_ok, while still a member of its course (not
 * after lms-admin unenroll), the staff of its course (instructors, TAs)
 * any of it (teach: what for). A student who is neither learns only that
 * it is not theirs, not whose course it is. */
int req_load_submission(req *r, uint64_t id, lms_submission *s, lms_assignment *a,
                        const char *teach, int own_ok)
{
    lms_err err = {0};
    int rc = req_ops(r)->submission_get(req_st(r), id, 0, s, &err);
    if (req_got(r, rc, &err, "submission", id) < 0)
        return -1;
    if (load_assignment(r, s->assignment_id, a, NULL) < 0)
        return -1;
    int role;
    if (req_course_role(r, a->course, &role, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    if (own_ok && strcmp(s->student, r->who.name) == 0)
        return role != LMS_ROLE_NONE ? 0
                                     : req_check_course(r, a->course, COURSE_MEMBER, teach);
    if (rule_is_staff(role))
        return 0;
    if (r->who.role == LMS_ROLE_STUDENT && own_ok)
        return req_fail(r, LMS_PERMISSION_DENIED,
                        "submission %" PRIu64 " is not yours", id),
               -1;
    if (r->who.role == LMS_ROLE_STUDENT)
        return req_fail(r, LMS_PERMISSION_DENIED,
                        "submission %" PRIu64 ": only the instructors and teaching "
                        "assistants of its course may %s", id, teach),
               -1;
    return req_check_course(r, a->course, COURSE_STAFF, teach);
}

/* The end of the caller's extension of assignment id: 0 if none, -1 on a
 * storage error (answer set). */
static int64_t my_extension(req *r, uint64_t id)
{
    lms_extension x;
    lms_err err = {0};
    int rc = req_ops(r)->extension_get(req_st(r), id, r->who.name, &x, &err);
    if (rc == LMS_OK)
        return x.until;
    if (rc == LMS_NOT_FOUND)
        return 0;
    return req_storage_error(r, &err), -1;
}

Lms__GradeEntry *pb_grade(req *r, const lms_grade *g, const lms_submission *s,
                          const lms_assignment *a)
{
    Lms__GradeEntry *m = req_alloc(r, sizeof *m);
    lms__grade_entry__init(m);
    m->submission_id = s->id;
    m->assignment_id = a->id;
    m->assignment_title = req_strdup(r, a->title);
    m->course = req_strdup(r, a->course);
    m->student = req_strdup(r, s->student);
    m->grade = g->grade;
    m->max_points = a->max_points;
    m->feedback = req_strdup(r, g->feedback);
    m->grader = req_strdup(r, g->grader);
    m->graded = g->graded;
    m->attempt = s->attempt;
    m->submitted = s->submitted;
    m->adjusted_grade = g->grade; /* until the late policy is applied */
    return m;
}

/* ---- assignments ------------------------------------------------------ */

/* An assignment's largest file when the instructor gives none (max_size
 * 0), unless the server's upload limit is lower. */
#define DEFAULT_MAX_SIZE (10ull << 20)

/* The default size is filled in here, not in apply, which must not depend
 * on this node's configuration: the command carries the number. */
static next_step create_assignment_prepare(req *r)
{
    Lms__CreateAssignmentRequest *q = r->msg->create_assignment;
    uint64_t limit = req_limits(r)->max_upload_bytes;
    char why[RULE_MSG_MAX];
    if (req_check_course(r, q->course, COURSE_INSTRUCTOR, "create assignments") < 0)
        return NEXT_RESPOND;
    if (q->max_size == 0)
        q->max_size = limit < DEFAULT_MAX_SIZE ? limit : DEFAULT_MAX_SIZE;
    lms_assignment x = {.due = q->due, .cutoff = q->cutoff, .max_points = q->max_points,
                        .max_attempts = q->max_attempts, .max_size = q->max_size};
    if (req_verdict(r, rule_max_size(q->max_size, limit, why, sizeof why), why) < 0 ||
        req_verdict(r, rule_late_penalty(q->late_penalty, why, sizeof why), why) < 0 ||
        req_check_text(r, &RULE_ASSIGNMENT_TITLE, q->title) < 0 ||
        req_check_text(r, &RULE_DESCRIPTION, q->description) < 0 ||
        req_verdict(r, rule_assignment(&x, why, sizeof why), why) < 0)
        return NEXT_RESPOND;
    Lms__CmdCreateAssignment *c = req_alloc(r, sizeof *c);
    lms__cmd_create_assignment__init(c);
    c->a = q;
    r->cmd.body_case = LMS__COMMAND__BODY_CREATE_ASSIGNMENT;
    r->cmd.create_assignment = c;
    return NEXT_PROPOSE;
}

static void create_assignment_applied(req *r) { req_answer_assignment(r, r->res.id); }

static void *keep_assignment(req *r, const void *row, void *ctx)
{
    return pb_assignment(r, row);
}

static next_step list_assignments_prepare(req *r)
{
    ptr_vec pv = {0};
    row_sink sink = {r, &pv, keep_assignment, NULL};
    if (req_list_visible(r, r->msg->list_assignments->course,
                         req_ops(r)->assignment_list, &sink, "list its assignments") < 0 ||
        req_assignments_visible(r, &pv) < 0)
        return NEXT_RESPOND;
    for (size_t i = 0; r->who.role != LMS_ROLE_ADMIN && i < pv.n; i++)
        if (req_assignment_mine(r, pv.v[i]) < 0)
            return NEXT_RESPOND;
    r->resp.body_case = LMS__RESPONSE__BODY_ASSIGNMENTS;
    r->resp.assignments = pb_list(r, &lms__assignments_response__descriptor, &pv);
    return NEXT_RESPOND;
}

static next_step release_prepare(req *r)
{
    uint64_t id = r->msg->release->assignment_id;
    lms_assignment a;
    if (load_assignment(r, id, &a, "release its grades") < 0)
        return NEXT_RESPOND;
    Lms__CmdRelease *c = req_alloc(r, sizeof *c);
    lms__cmd_release__init(c);
    c->assignment_id = id;
    r->cmd.body_case = LMS__COMMAND__BODY_RELEASE;
    r->cmd.release = c;
    return NEXT_PROPOSE;
}

static void release_applied(req *r)
{
    req_answer_assignment(r, r->msg->release->assignment_id);
}

static next_step extend_prepare(req *r)
{
    const Lms__ExtendRequest *q = r->msg->extend;
    lms_assignment a;
    lms_err err = {0};
    int role = LMS_ROLE_NONE;
    char why[RULE_MSG_MAX];
    if (load_assignment(r, q->assignment_id, &a, "grant extensions") < 0 ||
        req_verdict_on(r, rule_extension(&a, q->until, why, sizeof why), why,
                       "assignment %" PRIu64, a.id) < 0)
        return NEXT_RESPOND;
    if (strlen(q->student) <= LMS_NAME_MAX &&
        req_ops(r)->enrolment_get(req_st(r), a.course, q->student, &role,
                                  &err) != LMS_OK)
        return req_storage_error(r, &err);
    if (req_verdict_on(r, rule_student_of(q->student, role, a.course, why, sizeof why), why,
                       "assignment %" PRIu64, a.id) < 0)
        return NEXT_RESPOND;
    Lms__CmdExtend *c = req_alloc(r, sizeof *c);
    lms__cmd_extend__init(c);
    c->assignment_id = q->assignment_id;
    c->student = q->student;
    c->until = q->until;
    r->cmd.body_case = LMS__COMMAND__BODY_EXTEND;
    r->cmd.extend = c;
    return NEXT_PROPOSE;
}

/* ---- submissions ------------------------------------------------------ */

/* Refuse early what apply would refuse anyway (cut-off passed, attempts
 * used up, the file), so a large file is not logged and replicated in
 * vain: rule_submission and rule_file_name with what they need. */
static int submission_open(req *r, const lms_assignment *a)
{
    const Lms__SubmitRequest *q = r->msg->submit;
    char why[RULE_MSG_MAX];
    uint32_t made = 0;
    lms_err err = {0};
    int64_t until = my_extension(r, a->id);
    if (until < 0)
        return -1;
    if (req_ops(r)->submission_count(req_st(r), a->id, r->who.name, &made,
                                     &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    if (req_verdict_on(r, rule_submission(a, r->now, until, made, q->data.len, why,
                                          sizeof why),
                       why, "assignment %" PRIu64, a->id) < 0)
        return -1;
    return req_verdict_on(r, rule_file_name(q->file_name, why, sizeof why), why,
                          "assignment %" PRIu64, a->id);
}

static next_step submit_prepare(req *r)
{
    const Lms__SubmitRequest *q = r->msg->submit;
    lms_assignment a;
    asg_state x;
    char why[RULE_MSG_MAX];
    if (req_load_assignment(r, q->assignment_id, &a, &x) < 0 ||
        req_verdict(r, rule_assignment_open(a.id, x.hidden, why, sizeof why), why) < 0 ||
        req_check_course(r, a.course, COURSE_STUDENT, "submit") < 0 ||
        submission_open(r, &a) < 0)
        return NEXT_RESPOND;
    return NEXT_WORK; /* hash the file off the storage thread */
}

static next_step submit_work(req *r)
{
    const Lms__SubmitRequest *q = r->msg->submit;
    Lms__CmdSubmit *c = req_alloc(r, sizeof *c);
    lms__cmd_submit__init(c);
    c->assignment_id = q->assignment_id;
    c->file_name = q->file_name;
    c->data = q->data;
    c->sha256 = req_sha256(r, q->data);
    if (req_store_body(r, c->data, c->sha256) < 0)
        return NEXT_RESPOND;
    r->cmd.body_case = LMS__COMMAND__BODY_SUBMIT;
    r->cmd.submit = c;
    return NEXT_PROPOSE;
}

static void submit_applied(req *r)
{
    lms_submission s;
    lms_err err = {0};
    int rc = req_ops(r)->submission_get(req_st(r), r->res.id, 0, &s, &err);
    if (req_read_back(r, rc, &err, "submission", r->res.id) < 0)
        return;
    r->resp.body_case = LMS__RESPONSE__BODY_SUBMISSION;
    r->resp.submission = pb_submission(r, &s);
}

static void *keep_submission(req *r, const void *row, void *ctx)
{
    const lms_submission *s = row;
    const int *ungraded = ctx;
    return *ungraded && s->graded ? NULL : pb_submission(r, s);
}

static next_step list_submissions_prepare(req *r)
{
    const Lms__ListSubmissionsRequest *q = r->msg->list_submissions;
    /* staff (an instructor or TA of the assignment's course) list every
     * student's; anyone else their own, only in a course they take */
    int staff = 0;
    int ungraded = q->ungraded;
    lms_assignment a;
    lms_err err = {0};
    if (r->who.role != LMS_ROLE_STUDENT && !q->assignment_id)
        return req_fail(r, LMS_INVALID_ARGUMENT,
                        "%s is not enrolled as a student in any course (%s is an "
                        "instructor, with no submissions of their own); give the "
                        "assignment whose submissions to list",
                        r->who.name, r->who.name);
    if (q->assignment_id &&
        (load_assignment(r, q->assignment_id, &a, NULL) < 0 ||
         req_course_part(r, a.course, "list its submissions", &staff) < 0))
        return NEXT_RESPOND;
    int student = !staff;
    /* the staff's list: every row first, for the identical marks */
    int keep_all = 0;
    ptr_vec pv = {0};
    row_sink sink = {r, &pv, keep_submission, student ? &ungraded : &keep_all};
    if (req_ops(r)->submission_list(req_st(r), q->assignment_id,
                                    student ? r->who.name : NULL, row_sink_each,
                                    &sink, &err) != LMS_OK)
        return req_storage_error(r, &err);
    if (!student) {
        req_mark_identical(r, &pv);
        size_t kept = 0;
        for (size_t i = 0; i < pv.n; i++)
            if (!ungraded || !((Lms__Submission *)pv.v[i])->graded)
                pv.v[kept++] = pv.v[i];
        pv.n = kept;
    }
    /* those who left the course (lms-admin unenroll), unless asked for */
    if ((student || !q->include_unenrolled) &&
        req_drop_left_submissions(r, student ? NULL : a.course, &pv) < 0)
        return NEXT_RESPOND;
    if (req_fix_late(r, (Lms__Submission *const *)pv.v, pv.n) < 0)
        return NEXT_RESPOND;
    r->resp.body_case = LMS__RESPONSE__BODY_SUBMISSIONS;
    r->resp.submissions = pb_list(r, &lms__submissions_response__descriptor, &pv);
    return NEXT_RESPOND;
}

static next_step fetch_submission_prepare(req *r)
{
    uint64_t id = r->msg->fetch_submission->submission_id;
    lms_submission s;
    lms_assignment a;
    if (req_load_submission(r, id, &s, &a, "fetch its submissions", 1) < 0)
        return NEXT_RESPOND;
    uint8_t *body = req_file_body(r, s.sha256, s.size);
    if (!body)
        return NEXT_RESPOND;
    Lms__Submission *m = pb_submission(r, &s);
    if (req_fix_late(r, &m, 1) < 0)
        return NEXT_RESPOND;
    m->data.len = s.size;
    m->data.data = body;
    r->resp.body_case = LMS__RESPONSE__BODY_SUBMISSION;
    r->resp.submission = m;
    return NEXT_RESPOND;
}

/* ---- grades ----------------------------------------------------------- */

static next_step grade_prepare(req *r)
{
    const Lms__GradeRequest *q = r->msg->grade;
    lms_submission s;
    lms_assignment a;
    char why[RULE_MSG_MAX];
    if (req_load_submission(r, q->submission_id, &s, &a, "grade it", 0) < 0 ||
        req_verdict_on(r, rule_grader(r->who.name, s.student, why, sizeof why), why,
                       "submission %" PRIu64, s.id) < 0 ||
        req_verdict_on(r, rule_grade(q->grade, &a, why, sizeof why), why,
                       "submission %" PRIu64, s.id) < 0 ||
        req_check_text(r, &RULE_FEEDBACK, q->feedback) < 0)
        return NEXT_RESPOND;
    Lms__CmdGrade *c = req_alloc(r, sizeof *c);
    lms__cmd_grade__init(c);
    c->submission_id = q->submission_id;
    c->grade = q->grade;
    c->feedback = q->feedback;
    r->cmd.body_case = LMS__COMMAND__BODY_GRADE;
    r->cmd.grade = c;
    return NEXT_PROPOSE;
}

static void grade_applied(req *r)
{
    uint64_t id = r->msg->grade->submission_id;
    const struct lms_storage_ops *ops = req_ops(r);
    lms_submission s;
    lms_assignment a;
    asg_state x;
    lms_grade g;
    lms_err err = {0};
    lateness l = {0};
    int rc = ops->submission_get(req_st(r), id, 0, &s, &err);
    if (rc == LMS_OK)
        rc = asg_get(ops, req_st(r), s.assignment_id, &x, &err);
    if (rc == LMS_OK)
        rc = ops->assignment_get(req_st(r), s.assignment_id, &a, &err);
    if (rc == LMS_OK) /* last: g.feedback lives until the next call */
        rc = ops->grade_get(req_st(r), id, &g, &err);
    if (req_read_back(r, rc, &err, "the grade of submission", id) < 0)
        return;
    Lms__GradeEntry *m = pb_grade(r, &g, &s, &a);
    l.late_penalty = x.late_penalty;
    if (req_days_late(r, a.id, a.due, s.student, s.submitted, &l.days) < 0)
        return;
    req_set_penalty(m, &l);
    r->resp.body_case = LMS__RESPONSE__BODY_GRADE;
    r->resp.grade = m;
}

static void *keep_grade(req *r, const void *row, void *ctx)
{
    const lms_grade_view *v = row;
    const int *visible_only = ctx;
    if (*visible_only && v->assignment->hold_grades && !v->assignment->released)
        return NULL;
    return pb_grade(r, v->grade, v->submission, v->assignment);
}

static next_step list_grades_prepare(req *r)
{
    char *course = r->msg->list_grades->course;
    /* staff of the course list every student's; anyone else their own */
    int staff = 0;
    lms_err err = {0};
    if (r->who.role != LMS_ROLE_STUDENT && !course[0])
        return req_fail(r, LMS_INVALID_ARGUMENT,
                        "%s is not enrolled as a student in any course (%s is an "
                        "instructor, with no grades of their own); give the course "
                        "whose grades to list",
                        r->who.name, r->who.name);
    if (course[0] && req_course_part(r, course, "list its grades", &staff) < 0)
        return NEXT_RESPOND;
    int student = !staff;
    ptr_vec pv = {0};
    row_sink sink = {r, &pv, keep_grade, &student};
    if (req_ops(r)->grade_list(req_st(r), course[0] ? course : NULL,
                               student ? r->who.name : NULL, row_sink_each,
                               &sink, &err) != LMS_OK)
        return req_storage_error(r, &err);
    /* those who left the course (lms-admin unenroll), unless asked for */
    if ((student || !r->msg->list_grades->include_unenrolled) &&
        req_drop_left_grades(r, student ? NULL : course, &pv) < 0)
        return NEXT_RESPOND;
    if (req_grade_penalties(r, (Lms__GradeEntry *const *)pv.v, pv.n) < 0)
        return NEXT_RESPOND;
    r->resp.body_case = LMS__RESPONSE__BODY_GRADES;
    r->resp.grades = pb_list(r, &lms__grades_response__descriptor, &pv);
    return NEXT_RESPOND;
}

/* ---- grade export ----------------------------------------------------- *
 * One CSV row per (student enrolled as a student, assignment of the
 * course: hidden ones too, deleted ones not), ordered by student name
 * (bytewise) then assignment id, with the latest graded submission of that
 * pair, or empty cells if none, and the pair's status: not submitted,
 * submitted but not graded, graded, or graded with a newer attempt not
 * graded yet (its id in latest_submission_id). grade is the grader's;
 * late, days_late, penalty and adjusted_grade are the late policy's,
 * judged now (handlers.h, req_lateness). Cells a spreadsheet would take
 * for a formula are neutralised (csv_out.h). With include_unenrolled, the
 * students who left the course (lms-admin unenroll) too, and a last
 * column "enrolled" (yes/no). */

typedef struct export_student {
    const char *name, *full_name;
    int left; /* unenrolled (include_unenrolled) */
} export_student;

typedef struct export_assignment {
    uint64_t id;
    const char *title;
    double max_points;
    uint32_t late_penalty; /* filled after the walk (export_records) */
} export_assignment;

typedef struct export_cell {
    uint64_t submission_id; /* 0: no graded submission */
    uint32_t attempt;
    double grade;
    int64_t graded;
    int64_t submitted;
    uint32_t days_late; /* filled after the walks (export_lateness) */
    uint64_t latest_id; /* the latest submission, graded or not; 0: none */
} export_cell;

typedef struct export_state {
    int include_unenrolled;
    ptr_vec students;    /* export_student *, by name */
    ptr_vec assignments; /* export_assignment *, by id */
    export_cell *cells;  /* [student * assignments.n + assignment] */
} export_state;

static void *keep_student(req *r, const void *row, void *ctx)
{
    export_student *s = req_alloc(r, sizeof *s);
    s->name = req_strdup(r, ((const lms_enrolment *)row)->user);
    return s;
}

static void *keep_export_assignment(req *r, const void *row, void *ctx)
{
    const lms_assignment *a = row;
    export_assignment *x = req_alloc(r, sizeof *x);
    x->id = a->id;
    x->title = req_strdup(r, a->title);
    x->max_points = a->max_points;
    return x;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(export_student *const *)a)->name,
                  (*(export_student *const *)b)->name);
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = (*(export_assignment *const *)a)->id;
    uint64_t y = (*(export_assignment *const *)b)->id;
    return (x > y) - (x < y);
}

static void sort_vec(ptr_vec *pv, int (*cmp)(const void *, const void *))
{
    if (pv->n > 1)
        qsort(pv->v, pv->n, sizeof *pv->v, cmp);
}

/* The cell of (student, assignment id), or NULL when either is not in the
 * export (a student no longer enrolled as a student). */
static export_cell *export_cell_of(export_state *x, const char *student,
                                   uint64_t assignment_id)
{
    export_student sk = {.name = student}, *skp = &sk;
    export_assignment ak = {.id = assignment_id}, *akp = &ak;
    void **si = bsearch(&skp, x->students.v, x->students.n, sizeof *si, by_name);
    void **ai = bsearch(&akp, x->assignments.v, x->assignments.n, sizeof *ai, by_id);
    if (!si || !ai)
        return NULL;
    size_t i = (size_t)(si - x->students.v), j = (size_t)(ai - x->assignments.v);
    return &x->cells[i * x->assignments.n + j];
}

/* Storage walk of the course's grades: keep the latest per cell. */
static int export_grade_each(void *arg, const void *row)
{
    req *r = arg;
    const lms_grade_view *v = row;
    const lms_submission *s = v->submission;
    export_cell *c = export_cell_of(r->scratch, s->student, s->assignment_id);
    if (c && s->id > c->submission_id) {
        c->submission_id = s->id;
        c->attempt = s->attempt;
        c->grade = v->grade->grade;
        c->graded = v->grade->graded;
        c->submitted = s->submitted;
    }
    return 0;
}

/* Storage walk of one assignment's submissions: the latest per cell,
 * graded or not. */
static int export_submission_each(void *arg, const void *row)
{
    req *r = arg;
    const lms_submission *s = row;
    export_cell *c = export_cell_of(r->scratch, s->student, s->assignment_id);
    if (c && s->id > c->latest_id)
        c->latest_id = s->id;
    return 0;
}

static int export_full_names(req *r, export_state *x, lms_err *err)
{
    for (size_t i = 0; i < x->students.n; i++) {
        export_student *s = x->students.v[i];
        lms_user u;
        int rc = req_ops(r)->user_get(req_st(r), s->name, &u, err);
        if (rc != LMS_OK && rc != LMS_NOT_FOUND)
            return rc;
        s->full_name = rc == LMS_OK ? req_strdup(r, u.full_name) : "";
    }
    return LMS_OK;
}

/* Drop the deleted assignments; the others get their late penalty. */
static int export_records(req *r, export_state *x, lms_err *err)
{
    size_t kept = 0;
    for (size_t j = 0; j < x->assignments.n; j++) {
        export_assignment *a = x->assignments.v[j];
        asg_state st;
        int rc = asg_get(req_ops(r), req_st(r), a->id, &st, err);
        if (rc != LMS_OK)
            return rc;
        a->late_penalty = st.late_penalty;
        if (!st.deleted)
            x->assignments.v[kept++] = a;
    }
    x->assignments.n = kept;
    return LMS_OK;
}

/* How late each graded cell's submission is, judged now. 0 or -1
 * answered. */
static int export_lateness(req *r, export_state *x)
{
    late_cache *lc = NULL;
    for (size_t i = 0; i < x->students.n; i++)
        for (size_t j = 0; j < x->assignments.n; j++) {
            export_cell *c = &x->cells[i * x->assignments.n + j];
            const export_student *s = x->students.v[i];
            const export_assignment *a = x->assignments.v[j];
            lateness l;
            if (!c->submission_id)
                continue;
            if (req_lateness(r, &lc, a->id, s->name, c->submitted, &l) < 0)
                return -1;
            c->days_late = l.days;
        }
    return 0;
}

/* The students who left the course, marked. */
static int export_left(req *r, const char *course, export_state *x)
{
    ptr_vec names = {0};
    if (req_unenrolled(r, course, LMS_ROLE_STUDENT, &names) < 0)
        return -1;
    for (size_t i = 0; i < names.n; i++) {
        export_student *s = req_alloc(r, sizeof *s);
        s->name = names.v[i];
        s->left = 1;
        ptr_vec_push(r, &x->students, s);
    }
    return 0;
}

static int export_collect(req *r, const char *course, export_state *x)
{
    const struct lms_storage_ops *ops = req_ops(r);
    row_sink students = {r, &x->students, keep_student, NULL};
    row_sink assignments = {r, &x->assignments, keep_export_assignment, NULL};
    lms_err err = {0};
    int rc = ops->enrolment_list(req_st(r), course, LMS_ROLE_STUDENT,
                                 row_sink_each, &students, &err);
    if (rc == LMS_OK && x->include_unenrolled && export_left(r, course, x) < 0)
        return -1;
    if (rc == LMS_OK)
        rc = ops->assignment_list(req_st(r), course, row_sink_each,
                                  &assignments, &err);
    if (rc == LMS_OK)
        rc = export_records(r, x, &err);
    sort_vec(&x->students, by_name);
    sort_vec(&x->assignments, by_id);
    if (rc == LMS_OK)
        rc = export_full_names(r, x, &err);
    x->cells = req_alloc(r, x->students.n * x->assignments.n * sizeof *x->cells);
    if (rc == LMS_OK)
        rc = ops->grade_list(req_st(r), course, NULL, export_grade_each, r, &err);
    for (size_t j = 0; rc == LMS_OK && j < x->assignments.n; j++)
        rc = ops->submission_list(req_st(r),
                                  ((export_assignment *)x->assignments.v[j])->id,
                                  NULL, export_submission_each, r, &err);
    if (rc != LMS_OK)
        return req_storage_error(r, &err), -1;
    return export_lateness(r, x);
}

/* The shortest decimal that reads back as x. */
static const char *num(double x, char buf[32])
{
    for (int digits = 15; digits < 17; digits++) {
        snprintf(buf, 32, "%.*g", digits, x);
        if (strtod(buf, NULL) == x)
            return buf;
    }
    snprintf(buf, 32, "%.17g", x);
    return buf;
}

static void export_row(FILE *f, const export_state *x, const export_student *s,
                       const export_assignment *a, const export_cell *c)
{
    char id[24], sub[24] = "", attempt[16] = "", grade[32] = "", max[32],
        when[TIME_BUFSZ] = "", days[16] = "", off[32] = "", adjusted[32] = "";
    snprintf(id, sizeof id, "%" PRIu64, a->id);
    if (c->submission_id) {
        double d = rule_late_deduction(c->grade, a->max_points, a->late_penalty,
                                       c->days_late);
        snprintf(sub, sizeof sub, "%" PRIu64, c->submission_id);
        snprintf(attempt, sizeof attempt, "%" PRIu32, c->attempt);
        num(c->grade, grade);
        iso_utc(c->graded, when);
        snprintf(days, sizeof days, "%" PRIu32, c->days_late);
        num(d, off);
        num(c->grade - d, adjusted);
    }
    const char *late = !c->submission_id ? "" : c->days_late ? "yes" : "no";
    char latest[24] = "";
    if (c->latest_id)
        snprintf(latest, sizeof latest, "%" PRIu64, c->latest_id);
    const char *status = !c->latest_id                     ? "not submitted"
                         : !c->submission_id               ? "submitted, not graded"
                         : c->latest_id > c->submission_id ? "graded, newer attempt not graded"
                                                           : "graded";
    const char *fields[] = {s->name, s->full_name, id, a->title, sub, attempt,
                            grade, num(a->max_points, max), when, late, days, off,
                            adjusted, status, latest, s->left ? "no" : "yes"};
    csv_write_record(f, fields, sizeof fields / sizeof fields[0] - !x->include_unenrolled);
}

/* The CSV in the arena; NULL when out of memory. */
static char *export_csv(req *r, const export_state *x)
{
    static const char *const header[] = {
        "student", "full_name", "assignment_id", "assignment", "submission_id",
        "attempt", "grade", "max_points", "graded_at", "late", "days_late", "penalty",
        "adjusted_grade", "status", "latest_submission_id", "enrolled"};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    csv_write_record(f, header, sizeof header / sizeof header[0] - !x->include_unenrolled);
    for (size_t i = 0; i < x->students.n; i++)
        for (size_t j = 0; j < x->assignments.n; j++)
            export_row(f, x, x->students.v[i], x->assignments.v[j],
                       &x->cells[i * x->assignments.n + j]);
    int bad = ferror(f);
    bad |= fclose(f);
    char *csv = bad ? NULL : req_memdup(r, buf, len + 1);
    free(buf);
    return csv;
}

static next_step export_grades_prepare(req *r)
{
    char *course = r->msg->export_grades->course;
    export_state *x = req_alloc(r, sizeof *x);
    x->include_unenrolled = r->msg->export_grades->include_unenrolled;
    r->scratch = x;
    if (req_check_course(r, course, COURSE_INSTRUCTOR, "export its grades") < 0 ||
        export_collect(r, course, x) < 0)
        return NEXT_RESPOND;
    Lms__ExportGradesResponse *m = req_alloc(r, sizeof *m);
    lms__export_grades_response__init(m);
    m->csv = export_csv(r, x);
    if (!m->csv)
        return req_fail(r, LMS_RESOURCE_EXHAUSTED,
                        "out of memory writing the grades of course %s", course);
    r->resp.body_case = LMS__RESPONSE__BODY_EXPORT_GRADES;
    r->resp.export_grades = m;
    return NEXT_RESPOND;
}

#define B(x) LMS__REQUEST__BODY_##x
#define STUDENT_OR_INSTRUCTOR (ROLES_STUDENT | ROLES_INSTRUCTOR)
const handler handlers_work[] = {
    {.body = B(CREATE_ASSIGNMENT), .name = "create-assignment", .roles = ROLES_INSTRUCTOR,
     .prepare = create_assignment_prepare, .applied = create_assignment_applied},
    {.body = B(LIST_ASSIGNMENTS), .name = "assignments", .roles = ROLES_ANY,
     .prepare = list_assignments_prepare},
    {.body = B(SUBMIT), .name = "submit", .roles = ROLES_STUDENT,
     .prepare = submit_prepare, .work = submit_work, .applied = submit_applied},
    {.body = B(LIST_SUBMISSIONS), .name = "submissions", .roles = STUDENT_OR_INSTRUCTOR,
     .prepare = list_submissions_prepare},
    {.body = B(FETCH_SUBMISSION), .name = "fetch", .roles = STUDENT_OR_INSTRUCTOR,
     .prepare = fetch_submission_prepare},
    {.body = B(GRADE), .name = "grade", .roles = STUDENT_OR_INSTRUCTOR,
     .prepare = grade_prepare, .applied = grade_applied},
    {.body = B(RELEASE), .name = "release", .roles = ROLES_INSTRUCTOR,
     .prepare = release_prepare, .applied = release_applied},
    {.body = B(EXTEND), .name = "extend", .roles = ROLES_INSTRUCTOR,
     .prepare = extend_prepare},
    {.body = B(LIST_GRADES), .name = "grades", .roles = STUDENT_OR_INSTRUCTOR,
     .prepare = list_grades_prepare},
    {.body = B(EXPORT_GRADES), .name = "export-grades", .roles = ROLES_INSTRUCTOR,
     .prepare = export_grades_prepare},
    {.name = NULL}, /* the end */
};

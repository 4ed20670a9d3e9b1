/* SPDX-License-Identifier: MIT */
/*
 * sqlite_work.c: the storage ops for course work: assignments, extensions,
 * submissions, grades, questions with their replies, and materials.
 *
 * Same shape as sqlite_ops.c. Two things are particular here:
 *  - File bodies are not here (ABI 1.2): they live in the host's file
 *    store (host.h), named by the rows' sha256 and size. A row holds
 *    their metadata only; data is NULL in every row handed out and
 *    ignored in a put (with_data is ignored too).
 *  - Lists with optional filters pick one of four statements by a filter
 *    mask (bit 0: first filter given, bit 1: second), binding only the
 *    filters given, in order, so each variant reads from its own index.
 */
#include "sqlite_internal.h"

#include <stdint.h>
#include <string.h>

#define SQ_W (SQ_NEEDS_SCHEMA | SQ_WRITES)
#define SQ_R SQ_NEEDS_SCHEMA

static unsigned sq_mask(int first, int second)
{
    return (first ? 1u : 0u) | (second ? 2u : 0u);
}

/* ---- assignments ---- */

#define ASSIGNMENT_COLS                                                        \
    "a.id, a.course, a.title, a.description, a.due, a.cutoff, a.max_points, " \
    "a.max_attempts, a.max_size, a.hold_grades, a.released, a.created, "      \
    "a.created_by"
#define ASSIGNMENT_NCOLS 13

static const sq_sql SQL_ASSIGNMENT_PUT = {
    SQ_ASSIGNMENT_PUT, SQ_W, "assignment_put",
    "INSERT INTO assignments(id, course, title, description, due, cutoff, "
    "max_points, max_attempts, max_size, hold_grades, released, created, "
    "created_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "?13) ON CONFLICT(id) DO UPDATE SET course = excluded.course, "
    "title = excluded.title, description = excluded.description, "
    "due = excluded.due, cutoff = excluded.cutoff, "
    "max_points = excluded.max_points, max_attempts = excluded.max_attempts, "
    "max_size = excluded.max_size, hold_grades = excluded.hold_grades, "
    "released = excluded.released, created = excluded.created, "
    "created_by = excluded.created_by"};
static const sq_sql SQL_ASSIGNMENT_GET = {
    SQ_ASSIGNMENT_GET, SQ_R, "assignment_get",
    "SELECT " ASSIGNMENT_COLS " FROM assignments a WHERE a.id = ?1"};
static const sq_sql SQL_ASSIGNMENT_LIST_ALL = {
    SQ_ASSIGNMENT_LIST_ALL, SQ_R, "assignment_list",
    "SELECT " ASSIGNMENT_COLS " FROM assignments a ORDER BY a.id"};
static const sq_sql SQL_ASSIGNMENT_LIST_COURSE = {
    SQ_ASSIGNMENT_LIST_COURSE, SQ_R, "assignment_list",
    "SELECT " ASSIGNMENT_COLS " FROM assignments a WHERE a.course = ?1 "
    "ORDER BY a.id"};

/* Read ASSIGNMENT_COLS starting at column c. */
static void read_assignment(sqlite3_stmt *st, int c, lms_assignment *a)
{
    a->id = (uint64_t)sq_col_i64(st, c);
    SQ_COPY_FIELD(st, c + 1, a->course);
    SQ_COPY_FIELD(st, c + 2, a->title);
    a->description = sq_col_text(st, c + 3);
    a->due = sq_col_i64(st, c + 4);
    a->cutoff = sq_col_i64(st, c + 5);
    a->max_points = sqlite3_column_double(st, c + 6);
    a->max_attempts = (uint32_t)sq_col_i64(st, c + 7);
    a->max_size = (uint64_t)sq_col_i64(st, c + 8);
    a->hold_grades = (int)sq_col_i64(st, c + 9);
    a->released = (int)sq_col_i64(st, c + 10);
    a->created = sq_col_i64(st, c + 11);
    SQ_COPY_FIELD(st, c + 12, a->created_by);
}

static void fill_assignment(sqlite3_stmt *st, void *row)
{
    read_assignment(st, 0, row);
}

/* storage ops assignment_put(): insert, or replace the assignment with
 * that id; its course must exist. A NULL description is stored as "". */
int sq_assignment_put(void *inst, const lms_assignment *a, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_ASSIGNMENT_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)a->id);
    SQ_BIND_FIELD(&b, a->course);
    SQ_BIND_FIELD(&b, a->title);
    sq_bind_text(&b, a->description, SIZE_MAX);
    sq_bind_i64(&b, a->due);
    sq_bind_i64(&b, a->cutoff);
    sq_bind_double(&b, a->max_points);
    sq_bind_i64(&b, a->max_attempts);
    sq_bind_i64(&b, (int64_t)a->max_size);
    sq_bind_i64(&b, a->hold_grades);
    sq_bind_i64(&b, a->released);
    sq_bind_i64(&b, a->created);
    SQ_BIND_FIELD(&b, a->created_by);
    return sq_run(s, &SQL_ASSIGNMENT_PUT, &b, err);
}

/* storage ops assignment_get(): description valid until the next call. */
int sq_assignment_get(void *inst, uint64_t id, lms_assignment *out,
                      lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_ASSIGNMENT_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)id);
    rc = sq_step_row(s, &SQL_ASSIGNMENT_GET, &b, err);
    if (rc == LMS_OK) {
        read_assignment(st, 0, out);
        rc = sq_keep_text(s, &out->description, err);
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "assignment_get: no assignment %llu",
                    (unsigned long long)id);
    }
    sq_release(st);
    return rc;
}

/* storage ops assignment_list(): of one course (NULL: all), by id. */
int sq_assignment_list(void *inst, const char *course, lms_each_fn each,
                       void *arg, lms_err *err)
{
    sq_inst *s = inst;
    const sq_sql *def =
        course ? &SQL_ASSIGNMENT_LIST_COURSE : &SQL_ASSIGNMENT_LIST_ALL;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, def, &st, err);
    if (rc != LMS_OK)
        return rc;
    lms_assignment row = {0};
    sq_binder b = sq_binder_of(st);
    if (course)
        sq_bind_text(&b, course, SIZE_MAX);
    return sq_walk(s, def, &b, fill_assignment, &row, each, arg, err);
}

/* ---- extensions ---- */

static const sq_sql SQL_EXTENSION_PUT = {
    SQ_EXTENSION_PUT, SQ_W, "extension_put",
    "INSERT INTO extensions(assignment_id, student, until) "
    "VALUES(?1, ?2, ?3) ON CONFLICT(assignment_id, student) DO UPDATE SET "
    "until = excluded.until"};
static const sq_sql SQL_EXTENSION_GET = {
    SQ_EXTENSION_GET, SQ_R, "extension_get",
    "SELECT assignment_id, student, until FROM extensions "
    "WHERE assignment_id = ?1 AND student = ?2"};

/* storage ops extension_put(): insert or replace (assignment, student). */
int sq_extension_put(void *inst, const lms_extension *x, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_EXTENSION_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)x->assignment_id);
    SQ_BIND_FIELD(&b, x->student);
    sq_bind_i64(&b, x->until);
    return sq_run(s, &SQL_EXTENSION_PUT, &b, err);
}

int sq_extension_get(void *inst, uint64_t assignment_id, const char *student,
                     lms_extension *out, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_EXTENSION_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)assignment_id);
    sq_bind_text(&b, student, SIZE_MAX);
    rc = sq_step_row(s, &SQL_EXTENSION_GET, &b, err);
    if (rc == LMS_OK) {
        out->assignment_id = (uint64_t)sq_col_i64(st, 0);
        SQ_COPY_FIELD(st, 1, out->student);
        out->until = sq_col_i64(st, 2);
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "extension_get: no extension of assignment "
                    "%llu for '%s'", (unsigned long long)assignment_id,
                    student ? student : "");
    }
    sq_release(st);
    return rc;
}

/* ---- submissions ---- */

#define SUBMISSION_BASE_COLS                                                   \
    "s.id, s.assignment_id, s.student, s.file_name, s.size, s.sha256, "       \
    "s.submitted, s.late, s.attempt"
#define SUBMISSION_COLS                                                        \
    SUBMISSION_BASE_COLS ", EXISTS (SELECT 1 FROM grades g "                  \
                         "WHERE g.submission_id = s.id)"
#define SUBMISSION_NCOLS 10

static const sq_sql SQL_SUBMISSION_PUT = {
    SQ_SUBMISSION_PUT, SQ_W, "submission_put",
    "INSERT INTO submissions(id, assignment_id, student, file_name, size, "
    "sha256, submitted, late, attempt) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"};
static const sq_sql SQL_SUBMISSION_GET = {
    SQ_SUBMISSION_GET, SQ_R, "submission_get",
    "SELECT " SUBMISSION_COLS " FROM submissions s WHERE s.id = ?1"};
static const sq_sql SQL_SUBMISSION_LIST[4] = {
    {SQ_SUBMISSION_LIST, SQ_R, "submission_list",
     "SELECT " SUBMISSION_COLS " FROM submissions s ORDER BY s.id"},
    {SQ_SUBMISSION_LIST + 1, SQ_R, "submission_list",
     "SELECT " SUBMISSION_COLS " FROM submissions s "
     "WHERE s.assignment_id = ?1 ORDER BY s.id"},
    {SQ_SUBMISSION_LIST + 2, SQ_R, "submission_list",
     "SELECT " SUBMISSION_COLS " FROM submissions s "
     "WHERE s.student = ?1 ORDER BY s.id"},
    {SQ_SUBMISSION_LIST + 3, SQ_R, "submission_list",
     "SELECT " SUBMISSION_COLS " FROM submissions s "
     "WHERE s.assignment_id = ?1 AND s.student = ?2 ORDER BY s.id"},
};
static const sq_sql SQL_SUBMISSION_COUNT[4] = {
    {SQ_SUBMISSION_COUNT, SQ_R, "submission_count",
     "SELECT count(*) FROM submissions"},
    {SQ_SUBMISSION_COUNT + 1, SQ_R, "submission_count",
     "SELECT count(*) FROM submissions WHERE assignment_id = ?1"},
    {SQ_SUBMISSION_COUNT + 2, SQ_R, "submission_count",
     "SELECT count(*) FROM submissions WHERE student = ?1"},
    {SQ_SUBMISSION_COUNT + 3, SQ_R, "submission_count",
     "SELECT count(*) FROM submissions WHERE assignment_id = ?1 "
     "AND student = ?2"},
};

/* Read SUBMISSION_COLS (graded included) starting at column c; data is
 * left NULL. */
static void read_submission(sqlite3_stmt *st, int c, lms_submission *x)
{
    x->id = (uint64_t)sq_col_i64(st, c);
    x->assignment_id = (uint64_t)sq_col_i64(st, c + 1);
    SQ_COPY_FIELD(st, c + 2, x->student);
    SQ_COPY_FIELD(st, c + 3, x->file_name);
    x->size = (uint64_t)sq_col_i64(st, c + 4);
    sq_col_sha(st, c + 5, x->sha256);
    x->submitted = sq_col_i64(st, c + 6);
    x->late = (int)sq_col_i64(st, c + 7);
    x->attempt = (uint32_t)sq_col_i64(st, c + 8);
    x->graded = sqlite3_column_int(st, c + 9) != 0;
    x->data = NULL;
}

static void fill_submission(sqlite3_stmt *st, void *row)
{
    read_submission(st, 0, row);
}

/*
 * storage ops submission_put(): insert only (a submission is never
 * updated), so an existing id, or an existing attempt number for the same
 * (assignment, student), is LMS_ALREADY_EXISTS. The body is the host's.
 */
int sq_submission_put(void *inst, const lms_submission *x, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SUBMISSION_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)x->id);
    sq_bind_i64(&b, (int64_t)x->assignment_id);
    SQ_BIND_FIELD(&b, x->student);
    SQ_BIND_FIELD(&b, x->file_name);
    sq_bind_i64(&b, (int64_t)x->size);
    sq_bind_blob(&b, x->sha256, LMS_SHA256_LEN);
    sq_bind_i64(&b, x->submitted);
    sq_bind_i64(&b, x->late);
    sq_bind_i64(&b, x->attempt);
    return sq_run(s, &SQL_SUBMISSION_PUT, &b, err);
}

/* storage ops submission_get(): the row; data NULL (the body is the
 * host's; with_data is ignored since ABI 1.2). */
int sq_submission_get(void *inst, uint64_t id, int with_data,
                      lms_submission *out, lms_err *err)
{
    (void)with_data;
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SUBMISSION_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)id);
    rc = sq_step_row(s, &SQL_SUBMISSION_GET, &b, err);
    if (rc == LMS_OK) {
        read_submission(st, 0, out);
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "submission_get: no submission %llu",
                    (unsigned long long)id);
    }
    sq_release(st);
    return rc;
}

/* storage ops submission_list(): filtered by assignment (0: any) and
 * student (NULL: any), ordered by id; data is NULL. */
int sq_submission_list(void *inst, uint64_t assignment_id,
                       const char *student, lms_each_fn each, void *arg,
                       lms_err *err)
{
    sq_inst *s = inst;
    const sq_sql *def =
        &SQL_SUBMISSION_LIST[sq_mask(assignment_id != 0, student != NULL)];
    sqlite3_stmt *st;
    int rc = sq_acquire(s, def, &st, err);
    if (rc != LMS_OK)
        return rc;
    lms_submission row = {0};
    sq_binder b = sq_binder_of(st);
    if (assignment_id)
        sq_bind_i64(&b, (int64_t)assignment_id);
    if (student)
        sq_bind_text(&b, student, SIZE_MAX);
    return sq_walk(s, def, &b, fill_submission, &row, each, arg, err);
}

/* storage ops submission_count(): the same filters as submission_list. */
int sq_submission_count(void *inst, uint64_t assignment_id,
                        const char *student, uint32_t *n, lms_err *err)
{
    sq_inst *s = inst;
    const sq_sql *def =
        &SQL_SUBMISSION_COUNT[sq_mask(assignment_id != 0, student != NULL)];
    sqlite3_stmt *st;
    int rc = sq_acquire(s, def, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    if (assignment_id)
        sq_bind_i64(&b, (int64_t)assignment_id);
    if (student)
        sq_bind_text(&b, student, SIZE_MAX);
    rc = sq_step_row(s, def, &b, err);
    if (rc == LMS_OK)
        *n = (uint32_t)sq_col_i64(st, 0);
    sq_release(st);
    return rc;
}

/* ---- grades ---- */

#define GRADE_COLS "g.submission_id, g.grade, g.feedback, g.grader, g.graded"
#define GRADE_NCOLS 5

/* The joined row of grade_list: grade, submission (graded is 1 by
 * construction), assignment. */
#define GRADE_VIEW_FROM                                                        \
    "SELECT " GRADE_COLS ", " SUBMISSION_BASE_COLS ", 1, " ASSIGNMENT_COLS    \
    " FROM grades g JOIN submissions s ON s.id = g.submission_id "            \
    "JOIN assignments a ON a.id = s.assignment_id "

static const sq_sql SQL_GRADE_PUT = {
    SQ_GRADE_PUT, SQ_W, "grade_put",
    "INSERT INTO grades(submission_id, grade, feedback, grader, graded) "
    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(submission_id) DO UPDATE SET "
    "grade = excluded.grade, feedback = excluded.feedback, "
    "grader = excluded.grader, graded = excluded.graded"};
static const sq_sql SQL_GRADE_GET = {
    SQ_GRADE_GET, SQ_R, "grade_get",
    "SELECT " GRADE_COLS " FROM grades g WHERE g.submission_id = ?1"};
static const sq_sql SQL_GRADE_LIST[4] = {
    /* g.submission_id = s.id; naming g's key lets SQLite walk grades in
     * order instead of scanning every submission for a grade. */
    {SQ_GRADE_LIST, SQ_R, "grade_list",
     GRADE_VIEW_FROM "ORDER BY g.submission_id"},
    {SQ_GRADE_LIST + 1, SQ_R, "grade_list",
     GRADE_VIEW_FROM "WHERE a.course = ?1 ORDER BY s.id"},
    {SQ_GRADE_LIST + 2, SQ_R, "grade_list",
     GRADE_VIEW_FROM "WHERE s.student = ?1 ORDER BY s.id"},
    {SQ_GRADE_LIST + 3, SQ_R, "grade_list",
     GRADE_VIEW_FROM "WHERE a.course = ?1 AND s.student = ?2 ORDER BY s.id"},
};

static void read_grade(sqlite3_stmt *st, int c, lms_grade *g)
{
    g->submission_id = (uint64_t)sq_col_i64(st, c);
    g->grade = sqlite3_column_double(st, c + 1);
    g->feedback = sq_col_text(st, c + 2);
    SQ_COPY_FIELD(st, c + 3, g->grader);
    g->graded = sq_col_i64(st, c + 4);
}

/* A grade_list row and the three structs its view points at. */
typedef struct grade_row {
    lms_grade_view view;
    lms_grade grade;
    lms_submission submission;
    lms_assignment assignment;
} grade_row;

/* sq_walk fills the row and hands each() the row's first member, so the
 * callback receives a plain lms_grade_view. */
static void fill_grade_view(sqlite3_stmt *st, void *row)
{
    grade_row *r = row;
    read_grade(st, 0, &r->grade);
    read_submission(st, GRADE_NCOLS, &r->submission);
    read_assignment(st, GRADE_NCOLS + SUBMISSION_NCOLS, &r->assignment);
    r->view.grade = &r->grade;
    r->view.submission = &r->submission;
    r->view.assignment = &r->assignment;
}

/* storage ops grade_put(): insert, or replace the grade of that
 * submission, which must exist. A NULL feedback is stored as "". */
int sq_grade_put(void *inst, const lms_grade *g, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_GRADE_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)g->submission_id);
    sq_bind_double(&b, g->grade);
    sq_bind_text(&b, g->feedback, SIZE_MAX);
    SQ_BIND_FIELD(&b, g->grader);
    sq_bind_i64(&b, g->graded);
    return sq_run(s, &SQL_GRADE_PUT, &b, err);
}

/* storage ops grade_get(): feedback valid until the next call. */
int sq_grade_get(void *inst, uint64_t submission_id, lms_grade *out,
                 lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_GRADE_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)submission_id);
    rc = sq_step_row(s, &SQL_GRADE_GET, &b, err);
    if (rc == LMS_OK) {
        read_grade(st, 0, out);
        rc = sq_keep_text(s, &out->feedback, err);
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "grade_get: submission %llu has no grade",
                    (unsigned long long)submission_id);
    }
    sq_release(st);
    return rc;
}

/* storage ops grade_list(): lms_grade_view rows of graded submissions in
 * course (NULL: any) by student (NULL: any), ordered by submission id. */
int sq_grade_list(void *inst, const char *course, const char *student,
                  lms_each_fn each, void *arg, lms_err *err)
{
    sq_inst *s = inst;
    const sq_sql *def =
        &SQL_GRADE_LIST[sq_mask(course != NULL, student != NULL)];
    sqlite3_stmt *st;
    int rc = sq_acquire(s, def, &st, err);
    if (rc != LMS_OK)
        return rc;
    grade_row row;
    memset(&row, 0, sizeof row);
    sq_binder b = sq_binder_of(st);
    if (course)
        sq_bind_text(&b, course, SIZE_MAX);
    if (student)
        sq_bind_text(&b, student, SIZE_MAX);
    return sq_walk(s, def, &b, fill_grade_view, &row, each, arg, err);
}

/* ---- queries and replies ---- */

#define QUERY_COLS                                                             \
    "id, course, student, title, body, created, resolved, kind, "              \
    "escalated_from, provider, model, prompt_tokens, completion_tokens, "      \
    "latency_ms, shared"

static const sq_sql SQL_QUERY_PUT = {
    SQ_QUERY_PUT, SQ_W, "query_put",
    "INSERT INTO queries(" QUERY_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, "
    "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
    "ON CONFLICT(id) DO UPDATE SET course = excluded.course, "
    "student = excluded.student, title = excluded.title, "
    "body = excluded.body, created = excluded.created, "
    "resolved = excluded.resolved, kind = excluded.kind, "
    "escalated_from = excluded.escalated_from, "
    "provider = excluded.provider, model = excluded.model, "
    "prompt_tokens = excluded.prompt_tokens, "
    "completion_tokens = excluded.completion_tokens, "
    "latency_ms = excluded.latency_ms, shared = excluded.shared"};
static const sq_sql SQL_QUERY_GET = {
    SQ_QUERY_GET, SQ_R, "query_get",
    "SELECT " QUERY_COLS " FROM queries WHERE id = ?1"};
static const sq_sql SQL_QUERY_LIST[4] = {
    {SQ_QUERY_LIST, SQ_R, "query_list",
     "SELECT " QUERY_COLS " FROM queries ORDER BY id"},
    {SQ_QUERY_LIST + 1, SQ_R, "query_list",
     "SELECT " QUERY_COLS " FROM queries WHERE course = ?1 ORDER BY id"},
    {SQ_QUERY_LIST + 2, SQ_R, "query_list",
     "SELECT " QUERY_COLS " FROM queries WHERE student = ?1 ORDER BY id"},
    {SQ_QUERY_LIST + 3, SQ_R, "query_list",
     "SELECT " QUERY_COLS " FROM queries WHERE course = ?1 AND student = ?2 "
     "ORDER BY id"},
};

static void fill_query(sqlite3_stmt *st, void *row)
{
    lms_query *q = row;
    q->id = (uint64_t)sq_col_i64(st, 0);
    SQ_COPY_FIELD(st, 1, q->course);
    SQ_COPY_FIELD(st, 2, q->student);
    SQ_COPY_FIELD(st, 3, q->title);
    q->text = sq_col_text(st, 4);
    q->created = sq_col_i64(st, 5);
    q->resolved = (int)sq_col_i64(st, 6);
    q->kind = (int)sq_col_i64(st, 7);
    q->escalated_from = (uint64_t)sq_col_i64(st, 8);
    SQ_COPY_FIELD(st, 9, q->provider);
    SQ_COPY_FIELD(st, 10, q->model);
    q->prompt_tokens = (uint32_t)sq_col_i64(st, 11);
    q->completion_tokens = (uint32_t)sq_col_i64(st, 12);
    q->latency_ms = (uint32_t)sq_col_i64(st, 13);
    q->shared = sq_col_i64(st, 14) != 0;
}

/* storage ops query_put(): insert, or replace the question with that id
 * (marking it resolved is a put). A NULL text is stored as "". */
int sq_query_put(void *inst, const lms_query *q, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_QUERY_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)q->id);
    SQ_BIND_FIELD(&b, q->course);
    SQ_BIND_FIELD(&b, q->student);
    SQ_BIND_FIELD(&b, q->title);
    sq_bind_text(&b, q->text, SIZE_MAX);
    sq_bind_i64(&b, q->created);
    sq_bind_i64(&b, q->resolved);
    sq_bind_i64(&b, q->kind);
    sq_bind_i64(&b, (int64_t)q->escalated_from);
    SQ_BIND_FIELD(&b, q->provider);
    SQ_BIND_FIELD(&b, q->model);
    sq_bind_i64(&b, q->prompt_tokens);
    sq_bind_i64(&b, q->completion_tokens);
    sq_bind_i64(&b, q->latency_ms);
    sq_bind_i64(&b, q->shared != 0);
    return sq_run(s, &SQL_QUERY_PUT, &b, err);
}

/* storage ops query_get(): text valid until the next call. */
int sq_query_get(void *inst, uint64_t id, lms_query *out, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_QUERY_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)id);
    rc = sq_step_row(s, &SQL_QUERY_GET, &b, err);
    if (rc == LMS_OK) {
        fill_query(st, out);
        rc = sq_keep_text(s, &out->text, err);
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "query_get: no question %llu",
                    (unsigned long long)id);
    }
    sq_release(st);
    return rc;
}

/* storage ops query_list(): course/student NULL: any; ordered by id. */
int sq_query_list(void *inst, const char *course, const char *student,
                  lms_each_fn each, void *arg, lms_err *err)
{
    sq_inst *s = inst;
    const sq_sql *def =
        &SQL_QUERY_LIST[sq_mask(course != NULL, student != NULL)];
    sqlite3_stmt *st;
    int rc = sq_acquire(s, def, &st, err);
    if (rc != LMS_OK)
        return rc;
    lms_query row = {0};
    sq_binder b = sq_binder_of(st);
    if (course)
        sq_bind_text(&b, course, SIZE_MAX);
    if (student)
        sq_bind_text(&b, student, SIZE_MAX);
    return sq_walk(s, def, &b, fill_query, &row, each, arg, err);
}

static const sq_sql SQL_REPLY_PUT = {
    SQ_REPLY_PUT, SQ_W, "reply_put",
    "INSERT INTO replies(id, query_id, author, body, created) "
    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET "
    "query_id = excluded.query_id, author = excluded.author, "
    "body = excluded.body, created = excluded.created"};
static const sq_sql SQL_REPLY_LIST = {
    SQ_REPLY_LIST, SQ_R, "reply_list",
    "SELECT id, query_id, author, body, created FROM replies "
    "WHERE query_id = ?1 ORDER BY id"};

static void fill_reply(sqlite3_stmt *st, void *row)
{
    lms_reply *r = row;
    r->id = (uint64_t)sq_col_i64(st, 0);
    r->query_id = (uint64_t)sq_col_i64(st, 1);
    SQ_COPY_FIELD(st, 2, r->author);
    r->text = sq_col_text(st, 3);
    r->created = sq_col_i64(st, 4);
}

/* storage ops reply_put(): insert, or replace the reply with that id; its
 * question must exist. */
int sq_reply_put(void *inst, const lms_reply *r, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_REPLY_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)r->id);
    sq_bind_i64(&b, (int64_t)r->query_id);
    SQ_BIND_FIELD(&b, r->author);
    sq_bind_text(&b, r->text, SIZE_MAX);
    sq_bind_i64(&b, r->created);
    return sq_run(s, &SQL_REPLY_PUT, &b, err);
}

/* storage ops reply_list(): the replies to one question, by id. */
int sq_reply_list(void *inst, uint64_t query_id, lms_each_fn each, void *arg,
                  lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_REPLY_LIST, &st, err);
    if (rc != LMS_OK)
        return rc;
    lms_reply row = {0};
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)query_id);
    return sq_walk(s, &SQL_REPLY_LIST, &b, fill_reply, &row, each, arg, err);
}

/* ---- materials ---- */

#define MATERIAL_COLS                                                          \
    "id, course, title, file_name, size, sha256, uploaded_by, created"
#define MATERIAL_NCOLS 8

static const sq_sql SQL_MATERIAL_PUT = {
    SQ_MATERIAL_PUT, SQ_W, "material_put",
    "INSERT INTO materials(" MATERIAL_COLS ") "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO UPDATE "
    "SET course = excluded.course, title = excluded.title, "
    "file_name = excluded.file_name, size = excluded.size, "
    "sha256 = excluded.sha256, uploaded_by = excluded.uploaded_by, "
    "created = excluded.created"};
static const sq_sql SQL_MATERIAL_GET = {
    SQ_MATERIAL_GET, SQ_R, "material_get",
    "SELECT " MATERIAL_COLS " FROM materials WHERE id = ?1"};
static const sq_sql SQL_MATERIAL_LIST = {
    SQ_MATERIAL_LIST, SQ_R, "material_list",
    "SELECT " MATERIAL_COLS " FROM materials WHERE course = ?1 ORDER BY id"};

static void fill_material(sqlite3_stmt *st, void *row)
{
    lms_material *m = row;
    m->id = (uint64_t)sq_col_i64(st, 0);
    SQ_COPY_FIELD(st, 1, m->course);
    SQ_COPY_FIELD(st, 2, m->title);
    SQ_COPY_FIELD(st, 3, m->file_name);
    m->size = (uint64_t)sq_col_i64(st, 4);
    sq_col_sha(st, 5, m->sha256);
    SQ_COPY_FIELD(st, 6, m->uploaded_by);
    m->created = sq_col_i64(st, 7);
    m->data = NULL;
}

/* storage ops material_put(): insert, or replace the material with that
 * id; its course must exist. The body is the host's. */
int sq_material_put(void *inst, const lms_material *m, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_MATERIAL_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)m->id);
    SQ_BIND_FIELD(&b, m->course);
    SQ_BIND_FIELD(&b, m->title);
    SQ_BIND_FIELD(&b, m->file_name);
    sq_bind_i64(&b, (int64_t)m->size);
    sq_bind_blob(&b, m->sha256, LMS_SHA256_LEN);
    SQ_BIND_FIELD(&b, m->uploaded_by);
    sq_bind_i64(&b, m->created);
    return sq_run(s, &SQL_MATERIAL_PUT, &b, err);
}

/* storage ops material_get(): as submission_get. */
int sq_material_get(void *inst, uint64_t id, int with_data,
                    lms_material *out, lms_err *err)
{
    (void)with_data;
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_MATERIAL_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)id);
    rc = sq_step_row(s, &SQL_MATERIAL_GET, &b, err);
    if (rc == LMS_OK) {
        fill_material(st, out);
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "material_get: no material %llu",
                    (unsigned long long)id);
    }
    sq_release(st);
    return rc;
}

/* storage ops material_list(): a course's materials by id; data NULL. */
int sq_material_list(void *inst, const char *course, lms_each_fn each,
                     void *arg, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_MATERIAL_LIST, &st, err);
    if (rc != LMS_OK)
        return rc;
    lms_material row = {0};
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, course, SIZE_MAX);
    return sq_walk(s, &SQL_MATERIAL_LIST, &b, fill_material, &row, each, arg,
                   err);
}

/* SPDX-License-Identifier: MIT */
/*
 * mysql_work.c: the storage ops for course work: assignments, extensions,
 * submissions, grades, questions with their replies, and materials.
 *
 * Same shape as mysql_ops.c, and the same SQL and orders as
 * storage_sqlite's sqlite_work.c. Two things are particular here:
 *  - File bodies are not here (ABI 1.2): they live in the host's file
 *    store (host.h), named by the rows' sha256 and size. A row holds
 *    their metadata only; data is NULL in every row handed out and
 *    ignored in a put (with_data is ignored too).
 *  - Lists with optional filters pick one of four statements by a filter
 *    mask (bit 0: first filter given, bit 1: second), binding only the
 *    filters given, in order, so each variant reads from its own index.
 */
#include "mysql_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MY_W (MY_NEEDS_SCHEMA | MY_WRITES)
#define MY_R MY_NEEDS_SCHEMA

static unsigned my_mask(int first, int second)
{
    return (first ? 1u : 0u) | (second ? 2u : 0u);
}

static void fill_u32(const my_col *c, void *row)
{
    *(uint32_t *)row = (uint32_t)my_col_i64(&c[0]);
}

/* ---- assignments ---- */

#define ASSIGNMENT_COLS                                                        \
    "a.id, a.course, a.title, a.description, a.due, a.cutoff, a.max_points, " \
    "a.max_attempts, a.max_size, a.hold_grades, a.released, a.created, "      \
    "a.created_by"

static const my_sql SQL_ASSIGNMENT_PUT = {
    MY_ASSIGNMENT_PUT, MY_W, "assignment_put",
    "INSERT INTO assignments(id, course, title, description, due, cutoff, "
    "max_points, max_attempts, max_size, hold_grades, released, created, "
    "created_by) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE course = VALUES(course), "
    "title = VALUES(title), description = VALUES(description), "
    "due = VALUES(due), cutoff = VALUES(cutoff), "
    "max_points = VALUES(max_points), max_attempts = VALUES(max_attempts), "
    "max_size = VALUES(max_size), hold_grades = VALUES(hold_grades), "
    "released = VALUES(released), created = VALUES(created), "
    "created_by = VALUES(created_by)"};
static const my_sql SQL_ASSIGNMENT_GET = {
    MY_ASSIGNMENT_GET, MY_R, "assignment_get",
    "SELECT " ASSIGNMENT_COLS " FROM assignments a WHERE a.id = ?"};
static const my_sql SQL_ASSIGNMENT_LIST_ALL = {
    MY_ASSIGNMENT_LIST_ALL, MY_R, "assignment_list",
    "SELECT " ASSIGNMENT_COLS " FROM assignments a ORDER BY a.id"};
static const my_sql SQL_ASSIGNMENT_LIST_COURSE = {
    MY_ASSIGNMENT_LIST_COURSE, MY_R, "assignment_list",
    "SELECT " ASSIGNMENT_COLS " FROM assignments a WHERE a.course = ? "
    "ORDER BY a.id"};

#define ASSIGNMENT_NCOLS 13

/* Read ASSIGNMENT_COLS starting at c. */
static void read_assignment(const my_col *c, lms_assignment *a)
{
    a->id = (uint64_t)my_col_i64(&c[0]);
    MY_COPY_FIELD(&c[1], a->course);
    MY_COPY_FIELD(&c[2], a->title);
    a->description = my_col_text(&c[3]);
    a->due = my_col_i64(&c[4]);
    a->cutoff = my_col_i64(&c[5]);
    a->max_points = my_col_double(&c[6]);
    a->max_attempts = (uint32_t)my_col_i64(&c[7]);
    a->max_size = (uint64_t)my_col_i64(&c[8]);
    a->hold_grades = (int)my_col_i64(&c[9]);
    a->released = (int)my_col_i64(&c[10]);
    a->created = my_col_i64(&c[11]);
    MY_COPY_FIELD(&c[12], a->created_by);
}

static void fill_assignment(const my_col *c, void *row)
{
    read_assignment(c, row);
}

/* storage ops assignment_put(): insert, or replace the assignment with
 * that id; its course must exist. A NULL description is stored as "". */
int my_assignment_put(void *inst, const lms_assignment *a, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, a->id);
    MY_BIND_FIELD(&b, a->course);
    MY_BIND_FIELD(&b, a->title);
    my_bind_text(&b, a->description, SIZE_MAX);
    my_bind_i64(&b, a->due);
    my_bind_i64(&b, a->cutoff);
    my_bind_double(&b, a->max_points);
    my_bind_i64(&b, a->max_attempts);
    my_bind_u64(&b, a->max_size);
    my_bind_i64(&b, a->hold_grades);
    my_bind_i64(&b, a->released);
    my_bind_i64(&b, a->created);
    MY_BIND_FIELD(&b, a->created_by);
    my_cache_forget(inst, MY_C_ASSIGNMENT, &a->id, sizeof a->id);
    return my_run(inst, &SQL_ASSIGNMENT_PUT, &b, err);
}

/* storage ops assignment_get(): description valid until the next call.
 * Served from the writer's row cache when it knows the id. */
int my_assignment_get(void *inst, uint64_t id, lms_assignment *out,
                      lms_err *err)
{
    my_inst *s = inst;
    const void *text = NULL;
    int rc = my_cache_get(s, MY_C_ASSIGNMENT, &id, sizeof id, out,
                          sizeof *out, &text, NULL);
    if (rc == 1) {
        out->description = text ? text : "";
        rc = LMS_OK;
    } else if (rc == 0) {
        rc = LMS_NOT_FOUND;
    } else {
        my_binder b;
        my_binder_init(&b);
        my_bind_u64(&b, id);
        rc = my_get(s, &SQL_ASSIGNMENT_GET, &b, fill_assignment, out, err);
        if (rc == LMS_OK && out->id == id) {
            lms_assignment row = *out;
            row.description = NULL;
            my_cache_set(s, MY_C_ASSIGNMENT, &id, sizeof id, &row, sizeof row,
                         out->description, strlen(out->description) + 1);
        } else if (rc == LMS_NOT_FOUND) {
            my_cache_set(s, MY_C_ASSIGNMENT, &id, sizeof id, NULL, 0, NULL,
                         0);
        }
    }
    if (rc == LMS_OK)
        rc = my_keep_text(s, &out->description, err);
    else if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "assignment_get: no assignment %llu",
                    (unsigned long long)id);
    return rc;
}

/* storage ops assignment_list(): of one course (NULL: all), by id. */
int my_assignment_list(void *inst, const char *course, lms_each_fn each,
                       void *arg, lms_err *err)
{
    const my_sql *def =
        course ? &SQL_ASSIGNMENT_LIST_COURSE : &SQL_ASSIGNMENT_LIST_ALL;
    my_binder b;
    my_binder_init(&b);
    if (course)
        my_bind_text(&b, course, SIZE_MAX);
    lms_assignment row;
    memset(&row, 0, sizeof row);
    return my_walk(inst, def, &b, fill_assignment, &row, each, arg, err);
}

/* ---- extensions ---- */

static const my_sql SQL_EXTENSION_PUT = {
    MY_EXTENSION_PUT, MY_W, "extension_put",
    "INSERT INTO extensions(assignment_id, student, `until`) "
    "VALUES(?, ?, ?) ON DUPLICATE KEY UPDATE `until` = VALUES(`until`)"};
static const my_sql SQL_EXTENSION_GET = {
    MY_EXTENSION_GET, MY_R, "extension_get",
    "SELECT assignment_id, student, `until` FROM extensions "
    "WHERE assignment_id = ? AND student = ?"};

static void fill_extension(const my_col *c, void *row)
{
    lms_extension *x = row;
    x->assignment_id = (uint64_t)my_col_i64(&c[0]);
    MY_COPY_FIELD(&c[1], x->student);
    x->until = my_col_i64(&c[2]);
}

/* storage ops extension_put(): insert or replace (assignment, student). */
int my_extension_put(void *inst, const lms_extension *x, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, x->assignment_id);
    MY_BIND_FIELD(&b, x->student);
    my_bind_i64(&b, x->until);
    return my_run(inst, &SQL_EXTENSION_PUT, &b, err);
}

/* storage ops extension_get(): LMS_NOT_FOUND when none was granted. */
int my_extension_get(void *inst, uint64_t assignment_id, const char *student,
                     lms_extension *out, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, assignment_id);
    my_bind_text(&b, student, SIZE_MAX);
    int rc = my_get(inst, &SQL_EXTENSION_GET, &b, fill_extension, out, err);
    if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "extension_get: no extension of assignment "
                    "%llu for '%s'", (unsigned long long)assignment_id,
                    student ? student : "");
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

static const my_sql SQL_SUBMISSION_PUT = {
    MY_SUBMISSION_PUT, MY_W, "submission_put",
    "INSERT INTO submissions(id, assignment_id, student, file_name, size, "
    "sha256, submitted, late, attempt) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)"};
static const my_sql SQL_SUBMISSION_GET = {
    MY_SUBMISSION_GET, MY_R, "submission_get",
    "SELECT " SUBMISSION_COLS " FROM submissions s WHERE s.id = ?"};
static const my_sql SQL_SUBMISSION_LIST[4] = {
    {MY_SUBMISSION_LIST, MY_R, "submission_list",
     "SELECT " SUBMISSION_COLS " FROM submissions s ORDER BY s.id"},
    {MY_SUBMISSION_LIST + 1, MY_R, "submission_list",
     "SELECT " SUBMISSION_COLS " FROM submissions s "
     "WHERE s.assignment_id = ? ORDER BY s.id"},
    {MY_SUBMISSION_LIST + 2, MY_R, "submission_list",
     "SELECT " SUBMISSION_COLS " FROM submissions s "
     "WHERE s.student = ? ORDER BY s.id"},
    {MY_SUBMISSION_LIST + 3, MY_R, "submission_list",
     "SELECT " SUBMISSION_COLS " FROM submissions s "
     "WHERE s.assignment_id = ? AND s.student = ? ORDER BY s.id"},
};
static const my_sql SQL_SUBMISSION_COUNT[4] = {
    {MY_SUBMISSION_COUNT, MY_R, "submission_count",
     "SELECT COUNT(*) FROM submissions"},
    {MY_SUBMISSION_COUNT + 1, MY_R, "submission_count",
     "SELECT COUNT(*) FROM submissions WHERE assignment_id = ?"},
    {MY_SUBMISSION_COUNT + 2, MY_R, "submission_count",
     "SELECT COUNT(*) FROM submissions WHERE student = ?"},
    {MY_SUBMISSION_COUNT + 3, MY_R, "submission_count",
     "SELECT COUNT(*) FROM submissions WHERE assignment_id = ? "
     "AND student = ?"},
};

/* Read SUBMISSION_COLS (graded included) starting at c; data is NULL. */
static void read_submission(const my_col *c, lms_submission *x)
{
    x->id = (uint64_t)my_col_i64(&c[0]);
    x->assignment_id = (uint64_t)my_col_i64(&c[1]);
    MY_COPY_FIELD(&c[2], x->student);
    MY_COPY_FIELD(&c[3], x->file_name);
    x->size = (uint64_t)my_col_i64(&c[4]);
    my_col_sha(&c[5], x->sha256);
    x->submitted = my_col_i64(&c[6]);
    x->late = (int)my_col_i64(&c[7]);
    x->attempt = (uint32_t)my_col_i64(&c[8]);
    x->graded = my_col_i64(&c[9]) != 0;
    x->data = NULL;
}

static void fill_submission(const my_col *c, void *row)
{
    read_submission(c, row);
}

/*
 * storage ops submission_put(): insert only (a submission is never
 * updated), so an existing id, or an existing attempt number for the same
 * (assignment, student), is LMS_ALREADY_EXISTS. The body is the host's.
 */
int my_submission_put(void *inst, const lms_submission *x, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, x->id);
    my_bind_u64(&b, x->assignment_id);
    MY_BIND_FIELD(&b, x->student);
    MY_BIND_FIELD(&b, x->file_name);
    my_bind_u64(&b, x->size);
    my_bind_blob(&b, x->sha256, LMS_SHA256_LEN);
    my_bind_i64(&b, x->submitted);
    my_bind_i64(&b, x->late);
    my_bind_i64(&b, x->attempt);
    my_cache_forget(inst, MY_C_SUBMISSION, &x->id, sizeof x->id);
    return my_run(inst, &SQL_SUBMISSION_PUT, &b, err);
}

/* storage ops submission_get(): the row; data NULL (the body is the
 * host's; with_data is ignored since ABI 1.2). Served from the writer's
 * row cache when it knows the id (grade_put keeps its graded exact). */
int my_submission_get(void *inst, uint64_t id, int with_data,
                      lms_submission *out, lms_err *err)
{
    (void)with_data;
    my_inst *s = inst;
    int rc = my_cache_get(s, MY_C_SUBMISSION, &id, sizeof id, out,
                          sizeof *out, NULL, NULL);
    if (rc == 1) {
        rc = LMS_OK;
    } else if (rc == 0) {
        rc = LMS_NOT_FOUND;
    } else if ((rc = my_grade_flush(s, err)) == LMS_OK) { /* graded */
        my_binder b;
        my_binder_init(&b);
        my_bind_u64(&b, id);
        rc = my_get(s, &SQL_SUBMISSION_GET, &b, fill_submission, out, err);
        if (rc == LMS_OK && out->id == id)
            my_cache_set(s, MY_C_SUBMISSION, &id, sizeof id, out, sizeof *out,
                         NULL, 0);
        else if (rc == LMS_NOT_FOUND)
            my_cache_set(s, MY_C_SUBMISSION, &id, sizeof id, NULL, 0, NULL,
                         0);
    }
    if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "submission_get: no submission %llu",
                    (unsigned long long)id);
    return rc;
}

/* storage ops submission_list(): filtered by assignment (0: any) and
 * student (NULL: any), ordered by id; data is NULL. */
int my_submission_list(void *inst, uint64_t assignment_id,
                       const char *student, lms_each_fn each, void *arg,
                       lms_err *err)
{
    const my_sql *def =
        &SQL_SUBMISSION_LIST[my_mask(assignment_id != 0, student != NULL)];
    my_binder b;
    my_binder_init(&b);
    if (assignment_id)
        my_bind_u64(&b, assignment_id);
    if (student)
        my_bind_text(&b, student, SIZE_MAX);
    lms_submission row;
    memset(&row, 0, sizeof row);
    int rc = my_grade_flush(inst, err); /* graded */
    return rc != LMS_OK ? rc : my_walk(inst, def, &b, fill_submission, &row,
                                       each, arg, err);
}

/* storage ops submission_count(): the same filters as submission_list. */
int my_submission_count(void *inst, uint64_t assignment_id,
                        const char *student, uint32_t *n, lms_err *err)
{
    const my_sql *def =
        &SQL_SUBMISSION_COUNT[my_mask(assignment_id != 0, student != NULL)];
    my_binder b;
    my_binder_init(&b);
    if (assignment_id)
        my_bind_u64(&b, assignment_id);
    if (student)
        my_bind_text(&b, student, SIZE_MAX);
    return my_get(inst, def, &b, fill_u32, n, err);
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

static const my_sql SQL_GRADE_PUT = {
    MY_GRADE_PUT, MY_W, "grade_put",
    "INSERT INTO grades(submission_id, grade, feedback, grader, graded) "
    "VALUES(?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE grade = VALUES(grade), "
    "feedback = VALUES(feedback), grader = VALUES(grader), "
    "graded = VALUES(graded)"};
static const my_sql SQL_GRADE_GET = {
    MY_GRADE_GET, MY_R, "grade_get",
    "SELECT " GRADE_COLS " FROM grades g WHERE g.submission_id = ?"};
static const my_sql SQL_GRADE_LIST[4] = {
    {MY_GRADE_LIST, MY_R, "grade_list",
     GRADE_VIEW_FROM "ORDER BY g.submission_id"},
    {MY_GRADE_LIST + 1, MY_R, "grade_list",
     GRADE_VIEW_FROM "WHERE a.course = ? ORDER BY s.id"},
    {MY_GRADE_LIST + 2, MY_R, "grade_list",
     GRADE_VIEW_FROM "WHERE s.student = ? ORDER BY s.id"},
    {MY_GRADE_LIST + 3, MY_R, "grade_list",
     GRADE_VIEW_FROM "WHERE a.course = ? AND s.student = ? ORDER BY s.id"},
};

static void read_grade(const my_col *c, lms_grade *g)
{
    g->submission_id = (uint64_t)my_col_i64(&c[0]);
    g->grade = my_col_double(&c[1]);
    g->feedback = my_col_text(&c[2]);
    MY_COPY_FIELD(&c[3], g->grader);
    g->graded = my_col_i64(&c[4]);
}

static void fill_grade(const my_col *c, void *row)
{
    read_grade(c, row);
}

/* A grade_list row and the three structs its view points at. */
typedef struct grade_row {
    lms_grade_view view;
    lms_grade grade;
    lms_submission submission;
    lms_assignment assignment;
} grade_row;

/* my_walk fills the row and hands each() the row's first member, so the
 * callback receives a plain lms_grade_view. */
static void fill_grade_view(const my_col *c, void *row)
{
    grade_row *r = row;
    read_grade(c, &r->grade);
    read_submission(c + GRADE_NCOLS, &r->submission);
    read_assignment(c + GRADE_NCOLS + SUBMISSION_NCOLS, &r->assignment);
    r->view.grade = &r->grade;
    r->view.submission = &r->submission;
    r->view.assignment = &r->assignment;
}

/* See mysql_internal.h. */
void my_grade_discard(my_inst *s)
{
    for (size_t i = 0; i < s->n_pgrade; i++)
        free(s->pgrade[i].feedback);
    s->n_pgrade = 0;
    s->pgrade_bytes = 0;
    if (s->cap_pgrade > 256) {
        free(s->pgrade);
        s->pgrade = NULL;
        s->cap_pgrade = 0;
    }
}

/* Run SQL_GRADE_PUT once over every pending grade (parameter arrays, one
 * round trip; applied in order). */
static int grade_bulk(my_inst *s, my_stmt *m, lms_err *err)
{
    size_t n = s->n_pgrade;
    uint64_t *id = calloc(n, sizeof *id);
    double *grade = calloc(n, sizeof *grade);
    const char **fb = calloc(n, sizeof *fb), **by = calloc(n, sizeof *by);
    unsigned long *fblen = calloc(n, sizeof *fblen),
                  *bylen = calloc(n, sizeof *bylen);
    long long *graded = calloc(n, sizeof *graded);
    int rc = LMS_OK;
    if (!id || !grade || !fb || !by || !fblen || !bylen || !graded)
        rc = lms_err_set(err, LMS_INTERNAL, "grade_put: out of memory");
    for (size_t i = 0; rc == LMS_OK && i < n; i++) {
        const my_pending_grade *p = &s->pgrade[i];
        id[i] = p->g.submission_id;
        grade[i] = p->g.grade;
        fb[i] = p->feedback;
        fblen[i] = (unsigned long)strlen(p->feedback);
        by[i] = p->g.grader;
        bylen[i] = (unsigned long)strlen(p->g.grader);
        graded[i] = p->g.graded;
    }
    MYSQL_BIND b[5];
    memset(b, 0, sizeof b);
    b[0] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = id,
                        .is_unsigned = 1};
    b[1] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_DOUBLE, .buffer = grade};
    b[2] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_STRING, .buffer = fb,
                        .length = fblen};
    b[3] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_STRING, .buffer = by,
                        .length = bylen};
    b[4] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = graded};
    if (rc == LMS_OK)
        rc = my_run_bulk(s, m, b, n, "grade_put", err);
    free(id), free(grade), free(fb), free(by), free(fblen), free(bylen);
    free(graded);
    return rc;
}

static int grade_send(my_inst *s, const lms_grade *g, lms_err *err);

/* See mysql_internal.h. */
int my_grade_flush(my_inst *s, lms_err *err)
{
    if (s->n_pgrade == 0)
        return LMS_OK;
    my_stmt *m = NULL;
    int rc = my_acquire(s, &SQL_GRADE_PUT, &m, err);
    if (rc == LMS_OK && s->n_pgrade > 1 && my_bulk_supported(s)) {
        rc = grade_bulk(s, m, err);
    } else {
        for (size_t i = 0; rc == LMS_OK && i < s->n_pgrade; i++) {
            lms_grade g = s->pgrade[i].g;
            g.feedback = s->pgrade[i].feedback;
            rc = grade_send(s, &g, err);
        }
    }
    my_grade_discard(s);
    if (rc != LMS_OK) {
        s->pend_failed = 1;
        my_cache_clear(s);
    }
    return rc;
}

/* Queue g (grader cut to gn bytes at by) until the next flush; 0 when
 * out of memory, and nothing was queued. */
static int grade_defer(my_inst *s, const lms_grade *g, const char *fb,
                       size_t fn, const char *by, size_t gn)
{
    if (s->n_pgrade == s->cap_pgrade) {
        size_t cap = s->cap_pgrade ? 2 * s->cap_pgrade : 64;
        my_pending_grade *p = realloc(s->pgrade, cap * sizeof *p);
        if (p == NULL)
            return 0;
        s->pgrade = p;
        s->cap_pgrade = cap;
    }
    my_pending_grade *p = &s->pgrade[s->n_pgrade];
    memset(p, 0, sizeof *p);
    if ((p->feedback = malloc(fn + 1)) == NULL)
        return 0;
    memcpy(p->feedback, fb, fn);
    p->feedback[fn] = '\0';
    p->g.submission_id = g->submission_id;
    p->g.grade = g->grade;
    memcpy(p->g.grader, by, gn);
    p->g.graded = g->graded;
    s->n_pgrade++;
    s->pgrade_bytes += sizeof *p + fn;
    return 1;
}

/* Bind and run one grade_put now. */
static int grade_send(my_inst *s, const lms_grade *g, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, g->submission_id);
    my_bind_double(&b, g->grade);
    my_bind_text(&b, g->feedback, SIZE_MAX);
    MY_BIND_FIELD(&b, g->grader);
    my_bind_i64(&b, g->graded);
    return my_run(s, &SQL_GRADE_PUT, &b, err);
}

/* storage ops grade_put(): insert, or replace the grade of that
 * submission, which must exist. A NULL feedback is stored as "". The
 * writer's row cache then holds the grade as stored (a grade the server
 * might not keep bit for bit, -0 or not finite, is forgotten instead) and
 * its submission, if cached, as graded.
 *
 * Inside the writer's transaction a grade the server cannot refuse (its
 * submission known to exist from the row cache, the grade finite and not
 * -0, feedback and grader valid UTF-8, feedback at most 1 MiB) waits, in
 * order, for the next flush (before COMMIT, or before a read of grades:
 * grade_get or submission_get that asks the server, grade_list,
 * submission_list; or past 256 rows or 4 MiB), which sends all of them
 * in one round trip, as client records are (my_client_put). */
int my_grade_put(void *inst, const lms_grade *g, lms_err *err)
{
    my_inst *s = inst;
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, g->submission_id);
    my_bind_double(&b, g->grade);
    my_bind_text(&b, g->feedback, SIZE_MAX);
    MY_BIND_FIELD(&b, g->grader);
    my_bind_i64(&b, g->graded);
    uint64_t id = g->submission_id;
    my_cache_forget(s, MY_C_GRADE, &id, sizeof id);
    const char *fb0 = g->feedback ? g->feedback : "";
    size_t fn0 = strlen(fb0), gn0 = b.len[3];
    const char *by0 = b.b[3].buffer;
    int exact = isfinite(g->grade) && !(g->grade == 0 && signbit(g->grade));
    int rc;
    if (exact && my_cache_on(s) && s->in_tx && s->migrated &&
        !s->pend_failed && fn0 <= (1u << 20) &&
        my_cache_row(s, MY_C_SUBMISSION, &id, sizeof id,
                     sizeof(lms_submission)) != NULL &&
        my_utf8_ok(fb0, fn0) && my_utf8_ok(by0, gn0) &&
        grade_defer(s, g, fb0, fn0, by0, gn0)) {
        rc = LMS_OK;
        if (s->n_pgrade >= 256 || s->pgrade_bytes >= (4u << 20))
            rc = my_grade_flush(s, err);
    } else {
        rc = my_grade_flush(s, err);
        if (rc == LMS_OK)
            rc = my_run(s, &SQL_GRADE_PUT, &b, err);
    }
    if (rc != LMS_OK || !my_cache_on(s))
        return rc;
    lms_submission *sub =
        my_cache_row(s, MY_C_SUBMISSION, &id, sizeof id, sizeof *sub);
    if (sub)
        sub->graded = 1;
    if (exact) {
        lms_grade keep;
        memset(&keep, 0, sizeof keep);
        keep.submission_id = id;
        keep.grade = g->grade;
        size_t gn = b.len[3];
        memcpy(keep.grader, b.b[3].buffer, gn);
        keep.graded = g->graded;
        const char *fb = g->feedback ? g->feedback : "";
        my_cache_set(s, MY_C_GRADE, &id, sizeof id, &keep, sizeof keep, fb,
                     strlen(fb) + 1);
    }
    return rc;
}

/* storage ops grade_get(): feedback valid until the next call. Served
 * from the writer's row cache when it knows the submission's grade. */
int my_grade_get(void *inst, uint64_t submission_id, lms_grade *out,
                 lms_err *err)
{
    my_inst *s = inst;
    uint64_t id = submission_id;
    const void *text = NULL;
    int rc = my_cache_get(s, MY_C_GRADE, &id, sizeof id, out, sizeof *out,
                          &text, NULL);
    if (rc == 1) {
        out->feedback = text ? text : "";
        rc = LMS_OK;
    } else if (rc == 0) {
        rc = LMS_NOT_FOUND;
    } else if ((rc = my_grade_flush(s, err)) == LMS_OK) {
        my_binder b;
        my_binder_init(&b);
        my_bind_u64(&b, id);
        rc = my_get(s, &SQL_GRADE_GET, &b, fill_grade, out, err);
        if (rc == LMS_OK && out->submission_id == id) {
            lms_grade row = *out;
            row.feedback = NULL;
            my_cache_set(s, MY_C_GRADE, &id, sizeof id, &row, sizeof row,
                         out->feedback, strlen(out->feedback) + 1);
        } else if (rc == LMS_NOT_FOUND) {
            my_cache_set(s, MY_C_GRADE, &id, sizeof id, NULL, 0, NULL, 0);
        }
    }
    if (rc == LMS_OK)
        rc = my_keep_text(s, &out->feedback, err);
    else if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "grade_get: submission %llu has no grade",
                    (unsigned long long)submission_id);
    return rc;
}

/* storage ops grade_list(): lms_grade_view rows of graded submissions in
 * course (NULL: any) by student (NULL: any), ordered by submission id. */
int my_grade_list(void *inst, const char *course, const char *student,
                  lms_each_fn each, void *arg, lms_err *err)
{
    const my_sql *def =
        &SQL_GRADE_LIST[my_mask(course != NULL, student != NULL)];
    my_binder b;
    my_binder_init(&b);
    if (course)
        my_bind_text(&b, course, SIZE_MAX);
    if (student)
        my_bind_text(&b, student, SIZE_MAX);
    grade_row row;
    memset(&row, 0, sizeof row);
    int rc = my_grade_flush(inst, err);
    return rc != LMS_OK ? rc : my_walk(inst, def, &b, fill_grade_view, &row,
                                       each, arg, err);
}

/* ---- queries and replies ---- */

#define QUERY_COLS                                                             \
    "id, course, student, title, body, created, resolved, kind, "              \
    "escalated_from, provider, model, prompt_tokens, completion_tokens, "      \
    "latency_ms, shared"

static const my_sql SQL_QUERY_PUT = {
    MY_QUERY_PUT, MY_W, "query_put",
    "INSERT INTO queries(" QUERY_COLS ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE course = VALUES(course), "
    "student = VALUES(student), title = VALUES(title), "
    "body = VALUES(body), created = VALUES(created), "
    "resolved = VALUES(resolved), kind = VALUES(kind), "
    "escalated_from = VALUES(escalated_from), "
    "provider = VALUES(provider), model = VALUES(model), "
    "prompt_tokens = VALUES(prompt_tokens), "
    "completion_tokens = VALUES(completion_tokens), "
    "latency_ms = VALUES(latency_ms), shared = VALUES(shared)"};
static const my_sql SQL_QUERY_GET = {
    MY_QUERY_GET, MY_R, "query_get",
    "SELECT " QUERY_COLS " FROM queries WHERE id = ?"};
static const my_sql SQL_QUERY_LIST[4] = {
    {MY_QUERY_LIST, MY_R, "query_list",
     "SELECT " QUERY_COLS " FROM queries ORDER BY id"},
    {MY_QUERY_LIST + 1, MY_R, "query_list",
     "SELECT " QUERY_COLS " FROM queries WHERE course = ? ORDER BY id"},
    {MY_QUERY_LIST + 2, MY_R, "query_list",
     "SELECT " QUERY_COLS " FROM queries WHERE student = ? ORDER BY id"},
    {MY_QUERY_LIST + 3, MY_R, "query_list",
     "SELECT " QUERY_COLS " FROM queries WHERE course = ? AND student = ? "
     "ORDER BY id"},
};

static void fill_query(const my_col *c, void *row)
{
    lms_query *q = row;
    q->id = (uint64_t)my_col_i64(&c[0]);
    MY_COPY_FIELD(&c[1], q->course);
    MY_COPY_FIELD(&c[2], q->student);
    MY_COPY_FIELD(&c[3], q->title);
    q->text = my_col_text(&c[4]);
    q->created = my_col_i64(&c[5]);
    q->resolved = (int)my_col_i64(&c[6]);
    q->kind = (int)my_col_i64(&c[7]);
    q->escalated_from = (uint64_t)my_col_i64(&c[8]);
    MY_COPY_FIELD(&c[9], q->provider);
    MY_COPY_FIELD(&c[10], q->model);
    q->prompt_tokens = (uint32_t)my_col_i64(&c[11]);
    q->completion_tokens = (uint32_t)my_col_i64(&c[12]);
    q->latency_ms = (uint32_t)my_col_i64(&c[13]);
    q->shared = my_col_i64(&c[14]) != 0;
}

/* storage ops query_put(): insert, or replace the question with that id
 * (marking it resolved is a put). A NULL text is stored as "". */
int my_query_put(void *inst, const lms_query *q, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, q->id);
    MY_BIND_FIELD(&b, q->course);
    MY_BIND_FIELD(&b, q->student);
    MY_BIND_FIELD(&b, q->title);
    my_bind_text(&b, q->text, SIZE_MAX);
    my_bind_i64(&b, q->created);
    my_bind_i64(&b, q->resolved);
    my_bind_i64(&b, q->kind);
    my_bind_u64(&b, q->escalated_from);
    MY_BIND_FIELD(&b, q->provider);
    MY_BIND_FIELD(&b, q->model);
    my_bind_i64(&b, q->prompt_tokens);
    my_bind_i64(&b, q->completion_tokens);
    my_bind_i64(&b, q->latency_ms);
    my_bind_i64(&b, q->shared != 0);
    return my_run(inst, &SQL_QUERY_PUT, &b, err);
}

/* storage ops query_get(): text valid until the next call. */
int my_query_get(void *inst, uint64_t id, lms_query *out, lms_err *err)
{
    my_inst *s = inst;
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, id);
    int rc = my_get(s, &SQL_QUERY_GET, &b, fill_query, out, err);
    if (rc == LMS_OK)
        rc = my_keep_text(s, &out->text, err);
    else if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "query_get: no question %llu",
                    (unsigned long long)id);
    return rc;
}

/* storage ops query_list(): course/student NULL: any; ordered by id. */
int my_query_list(void *inst, const char *course, const char *student,
                  lms_each_fn each, void *arg, lms_err *err)
{
    const my_sql *def =
        &SQL_QUERY_LIST[my_mask(course != NULL, student != NULL)];
    my_binder b;
    my_binder_init(&b);
    if (course)
        my_bind_text(&b, course, SIZE_MAX);
    if (student)
        my_bind_text(&b, student, SIZE_MAX);
    lms_query row;
    memset(&row, 0, sizeof row);
    return my_walk(inst, def, &b, fill_query, &row, each, arg, err);
}

static const my_sql SQL_REPLY_PUT = {
    MY_REPLY_PUT, MY_W, "reply_put",
    "INSERT INTO replies(id, query_id, author, body, created) "
    "VALUES(?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
    "query_id = VALUES(query_id), author = VALUES(author), "
    "body = VALUES(body), created = VALUES(created)"};
static const my_sql SQL_REPLY_LIST = {
    MY_REPLY_LIST, MY_R, "reply_list",
    "SELECT id, query_id, author, body, created FROM replies "
    "WHERE query_id = ? ORDER BY id"};

static void fill_reply(const my_col *c, void *row)
{
    lms_reply *r = row;
    r->id = (uint64_t)my_col_i64(&c[0]);
    r->query_id = (uint64_t)my_col_i64(&c[1]);
    MY_COPY_FIELD(&c[2], r->author);
    r->text = my_col_text(&c[3]);
    r->created = my_col_i64(&c[4]);
}

/* storage ops reply_put(): insert, or replace the reply with that id; its
 * question must exist. */
int my_reply_put(void *inst, const lms_reply *r, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, r->id);
    my_bind_u64(&b, r->query_id);
    MY_BIND_FIELD(&b, r->author);
    my_bind_text(&b, r->text, SIZE_MAX);
    my_bind_i64(&b, r->created);
    return my_run(inst, &SQL_REPLY_PUT, &b, err);
}

/* storage ops reply_list(): the replies to one question, by id. */
int my_reply_list(void *inst, uint64_t query_id, lms_each_fn each, void *arg,
                  lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, query_id);
    lms_reply row;
    memset(&row, 0, sizeof row);
    return my_walk(inst, &SQL_REPLY_LIST, &b, fill_reply, &row, each, arg,
                   err);
}

/* ---- materials ---- */

#define MATERIAL_COLS                                                          \
    "id, course, title, file_name, size, sha256, uploaded_by, created"

static const my_sql SQL_MATERIAL_PUT = {
    MY_MATERIAL_PUT, MY_W, "material_put",
    "INSERT INTO materials(" MATERIAL_COLS ") "
    "VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
    "course = VALUES(course), title = VALUES(title), "
    "file_name = VALUES(file_name), size = VALUES(size), "
    "sha256 = VALUES(sha256), uploaded_by = VALUES(uploaded_by), "
    "created = VALUES(created)"};
static const my_sql SQL_MATERIAL_GET = {
    MY_MATERIAL_GET, MY_R, "material_get",
    "SELECT " MATERIAL_COLS " FROM materials WHERE id = ?"};
static const my_sql SQL_MATERIAL_LIST = {
    MY_MATERIAL_LIST, MY_R, "material_list",
    "SELECT " MATERIAL_COLS " FROM materials WHERE course = ? ORDER BY id"};

static void fill_material(const my_col *c, void *row)
{
    lms_material *m = row;
    m->id = (uint64_t)my_col_i64(&c[0]);
    MY_COPY_FIELD(&c[1], m->course);
    MY_COPY_FIELD(&c[2], m->title);
    MY_COPY_FIELD(&c[3], m->file_name);
    m->size = (uint64_t)my_col_i64(&c[4]);
    my_col_sha(&c[5], m->sha256);
    MY_COPY_FIELD(&c[6], m->uploaded_by);
    m->created = my_col_i64(&c[7]);
    m->data = NULL;
}

/* storage ops material_put(): insert, or replace the material with that
 * id; its course must exist. The body is the host's. */
int my_material_put(void *inst, const lms_material *m, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, m->id);
    MY_BIND_FIELD(&b, m->course);
    MY_BIND_FIELD(&b, m->title);
    MY_BIND_FIELD(&b, m->file_name);
    my_bind_u64(&b, m->size);
    my_bind_blob(&b, m->sha256, LMS_SHA256_LEN);
    MY_BIND_FIELD(&b, m->uploaded_by);
    my_bind_i64(&b, m->created);
    return my_run(inst, &SQL_MATERIAL_PUT, &b, err);
}

/* storage ops material_get(): as submission_get. */
int my_material_get(void *inst, uint64_t id, int with_data,
                    lms_material *out, lms_err *err)
{
    (void)with_data;
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, id);
    int rc = my_get(inst, &SQL_MATERIAL_GET, &b, fill_material, out, err);
    if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "material_get: no material %llu",
                    (unsigned long long)id);
    return rc;
}

/* storage ops material_list(): a course's materials by id; data NULL. */
int my_material_list(void *inst, const char *course, lms_each_fn each,
                     void *arg, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, course, SIZE_MAX);
    lms_material row;
    memset(&row, 0, sizeof row);
    return my_walk(inst, &SQL_MATERIAL_LIST, &b, fill_material, &row, each,
                   arg, err);
}

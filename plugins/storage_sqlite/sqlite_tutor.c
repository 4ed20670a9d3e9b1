/* SPDX-License-Identifier: MIT */
/*
 * sqlite_tutor.c: the storage ops the tutor added (schema version 2):
 * per-course tutor settings and the count of a student's queries of one
 * kind in a time window, which lmsd's apply uses for the daily limit of
 * tutor questions.
 *
 * Same shape as sqlite_ops.c: a cached statement per op, bound, stepped
 * through sqlite_stmt.c's helpers; a get copies its one pointer field (the
 * system prompt) into the instance's keep buffer.
 */
#include "sqlite_internal.h"

#include <stdint.h>
#include <string.h>

#define SQ_W (SQ_NEEDS_SCHEMA | SQ_WRITES)
#define SQ_R SQ_NEEDS_SCHEMA

static const sq_sql SQL_SETTINGS_PUT = {
    SQ_SETTINGS_PUT, SQ_W, "course_settings_put",
    "INSERT INTO course_settings(course, system_prompt, tutor_daily_limit) "
    "VALUES(?1, ?2, ?3) ON CONFLICT(course) DO UPDATE SET "
    "system_prompt = excluded.system_prompt, "
    "tutor_daily_limit = excluded.tutor_daily_limit"};
static const sq_sql SQL_SETTINGS_GET = {
    SQ_SETTINGS_GET, SQ_R, "course_settings_get",
    "SELECT course, system_prompt, tutor_daily_limit FROM course_settings "
    "WHERE course = ?1"};
static const sq_sql SQL_QUERY_COUNT = {
    SQ_QUERY_COUNT, SQ_R, "query_count",
    "SELECT count(*) FROM queries WHERE student = ?2 AND course = ?1 "
    "AND kind = ?3 AND created >= ?4 AND created < ?5"};

/* storage ops course_settings_put(): insert, or replace the settings of
 * that course, which must exist. A NULL prompt is stored as "" (the
 * default). */
int sq_course_settings_put(void *inst, const lms_course_settings *x,
                           lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SETTINGS_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    SQ_BIND_FIELD(&b, x->course);
    sq_bind_text(&b, x->system_prompt, SIZE_MAX);
    sq_bind_i64(&b, x->tutor_daily_limit);
    return sq_run(s, &SQL_SETTINGS_PUT, &b, err);
}

/* storage ops course_settings_get(): LMS_NOT_FOUND when none were ever
 * set; system_prompt ("" for the default) valid until the next call. */
int sq_course_settings_get(void *inst, const char *course,
                           lms_course_settings *out, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SETTINGS_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, course, SIZE_MAX);
    rc = sq_step_row(s, &SQL_SETTINGS_GET, &b, err);
    if (rc == LMS_OK) {
        SQ_COPY_FIELD(st, 0, out->course);
        out->system_prompt = sq_col_text(st, 1);
        out->tutor_daily_limit = (uint32_t)sq_col_i64(st, 2);
        rc = sq_keep_text(s, &out->system_prompt, err);
    }
    sq_release(st);
    return rc;
}

/* storage ops query_count(): queries of kind by student in course created
 * in [since, until). */
int sq_query_count(void *inst, const char *course, const char *student,
                   int kind, int64_t since, int64_t until, uint32_t *n,
                   lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_QUERY_COUNT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, course, SIZE_MAX);
    sq_bind_text(&b, student, SIZE_MAX);
    sq_bind_i64(&b, kind);
    sq_bind_i64(&b, since);
    sq_bind_i64(&b, until);
    rc = sq_step_row(s, &SQL_QUERY_COUNT, &b, err);
    if (rc == LMS_OK)
        *n = (uint32_t)sq_col_i64(st, 0);
    sq_release(st);
    return rc;
}

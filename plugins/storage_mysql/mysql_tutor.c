/* SPDX-License-Identifier: MIT */
/*
 * mysql_tutor.c: the storage ops the tutor added: per-course tutor
 * settings and the count of a student's queries of one kind in a time
 * window, which lmsd's apply uses for the daily limit of tutor questions.
 *
 * Same shape as mysql_ops.c; a get copies its one pointer field (the
 * system prompt) into the instance's keep buffer.
 */
#include "mysql_internal.h"

#include <stdint.h>
#include <string.h>

#define MY_W (MY_NEEDS_SCHEMA | MY_WRITES)
#define MY_R MY_NEEDS_SCHEMA

static const my_sql SQL_SETTINGS_PUT = {
    MY_SETTINGS_PUT, MY_W, "course_settings_put",
    "INSERT INTO course_settings(course, system_prompt, tutor_daily_limit) "
    "VALUES(?, ?, ?) ON DUPLICATE KEY UPDATE "
    "system_prompt = VALUES(system_prompt), "
    "tutor_daily_limit = VALUES(tutor_daily_limit)"};
static const my_sql SQL_SETTINGS_GET = {
    MY_SETTINGS_GET, MY_R, "course_settings_get",
    "SELECT course, system_prompt, tutor_daily_limit FROM course_settings "
    "WHERE course = ?"};
static const my_sql SQL_QUERY_COUNT = {
    MY_QUERY_COUNT, MY_R, "query_count",
    "SELECT COUNT(*) FROM queries WHERE student = ? AND course = ? "
    "AND kind = ? AND created >= ? AND created < ?"};

static void fill_settings(const my_col *c, void *row)
{
    lms_course_settings *x = row;
    MY_COPY_FIELD(&c[0], x->course);
    x->system_prompt = my_col_text(&c[1]);
    x->tutor_daily_limit = (uint32_t)my_col_i64(&c[2]);
}

static void fill_u32(const my_col *c, void *row)
{
    *(uint32_t *)row = (uint32_t)my_col_i64(&c[0]);
}

/* storage ops course_settings_put(): insert, or replace the settings of
 * that course, which must exist. A NULL prompt is stored as "" (the
 * default). */
int my_course_settings_put(void *inst, const lms_course_settings *x,
                           lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    MY_BIND_FIELD(&b, x->course);
    my_bind_text(&b, x->system_prompt, SIZE_MAX);
    my_bind_i64(&b, x->tutor_daily_limit);
    return my_run(inst, &SQL_SETTINGS_PUT, &b, err);
}

/* storage ops course_settings_get(): LMS_NOT_FOUND when none were ever
 * set; system_prompt ("" for the default) valid until the next call. */
int my_course_settings_get(void *inst, const char *course,
                           lms_course_settings *out, lms_err *err)
{
    my_inst *s = inst;
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, course, SIZE_MAX);
    int rc = my_get(s, &SQL_SETTINGS_GET, &b, fill_settings, out, err);
    if (rc == LMS_OK)
        rc = my_keep_text(s, &out->system_prompt, err);
    return rc;
}

/* storage ops query_count(): queries of kind by student in course created
 * in [since, until). */
int my_query_count(void *inst, const char *course, const char *student,
                   int kind, int64_t since, int64_t until, uint32_t *n,
                   lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, student, SIZE_MAX);
    my_bind_text(&b, course, SIZE_MAX);
    my_bind_i64(&b, kind);
    my_bind_i64(&b, since);
    my_bind_i64(&b, until);
    return my_get(inst, &SQL_QUERY_COUNT, &b, fill_u32, n, err);
}

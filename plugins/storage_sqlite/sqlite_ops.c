/* SPDX-License-Identifier: MIT */
/*
 * sqlite_ops.c: the storage ops for people and bookkeeping: users, courses,
 * enrolments, sessions and client dedup records.
 *
 * Every op follows the same shape: acquire its cached statement, bind,
 * step through sqlite_stmt.c's helpers (which release the statement), and
 * for a get copy the one pointer field it hands out into the instance's
 * keep buffer. "put" is an UPSERT (INSERT ... ON CONFLICT DO UPDATE), a
 * true update in place: INSERT OR REPLACE would delete the old row first,
 * which foreign keys see as a delete.
 */
#include "sqlite_internal.h"

#include <stdint.h>
#include <string.h>

#define SQ_W (SQ_NEEDS_SCHEMA | SQ_WRITES)
#define SQ_R SQ_NEEDS_SCHEMA

/* ---- users ---- */

#define USER_COLS "name, full_name, role, password_hash, created"

static const sq_sql SQL_USER_PUT = {
    SQ_USER_PUT, SQ_W, "user_put",
    "INSERT INTO users(" USER_COLS ") VALUES(?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT(name) DO UPDATE SET full_name = excluded.full_name, "
    "role = excluded.role, password_hash = excluded.password_hash, "
    "created = excluded.created"};
static const sq_sql SQL_USER_GET = {
    SQ_USER_GET, SQ_R, "user_get",
    "SELECT " USER_COLS " FROM users WHERE name = ?1"};
static const sq_sql SQL_USER_LIST = {
    SQ_USER_LIST, SQ_R, "user_list",
    "SELECT " USER_COLS " FROM users ORDER BY name"};
static const sq_sql SQL_USER_COUNT = {SQ_USER_COUNT, SQ_R, "user_count",
                                      "SELECT count(*) FROM users"};

static void fill_user(sqlite3_stmt *st, void *row)
{
    lms_user *u = row;
    SQ_COPY_FIELD(st, 0, u->name);
    SQ_COPY_FIELD(st, 1, u->full_name);
    u->role = (int)sq_col_i64(st, 2);
    u->password_hash = sq_col_text(st, 3);
    u->created = sq_col_i64(st, 4);
}

/* storage ops user_put(): insert, or replace every field of that name's
 * row. A NULL password_hash is stored as "". */
int sq_user_put(void *inst, const lms_user *u, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_USER_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    SQ_BIND_FIELD(&b, u->name);
    SQ_BIND_FIELD(&b, u->full_name);
    sq_bind_i64(&b, u->role);
    sq_bind_text(&b, u->password_hash, SIZE_MAX);
    sq_bind_i64(&b, u->created);
    return sq_run(s, &SQL_USER_PUT, &b, err);
}

/* storage ops user_get(): password_hash is valid until the next call. */
int sq_user_get(void *inst, const char *name, lms_user *out, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_USER_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, name, SIZE_MAX);
    rc = sq_step_row(s, &SQL_USER_GET, &b, err);
    if (rc == LMS_OK) {
        fill_user(st, out);
        rc = sq_keep_text(s, &out->password_hash, err);
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "user_get: no user '%s'", name ? name : "");
    }
    sq_release(st);
    return rc;
}

int sq_user_list(void *inst, lms_each_fn each, void *arg, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_USER_LIST, &st, err);
    if (rc != LMS_OK)
        return rc;
    lms_user row = {0};
    sq_binder b = sq_binder_of(st);
    return sq_walk(s, &SQL_USER_LIST, &b, fill_user, &row, each, arg, err);
}

int sq_user_count(void *inst, uint64_t *n, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_USER_COUNT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    rc = sq_step_row(s, &SQL_USER_COUNT, &b, err);
    if (rc == LMS_OK)
        *n = (uint64_t)sq_col_i64(st, 0);
    sq_release(st);
    return rc;
}

/* ---- courses ---- */

static const sq_sql SQL_COURSE_PUT = {
    SQ_COURSE_PUT, SQ_W, "course_put",
    "INSERT INTO courses(code, title, created) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(code) DO UPDATE SET title = excluded.title, "
    "created = excluded.created"};
static const sq_sql SQL_COURSE_GET = {
    SQ_COURSE_GET, SQ_R, "course_get",
    "SELECT code, title, created, 0 FROM courses WHERE code = ?1"};
static const sq_sql SQL_COURSE_LIST_ALL = {
    SQ_COURSE_LIST_ALL, SQ_R, "course_list",
    "SELECT code, title, created, 0 FROM courses ORDER BY code"};
static const sq_sql SQL_COURSE_LIST_USER = {
    SQ_COURSE_LIST_USER, SQ_R, "course_list",
    "SELECT c.code, c.title, c.created, e.role FROM enrolments e "
    "JOIN courses c ON c.code = e.course WHERE e.user = ?1 "
    "ORDER BY e.course"};

static void fill_course(sqlite3_stmt *st, void *row)
{
    lms_course *c = row;
    SQ_COPY_FIELD(st, 0, c->code);
    SQ_COPY_FIELD(st, 1, c->title);
    c->created = sq_col_i64(st, 2);
    c->my_role = (int)sq_col_i64(st, 3);
}

/* storage ops course_put(): insert, or replace the course with that code.
 * my_role is not stored. */
int sq_course_put(void *inst, const lms_course *c, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_COURSE_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    SQ_BIND_FIELD(&b, c->code);
    SQ_BIND_FIELD(&b, c->title);
    sq_bind_i64(&b, c->created);
    return sq_run(s, &SQL_COURSE_PUT, &b, err);
}

/* storage ops course_get(): my_role is 0. */
int sq_course_get(void *inst, const char *code, lms_course *out,
                  lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_COURSE_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, code, SIZE_MAX);
    rc = sq_step_row(s, &SQL_COURSE_GET, &b, err);
    if (rc == LMS_OK)
        fill_course(st, out);
    else if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "course_get: no course '%s'", code ? code : "");
    sq_release(st);
    return rc;
}

/* storage ops course_list(): every course with my_role 0 (user NULL), or
 * the courses user is enrolled in with my_role = the enrolment's role;
 * ordered by code either way. */
int sq_course_list(void *inst, const char *user, lms_each_fn each, void *arg,
                   lms_err *err)
{
    sq_inst *s = inst;
    const sq_sql *def = user ? &SQL_COURSE_LIST_USER : &SQL_COURSE_LIST_ALL;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, def, &st, err);
    if (rc != LMS_OK)
        return rc;
    lms_course row = {0};
    sq_binder b = sq_binder_of(st);
    if (user)
        sq_bind_text(&b, user, SIZE_MAX);
    return sq_walk(s, def, &b, fill_course, &row, each, arg, err);
}

/* ---- enrolments ---- */

static const sq_sql SQL_ENROLMENT_PUT = {
    SQ_ENROLMENT_PUT, SQ_W, "enrolment_put",
    "INSERT INTO enrolments(course, user, role) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(course, user) DO UPDATE SET role = excluded.role"};
static const sq_sql SQL_ENROLMENT_GET = {
    SQ_ENROLMENT_GET, SQ_R, "enrolment_get",
    "SELECT role FROM enrolments WHERE course = ?1 AND user = ?2"};
static const sq_sql SQL_ENROLMENT_LIST_ANY = {
    SQ_ENROLMENT_LIST_ANY, SQ_R, "enrolment_list",
    "SELECT course, user, role FROM enrolments WHERE course = ?1 "
    "ORDER BY user"};
static const sq_sql SQL_ENROLMENT_LIST_ROLE = {
    SQ_ENROLMENT_LIST_ROLE, SQ_R, "enrolment_list",
    "SELECT course, user, role FROM enrolments WHERE course = ?1 "
    "AND role = ?2 ORDER BY user"};

static void fill_enrolment(sqlite3_stmt *st, void *row)
{
    lms_enrolment *e = row;
    SQ_COPY_FIELD(st, 0, e->course);
    SQ_COPY_FIELD(st, 1, e->user);
    e->role = (int)sq_col_i64(st, 2);
}

/* storage ops enrolment_put(): insert or replace the role of (course,
 * user); both must exist (FAILED_PRECONDITION otherwise). */
int sq_enrolment_put(void *inst, const lms_enrolment *e, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_ENROLMENT_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    SQ_BIND_FIELD(&b, e->course);
    SQ_BIND_FIELD(&b, e->user);
    sq_bind_i64(&b, e->role);
    return sq_run(s, &SQL_ENROLMENT_PUT, &b, err);
}

/* storage ops enrolment_get(): LMS_OK with LMS_ROLE_NONE when the user is
 * not enrolled. */
int sq_enrolment_get(void *inst, const char *course, const char *user,
                     int *role, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_ENROLMENT_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, course, SIZE_MAX);
    sq_bind_text(&b, user, SIZE_MAX);
    rc = sq_step_row(s, &SQL_ENROLMENT_GET, &b, err);
    if (rc == LMS_OK) {
        *role = (int)sq_col_i64(st, 0);
    } else if (rc == LMS_NOT_FOUND) {
        *role = LMS_ROLE_NONE;
        rc = LMS_OK;
    }
    sq_release(st);
    return rc;
}

/* storage ops enrolment_list(): a course's enrolments with that role (0:
 * any), ordered by user. */
int sq_enrolment_list(void *inst, const char *course, int role,
                      lms_each_fn each, void *arg, lms_err *err)
{
    sq_inst *s = inst;
    const sq_sql *def =
        role ? &SQL_ENROLMENT_LIST_ROLE : &SQL_ENROLMENT_LIST_ANY;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, def, &st, err);
    if (rc != LMS_OK)
        return rc;
    lms_enrolment row = {0};
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, course, SIZE_MAX);
    if (role)
        sq_bind_i64(&b, role);
    return sq_walk(s, def, &b, fill_enrolment, &row, each, arg, err);
}

/* ---- sessions ---- */

static const sq_sql SQL_SESSION_PUT = {
    SQ_SESSION_PUT, SQ_W, "session_put",
    "INSERT INTO sessions(token_hash, user, created, expires) "
    "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(token_hash) DO UPDATE SET "
    "user = excluded.user, created = excluded.created, "
    "expires = excluded.expires"};
static const sq_sql SQL_SESSION_GET = {
    SQ_SESSION_GET, SQ_R, "session_get",
    "SELECT token_hash, user, created, expires FROM sessions "
    "WHERE token_hash = ?1"};
static const sq_sql SQL_SESSION_DELETE = {
    SQ_SESSION_DELETE, SQ_W, "session_delete",
    "DELETE FROM sessions WHERE token_hash = ?1"};
static const sq_sql SQL_SESSION_PRUNE = {
    SQ_SESSION_PRUNE, SQ_W, "session_prune",
    "DELETE FROM sessions WHERE expires < ?1"};

/* storage ops session_put(): insert, or replace the session with that
 * token hash. */
int sq_session_put(void *inst, const lms_session *x, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SESSION_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_blob(&b, x->token_hash, LMS_SHA256_LEN);
    SQ_BIND_FIELD(&b, x->user);
    sq_bind_i64(&b, x->created);
    sq_bind_i64(&b, x->expires);
    return sq_run(s, &SQL_SESSION_PUT, &b, err);
}

/* storage ops session_get(): token_hash points at LMS_SHA256_LEN bytes. */
int sq_session_get(void *inst, const uint8_t *token_hash, lms_session *out,
                   lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SESSION_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_blob(&b, token_hash, LMS_SHA256_LEN);
    rc = sq_step_row(s, &SQL_SESSION_GET, &b, err);
    if (rc == LMS_OK) {
        sq_col_sha(st, 0, out->token_hash);
        SQ_COPY_FIELD(st, 1, out->user);
        out->created = sq_col_i64(st, 2);
        out->expires = sq_col_i64(st, 3);
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "session_get: no session with that token");
    }
    sq_release(st);
    return rc;
}

/* storage ops session_delete(): LMS_OK whether or not the session existed,
 * so that replaying a logout can never fail. */
int sq_session_delete(void *inst, const uint8_t *token_hash, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SESSION_DELETE, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_blob(&b, token_hash, LMS_SHA256_LEN);
    return sq_run(s, &SQL_SESSION_DELETE, &b, err);
}

/* storage ops session_prune(): delete sessions with expires < before. */
int sq_session_prune(void *inst, int64_t before, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SESSION_PRUNE, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, before);
    return sq_run(s, &SQL_SESSION_PRUNE, &b, err);
}

static const sq_sql SQL_SESSION_LIST_USER = {
    SQ_SESSION_LIST_USER, SQ_R, "session_list_user",
    "SELECT token_hash, user, created, expires FROM sessions "
    "WHERE user = ?1 ORDER BY created, token_hash"};

static void fill_session(sqlite3_stmt *st, void *row)
{
    lms_session *x = row;
    sq_col_sha(st, 0, x->token_hash);
    SQ_COPY_FIELD(st, 1, x->user);
    x->created = sq_col_i64(st, 2);
    x->expires = sq_col_i64(st, 3);
}

/* storage ops session_list_user(): oldest first, by created then token
 * hash (BLOBs compare bytewise, like memcmp). */
int sq_session_list_user(void *inst, const char *user, lms_each_fn each,
                         void *arg, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SESSION_LIST_USER, &st, err);
    if (rc != LMS_OK)
        return rc;
    lms_session row = {0};
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, user, SIZE_MAX);
    return sq_walk(s, &SQL_SESSION_LIST_USER, &b, fill_session, &row, each,
                   arg, err);
}

/* ---- client dedup records ---- */

static const sq_sql SQL_CLIENT_PUT = {
    SQ_CLIENT_PUT, SQ_W, "client_put",
    "INSERT INTO clients(client_id, seq, status, message, result_id, "
    "updated, answer) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(client_id) "
    "DO UPDATE SET seq = excluded.seq, status = excluded.status, "
    "message = excluded.message, result_id = excluded.result_id, "
    "updated = excluded.updated, answer = excluded.answer"};
static const sq_sql SQL_CLIENT_GET = {
    SQ_CLIENT_GET, SQ_R, "client_get",
    "SELECT client_id, seq, status, message, result_id, updated, answer "
    "FROM clients WHERE client_id = ?1"};
static const sq_sql SQL_CLIENT_PRUNE = {
    SQ_CLIENT_PRUNE, SQ_W, "client_prune",
    "DELETE FROM clients WHERE updated < ?1"};

/* storage ops client_get(): the last write recorded for client_id. */
int sq_client_get(void *inst, uint64_t client_id, lms_client_record *out,
                  lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_CLIENT_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)client_id);
    rc = sq_step_row(s, &SQL_CLIENT_GET, &b, err);
    if (rc == LMS_OK) {
        out->client_id = (uint64_t)sq_col_i64(st, 0);
        out->seq = (uint64_t)sq_col_i64(st, 1);
        out->status = (int)sq_col_i64(st, 2);
        SQ_COPY_FIELD(st, 3, out->message);
        out->result_id = (uint64_t)sq_col_i64(st, 4);
        out->updated = sq_col_i64(st, 5);
        const void *p = sqlite3_column_blob(st, 6);
        size_t n = (size_t)sqlite3_column_bytes(st, 6);
        out->answer = NULL;
        out->answer_len = 0;
        if (p != NULL && n > 0) {
            out->answer = sq_keep(s, p, n, 0);
            if (out->answer == NULL)
                rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
            else
                out->answer_len = n;
        }
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "client_get: no record of client %llu",
                    (unsigned long long)client_id);
    }
    sq_release(st);
    return rc;
}

/* storage ops client_put(): insert, or replace the client's record. */
int sq_client_put(void *inst, const lms_client_record *r, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_CLIENT_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)r->client_id);
    sq_bind_i64(&b, (int64_t)r->seq);
    sq_bind_i64(&b, r->status);
    SQ_BIND_FIELD(&b, r->message);
    sq_bind_i64(&b, (int64_t)r->result_id);
    sq_bind_i64(&b, r->updated);
    sq_bind_blob(&b, r->answer ? r->answer : "", r->answer ? r->answer_len : 0);
    return sq_run(s, &SQL_CLIENT_PUT, &b, err);
}

/* storage ops client_prune(): delete records with updated < before. */
int sq_client_prune(void *inst, int64_t before, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_CLIENT_PRUNE, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, before);
    return sq_run(s, &SQL_CLIENT_PRUNE, &b, err);
}

/*
 * mysql_ops.c: the storage ops for people and bookkeeping: users, courses,
 * enrolments, sessions and client dedup records.
 *
 * Every op has the same shape: bind its parameters in order into a
 * my_binder, run its cached statement through my_run / my_get / my_walk
 * (mysql_stmt.c), and for a get copy the one pointer field it hands out
 * into the instance's keep buffer. "put" is INSERT ... ON DUPLICATE KEY
 * UPDATE, an update in place (REPLACE would delete the old row first,
 * which foreign keys see as a delete); these tables have no unique key
 * besides the primary one, so a duplicate can only mean "this row".
 * The SQL and the orders are storage_sqlite's (sqlite_ops.c).
 */
#include "mysql_internal.h"

#include <stdint.h>
#include <string.h>

#define MY_W (MY_NEEDS_SCHEMA | MY_WRITES)
#define MY_R MY_NEEDS_SCHEMA

/* ---- users ---- */

#define USER_COLS "name, full_name, role, password_hash, created"

static const my_sql SQL_USER_PUT = {
    MY_USER_PUT, MY_W, "user_put",
    "INSERT INTO users(" USER_COLS ") VALUES(?, ?, ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE full_name = VALUES(full_name), "
    "role = VALUES(role), password_hash = VALUES(password_hash), "
    "created = VALUES(created)"};
static const my_sql SQL_USER_GET = {
    MY_USER_GET, MY_R, "user_get",
    "SELECT " USER_COLS " FROM users WHERE name = ?"};
static const my_sql SQL_USER_LIST = {
    MY_USER_LIST, MY_R, "user_list",
    "SELECT " USER_COLS " FROM users ORDER BY name"};
static const my_sql SQL_USER_COUNT = {MY_USER_COUNT, MY_R, "user_count",
                                      "SELECT COUNT(*) FROM users"};

static void fill_user(const my_col *c, void *row)
{
    lms_user *u = row;
    MY_COPY_FIELD(&c[0], u->name);
    MY_COPY_FIELD(&c[1], u->full_name);
    u->role = (int)my_col_i64(&c[2]);
    u->password_hash = my_col_text(&c[3]);
    u->created = my_col_i64(&c[4]);
}

static void fill_count(const my_col *c, void *row)
{
    *(uint64_t *)row = (uint64_t)my_col_i64(&c[0]);
}

/* storage ops user_put(): insert, or replace every field of that name's
 * row. A NULL password_hash is stored as "". */
int my_user_put(void *inst, const lms_user *u, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    MY_BIND_FIELD(&b, u->name);
    MY_BIND_FIELD(&b, u->full_name);
    my_bind_i64(&b, u->role);
    my_bind_text(&b, u->password_hash, SIZE_MAX);
    my_bind_i64(&b, u->created);
    return my_run(inst, &SQL_USER_PUT, &b, err);
}

/* storage ops user_get(): password_hash is valid until the next call. */
int my_user_get(void *inst, const char *name, lms_user *out, lms_err *err)
{
    my_inst *s = inst;
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, name, SIZE_MAX);
    int rc = my_get(s, &SQL_USER_GET, &b, fill_user, out, err);
    if (rc == LMS_OK)
        rc = my_keep_text(s, &out->password_hash, err);
    else if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "user_get: no user '%s'", name ? name : "");
    return rc;
}

/* storage ops user_list(): every user, ordered by name (bytewise). */
int my_user_list(void *inst, lms_each_fn each, void *arg, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    lms_user row;
    memset(&row, 0, sizeof row);
    return my_walk(inst, &SQL_USER_LIST, &b, fill_user, &row, each, arg, err);
}

/* storage ops user_count(). */
int my_user_count(void *inst, uint64_t *n, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    return my_get(inst, &SQL_USER_COUNT, &b, fill_count, n, err);
}

/* ---- courses ---- */

static const my_sql SQL_COURSE_PUT = {
    MY_COURSE_PUT, MY_W, "course_put",
    "INSERT INTO courses(code, title, created) VALUES(?, ?, ?) "
    "ON DUPLICATE KEY UPDATE title = VALUES(title), "
    "created = VALUES(created)"};
static const my_sql SQL_COURSE_GET = {
    MY_COURSE_GET, MY_R, "course_get",
    "SELECT code, title, created, 0 FROM courses WHERE code = ?"};
static const my_sql SQL_COURSE_LIST_ALL = {
    MY_COURSE_LIST_ALL, MY_R, "course_list",
    "SELECT code, title, created, 0 FROM courses ORDER BY code"};
static const my_sql SQL_COURSE_LIST_USER = {
    MY_COURSE_LIST_USER, MY_R, "course_list",
    "SELECT c.code, c.title, c.created, e.role FROM enrolments e "
    "JOIN courses c ON c.code = e.course WHERE e.`user` = ? "
    "ORDER BY e.course"};

static void fill_course(const my_col *c, void *row)
{
    lms_course *x = row;
    MY_COPY_FIELD(&c[0], x->code);
    MY_COPY_FIELD(&c[1], x->title);
    x->created = my_col_i64(&c[2]);
    x->my_role = (int)my_col_i64(&c[3]);
}

/* storage ops course_put(): insert, or replace the course with that code.
 * my_role is not stored. */
int my_course_put(void *inst, const lms_course *c, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    MY_BIND_FIELD(&b, c->code);
    MY_BIND_FIELD(&b, c->title);
    my_bind_i64(&b, c->created);
    return my_run(inst, &SQL_COURSE_PUT, &b, err);
}

/* storage ops course_get(): my_role is 0. */
int my_course_get(void *inst, const char *code, lms_course *out,
                  lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, code, SIZE_MAX);
    int rc = my_get(inst, &SQL_COURSE_GET, &b, fill_course, out, err);
    if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "course_get: no course '%s'", code ? code : "");
    return rc;
}

/* storage ops course_list(): every course with my_role 0 (user NULL), or
 * the courses user is enrolled in with my_role = the enrolment's role;
 * ordered by code either way. */
int my_course_list(void *inst, const char *user, lms_each_fn each, void *arg,
                   lms_err *err)
{
    const my_sql *def = user ? &SQL_COURSE_LIST_USER : &SQL_COURSE_LIST_ALL;
    my_binder b;
    my_binder_init(&b);
    if (user)
        my_bind_text(&b, user, SIZE_MAX);
    lms_course row;
    memset(&row, 0, sizeof row);
    return my_walk(inst, def, &b, fill_course, &row, each, arg, err);
}

/* ---- enrolments ---- */

static const my_sql SQL_ENROLMENT_PUT = {
    MY_ENROLMENT_PUT, MY_W, "enrolment_put",
    "INSERT INTO enrolments(course, `user`, role) VALUES(?, ?, ?) "
    "ON DUPLICATE KEY UPDATE role = VALUES(role)"};
static const my_sql SQL_ENROLMENT_GET = {
    MY_ENROLMENT_GET, MY_R, "enrolment_get",
    "SELECT role FROM enrolments WHERE course = ? AND `user` = ?"};
static const my_sql SQL_ENROLMENT_LIST_ANY = {
    MY_ENROLMENT_LIST_ANY, MY_R, "enrolment_list",
    "SELECT course, `user`, role FROM enrolments WHERE course = ? "
    "ORDER BY `user`"};
static const my_sql SQL_ENROLMENT_LIST_ROLE = {
    MY_ENROLMENT_LIST_ROLE, MY_R, "enrolment_list",
    "SELECT course, `user`, role FROM enrolments WHERE course = ? "
    "AND role = ? ORDER BY `user`"};

static void fill_enrolment(const my_col *c, void *row)
{
    lms_enrolment *e = row;
    MY_COPY_FIELD(&c[0], e->course);
    MY_COPY_FIELD(&c[1], e->user);
    e->role = (int)my_col_i64(&c[2]);
}

static void fill_int(const my_col *c, void *row)
{
    *(int *)row = (int)my_col_i64(&c[0]);
}

/* storage ops enrolment_put(): insert or replace the role of (course,
 * user); both must exist (FAILED_PRECONDITION otherwise). */
int my_enrolment_put(void *inst, const lms_enrolment *e, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    MY_BIND_FIELD(&b, e->course);
    MY_BIND_FIELD(&b, e->user);
    my_bind_i64(&b, e->role);
    return my_run(inst, &SQL_ENROLMENT_PUT, &b, err);
}

/* storage ops enrolment_get(): LMS_OK with LMS_ROLE_NONE when the user is
 * not enrolled. */
int my_enrolment_get(void *inst, const char *course, const char *user,
                     int *role, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, course, SIZE_MAX);
    my_bind_text(&b, user, SIZE_MAX);
    int rc = my_get(inst, &SQL_ENROLMENT_GET, &b, fill_int, role, err);
    if (rc == LMS_NOT_FOUND) {
        *role = LMS_ROLE_NONE;
        rc = LMS_OK;
    }
    return rc;
}

/* storage ops enrolment_list(): a course's enrolments with that role (0:
 * any), ordered by user. */
int my_enrolment_list(void *inst, const char *course, int role,
                      lms_each_fn each, void *arg, lms_err *err)
{
    const my_sql *def =
        role ? &SQL_ENROLMENT_LIST_ROLE : &SQL_ENROLMENT_LIST_ANY;
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, course, SIZE_MAX);
    if (role)
        my_bind_i64(&b, role);
    lms_enrolment row;
    memset(&row, 0, sizeof row);
    return my_walk(inst, def, &b, fill_enrolment, &row, each, arg, err);
}

/* ---- sessions ---- */

static const my_sql SQL_SESSION_PUT = {
    MY_SESSION_PUT, MY_W, "session_put",
    "INSERT INTO sessions(token_hash, `user`, created, expires) "
    "VALUES(?, ?, ?, ?) ON DUPLICATE KEY UPDATE `user` = VALUES(`user`), "
    "created = VALUES(created), expires = VALUES(expires)"};
static const my_sql SQL_SESSION_GET = {
    MY_SESSION_GET, MY_R, "session_get",
    "SELECT token_hash, `user`, created, expires FROM sessions "
    "WHERE token_hash = ?"};
static const my_sql SQL_SESSION_DELETE = {
    MY_SESSION_DELETE, MY_W, "session_delete",
    "DELETE FROM sessions WHERE token_hash = ?"};
static const my_sql SQL_SESSION_PRUNE = {
    MY_SESSION_PRUNE, MY_W, "session_prune",
    "DELETE FROM sessions WHERE expires < ?"};
static const my_sql SQL_SESSION_LIST_USER = {
    MY_SESSION_LIST_USER, MY_R, "session_list_user",
    "SELECT token_hash, `user`, created, expires FROM sessions "
    "WHERE `user` = ? ORDER BY created, token_hash"};

static void fill_session(const my_col *c, void *row)
{
    lms_session *x = row;
    my_col_sha(&c[0], x->token_hash);
    MY_COPY_FIELD(&c[1], x->user);
    x->created = my_col_i64(&c[2]);
    x->expires = my_col_i64(&c[3]);
}

/* storage ops session_put(): insert, or replace the session with that
 * token hash. */
int my_session_put(void *inst, const lms_session *x, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_blob(&b, x->token_hash, LMS_SHA256_LEN);
    MY_BIND_FIELD(&b, x->user);
    my_bind_i64(&b, x->created);
    my_bind_i64(&b, x->expires);
    return my_run(inst, &SQL_SESSION_PUT, &b, err);
}

/* storage ops session_get(): token_hash points at LMS_SHA256_LEN bytes. */
int my_session_get(void *inst, const uint8_t *token_hash, lms_session *out,
                   lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_blob(&b, token_hash, LMS_SHA256_LEN);
    int rc = my_get(inst, &SQL_SESSION_GET, &b, fill_session, out, err);
    if (rc == LMS_NOT_FOUND)
        lms_err_set(err, rc, "session_get: no session with that token");
    return rc;
}

/* storage ops session_delete(): LMS_OK whether or not the session existed,
 * so that replaying a logout can never fail. */
int my_session_delete(void *inst, const uint8_t *token_hash, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_blob(&b, token_hash, LMS_SHA256_LEN);
    return my_run(inst, &SQL_SESSION_DELETE, &b, err);
}

/* storage ops session_prune(): delete sessions with expires < before. */
int my_session_prune(void *inst, int64_t before, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_i64(&b, before);
    return my_run(inst, &SQL_SESSION_PRUNE, &b, err);
}

/* storage ops session_list_user(): oldest first, by created then token
 * hash (VARBINARY compares bytewise, like memcmp). */
int my_session_list_user(void *inst, const char *user, lms_each_fn each,
                         void *arg, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, user, SIZE_MAX);
    lms_session row;
    memset(&row, 0, sizeof row);
    return my_walk(inst, &SQL_SESSION_LIST_USER, &b, fill_session, &row, each,
                   arg, err);
}

/* ---- client dedup records ---- */

static const my_sql SQL_CLIENT_PUT = {
    MY_CLIENT_PUT, MY_W, "client_put",
    "INSERT INTO clients(client_id, seq, status, message, result_id, "
    "updated, answer) VALUES(?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
    "seq = VALUES(seq), status = VALUES(status), message = VALUES(message), "
    "result_id = VALUES(result_id), updated = VALUES(updated), "
    "answer = VALUES(answer)"};
static const my_sql SQL_CLIENT_GET = {
    MY_CLIENT_GET, MY_R, "client_get",
    "SELECT client_id, seq, status, message, result_id, updated, answer "
    "FROM clients WHERE client_id = ?"};
static const my_sql SQL_CLIENT_PRUNE = {
    MY_CLIENT_PRUNE, MY_W, "client_prune",
    "DELETE FROM clients WHERE updated < ?"};

/* A client record and where its answer is in the statement's row. */
typedef struct client_row {
    lms_client_record *r;
    const void *answer;
    size_t answer_len;
} client_row;

static void fill_client(const my_col *c, void *row)
{
    client_row *x = row;
    lms_client_record *r = x->r;
    r->client_id = (uint64_t)my_col_i64(&c[0]);
    r->seq = (uint64_t)my_col_i64(&c[1]);
    r->status = (int)my_col_i64(&c[2]);
    MY_COPY_FIELD(&c[3], r->message);
    r->result_id = (uint64_t)my_col_i64(&c[4]);
    r->updated = my_col_i64(&c[5]);
    x->answer = c[6].is_null ? NULL : c[6].buf;
    x->answer_len = c[6].is_null ? 0 : c[6].len;
}

/* storage ops client_get(): the last write recorded for client_id; the
 * answer (NULL/0 for none) is valid until the next call. */
int my_client_get(void *inst, uint64_t client_id, lms_client_record *out,
                  lms_err *err)
{
    my_inst *s = inst;
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, client_id);
    client_row row = {.r = out};
    int rc = my_get(s, &SQL_CLIENT_GET, &b, fill_client, &row, err);
    if (rc == LMS_OK) {
        out->answer = NULL;
        out->answer_len = 0;
        if (row.answer != NULL && row.answer_len > 0) {
            out->answer = my_keep(s, row.answer, row.answer_len, 0);
            if (out->answer == NULL)
                rc = lms_err_set(err, LMS_INTERNAL, "out of memory");
            else
                out->answer_len = row.answer_len;
        }
    } else if (rc == LMS_NOT_FOUND) {
        lms_err_set(err, rc, "client_get: no record of client %llu",
                    (unsigned long long)client_id);
    }
    return rc;
}

/* storage ops client_put(): insert, or replace the client's record. */
int my_client_put(void *inst, const lms_client_record *r, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, r->client_id);
    my_bind_u64(&b, r->seq);
    my_bind_i64(&b, r->status);
    MY_BIND_FIELD(&b, r->message);
    my_bind_u64(&b, r->result_id);
    my_bind_i64(&b, r->updated);
    my_bind_blob(&b, r->answer, r->answer ? r->answer_len : 0);
    return my_run(inst, &SQL_CLIENT_PUT, &b, err);
}

/* storage ops client_prune(): delete records with updated < before. */
int my_client_prune(void *inst, int64_t before, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_i64(&b, before);
    return my_run(inst, &SQL_CLIENT_PRUNE, &b, err);
}

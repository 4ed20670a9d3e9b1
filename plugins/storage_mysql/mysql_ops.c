/* SPDX-License-Identifier: MIT */
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
#include <stdlib.h>
#include <string.h>

/* The text bound as parameter i: what the server stores for it. */
static const char *bound_text(const my_binder *b, unsigned i, size_t *n)
{
    *n = b->len[i];
    return b->b[i].buffer;
}

/* The cache key of an enrolment, "course\0user" into buf (cap bytes):
 * its length, 0 when it cannot key the cache. */
static size_t enrolment_key(const my_inst *s, char *buf, size_t cap,
                            const char *course, size_t cn, const char *user,
                            size_t un)
{
    if (cn + 1 + un > cap || !my_cache_text_key(s, course, cn) ||
        !my_cache_text_key(s, user, un))
        return 0;
    memcpy(buf, course, cn);
    buf[cn] = '\0';
    memcpy(buf + cn + 1, user, un);
    return cn + 1 + un;
}

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
    size_t kn;
    const char *key = bound_text(&b, 0, &kn);
    my_cache_forget(inst, MY_C_USER, key, kn);
    return my_run(inst, &SQL_USER_PUT, &b, err);
}

/* storage ops user_get(): password_hash is valid until the next call.
 * Served from the writer's row cache when it knows the name. */
int my_user_get(void *inst, const char *name, lms_user *out, lms_err *err)
{
    my_inst *s = inst;
    size_t kn = name ? strlen(name) : 0;
    int cache = my_cache_text_key(s, name, kn);
    const void *hash = NULL;
    int rc = cache ? my_cache_get(s, MY_C_USER, name, kn, out, sizeof *out,
                                  &hash, NULL)
                   : MY_CACHE_MISS;
    if (rc == 1) {
        out->password_hash = hash ? hash : "";
        rc = LMS_OK;
    } else if (rc == 0) {
        rc = LMS_NOT_FOUND;
    } else {
        my_binder b;
        my_binder_init(&b);
        my_bind_text(&b, name, SIZE_MAX);
        rc = my_get(s, &SQL_USER_GET, &b, fill_user, out, err);
        if (cache && rc == LMS_OK && strcmp(out->name, name) == 0) {
            lms_user row = *out;
            row.password_hash = NULL;
            my_cache_set(s, MY_C_USER, name, kn, &row, sizeof row,
                         out->password_hash, strlen(out->password_hash) + 1);
        } else if (cache && rc == LMS_NOT_FOUND) {
            my_cache_set(s, MY_C_USER, name, kn, NULL, 0, NULL, 0);
        }
    }
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
    size_t kn;
    const char *key = bound_text(&b, 0, &kn);
    my_cache_forget(inst, MY_C_COURSE, key, kn);
    return my_run(inst, &SQL_COURSE_PUT, &b, err);
}

/* storage ops course_get(): my_role is 0. Served from the writer's row
 * cache when it knows the code. */
int my_course_get(void *inst, const char *code, lms_course *out,
                  lms_err *err)
{
    my_inst *s = inst;
    size_t kn = code ? strlen(code) : 0;
    int cache = my_cache_text_key(s, code, kn);
    int rc = cache ? my_cache_get(s, MY_C_COURSE, code, kn, out, sizeof *out,
                                  NULL, NULL)
                   : MY_CACHE_MISS;
    if (rc == 1) {
        rc = LMS_OK;
    } else if (rc == 0) {
        rc = LMS_NOT_FOUND;
    } else {
        my_binder b;
        my_binder_init(&b);
        my_bind_text(&b, code, SIZE_MAX);
        rc = my_get(s, &SQL_COURSE_GET, &b, fill_course, out, err);
        if (cache && rc == LMS_OK && strcmp(out->code, code) == 0)
            my_cache_set(s, MY_C_COURSE, code, kn, out, sizeof *out, NULL, 0);
        else if (cache && rc == LMS_NOT_FOUND)
            my_cache_set(s, MY_C_COURSE, code, kn, NULL, 0, NULL, 0);
    }
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
    size_t cn, un;
    const char *course = bound_text(&b, 0, &cn), *user = bound_text(&b, 1, &un);
    char key[2 * LMS_NAME_MAX + 8];
    size_t kn = enrolment_key(inst, key, sizeof key, course, cn, user, un);
    if (kn)
        my_cache_forget(inst, MY_C_ENROLMENT, key, kn);
    return my_run(inst, &SQL_ENROLMENT_PUT, &b, err);
}

/* storage ops enrolment_get(): LMS_OK with LMS_ROLE_NONE when the user is
 * not enrolled. Served from the writer's row cache when it knows the
 * pair (a key longer than a name is never cached: it matches no row the
 * put side would forget, and the server finds none anyway). */
int my_enrolment_get(void *inst, const char *course, const char *user,
                     int *role, lms_err *err)
{
    my_inst *s = inst;
    char key[2 * LMS_NAME_MAX + 8];
    size_t kn = enrolment_key(s, key, sizeof key, course,
                              course ? strlen(course) : 0, user,
                              user ? strlen(user) : 0);
    int rc = kn ? my_cache_get(s, MY_C_ENROLMENT, key, kn, role, sizeof *role,
                               NULL, NULL)
                : MY_CACHE_MISS;
    if (rc == 1)
        return LMS_OK;
    if (rc == 0) {
        *role = LMS_ROLE_NONE;
        return LMS_OK;
    }
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, course, SIZE_MAX);
    my_bind_text(&b, user, SIZE_MAX);
    rc = my_get(s, &SQL_ENROLMENT_GET, &b, fill_int, role, err);
    if (kn && rc == LMS_OK)
        my_cache_set(s, MY_C_ENROLMENT, key, kn, role, sizeof *role, NULL, 0);
    else if (kn && rc == LMS_NOT_FOUND)
        my_cache_set(s, MY_C_ENROLMENT, key, kn, NULL, 0, NULL, 0);
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
    client_row row = {.r = out};
    int rc = my_cache_get(s, MY_C_CLIENT, &client_id, sizeof client_id, out,
                          sizeof *out, &row.answer, &row.answer_len);
    if (rc == 1) {
        rc = LMS_OK;
    } else if (rc == 0) {
        rc = LMS_NOT_FOUND;
    } else if ((rc = my_client_flush(s, err)) == LMS_OK) {
        my_binder b;
        my_binder_init(&b);
        my_bind_u64(&b, client_id);
        rc = my_get(s, &SQL_CLIENT_GET, &b, fill_client, &row, err);
        if (rc == LMS_OK && out->client_id == client_id) {
            lms_client_record keep = *out;
            keep.answer = NULL;
            keep.answer_len = 0;
            my_cache_set(s, MY_C_CLIENT, &client_id, sizeof client_id, &keep,
                         sizeof keep, row.answer, row.answer_len);
        } else if (rc == LMS_NOT_FOUND) {
            my_cache_set(s, MY_C_CLIENT, &client_id, sizeof client_id, NULL,
                         0, NULL, 0);
        }
    }
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

/* See mysql_internal.h. */
void my_client_discard(my_inst *s)
{
    for (size_t i = 0; i < s->n_pend; i++)
        free(s->pend[i].answer);
    s->n_pend = 0;
    s->pend_bytes = 0;
    if (s->cap_pend > 256) {
        free(s->pend);
        s->pend = NULL;
        s->cap_pend = 0;
    }
}

/* Bind pending row p to b, as my_client_put binds a record. */
static void bind_client(my_binder *b, const my_pending *p)
{
    my_binder_init(b);
    my_bind_u64(b, p->r.client_id);
    my_bind_u64(b, p->r.seq);
    my_bind_i64(b, p->r.status);
    my_bind_text(b, p->r.message, sizeof p->r.message);
    my_bind_u64(b, p->r.result_id);
    my_bind_i64(b, p->r.updated);
    my_bind_blob(b, p->answer, p->r.answer_len);
}

/* Run SQL_CLIENT_PUT once over every pending row: parameter arrays, one
 * COM_STMT_BULK_EXECUTE round trip (the rows are applied in order, as n
 * single statements would be). */
static int client_bulk(my_inst *s, my_stmt *m, lms_err *err)
{
    size_t n = s->n_pend;
    uint64_t *id = calloc(n, sizeof *id), *seq = calloc(n, sizeof *seq),
             *res = calloc(n, sizeof *res);
    long long *status = calloc(n, sizeof *status),
              *upd = calloc(n, sizeof *upd);
    const char **msg = calloc(n, sizeof *msg);
    const void **ans = calloc(n, sizeof *ans);
    unsigned long *mlen = calloc(n, sizeof *mlen),
                  *alen = calloc(n, sizeof *alen);
    int rc = LMS_OK;
    if (!id || !seq || !res || !status || !upd || !msg || !ans || !mlen ||
        !alen)
        rc = lms_err_set(err, LMS_INTERNAL, "client_put: out of memory");
    for (size_t i = 0; rc == LMS_OK && i < n; i++) {
        const my_pending *p = &s->pend[i];
        id[i] = p->r.client_id;
        seq[i] = p->r.seq;
        status[i] = p->r.status;
        msg[i] = p->r.message;
        mlen[i] = (unsigned long)strlen(p->r.message);
        res[i] = p->r.result_id;
        upd[i] = p->r.updated;
        ans[i] = p->answer ? (const void *)p->answer : "";
        alen[i] = (unsigned long)p->r.answer_len;
    }
    MYSQL_BIND b[7];
    memset(b, 0, sizeof b);
    b[0] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = id,
                        .is_unsigned = 1};
    b[1] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = seq,
                        .is_unsigned = 1};
    b[2] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = status};
    b[3] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_STRING, .buffer = msg,
                        .length = mlen};
    b[4] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = res,
                        .is_unsigned = 1};
    b[5] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = upd};
    b[6] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_BLOB, .buffer = ans,
                        .length = alen};
    if (rc == LMS_OK)
        rc = my_run_bulk(s, m, b, n, "client_put", err);
    free(id), free(seq), free(res), free(status), free(upd);
    free(msg), free(ans), free(mlen), free(alen);
    return rc;
}

/* See mysql_internal.h. */
int my_client_flush(my_inst *s, lms_err *err)
{
    if (s->n_pend == 0)
        return LMS_OK;
    my_stmt *m = NULL;
    int rc = my_acquire(s, &SQL_CLIENT_PUT, &m, err);
    if (rc == LMS_OK && s->n_pend > 1 && my_bulk_supported(s)) {
        rc = client_bulk(s, m, err);
    } else {
        for (size_t i = 0; rc == LMS_OK && i < s->n_pend; i++) {
            my_binder b;
            bind_client(&b, &s->pend[i]);
            rc = my_run(s, &SQL_CLIENT_PUT, &b, err);
        }
    }
    my_client_discard(s);
    if (rc != LMS_OK) {
        s->pend_failed = 1;
        my_cache_clear(s);
    }
    return rc;
}

/* Queue r (cut as the server would store it) until the next flush; 0
 * when it cannot wait (out of memory), and nothing was queued. */
static int client_defer(my_inst *s, const lms_client_record *r,
                        const char *msg, size_t mn, size_t an)
{
    if (s->n_pend == s->cap_pend) {
        size_t cap = s->cap_pend ? 2 * s->cap_pend : 64;
        my_pending *p = realloc(s->pend, cap * sizeof *p);
        if (p == NULL)
            return 0;
        s->pend = p;
        s->cap_pend = cap;
    }
    my_pending *p = &s->pend[s->n_pend];
    memset(p, 0, sizeof *p);
    if (an && (p->answer = malloc(an)) == NULL)
        return 0;
    if (an)
        memcpy(p->answer, r->answer, an);
    p->r.client_id = r->client_id;
    p->r.seq = r->seq;
    p->r.status = r->status;
    memcpy(p->r.message, msg, mn);
    p->r.result_id = r->result_id;
    p->r.updated = r->updated;
    p->r.answer_len = an;
    s->n_pend++;
    s->pend_bytes += sizeof *p + an;
    return 1;
}

/* storage ops client_put(): insert, or replace the client's record. The
 * writer's row cache then holds the record as stored (the message as
 * bound, cut like the field), so the client's next get is free.
 *
 * Inside the writer's transaction a record that the server cannot refuse
 * (its message valid UTF-8 within the column, its answer at most 1 MiB:
 * nothing else of the row can be out of range, and the table has no
 * other key nor foreign key) is not sent at once: it waits, in order, for
 * the next flush (before COMMIT, a client_get that asks the server, a
 * client_prune, or past 256 rows or 4 MiB), which sends all of them in
 * one round trip. Only the connection or the server itself can fail it
 * then, and that fails the transaction, as it would have at once. */
int my_client_put(void *inst, const lms_client_record *r, lms_err *err)
{
    my_inst *s = inst;
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, r->client_id);
    my_bind_u64(&b, r->seq);
    my_bind_i64(&b, r->status);
    MY_BIND_FIELD(&b, r->message);
    my_bind_u64(&b, r->result_id);
    my_bind_i64(&b, r->updated);
    my_bind_blob(&b, r->answer, r->answer ? r->answer_len : 0);
    my_cache_forget(s, MY_C_CLIENT, &r->client_id, sizeof r->client_id);
    size_t mn0, an0 = r->answer ? r->answer_len : 0;
    const char *msg0 = bound_text(&b, 3, &mn0);
    int rc;
    if (my_cache_on(s) && s->in_tx && s->migrated && !s->pend_failed &&
        an0 <= (1u << 20) && my_cache_text_key(s, msg0, mn0) &&
        client_defer(s, r, msg0, mn0, an0)) {
        rc = LMS_OK;
        if (s->n_pend >= 256 || s->pend_bytes >= (4u << 20))
            rc = my_client_flush(s, err);
    } else {
        rc = my_client_flush(s, err);
        if (rc == LMS_OK)
            rc = my_run(s, &SQL_CLIENT_PUT, &b, err);
    }
    if (rc == LMS_OK && my_cache_on(s)) {
        lms_client_record keep;
        memset(&keep, 0, sizeof keep);
        keep.client_id = r->client_id;
        keep.seq = r->seq;
        keep.status = r->status;
        size_t mn;
        const char *msg = bound_text(&b, 3, &mn);
        memcpy(keep.message, msg, mn);
        keep.result_id = r->result_id;
        keep.updated = r->updated;
        size_t an = r->answer ? r->answer_len : 0;
        my_cache_set(s, MY_C_CLIENT, &r->client_id, sizeof r->client_id,
                     &keep, sizeof keep, an ? r->answer : NULL, an);
    }
    return rc;
}

/* Is a cached client record one that client_prune(before) deletes? */
static int client_pruned(const void *row, void *arg)
{
    return ((const lms_client_record *)row)->updated < *(int64_t *)arg;
}

/* storage ops client_prune(): delete records with updated < before. */
int my_client_prune(void *inst, int64_t before, lms_err *err)
{
    my_binder b;
    my_binder_init(&b);
    my_bind_i64(&b, before);
    int rc = my_client_flush(inst, err); /* the rows it may delete */
    my_cache_drop_if(inst, MY_C_CLIENT, client_pruned, &before);
    return rc != LMS_OK ? rc : my_run(inst, &SQL_CLIENT_PRUNE, &b, err);
}

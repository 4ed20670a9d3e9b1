/* SPDX-License-Identifier: MIT */
/*
 * sqlite_internal.h: what the files of the storage_sqlite plugin share.
 *
 * sqlite.c holds the plugin's entry point, open/close and transactions;
 * sqlite_schema.c the migrations; sqlite_stmt.c the statement cache, error
 * mapping and the bind/column helpers; sqlite_ops.c and sqlite_work.c the
 * entity operations of struct lms_storage_ops, sqlite_tutor.c those the
 * tutor added (course settings, counting queries), sqlite_record.c
 * lmsd's records (ABI 1.4); sqlite_snapshot.c the snapshot ops, over the
 * backend-neutral plugins/common/snap_stream.c; sqlite_checkpoint.c the
 * WAL checkpoints, on a thread of their own. Nothing here is
 * exported: the plugin is built with -fvisibility=hidden and only
 * lms_plugin_entry is marked LMS_PLUGIN_EXPORT.
 */
#ifndef LMS_STORAGE_SQLITE_INTERNAL_H
#define LMS_STORAGE_SQLITE_INTERNAL_H

#include <lms/storage.h>

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define SQ_PLUGIN_NAME "storage_sqlite"
#define SQ_PLUGIN_VERSION "0.1.0"

/*
 * One slot per SQL statement in the instance's cache. Statements with
 * optional filters take one slot per combination of filters, so that each
 * variant has a plain WHERE clause that SQLite can answer from an index
 * (a "(?1 IS NULL OR col = ?1)" clause would force a table scan).
 */
enum sq_stmt_id {
    SQ_BEGIN,
    SQ_BEGIN_READ,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_META_SET,
    SQ_META_GET,
    SQ_HOST_META_SET,
    SQ_HOST_META_GET,
    SQ_SCHEMA_GET,
    SQ_USER_PUT,
    SQ_USER_GET,
    SQ_USER_LIST,
    SQ_USER_COUNT,
    SQ_COURSE_PUT,
    SQ_COURSE_GET,
    SQ_COURSE_LIST_ALL,
    SQ_COURSE_LIST_USER,
    SQ_ENROLMENT_PUT,
    SQ_ENROLMENT_GET,
    SQ_ENROLMENT_LIST_ANY,
    SQ_ENROLMENT_LIST_ROLE,
    SQ_ASSIGNMENT_PUT,
    SQ_ASSIGNMENT_GET,
    SQ_ASSIGNMENT_LIST_ALL,
    SQ_ASSIGNMENT_LIST_COURSE,
    SQ_EXTENSION_PUT,
    SQ_EXTENSION_GET,
    SQ_SUBMISSION_PUT,
    SQ_SUBMISSION_GET,
    SQ_SUBMISSION_LIST,     /* + 1: by assignment, + 2: by student */
    SQ_SUBMISSION_LIST_END = SQ_SUBMISSION_LIST + 3,
    SQ_SUBMISSION_COUNT,    /* the same four variants */
    SQ_SUBMISSION_COUNT_END = SQ_SUBMISSION_COUNT + 3,
    SQ_GRADE_PUT,
    SQ_GRADE_GET,
    SQ_GRADE_LIST,          /* + 1: by course, + 2: by student */
    SQ_GRADE_LIST_END = SQ_GRADE_LIST + 3,
    SQ_QUERY_PUT,
    SQ_QUERY_GET,
    SQ_QUERY_LIST,          /* + 1: by course, + 2: by student */
    SQ_QUERY_LIST_END = SQ_QUERY_LIST + 3,
    SQ_REPLY_PUT,
    SQ_REPLY_LIST,
    SQ_MATERIAL_PUT,
    SQ_MATERIAL_GET,
    SQ_MATERIAL_LIST,
    SQ_SESSION_PUT,
    SQ_SESSION_GET,
    SQ_SESSION_DELETE,
    SQ_SESSION_PRUNE,
    SQ_SESSION_LIST_USER,
    SQ_CLIENT_PUT,
    SQ_CLIENT_GET,
    SQ_CLIENT_PRUNE,
    SQ_SETTINGS_PUT,
    SQ_SETTINGS_GET,
    SQ_QUERY_COUNT,
    SQ_RECORD_PUT,
    SQ_RECORD_GET,
    SQ_RECORD_DELETE,
    SQ_RECORD_LIST,         /* + 1: descending, + 2: with an upper bound */
    SQ_RECORD_LIST_END = SQ_RECORD_LIST + 3,
    SQ_STMT_COUNT
};

/* Flags of a statement definition. */
#define SQ_NEEDS_SCHEMA 1u /* refused until migrate() has run */
#define SQ_WRITES 2u       /* refused outside begin()/commit() */

/* A statement: its cache slot, the operation named in errors, its SQL. */
typedef struct sq_sql {
    enum sq_stmt_id id;
    unsigned flags;
    const char *what;
    const char *sql;
} sq_sql;

/* One open database: the state behind the plugin's `void *inst`. */
typedef struct sq_ckpt sq_ckpt;

typedef struct sq_inst {
    sqlite3 *db;
    sq_ckpt *ckpt; /* background checkpoints (sqlite_checkpoint.c) */
    const struct lms_host *host;
    struct lms_plugin_ctx *ctx;
    char *path;   /* the database file, absolute or as configured */
    int migrated; /* the schema is at SQ_SCHEMA_VERSION */
    int readonly; /* a reader or a snapshot view: writes are refused */
    int busy_timeout_ms;
    sqlite3_stmt *stmt[SQ_STMT_COUNT];
    /* Copies of the pointer fields a get call hands out, valid until the
     * next call (storage.h); reused and grown as needed. */
    unsigned char *keep;
    size_t keep_cap;
} sq_inst;

/* ---- sqlite_checkpoint.c ---- */

/* Move s->db's WAL checkpoints to a thread of its own (synchronous_pragma:
 * the instance's, for the checkpointing connection). */
int sq_ckpt_start(sq_inst *s, const char *synchronous_pragma, lms_err *err);
/* Stop that thread (SQLite's own checkpoints take over). NULL-safe. */
void sq_ckpt_stop(sq_inst *s);

/* ---- sqlite_schema.c ---- */

extern const int SQ_SCHEMA_VERSION;
int sq_schema_version(sq_inst *s, int *version, lms_err *err);
int sq_migrate(void *inst, int *version, lms_err *err);

/* ---- sqlite_stmt.c ---- */

int sq_status_of(int sqlite_rc);
int sq_fail(sq_inst *s, int sqlite_rc, lms_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int sq_acquire(sq_inst *s, const sq_sql *def, sqlite3_stmt **out,
               lms_err *err);
void sq_release(sqlite3_stmt *st);
void sq_finalize_all(sq_inst *s);
const void *sq_keep(sq_inst *s, const void *p, size_t n, int nul);
int sq_keep_text(sq_inst *s, const char **text, lms_err *err);

/* Positional binding: each call binds the next parameter (from 1) and the
 * first failure is remembered in rc, so a put binds everything and checks
 * once. Texts and blobs are bound SQLITE_STATIC: the caller's memory lives
 * until the statement has been stepped and released in the same call. */
typedef struct sq_binder {
    sqlite3_stmt *st;
    int i;
    int rc;
} sq_binder;

sq_binder sq_binder_of(sqlite3_stmt *st);
void sq_bind_i64(sq_binder *b, int64_t v);
void sq_bind_double(sq_binder *b, double v);
void sq_bind_text(sq_binder *b, const char *s, size_t cap);
void sq_bind_blob(sq_binder *b, const void *p, uint64_t n);
/* Bind a fixed-size char array field, never reading past its end. */
#define SQ_BIND_FIELD(b, field) sq_bind_text((b), (field), sizeof(field))

/* Step the statement a binder has bound, after checking the binds:
 * sq_run for writes (releases it), sq_step_row for gets (LMS_OK with a row,
 * LMS_NOT_FOUND; the caller releases), sq_walk for lists (releases). */
int sq_run(sq_inst *s, const sq_sql *def, const sq_binder *b, lms_err *err);
int sq_step_row(sq_inst *s, const sq_sql *def, const sq_binder *b,
                lms_err *err);
int sq_walk(sq_inst *s, const sq_sql *def, const sq_binder *b,
            void (*fill)(sqlite3_stmt *st, void *row), void *row,
            lms_each_fn each, void *arg, lms_err *err);

/* Column readers. */
int64_t sq_col_i64(sqlite3_stmt *st, int i);
const char *sq_col_text(sqlite3_stmt *st, int i);
void sq_col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap);
void sq_col_sha(sqlite3_stmt *st, int i, uint8_t dst[LMS_SHA256_LEN]);
const void *sq_col_blob(sqlite3_stmt *st, int i);

#define SQ_COPY_FIELD(st, i, field) sq_col_copy((st), (i), (field), sizeof(field))

/* ---- sqlite.c (lifecycle and transactions) ---- */

int sq_open(const struct lms_host *host, struct lms_plugin_ctx *ctx,
            void **inst, lms_err *err);
void sq_close(void *inst);
int sq_begin(void *inst, lms_err *err);
int sq_commit(void *inst, uint64_t applied_index, lms_err *err);
int sq_rollback(void *inst, lms_err *err);
int sq_applied_index(void *inst, uint64_t *index, lms_err *err);
int sq_meta_get(void *inst, const char *key, char *out, size_t cap,
                lms_err *err);
int sq_meta_put(void *inst, const char *key, const char *value, lms_err *err);
int sq_reader_open(void *inst, void **reader, lms_err *err);
void sq_reader_close(void *reader);
/* A read-only connection of its own to s's file, as an sq_inst (what: the
 * operation named in errors). */
int sq_open_readonly(sq_inst *s, sq_inst **out, const char *what,
                     lms_err *err);
void sq_log(sq_inst *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- sqlite_ops.c: users, courses, enrolments, sessions, clients ---- */

int sq_user_put(void *inst, const lms_user *u, lms_err *err);
int sq_user_get(void *inst, const char *name, lms_user *out, lms_err *err);
int sq_user_list(void *inst, lms_each_fn each, void *arg, lms_err *err);
int sq_user_count(void *inst, uint64_t *n, lms_err *err);
int sq_course_put(void *inst, const lms_course *c, lms_err *err);
int sq_course_get(void *inst, const char *code, lms_course *out,
                  lms_err *err);
int sq_course_list(void *inst, const char *user, lms_each_fn each, void *arg,
                   lms_err *err);
int sq_enrolment_put(void *inst, const lms_enrolment *e, lms_err *err);
int sq_enrolment_get(void *inst, const char *course, const char *user,
                     int *role, lms_err *err);
int sq_enrolment_list(void *inst, const char *course, int role,
                      lms_each_fn each, void *arg, lms_err *err);
int sq_session_put(void *inst, const lms_session *x, lms_err *err);
int sq_session_get(void *inst, const uint8_t *token_hash, lms_session *out,
                   lms_err *err);
int sq_session_delete(void *inst, const uint8_t *token_hash, lms_err *err);
int sq_session_prune(void *inst, int64_t before, lms_err *err);
int sq_session_list_user(void *inst, const char *user, lms_each_fn each,
                         void *arg, lms_err *err);
int sq_client_get(void *inst, uint64_t client_id, lms_client_record *out,
                  lms_err *err);
int sq_client_put(void *inst, const lms_client_record *r, lms_err *err);
int sq_client_prune(void *inst, int64_t before, lms_err *err);

/* ---- sqlite_work.c: assignments, submissions, grades, queries,
 * materials ---- */

int sq_assignment_put(void *inst, const lms_assignment *a, lms_err *err);
int sq_assignment_get(void *inst, uint64_t id, lms_assignment *out,
                      lms_err *err);
int sq_assignment_list(void *inst, const char *course, lms_each_fn each,
                       void *arg, lms_err *err);
int sq_extension_put(void *inst, const lms_extension *x, lms_err *err);
int sq_extension_get(void *inst, uint64_t assignment_id, const char *student,
                     lms_extension *out, lms_err *err);
int sq_submission_put(void *inst, const lms_submission *x, lms_err *err);
int sq_submission_get(void *inst, uint64_t id, int with_data,
                      lms_submission *out, lms_err *err);
int sq_submission_list(void *inst, uint64_t assignment_id,
                       const char *student, lms_each_fn each, void *arg,
                       lms_err *err);
int sq_submission_count(void *inst, uint64_t assignment_id,
                        const char *student, uint32_t *n, lms_err *err);
int sq_grade_put(void *inst, const lms_grade *g, lms_err *err);
int sq_grade_get(void *inst, uint64_t submission_id, lms_grade *out,
                 lms_err *err);
int sq_grade_list(void *inst, const char *course, const char *student,
                  lms_each_fn each, void *arg, lms_err *err);
int sq_query_put(void *inst, const lms_query *q, lms_err *err);
int sq_query_get(void *inst, uint64_t id, lms_query *out, lms_err *err);
int sq_query_list(void *inst, const char *course, const char *student,
                  lms_each_fn each, void *arg, lms_err *err);
int sq_reply_put(void *inst, const lms_reply *r, lms_err *err);
int sq_reply_list(void *inst, uint64_t query_id, lms_each_fn each, void *arg,
                  lms_err *err);
int sq_material_put(void *inst, const lms_material *m, lms_err *err);
int sq_material_get(void *inst, uint64_t id, int with_data,
                    lms_material *out, lms_err *err);
int sq_material_list(void *inst, const char *course, lms_each_fn each,
                     void *arg, lms_err *err);

/* ---- sqlite_tutor.c: course settings, counting a student's queries ---- */

int sq_course_settings_put(void *inst, const lms_course_settings *x,
                           lms_err *err);
int sq_course_settings_get(void *inst, const char *course,
                           lms_course_settings *out, lms_err *err);
int sq_query_count(void *inst, const char *course, const char *student,
                   int kind, int64_t since, int64_t until, uint32_t *n,
                   lms_err *err);

/* ---- sqlite_record.c: lmsd's records (ABI 1.4) ---- */

int sq_record_put(void *inst, const char *key, const void *value, size_t len,
                  lms_err *err);
int sq_record_get(void *inst, const char *key, lms_record *out, lms_err *err);
int sq_record_delete(void *inst, const char *key, lms_err *err);
int sq_record_list(void *inst, const char *prefix, const char *after,
                   int reverse, int (*each)(void *arg, const lms_record *r),
                   void *arg, lms_err *err);

/* ---- sqlite_snapshot.c: logical snapshots (snap_stream.c frames them) */

int sq_snapshot_write(void *inst, const lms_snapshot_header *h,
                      lms_snapshot_write_fn write, void *arg,
                      uint8_t digest[LMS_SHA256_LEN], lms_err *err);
int sq_snapshot_pin(void *inst, void **view, lms_err *err);
int sq_snapshot_write_view(void *view, const lms_snapshot_header *h,
                           lms_snapshot_write_fn write, void *arg,
                           uint8_t digest[LMS_SHA256_LEN], lms_err *err);
void sq_snapshot_unpin(void *view);
int sq_snapshot_read(void *inst, lms_snapshot_read_fn read, void *arg,
                     lms_snapshot_header *out, lms_err *err);

#endif

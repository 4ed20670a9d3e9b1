/* SPDX-License-Identifier: MIT */
/*
 * mysql_internal.h: what the files of the storage_mysql plugin share.
 *
 * mysql.c holds the plugin's entry point, the options, connecting and
 * reconnecting, open/close, transactions and readers; mysql_schema.c the
 * versioned migrations; mysql_stmt.c the per-connection cache of
 * server-side prepared statements, the MYSQL_BIND helpers for parameters
 * and result rows, and the mapping of MariaDB errors to lms_status;
 * mysql_ops.c, mysql_work.c and mysql_tutor.c the entity operations of
 * struct lms_storage_ops (the same rows in the same order as
 * storage_sqlite), mysql_record.c lmsd's records (ABI 1.4);
 * mysql_snapshot.c the snapshot ops over the
 * backend-neutral plugins/common/snap_stream.c. Nothing here is exported:
 * the plugin is built with -fvisibility=hidden and only lms_plugin_entry
 * is marked LMS_PLUGIN_EXPORT.
 */
#ifndef LMS_STORAGE_MYSQL_INTERNAL_H
#define LMS_STORAGE_MYSQL_INTERNAL_H

#include <lms/storage.h>

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#define MY_PLUGIN_NAME "storage_mysql"
#define MY_PLUGIN_VERSION "0.1.0"

/* lmsd's largest frame is 64 MiB; a value that large must fit in one
 * packet with its statement around it. */
#define MY_PACKET_MIN ((64ul << 20) + (1ul << 20))

/* One slot per SQL statement in a connection's cache; lists with optional
 * filters take one slot per combination, as in storage_sqlite. */
enum my_stmt_id {
    MY_META_SET,
    MY_META_GET,
    MY_HOST_META_SET,
    MY_HOST_META_GET,
    MY_USER_PUT,
    MY_USER_GET,
    MY_USER_LIST,
    MY_USER_COUNT,
    MY_COURSE_PUT,
    MY_COURSE_GET,
    MY_COURSE_LIST_ALL,
    MY_COURSE_LIST_USER,
    MY_ENROLMENT_PUT,
    MY_ENROLMENT_GET,
    MY_ENROLMENT_LIST_ANY,
    MY_ENROLMENT_LIST_ROLE,
    MY_ASSIGNMENT_PUT,
    MY_ASSIGNMENT_GET,
    MY_ASSIGNMENT_LIST_ALL,
    MY_ASSIGNMENT_LIST_COURSE,
    MY_EXTENSION_PUT,
    MY_EXTENSION_GET,
    MY_SUBMISSION_PUT,
    MY_SUBMISSION_GET,
    MY_SUBMISSION_LIST, /* + 1: by assignment, + 2: by student */
    MY_SUBMISSION_LIST_END = MY_SUBMISSION_LIST + 3,
    MY_SUBMISSION_COUNT,
    MY_SUBMISSION_COUNT_END = MY_SUBMISSION_COUNT + 3,
    MY_GRADE_PUT,
    MY_GRADE_GET,
    MY_GRADE_LIST, /* + 1: by course, + 2: by student */
    MY_GRADE_LIST_END = MY_GRADE_LIST + 3,
    MY_QUERY_PUT,
    MY_QUERY_GET,
    MY_QUERY_LIST,
    MY_QUERY_LIST_END = MY_QUERY_LIST + 3,
    MY_REPLY_PUT,
    MY_REPLY_LIST,
    MY_MATERIAL_PUT,
    MY_MATERIAL_GET,
    MY_MATERIAL_LIST,
    MY_SESSION_PUT,
    MY_SESSION_GET,
    MY_SESSION_DELETE,
    MY_SESSION_PRUNE,
    MY_SESSION_LIST_USER,
    MY_CLIENT_PUT,
    MY_CLIENT_GET,
    MY_CLIENT_PRUNE,
    MY_SETTINGS_PUT,
    MY_SETTINGS_GET,
    MY_QUERY_COUNT,
    MY_RECORD_PUT,
    MY_RECORD_GET,
    MY_RECORD_DELETE,
    MY_RECORD_LIST, /* + 1: descending, + 2: with an upper bound */
    MY_RECORD_LIST_END = MY_RECORD_LIST + 3,
    MY_STMT_COUNT
};

#define MY_NEEDS_SCHEMA 1u /* refused until migrate() has run */
#define MY_WRITES 2u       /* refused outside begin()/commit() */

/* A statement: its cache slot, flags, the operation named in errors, its
 * SQL (parameters are '?', bound in order). */
typedef struct my_sql {
    int id;
    unsigned flags;
    const char *what;
    const char *sql;
} my_sql;

/* One column of a result row, bound by its type in the metadata: ints as
 * LONGLONG, floats as DOUBLE, everything else as bytes into a buffer that
 * grows to the longest value met (plus a NUL, so texts are C strings). */
typedef struct my_col {
    int kind; /* MY_COL_INT, MY_COL_DOUBLE, MY_COL_BYTES */
    long long i;
    double d;
    char *buf;
    unsigned long cap; /* bytes of buf, the NUL's included */
    unsigned long len;
    my_bool is_null;
    my_bool error;
} my_col;

enum { MY_COL_INT, MY_COL_DOUBLE, MY_COL_BYTES };

/* A prepared statement with its result binding. */
typedef struct my_stmt {
    MYSQL_STMT *st;
    unsigned ncols;
    MYSQL_BIND *rbind;
    my_col *cols;
    int active; /* a list over it is walking its rows */
} my_stmt;

/* The options (mysql.c), owned by the instance and shared, read-only, by
 * its readers and views. The password is wiped when freed. */
typedef struct my_config {
    char *host, *socket, *database, *user, *password;
    unsigned port;
    char *tls_ca, *tls_cert, *tls_key;
    int tls, tls_verify;
    unsigned connect_timeout, read_timeout, write_timeout;
    int create_database;
    unsigned row_cache; /* entries of the writer's row cache, 0: none */
    char where[160]; /* "database lms at host:port" for messages */
} my_config;

/* The writer's row cache (mysql_cache.c): a chained hash table of copied
 * rows keyed by (table, key bytes). */
typedef struct my_centry my_centry;
typedef struct my_cache {
    my_centry **bucket; /* nbuckets (a power of 2), NULL until first use */
    size_t nbuckets;
    size_t count, bytes;
    size_t max_entries; /* 0: no cache (readers, views, row_cache: 0) */
    unsigned long long hits, misses, drops;
} my_cache;

/* The cached tables. */
enum { MY_C_USER, MY_C_COURSE, MY_C_ENROLMENT, MY_C_ASSIGNMENT,
       MY_C_SUBMISSION, MY_C_GRADE, MY_C_CLIENT, MY_C_RECORD };

#define MY_CACHE_MISS (-1)

/* A client_put the writer has not sent yet (mysql_ops.c): the record as
 * the server will store it (message cut like the field), its answer a
 * malloc'd copy. */
typedef struct my_pending {
    lms_client_record r;
    unsigned char *answer;
} my_pending;

/* A grade_put the writer has not sent yet (mysql_work.c): the grade as
 * the server will store it (grader cut like the field), its feedback a
 * malloc'd copy. */
typedef struct my_pending_grade {
    lms_grade g;
    char *feedback;
} my_pending_grade;

/* One connection: the instance, a reader or a snapshot view. */
typedef struct my_inst {
    MYSQL *db;     /* NULL after a lost connection until reconnected */
    const struct lms_host *host;
    struct lms_plugin_ctx *ctx;
    my_config *cfg;
    int owns_cfg;
    int migrated;  /* the schema is at MY_SCHEMA_VERSION */
    int readonly;  /* a reader or a view: writes are refused */
    int in_tx;     /* a transaction is open (as far as we know) */
    int lost;      /* the connection failed; reconnect before reuse */
    /* The connection this one replaces after it was lost with a write
     * transaction perhaps still running on the server (a client-side
     * timeout, a cut network): its id and the server's boot time then.
     * my_connect fences it off (KILL, then waits until it is gone) before
     * anything reads or writes, so that its COMMIT cannot land after the
     * applied index was read back or the batch applied again. */
    unsigned long conn_id, fence_id;
    unsigned long long boot, fence_boot;
    int walking;   /* lists walking their (buffered) rows right now */
    my_stmt stmt[MY_STMT_COUNT];
    /* Copies of the pointer fields a get hands out, valid until the next
     * call (storage.h). */
    unsigned char *keep;
    size_t keep_cap;
    /* What this connection cost, logged by the writer at close: statements
     * executed (prepared and plain, COMMIT and ROLLBACK included, each one
     * round trip to the server) and transactions committed. */
    unsigned long long n_stmts, n_commits;
    my_cache cache; /* the writer's rows (mysql_cache.c) */
    /* client_put rows of the open transaction not sent yet, in order; sent
     * as one statement before COMMIT or before anything reads the
     * clients table (my_client_flush). pend_failed: sending them failed,
     * so the transaction cannot commit. */
    my_pending *pend;
    size_t n_pend, cap_pend, pend_bytes;
    /* grade_put rows likewise (my_grade_flush) */
    my_pending_grade *pgrade;
    size_t n_pgrade, cap_pgrade, pgrade_bytes;
    int pend_failed;
} my_inst;

/* ---- mysql.c ---- */

void my_log(my_inst *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Connect s->db (closing a dead one first) and set the session up. */
int my_connect(my_inst *s, lms_err *err);
/* Drop the connection and its statements (the server rolls back). */
void my_disconnect(my_inst *s);
/* Run one statement without parameters or result. */
int my_query(my_inst *s, const char *sql, const char *what, lms_err *err);
/* A connection of its own to s's database for a reader or a view. */
int my_open_peer(my_inst *s, my_inst **out, const char *what, lms_err *err);
void my_free_inst(my_inst *s);
int my_commit(void *inst, uint64_t applied_index, lms_err *err);

/* ---- mysql_cache.c ---- */

/* Does s keep a row cache (the writer, with row_cache above 0)? */
int my_cache_on(const my_inst *s);
/* May text (n bytes) key the cache: the cache is on and text is valid
 * UTF-8 without NUL, so the server's equality on it is byte equality. */
int my_cache_text_key(const my_inst *s, const char *text, size_t n);
/* Are the n bytes at text valid UTF-8 (no NUL, no overlong form, no
 * surrogate, nothing past U+10FFFF)? */
int my_utf8_ok(const char *text, size_t n);
/* Look (table, key) up: MY_CACHE_MISS when not cached; 0 when cached as
 * "no such row"; 1 when cached, with the row copied into row (rowlen
 * bytes) and *extra / *xlen the row's pointer field as kept (NULL / 0 for
 * none; valid until the cache next changes). */
int my_cache_get(my_inst *s, int table, const void *key, size_t klen,
                 void *row, size_t rowlen, const void **extra, size_t *xlen);
/* The cached row of (table, key) to update in place, NULL when there is
 * none (not cached, cached as absent, or of another size). */
void *my_cache_row(my_inst *s, int table, const void *key, size_t klen,
                   size_t rowlen);
/* Remember (table, key) as row (rowlen bytes, copied, with xlen extra
 * bytes, copied), or as "no such row" when row is NULL. Only for a row
 * exactly as the server holds it now. */
void my_cache_set(my_inst *s, int table, const void *key, size_t klen,
                  const void *row, size_t rowlen, const void *extra,
                  size_t xlen);
/* Forget (table, key). */
void my_cache_forget(my_inst *s, int table, const void *key, size_t klen);
/* Forget every cached row of table for which stale(row, arg) is true. */
void my_cache_drop_if(my_inst *s, int table,
                      int (*stale)(const void *row, void *arg), void *arg);
/* Forget everything (rollback, a failure, a reconnect, a new state). */
void my_cache_clear(my_inst *s);
/* Forget everything and free the table. */
void my_cache_free(my_inst *s);

/* ---- mysql_schema.c ---- */

extern const int MY_SCHEMA_VERSION;
int my_schema_version(my_inst *s, int *version, lms_err *err);
int my_migrate(void *inst, int *version, lms_err *err);

/* ---- mysql_stmt.c ---- */

/* Is this MariaDB error a lost connection? */
int my_is_lost(unsigned errnum);
int my_status_of(unsigned errnum, const char *msg);
/* Fill err with "<context>: <MariaDB message> (<errno>)" and the mapped
 * status, and return the status. A lost connection marks s lost. */
int my_fail(my_inst *s, unsigned errnum, const char *msg, lms_err *err,
            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int my_fail_db(my_inst *s, lms_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The statement for def, prepared on first use (checks the flags). */
int my_acquire(my_inst *s, const my_sql *def, my_stmt **out, lms_err *err);
/* Prepare an ad-hoc statement with its result binding (snapshots). */
int my_stmt_prepare(my_inst *s, my_stmt *m, const char *sql, const char *what,
                    lms_err *err);
void my_stmt_close(my_stmt *m);
void my_close_all(my_inst *s);
const void *my_keep(my_inst *s, const void *p, size_t n, int nul);
int my_keep_text(my_inst *s, const char **text, lms_err *err);

#define MY_MAX_PARAMS 16

/* Parameters, bound in order; texts and blobs point at the caller's
 * memory, which lives until the statement has run. */
typedef struct my_binder {
    MYSQL_BIND b[MY_MAX_PARAMS];
    long long v[MY_MAX_PARAMS];
    double d[MY_MAX_PARAMS];
    unsigned long len[MY_MAX_PARAMS];
    unsigned n;
    int overflow;
} my_binder;

void my_binder_init(my_binder *b);
void my_bind_i64(my_binder *b, int64_t v);
void my_bind_u64(my_binder *b, uint64_t v);
void my_bind_double(my_binder *b, double v);
void my_bind_text(my_binder *b, const char *s, size_t cap);
void my_bind_blob(my_binder *b, const void *p, size_t n);
void my_bind_field(my_binder *b, const char *s, size_t cap);
#define MY_BIND_FIELD(b, field) my_bind_field((b), (field), sizeof(field))

/* Run def with b's parameters: my_run for writes; my_get for a single row
 * (LMS_OK: fill(cols, row) has run; LMS_NOT_FOUND: no row); my_walk for
 * lists (fill then each() per row). A lost connection outside a
 * transaction is reconnected and the statement retried once. */
typedef void (*my_fill_fn)(const my_col *c, void *row);
int my_run(my_inst *s, const my_sql *def, my_binder *b, lms_err *err);
int my_get(my_inst *s, const my_sql *def, my_binder *b, my_fill_fn fill,
           void *row, lms_err *err);
int my_walk(my_inst *s, const my_sql *def, my_binder *b, my_fill_fn fill,
            void *row, lms_each_fn each, void *arg, lms_err *err);
/* Execute m (parameters bound by the caller), unbuffered; then fetch rows
 * one by one with my_fetch: 1 a row, 0 the end, < 0 an error in err. */
int my_execute(my_inst *s, my_stmt *m, const char *what, lms_err *err);
int my_fetch(my_inst *s, my_stmt *m, const char *what, lms_err *err);

/* Does the server take parameter arrays (COM_STMT_BULK_EXECUTE: MariaDB
 * 10.2 and later; not MySQL)? */
int my_bulk_supported(my_inst *s);
/* Execute m once over n rows of column-wise parameter arrays b (one round
 * trip; the rows applied in order, as n executions would be), then set m
 * back to single rows. */
int my_run_bulk(my_inst *s, my_stmt *m, MYSQL_BIND *b, size_t n,
                const char *what, lms_err *err);

/* Column readers. */
int64_t my_col_i64(const my_col *c);
double my_col_double(const my_col *c);
const char *my_col_text(const my_col *c);
void my_col_copy(const my_col *c, char *dst, size_t cap);
void my_col_sha(const my_col *c, uint8_t dst[LMS_SHA256_LEN]);
#define MY_COPY_FIELD(c, field) my_col_copy((c), (field), sizeof(field))

/* ---- lifecycle and transactions (mysql.c) ---- */

int my_open(const struct lms_host *host, struct lms_plugin_ctx *ctx,
            void **inst, lms_err *err);
void my_close(void *inst);
int my_begin(void *inst, lms_err *err);
int my_rollback(void *inst, lms_err *err);
int my_applied_index(void *inst, uint64_t *index, lms_err *err);
int my_reader_open(void *inst, void **reader, lms_err *err);
int my_meta_get(void *inst, const char *key, char *out, size_t cap,
                lms_err *err);
int my_meta_put(void *inst, const char *key, const char *value, lms_err *err);
void my_reader_close(void *reader);

/* ---- mysql_ops.c ---- */

int my_user_put(void *inst, const lms_user *u, lms_err *err);
int my_user_get(void *inst, const char *name, lms_user *out, lms_err *err);
int my_user_list(void *inst, lms_each_fn each, void *arg, lms_err *err);
int my_user_count(void *inst, uint64_t *n, lms_err *err);
int my_course_put(void *inst, const lms_course *c, lms_err *err);
int my_course_get(void *inst, const char *code, lms_course *out,
                  lms_err *err);
int my_course_list(void *inst, const char *user, lms_each_fn each, void *arg,
                   lms_err *err);
int my_enrolment_put(void *inst, const lms_enrolment *e, lms_err *err);
int my_enrolment_get(void *inst, const char *course, const char *user,
                     int *role, lms_err *err);
int my_enrolment_list(void *inst, const char *course, int role,
                      lms_each_fn each, void *arg, lms_err *err);
int my_session_put(void *inst, const lms_session *x, lms_err *err);
int my_session_get(void *inst, const uint8_t *token_hash, lms_session *out,
                   lms_err *err);
int my_session_delete(void *inst, const uint8_t *token_hash, lms_err *err);
int my_session_prune(void *inst, int64_t before, lms_err *err);
int my_session_list_user(void *inst, const char *user, lms_each_fn each,
                         void *arg, lms_err *err);
int my_client_get(void *inst, uint64_t client_id, lms_client_record *out,
                  lms_err *err);
int my_client_put(void *inst, const lms_client_record *r, lms_err *err);
int my_client_prune(void *inst, int64_t before, lms_err *err);
/* Send the pending client_put rows (one bulk statement where the server
 * takes one); LMS_OK at once when there are none. On failure they are
 * dropped and the transaction can no longer commit. */
int my_client_flush(my_inst *s, lms_err *err);
/* Drop the pending client_put rows (the transaction is gone). */
void my_client_discard(my_inst *s);

/* ---- mysql_work.c ---- */

int my_assignment_put(void *inst, const lms_assignment *a, lms_err *err);
int my_assignment_get(void *inst, uint64_t id, lms_assignment *out,
                      lms_err *err);
int my_assignment_list(void *inst, const char *course, lms_each_fn each,
                       void *arg, lms_err *err);
int my_extension_put(void *inst, const lms_extension *x, lms_err *err);
int my_extension_get(void *inst, uint64_t assignment_id, const char *student,
                     lms_extension *out, lms_err *err);
int my_submission_put(void *inst, const lms_submission *x, lms_err *err);
int my_submission_get(void *inst, uint64_t id, int with_data,
                      lms_submission *out, lms_err *err);
int my_submission_list(void *inst, uint64_t assignment_id,
                       const char *student, lms_each_fn each, void *arg,
                       lms_err *err);
int my_submission_count(void *inst, uint64_t assignment_id,
                        const char *student, uint32_t *n, lms_err *err);
int my_grade_put(void *inst, const lms_grade *g, lms_err *err);
int my_grade_get(void *inst, uint64_t submission_id, lms_grade *out,
                 lms_err *err);
int my_grade_list(void *inst, const char *course, const char *student,
                  lms_each_fn each, void *arg, lms_err *err);
int my_query_put(void *inst, const lms_query *q, lms_err *err);
int my_query_get(void *inst, uint64_t id, lms_query *out, lms_err *err);
int my_query_list(void *inst, const char *course, const char *student,
                  lms_each_fn each, void *arg, lms_err *err);
int my_reply_put(void *inst, const lms_reply *r, lms_err *err);
int my_reply_list(void *inst, uint64_t query_id, lms_each_fn each, void *arg,
                  lms_err *err);
int my_material_put(void *inst, const lms_material *m, lms_err *err);
int my_material_get(void *inst, uint64_t id, int with_data,
                    lms_material *out, lms_err *err);
int my_material_list(void *inst, const char *course, lms_each_fn each,
                     void *arg, lms_err *err);

/* Send the pending grade_put rows, as my_client_flush does clients. */
int my_grade_flush(my_inst *s, lms_err *err);
/* Drop the pending grade_put rows (the transaction is gone). */
void my_grade_discard(my_inst *s);

/* ---- mysql_tutor.c ---- */

int my_course_settings_put(void *inst, const lms_course_settings *x,
                           lms_err *err);
int my_course_settings_get(void *inst, const char *course,
                           lms_course_settings *out, lms_err *err);
int my_query_count(void *inst, const char *course, const char *student,
                   int kind, int64_t since, int64_t until, uint32_t *n,
                   lms_err *err);

/* ---- mysql_record.c: lmsd's records (ABI 1.4) ---- */

int my_record_put(void *inst, const char *key, const void *value, size_t len,
                  lms_err *err);
int my_record_get(void *inst, const char *key, lms_record *out, lms_err *err);
int my_record_delete(void *inst, const char *key, lms_err *err);
int my_record_list(void *inst, const char *prefix, const char *after,
                   int reverse, int (*each)(void *arg, const lms_record *r),
                   void *arg, lms_err *err);

/* ---- mysql_snapshot.c ---- */

int my_snapshot_write(void *inst, const lms_snapshot_header *h,
                      lms_snapshot_write_fn write, void *arg,
                      uint8_t digest[LMS_SHA256_LEN], lms_err *err);
int my_snapshot_pin(void *inst, void **view, lms_err *err);
int my_snapshot_write_view(void *view, const lms_snapshot_header *h,
                           lms_snapshot_write_fn write, void *arg,
                           uint8_t digest[LMS_SHA256_LEN], lms_err *err);
void my_snapshot_unpin(void *view);
int my_snapshot_read(void *inst, lms_snapshot_read_fn read, void *arg,
                     lms_snapshot_header *out, lms_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * mysql_stmt.c: the machinery every storage_mysql operation runs on.
 *
 * Statements are server-side prepared statements (mysql_stmt_*), prepared
 * lazily, once per connection, and kept in my_inst.stmt[] by their slot
 * with a result binding made from their metadata (my_col). An operation
 * binds its parameters in a my_binder on its stack, runs the statement
 * through my_run / my_get / my_walk, and gets its row(s) through a fill
 * function. The results of gets and lists are buffered client-side
 * (mysql_stmt_store_result), so that a list's callback may call other ops
 * on the same instance, as with storage_sqlite; a list is bounded by what
 * lmsd asks for. Snapshots stream whole tables unbuffered (my_execute,
 * my_fetch).
 *
 * A lost connection (the server restarted, wait_timeout, a killed
 * connection, a network cut) marks the instance lost. Outside a
 * transaction the statement is retried once on a new connection (which
 * prepares its statements anew); inside one the transaction is gone, so
 * the op fails with LMS_UNAVAILABLE and lmsd rolls back and retries the
 * batch. Errors carry the operation's name and MariaDB's message and
 * number, with a status mapped by my_status_of().
 */
#include "mysql_internal.h"

#include <errmsg.h>
#include <mysqld_error.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* See mysql_internal.h. */
int my_is_lost(unsigned errnum)
{
    switch (errnum) {
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_ERR_NET_READ:
    case CR_ERR_NET_WRITE:
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
    case ER_NET_READ_ERROR:
    case ER_NET_READ_INTERRUPTED:
    case ER_NET_ERROR_ON_WRITE:
    case 1161: /* ER_NET_WRITE_INTERRUPTED */
    case 4031: /* MySQL 8: ER_CLIENT_INTERACTION_TIMEOUT */
        return 1;
    default:
        return 0;
    }
}

/*
 * The lms_status for a MariaDB error. A key clash is ALREADY_EXISTS; a
 * missing referenced row FAILED_PRECONDITION; a bad value (NULL, CHECK,
 * too long, out of range, not UTF-8) INVALID_ARGUMENT; a lost connection,
 * a lock wait timeout or a deadlock UNAVAILABLE; a full disk or quota
 * RESOURCE_EXHAUSTED, and nothing else is (storage.h: lmsd retries those
 * until space is freed); anything unexpected INTERNAL.
 */
int my_status_of(unsigned errnum, const char *msg)
{
    if (my_is_lost(errnum))
        return LMS_UNAVAILABLE;
    switch (errnum) {
    case ER_DUP_ENTRY:
    case ER_DUP_KEY:
    case ER_DUP_UNIQUE:
        return LMS_ALREADY_EXISTS;
    case ER_NO_REFERENCED_ROW_2:
    case ER_ROW_IS_REFERENCED_2:
    case 1216: /* ER_NO_REFERENCED_ROW */
    case 1217: /* ER_ROW_IS_REFERENCED */
        return LMS_FAILED_PRECONDITION;
    case ER_BAD_NULL_ERROR:
    case ER_CONSTRAINT_FAILED:
    case ER_DATA_TOO_LONG:
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
    case ER_WARN_DATA_OUT_OF_RANGE:
    case 3819: /* MySQL: ER_CHECK_CONSTRAINT_VIOLATED */
    case ER_NET_PACKET_TOO_LARGE: /* the same value is too big anywhere */
    case CR_NET_PACKET_TOO_LARGE:
        return LMS_INVALID_ARGUMENT;
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
    case ER_QUERY_INTERRUPTED:
        return LMS_UNAVAILABLE;
    case ER_RECORD_FILE_FULL:
    case ER_DISK_FULL:
        return LMS_RESOURCE_EXHAUSTED;
    case ER_ERROR_ON_WRITE:
    case 1030: /* ER_GET_ERRNO: "Got error N from storage engine" */
        if (msg && (strstr(msg, "errno: 28") || strstr(msg, "error 28 ") ||
                    strstr(msg, "No space left") ||
                    strstr(msg, "errno: 122"))) /* EDQUOT */
            return LMS_RESOURCE_EXHAUSTED;
        return LMS_INTERNAL;
    case ER_BAD_DB_ERROR:
    case ER_DBACCESS_DENIED_ERROR:
    case ER_ACCESS_DENIED_ERROR:
    case 1142: /* ER_TABLEACCESS_DENIED_ERROR */
    case 1227: /* ER_SPECIFIC_ACCESS_DENIED_ERROR */
    case ER_READ_ONLY_TRANSACTION:
    case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:
    case 1290: /* ER_OPTION_PREVENTS_STATEMENT (read_only) */
        return LMS_FAILED_PRECONDITION;
    default: /* out of memory included: not a full disk (storage.h) */
        return LMS_INTERNAL;
    }
}

/* See mysql_internal.h. */
int my_fail(my_inst *s, unsigned errnum, const char *msg, lms_err *err,
            const char *fmt, ...)
{
    char context[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);
    /* A failed statement may have ended the transaction (a deadlock rolls
     * it back) or the connection: what the cache knows may be gone. */
    my_cache_clear(s);
    if (msg == NULL || msg[0] == '\0')
        msg = "unknown error";
    int code = my_status_of(errnum, msg);
    if (code == LMS_OK)
        code = LMS_INTERNAL;
    if (my_is_lost(errnum)) {
        s->lost = 1;
        if (s->in_tx && !s->readonly)
            return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                               ": connection to the database lost during "
                               "a transaction (%s: %s, error %u); the batch "
                               "will be retried", context, msg, errnum);
        if (s->in_tx)
            return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                               ": connection to the database lost during "
                               "a read transaction (%s: %s, error %u); "
                               "begin again", context, msg, errnum);
        return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                           ": connection to %s lost (%s: %s, error %u)",
                           s->cfg->where, context, msg, errnum);
    }
    const char *hint = "", *kind = "";
    if (code == LMS_ALREADY_EXISTS)
        kind = "UNIQUE constraint failed: "; /* storage_sqlite's words */
    if (errnum == ER_NO_REFERENCED_ROW_2 || errnum == 1216)
        hint = " (a row it refers to does not exist)";
    else if (code == LMS_RESOURCE_EXHAUSTED)
        hint = " (the database server's disk or quota is full: free space "
               "there; lmsd retries)";
    else if (errnum == ER_NET_PACKET_TOO_LARGE)
        hint = " (a value is above the server's max_allowed_packet)";
    return lms_err_set(err, code, "%s: %s%s (error %u)%s", context, kind, msg,
                       errnum, hint);
}

/* my_fail with the connection's own last error. */
int my_fail_db(my_inst *s, lms_err *err, const char *fmt, ...)
{
    char context[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);
    unsigned e = s->db ? mysql_errno(s->db) : CR_SERVER_GONE_ERROR;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", s->db ? mysql_error(s->db)
                                          : "no connection");
    return my_fail(s, e, msg, err, "%s", context);
}

/* The failure of statement m, after which m may be closed. */
static int my_fail_stmt(my_inst *s, MYSQL_STMT *st, lms_err *err,
                        const char *what)
{
    unsigned e = mysql_stmt_errno(st);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", mysql_stmt_error(st));
    if (e == 0) { /* the error was the connection's */
        e = s->db ? mysql_errno(s->db) : CR_SERVER_GONE_ERROR;
        snprintf(msg, sizeof msg, "%s", s->db ? mysql_error(s->db) : "");
    }
    return my_fail(s, e, msg, err, "%s", what);
}

/* ---- statements and their result binding ---- */

#define MY_COL_START 256

void my_stmt_close(my_stmt *m)
{
    if (m->st)
        mysql_stmt_close(m->st);
    for (unsigned i = 0; i < m->ncols; i++)
        free(m->cols[i].buf);
    free(m->cols);
    free(m->rbind);
    memset(m, 0, sizeof *m);
}

void my_close_all(my_inst *s)
{
    for (int i = 0; i < MY_STMT_COUNT; i++)
        my_stmt_close(&s->stmt[i]);
}

/* Bind m's result columns by their types in the metadata. */
static int my_bind_result(my_inst *s, my_stmt *m, const char *what,
                          lms_err *err)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(m->st);
    if (meta == NULL)
        return LMS_OK; /* no result set (a write) */
    unsigned n = mysql_num_fields(meta);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    m->rbind = calloc(n ? n : 1, sizeof *m->rbind);
    m->cols = calloc(n ? n : 1, sizeof *m->cols);
    if (m->rbind == NULL || m->cols == NULL) {
        mysql_free_result(meta);
        return lms_err_set(err, LMS_INTERNAL, "%s: out of memory", what);
    }
    m->ncols = n;
    for (unsigned i = 0; i < n; i++) {
        my_col *c = &m->cols[i];
        MYSQL_BIND *b = &m->rbind[i];
        b->is_null = &c->is_null;
        b->error = &c->error;
        b->length = &c->len;
        switch (f[i].type) {
        case MYSQL_TYPE_TINY: case MYSQL_TYPE_SHORT: case MYSQL_TYPE_LONG:
        case MYSQL_TYPE_INT24: case MYSQL_TYPE_LONGLONG: case MYSQL_TYPE_YEAR:
            c->kind = MY_COL_INT;
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &c->i;
            b->is_unsigned = (f[i].flags & UNSIGNED_FLAG) != 0;
            break;
        case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE:
            c->kind = MY_COL_DOUBLE;
            b->buffer_type = MYSQL_TYPE_DOUBLE;
            b->buffer = &c->d;
            break;
        default:
            c->kind = MY_COL_BYTES;
            c->buf = malloc(MY_COL_START);
            if (c->buf == NULL) {
                mysql_free_result(meta);
                return lms_err_set(err, LMS_INTERNAL, "%s: out of memory",
                                   what);
            }
            c->cap = MY_COL_START;
            b->buffer_type = MYSQL_TYPE_BLOB;
            b->buffer = c->buf;
            b->buffer_length = c->cap - 1;
        }
    }
    mysql_free_result(meta);
    if (mysql_stmt_bind_result(m->st, m->rbind))
        return my_fail_stmt(s, m->st, err, what);
    return LMS_OK;
}

/* See mysql_internal.h. */
int my_stmt_prepare(my_inst *s, my_stmt *m, const char *sql, const char *what,
                    lms_err *err)
{
    memset(m, 0, sizeof *m);
    if (s->db == NULL)
        return my_fail(s, CR_SERVER_GONE_ERROR, "no connection", err, "%s",
                       what);
    m->st = mysql_stmt_init(s->db);
    if (m->st == NULL)
        return lms_err_set(err, LMS_INTERNAL, "%s: out of memory", what);
    int rc = LMS_OK;
    if (mysql_stmt_prepare(m->st, sql, (unsigned long)strlen(sql)))
        rc = my_fail_stmt(s, m->st, err, what);
    if (rc == LMS_OK)
        rc = my_bind_result(s, m, what, err);
    if (rc != LMS_OK)
        my_stmt_close(m);
    return rc;
}

/* Reconnect a lost connection, if that is safe now (no transaction, no
 * list walking rows of the old one). */
static int my_recover(my_inst *s, lms_err *err)
{
    if (s->in_tx)
        return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                           ": connection to the database lost during a "
                           "transaction; roll back and begin again");
    if (s->walking)
        return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                           ": connection to %s lost while a list was "
                           "walking its rows", s->cfg->where);
    return my_connect(s, err);
}

/*
 * Hand out the prepared statement for def, preparing it on first use.
 * Refuses statements that need the schema before migrate(), writes
 * through a reader or outside a transaction (storage.h: the applied index
 * would not cover them), and a list op called again from its own
 * callback.
 */
int my_acquire(my_inst *s, const my_sql *def, my_stmt **out, lms_err *err)
{
    if ((def->flags & MY_NEEDS_SCHEMA) && !s->migrated)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: the schema of %s is not migrated yet "
                           "(call migrate first)", def->what, s->cfg->where);
    if ((def->flags & MY_WRITES) && s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: a reader cannot write", def->what);
    if ((def->flags & MY_WRITES) && !s->in_tx)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: no transaction is open (writes go "
                           "between begin and commit)", def->what);
    my_stmt *m = &s->stmt[def->id];
    if (m->active)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: called again from inside its own list "
                           "callback", def->what);
    if (s->lost || s->db == NULL) {
        int rc = my_recover(s, err);
        if (rc != LMS_OK)
            return rc;
    }
    if (m->st == NULL) {
        int rc = my_stmt_prepare(s, m, def->sql, def->what, err);
        if (rc != LMS_OK)
            return rc;
    }
    *out = m;
    return LMS_OK;
}

/* Give back the memory of a column that grew for one large value, so a
 * 64 MiB text read once does not stay allocated for the connection. */
static void my_shrink(my_stmt *m)
{
    int rebind = 0;
    for (unsigned i = 0; i < m->ncols; i++) {
        my_col *c = &m->cols[i];
        if (c->kind != MY_COL_BYTES || c->cap <= (1ul << 20))
            continue;
        char *p = realloc(c->buf, MY_COL_START);
        if (p == NULL)
            continue;
        c->buf = p;
        c->cap = MY_COL_START;
        m->rbind[i].buffer = p;
        m->rbind[i].buffer_length = c->cap - 1;
        rebind = 1;
    }
    if (rebind)
        mysql_stmt_bind_result(m->st, m->rbind);
}

/* Execute def with b's parameters (buffering the result if it has one);
 * a lost connection outside a transaction is reconnected and the
 * statement retried once. On success *out is the statement. */
static int my_exec_bound(my_inst *s, const my_sql *def, my_binder *b,
                         my_stmt **out, lms_err *err)
{
    if (b->overflow)
        return lms_err_set(err, LMS_INTERNAL, "%s: more than %d parameters",
                           def->what, MY_MAX_PARAMS);
    for (int attempt = 0;; attempt++) {
        my_stmt *m = NULL;
        int rc = my_acquire(s, def, &m, err);
        if (rc == LMS_OK)
            my_shrink(m); /* the last row it handed out is done with */
        if (rc == LMS_OK && mysql_stmt_param_count(m->st) != b->n)
            return lms_err_set(err, LMS_INTERNAL, "%s: %u parameters bound "
                               "for %lu", def->what, b->n,
                               mysql_stmt_param_count(m->st));
        if (rc == LMS_OK && b->n && mysql_stmt_bind_param(m->st, b->b))
            rc = my_fail_stmt(s, m->st, err, def->what);
        if (rc == LMS_OK)
            s->n_stmts++;
        if (rc == LMS_OK && mysql_stmt_execute(m->st))
            rc = my_fail_stmt(s, m->st, err, def->what);
        if (rc == LMS_OK && m->ncols && mysql_stmt_store_result(m->st)) {
            rc = my_fail_stmt(s, m->st, err, def->what);
            mysql_stmt_free_result(m->st);
        }
        if (rc == LMS_OK) {
            *out = m;
            return LMS_OK;
        }
        if (!s->lost || s->in_tx || s->walking || attempt > 0)
            return rc;
        my_log(s, LMS_LOG_WARN, "%s; reconnecting", err ? err->msg : "");
    }
}

/* See mysql_internal.h. A failed write drops the row cache. */
int my_run(my_inst *s, const my_sql *def, my_binder *b, lms_err *err)
{
    my_stmt *m = NULL;
    int rc = my_exec_bound(s, def, b, &m, err);
    if (rc == LMS_OK && m->ncols)
        mysql_stmt_free_result(m->st);
    if (rc != LMS_OK && (def->flags & MY_WRITES))
        my_cache_clear(s); /* when in doubt, forget */
    return rc;
}

/* See mysql_internal.h. */
int my_fetch(my_inst *s, my_stmt *m, const char *what, lms_err *err)
{
    int r = mysql_stmt_fetch(m->st);
    if (r == MYSQL_NO_DATA)
        return 0;
    if (r == 1) {
        my_fail_stmt(s, m->st, err, what);
        return -1;
    }
    if (r == MYSQL_DATA_TRUNCATED) {
        int rebind = 0;
        for (unsigned i = 0; i < m->ncols; i++) {
            my_col *c = &m->cols[i];
            if (!c->error)
                continue;
            if (c->kind != MY_COL_BYTES) {
                lms_err_set(err, LMS_INTERNAL, "%s: column %u does not fit "
                            "its type", what, i);
                return -1;
            }
            if (c->len >= c->cap) {
                char *p = realloc(c->buf, c->len + 1);
                if (p == NULL) {
                    lms_err_set(err, LMS_INTERNAL, "%s: out of memory for a "
                                "value of %lu bytes", what, c->len);
                    return -1;
                }
                c->buf = p;
                c->cap = c->len + 1;
            }
            m->rbind[i].buffer = c->buf;
            m->rbind[i].buffer_length = c->cap - 1;
            if (mysql_stmt_fetch_column(m->st, &m->rbind[i], i, 0)) {
                my_fail_stmt(s, m->st, err, what);
                return -1;
            }
            rebind = 1;
        }
        if (rebind && mysql_stmt_bind_result(m->st, m->rbind)) {
            my_fail_stmt(s, m->st, err, what);
            return -1;
        }
    }
    for (unsigned i = 0; i < m->ncols; i++) {
        my_col *c = &m->cols[i];
        if (c->kind != MY_COL_BYTES)
            continue;
        if (c->is_null || c->len >= c->cap)
            c->len = 0;
        c->buf[c->len] = '\0';
    }
    return 1;
}

/* See mysql_internal.h. */
int my_get(my_inst *s, const my_sql *def, my_binder *b, my_fill_fn fill,
           void *row, lms_err *err)
{
    my_stmt *m = NULL;
    int rc = my_exec_bound(s, def, b, &m, err);
    if (rc != LMS_OK)
        return rc;
    lms_err ferr = {0};
    int r = my_fetch(s, m, def->what, &ferr);
    if (r > 0)
        fill(m->cols, row);
    mysql_stmt_free_result(m->st);
    if (r < 0)
        return lms_err_set(err, ferr.code, "%s", ferr.msg);
    return r > 0 ? LMS_OK : LMS_NOT_FOUND;
}

/*
 * See mysql_internal.h. Rows are buffered, so each() may call other ops
 * on the instance; a nonzero return stops the walk (still LMS_OK).
 */
int my_walk(my_inst *s, const my_sql *def, my_binder *b, my_fill_fn fill,
            void *row, lms_each_fn each, void *arg, lms_err *err)
{
    my_stmt *m = NULL;
    int rc = my_exec_bound(s, def, b, &m, err);
    if (rc != LMS_OK)
        return rc;
    m->active = 1;
    s->walking++;
    lms_err ferr = {0};
    int r;
    while ((r = my_fetch(s, m, def->what, &ferr)) > 0) {
        fill(m->cols, row);
        if (each(arg, row) != 0)
            break;
    }
    s->walking--;
    m->active = 0;
    if (m->st) {
        mysql_stmt_free_result(m->st);
        my_shrink(m);
    }
    if (r < 0)
        return lms_err_set(err, ferr.code, "%s", ferr.msg);
    return LMS_OK;
}

/* See mysql_internal.h. */
int my_bulk_supported(my_inst *s)
{
    unsigned long caps = 0, ext = 0;
    if (s->db == NULL ||
        mariadb_get_infov(s->db, MARIADB_CONNECTION_SERVER_CAPABILITIES,
                          &caps) ||
        mariadb_get_infov(s->db,
                          MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES,
                          &ext))
        return 0;
    return !(caps & CLIENT_MYSQL) &&
           (ext & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
}

/* See mysql_internal.h. */
int my_run_bulk(my_inst *s, my_stmt *m, MYSQL_BIND *b, size_t n,
                const char *what, lms_err *err)
{
    unsigned int size = (unsigned int)n, none = 0;
    int rc = LMS_OK;
    if (mysql_stmt_param_count(m->st) == 0 ||
        mysql_stmt_attr_set(m->st, STMT_ATTR_ARRAY_SIZE, &size) ||
        mysql_stmt_bind_param(m->st, b))
        rc = my_fail_stmt(s, m->st, err, what);
    if (rc == LMS_OK) {
        s->n_stmts++;
        if (mysql_stmt_execute(m->st))
            rc = my_fail_stmt(s, m->st, err, what);
    }
    if (m->st) /* single rows again */
        mysql_stmt_attr_set(m->st, STMT_ATTR_ARRAY_SIZE, &none);
    return rc;
}

/* See mysql_internal.h: the caller has bound m's parameters. */
int my_execute(my_inst *s, my_stmt *m, const char *what, lms_err *err)
{
    s->n_stmts++;
    if (mysql_stmt_execute(m->st))
        return my_fail_stmt(s, m->st, err, what);
    return LMS_OK;
}

/* ---- the keep buffer ---- */

#define MY_KEEP_SHRINK_ABOVE (1u << 20)

/*
 * Copy n bytes at p (plus a NUL if nul) into the instance's keep buffer
 * and return the copy, valid until the next call that keeps something:
 * how a get's pointer fields outlive its statement. NULL when out of
 * memory.
 */
const void *my_keep(my_inst *s, const void *p, size_t n, int nul)
{
    size_t need = n + (nul ? 1 : 0);
    size_t want = need < 256 ? 256 : need;
    int shrink = s->keep_cap > MY_KEEP_SHRINK_ABOVE &&
                 want <= MY_KEEP_SHRINK_ABOVE;
    if (need > s->keep_cap || shrink) {
        unsigned char *resized = realloc(s->keep, want);
        if (resized == NULL && need > s->keep_cap)
            return NULL;
        if (resized != NULL) {
            s->keep = resized;
            s->keep_cap = want;
        }
    }
    if (n > 0)
        memcpy(s->keep, p, n);
    if (nul)
        s->keep[n] = '\0';
    return s->keep;
}

/* Replace *text by a kept copy; LMS_INTERNAL when out of memory (not a
 * full disk: storage.h). */
int my_keep_text(my_inst *s, const char **text, lms_err *err)
{
    const char *copy = my_keep(s, *text, strlen(*text), 1);
    if (copy == NULL)
        return lms_err_set(err, LMS_INTERNAL, "out of memory");
    *text = copy;
    return LMS_OK;
}

/* ---- parameters ---- */

void my_binder_init(my_binder *b)
{
    memset(b, 0, sizeof *b);
}

static MYSQL_BIND *my_next(my_binder *b)
{
    if (b->n >= MY_MAX_PARAMS) {
        b->overflow = 1;
        return NULL;
    }
    return &b->b[b->n++];
}

void my_bind_i64(my_binder *b, int64_t v)
{
    MYSQL_BIND *p = my_next(b);
    if (p == NULL)
        return;
    unsigned i = b->n - 1;
    b->v[i] = v;
    p->buffer_type = MYSQL_TYPE_LONGLONG;
    p->buffer = &b->v[i];
}

void my_bind_u64(my_binder *b, uint64_t v)
{
    MYSQL_BIND *p = my_next(b);
    if (p == NULL)
        return;
    unsigned i = b->n - 1;
    memcpy(&b->v[i], &v, sizeof v);
    p->buffer_type = MYSQL_TYPE_LONGLONG;
    p->buffer = &b->v[i];
    p->is_unsigned = 1;
}

void my_bind_double(my_binder *b, double v)
{
    MYSQL_BIND *p = my_next(b);
    if (p == NULL)
        return;
    unsigned i = b->n - 1;
    b->d[i] = v;
    p->buffer_type = MYSQL_TYPE_DOUBLE;
    p->buffer = &b->d[i];
}

/* Bind s (NULL as "") up to its NUL or cap bytes, whichever comes first,
 * so a fixed-size field without a terminator is never overrun. */
void my_bind_text(my_binder *b, const char *s, size_t cap)
{
    MYSQL_BIND *p = my_next(b);
    if (p == NULL)
        return;
    unsigned i = b->n - 1;
    const char *t = s ? s : "";
    b->len[i] = (unsigned long)strnlen(t, cap);
    p->buffer_type = MYSQL_TYPE_STRING;
    p->buffer = (void *)t;
    p->buffer_length = b->len[i];
    p->length = &b->len[i];
}

/* Bind a fixed-size char array field of cap bytes: at most cap - 1 bytes
 * (the longest value the field can hold terminated), never reading past
 * its end; a field filled without a NUL is cut there, before any partial
 * UTF-8 character, rather than stored one byte too long. */
void my_bind_field(my_binder *b, const char *s, size_t cap)
{
    size_t n = s ? strnlen(s, cap - 1) : 0;
    if (s && n == cap - 1 && s[n] != '\0') {
        size_t end = n;
        while (end > 0 && ((unsigned char)s[end - 1] & 0xC0) == 0x80)
            end--; /* continuation bytes of the last character */
        if (end > 0 && (unsigned char)s[end - 1] >= 0xC0) {
            unsigned char lead = (unsigned char)s[end - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (n - (end - 1) < need)
                n = end - 1; /* that character does not fit whole */
        }
    }
    my_bind_text(b, s, n);
}

/* Bind n bytes at p as a blob; an empty one (not NULL) when n is 0. */
void my_bind_blob(my_binder *b, const void *data, size_t n)
{
    MYSQL_BIND *p = my_next(b);
    if (p == NULL)
        return;
    unsigned i = b->n - 1;
    b->len[i] = (unsigned long)n;
    p->buffer_type = MYSQL_TYPE_BLOB;
    p->buffer = (void *)(n && data ? data : "");
    p->buffer_length = b->len[i];
    p->length = &b->len[i];
}

/* ---- columns ---- */

int64_t my_col_i64(const my_col *c)
{
    if (c->is_null)
        return 0;
    if (c->kind == MY_COL_INT)
        return c->i;
    if (c->kind == MY_COL_DOUBLE)
        return (int64_t)c->d;
    return strtoll(c->buf, NULL, 10);
}

double my_col_double(const my_col *c)
{
    if (c->is_null)
        return 0;
    if (c->kind == MY_COL_DOUBLE)
        return c->d;
    if (c->kind == MY_COL_INT)
        return (double)c->i;
    return strtod(c->buf, NULL);
}

/* A text column, "" for NULL (storage.h: text pointers are never NULL);
 * valid until the statement's next row. */
const char *my_col_text(const my_col *c)
{
    if (c->kind != MY_COL_BYTES || c->is_null || c->buf == NULL)
        return "";
    return c->buf;
}

/* Copy a text column into a fixed field, truncating to cap - 1 bytes. */
void my_col_copy(const my_col *c, char *dst, size_t cap)
{
    size_t n = 0;
    if (c->kind == MY_COL_BYTES && !c->is_null && c->buf)
        n = c->len;
    if (n >= cap)
        n = cap - 1;
    if (n > 0)
        memcpy(dst, c->buf, n);
    dst[n] = '\0';
}

/* Copy a SHA-256 column; a shorter value (the schema forbids one) is
 * zero-padded rather than overrun. */
void my_col_sha(const my_col *c, uint8_t dst[LMS_SHA256_LEN])
{
    size_t n = 0;
    if (c->kind == MY_COL_BYTES && !c->is_null && c->buf)
        n = c->len;
    if (n > LMS_SHA256_LEN)
        n = LMS_SHA256_LEN;
    memset(dst, 0, LMS_SHA256_LEN);
    if (n > 0)
        memcpy(dst, c->buf, n);
}

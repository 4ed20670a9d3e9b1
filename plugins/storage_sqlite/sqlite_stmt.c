/* SPDX-License-Identifier: MIT */
/*
 * sqlite_stmt.c: the machinery every storage_sqlite operation runs on.
 *
 * Statements are prepared lazily, once per instance, with
 * SQLITE_PREPARE_PERSISTENT, and kept in sq_inst.stmt[] by their slot; an
 * operation acquires its statement, binds, steps, and releases it (reset and
 * clear bindings) before it returns, so no statement stays active between
 * calls and no read transaction is left open behind the caller's back.
 *
 * Errors carry the operation's name and SQLite's message
 * ("submission_put: UNIQUE constraint failed: submissions.id") and a status
 * mapped from the extended result code by sq_status_of().
 */
#include "sqlite_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The lms_status for an SQLite result code (extended codes are enabled on
 * every connection). Uniqueness conflicts are ALREADY_EXISTS; a missing
 * referenced row is FAILED_PRECONDITION; other constraint failures (CHECK,
 * NOT NULL) mean the caller passed a bad value; anything unexpected is
 * INTERNAL.
 */
int sq_status_of(int sqlite_rc)
{
    switch (sqlite_rc) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return LMS_OK;
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_ROWID:
        return LMS_ALREADY_EXISTS;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return LMS_FAILED_PRECONDITION;
    }
    switch (sqlite_rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return LMS_INVALID_ARGUMENT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return LMS_UNAVAILABLE;
    case SQLITE_FULL: /* the disk (or quota): the host holds and retries */
        return LMS_RESOURCE_EXHAUSTED;
    case SQLITE_NOMEM: /* not space: retrying on a full-disk schedule would
                          hide it (storage.h, "A full store") */
        return LMS_INTERNAL;
    case SQLITE_TOOBIG: /* the same value is too big on every node */
        return LMS_INVALID_ARGUMENT;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return LMS_DATA_LOSS;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return LMS_FAILED_PRECONDITION;
    default:
        return LMS_INTERNAL;
    }
}

/*
 * Fill err with "<context>: <sqlite3_errmsg>" and the mapped status, and
 * return the status. Call it before the statement is reset, while the
 * connection's message still describes this failure.
 */
int sq_fail(sq_inst *s, int sqlite_rc, lms_err *err, const char *fmt, ...)
{
    char context[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);

    int code = sq_status_of(sqlite_rc);
    if (code == LMS_OK)
        code = LMS_INTERNAL; /* a "failure" that SQLite calls success */
    const char *msg = s && s->db ? sqlite3_errmsg(s->db)
                                 : sqlite3_errstr(sqlite_rc);
    const char *hint = "";
    if (sqlite_rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        hint = " (a row it refers to does not exist)";
    return lms_err_set(err, code, "%s: %s%s", context, msg, hint);
}

/*
 * Hand out the prepared statement for def, preparing it on first use.
 * Refuses statements that need the schema before migrate(), writes outside
 * a transaction (storage.h: writes happen only between begin and commit,
 * else the applied index would not cover them), and a statement that is
 * still walking rows, i.e. a list op called from its own callback.
 */
int sq_acquire(sq_inst *s, const sq_sql *def, sqlite3_stmt **out,
               lms_err *err)
{
    if ((def->flags & SQ_NEEDS_SCHEMA) && !s->migrated)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: the schema of %s is not migrated yet "
                           "(call migrate first)", def->what, s->path);
    if ((def->flags & SQ_WRITES) && s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: a reader cannot write", def->what);
    if ((def->flags & SQ_WRITES) && sqlite3_get_autocommit(s->db))
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: no transaction is open (writes go "
                           "between begin and commit)", def->what);
    sqlite3_stmt **slot = &s->stmt[def->id];
    if (*slot == NULL) {
        int rc = sqlite3_prepare_v3(s->db, def->sql, -1,
                                    SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK)
            return sq_fail(s, rc, err, "%s: preparing its statement",
                           def->what);
    } else if (sqlite3_stmt_busy(*slot)) {
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: called again from inside its own list "
                           "callback", def->what);
    }
    *out = *slot;
    return LMS_OK;
}

/* Make a statement reusable and drop its pointers to the caller's memory. */
void sq_release(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void sq_finalize_all(sq_inst *s)
{
    for (int i = 0; i < SQ_STMT_COUNT; i++) {
        sqlite3_finalize(s->stmt[i]);
        s->stmt[i] = NULL;
    }
}

/* A bind failure (too big, out of memory) as an lms_status; LMS_OK if every
 * bind succeeded. */
static int sq_bound(sq_inst *s, const sq_sql *def, const sq_binder *b,
                    lms_err *err)
{
    if (b->rc == SQLITE_OK)
        return LMS_OK;
    return sq_fail(s, b->rc, err, "%s: binding its parameters", def->what);
}

/* Run the bound statement of b, which returns no rows (a write), and
 * release it. */
int sq_run(sq_inst *s, const sq_sql *def, const sq_binder *b, lms_err *err)
{
    int ret = sq_bound(s, def, b, err);
    if (ret == LMS_OK) {
        int rc = sqlite3_step(b->st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
            ret = sq_fail(s, rc, err, "%s", def->what);
    }
    sq_release(b->st);
    return ret;
}

/*
 * Step a statement expected to return at most one row: LMS_OK with the row
 * ready to read, LMS_NOT_FOUND (err untouched) when there is none, or an
 * error. The caller releases the statement in every case.
 */
int sq_step_row(sq_inst *s, const sq_sql *def, const sq_binder *b,
                lms_err *err)
{
    int rc = sq_bound(s, def, b, err);
    if (rc != LMS_OK)
        return rc;
    rc = sqlite3_step(b->st);
    if (rc == SQLITE_ROW)
        return LMS_OK;
    if (rc == SQLITE_DONE)
        return LMS_NOT_FOUND;
    return sq_fail(s, rc, err, "%s", def->what);
}

/*
 * Walk the rows of b's statement: fill(st, row) then each(arg, row) for each, until
 * the rows end or each() returns nonzero (still LMS_OK, per storage.h).
 * Row pointers point into SQLite's memory, valid until the next step, which
 * is exactly the lifetime storage.h promises. Releases the statement.
 */
int sq_walk(sq_inst *s, const sq_sql *def, const sq_binder *b,
            void (*fill)(sqlite3_stmt *st, void *row), void *row,
            lms_each_fn each, void *arg, lms_err *err)
{
    sqlite3_stmt *st = b->st;
    int rc = sq_bound(s, def, b, err);
    if (rc != LMS_OK) {
        sq_release(st);
        return rc;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fill(st, row);
        if (each(arg, row) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    int ret = LMS_OK;
    if (rc != SQLITE_DONE)
        ret = sq_fail(s, rc, err, "%s", def->what);
    sq_release(st);
    return ret;
}

/* Above this, the keep buffer is given back once a small copy will do, so
 * one large file fetched does not stay allocated for the instance's life. */
#define SQ_KEEP_SHRINK_ABOVE (1u << 20)

/*
 * Copy n bytes at p (plus a NUL if nul) into the instance's keep buffer and
 * return the copy, which stays valid until the next call that keeps
 * something. This is how a get call's pointer fields outlive the reset of
 * its statement. NULL when out of memory.
 */
const void *sq_keep(sq_inst *s, const void *p, size_t n, int nul)
{
    size_t need = n + (nul ? 1 : 0);
    size_t want = need < 256 ? 256 : need;
    int shrink = s->keep_cap > SQ_KEEP_SHRINK_ABOVE &&
                 want <= SQ_KEEP_SHRINK_ABOVE;
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

/* Replace *text (a column's text) by a kept copy; LMS_RESOURCE_EXHAUSTED
 * when out of memory. */
int sq_keep_text(sq_inst *s, const char **text, lms_err *err)
{
    const char *copy = sq_keep(s, *text, strlen(*text), 1);
    if (copy == NULL)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    *text = copy;
    return LMS_OK;
}

/* ---- binding ---- */

sq_binder sq_binder_of(sqlite3_stmt *st)
{
    sq_binder b = {st, 1, SQLITE_OK};
    return b;
}

static void sq_bind_note(sq_binder *b, int rc)
{
    if (b->rc == SQLITE_OK && rc != SQLITE_OK)
        b->rc = rc;
    b->i++;
}

void sq_bind_i64(sq_binder *b, int64_t v)
{
    sq_bind_note(b, sqlite3_bind_int64(b->st, b->i, v));
}

void sq_bind_double(sq_binder *b, double v)
{
    sq_bind_note(b, sqlite3_bind_double(b->st, b->i, v));
}

/* Bind s (NULL as "") up to its NUL or cap bytes, whichever comes first,
 * so a fixed-size field without a terminator is never overrun. */
void sq_bind_text(sq_binder *b, const char *s, size_t cap)
{
    const char *t = s ? s : "";
    sq_bind_note(b, sqlite3_bind_text64(b->st, b->i, t, strnlen(t, cap),
                                        SQLITE_STATIC, SQLITE_UTF8));
}

/* Bind n bytes at p as a BLOB; an empty blob (not NULL) when n is 0. */
void sq_bind_blob(sq_binder *b, const void *p, uint64_t n)
{
    int rc;
    if (n == 0)
        rc = sqlite3_bind_zeroblob(b->st, b->i, 0);
    else
        rc = sqlite3_bind_blob64(b->st, b->i, p, n, SQLITE_STATIC);
    sq_bind_note(b, rc);
}

/* ---- columns ---- */

int64_t sq_col_i64(sqlite3_stmt *st, int i)
{
    return sqlite3_column_int64(st, i);
}

/* A text column, "" for NULL (storage.h: text pointers are never NULL). */
const char *sq_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* Copy a text column into a fixed field, truncating to cap - 1 bytes. */
void sq_col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n > 0)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

/* Copy a SHA-256 column; a shorter value (the schema forbids one) is
 * zero-padded rather than overrun. */
void sq_col_sha(sqlite3_stmt *st, int i, uint8_t dst[LMS_SHA256_LEN])
{
    const void *p = sqlite3_column_blob(st, i);
    size_t n = p ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n > LMS_SHA256_LEN)
        n = LMS_SHA256_LEN;
    memset(dst, 0, LMS_SHA256_LEN);
    if (n > 0)
        memcpy(dst, p, n);
}

/* A blob column; never NULL, since SQLite returns NULL for an empty blob
 * and a get with data must still hand out a pointer. */
const void *sq_col_blob(sqlite3_stmt *st, int i)
{
    static const unsigned char empty[1];
    const void *p = sqlite3_column_blob(st, i);
    return p ? p : empty;
}

/* SPDX-License-Identifier: MIT */
/*
 * sqlite_record.c: lmsd's records (storage.h, ABI 1.4; schema version 7):
 * opaque values under byte-string keys in one table, `record`, whose key
 * is a BLOB: SQLite compares BLOBs with memcmp, the shorter first on a
 * tie, which is the order storage.h fixes for every backend.
 *
 * Same shape as sqlite_ops.c: a cached statement per op, bound, stepped
 * through sqlite_stmt.c's helpers; a get copies the value into the
 * instance's keep buffer. A list is one range of the primary key (the
 * bounds from plugins/common/storage_record.h), ascending or descending,
 * so SQLite walks the index from the right end and stops where each()
 * says: a page of the newest ten records costs ten rows, whatever the
 * table holds.
 */
#include "sqlite_internal.h"
#include "storage_record.h"

#include <string.h>

#define SQ_W (SQ_NEEDS_SCHEMA | SQ_WRITES)
#define SQ_R SQ_NEEDS_SCHEMA

static const sq_sql SQL_RECORD_PUT = {
    SQ_RECORD_PUT, SQ_W, "record_put",
    "INSERT INTO record(key, value) VALUES(?1, ?2) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"};
static const sq_sql SQL_RECORD_GET = {
    SQ_RECORD_GET, SQ_R, "record_get",
    "SELECT value FROM record WHERE key = ?1"};
static const sq_sql SQL_RECORD_DELETE = {
    SQ_RECORD_DELETE, SQ_W, "record_delete",
    "DELETE FROM record WHERE key = ?1"};

/* record_list, by direction (+ 1: descending) and upper bound (+ 2). */
static const sq_sql SQL_RECORD_LIST[] = {
    {SQ_RECORD_LIST, SQ_R, "record_list",
     "SELECT key, value FROM record WHERE key >= ?1 ORDER BY key"},
    {SQ_RECORD_LIST + 1, SQ_R, "record_list",
     "SELECT key, value FROM record WHERE key >= ?1 ORDER BY key DESC"},
    {SQ_RECORD_LIST + 2, SQ_R, "record_list",
     "SELECT key, value FROM record WHERE key >= ?1 AND key < ?2 "
     "ORDER BY key"},
    {SQ_RECORD_LIST + 3, SQ_R, "record_list",
     "SELECT key, value FROM record WHERE key >= ?1 AND key < ?2 "
     "ORDER BY key DESC"},
};
_Static_assert(sizeof SQL_RECORD_LIST / sizeof SQL_RECORD_LIST[0] ==
                   SQ_RECORD_LIST_END - SQ_RECORD_LIST + 1,
               "a statement for every record_list slot");

/* storage ops record_put(): insert, or replace the value under key. */
int sq_record_put(void *inst, const char *key, const void *value, size_t len,
                  lms_err *err)
{
    sq_inst *s = inst;
    size_t kn = 0;
    int rc = storage_record_check_key(key, &kn, "record_put", err);
    if (rc == LMS_OK)
        rc = storage_record_check_value(value, len, err);
    sqlite3_stmt *st;
    if (rc == LMS_OK)
        rc = sq_acquire(s, &SQL_RECORD_PUT, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_blob(&b, key, kn);
    sq_bind_blob(&b, value, len);
    return sq_run(s, &SQL_RECORD_PUT, &b, err);
}

/* storage ops record_get(): the value (never NULL) is valid until the
 * next call on the instance. */
int sq_record_get(void *inst, const char *key, lms_record *out, lms_err *err)
{
    sq_inst *s = inst;
    size_t kn = 0;
    int rc = storage_record_check_key(key, &kn, "record_get", err);
    sqlite3_stmt *st;
    if (rc == LMS_OK)
        rc = sq_acquire(s, &SQL_RECORD_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_blob(&b, key, kn);
    rc = sq_step_row(s, &SQL_RECORD_GET, &b, err);
    if (rc == LMS_OK) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *v = n ? sq_keep(s, sq_col_blob(st, 0), n, 0) : "";
        if (v == NULL) {
            rc = lms_err_set(err, LMS_INTERNAL, "record_get: out of memory "
                             "for a value of %zu bytes", n);
        } else {
            out->key = key;
            out->value = v;
            out->len = n;
        }
    } else if (rc == LMS_NOT_FOUND) {
        char k[96];
        lms_err_set(err, rc, "record_get: no record '%s'",
                    storage_record_key_text(key, k, sizeof k));
    }
    sq_release(st);
    return rc;
}

/* storage ops record_delete(): LMS_OK also when there is no such record,
 * so that replaying a delete cannot fail. */
int sq_record_delete(void *inst, const char *key, lms_err *err)
{
    sq_inst *s = inst;
    size_t kn = 0;
    int rc = storage_record_check_key(key, &kn, "record_delete", err);
    sqlite3_stmt *st;
    if (rc == LMS_OK)
        rc = sq_acquire(s, &SQL_RECORD_DELETE, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_blob(&b, key, kn);
    return sq_run(s, &SQL_RECORD_DELETE, &b, err);
}

/* One row of a record_list walk: the record handed out, its key made a C
 * string (the column is a BLOB), and the caller's callback. */
typedef struct sq_record_row {
    lms_record r;
    char key[LMS_RECORD_KEY_MAX + 1];
    int (*each)(void *arg, const lms_record *r);
    void *arg;
} sq_record_row;

static void fill_record(sqlite3_stmt *st, void *row)
{
    sq_record_row *x = row;
    size_t kn = (size_t)sqlite3_column_bytes(st, 0);
    if (kn > LMS_RECORD_KEY_MAX) /* the schema's CHECK forbids it */
        kn = LMS_RECORD_KEY_MAX;
    if (kn > 0)
        memcpy(x->key, sqlite3_column_blob(st, 0), kn);
    x->key[kn] = '\0';
    x->r.key = x->key;
    x->r.len = (size_t)sqlite3_column_bytes(st, 1);
    x->r.value = sq_col_blob(st, 1);
}

static int each_record(void *arg, const void *row)
{
    const sq_record_row *x = row;
    (void)arg;
    return x->each(x->arg, &x->r);
}

/* storage ops record_list(): one range of the key's index, walked in
 * either direction until each() stops it. */
int sq_record_list(void *inst, const char *prefix, const char *after,
                   int reverse, int (*each)(void *arg, const lms_record *r),
                   void *arg, lms_err *err)
{
    sq_inst *s = inst;
    storage_record_range range;
    int rc = storage_record_range_of(prefix, after, reverse, &range, err);
    if (rc == LMS_OK && each == NULL)
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT,
                         "record_list: no callback");
    if (rc != LMS_OK)
        return rc;
    const sq_sql *def = &SQL_RECORD_LIST[(reverse ? 1 : 0) +
                                         (range.has_hi ? 2 : 0)];
    sqlite3_stmt *st;
    rc = sq_acquire(s, def, &st, err); /* refused before migrate() */
    if (rc != LMS_OK)
        return rc;
    if (range.empty) {
        sq_release(st);
        return LMS_OK;
    }
    sq_binder b = sq_binder_of(st);
    sq_bind_blob(&b, range.lo, range.lo_len);
    if (range.has_hi)
        sq_bind_blob(&b, range.hi, range.hi_len);
    sq_record_row row = {.each = each, .arg = arg};
    return sq_walk(s, def, &b, fill_record, &row, each_record, NULL, err);
}

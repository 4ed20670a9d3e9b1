/* SPDX-License-Identifier: MIT */
/*
 * mysql_record.c: lmsd's records (storage.h, ABI 1.4; schema version 3):
 * opaque values under byte-string keys in one table, `record`, whose key
 * is a VARBINARY(255): MariaDB compares binary strings bytewise, the
 * shorter first on a tie, with no padding, which is the order storage.h
 * fixes (and SQLite's BLOB order), so both backends list the same records
 * in the same order and snapshot them alike.
 *
 * Same shape as mysql_ops.c. Records are written at once (never queued
 * like client records and grades: nothing reads them in bulk at commit)
 * and kept in the writer's row cache (mysql_cache.c) like the other rows
 * it serves: a get's answer, or a put's value, which the server stores
 * byte for byte, or "no such record" after a delete; a value above
 * MY_RECORD_CACHE_MAX is forgotten instead, so that a few large values
 * do not push the small rows out. The cache's own rules drop it all on
 * rollback, on a failed statement, on reconnecting and on snapshot_read.
 *
 * A list is one range of the primary key (the bounds from
 * plugins/common/storage_record.h) walked in pages of MY_RECORD_PAGE rows,
 * each page one statement that starts after the last key of the one
 * before: a result is buffered client-side (so that each() may call other
 * ops), and paging keeps that buffer small and an early stop cheap,
 * whatever the table holds. Pages see one state: the writer's own
 * transaction (or nothing else writes), a reader's read transaction, or,
 * on a reader outside one, a read transaction the list opens for itself.
 */
#include "mysql_internal.h"
#include "storage_record.h"

#include <stdint.h>
#include <string.h>

#define MY_W (MY_NEEDS_SCHEMA | MY_WRITES)
#define MY_R MY_NEEDS_SCHEMA

/* Rows of one record_list statement. */
#define MY_RECORD_PAGE 64
/* The largest value the row cache keeps. */
#define MY_RECORD_CACHE_MAX (64u << 10)

static const my_sql SQL_RECORD_PUT = {
    MY_RECORD_PUT, MY_W, "record_put",
    "INSERT INTO record(`key`, value) VALUES(?, ?) "
    "ON DUPLICATE KEY UPDATE value = VALUES(value)"};
static const my_sql SQL_RECORD_GET = {
    MY_RECORD_GET, MY_R, "record_get",
    "SELECT value FROM record WHERE `key` = ?"};
static const my_sql SQL_RECORD_DELETE = {
    MY_RECORD_DELETE, MY_W, "record_delete",
    "DELETE FROM record WHERE `key` = ?"};

#define PAGE_SQL(where, order)                                               \
    "SELECT `key`, value FROM record WHERE " where " ORDER BY `key`" order   \
    " LIMIT 64"
_Static_assert(MY_RECORD_PAGE == 64, "PAGE_SQL's LIMIT is MY_RECORD_PAGE");

/* record_list, by direction (+ 1: descending) and upper bound (+ 2). */
static const my_sql SQL_RECORD_LIST[] = {
    {MY_RECORD_LIST, MY_R, "record_list", PAGE_SQL("`key` >= ?", "")},
    {MY_RECORD_LIST + 1, MY_R, "record_list",
     PAGE_SQL("`key` >= ?", " DESC")},
    {MY_RECORD_LIST + 2, MY_R, "record_list",
     PAGE_SQL("`key` >= ? AND `key` < ?", "")},
    {MY_RECORD_LIST + 3, MY_R, "record_list",
     PAGE_SQL("`key` >= ? AND `key` < ?", " DESC")},
};
#undef PAGE_SQL
_Static_assert(sizeof SQL_RECORD_LIST / sizeof SQL_RECORD_LIST[0] ==
                   MY_RECORD_LIST_END - MY_RECORD_LIST + 1,
               "a statement for every record_list slot");

/* The cached row of a record: its value is the entry's extra bytes. */
typedef struct my_record_row {
    size_t len;
} my_record_row;

/* Remember key's value as the server now holds it (value NULL: none). */
static void record_cache(my_inst *s, const char *key, size_t kn,
                         const void *value, size_t len, int found)
{
    if (!found) {
        my_cache_set(s, MY_C_RECORD, key, kn, NULL, 0, NULL, 0);
    } else if (len > MY_RECORD_CACHE_MAX) {
        my_cache_forget(s, MY_C_RECORD, key, kn);
    } else {
        my_record_row row = {.len = len};
        my_cache_set(s, MY_C_RECORD, key, kn, &row, sizeof row, value, len);
    }
}

/* storage ops record_put(): insert, or replace the value under key. */
int my_record_put(void *inst, const char *key, const void *value, size_t len,
                  lms_err *err)
{
    my_inst *s = inst;
    size_t kn = 0;
    int rc = storage_record_check_key(key, &kn, "record_put", err);
    if (rc == LMS_OK)
        rc = storage_record_check_value(value, len, err);
    if (rc != LMS_OK)
        return rc;
    my_binder b;
    my_binder_init(&b);
    my_bind_blob(&b, key, kn);
    my_bind_blob(&b, value, len);
    my_cache_forget(s, MY_C_RECORD, key, kn);
    rc = my_run(s, &SQL_RECORD_PUT, &b, err);
    if (rc == LMS_OK)
        record_cache(s, key, kn, value, len, 1);
    return rc;
}

/* Where a record_get's value is in the statement's row. */
typedef struct value_row {
    const void *value;
    size_t len;
} value_row;

static void fill_value(const my_col *c, void *row)
{
    value_row *x = row;
    x->value = c[0].is_null ? NULL : c[0].buf;
    x->len = c[0].is_null ? 0 : c[0].len;
}

/* storage ops record_get(): the value (never NULL) is valid until the
 * next call on the instance. Served from the writer's row cache when it
 * knows the key. */
int my_record_get(void *inst, const char *key, lms_record *out, lms_err *err)
{
    my_inst *s = inst;
    size_t kn = 0;
    int rc = storage_record_check_key(key, &kn, "record_get", err);
    if (rc != LMS_OK)
        return rc;
    value_row v = {0};
    my_record_row row;
    rc = my_cache_get(s, MY_C_RECORD, key, kn, &row, sizeof row, &v.value,
                      &v.len);
    if (rc == 1) {
        rc = LMS_OK;
    } else if (rc == 0) {
        rc = LMS_NOT_FOUND;
    } else {
        my_binder b;
        my_binder_init(&b);
        my_bind_blob(&b, key, kn);
        rc = my_get(s, &SQL_RECORD_GET, &b, fill_value, &v, err);
        if (rc == LMS_OK || rc == LMS_NOT_FOUND)
            record_cache(s, key, kn, v.value, v.len, rc == LMS_OK);
    }
    if (rc == LMS_OK) {
        const void *kept = v.len ? my_keep(s, v.value, v.len, 0) : "";
        if (kept == NULL)
            return lms_err_set(err, LMS_INTERNAL, "record_get: out of "
                               "memory for a value of %zu bytes", v.len);
        out->key = key;
        out->value = kept;
        out->len = v.len;
    } else if (rc == LMS_NOT_FOUND) {
        char k[96];
        lms_err_set(err, rc, "record_get: no record '%s'",
                    storage_record_key_text(key, k, sizeof k));
    }
    return rc;
}

/* storage ops record_delete(): LMS_OK also when there is no such record,
 * so that replaying a delete cannot fail. */
int my_record_delete(void *inst, const char *key, lms_err *err)
{
    my_inst *s = inst;
    size_t kn = 0;
    int rc = storage_record_check_key(key, &kn, "record_delete", err);
    if (rc != LMS_OK)
        return rc;
    my_binder b;
    my_binder_init(&b);
    my_bind_blob(&b, key, kn);
    my_cache_forget(s, MY_C_RECORD, key, kn);
    rc = my_run(s, &SQL_RECORD_DELETE, &b, err);
    if (rc == LMS_OK)
        record_cache(s, key, kn, NULL, 0, 0);
    return rc;
}

/* One record_list: the record handed out with its key made a C string,
 * the caller's callback, and where the page got to. */
typedef struct record_walk {
    lms_record r;
    char key[LMS_RECORD_KEY_MAX + 1];
    int (*each)(void *arg, const lms_record *r);
    void *arg;
    size_t rows; /* of this page */
    int stopped; /* each() said stop */
} record_walk;

static void fill_record(const my_col *c, void *row)
{
    record_walk *w = row;
    size_t kn = c[0].is_null ? 0 : c[0].len;
    if (kn > LMS_RECORD_KEY_MAX) /* VARBINARY(255) */
        kn = LMS_RECORD_KEY_MAX;
    if (kn > 0)
        memcpy(w->key, c[0].buf, kn);
    w->key[kn] = '\0';
    w->r.key = w->key;
    w->r.len = c[1].is_null ? 0 : c[1].len;
    w->r.value = c[1].buf ? c[1].buf : "";
}

static int each_record(void *arg, const void *row)
{
    record_walk *w = (record_walk *)row;
    (void)arg;
    w->rows++;
    if (w->each(w->arg, &w->r) != 0)
        w->stopped = 1;
    return w->stopped;
}

/* Walk range page by page until it ends or each() stops it. */
static int record_pages(my_inst *s, storage_record_range *range, int reverse,
                        record_walk *w, lms_err *err)
{
    for (;;) {
        const my_sql *def =
            &SQL_RECORD_LIST[(reverse ? 1 : 0) + (range->has_hi ? 2 : 0)];
        my_binder b;
        my_binder_init(&b);
        my_bind_blob(&b, range->lo, range->lo_len);
        if (range->has_hi)
            my_bind_blob(&b, range->hi, range->hi_len);
        w->rows = 0;
        int rc = my_walk(s, def, &b, fill_record, w, each_record, NULL, err);
        if (rc != LMS_OK || w->stopped || w->rows < MY_RECORD_PAGE)
            return rc;
        /* the next page starts after the last key of this one */
        size_t kn = strlen(w->key);
        if (!reverse) {
            memcpy(range->lo, w->key, kn + 1); /* key > last: >= last "\0" */
            range->lo_len = kn + 1;
        } else {
            memcpy(range->hi, w->key, kn);
            range->hi_len = kn;
            range->has_hi = 1;
        }
    }
}

/* storage ops record_list(): see the top of the file. */
int my_record_list(void *inst, const char *prefix, const char *after,
                   int reverse, int (*each)(void *arg, const lms_record *r),
                   void *arg, lms_err *err)
{
    my_inst *s = inst;
    storage_record_range range;
    int rc = storage_record_range_of(prefix, after, reverse, &range, err);
    if (rc == LMS_OK && each == NULL)
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT,
                         "record_list: no callback");
    if (rc != LMS_OK)
        return rc;
    if (!s->migrated)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "record_list: the schema of %s is not migrated "
                           "yet (call migrate first)", s->cfg->where);
    if (range.empty)
        return LMS_OK;
    /* a reader outside a read transaction: one of the list's own, so that
     * its pages see one state */
    int own_tx = s->readonly && !s->in_tx;
    if (own_tx && (rc = my_begin(s, err)) != LMS_OK)
        return rc;
    record_walk w = {.each = each, .arg = arg};
    rc = record_pages(s, &range, reverse, &w, err);
    if (own_tx)
        my_rollback(s, NULL);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * accounts.c: see accounts.h.
 */
#include "accounts.h"

#include "lms_assert.h"
#include "records.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int key_of(const char *user, char *key, size_t cap, lms_err *err)
{
    size_t n = strlen(user);
    if (n == 0 || n > LMS_NAME_MAX)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "user name must be 1 to %d bytes",
                           LMS_NAME_MAX);
    int w = snprintf(key, cap, ACCOUNT_KEY_PREFIX "%s", user);
    LMS_ASSERT(w > 0 && (size_t)w < cap);
    return LMS_OK;
}

static int decode(const lms_record *r, account_state *out, lms_err *err)
{
    memset(out, 0, sizeof *out);
    Lms__AccountRecord *m = lms__account_record__unpack(NULL, r->len, r->value);
    if (!m)
        return lms_err_set(err, LMS_INTERNAL,
                           "the stored account record %s does not decode", r->key);
    out->disabled = m->disabled;
    out->must_change = m->must_change_password;
    out->changed = m->changed;
    snprintf(out->changed_by, sizeof out->changed_by, "%s", m->changed_by);
    lms__account_record__free_unpacked(m, NULL);
    return LMS_OK;
}

int account_get(const struct lms_storage_ops *ops, void *st, const char *user,
                account_state *out, lms_err *err)
{
    char key[sizeof ACCOUNT_KEY_PREFIX + LMS_NAME_MAX];
    lms_record r;
    memset(out, 0, sizeof *out);
    if (key_of(user, key, sizeof key, err) != LMS_OK)
        return err->code;
    int rc = ops->record_get(st, key, &r, err);
    if (rc == LMS_NOT_FOUND)
        return LMS_OK;
    if (rc != LMS_OK)
        return rc;
    return decode(&r, out, err);
}

int account_put(const struct lms_storage_ops *ops, void *st, const char *user,
                const account_state *a, lms_err *err)
{
    char key[sizeof ACCOUNT_KEY_PREFIX + LMS_NAME_MAX];
    if (key_of(user, key, sizeof key, err) != LMS_OK)
        return err->code;
    Lms__AccountRecord m = LMS__ACCOUNT_RECORD__INIT;
    m.disabled = a->disabled != 0;
    m.must_change_password = a->must_change != 0;
    m.changed = a->changed;
    m.changed_by = (char *)a->changed_by;
    uint8_t buf[2 * LMS_NAME_MAX + 64];
    size_t n = lms__account_record__get_packed_size(&m);
    LMS_ASSERT(n <= sizeof buf);
    lms__account_record__pack(&m, buf);
    return ops->record_put(st, key, buf, n, err);
}

typedef struct list_ctx {
    account_each_fn each;
    void *arg;
    lms_err *err;
    int rc;
} list_ctx;

static int list_each(void *arg, const lms_record *r)
{
    list_ctx *x = arg;
    account_state a;
    size_t plen = strlen(ACCOUNT_KEY_PREFIX);
    LMS_ASSERT(strncmp(r->key, ACCOUNT_KEY_PREFIX, plen) == 0);
    if ((x->rc = decode(r, &a, x->err)) != LMS_OK)
        return 1;
    return x->each(x->arg, r->key + plen, &a);
}

int account_list(const struct lms_storage_ops *ops, void *st, account_each_fn each,
                 void *arg, lms_err *err)
{
    list_ctx x = {.each = each, .arg = arg, .err = err, .rc = LMS_OK};
    int rc = ops->record_list(st, ACCOUNT_KEY_PREFIX, NULL, 0, list_each, &x, err);
    return rc != LMS_OK ? rc : x.rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * unenrolment.c: see unenrolment.h.
 */
#include "unenrolment.h"

#include "lms_assert.h"
#include "records.pb-c.h"

#include <stdio.h>
#include <string.h>

#define KEY_CAP (sizeof UNENROLMENT_KEY_PREFIX + 2 * LMS_NAME_MAX + 2)

/* Names and codes hold no '/' (rule_user_name, rule_course_code): the key
 * splits back unambiguously. Longer ones cannot be stored: none. */
static int key_of(const char *course, const char *user, char key[KEY_CAP])
{
    if (strlen(course) > LMS_NAME_MAX || strlen(user) > LMS_NAME_MAX)
        return 0;
    int w = snprintf(key, KEY_CAP, UNENROLMENT_KEY_PREFIX "%s/%s", course, user);
    LMS_ASSERT(w > 0 && (size_t)w < KEY_CAP);
    return 1;
}

static int decode(const lms_record *r, unenrolment *out, lms_err *err)
{
    memset(out, 0, sizeof *out);
    Lms__UnenrolmentRecord *m = lms__unenrolment_record__unpack(NULL, r->len, r->value);
    if (!m)
        return lms_err_set(err, LMS_INTERNAL,
                           "the stored unenrolment record %s does not decode", r->key);
    out->role = (int)m->role;
    out->unenrolled = m->unenrolled;
    snprintf(out->unenrolled_by, sizeof out->unenrolled_by, "%s", m->unenrolled_by);
    lms__unenrolment_record__free_unpacked(m, NULL);
    return LMS_OK;
}

int unenrolment_get(const struct lms_storage_ops *ops, void *st, const char *course,
                    const char *user, unenrolment *out, int *found, lms_err *err)
{
    char key[KEY_CAP];
    lms_record r;
    memset(out, 0, sizeof *out);
    *found = 0;
    if (!key_of(course, user, key))
        return LMS_OK;
    int rc = ops->record_get(st, key, &r, err);
    if (rc == LMS_NOT_FOUND) {
        lms_err_clear(err);
        return LMS_OK;
    }
    if (rc == LMS_OK && (rc = decode(&r, out, err)) == LMS_OK)
        *found = 1;
    return rc;
}

int unenrolment_put(const struct lms_storage_ops *ops, void *st, const char *course,
                    const char *user, const unenrolment *u, lms_err *err)
{
    char key[KEY_CAP];
    if (!key_of(course, user, key))
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "course codes and user names are "
                           "at most %d bytes", LMS_NAME_MAX);
    Lms__UnenrolmentRecord m = LMS__UNENROLMENT_RECORD__INIT;
    m.role = (uint32_t)u->role;
    m.unenrolled = u->unenrolled;
    m.unenrolled_by = (char *)u->unenrolled_by;
    uint8_t buf[LMS_NAME_MAX + 48];
    size_t n = lms__unenrolment_record__get_packed_size(&m);
    LMS_ASSERT(n <= sizeof buf);
    lms__unenrolment_record__pack(&m, buf);
    return ops->record_put(st, key, buf, n, err);
}

int unenrolment_delete(const struct lms_storage_ops *ops, void *st, const char *course,
                       const char *user, lms_err *err)
{
    char key[KEY_CAP];
    return key_of(course, user, key) ? ops->record_delete(st, key, err) : LMS_OK;
}

typedef struct list_ctx {
    size_t skip; /* the prefix "unenr/<course>/" */
    unenrolment_fn each;
    void *arg;
    lms_err *err;
    int rc;
} list_ctx;

static int list_each(void *arg, const lms_record *r)
{
    list_ctx *x = arg;
    unenrolment u;
    LMS_ASSERT(strlen(r->key) > x->skip);
    if ((x->rc = decode(r, &u, x->err)) != LMS_OK)
        return 1;
    return x->each(x->arg, r->key + x->skip, &u);
}

int unenrolment_list(const struct lms_storage_ops *ops, void *st, const char *course,
                     unenrolment_fn each, void *arg, lms_err *err)
{
    char prefix[KEY_CAP];
    if (strlen(course) > LMS_NAME_MAX)
        return LMS_OK;
    int w = snprintf(prefix, sizeof prefix, UNENROLMENT_KEY_PREFIX "%s/", course);
    LMS_ASSERT(w > 0 && (size_t)w < sizeof prefix);
    list_ctx x = {.skip = (size_t)w, .each = each, .arg = arg, .err = err, .rc = LMS_OK};
    int rc = ops->record_list(st, prefix, NULL, 0, list_each, &x, err);
    return rc != LMS_OK ? rc : x.rc;
}

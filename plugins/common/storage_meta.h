/* SPDX-License-Identifier: MIT */
/*
 * storage_meta.h: the checks every storage backend makes on lmsd's
 * records about a store (storage.h, meta_get/meta_put, ABI 1.3), so that
 * all of them accept and refuse the same keys and values with the same
 * words. Header only.
 */
#ifndef LMS_STORAGE_META_H
#define LMS_STORAGE_META_H

#include <lms/storage.h>

#include <stddef.h>
#include <string.h>

/* 1..LMS_NAME_MAX bytes of [a-z0-9_]. */
static inline int storage_meta_key_ok(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > LMS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((key[i] >= 'a' && key[i] <= 'z') ||
              (key[i] >= '0' && key[i] <= '9') || key[i] == '_'))
            return 0;
    return 1;
}

/* meta_get's arguments: LMS_OK, or INVALID_ARGUMENT saying what is wrong. */
static inline int storage_meta_check_get(const char *key, const char *out,
                                         size_t cap, lms_err *err)
{
    if (storage_meta_key_ok(key) && out && cap > 0)
        return LMS_OK;
    return lms_err_set(err, LMS_INVALID_ARGUMENT,
                       "meta_get: a key is 1 to %d bytes of a-z, 0-9 and _, "
                       "and out must hold at least one byte",
                       LMS_NAME_MAX);
}

/* meta_put's arguments: LMS_OK, or INVALID_ARGUMENT saying what is wrong. */
static inline int storage_meta_check_put(const char *key, const char *value,
                                         lms_err *err)
{
    if (storage_meta_key_ok(key) && value && strlen(value) <= LMS_TITLE_MAX)
        return LMS_OK;
    return lms_err_set(err, LMS_INVALID_ARGUMENT,
                       "meta_put: a key is 1 to %d bytes of a-z, 0-9 and _, "
                       "a value at most %d bytes",
                       LMS_NAME_MAX, LMS_TITLE_MAX);
}

#endif

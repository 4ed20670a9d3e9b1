/* SPDX-License-Identifier: MIT */
/*
 * storage_record.h: what every storage backend needs for lmsd's records
 * (storage.h, record_put/get/delete/list, ABI 1.4), so that all of them
 * accept and refuse the same keys and values with the same words and walk
 * the same range for the same list call. Header only.
 *
 * A list call is turned into one key range, [lo, hi) bytewise, which an
 * index on the key answers directly: no LIKE (whose % and _ a key may
 * hold), no function of the key. Keys have no NUL, so the smallest key
 * after k is k followed by a 0 byte, and "strictly after k" is
 * ">= k\0"; the smallest key after every key that starts with p is p
 * with its trailing 0xff bytes dropped and the last byte left one
 * higher ("a\xff" -> "b"); p of only 0xff bytes (or "") has no such key,
 * and then the range has no upper end.
 */
#ifndef LMS_STORAGE_RECORD_H
#define LMS_STORAGE_RECORD_H

#include <lms/storage.h>

#include <stddef.h>
#include <string.h>

/* memcmp order, the shorter first on a tie: the order of record keys. */
static inline int storage_record_cmp(const void *a, size_t an, const void *b,
                                     size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* key as printable ASCII for a message (other bytes as \xNN), cut with
 * "..." to fit cap bytes; returns out. */
static inline const char *storage_record_key_text(const char *key, char *out,
                                                  size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t at = 0;
    for (const unsigned char *p = (const unsigned char *)(key ? key : "");
         *p && cap > 8; p++) {
        if (at + 4 + 4 > cap) { /* room for one more and "..." */
            memcpy(out + at, "...", 3);
            at += 3;
            break;
        }
        if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
            out[at++] = (char)*p;
        } else {
            out[at++] = '\\';
            out[at++] = 'x';
            out[at++] = hex[*p >> 4];
            out[at++] = hex[*p & 15];
        }
    }
    if (cap > 0)
        out[at < cap ? at : cap - 1] = '\0';
    return out;
}

/* A key's length into *n: LMS_OK for 1..LMS_RECORD_KEY_MAX bytes, else
 * INVALID_ARGUMENT naming op. */
static inline int storage_record_check_key(const char *key, size_t *n,
                                           const char *op, lms_err *err)
{
    size_t len = key ? strnlen(key, LMS_RECORD_KEY_MAX + 1) : 0;
    if (len == 0 || len > LMS_RECORD_KEY_MAX)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "%s: a record key is 1 to %d bytes (no NUL), "
                           "this one is %s",
                           op, LMS_RECORD_KEY_MAX,
                           len ? "longer" : "empty");
    *n = len;
    return LMS_OK;
}

/* record_put's value: at most LMS_RECORD_VALUE_MAX bytes, not NULL unless
 * empty. */
static inline int storage_record_check_value(const void *value, size_t len,
                                             lms_err *err)
{
    if (len > LMS_RECORD_VALUE_MAX)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "record_put: a record value is at most %zu "
                           "bytes, this one is %zu",
                           LMS_RECORD_VALUE_MAX, len);
    if (value == NULL && len > 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "record_put: a value of %zu bytes at NULL", len);
    return LMS_OK;
}

/* The keys a record_list walks: lo <= key, and key < hi when has_hi;
 * empty when no key can be in it (the backend need not ask). */
typedef struct storage_record_range {
    unsigned char lo[LMS_RECORD_KEY_MAX + 1];
    size_t lo_len;
    unsigned char hi[LMS_RECORD_KEY_MAX];
    size_t hi_len;
    int has_hi;
    int empty;
} storage_record_range;

/*
 * The range of record_list(prefix, after, reverse): the keys that start
 * with prefix, after `after` (before it when reverse). NULL and "" mean
 * none. INVALID_ARGUMENT when prefix or after is longer than a key can be.
 */
static inline int storage_record_range_of(const char *prefix,
                                          const char *after, int reverse,
                                          storage_record_range *r,
                                          lms_err *err)
{
    size_t pn = prefix ? strnlen(prefix, LMS_RECORD_KEY_MAX + 1) : 0;
    size_t an = after ? strnlen(after, LMS_RECORD_KEY_MAX + 1) : 0;
    if (pn > LMS_RECORD_KEY_MAX || an > LMS_RECORD_KEY_MAX)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "record_list: the %s is longer than a record key "
                           "can be (%d bytes)",
                           pn > LMS_RECORD_KEY_MAX ? "prefix" : "cursor",
                           LMS_RECORD_KEY_MAX);
    memset(r, 0, sizeof *r);
    /* the prefix: [prefix, its successor) */
    memcpy(r->lo, prefix ? prefix : "", pn);
    r->lo_len = pn;
    size_t hn = pn;
    while (hn > 0 && (unsigned char)prefix[hn - 1] == 0xff)
        hn--;
    if (hn > 0) {
        memcpy(r->hi, prefix, hn);
        r->hi[hn - 1]++;
        r->hi_len = hn;
        r->has_hi = 1;
    }
    /* the cursor narrows one end */
    if (an > 0 && !reverse) {
        /* key > after  <=>  key >= after "\0" */
        if (storage_record_cmp(after, an + 1, r->lo, r->lo_len) > 0) {
            memcpy(r->lo, after, an + 1); /* its NUL included */
            r->lo_len = an + 1;
        }
    } else if (an > 0) {
        if (!r->has_hi ||
            storage_record_cmp(after, an, r->hi, r->hi_len) < 0) {
            memcpy(r->hi, after, an);
            r->hi_len = an;
            r->has_hi = 1;
        }
    }
    r->empty = r->has_hi &&
               storage_record_cmp(r->lo, r->lo_len, r->hi, r->hi_len) >= 0;
    return LMS_OK;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * accounts.h: the state of an account beyond its user row (disabled, a
 * one-time password), kept as a keyed record (storage ABI 1.4) under
 * "acct/<user>" with the value records.proto's AccountRecord. Written by
 * apply only (sm.c); read by apply, login, authentication and the user
 * list. A user without a record is enabled and chose their password.
 */
#ifndef LMS_CORE_ACCOUNTS_H
#define LMS_CORE_ACCOUNTS_H

#include <lms/storage.h>

#define ACCOUNT_KEY_PREFIX "acct/"

typedef struct account_state {
    int disabled;    /* no login; the sessions were ended */
    int must_change; /* a one-time password: change it before anything else */
    int64_t changed; /* when the record last changed (ms) */
    char changed_by[LMS_NAME_MAX + 1];
} account_state;

/* user's state into *out (all zero when there is no record): LMS_OK, or
 * the storage's error; LMS_INTERNAL when the stored value does not decode
 * (it was written by apply: a damaged store). Any thread, on its handle. */
int account_get(const struct lms_storage_ops *ops, void *st, const char *user,
                account_state *out, lms_err *err);

/* Store user's state (inside apply's transaction). A state with no flag
 * set is kept too: it says who changed it last. */
int account_put(const struct lms_storage_ops *ops, void *st, const char *user,
                const account_state *a, lms_err *err);

/* Every stored account state, ordered by user name (bytewise). each()
 * returning nonzero stops the walk. */
typedef int (*account_each_fn)(void *arg, const char *user, const account_state *a);
int account_list(const struct lms_storage_ops *ops, void *st, account_each_fn each,
                 void *arg, lms_err *err);

#endif

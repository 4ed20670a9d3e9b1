/* SPDX-License-Identifier: MIT */
/*
 * broken_storage.c: storage plugins that break the storage contract one
 * way each, for testing lms-plugin-check's storage suite: each build wraps
 * the real storage_sqlite.so of the build tree (LMS_SQLITE_PLUGIN) and
 * passes every call on, except one:
 *
 *   BROKEN_STORAGE_ORDER     user_list walks the users in reverse order
 *   BROKEN_STORAGE_ROLLBACK  rollback() commits instead (keeps the writes)
 *
 * The descriptor is storage_sqlite's own with the ops table swapped, so
 * nothing else differs and the suite's FAIL lines are about that one
 * breach.
 */
#include <lms/storage.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

static const struct lms_storage_ops *real;
static struct lms_storage_ops ops;
static struct lms_plugin_descriptor desc;

#if defined(BROKEN_STORAGE_ORDER)
/* The rows of one user_list, copied so they can be handed out backwards. */
typedef struct rows {
    lms_user *u;
    char **hash;
    size_t n, cap;
} rows;

static int keep_row(void *arg, const void *row)
{
    rows *r = arg;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->u = realloc(r->u, r->cap * sizeof *r->u);
        r->hash = realloc(r->hash, r->cap * sizeof *r->hash);
        if (!r->u || !r->hash)
            abort();
    }
    r->u[r->n] = *(const lms_user *)row;
    const char *h = r->u[r->n].password_hash;
    r->hash[r->n] = h ? strdup(h) : NULL;
    r->u[r->n].password_hash = r->hash[r->n];
    r->n++;
    return 0;
}

/* user_list, last row first. */
static int reversed_user_list(void *inst, lms_each_fn each, void *arg,
                              lms_err *err)
{
    rows r = {0};
    int rc = real->user_list(inst, keep_row, &r, err);
    int stop = 0;
    for (size_t i = r.n; rc == LMS_OK && !stop && i-- > 0;)
        stop = each(arg, &r.u[i]);
    for (size_t i = 0; i < r.n; i++)
        free(r.hash[i]);
    free(r.u);
    free(r.hash);
    return rc;
}
#endif

#if defined(BROKEN_STORAGE_ROLLBACK)
/* rollback that commits what the transaction wrote (the index stays). */
static int committing_rollback(void *inst, lms_err *err)
{
    uint64_t index = 0;
    if (real->applied_index(inst, &index, err) != LMS_OK)
        return real->rollback(inst, err);
    if (real->commit(inst, index, err) != LMS_OK) /* nothing open */
        lms_err_clear(err);
    return LMS_OK;
}
#endif

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void);
const struct lms_plugin_descriptor *lms_plugin_entry(void)
{
    if (real)
        return &desc;
    void *dl = dlopen(LMS_SQLITE_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        return NULL;
    lms_plugin_entry_fn entry;
    void *sym = dlsym(dl, LMS_PLUGIN_ENTRY_SYMBOL);
    if (!sym)
        return NULL;
    memcpy(&entry, &sym, sizeof entry);
    desc = *entry();
    real = desc.ops;
    ops = *real;
#if defined(BROKEN_STORAGE_ORDER)
    ops.user_list = reversed_user_list;
#elif defined(BROKEN_STORAGE_ROLLBACK)
    ops.rollback = committing_rollback;
#endif
    desc.ops = &ops;
    return &desc;
}

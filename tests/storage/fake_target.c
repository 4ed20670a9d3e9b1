/* SPDX-License-Identifier: MIT */
/*
 * fake_target.c: see fake_target.h. A test's stores live under one
 * temporary directory made at its first store() call (s1, s2, ... inside
 * it); test_end() forgets their file stores at the fake host, removes the
 * directory, and runs the drop command for each isolated value.
 */
#include "fake_target.h"

#include "rm_tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STORES 8
#define MAX_PAIRS 32

static fake_target_opts opts;
static char root[PATH_MAX]; /* the running test's directory, "" if none */
static unsigned long serial; /* isolated values made in this process */

static struct store {
    int used;
    struct lms_plugin_ctx ctx;
    const char *kv[2 * MAX_PAIRS + 3];
    char value[LMS_NAME_MAX + 1]; /* the isolated value */
} stores[MAX_STORES];

/* The base value of the isolate key, or a default prefix. */
static const char *isolate_base(void)
{
    for (const char *const *kv = opts.config; kv && kv[0]; kv += 2)
        if (strcmp(kv[0], opts.isolate) == 0)
            return kv[1];
    return "lmst";
}

/* Store n's config: the base pairs, the isolate key's value replaced. */
static void make_config(struct store *s)
{
    int k = 0, replaced = 0;
    for (const char *const *kv = opts.config;
         kv && kv[0] && k < 2 * MAX_PAIRS; kv += 2) {
        s->kv[k++] = kv[0];
        if (opts.isolate && strcmp(kv[0], opts.isolate) == 0) {
            s->kv[k++] = s->value;
            replaced = 1;
        } else
            s->kv[k++] = kv[1];
    }
    if (opts.isolate && !replaced) {
        s->kv[k++] = opts.isolate;
        s->kv[k++] = s->value;
    }
    s->kv[k] = NULL;
}

static struct lms_plugin_ctx *fake_store(void *arg, int n, lms_err *err)
{
    (void)arg;
    if (n < 1 || n > MAX_STORES) {
        lms_err_set(err, LMS_OUT_OF_RANGE, "store %d: at most %d per test",
                    n, MAX_STORES);
        return NULL;
    }
    struct store *s = &stores[n - 1];
    if (s->used)
        return &s->ctx;
    if (!root[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(root, sizeof root, "%s/lms-storage-test-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(root)) {
            lms_err_set(err, LMS_INTERNAL, "mkdtemp %s: %s", root,
                        strerror(errno));
            root[0] = '\0';
            return NULL;
        }
    }
    memset(s, 0, sizeof *s);
    int len = snprintf(s->ctx.data_dir, sizeof s->ctx.data_dir, "%s/s%d",
                       root, n);
    if (len < 0 || (size_t)len >= sizeof s->ctx.data_dir ||
        mkdir(s->ctx.data_dir, 0700) != 0) {
        lms_err_set(err, LMS_INTERNAL, "mkdir %s: %s", s->ctx.data_dir,
                    strerror(errno));
        return NULL;
    }
    if (opts.isolate)
        snprintf(s->value, sizeof s->value, "%s_%ld_%lu", isolate_base(),
                 (long)getpid(), ++serial);
    make_config(s);
    s->ctx.config = s->kv;
    s->used = 1;
    return &s->ctx;
}

/* Run opts.drop for value ("{}" replaced by it). */
static void run_drop(const char *value)
{
    char cmd[4096];
    size_t at = 0;
    for (const char *p = opts.drop; *p && at + 1 < sizeof cmd; p++) {
        if (p[0] == '{' && p[1] == '}') {
            at += (size_t)snprintf(cmd + at, sizeof cmd - at, "%s", value);
            p++;
        } else
            cmd[at++] = *p;
    }
    cmd[at < sizeof cmd ? at : sizeof cmd - 1] = '\0';
    if (system(cmd) != 0)
        fprintf(stderr, "fake_target: '%s' failed\n", cmd);
}

static void fake_test_end(void *arg)
{
    (void)arg;
    for (int i = 0; i < MAX_STORES; i++) {
        struct store *s = &stores[i];
        if (!s->used)
            continue;
        fake_host_forget(s->ctx.data_dir);
        if (opts.isolate && opts.drop)
            run_drop(s->value);
        s->used = 0;
    }
    if (root[0])
        rm_tree(root);
    root[0] = '\0';
}

const char *const *fake_target_config(int n)
{
    return n >= 1 && n <= MAX_STORES ? stores[n - 1].kv : NULL;
}

int fake_target_open(const fake_target_opts *o, storage_target *t,
                     const struct lms_plugin_descriptor **desc, void **dl)
{
    opts = *o;
    const struct lms_storage_ops *ops = fake_plugin_load(o->plugin, dl, desc);
    if (!ops)
        return -1;
    if ((*desc)->kind != LMS_PLUGIN_STORAGE) {
        fprintf(stderr, "%s is not a storage plugin\n", o->plugin);
        return -1;
    }
    *t = (storage_target){
        .ops = ops,
        .host = fake_host(),
        .name = (*desc)->name,
        .store = fake_store,
        .test_end = fake_test_end,
        .exact_messages = strcmp((*desc)->name, "storage_sqlite") == 0,
    };
    return 0;
}

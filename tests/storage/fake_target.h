/* SPDX-License-Identifier: MIT */
/*
 * fake_target.h: a storage_target (tools/storage_suite/storage_suite.h)
 * over the tests' fake host (tests/common/fake_host.h), for the storage
 * tests of the build: any storage plugin .so, a base config of key/value
 * pairs, each store of a test in a fresh data dir of its own and, with an
 * isolate key, that key's value varied per store (for a backend whose
 * stores are not files: `database` for MariaDB), with a command that
 * drops what the test made under those values afterwards.
 */
#ifndef LMS_TEST_FAKE_TARGET_H
#define LMS_TEST_FAKE_TARGET_H

#include "fake_host.h"
#include "storage_suite.h"

typedef struct fake_target_opts {
    const char *plugin;             /* path of the .so */
    const char *const *config;      /* key, value, ..., NULL (may be NULL) */
    const char *isolate;            /* a config key, or NULL */
    /* Run with sh after each test once per isolated value, "{}" replaced
     * by the value (e.g. a DROP DATABASE); NULL for none. */
    const char *drop;
} fake_target_opts;

/* Load o->plugin with the fake host and fill t; *desc and *dl get the
 * descriptor and the dlopen handle. 0, or -1 with the reason on stderr. */
int fake_target_open(const fake_target_opts *o, storage_target *t,
                     const struct lms_plugin_descriptor **desc, void **dl);
/* The config store n of the running test was made with (the base pairs
 * and its isolated value). */
const char *const *fake_target_config(int n);

#endif

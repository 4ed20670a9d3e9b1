/* SPDX-License-Identifier: MIT */
/*
 * storage_suite.h: the storage conformance suite, one set of cmocka tests
 * that drives any storage plugin only through its struct lms_storage_ops
 * and a host (include/lms/storage.h, host.h), so that every backend is held
 * to the same contract: the tests of the build (tests/storage) run it
 * against storage_sqlite.so with the test's fake host, lms-plugin-check
 * runs it against any storage plugin with lmsd's own host.
 *
 * The suite never assumes where a store lives. A test asks its target for
 * the context of store 1, 2, ... (each one fresh and independent of every
 * other store: its own data dir, and whatever else the backend needs, such
 * as a database name of its own) and opens it with ops->open(host, ctx);
 * after the test, with every store closed, the target removes what it made
 * (test_end). A harness for a new backend only writes these two functions.
 */
#ifndef LMS_STORAGE_SUITE_H
#define LMS_STORAGE_SUITE_H

#include <lms/storage.h>

typedef struct storage_target {
    const struct lms_storage_ops *ops;
    const struct lms_host *host;
    /* The descriptor's name: snapshots say which backend wrote them. */
    const char *name;
    /* The context of store n (1-based) of the running test: the same
     * pointer for the same n until test_end(), a store independent of
     * every other n and every other test. NULL with err set when it cannot
     * be made (the test fails with err's message). */
    struct lms_plugin_ctx *(*store)(void *arg, int n, lms_err *err);
    /* The running test is over and its stores are closed: remove what
     * store() made (data dirs, databases). */
    void (*test_end)(void *arg);
    void *arg;
    /* Nonzero: the plugin is storage_sqlite, whose error messages are
     * checked word for word as well (other backends only have to fill
     * err with some message, storage.h fixes no wording). */
    int exact_messages;
} storage_target;

/* The groups of the suite ("lifecycle", "entities", ...), in run order. */
int storage_suite_groups(void);
const char *storage_suite_group_name(int group);

/* Run one group against t with cmocka (its output format is the
 * caller's: cmocka_set_message_output). Returns the number of tests that
 * failed. t must outlive the call. */
int storage_suite_run_group(const storage_target *t, int group);

/* Every group in order; the number of tests that failed. */
int storage_suite_run(const storage_target *t);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * suite_readers.c: the storage readers of ABI 1.2 (storage.h,
 * readers), through the plugin's ops (skipped where reader_open says
 * LMS_UNIMPLEMENTED, as storage.h allows): a reader sees what was
 * committed and nothing else, its read transaction stays fixed while the
 * writer commits, it refuses writes, it is refused where storage.h says,
 * and readers on threads of their own read consistent states while the
 * writer commits beside them (what lmsd's reader threads do).
 */
#include "suite_fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static void put_user(fixture *fx, const char *name)
{
    lms_user u = {.role = LMS_ROLE_STUDENT, .password_hash = "h"};
    snprintf(u.name, sizeof u.name, "%s", name);
    EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
}

static void *open_reader(fixture *fx)
{
    void *rd = NULL;
    lms_err_clear(&fx->err);
    int rc = fx_ops->reader_open(fx->st, &rd, &fx->err);
    if (rc == LMS_UNIMPLEMENTED) /* storage.h: lmsd then reads on the */
        skip();                  /* instance's own thread */
    if (rc != LMS_OK)
        fail_msg("reader_open returned %d: %s", rc, fx->err.msg);
    assert_non_null(rd);
    return rd;
}

static uint64_t count_users(fixture *fx, void *inst)
{
    uint64_t n = 12345;
    EXPECT_OK(fx_ops->user_count(inst, &n, &fx->err));
    return n;
}

static void test_a_reader_sees_only_what_is_committed(void **state)
{
    fixture *fx = *state;
    void *rd = open_reader(fx);
    lms_user u;
    fx_begin(fx);
    put_user(fx, "alice");
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(rd, "alice", &u, &fx->err));
    assert_int_equal(count_users(fx, rd), 0);
    fx_commit(fx, 5);
    EXPECT_OK(fx_ops->user_get(rd, "alice", &u, &fx->err));
    assert_string_equal(u.name, "alice");
    uint64_t index = 0;
    EXPECT_OK(fx_ops->applied_index(rd, &index, &fx->err));
    assert_int_equal(index, 5);
    /* a rolled-back change never shows */
    fx_begin(fx);
    put_user(fx, "mallory");
    EXPECT_OK(fx_ops->rollback(fx->st, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(rd, "mallory", &u, &fx->err));
    fx_ops->reader_close(rd);
}

static void test_a_read_transaction_stays_fixed(void **state)
{
    fixture *fx = *state;
    fx_begin(fx);
    put_user(fx, "alice");
    fx_commit(fx, 1);
    void *rd = open_reader(fx);
    EXPECT_OK(fx_ops->begin(rd, &fx->err));
    assert_int_equal(count_users(fx, rd), 1);
    fx_begin(fx); /* a reader's transaction does not block the writer */
    put_user(fx, "bob");
    fx_commit(fx, 2);
    assert_int_equal(count_users(fx, rd), 1);
    lms_user u;
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(rd, "bob", &u, &fx->err));
    EXPECT_OK(fx_ops->rollback(rd, &fx->err));
    assert_int_equal(count_users(fx, rd), 2);
    EXPECT_OK(fx_ops->user_get(rd, "bob", &u, &fx->err));
    fx_ops->reader_close(rd);
}

static void test_a_reader_refuses_writes(void **state)
{
    fixture *fx = *state;
    void *rd = open_reader(fx);
    lms_user u = {.name = "eve", .role = LMS_ROLE_STUDENT, .password_hash = "h"};
    EXPECT_CODE(LMS_FAILED_PRECONDITION, fx_ops->user_put(rd, &u, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "reader cannot write");
    EXPECT_OK(fx_ops->begin(rd, &fx->err));
    EXPECT_CODE(LMS_FAILED_PRECONDITION, fx_ops->user_put(rd, &u, &fx->err));
    EXPECT_CODE(LMS_FAILED_PRECONDITION, fx_ops->commit(rd, 9, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "reader cannot write");
    EXPECT_OK(fx_ops->rollback(rd, &fx->err));
    void *nested = NULL;
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->reader_open(rd, &nested, &fx->err));
    assert_null(nested);
    fx_ops->reader_close(rd);
    assert_int_equal(count_users(fx, fx->st), 0);
    uint64_t index = 1;
    EXPECT_OK(fx_ops->applied_index(fx->st, &index, &fx->err));
    assert_int_equal(index, 0);
    fx_ops->reader_close(NULL); /* NULL-safe */
}

static void test_reader_open_is_refused_where_storage_h_says(void **state)
{
    fixture *fx = *state;
    void *rd = open_reader(fx); /* skips a backend without readers */
    fx_ops->reader_close(rd);
    rd = NULL;
    fx_begin(fx);
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->reader_open(fx->st, &rd, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "transaction");
    assert_null(rd);
    fx_commit(fx, 1);
    fixture raw;
    fx_open_store(&raw, 2, 0); /* never migrated */
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->reader_open(raw.st, &rd, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "migrate");
    assert_null(rd);
    fx_close_other(&raw);
}

/* ---- readers on threads of their own, beside the writer ---- */

#define COMMITS 300

typedef struct reader_run {
    fixture *fx;
    void *rd;
    atomic_int *stop;
    long reads;
    char problem[768];
} reader_run;

/* Each commit i adds one user and sets the applied index to i, so in any
 * committed state the count of users equals the index; and a reader must
 * never see the state go back. */
static void *reader_main(void *arg)
{
    reader_run *run = arg;
    lms_err err = {0};
    uint64_t last = 0;
    while (!atomic_load(run->stop) && !run->problem[0]) {
        uint64_t index = 0, n = 0;
        if (fx_ops->begin(run->rd, &err) != LMS_OK ||
            fx_ops->applied_index(run->rd, &index, &err) != LMS_OK ||
            fx_ops->user_count(run->rd, &n, &err) != LMS_OK)
            snprintf(run->problem, sizeof run->problem, "read failed: %s",
                     err.msg);
        else if (n != index)
            snprintf(run->problem, sizeof run->problem,
                     "torn read: %llu users at applied index %llu",
                     (unsigned long long)n, (unsigned long long)index);
        else if (index < last)
            snprintf(run->problem, sizeof run->problem,
                     "went back from index %llu to %llu",
                     (unsigned long long)last, (unsigned long long)index);
        fx_ops->rollback(run->rd, NULL);
        last = index;
        run->reads++;
    }
    return NULL;
}

static void test_readers_on_threads_read_whole_commits(void **state)
{
    fixture *fx = *state;
    atomic_int stop = 0;
    reader_run runs[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        runs[i] = (reader_run){.fx = fx, .rd = open_reader(fx), .stop = &stop};
        assert_int_equal(pthread_create(&threads[i], NULL, reader_main,
                                        &runs[i]), 0);
    }
    for (int i = 1; i <= COMMITS; i++) {
        char name[32];
        snprintf(name, sizeof name, "user%d", i);
        fx_begin(fx);
        put_user(fx, name);
        fx_commit(fx, (uint64_t)i);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        if (runs[i].problem[0])
            fail_msg("reader %d: %s", i, runs[i].problem);
        assert_true(runs[i].reads > 0);
        /* after the last commit returned, a new read sees all of it */
        assert_int_equal(count_users(fx, runs[i].rd), COMMITS);
        fx_ops->reader_close(runs[i].rd);
    }
}

/* A snapshot installed on the instance replaces what its readers see. */
static int snap_sink(void *arg, const void *buf, size_t len)
{
    FILE *f = arg;
    return fwrite(buf, 1, len, f) == len ? 0 : -1;
}

static int snap_source(void *arg, void *buf, size_t len)
{
    FILE *f = arg;
    return fread(buf, 1, len, f) == len ? 0 : -1;
}

static void test_readers_see_an_installed_snapshot(void **state)
{
    fixture *fx = *state;
    fx_begin(fx);
    put_user(fx, "alice");
    fx_commit(fx, 10);
    FILE *f = tmpfile();
    assert_non_null(f);
    lms_snapshot_header h = {.index = 10, .term = 1};
    uint8_t digest[LMS_SHA256_LEN];
    EXPECT_OK(fx_ops->snapshot_write(fx->st, &h, snap_sink, f, digest,
                                     &fx->err));
    fx_begin(fx);
    put_user(fx, "bob");
    fx_commit(fx, 11);
    void *rd = open_reader(fx);
    assert_int_equal(count_users(fx, rd), 2);
    rewind(f);
    lms_snapshot_header got;
    EXPECT_OK(fx_ops->snapshot_read(fx->st, snap_source, f, &got, &fx->err));
    fclose(f);
    assert_int_equal(count_users(fx, rd), 1);
    lms_user u;
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(rd, "bob", &u, &fx->err));
    uint64_t index = 0;
    EXPECT_OK(fx_ops->applied_index(rd, &index, &fx->err));
    assert_int_equal(index, 10);
    fx_ops->reader_close(rd);
}

int suite_reader_tests(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_a_reader_sees_only_what_is_committed),
        T(test_a_read_transaction_stays_fixed),
        T(test_a_reader_refuses_writes),
        T(test_reader_open_is_refused_where_storage_h_says),
        T(test_readers_on_threads_read_whole_commits),
        T(test_readers_see_an_installed_snapshot),
#undef T
    };
    return cmocka_run_group_tests_name("storage suite: readers", tests, NULL,
                                       NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * suite_lifecycle.c: the lifecycle every storage plugin must keep, through
 * its ops only: a complete ops table, migrate on a fresh store (empty,
 * applied index 0), migrate idempotent and its version stable across a
 * reopen, ops refused before migrate, transactions (commit records the
 * applied index, all 64 bits; rollback discards data and index; misuse
 * refused; writes outside a transaction refused), close rolling back an
 * open transaction, a crash between two applies, and a reopen that keeps
 * every table.
 */
#include "suite_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_user(fixture *fx, const char *name)
{
    lms_user u = {.role = LMS_ROLE_STUDENT, .password_hash = "h"};
    snprintf(u.name, sizeof u.name, "%s", name);
    EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
}

static uint64_t applied(fixture *fx)
{
    uint64_t index = 12345;
    EXPECT_OK(fx_ops->applied_index(fx->st, &index, &fx->err));
    return index;
}

#define REQUIRE_OP(name)                                                     \
    do {                                                                     \
        if (fx_ops->name == NULL)                                            \
            fail_msg("ops->" #name " is NULL; every callback is required");  \
    } while (0)

/* Every callback of ABI 1.4 is there, and the table says its size. */
static void test_ops_table_is_complete(void **state)
{
    (void)state;
    assert_int_equal(fx_ops->size, sizeof(struct lms_storage_ops));
    REQUIRE_OP(open); REQUIRE_OP(close); REQUIRE_OP(migrate);
    REQUIRE_OP(begin); REQUIRE_OP(commit); REQUIRE_OP(rollback);
    REQUIRE_OP(applied_index);
    REQUIRE_OP(user_put); REQUIRE_OP(user_get); REQUIRE_OP(user_list);
    REQUIRE_OP(user_count); REQUIRE_OP(course_put); REQUIRE_OP(course_get);
    REQUIRE_OP(course_list); REQUIRE_OP(enrolment_put);
    REQUIRE_OP(enrolment_get); REQUIRE_OP(enrolment_list);
    REQUIRE_OP(assignment_put); REQUIRE_OP(assignment_get);
    REQUIRE_OP(assignment_list); REQUIRE_OP(extension_put);
    REQUIRE_OP(extension_get); REQUIRE_OP(submission_put);
    REQUIRE_OP(submission_get); REQUIRE_OP(submission_list);
    REQUIRE_OP(submission_count); REQUIRE_OP(grade_put);
    REQUIRE_OP(grade_get); REQUIRE_OP(grade_list); REQUIRE_OP(query_put);
    REQUIRE_OP(query_get); REQUIRE_OP(query_list); REQUIRE_OP(reply_put);
    REQUIRE_OP(reply_list); REQUIRE_OP(material_put);
    REQUIRE_OP(material_get); REQUIRE_OP(material_list);
    REQUIRE_OP(session_put); REQUIRE_OP(session_get);
    REQUIRE_OP(session_delete); REQUIRE_OP(session_prune);
    REQUIRE_OP(client_get); REQUIRE_OP(client_put); REQUIRE_OP(client_prune);
    REQUIRE_OP(course_settings_put); REQUIRE_OP(course_settings_get);
    REQUIRE_OP(query_count); REQUIRE_OP(snapshot_write);
    REQUIRE_OP(snapshot_read); REQUIRE_OP(snapshot_pin);
    REQUIRE_OP(snapshot_write_view); REQUIRE_OP(snapshot_unpin);
    REQUIRE_OP(session_list_user); REQUIRE_OP(reader_open);
    REQUIRE_OP(reader_close); REQUIRE_OP(meta_get); REQUIRE_OP(meta_put);
    REQUIRE_OP(record_put); REQUIRE_OP(record_get);
    REQUIRE_OP(record_delete); REQUIRE_OP(record_list);
}

static void test_fresh_store_is_migrated_and_empty(void **state)
{
    fixture *fx = *state;
    assert_true(fx->version >= 1);
    assert_int_equal(applied(fx), 0);
    uint64_t n = 99;
    EXPECT_OK(fx_ops->user_count(fx->st, &n, &fx->err));
    assert_int_equal(n, 0);
    char *all = fx_list_everything(fx);
    assert_string_equal(all, "applied 0\n");
    free(all);
}

static void test_commit_records_applied_index(void **state)
{
    fixture *fx = *state;
    fx_begin(fx);
    put_user(fx, "alice");
    fx_commit(fx, 7);
    assert_int_equal(applied(fx), 7);

    fx_begin(fx);
    put_user(fx, "bob");
    fx_commit(fx, 9);
    assert_int_equal(applied(fx), 9);

    /* The index is stored as written, all 64 bits of it. */
    fx_begin(fx);
    fx_commit(fx, UINT64_MAX - 1);
    assert_true(applied(fx) == UINT64_MAX - 1);
    EXPECT_OK(fx_reopen(fx));
    assert_true(applied(fx) == UINT64_MAX - 1);
}

static void test_rollback_discards_data_and_index(void **state)
{
    fixture *fx = *state;
    fx_begin(fx);
    put_user(fx, "alice");
    fx_commit(fx, 3);

    fx_begin(fx);
    put_user(fx, "mallory");
    lms_user u;
    EXPECT_OK(fx_ops->user_get(fx->st, "mallory", &u, &fx->err));
    EXPECT_OK(fx_ops->rollback(fx->st, &fx->err));

    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(fx->st, "mallory", &u,
                                                &fx->err));
    EXPECT_OK(fx_ops->user_get(fx->st, "alice", &u, &fx->err));
    assert_int_equal(applied(fx), 3);

    /* A failed commit (no transaction) must not move the index either. */
    EXPECT_CODE(LMS_FAILED_PRECONDITION, fx_ops->commit(fx->st, 4, &fx->err));
    assert_int_equal(applied(fx), 3);

    /* And a rolled-back transaction leaves nothing behind on disk. */
    EXPECT_OK(fx_reopen(fx));
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(fx->st, "mallory", &u,
                                                &fx->err));
    assert_int_equal(applied(fx), 3);
}

static void test_writes_need_a_transaction(void **state)
{
    fixture *fx = *state;
    lms_user u = {.name = "eve", .password_hash = "h"};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->user_put(fx->st, &u, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "user_put");
    EXPECT_MESSAGE(fx->err.msg, "begin");
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->session_prune(fx->st, 0, &fx->err));
    lms_course c = {.code = "CS101", .title = "t"};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->course_put(fx->st, &c, &fx->err));
    uint64_t n = 1;
    EXPECT_OK(fx_ops->user_count(fx->st, &n, &fx->err));
    assert_int_equal(n, 0);
    lms_course got;
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->course_get(fx->st, "CS101", &got,
                                                  &fx->err));
}

static void test_transaction_misuse_is_refused(void **state)
{
    fixture *fx = *state;
    EXPECT_CODE(LMS_FAILED_PRECONDITION, fx_ops->commit(fx->st, 1, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "no transaction");
    EXPECT_OK(fx_ops->rollback(fx->st, &fx->err)); /* nothing open: no-op */
    fx_begin(fx);
    EXPECT_CODE(LMS_FAILED_PRECONDITION, fx_ops->begin(fx->st, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "already open");
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->migrate(fx->st, NULL, &fx->err));
    fx_commit(fx, 1);
    assert_int_equal(applied(fx), 1);
}

static void test_close_rolls_back_an_open_transaction(void **state)
{
    fixture *fx = *state;
    fx_begin(fx);
    put_user(fx, "ghost");
    EXPECT_OK(fx_reopen(fx));
    lms_user u;
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(fx->st, "ghost", &u,
                                                &fx->err));
    assert_int_equal(applied(fx), 0);
}

/* lmsd dies between two applies: the first committed, the second was
 * writing when the process went (close without commit is all a test can
 * do). After a restart the first apply's rows and index are there and
 * nothing of the second, so lmsd replays exactly the second. */
static void test_crash_between_two_applies(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx); /* index 1 */
    fx_begin(fx);
    lms_assignment a = {.id = 10, .course = "CS101", .title = "Lab",
                        .description = "", .created_by = "ian"};
    EXPECT_OK(fx_ops->assignment_put(fx->st, &a, &fx->err));
    fx_commit(fx, 2);
    fx_begin(fx);
    a.id = 11;
    EXPECT_OK(fx_ops->assignment_put(fx->st, &a, &fx->err));
    lms_user u = {.name = "zed", .password_hash = "h"};
    EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
    EXPECT_OK(fx_reopen(fx)); /* the crash */
    assert_int_equal(applied(fx), 2);
    lms_assignment got;
    EXPECT_OK(fx_ops->assignment_get(fx->st, 10, &got, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->assignment_get(fx->st, 11, &got,
                                                      &fx->err));
    lms_user gu;
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(fx->st, "zed", &gu,
                                                &fx->err));
    /* The replay of the second apply goes through. */
    fx_begin(fx);
    EXPECT_OK(fx_ops->assignment_put(fx->st, &a, &fx->err));
    fx_commit(fx, 3);
    EXPECT_OK(fx_ops->assignment_get(fx->st, 11, &got, &fx->err));
    assert_int_equal(applied(fx), 3);
}

static void test_reopen_keeps_everything(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    fx_begin(fx);
    lms_session s = {.user = "alice", .created = 5, .expires = 500};
    memset(s.token_hash, 0xab, sizeof s.token_hash);
    EXPECT_OK(fx_ops->session_put(fx->st, &s, &fx->err));
    fx_commit(fx, 42);

    /* Reopened without migrate: a current schema is usable at once. */
    EXPECT_OK(fx_reopen(fx));
    assert_int_equal(applied(fx), 42);
    uint64_t n = 0;
    EXPECT_OK(fx_ops->user_count(fx->st, &n, &fx->err));
    assert_int_equal(n, 4);
    lms_user u;
    EXPECT_OK(fx_ops->user_get(fx->st, "ian", &u, &fx->err));
    assert_int_equal(u.role, LMS_ROLE_INSTRUCTOR);
    int role = -1;
    EXPECT_OK(fx_ops->enrolment_get(fx->st, "MA201", "carol", &role,
                                    &fx->err));
    assert_int_equal(role, LMS_ROLE_STUDENT);
    lms_session got;
    EXPECT_OK(fx_ops->session_get(fx->st, s.token_hash, &got, &fx->err));
    assert_int_equal(got.expires, 500);
}

/* Every kind of row survives a close and open: the whole listing and the
 * digest are what they were. */
static void test_reopen_keeps_every_table(void **state)
{
    fixture *fx = *state;
    fx_fill_everything(fx);
    char *before = fx_list_everything(fx);
    uint8_t d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN];
    fx_digest(fx, FX_FILLED_INDEX, d1);
    EXPECT_OK(fx_reopen(fx));
    char *after = fx_list_everything(fx);
    assert_string_equal(after, before);
    fx_digest(fx, FX_FILLED_INDEX, d2);
    assert_memory_equal(d1, d2, LMS_SHA256_LEN);
    free(before);
    free(after);
}

static void test_migrate_is_idempotent(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    for (int i = 0; i < 3; i++) {
        int v = -1;
        EXPECT_OK(fx_ops->migrate(fx->st, &v, &fx->err));
        if (v != fx->version)
            fail_msg("migrate #%d reported version %d, first run %d", i + 2,
                     v, fx->version);
    }
    EXPECT_OK(fx_reopen(fx));
    int v = -1;
    EXPECT_OK(fx_ops->migrate(fx->st, &v, &fx->err));
    if (v != fx->version)
        fail_msg("after a reopen migrate reported version %d, before %d", v,
                 fx->version);
    uint64_t n = 0;
    EXPECT_OK(fx_ops->user_count(fx->st, &n, &fx->err));
    if (n != 4)
        fail_msg("re-running migrate lost data: %llu users, expected 4",
                 (unsigned long long)n);
    assert_int_equal(applied(fx), 1);
}

/* A store that was never migrated refuses everything but migrate (and
 * close); migrate makes it usable. */
static void test_ops_refused_before_migrate(void **state)
{
    fixture *fx = *state, raw;
    fx_open_store(&raw, 2, 0);
    fixture *outer = fx;
    fx = &raw;
    uint64_t n;
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->user_count(fx->st, &n, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "migrate");
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->applied_index(fx->st, &n, &fx->err));
    int v = 0;
    EXPECT_OK(fx_ops->migrate(fx->st, &v, &fx->err));
    assert_int_equal(v, outer->version);
    EXPECT_OK(fx_ops->user_count(fx->st, &n, &fx->err));
    assert_int_equal(n, 0);
    fx_close_other(&raw);
}

int suite_lifecycle_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_table_is_complete),
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_fresh_store_is_migrated_and_empty),
        T(test_commit_records_applied_index),
        T(test_rollback_discards_data_and_index),
        T(test_writes_need_a_transaction),
        T(test_transaction_misuse_is_refused),
        T(test_close_rolls_back_an_open_transaction),
        T(test_crash_between_two_applies),
        T(test_reopen_keeps_everything),
        T(test_reopen_keeps_every_table),
        T(test_migrate_is_idempotent),
        T(test_ops_refused_before_migrate),
#undef T
    };
    return cmocka_run_group_tests_name("storage suite: lifecycle", tests,
                                       NULL, NULL);
}

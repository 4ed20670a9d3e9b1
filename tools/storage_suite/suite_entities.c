/* SPDX-License-Identifier: MIT */
/*
 * suite_entities.c: every put/get/list of a storage plugin against the
 * contract in include/lms/storage.h: round trips of every
 * field (blobs with NUL bytes, a 5 MB file, SHA-256s, 64-bit ids, fields at
 * their maximum length), NOT_FOUND, list order and filters, early stop of a
 * walk, replace semantics, insert-only submissions, the graded flag,
 * grade views, foreign keys, sessions and client records with pruning,
 * the tutor's query fields, query counts by time window and course
 * settings.
 *
 * Lists are checked by collecting a key per row into "a,b,c" and comparing
 * the whole string, so a failure shows the order that came instead.
 */
#include "suite_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- collectors: one per row type ---- */

static int collect_user(void *arg, const void *row)
{
    const lms_user *u = row;
    collect_add(arg, "%s", u->name);
    return collect_stop(arg);
}

static int collect_course(void *arg, const void *row)
{
    const lms_course *c = row;
    collect_add(arg, "%s:%d", c->code, c->my_role);
    return collect_stop(arg);
}

static int collect_enrolment(void *arg, const void *row)
{
    const lms_enrolment *e = row;
    collect_add(arg, "%s/%s:%d", e->course, e->user, e->role);
    return collect_stop(arg);
}

static int collect_assignment(void *arg, const void *row)
{
    const lms_assignment *a = row;
    collect_add(arg, "%llu%s", (unsigned long long)a->id,
                a->description ? "" : "(NULL description)");
    return collect_stop(arg);
}

/* "id", "id+g" when graded, "!" appended if a list row carries data. */
static int collect_submission(void *arg, const void *row)
{
    const lms_submission *x = row;
    collect_add(arg, "%llu%s%s", (unsigned long long)x->id,
                x->graded ? "+g" : "", x->data ? "!" : "");
    return collect_stop(arg);
}

/* "submission:student:course:grade", flagging a view that breaks the
 * contract (data set, graded clear, NULL feedback, ids that disagree). */
static int collect_grade_view(void *arg, const void *row)
{
    const lms_grade_view *v = row;
    int bad = v->submission->data != NULL || !v->submission->graded ||
              v->grade->feedback == NULL ||
              v->grade->submission_id != v->submission->id ||
              v->submission->assignment_id != v->assignment->id ||
              v->assignment->description == NULL;
    collect_add(arg, "%llu:%s:%s:%g%s", (unsigned long long)v->submission->id,
                v->submission->student, v->assignment->course,
                v->grade->grade, bad ? "(BAD VIEW)" : "");
    return collect_stop(arg);
}

static int collect_query(void *arg, const void *row)
{
    const lms_query *q = row;
    collect_add(arg, "%llu%s%s", (unsigned long long)q->id,
                q->resolved ? "+r" : "", q->shared ? "+s" : "");
    return collect_stop(arg);
}

static int collect_reply(void *arg, const void *row)
{
    const lms_reply *r = row;
    collect_add(arg, "%llu:%s", (unsigned long long)r->id, r->text);
    return collect_stop(arg);
}

static int collect_material(void *arg, const void *row)
{
    const lms_material *m = row;
    collect_add(arg, "%llu%s", (unsigned long long)m->id, m->data ? "!" : "");
    return collect_stop(arg);
}

/* ---- builders and seeds ---- */

static void fill_sha(uint8_t sha[LMS_SHA256_LEN], unsigned seed)
{
    for (unsigned i = 0; i < LMS_SHA256_LEN; i++)
        sha[i] = (uint8_t)(i % 4 == 0 ? 0 : seed * 31 + i); /* has NULs */
}

static lms_assignment make_assignment(uint64_t id, const char *course)
{
    lms_assignment a = {.id = id, .description = "Write a shell.\n\xc3\xa9",
                        .due = 1700000000000LL, .cutoff = 1700086400000LL,
                        .max_points = 12.5, .max_attempts = 3,
                        .max_size = 5000000000ULL, .hold_grades = 1,
                        .created = 1690000000000LL, .created_by = "ian"};
    snprintf(a.course, sizeof a.course, "%s", course);
    snprintf(a.title, sizeof a.title, "Assignment %llu",
             (unsigned long long)id);
    return a;
}

/* Assignments 10 (CS101), 11 (MA201), 12 (CS101), put out of order. */
static void seed_assignments(fixture *fx)
{
    fx_begin(fx);
    uint64_t ids[] = {12, 10, 11};
    for (int i = 0; i < 3; i++) {
        lms_assignment a = make_assignment(ids[i], ids[i] == 11 ? "MA201"
                                                                : "CS101");
        EXPECT_OK(fx_ops->assignment_put(fx->st, &a, &fx->err));
    }
    fx_commit(fx, 2);
}

static lms_submission make_submission(uint64_t id, uint64_t assignment,
                                      const char *student, uint32_t attempt)
{
    static const char body[] = "int main(void)\0{ return 0; }\0";
    lms_submission x = {.id = id, .assignment_id = assignment,
                        .size = sizeof body, .submitted = 1700000000000LL,
                        .attempt = attempt, .data = body};
    snprintf(x.student, sizeof x.student, "%s", student);
    snprintf(x.file_name, sizeof x.file_name, "main-%llu.c",
             (unsigned long long)id);
    fill_sha(x.sha256, (unsigned)id);
    return x;
}

/* Submissions 101..105, put out of order:
 * 101 (a10 bob #1), 102 (a10 alice #1), 103 (a11 alice #1),
 * 104 (a12 bob #1), 105 (a10 alice #2). */
static void seed_submissions(fixture *fx)
{
    seed_assignments(fx);
    lms_submission xs[] = {
        make_submission(105, 10, "alice", 2),
        make_submission(101, 10, "bob", 1),
        make_submission(103, 11, "alice", 1),
        make_submission(102, 10, "alice", 1),
        make_submission(104, 12, "bob", 1),
    };
    fx_begin(fx);
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        EXPECT_OK(fx_ops->submission_put(fx->st, &xs[i], &fx->err));
    fx_commit(fx, 3);
}

/* ---- users ---- */

static void test_user_roundtrip_and_replace(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    lms_user u;
    EXPECT_OK(fx_ops->user_get(fx->st, "alice", &u, &fx->err));
    assert_string_equal(u.name, "alice");
    assert_string_equal(u.full_name, "Full alice");
    assert_int_equal(u.role, LMS_ROLE_STUDENT);
    assert_string_equal(u.password_hash, "$argon2id$fake");
    assert_int_equal(u.created, 1000);

    fx_begin(fx);
    lms_user again = {.name = "alice", .full_name = "Alice Liddell \xe2\x9c\x93",
                      .role = LMS_ROLE_ADMIN, .password_hash = "$new",
                      .created = 5};
    EXPECT_OK(fx_ops->user_put(fx->st, &again, &fx->err));
    lms_user nohash = {.name = "nohash", .full_name = "No Hash"};
    EXPECT_OK(fx_ops->user_put(fx->st, &nohash, &fx->err));
    fx_commit(fx, 2);

    EXPECT_OK(fx_ops->user_get(fx->st, "alice", &u, &fx->err));
    assert_string_equal(u.full_name, again.full_name);
    assert_int_equal(u.role, LMS_ROLE_ADMIN);
    assert_string_equal(u.password_hash, "$new");
    assert_int_equal(u.created, 5);
    uint64_t n = 0;
    EXPECT_OK(fx_ops->user_count(fx->st, &n, &fx->err));
    if (n != 5)
        fail_msg("replace must not add a row: %llu users, expected 5",
                 (unsigned long long)n);
    EXPECT_OK(fx_ops->user_get(fx->st, "nohash", &u, &fx->err));
    assert_non_null(u.password_hash);
    assert_string_equal(u.password_hash, "");
}

static void test_user_not_found(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    lms_user u;
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(fx->st, "zoe", &u, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "zoe");
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(fx->st, "Alice", &u,
                                                &fx->err)); /* exact case */
}

static void test_user_list_is_in_byte_order_and_stoppable(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    fx_begin(fx);
    lms_user zed = {.name = "Zed"}, adam = {.name = "\xc3\xa4" "dam"};
    EXPECT_OK(fx_ops->user_put(fx->st, &adam, &fx->err));
    EXPECT_OK(fx_ops->user_put(fx->st, &zed, &fx->err));
    fx_commit(fx, 2);

    collect all = {.limit = 0};
    EXPECT_OK(fx_ops->user_list(fx->st, collect_user, &all, &fx->err));
    /* Byte order (memcmp), the same for every backend: upper case before
     * lower case, multi-byte UTF-8 after ASCII. */
    assert_string_equal(all.out, "Zed,alice,bob,carol,ian,\xc3\xa4" "dam");

    collect two = {.limit = 2};
    EXPECT_OK(fx_ops->user_list(fx->st, collect_user, &two, &fx->err));
    assert_string_equal(two.out, "Zed,alice");
}

static void test_fields_at_maximum_length_are_kept_whole(void **state)
{
    fixture *fx = *state;
    lms_user u = {.password_hash = "h"}, got;
    memset(u.name, 'n', LMS_NAME_MAX);
    memset(u.full_name, 'f', LMS_TITLE_MAX);
    fx_begin(fx);
    EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
    fx_commit(fx, 1);
    EXPECT_OK(fx_ops->user_get(fx->st, u.name, &got, &fx->err));
    assert_int_equal(strlen(got.name), LMS_NAME_MAX);
    assert_int_equal(strlen(got.full_name), LMS_TITLE_MAX);
    assert_string_equal(got.full_name, u.full_name);
}

static void test_unterminated_field_is_truncated_not_overrun(void **state)
{
    fixture *fx = *state;
    lms_user u = {.name = "overflow", .password_hash = "h"}, got;
    memset(u.full_name, 'x', sizeof u.full_name); /* no NUL at all */
    fx_begin(fx);
    EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
    fx_commit(fx, 1);
    EXPECT_OK(fx_ops->user_get(fx->st, "overflow", &got, &fx->err));
    assert_int_equal(strlen(got.full_name), LMS_TITLE_MAX);
    assert_int_equal(got.full_name[0], 'x');
}

/* ---- courses and enrolments ---- */

static void test_course_roundtrip_and_lists(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    lms_course c;
    EXPECT_OK(fx_ops->course_get(fx->st, "CS101", &c, &fx->err));
    assert_string_equal(c.title, "Programming in C");
    assert_int_equal(c.created, 2000);
    assert_int_equal(c.my_role, 0);
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->course_get(fx->st, "XX", &c, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "XX");

    collect all = {0}, alice = {0}, ian = {0}, bob = {0}, nobody = {0};
    EXPECT_OK(fx_ops->course_list(fx->st, NULL, collect_course, &all,
                                  &fx->err));
    assert_string_equal(all.out, "CS101:0,MA201:0");
    EXPECT_OK(fx_ops->course_list(fx->st, "alice", collect_course, &alice,
                                  &fx->err));
    assert_string_equal(alice.out, "CS101:1,MA201:1");
    EXPECT_OK(fx_ops->course_list(fx->st, "ian", collect_course, &ian,
                                  &fx->err));
    assert_string_equal(ian.out, "CS101:2,MA201:2");
    EXPECT_OK(fx_ops->course_list(fx->st, "bob", collect_course, &bob,
                                  &fx->err));
    assert_string_equal(bob.out, "CS101:1");
    EXPECT_OK(fx_ops->course_list(fx->st, "nobody", collect_course, &nobody,
                                  &fx->err));
    assert_string_equal(nobody.out, "");

    fx_begin(fx);
    lms_course renamed = {.code = "CS101", .title = "C, again", .created = 9};
    EXPECT_OK(fx_ops->course_put(fx->st, &renamed, &fx->err));
    fx_commit(fx, 2);
    EXPECT_OK(fx_ops->course_get(fx->st, "CS101", &c, &fx->err));
    assert_string_equal(c.title, "C, again");
    assert_int_equal(c.created, 9);
    /* Replacing a course keeps its enrolments (an update, not a delete). */
    collect again = {0};
    EXPECT_OK(fx_ops->course_list(fx->st, "bob", collect_course, &again,
                                  &fx->err));
    assert_string_equal(again.out, "CS101:1");
}

static void test_enrolments(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    int role = -1;
    EXPECT_OK(fx_ops->enrolment_get(fx->st, "CS101", "ian", &role, &fx->err));
    assert_int_equal(role, LMS_ROLE_INSTRUCTOR);
    role = -1;
    EXPECT_OK(fx_ops->enrolment_get(fx->st, "CS101", "carol", &role,
                                    &fx->err));
    if (role != LMS_ROLE_NONE)
        fail_msg("not enrolled must be LMS_OK with role NONE, got %d", role);

    collect any = {0}, students = {0}, teachers = {0}, none = {0};
    EXPECT_OK(fx_ops->enrolment_list(fx->st, "CS101", 0, collect_enrolment,
                                     &any, &fx->err));
    assert_string_equal(any.out, "CS101/alice:1,CS101/bob:1,CS101/ian:2");
    EXPECT_OK(fx_ops->enrolment_list(fx->st, "CS101", LMS_ROLE_STUDENT,
                                     collect_enrolment, &students, &fx->err));
    assert_string_equal(students.out, "CS101/alice:1,CS101/bob:1");
    EXPECT_OK(fx_ops->enrolment_list(fx->st, "MA201", LMS_ROLE_INSTRUCTOR,
                                     collect_enrolment, &teachers, &fx->err));
    assert_string_equal(teachers.out, "MA201/ian:2");
    EXPECT_OK(fx_ops->enrolment_list(fx->st, "XX", 0, collect_enrolment,
                                     &none, &fx->err));
    assert_string_equal(none.out, "");

    fx_begin(fx);
    lms_enrolment promote = {.course = "CS101", .user = "bob",
                             .role = LMS_ROLE_INSTRUCTOR};
    EXPECT_OK(fx_ops->enrolment_put(fx->st, &promote, &fx->err));
    fx_commit(fx, 2);
    collect after = {0};
    EXPECT_OK(fx_ops->enrolment_list(fx->st, "CS101", 0, collect_enrolment,
                                     &after, &fx->err));
    assert_string_equal(after.out, "CS101/alice:1,CS101/bob:2,CS101/ian:2");
}

/* An enrolment whose role is LMS_ROLE_NONE (lmsd's unenroll: the user
 * left the course, their work stays): enrolment_get answers NONE, as for
 * one never enrolled; a role's list leaves it out; the lists of any role
 * and of a user's courses keep the row, with role / my_role 0, so lmsd can
 * tell the courses a user left. Enrolling again replaces it. */
static void test_enrolment_with_no_role(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    fx_begin(fx);
    lms_enrolment left = {.course = "CS101", .user = "bob", .role = LMS_ROLE_NONE};
    EXPECT_OK(fx_ops->enrolment_put(fx->st, &left, &fx->err));
    fx_commit(fx, 2);
    int role = -1;
    EXPECT_OK(fx_ops->enrolment_get(fx->st, "CS101", "bob", &role, &fx->err));
    if (role != LMS_ROLE_NONE)
        fail_msg("a row with no role must read as role NONE, got %d", role);
    collect any = {0}, students = {0}, courses = {0};
    EXPECT_OK(fx_ops->enrolment_list(fx->st, "CS101", 0, collect_enrolment, &any,
                                     &fx->err));
    assert_string_equal(any.out, "CS101/alice:1,CS101/bob:0,CS101/ian:2");
    EXPECT_OK(fx_ops->enrolment_list(fx->st, "CS101", LMS_ROLE_STUDENT,
                                     collect_enrolment, &students, &fx->err));
    assert_string_equal(students.out, "CS101/alice:1");
    EXPECT_OK(fx_ops->course_list(fx->st, "bob", collect_course, &courses, &fx->err));
    assert_string_equal(courses.out, "CS101:0");

    fx_begin(fx);
    lms_enrolment back = {.course = "CS101", .user = "bob", .role = LMS_ROLE_STUDENT};
    EXPECT_OK(fx_ops->enrolment_put(fx->st, &back, &fx->err));
    fx_commit(fx, 3);
    EXPECT_OK(fx_ops->enrolment_get(fx->st, "CS101", "bob", &role, &fx->err));
    assert_int_equal(role, LMS_ROLE_STUDENT);
}

static void test_foreign_keys_are_enforced(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    fx_begin(fx);
    lms_enrolment ghost = {.course = "NOPE", .user = "alice", .role = 1};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->enrolment_put(fx->st, &ghost, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "enrolment_put");
    EXPECT_MESSAGE(fx->err.msg, "FOREIGN KEY");
    lms_enrolment nouser = {.course = "CS101", .user = "zoe", .role = 1};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->enrolment_put(fx->st, &nouser, &fx->err));
    lms_assignment a = make_assignment(77, "NOPE");
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->assignment_put(fx->st, &a, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "assignment_put");
    /* A failed statement leaves the transaction usable. */
    fx_commit(fx, 2);
    assert_int_equal(fx->err.code, LMS_OK);
}

/* ---- assignments and extensions ---- */

static void test_assignment_roundtrip_and_replace(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    seed_assignments(fx);
    lms_assignment want = make_assignment(10, "CS101"), got;
    EXPECT_OK(fx_ops->assignment_get(fx->st, 10, &got, &fx->err));
    assert_int_equal(got.id, 10);
    assert_string_equal(got.course, "CS101");
    assert_string_equal(got.title, want.title);
    assert_string_equal(got.description, want.description);
    assert_int_equal(got.due, want.due);
    assert_int_equal(got.cutoff, want.cutoff);
    assert_true(got.max_points == 12.5);
    assert_int_equal(got.max_attempts, 3);
    assert_true(got.max_size == 5000000000ULL);
    assert_int_equal(got.hold_grades, 1);
    assert_int_equal(got.released, 0);
    assert_int_equal(got.created, want.created);
    assert_string_equal(got.created_by, "ian");

    fx_begin(fx);
    want.released = 1;
    want.description = NULL;
    snprintf(want.title, sizeof want.title, "Shell, revised");
    EXPECT_OK(fx_ops->assignment_put(fx->st, &want, &fx->err));
    fx_commit(fx, 3);
    EXPECT_OK(fx_ops->assignment_get(fx->st, 10, &got, &fx->err));
    assert_string_equal(got.title, "Shell, revised");
    assert_int_equal(got.released, 1);
    assert_non_null(got.description);
    assert_string_equal(got.description, "");

    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->assignment_get(fx->st, 99, &got,
                                                      &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "99");
}

static void test_assignment_list_filters_and_order(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    seed_assignments(fx);
    collect all = {0}, cs = {0}, ma = {0}, none = {0}, first = {.limit = 1};
    EXPECT_OK(fx_ops->assignment_list(fx->st, NULL, collect_assignment, &all,
                                      &fx->err));
    assert_string_equal(all.out, "10,11,12");
    EXPECT_OK(fx_ops->assignment_list(fx->st, "CS101", collect_assignment,
                                      &cs, &fx->err));
    assert_string_equal(cs.out, "10,12");
    EXPECT_OK(fx_ops->assignment_list(fx->st, "MA201", collect_assignment,
                                      &ma, &fx->err));
    assert_string_equal(ma.out, "11");
    EXPECT_OK(fx_ops->assignment_list(fx->st, "XX", collect_assignment,
                                      &none, &fx->err));
    assert_string_equal(none.out, "");
    EXPECT_OK(fx_ops->assignment_list(fx->st, NULL, collect_assignment,
                                      &first, &fx->err));
    assert_string_equal(first.out, "10");
}

static void test_extensions(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    seed_assignments(fx);
    fx_begin(fx);
    lms_extension x = {.assignment_id = 10, .student = "alice", .until = 100};
    EXPECT_OK(fx_ops->extension_put(fx->st, &x, &fx->err));
    x.until = 200; /* replaces */
    EXPECT_OK(fx_ops->extension_put(fx->st, &x, &fx->err));
    lms_extension bad = {.assignment_id = 99, .student = "alice"};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->extension_put(fx->st, &bad, &fx->err));
    fx_commit(fx, 3);

    lms_extension got;
    EXPECT_OK(fx_ops->extension_get(fx->st, 10, "alice", &got, &fx->err));
    assert_int_equal(got.assignment_id, 10);
    assert_string_equal(got.student, "alice");
    assert_int_equal(got.until, 200);
    EXPECT_CODE(LMS_NOT_FOUND,
                fx_ops->extension_get(fx->st, 10, "bob", &got, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND,
                fx_ops->extension_get(fx->st, 11, "alice", &got, &fx->err));
}

/* ---- submissions ---- */

static void test_submission_blob_roundtrip(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    seed_assignments(fx);
    lms_submission x = make_submission(100, 10, "alice", 1), got;
    memset(x.file_name, 'F', LMS_FILENAME_MAX); /* longest file name */
    x.late = 1;
    lms_submission empty = make_submission(106, 10, "alice", 2);
    empty.size = 0;
    fx_begin(fx);
    EXPECT_OK(fx_ops->submission_put(fx->st, &x, &fx->err));
    EXPECT_OK(fx_ops->submission_put(fx->st, &empty, &fx->err));
    fx_commit(fx, 3);

    EXPECT_OK(fx_ops->submission_get(fx->st, 100, 1, &got, &fx->err));
    assert_int_equal(got.id, 100);
    assert_int_equal(got.assignment_id, 10);
    assert_string_equal(got.student, "alice");
    assert_string_equal(got.file_name, x.file_name);
    assert_int_equal(got.size, x.size);
    assert_memory_equal(got.sha256, x.sha256, LMS_SHA256_LEN);
    assert_int_equal(got.submitted, x.submitted);
    assert_int_equal(got.late, 1);
    assert_int_equal(got.attempt, 1);
    assert_int_equal(got.graded, 0);
    /* ABI 1.2: the body is the host's (host.h, file store); a get never
     * hands one out, with_data or not */
    if (got.data != NULL)
        fail_msg("submission_get must leave data NULL");

    EXPECT_OK(fx_ops->submission_get(fx->st, 100, 0, &got, &fx->err));
    if (got.data != NULL)
        fail_msg("submission_get without data must leave data NULL");

    EXPECT_OK(fx_ops->submission_get(fx->st, 106, 1, &got, &fx->err));
    assert_int_equal(got.size, 0);

    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->submission_get(fx->st, 999, 1, &got,
                                                      &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "999");
}

/* ABI 1.2: a put's data is not the store's business: a 5 MB body handed
 * to submission_put is ignored, and the row survives a reopen with its
 * size and SHA-256 (that the database stays small is storage_sqlite's
 * test_storage_sqlite.c). */
static void test_submission_bodies_stay_out_of_the_database(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    seed_assignments(fx);
    size_t size = 5u * 1024 * 1024 + 17;
    unsigned char *big = malloc(size);
    assert_non_null(big);
    memset(big, 0x5a, size);
    lms_submission x = make_submission(200, 12, "bob", 1), got;
    x.data = big;
    x.size = size;
    fx_begin(fx);
    EXPECT_OK(fx_ops->submission_put(fx->st, &x, &fx->err));
    fx_commit(fx, 3);
    free(big);

    EXPECT_OK(fx_reopen(fx));
    EXPECT_OK(fx_ops->submission_get(fx->st, 200, 1, &got, &fx->err));
    assert_int_equal(got.size, size);
    assert_memory_equal(got.sha256, x.sha256, LMS_SHA256_LEN);
    assert_null(got.data);
}

static void test_submission_list_and_count_filters(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    seed_submissions(fx);
    struct {
        uint64_t assignment;
        const char *student;
        const char *want;
    } cases[] = {
        {0, NULL, "101,102,103,104,105"},
        {10, NULL, "101,102,105"},
        {0, "alice", "102,103,105"},
        {10, "alice", "102,105"},
        {11, "bob", ""},
        {99, NULL, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        collect c = {0};
        EXPECT_OK(fx_ops->submission_list(fx->st, cases[i].assignment,
                                          cases[i].student,
                                          collect_submission, &c, &fx->err));
        if (strcmp(c.out, cases[i].want) != 0)
            fail_msg("submission_list(%llu, %s): got '%s', expected '%s'",
                     (unsigned long long)cases[i].assignment,
                     cases[i].student ? cases[i].student : "NULL", c.out,
                     cases[i].want);
        uint32_t n = 999;
        EXPECT_OK(fx_ops->submission_count(fx->st, cases[i].assignment,
                                           cases[i].student, &n, &fx->err));
        if ((int)n != c.n)
            fail_msg("submission_count(%llu, %s) = %u, the list has %d",
                     (unsigned long long)cases[i].assignment,
                     cases[i].student ? cases[i].student : "NULL", n, c.n);
    }
    collect two = {.limit = 2};
    EXPECT_OK(fx_ops->submission_list(fx->st, 0, NULL, collect_submission,
                                      &two, &fx->err));
    assert_string_equal(two.out, "101,102");
}

static void test_submission_is_insert_only(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    seed_submissions(fx);
    fx_begin(fx);
    lms_submission dup = make_submission(101, 11, "carol", 1);
    EXPECT_CODE(LMS_ALREADY_EXISTS,
                fx_ops->submission_put(fx->st, &dup, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "submission_put");
    EXPECT_MESSAGE(fx->err.msg, "UNIQUE constraint failed");
    lms_submission same_attempt = make_submission(150, 10, "bob", 1);
    EXPECT_CODE(LMS_ALREADY_EXISTS,
                fx_ops->submission_put(fx->st, &same_attempt, &fx->err));
    lms_submission orphan = make_submission(151, 99, "bob", 1);
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->submission_put(fx->st, &orphan, &fx->err));
    fx_commit(fx, 4);

    lms_submission got;
    EXPECT_OK(fx_ops->submission_get(fx->st, 101, 0, &got, &fx->err));
    if (strcmp(got.student, "bob") != 0 || got.assignment_id != 10)
        fail_msg("a refused put changed submission 101: %s/%llu", got.student,
                 (unsigned long long)got.assignment_id);
    uint32_t n = 0;
    EXPECT_OK(fx_ops->submission_count(fx->st, 0, NULL, &n, &fx->err));
    assert_int_equal(n, 5);
}

/* ---- grades ---- */

static void put_grade(fixture *fx, uint64_t submission, double grade,
                      const char *feedback)
{
    lms_grade g = {.submission_id = submission, .grade = grade,
                   .feedback = feedback, .grader = "ian", .graded = 77};
    EXPECT_OK(fx_ops->grade_put(fx->st, &g, &fx->err));
}

static void test_grade_roundtrip_and_graded_flag(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    seed_submissions(fx);
    fx_begin(fx);
    put_grade(fx, 103, 7.5, "good");
    put_grade(fx, 103, 9, "better"); /* replaces */
    put_grade(fx, 101, 4, NULL);
    lms_grade orphan = {.submission_id = 999, .grader = "ian"};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->grade_put(fx->st, &orphan, &fx->err));
    fx_commit(fx, 4);

    lms_grade g;
    EXPECT_OK(fx_ops->grade_get(fx->st, 103, &g, &fx->err));
    assert_int_equal(g.submission_id, 103);
    assert_true(g.grade == 9.0);
    assert_string_equal(g.feedback, "better");
    assert_string_equal(g.grader, "ian");
    assert_int_equal(g.graded, 77);
    EXPECT_OK(fx_ops->grade_get(fx->st, 101, &g, &fx->err));
    assert_non_null(g.feedback);
    assert_string_equal(g.feedback, "");
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->grade_get(fx->st, 102, &g, &fx->err));

    lms_submission x;
    EXPECT_OK(fx_ops->submission_get(fx->st, 103, 0, &x, &fx->err));
    assert_int_equal(x.graded, 1);
    EXPECT_OK(fx_ops->submission_get(fx->st, 102, 1, &x, &fx->err));
    assert_int_equal(x.graded, 0);
    collect c = {0};
    EXPECT_OK(fx_ops->submission_list(fx->st, 0, NULL, collect_submission, &c,
                                      &fx->err));
    assert_string_equal(c.out, "101+g,102,103+g,104,105");
}

static void test_grade_list_views_filters_and_order(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    seed_submissions(fx);
    fx_begin(fx);
    put_grade(fx, 105, 5, "a");
    put_grade(fx, 103, 3, "b");
    put_grade(fx, 101, 1, "c");
    put_grade(fx, 104, 4, "d");
    fx_commit(fx, 4);
    struct {
        const char *course, *student, *want;
    } cases[] = {
        {NULL, NULL, "101:bob:CS101:1,103:alice:MA201:3,104:bob:CS101:4,"
                     "105:alice:CS101:5"},
        {"CS101", NULL, "101:bob:CS101:1,104:bob:CS101:4,105:alice:CS101:5"},
        {NULL, "alice", "103:alice:MA201:3,105:alice:CS101:5"},
        {"CS101", "alice", "105:alice:CS101:5"},
        {"MA201", "bob", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        collect c = {0};
        EXPECT_OK(fx_ops->grade_list(fx->st, cases[i].course,
                                     cases[i].student, collect_grade_view, &c,
                                     &fx->err));
        if (strcmp(c.out, cases[i].want) != 0)
            fail_msg("grade_list(%s, %s): got '%s', expected '%s'",
                     cases[i].course ? cases[i].course : "NULL",
                     cases[i].student ? cases[i].student : "NULL", c.out,
                     cases[i].want);
    }
    collect one = {.limit = 1};
    EXPECT_OK(fx_ops->grade_list(fx->st, NULL, NULL, collect_grade_view, &one,
                                 &fx->err));
    assert_string_equal(one.out, "101:bob:CS101:1");
}

/* ---- questions and replies ---- */

static void put_query(fixture *fx, uint64_t id, const char *course,
                      const char *student, int resolved)
{
    lms_query q = {.id = id, .text = "Why does it segfault?\n",
                   .created = (int64_t)id * 10, .resolved = resolved};
    snprintf(q.course, sizeof q.course, "%s", course);
    snprintf(q.student, sizeof q.student, "%s", student);
    snprintf(q.title, sizeof q.title, "Question %llu", (unsigned long long)id);
    EXPECT_OK(fx_ops->query_put(fx->st, &q, &fx->err));
}

static void put_reply(fixture *fx, uint64_t id, uint64_t query,
                      const char *text)
{
    lms_reply r = {.id = id, .query_id = query, .author = "ian",
                   .text = text, .created = 5};
    EXPECT_OK(fx_ops->reply_put(fx->st, &r, &fx->err));
}

static void test_queries(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    fx_begin(fx);
    put_query(fx, 33, "MA201", "alice", 0);
    put_query(fx, 30, "CS101", "alice", 0);
    put_query(fx, 32, "CS101", "bob", 0);
    put_query(fx, 31, "MA201", "carol", 0);
    put_query(fx, 30, "CS101", "alice", 1); /* resolving is a replace */
    fx_commit(fx, 2);

    lms_query q;
    EXPECT_OK(fx_ops->query_get(fx->st, 30, &q, &fx->err));
    assert_string_equal(q.course, "CS101");
    assert_string_equal(q.student, "alice");
    assert_string_equal(q.title, "Question 30");
    assert_string_equal(q.text, "Why does it segfault?\n");
    assert_int_equal(q.created, 300);
    assert_int_equal(q.resolved, 1);
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->query_get(fx->st, 99, &q, &fx->err));

    struct {
        const char *course, *student, *want;
    } cases[] = {
        {NULL, NULL, "30+r,31,32,33"}, {"CS101", NULL, "30+r,32"},
        {NULL, "alice", "30+r,33"},    {"CS101", "alice", "30+r"},
        {"CS101", "carol", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        collect c = {0};
        EXPECT_OK(fx_ops->query_list(fx->st, cases[i].course,
                                     cases[i].student, collect_query, &c,
                                     &fx->err));
        if (strcmp(c.out, cases[i].want) != 0)
            fail_msg("query_list(%s, %s): got '%s', expected '%s'",
                     cases[i].course ? cases[i].course : "NULL",
                     cases[i].student ? cases[i].student : "NULL", c.out,
                     cases[i].want);
    }
}

/* The shared flag (schema 3) is kept by put and read back by get and
 * list; unsharing is a put too, and the rest of the row stays. */
static void test_query_shared_flag(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    fx_begin(fx);
    put_query(fx, 30, "CS101", "alice", 0);
    put_query(fx, 31, "CS101", "bob", 0);
    fx_commit(fx, 2);

    lms_query q;
    EXPECT_OK(fx_ops->query_get(fx->st, 30, &q, &fx->err));
    if (q.shared != 0)
        fail_msg("a new question reads as shared (%d); questions start private",
                 q.shared);
    q.shared = 1;
    fx_begin(fx);
    EXPECT_OK(fx_ops->query_put(fx->st, &q, &fx->err));
    fx_commit(fx, 3);
    EXPECT_OK(fx_ops->query_get(fx->st, 30, &q, &fx->err));
    assert_int_equal(q.shared, 1);
    assert_string_equal(q.text, "Why does it segfault?\n");
    assert_string_equal(q.student, "alice");
    collect c = {0};
    EXPECT_OK(fx_ops->query_list(fx->st, "CS101", NULL, collect_query, &c,
                                 &fx->err));
    if (strcmp(c.out, "30+s,31") != 0)
        fail_msg("query_list after sharing 30: got '%s', expected '30+s,31'",
                 c.out);

    q.shared = 0;
    fx_begin(fx);
    EXPECT_OK(fx_ops->query_put(fx->st, &q, &fx->err));
    fx_commit(fx, 4);
    EXPECT_OK(fx_ops->query_get(fx->st, 30, &q, &fx->err));
    if (q.shared != 0)
        fail_msg("query 30 still reads as shared after a put with shared 0");
}

static void test_replies(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    fx_begin(fx);
    put_query(fx, 30, "CS101", "alice", 0);
    put_query(fx, 31, "MA201", "carol", 0);
    put_reply(fx, 41, 30, "see lecture 3");
    put_reply(fx, 40, 30, "thanks");
    put_reply(fx, 42, 31, "use gdb");
    lms_reply orphan = {.id = 43, .query_id = 99, .text = "?"};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->reply_put(fx->st, &orphan, &fx->err));
    fx_commit(fx, 2);

    collect a = {0}, b = {0}, none = {0};
    EXPECT_OK(fx_ops->reply_list(fx->st, 30, collect_reply, &a, &fx->err));
    assert_string_equal(a.out, "40:thanks,41:see lecture 3");
    EXPECT_OK(fx_ops->reply_list(fx->st, 31, collect_reply, &b, &fx->err));
    assert_string_equal(b.out, "42:use gdb");
    EXPECT_OK(fx_ops->reply_list(fx->st, 99, collect_reply, &none, &fx->err));
    assert_string_equal(none.out, "");
}

/* ---- the tutor's fields, settings and counts ---- */

static lms_query tutor_query(uint64_t id, const char *student, int64_t created)
{
    lms_query q = {.id = id, .text = "What is a loop?", .created = created,
                   .resolved = 1, .kind = LMS_QUERY_TUTOR,
                   .prompt_tokens = 4000000000u, .completion_tokens = 8,
                   .latency_ms = 1234};
    snprintf(q.course, sizeof q.course, "CS101");
    snprintf(q.student, sizeof q.student, "%s", student);
    snprintf(q.title, sizeof q.title, "Tutor %llu", (unsigned long long)id);
    snprintf(q.provider, sizeof q.provider, "tutor_openai");
    snprintf(q.model, sizeof q.model, "gpt-4o-mini");
    return q;
}

static void test_query_tutor_fields(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    fx_begin(fx);
    lms_query t = tutor_query(60, "alice", 600);
    EXPECT_OK(fx_ops->query_put(fx->st, &t, &fx->err));
    lms_query e = {.id = 61, .text = "Still stuck", .created = 610,
                   .kind = LMS_QUERY_INSTRUCTOR, .escalated_from = 60};
    snprintf(e.course, sizeof e.course, "CS101");
    snprintf(e.student, sizeof e.student, "alice");
    EXPECT_OK(fx_ops->query_put(fx->st, &e, &fx->err));
    fx_commit(fx, 2);

    lms_query q;
    EXPECT_OK(fx_ops->query_get(fx->st, 60, &q, &fx->err));
    assert_int_equal(q.kind, LMS_QUERY_TUTOR);
    assert_int_equal(q.escalated_from, 0);
    assert_string_equal(q.provider, "tutor_openai");
    assert_string_equal(q.model, "gpt-4o-mini");
    assert_int_equal(q.prompt_tokens, 4000000000u);
    assert_int_equal(q.completion_tokens, 8);
    assert_int_equal(q.latency_ms, 1234);
    EXPECT_OK(fx_ops->query_get(fx->st, 61, &q, &fx->err));
    assert_int_equal(q.kind, LMS_QUERY_INSTRUCTOR);
    assert_int_equal(q.escalated_from, 60);
    assert_string_equal(q.provider, "");
    assert_string_equal(q.model, "");
    assert_int_equal(q.prompt_tokens, 0);
}

static void test_query_count_window_and_filters(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    fx_begin(fx);
    int64_t times[] = {99, 100, 150, 199, 200};
    for (size_t i = 0; i < 5; i++) {
        lms_query q = tutor_query(70 + i, "alice", times[i]);
        EXPECT_OK(fx_ops->query_put(fx->st, &q, &fx->err));
    }
    lms_query bob = tutor_query(80, "bob", 150);
    EXPECT_OK(fx_ops->query_put(fx->st, &bob, &fx->err));
    lms_query other = tutor_query(81, "alice", 150);
    other.kind = LMS_QUERY_INSTRUCTOR;
    EXPECT_OK(fx_ops->query_put(fx->st, &other, &fx->err));
    lms_query ma = tutor_query(82, "alice", 150);
    snprintf(ma.course, sizeof ma.course, "MA201");
    EXPECT_OK(fx_ops->query_put(fx->st, &ma, &fx->err));
    fx_commit(fx, 2);

    struct {
        const char *course, *student;
        int kind;
        int64_t since, until;
        uint32_t want;
    } cases[] = {
        {"CS101", "alice", LMS_QUERY_TUTOR, 100, 200, 3}, /* [since, until) */
        {"CS101", "alice", LMS_QUERY_TUTOR, 0, 1000, 5},
        {"CS101", "alice", LMS_QUERY_INSTRUCTOR, 0, 1000, 1},
        {"CS101", "bob", LMS_QUERY_TUTOR, 100, 200, 1},
        {"MA201", "alice", LMS_QUERY_TUTOR, 100, 200, 1},
        {"CS101", "carol", LMS_QUERY_TUTOR, 0, 1000, 0},
        {"CS101", "alice", LMS_QUERY_TUTOR, 200, 200, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t n = 12345;
        EXPECT_OK(fx_ops->query_count(fx->st, cases[i].course,
                                      cases[i].student, cases[i].kind,
                                      cases[i].since, cases[i].until, &n,
                                      &fx->err));
        if (n != cases[i].want)
            fail_msg("query_count(%s, %s, kind %d, [%lld, %lld)): got %u, "
                     "expected %u", cases[i].course, cases[i].student,
                     cases[i].kind, (long long)cases[i].since,
                     (long long)cases[i].until, n, cases[i].want);
    }
}

static void test_course_settings(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    lms_course_settings got;
    EXPECT_CODE(LMS_NOT_FOUND,
                fx_ops->course_settings_get(fx->st, "CS101", &got, &fx->err));
    fx_begin(fx);
    lms_course_settings s = {.course = "CS101",
                             .system_prompt = "Answer in haiku.",
                             .tutor_daily_limit = 5};
    EXPECT_OK(fx_ops->course_settings_put(fx->st, &s, &fx->err));
    lms_course_settings m = {.course = "MA201", .system_prompt = NULL};
    EXPECT_OK(fx_ops->course_settings_put(fx->st, &m, &fx->err));
    lms_course_settings ghost = {.course = "XX999", .system_prompt = "x"};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->course_settings_put(fx->st, &ghost, &fx->err));
    fx_commit(fx, 2);

    EXPECT_OK(fx_ops->course_settings_get(fx->st, "CS101", &got, &fx->err));
    assert_string_equal(got.course, "CS101");
    assert_string_equal(got.system_prompt, "Answer in haiku.");
    assert_int_equal(got.tutor_daily_limit, 5);
    EXPECT_OK(fx_ops->course_settings_get(fx->st, "MA201", &got, &fx->err));
    assert_string_equal(got.system_prompt, "");
    assert_int_equal(got.tutor_daily_limit, 0);

    fx_begin(fx); /* put replaces */
    s.system_prompt = "";
    s.tutor_daily_limit = 0;
    EXPECT_OK(fx_ops->course_settings_put(fx->st, &s, &fx->err));
    fx_commit(fx, 3);
    EXPECT_OK(fx_ops->course_settings_get(fx->st, "CS101", &got, &fx->err));
    assert_string_equal(got.system_prompt, "");
    assert_int_equal(got.tutor_daily_limit, 0);
}

/* ---- materials ---- */

static lms_material make_material(uint64_t id, const char *course,
                                  const void *data, size_t size)
{
    lms_material m = {.id = id, .size = size, .uploaded_by = "ian",
                      .created = 42, .data = data};
    snprintf(m.course, sizeof m.course, "%s", course);
    snprintf(m.title, sizeof m.title, "Slides %llu", (unsigned long long)id);
    snprintf(m.file_name, sizeof m.file_name, "slides-%llu.pdf",
             (unsigned long long)id);
    fill_sha(m.sha256, (unsigned)id);
    return m;
}

static void test_materials(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    unsigned char pdf[1000], pdf2[10] = {'%', 'P', 'D', 'F', 0, 0, 1, 2, 0, 3};
    for (size_t i = 0; i < sizeof pdf; i++)
        pdf[i] = (unsigned char)(i % 7 == 0 ? 0 : i);
    fx_begin(fx);
    lms_material m50 = make_material(50, "CS101", pdf, sizeof pdf);
    lms_material m52 = make_material(52, "CS101", pdf2, sizeof pdf2);
    lms_material m51 = make_material(51, "MA201", NULL, 0);
    EXPECT_OK(fx_ops->material_put(fx->st, &m52, &fx->err));
    EXPECT_OK(fx_ops->material_put(fx->st, &m50, &fx->err));
    EXPECT_OK(fx_ops->material_put(fx->st, &m51, &fx->err));
    fx_commit(fx, 2);

    lms_material got;
    EXPECT_OK(fx_ops->material_get(fx->st, 50, 1, &got, &fx->err));
    assert_string_equal(got.course, "CS101");
    assert_string_equal(got.title, "Slides 50");
    assert_string_equal(got.file_name, "slides-50.pdf");
    assert_string_equal(got.uploaded_by, "ian");
    assert_int_equal(got.created, 42);
    assert_int_equal(got.size, sizeof pdf);
    assert_memory_equal(got.sha256, m50.sha256, LMS_SHA256_LEN);
    assert_null(got.data); /* the body is the host's (ABI 1.2) */
    EXPECT_OK(fx_ops->material_get(fx->st, 50, 0, &got, &fx->err));
    assert_null(got.data);
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->material_get(fx->st, 99, 1, &got,
                                                    &fx->err));

    collect cs = {0}, ma = {0};
    EXPECT_OK(fx_ops->material_list(fx->st, "CS101", collect_material, &cs,
                                    &fx->err));
    assert_string_equal(cs.out, "50,52"); /* no "!": lists carry no data */
    EXPECT_OK(fx_ops->material_list(fx->st, "MA201", collect_material, &ma,
                                    &fx->err));
    assert_string_equal(ma.out, "51");

    fx_begin(fx);
    lms_material replaced = make_material(50, "CS101", pdf2, sizeof pdf2);
    snprintf(replaced.title, sizeof replaced.title, "Slides, v2");
    EXPECT_OK(fx_ops->material_put(fx->st, &replaced, &fx->err));
    fx_commit(fx, 3);
    EXPECT_OK(fx_ops->material_get(fx->st, 50, 1, &got, &fx->err));
    assert_string_equal(got.title, "Slides, v2");
    assert_int_equal(got.size, sizeof pdf2);
    assert_memory_equal(got.sha256, replaced.sha256, LMS_SHA256_LEN);
}

/* ---- sessions ---- */

static lms_session make_session(uint8_t fill, const char *user,
                                int64_t expires)
{
    lms_session s = {.created = 1, .expires = expires};
    memset(s.token_hash, fill, sizeof s.token_hash);
    s.token_hash[0] = 0; /* hashes may hold NULs */
    snprintf(s.user, sizeof s.user, "%s", user);
    return s;
}

static void test_sessions_put_get_delete_prune(void **state)
{
    fixture *fx = *state;
    lms_session a = make_session(0xa1, "alice", 100);
    lms_session b = make_session(0xb2, "bob", 200);
    lms_session c = make_session(0xc3, "carol", 300);
    fx_begin(fx);
    EXPECT_OK(fx_ops->session_put(fx->st, &a, &fx->err));
    EXPECT_OK(fx_ops->session_put(fx->st, &b, &fx->err));
    EXPECT_OK(fx_ops->session_put(fx->st, &c, &fx->err));
    a.expires = 150; /* replaces */
    EXPECT_OK(fx_ops->session_put(fx->st, &a, &fx->err));
    fx_commit(fx, 1);

    lms_session got;
    EXPECT_OK(fx_ops->session_get(fx->st, a.token_hash, &got, &fx->err));
    assert_memory_equal(got.token_hash, a.token_hash, LMS_SHA256_LEN);
    assert_string_equal(got.user, "alice");
    assert_int_equal(got.created, 1);
    assert_int_equal(got.expires, 150);

    fx_begin(fx);
    EXPECT_OK(fx_ops->session_delete(fx->st, b.token_hash, &fx->err));
    EXPECT_OK(fx_ops->session_delete(fx->st, b.token_hash, &fx->err));
    fx_commit(fx, 2);
    EXPECT_CODE(LMS_NOT_FOUND,
                fx_ops->session_get(fx->st, b.token_hash, &got, &fx->err));

    /* Prune removes expires < before; a session expiring exactly then
     * stays. */
    fx_begin(fx);
    EXPECT_OK(fx_ops->session_prune(fx->st, 300, &fx->err));
    fx_commit(fx, 3);
    EXPECT_CODE(LMS_NOT_FOUND,
                fx_ops->session_get(fx->st, a.token_hash, &got, &fx->err));
    EXPECT_OK(fx_ops->session_get(fx->st, c.token_hash, &got, &fx->err));
    assert_string_equal(got.user, "carol");
}

static int collect_session(void *arg, const void *row)
{
    lms_session *v = arg;
    size_t i = 0;
    while (v[i].user[0])
        i++;
    assert_true(i < 7);
    v[i] = *(const lms_session *)row;
    return 0;
}

/* session_list_user: one user's sessions only, expired ones included,
 * oldest first, equal created times by token hash (bytewise). */
static void test_sessions_listed_per_user_oldest_first(void **state)
{
    fixture *fx = *state;
    lms_session a = make_session(0x90, "alice", 100);
    lms_session b = make_session(0x20, "alice", 50);
    lms_session c = make_session(0x10, "alice", 300);
    lms_session d = make_session(0x05, "bob", 300);
    a.created = 7;
    b.created = 3;
    c.created = 7; /* same time as a: c's hash is smaller */
    fx_begin(fx);
    EXPECT_OK(fx_ops->session_put(fx->st, &a, &fx->err));
    EXPECT_OK(fx_ops->session_put(fx->st, &b, &fx->err));
    EXPECT_OK(fx_ops->session_put(fx->st, &c, &fx->err));
    EXPECT_OK(fx_ops->session_put(fx->st, &d, &fx->err));
    fx_commit(fx, 1);

    lms_session got[8];
    memset(got, 0, sizeof got);
    EXPECT_OK(fx_ops->session_list_user(fx->st, "alice", collect_session, got,
                                        &fx->err));
    assert_memory_equal(got[0].token_hash, b.token_hash, LMS_SHA256_LEN);
    assert_memory_equal(got[1].token_hash, c.token_hash, LMS_SHA256_LEN);
    assert_memory_equal(got[2].token_hash, a.token_hash, LMS_SHA256_LEN);
    assert_string_equal(got[2].user, "alice");
    assert_int_equal(got[2].created, 7);
    assert_int_equal(got[2].expires, 100);
    assert_int_equal(got[3].user[0], '\0');

    memset(got, 0, sizeof got);
    EXPECT_OK(fx_ops->session_list_user(fx->st, "carol", collect_session, got,
                                        &fx->err));
    assert_int_equal(got[0].user[0], '\0');
}

/* ---- client dedup records ---- */

static void test_client_records_put_get_prune(void **state)
{
    fixture *fx = *state;
    static const uint8_t rows[] = {0x0a, 0x03, 0x08, 0x02, 0x00, 0xff};
    lms_client_record r1 = {.client_id = 1, .seq = 5, .status = LMS_OK,
                            .result_id = 77, .updated = 1000};
    lms_client_record r2 = {.client_id = 0xfeedfacecafebeefULL,
                            .seq = UINT64_MAX, .status = LMS_ALREADY_EXISTS,
                            .message = "user alice already exists",
                            .result_id = 0, .updated = 2000};
    fx_begin(fx);
    EXPECT_OK(fx_ops->client_put(fx->st, &r1, &fx->err));
    EXPECT_OK(fx_ops->client_put(fx->st, &r2, &fx->err));
    r1.seq = 6;
    r1.updated = 1100; /* replaces, now with the rest of an answer */
    r1.answer = rows;
    r1.answer_len = sizeof rows;
    EXPECT_OK(fx_ops->client_put(fx->st, &r1, &fx->err));
    fx_commit(fx, 1);

    lms_client_record got;
    EXPECT_OK(fx_ops->client_get(fx->st, r2.client_id, &got, &fx->err));
    assert_null(got.answer); /* none given, none kept */
    assert_int_equal(got.answer_len, 0);
    assert_true(got.client_id == r2.client_id); /* all 64 bits */
    assert_true(got.seq == UINT64_MAX);
    assert_int_equal(got.status, LMS_ALREADY_EXISTS);
    assert_string_equal(got.message, r2.message);
    assert_int_equal(got.result_id, 0);
    assert_int_equal(got.updated, 2000);
    EXPECT_OK(fx_ops->client_get(fx->st, 1, &got, &fx->err));
    assert_int_equal(got.seq, 6);
    assert_int_equal(got.result_id, 77);
    assert_string_equal(got.message, "");
    assert_int_equal(got.answer_len, sizeof rows); /* binary, NULs and all */
    assert_memory_equal(got.answer, rows, sizeof rows);
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->client_get(fx->st, 2, &got, &fx->err));

    fx_begin(fx);
    EXPECT_OK(fx_ops->client_prune(fx->st, 2000, &fx->err));
    fx_commit(fx, 2);
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->client_get(fx->st, 1, &got, &fx->err));
    EXPECT_OK(fx_ops->client_get(fx->st, r2.client_id, &got, &fx->err));
}

int suite_entity_tests(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_user_roundtrip_and_replace),
        T(test_user_not_found),
        T(test_user_list_is_in_byte_order_and_stoppable),
        T(test_fields_at_maximum_length_are_kept_whole),
        T(test_unterminated_field_is_truncated_not_overrun),
        T(test_course_roundtrip_and_lists),
        T(test_enrolments),
        T(test_enrolment_with_no_role),
        T(test_foreign_keys_are_enforced),
        T(test_assignment_roundtrip_and_replace),
        T(test_assignment_list_filters_and_order),
        T(test_extensions),
        T(test_submission_blob_roundtrip),
        T(test_submission_bodies_stay_out_of_the_database),
        T(test_submission_list_and_count_filters),
        T(test_submission_is_insert_only),
        T(test_grade_roundtrip_and_graded_flag),
        T(test_grade_list_views_filters_and_order),
        T(test_queries),
        T(test_query_shared_flag),
        T(test_replies),
        T(test_query_tutor_fields),
        T(test_query_count_window_and_filters),
        T(test_course_settings),
        T(test_materials),
        T(test_sessions_put_get_delete_prune),
        T(test_sessions_listed_per_user_oldest_first),
        T(test_client_records_put_get_prune),
    };
#undef T
    return cmocka_run_group_tests_name("storage suite: entities", tests, NULL,
                                       NULL);
}

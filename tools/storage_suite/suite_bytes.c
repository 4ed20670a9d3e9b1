/* SPDX-License-Identifier: MIT */
/*
 * suite_bytes.c: the bytes a backend must keep exactly and the orders it
 * must keep bytewise, where SQL engines differ: names that differ only in
 * case or in a trailing space are different rows and sort like SQLite's
 * BINARY collation (memcmp: "Bob" < "a" < "a " < "alice" < "\xc3\xa9");
 * 4-byte UTF-8 in every text column; binary values with NUL bytes (token
 * hashes, SHA-256s, answer blobs) round trip and find their row; fields at
 * their limits (names of exactly LMS_NAME_MAX bytes, titles LMS_TITLE_MAX,
 * file names LMS_FILENAME_MAX, also when the last character is multi-byte)
 * and texts of about 1 MB come back whole.
 */
#include "suite_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names in no order; sorted bytewise by expect_bytewise(). */
static const char *const names[] = {
    "alice", "Bob", "a ", "bob", "a", "\xc3\xa9mile", "_x", "Zoe", "a\x7f",
    "\xf0\x9f\x98\x80" "smile", "A", "ab", "a  ", "\xe2\x82\xac" "uro",
};
#define NNAMES (sizeof names / sizeof names[0])

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* names sorted with strcmp (which compares as unsigned char: memcmp
 * order), joined by ',' like the collectors do. */
static void expect_bytewise(char *out, size_t cap)
{
    const char *sorted[NNAMES];
    memcpy(sorted, names, sizeof sorted);
    qsort(sorted, NNAMES, sizeof sorted[0], by_bytes);
    out[0] = '\0';
    for (size_t i = 0; i < NNAMES; i++) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", i ? "," : "", sorted[i]);
    }
}

static int collect_user_name(void *arg, const void *row)
{
    collect_add(arg, "%s", ((const lms_user *)row)->name);
    return 0;
}

static int collect_course_code(void *arg, const void *row)
{
    collect_add(arg, "%s", ((const lms_course *)row)->code);
    return 0;
}

static int collect_enrolled(void *arg, const void *row)
{
    collect_add(arg, "%s", ((const lms_enrolment *)row)->user);
    return 0;
}

/* Every name a user, a course and an enrolment in course "c"; each comes
 * back under its own exact bytes; lists in byte order. */
static void test_names_are_distinct_and_sorted_bytewise(void **state)
{
    fixture *fx = *state;
    fx_begin(fx);
    lms_course c0 = {.code = "c", .title = "enrolments"};
    EXPECT_OK(fx_ops->course_put(fx->st, &c0, &fx->err));
    for (size_t i = 0; i < NNAMES; i++) {
        lms_user u = {.role = LMS_ROLE_STUDENT, .password_hash = "h",
                      .created = (int64_t)i};
        snprintf(u.name, sizeof u.name, "%s", names[i]);
        snprintf(u.full_name, sizeof u.full_name, "user %zu", i);
        EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
        lms_course c = {.created = (int64_t)i};
        snprintf(c.code, sizeof c.code, "%s", names[i]);
        snprintf(c.title, sizeof c.title, "course %zu", i);
        EXPECT_OK(fx_ops->course_put(fx->st, &c, &fx->err));
        lms_enrolment e = {.course = "c", .role = LMS_ROLE_STUDENT};
        snprintf(e.user, sizeof e.user, "%s", names[i]);
        EXPECT_OK(fx_ops->enrolment_put(fx->st, &e, &fx->err));
    }
    fx_commit(fx, 1);

    uint64_t n = 0;
    EXPECT_OK(fx_ops->user_count(fx->st, &n, &fx->err));
    if (n != NNAMES)
        fail_msg("%llu users for %zu names that differ in their bytes "
                 "(case, trailing spaces): the backend's collation folds "
                 "them", (unsigned long long)n, NNAMES);
    for (size_t i = 0; i < NNAMES; i++) {
        lms_user u;
        EXPECT_OK(fx_ops->user_get(fx->st, names[i], &u, &fx->err));
        char want[32];
        snprintf(want, sizeof want, "user %zu", i);
        if (strcmp(u.name, names[i]) != 0 || strcmp(u.full_name, want) != 0)
            fail_msg("user_get('%s') found '%s' (%s)", names[i], u.name,
                     u.full_name);
        lms_course c;
        EXPECT_OK(fx_ops->course_get(fx->st, names[i], &c, &fx->err));
        assert_string_equal(c.code, names[i]);
        assert_int_equal(c.created, (int64_t)i);
        int role = 0;
        EXPECT_OK(fx_ops->enrolment_get(fx->st, "c", names[i], &role,
                                        &fx->err));
        assert_int_equal(role, LMS_ROLE_STUDENT);
    }
    lms_user u;
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(fx->st, "ALICE", &u,
                                                &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(fx->st, "a   ", &u,
                                                &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->user_get(fx->st, "e\xcc\x81mile", &u,
                                                &fx->err)); /* not NFC */

    char want[1024];
    expect_bytewise(want, sizeof want);
    collect users = {0}, courses = {0}, enrolled = {0};
    EXPECT_OK(fx_ops->user_list(fx->st, collect_user_name, &users, &fx->err));
    assert_string_equal(users.out, want);
    EXPECT_OK(fx_ops->enrolment_list(fx->st, "c", 0, collect_enrolled,
                                     &enrolled, &fx->err));
    assert_string_equal(enrolled.out, want);
    /* course codes: the names and "c" */
    EXPECT_OK(fx_ops->course_list(fx->st, NULL, collect_course_code, &courses,
                                  &fx->err));
    const char *with_c[NNAMES + 1];
    memcpy(with_c, names, sizeof names);
    with_c[NNAMES] = "c";
    qsort(with_c, NNAMES + 1, sizeof with_c[0], by_bytes);
    char want_c[1100] = "";
    for (size_t i = 0; i <= NNAMES; i++) {
        size_t len = strlen(want_c);
        snprintf(want_c + len, sizeof want_c - len, "%s%s", i ? "," : "",
                 with_c[i]);
    }
    assert_string_equal(courses.out, want_c);
}

/* A user enrolled in every course lists them in code order, bytewise. */
static void test_courses_of_a_user_sorted_bytewise(void **state)
{
    fixture *fx = *state;
    fx_begin(fx);
    lms_user s = {.name = "s", .password_hash = "h"};
    EXPECT_OK(fx_ops->user_put(fx->st, &s, &fx->err));
    for (size_t i = NNAMES; i-- > 0;) {
        lms_course c = {.title = "t"};
        snprintf(c.code, sizeof c.code, "%s", names[i]);
        EXPECT_OK(fx_ops->course_put(fx->st, &c, &fx->err));
        lms_enrolment e = {.user = "s", .role = LMS_ROLE_INSTRUCTOR};
        snprintf(e.course, sizeof e.course, "%s", names[i]);
        EXPECT_OK(fx_ops->enrolment_put(fx->st, &e, &fx->err));
    }
    fx_commit(fx, 1);
    char want[1024];
    expect_bytewise(want, sizeof want);
    collect got = {0};
    EXPECT_OK(fx_ops->course_list(fx->st, "s", collect_course_code, &got,
                                  &fx->err));
    assert_string_equal(got.out, want);
}

static int collect_session(void *arg, const void *row)
{
    const lms_session *s = row;
    collect_add(arg, "%lld:%02x%02x", (long long)s->created, s->token_hash[0],
                s->token_hash[1]);
    return 0;
}

/* Token hashes are binary: NUL bytes anywhere, bytes above 0x7f, hashes
 * that differ only after a NUL. Each finds its own row, and equal
 * creation times are ordered by the hash as unsigned bytes. */
static void test_binary_token_hashes(void **state)
{
    fixture *fx = *state;
    static const uint8_t firsts[][2] = {
        {0x80, 0x00}, {0x00, 0x00}, {0x7f, 0xff}, {0xff, 0x00},
        {0x00, 0x01}, {0x01, 0x00},
    };
    fx_begin(fx);
    for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
        lms_session s = {.user = "u", .created = 5, .expires = 100 + (int)i};
        memset(s.token_hash, 0, sizeof s.token_hash);
        s.token_hash[0] = firsts[i][0];
        s.token_hash[1] = firsts[i][1];
        s.token_hash[LMS_SHA256_LEN - 1] = (uint8_t)i; /* after NULs */
        EXPECT_OK(fx_ops->session_put(fx->st, &s, &fx->err));
    }
    lms_session early = {.user = "u", .created = 4};
    memset(early.token_hash, 0xff, sizeof early.token_hash);
    EXPECT_OK(fx_ops->session_put(fx->st, &early, &fx->err));
    fx_commit(fx, 1);

    for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
        uint8_t h[LMS_SHA256_LEN] = {firsts[i][0], firsts[i][1]};
        h[LMS_SHA256_LEN - 1] = (uint8_t)i;
        lms_session got;
        EXPECT_OK(fx_ops->session_get(fx->st, h, &got, &fx->err));
        assert_memory_equal(got.token_hash, h, LMS_SHA256_LEN);
        assert_int_equal(got.expires, 100 + (int)i);
        h[LMS_SHA256_LEN - 1] ^= 0x40; /* differs only after the NULs */
        EXPECT_CODE(LMS_NOT_FOUND, fx_ops->session_get(fx->st, h, &got,
                                                       &fx->err));
    }
    collect c = {0};
    EXPECT_OK(fx_ops->session_list_user(fx->st, "u", collect_session, &c,
                                        &fx->err));
    assert_string_equal(c.out, "4:ffff,5:0000,5:0001,5:0100,5:7fff,5:8000,"
                               "5:ff00");
    /* delete one by its binary key; only that one goes */
    uint8_t gone[LMS_SHA256_LEN] = {0x00, 0x01};
    gone[LMS_SHA256_LEN - 1] = 4;
    fx_begin(fx);
    EXPECT_OK(fx_ops->session_delete(fx->st, gone, &fx->err));
    fx_commit(fx, 2);
    collect after = {0};
    EXPECT_OK(fx_ops->session_list_user(fx->st, "u", collect_session, &after,
                                        &fx->err));
    assert_string_equal(after.out, "4:ffff,5:0000,5:0100,5:7fff,5:8000,"
                                   "5:ff00");
}

/* Answer blobs are opaque bytes: NULs at both ends and inside, every byte
 * value, 64 KiB; replaced by a record without one, it is gone. */
static void test_binary_answer_blobs(void **state)
{
    fixture *fx = *state;
    size_t len = 65536;
    unsigned char *blob = malloc(len);
    assert_non_null(blob);
    for (size_t i = 0; i < len; i++)
        blob[i] = (unsigned char)(i * 7 + i / 256);
    blob[0] = 0;
    blob[len - 1] = 0;
    lms_client_record r = {.client_id = 1ull << 63, .seq = 3,
                           .status = LMS_OK, .result_id = 9, .updated = 50,
                           .answer = blob, .answer_len = len};
    fx_begin(fx);
    EXPECT_OK(fx_ops->client_put(fx->st, &r, &fx->err));
    lms_client_record small = {.client_id = 2, .seq = 1, .updated = 50,
                               .answer = "\0", .answer_len = 1};
    EXPECT_OK(fx_ops->client_put(fx->st, &small, &fx->err));
    fx_commit(fx, 1);
    lms_client_record got;
    EXPECT_OK(fx_ops->client_get(fx->st, 1ull << 63, &got, &fx->err));
    assert_true(got.client_id == 1ull << 63);
    assert_int_equal(got.answer_len, len);
    assert_non_null(got.answer);
    assert_memory_equal(got.answer, blob, len);
    EXPECT_OK(fx_ops->client_get(fx->st, 2, &got, &fx->err));
    assert_int_equal(got.answer_len, 1);
    assert_int_equal(((const unsigned char *)got.answer)[0], 0);

    r.answer = NULL;
    r.answer_len = 0;
    r.seq = 4;
    fx_begin(fx);
    EXPECT_OK(fx_ops->client_put(fx->st, &r, &fx->err));
    fx_commit(fx, 2);
    EXPECT_OK(fx_ops->client_get(fx->st, 1ull << 63, &got, &fx->err));
    assert_int_equal(got.seq, 4);
    assert_int_equal(got.answer_len, 0);
    free(blob);
}

/* s filled to exactly max bytes with 4-byte UTF-8 characters and ASCII,
 * the last character multi-byte (truncating it would break it). */
static void fill_utf8(char *s, size_t max)
{
    static const char smile[] = "\xf0\x9f\x98\x80";
    size_t pad = max % 4, at = 0;
    memset(s, 'a', pad);
    for (at = pad; at + 4 <= max; at += 4)
        memcpy(s + at, smile, 4);
    s[max] = '\0';
}

/* reply_list's rows against the text and author expected (rows are only
 * valid during the callback, so they are compared there). */
typedef struct reply_check {
    const char *want, *author;
    int rows, same;
} reply_check;

static int check_reply(void *arg, const void *row)
{
    reply_check *c = arg;
    const lms_reply *r = row;
    c->rows++;
    c->same += strcmp(r->text, c->want) == 0 && strcmp(r->author, c->author) == 0;
    return 0;
}

/* Fields at their limits in multi-byte UTF-8, in every kind of row that
 * has them; and long texts of about 1 MB. */
static void test_limits_in_utf8_and_long_texts(void **state)
{
    fixture *fx = *state;
    lms_user u = {.password_hash = "h"};
    fill_utf8(u.name, LMS_NAME_MAX);
    fill_utf8(u.full_name, LMS_TITLE_MAX);
    lms_course c = {0};
    fill_utf8(c.code, LMS_NAME_MAX);
    fill_utf8(c.title, LMS_TITLE_MAX);
    size_t big = 1u << 20;
    char *text = malloc(big + 1);
    assert_non_null(text);
    for (size_t i = 0; i < big; i++)
        text[i] = (char)("lorem \xc3\xa9 ipsum!\n"[i % 16]); /* 16 bytes */
    text[big] = '\0';
    text[big - 1] = 'x'; /* no half a character at the end */
    lms_assignment a = {.id = 1, .description = text, .created_by = "i"};
    memcpy(a.course, c.code, sizeof a.course);
    fill_utf8(a.title, LMS_TITLE_MAX);
    lms_submission s = {.id = 2, .assignment_id = 1, .size = 1,
                        .attempt = 1};
    memcpy(s.student, u.name, sizeof s.student);
    fill_utf8(s.file_name, LMS_FILENAME_MAX);
    fx_put_body(fx, "x", 1, s.sha256);
    lms_grade g = {.submission_id = 2, .grade = 1, .feedback = text,
                   .grader = "i"};
    lms_query q = {.id = 3, .text = text, .kind = LMS_QUERY_TUTOR};
    memcpy(q.course, c.code, sizeof q.course);
    memcpy(q.student, u.name, sizeof q.student);
    fill_utf8(q.title, LMS_TITLE_MAX);
    fill_utf8(q.provider, LMS_NAME_MAX);
    fill_utf8(q.model, LMS_TITLE_MAX);
    lms_reply r = {.id = 4, .query_id = 3, .text = text};
    memcpy(r.author, u.name, sizeof r.author);
    lms_material m = {.id = 5, .size = 1};
    memcpy(m.course, c.code, sizeof m.course);
    fill_utf8(m.title, LMS_TITLE_MAX);
    fill_utf8(m.file_name, LMS_FILENAME_MAX);
    memcpy(m.sha256, s.sha256, LMS_SHA256_LEN);
    memcpy(m.uploaded_by, u.name, sizeof m.uploaded_by);
    lms_course_settings cs = {.system_prompt = text};
    memcpy(cs.course, c.code, sizeof cs.course);
    fx_begin(fx);
    EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
    EXPECT_OK(fx_ops->course_put(fx->st, &c, &fx->err));
    lms_enrolment e = {.role = LMS_ROLE_STUDENT};
    memcpy(e.course, c.code, sizeof e.course);
    memcpy(e.user, u.name, sizeof e.user);
    EXPECT_OK(fx_ops->enrolment_put(fx->st, &e, &fx->err));
    lms_user i = {.name = "i", .password_hash = "h"};
    EXPECT_OK(fx_ops->user_put(fx->st, &i, &fx->err));
    EXPECT_OK(fx_ops->assignment_put(fx->st, &a, &fx->err));
    EXPECT_OK(fx_ops->submission_put(fx->st, &s, &fx->err));
    EXPECT_OK(fx_ops->grade_put(fx->st, &g, &fx->err));
    EXPECT_OK(fx_ops->query_put(fx->st, &q, &fx->err));
    EXPECT_OK(fx_ops->reply_put(fx->st, &r, &fx->err));
    EXPECT_OK(fx_ops->material_put(fx->st, &m, &fx->err));
    EXPECT_OK(fx_ops->course_settings_put(fx->st, &cs, &fx->err));
    fx_commit(fx, 1);

    lms_user gu;
    EXPECT_OK(fx_ops->user_get(fx->st, u.name, &gu, &fx->err));
    assert_string_equal(gu.name, u.name);
    assert_string_equal(gu.full_name, u.full_name);
    lms_course gc;
    EXPECT_OK(fx_ops->course_get(fx->st, c.code, &gc, &fx->err));
    assert_string_equal(gc.title, c.title);
    int role = 0;
    EXPECT_OK(fx_ops->enrolment_get(fx->st, c.code, u.name, &role,
                                    &fx->err));
    assert_int_equal(role, LMS_ROLE_STUDENT);
    lms_assignment ga;
    EXPECT_OK(fx_ops->assignment_get(fx->st, 1, &ga, &fx->err));
    assert_string_equal(ga.title, a.title);
    assert_string_equal(ga.course, c.code);
    assert_int_equal(strlen(ga.description), big);
    assert_string_equal(ga.description, text);
    lms_submission gs;
    EXPECT_OK(fx_ops->submission_get(fx->st, 2, 0, &gs, &fx->err));
    assert_string_equal(gs.file_name, s.file_name);
    assert_string_equal(gs.student, u.name);
    lms_grade gg;
    EXPECT_OK(fx_ops->grade_get(fx->st, 2, &gg, &fx->err));
    assert_string_equal(gg.feedback, text);
    lms_query gq;
    EXPECT_OK(fx_ops->query_get(fx->st, 3, &gq, &fx->err));
    assert_string_equal(gq.text, text);
    assert_string_equal(gq.title, q.title);
    assert_string_equal(gq.provider, q.provider);
    assert_string_equal(gq.model, q.model);
    reply_check rc = {.want = text, .author = u.name};
    EXPECT_OK(fx_ops->reply_list(fx->st, 3, check_reply, &rc, &fx->err));
    assert_int_equal(rc.rows, 1);
    assert_int_equal(rc.same, 1);
    lms_material gm;
    EXPECT_OK(fx_ops->material_get(fx->st, 5, 0, &gm, &fx->err));
    assert_string_equal(gm.file_name, m.file_name);
    assert_string_equal(gm.title, m.title);
    lms_course_settings gcs;
    EXPECT_OK(fx_ops->course_settings_get(fx->st, c.code, &gcs, &fx->err));
    assert_string_equal(gcs.system_prompt, text);
    free(text);
}

int suite_bytes_tests(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_names_are_distinct_and_sorted_bytewise),
        T(test_courses_of_a_user_sorted_bytewise),
        T(test_binary_token_hashes),
        T(test_binary_answer_blobs),
        T(test_limits_in_utf8_and_long_texts),
#undef T
    };
    return cmocka_run_group_tests_name("storage suite: bytes", tests, NULL,
                                       NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_rules.c: core/app/rules.c, the rules of the LMS as pure predicates
 * (the handlers' early checks and apply both call them). For each: the
 * edge values it accepts, and each refusal with its status and its exact
 * words, since those words are what a user reads on either path.
 */
#include "rules.h"

#include <lms/plugin.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define DAY RULE_DAY_MS
#define DUE INT64_C(1796083200000)    /* 2026-12-01T00:00:00Z */
#define CUTOFF (DUE + 2 * DAY)        /* 2026-12-03T00:00:00Z */

static char msg[RULE_MSG_MAX];
#define M msg, sizeof msg

static const char *status_name(int st)
{
    switch (st) {
    case LMS_OK: return "OK";
    case LMS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case LMS_NOT_FOUND: return "NOT_FOUND";
    case LMS_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case LMS_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case LMS_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    default: return "another status";
    }
}

/* A verdict got (its reason in msg) against the one wanted: status and
 * the exact reason (whole, or only a part of it with contains), "" for
 * LMS_OK. */
static void expect_at(const char *file, int line, int got, int status, const char *want,
                      int contains)
{
    int good = got == status;
    if (good && status == LMS_OK)
        good = msg[0] == '\0';
    else if (good)
        good = contains ? strstr(msg, want) != NULL : strcmp(msg, want) == 0;
    if (good)
        return;
    print_error("expected %s%s%s%s, got %s \"%s\"\n", status_name(status),
                want ? (contains ? " containing \"" : " \"") : "", want ? want : "",
                want ? "\"" : "", status_name(got), msg);
    _fail(file, line);
}

#define EXPECT_OK(call) expect_at(__FILE__, __LINE__, (call), LMS_OK, NULL, 0)
#define EXPECT(call, status, want) expect_at(__FILE__, __LINE__, (call), (status), (want), 0)
#define EXPECT_HAS(call, status, want) \
    expect_at(__FILE__, __LINE__, (call), (status), (want), 1)

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

/* ---- text --------------------------------------------------------------- */

static void test_text_length_and_kind(void **state)
{
    (void)state;
    char *max = repeat('t', LMS_TITLE_MAX), *over = repeat('t', LMS_TITLE_MAX + 1);
    EXPECT(rule_text(&RULE_ASSIGNMENT_TITLE, "", M), LMS_INVALID_ARGUMENT, "the title is empty");
    EXPECT_OK(rule_text(&RULE_ASSIGNMENT_TITLE, "x", M));
    EXPECT_OK(rule_text(&RULE_ASSIGNMENT_TITLE, max, M));
    EXPECT(rule_text(&RULE_ASSIGNMENT_TITLE, over, M), LMS_INVALID_ARGUMENT,
           "the title is 201 bytes; at most 200 are allowed");
    EXPECT_OK(rule_text(&RULE_QUESTION_TITLE, "", M)); /* 0: made from the question */
    EXPECT_OK(rule_text(&RULE_ASSIGNMENT_TITLE, "Physik f\xc3\xbcr alle \xf0\x9f\x98\x80", M));
    /* one line refuses what a body keeps */
    EXPECT(rule_text(&RULE_ASSIGNMENT_TITLE, "a\nb", M), LMS_INVALID_ARGUMENT,
           "the title contains a control character (U+000A); only printable text on one "
           "line is allowed");
    EXPECT_OK(rule_text(&RULE_DESCRIPTION, "line one\n\tline two", M));
    EXPECT_OK(rule_text(&RULE_DESCRIPTION, "", M));
    EXPECT_HAS(rule_text(&RULE_DESCRIPTION, "a\r\nb", M), LMS_INVALID_ARGUMENT,
               "the description contains a control character (U+000D)");
    EXPECT_HAS(rule_text(&RULE_REPLY, "x\xe2\x80\xaey", M), LMS_INVALID_ARGUMENT,
               "the reply contains an invisible formatting character (U+202E)");
    EXPECT_HAS(rule_text(&RULE_QUESTION, "\xff", M), LMS_INVALID_ARGUMENT,
               "the question is not valid UTF-8");
    /* a field with a lower bound above 1 */
    const rule_field two = {.what = "the code", .min = 2, .max = 4, .kind = UTF8_LINE};
    EXPECT(rule_text(&two, "a", M), LMS_INVALID_ARGUMENT,
           "the code is 1 bytes; at least 2 are needed");
    EXPECT_OK(rule_text(&two, "ab", M));
    free(max);
    free(over);
}

/* Every field accepts exactly its max bytes and refuses one more, and
 * names itself ("the ..."), so an edit of a limit shows here. */
static void test_every_field_holds_its_limits(void **state)
{
    (void)state;
    const struct {
        const rule_field *f;
        const char *what;
        size_t min, max;
    } fields[] = {
        {&RULE_FULL_NAME, "the full name", 0, LMS_TITLE_MAX},
        {&RULE_COURSE_TITLE, "the title", 1, LMS_TITLE_MAX},
        {&RULE_ASSIGNMENT_TITLE, "the title", 1, LMS_TITLE_MAX},
        {&RULE_DESCRIPTION, "the description", 0, RULE_TEXT_MAX},
        {&RULE_FEEDBACK, "the feedback", 0, RULE_TEXT_MAX},
        {&RULE_MATERIAL_TITLE, "the title", 1, LMS_TITLE_MAX},
        {&RULE_QUESTION, "the question", 1, RULE_TEXT_MAX},
        {&RULE_QUESTION_TITLE, "the question's title", 0, LMS_TITLE_MAX},
        {&RULE_REPLY, "the reply", 1, RULE_TEXT_MAX},
        {&RULE_NOTE, "the note", 0, RULE_TEXT_MAX},
        {&RULE_SYSTEM_PROMPT, "the system prompt", 0, RULE_TEXT_MAX},
        {&RULE_TUTOR_ANSWER, "the tutor answer", 1, RULE_TUTOR_ANSWER_MAX},
        {&RULE_TUTOR_PROVIDER, "the tutor provider", 1, LMS_NAME_MAX},
        {&RULE_TUTOR_MODEL, "the tutor model", 0, LMS_TITLE_MAX},
        {&RULE_FILE_NAME, "the file name", 1, LMS_FILENAME_MAX},
        {&RULE_ANNOUNCEMENT, "the announcement", 1, RULE_TEXT_MAX},
        {&RULE_ANNOUNCEMENT_TITLE, "the announcement's title", 0, LMS_TITLE_MAX},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const rule_field *f = fields[i].f;
        assert_string_equal(f->what, fields[i].what);
        assert_int_equal(f->min, fields[i].min);
        assert_int_equal(f->max, fields[i].max);
        char *s = repeat('a', f->max);
        EXPECT_OK(rule_text(f, s, M));
        free(s);
        s = repeat('a', f->max + 1);
        char want[128];
        snprintf(want, sizeof want, "%s is %zu bytes; at most %zu are allowed", f->what,
                 f->max + 1, f->max);
        EXPECT(rule_text(f, s, M), LMS_INVALID_ARGUMENT, want);
        free(s);
        if (f->min == 0) {
            EXPECT_OK(rule_text(f, "", M));
        } else {
            snprintf(want, sizeof want, "%s is empty", f->what);
            EXPECT(rule_text(f, "", M), LMS_INVALID_ARGUMENT, want);
        }
    }
}

static void test_user_names_and_course_codes(void **state)
{
    (void)state;
    static const char user_rule[] = "a user name must be 1 to 64 characters of A-Z a-z "
                                    "0-9 . _ -, starting with a letter or digit";
    static const char code_rule[] = "a course code must be 1 to 64 characters of A-Z a-z "
                                    "0-9 . _ -";
    char *longest = repeat('n', LMS_NAME_MAX), *too_long = repeat('n', LMS_NAME_MAX + 1);
    EXPECT_OK(rule_user_name("a.b_c-9", M));
    EXPECT_OK(rule_user_name("9lives", M));
    EXPECT_OK(rule_user_name(longest, M));
    const char *bad[] = {"", "-dash", ".dot", "_under", "has space", "slash/",
                         "\xc3\xbcmlaut", too_long};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT(rule_user_name(bad[i], M), LMS_INVALID_ARGUMENT, user_rule);
    /* a course code may start with any of its characters */
    EXPECT_OK(rule_course_code("_PH.100-x", M));
    EXPECT_OK(rule_course_code(longest, M));
    EXPECT(rule_course_code("PH 100", M), LMS_INVALID_ARGUMENT, code_rule);
    EXPECT(rule_course_code("", M), LMS_INVALID_ARGUMENT, code_rule);
    EXPECT(rule_course_code(too_long, M), LMS_INVALID_ARGUMENT, code_rule);
    free(longest);
    free(too_long);
}

static void test_file_names(void **state)
{
    (void)state;
    char *longest = repeat('f', LMS_FILENAME_MAX), *too_long = repeat('f', LMS_FILENAME_MAX + 1);
    EXPECT_OK(rule_file_name("report.pdf", M));
    EXPECT_OK(rule_file_name("..hidden", M));
    EXPECT_OK(rule_file_name(longest, M));
    EXPECT(rule_file_name("", M), LMS_INVALID_ARGUMENT, "the file name is empty");
    EXPECT(rule_file_name(too_long, M), LMS_INVALID_ARGUMENT,
           "the file name is 256 bytes; at most 255 are allowed");
    EXPECT(rule_file_name("dir/file.c", M), LMS_INVALID_ARGUMENT,
           "the file name \"dir/file.c\" must be one plain name: no '/', not \".\" or "
           "\"..\"");
    EXPECT(rule_file_name(".", M), LMS_INVALID_ARGUMENT,
           "the file name \".\" must be one plain name: no '/', not \".\" or \"..\"");
    EXPECT(rule_file_name("..", M), LMS_INVALID_ARGUMENT,
           "the file name \"..\" must be one plain name: no '/', not \".\" or \"..\"");
    EXPECT_HAS(rule_file_name("a\x1b[31m.c", M), LMS_INVALID_ARGUMENT,
               "the file name contains a control character (U+001B)");
    free(longest);
    free(too_long);
}

static void test_sha256_file_size_and_password(void **state)
{
    (void)state;
    EXPECT_OK(rule_sha256("the file SHA-256", LMS_SHA256_LEN, M));
    EXPECT(rule_sha256("the file SHA-256", 31, M), LMS_INVALID_ARGUMENT,
           "the file SHA-256 must be 32 bytes (got 31)");
    EXPECT(rule_sha256("the session token hash", 0, M), LMS_INVALID_ARGUMENT,
           "the session token hash must be 32 bytes (got 0)");

    EXPECT_OK(rule_file_size(1024, 1024, "the assignment", M));
    EXPECT_OK(rule_file_size(0, 1024, "the assignment", M));
    EXPECT(rule_file_size(1025, 1024, "this server", M), LMS_INVALID_ARGUMENT,
           "the file is 1025 bytes; this server accepts at most 1024");

    char *pw = repeat('p', RULE_PASSWORD_MAX);
    EXPECT_OK(rule_password("12345678", M));
    EXPECT_OK(rule_password(pw, M));
    EXPECT(rule_password("1234567", M), LMS_INVALID_ARGUMENT,
           "the password is too short: at least 8 characters");
    EXPECT(rule_password(NULL, M), LMS_INVALID_ARGUMENT,
           "the password is too short: at least 8 characters");
    free(pw);
    pw = repeat('p', RULE_PASSWORD_MAX + 1);
    EXPECT(rule_password(pw, M), LMS_INVALID_ARGUMENT,
           "the password is too long: at most 1024 bytes");
    free(pw);
}

/* ---- who may do what ------------------------------------------------------ */

static void test_role_needs(void **state)
{
    (void)state;
    enum { S = LMS_ROLE_STUDENT, I = LMS_ROLE_INSTRUCTOR, A = LMS_ROLE_ADMIN,
           NONE = LMS_ROLE_NONE };
    /* an admin: by the global role, whatever the course */
    EXPECT_OK(rule_role(RULE_NEED_ADMIN, A, NONE, NULL, "create courses", M));
    EXPECT(rule_role(RULE_NEED_ADMIN, I, I, "CS101", "create courses", M),
           LMS_PERMISSION_DENIED, "only an admin may create courses");
    /* a member: enrolled in any role, or an admin */
    EXPECT_OK(rule_role(RULE_NEED_MEMBER, S, S, "CS101", "download its materials", M));
    EXPECT_OK(rule_role(RULE_NEED_MEMBER, I, I, "CS101", "download its materials", M));
    EXPECT_OK(rule_role(RULE_NEED_MEMBER, A, NONE, "CS101", "download its materials", M));
    EXPECT(rule_role(RULE_NEED_MEMBER, S, NONE, "CS101", "download its materials", M),
           LMS_PERMISSION_DENIED, "only the members of course CS101 may download its materials");
    /* a student: enrolled as one; an admin is no student */
    EXPECT_OK(rule_role(RULE_NEED_STUDENT, S, S, "CS101", "submit", M));
    EXPECT(rule_role(RULE_NEED_STUDENT, S, NONE, "CS101", "submit", M), LMS_PERMISSION_DENIED,
           "only students enrolled in course CS101 may submit");
    EXPECT(rule_role(RULE_NEED_STUDENT, I, I, "CS101", "submit", M), LMS_PERMISSION_DENIED,
           "only students enrolled in course CS101 may submit");
    EXPECT(rule_role(RULE_NEED_STUDENT, A, NONE, "CS101", "submit", M), LMS_PERMISSION_DENIED,
           "only students enrolled in course CS101 may submit");
    /* an instructor: teaches the course; neither another's nor an admin */
    EXPECT_OK(rule_role(RULE_NEED_INSTRUCTOR, I, I, "CS101", "grade it", M));
    EXPECT(rule_role(RULE_NEED_INSTRUCTOR, I, NONE, "CS101", "grade it", M),
           LMS_PERMISSION_DENIED, "only the instructors of course CS101 may grade it");
    EXPECT(rule_role(RULE_NEED_INSTRUCTOR, S, S, "CS101", "grade it", M),
           LMS_PERMISSION_DENIED, "only the instructors of course CS101 may grade it");
    EXPECT(rule_role(RULE_NEED_INSTRUCTOR, A, NONE, "CS101", "grade it", M),
           LMS_PERMISSION_DENIED, "only the instructors of course CS101 may grade it");
    /* an instructor's work a TA shares (grading, answering): the staff */
    EXPECT_OK(rule_role(RULE_NEED_STAFF, I, I, "CS101", "grade it", M));
    EXPECT_OK(rule_role(RULE_NEED_STAFF, S, LMS_ROLE_TA, "CS101", "grade it", M));
    EXPECT_OK(rule_role(RULE_NEED_STAFF, I, LMS_ROLE_TA, "CS101", "grade it", M));
    EXPECT(rule_role(RULE_NEED_STAFF, S, S, "CS101", "grade it", M), LMS_PERMISSION_DENIED,
           "only the instructors and teaching assistants of course CS101 may grade it");
    EXPECT(rule_role(RULE_NEED_STAFF, A, NONE, "CS101", "grade it", M),
           LMS_PERMISSION_DENIED,
           "only the instructors and teaching assistants of course CS101 may grade it");
    /* a TA is not an instructor: course settings stay the instructors' */
    EXPECT(rule_role(RULE_NEED_INSTRUCTOR, S, LMS_ROLE_TA, "CS101", "create assignments", M),
           LMS_PERMISSION_DENIED, "only the instructors of course CS101 may create assignments");
    assert_true(rule_is_staff(LMS_ROLE_INSTRUCTOR) && rule_is_staff(LMS_ROLE_TA));
    assert_false(rule_is_staff(LMS_ROLE_STUDENT) || rule_is_staff(LMS_ROLE_NONE) ||
                 rule_is_staff(LMS_ROLE_ADMIN));
    /* the needs are the enrolment roles they ask for */
    assert_int_equal(RULE_NEED_STUDENT, LMS_ROLE_STUDENT);
    assert_int_equal(RULE_NEED_INSTRUCTOR, LMS_ROLE_INSTRUCTOR);
    assert_int_equal(RULE_NEED_MEMBER, LMS_ROLE_NONE);
}

static void test_roles_and_enrolment(void **state)
{
    (void)state;
    for (int r = LMS_ROLE_STUDENT; r <= LMS_ROLE_ADMIN; r++)
        EXPECT_OK(rule_user_role(r, M));
    EXPECT(rule_user_role(LMS_ROLE_NONE, M), LMS_INVALID_ARGUMENT,
           "role must be student, instructor or admin");
    EXPECT(rule_user_role(LMS_ROLE_ADMIN + 1, M), LMS_INVALID_ARGUMENT,
           "role must be student, instructor or admin");

    EXPECT_OK(rule_enrol_role(LMS_ROLE_STUDENT, M));
    EXPECT_OK(rule_enrol_role(LMS_ROLE_INSTRUCTOR, M));
    EXPECT_OK(rule_enrol_role(LMS_ROLE_TA, M));
    EXPECT(rule_enrol_role(LMS_ROLE_TA + 1, M), LMS_INVALID_ARGUMENT,
           "the enrolment role must be student, instructor or ta");
    EXPECT(rule_enrol_role(LMS_ROLE_ADMIN, M), LMS_INVALID_ARGUMENT,
           "the enrolment role must be student, instructor or ta");
    EXPECT(rule_enrol_role(LMS_ROLE_NONE, M), LMS_INVALID_ARGUMENT,
           "the enrolment role must be student, instructor or ta");

    lms_user stu = {.name = "spare", .role = LMS_ROLE_STUDENT};
    lms_user ins = {.name = "ins2", .role = LMS_ROLE_INSTRUCTOR};
    lms_user adm = {.name = "root", .role = LMS_ROLE_ADMIN};
    EXPECT_OK(rule_enrolment(&stu, LMS_ROLE_STUDENT, M));
    EXPECT_OK(rule_enrolment(&ins, LMS_ROLE_INSTRUCTOR, M));
    EXPECT(rule_enrolment(&stu, LMS_ROLE_INSTRUCTOR, M), LMS_FAILED_PRECONDITION,
           "user spare is a student and cannot teach");
    EXPECT(rule_enrolment(&ins, LMS_ROLE_STUDENT, M), LMS_FAILED_PRECONDITION,
           "user ins2 is an instructor and cannot be enrolled as a student");
    EXPECT(rule_enrolment(&adm, LMS_ROLE_STUDENT, M), LMS_FAILED_PRECONDITION,
           "user root is an admin and cannot be enrolled");
    /* a teaching assistant: a student or an instructor elsewhere, not an admin */
    EXPECT_OK(rule_enrolment(&stu, LMS_ROLE_TA, M));
    EXPECT_OK(rule_enrolment(&ins, LMS_ROLE_TA, M));
    EXPECT(rule_enrolment(&adm, LMS_ROLE_TA, M), LMS_FAILED_PRECONDITION,
           "user root is an admin and cannot be enrolled");
    /* the role is checked first */
    EXPECT(rule_enrolment(&adm, LMS_ROLE_ADMIN, M), LMS_INVALID_ARGUMENT,
           "the enrolment role must be student, instructor or ta");

    EXPECT_OK(rule_student_of("stu1", LMS_ROLE_STUDENT, "CS101", M));
    EXPECT(rule_student_of("ghost", LMS_ROLE_NONE, "CS101", M), LMS_FAILED_PRECONDITION,
           "user ghost is not a student of course CS101");
    EXPECT(rule_student_of("ins1", LMS_ROLE_INSTRUCTOR, "CS101", M), LMS_FAILED_PRECONDITION,
           "user ins1 is not a student of course CS101");

    EXPECT_OK(rule_import_size(0, M));
    EXPECT_OK(rule_import_size(RULE_IMPORT_MAX, M));
    EXPECT(rule_import_size(RULE_IMPORT_MAX + 1, M), LMS_INVALID_ARGUMENT,
           "import at most 10000 users at a time (got 10001)");
}

/* ---- assignments, submissions, grades -------------------------------------- */

static lms_assignment assignment(void)
{
    return (lms_assignment){.id = 7, .course = "CS101", .title = "Lab 1", .description = "",
                            .due = DUE, .cutoff = CUTOFF, .max_points = 10,
                            .max_attempts = 3, .max_size = 1000};
}

static void test_assignment_numbers(void **state)
{
    (void)state;
    lms_assignment a = assignment();
    EXPECT_OK(rule_assignment(&a, M));
    a.cutoff = 0; /* none */
    EXPECT_OK(rule_assignment(&a, M));
    a.cutoff = a.due; /* a cut-off may equal the due time */
    EXPECT_OK(rule_assignment(&a, M));
    a.due = RULE_TIME_MAX;
    a.cutoff = 0;
    EXPECT_OK(rule_assignment(&a, M));

    static const char years[] = "the due time and cut-off must be between 1970 and the end "
                                "of year 9999";
    a = assignment();
    a.due = 0;
    EXPECT(rule_assignment(&a, M), LMS_INVALID_ARGUMENT, "a due time is required");
    a.due = -1;
    EXPECT(rule_assignment(&a, M), LMS_INVALID_ARGUMENT, "a due time is required");
    a = assignment();
    a.due = RULE_TIME_MAX + 1;
    a.cutoff = 0;
    EXPECT(rule_assignment(&a, M), LMS_INVALID_ARGUMENT, years);
    a = assignment();
    a.cutoff = INT64_MAX;
    EXPECT(rule_assignment(&a, M), LMS_INVALID_ARGUMENT, years);
    a.cutoff = -1;
    EXPECT(rule_assignment(&a, M), LMS_INVALID_ARGUMENT, years);
    a.cutoff = DUE - 1;
    EXPECT(rule_assignment(&a, M), LMS_INVALID_ARGUMENT,
           "the cut-off 2026-11-30T23:59:59.999Z is before the due time "
           "2026-12-01T00:00:00Z");

    a = assignment();
    a.max_points = RULE_POINTS_MAX;
    EXPECT_OK(rule_assignment(&a, M));
    a.max_points = 0.5;
    EXPECT_OK(rule_assignment(&a, M));
    a.max_points = 0;
    EXPECT(rule_assignment(&a, M), LMS_INVALID_ARGUMENT,
           "maximum points must be a number above 0 and at most 1e+06 (got 0)");
    double bad_points[] = {-1, NAN, INFINITY, 1e6 + 1};
    for (size_t i = 0; i < sizeof bad_points / sizeof bad_points[0]; i++) {
        a.max_points = bad_points[i];
        EXPECT_HAS(rule_assignment(&a, M), LMS_INVALID_ARGUMENT,
                   "maximum points must be a number above 0 and at most 1e+06 (got ");
    }

    a = assignment();
    a.max_attempts = 0; /* no limit */
    EXPECT_OK(rule_assignment(&a, M));
    a.max_attempts = RULE_ATTEMPTS_MAX;
    EXPECT_OK(rule_assignment(&a, M));
    a.max_attempts = RULE_ATTEMPTS_MAX + 1;
    EXPECT(rule_assignment(&a, M), LMS_INVALID_ARGUMENT,
           "maximum attempts must be at most 1000, or 0 for no limit (got 1001)");

    a = assignment();
    a.max_size = 1;
    EXPECT_OK(rule_assignment(&a, M));
    a.max_size = 0;
    EXPECT(rule_assignment(&a, M), LMS_INVALID_ARGUMENT,
           "the maximum file size must be at least 1 byte");

    EXPECT_OK(rule_max_size(262144, 262144, M));
    EXPECT(rule_max_size(524288, 262144, M), LMS_INVALID_ARGUMENT,
           "the maximum file size 524288 bytes is above this server's upload limit of "
           "262144 bytes");
}

static void test_grades(void **state)
{
    (void)state;
    lms_assignment a = assignment();
    EXPECT_OK(rule_grader("ta1", "stu1", M));
    EXPECT(rule_grader("stu1", "stu1", M), LMS_PERMISSION_DENIED,
           "is your own work; another of the course's staff must grade it");
    EXPECT_OK(rule_grade(0, &a, M));
    EXPECT_OK(rule_grade(10, &a, M));
    EXPECT_OK(rule_grade(7.25, &a, M));
    EXPECT(rule_grade(11, &a, M), LMS_INVALID_ARGUMENT,
           "grade 11 is outside 0 to 10, the points of assignment 7");
    EXPECT(rule_grade(-0.5, &a, M), LMS_INVALID_ARGUMENT,
           "grade -0.5 is outside 0 to 10, the points of assignment 7");
    double bad[] = {NAN, INFINITY, -INFINITY, 10.000001};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT_HAS(rule_grade(bad[i], &a, M), LMS_INVALID_ARGUMENT,
                   "is outside 0 to 10, the points of assignment 7");
}

static void test_extensions_and_effective_times(void **state)
{
    (void)state;
    lms_assignment a = assignment();
    EXPECT_OK(rule_extension(&a, DUE + 1, M));
    EXPECT_OK(rule_extension(&a, RULE_TIME_MAX, M));
    EXPECT(rule_extension(&a, DUE, M), LMS_INVALID_ARGUMENT,
           "the extension's end 2026-12-01T00:00:00Z is not after the assignment's due "
           "time 2026-12-01T00:00:00Z; an extension must end after it");
    EXPECT(rule_extension(&a, DUE - DAY, M), LMS_INVALID_ARGUMENT,
           "the extension's end 2026-11-30T00:00:00Z is not after the assignment's due "
           "time 2026-12-01T00:00:00Z; an extension must end after it");
    EXPECT(rule_extension(&a, 0, M), LMS_INVALID_ARGUMENT, "an extension needs an end time");
    EXPECT(rule_extension(&a, RULE_TIME_MAX + 1, M), LMS_INVALID_ARGUMENT,
           "the extension's end must be before the end of year 9999");

    int64_t due, cut;
    rule_effective_times(DUE, CUTOFF, 0, &due, &cut); /* no extension */
    assert_int_equal(due, DUE);
    assert_int_equal(cut, CUTOFF);
    rule_effective_times(DUE, CUTOFF, DUE + 5, &due, &cut); /* before the cut-off */
    assert_int_equal(due, DUE + 5);
    assert_int_equal(cut, CUTOFF);
    rule_effective_times(DUE, CUTOFF, CUTOFF + DAY, &due, &cut); /* past it */
    assert_int_equal(due, CUTOFF + DAY);
    assert_int_equal(cut, CUTOFF + DAY);
    rule_effective_times(DUE, 0, CUTOFF + DAY, &due, &cut); /* adds no cut-off */
    assert_int_equal(due, CUTOFF + DAY);
    assert_int_equal(cut, 0);
    rule_effective_times(DUE, CUTOFF, DUE - DAY, &due, &cut); /* never earlier */
    assert_int_equal(due, DUE);
    assert_int_equal(cut, CUTOFF);
}

/* ---- changing assignments, the late policy ------------------------------ */

static void test_assignment_changes(void **state)
{
    (void)state;
    EXPECT_OK(rule_late_penalty(0, M));
    EXPECT_OK(rule_late_penalty(RULE_LATE_PENALTY_MAX, M));
    EXPECT(rule_late_penalty(101, M), LMS_INVALID_ARGUMENT,
           "the late penalty must be 0 to 100 percent of the points per day late (got 101)");
    EXPECT_OK(rule_edit_given(1, M));
    EXPECT_HAS(rule_edit_given(0, M), LMS_INVALID_ARGUMENT, "nothing to change");
    EXPECT_OK(rule_max_points_graded(5, 0, M));
    EXPECT(rule_max_points_graded(50, 1, M), LMS_FAILED_PRECONDITION,
           "1 grade is above 50 points; regrade it first");
    EXPECT(rule_max_points_graded(7.5, 3, M), LMS_FAILED_PRECONDITION,
           "3 grades are above 7.5 points; regrade them first");
    EXPECT_OK(rule_delete_assignment(7, 0, M));
    EXPECT(rule_delete_assignment(7, 1, M), LMS_FAILED_PRECONDITION,
           "has 1 submission, so it cannot be deleted; hide it from the students instead: "
           "lms-instructor hide-assignment 7");
    EXPECT_HAS(rule_delete_assignment(7, 12, M), LMS_FAILED_PRECONDITION, "has 12 submissions");
    EXPECT_OK(rule_assignment_open(7, 0, M));
    EXPECT(rule_assignment_open(7, 1, M), LMS_FAILED_PRECONDITION,
           "assignment 7 is hidden; it accepts no submissions");
    EXPECT_OK(rule_assignment_visible(7, 0, 0, M));
    EXPECT_OK(rule_assignment_visible(7, 1, 1, M));
    EXPECT(rule_assignment_visible(7, 1, 0, M), LMS_FAILED_PRECONDITION,
           "assignment 7 is hidden from its students");
}

static void test_days_late_and_deduction(void **state)
{
    (void)state;
    /* on time up to the due time itself; each started day counts */
    assert_int_equal(rule_days_late(DUE - DAY, DUE), 0);
    assert_int_equal(rule_days_late(DUE, DUE), 0);
    assert_int_equal(rule_days_late(DUE + 1, DUE), 1);
    assert_int_equal(rule_days_late(DUE + DAY, DUE), 1);
    assert_int_equal(rule_days_late(DUE + DAY + 1, DUE), 2);
    assert_int_equal(rule_days_late(DUE + 5 * DAY / 2, DUE), 3);
    assert_int_equal(rule_days_late(INT64_MAX, 1), UINT32_MAX); /* held, not wrapped */
    assert_int_equal(rule_days_late(INT64_MIN, 1), 0);
    /* pct% of max_points per day, never more than the grade */
    assert_true(rule_late_deduction(85, 100, 10, 3) == 30);
    assert_true(rule_late_deduction(85, 100, 0, 3) == 0);
    assert_true(rule_late_deduction(85, 100, 10, 0) == 0);
    assert_true(rule_late_deduction(8, 10, 15, 1) == 1.5);
    assert_true(rule_late_deduction(20, 100, 10, 3) == 20);     /* 30 off 20: 0 left */
    assert_true(rule_late_deduction(85, 100, 100, 1) == 85);    /* all of it */
    assert_true(rule_late_deduction(85, 100, 1, UINT32_MAX) == 85); /* no overflow */
    assert_true(rule_late_deduction(0, 100, 10, 3) == 0);
}

static void test_submission_window(void **state)
{
    (void)state;
    lms_assignment a = assignment();
    /* time: late is fine until the cut-off, the cut-off itself included */
    EXPECT_OK(rule_submission(&a, DUE - 1, 0, 0, 10, M));
    EXPECT_OK(rule_submission(&a, DUE + 1, 0, 0, 10, M));
    EXPECT_OK(rule_submission(&a, CUTOFF, 0, 0, 10, M));
    EXPECT(rule_submission(&a, CUTOFF + 1, 0, 0, 10, M), LMS_FAILED_PRECONDITION,
           "the cut-off 2026-12-03T00:00:00Z has passed");
    /* an extension past the cut-off moves it */
    EXPECT_OK(rule_submission(&a, CUTOFF + 1, CUTOFF + DAY, 0, 10, M));
    EXPECT(rule_submission(&a, CUTOFF + DAY + 1, CUTOFF + DAY, 0, 10, M),
           LMS_FAILED_PRECONDITION, "the cut-off 2026-12-04T00:00:00Z has passed");
    /* one before the cut-off does not move it */
    EXPECT(rule_submission(&a, CUTOFF + 1, DUE + DAY, 0, 10, M), LMS_FAILED_PRECONDITION,
           "the cut-off 2026-12-03T00:00:00Z has passed");
    lms_assignment open = assignment();
    open.cutoff = 0; /* none: late forever */
    EXPECT_OK(rule_submission(&open, RULE_TIME_MAX, 0, 0, 10, M));

    /* attempts */
    EXPECT_OK(rule_submission(&a, DUE, 0, 2, 10, M));
    EXPECT(rule_submission(&a, DUE, 0, 3, 10, M), LMS_FAILED_PRECONDITION,
           "all 3 attempts used");
    lms_assignment unlimited = assignment();
    unlimited.max_attempts = 0;
    EXPECT_OK(rule_submission(&unlimited, DUE, 0, 100000, 10, M));

    /* the file */
    EXPECT(rule_submission(&a, DUE, 0, 0, 0, M), LMS_INVALID_ARGUMENT,
           "the file is empty; there is nothing to hand in");
    EXPECT_OK(rule_submission(&a, DUE, 0, 0, 1, M));
    EXPECT_OK(rule_submission(&a, DUE, 0, 0, 1000, M));
    EXPECT(rule_submission(&a, DUE, 0, 0, 1001, M), LMS_INVALID_ARGUMENT,
           "the file is 1001 bytes; the assignment accepts at most 1000");

    /* the order: the cut-off, then the attempts, then the file */
    EXPECT_HAS(rule_submission(&a, CUTOFF + 1, 0, 3, 0, M), LMS_FAILED_PRECONDITION,
               "cut-off");
    EXPECT_HAS(rule_submission(&a, DUE, 0, 3, 0, M), LMS_FAILED_PRECONDITION, "attempts");
    EXPECT_HAS(rule_submission(&a, DUE, 0, 0, 0, M), LMS_INVALID_ARGUMENT, "empty");
}

/* ---- questions -------------------------------------------------------------- */

static lms_query query(int kind)
{
    return (lms_query){.id = 24, .course = "CS101", .student = "stu1", .kind = kind};
}

static void test_query_parties_and_replies(void **state)
{
    (void)state;
    lms_query q = query(LMS_QUERY_INSTRUCTOR);
    EXPECT_OK(rule_query_party(&q, "stu1", LMS_ROLE_STUDENT, "reply to it", M));
    /* the student who asked, after lms-admin unenroll: not any more */
    EXPECT(rule_query_party(&q, "stu1", LMS_ROLE_NONE, "reply to it", M),
           LMS_PERMISSION_DENIED, "only the members of course CS101 may reply to it");
    EXPECT_OK(rule_query_party(&q, "stu1", LMS_ROLE_TA, "reply to it", M));
    EXPECT_OK(rule_query_party(&q, "ins1", LMS_ROLE_INSTRUCTOR, "reply to it", M));
    EXPECT_OK(rule_query_party(&q, "ta1", LMS_ROLE_TA, "reply to it", M));
    static const char only[] = "only the student who asked and the instructors and "
                               "teaching assistants of its course may reply to it";
    EXPECT(rule_query_party(&q, "stu2", LMS_ROLE_STUDENT, "reply to it", M),
           LMS_PERMISSION_DENIED, only);
    EXPECT(rule_query_party(&q, "ins2", LMS_ROLE_NONE, "reply to it", M),
           LMS_PERMISSION_DENIED, only);
    assert_null(strstr(msg, "CS101")); /* a guessed id tells nothing */

    EXPECT_OK(rule_reply(&q, M));
    lms_query t = query(LMS_QUERY_TUTOR);
    EXPECT(rule_reply(&t, M), LMS_FAILED_PRECONDITION,
           "is an exchange with the tutor; to ask the instructors about it: lms-student "
           "escalate 24");
}

static void test_escalation(void **state)
{
    (void)state;
    lms_query t = query(LMS_QUERY_TUTOR);
    EXPECT_OK(rule_escalate(&t, "stu1", M));
    EXPECT(rule_escalate(&t, "stu2", M), LMS_PERMISSION_DENIED,
           "only the student who asked may escalate it");
    lms_query q = query(LMS_QUERY_INSTRUCTOR);
    EXPECT(rule_escalate(&q, "stu1", M), LMS_FAILED_PRECONDITION,
           "is a question to the instructors already; only tutor answers are escalated");
    /* whose it is comes first */
    EXPECT(rule_escalate(&q, "stu2", M), LMS_PERMISSION_DENIED,
           "only the student who asked may escalate it");
}

static void test_sharing(void **state)
{
    (void)state;
    static const char no_reply[] =
        "has no reply from an instructor of its course yet, so there is nothing to share; "
        "reply first: lms-instructor reply 24 --share TEXT";
    static const char tutor[] =
        "is an exchange with the tutor; only questions to the instructors can be shared";
    lms_query q = query(LMS_QUERY_INSTRUCTOR);
    EXPECT_OK(rule_share(&q, 1, 1, M));
    EXPECT(rule_share(&q, 1, 0, M), LMS_FAILED_PRECONDITION, no_reply);
    EXPECT_OK(rule_share(&q, 0, 0, M)); /* withdrawing needs no reply */
    q.shared = 1;
    EXPECT_OK(rule_share(&q, 1, 0, M)); /* shared already: nothing to decide */
    EXPECT_OK(rule_share(&q, 0, 0, M));
    lms_query t = query(LMS_QUERY_TUTOR);
    EXPECT(rule_share(&t, 1, 1, M), LMS_FAILED_PRECONDITION, tutor);
    EXPECT(rule_share(&t, 0, 1, M), LMS_FAILED_PRECONDITION, tutor);
}

/* ---- the tutor ---------------------------------------------------------------- */

static void test_tutor_limits(void **state)
{
    (void)state;
    const int64_t T0 = DUE; /* a UTC midnight */
    assert_int_equal(rule_utc_day(T0), T0);
    assert_int_equal(rule_utc_day(T0 + DAY - 1), T0);
    assert_int_equal(rule_utc_day(T0 + DAY), T0 + DAY);
    assert_int_equal(rule_utc_day(0), 0);
    assert_int_equal(rule_utc_day(-1), -DAY);

    EXPECT_OK(rule_tutor_limit(0, 100000, "CS101", M)); /* 0: no limit */
    EXPECT_OK(rule_tutor_limit(2, 1, "CS101", M));
    EXPECT(rule_tutor_limit(2, 2, "CS101", M), LMS_RESOURCE_EXHAUSTED,
           "you have used your 2 tutor questions for today in CS101; ask your instructor "
           "instead: lms-student ask --course CS101 --instructor \"your question\"");
    EXPECT(rule_tutor_limit(1, 5, "MA201", M), LMS_RESOURCE_EXHAUSTED,
           "you have used your 1 tutor question for today in MA201; ask your instructor "
           "instead: lms-student ask --course MA201 --instructor \"your question\"");

    EXPECT_OK(rule_daily_limit(0, M));
    EXPECT_OK(rule_daily_limit(RULE_TUTOR_LIMIT_MAX, M));
    EXPECT(rule_daily_limit(RULE_TUTOR_LIMIT_MAX + 1, M), LMS_INVALID_ARGUMENT,
           "the daily limit must be at most 10000 (got 10001)");
}

/* ---- announcements and the inbox -------------------------------------------------- */

static void test_announcers(void **state)
{
    (void)state;
    EXPECT_OK(rule_announcer(LMS_ROLE_INSTRUCTOR, LMS_ROLE_INSTRUCTOR, "CS101", M));
    EXPECT_OK(rule_announcer(LMS_ROLE_ADMIN, LMS_ROLE_NONE, "CS101", M));
    /* an instructor of another course, a student, a stranger */
    EXPECT(rule_announcer(LMS_ROLE_INSTRUCTOR, LMS_ROLE_NONE, "CS101", M),
           LMS_PERMISSION_DENIED, "only the instructors of course CS101 may post announcements");
    EXPECT(rule_announcer(LMS_ROLE_STUDENT, LMS_ROLE_STUDENT, "CS101", M),
           LMS_PERMISSION_DENIED, "only the instructors of course CS101 may post announcements");
    /* a teaching assistant (a student or an instructor elsewhere) is told why */
    const char *ta = "only the instructors of course CS101 may post announcements (an "
                     "announcement speaks for the course; ask an instructor to post it)";
    EXPECT(rule_announcer(LMS_ROLE_STUDENT, LMS_ROLE_TA, "CS101", M), LMS_PERMISSION_DENIED,
           ta);
    EXPECT(rule_announcer(LMS_ROLE_INSTRUCTOR, LMS_ROLE_TA, "CS101", M),
           LMS_PERMISSION_DENIED, ta);
}

static void test_inbox_window_and_mark(void **state)
{
    (void)state;
    EXPECT_OK(rule_inbox_window(0, 0, 0, M));
    EXPECT_OK(rule_inbox_window(0, 1, DUE, M));
    EXPECT_OK(rule_inbox_window(DUE, 0, DUE + 1, M));
    EXPECT_OK(rule_inbox_window(RULE_TIME_MAX, 0, 0, M));
    EXPECT(rule_inbox_window(DUE, 1, 0, M), LMS_INVALID_ARGUMENT,
           "all (everything) and since (after a time) exclude each other");
    EXPECT(rule_inbox_window(DUE, 0, DUE, M), LMS_INVALID_ARGUMENT,
           "until 2026-12-01T00:00:00Z is not after since 2026-12-01T00:00:00Z");
    const char *range = "since and until must be between 1970 and the end of year 9999";
    EXPECT(rule_inbox_window(-1, 0, 0, M), LMS_INVALID_ARGUMENT, range);
    EXPECT(rule_inbox_window(0, 0, RULE_TIME_MAX + 1, M), LMS_INVALID_ARGUMENT, range);
    EXPECT(rule_inbox_window(INT64_MAX, 0, 0, M), LMS_INVALID_ARGUMENT, range);

    EXPECT_OK(rule_inbox_mark(1, DUE, M));
    EXPECT_OK(rule_inbox_mark(DUE, DUE, M));
    EXPECT_OK(rule_inbox_mark(DUE + RULE_INBOX_SKEW_MS, DUE, M)); /* another leader's clock */
    EXPECT(rule_inbox_mark(DUE + RULE_INBOX_SKEW_MS + 1, DUE, M), LMS_INVALID_ARGUMENT,
           "the time read up to, 2026-12-01T00:05:00.001Z, is in the future (it is "
           "2026-12-01T00:00:00Z); give the time of the newest item shown");
    const char *range2 = "the time read up to must be between 1970 and the end of year 9999";
    EXPECT(rule_inbox_mark(0, DUE, M), LMS_INVALID_ARGUMENT, range2);
    EXPECT(rule_inbox_mark(-5, DUE, M), LMS_INVALID_ARGUMENT, range2);
    EXPECT(rule_inbox_mark(INT64_MAX, INT64_MIN, M), LMS_INVALID_ARGUMENT, range2);
    EXPECT_HAS(rule_inbox_mark(RULE_TIME_MAX, INT64_MIN, M), LMS_INVALID_ARGUMENT,
               "is in the future");
}

/* ---- lookups and the message buffer ---------------------------------------------- */

/* ---- corrections ------------------------------------------------------ */

static void test_material_versions_and_deletion(void **state)
{
    /* shown: a material, deleted or not, to those who see deleted ones */
    EXPECT_OK(rule_material_shown(7, 0, 0, 0, M));
    EXPECT_OK(rule_material_shown(7, 0, 1, 1, M));
    EXPECT(rule_material_shown(7, 0, 1, 0, M), LMS_NOT_FOUND, "material 7 does not exist");
    /* a row that keeps an old version is no material, even for the staff */
    EXPECT(rule_material_shown(8, 1, 0, 1, M), LMS_NOT_FOUND, "material 8 does not exist");
    EXPECT_OK(rule_material_replace(0, M));
    EXPECT(rule_material_replace(1, M), LMS_NOT_FOUND,
           "it was deleted; upload the file as a new material instead");
    /* 0 is the latest; 1..versions */
    EXPECT_OK(rule_material_version(0, 1, M));
    EXPECT_OK(rule_material_version(1, 1, M));
    EXPECT_OK(rule_material_version(3, 3, M));
    EXPECT(rule_material_version(2, 1, M), LMS_NOT_FOUND,
           "has no version 2 (it has only version 1)");
    EXPECT(rule_material_version(4, 3, M), LMS_NOT_FOUND,
           "has no version 4 (it has versions 1 to 3)");
}

static void test_unenroll(void **state)
{
    EXPECT_OK(rule_unenroll("alice", LMS_ROLE_STUDENT, M));
    EXPECT_OK(rule_unenroll("bob", LMS_ROLE_TA, M));
    EXPECT_OK(rule_unenroll("carol", LMS_ROLE_INSTRUCTOR, M));
    EXPECT(rule_unenroll("dave", LMS_ROLE_NONE, M), LMS_FAILED_PRECONDITION,
           "user dave is not enrolled in it");
}

static void test_request_ids(void **state)
{
    (void)state;
    EXPECT_OK(rule_request_id(NULL, M));
    EXPECT_OK(rule_request_id("", M));
    EXPECT_OK(rule_request_id("3f9c0a17b2d4e6f8", M));
    EXPECT_OK(rule_request_id("n1-42", M));
    EXPECT_OK(rule_request_id("job_7.retry-2", M));
    char *longest = repeat('a', RULE_REQUEST_ID_MAX), *too_long = repeat('a', 70);
    EXPECT_OK(rule_request_id(longest, M));
    EXPECT(rule_request_id(too_long, M), LMS_INVALID_ARGUMENT,
           "the request id is 70 bytes; at most 64 are allowed");
    free(longest);
    free(too_long);
    EXPECT(rule_request_id("abcd efgh", M), LMS_INVALID_ARGUMENT,
           "the request id contains ' ' (0x20) at byte 5; only letters, digits, '.', '_' "
           "and '-' are allowed");
    EXPECT(rule_request_id("ab\"c", M), LMS_INVALID_ARGUMENT,
           "the request id contains '\"' (0x22) at byte 3; only letters, digits, '.', '_' "
           "and '-' are allowed");
    /* a control character or a byte of UTF-8 is named by its value only */
    EXPECT(rule_request_id("a\nINFO forged", M), LMS_INVALID_ARGUMENT,
           "the request id contains (0x0A) at byte 2; only letters, digits, '.', '_' "
           "and '-' are allowed");
    EXPECT(rule_request_id("\xc3\xa9t\xc3\xa9", M), LMS_INVALID_ARGUMENT,
           "the request id contains (0xC3) at byte 1; only letters, digits, '.', '_' "
           "and '-' are allowed");
}

static void test_missing_and_short_buffers(void **state)
{
    (void)state;
    EXPECT(rule_missing("assignment", "7", M), LMS_NOT_FOUND, "assignment 7 does not exist");
    EXPECT(rule_missing("course", "cs999", M), LMS_NOT_FOUND, "course cs999 does not exist");
    char *long_key = repeat('k', 100), want[128];
    snprintf(want, sizeof want, "user %.64s does not exist", long_key);
    EXPECT(rule_missing("user", long_key, M), LMS_NOT_FOUND, want);
    free(long_key);

    /* a short buffer gets the start of the reason, terminated */
    char small[8];
    memset(small, 'x', sizeof small);
    assert_int_equal(rule_grade(11, &(lms_assignment){.id = 7, .max_points = 10}, small,
                                sizeof small),
                     LMS_INVALID_ARGUMENT);
    assert_string_equal(small, "grade 1");
    /* a verdict of LMS_OK leaves no stale reason behind */
    strcpy(small, "stale");
    assert_int_equal(rule_grade(1, &(lms_assignment){.id = 7, .max_points = 10}, small,
                                sizeof small),
                     LMS_OK);
    assert_string_equal(small, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_length_and_kind),
        cmocka_unit_test(test_every_field_holds_its_limits),
        cmocka_unit_test(test_user_names_and_course_codes),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_sha256_file_size_and_password),
        cmocka_unit_test(test_role_needs),
        cmocka_unit_test(test_roles_and_enrolment),
        cmocka_unit_test(test_assignment_numbers),
        cmocka_unit_test(test_grades),
        cmocka_unit_test(test_extensions_and_effective_times),
        cmocka_unit_test(test_submission_window),
        cmocka_unit_test(test_assignment_changes),
        cmocka_unit_test(test_days_late_and_deduction),
        cmocka_unit_test(test_query_parties_and_replies),
        cmocka_unit_test(test_escalation),
        cmocka_unit_test(test_sharing),
        cmocka_unit_test(test_tutor_limits),
        cmocka_unit_test(test_material_versions_and_deletion),
        cmocka_unit_test(test_unenroll),
        cmocka_unit_test(test_announcers),
        cmocka_unit_test(test_inbox_window_and_mark),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_missing_and_short_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

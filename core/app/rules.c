/* SPDX-License-Identifier: MIT */
/*
 * rules.c: the rules of the LMS as pure predicates (contracts in rules.h).
 *
 * Deterministic like apply, which calls them: no clock, no locale (ASCII
 * tests are spelled out, times are formatted with gmtime_r), no state.
 * Each refusal goes through refuse(), which writes the reason and returns
 * the status, so a predicate reads as a list of its rules.
 */
#include "rules.h"

#include "lms_assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- the fields ---------------------------------------------------------- */

#define LINE(w, lo, hi) {.what = (w), .min = (lo), .max = (hi), .kind = UTF8_LINE}
#define BODY(w, lo, hi) {.what = (w), .min = (lo), .max = (hi), .kind = UTF8_MULTILINE}

const rule_field RULE_FULL_NAME = LINE("the full name", 0, LMS_TITLE_MAX);
const rule_field RULE_COURSE_TITLE = LINE("the title", 1, LMS_TITLE_MAX);
const rule_field RULE_ASSIGNMENT_TITLE = LINE("the title", 1, LMS_TITLE_MAX);
const rule_field RULE_DESCRIPTION = BODY("the description", 0, RULE_TEXT_MAX);
const rule_field RULE_FEEDBACK = BODY("the feedback", 0, RULE_TEXT_MAX);
const rule_field RULE_MATERIAL_TITLE = LINE("the title", 1, LMS_TITLE_MAX);
const rule_field RULE_QUESTION = BODY("the question", 1, RULE_TEXT_MAX);
const rule_field RULE_QUESTION_TITLE = LINE("the question's title", 0, LMS_TITLE_MAX);
const rule_field RULE_REPLY = BODY("the reply", 1, RULE_TEXT_MAX);
const rule_field RULE_NOTE = BODY("the note", 0, RULE_TEXT_MAX);
const rule_field RULE_SYSTEM_PROMPT = BODY("the system prompt", 0, RULE_TEXT_MAX);
const rule_field RULE_TUTOR_ANSWER = BODY("the tutor answer", 1, RULE_TUTOR_ANSWER_MAX);
const rule_field RULE_TUTOR_PROVIDER = LINE("the tutor provider", 1, LMS_NAME_MAX);
const rule_field RULE_TUTOR_MODEL = LINE("the tutor model", 0, LMS_TITLE_MAX);
const rule_field RULE_FILE_NAME = LINE("the file name", 1, LMS_FILENAME_MAX);
const rule_field RULE_ANNOUNCEMENT = BODY("the announcement", 1, RULE_TEXT_MAX);
const rule_field RULE_ANNOUNCEMENT_TITLE = LINE("the announcement's title", 0, LMS_TITLE_MAX);

/* ---- helpers -------------------------------------------------------------- */

static int ok(char *msg, size_t cap)
{
    LMS_ASSERT(msg != NULL && cap > 0);
    msg[0] = '\0';
    return LMS_OK;
}

/* Write the reason for a refusal with status into msg; returns status. */
__attribute__((format(printf, 4, 5)))
static int refuse(int status, char *msg, size_t cap, const char *fmt, ...)
{
    LMS_ASSERT(status != LMS_OK);
    LMS_ASSERT(msg != NULL && cap > 0);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return status;
}

/* Format ms since the epoch as ISO 8601 UTC ("2026-12-01T00:00:00Z", with
 * milliseconds only when there are some) into buf. */
const char *rule_iso_time(int64_t ms, char *buf, size_t cap)
{
    int64_t sec = ms / 1000;
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "%" PRId64 " ms after the epoch", ms);
        return buf;
    }
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, frac ? ".%03dZ" : "Z", frac);
    return buf;
}

/* ---- text ------------------------------------------------------------------ */

int rule_text(const rule_field *f, const char *s, char *msg, size_t cap)
{
    LMS_ASSERT(f != NULL && s != NULL && f->min <= f->max);
    size_t n = strlen(s);
    if (n == 0 && f->min > 0)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "%s is empty", f->what);
    if (n < f->min)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "%s is %zu bytes; at least %zu "
                      "are needed", f->what, n, f->min);
    if (n > f->max)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "%s is %zu bytes; at most %zu "
                      "are allowed", f->what, n, f->max);
    if (utf8_text_check(f->what, s, n, f->kind, msg, cap) < 0)
        return LMS_INVALID_ARGUMENT;
    return ok(msg, cap);
}

static int ascii_alnum(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= 'a' && ch <= 'z');
}

/* 1..LMS_NAME_MAX of [A-Za-z0-9._-], the first alphanumeric if asked. */
static int ident(const char *what, const char *s, int alnum_first, char *msg,
                 size_t cap)
{
    LMS_ASSERT(s != NULL);
    size_t n = strlen(s);
    int good = n >= 1 && n <= LMS_NAME_MAX && (!alnum_first || ascii_alnum(s[0]));
    for (size_t i = 0; good && i < n; i++)
        good = ascii_alnum(s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-';
    if (!good)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "%s must be 1 to %d characters of A-Z a-z 0-9 . _ -%s", what,
                      LMS_NAME_MAX, alnum_first ? ", starting with a letter or digit" : "");
    return ok(msg, cap);
}

int rule_user_name(const char *s, char *msg, size_t cap)
{
    return ident("a user name", s, 1, msg, cap);
}

int rule_course_code(const char *s, char *msg, size_t cap)
{
    return ident("a course code", s, 0, msg, cap);
}

int rule_file_name(const char *name, char *msg, size_t cap)
{
    int st = rule_text(&RULE_FILE_NAME, name, msg, cap);
    if (st != LMS_OK)
        return st;
    if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "the file name \"%s\" must be "
                      "one plain name: no '/', not \".\" or \"..\"", name);
    return ok(msg, cap);
}

int rule_sha256(const char *what, size_t len, char *msg, size_t cap)
{
    if (len != LMS_SHA256_LEN)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "%s must be %d bytes (got %zu)",
                      what, LMS_SHA256_LEN, len);
    return ok(msg, cap);
}

int rule_file_size(size_t len, uint64_t limit, const char *whose, char *msg,
                   size_t cap)
{
    if (len > limit)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the file is %zu bytes; %s accepts at most %" PRIu64, len, whose,
                      limit);
    return ok(msg, cap);
}

int rule_password(const char *pw, char *msg, size_t cap)
{
    size_t n = pw ? strlen(pw) : 0;
    if (n < RULE_PASSWORD_MIN)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the password is too short: at least %d characters", RULE_PASSWORD_MIN);
    if (n > RULE_PASSWORD_MAX)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the password is too long: at most %d bytes", RULE_PASSWORD_MAX);
    return ok(msg, cap);
}

int rule_request_id(const char *id, char *msg, size_t cap)
{
    size_t n = id ? strnlen(id, RULE_REQUEST_ID_MAX + 1) : 0;
    if (n > RULE_REQUEST_ID_MAX)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the request id is %zu bytes; at most %d are allowed", strlen(id),
                      RULE_REQUEST_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)id[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '.' || ch == '_' || ch == '-')
            continue;
        char shown[8] = "";
        if (ch >= 0x20 && ch < 0x7f) /* never echo a control character */
            snprintf(shown, sizeof shown, "'%c' ", ch);
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the request id contains %s(0x%02X) at byte %zu; only letters, digits, "
                      "'.', '_' and '-' are allowed",
                      shown, ch, i + 1);
    }
    return ok(msg, cap);
}

/* ---- who may do what ------------------------------------------------------ */

int rule_is_staff(int course_role)
{
    return course_role == LMS_ROLE_INSTRUCTOR || course_role == LMS_ROLE_TA;
}

int rule_role(enum rule_need need, int role, int course_role, const char *course,
              const char *verb, char *msg, size_t cap)
{
    LMS_ASSERT(verb != NULL && (need == RULE_NEED_ADMIN || course != NULL));
    switch (need) {
    case RULE_NEED_ADMIN:
        if (role == LMS_ROLE_ADMIN)
            return ok(msg, cap);
        return refuse(LMS_PERMISSION_DENIED, msg, cap, "only an admin may %s", verb);
    case RULE_NEED_MEMBER:
        if (course_role != LMS_ROLE_NONE || role == LMS_ROLE_ADMIN)
            return ok(msg, cap);
        return refuse(LMS_PERMISSION_DENIED, msg, cap,
                      "only the members of course %.64s may %s", course, verb);
    case RULE_NEED_STUDENT:
        if (course_role == LMS_ROLE_STUDENT)
            return ok(msg, cap);
        return refuse(LMS_PERMISSION_DENIED, msg, cap,
                      "only students enrolled in course %.64s may %s", course, verb);
    case RULE_NEED_INSTRUCTOR:
        if (course_role == LMS_ROLE_INSTRUCTOR)
            return ok(msg, cap);
        return refuse(LMS_PERMISSION_DENIED, msg, cap,
                      "only the instructors of course %.64s may %s", course, verb);
    case RULE_NEED_STAFF:
        if (rule_is_staff(course_role))
            return ok(msg, cap);
        return refuse(LMS_PERMISSION_DENIED, msg, cap,
                      "only the instructors and teaching assistants of course %.64s "
                      "may %s", course, verb);
    }
    LMS_ASSERT(!"a need that rule_role does not know");
    return LMS_INTERNAL;
}

static const char *role_name(int role)
{
    switch (role) {
    case LMS_ROLE_STUDENT: return "student";
    case LMS_ROLE_INSTRUCTOR: return "instructor";
    case LMS_ROLE_ADMIN: return "admin";
    case LMS_ROLE_TA: return "teaching assistant";
    default: return "nobody";
    }
}

int rule_user_role(int role, char *msg, size_t cap)
{
    if (role < LMS_ROLE_STUDENT || role > LMS_ROLE_ADMIN)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "role must be student, instructor or admin");
    return ok(msg, cap);
}

int rule_enrol_role(int role, char *msg, size_t cap)
{
    if (role != LMS_ROLE_STUDENT && role != LMS_ROLE_INSTRUCTOR && role != LMS_ROLE_TA)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the enrolment role must be student, instructor or ta");
    return ok(msg, cap);
}

int rule_enrolment(const lms_user *u, int role, char *msg, size_t cap)
{
    int st = rule_enrol_role(role, msg, cap);
    if (st != LMS_OK)
        return st;
    if (u->role == LMS_ROLE_ADMIN)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap,
                      "user %s is an admin and cannot be enrolled", u->name);
    if (role == LMS_ROLE_INSTRUCTOR && u->role != LMS_ROLE_INSTRUCTOR)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap, "user %s is a %s and cannot teach",
                      u->name, role_name(u->role));
    /* a teaching assistant: a student (of other courses) or an instructor */
    if (role == LMS_ROLE_STUDENT && u->role != LMS_ROLE_STUDENT)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap,
                      "user %s is an %s and cannot be enrolled as a student", u->name,
                      role_name(u->role));
    return ok(msg, cap);
}

int rule_student_of(const char *user, int course_role, const char *course,
                    char *msg, size_t cap)
{
    if (course_role != LMS_ROLE_STUDENT)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap,
                      "user %.64s is not a student of course %.64s", user, course);
    return ok(msg, cap);
}

int rule_import_size(size_t n, char *msg, size_t cap)
{
    if (n > RULE_IMPORT_MAX)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "import at most %d users at a time (got %zu)", RULE_IMPORT_MAX, n);
    return ok(msg, cap);
}

/* ---- assignments, submissions, grades ------------------------------------- */

int rule_assignment(const lms_assignment *a, char *msg, size_t cap)
{
    char due[40], cut[40];
    if (a->due <= 0)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "a due time is required");
    if (a->due > RULE_TIME_MAX || a->cutoff > RULE_TIME_MAX || a->cutoff < 0)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "the due time and cut-off must be "
                      "between 1970 and the end of year 9999");
    if (a->cutoff != 0 && a->cutoff < a->due)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "the cut-off %s is before the due "
                      "time %s", rule_iso_time(a->cutoff, cut, sizeof cut),
                      rule_iso_time(a->due, due, sizeof due));
    if (!(a->max_points > 0 && a->max_points <= RULE_POINTS_MAX))
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "maximum points must be a number "
                      "above 0 and at most %g (got %g)", RULE_POINTS_MAX, a->max_points);
    if (a->max_attempts > RULE_ATTEMPTS_MAX)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "maximum attempts must be at most "
                      "%u, or 0 for no limit (got %" PRIu32 ")", RULE_ATTEMPTS_MAX,
                      a->max_attempts);
    if (a->max_size == 0)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the maximum file size must be at least 1 byte");
    return ok(msg, cap);
}

int rule_max_size(uint64_t max_size, uint64_t limit, char *msg, size_t cap)
{
    if (max_size > limit)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "the maximum file size %" PRIu64
                      " bytes is above this server's upload limit of %" PRIu64 " bytes",
                      max_size, limit);
    return ok(msg, cap);
}

int rule_grade(double grade, const lms_assignment *a, char *msg, size_t cap)
{
    if (grade >= 0 && grade <= a->max_points) /* false for NaN */
        return ok(msg, cap);
    return refuse(LMS_INVALID_ARGUMENT, msg, cap, "grade %g is outside 0 to %g, the "
                  "points of assignment %" PRIu64, grade, a->max_points, a->id);
}

int rule_grader(const char *grader, const char *student, char *msg, size_t cap)
{
    if (strcmp(grader, student) != 0)
        return ok(msg, cap);
    return refuse(LMS_PERMISSION_DENIED, msg, cap,
                  "is your own work; another of the course's staff must grade it");
}

int rule_extension(const lms_assignment *a, int64_t until, char *msg, size_t cap)
{
    char when[40], due[40];
    if (until <= 0)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "an extension needs an end time");
    if (until > RULE_TIME_MAX)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the extension's end must be before the end of year 9999");
    if (until <= a->due)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the extension's end %s is not after the assignment's due time %s; "
                      "an extension must end after it",
                      rule_iso_time(until, when, sizeof when), rule_iso_time(a->due, due, sizeof due));
    return ok(msg, cap);
}

void rule_effective_times(int64_t due, int64_t cutoff, int64_t until,
                          int64_t *my_due, int64_t *my_cutoff)
{
    *my_due = until > due ? until : due;
    *my_cutoff = cutoff && until > cutoff ? until : cutoff;
    LMS_ASSERT(*my_due >= due && *my_cutoff >= cutoff);
}

int rule_submission(const lms_assignment *a, int64_t now, int64_t until,
                    uint32_t made, size_t len, char *msg, size_t cap)
{
    char when[40];
    int64_t due, cutoff;
    rule_effective_times(a->due, a->cutoff, until, &due, &cutoff);
    if (cutoff && now > cutoff)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap, "the cut-off %s has passed",
                      rule_iso_time(cutoff, when, sizeof when));
    if (a->max_attempts && made >= a->max_attempts)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap, "all %" PRIu32 " attempts used",
                      a->max_attempts);
    if (len == 0)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the file is empty; there is nothing to hand in");
    return rule_file_size(len, a->max_size, "the assignment", msg, cap);
}

/* ---- changing assignments, the late policy ---------------------------------- */

int rule_late_penalty(uint32_t pct, char *msg, size_t cap)
{
    if (pct > RULE_LATE_PENALTY_MAX)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "the late penalty must be 0 to %u "
                      "percent of the points per day late (got %" PRIu32 ")",
                      RULE_LATE_PENALTY_MAX, pct);
    return ok(msg, cap);
}

int rule_edit_given(unsigned given, char *msg, size_t cap)
{
    if (given == 0)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "nothing to change: give what to "
                      "change (a title, description, due time, cut-off, points, attempts, "
                      "file size or late penalty)");
    return ok(msg, cap);
}

int rule_max_points_graded(double max_points, uint32_t above, char *msg, size_t cap)
{
    if (above == 0)
        return ok(msg, cap);
    return refuse(LMS_FAILED_PRECONDITION, msg, cap, "%" PRIu32 " %s above %g points; "
                  "regrade %s first", above, above == 1 ? "grade is" : "grades are",
                  max_points, above == 1 ? "it" : "them");
}

int rule_delete_assignment(uint64_t id, uint32_t submissions, char *msg, size_t cap)
{
    if (submissions == 0)
        return ok(msg, cap);
    return refuse(LMS_FAILED_PRECONDITION, msg, cap, "has %" PRIu32 " %s, so it cannot be "
                  "deleted; hide it from the students instead: lms-instructor "
                  "hide-assignment %" PRIu64, submissions,
                  submissions == 1 ? "submission" : "submissions", id);
}

int rule_assignment_open(uint64_t id, int hidden, char *msg, size_t cap)
{
    if (!hidden)
        return ok(msg, cap);
    return refuse(LMS_FAILED_PRECONDITION, msg, cap,
                  "assignment %" PRIu64 " is hidden; it accepts no submissions", id);
}

int rule_assignment_visible(uint64_t id, int hidden, int staff, char *msg, size_t cap)
{
    if (!hidden || staff)
        return ok(msg, cap);
    return refuse(LMS_FAILED_PRECONDITION, msg, cap,
                  "assignment %" PRIu64 " is hidden from its students", id);
}

uint32_t rule_days_late(int64_t submitted, int64_t due)
{
    if (submitted <= due)
        return 0;
    /* (uint64_t): the difference of any two int64 fits */
    uint64_t late = (uint64_t)submitted - (uint64_t)due;
    uint64_t days = late / RULE_DAY_MS + (late % RULE_DAY_MS != 0);
    LMS_ASSERT(days >= 1);
    return days > UINT32_MAX ? UINT32_MAX : (uint32_t)days;
}

double rule_late_deduction(double grade, double max_points, uint32_t pct, uint32_t days)
{
    if (pct == 0 || days == 0 || !(grade > 0))
        return 0;
    uint64_t total = (uint64_t)pct * days; /* percent; no overflow: both < 2^32 */
    if (total >= 100)
        return grade;
    double off = max_points * (double)total / 100.0;
    return off < grade ? off : grade;
}

/* ---- questions -------------------------------------------------------------- */

int rule_query_party(const lms_query *q, const char *actor, int course_role,
                     const char *verb, char *msg, size_t cap)
{
    if (rule_is_staff(course_role))
        return ok(msg, cap);
    /* the student who asked, while still a member (not after lms-admin
     * unenroll: every check of the course treats them as not enrolled) */
    if (strcmp(q->student, actor) == 0)
        return course_role != LMS_ROLE_NONE
                   ? ok(msg, cap)
                   : refuse(LMS_PERMISSION_DENIED, msg, cap,
                            "only the members of course %.64s may %s", q->course, verb);
    return refuse(LMS_PERMISSION_DENIED, msg, cap,
                  "only the student who asked and the instructors and teaching "
                  "assistants of its course may %s",
                  verb);
}

int rule_reply(const lms_query *q, char *msg, size_t cap)
{
    if (q->kind == LMS_QUERY_TUTOR)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap,
                      "is an exchange with the tutor; to ask the instructors about it: "
                      "lms-student escalate %" PRIu64, q->id);
    return ok(msg, cap);
}

int rule_escalate(const lms_query *q, const char *actor, char *msg, size_t cap)
{
    if (strcmp(q->student, actor) != 0)
        return refuse(LMS_PERMISSION_DENIED, msg, cap,
                      "only the student who asked may escalate it");
    if (q->kind != LMS_QUERY_TUTOR)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap, "is a question to the "
                      "instructors already; only tutor answers are escalated");
    return ok(msg, cap);
}

int rule_share(const lms_query *q, int shared, int replied, char *msg, size_t cap)
{
    if (q->kind != LMS_QUERY_INSTRUCTOR)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap, "is an exchange with the tutor; "
                      "only questions to the instructors can be shared");
    if (shared && !q->shared && !replied)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap,
                      "has no reply from an instructor of its course yet, so there is "
                      "nothing to share; reply first: lms-instructor reply %" PRIu64
                      " --share TEXT", q->id);
    return ok(msg, cap);
}

/* ---- the tutor ---------------------------------------------------------------- */

int64_t rule_utc_day(int64_t ms)
{
    int64_t day = ms / RULE_DAY_MS;
    if (ms % RULE_DAY_MS < 0)
        day--;
    return day * RULE_DAY_MS;
}

int rule_tutor_limit(uint32_t limit, uint32_t used, const char *course, char *msg,
                     size_t cap)
{
    if (limit == 0 || used < limit)
        return ok(msg, cap);
    return refuse(LMS_RESOURCE_EXHAUSTED, msg, cap,
                  "you have used your %" PRIu32 " tutor question%s for today in %.64s; "
                  "ask your instructor instead: " RULE_ASK_INSTRUCTOR,
                  limit, limit == 1 ? "" : "s", course, course);
}

int rule_daily_limit(uint32_t limit, char *msg, size_t cap)
{
    if (limit > RULE_TUTOR_LIMIT_MAX)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the daily limit must be at most %u (got %" PRIu32 ")",
                      RULE_TUTOR_LIMIT_MAX, limit);
    return ok(msg, cap);
}

/* ---- corrections: material versions, unenrolment ------------------------- */

int rule_material_shown(uint64_t id, int archive, int deleted, int sees_deleted,
                        char *msg, size_t cap)
{
    if (archive || (deleted && !sees_deleted)) {
        char key[24];
        snprintf(key, sizeof key, "%" PRIu64, id);
        return rule_missing("material", key, msg, cap);
    }
    return ok(msg, cap);
}

int rule_material_replace(int deleted, char *msg, size_t cap)
{
    if (deleted)
        return refuse(LMS_NOT_FOUND, msg, cap,
                      "it was deleted; upload the file as a new material instead");
    return ok(msg, cap);
}

int rule_material_version(uint32_t want, uint32_t versions, char *msg, size_t cap)
{
    LMS_ASSERT(versions >= 1);
    if (want > versions)
        return refuse(LMS_NOT_FOUND, msg, cap,
                      "has no version %" PRIu32 " (%s %" PRIu32 ")", want,
                      versions == 1 ? "it has only version" : "it has versions 1 to",
                      versions);
    return ok(msg, cap);
}

int rule_unenroll(const char *user, int course_role, char *msg, size_t cap)
{
    if (course_role == LMS_ROLE_NONE)
        return refuse(LMS_FAILED_PRECONDITION, msg, cap,
                      "user %.64s is not enrolled in it", user);
    return ok(msg, cap);
}

/* ---- announcements and the inbox --------------------------------------------------- */

int rule_announcer(int role, int course_role, const char *course, char *msg,
                   size_t cap)
{
    LMS_ASSERT(course != NULL);
    if (role == LMS_ROLE_ADMIN || course_role == LMS_ROLE_INSTRUCTOR)
        return ok(msg, cap);
    if (course_role == LMS_ROLE_TA)
        return refuse(LMS_PERMISSION_DENIED, msg, cap,
                      "only the instructors of course %.64s may post announcements (an "
                      "announcement speaks for the course; ask an instructor to post it)",
                      course);
    return refuse(LMS_PERMISSION_DENIED, msg, cap,
                  "only the instructors of course %.64s may post announcements", course);
}

int rule_inbox_window(int64_t since, int all, int64_t until, char *msg, size_t cap)
{
    char a[40], b[40];
    if (since < 0 || since > RULE_TIME_MAX || until < 0 || until > RULE_TIME_MAX)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "since and until must be between "
                      "1970 and the end of year 9999");
    if (all && since)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "all (everything) and since (after a time) exclude each other");
    if (until && until <= since)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "until %s is not after since %s",
                      rule_iso_time(until, a, sizeof a), rule_iso_time(since, b, sizeof b));
    return ok(msg, cap);
}

int rule_inbox_mark(int64_t up_to, int64_t now, char *msg, size_t cap)
{
    char a[40], b[40];
    if (up_to <= 0 || up_to > RULE_TIME_MAX)
        return refuse(LMS_INVALID_ARGUMENT, msg, cap, "the time read up to must be "
                      "between 1970 and the end of year 9999");
    if (up_to - RULE_INBOX_SKEW_MS > now) /* no overflow: up_to > 0 */
        return refuse(LMS_INVALID_ARGUMENT, msg, cap,
                      "the time read up to, %s, is in the future (it is %s); give the "
                      "time of the newest item shown",
                      rule_iso_time(up_to, a, sizeof a), rule_iso_time(now, b, sizeof b));
    return ok(msg, cap);
}

/* ---- lookups --------------------------------------------------------------------- */

int rule_missing(const char *kind, const char *key, char *msg, size_t cap)
{
    return refuse(LMS_NOT_FOUND, msg, cap, "%s %.64s does not exist", kind, key);
}

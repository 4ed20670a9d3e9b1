/* SPDX-License-Identifier: MIT */
/*
 * rules.h: the rules of the LMS, each written once as a pure predicate.
 *
 * Two places ask every rule: a handler's early check (core/app/handlers_*.c,
 * before proposing, so that a request bound to be refused is not logged
 * and replicated) and apply (core/app/sm.c), which decides. Both call the
 * predicate here, so a request gets the same words whichever refuses it.
 *
 * A predicate reads only its arguments: plain values and storage rows
 * (include/lms/storage.h), never storage, a clock, a request or the
 * state machine; whatever it needs (an enrolment, a count of attempts,
 * the time) its caller looks up and passes in. It returns LMS_OK, or the
 * status of the refusal with the reason in msg (cap > 0 bytes, always
 * terminated; "" on LMS_OK). A reason does not name the object it is
 * about: callers prefix it ("assignment 7: "), as apply's refusals are.
 */
#ifndef LMS_CORE_RULES_H
#define LMS_CORE_RULES_H

#include "utf8.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <lms/storage.h>

/* Room for any reason a predicate gives (longer ones are cut). */
#define RULE_MSG_MAX 320

/* ---- limits ------------------------------------------------------------ */

#define RULE_TEXT_MAX (64 * 1024)            /* a description, question, reply... */
#define RULE_TUTOR_ANSWER_MAX (256 * 1024)   /* the tutor's answer, as stored */
#define RULE_TUTOR_LIMIT_MAX 10000u          /* a course's daily tutor questions */
#define RULE_TIME_MAX INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z, ms */
#define RULE_POINTS_MAX 1e6                  /* an assignment's max_points */
#define RULE_ATTEMPTS_MAX 1000u              /* an assignment's max_attempts */
#define RULE_LATE_PENALTY_MAX 100u           /* percent of max_points per day late */
#define RULE_IMPORT_MAX 10000                /* users in one import */
#define RULE_PASSWORD_MIN 8                  /* characters (bytes) */
#define RULE_PASSWORD_MAX 1024
#define RULE_DAY_MS (24LL * 3600 * 1000)

/* How a student asks the instructors instead of the tutor, for messages: a
 * format taking the course code. */
#define RULE_ASK_INSTRUCTOR \
    "lms-student ask --course %.64s --instructor \"your question\""

/* ---- text -------------------------------------------------------------- */

/* A text field of a request or command: what names it in refusals, its
 * length in bytes, and whether it is one line or a multi-line body. */
typedef struct rule_field {
    const char *what;
    size_t min, max;
    enum utf8_text_kind kind;
} rule_field;

extern const rule_field RULE_FULL_NAME;     /* a user's full name */
extern const rule_field RULE_COURSE_TITLE;
extern const rule_field RULE_ASSIGNMENT_TITLE;
extern const rule_field RULE_DESCRIPTION;   /* an assignment's */
extern const rule_field RULE_FEEDBACK;      /* with a grade */
extern const rule_field RULE_MATERIAL_TITLE;
extern const rule_field RULE_QUESTION;      /* to the instructors or the tutor */
extern const rule_field RULE_QUESTION_TITLE; /* "": made from the question */
extern const rule_field RULE_REPLY;
extern const rule_field RULE_NOTE;          /* with an escalation */
extern const rule_field RULE_SYSTEM_PROMPT; /* "": the default */
extern const rule_field RULE_TUTOR_ANSWER;
extern const rule_field RULE_TUTOR_PROVIDER;
extern const rule_field RULE_TUTOR_MODEL;
extern const rule_field RULE_FILE_NAME;     /* see rule_file_name */
extern const rule_field RULE_ANNOUNCEMENT;  /* its text */
extern const rule_field RULE_ANNOUNCEMENT_TITLE; /* "": none */

/* s as field f: f->min..f->max bytes that utf8_text_check accepts as text
 * of f->kind (UTF-8; no control or invisible format characters; a body
 * may hold '\n' and '\t'). INVALID_ARGUMENT: "the title is empty", "the
 * reply is 70000 bytes; at most 65536 are allowed", "the title contains a
 * control character (U+001B); ...". */
/* ms as 2026-12-01T23:59:00Z (milliseconds shown only when not 0), UTC,
 * the same on every node: the time in every message of apply and of the
 * handlers. Returns buf. */
const char *rule_iso_time(int64_t ms, char *buf, size_t cap);

int rule_text(const rule_field *f, const char *s, char *msg, size_t cap);

/* A user name: 1..LMS_NAME_MAX of [A-Za-z0-9._-], starting with a letter
 * or digit. A course code: the same, starting with any of them. */
int rule_user_name(const char *s, char *msg, size_t cap);
int rule_course_code(const char *s, char *msg, size_t cap);

/* A file name as stored and offered for download: RULE_FILE_NAME's text,
 * one path component (no '/', not "." or ".."). */
int rule_file_name(const char *name, char *msg, size_t cap);

/* A SHA-256 field (what names it): exactly LMS_SHA256_LEN bytes. */
int rule_sha256(const char *what, size_t len, char *msg, size_t cap);

/* A file of len bytes where whose ("the assignment", "this server")
 * accepts at most limit bytes. */
int rule_file_size(size_t len, uint64_t limit, const char *whose, char *msg,
                   size_t cap);

/* A new password (lmsd hashes it; apply sees only the hash):
 * RULE_PASSWORD_MIN..RULE_PASSWORD_MAX bytes. */
int rule_password(const char *pw, char *msg, size_t cap);

/* A request's id (Request.request_id, for the servers' logs): "" or NULL
 * (none: the server makes one), or at most RULE_REQUEST_ID_MAX bytes of
 * ASCII letters, digits, '.', '_' and '-', so that it goes into a log line
 * and a JSON string as it is. INVALID_ARGUMENT: "the request id is 70
 * bytes; at most 64 are allowed", "the request id contains ' ' (0x20) at
 * byte 5; only letters, digits, '.', '_' and '-' are allowed". */
#define RULE_REQUEST_ID_MAX 64
int rule_request_id(const char *id, char *msg, size_t cap);

/* ---- who may do what --------------------------------------------------- */

/* What an action needs of its caller. The values are the enrolment roles
 * they ask for (LMS_ROLE_NONE: any), so a course row's my_role compares. */
enum rule_need {
    RULE_NEED_MEMBER = LMS_ROLE_NONE,           /* enrolled in any role, or an admin */
    RULE_NEED_STUDENT = LMS_ROLE_STUDENT,       /* enrolled as a student */
    RULE_NEED_INSTRUCTOR = LMS_ROLE_INSTRUCTOR, /* teaches the course */
    RULE_NEED_ADMIN = LMS_ROLE_ADMIN,           /* an admin (course unused) */
    RULE_NEED_STAFF = 16, /* teaches or assists in the course (instructor or TA) */
};

/* Does course_role make its holder one of a course's staff (an instructor
 * or a teaching assistant: grades, answers questions)? */
int rule_is_staff(int course_role);

/* May a caller of global role role, enrolled in course as course_role
 * (LMS_ROLE_NONE: not enrolled), do verb ("grade it") there?
 * PERMISSION_DENIED: "only the instructors of course CS101 may grade it". */
int rule_role(enum rule_need need, int role, int course_role, const char *course,
              const char *verb, char *msg, size_t cap);

/* A user's role as stored: student, instructor or admin. */
int rule_user_role(int role, char *msg, size_t cap);
/* An enrolment's role: student, instructor or TA. */
int rule_enrol_role(int role, char *msg, size_t cap);
/* May u be enrolled as role? Students learn and instructors teach; a
 * teaching assistant may be a student or an instructor elsewhere; admins
 * stand outside courses (FAILED_PRECONDITION). */
int rule_enrolment(const lms_user *u, int role, char *msg, size_t cap);
/* Is user, enrolled as course_role, a student of course (an extension is
 * for one)? FAILED_PRECONDITION. */
int rule_student_of(const char *user, int course_role, const char *course,
                    char *msg, size_t cap);
/* The size of one import (rows refused early included). */
int rule_import_size(size_t n, char *msg, size_t cap);

/* ---- assignments, submissions, grades ---------------------------------- */

/* The numbers of a new assignment a: a due time (and a cut-off, if any,
 * not before it) up to RULE_TIME_MAX, max_points in (0, RULE_POINTS_MAX],
 * max_attempts at most RULE_ATTEMPTS_MAX (0: no limit), max_size at least
 * 1. Texts are checked apart (rule_text). INVALID_ARGUMENT. */
int rule_assignment(const lms_assignment *a, char *msg, size_t cap);

/* An assignment's max_size under this server's upload limit (a setting
 * of the node, so an early check only: apply never sees it). */
int rule_max_size(uint64_t max_size, uint64_t limit, char *msg, size_t cap);

/* A grade for assignment a: a number (not NaN) in [0, a->max_points]. */
int rule_grade(double grade, const lms_assignment *a, char *msg, size_t cap);
/* May grader grade student's submission? Never their own (a student later
 * made a TA of the course still has their submissions there):
 * PERMISSION_DENIED. */
int rule_grader(const char *grader, const char *student, char *msg, size_t cap);

/* An extension of assignment a to until: after the due time (one that
 * ends earlier would change nothing) and up to RULE_TIME_MAX. */
int rule_extension(const lms_assignment *a, int64_t until, char *msg, size_t cap);

/* The due time and cut-off that hold for a student whose extension ends
 * at until (0: none): an extension moves both later, never earlier, and
 * adds no cut-off where there was none (cutoff 0). */
void rule_effective_times(int64_t due, int64_t cutoff, int64_t until,
                          int64_t *my_due, int64_t *my_cutoff);

/* May a student hand in a file of len bytes to assignment a at time now,
 * with an extension until (0: none) and made attempts so far? In this
 * order: the cut-off (FAILED_PRECONDITION), the attempts
 * (FAILED_PRECONDITION), an empty file (INVALID_ARGUMENT: it would only
 * spend an attempt), the size limit (INVALID_ARGUMENT). The file's name
 * is checked apart (rule_file_name). */
int rule_submission(const lms_assignment *a, int64_t now, int64_t until,
                    uint32_t made, size_t len, char *msg, size_t cap);

/* ---- changing assignments, the late policy ------------------------------ */

/* An assignment's late penalty: the percent of its max_points taken off a
 * grade per started day late, at most RULE_LATE_PENALTY_MAX (0: none).
 * INVALID_ARGUMENT. */
int rule_late_penalty(uint32_t pct, char *msg, size_t cap);

/* An edit of an assignment that changes given of its fields: at least one
 * (INVALID_ARGUMENT). */
int rule_edit_given(unsigned given, char *msg, size_t cap);

/* May an assignment's max_points become max_points when `above` of its
 * grades are higher? Only when none is (FAILED_PRECONDITION: they must be
 * regraded first; a grade is never cut silently). */
int rule_max_points_graded(double max_points, uint32_t above, char *msg, size_t cap);

/* May assignment id, which has `submissions` submissions, be deleted? Only
 * while it has none (FAILED_PRECONDITION, pointing to hide-assignment:
 * deleting would take the students' work with it). */
int rule_delete_assignment(uint64_t id, uint32_t submissions, char *msg, size_t cap);

/* Does assignment id accept submissions, hidden or not? A hidden one does
 * not (FAILED_PRECONDITION, "assignment 7 is hidden"). */
int rule_assignment_open(uint64_t id, int hidden, char *msg, size_t cap);

/* May a caller who is (staff nonzero) or is not one of its course's staff
 * (an instructor or TA, or an admin) see assignment id, hidden or not? A
 * hidden one is its staff's only (FAILED_PRECONDITION, "assignment 7 is
 * hidden from its students"). */
int rule_assignment_visible(uint64_t id, int hidden, int staff, char *msg, size_t cap);

/* The started days between a student's due time due (rule_effective_times,
 * as the assignment is now) and submitted: 0 when on time (submitted <=
 * due); 1 ms late is one day. */
uint32_t rule_days_late(int64_t submitted, int64_t due);

/* The points a late penalty of pct percent of max_points per day takes off
 * grade for days late: 0 when pct or days is 0, never more than grade (a
 * grade does not go below 0). */
double rule_late_deduction(double grade, double max_points, uint32_t pct, uint32_t days);

/* ---- questions ---------------------------------------------------------- */

/* May actor, enrolled in q's course as course_role, verb ("reply to it")
 * query q? The course's staff may, and the student who asked while still
 * a member of the course (not after lms-admin unenroll). PERMISSION_DENIED;
 * the reason does not name the course to anyone but the student who asked
 * (a student who guesses ids learns nothing of others' questions). */
int rule_query_party(const lms_query *q, const char *actor, int course_role,
                     const char *verb, char *msg, size_t cap);

/* May q be replied to? Not an exchange with the tutor (escalate it). */
int rule_reply(const lms_query *q, char *msg, size_t cap);

/* May actor escalate q? Only the student who asked (PERMISSION_DENIED),
 * and only an exchange with the tutor (FAILED_PRECONDITION). */
int rule_escalate(const lms_query *q, const char *actor, char *msg, size_t cap);

/* May q's shared flag become shared? Only a question to the instructors
 * (FAILED_PRECONDITION), and sharing one not shared yet needs a reply of
 * an instructor of its course (replied: read only then). */
int rule_share(const lms_query *q, int shared, int replied, char *msg, size_t cap);

/* ---- the tutor ---------------------------------------------------------- */

/* The start (ms) of the UTC day holding ms: a daily limit counts the tutor
 * questions created in [rule_utc_day(t), rule_utc_day(t) + RULE_DAY_MS). */
int64_t rule_utc_day(int64_t ms);

/* May a student who asked used tutor questions today in course ask one
 * more under the course's daily limit (0: none)? RESOURCE_EXHAUSTED,
 * pointing to the instructors instead. */
int rule_tutor_limit(uint32_t limit, uint32_t used, const char *course, char *msg,
                     size_t cap);

/* A course's new daily limit: at most RULE_TUTOR_LIMIT_MAX (0: none). */
int rule_daily_limit(uint32_t limit, char *msg, size_t cap);

/* ---- corrections: material versions, unenrolment ------------------------ */

/* Is material row id a material its caller sees? A row that only keeps
 * an earlier version of another (archive: materials.h) is no material for
 * anyone; a deleted one is one only for those who see deleted ones
 * (sees_deleted: the staff of its course). NOT_FOUND in rule_missing's
 * words: "material 7 does not exist". */
int rule_material_shown(uint64_t id, int archive, int deleted, int sees_deleted,
                        char *msg, size_t cap);

/* May a material get a new version? Not once deleted (NOT_FOUND). */
int rule_material_replace(int deleted, char *msg, size_t cap);

/* Version want (0: the latest) of a material that has versions versions:
 * 1..versions. NOT_FOUND: "has no version 4 (it has versions 1 to 3)". */
int rule_material_version(uint32_t want, uint32_t versions, char *msg, size_t cap);

/* May user, enrolled in a course as course_role (LMS_ROLE_NONE: not
 * enrolled), leave it? Only if enrolled: FAILED_PRECONDITION. */
int rule_unenroll(const char *user, int course_role, char *msg, size_t cap);

/* ---- announcements and the inbox ----------------------------------------- */

/* How far past the leader's clock a read mark may be: the newest item a
 * student was shown may carry the time of a leader whose clock ran a
 * little ahead of the one that applies the mark. */
#define RULE_INBOX_SKEW_MS (5LL * 60 * 1000)

/* May a caller of global role role, enrolled in course as course_role,
 * post an announcement there? Its instructors and admins; not its
 * teaching assistants, since an announcement speaks for the course.
 * PERMISSION_DENIED. */
int rule_announcer(int role, int course_role, const char *course, char *msg,
                   size_t cap);

/* The window of an inbox read: since and until times in 0..RULE_TIME_MAX
 * (0: open), until after since; all (from the beginning) and since
 * exclude each other. INVALID_ARGUMENT. */
int rule_inbox_window(int64_t since, int all, int64_t until, char *msg, size_t cap);

/* A read mark up to up_to, set at now: a time after 1970, at most
 * RULE_INBOX_SKEW_MS past now (a mark in the future would hide what is
 * still to come). INVALID_ARGUMENT. */
int rule_inbox_mark(int64_t up_to, int64_t now, char *msg, size_t cap);

/* ---- lookups ------------------------------------------------------------ */

/* The words for an object that is not there: "assignment 7 does not
 * exist". Always LMS_NOT_FOUND. */
int rule_missing(const char *kind, const char *key, char *msg, size_t cap);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * handlers_tutor.c: the tutor's requests. A student's question to the
 * tutor (ask with tutor set: prepared here on the storage thread, asked by
 * the engine on the loop, recorded as a CmdTutorExchange once answered),
 * escalating a tutor exchange to the instructors, a course's tutor
 * settings, and the instructors' log of their students' exchanges.
 *
 * As everywhere, the checks here are early rejections: sm_apply decides,
 * the daily limit included. The default system prompt lives here and only
 * here: storage keeps "" for "the default".
 */
#include "handlers.h"
#include "utf8.h"

#include <inttypes.h>
#include <string.h>

static const char DEFAULT_PROMPT[] =
    "You are a patient tutor for the course %s. Guide the student with hints "
    "and questions; do not hand out solutions to graded assignments.";

/* A course's tutor settings, with the default prompt filled in (arena). */
typedef struct settings {
    const char *prompt;
    int is_default;
    uint32_t limit;
} settings;

static int load_settings(req *r, const char *course, settings *out)
{
    lms_course_settings s;
    lms_err err = {0};
    int rc = req_ops(r)->course_settings_get(req_st(r), course, &s, &err);
    if (rc != LMS_OK && rc != LMS_NOT_FOUND)
        return req_storage_error(r, &err), -1;
    out->is_default = rc == LMS_NOT_FOUND || !s.system_prompt || !s.system_prompt[0];
    out->limit = rc == LMS_OK ? s.tutor_daily_limit : 0;
    if (!out->is_default) {
        out->prompt = req_strdup(r, s.system_prompt);
        return 0;
    }
    size_t n = sizeof DEFAULT_PROMPT + strlen(course);
    char *p = req_alloc(r, n);
    snprintf(p, n, DEFAULT_PROMPT, course);
    out->prompt = p;
    return 0;
}

/* The caller's tutor questions in course on today's UTC day. */
static int used_today(req *r, const char *course, uint32_t *n)
{
    lms_err err = {0};
    int64_t day = rule_utc_day(r->now);
    if (req_ops(r)->query_count(req_st(r), course, r->who.name, LMS_QUERY_TUTOR, day,
                                day + RULE_DAY_MS, n, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    return 0;
}

/* ---- a question to the tutor --------------------------------------------- */

next_step tutor_ask_prepare(req *r)
{
    const Lms__AskRequest *a = r->msg->ask;
    settings s;
    uint32_t used = 0;
    char why[RULE_MSG_MAX];
    /* apply would refuse these, after the tutor was asked (and paid) */
    if (req_check_course(r, a->course, COURSE_STUDENT, "ask its tutor") < 0 ||
        req_check_text(r, &RULE_QUESTION, a->text) < 0 ||
        req_check_text(r, &RULE_QUESTION_TITLE, a->title) < 0 ||
        load_settings(r, a->course, &s) < 0 || used_today(r, a->course, &used) < 0 ||
        req_verdict(r, rule_tutor_limit(s.limit, used, a->course, why, sizeof why), why) < 0)
        return NEXT_RESPOND;
    lms_tutor_question *q = req_alloc(r, sizeof *q);
    q->course = a->course;
    q->student = r->who.name;
    q->system_prompt = s.prompt;
    q->question = a->text;
    r->tutor_q = q;
    return NEXT_TUTOR;
}

/* s cut to max bytes at a character boundary, in the arena, with whatever
 * is not UTF-8 or not allowed in text (a terminal escape) replaced: a
 * tutor's words are stored as text. */
static char *clean_text(req *r, const char *s, size_t max)
{
    size_t n = utf8_prefix(s, strlen(s), max);
    char *p = req_memdup(r, s, n + 1);
    p[n] = '\0';
    utf8_text_scrub(p, n, UTF8_MULTILINE);
    return p;
}

/* The tutor failed: say why and where else to turn. A plugin's
 * UNAVAILABLE (the provider is down) goes out as FAILED_PRECONDITION:
 * clients retry UNAVAILABLE, which would ask the tutor again; the
 * runtime's own (the tutor is starting, lmsd is stopping) stays, since
 * nothing was asked yet. */
static next_step tutor_failed(req *r, int status, const char *provider, const char *why)
{
    static const char tail[] = "ask your instructor";
    const char *course = r->msg->ask->course;
    size_t n = strlen(why);
    while (n > 0 && (why[n - 1] == '.' || why[n - 1] == ' '))
        n--;
    if (!provider && status == LMS_FAILED_PRECONDITION) /* no tutor here */
        return req_fail(r, status, "%.*s; ask your instructor: " RULE_ASK_INSTRUCTOR, (int)n,
                        why, course);
    if (provider && (status == LMS_UNAVAILABLE || status == LMS_UNKNOWN))
        status = LMS_FAILED_PRECONDITION; /* both would be retried */
    if (n >= sizeof tail - 1 && !strncmp(why + n - (sizeof tail - 1), tail, sizeof tail - 1))
        return req_fail(r, status, "%.*s: " RULE_ASK_INSTRUCTOR, (int)n, why, course);
    return req_fail(r, status, "%.*s. You can ask your instructor instead: " RULE_ASK_INSTRUCTOR,
                    (int)n, why, course);
}

next_step tutor_ask_answered(req *r, const tutor_result *res)
{
    const Lms__AskRequest *a = r->msg->ask;
    if (res->status != LMS_OK)
        return tutor_failed(r, res->status, res->provider, res->message);
    if (!res->answer->text || !res->answer->text[0])
        return tutor_failed(r, LMS_INTERNAL, res->provider, "the tutor gave an empty answer");
    Lms__TutorInfo *i = req_alloc(r, sizeof *i);
    lms__tutor_info__init(i);
    i->provider = clean_text(r, res->provider, RULE_TUTOR_PROVIDER.max);
    i->model = clean_text(r, res->answer->model ? res->answer->model : "",
                          RULE_TUTOR_MODEL.max);
    i->prompt_tokens = res->answer->prompt_tokens;
    i->completion_tokens = res->answer->completion_tokens;
    i->latency_ms = res->latency_ms;
    Lms__CmdTutorExchange *c = req_alloc(r, sizeof *c);
    lms__cmd_tutor_exchange__init(c);
    c->course = a->course;
    c->title = a->title;
    c->question = a->text;
    c->answer = clean_text(r, res->answer->text, RULE_TUTOR_ANSWER.max);
    c->info = i;
    r->cmd.body_case = LMS__COMMAND__BODY_TUTOR_EXCHANGE;
    r->cmd.tutor_exchange = c;
    return NEXT_PROPOSE;
}

/* ---- escalate ---------------------------------------------------------------- */

static next_step escalate_prepare(req *r)
{
    const Lms__EscalateRequest *e = r->msg->escalate;
    lms_query q;
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    int rc = req_ops(r)->query_get(req_st(r), e->query_id, &q, &err);
    if (req_got(r, rc, &err, "query", e->query_id) < 0 ||
        req_verdict_on(r, rule_escalate(&q, r->who.name, why, sizeof why), why,
                       "query %" PRIu64, q.id) < 0 ||
        req_check_course(r, q.course, COURSE_STUDENT, "ask questions") < 0 ||
        req_check_text(r, &RULE_NOTE, e->text) < 0)
        return NEXT_RESPOND;
    Lms__CmdEscalate *c = req_alloc(r, sizeof *c);
    lms__cmd_escalate__init(c);
    c->query_id = e->query_id;
    c->text = e->text;
    r->cmd.body_case = LMS__COMMAND__BODY_ESCALATE;
    r->cmd.escalate = c;
    return NEXT_PROPOSE;
}

static void escalate_applied(req *r) { req_answer_query(r, r->res.id); }

/* ---- settings ------------------------------------------------------------------ */

/* Answer with course's settings; for a student, with today's count. */
static next_step answer_settings(req *r, const char *course)
{
    settings s;
    uint32_t used = 0;
    int student = r->who.role == LMS_ROLE_STUDENT;
    if (load_settings(r, course, &s) < 0 || (student && used_today(r, course, &used) < 0))
        return NEXT_RESPOND;
    Lms__TutorSettings *m = req_alloc(r, sizeof *m);
    lms__tutor_settings__init(m);
    m->course = req_strdup(r, course);
    m->system_prompt = (char *)s.prompt;
    m->default_prompt = s.is_default;
    m->daily_limit = s.limit;
    m->used_today = used;
    r->resp.body_case = LMS__RESPONSE__BODY_TUTOR_SETTINGS;
    r->resp.tutor_settings = m;
    return NEXT_RESPOND;
}

/* Instructors of the course see and change; its students see. */
static next_step tutor_settings_prepare(req *r)
{
    const Lms__TutorSettingsRequest *q = r->msg->tutor_settings;
    int student = r->who.role == LMS_ROLE_STUDENT;
    int change = q->set_prompt || q->set_limit;
    char why[RULE_MSG_MAX];
    if (!change)
        return req_check_course(r, q->course, student ? COURSE_STUDENT : COURSE_INSTRUCTOR,
                                "see its tutor settings") < 0
                   ? NEXT_RESPOND
                   : answer_settings(r, q->course);
    /* an empty prompt is fine: it means the default */
    if (req_check_course(r, q->course, COURSE_INSTRUCTOR, "change its tutor settings") < 0 ||
        (q->set_prompt && req_check_text(r, &RULE_SYSTEM_PROMPT, q->system_prompt) < 0) ||
        (q->set_limit &&
         req_verdict(r, rule_daily_limit(q->daily_limit, why, sizeof why), why) < 0))
        return NEXT_RESPOND;
    Lms__CmdTutorSettings *c = req_alloc(r, sizeof *c);
    lms__cmd_tutor_settings__init(c);
    c->s = r->msg->tutor_settings;
    r->cmd.body_case = LMS__COMMAND__BODY_TUTOR_SETTINGS;
    r->cmd.tutor_settings = c;
    return NEXT_PROPOSE;
}

static void tutor_settings_applied(req *r)
{
    answer_settings(r, r->msg->tutor_settings->course);
}

/* ---- the instructors' log ------------------------------------------------------- */

static void *keep_exchange(req *r, const void *row, void *ctx)
{
    const lms_query *q = row;
    return q->kind == LMS_QUERY_TUTOR ? pb_query(r, q) : NULL;
}

/* The tutor exchanges of a course the caller teaches, of one student or
 * all, oldest first, with the answers. */
static next_step tutor_log_prepare(req *r)
{
    const Lms__TutorLogRequest *q = r->msg->tutor_log;
    ptr_vec out = {0};
    row_sink sink = {r, &out, keep_exchange, NULL};
    lms_err err = {0};
    if (req_check_course(r, q->course, COURSE_INSTRUCTOR, "read its tutor log") < 0)
        return NEXT_RESPOND;
    if (q->student[0]) {
        int role = LMS_ROLE_NONE;
        char why[RULE_MSG_MAX];
        if (strlen(q->student) <= LMS_NAME_MAX &&
            req_ops(r)->enrolment_get(req_st(r), q->course, q->student, &role, &err) !=
                LMS_OK)
            return req_storage_error(r, &err);
        /* the rule's words; NOT_FOUND, as there is no such log to read */
        if (rule_student_of(q->student, role, q->course, why, sizeof why) != LMS_OK)
            return req_fail(r, LMS_NOT_FOUND, "%s", why);
    }
    if (req_ops(r)->query_list(req_st(r), q->course, q->student[0] ? q->student : NULL,
                               row_sink_each, &sink, &err) != LMS_OK)
        return req_storage_error(r, &err);
    for (size_t i = 0; i < out.n; i++)
        if (req_attach_replies(r, out.v[i]) < 0)
            return NEXT_RESPOND;
    r->resp.body_case = LMS__RESPONSE__BODY_QUERIES;
    r->resp.queries = pb_list(r, &lms__queries_response__descriptor, &out);
    return NEXT_RESPOND;
}

#define B(x) LMS__REQUEST__BODY_##x
const handler handlers_tutor[] = {
    {.body = B(ESCALATE), .name = "escalate", .roles = ROLES_STUDENT,
     .prepare = escalate_prepare, .applied = escalate_applied},
    {.body = B(TUTOR_SETTINGS), .name = "tutor-settings",
     .roles = ROLES_STUDENT | ROLES_INSTRUCTOR, .prepare = tutor_settings_prepare,
     .applied = tutor_settings_applied},
    {.body = B(TUTOR_LOG), .name = "tutor-log", .roles = ROLES_INSTRUCTOR,
     .prepare = tutor_log_prepare},
    {.name = NULL}, /* the end */
};

/* SPDX-License-Identifier: MIT */
/*
 * check_tutor.c: the conformance suite for tutor plugins, in the order a
 * tutor lives in lmsd: init, learn the course documents, answer a question
 * (in time, streamed if it says so), refuse or answer an empty one, cope
 * with a deadline that is all but gone, be cancelled, answer several asks
 * at once, shut down, and stay quiet afterwards.
 *
 * Every ask is judged against tutor.h's contract: done() exactly once per
 * ask() that returned LMS_OK and never for one that returned an error,
 * an answer iff LMS_OK, chunks only before done() and adding up to the
 * answer, UTF-8 text, a message with every error. The driver
 * (tutor_driver.c) records what happened; this file decides and reports.
 */
#include "tutor_driver.h"

#include <stdio.h>
#include <string.h>

/* How long past its deadline an answer counts as late rather than lost. */
#define GRACE_MS 1000
/* The time a repeated callback gets to show up. */
#define SETTLE_MS 50
/* The longest an async ask() may hold the loop. */
#define RETURN_MS 100
#define N_CONCURRENT 4

typedef struct suite {
    check_env *env;
    tutor_driver *d;
    const struct lms_tutor_ops *ops;
    int64_t timeout;
    int64_t slow; /* 1, or how much slower everything is under valgrind */
} suite;

/* ---- the sample course --------------------------------------------------- */

static const char sample_prompt[] =
    "You are a patient tutor for CS101. Guide the student with hints and "
    "questions; do not hand out solutions to graded assignments.";

static const lms_tutor_turn sample_history[] = {
    {"user", "What is a base case?"},
    {"assistant", "The input a recursive function answers without calling "
                  "itself. Which input would that be for factorial?"},
};

static const char material_text[] =
    "Week 3: recursion. A recursive function solves a problem by calling "
    "itself on a smaller input. Every recursive function needs a base case, "
    "an input it answers directly; without one the calls never stop and the "
    "stack overflows. Example: factorial(0) = 1, factorial(n) = n * "
    "factorial(n - 1).";

static const char reply_text[] =
    "Look at what happens when n reaches 0: does your function return there, "
    "or does it call factorial(-1)?";

static const lms_tutor_doc sample_docs[] = {
    {"CS101", "material", 1, "Week 3: Recursion", NULL, material_text,
     sizeof material_text - 1},
    {"CS101", "reply", 7, "My factorial never ends",
     "My factorial keeps calling itself until the program crashes. Why?",
     reply_text, sizeof reply_text - 1},
};

/* A question from alice in CS101, due in due_ms. */
static lms_tutor_question question(const char *text, int64_t due_ms)
{
    lms_tutor_question q = {
        .course = "CS101",
        .student = "alice",
        .system_prompt = sample_prompt,
        .question = text,
        .history = sample_history,
        .n_history = sizeof sample_history / sizeof sample_history[0],
        .deadline_ms = check_wall_ms() + due_ms,
    };
    return q;
}

/* ---- judging one ask (driver locked) ------------------------------------- */

/* The offset of the first byte of s that is not UTF-8, or (size_t)-1. */
static size_t utf8_invalid_at(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (p[i]) {
        unsigned c = p[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (!len)
            return i;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) /* also stops at the NUL */
                return i;
            cp = cp << 6 | (p[i + k] & 0x3fu);
        }
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += len;
    }
    return (size_t)-1;
}

/* Why r broke the ask contract (in buf), or NULL. */
static const char *contract_problem(const ask_rec *r, char *buf, size_t n)
{
    const char *rc = check_status_name(r->ask_rc);
    if (r->n_problems)
        return r->problem;
    if (!r->ask_returned)
        snprintf(buf, n, "ask() has not returned after %lld ms",
                 (long long)(check_now_ms() - r->started));
    else if (r->ask_rc != LMS_OK && r->done_count)
        snprintf(buf, n, "done() called after ask() returned %s", rc);
    else if (r->ask_rc != LMS_OK &&
             (r->ask_rc < LMS_CANCELLED || r->ask_rc > LMS_UNAUTHENTICATED))
        snprintf(buf, n, "ask() returned %d, which is not an lms_status",
                 r->ask_rc);
    else if (r->ask_rc != LMS_OK && !r->ask_msg[0])
        snprintf(buf, n, "ask() returned %s without a message in err", rc);
    else if (r->ask_rc == LMS_OK && r->done_count == 0)
        snprintf(buf, n, "done() never called (waited %lld ms)",
                 (long long)(check_now_ms() - r->started));
    else if (r->done_count > 1)
        snprintf(buf, n, "done() called %d times (exactly once per ask)",
                 r->done_count);
    else
        return NULL;
    return buf;
}

/* Why r is not a good answer (in buf), or NULL. */
static const char *answer_problem(const ask_rec *r, char *buf, size_t n)
{
    size_t bad;
    if (r->ask_rc != LMS_OK)
        snprintf(buf, n, "ask() returned %s: %s", check_status_name(r->ask_rc),
                 r->ask_msg);
    else if (r->status != LMS_OK)
        snprintf(buf, n, "done(%s): %s", check_status_name(r->status), r->msg);
    else if (!r->text || !r->text[0])
        snprintf(buf, n, "the answer's text is empty");
    else if ((bad = utf8_invalid_at(r->text)) != (size_t)-1)
        snprintf(buf, n, "the answer is not valid UTF-8 (byte %zu)", bad);
    else
        return NULL;
    return buf;
}

/* Both of the above; and r counts as judged. */
static const char *judge(ask_rec *r, int want_answer, char *buf, size_t n)
{
    r->seen_done = r->done_count;
    r->seen_problems = r->n_problems;
    const char *why = contract_problem(r, buf, n);
    return why || !want_answer ? why : answer_problem(r, buf, n);
}

/* Ask text, due in due_ms, and wait until it settles or is overdue. */
static ask_rec *ask_and_wait(suite *s, const char *label, const char *text,
                             int64_t due_ms)
{
    lms_tutor_question q = question(text, due_ms);
    ask_rec *r = driver_ask(s->d, label, &q, 0);
    int64_t wait = due_ms > s->timeout ? due_ms : s->timeout;
    driver_wait(s->d, &r, 1, r->started + wait + GRACE_MS);
    if (!driver_stuck(s->d))
        driver_settle(s->d, SETTLE_MS * s->slow);
    return r;
}

/* ---- the checks ---------------------------------------------------------- */

static int check_init(suite *s)
{
    report_begin("init");
    lms_err err;
    int rc = driver_init(s->d, &err);
    if (rc != LMS_OK) {
        report_fail("%s: %s", check_status_name(rc), err.msg);
        return -1;
    }
    report_ok("initialised on the loop thread");
    return 0;
}

static void check_learn(suite *s)
{
    report_begin("learn");
    if (!s->ops->learn) {
        report_skip("no learn() (optional: the plugin gets no course "
                    "documents)");
        return;
    }
    size_t n = sizeof sample_docs / sizeof sample_docs[0];
    for (size_t i = 0; i < n; i++) {
        const lms_tutor_doc *doc = &sample_docs[i];
        lms_err err;
        int rc = driver_learn(s->d, doc, s->timeout, &err);
        if (rc < 0)
            report_fail("learn() did not return within %lld ms",
                        (long long)s->timeout);
        else if (rc != LMS_OK)
            report_fail("learn(%s %llu \"%s\") returned %s: %s", doc->kind,
                        (unsigned long long)doc->id, doc->title,
                        check_status_name(rc), err.msg);
        if (rc != LMS_OK)
            return;
    }
    report_ok("took %zu documents (a material and an instructor's reply)", n);
}

/* The first line or 100 bytes of text, whichever is shorter, whole
 * UTF-8 characters only. */
static void preview(const char *text, char *out, size_t n)
{
    size_t len = strcspn(text, "\n");
    if (len > 100) {
        len = 100;
        while (len && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--;
    }
    snprintf(out, n, "%.*s%s", (int)len, text, text[len] ? " ..." : "");
}

static void report_answer(suite *s, ask_rec *r)
{
    char buf[600];
    const char *why = judge(r, 1, buf, sizeof buf);
    if (why) {
        report_fail("%s", why);
        return;
    }
    report_ok("done(LMS_OK) once: %zu bytes of UTF-8 in %lld ms%s%s%s",
              strlen(r->text), (long long)r->done_ms,
              r->model && r->model[0] ? ", model " : "",
              r->model ? r->model : "",
              r->done_inside_ask ? ", from inside ask()" : "");
    preview(r->text, buf, sizeof buf);
    report_note("answer: %s", buf);
}

static void report_deadline(suite *s, const ask_rec *r)
{
    report_begin("deadline");
    if (r->ask_rc == LMS_OK && r->done_count == 0)
        report_fail("no answer within the %lld ms allowed",
                    (long long)s->timeout);
    else if (r->ask_rc != LMS_OK || r->status != LMS_OK)
        report_skip("no answer to time (see \"answer\")");
    else if (r->done_ms > s->timeout)
        report_fail("the answer came after %lld ms, %lld ms past its deadline",
                    (long long)r->done_ms,
                    (long long)(r->done_ms - s->timeout));
    else
        report_ok("the answer came after %lld ms of the %lld ms allowed",
                  (long long)r->done_ms, (long long)s->timeout);
}

static void report_stream(suite *s, const ask_rec *r)
{
    int streams = (s->ops->flags & LMS_TUTOR_STREAMS) != 0;
    report_begin("stream");
    if (!streams && r->n_chunks == 0) {
        report_skip("the plugin does not declare LMS_TUTOR_STREAMS");
        return;
    }
    if (!r->text) {
        report_skip("no answer to hold the chunks against (see \"answer\")");
        return;
    }
    if (r->n_chunks == 0) {
        report_fail("declares LMS_TUTOR_STREAMS but never called chunk()");
        return;
    }
    size_t len = strlen(r->text), i = 0;
    const char *c = r->chunks ? r->chunks : "";
    while (i < len && i < r->chunks_len && c[i] == r->text[i])
        i++;
    if (i < len || r->chunks_len != len)
        report_fail("the %d chunks (%zu bytes) and the answer (%zu bytes) "
                    "differ from byte %zu on",
                    r->n_chunks, r->chunks_len, len, i);
    else
        report_ok("%d chunks add up to the answer%s", r->n_chunks,
                  streams ? ""
                          : " (without LMS_TUTOR_STREAMS lmsd may not "
                            "pass them on)");
}

static void report_returns_at_once(suite *s, const ask_rec *r)
{
    if (driver_is_blocking(s->d))
        return;
    report_begin("returns at once");
    if (r->ask_ms > RETURN_MS * s->slow)
        report_fail("ask() held the loop for %lld ms; an async plugin must "
                    "return at once (or declare LMS_TUTOR_BLOCKING)",
                    (long long)r->ask_ms);
    else
        report_ok("ask() returned in %lld ms and left the loop free",
                  (long long)r->ask_ms);
}

static void check_answer(suite *s)
{
    report_begin("answer");
    ask_rec *r = ask_and_wait(s, "the sample question", s->env->opts->question,
                              s->timeout);
    driver_lock(s->d);
    report_answer(s, r);
    report_deadline(s, r);
    report_stream(s, r);
    report_returns_at_once(s, r);
    driver_unlock(s->d);
}

static void check_empty_question(suite *s)
{
    report_begin("empty question");
    ask_rec *r = ask_and_wait(s, "the empty question", "", s->timeout);
    char buf[600];
    driver_lock(s->d);
    const char *why = judge(r, 0, buf, sizeof buf);
    if (why)
        report_fail("%s", why);
    else if (r->ask_rc != LMS_OK)
        report_ok("ask() refused it with %s (\"%s\"), and no done() followed",
                  check_status_name(r->ask_rc), r->ask_msg);
    else if (r->status != LMS_OK)
        report_ok("done(%s) once: \"%s\"", check_status_name(r->status),
                  r->msg);
    else
        report_ok("answered it, done() once");
    driver_unlock(s->d);
}

/* Why the outcome of an ask due in 1 ms is wrong, or NULL. An answer is
 * fine, and so is another error that came before the deadline (the
 * provider is down, say); once the deadline has passed, it is what went
 * wrong, and the status must say LMS_DEADLINE_EXCEEDED. */
static const char *deadline_problem(const ask_rec *r, char *buf, size_t n)
{
    int rc = r->ask_rc, st = r->status;
    if (r->ended_wall <= r->deadline_ms)
        return NULL;
    if (rc != LMS_OK && rc != LMS_DEADLINE_EXCEEDED)
        snprintf(buf, n,
                 "ask() returned %s (%s); expected "
                 "LMS_DEADLINE_EXCEEDED",
                 check_status_name(rc), r->ask_msg);
    else if (rc == LMS_OK && st != LMS_OK && st != LMS_DEADLINE_EXCEEDED)
        snprintf(buf, n, "done(%s): %s; expected LMS_DEADLINE_EXCEEDED",
                 check_status_name(st), r->msg);
    else
        return NULL;
    return buf;
}

static void check_near_deadline(suite *s)
{
    report_begin("near deadline");
    ask_rec *r =
        ask_and_wait(s, "a question due in 1 ms", s->env->opts->question, 1);
    char buf[600];
    driver_lock(s->d);
    const char *why = judge(r, 0, buf, sizeof buf);
    if (!why)
        why = deadline_problem(r, buf, sizeof buf);
    if (why)
        report_fail("%s", why);
    else if (r->ask_rc != LMS_OK)
        report_ok("ask() returned %s at once", check_status_name(r->ask_rc));
    else if (r->status == LMS_OK)
        report_ok("answered in spite of it, done(LMS_OK) once, after %lld ms",
                  (long long)r->done_ms);
    else
        report_ok("done(%s) once, after %lld ms%s",
                  check_status_name(r->status), (long long)r->done_ms,
                  r->status == LMS_DEADLINE_EXCEEDED ? ""
                                                     : ", before the deadline");
    driver_unlock(s->d);
}

static void report_cancel(const ask_rec *r, const char *why)
{
    if (!why && r->ask_rc != LMS_OK)
        report_fail("ask() returned %s (%s): nothing to cancel",
                    check_status_name(r->ask_rc), r->ask_msg);
    else if (!why && !r->done_before_cancel && r->status != LMS_CANCELLED)
        report_fail("done(%s) after cancel(); expected LMS_CANCELLED",
                    check_status_name(r->status));
    else if (why)
        report_fail("%s", why);
    else if (r->done_before_cancel)
        report_ok("the answer came before cancel() (%s); that cancel() and "
                  "a second one were ignored",
                  r->done_inside_ask ? "from inside ask()" : "quickly");
    else
        report_ok("done(LMS_CANCELLED) once, %lld ms after ask(); a second "
                  "cancel() was ignored",
                  (long long)r->done_ms);
}

static void check_cancel(suite *s)
{
    report_begin("cancel");
    if (!s->ops->cancel) {
        report_skip("no cancel() (optional: lmsd lets an ask run to its end)");
        return;
    }
    lms_tutor_question q = question(s->env->opts->question, s->timeout);
    ask_rec *r = driver_ask(s->d, "the cancelled question", &q, 0);
    driver_cancel(s->d, r);
    driver_wait(s->d, &r, 1, r->started + s->timeout + GRACE_MS);
    if (!driver_stuck(s->d)) {
        driver_cancel(s->d, r); /* lmsd may cancel an ask that just ended */
        driver_settle(s->d, SETTLE_MS * s->slow);
    }
    char buf[600];
    driver_lock(s->d);
    report_cancel(r, judge(r, 0, buf, sizeof buf));
    driver_unlock(s->d);
}

static void check_concurrent(suite *s)
{
    static const char *const labels[N_CONCURRENT] = {
        "concurrent ask 1", "concurrent ask 2", "concurrent ask 3",
        "concurrent ask 4 (no chunk callback)"};
    report_begin("concurrent");
    ask_rec *rs[N_CONCURRENT];
    for (int i = 0; i < N_CONCURRENT; i++) {
        lms_tutor_question q = question(s->env->opts->question, s->timeout);
        rs[i] = driver_ask(s->d, labels[i], &q, i == N_CONCURRENT - 1);
    }
    driver_wait(s->d, rs, N_CONCURRENT, rs[0]->started + s->timeout + GRACE_MS);
    if (!driver_stuck(s->d))
        driver_settle(s->d, SETTLE_MS * s->slow);
    char buf[600];
    const char *why = NULL;
    int64_t slowest = 0;
    driver_lock(s->d);
    for (int i = 0; i < N_CONCURRENT; i++) { /* judge all, report the first */
        const char *w = judge(rs[i], 1, buf, sizeof buf);
        if (w && !why)
            report_fail("%s: %s", labels[i], (why = w));
        slowest = rs[i]->done_ms > slowest ? rs[i]->done_ms : slowest;
    }
    driver_unlock(s->d);
    if (!why)
        report_ok(
            "%d asks %s all answered within %lld ms, one of them without a "
            "chunk callback",
            N_CONCURRENT,
            driver_is_blocking(s->d) ? "queued at once" : "in flight at once",
            (long long)slowest);
}

/* How many asks are still waiting for done() (or for ask() to return). */
static int outstanding(suite *s)
{
    int n = 0;
    driver_lock(s->d);
    for (const ask_rec *r = driver_asks(s->d); r; r = r->next)
        n += !r->ask_returned || (r->ask_rc == LMS_OK && !r->done_count);
    driver_unlock(s->d);
    return n;
}

static int check_shutdown(suite *s)
{
    report_begin("shutdown");
    if (driver_stuck(s->d)) {
        report_fail("not called: the plugin is still inside an earlier call");
        return -1;
    }
    int n = outstanding(s);
    if (n) {
        report_fail("%d asks never finished, so shutdown() was not called (no "
                    "ask may be outstanding then)",
                    n);
        return -1;
    }
    int64_t t0 = check_now_ms();
    if (driver_shutdown(s->d, s->timeout) < 0) {
        report_fail("shutdown() did not return within %lld ms",
                    (long long)s->timeout);
        return -1;
    }
    report_ok("shut down in %lld ms", (long long)(check_now_ms() - t0));
    return 0;
}

/* After shutdown: nothing may call back any more. */
static void check_quiet(suite *s)
{
    report_begin("quiet");
    driver_settle(s->d, 2 * SETTLE_MS * s->slow);
    int n = 0, failed = 0;
    driver_lock(s->d);
    for (const ask_rec *r = driver_asks(s->d); r && !failed; r = r->next, n++) {
        if (r->done_count > r->seen_done)
            report_fail("%s: done() called %d more times after its check",
                        r->label, r->done_count - r->seen_done);
        else if (r->n_problems > r->seen_problems)
            report_fail("%s, after its check: %s", r->label, r->problem);
        failed =
            r->done_count > r->seen_done || r->n_problems > r->seen_problems;
    }
    driver_unlock(s->d);
    if (!failed)
        report_ok("no callback after done(), after an error return or after "
                  "shutdown (%d asks)",
                  n);
}

/* The checks between init and shutdown, stopping when the plugin is stuck
 * in a call on the tutor thread (nothing more would reach it). */
static void check_asks(suite *s)
{
    static void (*const checks[])(suite *) = {
        check_learn,         check_answer, check_empty_question,
        check_near_deadline, check_cancel, check_concurrent,
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (driver_stuck(s->d))
            return;
        checks[i](s);
    }
}

int check_tutor(check_env *env)
{
    suite s = {
        .env = env,
        .ops = env->plugin.desc->ops,
        .timeout = env->opts->timeout_ms,
        .slow = env->opts->under_valgrind ? 20 : 1,
    };
    report_begin("tutor thread");
    if (!(s.d = driver_new(env, s.ops))) {
        report_fail("cannot start the tutor thread");
        return 0;
    }
    if (check_init(&s) < 0) {
        driver_free(s.d);
        return 0;
    }
    check_asks(&s);
    if (check_shutdown(&s) < 0)
        return -1; /* the plugin still runs: leave everything as it is */
    check_quiet(&s);
    driver_free(s.d);
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tutor_fixture.c: tutor plugins that really answer, for testing
 * lms-plugin-check itself (tests/plugins/plugin_check.sh). CMakeLists.txt
 * builds this file once per define; each FAKE_* build keeps the tutor
 * contract, each BROKEN_* build breaks it in exactly one way:
 *
 *   FAKE_TUTOR_BLOCKING        blocking: answers from inside ask()
 *   FAKE_TUTOR_ASYNC           async on the loop: streams the answer in three
 *                              chunks 1 ms apart, honours deadline and cancel,
 *                              refuses an empty question
 *   BROKEN_TUTOR_DONE_TWICE    async, calls done() twice per answer
 *   BROKEN_TUTOR_SILENT        async, never calls done()
 *   BROKEN_TUTOR_KEEPS_REPLY   async, keeps the reply pointer, not a copy
 *   BROKEN_TUTOR_BLOCKS_LOOP   async, but ask() sleeps 300 ms on the loop
 *   BROKEN_TUTOR_BAD_STREAM    async, chunks that do not add up to the answer
 *   BROKEN_TUTOR_CRASH         blocking, ask() dies of SIGSEGV
 *   BROKEN_TUTOR_HANG          blocking, ask() never returns
 */
#include <event2/event.h>
#include <lms/tutor.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#if defined(FAKE_TUTOR_BLOCKING) || defined(BROKEN_TUTOR_CRASH) ||             \
    defined(BROKEN_TUTOR_HANG)
#define FLAGS LMS_TUTOR_BLOCKING
#else
#define ASYNC 1
#define FLAGS LMS_TUTOR_STREAMS
#endif

typedef struct pending pending;

typedef struct tutor {
    struct event_base *base;
    pending *list;
} tutor;

struct pending {
    tutor *t;
    lms_tutor_reply reply;       /* our copy */
    const lms_tutor_reply *kept; /* BROKEN_TUTOR_KEEPS_REPLY: not a copy */
    char answer[512];
    size_t sent;
    int64_t deadline_ms;
    struct event *timer;
    pending *next;
};

static int fx_init(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                   void **inst, lms_err *err)
{
    tutor *t = calloc(1, sizeof *t);
    if (!t)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    t->base = host->event_base(ctx);
    *inst = t;
    return LMS_OK;
}

static void fx_shutdown(void *inst)
{
    free(inst);
}

static int fx_learn(void *inst, const lms_tutor_doc *doc, lms_err *err)
{
    return LMS_OK;
}

static void answer_text(const lms_tutor_question *q, char *out, size_t n)
{
    snprintf(out, n,
             "A hint for %s in %s: what is the smallest input for "
             "which \"%s\" has an obvious answer?",
             q->student, q->course, q->question);
}

#ifndef ASYNC
static int fx_ask(void *inst, const lms_tutor_question *q,
                  const lms_tutor_reply *reply, lms_err *err)
{
    char text[512];
#if defined(BROKEN_TUTOR_CRASH)
    raise(SIGSEGV); /* what a stray pointer would do, sanitizers or not */
#elif defined(BROKEN_TUTOR_HANG)
    for (;;)
        pause();
#endif
    answer_text(q, text, sizeof text);
    lms_tutor_answer a = {.text = text, .model = ""};
    reply->done(reply->arg, LMS_OK, &a, NULL);
    return LMS_OK;
}

/* Every answer is given inside ask(), so there is never one to cancel. */
static void fx_cancel(void *inst, void *arg)
{
}
#else /* ASYNC */

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Unlink p, call done once (or twice, for the broken build) and free it. */
static void finish(pending *p, int status, const char *msg)
{
    pending **at = &p->t->list;
    while (*at != p)
        at = &(*at)->next;
    *at = p->next;
    const lms_tutor_reply *r = p->kept ? p->kept : &p->reply;
    lms_tutor_answer a = {.text = p->answer, .model = "fixture-1"};
    lms_err err = {status, ""};
    snprintf(err.msg, sizeof err.msg, "%s", msg ? msg : "");
    r->done(r->arg, status, status == LMS_OK ? &a : NULL, &err);
#ifdef BROKEN_TUTOR_DONE_TWICE
    r->done(r->arg, status, status == LMS_OK ? &a : NULL, &err);
#endif
    event_free(p->timer);
    free(p);
}

/* Every 1 ms: the next third of the answer, then done. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    pending *p = arg;
    size_t len = strlen(p->answer), step = len / 3 + 1;
    if (wall_ms() > p->deadline_ms) {
        finish(p, LMS_DEADLINE_EXCEEDED, "no answer before the deadline");
        return;
    }
    if (p->sent < len) {
        size_t n = len - p->sent < step ? len - p->sent : step;
        const lms_tutor_reply *r = p->kept ? p->kept : &p->reply;
#ifdef BROKEN_TUTOR_BAD_STREAM
        n = n > 1 ? n - 1 : n;
#endif
        if (r->chunk)
            r->chunk(r->arg, p->answer + p->sent, n);
        p->sent += step;
        struct timeval tv = {0, 1000};
        evtimer_add(p->timer, &tv);
        return;
    }
    finish(p, LMS_OK, NULL);
}

static int fx_ask(void *inst, const lms_tutor_question *q,
                  const lms_tutor_reply *reply, lms_err *err)
{
    tutor *t = inst;
#ifdef BROKEN_TUTOR_BLOCKS_LOOP
    usleep(300 * 1000);
#endif
    if (!q->question[0])
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "ask a question first");
    pending *p = calloc(1, sizeof *p);
    if (!p || !(p->timer = evtimer_new(t->base, on_timer, p))) {
        free(p);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    p->t = t;
    p->reply = *reply;
#ifdef BROKEN_TUTOR_KEEPS_REPLY
    p->kept = reply;
#endif
    p->deadline_ms = q->deadline_ms;
    answer_text(q, p->answer, sizeof p->answer);
    p->next = t->list;
    t->list = p;
#ifndef BROKEN_TUTOR_SILENT
    struct timeval tv = {0, 1000};
    evtimer_add(p->timer, &tv);
#endif
    return LMS_OK;
}

static void fx_cancel(void *inst, void *arg)
{
    tutor *t = inst;
    for (pending *p = t->list; p; p = p->next)
        if (p->reply.arg == arg) {
            event_del(p->timer);
            finish(p, LMS_CANCELLED, "cancelled");
            return;
        }
}
#endif /* ASYNC */

static const struct lms_tutor_ops ops = {
    .size = sizeof(struct lms_tutor_ops),
    .flags = FLAGS,
    .init = fx_init,
    .shutdown = fx_shutdown,
    .ask = fx_ask,
    .cancel = fx_cancel,
    .learn = fx_learn,
};

static const struct lms_plugin_descriptor descriptor = {
    .magic = LMS_PLUGIN_MAGIC,
    .abi_major = LMS_ABI_MAJOR,
    .abi_minor = LMS_ABI_MINOR,
    .descriptor_size = sizeof(struct lms_plugin_descriptor),
    .kind = LMS_PLUGIN_TUTOR,
    .name = "tutor_fixture",
    .version = "0.0.1",
    .description = "a tutor for lms-plugin-check's tests",
    .ops = &ops,
    .ops_size = sizeof ops,
};

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void);

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void)
{
    return &descriptor;
}

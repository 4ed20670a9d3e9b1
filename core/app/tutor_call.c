/* SPDX-License-Identifier: MIT */
/*
 * tutor_call.c: one student's question to the tutor runtime (tutor.h).
 *
 * A call owns copies of the question, so it can outlive the request that
 * made it, and lives until the plugin has ended it (done(), or an error
 * from ask()). What the plugin says goes through the runtime's mailbox:
 * chunk() and done() copy their arguments and post them, from the tutor
 * thread or from the loop alike, so the loop handles them in order and
 * never from inside the plugin's own call.
 *
 * The client side ends once: with the plugin's answer, or earlier when
 * the watchdog gives up (lmsd's deadline passed, nobody waits any more) or
 * lmsd stops; the plugin is then asked to cancel (an asynchronous plugin
 * with cancel()), or a blocking call that has not started yet is skipped.
 */
#include "tutor_internal.h"

#include "clock.h"
#include "log.h"
#include "utf8.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_EVERY_MS 250
/* How long after lmsd's deadline the watchdog waits for the plugin's own
 * DEADLINE_EXCEEDED, which says more. */
#define DEADLINE_GRACE_MS 1000

struct tutor_call {
    tutor_rt *rt;
    tutor_inst *inst;
    tutor_callbacks cb;
    lms_tutor_question q; /* its strings and turns in the copies below */
    char *course, *student, *prompt, *question;
    lms_tutor_turn *turns;
    lms_tutor_reply reply;
    int64_t started;        /* monotonic ms */
    int64_t deadline_ms;    /* lmsd's deadline it was asked under */
    struct event *watch;
    int answered;           /* cb.done() was called */
    int plugin_ended;       /* the plugin ended it (read for async plugins only) */
    atomic_int abandoned;   /* a blocking ask not started yet is skipped */
    tutor_call *prev, *next; /* rt->calls */
};

/* ---- what the plugin says, on its way to the loop ------------------- */

typedef struct call_msg {
    tutor_call *c;
    int end;        /* 0: a chunk; 1: the end */
    int status;
    char *text;     /* the chunk, or the answer */
    size_t len;
    char *model;
    uint32_t prompt_tokens, completion_tokens;
    char message[sizeof ((lms_err *)0)->msg];
} call_msg;

static void deliver(void *arg);

static void post(call_msg *m)
{
    if (mailbox_post(m->c->rt->mb, deliver, m) == 0)
        return;
    log_error("tutor: out of memory passing on a tutor answer");
    free(m->text);
    free(m->model);
    free(m);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s ? s : "", n);
        p[n] = '\0';
    }
    return p;
}

/* The plugin's thread (or the loop): the next piece of the answer. It
 * goes out as a protobuf string, so what is not UTF-8 (a character cut
 * between two pieces, say) becomes '?'; the final answer has it whole. */
static void plugin_chunk(void *arg, const char *text, size_t len)
{
    call_msg *m = calloc(1, sizeof *m);
    if (!m || !(m->text = dup_n(text, len))) {
        free(m);
        return; /* a lost piece: the final answer still has it */
    }
    len = strlen(m->text); /* up to a NUL the plugin put in */
    utf8_text_scrub(m->text, len, UTF8_MULTILINE);
    m->c = arg;
    m->len = len;
    post(m);
}

/* The end, from the plugin's done() or from ask()'s error. */
static void post_end(tutor_call *c, int status, const lms_tutor_answer *a,
                     const lms_err *err)
{
    call_msg *m = calloc(1, sizeof *m);
    if (!m) {
        log_error("tutor: out of memory ending a question; it stays open");
        return;
    }
    m->c = c;
    m->end = 1;
    m->status = status;
    if (status == LMS_OK && a) {
        m->text = dup_n(a->text, a->text ? strlen(a->text) : 0);
        m->model = dup_n(a->model, a->model ? strlen(a->model) : 0);
        m->len = m->text ? strlen(m->text) : 0;
        m->prompt_tokens = a->prompt_tokens;
        m->completion_tokens = a->completion_tokens;
        if (!m->text || !m->model)
            m->status = LMS_RESOURCE_EXHAUSTED;
    } else if (status == LMS_OK) {
        m->status = LMS_INTERNAL; /* done(OK) without an answer */
    }
    if (err && err->msg[0])
        snprintf(m->message, sizeof m->message, "%s", err->msg);
    post(m);
}

static void plugin_done(void *arg, int status, const lms_tutor_answer *answer,
                        const lms_err *err)
{
    tutor_call *c = arg;
    if (!c->inst->blocking)
        c->plugin_ended = 1; /* the loop's own: no cancel() after this */
    post_end(c, status, answer, err);
}

/* ---- the client side -------------------------------------------------- */

static const char *default_message(int status)
{
    switch (status) {
    case LMS_DEADLINE_EXCEEDED: return "the tutor did not answer in time";
    case LMS_RESOURCE_EXHAUSTED: return "the tutor is busy; try again later";
    case LMS_PERMISSION_DENIED: return "the tutor's provider refused this server";
    case LMS_CANCELLED: return "the question was cancelled";
    case LMS_UNAVAILABLE: return "the tutor is not reachable";
    default: return "the tutor failed";
    }
}

/* End the client side: once. */
static void answer(tutor_call *c, int status, const lms_tutor_answer *a,
                   const char *message)
{
    if (c->answered)
        return;
    c->answered = 1;
    event_del(c->watch); /* nothing left to watch for */
    int64_t took = mono_ms() - c->started;
    tutor_result res = {
        .status = status, .answer = status == LMS_OK ? a : NULL,
        .message = message && message[0] ? message : default_message(status),
        .provider = c->inst->pl.desc->name,
        .latency_ms = took > UINT32_MAX ? UINT32_MAX : (uint32_t)took};
    c->cb.done(c->cb.arg, &res);
}

/* Give up on the plugin's answer: ask it to stop if it can. */
static void abandon(tutor_call *c, int status, const char *message)
{
    answer(c, status, NULL, message);
    if (atomic_exchange(&c->abandoned, 1))
        return;
    const struct lms_tutor_ops *ops = c->inst->ops;
    if (!c->inst->blocking && ops->cancel && !c->plugin_ended)
        ops->cancel(c->inst->inst, c);
}

static void call_free(tutor_call *c)
{
    tutor_rt *t = c->rt;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->watch)
        event_free(c->watch);
    free(c->course);
    free(c->student);
    free(c->prompt);
    free(c->question);
    for (size_t i = 0; i < c->q.n_history; i++)
        free((char *)c->turns[i].content);
    free(c->turns);
    free(c);
}

/* Loop: a message of the plugin arrives. */
static void deliver(void *arg)
{
    call_msg *m = arg;
    tutor_call *c = m->c;
    if (!m->end) {
        if (!c->answered && c->cb.chunk)
            c->cb.chunk(c->cb.arg, m->text, m->len);
    } else {
        c->plugin_ended = 1;
        lms_tutor_answer a = {.text = m->text, .model = m->model,
                              .prompt_tokens = m->prompt_tokens,
                              .completion_tokens = m->completion_tokens};
        answer(c, m->status, &a, m->message);
        tutor_inst *i = c->inst;
        call_free(c);
        tutor_inst_unref(i);
    }
    free(m->text);
    free(m->model);
    free(m);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    tutor_call *c = arg;
    (void)fd;
    (void)what;
    if (c->answered)
        return;
    if (wall_ms() > c->q.deadline_ms + DEADLINE_GRACE_MS) {
        char msg[128];
        snprintf(msg, sizeof msg, "the tutor did not answer within %lld s",
                 (long long)(c->deadline_ms / 1000));
        abandon(c, LMS_DEADLINE_EXCEEDED, msg);
    } else if (c->cb.wanted && !c->cb.wanted(c->cb.arg)) {
        abandon(c, LMS_CANCELLED, "the client went away");
    }
}

/* ---- starting --------------------------------------------------------- */

/* Copy q (and its turns) into c. */
static int copy_question(tutor_call *c, const lms_tutor_question *q)
{
    c->course = strdup(q->course ? q->course : "");
    c->student = strdup(q->student ? q->student : "");
    c->prompt = strdup(q->system_prompt ? q->system_prompt : "");
    c->question = strdup(q->question ? q->question : "");
    c->turns = calloc(q->n_history ? q->n_history : 1, sizeof *c->turns);
    if (!c->course || !c->student || !c->prompt || !c->question || !c->turns)
        return -1;
    c->q = (lms_tutor_question){.course = c->course, .student = c->student,
                                .system_prompt = c->prompt, .question = c->question,
                                .history = c->turns};
    for (size_t i = 0; i < q->n_history; i++) {
        const lms_tutor_turn *h = &q->history[i];
        c->turns[i].role = strcmp(h->role, "assistant") == 0 ? "assistant" : "user";
        if (!(c->turns[i].content = strdup(h->content)))
            return -1;
        c->q.n_history++;
    }
    return 0;
}

/* Thread or loop: hand the question to the plugin. */
static void ask_work(void *arg)
{
    tutor_call *c = arg;
    lms_err err = {0};
    if (atomic_load(&c->abandoned)) {
        post_end(c, LMS_CANCELLED, NULL, NULL);
        return;
    }
    int rc = c->inst->ops->ask(c->inst->inst, &c->q, &c->reply, &err);
    if (rc != LMS_OK)
        post_end(c, rc, NULL, &err);
}

static tutor_call *call_new(tutor_rt *t, const lms_tutor_question *q,
                            const tutor_callbacks *cb)
{
    tutor_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->rt = t;
    c->inst = t->serving;
    c->cb = *cb;
    atomic_init(&c->abandoned, 0);
    c->next = t->calls; /* listed first, so call_free can always unlink it */
    if (t->calls)
        t->calls->prev = c;
    t->calls = c;
    c->watch = event_new(t->o.base, -1, EV_PERSIST, on_watch, c);
    struct timeval every = {0, WATCH_EVERY_MS * 1000};
    if (copy_question(c, q) < 0 || !c->watch || event_add(c->watch, &every) < 0) {
        call_free(c);
        return NULL;
    }
    c->started = mono_ms();
    c->deadline_ms = t->o.deadline_ms; /* a reload may change t's meanwhile */
    c->q.deadline_ms = wall_ms() + c->deadline_ms;
    c->reply = (lms_tutor_reply){.arg = c, .chunk = plugin_chunk, .done = plugin_done};
    return c;
}

int tutor_rt_ask(tutor_rt *t, const lms_tutor_question *q,
                 const tutor_callbacks *cb, lms_err *err)
{
    if (t && t->stopping)
        return lms_err_set(err, LMS_UNAVAILABLE, "the server is stopping");
    if (!t || !t->serving)
        return t && t->pending ? lms_err_set(err, LMS_UNAVAILABLE,
                                        "the tutor is starting; try again in a moment")
                          : lms_err_set(err, LMS_FAILED_PRECONDITION,
                                        "this server has no tutor configured");
    tutor_call *c = call_new(t, q, cb);
    if (!c)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    tutor_inst_ref(c->inst);
    if (!c->inst->blocking) {
        ask_work(c);
    } else if (workers_submit(t->thread, ask_work, NULL, c) < 0) {
        tutor_inst *i = c->inst;
        call_free(c);
        tutor_inst_unref(i);
        return lms_err_set(err, LMS_UNAVAILABLE, "the tutor is stopping");
    }
    return LMS_OK;
}

void tutor_calls_abandon(tutor_rt *t, int status, const char *message)
{
    for (tutor_call *c = t->calls; c; c = c->next)
        abandon(c, status, message);
}

void tutor_calls_drop(tutor_rt *t, tutor_inst *i)
{
    tutor_call *c = t->calls;
    while (c) {
        tutor_call *next = c->next;
        if (c->inst == i) {
            answer(c, LMS_UNAVAILABLE, NULL, "the server is stopping");
            call_free(c);
        }
        c = next;
    }
}

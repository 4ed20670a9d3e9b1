/* SPDX-License-Identifier: MIT */
/*
 * tutor_driver.c: see tutor_driver.h. Every call into the plugin goes
 * through a `call` that runs either on the tutor thread (a one-thread
 * worker pool, which runs jobs in order, as lmsd's tutor thread does) or,
 * for async plugins, right away on the loop thread. The driver never holds
 * its lock while the plugin runs, since a plugin may call back from inside
 * ask() or cancel().
 */
#include "tutor_driver.h"

#include "workers.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tutor_driver {
    check_env *env;
    const struct lms_tutor_ops *ops;
    void *inst;
    int blocking;
    workers *thread;       /* the tutor thread; NULL for async plugins */
    pthread_t loop_thread; /* where async plugins must call back */
    pthread_mutex_t mu;
    ask_rec *asks;
    int stuck;
};

typedef struct call {
    tutor_driver *d;
    void (*run)(struct call *c);
    ask_rec *rec;             /* ask, cancel */
    const lms_tutor_doc *doc; /* learn */
    int rc;
    lms_err err;
    int returned;  /* under d->mu */
    int self_free; /* fire and forget: the call frees itself */
} call;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fputs("lms-plugin-check: out of memory\n", stderr);
        exit(2);
    }
    return p;
}

void driver_lock(tutor_driver *d)
{
    pthread_mutex_lock(&d->mu);
}

void driver_unlock(tutor_driver *d)
{
    pthread_mutex_unlock(&d->mu);
}

int driver_is_blocking(const tutor_driver *d)
{
    return d->blocking;
}

int driver_stuck(const tutor_driver *d)
{
    return d->stuck;
}

ask_rec *driver_asks(tutor_driver *d)
{
    return d->asks;
}

/* Note a breach of the contract; the first one is kept. Locked. */
__attribute__((format(printf, 2, 3))) static void problem(ask_rec *r,
                                                          const char *fmt, ...)
{
    if (r->n_problems++)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problem, sizeof r->problem, fmt, ap);
    va_end(ap);
}

/* Async plugins call back on the loop thread only. Locked. */
static void check_thread(ask_rec *r, const char *what)
{
    tutor_driver *d = r->drv;
    if (!d->blocking && !pthread_equal(pthread_self(), d->loop_thread))
        problem(r,
                "%s() called off the loop thread (an async plugin calls "
                "back on the loop)",
                what);
}

/* ---- the host's side of an ask ------------------------------------------- */

static void on_chunk(void *arg, const char *text, size_t len)
{
    ask_rec *r = arg;
    driver_lock(r->drv);
    check_thread(r, "chunk");
    if (r->done_count)
        problem(r, "chunk() called after done()");
    else if (!text && len)
        problem(r, "chunk(NULL, %zu)", len);
    else if (len) {
        char *grown = realloc(r->chunks, r->chunks_len + len + 1);
        if (grown) {
            memcpy(grown + r->chunks_len, text, len);
            r->chunks_len += len;
            grown[r->chunks_len] = '\0';
            r->chunks = grown;
        }
    }
    r->n_chunks++;
    driver_unlock(r->drv);
}

static void check_sources(ask_rec *r, const lms_tutor_answer *a)
{
    if (a->n_sources && !a->sources) {
        problem(r, "the answer has %zu sources and sources is NULL",
                a->n_sources);
        return;
    }
    for (size_t i = 0; i < a->n_sources; i++) {
        const lms_tutor_source *s = &a->sources[i];
        if (!s->kind ||
            (strcmp(s->kind, "material") && strcmp(s->kind, "reply")))
            problem(r,
                    "source %zu: kind is %s%s%s, expected \"material\" or "
                    "\"reply\"",
                    i, s->kind ? "\"" : "", s->kind ? s->kind : "NULL",
                    s->kind ? "\"" : "");
        else if (!s->title || !s->passage)
            problem(r, "source %zu: title and passage must not be NULL", i);
    }
}

/* Is what done() got consistent? Locked. */
static void check_done_args(ask_rec *r, int status, const lms_tutor_answer *a,
                            const lms_err *err)
{
    const char *name = check_status_name(status);
    if (status == LMS_OK && !a)
        problem(r, "done(LMS_OK) without an answer");
    else if (status != LMS_OK && a)
        problem(r, "done(%s) with an answer (it must be NULL unless LMS_OK)",
                name);
    else if (a && !a->text)
        problem(r, "the answer's text is NULL");
    else if (a && !a->model)
        problem(r, "the answer's model is NULL (use \"\" when there is none)");
    else if (a)
        check_sources(r, a);
    else if (status < LMS_CANCELLED || status > LMS_UNAUTHENTICATED)
        problem(r, "done() with status %d, which is not an lms_status", status);
    else if (status != LMS_CANCELLED && (!err || !err->msg[0]))
        problem(r,
                "done(%s) without a message in err (lmsd shows it to the "
                "student)",
                name);
}

static void on_done(void *arg, int status, const lms_tutor_answer *a,
                    const lms_err *err)
{
    ask_rec *r = arg;
    driver_lock(r->drv);
    check_thread(r, "done");
    if (r->done_count++ == 0) {
        r->done_ms = check_now_ms() - r->started;
        r->ended_wall = check_wall_ms();
        r->done_inside_ask = !r->ask_returned;
        r->status = status;
        check_done_args(r, status, a, err);
        if (a && a->text)
            r->text = strdup(a->text);
        if (a && a->model)
            r->model = strdup(a->model);
        r->n_sources = a ? a->n_sources : 0;
        snprintf(r->msg, sizeof r->msg, "%s", err ? err->msg : "");
    }
    driver_unlock(r->drv);
}

/* What a plugin reaches when it kept the reply pointer, not a copy. */
#define REPLY_KEPT                                                             \
    "used the lms_tutor_reply after ask() returned (copy *reply: "             \
    "like everything ask() gets, it lives only during the call)"

static void trap_chunk(void *arg, const char *text, size_t len)
{
    ask_rec *r = arg;
    driver_lock(r->drv);
    problem(r, REPLY_KEPT);
    driver_unlock(r->drv);
    on_chunk(arg, text, len);
}

static void trap_done(void *arg, int status, const lms_tutor_answer *a,
                      const lms_err *err)
{
    ask_rec *r = arg;
    driver_lock(r->drv);
    problem(r, REPLY_KEPT);
    driver_unlock(r->drv);
    on_done(arg, status, a, err);
}

/* ---- the question's copy ------------------------------------------------- */

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *put_str(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *at = memcpy(*p, s, n);
    *p += n;
    return at;
}

/* q and everything it points to in one block of *size bytes. */
static lms_tutor_question *question_dup(const lms_tutor_question *q,
                                        size_t *size)
{
    size_t n = sizeof *q + q->n_history * sizeof(lms_tutor_turn) +
               str_size(q->course) + str_size(q->student) +
               str_size(q->system_prompt) + str_size(q->question);
    for (size_t i = 0; i < q->n_history; i++)
        n += str_size(q->history[i].role) + str_size(q->history[i].content);
    lms_tutor_question *c = xcalloc(1, n);
    lms_tutor_turn *turns = (lms_tutor_turn *)(c + 1);
    char *p = (char *)(turns + q->n_history);
    *c = *q;
    c->course = put_str(&p, q->course);
    c->student = put_str(&p, q->student);
    c->system_prompt = put_str(&p, q->system_prompt);
    c->question = put_str(&p, q->question);
    c->history = q->n_history ? turns : NULL;
    for (size_t i = 0; i < q->n_history; i++) {
        turns[i].role = put_str(&p, q->history[i].role);
        turns[i].content = put_str(&p, q->history[i].content);
    }
    *size = n;
    return c;
}

/* ---- calls into the plugin ----------------------------------------------- */

static void call_work(void *arg)
{
    call *c = arg;
    c->run(c);
    if (c->self_free) {
        free(c);
        return;
    }
    driver_lock(c->d);
    c->returned = 1;
    driver_unlock(c->d);
}

/* Run c on the plugin's thread: queued on the tutor thread, or now. */
static void dispatch(call *c)
{
    if (!c->d->blocking) {
        call_work(c);
        return;
    }
    if (workers_submit(c->d->thread, call_work, NULL, c) < 0) {
        fputs("lms-plugin-check: cannot queue a call on the tutor thread\n",
              stderr);
        exit(2);
    }
}

static void run_loop_for(tutor_driver *d, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    event_base_loopexit(d->env->base, &tv);
    event_base_dispatch(d->env->base);
}

/* Wait for a call that the caller owns; 0 and d->stuck when it does not
 * return by until_ms (then c stays allocated: the plugin still runs it). */
static int wait_call(tutor_driver *d, call *c, int64_t until_ms)
{
    for (;;) {
        driver_lock(d);
        int done = c->returned;
        driver_unlock(d);
        if (done)
            return 1;
        int64_t now = check_now_ms();
        if (now >= until_ms) {
            d->stuck = 1;
            return 0;
        }
        run_loop_for(d, until_ms - now < 2 ? until_ms - now : 2);
    }
}

static void run_ask(call *c)
{
    ask_rec *r = c->rec;
    tutor_driver *d = c->d;
    lms_err_clear(&c->err);
    int64_t t0 = check_now_ms();
    int rc = d->ops->ask(d->inst, r->q, r->reply, &c->err);
    int64_t t1 = check_now_ms();
    driver_lock(d);
    memset(r->q, 0, r->q_size); /* a plugin that kept a pointer sees zeros */
    free(r->q);
    r->q = NULL;
    r->ask_returned = 1;
    r->ask_rc = rc;
    r->ask_ms = t1 - t0;
    if (rc != LMS_OK)
        r->ended_wall = check_wall_ms();
    snprintf(r->ask_msg, sizeof r->ask_msg, "%s", c->err.msg);
    if (r->reply->chunk)
        r->reply->chunk = trap_chunk;
    r->reply->done = trap_done;
    driver_unlock(d);
}

static void run_cancel(call *c)
{
    driver_lock(c->d);
    if (c->rec->cancels++ == 0)
        c->rec->done_before_cancel = c->rec->done_count > 0;
    driver_unlock(c->d);
    c->d->ops->cancel(c->d->inst, c->rec);
}

static void run_learn(call *c)
{
    lms_err_clear(&c->err);
    c->rc = c->d->ops->learn(c->d->inst, c->doc, &c->err);
}

static void run_shutdown(call *c)
{
    c->d->ops->shutdown(c->d->inst);
}

/* ---- the API ------------------------------------------------------------- */

tutor_driver *driver_new(check_env *env, const struct lms_tutor_ops *ops)
{
    tutor_driver *d = xcalloc(1, sizeof *d);
    d->env = env;
    d->ops = ops;
    d->blocking = (ops->flags & LMS_TUTOR_BLOCKING) != 0;
    d->loop_thread = pthread_self();
    pthread_mutex_init(&d->mu, NULL);
    if (d->blocking && !(d->thread = workers_start(env->base, "tutor", 1, 0))) {
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

int driver_init(tutor_driver *d, lms_err *err)
{
    lms_err_clear(err);
    return d->ops->init(plugin_host(), &d->env->ctx, &d->inst, err);
}

/* Run a call the caller waits for; its status, or -1 when stuck. */
static int call_sync(tutor_driver *d, void (*run)(call *),
                     const lms_tutor_doc *doc, int64_t limit_ms, lms_err *err)
{
    call *c = xcalloc(1, sizeof *c);
    c->d = d;
    c->run = run;
    c->doc = doc;
    dispatch(c);
    if (!wait_call(d, c, check_now_ms() + limit_ms))
        return -1;
    int rc = c->rc;
    if (err)
        *err = c->err;
    free(c);
    return rc;
}

int driver_learn(tutor_driver *d, const lms_tutor_doc *doc, int64_t limit_ms,
                 lms_err *err)
{
    return call_sync(d, run_learn, doc, limit_ms, err);
}

int driver_shutdown(tutor_driver *d, int64_t limit_ms)
{
    return call_sync(d, run_shutdown, NULL, limit_ms, NULL) < 0 ? -1 : 0;
}

ask_rec *driver_ask(tutor_driver *d, const char *label,
                    const lms_tutor_question *q, int without_chunk)
{
    ask_rec *r = xcalloc(1, sizeof *r);
    r->label = label;
    r->drv = d;
    r->q = question_dup(q, &r->q_size);
    r->deadline_ms = q->deadline_ms;
    r->reply = xcalloc(1, sizeof *r->reply);
    r->reply->arg = r;
    r->reply->chunk = without_chunk ? NULL : on_chunk;
    r->reply->done = on_done;
    r->started = check_now_ms();
    driver_lock(d);
    r->next = d->asks;
    d->asks = r;
    driver_unlock(d);
    call *c = xcalloc(1, sizeof *c);
    c->d = d;
    c->run = run_ask;
    c->rec = r;
    c->self_free = 1;
    dispatch(c);
    return r;
}

void driver_cancel(tutor_driver *d, ask_rec *r)
{
    call *c = xcalloc(1, sizeof *c);
    c->d = d;
    c->run = run_cancel;
    c->rec = r;
    c->self_free = 1;
    dispatch(c);
}

static int settled(const ask_rec *r)
{
    return r->ask_returned && (r->ask_rc != LMS_OK || r->done_count > 0);
}

int driver_wait(tutor_driver *d, ask_rec *const *recs, size_t n,
                int64_t until_ms)
{
    for (;;) {
        size_t ok = 0, returned = 0;
        driver_lock(d);
        for (size_t i = 0; i < n; i++) {
            ok += settled(recs[i]);
            returned += recs[i]->ask_returned;
        }
        driver_unlock(d);
        if (ok == n)
            return 1;
        int64_t now = check_now_ms();
        if (now >= until_ms) {
            if (d->blocking && returned < n)
                d->stuck = 1; /* ask() itself has not returned */
            return 0;
        }
        run_loop_for(d, until_ms - now < 2 ? until_ms - now : 2);
    }
}

void driver_settle(tutor_driver *d, int64_t ms)
{
    run_loop_for(d, ms);
}

void driver_free(tutor_driver *d)
{
    if (!d)
        return;
    workers_free(d->thread);
    while (d->asks) {
        ask_rec *r = d->asks;
        d->asks = r->next;
        free(r->q);
        free(r->reply);
        free(r->text);
        free(r->model);
        free(r->chunks);
        free(r);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

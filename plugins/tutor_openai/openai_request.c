/* SPDX-License-Identifier: MIT */
/*
 * openai_request.c: the life of one question, from ask() to its done().
 *
 *   ask ──> waiting ──wake──> attempt (a curl transfer) ──ended──> answer
 *              ^                                    │
 *              └──── backoff or Retry-After ────────┘ (retryable failure)
 *
 * Two events per request: `wake` starts the next attempt (at once for the
 * first, after the backoff for a retry) and also delivers a cancel; `timer`
 * is the question's deadline, which cuts through everything. done() is
 * always called from one of our libevent callbacks (or from shutdown),
 * never from inside ask(), cancel() or a curl callback, so the host may
 * ask again or cancel from inside its callbacks.
 *
 * A streamed answer goes to reply->chunk as each delta arrives; once a
 * piece has reached the student nothing is retried, since a second attempt
 * would tell a different story.
 */
#include "openai.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MSG_BROKEN "the tutor sent a broken answer"
#define MSG_LATE                                                               \
    "the tutor did not answer in time; try again later or ask your instructor"

enum { MODE_UNDECIDED, MODE_BUFFER, MODE_SSE };

struct oai_request {
    oai_instance *in;
    oai_request *prev, *next;
    lms_tutor_reply reply;
    char *body; /* the request JSON */
    size_t body_len;
    int64_t deadline;    /* monotonic ms; INT64_MAX: none */
    struct event *wake;  /* next attempt, or deliver a cancel */
    struct event *timer; /* the deadline */
    int attempts;        /* started so far */
    int cancelled;
    int delivered; /* chunk() was called */
    /* the current attempt */
    CURL *easy;
    int capped; /* its timeout was cut to the deadline */
    int mode;
    oai_buf got;   /* a buffered response body */
    oai_sse sse;   /* or a stream */
    int sse_done;  /* data: [DONE] arrived */
    oai_answer ans;
    int fail;            /* the body callback gave up with this status */
    const char *fail_msg;
    char errbuf[CURL_ERROR_SIZE];
};

static int64_t wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_ms(int64_t ms)
{
    if (ms < 0)
        ms = 0;
    return (struct timeval){(time_t)(ms / 1000),
                            (suseconds_t)(ms % 1000) * 1000};
}

/* ---- ending a request ------------------------------------------------- */

static void attempt_clear(oai_request *r)
{
    oai_buf_free(&r->got);
    oai_sse_free(&r->sse);
    oai_answer_free(&r->ans);
    r->mode = MODE_UNDECIDED;
    r->sse_done = 0;
    r->fail = 0;
    r->fail_msg = NULL;
    r->errbuf[0] = '\0';
}

static void transfer_stop(oai_request *r)
{
    if (!r->easy)
        return;
    oai_http_remove(r->in, r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
}

/* Take r out of everything that could call back into it. */
static void detach(oai_request *r)
{
    oai_instance *in = r->in;
    transfer_stop(r);
    if (r->wake)
        event_free(r->wake);
    if (r->timer)
        event_free(r->timer);
    r->wake = r->timer = NULL;
    if (r->prev)
        r->prev->next = r->next;
    else if (in->requests == r)
        in->requests = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void request_free(oai_request *r)
{
    attempt_clear(r);
    free(r->body);
    free(r);
}

/* Call done() exactly once and free r; status LMS_OK delivers r->ans. */
static void finish(oai_request *r, int status, const char *msg)
{
    oai_instance *in = r->in;
    lms_tutor_reply reply = r->reply;
    detach(r);
    if (status == LMS_OK) {
        lms_tutor_answer a = {
            .text = r->ans.text.p ? r->ans.text.p : "",
            .model = r->ans.model ? r->ans.model : in->opt.model,
            .prompt_tokens = r->ans.prompt_tokens,
            .completion_tokens = r->ans.completion_tokens,
        };
        oai_log(in, LMS_LOG_DEBUG, "answered by %s in %d attempt(s): %u+%u "
                "tokens", a.model, r->attempts, a.prompt_tokens,
                a.completion_tokens);
        reply.done(reply.arg, LMS_OK, &a, NULL);
    } else {
        lms_err err;
        lms_err_set(&err, status, "%s", msg);
        oai_redact(err.msg, in->opt.api_key);
        reply.done(reply.arg, status, NULL, &err);
    }
    request_free(r); /* in may be gone by now (done may shut it down) */
}

/* ---- the response body ------------------------------------------------ */

/* Stop the transfer from inside a curl callback; ended() reports it. */
static int give_up(oai_request *r, int status, const char *msg)
{
    if (!r->fail) {
        r->fail = status;
        r->fail_msg = msg;
    }
    return 1;
}

/* One SSE event: a chunk, or [DONE]. Non-zero stops the stream. */
static int on_event(void *arg, const char *data, size_t len)
{
    oai_request *r = arg;
    if (r->sse_done || r->cancelled)
        return r->cancelled;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        r->sse_done = 1;
        return 0;
    }
    size_t before = r->ans.text.len;
    switch (oai_json_chunk(data, len, &r->ans)) {
    case OAI_CHUNK_OK:
        break;
    case OAI_CHUNK_ERROR:
        return give_up(r, LMS_UNAVAILABLE,
                       "the tutor's provider failed while answering; try "
                       "again later or ask your instructor");
    case OAI_CHUNK_TOO_LONG:
        return give_up(r, LMS_INTERNAL, "the tutor's answer was too long");
    default:
        return give_up(r, LMS_INTERNAL, MSG_BROKEN);
    }
    if (r->ans.text.len > before && r->reply.chunk) {
        r->delivered = 1;
        r->reply.chunk(r->reply.arg, r->ans.text.p + before,
                       r->ans.text.len - before);
    }
    return r->cancelled;
}

/* Stream only a 200 that says it is one; buffer everything else (error
 * bodies, and servers that answer a stream request with plain JSON). */
static int decide_mode(oai_request *r)
{
    long http = 0;
    char *type = NULL;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &type);
    if (http == 200 && type && strncasecmp(type, "text/event-stream", 17) == 0)
        return MODE_SSE;
    return MODE_BUFFER;
}

/* CURLOPT_WRITEFUNCTION. Returning less than n aborts the transfer. */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    oai_request *r = arg;
    n *= size;
    if (r->cancelled || r->fail)
        return 0;
    if (r->mode == MODE_UNDECIDED)
        r->mode = decide_mode(r);
    if (r->mode == MODE_SSE) {
        if (oai_sse_feed(&r->sse, p, n, on_event, r) < 0)
            give_up(r, LMS_INTERNAL, MSG_BROKEN);
    } else if (oai_buf_add(&r->got, p, n, OAI_MAX_BODY) < 0) {
        give_up(r, LMS_INTERNAL, MSG_BROKEN);
    }
    return r->cancelled || r->fail ? 0 : n;
}

/* ---- attempts --------------------------------------------------------- */

static CURLcode setup(oai_request *r, CURL *e, int64_t timeout_ms)
{
    const oai_options *o = &r->in->opt;
    CURLcode c;
#define SET(opt, val)                                                          \
    do {                                                                       \
        if ((c = curl_easy_setopt(e, opt, val)) != CURLE_OK)                   \
            return c;                                                          \
    } while (0)
    SET(CURLOPT_URL, o->url);
    SET(CURLOPT_HTTPHEADER, r->in->headers);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    SET(CURLOPT_POSTFIELDS, r->body);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_PRIVATE, r);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SET(CURLOPT_USERAGENT, "lms-tutor_openai/0.1");
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#endif
#undef SET
    return CURLE_OK;
}

/* Start the next attempt, its timeout cut to what is left of the deadline. */
static void attempt(oai_request *r)
{
    int64_t left = r->deadline - oai_now_ms();
    if (left <= 0) {
        finish(r, LMS_DEADLINE_EXCEEDED, MSG_LATE);
        return;
    }
    int64_t t = r->in->opt.timeout_ms;
    r->capped = left < t;
    attempt_clear(r);
    r->easy = curl_easy_init();
    if (!r->easy || setup(r, r->easy, r->capped ? left : t) != CURLE_OK ||
        oai_http_add(r->in, r->easy) < 0) {
        if (r->easy)
            curl_easy_cleanup(r->easy);
        r->easy = NULL;
        finish(r, LMS_UNAVAILABLE,
               "the tutor could not send the question; ask your instructor");
        return;
    }
    r->attempts++;
}

static void on_wake(evutil_socket_t fd, short events, void *arg)
{
    oai_request *r = arg;
    oai_instance *in = r->in;
    oai_enter(in);
    if (r->cancelled)
        finish(r, LMS_CANCELLED, "the question was cancelled");
    else
        attempt(r);
    oai_leave(in);
}

static void on_deadline(evutil_socket_t fd, short events, void *arg)
{
    oai_request *r = arg;
    oai_instance *in = r->in;
    oai_enter(in);
    oai_log(in, LMS_LOG_WARN, "no answer before the question's deadline "
            "(%d attempt(s))", r->attempts);
    finish(r, LMS_DEADLINE_EXCEEDED, MSG_LATE);
    oai_leave(in);
}

/* ---- the end of an attempt ------------------------------------------- */

/* A 200: the answer, or why there is none. */
static void answered(oai_request *r)
{
    if (r->mode == MODE_SSE) {
        if (oai_sse_end(&r->sse, on_event, r) < 0)
            give_up(r, LMS_INTERNAL, MSG_BROKEN);
        if (r->cancelled)
            finish(r, LMS_CANCELLED, "the question was cancelled");
        else if (r->fail)
            finish(r, r->fail, r->fail_msg);
        else if (!r->sse_done && !r->ans.finished)
            finish(r, r->delivered ? LMS_UNAVAILABLE : LMS_INTERNAL,
                   r->delivered ? "the tutor's answer was cut off; try again "
                                  "later or ask your instructor"
                                : MSG_BROKEN);
        else
            finish(r, LMS_OK, NULL);
    } else if (!r->got.p || oai_json_response(r->got.p, r->got.len, &r->ans)) {
        finish(r, LMS_INTERNAL, MSG_BROKEN);
    } else {
        finish(r, LMS_OK, NULL);
    }
}

/* Why the attempt failed, for the log: never the body, never the key. */
static void describe(const oai_request *r, CURLcode res, long http,
                     const oai_api_error *e, char *buf, size_t size)
{
    if (http >= 300 || (res == CURLE_OK && http))
        snprintf(buf, size, "HTTP %ld%s%s%s%s", http, e->code[0] ? " " : "",
                 e->code, e->message[0] ? ": " : "", e->message);
    else
        snprintf(buf, size, "%s", r->errbuf[0] ? r->errbuf
                                               : curl_easy_strerror(res));
}

/* Retry after a backoff (or the server's Retry-After), or give up. */
static void failed(oai_request *r, CURLcode res, long http, int64_t after_ms)
{
    oai_instance *in = r->in;
    oai_api_error e;
    oai_verdict v;
    char why[400];
    oai_json_error(r->got.p, r->got.len, &e);
    oai_judge(res, http, &e, r->delivered, &v);
    describe(r, res, http, &e, why, sizeof why);
    if (res == CURLE_OPERATION_TIMEDOUT && r->capped && !r->delivered) {
        oai_log(in, LMS_LOG_WARN, "attempt %d: %s (the deadline)", r->attempts,
                why);
        finish(r, LMS_DEADLINE_EXCEEDED, MSG_LATE);
        return;
    }
    int64_t wait = after_ms > 0 ? after_ms
                                : oai_backoff_ms(r->attempts,
                                                 in->opt.backoff_base_ms,
                                                 in->opt.backoff_max_ms,
                                                 &in->rng);
    const char *stop = NULL;
    if (!v.retryable)
        stop = "";
    else if (r->attempts > in->opt.retries)
        stop = "; no retries left";
    else if (oai_now_ms() + wait >= r->deadline)
        stop = "; no time left for a retry";
    if (!stop) {
        oai_log(in, LMS_LOG_WARN, "attempt %d: %s; retrying in %lld ms",
                r->attempts, why, (long long)wait);
        struct timeval tv = tv_ms(wait);
        evtimer_add(r->wake, &tv);
        return;
    }
    oai_log(in, LMS_LOG_WARN, "attempt %d: %s%s", r->attempts, why, stop);
    finish(r, v.status, v.msg);
}

void oai_request_ended(CURL *easy, CURLcode res)
{
    oai_request *r = NULL;
    long http = 0;
    curl_off_t after = 0;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &after);
    if (!r)
        return;
    transfer_stop(r);
    if (r->cancelled)
        finish(r, LMS_CANCELLED, "the question was cancelled");
    else if (r->fail)
        finish(r, r->fail, r->fail_msg);
    else if (res == CURLE_OK && http == 200)
        answered(r);
    else
        failed(r, res, http,
               after <= 0 ? 0 : (after < 86400 ? after : 86400) * 1000);
}

/* ---- ask and cancel --------------------------------------------------- */

/* A new request for q, linked in, its first attempt due at once; left is
 * the time to its deadline (-1: none). */
static int request_new(oai_instance *in, const lms_tutor_question *q,
                       const lms_tutor_reply *reply, int64_t left,
                       lms_err *err)
{
    size_t len;
    char *body;
    int rc = oai_json_request(&in->opt, q, &body, &len, err);
    if (rc != LMS_OK)
        return rc;
    oai_request *r = calloc(1, sizeof *r);
    if (!r) {
        free(body);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "tutor_openai: out of memory");
    }
    *r = (oai_request){.in = in, .reply = *reply, .body = body,
                       .body_len = len};
    r->deadline = left < 0 ? INT64_MAX : oai_now_ms() + left;
    r->wake = evtimer_new(in->base, on_wake, r);
    r->timer = evtimer_new(in->base, on_deadline, r);
    struct timeval now = {0, 0}, until = tv_ms(left);
    if (!r->wake || !r->timer || evtimer_add(r->wake, &now) < 0 ||
        (left >= 0 && evtimer_add(r->timer, &until) < 0)) {
        detach(r);
        request_free(r);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "tutor_openai: cannot schedule the question");
    }
    r->next = in->requests;
    if (r->next)
        r->next->prev = r;
    in->requests = r;
    return LMS_OK;
}

int oai_request_start(oai_instance *in, const lms_tutor_question *q,
                      const lms_tutor_reply *reply, lms_err *err)
{
    if (!q || !q->question || !reply || !reply->done)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "tutor_openai: ask() needs a question and a "
                           "done callback");
    if (q->question[strspn(q->question, " \t\r\n")] == '\0')
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "the question is empty; type a question for the "
                           "tutor");
    if (in->dying)
        return lms_err_set(err, LMS_UNAVAILABLE,
                           "the tutor is shutting down; ask again soon");
    int64_t left = -1; /* no deadline */
    if (q->deadline_ms > 0) {
        left = q->deadline_ms - wall_now_ms();
        if (left <= 0)
            return lms_err_set(err, LMS_DEADLINE_EXCEEDED, MSG_LATE);
    }
    return request_new(in, q, reply, left, err);
}

void oai_request_cancel(oai_instance *in, void *arg)
{
    for (oai_request *r = in->requests; r; r = r->next)
        if (r->reply.arg == arg && !r->cancelled) {
            static const struct timeval now = {0, 0};
            r->cancelled = 1;
            evtimer_add(r->wake, &now);
            return;
        }
}

void oai_request_cancel_all(oai_instance *in)
{
    while (in->requests)
        finish(in->requests, LMS_CANCELLED,
               "the tutor was stopped (lmsd is reloading or shutting down); "
               "please ask again");
}

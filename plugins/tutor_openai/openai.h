/* SPDX-License-Identifier: MIT */
/*
 * openai.h: what the files of tutor_openai share. Nothing here is exported
 * from the .so (the build hides every symbol but lms_plugin_entry).
 *
 * The plugin is split by concern:
 *   openai.c          the descriptor, init/shutdown, ask/cancel
 *   openai_options.c  reading and checking the options
 *   openai_request.c  one question's life: attempts, retries, the answer
 *   openai_http.c     libcurl's multi interface driven by libevent
 *   openai_json.c     the request body and the responses (json-c)
 *   openai_sse.c      server-sent events framing, and a growable buffer
 *   openai_policy.c   what a failed attempt means: retry? which status?
 *
 * Everything runs on the host's loop thread; there are no locks.
 */
#ifndef LMS_TUTOR_OPENAI_H
#define LMS_TUTOR_OPENAI_H

#include <curl/curl.h>
#include <lms/tutor.h>
#include <stdint.h>

struct event;
struct event_base;

/* Upper bounds on what a provider can make us hold in memory. */
#define OAI_MAX_BODY (4u << 20)   /* a buffered (non-streamed) response */
#define OAI_MAX_LINE (1u << 20)   /* one SSE line or event */
#define OAI_MAX_ANSWER (1u << 20) /* the answer's text */

/* ---- openai_sse.c: buffers and SSE framing ----------------------------- */

/* A growable byte buffer, always NUL-terminated once non-empty. */
typedef struct oai_buf {
    char *p;
    size_t len, cap;
} oai_buf;

/* Append n bytes; -1 (buffer unchanged) when len would pass max or on OOM. */
int oai_buf_add(oai_buf *b, const void *data, size_t n, size_t max);
void oai_buf_free(oai_buf *b);

/* Called with each event's data (the "data:" lines joined by '\n').
 * Returning non-zero stops the parser, which returns that value. */
typedef int (*oai_sse_fn)(void *arg, const char *data, size_t len);

typedef struct oai_sse {
    oai_buf line;  /* the line being read */
    oai_buf data;  /* the event being assembled */
    int has_data;  /* a data: field was seen since the last dispatch */
    int after_cr;  /* the last byte was '\r': skip a following '\n' */
} oai_sse;

/* Feed n bytes of the stream (any split). 0, fn's non-zero value, or -1
 * when a line or an event exceeds OAI_MAX_LINE. */
int oai_sse_feed(oai_sse *s, const char *p, size_t n, oai_sse_fn fn, void *arg);
/* End of stream: dispatch an event left without its blank line. */
int oai_sse_end(oai_sse *s, oai_sse_fn fn, void *arg);
void oai_sse_free(oai_sse *s); /* also makes s ready for a new stream */

/* ---- openai_options.c ------------------------------------------------- */

typedef struct oai_options {
    char *url;                    /* base_url + "/chat/completions" */
    const char *model;
    char *api_key;                /* NULL: no Authorization header */
    long long max_tokens;
    const char *max_tokens_field; /* "max_completion_tokens" or "max_tokens" */
    char temperature[32];         /* as JSON will show it; "": unset */
    int64_t connect_timeout_ms, timeout_ms;
    int64_t backoff_base_ms, backoff_max_ms;
    int retries;                  /* retries after the first attempt */
    int stream;
} oai_options;

/* Read the options from the plugin's config subtree (and the API key from
 * the environment). On error err names the option; never the key. */
int oai_options_read(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                     oai_options *o, lms_err *err);
void oai_options_free(oai_options *o); /* wipes the key */

/* ---- openai_json.c ---------------------------------------------------- */

/* What the provider has told us so far about one answer. */
typedef struct oai_answer {
    oai_buf text;
    char *model; /* NULL until the provider names it */
    uint32_t prompt_tokens, completion_tokens;
    int finished; /* a finish_reason arrived */
} oai_answer;

void oai_answer_free(oai_answer *a); /* also resets it for reuse */

/* The request body for q into *body (malloc'd, NUL-terminated) and *len.
 * LMS_OK, LMS_INVALID_ARGUMENT (a bad history turn) or
 * LMS_RESOURCE_EXHAUSTED, with err set. */
int oai_json_request(const oai_options *o, const lms_tutor_question *q,
                     char **body, size_t *len, lms_err *err);

/* A whole (non-streamed) response into a. 0, or -1 when it is not a chat
 * completion we can read. */
int oai_json_response(const char *body, size_t len, oai_answer *a);

enum oai_chunk_result {
    OAI_CHUNK_OK = 0,
    OAI_CHUNK_BROKEN = -1,   /* not JSON, or not shaped like a chunk */
    OAI_CHUNK_ERROR = -2,    /* the provider reported an error in-stream */
    OAI_CHUNK_TOO_LONG = -3, /* the answer passed OAI_MAX_ANSWER */
};

/* One streamed chunk: appends its delta to a->text, notes model, usage and
 * finish_reason. */
int oai_json_chunk(const char *data, size_t len, oai_answer *a);

/* The "error" object of an error response; empty strings when absent. */
typedef struct oai_api_error {
    char code[64];
    char type[64];
    char message[200];
} oai_api_error;

void oai_json_error(const char *body, size_t len, oai_api_error *e);

/* ---- openai_policy.c -------------------------------------------------- */

/* What to do about an attempt that did not produce an answer. */
typedef struct oai_verdict {
    int status;    /* the lms status if we stop here */
    int retryable; /* another attempt may succeed */
    char msg[300]; /* for the student; never holds a secret */
} oai_verdict;

/* Judge an attempt from curl's result, the HTTP status (0 if none), the
 * error object of the body and whether any text reached the student. */
void oai_judge(CURLcode res, long http, const oai_api_error *e, int delivered,
               oai_verdict *v);

/* Exponential backoff with full jitter before retry number n (1-based):
 * uniform in [0, min(max, base * 2^(n-1))]. */
int64_t oai_backoff_ms(int n, int64_t base, int64_t max, uint64_t *rng);

/* Overwrite every occurrence of secret in s with '*'. */
void oai_redact(char *s, const char *secret);

/* Whether base_url is plain http:// to a host other than loopback
 * (127.0.0.0/8, [::1], localhost): the key and the students' questions
 * would cross the network in the clear. */
int oai_url_insecure(const char *base_url);

/* ---- openai.c: the instance ------------------------------------------ */

struct oai_socket;
struct oai_request;

typedef struct oai_instance {
    const struct lms_host *host;
    struct lms_plugin_ctx *ctx;
    struct event_base *base;
    oai_options opt;
    struct curl_slist *headers;  /* shared by every attempt; holds the key */
    CURLM *multi;
    struct event *curl_timer;    /* CURLMOPT_TIMERFUNCTION's timer */
    struct oai_socket *sockets;  /* sockets curl asked us to watch */
    struct oai_request *requests; /* in flight */
    uint64_t rng;
    int depth; /* nesting of our libevent callbacks (oai_enter/oai_leave) */
    int dying; /* shutdown ran inside a callback: free on the way out */
} oai_instance;

/* Log one line through the host with the API key masked. */
void oai_log(oai_instance *in, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Bracket every libevent callback: shutdown() called from inside one (by a
 * done() callback) defers freeing the instance to the outermost oai_leave. */
void oai_enter(oai_instance *in);
void oai_leave(oai_instance *in);

int64_t oai_now_ms(void); /* monotonic clock */

/* ---- openai_http.c ---------------------------------------------------- */

int oai_http_init(oai_instance *in, lms_err *err);
void oai_http_free(oai_instance *in); /* no transfer may be left */
/* Start/abandon a transfer; its end is reported to oai_request_ended. */
int oai_http_add(oai_instance *in, CURL *easy);
void oai_http_remove(oai_instance *in, CURL *easy);

/* ---- openai_request.c ------------------------------------------------- */

typedef struct oai_request oai_request;

/* Start answering q (ask's contract in tutor.h). */
int oai_request_start(oai_instance *in, const lms_tutor_question *q,
                      const lms_tutor_reply *reply, lms_err *err);
/* Abandon the request whose reply->arg is arg; done() follows from the
 * loop with LMS_CANCELLED. Unknown args are ignored. */
void oai_request_cancel(oai_instance *in, void *arg);
/* Finish every request at once with LMS_CANCELLED (shutdown). */
void oai_request_cancel_all(oai_instance *in);
/* curl finished easy's transfer with res (called by openai_http.c). */
void oai_request_ended(CURL *easy, CURLcode res);

#endif

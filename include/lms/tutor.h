/* SPDX-License-Identifier: MIT */
/*
 * tutor.h: LLM tutor plugins (kind LMS_PLUGIN_TUTOR).
 *
 * A student asks a question in a course; lmsd hands it to the configured
 * tutor plugin together with the course's system prompt, waits for the
 * answer (streamed piece by piece if the plugin can), records the exchange
 * as a replicated command and answers the student.
 *
 * Two kinds of plugins:
 *
 *  - asynchronous (flags without LMS_TUTOR_BLOCKING): every call runs on
 *    lmsd's event loop thread. ask() must return at once and finish later
 *    from the loop (timers, sockets, libcurl's multi interface driven by
 *    host->event_base()). Never block: the loop serves every client.
 *
 *  - blocking (LMS_TUTOR_BLOCKING): every call (init aside) runs on one
 *    dedicated tutor thread, one call at a time, so the plugin needs no
 *    locking; ask() may compute the answer before returning and call done
 *    from inside ask(). lmsd moves the results back to the loop.
 *
 * Either way, done() is called exactly once per ask() that returned LMS_OK,
 * and never for one that returned an error. chunk() is optional and only
 * valid before done(). Strings handed to the plugin are valid only during
 * the call that receives them; copy what you keep. Strings the plugin hands
 * to chunk()/done() need only live until that call returns.
 *
 * Errors (done's status, or ask's return): LMS_UNAVAILABLE (provider down,
 * connection failed, 5xx after retries), LMS_RESOURCE_EXHAUSTED (rate
 * limited, quota exhausted), LMS_DEADLINE_EXCEEDED (no answer before the
 * deadline), LMS_PERMISSION_DENIED (the provider refused our credentials),
 * LMS_INVALID_ARGUMENT (the provider refused the request), LMS_INTERNAL
 * (a broken answer), LMS_CANCELLED (cancel() was called). err->msg says
 * what happened in words a student can be shown; never put secrets in it.
 */
#ifndef LMS_TUTOR_H
#define LMS_TUTOR_H

#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

enum lms_tutor_flags {
    LMS_TUTOR_BLOCKING = 1u << 0, /* run on the tutor thread, see above */
    LMS_TUTOR_STREAMS = 1u << 1,  /* calls chunk() as the answer arrives */
};

/* One earlier turn of the conversation, oldest first. */
typedef struct lms_tutor_turn {
    const char *role; /* "user" or "assistant" */
    const char *content;
} lms_tutor_turn;

typedef struct lms_tutor_question {
    const char *course;        /* course code */
    const char *student;       /* the asking user's name */
    const char *system_prompt; /* the course's prompt (never NULL) */
    const char *question;      /* the student's text (never NULL) */
    const lms_tutor_turn *history;
    size_t n_history;
    int64_t deadline_ms; /* wall clock (ms since the epoch) by which done() is due */
} lms_tutor_question;

/* Where part of an answer came from (tutor_local cites its sources). */
typedef struct lms_tutor_source {
    const char *kind; /* "material" or "reply" */
    uint64_t id;      /* material id or query id */
    const char *title;
    const char *passage;
} lms_tutor_source;

typedef struct lms_tutor_answer {
    const char *text;  /* the whole answer */
    const char *model; /* the model that answered ("" if none) */
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
    const lms_tutor_source *sources;
    size_t n_sources;
} lms_tutor_answer;

/* The host's side of one ask(). */
typedef struct lms_tutor_reply {
    void *arg;
    /* Optional: the next piece of the answer. */
    void (*chunk)(void *arg, const char *text, size_t len);
    /* Required, exactly once: answer is non-NULL iff status == LMS_OK. */
    void (*done)(void *arg, int status, const lms_tutor_answer *answer,
                 const lms_err *err);
} lms_tutor_reply;

/* A course document a tutor may learn from: a material's text or the
 * instructors' replies to a question they shared with the course (a
 * question to the instructors is private until then: a tutor never sees
 * it, nor the name of the student who asked).
 *
 * learn() of a (kind, id) learned before replaces it. A document with
 * len 0 withdraws it (an instructor unshared the question): the plugin
 * must forget everything it took from that (kind, id) and never quote it
 * again. */
typedef struct lms_tutor_doc {
    const char *course;
    const char *kind;     /* "material" or "reply" */
    uint64_t id;          /* material id, or the query id for a reply */
    const char *title;    /* material title or the question's title */
    const char *question; /* for a reply: the question it answers; else NULL */
    const char *text;     /* UTF-8 text (binary materials are not offered) */
    size_t len;
} lms_tutor_doc;

struct lms_tutor_ops {
    size_t size;    /* sizeof(struct lms_tutor_ops) */
    uint32_t flags; /* enum lms_tutor_flags */

    /* Required. Read options with host->config_*. Runs on the loop thread
     * before serving starts (or on SIGHUP reload). */
    int (*init)(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                void **inst, lms_err *err);
    /* Required. No ask() is outstanding when it is called. */
    void (*shutdown)(void *inst);
    /* Required. Start answering q; see the contract above. */
    int (*ask)(void *inst, const lms_tutor_question *q,
               const lms_tutor_reply *reply, lms_err *err);
    /* Optional. Abandon the ask() whose reply->arg is arg: done() is then
     * called (soon, possibly from inside cancel) with LMS_CANCELLED. */
    void (*cancel)(void *inst, void *arg);
    /* Optional. Called for every existing course document after init, then
     * for each new, changed or withdrawn (len 0) one as it is committed. */
    int (*learn)(void *inst, const lms_tutor_doc *doc, lms_err *err);
};

#ifdef __cplusplus
}
#endif
#endif /* LMS_TUTOR_H */

/* SPDX-License-Identifier: MIT */
/*
 * tutor_driver.h: drive a tutor plugin the way tutor.h says lmsd does, and
 * record everything it does with each ask().
 *
 * A blocking plugin (LMS_TUTOR_BLOCKING) gets every call but init on one
 * dedicated thread, one call at a time; an async plugin gets every call on
 * the thread that runs the libevent loop, and the driver runs that loop
 * while it waits. Either way the checks see the same thing: an ask_rec per
 * ask() that counts the callbacks and remembers the first answer, and the
 * first breach of the contract (a chunk after done, an answer with an error
 * status, a callback off the loop thread, a reply used after ask() returned).
 *
 * The driver copies each question into memory it wipes and frees as soon as
 * ask() returns, so a plugin that keeps pointers instead of copying fails
 * here (under valgrind or ASan, loudly) rather than later in lmsd.
 */
#ifndef LMS_TOOLS_TUTOR_DRIVER_H
#define LMS_TOOLS_TUTOR_DRIVER_H

#include "plugin_check.h"

#include <lms/tutor.h>

typedef struct tutor_driver tutor_driver;

/*
 * One ask() and what came of it. The fields below "results" are written by
 * the plugin's callbacks, possibly on another thread: read them between
 * driver_lock() and driver_unlock(). The first done() fixes status, text,
 * model, msg and done_ms; later calls only count.
 */
typedef struct ask_rec {
    const char *label; /* names the ask in messages */
    int64_t started;   /* check_now_ms() when ask() was called */
    /* ---- results ---- */
    int ask_returned;
    int ask_rc;
    char ask_msg[512];
    int64_t ask_ms; /* how long ask() took to return */
    int done_count;
    int done_inside_ask;    /* the first done() came before ask() returned */
    int cancels;            /* cancel() calls made */
    int done_before_cancel; /* done() had come when cancel() was first called */
    int status;
    char *text, *model; /* copies; NULL when done had no answer */
    size_t n_sources;
    char msg[512];   /* err->msg of an error done() */
    int64_t done_ms; /* since started */
    int64_t deadline_ms; /* the question's (wall clock) */
    int64_t ended_wall;  /* wall clock at the first done() or error return */
    char *chunks;    /* every chunk, concatenated */
    size_t chunks_len;
    int n_chunks;
    int n_problems;
    char problem[256]; /* the first breach of the contract */
    /* ---- for the checks: what they have already judged ---- */
    int seen_done, seen_problems;
    /* ---- private ---- */
    struct tutor_driver *drv;
    lms_tutor_question *q; /* the plugin's copy, freed when ask() returns */
    size_t q_size;
    lms_tutor_reply *reply;
    struct ask_rec *next;
} ask_rec;

tutor_driver *driver_new(check_env *env, const struct lms_tutor_ops *ops);
/* Shut nothing down (see driver_shutdown); stop the tutor thread and free
 * every ask_rec. Not when driver_stuck(): a thread is still in the plugin. */
void driver_free(tutor_driver *d);

int driver_is_blocking(const tutor_driver *d);
void driver_lock(tutor_driver *d);
void driver_unlock(tutor_driver *d);
/* A call into the plugin on the tutor thread has not returned in time: the
 * suite must stop, and the process exit without cleaning up. */
int driver_stuck(const tutor_driver *d);

/* init() on the loop thread. Returns its status. */
int driver_init(tutor_driver *d, lms_err *err);
/* learn(doc) on the plugin's thread, waiting up to limit_ms; returns its
 * status, or -1 when it did not return in time (driver_stuck()). */
int driver_learn(tutor_driver *d, const lms_tutor_doc *doc, int64_t limit_ms,
                 lms_err *err);
/* Start ask(q) on the plugin's thread (async: call it and return). The
 * reply gets a chunk callback unless without_chunk. Never NULL (exits when
 * out of memory). */
ask_rec *driver_ask(tutor_driver *d, const char *label,
                    const lms_tutor_question *q, int without_chunk);
/* cancel(r) on the plugin's thread, after everything queued before it. */
void driver_cancel(tutor_driver *d, ask_rec *r);
/* Run the loop until every ask in recs has settled (ask() returned an
 * error, or returned LMS_OK and done() came) or until the monotonic time
 * until_ms. 1 when all settled, 0 on time-out. */
int driver_wait(tutor_driver *d, ask_rec *const *recs, size_t n,
                int64_t until_ms);
/* Run the loop for ms, so late or repeated callbacks have a chance to come. */
void driver_settle(tutor_driver *d, int64_t ms);
/* shutdown() on the plugin's thread, waiting up to limit_ms. 0, or -1
 * when it did not return (driver_stuck()). */
int driver_shutdown(tutor_driver *d, int64_t limit_ms);
/* Every ask so far, newest first. */
ask_rec *driver_asks(tutor_driver *d);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * tutor.h: lmsd's tutor runtime. It owns the tutor plugin instance named
 * by the config's `tutor:` slot and runs students' questions on it:
 *
 *  - an asynchronous plugin runs on the loop; a blocking one
 *    (LMS_TUTOR_BLOCKING) on one dedicated tutor thread, one call at a
 *    time. Either way the pieces and the end of an answer come back to the
 *    loop through a mailbox, in order, never from inside tutor_rt_ask().
 *  - the plugin learns every course document (tutor_docs.h) before it
 *    answers anything, then each new one as it is applied.
 *  - tutor_rt_load() again (SIGHUP) loads and starts a new instance next to
 *    the current one, feeds it the documents, then swaps: questions in
 *    flight finish on the old instance, which is shut down after its last
 *    one. A load that fails leaves the current instance in place.
 *  - lmsd's own deadline bounds every question: the plugin is told it, and
 *    a watchdog answers DEADLINE_EXCEEDED shortly after it if the plugin
 *    has not; the watchdog also gives up on questions nobody waits for.
 *
 * Everything here runs on the loop thread except tutor_rt_applied() (the
 * storage thread).
 */
#ifndef LMS_CORE_TUTOR_H
#define LMS_CORE_TUTOR_H

#include "config.h"
#include "sm.h"

#include <lms/tutor.h>

struct event_base;
struct workers;
typedef struct tutor_rt tutor_rt;

typedef struct tutor_rt_options {
    struct event_base *base;
    struct workers *storage_thread; /* reads the documents */
    struct workers *pool;           /* the plugins' run_blocking() */
    const sm *m;                    /* the store, on the storage thread */
    int64_t deadline_ms;            /* lmsd's deadline for one question */
} tutor_rt_options;

/* How one question ended, handed to tutor_callbacks.done(). */
typedef struct tutor_result {
    int status;                     /* enum lms_status */
    const lms_tutor_answer *answer; /* status == LMS_OK */
    const char *message;            /* status != LMS_OK: for the student */
    const char *provider;           /* the plugin's name; NULL when no
                                     * plugin was asked */
    uint32_t latency_ms;
} tutor_result;

typedef struct tutor_callbacks {
    /* Optional: the next piece of a streamed answer. */
    void (*chunk)(void *arg, const char *text, size_t len);
    /* Exactly once per question that tutor_rt_ask() accepted. */
    void (*done)(void *arg, const tutor_result *res);
    /* Optional, polled: 0 when nobody waits for the answer any more (the
     * client went away); the question is then cancelled and done() called
     * with LMS_CANCELLED. */
    int (*wanted)(void *arg);
    void *arg;
} tutor_callbacks;

tutor_rt *tutor_rt_new(const tutor_rt_options *o);

/*
 * Start the tutor of cfg's `tutor:` slot: load the plugin and init it now,
 * then feed it the documents; it takes over from the current instance
 * when that is done. A config without the slot removes the tutor. With
 * owned, the runtime frees cfg once no instance uses it (also on error).
 * On error the current instance stays and err says why in one line.
 */
int tutor_rt_load(tutor_rt *t, lms_config *cfg, int owned, lms_err *err);

/*
 * Ask the serving instance q (copied; deadline_ms is set here). LMS_OK:
 * cb->done() follows, later, exactly once. Else no callback:
 * LMS_FAILED_PRECONDITION (no tutor configured), LMS_UNAVAILABLE (the
 * tutor is still starting, or lmsd is stopping), LMS_RESOURCE_EXHAUSTED.
 */
int tutor_rt_ask(tutor_rt *t, const lms_tutor_question *q,
                 const tutor_callbacks *cb, lms_err *err);

/* lmsd's deadline for the questions asked from now on (a reload); those
 * in flight keep theirs. */
void tutor_rt_set_deadline(tutor_rt *t, int64_t deadline_ms);

/* Storage thread, after each applied command (node_options.on_applied):
 * pass on the documents it created or changed. */
void tutor_rt_applied(tutor_rt *t, uint64_t index, const Lms__Command *cmd,
                      const sm_result *res);

/* Stop: every waiting question is answered UNAVAILABLE, nothing new is
 * accepted, the instances are retired. */
void tutor_rt_stop(tutor_rt *t);
/* After the storage thread stopped: shut everything down and free. */
void tutor_rt_free(tutor_rt *t);

#endif

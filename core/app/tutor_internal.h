/* SPDX-License-Identifier: MIT */
/*
 * tutor_internal.h: what the two halves of the tutor runtime share:
 * tutor.c (instances, loading and swapping, documents, shutdown) and
 * tutor_call.c (the questions). Loop thread only, except where a field
 * says otherwise.
 */
#ifndef LMS_CORE_TUTOR_INTERNAL_H
#define LMS_CORE_TUTOR_INTERNAL_H

#include "mailbox.h"
#include "plugin_loader.h"
#include "tutor_runtime.h"
#include "workers.h"

#include <stdatomic.h>

typedef enum inst_state {
    INST_PREPARING, /* initialised, learning the documents */
    INST_SERVING,   /* answers new questions */
    INST_RETIRED,   /* finishes what it has, then is shut down */
} inst_state;

/* One plugin instance. It holds a reference for being serving or
 * preparing, and one per question or thread job that uses it; the last
 * one shuts it down. */
typedef struct tutor_inst {
    tutor_rt *rt;
    loaded_plugin pl;
    const struct lms_tutor_ops *ops;
    struct lms_plugin_ctx ctx;
    lms_config *cfg; /* its config tree: the plugin's option strings */
    int cfg_owned;
    void *inst;
    int refs;
    int blocking;
    int shut; /* shutdown() was called (forced, at exit) */
    inst_state state;
    size_t learned, unlearned; /* documents taken and refused */
    struct tutor_inst *next;   /* rt->all */
} tutor_inst;

typedef struct tutor_call tutor_call;

struct tutor_rt {
    tutor_rt_options o;
    mailbox *mb;
    workers *thread; /* the tutor thread, started for the first blocking plugin */
    tutor_inst *serving, *pending;
    tutor_inst *all;   /* every instance not yet freed */
    tutor_call *calls; /* questions in flight */
    atomic_int feeding; /* read by the storage thread: an instance learns */
    int stopping;
};

void tutor_inst_ref(tutor_inst *i);
void tutor_inst_unref(tutor_inst *i);
/* Run work(arg) on the tutor thread, then done(arg) on the loop; when the
 * thread is stopped (shutdown), both run here and now. */
void tutor_on_thread(tutor_rt *t, workers_fn work, workers_fn done, void *arg);

/* tutor_call.c */
/* Answer every waiting question with status and message, and cancel its
 * plugin work. */
void tutor_calls_abandon(tutor_rt *t, int status, const char *message);
/* Forget the questions of i without telling its plugin (forced exit). */
void tutor_calls_drop(tutor_rt *t, tutor_inst *i);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * tutor.c: the tutor runtime's instances (see tutor.h): loading and
 * starting a plugin instance, feeding it the course documents, swapping it
 * in, retiring the one it replaces, and the runtime's own start and stop.
 * The questions are in tutor_call.c.
 *
 * Documents travel in batches. A batch from the walk of every course is
 * for the one instance being prepared; a batch from an applied command is
 * for every live instance. Both are made on the storage thread and posted
 * to the same mailbox, so the loop sees them in the order of the log: a
 * document changed after the walk is learned after the walk's version of
 * it, by the new instance as by the old. A blocking instance learns on the
 * tutor thread, in the same order.
 */
#include "tutor_internal.h"

#include "lms_assert.h"
#include "log.h"
#include "tutor_docs.h"

#include <stdlib.h>
#include <string.h>

/* At most this many refused documents are logged per batch. */
#define LEARN_ERRORS_LOGGED 3

typedef struct doc_batch {
    tutor_rt *rt;
    tutor_inst *target; /* the walk's instance; NULL: every live one */
    tutor_doc_list list;
    int refs;
    int rc;
    lms_err err;
} doc_batch;

/* ---- instances ------------------------------------------------------ */

static const char *inst_name(const tutor_inst *i) { return i->pl.desc->name; }

void tutor_on_thread(tutor_rt *t, workers_fn work, workers_fn done, void *arg)
{
    if (t->thread && workers_submit(t->thread, work, done, arg) == 0)
        return;
    work(arg);
    if (done)
        done(arg);
}

static void inst_free(tutor_inst *i)
{
    tutor_rt *t = i->rt;
    for (tutor_inst **p = &t->all; *p; p = &(*p)->next)
        if (*p == i) {
            *p = i->next;
            break;
        }
    plugin_unload(&i->pl);
    if (i->cfg_owned)
        config_free(i->cfg);
    free(i);
}

static void shutdown_work(void *arg)
{
    tutor_inst *i = arg;
    i->ops->shutdown(i->inst);
}

static void shutdown_done(void *arg)
{
    tutor_inst *i = arg;
    log_info("tutor: %s shut down", inst_name(i));
    inst_free(i);
}

void tutor_inst_ref(tutor_inst *i) { i->refs++; }

/* The last reference shuts the instance down: a blocking one on its
 * thread, after whatever it still has queued there. */
void tutor_inst_unref(tutor_inst *i)
{
    if (--i->refs > 0)
        return;
    if (i->shut) {
        inst_free(i);
    } else if (i->blocking) {
        tutor_on_thread(i->rt, shutdown_work, shutdown_done, i);
    } else {
        shutdown_work(i);
        shutdown_done(i);
    }
}

static void update_feeding(tutor_rt *t)
{
    int f = (t->serving && t->serving->ops->learn) ||
            (t->pending && t->pending->ops->learn);
    atomic_store(&t->feeding, f);
}

/* Take i out of service; it goes when its last question is answered. */
static void retire(tutor_inst *i)
{
    tutor_rt *t = i->rt;
    if (i->state == INST_RETIRED)
        return;
    i->state = INST_RETIRED;
    if (t->serving == i)
        t->serving = NULL;
    if (t->pending == i)
        t->pending = NULL;
    update_feeding(t);
    tutor_inst_unref(i);
}

/* The prepared instance i has learned everything: it serves from now on. */
static void activate(tutor_inst *i)
{
    tutor_rt *t = i->rt;
    if (i != t->pending || t->stopping)
        return; /* superseded by a later load, or stopping: retired already */
    tutor_inst *old = t->serving;
    t->pending = NULL;
    t->serving = i;
    i->state = INST_SERVING;
    char learned[96] = "";
    if (i->ops->learn)
        snprintf(learned, sizeof learned, ", %zu course documents learned%s", i->learned,
                 i->unlearned ? " (some refused, see above)" : "");
    log_info("tutor: %s %s serving (%s%s%s%s)", inst_name(i), i->pl.desc->version,
             i->blocking ? "blocking, on the tutor thread" : "on the loop", learned,
             old ? "; replaces " : "", old ? inst_name(old) : "");
    if (old) {
        if (old->refs > 1)
            log_info("tutor: %s finishes what it has in flight, then shuts down",
                     inst_name(old));
        retire(old);
    }
    update_feeding(t);
}

/* ---- documents ------------------------------------------------------ */

static void batch_unref(doc_batch *b)
{
    if (--b->refs > 0)
        return;
    tutor_doc_list_free(&b->list);
    free(b);
}

/* Instance i learns a batch: on its thread, for a blocking one; the
 * counts are the job's until it is done, on the loop. */
typedef struct learn_job {
    tutor_inst *i;
    doc_batch *b;
    int activate;
    size_t learned, refused;
} learn_job;

static void learn_work(void *arg)
{
    learn_job *j = arg;
    for (tutor_doc_item *it = j->b->list.head; it; it = it->next) {
        lms_err err = {0};
        if (j->i->ops->learn(j->i->inst, &it->doc, &err) == LMS_OK) {
            j->learned++;
        } else if (++j->refused <= LEARN_ERRORS_LOGGED) {
            log_warn("tutor: %s did not learn %s %llu of %s: %s", inst_name(j->i),
                     it->doc.kind, (unsigned long long)it->doc.id, it->doc.course,
                     err.msg);
        }
    }
}

static void learn_done(void *arg)
{
    learn_job *j = arg;
    j->i->learned += j->learned;
    j->i->unlearned += j->refused;
    if (j->activate)
        activate(j->i);
    batch_unref(j->b);
    tutor_inst_unref(j->i);
    free(j);
}

/* Feed batch b to i; with activate, i serves once it has learned it. */
static void feed(tutor_inst *i, doc_batch *b, int activate_after)
{
    learn_job *j = calloc(1, sizeof *j);
    if (!j) {
        log_error("tutor: out of memory feeding %s its documents", inst_name(i));
        return;
    }
    *j = (learn_job){.i = i, .b = b, .activate = activate_after};
    tutor_inst_ref(i);
    b->refs++;
    if (!i->ops->learn) {
        learn_done(j);
        return;
    }
    if (i->blocking) {
        tutor_on_thread(i->rt, learn_work, learn_done, j);
    } else {
        learn_work(j);
        learn_done(j);
    }
}

/* Loop: a batch arrives from the storage thread. */
static void batch_arrived(void *arg)
{
    doc_batch *b = arg;
    tutor_rt *t = b->rt;
    if (b->rc != LMS_OK)
        log_error("tutor: cannot read the course documents: %s", b->err.msg);
    if (t->stopping) {
        /* nothing to feed */
    } else if (b->target) {
        if (b->target == t->pending)
            feed(b->target, b, 1);
    } else {
        tutor_inst *live[] = {t->serving, t->pending};
        for (size_t k = 0; k < 2; k++)
            if (live[k])
                feed(live[k], b, 0);
    }
    if (b->target)
        tutor_inst_unref(b->target);
    batch_unref(b);
}

static void post_batch(tutor_rt *t, doc_batch *b)
{
    if (mailbox_post(t->mb, batch_arrived, b) == 0)
        return;
    log_error("tutor: out of memory passing on %zu course documents", b->list.n);
    tutor_doc_list_free(&b->list);
    free(b); /* a walk's instance keeps its reference: it never serves */
}

/* Storage thread: every document, for the instance being prepared (none
 * for a plugin that does not learn; the batch still says it is ready). */
static void walk_work(void *arg)
{
    doc_batch *b = arg;
    if (b->target->ops->learn)
        b->rc = tutor_docs_all(b->rt->o.m, &b->list, &b->err);
    post_batch(b->rt, b);
}

void tutor_rt_applied(tutor_rt *t, uint64_t index, const Lms__Command *cmd,
                      const sm_result *res)
{
    if (!t || !atomic_load(&t->feeding))
        return;
    doc_batch *b = calloc(1, sizeof *b);
    if (!b)
        return;
    b->rt = t;
    b->refs = 1;
    b->rc = tutor_docs_applied(t->o.m, cmd, res, &b->list, &b->err);
    if (b->rc != LMS_OK)
        log_warn("tutor: documents of log entry %llu: %s",
                 (unsigned long long)index, b->err.msg);
    if (b->list.n == 0) {
        free(b);
        return;
    }
    post_batch(t, b);
}

/* ---- loading -------------------------------------------------------- */

/* Load and init the plugin of cfg's tutor slot into a new instance. */
static int start_instance(tutor_rt *t, lms_config *cfg, tutor_inst **out,
                          lms_err *err)
{
    tutor_inst *i = calloc(1, sizeof *i);
    if (!i)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    if (plugin_load(cfg->tutor.plugin, cfg->plugin_dir, LMS_PLUGIN_TUTOR, &i->pl,
                    err) != LMS_OK) {
        free(i);
        return err->code;
    }
    i->rt = t;
    i->ops = i->pl.desc->ops;
    i->blocking = (i->ops->flags & LMS_TUTOR_BLOCKING) != 0;
    i->ctx = (struct lms_plugin_ctx){.config = cfg->tutor.node,
                                     .data_dir = cfg->data_dir,
                                     .base = t->o.base,
                                     .workers = t->o.pool};
    snprintf(i->ctx.name, sizeof i->ctx.name, "%s", i->pl.desc->name);
    if (i->blocking && !t->thread &&
        !(t->thread = workers_start(t->o.base, "tutor", 1, 0))) {
        plugin_unload(&i->pl);
        free(i);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "cannot start the tutor thread");
    }
    int rc = i->ops->init(plugin_host(), &i->ctx, &i->inst, err);
    if (rc != LMS_OK) {
        plugin_unload(&i->pl);
        free(i);
        return rc;
    }
    *out = i;
    return LMS_OK;
}

static void no_tutor(tutor_rt *t)
{
    if (!t->serving && !t->pending)
        return;
    log_info("tutor: none configured any more; students are sent to their instructors");
    if (t->pending)
        retire(t->pending);
    if (t->serving)
        retire(t->serving);
}

int tutor_rt_load(tutor_rt *t, lms_config *cfg, int owned, lms_err *err)
{
    tutor_inst *i = NULL;
    if (!cfg->tutor.plugin) {
        no_tutor(t);
        if (owned)
            config_free(cfg);
        return LMS_OK;
    }
    int rc = start_instance(t, cfg, &i, err);
    if (rc != LMS_OK) {
        if (owned)
            config_free(cfg);
        return rc;
    }
    doc_batch *b = calloc(1, sizeof *b);
    if (!b) {
        i->ops->shutdown(i->inst);
        plugin_unload(&i->pl);
        free(i);
        if (owned)
            config_free(cfg);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    i->cfg = cfg;
    i->cfg_owned = owned;
    i->refs = 2; /* being prepared, and the walk */
    i->next = t->all;
    t->all = i;
    if (t->pending)
        retire(t->pending); /* an earlier load that is not ready yet */
    t->pending = i;
    update_feeding(t);
    *b = (doc_batch){.rt = t, .target = i, .refs = 1};
    if (workers_submit(t->o.storage_thread, walk_work, NULL, b) < 0)
        walk_work(b); /* stopping: the batch is dropped on arrival */
    log_info("tutor: %s %s (%s) started; learning the course documents",
             inst_name(i), i->pl.desc->version, i->pl.path);
    return LMS_OK;
}

/* ---- the runtime ---------------------------------------------------- */

tutor_rt *tutor_rt_new(const tutor_rt_options *o)
{
    tutor_rt *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->o = *o;
    if (!(t->mb = mailbox_new(o->base))) {
        free(t);
        return NULL;
    }
    atomic_init(&t->feeding, 0);
    return t;
}

void tutor_rt_set_deadline(tutor_rt *t, int64_t deadline_ms)
{
    LMS_ASSERT(deadline_ms > 0);
    t->o.deadline_ms = deadline_ms;
}

void tutor_rt_stop(tutor_rt *t)
{
    if (!t || t->stopping)
        return;
    t->stopping = 1;
    tutor_calls_abandon(t, LMS_UNAVAILABLE, "the server is stopping; ask again later");
    if (t->pending)
        retire(t->pending);
    if (t->serving)
        retire(t->serving);
}

/* Last resort at exit: an instance whose questions never ended. Its
 * shutdown ends them (by mail); those it still forgets are dropped. */
static void force_down(tutor_inst *i)
{
    tutor_rt *t = i->rt;
    log_warn("tutor: %s still has work in flight at exit; shutting it down anyway",
             inst_name(i));
    i->shut = 1;
    shutdown_work(i);
    mailbox_drain(t->mb);
    if (t->all == i) {
        tutor_calls_drop(t, i);
        inst_free(i);
    }
}

void tutor_rt_free(tutor_rt *t)
{
    if (!t)
        return;
    tutor_rt_stop(t);
    workers_stop(t->thread); /* runs what is queued: learning, shutdowns */
    mailbox_drain(t->mb);    /* answers and documents still on their way */
    while (t->all)
        force_down(t->all);
    workers_free(t->thread);
    mailbox_free(t->mb);
    free(t);
}

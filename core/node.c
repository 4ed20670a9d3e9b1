/*
 * node.c: the single-voter replicated log (see node.h).
 *
 * Proposals wait in a FIFO from the moment they get an index until they are
 * applied. Three watermarks move through it, all on the loop thread:
 *   last_index      handed to the log writer
 *   commit_index    fsynced (a majority of one: durable == committed)
 *   dispatched      sent to the storage thread to be applied
 * and applied_index, reported back by the storage thread after each batch.
 */
#include "node.h"

#include "log.h"
#include "log_writer.h"
#include "wal.h"
#include "workers.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At most this many commands in one storage transaction. */
#define APPLY_BATCH_MAX 512

typedef struct pending {
    uint64_t index;
    blob *cmd;
    node_proposal *p;
    struct pending *next;
} pending;

struct node {
    struct event_base *base;
    node_options opts;
    sm *m;
    struct workers *storage;
    log_writer *lw;
    uint64_t term;
    uint64_t last_index, commit_index, dispatched, applied_index;
    pending *head, *tail;     /* not yet dispatched to the storage thread */
    int closing, failed;
};

typedef struct apply_batch {
    node *n;
    size_t count;
    int failed;
    lms_err err;
    pending *items; /* a list, in index order */
} apply_batch;

/* Decode and apply one entry; then tell opts->on_applied, if any. */
static int apply_entry(sm *m, const node_options *opts, uint64_t index,
                       const void *data, size_t len, sm_result *res, lms_err *err)
{
    memset(res, 0, sizeof *res);
    Lms__Command *cmd = lms__command__unpack(NULL, len, data);
    if (!cmd) {
        /* Same bytes on every node, so the same refusal everywhere. */
        res->status = LMS_INTERNAL;
        snprintf(res->message, sizeof res->message,
                 "log entry %llu does not decode as a command",
                 (unsigned long long)index);
        return LMS_OK;
    }
    int rc = sm_apply(m, index, cmd, res, err);
    if (rc == LMS_OK && opts && opts->on_applied)
        opts->on_applied(opts->applied_arg, index, cmd, res);
    lms__command__free_unpacked(cmd, NULL);
    return rc;
}

int node_apply_one(sm *m, uint64_t index, const void *data, size_t len,
                   sm_result *res, lms_err *err)
{
    return apply_entry(m, NULL, index, data, len, res, err);
}

/* Storage thread: apply a batch in one transaction. */
static void apply_work(void *arg)
{
    apply_batch *b = arg;
    sm *m = b->n->m;
    uint64_t last = 0;
    if (m->ops->begin(m->st, &b->err) != LMS_OK) {
        b->failed = 1;
        return;
    }
    for (pending *it = b->items; it; it = it->next) {
        sm_result res;
        if (apply_entry(m, &b->n->opts, it->index, it->cmd->data, it->cmd->len,
                        &res, &b->err) != LMS_OK) {
            sm_result_free(&res);
            b->failed = 1;
            m->ops->rollback(m->st, NULL);
            return;
        }
        if (it->p && it->p->applied)
            it->p->applied(it->p, &res);
        sm_result_free(&res);
        last = it->index;
    }
    if (m->ops->commit(m->st, last, &b->err) != LMS_OK) {
        b->failed = 1;
        m->ops->rollback(m->st, NULL);
    }
}

static void fail(node *n, const char *msg)
{
    if (n->failed)
        return;
    n->failed = 1;
    log_error("node stops: %s", msg);
    if (n->opts.on_fatal)
        n->opts.on_fatal(n->opts.arg, msg);
}

/* Loop thread: the batch is committed (or failed). */
static void apply_done(void *arg)
{
    apply_batch *b = arg;
    node *n = b->n;
    if (b->failed) {
        char msg[600];
        snprintf(msg, sizeof msg, "apply failed: %s", b->err.msg);
        fail(n, msg);
    }
    pending *it = b->items;
    while (it) {
        pending *next = it->next;
        if (!b->failed) {
            n->applied_index = it->index;
            if (it->p && it->p->complete)
                it->p->complete(it->p);
        }
        blob_unref(it->cmd);
        free(it);
        it = next;
    }
    free(b);
}

/* Send every committed, undispatched entry to the storage thread. */
static void dispatch_committed(node *n)
{
    while (n->head && n->head->index <= n->commit_index && !n->failed) {
        apply_batch *b = calloc(1, sizeof *b);
        if (!b) {
            fail(n, "out of memory");
            return;
        }
        b->n = n;
        pending **tail = &b->items;
        while (n->head && n->head->index <= n->commit_index &&
               b->count < APPLY_BATCH_MAX) {
            pending *it = n->head;
            n->head = it->next;
            if (!n->head)
                n->tail = NULL;
            it->next = NULL;
            *tail = it;
            tail = &it->next;
            b->count++;
            n->dispatched = it->index;
        }
        if (workers_submit(n->storage, apply_work, apply_done, b) < 0) {
            /* cannot happen with an unbounded queue unless stopping */
            b->failed = 1;
            lms_err_set(&b->err, LMS_UNAVAILABLE, "storage thread stopped");
            apply_done(b);
            return;
        }
    }
}

static void on_durable(void *arg, uint64_t index)
{
    node *n = arg;
    if (index > n->commit_index)
        n->commit_index = index;
    dispatch_committed(n);
}

static void on_log_error(void *arg, const char *msg)
{
    char buf[600];
    snprintf(buf, sizeof buf, "command log: %s", msg);
    fail(arg, buf);
}

int node_propose(node *n, blob *cmd, node_proposal *p, lms_err *err)
{
    if (n->closing || n->failed)
        return lms_err_set(err, LMS_UNAVAILABLE, "node is shutting down");
    pending *it = malloc(sizeof *it);
    if (!it)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    it->index = n->last_index + 1;
    it->cmd = blob_ref(cmd);
    it->p = p;
    it->next = NULL;
    if (log_writer_append(n->lw, it->index, n->term, 0, cmd) != LMS_OK) {
        blob_unref(it->cmd);
        free(it);
        return lms_err_set(err, LMS_UNAVAILABLE, "command log is not writable");
    }
    n->last_index = it->index;
    if (n->tail)
        n->tail->next = it;
    else
        n->head = it;
    n->tail = it;
    return LMS_OK;
}

/* Replay entries (applied, last] from the WAL, in batches. */
static int replay(node *n, wal *w, lms_err *err)
{
    sm *m = n->m;
    uint64_t last = wal_last_index(w);
    uint64_t from = n->applied_index + 1;
    if (from <= last)
        log_info("replaying log entries %llu..%llu",
                 (unsigned long long)from, (unsigned long long)last);
    while (from <= last) {
        uint64_t to = from + APPLY_BATCH_MAX - 1 < last ? from + APPLY_BATCH_MAX - 1 : last;
        if (m->ops->begin(m->st, err) != LMS_OK)
            return err->code;
        for (uint64_t i = from; i <= to; i++) {
            wal_entry e;
            sm_result res;
            if (wal_read(w, i, &e, err) != LMS_OK) {
                m->ops->rollback(m->st, NULL);
                return err->code;
            }
            int rc = node_apply_one(m, i, e.data, e.len, &res, err);
            free((void *)e.data);
            sm_result_free(&res);
            if (rc != LMS_OK) {
                m->ops->rollback(m->st, NULL);
                return rc;
            }
        }
        if (m->ops->commit(m->st, to, err) != LMS_OK)
            return err->code;
        n->applied_index = to;
        from = to + 1;
    }
    return LMS_OK;
}

static int open_log(node *n, wal **w, lms_err *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/wal", n->opts.data_dir);
    if (wal_open(dir, NULL, w, err) != LMS_OK)
        return err->code;
    uint64_t term = 0, vote = 0;
    if (wal_hardstate_load(dir, &term, &vote, err) != LMS_OK)
        return err->code;
    if (term == 0) {
        /* a fresh single-voter cluster: term 1, voted for itself */
        term = 1;
        if (wal_hardstate_save(dir, term, n->opts.node_id, err) != LMS_OK)
            return err->code;
    }
    n->term = term;
    return LMS_OK;
}

int node_open(struct event_base *base, const node_options *opts, sm *m,
              struct workers *storage_thread, node **out, lms_err *err)
{
    node *n = calloc(1, sizeof *n);
    if (!n)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    n->base = base;
    n->opts = *opts;
    n->m = m;
    n->storage = storage_thread;
    wal *w = NULL;
    if (m->ops->applied_index(m->st, &n->applied_index, err) != LMS_OK ||
        open_log(n, &w, err) != LMS_OK)
        goto fail;
    if (wal_last_index(w) < n->applied_index) {
        lms_err_set(err, LMS_DATA_LOSS,
                    "storage has applied index %llu but the command log in "
                    "%s/wal ends at %llu: the log was lost or truncated",
                    (unsigned long long)n->applied_index, opts->data_dir,
                    (unsigned long long)wal_last_index(w));
        goto fail;
    }
    if (replay(n, w, err) != LMS_OK)
        goto fail;
    n->last_index = n->commit_index = n->dispatched = wal_last_index(w);
    if (log_writer_start(base, w, on_durable, on_log_error, n, &n->lw, err) !=
        LMS_OK)
        goto fail;
    *out = n;
    return LMS_OK;
fail:
    if (w)
        wal_close(w);
    free(n);
    return err->code ? err->code : LMS_INTERNAL;
}

uint64_t node_last_index(const node *n) { return n->last_index; }
uint64_t node_commit_index(const node *n) { return n->commit_index; }
uint64_t node_applied_index(const node *n) { return n->applied_index; }

void node_close(node *n)
{
    if (!n)
        return;
    n->closing = 1;
    log_writer_stop(n->lw); /* everything queued is now durable */
    if (!n->failed) {
        n->commit_index = n->last_index;
        dispatch_committed(n);
    }
    /* The caller now stops the storage thread, which finishes those batches
     * and runs their apply_done() before it returns; then node_free(). */
}

void node_free(node *n)
{
    if (!n)
        return;
    while (n->head) {
        pending *it = n->head;
        n->head = it->next;
        blob_unref(it->cmd);
        free(it);
    }
    free(n);
}

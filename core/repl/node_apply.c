/* SPDX-License-Identifier: MIT */
/*
 * node_apply.c: committed entries through the storage thread (see
 * node_internal.h). Each batch of at most APPLY_BATCH_MAX entries (or
 * APPLY_BATCH_BYTES of data) is one storage transaction that commits with
 * the index of its last entry, so the applied index moves with the data.
 * No-op and configuration entries are not the state machine's: they are
 * not handed to it (node_sm.apply) but still move the applied index.
 *
 * A proposal is paired with the committed entry at its index. If that
 * entry has another term, the proposal was lost in a leader change: the
 * entry is applied all the same (it is someone's committed command) and
 * the proposal is answered UNAVAILABLE, for its client to retry.
 *
 * A full disk (the storage's begin, apply or commit says
 * LMS_RESOURCE_EXHAUSTED) stops nothing: the batch is rolled back, and it
 * and every later one are held, in order, on the loop and submitted again
 * every APPLY_RETRY_MS until the first commits. So the applied index moves
 * only with a commit, and the entries are applied in the same order as
 * everywhere else. Results (the proposal's answer, opts->on_applied) are
 * handed out only after the commit, so a batch that is tried twice is
 * reported once.
 *
 * A store that cannot be reached (LMS_UNAVAILABLE: a database server's
 * connection lost, storage.h) is held the same way. Its commit may have
 * happened even though the plugin could not say so, so a held batch's
 * retry first reads the store's applied index: a batch at or below it is
 * committed already and is not applied twice. Its results were lost with
 * the answer to the commit, so its proposals are answered LMS_UNKNOWN
 * (the client's retry gets the recorded answer) and the tutor relearns its
 * documents (opts->on_restored), as after a snapshot install.
 */
#include "node_internal.h"

#include "clock.h"
#include "fault.h"
#include "lms_assert.h"
#include "log.h"
#include "metrics.h"
#include "wal.h"
#include "workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APPLY_BATCH_MAX 512
#define APPLY_BATCH_BYTES ((size_t)8 << 20)
#define APPLY_RETRY_MS 1000
#define READ_FULL_WAIT_MS 2000 /* see take_stuck_reads */

static const char lost_msg[] = "leadership changed; retry";

typedef struct apply_item {
    uint64_t index, term;
    uint32_t type;
    blob *data;
    node_proposal *p; /* NULL: nobody waits here */
    int lost;         /* p waited for another entry at this index */
    uint64_t committed_ns; /* p's entry handed out (metrics_now), or 0 */
    /* storage thread, between the apply and the report after commit: the
     * state machine's result (node_sm.apply), NULL when not applied */
    void *result;
} apply_item;

typedef struct apply_batch {
    node *n;
    struct apply_batch *next; /* in n->held */
    size_t count;
    uint64_t last;
    int failed;
    int full;    /* rolled back for lack of space: hold and retry */
    int unreachable; /* full for an unreachable store (LMS_UNAVAILABLE) */
    int bounced; /* not tried: an earlier batch is held */
    int retry;   /* held before: ask the store whether it committed */
    void *verify_view; /* it ends with a verify marker: the state pinned
                        * right after it (node_verify.c) */
    int already; /* the store had committed it: nothing was applied now */
    lms_err err;
    apply_item items[];
} apply_batch;

/* ---- applying one entry ----------------------------------------------- */

static int is_command(uint32_t type, const blob *data)
{
    return type == RAFT_ENTRY_NORMAL && data && data->len;
}

/* Apply one entry through the state machine into *result. */
static int apply_entry(node *n, uint64_t index, const void *data, size_t len,
                       void **result, lms_err *err)
{
    int rc = n->sm.apply(n->sm.arg, index, data, len, result, err);
    LMS_ASSERT(rc == LMS_OK ? *result != NULL : *result == NULL);
    return rc;
}

/* A refusal handed to a proposal that will not get its entry. */
static void answer_lost(node_proposal *p, int status, const char *msg)
{
    node_outcome o = {.result = NULL, .status = status, .message = msg};
    if (p->applied)
        p->applied(p, &o);
}

/* Storage thread: one item inside the batch's transaction. */
static int apply_item_work(apply_batch *b, apply_item *it)
{
    if (!is_command(it->type, it->data))
        return 0;
    if (it->committed_ns) /* once: a held batch's retry does not count */
        metrics_stage(METRICS_STAGE_COMMIT_APPLY, it->committed_ns);
    it->committed_ns = 0;
    return apply_entry(b->n, it->index, it->data->data, it->data->len,
                       &it->result, &b->err) == LMS_OK ? 0 : -1;
}

/* Storage thread: forget what the items' applies produced. */
static void clear_results(apply_batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        apply_item *it = &b->items[i];
        if (it->result)
            b->n->sm.result_free(b->n->sm.arg, it->result);
        it->result = NULL;
    }
}

/* Storage thread, after the commit: hand out what each item produced. */
static void report_results(apply_batch *b)
{
    node *n = b->n;
    for (size_t i = 0; i < b->count; i++) {
        apply_item *it = &b->items[i];
        if (it->result && n->sm.applied)
            n->sm.applied(n->sm.arg, it->index, it->result);
        if (it->p && it->lost) {
            answer_lost(it->p, LMS_UNAVAILABLE, lost_msg);
        } else if (it->p && it->p->applied) {
            /* no result: a membership change, a no-op: committed is all
             * it needs */
            node_outcome o = {.result = it->result, .status = LMS_OK};
            it->p->applied(it->p, &o);
        }
    }
    clear_results(b);
}

/* Storage thread, before a held batch is tried again: did an earlier try
 * commit it after all (its commit's answer lost with the connection)?
 * 1: yes (b->already), 0: no, -1: cannot tell now (b->err). */
static int committed_before(apply_batch *b)
{
    const node_sm *m = &b->n->sm;
    uint64_t at = 0;
    if (fault_storage() == FAULT_STORAGE_DOWN) {
        lms_err_set(&b->err, LMS_UNAVAILABLE,
                    "fault hook: the storage cannot be reached");
        return -1;
    }
    if (m->ops->applied_index(m->st, &at, &b->err) != LMS_OK)
        return -1;
    if (at >= b->last) {
        b->already = 1;
        return 1;
    }
    /* Batches commit whole and in order: the store is right below it. */
    LMS_ASSERT(at < b->items[0].index);
    return 0;
}

/* Storage thread: begin, apply every item, commit; rolled back on any
 * failure (b->err says why). */
static int apply_txn_inner(apply_batch *b)
{
    const node_sm *m = &b->n->sm;
    int fault = fault_storage();
    if (fault == FAULT_STORAGE_DOWN) {
        lms_err_set(&b->err, LMS_UNAVAILABLE,
                    "fault hook: the storage cannot be reached");
        return -1;
    }
    if (m->ops->begin(m->st, &b->err) != LMS_OK)
        return -1;
    for (size_t i = 0; i < b->count; i++)
        if (apply_item_work(b, &b->items[i]) < 0) {
            m->ops->rollback(m->st, NULL);
            return -1;
        }
    if (m->ops->commit(m->st, b->last, &b->err) != LMS_OK) {
        m->ops->rollback(m->st, NULL);
        return -1;
    }
    if (fault == FAULT_STORAGE_LOSE_COMMIT) {
        lms_err_set(&b->err, LMS_UNAVAILABLE,
                    "fault hook: the answer to the commit was lost");
        return -1;
    }
    return 0;
}

/* The state machine hears when the batch's transaction ended, committed
 * or rolled back (node_sm.settled: the application's caches of what a
 * command changed may be filled again). */
static int apply_txn(apply_batch *b)
{
    if (b->retry) {
        int done = committed_before(b);
        if (done != 0)
            return done > 0 ? 0 : -1;
    }
    int rc = apply_txn_inner(b);
    b->n->sm.settled(b->n->sm.arg);
    return rc;
}

/* Storage thread: b was committed by an earlier try whose answer was
 * lost. Its proposals learn only that (their answers went with the lost
 * try); a retry of the same write is answered from its dedup record. */
static void report_already(apply_batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        apply_item *it = &b->items[i];
        if (!it->p)
            continue;
        if (it->lost) {
            answer_lost(it->p, LMS_UNAVAILABLE, lost_msg);
        } else if (is_command(it->type, it->data)) {
            answer_lost(it->p, LMS_UNKNOWN,
                        "the storage lost its connection while committing "
                        "this change: it was stored, but its answer was "
                        "lost; repeat the request to get it");
        } else if (it->p->applied) {
            node_outcome o = {.result = NULL, .status = LMS_OK};
            it->p->applied(it->p, &o);
        }
    }
}

/* Storage thread: apply a batch in one transaction. After a batch failed
 * nothing more is applied: later entries on top of a store that misses
 * some would be a state no other node has. A full store is not a failure
 * (the batch is rolled back and comes again), but the batches queued
 * behind it must not overtake it: they bounce back to the loop untried. */
static void apply_work(void *arg)
{
    apply_batch *b = arg;
    node *n = b->n;
    if (atomic_load(&n->storage_poisoned)) {
        b->failed = 1;
        lms_err_set(&b->err, LMS_ABORTED, "an earlier batch failed");
        return;
    }
    if (atomic_load(&n->storage_full)) {
        b->bounced = 1;
        return;
    }
    /* A batch that ends with a verify marker: its digest is pending
     * before the commit can be seen, so that no reader that sees the
     * commit finds no record of it ("missed", node_verify_get). */
    int marker = node_verify_is_marker(n, b->items[b->count - 1].data);
    if (marker)
        node_verify_expect(n, b->last);
    if (apply_txn(b) == 0) {
        /* the state right after the marker, before anything else is
         * applied (the marker ends its batch: batch_size) */
        if (marker)
            b->verify_view = node_verify_pin(n, b->last);
        if (b->already)
            report_already(b);
        else
            report_results(b);
        return;
    }
    clear_results(b);
    if (b->err.code == LMS_RESOURCE_EXHAUSTED ||
        b->err.code == LMS_UNAVAILABLE) {
        b->full = 1;
        b->unreachable = b->err.code == LMS_UNAVAILABLE;
        atomic_store(&n->storage_full, 1);
        return;
    }
    b->failed = 1;
    atomic_store(&n->storage_poisoned, 1);
}

static void free_batch(apply_batch *b)
{
    for (size_t i = 0; i < b->count; i++)
        blob_unref(b->items[i].data);
    free(b);
}

static void hold_batch(node *n, apply_batch *b);

/* Loop: the batch is committed (or failed, or held). */
static void apply_done(void *arg)
{
    apply_batch *b = arg;
    node *n = b->n;
    LMS_ASSERT(n->apply_inflight > 0);
    n->apply_inflight--;
    if (b->full || b->bounced) {
        hold_batch(n, b);
        return;
    }
    if (b->failed) {
        char msg[600];
        snprintf(msg, sizeof msg, "apply failed: %s", b->err.msg);
        node_fail(n, msg);
        free_batch(b);
        return;
    }
    LMS_ASSERT(b->last > n->applied); /* in order, each batch once */
    n->applied = b->last;
    if (b->verify_view) {
        node_verify_start(n, b->last, b->verify_view);
        b->verify_view = NULL;
    }
    if (b->already) {
        log_warn("the storage had committed entries %llu..%llu before the "
                 "answer to its commit was lost; they were not applied "
                 "again, and their clients were told the outcome is unknown",
                 (unsigned long long)b->items[0].index,
                 (unsigned long long)b->last);
        /* Their results (what the tutor learns from) went with the lost
         * answer: it relearns its documents, as after a snapshot. */
        if (n->opts.on_restored && !n->closing)
            n->opts.on_restored(n->opts.arg, b->last);
    }
    if (n->storage_full_since) {
        log_warn("%s: the storage applied entries up to %llu after %lld ms",
                 n->storage_unreachable ? "the storage can be reached again"
                                        : "disk has space again",
                 (unsigned long long)b->last,
                 (long long)(mono_ms() - n->storage_full_since));
        n->storage_full_since = 0;
        n->storage_unreachable = 0;
    }
    for (size_t i = 0; i < b->count; i++)
        if (b->items[i].p && b->items[i].p->complete)
            b->items[i].p->complete(b->items[i].p);
    free_batch(b);
    if (raft_applied(n->r, n->applied) != RAFT_OK)
        node_fail(n, "raft: out of memory");
    node_check_reads(n);
    node_snapshot_maybe(n);
    node_schedule_pump(n);
}

/* ---- from committed entries to batches ------------------------------- */

/* The proposal waiting for index (NULL if none); *lost if the entry there
 * has another term. Older waiters cannot get their entry any more. */
static node_proposal *take_proposal(node *n, uint64_t index, uint64_t term,
                                    int *lost)
{
    *lost = 0;
    while (n->ph && n->ph->index <= index) {
        pending *it = n->ph;
        n->ph = it->next;
        if (!n->ph)
            n->pt = NULL;
        node_proposal *p = it->p;
        int mine = it->index == index;
        *lost = it->term != term;
        if (mine && !*lost)
            metrics_stage(METRICS_STAGE_PROPOSE_COMMIT, it->proposed_ns);
        free(it);
        if (mine)
            return p;
        answer_lost(p, LMS_UNAVAILABLE, lost_msg);
        if (p->complete)
            p->complete(p);
    }
    return NULL;
}

/* How many of ents[0..count) go into one batch. A verify marker ends its
 * batch, so that the state right after it can be pinned. */
static size_t batch_size(const node *n, const raft_entry *ents, size_t count)
{
    size_t k = 0, bytes = 0;
    while (k < count && k < APPLY_BATCH_MAX) {
        size_t b = ents[k].data ? ents[k].data->len : 0;
        if (k && bytes + b > APPLY_BATCH_BYTES)
            break;
        bytes += b;
        k++;
        if (ents[k - 1].type == RAFT_ENTRY_NORMAL &&
            node_verify_is_marker(n, ents[k - 1].data))
            break;
    }
    return k;
}

/* To the storage thread, or behind the held ones. */
static void send_batch(node *n, apply_batch *b)
{
    if (n->held) {
        b->next = NULL;
        *n->held_tail = b;
        n->held_tail = &b->next;
        return;
    }
    n->apply_inflight++;
    if (workers_submit(n->storage, apply_work, apply_done, b) < 0) {
        b->failed = 1;
        lms_err_set(&b->err, LMS_UNAVAILABLE, "storage thread stopped");
        apply_done(b);
    }
}

/* Answer the proposals of a batch that will not be applied by this run of
 * the node (closing): the entries are committed, so they will be applied
 * after the restart, but this node cannot say so yet. */
static void drop_batch(apply_batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        node_proposal *p = b->items[i].p;
        if (!p)
            continue;
        answer_lost(p, LMS_UNKNOWN,
                    NODE_FATE_UNKNOWN("the node is shutting down with a full disk"));
        if (p->complete)
            p->complete(p);
    }
    free_batch(b);
}

static void on_apply_retry(evutil_socket_t fd, short what, void *arg)
{
    node *n = arg;
    (void)fd;
    (void)what;
    if (n->closing || n->failed || !n->held)
        return;
    if (n->apply_inflight) { /* bounced batches still on their way back */
        struct timeval tv = {0, 100 * 1000};
        event_add(n->apply_retry_ev, &tv);
        return;
    }
    apply_batch *list = n->held;
    n->held = NULL;
    n->held_tail = &n->held;
    atomic_store(&n->storage_full, 0);
    while (list) {
        apply_batch *b = list;
        list = b->next;
        b->full = b->bounced = b->unreachable = 0;
        b->retry = 1;
        send_batch(n, b);
    }
}

/* Loop: b was rolled back for space, or bounced behind one that was. */
static void hold_batch(node *n, apply_batch *b)
{
    if (n->closing || n->failed) {
        drop_batch(b);
        return;
    }
    if (b->full && !n->storage_full_since) {
        n->storage_full_since = mono_ms();
        n->storage_unreachable = b->unreachable;
        snprintf(n->storage_full_msg, sizeof n->storage_full_msg, "%s", b->err.msg);
        log_error("%s: the storage cannot apply entries %llu..%llu (%s); "
                  "they are held and retried every %d ms, and writes are "
                  "refused until %s",
                  b->unreachable ? "storage unreachable" : "disk full",
                  (unsigned long long)b->items[0].index,
                  (unsigned long long)b->last, b->err.msg, APPLY_RETRY_MS,
                  b->unreachable ? "it is back" : "space is freed");
    }
    b->next = NULL;
    if (!n->held)
        n->held_tail = &n->held;
    *n->held_tail = b;
    n->held_tail = &b->next;
    if (!n->apply_retry_ev)
        n->apply_retry_ev = event_new(n->base, -1, 0, on_apply_retry, n);
    if (!n->apply_retry_ev) {
        node_fail(n, "out of memory");
        return;
    }
    struct timeval tv = {APPLY_RETRY_MS / 1000, (APPLY_RETRY_MS % 1000) * 1000};
    if (!event_pending(n->apply_retry_ev, EV_TIMEOUT, NULL))
        event_add(n->apply_retry_ev, &tv);
    node_check_reads(n); /* reads that need the held entries: refused */
}

void node_apply_close(node *n)
{
    while (n->held) {
        apply_batch *b = n->held;
        n->held = b->next;
        drop_batch(b);
    }
    n->held_tail = &n->held;
    if (n->apply_retry_ev)
        event_free(n->apply_retry_ev);
    n->apply_retry_ev = NULL;
}

int node_may_hold_write(node *n, uint64_t client_id, uint64_t seq)
{
    if (n->apply_inflight || raft_get_commit(n->r) > n->dispatched)
        return 1;
    for (const apply_batch *b = n->held; b; b = b->next)
        for (size_t i = 0; i < b->count; i++)
            if (is_command(b->items[i].type, b->items[i].data) &&
                n->sm.is_write(b->items[i].data->data, b->items[i].data->len,
                               client_id, seq))
                return 1;
    return 0;
}

int node_storage_out_of_space(const node *n, char *msg, size_t len)
{
    if (!n->storage_full_since)
        return 0;
    if (msg && len)
        snprintf(msg, len, "%s", n->storage_full_msg);
    return 1;
}

static void submit_batch(node *n, const raft_entry *ents, size_t k)
{
    apply_batch *b = calloc(1, sizeof *b + k * sizeof b->items[0]);
    if (!b) {
        node_fail(n, "out of memory");
        return;
    }
    b->n = n;
    b->count = k;
    uint64_t now = metrics_now();
    for (size_t i = 0; i < k; i++) {
        apply_item *it = &b->items[i];
        it->index = ents[i].index;
        it->term = ents[i].term;
        it->type = ents[i].type;
        it->data = ents[i].data ? blob_ref(ents[i].data) : NULL;
        it->p = take_proposal(n, it->index, it->term, &it->lost);
        it->committed_ns = it->p && !it->lost ? now : 0;
    }
    b->last = ents[k - 1].index;
    n->dispatched = b->last;
    for (size_t i = 0; i < k; i++)
        n->snap_bytes += ents[i].data ? ents[i].data->len : 0;
    send_batch(n, b);
}

void node_apply_committed(node *n, const raft_entry *ents, size_t count)
{
    size_t i = 0;
    while (i < count && !n->failed) {
        if (ents[i].index <= n->dispatched) {
            i++; /* handed out before: never twice */
            continue;
        }
        size_t k = batch_size(n, ents + i, count - i);
        submit_batch(n, ents + i, k);
        i += k;
    }
}

/* ---- waiting proposals and reads --------------------------------------- */

/* Is the proposal's entry committed (it will be applied and answered)? */
static int committed_as_proposed(node *n, const pending *it)
{
    raft_term t;
    return it->index <= raft_get_commit(n->r) &&
           raft_term_at(n->r, it->index, &t) == RAFT_OK && t == it->term;
}

void node_drop_proposals(node *n, int status, const char *msg, int all)
{
    pending *keep = NULL, *keep_last = NULL, *drop = NULL, **dt = &drop;
    for (pending *it = n->ph, *next; it; it = next) {
        next = it->next;
        it->next = NULL;
        if (!all && committed_as_proposed(n, it)) {
            if (keep_last)
                keep_last->next = it;
            else
                keep = it;
            keep_last = it;
        } else {
            *dt = it;
            dt = &it->next;
        }
    }
    n->ph = keep;
    n->pt = keep_last;
    while (drop) {
        pending *it = drop;
        drop = it->next;
        answer_lost(it->p, status, msg);
        if (it->p->complete)
            it->p->complete(it->p);
        free(it);
    }
}

/* Unlink the reads that can run (all: every read) into a list. */
static read_wait *take_reads(node *n, int all)
{
    read_wait *ready = NULL, **rt = &ready, **pp = &n->reads;
    n->reads_tail = NULL;
    while (*pp) {
        read_wait *w = *pp;
        if (all || (w->index && w->index <= n->applied)) {
            *pp = w->next;
            w->next = NULL;
            *rt = w;
            rt = &w->next;
        } else {
            n->reads_tail = w;
            pp = &w->next;
        }
    }
    return ready;
}

static void run_reads(read_wait *list, int status)
{
    while (list) {
        read_wait *w = list;
        list = w->next;
        w->cb(w->arg, status);
        free(w);
    }
}

int node_apply_stuck(node *n, char *msg, size_t len)
{
    const char *what;
    if (n->storage_full_since && n->storage_unreachable) {
        if (msg && len)
            snprintf(msg, len,
                     "node %llu cannot apply committed changes because its "
                     "storage cannot be reached (%s); retry later or ask "
                     "another node",
                     (unsigned long long)n->opts.node_id, n->storage_full_msg);
        return 1;
    }
    if (n->storage_full_since)
        what = "cannot apply committed changes";
    else if (node_out_of_space(n, NULL, 0))
        what = "cannot keep up with committed changes";
    else
        return 0;
    if (msg && len)
        snprintf(msg, len,
                 "node %llu %s because the disk holding %s is full; retry "
                 "later or ask another node",
                 (unsigned long long)n->opts.node_id, what, n->opts.data_dir);
    return 1;
}

/* While the disk is full a read must not wait for what may never come:
 * one that needs entries the storage holds (its index is above the
 * applied one) is refused at once, any other once it has waited
 * READ_FULL_WAIT_MS (its confirmation may be stuck behind the held log
 * writes). Unlink those into a list. */
static read_wait *take_stuck_reads(node *n)
{
    int held = n->storage_full_since != 0;
    int64_t now = mono_ms();
    read_wait *out = NULL, **ot = &out, **pp = &n->reads;
    n->reads_tail = NULL;
    while (*pp) {
        read_wait *w = *pp;
        if ((held && w->index > n->applied) || now - w->since >= READ_FULL_WAIT_MS) {
            *pp = w->next;
            w->next = NULL;
            *ot = w;
            ot = &w->next;
        } else {
            n->reads_tail = w;
            pp = &w->next;
        }
    }
    return out;
}

void node_check_reads(node *n)
{
    if (n->reads)
        run_reads(take_reads(n, 0), LMS_OK);
    if (n->reads && node_apply_stuck(n, NULL, 0))
        run_reads(take_stuck_reads(n), LMS_UNAVAILABLE);
}

void node_drop_reads(node *n, int status)
{
    if (n->reads)
        run_reads(take_reads(n, 1), status);
}

/* ---- replay (a cluster of one voter) ------------------------------------ */

/* Apply entries from..to of w in one transaction. */
static int replay_batch(node *n, wal *w, uint64_t from, uint64_t to,
                        lms_err *err)
{
    const node_sm *m = &n->sm;
    if (m->ops->begin(m->st, err) != LMS_OK)
        return err->code;
    for (uint64_t i = from; i <= to; i++) {
        wal_entry e;
        void *result = NULL;
        if (wal_read(w, i, &e, err) != LMS_OK) {
            m->ops->rollback(m->st, NULL);
            return err->code;
        }
        int rc = LMS_OK;
        if (e.type == RAFT_ENTRY_NORMAL && e.len)
            rc = apply_entry(n, i, e.data, e.len, &result, err);
        free((void *)e.data);
        if (result)
            m->result_free(m->arg, result);
        if (rc != LMS_OK) {
            m->ops->rollback(m->st, NULL);
            return rc;
        }
    }
    return m->ops->commit(m->st, to, err) == LMS_OK ? LMS_OK : err->code;
}

int node_replay(node *n, wal *w, uint64_t last, lms_err *err)
{
    uint64_t from = n->applied + 1;
    if (from <= last)
        log_info("replaying log entries %llu..%llu", (unsigned long long)from,
                 (unsigned long long)last);
    while (from <= last) {
        uint64_t to = last - from >= APPLY_BATCH_MAX ? from + APPLY_BATCH_MAX - 1
                                                     : last;
        int rc = replay_batch(n, w, from, to, err);
        n->sm.settled(n->sm.arg); /* committed or rolled back */
        if (rc != LMS_OK)
            return rc;
        n->applied = to;
        from = to + 1;
    }
    return LMS_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * progress.c: what a leader knows of one follower. Three states:
 *
 *   PROBE      the leader does not know where their logs agree: one
 *              append at a time, then wait for the answer (or the next
 *              heartbeat answer) before trying again;
 *   REPLICATE  the logs agree up to match: appends are pipelined, next
 *              runs ahead optimistically, bounded by an inflight window
 *              counted in messages and in bytes;
 *   SNAPSHOT   the follower needs compacted entries: a snapshot is being
 *              streamed; nothing else is sent until it is reported.
 *
 * The inflight window is a ring of (last index, bytes) per append, freed
 * as acknowledgements come back in order.
 */
#include "raft-internal.h"

#include <stdlib.h>
#include <string.h>

int raft_progress_init(raft_progress *p, raft_id id, unsigned cap)
{
    memset(p, 0, sizeof *p);
    p->id = id;
    p->infl.cap = cap ? cap : 1;
    p->infl.last = calloc(p->infl.cap, sizeof *p->infl.last);
    p->infl.bytes = calloc(p->infl.cap, sizeof *p->infl.bytes);
    if (!p->infl.last || !p->infl.bytes) {
        raft_progress_free(p);
        return RAFT_ERR_NOMEM;
    }
    return RAFT_OK;
}

void raft_progress_free(raft_progress *p)
{
    free(p->infl.last);
    free(p->infl.bytes);
    p->infl.last = NULL;
    p->infl.bytes = NULL;
}

static void infl_reset(raft_inflights *f)
{
    f->start = f->count = 0;
    f->total = 0;
}

static void infl_add(raft_inflights *f, raft_index last, size_t bytes)
{
    unsigned k = (f->start + f->count) % f->cap;
    f->last[k] = last;
    f->bytes[k] = bytes;
    f->count++;
    f->total += bytes;
}

/* Free every append whose last index is <= index. */
static void infl_free_to(raft_inflights *f, raft_index index)
{
    while (f->count && f->last[f->start] <= index) {
        f->total -= f->bytes[f->start];
        f->start = (f->start + 1) % f->cap;
        f->count--;
    }
}

void raft_progress_reset(raft_progress *p, raft_index next)
{
    p->match = 0;
    p->next = next;
    p->state = RAFT_PROGRESS_PROBE;
    p->probe_sent = 0;
    p->recent_active = 0;
    p->pending_snapshot = 0;
    p->read_seq = 0;
    infl_reset(&p->infl);
}

void raft_progress_become_probe(raft_progress *p)
{
    /* After a snapshot the follower has at least its index; resume after
     * it, or after match if the stream failed. */
    raft_index from = p->match + 1;
    if (p->state == RAFT_PROGRESS_SNAPSHOT && p->pending_snapshot + 1 > from)
        from = p->pending_snapshot + 1;
    p->state = RAFT_PROGRESS_PROBE;
    p->next = from;
    p->probe_sent = 0;
    p->pending_snapshot = 0;
    infl_reset(&p->infl);
}

void raft_progress_become_replicate(raft_progress *p)
{
    p->state = RAFT_PROGRESS_REPLICATE;
    p->next = p->match + 1;
    p->probe_sent = 0;
    p->pending_snapshot = 0;
    infl_reset(&p->infl);
}

void raft_progress_become_snapshot(raft_progress *p, raft_index index)
{
    p->state = RAFT_PROGRESS_SNAPSHOT;
    p->pending_snapshot = index;
    p->probe_sent = 0;
    infl_reset(&p->infl);
}

int raft_progress_update(raft_progress *p, raft_index index)
{
    int moved = 0;
    if (index > p->match) {
        p->match = index;
        moved = 1;
        p->probe_sent = 0;
    }
    if (index + 1 > p->next)
        p->next = index + 1;
    infl_free_to(&p->infl, index);
    return moved;
}

int raft_progress_decrease(raft_progress *p, raft_index rejected,
                           raft_index next_guess)
{
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        /* Answers to appends sent before a better match are stale. */
        if (rejected <= p->match)
            return 0;
    } else if (rejected + 1 != p->next) {
        /* Probing: only the answer to the last probe counts. */
        return 0;
    }
    raft_index next = next_guess < rejected ? next_guess : rejected;
    if (next < p->match + 1)
        next = p->match + 1;
    if (next < 1)
        next = 1;
    p->next = next;
    p->probe_sent = 0;
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        p->state = RAFT_PROGRESS_PROBE;
        infl_reset(&p->infl);
    }
    return 1;
}

int raft_progress_paused(const raft_progress *p, size_t max_bytes)
{
    switch (p->state) {
    case RAFT_PROGRESS_PROBE:
        return p->probe_sent;
    case RAFT_PROGRESS_REPLICATE:
        if (p->infl.count >= p->infl.cap)
            return 1;
        return max_bytes && p->infl.total >= max_bytes;
    default:
        return 1;
    }
}

void raft_progress_sent(raft_progress *p, raft_index last, size_t bytes,
                        size_t n_entries)
{
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        if (n_entries) {
            p->next = last + 1;
            infl_add(&p->infl, last, bytes);
        }
    } else if (p->state == RAFT_PROGRESS_PROBE) {
        p->probe_sent = 1;
    }
}

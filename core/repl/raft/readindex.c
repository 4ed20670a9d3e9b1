/* SPDX-License-Identifier: MIT */
/*
 * readindex.c: linearizable reads without writing to the log (Raft thesis
 * 6.4). The leader notes its commit index for the read, then proves it
 * was still the leader after the read arrived: it starts a heartbeat
 * round (numbered by hb_seq) and waits until a quorum has answered a
 * message of that round or a later one. Every append and heartbeat
 * carries the current round number and every answer echoes it, so reads
 * that arrive together share one round. A new leader first commits an
 * entry of its own term, since until then its commit index may lag what
 * its predecessor committed.
 */
#include "raft-internal.h"

#include <stdlib.h>

static int committed_in_term(const raft *r)
{
    raft_term t;
    return raft_log_term(&r->log, r->commit, &t) == RAFT_OK && t == r->term;
}

static int push_read(raft *r, uint64_t ctx, raft_index index, uint64_t seq)
{
    if (raft_grow((void **)&r->preads, &r->cap_preads, r->n_preads + 1,
                  sizeof *r->preads))
        return raft_fail(r, RAFT_ERR_NOMEM);
    raft_pending_read *p = &r->preads[r->n_preads++];
    p->ctx = ctx;
    p->index = index;
    p->seq = seq;
    return RAFT_OK;
}

int raft_read_index(raft *r, uint64_t ctx, raft_id *leader_hint)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (leader_hint)
        *leader_hint = r->role == RAFT_LEADER ? r->opt.id : r->leader;
    if (r->role != RAFT_LEADER)
        return RAFT_ERR_NOT_LEADER;
    int ready = committed_in_term(r);
    int rc = push_read(r, ctx, r->commit, ready ? r->hb_seq + 1 : 0);
    if (rc == RAFT_OK && ready)
        r->need_read_round = 1;
    return rc;
}

/* The leader's first entry of its term committed: start the reads that
 * waited for it, at the commit index they can now use. */
void raft_reads_on_commit(raft *r)
{
    if (!committed_in_term(r))
        return;
    for (size_t i = 0; i < r->n_preads; i++) {
        raft_pending_read *p = &r->preads[i];
        if (p->seq)
            continue;
        p->index = r->commit;
        p->seq = r->hb_seq + 1;
        r->need_read_round = 1;
    }
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The newest round a quorum of voters has answered. */
static uint64_t quorum_seq(const raft *r)
{
    uint64_t s[RAFT_MAX_SERVERS];
    unsigned n = 0;
    for (unsigned i = 0; i < r->n_prs; i++) {
        const raft_progress *p = &r->prs[i];
        if (!p->learner)
            s[n++] = p->id == r->opt.id ? r->hb_seq : p->read_seq;
    }
    unsigned q = raft_quorum(r);
    if (n < q)
        return 0;
    qsort(s, n, sizeof s[0], cmp_desc);
    return s[q - 1];
}

void raft_reads_on_ack(raft *r)
{
    if (r->role != RAFT_LEADER || !r->n_preads)
        return;
    uint64_t q = quorum_seq(r);
    size_t keep = 0;
    for (size_t i = 0; i < r->n_preads; i++) {
        raft_pending_read *p = &r->preads[i];
        if (!p->seq || p->seq > q) {
            r->preads[keep++] = *p;
            continue;
        }
        if (raft_grow((void **)&r->reads, &r->cap_reads, r->n_reads + 1,
                      sizeof *r->reads)) {
            raft_fail(r, RAFT_ERR_NOMEM);
            return;
        }
        r->reads[r->n_reads].ctx = p->ctx;
        r->reads[r->n_reads].index = p->index;
        r->n_reads++;
    }
    r->n_preads = keep;
}

void raft_reads_start_round(raft *r)
{
    r->need_read_round = 0;
    r->hb_seq++;
    raft_bcast_heartbeat(r);
    raft_reads_on_ack(r); /* a cluster of one confirms itself */
}

void raft_reads_drop(raft *r)
{
    r->n_preads = 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * ready.c: what the node hands its caller, and the bookkeeping of what
 * the caller has made durable. Messages are queued as they arise, sorted
 * into the two lists of a ready (send now / send once durable) and copied
 * with their own blob references, so the log may change under them while
 * the glue sends. A ready records the end of the log it asked to be
 * written; raft_advance moves `stable` there (unless a truncation since
 * has cut it back), which is what the leader counts as its own match and
 * what bounds the committed entries handed out for applying.
 */
#include "raft-internal.h"

#include <stdlib.h>
#include <string.h>

static int leader_traffic(raft_msg_type t)
{
    return t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT ||
           t == RAFT_MSG_SNAPSHOT || t == RAFT_MSG_TIMEOUT_NOW;
}

static int copy_entries(const raft_entry *src, size_t n, raft_entry **out)
{
    *out = NULL;
    if (!n)
        return RAFT_OK;
    raft_entry *v = malloc(n * sizeof *v);
    if (!v)
        return RAFT_ERR_NOMEM;
    memcpy(v, src, n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        if (v[i].data)
            blob_ref(v[i].data);
    *out = v;
    return RAFT_OK;
}

static void free_entries(raft_entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        blob_unref(v[i].data);
    free(v);
}

/* A follower that took several appends since its last ready owes one
 * acknowledgement, of the highest index: fold a new one into the last
 * queued. */
static int fold_ack(raft_msgs *q, const raft_msg *m)
{
    if (m->type != RAFT_MSG_APPEND_RESP || m->reject || !q->n)
        return 0;
    raft_msg *p = &q->v[q->n - 1];
    if (p->type != RAFT_MSG_APPEND_RESP || p->reject || p->to != m->to ||
        p->term != m->term || p->index > m->index)
        return 0;
    p->index = m->index;
    if (m->seq > p->seq)
        p->seq = m->seq;
    return 1;
}

int raft_send(raft *r, raft_msg *m)
{
    m->from = r->opt.id;
    if (!m->term)
        m->term = r->term;
    raft_msgs *q = leader_traffic(m->type) ? &r->msgs : &r->msgs_persisted;
    if (fold_ack(q, m))
        return RAFT_OK;
    if (raft_grow((void **)&q->v, &q->cap, q->n + 1, sizeof *q->v))
        return raft_fail(r, RAFT_ERR_NOMEM);
    raft_msg *d = &q->v[q->n];
    *d = *m;
    d->snapshot = NULL;
    if (copy_entries(m->entries, m->n_entries, &d->entries) != RAFT_OK)
        return raft_fail(r, RAFT_ERR_NOMEM);
    if (m->snapshot) {
        raft_snapshot_meta *s = malloc(sizeof *s);
        if (!s) {
            free_entries(d->entries, d->n_entries);
            return raft_fail(r, RAFT_ERR_NOMEM);
        }
        *s = *m->snapshot;
        d->snapshot = s;
    }
    q->n++;
    return RAFT_OK;
}

void raft_drop_acks(raft *r, raft_index from)
{
    raft_msgs *q = &r->msgs_persisted;
    size_t keep = 0;
    for (size_t i = 0; i < q->n; i++) {
        raft_msg *m = &q->v[i];
        if (m->type == RAFT_MSG_APPEND_RESP && !m->reject && m->index >= from)
            raft_msgs_free_one(m);
        else
            q->v[keep++] = *m;
    }
    q->n = keep;
}

void raft_msgs_free_one(raft_msg *m)
{
    free_entries(m->entries, m->n_entries);
    free((void *)m->snapshot);
}

void raft_msgs_free(raft_msg *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        raft_msgs_free_one(&v[i]);
    free(v);
}

static raft_softstate softstate(const raft *r)
{
    raft_softstate ss;
    memset(&ss, 0, sizeof ss);
    ss.leader = r->leader;
    ss.role = r->role;
    ss.learner = (uint8_t)!raft_is_voter(r, r->opt.id);
    return ss;
}

static raft_index applicable(const raft *r)
{
    return r->commit < r->stable ? r->commit : r->stable;
}

int raft_has_ready(const raft *r)
{
    if (r->broken)
        return 0;
    raft_softstate ss = softstate(r);
    int leader_work = r->role == RAFT_LEADER &&
                      (r->need_bcast || r->need_bcast_commit ||
                       r->need_read_round);
    return r->msgs.n || r->msgs_persisted.n || r->n_reads || r->install ||
           r->need_trunc || raft_log_last(&r->log) > r->written ||
           r->term != r->prev_hs.term || r->vote != r->prev_hs.vote ||
           ss.leader != r->prev_ss.leader || ss.role != r->prev_ss.role ||
           ss.learner != r->prev_ss.learner || r->cfg_changed ||
           leader_work || applicable(r) > r->handed;
}

/* Committed entries for this ready, within the apply budget. */
static int take_committed(raft *r, struct raft_ready *rd)
{
    raft_index to = applicable(r);
    size_t n = 0, bytes = 0;
    for (raft_index i = r->handed + 1; i <= to; i++) {
        size_t b = raft_entry_bytes(raft_log_get(&r->log, i));
        if (n && r->opt.max_apply_bytes && bytes + b > r->opt.max_apply_bytes)
            break;
        bytes += b;
        n++;
    }
    if (!n)
        return RAFT_OK;
    if (copy_entries(raft_log_get(&r->log, r->handed + 1), n, &rd->committed))
        return RAFT_ERR_NOMEM;
    rd->n_committed = n;
    r->handed += n;
    return RAFT_OK;
}

static int take_entries(raft *r, struct raft_ready *rd)
{
    raft_index last = raft_log_last(&r->log);
    if (last <= r->written)
        return RAFT_OK;
    size_t n = (size_t)(last - r->written);
    if (copy_entries(raft_log_get(&r->log, r->written + 1), n, &rd->entries))
        return RAFT_ERR_NOMEM;
    rd->n_entries = n;
    r->written = last;
    return RAFT_OK;
}

static void take_state(raft *r, struct raft_ready *rd)
{
    if (r->term != r->prev_hs.term || r->vote != r->prev_hs.vote) {
        rd->has_hardstate = 1;
        rd->hs.term = r->term;
        rd->hs.vote = r->vote;
        r->prev_hs = rd->hs;
    }
    raft_softstate ss = softstate(r);
    rd->ss = ss;
    if (ss.leader != r->prev_ss.leader || ss.role != r->prev_ss.role ||
        ss.learner != r->prev_ss.learner) {
        rd->has_softstate = 1;
        r->prev_ss = ss;
    }
    rd->config_changed = r->cfg_changed;
    r->cfg_changed = 0;
    if (r->need_trunc) {
        rd->truncate = 1;
        rd->truncate_after = r->trunc_after;
        r->need_trunc = 0;
    }
    rd->snapshot = r->install;
    r->install = NULL;
}

static void leader_flush(raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    if (r->need_read_round)
        raft_reads_start_round(r);
    if (r->need_bcast || r->need_bcast_commit) {
        int commit = r->need_bcast_commit;
        r->need_bcast = r->need_bcast_commit = 0;
        raft_bcast_append(r, commit);
    }
}

int raft_ready(raft *r, struct raft_ready *rd)
{
    memset(rd, 0, sizeof *rd);
    if (r->broken)
        return RAFT_ERR_NOMEM;
    leader_flush(r);
    if (raft_grow((void **)&r->outs, &r->cap_outs, r->n_outs + 1,
                  sizeof *r->outs))
        return raft_fail(r, RAFT_ERR_NOMEM);
    take_state(r, rd);
    if (take_entries(r, rd) || take_committed(r, rd)) {
        raft_ready_free(rd);
        return raft_fail(r, RAFT_ERR_NOMEM);
    }
    rd->msgs = r->msgs.v;
    rd->n_msgs = r->msgs.n;
    rd->msgs_persisted = r->msgs_persisted.v;
    rd->n_msgs_persisted = r->msgs_persisted.n;
    rd->reads = r->reads;
    rd->n_reads = r->n_reads;
    memset(&r->msgs, 0, sizeof r->msgs);
    memset(&r->msgs_persisted, 0, sizeof r->msgs_persisted);
    r->reads = NULL;
    r->n_reads = r->cap_reads = 0;
    raft_outstanding *o = &r->outs[r->n_outs++];
    o->seq = rd->seq_ = ++r->next_ready_seq;
    o->stable_to = r->written;
    o->snapshot = rd->snapshot ? rd->snapshot->index : 0;
    return r->broken ? RAFT_ERR_NOMEM : RAFT_OK;
}

int raft_advance(raft *r, struct raft_ready *rd)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (!r->n_outs || r->outs[0].seq != rd->seq_)
        return RAFT_ERR_INVALID;
    raft_outstanding o = r->outs[0];
    memmove(r->outs, r->outs + 1, (r->n_outs - 1) * sizeof *r->outs);
    r->n_outs--;
    raft_ready_free(rd);
    if (o.stable_to > r->stable)
        r->stable = o.stable_to;
    if (o.snapshot > r->applied)
        r->applied = o.snapshot;
    raft_progress *self = raft_progress_of(r, r->opt.id);
    if (r->role == RAFT_LEADER && self && r->stable > self->match) {
        self->match = r->stable;
        self->next = r->stable + 1;
        raft_maybe_commit(r);
    }
    return r->broken ? RAFT_ERR_NOMEM : RAFT_OK;
}

void raft_ready_free(struct raft_ready *rd)
{
    free_entries(rd->entries, rd->n_entries);
    free_entries(rd->committed, rd->n_committed);
    raft_msgs_free(rd->msgs, rd->n_msgs);
    raft_msgs_free(rd->msgs_persisted, rd->n_msgs_persisted);
    free(rd->reads);
    free((void *)rd->snapshot);
    memset(rd, 0, sizeof *rd);
}

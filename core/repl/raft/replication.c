/* SPDX-License-Identifier: MIT */
/*
 * replication.c: the leader's log going out and the followers' coming
 * back. Proposals only append to the leader's log and mark it dirty; the
 * appends go out when the glue takes a ready, so everything proposed since
 * the last ready travels in one message per follower (batching). A
 * follower in REPLICATE gets further appends before it answers the
 * previous ones (pipelining) within its inflight window. A rejection
 * carries a hint (the follower's last index whose term is not above the
 * leader's prev term), so a diverging follower is repaired in about one
 * round trip per term instead of one per entry.
 *
 * The commit rule: the highest index a quorum of voters has durably
 * stored, counted only when that entry is of the leader's term (earlier
 * terms' entries commit under it, never by counting: Figure 8 of the Raft
 * paper).
 */
#include "raft-internal.h"

#include <stdlib.h>
#include <string.h>

int raft_append_local(raft *r, uint32_t type, blob *data)
{
    raft_entry e = {0};
    e.index = raft_log_last(&r->log) + 1;
    e.term = r->term;
    e.type = type;
    e.data = data;
    if (raft_log_append(&r->log, &e) != RAFT_OK)
        return raft_fail(r, RAFT_ERR_NOMEM);
    r->uncommitted_bytes += raft_entry_bytes(&e);
    r->need_bcast = 1;
    if (type == RAFT_ENTRY_CONF && raft_config_refresh(r) != RAFT_OK)
        return raft_fail(r, RAFT_ERR_NOMEM);
    /* A cluster of one commits as soon as its own log is durable: that is
     * raft_advance's business. */
    return RAFT_OK;
}

int raft_propose(raft *r, blob *data, raft_index *index, raft_term *term,
                 raft_id *leader_hint)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (leader_hint)
        *leader_hint = r->role == RAFT_LEADER ? r->opt.id : r->leader;
    if (r->role != RAFT_LEADER)
        return RAFT_ERR_NOT_LEADER;
    if (r->transferee) {
        if (leader_hint)
            *leader_hint = r->transferee;
        return RAFT_ERR_TRANSFERRING;
    }
    size_t len = data ? data->len : 0;
    if (r->opt.max_uncommitted_bytes && r->uncommitted_bytes &&
        r->uncommitted_bytes + len > r->opt.max_uncommitted_bytes)
        return RAFT_ERR_BUSY;
    int rc = raft_append_local(r, RAFT_ENTRY_NORMAL, data);
    if (rc != RAFT_OK)
        return rc;
    if (index)
        *index = raft_log_last(&r->log);
    if (term)
        *term = r->term;
    return RAFT_OK;
}

/* ---- leader: sending ---------------------------------------------------- */

/* How many entries from `from` fit in one message (at least one). */
static size_t batch_len(const raft *r, raft_index from, size_t *bytes)
{
    raft_index last = raft_log_last(&r->log);
    size_t n = 0, sum = 0;
    for (raft_index i = from; i <= last; i++) {
        size_t b = raft_entry_bytes(raft_log_get(&r->log, i));
        if (n && ((r->opt.max_msg_bytes && sum + b > r->opt.max_msg_bytes) ||
                  n == RAFT_MAX_APPEND_ENTRIES))
            break;
        sum += b;
        n++;
    }
    *bytes = sum;
    return n;
}

void raft_send_append(raft *r, raft_progress *p, int even_empty)
{
    if (raft_progress_paused(p, r->opt.max_inflight_bytes))
        return;
    raft_index prev = p->next - 1;
    raft_term prev_term;
    if (raft_log_term(&r->log, prev, &prev_term) != RAFT_OK) {
        raft_send_snapshot(r, p);
        return;
    }
    size_t bytes = 0;
    size_t n = batch_len(r, p->next, &bytes);
    if (!n && !even_empty)
        return;
    raft_msg m = {0};
    m.type = RAFT_MSG_APPEND;
    m.to = p->id;
    m.index = prev;
    m.log_term = prev_term;
    m.commit = r->commit;
    m.seq = r->hb_seq;
    m.n_entries = n;
    m.entries = n ? (raft_entry *)raft_log_get(&r->log, p->next) : NULL;
    if (raft_send(r, &m) != RAFT_OK)
        return;
    raft_progress_sent(p, prev + n, bytes, n);
}

/* Send what the window allows. */
static void send_more(raft *r, raft_progress *p)
{
    raft_index last = raft_log_last(&r->log);
    while (!r->broken && p->next <= last &&
           !raft_progress_paused(p, r->opt.max_inflight_bytes)) {
        raft_index before = p->next;
        uint8_t state = p->state;
        raft_send_append(r, p, 0);
        if (p->next == before && p->state == state &&
            p->state == RAFT_PROGRESS_REPLICATE)
            break; /* nothing went out */
    }
}

void raft_bcast_append(raft *r, int even_empty)
{
    for (unsigned i = 0; i < r->n_prs; i++) {
        raft_progress *p = &r->prs[i];
        if (p->id == r->opt.id)
            continue;
        if (even_empty)
            raft_send_append(r, p, 1);
        send_more(r, p);
    }
}

void raft_bcast_heartbeat(raft *r)
{
    for (unsigned i = 0; i < r->n_prs; i++) {
        raft_progress *p = &r->prs[i];
        if (p->id == r->opt.id)
            continue;
        raft_msg m = {0};
        m.type = RAFT_MSG_HEARTBEAT;
        m.to = p->id;
        m.commit = p->match < r->commit ? p->match : r->commit;
        m.seq = r->hb_seq;
        raft_send(r, &m);
    }
}

/* ---- commit ------------------------------------------------------------- */

static int cmp_desc(const void *a, const void *b)
{
    raft_index x = *(const raft_index *)a, y = *(const raft_index *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

void raft_commit_to(raft *r, raft_index index)
{
    if (index <= r->commit)
        return;
    if (r->role == RAFT_LEADER) {
        for (raft_index i = r->commit + 1; i <= index; i++) {
            size_t b = raft_entry_bytes(raft_log_get(&r->log, i));
            r->uncommitted_bytes -= b < r->uncommitted_bytes ? b
                                                             : r->uncommitted_bytes;
        }
    }
    r->commit = index;
    if (r->role == RAFT_LEADER) {
        r->need_bcast_commit = 1;
        raft_reads_on_commit(r);
        raft_leader_check_removed(r);
    }
}

int raft_maybe_commit(raft *r)
{
    raft_index m[RAFT_MAX_SERVERS];
    unsigned n = 0;
    for (unsigned i = 0; i < r->n_prs; i++)
        if (!r->prs[i].learner)
            m[n++] = r->prs[i].match;
    unsigned q = raft_quorum(r);
    if (n < q)
        return 0;
    qsort(m, n, sizeof m[0], cmp_desc);
    raft_index idx = m[q - 1];
    raft_term t;
    if (idx <= r->commit || raft_log_term(&r->log, idx, &t) != RAFT_OK ||
        t != r->term)
        return 0;
    raft_commit_to(r, idx);
    return 1;
}

/* ---- leader: answers ---------------------------------------------------- */

static void heard_from(raft *r, raft_progress *p, uint64_t seq)
{
    p->recent_active = 1;
    p->last_heard = r->now;
    if (seq > p->read_seq) {
        p->read_seq = seq;
        raft_reads_on_ack(r);
    }
}

/* Where to probe next after a rejection with hint (index, term): skip
 * every entry of ours above the hint whose term is above the follower's
 * term there; those cannot match. */
static raft_index next_guess(const raft *r, raft_index hint, raft_term term)
{
    raft_index last = raft_log_last(&r->log);
    raft_index k = hint < last ? hint : last;
    if (k < r->log.offset)
        return k + 1; /* compacted: a snapshot it will be */
    raft_term t;
    while (k > r->log.offset && raft_log_term(&r->log, k, &t) == RAFT_OK &&
           t > term)
        k--;
    return k + 1;
}

static void on_accept(raft *r, raft_progress *p, raft_index index)
{
    int moved = raft_progress_update(p, index);
    if (p->state == RAFT_PROGRESS_PROBE ||
        (p->state == RAFT_PROGRESS_SNAPSHOT && p->match >= p->pending_snapshot)) {
        raft_progress_become_replicate(p);
        moved = 1;
    }
    if (moved) {
        p->progress_at = r->now;
        raft_maybe_commit(r);
        if (r->role != RAFT_LEADER)
            return; /* it committed our own removal */
    }
    send_more(r, p);
    raft_transfer_check(r, p);
}

void raft_handle_append_resp(raft *r, const raft_msg *m)
{
    raft_progress *p = raft_progress_of(r, m->from);
    if (!p)
        return;
    heard_from(r, p, m->seq);
    if (!m->reject) {
        on_accept(r, p, m->index);
        return;
    }
    if (p->state == RAFT_PROGRESS_SNAPSHOT)
        return;
    raft_index guess = next_guess(r, m->reject_hint, m->log_term);
    if (raft_progress_decrease(p, m->index, guess))
        raft_send_append(r, p, 1);
}

void raft_handle_heartbeat_resp(raft *r, const raft_msg *m)
{
    raft_progress *p = raft_progress_of(r, m->from);
    if (!p)
        return;
    heard_from(r, p, m->seq);
    raft_index last = raft_log_last(&r->log);
    if (p->state == RAFT_PROGRESS_PROBE)
        p->probe_sent = 0;
    /* Appends lost on the way leave a pipelined follower waiting for
     * entries we think are in flight: without progress for an election
     * timeout, probe again from its match. */
    if (p->state == RAFT_PROGRESS_REPLICATE && p->match < last &&
        r->now - p->progress_at >= r->opt.election_tick) {
        raft_progress_become_probe(p);
        p->progress_at = r->now;
    }
    /* Behind: an append (empty if all is in flight) that the follower
     * rejects at once if earlier appends were lost on the way. */
    if (p->match < last)
        raft_send_append(r, p, 1);
}

/* ---- follower ----------------------------------------------------------- */

void raft_note_truncation(raft *r, raft_index from)
{
    raft_index keep = from - 1;
    raft_drop_acks(r, from);
    if (from <= r->written) {
        if (!r->need_trunc || keep < r->trunc_after)
            r->trunc_after = keep;
        r->need_trunc = 1;
        r->written = keep;
    }
    if (r->stable > keep)
        r->stable = keep;
    for (size_t i = 0; i < r->n_outs; i++)
        if (r->outs[i].stable_to > keep)
            r->outs[i].stable_to = keep;
}

int raft_store_entries(raft *r, const raft_entry *e, size_t n)
{
    int conf = 0, cut = 0;
    /* raft_msg_check let only consecutive entries of sane terms in */
    for (size_t k = 1; k < n; k++)
        LMS_ASSERT(e[k].index == e[k - 1].index + 1 &&
                   e[k].term >= e[k - 1].term && e[k].term <= r->term);
    raft_index last = raft_log_last(&r->log);
    size_t i = 0;
    for (; i < n; i++) {
        raft_term t;
        if (e[i].index <= r->log.offset)
            continue; /* covered by our snapshot: committed, same */
        if (e[i].index > last || raft_log_term(&r->log, e[i].index, &t) ||
            t != e[i].term)
            break;
    }
    if (i < n && e[i].index <= last) {
        if (e[i].index <= r->commit)
            return RAFT_ERR_INVALID; /* a committed entry conflicts */
        if (e[i].index <= r->cfg_index)
            cut = 1;
        raft_log_truncate(&r->log, e[i].index);
        raft_note_truncation(r, e[i].index);
    }
    for (; i < n; i++) {
        if (raft_log_append(&r->log, &e[i]) != RAFT_OK)
            return raft_fail(r, RAFT_ERR_NOMEM);
        conf |= e[i].type == RAFT_ENTRY_CONF;
    }
    if ((conf || cut) && raft_config_refresh(r) != RAFT_OK)
        return raft_fail(r, RAFT_ERR_NOMEM);
    return RAFT_OK;
}

/* The follower's guess for a rejected append at (index, term): the last
 * index at or below it whose term is not above term. */
static raft_index reject_hint(const raft *r, raft_index index, raft_term term,
                              raft_term *hint_term)
{
    raft_index last = raft_log_last(&r->log);
    raft_index k = index < last ? index : last;
    raft_term t = 0;
    raft_log_term(&r->log, k, &t);
    while (k > r->log.offset && t > term) {
        k--;
        raft_log_term(&r->log, k, &t);
    }
    *hint_term = t;
    return k;
}

void raft_handle_append(raft *r, const raft_msg *m)
{
    raft_msg resp = {0};
    resp.type = RAFT_MSG_APPEND_RESP;
    resp.to = m->from;
    resp.seq = m->seq;
    raft_term t;
    if (m->index < r->commit) {
        resp.index = r->commit;
    } else if (raft_log_term(&r->log, m->index, &t) == RAFT_OK &&
               t == m->log_term) {
        int rc = raft_store_entries(r, m->entries, m->n_entries);
        if (rc != RAFT_OK) {
            r->step_err = rc;
            return;
        }
        raft_index last_new = m->index + m->n_entries;
        raft_commit_to(r, m->commit < last_new ? m->commit : last_new);
        resp.index = last_new;
    } else {
        resp.reject = 1;
        resp.index = m->index;
        resp.reject_hint = reject_hint(r, m->index, m->log_term, &resp.log_term);
    }
    raft_send(r, &resp);
}

void raft_handle_heartbeat(raft *r, const raft_msg *m)
{
    raft_index last = raft_log_last(&r->log);
    raft_commit_to(r, m->commit < last ? m->commit : last);
    raft_msg resp = {0};
    resp.type = RAFT_MSG_HEARTBEAT_RESP;
    resp.to = m->from;
    resp.seq = m->seq;
    raft_send(r, &resp);
}

/* SPDX-License-Identifier: MIT */
/*
 * election.c: roles and how they change. Timers run on ticks; a follower
 * whose leader goes quiet for its randomized timeout (election_tick ..
 * 2*election_tick-1) first asks in a PreVote round whether it could win,
 * without touching its term, so a node that was cut off cannot disrupt a
 * healthy cluster when it comes back. Only a quorum of pre-votes makes it
 * a candidate. Votes go to candidates whose log is at least as up to date
 * as the voter's; a node that heard from a live leader within the
 * election timeout ignores vote requests (the leader lease that goes with
 * CheckQuorum), unless they come from a leadership transfer. A leader
 * that has not heard from a quorum within an election timeout steps down.
 */
#include "raft-internal.h"

#include <string.h>

void raft_reset_timers(raft *r)
{
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    r->timeout = r->opt.election_tick +
                 (unsigned)(raft_rand(r) % r->opt.election_tick);
}

static void leave_leadership(raft *r)
{
    raft_reads_drop(r);
    raft_transfer_abort(r);
    r->need_bcast = r->need_bcast_commit = 0;
    r->need_read_round = 0;
}

void raft_become_follower(raft *r, raft_term term, raft_id leader)
{
    LMS_ASSERT(term >= r->term && term < RAFT_TERM_MAX);
    if (r->role == RAFT_LEADER)
        leave_leadership(r);
    if (term != r->term) {
        r->term = term;
        r->vote = 0;
        r->term_at = r->now;
    }
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->n_votes = 0;
    raft_reset_timers(r);
}

void raft_become_leader(raft *r)
{
    r->role = RAFT_LEADER;
    r->leader = r->opt.id;
    r->transferee = 0;
    r->n_votes = 0;
    raft_reset_timers(r);
    raft_index last = raft_log_last(&r->log);
    for (unsigned i = 0; i < r->n_prs; i++) {
        raft_progress *p = &r->prs[i];
        raft_progress_reset(p, last + 1);
        p->recent_active = 1; /* give everyone one timeout to answer */
        p->last_heard = p->progress_at = r->now;
        if (p->id == r->opt.id) {
            p->match = r->stable;
            raft_progress_become_replicate(p);
        }
    }
    r->uncommitted_bytes = 0;
    for (raft_index i = r->commit + 1; i <= last; i++)
        r->uncommitted_bytes += raft_entry_bytes(raft_log_get(&r->log, i));
    /* Entries of earlier terms commit only under one of ours. */
    raft_append_local(r, RAFT_ENTRY_NORMAL, NULL);
}

static void record_vote(raft *r, raft_id id, int granted)
{
    for (unsigned i = 0; i < r->n_votes; i++)
        if (r->votes[i].id == id)
            return; /* the first answer counts */
    if (r->n_votes < RAFT_MAX_SERVERS) {
        r->votes[r->n_votes].id = id;
        r->votes[r->n_votes].granted = (uint8_t)granted;
        r->n_votes++;
    }
}

/* 1: won, -1: lost, 0: undecided. */
static int tally(const raft *r)
{
    unsigned yes = 0, no = 0, voters = 0;
    for (uint32_t i = 0; i < r->cfg.n; i++) {
        const raft_server *s = &r->cfg.servers[i];
        if (s->role != RAFT_VOTER)
            continue;
        voters++;
        for (unsigned k = 0; k < r->n_votes; k++)
            if (r->votes[k].id == s->id) {
                if (r->votes[k].granted)
                    yes++;
                else
                    no++;
            }
    }
    unsigned q = voters / 2 + 1;
    if (yes >= q)
        return 1;
    if (voters - no < q)
        return -1;
    return 0;
}

static void request_votes(raft *r, int pre_vote, int transfer)
{
    for (uint32_t i = 0; i < r->cfg.n; i++) {
        const raft_server *s = &r->cfg.servers[i];
        if (s->role != RAFT_VOTER || s->id == r->opt.id)
            continue;
        raft_msg m = {0};
        m.type = pre_vote ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE;
        m.to = s->id;
        m.term = pre_vote ? r->term + 1 : r->term;
        m.index = raft_log_last(&r->log);
        m.log_term = raft_log_last_term(&r->log);
        m.transfer = (uint8_t)transfer;
        raft_send(r, &m);
    }
}

void raft_start_election(raft *r, int pre_vote, int transfer)
{
    if (r->role == RAFT_LEADER || !raft_is_voter(r, r->opt.id))
        return;
    /* Terms come only from restore() and checked messages, so below
     * RAFT_TERM_MAX: the next one (a pre-vote's included) never wraps. */
    LMS_ASSERT(r->term < RAFT_TERM_MAX);
    if (r->term + 1 >= RAFT_TERM_MAX)
        return; /* no term after the last one: this node cannot campaign */
    if (pre_vote) {
        r->role = RAFT_PRECANDIDATE;
    } else {
        r->term++;
        r->term_at = r->now;
        r->vote = r->opt.id;
        r->role = RAFT_CANDIDATE;
    }
    r->leader = 0;
    r->n_votes = 0;
    raft_reset_timers(r);
    record_vote(r, r->opt.id, 1);
    if (tally(r) > 0) {
        if (pre_vote)
            raft_start_election(r, 0, transfer);
        else
            raft_become_leader(r);
        return;
    }
    request_votes(r, pre_vote, transfer);
}

int raft_tick_election(raft *r)
{
    r->election_elapsed++;
    if (r->election_elapsed >= r->timeout && raft_is_voter(r, r->opt.id))
        raft_start_election(r, r->opt.pre_vote, 0);
    return RAFT_OK;
}

static int quorum_active(raft *r)
{
    unsigned active = 0;
    for (unsigned i = 0; i < r->n_prs; i++) {
        raft_progress *p = &r->prs[i];
        if (!p->learner && (p->recent_active || p->id == r->opt.id))
            active++;
        if (p->id != r->opt.id)
            p->recent_active = 0;
    }
    return active >= raft_quorum(r);
}

int raft_tick_leader(raft *r)
{
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->transferee && ++r->transfer_elapsed >= r->opt.election_tick)
        raft_transfer_abort(r);
    if (r->election_elapsed >= r->opt.election_tick) {
        r->election_elapsed = 0;
        if (!quorum_active(r) && r->opt.check_quorum) {
            raft_become_follower(r, r->term, 0);
            return RAFT_OK;
        }
    }
    if (r->heartbeat_elapsed >= r->opt.heartbeat_tick) {
        r->heartbeat_elapsed = 0;
        raft_bcast_heartbeat(r);
    }
    return RAFT_OK;
}

static int log_up_to_date(const raft *r, raft_term last_term, raft_index last)
{
    raft_term mine = raft_log_last_term(&r->log);
    return last_term > mine ||
           (last_term == mine && last >= raft_log_last(&r->log));
}

void raft_handle_vote(raft *r, const raft_msg *m)
{
    int pre = m->type == RAFT_MSG_PREVOTE;
    int free_to_vote = r->vote == m->from || (!r->vote && !r->leader) ||
                       (pre && m->term > r->term);
    raft_msg resp = {0};
    resp.type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
    resp.to = m->from;
    if (free_to_vote && log_up_to_date(r, m->log_term, m->index)) {
        resp.term = m->term;
        if (!pre) {
            r->vote = m->from;
            r->election_elapsed = 0;
        }
    } else {
        resp.term = r->term;
        resp.reject = 1;
    }
    raft_send(r, &resp);
}

void raft_handle_vote_resp(raft *r, const raft_msg *m)
{
    int pre = m->type == RAFT_MSG_PREVOTE_RESP;
    if (r->role != (pre ? RAFT_PRECANDIDATE : RAFT_CANDIDATE))
        return;
    if (pre && !m->reject && m->term != r->term + 1)
        return; /* a grant for an older round */
    if (!raft_is_voter(r, m->from))
        return;
    record_vote(r, m->from, !m->reject);
    int t = tally(r);
    if (t > 0 && pre)
        raft_start_election(r, 0, 0);
    else if (t > 0)
        raft_become_leader(r);
    else if (t < 0)
        raft_become_follower(r, r->term, 0);
}

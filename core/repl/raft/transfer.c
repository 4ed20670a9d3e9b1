/* SPDX-License-Identifier: MIT */
/*
 * transfer.c: leadership transfer (Raft thesis 3.10). The leader stops
 * taking proposals, brings the target's log up to its own, then sends it
 * TimeoutNow; the target campaigns at once, skipping PreVote, and its
 * vote requests carry a flag that lets them through the other voters'
 * leader lease. If the target does not take over within an election
 * timeout, the leader gives up and takes proposals again.
 */
#include "raft-internal.h"

static void timeout_now(raft *r, raft_id to)
{
    raft_msg m = {0};
    m.type = RAFT_MSG_TIMEOUT_NOW;
    m.to = to;
    raft_send(r, &m);
}

int raft_transfer_leadership(raft *r, raft_id to)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (r->role != RAFT_LEADER)
        return RAFT_ERR_NOT_LEADER;
    if (to == r->opt.id || !raft_is_voter(r, to))
        return RAFT_ERR_INVALID;
    if (r->transferee == to)
        return RAFT_OK;
    raft_progress *p = raft_progress_of(r, to);
    if (!p)
        return RAFT_ERR_INVALID;
    r->transferee = to;
    r->transfer_elapsed = 0;
    r->timeout_now_sent = 0;
    raft_transfer_check(r, p);
    if (!r->timeout_now_sent)
        raft_send_append(r, p, 1);
    return r->broken ? RAFT_ERR_NOMEM : RAFT_OK;
}

/* After p's log moved: is the target caught up? */
void raft_transfer_check(raft *r, raft_progress *p)
{
    if (r->transferee != p->id || r->timeout_now_sent ||
        p->match != raft_log_last(&r->log))
        return;
    r->timeout_now_sent = 1;
    timeout_now(r, p->id);
}

void raft_transfer_abort(raft *r)
{
    r->transferee = 0;
    r->transfer_elapsed = 0;
    r->timeout_now_sent = 0;
}

void raft_handle_timeout_now(raft *r, const raft_msg *m)
{
    (void)m;
    if (r->role != RAFT_LEADER && raft_is_voter(r, r->opt.id))
        raft_start_election(r, 0, 1);
}

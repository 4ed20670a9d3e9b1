/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c: snapshots and compaction as the library sees them. The
 * application owns the snapshot data (lms: the storage plugin's logical
 * stream); the library only knows its metadata: index, term and the
 * configuration there. The glue takes a snapshot at an applied index
 * (raft_snapshot_meta_at gives the metadata), reports it durable
 * (raft_snapshot_done) and compacts the in-memory log behind it
 * (raft_compact) by its own policy.
 *
 * A follower that needs compacted entries gets a RAFT_MSG_SNAPSHOT in the
 * leader's ready: the glue streams the data and reports the outcome. On
 * the receiving side, the glue steps the message once the data is in
 * hand; the follower either already has the entries (fast-forward) or
 * drops its log and hands the snapshot out for installing.
 */
#include "raft-internal.h"

#include <stdlib.h>
#include <string.h>

int raft_snapshot_meta_at(raft *r, raft_index index, raft_snapshot_meta *out)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (index > r->commit)
        return RAFT_ERR_INVALID;
    raft_term t;
    int rc = raft_log_term(&r->log, index, &t);
    if (rc != RAFT_OK)
        return rc;
    memset(out, 0, sizeof *out);
    out->index = index;
    out->term = t;
    raft_index at;
    raft_log_config_at(&r->log, index, &out->config, &at);
    return RAFT_OK;
}

int raft_snapshot_done(raft *r, const raft_snapshot_meta *meta)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (meta->index <= r->snap.index)
        return RAFT_OK;
    raft_term t;
    if (meta->index > r->commit ||
        (raft_log_term(&r->log, meta->index, &t) == RAFT_OK && t != meta->term))
        return RAFT_ERR_INVALID;
    r->snap = *meta;
    return RAFT_OK;
}

int raft_compact(raft *r, raft_index index)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (index > r->snap.index || index > r->applied)
        return RAFT_ERR_INVALID;
    return raft_log_compact(&r->log, index);
}

void raft_send_snapshot(raft *r, raft_progress *p)
{
    if (!r->snap.index)
        return; /* cannot be: the log is compacted only behind a snapshot */
    raft_progress_become_snapshot(p, r->snap.index);
    raft_msg m = {0};
    m.type = RAFT_MSG_SNAPSHOT;
    m.to = p->id;
    m.snapshot = &r->snap;
    raft_send(r, &m);
}

int raft_report_snapshot(raft *r, raft_id to, int ok)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    raft_progress *p = raft_progress_of(r, to);
    if (r->role != RAFT_LEADER || !p || p->state != RAFT_PROGRESS_SNAPSHOT)
        return RAFT_OK;
    if (!ok)
        p->pending_snapshot = 0;
    raft_progress_become_probe(p);
    /* Wait for the follower's answer to the snapshot, or the next
     * heartbeat answer, before probing. */
    p->probe_sent = 1;
    return RAFT_OK;
}

int raft_report_unreachable(raft *r, raft_id to)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    raft_progress *p = raft_progress_of(r, to);
    if (r->role == RAFT_LEADER && p && p->state == RAFT_PROGRESS_REPLICATE)
        raft_progress_become_probe(p);
    return RAFT_OK;
}

/* Drop the log and take the snapshot's state; the next ready hands it
 * out. Durable bookkeeping: nothing we wrote before survives it. */
static int install(raft *r, const raft_snapshot_meta *s)
{
    raft_snapshot_meta *copy = malloc(sizeof *copy);
    if (!copy)
        return raft_fail(r, RAFT_ERR_NOMEM);
    *copy = *s;
    free(r->install);
    r->install = copy;
    raft_drop_acks(r, 0);
    raft_log_reset(&r->log, s);
    r->snap = *s;
    r->commit = r->handed = s->index;
    r->need_trunc = 0;
    r->written = s->index;
    if (r->stable > s->index)
        r->stable = s->index;
    for (size_t i = 0; i < r->n_outs; i++)
        if (r->outs[i].stable_to > s->index)
            r->outs[i].stable_to = s->index;
    return raft_config_refresh(r) != RAFT_OK ? raft_fail(r, RAFT_ERR_NOMEM)
                                              : RAFT_OK;
}

void raft_handle_snapshot(raft *r, const raft_msg *m)
{
    const raft_snapshot_meta *s = m->snapshot;
    raft_msg resp = {0};
    resp.type = RAFT_MSG_APPEND_RESP;
    resp.to = m->from;
    raft_term t;
    if (s->index <= r->commit) {
        resp.index = r->commit;
    } else if (raft_log_term(&r->log, s->index, &t) == RAFT_OK &&
               t == s->term) {
        /* We have its last entry, so every entry before it: just commit. */
        raft_commit_to(r, s->index);
        resp.index = s->index;
    } else {
        if (install(r, s) != RAFT_OK)
            return;
        resp.index = s->index;
    }
    raft_send(r, &resp);
}

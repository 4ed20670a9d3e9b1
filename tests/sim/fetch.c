/* SPDX-License-Identifier: MIT */
/*
 * fetch.c: see fetch.h. fetch_serve follows node_serve_fetch and its
 * serve_piece line by line (the in-memory log, prev before the piece,
 * nothing when the asker's prev differs, the compacted answer with the
 * snapshot); fetch_apply builds the PeerFetchReply that
 * repair_plan_reply reads.
 */
#include "fetch.h"

#include <stdlib.h>
#include <string.h>

void fetch_request(const repair_plan *p, fetch_ask *a)
{
    Lms__PeerFetch f = LMS__PEER_FETCH__INIT;
    repair_plan_request(p, &f);
    a->from_index = f.from_index;
    a->prev_index = f.prev_index;
    a->prev_term = f.prev_term;
    a->want_snapshot = f.want_snapshot;
    a->term = f.term;
}

/* The leader's piece after prev: entries from its in-memory log. */
static void collect(raft *r, raft_index prev, size_t max, fetch_reply *out)
{
    out->ents = calloc(max ? max : 1, sizeof *out->ents);
    raft_entry e;
    while (out->n_ents < max &&
           raft_entry_at(r, prev + 1 + out->n_ents, &e) == RAFT_OK) {
        if (e.data)
            blob_ref(e.data);
        out->ents[out->n_ents++] = e;
    }
}

void fetch_serve(raft *r, const raft_snapshot_meta *snap, const fetch_ask *a,
                 size_t max, fetch_reply *out)
{
    memset(out, 0, sizeof *out);
    if (!r)
        return; /* repairing itself: no term, no leader */
    if (a->term > raft_get_term(r)) /* the caller pumps the ready */
        raft_observe_term(r, a->term);
    out->leader = raft_get_leader(r);
    out->term = raft_get_term(r);
    if (raft_get_role(r) != RAFT_LEADER)
        return;
    out->is_leader = 1;
    out->last_index = raft_get_last_index(r);
    raft_index prev = a->from_index - 1 < out->last_index ? a->from_index - 1
                                                          : out->last_index;
    raft_term pt = 0;
    int rc = raft_term_at(r, prev, &pt);
    if (rc == RAFT_ERR_COMPACTED && snap->index > prev &&
        snap->index <= out->last_index) {
        out->error = "those entries were compacted behind a snapshot";
        out->snap_index = snap->index;
        out->snap_term = snap->term;
        return;
    }
    if (rc != RAFT_OK) {
        out->error = "the entry before from_index cannot be read";
        return;
    }
    out->prev_index = prev;
    out->prev_term = pt;
    if ((a->prev_term && a->prev_index == prev && a->prev_term != pt) ||
        prev == out->last_index)
        return;
    collect(r, prev, max, out);
}

repair_step fetch_apply(repair_plan *p, raft_id from, const fetch_reply *r,
                        int64_t now_ms)
{
    Lms__PeerFetchReply pb = LMS__PEER_FETCH_REPLY__INIT;
    Lms__PeerEntry *pe = calloc(r->n_ents + 1, sizeof *pe);
    Lms__PeerEntry **pp = calloc(r->n_ents + 1, sizeof *pp);
    pb.is_leader = r->is_leader;
    pb.leader = r->leader;
    pb.term = r->term;
    pb.last_index = r->last_index;
    pb.prev_index = r->prev_index;
    pb.prev_term = r->prev_term;
    pb.error = (char *)(r->error ? r->error : "");
    pb.snapshot_index = r->snap_index;
    pb.snapshot_term = r->snap_term;
    for (size_t i = 0; i < r->n_ents; i++) {
        lms__peer_entry__init(&pe[i]);
        pe[i].index = r->ents[i].index;
        pe[i].term = r->ents[i].term;
        pe[i].type = r->ents[i].type;
        pp[i] = &pe[i];
    }
    pb.entries = pp;
    pb.n_entries = r->n_ents;
    repair_step s = repair_plan_reply(p, from, &pb, now_ms);
    free(pe);
    free(pp);
    return s;
}

void fetch_reply_copy(fetch_reply *dst, const fetch_reply *src)
{
    *dst = *src;
    dst->ents = NULL;
    if (!src->n_ents)
        return;
    dst->ents = malloc(src->n_ents * sizeof *dst->ents);
    memcpy(dst->ents, src->ents, src->n_ents * sizeof *dst->ents);
    for (size_t i = 0; i < src->n_ents; i++)
        if (dst->ents[i].data)
            blob_ref(dst->ents[i].data);
}

void fetch_reply_free(fetch_reply *r)
{
    for (size_t i = 0; i < r->n_ents; i++)
        blob_unref(r->ents[i].data);
    free(r->ents);
    r->ents = NULL;
    r->n_ents = 0;
}

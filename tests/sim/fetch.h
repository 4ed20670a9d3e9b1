/* SPDX-License-Identifier: MIT */
/*
 * fetch.h: lmsd's log-repair exchange (PeerFetch / PeerFetchReply, see
 * proto/peer.proto) without the wire, for the simulator and the story
 * tests. The leader side answers as core/repl/node_repair.c's node_serve_fetch
 * does, from a running core/repl/raft; the asker side hands each answer to
 * core/repl/repair_plan.c itself, so what is tested is the node's own decision
 * code.
 */
#ifndef LMS_TESTS_SIM_FETCH_H
#define LMS_TESTS_SIM_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "raft.h"
#include "repair_plan.h"

/* PeerFetch: the entries after (prev_index, prev_term). */
typedef struct fetch_ask {
    raft_index from_index, prev_index;
    raft_term prev_term; /* 0: not given (the old repair never gave it) */
    raft_term term;      /* the asker's durable term (its plan's floor) */
    int want_snapshot;
} fetch_ask;

/* PeerFetchReply. */
typedef struct fetch_reply {
    int is_leader;
    raft_id leader;
    raft_term term;
    raft_index last_index;
    raft_index prev_index;
    raft_term prev_term;
    const char *error;          /* a static string, or NULL */
    raft_index snap_index;      /* with error: compacted behind (index, term) */
    raft_term snap_term;
    raft_entry *ents;           /* from prev_index + 1 on; own references */
    size_t n_ents;
} fetch_reply;

/* The request the plan wants sent now. */
void fetch_request(const repair_plan *p, fetch_ask *a);

/*
 * How a node answers a: r is its Raft (NULL while it repairs itself),
 * snap the snapshot its Raft knows (index 0: none). A leader sends at most
 * max entries after prev, or says that they are compacted behind snap.
 */
void fetch_serve(raft *r, const raft_snapshot_meta *snap, const fetch_ask *a,
                 size_t max, fetch_reply *out);

/* Hand the answer of member `from` to the plan (as node_repair_reply). */
repair_step fetch_apply(repair_plan *p, raft_id from, const fetch_reply *r,
                        int64_t now_ms);

void fetch_reply_copy(fetch_reply *dst, const fetch_reply *src);
void fetch_reply_free(fetch_reply *r);

#endif

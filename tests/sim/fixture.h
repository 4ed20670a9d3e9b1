/* SPDX-License-Identifier: MIT */
/*
 * fixture.h: a small, fully controlled cluster for story tests of
 * core/repl/raft. Nothing happens on its own: the test ticks nodes, delivers
 * the queued messages (all, or through a filter that may drop or edit
 * them), cuts links, crashes and restarts nodes. Storage is synchronous:
 * each ready is persisted, its messages queued and its committed entries
 * applied before raft_advance. The state machine is the list of applied
 * command strings.
 */
#ifndef LMS_TESTS_SIM_FIXTURE_H
#define LMS_TESTS_SIM_FIXTURE_H

#include <stddef.h>

#include "raft.h"

#define FX_MAX 8

typedef struct fx_node {
    raft_id id;
    raft *r;
    int alive, joined_late;
    raft_options opts;
    /* durable */
    raft_hardstate hs;
    int has_snap;
    raft_snapshot_meta snap;
    char **snap_state;
    size_t snap_n;
    raft_entry *log; /* after the snapshot, own references */
    size_t n_log, cap_log;
    /* the state machine */
    char **state;
    size_t n_state;
    raft_index applied;
    /* seen */
    raft_read_state reads[64];
    size_t n_reads;
    int truncations, installs;
    raft_softstate ss;
    /* the last snapshot received, waiting for its install */
    int has_stash;
    raft_snapshot_meta stash;
    char **stash_state;
    size_t stash_n;
} fx_node;

typedef struct fx fx;
/* Return 0 to drop m; the filter may edit m (e.g. shorten its entries). */
typedef int (*fx_filter)(fx *f, raft_msg *m, void *arg);

struct fx {
    int n;
    fx_node nodes[FX_MAX];
    raft_config boot;
    raft_msg *q;
    size_t nq, capq;
    unsigned char cut[FX_MAX + 1][FX_MAX + 1];
    fx_filter filter;
    void *filter_arg;
    size_t delivered;
    void (*tweak)(raft_options *o);
};

/* voters nodes 1..voters, bootstrapped; tweak (may be NULL) edits each
 * node's options (defaults: election 10, heartbeat 1, pre-vote and
 * check-quorum on). */
fx *fx_new(int voters, void (*tweak)(raft_options *o));
void fx_free(fx *f);
fx_node *fx_node_of(fx *f, raft_id id);

/* Take and handle every ready of node id. */
void fx_process(fx *f, raft_id id);
/* Tick node id n times (handling its readies, delivering nothing). */
void fx_tick(fx *f, raft_id id, int n);
/* Tick every live node once, then deliver; n rounds. */
void fx_tick_all(fx *f, int n);
/* Deliver queued messages, and the ones they cause, until none is left.
 * Returns how many were delivered. */
size_t fx_deliver(fx *f);
/* Drop every queued message. */
void fx_drop_queue(fx *f);
size_t fx_queued_count(fx *f, raft_id from, raft_id to, raft_msg_type type);

void fx_cut(fx *f, raft_id a, raft_id b);
void fx_isolate(fx *f, raft_id id);
void fx_heal(fx *f);

/* The live leader with the highest term, or 0. */
raft_id fx_leader(fx *f);
/* Make id campaign and deliver until quiet. */
void fx_campaign(fx *f, raft_id id);
int fx_propose(fx *f, raft_id id, const char *cmd, raft_index *index);

void fx_crash(fx *f, raft_id id);
void fx_restart(fx *f, raft_id id);
/* A fresh node that joins later (no bootstrap configuration). */
void fx_add_node(fx *f, raft_id id);
/* Snapshot node id at its applied index; compact the log up to
 * applied - keep. */
void fx_snapshot(fx *f, raft_id id, raft_index keep);

#endif

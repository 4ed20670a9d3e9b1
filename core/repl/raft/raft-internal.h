/* SPDX-License-Identifier: MIT */
/*
 * raft-internal.h: the node's state and the functions the library's files
 * share. Nothing here is part of the API (raft.h is).
 *
 * Where the log stands, in index order:
 *   log.offset      compacted up to here (term and configuration kept)
 *   applied         the application says it applied up to here
 *   handed          committed entries handed out in readies up to here
 *   commit          known committed
 *   stable          durable (readies advanced) and still valid
 *   written         handed to the glue for writing (readies taken)
 *   last            the last entry in memory
 * handed <= commit, handed <= stable <= written <= last; commit may lead
 * last on a follower only transiently (it is capped at append time).
 */
#ifndef LMS_CORE_RAFT_INTERNAL_H
#define LMS_CORE_RAFT_INTERNAL_H

#include "raft.h"
#include "lms_assert.h"

/* ---- the in-memory log (log.c) ----------------------------------------- */

typedef struct raft_log {
    raft_entry *ents;       /* ents[0] has index offset + 1 */
    size_t n, cap;
    raft_index offset;      /* the entry before ents[0] (compacted) */
    raft_term offset_term;
    raft_config offset_cfg; /* the configuration in force at offset */
    size_t bytes;           /* data bytes of ents */
} raft_log;

void raft_log_init(raft_log *l, raft_index offset, raft_term term,
                   const raft_config *cfg);
void raft_log_free(raft_log *l);
raft_index raft_log_last(const raft_log *l);
raft_term raft_log_last_term(const raft_log *l);
int raft_log_term(const raft_log *l, raft_index i, raft_term *t);
/* The entry at i, or NULL outside (offset, last]. */
const raft_entry *raft_log_get(const raft_log *l, raft_index i);
/* Append e (index last + 1), taking a reference on its data. */
int raft_log_append(raft_log *l, const raft_entry *e);
/* Drop entries from index `from` on. */
void raft_log_truncate(raft_log *l, raft_index from);
/* Drop entries up to upto (<= last), keeping upto's term and the
 * configuration in force there. */
int raft_log_compact(raft_log *l, raft_index upto);
/* Drop everything; the log now starts after the snapshot. */
void raft_log_reset(raft_log *l, const raft_snapshot_meta *m);
/* The configuration in force at index i (offset <= i <= last) and the
 * index of the entry that made it (offset if it came from there). */
void raft_log_config_at(const raft_log *l, raft_index i, raft_config *out,
                        raft_index *at);
size_t raft_entry_bytes(const raft_entry *e);

/* ---- per-follower progress (progress.c) -------------------------------- */

typedef struct raft_inflights {
    raft_index *last; /* ring: last index of each append in flight */
    size_t *bytes;
    unsigned start, count, cap;
    size_t total;
} raft_inflights;

typedef struct raft_progress {
    raft_id id;
    uint8_t learner;
    uint8_t state;        /* enum raft_progress_state */
    uint8_t probe_sent;   /* PROBE: an append is out, wait for an answer */
    uint8_t recent_active;
    raft_index match, next;
    raft_index pending_snapshot;
    uint64_t read_seq;    /* highest heartbeat round it answered */
    uint64_t last_heard;  /* r->now when it last answered */
    uint64_t progress_at; /* r->now when match last moved */
    raft_inflights infl;
} raft_progress;

int raft_progress_init(raft_progress *p, raft_id id, unsigned cap);
void raft_progress_free(raft_progress *p);
void raft_progress_reset(raft_progress *p, raft_index next);
void raft_progress_become_probe(raft_progress *p);
void raft_progress_become_replicate(raft_progress *p);
void raft_progress_become_snapshot(raft_progress *p, raft_index index);
/* An accepting answer for index: 1 if match moved. */
int raft_progress_update(raft_progress *p, raft_index index);
/* A rejection of prev index `rejected`, with the leader's best guess
 * `next_guess` of where to retry: 1 if it was not stale. */
int raft_progress_decrease(raft_progress *p, raft_index rejected,
                           raft_index next_guess);
/* May another append be sent now? */
int raft_progress_paused(const raft_progress *p, size_t max_bytes);
void raft_progress_sent(raft_progress *p, raft_index last, size_t bytes,
                        size_t n_entries);

/* ---- the node ----------------------------------------------------------- */

typedef struct raft_vote {
    raft_id id;
    uint8_t granted;
} raft_vote;

typedef struct raft_pending_read {
    uint64_t ctx;
    raft_index index;
    uint64_t seq; /* 0: waits for the leader's first commit of its term */
} raft_pending_read;

/* What an outstanding (taken, not advanced) ready will make durable. */
typedef struct raft_outstanding {
    uint64_t seq;
    raft_index stable_to; /* valid durable log end once it is advanced */
    raft_index snapshot;  /* index of the snapshot it installs, or 0 */
} raft_outstanding;

typedef struct raft_msgs {
    raft_msg *v;
    size_t n, cap;
} raft_msgs;

struct raft {
    raft_options opt;
    uint64_t rng;
    int broken;
    int step_err;  /* a fault found while stepping (RAFT_ERR_INVALID) */

    /* durable */
    raft_term term;
    raft_id vote;

    /* volatile */
    raft_role role;
    raft_id leader;
    raft_index commit, handed, applied;
    raft_log log;
    raft_index written, stable;
    uint8_t need_trunc;
    raft_index trunc_after;
    raft_snapshot_meta snap;        /* latest durable snapshot */
    raft_snapshot_meta *install;    /* a received one for the next ready */

    raft_config cfg;                /* in force: the latest in the log */
    raft_index cfg_index;
    uint8_t cfg_changed;

    uint64_t now;                   /* ticks since start */
    uint64_t term_at;               /* now when the term last changed */
    unsigned election_elapsed, heartbeat_elapsed, timeout;
    unsigned transfer_elapsed;

    raft_vote votes[RAFT_MAX_SERVERS];
    unsigned n_votes;

    /* leader */
    raft_progress prs[RAFT_MAX_SERVERS];
    unsigned n_prs;
    raft_id transferee;
    uint8_t timeout_now_sent;
    uint8_t need_bcast, need_bcast_commit;
    size_t uncommitted_bytes;
    uint64_t hb_seq;                /* heartbeat rounds started */
    uint8_t need_read_round;
    raft_pending_read *preads;
    size_t n_preads, cap_preads;

    /* gathered for the next ready */
    raft_msgs msgs, msgs_persisted;
    raft_read_state *reads;
    size_t n_reads, cap_reads;
    raft_hardstate prev_hs;
    raft_softstate prev_ss;

    raft_outstanding *outs;
    size_t n_outs, cap_outs;
    uint64_t next_ready_seq;
};

/* raft.c */
int raft_fail(raft *r, int code);
int raft_grow(void **v, size_t *cap, size_t need, size_t size);
uint64_t raft_rand(raft *r);
unsigned raft_quorum(const raft *r);
int raft_is_voter(const raft *r, raft_id id);
raft_progress *raft_progress_of(raft *r, raft_id id);

/* election.c */
void raft_become_follower(raft *r, raft_term term, raft_id leader);
void raft_become_leader(raft *r);
void raft_start_election(raft *r, int pre_vote, int transfer);
int raft_tick_election(raft *r);
int raft_tick_leader(raft *r);
void raft_handle_vote(raft *r, const raft_msg *m);
void raft_handle_vote_resp(raft *r, const raft_msg *m);
void raft_reset_timers(raft *r);

/* replication.c */
int raft_append_local(raft *r, uint32_t type, blob *data);
void raft_send_append(raft *r, raft_progress *p, int even_empty);
void raft_bcast_append(raft *r, int even_empty);
void raft_bcast_heartbeat(raft *r);
void raft_handle_append(raft *r, const raft_msg *m);
void raft_handle_append_resp(raft *r, const raft_msg *m);
void raft_handle_heartbeat(raft *r, const raft_msg *m);
void raft_handle_heartbeat_resp(raft *r, const raft_msg *m);
int raft_maybe_commit(raft *r);
/* Follower: store entries from a leader starting at index, replacing a
 * conflicting suffix. */
int raft_store_entries(raft *r, const raft_entry *e, size_t n);
/* The log was cut from index `from`: fix stable/written bookkeeping. */
void raft_note_truncation(raft *r, raft_index from);
void raft_commit_to(raft *r, raft_index index);

/* readindex.c */
void raft_reads_on_commit(raft *r);
void raft_reads_on_ack(raft *r);
void raft_reads_drop(raft *r);
void raft_reads_start_round(raft *r);

/* membership.c */
/* Recompute the configuration from the log (after an append, a
 * truncation or a snapshot) and follow it. */
int raft_config_refresh(raft *r);
int raft_sync_progress(raft *r);
void raft_leader_check_removed(raft *r);
int raft_config_has_voter(const raft_config *cfg, raft_id id);

/* snapshot.c */
void raft_send_snapshot(raft *r, raft_progress *p);
void raft_handle_snapshot(raft *r, const raft_msg *m);

/* transfer.c */
void raft_transfer_check(raft *r, raft_progress *p);
void raft_transfer_abort(raft *r);
void raft_handle_timeout_now(raft *r, const raft_msg *m);

/* ready.c */
/* Queue a message: m->from and m->term are filled in; entries and the
 * snapshot metadata are copied (references taken). */
int raft_send(raft *r, raft_msg *m);
void raft_msgs_free(raft_msg *v, size_t n);
void raft_msgs_free_one(raft_msg *m);
/* The log was cut at `from`: acknowledgements not yet handed out that
 * reach it speak of entries we no longer have (and may never have
 * written); drop them. Those already in a ready are true once it is
 * durable. */
void raft_drop_acks(raft *r, raft_index from);

#endif

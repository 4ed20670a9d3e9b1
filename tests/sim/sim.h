/* SPDX-License-Identifier: MIT */
/*
 * sim.h: a deterministic simulator for core/repl/raft. One seeded PRNG drives
 * everything: a network that drops, delays, duplicates, reorders and
 * partitions; disks that lose whatever was not fsynced when a node
 * crashes; clocks that drift; clients of a tiny key-value register
 * machine; membership changes, leadership transfers and snapshots. The
 * glue in sim.c plays lmsd's role (persist, send, apply, advance);
 * check.c verifies the Raft safety properties after every event;
 * linearize.c checks the client history at the end.
 */
#ifndef LMS_TESTS_SIM_H
#define LMS_TESTS_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "raft.h"

#define SIM_MAX_NODES 8
#define SIM_KEYS 3
#define SIM_CLIENTS 3

typedef uint64_t sim_time; /* microseconds */

/* ---- storage ------------------------------------------------------------ */

typedef struct sim_entry {
    raft_entry e;   /* holds a reference on e.data */
    uint64_t chain; /* hash of this entry and every one before it */
} sim_entry;

typedef struct slog {
    sim_entry *v;
    size_t n, cap;
    raft_index offset;
    raft_term offset_term;
    uint64_t offset_chain;
} slog;

/* The state machine: SIM_KEYS registers. */
typedef struct kv {
    uint64_t vals[SIM_KEYS];
    raft_index applied;
} kv;

typedef struct sim_snap {
    raft_snapshot_meta meta;
    kv state;
    uint64_t chain; /* log chain hash at meta.index */
} sim_snap;

/* What a ready writes. The log writer's operations (OP_RESET, OP_TRUNC,
 * OP_APPEND) reach the disk in order, the hardstate file (OP_HS) and the
 * storage's restore from a snapshot (OP_RESTORE, the storage thread) each
 * on their own: a crash keeps a prefix of each of the three. */
enum { OP_RESET, OP_TRUNC, OP_APPEND, OP_HS, OP_RESTORE };

typedef struct disk_op {
    int kind;
    uint64_t ready;
    raft_hardstate hs;
    raft_index after;
    sim_entry ent;  /* OP_APPEND: one entry (own reference) */
    sim_snap snap;
} disk_op;

/* A node's data dir, as lmsd keeps it: the newest snapshot file (a
 * restart starts from it), a received snapshot still under its temp name
 * (ignored and removed at start), the WAL, the store. */
typedef struct disk {
    raft_hardstate hs;
    int has_snap;
    sim_snap snap;
    int has_recv;
    sim_snap recv;
    slog log;
    kv sm; /* durable as it is applied, like lms's storage */
    /* The disk lost synced entries (a lying disk, or a record that fails
     * its check before the tail): lmsd finds out at start from its
     * durable acked index, as the simulated node does from this flag. */
    int lost;
    int marker; /* <data_dir>/repairing: repair again at start */
} disk;

/* ---- nodes -------------------------------------------------------------- */

typedef struct pending_prop {
    raft_index index;
    raft_term term;
    int client;
    uint64_t op;
} pending_prop;

typedef struct pending_read {
    uint64_t ctx; /* the op id */
    int client;
    int key;
    raft_index index; /* 0 until the read state arrives */
} pending_read;

typedef struct outstanding {
    struct raft_ready rd;
    sim_time due;
} outstanding;

typedef struct sim_node {
    raft_id id;
    int alive, started, departed, joined_late;
    uint64_t incarnation;
    raft *r;
    disk d;
    slog view;              /* the log as written, synced or not */
    disk_op *ops;           /* written, not yet synced, in order */
    size_t n_ops, cap_ops;
    outstanding *outs;
    size_t n_outs, cap_outs;
    unsigned max_outs;
    sim_time last_fsync, slow_disk_until;
    double tick_period;     /* us; drifts */
    pending_prop *props;
    size_t n_props, cap_props;
    pending_read *reads;
    size_t n_reads, cap_reads;
    sim_snap stash;         /* latest snapshot received */
    int has_stash;
    sim_snap served;        /* the snapshot Raft knows (lmsd's n->snap): the
                               one sent; index 0: none */
    raft_index last_commit_seen;
    raft_term leader_checked_term;
    unsigned snap_every, snap_trailing;
    /* What each recent append asked this node to hold: an acceptance of
     * (leader, term, index) promises the entry of that term there. */
    struct ack_expect {
        raft_id leader;
        raft_term term, entry_term;
        raft_index index;
    } expect[64];
    unsigned n_expect;
    struct sim_repair *rp;  /* log repair under way (alive, no Raft yet) */
} sim_node;

/* ---- history (linearize.c) ---------------------------------------------- */

enum { H_PUT = 1, H_GET = 2 };

typedef struct hist_op {
    int kind, client, key;
    uint64_t value;     /* PUT: written; GET: observed */
    sim_time call, ret; /* ret = SIM_INF: outcome unknown */
    int dropped;        /* no effect (refused, failed) */
} hist_op;

#define SIM_INF UINT64_MAX

/* 0 if ops (one key, dropped ones ignored) are linearizable as a register
 * that starts at 0; on failure a description goes into why. -1 if the
 * search gave up (too large). */
int linearizable(const hist_op *ops, size_t n, int key, char *why,
                 size_t why_len);

/* ---- the simulation ----------------------------------------------------- */

typedef struct sim_config {
    uint64_t seed;
    int nodes;          /* initial voters: 3 or 5 */
    int verbose;
    /* lmsd's install order before issue 8: the received file takes its
     * final name before Raft steps it, and a restart keeps the WAL next
     * to it whatever the WAL holds (to show what that order breaks) */
    int old_install_order;
    /* log repair before issue 8: entries from whoever says it leads, no
     * term or prev check, the source switched to whoever answered last,
     * no marker, no snapshot fallback (to show what that breaks) */
    int old_repair;
    /* a node that lost synced entries starts Raft on what is left (to
     * show that the durability check catches it) */
    int no_repair;
    /* repair_plan without its floor (the node's own term): follows a
     * deposed leader of an older term, as main did before the simulator
     * found it */
    int no_floor;
    /* forge messages into nodes' inputs during the chaos (byzantine.c) */
    int byzantine;
    sim_time chaos_us;  /* faults and clients */
    sim_time heal_us;   /* no faults: everything must converge */
} sim_config;

typedef struct sim_stats {
    uint64_t events, msgs, commits, elections, crashes, snapshots_sent,
        installs, transfers, conf_changes, ops_ok, ops_unknown, reads_ok,
        lin_giveups,
        tails_dropped, /* restarts that dropped a WAL tail past the snapshot */
        disk_losses,   /* crashes that lost synced entries */
        repairs,       /* log repairs begun (a restart during one: again) */
        repairs_done, repair_restarts, repair_snapshots,
        forged, forged_refused; /* --byzantine */
} sim_stats;

/* Run one seed. 0 on success; otherwise the violated property is in
 * *why (with the seed). */
int sim_run(const sim_config *cfg, sim_stats *st, char *why, size_t why_len);

/* ---- shared by the simulator's files ----------------------------------- */

#define TICK_US 10000.0
#define CLIENT_TIMEOUT_US 600000

enum {
    EV_TICK, EV_DELIVER, EV_FSYNC, EV_CLIENT, EV_FAULT, EV_RESTART, EV_HEAL,
    EV_SNAP_REPORT, EV_END_CHAOS, EV_STOP_CLIENTS, EV_CRASH,
    EV_FETCH, EV_FETCH_REPLY, EV_REPAIR_SNAP, EV_REPAIR_TICK, /* repair.c */
    EV_FORGE, /* byzantine.c */
};

typedef struct event {
    sim_time t;
    uint64_t seq;
    int kind, node, peer, ok;
    uint64_t inc;
    raft_msg msg;       /* EV_DELIVER: own copy */
    sim_snap *snap;     /* EV_DELIVER of a snapshot: its data */
    struct fetch_msg *fm; /* EV_FETCH, EV_FETCH_REPLY, EV_REPAIR_SNAP */
} event;

typedef struct client {
    int busy, kind, key;
    uint64_t op;
    size_t h;
    raft_id guess;
    sim_time deadline;
} client;

typedef struct checker checker;
typedef struct sim sim;

struct sim {
    sim_config cfg;
    sim_stats *st;
    uint64_t rng;
    uint64_t disk_rng; /* the lying disk's own stream: runs without such a
                          fault draw exactly what they drew before */
    sim_time now;
    event **heap;
    size_t n_heap, cap_heap;
    uint64_t ev_seq;
    int n_slots, n_initial, membership, check_quorum;
    sim_node nodes[SIM_MAX_NODES];
    raft_config boot;
    /* network */
    uint8_t blocked[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];
    double drop, dup;
    sim_time delay_max;
    /* clients */
    client *clients;
    int clients_on, chaos;
    hist_op *hist;
    size_t n_hist, cap_hist;
    uint64_t next_op;
    /* membership driver */
    raft_id spare, victim;
    checker *ck;
    uint64_t byz_rng;   /* --byzantine: the forger's own stream */
    uint64_t byz_jumps; /* forged terms accepted at max_term_jump */
    int failed;
    char *why;
    size_t why_len;
};

/* sim.c: randomness, tracing, failures, events */
uint64_t sim_rnd(sim *s);
uint64_t sim_below(sim *s, uint64_t n);
double sim_unit(sim *s);
int sim_chance(sim *s, double p);
event *sim_event(sim *s, sim_time at, int kind, int node);
void violation(sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void trace(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* store.c: hashes, the storage log, the disk */
uint64_t hash_bytes(const void *p, size_t n, uint64_t h);
uint64_t entry_hash(const raft_entry *e);
uint64_t kv_digest(const kv *k);
uint64_t chain_next(uint64_t prev, const raft_entry *e);
sim_entry *slog_get(const slog *l, raft_index i);
raft_index slog_last(const slog *l);
uint64_t slog_chain(const slog *l, raft_index i);
void slog_append(slog *l, const sim_entry *e);
void slog_truncate_after(slog *l, raft_index after);
void slog_compact(slog *l, raft_index upto);
void slog_reset(slog *l, const sim_snap *s);
void slog_free(slog *l);
void slog_copy(slog *dst, const slog *src);
int disk_has(const disk *d, raft_index i, raft_term term);
void op_to_disk(disk *d, const disk_op *op);
void op_free(disk_op *op);

/* byzantine.c: --byzantine; nodes' max_term_jump in that mode (small, so
 * that the checkers' per-term tables stay small) */
#define BYZ_TERM_JUMP 50
void byz_forge(sim *s);
void byz_check_terms(sim *s);

/* glue.c: each node's lmsd role */
sim_node *sim_node_of(sim *s, raft_id id);
sim_node *sim_leader(sim *s);
void *sim_grow(void *v, size_t *cap, size_t need, size_t size);
blob *put_encode(sim *s, int key, uint64_t value);
void glue_start(sim *s, sim_node *n);
/* Start Raft on what the disk holds (glue_start, or after a repair). */
void glue_start_raft(sim *s, sim_node *n);
void glue_crash(sim *s, sim_node *n);
void glue_pump(sim *s, sim_node *n);
void glue_fsync(sim *s, sim_node *n);
void glue_received(sim *s, sim_node *n, const sim_snap *snap);

/* net.c */
void net_send(sim *s, sim_node *from, const raft_msg *m);
void net_send_all(sim *s, sim_node *n, const raft_msg *v, size_t count);
void net_snap_report(sim *s, sim_node *from, raft_id to, int ok,
                     sim_time after);
void net_deliver(sim *s, sim_node *n, event *e, int live);
void net_msg_free(raft_msg *m);
void net_heal(sim *s);
/* A message from -> to: 0 if lost (cut link, drop); else its delay. */
sim_time net_route(sim *s, raft_id from, raft_id to);

/* repair.c: lmsd's log repair (node_repair.c) over core/repl/repair_plan.c */
int repair_needed(sim *s, sim_node *n);
void repair_begin(sim *s, sim_node *n);
void repair_event(sim *s, sim_node *n, event *e);
void repair_crash(sim *s, sim_node *n);
void repair_lose_tail(sim *s, sim_node *n);
int repair_under_way(const sim *s, const sim_node *n);
void repair_describe(const sim *s, const sim_node *n, char *buf, size_t len);
void repair_msg_free(struct fetch_msg *m);

/* workload.c */
void client_next(sim *s, int c, sim_time after);
void client_done(sim *s, int c, uint64_t op, int ok, uint64_t value);
void answer_reads(sim *s, sim_node *n);
void workload_client(sim *s, int c);
void workload_fault(sim *s);
/* Crash node n now and restart it a little later. */
void workload_crash(sim *s, sim_node *n);
void workload_end_chaos(sim *s);

/* check.c */

checker *check_new(void);
void check_free(checker *ck);
void check_node(sim *s, sim_node *n);
void check_view_append(sim *s, sim_node *n, const sim_entry *e);
void check_apply(sim *s, sim_node *n, const raft_entry *e, const kv *after);
void check_install(sim *s, sim_node *n, const sim_snap *snap);
void check_send(sim *s, sim_node *n, const raft_msg *m);
void check_note_append(sim_node *n, const raft_msg *m);
/* Every committed entry is on a majority of disks, a node under log
 * repair (which votes for nobody) counted as lacking what it lost: after
 * every crash, and when a repair ends. */
void check_durable(sim *s);
raft_index check_max_committed(const checker *ck);

#endif

/*
 * sim.h: a deterministic simulator for core/raft. One seeded PRNG drives
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

enum { OP_SNAP, OP_TRUNC, OP_APPEND, OP_HS };

typedef struct disk_op {
    int kind;
    uint64_t ready;
    raft_hardstate hs;
    raft_index after;
    sim_entry ent;  /* OP_APPEND: one entry (own reference) */
    sim_snap snap;
} disk_op;

typedef struct disk {
    raft_hardstate hs;
    int has_snap;
    sim_snap snap;
    slog log;
    kv sm; /* durable as it is applied, like lms's storage */
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
    raft_index last_commit_seen;
    raft_term leader_checked_term;
    unsigned snap_every, snap_trailing;
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
    sim_time chaos_us;  /* faults and clients */
    sim_time heal_us;   /* no faults: everything must converge */
} sim_config;

typedef struct sim_stats {
    uint64_t events, msgs, commits, elections, crashes, snapshots_sent,
        installs, transfers, conf_changes, ops_ok, ops_unknown, reads_ok;
} sim_stats;

/* Run one seed. 0 on success; otherwise the violated property is in
 * *why (with the seed). */
int sim_run(const sim_config *cfg, sim_stats *st, char *why, size_t why_len);

/* ---- shared by sim.c and check.c ---------------------------------------- */

typedef struct checker checker;
typedef struct sim sim;

struct sim {
    sim_config cfg;
    sim_stats *st;
    uint64_t rng;
    sim_time now;
    struct event **heap;
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
    struct client *clients;
    int clients_on, chaos;
    hist_op *hist;
    size_t n_hist, cap_hist;
    uint64_t next_op;
    /* membership driver */
    raft_id spare, victim;
    checker *ck;
    int failed;
    char *why;
    size_t why_len;
};

void violation(sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void trace(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t hash_bytes(const void *p, size_t n, uint64_t h);
uint64_t entry_hash(const raft_entry *e);
uint64_t kv_digest(const kv *k);
sim_entry *slog_get(const slog *l, raft_index i);
raft_index slog_last(const slog *l);
int disk_has(const disk *d, raft_index i, raft_term term);

checker *check_new(void);
void check_free(checker *ck);
void check_node(sim *s, sim_node *n);
void check_view_append(sim *s, sim_node *n, const sim_entry *e);
void check_apply(sim *s, sim_node *n, const raft_entry *e, const kv *after);
void check_install(sim *s, sim_node *n, const sim_snap *snap);
void check_send(sim *s, sim_node *n, const raft_msg *m);
void check_crash(sim *s);
raft_index check_max_committed(const checker *ck);

#endif

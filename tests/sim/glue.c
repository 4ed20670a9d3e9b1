/* SPDX-License-Identifier: MIT */
/*
 * glue.c: what lmsd will do with core/repl/raft, played by each simulated
 * node: take a ready (up to max_outs outstanding), send its immediate
 * messages, write its entries, truncation, snapshot and hardstate to the
 * unsynced area of the disk; when the simulated fsync completes, send the
 * rest, apply what committed (the state machine is durable as it
 * applies, like lms's storage), answer clients, snapshot and compact by
 * policy, advance. A crash keeps a random prefix of what was written but
 * not synced: a torn tail. Snapshot installs follow lmsd's order and its
 * restart rule (core/repl/snapshot_wal.c), or with --old-install-order the
 * order lmsd had before issue 8. A restart whose log lost acknowledged
 * entries repairs it first (repair.c).
 */
#include "sim.h"
#include "snapshot_wal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- nodes: helpers ----------------------------------------------------- */

sim_node *sim_node_of(sim *s, raft_id id)
{
    if (id < 1 || id > (raft_id)s->n_slots)
        return NULL;
    return &s->nodes[id - 1];
}

sim_node *sim_leader(sim *s)
{
    sim_node *best = NULL;
    for (int i = 0; i < s->n_slots; i++) {
        sim_node *n = &s->nodes[i];
        if (n->alive && n->r && raft_get_role(n->r) == RAFT_LEADER &&
            (!best || raft_get_term(n->r) > raft_get_term(best->r)))
            best = n;
    }
    return best;
}

void *sim_grow(void *v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return v;
    *cap = *cap ? *cap * 2 : 16;
    while (*cap < need)
        *cap *= 2;
    return realloc(v, *cap * size);
}

static void push_op(sim_node *n, const disk_op *op)
{
    n->ops = sim_grow(n->ops, &n->cap_ops, n->n_ops + 1, sizeof *n->ops);
    n->ops[n->n_ops++] = *op;
}

/* ---- nodes: applying ---------------------------------------------------- */

typedef struct put_cmd {
    uint8_t key;
    uint64_t value, op;
} put_cmd;

blob *put_encode(sim *s, int key, uint64_t value)
{
    size_t pad = sim_below(s, 4) == 0 ? sim_below(s, 300) : 0;
    blob *b = blob_new(17 + pad);
    b->data[0] = (uint8_t)key;
    memcpy(b->data + 1, &value, 8);
    memcpy(b->data + 9, &value, 8);
    memset(b->data + 17, 0xab, pad);
    return b;
}

static int put_decode(const blob *b, put_cmd *c)
{
    if (!b || b->len < 17 || b->data[0] >= SIM_KEYS)
        return -1;
    c->key = b->data[0];
    memcpy(&c->value, b->data + 1, 8);
    memcpy(&c->op, b->data + 9, 8);
    return 0;
}

static void resolve_proposal(sim *s, sim_node *n, const raft_entry *e)
{
    for (size_t i = 0; i < n->n_props; i++) {
        pending_prop *p = &n->props[i];
        if (p->index != e->index)
            continue;
        /* Ours iff the term matches; any other entry there means ours was
         * overwritten and will never commit. */
        client_done(s, p->client, p->op, p->term == e->term, 0);
        n->props[i] = n->props[--n->n_props];
        return;
    }
}

static void apply_entry(sim *s, sim_node *n, const raft_entry *e)
{
    if (e->index != n->d.sm.applied + 1) {
        violation(s, "node %" PRIu64 " applies entry %" PRIu64
                     " after %" PRIu64 " (out of order)",
                  n->id, e->index, n->d.sm.applied);
        return;
    }
    put_cmd c;
    if (e->type == RAFT_ENTRY_NORMAL && e->data && e->data->len) {
        if (put_decode(e->data, &c) == 0)
            n->d.sm.vals[c.key] = c.value;
        else
            violation(s, "entry %" PRIu64 " does not decode", e->index);
    }
    n->d.sm.applied = e->index;
    check_apply(s, n, e, &n->d.sm);
    resolve_proposal(s, n, e);
}

/* A snapshot file under its final name: a restart starts from the file
 * of the highest index. */
static void save_file(sim_node *n, const sim_snap *snap)
{
    if (n->d.has_snap && n->d.snap.meta.index >= snap->meta.index)
        return;
    n->d.snap = *snap;
    n->d.has_snap = 1;
}

/* The whole of a snapshot arrived (the stream's last chunk): lmsd makes
 * the file durable under its temp name before stepping Raft (the old
 * order: under its final name). */
void glue_received(sim *s, sim_node *n, const sim_snap *snap)
{
    n->stash = *snap;
    n->has_stash = 1;
    if (s->cfg.old_install_order) {
        save_file(n, snap);
    } else {
        n->d.recv = *snap;
        n->d.has_recv = 1;
    }
}

/* Take a snapshot every snap_every applied entries; compact behind it,
 * keeping a trailing window. */
static void maybe_snapshot(sim *s, sim_node *n)
{
    raft_index applied = n->d.sm.applied;
    raft_index base = n->served.meta.index;
    if (applied < base + n->snap_every)
        return;
    sim_snap snap;
    memset(&snap, 0, sizeof snap);
    int rc = raft_snapshot_meta_at(n->r, applied, &snap.meta);
    if (rc == RAFT_ERR_COMPACTED)
        return; /* a received snapshot is ahead: nothing to save */
    if (rc != RAFT_OK) {
        violation(s, "snapshot meta at %" PRIu64 ": %s", applied,
                  raft_strerror(rc));
        return;
    }
    snap.state = n->d.sm;
    snap.chain = slog_chain(&n->view, applied);
    n->served = snap;
    save_file(n, &snap);
    if ((rc = raft_snapshot_done(n->r, &snap.meta)) != RAFT_OK) {
        violation(s, "snapshot done: %s", raft_strerror(rc));
        return;
    }
    raft_index upto = applied > n->snap_trailing ? applied - n->snap_trailing : 0;
    if (upto && (rc = raft_compact(n->r, upto)) != RAFT_OK)
        violation(s, "compact to %" PRIu64 ": %s", upto, raft_strerror(rc));
    slog_compact(&n->d.log, upto);
    slog_compact(&n->view, upto);
    trace(s, "node %" PRIu64 ": snapshot at %" PRIu64 ", compacted to %" PRIu64,
          n->id, applied, upto);
}

/* ---- nodes: writing ------------------------------------------------------ */

/* A new unsynced disk operation of ready rd. */
static disk_op *new_op(sim_node *n, int kind, const struct raft_ready *rd)
{
    disk_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.ready = rd->seq_;
    push_op(n, &op);
    return &n->ops[n->n_ops - 1];
}

static void write_entry(sim *s, sim_node *n, const struct raft_ready *rd,
                        const raft_entry *e)
{
    if (e->index != slog_last(&n->view) + 1) {
        violation(s, "node %" PRIu64 ": ready appends %" PRIu64 " after %" PRIu64,
                  n->id, e->index, slog_last(&n->view));
        return;
    }
    sim_entry se = {*e, chain_next(slog_chain(&n->view, e->index - 1), e)};
    check_view_append(s, n, &se);
    slog_append(&n->view, &se);
    new_op(n, OP_APPEND, rd)->ent = se;
    if (se.e.data)
        blob_ref(se.e.data);
}

/* Raft installs the snapshot received: lmsd gives the file its final
 * name (durable before the reset is queued), queues the WAL reset on the
 * log writer and the restore on the storage thread; the ready is
 * finished once both are durable. */
static void install(sim *s, sim_node *n, const struct raft_ready *rd)
{
    if (!s->cfg.old_install_order) {
        if (!n->d.has_recv || n->d.recv.meta.index != n->stash.meta.index)
            violation(s, "node %" PRIu64 " installs snapshot %" PRIu64
                         " without its received file", n->id,
                      n->stash.meta.index);
        save_file(n, &n->d.recv);
        n->d.has_recv = 0;
    }
    new_op(n, OP_RESET, rd)->snap = n->stash;
    new_op(n, OP_RESTORE, rd)->snap = n->stash;
    n->served = n->stash;
    slog_reset(&n->view, &n->stash);
}

/* Write the ready's durable part to the view and the unsynced queue. */
static void write_ready(sim *s, sim_node *n, struct raft_ready *rd)
{
    if (rd->snapshot) {
        if (!n->has_stash || n->stash.meta.index != rd->snapshot->index) {
            violation(s, "node %" PRIu64 " asked to install snapshot %" PRIu64
                         " it never received", n->id, rd->snapshot->index);
            return;
        }
        install(s, n, rd);
        check_install(s, n, &n->stash);
        s->st->installs++;
    }
    if (rd->truncate) {
        new_op(n, OP_TRUNC, rd)->after = rd->truncate_after;
        slog_truncate_after(&n->view, rd->truncate_after);
    }
    for (size_t i = 0; i < rd->n_entries && !s->failed; i++)
        write_entry(s, n, rd, &rd->entries[i]);
    if (rd->has_hardstate)
        new_op(n, OP_HS, rd)->hs = rd->hs;
}

/* ---- nodes: the ready cycle --------------------------------------------- */

#define INSTALL_CRASH_P 0.25 /* an install's window gets a crash aimed at it */

static void drop_unconfirmed_reads(sim *s, sim_node *n)
{
    size_t keep = 0;
    for (size_t i = 0; i < n->n_reads; i++) {
        pending_read *p = &n->reads[i];
        if (p->index)
            n->reads[keep++] = *p;
        else
            client_done(s, p->client, p->ctx, 0, 0);
    }
    n->n_reads = keep;
}

static void note_reads(sim_node *n, const struct raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_reads; i++)
        for (size_t k = 0; k < n->n_reads; k++)
            if (n->reads[k].ctx == rd->reads[i].ctx)
                n->reads[k].index = rd->reads[i].index;
}

static int durable_work(const struct raft_ready *rd)
{
    return rd->has_hardstate || rd->n_entries || rd->truncate || rd->snapshot;
}

static void take_ready(sim *s, sim_node *n)
{
    n->outs = sim_grow(n->outs, &n->cap_outs, n->n_outs + 1, sizeof *n->outs);
    outstanding *o = &n->outs[n->n_outs++];
    int rc = raft_ready(n->r, &o->rd);
    if (rc != RAFT_OK) {
        violation(s, "raft_ready: %s", raft_strerror(rc));
        return;
    }
    struct raft_ready *rd = &o->rd;
    if (rd->has_softstate) {
        trace(s, "node %" PRIu64 ": %s, term %" PRIu64 ", leader %" PRIu64,
              n->id, raft_role_name(rd->ss.role), raft_get_term(n->r),
              rd->ss.leader);
        if (rd->ss.role == RAFT_LEADER)
            s->st->elections++;
        else
            drop_unconfirmed_reads(s, n);
    }
    net_send_all(s, n, rd->msgs, rd->n_msgs);
    write_ready(s, n, rd);
    note_reads(n, rd);
    sim_time start = n->last_fsync > s->now ? n->last_fsync : s->now;
    sim_time fsync = 200 + sim_below(s, 3000);
    if (n->slow_disk_until > s->now)
        fsync += 5000 + sim_below(s, 40000); /* a stalled disk */
    o->due = start + (durable_work(rd) ? fsync : 0);
    n->last_fsync = o->due;
    event *e = sim_event(s, o->due, EV_FSYNC, (int)n->id);
    e->inc = n->incarnation;
    if (rd->snapshot && s->chaos && sim_chance(s, INSTALL_CRASH_P)) {
        /* a crash before the install is durable, the old order's weak
         * spot: random crashes rarely land in its few milliseconds */
        e = sim_event(s, s->now + sim_below(s, o->due - s->now + 1), EV_CRASH,
                      (int)n->id);
        e->inc = n->incarnation;
    }
}

void glue_pump(sim *s, sim_node *n)
{
    while (!s->failed && n->alive && n->r && n->n_outs < n->max_outs &&
           raft_has_ready(n->r))
        take_ready(s, n);
}

void glue_fsync(sim *s, sim_node *n)
{
    outstanding o = n->outs[0];
    memmove(n->outs, n->outs + 1, (n->n_outs - 1) * sizeof *n->outs);
    n->n_outs--;
    struct raft_ready *rd = &o.rd;
    size_t k = 0;
    for (; k < n->n_ops && n->ops[k].ready == rd->seq_; k++) {
        op_to_disk(&n->d, &n->ops[k]);
        op_free(&n->ops[k]);
    }
    if (k)
        memmove(n->ops, n->ops + k, (n->n_ops - k) * sizeof *n->ops);
    n->n_ops -= k;
    net_send_all(s, n, rd->msgs_persisted, rd->n_msgs_persisted);
    for (size_t i = 0; i < rd->n_committed && !s->failed; i++)
        apply_entry(s, n, &rd->committed[i]);
    s->st->commits += rd->n_committed;
    raft_applied(n->r, n->d.sm.applied);
    answer_reads(s, n);
    if (!s->failed)
        maybe_snapshot(s, n);
    int rc = raft_advance(n->r, rd);
    if (rc != RAFT_OK)
        violation(s, "raft_advance: %s", raft_strerror(rc));
    glue_pump(s, n);
}

/* ---- nodes: start, crash ------------------------------------------------ */

static void node_options(sim *s, sim_node *n, raft_options *o)
{
    static const size_t msg_bytes[] = {0, 64, 256, 4096};
    static const unsigned inflight[] = {1, 2, 4, 64};
    raft_options_init(o, n->id);
    o->election_tick = 10;
    o->heartbeat_tick = 2;
    o->max_msg_bytes = msg_bytes[sim_below(s, 4)];
    o->max_inflight_msgs = inflight[sim_below(s, 4)];
    o->max_inflight_bytes = sim_chance(s, 0.5) ? 0 : 1024;
    o->max_apply_bytes = sim_chance(s, 0.5) ? 0 : 200;
    o->max_uncommitted_bytes = sim_chance(s, 0.8) ? 0 : 4096;
    o->check_quorum = (uint8_t)s->check_quorum;
    o->seed = sim_rnd(s);
    if (s->cfg.byzantine)
        o->max_term_jump = BYZ_TERM_JUMP;
}

/* lmsd's restart rule for the WAL next to its newest snapshot file
 * (node_snapshot.c): the same pure function, or the old one (keep the
 * WAL unless it ends below the snapshot). 0 if the node cannot start. */
static int keep_or_drop_log(sim *s, sim_node *n)
{
    const sim_snap *snap = &n->d.snap;
    const slog *l = &n->d.log;
    raft_index S = snap->meta.index;
    snapshot_wal_view v = {.first = l->offset + 1, .last = slog_last(l)};
    const sim_entry *at = slog_get(l, S), *after = slog_get(l, S + 1);
    v.term_at_snap = at ? at->e.term : 0;
    v.term_after = after && v.first == S + 1 ? after->e.term : 0;
    const char *why;
    snapshot_wal_verdict verdict = snapshot_wal_rule(S, snap->meta.term, &v, &why);
    if (verdict == SNAPSHOT_WAL_DROP && v.last > S)
        s->st->tails_dropped++; /* (the old rule kept them) */
    if (s->cfg.old_install_order)
        verdict = v.first > S + 1 ? SNAPSHOT_WAL_GAP
                  : v.last < S    ? SNAPSHOT_WAL_DROP
                                  : SNAPSHOT_WAL_KEEP;
    if (verdict == SNAPSHOT_WAL_GAP) {
        violation(s, "node %" PRIu64 " does not restart: its log starts at %"
                     PRIu64 ", after snapshot %" PRIu64 " + 1",
                  n->id, v.first, S);
        return 0;
    }
    if (verdict == SNAPSHOT_WAL_DROP) {
        trace(s, "node %" PRIu64 ": log %" PRIu64 "..%" PRIu64 " dropped "
                 "next to snapshot %" PRIu64 " (term %" PRIu64 "): %s",
              n->id, v.first, v.last, S, snap->meta.term, why);
        slog_reset(&n->d.log, snap);
    }
    return 1;
}

/* lmsd's node_open: the snapshot and the restart rule, then a log that
 * lost entries it acknowledged is repaired (repair.c) before Raft. */
void glue_start(sim *s, sim_node *n)
{
    n->d.has_recv = 0; /* a temp file: removed at start */
    if (n->d.has_snap && n->d.sm.applied < n->d.snap.meta.index)
        n->d.sm = n->d.snap.state; /* the install was cut by the crash */
    if (n->d.has_snap && !keep_or_drop_log(s, n))
        return;
    if (repair_needed(s, n))
        repair_begin(s, n);
    else
        glue_start_raft(s, n);
}

void glue_start_raft(sim *s, sim_node *n)
{
    memset(&n->served, 0, sizeof n->served);
    if (n->d.has_snap)
        n->served = n->d.snap;
    raft_entry *ents = calloc(n->d.log.n + 1, sizeof *ents);
    for (size_t i = 0; i < n->d.log.n; i++)
        ents[i] = n->d.log.v[i].e;
    raft_restore rs;
    memset(&rs, 0, sizeof rs);
    rs.hs = n->d.hs;
    rs.snapshot = n->d.has_snap ? &n->d.snap.meta : NULL;
    rs.bootstrap = n->joined_late ? NULL : &s->boot;
    rs.entries = ents;
    rs.n_entries = n->d.log.n;
    rs.applied = n->d.sm.applied;
    raft_options o;
    node_options(s, n, &o);
    int rc = raft_new(&o, &rs, &n->r);
    free(ents);
    if (rc != RAFT_OK) {
        violation(s, "node %" PRIu64 " does not restart: %s", n->id,
                  raft_strerror(rc));
        return;
    }
    slog_copy(&n->view, &n->d.log);
    n->alive = n->started = 1;
    n->incarnation++;
    n->last_fsync = s->now;
    n->max_outs = 1 + (unsigned)sim_below(s, 3);
    n->last_commit_seen = rs.applied;
    n->leader_checked_term = 0;
    event *e = sim_event(s, s->now + sim_below(s, (sim_time)n->tick_period), EV_TICK,
                      (int)n->id);
    e->inc = n->incarnation;
    trace(s, "node %" PRIu64 ": start (term %" PRIu64 ", log %" PRIu64
             "..%" PRIu64 ", applied %" PRIu64 ")",
          n->id, rs.hs.term, n->d.log.offset + 1, slog_last(&n->d.log),
          rs.applied);
}

/* Lose what was not synced, except a random prefix of the log writes and
 * of the hardstate replacements; sometimes a synced suffix of the log too
 * (repair.c). */
void glue_crash(sim *s, sim_node *n)
{
    int repairing = n->rp != NULL;
    repair_crash(s, n);
    size_t log_ops = 0, hs_ops = 0, restores = 0;
    for (size_t i = 0; i < n->n_ops; i++)
        *(n->ops[i].kind == OP_HS        ? &hs_ops
          : n->ops[i].kind == OP_RESTORE ? &restores
                                         : &log_ops) += 1;
    size_t keep_log = sim_below(s, log_ops + 1), keep_hs = sim_below(s, hs_ops + 1);
    size_t keep_restore = restores ? sim_below(s, restores + 1) : 0;
    for (size_t i = 0; i < n->n_ops; i++) {
        disk_op *op = &n->ops[i];
        size_t *keep = op->kind == OP_HS        ? &keep_hs
                       : op->kind == OP_RESTORE ? &keep_restore
                                                : &keep_log;
        if (*keep > 0) {
            --*keep;
            op_to_disk(&n->d, op);
        }
        op_free(op);
    }
    n->n_ops = 0;
    for (size_t i = 0; i < n->n_outs; i++)
        raft_ready_free(&n->outs[i].rd);
    n->n_outs = 0;
    raft_free(n->r);
    n->r = NULL;
    slog_free(&n->view);
    n->n_props = n->n_reads = 0;
    n->has_stash = 0;
    n->alive = 0;
    s->st->crashes++;
    trace(s, "node %" PRIu64 ": CRASH%s (durable log ..%" PRIu64 ", term %"
             PRIu64 ")", n->id, repairing ? " during log repair" : "",
          slog_last(&n->d.log), n->d.hs.term);
    if (!repairing)
        repair_lose_tail(s, n);
    check_durable(s);
}


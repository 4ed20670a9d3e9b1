/*
 * sim.c: the simulated cluster. Events (ticks, deliveries, fsyncs,
 * clients, faults) sit in a heap ordered by (time, sequence); every
 * random choice comes from one splitmix64 stream seeded by the seed, so a
 * seed replays exactly. Each node runs the glue lmsd will run: take a
 * ready, send its immediate messages, write its entries and hardstate to
 * an unsynced area of its disk, and when the (simulated) fsync completes,
 * send the rest, apply what committed, answer clients, advance. A crash
 * keeps a random prefix of what was written but not synced: a torn tail.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TICK_US 10000.0
#define CLIENT_TIMEOUT_US 600000

enum {
    EV_TICK, EV_DELIVER, EV_FSYNC, EV_CLIENT, EV_FAULT, EV_RESTART, EV_HEAL,
    EV_SNAP_REPORT, EV_END_CHAOS, EV_STOP_CLIENTS,
};

typedef struct event {
    sim_time t;
    uint64_t seq;
    int kind, node, peer, ok;
    uint64_t inc;
    raft_msg msg;       /* EV_DELIVER: own copy */
    sim_snap *snap;     /* EV_DELIVER of a snapshot: its data */
} event;

typedef struct client {
    int busy, kind, key;
    uint64_t op;
    size_t h;
    raft_id guess;
    sim_time deadline;
} client;

/* ---- randomness, tracing, failures ------------------------------------- */

static uint64_t rnd(sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t below(sim *s, uint64_t n)
{
    return n ? rnd(s) % n : 0;
}

static double unit(sim *s)
{
    return (double)(rnd(s) >> 11) / (double)(1ULL << 53);
}

static int chance(sim *s, double p)
{
    return unit(s) < p;
}

void trace(sim *s, const char *fmt, ...)
{
    if (!s->cfg.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("%9.3f  ", (double)s->now / 1000.0);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

void violation(sim *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = 1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(s->why, s->why_len, "seed %" PRIu64 " (%d nodes) at %.3f ms: %s",
             s->cfg.seed, s->cfg.nodes, (double)s->now / 1000.0, msg);
    trace(s, "VIOLATION: %s", msg);
}

/* ---- hashing ------------------------------------------------------------ */

uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
    const uint8_t *b = p;
    h ^= 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t entry_hash(const raft_entry *e)
{
    uint64_t h = e->type * 0x9e3779b97f4a7c15ULL + e->term;
    return e->data ? hash_bytes(e->data->data, e->data->len, h)
                   : hash_bytes("", 0, h);
}

uint64_t kv_digest(const kv *k)
{
    return hash_bytes(k->vals, sizeof k->vals, 7);
}

static uint64_t chain_next(uint64_t prev, const raft_entry *e)
{
    uint64_t x[3] = {prev, e->index, entry_hash(e)};
    return hash_bytes(x, sizeof x, 0);
}

/* ---- the storage log ---------------------------------------------------- */

raft_index slog_last(const slog *l)
{
    return l->offset + l->n;
}

sim_entry *slog_get(const slog *l, raft_index i)
{
    if (i <= l->offset || i > slog_last(l))
        return NULL;
    return &l->v[i - l->offset - 1];
}

static uint64_t slog_chain(const slog *l, raft_index i)
{
    sim_entry *e = slog_get(l, i);
    return e ? e->chain : l->offset_chain;
}

static void slog_append(slog *l, const sim_entry *e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n] = *e;
    if (e->e.data)
        blob_ref(e->e.data);
    l->n++;
}

static void slog_truncate_after(slog *l, raft_index after)
{
    while (l->n && slog_last(l) > after) {
        l->n--;
        blob_unref(l->v[l->n].e.data);
    }
}

static void slog_compact(slog *l, raft_index upto)
{
    if (upto <= l->offset || upto > slog_last(l))
        return;
    size_t k = (size_t)(upto - l->offset);
    l->offset_term = l->v[k - 1].e.term;
    l->offset_chain = l->v[k - 1].chain;
    for (size_t i = 0; i < k; i++)
        blob_unref(l->v[i].e.data);
    memmove(l->v, l->v + k, (l->n - k) * sizeof *l->v);
    l->n -= k;
    l->offset = upto;
}

static void slog_reset(slog *l, const sim_snap *s)
{
    slog_truncate_after(l, 0);
    l->n = 0;
    l->offset = s->meta.index;
    l->offset_term = s->meta.term;
    l->offset_chain = s->chain;
}

static void slog_free(slog *l)
{
    slog_truncate_after(l, 0);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void slog_copy(slog *dst, const slog *src)
{
    slog_free(dst);
    dst->offset = src->offset;
    dst->offset_term = src->offset_term;
    dst->offset_chain = src->offset_chain;
    for (size_t i = 0; i < src->n; i++)
        slog_append(dst, &src->v[i]);
}

int disk_has(const disk *d, raft_index i, raft_term term)
{
    if (d->has_snap && d->snap.meta.index >= i)
        return 1;
    sim_entry *e = slog_get(&d->log, i);
    return e && e->e.term == term;
}

/* ---- the event heap ----------------------------------------------------- */

static int ev_before(const event *a, const event *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static event *ev_add(sim *s, sim_time at, int kind, int node)
{
    event *e = calloc(1, sizeof *e);
    e->t = at;
    e->seq = s->ev_seq++;
    e->kind = kind;
    e->node = node;
    if (s->n_heap == s->cap_heap) {
        s->cap_heap = s->cap_heap ? s->cap_heap * 2 : 256;
        s->heap = realloc(s->heap, s->cap_heap * sizeof *s->heap);
    }
    size_t i = s->n_heap++;
    s->heap[i] = e;
    while (i && ev_before(s->heap[i], s->heap[(i - 1) / 2])) {
        event *t = s->heap[i];
        s->heap[i] = s->heap[(i - 1) / 2];
        s->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return e;
}

static event *ev_pop(sim *s)
{
    if (!s->n_heap)
        return NULL;
    event *top = s->heap[0];
    s->heap[0] = s->heap[--s->n_heap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n_heap && ev_before(s->heap[l], s->heap[m]))
            m = l;
        if (r < s->n_heap && ev_before(s->heap[r], s->heap[m]))
            m = r;
        if (m == i)
            break;
        event *t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
    return top;
}

static void msg_free(raft_msg *m)
{
    for (size_t i = 0; i < m->n_entries; i++)
        blob_unref(m->entries[i].data);
    free(m->entries);
    free((void *)m->snapshot);
}

static void ev_free(event *e)
{
    if (e->kind == EV_DELIVER)
        msg_free(&e->msg);
    free(e->snap);
    free(e);
}

/* ---- nodes: helpers ----------------------------------------------------- */

static sim_node *node_of(sim *s, raft_id id)
{
    if (id < 1 || id > (raft_id)s->n_slots)
        return NULL;
    return &s->nodes[id - 1];
}

static sim_node *find_leader(sim *s)
{
    sim_node *best = NULL;
    for (int i = 0; i < s->n_slots; i++) {
        sim_node *n = &s->nodes[i];
        if (n->alive && raft_get_role(n->r) == RAFT_LEADER &&
            (!best || raft_get_term(n->r) > raft_get_term(best->r)))
            best = n;
    }
    return best;
}

static void *grow(void *v, size_t *cap, size_t need, size_t size)
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
    n->ops = grow(n->ops, &n->cap_ops, n->n_ops + 1, sizeof *n->ops);
    n->ops[n->n_ops++] = *op;
}

/* ---- clients: answers --------------------------------------------------- */

static void client_next(sim *s, int c, sim_time after)
{
    event *e = ev_add(s, s->now + after, EV_CLIENT, 0);
    e->peer = c;
}

static void client_done(sim *s, int c, uint64_t op, int ok, uint64_t value)
{
    client *cl = &s->clients[c];
    if (!cl->busy || cl->op != op)
        return; /* it gave up already */
    hist_op *h = &s->hist[cl->h];
    if (ok) {
        h->ret = s->now;
        if (h->kind == H_GET) {
            h->value = value;
            s->st->reads_ok++;
        }
        s->st->ops_ok++;
    } else {
        h->dropped = 1;
    }
    trace(s, "client %d: op %" PRIu64 " %s %s key %d = %" PRIu64, c, op,
          h->kind == H_PUT ? "put" : "get", ok ? "ok" : "failed", h->key,
          h->value);
    cl->busy = 0;
    client_next(s, c, below(s, 20000));
}

static void answer_reads(sim *s, sim_node *n)
{
    size_t keep = 0;
    for (size_t i = 0; i < n->n_reads; i++) {
        pending_read *p = &n->reads[i];
        if (p->index && p->index <= n->d.sm.applied)
            client_done(s, p->client, p->ctx, 1, n->d.sm.vals[p->key]);
        else
            n->reads[keep++] = *p;
    }
    n->n_reads = keep;
}

/* ---- nodes: applying ---------------------------------------------------- */

typedef struct put_cmd {
    uint8_t key;
    uint64_t value, op;
} put_cmd;

static blob *put_encode(sim *s, int key, uint64_t value)
{
    size_t pad = below(s, 4) == 0 ? below(s, 300) : 0;
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

/* Take a snapshot every snap_every applied entries; compact behind it,
 * keeping a trailing window. */
static void maybe_snapshot(sim *s, sim_node *n)
{
    raft_index applied = n->d.sm.applied;
    raft_index base = n->d.has_snap ? n->d.snap.meta.index : 0;
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
    n->d.snap = snap;
    n->d.has_snap = 1;
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

/* ---- nodes: the disk ---------------------------------------------------- */

static void op_to_disk(disk *d, const disk_op *op)
{
    switch (op->kind) {
    case OP_SNAP:
        d->snap = op->snap;
        d->has_snap = 1;
        slog_reset(&d->log, &op->snap);
        break;
    case OP_TRUNC:
        slog_truncate_after(&d->log, op->after);
        break;
    case OP_APPEND:
        if (op->ent.e.index == slog_last(&d->log) + 1)
            slog_append(&d->log, &op->ent);
        break;
    case OP_HS:
        d->hs = op->hs;
        break;
    }
}

static void op_free(disk_op *op)
{
    if (op->kind == OP_APPEND)
        blob_unref(op->ent.e.data);
}

/* Write the ready's durable part to the view and the unsynced queue. */
static void write_ready(sim *s, sim_node *n, struct raft_ready *rd)
{
    disk_op op;
    if (rd->snapshot) {
        if (!n->has_stash || n->stash.meta.index != rd->snapshot->index) {
            violation(s, "node %" PRIu64 " asked to install snapshot %" PRIu64
                         " it never received", n->id, rd->snapshot->index);
            return;
        }
        memset(&op, 0, sizeof op);
        op.kind = OP_SNAP;
        op.ready = rd->seq_;
        op.snap = n->stash;
        push_op(n, &op);
        slog_reset(&n->view, &n->stash);
        check_install(s, n, &n->stash);
        s->st->installs++;
    }
    if (rd->truncate) {
        memset(&op, 0, sizeof op);
        op.kind = OP_TRUNC;
        op.ready = rd->seq_;
        op.after = rd->truncate_after;
        push_op(n, &op);
        slog_truncate_after(&n->view, rd->truncate_after);
    }
    for (size_t i = 0; i < rd->n_entries; i++) {
        const raft_entry *e = &rd->entries[i];
        if (e->index != slog_last(&n->view) + 1) {
            violation(s, "node %" PRIu64 ": ready appends %" PRIu64
                         " after %" PRIu64, n->id, e->index,
                      slog_last(&n->view));
            return;
        }
        sim_entry se = {*e, chain_next(slog_chain(&n->view, e->index - 1), e)};
        check_view_append(s, n, &se);
        slog_append(&n->view, &se);
        memset(&op, 0, sizeof op);
        op.kind = OP_APPEND;
        op.ready = rd->seq_;
        op.ent = se;
        if (se.e.data)
            blob_ref(se.e.data);
        push_op(n, &op);
    }
    if (rd->has_hardstate) {
        memset(&op, 0, sizeof op);
        op.kind = OP_HS;
        op.ready = rd->seq_;
        op.hs = rd->hs;
        push_op(n, &op);
    }
}

/* ---- the network -------------------------------------------------------- */

static void copy_msg(raft_msg *dst, const raft_msg *m)
{
    *dst = *m;
    dst->entries = NULL;
    dst->snapshot = NULL;
    if (m->n_entries) {
        dst->entries = malloc(m->n_entries * sizeof *dst->entries);
        memcpy(dst->entries, m->entries, m->n_entries * sizeof *dst->entries);
        for (size_t i = 0; i < m->n_entries; i++)
            if (dst->entries[i].data)
                blob_ref(dst->entries[i].data);
    }
    if (m->snapshot) {
        raft_snapshot_meta *c = malloc(sizeof *c);
        *c = *m->snapshot;
        dst->snapshot = c;
    }
}

static void snap_report(sim *s, sim_node *from, raft_id to, int ok,
                        sim_time after)
{
    event *e = ev_add(s, s->now + after, EV_SNAP_REPORT, (int)from->id);
    e->inc = from->incarnation;
    e->peer = (int)to;
    e->ok = ok;
}

static void deliver_later(sim *s, sim_node *from, const raft_msg *m)
{
    sim_time d = 100 + below(s, s->delay_max);
    if (chance(s, 0.05))
        d += below(s, 5 * s->delay_max); /* a slow path: reordering */
    event *e = ev_add(s, s->now + d, EV_DELIVER, (int)m->to);
    copy_msg(&e->msg, m);
    e->inc = from->incarnation;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        /* the newest snapshot we have, which may be newer than asked */
        e->snap = malloc(sizeof *e->snap);
        *e->snap = from->d.snap;
        *(raft_snapshot_meta *)e->msg.snapshot = from->d.snap.meta;
    }
}

static void net_send(sim *s, sim_node *from, const raft_msg *m)
{
    check_send(s, from, m);
    s->st->msgs++;
    int snap = m->type == RAFT_MSG_SNAPSHOT;
    if (snap) {
        s->st->snapshots_sent++;
        if (!from->d.has_snap || from->d.snap.meta.index < m->snapshot->index) {
            violation(s, "node %" PRIu64 " sends snapshot %" PRIu64
                         " it does not have", from->id, m->snapshot->index);
            return;
        }
    }
    if (!node_of(s, m->to) || s->blocked[from->id][m->to] ||
        chance(s, s->drop)) {
        trace(s, "  drop %s %" PRIu64 "->%" PRIu64,
              raft_msg_type_name(m->type), m->from, m->to);
        if (snap)
            snap_report(s, from, m->to, 0, 50000);
        return;
    }
    deliver_later(s, from, m);
    if (!snap && chance(s, s->dup))
        deliver_later(s, from, m);
}

static void send_all(sim *s, sim_node *n, const raft_msg *v, size_t count)
{
    for (size_t i = 0; i < count; i++)
        net_send(s, n, &v[i]);
}

/* ---- nodes: the ready cycle --------------------------------------------- */

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
    n->outs = grow(n->outs, &n->cap_outs, n->n_outs + 1, sizeof *n->outs);
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
    send_all(s, n, rd->msgs, rd->n_msgs);
    write_ready(s, n, rd);
    note_reads(n, rd);
    sim_time start = n->last_fsync > s->now ? n->last_fsync : s->now;
    sim_time fsync = 200 + below(s, 3000);
    if (n->slow_disk_until > s->now)
        fsync += 5000 + below(s, 40000); /* a stalled disk */
    o->due = start + (durable_work(rd) ? fsync : 0);
    n->last_fsync = o->due;
    event *e = ev_add(s, o->due, EV_FSYNC, (int)n->id);
    e->inc = n->incarnation;
}

static void pump(sim *s, sim_node *n)
{
    while (!s->failed && n->alive && n->n_outs < n->max_outs &&
           raft_has_ready(n->r))
        take_ready(s, n);
}

static void on_fsync(sim *s, sim_node *n)
{
    outstanding o = n->outs[0];
    memmove(n->outs, n->outs + 1, (n->n_outs - 1) * sizeof *n->outs);
    n->n_outs--;
    struct raft_ready *rd = &o.rd;
    size_t k = 0;
    for (; k < n->n_ops && n->ops[k].ready == rd->seq_; k++) {
        op_to_disk(&n->d, &n->ops[k]);
        if (n->ops[k].kind == OP_SNAP) /* the state machine restores */
            n->d.sm = n->ops[k].snap.state;
        op_free(&n->ops[k]);
    }
    if (k)
        memmove(n->ops, n->ops + k, (n->n_ops - k) * sizeof *n->ops);
    n->n_ops -= k;
    send_all(s, n, rd->msgs_persisted, rd->n_msgs_persisted);
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
    pump(s, n);
}

/* ---- nodes: start, crash ------------------------------------------------ */

static void node_options(sim *s, sim_node *n, raft_options *o)
{
    static const size_t msg_bytes[] = {0, 64, 256, 4096};
    static const unsigned inflight[] = {1, 2, 4, 64};
    raft_options_init(o, n->id);
    o->election_tick = 10;
    o->heartbeat_tick = 2;
    o->max_msg_bytes = msg_bytes[below(s, 4)];
    o->max_inflight_msgs = inflight[below(s, 4)];
    o->max_inflight_bytes = chance(s, 0.5) ? 0 : 1024;
    o->max_apply_bytes = chance(s, 0.5) ? 0 : 200;
    o->max_uncommitted_bytes = chance(s, 0.8) ? 0 : 4096;
    o->check_quorum = (uint8_t)s->check_quorum;
    o->seed = rnd(s);
}

static void node_start(sim *s, sim_node *n)
{
    raft_entry *ents = calloc(n->d.log.n + 1, sizeof *ents);
    for (size_t i = 0; i < n->d.log.n; i++)
        ents[i] = n->d.log.v[i].e;
    if (n->d.has_snap && n->d.sm.applied < n->d.snap.meta.index)
        n->d.sm = n->d.snap.state; /* the install was cut by the crash */
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
    n->max_outs = 1 + (unsigned)below(s, 3);
    n->last_commit_seen = rs.applied;
    n->leader_checked_term = 0;
    event *e = ev_add(s, s->now + below(s, (sim_time)n->tick_period), EV_TICK,
                      (int)n->id);
    e->inc = n->incarnation;
    trace(s, "node %" PRIu64 ": start (term %" PRIu64 ", log %" PRIu64
             "..%" PRIu64 ", applied %" PRIu64 ")",
          n->id, rs.hs.term, n->d.log.offset + 1, slog_last(&n->d.log),
          rs.applied);
}

/* Lose what was not synced, except a random prefix of the log writes and
 * of the hardstate replacements. */
static void node_crash(sim *s, sim_node *n)
{
    size_t log_ops = 0, hs_ops = 0;
    for (size_t i = 0; i < n->n_ops; i++)
        *(n->ops[i].kind == OP_HS ? &hs_ops : &log_ops) += 1;
    size_t keep_log = below(s, log_ops + 1), keep_hs = below(s, hs_ops + 1);
    for (size_t i = 0; i < n->n_ops; i++) {
        disk_op *op = &n->ops[i];
        if (op->kind == OP_HS ? keep_hs-- > 0 : keep_log-- > 0)
            op_to_disk(&n->d, op);
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
    trace(s, "node %" PRIu64 ": CRASH (durable log ..%" PRIu64 ", term %" PRIu64
             ")", n->id, slog_last(&n->d.log), n->d.hs.term);
    check_crash(s);
}

/* ---- clients ------------------------------------------------------------ */

static size_t hist_add(sim *s, int c, int kind, int key, uint64_t value)
{
    s->hist = grow(s->hist, &s->cap_hist, s->n_hist + 1, sizeof *s->hist);
    hist_op *h = &s->hist[s->n_hist];
    memset(h, 0, sizeof *h);
    h->kind = kind;
    h->client = c;
    h->key = key;
    h->value = value;
    h->call = s->now;
    h->ret = SIM_INF;
    return s->n_hist++;
}

static sim_node *client_target(sim *s, client *cl)
{
    sim_node *n = node_of(s, cl->guess);
    if (n && n->alive && !n->departed)
        return n;
    cl->guess = 1 + below(s, (uint64_t)s->n_slots);
    return NULL;
}

static int client_submit(sim *s, int c, sim_node *n, raft_id *hint)
{
    client *cl = &s->clients[c];
    int rc;
    if (cl->kind == H_PUT) {
        blob *b = put_encode(s, cl->key, cl->op);
        raft_index idx;
        raft_term term;
        rc = raft_propose(n->r, b, &idx, &term, hint);
        blob_unref(b);
        if (rc != RAFT_OK)
            return rc;
        n->props = grow(n->props, &n->cap_props, n->n_props + 1,
                        sizeof *n->props);
        n->props[n->n_props++] = (pending_prop){idx, term, c, cl->op};
        cl->h = hist_add(s, c, H_PUT, cl->key, cl->op);
    } else {
        rc = raft_read_index(n->r, cl->op, hint);
        if (rc != RAFT_OK)
            return rc;
        n->reads = grow(n->reads, &n->cap_reads, n->n_reads + 1,
                        sizeof *n->reads);
        n->reads[n->n_reads++] = (pending_read){cl->op, c, cl->key, 0};
        cl->h = hist_add(s, c, H_GET, cl->key, 0);
    }
    return RAFT_OK;
}

static void client_issue(sim *s, int c)
{
    client *cl = &s->clients[c];
    sim_node *n = client_target(s, cl);
    if (!n) {
        client_next(s, c, 5000);
        return;
    }
    cl->kind = chance(s, 0.55) ? H_PUT : H_GET;
    cl->key = (int)below(s, SIM_KEYS);
    cl->op = ++s->next_op;
    raft_id hint = 0;
    int rc = client_submit(s, c, n, &hint);
    if (rc != RAFT_OK) {
        cl->guess = hint ? hint : 1 + below(s, (uint64_t)s->n_slots);
        client_next(s, c, 2000 + below(s, 8000));
        return;
    }
    trace(s, "client %d: op %" PRIu64 " %s key %d at node %" PRIu64, c, cl->op,
          cl->kind == H_PUT ? "put" : "get", cl->key, n->id);
    cl->busy = 1;
    cl->deadline = s->now + CLIENT_TIMEOUT_US;
    client_next(s, c, CLIENT_TIMEOUT_US);
    pump(s, n);
}

static void on_client(sim *s, int c)
{
    client *cl = &s->clients[c];
    if (cl->busy) {
        if (s->now < cl->deadline)
            return;
        hist_op *h = &s->hist[cl->h];
        if (h->kind == H_GET)
            h->dropped = 1; /* a read that never answered did nothing */
        else
            s->st->ops_unknown++; /* a write may or may not have happened */
        trace(s, "client %d: op %" PRIu64 " timed out", c, cl->op);
        cl->busy = 0;
    }
    if (s->clients_on)
        client_issue(s, c);
}

/* ---- faults ------------------------------------------------------------- */

static void heal(sim *s)
{
    memset(s->blocked, 0, sizeof s->blocked);
    trace(s, "network healed");
}

static void schedule_heal(sim *s)
{
    ev_add(s, s->now + 100000 + below(s, 1200000), EV_HEAL, 0);
}

static sim_node *random_node(sim *s, int alive)
{
    for (int tries = 0; tries < 16; tries++) {
        sim_node *n = &s->nodes[below(s, (uint64_t)s->n_slots)];
        if (n->started && !n->departed && n->alive == alive)
            return n;
    }
    return NULL;
}

static void fault_crash(sim *s)
{
    sim_node *n = chance(s, 0.4) ? find_leader(s) : random_node(s, 1);
    if (!n)
        return;
    node_crash(s, n);
    event *e = ev_add(s, s->now + 20000 + below(s, 1500000), EV_RESTART,
                      (int)n->id);
    e->inc = n->incarnation;
}

static void fault_partition(sim *s)
{
    uint8_t side[SIM_MAX_NODES + 1];
    for (int i = 1; i <= s->n_slots; i++)
        side[i] = (uint8_t)below(s, 2);
    for (int a = 1; a <= s->n_slots; a++)
        for (int b = 1; b <= s->n_slots; b++)
            if (side[a] != side[b])
                s->blocked[a][b] = 1;
    trace(s, "network partitioned");
    schedule_heal(s);
}

static void fault_asymmetric(sim *s)
{
    int a = 1 + (int)below(s, (uint64_t)s->n_slots);
    int b = 1 + (int)below(s, (uint64_t)s->n_slots);
    if (a != b) {
        s->blocked[a][b] = 1;
        trace(s, "link %d->%d cut", a, b);
    }
    schedule_heal(s);
}

static void fault_isolate_leader(sim *s)
{
    sim_node *l = find_leader(s);
    if (!l)
        return;
    for (int i = 1; i <= s->n_slots; i++) {
        if (chance(s, 0.8))
            s->blocked[l->id][i] = 1;
        if (chance(s, 0.8))
            s->blocked[i][l->id] = 1;
    }
    trace(s, "leader %" PRIu64 " isolated", l->id);
    schedule_heal(s);
}

static void fault_network(sim *s)
{
    static const double drops[] = {0, 0.01, 0.05, 0.2};
    static const double dups[] = {0, 0.02, 0.1};
    static const sim_time delays[] = {1000, 5000, 20000, 60000};
    s->drop = drops[below(s, 4)];
    s->dup = dups[below(s, 3)];
    s->delay_max = delays[below(s, 4)];
    trace(s, "network: drop %.2f dup %.2f delay %" PRIu64 " us", s->drop,
          s->dup, s->delay_max);
}

static void fault_drift(sim *s)
{
    sim_node *n = &s->nodes[below(s, (uint64_t)s->n_slots)];
    n->tick_period = TICK_US * (0.7 + 0.6 * unit(s));
    trace(s, "node %" PRIu64 ": tick every %.0f us", n->id, n->tick_period);
}

static void fault_slow_disk(sim *s)
{
    sim_node *n = chance(s, 0.5) ? find_leader(s) : random_node(s, 1);
    if (!n)
        return;
    n->slow_disk_until = s->now + 50000 + below(s, 500000);
    trace(s, "node %" PRIu64 ": disk stalls", n->id);
}

static void fault_transfer(sim *s)
{
    sim_node *l = find_leader(s);
    if (!l)
        return;
    const raft_config *c = raft_get_config(l->r);
    const raft_server *to = &c->servers[below(s, c->n)];
    int rc = raft_transfer_leadership(l->r, to->id);
    trace(s, "node %" PRIu64 ": transfer leadership to %" PRIu64 ": %s", l->id,
          to->id, raft_strerror(rc));
    if (rc == RAFT_OK)
        s->st->transfers++;
    pump(s, l);
}

/* Add the spare as a learner, promote it once caught up, then remove the
 * victim (often the leader itself). Driven from whatever the current
 * leader's configuration says, so lost proposals are simply retried. */
static void fault_membership(sim *s)
{
    sim_node *l = find_leader(s);
    if (!l || !s->membership)
        return;
    const raft_config *c = raft_get_config(l->r);
    const raft_server *sp = raft_config_find(c, s->spare);
    raft_conf_change cc;
    memset(&cc, 0, sizeof cc);
    if (s->victim && !raft_config_find(c, s->victim)) {
        return; /* done */
    } else if (!sp) {
        cc.type = RAFT_CONF_ADD_LEARNER;
        cc.id = s->spare;
        snprintf(cc.addr, sizeof cc.addr, "sim-node-%" PRIu64, s->spare);
        sim_node *n = node_of(s, s->spare);
        if (!n->started)
            node_start(s, n);
    } else if (sp->role == RAFT_LEARNER) {
        cc.type = RAFT_CONF_PROMOTE;
        cc.id = s->spare;
    } else {
        if (!s->victim)
            s->victim = chance(s, 0.5) ? l->id
                                       : 1 + below(s, (uint64_t)s->n_initial);
        cc.type = RAFT_CONF_REMOVE;
        cc.id = s->victim;
    }
    int rc = raft_propose_conf(l->r, &cc, NULL, NULL, NULL);
    trace(s, "node %" PRIu64 ": conf change %u of %" PRIu64 ": %s", l->id,
          cc.type, cc.id, raft_strerror(rc));
    if (rc == RAFT_OK)
        s->st->conf_changes++;
    pump(s, l);
}

/* A removed node whose removal committed is shut down for good. */
static void retire_removed(sim *s)
{
    sim_node *l = find_leader(s);
    if (!l || !s->victim)
        return;
    raft_status st;
    raft_status_get(l->r, &st);
    sim_node *v = node_of(s, s->victim);
    if (v->departed || raft_config_find(raft_get_config(l->r), s->victim) ||
        st.commit < st.config_index)
        return;
    v->departed = 1;
    if (v->alive)
        node_crash(s, v);
    trace(s, "node %" PRIu64 ": removed from the cluster, shut down", v->id);
}

static void on_fault(sim *s)
{
    if (!s->chaos)
        return;
    switch (below(s, 13)) {
    case 0: case 1: fault_crash(s); break;
    case 12: fault_slow_disk(s); break;
    case 2: fault_partition(s); break;
    case 3: fault_asymmetric(s); break;
    case 4: fault_isolate_leader(s); break;
    case 5: case 6: fault_network(s); break;
    case 7: fault_drift(s); break;
    case 8: fault_transfer(s); break;
    default: fault_membership(s); break;
    }
    retire_removed(s);
    ev_add(s, s->now + 30000 + below(s, 250000), EV_FAULT, 0);
}

static void end_chaos(sim *s)
{
    s->chaos = 0;
    heal(s);
    s->drop = s->dup = 0;
    s->delay_max = 2000;
    for (int i = 0; i < s->n_slots; i++) {
        sim_node *n = &s->nodes[i];
        n->tick_period = TICK_US;
        n->slow_disk_until = 0;
        if (n->started && !n->alive && !n->departed)
            node_start(s, n);
    }
    trace(s, "chaos ends");
}

/* ---- the run ------------------------------------------------------------ */

static void on_event(sim *s, event *e)
{
    sim_node *n = e->node ? node_of(s, (raft_id)e->node) : NULL;
    int live = n && n->alive && (e->kind == EV_DELIVER || e->inc == n->incarnation);
    switch (e->kind) {
    case EV_TICK:
        if (!live)
            break;
        raft_tick(n->r);
        pump(s, n);
        ev_add(s, s->now + (sim_time)n->tick_period, EV_TICK, e->node)->inc =
            n->incarnation;
        break;
    case EV_DELIVER:
        if (e->snap) {
            /* the stream's end, as the sender's glue learns it */
            sim_node *from = node_of(s, e->msg.from);
            int ok = live && !s->blocked[e->msg.from][e->msg.to];
            if (from->alive && from->incarnation == e->inc)
                snap_report(s, from, e->msg.to, ok, ok ? 0 : 20000);
            if (ok) {
                n->stash = *e->snap;
                n->has_stash = 1;
            }
        }
        if (!live || s->blocked[e->msg.from][e->msg.to])
            break;
        trace(s, "  %s %" PRIu64 "->%" PRIu64 " t%" PRIu64 " i%" PRIu64
                 " lt%" PRIu64 " c%" PRIu64 " n%zu%s%s", 
              raft_msg_type_name(e->msg.type), e->msg.from, e->msg.to,
              e->msg.term, e->msg.index, e->msg.log_term, e->msg.commit,
              e->msg.n_entries, e->msg.reject ? " reject" : "",
              e->snap ? " +snapshot" : "");
        int rc = raft_step(n->r, &e->msg);
        if (rc != RAFT_OK)
            violation(s, "node %" PRIu64 " step %s from %" PRIu64 ": %s", n->id,
                      raft_msg_type_name(e->msg.type), e->msg.from,
                      raft_strerror(rc));
        pump(s, n);
        break;
    case EV_FSYNC:
        if (live)
            on_fsync(s, n);
        break;
    case EV_CLIENT: on_client(s, e->peer); break;
    case EV_FAULT: on_fault(s); break;
    case EV_RESTART:
        if (n && !n->alive && !n->departed && e->inc == n->incarnation)
            node_start(s, n);
        break;
    case EV_HEAL: heal(s); break;
    case EV_SNAP_REPORT:
        if (live) {
            raft_report_snapshot(n->r, (raft_id)e->peer, e->ok);
            pump(s, n);
        }
        break;
    case EV_END_CHAOS: end_chaos(s); break;
    case EV_STOP_CLIENTS: s->clients_on = 0; break;
    }
}

static void check_all(sim *s)
{
    for (int i = 0; i < s->n_slots && !s->failed; i++)
        if (s->nodes[i].alive)
            check_node(s, &s->nodes[i]);
}

static void setup(sim *s)
{
    s->n_initial = s->cfg.nodes;
    s->membership = below(s, 3) == 0;
    s->check_quorum = below(s, 4) != 0;
    s->n_slots = s->n_initial + (s->membership ? 1 : 0);
    s->spare = (raft_id)s->n_initial + 1;
    s->boot.n = (uint32_t)s->n_initial;
    for (int i = 0; i < s->n_initial; i++) {
        s->boot.servers[i].id = (raft_id)i + 1;
        snprintf(s->boot.servers[i].addr, RAFT_ADDR_MAX, "sim-node-%d", i + 1);
    }
    s->delay_max = 2000;
    for (int i = 0; i < s->n_slots; i++) {
        sim_node *n = &s->nodes[i];
        n->id = (raft_id)i + 1;
        n->joined_late = i >= s->n_initial;
        n->tick_period = TICK_US;
        n->snap_every = 10 + (unsigned)below(s, 60);
        n->snap_trailing = (unsigned)below(s, 20);
        if (i < s->n_initial)
            node_start(s, n);
    }
    s->clients = calloc(SIM_CLIENTS, sizeof *s->clients);
    s->clients_on = s->chaos = 1;
    for (int c = 0; c < SIM_CLIENTS; c++)
        client_next(s, c, 200000 + below(s, 100000));
    ev_add(s, 100000 + below(s, 200000), EV_FAULT, 0);
    ev_add(s, s->cfg.chaos_us, EV_END_CHAOS, 0);
    ev_add(s, s->cfg.chaos_us + s->cfg.heal_us / 2, EV_STOP_CLIENTS, 0);
}

/* After the heal: one leader, every member alive and applied to its
 * commit index with the same state. */
static void check_converged(sim *s)
{
    sim_node *l = find_leader(s);
    if (!l) {
        violation(s, "liveness: no leader %.0f ms after the network healed",
                  (double)s->cfg.heal_us / 1000.0);
        return;
    }
    const raft_config *c = raft_get_config(l->r);
    raft_index commit = raft_get_commit(l->r);
    for (uint32_t i = 0; i < c->n; i++) {
        sim_node *n = node_of(s, c->servers[i].id);
        if (!n || !n->alive) {
            violation(s, "liveness: member %" PRIu64 " is down at the end",
                      c->servers[i].id);
            return;
        }
        if (n->d.sm.applied != commit ||
            kv_digest(&n->d.sm) != kv_digest(&l->d.sm)) {
            violation(s, "liveness: node %" PRIu64 " applied %" PRIu64
                         ", leader %" PRIu64 " committed %" PRIu64,
                      n->id, n->d.sm.applied, l->id, commit);
            return;
        }
    }
}

static void check_history(sim *s)
{
    for (int key = 0; key < SIM_KEYS && !s->failed; key++) {
        char why[256];
        int rc = linearizable(s->hist, s->n_hist, key, why, sizeof why);
        if (rc > 0)
            violation(s, "linearizability (key %d): %s", key, why);
    }
}

static void teardown(sim *s)
{
    while (s->n_heap)
        ev_free(ev_pop(s));
    free(s->heap);
    for (int i = 0; i < s->n_slots; i++) {
        sim_node *n = &s->nodes[i];
        for (size_t k = 0; k < n->n_outs; k++)
            raft_ready_free(&n->outs[k].rd);
        raft_free(n->r);
        for (size_t k = 0; k < n->n_ops; k++)
            op_free(&n->ops[k]);
        free(n->ops);
        free(n->outs);
        free(n->props);
        free(n->reads);
        slog_free(&n->view);
        slog_free(&n->d.log);
    }
    free(s->clients);
    free(s->hist);
    check_free(s->ck);
}

int sim_run(const sim_config *cfg, sim_stats *st, char *why, size_t why_len)
{
    sim *s = calloc(1, sizeof *s);
    s->cfg = *cfg;
    s->st = st;
    s->rng = cfg->seed * 0x9e3779b97f4a7c15ULL + 1;
    s->why = why;
    s->why_len = why_len;
    s->ck = check_new();
    setup(s);
    sim_time end = cfg->chaos_us + cfg->heal_us;
    while (!s->failed && s->n_heap && s->heap[0]->t <= end) {
        event *e = ev_pop(s);
        s->now = e->t;
        st->events++;
        on_event(s, e);
        ev_free(e);
        check_all(s);
    }
    if (!s->failed)
        check_converged(s);
    if (!s->failed)
        check_history(s);
    int failed = s->failed;
    teardown(s);
    free(s);
    return failed;
}

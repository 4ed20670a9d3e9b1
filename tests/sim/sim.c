/* SPDX-License-Identifier: MIT */
/*
 * sim.c: the simulated cluster's clock. Events (ticks, deliveries,
 * fsyncs, clients, faults) sit in a heap ordered by (time, sequence);
 * every random choice comes from one splitmix64 stream seeded by the
 * seed, so a seed replays exactly. After every event the safety checks
 * run over every live node; after the run, convergence and the client
 * history are checked.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- randomness, tracing, failures ------------------------------------- */

uint64_t sim_rnd(sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t sim_below(sim *s, uint64_t n)
{
    return n ? sim_rnd(s) % n : 0;
}

double sim_unit(sim *s)
{
    return (double)(sim_rnd(s) >> 11) / (double)(1ULL << 53);
}

int sim_chance(sim *s, double p)
{
    return sim_unit(s) < p;
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

/* ---- the event heap ----------------------------------------------------- */

static int ev_before(const event *a, const event *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

event *sim_event(sim *s, sim_time at, int kind, int node)
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

static void ev_free(event *e)
{
    if (e->kind == EV_DELIVER)
        net_msg_free(&e->msg);
    repair_msg_free(e->fm);
    free(e->snap);
    free(e);
}

/* ---- the run ------------------------------------------------------------ */

static void on_event(sim *s, event *e)
{
    sim_node *n = e->node ? sim_node_of(s, (raft_id)e->node) : NULL;
    int live = n && n->alive && (e->kind == EV_DELIVER || e->inc == n->incarnation);
    switch (e->kind) {
    case EV_TICK:
        if (!live)
            break;
        raft_tick(n->r);
        glue_pump(s, n);
        sim_event(s, s->now + (sim_time)n->tick_period, EV_TICK, e->node)->inc =
            n->incarnation;
        break;
    case EV_DELIVER:
        if (n)
            net_deliver(s, n, e, live);
        break;
    case EV_FSYNC:
        if (live)
            glue_fsync(s, n);
        break;
    case EV_CLIENT: workload_client(s, e->peer); break;
    case EV_FAULT: workload_fault(s); break;
    case EV_RESTART:
        if (n && !n->alive && !n->departed && e->inc == n->incarnation)
            glue_start(s, n);
        break;
    case EV_HEAL: net_heal(s); break;
    case EV_SNAP_REPORT:
        if (live) {
            raft_report_snapshot(n->r, (raft_id)e->peer, e->ok);
            glue_pump(s, n);
        }
        break;
    case EV_END_CHAOS: workload_end_chaos(s); break;
    case EV_CRASH:
        if (live && s->chaos)
            workload_crash(s, n);
        break;
    case EV_STOP_CLIENTS: s->clients_on = 0; break;
    case EV_FETCH: case EV_FETCH_REPLY: case EV_REPAIR_SNAP:
    case EV_REPAIR_TICK:
        if (n)
            repair_event(s, n, e);
        break;
    case EV_FORGE: byz_forge(s); break;
    }
}

static void check_all(sim *s)
{
    for (int i = 0; i < s->n_slots && !s->failed; i++)
        if (s->nodes[i].alive && s->nodes[i].r)
            check_node(s, &s->nodes[i]);
}

static void setup(sim *s)
{
    s->n_initial = s->cfg.nodes;
    s->membership = sim_below(s, 3) == 0;
    s->check_quorum = sim_below(s, 4) != 0;
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
        n->snap_every = 10 + (unsigned)sim_below(s, 60);
        n->snap_trailing = (unsigned)sim_below(s, 20);
        if (i < s->n_initial)
            glue_start(s, n);
    }
    s->clients = calloc(SIM_CLIENTS, sizeof *s->clients);
    s->clients_on = s->chaos = 1;
    for (int c = 0; c < SIM_CLIENTS; c++)
        client_next(s, c, 200000 + sim_below(s, 100000));
    sim_event(s, 100000 + sim_below(s, 200000), EV_FAULT, 0);
    sim_event(s, s->cfg.chaos_us, EV_END_CHAOS, 0);
    if (s->cfg.byzantine)
        sim_event(s, 50000, EV_FORGE, 0);
    sim_event(s, s->cfg.chaos_us + s->cfg.heal_us / 2, EV_STOP_CLIENTS, 0);
}

/* After the heal: one leader, every member alive and applied to its
 * commit index with the same state. */
static void check_converged(sim *s)
{
    sim_node *l = sim_leader(s);
    if (!l) {
        violation(s, "liveness: no leader %.0f ms after the network healed",
                  (double)s->cfg.heal_us / 1000.0);
        return;
    }
    const raft_config *c = raft_get_config(l->r);
    raft_index commit = raft_get_commit(l->r);
    for (uint32_t i = 0; i < c->n; i++) {
        sim_node *n = sim_node_of(s, c->servers[i].id);
        if (!n || !n->alive) {
            violation(s, "liveness: member %" PRIu64 " is down at the end",
                      c->servers[i].id);
            return;
        }
        if (n->rp) {
            char buf[512];
            repair_describe(s, n, buf, sizeof buf);
            violation(s, "liveness: member %" PRIu64 " still repairs its log "
                         "at the end: %s", n->id, buf);
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
        if (rc < 0)
            s->st->lin_giveups++;
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
        repair_crash(s, n);
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
    s->disk_rng = cfg->seed * 0xc2b2ae3d27d4eb4fULL + 7;
    s->byz_rng = cfg->seed * 0xd6e8feb86659fd93ULL + 11;
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
    if (!s->failed && cfg->byzantine)
        byz_check_terms(s);
    if (!s->failed)
        check_converged(s);
    if (!s->failed)
        check_history(s);
    int failed = s->failed;
    teardown(s);
    free(s);
    return failed;
}


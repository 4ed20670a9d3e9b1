/* SPDX-License-Identifier: MIT */
/*
 * workload.c: what happens to the cluster. Clients run put/get operations
 * of a register per key against the node they believe leads, recording
 * each call and return for the linearizability check. Faults strike at
 * random during the chaos phase: crashes and restarts, partitions, one-way
 * cuts, an isolated leader, lossy or slow networks, clock drift, stalled
 * disks, leadership transfers, and (in some seeds) membership changes.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- clients: answers --------------------------------------------------- */

void client_next(sim *s, int c, sim_time after)
{
    event *e = sim_event(s, s->now + after, EV_CLIENT, 0);
    e->peer = c;
}

void client_done(sim *s, int c, uint64_t op, int ok, uint64_t value)
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
    client_next(s, c, sim_below(s, 20000));
}

void answer_reads(sim *s, sim_node *n)
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

/* ---- clients ------------------------------------------------------------ */

static size_t hist_add(sim *s, int c, int kind, int key, uint64_t value)
{
    s->hist = sim_grow(s->hist, &s->cap_hist, s->n_hist + 1, sizeof *s->hist);
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
    sim_node *n = sim_node_of(s, cl->guess);
    if (n && n->alive && n->r && !n->departed)
        return n;
    cl->guess = 1 + sim_below(s, (uint64_t)s->n_slots);
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
        n->props = sim_grow(n->props, &n->cap_props, n->n_props + 1,
                        sizeof *n->props);
        n->props[n->n_props++] = (pending_prop){idx, term, c, cl->op};
        cl->h = hist_add(s, c, H_PUT, cl->key, cl->op);
    } else {
        rc = raft_read_index(n->r, cl->op, hint);
        if (rc != RAFT_OK)
            return rc;
        n->reads = sim_grow(n->reads, &n->cap_reads, n->n_reads + 1,
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
    cl->kind = sim_chance(s, 0.55) ? H_PUT : H_GET;
    cl->key = (int)sim_below(s, SIM_KEYS);
    cl->op = ++s->next_op;
    raft_id hint = 0;
    int rc = client_submit(s, c, n, &hint);
    if (rc != RAFT_OK) {
        cl->guess = hint ? hint : 1 + sim_below(s, (uint64_t)s->n_slots);
        client_next(s, c, 2000 + sim_below(s, 8000));
        return;
    }
    trace(s, "client %d: op %" PRIu64 " %s key %d at node %" PRIu64, c, cl->op,
          cl->kind == H_PUT ? "put" : "get", cl->key, n->id);
    cl->busy = 1;
    cl->deadline = s->now + CLIENT_TIMEOUT_US;
    client_next(s, c, CLIENT_TIMEOUT_US);
    glue_pump(s, n);
}

void workload_client(sim *s, int c)
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

static void schedule_heal(sim *s)
{
    sim_event(s, s->now + 100000 + sim_below(s, 1200000), EV_HEAL, 0);
}

static sim_node *random_node(sim *s, int alive)
{
    for (int tries = 0; tries < 16; tries++) {
        sim_node *n = &s->nodes[sim_below(s, (uint64_t)s->n_slots)];
        if (n->started && !n->departed && n->alive == alive)
            return n;
    }
    return NULL;
}

void workload_crash(sim *s, sim_node *n)
{
    glue_crash(s, n);
    event *e = sim_event(s, s->now + 20000 + sim_below(s, 1500000), EV_RESTART,
                      (int)n->id);
    e->inc = n->incarnation;
}

static void fault_crash(sim *s)
{
    sim_node *n = sim_chance(s, 0.4) ? sim_leader(s) : random_node(s, 1);
    if (n)
        workload_crash(s, n);
}

static void fault_partition(sim *s)
{
    uint8_t side[SIM_MAX_NODES + 1];
    for (int i = 1; i <= s->n_slots; i++)
        side[i] = (uint8_t)sim_below(s, 2);
    for (int a = 1; a <= s->n_slots; a++)
        for (int b = 1; b <= s->n_slots; b++)
            if (side[a] != side[b])
                s->blocked[a][b] = 1;
    trace(s, "network partitioned");
    schedule_heal(s);
}

static void fault_asymmetric(sim *s)
{
    int a = 1 + (int)sim_below(s, (uint64_t)s->n_slots);
    int b = 1 + (int)sim_below(s, (uint64_t)s->n_slots);
    if (a != b) {
        s->blocked[a][b] = 1;
        trace(s, "link %d->%d cut", a, b);
    }
    schedule_heal(s);
}

static void fault_isolate_leader(sim *s)
{
    sim_node *l = sim_leader(s);
    if (!l)
        return;
    for (int i = 1; i <= s->n_slots; i++) {
        if (sim_chance(s, 0.8))
            s->blocked[l->id][i] = 1;
        if (sim_chance(s, 0.8))
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
    s->drop = drops[sim_below(s, 4)];
    s->dup = dups[sim_below(s, 3)];
    s->delay_max = delays[sim_below(s, 4)];
    trace(s, "network: drop %.2f dup %.2f delay %" PRIu64 " us", s->drop,
          s->dup, s->delay_max);
}

static void fault_drift(sim *s)
{
    sim_node *n = &s->nodes[sim_below(s, (uint64_t)s->n_slots)];
    n->tick_period = TICK_US * (0.7 + 0.6 * sim_unit(s));
    trace(s, "node %" PRIu64 ": tick every %.0f us", n->id, n->tick_period);
}

static void fault_slow_disk(sim *s)
{
    sim_node *n = sim_chance(s, 0.5) ? sim_leader(s) : random_node(s, 1);
    if (!n)
        return;
    n->slow_disk_until = s->now + 50000 + sim_below(s, 500000);
    trace(s, "node %" PRIu64 ": disk stalls", n->id);
}

static void fault_transfer(sim *s)
{
    sim_node *l = sim_leader(s);
    if (!l)
        return;
    const raft_config *c = raft_get_config(l->r);
    const raft_server *to = &c->servers[sim_below(s, c->n)];
    int rc = raft_transfer_leadership(l->r, to->id);
    trace(s, "node %" PRIu64 ": transfer leadership to %" PRIu64 ": %s", l->id,
          to->id, raft_strerror(rc));
    if (rc == RAFT_OK)
        s->st->transfers++;
    glue_pump(s, l);
}

/* Add the spare as a learner, promote it once caught up, then remove the
 * victim (often the leader itself). Driven from whatever the current
 * leader's configuration says, so lost proposals are simply retried. */
static void fault_membership(sim *s)
{
    sim_node *l = sim_leader(s);
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
        sim_node *n = sim_node_of(s, s->spare);
        if (!n->started)
            glue_start(s, n);
    } else if (sp->role == RAFT_LEARNER) {
        cc.type = RAFT_CONF_PROMOTE;
        cc.id = s->spare;
    } else {
        if (!s->victim)
            s->victim = sim_chance(s, 0.5) ? l->id
                                       : 1 + sim_below(s, (uint64_t)s->n_initial);
        cc.type = RAFT_CONF_REMOVE;
        cc.id = s->victim;
    }
    int rc = raft_propose_conf(l->r, &cc, NULL, NULL, NULL);
    trace(s, "node %" PRIu64 ": conf change %u of %" PRIu64 ": %s", l->id,
          cc.type, cc.id, raft_strerror(rc));
    if (rc == RAFT_OK)
        s->st->conf_changes++;
    glue_pump(s, l);
}

/* A removed node whose removal committed is shut down for good. */
static void retire_removed(sim *s)
{
    sim_node *l = sim_leader(s);
    if (!l || !s->victim)
        return;
    raft_status st;
    raft_status_get(l->r, &st);
    sim_node *v = sim_node_of(s, s->victim);
    if (v->departed || raft_config_find(raft_get_config(l->r), s->victim) ||
        st.commit < st.config_index)
        return;
    v->departed = 1;
    if (v->alive)
        glue_crash(s, v);
    trace(s, "node %" PRIu64 ": removed from the cluster, shut down", v->id);
}

/* A burst of writes at a node that believes it leads (lmsd under load
 * appends many entries at once), stale leaders included: an isolated one
 * grows a long tail no one else has, which a snapshot install must later
 * replace (and a crash during that install must not bring back). The
 * entries are empty: the registers ignore them. */
static void fault_burst(sim *s)
{
    sim_node *leaders[SIM_MAX_NODES];
    int k = 0;
    for (int i = 0; i < s->n_slots; i++)
        if (s->nodes[i].alive && s->nodes[i].r &&
            raft_get_role(s->nodes[i].r) == RAFT_LEADER)
            leaders[k++] = &s->nodes[i];
    if (!k)
        return;
    sim_node *l = leaders[sim_below(s, (uint64_t)k)];
    unsigned count = 10 + (unsigned)sim_below(s, 200), ok = 0;
    for (unsigned i = 0; i < count; i++) {
        blob *b = blob_new(0);
        ok += raft_propose(l->r, b, NULL, NULL, NULL) == RAFT_OK;
        blob_unref(b);
    }
    trace(s, "node %" PRIu64 ": a burst of %u writes (%u taken)", l->id,
          count, ok);
    glue_pump(s, l);
}

void workload_fault(sim *s)
{
    if (!s->chaos)
        return;
    switch (sim_below(s, 14)) {
    case 13: fault_burst(s); break;
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
    sim_event(s, s->now + 30000 + sim_below(s, 250000), EV_FAULT, 0);
}

void workload_end_chaos(sim *s)
{
    s->chaos = 0;
    net_heal(s);
    s->drop = s->dup = 0;
    s->delay_max = 2000;
    for (int i = 0; i < s->n_slots; i++) {
        sim_node *n = &s->nodes[i];
        n->tick_period = TICK_US;
        n->slow_disk_until = 0;
        if (n->started && !n->alive && !n->departed)
            glue_start(s, n);
    }
    trace(s, "chaos ends");
}


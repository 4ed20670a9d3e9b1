/* SPDX-License-Identifier: MIT */
/*
 * net.c: the simulated network. Each message is delayed at random (a few
 * take a slow path, which reorders), may be dropped or duplicated, and
 * does not cross a cut link (partitions, one-way cuts, an isolated
 * leader). A snapshot message carries the sender's newest snapshot, and
 * its fate is reported back to the sender as the end of the stream.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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

void net_snap_report(sim *s, sim_node *from, raft_id to, int ok,
                        sim_time after)
{
    event *e = sim_event(s, s->now + after, EV_SNAP_REPORT, (int)from->id);
    e->inc = from->incarnation;
    e->peer = (int)to;
    e->ok = ok;
}

static sim_time delay(sim *s)
{
    sim_time d = 100 + sim_below(s, s->delay_max);
    if (sim_chance(s, 0.05))
        d += sim_below(s, 5 * s->delay_max); /* a slow path: reordering */
    return d;
}

sim_time net_route(sim *s, raft_id from, raft_id to)
{
    if (!sim_node_of(s, to) || s->blocked[from][to] || sim_chance(s, s->drop))
        return 0;
    return delay(s);
}

static void deliver_later(sim *s, sim_node *from, const raft_msg *m)
{
    sim_time d = delay(s);
    event *e = sim_event(s, s->now + d, EV_DELIVER, (int)m->to);
    copy_msg(&e->msg, m);
    e->inc = from->incarnation;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        /* the newest snapshot we have, which may be newer than asked */
        e->snap = malloc(sizeof *e->snap);
        *e->snap = from->served;
        *(raft_snapshot_meta *)e->msg.snapshot = from->served.meta;
    }
}

void net_send(sim *s, sim_node *from, const raft_msg *m)
{
    check_send(s, from, m);
    s->st->msgs++;
    int snap = m->type == RAFT_MSG_SNAPSHOT;
    if (snap) {
        s->st->snapshots_sent++;
        if (from->served.meta.index < m->snapshot->index) {
            violation(s, "node %" PRIu64 " sends snapshot %" PRIu64
                         " it does not have", from->id, m->snapshot->index);
            return;
        }
    }
    if (!sim_node_of(s, m->to) || s->blocked[from->id][m->to] ||
        sim_chance(s, s->drop)) {
        trace(s, "  drop %s %" PRIu64 "->%" PRIu64,
              raft_msg_type_name(m->type), m->from, m->to);
        if (snap)
            net_snap_report(s, from, m->to, 0, 50000);
        return;
    }
    deliver_later(s, from, m);
    if (!snap && sim_chance(s, s->dup))
        deliver_later(s, from, m);
}

void net_send_all(sim *s, sim_node *n, const raft_msg *v, size_t count)
{
    for (size_t i = 0; i < count; i++)
        net_send(s, n, &v[i]);
}

void net_msg_free(raft_msg *m)
{
    for (size_t i = 0; i < m->n_entries; i++)
        blob_unref(m->entries[i].data);
    free(m->entries);
    free((void *)m->snapshot);
}

void net_heal(sim *s)
{
    memset(s->blocked, 0, sizeof s->blocked);
    trace(s, "network healed");
}

/* A message arrives (or not: the node is down, or the link is cut). A
 * snapshot's delivery also ends its stream, which the sender's glue
 * reports to its Raft. */
void net_deliver(sim *s, sim_node *n, event *e, int live)
{
    if (n->rp)
        live = 0; /* under log repair: Raft does not run yet */
    if (e->snap) {
        /* the stream's end, as the sender's glue learns it */
        sim_node *from = sim_node_of(s, e->msg.from);
        int ok = live && !s->blocked[e->msg.from][e->msg.to];
        if (from->alive && from->incarnation == e->inc)
            net_snap_report(s, from, e->msg.to, ok, ok ? 0 : 20000);
        if (ok)
            glue_received(s, n, e->snap);
    }
    if (!live || s->blocked[e->msg.from][e->msg.to])
        return;
    trace(s, "  %s %" PRIu64 "->%" PRIu64 " t%" PRIu64 " i%" PRIu64
             " lt%" PRIu64 " c%" PRIu64 " n%zu%s%s",
          raft_msg_type_name(e->msg.type), e->msg.from, e->msg.to,
          e->msg.term, e->msg.index, e->msg.log_term, e->msg.commit,
          e->msg.n_entries, e->msg.reject ? " reject" : "",
          e->snap ? " +snapshot" : "");
    if (e->msg.type == RAFT_MSG_APPEND)
        check_note_append(n, &e->msg);
    int rc = raft_step(n->r, &e->msg);
    if (rc == RAFT_ERR_INVALID && s->cfg.byzantine &&
        e->msg.term > raft_get_term(n->r))
        rc = RAFT_OK; /* a member a forger pushed far ahead: heard again once
                         the credit has grown (raft_options.max_term_jump) */
    if (rc != RAFT_OK)
        violation(s, "node %" PRIu64 " step %s from %" PRIu64 ": %s", n->id,
                  raft_msg_type_name(e->msg.type), e->msg.from,
                  raft_strerror(rc));
    glue_pump(s, n);
}

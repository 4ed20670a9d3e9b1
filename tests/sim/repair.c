/* SPDX-License-Identifier: MIT */
/*
 * repair.c: lmsd's log repair (core/repl/node_repair.c, node_repair_snap.c)
 * played by a simulated node, with core/repl/repair_plan.c itself deciding.
 *
 * A crash may lose entries the disk had synced (a lying disk, or a record
 * that fails its check before the tail: lmsd cuts the log there); lmsd
 * finds out at start (its durable acked index, the failed check, or a
 * storage applied past the log's end). Such a node does not start Raft:
 * it keeps the committed prefix (up to what the store applied), sets the
 * durable marker, drops the rest, and asks the other members for the
 * leader's log after it. Requests, answers and the leader's snapshot
 * stream travel the simulated network like any message (lost, delayed,
 * duplicated, reordered, cut). Members answer as node_serve_fetch does
 * (fetch.c); the asker carries out the plan's steps on its disk (each
 * piece durable at once, as lmsd fsyncs it), installs the leader's
 * snapshot in lmsd's order (store, file, log reset: a crash may be aimed
 * between the steps) and, only when the plan says done, clears the
 * marker and starts Raft. A crash during repair repairs again (the
 * marker). --old-repair plays the repair lmsd had before issue 8 instead.
 */
#include "sim.h"
#include "fetch.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define REPAIR_TIMER_US 200000   /* node_repair.c's TIMER_MS */
#define REPAIR_RESEND_US 1000000 /* its RESEND_MS */
#define LOSS_P 0.2               /* a crash loses synced entries */
#define LOSS_MAX 40              /* at most this many, from the end */
#define REPAIR_CRASH_P 0.25      /* a snapshot install gets a crash aimed
                                    between its steps */
#define PIECE_MAX 12             /* entries per answer: 1..PIECE_MAX */

struct sim_repair {
    repair_plan plan;
    sim_time asked;
    /* --old-repair: the one member asked, the log's end, its target */
    raft_id source;
    raft_index last, target;
};

typedef struct fetch_msg {
    raft_id from;
    uint64_t asker_inc; /* answers reach only the process that asked */
    fetch_ask ask;      /* EV_FETCH */
    fetch_reply reply;  /* EV_FETCH_REPLY */
    sim_snap snap;      /* EV_REPAIR_SNAP: the leader's newest snapshot, */
    raft_term term;     /* streamed in this Raft term of the leader */
} fetch_msg;

void repair_msg_free(fetch_msg *m)
{
    if (!m)
        return;
    fetch_reply_free(&m->reply);
    free(m);
}

static int64_t now_ms(const sim *s)
{
    return (int64_t)(s->now / 1000);
}

static uint64_t disk_below(sim *s, uint64_t n)
{
    uint64_t z = (s->disk_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return n ? (z ^ (z >> 31)) % n : 0;
}

/* Repairing, or will repair at its next start (repair_needed). */
int repair_under_way(const sim *s, const sim_node *n)
{
    return !s->cfg.no_repair &&
           (n->d.lost || n->d.marker || n->rp ||
            n->d.sm.applied > slog_last(&n->d.log));
}

/* ---- the lying disk ----------------------------------------------------- */

/* At a crash, the disk may lose a synced suffix of the log. Only as many
 * nodes at a time as the cluster can spare (lmsd needs a majority to
 * elect the leader that repairs them: a node under repair votes for
 * nobody). */
void repair_lose_tail(sim *s, sim_node *n)
{
    if (!s->chaos || s->cfg.old_install_order || n->departed || !n->d.log.n ||
        disk_below(s, 1000) >= (uint64_t)(LOSS_P * 1000))
        return;
    int others = 0;
    for (int i = 0; i < s->n_slots; i++)
        others += !s->nodes[i].departed && repair_under_way(s, &s->nodes[i]);
    /* a membership change adds a voter for a while, and a leader that
     * removes itself stops campaigning: one fault less to spare */
    if (others >= (s->n_initial - 1 - s->membership) / 2)
        return;
    size_t max = n->d.log.n < LOSS_MAX ? n->d.log.n : LOSS_MAX;
    raft_index last = slog_last(&n->d.log), cut = last - 1 - disk_below(s, max);
    slog_truncate_after(&n->d.log, cut);
    n->d.lost = 1;
    s->st->disk_losses++;
    trace(s, "node %" PRIu64 ": the disk LOSES synced entries %" PRIu64
             "..%" PRIu64 " (store applied %" PRIu64 ")",
          n->id, cut + 1, last, n->d.sm.applied);
}

/* ---- the asker ---------------------------------------------------------- */

static void send_msg(sim *s, raft_id from, raft_id to, int kind, fetch_msg *m)
{
    sim_time d = net_route(s, from, to);
    if (!d) {
        trace(s, "  drop %s %" PRIu64 "->%" PRIu64,
              kind == EV_FETCH ? "fetch" : kind == EV_FETCH_REPLY
                                            ? "fetch-reply" : "repair-snapshot",
              from, to);
        repair_msg_free(m);
        return;
    }
    sim_time d2;
    if (kind != EV_REPAIR_SNAP && sim_chance(s, s->dup) &&
        (d2 = net_route(s, from, to))) {
        fetch_msg *c = malloc(sizeof *c);
        *c = *m;
        fetch_reply_copy(&c->reply, &m->reply);
        sim_event(s, s->now + d2, kind, (int)to)->fm = c;
    }
    event *e = sim_event(s, s->now + d, kind, (int)to);
    e->fm = m;
}

static void ask(sim *s, sim_node *n)
{
    struct sim_repair *rp = n->rp;
    fetch_msg tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.from = n->id;
    tmpl.asker_inc = n->incarnation;
    raft_id to;
    if (s->cfg.old_repair) {
        tmpl.ask.from_index = rp->last + 1; /* no prev: not checked */
        to = rp->source;
    } else {
        fetch_request(&rp->plan, &tmpl.ask);
        to = repair_plan_ask_to(&rp->plan);
    }
    rp->asked = s->now;
    for (raft_id id = 1; id <= (raft_id)s->n_slots; id++) {
        if (id == n->id || (to && id != to))
            continue;
        fetch_msg *m = malloc(sizeof *m);
        *m = tmpl;
        send_msg(s, n->id, id, EV_FETCH, m);
    }
}

/* A leader's entries (or snapshot) are about to be written: the durable
 * term rises to the leader's, with no vote (node_repair_raise_term). */
static void raise_term(sim_node *n)
{
    if (n->rp->plan.term <= n->d.hs.term)
        return;
    n->d.hs.term = n->rp->plan.term;
    n->d.hs.vote = 0;
}

/* Write entries (durable at once: lmsd fsyncs each piece). */
static void write_entries(sim *s, sim_node *n, const raft_entry *v, size_t k)
{
    for (size_t i = 0; i < k && !s->failed; i++) {
        sim_entry se = {v[i], chain_next(slog_chain(&n->d.log, v[i].index - 1),
                                         &v[i])};
        check_view_append(s, n, &se);
        slog_append(&n->d.log, &se);
    }
}

/* Done: the marker goes (durably), then Raft starts on the log. */
static void finish(sim *s, sim_node *n)
{
    trace(s, "node %" PRIu64 ": log repair done, log %" PRIu64 "..%" PRIu64
             ", term %" PRIu64, n->id, n->d.log.offset + 1,
          slog_last(&n->d.log), n->d.hs.term);
    free(n->rp);
    n->rp = NULL;
    n->d.marker = 0;
    n->alive = 0;
    s->st->repairs_done++;
    check_durable(s);
    if (!s->failed)
        glue_start_raft(s, n);
}

static void next(sim *s, sim_node *n, int done)
{
    if (done)
        finish(s, n);
    else
        ask(s, n);
}

/* Carry out the plan's step for answer r (node_repair.c's carry_out). */
static void on_reply(sim *s, sim_node *n, raft_id from, const fetch_reply *r)
{
    repair_plan *p = &n->rp->plan;
    repair_step st = fetch_apply(p, from, r, now_ms(s));
    if (st.restart || st.ask_all || st.action == REPAIR_SNAPSHOT)
        trace(s, "node %" PRIu64 ": repair: %s", n->id, st.reason);
    if (st.restart) {
        slog_truncate_after(&n->d.log, p->keep);
        s->st->repair_restarts++;
    }
    if (st.action == REPAIR_APPEND && st.count) {
        raise_term(n);
        write_entries(s, n, r->ents, st.count);
    }
    if (slog_last(&n->d.log) != p->last)
        violation(s, "node %" PRIu64 ": repair's log ends at %" PRIu64
                     ", the plan's at %" PRIu64, n->id, slog_last(&n->d.log),
                  p->last);
    if (!s->failed && (st.done || st.action != REPAIR_IGNORE || st.restart ||
                       st.ask_all))
        next(s, n, st.done);
}

/* The repair lmsd had before issue 8: whoever says it leads is the
 * source; a piece is taken if it starts at the next index. */
static void on_reply_old(sim *s, sim_node *n, raft_id from,
                         const fetch_reply *r)
{
    struct sim_repair *rp = n->rp;
    if (!r->is_leader)
        return;
    rp->source = from;
    rp->target = r->last_index;
    if (!r->error && r->n_ents && r->ents[0].index == rp->last + 1) {
        write_entries(s, n, r->ents, r->n_ents);
        rp->last += r->n_ents;
    }
    if (!s->failed && !r->error)
        next(s, n, rp->last >= rp->target);
}

static void save_file(sim_node *n, const sim_snap *snap)
{
    if (n->d.has_snap && n->d.snap.meta.index >= snap->meta.index)
        return;
    n->d.snap = *snap;
    n->d.has_snap = 1;
}

/* The leader's snapshot arrived whole: install it in lmsd's order (the
 * store, the file's final name, the log reset), each step durable before
 * the next; a crash may be aimed between them. */
static void on_snapshot(sim *s, sim_node *n, const fetch_msg *m)
{
    repair_plan *p = &n->rp->plan;
    const sim_snap *snap = &m->snap;
    const char *why = s->cfg.old_repair
                          ? "the old repair installs no snapshot"
                          : repair_plan_snapshot_ok(p, m->from, m->term,
                                                    snap->meta.index,
                                                    snap->meta.term);
    if (why) {
        trace(s, "node %" PRIu64 ": repair: snapshot %" PRIu64 " of %" PRIu64
                 " refused: %s", n->id, snap->meta.index, m->from, why);
        return;
    }
    raise_term(n);
    check_install(s, n, snap);
    int steps = 3;
    if (s->chaos && sim_chance(s, REPAIR_CRASH_P))
        steps = (int)sim_below(s, 3);
    if (steps > 0)
        n->d.sm = snap->state;
    if (steps > 1)
        save_file(n, snap);
    if (steps < 3) {
        trace(s, "node %" PRIu64 ": crash after %d of the 3 steps of "
                 "installing snapshot %" PRIu64, n->id, steps,
              snap->meta.index);
        workload_crash(s, n);
        return;
    }
    slog_reset(&n->d.log, snap);
    s->st->repair_snapshots++;
    trace(s, "node %" PRIu64 ": repair installed snapshot %" PRIu64
             " (term %" PRIu64 ") of %" PRIu64, n->id, snap->meta.index,
          snap->meta.term, m->from);
    repair_step st = repair_plan_installed(p, snap->meta.index,
                                           snap->meta.term, now_ms(s));
    next(s, n, st.done);
}

static void on_tick(sim *s, sim_node *n)
{
    struct sim_repair *rp = n->rp;
    if (s->cfg.old_repair) {
        if (!rp->source || s->now - rp->asked >= REPAIR_RESEND_US)
            ask(s, n);
    } else {
        if (repair_plan_tick(&rp->plan, now_ms(s)))
            trace(s, "node %" PRIu64 ": repair: member %" PRIu64 " silent for "
                     "%d ms: asking every member", n->id, rp->plan.leader,
                  REPAIR_SILENT_MS);
        if (!repair_plan_ask_to(&rp->plan) ||
            s->now - rp->asked >= REPAIR_RESEND_US)
            ask(s, n);
    }
    event *e = sim_event(s, s->now + (sim_time)(REPAIR_TIMER_US *
                                                n->tick_period / TICK_US),
                         EV_REPAIR_TICK, (int)n->id);
    e->inc = n->incarnation;
}

/* ---- start and crash ---------------------------------------------------- */

int repair_needed(sim *s, sim_node *n)
{
    if (s->cfg.no_repair)
        n->d.lost = 0; /* the node trusts what is left */
    return n->d.lost || n->d.marker ||
           n->d.sm.applied > slog_last(&n->d.log);
}

/* node_repair_log: the committed prefix stays, the marker is durable
 * before anything after it goes, then ask. */
void repair_begin(sim *s, sim_node *n)
{
    raft_index last = slog_last(&n->d.log);
    raft_index keep = n->d.sm.applied < last ? n->d.sm.applied : last;
    const sim_entry *at = slog_get(&n->d.log, keep);
    if (!at && keep != n->d.log.offset) {
        violation(s, "node %" PRIu64 " does not restart: the term of entry %"
                     PRIu64 " (the committed prefix) is unknown", n->id, keep);
        return;
    }
    raft_term keep_term = at ? at->e.term : n->d.log.offset_term;
    struct sim_repair *rp = calloc(1, sizeof *rp);
    n->d.lost = 0;
    n->d.marker = !s->cfg.old_repair;
    slog_truncate_after(&n->d.log, keep);
    repair_plan_init(&rp->plan, n->id, keep, keep_term,
                     s->cfg.no_floor ? 0 : n->d.hs.term, now_ms(s));
    rp->last = keep;
    n->rp = rp;
    n->alive = n->started = 1;
    n->incarnation++;
    s->st->repairs++;
    trace(s, "node %" PRIu64 ": LOG REPAIR (log ended at %" PRIu64
             ", store applied %" PRIu64 "): keeping ..%" PRIu64 " (term %"
             PRIu64 ")", n->id, last, n->d.sm.applied, keep, keep_term);
    on_tick(s, n);
}

void repair_crash(sim *s, sim_node *n)
{
    (void)s;
    free(n->rp);
    n->rp = NULL;
}

void repair_describe(const sim *s, const sim_node *n, char *buf, size_t len)
{
    if (!n->rp)
        snprintf(buf, len, "not repairing");
    else if (s->cfg.old_repair)
        snprintf(buf, len, "(the old repair) the log ends at %" PRIu64
                 ", asking member %" PRIu64 " (0: every member), whose log "
                 "ends at %" PRIu64, n->rp->last, n->rp->source,
                 n->rp->target);
    else
        repair_plan_describe(&n->rp->plan, buf, len);
}

/* ---- the members' side and delivery ------------------------------------- */

/* Member n answers m (node_serve_fetch); a leader that compacted past
 * the asker streams its snapshot when asked for it. */
static void serve(sim *s, sim_node *n, const fetch_msg *m)
{
    fetch_msg *a = calloc(1, sizeof *a);
    a->from = n->id;
    a->asker_inc = m->asker_inc;
    fetch_serve(n->r, &n->served.meta, &m->ask, 1 + sim_below(s, PIECE_MAX),
                &a->reply);
    int stream = m->ask.want_snapshot && a->reply.snap_index;
    raft_term term = a->reply.term;
    if (n->r)
        glue_pump(s, n); /* a newer term the asker showed (fetch_serve) */
    send_msg(s, n->id, m->from, EV_FETCH_REPLY, a);
    if (stream) {
        fetch_msg *c = calloc(1, sizeof *c);
        c->from = n->id;
        c->asker_inc = m->asker_inc;
        c->snap = n->served;
        c->term = term;
        send_msg(s, n->id, m->from, EV_REPAIR_SNAP, c);
    }
}

void repair_event(sim *s, sim_node *n, event *e)
{
    const fetch_msg *m = e->fm;
    if (e->kind == EV_REPAIR_TICK) {
        if (n->alive && n->rp && e->inc == n->incarnation)
            on_tick(s, n);
        return;
    }
    if (!n->alive || s->blocked[m->from][n->id])
        return;
    if (e->kind == EV_FETCH)
        trace(s, "  fetch %" PRIu64 "->%" PRIu64 " from %" PRIu64 " prev %"
                 PRIu64 " t%" PRIu64 "%s", m->from, n->id, m->ask.from_index,
              m->ask.prev_index, m->ask.prev_term,
              m->ask.want_snapshot ? " +want-snapshot" : "");
    else if (e->kind == EV_FETCH_REPLY)
        trace(s, "  fetch-reply %" PRIu64 "->%" PRIu64 " %s t%" PRIu64
                 " last %" PRIu64 " prev %" PRIu64 " t%" PRIu64 " n%zu%s%s",
              m->from, n->id, m->reply.is_leader ? "leader" : "not-leader",
              m->reply.term, m->reply.last_index, m->reply.prev_index,
              m->reply.prev_term, m->reply.n_ents,
              m->reply.error ? " error: " : "",
              m->reply.error ? m->reply.error : "");
    else
        trace(s, "  repair-snapshot %" PRIu64 "->%" PRIu64 " %" PRIu64
                 " (term %" PRIu64 ")", m->from, n->id, m->snap.meta.index,
              m->snap.meta.term);
    if (e->kind == EV_FETCH) {
        serve(s, n, m);
        return;
    }
    if (!n->rp || m->asker_inc != n->incarnation)
        return; /* an answer to another process */
    if (e->kind == EV_REPAIR_SNAP)
        on_snapshot(s, n, m);
    else if (s->cfg.old_repair)
        on_reply_old(s, n, m->from, &m->reply);
    else
        on_reply(s, n, m->from, &m->reply);
}

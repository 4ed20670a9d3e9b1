/* SPDX-License-Identifier: MIT */
/*
 * byzantine.c: the --byzantine mode. Besides the normal schedule, during
 * the chaos a forger injects messages into live nodes' inputs through
 * raft_step, the entry point lmsd's peer port feeds after decoding (and
 * where raft_msg_check judges them). Two kinds:
 *
 *   impossible  a plausible message with one field broken the way a forger
 *               or a flipped bit would break it: a term at or above
 *               RAFT_TERM_MAX (2^64-1 included), a term beyond
 *               max_term_jump, a high bit flipped in a term, index or
 *               commit, entries out of order, of term 0 or above the
 *               message's, a count over RAFT_MAX_APPEND_ENTRIES, an
 *               unknown type, inconsistent snapshot metadata, a wrong
 *               sender. Each must be refused (RAFT_ERR_INVALID) with term,
 *               vote, log and commit untouched.
 *   plausible   what an unauthenticated stranger can send that plain Raft
 *               accepts without harm to safety: vote and pre-vote requests
 *               from a phantom id (up to max_term_jump above the node's
 *               term: the boundary is accepted), rejections from members
 *               (no read acks: seq 0), a phantom leader's empty heartbeat
 *               (commit 0). They may depose a leader (the accepted
 *               liveness cost until peer TLS).
 *
 * Forged appends or acks with plausible values are left out: without
 * authentication no check can tell them from a leader's, and they would
 * break safety by design. The simulator's checkers run after every event
 * as usual; at the end every node's term must lie below the bound the
 * forgeries could reach, and the cluster must have converged (elections
 * succeed once the forging stops with the chaos).
 */
#include "sim.h"

#include <inttypes.h>
#include <string.h>

#define PHANTOM ((raft_id)SIM_MAX_NODES + 7) /* no node has this id */

static uint64_t brnd(sim *s)
{
    uint64_t z = (s->byz_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t bbelow(sim *s, uint64_t n) { return n ? brnd(s) % n : 0; }

/* A valid append from `from` to n at n's term: the two entries after n's
 * last, with n's last term as prev. */
static void template(sim_node *n, raft_id from, raft_msg *m, raft_entry *e)
{
    raft_status st;
    raft_status_get(n->r, &st);
    memset(m, 0, sizeof *m);
    m->type = RAFT_MSG_APPEND;
    m->from = from;
    m->to = n->id;
    m->term = st.term ? st.term : 1;
    m->index = st.last_index;
    raft_term_at(n->r, st.last_index, &m->log_term);
    m->commit = st.commit;
    e[0] = (raft_entry){.index = m->index + 1, .term = m->term};
    e[1] = (raft_entry){.index = m->index + 2, .term = m->term};
    m->n_entries = 2;
    m->entries = e;
}

static void no_entries(raft_msg *m, raft_msg_type type)
{
    m->type = type;
    m->n_entries = 0;
    m->entries = NULL;
}

/* Break one field of m; returns what was broken. */
static const char *spoil(sim *s, raft_msg *m, raft_entry *e,
                         raft_snapshot_meta *snap)
{
    raft_term jump = BYZ_TERM_JUMP;
    switch (bbelow(s, 16)) {
    case 0:
        m->term = RAFT_TERM_MAX + bbelow(s, 1000);
        return "a term at RAFT_TERM_MAX or just above";
    case 1:
        m->term = UINT64_MAX - bbelow(s, 3);
        no_entries(m, bbelow(s, 2) ? RAFT_MSG_HEARTBEAT : RAFT_MSG_PREVOTE);
        return "a term near 2^64";
    case 2:
        m->term += jump + 1000 + bbelow(s, 1u << 30);
        no_entries(m, (raft_msg_type)(1 + bbelow(s, RAFT_MSG_TIMEOUT_NOW)));
        return "a term beyond max_term_jump";
    case 3:
        m->term |= (raft_term)1 << (20 + bbelow(s, 44));
        return "a high bit flipped in the term";
    case 4:
        m->index = (m->index ^ ((raft_index)1 << 63)) | 1;
        no_entries(m, bbelow(s, 2) ? RAFT_MSG_APPEND : RAFT_MSG_VOTE);
        return "a top bit flipped in the index";
    case 5:
        m->commit = (m->commit ^ ((raft_index)1 << 63)) | 1;
        if (bbelow(s, 2))
            no_entries(m, RAFT_MSG_HEARTBEAT);
        return "a top bit flipped in the commit";
    case 6:
        e[1].index ^= (raft_index)1 << bbelow(s, 64);
        return "a bit flipped in an entry's index";
    case 7:
        e[bbelow(s, 2)].term = m->term + 1 + bbelow(s, 5);
        return "an entry term above the message's";
    case 8:
        m->term += 1;
        e[0].term = m->term;
        e[1].term = m->term - 1;
        return "entry terms decreasing";
    case 9:
        m->log_term = 0;
        e[0].term = 0;
        return "an entry of term 0";
    case 10:
        m->n_entries = RAFT_MAX_APPEND_ENTRIES + 1 + bbelow(s, 1u << 20);
        return "an oversized entry count";
    case 11:
        e[bbelow(s, 2)].type = 2 + (uint32_t)bbelow(s, 100);
        return "an unknown entry type";
    case 12:
        no_entries(m, RAFT_MSG_SNAPSHOT);
        snap->index = m->index + 5;
        snap->term = m->term + 1 + bbelow(s, 3);
        snap->config.n = 1;
        snap->config.servers[0].id = 1;
        if (bbelow(s, 2)) {
            snap->term = m->term;
            snap->config.n = bbelow(s, 2) ? 0 : RAFT_MAX_SERVERS + 1;
        }
        m->snapshot = snap;
        return "inconsistent snapshot metadata";
    case 13:
        no_entries(m, RAFT_MSG_APPEND);
        m->log_term = m->term + 1 + bbelow(s, 10);
        return "a prev term above the message's";
    case 14:
        m->from = bbelow(s, 2) ? 0 : m->to;
        return "a sender of 0 or the node itself";
    default:
        m->log_term = RAFT_TERM_MAX + bbelow(s, 2);
        no_entries(m, RAFT_MSG_VOTE);
        return "a log term at RAFT_TERM_MAX";
    }
}

static void impossible(sim *s, sim_node *n)
{
    raft_msg m;
    raft_entry e[2];
    raft_snapshot_meta snap;
    memset(&snap, 0, sizeof snap);
    template(n, 1 + bbelow(s, (uint64_t)s->n_slots), &m, e);
    if (m.from == n->id)
        m.from = PHANTOM;
    const char *what = spoil(s, &m, e, &snap);
    raft_status before, after;
    raft_status_get(n->r, &before);
    int rc = raft_step(n->r, &m);
    raft_status_get(n->r, &after);
    s->st->forged++;
    trace(s, "  forged for %" PRIu64 ": %s (%s)", n->id, what,
          raft_strerror(rc));
    if (rc != RAFT_ERR_INVALID)
        violation(s, "byzantine: node %" PRIu64 " took a %s with %s: %s",
                  n->id, raft_msg_type_name(m.type), what, raft_strerror(rc));
    else if (after.term != before.term || after.vote != before.vote ||
             after.last_index != before.last_index ||
             after.commit != before.commit || after.role != before.role)
        violation(s, "byzantine: node %" PRIu64 " refused a %s with %s but "
                     "changed (term %" PRIu64 "->%" PRIu64 ")", n->id,
                  raft_msg_type_name(m.type), what, before.term, after.term);
    else
        s->st->forged_refused++;
}

static void plausible(sim *s, sim_node *n)
{
    raft_msg m;
    memset(&m, 0, sizeof m);
    m.to = n->id;
    m.from = PHANTOM;
    raft_term t = raft_get_term(n->r);
    m.term = t + bbelow(s, 3);
    if (bbelow(s, 50) == 0) {
        m.term = t + BYZ_TERM_JUMP; /* the boundary: accepted */
        s->byz_jumps++;
    }
    switch (bbelow(s, 4)) {
    case 0:
        m.type = bbelow(s, 2) ? RAFT_MSG_VOTE : RAFT_MSG_PREVOTE;
        m.index = bbelow(s, raft_get_last_index(n->r) + 20);
        m.log_term = bbelow(s, m.term + 1);
        break;
    case 1:
        m.type = RAFT_MSG_HEARTBEAT; /* commit 0: it commits nothing */
        break;
    case 2:
        m.type = bbelow(s, 2) ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PREVOTE_RESP;
        m.from = 1 + bbelow(s, (uint64_t)s->n_slots);
        m.reject = 1;
        break;
    default:
        m.type = RAFT_MSG_APPEND_RESP;
        m.from = 1 + bbelow(s, (uint64_t)s->n_slots);
        m.reject = 1;
        m.index = bbelow(s, raft_get_last_index(n->r) + 20);
        m.reject_hint = bbelow(s, m.index + 1);
        m.log_term = bbelow(s, t + 1);
        break;
    }
    if (m.from == n->id)
        m.from = PHANTOM;
    int rc = raft_step(n->r, &m);
    s->st->forged++;
    trace(s, "  forged for %" PRIu64 ": %s from %" PRIu64 " t%" PRIu64 " (%s)",
          n->id, raft_msg_type_name(m.type), m.from, m.term,
          raft_strerror(rc));
    if (rc != RAFT_OK)
        violation(s, "byzantine: node %" PRIu64 " refused a plausible %s "
                     "(term %" PRIu64 ", its term %" PRIu64 "): %s", n->id,
                  raft_msg_type_name(m.type), m.term, t, raft_strerror(rc));
}

void byz_forge(sim *s)
{
    if (!s->chaos)
        return; /* forging stops with the chaos: the cluster must recover */
    sim_node *n = &s->nodes[bbelow(s, (uint64_t)s->n_slots)];
    if (n->alive && n->r && !n->rp) {
        if (bbelow(s, 3))
            impossible(s, n);
        else
            plausible(s, n);
        glue_pump(s, n);
    }
    sim_event(s, s->now + 5000 + bbelow(s, 40000), EV_FORGE, 0);
}

/* Every term below what the elections and accepted forgeries can reach:
 * far below RAFT_TERM_MAX, so every node can still campaign. */
void byz_check_terms(sim *s)
{
    raft_term bound = (s->byz_jumps + 1) * (BYZ_TERM_JUMP + 3) + 100000;
    for (int i = 0; i < s->n_slots && !s->failed; i++) {
        sim_node *n = &s->nodes[i];
        raft_term t = n->r ? raft_get_term(n->r) : n->d.hs.term;
        if (t > bound || n->d.hs.term > bound)
            violation(s, "byzantine: node %" PRIu64 " reached term %" PRIu64
                         " (disk %" PRIu64 "), above %" PRIu64, n->id, t,
                      n->d.hs.term, bound);
    }
}

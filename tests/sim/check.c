/* SPDX-License-Identifier: MIT */
/*
 * check.c: the Raft safety properties, checked as the simulation runs.
 *
 *   election safety       at most one leader per term; no node grants two
 *                         votes in one term (across crashes too)
 *   log matching          two logs with an entry of the same index and term
 *                         hold the same entries up to it: every entry any
 *                         node writes carries a hash of its whole prefix,
 *                         and (index, term) must always map to one hash
 *   leader completeness   a new leader holds every entry committed in an
 *                         earlier term
 *   state machine safety  every node commits and applies the same entry at
 *                         an index, reaching the same state (snapshots
 *                         included)
 *   durability            votes and acknowledgements leave a node only once
 *                         what they promise is on its disk; after a crash
 *                         and after a log repair a committed entry is still
 *                         on a majority of disks (or a node under repair,
 *                         which votes for nobody, makes up the majority)
 */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct committed {
    raft_term term, commit_term;
    uint64_t hash, digest;
    uint8_t known, has_digest;
} committed;

typedef struct lm_slot {
    raft_index index;
    raft_term term;
    uint64_t chain;
} lm_slot;

struct checker {
    raft_id *leader; /* by term */
    size_t n_leader;
    raft_id *voted;  /* by term * (SIM_MAX_NODES + 1) + voter */
    size_t n_voted;
    committed *c;    /* by index */
    size_t n_c;
    lm_slot *lm;     /* open addressing on (index, term) */
    size_t lm_cap, lm_n;
};

checker *check_new(void)
{
    return calloc(1, sizeof(checker));
}

void check_free(checker *ck)
{
    if (!ck)
        return;
    free(ck->leader);
    free(ck->voted);
    free(ck->c);
    free(ck->lm);
    free(ck);
}

static void *ensure(void *v, size_t *n, size_t need, size_t size)
{
    if (need <= *n)
        return v;
    size_t m = *n ? *n : 64;
    while (m < need)
        m *= 2;
    v = realloc(v, m * size);
    memset((char *)v + *n * size, 0, (m - *n) * size);
    *n = m;
    return v;
}

static committed *at(checker *ck, raft_index i)
{
    ck->c = ensure(ck->c, &ck->n_c, i + 1, sizeof *ck->c);
    return &ck->c[i];
}

raft_index check_max_committed(const checker *ck)
{
    for (size_t i = ck->n_c; i-- > 1;)
        if (ck->c[i].known)
            return i;
    return 0;
}

static void record_commit(sim *s, sim_node *n, raft_index i, raft_term term,
                          uint64_t hash, raft_term cterm)
{
    committed *x = at(s->ck, i);
    if (!x->known) {
        x->known = 1;
        x->term = term;
        x->hash = hash;
        x->commit_term = cterm;
        return;
    }
    if (x->term != term || x->hash != hash)
        violation(s, "state machine safety: node %" PRIu64 " has entry %" PRIu64
                     " committed with term %" PRIu64 ", earlier term %" PRIu64
                     " (or different data)",
                  n->id, i, term, x->term);
    if (cterm < x->commit_term)
        x->commit_term = cterm;
}

static void election_safety(sim *s, sim_node *n, raft_term term)
{
    checker *ck = s->ck;
    ck->leader = ensure(ck->leader, &ck->n_leader, term + 1, sizeof *ck->leader);
    if (!ck->leader[term])
        ck->leader[term] = n->id;
    else if (ck->leader[term] != n->id)
        violation(s, "election safety: term %" PRIu64 " has leaders %" PRIu64
                     " and %" PRIu64, term, ck->leader[term], n->id);
}

/* The newest entry committed before `term` must be in the leader's log
 * (log matching then vouches for every entry before it). */
static void leader_completeness(sim *s, sim_node *n, raft_term term)
{
    checker *ck = s->ck;
    for (size_t i = ck->n_c; i-- > 1;) {
        committed *x = &ck->c[i];
        if (!x->known || x->commit_term >= term)
            continue;
        raft_term t;
        int rc = raft_term_at(n->r, i, &t);
        if (rc == RAFT_ERR_COMPACTED)
            return; /* under its snapshot: committed state */
        if (rc != RAFT_OK || t != x->term)
            violation(s, "leader completeness: leader %" PRIu64 " of term %" PRIu64
                         " lacks entry %" PRIu64 " (term %" PRIu64
                         ") committed in term %" PRIu64,
                      n->id, term, (raft_index)i, x->term, x->commit_term);
        return;
    }
}

void check_node(sim *s, sim_node *n)
{
    raft_term term = raft_get_term(n->r);
    int leader = raft_get_role(n->r) == RAFT_LEADER;
    if (leader)
        election_safety(s, n, term);
    raft_index commit = raft_get_commit(n->r);
    for (raft_index i = n->last_commit_seen + 1; i <= commit; i++) {
        raft_entry e;
        if (raft_entry_at(n->r, i, &e) == RAFT_OK)
            record_commit(s, n, i, e.term, entry_hash(&e), term);
    }
    if (commit > n->last_commit_seen)
        n->last_commit_seen = commit;
    if (leader && n->leader_checked_term != term) {
        n->leader_checked_term = term;
        leader_completeness(s, n, term);
    }
}

void check_apply(sim *s, sim_node *n, const raft_entry *e, const kv *after)
{
    record_commit(s, n, e->index, e->term, entry_hash(e), raft_get_term(n->r));
    committed *x = at(s->ck, e->index);
    uint64_t d = kv_digest(after);
    if (!x->has_digest) {
        x->has_digest = 1;
        x->digest = d;
    } else if (x->digest != d) {
        violation(s, "state machine safety: node %" PRIu64 " reached a different "
                     "state after applying %" PRIu64, n->id, e->index);
    }
}

void check_install(sim *s, sim_node *n, const sim_snap *snap)
{
    committed *x = at(s->ck, snap->meta.index);
    uint64_t d = kv_digest(&snap->state);
    if (x->known && x->term != snap->meta.term)
        violation(s, "snapshot safety: node %" PRIu64 " installs snapshot %" PRIu64
                     " of term %" PRIu64 ", committed term there %" PRIu64,
                  n->id, snap->meta.index, snap->meta.term, x->term);
    if (x->has_digest && x->digest != d)
        violation(s, "snapshot safety: node %" PRIu64 " installs snapshot %" PRIu64
                     " whose state differs from the applied one", n->id,
                  snap->meta.index);
    if (!x->has_digest) {
        x->has_digest = 1;
        x->digest = d;
    }
}

static size_t lm_hash(raft_index i, raft_term t, size_t cap)
{
    uint64_t h = i * 0x9e3779b97f4a7c15ULL ^ t * 0xc2b2ae3d27d4eb4fULL;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static void lm_grow(checker *ck)
{
    size_t old = ck->lm_cap;
    lm_slot *v = ck->lm;
    ck->lm_cap = old ? old * 2 : 1024;
    ck->lm = calloc(ck->lm_cap, sizeof *ck->lm);
    for (size_t k = 0; k < old; k++) {
        if (!v[k].index)
            continue;
        size_t j = lm_hash(v[k].index, v[k].term, ck->lm_cap);
        while (ck->lm[j].index)
            j = (j + 1) & (ck->lm_cap - 1);
        ck->lm[j] = v[k];
    }
    free(v);
}

void check_view_append(sim *s, sim_node *n, const sim_entry *e)
{
    checker *ck = s->ck;
    if (2 * (ck->lm_n + 1) > ck->lm_cap)
        lm_grow(ck);
    size_t j = lm_hash(e->e.index, e->e.term, ck->lm_cap);
    for (; ck->lm[j].index; j = (j + 1) & (ck->lm_cap - 1)) {
        lm_slot *x = &ck->lm[j];
        if (x->index != e->e.index || x->term != e->e.term)
            continue;
        if (x->chain != e->chain)
            violation(s, "log matching: node %" PRIu64 " writes entry %" PRIu64
                         " of term %" PRIu64 " after a different prefix than "
                         "another log with that entry",
                      n->id, e->e.index, e->e.term);
        return;
    }
    ck->lm[j] = (lm_slot){e->e.index, e->e.term, e->chain};
    ck->lm_n++;
}

static void check_vote_sent(sim *s, sim_node *n, const raft_msg *m)
{
    const raft_hardstate *hs = &n->d.hs;
    if (hs->term < m->term || (hs->term == m->term && hs->vote != m->to))
        violation(s, "durability: node %" PRIu64 " grants its term-%" PRIu64
                     " vote to %" PRIu64 " before persisting it (disk: term %"
                     PRIu64 " vote %" PRIu64 ")",
                  n->id, m->term, m->to, hs->term, hs->vote);
    checker *ck = s->ck;
    size_t k = (size_t)m->term * (SIM_MAX_NODES + 1) + (size_t)n->id;
    ck->voted = ensure(ck->voted, &ck->n_voted, k + 1, sizeof *ck->voted);
    if (!ck->voted[k])
        ck->voted[k] = m->to;
    else if (ck->voted[k] != m->to)
        violation(s, "election safety: node %" PRIu64 " voted for %" PRIu64
                     " and %" PRIu64 " in term %" PRIu64,
                  n->id, ck->voted[k], m->to, m->term);
}

void check_note_append(sim_node *n, const raft_msg *m)
{
    struct ack_expect *x = &n->expect[n->n_expect++ % 64];
    x->leader = m->from;
    x->term = m->term;
    x->index = m->index + m->n_entries;
    x->entry_term = m->n_entries ? m->entries[m->n_entries - 1].term
                                 : m->log_term;
}

/* The entry an acceptance of index speaks of: the one the leader's
 * append carried; else it answers with our commit index, and speaks of
 * the committed entry there. 0 if we cannot tell. */
static int acked_term(sim *s, sim_node *n, const raft_msg *m, raft_term *t)
{
    for (unsigned k = 0; k < 64 && k < n->n_expect; k++) {
        struct ack_expect *x = &n->expect[(n->n_expect - 1 - k) % 64];
        if (x->leader == m->to && x->term == m->term && x->index == m->index) {
            *t = x->entry_term;
            return 1;
        }
    }
    if (m->index < s->ck->n_c && s->ck->c[m->index].known) {
        *t = s->ck->c[m->index].term;
        return 1;
    }
    return 0;
}

static void check_ack_sent(sim *s, sim_node *n, const raft_msg *m)
{
    raft_term t;
    if (n->d.has_snap && n->d.snap.meta.index >= m->index)
        return; /* under a durable snapshot */
    if (acked_term(s, n, m, &t) && !disk_has(&n->d, m->index, t))
        violation(s, "durability: node %" PRIu64 " acknowledges index %" PRIu64
                     " to %" PRIu64 " (term %" PRIu64 ") before that entry is "
                     "on its disk (disk ends at %" PRIu64 ")",
                  n->id, m->index, m->to, m->term, slog_last(&n->d.log));
}

void check_send(sim *s, sim_node *n, const raft_msg *m)
{
    const raft_hardstate *hs = &n->d.hs;
    switch (m->type) {
    case RAFT_MSG_VOTE_RESP:
        if (!m->reject)
            check_vote_sent(s, n, m);
        break;
    case RAFT_MSG_VOTE:
        if (hs->term < m->term || (hs->term == m->term && hs->vote != n->id))
            violation(s, "durability: candidate %" PRIu64 " asks for votes in term %"
                         PRIu64 " before persisting its own", n->id, m->term);
        break;
    case RAFT_MSG_APPEND_RESP:
        if (!m->reject && m->index)
            check_ack_sent(s, n, m);
        break;
    default:
        break;
    }
}

/* A node under log repair does not hold what it lost, but it votes for
 * nobody until it holds a leader's log: no leader can be elected without
 * a vote of a node that holds the entry while the holders and the nodes
 * under repair are a majority. A node that rejoined without what it lost
 * (no repair, or a repair that built the wrong log) counts as neither. */
void check_durable(sim *s)
{
    if (s->membership)
        return; /* majorities move with the configuration */
    raft_index m = check_max_committed(s->ck);
    if (!m)
        return;
    int have = 0, repairing = 0;
    for (int i = 0; i < s->n_initial; i++) {
        if (disk_has(&s->nodes[i].d, m, s->ck->c[m].term))
            have++;
        else
            repairing += repair_under_way(s, &s->nodes[i]);
    }
    if (have + repairing < s->n_initial / 2 + 1)
        violation(s, "durability: committed entry %" PRIu64 " is on %d of %d "
                     "disks (%d more under log repair)", m, have,
                  s->n_initial, repairing);
}

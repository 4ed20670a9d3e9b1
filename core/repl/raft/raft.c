/* SPDX-License-Identifier: MIT */
/*
 * raft.c: a node's life: construction from what it persisted, the step
 * that sorts incoming messages by term and role, the clock, and what the
 * node shows of itself. The rules of each concern live in their own file
 * (election.c, replication.c, snapshot.c, readindex.c, membership.c,
 * transfer.c, ready.c); this one only routes.
 */
#include "raft-internal.h"

#include <stdlib.h>
#include <string.h>

const char *raft_strerror(int code)
{
    switch (code) {
    case RAFT_OK: return "ok";
    case RAFT_ERR_NOT_LEADER: return "not the leader";
    case RAFT_ERR_TRANSFERRING: return "leadership transfer in progress";
    case RAFT_ERR_CONF_PENDING: return "a membership change is pending";
    case RAFT_ERR_INVALID: return "invalid argument";
    case RAFT_ERR_NOMEM: return "out of memory";
    case RAFT_ERR_BUSY: return "too many uncommitted entries";
    case RAFT_ERR_NOT_CAUGHT_UP: return "learner has not caught up";
    case RAFT_ERR_COMPACTED: return "index compacted";
    case RAFT_ERR_UNAVAILABLE: return "index not in the log";
    default: return "unknown error";
    }
}

const char *raft_role_name(raft_role role)
{
    static const char *names[] = {"follower", "pre-candidate", "candidate",
                                  "leader"};
    return (unsigned)role < 4 ? names[role] : "?";
}

const char *raft_msg_type_name(raft_msg_type type)
{
    static const char *names[] = {
        "?", "append", "append-resp", "vote", "vote-resp", "prevote",
        "prevote-resp", "heartbeat", "heartbeat-resp", "snapshot",
        "timeout-now"};
    return (unsigned)type <= RAFT_MSG_TIMEOUT_NOW ? names[type] : "?";
}

/* ---- small helpers shared by the library ------------------------------- */

int raft_fail(raft *r, int code)
{
    if (code == RAFT_ERR_NOMEM)
        r->broken = 1;
    return code;
}

int raft_grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 8;
    while (n < need)
        n *= 2;
    void *p = realloc(*v, n * size);
    if (!p)
        return -1;
    *v = p;
    *cap = n;
    return 0;
}

/* splitmix64: small, seeded, and the same on every platform. */
uint64_t raft_rand(raft *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int raft_is_voter(const raft *r, raft_id id)
{
    return raft_config_has_voter(&r->cfg, id);
}

unsigned raft_quorum(const raft *r)
{
    unsigned voters = 0;
    for (uint32_t i = 0; i < r->cfg.n; i++)
        voters += r->cfg.servers[i].role == RAFT_VOTER;
    return voters / 2 + 1;
}

raft_progress *raft_progress_of(raft *r, raft_id id)
{
    for (unsigned i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

/* ---- construction ------------------------------------------------------- */

void raft_options_init(raft_options *o, raft_id id)
{
    memset(o, 0, sizeof *o);
    o->id = id;
    o->election_tick = 10;
    o->heartbeat_tick = 1;
    o->pre_vote = 1;
    o->check_quorum = 1;
    o->max_msg_bytes = (size_t)1 << 20;
    o->max_inflight_msgs = 256;
    o->max_inflight_bytes = (size_t)8 << 20;
    o->max_apply_bytes = (size_t)4 << 20;
    o->max_uncommitted_bytes = (size_t)64 << 20;
    o->seed = id;
    o->max_term_jump = (raft_term)1 << 20;
}

static int check_options(const raft_options *o)
{
    if (!o->id || o->heartbeat_tick < 1 ||
        o->election_tick <= o->heartbeat_tick || o->max_inflight_msgs < 1)
        return RAFT_ERR_INVALID;
    return RAFT_OK;
}

/* Load the persisted log: skip what the snapshot covers, demand the rest
 * be contiguous with non-decreasing terms. */
static int restore_log(raft *r, const raft_restore *rs)
{
    for (size_t i = 0; i < rs->n_entries; i++) {
        const raft_entry *e = &rs->entries[i];
        if (e->index <= r->log.offset)
            continue;
        if (e->index != raft_log_last(&r->log) + 1 ||
            e->term < raft_log_last_term(&r->log))
            return RAFT_ERR_INVALID;
        if (raft_log_append(&r->log, e) != RAFT_OK)
            return RAFT_ERR_NOMEM;
    }
    return RAFT_OK;
}

static int restore(raft *r, const raft_restore *rs)
{
    static const raft_config none;
    const raft_snapshot_meta *s = rs ? rs->snapshot : NULL;
    if (s) {
        r->snap = *s;
        raft_log_init(&r->log, s->index, s->term, &s->config);
    } else {
        raft_log_init(&r->log, 0, 0,
                      rs && rs->bootstrap ? rs->bootstrap : &none);
        r->snap.config = r->log.offset_cfg;
    }
    if (!rs)
        return RAFT_OK;
    int rc = restore_log(r, rs);
    if (rc != RAFT_OK)
        return rc;
    if (rs->applied > raft_log_last(&r->log) || rs->hs.term >= RAFT_TERM_MAX)
        return RAFT_ERR_INVALID;
    r->term = rs->hs.term;
    r->vote = rs->hs.vote;
    r->applied = rs->applied > r->log.offset ? rs->applied : r->log.offset;
    return RAFT_OK;
}

int raft_new(const raft_options *opts, const raft_restore *rs, raft **out)
{
    if (check_options(opts) != RAFT_OK)
        return RAFT_ERR_INVALID;
    raft *r = calloc(1, sizeof *r);
    if (!r)
        return RAFT_ERR_NOMEM;
    r->opt = *opts;
    r->rng = opts->seed ^ (opts->id * 0x2545f4914f6cdd1dULL);
    int rc = restore(r, rs);
    if (rc != RAFT_OK) {
        raft_free(r);
        return rc;
    }
    r->commit = r->handed = r->applied;
    r->written = r->stable = raft_log_last(&r->log);
    r->prev_hs.term = r->term;
    r->prev_hs.vote = r->vote;
    if (raft_config_refresh(r) != RAFT_OK) {
        raft_free(r);
        return RAFT_ERR_NOMEM;
    }
    r->cfg_changed = 1; /* the glue learns its peers from the first ready */
    raft_become_follower(r, r->term, 0);
    *out = r;
    return RAFT_OK;
}

void raft_free(raft *r)
{
    if (!r)
        return;
    raft_log_free(&r->log);
    for (unsigned i = 0; i < r->n_prs; i++)
        raft_progress_free(&r->prs[i]);
    raft_msgs_free(r->msgs.v, r->msgs.n);
    raft_msgs_free(r->msgs_persisted.v, r->msgs_persisted.n);
    free(r->install);
    free(r->preads);
    free(r->reads);
    free(r->outs);
    free(r);
}

/* ---- input -------------------------------------------------------------- */

int raft_tick(raft *r)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    r->now++;
    if (r->role == RAFT_LEADER)
        raft_tick_leader(r);
    else
        raft_tick_election(r);
    return r->broken ? RAFT_ERR_NOMEM : RAFT_OK;
}

static int refuse(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return RAFT_ERR_INVALID;
}

/* Below RAFT_TERM_MAX, and at most max_term_jump above ours plus one
 * for every tick our term has stood still. The credit keeps a node that
 * a forger pushed far ahead from being shut out for good: the others
 * accept its term once they have waited for it, while an attacker can
 * still raise terms by only about max_term_jump per tick. */
static int term_ok(const raft *r, raft_term term)
{
    if (term >= RAFT_TERM_MAX)
        return 0;
    if (!r->opt.max_term_jump || term <= r->term)
        return 1;
    uint64_t credit = r->opt.max_term_jump + (r->now - r->term_at);
    return credit < r->opt.max_term_jump /* wrapped: no bound left */ ||
           term - r->term <= credit;
}

static int snapshot_meta_ok(const raft_msg *m)
{
    const raft_snapshot_meta *s = m->snapshot;
    if (!s->index || s->index > RAFT_INDEX_MAX || !s->term ||
        s->term > m->term || !s->config.n || s->config.n > RAFT_MAX_SERVERS)
        return 0;
    for (uint32_t i = 0; i < s->config.n; i++)
        if (!s->config.servers[i].id ||
            s->config.servers[i].role > RAFT_LEARNER)
            return 0;
    return 1;
}

static int entries_check(const raft_msg *m, const char **why)
{
    if (m->n_entries > RAFT_MAX_APPEND_ENTRIES)
        return refuse(why, "too many entries");
    raft_term prev = m->log_term ? m->log_term : 1;
    for (size_t i = 0; i < m->n_entries; i++) {
        const raft_entry *e = &m->entries[i];
        if (e->index != m->index + 1 + i)
            return refuse(why, "entry indexes do not follow the prev index");
        if (e->term < prev || e->term > m->term)
            return refuse(why, "entry terms decrease, are 0, or lie above "
                               "the message's term");
        if (e->type > RAFT_ENTRY_CONF)
            return refuse(why, "unknown entry type");
        prev = e->term;
    }
    return RAFT_OK;
}

int raft_msg_check(const raft *r, const raft_msg *m, const char **why)
{
    if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TIMEOUT_NOW)
        return refuse(why, "unknown message type");
    if (!m->from || m->from == r->opt.id || m->to != r->opt.id)
        return refuse(why, "wrong sender or addressee");
    if (m->term >= RAFT_TERM_MAX || m->log_term >= RAFT_TERM_MAX)
        return refuse(why, "term at or above RAFT_TERM_MAX");
    if (!term_ok(r, m->term))
        return refuse(why, "term too far above ours (max_term_jump)");
    if (m->index > RAFT_INDEX_MAX || m->commit > RAFT_INDEX_MAX ||
        m->reject_hint > RAFT_INDEX_MAX)
        return refuse(why, "index above RAFT_INDEX_MAX");
    if ((m->type == RAFT_MSG_SNAPSHOT) != (m->snapshot != NULL))
        return refuse(why, "snapshot metadata missing or misplaced");
    if (m->snapshot && !snapshot_meta_ok(m))
        return refuse(why, "snapshot metadata inconsistent");
    if (m->n_entries && (m->type != RAFT_MSG_APPEND || !m->entries))
        return refuse(why, "entries outside an append");
    if (m->type == RAFT_MSG_APPEND && m->log_term > m->term)
        return refuse(why, "prev term above the message's term");
    if (m->type == RAFT_MSG_APPEND_RESP && m->reject &&
        m->reject_hint > m->index)
        return refuse(why, "rejection hint above the rejected index");
    return entries_check(m, why);
}

static int is_vote_request(const raft_msg *m)
{
    return m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
}

static int from_leader(const raft_msg *m)
{
    return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
           m->type == RAFT_MSG_SNAPSHOT;
}

/* A message from a higher term. Returns 0 if it is to be dropped. */
static int higher_term(raft *r, const raft_msg *m)
{
    if (is_vote_request(m) && !m->transfer && r->opt.check_quorum &&
        r->leader && r->election_elapsed < r->opt.election_tick)
        return 0; /* leader lease: we heard from a live leader */
    if (m->type == RAFT_MSG_PREVOTE)
        return 1; /* a pre-vote changes nobody's term */
    if (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject)
        return 1; /* a grant carries the term we asked for */
    raft_become_follower(r, m->term, from_leader(m) ? m->from : 0);
    return 1;
}

/* A message from a lower term: tell a stale leader or pre-candidate our
 * term (with pre-vote and check-quorum our term may never reach them
 * otherwise), drop the rest. */
static void lower_term(raft *r, const raft_msg *m)
{
    raft_msg resp = {0};
    resp.to = m->from;
    if ((r->opt.check_quorum || r->opt.pre_vote) &&
        (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT)) {
        resp.type = RAFT_MSG_APPEND_RESP;
        raft_send(r, &resp);
    } else if (m->type == RAFT_MSG_PREVOTE) {
        resp.type = RAFT_MSG_PREVOTE_RESP;
        resp.reject = 1;
        raft_send(r, &resp);
    }
}

static void step_from_leader(raft *r, const raft_msg *m)
{
    if (r->role == RAFT_LEADER)
        return; /* two leaders in one term cannot be; ignore */
    if (r->role != RAFT_FOLLOWER)
        raft_become_follower(r, r->term, m->from);
    r->leader = m->from;
    r->election_elapsed = 0;
    if (m->type == RAFT_MSG_APPEND)
        raft_handle_append(r, m);
    else if (m->type == RAFT_MSG_HEARTBEAT)
        raft_handle_heartbeat(r, m);
    else
        raft_handle_snapshot(r, m);
}

static void route(raft *r, const raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        step_from_leader(r, m);
        break;
    case RAFT_MSG_APPEND_RESP:
        if (r->role == RAFT_LEADER)
            raft_handle_append_resp(r, m);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        if (r->role == RAFT_LEADER)
            raft_handle_heartbeat_resp(r, m);
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        raft_handle_vote(r, m);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        raft_handle_vote_resp(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        raft_handle_timeout_now(r, m);
        break;
    }
}

int raft_step(raft *r, const raft_msg *m)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (raft_msg_check(r, m, NULL) != RAFT_OK)
        return RAFT_ERR_INVALID;
    r->step_err = RAFT_OK;
    if (m->term > r->term) {
        if (!higher_term(r, m))
            return RAFT_OK;
    } else if (m->term < r->term) {
        lower_term(r, m);
        return r->broken ? RAFT_ERR_NOMEM : RAFT_OK;
    }
    route(r, m);
    return r->broken ? RAFT_ERR_NOMEM : r->step_err;
}

int raft_observe_term(raft *r, raft_term term)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (!term_ok(r, term))
        return RAFT_ERR_INVALID;
    if (term > r->term)
        raft_become_follower(r, term, 0);
    return r->broken ? RAFT_ERR_NOMEM : RAFT_OK;
}

int raft_campaign(raft *r)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (r->role != RAFT_LEADER)
        raft_start_election(r, r->opt.pre_vote, 0);
    return r->broken ? RAFT_ERR_NOMEM : RAFT_OK;
}

int raft_applied(raft *r, raft_index index)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (index > r->commit)
        index = r->commit;
    if (index > r->applied)
        r->applied = index;
    return RAFT_OK;
}

/* ---- inspection --------------------------------------------------------- */

raft_role raft_get_role(const raft *r) { return r->role; }
raft_id raft_get_leader(const raft *r) { return r->leader; }
raft_term raft_get_term(const raft *r) { return r->term; }
raft_index raft_get_commit(const raft *r) { return r->commit; }
raft_index raft_get_last_index(const raft *r) { return raft_log_last(&r->log); }
const raft_config *raft_get_config(const raft *r) { return &r->cfg; }

int raft_entry_at(const raft *r, raft_index index, raft_entry *out)
{
    if (index <= r->log.offset)
        return RAFT_ERR_COMPACTED;
    const raft_entry *e = raft_log_get(&r->log, index);
    if (!e)
        return RAFT_ERR_UNAVAILABLE;
    *out = *e;
    return RAFT_OK;
}

int raft_term_at(const raft *r, raft_index index, raft_term *out)
{
    return raft_log_term(&r->log, index, out);
}

static void peer_status(const raft *r, const raft_progress *p,
                        raft_peer_status *ps)
{
    ps->id = p->id;
    ps->learner = p->learner;
    ps->recent_active = p->recent_active;
    ps->state = p->state;
    ps->match = p->match;
    ps->next = p->next;
    ps->pending_snapshot = p->pending_snapshot;
    ps->inflight = p->infl.count;
    ps->inflight_bytes = p->infl.total;
    ps->last_heard = r->now - p->last_heard;
}

void raft_status_get(const raft *r, raft_status *st)
{
    memset(st, 0, sizeof *st);
    st->id = r->opt.id;
    st->role = r->role;
    st->learner = !raft_is_voter(r, r->opt.id);
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->leader;
    st->transferee = r->transferee;
    st->commit = r->commit;
    st->applied = r->applied;
    st->first_index = r->log.offset + 1;
    st->last_index = raft_log_last(&r->log);
    st->snapshot_index = r->snap.index;
    st->log_entries = r->log.n;
    st->log_bytes = r->log.bytes;
    st->config_index = r->cfg_index;
    if (r->role != RAFT_LEADER)
        return;
    for (unsigned i = 0; i < r->n_prs; i++)
        if (r->prs[i].id != r->opt.id)
            peer_status(r, &r->prs[i], &st->peers[st->n_peers++]);
}

/* SPDX-License-Identifier: MIT */
/*
 * node_members.c: the node's view of the cluster's members (see
 * node_internal.h): where each one is (addresses travel in Raft's
 * configuration as "PEER CLIENT"), the peer port following the
 * configuration, membership changes (lms-admin cluster-add/remove, and
 * the leader promoting caught-up learners), leadership transfer, and the
 * status that lms-admin cluster-status shows.
 */
#include "node_internal.h"

#include "clock.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPORT_FRESH_MS 1000   /* a member's report older than this is stale */

/* ---- addresses ----------------------------------------------------------- */

/* "PEER CLIENT" of a configuration entry into its parts ("" if absent). */
static void split_addr(const char *addr, char *peer, char *client)
{
    const char *sp = strchr(addr, ' ');
    size_t plen = sp ? (size_t)(sp - addr) : strlen(addr);
    snprintf(peer, RAFT_ADDR_MAX, "%.*s", (int)plen, addr);
    snprintf(client, RAFT_ADDR_MAX, "%s", sp ? sp + 1 : "");
    if (strcmp(peer, "-") == 0)
        peer[0] = '\0';
}

const node_member *node_opts_member(const node *n, uint64_t id)
{
    for (size_t i = 0; i < n->opts.n_members; i++)
        if (n->opts.members[i].id == id)
            return &n->opts.members[i];
    return NULL;
}

/* Where member id takes clients and peers (from Raft's configuration,
 * else from the config file). 0, or -1 if unknown. */
static int member_addrs(const node *n, uint64_t id, char *peer, char *client)
{
    const raft_server *s = raft_config_find(raft_get_config(n->r), id);
    if (s) {
        split_addr(s->addr, peer, client);
        return 0;
    }
    const node_member *m = node_opts_member(n, id);
    if (!m)
        return -1;
    snprintf(peer, RAFT_ADDR_MAX, "%s", m->peer_addr ? m->peer_addr : "");
    snprintf(client, RAFT_ADDR_MAX, "%s", m->client_addr);
    return 0;
}

const char *node_client_addr_of(const node *n, uint64_t id)
{
    static __thread char client[RAFT_ADDR_MAX];
    char peer[RAFT_ADDR_MAX];
    if (!id || member_addrs(n, id, peer, client) < 0)
        return "";
    return client;
}

/* The peer port knows every member of cfg (at its address there). */
static void learn(node *n, const raft_config *cfg)
{
    char peer[RAFT_ADDR_MAX], client[RAFT_ADDR_MAX];
    for (uint32_t i = 0; n->peers && i < cfg->n; i++) {
        const raft_server *s = &cfg->servers[i];
        split_addr(s->addr, peer, client);
        if (s->id != n->opts.node_id && peer[0] &&
            peer_set_member(n->peers, s->id, peer) != LMS_OK)
            log_warn("member %llu: bad peer address '%s'",
                     (unsigned long long)s->id, peer);
    }
}

void node_learn_members(node *n, const raft_config *cfg)
{
    learn(n, cfg);
    n->known = *cfg;
}

/* A node left the configuration: the peer port forgets it later
 * (node_prune_peers); one that came back is known again at once. */
static void leaving_add(node *n, uint64_t id)
{
    for (unsigned i = 0; i < n->n_leaving; i++)
        if (n->leaving[i].id == id)
            return;
    if (n->n_leaving < RAFT_MAX_SERVERS) {
        n->leaving[n->n_leaving].id = id;
        n->leaving[n->n_leaving++].since = mono_ms();
    } else
        peer_remove_member(n->peers, id); /* no room to wait: at once */
}

/* How long a node out of the committed configuration may still talk to
 * us: its last appends and its TimeoutNow when it was the leader. */
#define LEAVING_GRACE_MS 3000

void node_prune_peers(node *n)
{
    if (!n->n_leaving || !n->peers)
        return;
    const raft_config *cfg = raft_get_config(n->r);
    raft_status st;
    raft_status_get(n->r, &st);
    int64_t now = mono_ms();
    for (unsigned i = 0; i < n->n_leaving;) {
        uint64_t id = n->leaving[i].id;
        int back = raft_config_find(cfg, id) != NULL;
        int gone = !back && st.config_index <= st.commit &&
                   now - n->leaving[i].since >= LEAVING_GRACE_MS;
        if (!back && !gone) {
            i++;
            continue;
        }
        if (gone) {
            log_info("membership: node %llu is no longer a member; the peer "
                     "port refuses it from now on", (unsigned long long)id);
            peer_remove_member(n->peers, id);
        }
        n->leaving[i] = n->leaving[--n->n_leaving];
    }
}

/* The peer port follows the configuration: its members are known, and
 * any other node is forgotten once it is out for good (node_prune_peers:
 * its connections closed, its hellos refused whatever certificate it
 * shows), one removed by cluster-remove and also one of the config file's
 * initial members, which start_peers knew. A node with no configuration
 * yet (joining) keeps the config file's. */
void node_update_peers(node *n)
{
    const raft_config *cfg = raft_get_config(n->r);
    learn(n, cfg);
    for (uint32_t i = 0; n->peers && i < n->known.n; i++) {
        uint64_t id = n->known.servers[i].id;
        if (id != n->opts.node_id && !raft_config_find(cfg, id) &&
            (cfg->n > 0 || !node_opts_member(n, id)))
            leaving_add(n, id);
    }
    for (size_t i = 0; n->peers && cfg->n > 0 && i < n->opts.n_members; i++) {
        uint64_t id = n->opts.members[i].id;
        if (id != n->opts.node_id && !raft_config_find(cfg, id) &&
            peer_is_member(n->peers, id))
            leaving_add(n, id);
    }
    n->known = *cfg;
    snprintf(n->leader_client, sizeof n->leader_client, "%s",
             node_client_addr_of(n, n->ss.leader));
}

/* ---- membership changes and leadership transfer ------------------------ */

/* Leader: a learner whose log reached the commit index becomes a voter
 * (one change at a time; a refusal is retried at the next call). */
void node_promote_learners(node *n)
{
    if (n->ss.role != RAFT_LEADER)
        return;
    raft_status st;
    raft_status_get(n->r, &st);
    for (unsigned i = 0; i < st.n_peers; i++) {
        const raft_peer_status *p = &st.peers[i];
        if (!p->learner || p->match < st.commit)
            continue;
        raft_conf_change cc = {.type = RAFT_CONF_PROMOTE, .id = p->id};
        if (raft_propose_conf(n->r, &cc, NULL, NULL, NULL) == RAFT_OK) {
            log_info("membership: node %llu caught up; promoting it to a voter",
                     (unsigned long long)p->id);
            node_schedule_pump(n);
        }
        return;
    }
}

/* A refusal of raft_propose_conf as what the caller can act on. */
static int conf_refused(node *n, int rc, const raft_conf_change *cc, lms_err *err)
{
    switch (rc) {
    case RAFT_ERR_NOT_LEADER:
        return lms_err_set(err, LMS_NOT_LEADER, "not the leader; %s%s",
                           n->leader_client[0] ? "try " : "no leader yet",
                           n->leader_client);
    case RAFT_ERR_INVALID:
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           cc->type == RAFT_CONF_ADD_LEARNER
                               ? "node %llu is a member already"
                               : "node %llu is not a member that can be changed "
                                 "that way (the last voter cannot go)",
                           (unsigned long long)cc->id);
    case RAFT_ERR_NOT_CAUGHT_UP:
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "node %llu has not caught up with the leader yet",
                           (unsigned long long)cc->id);
    case RAFT_ERR_NOMEM:
        node_raft_failed(n, "propose_conf", rc);
        return lms_err_set(err, LMS_UNAVAILABLE, "node is stopping");
    default:
        return lms_err_set(err, LMS_UNAVAILABLE, "%s; retry", raft_strerror(rc));
    }
}

int node_change_members(node *n, int type, uint64_t id, const char *peer_addr,
                        const char *client_addr, node_proposal *p, lms_err *err)
{
    raft_conf_change cc;
    memset(&cc, 0, sizeof cc);
    cc.type = (uint32_t)type;
    cc.id = id;
    if (type == RAFT_CONF_ADD_LEARNER &&
        (size_t)snprintf(cc.addr, sizeof cc.addr, "%s %s", peer_addr,
                         client_addr) >= sizeof cc.addr)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "addresses too long");
    if (n->closing || n->failed)
        return lms_err_set(err, LMS_UNAVAILABLE, "node is shutting down");
    pending *it = p ? malloc(sizeof *it) : NULL;
    if (p && !it)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    raft_index index;
    raft_term term;
    int rc = raft_propose_conf(n->r, &cc, &index, &term, NULL);
    if (rc != RAFT_OK) {
        free(it);
        return conf_refused(n, rc, &cc, err);
    }
    log_info("membership: proposed to %s node %llu at index %llu",
             type == RAFT_CONF_ADD_LEARNER ? "add"
             : type == RAFT_CONF_PROMOTE   ? "promote"
                                           : "remove",
             (unsigned long long)id, (unsigned long long)index);
    if (it)
        node_push_pending(n, it, index, term, p);
    node_schedule_pump(n);
    return LMS_OK;
}

int node_transfer_leadership(node *n, uint64_t *to)
{
    raft_status st;
    raft_status_get(n->r, &st);
    if (st.role != RAFT_LEADER)
        return LMS_NOT_LEADER;
    /* heard from within a heartbeat round or two: it is up and connected */
    uint64_t fresh = 2 * (n->opts.heartbeat_ticks ? n->opts.heartbeat_ticks : 1) + 2;
    const raft_peer_status *best = NULL;
    for (unsigned i = 0; i < st.n_peers; i++) {
        const raft_peer_status *p = &st.peers[i];
        if (p->id == n->opts.node_id || p->learner || p->last_heard > fresh)
            continue;
        if (!best || p->match > best->match)
            best = p;
    }
    if (!best || raft_transfer_leadership(n->r, best->id) != RAFT_OK)
        return LMS_NOT_FOUND;
    *to = best->id;
    node_schedule_pump(n);
    return LMS_OK;
}

/* ---- status (lms-admin cluster-status) -------------------------------------- */

static const raft_peer_status *progress_of(const raft_status *rs, uint64_t id)
{
    for (unsigned i = 0; i < rs->n_peers; i++)
        if (rs->peers[i].id == id)
            return &rs->peers[i];
    return NULL;
}

static const member_report *report_of(const node *n, uint64_t id)
{
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++)
        if (n->reports[i].id == id && n->reports[i].at_ms &&
            mono_ms() - n->reports[i].at_ms <= REPORT_FRESH_MS)
            return &n->reports[i];
    return NULL;
}

/* A member's own numbers: ours, or its latest report. */
static void member_numbers(const node *n, const raft_status *rs,
                           node_member_status *m)
{
    const member_report *r = report_of(n, m->id);
    if (m->id == rs->id) {
        m->known = 1;
        m->role = rs->learner ? "learner" : raft_role_name(rs->role);
        m->term = rs->term;
        m->commit = rs->commit;
        m->applied = n->applied;
        m->last_index = rs->last_index;
        m->snapshot = n->snap.index;
    } else if (r) {
        m->known = 1;
        m->role = !m->voter ? "learner" : raft_role_name((raft_role)r->st.role);
        m->term = r->st.term;
        m->commit = r->st.commit;
        m->applied = r->st.applied;
        m->last_index = r->st.last_index;
        m->snapshot = r->st.snapshot;
    } else {
        m->role = rs->role == RAFT_LEADER ? "unreachable" : "unknown";
    }
}

static void member_status(const node *n, const raft_status *rs,
                          const raft_server *s, node_member_status *m)
{
    memset(m, 0, sizeof *m);
    m->id = s->id;
    m->voter = s->role == RAFT_VOTER;
    m->heard_ms = -1;
    split_addr(s->addr, m->peer_addr, m->client_addr);
    member_numbers(n, rs, m);
    if (rs->role != RAFT_LEADER)
        return;
    const raft_peer_status *p = progress_of(rs, s->id);
    m->match = s->id == rs->id ? rs->last_index : p ? p->match : 0;
    m->lag = rs->last_index > m->match ? rs->last_index - m->match : 0;
    if (p && s->id != rs->id) {
        unsigned tick = n->opts.tick_ms ? n->opts.tick_ms : 10;
        m->heard_ms = (int64_t)p->last_heard * tick;
    } else if (s->id == rs->id) {
        m->heard_ms = 0;
    }
}

void node_get_status(node *n, node_status *st)
{
    raft_status rs;
    raft_status_get(n->r, &rs);
    memset(st, 0, sizeof *st);
    st->id = rs.id;
    st->leader = rs.leader;
    st->term = rs.term;
    st->is_leader = rs.role == RAFT_LEADER;
    st->commit = rs.commit;
    st->applied = n->applied;
    st->last_index = rs.last_index;
    const raft_config *cfg = raft_get_config(n->r);
    for (uint32_t i = 0; i < cfg->n && i < RAFT_MAX_SERVERS; i++)
        member_status(n, &rs, &cfg->servers[i], &st->members[st->n++]);
}

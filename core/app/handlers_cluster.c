/* SPDX-License-Identifier: MIT */
/*
 * handlers_cluster.c: requests about the cluster itself. Raft's state
 * belongs to the loop, so the engine calls handlers_loop_snapshot() on the
 * loop (after the read barrier, before prepare) and cluster-status answers
 * from that snapshot on the storage thread like any other read. A
 * membership change is checked in prepare and proposed by the engine on
 * the loop (NEXT_CONF); it is answered once committed.
 */
#include "handlers.h"

#include <string.h>

static Lms__ClusterMember *pb_member(req *r, const node_member_status *s)
{
    Lms__ClusterMember *m = req_alloc(r, sizeof *m);
    lms__cluster_member__init(m);
    m->id = s->id;
    m->address = req_strdup(r, s->client_addr);
    m->peer_address = req_strdup(r, s->peer_addr);
    m->role = req_strdup(r, s->role);
    m->voter = s->voter != 0;
    m->known = s->known != 0;
    m->term = s->term;
    m->commit = s->commit;
    m->applied = s->applied;
    m->last_index = s->last_index;
    m->snapshot = s->snapshot;
    m->match = s->match;
    m->lag = s->lag;
    m->heard_ms_ago = s->heard_ms > 0 ? (uint64_t)s->heard_ms : 0;
    return m;
}

static next_step cluster_status_prepare(req *r)
{
    const node_status *st = r->scratch;
    Lms__ClusterStatusResponse *m = req_alloc(r, sizeof *m);
    lms__cluster_status_response__init(m);
    m->leader = st->leader;
    m->term = st->term;
    m->commit = st->commit;
    m->last_index = st->last_index;
    m->members = req_alloc(r, (st->n ? st->n : 1) * sizeof *m->members);
    for (size_t i = 0; i < st->n; i++)
        m->members[m->n_members++] = pb_member(r, &st->members[i]);
    r->resp.body_case = LMS__RESPONSE__BODY_CLUSTER_STATUS;
    r->resp.cluster_status = m;
    return NEXT_RESPOND;
}

/* host:port, with a numeric port and no spaces (the configuration entry
 * keeps "PEER CLIENT"). */
static int plain_addr(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || strchr(s, ' ') || !colon[1])
        return 0;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return colon - s < 100 && strlen(colon + 1) <= 5;
}

static next_step cluster_change_prepare(req *r)
{
    const Lms__ClusterChangeRequest *m = r->msg->cluster_change;
    if (!m->id)
        return req_fail(r, LMS_INVALID_ARGUMENT,
                        "a node id is a positive integer");
    if (!m->remove && (!plain_addr(m->peer_address) || !plain_addr(m->address)))
        return req_fail(r, LMS_INVALID_ARGUMENT,
                        "the new node's peer and client addresses must be "
                        "host:port, e.g. 127.0.0.1:7504 127.0.0.1:7404");
    conf_change_req *cc = req_alloc(r, sizeof *cc);
    cc->type = m->remove ? RAFT_CONF_REMOVE : RAFT_CONF_ADD_LEARNER;
    cc->id = m->id;
    cc->peer_addr = req_strdup(r, m->peer_address);
    cc->client_addr = req_strdup(r, m->address);
    r->scratch = cc;
    return NEXT_CONF;
}

/* cluster-verify. index 0, a write: propose the marker (sm.c
 * apply_verify), answered with its index once applied. index N: this
 * node's own digest at N (node_verify.c); dispatch lets it past the read
 * barrier, so any node answers for itself. */
static next_step cluster_verify_prepare(req *r)
{
    const Lms__ClusterVerifyRequest *m = r->msg->cluster_verify;
    if (m->index == 0) {
        if (!r->msg->seq)
            return req_fail(r, LMS_INVALID_ARGUMENT,
                            "starting a verification is a write: send it "
                            "with a client id and seq");
        Lms__CmdVerify *v = req_alloc(r, sizeof *v);
        lms__cmd_verify__init(v);
        r->cmd.body_case = LMS__COMMAND__BODY_VERIFY;
        r->cmd.verify = v;
        return NEXT_PROPOSE;
    }
    if (r->msg->seq)
        return req_fail(r, LMS_INVALID_ARGUMENT,
                        "asking for a node's digest is a read: send it "
                        "without a seq");
    node_verify_info *info = req_alloc(r, sizeof *info);
    node_verify_get(req_opts(r)->node, m->index, r->snap_index, info);
    static const char *const states[] = {
        [NODE_VERIFY_PENDING] = "pending", [NODE_VERIFY_DONE] = "done",
        [NODE_VERIFY_MISSED] = "missed", [NODE_VERIFY_FAILED] = "failed"};
    Lms__ClusterVerifyResponse *v = req_alloc(r, sizeof *v);
    lms__cluster_verify_response__init(v);
    v->node = node_id(req_opts(r)->node);
    v->index = m->index;
    v->state = (char *)states[info->state];
    v->applied = r->snap_index;
    v->backend = req_strdup(r, req_opts(r)->storage_name
                                   ? req_opts(r)->storage_name : "");
    v->message = req_strdup(r, info->message);
    if (info->state == NODE_VERIFY_DONE) {
        v->sha256.data = req_memdup(r, info->sha256, sizeof info->sha256);
        v->sha256.len = sizeof info->sha256;
        v->tables = req_alloc(r, (info->n_tables + 1) * sizeof *v->tables);
        for (size_t i = 0; i < info->n_tables; i++) {
            Lms__TableDigest *t = req_alloc(r, sizeof *t);
            lms__table_digest__init(t);
            t->table = req_strdup(r, info->tables[i].name);
            t->rows = info->tables[i].rows;
            t->sha256.data = req_memdup(r, info->tables[i].sha256, 32);
            t->sha256.len = 32;
            v->tables[v->n_tables++] = t;
        }
    }
    r->resp.body_case = LMS__RESPONSE__BODY_CLUSTER_VERIFY;
    r->resp.cluster_verify = v;
    return NEXT_RESPOND;
}

/* The marker is applied: its index, for the client to ask every node. */
static void cluster_verify_applied(req *r)
{
    Lms__ClusterVerifyResponse *v = req_alloc(r, sizeof *v);
    lms__cluster_verify_response__init(v);
    v->node = node_id(req_opts(r)->node);
    v->index = r->res.id;
    v->state = (char *)"pending";
    v->backend = req_strdup(r, req_opts(r)->storage_name
                                   ? req_opts(r)->storage_name : "");
    r->resp.body_case = LMS__RESPONSE__BODY_CLUSTER_VERIFY;
    r->resp.cluster_verify = v;
}

void handlers_loop_snapshot(req *r)
{
    if (r->h->body != LMS__REQUEST__BODY_CLUSTER_STATUS)
        return;
    node_status *st = req_alloc(r, sizeof *st);
    node_get_status(req_opts(r)->node, st);
    r->scratch = st;
}

#define B(x) LMS__REQUEST__BODY_##x

const handler handlers_cluster[] = {
    {.body = B(CLUSTER_STATUS), .name = "cluster-status", .roles = ROLES_ADMIN,
     .prepare = cluster_status_prepare},
    {.body = B(CLUSTER_CHANGE), .name = "cluster-change", .roles = ROLES_ADMIN,
     .prepare = cluster_change_prepare},
    {.body = B(CLUSTER_VERIFY), .name = "cluster-verify", .roles = ROLES_ADMIN,
     .prepare = cluster_verify_prepare, .applied = cluster_verify_applied},
    {.name = NULL}, /* the end */
};

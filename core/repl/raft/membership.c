/* SPDX-License-Identifier: MIT */
/*
 * membership.c: cluster configurations, changed one server at a time (Raft
 * thesis 4.1). A configuration entry carries the whole configuration it
 * creates and takes effect on a node as soon as it is in the node's log,
 * committed or not; a truncation that removes it reverts to the previous
 * one. The leader proposes a change only when the previous one has
 * committed and it has committed an entry of its own term (the fix for
 * the single-server change bug found after the thesis), so at most one
 * configuration in any log is uncommitted and any two consecutive ones
 * have overlapping majorities. New servers join as learners: they get the
 * log but neither vote nor count, until promoted once caught up.
 *
 * Encoding (little endian): u8 'R', u8 version 1, u8 change type, u8 0,
 * u64 changed id, u16 addr length, addr, u32 server count, then per
 * server: u64 id, u8 role, u16 addr length, addr.
 */
#include "raft-internal.h"

#include <stdlib.h>
#include <string.h>

enum { CONF_MAGIC = 'R', CONF_VERSION = 1 };

const raft_server *raft_config_find(const raft_config *cfg, raft_id id)
{
    for (uint32_t i = 0; i < cfg->n; i++)
        if (cfg->servers[i].id == id)
            return &cfg->servers[i];
    return NULL;
}

int raft_config_has_voter(const raft_config *cfg, raft_id id)
{
    const raft_server *s = raft_config_find(cfg, id);
    return s && s->role == RAFT_VOTER;
}

/* ---- encoding ----------------------------------------------------------- */

static uint8_t *put_u(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_addr(uint8_t *p, const char *addr)
{
    size_t len = strnlen(addr, RAFT_ADDR_MAX - 1);
    p = put_u(p, len, 2);
    memcpy(p, addr, len);
    return p + len;
}

blob *raft_conf_encode(const raft_config *cfg, const raft_conf_change *chg)
{
    static const raft_conf_change none;
    if (!chg)
        chg = &none;
    size_t max = 4 + 8 + 2 + RAFT_ADDR_MAX + 4 +
                 cfg->n * (8 + 1 + 2 + RAFT_ADDR_MAX);
    uint8_t *buf = malloc(max);
    if (!buf)
        return NULL;
    uint8_t *p = buf;
    *p++ = CONF_MAGIC;
    *p++ = CONF_VERSION;
    *p++ = (uint8_t)chg->type;
    *p++ = 0;
    p = put_u(p, chg->id, 8);
    p = put_addr(p, chg->addr);
    p = put_u(p, cfg->n, 4);
    for (uint32_t i = 0; i < cfg->n; i++) {
        p = put_u(p, cfg->servers[i].id, 8);
        *p++ = (uint8_t)cfg->servers[i].role;
        p = put_addr(p, cfg->servers[i].addr);
    }
    blob *b = blob_copy(buf, (size_t)(p - buf));
    free(buf);
    return b;
}

typedef struct reader {
    const uint8_t *p, *end;
    int bad;
} reader;

static uint64_t get_u(reader *rd, int bytes)
{
    uint64_t v = 0;
    if (rd->end - rd->p < bytes) {
        rd->bad = 1;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)*rd->p++ << (8 * i);
    return v;
}

static void get_addr(reader *rd, char *out)
{
    size_t len = (size_t)get_u(rd, 2);
    if (rd->bad || len >= RAFT_ADDR_MAX || (size_t)(rd->end - rd->p) < len) {
        rd->bad = 1;
        return;
    }
    memcpy(out, rd->p, len);
    out[len] = 0;
    rd->p += len;
}

int raft_conf_decode(const blob *data, raft_config *cfg, raft_conf_change *chg)
{
    raft_conf_change c;
    if (!data)
        return RAFT_ERR_INVALID;
    reader rd = {data->data, data->data + data->len, 0};
    memset(&c, 0, sizeof c);
    if (get_u(&rd, 1) != CONF_MAGIC || get_u(&rd, 1) != CONF_VERSION)
        return RAFT_ERR_INVALID;
    c.type = (uint32_t)get_u(&rd, 1);
    get_u(&rd, 1);
    c.id = get_u(&rd, 8);
    get_addr(&rd, c.addr);
    uint64_t n = get_u(&rd, 4);
    if (rd.bad || n > RAFT_MAX_SERVERS)
        return RAFT_ERR_INVALID;
    memset(cfg, 0, sizeof *cfg);
    cfg->n = (uint32_t)n;
    for (uint32_t i = 0; i < cfg->n && !rd.bad; i++) {
        cfg->servers[i].id = get_u(&rd, 8);
        cfg->servers[i].role = (uint32_t)get_u(&rd, 1);
        get_addr(&rd, cfg->servers[i].addr);
        /* id 0 or a server twice: two slots would share one progress
         * (raft_sync_progress), freed twice (found by tests/fuzz) */
        cfg->n = i;
        if (cfg->servers[i].id == 0 ||
            raft_config_find(cfg, cfg->servers[i].id))
            rd.bad = 1;
        cfg->n = (uint32_t)n;
    }
    if (rd.bad || rd.p != rd.end)
        return RAFT_ERR_INVALID;
    if (chg)
        *chg = c;
    return RAFT_OK;
}

/* ---- following the configuration -------------------------------------- */

/* Make r->prs mirror r->cfg: keep the progress of servers that stay, add
 * fresh ones (probing from the end of our log) for newcomers. */
int raft_sync_progress(raft *r)
{
    raft_progress next[RAFT_MAX_SERVERS];
    uint8_t kept[RAFT_MAX_SERVERS] = {0};
    for (uint32_t i = 0; i < r->cfg.n; i++) {
        const raft_server *s = &r->cfg.servers[i];
        unsigned k = 0;
        while (k < r->n_prs && r->prs[k].id != s->id)
            k++;
        if (k < r->n_prs) {
            next[i] = r->prs[k];
            kept[k] = 1;
        } else {
            if (raft_progress_init(&next[i], s->id, r->opt.max_inflight_msgs)) {
                while (i--)
                    if (!raft_progress_of(r, next[i].id))
                        raft_progress_free(&next[i]);
                return RAFT_ERR_NOMEM;
            }
            raft_progress_reset(&next[i], raft_log_last(&r->log) + 1);
            next[i].recent_active = 1;
            next[i].last_heard = next[i].progress_at = r->now;
        }
        next[i].learner = s->role == RAFT_LEARNER;
    }
    for (unsigned k = 0; k < r->n_prs; k++)
        if (!kept[k])
            raft_progress_free(&r->prs[k]);
    memcpy(r->prs, next, r->cfg.n * sizeof next[0]);
    r->n_prs = r->cfg.n;
    return RAFT_OK;
}

static int config_equal(const raft_config *a, const raft_config *b)
{
    if (a->n != b->n)
        return 0;
    for (uint32_t i = 0; i < a->n; i++) {
        const raft_server *x = &a->servers[i], *y = &b->servers[i];
        if (x->id != y->id || x->role != y->role ||
            strncmp(x->addr, y->addr, RAFT_ADDR_MAX))
            return 0;
    }
    return 1;
}

int raft_config_refresh(raft *r)
{
    raft_config cfg;
    raft_index at;
    raft_log_config_at(&r->log, raft_log_last(&r->log), &cfg, &at);
    if (at == r->cfg_index && r->n_prs == r->cfg.n &&
        config_equal(&cfg, &r->cfg))
        return RAFT_OK;
    r->cfg = cfg;
    r->cfg_index = at;
    r->cfg_changed = 1;
    if (raft_sync_progress(r) != RAFT_OK)
        return RAFT_ERR_NOMEM;
    if (r->role != RAFT_LEADER)
        return RAFT_OK;
    if (r->transferee && !raft_is_voter(r, r->transferee))
        raft_transfer_abort(r);
    raft_maybe_commit(r);       /* the quorum may have shrunk */
    raft_leader_check_removed(r);
    return RAFT_OK;
}

/* A leader that is no longer a voter leads until the change that removed
 * it commits, then hands over to the most caught-up voter and steps
 * down. Under load that voter has rarely acknowledged the whole log at
 * that moment: what it lacks is sent (or already on its way) ahead of the
 * TimeoutNow, on the same ordered stream, so it can still take over at
 * once instead of after an election timeout. If it cannot (paused, or the
 * TimeoutNow overtakes the entries), the vote rules keep everyone safe and
 * an ordinary election follows. */
void raft_leader_check_removed(raft *r)
{
    if (r->role != RAFT_LEADER || raft_is_voter(r, r->opt.id) ||
        r->commit < r->cfg_index)
        return;
    raft_progress *best = NULL;
    for (unsigned i = 0; i < r->n_prs; i++) {
        raft_progress *p = &r->prs[i];
        if (!p->learner && p->id != r->opt.id && (!best || p->match > best->match))
            best = p;
    }
    raft_index last = raft_log_last(&r->log);
    while (best && best->state == RAFT_PROGRESS_REPLICATE && best->next <= last &&
           !r->broken) {
        raft_index before = best->next;
        raft_send_append(r, best, 0);
        if (best->next == before)
            break; /* the window is full */
    }
    if (best && (best->match == last ||
                 (best->state == RAFT_PROGRESS_REPLICATE && best->next > last))) {
        raft_msg m = {0};
        m.type = RAFT_MSG_TIMEOUT_NOW;
        m.to = best->id;
        raft_send(r, &m);
    }
    raft_become_follower(r, r->term, 0);
}

/* ---- proposing a change ------------------------------------------------- */

static int change_config(raft *r, const raft_conf_change *cc, raft_config *c)
{
    raft_server *s = NULL;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->servers[i].id == cc->id)
            s = &c->servers[i];
    switch (cc->type) {
    case RAFT_CONF_ADD_LEARNER:
        if (s || !cc->id || c->n >= RAFT_MAX_SERVERS)
            return RAFT_ERR_INVALID;
        s = &c->servers[c->n++];
        memset(s, 0, sizeof *s);
        s->id = cc->id;
        s->role = RAFT_LEARNER;
        memcpy(s->addr, cc->addr, RAFT_ADDR_MAX);
        s->addr[RAFT_ADDR_MAX - 1] = 0;
        return RAFT_OK;
    case RAFT_CONF_PROMOTE: {
        if (!s || s->role != RAFT_LEARNER)
            return RAFT_ERR_INVALID;
        raft_progress *p = raft_progress_of(r, cc->id);
        if (!p || p->match < r->commit)
            return RAFT_ERR_NOT_CAUGHT_UP;
        s->role = RAFT_VOTER;
        return RAFT_OK;
    }
    case RAFT_CONF_REMOVE: {
        if (!s)
            return RAFT_ERR_INVALID;
        *s = c->servers[--c->n];
        unsigned voters = 0;
        for (uint32_t i = 0; i < c->n; i++)
            voters += c->servers[i].role == RAFT_VOTER;
        return voters ? RAFT_OK : RAFT_ERR_INVALID;
    }
    default:
        return RAFT_ERR_INVALID;
    }
}

int raft_propose_conf(raft *r, const raft_conf_change *cc, raft_index *index,
                      raft_term *term, raft_id *leader_hint)
{
    if (r->broken)
        return RAFT_ERR_NOMEM;
    if (leader_hint)
        *leader_hint = r->role == RAFT_LEADER ? r->opt.id : r->leader;
    if (r->role != RAFT_LEADER)
        return RAFT_ERR_NOT_LEADER;
    if (r->transferee)
        return RAFT_ERR_TRANSFERRING;
    raft_term t;
    if (r->cfg_index > r->commit ||
        raft_log_term(&r->log, r->commit, &t) != RAFT_OK || t != r->term)
        return RAFT_ERR_CONF_PENDING;
    raft_config c = r->cfg;
    int rc = change_config(r, cc, &c);
    if (rc != RAFT_OK)
        return rc;
    blob *b = raft_conf_encode(&c, cc);
    if (!b)
        return raft_fail(r, RAFT_ERR_NOMEM);
    rc = raft_append_local(r, RAFT_ENTRY_CONF, b);
    blob_unref(b);
    if (rc != RAFT_OK)
        return rc;
    if (index)
        *index = raft_log_last(&r->log);
    if (term)
        *term = r->term;
    return RAFT_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * fixture.c: see fixture.h. This is the glue of lmsd in its simplest
 * form: persist, send, apply, advance, one ready at a time.
 */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

static char **strv_copy(char **v, size_t n)
{
    char **c = xrealloc(NULL, n * sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = strdup(v[i]);
    return c;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

fx_node *fx_node_of(fx *f, raft_id id)
{
    return id >= 1 && id <= FX_MAX ? &f->nodes[id - 1] : NULL;
}

/* ---- the durable log ---------------------------------------------------- */

static raft_index log_offset(const fx_node *n)
{
    return n->has_snap ? n->snap.index : 0;
}

static void log_truncate_after(fx_node *n, raft_index after)
{
    while (n->n_log && log_offset(n) + n->n_log > after)
        blob_unref(n->log[--n->n_log].data);
}

static void log_append(fx_node *n, const raft_entry *e)
{
    if (n->n_log == n->cap_log) {
        n->cap_log = n->cap_log ? 2 * n->cap_log : 16;
        n->log = xrealloc(n->log, n->cap_log * sizeof *n->log);
    }
    n->log[n->n_log] = *e;
    if (e->data)
        blob_ref(e->data);
    n->n_log++;
}

static void log_drop_to(fx_node *n, raft_index upto)
{
    size_t k = 0;
    while (k < n->n_log && n->log[k].index <= upto)
        blob_unref(n->log[k++].data);
    memmove(n->log, n->log + k, (n->n_log - k) * sizeof *n->log);
    n->n_log -= k;
}

/* ---- the ready cycle ---------------------------------------------------- */

static void queue_msgs(fx *f, const raft_msg *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f->nq == f->capq) {
            f->capq = f->capq ? 2 * f->capq : 64;
            f->q = xrealloc(f->q, f->capq * sizeof *f->q);
        }
        raft_msg *d = &f->q[f->nq++];
        *d = v[i];
        d->entries = NULL;
        d->snapshot = NULL;
        if (v[i].n_entries) {
            d->entries = xrealloc(NULL, v[i].n_entries * sizeof *d->entries);
            memcpy(d->entries, v[i].entries, v[i].n_entries * sizeof *d->entries);
            for (size_t k = 0; k < v[i].n_entries; k++)
                if (d->entries[k].data)
                    blob_ref(d->entries[k].data);
        }
        if (v[i].snapshot) {
            raft_snapshot_meta *s = xrealloc(NULL, sizeof *s);
            *s = *v[i].snapshot;
            d->snapshot = s;
        }
    }
}

static void msg_free(raft_msg *m)
{
    for (size_t k = 0; k < m->n_entries; k++)
        blob_unref(m->entries[k].data);
    free(m->entries);
    free((void *)m->snapshot);
}

static void install(fx_node *n, const raft_snapshot_meta *s)
{
    if (!n->has_stash || n->stash.index != s->index)
        abort(); /* the library asked for a snapshot it never received */
    log_truncate_after(n, 0);
    n->n_log = 0;
    n->snap = *s;
    n->has_snap = 1;
    strv_free(n->snap_state, n->snap_n);
    n->snap_state = strv_copy(n->stash_state, n->stash_n);
    n->snap_n = n->stash_n;
    strv_free(n->state, n->n_state);
    n->state = strv_copy(n->stash_state, n->stash_n);
    n->n_state = n->stash_n;
    n->applied = s->index;
    n->installs++;
}

static void apply(fx_node *n, const raft_entry *e)
{
    if (e->index != n->applied + 1)
        abort(); /* applied out of order */
    n->applied = e->index;
    if (e->type != RAFT_ENTRY_NORMAL || !e->data || !e->data->len)
        return;
    n->state = xrealloc(n->state, (n->n_state + 1) * sizeof *n->state);
    n->state[n->n_state++] = strndup((const char *)e->data->data, e->data->len);
}

static void handle(fx *f, fx_node *n, struct raft_ready *rd)
{
    if (rd->snapshot)
        install(n, rd->snapshot);
    if (rd->truncate) {
        log_truncate_after(n, rd->truncate_after);
        n->truncations++;
    }
    for (size_t i = 0; i < rd->n_entries; i++)
        log_append(n, &rd->entries[i]);
    if (rd->has_hardstate)
        n->hs = rd->hs;
    if (rd->has_softstate)
        n->ss = rd->ss;
    queue_msgs(f, rd->msgs, rd->n_msgs);
    queue_msgs(f, rd->msgs_persisted, rd->n_msgs_persisted);
    for (size_t i = 0; i < rd->n_committed; i++)
        apply(n, &rd->committed[i]);
    raft_applied(n->r, n->applied);
    for (size_t i = 0; i < rd->n_reads && n->n_reads < 64; i++)
        n->reads[n->n_reads++] = rd->reads[i];
}

void fx_process(fx *f, raft_id id)
{
    fx_node *n = fx_node_of(f, id);
    while (n->alive && raft_has_ready(n->r)) {
        struct raft_ready rd;
        if (raft_ready(n->r, &rd) != RAFT_OK)
            abort();
        handle(f, n, &rd);
        if (raft_advance(n->r, &rd) != RAFT_OK)
            abort();
    }
}

/* ---- nodes -------------------------------------------------------------- */

static void start(fx *f, fx_node *n)
{
    raft_restore rs;
    memset(&rs, 0, sizeof rs);
    rs.hs = n->hs;
    rs.snapshot = n->has_snap ? &n->snap : NULL;
    rs.bootstrap = n->joined_late ? NULL : &f->boot;
    rs.entries = n->log;
    rs.n_entries = n->n_log;
    rs.applied = n->applied;
    raft_options_init(&n->opts, n->id);
    n->opts.election_tick = 10;
    n->opts.heartbeat_tick = 1;
    if (f->tweak)
        f->tweak(&n->opts);
    if (raft_new(&n->opts, &rs, &n->r) != RAFT_OK)
        abort();
    n->alive = 1;
    fx_process(f, n->id);
}

fx *fx_new(int voters, void (*tweak)(raft_options *o))
{
    fx *f = calloc(1, sizeof *f);
    f->n = voters;
    f->tweak = tweak;
    f->boot.n = (uint32_t)voters;
    for (int i = 0; i < voters; i++) {
        f->boot.servers[i].id = (raft_id)i + 1;
        snprintf(f->boot.servers[i].addr, RAFT_ADDR_MAX, "node-%d", i + 1);
    }
    for (int i = 0; i < FX_MAX; i++)
        f->nodes[i].id = (raft_id)i + 1;
    for (int i = 0; i < voters; i++)
        start(f, &f->nodes[i]);
    return f;
}

void fx_add_node(fx *f, raft_id id)
{
    fx_node *n = fx_node_of(f, id);
    n->joined_late = 1;
    if ((int)id > f->n)
        f->n = (int)id;
    start(f, n);
}

void fx_crash(fx *f, raft_id id)
{
    fx_node *n = fx_node_of(f, id);
    raft_free(n->r);
    n->r = NULL;
    n->alive = 0;
    n->has_stash = 0;
}

void fx_restart(fx *f, raft_id id)
{
    start(f, fx_node_of(f, id));
}

void fx_snapshot(fx *f, raft_id id, raft_index keep)
{
    fx_node *n = fx_node_of(f, id);
    raft_snapshot_meta m;
    if (raft_snapshot_meta_at(n->r, n->applied, &m) != RAFT_OK ||
        raft_snapshot_done(n->r, &m) != RAFT_OK)
        abort();
    n->snap = m;
    n->has_snap = 1;
    strv_free(n->snap_state, n->snap_n);
    n->snap_state = strv_copy(n->state, n->n_state);
    n->snap_n = n->n_state;
    raft_index upto = n->applied > keep ? n->applied - keep : 0;
    if (upto && raft_compact(n->r, upto) != RAFT_OK)
        abort();
    log_drop_to(n, m.index); /* the durable log keeps nothing below it */
}

void fx_free(fx *f)
{
    fx_drop_queue(f);
    free(f->q);
    for (int i = 0; i < FX_MAX; i++) {
        fx_node *n = &f->nodes[i];
        raft_free(n->r);
        log_truncate_after(n, 0);
        free(n->log);
        strv_free(n->state, n->n_state);
        strv_free(n->snap_state, n->snap_n);
        strv_free(n->stash_state, n->stash_n);
    }
    free(f);
}

/* ---- the network -------------------------------------------------------- */

void fx_drop_queue(fx *f)
{
    for (size_t i = 0; i < f->nq; i++)
        msg_free(&f->q[i]);
    f->nq = 0;
}

size_t fx_queued_count(fx *f, raft_id from, raft_id to, raft_msg_type type)
{
    size_t c = 0;
    for (size_t i = 0; i < f->nq; i++)
        c += (!from || f->q[i].from == from) && (!to || f->q[i].to == to) &&
             f->q[i].type == type;
    return c;
}

void fx_cut(fx *f, raft_id a, raft_id b)
{
    f->cut[a][b] = f->cut[b][a] = 1;
}

void fx_isolate(fx *f, raft_id id)
{
    for (raft_id k = 1; k <= FX_MAX; k++)
        if (k != id)
            fx_cut(f, id, k);
}

void fx_heal(fx *f)
{
    memset(f->cut, 0, sizeof f->cut);
}

static void stash_snapshot(fx *f, fx_node *to, raft_msg *m)
{
    fx_node *from = fx_node_of(f, m->from);
    /* The sender streams what it has now (possibly newer). */
    *(raft_snapshot_meta *)m->snapshot = from->snap;
    to->stash = from->snap;
    strv_free(to->stash_state, to->stash_n);
    to->stash_state = strv_copy(from->snap_state, from->snap_n);
    to->stash_n = from->snap_n;
    to->has_stash = 1;
    raft_report_snapshot(from->r, to->id, 1);
}

static void deliver_one(fx *f, raft_msg *m)
{
    fx_node *to = fx_node_of(f, m->to), *from = fx_node_of(f, m->from);
    int ok = to && to->alive && !f->cut[m->from][m->to] &&
             (!f->filter || f->filter(f, m, f->filter_arg));
    if (m->type == RAFT_MSG_SNAPSHOT && from->alive && !ok)
        raft_report_snapshot(from->r, m->to, 0);
    if (!ok)
        return;
    if (m->type == RAFT_MSG_SNAPSHOT && from->alive)
        stash_snapshot(f, to, m);
    f->delivered++;
    raft_step(to->r, m);
    fx_process(f, to->id);
    if (from->alive)
        fx_process(f, from->id);
}

size_t fx_deliver(fx *f)
{
    size_t before = f->delivered;
    for (int guard = 0; f->nq && guard < 1000000; guard++) {
        raft_msg m = f->q[0];
        memmove(f->q, f->q + 1, (f->nq - 1) * sizeof *f->q);
        f->nq--;
        deliver_one(f, &m);
        msg_free(&m);
    }
    return f->delivered - before;
}

/* ---- driving ------------------------------------------------------------ */

void fx_tick(fx *f, raft_id id, int n)
{
    fx_node *nd = fx_node_of(f, id);
    for (int i = 0; i < n && nd->alive; i++) {
        raft_tick(nd->r);
        fx_process(f, id);
    }
}

void fx_tick_all(fx *f, int n)
{
    for (int i = 0; i < n; i++) {
        for (int k = 1; k <= f->n; k++)
            if (fx_node_of(f, (raft_id)k)->alive)
                fx_tick(f, (raft_id)k, 1);
        fx_deliver(f);
    }
}

raft_id fx_leader(fx *f)
{
    raft_id best = 0;
    raft_term term = 0;
    for (int k = 1; k <= f->n; k++) {
        fx_node *n = fx_node_of(f, (raft_id)k);
        if (n->alive && raft_get_role(n->r) == RAFT_LEADER &&
            raft_get_term(n->r) >= term) {
            best = n->id;
            term = raft_get_term(n->r);
        }
    }
    return best;
}

void fx_campaign(fx *f, raft_id id)
{
    raft_campaign(fx_node_of(f, id)->r);
    fx_process(f, id);
    fx_deliver(f);
}

int fx_propose(fx *f, raft_id id, const char *cmd, raft_index *index)
{
    fx_node *n = fx_node_of(f, id);
    blob *b = blob_copy(cmd, strlen(cmd));
    int rc = raft_propose(n->r, b, index, NULL, NULL);
    blob_unref(b);
    fx_process(f, id);
    return rc;
}

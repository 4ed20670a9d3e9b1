/* SPDX-License-Identifier: MIT */
/*
 * store.c: what a simulated node keeps on disk. The storage log holds
 * entries with a chain hash (this entry and every one before it), which
 * is what the log matching check compares; disk operations are what a
 * ready writes, applied to the durable state when their fsync completes
 * (or, for a prefix of them, when the node crashes).
 */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ------------------------------------------------------------ */

uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
    const uint8_t *b = p;
    h ^= 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t entry_hash(const raft_entry *e)
{
    uint64_t h = e->type * 0x9e3779b97f4a7c15ULL + e->term;
    return e->data ? hash_bytes(e->data->data, e->data->len, h)
                   : hash_bytes("", 0, h);
}

uint64_t kv_digest(const kv *k)
{
    return hash_bytes(k->vals, sizeof k->vals, 7);
}

uint64_t chain_next(uint64_t prev, const raft_entry *e)
{
    uint64_t x[3] = {prev, e->index, entry_hash(e)};
    return hash_bytes(x, sizeof x, 0);
}

/* ---- the storage log ---------------------------------------------------- */

raft_index slog_last(const slog *l)
{
    return l->offset + l->n;
}

sim_entry *slog_get(const slog *l, raft_index i)
{
    if (i <= l->offset || i > slog_last(l))
        return NULL;
    return &l->v[i - l->offset - 1];
}

uint64_t slog_chain(const slog *l, raft_index i)
{
    sim_entry *e = slog_get(l, i);
    return e ? e->chain : l->offset_chain;
}

void slog_append(slog *l, const sim_entry *e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n] = *e;
    if (e->e.data)
        blob_ref(e->e.data);
    l->n++;
}

void slog_truncate_after(slog *l, raft_index after)
{
    while (l->n && slog_last(l) > after) {
        l->n--;
        blob_unref(l->v[l->n].e.data);
    }
}

void slog_compact(slog *l, raft_index upto)
{
    if (upto <= l->offset || upto > slog_last(l))
        return;
    size_t k = (size_t)(upto - l->offset);
    l->offset_term = l->v[k - 1].e.term;
    l->offset_chain = l->v[k - 1].chain;
    for (size_t i = 0; i < k; i++)
        blob_unref(l->v[i].e.data);
    memmove(l->v, l->v + k, (l->n - k) * sizeof *l->v);
    l->n -= k;
    l->offset = upto;
}

void slog_reset(slog *l, const sim_snap *s)
{
    slog_truncate_after(l, 0);
    l->n = 0;
    l->offset = s->meta.index;
    l->offset_term = s->meta.term;
    l->offset_chain = s->chain;
}

void slog_free(slog *l)
{
    slog_truncate_after(l, 0);
    free(l->v);
    memset(l, 0, sizeof *l);
}

void slog_copy(slog *dst, const slog *src)
{
    slog_free(dst);
    dst->offset = src->offset;
    dst->offset_term = src->offset_term;
    dst->offset_chain = src->offset_chain;
    for (size_t i = 0; i < src->n; i++)
        slog_append(dst, &src->v[i]);
}

int disk_has(const disk *d, raft_index i, raft_term term)
{
    if (d->has_snap && d->snap.meta.index >= i)
        return 1;
    sim_entry *e = slog_get(&d->log, i);
    return e && e->e.term == term;
}

/* ---- nodes: the disk ---------------------------------------------------- */

void op_to_disk(disk *d, const disk_op *op)
{
    switch (op->kind) {
    case OP_RESET:
        slog_reset(&d->log, &op->snap);
        break;
    case OP_RESTORE:
        d->sm = op->snap.state;
        break;
    case OP_TRUNC:
        slog_truncate_after(&d->log, op->after);
        break;
    case OP_APPEND:
        if (op->ent.e.index == slog_last(&d->log) + 1)
            slog_append(&d->log, &op->ent);
        break;
    case OP_HS:
        d->hs = op->hs;
        break;
    }
}

void op_free(disk_op *op)
{
    if (op->kind == OP_APPEND)
        blob_unref(op->ent.e.data);
}


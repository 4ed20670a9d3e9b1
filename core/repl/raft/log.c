/* SPDX-License-Identifier: MIT */
/*
 * log.c: the in-memory Raft log. Entries after the compaction point live
 * in one array (entry i at ents[i - offset - 1]), sharing their data
 * blobs with the glue's log writer; what came before the array is summed
 * up by the offset's term and configuration. Compaction is the caller's
 * policy and rare, so it moves the tail down instead of keeping a ring.
 */
#include "raft-internal.h"

#include <stdlib.h>
#include <string.h>

size_t raft_entry_bytes(const raft_entry *e)
{
    return e->data ? e->data->len : 0;
}

void raft_log_init(raft_log *l, raft_index offset, raft_term term,
                   const raft_config *cfg)
{
    memset(l, 0, sizeof *l);
    l->offset = offset;
    l->offset_term = term;
    if (cfg)
        l->offset_cfg = *cfg;
}

static void drop_range(raft_log *l, size_t from, size_t to)
{
    for (size_t k = from; k < to; k++) {
        l->bytes -= raft_entry_bytes(&l->ents[k]);
        blob_unref(l->ents[k].data);
    }
}

void raft_log_free(raft_log *l)
{
    drop_range(l, 0, l->n);
    free(l->ents);
    memset(l, 0, sizeof *l);
}

raft_index raft_log_last(const raft_log *l)
{
    return l->offset + l->n;
}

raft_term raft_log_last_term(const raft_log *l)
{
    return l->n ? l->ents[l->n - 1].term : l->offset_term;
}

int raft_log_term(const raft_log *l, raft_index i, raft_term *t)
{
    if (i < l->offset)
        return RAFT_ERR_COMPACTED;
    if (i > raft_log_last(l))
        return RAFT_ERR_UNAVAILABLE;
    *t = i == l->offset ? l->offset_term : l->ents[i - l->offset - 1].term;
    return RAFT_OK;
}

const raft_entry *raft_log_get(const raft_log *l, raft_index i)
{
    if (i <= l->offset || i > raft_log_last(l))
        return NULL;
    return &l->ents[i - l->offset - 1];
}

int raft_log_append(raft_log *l, const raft_entry *e)
{
    if (raft_grow((void **)&l->ents, &l->cap, l->n + 1, sizeof *l->ents))
        return RAFT_ERR_NOMEM;
    raft_entry *d = &l->ents[l->n++];
    *d = *e;
    d->index = raft_log_last(l);
    if (d->data)
        blob_ref(d->data);
    l->bytes += raft_entry_bytes(d);
    return RAFT_OK;
}

void raft_log_truncate(raft_log *l, raft_index from)
{
    if (from > raft_log_last(l))
        return;
    size_t k = from <= l->offset ? 0 : (size_t)(from - l->offset - 1);
    drop_range(l, k, l->n);
    l->n = k;
}

int raft_log_compact(raft_log *l, raft_index upto)
{
    if (upto <= l->offset)
        return RAFT_OK;
    if (upto > raft_log_last(l))
        return RAFT_ERR_INVALID;
    raft_config cfg;
    raft_index at;
    raft_log_config_at(l, upto, &cfg, &at);
    size_t k = (size_t)(upto - l->offset);
    raft_term t = l->ents[k - 1].term;
    drop_range(l, 0, k);
    memmove(l->ents, l->ents + k, (l->n - k) * sizeof *l->ents);
    l->n -= k;
    l->offset = upto;
    l->offset_term = t;
    l->offset_cfg = cfg;
    return RAFT_OK;
}

void raft_log_reset(raft_log *l, const raft_snapshot_meta *m)
{
    drop_range(l, 0, l->n);
    l->n = 0;
    l->offset = m->index;
    l->offset_term = m->term;
    l->offset_cfg = m->config;
}

void raft_log_config_at(const raft_log *l, raft_index i, raft_config *out,
                        raft_index *at)
{
    if (i > raft_log_last(l))
        i = raft_log_last(l);
    for (raft_index k = i; k > l->offset; k--) {
        const raft_entry *e = raft_log_get(l, k);
        if (e->type == RAFT_ENTRY_CONF &&
            raft_conf_decode(e->data, out, NULL) == RAFT_OK) {
            *at = k;
            return;
        }
    }
    *out = l->offset_cfg;
    *at = l->offset;
}

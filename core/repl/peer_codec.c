/* SPDX-License-Identifier: MIT */
/*
 * peer_codec.c: raft_msg <-> PeerRaft (see peer_codec.h). Encoding points
 * the protobuf at the message's own memory (entry blobs, address arrays),
 * so the only copy of an entry's data is the one into the frame; decoding
 * copies each entry's bytes into a blob, which core/repl/raft and the log
 * writer then share by reference. The log repair's messages are checked
 * field by field here before node_repair.c uses them.
 */
#include "peer_codec.h"

#include "frame.h"
#include "wal.h" /* WAL_MAX_ENTRY_BYTES */

#include <stdlib.h>
#include <string.h>

blob *peer_frame_pack(const Lms__PeerMessage *msg)
{
    size_t len = lms__peer_message__get_packed_size(msg);
    if (len > UINT32_MAX)
        return NULL;
    blob *b = blob_new(len + PEER_FRAME_HEADER);
    if (!b)
        return NULL;
    frame_len_put(b->data, (uint32_t)len);
    lms__peer_message__pack(msg, b->data + PEER_FRAME_HEADER);
    return b;
}

void peer_meta_to_pb(const raft_snapshot_meta *m, Lms__PeerSnapshotMeta *pb,
                     Lms__PeerServer *servers, Lms__PeerServer **ptrs)
{
    lms__peer_snapshot_meta__init(pb);
    pb->index = m->index;
    pb->term = m->term;
    uint32_t n = m->config.n < RAFT_MAX_SERVERS ? m->config.n : RAFT_MAX_SERVERS;
    for (uint32_t i = 0; i < n; i++) {
        const raft_server *s = &m->config.servers[i];
        lms__peer_server__init(&servers[i]);
        servers[i].id = s->id;
        servers[i].role = s->role;
        servers[i].addr = (char *)s->addr;
        ptrs[i] = &servers[i];
    }
    pb->n_servers = n;
    pb->servers = ptrs;
}

int peer_meta_from_pb(const Lms__PeerSnapshotMeta *pb, raft_snapshot_meta *m)
{
    memset(m, 0, sizeof *m);
    if (pb->n_servers > RAFT_MAX_SERVERS)
        return RAFT_ERR_INVALID;
    m->index = pb->index;
    m->term = pb->term;
    for (size_t i = 0; i < pb->n_servers; i++) {
        const Lms__PeerServer *s = pb->servers[i];
        size_t len = strlen(s->addr);
        m->config.n = (uint32_t)i;
        /* id 0 or a server twice would break the receiving node (one
         * progress in two slots: a double free, found by tests/fuzz) */
        if (len >= RAFT_ADDR_MAX || s->role > RAFT_LEARNER || s->id == 0 ||
            raft_config_find(&m->config, s->id))
            return RAFT_ERR_INVALID;
        m->config.servers[i].id = s->id;
        m->config.servers[i].role = s->role;
        memcpy(m->config.servers[i].addr, s->addr, len + 1);
    }
    m->config.n = (uint32_t)pb->n_servers;
    return RAFT_OK;
}

/* The fixed fields of m into pb (no entries, no snapshot). */
static void header_to_pb(const raft_msg *m, Lms__PeerRaft *pb)
{
    pb->type = (uint32_t)m->type;
    pb->from = m->from;
    pb->to = m->to;
    pb->term = m->term;
    pb->log_term = m->log_term;
    pb->index = m->index;
    pb->commit = m->commit;
    pb->reject_hint = m->reject_hint;
    pb->seq = m->seq;
    pb->reject = m->reject != 0;
    pb->transfer = m->transfer != 0;
}

blob *peer_encode_raft(const raft_msg *m)
{
    Lms__PeerRaft pb = LMS__PEER_RAFT__INIT;
    Lms__PeerSnapshotMeta meta;
    Lms__PeerServer servers[RAFT_MAX_SERVERS], *sptrs[RAFT_MAX_SERVERS];
    header_to_pb(m, &pb);
    if (m->snapshot) {
        for (uint32_t i = 0; i < m->snapshot->config.n; i++)
            if (!memchr(m->snapshot->config.servers[i].addr, '\0', RAFT_ADDR_MAX))
                return NULL;
        peer_meta_to_pb(m->snapshot, &meta, servers, sptrs);
        pb.snapshot = &meta;
    }
    Lms__PeerEntry *ents = NULL, **eptrs = NULL;
    if (m->n_entries) {
        ents = malloc(m->n_entries * sizeof *ents);
        eptrs = malloc(m->n_entries * sizeof *eptrs);
        if (!ents || !eptrs) {
            free(ents);
            free(eptrs);
            return NULL;
        }
    }
    for (size_t i = 0; i < m->n_entries; i++) {
        const raft_entry *e = &m->entries[i];
        lms__peer_entry__init(&ents[i]);
        ents[i].index = e->index;
        ents[i].term = e->term;
        ents[i].type = e->type;
        ents[i].data.len = e->data ? e->data->len : 0;
        ents[i].data.data = e->data ? e->data->data : NULL;
        eptrs[i] = &ents[i];
    }
    pb.n_entries = m->n_entries;
    pb.entries = eptrs;
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_RAFT;
    msg.raft = &pb;
    blob *b = peer_frame_pack(&msg);
    free(ents);
    free(eptrs);
    return b;
}

/* ---- in pieces ---- */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* A varint field (tag byte, value) as protobuf-c packs proto3 scalars:
 * left out when zero. */
static size_t vfield_len(uint64_t v) { return v ? 1 + varint_len(v) : 0; }

static uint8_t *vfield_put(uint8_t *p, uint8_t tag, uint64_t v)
{
    if (!v)
        return p;
    *p++ = tag;
    return varint_put(p, v);
}

static size_t entry_data_len(const raft_entry *e)
{
    return e->data ? e->data->len : 0;
}

/* PeerEntry's packed size (fields 1-4). */
static size_t entry_body_len(const raft_entry *e)
{
    size_t d = entry_data_len(e);
    return vfield_len(e->index) + vfield_len(e->term) + vfield_len(e->type) +
           (d ? 1 + varint_len(d) + d : 0);
}

#define TAG_MSG_RAFT 0x12   /* PeerMessage.raft: field 2, length-delimited */
#define TAG_RAFT_ENTRY 0x62 /* PeerRaft.entries: field 12, length-delimited */

static int add_piece(peer_pieces *out, blob *b, size_t off, size_t len)
{
    if (!len)
        return 0;
    peer_piece *v = realloc(out->v, (out->n + 1) * sizeof *v);
    if (!v)
        return -1;
    out->v = v;
    out->v[out->n++] = (peer_piece){blob_ref(b), off, len};
    return 0;
}

int peer_encode_raft_pieces(const raft_msg *m, size_t min, peer_pieces *out)
{
    out->v = NULL;
    out->n = 0;
    if (m->snapshot)
        return RAFT_ERR_INVALID;
    Lms__PeerRaft pb = LMS__PEER_RAFT__INIT;
    header_to_pb(m, &pb); /* fields 1-11; entries (12) follow, as protobuf-c
                             packs them: in field order */
    size_t head = lms__peer_raft__get_packed_size(&pb);
    size_t raft_len = head, glue = head;
    for (size_t i = 0; i < m->n_entries; i++) {
        size_t body = entry_body_len(&m->entries[i]);
        size_t d = entry_data_len(&m->entries[i]);
        raft_len += 1 + varint_len(body) + body;
        glue += 1 + varint_len(body) + body - (d >= min ? d : 0);
    }
    size_t msg_len = 1 + varint_len(raft_len) + raft_len;
    if (msg_len > UINT32_MAX)
        return RAFT_ERR_INVALID;
    blob *g = blob_new(PEER_FRAME_HEADER + 1 + varint_len(raft_len) + glue);
    if (!g)
        return RAFT_ERR_NOMEM;
    uint8_t *p = g->data, *start = g->data;
    frame_len_put(p, (uint32_t)msg_len);
    p += PEER_FRAME_HEADER;
    *p++ = TAG_MSG_RAFT;
    p = varint_put(p, raft_len);
    p += lms__peer_raft__pack(&pb, p);
    int rc = RAFT_OK;
    for (size_t i = 0; i < m->n_entries && rc == RAFT_OK; i++) {
        const raft_entry *e = &m->entries[i];
        size_t d = entry_data_len(e);
        *p++ = TAG_RAFT_ENTRY;
        p = varint_put(p, entry_body_len(e));
        p = vfield_put(p, 0x08, e->index);
        p = vfield_put(p, 0x10, e->term);
        p = vfield_put(p, 0x18, e->type);
        if (!d)
            continue;
        *p++ = 0x22; /* data: field 4, length-delimited */
        p = varint_put(p, d);
        if (d < min) {
            memcpy(p, e->data->data, d);
            p += d;
            continue;
        }
        if (add_piece(out, g, (size_t)(start - g->data), (size_t)(p - start)) ||
            add_piece(out, e->data, 0, d))
            rc = RAFT_ERR_NOMEM;
        start = p;
    }
    if (rc == RAFT_OK &&
        add_piece(out, g, (size_t)(start - g->data), (size_t)(p - start)))
        rc = RAFT_ERR_NOMEM;
    blob_unref(g);
    if (rc != RAFT_OK)
        peer_pieces_free(out);
    return rc;
}

void peer_pieces_free(peer_pieces *p)
{
    for (size_t i = 0; i < p->n; i++)
        blob_unref(p->v[i].b);
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

void peer_raft_release(raft_msg *m)
{
    for (size_t i = 0; i < m->n_entries; i++)
        blob_unref(m->entries[i].data);
    free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
}

static int decode_entries(const Lms__PeerRaft *pb, raft_msg *out)
{
    if (!pb->n_entries)
        return RAFT_OK;
    out->entries = calloc(pb->n_entries, sizeof *out->entries);
    if (!out->entries)
        return RAFT_ERR_NOMEM;
    for (size_t i = 0; i < pb->n_entries; i++) {
        const Lms__PeerEntry *e = pb->entries[i];
        raft_entry *d = &out->entries[i];
        d->index = e->index;
        d->term = e->term;
        d->type = e->type;
        if (e->data.len && !(d->data = blob_copy(e->data.data, e->data.len))) {
            out->n_entries = i;
            peer_raft_release(out);
            return RAFT_ERR_NOMEM;
        }
    }
    out->n_entries = pb->n_entries;
    return RAFT_OK;
}

int peer_decode_raft(const Lms__PeerRaft *pb, raft_msg *out,
                     raft_snapshot_meta *meta)
{
    memset(out, 0, sizeof *out);
    /* Only what the struct cannot hold or would cost memory is refused
     * here; raft_msg_check (called by raft_step) judges the values. */
    if (pb->type < RAFT_MSG_APPEND || pb->type > RAFT_MSG_TIMEOUT_NOW ||
        pb->n_entries > RAFT_MAX_APPEND_ENTRIES)
        return RAFT_ERR_INVALID;
    out->type = (raft_msg_type)pb->type;
    out->from = pb->from;
    out->to = pb->to;
    out->term = pb->term;
    out->log_term = pb->log_term;
    out->index = pb->index;
    out->commit = pb->commit;
    out->reject_hint = pb->reject_hint;
    out->seq = pb->seq;
    out->reject = pb->reject;
    out->transfer = pb->transfer;
    if (pb->snapshot) {
        if (peer_meta_from_pb(pb->snapshot, meta) != RAFT_OK)
            return RAFT_ERR_INVALID;
        out->snapshot = meta;
    }
    return decode_entries(pb, out);
}

/* ---- log repair ----------------------------------------------------------- */

/* (index, term) of an entry "before" something: (0, 0), or both in range. */
static int prev_ok(uint64_t index, uint64_t term, uint64_t max_term)
{
    if (index == 0)
        return term == 0;
    return index <= PEER_MAX_INDEX && term >= 1 && term <= max_term;
}

int peer_fetch_check(const Lms__PeerFetch *f, lms_err *err)
{
    if (f->from_index == 0 || f->from_index > PEER_MAX_INDEX)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "fetch from index %llu (not in 1..2^63-1)",
                           (unsigned long long)f->from_index);
    if ((f->prev_index || f->prev_term) &&
        (f->prev_index + 1 != f->from_index ||
         !prev_ok(f->prev_index, f->prev_term, PEER_MAX_TERM)))
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "fetch from index %llu with prev (%llu, term %llu): "
                           "not the entry before it, or a term out of range",
                           (unsigned long long)f->from_index,
                           (unsigned long long)f->prev_index,
                           (unsigned long long)f->prev_term);
    if (f->term > PEER_MAX_TERM)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "fetch in term %llu (above 2^63-1)",
                           (unsigned long long)f->term);
    return LMS_OK;
}

/* The entries of a leader's piece: contiguous after prev, terms in order
 * and in range, types and sizes within the limits. */
static int piece_check(const Lms__PeerFetchReply *r, lms_err *err)
{
    if (r->n_entries > PEER_FETCH_MAX_ENTRIES)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "a piece of %zu entries (at most %d)",
                           r->n_entries, PEER_FETCH_MAX_ENTRIES);
    uint64_t term = r->prev_term ? r->prev_term : 1;
    size_t bytes = 0;
    for (size_t i = 0; i < r->n_entries; i++) {
        const Lms__PeerEntry *e = r->entries[i];
        if (e->index != r->prev_index + 1 + i || e->index > r->last_index)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "entry %zu of the piece has index %llu, not "
                               "%llu (after prev %llu, up to last %llu)", i,
                               (unsigned long long)e->index,
                               (unsigned long long)(r->prev_index + 1 + i),
                               (unsigned long long)r->prev_index,
                               (unsigned long long)r->last_index);
        if (e->term < term || e->term > r->term)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "entry %llu has term %llu (the one before has "
                               "%llu, the leader's term is %llu)",
                               (unsigned long long)e->index,
                               (unsigned long long)e->term,
                               (unsigned long long)term,
                               (unsigned long long)r->term);
        if (e->type > RAFT_ENTRY_CONF || e->data.len > WAL_MAX_ENTRY_BYTES)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "entry %llu has type %u and %zu bytes",
                               (unsigned long long)e->index, e->type,
                               e->data.len);
        term = e->term;
        bytes += e->data.len;
    }
    if (r->n_entries > 1 && bytes > PEER_FETCH_PIECE_BYTES)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "a piece of %zu entries with %zu bytes (at most "
                           "%zu beyond one entry)", r->n_entries, bytes,
                           PEER_FETCH_PIECE_BYTES);
    return LMS_OK;
}

/* An error string fit for a log line: short, no control characters. */
static int error_text_ok(const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return len <= PEER_FETCH_MAX_ERROR;
}

int peer_fetch_reply_check(const Lms__PeerFetchReply *r, lms_err *err)
{
    if (!r->is_leader) {
        if (r->term > PEER_MAX_TERM || r->n_entries || r->prev_index ||
            r->prev_term || r->snapshot_index || r->snapshot_term)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "a reply from a member that does not lead "
                               "carries a term out of range, entries, a prev "
                               "or a snapshot");
        return LMS_OK;
    }
    if (r->term == 0 || r->term > PEER_MAX_TERM)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "a leader's reply with term %llu (not in 1..2^63-1)",
                           (unsigned long long)r->term);
    if (r->last_index > PEER_MAX_INDEX || r->prev_index > r->last_index ||
        !prev_ok(r->prev_index, r->prev_term, r->term))
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "a leader's reply with prev (%llu, term %llu) and "
                           "last index %llu in term %llu: out of range",
                           (unsigned long long)r->prev_index,
                           (unsigned long long)r->prev_term,
                           (unsigned long long)r->last_index,
                           (unsigned long long)r->term);
    if (r->error && r->error[0]) {
        if (!error_text_ok(r->error) || r->n_entries ||
            r->snapshot_index > r->last_index ||
            !prev_ok(r->snapshot_index, r->snapshot_term, r->term))
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "an error reply with entries, an error over "
                               "%d bytes or with control characters, or a "
                               "snapshot (%llu, term %llu) out of range",
                               PEER_FETCH_MAX_ERROR,
                               (unsigned long long)r->snapshot_index,
                               (unsigned long long)r->snapshot_term);
        return LMS_OK;
    }
    if (r->snapshot_index || r->snapshot_term)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "a snapshot (%llu, term %llu) without an error",
                           (unsigned long long)r->snapshot_index,
                           (unsigned long long)r->snapshot_term);
    return piece_check(r, err);
}

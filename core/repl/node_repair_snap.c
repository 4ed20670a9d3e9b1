/* SPDX-License-Identifier: MIT */
/*
 * node_repair_snap.c: log repair's way on when the leader compacted the
 * entries the log needs: receive the leader's snapshot, install it, and
 * let repair fetch the entries after it (see repair_plan.h).
 *
 * The plan wants a snapshot (PeerFetch.want_snapshot); the leader streams
 * its newest one with InstallSnapshot's chunks (node_transfer.c,
 * node_snapshot_send_repair). Raft does not run here yet, so the chunks
 * come to this file: taken only from the leader the plan follows, in its
 * term, in order, into the receiver's temp file. The node serves nobody
 * meanwhile, so like the rest of repair this writes on the loop.
 *
 * After the last chunk, in this order (each step durable before the next):
 *   1. the file is fsynced under its temp name, its header checked against
 *      the (index, term) the leader announced;
 *   2. the storage is restored from it (all or nothing, with the applied
 *      index S);
 *   3. the file takes its final name (rename, fsync of the directory);
 *   4. the command log is reset to continue after (S, term of S).
 * A crash before 3 leaves the old snapshot and log beside a storage at S:
 * the restart sees the storage past the log and repairs again. A crash
 * between 3 and 4 leaves snapshot S beside a log that does not continue
 * it: the restart resets the log (node_snapshot_restore). Never a log
 * that starts after S + 1 with no snapshot S, which no restart can use:
 * that is why the rename comes before the reset (wal.h says so too).
 */
#include "node_internal.h"

#include "clock.h"
#include "lms_assert.h"
#include "log.h"
#include "peer_codec.h"
#include "snapshot.h"
#include "wal.h"

#include <stdio.h>
#include <string.h>

typedef unsigned long long ull;


/* Give up the stream being received: its temp file goes. */
static void drop(repair_rx *x)
{
    snapshot_receiver_abort(&x->rx);
    x->active = 0;
}

void node_repair_snap_close(node *n)
{
    if (n->rp)
        drop(&n->rp->rx);
}

/* Refuse chunk c of member `from` (why), and drop the stream if it is the
 * one being received. */
static void refuse(node *n, uint64_t from, const Lms__PeerSnapshotChunk *c,
                   uint64_t index, const char *why)
{
    repair_rx *x = &n->rp->rx;
    log_warn("log repair: a snapshot chunk of member %llu (snapshot %llu, "
             "offset %llu) refused: %s", (ull)from, (ull)index,
             (ull)c->offset, why);
    uint64_t held = 0;
    if (x->active && x->from == from && x->stream == c->stream) {
        held = x->rx.received;
        drop(x);
    }
    node_snapshot_ack_to(n, from, c->stream, index, held, 0, why);
}

/* Chunk c opens a new stream: the temp file starts over. */
static int open_stream(node *n, uint64_t from, const Lms__PeerSnapshotChunk *c,
                       const raft_snapshot_meta *meta, lms_err *err)
{
    repair_rx *x = &n->rp->rx;
    if (x->active)
        drop(x); /* the leader started over */
    if (snapshot_receiver_open(&x->rx, n->snap_dir, meta->index, err) != LMS_OK)
        return err->code;
    x->active = 1;
    x->from = from;
    x->term = c->term;
    x->stream = c->stream;
    x->total = c->total;
    x->meta = *meta;
    x->started_ms = mono_ms();
    log_info("log repair: receiving snapshot %llu (term %llu, %llu bytes) "
             "from member %llu", (ull)meta->index, (ull)meta->term,
             (ull)c->total, (ull)from);
    return LMS_OK;
}

/* Step 1: the file durable under its temp name (into path) and its header
 * the one announced. LMS_DATA_LOSS: the leader's file is not what it said
 * (the stream is refused; another may bring a good one); any other error
 * is this node's disk. */
static int seal(node *n, repair_rx *x, char *path, size_t cap, lms_err *err)
{
    snapshot_info info;
    /* every chunk was checked to end at most at total, the last at total:
     * a failure here is this node's disk, never the leader's stream */
    if (snapshot_receiver_seal(&x->rx, x->total, path, cap, err) != LMS_OK)
        return err->code == LMS_DATA_LOSS ? LMS_UNAVAILABLE : err->code;
    if (snapshot_peek(path, &info, err) != LMS_OK) {
        snapshot_remove_recv(n->snap_dir, x->meta.index, NULL);
        return LMS_DATA_LOSS;
    }
    uint64_t got_index = info.index, got_term = info.term;
    snapshot_info_free(&info);
    if (got_index == x->meta.index && got_term == x->meta.term)
        return LMS_OK;
    snapshot_remove_recv(n->snap_dir, x->meta.index, NULL);
    return lms_err_set(err, LMS_DATA_LOSS, "the file holds index %llu term "
                       "%llu, the leader announced %llu term %llu",
                       (ull)got_index, (ull)got_term, (ull)x->meta.index,
                       (ull)x->meta.term);
}

/* Steps 2 to 4 for the sealed file at path. */
static int install(node *n, repair_rx *x, const char *path, lms_err *err)
{
    repair *rp = n->rp;
    lms_snapshot_header h;
    uint64_t index = x->meta.index, term = x->meta.term;
    if (node_repair_raise_term(rp) != LMS_OK) {
        *err = rp->err;
        return err->code;
    }
    n->sm.replacing(n->sm.arg);
    int rc = snapshot_load(n->sm.ops, n->sm.st, path, &h, err);
    n->sm.settled(n->sm.arg);
    if (rc != LMS_OK)
        return err->code;
    if (snapshot_adopt(n->snap_dir, index, err) != LMS_OK ||
        wal_reset(rp->w, index, term, err) != LMS_OK)
        return err->code;
    n->snap = x->meta;
    n->snap_size = x->total;
    n->compacted = index;
    n->applied = index;
    LMS_ASSERT(wal_last_index(rp->w) == index);
    return LMS_OK;
}

/* The last chunk is written: install, then repair goes on after S. */
static void finish_stream(node *n, uint64_t from, const Lms__PeerSnapshotChunk *c)
{
    repair *rp = n->rp;
    repair_rx *x = &rp->rx;
    raft_snapshot_meta meta = x->meta;
    int64_t ms = mono_ms() - x->started_ms;
    char path[4200];
    lms_err e = {0};
    x->active = 0; /* sealed or removed below */
    int rc = seal(n, x, path, sizeof path, &e);
    if (rc == LMS_DATA_LOSS) {
        refuse(n, from, c, meta.index, e.msg); /* wait for another stream */
        return;
    }
    if (rc == LMS_OK)
        rc = install(n, x, path, &e);
    if (rc != LMS_OK) {
        /* the store may be the snapshot's or the old one: the next start
         * repairs again (the storage is ahead of the log) */
        snapshot_remove_recv(n->snap_dir, meta.index, NULL);
        node_snapshot_ack_to(n, from, c->stream, meta.index, 0, 0,
                             "the snapshot could not be installed");
        lms_err_set(&rp->err, rc, "log repair: installing snapshot %llu of "
                    "member %llu: %s", (ull)meta.index, (ull)from, e.msg);
        node_repair_fail(n);
        return;
    }
    node_snapshot_ack_to(n, from, c->stream, meta.index, x->total, 1, NULL);
    log_warn("log repair: installed the leader's snapshot %llu (term %llu, "
             "%llu bytes in %lld ms) from member %llu; fetching the entries "
             "after it", (ull)meta.index, (ull)meta.term, (ull)x->total,
             (long long)ms, (ull)from);
    repair_step s = repair_plan_installed(&rp->plan, meta.index, meta.term,
                                          mono_ms());
    node_repair_next(n, &s);
}

/* Does chunk c fit the stream x in order? NULL if so, else why not. */
static const char *out_of_order(const repair_rx *x, uint64_t from,
                                const Lms__PeerSnapshotChunk *c, uint64_t index)
{
    if (!x->active || x->from != from || x->stream != c->stream ||
        x->meta.index != index)
        return "not the stream being received (a new one starts at offset 0)";
    if (c->offset != x->rx.received)
        return "a chunk out of order";
    if (c->total != x->total || c->data.len > x->total - c->offset ||
        (c->last && c->offset + c->data.len != x->total))
        return "the chunk does not fit the size the stream announced";
    return NULL;
}

void node_repair_on_chunk(node *n, uint64_t from,
                          const Lms__PeerSnapshotChunk *c)
{
    repair *rp = n->rp;
    LMS_ASSERT(rp);
    if (rp->done)
        return;
    raft_snapshot_meta meta;
    uint64_t index = c->meta ? c->meta->index : 0;
    if (!c->meta || peer_meta_from_pb(c->meta, &meta) != RAFT_OK) {
        refuse(n, from, c, index, "the chunk's metadata does not decode");
        return;
    }
    const char *why = repair_plan_snapshot_ok(&rp->plan, from, c->term,
                                              meta.index, meta.term);
    if (!why && c->offset == 0 && (!c->total || c->data.len > c->total))
        why = "a stream whose size does not hold its first chunk";
    if (why) {
        refuse(n, from, c, index, why);
        return;
    }
    lms_err e = {0};
    if (c->offset == 0 && open_stream(n, from, c, &meta, &e) != LMS_OK) {
        refuse(n, from, c, index, e.msg);
        return;
    }
    repair_rx *x = &rp->rx;
    if ((why = out_of_order(x, from, c, index))) {
        refuse(n, from, c, index, why);
        return;
    }
    if (snapshot_receiver_write(&x->rx, c->offset, c->data.data, c->data.len,
                                &e) != LMS_OK) {
        refuse(n, from, c, index, e.msg);
        return;
    }
    if (c->last)
        finish_stream(n, from, c);
    else
        node_snapshot_ack_to(n, from, c->stream, index, x->rx.received, 0,
                             NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * node_transfer.c: InstallSnapshot streams between members (see
 * PeerSnapshotChunk in proto/peer.proto and node_internal.h).
 *
 * Sending (leader). Raft's RAFT_MSG_SNAPSHOT for a member starts a stream
 * of the newest snapshot file in SNAP_CHUNK pieces, at most SNAP_WINDOW
 * bytes ahead of what the member acknowledged and within snapshot_rate.
 * The stream's first read opens the file and the stream keeps it open to
 * the end, so a stream that outlasts two snapshot intervals still reads
 * it after pruning removed its name.
 * Streams are numbered, so acknowledgements of an earlier stream are told
 * apart. The outcome goes to Raft (raft_report_snapshot) once the member
 * says the whole file is durable, or when the stream fails: an error ack,
 * a new connection, SNAP_STALL_MS waiting for acks. After a failure the
 * member gets no new stream for SNAP_RETRY_MS. A member repairing its
 * log (Raft not running there yet) asks for a stream itself
 * (node_snapshot_send_repair); Raft hears nothing of how that one ends.
 * Every stream pins its snapshot: compaction keeps the entries after it
 * until the member caught up (node_transfer_keep, below).
 *
 * Receiving (follower). Chunks must come in order; each is acknowledged
 * once written. After the last the file is made durable, still under its
 * temp name (.recv), its header checked against the metadata, and Raft
 * gets the RAFT_MSG_SNAPSHOT. If Raft installs it, the file waits
 * (n->recv.sealed) for the ready that installs it: node_snapshot.c gives
 * it its final name there, before the WAL reset. If not (the log has the
 * entries, the term moved on), the file goes. A file under the final name
 * is therefore always a snapshot Raft took, and a start (which removes
 * temp files) never finds one next to the log it was to replace. While
 * writes are queued, the receiver tells the leader every
 * SNAP_KEEPALIVE_MS that it is alive.
 *
 * The loop never touches the files: reading chunks (sender) and writing,
 * syncing and checking them (receiver) run in order on the I/O thread
 * (n->snap_io), and their results come back to the loop in order.
 */
#include "node_internal.h"

#include "clock.h"
#include "lms_assert.h"
#include "log.h"
#include "peer_codec.h"
#include "snapshot.h"
#include "workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SNAP_CHUNK ((size_t)512 << 10)
#define SNAP_WINDOW ((uint64_t)4 << 20)
#define SNAP_STALL_MS 10000   /* waiting for acks this long: the stream failed */
#define SNAP_HUNG_MS 60000    /* keep-alives only, no byte further, this long:
                                 the receiver's disk hangs; the stream failed */
#define SNAP_RETRY_MS 1000    /* after a failed stream, before the next one */
#define SNAP_KEEPALIVE_MS 1000 /* receiver, while its writes are queued */
#define RECV_IDLE_MS 30000    /* receiver: nothing from the leader this long */
#define PIN_GRACE_MS 30000    /* a completed stream's pin, at most this long */

void node_snapshot_ack_to(node *n, uint64_t to, uint64_t stream,
                          uint64_t index, uint64_t received, int done,
                          const char *error)
{
    Lms__PeerSnapshotAck a = LMS__PEER_SNAPSHOT_ACK__INIT;
    a.stream = stream;
    a.index = index;
    a.received = received;
    a.done = done;
    a.error = (char *)(error ? error : "");
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_SNAPSHOT_ACK;
    msg.snapshot_ack = &a;
    if (n->peers)
        peer_send(n->peers, to, &msg);
}

/* ---- sending (leader) ----------------------------------------------------- */

/* The file of one stream, opened by its first read and kept open until
 * the stream and its reads are over: pruning keeps only the newest two
 * snapshots, and a stream that outlasts two snapshot intervals must not
 * lose its file to it (an open file outlives its name). refs is the
 * loop's (the stream, and each read in flight); the rest is the I/O
 * thread's until refs drops to 0. */
struct send_file {
    unsigned refs;
    int tried, rc; /* opened, or failed to (rc, err) */
    lms_err err;
    snapshot_reader rd;
    char path[4200];
};

/* I/O thread (or the loop, once that thread is gone): close and free. */
static void close_file(void *arg)
{
    send_file *f = arg;
    snapshot_reader_close(&f->rd);
    free(f);
}

static void file_unref(node *n, send_file *f)
{
    if (--f->refs > 0)
        return;
    if (!n->snap_io || workers_submit(n->snap_io, close_file, NULL, f) < 0)
        close_file(f); /* nothing else holds it */
}

/* One chunk read on the I/O thread, sent from the loop. */
typedef struct read_job {
    node *n;
    send_file *f;
    size_t slot;
    uint64_t stream, offset;
    size_t len;
    int open_only; /* the stream's first job: open the file, read nothing */
    int last, rc;
    lms_err err;
    uint8_t data[];
} read_job;

static void free_read(node *n, read_job *j)
{
    file_unref(n, j->f);
    free(j);
}

/* The stream in slot s is over (reads in flight are dropped). */
static void release(node *n, snap_send *s)
{
    s->active = 0;
    if (s->file)
        file_unref(n, s->file);
    s->file = NULL;
}

static void end_send(node *n, snap_send *s, int ok)
{
    if (!s->active)
        return;
    release(n, s);
    if (!ok)
        s->retry_ms = mono_ms() + SNAP_RETRY_MS;
    if (ok)
        s->pin_until_ms = mono_ms() + PIN_GRACE_MS;
    else
        s->pinned = 0; /* the next stream pins its own snapshot */
    if (n->r && !n->closing && !n->failed && !s->repair) {
        raft_report_snapshot(n->r, s->to, ok);
        node_schedule_pump(n);
    }
}

/* I/O thread: the chunk, through the stream's file (opened by the first
 * read: a file pruned before that is simply an error). */
static void read_work(void *arg)
{
    read_job *j = arg;
    send_file *f = j->f;
    size_t len = 0;
    int last = 0;
    if (!f->tried) {
        f->tried = 1;
        f->rc = snapshot_reader_open(&f->rd, f->path, SNAP_CHUNK, &f->err);
    }
    if (f->rc != LMS_OK) {
        j->rc = f->rc;
        j->err = f->err;
        return;
    }
    if (j->open_only)
        return;
    j->rc = snapshot_reader_read(&f->rd, j->offset, j->data, &len, &last,
                                 &j->err);
    if (j->rc == LMS_OK && (len != j->len || last != j->last))
        j->rc = lms_err_set(&j->err, LMS_DATA_LOSS, "%s is not the file the "
                            "stream announced", f->path);
}

/* Loop: send what was read, in order. */
static void read_done(void *arg)
{
    read_job *j = arg;
    node *n = j->n;
    snap_send *s = &n->sends[j->slot];
    if (!s->active || s->stream != j->stream || n->closing || n->failed) {
        free_read(n, j);
        return;
    }
    if (j->rc != LMS_OK) {
        log_warn("snapshot %llu for member %llu: %s",
                 (unsigned long long)s->meta.index, (unsigned long long)s->to,
                 j->err.msg);
        end_send(n, s, 0);
        free_read(n, j);
        return;
    }
    if (j->open_only) {
        free_read(n, j);
        return;
    }
    Lms__PeerServer servers[RAFT_MAX_SERVERS];
    Lms__PeerServer *ptrs[RAFT_MAX_SERVERS];
    Lms__PeerSnapshotMeta meta;
    peer_meta_to_pb(&s->meta, &meta, servers, ptrs);
    Lms__PeerSnapshotChunk c = LMS__PEER_SNAPSHOT_CHUNK__INIT;
    c.term = raft_get_term(n->r);
    c.meta = &meta;
    c.offset = j->offset;
    c.data.data = j->data;
    c.data.len = j->len;
    c.last = j->last;
    c.total = s->size;
    c.stream = s->stream;
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_CHUNK;
    msg.chunk = &c;
    if (peer_send(n->peers, s->to, &msg) < 0) {
        log_warn("snapshot %llu for member %llu: the link is down or backed "
                 "up; Raft will try again", (unsigned long long)s->meta.index,
                 (unsigned long long)s->to);
        end_send(n, s, 0);
    }
    free_read(n, j);
}

/* Queue reads until SNAP_WINDOW bytes are ahead of the acknowledgements
 * (or snapshot_rate's budget is spent). */
static void send_chunks(node *n, snap_send *s)
{
    uint64_t rate = n->opts.snapshot_rate;
    while (s->active && !s->sent_last && s->next - s->acked < SNAP_WINDOW &&
           (!rate || n->snap_tokens > 0)) {
        size_t len = s->size - s->next < SNAP_CHUNK ? (size_t)(s->size - s->next)
                                                    : SNAP_CHUNK;
        read_job *j = calloc(1, sizeof *j + len);
        if (!j) {
            end_send(n, s, 0);
            return;
        }
        j->n = n;
        j->f = s->file;
        j->slot = (size_t)(s - n->sends);
        j->stream = s->stream;
        j->offset = s->next;
        j->len = len;
        j->last = s->next + len == s->size;
        if (workers_submit(n->snap_io, read_work, read_done, j) < 0) {
            free(j);
            end_send(n, s, 0);
            return;
        }
        s->file->refs++;
        s->next += len;
        s->sent_last = j->last;
        if (rate)
            n->snap_tokens -= (int64_t)len;
    }
}

/* Queue the stream's first job: open its file now rather than at the
 * first read, which snapshot_rate may hold back for a second or more
 * while other streams spend the budget (pruning could take the file's
 * name meanwhile). Jobs run in order, so every read finds it open. */
static int queue_open(node *n, snap_send *s)
{
    read_job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->n = n;
    j->f = s->file;
    j->slot = (size_t)(s - n->sends);
    j->stream = s->stream;
    j->open_only = 1;
    if (workers_submit(n->snap_io, read_work, read_done, j) < 0) {
        free(j);
        return -1;
    }
    s->file->refs++;
    return 0;
}

/* Member id's match index in rs (0 if rs does not list it). */
static uint64_t match_in(const raft_status *rs, uint64_t id)
{
    for (unsigned i = 0; i < rs->n_peers; i++)
        if (rs->peers[i].id == id)
            return rs->peers[i].match;
    return 0;
}

void node_snapshot_send(node *n, uint64_t to)
{
    snap_send *s = NULL;
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++) {
        if (n->sends[i].to == to) { /* its slot, in use or not */
            s = &n->sends[i];
            break;
        }
        if (!n->sends[i].to && !s)
            s = &n->sends[i];
    }
    /* No slot of its own and none unused: one of a member no stream is
     * for now (members come and go; a slot is never freed otherwise, so
     * after RAFT_MAX_SERVERS of them no snapshot could be sent again) */
    for (size_t i = 0; !s && i < RAFT_MAX_SERVERS; i++)
        if (!n->sends[i].active && !n->sends[i].pinned) {
            s = &n->sends[i];
            LMS_ASSERT(!s->file);
            s->to = 0;
            s->retry_ms = 0;
        }
    if (s && s->active)
        release(n, s); /* Raft asks again: start over (reads in flight drop) */
    if (s)
        s->pinned = 0; /* a stream that starts pins its own snapshot */
    if (s && s->to == to && mono_ms() < s->retry_ms) {
        raft_report_snapshot(n->r, to, 0); /* too soon after a failure */
        return;
    }
    send_file *f = s ? calloc(1, sizeof *f) : NULL;
    if (f && snapshot_path(n->snap_dir, n->snap.index, f->path,
                           sizeof f->path) != 0) {
        free(f);
        f = NULL;
    }
    if (!f || !n->peers || !n->snap.index || !n->snap_size || !n->snap_io) {
        free(f);
        log_warn("member %llu needs snapshot %llu, which cannot be sent now",
                 (unsigned long long)to, (unsigned long long)n->snap.index);
        if (s)
            s->retry_ms = mono_ms() + SNAP_RETRY_MS;
        raft_report_snapshot(n->r, to, 0);
        return;
    }
    f->rd.fd = -1;
    f->refs = 1;
    s->file = f;
    s->active = 1;
    s->repair = 0;
    s->sent_last = 0;
    s->to = to;
    s->stream = ++n->stream_seq;
    s->meta = n->snap;
    s->size = n->snap_size;
    s->next = s->acked = 0;
    s->epoch = peer_epoch(n->peers, to);
    s->started_ms = s->progress_ms = s->moved_ms = mono_ms();
    raft_status rs;
    raft_status_get(n->r, &rs);
    s->pinned = 1;
    s->pin_match = match_in(&rs, to);
    s->pin_until_ms = 0;
    log_info("sending snapshot %llu (%llu bytes) to member %llu",
             (unsigned long long)s->meta.index, (unsigned long long)s->size,
             (unsigned long long)to);
    if (queue_open(n, s) < 0) {
        end_send(n, s, 0);
        return;
    }
    send_chunks(n, s);
}

void node_snapshot_send_repair(node *n, uint64_t to)
{
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++)
        if (n->sends[i].active && n->sends[i].to == to)
            return; /* Raft's or an earlier request's: it goes on */
    uint64_t seq = n->stream_seq;
    node_snapshot_send(n, to);
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++)
        if (n->sends[i].active && n->sends[i].to == to &&
            n->sends[i].stream > seq)
            n->sends[i].repair = 1; /* before any chunk is read or acked */
}

void node_snapshot_on_ack(node *n, uint64_t from, const Lms__PeerSnapshotAck *a)
{
    snap_send *s = NULL;
    for (size_t i = 0; i < RAFT_MAX_SERVERS && !s; i++)
        if (n->sends[i].active && n->sends[i].to == from &&
            n->sends[i].meta.index == a->index &&
            n->sends[i].stream == a->stream)
            s = &n->sends[i];
    if (!s)
        return; /* an ack of a stream that is over */
    if (a->error && a->error[0]) {
        log_warn("member %llu refused snapshot %llu: %s",
                 (unsigned long long)from, (unsigned long long)a->index,
                 a->error);
        end_send(n, s, 0);
        return;
    }
    s->progress_ms = mono_ms();
    if (a->done) {
        log_info("snapshot %llu sent to member %llu: %llu bytes in %lld ms",
                 (unsigned long long)a->index, (unsigned long long)from,
                 (unsigned long long)s->size,
                 (long long)(s->progress_ms - s->started_ms));
        end_send(n, s, 1);
        return;
    }
    if (a->received > s->acked && a->received <= s->next) {
        s->acked = a->received;
        s->moved_ms = s->progress_ms;
    }
    send_chunks(n, s);
}

void node_snapshot_stop_sending(node *n)
{
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++) {
        release(n, &n->sends[i]); /* reads in flight are dropped */
        n->sends[i].pinned = 0;   /* a follower compacts as it likes */
    }
}

/* ---- keeping the log after a snapshot being sent ---------------------------
 *
 * A member that needs a snapshot S asks for the entries after S once it
 * installed S (Raft's probe, or log repair's fetch). Under steady writes
 * the leader takes several snapshots while a slow stream runs and would
 * compact past S + 1 meanwhile: the member would then need the next
 * snapshot, and the next, and never catch up. So each stream pins S:
 * compaction stops at S while the stream runs, and once it completed at
 * the member's match (S until the member's match moves past both S and
 * what it was when the stream began, which a repairing member's stale
 * match may exceed), until that match reaches the compaction point (the
 * member follows from the trailing window like any other) or for
 * PIN_GRACE_MS. A failed stream, a lost leadership or too many bytes end
 * a pin earlier. */

/* Where slot s's pin holds the log from (the entries after it stay), or 0
 * if it holds nothing below `to` any more (then it is over). */
static uint64_t pin_of(const node *n, snap_send *s, const raft_status *rs,
                       uint64_t to, int64_t now)
{
    if (!s->pinned)
        return 0;
    /* A stream starts with the newest snapshot, which compaction never
     * passes, and its pin then holds compaction: the log still holds
     * every entry after the snapshot being sent. */
    LMS_ASSERT(!s->active || s->meta.index >= n->compacted);
    if (s->active)
        return s->meta.index;
    uint64_t match = match_in(rs, s->to);
    uint64_t from = s->meta.index;
    if (match > from && match > s->pin_match)
        from = match;
    if (from >= to) {
        s->pinned = 0; /* it follows from the trailing window now */
        return 0;
    }
    if (now >= s->pin_until_ms) {
        log_warn("member %llu is still at %llu %d s after it received "
                 "snapshot %llu: the log is compacted past it again (it may "
                 "need a newer snapshot)", (unsigned long long)s->to,
                 (unsigned long long)from, PIN_GRACE_MS / 1000,
                 (unsigned long long)s->meta.index);
        s->pinned = 0;
        return 0;
    }
    return from;
}

/* Bytes of entry data in (from, to] still in memory, counting stops once
 * past cap. */
static uint64_t held_bytes(node *n, uint64_t from, uint64_t to, uint64_t cap)
{
    uint64_t bytes = 0;
    raft_entry e;
    for (uint64_t i = from + 1; i <= to && bytes <= cap; i++)
        if (raft_entry_at(n->r, i, &e) == RAFT_OK)
            bytes += e.data ? e.data->len : 0;
    return bytes;
}

uint64_t node_transfer_keep(node *n, uint64_t to, uint64_t cap)
{
    raft_status rs;
    raft_status_get(n->r, &rs);
    int64_t now = mono_ms();
    for (;;) {
        snap_send *low = NULL;
        uint64_t keep = to;
        for (size_t i = 0; i < RAFT_MAX_SERVERS; i++) {
            uint64_t from = pin_of(n, &n->sends[i], &rs, to, now);
            if (from && from < keep) {
                keep = from;
                low = &n->sends[i];
            }
        }
        if (!low || held_bytes(n, keep, to, cap) <= cap)
            return keep;
        log_warn("keeping the log after %llu for member %llu (snapshot %llu) "
                 "would hold more than %llu bytes of entries: compacting past "
                 "it; the member will need a newer snapshot",
                 (unsigned long long)keep, (unsigned long long)low->to,
                 (unsigned long long)low->meta.index, (unsigned long long)cap);
        low->pinned = 0; /* the loop ends: one pin fewer each time */
    }
}

/* ---- receiving (follower) -------------------------------------------------- */

/* One step of the stream being received, on the I/O thread: open (with
 * the first chunk), write a chunk, finish (with the last), or abort. */
typedef struct recv_job {
    node *n;
    int abort, discard, open, last;
    uint64_t stream, index, term, offset, total;
    size_t len;
    int rc;
    lms_err err;
    uint8_t data[];
} recv_job;

/* I/O thread. n->recv.rx is this thread's alone. */
static void recv_work(void *arg)
{
    recv_job *j = arg;
    node *n = j->n;
    snapshot_receiver *rx = &n->recv.rx;
    /* an abort or a discard is freed on the loop (submit_recv) */
    if (j->abort) {
        snapshot_receiver_abort(rx);
        return;
    }
    if (j->discard) {
        if (snapshot_remove_recv(n->snap_dir, j->index, &j->err) != LMS_OK)
            log_warn("%s", j->err.msg); /* the next start removes it */
        return;
    }
    if (j->open)
        j->rc = snapshot_receiver_open(rx, n->snap_dir, j->index, &j->err);
    if (j->rc == LMS_OK)
        j->rc = snapshot_receiver_write(rx, j->offset, j->data, j->len,
                                        &j->err);
    if (j->rc != LMS_OK) {
        snapshot_receiver_abort(rx);
        return;
    }
    if (!j->last)
        return;
    char path[4200];
    j->rc = snapshot_receiver_seal(rx, j->total, path, sizeof path, &j->err);
    if (j->rc != LMS_OK)
        return;
    /* the whole file, before Raft may take it: once the log is reset
     * after it, a body that does not load could never be replaced */
    j->rc = snapshot_verify(path, j->index, j->term, &j->err);
    if (j->rc != LMS_OK)
        unlink(path);
}

static void submit_recv(node *n, recv_job *j, workers_fn done);

/* Give up the stream being received (its temp file goes, in order). */
static void drop_stream(node *n)
{
    snap_recv *rv = &n->recv;
    if (!rv->active)
        return;
    rv->active = rv->finishing = 0;
    recv_job *j = calloc(1, sizeof *j);
    if (j) {
        j->n = n;
        j->abort = 1;
        submit_recv(n, j, NULL);
    }
}

/* A sealed file Raft did not install goes (in order, on the I/O thread;
 * should that fail, the next start removes it). */
static void discard_sealed(node *n, uint64_t index)
{
    recv_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->n = n;
    j->discard = 1;
    j->index = index;
    submit_recv(n, j, NULL);
}

/* Step the whole snapshot, durable under its temp name, into Raft. If
 * Raft installs it (its snapshot moves to it; the next ready carries the
 * install), it waits as n->recv.sealed for node_snapshot_install to give
 * it its final name; if Raft has it already or the term moved on, the
 * file goes: a file under the final name is always one Raft took. */
static void step_snapshot(node *n, const snap_recv *rv, uint64_t index)
{
    raft_status before, after;
    raft_status_get(n->r, &before);
    raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_SNAPSHOT;
    m.from = rv->from;
    m.to = n->opts.node_id;
    m.term = rv->term;
    m.snapshot = &rv->meta;
    int rc = raft_step(n->r, &m);
    if (rc == RAFT_ERR_NOMEM) {
        node_raft_failed(n, "step", rc);
        return;
    }
    raft_status_get(n->r, &after);
    if (after.snapshot_index != before.snapshot_index) {
        LMS_ASSERT(after.snapshot_index == index && !n->recv.sealed);
        n->recv.sealed = index;
        return;
    }
    log_info("snapshot %llu is not installed (this node has its entries, or "
             "the term moved on); its file goes", (unsigned long long)index);
    discard_sealed(n, index);
}

/* The stream the receiver is on, and the job is of it. */
static int current(const snap_recv *rv, const recv_job *j)
{
    return rv->active && rv->stream == j->stream && rv->meta.index == j->index;
}

/* Loop: a chunk is written (or the file finished). */
static void recv_done(void *arg)
{
    recv_job *j = arg;
    node *n = j->n;
    snap_recv *rv = &n->recv;
    rv->jobs--;
    if (n->closing || n->failed || !n->r || !current(rv, j)) {
        free(j);
        return;
    }
    if (j->rc != LMS_OK) {
        log_warn("snapshot %llu from member %llu: %s",
                 (unsigned long long)j->index, (unsigned long long)rv->from,
                 j->err.msg);
        node_snapshot_ack_to(n, rv->from, j->stream, j->index, rv->written, 0,
                             j->err.msg);
        rv->active = rv->finishing = 0; /* the job removed its file */
        free(j);
        return;
    }
    rv->written = j->offset + j->len;
    rv->acked_ms = mono_ms();
    if (!j->last) {
        node_snapshot_ack_to(n, rv->from, j->stream, j->index, rv->written, 0,
                             NULL);
        free(j);
        return;
    }
    rv->active = rv->finishing = 0;
    log_info("received snapshot %llu from member %llu (%llu bytes in %lld ms)",
             (unsigned long long)j->index, (unsigned long long)rv->from,
             (unsigned long long)j->total,
             (long long)(mono_ms() - rv->started_ms));
    step_snapshot(n, rv, j->index);
    node_snapshot_ack_to(n, rv->from, j->stream, j->index, j->total, 1, NULL);
    node_schedule_pump(n);
    free(j);
}

/* Loop: the end of a job whose outcome nobody waits for (an abort, a
 * discard). */
static void free_recv(void *arg)
{
    free(arg);
}

/* Queue j on the I/O thread; done (recv_done) counts in n->recv.jobs, a
 * job without one is freed once it ran. */
static void submit_recv(node *n, recv_job *j, workers_fn done)
{
    if (!n->snap_io ||
        workers_submit(n->snap_io, recv_work, done ? done : free_recv, j) < 0) {
        free(j);
        n->recv.active = n->recv.finishing = 0;
        return;
    }
    if (done)
        n->recv.jobs++;
}

/* Start receiving the stream chunk c opens; 0 if it does not open one. */
static int open_stream(node *n, uint64_t from, const Lms__PeerSnapshotChunk *c,
                       const raft_snapshot_meta *meta)
{
    snap_recv *rv = &n->recv;
    if (c->offset != 0) {
        char why[120];
        snprintf(why, sizeof why, "expected offset 0, got %llu",
                 (unsigned long long)c->offset);
        node_snapshot_ack_to(n, from, c->stream, meta->index, 0, 0, why);
        return 0;
    }
    rv->active = 1;
    rv->finishing = 0;
    rv->from = from;
    rv->meta = *meta;
    rv->term = c->term;
    rv->total = c->total;
    rv->stream = c->stream;
    rv->queued = rv->written = 0;
    rv->started_ms = rv->acked_ms = mono_ms();
    log_info("receiving snapshot %llu (%llu bytes) from member %llu",
             (unsigned long long)meta->index, (unsigned long long)c->total,
             (unsigned long long)from);
    return 1;
}

void node_snapshot_on_chunk(node *n, uint64_t from,
                            const Lms__PeerSnapshotChunk *c)
{
    if (!n->r || n->closing || n->failed)
        return;
    snap_recv *rv = &n->recv;
    raft_snapshot_meta meta;
    char why[300];
    uint64_t index = c->meta ? c->meta->index : 0;
    if (!c->meta || peer_meta_from_pb(c->meta, &meta) != RAFT_OK) {
        node_snapshot_ack_to(n, from, c->stream, index, 0, 0,
               "the chunk's metadata does not decode");
        return;
    }
    if (c->term < raft_get_term(n->r)) {
        snprintf(why, sizeof why, "stale term %llu (this node is at %llu)",
                 (unsigned long long)c->term,
                 (unsigned long long)raft_get_term(n->r));
        node_snapshot_ack_to(n, from, c->stream, index, 0, 0, why);
        return;
    }
    int same = rv->active && rv->from == from && rv->meta.index == index &&
               rv->stream == c->stream;
    if (rv->finishing && !same) {
        node_snapshot_ack_to(n, from, c->stream, index, 0, 0,
               "busy finishing another snapshot");
        return;
    }
    if (rv->sealed) { /* its file must not be touched before it is renamed */
        node_snapshot_ack_to(n, from, c->stream, index, 0, 0,
               "busy installing another snapshot");
        return;
    }
    if (rv->active && !same) {
        if (c->offset != 0) {
            node_snapshot_ack_to(n, from, c->stream, index, 0, 0,
                   "receiving another snapshot");
            return;
        }
        log_info("snapshot %llu from member %llu abandoned for a new one",
                 (unsigned long long)rv->meta.index,
                 (unsigned long long)rv->from);
        drop_stream(n);
    }
    if (!rv->active && !open_stream(n, from, c, &meta))
        return;
    if (meta.term != rv->meta.term || c->total != rv->total) {
        /* Raft takes the first chunk's metadata, the file is checked
         * against the last one's: they must be one */
        node_snapshot_ack_to(n, from, c->stream, index, rv->written, 0,
                             "the stream's term or size changed mid-way");
        drop_stream(n);
        return;
    }
    if (rv->queued - rv->written > 2 * (uint64_t)SNAP_WINDOW) {
        /* an honest sender stays within its window of our acks: no more
         * memory for chunks than that waits for the disk */
        node_snapshot_ack_to(n, from, c->stream, index, rv->written, 0,
                             "too far ahead of what is written");
        drop_stream(n);
        return;
    }
    rv->progress_ms = mono_ms();
    if (c->offset > rv->total || c->data.len > rv->total - c->offset ||
        (c->last && c->offset + c->data.len != rv->total)) {
        snprintf(why, sizeof why, "chunk at %llu (%zu bytes) does not fit the "
                 "%llu announced", (unsigned long long)c->offset, c->data.len,
                 (unsigned long long)rv->total);
        node_snapshot_ack_to(n, from, c->stream, index, rv->written, 0, why);
        drop_stream(n);
        return;
    }
    if (c->offset + c->data.len <= rv->queued && c->offset < rv->queued) {
        node_snapshot_ack_to(n, from, c->stream, index, rv->written, 0, NULL); /* a resend */
        return;
    }
    if (c->offset != rv->queued) {
        snprintf(why, sizeof why, "chunk at %llu, expected %llu",
                 (unsigned long long)c->offset,
                 (unsigned long long)rv->queued);
        node_snapshot_ack_to(n, from, c->stream, index, rv->written, 0, why);
        drop_stream(n);
        return;
    }
    recv_job *j = calloc(1, sizeof *j + c->data.len);
    if (!j) {
        node_snapshot_ack_to(n, from, c->stream, index, rv->written, 0, "out of memory");
        drop_stream(n);
        return;
    }
    j->n = n;
    j->open = c->offset == 0;
    j->last = c->last;
    j->stream = c->stream;
    j->index = meta.index;
    j->term = meta.term;
    j->offset = c->offset;
    j->total = rv->total;
    j->len = c->data.len;
    if (c->data.len)
        memcpy(j->data, c->data.data, c->data.len);
    rv->queued += c->data.len;
    rv->finishing = c->last;
    submit_recv(n, j, recv_done);
    if (!rv->active)
        node_snapshot_ack_to(n, from, c->stream, index, rv->written, 0, "the node is stopping");
}

/* ---- the clock, start, stop ------------------------------------------------ */

/* snapshot_rate: refill the budget, and go on with streams that waited
 * for it. */
static void refill(node *n)
{
    uint64_t rate = n->opts.snapshot_rate;
    if (!rate)
        return;
    unsigned tick = n->opts.tick_ms ? n->opts.tick_ms : 10;
    int64_t cap = (int64_t)(rate / 5 > SNAP_CHUNK ? rate / 5 : SNAP_CHUNK);
    n->snap_tokens += (int64_t)(rate * tick / 1000);
    if (n->snap_tokens > cap)
        n->snap_tokens = cap;
    for (size_t i = 0; i < RAFT_MAX_SERVERS && n->snap_tokens > 0; i++)
        if (n->sends[i].active && !n->sends[i].sent_last)
            send_chunks(n, &n->sends[i]);
}

void node_transfer_tick(node *n)
{
    int64_t now = mono_ms();
    refill(n);
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++) {
        snap_send *s = &n->sends[i];
        if (!s->active)
            continue;
        if (peer_epoch(n->peers, s->to) != s->epoch) {
            log_warn("snapshot %llu for member %llu: the connection broke",
                     (unsigned long long)s->meta.index,
                     (unsigned long long)s->to);
            end_send(n, s, 0);
        } else if (!s->sent_last && s->next - s->acked < SNAP_WINDOW) {
            /* waiting for snapshot_rate, not the peer */
            s->progress_ms = s->moved_ms = now;
        } else if (now - s->moved_ms > SNAP_HUNG_MS) {
            /* keep-alives say the receiver lives, but its writes do not
             * move: end the stream (and its pin on the log) */
            log_warn("snapshot %llu for member %llu: alive but no byte "
                     "further for %d s (its disk may hang)",
                     (unsigned long long)s->meta.index,
                     (unsigned long long)s->to, SNAP_HUNG_MS / 1000);
            end_send(n, s, 0);
        } else if (now - s->progress_ms > SNAP_STALL_MS) {
            log_warn("snapshot %llu for member %llu: no progress for %d s",
                     (unsigned long long)s->meta.index,
                     (unsigned long long)s->to, SNAP_STALL_MS / 1000);
            end_send(n, s, 0);
        }
    }
    snap_recv *rv = &n->recv;
    if (rv->active && rv->jobs && now - rv->acked_ms >= SNAP_KEEPALIVE_MS) {
        rv->acked_ms = now; /* writes queued: still alive */
        node_snapshot_ack_to(n, rv->from, rv->stream, rv->meta.index,
                             rv->written, 0, NULL);
    }
    if (rv->active && !rv->jobs && now - rv->progress_ms > RECV_IDLE_MS) {
        log_warn("snapshot %llu from member %llu: abandoned (nothing for %d s)",
                 (unsigned long long)rv->meta.index,
                 (unsigned long long)rv->from, RECV_IDLE_MS / 1000);
        drop_stream(n);
    }
}

int node_transfer_start(node *n, lms_err *err)
{
    n->recv.rx.fd = -1;
    n->snap_io = workers_start(n->base, "snapshot-io", 1, 0);
    if (!n->snap_io)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "cannot start the snapshot I/O thread");
    return LMS_OK;
}

void node_transfer_close(node *n)
{
    node_snapshot_stop_sending(n);
    drop_stream(n);
    if (n->snap_io)
        workers_stop(n->snap_io); /* runs what is queued; dones see closing */
    snapshot_receiver_abort(&n->recv.rx); /* the thread is gone: ours now */
}

void node_transfer_free(node *n)
{
    workers_free(n->snap_io);
    n->snap_io = NULL;
}

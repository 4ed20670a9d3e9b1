/*
 * node_snapshot.c: Raft snapshots in the node (see node_internal.h).
 *
 * Taking one. Every node snapshots on its own, by policy: once
 * snapshot_entries entries or snapshot_bytes of entry data were applied
 * since the last one. The snapshot is the storage plugin's logical stream
 * (storage.h, docs/snapshots.md) in <data_dir>/snap/snap-<index>.lmss.
 * The storage thread runs jobs in order, so a job queued behind every
 * apply batch handed out so far sees the state at exactly the last
 * dispatched index: the snapshot's index. That job only pins the state (a
 * read view, snapshot_pin); the snapshot thread writes the view to the
 * file while the storage thread goes on applying and serving. (Should
 * pinning fail, the job writes the file itself.) Once the file is
 * durable Raft is told (raft_snapshot_done), the in-memory log
 * is compacted up to keep_entries behind it (fewer when those entries hold
 * more than a quarter of snapshot_bytes), the command log drops the whole
 * segments that lie below that point, and all but the two newest snapshot
 * files are removed.
 *
 * Sending one. A follower that needs compacted entries gets
 * RAFT_MSG_SNAPSHOT from the leader's Raft; the glue streams the newest
 * snapshot file in SNAP_CHUNK pieces (PeerSnapshotChunk), at most
 * SNAP_WINDOW bytes ahead of what the follower acknowledged
 * (PeerSnapshotAck), and reports the outcome to Raft once the follower
 * says the whole file is durable, or when the stream fails (an error ack,
 * a broken connection, no progress for SNAP_STALL_MS). Raft then probes
 * the follower again.
 *
 * Receiving one. The follower appends the chunks to a temp file; after
 * the last, a storage-thread job makes it durable under its final name and
 * checks its header against the metadata; then Raft gets the
 * RAFT_MSG_SNAPSHOT. If Raft installs it (rd.snapshot in a ready), the
 * command log is reset to continue after the snapshot (log writer) and a
 * storage-thread job replaces the state with the file's (snapshot_read:
 * all or nothing, with the applied index); the ready is finished only when
 * both are done, and committed entries after the snapshot are handed to
 * the storage thread behind the load, so they apply in order.
 *
 * Restarting. The newest snapshot file whose header checks out is the
 * starting point: the storage is restored from it if its applied index is
 * below it (a crash during an install), the command log is reset if it
 * ends below it, and Raft starts from its metadata and the entries after
 * it.
 */
#include "node_internal.h"

#include "log.h"
#include "peer_codec.h"
#include "snapshot.h"
#include "wal.h"
#include "workers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SNAP_CHUNK ((size_t)512 << 10)
#define SNAP_WINDOW ((uint64_t)4 << 20)
#define SNAP_STALL_MS 10000   /* waiting for acks this long: the stream failed */
#define SNAP_RETRY_MS 1000    /* after a failed stream, before the next one */
#define SNAP_KEEPALIVE_MS 1000 /* receiver, while it makes the file durable */
#define SNAP_KEEP_FILES 2
#define IDLE_TICKS 200                /* applied index unchanged this long */
#define IDLE_LOG_BYTES ((size_t)1 << 20) /* worth compacting when idle */
#define DEFAULT_SNAPSHOT_ENTRIES 10000
#define DEFAULT_SNAPSHOT_BYTES ((uint64_t)64 << 20)

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t policy_entries(const node *n)
{
    return n->opts.snapshot_entries ? n->opts.snapshot_entries
                                    : DEFAULT_SNAPSHOT_ENTRIES;
}

static uint64_t policy_bytes(const node *n)
{
    return n->opts.snapshot_bytes ? n->opts.snapshot_bytes
                                  : DEFAULT_SNAPSHOT_BYTES;
}

static int snap_file(const node *n, uint64_t index, char *out, size_t cap)
{
    return snapshot_path(n->snap_dir, index, out, cap);
}

/* ---- restart ------------------------------------------------------------ */

int node_snapshot_restore(node *n, wal *w, uint64_t *storage_applied,
                          lms_err *err)
{
    if (snprintf(n->snap_dir, sizeof n->snap_dir, "%s/snap", n->opts.data_dir) >=
        (int)sizeof n->snap_dir)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "data dir name too long");
    if (mkdir(n->snap_dir, 0755) != 0 && errno != EEXIST)
        return lms_err_set(err, LMS_INTERNAL, "cannot create %s: %s",
                           n->snap_dir, strerror(errno));
    char path[4200];
    snapshot_info info;
    int rc = snapshot_latest(n->snap_dir, path, sizeof path, &info, err);
    if (rc == LMS_NOT_FOUND) {
        lms_err_clear(err);
        if (wal_first_index(w) > 1)
            return lms_err_set(err, LMS_DATA_LOSS,
                               "the command log in %s/wal starts at index %llu "
                               "(it was compacted behind a snapshot) but there "
                               "is no readable snapshot in %s: restore that "
                               "directory, or remove the node and add it again "
                               "with an empty data dir",
                               n->opts.data_dir,
                               (unsigned long long)wal_first_index(w),
                               n->snap_dir);
        return LMS_OK;
    }
    if (rc != LMS_OK)
        return rc;
    raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = info.index;
    meta.term = info.term;
    blob *cfg = info.config_len ? blob_copy(info.config, info.config_len) : NULL;
    rc = cfg && raft_conf_decode(cfg, &meta.config, NULL) == RAFT_OK
             ? LMS_OK
             : lms_err_set(err, LMS_DATA_LOSS,
                           "snapshot %s: its cluster configuration does not "
                           "decode", path);
    blob_unref(cfg);
    snapshot_info_free(&info);
    if (rc != LMS_OK)
        return rc;
    if (*storage_applied < meta.index) {
        log_info("restoring the storage from snapshot %s (index %llu; the "
                 "storage had applied %llu)", path,
                 (unsigned long long)meta.index,
                 (unsigned long long)*storage_applied);
        lms_snapshot_header h;
        if (snapshot_load(n->m->ops, n->m->st, path, &h, err) != LMS_OK)
            return err->code;
        *storage_applied = meta.index;
    }
    /* A log that ends below the snapshot is what a crash in the middle of
     * a reset (an install) leaves: wal_reset removes segments newest
     * first, so what remains is a prefix the snapshot covers. If the
     * storage had applied entries after the snapshot that are gone with
     * it, the log now ends below the applied index and is refilled from
     * the leader (node_repair.c). A log that starts after the snapshot +
     * 1 is another matter: compaction only drops entries behind a durable
     * snapshot, so the snapshot it was compacted behind is missing or
     * damaged, and the entries between are nowhere. */
    if (wal_first_index(w) > meta.index + 1)
        return lms_err_set(err, LMS_DATA_LOSS,
                           "the command log in %s/wal starts at index %llu but "
                           "the newest readable snapshot (%s) covers only up "
                           "to %llu: a newer snapshot file is missing or "
                           "damaged; restore it, or remove the node and add "
                           "it again with an empty data dir",
                           n->opts.data_dir,
                           (unsigned long long)wal_first_index(w), path,
                           (unsigned long long)meta.index);
    if (wal_last_index(w) < meta.index) {
        log_warn("the command log in %s/wal ends at %llu, below snapshot %llu "
                 "(an install was cut short): it starts over after the "
                 "snapshot", n->opts.data_dir,
                 (unsigned long long)wal_last_index(w),
                 (unsigned long long)meta.index);
        if (wal_reset(w, meta.index, meta.term, err) != LMS_OK)
            return err->code;
    }
    n->snap = meta;
    n->compacted = wal_first_index(w) - 1;
    log_info("starting from snapshot %llu (term %llu); the command log holds "
             "%llu..%llu", (unsigned long long)meta.index,
             (unsigned long long)meta.term,
             (unsigned long long)wal_first_index(w),
             (unsigned long long)wal_last_index(w));
    return LMS_OK;
}

/* ---- taking a snapshot --------------------------------------------------- */

typedef struct take_job {
    node *n;
    int idle; /* taken because the node is idle: compact all behind it */
    raft_snapshot_meta meta;
    blob *cfg;
    void *view; /* pinned by the storage thread, for the snapshot thread */
    uint64_t protect; /* the snapshot the node serves when this one began */
    int rc;
    lms_err err;
    uint64_t bytes;
    int64_t started;
} take_job;

static void take_done(void *arg);

/* After the file is saved (either thread): its size, and old files out. */
static void saved(take_job *j)
{
    node *n = j->n;
    char path[4200];
    struct stat st;
    if (j->rc == LMS_OK && snap_file(n, j->meta.index, path, sizeof path) == 0 &&
        stat(path, &st) == 0)
        j->bytes = (uint64_t)st.st_size;
    if (j->rc == LMS_OK) {
        lms_err perr;
        if (snapshot_prune(n->snap_dir, SNAP_KEEP_FILES, j->protect, &perr) !=
            LMS_OK)
            log_warn("snapshot: removing old snapshot files: %s", perr.msg);
    }
}

static lms_snapshot_header header_of(const take_job *j)
{
    return (lms_snapshot_header){.index = j->meta.index,
                                 .term = j->meta.term,
                                 .config = j->cfg->data,
                                 .config_len = j->cfg->len,
                                 .created = wall_ms()};
}

/* Snapshot thread: write the pinned view, then let it go. */
static void write_work(void *arg)
{
    take_job *j = arg;
    node *n = j->n;
    lms_snapshot_header h = header_of(j);
    j->rc = snapshot_save_view(n->m->ops, j->view, n->snap_dir, &h, NULL,
                               &n->snap_cancel, &j->err);
    n->m->ops->snapshot_unpin(j->view);
    j->view = NULL;
    saved(j);
}

/* Storage thread: pin the state at the snapshot's index (or, if the
 * plugin cannot, write the file here and now). The store must be at
 * exactly that index: anything else (a failed batch, an install that did
 * not happen) would make a file that lies about its state. */
static void pin_work(void *arg)
{
    take_job *j = arg;
    node *n = j->n;
    lms_err perr;
    uint64_t at = 0;
    if (atomic_load(&n->storage_poisoned)) {
        j->rc = lms_err_set(&j->err, LMS_ABORTED, "an apply batch failed");
        return;
    }
    if (n->m->ops->applied_index(n->m->st, &at, &j->err) != LMS_OK) {
        j->rc = j->err.code;
        return;
    }
    if (at != j->meta.index) {
        j->rc = lms_err_set(&j->err, LMS_INTERNAL,
                            "the store is at index %llu, not %llu",
                            (unsigned long long)at,
                            (unsigned long long)j->meta.index);
        return;
    }
    if (n->m->ops->snapshot_pin(n->m->st, &j->view, &perr) == LMS_OK)
        return;
    j->view = NULL;
    log_warn("snapshot: cannot pin the state (%s); writing it on the storage "
             "thread", perr.msg);
    lms_snapshot_header h = header_of(j);
    j->rc = snapshot_save(n->m->ops, n->m->st, n->snap_dir, &h, NULL, &j->err);
    saved(j);
}

/* Loop: hand the pinned view to the snapshot thread. */
static void pin_done(void *arg)
{
    take_job *j = arg;
    node *n = j->n;
    if (j->view && !n->closing && !n->failed && n->snap_thread &&
        workers_submit(n->snap_thread, write_work, take_done, j) == 0)
        return;
    if (j->view) {
        n->m->ops->snapshot_unpin(j->view);
        j->view = NULL;
        j->rc = lms_err_set(&j->err, LMS_UNAVAILABLE, "the node is stopping");
    }
    take_done(j);
}

/* Where to compact to behind a snapshot at index: keep_entries entries, or
 * fewer if they hold more than a quarter of snapshot_bytes. */
static uint64_t compact_point(node *n, uint64_t index)
{
    uint64_t keep = n->opts.keep_entries, budget = policy_bytes(n) / 4;
    uint64_t at = index, bytes = 0;
    raft_entry e;
    while (at > 0 && index - at < keep && raft_entry_at(n->r, at, &e) == RAFT_OK) {
        bytes += e.data ? e.data->len : 0;
        if (bytes > budget)
            break;
        at--;
    }
    return at;
}

/* How far every member has the log (the leader knows; a follower's log
 * matters only if it leads one day, and then a member behind it gets a
 * snapshot): compacting an idle log up to here strands nobody. */
static uint64_t all_have(node *n)
{
    raft_status rs;
    raft_status_get(n->r, &rs);
    uint64_t low = n->applied;
    if (rs.role == RAFT_LEADER)
        for (unsigned i = 0; i < rs.n_peers; i++)
            if (rs.peers[i].match < low)
                low = rs.peers[i].match;
    return low;
}

/* Behind snapshot index: the in-memory log and the command log's whole
 * segments. full (the node is idle): everything every member has, not
 * only what the trailing window lets go. */
static void compact(node *n, uint64_t index, int full)
{
    uint64_t to = compact_point(n, index);
    if (full) {
        uint64_t low = all_have(n);
        uint64_t upto = low < index ? low : index;
        if (upto > to)
            to = upto;
    }
    if (to > n->applied)
        to = n->applied;
    if (to <= n->compacted)
        return;
    int rc = raft_compact(n->r, to);
    if (rc != RAFT_OK) {
        if (rc == RAFT_ERR_NOMEM)
            node_raft_failed(n, "compact", rc);
        return;
    }
    if (log_writer_compact(n->lw, to) != 0) {
        node_fail(n, "the command log does not take a compaction");
        return;
    }
    n->compacted = to;
}

static void take_done(void *arg)
{
    take_job *j = arg;
    node *n = j->n;
    n->snapshotting = 0;
    if (n->closing || n->failed) {
        /* nothing more to do */
    } else if (j->rc != LMS_OK) {
        log_error("snapshot at index %llu failed: %s (next attempt after %llu "
                  "more entries)", (unsigned long long)j->meta.index, j->err.msg,
                  (unsigned long long)policy_entries(n));
        n->snap_retry_at = n->applied + policy_entries(n);
    } else if (j->meta.index > n->snap.index) {
        int rc = raft_snapshot_done(n->r, &j->meta);
        if (rc == RAFT_ERR_NOMEM) {
            node_raft_failed(n, "snapshot done", rc);
        } else if (rc == RAFT_OK) {
            n->snap = j->meta;
            compact(n, j->meta.index, j->idle);
            log_info("snapshot at index %llu (term %llu): %llu bytes in %lld ms; "
                     "log compacted up to %llu",
                     (unsigned long long)j->meta.index,
                     (unsigned long long)j->meta.term,
                     (unsigned long long)j->bytes,
                     (long long)(mono_ms() - j->started),
                     (unsigned long long)n->compacted);
        }
    }
    blob_unref(j->cfg);
    free(j);
}

/* Not while an install is under way (the state is about to change under
 * the index), nor once the store may have missed a batch. */
static int may_take(const node *n)
{
    return !n->snapshotting && !n->closing && !n->failed && n->r && n->lw &&
           n->installed >= n->install_seq &&
           !atomic_load(&n->storage_poisoned);
}

static void take(node *n, int idle)
{
    uint64_t at = n->dispatched;
    take_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->n = n;
    j->idle = idle;
    j->protect = n->snap.index;
    j->started = mono_ms();
    if (raft_snapshot_meta_at(n->r, at, &j->meta) != RAFT_OK ||
        !(j->cfg = raft_conf_encode(&j->meta.config, NULL))) {
        free(j);
        return;
    }
    if (workers_submit(n->storage, pin_work, pin_done, j) < 0) {
        blob_unref(j->cfg);
        free(j);
        return;
    }
    n->snapshotting = 1;
    n->snap_bytes = 0;
}

void node_snapshot_maybe(node *n)
{
    if (!may_take(n))
        return;
    uint64_t at = n->dispatched;
    if (at <= n->snap.index || at < n->snap_retry_at)
        return;
    if (at - n->snap.index < policy_entries(n) &&
        n->snap_bytes < policy_bytes(n))
        return;
    take(n, 0);
}

/* An idle node gives back the memory its log holds: once nothing was
 * applied for IDLE_TICKS and the in-memory log holds more than
 * IDLE_LOG_BYTES, snapshot (if entries were applied since the last one)
 * and compact everything every member has. */
static void idle_check(node *n)
{
    if (n->applied != n->idle_applied || n->dispatched != n->applied) {
        n->idle_applied = n->applied;
        n->idle_since = n->ticks;
        return;
    }
    if (n->ticks - n->idle_since < IDLE_TICKS || !may_take(n))
        return;
    raft_status rs;
    raft_status_get(n->r, &rs);
    if (rs.log_bytes < IDLE_LOG_BYTES || all_have(n) <= n->compacted)
        return; /* little to free, or a member still needs it all */
    if (n->snap.index < n->applied && n->applied >= n->snap_retry_at)
        take(n, 1);
    else if (n->snap.index)
        compact(n, n->snap.index, 1);
}

/* ---- sending one (leader) ------------------------------------------------ */

static void ack_to(node *n, uint64_t to, uint64_t stream, uint64_t index,
                   uint64_t received, int done, const char *error)
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

static void end_send(node *n, snap_send *s, int ok)
{
    if (!s->active)
        return;
    s->active = 0;
    snapshot_reader_close(&s->rd);
    if (!ok)
        s->retry_ms = mono_ms() + SNAP_RETRY_MS;
    if (n->r && !n->closing && !n->failed) {
        raft_report_snapshot(n->r, s->to, ok);
        node_schedule_pump(n);
    }
}

/* Send chunks until SNAP_WINDOW bytes are ahead of the acknowledgements. */
static void send_chunks(node *n, snap_send *s)
{
    uint8_t *buf = NULL;
    Lms__PeerServer servers[RAFT_MAX_SERVERS];
    Lms__PeerServer *ptrs[RAFT_MAX_SERVERS];
    Lms__PeerSnapshotMeta meta;
    peer_meta_to_pb(&s->meta, &meta, servers, ptrs);
    uint64_t rate = n->opts.snapshot_rate;
    while (s->active && !s->sent_last && s->next - s->acked < SNAP_WINDOW &&
           (!rate || n->snap_tokens > 0)) {
        if (!buf && !(buf = malloc(SNAP_CHUNK))) {
            end_send(n, s, 0);
            break;
        }
        size_t len = 0;
        int last = 0;
        lms_err err;
        if (snapshot_reader_read(&s->rd, s->next, buf, &len, &last, &err) !=
            LMS_OK) {
            log_warn("snapshot %llu for member %llu: %s",
                     (unsigned long long)s->meta.index,
                     (unsigned long long)s->to, err.msg);
            end_send(n, s, 0);
            break;
        }
        Lms__PeerSnapshotChunk c = LMS__PEER_SNAPSHOT_CHUNK__INIT;
        c.term = raft_get_term(n->r);
        c.meta = &meta;
        c.offset = s->next;
        c.data.data = buf;
        c.data.len = len;
        c.last = last;
        c.total = s->rd.size;
        c.stream = s->stream;
        Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
        msg.body_case = LMS__PEER_MESSAGE__BODY_CHUNK;
        msg.chunk = &c;
        if (peer_send(n->peers, s->to, &msg) < 0) {
            log_warn("snapshot %llu for member %llu: the link is down or "
                     "backed up; Raft will try again",
                     (unsigned long long)s->meta.index,
                     (unsigned long long)s->to);
            end_send(n, s, 0);
            break;
        }
        s->next += len;
        s->sent_last = last;
        if (rate)
            n->snap_tokens -= (int64_t)len;
    }
    free(buf);
}

void node_snapshot_send(node *n, uint64_t to)
{
    snap_send *s = NULL;
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++) {
        if (n->sends[i].to == to) { /* its slot, in use or not */
            s = &n->sends[i];
            break;
        }
        if (!n->sends[i].active && !n->sends[i].to && !s)
            s = &n->sends[i];
    }
    if (s && s->active) { /* Raft asks again: start over, quietly */
        s->active = 0;
        snapshot_reader_close(&s->rd);
    }
    if (s && s->to == to && mono_ms() < s->retry_ms) {
        raft_report_snapshot(n->r, to, 0); /* too soon after a failure */
        return;
    }
    char path[4200];
    lms_err err;
    if (!s || !n->peers || !n->snap.index ||
        snap_file(n, n->snap.index, path, sizeof path) != 0 ||
        snapshot_reader_open(&s->rd, path, SNAP_CHUNK, &err) != LMS_OK) {
        log_warn("member %llu needs snapshot %llu, which cannot be sent now",
                 (unsigned long long)to, (unsigned long long)n->snap.index);
        raft_report_snapshot(n->r, to, 0);
        return;
    }
    s->active = 1;
    s->sent_last = 0;
    s->to = to;
    s->stream = ++n->stream_seq;
    s->meta = n->snap;
    s->next = s->acked = 0;
    s->epoch = peer_epoch(n->peers, to);
    s->started_ms = s->progress_ms = mono_ms();
    log_info("sending snapshot %llu (%llu bytes) to member %llu",
             (unsigned long long)s->meta.index, (unsigned long long)s->rd.size,
             (unsigned long long)to);
    send_chunks(n, s);
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
                 (unsigned long long)s->rd.size,
                 (long long)(s->progress_ms - s->started_ms));
        end_send(n, s, 1);
        return;
    }
    if (a->received > s->acked && a->received <= s->next)
        s->acked = a->received;
    send_chunks(n, s);
}

void node_snapshot_stop_sending(node *n)
{
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++)
        if (n->sends[i].active) {
            n->sends[i].active = 0;
            snapshot_reader_close(&n->sends[i].rd);
        }
}

/* ---- receiving one (follower) -------------------------------------------- */

typedef struct finish_job {
    node *n;
    uint64_t from;
    int rc;
    lms_err err;
} finish_job;

static void end_recv(node *n)
{
    if (n->recv.active && !n->recv.finishing)
        snapshot_receiver_abort(&n->recv.rx);
    n->recv.active = 0;
    n->recv.finishing = 0;
}

/* Storage thread: make the file durable and check its header. */
static void finish_work(void *arg)
{
    finish_job *j = arg;
    snap_recv *rv = &j->n->recv;
    char path[4200];
    snapshot_info info;
    j->rc = snapshot_receiver_finish(&rv->rx, rv->total, path, sizeof path,
                                     &j->err);
    if (j->rc != LMS_OK)
        return;
    j->rc = snapshot_peek(path, &info, &j->err);
    if (j->rc != LMS_OK) {
        unlink(path);
        return;
    }
    if (info.index != rv->meta.index || info.term != rv->meta.term) {
        j->rc = lms_err_set(&j->err, LMS_DATA_LOSS,
                            "the file holds index %llu term %llu, the leader "
                            "announced %llu term %llu",
                            (unsigned long long)info.index,
                            (unsigned long long)info.term,
                            (unsigned long long)rv->meta.index,
                            (unsigned long long)rv->meta.term);
        unlink(path);
    }
    snapshot_info_free(&info);
}

static void finish_done(void *arg)
{
    finish_job *j = arg;
    node *n = j->n;
    snap_recv *rv = &n->recv;
    uint64_t index = rv->meta.index;
    rv->active = rv->finishing = 0;
    if (n->closing || n->failed || !n->r) {
        free(j);
        return;
    }
    if (j->rc != LMS_OK) {
        log_warn("snapshot %llu from member %llu: %s", (unsigned long long)index,
                 (unsigned long long)j->from, j->err.msg);
        ack_to(n, j->from, rv->stream, index, 0, 0, j->err.msg);
        free(j);
        return;
    }
    log_info("received snapshot %llu from member %llu (%llu bytes in %lld ms)",
             (unsigned long long)index, (unsigned long long)j->from,
             (unsigned long long)rv->total,
             (long long)(mono_ms() - rv->started_ms));
    raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_SNAPSHOT;
    m.from = j->from;
    m.to = n->opts.node_id;
    m.term = rv->term;
    m.snapshot = &rv->meta;
    int rc = raft_step(n->r, &m);
    if (rc == RAFT_ERR_NOMEM)
        node_raft_failed(n, "step", rc);
    ack_to(n, j->from, rv->stream, index, rv->total, 1, NULL);
    node_schedule_pump(n);
    free(j);
}

/* The chunk's stream is the one being received. */
static int same_stream(const snap_recv *rv, uint64_t from,
                       const Lms__PeerSnapshotChunk *c, uint64_t index)
{
    return rv->active && rv->from == from && rv->meta.index == index &&
           rv->stream == c->stream;
}

/* Start receiving the stream c opens; 0 if it could not. */
static int open_stream(node *n, uint64_t from, const Lms__PeerSnapshotChunk *c,
                       const raft_snapshot_meta *meta)
{
    snap_recv *rv = &n->recv;
    lms_err err;
    char why[300];
    if (c->offset != 0) {
        snprintf(why, sizeof why, "expected offset 0, got %llu",
                 (unsigned long long)c->offset);
        ack_to(n, from, c->stream, meta->index, 0, 0, why);
        return 0;
    }
    if (snapshot_receiver_open(&rv->rx, n->snap_dir, meta->index, &err) !=
        LMS_OK) {
        log_warn("snapshot %llu from member %llu: %s",
                 (unsigned long long)meta->index, (unsigned long long)from,
                 err.msg);
        ack_to(n, from, c->stream, meta->index, 0, 0, err.msg);
        return 0;
    }
    rv->active = 1;
    rv->from = from;
    rv->meta = *meta;
    rv->term = c->term;
    rv->total = c->total;
    rv->stream = c->stream;
    rv->started_ms = mono_ms();
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
        ack_to(n, from, c->stream, index, 0, 0,
               "the chunk's metadata does not decode");
        return;
    }
    if (c->term < raft_get_term(n->r)) {
        snprintf(why, sizeof why, "stale term %llu (this node is at %llu)",
                 (unsigned long long)c->term,
                 (unsigned long long)raft_get_term(n->r));
        ack_to(n, from, c->stream, index, 0, 0, why);
        return;
    }
    if (rv->finishing) {
        if (rv->from == from && rv->meta.index == index) /* a resend: alive */
            ack_to(n, from, c->stream, index, rv->total, 0, NULL);
        else
            ack_to(n, from, c->stream, index, 0, 0,
                   "busy finishing another snapshot");
        return;
    }
    if (rv->active && !same_stream(rv, from, c, index)) {
        if (c->offset != 0) {
            ack_to(n, from, c->stream, index, 0, 0,
                   "receiving another snapshot");
            return;
        }
        log_info("snapshot %llu from member %llu abandoned for a new one",
                 (unsigned long long)rv->meta.index,
                 (unsigned long long)rv->from);
        end_recv(n);
    }
    if (!rv->active && !open_stream(n, from, c, &meta))
        return;
    rv->progress_ms = mono_ms();
    lms_err err;
    if (c->offset > rv->total || c->data.len > rv->total - c->offset ||
        (c->last && c->offset + c->data.len != rv->total)) {
        snprintf(why, sizeof why, "chunk at %llu (%zu bytes) does not fit the "
                 "%llu announced", (unsigned long long)c->offset, c->data.len,
                 (unsigned long long)rv->total);
        ack_to(n, from, c->stream, index, rv->rx.received, 0, why);
        end_recv(n);
        return;
    }
    if (snapshot_receiver_write(&rv->rx, c->offset, c->data.data, c->data.len,
                                &err) != LMS_OK) {
        log_warn("snapshot %llu from member %llu: %s",
                 (unsigned long long)meta.index, (unsigned long long)from,
                 err.msg);
        ack_to(n, from, c->stream, index, rv->rx.received, 0, err.msg);
        end_recv(n);
        return;
    }
    if (!c->last) {
        ack_to(n, from, c->stream, index, rv->rx.received, 0, NULL);
        return;
    }
    finish_job *j = calloc(1, sizeof *j);
    if (!j) {
        ack_to(n, from, c->stream, index, 0, 0, "out of memory");
        end_recv(n);
        return;
    }
    j->n = n;
    j->from = from;
    rv->finishing = 1;
    if (workers_submit(n->storage, finish_work, finish_done, j) < 0) {
        rv->finishing = 0;
        free(j);
        ack_to(n, from, c->stream, index, 0, 0, "the node is stopping");
        end_recv(n);
    }
}

/* ---- installing one (follower) ------------------------------------------- */

typedef struct install_job {
    node *n;
    raft_snapshot_meta meta;
    uint64_t seq;
    int rc;
    lms_err err;
    int64_t started;
} install_job;

static void install_work(void *arg)
{
    install_job *j = arg;
    node *n = j->n;
    char path[4200];
    lms_snapshot_header h;
    if (atomic_load(&n->storage_poisoned))
        j->rc = lms_err_set(&j->err, LMS_ABORTED, "an apply batch failed");
    else if (snap_file(n, j->meta.index, path, sizeof path) != 0)
        j->rc = lms_err_set(&j->err, LMS_INVALID_ARGUMENT, "path too long");
    else
        j->rc = snapshot_load(n->m->ops, n->m->st, path, &h, &j->err);
    if (j->rc == LMS_OK) {
        lms_err perr;
        if (snapshot_prune(n->snap_dir, SNAP_KEEP_FILES, j->meta.index,
                           &perr) != LMS_OK)
            log_warn("snapshot: removing old snapshot files: %s", perr.msg);
    }
}

static void install_done(void *arg)
{
    install_job *j = arg;
    node *n = j->n;
    if (j->rc != LMS_OK) {
        char msg[700];
        snprintf(msg, sizeof msg, "installing snapshot %llu failed: %s",
                 (unsigned long long)j->meta.index, j->err.msg);
        node_fail(n, msg);
        free(j);
        return;
    }
    if (n->applied < j->meta.index)
        n->applied = j->meta.index;
    if (j->meta.index > n->snap.index)
        n->snap = j->meta;
    n->installed = j->seq;
    log_info("installed snapshot %llu (term %llu) in %lld ms",
             (unsigned long long)j->meta.index, (unsigned long long)j->meta.term,
             (long long)(mono_ms() - j->started));
    if (n->r && raft_applied(n->r, n->applied) != RAFT_OK)
        node_fail(n, "raft: out of memory");
    if (n->opts.on_restored && !n->closing)
        n->opts.on_restored(n->opts.arg, j->meta.index);
    free(j);
    node_schedule_pump(n);
}

int node_snapshot_install(node *n, const raft_snapshot_meta *meta, uint64_t *seq)
{
    install_job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    /* Nothing that waits for an entry at or below the snapshot can learn
     * its fate here: its client retries (deduplicated). */
    node_drop_proposals(n, LMS_UNAVAILABLE, "leadership changed; retry", 1);
    if (log_writer_reset(n->lw, meta->index, meta->term) != 0) {
        free(j);
        return -1;
    }
    j->n = n;
    j->meta = *meta;
    j->seq = ++n->install_seq;
    j->started = mono_ms();
    n->dispatched = meta->index;
    n->compacted = meta->index;
    n->snap_bytes = 0;
    if (workers_submit(n->storage, install_work, install_done, j) < 0) {
        free(j);
        return -1;
    }
    *seq = j->seq;
    return 0;
}

/* ---- the clock, closing -------------------------------------------------- */

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

void node_snapshot_tick(node *n)
{
    int64_t now = mono_ms();
    refill(n);
    if (n->ticks % 20 == 0)
        idle_check(n);
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
            s->progress_ms = now; /* waiting for snapshot_rate, not the peer */
        } else if (now - s->progress_ms > SNAP_STALL_MS) {
            log_warn("snapshot %llu for member %llu: no progress for %d s",
                     (unsigned long long)s->meta.index,
                     (unsigned long long)s->to, SNAP_STALL_MS / 1000);
            end_send(n, s, 0);
        }
    }
    if (n->recv.finishing && now - n->recv.progress_ms >= SNAP_KEEPALIVE_MS) {
        n->recv.progress_ms = now; /* making the file durable: still alive */
        ack_to(n, n->recv.from, n->recv.stream, n->recv.meta.index,
               n->recv.total, 0, NULL);
    }
    if (n->recv.active && !n->recv.finishing &&
        now - n->recv.progress_ms > 3 * SNAP_STALL_MS) {
        log_warn("snapshot %llu from member %llu: abandoned (nothing for %d s)",
                 (unsigned long long)n->recv.meta.index,
                 (unsigned long long)n->recv.from, 3 * SNAP_STALL_MS / 1000);
        end_recv(n);
    }
}

int node_snapshot_start(node *n, lms_err *err)
{
    n->snap_thread = workers_start(n->base, "snapshot", 1, 0);
    if (!n->snap_thread)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "cannot start the snapshot thread");
    return LMS_OK;
}

void node_snapshot_close(node *n)
{
    node_snapshot_stop_sending(n);
    if (n->recv.active && !n->recv.finishing)
        end_recv(n);
    atomic_store(&n->snap_cancel, 1);
    if (n->snap_thread)
        workers_stop(n->snap_thread); /* runs take_done: closing */
}

void node_snapshot_free(node *n)
{
    workers_free(n->snap_thread);
    n->snap_thread = NULL;
}

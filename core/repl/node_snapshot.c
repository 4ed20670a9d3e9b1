/* SPDX-License-Identifier: MIT */
/*
 * node_snapshot.c: Raft snapshots in the node (see node_internal.h).
 *
 * Taking one. Every node snapshots on its own, by policy: once
 * snapshot_entries entries or snapshot_bytes of entry data were applied
 * since the last one (scaled per node, and preferring a quiet moment: see
 * node_snapshot_maybe). The snapshot is the storage plugin's logical stream
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
 * Keeping the entries after a snapshot being sent. A leader compacts
 * neither log past a snapshot it streams to a member, nor past the
 * entries that member needs right after it, until it caught up or for a
 * grace period after the stream (node_transfer_keep): otherwise, under
 * steady writes, a slow stream's receiver needs the next snapshot, and
 * the next, and never catches up. The entries kept that way are capped
 * at snapshot_bytes: past that, compaction proceeds (a warning says so)
 * and the member needs a newer snapshot. A stream's open file keeps the
 * snapshot's data readable when pruning removes its name.
 *
 * Sending and receiving one: node_transfer.c. Once a follower holds the
 * leader's file (durable, under its temp name), Raft gets the
 * RAFT_MSG_SNAPSHOT; if Raft installs it (rd.snapshot in a ready), the
 * file is renamed to its final name (and the directory fsynced), then the
 * command log is reset to continue after the snapshot (log writer) and a
 * storage-thread job replaces the state with the file's (snapshot_read:
 * all or nothing, with the applied index); the ready is finished only
 * when both are done, and committed entries after the snapshot are handed
 * to the storage thread behind the load, so they apply in order. A crash
 * at any point restarts correctly: before the rename the node is as it
 * was (the temp file goes at start); after it, the restart rule below
 * drops the log the reset had not yet replaced and restores the store.
 *
 * Compacting an idle log. A node that applied nothing for IDLE_TICKS and
 * whose in-memory log holds more than IDLE_LOG_BYTES snapshots (if
 * anything was applied since its last one) and compacts everything every
 * member has, so its memory goes back down after a burst.
 *
 * Restarting. Temp files go. The newest snapshot file whose header checks
 * out is the starting point: the storage is restored from it if its
 * applied index is below it (a crash during an install), the command log
 * is kept only if it continues the snapshot and reset otherwise
 * (snapshot_wal.h: it ends below it, or holds another entry at its index),
 * and Raft starts from its metadata and the entries after it.
 */
#include "node_internal.h"

#include "clock.h"
#include "lms_assert.h"
#include "log.h"
#include "metrics.h"
#include "snapshot.h"
#include "snapshot_wal.h"
#include "wal.h"
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SNAP_KEEP_FILES 2
#define SNAP_FULL_RETRY_MS 2000       /* a snapshot the disk had no room for */
#define IDLE_TICKS 200                /* applied index unchanged this long */
#define IDLE_LOG_BYTES ((size_t)1 << 20) /* worth compacting when idle */
#define DEFAULT_SNAPSHOT_ENTRIES 10000
#define DEFAULT_SNAPSHOT_BYTES ((uint64_t)64 << 20)

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

/* The term of w's entry at index into *term. */
static int wal_term(wal *w, uint64_t index, uint64_t *term, lms_err *err)
{
    wal_entry e;
    if (wal_read(w, index, &e, err) != LMS_OK)
        return err->code;
    *term = e.term;
    free((void *)e.data);
    return LMS_OK;
}

/* Which entries of w survive next to snapshot meta (snapshot_wal.h, the
 * rule the simulator applies too). A log that starts past the snapshot's
 * next index was compacted behind a snapshot that is not here: refused.
 * One that ends below the snapshot or holds another history past it is
 * what a crash during an install leaves (the file renamed, the reset not
 * yet durable; or a reset cut short, which removes segments newest
 * first): it is reset to start after the snapshot. If the storage had
 * applied entries after the snapshot that go with it, the log then ends
 * below the applied index and is refilled from the leader
 * (node_repair.c). */
static int keep_or_drop_log(node *n, wal *w, const raft_snapshot_meta *meta,
                            const char *path, lms_err *err)
{
    snapshot_wal_view v = {.first = wal_first_index(w),
                           .last = wal_last_index(w)};
    int rc = LMS_OK;
    if (v.first <= meta->index && meta->index <= v.last)
        rc = wal_term(w, meta->index, &v.term_at_snap, err);
    else if (v.first == meta->index + 1 && v.last > meta->index)
        rc = wal_term(w, v.first, &v.term_after, err);
    if (rc != LMS_OK)
        return rc;
    const char *why;
    switch (snapshot_wal_rule(meta->index, meta->term, &v, &why)) {
    case SNAPSHOT_WAL_KEEP:
        return LMS_OK;
    case SNAPSHOT_WAL_GAP:
        return lms_err_set(err, LMS_DATA_LOSS,
                           "the command log in %s/wal starts at index %llu but "
                           "the newest readable snapshot (%s) covers only up "
                           "to %llu: a newer snapshot file is missing or "
                           "damaged; restore it, or remove the node and add "
                           "it again with an empty data dir",
                           n->opts.data_dir, (unsigned long long)v.first, path,
                           (unsigned long long)meta->index);
    case SNAPSHOT_WAL_DROP:
        break;
    }
    if (v.last < v.first)
        log_info("the command log in %s/wal is empty: it starts after snapshot "
                 "%llu", n->opts.data_dir, (unsigned long long)meta->index);
    else
        log_warn("the command log in %s/wal (entries %llu..%llu) does not "
                 "continue snapshot %llu (term %llu): %s (an install was cut short). "
                 "Its entries belong to an older log and are dropped: the "
                 "node starts from the snapshot alone and catches up from "
                 "the leader", n->opts.data_dir, (unsigned long long)v.first,
                 (unsigned long long)v.last, (unsigned long long)meta->index,
                 (unsigned long long)meta->term, why);
    return wal_reset(w, meta->index, meta->term, err) == LMS_OK ? LMS_OK
                                                                : err->code;
}

/* Temp files are a save or a transfer that a stop cut short (a received
 * snapshot keeps its temp name until its install renames it): none of
 * them is a snapshot of this node. */
static void remove_temps(node *n)
{
    lms_err err;
    unsigned removed = 0;
    if (snapshot_remove_temps(n->snap_dir, &removed, &err) != LMS_OK)
        log_warn("snapshot: %s", err.msg);
    else if (removed)
        log_info("removed %u unfinished snapshot file%s from %s", removed,
                 removed == 1 ? "" : "s", n->snap_dir);
}

/* Raft's metadata of the snapshot file at path, from its header. */
static int meta_of(const snapshot_info *info, const char *path,
                   raft_snapshot_meta *meta, lms_err *err)
{
    memset(meta, 0, sizeof *meta);
    meta->index = info->index;
    meta->term = info->term;
    blob *cfg = info->config_len ? blob_copy(info->config, info->config_len)
                                 : NULL;
    int rc = cfg && raft_conf_decode(cfg, &meta->config, NULL) == RAFT_OK
                 ? LMS_OK
                 : lms_err_set(err, LMS_DATA_LOSS,
                               "snapshot %s: its cluster configuration does "
                               "not decode", path);
    blob_unref(cfg);
    return rc;
}

int node_snapshot_restore(node *n, wal *w, uint64_t *storage_applied,
                          lms_err *err)
{
    if (snprintf(n->snap_dir, sizeof n->snap_dir, "%s/snap", n->opts.data_dir) >=
        (int)sizeof n->snap_dir)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "data dir name too long");
    if (mkdir(n->snap_dir, 0755) == 0) {
        /* the directory's own entry durable before any file in it counts
         * (a WAL reset after an install must never outlive its snapshot) */
        int dfd = open(n->opts.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int bad = dfd < 0 || fsync(dfd) != 0;
        if (dfd >= 0)
            close(dfd);
        if (bad)
            return lms_err_set(err, LMS_INTERNAL, "cannot make %s durable: %s",
                               n->snap_dir, strerror(errno));
    } else if (errno != EEXIST) {
        return lms_err_set(err, LMS_INTERNAL, "cannot create %s: %s",
                           n->snap_dir, strerror(errno));
    }
    remove_temps(n);
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
    uint64_t size = info.size;
    rc = meta_of(&info, path, &meta, err);
    snapshot_info_free(&info);
    if (rc != LMS_OK)
        return rc;
    if (*storage_applied < meta.index) {
        log_info("restoring the storage from snapshot %s (index %llu; the "
                 "storage had applied %llu)", path,
                 (unsigned long long)meta.index,
                 (unsigned long long)*storage_applied);
        lms_snapshot_header h;
        if (snapshot_load(n->sm.ops, n->sm.st, path, &h, err) != LMS_OK)
            return err->code;
        *storage_applied = meta.index;
    }
    rc = keep_or_drop_log(n, w, &meta, path, err);
    if (rc != LMS_OK)
        return rc;
    n->snap = meta;
    n->snap_size = size;
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

/* The size of snapshot index's file (0 if it cannot be read). Any thread
 * but the loop's. */
static uint64_t file_bytes(const node *n, uint64_t index)
{
    char path[4200];
    struct stat st;
    if (snap_file(n, index, path, sizeof path) != 0 || stat(path, &st) != 0)
        return 0;
    return (uint64_t)st.st_size;
}

/* After the file is saved (either thread): its size, and old files out. */
static void saved(take_job *j)
{
    node *n = j->n;
    if (j->rc != LMS_OK)
        return;
    j->bytes = file_bytes(n, j->meta.index);
    lms_err perr;
    if (snapshot_prune(n->snap_dir, SNAP_KEEP_FILES, j->protect, &perr) != LMS_OK)
        log_warn("snapshot: removing old snapshot files: %s", perr.msg);
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
    workers_thread_background(); /* applies and reads come first */
    lms_snapshot_header h = header_of(j);
    j->rc = snapshot_save_view(n->sm.ops, j->view, n->snap_dir, &h, NULL,
                               &n->snap_cancel, &j->err);
    n->sm.ops->snapshot_unpin(j->view);
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
    if (n->sm.ops->applied_index(n->sm.st, &at, &j->err) != LMS_OK) {
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
    if (n->sm.ops->snapshot_pin(n->sm.st, &j->view, &perr) == LMS_OK)
        return;
    j->view = NULL;
    log_warn("snapshot: cannot pin the state (%s); writing it on the storage "
             "thread", perr.msg);
    lms_snapshot_header h = header_of(j);
    j->rc = snapshot_save(n->sm.ops, n->sm.st, n->snap_dir, &h, NULL, &j->err);
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
        n->sm.ops->snapshot_unpin(j->view);
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
 * only what the trailing window lets go. Never past a snapshot being
 * streamed to a member, nor the entries it needs right after it
 * (node_transfer_keep), unless they would hold more than snapshot_bytes. */
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
    if (to > n->compacted) {
        uint64_t want = to;
        to = node_transfer_keep(n, to, policy_bytes(n));
        n->compact_held = to < want; /* node_snapshot_tick tries again */
    }
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
    } else if (j->rc == LMS_RESOURCE_EXHAUSTED) {
        /* a full disk: writes are refused until a retry gets through */
        if (!n->snap_full_since) {
            n->snap_full_since = mono_ms();
            log_error("disk full: snapshot at index %llu failed: %s; writes "
                      "are refused until space is freed; retrying every %d ms",
                      (unsigned long long)j->meta.index, j->err.msg,
                      SNAP_FULL_RETRY_MS);
        }
        n->snap_full_retry_ms = mono_ms() + SNAP_FULL_RETRY_MS;
    } else if (j->rc != LMS_OK) {
        log_error("snapshot at index %llu failed: %s (next attempt after %llu "
                  "more entries)", (unsigned long long)j->meta.index, j->err.msg,
                  (unsigned long long)policy_entries(n));
        n->snap_retry_at = n->applied + policy_entries(n);
    } else if (j->meta.index > n->snap.index) {
        if (n->snap_full_since) {
            log_warn("disk has space again: snapshot at index %llu written "
                     "after %lld ms", (unsigned long long)j->meta.index,
                     (long long)(mono_ms() - n->snap_full_since));
            n->snap_full_since = 0;
        }
        int rc = raft_snapshot_done(n->r, &j->meta);
        raft_status rs;
        raft_status_get(n->r, &rs);
        if (rc == RAFT_ERR_NOMEM) {
            node_raft_failed(n, "snapshot done", rc);
        } else if (rc == RAFT_OK && rs.snapshot_index != j->meta.index) {
            /* Raft is past it already (a leader's snapshot being
             * installed): the node's snapshot stays Raft's */
            log_info("snapshot at index %llu not used: Raft has snapshot "
                     "%llu", (unsigned long long)j->meta.index,
                     (unsigned long long)rs.snapshot_index);
        } else if (rc == RAFT_OK) {
            n->snap = j->meta;
            n->snap_size = j->bytes;
            metrics_add(&lms_metrics_g.snapshots_taken, 1);
            metrics_add(&lms_metrics_g.snapshot_bytes, j->bytes);
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

/*
 * When to take one. The policy's thresholds are scaled per node, by 100,
 * 110, 120 or 130 % after the node id, so the members of a cluster do not
 * all snapshot at the same index (each pauses its storage thread and
 * writes a file: not all at once). Past its threshold a node waits for a
 * quiet moment (nothing applied for QUIET_TICKS) to take it, up to half
 * as much again, where it takes it whatever the load.
 */
#define QUIET_TICKS 3
#define HARD_PERCENT 150

/* v scaled by percent of this node's share (100..130 %), at least 1. */
static uint64_t scaled(const node *n, uint64_t v, unsigned percent)
{
    uint64_t scale = (100 + 10 * ((n->opts.node_id - 1) % 4)) * percent;
    uint64_t out = v <= UINT64_MAX / scale ? v * scale / 10000
                                           : v / 10000 * scale;
    return out ? out : 1;
}

static int over(const node *n, uint64_t at, unsigned percent)
{
    return at - n->snap.index >= scaled(n, policy_entries(n), percent) ||
           n->snap_bytes >= scaled(n, policy_bytes(n), percent);
}

/* 1 if a snapshot is due at all (0: none, or one cannot be taken now). */
static int due(const node *n)
{
    uint64_t at = n->dispatched;
    return may_take(n) && at > n->snap.index && at >= n->snap_retry_at &&
           over(n, at, 100);
}

void node_snapshot_maybe(node *n)
{
    if (due(n) && over(n, n->dispatched, HARD_PERCENT))
        take(n, 0);
}

/* Every tick: a snapshot that is due, in a quiet moment. */
static void quiet_check(node *n)
{
    if (n->applied != n->quiet_applied) {
        n->quiet_applied = n->applied;
        n->quiet_since = n->ticks;
        return;
    }
    if (n->ticks - n->quiet_since >= QUIET_TICKS && n->dispatched == n->applied &&
        due(n))
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

/* ---- installing one (follower) ------------------------------------------- */

typedef struct install_job {
    node *n;
    raft_snapshot_meta meta;
    uint64_t seq, bytes;
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
    else {
        n->sm.replacing(n->sm.arg);
        j->rc = snapshot_load(n->sm.ops, n->sm.st, path, &h, &j->err);
        n->sm.settled(n->sm.arg);
    }
    if (j->rc == LMS_OK) {
        j->bytes = file_bytes(n, j->meta.index);
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
    if (j->meta.index > n->snap.index) {
        n->snap = j->meta;
        n->snap_size = j->bytes;
    }
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
    node_drop_proposals(n, LMS_UNKNOWN, NODE_FATE_UNKNOWN("a snapshot replaced the log"), 1);
    /* Raft installs only what node_transfer.c stepped, and it stepped
     * only this sealed file. */
    LMS_ASSERT(n->recv.sealed == meta->index);
    n->recv.sealed = 0;
    /* The file takes its final name before the reset is queued: the reset
     * must never be durable without it (a log that starts after S + 1
     * beside no snapshot S would be refused at start). Done here, on the
     * loop, because the ready's entries are queued right behind the reset;
     * it is one rename and one directory fsync per install. A crash after
     * it and before the reset restarts from S alone (snapshot_wal.h). */
    lms_err aerr;
    if (snapshot_adopt(n->snap_dir, meta->index, &aerr) != LMS_OK) {
        log_error("installing snapshot %llu: %s",
                  (unsigned long long)meta->index, aerr.msg);
        free(j);
        return -1;
    }
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

void node_snapshot_tick(node *n)
{
    node_transfer_tick(n);
    if (n->snap_full_since && mono_ms() >= n->snap_full_retry_ms && may_take(n)) {
        n->snap_full_retry_ms = mono_ms() + SNAP_FULL_RETRY_MS;
        if (n->snap.index < n->dispatched)
            take(n, 0);
        else
            n->snap_full_since = 0; /* nothing new to write any more */
    }
    quiet_check(n);
    if (n->ticks % 20 == 0) {
        idle_check(n);
        /* a compaction held back for a member's snapshot stream
         * (node_transfer_keep) goes on once that hold ends, not only at
         * the next snapshot, which may be long in coming */
        uint64_t before = n->compacted;
        if (n->compact_held && !n->snapshotting && n->snap.index > before &&
            n->r && !n->closing && !n->failed) {
            compact(n, n->snap.index, 0);
            if (n->compacted > before)
                log_info("snapshot at index %llu: log compacted up to %llu "
                         "(held for a member's snapshot stream until now)",
                         (unsigned long long)n->snap.index,
                         (unsigned long long)n->compacted);
        }
    }
}

int node_snapshot_start(node *n, lms_err *err)
{
    n->snap_thread = workers_start(n->base, "snapshot", 1, 0);
    if (!n->snap_thread)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "cannot start the snapshot thread");
    return node_transfer_start(n, err);
}

void node_snapshot_close(node *n)
{
    node_transfer_close(n);
    atomic_store(&n->snap_cancel, 1);
    if (n->snap_thread)
        workers_stop(n->snap_thread); /* runs take_done: closing */
}

void node_snapshot_free(node *n)
{
    node_transfer_free(n);
    workers_free(n->snap_thread);
    n->snap_thread = NULL;
}

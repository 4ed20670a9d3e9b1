/* SPDX-License-Identifier: MIT */
/*
 * node_backup.c: a backup streamed to a client (node.h, node_backup), and
 * a backup made into a new node's first snapshot (node_restore_backup).
 *
 * Streaming. The leader pins a view of its state as the node's own
 * snapshots do (node_snapshot.c): a job on the storage thread, queued
 * behind every apply batch handed out so far, finds the store at exactly
 * the dispatched index and calls snapshot_pin; the header names that
 * index, the term of its entry and the Raft configuration there. A
 * thread of its own ("backup", at background priority) writes the view
 * with snapshot_write_view into pieces of NODE_BACKUP_PIECE bytes; each
 * full piece is handed to the loop, which sends it once the client's
 * output queue has room (sink->room). The writer waits while the loop
 * still holds the previous piece, so at most two pieces and what the
 * sink allows in the output queue are in memory, whatever the state's
 * size. The loop checks the hand-over every BACKUP_POLL_MS.
 *
 * A client that leaves (sink->room says so), a client that had no room
 * for the next piece for BACKUP_STALL_MS, a stream that ran BACKUP_MAX_MS
 * in all, or a node that closes stops the writer at its next piece: the view is
 * unpinned on the writer thread as it returns, and the sink hears how it
 * ended (sink->done) only then. One backup at a time.
 */
#include "node_internal.h"

#include "clock.h"
#include "lms_assert.h"
#include "log.h"
#include "metrics.h"
#include "snapshot.h"
#include "wal.h"
#include "workers.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BACKUP_POLL_MS 5
#define BACKUP_STALL_MS 60000
#define BACKUP_MAX_MS (6 * 3600 * 1000)

typedef struct node_backup_job node_backup_job;

struct node_backup_job {
    node *n;
    node_backup_sink sink;
    raft_snapshot_meta meta;
    blob *cfg;
    void *view;
    int rc;
    lms_err err;
    uint64_t size;
    uint8_t digest[LMS_SHA256_LEN];
    /* writer thread: the piece being filled */
    uint8_t *fill;
    size_t fill_len;
    /* between the writer and the loop, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    blob *ready; /* a wrapped piece for the loop; NULL once taken */
    int stop;    /* the loop gave up: the writer returns at its next piece */
    /* loop */
    struct event *timer;
    int64_t started;
    int64_t waiting_since; /* a piece waits for the client's room; 0: none */
    int written;  /* the writer is done (write_done ran) */
    char why[160]; /* why the loop stopped it */
};

static void job_stop(node_backup_job *j, const char *why)
{
    pthread_mutex_lock(&j->mu);
    if (!j->stop) {
        j->stop = 1;
        snprintf(j->why, sizeof j->why, "%s", why);
    }
    blob *dropped = j->ready;
    j->ready = NULL;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    blob_unref(dropped);
}

/* Loop, once: tell the sink, let go of everything. */
static void job_finish(node_backup_job *j)
{
    node *n = j->n;
    node_backup_end end = {.rc = j->rc, .index = j->meta.index,
                           .term = j->meta.term, .size = j->size};
    if (j->rc == LMS_OK && j->stop)
        j->rc = end.rc = LMS_ABORTED;
    if (end.rc == LMS_OK) {
        memcpy(end.sha256, j->digest, sizeof end.sha256);
        metrics_add(&lms_metrics_g.backups_sent, 1);
        metrics_add(&lms_metrics_g.backup_bytes, j->size);
        log_info("backup at index %llu (term %llu): %llu bytes sent in "
                 "%lld ms; the view is released",
                 (unsigned long long)j->meta.index,
                 (unsigned long long)j->meta.term,
                 (unsigned long long)j->size,
                 (long long)(mono_ms() - j->started));
    } else {
        if (j->stop)
            snprintf(end.msg, sizeof end.msg, "backup stopped: %s", j->why);
        else
            snprintf(end.msg, sizeof end.msg, "backup failed: %s", j->err.msg);
        log_warn("backup at index %llu stopped after %llu bytes and %lld ms: "
                 "%s; the view is released", (unsigned long long)j->meta.index,
                 (unsigned long long)j->size,
                 (long long)(mono_ms() - j->started),
                 j->stop ? j->why : j->err.msg);
    }
    if (j->timer)
        event_free(j->timer);
    blob_unref(j->ready);
    blob_unref(j->cfg);
    free(j->fill);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    if (n->backup == j)
        n->backup = NULL;
    node_backup_sink sink = j->sink;
    free(j);
    sink.done(sink.arg, &end);
}

/* Loop: hand a ready piece to the client if it has room; deadlines; the
 * end once the writer is done and its last piece is out. */
static void job_pump(node_backup_job *j)
{
    int64_t now = mono_ms();
    pthread_mutex_lock(&j->mu);
    blob *b = j->stop ? NULL : j->ready;
    pthread_mutex_unlock(&j->mu);
    if (b) {
        int room = j->n->closing ? -1 : j->sink.room(j->sink.arg);
        if (room < 0) {
            job_stop(j, j->n->closing ? "the node is stopping"
                                      : "the client left");
        } else if (room > 0) {
            pthread_mutex_lock(&j->mu);
            j->ready = NULL;
            pthread_cond_broadcast(&j->cv);
            pthread_mutex_unlock(&j->mu);
            j->sink.send(j->sink.arg, b);
            j->waiting_since = 0;
        } else if (!j->waiting_since) {
            j->waiting_since = now;
        }
    }
    /* a writer slowed down by a busy node is no reason to stop; a client
     * that takes nothing is */
    if (j->waiting_since && now - j->waiting_since > BACKUP_STALL_MS)
        job_stop(j, "the client took nothing for 60 s");
    else if (!j->written && now - j->started > BACKUP_MAX_MS)
        job_stop(j, "it ran longer than 6 hours");
    else if (!j->written && !b && j->n->closing)
        job_stop(j, "the node is stopping");
    pthread_mutex_lock(&j->mu);
    int end = j->written && (j->ready == NULL || j->stop);
    pthread_mutex_unlock(&j->mu);
    if (end)
        job_finish(j);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    job_pump(arg);
}

/* Writer: hand the filled piece to the loop, after the previous one was
 * taken. -1 when the loop gave up. */
static int hand_over(node_backup_job *j)
{
    blob *b = j->sink.wrap(j->sink.arg, j->fill, j->fill_len);
    if (!b) {
        lms_err_set(&j->err, LMS_RESOURCE_EXHAUSTED, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&j->mu);
    while (j->ready && !j->stop)
        pthread_cond_wait(&j->cv, &j->mu);
    int stop = j->stop;
    if (!stop)
        j->ready = b;
    pthread_mutex_unlock(&j->mu);
    if (stop) {
        blob_unref(b);
        return -1;
    }
    j->fill_len = 0;
    return 0;
}

/* lms_snapshot_write_fn of the writer. */
static int piece_write(void *arg, const void *buf, size_t len)
{
    node_backup_job *j = arg;
    const uint8_t *p = buf;
    j->size += len;
    while (len > 0) {
        size_t take = NODE_BACKUP_PIECE - j->fill_len;
        if (take > len)
            take = len;
        memcpy(j->fill + j->fill_len, p, take);
        j->fill_len += take;
        p += take;
        len -= take;
        if (j->fill_len == NODE_BACKUP_PIECE && hand_over(j) != 0)
            return -1;
    }
    return 0;
}

static void unpin(node_backup_job *j);

/* Backup thread: write the pinned view, then let it go. */
static void write_work(void *arg)
{
    node_backup_job *j = arg;
    node *n = j->n;
    workers_thread_background(); /* applies and reads come first */
    lms_snapshot_header h = {.format = LMS_SNAPSHOT_FORMAT,
                             .index = j->meta.index,
                             .term = j->meta.term,
                             .config = j->cfg->data,
                             .config_len = j->cfg->len,
                             .created = wall_ms()};
    j->rc = n->sm.ops->snapshot_write_view(j->view, &h, piece_write, j,
                                          j->digest, &j->err);
    if (j->rc == LMS_OK && j->fill_len > 0 && hand_over(j) != 0)
        j->rc = LMS_ABORTED;
    unpin(j);
}

static void write_done(void *arg)
{
    node_backup_job *j = arg;
    j->written = 1;
    job_pump(j);
}

/* Storage thread: pin the state at the header's index (node_snapshot.c,
 * pin_work: the store must be at exactly that index). */
static void pin_work(void *arg)
{
    node_backup_job *j = arg;
    node *n = j->n;
    uint64_t at = 0;
    if (atomic_load(&n->storage_poisoned)) {
        j->rc = lms_err_set(&j->err, LMS_UNAVAILABLE, "an apply batch failed");
        return;
    }
    if (n->sm.ops->applied_index(n->sm.st, &at, &j->err) != LMS_OK) {
        j->rc = j->err.code;
        return;
    }
    if (at != j->meta.index) {
        j->rc = lms_err_set(&j->err, LMS_UNAVAILABLE,
                            "the store is at index %llu, not %llu; retry",
                            (unsigned long long)at,
                            (unsigned long long)j->meta.index);
        return;
    }
    j->rc = n->sm.ops->snapshot_pin(n->sm.st, &j->view, &j->err);
    if (j->rc != LMS_OK)
        j->view = NULL;
    else
        metrics_add(&lms_metrics_g.backup_pins, 1);
}

static void unpin(node_backup_job *j)
{
    j->n->sm.ops->snapshot_unpin(j->view);
    j->view = NULL;
    metrics_add(&lms_metrics_g.backup_unpins, 1);
}

static void pin_done(void *arg)
{
    node_backup_job *j = arg;
    node *n = j->n;
    if (j->rc == LMS_OK && (n->closing || n->failed))
        j->rc = lms_err_set(&j->err, LMS_UNAVAILABLE, "the node is stopping");
    struct timeval tv = {0, BACKUP_POLL_MS * 1000};
    if (j->rc == LMS_OK &&
        (!(j->timer = event_new(n->base, -1, EV_PERSIST, on_timer, j)) ||
         event_add(j->timer, &tv) < 0))
        j->rc = lms_err_set(&j->err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    if (j->rc == LMS_OK) {
        log_info("backup at index %llu (term %llu): view pinned, streaming",
                 (unsigned long long)j->meta.index,
                 (unsigned long long)j->meta.term);
        if (workers_submit(n->backup_thread, write_work, write_done, j) == 0)
            return;
        j->rc = lms_err_set(&j->err, LMS_UNAVAILABLE, "the node is stopping");
    }
    if (j->view)
        unpin(j);
    job_finish(j);
}

int node_backup(node *n, const node_backup_sink *sink, lms_err *err)
{
    const struct lms_storage_ops *ops = n->sm.ops;
    if (n->closing || n->failed || !n->r)
        return lms_err_set(err, LMS_UNAVAILABLE, "the node is stopping");
    if (!ops->snapshot_pin || !ops->snapshot_write_view || !ops->snapshot_unpin)
        return lms_err_set(err, LMS_UNIMPLEMENTED,
                           "the storage plugin cannot pin a view");
    if (n->backup)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "another backup is running; try again later");
    if (!n->backup_thread &&
        !(n->backup_thread = workers_start(n->base, "backup", 1, 0)))
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "cannot start the backup thread");
    node_backup_job *j = calloc(1, sizeof *j);
    if (!j || !(j->fill = malloc(NODE_BACKUP_PIECE))) {
        free(j);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    j->n = n;
    j->sink = *sink;
    j->started = mono_ms();
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    if (raft_snapshot_meta_at(n->r, n->dispatched, &j->meta) != RAFT_OK ||
        !(j->cfg = raft_conf_encode(&j->meta.config, NULL))) {
        pthread_cond_destroy(&j->cv);
        pthread_mutex_destroy(&j->mu);
        free(j->fill);
        free(j);
        return lms_err_set(err, LMS_UNAVAILABLE,
                           "the log does not describe index %llu now; retry",
                           (unsigned long long)n->dispatched);
    }
    if (workers_submit(n->storage, pin_work, pin_done, j) < 0) {
        blob_unref(j->cfg);
        pthread_cond_destroy(&j->cv);
        pthread_mutex_destroy(&j->mu);
        free(j->fill);
        free(j);
        return lms_err_set(err, LMS_UNAVAILABLE, "the node is stopping");
    }
    n->backup = j;
    return LMS_OK;
}

void node_backup_close(node *n)
{
    if (n->backup)
        job_stop(n->backup, "the node is stopping");
    if (n->backup_thread)
        workers_stop(n->backup_thread); /* runs write_done: the end */
}

void node_backup_free(node *n)
{
    workers_free(n->backup_thread);
    n->backup_thread = NULL;
}

/* ---- --restore ----------------------------------------------------------- */

/* Is the directory at path absent or empty? */
static int dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int node_restore_backup(const node_options *opts, const node_sm *m,
                        const char *path,
                        node_restore_info *out, lms_err *err)
{
    char snap_dir[4096], wal_dir[4096];
    memset(out, 0, sizeof *out);
    if (snprintf(snap_dir, sizeof snap_dir, "%s/snap", opts->data_dir) >=
            (int)sizeof snap_dir ||
        snprintf(wal_dir, sizeof wal_dir, "%s/wal", opts->data_dir) >=
            (int)sizeof wal_dir)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "data dir name too long");
    /* Nothing of a node may be here: this would replace it. */
    uint64_t applied = 0, users = 0;
    if (m->ops->applied_index(m->st, &applied, err) != LMS_OK ||
        m->ops->user_count(m->st, &users, err) != LMS_OK)
        return err->code;
    wal_hardstate hs;
    int hs_found = 0;
    if (wal_hardstate_read(wal_dir, &hs, &hs_found, err) != LMS_OK)
        return err->code;
    if (applied || users || hs_found || !dir_empty(snap_dir))
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "--restore: this node already has state (%s): "
                           "restoring would overwrite it. Restore into a "
                           "new node: an empty data dir and an empty store",
                           applied || users ? "its store is not empty"
                           : hs_found      ? "its command log has a "
                                             "term and vote"
                                           : "it has snapshots");
    /* The whole file checks out before anything changes (snapshot_rehead
     * reads it again, whole: a file that changed meanwhile is restored as
     * it is then, or refused). */
    snapshot_info chk;
    if (snapshot_check(path, &chk, NULL, err) != LMS_OK)
        return err->code;
    uint64_t index = chk.index;
    snapshot_info_free(&chk);
    if (index == 0)
        return lms_err_set(err, LMS_DATA_LOSS, "%s is a snapshot of an empty "
                           "log (index 0): no backup", path);
    wal *w = NULL;
    wal_options wo = {.segment_bytes = opts->segment_bytes};
    if (wal_open(wal_dir, &wo, &w, err) != LMS_OK)
        return err->code;
    int rc = LMS_OK;
    if (wal_last_index(w) >= wal_first_index(w) || wal_first_index(w) > 1)
        rc = lms_err_set(err, LMS_FAILED_PRECONDITION,
                         "--restore: this node already has state (its command "
                         "log in %s holds entries): restoring would overwrite "
                         "it. Restore into a new node", wal_dir);
    if (rc == LMS_OK && mkdir(snap_dir, 0700) != 0 && errno != EEXIST)
        rc = lms_err_set(err, LMS_INTERNAL, "cannot create %s: %s", snap_dir,
                         strerror(errno));
    /* The new cluster's configuration: this configuration's members, all
     * voters (as a new cluster starts), never the backup's. */
    raft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    node_member self = {opts->node_id, opts->peer_listen, ""};
    const node_member *mem = opts->n_members ? opts->members : &self;
    size_t nm = opts->n_members ? opts->n_members : 1;
    for (size_t i = 0; i < nm && i < RAFT_MAX_SERVERS; i++) {
        raft_server *s = &cfg.servers[cfg.n++];
        s->id = mem[i].id;
        s->role = RAFT_VOTER;
        snprintf(s->addr, sizeof s->addr, "%s %s",
                 mem[i].peer_addr ? mem[i].peer_addr : "-",
                 mem[i].client_addr ? mem[i].client_addr : "");
    }
    blob *cb = rc == LMS_OK ? raft_conf_encode(&cfg, NULL) : NULL;
    if (rc == LMS_OK && !cb)
        rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    /* 1. the snapshot file: the backup, checked whole (a damaged one
     * changes nothing), under a header of the new cluster (term 1). */
    snapshot_info info = {0};
    if (rc == LMS_OK)
        rc = snapshot_rehead(path, snap_dir, NODE_RESTORE_TERM, cb->data,
                             cb->len, &info, out->sha256, err);
    blob_unref(cb);
    /* 2. term and vote, then the log to start after the snapshot */
    if (rc == LMS_OK && wal_save_hardstate(w, NODE_RESTORE_TERM, 0, err) != LMS_OK)
        rc = err->code;
    if (rc == LMS_OK &&
        wal_reset(w, info.index, NODE_RESTORE_TERM, err) != LMS_OK)
        rc = err->code;
    wal_close(w);
    /* 3. the store, from the file just written (all or nothing; a crash
     * before it ends is finished by the next start, which restores the
     * store from the node's newest snapshot) */
    char file[4200];
    lms_snapshot_header h;
    if (rc == LMS_OK &&
        snapshot_path(snap_dir, info.index, file, sizeof file) != 0)
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT, "data dir name too long");
    if (rc == LMS_OK) {
        m->replacing(m->arg);
        if (snapshot_load(m->ops, m->st, file, &h, err) != LMS_OK)
            rc = err->code;
        m->settled(m->arg);
    }
    if (rc == LMS_OK) {
        out->index = info.index;
        out->term = info.term;
        out->size = info.size;
        snprintf(out->backend, sizeof out->backend, "%s", info.backend);
    }
    snapshot_info_free(&info);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * log_writer.c: see log_writer.h. The loop pushes operations onto a
 * mutex-guarded queue; the writer thread swaps the whole queue for an
 * empty one, writes it as one batch (consecutive appends go to wal_append
 * together), calls wal_sync once, and then wakes the loop through a pipe
 * whose read end is an event, as workers.c does. The two queues are
 * reused arrays, so a steady stream of appends allocates nothing.
 *
 * The acked index (see wal.h): the hardstate saved with a batch carries
 * the index synced before it; otherwise the thread rewrites it at most
 * once per ACKED_EVERY_MS when the synced index moved (between batches
 * under load, on a timed wait when idle) and once more at stop. So the
 * cost is one extra file replace (two fsyncs) per second, not per batch,
 * and the index on disk trails what was synced (and maybe acknowledged)
 * by about a second at most: a disk that loses the last second of
 * confirmed writes is not caught by it.
 */
#include "log_writer.h"

#include "fault.h"

#include "clock.h"
#include "lms_assert.h"
#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

enum { OP_APPEND, OP_TRUNCATE, OP_HARDSTATE, OP_COMPACT, OP_RESET };

#define ACKED_EVERY_MS 1000
#define FULL_RETRY_MS 1000 /* a full disk: try the held batch again */

typedef struct lw_item {
    uint64_t index; /* OP_TRUNCATE: keep entries up to this one;
                       OP_HARDSTATE: the vote; OP_COMPACT, OP_RESET: the
                       snapshot's index */
    uint64_t term;  /* OP_RESET: the snapshot's term */
    uint32_t type;
    int op;
    blob *data; /* our reference, NULL if none */
} lw_item;

typedef struct lw_queue {
    lw_item *v;
    size_t n, cap;
} lw_queue;

struct log_writer {
    wal *w; /* the writer thread's while it runs */
    log_writer_durable_fn on_durable;
    log_writer_error_fn on_error;
    void *arg;
    struct event *ev;
    int pipefd[2];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* guarded by mu */
    lw_queue queue;
    int stopping, failed, wake_pending;
    int full; /* a batch waits for disk space (log_writer_out_of_space) */
    char errmsg[sizeof(lms_err)];
    char fullmsg[sizeof(lms_err)];
    uint64_t durable, batches, durable_ops;
    uint64_t disk_avail, disk_seq; /* log_writer_disk_free */
    int disk_known;
    char *space_dir; /* whose file system log_writer_disk_free reads */
    /* loop thread only; first_index: the lowest index a truncation may keep
     * + 1 (raised by compaction, set by reset) */
    uint64_t next_index, first_index, last_term, reported_batches, queued_ops;
    int error_reported;
    /* writer thread only */
    int64_t acked_at; /* mono_ms of the last hardstate written */
    int64_t disk_read_at; /* mono_ms at the end of the last statvfs */
    lw_queue batch;
    /* A batch the disk had no room for is held and retried from where it
     * stopped: batch.v[pos..] are still to run, hs_done: its hardstate is
     * saved. Each operation the WAL refused for a full disk left the log
     * as it was (wal.h), so running it again is running it once. */
    int held, hs_done;
    size_t pos;
    int64_t full_since; /* mono_ms when the disk was found full */
    wal_entry *ents;
    size_t ents_cap;
};

static void release_items(lw_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        blob_unref(q->v[i].data);
    q->n = 0;
}

/* ---- the writer thread ---------------------------------------------------- */

static int append_run(log_writer *lw, size_t run, lms_err *err)
{
    return run ? wal_append(lw->w, lw->ents, run, err) : 0;
}

/* The newest hardstate of the batch, saved first (see the header). */
static int save_hardstate(log_writer *lw, lms_err *err)
{
    if (lw->hs_done)
        return 0;
    for (size_t i = lw->batch.n; i-- > 0;) {
        const lw_item *it = &lw->batch.v[i];
        if (it->op == OP_HARDSTATE) {
            lw->acked_at = mono_ms();
            return wal_save_hardstate(lw->w, it->term, it->index, err);
        }
    }
    return 0;
}

/* Rewrite the acked index if it trails the synced one and was last
 * written ACKED_EVERY_MS ago (or now, if force). */
static int pace_acked(log_writer *lw, int force, lms_err *err)
{
    if (!wal_acked_stale(lw->w))
        return 0;
    int64_t now = mono_ms();
    if (!force && now - lw->acked_at < ACKED_EVERY_MS)
        return 0;
    lw->acked_at = now;
    return wal_save_acked(lw->w, err);
}

/* Write lw->batch in order from lw->pos, then make it durable with one
 * wal_sync. lw->pos ends where the batch stopped: at the first append of
 * a run that failed, or at the operation that failed. */
static int write_batch(log_writer *lw, lms_err *err)
{
    int rc = save_hardstate(lw, err);
    if (rc)
        return rc;
    lw->hs_done = 1;
    if (lw->ents_cap < lw->batch.n) {
        wal_entry *ne = realloc(lw->ents, lw->batch.n * sizeof *ne);
        if (!ne)
            return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                               "log writer: out of memory");
        lw->ents = ne;
        lw->ents_cap = lw->batch.n;
    }
    size_t run = 0, appends = 0;
    for (size_t i = lw->pos; i < lw->batch.n; i++) {
        const lw_item *it = &lw->batch.v[i];
        if (it->op == OP_APPEND) {
            const blob *b = it->data;
            lw->ents[run++] = (wal_entry){it->index, it->term, it->type,
                                          b ? b->data : NULL, b ? b->len : 0};
            appends++;
            continue;
        }
        if (it->op == OP_HARDSTATE)
            continue;
        if (it->op != OP_RESET) { /* a reset would drop the run at once */
            rc = append_run(lw, run, err);
            if (rc)
                return rc;
            lw->pos = i;
        }
        run = 0;
        rc = it->op == OP_RESET ? wal_reset(lw->w, it->index, it->term, err)
             : it->op == OP_COMPACT ? wal_compact(lw->w, it->index, err)
                                    : wal_truncate_after(lw->w, it->index, err);
        if (rc)
            return rc;
        lw->pos = i + 1;
    }
    rc = append_run(lw, run, err);
    if (rc)
        return rc;
    lw->pos = lw->batch.n;
    fault_fsync_stall(); /* a slow disk, in test builds (fault.h) */
    uint64_t t0 = metrics_now();
    rc = wal_sync(lw->w, err);
    if (!rc) {
        metrics_observe_since(&lms_metrics_g.fsync, t0);
        metrics_observe(&lms_metrics_g.log_batch, appends);
    }
    return rc;
}

/* Caller holds mu. One byte in the pipe wakes the loop; more are useless. */
static void wake_loop(log_writer *lw)
{
    if (lw->wake_pending)
        return;
    lw->wake_pending = 1;
    char c = 1;
    while (write(lw->pipefd[1], &c, 1) < 0 && errno == EINTR) {
    }
}


/* mu held on entry and return: read the free space (not under mu) if
 * LOG_WRITER_DISK_FREE_MS passed since the end of the last reading, or
 * now (force), and publish it. Never between a batch and its report: the
 * callers run it after wake_loop. */
static void refresh_disk(log_writer *lw, int force)
{
    if (!force && mono_ms() - lw->disk_read_at < LOG_WRITER_DISK_FREE_MS)
        return;
    pthread_mutex_unlock(&lw->mu);
    struct statvfs sv;
    int known = statvfs(lw->space_dir, &sv) == 0;
    uint64_t avail = known ? (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize : 0;
    lw->disk_read_at = mono_ms(); /* a slow statvfs does not run back to back */
    pthread_mutex_lock(&lw->mu);
    lw->disk_known = known;
    lw->disk_avail = avail;
    lw->disk_seq++;
}

/* mu held: wait for operations or stopping. Returns 1 instead when the
 * queue is empty and the acked index is due (a timed wait, so an idle
 * node still records what it synced within about a second). Meanwhile
 * the free space is read every LOG_WRITER_DISK_FREE_MS, so that what the
 * loop checks a write against is never older than that, busy or idle. */
static int wait_for_work(log_writer *lw)
{
    while (!lw->queue.n && !lw->stopping) {
        int64_t now = mono_ms();
        int64_t due = lw->disk_read_at + LOG_WRITER_DISK_FREE_MS;
        if (now >= due) {
            refresh_disk(lw, 1);
            continue;
        }
        if (wal_acked_stale(lw->w)) {
            int64_t acked_due = lw->acked_at + ACKED_EVERY_MS;
            if (now >= acked_due)
                return 1;
            if (acked_due < due)
                due = acked_due;
        }
        struct timespec ts = {(time_t)(due / 1000), (long)(due % 1000) * 1000000};
        pthread_cond_timedwait(&lw->cv, &lw->mu, &ts);
    }
    return 0;
}

/* mu held: the writer failed; refuse everything from now on. */
static void writer_failed(log_writer *lw, const lms_err *err)
{
    lw->failed = 1;
    snprintf(lw->errmsg, sizeof lw->errmsg, "%s", err->msg);
    release_items(&lw->queue);
    wake_loop(lw);
}

/* mu held: the disk is full. The first time, say so (once per outage). */
static void note_full(log_writer *lw, const lms_err *err)
{
    if (lw->full)
        return;
    lw->full = 1;
    lw->full_since = mono_ms();
    snprintf(lw->fullmsg, sizeof lw->fullmsg, "%s", err->msg);
    log_error("disk full: the command log in %s cannot grow (%s); writes "
              "wait and are refused until space is freed; retrying every "
              "%d ms", wal_dir(lw->w), err->msg, FULL_RETRY_MS);
    wake_loop(lw);
}

/* mu held: the held batch went through. */
static void note_space(log_writer *lw)
{
    if (!lw->full)
        return;
    lw->full = 0;
    log_warn("disk has space again: the command log in %s resumed after "
             "%lld ms", wal_dir(lw->w), (long long)(mono_ms() - lw->full_since));
    wake_loop(lw);
}

/* mu held on entry and return: write the queued batch, or the held one
 * again (and the acked index if due). A full disk holds the batch (it
 * stays in lw->batch, the loop keeps queuing behind it) and is not a
 * failure; 1 only when the writer failed for good. */
static int run_batch(log_writer *lw)
{
    if (!lw->held) {
        lw_queue t = lw->batch;
        lw->batch = lw->queue;
        lw->queue = t;
        lw->pos = 0;
        lw->hs_done = 0;
    }
    pthread_mutex_unlock(&lw->mu);

    lms_err err;
    lms_err_clear(&err);
    int rc = write_batch(lw, &err);
    int full = rc && wal_out_of_space(lw->w);
    uint64_t last = wal_last_index(lw->w);
    size_t ops = lw->batch.n;
    if (!full)
        release_items(&lw->batch);
    /* the acked index is a hint: a full disk only delays it */
    int acked_rc = rc ? 0 : pace_acked(lw, 0, &err);
    if (acked_rc && wal_out_of_space(lw->w))
        acked_rc = 0;

    pthread_mutex_lock(&lw->mu);
    lw->held = full;
    if (full) {
        note_full(lw, &err);
        return 0;
    }
    if (!rc) { /* durable, even if recording acked failed after it */
        LMS_ASSERT(lw->pos == ops);
        lw->durable = last;
        lw->durable_ops += ops;
        lw->batches++;
        note_space(lw);
        wake_loop(lw);
    }
    if (rc || acked_rc)
        writer_failed(lw, &err);
    return rc || acked_rc;
}

/* mu held on entry and return: record the acked index (force: at stop). */
static int run_acked(log_writer *lw, int force)
{
    pthread_mutex_unlock(&lw->mu);
    lms_err err;
    lms_err_clear(&err);
    int rc = pace_acked(lw, force, &err);
    if (rc && wal_out_of_space(lw->w))
        rc = 0; /* retried with the next batch or timed wait */
    pthread_mutex_lock(&lw->mu);
    if (rc)
        writer_failed(lw, &err);
    return rc;
}

/* mu held: wait FULL_RETRY_MS before the held batch is tried again, or
 * until stopping. */
static void wait_for_space(log_writer *lw)
{
    int64_t due = mono_ms() + FULL_RETRY_MS;
    struct timespec ts = {(time_t)(due / 1000), (long)(due % 1000) * 1000000};
    while (!lw->stopping && mono_ms() < due)
        pthread_cond_timedwait(&lw->cv, &lw->mu, &ts);
}

/* mu held: stopping with a batch the disk has no room for. Its entries
 * never became durable here, so nothing acknowledged depends on them. */
static void give_up_held(log_writer *lw)
{
    log_error("stopping with %zu command-log operation(s) not written: the "
              "disk is full (none of them was durable here, so none was "
              "acknowledged by this node)",
              lw->batch.n - lw->pos + lw->queue.n);
    release_items(&lw->batch);
    release_items(&lw->queue);
    lw->held = 0;
}

static void *writer_main(void *p)
{
    log_writer *lw = p;
    pthread_mutex_lock(&lw->mu);
    refresh_disk(lw, 1);
    lw->acked_at = mono_ms();
    for (;;) {
        int rc;
        if (lw->held) {
            wait_for_space(lw);
            rc = run_batch(lw); /* one last try when stopping */
            if (!rc && lw->held && lw->stopping) {
                give_up_held(lw);
                break;
            }
        } else if (wait_for_work(lw))
            rc = run_acked(lw, 0);
        else if (lw->queue.n)
            rc = run_batch(lw);
        else {
            run_acked(lw, 1); /* stopping, everything written */
            break;
        }
        if (rc)
            break;
        refresh_disk(lw, lw->held); /* after the batch was reported */
    }
    pthread_mutex_unlock(&lw->mu);
    return NULL;
}

/* ---- the loop side ---------------------------------------------------------- */

/* Tell the loop what the writer did since the last time. */
static void deliver(log_writer *lw)
{
    char msg[sizeof lw->errmsg];
    pthread_mutex_lock(&lw->mu);
    if (lw->wake_pending) {
        char buf[64];
        while (read(lw->pipefd[0], buf, sizeof buf) > 0) {
        }
        lw->wake_pending = 0;
    }
    uint64_t batches = lw->batches, durable = lw->durable;
    int failed = lw->failed;
    memcpy(msg, lw->errmsg, sizeof msg);
    pthread_mutex_unlock(&lw->mu);

    if (batches != lw->reported_batches) {
        lw->reported_batches = batches;
        if (lw->on_durable)
            lw->on_durable(lw->arg, durable);
    }
    if (failed && !lw->error_reported) {
        lw->error_reported = 1;
        if (lw->on_error)
            lw->on_error(lw->arg, msg);
        else
            log_error("log writer: %s", msg);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver(arg);
}

/* Queue it (taking a reference on its data). */
static int push(log_writer *lw, lw_item it)
{
    pthread_mutex_lock(&lw->mu);
    if (lw->stopping || lw->failed) {
        pthread_mutex_unlock(&lw->mu);
        return LMS_UNAVAILABLE;
    }
    lw_queue *q = &lw->queue;
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 256;
        lw_item *nv = realloc(q->v, ncap * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&lw->mu);
            return LMS_RESOURCE_EXHAUSTED;
        }
        q->v = nv;
        q->cap = ncap;
    }
    if (it.data)
        blob_ref(it.data);
    q->v[q->n++] = it;
    lw->queued_ops++;
    if (q->n == 1) /* the thread only ever waits on an empty queue */
        pthread_cond_signal(&lw->cv);
    pthread_mutex_unlock(&lw->mu);
    return 0;
}

int log_writer_append(log_writer *lw, uint64_t index, uint64_t term,
                      uint32_t type, blob *data)
{
    if (index != lw->next_index || term < lw->last_term ||
        (data && data->len > WAL_MAX_ENTRY_BYTES))
        return LMS_INVALID_ARGUMENT;
    int rc = push(lw, (lw_item){index, term, type, OP_APPEND, data});
    if (!rc) {
        lw->next_index = index + 1;
        lw->last_term = term;
    }
    return rc;
}

int log_writer_truncate_after(log_writer *lw, uint64_t index)
{
    if (index + 1 < lw->first_index)
        return LMS_INVALID_ARGUMENT;
    if (index + 1 >= lw->next_index)
        return 0;
    int rc = push(lw, (lw_item){index, 0, 0, OP_TRUNCATE, NULL});
    if (!rc) {
        lw->next_index = index + 1;
        lw->last_term = 0; /* the term at index is on disk: not checked */
    }
    return rc;
}

int log_writer_hardstate(log_writer *lw, uint64_t term, uint64_t vote)
{
    return push(lw, (lw_item){vote, term, 0, OP_HARDSTATE, NULL});
}

int log_writer_compact(log_writer *lw, uint64_t index)
{
    int rc = push(lw, (lw_item){index, 0, 0, OP_COMPACT, NULL});
    if (!rc) {
        /* entries up to index may be gone: a truncation must keep them */
        uint64_t keep = index < lw->next_index - 1 ? index : lw->next_index - 1;
        if (keep + 1 > lw->first_index)
            lw->first_index = keep + 1;
    }
    return rc;
}

int log_writer_reset(log_writer *lw, uint64_t index, uint64_t term)
{
    if (index == UINT64_MAX)
        return LMS_INVALID_ARGUMENT;
    int rc = push(lw, (lw_item){index, term, 0, OP_RESET, NULL});
    if (!rc) {
        lw->first_index = lw->next_index = index + 1;
        lw->last_term = term;
    }
    return rc;
}

uint64_t log_writer_queued(const log_writer *lw) { return lw->queued_ops; }

int log_writer_out_of_space(log_writer *lw, char *msg, size_t len)
{
    pthread_mutex_lock(&lw->mu);
    int full = lw->full;
    if (full && msg && len)
        snprintf(msg, len, "%s", lw->fullmsg);
    pthread_mutex_unlock(&lw->mu);
    return full;
}

int log_writer_disk_free(log_writer *lw, uint64_t *avail, uint64_t *seq)
{
    pthread_mutex_lock(&lw->mu);
    int known = lw->disk_known;
    *avail = lw->disk_avail;
    *seq = lw->disk_seq;
    pthread_mutex_unlock(&lw->mu);
    return known;
}

uint64_t log_writer_durable_ops(log_writer *lw)
{
    pthread_mutex_lock(&lw->mu);
    uint64_t n = lw->durable_ops;
    pthread_mutex_unlock(&lw->mu);
    return n;
}

uint64_t log_writer_sync_count(log_writer *lw)
{
    pthread_mutex_lock(&lw->mu);
    uint64_t n = lw->batches;
    pthread_mutex_unlock(&lw->mu);
    return n;
}

/* ---- start / stop ------------------------------------------------------------- */

static void free_writer(log_writer *lw)
{
    if (lw->ev)
        event_free(lw->ev);
    if (lw->pipefd[0] >= 0)
        close(lw->pipefd[0]);
    if (lw->pipefd[1] >= 0)
        close(lw->pipefd[1]);
    release_items(&lw->queue);
    release_items(&lw->batch);
    free(lw->queue.v);
    free(lw->batch.v);
    free(lw->ents);
    free(lw->space_dir);
    pthread_mutex_destroy(&lw->mu);
    pthread_cond_destroy(&lw->cv);
    free(lw);
}

int log_writer_start(struct event_base *base, wal *w, const char *space_dir,
                     log_writer_durable_fn on_durable,
                     log_writer_error_fn on_error, void *arg,
                     log_writer **out, lms_err *err)
{
    *out = NULL;
    log_writer *lw = calloc(1, sizeof *lw);
    if (lw && !(lw->space_dir = strdup(space_dir ? space_dir : wal_dir(w)))) {
        free(lw);
        lw = NULL;
    }
    if (!lw)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "log writer: out of memory");
    lw->pipefd[0] = lw->pipefd[1] = -1;
    pthread_mutex_init(&lw->mu, NULL);
    pthread_condattr_t ca; /* timed waits on mono_ms()'s clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lw->cv, &ca);
    pthread_condattr_destroy(&ca);
    lw->w = w;
    lw->on_durable = on_durable;
    lw->on_error = on_error;
    lw->arg = arg;
    lw->first_index = wal_first_index(w);
    lw->durable = wal_last_index(w);
    lw->next_index = lw->durable + 1;
    lw->last_term = wal_last_term(w);
    if (pipe2(lw->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
        int e = errno;
        free_writer(lw);
        return lms_err_set(err, LMS_INTERNAL, "log writer: pipe: %s", strerror(e));
    }
    lw->ev = event_new(base, lw->pipefd[0], EV_READ | EV_PERSIST, on_wake, lw);
    int rc = lw->ev && event_add(lw->ev, NULL) == 0 ? 0 : -1;
    if (!rc)
        rc = pthread_create(&lw->thread, NULL, writer_main, lw);
    if (rc) {
        free_writer(lw);
        return lms_err_set(err, LMS_INTERNAL, "log writer: cannot start: %s",
                           rc > 0 ? strerror(rc) : "event setup failed");
    }
    pthread_setname_np(lw->thread, "log-writer");
    *out = lw;
    return 0;
}

void log_writer_stop(log_writer *lw)
{
    if (!lw)
        return;
    pthread_mutex_lock(&lw->mu);
    lw->stopping = 1;
    pthread_cond_broadcast(&lw->cv);
    pthread_mutex_unlock(&lw->mu);
    pthread_join(lw->thread, NULL);
    deliver(lw);
    wal_close(lw->w);
    free_writer(lw);
}

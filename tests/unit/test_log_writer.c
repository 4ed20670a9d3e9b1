/* SPDX-License-Identifier: MIT */
/*
 * test_log_writer.c: the log-writer thread (core/repl/log_writer.c) over the
 * real WAL, driven from a libevent loop as lmsd drives it: appends on the
 * loop, on_durable / on_error back on the loop, data checked after stop by
 * reopening the WAL. Also prints the group-commit throughput it measures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log_writer.h"
#include "rm_tree.h"

#include <dirent.h>
#include <event2/event.h>
#include <ftw.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ENTRY_BYTES 200

typedef struct tfx tfx;
struct tfx {
    char dir[64];
    struct event_base *base;
    struct event *tick; /* wakes the loop so run_until can time out */
    log_writer *lw;
    uint64_t durable, durable_calls, errors;
    char errmsg[600];
    void (*hook)(tfx *t); /* run after each on_durable */
    uint64_t next, total, window;
    size_t seg_bytes; /* the WAL's segment size; 0: its default */
};

static void on_durable(void *arg, uint64_t index)
{
    tfx *t = arg;
    t->durable = index;
    t->durable_calls++;
    if (t->hook)
        t->hook(t);
}

static void on_error(void *arg, const char *msg)
{
    tfx *t = arg;
    t->errors++;
    snprintf(t->errmsg, sizeof t->errmsg, "%s", msg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void start_writer(tfx *t)
{
    wal *w = NULL;
    lms_err err = {0};
    wal_options opts = {.segment_bytes = t->seg_bytes};
    if (wal_open(t->dir, &opts, &w, &err))
        fail_msg("wal_open: %s", err.msg);
    if (log_writer_start(t->base, w, t->dir, on_durable, on_error, t, &t->lw,
                         &err))
        fail_msg("log_writer_start: %s", err.msg);
}

static int setup(void **state)
{
    tfx *t = calloc(1, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "lw-test-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    t->base = event_base_new();
    t->tick = event_new(t->base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 100 * 1000};
    event_add(t->tick, &tv);
    start_writer(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tfx *t = *state;
    log_writer_stop(t->lw);
    event_free(t->tick);
    event_base_free(t->base);
    umount2(t->dir, MNT_DETACH); /* a tmpfs test's mount; else a no-op */
    rm_tree(t->dir);
    free(t);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the loop until durable reaches index (or an error), at most 60 s. */
static void run_until_durable(tfx *t, uint64_t index)
{
    double deadline = now_s() + 60;
    while (t->durable < index && !t->errors) {
        if (now_s() > deadline)
            fail_msg("durable index %" PRIu64 " after 60 s, expected %" PRIu64,
                     t->durable, index);
        event_base_loop(t->base, EVLOOP_ONCE);
    }
}

/* Run the loop until the first mark queued operations are durable, and
 * deliver what the writer reported for them. */
static void run_until_ops(tfx *t, uint64_t mark)
{
    double deadline = now_s() + 60;
    while (log_writer_durable_ops(t->lw) < mark && !t->errors) {
        if (now_s() > deadline)
            fail_msg("%" PRIu64 " operations durable after 60 s, expected %" PRIu64,
                     log_writer_durable_ops(t->lw), mark);
        event_base_loop(t->base, EVLOOP_ONCE);
    }
    event_base_loop(t->base, EVLOOP_NONBLOCK); /* the wake-up, if still due */
    if (t->errors)
        fail_msg("log writer failed: %s", t->errmsg);
}

static void fill(uint64_t i, uint8_t *buf, size_t len)
{
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 7 + j);
}

static int append_one(tfx *t, uint64_t i, uint64_t term)
{
    uint8_t buf[ENTRY_BYTES];
    fill(i, buf, sizeof buf);
    blob *b = blob_copy(buf, sizeof buf);
    int rc = log_writer_append(t->lw, i, term, 0, b);
    blob_unref(b); /* the writer holds its own reference */
    return rc;
}

/* Stop the writer and check from..to (term) in a reopened WAL. */
static void stop_and_check(tfx *t, uint64_t from, uint64_t to, uint64_t term,
                           uint64_t last)
{
    log_writer_stop(t->lw);
    t->lw = NULL;
    wal *w = NULL;
    lms_err err = {0};
    assert_int_equal(wal_open(t->dir, NULL, &w, &err), 0);
    assert_int_equal(wal_last_index(w), last);
    uint8_t want[ENTRY_BYTES];
    for (uint64_t i = from; i <= to; i++) {
        wal_entry e;
        if (wal_read(w, i, &e, &err))
            fail_msg("wal_read(%" PRIu64 "): %s", i, err.msg);
        fill(i, want, sizeof want);
        if (e.term != term || e.len != ENTRY_BYTES || memcmp(e.data, want, e.len))
            fail_msg("entry %" PRIu64 ": term %" PRIu64 " len %zu, expected "
                     "term %" PRIu64 " and its 200 bytes", i, e.term, e.len, term);
        free((void *)e.data);
    }
    wal_close(w);
    start_writer(t); /* for teardown, and for tests that go on */
}

/* Stop the writer, reopen the WAL and check where it starts and ends. */
static void check_bounds(tfx *t, uint64_t first, uint64_t last)
{
    log_writer_stop(t->lw);
    t->lw = NULL;
    wal *w = NULL;
    lms_err err = {0};
    assert_int_equal(wal_open(t->dir, NULL, &w, &err), 0);
    uint64_t f = wal_first_index(w), l = wal_last_index(w);
    wal_close(w);
    if (f != first || l != last)
        fail_msg("reopened WAL holds %" PRIu64 "..%" PRIu64 ", expected %" PRIu64
                 "..%" PRIu64, f, l, first, last);
    start_writer(t);
}

static int is_seg(const struct dirent *d) { return strncmp(d->d_name, "wal-", 4) == 0; }

/* The first index of each segment file, in order; how many (at most max). */
static int seg_firsts(tfx *t, uint64_t *firsts, int max)
{
    struct dirent **ents;
    int n = scandir(t->dir, &ents, is_seg, alphasort);
    assert_true(n >= 0 && n <= max);
    for (int i = 0; i < n; i++) {
        firsts[i] = strtoull(ents[i]->d_name + 4, NULL, 10);
        free(ents[i]);
    }
    free(ents);
    return n;
}

/* ---- one batch on demand ------------------------------------------------------
 * To put several operations in one batch for sure, the idle writer thread is
 * parked in a signal handler while they are queued: it is then waiting for
 * work without holding the queue's lock (durable_ops, read under that lock,
 * has caught up with everything queued), so the pushes go through and the
 * whole queue is its next batch once released. */

static atomic_int writer_parked, writer_released;

static void park_handler(int sig)
{
    (void)sig;
    atomic_store(&writer_parked, 1);
    struct timespec ms = {0, 1000 * 1000};
    for (int i = 0; i < 10000 && !atomic_load(&writer_released); i++)
        nanosleep(&ms, NULL); /* at most 10 s, so a bug cannot hang the test */
}

/* The thread id of the one "log-writer" thread of this process. */
static pid_t writer_tid(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    pid_t tid = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && !tid) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
        FILE *f = de->d_name[0] != '.' ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && strcmp(comm, "log-writer\n") == 0)
            tid = (pid_t)atoi(de->d_name);
        fclose(f);
    }
    closedir(d);
    if (!tid)
        fail_msg("no thread named log-writer in /proc/self/task");
    return tid;
}

static void park_writer(tfx *t)
{
    run_until_ops(t, log_writer_queued(t->lw)); /* idle: nothing in flight */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = park_handler;
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
    atomic_store(&writer_parked, 0);
    atomic_store(&writer_released, 0);
    assert_int_equal(syscall(SYS_tgkill, getpid(), writer_tid(), SIGUSR1), 0);
    while (!atomic_load(&writer_parked))
        sched_yield();
}

static void release_writer(void) { atomic_store(&writer_released, 1); }

/* ---- tests ------------------------------------------------------------------- */

static void append_10k(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tfx *t = arg;
    for (uint64_t i = 1; i <= 10000; i++)
        if (append_one(t, i, 1))
            fail_msg("log_writer_append(%" PRIu64 ") refused", i);
}

static void test_10k_appends_group_commit(void **state)
{
    tfx *t = *state;
    event_base_once(t->base, -1, EV_TIMEOUT, append_10k, t, NULL);
    run_until_durable(t, 10000);
    assert_int_equal(t->errors, 0);
    assert_int_equal(t->durable, 10000);
    uint64_t syncs = log_writer_sync_count(t->lw);
    print_message("10000 appends: %" PRIu64 " fsyncs, %" PRIu64
                  " on_durable calls\n", syncs, t->durable_calls);
    assert_true(syncs >= 1);
    if (syncs >= 10000)
        fail_msg("expected batching: %" PRIu64 " fsyncs for 10000 appends", syncs);
    assert_true(t->durable_calls <= syncs);
    stop_and_check(t, 1, 10000, 1, 10000);
}

static void test_bad_appends_are_refused(void **state)
{
    tfx *t = *state;
    assert_int_equal(append_one(t, 2, 1), LMS_INVALID_ARGUMENT);
    assert_int_equal(append_one(t, 1, 5), 0);
    assert_int_equal(append_one(t, 1, 5), LMS_INVALID_ARGUMENT);
    assert_int_equal(append_one(t, 3, 5), LMS_INVALID_ARGUMENT);
    assert_int_equal(append_one(t, 2, 4), LMS_INVALID_ARGUMENT); /* term */
    blob *huge = malloc(sizeof *huge); /* a header that claims too much */
    atomic_init(&huge->refs, 1);
    huge->len = WAL_MAX_ENTRY_BYTES + 1;
    assert_int_equal(log_writer_append(t->lw, 2, 5, 0, huge), LMS_INVALID_ARGUMENT);
    free(huge);
    assert_int_equal(log_writer_append(t->lw, 2, 5, 0, NULL), 0); /* no data */
    run_until_durable(t, 2);
    assert_int_equal(t->errors, 0);
}

static void test_truncate_then_append(void **state)
{
    tfx *t = *state;
    for (uint64_t i = 1; i <= 100; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    run_until_durable(t, 100);
    assert_int_equal(log_writer_truncate_after(t->lw, 200), 0); /* no-op */
    assert_int_equal(log_writer_truncate_after(t->lw, 50), 0);
    assert_int_equal(append_one(t, 52, 2), LMS_INVALID_ARGUMENT);
    for (uint64_t i = 51; i <= 60; i++)
        assert_int_equal(append_one(t, i, 2), 0);
    /* queued but not written yet: truncated in order all the same */
    assert_int_equal(log_writer_truncate_after(t->lw, 55), 0);
    for (uint64_t i = 56; i <= 58; i++)
        assert_int_equal(append_one(t, i, 2), 0);
    t->durable = 0;
    run_until_durable(t, 58);
    assert_int_equal(t->durable, 58);
    stop_and_check(t, 51, 58, 2, 58);
    stop_and_check(t, 1, 50, 1, 58);
}

static void test_stop_drains_the_queue(void **state)
{
    tfx *t = *state;
    for (uint64_t i = 1; i <= 1000; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    log_writer_stop(t->lw); /* the loop never ran: stop reports */
    t->lw = NULL;
    assert_int_equal(t->durable, 1000);
    assert_int_equal(t->durable_calls, 1);
    t->durable = 0;
    start_writer(t);
    stop_and_check(t, 1, 1000, 1, 1000);
}

/* The free space of the log's file system is read on the writer's
 * thread, at its start and every LOG_WRITER_DISK_FREE_MS while idle, and
 * matches what statvfs says here. */
static void test_disk_free_is_read_off_the_loop_and_kept_fresh(void **state)
{
    tfx *t = *state;
    uint64_t avail = 0, seq = 0, seq2 = 0;
    double deadline = now_s() + 10;
    while (!log_writer_disk_free(t->lw, &avail, &seq) && now_s() < deadline)
        usleep(10 * 1000);
    assert_true(log_writer_disk_free(t->lw, &avail, &seq));
    assert_true(seq >= 1);
    struct statvfs sv;
    assert_int_equal(statvfs(t->dir, &sv), 0);
    uint64_t here = (uint64_t)sv.f_bavail * sv.f_frsize;
    /* the same file system: within what other processes wrote meanwhile */
    uint64_t diff = here > avail ? here - avail : avail - here;
    assert_true(diff < ((uint64_t)256 << 20));
    usleep(3 * LOG_WRITER_DISK_FREE_MS * 1000); /* idle: still read */
    assert_true(log_writer_disk_free(t->lw, &avail, &seq2));
    assert_true(seq2 > seq);
}

static void test_write_error_reaches_the_loop(void **state)
{
    tfx *t = *state;
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (uint64_t i = 1; i <= 40; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    run_until_durable(t, 40);
    setrlimit(RLIMIT_FSIZE, &old);
    assert_int_equal(t->errors, 1);
    assert_non_null(strstr(t->errmsg, "write"));
    assert_int_equal(append_one(t, 41, 1), LMS_UNAVAILABLE);
    event_base_loop(t->base, EVLOOP_NONBLOCK);
    assert_int_equal(t->errors, 1); /* reported once */
}

/* A full disk (a real one: a 1 MiB tmpfs) holds the batch: nothing more
 * is reported durable, no error, log_writer_out_of_space says so; once
 * space returns the held batch and everything queued behind it goes out,
 * in order, by itself. Needs root for the mount; skipped without it. */
static void test_full_disk_holds_the_batch_and_retries(void **state)
{
    tfx *t = *state;
    log_writer_stop(t->lw);
    t->lw = NULL;
    if (mount("tmpfs", t->dir, "tmpfs", 0, "size=1m,mode=0700") != 0) {
        start_writer(t);
        print_message("skipped: cannot mount tmpfs here (not root?)\n");
        skip();
    }
    start_writer(t);
    for (uint64_t i = 1; i <= 5; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    run_until_durable(t, 5);
    char filler[128];
    snprintf(filler, sizeof filler, "%s/filler", t->dir);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    static uint8_t chunk[4096];
    while (write(fd, chunk, sizeof chunk) > 0)
        ;
    close(fd);
    for (uint64_t i = 6; i <= 60; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    double until = now_s() + 1.5; /* past one retry */
    while (now_s() < until)
        event_base_loop(t->base, EVLOOP_ONCE);
    char why[256] = "";
    assert_true(log_writer_out_of_space(t->lw, why, sizeof why));
    assert_non_null(strstr(why, t->dir));
    assert_int_equal(t->errors, 0);
    assert_true(t->durable < 60);
    uint64_t held_at = t->durable;
    /* queuing goes on behind the held batch */
    for (uint64_t i = 61; i <= 70; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    assert_int_equal(unlink(filler), 0);
    double t0 = now_s();
    run_until_durable(t, 70);
    print_message("held at %" PRIu64 "; durable again %.2f s after space "
                  "returned\n", held_at, now_s() - t0);
    assert_true(now_s() - t0 < 3.0); /* retried every second */
    assert_false(log_writer_out_of_space(t->lw, NULL, 0));
    assert_int_equal(t->errors, 0);
    stop_and_check(t, 1, 70, 1, 70);
}

/* Raft's step: hardstate, truncation and entries queued together become
 * durable together; the op marks say when; the newest hardstate wins. */
static void test_hardstate_with_entries(void **state)
{
    tfx *t = *state;
    assert_int_equal(log_writer_queued(t->lw), 0);
    assert_int_equal(log_writer_hardstate(t->lw, 3, 2), 0);
    for (uint64_t i = 1; i <= 20; i++)
        assert_int_equal(append_one(t, i, 3), 0);
    uint64_t mark = log_writer_queued(t->lw);
    assert_int_equal(mark, 21);
    run_until_durable(t, 20);
    if (log_writer_durable_ops(t->lw) < mark)
        fail_msg("20 entries durable but only %" PRIu64 " of %" PRIu64
                 " operations", log_writer_durable_ops(t->lw), mark);
    lms_err err = {0};
    uint64_t term = 0, vote = 0;
    assert_int_equal(wal_hardstate_load(t->dir, &term, &vote, &err), 0);
    assert_int_equal(term, 3);
    assert_int_equal(vote, 2);

    /* a new term, a conflicting suffix cut and replaced, one batch */
    assert_int_equal(log_writer_hardstate(t->lw, 4, 0), 0);
    assert_int_equal(log_writer_hardstate(t->lw, 5, 1), 0);
    assert_int_equal(log_writer_truncate_after(t->lw, 15), 0);
    for (uint64_t i = 16; i <= 18; i++)
        assert_int_equal(append_one(t, i, 5), 0);
    mark = log_writer_queued(t->lw);
    assert_int_equal(mark, 27);
    t->durable = 0;
    run_until_durable(t, 18);
    while (log_writer_durable_ops(t->lw) < mark && !t->errors)
        event_base_loop(t->base, EVLOOP_ONCE);
    assert_int_equal(t->errors, 0);
    assert_int_equal(wal_hardstate_load(t->dir, &term, &vote, &err), 0);
    assert_int_equal(term, 5);
    assert_int_equal(vote, 1);
    stop_and_check(t, 16, 18, 5, 18);
    stop_and_check(t, 1, 15, 3, 18);
}

/* ---- the acked index ------------------------------------------------------ */

static wal_hardstate hs_on_disk(tfx *t)
{
    lms_err err = {0};
    wal_hardstate hs;
    int found = 0;
    if (wal_hardstate_read(t->dir, &hs, &found, &err) || !found)
        fail_msg("hardstate in %s: %s", t->dir, found ? err.msg : "missing");
    return hs;
}

static ino_t hs_inode(tfx *t)
{
    char path[128];
    snprintf(path, sizeof path, "%s/hardstate", t->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

/* A hardstate queued with entries carries the index synced before them,
 * never the entries it is written ahead of. */
static void test_hardstate_carries_the_synced_index(void **state)
{
    tfx *t = *state;
    assert_int_equal(log_writer_hardstate(t->lw, 2, 1), 0);
    for (uint64_t i = 1; i <= 5; i++)
        assert_int_equal(append_one(t, i, 2), 0);
    run_until_durable(t, 5);
    assert_true(hs_on_disk(t).acked <= 5);
    assert_int_equal(log_writer_hardstate(t->lw, 3, 0), 0);
    for (uint64_t i = 6; i <= 10; i++)
        assert_int_equal(append_one(t, i, 3), 0);
    run_until_durable(t, 10);
    wal_hardstate hs = hs_on_disk(t);
    if (hs.term != 3 || hs.acked < 5 || hs.acked > 10)
        fail_msg("hardstate term %" PRIu64 " acked %" PRIu64 ", expected "
                 "term 3 and acked in 5..10", hs.term, hs.acked);
}

/* Batches in a row rewrite the hardstate at most about once a second (not
 * once per batch), an idle writer still records what it synced within
 * about a second, and stop records the rest. */
static void test_acked_is_paced_and_catches_up(void **state)
{
    tfx *t = *state;
    assert_int_equal(log_writer_hardstate(t->lw, 1, 1), 0);
    run_until_ops(t, 1);
    double t0 = now_s();
    ino_t ino = hs_inode(t);
    int changes = 0;
    for (uint64_t i = 1; i <= 30; i++) {
        assert_int_equal(append_one(t, i, 1), 0);
        run_until_durable(t, i);
        ino_t now = hs_inode(t);
        changes += now != ino;
        ino = now;
        assert_true(hs_on_disk(t).acked <= i);
    }
    int bound = (int)((now_s() - t0) / 1.0) + 2;
    if (changes > bound)
        fail_msg("hardstate rewritten %d times in 30 batches over %.2f s, "
                 "expected at most %d", changes, now_s() - t0, bound);
    double deadline = now_s() + 5;
    while (hs_on_disk(t).acked != 30 && now_s() < deadline)
        usleep(20 * 1000);
    if (hs_on_disk(t).acked != 30)
        fail_msg("acked %" PRIu64 " 5 s after the last batch, expected 30",
                 hs_on_disk(t).acked);
    assert_int_equal(append_one(t, 31, 1), 0);
    run_until_durable(t, 31);
    log_writer_stop(t->lw);
    t->lw = NULL;
    assert_int_equal(hs_on_disk(t).acked, 31);
    start_writer(t);
}

/* A follower's conflicting suffix replaced below the acked index: the
 * index goes down with it, so the reopened log is not taken for damage. */
static void test_truncation_below_acked_reopens_clean(void **state)
{
    tfx *t = *state;
    assert_int_equal(log_writer_hardstate(t->lw, 1, 1), 0);
    for (uint64_t i = 1; i <= 20; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    run_until_durable(t, 20);
    log_writer_stop(t->lw); /* records acked 20 */
    t->lw = NULL;
    assert_int_equal(hs_on_disk(t).acked, 20);
    start_writer(t);
    assert_int_equal(log_writer_truncate_after(t->lw, 12), 0);
    assert_int_equal(append_one(t, 13, 2), 0);
    uint64_t mark = log_writer_queued(t->lw);
    run_until_ops(t, mark);
    log_writer_stop(t->lw);
    t->lw = NULL;
    assert_int_equal(hs_on_disk(t).acked, 13);
    wal *w = NULL;
    lms_err err = {0};
    assert_int_equal(wal_open(t->dir, NULL, &w, &err), 0);
    assert_int_equal(wal_cut_kind(w), WAL_CUT_NONE);
    assert_int_equal(wal_last_index(w), 13);
    assert_int_equal(wal_last_term(w), 2);
    wal_close(w);
    start_writer(t);
}

/* A batch with nothing but a hardstate is reported durable too. */
static void test_hardstate_alone(void **state)
{
    tfx *t = *state;
    assert_int_equal(log_writer_hardstate(t->lw, 9, 4), 0);
    uint64_t calls = t->durable_calls;
    while (t->durable_calls == calls && !t->errors)
        event_base_loop(t->base, EVLOOP_ONCE);
    assert_int_equal(log_writer_durable_ops(t->lw), 1);
    lms_err err = {0};
    uint64_t term = 0, vote = 0;
    assert_int_equal(wal_hardstate_load(t->dir, &term, &vote, &err), 0);
    assert_int_equal(term, 9);
    assert_int_equal(vote, 4);
}

/* Compaction queued between appends, with a hardstate, all in one batch:
 * it deletes the covered segments and nothing it need not, the durable index
 * is the batch's last entry, and every operation counts. */
static void test_compact_among_appends_in_one_batch(void **state)
{
    tfx *t = *state;
    log_writer_stop(t->lw);
    t->seg_bytes = 4096; /* 17 entries of 228 bytes a segment */
    start_writer(t);
    for (uint64_t i = 1; i <= 100; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    run_until_durable(t, 100);
    uint64_t s[64];
    int n = seg_firsts(t, s, 64);
    assert_true(n > 4);
    uint64_t keep = 0; /* the segment that holds 61 stays, so do later ones */
    for (int k = 0; k < n && s[k] <= 61; k++)
        keep = s[k];
    assert_true(keep > 1 && keep <= 61);
    uint64_t syncs = log_writer_sync_count(t->lw);

    park_writer(t);
    for (uint64_t i = 101; i <= 120; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    assert_int_equal(log_writer_compact(t->lw, 60), 0);
    for (uint64_t i = 121; i <= 140; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    assert_int_equal(log_writer_hardstate(t->lw, 1, 3), 0);
    /* entries up to 60 may be gone: cutting there is refused, not queued */
    assert_int_equal(log_writer_truncate_after(t->lw, 58), LMS_INVALID_ARGUMENT);
    uint64_t mark = log_writer_queued(t->lw);
    assert_int_equal(mark, 100 + 20 + 1 + 20 + 1);
    release_writer();
    run_until_ops(t, mark);
    assert_int_equal(log_writer_durable_ops(t->lw), mark);
    if (log_writer_sync_count(t->lw) - syncs != 1)
        fail_msg("expected the queued operations in one batch, got %" PRIu64,
                 log_writer_sync_count(t->lw) - syncs);
    assert_int_equal(t->durable, 140);
    lms_err err = {0};
    uint64_t term = 0, vote = 0;
    assert_int_equal(wal_hardstate_load(t->dir, &term, &vote, &err), 0);
    assert_int_equal(term, 1);
    assert_int_equal(vote, 3);
    uint64_t now[64];
    int m = seg_firsts(t, now, 64);
    if (now[0] != keep)
        fail_msg("oldest segment after compacting to 60 starts at %" PRIu64
                 ", expected %" PRIu64, now[0], keep);

    /* alone in a batch, compaction leaves the durable index where it was */
    uint64_t calls = t->durable_calls;
    assert_int_equal(log_writer_compact(t->lw, 139), 0);
    run_until_ops(t, mark + 1);
    assert_int_equal(t->durable_calls, calls + 1);
    assert_int_equal(t->durable, 140);
    uint64_t last_seg = 0;
    for (int k = 0; k < m && now[k] <= 140; k++)
        last_seg = now[k];
    check_bounds(t, last_seg, 140);
    stop_and_check(t, last_seg, 140, 1, 140);
}

/* A reset between appends in one batch drops what was queued before it; the
 * next append must be index + 1 at the snapshot's term or above. */
static void test_reset_among_appends_in_one_batch(void **state)
{
    tfx *t = *state;
    for (uint64_t i = 1; i <= 100; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    run_until_durable(t, 100);
    uint64_t syncs = log_writer_sync_count(t->lw);

    park_writer(t);
    for (uint64_t i = 101; i <= 120; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    assert_int_equal(log_writer_hardstate(t->lw, 2, 0), 0);
    assert_int_equal(log_writer_reset(t->lw, 150, 2), 0);
    assert_int_equal(append_one(t, 121, 2), LMS_INVALID_ARGUMENT);
    assert_int_equal(append_one(t, 152, 2), LMS_INVALID_ARGUMENT);
    assert_int_equal(append_one(t, 151, 1), LMS_INVALID_ARGUMENT); /* term */
    assert_int_equal(log_writer_truncate_after(t->lw, 140), LMS_INVALID_ARGUMENT);
    assert_int_equal(log_writer_truncate_after(t->lw, 150), 0); /* no-op */
    for (uint64_t i = 151; i <= 160; i++)
        assert_int_equal(append_one(t, i, 2), 0);
    assert_int_equal(log_writer_hardstate(t->lw, 3, 1), 0);
    uint64_t mark = log_writer_queued(t->lw);
    assert_int_equal(mark, 100 + 20 + 1 + 1 + 10 + 1);
    release_writer();
    run_until_ops(t, mark);
    if (log_writer_sync_count(t->lw) - syncs != 1)
        fail_msg("expected the queued operations in one batch, got %" PRIu64,
                 log_writer_sync_count(t->lw) - syncs);
    assert_int_equal(t->durable, 160);
    lms_err err = {0};
    uint64_t term = 0, vote = 0;
    assert_int_equal(wal_hardstate_load(t->dir, &term, &vote, &err), 0);
    assert_int_equal(term, 3); /* the newest of the batch */
    assert_int_equal(vote, 1);
    uint64_t s[8];
    assert_int_equal(seg_firsts(t, s, 8), 1);
    assert_int_equal(s[0], 151);
    check_bounds(t, 151, 160);
    stop_and_check(t, 151, 160, 2, 160);
}

/* on_durable reports the snapshot's index after a reset: back below the old
 * log or past it. */
static void test_reset_moves_the_durable_index(void **state)
{
    tfx *t = *state;
    for (uint64_t i = 1; i <= 100; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    run_until_durable(t, 100);
    assert_int_equal(log_writer_reset(t->lw, 40, 1), 0);
    run_until_ops(t, log_writer_queued(t->lw));
    assert_int_equal(t->durable, 40);
    for (uint64_t i = 41; i <= 45; i++)
        assert_int_equal(append_one(t, i, 1), 0);
    run_until_durable(t, 45);
    assert_int_equal(t->durable, 45);
    assert_int_equal(log_writer_reset(t->lw, 1000, 5), 0);
    run_until_ops(t, log_writer_queued(t->lw));
    assert_int_equal(t->durable, 1000);
    assert_int_equal(append_one(t, 1001, 4), LMS_INVALID_ARGUMENT);
    assert_int_equal(append_one(t, 1001, 5), 0);
    run_until_durable(t, 1001);
    assert_int_equal(t->durable, 1001);
    check_bounds(t, 1001, 1001);
    stop_and_check(t, 1001, 1001, 5, 1001);
}

/* A reset with nothing after it survives a restart; the writer started on
 * that log takes index + 1 at any term (the log has none to compare with). */
static void test_reset_then_restart(void **state)
{
    tfx *t = *state;
    assert_int_equal(append_one(t, 1, 1), 0);
    uint64_t queued = log_writer_queued(t->lw);
    assert_int_equal(log_writer_reset(t->lw, UINT64_MAX, 1), LMS_INVALID_ARGUMENT);
    assert_int_equal(log_writer_queued(t->lw), queued);
    assert_int_equal(log_writer_reset(t->lw, 77, 3), 0);
    assert_int_equal(log_writer_queued(t->lw), queued + 1);
    run_until_ops(t, queued + 1);
    assert_int_equal(t->durable, 77);
    check_bounds(t, 78, 77);
    assert_int_equal(append_one(t, 77, 1), LMS_INVALID_ARGUMENT);
    assert_int_equal(append_one(t, 78, 1), 0);
    t->durable = 0;
    run_until_durable(t, 78);
    stop_and_check(t, 78, 78, 1, 78);
}

/* Keep t->window entries in flight: what a leader with many clients does. */
static void refill(tfx *t)
{
    while (t->next <= t->total && t->next - 1 - t->durable < t->window)
        if (append_one(t, t->next++, 1))
            fail_msg("append %" PRIu64 " refused", t->next - 1);
}

static void test_throughput_200_byte_entries(void **state)
{
    tfx *t = *state;
    const char *env = getenv("LMS_BENCH_ENTRIES");
    t->total = env ? strtoull(env, NULL, 10) : 50000;
    env = getenv("LMS_BENCH_WINDOW");
    t->window = env ? strtoull(env, NULL, 10) : 256;
    t->next = 1;
    t->hook = refill;
    double t0 = now_s();
    refill(t);
    run_until_durable(t, t->total);
    double dt = now_s() - t0;
    uint64_t syncs = log_writer_sync_count(t->lw);
    print_message("throughput: %" PRIu64 " x %d-byte entries, %" PRIu64
                  " in flight: %.0f appends/s durable, %" PRIu64 " fsyncs "
                  "(%.1f entries each, %.2f ms per batch)\n",
                  t->total, ENTRY_BYTES, t->window, (double)t->total / dt, syncs,
                  (double)t->total / (double)syncs, dt * 1000 / (double)syncs);
    t->hook = NULL;
    assert_int_equal(t->errors, 0);
    assert_true(syncs < t->total);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_10k_appends_group_commit),
        T(test_bad_appends_are_refused),
        T(test_truncate_then_append),
        T(test_stop_drains_the_queue),
        T(test_disk_free_is_read_off_the_loop_and_kept_fresh),
        T(test_write_error_reaches_the_loop),
        T(test_full_disk_holds_the_batch_and_retries),
        T(test_hardstate_with_entries),
        T(test_hardstate_alone),
        T(test_hardstate_carries_the_synced_index),
        T(test_acked_is_paced_and_catches_up),
        T(test_truncation_below_acked_reopens_clean),
        T(test_compact_among_appends_in_one_batch),
        T(test_reset_among_appends_in_one_batch),
        T(test_reset_moves_the_durable_index),
        T(test_reset_then_restart),
        T(test_throughput_200_byte_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

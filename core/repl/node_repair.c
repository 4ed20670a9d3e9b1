/* SPDX-License-Identifier: MIT */
/*
 * node_repair.c: a member's command log that lost entries is refilled from
 * the leader before the member rejoins Raft (see PeerFetch in
 * proto/peer.proto).
 *
 * Why: Raft assumes that what a follower acknowledged stays in its log.
 * The leader never moves its idea of a follower's match index back, so a
 * follower that comes back without entries it acknowledged would be sent
 * entries after a gap it cannot fill, forever; and as a voter it could
 * elect a leader that lacks committed entries. A record that fails its
 * check while nothing after it was lost to a torn write (WAL_CUT_DAMAGED),
 * or a log that ends below the storage's applied index, may be such a
 * loss. An unfinished last record (a torn write) is not: no fsync covered
 * it, so it was never acknowledged.
 *
 * How: keep the prefix that is surely committed (up to the storage's
 * applied index), ask the members for the leader's log after it, write the
 * pieces as they come (each fsynced), until the leader's last index. What
 * to take from which answer is core/repl/repair_plan.c's decision (one leader,
 * one term, each piece continuing the last entry held); this file checks
 * the answers (peer_codec.c), carries out the plan's steps on the WAL and
 * keeps asking. When the leader compacted the entries needed, its
 * snapshot is installed first (node_repair_snap.c) and repair goes on
 * after it. It runs inside node_open, on a nested run of the event
 * loop, before Raft starts: meanwhile the node answers nobody and votes
 * for nobody.
 */
#include "node_internal.h"

#include "clock.h"
#include "lms_assert.h"
#include "log.h"
#include "peer_codec.h"
#include "repair_plan.h"
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TIMER_MS 200     /* how often the timer looks */
#define RESEND_MS 1000   /* ask the locked leader again after this */
#define NAG_EVERY_MS 5000

typedef unsigned long long ull;

/*
 * The marker <data_dir>/repairing exists, durably, from before repair
 * truncates the log to its committed prefix until the repair is done.
 * Without it a crash during repair would lose the reason to repair: the
 * truncation lowered the WAL's acked index, so the next start would see a
 * clean, short log and rejoin (and vote) without the entries this node
 * acknowledged.
 */
#define MARKER "repairing"

static int marker_path(const node *n, char *buf, size_t len)
{
    return snprintf(buf, len, "%s/" MARKER, n->opts.data_dir) < (int)len;
}

static int marker_exists(const node *n)
{
    char path[PATH_MAX];
    return marker_path(n, path, sizeof path) && access(path, F_OK) == 0;
}

static int fsync_data_dir(const node *n, lms_err *err)
{
    int dfd = open(n->opts.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return lms_err_set(err, LMS_INTERNAL, "%s: fsync: %s",
                           n->opts.data_dir, strerror(e));
    }
    close(dfd);
    return LMS_OK;
}

/* Create the marker (its content is for people: what was held). */
static int marker_set(const node *n, uint64_t last, uint64_t keep, lms_err *err)
{
    char path[PATH_MAX];
    if (!marker_path(n, path, sizeof path))
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "data dir path too long");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char text[200];
    int len = snprintf(text, sizeof text,
                       "log repair under way: the log ended at %llu, kept up "
                       "to %llu; lmsd repairs again at start until it is done\n",
                       (ull)last, (ull)keep);
    ssize_t wrote = fd < 0 ? -1 : write(fd, text, (size_t)len);
    if (wrote >= 0 && wrote != len)
        errno = ENOSPC; /* a short write: the disk is full */
    if (fd < 0 || wrote != len || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return lms_err_set(err, LMS_INTERNAL, "%s: cannot write: %s", path,
                           strerror(e));
    }
    close(fd);
    return fsync_data_dir(n, err);
}

static int marker_clear(const node *n, lms_err *err)
{
    char path[PATH_MAX];
    if (!marker_path(n, path, sizeof path))
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "data dir path too long");
    if (unlink(path) < 0 && errno != ENOENT)
        return lms_err_set(err, LMS_INTERNAL, "%s: cannot remove: %s", path,
                           strerror(errno));
    return fsync_data_dir(n, err);
}

/* Does the log need the leader's entries before Raft may start? */
int node_log_needs_repair(const node *n, wal *w, uint64_t storage_applied)
{
    return wal_cut_kind(w) == WAL_CUT_DAMAGED ||
           storage_applied > wal_last_index(w) || marker_exists(n);
}

static void ask(node *n)
{
    repair *rp = n->rp;
    Lms__PeerFetch f = LMS__PEER_FETCH__INIT;
    repair_plan_request(&rp->plan, &f);
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_FETCH;
    msg.fetch = &f;
    rp->asked_ms = mono_ms();
    uint64_t to = repair_plan_ask_to(&rp->plan);
    if (to) {
        peer_send(n->peers, to, &msg);
        return;
    }
    /* every member the log's configuration knows (node_learn_members),
     * and those of the config file it does not */
    for (uint32_t i = 0; i < n->known.n; i++)
        if (n->known.servers[i].id != n->opts.node_id)
            peer_send(n->peers, n->known.servers[i].id, &msg);
    for (size_t i = 0; i < n->opts.n_members; i++)
        if (n->opts.members[i].id != n->opts.node_id &&
            !raft_config_find(&n->known, n->opts.members[i].id))
            peer_send(n->peers, n->opts.members[i].id, &msg);
}

/* Every TIMER_MS: a silent leader, the nag, and asking again. */
static void on_ask_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node *n = arg;
    repair *rp = n->rp;
    int64_t now = mono_ms();
    char buf[512];
    if (repair_plan_tick(&rp->plan, now)) {
        repair_plan_describe(&rp->plan, buf, sizeof buf);
        log_warn("log repair: member %llu has not answered for %d ms: asking "
                 "every member again (%s)", (ull)rp->plan.leader,
                 REPAIR_SILENT_MS, buf);
    }
    if (now - rp->last_nag >= NAG_EVERY_MS) {
        rp->last_nag = now;
        repair_plan_describe(&rp->plan, buf, sizeof buf);
        log_warn("log repair: still not done: %s", buf);
    }
    if (!repair_plan_ask_to(&rp->plan) || now - rp->asked_ms >= RESEND_MS)
        ask(n);
}

static void finish(node *n, int failed)
{
    n->rp->done = 1;
    n->rp->failed = failed;
    event_base_loopbreak(n->base);
}

/* Entries (or a snapshot) of the leader of term plan.term are about to be
 * written: the node's durable term must be at least that (a node holding a
 * leader's entries is in its term, as if its AppendEntries had arrived); a
 * raised term has no vote. */
int node_repair_raise_term(repair *rp)
{
    if (rp->plan.term <= rp->hs_term)
        return LMS_OK;
    /* Through the open WAL, which keeps its own copy of the hardstate
     * (for the paced `acked` rewrites): saved by directory, the old term
     * would come back with the next rewrite. */
    if (wal_save_hardstate(rp->w, rp->plan.term, 0, &rp->err) != LMS_OK)
        return rp->err.code;
    rp->hs_term = rp->plan.term;
    return LMS_OK;
}

/* Write the first count entries of the piece (the plan checked that they
 * continue the log). */
static int store_piece(repair *rp, const Lms__PeerFetchReply *r, size_t count)
{
    if (!count)
        return LMS_OK;
    if (node_repair_raise_term(rp) != LMS_OK)
        return rp->err.code;
    wal_entry *ents = calloc(count, sizeof *ents);
    if (!ents)
        return lms_err_set(&rp->err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const Lms__PeerEntry *e = r->entries[i];
        ents[i] = (wal_entry){e->index, e->term, e->type, e->data.data,
                              e->data.len};
    }
    int rc = wal_append(rp->w, ents, count, &rp->err);
    if (rc == LMS_OK)
        rc = wal_sync(rp->w, &rp->err);
    free(ents);
    return rc;
}

/* Carry out the plan's step on the WAL. */
static int carry_out(node *n, const Lms__PeerFetchReply *r,
                     const repair_step *s)
{
    repair *rp = n->rp;
    if (s->restart) {
        log_warn("log repair: %s", s->reason);
        if (wal_truncate_after(rp->w, rp->plan.keep, &rp->err) != LMS_OK)
            return rp->err.code;
    } else if (s->ask_all) {
        log_warn("log repair: %s", s->reason);
    } else if (s->action == REPAIR_IGNORE) {
        log_debug("log repair: %s", s->reason);
    }
    switch (s->action) {
    case REPAIR_IGNORE:
        break;
    case REPAIR_APPEND:
        if (store_piece(rp, r, s->count) != LMS_OK)
            return rp->err.code;
        break;
    case REPAIR_SNAPSHOT: /* ask() asks for it; node_repair_snap.c */
        log_warn("log repair: %s", s->reason);
        break;
    }
    LMS_ASSERT(wal_last_index(rp->w) == rp->plan.last);
    return LMS_OK;
}

void node_repair_reply(node *n, uint64_t from, const Lms__PeerFetchReply *r)
{
    repair *rp = n->rp;
    if (!rp || rp->done)
        return;
    lms_err e = {0};
    if (peer_fetch_reply_check(r, &e) != LMS_OK) {
        log_warn("log repair: member %llu's answer refused: %s", (ull)from,
                 e.msg);
        return;
    }
    repair_step s = repair_plan_reply(&rp->plan, from, r, mono_ms());
    if (carry_out(n, r, &s) != LMS_OK) {
        finish(n, 1);
        return;
    }
    if (s.done || s.action != REPAIR_IGNORE || s.restart || s.ask_all)
        node_repair_next(n, &s);
}

void node_repair_next(node *n, const repair_step *s)
{
    repair *rp = n->rp;
    LMS_ASSERT(rp && !rp->done);
    if (s->done) {
        log_info("log repair: entries up to %llu fetched from the leader "
                 "(node %llu, term %llu)", (ull)rp->plan.last,
                 (ull)rp->plan.leader, (ull)rp->plan.term);
        finish(n, 0);
    } else {
        ask(n);
    }
}

void node_repair_fail(node *n)
{
    LMS_ASSERT(n->rp && !n->rp->done && n->rp->err.code != LMS_OK);
    finish(n, 1);
}

/* Leader side: entries of the in-memory log from `from` on, into r (at
 * least one if there is one, then up to PEER_FETCH_PIECE_BYTES), each with
 * a reference in refs. */
static size_t collect(node *n, uint64_t from, Lms__PeerFetchReply *r,
                      Lms__PeerEntry *pe, blob **refs)
{
    size_t k = 0, bytes = 0;
    raft_entry e;
    while (k < PEER_FETCH_MAX_ENTRIES &&
           raft_entry_at(n->r, from + k, &e) == RAFT_OK) {
        size_t len = e.data ? e.data->len : 0;
        if (k && bytes + len > PEER_FETCH_PIECE_BYTES)
            break;
        lms__peer_entry__init(&pe[k]);
        pe[k].index = e.index;
        pe[k].term = e.term;
        pe[k].type = e.type;
        pe[k].data.len = len;
        pe[k].data.data = len ? e.data->data : NULL;
        refs[k] = e.data ? blob_ref(e.data) : NULL;
        r->entries[k] = &pe[k];
        bytes += len;
        k++;
    }
    return k;
}

/* The arrays a piece is built in (the leader's). */
typedef struct piece_buf {
    Lms__PeerEntry *pe;
    blob **refs;
} piece_buf;

/* Leader side: r answers f: prev (the entry before from_index, or the last
 * one), then the piece after it, unless the asker's prev differs from
 * ours there (it sees our prev_term and starts over). */
static void serve_piece(node *n, const Lms__PeerFetch *f,
                        Lms__PeerFetchReply *r, piece_buf *pb)
{
    r->is_leader = 1;
    r->last_index = raft_get_last_index(n->r);
    uint64_t prev = f->from_index - 1 < r->last_index ? f->from_index - 1
                                                      : r->last_index;
    raft_term pt = 0;
    int rc = raft_term_at(n->r, prev, &pt);
    if (rc == RAFT_ERR_COMPACTED && n->snap.index > prev &&
        n->snap.index <= r->last_index) {
        r->error = (char *)"those entries were compacted behind a snapshot";
        r->snapshot_index = n->snap.index;
        r->snapshot_term = n->snap.term;
        return;
    }
    if (rc != RAFT_OK) {
        r->error = (char *)"the entry before from_index cannot be read";
        return;
    }
    r->prev_index = prev;
    r->prev_term = pt;
    if ((f->prev_term && f->prev_index == prev && f->prev_term != pt) ||
        prev == r->last_index)
        return;
    pb->pe = malloc(PEER_FETCH_MAX_ENTRIES * sizeof *pb->pe);
    pb->refs = malloc(PEER_FETCH_MAX_ENTRIES * sizeof *pb->refs);
    r->entries = malloc(PEER_FETCH_MAX_ENTRIES * sizeof *r->entries);
    if (!pb->pe || !pb->refs || !r->entries)
        r->error = (char *)"out of memory";
    else
        r->n_entries = collect(n, prev + 1, r, pb->pe, pb->refs);
}

/* Leader side: answer a member's PeerFetch (others name the leader). */
void node_serve_fetch(node *n, uint64_t from, const Lms__PeerFetch *f)
{
    lms_err e = {0};
    if (peer_fetch_check(f, &e) != LMS_OK) {
        log_warn("peer %llu: log repair request refused: %s", (ull)from,
                 e.msg);
        return;
    }
    if (n->r && f->term > raft_get_term(n->r)) {
        /* the asker ignores leaders older than its own term: none would
         * ever serve it unless this node moves to that term */
        log_info("member %llu repairs its log in term %llu, newer than ours "
                 "(%llu): following that term", (ull)from, (ull)f->term,
                 (ull)raft_get_term(n->r));
        if (raft_observe_term(n->r, f->term) == RAFT_OK)
            node_schedule_pump(n);
    }
    Lms__PeerFetchReply r = LMS__PEER_FETCH_REPLY__INIT;
    piece_buf pb = {NULL, NULL};
    /* Raft's own view, not the softstate of the last ready: the term may
     * have just moved above */
    r.leader = n->r ? raft_get_leader(n->r) : 0;
    r.term = n->r ? raft_get_term(n->r) : 0;
    if (n->r && raft_get_role(n->r) == RAFT_LEADER) {
        serve_piece(n, f, &r, &pb);
        /* only a member that still cannot be served from the log */
        if (f->want_snapshot && r.snapshot_index)
            node_snapshot_send_repair(n, from);
    }
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_FETCH_REPLY;
    msg.fetch_reply = &r;
    if (n->peers)
        peer_send(n->peers, from, &msg);
    for (size_t i = 0; i < r.n_entries; i++)
        blob_unref(pb.refs[i]);
    free(pb.pe);
    free(pb.refs);
    free(r.entries);
}

/* The term of entry keep, the end of the committed prefix: from the log,
 * or from the snapshot the log starts after. */
static int prefix_term(const node *n, wal *w, uint64_t keep, uint64_t *term,
                       lms_err *err)
{
    *term = 0;
    if (keep == 0)
        return LMS_OK;
    if (keep >= wal_first_index(w)) {
        wal_entry e;
        if (wal_read(w, keep, &e, err) != LMS_OK)
            return err->code;
        *term = e.term;
        free((void *)e.data);
        return LMS_OK;
    }
    if (keep == n->snap.index) {
        *term = n->snap.term;
        return LMS_OK;
    }
    return lms_err_set(err, LMS_DATA_LOSS,
                       "log repair: the term of entry %llu (the end of the "
                       "committed prefix) is unknown: the command log in "
                       "%s/wal starts at %llu and the snapshot is at %llu",
                       (ull)keep, n->opts.data_dir, (ull)wal_first_index(w),
                       (ull)n->snap.index);
}

/* Run the nested loop until the plan is done or failed. */
static int run_repair(node *n, repair *rp, lms_err *err)
{
    struct event *t = event_new(n->base, -1, EV_PERSIST, on_ask_timer, n);
    struct timeval tv = {0, TIMER_MS * 1000};
    if (!t || event_add(t, &tv) < 0) {
        if (t)
            event_free(t);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    n->rp = rp;
    ask(n);
    while (!rp->done)
        event_base_loop(n->base, EVLOOP_ONCE);
    node_repair_snap_close(n);
    n->rp = NULL;
    event_free(t);
    if (rp->failed)
        return lms_err_set(err, rp->err.code ? rp->err.code : LMS_UNAVAILABLE,
                           "%s", rp->err.msg);
    return LMS_OK;
}

int node_repair_log(node *n, wal *w, uint64_t storage_applied, lms_err *err)
{
    uint64_t last = wal_last_index(w);
    uint64_t keep = storage_applied < last ? storage_applied : last;
    uint64_t keep_term;
    log_warn("the command log may lack entries this node acknowledged (it "
             "ends at %llu, storage applied %llu): fetching the leader's log "
             "after %llu before rejoining", (ull)last, (ull)storage_applied,
             (ull)keep);
    repair rp = {.w = w, .last_nag = mono_ms(), .rx.rx.fd = -1};
    uint64_t vote; /* not needed here: raise_term writes no vote */
    if (prefix_term(n, w, keep, &keep_term, err) != LMS_OK ||
        wal_hardstate_load(wal_dir(w), &rp.hs_term, &vote, err) != LMS_OK)
        return err->code;
    /* every entry after keep must come from the one leader the plan
     * follows, so none of ours stays; the marker first (see MARKER) */
    if (marker_set(n, last, keep, err) != LMS_OK)
        return err->code;
    if (keep < last && wal_truncate_after(w, keep, err) != LMS_OK)
        return err->code;
    repair_plan_init(&rp.plan, n->opts.node_id, keep, keep_term, rp.hs_term,
                     mono_ms());
    int rc = run_repair(n, &rp, err);
    if (rc == LMS_OK) /* everything fetched is durable (each piece synced) */
        rc = marker_clear(n, err);
    return rc;
}

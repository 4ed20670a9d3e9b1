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
 * pieces as they come (each fsynced), until the leader's last index. This
 * runs inside node_open, on a nested run of the event loop, before Raft
 * starts: meanwhile the node answers nobody and votes for nobody.
 */
#include "node_internal.h"

#include "clock.h"
#include "log.h"
#include "wal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ASK_EVERY_MS 200
#define NAG_EVERY_MS 5000
#define FETCH_PIECE_BYTES ((size_t)4 << 20)

typedef struct repair {
    wal *w;
    uint64_t next;     /* the first index still missing */
    uint64_t leader;   /* who to ask (0: every member) */
    int done, failed;
    lms_err err;
    int64_t last_nag;
} repair;

/* Does the log need the leader's entries before Raft may start? */
int node_log_needs_repair(const node *n, wal *w, uint64_t storage_applied)
{
    (void)n;
    return wal_cut_kind(w) == WAL_CUT_DAMAGED ||
           storage_applied > wal_last_index(w);
}

static void ask(node *n)
{
    repair *rp = n->rp;
    Lms__PeerFetch f = LMS__PEER_FETCH__INIT;
    f.from_index = rp->next;
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_FETCH;
    msg.fetch = &f;
    if (rp->leader) {
        peer_send(n->peers, rp->leader, &msg);
        return;
    }
    for (size_t i = 0; i < n->opts.n_members; i++)
        if (n->opts.members[i].id != n->opts.node_id)
            peer_send(n->peers, n->opts.members[i].id, &msg);
    if (mono_ms() - rp->last_nag >= NAG_EVERY_MS) {
        rp->last_nag = mono_ms();
        log_warn("log repair: waiting for a leader to fetch entries %llu.. "
                 "from (a majority of the members must be running)",
                 (unsigned long long)rp->next);
    }
}

static void on_ask_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ask(arg);
}

static void finish(node *n, int failed)
{
    n->rp->done = 1;
    n->rp->failed = failed;
    event_base_loopbreak(n->base);
}

/* Write the leader's entries that continue our log. */
static int store_piece(repair *rp, const Lms__PeerFetchReply *r)
{
    wal_entry *ents = calloc(r->n_entries ? r->n_entries : 1, sizeof *ents);
    if (!ents)
        return lms_err_set(&rp->err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < r->n_entries; i++) {
        const Lms__PeerEntry *e = r->entries[i];
        if (e->index != rp->next + k)
            continue; /* an answer to an older request */
        ents[k++] = (wal_entry){e->index, e->term, e->type, e->data.data,
                                e->data.len};
    }
    int rc = k ? wal_append(rp->w, ents, k, &rp->err) : LMS_OK;
    if (rc == LMS_OK && k)
        rc = wal_sync(rp->w, &rp->err);
    if (rc == LMS_OK)
        rp->next += k;
    free(ents);
    return rc;
}

void node_repair_reply(node *n, uint64_t from, const Lms__PeerFetchReply *r)
{
    repair *rp = n->rp;
    if (!rp || rp->done)
        return;
    if (!r->is_leader) {
        if (r->leader && r->leader != n->opts.node_id)
            rp->leader = r->leader;
        return;
    }
    if (r->error[0]) {
        lms_err_set(&rp->err, LMS_UNAVAILABLE,
                    "log repair: the leader (node %llu) cannot send entries "
                    "from %llu: %s; take this node out (lms-admin "
                    "cluster-remove %llu), empty its data dir and add it "
                    "again (cluster-add): it then starts from the leader's "
                    "snapshot", (unsigned long long)from,
                    (unsigned long long)rp->next, r->error,
                    (unsigned long long)n->opts.node_id);
        finish(n, 1);
        return;
    }
    rp->leader = from;
    if (store_piece(rp, r) != LMS_OK) {
        finish(n, 1);
        return;
    }
    if (rp->next > r->last_index) {
        log_info("log repair: entries up to %llu fetched from the leader "
                 "(node %llu)", (unsigned long long)rp->next - 1,
                 (unsigned long long)from);
        finish(n, 0);
    } else {
        ask(n);
    }
}

#define PIECE_MAX_ENTRIES 4096

/* Leader side: entries of the in-memory log from `from` on, into r (at
 * least one if there is one, then up to FETCH_PIECE_BYTES), each with a
 * reference in refs. */
static size_t collect(node *n, uint64_t from, Lms__PeerFetchReply *r,
                      Lms__PeerEntry *pe, blob **refs)
{
    size_t k = 0, bytes = 0;
    raft_entry e;
    while (k < PIECE_MAX_ENTRIES && raft_entry_at(n->r, from + k, &e) == RAFT_OK) {
        size_t len = e.data ? e.data->len : 0;
        if (k && bytes + len > FETCH_PIECE_BYTES)
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

/* Leader side: answer a member's PeerFetch (others name the leader). */
void node_serve_fetch(node *n, uint64_t from, const Lms__PeerFetch *f)
{
    Lms__PeerFetchReply r = LMS__PEER_FETCH_REPLY__INIT;
    Lms__PeerEntry *pe = NULL;
    blob **refs = NULL;
    raft_entry e;
    r.leader = n->ss.leader;
    if (n->r && n->ss.role == RAFT_LEADER) {
        r.is_leader = 1;
        r.last_index = raft_get_last_index(n->r);
        pe = malloc(PIECE_MAX_ENTRIES * sizeof *pe);
        refs = malloc(PIECE_MAX_ENTRIES * sizeof *refs);
        r.entries = malloc(PIECE_MAX_ENTRIES * sizeof *r.entries);
        if (!pe || !refs || !r.entries)
            r.error = (char *)"out of memory";
        else if (f->from_index <= r.last_index &&
                 raft_entry_at(n->r, f->from_index, &e) == RAFT_ERR_COMPACTED)
            r.error = (char *)"those entries were compacted behind a snapshot";
        else
            r.n_entries = collect(n, f->from_index, &r, pe, refs);
    }
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_FETCH_REPLY;
    msg.fetch_reply = &r;
    if (n->peers)
        peer_send(n->peers, from, &msg);
    for (size_t i = 0; i < r.n_entries; i++)
        blob_unref(refs[i]);
    free(pe);
    free(refs);
    free(r.entries);
}

int node_repair_log(node *n, wal *w, uint64_t storage_applied, lms_err *err)
{
    uint64_t last = wal_last_index(w);
    uint64_t keep = storage_applied < last ? storage_applied : last;
    repair rp = {.w = w, .next = keep + 1, .last_nag = mono_ms()};
    log_warn("the command log may lack entries this node acknowledged (it "
             "ends at %llu, storage applied %llu): fetching the leader's log "
             "after %llu before rejoining",
             (unsigned long long)last, (unsigned long long)storage_applied,
             (unsigned long long)keep);
    if (keep < last && wal_truncate_after(w, keep, err) != LMS_OK)
        return err->code;
    struct event *t = event_new(n->base, -1, EV_PERSIST, on_ask_timer, n);
    struct timeval tv = {0, ASK_EVERY_MS * 1000};
    if (!t || event_add(t, &tv) < 0) {
        if (t)
            event_free(t);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    n->rp = &rp;
    ask(n);
    while (!rp.done)
        event_base_loop(n->base, EVLOOP_ONCE);
    n->rp = NULL;
    event_free(t);
    if (rp.failed)
        return lms_err_set(err, rp.err.code ? rp.err.code : LMS_UNAVAILABLE,
                           "%s", rp.err.msg);
    return LMS_OK;
}

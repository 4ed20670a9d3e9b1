/* SPDX-License-Identifier: MIT */
/*
 * node.c: core/repl/raft driven from the event loop (see node.h and
 * node_internal.h).
 *
 * Inputs (a tick of the clock, a message from the peer port, a proposal,
 * a read barrier, the log writer's "durable", the storage thread's
 * "applied") go straight into Raft; each schedules one pass of the ready
 * cycle, which runs once per loop iteration, after every input of that
 * iteration (so proposals that arrive together share a ready, a write and
 * an fsync). The cycle, per ready (several may be outstanding, advanced
 * in order):
 *
 *   take it:  send rd.msgs at once; queue hardstate, truncation and
 *             entries to the log writer and note its operation mark
 *   durable:  (the log writer's durable operations reach the mark) send
 *             rd.msgs_persisted, hand rd.committed to the storage thread,
 *             raft_advance
 *
 * Before Raft starts, a log that may have lost acknowledged entries is
 * refilled from the leader (node_repair.c). Committed entries are applied
 * by node_apply.c; members, membership and status are node_members.c's.
 */
#include "node_internal.h"

#include "clock.h"
#include "lms_assert.h"
#include "log.h"
#include "metrics.h"
#include "wal.h"
#include "workers.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#define MAX_OUTSTANDING 64        /* readies with something to persist */
#define MAX_OUTSTANDING_ALL 1024  /* any readies (reads, heartbeats): while
                                     the disk is full these pile up behind
                                     the held batch, and reads must go on */
#define FULL_HANDOVER_MS 2000     /* leader with a full disk: hand over */
/* What a command of len bytes takes on disk, roughly: its log entry, then
 * the storage's copy in its journal and in the database (SQLite's WAL
 * before a checkpoint moves it into the main file). */
#define DISK_COST(len) ((uint64_t)(len) * 3)
#define STATUS_EVERY_TICKS 5   /* a member reports to the leader */
#define RESEND_MIN_BYTES ((size_t)64 << 10) /* see redundant_append */
#define RESEND_AFTER_MS 1000

void node_fail(node *n, const char *msg)
{
    if (n->failed)
        return;
    n->failed = 1;
    log_error("node stops: %s", msg);
    if (n->opts.on_fatal)
        n->opts.on_fatal(n->opts.arg, msg);
}

void node_raft_failed(node *n, const char *what, int rc)
{
    char msg[200];
    snprintf(msg, sizeof msg, "raft: %s: %s", what, raft_strerror(rc));
    node_fail(n, msg);
}

void node_schedule_pump(node *n)
{
    if (n->pump_ev && !n->closing && !n->failed)
        event_active(n->pump_ev, EV_TIMEOUT, 1);
}

/* ---- the ready cycle -------------------------------------------------------- *
 *
 * One exception to "msgs_persisted once durable": a heartbeat response
 * vouches for nothing on disk (it echoes the leader's round for ReadIndex
 * and says the follower is alive), so it goes out at once instead of
 * waiting behind an fsync of appends it has nothing to do with. At worst
 * it carries a term that a crash then forgets, which costs an election,
 * never safety.
 */

/* Is m a large append whose entries are all in one already queued for the
 * same member, on the same connection, in the same term, less than a
 * second ago? A leader probing a follower resends from its next index on
 * every heartbeat answer; with a 10 MB entry that takes longer to write
 * than a heartbeat round, that would send it over and over. TCP delivers
 * the first copy unless the connection breaks (a new epoch). */
static int redundant_append(node *n, const raft_msg *m)
{
    size_t bytes = 0;
    for (size_t i = 0; i < m->n_entries; i++)
        bytes += m->entries[i].data ? m->entries[i].data->len : 0;
    if (m->type != RAFT_MSG_APPEND || bytes < RESEND_MIN_BYTES)
        return 0;
    sent_append *slot = NULL;
    for (size_t i = 0; i < RAFT_MAX_SERVERS && !slot; i++)
        if (n->sent[i].to == m->to || !n->sent[i].to)
            slot = &n->sent[i];
    if (!slot)
        return 0;
    uint64_t last = m->entries[m->n_entries - 1].index;
    uint64_t epoch = peer_epoch(n->peers, m->to);
    int64_t now = mono_ms();
    if (slot->to == m->to && slot->term == m->term && slot->epoch == epoch &&
        m->index >= slot->prev && last <= slot->last &&
        now - slot->at_ms < RESEND_AFTER_MS)
        return 1;
    *slot = (sent_append){m->to, m->term, m->index, last, epoch, now};
    return 0;
}

static void send_msg(node *n, const raft_msg *m)
{
    if (m->type == RAFT_MSG_SNAPSHOT) {
        node_snapshot_send(n, m->to); /* streamed by node_snapshot.c */
        return;
    }
    if (n->peers && redundant_append(n, m))
        return;
    if (!n->peers || peer_send_raft(n->peers, m) < 0)
        raft_report_unreachable(n->r, m->to);
}

static void on_softstate(node *n, const raft_softstate *ss)
{
    int was_leader = n->ss.role == RAFT_LEADER;
    if (ss->role != n->ss.role || ss->leader != n->ss.leader)
        log_info("raft: %s in term %llu, leader %llu%s",
                 raft_role_name(ss->role),
                 (unsigned long long)raft_get_term(n->r),
                 (unsigned long long)ss->leader,
                 ss->learner ? " (learner)" : "");
    if (ss->role == RAFT_LEADER && !was_leader)
        n->term_start = raft_get_last_index(n->r); /* its no-op, or later */
    n->ss = *ss;
    snprintf(n->leader_client, sizeof n->leader_client, "%s",
             node_client_addr_of(n, ss->leader));
    if (was_leader && ss->role != RAFT_LEADER) {
        node_snapshot_stop_sending(n);
        node_drop_reads(n, LMS_NOT_LEADER);
        node_drop_proposals(n, LMS_UNKNOWN, NODE_FATE_UNKNOWN("leadership changed"), 0);
    }
}

/* Queue the ready's durable part to the log writer. */
static int write_ready(node *n, const struct raft_ready *rd)
{
    int rc = 0;
    if (rd->has_hardstate)
        rc = log_writer_hardstate(n->lw, rd->hs.term, rd->hs.vote);
    if (!rc && rd->truncate)
        rc = log_writer_truncate_after(n->lw, rd->truncate_after);
    for (size_t i = 0; !rc && i < rd->n_entries; i++) {
        const raft_entry *e = &rd->entries[i];
        rc = log_writer_append(n->lw, e->index, e->term, e->type, e->data);
    }
    return rc;
}

static void note_reads(node *n, const struct raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_reads; i++)
        for (read_wait *w = n->reads; w; w = w->next)
            if (w->ctx == rd->reads[i].ctx) {
                w->index = rd->reads[i].index ? rd->reads[i].index : 1;
                break;
            }
}

/* Entries below the returned index are durable here: none is among the
 * entries, truncations or resets of outstanding readies that are not yet
 * durable. (0: an install is pending; nothing is safe to apply early.) */
static uint64_t durable_below(node *n)
{
    uint64_t durable = log_writer_durable_ops(n->lw), from = UINT64_MAX;
    for (size_t i = 0; i < n->n_outs; i++) {
        const outstanding *o = &n->outs[i];
        if (o->install || o->rd.snapshot)
            return 0;
        if (o->mark <= durable)
            continue;
        if (o->rd.truncate && o->rd.truncate_after + 1 < from)
            from = o->rd.truncate_after + 1;
        if (o->rd.n_entries && o->rd.entries[0].index < from)
            from = o->rd.entries[0].index;
    }
    return from;
}

/* Committed entries that are durable here need not wait for the fsync of
 * the newer entries their ready also carries (a leader under load would
 * otherwise apply every entry one fsync late): hand them to the storage
 * thread now, in order, oldest ready first. finish_durable skips them. */
static void apply_early(node *n)
{
    uint64_t below = durable_below(n);
    for (size_t i = 0; i < n->n_outs; i++) {
        const struct raft_ready *rd = &n->outs[i].rd;
        size_t k = 0;
        while (k < rd->n_committed && rd->committed[k].index < below)
            k++;
        if (k)
            node_apply_committed(n, rd->committed, k);
        if (k < rd->n_committed)
            return;
    }
}

/* Does rd write anything to the log (so it counts for MAX_OUTSTANDING)? */
static int ready_persists(const struct raft_ready *rd)
{
    return rd->has_hardstate || rd->truncate || rd->n_entries || rd->snapshot;
}

static size_t outstanding_persisting(const node *n)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_outs; i++)
        k += ready_persists(&n->outs[i].rd);
    return k;
}

static void take_ready(node *n)
{
    outstanding *o = &n->outs[n->n_outs];
    int rc = raft_ready(n->r, &o->rd);
    if (rc != RAFT_OK) {
        node_raft_failed(n, "ready", rc);
        return;
    }
    n->n_outs++;
    o->install = 0;
    struct raft_ready *rd = &o->rd;
    /* every log line says the term it was written in (log.h) */
    if (rd->has_hardstate)
        lms_log_set_term(rd->hs.term);
    if (rd->has_softstate)
        on_softstate(n, &rd->ss);
    if (rd->config_changed)
        node_update_peers(n);
    for (size_t i = 0; i < rd->n_msgs; i++)
        send_msg(n, &rd->msgs[i]);
    for (size_t i = 0; i < rd->n_msgs_persisted; i++)
        if (rd->msgs_persisted[i].type == RAFT_MSG_HEARTBEAT_RESP)
            send_msg(n, &rd->msgs_persisted[i]);
    if (rd->snapshot && node_snapshot_install(n, rd->snapshot, &o->install)) {
        node_fail(n, "cannot start installing the leader's snapshot");
        return;
    }
    if (write_ready(n, rd) != 0) {
        node_fail(n, "the command log does not take the entries Raft gave it");
        return;
    }
    note_reads(n, rd);
    o->mark = log_writer_queued(n->lw);
    if (rd->n_committed)
        apply_early(n);
}

/* Finish, in order, every outstanding ready that is durable. */
static void finish_durable(node *n)
{
    uint64_t durable = log_writer_durable_ops(n->lw);
    while (n->n_outs && n->outs[0].mark <= durable &&
           n->outs[0].install <= n->installed && !n->failed) {
        struct raft_ready rd = n->outs[0].rd;
        memmove(n->outs, n->outs + 1, (n->n_outs - 1) * sizeof *n->outs);
        n->n_outs--;
        for (size_t i = 0; i < rd.n_msgs_persisted; i++)
            if (rd.msgs_persisted[i].type != RAFT_MSG_HEARTBEAT_RESP)
                send_msg(n, &rd.msgs_persisted[i]); /* sent at take */
        node_apply_committed(n, rd.committed, rd.n_committed);
        int rc = raft_advance(n->r, &rd);
        if (rc != RAFT_OK)
            node_raft_failed(n, "advance", rc);
    }
}

static void pump(node *n)
{
    if (n->pumping || n->closing || n->failed)
        return;
    n->pumping = 1;
    for (;;) {
        finish_durable(n);
        if (n->failed || n->n_outs >= MAX_OUTSTANDING_ALL ||
            outstanding_persisting(n) >= MAX_OUTSTANDING || !raft_has_ready(n->r))
            break;
        take_ready(n);
    }
    node_check_reads(n);
    n->pumping = 0;
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

static void on_durable(void *arg, uint64_t index)
{
    (void)index;
    node_schedule_pump(arg);
}

static void on_log_error(void *arg, const char *msg)
{
    char buf[600];
    snprintf(buf, sizeof buf, "command log: %s", msg);
    node_fail(arg, buf);
}

/* ---- the clock and the peer port ------------------------------------------- */

/* Tell the leader how far this node got (lms-admin cluster-status). */
static void send_report(node *n)
{
    uint64_t leader = n->ss.leader;
    if (!n->peers || !leader || leader == n->opts.node_id)
        return;
    Lms__PeerStatus st = LMS__PEER_STATUS__INIT;
    st.term = raft_get_term(n->r);
    st.role = (uint32_t)n->ss.role;
    st.leader = leader;
    st.commit = raft_get_commit(n->r);
    st.applied = n->applied;
    st.last_index = raft_get_last_index(n->r);
    st.snapshot = n->snap.index;
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_STATUS;
    msg.status = &st;
    peer_send(n->peers, leader, &msg);
}

int node_out_of_space(node *n, char *msg, size_t len)
{
    char why[sizeof(lms_err)];
    why[0] = '\0';
    int full = (n->lw && log_writer_out_of_space(n->lw, why, sizeof why)) ||
               node_storage_out_of_space(n, why, sizeof why) ||
               n->snap_full_since;
    if (full && msg && len && n->storage_full_since && n->storage_unreachable)
        snprintf(msg, len,
                 "node %llu cannot reach its storage (%s); writes are refused "
                 "until it is back, and reads of the newest changes wait for it",
                 (unsigned long long)n->opts.node_id, why);
    else if (full && msg && len)
        snprintf(msg, len,
                 "node %llu: the disk holding %s is full; writes are refused "
                 "until space is freed; %s",
                 (unsigned long long)n->opts.node_id, n->opts.data_dir,
                 n->storage_full_since ? "reads of the newest changes wait for it too"
                                       : "reads still work");
    return full;
}

/* The rule of the reserve: may `need` bytes more be written where `avail`
 * are free and `reserve` must stay free (0: no reserve)? */
static int room_for(uint64_t avail, uint64_t need, uint64_t reserve)
{
    return !reserve || (avail >= need && avail - need >= reserve);
}

/* The free bytes of the data dir's file system for an unprivileged writer:
 * the log writer's latest reading (log_writer_disk_free: read on its
 * thread, every LOG_WRITER_DISK_FREE_MS at most), less what the writes let
 * through since that reading will take (disk_spent), so a burst between
 * two readings cannot run far into the reserve. *known = 0 when there is
 * no reading (then nothing is refused for the reserve: the full-disk path
 * still guards the writes). */
static uint64_t disk_free(node *n, int *known)
{
    uint64_t avail = 0, seq = 0;
    *known = n->lw && log_writer_disk_free(n->lw, &avail, &seq);
    if (seq != n->disk_seq) {
        n->disk_seq = seq;
        n->disk_spent = 0;
    }
    return avail > n->disk_spent ? avail - n->disk_spent : 0;
}

int node_check_room(node *n, uint64_t bytes, lms_err *err)
{
    char full[sizeof err->msg];
    if (node_out_of_space(n, full, sizeof full))
        return lms_err_set(err, n->storage_unreachable ? LMS_UNAVAILABLE
                                                       : LMS_RESOURCE_EXHAUSTED,
                           "%s", full);
    uint64_t reserve = n->opts.disk_reserve;
    int known = 0;
    uint64_t avail = reserve ? disk_free(n, &known) : 0;
    if (!reserve || !known)
        return LMS_OK;
    if (room_for(avail, DISK_COST(bytes), reserve))
        return LMS_OK;
    char with[96] = "";
    if (bytes >= (64u << 10))
        snprintf(with, sizeof with, " (this request takes about %.1f MiB)",
                 (double)DISK_COST(bytes) / (1 << 20));
    return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                       "node %llu: the disk holding %s has %.1f MiB free%s, "
                       "and %.1f MiB are kept in reserve (limits.disk_reserve); "
                       "writes are refused until space is freed; reads still work",
                       (unsigned long long)n->opts.node_id, n->opts.data_dir,
                       (double)avail / (1 << 20), with,
                       (double)reserve / (1 << 20));
}

/* A leader whose disk is full cannot make entries durable here, so it
 * commits nothing it does not need the others for, and refuses writes:
 * hand leadership to a member that can (every FULL_HANDOVER_MS while the
 * disk stays full; a lone voter keeps it and refuses). */
static void full_handover(node *n)
{
    if (n->ss.role != RAFT_LEADER || !node_out_of_space(n, NULL, 0))
        return;
    int64_t now = mono_ms();
    if (n->full_transfer_ms && now - n->full_transfer_ms < FULL_HANDOVER_MS)
        return;
    n->full_transfer_ms = now;
    uint64_t to = 0;
    if (node_transfer_leadership(n, &to) == LMS_OK)
        log_warn("%s: handing leadership to node %llu",
                 n->storage_unreachable ? "storage unreachable" : "disk full",
                 (unsigned long long)to);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    node *n = arg;
    (void)fd;
    (void)what;
    if (n->closing || n->failed)
        return;
    int rc = raft_tick(n->r);
    if (rc != RAFT_OK) {
        node_raft_failed(n, "tick", rc);
        return;
    }
    node_snapshot_tick(n);
    full_handover(n);
    node_check_reads(n); /* reads kept waiting by a full disk end */
    if (++n->ticks % STATUS_EVERY_TICKS == 0) {
        send_report(n);
        node_promote_learners(n);
        node_prune_peers(n);
    }
    node_schedule_pump(n);
}

/* A peer's message Raft refused: logged at most once a second, with the
 * number refused meanwhile, so that a flood of forged messages does not
 * flood the log too. */
static void refused_log(node *n, const raft_msg *m, const char *why)
{
    int64_t now = mono_ms();
    n->refused_quiet++;
    if (n->refused_logged_at && now - n->refused_logged_at < 1000)
        return;
    log_warn("raft: refused a %s from member %llu (term %llu, index %llu, "
             "commit %llu, %zu entries): %s (%llu refused since the last "
             "such line)", raft_msg_type_name(m->type),
             (unsigned long long)m->from, (unsigned long long)m->term,
             (unsigned long long)m->index, (unsigned long long)m->commit,
             m->n_entries, why, (unsigned long long)n->refused_quiet);
    n->refused_logged_at = now;
    n->refused_quiet = 0;
}

static void on_peer_raft(void *arg, const raft_msg *m)
{
    node *n = arg;
    if (!n->r || n->closing || n->failed)
        return; /* not started yet (log repair) */
    if (m->type == RAFT_MSG_SNAPSHOT) {
        /* only ever stepped by node_snapshot.c, once the file is here */
        log_warn("raft: member %llu sent snapshot metadata without the "
                 "snapshot; ignored", (unsigned long long)m->from);
        return;
    }
    const char *why = NULL;
    int rc = raft_msg_check(n->r, m, &why);
    if (rc == RAFT_OK)
        rc = raft_step(n->r, m);
    if (rc == RAFT_ERR_INVALID)
        refused_log(n, m, why ? why : "it contradicts committed entries");
    else if (rc != RAFT_OK)
        node_raft_failed(n, "step", rc);
    node_schedule_pump(n);
}

static void on_peer_status(void *arg, uint64_t from, const Lms__PeerStatus *st)
{
    node *n = arg;
    member_report *slot = NULL;
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++) {
        if (n->reports[i].id == from) {
            slot = &n->reports[i];
            break;
        }
        if (!n->reports[i].id && !slot)
            slot = &n->reports[i];
    }
    if (!slot)
        return;
    slot->id = from;
    slot->st = *st;
    slot->st.base.descriptor = NULL; /* a copy of the numbers only */
    slot->at_ms = mono_ms();
}

static void on_peer_forward(void *arg, uint64_t from, const uint8_t *cmd,
                            size_t len)
{
    node *n = arg;
    if (n->closing || n->failed || n->ss.role != RAFT_LEADER || !len)
        return;
    blob *b = blob_copy(cmd, len);
    if (!b)
        return;
    raft_index index = 0;
    if (raft_propose(n->r, b, &index, NULL, NULL) == RAFT_OK)
        log_info("proposed a command forwarded by member %llu at index %llu",
                 (unsigned long long)from, (unsigned long long)index);
    blob_unref(b);
    node_schedule_pump(n);
}

static void on_peer_unreachable(void *arg, uint64_t id)
{
    node *n = arg;
    if (!n->r || n->closing || n->failed)
        return;
    raft_report_unreachable(n->r, id);
    node_schedule_pump(n);
}

static void on_peer_fetch(void *arg, uint64_t from, const Lms__PeerFetch *f)
{
    node *n = arg;
    if (!n->closing && !n->failed)
        node_serve_fetch(n, from, f);
}

static void on_peer_fetch_reply(void *arg, uint64_t from,
                                const Lms__PeerFetchReply *r)
{
    node_repair_reply(arg, from, r);
}

static void on_peer_chunk(void *arg, uint64_t from,
                          const Lms__PeerSnapshotChunk *c)
{
    node *n = arg;
    if (n->rp) /* the leader's snapshot for log repair (no Raft yet) */
        node_repair_on_chunk(n, from, c);
    else
        node_snapshot_on_chunk(n, from, c);
}

static void on_peer_chunk_ack(void *arg, uint64_t from,
                              const Lms__PeerSnapshotAck *a)
{
    node *n = arg;
    if (n->r && !n->closing && !n->failed)
        node_snapshot_on_ack(n, from, a);
}

static int start_peers(node *n, lms_err *err)
{
    peer_options po = {.listen_addr = n->opts.peer_listen,
                       .self_id = n->opts.node_id,
                       .cluster = n->opts.cluster_id ? n->opts.cluster_id : "lms",
                       .tls = n->opts.tls,
                       .stray_answer = n->opts.stray_answer,
                       .max_frame_bytes = n->opts.max_peer_frame
                                              ? n->opts.max_peer_frame
                                              : (uint32_t)128 << 20};
    for (size_t i = 0; i < n->opts.n_members; i++)
        if (n->opts.members[i].id == n->opts.node_id)
            po.client_addr = n->opts.members[i].client_addr;
    peer_callbacks cb = {.on_raft = on_peer_raft,
                         .on_status = on_peer_status,
                         .on_forward = on_peer_forward,
                         .on_unreachable = on_peer_unreachable,
                         .on_fetch = on_peer_fetch,
                         .on_fetch_reply = on_peer_fetch_reply,
                         .on_chunk = on_peer_chunk,
                         .on_chunk_ack = on_peer_chunk_ack,
                         .arg = n};
    if (peer_start(n->base, &po, &cb, &n->peers, err) != LMS_OK)
        return err->code;
    for (size_t i = 0; i < n->opts.n_members; i++) {
        const node_member *m = &n->opts.members[i];
        if (m->id != n->opts.node_id && m->peer_addr &&
            peer_set_member(n->peers, m->id, m->peer_addr) != LMS_OK)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "member %llu: bad peer address '%s'",
                               (unsigned long long)m->id, m->peer_addr);
    }
    return LMS_OK;
}

/* ---- opening: the log, the hardstate, Raft --------------------------------- */

static void free_entries(raft_entry *v, size_t count)
{
    for (size_t i = 0; i < count; i++)
        blob_unref(v[i].data);
    free(v);
}

/* Every entry of w after index `after`, in order, with blobs of their own. */
static int load_entries(wal *w, uint64_t after, int conf_only,
                        raft_entry **out, size_t *count, lms_err *err)
{
    uint64_t first = wal_first_index(w), last = wal_last_index(w);
    if (first <= after)
        first = after + 1;
    size_t k = last >= first ? (size_t)(last - first + 1) : 0;
    raft_entry *v = calloc(k ? k : 1, sizeof *v);
    if (!v)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < k; i++) {
        wal_entry e;
        if (wal_read(w, first + i, &e, err) != LMS_OK) {
            free_entries(v, i);
            return err->code;
        }
        v[i] = (raft_entry){e.index, e.term, e.type, NULL};
        int keep = !conf_only || e.type == RAFT_ENTRY_CONF;
        if (keep && e.len && !(v[i].data = blob_copy(e.data, e.len))) {
            free((void *)e.data);
            free_entries(v, i);
            return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
        }
        free((void *)e.data);
    }
    *out = v;
    *count = k;
    return LMS_OK;
}

/* The initial configuration: every configured member votes. */
static void bootstrap_config(const node *n, raft_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < n->opts.n_members && i < RAFT_MAX_SERVERS; i++) {
        const node_member *m = &n->opts.members[i];
        raft_server *s = &cfg->servers[cfg->n++];
        s->id = m->id;
        s->role = RAFT_VOTER;
        snprintf(s->addr, sizeof s->addr, "%s %s",
                 m->peer_addr ? m->peer_addr : "-", m->client_addr);
    }
}

/* This node is the configuration's only voter. */
static int lone_voter(const raft_config *cfg, uint64_t self)
{
    unsigned voters = 0;
    for (uint32_t i = 0; i < cfg->n; i++)
        voters += cfg->servers[i].role == RAFT_VOTER;
    const raft_server *s = raft_config_find(cfg, self);
    return voters == 1 && s && s->role == RAFT_VOTER;
}

static void raft_opts(const node *n, raft_options *o)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    raft_options_init(o, n->opts.node_id);
    o->election_tick = n->opts.election_ticks ? n->opts.election_ticks : 10;
    o->heartbeat_tick = n->opts.heartbeat_ticks ? n->opts.heartbeat_ticks : 1;
    if (n->opts.max_term_jump)
        o->max_term_jump = n->opts.max_term_jump;
    o->seed = n->opts.node_id ^ (uint64_t)ts.tv_nsec ^
              ((uint64_t)ts.tv_sec << 20);
}

/* The configuration Raft will start with: the snapshot's, then the
 * configuration entries of the log after it (the bootstrap one for an
 * initial member with neither). Not cluster.members alone: a cluster
 * grown from one node by cluster-add still lists that one node there. If
 * the log cannot start Raft, the bootstrap configuration (restore() then
 * says what is wrong with the log). */
static void log_config(const node *n, wal *w, const raft_config *boot,
                       raft_config *out)
{
    raft_restore rs;
    memset(&rs, 0, sizeof rs);
    raft_entry *ents = NULL;
    size_t count = 0;
    lms_err err = {0};
    *out = *boot;
    if (load_entries(w, n->snap.index, 1, &ents, &count, &err) != LMS_OK)
        return;
    rs.snapshot = n->snap.index ? &n->snap : NULL;
    rs.bootstrap = node_opts_member(n, n->opts.node_id) ? boot : NULL;
    rs.entries = ents;
    rs.n_entries = count;
    raft_options o;
    raft_opts(n, &o);
    raft *r = NULL;
    if (raft_new(&o, &rs, &r) == RAFT_OK)
        *out = *raft_get_config(r);
    raft_free(r);
    free_entries(ents, count);
}

/* A log that cannot be trusted to hold what the storage applied (or what
 * this node acknowledged): a lone voter has nobody to ask and refuses to
 * start; a member of a cluster refills it from the leader first. Whether
 * it is alone is the log's configuration's call (log_config). */
static int reconcile(node *n, wal *w, uint64_t storage_applied,
                     const raft_config *boot, lms_err *err)
{
    uint64_t last = wal_last_index(w);
    raft_config cfg;
    log_config(n, w, boot, &cfg);
    if (lone_voter(&cfg, n->opts.node_id)) {
        if (wal_cut_kind(w) == WAL_CUT_DAMAGED && !n->opts.accept_log_loss)
            return lms_err_set(err, LMS_DATA_LOSS,
                               "the command log in %s/wal lost entries after "
                               "%llu that this node may have acknowledged "
                               "(see the log's ERROR lines), and it has no "
                               "other member to refill them from: restore "
                               "the data dir from a backup, or start once "
                               "with --accept-log-loss to go on without them",
                               n->opts.data_dir, (unsigned long long)last);
        if (wal_cut_kind(w) == WAL_CUT_DAMAGED) {
            log_warn("--accept-log-loss: starting from a command log that "
                     "ends at %llu; acknowledged entries after it may be "
                     "lost", (unsigned long long)last);
            /* accepted once: the hardstate stops recording more than the
             * log holds, so a restart needs the flag no more */
            if (wal_save_acked(w, err) != LMS_OK)
                return err->code;
        }
        if (storage_applied <= last)
            return LMS_OK;
        return lms_err_set(err, LMS_DATA_LOSS,
                           "storage has applied index %llu but the command log "
                           "in %s/wal ends at %llu: the log was lost or "
                           "truncated",
                           (unsigned long long)storage_applied,
                           n->opts.data_dir, (unsigned long long)last);
    }
    if (!node_log_needs_repair(n, w, storage_applied))
        return LMS_OK;
    node_learn_members(n, &cfg); /* whom repair asks, and hears */
    if (!n->peers)
        return lms_err_set(err, LMS_DATA_LOSS,
                           "the command log in %s/wal lost entries and there "
                           "is no peer port (listen.peer) to refill it from",
                           n->opts.data_dir);
    return node_repair_log(n, w, storage_applied, err);
}

static int new_raft(node *n, raft_restore *rs, lms_err *err)
{
    raft_options o;
    raft_opts(n, &o);
    int rc = raft_new(&o, rs, &n->r);
    if (rc != RAFT_OK)
        return lms_err_set(err, rc == RAFT_ERR_NOMEM ? LMS_RESOURCE_EXHAUSTED
                                                     : LMS_DATA_LOSS,
                           "raft cannot start from the log in %s/wal "
                           "(applied index %llu): %s",
                           n->opts.data_dir, (unsigned long long)rs->applied,
                           raft_strerror(rc));
    return LMS_OK;
}

/* Restore Raft from w; a lone voter first replays what it holds. */
static int restore(node *n, wal *w, const raft_config *boot, lms_err *err)
{
    raft_restore rs;
    memset(&rs, 0, sizeof rs);
    if (wal_hardstate_load(wal_dir(w), &rs.hs.term, &rs.hs.vote, err) != LMS_OK)
        return err->code;
    raft_entry *ents = NULL;
    size_t count = 0;
    if (load_entries(w, n->snap.index, 0, &ents, &count, err) != LMS_OK)
        return err->code;
    rs.snapshot = n->snap.index ? &n->snap : NULL;
    rs.bootstrap = node_opts_member(n, n->opts.node_id) ? boot : NULL;
    rs.entries = ents;
    rs.n_entries = count;
    rs.applied = n->applied;
    int rc = new_raft(n, &rs, err);
    uint64_t last = wal_last_index(w);
    if (rc == LMS_OK && lone_voter(raft_get_config(n->r), n->opts.node_id) &&
        last > n->applied) {
        /* every durable entry of a lone voter is committed */
        raft_free(n->r);
        n->r = NULL;
        rc = node_replay(n, w, last, err);
        rs.applied = n->applied;
        if (rc == LMS_OK)
            rc = new_raft(n, &rs, err);
    }
    free_entries(ents, count);
    n->dispatched = n->applied;
    return rc;
}

static int open_log(node *n, lms_err *err)
{
    char dir[PATH_MAX];
    uint64_t storage_applied = 0;
    raft_config boot;
    wal *w = NULL;
    snprintf(dir, sizeof dir, "%s/wal", n->opts.data_dir);
    bootstrap_config(n, &boot);
    wal_options wo = {.segment_bytes = n->opts.segment_bytes};
    if (n->sm.ops->applied_index(n->sm.st, &storage_applied, err) != LMS_OK ||
        wal_open(dir, &wo, &w, err) != LMS_OK)
        return err->code ? err->code : LMS_INTERNAL;
    int rc = node_snapshot_restore(n, w, &storage_applied, err);
    n->applied = storage_applied;
    if (rc == LMS_OK) /* before anything is fetched, voted or acknowledged */
        rc = wal_check_hardstate(w, n->snap.index, err);
    if (rc == LMS_OK)
        rc = reconcile(n, w, storage_applied, &boot, err);
    if (rc == LMS_OK)
        rc = restore(n, w, &boot, err);
    if (rc == LMS_OK)
        rc = log_writer_start(n->base, w, n->opts.data_dir, on_durable,
                              on_log_error, n, &n->lw,
                              err);
    if (rc != LMS_OK)
        wal_close(w);
    return rc;
}

static int start_clock(node *n, lms_err *err)
{
    unsigned ms = n->opts.tick_ms ? n->opts.tick_ms : 10;
    struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
    n->tick_ev = event_new(n->base, -1, EV_PERSIST, on_tick, n);
    n->pump_ev = event_new(n->base, -1, 0, on_pump, n);
    n->outs = calloc(MAX_OUTSTANDING_ALL, sizeof *n->outs);
    if (!n->tick_ev || !n->pump_ev || !n->outs || event_add(n->tick_ev, &tv) < 0)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "cannot start the clock");
    return LMS_OK;
}

int node_open(struct event_base *base, const node_options *opts,
              const node_sm *sm, struct workers *storage_thread, node **out,
              lms_err *err)
{
    *out = NULL;
    node *n = calloc(1, sizeof *n);
    if (!n)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    n->base = base;
    n->opts = *opts;
    if (!opts->n_members) { /* this node alone */
        n->self_member = (node_member){opts->node_id, opts->peer_listen, ""};
        n->opts.members = &n->self_member;
        n->opts.n_members = 1;
    }
    LMS_ASSERT(sm->ops && sm->st && sm->apply && sm->result_free &&
               sm->replacing && sm->settled && sm->is_write && sm->is_marker);
    n->sm = *sm;
    n->storage = storage_thread;
    int rc = node_verify_open(n, err);
    if (rc == LMS_OK && opts->peer_listen)
        rc = start_peers(n, err);
    if (rc == LMS_OK)
        rc = open_log(n, err);
    if (rc == LMS_OK)
        rc = start_clock(n, err);
    if (rc == LMS_OK)
        rc = node_snapshot_start(n, err);
    if (rc != LMS_OK) {
        node_close(n);
        node_free(n);
        return rc;
    }
    lms_log_set_term(raft_get_term(n->r)); /* the term it restarts in */
    if (lone_voter(raft_get_config(n->r), n->opts.node_id))
        raft_campaign(n->r); /* a majority of one: lead at once */
    node_update_peers(n);
    node_schedule_pump(n);
    *out = n;
    return LMS_OK;
}

/* ---- the API ------------------------------------------------------------------ */

void node_push_pending(node *n, pending *it, uint64_t index, uint64_t term,
                         node_proposal *p)
{
    *it = (pending){index, term, p, NULL, metrics_now()};
    if (n->pt)
        n->pt->next = it;
    else
        n->ph = it;
    n->pt = it;
}

int node_propose(node *n, blob *cmd, node_proposal *p, lms_err *err)
{
    if (n->closing || n->failed)
        return lms_err_set(err, LMS_UNAVAILABLE, "node is shutting down");
    if (node_check_room(n, cmd->len, err) != LMS_OK)
        return err->code;
    pending *it = p ? malloc(sizeof *it) : NULL;
    if (p && !it)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    raft_index index;
    raft_term term;
    raft_id hint = 0;
    int rc = raft_propose(n->r, cmd, &index, &term, &hint);
    if (rc != RAFT_OK) {
        free(it);
        if (rc == RAFT_ERR_NOT_LEADER)
            return lms_err_set(err, LMS_NOT_LEADER, "not the leader; %s%s",
                               n->leader_client[0] ? "try " : "no leader yet",
                               n->leader_client);
        if (rc == RAFT_ERR_TRANSFERRING || rc == RAFT_ERR_BUSY)
            return lms_err_set(err, LMS_UNAVAILABLE, "%s; retry",
                               raft_strerror(rc));
        node_raft_failed(n, "propose", rc);
        return lms_err_set(err, LMS_UNAVAILABLE, "node is stopping");
    }
    if (it)
        node_push_pending(n, it, index, term, p);
    n->disk_spent += DISK_COST(cmd->len);
    node_schedule_pump(n);
    return LMS_OK;
}

int node_read_barrier(node *n, node_read_fn cb, void *arg)
{
    if (n->closing || n->failed || n->ss.role != RAFT_LEADER)
        return LMS_NOT_LEADER;
    read_wait *w = calloc(1, sizeof *w);
    if (!w)
        return LMS_RESOURCE_EXHAUSTED;
    w->ctx = ++n->read_ctx;
    w->since = mono_ms();
    w->cb = cb;
    w->arg = arg;
    if (raft_read_index(n->r, w->ctx, NULL) != RAFT_OK) {
        free(w);
        return LMS_NOT_LEADER;
    }
    if (n->reads_tail)
        n->reads_tail->next = w;
    else
        n->reads = w;
    n->reads_tail = w;
    node_schedule_pump(n);
    return LMS_OK;
}

int node_forward(node *n, blob *cmd, lms_err *err)
{
    uint64_t leader = n->ss.leader;
    if (leader == n->opts.node_id)
        return node_propose(n, cmd, NULL, err);
    Lms__PeerForward fw = LMS__PEER_FORWARD__INIT;
    fw.command.data = cmd->data;
    fw.command.len = cmd->len;
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_FORWARD;
    msg.forward = &fw;
    if (!leader || !n->peers || peer_send(n->peers, leader, &msg) < 0)
        return lms_err_set(err, LMS_UNAVAILABLE, "no reachable leader");
    return LMS_OK;
}

int node_is_leader(const node *n) { return n->ss.role == RAFT_LEADER; }

int node_ready_for_writes(const node *n)
{
    return n->ss.role == RAFT_LEADER && !n->closing && !n->failed &&
           n->applied >= n->term_start;
}
uint64_t node_leader_id(const node *n) { return n->ss.leader; }
const char *node_leader_client_addr(const node *n) { return n->leader_client; }
int node_peer_port(const node *n) { return n->peers ? peer_port(n->peers) : 0; }
uint64_t node_last_index(const node *n) { return raft_get_last_index(n->r); }
uint64_t node_commit_index(const node *n) { return raft_get_commit(n->r); }
uint64_t node_term(const node *n) { return n->r ? raft_get_term(n->r) : 0; }
uint64_t node_applied_index(const node *n) { return n->applied; }
uint64_t node_id(const node *n) { return n->opts.node_id; }

void node_close(node *n)
{
    if (!n || n->closing)
        return;
    n->closing = 1;
    if (n->tick_ev)
        event_del(n->tick_ev);
    node_backup_close(n);
    node_snapshot_close(n);
    peer_free(n->peers);
    n->peers = NULL;
    log_writer_stop(n->lw); /* everything queued is now durable */
    n->lw = NULL;
    node_drop_reads(n, LMS_UNAVAILABLE);
    node_drop_proposals(n, LMS_UNKNOWN, NODE_FATE_UNKNOWN("the node is shutting down"), 1);
    node_apply_close(n);
    /* The caller now stops the storage thread, which finishes the batches
     * it holds and runs their apply_done() before it returns; then
     * node_free(). */
}

void node_free(node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_outs; i++)
        raft_ready_free(&n->outs[i].rd);
    free(n->outs);
    node_apply_close(n);
    raft_free(n->r);
    node_backup_free(n);
    node_snapshot_free(n);
    node_verify_free(n);
    if (n->tick_ev)
        event_free(n->tick_ev);
    if (n->pump_ev)
        event_free(n->pump_ev);
    free(n);
}

/* SPDX-License-Identifier: MIT */
/*
 * node_internal.h: what the parts of the node share (not an API; see
 * node.h). node.c runs Raft's ready cycle on the loop: the clock, the peer
 * port, the log writer, proposals and reads. node_apply.c moves committed
 * entries through the storage thread and answers the proposals and reads
 * that waited for them. node_members.c knows the members (addresses,
 * membership changes, status); node_repair.c refills a damaged log,
 * node_repair_snap.c installs the leader's snapshot when the leader
 * compacted what the log needs.
 *
 * Watermarks, all on the loop thread:
 *   raft's last / commit   in core/repl/raft (raft_get_last_index, _commit)
 *   dispatched             committed entries handed to the storage thread
 *   applied                reported back by the storage thread (and to
 *                          Raft with raft_applied)
 */
#ifndef LMS_CORE_NODE_INTERNAL_H
#define LMS_CORE_NODE_INTERNAL_H

#include "log_writer.h"
#include "node.h"
#include "peer.h"
#include "repair_plan.h"
#include "snapshot.h"

#include <event2/event.h>
#include <stdatomic.h>

/* A proposal waiting for the entry at index (FIFO: indexes increase). */
typedef struct pending {
    uint64_t index, term;
    node_proposal *p;
    struct pending *next;
    uint64_t proposed_ns; /* metrics_now() at the proposal */
} pending;

/* A read barrier: confirmed once index is set (Raft's read state). */
typedef struct read_wait {
    uint64_t ctx, index;
    int64_t since; /* mono_ms when asked */
    node_read_fn cb;
    void *arg;
    struct read_wait *next;
} read_wait;

/* A ready taken from Raft, waiting for the log writer (mark: the writer's
 * operation count once the ready's writes were queued). */
typedef struct outstanding {
    struct raft_ready rd;
    uint64_t mark;
    uint64_t install; /* rd.snapshot: the install's number (node_snapshot.c);
                         the ready is finished once n->installed reaches it */
} outstanding;

/* A snapshot being streamed to a member (leader; node_transfer.c). The
 * slot of member `to` stays its own once used. */
typedef struct send_file send_file; /* the stream's open file */
typedef struct snap_send {
    int active, sent_last;
    int repair;       /* asked for by a member's log repair, not by Raft:
                         its outcome is not reported to Raft */
    send_file *file;
    uint64_t to, epoch, stream;
    int64_t retry_ms; /* after a failed stream to `to`: not before this */
    raft_snapshot_meta meta;
    uint64_t size;    /* of the file */
    uint64_t next;    /* the next offset to read and send */
    uint64_t acked;   /* bytes the member said it holds */
    int64_t started_ms, progress_ms;
    int64_t moved_ms; /* when the member last said it holds more bytes */
    /* The pin: the log is not compacted past meta.index for this member
     * (node_transfer_keep) while the stream runs, and once it completed
     * until the member's match reaches the compaction point, or until
     * pin_until_ms. A failed stream ends it. */
    int pinned;
    uint64_t pin_match;   /* the member's match when the stream began */
    int64_t pin_until_ms; /* set when the stream completes */
} snap_send;

/* The snapshot being received from the leader (node_transfer.c). */
typedef struct snap_recv {
    int active, finishing; /* finishing: the last chunk is queued */
    uint64_t from, term, total, stream;
    raft_snapshot_meta meta;
    uint64_t queued;       /* bytes handed to the I/O thread (next offset) */
    uint64_t written;      /* bytes it wrote */
    unsigned jobs;         /* its jobs in flight */
    snapshot_receiver rx;  /* the I/O thread's */
    int64_t started_ms, progress_ms, acked_ms;
    /* A whole snapshot Raft took, durable under its temp name until the
     * ready that installs it renames it (node_snapshot_install); no new
     * stream starts meanwhile. 0: none. */
    uint64_t sealed;
} snap_recv;

/* The leader's snapshot being received by log repair (node_repair_snap.c;
 * Raft is not running yet). */
typedef struct repair_rx {
    int active;
    uint64_t from, term, stream, total;
    raft_snapshot_meta meta;
    snapshot_receiver rx;  /* the temp file, written on the loop */
    int64_t started_ms;
} repair_rx;

/* A log repair under way (node_repair.c, node_repair_snap.c). */
typedef struct repair {
    struct wal *w;
    repair_plan plan;
    uint64_t hs_term; /* the durable term (the vote is not repair's) */
    int done, failed;
    lms_err err;
    int64_t last_nag, asked_ms;
    repair_rx rx;
} repair;

/* A large append queued for member `to` (node.c, redundant_append). */
typedef struct sent_append {
    uint64_t to, term, prev, last, epoch;
    int64_t at_ms;
} sent_append;

/* What another member last told the leader about itself. */
typedef struct member_report {
    uint64_t id;
    Lms__PeerStatus st;
    int64_t at_ms; /* monotonic; 0: never */
} member_report;

struct node {
    struct event_base *base;
    node_options opts;
    node_sm sm; /* the state machine and its store (node.h) */
    struct workers *storage;
    log_writer *lw;
    raft *r;
    peer_net *peers;
    struct event *tick_ev, *pump_ev;
    outstanding *outs;
    size_t n_outs, cap_outs;
    pending *ph, *pt;
    read_wait *reads, *reads_tail;
    uint64_t read_ctx;
    uint64_t dispatched, applied;
    uint64_t term_start;   /* leader: the first entry of its term */
    uint64_t ticks;
    int64_t refused_logged_at; /* ms: the last "refused" line (node.c) */
    uint64_t refused_quiet;    /* refused since that line */
    raft_softstate ss;     /* role and leader, from the last ready */
    member_report reports[RAFT_MAX_SERVERS];
    raft_config known;     /* the configuration the peer port follows */
    /* nodes out of the configuration that the peer port still knows: each
     * is forgotten once its removal is committed and a grace period has
     * passed (a removed leader still commits its removal and hands over;
     * node_prune_peers) */
    struct {
        uint64_t id;
        int64_t since; /* ms, monotonic: when it left the configuration */
    } leaving[RAFT_MAX_SERVERS];
    unsigned n_leaving;
    sent_append sent[RAFT_MAX_SERVERS];
    node_member self_member; /* the members when none were given */
    struct repair *rp;     /* while the log is being repaired */
    char leader_client[RAFT_ADDR_MAX];
    int pumping, closing, failed;
    /* snapshots (node_snapshot.c) */
    char snap_dir[4096];
    raft_snapshot_meta snap; /* the newest durable snapshot (index 0: none) */
    uint64_t snap_size;      /* bytes of its file (what a stream sends) */
    uint64_t compacted;      /* entries up to here are gone from the log */
    uint64_t snap_bytes;     /* entry data handed out since the snapshot */
    uint64_t snap_retry_at;  /* after a failure: not before this index */
    uint64_t install_seq, installed;
    uint64_t idle_applied, idle_since; /* applied index, tick it was seen */
    uint64_t quiet_applied, quiet_since; /* the same, every tick */
    int compact_held;      /* the last compaction stopped short for a
                              member's snapshot stream */
    int snapshotting;
    struct workers *snap_thread; /* writes pinned views (node_snapshot.c) */
    struct node_verify *verify;  /* cluster-verify's digests (node_verify.c) */
    struct workers *snap_io;     /* chunk reads and writes (node_transfer.c) */
    atomic_int snap_cancel;      /* closing: stop writing */
    /* Set by the storage thread when an apply batch failed: the store may
     * miss that batch, so no later job may build on it (apply, pin,
     * install): the node is stopping anyway. */
    atomic_int storage_poisoned;
    /* A full disk (node_apply.c): set by the storage thread when a batch
     * was rolled back for space, so the batches queued behind it bounce
     * back untried; the loop holds them all, in order, in held, and
     * submits them again from apply_retry_ev. */
    atomic_int storage_full;
    struct apply_batch *held, **held_tail;
    struct event *apply_retry_ev;
    size_t apply_inflight;       /* batches on the storage thread */
    int64_t storage_full_since;  /* mono_ms; 0: the storage has room */
    char storage_full_msg[sizeof(lms_err)];
    /* The hold is not for space: the store could not be reached (a
     * database server's connection lost: LMS_UNAVAILABLE from the
     * plugin). Held and retried the same way; other words for users. */
    int storage_unreachable;
    /* A snapshot failed for a full disk (node_snapshot.c): retried at
     * snap_full_retry_ms; 0: not full */
    int64_t snap_full_since, snap_full_retry_ms;
    int64_t full_transfer_ms;    /* leader with a full disk: last handover */
    /* The log writer's reading of the free bytes (node_check_room) that
     * disk_spent started from, and the bytes of the writes let through
     * since it */
    uint64_t disk_seq, disk_spent;
    int64_t snap_tokens;     /* snapshot_rate's budget, refilled every tick */
    uint64_t stream_seq;     /* numbers the snapshot streams sent */
    snap_send sends[RAFT_MAX_SERVERS];
    snap_recv recv;
    /* a backup streamed to a client (node_backup.c) */
    struct node_backup_job *backup;
    struct workers *backup_thread;
};

/* node.c */
void node_fail(node *n, const char *msg);
/* A raft_* call failed with rc (out of memory: the node stops). */
void node_raft_failed(node *n, const char *what, int rc);
void node_schedule_pump(node *n);
/* Append a waiting proposal (it: the caller's allocation) to the FIFO. */
void node_push_pending(node *n, pending *it, uint64_t index, uint64_t term,
                       node_proposal *p);

/* node_members.c */
/* The client address of member id ("" if unknown). */
const char *node_client_addr_of(const node *n, uint64_t id);
/* Member id of the config file, or NULL. */
/* Before Raft starts (log repair): the peer port knows every member of
 * cfg, the configuration the log holds, and so does n->known. */
void node_learn_members(node *n, const raft_config *cfg);
const node_member *node_opts_member(const node *n, uint64_t id);
/* The peer port follows Raft's configuration (after config_changed). */
void node_update_peers(node *n);
/* Every tick: forget the nodes that left the configuration for good. */
void node_prune_peers(node *n);
/* Leader: propose promoting a learner that has caught up. */
void node_promote_learners(node *n);

/* Is a write to the data dir waiting for disk space (the command log,
 * the storage or a snapshot)? If so, msg gets the operator's error. */
int node_out_of_space(node *n, char *msg, size_t len);

/* node_apply.c */
/* The storage holds batches for lack of space (msg: the storage's error). */
int node_storage_out_of_space(const node *n, char *msg, size_t len);
/* Closing: answer and free the held batches (node_close, node_free). */
void node_apply_close(node *n);
/* Hand committed entries (in order) to the storage thread, pairing each
 * with the proposal that waits for it. */
void node_apply_committed(node *n, const raft_entry *ents, size_t count);
/* Answer every confirmed read whose index is applied. */
void node_check_reads(node *n);
/* Answer every waiting proposal whose entry is not known to be committed
 * (status, message) and drop it; with all set, every one. Such an entry
 * may still commit under the next leader: its status is LMS_UNKNOWN (the
 * client retries with the same seq and learns the fate from the cluster's
 * record), never a refusal. LMS_UNAVAILABLE is for a proposal whose entry
 * is known to be gone (overwritten by another term's entry). */
void node_drop_proposals(node *n, int status, const char *msg, int all);
#define NODE_FATE_UNKNOWN(why) \
    why " before the write was known to be committed; it may still be; retry"

/* Answer every read barrier (confirmed or not) with status. */
void node_drop_reads(node *n, int status);
/* Cluster of one voter: apply (applied, last] of w synchronously. */
int node_replay(node *n, struct wal *w, uint64_t last, lms_err *err);

/* node_snapshot.c */
/* Before Raft starts: the newest snapshot into n->snap, restoring the
 * storage from it (storage_applied moves up) and resetting the log w when
 * they are behind it. */
int node_snapshot_restore(node *n, struct wal *w, uint64_t *storage_applied,
                          lms_err *err);
/* After entries were applied: take a snapshot if the policy says so. */
void node_snapshot_maybe(node *n);
/* Follower: a ready installs meta: reset the log, load the storage. -1 if
 * that cannot start (the node must stop); else *seq is the install's
 * number, done once n->installed reaches it. */
int node_snapshot_install(node *n, const raft_snapshot_meta *meta,
                          uint64_t *seq);
/* Every tick: the transfers' clock, and compaction of an idle log. */
void node_snapshot_tick(node *n);
/* Start the snapshot threads (node_transfer_start included). */
int node_snapshot_start(node *n, lms_err *err);

/* node_verify.c: is this committed entry a verify marker (it ends its
 * apply batch)? Storage thread, right after the batch that ends with one
 * committed: pin the state and record the index as pending (the view, or
 * NULL when it failed and is recorded so); before that batch commits,
 * node_verify_expect records it pending. Loop: hash the view on the
 * snapshot thread. */
int node_verify_open(node *n, lms_err *err);
void node_verify_free(node *n);
int node_verify_is_marker(const node *n, const blob *data);
void node_verify_expect(node *n, uint64_t index);
void *node_verify_pin(node *n, uint64_t index);
void node_verify_start(node *n, uint64_t index, void *view);
/* Stop transfers and the snapshot threads (a snapshot being written is
 * cancelled); node_snapshot_free once the storage thread stopped too. */
void node_snapshot_close(node *n);
void node_snapshot_free(node *n);
/* node_backup.c: stop a backup being streamed (node_close), free its
 * thread (node_free). */
void node_backup_close(node *n);
void node_backup_free(node *n);

/* node_transfer.c: InstallSnapshot streams */
/* Leader: Raft asks to stream the snapshot to member `to`. */
void node_snapshot_send(node *n, uint64_t to);
/* Leader: member `to` repairs its log (Raft not running there) and asks
 * for the snapshot it needs: stream the newest one unless a stream to it
 * is under way. Raft is told nothing of this stream's outcome. */
void node_snapshot_send_repair(node *n, uint64_t to);
/* Acknowledge a snapshot stream to member `to`: bytes received, done, or
 * an error (NULL: none) that ends the stream on the sender. */
void node_snapshot_ack_to(node *n, uint64_t to, uint64_t stream,
                          uint64_t index, uint64_t received, int done,
                          const char *error);
/* Leader: stop every stream (leadership lost, closing); their pins go. */
void node_snapshot_stop_sending(node *n);
/* Compaction would drop the log up to `to`: how far it may go without
 * taking the entries after a snapshot being streamed, or just installed,
 * that its member asks for next. A pin that would keep more than
 * cap bytes of entries the compaction would drop ends here (logged): the
 * member will need a newer snapshot. */
uint64_t node_transfer_keep(node *n, uint64_t to, uint64_t cap);
/* Peer port callbacks. */
void node_snapshot_on_chunk(node *n, uint64_t from,
                            const Lms__PeerSnapshotChunk *c);
void node_snapshot_on_ack(node *n, uint64_t from, const Lms__PeerSnapshotAck *a);
/* Every tick: snapshot_rate, streams that broke or stalled, keep-alives. */
void node_transfer_tick(node *n);
int node_transfer_start(node *n, lms_err *err);
void node_transfer_close(node *n);
void node_transfer_free(node *n);

/* node_repair.c */
/* Must the log be refilled from the leader before Raft starts? */
int node_log_needs_repair(const node *n, struct wal *w, uint64_t storage_applied);
/* Do it (a nested run of the loop; the peer port must be up). */
int node_repair_log(node *n, struct wal *w, uint64_t storage_applied, lms_err *err);
/* Peer port callbacks: a member's request, the answer to ours. */
void node_serve_fetch(node *n, uint64_t from, const Lms__PeerFetch *f);
void node_repair_reply(node *n, uint64_t from, const Lms__PeerFetchReply *r);
/* The plan took a step outside a reply (a snapshot installed): finish if
 * it is done, else ask for what comes next. */
void node_repair_next(node *n, const repair_step *s);
/* The durable term up to the followed leader's before its entries or its
 * snapshot are written (rp->err says why not). */
int node_repair_raise_term(repair *rp);
/* Repair cannot go on (rp->err says why): node_open fails with it. */
void node_repair_fail(node *n);

/* node_repair_snap.c */
/* Peer port: a snapshot chunk while the log is repaired (n->rp set). */
void node_repair_on_chunk(node *n, uint64_t from,
                          const Lms__PeerSnapshotChunk *c);
/* Repair is over: drop a snapshot still being received. */
void node_repair_snap_close(node *n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * node.h: the replicated log glued to the event loop, the log writer, the
 * peer port and the storage thread. core/repl/raft decides; this module does
 * its I/O: a proposal is appended by the leader, written and fsynced by
 * the log writer (group commit) while it is sent to the followers,
 * committed once a majority holds it, and applied in order on the storage
 * thread, in batches that commit the storage transaction together with
 * the applied index. A cluster of one voter is the same path with a
 * majority of one.
 *
 * The node does not know what an entry means: it applies committed
 * entries through the state machine it is given (node_sm, below; the
 * application's is core/app/sm_node.c), and passes what each produced to
 * the entry's proposal.
 *
 * A proposal's callbacks: applied() runs on the storage thread once the
 * transaction that applied its entry committed, before anything else is
 * applied, so it can read what the command just wrote and pack the
 * client's answer; complete() runs on the loop after it, so the answer is
 * sent only for durable, applied state. If the entry at the proposal's index turns out to be another
 * (its leader lost its place before the entry committed), or the node
 * stops leading before it committed, applied() gets status LMS_UNAVAILABLE,
 * "leadership changed; retry" (possibly on the loop), then complete(): the
 * client retries with the same client id and sequence number, which the
 * state machine deduplicates.
 *
 * Everything here runs on the loop thread unless said otherwise.
 */
#ifndef LMS_CORE_NODE_H
#define LMS_CORE_NODE_H

#include "blob.h"
#include "raft/raft.h"

#include <lms/storage.h>

struct event_base;
struct workers;
typedef struct node node;

/* The replicated state machine: what committed entries are applied to.
 * Everything runs on the storage thread unless said otherwise; arg is
 * given to each call. */
typedef struct node_sm {
    /* The store that holds the state: the node opens a transaction per
     * batch of entries, commits it with the index of its last, and takes,
     * streams and installs snapshots of it. */
    const struct lms_storage_ops *ops;
    void *st;
    void *arg;
    /* Apply the normal entry (data, len) committed at index, inside the
     * open transaction. LMS_OK with *result set: what it produced (a
     * refusal is a result too), handed to applied() and the entry's
     * proposal once the transaction committed, then to result_free.
     * Otherwise the store failed (err) and *result is NULL. Deterministic:
     * every node applies the same bytes to the same state. */
    int (*apply)(void *arg, uint64_t index, const void *data, size_t len,
                 void **result, lms_err *err);
    /* optional: after the commit, for each applied entry, before its
     * proposal hears of it. It may read the store, never write it. */
    void (*applied)(void *arg, uint64_t index, const void *result);
    void (*result_free)(void *arg, void *result);
    /* The state is about to be replaced or changed outside apply (a
     * snapshot installed, a backup restored). */
    void (*replacing)(void *arg);
    /* A transaction (or an install) ended, committed or rolled back. */
    void (*settled)(void *arg);
    /* Is the entry (data, len) the write (client_id, seq)? Loop. */
    int (*is_write)(const void *data, size_t len, uint64_t client_id,
                    uint64_t seq);
    /* Does the entry end its apply batch (a cluster-verify marker: the
     * state right after it is pinned and hashed)? Loop, on every committed
     * entry: cheap, and safe on any bytes. */
    int (*is_marker)(const void *data, size_t len);
} node_sm;

/* What a proposal hears: the state machine's result for its entry, or,
 * when result is NULL, the node's own answer (status and message; LMS_OK
 * with no result: a membership change or no-op committed). */
typedef struct node_outcome {
    const void *result;
    int status;
    const char *message;
} node_outcome;

typedef struct node_proposal {
    void (*applied)(struct node_proposal *p, const node_outcome *o);
    void (*complete)(struct node_proposal *p);
} node_proposal;

/* One initial member of the cluster (config: cluster.members). */
typedef struct node_member {
    uint64_t id;
    const char *peer_addr;   /* NULL only for a cluster of one */
    const char *client_addr;
} node_member;

typedef struct node_options {
    const char *data_dir;
    uint64_t node_id;
    /* A cluster of one voter whose log lost entries it may have
     * acknowledged (damage before the tail: no other member can refill
     * them) refuses to start (LMS_DATA_LOSS) unless this is set, when it
     * starts without them and says so (lmsd --accept-log-loss). */
    int accept_log_loss;
    /* called on the loop when the node cannot go on (log or storage I/O
     * failed); lmsd stops. */
    void (*on_fatal)(void *arg, const char *msg);
    void *arg;
    /* optional: called on the loop (with arg) after the storage was
     * replaced by a snapshot from the leader at index: whatever was derived
     * from applied commands (the tutor's documents) must be rebuilt. */
    void (*on_restored)(void *arg, uint64_t index);
    /* The cluster. members: the initial configuration, the same on every
     * initial member (none: this node alone). A node not among them joins
     * later (lms-admin cluster-add) and waits to hear from a leader. */
    const char *cluster_id;
    const node_member *members;
    size_t n_members;
    const char *peer_listen;    /* listen.peer; NULL: no peer port */
    /* optional: the answer to a client on the peer port (peer.h,
     * peer_options.stray_answer) */
    size_t (*stray_answer)(const uint8_t *data, size_t len, const char *text,
                           uint8_t *out, size_t cap);
    uint32_t max_peer_frame;    /* largest peer frame accepted */
    struct lms_tls *tls;        /* mutual TLS on the peer port; NULL: off */
    unsigned tick_ms;           /* 0: 10 */
    unsigned election_ticks;    /* 0: 10 */
    unsigned heartbeat_ticks;   /* 0: 1 */
    uint64_t max_term_jump;     /* peers' terms above ours by more are
                                   refused; 0: 2^20 */
    /* Snapshots and compaction (node_snapshot.c): a snapshot of the
     * storage is taken every snapshot_entries applied entries or
     * snapshot_bytes of applied entry data, whichever comes first; the log
     * is then compacted up to keep_entries behind it (the entries a
     * follower that lags a little still gets from the log). segment_bytes:
     * the command log's segment size (compaction frees whole segments).
     * 0 for snapshot_entries, snapshot_bytes or segment_bytes: the
     * defaults (10000, 64 MiB, 64 MiB); keep_entries is taken as is. */
    uint64_t snapshot_entries;
    uint64_t snapshot_bytes;
    uint64_t keep_entries;
    uint64_t segment_bytes;
    /* Bytes per second a leader streams to followers that need a snapshot,
     * all of them together (0: as fast as the link takes them), so a
     * large snapshot does not crowd out replication. */
    uint64_t snapshot_rate;
    /* Free bytes kept on the data dir's filesystem (limits.disk_reserve;
     * 0: no reserve): below it, writes are refused before they are
     * proposed, so what is committed can still be applied and a snapshot
     * taken (node_check_room). */
    uint64_t disk_reserve;
} node_options;

/*
 * Open the log in <data_dir>/wal and the hardstate, and start Raft from
 * them and the storage's applied index. A cluster of one voter replays
 * every entry after the applied index here (on the calling thread, before
 * anything else uses the storage), as it always has; a member of a larger
 * cluster applies only what the leader says is committed, once it does.
 * Then start the log writer, the peer port and the clock. A cluster of one
 * voter elects itself at once. sm's store must already be migrated.
 */
int node_open(struct event_base *base, const node_options *opts,
              const node_sm *sm, struct workers *storage_thread, node **out,
              lms_err *err);

/*
 * Propose an encoded Lms__Command (takes a reference on cmd). p may be
 * NULL (nobody waits for the result). Returns LMS_OK, LMS_NOT_LEADER
 * (err says where the leader is, if known), LMS_UNAVAILABLE (a
 * leadership transfer, too many uncommitted bytes, shutting down) or
 * LMS_RESOURCE_EXHAUSTED: the disk is full (the command log, the storage
 * or a snapshot waits for space), nothing was proposed, and err says so
 * in words for the user (see node_may_hold_write before passing it on).
 */
int node_propose(node *n, blob *cmd, node_proposal *p, lms_err *err);

/*
 * May a write of about `bytes` more be proposed here, as far as disk space
 * goes? LMS_OK, or LMS_RESOURCE_EXHAUSTED with err saying, in words for
 * the user, that the disk is full or that taking it would leave less free
 * than the reserve (how much is free, the reserve). The free space is read
 * at most every few hundred ms, so asking costs nothing per request.
 * node_propose asks it with the command's size; a large upload asks before
 * its file is stored.
 */
int node_check_room(node *n, uint64_t bytes, lms_err *err);

/*
 * The node holds committed entries that its storage cannot apply (its disk
 * is full): a read that needs them cannot be served here until space is
 * freed. 1 and msg (the user's words) if so; 0 otherwise.
 */
int node_apply_stuck(node *n, char *msg, size_t len);

/*
 * Could a committed command of client_id with seq still be on its way to
 * the storage (held for lack of space, being applied, or committed and
 * not yet handed over)? Then a refusal of a retry of that write would be
 * a lie: its earlier copy may be stored yet. Conservative: 1 when unsure.
 */
int node_may_hold_write(node *n, uint64_t client_id, uint64_t seq);

/*
 * Change the membership, one server at a time (leader only): type is
 * RAFT_CONF_ADD_LEARNER (id joins as a non-voter at peer_addr, its clients
 * at client_addr; the leader promotes it to a voter by itself once it has
 * caught up), RAFT_CONF_PROMOTE or RAFT_CONF_REMOVE. p (may be NULL) is
 * answered like a command's proposal once the change is committed and
 * applied (res->status LMS_OK). Returns LMS_OK, LMS_NOT_LEADER,
 * LMS_INVALID_ARGUMENT (not a change of this configuration: err says why),
 * LMS_FAILED_PRECONDITION (a learner to promote has not caught up) or
 * LMS_UNAVAILABLE (another change is in progress, the leader is new;
 * retry).
 */
int node_change_members(node *n, int type, uint64_t id, const char *peer_addr,
                        const char *client_addr, node_proposal *p, lms_err *err);

/*
 * A linearizable read (Raft's ReadIndex): cb(arg, LMS_OK) runs on the loop
 * once this leader has confirmed it still leads and has applied everything
 * committed when the barrier was asked for; cb(arg, LMS_NOT_LEADER) if it
 * stops leading first, cb(arg, LMS_UNAVAILABLE) if the node stops or
 * cannot apply what the read needs because its disk is full (then
 * node_apply_stuck says so; the read is not kept waiting: see
 * node_apply.c, READ_FULL_WAIT_MS). Returns
 * LMS_OK (cb will run, never from inside this call) or LMS_NOT_LEADER (it
 * will not).
 */
typedef void (*node_read_fn)(void *arg, int status);
int node_read_barrier(node *n, node_read_fn cb, void *arg);

/* Hand a command to the leader to propose (lmsd --init-admin on a node
 * that does not lead). Nothing waits for it: the sender sees the outcome
 * when it applies the log (node_sm.applied). LMS_UNAVAILABLE if no leader is
 * known or the leader cannot be reached. */
int node_forward(node *n, blob *cmd, lms_err *err);

int node_is_leader(const node *n);
/* A leader that has applied the first entry of its term, and so every
 * write any leader acknowledged before it: a request that will propose
 * (whose early checks only save a log entry; apply decides) may read its
 * state without a read barrier. If it lost its leadership without knowing
 * yet, the proposal cannot commit and is answered UNAVAILABLE. An answer
 * decided from that state without proposing (a refusal) is stale in that
 * case: dispatch.c sends it only after a read barrier. */
int node_ready_for_writes(const node *n);
uint64_t node_leader_id(const node *n);
/* The leader's client address ("" if no leader is known). */
const char *node_leader_client_addr(const node *n);
/* This node's peer port (0 without one). */
int node_peer_port(const node *n);

/* Leader: hand leadership to the most caught-up voter. LMS_OK with *to
 * set, LMS_NOT_LEADER, or LMS_NOT_FOUND when there is no other voter. */
int node_transfer_leadership(node *n, uint64_t *to);

/* One member as this node sees it (lms-admin cluster-status). On the
 * leader every member's numbers are fresh (each node reports its own
 * every few ticks); elsewhere only this node's. */
typedef struct node_member_status {
    uint64_t id;
    char peer_addr[RAFT_ADDR_MAX];
    char client_addr[RAFT_ADDR_MAX];
    int voter;
    int known;              /* term..last_index are fresh */
    const char *role;       /* "leader", "follower", "candidate", ...,
                               "unreachable" when not heard from */
    uint64_t term, commit, applied, last_index;
    uint64_t snapshot;      /* its newest durable snapshot's index */
    uint64_t match;         /* leader's view: its log matches up to here */
    uint64_t lag;           /* leader's last index - match */
    int64_t heard_ms;       /* ms since the leader heard from it; -1: n/a */
} node_member_status;

typedef struct node_status {
    uint64_t id, leader, term;
    int is_leader;
    uint64_t commit, applied, last_index;
    size_t n;
    node_member_status members[RAFT_MAX_SERVERS];
} node_status;

void node_get_status(node *n, node_status *st);

uint64_t node_last_index(const node *n);
uint64_t node_commit_index(const node *n);
uint64_t node_term(const node *n); /* Raft's current term */
uint64_t node_applied_index(const node *n);
uint64_t node_id(const node *n); /* this node's id (node.id) */

/* ---- cluster-verify (node_verify.c) ----------------------------------------
 * The digest this node took of its state right after applying the verify
 * marker at index (lms-admin cluster-verify). */
#define NODE_VERIFY_TABLES 16 /* more than the tables of snapshot.proto (asserted) */
enum node_verify_state {
    NODE_VERIFY_PENDING = 1, /* not applied yet, or being hashed */
    NODE_VERIFY_DONE = 2,
    NODE_VERIFY_MISSED = 3,  /* applied, but not by this run of the node
                              * at that index (a restart, an install) */
    NODE_VERIFY_FAILED = 4,  /* message says why */
};
typedef struct node_verify_table {
    const char *name; /* snapshot.proto's Record field: "user", ... */
    uint64_t rows;
    uint8_t sha256[32];
} node_verify_table;
typedef struct node_verify_info {
    uint64_t index;
    int state; /* enum node_verify_state */
    uint8_t sha256[32]; /* DONE: the whole state's snapshot digest */
    node_verify_table tables[NODE_VERIFY_TABLES];
    size_t n_tables;
    char message[600];
} node_verify_info;
/* Any thread. applied: the store's applied index as the caller read it
 * (tells "pending" from "missed" when there is no record). Returns
 * out->state. */
int node_verify_get(node *n, uint64_t index, uint64_t applied,
                    node_verify_info *out);

/* ---- backups (node_backup.c; docs/operations.md, "Backup and restore") */

/* The largest piece of a backup stream handed to the sink. */
#define NODE_BACKUP_PIECE ((size_t)1 << 20)

typedef struct node_backup_end {
    int rc; /* LMS_OK: the whole stream was sent */
    char msg[sizeof(lms_err) + 32];
    uint64_t index, term, size;
    uint8_t sha256[32]; /* the trailer's digest */
} node_backup_end;

typedef struct node_backup_sink {
    /* the backup thread: len (1..NODE_BACKUP_PIECE) bytes of the stream
     * as a frame to send; NULL: out of memory (the backup fails) */
    blob *(*wrap)(void *arg, const uint8_t *data, size_t len);
    /* loop: may a piece be sent now? 1 yes, 0 not yet (asked again in a
     * few ms), -1 never (the client left: the backup stops) */
    int (*room)(void *arg);
    /* loop: send piece (the sink's reference) */
    void (*send)(void *arg, blob *piece);
    /* loop, once, last: how it ended; the view is released by then */
    void (*done)(void *arg, const node_backup_end *end);
    void *arg;
} node_backup_sink;

/* Stream a consistent copy of the whole state (the snapshot stream of a
 * view pinned at the dispatched index) to sink, bounded in memory, with
 * deadlines. LMS_OK: sink->done will be called; otherwise it will not
 * (RESOURCE_EXHAUSTED: another backup runs; UNAVAILABLE: the node stops
 * or the log moved under it, retry). Loop only. */
int node_backup(node *n, const node_backup_sink *sink, lms_err *err);

/* The term a restored node's snapshot, log and hardstate start at. */
#define NODE_RESTORE_TERM 1

typedef struct node_restore_info {
    uint64_t index, term, size; /* the backup's */
    uint8_t sha256[32];         /* the digest of the node's snapshot */
    char backend[LMS_NAME_MAX + 1];
} node_restore_info;

/* lmsd --restore: make the backup file at path the state of a new node
 * (opts as for node_open; the store of sm open and empty, the data dir
 * empty): checked whole first (LMS_DATA_LOSS changes nothing), it becomes
 * <data_dir>/snap/snap-<index>.lmss with term NODE_RESTORE_TERM and the
 * configuration of opts' members (never the backup's), the command log
 * starts after it, and the store holds its state. FAILED_PRECONDITION
 * when the node has state. Without a loop or threads. */
int node_restore_backup(const node_options *opts, const node_sm *sm,
                        const char *path,
                        node_restore_info *out, lms_err *err);

/* Stop: no more proposals or reads (those waiting are answered
 * LMS_UNAVAILABLE), close the peer port, make everything queued durable
 * (stops the log writer). Batches already handed to the storage thread
 * stay there: the caller now stops the storage thread (which applies them
 * and runs their complete() callbacks) and calls node_free(). */
void node_close(node *n);
void node_free(node *n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * raft.h: a pure Raft library. It does no I/O, reads no clock, starts no
 * thread, keeps no global state and draws no random number it was not
 * seeded with. Everything comes in through calls (raft_step for a message
 * from a peer, raft_tick for the passing of time, raft_propose, ...) and
 * goes out through a "ready" (raft_ready): what to persist, what to send,
 * what to apply. The caller (lmsd's glue, or the simulator in tests/sim)
 * does the I/O and then calls raft_advance.
 *
 * The cycle, on one thread (the library is not thread-safe; one owner):
 *
 *     raft_tick / raft_step / raft_propose / raft_read_index / ...
 *     while (raft_has_ready(r)) {
 *         struct raft_ready rd;   (the type is a struct tag: raft_ready
 *                                  is the function)
 *         raft_ready(r, &rd);
 *         1. send rd.msgs                  (at once, before persisting)
 *         2. rd.snapshot: install it (restore the state machine from the
 *            snapshot data received for it; reset the durable log to start
 *            after rd.snapshot->index; keep it as the node's latest
 *            snapshot, the one to send if this node leads one day)
 *         3. rd.truncate: delete every durable entry after truncate_after
 *         4. append rd.entries; save rd.hs if rd.has_hardstate; fsync
 *            (a ready with none of 2-4 needs no fsync)
 *         5. once 2-4 are durable: send rd.msgs_persisted, apply
 *            rd.committed in order (raft_applied as batches finish, maybe
 *            later, from the storage thread's completion), and answer each
 *            rd.reads entry once the applied index reaches its index
 *         6. raft_advance(r, &rd)
 *     }
 *
 * Proposals: raft_propose returns the index and term of the entry; the
 * glue keeps index -> waiting client. When the entry applied at that
 * index has that term, the proposal succeeded; another term there means
 * it was lost to a leader change (the client retries with the same
 * client id and sequence number, which the state machine deduplicates).
 *
 * Restart: raft_new from the hardstate, the latest durable snapshot's
 * metadata, the durable log and the state machine's applied index. If the
 * state machine is behind the snapshot (a crash in the middle of an
 * install), restore it from the snapshot first.
 *
 * Several readies may be outstanding (taken, not yet advanced): a glue
 * with a log-writer thread can take the next ready while the previous one
 * is being fsynced. Outstanding readies are persisted and advanced in the
 * order they were taken; steps, ticks and proposals may be called at any
 * time in between. A simple glue takes one ready, persists it, advances.
 *
 * Durability rule: a message in rd.msgs_persisted (votes granted,
 * acknowledgements of entries, a candidate's vote requests) may be sent
 * only after the hardstate, truncation, entries and snapshot of the same
 * ready and of every earlier ready are durable. rd.msgs (a leader's
 * replication traffic) may be sent at once: the leader counts its own log
 * only once it is durable (raft_advance), so it writes in parallel with
 * its followers. A glue that sends both lists after persisting is correct,
 * only slower.
 *
 * Ownership: raft_step, raft_propose and raft_new take their own
 * references on every blob they keep; the caller's message and entries
 * stay the caller's. Everything a ready points to (arrays, metadata,
 * blobs) belongs to the ready and stays valid until raft_advance for it;
 * take blob_ref() to keep data longer (the log writer does).
 *
 * Errors are RAFT_OK (0) or a negative RAFT_ERR_* code; raft_strerror()
 * names it. RAFT_ERR_NOMEM from any call leaves the node broken: every
 * later call returns RAFT_ERR_NOMEM and the caller must stop the node
 * (as lmsd stops when its log cannot be written).
 *
 * Terms: an election round counts in ticks; the glue ticks at a fixed
 * period (lmsd: the configured tick, e.g. 10 ms). Elections time out after
 * a random election_tick..2*election_tick-1 ticks; a leader sends
 * heartbeats every heartbeat_tick ticks.
 */
#ifndef LMS_CORE_RAFT_RAFT_H
#define LMS_CORE_RAFT_RAFT_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"

typedef uint64_t raft_id;    /* a server's id; 0 means none */
typedef uint64_t raft_index; /* log index; the first entry is 1 */
typedef uint64_t raft_term;

/* Terms lie below this. One election a millisecond would take 146
 * million years to get here: a term at or above it is forged or corrupt.
 * Messages that carry one are refused (RAFT_ERR_INVALID), a hardstate
 * holding one does not start, a node at RAFT_TERM_MAX - 1 does not
 * campaign (not even a pre-vote, whose term is ours + 1), so no term ever
 * reaches it or wraps around to 0. */
#define RAFT_TERM_MAX ((raft_term)1 << 62)
/* Indexes in messages (prev, commit, hints, entries, snapshots) above this
 * are refused: every "+ 1" and "+ n_entries" stays far from wrapping. */
#define RAFT_INDEX_MAX ((raft_index)1 << 62)
/* An append carries at most this many entries (the leader cuts its
 * batches there; more is refused): empty entries weigh nothing against
 * max_msg_bytes, so bytes alone do not bound the count. */
#define RAFT_MAX_APPEND_ENTRIES 65536
typedef struct raft raft;

/* Result codes. */
enum {
    RAFT_OK = 0,
    RAFT_ERR_NOT_LEADER = -1,    /* only the leader can do this; see hint */
    RAFT_ERR_TRANSFERRING = -2,  /* leadership transfer in progress */
    RAFT_ERR_CONF_PENDING = -3,  /* a membership change is not committed yet,
                                    or the leader has not committed an entry
                                    of its term yet: retry later */
    RAFT_ERR_INVALID = -4,       /* bad argument (message, id, index) */
    RAFT_ERR_NOMEM = -5,         /* out of memory: the node is broken */
    RAFT_ERR_BUSY = -6,          /* too many uncommitted bytes: back off */
    RAFT_ERR_NOT_CAUGHT_UP = -7, /* a learner to promote lags the leader */
    RAFT_ERR_COMPACTED = -8,     /* the index is no longer in memory */
    RAFT_ERR_UNAVAILABLE = -9,   /* the index is not in the log (yet) */
};

/* A short, static description of a RAFT_* code. */
const char *raft_strerror(int code);

/* ---- log entries -------------------------------------------------------- */

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0, /* an application command (WAL type 0); a NULL or
                              empty data is the no-op a new leader appends,
                              which the application skips */
    RAFT_ENTRY_CONF = 1,   /* a membership change: raft_conf_decode() */
};

typedef struct raft_entry {
    raft_index index;
    raft_term term;
    uint32_t type; /* enum raft_entry_type */
    blob *data;    /* NULL for no data */
} raft_entry;

/* ---- membership --------------------------------------------------------- */

#define RAFT_MAX_SERVERS 16
#define RAFT_ADDR_MAX 128

enum raft_server_role { RAFT_VOTER = 0, RAFT_LEARNER = 1 };

typedef struct raft_server {
    raft_id id;
    uint32_t role;             /* enum raft_server_role */
    char addr[RAFT_ADDR_MAX];  /* opaque to Raft: the glue's peer address,
                                  NUL-terminated; replicated with the
                                  configuration so every node learns it */
} raft_server;

/* A cluster configuration: who votes, who learns. Every configuration
 * entry carries the whole configuration it creates. */
typedef struct raft_config {
    uint32_t n;
    raft_server servers[RAFT_MAX_SERVERS];
} raft_config;

enum raft_conf_type {
    RAFT_CONF_ADD_LEARNER = 1, /* a new server joins as a non-voter */
    RAFT_CONF_PROMOTE = 2,     /* a caught-up learner becomes a voter */
    RAFT_CONF_REMOVE = 3,      /* a voter or learner leaves */
};

typedef struct raft_conf_change {
    uint32_t type; /* enum raft_conf_type */
    raft_id id;
    char addr[RAFT_ADDR_MAX]; /* RAFT_CONF_ADD_LEARNER: its address */
} raft_conf_change;

/* The server with this id in cfg, or NULL. */
const raft_server *raft_config_find(const raft_config *cfg, raft_id id);

/* Encode a configuration (and the change that made it, or NULL) the way a
 * RAFT_ENTRY_CONF entry carries it; the glue may use it to store a
 * snapshot's configuration. One reference; NULL on out of memory. */
blob *raft_conf_encode(const raft_config *cfg, const raft_conf_change *chg);

/* Decode a RAFT_ENTRY_CONF entry's data into the configuration it creates
 * and (if chg is not NULL) the change that made it. RAFT_ERR_INVALID if
 * the bytes are not a configuration. */
int raft_conf_decode(const blob *data, raft_config *cfg,
                     raft_conf_change *chg);

/* ---- snapshots ---------------------------------------------------------- */

/* What a snapshot covers: the state after applying entry index, whose term
 * is term, and the configuration in force at that index. The glue stores
 * this with the snapshot data. */
typedef struct raft_snapshot_meta {
    raft_index index;
    raft_term term;
    raft_config config;
} raft_snapshot_meta;

/* ---- messages ----------------------------------------------------------- */

typedef enum raft_msg_type {
    RAFT_MSG_APPEND = 1,      /* leader -> follower: entries after
                                 (index, log_term), and commit */
    RAFT_MSG_APPEND_RESP,     /* accepted: index is the last entry known to
                                 match; rejected: index is the rejected
                                 prev index, reject_hint/log_term a guess of
                                 where the logs agree */
    RAFT_MSG_VOTE,            /* candidate: last log index/log_term */
    RAFT_MSG_VOTE_RESP,
    RAFT_MSG_PREVOTE,         /* term is the term the sender would take */
    RAFT_MSG_PREVOTE_RESP,
    RAFT_MSG_HEARTBEAT,       /* leader: commit (capped at the follower's
                                 match), seq */
    RAFT_MSG_HEARTBEAT_RESP,  /* echoes seq */
    RAFT_MSG_SNAPSHOT,        /* leader -> follower: "send X the snapshot
                                 described by *snapshot"; see below */
    RAFT_MSG_TIMEOUT_NOW,     /* leader -> transfer target: campaign now */
} raft_msg_type;

/*
 * One message. The glue encodes it for the peer port (peer.proto) and, on
 * the other side, decodes it into this struct and calls raft_step. Every
 * field travels: entries with index, term, type and data, and a
 * snapshot's metadata with its configuration (raft_conf_encode serializes
 * one).
 *
 * RAFT_MSG_SNAPSHOT in a ready means: stream the snapshot whose metadata is
 * *snapshot (the latest given to raft_snapshot_done) to node `to`, in
 * chunks, then call raft_report_snapshot(to, ok). If the glue has made a
 * newer snapshot since, it sends that one instead (and its metadata): a
 * newer snapshot serves the follower as well. The receiving glue collects
 * the chunks and, once it holds the whole snapshot, steps a
 * RAFT_MSG_SNAPSHOT with the same from/to/term and the metadata of what
 * was sent; the library answers with rd.snapshot (install it) or an
 * acknowledgement if it already has those entries.
 */
typedef struct raft_msg {
    raft_msg_type type;
    raft_id from, to;
    raft_term term;
    raft_term log_term;
    raft_index index;
    raft_index commit;
    raft_index reject_hint;
    uint64_t seq;      /* leader's heartbeat round, for ReadIndex */
    uint8_t reject;    /* *_RESP: refused */
    uint8_t transfer;  /* VOTE: campaign of a leadership transfer (the
                          receivers' leader lease does not hold it off) */
    size_t n_entries;
    raft_entry *entries;
    const raft_snapshot_meta *snapshot; /* RAFT_MSG_SNAPSHOT only */
} raft_msg;

/* ---- roles, state, ready ------------------------------------------------ */

typedef enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRECANDIDATE,
    RAFT_CANDIDATE,
    RAFT_LEADER,
} raft_role;

/* Term and vote: what must survive a crash (wal_hardstate_save). The
 * commit index is not part of it: after a restart it is rebuilt from the
 * applied index and the leader. */
typedef struct raft_hardstate {
    raft_term term;
    raft_id vote;
} raft_hardstate;

typedef struct raft_softstate {
    raft_id leader;
    raft_role role;
    uint8_t learner; /* this node is not a voter in its configuration */
} raft_softstate;

/* A confirmed ReadIndex request: once the applied index reaches index,
 * a read of the state machine is linearizable for the request ctx. */
typedef struct raft_read_state {
    uint64_t ctx;
    raft_index index;
} raft_read_state;

struct raft_ready {
    uint8_t has_hardstate; /* hs changed: persist it */
    uint8_t has_softstate; /* ss changed (leader, role): informational */
    uint8_t config_changed;/* raft_get_config() changed since the last
                              ready (peer addresses to connect to) */
    uint8_t truncate;      /* delete durable entries after truncate_after
                              before appending */
    raft_hardstate hs;
    raft_softstate ss;
    raft_index truncate_after;
    /* non-NULL: install this snapshot first (the receiver's glue holds its
     * data from the RAFT_MSG_SNAPSHOT exchange) */
    const raft_snapshot_meta *snapshot;
    raft_entry *entries;   /* append to the durable log, in order */
    size_t n_entries;
    raft_entry *committed; /* apply in order, after this ready is durable;
                              skip empty RAFT_ENTRY_NORMAL ones (no-ops),
                              RAFT_ENTRY_CONF ones need no application
                              work but advance the applied index */
    size_t n_committed;
    raft_msg *msgs;        /* send at once */
    size_t n_msgs;
    raft_msg *msgs_persisted; /* send once this ready is durable */
    size_t n_msgs_persisted;
    raft_read_state *reads;
    size_t n_reads;
    /* private */
    uint64_t seq_;
};

/* ---- construction ------------------------------------------------------- */

typedef struct raft_options {
    raft_id id;                  /* this node; not 0 */
    unsigned election_tick;      /* election timeout in ticks (> heartbeat) */
    unsigned heartbeat_tick;     /* heartbeat period in ticks (>= 1) */
    uint8_t pre_vote;            /* run a PreVote round before elections */
    uint8_t check_quorum;        /* leader steps down without a quorum
                                    heard within an election timeout, and
                                    followers with a live leader ignore
                                    vote requests (leader lease) */
    size_t max_msg_bytes;        /* entry data per append (at least one
                                    entry is always sent) */
    unsigned max_inflight_msgs;  /* appends in flight per follower (>= 1) */
    size_t max_inflight_bytes;   /* entry bytes in flight per follower;
                                    0: no limit */
    size_t max_apply_bytes;      /* committed entry bytes per ready (at
                                    least one entry); 0: no limit */
    size_t max_uncommitted_bytes;/* leader: raft_propose returns
                                    RAFT_ERR_BUSY above this; 0: no limit */
    uint64_t seed;               /* seeds election timeouts; give each node
                                    its own (e.g. id ^ boot time) */
    raft_term max_term_jump;     /* a message whose term is more than this
                                    above ours, plus one per tick since our
                                    term last changed, is refused
                                    (RAFT_ERR_INVALID): a forged or corrupt
                                    term must not be persisted. With
                                    pre_vote a term rises only by elections
                                    a quorum agreed to, so members stay
                                    close; without it a cut-off node gains
                                    one per election timeout, less than the
                                    tick credit. A node a forger pushed
                                    further ahead is heard again once the
                                    others' credit has grown. 0: no bound */
} raft_options;

/* Defaults: election 10 ticks, heartbeat 1, pre_vote and check_quorum on,
 * 1 MiB per message, 256 messages and 8 MiB in flight, 4 MiB per apply
 * batch, 64 MiB uncommitted; seed = id; max_term_jump 2^20. */
void raft_options_init(raft_options *o, raft_id id);

/* What a node starts from: nothing (a new node), or what it persisted. */
typedef struct raft_restore {
    raft_hardstate hs;                  /* {0, 0} for a new node */
    /* The latest durable snapshot, or NULL. Without one the log starts at
     * index 1 under `bootstrap`. */
    const raft_snapshot_meta *snapshot;
    /* The cluster's initial configuration, used when snapshot is NULL. It
     * must be the same on every initial member and never change; a node
     * added later by raft_propose_conf starts with NULL (no members: it
     * waits to hear from a leader). */
    const raft_config *bootstrap;
    /* The durable log in index order, contiguous, ending at the last
     * durable entry. Entries at or below snapshot->index are skipped; the
     * first one kept must be snapshot->index + 1 (or 1). */
    const raft_entry *entries;
    size_t n_entries;
    /* The state machine's applied index (>= snapshot index, <= the last
     * entry): entries up to it are not handed out again. */
    raft_index applied;
} raft_restore;

/* Create a node. rs may be NULL (a new node with no members). Returns
 * RAFT_OK and *out, or RAFT_ERR_INVALID (options out of range, a log that
 * is not contiguous, applied beyond the log) or RAFT_ERR_NOMEM. The node
 * starts as a follower with no leader. */
int raft_new(const raft_options *opts, const raft_restore *rs, raft **out);

/* Free the node and every reference it holds. Outstanding readies must be
 * advanced (or abandoned with raft_ready_free) first. NULL is a no-op. */
void raft_free(raft *r);

/* ---- input -------------------------------------------------------------- */

/* One tick of logical time: election and heartbeat timers, CheckQuorum,
 * the end of a leadership transfer. */
int raft_tick(raft *r);

/* A message from a peer. Messages with a stale term are answered or
 * dropped as Raft says. RAFT_ERR_INVALID, with nothing changed, for a
 * message that cannot be right (raft_msg_check), and for one that
 * contradicts committed entries (a bug or corruption somewhere: log it
 * loudly; the node ignored the message). The library never asks where a
 * message came from: the glue accepts only configured members on the peer
 * port. */
int raft_step(raft *r, const raft_msg *m);

/*
 * Would raft_step refuse m as impossible? RAFT_OK, or RAFT_ERR_INVALID
 * with a static reason in *why (may be NULL). Refused: an unknown type; a
 * sender of 0 or this node, or another addressee; a term, log term or
 * snapshot term at or above RAFT_TERM_MAX, or a term too far above ours
 * (raft_options.max_term_jump); an index, commit or hint above RAFT_INDEX_MAX;
 * entries outside an append, more than RAFT_MAX_APPEND_ENTRIES, an entry
 * type unknown, indexes that do not follow index one by one, entry terms
 * below log_term (or 0), decreasing, or above the message's term; an
 * append whose log_term is above its term; a rejection whose hint lies
 * above the rejected index; snapshot metadata on another type, or with
 * index 0, term 0 or above the message's term, or a configuration of no
 * servers, too many, or one with id 0 or an unknown role. (A commit above
 * index + n_entries is normal: the leader sends its own commit and the
 * follower caps it at what it verified.)
 */
int raft_msg_check(const raft *r, const raft_msg *m, const char **why);

/* Leader: append a command. Takes a reference on data (NULL: an empty
 * entry). On RAFT_OK, *index and *term (either pointer may be NULL) say
 * where it went: the proposal succeeded iff the entry applied at that
 * index has that term
 * (another term there means it was lost in a leader change). Otherwise
 * RAFT_ERR_NOT_LEADER or RAFT_ERR_TRANSFERRING with *leader_hint set (0 if
 * unknown; may be NULL), or RAFT_ERR_BUSY. */
int raft_propose(raft *r, blob *data, raft_index *index, raft_term *term,
                 raft_id *leader_hint);

/* Leader: propose a membership change, one at a time: ADD_LEARNER (id not
 * a member), PROMOTE (a learner whose match index has reached the leader's
 * commit index, else RAFT_ERR_NOT_CAUGHT_UP), REMOVE (a member; at least
 * one voter must remain). The new configuration takes effect on every node
 * as soon as the entry is appended to its log; a leader that removed
 * itself leads until the entry commits, then hands over (TimeoutNow to the
 * most caught-up voter) and steps down. RAFT_ERR_CONF_PENDING while an
 * earlier change is uncommitted or before the leader's first entry of its
 * term commits; RAFT_ERR_INVALID for a change that does not fit the
 * configuration; else as raft_propose. */
int raft_propose_conf(raft *r, const raft_conf_change *cc, raft_index *index,
                      raft_term *term, raft_id *leader_hint);

/* Leader: a linearizable read. The request ctx is answered later by a
 * rd.reads entry {ctx, index}: the leader recorded its commit index,
 * confirmed with a heartbeat round that a quorum still follows it, and
 * (for a new leader) committed its first entry. Reads of one round share
 * its heartbeats, so many reads cost one round. If the node stops leading
 * first, pending reads are dropped (rd.has_softstate shows the change;
 * answer them NOT_LEADER). RAFT_ERR_NOT_LEADER with *leader_hint
 * otherwise. */
int raft_read_index(raft *r, uint64_t ctx, raft_id *leader_hint);

/* Leader: hand leadership to voter `to`. Once `to` has every entry, it
 * gets RAFT_MSG_TIMEOUT_NOW and campaigns at once; proposals are refused
 * with RAFT_ERR_TRANSFERRING meanwhile. The transfer is abandoned after an
 * election timeout, or when this node stops leading. RAFT_ERR_INVALID if
 * `to` is this node or not a voter. */
int raft_transfer_leadership(raft *r, raft_id to);

/* Start an election now (skipping the timer; with pre_vote a PreVote
 * round first). Ignored on a leader or a non-voter. */
int raft_campaign(raft *r);

/* A member showed, outside Raft's messages, that it is in `term` (a node
 * repairing its log before it starts Raft: core/repl/node_repair.c). A newer
 * term makes this node a follower in it, as any Raft message of that term
 * would; the next election then reaches a term that member accepts.
 * RAFT_ERR_INVALID at or above RAFT_TERM_MAX or more than max_term_jump
 * above ours (nothing changes). */
int raft_observe_term(raft *r, raft_term term);

/* Leader's glue: the snapshot stream to `to` ended (ok = 1: all of it was
 * sent; ok = 0: it failed). Call once per RAFT_MSG_SNAPSHOT sent. */
int raft_report_snapshot(raft *r, raft_id to, int ok);

/* Leader's glue: `to` could not be reached (connection failed); stop
 * pipelining to it until it answers again. */
int raft_report_unreachable(raft *r, raft_id to);

/* The state machine has applied entries up to index (the glue may call
 * this late or batched; lower values are ignored). */
int raft_applied(raft *r, raft_index index);

/* ---- snapshots and compaction ------------------------------------------ */

/* The metadata for a snapshot of the state after applying `index`
 * (committed, and not below the log's first index - 1): its term and the
 * configuration in force there. The glue writes it with the snapshot.
 * RAFT_ERR_COMPACTED if the log now starts after index (a snapshot from
 * the leader was installed meanwhile): skip this snapshot. */
int raft_snapshot_meta_at(raft *r, raft_index index, raft_snapshot_meta *out);

/* The glue has a durable snapshot described by meta (from
 * raft_snapshot_meta_at). It becomes the one sent to followers that need
 * compacted entries; the glue must keep its data until a newer one is
 * reported. Older or equal indexes are ignored. */
int raft_snapshot_done(raft *r, const raft_snapshot_meta *meta);

/* Drop in-memory entries up to index (<= the latest snapshot's index and
 * <= the applied index). The glue may keep a trailing window (index below
 * the snapshot) so slightly lagging followers catch up from the log. The
 * glue may then delete durable entries up to index too. */
int raft_compact(raft *r, raft_index index);

/* ---- output ------------------------------------------------------------- */

/* Is there anything in a ready? Cheap; call after every input. */
int raft_has_ready(const raft *r);

/* Take the next ready (fills *rd; on RAFT_OK the caller must later call
 * raft_advance(r, rd) or raft_ready_free). The ready may be empty. */
int raft_ready(raft *r, struct raft_ready *rd);

/* The ready rd (the oldest outstanding one) is durable and its messages
 * sent: release it. Frees what rd points to. RAFT_ERR_INVALID if rd is
 * not the oldest outstanding ready. */
int raft_advance(raft *r, struct raft_ready *rd);

/* Release a ready's memory without advancing (only when abandoning the
 * node, before raft_free). */
void raft_ready_free(struct raft_ready *rd);

/* ---- inspection --------------------------------------------------------- */

enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 0,     /* finding where the logs agree */
    RAFT_PROGRESS_REPLICATE,     /* streaming entries, pipelined */
    RAFT_PROGRESS_SNAPSHOT,      /* a snapshot is being sent */
};

typedef struct raft_peer_status {
    raft_id id;
    uint8_t learner;
    uint8_t recent_active;  /* heard from since the last CheckQuorum */
    uint32_t state;         /* enum raft_progress_state */
    raft_index match, next;
    raft_index pending_snapshot;
    unsigned inflight;      /* appends in flight */
    size_t inflight_bytes;
    uint64_t last_heard;    /* ticks since the leader last heard from it */
} raft_peer_status;

typedef struct raft_status {
    raft_id id;
    raft_role role;
    uint8_t learner;        /* not a voter in its own configuration */
    raft_term term;
    raft_id vote, leader, transferee;
    raft_index commit, applied, first_index, last_index;
    raft_index snapshot_index;   /* latest snapshot (raft_snapshot_done) */
    size_t log_entries, log_bytes; /* in memory, for compaction policy */
    raft_index config_index;     /* entry that made the configuration */
    unsigned n_peers;            /* leader only: every member but itself */
    raft_peer_status peers[RAFT_MAX_SERVERS];
} raft_status;

/* Fill *st (what lms-admin cluster-status prints). */
void raft_status_get(const raft *r, raft_status *st);

/* The configuration in force (the latest one in the log, committed or
 * not). Valid until the next call into the library. */
const raft_config *raft_get_config(const raft *r);

/* The in-memory entry at index (borrowed: valid until the next call into
 * the library). RAFT_ERR_COMPACTED below the first index,
 * RAFT_ERR_UNAVAILABLE beyond the last. */
int raft_entry_at(const raft *r, raft_index index, raft_entry *out);

/* The term of the entry at index (the snapshot's or compaction point's
 * term at that index, 0 at index 0). Same errors as raft_entry_at. */
int raft_term_at(const raft *r, raft_index index, raft_term *out);

raft_role raft_get_role(const raft *r);
raft_id raft_get_leader(const raft *r);
raft_term raft_get_term(const raft *r);
raft_index raft_get_commit(const raft *r);
raft_index raft_get_last_index(const raft *r);

/* Names for logs and traces. */
const char *raft_role_name(raft_role role);
const char *raft_msg_type_name(raft_msg_type type);

#endif

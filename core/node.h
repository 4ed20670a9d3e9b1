/*
 * node.h: the replicated log glued to the event loop, the log writer and
 * the storage thread. Today a node is a Raft cluster of one voter: a
 * proposal gets the next index, is written and fsynced by the log writer,
 * is then committed (a majority of one), and is applied in order on the
 * storage thread, in batches that commit the storage transaction together
 * with the applied index. The Raft issue replaces the commit rule, not this
 * shape.
 *
 * A proposal's callbacks: applied() runs on the storage thread right after
 * sm_apply(), inside the transaction, so it can read what the command just
 * wrote and pack the client's answer; complete() runs on the loop once that
 * transaction committed, so the answer is sent only for durable, applied
 * state.
 */
#ifndef LMS_CORE_NODE_H
#define LMS_CORE_NODE_H

#include "blob.h"
#include "sm.h"

struct event_base;
struct workers;
typedef struct node node;

typedef struct node_proposal {
    void (*applied)(struct node_proposal *p, const sm_result *res);
    void (*complete)(struct node_proposal *p);
} node_proposal;

typedef struct node_options {
    const char *data_dir;
    uint64_t node_id;
    /* called on the loop when the node cannot go on (log or storage I/O
     * failed); lmsd stops. */
    void (*on_fatal)(void *arg, const char *msg);
    void *arg;
    /* optional: called on the storage thread after each command applied
     * while serving (not during replay), inside its transaction, so it may
     * read what the command wrote. It must not write. */
    void (*on_applied)(void *arg, uint64_t index, const Lms__Command *cmd,
                       const sm_result *res);
    void *applied_arg;
} node_options;

/*
 * Open the log in <data_dir>/wal, replay every entry after the storage's
 * applied index (on the calling thread, before anything else uses the
 * storage), then start the log writer. m's storage must already be migrated.
 */
int node_open(struct event_base *base, const node_options *opts, sm *m,
              struct workers *storage_thread, node **out, lms_err *err);

/*
 * Loop thread. Propose an encoded Lms__Command (takes a reference on cmd).
 * p may be NULL (nobody waits for the result). Returns LMS_OK, or
 * LMS_NOT_LEADER / LMS_UNAVAILABLE with err set when this node cannot
 * accept writes.
 */
int node_propose(node *n, blob *cmd, node_proposal *p, lms_err *err);

uint64_t node_last_index(const node *n);
uint64_t node_commit_index(const node *n);
uint64_t node_applied_index(const node *n);

/* Stop accepting proposals, make every queued one durable (stops the log
 * writer) and hand it to the storage thread. Then the caller stops the
 * storage thread (which applies them and runs their complete() callbacks)
 * and calls node_free(). */
void node_close(node *n);
void node_free(node *n);

/*
 * Apply one command synchronously: decode, sm_apply, fill res. Used by
 * replay and by lmsd --init-admin. The caller holds the transaction.
 */
int node_apply_one(sm *m, uint64_t index, const void *data, size_t len,
                   sm_result *res, lms_err *err);

#endif

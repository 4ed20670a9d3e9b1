/* SPDX-License-Identifier: MIT */
/*
 * sm_node.h: the state machine (sm.h) as the node's node_sm (node.h): the
 * only place where replication meets the application. The node hands
 * over an entry's bytes; this decodes them as an Lms__Command, applies it
 * with sm_apply and keeps what the command produced (sm_applied) for the
 * entry's proposal (dispatch.c) and the daemon's hook (on_applied).
 */
#ifndef LMS_CORE_SM_NODE_H
#define LMS_CORE_SM_NODE_H

#include "node.h"
#include "sm.h"

/* What applying one entry produced: the node's opaque result. */
typedef struct sm_applied {
    Lms__Command *cmd; /* NULL: the entry did not decode (res says so) */
    sm_result res;
} sm_applied;

/* The adapter's state: lives as long as the node that uses it. */
typedef struct sm_node {
    sm *m;
    /* optional: storage thread, after each command's batch committed and
     * before its proposal is answered (node_sm.applied); it may read the
     * store but never write it. */
    void (*on_applied)(void *arg, uint64_t index, const Lms__Command *cmd,
                       const sm_result *res);
    void *arg;
} sm_node;

/* Fill ops with the node_sm of s (s must outlive the node). */
void sm_node_ops(sm_node *s, node_sm *ops);

/* The sm_result of a proposal's outcome (node_outcome.result): the
 * command's, or the node's own answer (status and message; no result)
 * written into scratch. */
const sm_result *sm_node_outcome(const node_outcome *o, sm_result *scratch);

/* Does the encoded command carry a CmdVerify (a cluster-verify marker)?
 * A walk over its top-level fields' tags, no decoding: cheap enough for
 * the loop on every committed entry. Malformed bytes: 0 (apply refuses
 * them on every node alike). */
int sm_node_is_marker(const void *data, size_t len);

#endif

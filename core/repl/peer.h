/* SPDX-License-Identifier: MIT */
/*
 * peer.h: the peer port, where the nodes of a cluster talk Raft
 * (proto/peer.proto). Framing is the client port's: a 4-byte big-endian
 * length, then one PeerMessage.
 *
 * Every node keeps one outbound connection to each other member and sends
 * on it (connecting when it first has something to send, reconnecting with
 * a backoff after a failure); it reads only on the connections it
 * accepted. The first frame on a connection is a PeerHello: the receiver
 * refuses, with a log line, a hello from another cluster, for another
 * node, or from a node that is not a member, and drops any later message
 * that claims another sender. A first frame that is a client's Request
 * instead (a CLI pointed at the wrong port) is answered FAILED_PRECONDITION,
 * naming this port and client_addr, before the connection closes.
 *
 * Back-pressure: a message for a peer whose connection is down (waiting
 * for its next attempt) or whose output buffer holds more than
 * max_queue_bytes is dropped, never queued without bound; the caller gets
 * -1 and tells Raft (raft_report_unreachable), which stops pipelining to
 * that peer until it answers again. Raft resends what was lost.
 *
 * Everything runs on the loop thread.
 */
#ifndef LMS_CORE_PEER_H
#define LMS_CORE_PEER_H

#include "blob.h"
#include "peer.pb-c.h"
#include "raft/raft.h"

#include <lms/plugin.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct peer_net peer_net;

typedef struct peer_callbacks {
    /* A Raft message from member m->from (the connection's hello named
     * it). m and what it points to are valid during the call only. */
    void (*on_raft)(void *arg, const raft_msg *m);
    /* Member `from` reports its state (see PeerStatus). */
    void (*on_status)(void *arg, uint64_t from, const Lms__PeerStatus *st);
    /* Member `from` asks the leader to propose an encoded command. */
    void (*on_forward)(void *arg, uint64_t from, const uint8_t *cmd,
                       size_t len);
    /* The connection to member id failed: whatever was queued for it is
     * lost. */
    void (*on_unreachable)(void *arg, uint64_t id);
    /* Log repair (see PeerFetch): a member asks for log entries; the
     * answer to our own request. */
    void (*on_fetch)(void *arg, uint64_t from, const Lms__PeerFetch *f);
    void (*on_fetch_reply)(void *arg, uint64_t from,
                           const Lms__PeerFetchReply *r);
    /* InstallSnapshot (see PeerSnapshotChunk): a chunk from the leader,
     * and the receiver's answer to ours. Valid during the call only. */
    void (*on_chunk)(void *arg, uint64_t from, const Lms__PeerSnapshotChunk *c);
    void (*on_chunk_ack)(void *arg, uint64_t from,
                         const Lms__PeerSnapshotAck *a);
    void *arg;
} peer_callbacks;

typedef struct peer_options {
    const char *listen_addr;  /* host:port; NULL: send only, accept nothing */
    uint64_t self_id;
    const char *cluster;      /* cluster.id, checked in every hello */
    uint32_t max_frame_bytes; /* larger incoming frames close the connection */
    size_t max_queue_bytes;   /* per peer; 0: 64 MiB */
    /* this node's client address (NULL: unknown), named in the answer to
     * a client that connects to the peer port by mistake */
    const char *client_addr;
    /* optional: when the first frame on the peer port is not a hello, the
     * answer to a client that sent it (someone pointed a client at the
     * peer port): write into out (cap bytes) the payload of a frame that
     * says text and return its size, or 0 when data is not a client's
     * request (the connection just closes). The application's: this layer
     * does not know the client protocol. */
    size_t (*stray_answer)(const uint8_t *data, size_t len, const char *text,
                           uint8_t *out, size_t cap);
    /* mutual TLS (tls.h): every connection, both ways, must show a
     * certificate from the cluster's CA naming the member at its other
     * end; NULL or peer TLS off: plaintext, and a hello is believed */
    struct lms_tls *tls;
} peer_options;

/* Listen (if listen_addr) and get ready to send. No member is known yet:
 * see peer_set_member. */
int peer_start(struct event_base *base, const peer_options *opts,
               const peer_callbacks *cb, peer_net **out, lms_err *err);

/* Member id (not this node) is reached at addr (host:port); a new address
 * closes the current connection so the next message uses the new one.
 * LMS_INVALID_ARGUMENT if addr is not host:port. */
int peer_set_member(peer_net *p, uint64_t id, const char *addr);
/* Forget member id: close its links, refuse its connections. */
void peer_remove_member(peer_net *p, uint64_t id);
/* Is id a member (as far as the peer port knows)? */
int peer_is_member(const peer_net *p, uint64_t id);

/* Queue m for m->to. 0 if queued, -1 if dropped (not a member, link down
 * or backed up, out of memory). */
int peer_send_raft(peer_net *p, const raft_msg *m);
/* Queue any PeerMessage for member `to`; same results. */
int peer_send(peer_net *p, uint64_t to, const Lms__PeerMessage *msg);

/* Which connection to member id messages go on now: a number that
 * changes whenever a connection is opened or lost (0: not a member). What
 * was queued under one epoch reaches the peer, in order, unless the epoch
 * changes. */
uint64_t peer_epoch(const peer_net *p, uint64_t id);

/* The port actually bound (0 without a listener). */
int peer_port(const peer_net *p);
/* Bytes waiting in the output buffer for member id (0 if none). */
size_t peer_queued(const peer_net *p, uint64_t id);
/* Close the listener and every connection. NULL is a no-op. */
void peer_free(peer_net *p);

#endif

/*
 * net.h: the client port. Accepts TCP connections on the libevent loop and
 * cuts the byte stream into frames (4-byte big-endian length + payload).
 * Each complete frame goes to a callback; replies go out through
 * conn_send(), in whatever order requests complete (pipelining).
 *
 * A frame longer than max_frame_bytes is answered with one error frame
 * (built by the on_oversize callback) and the connection is closed once it
 * is flushed; the rest of the node carries on.
 */
#ifndef LMS_CORE_NET_H
#define LMS_CORE_NET_H

#include "blob.h"

#include <lms/plugin.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct net net;
typedef struct conn conn;

typedef struct net_callbacks {
    /* A complete frame. data is valid only during the call. */
    void (*on_frame)(void *arg, conn *c, const uint8_t *data, size_t len);
    /* The frame that must be sent before closing a connection whose peer
     * announced a frame of len bytes (> the limit). Returns a new blob
     * holding a full frame (header included) or NULL. */
    blob *(*on_oversize)(void *arg, uint64_t len, uint32_t limit);
    /* The frame sent to a connection refused because of max_connections. */
    blob *(*on_too_many)(void *arg);
    void *arg;
} net_callbacks;

typedef struct net_options {
    const char *addr; /* host:port */
    uint32_t max_frame_bytes;
    uint32_t max_connections;
    /* Stop reading a connection with this many requests in flight. */
    uint32_t max_inflight_per_conn;
} net_options;

int net_listen(struct event_base *base, const net_options *opts,
               const net_callbacks *cb, net **out, lms_err *err);
/* The port actually bound (useful with port 0). */
int net_port(const net *n);
/* Stop accepting new connections (shutdown); open ones are still served. */
void net_stop_accepting(net *n);
/* Close the listener and every connection. */
void net_free(net *n);

/* Take a reference on c (a request in flight holds one). */
conn *conn_ref(conn *c);
/* Drop it; the connection is freed once closed and unreferenced. */
void conn_unref(conn *c);
/* Queue a whole frame (header included) for sending. No-op if closed. */
void conn_send(conn *c, blob *frame);
/* Send frame (may be NULL), then close once the output is flushed. */
void conn_close_after(conn *c, blob *frame);
/* Requests in flight on c: the dispatcher reports starts and ends so the
 * connection can stop reading when too many are outstanding. */
void conn_inflight_add(conn *c, int delta);
int conn_is_open(const conn *c);
/* The peer as "ip:port" (for logs). */
const char *conn_peer(const conn *c);

/* Build a frame: header + payload copied. */
blob *frame_new(const void *payload, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * net.h: the client port. Accepts TCP connections on the libevent loop and
 * cuts the byte stream into frames (4-byte big-endian length + payload).
 * Each complete frame goes to a callback; replies go out through
 * conn_send(), in whatever order requests complete (pipelining).
 *
 * A frame longer than max_frame_bytes (preauth_frame_bytes before a
 * request on the connection authenticated) is answered with one error
 * frame (built by the on_oversize callback) and the connection is closed
 * once it is flushed; the rest of the node carries on. Memory for a frame
 * grows as its bytes arrive, never on the length word's say-so. A frame
 * must arrive within its deadline, an idle connection is closed, one
 * address may hold only so many connections, and a connection whose
 * answers are not read stops being read (net_options).
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
    blob *(*on_oversize)(void *arg, uint64_t len, uint32_t limit,
                         int authenticated);
    /* The frame sent to a connection refused because max_connections
     * (per_ip 0) or max_connections_per_ip (per_ip 1, limit) are open. */
    blob *(*on_too_many)(void *arg, int per_ip, uint32_t limit);
    /* The answer to a plaintext client at the TLS port at addr (id 0). */
    blob *(*on_plaintext)(void *arg, const char *addr);
    void *arg;
} net_callbacks;

typedef struct net_options {
    const char *addr; /* host:port */
    /* TLS on the client port (tls.h); NULL or off: plaintext. With TLS, a
     * plaintext client gets a plaintext answer saying so, then is closed. */
    struct lms_tls *tls;
    uint32_t max_frame_bytes;
    uint32_t max_connections;
    /* Stop reading a connection with this many requests in flight. */
    uint32_t max_inflight_per_conn;
    /* Connections from one address (0: no limit). */
    uint32_t max_connections_per_ip;
    /* The longest frame a connection that has not authenticated may send
     * (0: max_frame_bytes). */
    uint32_t preauth_frame_bytes;
    /* A frame that has begun must be complete within frame_timeout_ms plus
     * one second per frame_min_rate bytes of its length (0: no deadline). */
    int64_t frame_timeout_ms;
    uint32_t frame_min_rate;
    /* Close a connection with no request in flight and no frame begun after
     * this long (0: never); preauth_idle_ms until it has authenticated. */
    int64_t idle_ms;
    int64_t preauth_idle_ms;
    /* Stop reading a connection while more than this many answer bytes
     * wait to be sent; read again below half of it (0: no bound). */
    size_t max_output_bytes;
} net_options;

int net_listen(struct event_base *base, const net_options *opts,
               const net_callbacks *cb, net **out, lms_err *err);
/* The port actually bound (useful with port 0). */
int net_port(const net *n);
/* Client connections open now (refused ones, on their way out, not counted). */
uint32_t net_open_connections(const net *n);
/* From now on use these limits of o (a reload, reload.h): max_connections,
 * max_connections_per_ip, preauth_frame_bytes, frame_timeout_ms,
 * frame_min_rate, idle_ms and preauth_idle_ms; the rest of o is ignored
 * (the address, TLS, max_frame_bytes and max_output_bytes stay as
 * net_listen set them). Each check reads the value when it runs: a
 * connection already over a lowered limit stays open, a frame already
 * begun keeps its deadline, and an open connection keeps the write timeout
 * (idle_ms) it started with. */
void net_set_limits(net *n, const net_options *o);
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
/* While a connection holds (holds > 0), no further frame is cut from it:
 * the dispatcher holds one while a request whose answer may be large is in
 * flight, so a client cannot pipeline many big answers at once. */
void conn_hold(conn *c, int delta);
/* A request on c carried a valid session token: from now on c may send
 * frames up to max_frame_bytes and the longer idle timeout applies. */
void conn_set_authenticated(conn *c);
int conn_is_open(const conn *c);
/* Answer bytes queued on c and not yet sent (0 once closed). */
size_t conn_output_pending(const conn *c);
/* The peer as "ip:port" (for logs). */
const char *conn_peer(const conn *c);

/* Build a frame: header + payload copied. */
blob *frame_new(const void *payload, size_t len);

#endif

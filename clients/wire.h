/* SPDX-License-Identifier: MIT */
/*
 * wire.h: frames on a client connection, plaintext or TLS. A frame is a
 * 4-byte big-endian length and one protobuf message. The socket is
 * non-blocking; every wait is a poll() with an idle timeout, so a server
 * that stops talking is noticed and the client can try another one.
 */
#ifndef LMS_CLIENTS_WIRE_H
#define LMS_CLIENTS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.pb-c.h"

struct ssl_st;

/* A connection to a server: a socket, and its TLS session if it has one
 * (tls.h); the frames are the same either way. */
struct lms_conn {
    int fd;             /* -1: not connected */
    struct ssl_st *ssl; /* NULL: plaintext */
    bool broken;        /* a TLS error: no more TLS I/O, not even a close_notify */
};

/* The largest response the clients accept. */
#define LMS_MAX_RESPONSE_BYTES (1u << 30)

/* Results of the frame functions below. */
enum lms_wire_rc {
    LMS_WIRE_OK = 0,
    LMS_WIRE_IO = -1,   /* the connection was closed or reset */
    LMS_WIRE_BAD = -2,  /* the peer sent something that is not a valid frame */
    LMS_WIRE_IDLE = -3, /* nothing moved for idle_ms */
};

/*
 * Encode req as one frame (header included) into a new buffer of *len bytes.
 * NULL if it is too large for a frame or memory runs out.
 */
uint8_t *lms_wire_pack_request(const Lms__Request *req, size_t *len);

/* Send all len bytes of frame. A progress bar shows if progress is allowed
 * and the frame is large. why says what failed. */
int lms_wire_send(struct lms_conn *conn, const uint8_t *frame, size_t len, int idle_ms,
                  bool progress, char *why, size_t whylen);

/* Receive one Response frame into *out (free with lms__response__free_unpacked). */
int lms_wire_recv_response(struct lms_conn *conn, int idle_ms, bool progress,
                           Lms__Response **out, char *why, size_t whylen);

#endif

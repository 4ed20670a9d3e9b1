/* SPDX-License-Identifier: MIT */
/*
 * frame.h: the little wire layer of the benchmark tools. One blocking TCP
 * connection per caller, TCP_NODELAY, send/receive timeouts set on the
 * socket, frames of a 4-byte big-endian length plus one protobuf message
 * (proto/client.proto). Deliberately independent of clients/lmsclient so
 * the benchmark measures the server, not the client library's retry
 * policy, and can keep several requests in flight on one connection.
 *
 * Only loopback addresses are accepted: the tools are meant to load a node
 * on the same machine, never something across the network.
 */
#ifndef LMS_BENCH_FRAME_H
#define LMS_BENCH_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client.pb-c.h"

/* Largest response accepted (list replies may be big; submissions are not
 * fetched by the benchmark). */
#define BENCH_MAX_FRAME (64u * 1024 * 1024)

typedef struct bench_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[128]; /* as given, for messages */
} bench_addr;

/* Results of the receive and call functions. */
enum {
    BENCH_OK = 0,
    BENCH_IO = -1,      /* connection closed or failed */
    BENCH_TIMEOUT = -2, /* nothing arrived within the socket timeout */
    BENCH_BAD = -3,     /* a frame that is too large or does not decode */
};

/* Resolve "host:port" ("[::1]:port" for IPv6). Refuses anything that is
 * not a loopback address. 0, or -1 with the reason in err. */
int bench_resolve(const char *hostport, bench_addr *a, char *err, size_t errlen);

/* Speak TLS on every connection from now on, verifying the server against
 * the CA certificates in cafile and its certificate against the address
 * dialled (call once, before the threads start). 0, or -1 with err. */
int bench_tls(const char *cafile, char *err, size_t errlen);

/* Close a connection of bench_connect (its TLS state too). */
void bench_close(int fd);

/* Connect with TCP_NODELAY (and the TLS handshake after bench_tls); every
 * later send or receive waits at most timeout_ms. The fd, or -1 with the
 * reason in err. */
int bench_connect(const bench_addr *a, int timeout_ms, char *err, size_t errlen);

/* A growable byte buffer: the send frame, and the receive stream. */
typedef struct bench_buf {
    uint8_t *data;
    size_t cap, start, end;
} bench_buf;

void bench_buf_free(bench_buf *b);

/* Pack req as one frame into b and write it all. BENCH_OK or BENCH_IO /
 * BENCH_TIMEOUT (errno says why). */
int bench_send(int fd, const Lms__Request *req, bench_buf *b);

/* Read the next Response frame (any id) through the stream buffer rb.
 * On BENCH_OK *out is to be freed with lms__response__free_unpacked. */
int bench_recv(int fd, bench_buf *rb, Lms__Response **out);

/* Send req and wait for the response with its id (others are an error:
 * for setup only, with nothing else in flight). */
int bench_call(int fd, const Lms__Request *req, bench_buf *sb, bench_buf *rb,
               Lms__Response **out);

/* Log in as name. On success copies the token (malloc'd) to *token and
 * returns 0; else -1 with the reason in err. seq is the client's counter
 * (the login is a write and takes the next seq). */
int bench_login(int fd, const char *name, const char *password, uint64_t client_id,
                uint64_t *seq, char **token, char *err, size_t errlen);

/* "OK", "NOT_FOUND", ... or "STATUS_<n>" (written into buf). */
const char *bench_status_name(int status, char *buf, size_t n);

/* Text of a BENCH_* result. */
const char *bench_rc_name(int rc);

/* 64 random bits, never 0. */
uint64_t bench_random_u64(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * wire.c: the framing of wire.h over a non-blocking socket, plaintext or
 * TLS: full-write and full-read loops that wait with poll(), never raise
 * SIGPIPE (tls.c's BIO sends with MSG_NOSIGNAL too), and report progress
 * for large frames.
 *
 * Over TLS a read may have to wait for the socket to be writable and a
 * write for it to be readable (renegotiation, key updates), so each loop
 * waits for whatever the last try asked for. It waits only after OpenSSL
 * said it wants more: by then nothing it has buffered (SSL_pending) is
 * left to read.
 */
#include "wire.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "progress.h"

uint8_t *lms_wire_pack_request(const Lms__Request *req, size_t *len)
{
    size_t body = lms__request__get_packed_size(req);
    if (body > UINT32_MAX)
        return NULL;
    uint8_t *frame = malloc(body + 4);
    if (frame == NULL)
        return NULL;
    frame[0] = (uint8_t)(body >> 24);
    frame[1] = (uint8_t)(body >> 16);
    frame[2] = (uint8_t)(body >> 8);
    frame[3] = (uint8_t)body;
    lms__request__pack(req, frame + 4);
    *len = body + 4;
    return frame;
}

/* Wait until fd is ready for events. 0, or -1 with errno (ETIMEDOUT). */
static int wait_for(int fd, short events, int idle_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    for (;;) {
        int n = poll(&pfd, 1, idle_ms);
        if (n > 0)
            return 0;
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

/* Say why an I/O failed; returns LMS_WIRE_IDLE or LMS_WIRE_IO. */
static int describe(char *why, size_t whylen, const char *what, int err)
{
    if (err == ETIMEDOUT)
        snprintf(why, whylen, "no answer from the server while %s", what);
    else if (err == 0)
        snprintf(why, whylen, "connection closed by the server while %s", what);
    else
        snprintf(why, whylen, "connection lost while %s: %s", what, strerror(err));
    return err == ETIMEDOUT ? LMS_WIRE_IDLE : LMS_WIRE_IO;
}

/*
 * One send or receive on conn: the bytes moved (> 0), 0 when the server
 * closed the connection (receiving), or -1 with errno; EAGAIN with *wait
 * the poll() events that let it go on.
 */
static ssize_t io_once(struct lms_conn *conn, bool sending, uint8_t *buf, size_t len,
                       short *wait)
{
    if (conn->ssl == NULL) {
        *wait = sending ? POLLOUT : POLLIN;
        return sending ? send(conn->fd, buf, len, MSG_NOSIGNAL) : recv(conn->fd, buf, len, 0);
    }
    if (conn->broken) {
        errno = EPIPE;
        return -1;
    }
    size_t done = 0;
    ERR_clear_error();
    errno = 0;
    int ok = sending ? SSL_write_ex(conn->ssl, buf, len, &done)
                     : SSL_read_ex(conn->ssl, buf, len, &done);
    if (ok)
        return (ssize_t)done;
    int err = errno;
    switch (SSL_get_error(conn->ssl, 0)) {
    case SSL_ERROR_WANT_READ:
        *wait = POLLIN;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *wait = POLLOUT;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: /* close_notify */
        if (!sending)
            return 0;
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        conn->broken = true;
        if (err == 0 && !sending)
            return 0; /* closed without close_notify */
        errno = err ? err : EPIPE;
        return -1;
    default:
        conn->broken = true;
        /* OpenSSL 3 reports a close without close_notify as an error */
        if (!sending &&
            ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            return 0;
        errno = EPROTO;
        return -1;
    }
}

int lms_wire_send(struct lms_conn *conn, const uint8_t *frame, size_t len, int idle_ms,
                  bool progress, char *why, size_t whylen)
{
    struct lms_progress pg;
    size_t off = 0;
    short wait = 0;
    lms_progress_start(&pg, "sending", len, progress);
    while (off < len) {
        ssize_t n = io_once(conn, true, (uint8_t *)frame + off, len - off, &wait);
        if (n > 0) {
            off += (size_t)n;
            lms_progress_add(&pg, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && wait_for(conn->fd, wait, idle_ms) == 0)
            continue;
        break;
    }
    int err = errno;
    lms_progress_end(&pg);
    if (off == len)
        return LMS_WIRE_OK;
    return describe(why, whylen, "sending", err);
}

/* Read exactly len bytes. Returns 0, or -1 with errno (0: orderly close). */
static int recv_all(struct lms_conn *conn, uint8_t *buf, size_t len, int idle_ms,
                    struct lms_progress *pg)
{
    size_t off = 0;
    short wait = 0;
    while (off < len) {
        ssize_t n = io_once(conn, false, buf + off, len - off, &wait);
        if (n > 0) {
            off += (size_t)n;
            if (pg != NULL)
                lms_progress_add(pg, (size_t)n);
        } else if (n == 0) {
            errno = 0;
            return -1;
        } else if (errno == EAGAIN) {
            if (wait_for(conn->fd, wait, idle_ms) < 0)
                return -1;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

/* A TLS record header: alert (0x15) or handshake (0x16), version 3.x. As a
 * length it is 352-369 MB, within the limit, so it shows only when the
 * server hangs up before that much arrives. */
static bool looks_like_tls(const uint8_t hdr[4])
{
    return (hdr[0] == 0x15 || hdr[0] == 0x16) && hdr[1] == 0x03;
}

/*
 * The answer is not an lms frame. Say so, and what it looks like when the
 * first bytes give the server away, so that someone who typed the wrong
 * port sees it. The caller appends " (host:port)".
 */
static int not_lms(char *why, size_t whylen, const uint8_t hdr[4], const char *what)
{
    static const char lead[] = "the server does not speak the lms protocol";
    static const char hint[] = "; is it the right port?";
    if (memcmp(hdr, "HTTP", 4) == 0)
        snprintf(why, whylen, "%s (it answered like an HTTP server)%s", lead, hint);
    else if (looks_like_tls(hdr))
        snprintf(why, whylen, "%s (it answered like a TLS server)%s", lead, hint);
    else if (memcmp(hdr, "SSH-", 4) == 0)
        snprintf(why, whylen, "%s (it answered like an SSH server)%s", lead, hint);
    else
        snprintf(why, whylen, "%s (%s)%s", lead, what, hint);
    return LMS_WIRE_BAD;
}

int lms_wire_recv_response(struct lms_conn *conn, int idle_ms, bool progress,
                           Lms__Response **out, char *why, size_t whylen)
{
    uint8_t hdr[4];
    char what[96];
    if (recv_all(conn, hdr, sizeof hdr, idle_ms, NULL) < 0) {
        return describe(why, whylen, "waiting for the answer", errno);
    }
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len > LMS_MAX_RESPONSE_BYTES) {
        snprintf(what, sizeof what, "its answer announces %u bytes, above the limit of 1 GiB",
                 len);
        return not_lms(why, whylen, hdr, what);
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        snprintf(why, whylen, "out of memory for a response of %u bytes", len);
        return LMS_WIRE_BAD;
    }
    struct lms_progress pg;
    lms_progress_start(&pg, "receiving", len, progress);
    int rc = recv_all(conn, buf, len, idle_ms, &pg);
    int err = errno;
    lms_progress_end(&pg);
    if (rc < 0) {
        free(buf);
        if (looks_like_tls(hdr) && err != ETIMEDOUT)
            return not_lms(why, whylen, hdr, "");
        return describe(why, whylen, "receiving the answer", err);
    }
    *out = lms__response__unpack(NULL, len, buf);
    free(buf);
    if (*out == NULL) {
        snprintf(what, sizeof what, "its answer of %u bytes does not decode as an lms response",
                 len);
        return not_lms(why, whylen, hdr, what);
    }
    return LMS_WIRE_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * tls.h: TLS on the client side of the client port. A client talks to lmsd
 * in one of four ways (lms_tls_mode): plaintext to servers on this machine
 * only (the default: passwords and tokens never cross a network in clear
 * unless the user asked), plaintext anywhere, or TLS verified against the
 * system's CAs or against the CAs of a file (the cluster's ca.crt). Over TLS
 * the frames are exactly those of wire.h.
 *
 * A handshake that fails because of the configuration (a certificate that
 * is not trusted or names another host, a server that does not answer TLS)
 * is told apart from one that fails because of the network, so that the
 * client library can stop at once instead of retrying what cannot work.
 */
#ifndef LMS_CLIENTS_TLS_H
#define LMS_CLIENTS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct ssl_st;

enum lms_tls_mode {
    LMS_TLS_DEFAULT = 0, /* plaintext, and only to loopback addresses */
    LMS_TLS_PLAINTEXT,   /* plaintext to any address (--plaintext) */
    LMS_TLS_SYSTEM,      /* TLS, verified with the system's CAs (--tls) */
    LMS_TLS_CAFILE,      /* TLS, verified with the CAs of a file (--cacert) */
};

/* The mode's name in the session file: "default", "plaintext", "system",
 * "cacert". */
const char *lms_tls_mode_name(enum lms_tls_mode mode);
/* The mode of a name of lms_tls_mode_name: 0, or -1 if s is none. */
int lms_tls_mode_parse(const char *s, enum lms_tls_mode *mode);

/* Is sa an address of this machine's loopback (127.0.0.0/8, ::1, or
 * 127.0.0.0/8 mapped into IPv6)? Only there may the default mode speak
 * plaintext. */
bool lms_addr_is_loopback(const struct sockaddr *sa);

/* The settings shared by every connection of a client: an SSL_CTX with the
 * trusted CAs. */
struct lms_tls;

/*
 * TLS settings for mode LMS_TLS_SYSTEM or LMS_TLS_CAFILE (with cafile, a
 * PEM file of one or more CA certificates). NULL with the reason in err if
 * the CAs cannot be loaded or memory runs out.
 */
struct lms_tls *lms_tls_new(enum lms_tls_mode mode, const char *cafile, char *err, size_t errlen);
void lms_tls_free(struct lms_tls *t);

/* Results of lms_tls_handshake. */
enum lms_tls_rc {
    LMS_TLS_OK = 0,
    LMS_TLS_TRANSIENT = -1, /* timeout, reset: another try may work */
    LMS_TLS_CONFIG = -2,    /* untrusted or misnamed certificate, no TLS on that port:
                             * trying again cannot help */
};

/*
 * Run the TLS handshake on the connected non-blocking socket fd, taking at
 * most timeout_ms, and verify the server's certificate: its chain against
 * the trusted CAs, and its names against host (the name or IP address the
 * user gave; a name is also sent as SNI). On LMS_TLS_OK *out is the
 * connection (free with SSL_free, which leaves fd open); otherwise why
 * says what is wrong, to follow "cannot use HOST:PORT: ".
 */
enum lms_tls_rc lms_tls_handshake(struct lms_tls *t, int fd, const char *host, int timeout_ms,
                                  struct ssl_st **out, char *why, size_t whylen);

#endif

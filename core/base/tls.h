/* SPDX-License-Identifier: MIT */
/*
 * tls.h: the node's TLS contexts (OpenSSL), for the client port and for
 * mutual TLS on the peer port.
 *
 * Files (config tls.*; `lms-admin cluster-ca` makes them):
 *   ca    the cluster's CA certificate: a peer is accepted only with a
 *         certificate it signed
 *   cert  this node's certificate, whose subjectAltName holds exactly one
 *         URI "lms://<cluster>/node/<id>" (its member id) and the names
 *         and addresses clients reach it by
 *   key   its private key (refused if group- or world-readable)
 *   client_cert/client_key: another certificate for the client port only
 *         (e.g. from a public CA); default cert/key.
 *
 * A peer proves its member id by its certificate: peer.c asks
 * tls_peer_id() on every connection, inbound and outbound, and compares
 * with the hello's `from` (inbound) or the member it dialled (outbound).
 */
#ifndef LMS_CORE_TLS_H
#define LMS_CORE_TLS_H

#include <lms/plugin.h>
#include <openssl/ssl.h>
#include <stdint.h>

typedef struct tls_files {
    const char *ca, *cert, *key;
    const char *client_cert, *client_key; /* NULL: cert, key */
    int peer;   /* mutual TLS on the peer port */
    int client; /* TLS on the client port */
} tls_files;

typedef struct lms_tls lms_tls;

/* Load and check the files (key matches cert, key not readable by others,
 * the node's own certificate names member self_id of cluster). Logs the
 * certificates' expiry. NULL files when neither port uses TLS: *out NULL. */
int tls_open(const tls_files *f, const char *cluster, uint64_t self_id,
             lms_tls **out, lms_err *err);
void tls_free(lms_tls *t);

/* SIGHUP (certificate rotation): load f again (the paths the node runs
 * with) with tls_open's checks; on success the new certificates serve
 * every connection made from now on, on both ports, and each one that
 * changed is logged ("reload: tls.cert PATH: new certificate, serial ...,
 * expires ..."). Connections already open keep theirs. On failure t is as
 * it was, err says why. f must turn on the ports tls_open turned on. */
int tls_reload(lms_tls *t, const tls_files *f, uint64_t self_id,
               lms_err *err);

/* The SHA-256 of a certificate's DER (0; -1 and zeros: cannot). */
#define TLS_SHA256_LEN 32
int tls_cert_sha256(X509 *cert, unsigned char out[TLS_SHA256_LEN]);
/* Do a and b hold the same certificate (byte for byte)? Two NULLs: yes. */
int tls_cert_same(X509 *a, X509 *b);
/* "serial 1A2B..., expires 2027-01-31T12:00:00Z" (hex, UTC), '?' for what
 * cannot be read. */
#define TLS_SUMMARY_LEN 128
void tls_cert_summary(X509 *cert, char *buf, size_t len);

/* A new SSL for an accepted client connection; NULL when the client port
 * is plaintext (or out of memory: check tls_client_port_on). */
SSL *tls_client_ssl(lms_tls *t);
int tls_client_port_on(const lms_tls *t);

/* A new SSL for the peer port (connecting or accepted); NULL when the peer
 * port is plaintext or out of memory (check tls_peer_port_on). The
 * handshake fails unless the other end's certificate is from the CA and
 * names a member of this cluster: *expect (which must outlive the SSL)
 * when expect is given (a member we dial). */
SSL *tls_peer_ssl(lms_tls *t, const uint64_t *expect);
int tls_peer_port_on(const lms_tls *t);

/* The member id that the verified certificate of ssl's peer names for
 * cluster: 0 and why when there is none (no certificate, not verified,
 * no or several lms URIs, another cluster). */
uint64_t tls_peer_id(SSL *ssl, const char *cluster, char *why, size_t whylen);

/* The member id a certificate names for cluster (0: none; why says). */
uint64_t tls_cert_member_id(X509 *cert, const char *cluster, char *why,
                            size_t whylen);

struct bufferevent;
struct event_base;
/* A bufferevent speaking TLS over fd (-1: connect later) with ssl, which
 * it owns from now on (freed here on failure; NULL ssl: NULL), accepting
 * or connecting; a peer that closes without close_notify is an EOF. */
struct bufferevent *tls_bufferevent(struct event_base *base, int fd, SSL *ssl,
                                    int accepting, int options);
/* Why a TLS bufferevent failed, as OpenSSL said it (NULL: not a TLS
 * error); its queue of errors is emptied. */
const char *tls_bev_error(struct bufferevent *bev);

/* The last OpenSSL error of this thread as text (and the queue cleared). */
void tls_last_error(char *buf, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * tls.c: the client's TLS of tls.h over OpenSSL.
 *
 * OpenSSL's socket BIO writes with write(), which raises SIGPIPE when the
 * server has gone; a library must not change the process's signals, so the
 * connection's BIO here sends with MSG_NOSIGNAL instead. It also notes the
 * first byte the server sent, which tells a server that does not speak TLS
 * (a plaintext lmsd answers a ClientHello with an lms frame, which starts
 * with a zero byte) from a TLS server that refused the handshake.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* TLS record types a TLS server starts with: a handshake, or an alert. */
#define TLS_RECORD_ALERT 0x15
#define TLS_RECORD_HANDSHAKE 0x16

struct lms_tls {
    SSL_CTX *ctx;
    BIO_METHOD *bio_method;
    enum lms_tls_mode mode;
    char *cafile; /* LMS_TLS_CAFILE: for messages */
};

static const char *const mode_names[] = {
    [LMS_TLS_DEFAULT] = "default",
    [LMS_TLS_PLAINTEXT] = "plaintext",
    [LMS_TLS_SYSTEM] = "system",
    [LMS_TLS_CAFILE] = "cacert",
};

const char *lms_tls_mode_name(enum lms_tls_mode mode)
{
    return (size_t)mode < sizeof mode_names / sizeof mode_names[0] ? mode_names[mode] : "?";
}

int lms_tls_mode_parse(const char *s, enum lms_tls_mode *mode)
{
    for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *mode = (enum lms_tls_mode)i;
            return 0;
        }
    }
    return -1;
}

bool lms_addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

/* ---- a socket BIO that never raises SIGPIPE ------------------------------ */

struct sock_bio {
    int fd;
    size_t received; /* bytes read from the server so far */
    int first;       /* the first of them, -1 before any */
    int err;         /* errno of the last failed send or receive */
    bool eof;
};

static int sock_bio_write(BIO *b, const char *buf, size_t len, size_t *done)
{
    struct sock_bio *s = BIO_get_data(b);
    ssize_t n;
    BIO_clear_retry_flags(b);
    while ((n = send(s->fd, buf, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n < 0) {
        s->err = errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return 0;
    }
    *done = (size_t)n;
    return 1;
}

static int sock_bio_read(BIO *b, char *buf, size_t len, size_t *done)
{
    struct sock_bio *s = BIO_get_data(b);
    ssize_t n;
    BIO_clear_retry_flags(b);
    while ((n = recv(s->fd, buf, len, 0)) < 0 && errno == EINTR)
        ;
    if (n < 0) {
        s->err = errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_read(b);
        return 0;
    }
    if (n == 0) {
        s->eof = true;
        errno = 0;
        return 0;
    }
    if (s->received == 0)
        s->first = (unsigned char)buf[0];
    s->received += (size_t)n;
    *done = (size_t)n;
    return 1;
}

static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    const struct sock_bio *s = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* nothing is buffered here */
    case BIO_CTRL_EOF:
        return s != NULL && s->eof;
    default:
        return 0;
    }
}

static int sock_bio_destroy(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *sock_bio_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lms socket");
    if (m == NULL)
        return NULL;
    if (!BIO_meth_set_write_ex(m, sock_bio_write) || !BIO_meth_set_read_ex(m, sock_bio_read) ||
        !BIO_meth_set_ctrl(m, sock_bio_ctrl) || !BIO_meth_set_destroy(m, sock_bio_destroy)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

static BIO *sock_bio_new(BIO_METHOD *m, int fd)
{
    struct sock_bio *s = calloc(1, sizeof *s);
    BIO *b = s ? BIO_new(m) : NULL;
    if (b == NULL) {
        free(s);
        return NULL;
    }
    s->fd = fd;
    s->first = -1;
    BIO_set_data(b, s);
    BIO_set_init(b, 1);
    return b;
}

/* ---- settings ----------------------------------------------------------- */

/* The reason of OpenSSL's latest error, or dflt. */
static const char *ssl_reason(const char *dflt)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : dflt;
}

void lms_tls_free(struct lms_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    BIO_meth_free(t->bio_method);
    free(t->cafile);
    free(t);
}

struct lms_tls *lms_tls_new(enum lms_tls_mode mode, const char *cafile, char *err, size_t errlen)
{
    struct lms_tls *t = calloc(1, sizeof *t);
    if (t == NULL || (cafile != NULL && (t->cafile = strdup(cafile)) == NULL) ||
        (t->bio_method = sock_bio_method()) == NULL ||
        (t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        snprintf(err, errlen, "cannot set up TLS: %s", ssl_reason("out of memory"));
        lms_tls_free(t);
        return NULL;
    }
    t->mode = mode;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    /* partial writes keep the progress bar moving; the buffer of a retried
     * write is the same bytes at the same place, but say it may move */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    ERR_clear_error();
    if (mode == LMS_TLS_CAFILE) {
        FILE *f = fopen(cafile, "r");
        if (f == NULL) {
            snprintf(err, errlen, "cannot read the CA certificate file %s: %s", cafile,
                     strerror(errno));
            lms_tls_free(t);
            return NULL;
        }
        fclose(f);
        if (SSL_CTX_load_verify_locations(t->ctx, cafile, NULL) != 1) {
            snprintf(err, errlen, "%s holds no CA certificate that can be used (%s)", cafile,
                     ssl_reason("not PEM"));
            lms_tls_free(t);
            return NULL;
        }
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        snprintf(err, errlen, "cannot load the system's CA certificates (%s)",
                 ssl_reason("unknown error"));
        lms_tls_free(t);
        return NULL;
    }
    return t;
}

/* ---- the handshake ------------------------------------------------------ */

/* What the verification callback saw of a certificate with the wrong names. */
struct names_seen {
    char list[256]; /* "localhost, 127.0.0.1, ::1" */
};

/* Append the DNS names and IP addresses of cert's subjectAltName to n. */
static void list_names(X509 *cert, struct names_seen *n)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    size_t len = 0;
    n->list[0] = '\0';
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char ip[INET6_ADDRSTRLEN];
        const char *name = NULL;
        int nlen = 0;
        if (g->type == GEN_DNS) {
            name = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
            nlen = ASN1_STRING_length(g->d.dNSName);
        } else if (g->type == GEN_IPADD) {
            int alen = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
            if ((alen == 4 || alen == 16) &&
                inet_ntop(alen == 4 ? AF_INET : AF_INET6, a, ip, sizeof ip) != NULL) {
                name = ip;
                nlen = (int)strlen(ip);
            }
        }
        if (name == NULL || len >= sizeof n->list)
            continue;
        int w = snprintf(n->list + len, sizeof n->list - len, "%s%.*s", len ? ", " : "", nlen,
                         name);
        len += w > 0 ? (size_t)w : 0;
    }
    GENERAL_NAMES_free(gens);
}

/* Verification as OpenSSL decides it; only notes the names of a server
 * certificate that does not name the host, for the message. */
static int on_verify(int ok, X509_STORE_CTX *store)
{
    int e = X509_STORE_CTX_get_error(store);
    if (!ok && (e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH)) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
        struct names_seen *n = ssl ? SSL_get_app_data(ssl) : NULL;
        X509 *leaf = X509_STORE_CTX_get0_cert(store);
        if (n != NULL && leaf != NULL)
            list_names(leaf, n);
    }
    return ok;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Check the server's names against host: an IP address against the
 * certificate's IP addresses, a name against its DNS names (and send it
 * as SNI). */
static int expect_host(SSL *ssl, const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
        return -1;
    return 0;
}

static const char not_tls[] =
    "it did not answer TLS (is its client port plaintext? tls.client in its config)";

/* The handshake failed for good: say why. */
static enum lms_tls_rc explain(const struct lms_tls *t, SSL *ssl, const struct sock_bio *s,
                               const struct names_seen *n, const char *host, int sslerr,
                               char *why, size_t whylen)
{
    long vr = SSL_get_verify_result(ssl);
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        snprintf(why, whylen, "its certificate is for node names that do not include '%s'%s%s%s",
                 host, n->list[0] ? " (it names " : "", n->list, n->list[0] ? ")" : "");
        return LMS_TLS_CONFIG;
    }
    if (vr != X509_V_OK) {
        const char *reason = X509_verify_cert_error_string(vr);
        if (t->mode == LMS_TLS_CAFILE)
            snprintf(why, whylen,
                     "its certificate is not trusted (%s) by the CA certificates in %s; give "
                     "the cluster's CA (ca.crt) with --cacert FILE or LMS_CACERT",
                     reason, t->cafile);
        else
            snprintf(why, whylen,
                     "its certificate is not trusted (%s) by the system's CAs; give the "
                     "cluster's CA with --cacert FILE or LMS_CACERT",
                     reason);
        return LMS_TLS_CONFIG;
    }
    bool lost = s->err == ECONNRESET || s->err == EPIPE;
    if (s->received == 0 && (s->eof || lost)) {
        snprintf(why, whylen, "%s", not_tls); /* hung up on the ClientHello */
        return LMS_TLS_CONFIG;
    }
    if (s->received > 0 && s->first != TLS_RECORD_HANDSHAKE && s->first != TLS_RECORD_ALERT) {
        snprintf(why, whylen, "%s", not_tls);
        return LMS_TLS_CONFIG;
    }
    if (sslerr == SSL_ERROR_SSL && !s->eof && !lost) {
        /* a TLS server that would not agree: versions, ciphers, or it
         * wants something else of us */
        snprintf(why, whylen, "the TLS handshake failed (%s)", ssl_reason("unknown reason"));
        return LMS_TLS_CONFIG;
    }
    snprintf(why, whylen, "connection lost during the TLS handshake: %s",
             s->eof || s->err == 0 ? "closed by the server" : strerror(s->err));
    return LMS_TLS_TRANSIENT;
}

enum lms_tls_rc lms_tls_handshake(struct lms_tls *t, int fd, const char *host, int timeout_ms,
                                  struct ssl_st **out, char *why, size_t whylen)
{
    struct names_seen names = {.list = ""};
    SSL *ssl = SSL_new(t->ctx);
    BIO *bio = ssl ? sock_bio_new(t->bio_method, fd) : NULL;
    *out = NULL;
    if (bio == NULL) {
        snprintf(why, whylen, "cannot set up TLS: %s", ssl_reason("out of memory"));
        SSL_free(ssl);
        return LMS_TLS_TRANSIENT;
    }
    SSL_set_bio(ssl, bio, bio);
    const struct sock_bio *s = BIO_get_data(bio);
    SSL_set_app_data(ssl, &names);
    SSL_set_verify(ssl, SSL_VERIFY_PEER, on_verify);
    if (expect_host(ssl, host) < 0) {
        snprintf(why, whylen, "'%s' cannot be checked against a certificate", host);
        SSL_free(ssl);
        return LMS_TLS_CONFIG;
    }
    int64_t deadline = mono_ms() + timeout_ms;
    enum lms_tls_rc rc = LMS_TLS_OK;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            rc = explain(t, ssl, s, &names, host, e, why, whylen);
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        int64_t left = deadline - mono_ms();
        int n = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                snprintf(why, whylen, "no TLS handshake within %d ms", timeout_ms);
            else
                snprintf(why, whylen, "TLS handshake: %s", strerror(errno));
            rc = LMS_TLS_TRANSIENT;
            break;
        }
    }
    SSL_set_app_data(ssl, NULL);
    if (rc != LMS_TLS_OK) {
        SSL_free(ssl);
        return rc;
    }
    *out = ssl;
    return LMS_TLS_OK;
}

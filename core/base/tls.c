/* SPDX-License-Identifier: MIT */
/*
 * tls.c: see tls.h.
 */
#include "tls.h"

#include "lms_assert.h"
#include "log.h"

#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EXPIRY_WARN_DAYS 30

struct lms_tls {
    SSL_CTX *client; /* NULL: plaintext client port */
    SSL_CTX *peer;   /* NULL: plaintext peer port */
    char *cluster;
    /* tls.ca as loaded (peer port only): the SHA-256 over its
     * certificates and the first one's summary, which a reload compares
     * and logs (the file itself has been replaced by then) */
    unsigned char ca_sha[TLS_SHA256_LEN];
    char ca_summary[TLS_SUMMARY_LEN];
    int ca_count;
};

/* SSL ex_data of a peer connection: the member id it must name (a
 * const uint64_t *; NULL: any member of this cluster). */
static int expect_idx = -1;
/* SSL_CTX ex_data of the peer context: its lms_tls. */
static int owner_idx = -1;

void tls_last_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error(), next;
    while ((next = ERR_get_error()) != 0)
        e = next; /* the last one is usually the most specific... */
    if (!e) {
        snprintf(buf, len, "%s", errno ? strerror(errno) : "unknown error");
        return;
    }
    const char *reason = ERR_reason_error_string(e);
    snprintf(buf, len, "%s", reason ? reason : "unknown OpenSSL error");
    ERR_clear_error();
}

struct bufferevent *tls_bufferevent(struct event_base *base, int fd, SSL *ssl,
                                    int accepting, int options)
{
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, fd, ssl,
        accepting ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
        options);
    if (!bev) {
        SSL_free(ssl); /* libevent leaves it to us when it fails */
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

const char *tls_bev_error(struct bufferevent *bev)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (!e)
        return NULL;
    while (bufferevent_get_openssl_error(bev))
        ;
    const char *r = ERR_reason_error_string(e);
    return r ? r : "handshake failed";
}

static int ssl_error(lms_err *err, const char *what, const char *path)
{
    char why[160];
    tls_last_error(why, sizeof why);
    return lms_err_set(err, LMS_INVALID_ARGUMENT, "%s %s: %s", what, path,
                       why);
}

/* A private key that others can read is refused, as ssh does. */
static int check_key_mode(const char *path, lms_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "tls key %s: %s", path,
                           strerror(errno));
    if (st.st_mode & 077)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "tls key %s is readable by group or others (mode "
                           "%03o); chmod 600 it",
                           path, (unsigned)(st.st_mode & 0777));
    return LMS_OK;
}

/* Log when cert expires; refuse an expired one. */
static int check_expiry(X509 *cert, const char *path, lms_err *err)
{
    int days = 0, secs = 0;
    if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)))
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "tls certificate %s: unreadable expiry date", path);
    if (days < 0 || (days == 0 && secs <= 0))
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "tls certificate %s has expired; issue a new one "
                           "(lms-admin cluster-ca issue)", path);
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "tls certificate %s is not valid yet (check the "
                           "clock)", path);
    if (days < EXPIRY_WARN_DAYS)
        log_warn("tls certificate %s expires in %d days", path, days);
    else
        log_info("tls certificate %s: valid for %d more days", path, days);
    return LMS_OK;
}

static SSL_CTX *ctx_with_cert(const SSL_METHOD *method, const char *cert,
                              const char *key, lms_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) {
        ssl_error(err, "cannot make a TLS context for", cert);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* a peer that closes without close_notify is an EOF like any other
     * (our frames carry their length: a cut one is seen as cut) */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (check_key_mode(key, err) != LMS_OK)
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_error(err, "cannot load tls certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 &&
        ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
        ssl_error(err, "cannot load tls key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        lms_err_set(err, LMS_INVALID_ARGUMENT,
                    "tls key %s does not belong to certificate %s", key, cert);
        goto fail;
    }
    if (check_expiry(SSL_CTX_get0_certificate(ctx), cert, err) != LMS_OK)
        goto fail;
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* Is cert signed by the CAs in ctx's store? */
static int check_signed_by(SSL_CTX *ctx, const tls_files *f, lms_err *err)
{
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    int ok = sc && X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx),
                                       SSL_CTX_get0_certificate(ctx), NULL) == 1;
    int rc = LMS_OK;
    if (!ok)
        rc = ssl_error(err, "cannot check tls certificate", f->cert);
    else if (X509_verify_cert(sc) != 1)
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT,
                         "tls certificate %s does not verify against tls.ca "
                         "%s: %s",
                         f->cert, f->ca,
                         X509_verify_cert_error_string(
                             X509_STORE_CTX_get_error(sc)));
    X509_STORE_CTX_free(sc);
    ERR_clear_error();
    return rc;
}

/* The chain verified (preverify), the peer's own certificate must name a
 * member of this cluster: the one dialled, when known. A wrong one fails
 * the handshake, before a byte of ours is sent on it. */
static int verify_member(int preverify, X509_STORE_CTX *sc)
{
    if (!preverify || X509_STORE_CTX_get_error_depth(sc) != 0)
        return preverify;
    SSL *ssl = X509_STORE_CTX_get_ex_data(
        sc, SSL_get_ex_data_X509_STORE_CTX_idx());
    lms_tls *t = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), owner_idx)
                     : NULL;
    if (!t)
        return 0;
    const uint64_t *want = SSL_get_ex_data(ssl, expect_idx);
    char why[200];
    uint64_t id = tls_cert_member_id(X509_STORE_CTX_get_current_cert(sc),
                                     t->cluster, why, sizeof why);
    if (!id || (want && id != *want)) {
        if (id)
            log_warn("peer TLS: the certificate names node %llu, but node "
                     "%llu was dialled; refused",
                     (unsigned long long)id, (unsigned long long)*want);
        else
            log_warn("peer TLS: refused: %s", why);
        X509_STORE_CTX_set_error(sc, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

/* t->ca_*: what tls.ca holds, for a reload to say whether it changed. A
 * file that cannot be read again (it just loaded) leaves them zero: the
 * next reload then calls it new, which is only a log line. */
static void ca_digest(lms_tls *t, const char *path)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    BIO *in = BIO_new_file(path, "r");
    X509 *c;
    int ok = md && in && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    while (ok && (c = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        unsigned char one[TLS_SHA256_LEN];
        ok = tls_cert_sha256(c, one) == 0 &&
             EVP_DigestUpdate(md, one, sizeof one) == 1;
        if (ok && t->ca_count++ == 0)
            tls_cert_summary(c, t->ca_summary, sizeof t->ca_summary);
        X509_free(c);
    }
    if (!ok || t->ca_count == 0 ||
        EVP_DigestFinal_ex(md, t->ca_sha, NULL) != 1) {
        memset(t->ca_sha, 0, sizeof t->ca_sha);
        t->ca_count = 0;
    }
    ERR_clear_error(); /* the end of the file reads as a PEM error */
    BIO_free(in);
    EVP_MD_CTX_free(md);
}

static int open_peer(lms_tls *t, const tls_files *f, const char *cluster,
                     uint64_t self_id, lms_err *err)
{
    if (expect_idx < 0)
        expect_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (owner_idx < 0)
        owner_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (expect_idx < 0 || owner_idx < 0)
        return ssl_error(err, "cannot set up TLS for", f->cert);
    t->peer = ctx_with_cert(TLS_method(), f->cert, f->key, err);
    if (!t->peer)
        return err->code;
    /* both ends are lmsd: nothing older than 1.3 is needed */
    SSL_CTX_set_min_proto_version(t->peer, TLS1_3_VERSION);
    if (SSL_CTX_load_verify_locations(t->peer, f->ca, NULL) != 1)
        return ssl_error(err, "cannot load tls.ca", f->ca);
    ca_digest(t, f->ca);
    SSL_CTX_set_ex_data(t->peer, owner_idx, t);
    SSL_CTX_set_verify(t->peer, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       verify_member);
    SSL_CTX_set_verify_depth(t->peer, 4);
    /* the CA we trust is the one peers must name as issuer */
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->ca);
    if (names)
        SSL_CTX_set_client_CA_list(t->peer, names);
    ERR_clear_error();
    int rc = check_signed_by(t->peer, f, err);
    if (rc)
        return rc;
    char why[200];
    uint64_t id = tls_cert_member_id(SSL_CTX_get0_certificate(t->peer),
                                     cluster, why, sizeof why);
    if (id != self_id)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "tls certificate %s does not name this node (node "
                           "%llu of cluster '%s'): %s%s",
                           f->cert, (unsigned long long)self_id, cluster,
                           id ? "it names another node" : why,
                           " (lms-admin cluster-ca issue DIR ID makes one)");
    return LMS_OK;
}

int tls_open(const tls_files *f, const char *cluster, uint64_t self_id,
             lms_tls **out, lms_err *err)
{
    *out = NULL;
    if (!f->peer && !f->client)
        return LMS_OK;
    lms_tls *t = calloc(1, sizeof *t);
    if (!t || !(t->cluster = strdup(cluster))) {
        free(t);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    int rc = LMS_OK;
    if (f->peer)
        rc = open_peer(t, f, cluster, self_id, err);
    if (rc == LMS_OK && f->client) {
        const char *cert = f->client_cert ? f->client_cert : f->cert;
        const char *key = f->client_key ? f->client_key : f->key;
        t->client = ctx_with_cert(TLS_server_method(), cert, key, err);
        if (!t->client)
            rc = err->code;
    }
    if (rc) {
        tls_free(t);
        return rc;
    }
    *out = t;
    return LMS_OK;
}

void tls_free(lms_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->client);
    SSL_CTX_free(t->peer);
    free(t->cluster);
    free(t);
}

int tls_client_port_on(const lms_tls *t) { return t && t->client; }
int tls_peer_port_on(const lms_tls *t) { return t && t->peer; }

SSL *tls_client_ssl(lms_tls *t)
{
    return tls_client_port_on(t) ? SSL_new(t->client) : NULL;
}

SSL *tls_peer_ssl(lms_tls *t, const uint64_t *expect)
{
    SSL *ssl = tls_peer_port_on(t) ? SSL_new(t->peer) : NULL;
    if (ssl && SSL_set_ex_data(ssl, expect_idx, (void *)expect) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

/* "123" (1..2^63-1, no sign, no leading zero) to its value, or 0. */
static uint64_t parse_member_id(const char *s, size_t n)
{
    if (n == 0 || n > 19 || s[0] == '0')
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v <= (uint64_t)INT64_MAX ? v : 0;
}

uint64_t tls_cert_member_id(X509 *cert, const char *cluster, char *why,
                            size_t whylen)
{
    static const char scheme[] = "lms://";
    GENERAL_NAMES *names =
        cert ? X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL) : NULL;
    size_t found = 0;
    uint64_t id = 0;
    snprintf(why, whylen, "its certificate has no lms://%s/node/ID name",
             cluster);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type != GEN_URI)
            continue;
        const char *u = (const char *)ASN1_STRING_get0_data(
            gn->d.uniformResourceIdentifier);
        size_t n = (size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier);
        if (n < sizeof scheme - 1 || memcmp(u, scheme, sizeof scheme - 1) != 0)
            continue;
        found++;
        size_t cl = strlen(cluster);
        const char *rest = u + sizeof scheme - 1;
        size_t left = n - (sizeof scheme - 1);
        if (left < cl + 6 || memcmp(rest, cluster, cl) != 0 ||
            memcmp(rest + cl, "/node/", 6) != 0) {
            snprintf(why, whylen,
                     "its certificate names '%.*s', not a node of cluster "
                     "'%s'", (int)(n > 120 ? 120 : n), u, cluster);
            id = 0;
            continue;
        }
        id = parse_member_id(rest + cl + 6, left - cl - 6);
        if (!id)
            snprintf(why, whylen, "its certificate's '%.*s' holds no valid "
                     "member id", (int)(n > 120 ? 120 : n), u);
    }
    GENERAL_NAMES_free(names);
    if (found > 1) {
        snprintf(why, whylen, "its certificate names %zu lms:// identities; "
                 "exactly one is expected", found);
        return 0;
    }
    return found == 1 ? id : 0;
}

uint64_t tls_peer_id(SSL *ssl, const char *cluster, char *why, size_t whylen)
{
    X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    if (!cert) {
        snprintf(why, whylen, "it presented no certificate");
        return 0;
    }
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
        snprintf(why, whylen, "its certificate does not verify: %s",
                 X509_verify_cert_error_string(v));
        return 0;
    }
    return tls_cert_member_id(cert, cluster, why, whylen);
}

int tls_cert_sha256(X509 *cert, unsigned char out[TLS_SHA256_LEN])
{
    unsigned int n = 0;
    if (!cert || X509_digest(cert, EVP_sha256(), out, &n) != 1 ||
        n != TLS_SHA256_LEN) {
        ERR_clear_error();
        memset(out, 0, TLS_SHA256_LEN);
        return -1;
    }
    return 0;
}

int tls_cert_same(X509 *a, X509 *b)
{
    unsigned char da[TLS_SHA256_LEN], db[TLS_SHA256_LEN];
    if (!a || !b)
        return a == b;
    if (tls_cert_sha256(a, da) != 0 || tls_cert_sha256(b, db) != 0)
        return 0; /* cannot tell: call it new, which only logs a line */
    return memcmp(da, db, sizeof da) == 0;
}

void tls_cert_summary(X509 *cert, char *buf, size_t len)
{
    char serial[2 * 20 + 1] = "?", expires[32] = "?";
    BIGNUM *bn = cert ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)
                      : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex)
        snprintf(serial, sizeof serial, "%s", hex);
    struct tm tm;
    if (cert && ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
        strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
    OPENSSL_free(hex);
    BN_free(bn);
    ERR_clear_error();
    snprintf(buf, len, "serial %s, expires %s", serial, expires);
}

/* One line for a certificate that a reload replaced (none when the same). */
static void log_if_new(const char *key, const char *path, X509 *was, X509 *now)
{
    if (tls_cert_same(was, now))
        return;
    char summary[TLS_SUMMARY_LEN];
    tls_cert_summary(now, summary, sizeof summary);
    log_info("reload: %s %s: new certificate, %s", key, path, summary);
}

int tls_reload(lms_tls *t, const tls_files *f, uint64_t self_id, lms_err *err)
{
    LMS_ASSERT(t && (f->peer || f->client));
    lms_tls *n = NULL;
    if (tls_open(f, t->cluster, self_id, &n, err) != LMS_OK)
        return err->code;
    /* tls.peer and tls.client are restart-only: the same ports speak TLS */
    LMS_ASSERT(n && !n->peer == !t->peer && !n->client == !t->client);
    if (t->peer) {
        log_if_new("tls.cert", f->cert, SSL_CTX_get0_certificate(t->peer),
                   SSL_CTX_get0_certificate(n->peer));
        if (memcmp(t->ca_sha, n->ca_sha, sizeof t->ca_sha) != 0)
            log_info("reload: tls.ca %s: new CA certificate%s, %s%s", f->ca,
                     n->ca_count > 1 ? "s" : "", n->ca_summary,
                     n->ca_count > 1 ? " (the first)" : "");
    }
    /* the client port's own certificate, unless it is tls.cert and the
     * peer port has just said so */
    if (t->client && (f->client_cert || !t->peer))
        log_if_new(f->client_cert ? "tls.client_cert" : "tls.cert",
                   f->client_cert ? f->client_cert : f->cert,
                   SSL_CTX_get0_certificate(t->client),
                   SSL_CTX_get0_certificate(n->client));
    /*
     * Swap the contexts into t, which every holder (main, net, node, peer)
     * keeps pointing at: the next SSL_new uses the new files. The old
     * contexts go with n; an SSL made from one holds its own reference to
     * it (OpenSSL counts them), so a connection already open, or still in
     * its handshake, goes on with the old certificate until it closes.
     * Such a handshake's verify_member finds its lms_tls through the old
     * peer context's owner_idx: that is t, which lives on, so nothing
     * points at n once it is freed. The new peer context is pointed at t
     * likewise. All on the loop thread, where every SSL is made.
     */
    SSL_CTX *peer = t->peer, *client = t->client;
    t->peer = n->peer;
    t->client = n->client;
    n->peer = peer;
    n->client = client;
    if (t->peer)
        SSL_CTX_set_ex_data(t->peer, owner_idx, t);
    memcpy(t->ca_sha, n->ca_sha, sizeof t->ca_sha);
    memcpy(t->ca_summary, n->ca_summary, sizeof t->ca_summary);
    t->ca_count = n->ca_count;
    tls_free(n);
    return LMS_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * frame.c: see frame.h.
 */
#include "frame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* TLS (bench_tls): one context for every connection, and each
 * connection's SSL by its fd (each fd used by one thread at a time). */
#define TLS_FDS 65536
static SSL_CTX *tls_ctx;
static _Atomic(SSL *) tls_of[TLS_FDS];

int bench_tls(const char *cafile, char *err, size_t errlen)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx || SSL_CTX_load_verify_locations(tls_ctx, cafile, NULL) != 1) {
        unsigned long e = ERR_get_error();
        snprintf(err, errlen, "cannot use CA file %s: %s", cafile,
                 e ? ERR_reason_error_string(e) : "no memory");
        return -1;
    }
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    return 0;
}

static SSL *tls_get(int fd)
{
    return fd >= 0 && fd < TLS_FDS ? atomic_load(&tls_of[fd]) : NULL;
}

void bench_close(int fd)
{
    SSL *ssl = tls_get(fd);
    if (ssl) {
        atomic_store(&tls_of[fd], NULL);
        SSL_free(ssl);
    }
    close(fd);
}

/* Handshake on fd, checking the certificate names the address dialled. */
static int tls_start(int fd, const bench_addr *a, char *err, size_t errlen)
{
    char ip[INET6_ADDRSTRLEN] = "";
    const void *raw = a->ss.ss_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr;
    inet_ntop(a->ss.ss_family, raw, ip, sizeof ip);
    SSL *ssl = fd < TLS_FDS ? SSL_new(tls_ctx) : NULL;
    if (!ssl || SSL_set_fd(ssl, fd) != 1 ||
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) != 1) {
        snprintf(err, errlen, "TLS to %s: cannot set up", a->text);
        SSL_free(ssl);
        return -1;
    }
    if (SSL_connect(ssl) != 1) {
        long v = SSL_get_verify_result(ssl);
        unsigned long e = ERR_get_error();
        snprintf(err, errlen, "TLS to %s: %s", a->text,
                 v != X509_V_OK ? X509_verify_cert_error_string(v)
                 : e        ? ERR_reason_error_string(e)
                            : "handshake failed (is its client port plaintext?)");
        SSL_free(ssl);
        return -1;
    }
    atomic_store(&tls_of[fd], ssl);
    return 0;
}

/* An SSL_read/SSL_write result n <= 0 as a BENCH_* code. */
static int tls_rc(SSL *ssl, int n)
{
    int e = SSL_get_error(ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN) {
        errno = ECONNRESET;
        return BENCH_IO;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
        (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
        return BENCH_TIMEOUT;
    if (errno == 0)
        errno = ECONNRESET;
    return BENCH_IO;
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

int bench_resolve(const char *hostport, bench_addr *a, char *err, size_t errlen)
{
    char host[128];
    const char *port;
    memset(a, 0, sizeof *a);
    if (strlen(hostport) >= sizeof host) {
        snprintf(err, errlen, "server address too long: %s", hostport);
        return -1;
    }
    snprintf(a->text, sizeof a->text, "%s", hostport);
    if (hostport[0] == '[') {
        const char *rb = strchr(hostport, ']');
        if (!rb || rb[1] != ':') {
            snprintf(err, errlen, "expected [v6addr]:port, got '%s'", hostport);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(rb - hostport - 1), hostport + 1);
        port = rb + 2;
    } else {
        const char *colon = strrchr(hostport, ':');
        if (!colon || strchr(hostport, ':') != colon) {
            snprintf(err, errlen, "expected host:port, got '%s'", hostport);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535) {
        snprintf(err, errlen, "bad port in '%s'", hostport);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    int found = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (is_loopback(ai->ai_addr) && ai->ai_addrlen <= sizeof a->ss) {
            memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
            a->len = (socklen_t)ai->ai_addrlen;
            found = 1;
            break;
        }
    }
    freeaddrinfo(res);
    if (!found) {
        snprintf(err, errlen,
                 "'%s' is not a loopback address: the benchmark only loads a "
                 "node on this machine",
                 hostport);
        return -1;
    }
    return 0;
}

int bench_connect(const bench_addr *a, int timeout_ms, char *err, size_t errlen)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000,
                         .tv_usec = (timeout_ms % 1000) * 1000};
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
        snprintf(err, errlen, "setsockopt: %s", strerror(errno));
        close(fd);
        return -1;
    }
    /* SO_SNDTIMEO also bounds connect() on Linux. */
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    if (tls_ctx && tls_start(fd, a, err, errlen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void bench_buf_free(bench_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int buf_reserve(bench_buf *b, size_t need)
{
    if (b->cap >= need)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int io_rc(void)
{
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? BENCH_TIMEOUT : BENCH_IO;
}

int bench_send(int fd, const Lms__Request *req, bench_buf *b)
{
    size_t len = lms__request__get_packed_size(req);
    if (len > BENCH_MAX_FRAME || buf_reserve(b, len + 4) < 0) {
        errno = ENOMEM;
        return BENCH_IO;
    }
    b->data[0] = (uint8_t)(len >> 24);
    b->data[1] = (uint8_t)(len >> 16);
    b->data[2] = (uint8_t)(len >> 8);
    b->data[3] = (uint8_t)len;
    lms__request__pack(req, b->data + 4);
    size_t off = 0, total = len + 4;
    SSL *ssl = tls_get(fd);
    while (ssl && off < total) {
        size_t done = 0;
        int n = SSL_write_ex(ssl, b->data + off, total - off, &done);
        if (n <= 0)
            return tls_rc(ssl, n);
        off += done;
    }
    while (off < total) {
        ssize_t n = send(fd, b->data + off, total - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return io_rc();
        }
        off += (size_t)n;
    }
    return BENCH_OK;
}

/* Make at least want bytes available in rb, reading as much as the kernel
 * has (one recv usually brings several pipelined responses). */
static int fill(int fd, bench_buf *rb, size_t want)
{
    if (rb->end - rb->start >= want)
        return BENCH_OK;
    if (rb->start > 0) {
        memmove(rb->data, rb->data + rb->start, rb->end - rb->start);
        rb->end -= rb->start;
        rb->start = 0;
    }
    if (buf_reserve(rb, want < 65536 ? 65536 : want) < 0) {
        errno = ENOMEM;
        return BENCH_IO;
    }
    SSL *ssl = tls_get(fd);
    while (ssl && rb->end < want) {
        size_t got = 0;
        int n = SSL_read_ex(ssl, rb->data + rb->end, rb->cap - rb->end, &got);
        if (n <= 0)
            return tls_rc(ssl, n);
        rb->end += got;
    }
    while (rb->end < want) {
        ssize_t n = recv(fd, rb->data + rb->end, rb->cap - rb->end, 0);
        if (n == 0) {
            errno = ECONNRESET;
            return BENCH_IO;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return io_rc();
        }
        rb->end += (size_t)n;
    }
    return BENCH_OK;
}

int bench_recv(int fd, bench_buf *rb, Lms__Response **out)
{
    *out = NULL;
    int rc = fill(fd, rb, 4);
    if (rc != BENCH_OK)
        return rc;
    const uint8_t *h = rb->data + rb->start;
    uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (len > BENCH_MAX_FRAME)
        return BENCH_BAD;
    rc = fill(fd, rb, 4 + (size_t)len);
    if (rc != BENCH_OK)
        return rc;
    *out = lms__response__unpack(NULL, len, rb->data + rb->start + 4);
    rb->start += 4 + (size_t)len;
    if (rb->start == rb->end)
        rb->start = rb->end = 0;
    return *out ? BENCH_OK : BENCH_BAD;
}

int bench_call(int fd, const Lms__Request *req, bench_buf *sb, bench_buf *rb,
               Lms__Response **out)
{
    int rc = bench_send(fd, req, sb);
    if (rc != BENCH_OK)
        return rc;
    rc = bench_recv(fd, rb, out);
    if (rc == BENCH_OK && (*out)->id != req->id && (*out)->id != 0) {
        lms__response__free_unpacked(*out, NULL);
        *out = NULL;
        return BENCH_BAD;
    }
    return rc;
}

int bench_login(int fd, const char *name, const char *password, uint64_t client_id,
                uint64_t *seq, char **token, char *err, size_t errlen)
{
    Lms__LoginRequest lr = LMS__LOGIN_REQUEST__INIT;
    lr.name = (char *)name;
    lr.password = (char *)password;
    Lms__Request req = LMS__REQUEST__INIT;
    req.id = ++*seq;
    req.token = (char *)"";
    req.client_id = client_id;
    req.seq = req.id;
    req.body_case = LMS__REQUEST__BODY_LOGIN;
    req.login = &lr;
    bench_buf sb = {0}, rb = {0};
    Lms__Response *resp = NULL;
    int rc = bench_call(fd, &req, &sb, &rb, &resp);
    if (sb.data)
        explicit_bzero(sb.data, sb.cap);
    bench_buf_free(&sb);
    bench_buf_free(&rb);
    if (rc != BENCH_OK) {
        snprintf(err, errlen, "login as %s: %s (%s)", name, bench_rc_name(rc),
                 strerror(errno));
        return -1;
    }
    int ret = -1;
    char sbuf[32];
    if (resp->status != LMS__STATUS__OK)
        snprintf(err, errlen, "login as %s: %s: %s", name,
                 bench_status_name(resp->status, sbuf, sizeof sbuf), resp->message);
    else if (resp->body_case != LMS__RESPONSE__BODY_LOGIN || !resp->login->token ||
             !resp->login->token[0])
        snprintf(err, errlen, "login as %s: the answer carries no token", name);
    else if (!(*token = strdup(resp->login->token)))
        snprintf(err, errlen, "out of memory");
    else
        ret = 0;
    lms__response__free_unpacked(resp, NULL);
    return ret;
}

const char *bench_status_name(int status, char *buf, size_t n)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&lms__status__descriptor, status);
    if (v)
        return v->name;
    snprintf(buf, n, "STATUS_%d", status);
    return buf;
}

const char *bench_rc_name(int rc)
{
    switch (rc) {
    case BENCH_OK: return "ok";
    case BENCH_IO: return "connection error";
    case BENCH_TIMEOUT: return "timeout";
    case BENCH_BAD: return "bad frame";
    default: return "error";
    }
}

uint64_t bench_random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() << 32 ^
            (uint64_t)ts.tv_sec;
    }
    return v ? v : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * lmsclient.c: connection handling and the retry policy of lmsclient.h.
 *
 * A call walks the server list starting at the server that answered last.
 * Connection failures move on to the next server; if every server refuses
 * before any has answered, the call fails at once (nothing is running). Once
 * a server has been reached, hang-ups, idle timeouts, UNAVAILABLE and
 * NOT_LEADER without a usable hint are retried round the list, with
 * exponential backoff after each full round, until the timeout has passed
 * since the first failure. The frame is encoded once, so every retry carries
 * the same id, client_id and seq, and the cluster applies a write once.
 *
 * What the call ends with must be true. An answer from a server is the
 * cluster's (a refusal is decided before anything is stored, or is the
 * applied outcome). Without one, a write that went out (the connection was
 * lost or went silent with it on the wire, or a node answered UNAVAILABLE
 * after proposing it) may be stored: LMS_CLIENT_UNKNOWN. Only a write that
 * never left, or met nothing but NOT_LEADER, is reported as not sent.
 *
 * A server that cannot be used as configured (its certificate is not
 * trusted or names another host, it does not speak TLS, or it is another
 * machine and the client may not speak plaintext to it) is a mistake that
 * waiting does not mend: the call skips that server from then on, and ends
 * at once, LMS_CLIENT_CONFIG, once every server has failed so, or no server
 * was reached otherwise, or the leader is such a server. Nothing was sent.
 */
#include "lmsclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli_opts.h"
#include "wire.h"

struct lms_server {
    char *host, *port;
    char *display; /* "host:port" as in messages and leader hints */
};

struct lms_client {
    struct lms_server *servers;
    size_t nservers, cap;
    char *list; /* the servers as given, for messages */
    size_t cur; /* the server to try first */
    struct lms_conn conn; /* connection to servers[cur], fd -1 if none */
    enum lms_tls_mode tls_mode;
    struct lms_tls *tls; /* TLS settings, NULL for plaintext */
    uint64_t client_id, seq, next_id;
    /* the id of the last call in the servers' logs (lms_client_request_id):
     * 16 hex digits, "" before the first call */
    char request_id[LMS_CLIENT_REQUEST_ID_LEN + 1];
    int timeout_ms;
    bool progress;
    bool debug; /* LMS_CLIENT_DEBUG: trace every failed attempt on stderr */
    bool authed; /* a request with a token was answered OK on fd */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* strerror() with a lower-case first letter, to sit inside a sentence. */
static void errno_text(int err, char *buf, size_t n)
{
    snprintf(buf, n, "%s", strerror(err));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
}

const char *lms_status_name(Lms__Status s, char *buf, size_t n)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&lms__status__descriptor,
                                                                       (int)s);
    if (v != NULL)
        return v->name;
    snprintf(buf, n, "STATUS_%d", (int)s);
    return buf;
}

enum lms_request_kind lms_request_kind(Lms__Request__BodyCase body)
{
    switch (body) {
    case LMS__REQUEST__BODY_LOGIN:
    case LMS__REQUEST__BODY_LOGOUT:
    case LMS__REQUEST__BODY_CREATE_COURSE:
    case LMS__REQUEST__BODY_ENROLL:
    case LMS__REQUEST__BODY_ADD_USER:
    case LMS__REQUEST__BODY_IMPORT_USERS:
    case LMS__REQUEST__BODY_CREATE_ASSIGNMENT:
    case LMS__REQUEST__BODY_SUBMIT:
    case LMS__REQUEST__BODY_GRADE:
    case LMS__REQUEST__BODY_RELEASE:
    case LMS__REQUEST__BODY_EXTEND:
    case LMS__REQUEST__BODY_ASK:
    case LMS__REQUEST__BODY_REPLY:
    case LMS__REQUEST__BODY_RESOLVE:
    case LMS__REQUEST__BODY_UPLOAD_MATERIAL:
    case LMS__REQUEST__BODY_ESCALATE:
    case LMS__REQUEST__BODY_TUTOR_SETTINGS: /* a write when it sets something */
    case LMS__REQUEST__BODY_SHARE:
    case LMS__REQUEST__BODY_CHANGE_PASSWORD:
    case LMS__REQUEST__BODY_RESET_PASSWORD:
    case LMS__REQUEST__BODY_SET_USER_ENABLED:
    case LMS__REQUEST__BODY_REPLACE_MATERIAL:
    case LMS__REQUEST__BODY_DELETE_MATERIAL:
    case LMS__REQUEST__BODY_UNENROLL:
    case LMS__REQUEST__BODY_EDIT_ASSIGNMENT:
    case LMS__REQUEST__BODY_DELETE_ASSIGNMENT:
    case LMS__REQUEST__BODY_HIDE_ASSIGNMENT:
    case LMS__REQUEST__BODY_ANNOUNCE:
    case LMS__REQUEST__BODY_INBOX_SEEN:
        return LMS_REQUEST_WRITE;
    case LMS__REQUEST__BODY_WHOAMI:
    case LMS__REQUEST__BODY_LIST_COURSES:
    case LMS__REQUEST__BODY_LIST_USERS:
    case LMS__REQUEST__BODY_LIST_ASSIGNMENTS:
    case LMS__REQUEST__BODY_LIST_SUBMISSIONS:
    case LMS__REQUEST__BODY_FETCH_SUBMISSION:
    case LMS__REQUEST__BODY_LIST_GRADES:
    case LMS__REQUEST__BODY_EXPORT_GRADES:
    case LMS__REQUEST__BODY_LIST_QUERIES:
    case LMS__REQUEST__BODY_LIST_MATERIALS:
    case LMS__REQUEST__BODY_DOWNLOAD_MATERIAL:
    case LMS__REQUEST__BODY_TUTOR_LOG:
    case LMS__REQUEST__BODY_CLUSTER_STATUS:
    case LMS__REQUEST__BODY_CLUSTER_CHANGE: /* a membership change: no dedup record */
    case LMS__REQUEST__BODY_CLUSTER_VERIFY: /* its start is a write: lms_client_call */
    case LMS__REQUEST__BODY_BACKUP:
    case LMS__REQUEST__BODY_TO_GRADE:
    case LMS__REQUEST__BODY_GET_ASSIGNMENT:
    case LMS__REQUEST__BODY_MATERIAL_HISTORY:
    case LMS__REQUEST__BODY_GRADE_HISTORY:
    case LMS__REQUEST__BODY_LIST_ANNOUNCEMENTS:
    case LMS__REQUEST__BODY_INBOX:
        return LMS_REQUEST_READ;
    default:
        return LMS_REQUEST_UNCLASSIFIED;
    }
}

bool lms_request_is_write(Lms__Request__BodyCase body)
{
    return lms_request_kind(body) == LMS_REQUEST_WRITE;
}

/* Split one "host:port", "[v6]:port", "host" or bare "v6addr" entry. On
 * failure, why (if not NULL) says what is wrong with it. */
static int split_server(const char *s, size_t len, struct lms_server *out, char *why,
                        size_t whylen)
{
    const char *host = s, *port = NULL, *end = s + len;
    size_t hostlen = len;
    char dummy[1];
    if (why == NULL)
        why = dummy, whylen = sizeof dummy;
    snprintf(why, whylen, "expected host:port");
    if (len > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL || (rb + 1 < end && rb[1] != ':'))
            return -1;
        host = s + 1;
        hostlen = (size_t)(rb - host);
        if (rb + 1 < end)
            port = rb + 2;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)) == NULL) {
            hostlen = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    size_t portlen = port ? (size_t)(end - port) : strlen(LMS_DEFAULT_PORT);
    if (hostlen == 0 || hostlen > 253) {
        snprintf(why, whylen, hostlen ? "the host name is longer than 253 characters"
                                      : "the host is missing; expected host:port");
        return -1;
    }
    if (portlen == 0) {
        snprintf(why, whylen, "the port is missing; expected host:port");
        return -1;
    }
    out->host = strndup(host, hostlen);
    out->port = strndup(port ? port : LMS_DEFAULT_PORT, portlen);
    if (out->host == NULL || out->port == NULL)
        return -1;
    uint64_t num;
    if (strspn(out->port, "0123456789") != portlen) {
        snprintf(why, whylen, "port '%s' is not a number", out->port);
        return -1;
    }
    if (portlen > 5 || lms_parse_u64(out->port, &num) < 0 || num == 0 || num > 65535) {
        snprintf(why, whylen, "port %s is out of range (1-65535)", out->port);
        return -1;
    }
    bool v6 = strchr(out->host, ':') != NULL;
    if (asprintf(&out->display, v6 ? "[%s]:%s" : "%s:%s", out->host, out->port) < 0) {
        out->display = NULL;
        return -1;
    }
    return 0;
}

static void free_server(struct lms_server *s)
{
    free(s->host);
    free(s->port);
    free(s->display);
}

/* Add "host:port" to the list unless it is there; returns its index or -1. */
static int add_server(struct lms_client *c, const char *s, size_t len)
{
    struct lms_server sv = {0};
    if (split_server(s, len, &sv, NULL, 0) < 0) {
        free_server(&sv);
        return -1;
    }
    for (size_t i = 0; i < c->nservers; i++) {
        if (strcmp(c->servers[i].display, sv.display) == 0) {
            free_server(&sv);
            return (int)i;
        }
    }
    if (c->nservers == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        struct lms_server *v = realloc(c->servers, cap * sizeof *v);
        if (v == NULL) {
            free_server(&sv);
            return -1;
        }
        c->servers = v;
        c->cap = cap;
    }
    c->servers[c->nservers] = sv;
    return (int)c->nservers++;
}

static uint64_t random_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
        id = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid() ^ (uint64_t)mono_ms();
    return id ? id : 1; /* 0 would mean "no client id" */
}

/* A new random request id: 16 hex digits (rule_request_id on the server
 * allows them). Random, not a counter: many clients' calls meet in one
 * server log, and an id must name one of them. */
static void new_request_id(char out[LMS_CLIENT_REQUEST_ID_LEN + 1])
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = random_id() * 0x9e3779b97f4a7c15ull ^ (uint64_t)mono_ms();
    snprintf(out, LMS_CLIENT_REQUEST_ID_LEN + 1, "%016llx", (unsigned long long)r);
}

const char *lms_client_request_id(const struct lms_client *c)
{
    return c->request_id;
}

static int read_timeout_env(int *timeout_ms, char *err, size_t errlen)
{
    const char *env = getenv("LMS_CLIENT_TIMEOUT");
    double secs;
    if (env == NULL || *env == '\0')
        return 0;
    if (lms_parse_double(env, &secs) < 0 || secs <= 0 || secs > 86400) {
        snprintf(err, errlen, "bad LMS_CLIENT_TIMEOUT '%s' (expected seconds, e.g. 10)", env);
        return -1;
    }
    *timeout_ms = (int)(secs * 1000);
    return 0;
}

struct lms_client *lms_client_new(const char *servers, char *err, size_t errlen)
{
    struct lms_client *c = calloc(1, sizeof *c);
    if (c == NULL || (c->list = strdup(servers)) == NULL) {
        snprintf(err, errlen, "out of memory");
        lms_client_free(c);
        return NULL;
    }
    c->conn.fd = -1;
    c->client_id = random_id();
    c->timeout_ms = LMS_CLIENT_DEFAULT_TIMEOUT_MS;
    c->debug = getenv("LMS_CLIENT_DEBUG") != NULL && *getenv("LMS_CLIENT_DEBUG") != '\0';
    for (const char *p = servers;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (add_server(c, p, len) < 0) {
            struct lms_server sv = {0};
            char why[128];
            if (split_server(p, len, &sv, why, sizeof why) == 0)
                snprintf(why, sizeof why, "out of memory");
            free_server(&sv);
            if (len == strlen(servers))
                snprintf(err, errlen, "bad server address '%s': %s", servers, why);
            else
                snprintf(err, errlen, "bad server address '%.*s' in '%s': %s", (int)len, p,
                         servers, why);
            lms_client_free(c);
            return NULL;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (read_timeout_env(&c->timeout_ms, err, errlen) < 0) {
        lms_client_free(c);
        return NULL;
    }
    return c;
}

static void disconnect(struct lms_client *c)
{
    if (c->conn.ssl != NULL) {
        /* a close_notify if it goes out at once; the server does not
         * need it (a frame is whole or not at all) */
        if (!c->conn.broken)
            SSL_shutdown(c->conn.ssl);
        SSL_free(c->conn.ssl);
    }
    if (c->conn.fd >= 0)
        close(c->conn.fd);
    c->conn = (struct lms_conn){.fd = -1};
    c->authed = false;
}


void lms_client_free(struct lms_client *c)
{
    if (c == NULL)
        return;
    disconnect(c);
    lms_tls_free(c->tls);
    for (size_t i = 0; i < c->nservers; i++)
        free_server(&c->servers[i]);
    free(c->servers);
    free(c->list);
    free(c);
}

int lms_client_set_tls(struct lms_client *c, enum lms_tls_mode mode, const char *cafile,
                       char *err, size_t errlen)
{
    struct lms_tls *t = NULL;
    if (mode == LMS_TLS_SYSTEM || mode == LMS_TLS_CAFILE) {
        t = lms_tls_new(mode, cafile, err, errlen);
        if (t == NULL)
            return -1;
    }
    disconnect(c);
    lms_tls_free(c->tls);
    c->tls = t;
    c->tls_mode = mode;
    return 0;
}

void lms_client_set_timeout(struct lms_client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms;
}

void lms_client_set_progress(struct lms_client *c, bool on)
{
    c->progress = on;
}

uint64_t lms_client_id(const struct lms_client *c)
{
    return c->client_id;
}

uint64_t lms_client_take_seq(struct lms_client *c)
{
    return ++c->seq;
}

const char *lms_client_current(const struct lms_client *c)
{
    return c->servers[c->cur].display;
}

/* Non-blocking connect to one address, waiting at most timeout_ms.
 * Returns the socket, or -1 with errno. */
static int connect_addr(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int soerr = errno;
        socklen_t len = sizeof soerr;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (soerr == EINPROGRESS) {
            int n;
            while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
                ;
            if (n == 0)
                soerr = ETIMEDOUT;
            else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
                soerr = errno;
        }
        if (soerr != 0) {
            close(fd);
            errno = soerr;
            return -1;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* The address of ai as text, for messages. */
static const char *addr_text(const struct addrinfo *ai, char *buf, size_t n)
{
    const void *a = ai->ai_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
    if (inet_ntop(ai->ai_family, a, buf, (socklen_t)n) == NULL)
        snprintf(buf, n, "?");
    return buf;
}

/* Connect to server s, trying each of its addresses; with loopback_only,
 * only those of this machine (the others are refused before any packet
 * goes out). Returns the socket, or -1 with a reason ("connection
 * refused") in why, and *config set when no address could be tried. */
static int connect_server(const struct lms_server *s, bool loopback_only, int timeout_ms,
                          char *why, size_t whylen, bool *config)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(s->host, s->port, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "cannot resolve %s: %s", s->host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = ECONNREFUSED, tried = 0;
    char remote[INET6_ADDRSTRLEN] = "";
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        if (loopback_only && !lms_addr_is_loopback(ai->ai_addr)) {
            if (remote[0] == '\0')
                addr_text(ai, remote, sizeof remote);
            continue;
        }
        tried++;
        fd = connect_addr(ai, timeout_ms);
        if (fd < 0)
            err = errno;
    }
    freeaddrinfo(res);
    *config = tried == 0 && remote[0] != '\0';
    if (*config)
        snprintf(why, whylen,
                 "%s is not a loopback address, and plaintext would carry passwords and "
                 "tokens across a network in clear; use TLS with the cluster's CA certificate "
                 "(--cacert FILE or LMS_CACERT; --tls or LMS_TLS=1 for the system's CAs), or "
                 "--plaintext (LMS_PLAINTEXT=1) if the network is trusted",
                 remote);
    else if (fd < 0)
        errno_text(err, why, whylen);
    return fd;
}

/* The state of one call across its attempts. */
struct call {
    const uint8_t *frame;
    size_t len;
    uint64_t id;
    const struct lms_call_opts *opts;
    const char *token;   /* the request's session token, "" for none */
    bool write;          /* the request changes state (it carries a seq) */
    unsigned partials;   /* partial Responses handed out */
    int redirects;
    unsigned failures;   /* failed attempts so far */
    unsigned hangups;    /* connections lost with the request out, unanswered */
    bool reached;        /* some server accepted a connection */
    bool answered;       /* some server answered NOT_LEADER or UNAVAILABLE */
    bool sent;           /* a write may have reached a leader: its fate is open */
    int64_t retry_since; /* monotonic ms of the first failure, -1: none */
    int64_t backoff_ms;
    bool to_leader;      /* this attempt follows a NOT_LEADER hint */
    bool config;         /* some server could not be used as configured */
    bool config_final;   /* ... and no other can be: the call ends, LMS_CLIENT_CONFIG */
    uint64_t unusable;   /* those servers: bit i for servers[i], i < 64 */
    char why[768];       /* why the last attempt failed */
    char config_why[768]; /* "cannot use HOST:PORT: ..." of the first such server */
};

/* ATT_CONFIG: servers[cur] cannot be used as configured (see the top). */
enum attempt { ATT_DONE, ATT_REDIRECT, ATT_FAILED, ATT_FATAL, ATT_LOST, ATT_CONFIG };

static bool is_unusable(const struct call *k, size_t i)
{
    return i < 64 && (k->unusable >> i & 1u);
}

/* servers[cur] cannot be used as configured, for the reason in k->why. */
static enum attempt unusable(struct lms_client *c, struct call *k)
{
    char why[sizeof k->why];
    memcpy(why, k->why, sizeof why);
    int n = snprintf(k->why, sizeof k->why, "cannot use %s: ", c->servers[c->cur].display);
    if (n > 0 && (size_t)n < sizeof k->why) {
        size_t len = strnlen(why, sizeof k->why - (size_t)n - 1);
        memcpy(k->why + n, why, len);
        k->why[(size_t)n + len] = '\0';
    }
    if (!k->config)
        memcpy(k->config_why, k->why, sizeof k->why);
    k->config = true;
    if (c->cur < 64)
        k->unusable |= UINT64_C(1) << c->cur;
    return ATT_CONFIG;
}


/* Should resp send us elsewhere? Handles NOT_LEADER, UNAVAILABLE and UNKNOWN. */
static enum attempt judge(struct lms_client *c, struct call *k, const Lms__Response *resp)
{
    char buf[32];
    if (resp->status != LMS__STATUS__NOT_LEADER && resp->status != LMS__STATUS__UNAVAILABLE &&
        resp->status != LMS__STATUS__UNKNOWN)
        return ATT_DONE;
    k->answered = true;
    /* UNKNOWN: the leader proposed the write and lost its leadership (or
     * stopped) before the entry was known to be committed; it may still
     * commit. NOT_LEADER and UNAVAILABLE come from a node that did not
     * take it (or whose entry is known to be gone). */
    if (resp->status == LMS__STATUS__UNKNOWN && k->write)
        k->sent = true;
    snprintf(k->why, sizeof k->why, "%s%s%s", lms_status_name(resp->status, buf, sizeof buf),
             resp->message[0] ? ": " : "", resp->message);
    if (resp->status == LMS__STATUS__NOT_LEADER && resp->leader[0] != '\0' &&
        k->redirects < LMS_CLIENT_MAX_REDIRECTS) {
        int idx = add_server(c, resp->leader, strlen(resp->leader));
        if (idx >= 0 && (size_t)idx != c->cur) {
            k->redirects++;
            disconnect(c);
            c->cur = (size_t)idx;
            return ATT_REDIRECT;
        }
    }
    return ATT_FAILED;
}

/* Milliseconds left before the call gives up retrying. */
static int64_t time_left(const struct lms_client *c, const struct call *k)
{
    if (k->retry_since < 0)
        return c->timeout_ms;
    int64_t left = k->retry_since + c->timeout_ms - mono_ms();
    return left > 0 ? left : 0;
}

/* Read Responses until one is not a partial Response of this request;
 * the partial ones go to the caller's on_partial. */
static int receive(struct lms_client *c, struct call *k, int idle, Lms__Response **resp)
{
    for (;;) {
        int rc = lms_wire_recv_response(&c->conn, idle, c->progress, resp, k->why, sizeof k->why);
        if (rc != LMS_WIRE_OK || !(*resp)->partial || (*resp)->id != k->id)
            return rc;
        k->partials++;
        if (k->opts && k->opts->on_partial)
            k->opts->on_partial(k->opts->arg, *resp);
        lms__response__free_unpacked(*resp, NULL);
        *resp = NULL;
    }
}

/* How long the server may stay silent on this attempt. The server may need
 * a while to commit a large write: one extra second of patience per MiB.
 * Once the call is retrying, an attempt ends by the deadline (unless the
 * caller expects a long silence, as for the tutor). */
static int idle_ms(const struct lms_client *c, const struct call *k)
{
    bool patient = k->opts && k->opts->wait_ms;
    int64_t wait = patient ? k->opts->wait_ms : c->timeout_ms;
    if (!patient && k->retry_since >= 0)
        wait = time_left(c, k);
    wait += (int64_t)(k->len >> 20) * 1000;
    return wait < 1 ? 1 : wait > INT32_MAX ? INT32_MAX : (int)wait;
}

/* Send the frame on the open connection and read the answer. Returns a
 * lms_wire_rc; *resp is set on LMS_WIRE_OK. */
static int exchange(struct lms_client *c, struct call *k, Lms__Response **resp)
{
    int idle = idle_ms(c, k);
    int rc = lms_wire_send(&c->conn, k->frame, k->len, idle, c->progress, k->why, sizeof k->why);
    if (rc == LMS_WIRE_OK)
        return receive(c, k, idle, resp);
    /* A server that refuses a frame (too large) answers, then closes: its
     * answer, if it survived, is worth more than our write error. */
    char ignored[64];
    if (lms_wire_recv_response(&c->conn, 1000, false, resp, ignored, sizeof ignored) == LMS_WIRE_OK)
        return LMS_WIRE_OK;
    return rc;
}

/*
 * A frame longer than the server takes from a connection that has not
 * authenticated (LMS_CLIENT_PREAUTH_FRAME): first show the token with a
 * whoami. 1: go on with the request; 0: *resp is the answer (the token was
 * refused, or the whoami was redirected: judged by the caller); -1: a
 * lms_wire_rc failure, in *wire.
 */
static int authenticate_conn(struct lms_client *c, struct call *k, Lms__Response **resp,
                             int *wire)
{
    if (c->authed || k->token[0] == '\0' || k->len - 4 <= LMS_CLIENT_PREAUTH_FRAME)
        return 1;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__WhoamiRequest body = LMS__WHOAMI_REQUEST__INIT;
    req.id = ++c->next_id;
    req.request_id = c->request_id; /* part of the same call */
    req.token = (char *)k->token;
    req.body_case = LMS__REQUEST__BODY_WHOAMI;
    req.whoami = &body;
    size_t len;
    uint8_t *frame = lms_wire_pack_request(&req, &len);
    if (frame == NULL) {
        snprintf(k->why, sizeof k->why, "out of memory");
        *wire = LMS_WIRE_BAD;
        return -1;
    }
    int idle = c->timeout_ms;
    int rc = lms_wire_send(&c->conn, frame, len, idle, false, k->why, sizeof k->why);
    free(frame);
    if (rc == LMS_WIRE_OK)
        rc = lms_wire_recv_response(&c->conn, idle, false, resp, k->why, sizeof k->why);
    if (rc != LMS_WIRE_OK) {
        *wire = rc;
        return -1;
    }
    if ((*resp)->status == LMS__STATUS__OK) {
        lms__response__free_unpacked(*resp, NULL);
        *resp = NULL;
        c->authed = true;
        return 1;
    }
    (*resp)->id = k->id; /* the request's answer: its token is no good */
    return 0;
}

/* Open a connection to servers[cur]: TCP, then TLS if configured. */
static enum attempt open_conn(struct lms_client *c, struct call *k)
{
    const struct lms_server *sv = &c->servers[c->cur];
    int64_t left = time_left(c, k);
    int timeout = left < LMS_CLIENT_CONNECT_TIMEOUT_MS ? (int)left : LMS_CLIENT_CONNECT_TIMEOUT_MS;
    bool config = false;
    if (timeout < 1)
        timeout = 1;
    int fd = connect_server(sv, c->tls_mode == LMS_TLS_DEFAULT, timeout, k->why, sizeof k->why,
                            &config);
    if (fd < 0)
        return config ? unusable(c, k) : ATT_FAILED;
    if (c->tls != NULL) {
        SSL *ssl;
        enum lms_tls_rc t = lms_tls_handshake(c->tls, fd, sv->host, timeout, &ssl, k->why,
                                              sizeof k->why);
        if (t != LMS_TLS_OK) {
            close(fd);
            if (t == LMS_TLS_CONFIG)
                return unusable(c, k);
            k->reached = true; /* a server is there: worth waiting for */
            return ATT_FAILED;
        }
        c->conn.ssl = ssl;
    }
    c->conn.fd = fd;
    return ATT_DONE;
}

/* One try on servers[cur]: connect if needed, send, receive. */
static enum attempt attempt(struct lms_client *c, struct call *k, Lms__Response **resp)
{
    if (c->conn.fd < 0) {
        enum attempt a = open_conn(c, k);
        if (a != ATT_DONE)
            return a;
    }
    k->reached = true;
    int rc = LMS_WIRE_OK;
    int go = authenticate_conn(c, k, resp, &rc);
    if (go < 0) {
        /* lost before the request itself went out */
        disconnect(c);
        return rc == LMS_WIRE_BAD ? ATT_FATAL : ATT_FAILED;
    }
    if (go > 0)
        rc = exchange(c, k, resp);
    if (rc != LMS_WIRE_OK) {
        disconnect(c);
        if (rc == LMS_WIRE_BAD)
            return ATT_FATAL; /* not an lms server, or a broken one */
        /* Lost or silent with the request out: a write may be in the log. */
        k->hangups++;
        if (k->write)
            k->sent = true;
        /* part of a streamed answer is out: no second telling */
        return k->partials ? ATT_LOST : ATT_FAILED;
    }
    /* a response to an earlier request on this connection cannot happen (one
     * request per connection at a time), but a connection-level error
     * without our id can */
    if ((*resp)->id != k->id && (*resp)->status == LMS__STATUS__OK) {
        snprintf(k->why, sizeof k->why, "the server answered a different request");
        lms__response__free_unpacked(*resp, NULL);
        *resp = NULL;
        disconnect(c);
        return ATT_FATAL;
    }
    if ((*resp)->status == LMS__STATUS__OK && k->token[0] != '\0')
        c->authed = true;
    enum attempt a = judge(c, k, *resp);
    if (a != ATT_DONE) {
        lms__response__free_unpacked(*resp, NULL);
        *resp = NULL;
        disconnect(c);
    }
    return a;
}

/* The call ends without an answer: say honestly what is known. */
static enum lms_client_rc give_up(const struct lms_client *c, const struct call *k, char *err,
                                  size_t errlen)
{
    if (k->sent) {
        snprintf(err, errlen,
                 "no answer from the lms cluster at %s%s (%s); the request went out, so it may "
                 "or may not have been stored",
                 c->list, k->partials ? " after part of the answer arrived" : " in time", k->why);
        return LMS_CLIENT_UNKNOWN;
    }
    if (k->config && (k->config_final || !k->reached)) {
        snprintf(err, errlen, "%s", k->config_final ? k->why : k->config_why);
        return LMS_CLIENT_CONFIG;
    }
    bool also = k->config && strcmp(k->why, k->config_why) != 0;
    snprintf(err, errlen, "%s at %s (%s%s%s)",
             k->answered ? "no lms leader available" : "no lms server reachable", c->list,
             k->why, also ? "; " : "", also ? k->config_why : "");
    return k->answered ? LMS_CLIENT_NO_LEADER : LMS_CLIENT_UNREACHABLE;
}

/* Can no server of the list be used as configured? */
static bool all_unusable(const struct lms_client *c, const struct call *k)
{
    for (size_t i = 0; i < c->nservers; i++)
        if (!is_unusable(k, i))
            return false;
    return true;
}

/* Move on to the next server of the list that may be usable. */
static void next_server(struct lms_client *c, const struct call *k)
{
    for (size_t i = 0; i < c->nservers; i++) {
        c->cur = (c->cur + 1) % c->nservers;
        if (!is_unusable(k, c->cur))
            return;
    }
}

enum lms_client_rc lms_client_call(struct lms_client *c, Lms__Request *req, Lms__Response **resp,
                                   char *err, size_t errlen)
{
    return lms_client_call_opts(c, req, NULL, resp, err, errlen);
}

enum lms_client_rc lms_client_call_opts(struct lms_client *c, Lms__Request *req,
                                        const struct lms_call_opts *o, Lms__Response **resp,
                                        char *err, size_t errlen)
{
    bool write = lms_request_is_write(req->body_case);
    /* cluster-verify: starting one is a write, a node's digest a read */
    if (req->body_case == LMS__REQUEST__BODY_CLUSTER_VERIFY)
        write = req->cluster_verify != NULL && req->cluster_verify->index == 0;
    req->id = ++c->next_id;
    req->client_id = c->client_id;
    req->seq = 0;
    /* one id for the whole call: the frame is packed once below, so every
     * retry and redirect carries it, and the servers' lines of the call
     * can be found together */
    new_request_id(c->request_id);
    req->request_id = c->request_id;
    if (write && o != NULL && o->client_id != 0 && o->seq != 0) {
        req->client_id = o->client_id;
        req->seq = o->seq;
    } else if (write) {
        req->seq = ++c->seq;
    }
    *resp = NULL;

    struct call k = {.id = req->id, .opts = o, .write = write, .retry_since = -1,
                     .backoff_ms = 50, .token = req->token ? req->token : ""};
    uint8_t *frame = lms_wire_pack_request(req, &k.len);
    if (frame == NULL) {
        snprintf(err, errlen, "the request is too large to send");
        return LMS_CLIENT_LOCAL;
    }
    k.frame = frame;

    enum lms_client_rc rc;
    for (;;) {
        enum attempt a = attempt(c, &k, resp);
        if (a == ATT_DONE) {
            rc = LMS_CLIENT_OK;
            break;
        }
        if (a == ATT_LOST && k.write) {
            rc = give_up(c, &k, err, errlen);
            break;
        }
        if ((a == ATT_FATAL && !k.sent) || a == ATT_LOST) {
            snprintf(err, errlen, "%s (%s)", k.why, c->servers[c->cur].display);
            rc = LMS_CLIENT_BAD_REPLY;
            break;
        }
        if (c->debug)
            fprintf(stderr, "lms client: request %llu on %s: %s\n", (unsigned long long)k.id,
                    c->servers[c->cur].display,
                    a == ATT_REDIRECT ? "redirected to the leader" : k.why);
        if (a == ATT_REDIRECT) {
            k.to_leader = true;
            continue;
        }
        /* a leader that cannot be used, or no server that can: waiting
         * mends neither */
        if (a == ATT_CONFIG && (k.to_leader || all_unusable(c, &k)))
            k.config_final = true;
        k.to_leader = false;
        if (k.retry_since < 0)
            k.retry_since = mono_ms();
        k.failures++;
        /* nobody home: no point in waiting for a cluster that is not there
         * (nothing was sent, so nothing can be stored) */
        if (k.config_final || (!k.reached && k.failures >= c->nservers) ||
            time_left(c, &k) == 0) {
            rc = give_up(c, &k, err, errlen);
            break;
        }
        next_server(c, &k);
        if (k.failures % c->nservers == 0) {
            int64_t left = time_left(c, &k);
            sleep_ms(k.backoff_ms < left ? k.backoff_ms : left);
            k.backoff_ms = k.backoff_ms * 2 > 1000 ? 1000 : k.backoff_ms * 2;
        }
    }
    free(frame);
    return rc;
}

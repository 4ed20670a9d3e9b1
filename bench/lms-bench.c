/* SPDX-License-Identifier: MIT */
/*
 * lms-bench: a load generator for one lmsd node.
 *
 *   lms-bench -s 127.0.0.1:7400 -c 16 -d 5 --op ask --course CS101 \
 *             --user alice --password-file pw
 *
 * Each client is one thread with one blocking TCP connection (TCP_NODELAY)
 * speaking the frame protocol directly, with up to --pipeline requests in
 * flight. Every write carries its own (client_id, seq): each in-flight slot
 * of each client is a separate client id whose seq counts up by one per
 * request, so the server's duplicate detection (one record per client id)
 * never sees a request overtake an earlier one. The latency of each OK
 * response (send to receipt, CLOCK_MONOTONIC) goes into a per-thread array;
 * at the end they are merged and sorted. Throughput is OK responses per
 * second of wall time between the start barrier and the last thread's end.
 *
 * A follower answers NOT_LEADER, naming the leader's client address: the
 * client then connects there and sends the same request again (same id,
 * client_id and seq, so a write that did commit is not applied twice) and
 * the report counts the redirect, not an error. NOT_LEADER without a usable
 * hint and UNAVAILABLE are retried after a short backoff (50 ms doubling to
 * 200 ms) on the next server of -s's list, if it has more than one. A
 * request answered so MAX_TRIES times counts as an error of that status.
 *
 * The run is bounded in time (-d, at most 3600 s; with -n alone, 600 s)
 * and in count (-n, at most 10M requests) and only talks to loopback.
 */
#include "frame.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024
#define MAX_PIPELINE 1024
#define MAX_SECONDS 3600
#define MAX_REQUESTS 10000000ull
#define DEFAULT_SECONDS_WITH_N 600
#define MAX_SERVERS 16
#define MAX_TRIES 20 /* NOT_LEADER/UNAVAILABLE answers to one request before it is an error */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 200

enum op { OP_ASK, OP_GRADE, OP_WHOAMI, OP_LIST_ASSIGNMENTS };

static const struct {
    const char *name;
    bool write;
    Lms__Response__BodyCase expect;
} op_info[] = {
    [OP_ASK] = {"ask", true, LMS__RESPONSE__BODY_QUERY},
    [OP_GRADE] = {"grade", true, LMS__RESPONSE__BODY_GRADE},
    [OP_WHOAMI] = {"whoami", false, LMS__RESPONSE__BODY_WHOAMI},
    [OP_LIST_ASSIGNMENTS] = {"list-assignments", false, LMS__RESPONSE__BODY_ASSIGNMENTS},
};

/* Error kinds: the status values 0..16, NOT_LEADER, any other status, then
 * what went wrong on our side of the wire. */
enum {
    E_NOT_LEADER = 17,
    E_OTHER_STATUS,
    E_CONN,     /* connection failed or closed */
    E_TIMEOUT,  /* no response within --timeout */
    E_BAD,      /* a frame that does not decode, or an unknown id */
    E_BODY,     /* OK, but not the answer this op expects */
    E_SETUP,    /* the client could not connect or log in */
    E_KINDS
};

typedef struct options {
    const char *server;
    int clients;
    double seconds;
    uint64_t requests; /* 0: only time-bound */
    enum op op;
    const char *course;
    uint64_t submission;
    const char *token_file, *user, *password, *password_file;
    bool login_each;
    int pipeline;
    int timeout_ms;
    bool json;
    const char *label;
} options;

static options opt = {
    .server = "127.0.0.1:7400",
    .clients = 1,
    .op = OP_WHOAMI,
    .course = "CS101",
    .pipeline = 1,
    .timeout_ms = 10000,
};

static bench_addr servers[MAX_SERVERS]; /* -s, resolved */
static int nservers;
static char *shared_token;
static char *password;
static uint64_t client_base;
static pthread_barrier_t start_barrier;
static atomic_ullong claimed; /* requests handed out so far */
static uint64_t max_requests;
static atomic_int stop_all;

enum slot_state {
    SLOT_IDLE,
    SLOT_INFLIGHT, /* sent on the current connection */
    SLOT_RESEND,   /* to be sent again, as it was, on the next turn */
};

typedef struct slot {
    enum slot_state state;
    unsigned tries; /* NOT_LEADER/UNAVAILABLE answers so far */
    uint64_t id;
    uint64_t t0;    /* first send: latency includes redirects and retries */
    uint64_t client_id, seq;
} slot;

typedef struct worker {
    int idx;
    pthread_t th;
    uint64_t *lat;
    size_t n, cap;
    uint64_t sent, ok;
    uint64_t redirects; /* NOT_LEADER followed to the hinted leader */
    uint64_t retries;   /* NOT_LEADER without a hint, UNAVAILABLE: backed off */
    uint64_t errors[E_KINDS];
    char first_error[E_KINDS][200];
    uint64_t t_start, t_end;
    bool started;
} worker;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lms-bench [options]\n"
            "  -s, --server HOST:PORT[,HOST:PORT...]\n"
            "                           lmsd's client address, loopback only (default 127.0.0.1:7400);\n"
            "                           a list: the others are tried when one has no leader\n"
            "  -c, --clients N          concurrent clients, one thread and connection each (default 1)\n"
            "  -d, --duration SECONDS   how long to run (default 5; at most %d)\n"
            "  -n, --requests N         stop after N requests in all (at most %llu)\n"
            "      --op OP              ask | grade | whoami | list-assignments (default whoami)\n"
            "      --course CODE        course for ask and list-assignments (default CS101)\n"
            "      --submission ID      submission to grade (grade)\n"
            "      --token-file FILE    a session token: the token alone on the first line, or a\n"
            "                           CLI session file ({\"token\": ...})\n"
            "      --user NAME          log in as NAME instead\n"
            "      --password PW        its password (visible to ps; prefer --password-file)\n"
            "      --password-file F    read the password from the first line of F ('-': stdin)\n"
            "      --login-each         every client logs in itself (default: log in once, share the token)\n"
            "      --pipeline N         requests in flight per connection (default 1)\n"
            "      --timeout MS         give up on a response after MS (default 10000)\n"
            "      --label TEXT         a name for this run in the output\n"
            "      --cacert FILE        speak TLS, trusting the CA certificates in FILE (a node\n"
            "                           with tls.cert; its certificate must name the address)\n"
            "      --json               one JSON object on stdout\n"
            "  -h, --help\n",
            MAX_SECONDS, (unsigned long long)MAX_REQUESTS);
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static char *read_first_line(const char *path, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (f != stdin)
        fclose(f);
    if (n <= 0) {
        free(line);
        snprintf(err, errlen, "%s: empty", path);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

/* The token from FILE: a CLI session file ({"token": "..."}), or the first
 * line as it is. */
static char *read_token(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *tok = NULL;
    const char *k = strstr(buf, "\"token\"");
    if (buf[strspn(buf, " \t\r\n")] == '{' && k) {
        const char *p = k + 7;
        p += strspn(p, " \t\r\n");
        if (*p == ':') {
            p++;
            p += strspn(p, " \t\r\n");
            if (*p == '"') {
                const char *e = strchr(p + 1, '"');
                if (e && !memchr(p + 1, '\\', (size_t)(e - p - 1)))
                    tok = strndup(p + 1, (size_t)(e - p - 1));
            }
        }
    } else {
        buf[strcspn(buf, "\r\n")] = '\0';
        tok = strdup(buf);
    }
    explicit_bzero(buf, sizeof buf);
    if (!tok || !tok[0]) {
        free(tok);
        snprintf(err, errlen, "%s: no token in it", path);
        return NULL;
    }
    return tok;
}

/* ---- the client thread ------------------------------------------------- */

static void note_error(worker *w, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note_error(worker *w, int kind, const char *fmt, ...)
{
    if (w->errors[kind]++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->first_error[kind], sizeof w->first_error[kind], fmt, ap);
        va_end(ap);
    }
}

static int status_kind(int status)
{
    if (status >= 0 && status <= 16)
        return status;
    return status == LMS__STATUS__NOT_LEADER ? E_NOT_LEADER : E_OTHER_STATUS;
}

static int record(worker *w, uint64_t ns)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        uint64_t *p = realloc(w->lat, cap * sizeof *p);
        if (!p)
            return -1;
        w->lat = p;
        w->cap = cap;
    }
    w->lat[w->n++] = ns;
    return 0;
}

/* Claim the right to send one more request: within the count bound and
 * before the deadline. */
static bool may_send(uint64_t deadline)
{
    if (atomic_load_explicit(&stop_all, memory_order_relaxed) || now_ns() >= deadline)
        return false;
    return atomic_fetch_add(&claimed, 1) < max_requests;
}

typedef struct request_parts {
    Lms__Request req;
    Lms__AskRequest ask;
    Lms__GradeRequest grade;
    Lms__WhoamiRequest whoami;
    Lms__ListAssignmentsRequest list;
    char title[64];
} request_parts;

static void build(request_parts *rp, const slot *s, const char *token)
{
    Lms__Request *r = &rp->req;
    lms__request__init(r);
    r->id = s->id;
    r->token = (char *)token;
    switch (opt.op) {
    case OP_ASK:
        lms__ask_request__init(&rp->ask);
        /* the slot's (client_id, seq): one title per request, in every run */
        snprintf(rp->title, sizeof rp->title, "bench %llx.%llu",
                 (unsigned long long)s->client_id, (unsigned long long)s->seq);
        rp->ask.course = (char *)opt.course;
        rp->ask.title = rp->title;
        rp->ask.text = (char *)"Is recursion allowed in the first exercise?";
        r->body_case = LMS__REQUEST__BODY_ASK;
        r->ask = &rp->ask;
        break;
    case OP_GRADE:
        lms__grade_request__init(&rp->grade);
        rp->grade.submission_id = opt.submission;
        rp->grade.grade = (double)(s->seq % 2) + 1.0;
        rp->grade.feedback = (char *)"Good work; see the comments on loop bounds.";
        r->body_case = LMS__REQUEST__BODY_GRADE;
        r->grade = &rp->grade;
        break;
    case OP_WHOAMI:
        lms__whoami_request__init(&rp->whoami);
        r->body_case = LMS__REQUEST__BODY_WHOAMI;
        r->whoami = &rp->whoami;
        break;
    case OP_LIST_ASSIGNMENTS:
        lms__list_assignments_request__init(&rp->list);
        rp->list.course = (char *)opt.course;
        r->body_case = LMS__REQUEST__BODY_LIST_ASSIGNMENTS;
        r->list_assignments = &rp->list;
        break;
    }
    if (op_info[opt.op].write) {
        r->client_id = s->client_id;
        r->seq = s->seq;
    }
}

/* One client's connection and where it goes next. */
typedef struct client {
    worker *w;
    int fd;               /* -1: none */
    bench_addr at;        /* where fd is (or was last) connected */
    int next_server;      /* the entry of servers[] to try when there is no leader here */
    bool move;            /* connect to `to` before the next send */
    bench_addr to;
    int backoff_ms;       /* before resending after NOT_LEADER without a hint or UNAVAILABLE */
    bool back_off;
    bench_buf sb, rb;     /* the frame being sent; what has arrived on fd */
} client;

static bool same_addr(const bench_addr *a, const bench_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void next_server(client *c);

/*
 * resp (NOT_LEADER or UNAVAILABLE) asks for the request to go elsewhere or
 * later. Decide where: the leader it names, else the next server of the
 * list after a backoff, else this one after a backoff.
 */
static void plan_retry(client *c, const Lms__Response *resp)
{
    char err[256];
    bench_addr hint;
    /* the hint is the server's word: resolved under the same rules as -s
     * (loopback only); one that does not resolve is no hint */
    if (resp->status == LMS__STATUS__NOT_LEADER && resp->leader && resp->leader[0] &&
        bench_resolve(resp->leader, &hint, err, sizeof err) == 0 && !same_addr(&hint, &c->at)) {
        c->w->redirects++;
        c->to = hint;
        c->move = true;
        return;
    }
    c->w->retries++;
    next_server(c);
}

/* No leader here, or the connection is lost: back off, then try the next
 * server of the list if there is one. */
static void next_server(client *c)
{
    c->back_off = true;
    if (nservers > 1) {
        if (same_addr(&servers[c->next_server], &c->at))
            c->next_server = (c->next_server + 1) % nservers;
        c->to = servers[c->next_server];
        c->next_server = (c->next_server + 1) % nservers;
        c->move = true;
    }
}

/*
 * The connection broke (a send or receive failed: a node was killed or
 * restarted). With a list of servers, the requests not answered go to the
 * next one after a backoff, each counting a try; a write that did commit
 * before the break is recognised there by its client_id and seq. With one
 * server, the client stops (false).
 */
static bool lost_connection(client *c, slot *slots, int np)
{
    if (nservers < 2)
        return false;
    c->w->retries++;
    for (int i = 0; i < np; i++) {
        slot *s = &slots[i];
        if (s->state == SLOT_IDLE)
            continue;
        s->state = SLOT_RESEND;
        if (++s->tries >= MAX_TRIES) {
            note_error(c->w, E_CONN, "connection lost on each of %d tries", MAX_TRIES);
            s->state = SLOT_IDLE;
        }
    }
    next_server(c);
    return true;
}

/*
 * Carry out plan_retry's decision before the next send: wait out the
 * backoff, and move to another server (the requests in flight on the old
 * connection are sent again on the new one; their answers there, if any,
 * are lost with it). If `to` cannot be reached, the servers of the list
 * are tried in turn, after a backoff each. 0, or -1 (the reason noted)
 * when none can be.
 */
static void wait_backoff(client *c)
{
    sleep_ms(c->backoff_ms);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static int follow(client *c, slot *slots, int np, int *inflight)
{
    if (c->back_off) {
        wait_backoff(c);
        c->back_off = false;
    }
    if (!c->move)
        return 0;
    c->move = false;
    if (c->fd >= 0)
        bench_close(c->fd);
    c->rb.start = c->rb.end = 0; /* answers from the old connection, unread: gone with it */
    for (int i = 0; i < np; i++)
        if (slots[i].state == SLOT_INFLIGHT)
            slots[i].state = SLOT_RESEND;
    *inflight = 0;
    char err[256];
    c->at = c->to;
    c->fd = bench_connect(&c->at, opt.timeout_ms, err, sizeof err);
    for (int i = 0; c->fd < 0 && i < nservers; i++) {
        /* a dead address (a killed leader that the others still name until
         * they elect another): give the cluster a moment */
        wait_backoff(c);
        c->at = servers[(c->next_server + i) % nservers];
        c->fd = bench_connect(&c->at, opt.timeout_ms, err, sizeof err);
    }
    if (c->fd < 0) {
        note_error(c->w, E_CONN, "reconnect: %s", err);
        return -1;
    }
    return 0;
}

static void *client_main(void *arg)
{
    worker *w = arg;
    char err[256];
    char *token = NULL;
    client c = {.w = w, .at = servers[0], .next_server = 1 % nservers,
                .backoff_ms = BACKOFF_MIN_MS};
    c.fd = bench_connect(&c.at, opt.timeout_ms, err, sizeof err);
    int np = opt.pipeline;
    slot *slots = calloc((size_t)np, sizeof *slots);
    uint64_t gen = 0;
    if (c.fd < 0) {
        note_error(w, E_SETUP, "%s", err);
    } else if (!slots) {
        note_error(w, E_SETUP, "out of memory");
    } else if (opt.login_each) {
        uint64_t seq = 0;
        uint64_t cid = client_base + (uint64_t)w->idx * (uint64_t)(np + 1) + (uint64_t)np;
        if (bench_login(c.fd, opt.user, password, cid, &seq, &token, err, sizeof err) < 0)
            note_error(w, E_SETUP, "%s", err);
        gen = seq;
    } else {
        token = shared_token;
    }
    if (slots)
        for (int i = 0; i < np; i++)
            slots[i].client_id = client_base + (uint64_t)w->idx * (uint64_t)(np + 1) + (uint64_t)i;

    pthread_barrier_wait(&start_barrier);
    w->t_start = now_ns();
    w->started = true;
    if (w->errors[E_SETUP]) {
        w->t_end = w->t_start;
        goto out;
    }
    uint64_t deadline = w->t_start + (uint64_t)(opt.seconds * 1e9);
    request_parts rp;
    int inflight = 0;
    bool dead = false;
    int charged = 0; /* when it dies: of the requests not answered, those already counted */

    /* Fill the pipeline (requests to send again first), then send one more
     * for each answer. */
    for (;;) {
        if (follow(&c, slots, np, &inflight) < 0) {
            charged = 1;
            dead = true;
            break;
        }
        int pending = 0;
        for (int i = 0; i < np && !dead; i++) {
            slot *s = &slots[i];
            if (s->state == SLOT_INFLIGHT)
                continue;
            if (s->state == SLOT_IDLE) {
                if (!may_send(deadline))
                    continue;
                s->seq++;
                s->tries = 0;
                s->id = (++gen << 10) | (uint64_t)i;
                s->t0 = now_ns();
                s->state = SLOT_RESEND; /* not answered yet, as far as the end counts */
                w->sent++;
            }
            build(&rp, s, token); /* a resend: the same id, client_id and seq */
            int rc = bench_send(c.fd, &rp.req, &c.sb);
            if (rc == BENCH_IO && lost_connection(&c, slots, np))
                break;
            if (rc != BENCH_OK) {
                if (rc == BENCH_TIMEOUT)
                    note_error(w, E_TIMEOUT, "send blocked for %d ms", opt.timeout_ms);
                else
                    note_error(w, E_CONN, "send: %s", strerror(errno));
                charged = 1;
                dead = true;
                break;
            }
            s->state = SLOT_INFLIGHT;
            inflight++;
        }
        if (c.move)
            continue; /* the connection broke while sending */
        for (int i = 0; i < np; i++)
            pending += slots[i].state != SLOT_IDLE;
        if (dead || pending == 0)
            break;
        Lms__Response *resp = NULL;
        int rc = bench_recv(c.fd, &c.rb, &resp);
        uint64_t t1 = now_ns();
        if (rc == BENCH_IO && lost_connection(&c, slots, np))
            continue;
        if (rc != BENCH_OK) {
            if (rc == BENCH_TIMEOUT)
                note_error(w, E_TIMEOUT, "no response within %d ms", opt.timeout_ms);
            else if (rc == BENCH_BAD)
                note_error(w, E_BAD, "a response frame that does not decode");
            else
                note_error(w, E_CONN, "receive: %s", strerror(errno));
            charged = 1;
            dead = true;
            break;
        }
        slot *s = &slots[resp->id & (MAX_PIPELINE - 1)];
        if ((resp->id & (MAX_PIPELINE - 1)) >= (uint64_t)np || s->state != SLOT_INFLIGHT ||
            s->id != resp->id) {
            char sbuf[32];
            note_error(w, E_BAD, "response with unexpected id %llu (%s: %s)",
                       (unsigned long long)resp->id,
                       bench_status_name(resp->status, sbuf, sizeof sbuf),
                       resp->message ? resp->message : "");
            lms__response__free_unpacked(resp, NULL);
            dead = true; /* the server lost track of a request: stop this client */
            break;
        }
        inflight--;
        s->state = SLOT_IDLE;
        bool elsewhere = resp->status == LMS__STATUS__NOT_LEADER ||
                         resp->status == LMS__STATUS__UNAVAILABLE;
        if (elsewhere && ++s->tries < MAX_TRIES) {
            s->state = SLOT_RESEND;
            plan_retry(&c, resp);
        } else if (resp->status == LMS__STATUS__OK) {
            c.backoff_ms = BACKOFF_MIN_MS;
            if (resp->body_case != op_info[opt.op].expect) {
                note_error(w, E_BODY, "OK with body case %d", (int)resp->body_case);
            } else {
                w->ok++;
                if (record(w, t1 - s->t0) < 0) {
                    note_error(w, E_SETUP, "out of memory for latencies");
                    dead = true;
                }
            }
        } else {
            char sbuf[32];
            note_error(w, status_kind(resp->status), "%s%s: %s",
                       bench_status_name(resp->status, sbuf, sizeof sbuf),
                       elsewhere ? " (every try)" : "", resp->message ? resp->message : "");
            if (resp->status == LMS__STATUS__UNAUTHENTICATED)
                atomic_store(&stop_all, 1); /* every further request would fail too */
        }
        lms__response__free_unpacked(resp, NULL);
    }
    /* Requests not answered when the client died are lost. */
    int left = 0;
    for (int i = 0; dead && i < np; i++)
        left += slots[i].state != SLOT_IDLE;
    if (left > charged)
        w->errors[E_CONN] += (uint64_t)(left - charged);
    w->t_end = now_ns();
out:
    if (c.fd >= 0)
        bench_close(c.fd);
    if (token && token != shared_token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    free(slots);
    bench_buf_free(&c.sb);
    bench_buf_free(&c.rb);
    return NULL;
}

/* ---- report ------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v (n > 0), in ms. */
static double pct(const uint64_t *v, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e6;
}

static const char *kind_name(int kind, char *buf, size_t n)
{
    switch (kind) {
    case E_NOT_LEADER: return "NOT_LEADER";
    case E_OTHER_STATUS: return "OTHER_STATUS";
    case E_CONN: return "CONNECTION";
    case E_TIMEOUT: return "TIMEOUT";
    case E_BAD: return "BAD_FRAME";
    case E_BODY: return "UNEXPECTED_BODY";
    case E_SETUP: return "SETUP";
    default: return bench_status_name(kind, buf, n);
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int report(worker *ws, int n, double cpu_s)
{
    size_t total = 0;
    uint64_t sent = 0, ok = 0, errs[E_KINDS] = {0}, nerr = 0, redirects = 0, retries = 0;
    uint64_t t0 = UINT64_MAX, t1 = 0;
    const char *first[E_KINDS] = {0};
    for (int i = 0; i < n; i++) {
        total += ws[i].n;
        sent += ws[i].sent;
        ok += ws[i].ok;
        redirects += ws[i].redirects;
        retries += ws[i].retries;
        if (ws[i].started && ws[i].t_start < t0)
            t0 = ws[i].t_start;
        if (ws[i].t_end > t1)
            t1 = ws[i].t_end;
        for (int k = 0; k < E_KINDS; k++) {
            if (ws[i].errors[k] && !first[k])
                first[k] = ws[i].first_error[k];
            errs[k] += ws[i].errors[k];
            nerr += ws[i].errors[k];
        }
    }
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    if (!all) {
        fprintf(stderr, "lms-bench: out of memory\n");
        return 1;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (ws[i].n)
            memcpy(all + off, ws[i].lat, ws[i].n * sizeof *all);
        off += ws[i].n;
    }
    qsort(all, total, sizeof *all, cmp_u64);
    double wall = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
    double tput = wall > 0 ? (double)ok / wall : 0;
    double sum = 0;
    for (size_t i = 0; i < total; i++)
        sum += (double)all[i];
    double p50 = total ? pct(all, total, 50) : 0, p90 = total ? pct(all, total, 90) : 0,
           p99 = total ? pct(all, total, 99) : 0, mx = total ? (double)all[total - 1] / 1e6 : 0,
           mean = total ? sum / (double)total / 1e6 : 0;
    char buf[32];
    const char *label = opt.label ? opt.label : op_info[opt.op].name;
    if (opt.json) {
        printf("{\"label\":");
        json_str(stdout, label);
        printf(",\"op\":\"%s\",\"write\":%s,\"clients\":%d,\"pipeline\":%d,"
               "\"wall_s\":%.3f,\"sent\":%llu,\"ok\":%llu,\"errors\":%llu,"
               "\"redirects\":%llu,\"retries\":%llu,"
               "\"ops_per_s\":%.1f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,"
               "\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},\"client_cpu_s\":%.3f,"
               "\"error_counts\":{",
               op_info[opt.op].name, op_info[opt.op].write ? "true" : "false", opt.clients,
               opt.pipeline, wall, (unsigned long long)sent, (unsigned long long)ok,
               (unsigned long long)nerr, (unsigned long long)redirects,
               (unsigned long long)retries, tput, p50, p90, p99, mx, mean, cpu_s);
        int comma = 0;
        for (int k = 0; k < E_KINDS; k++)
            if (errs[k]) {
                printf("%s\"%s\":%llu", comma++ ? "," : "", kind_name(k, buf, sizeof buf),
                       (unsigned long long)errs[k]);
            }
        printf("},\"first_errors\":{");
        comma = 0;
        for (int k = 0; k < E_KINDS; k++)
            if (errs[k]) {
                printf("%s\"%s\":", comma++ ? "," : "", kind_name(k, buf, sizeof buf));
                json_str(stdout, first[k]);
            }
        printf("}}\n");
    } else {
        printf("%s: %d client%s, pipeline %d, %.2f s\n", label, opt.clients,
               opt.clients == 1 ? "" : "s", opt.pipeline, wall);
        printf("  requests  %llu sent, %llu ok, %llu errors\n", (unsigned long long)sent,
               (unsigned long long)ok, (unsigned long long)nerr);
        if (redirects || retries)
            printf("  redirects %llu to the leader, %llu retries after a backoff (not errors)\n",
                   (unsigned long long)redirects, (unsigned long long)retries);
        printf("  %-9s %.1f ok ops/s\n", op_info[opt.op].write ? "committed" : "reads", tput);
        printf("  latency   p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n",
               p50, p90, p99, mx, mean);
        printf("  client    %.2f CPU seconds (%.0f%% of one core)\n", cpu_s,
               wall > 0 ? 100 * cpu_s / wall : 0);
        for (int k = 0; k < E_KINDS; k++)
            if (errs[k])
                printf("  error     %-20s %llu  (first: %s)\n", kind_name(k, buf, sizeof buf),
                       (unsigned long long)errs[k], first[k]);
    }
    fflush(stdout);
    free(all);
    return (ok == 0 || errs[E_SETUP]) ? 1 : 0;
}

/* User and system CPU time of the whole process so far. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- main -------------------------------------------------------------- */

/* -s: "host:port[,host:port...]" into servers[]. */
static int resolve_servers(const char *list, char *err, size_t errlen)
{
    for (const char *p = list;;) {
        size_t len = strcspn(p, ",");
        char one[sizeof servers[0].text];
        if (nservers == MAX_SERVERS) {
            snprintf(err, errlen, "more than %d servers in '%s'", MAX_SERVERS, list);
            return -1;
        }
        if (len >= sizeof one) {
            snprintf(err, errlen, "server address too long in '%s'", list);
            return -1;
        }
        snprintf(one, sizeof one, "%.*s", (int)len, p);
        if (bench_resolve(one, &servers[nservers], err, errlen) < 0)
            return -1;
        nservers++;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

int main(int argc, char **argv)
{
    enum { O_OP = 256, O_COURSE, O_SUB, O_TOKEN, O_USER, O_PW, O_PWFILE, O_EACH, O_PIPE,
           O_TIMEOUT, O_JSON, O_LABEL, O_CACERT };
    static const struct option lopts[] = {
        {"server", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"requests", required_argument, NULL, 'n'},
        {"op", required_argument, NULL, O_OP},
        {"course", required_argument, NULL, O_COURSE},
        {"submission", required_argument, NULL, O_SUB},
        {"token-file", required_argument, NULL, O_TOKEN},
        {"user", required_argument, NULL, O_USER},
        {"password", required_argument, NULL, O_PW},
        {"password-file", required_argument, NULL, O_PWFILE},
        {"login-each", no_argument, NULL, O_EACH},
        {"pipeline", required_argument, NULL, O_PIPE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"json", no_argument, NULL, O_JSON},
        {"label", required_argument, NULL, O_LABEL},
        {"cacert", required_argument, NULL, O_CACERT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    bool have_d = false;
    const char *cacert = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "s:c:d:n:h", lopts, NULL)) != -1) {
        switch (ch) {
        case 's': opt.server = optarg; break;
        case 'c':
            if (parse_u64(optarg, 1, MAX_CLIENTS, &v) < 0)
                goto bad;
            opt.clients = (int)v;
            break;
        case 'd': {
            char *end;
            opt.seconds = strtod(optarg, &end);
            if (*end || !(opt.seconds > 0 && opt.seconds <= MAX_SECONDS))
                goto bad;
            have_d = true;
            break;
        }
        case 'n':
            if (parse_u64(optarg, 1, MAX_REQUESTS, &opt.requests) < 0)
                goto bad;
            break;
        case O_OP: {
            size_t i;
            for (i = 0; i < sizeof op_info / sizeof op_info[0]; i++)
                if (!strcmp(optarg, op_info[i].name))
                    break;
            if (i == sizeof op_info / sizeof op_info[0])
                goto bad;
            opt.op = (enum op)i;
            break;
        }
        case O_COURSE: opt.course = optarg; break;
        case O_SUB:
            if (parse_u64(optarg, 1, UINT64_MAX, &opt.submission) < 0)
                goto bad;
            break;
        case O_TOKEN: opt.token_file = optarg; break;
        case O_USER: opt.user = optarg; break;
        case O_PW: opt.password = optarg; break;
        case O_PWFILE: opt.password_file = optarg; break;
        case O_EACH: opt.login_each = true; break;
        case O_PIPE:
            if (parse_u64(optarg, 1, MAX_PIPELINE, &v) < 0)
                goto bad;
            opt.pipeline = (int)v;
            break;
        case O_TIMEOUT:
            if (parse_u64(optarg, 1, 600000, &v) < 0)
                goto bad;
            opt.timeout_ms = (int)v;
            break;
        case O_JSON: opt.json = true; break;
        case O_LABEL: opt.label = optarg; break;
        case O_CACERT: cacert = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lms-bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!have_d)
        opt.seconds = opt.requests ? DEFAULT_SECONDS_WITH_N : 5;
    max_requests = opt.requests ? opt.requests : MAX_REQUESTS;
    if (opt.op == OP_GRADE && !opt.submission) {
        fprintf(stderr, "lms-bench: --op grade needs --submission ID\n");
        return 2;
    }
    if (!opt.token_file == !opt.user) {
        fprintf(stderr, "lms-bench: give either --token-file or --user\n");
        return 2;
    }
    if (opt.user && !opt.password == !opt.password_file) {
        fprintf(stderr, "lms-bench: --user needs --password or --password-file\n");
        return 2;
    }
    if (opt.login_each && !opt.user) {
        fprintf(stderr, "lms-bench: --login-each needs --user\n");
        return 2;
    }

    char err[256];
    if (cacert && bench_tls(cacert, err, sizeof err) < 0) {
        fprintf(stderr, "lms-bench: %s\n", err);
        return 2;
    }
    if (resolve_servers(opt.server, err, sizeof err) < 0) {
        fprintf(stderr, "lms-bench: %s\n", err);
        return 2;
    }
    client_base = bench_random_u64() & ~0x1FFFFFull; /* room for clients x slots */
    if (!client_base)
        client_base = 1ull << 21;
    if (opt.token_file) {
        shared_token = read_token(opt.token_file, err, sizeof err);
        if (!shared_token) {
            fprintf(stderr, "lms-bench: %s\n", err);
            return 1;
        }
    } else {
        password = opt.password ? strdup(opt.password)
                                : read_first_line(opt.password_file, err, sizeof err);
        if (!password) {
            fprintf(stderr, "lms-bench: %s\n", err);
            return 1;
        }
        /* the login is a write: the first server of the list that takes it */
        for (int i = 0; !opt.login_each && !shared_token && i < nservers; i++) {
            int fd = bench_connect(&servers[i], opt.timeout_ms, err, sizeof err);
            uint64_t seq = 0;
            if (fd >= 0)
                bench_login(fd, opt.user, password, client_base - 1, &seq, &shared_token, err,
                            sizeof err);
            if (fd >= 0)
                bench_close(fd);
        }
        if (!opt.login_each && !shared_token) {
            fprintf(stderr, "lms-bench: %s\n", err);
            return 1;
        }
    }

    worker *ws = calloc((size_t)opt.clients, sizeof *ws);
    if (!ws || pthread_barrier_init(&start_barrier, NULL, (unsigned)opt.clients) != 0) {
        fprintf(stderr, "lms-bench: out of memory\n");
        return 1;
    }
    double cpu0 = cpu_seconds();
    int nstarted = 0;
    for (int i = 0; i < opt.clients; i++) {
        ws[i].idx = i;
        int rc = pthread_create(&ws[i].th, NULL, client_main, &ws[i]);
        if (rc != 0) {
            /* The barrier counts every client: cannot go on without them. */
            fprintf(stderr, "lms-bench: cannot start client %d: %s\n", i, strerror(rc));
            _exit(1);
        }
        nstarted++;
    }
    for (int i = 0; i < nstarted; i++)
        pthread_join(ws[i].th, NULL);
    pthread_barrier_destroy(&start_barrier);

    int rc = report(ws, opt.clients, cpu_seconds() - cpu0);
    for (int i = 0; i < opt.clients; i++)
        free(ws[i].lat);
    free(ws);
    if (shared_token) {
        explicit_bzero(shared_token, strlen(shared_token));
        free(shared_token);
    }
    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    return rc;

bad:
    fprintf(stderr, "lms-bench: bad value '%s'\n", optarg);
    usage(stderr);
    return 2;
}

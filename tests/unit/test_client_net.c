/* SPDX-License-Identifier: MIT */
/*
 * test_client_net.c: the retry policy of the client library
 * (clients/lmsclient.c) against scripted fake servers on loopback: NOT_LEADER
 * hints are followed, UNAVAILABLE, UNKNOWN and dropped connections are
 * retried with the same (client_id, seq) until the deadline; a write that
 * went out and got no answer ends LMS_CLIENT_UNKNOWN (never a refusal), one
 * that met only UNAVAILABLE ends NO_LEADER; a cluster that is not there
 * fails fast, and an oversized response is refused. A caller's (client_id,
 * seq) goes out as given; a leader hint to a server that cannot be used as
 * configured ends the call at once. Streamed answers: partial responses
 * reach the caller's callback in order, and a hang-up after one is not
 * retried. Every try of a call carries the call's request id.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lmsclient.h"
#include "pending.h"

enum behaviour {
    ANSWER_OK,        /* status OK, body Empty */
    REDIRECT,         /* NOT_LEADER with the hint */
    UNAVAILABLE_ONCE, /* UNAVAILABLE to the first request, then OK */
    DROP_ONCE,        /* hang up after reading the first request, then OK */
    DROP_ALWAYS,      /* hang up after reading every request */
    ALWAYS_UNAVAILABLE,
    HUGE_FRAME,       /* announce a 2 GiB response */
    REFUSE_LARGE,     /* like lmsd: a frame over 1 MiB gets RESOURCE_EXHAUSTED, then close */
    STREAM,           /* three partial responses (tutor chunks), then OK */
    STREAM_THEN_DROP, /* two partial responses, then hang up */
    UNKNOWN_ONCE,     /* UNKNOWN (proposed, leadership lost) to the first, then OK */
    ALWAYS_UNKNOWN,
};



#define MAX_SEEN 64

struct fake {
    int lfd, port;
    enum behaviour how;
    char hint[64];
    pthread_t thread;
    atomic_bool stop;
    atomic_int nseen;
    Lms__Request seen[MAX_SEEN]; /* id, client_id, seq and body case only */
    char seen_rid[MAX_SEEN][80]; /* their request_id */
};

static bool read_full(int fd, void *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = read(fd, (char *)buf + off, len - off);
        if (n <= 0)
            return false;
        off += (size_t)n;
    }
    return true;
}

static void send_response(int fd, const Lms__Response *resp)
{
    size_t len = lms__response__get_packed_size(resp);
    uint8_t *buf = malloc(len + 4);
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    lms__response__pack(resp, buf + 4);
    /* the client may have gone already: no SIGPIPE, no complaint */
    (void)!send(fd, buf, len + 4, MSG_NOSIGNAL);
    free(buf);
}

static const char *const PIECES[] = {"Think ", "about ", "it."};

/* The partial responses of STREAM and STREAM_THEN_DROP. */
static void send_pieces(int fd, const Lms__Request *req, int n)
{
    for (int i = 0; i < n; i++) {
        Lms__Response resp = LMS__RESPONSE__INIT;
        Lms__TutorChunk chunk = LMS__TUTOR_CHUNK__INIT;
        chunk.text = (char *)PIECES[i];
        resp.id = req->id;
        resp.partial = true;
        resp.body_case = LMS__RESPONSE__BODY_TUTOR_CHUNK;
        resp.tutor_chunk = &chunk;
        send_response(fd, &resp);
    }
}

/* Answer one request according to f->how. false: hang up. */
static bool answer(struct fake *f, int fd, const Lms__Request *req, int nth)
{
    Lms__Response resp = LMS__RESPONSE__INIT;
    Lms__Empty empty = LMS__EMPTY__INIT;
    resp.id = req->id;
    resp.body_case = LMS__RESPONSE__BODY_EMPTY;
    resp.empty = &empty;
    switch (f->how) {
    case ANSWER_OK:
    case REFUSE_LARGE: /* small frames are answered */
        break;
    case REDIRECT:
        resp.status = LMS__STATUS__NOT_LEADER;
        resp.leader = f->hint;
        resp.body_case = LMS__RESPONSE__BODY__NOT_SET;
        break;
    case UNAVAILABLE_ONCE:
    case ALWAYS_UNAVAILABLE:
        if (nth == 0 || f->how == ALWAYS_UNAVAILABLE) {
            resp.status = LMS__STATUS__UNAVAILABLE;
            resp.message = "no quorum";
        }
        break;
    case UNKNOWN_ONCE:
    case ALWAYS_UNKNOWN:
        if (nth == 0 || f->how == ALWAYS_UNKNOWN) {
            resp.status = LMS__STATUS__UNKNOWN;
            resp.message = "leadership changed before the write was known to be committed";
        }
        break;
    case DROP_ONCE:
    case DROP_ALWAYS:
        if (nth == 0 || f->how == DROP_ALWAYS)
            return false;
        break;
    case STREAM:
        send_pieces(fd, req, 3);
        break;
    case STREAM_THEN_DROP:
        send_pieces(fd, req, 2);
        return false;
    case HUGE_FRAME: {
        static const uint8_t hdr[4] = {0x80, 0, 0, 0};
        (void)!send(fd, hdr, 4, MSG_NOSIGNAL);
        return false;
    }
    }
    send_response(fd, &resp);
    return true;
}

static void serve_connection(struct fake *f, int fd)
{
    for (;;) {
        uint8_t hdr[4];
        if (!read_full(fd, hdr, 4))
            return;
        uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
                       hdr[3];
        if (f->how == REFUSE_LARGE && len > (1u << 20)) {
            Lms__Response resp = LMS__RESPONSE__INIT;
            resp.status = LMS__STATUS__RESOURCE_EXHAUSTED;
            resp.message = "frame too large";
            send_response(fd, &resp);
            return; /* unread data: the close becomes a reset */
        }
        uint8_t *buf = malloc(len ? len : 1);
        if (!read_full(fd, buf, len)) {
            free(buf);
            return;
        }
        Lms__Request *req = lms__request__unpack(NULL, len, buf);
        free(buf);
        if (req == NULL)
            abort(); /* the client sent garbage; cmocka cannot fail from this thread */
        int nth = atomic_load(&f->nseen);
        if (nth < MAX_SEEN) {
            f->seen[nth] = *req;
            snprintf(f->seen_rid[nth], sizeof f->seen_rid[nth], "%s", req->request_id);
            atomic_store(&f->nseen, nth + 1);
        }
        bool more = answer(f, fd, req, nth);
        lms__request__free_unpacked(req, NULL);
        if (!more)
            return;
    }
}

static void *serve(void *arg)
{
    struct fake *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        serve_connection(f, fd);
        close(fd);
    }
    return NULL;
}

/* A listening socket on a free loopback port. */
static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static struct fake *fake_start(enum behaviour how, const char *hint)
{
    struct fake *f = calloc(1, sizeof *f);
    f->how = how;
    snprintf(f->hint, sizeof f->hint, "%s", hint ? hint : "");
    f->lfd = listen_any(&f->port);
    assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
    return f;
}

static void fake_stop(struct fake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->lfd);
    free(f);
}

/* A loopback port with nobody listening. */
static int closed_port(void)
{
    int port, fd = listen_any(&port);
    close(fd);
    return port;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct lms_client *client_for(const char *fmt, ...)
{
    char servers[256], err[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(servers, sizeof servers, fmt, ap);
    va_end(ap);
    struct lms_client *c = lms_client_new(servers, err, sizeof err);
    if (c == NULL)
        fail_msg("lms_client_new(%s): %s", servers, err);
    return c;
}

/* Send a CreateCourse (a write); returns the client's result code. */
static enum lms_client_rc call_write(struct lms_client *c, char *err, size_t errlen)
{
    Lms__CreateCourseRequest body = LMS__CREATE_COURSE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp = NULL;
    body.code = "CS101";
    req.body_case = LMS__REQUEST__BODY_CREATE_COURSE;
    req.create_course = &body;
    enum lms_client_rc rc = lms_client_call(c, &req, &resp, err, errlen);
    if (rc == LMS_CLIENT_OK) {
        assert_int_equal(resp->status, LMS__STATUS__OK);
        assert_int_equal(resp->id, req.id);
        lms__response__free_unpacked(resp, NULL);
    }
    return rc;
}

static void follows_the_leader_hint(void **state)
{
    struct fake *leader = fake_start(ANSWER_OK, NULL);
    char hint[64], err[256];
    snprintf(hint, sizeof hint, "127.0.0.1:%d", leader->port);
    struct fake *follower = fake_start(REDIRECT, hint);
    struct lms_client *c = client_for("127.0.0.1:%d", follower->port);

    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_OK);
    assert_int_equal(atomic_load(&follower->nseen), 1);
    assert_int_equal(atomic_load(&leader->nseen), 1);
    assert_string_equal(lms_client_current(c), hint);
    /* the very same request went to the leader */
    assert_true(follower->seen[0].id == leader->seen[0].id);
    assert_true(follower->seen[0].seq == 1 && leader->seen[0].seq == 1);
    assert_true(leader->seen[0].client_id == lms_client_id(c));
    assert_true(follower->seen[0].client_id == lms_client_id(c));
    /* with one request id, the call's (16 hex digits), on both servers */
    char rid[LMS_CLIENT_REQUEST_ID_LEN + 1];
    snprintf(rid, sizeof rid, "%s", lms_client_request_id(c));
    assert_int_equal(strlen(rid), 16);
    assert_int_equal(strspn(rid, "0123456789abcdef"), 16);
    assert_string_equal(follower->seen_rid[0], rid);
    assert_string_equal(leader->seen_rid[0], rid);

    /* and the leader is remembered for the next call */
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_OK);
    assert_int_equal(atomic_load(&follower->nseen), 1);
    assert_int_equal(atomic_load(&leader->nseen), 2);
    assert_true(leader->seen[1].seq == 2);
    /* a new call, a new request id */
    assert_string_equal(leader->seen_rid[1], lms_client_request_id(c));
    assert_string_not_equal(leader->seen_rid[1], rid);

    lms_client_free(c);
    fake_stop(follower);
    fake_stop(leader);
}

/* A leader hint naming a server that cannot be used as configured (here:
 * another machine, and the client may speak plaintext only to this one)
 * ends the call at once: waiting cannot mend it, and nothing was sent. */
static void an_unusable_leader_ends_the_call_at_once(void **state)
{
    struct fake *follower = fake_start(REDIRECT, "192.0.2.1:7400");
    struct lms_client *c = client_for("127.0.0.1:%d", follower->port);
    char err[1024];
    int64_t t0 = now_ms();
    enum lms_client_rc rc = call_write(c, err, sizeof err);
    int64_t took = now_ms() - t0;
    if (rc != LMS_CLIENT_CONFIG)
        fail_msg("expected LMS_CLIENT_CONFIG, got %d (%s)", (int)rc, err);
    if (strstr(err, "cannot use 192.0.2.1:7400: 192.0.2.1 is not a loopback address") == NULL)
        fail_msg("unexpected message: %s", err);
    if (took > 1000)
        fail_msg("took %lld ms; expected at once, not at the deadline", (long long)took);
    assert_int_equal(atomic_load(&follower->nseen), 1);
    lms_client_free(c);
    fake_stop(follower);
}

static void unavailable_is_retried_with_the_same_seq(void **state)
{
    struct fake *f = fake_start(UNAVAILABLE_ONCE, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    char err[256];
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_OK);
    assert_int_equal(atomic_load(&f->nseen), 2);
    assert_true(f->seen[0].id == f->seen[1].id);
    assert_true(f->seen[0].seq == f->seen[1].seq);
    assert_true(f->seen[0].client_id == f->seen[1].client_id);
    assert_string_equal(f->seen_rid[0], f->seen_rid[1]); /* one call, one id */
    lms_client_free(c);
    fake_stop(f);
}

static void dropped_connection_is_retried_with_the_same_seq(void **state)
{
    struct fake *f = fake_start(DROP_ONCE, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    char err[256];
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_OK);
    assert_int_equal(atomic_load(&f->nseen), 2);
    assert_true(f->seen[0].seq == 1 && f->seen[1].seq == 1);
    lms_client_free(c);
    fake_stop(f);
}

static void write_dropped_until_the_deadline_is_unknown(void **state)
{
    struct fake *f = fake_start(DROP_ALWAYS, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    char err[512];
    lms_client_set_timeout(c, 400);
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_UNKNOWN);
    int n = atomic_load(&f->nseen);
    assert_true(n >= 3); /* no giving up after two hang-ups */
    for (int i = 1; i < n && i < MAX_SEEN; i++)
        assert_true(f->seen[i].seq == f->seen[0].seq &&
                    f->seen[i].client_id == f->seen[0].client_id);
    assert_non_null(strstr(err, "may or may not have been stored"));
    lms_client_free(c);
    fake_stop(f);
}

/* A whoami (a read) */
static enum lms_client_rc call_read(struct lms_client *c, char *err, size_t errlen)
{
    Lms__WhoamiRequest body = LMS__WHOAMI_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp = NULL;
    req.body_case = LMS__REQUEST__BODY_WHOAMI;
    req.whoami = &body;
    enum lms_client_rc rc = lms_client_call(c, &req, &resp, err, errlen);
    if (rc == LMS_CLIENT_OK)
        lms__response__free_unpacked(resp, NULL);
    return rc;
}

static void read_dropped_until_the_deadline_is_unreachable(void **state)
{
    struct fake *f = fake_start(DROP_ALWAYS, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    char err[512];
    lms_client_set_timeout(c, 300);
    assert_int_equal(call_read(c, err, sizeof err), LMS_CLIENT_UNREACHABLE);
    assert_true(atomic_load(&f->nseen) >= 2);
    assert_null(strstr(err, "may or may not"));
    lms_client_free(c);
    fake_stop(f);
}

static void unknown_is_retried_with_the_same_seq(void **state)
{
    struct fake *f = fake_start(UNKNOWN_ONCE, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    char err[512];
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_OK);
    assert_int_equal(atomic_load(&f->nseen), 2);
    assert_true(f->seen[0].seq == f->seen[1].seq && f->seen[0].seq != 0);
    lms_client_free(c);
    fake_stop(f);

    /* never resolved: the write's fate stays open, and the client says so */
    f = fake_start(ALWAYS_UNKNOWN, NULL);
    c = client_for("127.0.0.1:%d", f->port);
    lms_client_set_timeout(c, 300);
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_UNKNOWN);
    assert_non_null(strstr(err, "may or may not have been stored"));
    lms_client_free(c);
    fake_stop(f);
}

static void given_ids_are_sent(void **state)
{
    struct fake *f = fake_start(ANSWER_OK, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    Lms__CreateCourseRequest body = LMS__CREATE_COURSE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp = NULL;
    struct lms_call_opts o = {.client_id = 0x1234, .seq = 7};
    char err[256];
    body.code = "CS101";
    req.body_case = LMS__REQUEST__BODY_CREATE_COURSE;
    req.create_course = &body;
    assert_int_equal(lms_client_call_opts(c, &req, &o, &resp, err, sizeof err), LMS_CLIENT_OK);
    lms__response__free_unpacked(resp, NULL);
    assert_true(f->seen[0].client_id == 0x1234 && f->seen[0].seq == 7);
    /* a seq taken for the caller is not used again by the client */
    uint64_t taken = lms_client_take_seq(c);
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_OK);
    assert_true(f->seen[1].client_id == lms_client_id(c) && f->seen[1].seq == taken + 1);
    lms_client_free(c);
    fake_stop(f);
}

/* Collects the text of partial responses. */
static void collect_piece(void *arg, const Lms__Response *partial)
{
    assert_int_equal(partial->body_case, LMS__RESPONSE__BODY_TUTOR_CHUNK);
    strcat(arg, partial->tutor_chunk->text);
}

/* Ask (a write) with a callback for the pieces; pieces get their text. */
static enum lms_client_rc call_streamed(struct lms_client *c, char *pieces, char *err,
                                       size_t errlen)
{
    Lms__AskRequest body = LMS__ASK_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp = NULL;
    struct lms_call_opts opts = {.on_partial = collect_piece, .arg = pieces, .wait_ms = 5000};
    body.course = "CS101";
    body.text = "why?";
    body.tutor = true;
    req.body_case = LMS__REQUEST__BODY_ASK;
    req.ask = &body;
    enum lms_client_rc rc = lms_client_call_opts(c, &req, &opts, &resp, err, errlen);
    if (rc == LMS_CLIENT_OK) {
        assert_false(resp->partial);
        assert_int_equal(resp->id, req.id);
        lms__response__free_unpacked(resp, NULL);
    }
    return rc;
}

static void partial_responses_reach_the_callback(void **state)
{
    struct fake *f = fake_start(STREAM, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    char err[256], pieces[64] = "";
    assert_int_equal(call_streamed(c, pieces, err, sizeof err), LMS_CLIENT_OK);
    assert_string_equal(pieces, "Think about it.");
    assert_int_equal(atomic_load(&f->nseen), 1);
    /* without a callback the pieces are skipped */
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_OK);
    lms_client_free(c);
    fake_stop(f);
}

static void hang_up_after_a_piece_is_not_retried(void **state)
{
    struct fake *f = fake_start(STREAM_THEN_DROP, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    char err[256], pieces[64] = "";
    assert_int_equal(call_streamed(c, pieces, err, sizeof err), LMS_CLIENT_UNKNOWN);
    assert_string_equal(pieces, "Think about ");
    assert_int_equal(atomic_load(&f->nseen), 1);
    lms_client_free(c);
    fake_stop(f);
}

static void reads_carry_no_seq(void **state)
{
    struct fake *f = fake_start(ANSWER_OK, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    Lms__ListCoursesRequest body = LMS__LIST_COURSES_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    char err[256];
    req.body_case = LMS__REQUEST__BODY_LIST_COURSES;
    req.list_courses = &body;
    assert_int_equal(lms_client_call(c, &req, &resp, err, sizeof err), LMS_CLIENT_OK);
    lms__response__free_unpacked(resp, NULL);
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_OK);
    assert_true(f->seen[0].seq == 0);
    assert_true(f->seen[1].seq == 1);
    assert_true(f->seen[0].id != f->seen[1].id);
    lms_client_free(c);
    fake_stop(f);
}

static void dead_server_is_skipped(void **state)
{
    struct fake *f = fake_start(ANSWER_OK, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d, 127.0.0.1:%d", closed_port(), f->port);
    char err[256];
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_OK);
    assert_int_equal(atomic_load(&f->nseen), 1);
    lms_client_free(c);
    fake_stop(f);
}

static void nobody_listening_fails_fast(void **state)
{
    int port = closed_port();
    struct lms_client *c = client_for("127.0.0.1:%d", port);
    char err[256], want[128];
    int64_t t0 = now_ms();
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_UNREACHABLE);
    if (now_ms() - t0 > 1000)
        fail_msg("giving up took %lld ms", (long long)(now_ms() - t0));
    snprintf(want, sizeof want, "no lms server reachable at 127.0.0.1:%d (connection refused)",
             port);
    assert_string_equal(err, want);
    lms_client_free(c);
}

static void no_leader_fails_after_the_timeout(void **state)
{
    struct fake *f = fake_start(ALWAYS_UNAVAILABLE, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    char err[256];
    lms_client_set_timeout(c, 400);
    int64_t t0 = now_ms();
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_NO_LEADER);
    int64_t took = now_ms() - t0;
    if (took < 400 || took > 2000)
        fail_msg("expected to give up after about 400 ms, took %lld ms", (long long)took);
    assert_true(atomic_load(&f->nseen) >= 3);
    assert_non_null(strstr(err, "UNAVAILABLE: no quorum"));
    lms_client_free(c);
    fake_stop(f);
}

static void oversized_response_is_refused(void **state)
{
    struct fake *f = fake_start(HUGE_FRAME, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    char err[256];
    assert_int_equal(call_write(c, err, sizeof err), LMS_CLIENT_BAD_REPLY);
    assert_non_null(strstr(err, "above the limit of 1 GiB"));
    lms_client_free(c);
    fake_stop(f);
}

static void refused_large_frame_is_reported(void **state)
{
    struct fake *f = fake_start(REFUSE_LARGE, NULL);
    struct lms_client *c = client_for("127.0.0.1:%d", f->port);
    Lms__SubmitRequest body = LMS__SUBMIT_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp = NULL;
    char err[256];
    body.data.len = 64u << 20;
    body.data.data = calloc(1, body.data.len);
    req.body_case = LMS__REQUEST__BODY_SUBMIT;
    req.submit = &body;
    enum lms_client_rc rc = lms_client_call(c, &req, &resp, err, sizeof err);
    if (rc != LMS_CLIENT_OK)
        fail_msg("expected the server's refusal, got %d: %s", rc, err);
    assert_int_equal(resp->status, LMS__STATUS__RESOURCE_EXHAUSTED);
    assert_string_equal(resp->message, "frame too large");
    lms__response__free_unpacked(resp, NULL);
    free(body.data.data);
    lms_client_free(c);
    fake_stop(f);
}

static void server_lists_are_checked(void **state)
{
    static const char *const good[] = {"h:1", "h", "[::1]:7400", "::1", "a:1,b:2", " a:1 , b "};
    static const char *const bad[] = {"", ",", "h:", ":1", "h:0", "h:65536", "h:x", "[::1",
                                      "[::1]x", "a:1,,b:2"};
    char err[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct lms_client *c = lms_client_new(good[i], err, sizeof err);
        if (c == NULL)
            fail_msg("'%s' refused: %s", good[i], err);
        lms_client_free(c);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lms_client *c = lms_client_new(bad[i], err, sizeof err);
        if (c != NULL)
            fail_msg("'%s' accepted as a server list", bad[i]);
    }
}

/* A pending file is read back from disk: hostile content is ignored, and
 * a "written" time at either end of int64 neither matches nor overflows
 * (checked under -DLMS_SANITIZE=ON). */
static void hostile_pending_files_are_ignored(void **state)
{
    (void)state;
    char dir[] = "/tmp/lms-pending-XXXXXX";
    assert_non_null(mkdtemp(dir));
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__AskRequest ask = LMS__ASK_REQUEST__INIT;
    ask.course = "CS101";
    ask.text = "q";
    req.body_case = LMS__REQUEST__BODY_ASK;
    req.ask = &ask;
    struct lms_pending p;
    char err[256];
    int64_t now = (int64_t)time(NULL) * 1000; /* wall time, as the CLI's */
    const int64_t when[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX, -1};
    for (size_t i = 0; i < sizeof when / sizeof when[0]; i++) {
        lms_pending_make(&p, 7, 1, "lms-student", "stud1", &req, when[i]);
        assert_int_equal(lms_pending_save(dir, &p, err, sizeof err), 0);
        assert_int_equal(lms_pending_load(dir, &p), 0);
        assert_false(lms_pending_matches(&p, "lms-student", "stud1", &req, now));
    }
    lms_pending_make(&p, 7, 1, "lms-student", "stud1", &req, now);
    assert_int_equal(lms_pending_save(dir, &p, err, sizeof err), 0);
    assert_int_equal(lms_pending_load(dir, &p), 0);
    assert_true(lms_pending_matches(&p, "lms-student", "stud1", &req, now));
    assert_false(lms_pending_matches(&p, "lms-student", "stud2", &req, now));
    static const char *const bad[] = {
        "", "{", "[]", "null", "{\"client_id\": 5}",
        "{\"client_id\": \"0000000000000007\", \"seq\": 1, \"salt\": \"zz\"}",
        "{\"client_id\": \"00000000000000\", \"seq\": 1, \"salt\": \"\", \"digest\": \"\","
        " \"written\": 1}",
        "{\"client_id\": \"0000000000000000\", \"seq\": 1, \"salt\": "
        "\"00000000000000000000000000000000\", \"digest\": "
        "\"0000000000000000000000000000000000000000000000000000000000000000\", \"written\": 1}",
        "{\"client_id\": \"0000000000000007\", \"seq\": 0, \"salt\": "
        "\"00000000000000000000000000000000\", \"digest\": "
        "\"0000000000000000000000000000000000000000000000000000000000000000\", \"written\": 1}",
    };
    char path[64];
    snprintf(path, sizeof path, "%s/pending", dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(bad[i], f);
        fclose(f);
        assert_int_equal(lms_pending_load(dir, &p), -1);
    }
    lms_pending_remove(dir);
    rmdir(dir);
}

int main(void)
{
    unsetenv("LMS_CLIENT_TIMEOUT");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follows_the_leader_hint),
        cmocka_unit_test(an_unusable_leader_ends_the_call_at_once),
        cmocka_unit_test(unavailable_is_retried_with_the_same_seq),
        cmocka_unit_test(dropped_connection_is_retried_with_the_same_seq),
        cmocka_unit_test(write_dropped_until_the_deadline_is_unknown),
        cmocka_unit_test(read_dropped_until_the_deadline_is_unreachable),
        cmocka_unit_test(unknown_is_retried_with_the_same_seq),
        cmocka_unit_test(given_ids_are_sent),
        cmocka_unit_test(reads_carry_no_seq),
        cmocka_unit_test(partial_responses_reach_the_callback),
        cmocka_unit_test(hang_up_after_a_piece_is_not_retried),
        cmocka_unit_test(dead_server_is_skipped),
        cmocka_unit_test(nobody_listening_fails_fast),
        cmocka_unit_test(no_leader_fails_after_the_timeout),
        cmocka_unit_test(oversized_response_is_refused),
        cmocka_unit_test(refused_large_frame_is_reported),
        cmocka_unit_test(server_lists_are_checked),
        cmocka_unit_test(hostile_pending_files_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * peer.c: the peer port (see peer.h). Two kinds of connection, each a
 * bufferevent:
 *
 *   peer_link  outbound, one per member: we send on it. It is opened when
 *              there is something to send; after a failure it waits a
 *              backoff (10 ms doubling to 500 ms; reset once a connection
 *              has lived a second) before the next attempt, and messages
 *              for it are dropped meanwhile. The first frame is our hello.
 *   peer_in    inbound, accepted on listen.peer: we only read. Until its
 *              hello arrives (within 5 s) nothing else is accepted, and a
 *              frame over PREHELLO_MAX_FRAME closes it: a stranger's
 *              header reserves no memory. Connections without a hello
 *              have their own MAX_STRANGERS slots; when they are full the
 *              oldest goes, so strangers cannot lock members out (a
 *              member's own connection is a stranger until its hello, a
 *              few milliseconds).
 *
 * With mutual TLS (tls.h; the default), every connection is TLS 1.3 both
 * ways: a link's handshake fails unless the node it dialled shows a
 * certificate from the cluster's CA naming that member, and an inbound
 * connection's hello is believed only when it names the member that the
 * connection's certificate names. The hello deadline covers the handshake.
 *
 * Frames are cut as on the client port (net.c): read the 4-byte length,
 * set the read watermark to the whole frame, decode once it is in.
 * Outgoing frames are added to the output buffer by reference (blob), so
 * an append carrying a large entry is not copied again on the loop.
 */
#include "peer.h"

#include "clock.h"
#include "frame.h"
#include "lms_assert.h"
#include "log.h"
#include "peer_codec.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define PEER_VERSION 1
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 500
#define STABLE_CONN_MS 1000 /* a connection that lived this long resets the backoff */
#define HELLO_TIMEOUT_S 5
#define MAX_INBOUND 64       /* members' connections and strangers' */
#define MAX_STRANGERS 16     /* of which without a hello (yet) */
#define PREHELLO_MAX_FRAME 4096 /* a hello is tiny; a stray client's
                                   request that is larger is not answered */
#define READ_GULP ((size_t)1 << 20)

enum { LINK_DOWN, LINK_CONNECTING, LINK_UP };

typedef struct peer_link {
    peer_net *owner;
    uint64_t id;
    char addr[RAFT_ADDR_MAX];
    struct bufferevent *bev;
    struct event *retry;  /* the backoff timer while down */
    int state;
    int waiting;          /* retry armed: messages are dropped */
    int backed_up;        /* dropping because the buffer is full (logged) */
    int outage_logged;
    unsigned backoff_ms;
    int64_t connected_at; /* ms, monotonic */
    uint64_t epoch;       /* +1 per connection opened or lost */
    struct peer_link *next;
} peer_link;

typedef struct peer_in {
    peer_net *owner;
    struct bufferevent *bev;
    uint64_t from;    /* 0 until the hello */
    int reading;      /* in the read callback: free at its end */
    int dead;
    int refusing;     /* a client's request was answered: 1 sending the
                         answer, 2 lingering until the client closes */
    size_t discarded; /* bytes thrown away while lingering */
    char addr[64];
    struct peer_in *prev, *next;
} peer_in;

struct peer_net {
    struct event_base *base;
    peer_options o;
    char *cluster;
    char *client_addr; /* this node's client address, for strays; may be NULL */
    peer_callbacks cb;
    struct evconnlistener *listener;
    int port;
    peer_link *links;
    peer_in *ins;
    unsigned n_ins;
    unsigned n_strangers; /* of n_ins: no hello yet */
};

static void release_blob(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    blob_unref(arg);
}

/* host:port (numeric, or a name resolved here, blocking) into ss. */
static int resolve(const char *addr, struct sockaddr_storage *ss, int *len)
{
    *len = (int)sizeof *ss;
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)ss, len) == 0)
        return 0;
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= 256)
        return -1;
    char host[256];
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM};
    struct evutil_addrinfo *res = NULL;
    if (evutil_getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (int)res->ai_addrlen;
    evutil_freeaddrinfo(res);
    return 0;
}

/* ---- outbound links --------------------------------------------------- */

static peer_link *find_link(const peer_net *p, uint64_t id)
{
    for (peer_link *l = p->links; l; l = l->next)
        if (l->id == id)
            return l;
    return NULL;
}

static void link_close(peer_link *l)
{
    if (l->bev) {
        bufferevent_free(l->bev);
        l->epoch++;
    }
    l->bev = NULL;
    l->state = LINK_DOWN;
    l->backed_up = 0;
}

/* The connection failed (why) or could not be made: wait, then retry. */
static void link_failed(peer_link *l, const char *why)
{
    peer_net *p = l->owner;
    int was_up = l->state == LINK_UP;
    int64_t lived = was_up ? mono_ms() - l->connected_at : 0;
    link_close(l);
    if (lived >= STABLE_CONN_MS)
        l->backoff_ms = BACKOFF_MIN_MS;
    else if (l->backoff_ms < BACKOFF_MAX_MS)
        l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                          : l->backoff_ms * 2;
    if (!l->outage_logged) {
        l->outage_logged = 1;
        log_warn("peer %llu (%s): %s; retrying in the background",
                 (unsigned long long)l->id, l->addr, why);
    }
    struct timeval tv = {0, (suseconds_t)l->backoff_ms * 1000};
    l->waiting = 1;
    evtimer_add(l->retry, &tv);
    if (p->cb.on_unreachable)
        p->cb.on_unreachable(p->cb.arg, l->id);
}

static void link_event(struct bufferevent *bev, short what, void *arg)
{
    peer_link *l = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(l->bev), IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof one);
        l->state = LINK_UP;
        l->connected_at = mono_ms();
        if (l->outage_logged)
            log_info("peer %llu (%s): connected again",
                     (unsigned long long)l->id, l->addr);
        else
            log_debug("peer %llu (%s): connected", (unsigned long long)l->id,
                      l->addr);
        l->outage_logged = 0;
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        char why[160];
        const char *tls_err = tls_bev_error(bev);
        if (tls_err) {
            snprintf(why, sizeof why, "TLS: %s", tls_err);
        } else if (what & BEV_EVENT_EOF) {
            snprintf(why, sizeof why, "connection closed by the peer");
        } else {
            snprintf(why, sizeof why, "%s",
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
            if (why[0] >= 'A' && why[0] <= 'Z') /* to sit in a sentence */
                why[0] = (char)(why[0] - 'A' + 'a');
        }
        link_failed(l, why);
    }
}

/* The peer never writes to us on this connection; discard anything. */
static void link_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static blob *hello_frame(const peer_net *p, uint64_t to)
{
    Lms__PeerHello h = LMS__PEER_HELLO__INIT;
    h.cluster = p->cluster;
    h.from = p->o.self_id;
    h.to = to;
    h.version = PEER_VERSION;
    Lms__PeerMessage msg = LMS__PEER_MESSAGE__INIT;
    msg.body_case = LMS__PEER_MESSAGE__BODY_HELLO;
    msg.hello = &h;
    return peer_frame_pack(&msg);
}

static void add_frame(struct bufferevent *bev, blob *frame)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    if (evbuffer_add_reference(out, frame->data, frame->len, release_blob,
                               frame) < 0)
        blob_unref(frame);
}

/* Start connecting; the hello goes first. 0, or -1 (already failed). */
static int link_connect(peer_link *l)
{
    peer_net *p = l->owner;
    struct sockaddr_storage ss;
    int len;
    if (resolve(l->addr, &ss, &len) < 0) {
        link_failed(l, "cannot resolve the address");
        return -1;
    }
    l->bev = tls_peer_port_on(p->o.tls)
                 ? tls_bufferevent(p->base, -1, tls_peer_ssl(p->o.tls, &l->id), 0,
                                   BEV_OPT_CLOSE_ON_FREE)
                 : bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
    blob *hello = l->bev ? hello_frame(p, l->id) : NULL;
    if (!hello) {
        link_failed(l, "out of memory");
        return -1;
    }
    bufferevent_setcb(l->bev, link_read, NULL, link_event, l);
    bufferevent_set_max_single_write(l->bev, READ_GULP);
    bufferevent_enable(l->bev, EV_READ | EV_WRITE);
    add_frame(l->bev, hello);
    l->state = LINK_CONNECTING;
    l->epoch++;
    if (bufferevent_socket_connect(l->bev, (struct sockaddr *)&ss, len) < 0) {
        link_failed(l, strerror(errno));
        return -1;
    }
    return 0;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    peer_link *l = arg;
    (void)fd;
    (void)what;
    l->waiting = 0;
    if (l->state == LINK_DOWN)
        link_connect(l);
}

/* Queue a frame (our reference) for l, or drop it: 0 or -1. */
/* Can the link take a message now? (Connecting if it must.) */
static int link_open(peer_link *l)
{
    size_t limit = l->owner->o.max_queue_bytes;
    if (l->state == LINK_DOWN && (l->waiting || link_connect(l) < 0))
        return 0;
    size_t queued = evbuffer_get_length(bufferevent_get_output(l->bev));
    if (queued > limit) {
        if (!l->backed_up)
            log_warn("peer %llu (%s): %zu bytes wait to be sent; dropping "
                     "messages until it drains",
                     (unsigned long long)l->id, l->addr, queued);
        l->backed_up = 1;
        return 0;
    }
    l->backed_up = 0;
    return 1;
}

static int link_enqueue(peer_link *l, blob *frame)
{
    if (!link_open(l)) {
        blob_unref(frame);
        return -1;
    }
    add_frame(l->bev, frame);
    return 0;
}

/* Move a whole frame, built in buf (by reference), to the link. */
static int link_enqueue_buffer(peer_link *l, struct evbuffer *buf)
{
    if (!link_open(l))
        return -1;
    return evbuffer_add_buffer(bufferevent_get_output(l->bev), buf) < 0 ? -1
                                                                        : 0;
}

/* ---- inbound connections ------------------------------------------------ */

static void in_free(peer_in *in)
{
    peer_net *p = in->owner;
    if (in->prev)
        in->prev->next = in->next;
    else
        p->ins = in->next;
    if (in->next)
        in->next->prev = in->prev;
    p->n_ins--;
    if (!in->from)
        p->n_strangers--;
    free(in);
}

/* Close now; freed at once, or at the end of its read callback. Not
 * inlined: in in_read (where `reading` keeps it alive) GCC's
 * -Wuse-after-free would see the free and not the flag. */
__attribute__((noinline)) static void in_close(peer_in *in)
{
    if (in->dead)
        return;
    in->dead = 1;
    bufferevent_free(in->bev);
    in->bev = NULL;
    if (!in->reading)
        in_free(in);
}

static void handle_hello(peer_in *in, const Lms__PeerMessage *msg)
{
    peer_net *p = in->owner;
    const Lms__PeerHello *h = msg->hello;
    const char *why = NULL;
    if (msg->body_case != LMS__PEER_MESSAGE__BODY_HELLO)
        why = "the first message is not a hello";
    else if (strcmp(h->cluster, p->cluster) != 0)
        why = "it belongs to another cluster";
    else if (h->to != p->o.self_id)
        why = "it wants another node";
    else if (!h->from || h->from == p->o.self_id || !find_link(p, h->from))
        why = "it is not a member of this cluster";
    char tls_why[200];
    if (!why && tls_peer_port_on(p->o.tls)) {
        uint64_t id = tls_peer_id(bufferevent_openssl_get_ssl(in->bev),
                                  p->cluster, tls_why, sizeof tls_why);
        if (!id)
            why = tls_why;
        else if (id != h->from) {
            snprintf(tls_why, sizeof tls_why,
                     "its certificate is node %llu's, not node %llu's",
                     (unsigned long long)id, (unsigned long long)h->from);
            why = tls_why;
        }
    }
    if (why) {
        log_warn("peer port: refused %s (node %llu, cluster '%s'): %s",
                 in->addr, (unsigned long long)(h && msg->body_case ==
                          LMS__PEER_MESSAGE__BODY_HELLO ? h->from : 0),
                 h && msg->body_case == LMS__PEER_MESSAGE__BODY_HELLO
                     ? h->cluster : "?", why);
        in_close(in);
        return;
    }
    /* a newer connection from the same node replaces the old one (the
     * next pointer is read first: in_close frees o) */
    for (peer_in *o = p->ins, *next; o; o = next) {
        next = o->next;
        if (o != in && o->from == h->from && !o->dead)
            in_close(o);
    }
    in->from = h->from;
    p->n_strangers--;
    bufferevent_set_timeouts(in->bev, NULL, NULL);
    /* it is back: our link to it need not wait out its backoff */
    peer_link *l = find_link(p, h->from);
    if (l->state == LINK_DOWN && l->waiting) {
        evtimer_del(l->retry);
        l->waiting = 0;
        l->backoff_ms = BACKOFF_MIN_MS;
        link_connect(l);
    }
    log_debug("peer port: node %llu connected from %s",
              (unsigned long long)in->from, in->addr);
}

static void deliver_raft(peer_in *in, const Lms__PeerRaft *pb)
{
    peer_net *p = in->owner;
    raft_msg m;
    raft_snapshot_meta meta;
    int rc = peer_decode_raft(pb, &m, &meta);
    if (rc != RAFT_OK) {
        log_warn("peer %llu: raft message does not decode (%s); dropped",
                 (unsigned long long)in->from, raft_strerror(rc));
        return;
    }
    if (m.from != in->from || m.to != p->o.self_id)
        log_warn("peer %llu: raft message claims to be from %llu to %llu; "
                 "dropped", (unsigned long long)in->from,
                 (unsigned long long)m.from, (unsigned long long)m.to);
    else if (p->cb.on_raft)
        p->cb.on_raft(p->cb.arg, &m);
    peer_raft_release(&m);
}

static void in_message(peer_in *in, const Lms__PeerMessage *msg)
{
    peer_net *p = in->owner;
    switch (msg->body_case) {
    case LMS__PEER_MESSAGE__BODY_RAFT:
        deliver_raft(in, msg->raft);
        break;
    case LMS__PEER_MESSAGE__BODY_STATUS:
        if (p->cb.on_status)
            p->cb.on_status(p->cb.arg, in->from, msg->status);
        break;
    case LMS__PEER_MESSAGE__BODY_FORWARD:
        if (p->cb.on_forward)
            p->cb.on_forward(p->cb.arg, in->from, msg->forward->command.data,
                             msg->forward->command.len);
        break;
    case LMS__PEER_MESSAGE__BODY_FETCH:
        if (p->cb.on_fetch)
            p->cb.on_fetch(p->cb.arg, in->from, msg->fetch);
        break;
    case LMS__PEER_MESSAGE__BODY_FETCH_REPLY:
        if (p->cb.on_fetch_reply)
            p->cb.on_fetch_reply(p->cb.arg, in->from, msg->fetch_reply);
        break;
    case LMS__PEER_MESSAGE__BODY_CHUNK:
        if (p->cb.on_chunk)
            p->cb.on_chunk(p->cb.arg, in->from, msg->chunk);
        break;
    case LMS__PEER_MESSAGE__BODY_SNAPSHOT_ACK:
        if (p->cb.on_chunk_ack)
            p->cb.on_chunk_ack(p->cb.arg, in->from, msg->snapshot_ack);
        break;
    default:
        log_warn("peer %llu: unexpected message %d; closing",
                 (unsigned long long)in->from, (int)msg->body_case);
        in_close(in);
    }
}

/* Once the answer to a stray client is out: linger until it closes (or
 * 2 s pass, or twice the frame limit arrives; frame_linger). */
static void in_linger(peer_in *in)
{
    if (frame_linger(in->bev) < 0)
        in_close(in);
}

static void in_write(struct bufferevent *bev, void *arg)
{
    peer_in *in = arg;
    /* libevent may call this with nothing queued: wait for the answer */
    if (in->refusing == 1 &&
        evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        in->refusing = 2;
        in_linger(in);
    }
}

/*
 * The first frame is a client's Request, not a hello: someone pointed a CLI
 * at the peer port. Answer it with FAILED_PRECONDITION naming the port and
 * the node's client port, then close once that is sent. 0 answered (the
 * connection now closes by itself), -1 it is not a Request.
 */
static int answer_stray_client(peer_in *in, const uint8_t *data, size_t len)
{
    peer_net *p = in->owner;
    if (!p->o.stray_answer)
        return -1;
    char self[64] = "this", use[RAFT_ADDR_MAX + 64] = "";
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (getsockname(bufferevent_getfd(in->bev), (struct sockaddr *)&ss,
                    &sslen) == 0)
        frame_format_addr((struct sockaddr *)&ss, self, sizeof self);
    if (p->client_addr)
        snprintf(use, sizeof use, ", %s", p->client_addr);
    char text[sizeof self + sizeof use + 128];
    snprintf(text, sizeof text,
             "%s is an lms peer port, not a client port; use the node's "
             "client port%s (listen.client in its config)", self, use);
    uint8_t frame[FRAME_HEADER + sizeof text + 64];
    size_t n = p->o.stray_answer(data, len, text, frame + FRAME_HEADER,
                                 sizeof frame - FRAME_HEADER);
    if (n == 0)
        return -1;
    LMS_ASSERT(n <= sizeof frame - FRAME_HEADER);
    frame_len_put(frame, (uint32_t)n);
    if (bufferevent_write(in->bev, frame, FRAME_HEADER + n) < 0)
        return -1;
    log_warn("peer port: %s sent a client request, not a hello; answered "
             "that this is the peer port, closing", in->addr);
    in->refusing = 1;
    bufferevent_disable(in->bev, EV_READ);
    struct timeval t = {2, 0};
    bufferevent_set_timeouts(in->bev, NULL, &t);
    bufferevent_enable(in->bev, EV_WRITE);
    return 0;
}

static void in_frame(peer_in *in, const uint8_t *data, size_t len)
{
    Lms__PeerMessage *msg = lms__peer_message__unpack(NULL, len, data);
    /* a client at the wrong port: its Request never decodes as a hello */
    if (!in->from &&
        (!msg || msg->body_case != LMS__PEER_MESSAGE__BODY_HELLO) &&
        answer_stray_client(in, data, len) == 0) {
        if (msg)
            lms__peer_message__free_unpacked(msg, NULL);
        return;
    }
    if (!msg) {
        log_warn("peer port: %s (node %llu) sent a frame that does not "
                 "decode; closing", in->addr, (unsigned long long)in->from);
        in_close(in);
        return;
    }
    if (!in->from)
        handle_hello(in, msg);
    else
        in_message(in, msg);
    lms__peer_message__free_unpacked(msg, NULL);
}

static void in_read(struct bufferevent *bev, void *arg)
{
    peer_in *in = arg;
    peer_net *p = in->owner;
    struct evbuffer *buf = bufferevent_get_input(bev);
    if (in->refusing) {
        in->discarded += evbuffer_get_length(buf);
        evbuffer_drain(buf, evbuffer_get_length(buf));
        if (in->discarded > 2 * (size_t)p->o.max_frame_bytes)
            in_close(in);
        return;
    }
    in->reading = 1;
    while (!in->dead && !in->refusing) {
        size_t avail = evbuffer_get_length(buf);
        uint8_t hdr[4];
        if (avail < 4)
            break;
        evbuffer_copyout(buf, hdr, 4);
        uint32_t len = frame_len_get(hdr);
        if (!in->from && len > PREHELLO_MAX_FRAME) {
            log_warn("peer port: %s announced a first frame of %u bytes "
                     "(a hello is at most %d); closing", in->addr, len,
                     PREHELLO_MAX_FRAME);
            in_close(in);
            break;
        }
        if (len > p->o.max_frame_bytes) {
            log_warn("peer port: %s sent a frame of %u bytes (limit %u); "
                     "closing", in->addr, len, p->o.max_frame_bytes);
            in_close(in);
            break;
        }
        if (avail < 4 + (size_t)len) {
            /* no room reserved on the length word's say-so (a member id
             * proves nothing until peer TLS): the buffer grows as bytes
             * arrive, and the frame is copied once when cut out */
            bufferevent_setwatermark(bev, EV_READ, 4 + (size_t)len, 0);
            break;
        }
        bufferevent_setwatermark(bev, EV_READ, 0, 0);
        evbuffer_drain(buf, 4);
        uint8_t *data = evbuffer_pullup(buf, len);
        in_frame(in, data, len);
        if (!in->dead)
            evbuffer_drain(buf, len);
    }
    in->reading = 0;
    if (in->dead)
        in_free(in);
}

static void in_event(struct bufferevent *bev, short what, void *arg)
{
    peer_in *in = arg;
    const char *tls_err = tls_bev_error(bev);
    if (tls_err) {
        log_warn("peer port: %s: TLS: %s; closing", in->addr, tls_err);
    } else if ((what & BEV_EVENT_TIMEOUT) && !in->refusing)
        log_warn("peer port: %s sent no hello within %d s; closing", in->addr,
                 HELLO_TIMEOUT_S);
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        in_close(in);
}

/* The stranger slots are full: the oldest connection without a hello
 * makes room for the new one (new connections go to the list's head). */
static void close_oldest_stranger(peer_net *p, const char *newcomer)
{
    peer_in *oldest = NULL;
    for (peer_in *in = p->ins; in; in = in->next)
        if (!in->from && !in->dead)
            oldest = in;
    if (!oldest)
        return;
    log_warn("peer port: %u connections without a hello; closing the oldest "
             "(%s) for %s", p->n_strangers, oldest->addr, newcomer);
    in_close(oldest);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    peer_net *p = arg;
    (void)lis;
    (void)salen;
    char addr[64];
    frame_format_addr(sa, addr, sizeof addr);
    if (p->n_strangers >= MAX_STRANGERS)
        close_oldest_stranger(p, addr);
    if (p->n_ins >= MAX_INBOUND) {
        log_warn("peer port: refused %s: %u connections open", addr, p->n_ins);
        evutil_closesocket(fd);
        return;
    }
    peer_in *in = calloc(1, sizeof *in);
    struct bufferevent *bev = NULL;
    if (in)
        bev = tls_peer_port_on(p->o.tls)
                  ? tls_bufferevent(p->base, fd, tls_peer_ssl(p->o.tls, NULL), 1,
                                    BEV_OPT_CLOSE_ON_FREE)
                  : bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        free(in);
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    in->owner = p;
    in->bev = bev;
    snprintf(in->addr, sizeof in->addr, "%s", addr);
    in->next = p->ins;
    if (p->ins)
        p->ins->prev = in;
    p->ins = in;
    p->n_ins++;
    p->n_strangers++;
    struct timeval hello = {HELLO_TIMEOUT_S, 0};
    bufferevent_set_timeouts(bev, &hello, NULL);
    bufferevent_setcb(bev, in_read, in_write, in_event, in);
    /* an append may carry a large entry: read it in big gulps, not 16 KiB
     * a loop iteration */
    bufferevent_set_max_single_read(bev, READ_GULP);
    bufferevent_enable(bev, EV_READ);
}

static void on_listen_error(struct evconnlistener *lis, void *arg)
{
    (void)lis;
    (void)arg;
    log_error("peer port: accept: %s",
              evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* ---- the API ------------------------------------------------------------ */

/* evutil_parse_sockaddr_port, also for port 0 (any free port). */
static int parse_listen_addr(const char *addr, struct sockaddr_storage *ss,
                             int *len)
{
    size_t n = strlen(addr);
    if (n < 2 || n >= 256 || strcmp(addr + n - 2, ":0") != 0)
        return evutil_parse_sockaddr_port(addr, (struct sockaddr *)ss, len);
    char tmp[256];
    memcpy(tmp, addr, n + 1);
    tmp[n - 1] = '1';
    if (evutil_parse_sockaddr_port(tmp, (struct sockaddr *)ss, len) < 0)
        return -1;
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = 0;
    else
        ((struct sockaddr_in *)ss)->sin_port = 0;
    return 0;
}

static int listen_on(peer_net *p, const char *addr, lms_err *err)
{
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    if (parse_listen_addr(addr, &ss, &sslen) < 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "peer address '%s' is not host:port", addr);
    p->listener = evconnlistener_new_bind(
        p->base, on_accept, p, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
        (struct sockaddr *)&ss, sslen);
    if (!p->listener)
        return lms_err_set(err, LMS_UNAVAILABLE,
                           "cannot listen on %s (listen.peer): %s", addr,
                           strerror(errno));
    evconnlistener_set_error_cb(p->listener, on_listen_error);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(evconnlistener_get_fd(p->listener),
                    (struct sockaddr *)&bound, &blen) == 0)
        p->port = ntohs(bound.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&bound)->sin6_port
                            : ((struct sockaddr_in *)&bound)->sin_port);
    return LMS_OK;
}

int peer_start(struct event_base *base, const peer_options *opts,
               const peer_callbacks *cb, peer_net **out, lms_err *err)
{
    *out = NULL;
    peer_net *p = calloc(1, sizeof *p);
    if (!p || !(p->cluster = strdup(opts->cluster ? opts->cluster : ""))) {
        free(p);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    p->base = base;
    p->o = *opts;
    p->o.cluster = p->cluster;
    p->o.listen_addr = NULL;
    if (opts->client_addr && !(p->client_addr = strdup(opts->client_addr))) {
        peer_free(p);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    p->o.client_addr = p->client_addr;
    if (!p->o.max_queue_bytes)
        p->o.max_queue_bytes = (size_t)64 << 20;
    p->cb = *cb;
    if (opts->listen_addr && listen_on(p, opts->listen_addr, err) != LMS_OK) {
        peer_free(p);
        return err->code;
    }
    *out = p;
    return LMS_OK;
}

int peer_set_member(peer_net *p, uint64_t id, const char *addr)
{
    if (!id || id == p->o.self_id || strlen(addr) >= RAFT_ADDR_MAX)
        return LMS_INVALID_ARGUMENT;
    peer_link *l = find_link(p, id);
    if (l) {
        if (strcmp(l->addr, addr) != 0) {
            snprintf(l->addr, sizeof l->addr, "%s", addr);
            link_close(l);
        }
        return LMS_OK;
    }
    l = calloc(1, sizeof *l);
    if (!l)
        return LMS_RESOURCE_EXHAUSTED;
    l->retry = evtimer_new(p->base, on_retry, l);
    if (!l->retry) {
        free(l);
        return LMS_RESOURCE_EXHAUSTED;
    }
    l->owner = p;
    l->id = id;
    l->backoff_ms = BACKOFF_MIN_MS;
    snprintf(l->addr, sizeof l->addr, "%s", addr);
    l->next = p->links;
    p->links = l;
    return LMS_OK;
}

static void link_free(peer_link *l)
{
    link_close(l);
    event_free(l->retry);
    free(l);
}

void peer_remove_member(peer_net *p, uint64_t id)
{
    for (peer_link **pl = &p->links; *pl; pl = &(*pl)->next) {
        if ((*pl)->id != id)
            continue;
        peer_link *l = *pl;
        *pl = l->next;
        link_free(l);
        break;
    }
    for (peer_in *in = p->ins, *next; in; in = next) {
        next = in->next;
        if (in->from == id)
            in_close(in);
    }
}

int peer_is_member(const peer_net *p, uint64_t id)
{
    return find_link(p, id) != NULL;
}

int peer_send(peer_net *p, uint64_t to, const Lms__PeerMessage *msg)
{
    peer_link *l = find_link(p, to);
    if (!l)
        return -1;
    blob *frame = peer_frame_pack(msg);
    return frame ? link_enqueue(l, frame) : -1;
}

/* Entry data from this size on goes to the socket from its own blob. */
#define REF_MIN ((size_t)64 << 10)

/* Queue m with its large entries by reference (peer_encode_raft_pieces). */
static int enqueue_pieces(peer_link *l, const raft_msg *m)
{
    peer_pieces pc;
    if (peer_encode_raft_pieces(m, REF_MIN, &pc) != RAFT_OK)
        return -1;
    /* The frame is put together apart and moved to the link whole: a
     * failure half way must not leave half a frame on the wire. */
    struct evbuffer *tmp = evbuffer_new();
    int rc = tmp ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < pc.n; i++) {
        peer_piece *pi = &pc.v[i];
        if (evbuffer_add_reference(tmp, pi->b->data + pi->off, pi->len,
                                   release_blob, pi->b) < 0)
            rc = -1;
        else
            pi->b = NULL; /* tmp's now */
    }
    peer_pieces_free(&pc);
    if (rc == 0)
        rc = link_enqueue_buffer(l, tmp);
    if (tmp)
        evbuffer_free(tmp); /* what it still holds is released */
    return rc;
}

static int has_large_entry(const raft_msg *m)
{
    for (size_t i = 0; i < m->n_entries; i++)
        if (m->entries[i].data && m->entries[i].data->len >= REF_MIN)
            return 1;
    return 0;
}

int peer_send_raft(peer_net *p, const raft_msg *m)
{
    peer_link *l = find_link(p, m->to);
    if (!l)
        return -1;
    if (!m->snapshot && has_large_entry(m))
        return enqueue_pieces(l, m);
    blob *frame = peer_encode_raft(m);
    return frame ? link_enqueue(l, frame) : -1;
}

int peer_port(const peer_net *p) { return p->port; }

uint64_t peer_epoch(const peer_net *p, uint64_t id)
{
    const peer_link *l = find_link(p, id);
    return l ? l->epoch : 0;
}

size_t peer_queued(const peer_net *p, uint64_t id)
{
    peer_link *l = find_link(p, id);
    return l && l->bev ? evbuffer_get_length(bufferevent_get_output(l->bev))
                       : 0;
}

void peer_free(peer_net *p)
{
    if (!p)
        return;
    if (p->listener)
        evconnlistener_free(p->listener);
    while (p->links) {
        peer_link *l = p->links;
        p->links = l->next;
        link_free(l);
    }
    while (p->ins)
        in_close(p->ins);
    free(p->cluster);
    free(p->client_addr);
    free(p);
}

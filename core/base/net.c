/* SPDX-License-Identifier: MIT */
/*
 * net.c: the client port (see net.h). One bufferevent per connection; the
 * read callback cuts frames out of its input buffer. Replies are added to
 * the output buffer by reference (the blob is released when sent), so a
 * large download is never copied on the loop.
 *
 * Against clients that would hold resources without using them (issue
 * 10): one timer per connection closes it when a frame that has begun is
 * not complete by its deadline, or when it sits idle; a frame's memory
 * grows with the bytes that arrived (libevent's chain of buffers), never
 * with what its length word promises; a connection that has not
 * authenticated may send only small frames; and one that does not read
 * its answers is not read either (output high/low water).
 *
 * With TLS on the client port, an accepted socket is first watched until
 * its first byte arrives (within preauth_idle_ms): 0x16 begins a TLS
 * handshake (as a frame's length it would be over 350 MB, never valid),
 * anything else is a plaintext client, which is answered in plaintext
 * that this port speaks TLS, then closed.
 */
#include "net.h"

#include "frame.h"
#include "lms_assert.h"
#include "log.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct conn {
    net *owner;
    struct bufferevent *bev; /* NULL while sniffing */
    struct event *sniff;     /* TLS port: waiting for the first byte */
    int fd;
    conn *prev, *next; /* owner's list of open connections */
    int refs;          /* the list holds one while open */
    int open;
    int closing;       /* close once the output is flushed */
    int lingering;     /* output shut; discarding input until EOF */
    size_t discarded;
    int reading;
    int inflight;
    int big;           /* a big frame is arriving (bigger reads, on_read) */
    int holds;         /* conn_hold */
    int out_blocked;   /* not reading: too much output waits */
    int authenticated; /* conn_set_authenticated */
    int refused;       /* 0, or REFUSED_*: being told why, then closed */
    struct event *timer; /* the frame deadline or the idle timeout */
    int frame_timed;   /* the timer is a frame's deadline */
    int frame_len_known;
    int64_t frame_started; /* monotonic ms */
    int family;
    uint8_t addr[16];  /* the peer's address (an IPv6 one's /64, the rest
                          zero), for max_connections_per_ip */
    char peer[64];
};

/* A frame at least this long is read in reads of up to BIG_READ bytes
 * (libevent's default is 16 KiB). */
#define BIG_FRAME ((size_t)256 << 10)
#define BIG_READ ((size_t)1 << 20)
#define DEFAULT_READ ((size_t)16 << 10)

/* A connection over a limit is refused when accepted: told why (once its
 * first byte shows which protocol it speaks, on the TLS port) and closed.
 * It counts for neither limit, so that one address's refused connections
 * do not lock others out; it has REFUSE_MS for its first byte, its
 * handshake and the answer, and at most max_connections of them are
 * answered at a time (more are closed at once). */
enum { REFUSED_TOTAL = 1, REFUSED_PER_IP };
#define REFUSE_MS 2000

struct net {
    struct event_base *base;
    struct evconnlistener *listener;
    net_options opts;
    net_callbacks cb;
    conn *conns;
    uint32_t nconns;   /* in the list, refused ones too */
    uint32_t nrefused; /* of them, being refused */
    int port;
};

blob *frame_new(const void *payload, size_t len)
{
    blob *b = blob_new(len + 4);
    if (!b)
        return NULL;
    frame_len_put(b->data, (uint32_t)len);
    if (len)
        memcpy(b->data + 4, payload, len);
    return b;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void timer_arm(conn *c, int64_t ms)
{
    if (ms < 1)
        ms = 1;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/*
 * Choose what the connection's timer guards, after anything that may have
 * changed it (bytes read, a request started or ended, authentication).
 * Reading with part of a frame in: that frame's deadline, from when its
 * first byte was seen; nothing in flight: the idle timeout; else (the
 * server is working, or has stopped reading): nothing.
 */
static void conn_timer_update(conn *c)
{
    const net_options *o = &c->owner->opts;
    if (!c->open || c->closing || c->lingering)
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t have = evbuffer_get_length(in);
    if (c->reading && have > 0 && o->frame_timeout_ms > 0) {
        if (!c->frame_timed) {
            c->frame_timed = 1;
            c->frame_len_known = 0;
            c->frame_started = mono_ms();
            timer_arm(c, o->frame_timeout_ms);
        }
        if (have >= FRAME_HEADER && !c->frame_len_known) {
            uint8_t hdr[FRAME_HEADER];
            evbuffer_copyout(in, hdr, sizeof hdr);
            uint64_t len = frame_len_get(hdr);
            int64_t allow = o->frame_timeout_ms;
            if (o->frame_min_rate)
                allow += (int64_t)(len * 1000 / o->frame_min_rate);
            c->frame_len_known = 1;
            timer_arm(c, c->frame_started + allow - mono_ms());
        }
        return;
    }
    c->frame_timed = 0;
    int64_t idle = c->authenticated ? o->idle_ms : o->preauth_idle_ms;
    if (c->inflight == 0 && have == 0 && idle > 0)
        timer_arm(c, idle);
    else
        evtimer_del(c->timer);
}

static void list_remove(net *n, conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    n->nconns--;
    if (c->refused)
        n->nrefused--;
}

/* Close now: free the socket, drop the list's reference. */
static void conn_close_now(conn *c)
{
    if (!c->open)
        return;
    c->open = 0;
    event_free(c->timer);
    c->timer = NULL;
    if (c->sniff) {
        event_free(c->sniff);
        c->sniff = NULL;
        evutil_closesocket(c->fd);
    }
    if (c->bev)
        bufferevent_free(c->bev);
    c->bev = NULL;
    list_remove(c->owner, c);
    conn_unref(c);
}

conn *conn_ref(conn *c)
{
    c->refs++;
    return c;
}

/* Not inlined: a caller that holds its own reference across a call that
 * may drop another (on_read around on_frame and conn_close_now) would
 * otherwise show GCC's -Wuse-after-free two unrefs of one object in one
 * function and not the count that keeps it alive. */
__attribute__((noinline)) void conn_unref(conn *c)
{
    if (c && --c->refs == 0)
        free(c);
}

int conn_is_open(const conn *c) { return c->open && !c->closing; }

size_t conn_output_pending(const conn *c)
{
    return c->open && c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev))
                             : 0;
}

void conn_set_authenticated(conn *c)
{
    if (c->authenticated || !c->open)
        return;
    c->authenticated = 1;
    conn_timer_update(c);
}
const char *conn_peer(const conn *c) { return c->peer; }

static void release_blob(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    blob_unref(arg);
}

static void update_reading(conn *c)
{
    if (!c->open || c->closing)
        return;
    int want = c->inflight < (int)c->owner->opts.max_inflight_per_conn &&
               c->holds == 0 && !c->out_blocked;
    if (want && !c->reading) {
        bufferevent_enable(c->bev, EV_READ);
        /* frames may already wait in the input buffer */
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
    }
    else if (!want && c->reading)
        bufferevent_disable(c->bev, EV_READ);
    c->reading = want;
    conn_timer_update(c);
}

void conn_send(conn *c, blob *frame)
{
    if (!frame)
        return;
    if (!c->open || c->closing) {
        blob_unref(frame);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_add_reference(out, frame->data, frame->len, release_blob,
                               frame) < 0)
        blob_unref(frame);
    size_t high = c->owner->opts.max_output_bytes;
    if (high && !c->out_blocked && evbuffer_get_length(out) > high) {
        /* on_write reads again once the client took most of it */
        c->out_blocked = 1;
        update_reading(c);
    }
}

void conn_hold(conn *c, int delta)
{
    c->holds += delta;
    LMS_ASSERT(c->holds >= 0);
    update_reading(c);
}

void conn_inflight_add(conn *c, int delta)
{
    c->inflight += delta;
    update_reading(c);
}

/*
 * The last answer is out. Closing now, with unread input (the rest of an
 * oversized frame) in the socket, would make the kernel send a reset that
 * can destroy that answer before the client reads it. So shut down our
 * side and discard input until the peer closes, for at most 2 s or twice
 * the frame limit, then close.
 */
static void conn_linger(conn *c)
{
    c->lingering = 1;
    evtimer_del(c->timer);
    if (frame_linger(c->bev) < 0)
        conn_close_now(c);
}

void conn_close_after(conn *c, blob *frame)
{
    if (!c->open || c->closing) {
        blob_unref(frame);
        return;
    }
    conn_send(c, frame);
    c->closing = 1;
    evtimer_del(c->timer);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_linger(c);
    /* else: on_write lingers once flushed */
}

static void on_write(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->out_blocked && pending <= c->owner->opts.max_output_bytes / 2) {
        c->out_blocked = 0;
        update_reading(c);
    }
    /* libevent also runs this callback when the socket merely became
     * writable with nothing queued (an accepted socket "connects" on its
     * first write event), possibly deferred past a conn_close_after() that
     * queued the last answer: close only once that answer is out. */
    if (c->closing && !c->lingering && pending == 0)
        conn_linger(c);
}

/* Cut as many whole frames as the input holds. */
static void on_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    net *n = c->owner;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->lingering) {
        c->discarded += evbuffer_get_length(in);
        evbuffer_drain(in, evbuffer_get_length(in));
        if (c->discarded > 2 * (size_t)n->opts.max_frame_bytes)
            conn_close_now(c);
        return;
    }
    conn_ref(c); /* on_frame may close c */
    while (c->open && !c->closing && c->reading) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 4)
            break;
        uint8_t hdr[4];
        evbuffer_copyout(in, hdr, 4);
        uint32_t len = frame_len_get(hdr);
        uint32_t limit = n->opts.max_frame_bytes;
        if (!c->authenticated && n->opts.preauth_frame_bytes &&
            n->opts.preauth_frame_bytes < limit)
            limit = n->opts.preauth_frame_bytes;
        if (len > limit) {
            log_warn("client %s: frame of %u bytes exceeds the limit of %u%s; "
                     "closing", c->peer, len, limit,
                     c->authenticated ? "" : " before logging in");
            conn_close_after(c, n->cb.on_oversize(n->cb.arg, len, limit,
                                                  c->authenticated));
            break;
        }
        if (avail < 4 + (size_t)len) {
            /* ask libevent to wake us only when the frame is complete; the
             * input grows as bytes arrive (a chain of buffers), in bigger
             * reads for a big frame */
            bufferevent_setwatermark(bev, EV_READ, 4 + (size_t)len, 0);
            if (len >= BIG_FRAME && !c->big) {
                bufferevent_set_max_single_read(bev, BIG_READ);
                c->big = 1;
            }
            break;
        }
        bufferevent_setwatermark(bev, EV_READ, 0, 0);
        if (c->big) {
            c->big = 0;
            bufferevent_set_max_single_read(bev, DEFAULT_READ);
        }
        evbuffer_drain(in, 4);
        uint8_t *data = evbuffer_pullup(in, len);
        n->cb.on_frame(n->cb.arg, c, data, len);
        if (c->open)
            evbuffer_drain(in, len);
        c->frame_timed = 0; /* the next byte begins the next frame */
    }
    if (c->open)
        conn_timer_update(c);
    conn_unref(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        const char *tls_err = tls_bev_error(bev);
        if (tls_err) {
            log_info("client %s: TLS: %s; closing", c->peer, tls_err);
        } else if (what & BEV_EVENT_ERROR) {
            log_debug("client %s: %s", c->peer,
                      evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        }
        conn_close_now(c);
    }
}

/* The connection's timer: a frame missed its deadline, or it sat idle. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    (void)fd;
    (void)what;
    if (c->closing || c->refused) {
        /* a refusal's answer (or, on the TLS port, its first byte or
         * handshake) did not get through in time */
        log_info("client %s: refused, and not gone within %d ms; closing",
                 c->peer, REFUSE_MS);
        conn_close_now(c);
        return;
    }
    if (c->frame_timed) {
        log_warn("client %s: a frame was not complete in time (%lld ms since "
                 "its first byte); closing", c->peer,
                 (long long)(mono_ms() - c->frame_started));
    } else {
        struct evbuffer *out = bufferevent_get_output(c->bev);
        if (evbuffer_get_length(out) > 0) {
            /* an answer is still going out: the write timeout watches it */
            conn_timer_update(c);
            return;
        }
        log_info("client %s: idle%s; closing", c->peer,
                 c->authenticated ? "" : " and not logged in");
    }
    conn_close_now(c);
}

static void conn_set_addr(conn *c, const struct sockaddr *sa)
{
    frame_format_addr(sa, c->peer, sizeof c->peer);
    if (sa->sa_family == AF_INET) {
        c->family = AF_INET;
        memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            c->family = AF_INET;
            memcpy(c->addr, &a->s6_addr[12], 4);
        } else {
            /* a host may use any address of its /64: count the /64 */
            c->family = AF_INET6;
            memcpy(c->addr, a, 8);
        }
    }
}

static void conn_refuse(conn *c, int per_ip, uint32_t limit);
static void conn_start(conn *c);
static void conn_close_now(conn *c);

/* Has one address max_connections_per_ip open already (c not counted)? */
static int too_many_from(const net *n, const conn *c)
{
    uint32_t same = 0;
    if (!n->opts.max_connections_per_ip || !c->family)
        return 0;
    for (const conn *o = n->conns; o; o = o->next)
        if (o != c && !o->refused && o->family == c->family &&
            memcmp(o->addr, c->addr, sizeof o->addr) == 0)
            same++;
    return same >= n->opts.max_connections_per_ip;
}

/* c, just accepted and in the list: is it over a limit? Marks it refused
 * (REFUSED_*) if so. 0 admitted or refused, -1 close it at once (too many
 * refusals under way). */
static int conn_admit(conn *c)
{
    net *n = c->owner;
    int why = 0;
    if (n->nconns - n->nrefused > n->opts.max_connections) {
        why = REFUSED_TOTAL;
        log_warn("client %s refused: %u connections open (limit %u)", c->peer,
                 n->nconns - n->nrefused - 1, n->opts.max_connections);
    } else if (too_many_from(n, c)) {
        why = REFUSED_PER_IP;
        log_warn("client %s refused: %u connections open from its address",
                 c->peer, n->opts.max_connections_per_ip);
    }
    if (!why)
        return 0;
    if (n->nrefused >= n->opts.max_connections)
        return -1;
    c->refused = why;
    n->nrefused++;
    return 0;
}

/* c has its bufferevent: refuse it (too many connections) or serve it. */
static void conn_begin(conn *c)
{
    net *n = c->owner;
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    if (c->refused == REFUSED_TOTAL)
        conn_refuse(c, 0, n->opts.max_connections);
    else if (c->refused == REFUSED_PER_IP)
        conn_refuse(c, 1, n->opts.max_connections_per_ip);
    else
        conn_start(c);
}

/* A refused connection is closed if its answer is not out in time (a TLS
 * handshake that stalls would otherwise hold it for ever). */
static void refusal_deadline(conn *c)
{
    if (c->open && !c->lingering)
        timer_arm(c, REFUSE_MS);
}

/* A plaintext client at the TLS port: say so in plaintext, then close. */
static void conn_refuse_plaintext(conn *c)
{
    net *n = c->owner;
    log_info("client %s: plaintext request on the TLS client port; answered "
             "that it speaks TLS, closing", c->peer);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_WRITE);
    conn_close_after(c, n->cb.on_plaintext(n->cb.arg, n->opts.addr));
    refusal_deadline(c);
}

/* The first byte of a connection to the TLS port has come (or not). */
static void on_sniff(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    net *n = c->owner;
    uint8_t first;
    ssize_t got = (what & EV_READ) ? recv(fd, &first, 1, MSG_PEEK) : -1;
    if (got < 0 && (errno == EAGAIN || errno == EINTR) && (what & EV_READ))
        return; /* spurious: the event is persistent */
    event_free(c->sniff);
    c->sniff = NULL;
    if (got <= 0) {
        if (what & EV_TIMEOUT)
            log_info("client %s: sent nothing within %lld ms; closing",
                     c->peer, (long long)n->opts.preauth_idle_ms);
        evutil_closesocket(fd);
        conn_close_now(c);
        return;
    }
    int tls = first == 0x16;
    int options = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    c->bev = tls ? tls_bufferevent(n->base, fd, tls_client_ssl(n->opts.tls), 1,
                                   options)
                 : bufferevent_socket_new(n->base, fd, options);
    if (!c->bev) {
        evutil_closesocket(fd);
        conn_close_now(c);
        return;
    }
    if (tls) {
        conn_begin(c);
    } else {
        conn_refuse_plaintext(c);
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    net *n = arg;
    (void)l;
    (void)salen;
    int tls = tls_client_port_on(n->opts.tls);
    conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev =
        c && !tls ? bufferevent_socket_new(
                        n->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
                  : NULL;
    struct event *sniff =
        c && tls ? event_new(n->base, fd, EV_READ | EV_PERSIST, on_sniff, c)
                 : NULL;
    struct event *timer = c ? evtimer_new(n->base, on_timer, c) : NULL;
    if (!c || (!bev && !sniff) || !timer) {
        if (timer)
            event_free(timer);
        if (sniff)
            event_free(sniff);
        free(c);
        if (bev)
            bufferevent_free(bev);
        else
            evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->owner = n;
    c->bev = bev;
    c->sniff = sniff;
    c->fd = fd;
    c->timer = timer;
    c->refs = 1;
    c->open = 1;
    conn_set_addr(c, sa);
    c->next = n->conns;
    if (n->conns)
        n->conns->prev = c;
    n->conns = c;
    n->nconns++;
    if (conn_admit(c) < 0) {
        log_debug("client %s: closed at once (%u refusals under way)",
                  c->peer, n->nrefused);
        conn_close_now(c);
        return;
    }
    if (sniff) {
        int64_t ms = n->opts.preauth_idle_ms > 0 ? n->opts.preauth_idle_ms
                                                 : 20000;
        if (c->refused && ms > REFUSE_MS)
            ms = REFUSE_MS;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        event_add(sniff, &tv);
        return;
    }
    conn_begin(c);
}

/* Answer why c is refused, then close it. */
static void conn_refuse(conn *c, int per_ip, uint32_t limit)
{
    net *n = c->owner;
    bufferevent_enable(c->bev, EV_WRITE);
    conn_close_after(c, n->cb.on_too_many(n->cb.arg, per_ip, limit));
    refusal_deadline(c);
}

/* Serve an accepted connection: output bound, write timeout, reading. */
static void conn_start(conn *c)
{
    net *n = c->owner;
    struct bufferevent *bev = c->bev;
    if (n->opts.max_output_bytes)
        bufferevent_setwatermark(bev, EV_WRITE, n->opts.max_output_bytes / 2, 0);
    if (n->opts.idle_ms > 0) {
        /* an answer that makes no progress for this long: the client stopped
         * reading */
        struct timeval wt = {(time_t)(n->opts.idle_ms / 1000),
                             (suseconds_t)(n->opts.idle_ms % 1000) * 1000};
        bufferevent_set_timeouts(bev, NULL, &wt);
    }
    c->reading = 1;
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    conn_timer_update(c);
}

static void on_listen_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    /* EMFILE and friends: log and keep listening; libevent retries. */
    log_error("accept: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

int net_listen(struct event_base *base, const net_options *opts,
               const net_callbacks *cb, net **out, lms_err *err)
{
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    if (evutil_parse_sockaddr_port(opts->addr, (struct sockaddr *)&ss, &sslen) < 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "listen address '%s' is not host:port", opts->addr);
    net *n = calloc(1, sizeof *n);
    if (!n)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    n->base = base;
    n->opts = *opts;
    if (!n->opts.max_inflight_per_conn)
        n->opts.max_inflight_per_conn = 256;
    n->cb = *cb;
    n->listener = evconnlistener_new_bind(
        base, on_accept, n, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
        (struct sockaddr *)&ss, sslen);
    if (!n->listener) {
        int e = errno;
        free(n);
        return lms_err_set(err, LMS_UNAVAILABLE, "cannot listen on %s: %s",
                           opts->addr, strerror(e));
    }
    evconnlistener_set_error_cb(n->listener, on_listen_error);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(evconnlistener_get_fd(n->listener),
                    (struct sockaddr *)&bound, &blen) == 0)
        n->port = ntohs(bound.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&bound)->sin6_port
                            : ((struct sockaddr_in *)&bound)->sin_port);
    *out = n;
    return LMS_OK;
}

int net_port(const net *n) { return n->port; }

uint32_t net_open_connections(const net *n)
{
    LMS_ASSERT(n->nrefused <= n->nconns);
    return n->nconns - n->nrefused;
}

void net_set_limits(net *n, const net_options *o)
{
    LMS_ASSERT(o->max_connections > 0);
    n->opts.max_connections = o->max_connections;
    n->opts.max_connections_per_ip = o->max_connections_per_ip;
    n->opts.preauth_frame_bytes = o->preauth_frame_bytes;
    n->opts.frame_timeout_ms = o->frame_timeout_ms;
    n->opts.frame_min_rate = o->frame_min_rate;
    n->opts.idle_ms = o->idle_ms;
    n->opts.preauth_idle_ms = o->preauth_idle_ms;
}

void net_stop_accepting(net *n) { evconnlistener_disable(n->listener); }

void net_free(net *n)
{
    if (!n)
        return;
    evconnlistener_free(n->listener);
    while (n->conns)
        conn_close_now(n->conns);
    free(n);
}

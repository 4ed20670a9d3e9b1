/* SPDX-License-Identifier: MIT */
/*
 * metrics_http.c: the listen.metrics endpoint (see metrics_http.h). It
 * runs on the loop and reads the node's state directly; a scrape costs
 * one pass over the registry into a buffer reused from scrape to scrape.
 *
 * evhttp in libevent 2.1 has no connection limit, so this file makes
 * each connection's bufferevent (evhttp_set_bevcb) and keeps a reference
 * to it in a table of METRICS_HTTP_MAX_CONNS. When evhttp is done with a
 * connection it frees the bufferevent, which clears its callbacks; the
 * table's reference is dropped (and the socket closed) at the next sweep
 * (on the next connection or within a second). A connection made while
 * the table is full is shut down at once.
 */
#include "metrics_http.h"

#include "clock.h"
#include "lms_assert.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "node.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define TIMEOUT_S 5
#define MAX_HEADERS_BYTES 8192
#define MAX_BODY_BYTES 1024

struct metrics_http {
    struct evhttp *http;
    node *node;
    net *net;
    struct evbuffer *body; /* reused: evhttp_send_reply drains it */
    struct event *sweep;   /* every SWEEP_MS */
    int port;
};

#define SWEEP_MS 1000

/* Loop only: one endpoint per process (see metrics_http_start). */
static struct bufferevent *conns[METRICS_HTTP_MAX_CONNS];

/* Drop the references of the connections evhttp has freed. */
static void sweep(void)
{
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++) {
        if (!conns[i])
            continue;
        bufferevent_event_cb ecb;
        bufferevent_getcb(conns[i], NULL, NULL, &ecb, NULL);
        if (!ecb) { /* evhttp always has one while it uses it */
            bufferevent_decref(conns[i]);
            conns[i] = NULL;
        }
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    sweep();
}

/* A connection over the limit, once evhttp has taken it: end it. */
static void shut_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct bufferevent *bev = arg;
    evutil_socket_t s = bufferevent_getfd(bev);
    bufferevent_event_cb ecb;
    bufferevent_getcb(bev, NULL, NULL, &ecb, NULL);
    if (ecb && s >= 0)
        shutdown(s, SHUT_RDWR); /* evhttp sees the end and frees it */
    bufferevent_decref(bev);
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    (void)arg;
    struct bufferevent *bev =
        bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL; /* evhttp gives up on the connection */
    sweep();
    bufferevent_incref(bev);
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
        if (!conns[i]) {
            conns[i] = bev;
            return bev;
        }
    static const struct timeval now = {0, 0};
    static int64_t logged_ms; /* a flood logs once per 10 s */
    static uint64_t refused;
    refused++;
    if (mono_ms() - logged_ms >= 10000) {
        logged_ms = mono_ms();
        log_warn("metrics: %d connections open already; closed %llu new "
                 "ones since the last such line",
                 METRICS_HTTP_MAX_CONNS, (unsigned long long)refused);
        refused = 0;
    }
    if (event_base_once(base, -1, EV_TIMEOUT, shut_over, bev, &now) < 0)
        bufferevent_decref(bev); /* it stays until evhttp's timeout */
    return bev;
}

int metrics_node_ready(node *n, char *why, size_t len)
{
    if (!n)
        return snprintf(why, len, "not started"), 0;
    node_status st;
    node_get_status(n, &st);
    int member = 0;
    for (size_t i = 0; i < st.n; i++)
        member |= st.members[i].id == st.id;
    if (!member)
        return snprintf(why, len, "not a member of the cluster"), 0;
    if (!st.leader)
        return snprintf(why, len, "no leader known (term %llu)",
                        (unsigned long long)st.term), 0;
    if (st.commit > st.applied + METRICS_READY_MAX_LAG)
        return snprintf(why, len, "applied %llu of %llu committed entries",
                        (unsigned long long)st.applied,
                        (unsigned long long)st.commit), 0;
    return 1;
}

static void fill_gauges(const metrics_http *h, metrics_gauges *g)
{
    memset(g, 0, sizeof *g);
    if (h->node) {
        g->term = node_term(h->node);
        g->commit = node_commit_index(h->node);
        g->applied = node_applied_index(h->node);
        g->leader_id = node_leader_id(h->node);
        g->is_leader = node_is_leader(h->node);
    }
    if (h->net)
        g->client_connections = net_open_connections(h->net);
}

static void reply(struct evhttp_request *req, struct evbuffer *body, int code,
                  const char *reason, const char *type)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "Content-Type", type);
    evhttp_add_header(oh, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, body);
    evbuffer_drain(body, evbuffer_get_length(body)); /* in case it kept any */
}

static void text(struct evhttp_request *req, struct evbuffer *body, int code,
                 const char *reason, const char *msg)
{
    evbuffer_add_printf(body, "%s\n", msg);
    reply(req, body, code, reason, "text/plain; charset=utf-8");
}

static void on_request(struct evhttp_request *req, void *arg)
{
    metrics_http *h = arg;
    LMS_ASSERT(evbuffer_get_length(h->body) == 0);
    enum evhttp_cmd_type t = evhttp_request_get_command(req);
    if (t != EVHTTP_REQ_GET && t != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET, HEAD");
        text(req, h->body, 405, "Method Not Allowed", "only GET and HEAD");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path)
        path = "";
    if (strcmp(path, "/metrics") == 0) {
        metrics_gauges g;
        fill_gauges(h, &g);
        if (metrics_render(h->body, &lms_metrics_g, &g) < 0) {
            evbuffer_drain(h->body, evbuffer_get_length(h->body));
            text(req, h->body, 500, "Internal Server Error", "out of memory");
            return;
        }
        reply(req, h->body, 200, "OK", "text/plain; version=0.0.4; charset=utf-8");
    } else if (strcmp(path, "/healthz") == 0) {
        text(req, h->body, 200, "OK", "ok");
    } else if (strcmp(path, "/readyz") == 0) {
        char why[128];
        if (metrics_node_ready(h->node, why, sizeof why))
            text(req, h->body, 200, "OK", "ready");
        else
            text(req, h->body, 503, "Service Unavailable", why);
    } else {
        text(req, h->body, 404, "Not Found", "not found (try /metrics, "
                                             "/healthz or /readyz)");
    }
}

int metrics_http_start(struct event_base *base, const char *addr, node *n,
                       net *nt, metrics_http **out, lms_err *err)
{
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) < 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "listen.metrics: '%s' is not host:port", addr);
    metrics_http *h = calloc(1, sizeof *h);
    if (!h || !(h->body = evbuffer_new()) || !(h->http = evhttp_new(base))) {
        metrics_http_free(h);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    h->node = n;
    h->net = nt;
    evhttp_set_timeout(h->http, TIMEOUT_S);
    evhttp_set_max_headers_size(h->http, MAX_HEADERS_BYTES);
    evhttp_set_max_body_size(h->http, MAX_BODY_BYTES);
    /* every method reaches on_request, which answers 405 itself */
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS |
                                            EVHTTP_REQ_PATCH);
    evhttp_set_bevcb(h->http, make_bev, h);
    struct timeval every = {SWEEP_MS / 1000, (SWEEP_MS % 1000) * 1000};
    if (!(h->sweep = event_new(base, -1, EV_PERSIST, on_sweep, NULL)) ||
        event_add(h->sweep, &every) < 0) {
        metrics_http_free(h);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    evhttp_set_gencb(h->http, on_request, h);
    struct evconnlistener *l = evconnlistener_new_bind(
        base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
        (struct sockaddr *)&ss, sslen);
    if (!l) {
        int e = errno;
        metrics_http_free(h);
        return lms_err_set(err, LMS_UNAVAILABLE,
                           "listen.metrics: cannot listen on %s: %s", addr,
                           strerror(e));
    }
    if (!evhttp_bind_listener(h->http, l)) {
        evconnlistener_free(l);
        metrics_http_free(h);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound,
                    &blen) == 0)
        h->port = ntohs(bound.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&bound)->sin6_port
                            : ((struct sockaddr_in *)&bound)->sin_port);
    *out = h;
    return LMS_OK;
}

int metrics_http_port(const metrics_http *h) { return h->port; }

void metrics_http_free(metrics_http *h)
{
    if (!h)
        return;
    if (h->http)
        evhttp_free(h->http); /* frees every connection's bufferevent */
    sweep();
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
        LMS_ASSERT(!conns[i]); /* evhttp_free freed every connection */
    if (h->sweep)
        event_free(h->sweep);
    if (h->body)
        evbuffer_free(h->body);
    free(h);
}

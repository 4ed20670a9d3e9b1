/* SPDX-License-Identifier: MIT */
/*
 * metrics_http.h: listen.metrics, an evhttp server on the loop that
 * answers GET (and HEAD) /metrics (metrics.h, Prometheus text format
 * 0.0.4), /healthz and /readyz; anything else 404, other methods 405.
 * Bounded: at most METRICS_HTTP_MAX_CONNS connections (a new one beyond
 * is shut at once), small header and body limits, a 5 s timeout.
 */
#ifndef LMS_CORE_METRICS_HTTP_H
#define LMS_CORE_METRICS_HTTP_H

#include <lms/plugin.h>
#include <stddef.h>

struct event_base;
struct node;
struct net;

#define METRICS_HTTP_MAX_CONNS 16
/* /readyz: at most this many committed entries not yet applied. */
#define METRICS_READY_MAX_LAG 100

typedef struct metrics_http metrics_http;

/* Listen on addr (host:port) and serve from n and the client port nt
 * (either may be NULL: zero gauges, not ready). LMS_OK with *out set, or
 * an error naming the address. */
int metrics_http_start(struct event_base *base, const char *addr,
                       struct node *n, struct net *nt, metrics_http **out,
                       lms_err *err);

/* The bound port (useful with port 0). */
int metrics_http_port(const metrics_http *h);

/* Is the node ready for traffic? 1, or 0 with why set to one line. */
int metrics_node_ready(struct node *n, char *why, size_t len);

/* Stop listening and close every connection. NULL is fine. */
void metrics_http_free(metrics_http *h);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: the node's metric registry (one per process) and its
 * rendering in Prometheus' text exposition format 0.0.4. Counters and
 * histograms are C11 atomics updated with relaxed order, so any thread
 * (loop, storage, log writer, workers) records with one call and no lock;
 * the loop reads them when it serves /metrics (metrics_http.c). A scrape
 * may see one observation in a bucket and not yet in _sum: fine for
 * monitoring, and _count is always the sum of the buckets.
 *
 * Histograms have fixed upper bounds in raw units (nanoseconds for
 * durations, plain numbers for sizes); the exposition divides by
 * 10^unit_digits (9 for seconds).
 */
#ifndef LMS_CORE_METRICS_H
#define LMS_CORE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct evbuffer;

#define METRICS_MAX_BOUNDS 24

typedef struct metrics_histogram {
    const uint64_t *bounds; /* ascending upper bounds (inclusive), raw units */
    size_t n_bounds;        /* <= METRICS_MAX_BOUNDS; +Inf comes after */
    unsigned unit_digits;   /* rendered value = raw / 10^unit_digits */
    _Atomic uint64_t bucket[METRICS_MAX_BOUNDS + 1]; /* not cumulative */
    _Atomic uint64_t sum;   /* raw units */
} metrics_histogram;

/* The stages of a client request (lms_request_seconds{stage=...}). */
enum metrics_stage {
    METRICS_STAGE_TOTAL,          /* frame decoded to answer queued */
    METRICS_STAGE_BARRIER,        /* frame to read barrier passed */
    METRICS_STAGE_QUEUE,          /* waiting for a reader's batch */
    METRICS_STAGE_AUTH,           /* token check (a reader) */
    METRICS_STAGE_PREPARE,        /* handler's prepare (a reader) */
    METRICS_STAGE_PROPOSE_COMMIT, /* a write's propose to committed */
    METRICS_STAGE_COMMIT_APPLY,   /* committed to its apply started */
    METRICS_STAGE_APPLY,          /* sm_apply of one command */
    METRICS_STAGES
};

#define METRICS_OPS 128     /* request kinds, by the oneof's field */
#define METRICS_STATUSES 24 /* Lms__Status values; the last: any other */

typedef struct lms_metrics {
    metrics_histogram stage[METRICS_STAGES];
    metrics_histogram fsync;     /* one wal_sync of a log-writer batch */
    metrics_histogram log_batch; /* entries per log-writer batch */
    _Atomic uint64_t requests[METRICS_OPS][METRICS_STATUSES];
    _Atomic uint64_t snapshots_taken, snapshot_bytes;
    /* backups streamed to clients (node_backup.c): pinned and released
     * views (their difference: views held now), those sent whole, their
     * bytes */
    _Atomic uint64_t backup_pins, backup_unpins, backups_sent, backup_bytes;
    metrics_histogram tutor; /* a question's time in the tutor plugin */
    _Atomic uint64_t tutor_answers[METRICS_STATUSES]; /* by status */
} lms_metrics;

/* The process' registry. */
extern lms_metrics lms_metrics_g;

/* Monotonic nanoseconds, for durations. */
static inline uint64_t metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A question to the tutor ended with status after latency_ms in the
 * plugin (any thread). */
void metrics_tutor_done(int status, uint32_t latency_ms);

/* Count one value in h (any thread). */
void metrics_observe(metrics_histogram *h, uint64_t v);

/* Count the time since t0 (metrics_now()) in h; t0 == 0: nothing (a
 * stage that never started). */
void metrics_observe_since(metrics_histogram *h, uint64_t t0);

/* One stage of a request, from t0 (metrics_now()) to now. */
static inline void metrics_stage(enum metrics_stage s, uint64_t t0)
{
    metrics_observe_since(&lms_metrics_g.stage[s], t0);
}

static inline void metrics_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The names of request kinds and statuses, from the application (which
 * knows the client protocol; this layer does not). op_slot maps a request
 * kind to a slot: 0 for a frame that did not decode, 1 for a kind this
 * build does not know, then one per kind, below n_ops (<= METRICS_OPS);
 * op_name names a slot (NULL: not a kind, never rendered). status_slot
 * and status_name do the same for statuses (a name for every slot below
 * METRICS_STATUSES - 1 that can be counted; NULL renders as OTHER). The
 * table must outlive the process' use of metrics. Before it is set, every
 * request counts as "unknown" and is not rendered. */
typedef struct metrics_labels {
    size_t (*op_slot)(int body);
    const char *(*op_name)(size_t slot);
    size_t n_ops;
    size_t (*status_slot)(int status);
    const char *(*status_name)(size_t slot);
} metrics_labels;
void metrics_set_labels(const metrics_labels *l);

/* A request ended: body is its Lms__Request__BodyCase (0: it did not
 * decode), status its Lms__Status. */
void metrics_request_done(int body, int status);

/* What the loop knows at the moment of a scrape. */
typedef struct metrics_gauges {
    uint64_t term, commit, applied, leader_id;
    int is_leader;
    uint64_t client_connections;
} metrics_gauges;

/* Append one histogram's lines (no HELP/TYPE) to out: name_bucket with
 * cumulative counts and le, then name_sum and name_count. labels is
 * "" or 'key="value"' (already escaped). 0, or -1 when out of memory. */
int metrics_render_histogram(struct evbuffer *out, const char *name,
                             const char *labels, const metrics_histogram *h);

/* Append the whole exposition of m and g to out. 0, or -1 (memory). */
int metrics_render(struct evbuffer *out, const lms_metrics *m,
                   const metrics_gauges *g);

/* Escape a label value (\\, \" and \n) into dst (always terminated; cut
 * short if it does not fit). Returns dst. */
char *metrics_escape_label(char *dst, size_t len, const char *src);

/* Format raw / 10^digits without trailing zeros ("0.00005", "10"). */
void metrics_format_fixed(char *dst, size_t len, uint64_t raw, unsigned digits);

#endif

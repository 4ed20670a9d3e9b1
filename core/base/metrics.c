/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: the registry's storage, recording and the Prometheus text
 * exposition (see metrics.h). Labels come from fixed sets that the
 * application gives (metrics_set_labels: request kinds and statuses), so a
 * client cannot grow the output.
 */
#include "metrics.h"

#include "lms_assert.h"

#include <dirent.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define US 1000ull
#define MS 1000000ull
#define S 1000000000ull

/* 50 µs to 10 s in 1-2.5-5 steps. */
static const uint64_t seconds_bounds[] = {
    50 * US,  100 * US, 250 * US, 500 * US, 1 * MS, 2500 * US,
    5 * MS,   10 * MS,  25 * MS,  50 * MS,  100 * MS, 250 * MS,
    500 * MS, 1 * S,    2500 * MS, 5 * S,   10 * S};
static const uint64_t batch_bounds[] = {1,   2,   4,    8,    16,   32,  64,
                                        128, 256, 512, 1024, 2048, 4096};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define SECONDS {.bounds = seconds_bounds, .n_bounds = N_OF(seconds_bounds), \
                 .unit_digits = 9}

lms_metrics lms_metrics_g = {
    .stage = {[0 ... METRICS_STAGES - 1] = SECONDS},
    .fsync = SECONDS,
    .tutor = SECONDS,
    .log_batch = {.bounds = batch_bounds, .n_bounds = N_OF(batch_bounds),
                  .unit_digits = 0},
};

static const char *const stage_names[METRICS_STAGES] = {
    [METRICS_STAGE_TOTAL] = "total",
    [METRICS_STAGE_BARRIER] = "barrier",
    [METRICS_STAGE_QUEUE] = "queue",
    [METRICS_STAGE_AUTH] = "auth",
    [METRICS_STAGE_PREPARE] = "prepare",
    [METRICS_STAGE_PROPOSE_COMMIT] = "propose_commit",
    [METRICS_STAGE_COMMIT_APPLY] = "commit_apply",
    [METRICS_STAGE_APPLY] = "apply",
};

void metrics_observe(metrics_histogram *h, uint64_t v)
{
    LMS_ASSERT(h->n_bounds > 0 && h->n_bounds <= METRICS_MAX_BOUNDS);
    size_t lo = 0, hi = h->n_bounds; /* first bound >= v, or n: +Inf */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->bounds[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    atomic_fetch_add_explicit(&h->bucket[lo], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

void metrics_observe_since(metrics_histogram *h, uint64_t t0)
{
    if (!t0)
        return;
    uint64_t now = metrics_now();
    metrics_observe(h, now > t0 ? now - t0 : 0);
}

/* Until the application names them: every kind and status in one slot. */
static size_t no_slot(int v)
{
    (void)v;
    return 1;
}
static const char *no_name(size_t slot)
{
    (void)slot;
    return NULL;
}
static const metrics_labels no_labels = {
    .op_slot = no_slot, .op_name = no_name, .n_ops = 0,
    .status_slot = no_slot, .status_name = no_name,
};
static const metrics_labels *names = &no_labels;

void metrics_set_labels(const metrics_labels *l)
{
    LMS_ASSERT(l && l->op_slot && l->op_name && l->status_slot && l->status_name);
    LMS_ASSERT(l->n_ops <= METRICS_OPS);
    names = l;
}

static size_t op_slot(int body)
{
    size_t i = names->op_slot(body);
    return i < METRICS_OPS ? i : 1;
}

static const char *op_name(size_t slot) { return names->op_name(slot); }

static size_t status_slot(int status)
{
    size_t i = names->status_slot(status);
    return i < METRICS_STATUSES - 1 ? i : METRICS_STATUSES - 1;
}

static const char *status_name(size_t slot)
{
    const char *name = slot < METRICS_STATUSES - 1 ? names->status_name(slot) : NULL;
    return name ? name : "OTHER";
}

void metrics_request_done(int body, int status)
{
    size_t o = op_slot(body), s = status_slot(status);
    LMS_ASSERT(o < METRICS_OPS && s < METRICS_STATUSES);
    atomic_fetch_add_explicit(&lms_metrics_g.requests[o][s], 1,
                              memory_order_relaxed);
}

void metrics_tutor_done(int status, uint32_t latency_ms)
{
    size_t s = status_slot(status);
    LMS_ASSERT(s < METRICS_STATUSES);
    atomic_fetch_add_explicit(&lms_metrics_g.tutor_answers[s], 1,
                              memory_order_relaxed);
    metrics_observe(&lms_metrics_g.tutor, (uint64_t)latency_ms * 1000000u);
}

/* ---- rendering ------------------------------------------------------- */

char *metrics_escape_label(char *dst, size_t len, const char *src)
{
    LMS_ASSERT(len > 0);
    size_t o = 0;
    for (; *src; src++) {
        const char *rep = *src == '\\' ? "\\\\"
                          : *src == '"' ? "\\\""
                          : *src == '\n' ? "\\n"
                                         : NULL;
        size_t n = rep ? 2 : 1;
        if (o + n >= len)
            break;
        if (rep)
            memcpy(dst + o, rep, 2);
        else
            dst[o] = *src;
        o += n;
    }
    dst[o] = '\0';
    return dst;
}

void metrics_format_fixed(char *dst, size_t len, uint64_t raw, unsigned digits)
{
    LMS_ASSERT(digits <= 18);
    uint64_t div = 1;
    for (unsigned i = 0; i < digits; i++)
        div *= 10;
    int n = snprintf(dst, len, "%" PRIu64, raw / div);
    if (digits == 0 || raw % div == 0 || n < 0 || (size_t)n >= len)
        return;
    char frac[24];
    snprintf(frac, sizeof frac, "%0*" PRIu64, (int)digits, raw % div);
    size_t f = strlen(frac);
    while (f > 0 && frac[f - 1] == '0')
        frac[--f] = '\0';
    snprintf(dst + n, len - (size_t)n, ".%s", frac);
}

int metrics_render_histogram(struct evbuffer *out, const char *name,
                             const char *labels, const metrics_histogram *h)
{
    LMS_ASSERT(h->n_bounds <= METRICS_MAX_BOUNDS);
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    char le[32];
    int rc = 0;
    for (size_t i = 0; i <= h->n_bounds; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (i < h->n_bounds)
            metrics_format_fixed(le, sizeof le, h->bounds[i], h->unit_digits);
        else
            snprintf(le, sizeof le, "+Inf");
        rc |= evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n",
                                  name, labels, sep, le, cum) < 0;
    }
    char sum[32];
    metrics_format_fixed(sum, sizeof sum,
                         atomic_load_explicit(&h->sum, memory_order_relaxed),
                         h->unit_digits);
    const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
    rc |= evbuffer_add_printf(out, "%s_sum%s%s%s %s\n", name, open, labels,
                              close, sum) < 0;
    rc |= evbuffer_add_printf(out, "%s_count%s%s%s %" PRIu64 "\n", name, open,
                              labels, close, cum) < 0;
    return rc ? -1 : 0;
}

static int head(struct evbuffer *out, const char *name, const char *type,
                const char *help)
{
    return evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                               name, type) < 0;
}

static int gauge(struct evbuffer *out, const char *name, const char *help,
                 uint64_t v)
{
    return head(out, name, "gauge", help) |
           (evbuffer_add_printf(out, "%s %" PRIu64 "\n", name, v) < 0);
}

static int counter(struct evbuffer *out, const char *name, const char *help,
                   const _Atomic uint64_t *c)
{
    return head(out, name, "counter", help) |
           (evbuffer_add_printf(out, "%s %" PRIu64 "\n", name,
                                atomic_load_explicit(c, memory_order_relaxed)) < 0);
}

/* Only the (op, status) pairs seen so far: the set stays small. */
static int render_requests(struct evbuffer *out, const lms_metrics *m)
{
    int rc = head(out, "lms_requests_total", "counter",
                  "Client requests answered, by request kind and status.");
    size_t n_ops = names->n_ops;
    for (size_t o = 0; o < n_ops && o < METRICS_OPS; o++) {
        const char *op = op_name(o);
        for (size_t s = 0; op && s < METRICS_STATUSES; s++) {
            uint64_t v = atomic_load_explicit(&m->requests[o][s],
                                              memory_order_relaxed);
            if (v)
                rc |= evbuffer_add_printf(
                          out, "lms_requests_total{op=\"%s\",status=\"%s\"} %" PRIu64 "\n",
                          op, status_name(s), v) < 0;
        }
    }
    return rc;
}

/* One thread's name and CPU time from /proc/self/task/TID/stat: the name
 * is between the first '(' and the last ')' (it may hold either), utime
 * and stime are the 12th and 13th fields after it, in clock ticks. */
static int read_thread(const char *tid, char *name, size_t len, uint64_t *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return -1;
    snprintf(name, len, "%.*s", (int)(close - open - 1), open + 1);
    unsigned long long utime, stime;
    if (sscanf(close + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &utime, &stime) != 2)
        return -1;
    *ticks = utime + stime;
    return 0;
}

#define MAX_THREADS 128

/* The CPU time of each of the process's threads, by thread name (threads
 * of one name summed), and the seconds since an arbitrary fixed point,
 * so that two scrapes give each thread's share of a core. */
static int render_threads(struct evbuffer *out)
{
    struct {
        char name[32];
        uint64_t ticks;
    } t[MAX_THREADS];
    size_t n = 0;
    DIR *dir = opendir("/proc/self/task");
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            char name[32];
            uint64_t ticks;
            if (e->d_name[0] == '.' ||
                read_thread(e->d_name, name, sizeof name, &ticks) < 0)
                continue;
            size_t i = 0;
            while (i < n && strcmp(t[i].name, name) != 0)
                i++;
            if (i == n) {
                if (n == MAX_THREADS)
                    continue;
                snprintf(t[n].name, sizeof t[n].name, "%s", name);
                t[n++].ticks = 0;
            }
            t[i].ticks += ticks;
        }
        closedir(dir);
    }
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    int rc = head(out, "lms_thread_cpu_seconds_total", "counter",
                  "CPU time (user and system) of this process's threads, by "
                  "thread name (storage-0, reader-N, log-writer, lmsd: the "
                  "loop, ...).");
    for (size_t i = 0; i < n; i++) {
        char label[80];
        metrics_escape_label(label, sizeof label, t[i].name);
        rc |= evbuffer_add_printf(out,
                                  "lms_thread_cpu_seconds_total{thread=\"%s\"} "
                                  "%.2f\n",
                                  label, (double)t[i].ticks / (double)hz) < 0;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    rc |= head(out, "lms_monotonic_seconds", "gauge",
               "A monotonic clock (seconds from an arbitrary point): the time "
               "between two scrapes, for rates of the CPU counters.");
    rc |= evbuffer_add_printf(out, "lms_monotonic_seconds %.3f\n",
                              (double)ts.tv_sec + (double)ts.tv_nsec / 1e9) < 0;
    return rc;
}

int metrics_render(struct evbuffer *out, const lms_metrics *m,
                   const metrics_gauges *g)
{
    int rc = 0;
    rc |= gauge(out, "lms_raft_term", "Raft's current term on this node.", g->term);
    rc |= gauge(out, "lms_raft_commit_index",
                "Highest log index this node knows committed.", g->commit);
    rc |= gauge(out, "lms_raft_applied_index",
                "Highest log index applied to this node's storage.", g->applied);
    rc |= gauge(out, "lms_raft_leader_id",
                "Node id of the leader this node knows (0: none).", g->leader_id);
    rc |= gauge(out, "lms_raft_is_leader", "1 if this node leads, else 0.",
                (uint64_t)(g->is_leader != 0));
    rc |= gauge(out, "lms_client_connections",
                "Open connections on the client port.", g->client_connections);
    rc |= render_requests(out, m);
    rc |= head(out, "lms_request_seconds", "histogram",
               "Time a client request spent in each stage.");
    for (int s = 0; s < METRICS_STAGES; s++) {
        char labels[48];
        snprintf(labels, sizeof labels, "stage=\"%s\"", stage_names[s]);
        rc |= metrics_render_histogram(out, "lms_request_seconds", labels,
                                       &m->stage[s]);
    }
    rc |= head(out, "lms_fsync_seconds", "histogram",
               "Duration of one log-writer fdatasync (one per batch).");
    rc |= metrics_render_histogram(out, "lms_fsync_seconds", "", &m->fsync);
    rc |= head(out, "lms_log_batch_entries", "histogram",
               "Log entries written per log-writer batch (group commit).");
    rc |= metrics_render_histogram(out, "lms_log_batch_entries", "", &m->log_batch);
    rc |= counter(out, "lms_snapshots_taken_total",
                  "Snapshots this node wrote and made durable.",
                  &m->snapshots_taken);
    rc |= counter(out, "lms_snapshot_bytes_total",
                  "Bytes of the snapshot files this node wrote.",
                  &m->snapshot_bytes);
    uint64_t pins = atomic_load_explicit(&m->backup_pins, memory_order_relaxed);
    uint64_t unpins = atomic_load_explicit(&m->backup_unpins, memory_order_relaxed);
    rc |= gauge(out, "lms_backup_views_pinned",
                "Views of the state pinned for a backup being streamed now.",
                pins > unpins ? pins - unpins : 0);
    rc |= counter(out, "lms_backups_total",
                  "Backups (lms-admin backup) streamed to the end.",
                  &m->backups_sent);
    rc |= counter(out, "lms_backup_bytes_total",
                  "Bytes of the backups streamed to the end.", &m->backup_bytes);
    rc |= head(out, "lms_tutor_answers_total", "counter",
               "Questions to the tutor that ended, by status (OK: answered; "
               "DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED, ...).");
    for (size_t st = 0; st < METRICS_STATUSES; st++) {
        uint64_t v = atomic_load_explicit(&m->tutor_answers[st],
                                          memory_order_relaxed);
        if (v)
            rc |= evbuffer_add_printf(out, "lms_tutor_answers_total{status=\"%s\"} "
                                      "%" PRIu64 "\n", status_name(st), v) < 0;
    }
    rc |= head(out, "lms_tutor_seconds", "histogram",
               "Time a question spent in the tutor plugin.");
    rc |= metrics_render_histogram(out, "lms_tutor_seconds", "", &m->tutor);
    rc |= render_threads(out);
    return rc ? -1 : 0;
}

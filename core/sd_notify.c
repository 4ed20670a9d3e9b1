/* SPDX-License-Identifier: MIT */
/*
 * sd_notify.c: what lmsd tells systemd (see sd_notify.h). libsystemd is
 * used for two things only, the datagram to NOTIFY_SOCKET (sd_notify) and
 * reading WATCHDOG_USEC (sd_watchdog_enabled); everything else is built
 * the same with or without it, so both builds compile and test it.
 */
#include "sd_notify.h"

#include "clock.h"
#include "lms_assert.h"
#include "log.h"
#include "metrics_http.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LMS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

struct sdn {
    node *node;
    struct event *tick;     /* every SDN_TICK_MS: READY=1, STATUS= */
    struct event *watchdog; /* NULL: systemd asked for no pings */
    int ready;              /* READY=1 was sent */
    int stopping;           /* STOPPING=1 was sent */
    int warned;             /* a failed send was logged */
    int64_t sent_ms;        /* when the last STATUS= went out */
    char role[160], progress[96]; /* the last STATUS= line, in its parts */
};

int sdn_compiled(void)
{
#ifdef LMS_HAVE_SYSTEMD
    return 1;
#else
    return 0;
#endif
}

static int notify_socket_set(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    return s && *s;
}

/* One datagram of newline-separated assignments. >0 sent, 0 nobody to
 * tell, <0 -errno. The environment is left alone (unset_environment 0):
 * every later message goes to the same socket. */
__attribute__((format(printf, 1, 2))) static int notify(const char *fmt, ...)
{
#ifdef LMS_HAVE_SYSTEMD
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sd_notify(0, msg);
#else
    (void)fmt;
    return 0;
#endif
}

/* WATCHDOG_USEC, when systemd asked this process for pings; else 0. */
static uint64_t watchdog_usec(void)
{
#ifdef LMS_HAVE_SYSTEMD
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0)
        return usec;
#endif
    return 0;
}

/* A failed send is said once: systemd may have gone away for good, and
 * the node serves on regardless. */
static void check_sent(sdn *s, int rc, const char *what)
{
    if (rc >= 0 || s->warned)
        return;
    s->warned = 1;
    log_warn("cannot tell systemd %s through NOTIFY_SOCKET: %s", what,
             strerror(-rc));
}

void sdn_status(const char *text)
{
    notify("STATUS=%s", text);
}

static const node_member_status *self_of(const node_status *st)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->members[i].id == st->id)
            return &st->members[i];
    return NULL;
}

void sdn_describe(const node_status *st, char *role, size_t role_len,
                  char *progress, size_t progress_len)
{
    const node_member_status *me = self_of(st);
    unsigned long long term = st->term, leader = st->leader;
    if (st->is_leader)
        snprintf(role, role_len, "leader of term %llu", term);
    else if (!me)
        snprintf(role, role_len, "not a member of the cluster (term %llu): "
                 "waiting to be added (lms-admin cluster-add)", term);
    else if (leader && !me->voter)
        snprintf(role, role_len, "non-voting member following node %llu "
                 "(term %llu), catching up", leader, term);
    else if (leader)
        snprintf(role, role_len, "follower of node %llu (term %llu)", leader, term);
    else
        snprintf(role, role_len, "waiting for a majority (%s, term %llu)",
                 me->role ? me->role : "?", term);
    /* behind by more than /readyz allows: say how far there is to go */
    if (st->commit > st->applied + METRICS_READY_MAX_LAG)
        snprintf(progress, progress_len, "applied %llu of %llu committed",
                 (unsigned long long)st->applied, (unsigned long long)st->commit);
    else
        snprintf(progress, progress_len, "applied %llu",
                 (unsigned long long)st->applied);
}

/* Send READY=1 (once) and the STATUS= line when there is news: at once
 * for a new role, leader or term; the applied index alone waits
 * SDN_PROGRESS_MS after the last line, so a busy node does not send one
 * per tick. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    sdn *s = arg;
    (void)fd;
    (void)what;
    if (s->stopping)
        return;
    node_status st;
    char role[sizeof s->role], progress[sizeof s->progress], why[128];
    node_get_status(s->node, &st);
    sdn_describe(&st, role, sizeof role, progress, sizeof progress);
    int64_t now = mono_ms();
    int ready = !s->ready && metrics_node_ready(s->node, why, sizeof why);
    int news = strcmp(role, s->role) != 0;
    int moved = strcmp(progress, s->progress) != 0 &&
                now - s->sent_ms >= SDN_PROGRESS_MS;
    if (!ready && !news && !moved)
        return;
    int rc = notify("%sSTATUS=%s, %s", ready ? "READY=1\n" : "", role, progress);
    check_sent(s, rc, ready ? "that it is ready" : "its status");
    if (rc <= 0)
        return; /* the next tick tries again: READY=1 must not get lost */
    s->ready |= ready;
    s->sent_ms = now;
    memcpy(s->role, role, sizeof role);
    memcpy(s->progress, progress, sizeof progress);
    if (ready)
        log_info("told systemd: ready (%s, %s)", role, progress);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    sdn *s = arg;
    (void)fd;
    (void)what;
    check_sent(s, notify("WATCHDOG=1"), "that it is alive");
}

static struct event *every(struct event_base *base, uint64_t usec,
                           event_callback_fn fn, sdn *s)
{
    struct timeval tv = {.tv_sec = (time_t)(usec / 1000000),
                         .tv_usec = (suseconds_t)(usec % 1000000)};
    struct event *ev = event_new(base, -1, EV_PERSIST, fn, s);
    if (ev && event_add(ev, &tv) < 0) {
        event_free(ev);
        ev = NULL;
    }
    return ev;
}

sdn *sdn_start(struct event_base *base, node *n)
{
    LMS_ASSERT(base && n);
    if (!notify_socket_set())
        return NULL;
    if (!sdn_compiled()) {
        log_warn("NOTIFY_SOCKET is set, but this lmsd was built without "
                 "libsystemd: systemd will never hear that it is ready "
                 "(build with libsystemd-dev, or use Type=exec)");
        return NULL;
    }
    sdn *s = calloc(1, sizeof *s);
    uint64_t wd = watchdog_usec();
    if (s) {
        s->node = n;
        s->tick = every(base, SDN_TICK_MS * 1000u, on_tick, s);
    }
    /* half the interval: one late ping still arrives in time */
    if (s && s->tick && wd)
        s->watchdog = every(base, wd / 2 ? wd / 2 : 1, on_watchdog, s);
    if (!s || !s->tick || (wd && !s->watchdog)) {
        log_error("cannot start telling systemd about this node: out of memory");
        sdn_free(s);
        return NULL;
    }
    if (wd)
        log_info("systemd watchdog: a ping every %llu ms",
                 (unsigned long long)(wd / 2000));
    on_tick(-1, 0, s); /* a single node may lead already: no wait */
    return s;
}

void sdn_stopping(sdn *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    check_sent(s, notify("STOPPING=1\nSTATUS=draining: shutting down"),
               "that it stops");
}

void sdn_free(sdn *s)
{
    if (!s)
        return;
    if (s->tick)
        event_free(s->tick);
    if (s->watchdog)
        event_free(s->watchdog);
    free(s);
}

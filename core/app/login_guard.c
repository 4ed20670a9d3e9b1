/* SPDX-License-Identifier: MIT */
/*
 * login_guard.c: see login_guard.h. Loop thread only.
 *
 * Failures live in two fixed tables (names, addresses) of LG_SETS sets of
 * LG_WAYS entries, placed by a hash with a per-process random seed, so
 * their memory is bounded whatever names or addresses are tried. Logins
 * in flight are counted per connection and per address in small hash
 * tables whose entries exist only while a login of theirs is in flight or
 * in line, so their size is bounded by the connections and their limit.
 */
#include "login_guard.h"

#include "lms_assert.h"

#include <arpa/inet.h>
#include <lms/plugin.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define LG_SETS 512
#define LG_WAYS 8
#define LG_KEY_MAX 64
#define LG_BUCKETS 256

typedef struct fail_entry {
    int used;
    uint32_t failures; /* within LOGIN_GUARD_WINDOW_MS of last */
    int64_t last;      /* the latest failure */
    int64_t until;     /* refused before this */
    char key[LG_KEY_MAX + 1];
} fail_entry;

typedef struct conn_count {
    struct conn_count *next;
    const void *conn;
    uint32_t n; /* running or in line */
} conn_count;

typedef struct addr_line {
    struct addr_line *next;
    char addr[sizeof ((login_waiter *)0)->addr];
    uint32_t running;
    login_waiter *head, *tail; /* in line, oldest first */
} addr_line;

struct login_guard {
    login_guard_options o;
    uint64_t seed;
    fail_entry names[LG_SETS][LG_WAYS];
    fail_entry addrs[LG_SETS][LG_WAYS];
    conn_count *conns[LG_BUCKETS];
    addr_line *lines[LG_BUCKETS];
};

static uint64_t hash_bytes(uint64_t seed, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint64_t hash_str(const login_guard *g, const char *s)
{
    return hash_bytes(g->seed, s, strnlen(s, LG_KEY_MAX));
}

void login_guard_set_options(login_guard *g, const login_guard_options *o)
{
    g->o = *o;
    if (!g->o.per_conn)
        g->o.per_conn = 1;
    if (!g->o.per_address)
        g->o.per_address = 1;
}

login_guard *login_guard_new(const login_guard_options *o)
{
    login_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    login_guard_set_options(g, o);
    if (getrandom(&g->seed, sizeof g->seed, 0) != (ssize_t)sizeof g->seed)
        g->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
    return g;
}

void login_guard_free(login_guard *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < LG_BUCKETS; i++) {
        while (g->conns[i]) {
            conn_count *next = g->conns[i]->next;
            free(g->conns[i]);
            g->conns[i] = next;
        }
        while (g->lines[i]) {
            addr_line *next = g->lines[i]->next;
            free(g->lines[i]);
            g->lines[i] = next;
        }
    }
    free(g);
}

/* ---- failures ------------------------------------------------------- */

static int stale(const fail_entry *e, int64_t now)
{
    return now - e->last > LOGIN_GUARD_WINDOW_MS && e->until <= now;
}

/* The entry of key, or NULL; with create, a new one in its place, evicting
 * an empty or stale entry, else the one with the fewest failures (oldest
 * first): a flood of new keys evicts itself before a throttled key. */
static fail_entry *fail_find(login_guard *g, fail_entry (*table)[LG_WAYS],
                             const char *key, int create, int64_t now)
{
    fail_entry *set = table[hash_str(g, key) % LG_SETS];
    for (int i = 0; i < LG_WAYS; i++)
        if (set[i].used && !strncmp(set[i].key, key, LG_KEY_MAX))
            return &set[i];
    if (!create)
        return NULL;
    fail_entry *victim = &set[0];
    for (int i = 0; i < LG_WAYS; i++) {
        fail_entry *e = &set[i];
        if (!e->used || stale(e, now)) {
            victim = e;
            break;
        }
        if (e->failures < victim->failures ||
            (e->failures == victim->failures && e->last < victim->last))
            victim = e;
    }
    memset(victim, 0, sizeof *victim);
    victim->used = 1;
    snprintf(victim->key, sizeof victim->key, "%s", key);
    return victim;
}

/* Milliseconds key must still wait (0: none). */
static int64_t locked_for(login_guard *g, fail_entry (*table)[LG_WAYS],
                          const char *key, int64_t now)
{
    const fail_entry *e = fail_find(g, table, key, 0, now);
    return e && e->until > now ? e->until - now : 0;
}

static void count_failure(login_guard *g, fail_entry (*table)[LG_WAYS],
                          const char *key, uint32_t threshold, int64_t now)
{
    if (!threshold)
        return;
    fail_entry *e = fail_find(g, table, key, 1, now);
    if (now - e->last > LOGIN_GUARD_WINDOW_MS)
        e->failures = 0;
    e->failures++;
    e->last = now;
    if (e->failures < threshold)
        return;
    uint32_t doublings = e->failures - threshold;
    int64_t wait = g->o.backoff_max_ms;
    if (doublings < 31 && (LOGIN_GUARD_BACKOFF_MIN_MS << doublings) < wait)
        wait = LOGIN_GUARD_BACKOFF_MIN_MS << doublings;
    e->until = now + wait;
}

/* A name as it may appear in a message: printable ASCII, else '?'. */
static void printable(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
}

/* Is w's name or address throttled now? Then w->status/msg say so. */
static int throttled(login_guard *g, login_waiter *w, int64_t now)
{
    int64_t wait = g->o.failures ? locked_for(g, g->names, w->name, now) : 0;
    const char *what = "for", *who = w->name;
    if (!wait && g->o.address_failures) {
        wait = locked_for(g, g->addrs, w->addr, now);
        what = "from";
        who = w->addr;
    }
    if (!wait)
        return 0;
    char shown[LG_KEY_MAX + 1];
    printable(who, shown, sizeof shown);
    w->status = LMS_RESOURCE_EXHAUSTED;
    snprintf(w->msg, sizeof w->msg,
             "too many failed logins %s %s; try again in %lld s", what, shown,
             (long long)((wait + 999) / 1000));
    return 1;
}

/* ---- logins in flight ------------------------------------------------ */

static conn_count **conn_slot(login_guard *g, const void *conn)
{
    conn_count **p = &g->conns[hash_bytes(g->seed, &conn, sizeof conn) % LG_BUCKETS];
    while (*p && (*p)->conn != conn)
        p = &(*p)->next;
    return p;
}

static addr_line **line_slot(login_guard *g, const char *addr)
{
    addr_line **p = &g->lines[hash_str(g, addr) % LG_BUCKETS];
    while (*p && strcmp((*p)->addr, addr))
        p = &(*p)->next;
    return p;
}

static void conn_release(login_guard *g, const void *conn)
{
    conn_count **p = conn_slot(g, conn), *c = *p;
    LMS_ASSERT(c && c->n > 0);
    if (--c->n == 0) {
        *p = c->next;
        free(c);
    }
}

static int refuse(login_waiter *w, int status, const char *msg)
{
    w->state = LOGIN_NONE;
    w->status = status;
    snprintf(w->msg, sizeof w->msg, "%s", msg);
    return LOGIN_NONE;
}

/* "ip:port" -> "ip" ("[v6]:port" or "v6:port" -> "v6"). An IPv6 address
 * stands for its /64 ("2001:db8:1:2::/64"): one host may use any address
 * of its /64, so counting single addresses would count nothing (an
 * IPv4-mapped address stays the IPv4 address it is). */
static void peer_addr(const char *peer, char *out, size_t len)
{
    snprintf(out, len, "%s", peer ? peer : "?");
    char *colon = strrchr(out, ':');
    if (colon && colon != out)
        *colon = '\0';
    char *host = out[0] == '[' ? out + 1 : out;
    char *end = strchr(host, ']');
    if (end)
        *end = '\0';
    struct in6_addr a;
    if (!strchr(host, ':') || inet_pton(AF_INET6, host, &a) != 1) {
        if (host != out)
            memmove(out, host, strlen(host) + 1);
        return;
    }
    char text[INET6_ADDRSTRLEN];
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
        inet_ntop(AF_INET, &a.s6_addr[12], text, sizeof text);
        snprintf(out, len, "%s", text);
        return;
    }
    memset(&a.s6_addr[8], 0, 8);
    inet_ntop(AF_INET6, &a, text, sizeof text);
    snprintf(out, len, "%s/64", text);
}

int login_guard_admit(login_guard *g, login_waiter *w, const void *conn,
                      const char *peer, const char *name, int64_t now)
{
    memset(w, 0, sizeof *w);
    w->conn = conn;
    w->name = name;
    peer_addr(peer, w->addr, sizeof w->addr);
    conn_count **cp = conn_slot(g, conn);
    if (*cp && (*cp)->n >= g->o.per_conn) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "too many logins in flight on this connection (at most %u); "
                 "wait for an answer before sending another",
                 g->o.per_conn);
        return refuse(w, LMS_RESOURCE_EXHAUSTED, msg);
    }
    if (throttled(g, w, now))
        return LOGIN_NONE;
    addr_line **lp = line_slot(g, w->addr);
    if (!*cp && !(*cp = calloc(1, sizeof **cp)))
        return refuse(w, LMS_RESOURCE_EXHAUSTED, "out of memory");
    (*cp)->conn = conn;
    if (!*lp && !(*lp = calloc(1, sizeof **lp))) {
        if ((*cp)->n == 0) {
            free(*cp);
            *cp = NULL;
        }
        return refuse(w, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    addr_line *l = *lp;
    snprintf(l->addr, sizeof l->addr, "%s", w->addr);
    (*cp)->n++;
    if (l->running < g->o.per_address) {
        l->running++;
        w->state = LOGIN_RUNNING;
        return LOGIN_RUNNING;
    }
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    w->state = LOGIN_WAITING;
    return LOGIN_WAITING;
}

/* Take w out of its address's line. */
static void unlink_waiter(addr_line *l, login_waiter *w)
{
    login_waiter *prev = NULL;
    for (login_waiter *x = l->head; x; prev = x, x = x->next)
        if (x == w) {
            if (prev)
                prev->next = x->next;
            else
                l->head = x->next;
            if (l->tail == x)
                l->tail = prev;
            x->next = NULL;
            return;
        }
}

login_waiter *login_guard_done(login_guard *g, login_waiter *w, int verdict,
                               int64_t now)
{
    int state = w->state;
    w->state = LOGIN_NONE;
    if (state == LOGIN_NONE)
        return NULL;
    conn_release(g, w->conn);
    if (state == LOGIN_REFUSED)
        return NULL;
    addr_line **lp = line_slot(g, w->addr), *l = *lp;
    LMS_ASSERT(l);
    login_waiter *out = NULL, **end = &out;
    if (state == LOGIN_WAITING) {
        unlink_waiter(l, w);
    } else {
        LMS_ASSERT(state == LOGIN_RUNNING && l->running > 0);
        l->running--;
        if (verdict == LOGIN_VERDICT_DENIED) {
            count_failure(g, g->names, w->name, g->o.failures, now);
            count_failure(g, g->addrs, w->addr, g->o.address_failures, now);
        } else if (verdict == LOGIN_VERDICT_OK) {
            fail_entry *e = fail_find(g, g->names, w->name, 0, now);
            if (e)
                memset(e, 0, sizeof *e);
        }
        /* The freed place goes to the first in line that may still try. */
        while (l->head && l->running < g->o.per_address) {
            login_waiter *x = l->head;
            l->head = x->next;
            if (!l->head)
                l->tail = NULL;
            x->next = NULL;
            if (throttled(g, x, now)) {
                x->state = LOGIN_REFUSED;
            } else {
                x->state = LOGIN_RUNNING;
                l->running++;
            }
            *end = x;
            end = &x->next;
        }
    }
    if (!l->running && !l->head) {
        *lp = l->next;
        free(l);
    }
    return out;
}

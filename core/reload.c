/* SPDX-License-Identifier: MIT */
/*
 * reload.c: the diff of two configs and the application of its live part
 * (see reload.h). Every setting lmsd reads is a row of one table: its key,
 * how to compare and show it, and whether it is live. A live setting is a
 * number that the node reads where it uses it (the loop's copies in
 * dispatch, net, the login guard and the tutor runtime), so applying it is
 * copying it there on the loop thread; everything else (addresses, paths,
 * plugins, TLS, Raft, the cluster) was built into the running node at
 * start and waits for a restart.
 */
#include "reload.h"

#include "lms_assert.h"
#include "log.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum kind {
    K_LEVEL,   /* int: enum lms_log_level */
    K_FORMAT,  /* int: enum lms_log_format */
    K_MS,      /* int64_t: a duration in ms */
    K_BYTES,   /* uint32_t or uint64_t: a size */
    K_COUNT,   /* uint32_t or uint64_t */
    K_READERS, /* uint32_t: limits.readers (CONFIG_READERS_AUTO) */
    K_SWITCH,  /* int: on/off */
    K_STR,     /* char *, NULL: none */
    K_SLOT,    /* plugin_slot: a plugin section, compared whole */
    K_MEMBERS, /* cluster.members */
};

typedef struct setting {
    const char *key;
    enum kind kind;
    size_t off, size; /* the field in lms_config */
    int live;
    /* live only: can the running node take next's value? NULL: yes */
    int (*fits)(const lms_config *running, const lms_config *next);
} setting;

#define FIELD(f) .off = offsetof(lms_config, f), .size = sizeof(((lms_config *)0)->f)

/* An upload travels in one frame (config.c): it must stay below the frame
 * limit the node runs with, which only a restart changes. */
static int upload_fits(const lms_config *running, const lms_config *next)
{
    return next->max_upload_bytes < running->max_frame_bytes;
}

static const setting settings[] = {
    {.key = "node.id", .kind = K_COUNT, FIELD(node_id)},
    {.key = "node.data_dir", .kind = K_STR, FIELD(data_dir)},
    {.key = "listen.client", .kind = K_STR, FIELD(client_addr)},
    {.key = "listen.peer", .kind = K_STR, FIELD(peer_addr)},
    {.key = "listen.metrics", .kind = K_STR, FIELD(metrics_addr)},
    {.key = "plugin_dir", .kind = K_STR, FIELD(plugin_dir)},
    {.key = "log.level", .kind = K_LEVEL, FIELD(log_level), .live = 1},
    {.key = "log.format", .kind = K_FORMAT, FIELD(log_format), .live = 1},
    {.key = "log.slow_request", .kind = K_MS, FIELD(slow_request_ms), .live = 1},
    {.key = "sessions.ttl", .kind = K_MS, FIELD(session_ttl_ms), .live = 1},
    {.key = "limits.max_frame_bytes", .kind = K_BYTES, FIELD(max_frame_bytes)},
    {.key = "limits.max_upload_bytes", .kind = K_BYTES, FIELD(max_upload_bytes), .live = 1,
     .fits = upload_fits},
    {.key = "limits.max_connections", .kind = K_COUNT, FIELD(max_connections), .live = 1},
    {.key = "limits.tutor_deadline", .kind = K_MS, FIELD(tutor_deadline_ms), .live = 1},
    {.key = "limits.max_connections_per_ip", .kind = K_COUNT, FIELD(max_connections_per_ip),
     .live = 1},
    {.key = "limits.preauth_frame_bytes", .kind = K_BYTES, FIELD(preauth_frame_bytes),
     .live = 1},
    {.key = "limits.frame_timeout", .kind = K_MS, FIELD(frame_timeout_ms), .live = 1},
    {.key = "limits.frame_min_rate", .kind = K_BYTES, FIELD(frame_min_rate), .live = 1},
    {.key = "limits.idle_timeout", .kind = K_MS, FIELD(idle_timeout_ms), .live = 1},
    {.key = "limits.preauth_idle_timeout", .kind = K_MS, FIELD(preauth_idle_timeout_ms),
     .live = 1},
    /* the connections' write watermarks are set when they start */
    {.key = "limits.max_output_bytes", .kind = K_BYTES, FIELD(max_output_bytes)},
    {.key = "limits.max_sessions_per_user", .kind = K_COUNT, FIELD(max_sessions_per_user),
     .live = 1},
    {.key = "limits.login_failures", .kind = K_COUNT, FIELD(login_failures), .live = 1},
    {.key = "limits.login_failures_per_address", .kind = K_COUNT,
     FIELD(login_failures_per_address), .live = 1},
    {.key = "limits.login_backoff_max", .kind = K_MS, FIELD(login_backoff_max_ms), .live = 1},
    {.key = "limits.logins_per_connection", .kind = K_COUNT, FIELD(logins_per_connection),
     .live = 1},
    {.key = "limits.logins_per_address", .kind = K_COUNT, FIELD(logins_per_address),
     .live = 1},
    /* the node's, given at node_open */
    {.key = "limits.disk_reserve", .kind = K_BYTES, FIELD(disk_reserve)},
    {.key = "limits.readers", .kind = K_READERS, FIELD(readers)},
    {.key = "storage", .kind = K_SLOT, FIELD(storage)},
    {.key = "auth", .kind = K_SLOT, FIELD(auth)},
    {.key = "cluster.id", .kind = K_STR, FIELD(cluster_id)},
    {.key = "cluster.members", .kind = K_MEMBERS, FIELD(members)},
    {.key = "raft.tick", .kind = K_MS, FIELD(raft_tick_ms)},
    {.key = "raft.election_ticks", .kind = K_COUNT, FIELD(election_ticks)},
    {.key = "raft.heartbeat_ticks", .kind = K_COUNT, FIELD(heartbeat_ticks)},
    {.key = "raft.snapshot_entries", .kind = K_COUNT, FIELD(snapshot_entries)},
    {.key = "raft.snapshot_bytes", .kind = K_BYTES, FIELD(snapshot_bytes)},
    {.key = "raft.keep_entries", .kind = K_COUNT, FIELD(keep_entries)},
    {.key = "raft.segment_bytes", .kind = K_BYTES, FIELD(segment_bytes)},
    {.key = "raft.snapshot_rate", .kind = K_BYTES, FIELD(snapshot_rate)},
    {.key = "raft.max_term_jump", .kind = K_COUNT, FIELD(max_term_jump)},
    {.key = "tls.ca", .kind = K_STR, FIELD(tls_ca)},
    {.key = "tls.cert", .kind = K_STR, FIELD(tls_cert)},
    {.key = "tls.key", .kind = K_STR, FIELD(tls_key)},
    {.key = "tls.client_cert", .kind = K_STR, FIELD(tls_client_cert)},
    {.key = "tls.client_key", .kind = K_STR, FIELD(tls_client_key)},
    {.key = "tls.peer", .kind = K_SWITCH, FIELD(tls_peer)},
    {.key = "tls.client", .kind = K_SWITCH, FIELD(tls_client)},
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

static const void *field(const lms_config *c, const setting *s)
{
    return (const char *)c + s->off;
}

/* A number field (K_LEVEL ... K_SWITCH) as an unsigned value. */
static uint64_t number(const lms_config *c, const setting *s)
{
    LMS_ASSERT(s->size == 4 || s->size == 8);
    if (s->size == 4) {
        uint32_t v;
        memcpy(&v, field(c, s), sizeof v);
        return v;
    }
    uint64_t v;
    memcpy(&v, field(c, s), sizeof v);
    return v;
}

static int is_number(enum kind k) { return k <= K_SWITCH; }

static int str_equal(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* Without a cluster section the members are this node alone, made of
 * node.id and listen.* (config.c): a change there is said under those. */
static int members_derived(const lms_config *c)
{
    return c->n_members == 1 && c->members[0].id == c->node_id &&
           str_equal(c->members[0].client_addr, c->client_addr) &&
           str_equal(c->members[0].peer_addr, c->peer_addr);
}

static int members_equal(const lms_config *a, const lms_config *b)
{
    if (members_derived(a) && members_derived(b) && a->joining == b->joining)
        return 1;
    if (a->n_members != b->n_members || a->joining != b->joining)
        return 0;
    for (size_t i = 0; i < a->n_members; i++) {
        const cluster_member *x = &a->members[i], *y = &b->members[i];
        if (x->id != y->id || !str_equal(x->peer_addr, y->peer_addr) ||
            !str_equal(x->client_addr, y->client_addr))
            return 0;
    }
    return 1;
}

static int same(const setting *s, const lms_config *a, const lms_config *b)
{
    switch (s->kind) {
    case K_STR:
        return str_equal(*(char *const *)field(a, s), *(char *const *)field(b, s));
    case K_SLOT: {
        const plugin_slot *x = field(a, s), *y = field(b, s);
        return str_equal(x->plugin, y->plugin) && config_node_equal(x->node, y->node);
    }
    case K_MEMBERS:
        return members_equal(a, b);
    default:
        return memcmp(field(a, s), field(b, s), s->size) == 0;
    }
}

/* "90s", "5m", "250ms": as the file may say it. */
static void show_ms(int64_t ms, char *out, size_t cap)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(out, cap, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    snprintf(out, cap, "%lldms", (long long)ms);
}

static void show_bytes(uint64_t b, char *out, size_t cap)
{
    static const struct {
        uint64_t bytes;
        const char *unit;
    } units[] = {{1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (b != 0 && b % units[i].bytes == 0) {
            snprintf(out, cap, "%llu%s", (unsigned long long)(b / units[i].bytes),
                     units[i].unit);
            return;
        }
    snprintf(out, cap, "%llu", (unsigned long long)b);
}

/* The value of s in c as the log shows it ("" for a section). */
static void show(const setting *s, const lms_config *c, char *out, size_t cap)
{
    uint64_t v = is_number(s->kind) ? number(c, s) : 0;
    out[0] = '\0';
    switch (s->kind) {
    case K_LEVEL:
        snprintf(out, cap, "%s", lms_log_level_name((int)v));
        break;
    case K_FORMAT:
        snprintf(out, cap, "%s", lms_log_format_name((int)v));
        break;
    case K_MS:
        show_ms((int64_t)v, out, cap);
        break;
    case K_BYTES:
        show_bytes(v, out, cap);
        break;
    case K_COUNT:
        snprintf(out, cap, "%llu", (unsigned long long)v);
        break;
    case K_READERS:
        if (v == CONFIG_READERS_AUTO)
            snprintf(out, cap, "auto");
        else
            snprintf(out, cap, "%llu", (unsigned long long)v);
        break;
    case K_SWITCH:
        snprintf(out, cap, "%s", v ? "on" : "off");
        break;
    case K_STR: {
        const char *str = *(char *const *)field(c, s);
        snprintf(out, cap, "%s", str ? str : "(none)");
        break;
    }
    case K_SLOT:
    case K_MEMBERS:
        break;
    }
}

size_t reload_diff(const lms_config *running, const lms_config *next, reload_change *out,
                   size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        LMS_ASSERT(!s->live || is_number(s->kind)); /* applied by copying */
        if (same(s, running, next))
            continue;
        if (n < cap) {
            reload_change *ch = &out[n];
            ch->key = s->key;
            ch->restart = !s->live || (s->fits && !s->fits(running, next));
            show(s, running, ch->was, sizeof ch->was);
            show(s, next, ch->now, sizeof ch->now);
        }
        n++;
    }
    return n;
}

static const setting *setting_of(const char *key)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

int reload_is_live(const char *key)
{
    const setting *s = setting_of(key);
    return s != NULL && s->live;
}

/* One line for the restart-only changes. */
static void log_restart_only(const reload_change *ch, size_t n)
{
    char list[1024] = "";
    size_t len = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ch[i].restart)
            continue;
        if (len < sizeof list)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", count ? ", " : "",
                                    ch[i].key);
        count++;
    }
    if (count == 1)
        log_warn("reload: %s changed: it needs a restart; still using the old value", list);
    else if (count > 1)
        log_warn("reload: %s changed: these need a restart; still using the old values",
                 list);
}

size_t reload_apply(lms_config *running, const lms_config *next, const reload_targets *t)
{
    reload_change ch[RELOAD_MAX_CHANGES];
    size_t n = reload_diff(running, next, ch, RELOAD_MAX_CHANGES);
    LMS_ASSERT(n <= RELOAD_MAX_CHANGES);
    size_t applied = 0;
    if (n == 0)
        log_info("reload: no setting changed");
    /* logged before they apply: a level raised to warn still shows why */
    for (size_t i = 0; i < n; i++) {
        const setting *s = setting_of(ch[i].key);
        LMS_ASSERT(s);
        if (ch[i].restart && s->live)
            log_warn("reload: %s %s -> %s cannot apply while limits.max_frame_bytes is "
                     "%u: it needs a restart",
                     ch[i].key, ch[i].was, ch[i].now, running->max_frame_bytes);
        if (ch[i].restart)
            continue;
        log_info("reload: %s %s -> %s", ch[i].key, ch[i].was, ch[i].now);
        memcpy((char *)running + s->off, field(next, s), s->size);
        applied++;
    }
    log_restart_only(ch, n);
    if (!applied)
        return 0;
    lms_log_set_level(running->log_level);
    lms_log_set_format(running->log_format);
    if (t->disp) {
        dispatch_limits l = reload_dispatch_limits(running);
        login_guard_options lo = reload_login_options(running);
        dispatch_set_limits(t->disp, &l);
        dispatch_set_login(t->disp, &lo);
    }
    if (t->net) {
        net_options o = {0};
        reload_net_limits(running, &o);
        net_set_limits(t->net, &o);
    }
    if (t->tutor)
        tutor_rt_set_deadline(t->tutor, running->tutor_deadline_ms);
    return applied;
}

/* next's restart-only paths and addresses made the running ones: the
 * config a reload hands on (the tutor's: its plugin from plugin_dir, its
 * files under node.data_dir) must not use what the log just called
 * "still using the old value". 0, or -1 out of memory (next partly set). */
static int keep_restart_only(lms_config *next, const lms_config *running)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        if (s->live || s->kind != K_STR || same(s, running, next))
            continue;
        char **to = (char **)((char *)next + s->off);
        const char *from = *(char *const *)field(running, s);
        char *copy = from ? strdup(from) : NULL;
        if (from && !copy)
            return -1;
        free(*to);
        *to = copy;
    }
    return 0;
}

lms_config *reload_read(lms_config *running, const reload_targets *t)
{
    lms_config *next = NULL;
    lms_err err = {0};
    log_info("received SIGHUP: reading %s again", running->path);
    if (config_load(running->path, &next, &err) != LMS_OK ||
        (t->check && t->check(next, &err) != LMS_OK)) {
        log_error("reload failed: %s; nothing changed (the tutor and every other "
                  "setting stay as they are)",
                  err.msg);
        config_free(next);
        return NULL;
    }
    reload_apply(running, next, t);
    if (keep_restart_only(next, running) < 0) {
        log_error("reload: out of memory; the tutor stays as it is");
        config_free(next);
        return NULL;
    }
    return next;
}

dispatch_limits reload_dispatch_limits(const lms_config *c)
{
    return (dispatch_limits){.session_ttl_ms = c->session_ttl_ms,
                             .max_upload_bytes = c->max_upload_bytes,
                             .max_sessions_per_user = c->max_sessions_per_user,
                             .slow_request_ms = c->slow_request_ms};
}

login_guard_options reload_login_options(const lms_config *c)
{
    return (login_guard_options){.failures = c->login_failures,
                                 .address_failures = c->login_failures_per_address,
                                 .backoff_max_ms = c->login_backoff_max_ms,
                                 .per_conn = c->logins_per_connection,
                                 .per_address = c->logins_per_address};
}

void reload_net_limits(const lms_config *c, net_options *o)
{
    o->max_connections = c->max_connections;
    o->max_connections_per_ip = c->max_connections_per_ip;
    o->preauth_frame_bytes = c->preauth_frame_bytes;
    o->frame_timeout_ms = c->frame_timeout_ms;
    o->frame_min_rate = c->frame_min_rate;
    o->idle_ms = c->idle_timeout_ms;
    o->preauth_idle_ms = c->preauth_idle_timeout_ms;
}

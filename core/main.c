/* SPDX-License-Identifier: MIT */
/*
 * main.c: lmsd. Reads the config, loads the plugins, opens storage and the
 * command log (replaying what storage has not applied), starts the tutor,
 * then serves the client port on a libevent loop until SIGINT or SIGTERM.
 * SIGHUP re-reads the config file: applies what can change at once and
 * reloads the tutor from it (reload.h).
 *
 *   lmsd --config FILE                 run a node
 *   lmsd --check-config FILE           validate FILE and the plugins it names
 *   lmsd --config FILE --init-admin NAME
 *                                      create the first admin (password on
 *                                      stdin), only on an empty state
 *   lmsd --config FILE --restore BACKUP
 *                                      make a backup (lms-admin backup) the
 *                                      state of this new node, then exit
 */
#include "config.h"
#include "dispatch.h"
#include "filestore.h"
#include "fault.h"
#include "lmsd_doc.h"
#include "log.h"
#include "metrics_http.h"
#include "net.h"
#include "node.h"
#include "plugin_loader.h"
#include "sd_notify.h"
#include "reload.h"
#include "sm_node.h"
#include "store_owner.h"
#include "tls.h"
#include "tutor_runtime.h"
#include "workers.h"

#include <lms/auth.h>
#include <lms/storage.h>

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#ifndef LMS_VERSION
#define LMS_VERSION "0.0.0"
#endif

/* Everything a running node owns, torn down in reverse. */
typedef struct lmsd {
    lms_config *cfg;
    struct event_base *base;
    workers *storage_thread, *pool;
    workers *readers;    /* limits.readers threads; NULL: none */
    void **reader;       /* a storage reader per thread of readers */
    size_t n_readers;
    loaded_plugin storage_pl, auth_pl;
    struct lms_plugin_ctx storage_ctx, auth_ctx;
    const struct lms_storage_ops *st_ops;
    const struct lms_auth_ops *auth_ops;
    void *auth_inst;
    sm m;
    sm_node smn;    /* m as the node's state machine (sm_node.h) */
    node_sm sm_ops; /* filled from smn once the store is open */
    node *node;
    dispatch *disp;
    tutor_rt *tutor;
    net *net;
    metrics_http *metrics; /* listen.metrics; NULL when off */
    lms_tls *tls; /* NULL: both ports plaintext */
    sdn *sdn;     /* what systemd hears (sd_notify.h); NULL: nobody listens */
    struct event *sigint, *sigterm, *sighup, *drain, *handover, *trim;
    uint64_t trim_seen; /* applied index at the last idle check */
    int trim_busy;      /* trims still to do since it last moved */
    int drain_ticks, handover_ticks;
    node_member *members;
    /* --init-admin on a node that does not lead */
    uint64_t init_client;
    atomic_int init_done;
    sm_result init_res;
    int exit_code;
    int accept_log_loss; /* --accept-log-loss (see node_options) */
    int adopt_storage;   /* --adopt-storage (store_owner.h) */
} lmsd;

static void ctx_init(struct lms_plugin_ctx *ctx, const char *name,
                     const plugin_slot *slot, lmsd *d)
{
    memset(ctx, 0, sizeof *ctx);
    snprintf(ctx->name, sizeof ctx->name, "%s", name);
    ctx->config = slot->node;
    ctx->data_dir = d->cfg->data_dir;
    ctx->base = d->base;
    ctx->workers = d->pool;
    ctx->files = d->m.files;
}

/* Load and start the storage and auth plugins. */
static int open_plugins(lmsd *d, lms_err *err)
{
    lms_config *c = d->cfg;
    if (plugin_load(c->storage.plugin, c->plugin_dir, LMS_PLUGIN_STORAGE,
                    &d->storage_pl, err) != LMS_OK)
        return err->code;
    if (plugin_load(c->auth.plugin, c->plugin_dir, LMS_PLUGIN_AUTH, &d->auth_pl,
                    err) != LMS_OK)
        return err->code;
    d->st_ops = d->storage_pl.desc->ops;
    d->auth_ops = d->auth_pl.desc->ops;
    ctx_init(&d->storage_ctx, d->storage_pl.desc->name, &c->storage, d);
    ctx_init(&d->auth_ctx, d->auth_pl.desc->name, &c->auth, d);
    if (d->auth_ops->init(plugin_host(), &d->auth_ctx, &d->auth_inst, err) != LMS_OK)
        return err->code ? err->code : LMS_INTERNAL;
    d->m.ops = d->st_ops;
    if (d->st_ops->open(plugin_host(), &d->storage_ctx, &d->m.st, err) != LMS_OK) {
        d->m.st = NULL;
        return err->code ? err->code : LMS_INTERNAL;
    }
    int version = 0;
    if (d->st_ops->migrate(d->m.st, &version, err) != LMS_OK)
        return err->code ? err->code : LMS_INTERNAL;
    if (store_owner_check(&d->storage_pl, d->m.st, c->cluster_id, c->node_id,
                          d->adopt_storage, err) != LMS_OK)
        return err->code ? err->code : LMS_INTERNAL;
    log_info("storage %s %s ready (schema version %d)", d->storage_pl.desc->name,
             d->storage_pl.desc->version, version);
    return LMS_OK;
}

/* limits.readers resolved: the CPUs online, 1 to 4, unless configured. */
static size_t readers_wanted(const lms_config *c)
{
    if (c->readers != CONFIG_READERS_AUTO)
        return c->readers;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > 4 ? 4 : (size_t)cpus;
}

/* Open the storage readers and their threads (storage.h, readers), while
 * no other thread uses the instance yet. A backend that cannot read
 * beside its writer is no error: reads then run on the storage thread. */
static int open_readers(lmsd *d, lms_err *err)
{
    size_t want = readers_wanted(d->cfg);
    if (want == 0)
        return LMS_OK;
    if (!(d->reader = calloc(want, sizeof *d->reader)))
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    lms_err rerr = {0};
    for (; d->n_readers < want; d->n_readers++) {
        int rc = d->st_ops->reader_open(d->m.st, &d->reader[d->n_readers], &rerr);
        if (rc == LMS_OK)
            continue;
        if (rc != LMS_UNIMPLEMENTED)
            return *err = rerr, rc;
        log_info("storage %s reads only on its own thread (%s)",
                 d->storage_pl.desc->name, rerr.msg);
        return LMS_OK;
    }
    d->readers = workers_start(d->base, "reader", (int)d->n_readers, 0);
    if (!d->readers)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "cannot start threads");
    log_info("storage: %zu reader thread%s beside the storage thread",
             d->n_readers, d->n_readers == 1 ? "" : "s");
    return LMS_OK;
}

static void close_readers(lmsd *d)
{
    workers_free(d->readers); /* stopped first: no job holds a reader */
    d->readers = NULL;
    for (size_t i = 0; i < d->n_readers; i++)
        d->st_ops->reader_close(d->reader[i]);
    free(d->reader);
    d->reader = NULL;
    d->n_readers = 0;
}

static int make_data_dir(const char *dir, lms_err *err)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return lms_err_set(err, LMS_UNAVAILABLE, "cannot create data dir %s: %s",
                           dir, strerror(errno));
    return LMS_OK;
}

/* A path that others could write to: LMS_OK when path is missing (it is
 * created 0700 later) or writable by its owner only, else
 * FAILED_PRECONDITION naming it. */
static int check_private(const char *what, const char *path, lms_err *err)
{
    struct stat st;
    if (!path || stat(path, &st) < 0)
        return LMS_OK;
    if (!(st.st_mode & (S_IWGRP | S_IWOTH)))
        return LMS_OK;
    return lms_err_set(err, LMS_FAILED_PRECONDITION,
                       "%s %s is %s-writable (mode %04o); anyone who can write there "
                       "can change the server's data or code: chmod go-w %s",
                       what, path, (st.st_mode & S_IWOTH) ? "world" : "group",
                       (unsigned)(st.st_mode & 07777), path);
}

/* Refuse to start on a config file, data dir or plugin dir that others
 * may write to (operations.md). */
static int check_modes(const lms_config *c, lms_err *err)
{
    if (check_private("the config file", c->path, err) != LMS_OK ||
        check_private("the data dir", c->data_dir, err) != LMS_OK ||
        check_private("the plugin dir", c->plugin_dir, err) != LMS_OK)
        return err->code;
    return LMS_OK;
}

static void on_fatal(void *arg, const char *msg)
{
    lmsd *d = arg;
    log_error("fatal: %s", msg);
    d->exit_code = 1;
    event_base_loopbreak(d->base);
}

/* Shutdown, step 2: every 10 ms, until nothing is in flight or 5 s passed. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    lmsd *d = arg;
    (void)fd;
    (void)what;
    size_t n = dispatch_inflight(d->disp);
    if (n == 0 || ++d->drain_ticks >= 500) {
        if (n)
            log_warn("shutting down with %zu requests still in flight", n);
        event_base_loopbreak(d->base);
    }
}

/* Shutdown, step 1: stop accepting, let requests in flight finish and
 * their answers go out, then leave the loop. */
static void start_drain(lmsd *d)
{
    net_stop_accepting(d->net);
    d->drain = event_new(d->base, -1, EV_PERSIST, on_drain_tick, d);
    struct timeval tick = {0, 10000};
    if (!d->drain || event_add(d->drain, &tick) < 0)
        event_base_loopbreak(d->base);
}

/* Shutdown, step 0 on a leader: every 10 ms, until another node leads or
 * a second passed. Meanwhile clients are told to retry elsewhere. */
static void on_handover_tick(evutil_socket_t fd, short what, void *arg)
{
    lmsd *d = arg;
    (void)fd;
    (void)what;
    int done = !node_is_leader(d->node);
    if (!done && ++d->handover_ticks < 100)
        return;
    if (done)
        log_info("node %llu leads now", (unsigned long long)node_leader_id(d->node));
    else
        log_warn("leadership transfer did not finish within 1 s; stopping anyway");
    event_del(d->handover);
    start_drain(d);
}

/* SIGINT/SIGTERM: a leader first hands leadership to the most caught-up
 * voter, so the cluster does not wait an election timeout for a new one.
 * A second signal is immediate. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    lmsd *d = arg;
    (void)what;
    if (d->drain || d->handover) {
        event_base_loopbreak(d->base);
        return;
    }
    log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    sdn_stopping(d->sdn);
    uint64_t to = 0;
    if (node_transfer_leadership(d->node, &to) == LMS_OK) {
        log_info("handing leadership to node %llu first", (unsigned long long)to);
        d->handover = event_new(d->base, -1, EV_PERSIST, on_handover_tick, d);
        struct timeval tick = {0, 10000};
        if (d->handover && event_add(d->handover, &tick) == 0)
            return;
    }
    start_drain(d);
}

/* The storage thread's hook after each applied command: the tutor learns
 * new course documents, and --init-admin on a node that does not lead
 * sees its command come back through the log. */
static void on_applied(void *arg, uint64_t index, const Lms__Command *cmd,
                       const sm_result *res)
{
    lmsd *d = arg;
    if (d->init_client && cmd->client_id == d->init_client &&
        !atomic_load(&d->init_done)) {
        d->init_res = *res;
        d->init_res.rows = NULL;
        atomic_store(&d->init_done, 1);
    }
    tutor_rt_applied(d->tutor, index, cmd, res);
}

/* The storage was replaced by the leader's snapshot: the tutor's documents
 * came from commands this node never applied, so it learns them anew (the
 * path of a reload: the current tutor serves until the new one is fed). */
static void on_restored(void *arg, uint64_t index)
{
    lmsd *d = arg;
    lms_err err = {0};
    if (!d->tutor)
        return;
    log_info("the storage holds changes up to %llu that this node did not "
             "apply itself (a snapshot, or a commit whose answer was lost): "
             "the tutor relearns its documents", (unsigned long long)index);
    if (tutor_rt_load(d->tutor, d->cfg, 0, &err) != LMS_OK)
        log_error("tutor reload after the snapshot failed, the current tutor "
                  "stays: %s", err.msg);
}

#define TRIM_IDLE_SECONDS 5

/* Worker pool: walking every arena's free lists takes a while on a big
 * heap; not on the loop. */
static void trim_work(void *arg)
{
    (void)arg;
    malloc_trim(0);
}

/* Once a second: after a busy spell, once nothing was applied for a whole
 * second (and for a few seconds more: the idle node's log compaction frees
 * more after the first), give the memory that malloc keeps for reuse back
 * to the system (every thread's arena), so an idle node is small again
 * after a burst of large submissions. While busy, glibc keeps those
 * buffers for reuse: a 10 MB submission then costs no page faults for its
 * copies (forcing them through mmap made one 100 ms slower on a 3-node
 * cluster). */
static void on_trim_tick(evutil_socket_t fd, short what, void *arg)
{
    lmsd *d = arg;
    (void)fd;
    (void)what;
    uint64_t applied = d->node ? node_applied_index(d->node) : 0;
    if (applied != d->trim_seen) {
        d->trim_seen = applied;
        d->trim_busy = TRIM_IDLE_SECONDS;
    } else if (d->trim_busy) {
        d->trim_busy--;
        workers_submit(d->pool, trim_work, NULL, NULL);
    }
}

/* The config's TLS files and which ports use them. */
static tls_files tls_files_of(const lms_config *c)
{
    return (tls_files){.ca = c->tls_ca, .cert = c->tls_cert, .key = c->tls_key,
                       .client_cert = c->tls_client_cert,
                       .client_key = c->tls_client_key,
                       .peer = c->tls_peer, .client = c->tls_client};
}

/* SIGHUP: the certificates at the paths the node runs with (tls.* paths
 * are restart-only, so d->cfg's), read again for the connections made
 * from now on: how an admin rotates them. Only once the config file
 * loaded (a broken file changes nothing, as the docs promise); files that
 * fail a check leave the current ones serving. */
static void reload_tls(lmsd *d)
{
    if (!d->tls)
        return;
    tls_files f = tls_files_of(d->cfg);
    lms_err err = {0};
    if (tls_reload(d->tls, &f, d->cfg->node_id, &err) != LMS_OK)
        log_error("reload: tls: %s; still using the current certificates",
                  err.msg);
}

/* SIGHUP: apply what can change of the config file (reload.h), then
 * reload the tutor from it and the TLS files (reload_tls); a file that
 * does not load changes nothing, a tutor that fails to start keeps the one
 * we have. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    lmsd *d = arg;
    lms_err err = {0};
    (void)sig;
    (void)what;
    reload_targets t = {.disp = d->disp, .net = d->net, .tutor = d->tutor,
                        .check = check_modes};
    lms_config *cfg = reload_read(d->cfg, &t);
    if (!cfg)
        return; /* a file that does not load changes nothing, certificates included */
    if (tutor_rt_load(d->tutor, cfg, 1, &err) != LMS_OK)
        log_error("tutor reload failed, the current tutor stays: %s", err.msg);
    reload_tls(d);
}

/* The peer port takes frames a little larger than the client port's: an
 * append carries a whole command and some more entries. */
static uint32_t peer_frame_limit(const lms_config *c)
{
    uint64_t lim = (uint64_t)c->max_frame_bytes + (16u << 20);
    return lim > UINT32_MAX ? UINT32_MAX : (uint32_t)lim;
}

static int node_opts(lmsd *d, node_options *no, lms_err *err)
{
    const lms_config *c = d->cfg;
    d->members = calloc(c->n_members ? c->n_members : 1, sizeof *d->members);
    if (!d->members)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < c->n_members; i++)
        d->members[i] = (node_member){c->members[i].id, c->members[i].peer_addr,
                                      c->members[i].client_addr};
    *no = (node_options){.data_dir = c->data_dir,
                         .node_id = c->node_id,
                         .accept_log_loss = d->accept_log_loss,
                         .on_fatal = on_fatal,
                         .arg = d,
                         .on_restored = on_restored,
                         .cluster_id = c->cluster_id,
                         .members = d->members,
                         .n_members = c->n_members,
                         .peer_listen = c->peer_addr,
                         .stray_answer = dispatch_stray_answer,
                         .tls = d->tls,
                         .max_peer_frame = peer_frame_limit(c),
                         .tick_ms = (unsigned)c->raft_tick_ms,
                         .election_ticks = c->election_ticks,
                         .heartbeat_ticks = c->heartbeat_ticks,
                         .max_term_jump = c->max_term_jump,
                         .snapshot_entries = c->snapshot_entries,
                         .snapshot_bytes = c->snapshot_bytes,
                         .keep_entries = c->keep_entries,
                         .segment_bytes = c->segment_bytes,
                         .snapshot_rate = c->snapshot_rate,
                         .disk_reserve = c->disk_reserve};
    d->smn = (sm_node){.m = &d->m, .on_applied = on_applied, .arg = d};
    sm_node_ops(&d->smn, &d->sm_ops);
    return LMS_OK;
}

/* The TLS files of the config, checked; a port left plaintext is said. */
static int open_tls(const lms_config *c, lms_tls **out, lms_err *err)
{
    tls_files f = tls_files_of(c);
    int rc = tls_open(&f, c->cluster_id, c->node_id, out, err);
    if (rc != LMS_OK)
        return rc;
    if (c->peer_addr && !c->tls_peer)
        log_warn("tls.peer is off: the peer port (%s) trusts anyone who can "
                 "reach it; only for nodes on one trusted machine",
                 c->peer_addr);
    if (!c->tls_client)
        log_warn("the client port %s is plaintext (no tls.cert, or tls.client: "
                 "off): passwords and session tokens cross it in clear",
                 c->client_addr);
    return LMS_OK;
}

/* SIGHUP blocked (on) from the top of main until the loop has its
 * handler (off): its default action ends the process, so a reload sent
 * while the node opens its storage and replays its log would kill it.
 * Threads started meanwhile keep it blocked; it waits, and is delivered
 * to the main thread once unblocked. */
static void hup_during_start(int block)
{
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &hup, NULL);
}

static int start(lmsd *d, lms_err *err)
{
    sdn_status("starting: opening storage and replaying the command log");
    if (make_data_dir(d->cfg->data_dir, err) != LMS_OK)
        return err->code;
    if (open_tls(d->cfg, &d->tls, err) != LMS_OK)
        return err->code;
    if (filestore_open(d->cfg->data_dir, &d->m.files, err) != LMS_OK)
        return err->code;
    evthread_use_pthreads(); /* other threads post to the loop (mailbox.h) */
    d->base = event_base_new();
    d->storage_thread = workers_start(d->base, "storage", 1, 0);
    d->pool = workers_start(d->base, "worker", 2, 4096);
    if (!d->base || !d->storage_thread || !d->pool)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "cannot start threads");
    if (open_plugins(d, err) != LMS_OK || open_readers(d, err) != LMS_OK)
        return err->code;
    tutor_rt_options to = {.base = d->base, .storage_thread = d->storage_thread,
                           .pool = d->pool, .m = &d->m,
                           .deadline_ms = d->cfg->tutor_deadline_ms};
    if (!(d->tutor = tutor_rt_new(&to)))
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    node_options no;
    if (node_opts(d, &no, err) != LMS_OK)
        return err->code;
    return node_open(d->base, &no, &d->sm_ops, d->storage_thread, &d->node, err);
}

static int serve(lmsd *d, lms_err *err)
{
    dispatch_options o = {.limits = reload_dispatch_limits(d->cfg),
                          .node_id = d->cfg->node_id,
                          .storage_thread = d->storage_thread,
                          .readers = d->readers,
                          .reader = d->reader,
                          .n_readers = d->readers ? d->n_readers : 0,
                          .pool = d->pool,
                          .node = d->node,
                          .m = &d->m,
                          .auth = d->auth_ops,
                          .auth_inst = d->auth_inst,
                          .tutor = d->tutor,
                          .storage_name = d->storage_pl.desc->name,
                          .login = reload_login_options(d->cfg)};
    if (tutor_rt_load(d->tutor, d->cfg, 0, err) != LMS_OK)
        return err->code;
    d->disp = dispatch_new(&o);
    if (!d->disp)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    net_options no = {.addr = d->cfg->client_addr,
                      .max_frame_bytes = d->cfg->max_frame_bytes,
                      .max_output_bytes = (size_t)d->cfg->max_output_bytes,
                      .tls = d->tls};
    reload_net_limits(d->cfg, &no); /* the ones a reload may change */
    net_callbacks cb = {.on_frame = dispatch_on_frame,
                        .on_oversize = dispatch_on_oversize,
                        .on_too_many = dispatch_on_too_many,
                        .on_plaintext = dispatch_on_plaintext,
                        .arg = d->disp};
    if (net_listen(d->base, &no, &cb, &d->net, err) != LMS_OK)
        return err->code;
    if (d->cfg->metrics_addr &&
        metrics_http_start(d->base, d->cfg->metrics_addr, d->node, d->net,
                           &d->metrics, err) != LMS_OK)
        return err->code;
    d->sigint = evsignal_new(d->base, SIGINT, on_signal, d);
    d->sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
    d->sighup = evsignal_new(d->base, SIGHUP, on_hup, d);
    event_add(d->sigint, NULL);
    event_add(d->sigterm, NULL);
    event_add(d->sighup, NULL);
    hup_during_start(0); /* one sent while starting is the loop's first reload */
    d->trim = event_new(d->base, -1, EV_PERSIST, on_trim_tick, d);
    struct timeval second = {1, 0};
    if (d->trim)
        event_add(d->trim, &second);
    fault_hooks_announce();
    log_info("lmsd %s node %llu serving clients on %s (port %d), applied index %llu",
             LMS_VERSION, (unsigned long long)d->cfg->node_id, d->cfg->client_addr,
             net_port(d->net), (unsigned long long)node_applied_index(d->node));
    if (d->metrics)
        log_info("metrics on http://%s/metrics (port %d)", d->cfg->metrics_addr,
                 metrics_http_port(d->metrics));
    if (d->cfg->peer_addr)
        log_info("cluster '%s': %zu members, peers on %s (port %d)",
                 d->cfg->cluster_id, d->cfg->n_members, d->cfg->peer_addr,
                 node_peer_port(d->node));
    d->sdn = sdn_start(d->base, d->node);
    event_base_dispatch(d->base);
    return LMS_OK;
}

/* Tear down in the order that lets in-flight work finish (see workers.h). */
static void stop(lmsd *d)
{
    metrics_http_free(d->metrics); /* it reads the node and the client port */
    d->metrics = NULL;
    tutor_rt_stop(d->tutor); /* questions in flight are answered now */
    workers_stop(d->pool);
    workers_stop(d->readers); /* reads in flight are answered now */
    if (d->node)
        node_close(d->node);
    workers_stop(d->storage_thread);
    node_free(d->node);
    net_free(d->net);
    d->net = NULL;
    /* Answers sent while the pools stopped queue deferred bufferevent
     * callbacks; closing such a connection only drops a reference, and
     * the bufferevent is freed when those callbacks have run. Run them
     * now, with nothing of ours left to call back (a signal in between
     * takes the default action). */
    if (d->base) {
        struct event **evs[] = {&d->sigint, &d->sigterm, &d->sighup, &d->drain,
                                &d->handover, &d->trim};
        for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
            if (*evs[i]) {
                event_free(*evs[i]);
                *evs[i] = NULL;
            }
        sdn_free(d->sdn);
        d->sdn = NULL;
        event_base_loop(d->base, EVLOOP_NONBLOCK);
    }
    tutor_rt_free(d->tutor); /* the storage thread posts no more documents */
    dispatch_free(d->disp);
    workers_free(d->pool);
    workers_free(d->storage_thread);
    close_readers(d);
    if (d->m.st)
        d->st_ops->close(d->m.st);
    filestore_free(d->m.files);
    d->m.files = NULL;
    if (d->auth_inst)
        d->auth_ops->shutdown(d->auth_inst);
    plugin_unload(&d->storage_pl);
    plugin_unload(&d->auth_pl);
    if (d->sigint)
        event_free(d->sigint);
    if (d->sigterm)
        event_free(d->sigterm);
    if (d->sighup)
        event_free(d->sighup);
    if (d->drain)
        event_free(d->drain);
    if (d->base)
        event_base_free(d->base);
    tls_free(d->tls); /* after every connection: each SSL holds the ctx */
    free(d->members);
    config_free(d->cfg);
}

/* ---- --init-admin ----------------------------------------------------- */

typedef struct init_admin {
    node_proposal p;
    lmsd *d;
    sm_result res;
} init_admin;

static void init_admin_applied(node_proposal *p, const node_outcome *o)
{
    init_admin *ia = (init_admin *)p;
    sm_result own;
    ia->res = *sm_node_outcome(o, &own);
    ia->res.rows = NULL;
}

static void init_admin_complete(node_proposal *p)
{
    event_base_loopbreak(((init_admin *)p)->d->base);
}

static int read_password(char *buf, size_t len, lms_err *err)
{
    if (!fgets(buf, (int)len, stdin))
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "no password on stdin");
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) < 8)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "password too short: at least 8 characters");
    return LMS_OK;
}

/* Storage thread job: is the state empty? */
typedef struct count_job {
    sm *m;
    uint64_t users;
    lms_err err;
    int rc, done;
} count_job;

static void count_users(void *arg)
{
    count_job *j = arg;
    j->rc = j->m->ops->user_count(j->m->st, &j->users, &j->err);
}

static void count_done(void *arg) { ((count_job *)arg)->done = 1; }

static void on_wait_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Run the loop until pred(d, arg) holds (0), timeout_ms pass or the node
 * fails (-1). */
static int run_until(lmsd *d, int (*pred)(lmsd *, void *), void *arg,
                     int timeout_ms)
{
    struct event *t = event_new(d->base, -1, EV_PERSIST, on_wait_tick, d->base);
    struct timeval tick = {0, 10000};
    if (!t || event_add(t, &tick) < 0) {
        if (t)
            event_free(t);
        return -1;
    }
    int rc = -1;
    for (int waited = 0; waited <= timeout_ms && !d->exit_code; waited += 10) {
        if (pred(d, arg)) {
            rc = 0;
            break;
        }
        event_base_dispatch(d->base);
    }
    event_free(t);
    return rc;
}

/* The node knows a leader and has applied everything it knows committed. */
static int caught_up(lmsd *d, void *arg)
{
    (void)arg;
    return node_leader_id(d->node) &&
           node_applied_index(d->node) >= node_commit_index(d->node) &&
           node_commit_index(d->node) > 0;
}

static int job_done(lmsd *d, void *arg)
{
    (void)d;
    return ((count_job *)arg)->done;
}

static int init_applied(lmsd *d, void *arg)
{
    (void)arg;
    return atomic_load(&d->init_done);
}

/* Is the (caught-up) state empty? LMS_OK, or err set. */
static int check_empty(lmsd *d, lms_err *err)
{
    if (run_until(d, caught_up, NULL, 30000) < 0)
        return lms_err_set(err, LMS_UNAVAILABLE,
                           "--init-admin: no leader within 30 s; a cluster "
                           "needs a majority of its members running (start "
                           "the others first)");
    count_job cj = {.m = &d->m};
    if (workers_submit(d->storage_thread, count_users, count_done, &cj) < 0 ||
        run_until(d, job_done, &cj, 30000) < 0)
        return lms_err_set(err, LMS_UNAVAILABLE, "--init-admin: storage is stuck");
    if (cj.rc != LMS_OK)
        return lms_err_set(err, cj.rc, "%s", cj.err.msg);
    if (cj.users != 0)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "--init-admin: the state already has %llu users; "
                           "add admins with lms-admin add-user",
                           (unsigned long long)cj.users);
    return LMS_OK;
}

/* The CmdCreateUser for the first admin, encoded; its client id lets the
 * node recognize it in the log (and deduplicate a forward sent twice). */
static blob *admin_command(lmsd *d, const char *name, const char *hash)
{
    Lms__CmdCreateUser cu = LMS__CMD_CREATE_USER__INIT;
    cu.name = (char *)name;
    cu.role = LMS__ROLE__ADMIN;
    cu.full_name = (char *)"";
    cu.password_hash = (char *)hash;
    Lms__Command cmd = LMS__COMMAND__INIT;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    cmd.time = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    cmd.actor = (char *)"";
    cmd.client_id = d->init_client;
    cmd.seq = 1;
    cmd.body_case = LMS__COMMAND__BODY_CREATE_USER;
    cmd.create_user = &cu;
    blob *b = blob_new(lms__command__get_packed_size(&cmd));
    if (b)
        lms__command__pack(&cmd, b->data);
    return b;
}

/* Not the leader: hand the command to it until this node applies it. */
static int forward_admin(lmsd *d, blob *cmd, lms_err *err)
{
    for (int tries = 0; tries < 30 && !atomic_load(&d->init_done); tries++) {
        lms_err ferr = {0};
        if (node_forward(d->node, cmd, &ferr) != LMS_OK)
            log_info("--init-admin: %s; waiting", ferr.msg);
        if (run_until(d, init_applied, NULL, 1000) == 0)
            break;
    }
    if (!atomic_load(&d->init_done))
        return lms_err_set(err, LMS_UNAVAILABLE,
                           "--init-admin: the leader did not take the command "
                           "within 30 s");
    return LMS_OK;
}

static int run_init_admin(lmsd *d, const char *name, lms_err *err)
{
    char pw[1100], hash[512];
    if (read_password(pw, sizeof pw, err) != LMS_OK)
        return err->code;
    int rc = check_empty(d, err);
    if (rc == LMS_OK)
        rc = d->auth_ops->hash(d->auth_inst, pw, hash, sizeof hash, err);
    explicit_bzero(pw, sizeof pw);
    if (rc != LMS_OK)
        return rc;
    if (getrandom(&d->init_client, sizeof d->init_client, 0) < 0 || !d->init_client)
        d->init_client = (uint64_t)time(NULL) | 1;
    blob *b = admin_command(d, name, hash);
    if (!b)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    init_admin ia = {.p = {.applied = init_admin_applied,
                            .complete = init_admin_complete},
                      .d = d};
    ia.res.status = LMS_UNKNOWN;
    if (node_is_leader(d->node)) {
        rc = node_propose(d->node, b, &ia.p, err);
        if (rc == LMS_OK)
            event_base_dispatch(d->base);
    } else {
        rc = forward_admin(d, b, err);
        ia.res = d->init_res;
    }
    blob_unref(b);
    if (rc != LMS_OK)
        return rc;
    if (ia.res.status != LMS_OK)
        return lms_err_set(err, ia.res.status, "--init-admin: %s", ia.res.message);
    log_info("created admin user '%s'", name);
    return LMS_OK;
}

/* ---- --restore -------------------------------------------------------- */

typedef struct restore_job {
    lmsd *d;
    node_options no;
    const char *path;
    node_restore_info info;
    lms_err err;
    int rc, done;
} restore_job;

static void restore_work(void *arg)
{
    restore_job *j = arg;
    j->rc = node_restore_backup(&j->no, &j->d->sm_ops, j->path, &j->info, &j->err);
}

static void restore_done(void *arg) { ((restore_job *)arg)->done = 1; }

static int restore_finished(lmsd *d, void *arg)
{
    (void)d;
    return ((restore_job *)arg)->done;
}

/* The plugins and the file store as start() opens them, without the node:
 * then node_restore_backup (node.h) does the rest on the storage thread,
 * where every storage call of lmsd runs. */
static int run_restore(lmsd *d, const char *path, lms_err *err)
{
    if (make_data_dir(d->cfg->data_dir, err) != LMS_OK)
        return err->code;
    if (filestore_open(d->cfg->data_dir, &d->m.files, err) != LMS_OK)
        return err->code;
    evthread_use_pthreads();
    d->base = event_base_new();
    d->storage_thread = workers_start(d->base, "storage", 1, 0);
    d->pool = workers_start(d->base, "worker", 1, 16);
    if (!d->base || !d->storage_thread || !d->pool)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "cannot start threads");
    if (open_plugins(d, err) != LMS_OK)
        return err->code;
    restore_job j = {.d = d, .path = path};
    if (node_opts(d, &j.no, err) != LMS_OK)
        return err->code;
    log_info("--restore: checking %s and loading it into this node", path);
    /* a large backup takes as long as it takes: a week, say */
    if (workers_submit(d->storage_thread, restore_work, restore_done, &j) < 0 ||
        run_until(d, restore_finished, &j, 7 * 86400 * 1000) < 0)
        return lms_err_set(err, LMS_INTERNAL, "--restore: the storage thread "
                           "did not run");
    int rc = j.rc;
    node_restore_info info = j.info;
    if (rc != LMS_OK) {
        return lms_err_set(err, rc, "--restore %s: %s%s", path, j.err.msg,
                           rc == LMS_DATA_LOSS ? "; nothing was changed" : "");
    }
    char hex[2 * sizeof info.sha256 + 1];
    for (size_t i = 0; i < sizeof info.sha256; i++)
        snprintf(hex + 2 * i, 3, "%02x", info.sha256[i]);
    size_t members = d->cfg->n_members ? d->cfg->n_members : 1;
    log_info("--restore: restored %s (index %llu, term %llu, %llu bytes, "
             "written by %s) as snapshot %llu of a new cluster of %zu "
             "member%s at term %d (sha256 %s)", path,
             (unsigned long long)info.index, (unsigned long long)info.term,
             (unsigned long long)info.size,
             info.backend[0] ? info.backend : "?",
             (unsigned long long)info.index, members, members == 1 ? "" : "s",
             NODE_RESTORE_TERM, hex);
    printf("restored %s: index %llu, %llu bytes; start the node with lmsd "
           "--config %s\n", path, (unsigned long long)info.index,
           (unsigned long long)info.size, d->cfg->path);
    return LMS_OK;
}

/* ---- main ------------------------------------------------------------- */

/* --check-config: every plugin the config names loads and is of its kind
 * (the tutor only if configured). 0, or 2 with err set. */
static int check_plugins(const lms_config *c, lms_err *err)
{
    const struct {
        const char *name;
        uint32_t kind;
    } slots[] = {{c->storage.plugin, LMS_PLUGIN_STORAGE},
                 {c->auth.plugin, LMS_PLUGIN_AUTH},
                 {c->tutor.plugin, LMS_PLUGIN_TUTOR}};
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        loaded_plugin p = {0};
        if (!slots[i].name)
            continue;
        int rc = plugin_load(slots[i].name, c->plugin_dir, slots[i].kind, &p, err);
        plugin_unload(&p);
        if (rc != LMS_OK)
            return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct option opts[LMSD_OPTIONS_MAX + 1];
    char shortopts[2 * LMSD_OPTIONS_MAX + 1];
    lmsd_getopt_tables(opts, LMSD_OPTIONS_MAX + 1, shortopts, sizeof shortopts);
    const char *config = NULL, *check = NULL, *admin = NULL, *restore = NULL;
    int ch, accept_log_loss = 0, adopt_storage = 0;
    while ((ch = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 'C': check = optarg; break;
        case 'I': admin = optarg; break;
        case 'R': restore = optarg; break;
        case 'L': accept_log_loss = 1; break;
        case 'A': adopt_storage = 1; break;
        case 'h': lmsd_usage(stdout); return 0;
        case 'V':
            printf("lmsd %s\nsystemd: %s\n", LMS_VERSION, sdn_compiled() ? "yes" : "no");
            return 0;
        case 'M': lmsd_man(stdout); return 0;
        case 'Y': return lmsd_config_man(stdout, optarg) == 0 ? 0 : 2;
        case 'K': lmsd_list_config_keys(stdout); return 0;
        default: lmsd_usage(stderr); return 2;
        }
    }
    if (optind < argc || (!config && !check) || (config && check) ||
        (restore && (admin || !config))) {
        lmsd_usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    hup_during_start(1);
    umask(077); /* data files 0600, dirs 0700: they hold password hashes */
    lmsd d = {0};
    d.accept_log_loss = accept_log_loss;
    d.adopt_storage = adopt_storage;
    lms_err err = {0};
    if (config_load(check ? check : config, &d.cfg, &err) != LMS_OK) {
        fprintf(stderr, "lmsd: %s\n", err.msg);
        return 2;
    }
    if (check_modes(d.cfg, &err) != LMS_OK) {
        fprintf(stderr, "lmsd: %s\n", err.msg);
        config_free(d.cfg);
        return 2;
    }
    lms_log_set_level(d.cfg->log_level);
    lms_log_set_format(d.cfg->log_format);
    lms_log_set_node(d.cfg->node_id);
    if (check) {
        lms_tls *tls = NULL;
        lms_log_set_level(LMS_LOG_ERROR); /* a check prints one line */
        int rc = open_tls(d.cfg, &tls, &err) == LMS_OK ? 0 : 2;
        tls_free(tls);
        if (rc == 0)
            rc = check_plugins(d.cfg, &err);
        if (rc == 0)
            printf("%s: configuration OK\n", check);
        else
            fprintf(stderr, "lmsd: %s\n", err.msg);
        config_free(d.cfg);
        return rc;
    }
    int rc = restore ? run_restore(&d, restore, &err) : start(&d, &err);
    if (rc == LMS_OK && !restore)
        rc = admin ? run_init_admin(&d, admin, &err) : serve(&d, &err);
    if (rc != LMS_OK) {
        log_error("%s", err.msg);
        d.exit_code = 1;
    }
    stop(&d);
    return d.exit_code;
}

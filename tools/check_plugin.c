/* SPDX-License-Identifier: MIT */
/*
 * check_plugin.c: the checks every plugin gets, whatever its kind (the
 * descriptor, the ABI, lmsd's loader), the host environment lmsd would give
 * it, and the lifecycle checks of auth plugins (storage plugins get the
 * conformance suite of check_storage.c).
 *
 * The descriptor is read twice on purpose: once here, field by field, so
 * each problem gets its own line, and once by plugin_load(), lmsd's own
 * loader, whose verdict (and one-line refusal) is the one that counts.
 * The environment never touches a node's real data: data_dir is a fresh
 * temporary directory, removed at the end.
 */
#include "plugin_check.h"

#include "workers.h"

#include <dlfcn.h>
#include <event2/event.h>
#include <ftw.h>
#include <lms/auth.h>
#include <lms/storage.h>
#include <lms/tutor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t check_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t check_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *check_status_name(int status)
{
    static const char *const names[] = {
        "LMS_OK",
        "LMS_CANCELLED",
        "LMS_UNKNOWN",
        "LMS_INVALID_ARGUMENT",
        "LMS_DEADLINE_EXCEEDED",
        "LMS_NOT_FOUND",
        "LMS_ALREADY_EXISTS",
        "LMS_PERMISSION_DENIED",
        "LMS_RESOURCE_EXHAUSTED",
        "LMS_FAILED_PRECONDITION",
        "LMS_ABORTED",
        "LMS_OUT_OF_RANGE",
        "LMS_UNIMPLEMENTED",
        "LMS_INTERNAL",
        "LMS_UNAVAILABLE",
        "LMS_DATA_LOSS",
        "LMS_UNAUTHENTICATED",
    };
    if (status >= 0 && status < (int)(sizeof names / sizeof names[0]))
        return names[status];
    return status == LMS_NOT_LEADER ? "LMS_NOT_LEADER" : "an unknown status";
}

/* ---- the descriptor ------------------------------------------------------ */

/* dlopen the file and call its entry point, one check each. */
static const struct lms_plugin_descriptor *open_descriptor(const char *path,
                                                           void **dl)
{
    report_begin("load");
    *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*dl) {
        report_fail("%s", dlerror());
        return NULL;
    }
    report_ok("dlopen(RTLD_NOW | RTLD_LOCAL) resolved every symbol");
    report_begin("entry");
    void *sym = dlsym(*dl, LMS_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        report_fail("does not export %s()", LMS_PLUGIN_ENTRY_SYMBOL);
        return NULL;
    }
    lms_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const struct lms_plugin_descriptor *d = entry();
    if (!d)
        report_fail("%s() returned NULL", LMS_PLUGIN_ENTRY_SYMBOL);
    else
        report_ok("%s() returned a descriptor", LMS_PLUGIN_ENTRY_SYMBOL);
    return d;
}

/* Magic, ABI, size and kind: without these nothing else can be read. */
static int check_header_fields(const struct lms_plugin_descriptor *d)
{
    report_begin("magic");
    if (d->magic != LMS_PLUGIN_MAGIC) {
        report_fail("0x%08x, expected 0x%08x", (unsigned)d->magic,
                    LMS_PLUGIN_MAGIC);
        return -1;
    }
    report_ok("0x%08x", (unsigned)d->magic);
    report_begin("abi");
    if (d->abi_major != LMS_ABI_MAJOR || d->abi_minor > LMS_ABI_MINOR) {
        report_fail("plugin ABI %u.%u, lmsd ABI %d.%d (major must be equal, "
                    "minor at most lmsd's)",
                    (unsigned)d->abi_major, (unsigned)d->abi_minor,
                    LMS_ABI_MAJOR, LMS_ABI_MINOR);
        return -1;
    }
    report_ok("plugin ABI %u.%u, lmsd ABI %d.%d", (unsigned)d->abi_major,
              (unsigned)d->abi_minor, LMS_ABI_MAJOR, LMS_ABI_MINOR);
    report_begin("descriptor size");
    if (d->descriptor_size < sizeof *d) {
        report_fail("%u bytes, lmsd needs at least %zu",
                    (unsigned)d->descriptor_size, sizeof *d);
        return -1;
    }
    report_ok("%u bytes", (unsigned)d->descriptor_size);
    report_begin("kind");
    if (strcmp(plugin_kind_name(d->kind), "unknown") == 0) {
        report_fail("%u is none of storage (1), tutor (2), auth (3)",
                    (unsigned)d->kind);
        return -1;
    }
    report_ok("%s", plugin_kind_name(d->kind));
    return 0;
}

/* Name and version non-empty, and the ops table's own size field agrees
 * with the descriptor's (both are sizeof the same struct). */
static void check_identity(const struct lms_plugin_descriptor *d)
{
    report_begin("name");
    if (!d->name || !*d->name || !d->version || !*d->version)
        report_fail("name and version must be non-empty (got %s%s%s, %s%s%s)",
                    d->name ? "\"" : "", d->name ? d->name : "NULL",
                    d->name ? "\"" : "", d->version ? "\"" : "",
                    d->version ? d->version : "NULL", d->version ? "\"" : "");
    else
        report_ok("\"%s\" version \"%s\"%s%s", d->name, d->version,
                  d->description ? ": " : "",
                  d->description ? d->description : "");
    report_begin("ops size");
    size_t inner = 0;
    if (d->ops && d->ops_size >= sizeof inner)
        memcpy(&inner, d->ops, sizeof inner);
    if (!d->ops)
        report_fail("no ops table");
    else if (inner != d->ops_size)
        report_fail("the ops table says it is %zu bytes, the descriptor says "
                    "%zu (set both to sizeof the struct)",
                    inner, d->ops_size);
    else
        report_ok("%zu bytes", d->ops_size);
}

/* What lmsd's loader learns about a tutor, for the "loader" line. */
static void describe_tutor(const struct lms_tutor_ops *t, char *buf, size_t n)
{
    snprintf(buf, n, ", %s%s, cancel %s, learn %s",
             t->flags & LMS_TUTOR_BLOCKING ? "blocking" : "async",
             t->flags & LMS_TUTOR_STREAMS ? ", streams" : "",
             t->cancel ? "yes" : "no", t->learn ? "yes" : "no");
}

int check_descriptor(check_env *env)
{
    void *dl = NULL;
    const struct lms_plugin_descriptor *d =
        open_descriptor(env->opts->plugin, &dl);
    if (!d || check_header_fields(d) < 0) {
        if (dl)
            dlclose(dl);
        return -1;
    }
    check_identity(d);
    report_begin("loader");
    lms_err err;
    int rc = plugin_load(env->opts->plugin, NULL, d->kind, &env->plugin, &err);
    dlclose(dl); /* plugin_load holds its own reference */
    if (rc != LMS_OK) {
        report_fail("lmsd refuses it: %s", err.msg);
        return -1;
    }
    char more[96] = "";
    if (d->kind == LMS_PLUGIN_TUTOR)
        describe_tutor(env->plugin.desc->ops, more, sizeof more);
    report_ok("lmsd's loader accepts it (kind %s%s)", plugin_kind_name(d->kind),
              more);
    return 0;
}

/* ---- the environment ----------------------------------------------------- */

static const plugin_slot *config_slot(const lms_config *c, uint32_t kind)
{
    switch (kind) {
    case LMS_PLUGIN_STORAGE:
        return &c->storage;
    case LMS_PLUGIN_AUTH:
        return &c->auth;
    default:
        return &c->tutor;
    }
}

/* The options: the slot of --config for the plugin's kind, or none. */
static int load_config(check_env *env)
{
    const char *kind = plugin_kind_name(env->plugin.desc->kind);
    if (!env->opts->config) {
        report_note("options: none (no --config), the plugin gets an empty "
                    "%s section",
                    kind);
        return 0;
    }
    report_begin("config");
    lms_err err;
    if (config_load(env->opts->config, &env->config, &err) != LMS_OK) {
        report_fail("%s", err.msg);
        return -1;
    }
    const plugin_slot *slot = config_slot(env->config, env->plugin.desc->kind);
    env->ctx.config = slot->node;
    if (!slot->node)
        report_ok("%s has no %s section: the plugin gets an empty one",
                  env->opts->config, kind);
    else
        report_ok("options from the %s section of %s (its plugin: %s)", kind,
                  env->opts->config, slot->plugin);
    return 0;
}

int check_env_open(check_env *env)
{
    struct lms_plugin_ctx *ctx = &env->ctx;
    snprintf(ctx->name, sizeof ctx->name, "%s", env->plugin.desc->name);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    int n = snprintf(env->data_dir, sizeof env->data_dir,
                     "%s/lms-plugin-check-XXXXXX", tmp);
    env->base = event_base_new();
    if (n >= (int)sizeof env->data_dir || !env->base ||
        !mkdtemp(env->data_dir)) {
        report_begin("environment");
        report_fail("cannot create an event loop or a temporary data dir");
        env->data_dir[0] = '\0';
        return -1;
    }
    env->pool = workers_start(env->base, "check", 2, 0);
    if (!env->pool) {
        report_begin("environment");
        report_fail("cannot start the worker pool behind run_blocking");
        return -1;
    }
    report_cleanup_dir(env->data_dir);
    ctx->data_dir = env->data_dir;
    ctx->base = env->base;
    ctx->workers = env->pool;
    return load_config(env);
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0;
}

void check_env_abandon(check_env *env)
{
    if (env->data_dir[0])
        nftw(env->data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    report_cleanup_dir("");
}

void check_env_close(check_env *env)
{
    if (env->pool)
        workers_free(env->pool);
    if (env->base)
        event_base_free(env->base);
    check_env_abandon(env);
    config_free(env->config);
    /* Under valgrind the .so stays mapped, so leak reports name its code. */
    if (env->opts->under_valgrind)
        env->plugin.dl = NULL;
    plugin_unload(&env->plugin);
    memset(env, 0, sizeof *env);
}

/* ---- auth (storage: check_storage.c) ------------------------------------ */

void check_auth(check_env *env)
{
    const struct lms_auth_ops *ops = env->plugin.desc->ops;
    void *inst = NULL;
    lms_err err;
    lms_err_clear(&err);
    report_begin("init");
    int rc = ops->init(plugin_host(), &env->ctx, &inst, &err);
    if (rc != LMS_OK) {
        report_fail("%s: %s", check_status_name(rc), err.msg);
        return;
    }
    report_ok("initialised");
    report_begin("shutdown");
    ops->shutdown(inst);
    report_ok("shut down");
}

/* SPDX-License-Identifier: MIT */
/*
 * host.c: the service table lmsd hands to every plugin instance (host.h).
 *
 * Each service takes the instance's struct lms_plugin_ctx (plugin_loader.h),
 * which carries what tells instances apart: the log prefix, the config
 * subtree, the data dir, the event base and the worker pool. The table
 * itself is one static constant shared by all instances.
 */
#include "config.h"
#include "filestore.h"
#include "log.h"
#include "plugin_loader.h"
#include "workers.h"

#include <stdarg.h>

__attribute__((format(printf, 3, 4))) static void
host_log(struct lms_plugin_ctx *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lms_logv(level, ctx && ctx->name[0] ? ctx->name : "plugin", fmt, ap);
    va_end(ap);
}

static int host_config_string(struct lms_plugin_ctx *ctx, const char *key,
                              const char **out, lms_err *err)
{
    return config_string(ctx ? ctx->config : NULL, key, out, err);
}

static int host_config_int(struct lms_plugin_ctx *ctx, const char *key,
                           long long *out, lms_err *err)
{
    return config_int(ctx ? ctx->config : NULL, key, out, err);
}

static int host_config_bool(struct lms_plugin_ctx *ctx, const char *key,
                            int *out, lms_err *err)
{
    return config_bool(ctx ? ctx->config : NULL, key, out, err);
}

static const char *host_data_dir(struct lms_plugin_ctx *ctx)
{
    return ctx ? ctx->data_dir : NULL;
}

static struct event_base *host_event_base(struct lms_plugin_ctx *ctx)
{
    return ctx ? ctx->base : NULL;
}

/* work(arg) on the instance's worker pool, then done(arg) on the loop.
 * LMS_UNAVAILABLE when the instance was given no pool. */
static int host_run_blocking(struct lms_plugin_ctx *ctx,
                             void (*work)(void *arg), void (*done)(void *arg),
                             void *arg)
{
    if (!ctx || !ctx->workers || !work)
        return LMS_UNAVAILABLE;
    if (workers_submit(ctx->workers, work, done, arg) < 0)
        return LMS_RESOURCE_EXHAUSTED;
    return LMS_OK;
}

static int no_store(lms_err *err)
{
    return lms_err_set(err, LMS_UNAVAILABLE, "lmsd gave this plugin no file "
                       "store");
}

static int host_file_open(struct lms_plugin_ctx *ctx,
                          const uint8_t sha256[LMS_SHA256_LEN], uint64_t size,
                          void **file, lms_err *err)
{
    *file = NULL;
    if (!ctx || !ctx->files)
        return no_store(err);
    return filestore_open_body(ctx->files, sha256, size,
                               (filestore_file **)file, err);
}

static int host_file_read(void *file, uint64_t off, void *buf, size_t len,
                          lms_err *err)
{
    return filestore_read(file, off, buf, len, err);
}

static int host_file_create(struct lms_plugin_ctx *ctx,
                            const uint8_t sha256[LMS_SHA256_LEN], uint64_t size,
                            void **file, lms_err *err)
{
    *file = NULL;
    if (!ctx || !ctx->files)
        return no_store(err);
    return filestore_create(ctx->files, sha256, size, (filestore_file **)file,
                            err);
}

static int host_file_write(void *file, const void *buf, size_t len,
                           lms_err *err)
{
    return filestore_write(file, buf, len, err);
}

static int host_file_close(void *file, int keep, lms_err *err)
{
    return filestore_finish(file, keep, err);
}

static const struct lms_host host_table = {
    .size = sizeof(struct lms_host),
    .log = host_log,
    .config_string = host_config_string,
    .config_int = host_config_int,
    .config_bool = host_config_bool,
    .data_dir = host_data_dir,
    .event_base = host_event_base,
    .run_blocking = host_run_blocking,
    .file_open = host_file_open,
    .file_read = host_file_read,
    .file_create = host_file_create,
    .file_write = host_file_write,
    .file_close = host_file_close,
};

const struct lms_host *plugin_host(void)
{
    return &host_table;
}

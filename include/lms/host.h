/* SPDX-License-Identifier: MIT */
/*
 * host.h: the services lmsd offers to a plugin instance.
 *
 * At init the host passes `const struct lms_host *host` and an opaque
 * `struct lms_plugin_ctx *ctx` that identifies the instance (its name for log
 * prefixes, its YAML subtree for config lookups). Every call takes ctx first.
 * The table grows only at the end; check host->size before using a field
 * added after ABI 1.0.
 */
#ifndef LMS_HOST_H
#define LMS_HOST_H

#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base; /* libevent */
struct lms_plugin_ctx;

enum lms_log_level {
    LMS_LOG_DEBUG = 0,
    LMS_LOG_INFO = 1,
    LMS_LOG_WARN = 2,
    LMS_LOG_ERROR = 3,
};

struct lms_host {
    size_t size; /* sizeof(struct lms_host) as the host knows it */

    /* Log one line on lmsd's log, prefixed with the plugin's name. */
    void (*log)(struct lms_plugin_ctx *ctx, int level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    /*
     * Config lookups in the plugin's own subtree (the mapping under its slot,
     * e.g. `storage:`). key is a dotted path ("pool.size"). Each returns
     * LMS_OK and sets *out, LMS_NOT_FOUND when the key is absent (*out is
     * left alone, so preset it to the default), or LMS_INVALID_ARGUMENT with
     * err naming file, line and key when the value has the wrong type.
     * Strings stay valid for the life of the instance.
     */
    int (*config_string)(struct lms_plugin_ctx *ctx, const char *key,
                         const char **out, lms_err *err);
    int (*config_int)(struct lms_plugin_ctx *ctx, const char *key,
                      long long *out, lms_err *err);
    int (*config_bool)(struct lms_plugin_ctx *ctx, const char *key, int *out,
                       lms_err *err);

    /* The node's data directory (absolute path). */
    const char *(*data_dir)(struct lms_plugin_ctx *ctx);

    /* The event loop. Only for plugins that run on the loop (async tutors). */
    struct event_base *(*event_base)(struct lms_plugin_ctx *ctx);

    /*
     * Run work(arg) on a worker thread, then done(arg) on the loop thread.
     * Returns LMS_OK or LMS_RESOURCE_EXHAUSTED when the queue is full.
     */
    int (*run_blocking)(struct lms_plugin_ctx *ctx, void (*work)(void *arg),
                        void (*done)(void *arg), void *arg);

    /*
     * ---- the file store (ABI 1.2, appended) ----
     * The bodies of submissions and materials live in lmsd's
     * content-addressed store in the data directory, named by their
     * SHA-256 (the rows' sha256 and size), not in the storage backend:
     * written and made durable before the apply that references them
     * commits, shared by every backend, identical files stored once. A
     * storage plugin meets them only in snapshots: snapshot_write streams
     * the body each row names (file_open, file_read), snapshot_read stores
     * the bodies that come with the rows (file_create, file_write, then
     * file_close with keep = 1 before it commits). Any thread.
     *
     * file_open: LMS_NOT_FOUND when the store has no body of that name,
     * LMS_DATA_LOSS when it has one of another size. file_read reads
     * exactly len bytes at off. file_create: a new body of size bytes;
     * file_write appends to it. file_close ends either kind: for a new
     * body, keep = 1 checks that size bytes were written and hash to its
     * name (else LMS_DATA_LOSS) and stores it durably; keep = 0 or a
     * failure leaves nothing. A full disk is LMS_RESOURCE_EXHAUSTED.
     */
    int (*file_open)(struct lms_plugin_ctx *ctx,
                     const uint8_t sha256[LMS_SHA256_LEN], uint64_t size,
                     void **file, lms_err *err);
    int (*file_read)(void *file, uint64_t off, void *buf, size_t len,
                     lms_err *err);
    int (*file_create)(struct lms_plugin_ctx *ctx,
                       const uint8_t sha256[LMS_SHA256_LEN], uint64_t size,
                       void **file, lms_err *err);
    int (*file_write)(void *file, const void *buf, size_t len, lms_err *err);
    int (*file_close)(void *file, int keep, lms_err *err);
};

#ifdef __cplusplus
}
#endif
#endif /* LMS_HOST_H */

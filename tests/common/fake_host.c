/* SPDX-License-Identifier: MIT */
/* fake_host.c: see fake_host.h. */
#include "fake_host.h"

#include "filestore.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *slot = "plugin";

static const char *lookup(struct lms_plugin_ctx *ctx, const char *key)
{
    for (const char *const *kv = ctx->config; kv && kv[0]; kv += 2)
        if (strcmp(kv[0], key) == 0)
            return kv[1];
    return NULL;
}

static void fake_log(struct lms_plugin_ctx *ctx, int level, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->last_log, sizeof ctx->last_log, fmt, ap);
    va_end(ap);
    ctx->nlogs++;
    (void)level;
}

static int fake_string(struct lms_plugin_ctx *ctx, const char *key,
                       const char **out, lms_err *err)
{
    const char *v = lookup(ctx, key);
    if (v == NULL)
        return lms_err_set(err, LMS_NOT_FOUND, "test.yaml: no key %s", key);
    *out = v;
    return LMS_OK;
}

static int fake_int(struct lms_plugin_ctx *ctx, const char *key,
                    long long *out, lms_err *err)
{
    const char *v = lookup(ctx, key);
    if (v == NULL)
        return lms_err_set(err, LMS_NOT_FOUND, "test.yaml: no key %s", key);
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "test.yaml:1: %s.%s: '%s' is not an integer", slot,
                           key, v);
    *out = n;
    return LMS_OK;
}

static int fake_bool(struct lms_plugin_ctx *ctx, const char *key, int *out,
                     lms_err *err)
{
    const char *v = lookup(ctx, key);
    if (v == NULL)
        return lms_err_set(err, LMS_NOT_FOUND, "test.yaml: no key %s", key);
    *out = strcasecmp(v, "true") == 0;
    return LMS_OK;
}

static const char *fake_data_dir(struct lms_plugin_ctx *ctx)
{
    return ctx->data_dir;
}

/* The file store (host.h) is lmsd's own (core/base/filestore.c) in the
 * instance's data dir: one per data dir, kept until fake_host_forget()
 * (a handle holds on to its store). */
static struct {
    char dir[PATH_MAX];
    filestore *fs;
} stores[16];

static filestore *store_of(struct lms_plugin_ctx *ctx, lms_err *err)
{
    size_t i = 0, free_slot = sizeof stores / sizeof stores[0];
    for (; i < sizeof stores / sizeof stores[0]; i++) {
        if (stores[i].fs && strcmp(stores[i].dir, ctx->data_dir) == 0)
            return stores[i].fs;
        if (!stores[i].fs && free_slot == sizeof stores / sizeof stores[0])
            free_slot = i;
    }
    i = free_slot;
    if (i == sizeof stores / sizeof stores[0]) {
        lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "fake host: too many stores");
        return NULL;
    }
    if (filestore_open(ctx->data_dir, &stores[i].fs, err) != LMS_OK)
        return NULL;
    snprintf(stores[i].dir, sizeof stores[i].dir, "%s", ctx->data_dir);
    return stores[i].fs;
}

static int fake_file_open(struct lms_plugin_ctx *ctx,
                          const uint8_t sha256[LMS_SHA256_LEN], uint64_t size,
                          void **file, lms_err *err)
{
    *file = NULL;
    filestore *fs = store_of(ctx, err);
    return fs ? filestore_open_body(fs, sha256, size, (filestore_file **)file,
                                    err)
              : err->code;
}

static int fake_file_read(void *file, uint64_t off, void *buf, size_t len,
                          lms_err *err)
{
    return filestore_read(file, off, buf, len, err);
}

static int fake_file_create(struct lms_plugin_ctx *ctx,
                            const uint8_t sha256[LMS_SHA256_LEN], uint64_t size,
                            void **file, lms_err *err)
{
    *file = NULL;
    filestore *fs = store_of(ctx, err);
    return fs ? filestore_create(fs, sha256, size, (filestore_file **)file, err)
              : err->code;
}

static int fake_file_write(void *file, const void *buf, size_t len,
                           lms_err *err)
{
    return filestore_write(file, buf, len, err);
}

static int fake_file_close(void *file, int keep, lms_err *err)
{
    return filestore_finish(file, keep, err);
}

static const struct lms_host host = {
    .size = sizeof(struct lms_host),
    .log = fake_log,
    .config_string = fake_string,
    .config_int = fake_int,
    .config_bool = fake_bool,
    .data_dir = fake_data_dir,
    .file_open = fake_file_open,
    .file_read = fake_file_read,
    .file_create = fake_file_create,
    .file_write = fake_file_write,
    .file_close = fake_file_close,
};

const struct lms_host *fake_host(void) { return &host; }

void fake_host_forget(const char *data_dir)
{
    for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++)
        if (stores[i].fs && strcmp(stores[i].dir, data_dir) == 0) {
            filestore_free(stores[i].fs);
            stores[i].fs = NULL;
            stores[i].dir[0] = '\0';
        }
}

const void *fake_plugin_load(const char *path, void **dl,
                             const struct lms_plugin_descriptor **desc)
{
    *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*dl == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        return NULL;
    }
    void *sym = dlsym(*dl, LMS_PLUGIN_ENTRY_SYMBOL);
    if (sym == NULL) {
        fprintf(stderr, "%s exports no %s\n", path, LMS_PLUGIN_ENTRY_SYMBOL);
        return NULL;
    }
    lms_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* POSIX: object to function ptr */
    *desc = entry();
    if (*desc == NULL || (*desc)->ops == NULL) {
        fprintf(stderr, "%s: descriptor without ops\n", path);
        return NULL;
    }
    slot = (*desc)->kind == LMS_PLUGIN_STORAGE ? "storage"
           : (*desc)->kind == LMS_PLUGIN_TUTOR ? "tutor"
           : (*desc)->kind == LMS_PLUGIN_AUTH  ? "auth"
                                               : "plugin";
    return (*desc)->ops;
}

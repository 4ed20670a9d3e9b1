/* fake_host.c: see fake_host.h. */
#include "fake_host.h"

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

static const struct lms_host host = {
    .size = sizeof(struct lms_host),
    .log = fake_log,
    .config_string = fake_string,
    .config_int = fake_int,
    .config_bool = fake_bool,
    .data_dir = fake_data_dir,
};

const struct lms_host *fake_host(void) { return &host; }

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

/* SPDX-License-Identifier: MIT */
/*
 * auth.h: authentication plugins (kind LMS_PLUGIN_AUTH).
 *
 * Both calls are blocking and CPU-heavy (password hashing); lmsd runs them on
 * a worker thread, never on the event loop and never inside apply().
 * Several auth plugins can be chained: verify() distinguishes "not mine"
 * (try the next plugin), "denied" and "error".
 */
#ifndef LMS_AUTH_H
#define LMS_AUTH_H

#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

enum lms_auth_result {
    LMS_AUTH_OK = 0,       /* credentials match */
    LMS_AUTH_DENIED = 1,   /* this plugin owns the hash and it does not match */
    LMS_AUTH_NOT_MINE = 2, /* the stored hash is not in this plugin's format */
    LMS_AUTH_ERROR = 3,    /* could not decide; err says why */
};

struct lms_auth_ops {
    size_t size; /* sizeof(struct lms_auth_ops) */

    /* Required. Read options through host->config_*; *inst is the instance. */
    int (*init)(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                void **inst, lms_err *err);
    /* Required. */
    void (*shutdown)(void *inst);

    /*
     * Required. Check password against stored (as made by hash()), in time
     * that does not depend on where they differ. Returns enum lms_auth_result.
     */
    int (*verify)(void *inst, const char *user, const char *password,
                  const char *stored, lms_err *err);

    /*
     * Required. Hash a new password into out (NUL-terminated, at most
     * out_size bytes, a self-describing string such as a PHC string).
     * Returns LMS_OK or an lms_status with err set.
     */
    int (*hash)(void *inst, const char *password, char *out, size_t out_size,
                lms_err *err);
};

#ifdef __cplusplus
}
#endif
#endif /* LMS_AUTH_H */

/* SPDX-License-Identifier: MIT */
/*
 * plugin.h: the ABI shared by lmsd and every plugin.
 *
 * A plugin is a shared object that exports one function, lms_plugin_entry(),
 * returning a pointer to a constant descriptor. lmsd loads it with
 * dlopen(RTLD_NOW | RTLD_LOCAL), then checks, in this order:
 *
 *   1. magic == LMS_PLUGIN_MAGIC
 *   2. abi_major == the host's major, abi_minor <= the host's minor
 *   3. descriptor_size >= the size the host knows for that ABI
 *   4. kind == the kind the config slot expects
 *   5. ops != NULL, ops_size large enough, every required callback set
 *
 * and refuses with one line naming the file and both versions. Function
 * tables only ever grow at the end: a new minor version may append fields,
 * never move or remove one.
 *
 * Plugins include only the headers under include/lms/ (and libevent's, if
 * they use the event base); they link against nothing of lmsd's: everything
 * the host offers comes through struct lms_host (host.h).
 */
#ifndef LMS_PLUGIN_H
#define LMS_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LMS_PLUGIN_MAGIC 0x4c4d5350u /* "LMSP" */
#define LMS_ABI_MAJOR 1
#define LMS_ABI_MINOR 4
#define LMS_PLUGIN_ENTRY_SYMBOL "lms_plugin_entry"
#define LMS_SHA256_LEN 32 /* bytes of a SHA-256 digest */

/* Status codes: the same numbers as the protocol's Status (gRPC codes). */
enum lms_status {
    LMS_OK = 0,
    LMS_CANCELLED = 1,
    LMS_UNKNOWN = 2,
    LMS_INVALID_ARGUMENT = 3,
    LMS_DEADLINE_EXCEEDED = 4,
    LMS_NOT_FOUND = 5,
    LMS_ALREADY_EXISTS = 6,
    LMS_PERMISSION_DENIED = 7,
    LMS_RESOURCE_EXHAUSTED = 8,
    LMS_FAILED_PRECONDITION = 9,
    LMS_ABORTED = 10,
    LMS_OUT_OF_RANGE = 11,
    LMS_UNIMPLEMENTED = 12,
    LMS_INTERNAL = 13,
    LMS_UNAVAILABLE = 14,
    LMS_DATA_LOSS = 15,
    LMS_UNAUTHENTICATED = 16,
    LMS_NOT_LEADER = 100,
};

enum lms_plugin_kind {
    LMS_PLUGIN_STORAGE = 1,
    LMS_PLUGIN_TUTOR = 2,
    LMS_PLUGIN_AUTH = 3,
};

/*
 * The error out-parameter every fallible call takes: a status code and a
 * message a user can act on, naming what failed (file, key, table...).
 * May be NULL; then the message is dropped.
 */
typedef struct lms_err {
    int code;
    char msg[512];
} lms_err;

/* Set *err (if not NULL) and return code, so callers can write
 * `return lms_err_set(err, LMS_NOT_FOUND, "no user %s", name);`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int lms_err_set(lms_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static inline void lms_err_clear(lms_err *err)
{
    if (err) {
        err->code = LMS_OK;
        err->msg[0] = '\0';
    }
}

struct lms_plugin_descriptor {
    uint32_t magic;           /* LMS_PLUGIN_MAGIC */
    uint16_t abi_major;       /* LMS_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;       /* LMS_ABI_MINOR the plugin was built against */
    uint32_t descriptor_size; /* sizeof(struct lms_plugin_descriptor) */
    uint32_t kind;            /* enum lms_plugin_kind */
    const char *name;         /* e.g. "storage_sqlite" */
    const char *version;      /* the plugin's own version, e.g. "0.1.0" */
    const char *description;  /* one line */
    const void *ops;          /* struct lms_storage_ops / lms_auth_ops / ... */
    size_t ops_size;          /* sizeof that struct as the plugin knows it */
};

typedef const struct lms_plugin_descriptor *(*lms_plugin_entry_fn)(void);

/* Declare the entry point in a plugin: LMS_PLUGIN_EXPORT const struct
 * lms_plugin_descriptor *lms_plugin_entry(void) { return &desc; } */
#define LMS_PLUGIN_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif
#endif /* LMS_PLUGIN_H */

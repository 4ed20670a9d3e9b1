/* SPDX-License-Identifier: MIT */
/*
 * auth_password.c: the default auth plugin. Passwords are hashed with
 * argon2id (libargon2, RFC 9106) into self-describing PHC strings
 * ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"), so the cost of every
 * stored hash travels with it and the options below can be raised later
 * without invalidating old hashes.
 *
 * Options (under the auth: slot):
 *   time_cost   passes over memory, default 2        (1..64)
 *   memory_kib  memory per hash in KiB, default 19456 (8*parallelism..4 GiB)
 *   parallelism lanes, default 1                      (1..16)
 * The defaults are OWASP's minimum recommendation for argon2id.
 *
 * Both calls are CPU-heavy and blocking; lmsd runs them on a worker thread.
 * Passwords are never logged or kept.
 */
#include <argon2.h>
#include <errno.h>
#include <lms/auth.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SALT_LEN 16
#define HASH_LEN 32
#define PREFIX "$argon2id$"
#define MEMORY_KIB_MAX (4u * 1024 * 1024) /* 4 GiB */

typedef struct auth_password {
    const struct lms_host *host;
    struct lms_plugin_ctx *ctx;
    uint32_t time_cost, memory_kib, parallelism;
} auth_password;

/* Read integer option key into *out (left alone when absent), in lo..hi. */
static int option(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                  const char *key, long long lo, long long hi, uint32_t *out,
                  lms_err *err)
{
    long long v = *out;
    int rc = host->config_int(ctx, key, &v, err);
    if (rc != LMS_OK && rc != LMS_NOT_FOUND)
        return rc;
    if (v < lo || v > hi)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "auth_password: %s = %lld is out of range "
                           "(expected %lld to %lld)",
                           key, v, lo, hi);
    *out = (uint32_t)v;
    return LMS_OK;
}

static int ap_init(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                   void **inst, lms_err *err)
{
    auth_password a = {host, ctx, 2, 19456, 1};
    int rc;
    if ((rc = option(host, ctx, "time_cost", 1, 64, &a.time_cost, err)) ||
        (rc = option(host, ctx, "parallelism", 1, 16, &a.parallelism, err)) ||
        (rc = option(host, ctx, "memory_kib", 8LL * a.parallelism,
                     MEMORY_KIB_MAX, &a.memory_kib, err)))
        return rc;
    auth_password *p = malloc(sizeof *p);
    if (!p)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "auth_password: out of memory");
    *p = a;
    host->log(ctx, LMS_LOG_DEBUG, "argon2id t=%u m=%u KiB p=%u", a.time_cost,
              a.memory_kib, a.parallelism);
    *inst = p;
    return LMS_OK;
}

static void ap_shutdown(void *inst)
{
    free(inst);
}

/* Fill buf with n bytes from the kernel's CSPRNG. */
static int random_bytes(uint8_t *buf, size_t n, lms_err *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return lms_err_set(err, LMS_INTERNAL,
                               "auth_password: getrandom: %s", strerror(errno));
        got += (size_t)r;
    }
    return LMS_OK;
}

/* Hash password with a fresh 16-byte salt into out as a PHC string. */
static int ap_hash(void *inst, const char *password, char *out,
                   size_t out_size, lms_err *err)
{
    const auth_password *a = inst;
    if (!password)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "auth_password: no password given");
    size_t need = argon2_encodedlen(a->time_cost, a->memory_kib,
                                    a->parallelism, SALT_LEN, HASH_LEN,
                                    Argon2_id);
    if (out_size < need)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "auth_password: hash buffer is %zu bytes, "
                           "needs %zu",
                           out_size, need);
    uint8_t salt[SALT_LEN];
    int rc = random_bytes(salt, sizeof salt, err);
    if (rc)
        return rc;
    rc = argon2id_hash_encoded(a->time_cost, a->memory_kib, a->parallelism,
                               password, strlen(password), salt, sizeof salt,
                               HASH_LEN, out, out_size);
    if (rc != ARGON2_OK)
        return lms_err_set(err, rc == ARGON2_MEMORY_ALLOCATION_ERROR
                                    ? LMS_RESOURCE_EXHAUSTED
                                    : LMS_INTERNAL,
                           "auth_password: argon2id: %s",
                           argon2_error_message(rc));
    return LMS_OK;
}

/*
 * Stored hashes come from our own database, but a corrupt row must not make
 * verify allocate gigabytes: refuse a memory cost above what init allows.
 */
static int cost_too_high(const char *stored)
{
    unsigned v, m, t, p;
    if (sscanf(stored, PREFIX "v=%u$m=%u,t=%u,p=%u$", &v, &m, &t, &p) != 4)
        return 0; /* malformed: argon2 will say so */
    return m > MEMORY_KIB_MAX || t > 64 || p > 16;
}

/*
 * The salt and costs come from stored itself. argon2id_verify recomputes
 * the hash and compares it with a constant-time comparison, so the time
 * taken does not tell an attacker where a guess differs.
 */
static int ap_verify(void *inst, const char *user, const char *password,
                     const char *stored, lms_err *err)
{
    (void)inst;
    (void)user;
    if (!stored || strncmp(stored, PREFIX, strlen(PREFIX)) != 0)
        return LMS_AUTH_NOT_MINE;
    if (!password) {
        lms_err_set(err, LMS_INVALID_ARGUMENT,
                    "auth_password: no password given");
        return LMS_AUTH_ERROR;
    }
    if (cost_too_high(stored)) {
        lms_err_set(err, LMS_INVALID_ARGUMENT,
                    "auth_password: stored hash asks for costs above the "
                    "limits (m <= %u KiB, t <= 64, p <= 16)",
                    MEMORY_KIB_MAX);
        return LMS_AUTH_ERROR;
    }
    int rc = argon2id_verify(stored, password, strlen(password));
    if (rc == ARGON2_OK)
        return LMS_AUTH_OK;
    if (rc == ARGON2_VERIFY_MISMATCH)
        return LMS_AUTH_DENIED;
    lms_err_set(err, LMS_INTERNAL, "auth_password: stored hash unusable: %s",
                argon2_error_message(rc));
    return LMS_AUTH_ERROR;
}

static const struct lms_auth_ops ops = {
    .size = sizeof(struct lms_auth_ops),
    .init = ap_init,
    .shutdown = ap_shutdown,
    .verify = ap_verify,
    .hash = ap_hash,
};

static const struct lms_plugin_descriptor descriptor = {
    .magic = LMS_PLUGIN_MAGIC,
    .abi_major = LMS_ABI_MAJOR,
    .abi_minor = LMS_ABI_MINOR,
    .descriptor_size = sizeof(struct lms_plugin_descriptor),
    .kind = LMS_PLUGIN_AUTH,
    .name = "auth_password",
    .version = "0.1.0",
    .description = "passwords hashed with argon2id (libargon2)",
    .ops = &ops,
    .ops_size = sizeof ops,
};

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void);

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void)
{
    return &descriptor;
}

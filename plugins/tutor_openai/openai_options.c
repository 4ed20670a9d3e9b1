/* SPDX-License-Identifier: MIT */
/*
 * openai_options.c: tutor_openai's options, read from its config subtree.
 *
 *   base_url          default https://api.openai.com/v1; requests go to
 *                     base_url + "/chat/completions" (Ollama, llama.cpp's
 *                     server and vLLM serve the same path under /v1);
 *                     plain http:// only to loopback (127.0.0.1, [::1],
 *                     localhost), unless allow_insecure_http
 *   allow_insecure_http  default false: send the key and questions over
 *                     plain http:// to another host
 *   model             required
 *   api_key_env       the NAME of the environment variable holding the key,
 *                     default OPENAI_API_KEY; "" sends no key (local servers)
 *   max_tokens        default 512
 *   max_tokens_field  max_completion_tokens (default) or max_tokens (older
 *                     servers)
 *   temperature       0 to 2; unset leaves the provider's default
 *   connect_timeout   default 10s   } durations as core/base/config.c reads
 *   timeout           default 60s   } them: "500ms", "30s", "5m", "1h";
 *   backoff_base      default 500ms } a plain number means seconds
 *   backoff_max       default 8s    }
 *   retries           default 3 (retries after the first attempt, 0..10)
 *   stream            default true
 *
 * `timeout` bounds one attempt; the question's deadline bounds them all.
 * The key is read once here and lives only in memory: it never appears in
 * the config, a log line or an error message.
 */
#include "openai.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PFX "tutor_openai: "
#define DAY_MS (24LL * 3600 * 1000)

/* rc from a config lookup: LMS_NOT_FOUND (keep the default) is fine. */
static int found(int rc, int *present)
{
    *present = rc == LMS_OK;
    return rc == LMS_NOT_FOUND ? LMS_OK : rc;
}

/* "250ms", "30s", "5m", "1h" or a plain number of seconds, like lmsd's own
 * durations. -1 when s is none of those. */
static int parse_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *name;
        int64_t factor;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000},
                 {"h", 3600000}};
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v > (unsigned long long)DAY_MS)
        return -1;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(end, units[i].name) == 0) {
            *ms = (int64_t)v * units[i].factor;
            return 0;
        }
    return -1;
}

static int duration(const struct lms_host *h, struct lms_plugin_ctx *ctx,
                    const char *key, int64_t min, int64_t *out, lms_err *err)
{
    const char *s;
    int present;
    int rc = found(h->config_string(ctx, key, &s, err), &present);
    if (rc || !present)
        return rc;
    int64_t v;
    if (parse_duration(s, &v) < 0 || v < min || v > DAY_MS)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "%s: expected a duration of at least %lldms "
                               "and at most 24h, such as 500ms or 30s; got "
                               "\"%s\"",
                           key, (long long)min, s);
    *out = v;
    return LMS_OK;
}

static int integer(const struct lms_host *h, struct lms_plugin_ctx *ctx,
                   const char *key, long long lo, long long hi,
                   long long *out, lms_err *err)
{
    long long v = *out;
    int present;
    int rc = found(h->config_int(ctx, key, &v, err), &present);
    if (rc)
        return rc;
    if (v < lo || v > hi)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "%s = %lld is out of range (expected %lld to "
                               "%lld)",
                           key, v, lo, hi);
    *out = v;
    return LMS_OK;
}

/* base_url and model: where to send the question and to which model. */
static int endpoint(const struct lms_host *h, struct lms_plugin_ctx *ctx,
                    oai_options *o, lms_err *err)
{
    const char *base = "https://api.openai.com/v1";
    int present, rc = found(h->config_string(ctx, "base_url", &base, err),
                            &present);
    if (rc)
        return rc;
    if (strncasecmp(base, "http://", 7) != 0 &&
        strncasecmp(base, "https://", 8) != 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "base_url: expected an http:// or https:// URL "
                               "such as https://api.openai.com/v1, got \"%s\"",
                           base);
    int insecure_ok = 0;
    rc = found(h->config_bool(ctx, "allow_insecure_http", &insecure_ok, err), &present);
    if (rc)
        return rc;
    if (oai_url_insecure(base) && !insecure_ok)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "base_url \"%s\" is plain http:// to a host that is not "
                               "this machine: the API key and the students' questions "
                               "would travel unencrypted. Use https://, or set "
                               "allow_insecure_http: true if the network is trusted",
                           base);
    size_t n = strlen(base);
    while (n > 8 && base[n - 1] == '/')
        n--;
    if (asprintf(&o->url, "%.*s/chat/completions", (int)n, base) < 0) {
        o->url = NULL;
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, PFX "out of memory");
    }
    rc = found(h->config_string(ctx, "model", &o->model, err), &present);
    if (rc)
        return rc;
    if (!present || !o->model[0])
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "model is required (the provider's model "
                               "name, e.g. model: gpt-4o-mini)");
    return LMS_OK;
}

/* The key from the environment variable api_key_env names. Goes into
 * the Authorization header, so no byte may break a header line. */
static int api_key(const struct lms_host *h, struct lms_plugin_ctx *ctx,
                   oai_options *o, lms_err *err)
{
    const char *name = "OPENAI_API_KEY";
    int present, rc = found(h->config_string(ctx, "api_key_env", &name, err),
                            &present);
    if (rc)
        return rc;
    if (!name[0])
        return LMS_OK; /* a local server that needs no key */
    const char *key = getenv(name);
    if (!key)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "api_key_env names the environment variable "
                               "%s, which is not set: set it in lmsd's "
                               "environment, or use api_key_env: \"\" for a "
                               "server that needs no key",
                           name);
    for (const char *p = key; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               PFX "the environment variable %s holds a "
                                   "space or control character; an API key "
                                   "has none",
                               name);
    if (!key[0])
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "the environment variable %s (api_key_env) "
                               "is empty",
                           name);
    o->api_key = strdup(key);
    if (!o->api_key)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, PFX "out of memory");
    return LMS_OK;
}

/* max_tokens, its field name, and temperature. */
static int sampling(const struct lms_host *h, struct lms_plugin_ctx *ctx,
                    oai_options *o, lms_err *err)
{
    int present, rc;
    if ((rc = integer(h, ctx, "max_tokens", 1, 1000000, &o->max_tokens, err)))
        return rc;
    rc = found(h->config_string(ctx, "max_tokens_field", &o->max_tokens_field,
                                err),
               &present);
    if (rc)
        return rc;
    if (strcmp(o->max_tokens_field, "max_completion_tokens") != 0 &&
        strcmp(o->max_tokens_field, "max_tokens") != 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "max_tokens_field: expected "
                               "max_completion_tokens or max_tokens, got "
                               "\"%s\"",
                           o->max_tokens_field);
    const char *t;
    rc = found(h->config_string(ctx, "temperature", &t, err), &present);
    if (rc || !present)
        return rc;
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (errno || end == t || *end || !isfinite(v) || v < 0 || v > 2)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "temperature: expected a number from 0 to 2, "
                               "got \"%s\"",
                           t);
    /* "%g" of the value, not the text: ".5" or "+1" would pass strtod but
     * not a JSON parser */
    snprintf(o->temperature, sizeof o->temperature, "%g", v);
    return LMS_OK;
}

/* Timeouts, retries and streaming. */
static int behaviour(const struct lms_host *h, struct lms_plugin_ctx *ctx,
                     oai_options *o, lms_err *err)
{
    long long retries = o->retries;
    int present, rc;
    if ((rc = duration(h, ctx, "connect_timeout", 1, &o->connect_timeout_ms,
                       err)) ||
        (rc = duration(h, ctx, "timeout", 1, &o->timeout_ms, err)) ||
        (rc = duration(h, ctx, "backoff_base", 0, &o->backoff_base_ms, err)) ||
        (rc = duration(h, ctx, "backoff_max", 0, &o->backoff_max_ms, err)) ||
        (rc = integer(h, ctx, "retries", 0, 10, &retries, err)) ||
        (rc = found(h->config_bool(ctx, "stream", &o->stream, err), &present)))
        return rc;
    if (o->backoff_max_ms < o->backoff_base_ms)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           PFX "backoff_max (%lldms) is shorter than "
                               "backoff_base (%lldms)",
                           (long long)o->backoff_max_ms,
                           (long long)o->backoff_base_ms);
    o->retries = (int)retries;
    return LMS_OK;
}

int oai_options_read(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                     oai_options *o, lms_err *err)
{
    *o = (oai_options){
        .max_tokens = 512,
        .max_tokens_field = "max_completion_tokens",
        .connect_timeout_ms = 10000,
        .timeout_ms = 60000,
        .backoff_base_ms = 500,
        .backoff_max_ms = 8000,
        .retries = 3,
        .stream = 1,
    };
    int rc;
    if ((rc = endpoint(host, ctx, o, err)) ||
        (rc = sampling(host, ctx, o, err)) ||
        (rc = behaviour(host, ctx, o, err)) ||
        (rc = api_key(host, ctx, o, err))) {
        oai_options_free(o);
        return rc;
    }
    return LMS_OK;
}

void oai_options_free(oai_options *o)
{
    free(o->url);
    o->url = NULL;
    if (o->api_key) {
        explicit_bzero(o->api_key, strlen(o->api_key));
        free(o->api_key);
        o->api_key = NULL;
    }
}

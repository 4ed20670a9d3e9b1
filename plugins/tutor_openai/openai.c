/* SPDX-License-Identifier: MIT */
/*
 * openai.c: tutor_openai, an asynchronous tutor plugin that asks an
 * OpenAI-compatible Chat Completions endpoint (OpenAI itself, or Ollama,
 * llama.cpp's server, vLLM through base_url) and streams the answer back.
 *
 * This file is the plugin's face: the descriptor, init and shutdown, and
 * the ask/cancel entry points, which hand over to openai_request.c. Every
 * call runs on lmsd's loop thread; libcurl's multi interface runs on the
 * same loop (openai_http.c), so no call here ever blocks. Options are
 * listed in openai_options.c, the error mapping in openai_policy.c.
 */
#include "openai.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int64_t oai_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void oai_log(oai_instance *in, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    oai_redact(line, in->opt.api_key);
    in->host->log(in->ctx, level, "%s", line);
}

/* Free everything; the key is wiped from the headers and the options. */
static void instance_free(oai_instance *in)
{
    oai_http_free(in);
    for (struct curl_slist *h = in->headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(in->headers);
    oai_options_free(&in->opt);
    curl_global_cleanup();
    free(in);
}

void oai_enter(oai_instance *in)
{
    in->depth++;
}

void oai_leave(oai_instance *in)
{
    if (--in->depth == 0 && in->dying)
        instance_free(in);
}

/* The headers every attempt sends, the bearer key among them. */
static int headers(oai_instance *in)
{
    static const char *const fixed[] = {
        "Content-Type: application/json",
        "Expect:", /* no 100-continue round trip for bigger bodies */
    };
    struct curl_slist *l = NULL, *n;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!(n = curl_slist_append(l, fixed[i])))
            goto fail;
        l = n;
    }
    n = curl_slist_append(l, in->opt.stream
                                 ? "Accept: text/event-stream, application/json"
                                 : "Accept: application/json");
    if (!n)
        goto fail;
    l = n;
    if (in->opt.api_key) {
        char *auth;
        if (asprintf(&auth, "Authorization: Bearer %s", in->opt.api_key) < 0)
            goto fail;
        n = curl_slist_append(l, auth);
        explicit_bzero(auth, strlen(auth));
        free(auth);
        if (!n)
            goto fail;
        l = n;
    }
    in->headers = l;
    return 0;
fail:
    curl_slist_free_all(l);
    return -1;
}

/* Warn about setups that work but should not be left that way. */
static void sanity_warnings(oai_instance *in)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (!(v->features & CURL_VERSION_ASYNCHDNS))
        oai_log(in, LMS_LOG_WARN, "this libcurl resolves host names "
                "synchronously: a slow DNS server will stall lmsd's loop");
    const char *u = in->opt.url;
    if (in->opt.api_key && strncmp(u, "http://", 7) == 0 &&
        strncmp(u + 7, "localhost", 9) != 0 && strncmp(u + 7, "127.", 4) != 0 &&
        strncmp(u + 7, "[::1]", 5) != 0)
        oai_log(in, LMS_LOG_WARN, "the API key goes to %s over plain http", u);
}

static int oai_init(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                    void **inst, lms_err *err)
{
    struct event_base *base = host->event_base ? host->event_base(ctx) : NULL;
    if (!base)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "tutor_openai: needs lmsd's event loop, and the "
                           "host offered none");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return lms_err_set(err, LMS_INTERNAL,
                           "tutor_openai: libcurl failed to initialise");
    oai_instance *in = calloc(1, sizeof *in);
    if (!in) {
        curl_global_cleanup();
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "tutor_openai: out of memory");
    }
    *in = (oai_instance){.host = host, .ctx = ctx, .base = base};
    int rc = oai_options_read(host, ctx, &in->opt, err);
    if (rc == LMS_OK && headers(in) < 0)
        rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                         "tutor_openai: out of memory");
    if (rc == LMS_OK)
        rc = oai_http_init(in, err);
    if (rc != LMS_OK) {
        instance_free(in);
        return rc;
    }
    if (getrandom(&in->rng, sizeof in->rng, GRND_NONBLOCK) != sizeof in->rng)
        in->rng = (uint64_t)oai_now_ms() ^ ((uint64_t)getpid() << 32);
    sanity_warnings(in);
    oai_log(in, LMS_LOG_INFO, "%s at %s (%s, up to %d retries, %s key)",
            in->opt.model, in->opt.url,
            in->opt.stream ? "streaming" : "whole answers", in->opt.retries,
            in->opt.api_key ? "with a" : "no");
    *inst = in;
    return LMS_OK;
}

/* Any question still in flight ends with LMS_CANCELLED first. */
static void oai_shutdown(void *inst)
{
    oai_instance *in = inst;
    if (!in)
        return;
    in->dying = 1;
    oai_enter(in);
    oai_request_cancel_all(in);
    oai_leave(in);
}

static int oai_ask(void *inst, const lms_tutor_question *q,
                   const lms_tutor_reply *reply, lms_err *err)
{
    return oai_request_start(inst, q, reply, err);
}

static void oai_cancel(void *inst, void *arg)
{
    oai_request_cancel(inst, arg);
}

static const struct lms_tutor_ops ops = {
    .size = sizeof(struct lms_tutor_ops),
    .flags = LMS_TUTOR_STREAMS,
    .init = oai_init,
    .shutdown = oai_shutdown,
    .ask = oai_ask,
    .cancel = oai_cancel,
};

static const struct lms_plugin_descriptor descriptor = {
    .magic = LMS_PLUGIN_MAGIC,
    .abi_major = LMS_ABI_MAJOR,
    .abi_minor = LMS_ABI_MINOR,
    .descriptor_size = sizeof(struct lms_plugin_descriptor),
    .kind = LMS_PLUGIN_TUTOR,
    .name = "tutor_openai",
    .version = "0.1.0",
    .description = "OpenAI-compatible Chat Completions over libcurl, "
                   "streamed, with retries",
    .ops = &ops,
    .ops_size = sizeof ops,
};

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void);

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void)
{
    return &descriptor;
}

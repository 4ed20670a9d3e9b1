/* SPDX-License-Identifier: MIT */
/*
 * openai_policy.c: what a failed attempt means. One table-like function
 * decides, from curl's result and the HTTP status, whether another attempt
 * may help and which lms status and student-readable message to give if
 * not; the backoff between attempts and the masking of secrets live here
 * too. No I/O, so it reads as the policy it is.
 *
 *   what happened                    retry  status if final
 *   connect/DNS/TLS handshake/reset  yes    UNAVAILABLE
 *   attempt timed out                yes    DEADLINE_EXCEEDED
 *   TLS certificate refused          no     UNAVAILABLE
 *   other curl failures              no     UNAVAILABLE
 *   HTTP 408, 409, 5xx               yes    UNAVAILABLE
 *   HTTP 429                         yes    RESOURCE_EXHAUSTED
 *   error code insufficient_quota    no     RESOURCE_EXHAUSTED
 *   HTTP 401, 403                    no     PERMISSION_DENIED
 *   other HTTP 4xx (400, 404, 422)   no     INVALID_ARGUMENT
 *   HTTP 3xx (we follow no redirect) no     UNAVAILABLE
 *   anything else (a broken 2xx)     no     INTERNAL
 * Nothing is retried once part of the answer reached the student.
 */
#include "openai.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ASK_LATER "try again later or ask your instructor"

static void set(oai_verdict *v, int status, int retryable, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

static void set(oai_verdict *v, int status, int retryable, const char *fmt,
                ...)
{
    va_list ap;
    va_start(ap, fmt);
    v->status = status;
    v->retryable = retryable;
    vsnprintf(v->msg, sizeof v->msg, fmt, ap);
    va_end(ap);
}

static int is_quota(const oai_api_error *e)
{
    return e && (strcmp(e->code, "insufficient_quota") == 0 ||
                 strcmp(e->type, "insufficient_quota") == 0);
}

/* A transfer that failed before a usable HTTP status arrived. */
static void judge_transfer(CURLcode res, int delivered, oai_verdict *v)
{
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        if (delivered)
            set(v, LMS_DEADLINE_EXCEEDED, 0,
                "the tutor stopped answering partway through; " ASK_LATER);
        else
            set(v, LMS_DEADLINE_EXCEEDED, 1,
                "the tutor took too long to answer; " ASK_LATER);
        return;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        if (delivered)
            set(v, LMS_UNAVAILABLE, 0,
                "the tutor's answer was cut off; " ASK_LATER);
        else
            set(v, LMS_UNAVAILABLE, 1,
                "the tutor cannot be reached right now; " ASK_LATER);
        return;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        set(v, LMS_UNAVAILABLE, 0,
            "the tutor's server could not be verified (its TLS certificate "
            "was refused); ask your instructor");
        return;
    default:
        set(v, LMS_UNAVAILABLE, 0,
            "the tutor could not send the question (%s); ask your instructor",
            curl_easy_strerror(res));
        return;
    }
}

/* An HTTP status other than 200 (or a 200 we could not use). */
static void judge_http(long http, const oai_api_error *e, oai_verdict *v)
{
    if (http == 401 || http == 403)
        set(v, LMS_PERMISSION_DENIED, 0,
            "the tutor's provider refused its credentials; ask your "
            "instructor to check the tutor's API key");
    else if (http == 429)
        set(v, LMS_RESOURCE_EXHAUSTED, 1,
            "the tutor is busy (rate limited); try again in a minute or ask "
            "your instructor");
    else if (http == 408 || http == 409 || (http >= 500 && http <= 599))
        set(v, LMS_UNAVAILABLE, 1,
            "the tutor is unavailable right now (its provider answered HTTP "
            "%ld); " ASK_LATER,
            http);
    else if (http >= 400 && http <= 499)
        set(v, LMS_INVALID_ARGUMENT, 0,
            "the tutor could not take this question (its provider answered "
            "HTTP %ld%s%s); ask your instructor",
            http, e && e->message[0] ? ": " : "", e ? e->message : "");
    else if (http >= 300 && http <= 399)
        set(v, LMS_UNAVAILABLE, 0,
            "the tutor is not set up correctly (its provider answered HTTP "
            "%ld); ask your instructor",
            http);
    else
        set(v, LMS_INTERNAL, 0, "the tutor sent a broken answer");
}

void oai_judge(CURLcode res, long http, const oai_api_error *e, int delivered,
               oai_verdict *v)
{
    if (http >= 400 && is_quota(e))
        set(v, LMS_RESOURCE_EXHAUSTED, 0,
            "the tutor's quota is exhausted; ask your instructor");
    else if (http >= 300 || (res == CURLE_OK && http))
        judge_http(http, e, v);
    else
        judge_transfer(res, delivered, v);
    if (delivered)
        v->retryable = 0;
}

/* xorshift64*: plenty for spreading retries; not for secrets. */
static uint64_t next_random(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

int64_t oai_backoff_ms(int n, int64_t base, int64_t max, uint64_t *rng)
{
    int64_t cap = base;
    for (int i = 1; i < n && cap < max; i++)
        cap *= 2;
    if (cap > max)
        cap = max;
    if (cap <= 0)
        return 0;
    return (int64_t)(next_random(rng) % (uint64_t)(cap + 1));
}

void oai_redact(char *s, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    if (!s || n == 0)
        return;
    for (char *p = strstr(s, secret); p; p = strstr(p + n, secret))
        memset(p, '*', n);
}

/* Whether the n bytes at h name a loopback host. */
static int loopback_host(const char *h, size_t n)
{
    if ((n == 9 && !strncasecmp(h, "localhost", 9)) || (n == 5 && !strncmp(h, "[::1]", 5)))
        return 1;
    if (n < 4 || strncmp(h, "127.", 4) != 0)
        return 0;
    for (size_t i = 4; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
            return 0;
    return 1;
}

int oai_url_insecure(const char *base_url)
{
    if (strncasecmp(base_url, "http://", 7) != 0)
        return 0;
    const char *h = base_url + 7;
    size_t auth = strcspn(h, "/?#");
    const char *at = memchr(h, '@', auth);
    if (at) { /* user:password@host */
        auth -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    size_t n = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#");
    if (n > auth)
        n = auth;
    return !loopback_host(h, n);
}

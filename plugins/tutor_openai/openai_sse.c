/* SPDX-License-Identifier: MIT */
/*
 * openai_sse.c: server-sent events framing (the WHATWG "text/event-stream"
 * format) as OpenAI-compatible servers use it for streamed answers, and the
 * growable buffer the rest of the plugin uses.
 *
 * Bytes arrive in whatever pieces the network delivers; a line may be split
 * anywhere, even between the '\r' and '\n' of a CRLF. Lines end with LF,
 * CRLF or CR. "data:" fields accumulate (joined by '\n') until a blank line
 * dispatches the event; comments (":...") and other fields (event, id,
 * retry) are ignored, which is all a chat completion stream needs.
 */
#include "openai.h"

#include <stdlib.h>
#include <string.h>

int oai_buf_add(oai_buf *b, const void *data, size_t n, size_t max)
{
    if (n > max || b->len > max - n)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void oai_buf_free(oai_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Dispatch the assembled event, if it has data, and start a new one. */
static int dispatch(oai_sse *s, oai_sse_fn fn, void *arg)
{
    if (!s->has_data)
        return 0;
    s->has_data = 0;
    size_t len = s->data.len;
    s->data.len = 0;
    return fn(arg, s->data.p ? s->data.p : "", len);
}

/* One complete line (without its terminator). */
static int line(oai_sse *s, const char *p, size_t n, oai_sse_fn fn, void *arg)
{
    if (n == 0)
        return dispatch(s, fn, arg);
    if (p[0] == ':')
        return 0; /* comment, e.g. ": keep-alive" */
    const char *colon = memchr(p, ':', n);
    size_t name_len = colon ? (size_t)(colon - p) : n;
    if (name_len != 4 || memcmp(p, "data", 4) != 0)
        return 0;
    const char *v = colon ? colon + 1 : p + n;
    if (v < p + n && *v == ' ')
        v++;
    size_t vlen = (size_t)(p + n - v);
    if (s->has_data && oai_buf_add(&s->data, "\n", 1, OAI_MAX_LINE) < 0)
        return -1;
    if (oai_buf_add(&s->data, v, vlen, OAI_MAX_LINE) < 0)
        return -1;
    s->has_data = 1;
    return 0;
}

/* The bytes of the current line, which may have started in an earlier
 * feed; taken straight from the input when it did not. */
static int end_line(oai_sse *s, const char *p, size_t n, oai_sse_fn fn,
                    void *arg)
{
    if (s->line.len == 0)
        return line(s, p, n, fn, arg);
    if (oai_buf_add(&s->line, p, n, OAI_MAX_LINE) < 0)
        return -1;
    size_t len = s->line.len;
    s->line.len = 0;
    return line(s, s->line.p, len, fn, arg);
}

int oai_sse_feed(oai_sse *s, const char *p, size_t n, oai_sse_fn fn, void *arg)
{
    const char *end = p + n;
    if (s->after_cr && p < end && *p == '\n')
        p++;
    s->after_cr = 0;
    while (p < end) {
        const char *q = p;
        while (q < end && *q != '\n' && *q != '\r')
            q++;
        if (q == end) /* an unfinished line: keep it for the next feed */
            return oai_buf_add(&s->line, p, (size_t)(q - p), OAI_MAX_LINE);
        int rc = end_line(s, p, (size_t)(q - p), fn, arg);
        if (rc)
            return rc;
        if (*q == '\r') {
            if (q + 1 == end)
                s->after_cr = 1;
            else if (q[1] == '\n')
                q++;
        }
        p = q + 1;
    }
    return 0;
}

int oai_sse_end(oai_sse *s, oai_sse_fn fn, void *arg)
{
    if (s->line.len) {
        int rc = end_line(s, "", 0, fn, arg);
        if (rc)
            return rc;
    }
    return dispatch(s, fn, arg);
}

void oai_sse_free(oai_sse *s)
{
    oai_buf_free(&s->line);
    oai_buf_free(&s->data);
    s->has_data = s->after_cr = 0;
}

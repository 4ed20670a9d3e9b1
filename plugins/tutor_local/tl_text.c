/* SPDX-License-Identifier: MIT */
/*
 * tl_text.c: the plain-text side of tutor_local: growable strings, making
 * untrusted text valid UTF-8, cutting a document into passages and picking
 * the excerpt of a passage that an answer quotes.
 *
 * Everything here is a pure function of its arguments, which is what makes
 * answers byte-for-byte deterministic. Words are runs of bytes between
 * ASCII spaces and newlines: after tl_clean_utf8() those are the only
 * whitespace left, and cutting there never splits a UTF-8 sequence.
 */
#include "tl_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable strings ---- */

/* Make room for extra more bytes and a NUL; -1 (and failed) if impossible. */
static int tl_buf_reserve(tl_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra < b->cap && b->len < b->cap - extra)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - 1 < b->len + extra) {
        if (cap > SIZE_MAX / 2 || b->len + extra < b->len) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *s = realloc(b->s, cap);
    if (s == NULL) {
        b->failed = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void tl_buf_add(tl_buf *b, const char *p, size_t n)
{
    if (tl_buf_reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void tl_buf_puts(tl_buf *b, const char *s)
{
    tl_buf_add(b, s, strlen(s));
}

void tl_buf_printf(tl_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
    } else if (tl_buf_reserve(b, (size_t)n) == 0) {
        vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void tl_buf_free(tl_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---- cleaning ---- */

/* Length of the well-formed UTF-8 sequence at p (n bytes available), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : lo;
        hi = c == 0xED ? 0x9F : hi;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : lo;
        hi = c == 0xF4 ? 0x8F : hi;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

int tl_clean_utf8(const char *text, size_t n, tl_buf *out)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t run = 0, i = 0; /* bytes p[run..i) are copied as they are */
    while (i < n) {
        size_t len = utf8_len(p + i, n - i);
        const char *put = NULL;
        if (len == 0)
            put = "\xEF\xBF\xBD"; /* U+FFFD */
        else if (p[i] == '\r')
            put = i + 1 < n && p[i + 1] == '\n' ? "" : "\n";
        else if (p[i] == '\n')
            len = 1;
        else if (p[i] < 0x20 || p[i] == 0x7F)
            put = " ";
        if (put == NULL) {
            i += len;
            continue;
        }
        tl_buf_add(out, text + run, i - run);
        tl_buf_puts(out, put);
        i += len ? len : 1;
        run = i;
    }
    tl_buf_add(out, text + run, n - run);
    return out->failed ? -1 : 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' ||
           c == '\f';
}

void tl_one_line(const char *text, size_t n, tl_buf *out)
{
    size_t i = 0;
    int first = 1;
    while (i < n) {
        while (i < n && is_space(text[i]))
            i++;
        size_t w = i;
        while (i < n && !is_space(text[i]))
            i++;
        if (i > w) {
            if (!first)
                tl_buf_add(out, " ", 1);
            tl_buf_add(out, text + w, i - w);
            first = 0;
        }
    }
    if (out->s == NULL)
        tl_buf_add(out, "", 0); /* "" rather than NULL */
}

uint32_t tl_count_words(const char *s)
{
    uint32_t n = 0;
    int in = 0;
    for (; *s; s++) {
        int sp = is_space(*s);
        if (!sp && !in)
            n++;
        in = !sp;
    }
    return n;
}

/* ---- passages ---- */

/* The words of a text as byte ranges. */
typedef struct tl_words {
    tl_span *w;
    size_t n, cap;
} tl_words;

static int words_of(const char *text, size_t n, tl_words *out)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && is_space(text[i]))
            i++;
        size_t start = i;
        while (i < n && !is_space(text[i]))
            i++;
        if (i == start)
            break;
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 256;
            tl_span *w = realloc(out->w, cap * sizeof *w);
            if (w == NULL)
                return -1;
            out->w = w;
            out->cap = cap;
        }
        out->w[out->n++] = (tl_span){start, i};
    }
    return 0;
}

/* Whether word i starts a paragraph: a blank line lies between it and the
 * word before. */
static int para_start(const char *text, const tl_words *ws, size_t i)
{
    if (i == 0)
        return 1;
    int nl = 0;
    for (size_t k = ws->w[i - 1].end; k < ws->w[i].start; k++)
        nl += text[k] == '\n';
    return nl >= 2;
}

/* Append words [a, b) as one passage: single spaces, "\n" between
 * paragraphs, then the NUL that ends it. */
static void emit(const char *text, const tl_words *ws, size_t a, size_t b,
                 tl_buf *out, size_t *count)
{
    if (*count >= TL_MAX_PASSAGES || a >= b)
        return;
    for (size_t i = a; i < b; i++) {
        if (i > a)
            tl_buf_add(out, para_start(text, ws, i) ? "\n" : " ", 1);
        tl_buf_add(out, text + ws->w[i].start,
                   ws->w[i].end - ws->w[i].start);
    }
    tl_buf_add(out, "", 1);
    (*count)++;
}

/* Cut the paragraph of words [a, b), longer than max, into overlapping
 * windows; the last one is aligned to the paragraph's end. */
static void emit_windows(const char *text, const tl_words *ws, size_t a,
                         size_t b, size_t max, tl_buf *out, size_t *count)
{
    size_t step = max - max / 8, s = a;
    for (;;) {
        if (s + max >= b) {
            emit(text, ws, b - max, b, out, count);
            return;
        }
        emit(text, ws, s, s + max, out, count);
        s += step;
    }
}

int tl_split_passages(const char *text, size_t n, int words, tl_buf *out,
                      size_t *count)
{
    tl_words ws = {0};
    size_t max = words > 0 ? (size_t)words : 1;
    *count = 0;
    if (words_of(text, n, &ws) != 0) {
        free(ws.w);
        return -1;
    }
    size_t pa = 0, pb = 0; /* the passage being packed: words [pa, pb) */
    size_t i = 0;
    while (i < ws.n) {
        size_t end = i + 1; /* this paragraph: words [i, end) */
        while (end < ws.n && !para_start(text, &ws, end))
            end++;
        if (pb - pa + (end - i) <= max) {
            if (pb == pa)
                pa = i;
            pb = end;
        } else {
            emit(text, &ws, pa, pb, out, count);
            pa = pb = i;
            if (end - i <= max)
                pb = end;
            else
                emit_windows(text, &ws, i, end, max, out, count);
        }
        i = end;
    }
    emit(text, &ws, pa, pb, out, count);
    free(ws.w);
    return out->failed ? -1 : 0;
}

/* ---- excerpts ---- */

/* A word of the excerpt's region, the sentence it belongs to and the
 * phrases that hit it. */
typedef struct tl_xword {
    tl_span at;
    size_t sentence;
    uint64_t mask;
    uint32_t hits;
} tl_xword;

/* Whether the sentence ends after word w: a newline follows, or it ends in
 * . ! ? (before closing quotes or brackets) and the next word does not
 * start with a lowercase ASCII letter ("e.g. this" goes on). */
static int ends_sentence(const char *body, const tl_span *w,
                         const tl_span *next)
{
    if (next == NULL || memchr(body + w->end, '\n', next->start - w->end))
        return 1;
    size_t e = w->end;
    while (e > w->start && strchr("\"')]", body[e - 1]))
        e--;
    if (e == w->start || strchr(".!?", body[e - 1]) == NULL)
        return 0;
    char c = body[next->start];
    return !(c >= 'a' && c <= 'z');
}

/* The words of body[from..len) with their sentences and hits; -1 when out
 * of memory. */
static int xwords_of(const char *body, size_t len, size_t from,
                     const tl_hit *hits, size_t nhits, tl_xword **out,
                     size_t *n)
{
    tl_words ws = {0};
    if (words_of(body + from, len - from, &ws) != 0) {
        free(ws.w);
        return -1;
    }
    tl_xword *x = calloc(ws.n ? ws.n : 1, sizeof *x);
    if (x == NULL) {
        free(ws.w);
        return -1;
    }
    size_t s = 0;
    for (size_t i = 0; i < ws.n; i++) {
        x[i].at = (tl_span){ws.w[i].start + from, ws.w[i].end + from};
        x[i].sentence = s;
        if (ends_sentence(body + from, &ws.w[i],
                          i + 1 < ws.n ? &ws.w[i + 1] : NULL))
            s++;
    }
    for (size_t h = 0; h < nhits; h++)
        for (size_t i = 0; i < ws.n; i++)
            if (hits[h].start >= x[i].at.start && hits[h].start < x[i].at.end) {
                x[i].mask |= hits[h].phrase < 64 ? 1ull << hits[h].phrase : 0;
                x[i].hits++;
                break;
            }
    free(ws.w);
    *out = x;
    *n = ws.n;
    return 0;
}

/* The first word of the best sentence: most distinct phrases, then most
 * hits, then the earliest. */
static size_t best_sentence(const tl_xword *x, size_t n)
{
    size_t best = 0, i = 0;
    int best_kinds = -1;
    uint32_t best_hits = 0;
    while (i < n) {
        size_t j = i;
        uint64_t mask = 0;
        uint32_t hits = 0;
        for (; j < n && x[j].sentence == x[i].sentence; j++) {
            mask |= x[j].mask;
            hits += x[j].hits;
        }
        int kinds = __builtin_popcountll(mask);
        if (kinds > best_kinds || (kinds == best_kinds && hits > best_hits)) {
            best = i;
            best_kinds = kinds;
            best_hits = hits;
        }
        i = j;
    }
    return best;
}

/* The word after the sentence that starts at word i. */
static size_t sentence_end(const tl_xword *x, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && x[j].sentence == x[i].sentence)
        j++;
    return j;
}

void tl_excerpt(const char *body, size_t len, size_t from, const tl_hit *hits,
                size_t nhits, int max_words, tl_buf *out)
{
    tl_xword *x = NULL;
    size_t n = 0;
    if (from > len || xwords_of(body, len, from, hits, nhits, &x, &n) != 0) {
        out->failed = 1;
        return;
    }
    if (n > 0) {
        size_t a = best_sentence(x, n), b = sentence_end(x, n, a);
        if (b - a < 10 && b < n) /* a very short sentence: add the next */
            b = sentence_end(x, n, b);
        size_t max = max_words > 0 ? (size_t)max_words : 1;
        size_t s = a, e = b;
        if (e - s > max) {
            size_t first = s;
            while (first < e && x[first].hits == 0)
                first++;
            s = first == e || first < s + 5 ? s : first - 5;
            if (s + max > e)
                s = e - max;
            e = s + max;
        }
        if (s > a)
            tl_buf_puts(out, "\xE2\x80\xA6"); /* … */
        for (size_t i = s; i < e; i++) {
            if (i > s)
                tl_buf_add(out, " ", 1);
            tl_buf_add(out, body + x[i].at.start, x[i].at.end - x[i].at.start);
        }
        if (e < b)
            tl_buf_puts(out, "\xE2\x80\xA6");
    }
    free(x);
}

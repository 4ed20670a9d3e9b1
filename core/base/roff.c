/* SPDX-License-Identifier: MIT */
/*
 * roff.c: escaping text for manual pages (see roff.h for the rules).
 */
#include "roff.h"

#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* One character of s at *p (advanced past it) to f. at_line_start says
 * whether it begins an output line, where '.' and '\'' are requests. */
static void put_char(FILE *f, const unsigned char **p, size_t left, int at_line_start,
                     unsigned flags)
{
    unsigned char c = **p;
    if (c >= 0x80) {
        size_t len = utf8_char_len(*p, left);
        if (len == 0) { /* not UTF-8: a visible stand-in, never a raw byte */
            fputs("?", f);
            *p += 1;
            return;
        }
        fprintf(f, "\\[u%04X]", (unsigned)utf8_decode(*p, len));
        *p += len;
        return;
    }
    *p += 1;
    if (at_line_start && (c == '.' || c == '\''))
        fputs("\\&", f);
    switch (c) {
    case '\\': fputs("\\e", f); return;
    case '-': fputs("\\-", f); return;
    case '"':
        fputs(flags & ROFF_ARG ? "\\(dq" : "\"", f);
        return;
    case '\t': fputc(' ', f); return;
    case '\n':
        /* a quoted argument is one line: the break becomes a space */
        fputc(flags & ROFF_ARG ? ' ' : '\n', f);
        return;
    default:
        if (c >= 0x20 && c != 0x7f)
            fputc(c, f);
    }
}

char *roff_escape(const char *s, unsigned flags)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    const unsigned char *end = p + strlen((const char *)p);
    int line_start = 1;
    while (p < end) {
        int newline = *p == '\n';
        put_char(f, &p, (size_t)(end - p), line_start && !(flags & ROFF_ARG), flags);
        line_start = newline;
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

void roff_put(FILE *f, const char *s, unsigned flags)
{
    char *e = roff_escape(s, flags);
    if (e)
        fputs(e, f);
    free(e);
}

void roff_request(FILE *f, const char *request, const char *arg)
{
    fprintf(f, "%s \"", request);
    roff_put(f, arg, ROFF_ARG);
    fputs("\"\n", f);
}

/* A font switch around the text, and back to the regular font. */
static void roff_font(FILE *f, char font, const char *text)
{
    fprintf(f, "\\f%c", font);
    roff_put(f, text, 0);
    fputs("\\fR", f);
}

void roff_bold(FILE *f, const char *text) { roff_font(f, 'B', text); }

void roff_italic(FILE *f, const char *text) { roff_font(f, 'I', text); }

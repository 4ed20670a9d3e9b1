/* SPDX-License-Identifier: MIT */
/*
 * csv.c: the RFC 4180 reader behind csv.h. One pass over the buffer, one
 * field at a time into a growing string; no allocation per character.
 */
#include "csv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A field being built. */
struct field_buf {
    char *s;
    size_t len, cap;
};

static bool fb_put(struct field_buf *fb, char c)
{
    if (fb->len + 1 >= fb->cap) {
        size_t cap = fb->cap ? fb->cap * 2 : 64;
        char *s = realloc(fb->s, cap);
        if (s == NULL)
            return false;
        fb->s = s;
        fb->cap = cap;
    }
    fb->s[fb->len++] = c;
    return true;
}

void lms_csv_init(struct lms_csv *csv, const char *data, size_t len)
{
    csv->p = data;
    csv->end = data + len;
    csv->line = 1;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        csv->p += 3;
}

void lms_csv_record_free(struct lms_csv_record *rec)
{
    for (size_t i = 0; i < rec->nfields; i++)
        free(rec->fields[i]);
    free(rec->fields);
    rec->fields = NULL;
    rec->nfields = rec->cap = 0;
}

/* Length of the line break at p (LF or CRLF), 0 if there is none. */
static size_t newline_at(const struct lms_csv *csv, const char *p)
{
    if (p < csv->end && *p == '\n')
        return 1;
    if (p + 1 < csv->end && p[0] == '\r' && p[1] == '\n')
        return 2;
    return 0;
}

/* Hand the finished field over to rec. */
static bool push_field(struct lms_csv_record *rec, struct field_buf *fb)
{
    if (rec->nfields == rec->cap) {
        size_t cap = rec->cap ? rec->cap * 2 : 8;
        char **f = realloc(rec->fields, cap * sizeof *f);
        if (f == NULL)
            return false;
        rec->fields = f;
        rec->cap = cap;
    }
    if (fb->s == NULL && !fb_put(fb, '\0'))
        return false;
    fb->s[fb->len] = '\0';
    rec->fields[rec->nfields++] = fb->s;
    *fb = (struct field_buf){0};
    return true;
}

/* Move to the start of the line after the one holding from. */
static void resync(struct lms_csv *csv, const char *from)
{
    const char *nl = memchr(from, '\n', (size_t)(csv->end - from));
    csv->p = nl ? nl + 1 : csv->end;
}

enum scan { SCAN_FIELD, SCAN_RECORD_END, SCAN_ERROR };

/* Read a quoted field; csv->p is just past the opening quote. */
static enum scan scan_quoted(struct lms_csv *csv, struct field_buf *fb, const char **why)
{
    for (;;) {
        if (csv->p >= csv->end) {
            *why = "unterminated quoted field";
            return SCAN_ERROR;
        }
        char c = *csv->p++;
        if (c == '"') {
            if (csv->p < csv->end && *csv->p == '"') {
                csv->p++;
            } else {
                break;
            }
        } else if (c == '\n') {
            csv->line++;
        } else if (c == '\0') {
            *why = "NUL byte in field";
            return SCAN_ERROR;
        }
        if (!fb_put(fb, c)) {
            *why = "out of memory";
            return SCAN_ERROR;
        }
    }
    if (csv->p >= csv->end)
        return SCAN_RECORD_END;
    if (*csv->p == ',') {
        csv->p++;
        return SCAN_FIELD;
    }
    size_t nl = newline_at(csv, csv->p);
    if (nl == 0) {
        *why = "unexpected text after a closing quote";
        return SCAN_ERROR;
    }
    csv->p += nl;
    csv->line++;
    return SCAN_RECORD_END;
}

/* Read an unquoted field up to a comma, a line break or the end. */
static enum scan scan_plain(struct lms_csv *csv, struct field_buf *fb, const char **why)
{
    while (csv->p < csv->end) {
        size_t nl = newline_at(csv, csv->p);
        if (nl) {
            csv->p += nl;
            csv->line++;
            return SCAN_RECORD_END;
        }
        char c = *csv->p++;
        if (c == ',')
            return SCAN_FIELD;
        if (c == '\0') {
            *why = "NUL byte in field";
            return SCAN_ERROR;
        }
        if (!fb_put(fb, c)) {
            *why = "out of memory";
            return SCAN_ERROR;
        }
    }
    return SCAN_RECORD_END;
}

int lms_csv_next(struct lms_csv *csv, struct lms_csv_record *rec, char *err, size_t errlen)
{
    lms_csv_record_free(rec);
    for (size_t nl; (nl = newline_at(csv, csv->p)) != 0; csv->line++)
        csv->p += nl;
    if (csv->p >= csv->end)
        return 0;

    const char *start = csv->p;
    const char *why = NULL;
    struct field_buf fb = {0};
    enum scan sc;
    rec->line = csv->line;
    do {
        if (csv->p < csv->end && *csv->p == '"') {
            csv->p++;
            sc = scan_quoted(csv, &fb, &why);
        } else {
            sc = scan_plain(csv, &fb, &why);
        }
        if (sc != SCAN_ERROR && !push_field(rec, &fb)) {
            why = "out of memory";
            sc = SCAN_ERROR;
        }
    } while (sc == SCAN_FIELD);

    if (sc == SCAN_ERROR) {
        free(fb.s);
        lms_csv_record_free(rec);
        snprintf(err, errlen, "%s", why);
        /* An unterminated quote was most likely a stray one: go on with the
         * line after the record's first rather than lose the rest of the
         * file. Other errors: go on after the offending line. */
        if (csv->p >= csv->end) {
            resync(csv, start);
            csv->line = rec->line + 1;
        } else {
            resync(csv, csv->p);
            csv->line++;
        }
        return -1;
    }
    return 1;
}

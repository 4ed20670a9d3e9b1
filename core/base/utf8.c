/* SPDX-License-Identifier: MIT */
/*
 * utf8.c: see utf8.h. Byte-level and locale-free, so that every node
 * judges the same bytes the same way.
 */
#include "utf8.h"

#include <stdint.h>
#include <stdio.h>

size_t utf8_char_len(const unsigned char *p, size_t n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = p[0] < 0x80   ? 1
                 : p[0] < 0xC0 ? 0
                 : p[0] < 0xE0 ? 2
                 : p[0] < 0xF0 ? 3
                 : p[0] < 0xF8 ? 4
                               : 0;
    if (len < 2)
        return len;
    if (n < len)
        return 0;
    uint32_t cp = p[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_char_len(p + i, n - i)) == 0)
            return 0;
    return 1;
}

size_t utf8_prefix(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t i = max;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

void utf8_repair(char *s, size_t n)
{
    unsigned char *p = (unsigned char *)s;
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_char_len(p + i, n - i)) == 0) {
            p[i] = '?';
            k = 1;
        }
}

uint32_t utf8_decode(const unsigned char *p, size_t len)
{
    if (len <= 1)
        return p[0];
    uint32_t cp = p[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++)
        cp = cp << 6 | (p[i] & 0x3Fu);
    return cp;
}

/* Invisible format characters that hide or reorder text, as ranges. */
static const struct { uint32_t lo, hi; } hidden[] = {
    {0x061C, 0x061C}, /* ARABIC LETTER MARK */
    {0x200B, 0x200F}, /* zero widths, LRM, RLM */
    {0x2028, 0x2029}, /* line and paragraph separators */
    {0x202A, 0x202E}, /* bidi embeddings and overrides */
    {0x2060, 0x2064}, /* word joiner, invisible operators */
    {0x2066, 0x2069}, /* bidi isolates */
    {0x206A, 0x206F}, /* deprecated format characters */
    {0xFEFF, 0xFEFF}, /* zero width no-break space, BOM */
    {0xFFF9, 0xFFFB}, /* interlinear annotations */
};

int utf8_cp_allowed(uint32_t cp, enum utf8_text_kind kind)
{
    if (cp < 0x20)
        return kind == UTF8_MULTILINE && (cp == '\n' || cp == '\t');
    if (cp >= 0x7F && cp <= 0x9F)
        return 0;
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
        if (cp >= hidden[i].lo && cp <= hidden[i].hi)
            return 0;
    return 1;
}

int utf8_text_check(const char *field, const char *s, size_t n,
                    enum utf8_text_kind kind, char *msg, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, k; i < n; i += k) {
        k = utf8_char_len(p + i, n - i);
        if (k == 0) {
            snprintf(msg, cap, "%s is not valid UTF-8 (byte %zu)", field, i);
            return -1;
        }
        uint32_t cp = utf8_decode(p + i, k);
        if (utf8_cp_allowed(cp, kind))
            continue;
        int control = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
        snprintf(msg, cap,
                 "%s contains %s (U+%04X); %s", field,
                 control ? "a control character" : "an invisible formatting character",
                 (unsigned)cp,
                 kind == UTF8_MULTILINE
                     ? "only printable text, newlines and tabs are allowed"
                     : "only printable text on one line is allowed");
        return -1;
    }
    return 0;
}

void utf8_text_scrub(char *s, size_t n, enum utf8_text_kind kind)
{
    unsigned char *p = (unsigned char *)s;
    for (size_t i = 0, k; i < n; i += k) {
        k = utf8_char_len(p + i, n - i);
        if (k == 0)
            k = 1;
        else if (utf8_cp_allowed(utf8_decode(p + i, k), kind))
            continue;
        for (size_t j = 0; j < k; j++)
            p[i + j] = '?';
    }
}

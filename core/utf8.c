/*
 * utf8.c: see utf8.h. Byte-level and locale-free, so that every node
 * judges the same bytes the same way.
 */
#include "utf8.h"

#include <stdint.h>

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

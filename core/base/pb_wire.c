/* SPDX-License-Identifier: MIT */
/*
 * pb_wire.c: see pb_wire.h.
 */
#include "pb_wire.h"

int pb_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

int pb_wire_has_field(const uint8_t *p, size_t len, uint64_t field)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag, n;
        if (pb_wire_varint(&p, end, &tag) != 0)
            return 0;
        switch (tag & 7) {
        case 0:
            if (pb_wire_varint(&p, end, &n) != 0)
                return 0;
            break;
        case 1:
            if (end - p < 8)
                return 0;
            p += 8;
            break;
        case 2:
            if (pb_wire_varint(&p, end, &n) != 0 || n > (uint64_t)(end - p))
                return 0;
            if ((tag >> 3) == field)
                return 1;
            p += n;
            break;
        case 5:
            if (end - p < 4)
                return 0;
            p += 4;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * pb_text.c: see pb_text.h. A minimal walk of the protobuf wire format:
 * varints, fixed32/64 and length-delimited fields; strings are searched,
 * nested messages are walked (to a bounded depth), everything else is
 * skipped.
 */
#include "pb_text.h"

#include <stdio.h>
#include <string.h>

#define PB_MAX_DEPTH 32

/* Read a varint at *p (before end) into *v; 0, or -1 if it does not parse. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

static int walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
                int depth, char *msg, size_t cap)
{
    while (p < end) {
        uint64_t key, n;
        if (varint(&p, end, &key) < 0)
            return 0;
        switch (key & 7) {
        case 0:
            if (varint(&p, end, &n) < 0)
                return 0;
            break;
        case 1:
            if ((size_t)(end - p) < 8)
                return 0;
            p += 8;
            break;
        case 5:
            if ((size_t)(end - p) < 4)
                return 0;
            p += 4;
            break;
        case 2: {
            if (varint(&p, end, &n) < 0 || n > (uint64_t)(end - p))
                return 0;
            const ProtobufCFieldDescriptor *f =
                key >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, '\0', (size_t)n)) {
                char name[64];
                snprintf(name, sizeof name, "%s", f->name);
                for (char *u = strchr(name, '_'); u; u = strchr(u, '_'))
                    *u = ' '; /* "file name", as the other refusals say */
                snprintf(msg, cap,
                         "the %s contains a control character (U+0000); only printable "
                         "text is allowed",
                         name);
                return -1;
            }
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < PB_MAX_DEPTH &&
                walk(f->descriptor, p, p + n, depth + 1, msg, cap) < 0)
                return -1;
            p += n;
            break;
        }
        default:
            return 0; /* groups: not in lms's protocol */
        }
    }
    return 0;
}

int pb_text_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                  char *msg, size_t cap)
{
    return walk(d, data, data + len, 0, msg, cap);
}

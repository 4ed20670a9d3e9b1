/* SPDX-License-Identifier: MIT */
/*
 * pb_text.h: NUL bytes inside protobuf strings. protobuf-c hands a string
 * field over as a C string, so "report.pdf\0.exe" would silently become
 * "report.pdf"; this walks the encoded message before it is decoded and
 * finds them, so that the server refuses such a request instead.
 */
#ifndef LMS_CORE_PB_TEXT_H
#define LMS_CORE_PB_TEXT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the encoded message (len bytes at data, of type d) holds a
 * string field, at any depth, with a NUL byte in it: 0 if none (or the
 * bytes do not parse: the decoder judges those), else -1 with a message
 * naming the field in msg. */
int pb_text_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                  char *msg, size_t cap);

#endif

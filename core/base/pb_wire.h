/* SPDX-License-Identifier: MIT */
/*
 * pb_wire.h: reading protobuf's wire format without decoding, for the few
 * places that must look at a field of any bytes cheaply (a committed
 * entry on the loop, a snapshot record's kind). Every read is bounded by
 * the end given; malformed bytes are an answer ("no", -1), never a read
 * past the end.
 */
#ifndef LMS_CORE_PB_WIRE_H
#define LMS_CORE_PB_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Read a varint at *p (< end) into *v and move *p past it: 0, or -1 when
 * it runs past end or over 10 bytes. */
int pb_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* Does the encoded message (p, len) have a top-level, length-delimited
 * field number `field`? A walk over its fields' tags. Malformed: 0. */
int pb_wire_has_field(const uint8_t *p, size_t len, uint64_t field);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * output.h: how the clients show protocol messages. Both forms are driven by
 * the protobuf-c descriptors, so no message type needs its own printer:
 *
 *   --json   out_json_message() turns any message into a JSON object whose
 *            keys are the field names of client.proto. Times (every int64 in
 *            client.proto is a time) become ISO 8601 UTC strings, or null for
 *            0; enums become their names (roles in lower case, ROLE_NONE is
 *            null); bytes become lower-case hex. The secret fields token and
 *            password and the file contents (data) are never shown.
 *   text     out_table() prints aligned columns and out_fields() aligned
 *            "label: value" lines, picking fields by name, with an optional
 *            formatter per column. Control and bidi characters from the
 *            server are shown escaped (out_escape) so that they cannot
 *            drive the terminal or reorder what it shows.
 */
#ifndef LMS_CLIENTS_OUTPUT_H
#define LMS_CLIENTS_OUTPUT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.pb-c.h"

/* Formats a cell of a row message into buf and returns the text. */
typedef const char *(*out_format_fn)(const ProtobufCMessage *m, char *buf, size_t n);

struct out_column {
    const char *header; /* column header, or label in out_fields() */
    const char *field;  /* field of the row message shown by default */
    out_format_fn format; /* overrides field when set */
};

/* JSON for m (a new reference; NULL m gives JSON null). */
json_object *out_json_message(const ProtobufCMessage *m);

/* Text of one field of m ("user.name" reaches into nested messages): times as ISO 8601 or "-" for
 * 0, booleans as yes/no, roles in lower case, bytes as hex, strings with control characters
 * replaced. Unknown field: "?". Returns buf. */
const char *out_field_text(const ProtobufCMessage *m, const char *field, char *buf, size_t n);

/* Print rows as a table with a header line; columns are separated by two
 * spaces and cells longer than 48 characters are shortened, except in the
 * last column. */
void out_table(FILE *f, const struct out_column *cols, size_t ncols,
               ProtobufCMessage *const *rows, size_t nrows);

/* Print one "header: value" line per column for message m, aligned. */
void out_fields(FILE *f, const ProtobufCMessage *m, const struct out_column *cols, size_t ncols);

/* The elements of the repeated message field of m; *n = 0 if there are none
 * or field is not a repeated message field. */
ProtobufCMessage *const *out_repeated(const ProtobufCMessage *m, const char *field, size_t *n);

/* The message in the body oneof of r, or NULL. */
const ProtobufCMessage *out_response_body(const Lms__Response *r);

/* Print text with control characters other than newline and tab escaped
 * (out_escape), each line prefixed with indent. */
void out_text_block(FILE *f, const char *indent, const char *text);

/* Print text as it comes (no indent, no newline added), with control
 * characters other than newline and tab escaped: a streamed piece. */
void out_text_raw(FILE *f, const char *text);

/* Copy s into buf (of n bytes) escaped for a terminal: what
 * utf8_text_check (core/base/utf8.h) would refuse shows as \xHH (a control
 * character or a byte that is not UTF-8) or \u{HHHH} (a bidi or
 * invisible format character); multiline keeps '\n' and '\t'. Cut at a
 * whole character. Returns buf. */
const char *out_escape(const char *s, char *buf, size_t n, bool multiline);

/* Lower-case hex of data into buf (2 * len + 1 bytes). Returns buf. */
char *out_hex(const uint8_t *data, size_t len, char *buf, size_t n);

/* "student", "instructor", "admin", or NULL for ROLE_NONE / unknown. */
const char *out_role_name(Lms__Role role);
/* The role named s ("student", ...); ROLE_NONE if s names none. */
Lms__Role out_role_parse(const char *s);

/* A number the way people write it: 85, 85.5, 0.25. Returns buf. */
const char *out_number(double v, char *buf, size_t n);

#endif

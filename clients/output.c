/* SPDX-License-Identifier: MIT */
/*
 * output.c: descriptor-driven JSON and text rendering of protocol messages
 * (see output.h for the rules).
 */
#include "output.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "isotime.h"
#include "utf8.h"

#define CELL_MAX_CHARS 48

/* Fields never shown: secrets and file contents. */
static bool hidden(const ProtobufCFieldDescriptor *f)
{
    return strcmp(f->name, "token") == 0 || strcmp(f->name, "password") == 0 ||
           strcmp(f->name, "data") == 0;
}

static const void *field_ptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (const char *)m + f->offset;
}

/* Is f an inactive member of a oneof? */
static bool oneof_absent(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return false;
    return *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id;
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sizeof(int32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

const char *out_role_name(Lms__Role role)
{
    switch (role) {
    case LMS__ROLE__STUDENT:
        return "student";
    case LMS__ROLE__INSTRUCTOR:
        return "instructor";
    case LMS__ROLE__ADMIN:
        return "admin";
    case LMS__ROLE__TA:
        return "ta";
    default:
        return NULL;
    }
}

Lms__Role out_role_parse(const char *s)
{
    for (int r = LMS__ROLE__STUDENT; r <= LMS__ROLE__TA; r++)
        if (s != NULL && strcmp(s, out_role_name((Lms__Role)r)) == 0)
            return (Lms__Role)r;
    return LMS__ROLE__ROLE_NONE;
}

char *out_hex(const uint8_t *data, size_t len, char *buf, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < len && 2 * i + 2 < n; i++) {
        buf[2 * i] = digits[data[i] >> 4];
        buf[2 * i + 1] = digits[data[i] & 15];
    }
    if (n > 0)
        buf[2 * i < n ? 2 * i : n - 1] = '\0';
    return buf;
}

const char *out_number(double v, char *buf, size_t n)
{
    snprintf(buf, n, "%.10g", v);
    return buf;
}

/* The enum value's name: roles in lower case (NULL for none), others as in
 * the .proto file. */
static const char *enum_text(const ProtobufCFieldDescriptor *f, int value)
{
    if (f->descriptor == &lms__role__descriptor)
        return out_role_name((Lms__Role)value);
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, value);
    return ev ? ev->name : NULL;
}

static json_object *json_scalar(const ProtobufCFieldDescriptor *f, const void *p)
{
    char buf[LMS_TIME_BUFSZ];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_object_new_int(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_object_new_int64(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: /* times */
        return *(const int64_t *)p == 0
                   ? NULL
                   : json_object_new_string(lms_time_format(*(const int64_t *)p, buf));
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_object_new_uint64(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_object_new_double(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_object_new_double(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_object_new_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const char *name = enum_text(f, *(const int *)p);
        return name ? json_object_new_string(name) : NULL;
    }
    case PROTOBUF_C_TYPE_STRING:
        return json_object_new_string(*(char *const *)p);
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *hex = malloc(2 * b->len + 1);
        json_object *o = hex ? json_object_new_string(out_hex(b->data, b->len, hex, 2 * b->len + 1))
                             : NULL;
        free(hex);
        return o;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return out_json_message(*(ProtobufCMessage *const *)p);
    }
    return NULL;
}

json_object *out_json_message(const ProtobufCMessage *m)
{
    if (m == NULL)
        return NULL;
    json_object *obj = json_object_new_object();
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (hidden(f) || oneof_absent(m, f))
            continue;
        const void *p = field_ptr(m, f);
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            json_object_object_add(obj, f->name, json_scalar(f, p));
            continue;
        }
        size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
        const char *elems = *(char *const *)p;
        json_object *arr = json_object_new_array();
        for (size_t k = 0; k < n; k++)
            json_object_array_add(arr, json_scalar(f, elems + k * elem_size(f->type)));
        json_object_object_add(obj, f->name, arr);
    }
    return obj;
}

/* The escaped form of the character of k bytes at p (k 0: a stray byte)
 * into esc; its length. */
static size_t escape_char(const unsigned char *p, size_t k, bool multiline, char *esc)
{
    enum utf8_text_kind kind = multiline ? UTF8_MULTILINE : UTF8_LINE;
    if (k == 0)
        return (size_t)sprintf(esc, "\\x%02x", p[0]);
    uint32_t cp = utf8_decode(p, k);
    if (utf8_cp_allowed(cp, kind)) {
        memcpy(esc, p, k);
        return k;
    }
    if (cp < 0x80)
        return (size_t)sprintf(esc, "\\x%02x", (unsigned)cp);
    return (size_t)sprintf(esc, "\\u{%04X}", (unsigned)cp);
}

const char *out_escape(const char *s, char *buf, size_t n, bool multiline)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), at = 0;
    if (n == 0)
        return buf;
    for (size_t i = 0, k; i < len; i += k ? k : 1) {
        char esc[16];
        k = utf8_char_len(p + i, len - i);
        size_t m = escape_char(p + i, k, multiline, esc);
        if (at + m >= n)
            break;
        memcpy(buf + at, esc, m);
        at += m;
    }
    buf[at] = '\0';
    return buf;
}

static const char *clean_text(const char *s, char *buf, size_t n)
{
    return out_escape(s, buf, n, false);
}

static const char *scalar_text(const ProtobufCFieldDescriptor *f, const void *p, char *buf,
                               size_t n)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(buf, n, "%" PRId32, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(buf, n, "%" PRIu32, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        char t[LMS_TIME_BUFSZ];
        int64_t v = *(const int64_t *)p;
        snprintf(buf, n, "%s", v == 0 ? "-" : lms_time_format(v, t));
        break;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, n, "%" PRIu64, *(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        out_number(*(const float *)p, buf, n);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        out_number(*(const double *)p, buf, n);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(buf, n, "%s", *(const protobuf_c_boolean *)p ? "yes" : "no");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const char *name = enum_text(f, *(const int *)p);
        snprintf(buf, n, "%s", name ? name : "-");
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        return clean_text(*(char *const *)p, buf, n);
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return out_hex(b->data, b->len, buf, n);
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        snprintf(buf, n, "...");
        break;
    }
    return buf;
}

const char *out_field_text(const ProtobufCMessage *m, const char *field, char *buf, size_t n)
{
    const ProtobufCFieldDescriptor *f = NULL;
    char name[64];
    /* follow "user.name" through nested messages */
    for (const char *dot; m != NULL; field = dot + 1) {
        dot = strchr(field, '.');
        snprintf(name, sizeof name, "%.*s", dot ? (int)(dot - field) : (int)strlen(field), field);
        f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
        if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED || oneof_absent(m, f))
            break;
        if (dot == NULL)
            return scalar_text(f, field_ptr(m, f), buf, n);
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            break;
        m = *(ProtobufCMessage *const *)field_ptr(m, f);
    }
    snprintf(buf, n, "%s", m == NULL ? "-" : "?");
    return buf;
}

ProtobufCMessage *const *out_repeated(const ProtobufCMessage *m, const char *field, size_t *n)
{
    const ProtobufCFieldDescriptor *f =
        m ? protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field) : NULL;
    *n = 0;
    if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    *n = *(const size_t *)((const char *)m + f->quantifier_offset);
    return *(ProtobufCMessage *const *const *)field_ptr(m, f);
}

const ProtobufCMessage *out_response_body(const Lms__Response *r)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&lms__response__descriptor, r->body_case);
    if (r->body_case == LMS__RESPONSE__BODY__NOT_SET || f == NULL)
        return NULL;
    return *(ProtobufCMessage *const *)field_ptr(&r->base, f);
}

/* Characters on screen of a UTF-8 string (code points; wide glyphs are rare
 * enough in names and titles to be ignored). */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Shorten s in place to at most max characters, ending in "...". */
static void shorten(char *s, size_t max)
{
    if (display_width(s) <= max)
        return;
    size_t chars = 0, i;
    for (i = 0; s[i] != '\0'; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && chars++ == max - 3)
            break;
    }
    strcpy(s + i, "...");
}

static void print_padded(FILE *f, const char *s, size_t width, bool last)
{
    fputs(s, f);
    if (!last)
        for (size_t w = display_width(s); w < width + 2; w++)
            fputc(' ', f);
}

static const char *cell_text(const struct out_column *col, const ProtobufCMessage *m, char *buf,
                             size_t n)
{
    return col->format ? col->format(m, buf, n) : out_field_text(m, col->field, buf, n);
}

void out_table(FILE *f, const struct out_column *cols, size_t ncols,
               ProtobufCMessage *const *rows, size_t nrows)
{
    char **cells = calloc(nrows * ncols + 1, sizeof *cells);
    size_t *width = calloc(ncols + 1, sizeof *width);
    if (cells == NULL || width == NULL) {
        free(cells);
        free(width);
        return;
    }
    for (size_t c = 0; c < ncols; c++)
        width[c] = display_width(cols[c].header);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            char buf[512];
            char *s = strdup(cell_text(&cols[c], rows[r], buf, sizeof buf));
            if (s != NULL) {
                if (c + 1 < ncols) /* the last column can be as long as it likes */
                    shorten(s, CELL_MAX_CHARS);
                if (display_width(s) > width[c])
                    width[c] = display_width(s);
            }
            cells[r * ncols + c] = s;
        }
    }
    for (size_t c = 0; c < ncols; c++)
        print_padded(f, cols[c].header, width[c], c + 1 == ncols);
    fputc('\n', f);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cells[r * ncols + c];
            print_padded(f, s ? s : "", width[c], c + 1 == ncols);
        }
        fputc('\n', f);
    }
    for (size_t i = 0; i < nrows * ncols; i++)
        free(cells[i]);
    free(cells);
    free(width);
}

void out_fields(FILE *f, const ProtobufCMessage *m, const struct out_column *cols, size_t ncols)
{
    size_t width = 0;
    for (size_t c = 0; c < ncols; c++)
        if (display_width(cols[c].header) > width)
            width = display_width(cols[c].header);
    for (size_t c = 0; c < ncols; c++) {
        char buf[1024];
        fprintf(f, "%s:", cols[c].header);
        for (size_t w = display_width(cols[c].header); w < width + 1; w++)
            fputc(' ', f);
        fprintf(f, "%s\n", cell_text(&cols[c], m, buf, sizeof buf));
    }
}

/* Print text from the server escaped (out_escape, multi-line); with
 * indent before each line when indent is not NULL. */
static void put_text(FILE *f, const char *indent, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t len = strlen(text);
    bool bol = true;
    for (size_t i = 0, k; i < len; i += k ? k : 1) {
        char esc[16];
        k = utf8_char_len(p + i, len - i);
        if (bol && indent)
            fputs(indent, f);
        size_t m = escape_char(p + i, k, true, esc);
        fwrite(esc, 1, m, f);
        bol = p[i] == '\n';
    }
    if (indent && !bol)
        fputc('\n', f);
}

void out_text_block(FILE *f, const char *indent, const char *text)
{
    put_text(f, indent, text);
}

void out_text_raw(FILE *f, const char *text) { put_text(f, NULL, text); }

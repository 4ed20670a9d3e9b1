/* SPDX-License-Identifier: MIT */
/*
 * log.c: timestamped, levelled log lines on stderr, as text or JSON (see
 * log.h). Each line is written with one write(2) of at most PIPE_BUF
 * bytes so lines from different threads do not interleave. What a message
 * or a field holds is escaped (see lms_log_format_line), so a user name
 * carrying "\n... INFO" cannot forge a line, nor a terminal escape reach
 * an operator, nor a stray byte break a JSON reader.
 */
#include "log.h"
#include "lms_assert.h"
#include "utf8.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Relaxed atomics: a line logged just after a reload may still use the
 * old level or format; nothing else depends on their order. */
static _Atomic int g_level = LMS_LOG_INFO;
static _Atomic int g_format = LMS_LOG_TEXT;
static _Atomic uint64_t g_node, g_term;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_words[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "json"};

/* A field's value is cut to this many bytes before it is escaped: a login
 * name comes from the client, and the fields must leave room for the
 * message. */
#define FIELD_MAX 96
/* A prefix (a plugin's name) likewise. */
#define PREFIX_MAX 64

void lms_log_set_level(int level)
{
    atomic_store_explicit(&g_level, level, memory_order_relaxed);
}

int lms_log_get_level(void)
{
    return atomic_load_explicit(&g_level, memory_order_relaxed);
}

int lms_log_enabled(int level) { return level >= lms_log_get_level(); }

int lms_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return LMS_LOG_WARN;
    return -1;
}

const char *lms_log_level_name(int level)
{
    return level >= LMS_LOG_DEBUG && level <= LMS_LOG_ERROR ? level_words[level] : "?";
}

void lms_log_set_format(int format)
{
    LMS_ASSERT(format == LMS_LOG_TEXT || format == LMS_LOG_JSON);
    atomic_store_explicit(&g_format, format, memory_order_relaxed);
}

int lms_log_get_format(void)
{
    return atomic_load_explicit(&g_format, memory_order_relaxed);
}

int lms_log_format_parse(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (strcasecmp(name, format_names[i]) == 0)
            return i;
    return -1;
}

const char *lms_log_format_name(int format)
{
    return format == LMS_LOG_TEXT || format == LMS_LOG_JSON ? format_names[format] : "?";
}

void lms_log_set_node(uint64_t node_id)
{
    atomic_store_explicit(&g_node, node_id, memory_order_relaxed);
}

void lms_log_set_term(uint64_t term)
{
    atomic_store_explicit(&g_term, term, memory_order_relaxed);
}

/* ---- building a line ------------------------------------------------ */

/* Bytes appended to p, up to cap. A piece that does not fit whole is not
 * written (the callers then stop or roll back), so the line never ends
 * inside an escape or a character. */
typedef struct out {
    char *p;
    size_t len, cap;
} out;

static int put(out *o, const void *s, size_t n)
{
    if (n > o->cap - o->len)
        return -1;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return 0;
}

static int puts_(out *o, const char *s) { return put(o, s, strlen(s)); }

/* Text: each character of the n bytes at s as is, or escaped (a control
 * character as \xHH, a refused format character as \u{HHHH}); with quote,
 * '"' and '\' also get a backslash (a quoted key=value). */
static void text_escape(out *o, const char *s, size_t n, int quote)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, k; i < n; i += k) {
        char esc[16];
        size_t m;
        k = utf8_char_len(p + i, n - i);
        if (k == 0) {
            k = 1;
            m = (size_t)snprintf(esc, sizeof esc, "\\x%02X", p[i]);
        } else if (k == 1 && quote && (p[i] == '"' || p[i] == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)p[i];
            m = 2;
        } else if (utf8_cp_allowed(k == 1 ? p[i] : utf8_decode(p + i, k), UTF8_LINE)) {
            memcpy(esc, p + i, k);
            m = k;
        } else if (k == 1) {
            m = (size_t)snprintf(esc, sizeof esc, "\\x%02X", p[i]);
        } else {
            m = (size_t)snprintf(esc, sizeof esc, "\\u{%04X}",
                                 (unsigned)utf8_decode(p + i, k));
        }
        if (put(o, esc, m) < 0)
            return;
    }
}

/* JSON: the n bytes at s as the inside of a JSON string: '"', '\' and
 * control characters escaped, a refused format character (utf8.h) as
 * \uHHHH so that the raw line stays safe on a terminal, a byte that is not
 * UTF-8 as the text \xHH (the string stays valid UTF-8). */
static void json_escape(out *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, k; i < n; i += k) {
        char esc[16];
        size_t m;
        k = utf8_char_len(p + i, n - i);
        uint32_t cp = k ? utf8_decode(p + i, k) : 0;
        if (k == 0) {
            k = 1;
            m = (size_t)snprintf(esc, sizeof esc, "\\\\x%02X", p[i]);
        } else if (cp == '"' || cp == '\\') {
            esc[0] = '\\';
            esc[1] = (char)cp;
            m = 2;
        } else if (cp == '\n' || cp == '\r' || cp == '\t') {
            esc[0] = '\\';
            esc[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
            m = 2;
        } else if (utf8_cp_allowed(cp, UTF8_LINE)) {
            memcpy(esc, p + i, k);
            m = k;
        } else if (cp < 0x10000) {
            m = (size_t)snprintf(esc, sizeof esc, "\\u%04X", (unsigned)cp);
        } else { /* none is refused today; a surrogate pair if one ever is */
            uint32_t v = cp - 0x10000;
            m = (size_t)snprintf(esc, sizeof esc, "\\u%04X\\u%04X",
                                 (unsigned)(0xD800 + (v >> 10)),
                                 (unsigned)(0xDC00 + (v & 0x3FF)));
        }
        if (put(o, esc, m) < 0)
            return;
    }
}

/* ,"key":"value" (value cut to fit, the quote always closed), or nothing
 * when not even an empty value fits. */
static void json_str(out *o, const char *key, const char *s, size_t n)
{
    size_t mark = o->len;
    if (put(o, ",\"", 2) < 0 || puts_(o, key) < 0 || put(o, "\":\"", 3) < 0 ||
        o->len == o->cap) {
        o->len = mark;
        return;
    }
    o->cap--; /* the closing quote */
    json_escape(o, s, n);
    o->cap++;
    put(o, "\"", 1);
}

/* ,"key":raw (a number), or nothing */
static void json_raw(out *o, const char *key, const char *raw)
{
    size_t mark = o->len;
    if (put(o, ",\"", 2) < 0 || puts_(o, key) < 0 || put(o, "\":", 2) < 0 ||
        puts_(o, raw) < 0)
        o->len = mark;
}

/* A value that needs no quotes in text: letters, digits and ._:@/+-[] */
static int text_bare(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || (ch && strchr("._:@/+-[]", ch))))
            return 0;
    }
    return 1;
}

/* " key=value", quoted ("...") unless bare; or nothing when it does not
 * fit (a quoted value is cut to fit, the quote always closed). */
static void text_field(out *o, const char *key, const char *s, size_t n)
{
    size_t mark = o->len;
    int bare = text_bare(s, n);
    if (put(o, " ", 1) < 0 || puts_(o, key) < 0 || put(o, "=", 1) < 0) {
        o->len = mark;
        return;
    }
    if (bare) {
        if (put(o, s, n) < 0)
            o->len = mark;
        return;
    }
    if (o->cap - o->len < 2) {
        o->len = mark;
        return;
    }
    put(o, "\"", 1);
    o->cap--;
    text_escape(o, s, n, 1);
    o->cap++;
    put(o, "\"", 1);
}

static size_t cut(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    return n > max ? utf8_prefix(s, n, max) : n;
}

/* The request's fields, in the order of log.h, after the message. */
static void request_fields(out *o, int json, const lms_log_request_fields *f)
{
    const struct {
        const char *key, *value;
    } strs[] = {{"request_id", f->request_id}, {"user", f->user},
                {"op", f->op}, {"status", f->status}};
    char ms[32];
    snprintf(ms, sizeof ms, "%llu.%03llu",
             (unsigned long long)(f->duration_ns / 1000000),
             (unsigned long long)(f->duration_ns / 1000 % 1000));
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (!strs[i].value)
            continue;
        size_t n = cut(strs[i].value, FIELD_MAX);
        if (json)
            json_str(o, strs[i].key, strs[i].value, n);
        else
            text_field(o, strs[i].key, strs[i].value, n);
    }
    if (json)
        json_raw(o, "duration_ms", ms);
    else
        text_field(o, "duration_ms", ms, strlen(ms));
    if (f->peer) {
        if (json)
            json_str(o, "peer", f->peer, cut(f->peer, FIELD_MAX));
        else
            text_field(o, "peer", f->peer, cut(f->peer, FIELD_MAX));
    }
}

static void put_time(out *o, int64_t time_ms)
{
    char t[96]; /* room for any int the compiler imagines */
    if (time_ms < 0)
        time_ms = 0;
    time_t sec = (time_t)(time_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(t, sizeof t, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(time_ms % 1000));
    puts_(o, t);
}

size_t lms_log_format_line(char *buf, size_t cap, const lms_log_record *rec)
{
    LMS_ASSERT(cap >= LMS_LOG_LINE_MIN);
    int json = rec->format == LMS_LOG_JSON;
    int level = rec->level >= LMS_LOG_DEBUG && rec->level <= LMS_LOG_ERROR
                    ? rec->level : LMS_LOG_ERROR;
    /* The request's fields first, aside, so that a long message is cut
     * rather than them: at most half the line. */
    char tail_buf[1024];
    out tail = {.p = tail_buf, .cap = cap / 2 < sizeof tail_buf ? cap / 2 : sizeof tail_buf};
    if (rec->req)
        request_fields(&tail, json, rec->req);
    /* room kept for the tail and the end: "}\n" or "\n" */
    out o = {.p = buf, .cap = cap - tail.len - (json ? 2 : 1)};
    const char *msg = rec->msg ? rec->msg : "";
    if (json) {
        char num[32];
        put(&o, "{\"time\":\"", 9);
        put_time(&o, rec->time_ms);
        put(&o, "\",\"level\":\"", 11);
        puts_(&o, level_words[level]);
        put(&o, "\"", 1);
        if (rec->node) {
            snprintf(num, sizeof num, "%llu", (unsigned long long)rec->node);
            json_raw(&o, "node", num);
        }
        if (rec->term) {
            snprintf(num, sizeof num, "%llu", (unsigned long long)rec->term);
            json_raw(&o, "term", num);
        }
        if (rec->prefix)
            json_str(&o, "plugin", rec->prefix, cut(rec->prefix, PREFIX_MAX));
        json_str(&o, "msg", msg, rec->msg_len);
    } else {
        char head[16];
        put_time(&o, rec->time_ms);
        snprintf(head, sizeof head, " %-5s ", level_names[level]);
        puts_(&o, head);
        if (rec->prefix) {
            text_escape(&o, rec->prefix, cut(rec->prefix, PREFIX_MAX), 0);
            put(&o, ": ", 2);
        }
        text_escape(&o, msg, rec->msg_len, 0);
    }
    o.cap = cap;
    LMS_ASSERT(o.len + tail.len + (json ? 2 : 1) <= cap);
    put(&o, tail.p, tail.len);
    if (json)
        put(&o, "}", 1);
    put(&o, "\n", 1);
    LMS_ASSERT(o.len <= cap && buf[o.len - 1] == '\n');
    return o.len;
}

/* ---- writing -------------------------------------------------------- */

/* n, or less the start of a character that vsnprintf cut off at the end
 * of the n bytes at s (it cuts at a byte, not a character). */
static size_t whole_chars(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = n;
    while (i > 0 && n - i < 3 && (p[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return n;
    unsigned char lead = p[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return want > n - (i - 1) ? i - 1 : n;
}

static void emit(int level, const char *prefix, const lms_log_request_fields *req,
                 const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void emit(int level, const char *prefix, const lms_log_request_fields *req,
                 const char *fmt, va_list ap)
{
    if (!lms_log_enabled(level))
        return;
    char msg[2048];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = m > 0 ? (size_t)m : 0;
    if (len >= sizeof msg) /* cut: not inside a character */
        len = whole_chars(msg, sizeof msg - 1);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    lms_log_record rec = {
        .format = lms_log_get_format(),
        .level = level,
        .time_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000,
        .node = atomic_load_explicit(&g_node, memory_order_relaxed),
        .term = atomic_load_explicit(&g_term, memory_order_relaxed),
        .prefix = prefix,
        .msg = msg,
        .msg_len = len,
        .req = req,
    };
    /* PIPE_BUF: a write to a pipe (journald, a supervisor) of at most
     * that many bytes is atomic */
    char line[PIPE_BUF];
    size_t n = lms_log_format_line(line, sizeof line, &rec);
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

void lms_logv(int level, const char *prefix, const char *fmt, va_list ap)
{
    emit(level, prefix, NULL, fmt, ap);
}

void lms_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, NULL, NULL, fmt, ap);
    va_end(ap);
}

void lms_log_request(int level, const lms_log_request_fields *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, NULL, f, fmt, ap);
    va_end(ap);
}

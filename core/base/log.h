/* SPDX-License-Identifier: MIT */
/*
 * log.h: lmsd's log. One line per event on stderr, as text (log.format:
 * text, the default)
 *   2026-11-26T20:03:31.123Z INFO  message
 * or as one JSON object per line (log.format: json)
 *   {"time":"2026-11-26T20:03:31.123Z","level":"info","node":1,"term":4,
 *    "msg":"message"}
 * A request's line (lms_log_request) adds its fields: key=value pairs after
 * the message in text, members of the object in JSON.
 *
 * Any thread may log: each line is formatted on the caller's stack and
 * written with one write(2) of at most PIPE_BUF bytes, so lines from
 * different threads never interleave, even on a pipe. The level, the
 * format, the node id and the term are atomics: a SIGHUP reload (reload.h)
 * changes them while other threads log.
 *
 * Never log secrets: passwords, tokens, API keys, request bodies.
 */
#ifndef LMS_CORE_LOG_H
#define LMS_CORE_LOG_H

#include <lms/host.h> /* enum lms_log_level */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum lms_log_format { LMS_LOG_TEXT = 0, LMS_LOG_JSON = 1 };

void lms_log_set_level(int level);
int lms_log_get_level(void);
/* Would a line of this level be written? (to skip building one) */
int lms_log_enabled(int level);
int lms_log_level_parse(const char *name); /* -1 if unknown */
const char *lms_log_level_name(int level);  /* "debug", ..., "error" */
void lms_log_set_format(int format);
int lms_log_get_format(void);
int lms_log_format_parse(const char *name); /* "text", "json"; -1 if unknown */
const char *lms_log_format_name(int format);
/* The node id every line carries (0: none, left out). */
void lms_log_set_node(uint64_t node_id);
/* The node's current Raft term (0: unknown, left out); the node calls it
 * whenever the term may have moved. */
void lms_log_set_term(uint64_t term);

void lms_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lms_logv(int level, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* The fields of a finished request's line; a NULL string is left out. */
typedef struct lms_log_request_fields {
    const char *request_id;
    const char *user;   /* who made it, when known */
    const char *op;     /* the request's kind ("submit") */
    const char *status; /* its answer's status ("OK", "NOT_FOUND") */
    const char *peer;   /* the client's "ip:port" */
    uint64_t duration_ns; /* from its frame to its answer */
} lms_log_request_fields;

void lms_log_request(int level, const lms_log_request_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line to format: what lms_logv and lms_log_request build (the time
 * and the node's ids included, so that a test can give fixed ones). */
typedef struct lms_log_record {
    int format;           /* enum lms_log_format */
    int level;            /* enum lms_log_level */
    int64_t time_ms;      /* Unix time in ms */
    uint64_t node, term;  /* 0: left out (JSON; text shows neither) */
    const char *prefix;   /* NULL, or who logs (a plugin's name) */
    const char *msg;      /* msg_len bytes, any bytes */
    size_t msg_len;
    const lms_log_request_fields *req; /* NULL: an ordinary line */
} lms_log_record;

/* The smallest buffer lms_log_format_line accepts. */
#define LMS_LOG_LINE_MIN 256

/*
 * Format rec as one line ending in '\n' into buf (cap >= LMS_LOG_LINE_MIN
 * bytes, not NUL-terminated) and return its length. The line holds no
 * other '\n', no control character and only well-formed UTF-8: what a
 * message or a field holds is escaped (text: a control character as \xHH,
 * a refused format character as \u{HHHH}, utf8.h; JSON: as the JSON escape
 * \uHHHH; a byte that is not UTF-8 as the text \xHH in both). A message
 * too long for cap is cut at a character boundary, the fields kept; a JSON
 * line is always one complete object.
 */
size_t lms_log_format_line(char *buf, size_t cap, const lms_log_record *rec);

#define log_debug(...) lms_log(LMS_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) lms_log(LMS_LOG_INFO, __VA_ARGS__)
#define log_warn(...) lms_log(LMS_LOG_WARN, __VA_ARGS__)
#define log_error(...) lms_log(LMS_LOG_ERROR, __VA_ARGS__)

#endif

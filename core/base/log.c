/* SPDX-License-Identifier: MIT */
/*
 * log.c: timestamped, levelled log lines on stderr. Each line is written
 * with one write(2) so lines from different threads do not interleave.
 * What a message holds is escaped (a control character as \xHH, a refused
 * format character as \u{HHHH}, see utf8.h), so a user name carrying
 * "\n... INFO" cannot forge a line nor a terminal escape reach an operator.
 */
#include "log.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int g_level = LMS_LOG_INFO;
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void lms_log_set_level(int level) { g_level = level; }

int lms_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return LMS_LOG_WARN;
    return -1;
}

/* Append the n bytes at s to dst (of cap, at *len), escaped; stops
 * before a character that does not fit whole. */
static void put_escaped(char *dst, size_t cap, size_t *len, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t at = *len;
    for (size_t i = 0, k; i < n; i += k) {
        char esc[16];
        size_t m;
        k = utf8_char_len(p + i, n - i);
        if (k == 0) {
            k = 1;
            m = (size_t)snprintf(esc, sizeof esc, "\\x%02X", p[i]);
        } else if (k == 1 && utf8_cp_allowed(p[i], UTF8_LINE)) {
            esc[0] = (char)p[i];
            m = 1;
        } else if (utf8_cp_allowed(utf8_decode(p + i, k), UTF8_LINE)) {
            memcpy(esc, p + i, k);
            m = k;
        } else if (k == 1) {
            m = (size_t)snprintf(esc, sizeof esc, "\\x%02X", p[i]);
        } else {
            m = (size_t)snprintf(esc, sizeof esc, "\\u{%04X}",
                                 (unsigned)utf8_decode(p + i, k));
        }
        if (at + m >= cap)
            break;
        memcpy(dst + at, esc, m);
        at += m;
    }
    *len = at;
}

void lms_logv(int level, const char *prefix, const char *fmt, va_list ap)
{
    if (level < g_level)
        return;
    if (level < 0 || level > LMS_LOG_ERROR)
        level = LMS_LOG_ERROR;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                     level_names[level]);
    char msg[2048];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = n > 0 ? (size_t)n : 0;
    if (prefix) {
        put_escaped(line, sizeof line - 1, &len, prefix, strlen(prefix));
        put_escaped(line, sizeof line - 1, &len, ": ", 2);
    }
    if (m > 0)
        put_escaped(line, sizeof line - 1, &len, msg,
                    (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void lms_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lms_logv(level, NULL, fmt, ap);
    va_end(ap);
}

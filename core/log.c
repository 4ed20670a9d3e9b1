/*
 * log.c: timestamped, levelled log lines on stderr. Each line is written
 * with one write(2) so lines from different threads do not interleave.
 */
#include "log.h"

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
    if (prefix && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "%s: ", prefix);
    if (n < (int)sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (n >= (int)sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void lms_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lms_logv(level, NULL, fmt, ap);
    va_end(ap);
}

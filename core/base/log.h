/* SPDX-License-Identifier: MIT */
/*
 * log.h: lmsd's log. One line per event on stderr:
 *   2026-11-26T20:03:31.123Z INFO  message
 * Never log secrets: passwords, tokens, API keys.
 */
#ifndef LMS_CORE_LOG_H
#define LMS_CORE_LOG_H

#include <lms/host.h> /* enum lms_log_level */

void lms_log_set_level(int level);
int lms_log_level_parse(const char *name); /* -1 if unknown */
void lms_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lms_logv(int level, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_debug(...) lms_log(LMS_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) lms_log(LMS_LOG_INFO, __VA_ARGS__)
#define log_warn(...) lms_log(LMS_LOG_WARN, __VA_ARGS__)
#define log_error(...) lms_log(LMS_LOG_ERROR, __VA_ARGS__)

#endif

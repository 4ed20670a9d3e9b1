/*
 * utf8.h: UTF-8 checks shared by the state machine (which refuses text that
 * is not UTF-8) and the tutor path (which offers only text documents to a
 * tutor and cleans up what a tutor answers). Strict: overlong forms,
 * surrogates and code points above U+10FFFF are not UTF-8.
 */
#ifndef LMS_CORE_UTF8_H
#define LMS_CORE_UTF8_H

#include <stddef.h>

/* The length of the well-formed character at p (of n > 0 bytes), or 0 if
 * it is not one. */
size_t utf8_char_len(const unsigned char *p, size_t n);
/* Whether the n bytes at s are well-formed UTF-8 (NUL bytes count as
 * characters; callers that need text check for them). */
int utf8_valid(const char *s, size_t n);
/* The longest prefix of s (n bytes) of at most max bytes that does not end
 * inside a character. */
size_t utf8_prefix(const char *s, size_t n, size_t max);
/* Replace every byte of s (n bytes) that is not part of a well-formed
 * character with '?'. */
void utf8_repair(char *s, size_t n);

#endif

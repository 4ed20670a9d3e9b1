/* SPDX-License-Identifier: MIT */
/*
 * utf8.h: UTF-8 checks shared by the state machine (which refuses text that
 * is not UTF-8) and the tutor path (which offers only text documents to a
 * tutor and cleans up what a tutor answers). Strict: overlong forms,
 * surrogates and code points above U+10FFFF are not UTF-8.
 */
#ifndef LMS_CORE_UTF8_H
#define LMS_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

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

/*
 * The one rule for what user text may hold, so that nothing stored can
 * move a terminal's cursor, forge a log line or reorder what a reader
 * sees. Refused: C0 controls and DEL (a multi-line text keeps '\n' and
 * '\t'), C1 controls U+0080..U+009F, the bidi embeddings, overrides and
 * isolates (U+202A..U+202E, U+2066..U+2069), and the other invisible
 * format characters that can hide or reorder text: U+061C, U+200B..U+200F,
 * U+2028..U+2029, U+2060..U+2064, U+206A..U+206F, U+FEFF, U+FFF9..U+FFFB.
 */
enum utf8_text_kind { UTF8_LINE = 0, UTF8_MULTILINE = 1 };

/* Whether code point cp may appear in text of this kind. */
int utf8_cp_allowed(uint32_t cp, enum utf8_text_kind kind);
/* Decode the well-formed character of len bytes at p (see utf8_char_len). */
uint32_t utf8_decode(const unsigned char *p, size_t len);
/*
 * Check the n bytes at s, the field named field ("the file name"), against
 * the rule above and UTF-8 well-formedness (NUL counts as a control).
 * Returns 0 if the text is fine; otherwise -1 with a message naming the
 * field and the character in msg ("the file name contains a control
 * character (U+001B); ...").
 */
/* Make text from elsewhere (a tutor's answer) fit the rule: replace every
 * byte that is not UTF-8 and every byte of a refused character with '?'
 * (the length stays n). */
void utf8_text_scrub(char *s, size_t n, enum utf8_text_kind kind);
int utf8_text_check(const char *field, const char *s, size_t n,
                    enum utf8_text_kind kind, char *msg, size_t cap);

#endif

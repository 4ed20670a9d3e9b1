/* SPDX-License-Identifier: MIT */
/*
 * roff.h: writing manual pages (internal to core/, and built into the
 * clients like utf8.c). lmsd and the three CLIs print their own man pages
 * from the tables that drive --help and the config parser (lmsd(8),
 * lmsd.yaml(5), lms-student(1)...), so the page cannot say something the
 * program does not do. The requests (.TH, .SH, .TP, .B) are written by the
 * callers; this escapes the text that goes between them.
 *
 * The rules, so that a help string can never be read as roff:
 *  - a backslash is the escape character: written \e;
 *  - '-' is a hyphen to roff (it may print as U+2010 and breaks copying an
 *    option from the page): written \- (a minus, which is ASCII '-');
 *  - a line that starts with '.' or '\'' would be a request: \& before it;
 *  - in a quoted macro argument (ROFF_ARG) a '"' would end it: \(dq;
 *  - a character beyond ASCII is written \[uXXXX], since groff reads its
 *    input as Latin-1 unless preconv ran (man does, groff -man does not);
 *  - other control characters are dropped (a tab is a space).
 */
#ifndef LMS_CORE_ROFF_H
#define LMS_CORE_ROFF_H

#include <stdio.h>

#define ROFF_ARG 0x1u /* inside a quoted macro argument: also escape '"' */

/* s escaped by the rules above (flags: ROFF_ARG or 0): a new string to
 * free, or NULL when out of memory. A NULL s reads as "". */
char *roff_escape(const char *s, unsigned flags);

/* Print s escaped (roff_escape) to f; prints nothing when out of memory. */
void roff_put(FILE *f, const char *s, unsigned flags);

/* Print "NAME \"ARG\"..." style requests: the request word (".SH", ".B"),
 * then arg escaped as one quoted argument, then a newline. */
void roff_request(FILE *f, const char *request, const char *arg);

/* text escaped, in bold (\fB...\fR) or italics (\fI...\fR), inline. */
void roff_bold(FILE *f, const char *text);
void roff_italic(FILE *f, const char *text);

#endif

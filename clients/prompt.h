/* SPDX-License-Identifier: MIT */
/*
 * prompt.h: asking for a password: on the terminal with echo off, or as one
 * line of standard input for scripts (--password-stdin).
 */
#ifndef LMS_CLIENTS_PROMPT_H
#define LMS_CLIENTS_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

enum lms_prompt_rc {
    LMS_PROMPT_OK = 0,
    LMS_PROMPT_FAILED = -1, /* read error, end of input, or the entries differ */
    LMS_PROMPT_NO_TTY = -2, /* no terminal to ask on, and not from_stdin */
};

/*
 * Read a password into *out (free with lms_password_free). from_stdin: one
 * line of stdin, without its line ending. Otherwise stdin must be a terminal:
 * prompt is written to stderr and the answer read without echo; with
 * confirm the password is asked twice and must match. err explains a failure.
 */
int lms_read_password(bool from_stdin, const char *prompt, bool confirm, char **out, char *err,
                      size_t errlen);

/* Wipe and free a password. */
void lms_password_free(char *pw);

#endif

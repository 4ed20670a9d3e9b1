/* SPDX-License-Identifier: MIT */
/*
 * fetch_all.h: lms-instructor fetch-all: every student's latest submission
 * to an assignment, saved into a new directory (or a .tar.gz) under names
 * that cannot collide or escape it, with a manifest. Built from the
 * requests the server already answers: ListSubmissions, then one
 * FetchSubmission per student, each checked against its SHA-256.
 */
#ifndef LMS_CLIENTS_FETCH_ALL_H
#define LMS_CLIENTS_FETCH_ALL_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/*
 * The name fetch-all gives submission id of student whose file is file:
 * "STUDENT-ID-FILE", at most max bytes (64 <= max < cap). Each part keeps
 * ASCII letters, digits, '.', '_', '-' and '+', and the non-ASCII
 * characters that utf8_text_check allows in a line; every other character
 * (a '/', a space, a control, a byte that is not UTF-8) becomes '_'. A
 * leading '.' or '-' becomes '_' (no hidden file, nothing a shell takes
 * for an option). A file part too long keeps its extension (up to 16
 * bytes) and is cut at a character boundary; an empty one reads "file".
 * The id makes every name unique; the result is never "." or "..", and
 * holds no '/'. Returns the length written to out.
 */
size_t lms_fetch_all_name(char *out, size_t cap, const char *student, uint64_t id,
                          const char *file, size_t max);

extern const struct cli_param cmd_fetch_all_params[];
int cmd_fetch_all(struct cli_ctx *ctx, const struct cli_args *a);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * csv_out.h: writing CSV for spreadsheets (internal to core/, and built
 * into the clients like utf8.c): one RFC 4180 record at a time, with the
 * cells that a spreadsheet would run as a formula neutralised.
 *
 * The rule (OWASP, "CSV Injection"): a cell whose text starts with '=',
 * '+', '-', '@', a tab or a carriage return is written with a single quote
 * in front ("=1+1" becomes "'=1+1"), so that Excel, LibreOffice and Google
 * Sheets show it as text. Used by the server's grade export and the
 * manifest of lms-instructor fetch-all, so both follow the one rule.
 */
#ifndef LMS_CORE_CSV_OUT_H
#define LMS_CORE_CSV_OUT_H

#include <stddef.h>
#include <stdio.h>

/* Whether a spreadsheet could take cell s for a formula (see above). */
int csv_cell_is_formula(const char *s);

/* One record: each field neutralised (csv_cell_is_formula), then quoted
 * when it holds a comma, a quote or a line break (quotes doubled); the
 * record ends in CRLF. */
void csv_write_record(FILE *f, const char *const *fields, size_t n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * csv.h: an RFC 4180 CSV reader over a buffer in memory, for
 * `lms-admin import-users`. Quoted fields may hold commas, doubled quotes
 * and line breaks; records end in LF or CRLF. A malformed record is reported
 * with its line number and the reader carries on with the next line, so one
 * bad row does not sink a whole import.
 */
#ifndef LMS_CLIENTS_CSV_H
#define LMS_CLIENTS_CSV_H

#include <stddef.h>

struct lms_csv {
    const char *p, *end;
    unsigned line; /* physical line of p, 1-based */
};

struct lms_csv_record {
    char **fields; /* nfields NUL-terminated strings, owned by the record */
    size_t nfields, cap;
    unsigned line; /* physical line on which the record starts */
};

/* Start reading len bytes at data (not copied; must outlive the reader).
 * A UTF-8 byte-order mark at the start is skipped. */
void lms_csv_init(struct lms_csv *csv, const char *data, size_t len);

/*
 * Read the next record into rec (its previous fields are freed). Empty lines
 * are skipped. Returns 1 for a record, 0 at the end of the input, -1 for a
 * malformed record: rec->line says where it started, err why, and the reader
 * has moved on to the line after it.
 */
int lms_csv_next(struct lms_csv *csv, struct lms_csv_record *rec, char *err, size_t errlen);

/* Free the fields of rec; rec may be reused afterwards. */
void lms_csv_record_free(struct lms_csv_record *rec);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * import.c: CSV records to ImportRow messages for `lms-admin import-users`.
 */
#include "import.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csv.h"

/* A copy of s without leading and trailing blanks. */
static char *trimmed(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return strndup(s, len);
}

static void free_row(Lms__ImportRow *row)
{
    if (row == NULL)
        return;
    free(row->name);
    free(row->role);
    free(row->full_name);
    if (row->password != NULL)
        explicit_bzero(row->password, strlen(row->password));
    free(row->password);
    free(row);
}

static void free_result(Lms__ImportResult *res)
{
    if (res == NULL)
        return;
    free(res->name);
    free(res->message);
    free(res);
}

/* Append item to the vector vec of n elements; ok says whether it worked. */
#define VEC_PUSH(vec, n, item, ok)                                             \
    do {                                                                       \
        __typeof__(vec) grown_ = realloc((vec), ((n) + 1) * sizeof *(vec));    \
        (ok) = grown_ != NULL;                                                 \
        if (grown_ != NULL) {                                                  \
            grown_[(n)++] = (item);                                            \
            (vec) = grown_;                                                    \
        }                                                                      \
    } while (0)

static Lms__ImportRow *make_row(const struct lms_csv_record *rec)
{
    Lms__ImportRow *row = malloc(sizeof *row);
    if (row == NULL)
        return NULL;
    lms__import_row__init(row);
    row->line = rec->line;
    row->name = trimmed(rec->fields[0]);
    row->role = trimmed(rec->fields[1]);
    row->full_name = trimmed(rec->fields[2]);
    row->password = strdup(rec->fields[3]);
    if (!row->name || !row->role || !row->full_name || !row->password) {
        free_row(row);
        return NULL;
    }
    return row;
}

static Lms__ImportResult *make_error(unsigned line, const char *name, const char *why)
{
    Lms__ImportResult *res = malloc(sizeof *res);
    if (res == NULL)
        return NULL;
    lms__import_result__init(res);
    res->line = line;
    res->status = LMS__STATUS__INVALID_ARGUMENT;
    res->name = trimmed(name);
    res->message = malloc(strlen(why) + 32);
    if (res->name == NULL || res->message == NULL) {
        free_result(res);
        return NULL;
    }
    sprintf(res->message, "malformed CSV line: %s", why);
    return res;
}

/* Is rec the header row? */
static bool is_header(const struct lms_csv_record *rec)
{
    char *first = trimmed(rec->fields[0]);
    bool header = first != NULL && strcasecmp(first, "name") == 0;
    free(first);
    return header;
}

/* A record of blanks only: a line that merely looks empty. */
static bool is_blank(const struct lms_csv_record *rec)
{
    if (rec->nfields != 1)
        return false;
    for (const char *p = rec->fields[0]; *p; p++)
        if (!isspace((unsigned char)*p))
            return false;
    return true;
}

int lms_import_parse(const char *data, size_t len, struct lms_import *imp)
{
    struct lms_csv csv;
    struct lms_csv_record rec = {0};
    char why[128];
    bool first = true, ok = true;
    int rc;

    memset(imp, 0, sizeof *imp);
    lms_csv_init(&csv, data, len);
    while (ok && (rc = lms_csv_next(&csv, &rec, why, sizeof why)) != 0) {
        bool skip = rc > 0 && ((first && is_header(&rec)) || is_blank(&rec));
        first = false;
        if (skip)
            continue;
        if (rc > 0 && rec.nfields == LMS_IMPORT_COLUMNS) {
            Lms__ImportRow *row = make_row(&rec);
            ok = row != NULL;
            if (ok)
                VEC_PUSH(imp->rows, imp->nrows, row, ok);
            if (!ok)
                free_row(row);
            continue;
        }
        if (rc > 0)
            snprintf(why, sizeof why, "%zu fields instead of %d (name,role,full_name,password)",
                     rec.nfields, LMS_IMPORT_COLUMNS);
        Lms__ImportResult *err = make_error(rec.line, rc > 0 ? rec.fields[0] : "", why);
        ok = err != NULL;
        if (ok)
            VEC_PUSH(imp->errors, imp->nerrors, err, ok);
        if (!ok)
            free_result(err);
    }
    lms_csv_record_free(&rec);
    if (!ok)
        lms_import_free(imp);
    return ok ? 0 : -1;
}

void lms_import_free(struct lms_import *imp)
{
    for (size_t i = 0; i < imp->nrows; i++)
        free_row(imp->rows[i]);
    for (size_t i = 0; i < imp->nerrors; i++)
        free_result(imp->errors[i]);
    free(imp->rows);
    free(imp->errors);
    memset(imp, 0, sizeof *imp);
}

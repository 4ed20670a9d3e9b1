/* SPDX-License-Identifier: MIT */
/*
 * import.h: turning a users CSV file (name,role,full_name,password; an
 * optional header row whose first field is "name") into the rows of an
 * ImportUsers request. Rows that cannot be read are kept aside with their
 * line numbers, so that the rest of the file is still imported and the
 * report can name every line that was not.
 */
#ifndef LMS_CLIENTS_IMPORT_H
#define LMS_CLIENTS_IMPORT_H

#include <stddef.h>

#include "client.pb-c.h"

#define LMS_IMPORT_COLUMNS 4

struct lms_import {
    Lms__ImportRow **rows; /* ready to send, in file order */
    size_t nrows;
    /* rows refused locally: line, status INVALID_ARGUMENT, the reason */
    Lms__ImportResult **errors;
    size_t nerrors;
};

/* Read the CSV text data[0..len) into imp. Name, role and full name are
 * trimmed of surrounding blanks; the password is taken as is. Returns 0, or
 * -1 when memory runs out (imp is then empty). */
int lms_import_parse(const char *data, size_t len, struct lms_import *imp);

void lms_import_free(struct lms_import *imp);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * csv_out.c: CSV records for spreadsheets, formulas neutralised (see
 * csv_out.h). Pure: no state, no allocation.
 */
#include "csv_out.h"

#include <string.h>

int csv_cell_is_formula(const char *s)
{
    return s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
}

void csv_write_record(FILE *f, const char *const *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = fields[i];
        int formula = csv_cell_is_formula(s);
        if (i)
            fputc(',', f);
        if (!strpbrk(s, ",\"\r\n")) {
            if (formula)
                fputc('\'', f);
            fputs(s, f);
            continue;
        }
        fputc('"', f);
        if (formula)
            fputc('\'', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    }
    fputs("\r\n", f);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_client_csv.c: the RFC 4180 reader (clients/csv.c) and the users CSV
 * import built on it (clients/import.c): quoting, CRLF, line breaks and
 * commas inside fields, line numbers, and recovery after a malformed line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"
#include "import.h"

struct reader {
    struct lms_csv csv;
    struct lms_csv_record rec;
    char err[128];
};

static void start(struct reader *r, const char *text)
{
    memset(r, 0, sizeof *r);
    lms_csv_init(&r->csv, text, strlen(text));
}

/* The next record must start on line and hold exactly the fields given. */
static void expect_record(struct reader *r, unsigned line, size_t n, ...)
{
    int rc = lms_csv_next(&r->csv, &r->rec, r->err, sizeof r->err);
    if (rc != 1)
        fail_msg("expected a record on line %u, got %d (%s)", line, rc, r->err);
    if (r->rec.line != line)
        fail_msg("expected the record on line %u, it is on line %u", line, r->rec.line);
    if (r->rec.nfields != n)
        fail_msg("line %u: expected %zu fields, got %zu", line, n, r->rec.nfields);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        if (strcmp(r->rec.fields[i], want) != 0)
            fail_msg("line %u field %zu: expected '%s', got '%s'", line, i + 1, want,
                     r->rec.fields[i]);
    }
    va_end(ap);
}

static void expect_error(struct reader *r, unsigned line, const char *why)
{
    int rc = lms_csv_next(&r->csv, &r->rec, r->err, sizeof r->err);
    if (rc != -1)
        fail_msg("expected an error on line %u, got %d", line, rc);
    if (r->rec.line != line)
        fail_msg("expected the error on line %u, got line %u", line, r->rec.line);
    if (strstr(r->err, why) == NULL)
        fail_msg("expected an error about '%s', got '%s'", why, r->err);
}

static void expect_end(struct reader *r)
{
    int rc = lms_csv_next(&r->csv, &r->rec, r->err, sizeof r->err);
    if (rc != 0)
        fail_msg("expected the end of input, got %d (line %u)", rc, r->rec.line);
    lms_csv_record_free(&r->rec);
}

static void plain_fields(void **state)
{
    struct reader r;
    start(&r, "a,b,c\nd,e,f\n");
    expect_record(&r, 1, 3, "a", "b", "c");
    expect_record(&r, 2, 3, "d", "e", "f");
    expect_end(&r);
}

static void last_line_without_newline(void **state)
{
    struct reader r;
    start(&r, "a,b\nc,d");
    expect_record(&r, 1, 2, "a", "b");
    expect_record(&r, 2, 2, "c", "d");
    expect_end(&r);
}

static void empty_fields(void **state)
{
    struct reader r;
    start(&r, ",,\na,\n\"\",x\n");
    expect_record(&r, 1, 3, "", "", "");
    expect_record(&r, 2, 2, "a", "");
    expect_record(&r, 3, 2, "", "x");
    expect_end(&r);
}

static void quoted_commas_and_quotes(void **state)
{
    struct reader r;
    start(&r, "\"Doe, Jane\",\"she said \"\"hi\"\"\",\"\"\"\"\n");
    expect_record(&r, 1, 3, "Doe, Jane", "she said \"hi\"", "\"");
    expect_end(&r);
}

static void crlf_line_endings(void **state)
{
    struct reader r;
    start(&r, "a,b\r\nc,\"d\"\r\n\r\ne,f\r\n");
    expect_record(&r, 1, 2, "a", "b");
    expect_record(&r, 2, 2, "c", "d");
    expect_record(&r, 4, 2, "e", "f");
    expect_end(&r);
}

static void line_breaks_inside_quotes(void **state)
{
    struct reader r;
    start(&r, "\"two\nlines\",x\n\"crlf\r\nkept\",y\nnext,z\n");
    expect_record(&r, 1, 2, "two\nlines", "x");
    expect_record(&r, 3, 2, "crlf\r\nkept", "y");
    expect_record(&r, 5, 2, "next", "z");
    expect_end(&r);
}

static void empty_lines_are_skipped_but_counted(void **state)
{
    struct reader r;
    start(&r, "\n\na\n\n\nb\n\n");
    expect_record(&r, 3, 1, "a");
    expect_record(&r, 6, 1, "b");
    expect_end(&r);
}

static void byte_order_mark_is_skipped(void **state)
{
    struct reader r;
    start(&r, "\xEF\xBB\xBFname,role\n");
    expect_record(&r, 1, 2, "name", "role");
    expect_end(&r);
}

static void stray_quote_inside_plain_field_is_kept(void **state)
{
    struct reader r;
    start(&r, "ab\"c,d\n");
    expect_record(&r, 1, 2, "ab\"c", "d");
    expect_end(&r);
}

static void unterminated_quote_spoils_one_line_only(void **state)
{
    struct reader r;
    start(&r, "ok,1\n\"broken,2\nfine,3\nalso,4\n");
    expect_record(&r, 1, 2, "ok", "1");
    expect_error(&r, 2, "unterminated");
    expect_record(&r, 3, 2, "fine", "3");
    expect_record(&r, 4, 2, "also", "4");
    expect_end(&r);
}

static void text_after_closing_quote_is_an_error(void **state)
{
    struct reader r;
    start(&r, "\"a\"b,c\nd,e\n\"multi\nline\"x,y\nf,g\n");
    expect_error(&r, 1, "after a closing quote");
    expect_record(&r, 2, 2, "d", "e");
    expect_error(&r, 3, "after a closing quote");
    expect_record(&r, 5, 2, "f", "g");
    expect_end(&r);
}

static void nul_byte_is_an_error(void **state)
{
    static const char text[] = "a\0b,c\nd,e\n";
    struct reader r;
    memset(&r, 0, sizeof r);
    lms_csv_init(&r.csv, text, sizeof text - 1);
    expect_error(&r, 1, "NUL");
    expect_record(&r, 2, 2, "d", "e");
    expect_end(&r);
}

/* ---- import ------------------------------------------------------------- */

static void import_reads_rows_with_their_lines(void **state)
{
    static const char text[] = "name,role,full_name,password\r\n"
                               " alice , student ,\"Liddell, Alice\", pw 1 \r\n"
                               "\r\n"
                               "bob,instructor,Bob,\"p,w\"\r\n";
    struct lms_import imp;
    assert_int_equal(lms_import_parse(text, sizeof text - 1, &imp), 0);
    assert_int_equal(imp.nrows, 2);
    assert_int_equal(imp.nerrors, 0);
    assert_int_equal(imp.rows[0]->line, 2);
    assert_string_equal(imp.rows[0]->name, "alice");
    assert_string_equal(imp.rows[0]->role, "student");
    assert_string_equal(imp.rows[0]->full_name, "Liddell, Alice");
    assert_string_equal(imp.rows[0]->password, " pw 1 ");
    assert_int_equal(imp.rows[1]->line, 4);
    assert_string_equal(imp.rows[1]->password, "p,w");
    lms_import_free(&imp);
}

static void import_without_header(void **state)
{
    static const char text[] = "carol,admin,Carol,secret\n";
    struct lms_import imp;
    assert_int_equal(lms_import_parse(text, sizeof text - 1, &imp), 0);
    assert_int_equal(imp.nrows, 1);
    assert_int_equal(imp.rows[0]->line, 1);
    assert_string_equal(imp.rows[0]->name, "carol");
    lms_import_free(&imp);
}

static void import_keeps_bad_lines_aside(void **state)
{
    static const char text[] = "NAME,role,full_name,password\n"
                               "a,student,A,pw\n"
                               "b,student,B\n"
                               "\"c,student,C,pw\n"
                               "d,student,D,pw,extra\n"
                               "e,student,E,pw\n";
    struct lms_import imp;
    assert_int_equal(lms_import_parse(text, sizeof text - 1, &imp), 0);
    assert_int_equal(imp.nrows, 2);
    assert_string_equal(imp.rows[0]->name, "a");
    assert_string_equal(imp.rows[1]->name, "e");
    assert_int_equal(imp.rows[1]->line, 6);
    assert_int_equal(imp.nerrors, 3);
    assert_int_equal(imp.errors[0]->line, 3);
    assert_string_equal(imp.errors[0]->name, "b");
    assert_non_null(strstr(imp.errors[0]->message, "3 fields instead of 4"));
    assert_int_equal(imp.errors[1]->line, 4);
    assert_non_null(strstr(imp.errors[1]->message, "unterminated"));
    assert_int_equal(imp.errors[2]->line, 5);
    assert_non_null(strstr(imp.errors[2]->message, "5 fields"));
    assert_int_equal(imp.errors[2]->status, LMS__STATUS__INVALID_ARGUMENT);
    lms_import_free(&imp);
}

static void import_of_empty_file(void **state)
{
    struct lms_import imp;
    assert_int_equal(lms_import_parse("", 0, &imp), 0);
    assert_int_equal(imp.nrows + imp.nerrors, 0);
    lms_import_free(&imp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_fields),
        cmocka_unit_test(last_line_without_newline),
        cmocka_unit_test(empty_fields),
        cmocka_unit_test(quoted_commas_and_quotes),
        cmocka_unit_test(crlf_line_endings),
        cmocka_unit_test(line_breaks_inside_quotes),
        cmocka_unit_test(empty_lines_are_skipped_but_counted),
        cmocka_unit_test(byte_order_mark_is_skipped),
        cmocka_unit_test(stray_quote_inside_plain_field_is_kept),
        cmocka_unit_test(unterminated_quote_spoils_one_line_only),
        cmocka_unit_test(text_after_closing_quote_is_an_error),
        cmocka_unit_test(nul_byte_is_an_error),
        cmocka_unit_test(import_reads_rows_with_their_lines),
        cmocka_unit_test(import_without_header),
        cmocka_unit_test(import_keeps_bad_lines_aside),
        cmocka_unit_test(import_of_empty_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_client_fetch_all.c: the names lms-instructor fetch-all gives the
 * files it saves (clients/fetch_all.c), the CSV its manifest and the
 * server's grade export are written with (core/csv_out.c), and the
 * .tar.gz writer (clients/targz.c), read back with zlib.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "csv_out.h"
#include "fetch_all.h"
#include "targz.h"

static void expect_name(const char *student, uint64_t id, const char *file, size_t max,
                        const char *want)
{
    char out[512];
    size_t n = lms_fetch_all_name(out, sizeof out, student, id, file, max);
    if (strcmp(out, want) != 0)
        fail_msg("name of (%s, %llu, %s): expected \"%s\", got \"%s\"", student,
                 (unsigned long long)id, file, want, out);
    assert_int_equal(n, strlen(out));
    assert_true(n <= max);
    assert_null(strchr(out, '/'));
}

static void names_are_student_id_file(void **state)
{
    expect_name("bob", 12, "report.pdf", 255, "bob-12-report.pdf");
    expect_name("eve", 13, "report.pdf", 255, "eve-13-report.pdf");
}

static void hostile_names_stay_inside(void **state)
{
    expect_name("bob", 1, "../x", 255, "bob-1-.._x");
    expect_name("bob", 2, "..", 255, "bob-2-..");
    expect_name("bob", 3, "/etc/passwd", 255, "bob-3-_etc_passwd");
    expect_name("bob", 4, "a\\b c\t\x1b[2J", 255, "bob-4-a_b_c___2J");
    expect_name("bob", 5, "", 255, "bob-5-file");
    expect_name("../..", 6, "x", 255, "_._..-6-x");
    expect_name("-rf", 7, "x", 255, "_rf-7-x");
    expect_name("bob", 8, "=1+1.txt", 255, "bob-8-_1+1.txt");
}

static void unicode_is_kept_but_not_bidi_or_broken_bytes(void **state)
{
    expect_name("bob", 9, "r\xc3\xa9sum\xc3\xa9.pdf", 255, "bob-9-r\xc3\xa9sum\xc3\xa9.pdf");
    /* U+202E RIGHT-TO-LEFT OVERRIDE: three bytes, one '_' */
    expect_name("bob", 10, "a\xe2\x80\xae" "fdp.exe", 255, "bob-10-a_fdp.exe");
    expect_name("bob", 11, "a\xff\xfe.txt", 255, "bob-11-a__.txt");
    /* C1 control U+009B */
    expect_name("bob", 12, "a\xc2\x9b.txt", 255, "bob-12-a_.txt");
}

static void long_names_keep_the_extension(void **state)
{
    char file[300], out[512];
    memset(file, 'a', 250);
    strcpy(file + 250, ".tar.gz");
    size_t n = lms_fetch_all_name(out, sizeof out, "bob", 42, file, 255);
    assert_int_equal(n, 255);
    assert_int_equal(strncmp(out, "bob-42-aaa", 10), 0);
    assert_string_equal(out + n - 3, ".gz");
    n = lms_fetch_all_name(out, sizeof out, "bob", 42, file, 100);
    assert_int_equal(n, 100);
    assert_string_equal(out + n - 3, ".gz");
    /* a multi-byte character is never cut in half */
    char wide[300] = "";
    for (int i = 0; i < 120; i++)
        strcat(wide, "\xc3\xa9");
    n = lms_fetch_all_name(out, sizeof out, "bob", 42, wide, 100);
    assert_true(n <= 100);
    assert_int_equal((n - strlen("bob-42-")) % 2, 0);
}

/* ---- CSV ------------------------------------------------------------------ */

static char *record(const char *const *fields, size_t n)
{
    static char buf[1024];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    csv_write_record(f, fields, n);
    fclose(f);
    return buf;
}

static void csv_quotes_and_neutralises_formulas(void **state)
{
    const char *plain[] = {"alice", "85.5", ""};
    assert_string_equal(record(plain, 3), "alice,85.5,\r\n");
    const char *quoted[] = {"a,b", "say \"hi\"", "two\nlines"};
    assert_string_equal(record(quoted, 3), "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
    const char *formulas[] = {"=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"x\",\"y\")"};
    assert_string_equal(record(formulas, 7),
                        "'=1+1,'+1,'-1,'@SUM(A1),'\tx,\"'\rx\",\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"\r\n");
    assert_true(csv_cell_is_formula("=x"));
    assert_false(csv_cell_is_formula("a=x"));
    assert_false(csv_cell_is_formula(""));
}

/* ---- tar.gz ----------------------------------------------------------------- */

static void targz_members_read_back(void **state)
{
    char path[512], err[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/lms-test-targz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct lms_targz *t = lms_targz_open(fd, "assignment-7", 1700000000, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(lms_targz_add(t, "bob-1-a.txt", "hello", 5, 1700000000, err, sizeof err), 0);
    assert_int_equal(lms_targz_add(t, "../x", "no", 2, 0, err, sizeof err), -1);
    assert_int_equal(lms_targz_add(t, "a/b", "no", 2, 0, err, sizeof err), -1);
    assert_int_equal(lms_targz_close(t, err, sizeof err), 0);
    close(fd);

    unsigned char buf[8192];
    gzFile gz = gzopen(path, "rb");
    assert_non_null(gz);
    int n = gzread(gz, buf, sizeof buf);
    gzclose(gz);
    unlink(path);
    /* directory entry, file header, one data block, two zero blocks */
    assert_int_equal(n, 5 * 512);
    assert_string_equal((char *)buf, "assignment-7/");
    assert_int_equal(buf[156], '5');
    assert_string_equal((char *)buf + 512, "bob-1-a.txt");
    assert_string_equal((char *)buf + 512 + 345, "assignment-7");
    assert_string_equal((char *)buf + 512 + 124, "00000000005");
    assert_memory_equal(buf + 512 + 257, "ustar\0" "00", 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += i >= 148 && i < 156 ? ' ' : buf[512 + i];
    assert_int_equal(strtoul((char *)buf + 512 + 148, NULL, 8), sum);
    assert_memory_equal(buf + 1024, "hello", 5);
    for (int i = 3 * 512; i < 5 * 512; i++)
        assert_int_equal(buf[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_are_student_id_file),
        cmocka_unit_test(hostile_names_stay_inside),
        cmocka_unit_test(unicode_is_kept_but_not_bidi_or_broken_bytes),
        cmocka_unit_test(long_names_keep_the_extension),
        cmocka_unit_test(csv_quotes_and_neutralises_formulas),
        cmocka_unit_test(targz_members_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_roff.c: core/base/roff.c. Help texts become man page text without
 * ever being read as roff: backslashes, hyphens, a '.' or '\'' that starts
 * a line, quotes inside a macro argument, characters beyond ASCII and
 * control characters each come out as the escape the page needs.
 */
#include "roff.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void expect(const char *in, unsigned flags, const char *want)
{
    char *got = roff_escape(in, flags);
    const char *shown = in != NULL ? in : "(NULL)";
    if (got == NULL)
        fail_msg("roff_escape(\"%s\", %u): NULL", shown, flags);
    if (strcmp(got, want) != 0)
        fail_msg("roff_escape(\"%s\", %u): expected \"%s\", got \"%s\"", shown, flags, want,
                 got);
    free(got);
}

static void plain_text_is_unchanged(void **state)
{
    expect("list the courses you are enrolled in", 0,
           "list the courses you are enrolled in");
    expect("", 0, "");
    expect(NULL, 0, "");
}

static void backslash_becomes_the_escape_character(void **state)
{
    expect("C:\\path\\fB", 0, "C:\\epath\\efB"); /* \fB would switch to bold */
}

static void hyphens_are_minus_signs(void **state)
{
    expect("--course -o", 0, "\\-\\-course \\-o");
}

static void a_dot_or_quote_that_starts_a_line_is_guarded(void **state)
{
    expect(".TH not a request", 0, "\\&.TH not a request");
    expect("'br not one either", 0, "\\&'br not one either");
    expect("first line\n.SH second", 0, "first line\n\\&.SH second");
    expect("a dot. inside", 0, "a dot. inside"); /* only at a line's start */
}

static void quotes_are_escaped_only_in_an_argument(void **state)
{
    expect("say \"hi\"", 0, "say \"hi\"");
    expect("say \"hi\"", ROFF_ARG, "say \\(dqhi\\(dq");
    /* an argument is one line, and its leading '.' is no request */
    expect(".a\nb", ROFF_ARG, ".a b");
}

static void non_ascii_is_a_unicode_escape(void **state)
{
    expect("caf\xc3\xa9 \xe2\x80\x94 ok", 0, "caf\\[u00E9] \\[u2014] ok");
    expect("bad \xff byte", 0, "bad ? byte"); /* never a raw byte */
}

static void control_characters_are_dropped_and_tabs_are_spaces(void **state)
{
    expect("a\tb\x01\x1b[31mc", 0, "a b[31mc");
}

static void roff_put_and_request_write_the_escaped_text(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    roff_put(f, "-x", 0);
    fputc('|', f);
    roff_request(f, ".SS", "cluster-ca \"init\"");
    fclose(f);
    assert_string_equal(buf, "\\-x|.SS \"cluster\\-ca \\(dqinit\\(dq\"\n");
    free(buf);
}

static void bold_and_italic_escape_and_switch_back(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    roff_bold(f, "--course");
    fputc(' ', f);
    roff_italic(f, "C:\\x");
    fclose(f);
    assert_string_equal(buf, "\\fB\\-\\-course\\fR \\fIC:\\ex\\fR");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_text_is_unchanged),
        cmocka_unit_test(backslash_becomes_the_escape_character),
        cmocka_unit_test(hyphens_are_minus_signs),
        cmocka_unit_test(a_dot_or_quote_that_starts_a_line_is_guarded),
        cmocka_unit_test(quotes_are_escaped_only_in_an_argument),
        cmocka_unit_test(non_ascii_is_a_unicode_escape),
        cmocka_unit_test(control_characters_are_dropped_and_tabs_are_spaces),
        cmocka_unit_test(roff_put_and_request_write_the_escaped_text),
        cmocka_unit_test(bold_and_italic_escape_and_switch_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

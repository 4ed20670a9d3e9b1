/* SPDX-License-Identifier: MIT */
/*
 * test_client_opts.c: the command-line layer of the clients: the strict
 * number and size readers, the table-driven option parser (clients/cli_opts.c)
 * and the dispatcher's exit codes (clients/cli.c): every usage mistake is
 * exit code 2, a subcommand that needs a session fails with 4 without one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

/* ---- numbers and sizes -------------------------------------------------- */

static void expect_size(const char *text, uint64_t want)
{
    uint64_t got = 0;
    if (lms_parse_size(text, &got) != 0)
        fail_msg("size '%s' was refused, expected %llu", text, (unsigned long long)want);
    if (got != want)
        fail_msg("size '%s' read as %llu, expected %llu", text, (unsigned long long)got,
                 (unsigned long long)want);
}

static void sizes_with_suffixes(void **state)
{
    expect_size("0", 0);
    expect_size("10485760", 10485760);
    expect_size("10MiB", 10485760);
    expect_size("10mib", 10485760);
    expect_size("10M", 10485760);
    expect_size("512KiB", 524288);
    expect_size("512K", 524288);
    expect_size("1GiB", 1073741824);
    expect_size("2TiB", 2199023255552ULL);
    expect_size("100B", 100);
    expect_size("1KB", 1000);
    expect_size("3MB", 3000000);
    expect_size("1GB", 1000000000);
}

static void bad_sizes(void **state)
{
    static const char *const bad[] = {"", "MiB", "10XiB", "-1", "+1", "1.5MiB", " 10", "10 MiB",
                                      "10MiBs", "99999999999999TiB", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        if (lms_parse_size(bad[i], &v) == 0)
            fail_msg("size '%s' was accepted as %llu", bad[i], (unsigned long long)v);
    }
}

static void whole_numbers(void **state)
{
    uint64_t v;
    assert_int_equal(lms_parse_u64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(lms_parse_u64("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);
    static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1a", "0x10",
                                      "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (lms_parse_u64(bad[i], &v) == 0)
            fail_msg("'%s' was accepted as a whole number", bad[i]);
}

static void decimal_numbers(void **state)
{
    double d;
    assert_int_equal(lms_parse_double("85.5", &d), 0);
    assert_true(d == 85.5);
    assert_int_equal(lms_parse_double("-1", &d), 0);
    assert_true(d == -1);
    assert_int_equal(lms_parse_double("1e2", &d), 0);
    assert_true(d == 100);
    static const char *const bad[] = {"", "abc", "nan", "inf", "1e999", " 1", "1 ", "1,5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (lms_parse_double(bad[i], &d) == 0)
            fail_msg("'%s' was accepted as a number", bad[i]);
}

/* ---- the parser --------------------------------------------------------- */

static const struct cli_param params[] = {
    {.name = "ID", .kind = CLI_ID, .flags = CLI_POSITIONAL | CLI_REQUIRED, .help = "an id"},
    {.name = "TEXT", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REST, .help = "words"},
    {.name = "course", .meta = "C", .kind = CLI_STRING, .flags = CLI_REQUIRED, .help = "course"},
    {.name = "due", .meta = "TIME", .kind = CLI_TIME, .help = "due"},
    {.name = "max-size", .meta = "BYTES", .kind = CLI_SIZE, .help = "size"},
    {.name = "max-attempts", .meta = "N", .kind = CLI_COUNT, .help = "count"},
    {.name = "grade", .meta = "G", .kind = CLI_NUMBER, .help = "grade"},
    {.name = "as", .meta = "student|instructor", .kind = CLI_CHOICE, .help = "role"},
    {.name = "output", .short_name = 'o', .meta = "FILE", .kind = CLI_STRING, .help = "output"},
    {.name = "all", .short_name = 'a', .kind = CLI_FLAG, .help = "all"},
    {.name = "tag", .meta = "T", .kind = CLI_STRING, .flags = CLI_MULTI, .help = "repeatable"},
    {.name = "confirm", .kind = CLI_FLAG, .flags = CLI_REQUIRED,
     .help = "must be given", .missing = "say --confirm, please"},
    CLI_END_PARAMS,
};

/* Parse the NULL-terminated words; returns the parser's result, err filled. */
static int parse(struct cli_args *a, char *err, size_t errlen, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, errlen);
    for (char *w; (w = va_arg(ap, char *)) != NULL && argc < 32;)
        argv[argc++] = w;
    va_end(ap);
    const struct cli_param *const tables[] = {params, NULL};
    err[0] = '\0';
    return cli_parse(tables, argc, argv, false, a, NULL, err, errlen);
}

static void expect_parse_error(const char *want, int rc, struct cli_args *a, const char *err)
{
    cli_args_free(a);
    if (rc == 0)
        fail_msg("parsing succeeded, expected an error about '%s'", want);
    if (strstr(err, want) == NULL)
        fail_msg("expected an error about '%s', got '%s'", want, err);
}

static void options_and_operands_in_any_order(void **state)
{
    struct cli_args a;
    char err[256];
    int rc = parse(&a, err, sizeof err, "--course", "CS101", "42", "-a", "hello",
                   "--due=2026-12-01", "world", "-ofile.txt", "--confirm", "--max-size", "10MiB",
                   "--as", "student", "--grade", "-2.5", "--", "--not-an-option", NULL);
    if (rc != 0)
        fail_msg("parse failed: %s", err);
    assert_int_equal(cli_u64(&a, "ID", 0), 42);
    assert_string_equal(cli_str(&a, "TEXT"), "hello world --not-an-option");
    assert_string_equal(cli_str(&a, "course"), "CS101");
    assert_string_equal(cli_str(&a, "output"), "file.txt");
    assert_string_equal(cli_str(&a, "as"), "student");
    assert_true(cli_has(&a, "all"));
    assert_true(cli_has(&a, "confirm"));
    assert_int_equal(cli_u64(&a, "max-size", 0), 10485760);
    assert_true(cli_num(&a, "grade", 0) == -2.5);
    assert_false(cli_has(&a, "max-attempts"));
    assert_int_equal(cli_u64(&a, "max-attempts", 7), 7);
    assert_false(cli_has(&a, "no-such-param"));
    assert_null(cli_str(&a, "no-such-param"));
    cli_args_free(&a);
}

static void repeated_option_keeps_every_value(void **state)
{
    struct cli_args a;
    char err[256];
    size_t n = 99;
    int rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", NULL);
    if (rc != 0)
        fail_msg("parse failed: %s", err);
    assert_null(cli_strs(&a, "tag", &n));
    assert_int_equal(n, 0);
    cli_args_free(&a);
    rc = parse(&a, err, sizeof err, "--tag", "x", "1", "--course", "C", "--tag=y", "--confirm",
               "--tag", "", NULL);
    if (rc != 0)
        fail_msg("parse failed: %s", err);
    const char *const *tags = cli_strs(&a, "tag", &n);
    if (n != 3)
        fail_msg("expected the 3 values of --tag, got %zu", n);
    assert_string_equal(tags[0], "x");
    assert_string_equal(tags[1], "y");
    assert_string_equal(tags[2], "");
    /* an option without CLI_MULTI keeps its last value, as before */
    assert_string_equal(cli_str(&a, "course"), "C");
    cli_args_free(&a);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", "--tag", NULL);
    expect_parse_error("--tag needs a value", rc, &a, err);

    char usage[512] = "";
    FILE *f = fmemopen(usage, sizeof usage - 1, "w");
    cli_print_usage(f, "p", "c", params);
    fclose(f);
    if (strstr(usage, " [--tag T]...") == NULL)
        fail_msg("usage does not show --tag as repeatable: %s", usage);
}

static void usage_mistakes_are_named(void **state)
{
    struct cli_args a;
    char err[256];
    int rc;
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", "--bogus", NULL);
    expect_parse_error("unknown option '--bogus'", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", "-x", NULL);
    expect_parse_error("unknown option '-x'", rc, &a, err);
    rc = parse(&a, err, sizeof err, "-1", "--course", "C", "--confirm", NULL);
    expect_parse_error("unknown option '-1' (a negative number?", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--confirm", "--course", NULL);
    expect_parse_error("--course needs a value", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--confirm", NULL);
    expect_parse_error("missing --course", rc, &a, err);
    rc = parse(&a, err, sizeof err, "--course", "C", "--confirm", NULL);
    expect_parse_error("missing ID", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", NULL);
    expect_parse_error("say --confirm, please", rc, &a, err);
    rc = parse(&a, err, sizeof err, "x1", "--course", "C", "--confirm", NULL);
    expect_parse_error("bad number for ID: 'x1'", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", "--due", "2026-13-01", NULL);
    expect_parse_error("bad time for --due: '2026-13-01'", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", "--max-size", "10XB", NULL);
    expect_parse_error("bad number for --max-size", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", "--max-attempts",
               "4294967296", NULL);
    expect_parse_error("bad number for --max-attempts", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", "--grade", "ten", NULL);
    expect_parse_error("bad number for --grade: 'ten'", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", "--as", "admin", NULL);
    expect_parse_error("--as must be one of student|instructor, not 'admin'", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm", "--as", "stud", NULL);
    expect_parse_error("must be one of", rc, &a, err);
    rc = parse(&a, err, sizeof err, "1", "--course", "C", "--confirm=yes", NULL);
    expect_parse_error("--confirm takes no value", rc, &a, err);
}

static void too_many_operands(void **state)
{
    static const struct cli_param one[] = {
        {.name = "FILE", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
         .help = "a file"},
        CLI_END_PARAMS,
    };
    const struct cli_param *const tables[] = {one, NULL};
    char *argv[] = {"a", "b"}, err[256];
    struct cli_args a;
    int rc = cli_parse(tables, 2, argv, false, &a, NULL, err, sizeof err);
    expect_parse_error("unexpected argument 'b'", rc, &a, err);
}

static void global_options_stop_at_the_command(void **state)
{
    static const struct cli_param globals[] = {
        {.name = "json", .kind = CLI_FLAG, .help = "json"},
        {.name = "servers", .short_name = 's', .meta = "S", .kind = CLI_STRING, .help = "servers"},
        CLI_END_PARAMS,
    };
    const struct cli_param *const tables[] = {globals, NULL};
    char *argv[] = {"--json", "-s", "h:1", "submit", "--json", "1"}, err[256];
    struct cli_args a;
    int used = -1;
    assert_int_equal(cli_parse(tables, 6, argv, true, &a, &used, err, sizeof err), 0);
    assert_int_equal(used, 3);
    assert_string_equal(cli_str(&a, "servers"), "h:1");
    cli_args_free(&a);
}

/* ---- the dispatcher ----------------------------------------------------- */

static int handler_calls;
static uint64_t handler_id;

static int record_handler(struct cli_ctx *ctx, const struct cli_args *a)
{
    handler_calls++;
    handler_id = cli_u64(a, "ID", 0);
    return 0;
}

static const struct cli_param cmd_params[] = {
    {.name = "ID", .kind = CLI_ID, .flags = CLI_POSITIONAL | CLI_REQUIRED, .help = "an id"},
    {.name = "due", .meta = "TIME", .kind = CLI_TIME, .help = "due"},
    CLI_END_PARAMS,
};

static const struct cli_command commands[] = {
    {"open", "needs no session", cmd_params, record_handler, 0},
    {"closed", "needs a session", cmd_params, record_handler, CLI_NEEDS_SESSION},
    {"group one", "a command of two words", cmd_params, record_handler, CLI_LOCAL},
    {"group two", "another", cmd_params, record_handler, CLI_LOCAL},
    {NULL, NULL, NULL, NULL, 0},
};

static const struct cli_program program = {"lms-test", "a test program", commands};

static char home[64];

static int make_home(void **state)
{
    strcpy(home, "/tmp/lms-test-home-XXXXXX");
    return mkdtemp(home) ? 0 : -1;
}

static int remove_home(void **state)
{
    return rmdir(home);
}

/* Run the program on the NULL-terminated words with stdout and stderr
 * captured in out (may be NULL); returns its exit code. */
static int run(char *out, size_t outlen, ...)
{
    char *argv[32] = {"lms-test", "--home", home};
    int argc = 3;
    va_list ap;
    va_start(ap, outlen);
    for (char *w; (w = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = w;
    va_end(ap);
    argv[argc] = NULL;

    fflush(stdout);
    FILE *tmp = tmpfile();
    int saved = dup(STDOUT_FILENO);
    dup2(fileno(tmp), STDOUT_FILENO);
    int rc = cli_main(&program, argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = out ? fread(out, 1, outlen - 1, tmp) : 0;
    if (out)
        out[n] = '\0';
    fclose(tmp);
    return rc;
}

static void expect_exit(int want, int got, const char *what)
{
    if (want != got)
        fail_msg("%s: expected exit code %d, got %d", what, want, got);
}

static void dispatcher_exit_codes(void **state)
{
    char out[4096];
    handler_calls = 0;
    expect_exit(2, run(NULL, 0, NULL), "no command");
    expect_exit(2, run(NULL, 0, "nosuch", NULL), "unknown command");
    expect_exit(2, run(NULL, 0, "--bogus", "open", "1", NULL), "unknown global option");
    expect_exit(2, run(NULL, 0, "open", NULL), "missing operand");
    expect_exit(2, run(NULL, 0, "open", "1", "--bogus", NULL), "unknown option");
    expect_exit(2, run(NULL, 0, "open", "one", NULL), "bad id");
    expect_exit(2, run(NULL, 0, "open", "1", "--due", "yesterday", NULL), "bad time");
    expect_exit(2, run(NULL, 0, "open", "1", "2", NULL), "extra operand");
    expect_exit(2, run(NULL, 0, "-s", NULL), "-s without a value");
    assert_int_equal(handler_calls, 0);

    expect_exit(0, run(out, sizeof out, "--version", NULL), "--version");
    assert_string_equal(out, "lms-test 0.1.0\n");
    expect_exit(0, run(out, sizeof out, "--help", NULL), "--help");
    assert_non_null(strstr(out, "usage: lms-test"));
    expect_exit(0, run(out, sizeof out, "open", "--help", NULL), "open --help");
    assert_non_null(strstr(out, "usage: lms-test open ID [--due TIME]"));
    expect_exit(0, run(out, sizeof out, "help", "open", NULL), "help open");
    assert_non_null(strstr(out, "usage: lms-test open ID [--due TIME]"));
    assert_int_equal(handler_calls, 0);

    expect_exit(0, run(NULL, 0, "open", "7", NULL), "a good command");
    assert_int_equal(handler_calls, 1);
    assert_int_equal(handler_id, 7);
    expect_exit(0, run(NULL, 0, "--json", "open", "--json", "8", NULL), "globals both sides");
    assert_int_equal(handler_id, 8);

    expect_exit(4, run(NULL, 0, "closed", "1", NULL), "no session");
    assert_int_equal(handler_calls, 2);
}

static void two_word_commands(void **state)
{
    char out[4096];
    handler_calls = 0;
    expect_exit(0, run(NULL, 0, "group", "two", "9", NULL), "group two");
    assert_int_equal(handler_calls, 1);
    assert_int_equal(handler_id, 9);
    expect_exit(0, run(NULL, 0, "--json", "group", "one", "3", "--json", NULL), "group one");
    assert_int_equal(handler_id, 3);
    expect_exit(2, run(out, sizeof out, "--json", "group", NULL), "group alone");
    assert_non_null(strstr(out, "'group' needs one of: one, two"));
    expect_exit(2, run(out, sizeof out, "--json", "group", "three", NULL), "unknown in group");
    assert_non_null(strstr(out, "unknown command 'group three'"));
    expect_exit(2, run(NULL, 0, "one", "1", NULL), "second word alone");
    expect_exit(2, run(NULL, 0, "group", "one", NULL), "missing operand");
    assert_int_equal(handler_calls, 2);
    expect_exit(0, run(out, sizeof out, "group", "one", "--help", NULL), "group one --help");
    assert_non_null(strstr(out, "usage: lms-test group one ID [--due TIME]"));
    expect_exit(0, run(out, sizeof out, "help", "group", "two", NULL), "help group two");
    assert_non_null(strstr(out, "usage: lms-test group two ID"));
    expect_exit(0, run(out, sizeof out, "--help", NULL), "--help");
    assert_non_null(strstr(out, "group one"));
    assert_int_equal(handler_calls, 2);
}

static void json_errors_are_one_document(void **state)
{
    char out[4096];
    expect_exit(2, run(out, sizeof out, "--json", "open", "x", NULL), "bad id with --json");
    json_object *doc = json_tokener_parse(out);
    if (doc == NULL)
        fail_msg("stdout is not JSON: '%s'", out);
    json_object *v;
    assert_true(json_object_object_get_ex(doc, "status", &v));
    assert_string_equal(json_object_get_string(v), "INVALID_ARGUMENT");
    assert_true(json_object_object_get_ex(doc, "error", &v));
    assert_non_null(strstr(json_object_get_string(v), "bad number for ID"));
    json_object_put(doc);

    expect_exit(4, run(out, sizeof out, "closed", "1", "--json", NULL), "no session, --json");
    doc = json_tokener_parse(out);
    assert_non_null(doc);
    assert_true(json_object_object_get_ex(doc, "status", &v));
    assert_string_equal(json_object_get_string(v), "UNAUTHENTICATED");
    json_object_put(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes_with_suffixes),
        cmocka_unit_test(bad_sizes),
        cmocka_unit_test(whole_numbers),
        cmocka_unit_test(decimal_numbers),
        cmocka_unit_test(options_and_operands_in_any_order),
        cmocka_unit_test(repeated_option_keeps_every_value),
        cmocka_unit_test(usage_mistakes_are_named),
        cmocka_unit_test(too_many_operands),
        cmocka_unit_test(global_options_stop_at_the_command),
        cmocka_unit_test_setup_teardown(dispatcher_exit_codes, make_home, remove_home),
        cmocka_unit_test_setup_teardown(two_word_commands, make_home, remove_home),
        cmocka_unit_test_setup_teardown(json_errors_are_one_document, make_home, remove_home),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

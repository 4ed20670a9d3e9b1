/* SPDX-License-Identifier: MIT */
/*
 * test_client_config.c: the clients' config file (clients/client_config.c)
 * on real files in a temporary directory: the precedence of the command
 * line, the environment, the chosen context, the file's top level, the
 * session and the default, for the servers and for TLS; servers as a
 * string or a list; cacert relative to the file; every refusal naming the
 * file, the line and the key (unknown keys, bad values, bad YAML, unknown
 * contexts, a file others may write); where the session directory is
 * ($XDG_CONFIG_HOME); and through cli_main, that a bad file is exit 2
 * before any handler runs. The same end to end: tests/e2e/test_client_config.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "cli_config.h"
#include "client_config.h"

static char dir[512];  /* a fresh directory per test */
static char path[600]; /* dir/config.yaml */

static void clear_env(void)
{
    static const char *const vars[] = {"LMS_SERVERS", "LMS_CACERT", "LMS_TLS", "LMS_PLAINTEXT",
                                       "LMS_CONFIG",  "LMS_CONTEXT", "LMS_HOME"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

static int make_dir(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lms-client-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    clear_env();
    return 0;
}

static int remove_dir(void **state)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    clear_env();
    return system(cmd) == 0 ? 0 : -1;
}

/* Write text to dir/config.yaml with mode 0600. */
static void write_config(const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        fail_msg("cannot write %s", path);
    chmod(path, 0600);
}

/* Load dir/config.yaml, expecting success. */
static void load_ok(struct lms_client_config *cfg, const char *context, const char *what)
{
    char err[1024];
    if (lms_config_load(cfg, path, false, context, err, sizeof err) != 0)
        fail_msg("%s: refused: %s", what, err);
}

/* Load text, expecting a refusal whose message starts with "FILE:LINE: "
 * (line > 0) or contains FILE (line 0), and contains want. */
static void load_fails(const char *text, const char *context, int line, const char *want)
{
    struct lms_client_config cfg;
    char err[1024], where[700];
    write_config(text);
    if (lms_config_load(&cfg, path, false, context, err, sizeof err) == 0)
        fail_msg("expected a refusal with '%s' for:\n%s", want, text);
    lms_config_free(&cfg);
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    if (line > 0 && strncmp(err, where, strlen(where)) != 0)
        fail_msg("expected the message to start with '%s', got: %s", where, err);
    if (line == 0 && strstr(err, path) == NULL)
        fail_msg("expected the file %s in the message, got: %s", path, err);
    if (strstr(err, want) == NULL)
        fail_msg("expected '%s' in the message, got: %s", want, err);
}

static void expect_servers(const struct lms_client_config *cfg, const struct lms_cfg_flags *fl,
                           const struct lms_session *s, const char *want, enum lms_src src,
                           int line, const char *what)
{
    struct lms_origin o;
    const char *got = lms_config_servers(cfg, fl, s, &o);
    if (strcmp(got, want) != 0 || o.src != src || o.line != line)
        fail_msg("%s: expected %s from %s (line %d), got %s from %s (line %d)", what, want,
                 lms_src_name(src), line, got, lms_src_name(o.src), o.line);
}

static void expect_tls(const struct lms_client_config *cfg, const struct lms_cfg_flags *fl,
                       const struct lms_session *s, enum lms_tls_mode want, const char *file,
                       enum lms_src src, const char *what)
{
    enum lms_tls_mode mode;
    char *cafile = NULL, err[512];
    struct lms_origin o;
    if (lms_config_tls(cfg, fl, s, &mode, &cafile, &o, err, sizeof err) != 0)
        fail_msg("%s: refused: %s", what, err);
    if (mode != want || o.src != src || (file == NULL) != (cafile == NULL) ||
        (file != NULL && strcmp(file, cafile) != 0))
        fail_msg("%s: expected %s %s from %s, got %s %s from %s", what, lms_tls_mode_name(want),
                 file ? file : "", lms_src_name(src), lms_tls_mode_name(mode),
                 cafile ? cafile : "", lms_src_name(o.src));
    free(cafile);
}

/* ---- precedence ----------------------------------------------------------- */

static void servers_precedence_flag_env_context_file_session_default(void **state)
{
    struct lms_client_config cfg;
    struct lms_cfg_flags fl = {0};
    struct lms_session s = {0};
    write_config("# the cluster\n"
                 "servers: top:7400\n"
                 "contexts:\n"
                 "  prod:\n"
                 "    servers: prod:7400\n"
                 "  bare: {tls: true}\n");
    load_ok(&cfg, NULL, "no context chosen");
    expect_servers(NULL, NULL, NULL, LMS_DEFAULT_SERVERS, LMS_SRC_DEFAULT, 0, "nothing at all");
    s.servers = "session:7400";
    expect_servers(NULL, &fl, &s, "session:7400", LMS_SRC_SESSION, 0, "the session only");
    expect_servers(&cfg, &fl, &s, "top:7400", LMS_SRC_FILE, 2, "the file over the session");
    lms_config_free(&cfg);

    load_ok(&cfg, "bare", "a context without servers");
    expect_servers(&cfg, &fl, &s, "top:7400", LMS_SRC_FILE, 2, "a context that says nothing");
    lms_config_free(&cfg);

    load_ok(&cfg, "prod", "--context prod");
    expect_servers(&cfg, &fl, &s, "prod:7400", LMS_SRC_CONTEXT, 5, "the context over the file");
    setenv("LMS_SERVERS", "env:7400", 1);
    expect_servers(&cfg, &fl, &s, "env:7400", LMS_SRC_ENV, 0, "LMS_SERVERS over the context");
    fl.servers = "flag:7400";
    expect_servers(&cfg, &fl, &s, "flag:7400", LMS_SRC_FLAG, 0, "-s over LMS_SERVERS");
    lms_config_free(&cfg);
}

static void context_chosen_by_flag_env_or_file(void **state)
{
    struct lms_client_config cfg;
    write_config("context: a\n"
                 "contexts:\n"
                 "  a: {servers: a:1}\n"
                 "  b: {servers: b:1}\n"
                 "  c: {servers: c:1}\n");
    load_ok(&cfg, NULL, "the file's context");
    assert_string_equal(lms_config_servers(&cfg, NULL, NULL, NULL), "a:1");
    assert_int_equal(cfg.chosen_from.src, LMS_SRC_FILE);
    assert_int_equal(cfg.chosen_from.line, 1);
    lms_config_free(&cfg);

    setenv("LMS_CONTEXT", "b", 1);
    load_ok(&cfg, NULL, "LMS_CONTEXT");
    assert_string_equal(lms_config_servers(&cfg, NULL, NULL, NULL), "b:1");
    assert_int_equal(cfg.chosen_from.src, LMS_SRC_ENV);
    lms_config_free(&cfg);

    load_ok(&cfg, "c", "--context over LMS_CONTEXT");
    assert_string_equal(lms_config_servers(&cfg, NULL, NULL, NULL), "c:1");
    assert_int_equal(cfg.chosen_from.src, LMS_SRC_FLAG);
    assert_string_equal(cfg.chosen_from.name, "--context");
    lms_config_free(&cfg);
}

static void tls_precedence_and_levels(void **state)
{
    struct lms_client_config cfg;
    struct lms_cfg_flags fl = {0};
    struct lms_session s = {.tls = "cacert", .cacert = "/session/ca.crt"};
    char top_ca[700], prod_ca[700], *real = realpath(dir, NULL);
    snprintf(top_ca, sizeof top_ca, "%s/top.crt", real);
    free(real);
    snprintf(prod_ca, sizeof prod_ca, "/abs/prod.crt");
    write_config("cacert: top.crt\n"
                 "contexts:\n"
                 "  prod: {cacert: /abs/prod.crt}\n"
                 "  lab: {plaintext: true}\n"
                 "  sys: {tls: true}\n"
                 "  local: {tls: false}\n"
                 "  names: {servers: x:1}\n");
    expect_tls(NULL, &fl, &s, LMS_TLS_CAFILE, "/session/ca.crt", LMS_SRC_SESSION,
               "the session without a file");
    load_ok(&cfg, NULL, "no context");
    expect_tls(&cfg, &fl, &s, LMS_TLS_CAFILE, top_ca, LMS_SRC_FILE, "the file over the session");
    lms_config_free(&cfg);

    load_ok(&cfg, "names", "a context that names no TLS setting");
    expect_tls(&cfg, &fl, &s, LMS_TLS_CAFILE, top_ca, LMS_SRC_FILE, "the top level's choice");
    lms_config_free(&cfg);
    load_ok(&cfg, "lab", "lab");
    expect_tls(&cfg, &fl, &s, LMS_TLS_PLAINTEXT, NULL, LMS_SRC_CONTEXT, "plaintext: true");
    lms_config_free(&cfg);
    load_ok(&cfg, "sys", "sys");
    expect_tls(&cfg, &fl, &s, LMS_TLS_SYSTEM, NULL, LMS_SRC_CONTEXT, "tls: true");
    lms_config_free(&cfg);
    load_ok(&cfg, "local", "local");
    expect_tls(&cfg, &fl, &s, LMS_TLS_DEFAULT, NULL, LMS_SRC_CONTEXT,
               "tls: false chooses the default over the file and the session");
    lms_config_free(&cfg);

    load_ok(&cfg, "prod", "prod");
    expect_tls(&cfg, &fl, &s, LMS_TLS_CAFILE, prod_ca, LMS_SRC_CONTEXT, "the context's CA");
    setenv("LMS_TLS", "1", 1);
    expect_tls(&cfg, &fl, &s, LMS_TLS_SYSTEM, NULL, LMS_SRC_ENV, "LMS_TLS=1 over the context");
    fl.plaintext = true;
    expect_tls(&cfg, &fl, &s, LMS_TLS_PLAINTEXT, NULL, LMS_SRC_FLAG, "--plaintext over the env");
    lms_config_free(&cfg);
}

/* ---- values --------------------------------------------------------------- */

static void servers_as_string_or_list(void **state)
{
    struct lms_client_config cfg;
    write_config("servers: \"a:1, b:2\"\n");
    load_ok(&cfg, NULL, "a string");
    assert_string_equal(cfg.top.servers, "a:1, b:2");
    lms_config_free(&cfg);

    write_config("servers:\n  - a:1\n  - '[::1]:2'\n  - c\n");
    load_ok(&cfg, NULL, "a block list");
    assert_string_equal(cfg.top.servers, "a:1,[::1]:2,c");
    assert_int_equal(cfg.top.line[LMS_CFG_SERVERS], 1);
    lms_config_free(&cfg);

    write_config("contexts:\n  x: {servers: [d:4, e:5]}\n");
    load_ok(&cfg, "x", "a flow list in a context");
    assert_string_equal(cfg.chosen->servers, "d:4,e:5");
    lms_config_free(&cfg);

    load_fails("servers: []\n", NULL, 1, "servers: the list is empty");
    load_fails("servers:\n  - a:1\n  - [b:1]\n", NULL, 3,
               "servers: an entry of the list is a list");
    load_fails("servers: {a: 1}\n", NULL, 1, "servers: expected \"host:port,...\"");
    load_fails("servers:\n", NULL, 1, "servers has no value");
}

static void cacert_is_relative_to_the_file(void **state)
{
    struct lms_client_config cfg;
    char want[700], here[4096];
    char *real = realpath(dir, NULL);
    snprintf(want, sizeof want, "%s/certs/ca.crt", real);
    free(real);
    write_config("cacert: certs/ca.crt\ncontexts:\n  abs: {cacert: /etc/lms/ca.crt}\n");
    /* from another directory: still next to the file */
    assert_non_null(getcwd(here, sizeof here));
    assert_int_equal(chdir("/"), 0);
    load_ok(&cfg, NULL, "a relative cacert");
    assert_int_equal(chdir(here), 0);
    assert_string_equal(cfg.top.cacert, want);
    assert_string_equal(cfg.contexts[0].cacert, "/etc/lms/ca.crt");
    lms_config_free(&cfg);
}

static void booleans(void **state)
{
    struct lms_client_config cfg;
    write_config("tls: True\nplaintext: false\n");
    load_ok(&cfg, NULL, "True and false");
    assert_true(cfg.top.tls);
    assert_false(cfg.top.plaintext);
    lms_config_free(&cfg);
    load_fails("tls: yes\n", NULL, 1, "tls: expected true or false, not 'yes'");
    load_fails("contexts:\n  p:\n    plaintext: [true]\n", NULL, 3,
               "contexts.p.plaintext: expected true or false, not list");
}

/* ---- refusals ------------------------------------------------------------- */

static void unknown_keys_name_file_line_and_key(void **state)
{
    load_fails("servers: a:1\n\nsevrers: b:1\n", NULL, 3, "unknown key 'sevrers'");
    load_fails("contexts:\n  prod:\n    servers: a:1\n    cacrt: ca.crt\n", NULL, 4,
               "unknown key 'contexts.prod.cacrt'");
    /* in a context that is not used too */
    load_fails("context: a\ncontexts:\n  a: {}\n  b: {tsl: true}\n", NULL, 4,
               "unknown key 'contexts.b.tsl'");
    load_fails("servers: a:1\nservers: b:1\n", NULL, 2, "servers is given twice (first on line 1)");
    load_fails("contexts:\n  a: {}\n  a: {}\n", NULL, 3, "contexts.a is given twice");
    load_fails("- servers\n", NULL, 1, "expected a mapping of settings");
    load_fails("servers: a:1\n---\nservers: b:1\n", NULL, 3, "a second YAML document");
}

static void contradictions_in_one_level(void **state)
{
    load_fails("tls: true\nplaintext: true\n", NULL, 2,
               "plaintext: true contradicts tls: true (line 1)");
    load_fails("contexts:\n  x:\n    cacert: ca.crt\n    plaintext: true\n", NULL, 4,
               "contexts.x.plaintext: true contradicts contexts.x.cacert (line 3)");
    load_fails("cacert: ca.crt\ntls: false\n", NULL, 2, "tls: false contradicts cacert");
    /* across levels it is no contradiction: the context decides */
    struct lms_client_config cfg;
    write_config("tls: true\ncontexts:\n  x: {plaintext: true}\n");
    load_ok(&cfg, "x", "plaintext in a context under tls: true");
    lms_config_free(&cfg);
}

static void bad_yaml_names_the_line(void **state)
{
    load_fails("servers: a:1\ncontexts:\n  prod: {servers: [a:1}\n", NULL, 3, "not valid YAML");
    load_fails("servers: a:1\n  tls: true\n", NULL, 2, "not valid YAML");
    load_fails("servers: *nowhere\n", NULL, 1, "not valid YAML");
}

static void unknown_contexts(void **state)
{
    load_fails("context: prd\ncontexts:\n  prod: {}\n  test: {}\n", NULL, 1,
               "context: there is no context 'prd' under contexts (it has: prod, test)");
    load_fails("contexts:\n  prod: {}\n", "nope", 0,
               "no context 'nope' (--context) in");
    setenv("LMS_CONTEXT", "envctx", 1);
    load_fails("servers: a:1\n", NULL, 0, "no context 'envctx' (LMS_CONTEXT)");
    unsetenv("LMS_CONTEXT");
    /* no file at all */
    struct lms_client_config cfg;
    char err[1024];
    unlink(path);
    assert_int_equal(lms_config_load(&cfg, path, false, "prod", err, sizeof err), -1);
    lms_config_free(&cfg);
    if (strstr(err, "no context 'prod' (--context): there is no config file") == NULL)
        fail_msg("no file: %s", err);
}

static void missing_unreadable_and_writable_files(void **state)
{
    struct lms_client_config cfg;
    char err[1024];
    unlink(path);
    assert_int_equal(lms_config_load(&cfg, path, false, NULL, err, sizeof err), 0);
    assert_false(cfg.found);
    assert_null(cfg.top.servers);
    lms_config_free(&cfg);
    /* named with --config or $LMS_CONFIG it must be there */
    assert_int_equal(lms_config_load(&cfg, path, true, NULL, err, sizeof err), -1);
    lms_config_free(&cfg);
    if (strstr(err, path) == NULL || strstr(err, "No such file") == NULL)
        fail_msg("a named file that is missing: %s", err);

    write_config("servers: a:1\n");
    chmod(path, 0666);
    assert_int_equal(lms_config_load(&cfg, path, false, NULL, err, sizeof err), -1);
    lms_config_free(&cfg);
    if (strstr(err, "writable by others (mode 0666)") == NULL ||
        strstr(err, "chmod go-w") == NULL)
        fail_msg("a file everyone may write: %s", err);
    chmod(path, 0620);
    assert_int_equal(lms_config_load(&cfg, path, false, NULL, err, sizeof err), -1);
    lms_config_free(&cfg);
    if (strstr(err, "writable by its group (mode 0620)") == NULL)
        fail_msg("a file the group may write: %s", err);
    chmod(path, 0644);
    load_ok(&cfg, NULL, "mode 0644");
    lms_config_free(&cfg);

    if (geteuid() != 0) { /* root reads whatever the mode says */
        chmod(path, 0200);
        assert_int_equal(lms_config_load(&cfg, path, false, NULL, err, sizeof err), -1);
        lms_config_free(&cfg);
        if (strstr(err, "cannot read the config file") == NULL)
            fail_msg("an unreadable file: %s", err);
    }
    /* a directory is no file */
    assert_int_equal(lms_config_load(&cfg, dir, true, NULL, err, sizeof err), -1);
    lms_config_free(&cfg);
    if (strstr(err, "Is a directory") == NULL)
        fail_msg("a directory: %s", err);
    /* /dev/null: the way to say "no settings" */
    assert_int_equal(lms_config_load(&cfg, "/dev/null", true, NULL, err, sizeof err), 0);
    lms_config_free(&cfg);
}

/* ---- where the files are -------------------------------------------------- */

static void session_directory_and_config_path(void **state)
{
    const char *from = "unset";
    char *d;
    setenv("HOME", "/home/u", 1);
    unsetenv("XDG_CONFIG_HOME");
    d = lms_session_dir_from(NULL, &from);
    assert_string_equal(d, "/home/u/.config/lms");
    assert_null(from);
    free(d);
    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    d = lms_session_dir_from(NULL, &from);
    assert_string_equal(d, "/xdg/lms");
    assert_string_equal(from, "XDG_CONFIG_HOME");
    free(d);
    setenv("XDG_CONFIG_HOME", "relative/xdg", 1); /* ignored, as the spec says */
    d = lms_session_dir_from(NULL, &from);
    assert_string_equal(d, "/home/u/.config/lms");
    free(d);
    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    setenv("LMS_HOME", "/lmshome", 1);
    d = lms_session_dir_from(NULL, &from);
    assert_string_equal(d, "/lmshome");
    assert_string_equal(from, "LMS_HOME");
    free(d);
    d = lms_session_dir_from("/flag", &from);
    assert_string_equal(d, "/flag");
    assert_string_equal(from, "--home");
    free(d);
    unsetenv("XDG_CONFIG_HOME");

    struct lms_origin o;
    bool named;
    char *p = lms_config_path(NULL, "/d", &o, &named);
    assert_string_equal(p, "/d/config.yaml");
    assert_false(named);
    assert_int_equal(o.src, LMS_SRC_DEFAULT);
    free(p);
    setenv("LMS_CONFIG", "/env.yaml", 1);
    p = lms_config_path(NULL, "/d", &o, &named);
    assert_string_equal(p, "/env.yaml");
    assert_true(named);
    assert_int_equal(o.src, LMS_SRC_ENV);
    free(p);
    p = lms_config_path("/flag.yaml", "/d", &o, &named);
    assert_string_equal(p, "/flag.yaml");
    assert_int_equal(o.src, LMS_SRC_FLAG);
    free(p);
    unsetenv("LMS_CONFIG");
    assert_null(lms_config_path(NULL, NULL, &o, &named));
}

/* ---- through cli_main ------------------------------------------------------ */

static int handler_calls;

static int count_handler(struct cli_ctx *ctx, const struct cli_args *a)
{
    handler_calls++;
    return 0;
}

static const struct cli_command commands[] = {
    {.name = "open", .summary = "needs no session", .params = cli_config_view_params,
     .handler = count_handler},
    CLI_CONFIG_COMMANDS,
    {.name = NULL},
};

static const struct cli_program program = {
    .name = "lms-test", .summary = "a test program", .commands = commands};

/* Run the program with --home dir and the words; stdout into out. */
static int run(char *out, size_t outlen, ...)
{
    char *argv[16] = {"lms-test", "--home", dir};
    int argc = 3;
    va_list ap;
    va_start(ap, outlen);
    for (char *w; (w = va_arg(ap, char *)) != NULL && argc < 15;)
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

static void a_bad_file_stops_the_run_with_exit_2(void **state)
{
    char out[4096];
    handler_calls = 0;
    write_config("sevrers: a:1\n");
    assert_int_equal(run(out, sizeof out, "open", "--json", NULL), 2);
    assert_int_equal(handler_calls, 0);
    if (strstr(out, "config.yaml:1: unknown key 'sevrers'") == NULL ||
        strstr(out, "INVALID_ARGUMENT") == NULL)
        fail_msg("the JSON error: %s", out);
    write_config("servers: a:1\n");
    assert_int_equal(run(NULL, 0, "open", "--context", "nope", NULL), 2);
    assert_int_equal(handler_calls, 0);
    assert_int_equal(run(NULL, 0, "open", NULL), 0);
    assert_int_equal(handler_calls, 1);
}

static void config_view_says_where_each_setting_came_from(void **state)
{
    char out[8192];
    write_config("servers: top:1\ncontext: prod\ncontexts:\n  prod: {servers: prod:1}\n");
    assert_int_equal(run(out, sizeof out, "config", "view", "--json", NULL), 0);
    json_object *doc = json_tokener_parse(out), *row, *v;
    assert_non_null(doc);
    assert_true(json_object_object_get_ex(doc, "servers", &row));
    assert_true(json_object_object_get_ex(row, "value", &v));
    assert_string_equal(json_object_get_string(v), "prod:1");
    assert_true(json_object_object_get_ex(row, "source", &v));
    assert_string_equal(json_object_get_string(v), "context");
    assert_true(json_object_object_get_ex(row, "name", &v));
    assert_string_equal(json_object_get_string(v), "prod");
    assert_true(json_object_object_get_ex(row, "line", &v));
    assert_int_equal(json_object_get_int(v), 4);
    assert_true(json_object_object_get_ex(doc, "home", &row));
    assert_true(json_object_object_get_ex(row, "source", &v));
    assert_string_equal(json_object_get_string(v), "flag");
    json_object_put(doc);

    assert_int_equal(run(out, sizeof out, "-s", "f:1", "config", "view", NULL), 0);
    if (strstr(out, "servers  f:1  (flag --servers)") == NULL)
        fail_msg("the text view: %s", out);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(servers_precedence_flag_env_context_file_session_default),
        T(context_chosen_by_flag_env_or_file),
        T(tls_precedence_and_levels),
        T(servers_as_string_or_list),
        T(cacert_is_relative_to_the_file),
        T(booleans),
        T(unknown_keys_name_file_line_and_key),
        T(contradictions_in_one_level),
        T(bad_yaml_names_the_line),
        T(unknown_contexts),
        T(missing_unreadable_and_writable_files),
        T(session_directory_and_config_path),
        T(a_bad_file_stops_the_run_with_exit_2),
        T(config_view_says_where_each_setting_came_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

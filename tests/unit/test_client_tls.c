/* SPDX-License-Identifier: MIT */
/*
 * test_client_tls.c: the rules of the clients' TLS choice that need no
 * server: which addresses count as this machine's (the default speaks
 * plaintext only to those), the refusal of plaintext to another machine
 * before anything is sent, the precedence of the command line over the
 * environment over the session (cli_tls), and CA files that cannot be
 * used. The handshake itself is tested end to end (tests/e2e/test_tls_client.py).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "cli.h"
#include "lmsclient.h"
#include "tls.h"

/* ---- loopback ----------------------------------------------------------- */

static bool loopback(const char *text)
{
    struct sockaddr_storage ss = {0};
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, text, &in6->sin6_addr) != 1)
            fail_msg("bad test address %s", text);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        if (inet_pton(AF_INET, text, &in->sin_addr) != 1)
            fail_msg("bad test address %s", text);
    }
    return lms_addr_is_loopback((const struct sockaddr *)&ss);
}

static void expect_loopback(const char *addr, bool want)
{
    if (loopback(addr) != want)
        fail_msg("%s: expected %s, got the opposite", addr,
                 want ? "loopback" : "not loopback (another machine)");
}

static void loopback_is_127_slash_8_and_v6_one(void **state)
{
    expect_loopback("127.0.0.1", true);
    expect_loopback("127.0.0.2", true);
    expect_loopback("127.255.255.254", true);
    expect_loopback("::1", true);
    expect_loopback("::ffff:127.0.0.1", true);
    expect_loopback("126.255.255.255", false);
    expect_loopback("128.0.0.1", false);
    expect_loopback("10.0.0.1", false);
    expect_loopback("192.0.2.1", false);
    expect_loopback("0.0.0.0", false);
    expect_loopback("::", false);
    expect_loopback("::2", false);
    expect_loopback("::ffff:10.0.0.1", false);
    expect_loopback("fe80::1", false);
    expect_loopback("2001:db8::1", false);
}

static void mode_names_round_trip(void **state)
{
    const enum lms_tls_mode modes[] = {LMS_TLS_DEFAULT, LMS_TLS_PLAINTEXT, LMS_TLS_SYSTEM,
                                       LMS_TLS_CAFILE};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        enum lms_tls_mode m = LMS_TLS_DEFAULT;
        const char *name = lms_tls_mode_name(modes[i]);
        if (lms_tls_mode_parse(name, &m) != 0 || m != modes[i])
            fail_msg("mode %d named '%s' does not read back", (int)modes[i], name);
    }
    enum lms_tls_mode m;
    assert_int_equal(lms_tls_mode_parse("on", &m), -1);
    assert_int_equal(lms_tls_mode_parse("", &m), -1);
}

/* ---- plaintext to another machine --------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A whoami to servers in mode: its result and message. */
static enum lms_client_rc call(const char *servers, enum lms_tls_mode mode, char *err,
                               size_t errlen)
{
    struct lms_client *c = lms_client_new(servers, err, errlen);
    assert_non_null(c);
    assert_int_equal(lms_client_set_tls(c, mode, NULL, err, errlen), 0);
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__WhoamiRequest body = LMS__WHOAMI_REQUEST__INIT;
    req.body_case = LMS__REQUEST__BODY_WHOAMI;
    req.whoami = &body;
    Lms__Response *resp = NULL;
    enum lms_client_rc rc = lms_client_call(c, &req, &resp, err, errlen);
    if (resp != NULL)
        lms__response__free_unpacked(resp, NULL);
    lms_client_free(c);
    return rc;
}

static void plaintext_to_another_machine_is_refused_before_connecting(void **state)
{
    char err[1024];
    int64_t t0 = mono_ms();
    /* TEST-NET-1: nothing answers there; a connect would take the whole
     * connect timeout (or fail with "unreachable") */
    enum lms_client_rc rc = call("192.0.2.1:7400", LMS_TLS_DEFAULT, err, sizeof err);
    int64_t took = mono_ms() - t0;
    if (rc != LMS_CLIENT_CONFIG)
        fail_msg("plaintext to 192.0.2.1: expected LMS_CLIENT_CONFIG, got %d (%s)", (int)rc, err);
    if (strstr(err, "cannot use 192.0.2.1:7400: 192.0.2.1 is not a loopback address") == NULL ||
        strstr(err, "--cacert FILE") == NULL || strstr(err, "--plaintext") == NULL)
        fail_msg("unexpected message: %s", err);
    if (took > 500)
        fail_msg("the refusal took %lld ms: it must come before any connect", (long long)took);
}

static void every_server_is_judged_by_its_own_address(void **state)
{
    char err[1024];
    /* the loopback entry is tried (nobody listens on port 1: refused);
     * the other one is skipped without a connect */
    enum lms_client_rc rc = call("192.0.2.1:7400,127.0.0.1:1", LMS_TLS_DEFAULT, err, sizeof err);
    if (rc != LMS_CLIENT_CONFIG)
        fail_msg("expected LMS_CLIENT_CONFIG (no server reached, one unusable), got %d (%s)",
                 (int)rc, err);
    if (strstr(err, "192.0.2.1 is not a loopback address") == NULL)
        fail_msg("unexpected message: %s", err);
    /* --plaintext lets the same list through to the loopback one */
    rc = call("127.0.0.1:1", LMS_TLS_PLAINTEXT, err, sizeof err);
    if (rc != LMS_CLIENT_UNREACHABLE || strstr(err, "connection refused") == NULL)
        fail_msg("--plaintext to 127.0.0.1:1: expected unreachable (connection refused), got %d "
                 "(%s)",
                 (int)rc, err);
}

/* ---- precedence: command line, environment, session ---------------------- */

static void clear_env(void)
{
    unsetenv("LMS_CACERT");
    unsetenv("LMS_TLS");
    unsetenv("LMS_PLAINTEXT");
}

static void expect_choice(const struct cli_ctx *ctx, enum lms_tls_mode want, const char *file,
                          const char *what)
{
    enum lms_tls_mode mode;
    char *cafile = NULL, err[512];
    if (cli_tls(ctx, &mode, &cafile, err, sizeof err) != 0)
        fail_msg("%s: refused: %s", what, err);
    if (mode != want || (file == NULL) != (cafile == NULL) ||
        (file != NULL && strcmp(file, cafile) != 0))
        fail_msg("%s: expected %s %s, got %s %s", what, lms_tls_mode_name(want),
                 file ? file : "", lms_tls_mode_name(mode), cafile ? cafile : "");
    free(cafile);
}

static void expect_contradiction(const struct cli_ctx *ctx, const char *words, const char *what)
{
    enum lms_tls_mode mode;
    char *cafile = NULL, err[512];
    if (cli_tls(ctx, &mode, &cafile, err, sizeof err) == 0)
        fail_msg("%s: expected a refusal, got %s", what, lms_tls_mode_name(mode));
    if (strstr(err, words) == NULL)
        fail_msg("%s: expected '%s' in the message, got: %s", what, words, err);
    free(cafile);
}

static void command_line_over_environment_over_session(void **state)
{
    struct cli_ctx ctx = {0};
    clear_env();
    expect_choice(&ctx, LMS_TLS_DEFAULT, NULL, "nothing given");

    ctx.session.tls = "cacert";
    ctx.session.cacert = "/session/ca.crt";
    expect_choice(&ctx, LMS_TLS_CAFILE, "/session/ca.crt", "the session's choice");
    ctx.session.tls = "plaintext";
    expect_choice(&ctx, LMS_TLS_PLAINTEXT, NULL, "the session's plaintext");
    ctx.session.tls = "bogus";
    expect_choice(&ctx, LMS_TLS_DEFAULT, NULL, "an unknown word in the session");

    ctx.session.tls = "cacert";
    setenv("LMS_TLS", "1", 1);
    expect_choice(&ctx, LMS_TLS_SYSTEM, NULL, "LMS_TLS=1 over the session");
    setenv("LMS_CACERT", "/env/ca.crt", 1);
    expect_choice(&ctx, LMS_TLS_CAFILE, "/env/ca.crt", "LMS_CACERT over LMS_TLS=1");
    setenv("LMS_PLAINTEXT", "1", 1);
    expect_contradiction(&ctx, "LMS_PLAINTEXT=1 contradicts LMS_CACERT", "both in the env");

    ctx.plaintext_opt = true;
    expect_choice(&ctx, LMS_TLS_PLAINTEXT, NULL, "--plaintext over the environment");
    ctx.cacert_opt = "/opt/ca.crt";
    expect_contradiction(&ctx, "--plaintext contradicts --cacert", "both on the command line");
    ctx.plaintext_opt = false;
    expect_choice(&ctx, LMS_TLS_CAFILE, "/opt/ca.crt", "--cacert over the environment");
    ctx.cacert_opt = NULL;
    ctx.tls_opt = true;
    expect_choice(&ctx, LMS_TLS_SYSTEM, NULL, "--tls over the environment");

    ctx.tls_opt = false;
    clear_env();
    setenv("LMS_TLS", "yes", 1);
    expect_contradiction(&ctx, "bad LMS_TLS 'yes' (expected 1 or 0)", "LMS_TLS=yes");
    setenv("LMS_TLS", "0", 1);
    expect_choice(&ctx, LMS_TLS_CAFILE, "/session/ca.crt", "LMS_TLS=0 says nothing");
    clear_env();
}

/* ---- CA files ------------------------------------------------------------ */

static void unusable_ca_files_are_named(void **state)
{
    char err[512];
    struct lms_tls *t = lms_tls_new(LMS_TLS_CAFILE, "/nonexistent/ca.crt", err, sizeof err);
    assert_null(t);
    if (strstr(err, "cannot read the CA certificate file /nonexistent/ca.crt") == NULL)
        fail_msg("missing file: %s", err);
    /* a file that holds no certificate: this source file */
    const char *path = LMS_SOURCE_DIR "/tests/unit/test_client_tls.c";
    t = lms_tls_new(LMS_TLS_CAFILE, path, err, sizeof err);
    assert_null(t);
    if (strstr(err, "holds no CA certificate") == NULL)
        fail_msg("not a PEM file: %s", err);
    /* the system's store loads (even when it is empty) */
    t = lms_tls_new(LMS_TLS_SYSTEM, NULL, err, sizeof err);
    if (t == NULL)
        fail_msg("the system's CAs: %s", err);
    lms_tls_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loopback_is_127_slash_8_and_v6_one),
        cmocka_unit_test(mode_names_round_trip),
        cmocka_unit_test(plaintext_to_another_machine_is_refused_before_connecting),
        cmocka_unit_test(every_server_is_judged_by_its_own_address),
        cmocka_unit_test(command_line_over_environment_over_session),
        cmocka_unit_test(unusable_ca_files_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_auth_password.c: the auth_password plugin, loaded the way lmsd loads
 * it (plugin_load, the real host table, options from a YAML file): argon2id
 * round trips, the three verify outcomes chained auth relies on, fresh
 * salts, and refusal of bad options.
 */
#include "config.h"
#include "log.h"
#include "plugin_loader.h"

#include <lms/auth.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char g_tmpdir[64];

/* One loaded plugin instance and what it hangs on. */
typedef struct fixture {
    lms_config *config;
    loaded_plugin plugin;
    struct lms_plugin_ctx ctx;
    const struct lms_auth_ops *ops;
    void *inst;
} fixture;

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected a message containing \"%s\"\n      got \"%s\"",
                 needle, haystack);
}

static char *write_config(const char *auth_options)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/auth.yaml", g_tmpdir) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "node: { data_dir: . }\nstorage: { plugin: x }\n"
               "auth:\n  plugin: auth_password\n%s",
            auth_options);
    fclose(f);
    return path;
}

/* Load the plugin with auth_options (YAML lines under auth:) and call init;
 * returns init's status, err its message. */
static int start(fixture *fx, const char *auth_options, lms_err *err)
{
    memset(fx, 0, sizeof *fx);
    char *path = write_config(auth_options);
    lms_err e;
    if (config_load(path, &fx->config, &e) != LMS_OK)
        fail_msg("config_load: %s", e.msg);
    free(path);
    if (plugin_load("auth_password", NULL, LMS_PLUGIN_AUTH, &fx->plugin, &e))
        fail_msg("plugin_load: %s", e.msg);
    fx->ops = fx->plugin.desc->ops;
    fx->ctx.config = fx->config->auth.node;
    snprintf(fx->ctx.name, sizeof fx->ctx.name, "auth_password");
    return fx->ops->init(plugin_host(), &fx->ctx, &fx->inst, err);
}

static void stop(fixture *fx)
{
    if (fx->inst)
        fx->ops->shutdown(fx->inst);
    plugin_unload(&fx->plugin);
    config_free(fx->config);
}

/* Cheap costs so the suite stays fast (also under the sanitizers). */
#define FAST "  time_cost: 1\n  memory_kib: 64\n"

static void start_fast(fixture *fx)
{
    lms_err err;
    if (start(fx, FAST, &err) != LMS_OK)
        fail_msg("init: %s", err.msg);
}

static void hash_then_verify_accepts_the_password(void **state)
{
    fixture fx;
    start_fast(&fx);
    char h[256];
    lms_err err;
    assert_int_equal(fx.ops->hash(fx.inst, "correct horse", h, sizeof h, &err),
                     LMS_OK);
    assert_int_equal(strncmp(h, "$argon2id$v=19$m=64,t=1,p=1$", 28), 0);
    assert_null(strstr(h, "correct horse"));
    assert_int_equal(fx.ops->verify(fx.inst, "ann", "correct horse", h, &err),
                     LMS_AUTH_OK);
    stop(&fx);
}

static void verify_denies_a_wrong_password(void **state)
{
    fixture fx;
    start_fast(&fx);
    char h[256];
    lms_err err;
    assert_int_equal(fx.ops->hash(fx.inst, "secret", h, sizeof h, &err), LMS_OK);
    assert_int_equal(fx.ops->verify(fx.inst, "ann", "Secret", h, &err),
                     LMS_AUTH_DENIED);
    assert_int_equal(fx.ops->verify(fx.inst, "ann", "", h, &err),
                     LMS_AUTH_DENIED);
    stop(&fx);
}

static void verify_says_not_mine_for_other_formats(void **state)
{
    fixture fx;
    start_fast(&fx);
    lms_err err;
    const char *others[] = {
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "plain text", "", NULL,
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (fx.ops->verify(fx.inst, "ann", "x", others[i], &err) !=
            LMS_AUTH_NOT_MINE)
            fail_msg("expected NOT_MINE for \"%s\"",
                     others[i] ? others[i] : "(null)");
    stop(&fx);
}

static void verify_reports_a_malformed_hash_as_error(void **state)
{
    fixture fx;
    start_fast(&fx);
    lms_err err = {0};
    assert_int_equal(
        fx.ops->verify(fx.inst, "ann", "x", "$argon2id$garbage", &err),
        LMS_AUTH_ERROR);
    assert_int_not_equal(err.code, LMS_OK);
    assert_contains(err.msg, "auth_password: stored hash unusable: ");
    lms_err_clear(&err);
    assert_int_equal(fx.ops->verify(fx.inst, "ann", "x",
                                    "$argon2id$v=19$m=99999999,t=1,p=1$"
                                    "c2FsdHNhbHQ$aGFzaGhhc2g",
                                    &err),
                     LMS_AUTH_ERROR);
    assert_contains(err.msg, "costs above the limits");
    stop(&fx);
}

static void two_hashes_of_one_password_differ(void **state)
{
    fixture fx;
    start_fast(&fx);
    char a[256], b[256];
    lms_err err;
    assert_int_equal(fx.ops->hash(fx.inst, "same", a, sizeof a, &err), LMS_OK);
    assert_int_equal(fx.ops->hash(fx.inst, "same", b, sizeof b, &err), LMS_OK);
    if (strcmp(a, b) == 0)
        fail_msg("expected different salts, got %s twice", a);
    assert_int_equal(fx.ops->verify(fx.inst, "u", "same", a, &err), LMS_AUTH_OK);
    assert_int_equal(fx.ops->verify(fx.inst, "u", "same", b, &err), LMS_AUTH_OK);
    stop(&fx);
}

static void hash_refuses_a_short_buffer(void **state)
{
    fixture fx;
    start_fast(&fx);
    char h[40];
    lms_err err;
    assert_int_equal(fx.ops->hash(fx.inst, "pw", h, sizeof h, &err),
                     LMS_INVALID_ARGUMENT);
    assert_contains(err.msg, "hash buffer is 40 bytes");
    stop(&fx);
}

static void defaults_are_the_owasp_minimum(void **state)
{
    fixture fx;
    lms_err err;
    assert_int_equal(start(&fx, "", &err), LMS_OK);
    char h[256];
    assert_int_equal(fx.ops->hash(fx.inst, "pw", h, sizeof h, &err), LMS_OK);
    assert_int_equal(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    /* a hash made with other costs still verifies: they travel with it */
    fixture fast;
    start_fast(&fast);
    assert_int_equal(fast.ops->verify(fast.inst, "u", "pw", h, &err),
                     LMS_AUTH_OK);
    stop(&fast);
    stop(&fx);
}

/* init with options must fail with INVALID_ARGUMENT and a message with want. */
static void expect_bad_options(const char *options, const char *want)
{
    fixture fx;
    lms_err err;
    int rc = start(&fx, options, &err);
    if (rc != LMS_INVALID_ARGUMENT)
        fail_msg("options \"%s\": expected INVALID_ARGUMENT, got %d", options,
                 rc);
    assert_null(fx.inst);
    assert_contains(err.msg, want);
    stop(&fx);
}

static void init_refuses_bad_options(void **state)
{
    expect_bad_options("  time_cost: 0\n",
                       "auth_password: time_cost = 0 is out of range "
                       "(expected 1 to 64)");
    expect_bad_options("  parallelism: 17\n", "parallelism = 17 is out of range");
    expect_bad_options("  memory_kib: 4\n", "memory_kib = 4 is out of range "
                                            "(expected 8 to 4194304)");
    expect_bad_options("  parallelism: 4\n  memory_kib: 16\n",
                       "memory_kib = 16 is out of range (expected 32 to");
    char want[128];
    snprintf(want, sizeof want, "%s/auth.yaml:5: auth.time_cost: expected an "
             "integer, got 'fast'", g_tmpdir);
    expect_bad_options("  time_cost: fast\n", want);
}

static int make_tmpdir(void **state)
{
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/lms-test-auth-XXXXXX");
    return mkdtemp(g_tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    char path[128];
    snprintf(path, sizeof path, "%s/auth.yaml", g_tmpdir);
    unlink(path);
    return rmdir(g_tmpdir);
}

int main(void)
{
    lms_log_set_level(LMS_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_then_verify_accepts_the_password),
        cmocka_unit_test(verify_denies_a_wrong_password),
        cmocka_unit_test(verify_says_not_mine_for_other_formats),
        cmocka_unit_test(verify_reports_a_malformed_hash_as_error),
        cmocka_unit_test(two_hashes_of_one_password_differ),
        cmocka_unit_test(hash_refuses_a_short_buffer),
        cmocka_unit_test(defaults_are_the_owasp_minimum),
        cmocka_unit_test(init_refuses_bad_options),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}

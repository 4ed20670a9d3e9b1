/* SPDX-License-Identifier: MIT */
/*
 * test_reload.c: core/reload.c. The diff of two configs names the settings
 * that changed, in the file's order, each live or restart-only, with both
 * values as the log shows them; applying it changes only the live ones (a
 * second diff finds only the restart-only ones left), sets the log level
 * for every thread, and logs one line per change and one for what needs a
 * restart.
 */
#include "reload.h"

#include "log.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char g_tmpdir[64];
static char g_path[128];

#define HEAD "node: { data_dir: data }\n"
#define STORAGE "storage: { plugin: storage_sqlite }\n"

static lms_config *load(const char *body)
{
    FILE *f = fopen(g_path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    lms_config *c = NULL;
    lms_err err;
    if (config_load(g_path, &c, &err) != LMS_OK)
        fail_msg("expected the config to load, got: %s\n%s", err.msg, body);
    return c;
}

typedef struct want {
    const char *key;
    int restart;
    const char *was, *now;
} want;

/* The diff of a against b is exactly want (n rows), in that order. */
static void expect_diff(const lms_config *a, const lms_config *b, const want *w, size_t n)
{
    reload_change ch[RELOAD_MAX_CHANGES];
    size_t got = reload_diff(a, b, ch, RELOAD_MAX_CHANGES);
    for (size_t i = 0; i < got && i < n; i++) {
        if (strcmp(ch[i].key, w[i].key) != 0 || ch[i].restart != w[i].restart ||
            strcmp(ch[i].was, w[i].was) != 0 || strcmp(ch[i].now, w[i].now) != 0)
            fail_msg("change %zu: expected %s%s %s -> %s, got %s%s %s -> %s", i, w[i].key,
                     w[i].restart ? " (restart)" : "", w[i].was, w[i].now, ch[i].key,
                     ch[i].restart ? " (restart)" : "", ch[i].was, ch[i].now);
    }
    if (got != n)
        fail_msg("expected %zu changes, got %zu (the first extra or missing: %s)", n, got,
                 got > n ? ch[n].key : w[got].key);
}

static void test_same_file_changes_nothing(void **state)
{
    (void)state;
    const char *body = HEAD "log: { level: info }\nlimits: { max_connections: 5 }\n" STORAGE
                            "auth: { plugin: auth_password, time_cost: 2 }\n";
    lms_config *a = load(body), *b = load(body);
    expect_diff(a, b, NULL, 0);
    /* the same values written otherwise are the same settings */
    lms_config *c = load(HEAD "log:\n  level: INFO\nlimits:\n  max_connections: 5\n" STORAGE
                              "auth:\n  time_cost: 2\n  plugin: auth_password\n");
    expect_diff(a, c, NULL, 0);
    config_free(a);
    config_free(b);
    config_free(c);
}

static void test_live_and_restart_only_settings(void **state)
{
    (void)state;
    lms_config *a = load(HEAD "listen: { client: 127.0.0.1:7400 }\n"
                              "log: { level: info }\nsessions: { ttl: 1h }\n"
                              "limits: { max_upload_bytes: 1MiB, idle_timeout: 5m }\n" STORAGE);
    lms_config *b = load("node: { data_dir: data2 }\n"
                         "listen: { client: 127.0.0.1:7500 }\n"
                         "log: { level: debug, format: json, slow_request: 250ms }\n"
                         "sessions: { ttl: 30m }\n"
                         "limits: { max_upload_bytes: 2KiB, idle_timeout: 90s, "
                         "max_connections: 10, login_failures: 3, readers: 2, "
                         "max_output_bytes: 1MiB }\n"
                         "storage: { plugin: storage_sqlite, busy_timeout: 5000 }\n"
                         "raft: { tick: 20ms }\n");
    char dir_a[200], dir_b[200];
    snprintf(dir_a, sizeof dir_a, "%s", a->data_dir);
    snprintf(dir_b, sizeof dir_b, "%s", b->data_dir);
    const want w[] = {
        {"node.data_dir", 1, dir_a, dir_b},
        {"listen.client", 1, "127.0.0.1:7400", "127.0.0.1:7500"},
        {"log.level", 0, "info", "debug"},
        {"log.format", 0, "text", "json"},
        {"log.slow_request", 0, "1s", "250ms"},
        {"sessions.ttl", 0, "1h", "30m"},
        {"limits.max_upload_bytes", 0, "1MiB", "2KiB"},
        {"limits.max_connections", 0, "1024", "10"},
        {"limits.idle_timeout", 0, "5m", "90s"},
        {"limits.max_output_bytes", 1, "64MiB", "1MiB"},
        {"limits.login_failures", 0, "5", "3"},
        {"limits.readers", 1, "auto", "2"},
        {"storage", 1, "", ""},
        {"raft.tick", 1, "10ms", "20ms"},
    };
    expect_diff(a, b, w, sizeof w / sizeof w[0]);
    config_free(a);
    config_free(b);
}

/* An upload must fit in a frame of the running node's limit, which only a
 * restart changes: a larger one waits for the restart with it. */
static void test_upload_larger_than_the_running_frame_waits(void **state)
{
    (void)state;
    lms_config *a = load(HEAD STORAGE);
    lms_config *b = load(HEAD "limits: { max_frame_bytes: 1GiB, max_upload_bytes: 100MiB }\n"
                              STORAGE);
    const want w[] = {
        {"limits.max_frame_bytes", 1, "64MiB", "1GiB"},
        {"limits.max_upload_bytes", 1, "32MiB", "100MiB"},
    };
    expect_diff(a, b, w, 2);
    config_free(a);
    config_free(b);
}

/* Run fn with stderr going to a pipe; returns what it wrote. */
static char *captured(size_t (*fn)(lms_config *, const lms_config *), lms_config *a,
                      const lms_config *b, size_t *ret)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(dup2(p[1], STDERR_FILENO) >= 0);
    close(p[1]);
    *ret = fn(a, b); /* a few lines: the pipe holds them */
    dup2(saved, STDERR_FILENO);
    close(saved);
    static char out[8192];
    ssize_t n = read(p[0], out, sizeof out - 1);
    close(p[0]);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

static size_t apply(lms_config *running, const lms_config *next)
{
    reload_targets none = {0};
    return reload_apply(running, next, &none);
}

static void test_apply_changes_only_live_settings(void **state)
{
    (void)state;
    lms_log_set_level(LMS_LOG_INFO);
    lms_config *a = load(HEAD "listen: { client: 127.0.0.1:7400 }\n"
                              "log: { level: info }\nlimits: { max_upload_bytes: 1MiB }\n" STORAGE);
    lms_config *b = load(HEAD "listen: { client: 127.0.0.1:7500, metrics: 127.0.0.1:9400 }\n"
                              "log: { level: debug }\nsessions: { ttl: 10m }\n"
                              "limits: { max_upload_bytes: 2KiB }\n" STORAGE);
    size_t applied;
    char *log = captured(apply, a, b, &applied);
    assert_int_equal(applied, 3);
    const char *lines[] = {
        "INFO  reload: log.level info -> debug\n",
        "INFO  reload: sessions.ttl 1d -> 10m\n",
        "INFO  reload: limits.max_upload_bytes 1MiB -> 2KiB\n",
        "WARN  reload: listen.client, listen.metrics changed: these need a restart; still "
        "using the old values\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(log, lines[i]))
            fail_msg("expected \"%s\" in the log, got:\n%s", lines[i], log);
    assert_int_equal(lms_log_get_level(), LMS_LOG_DEBUG);
    assert_int_equal(a->log_level, LMS_LOG_DEBUG);
    assert_int_equal(a->session_ttl_ms, 600000);
    assert_int_equal(a->max_upload_bytes, 2048);
    assert_string_equal(a->client_addr, "127.0.0.1:7400");
    assert_null(a->metrics_addr);
    /* what is left differs only where a restart is needed */
    const want w[] = {
        {"listen.client", 1, "127.0.0.1:7400", "127.0.0.1:7500"},
        {"listen.metrics", 1, "(none)", "127.0.0.1:9400"},
    };
    expect_diff(a, b, w, 2);
    /* and once more: nothing applies, the restart line again */
    log = captured(apply, a, b, &applied);
    assert_int_equal(applied, 0);
    assert_null(strstr(log, "->"));
    assert_non_null(strstr(log, "listen.client, listen.metrics changed"));
    /* one restart-only setting is said in the singular */
    lms_config *c = load(HEAD "listen: { client: 127.0.0.1:7400 }\n"
                              "log: { level: debug }\nsessions: { ttl: 10m }\n"
                              "limits: { max_upload_bytes: 2KiB, max_frame_bytes: 1MiB }\n"
                              STORAGE);
    log = captured(apply, a, c, &applied);
    assert_non_null(strstr(log, "WARN  reload: limits.max_frame_bytes changed: it needs a "
                                "restart; still using the old value\n"));
    lms_log_set_level(LMS_LOG_INFO);
    config_free(a);
    config_free(b);
    config_free(c);
}

static void test_nothing_changed_is_said(void **state)
{
    (void)state;
    lms_config *a = load(HEAD STORAGE), *b = load(HEAD STORAGE);
    size_t applied;
    char *log = captured(apply, a, b, &applied);
    assert_int_equal(applied, 0);
    assert_non_null(strstr(log, "INFO  reload: no setting changed\n"));
    config_free(a);
    config_free(b);
}

/* The config a reload hands the tutor carries the running node.data_dir,
 * plugin_dir and other restart-only strings: a tutor plugin looked up in
 * the new plugin_dir, or keeping its index under the new data_dir, would
 * be the restart-only change the log says did not happen. Its own section
 * and the live settings are the file's. */
static void test_read_hands_on_the_running_paths(void **state)
{
    (void)state;
    lms_config *a = load("node: { data_dir: data }\nplugin_dir: /opt/lms/p1\n"
                         "listen: { client: 127.0.0.1:7400 }\n" STORAGE
                         "tutor: { plugin: tutor_local, index_path: one }\n");
    lms_config *b = load("node: { data_dir: data2 }\nplugin_dir: /opt/lms/p2\n"
                         "listen: { client: 127.0.0.1:7401 }\nlog: { level: warn }\n"
                         STORAGE "tutor: { plugin: tutor_local, index_path: two }\n");
    reload_targets none = {0};
    lms_config *next = reload_read(a, &none);
    assert_non_null(next);
    assert_string_equal(next->data_dir, a->data_dir);
    assert_string_not_equal(next->data_dir, b->data_dir);
    assert_string_equal(next->plugin_dir, "/opt/lms/p1");
    assert_string_equal(next->client_addr, "127.0.0.1:7400");
    assert_string_equal(next->tutor.plugin, "tutor_local");
    assert_true(config_node_equal(next->tutor.node, b->tutor.node));
    assert_false(config_node_equal(next->tutor.node, a->tutor.node));
    assert_int_equal(a->log_level, LMS_LOG_WARN); /* applied */
    lms_log_set_level(LMS_LOG_INFO);
    config_free(next);
    config_free(a);
    config_free(b);
}

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/lms-test-reload-XXXXXX");
    if (!mkdtemp(g_tmpdir))
        return -1;
    snprintf(g_path, sizeof g_path, "%s/lmsd.yaml", g_tmpdir);
    return 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    unlink(g_path);
    return rmdir(g_tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_file_changes_nothing),
        cmocka_unit_test(test_live_and_restart_only_settings),
        cmocka_unit_test(test_upload_larger_than_the_running_frame_waits),
        cmocka_unit_test(test_apply_changes_only_live_settings),
        cmocka_unit_test(test_nothing_changed_is_said),
        cmocka_unit_test(test_read_hands_on_the_running_paths),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}

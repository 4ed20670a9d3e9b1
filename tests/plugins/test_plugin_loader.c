/* SPDX-License-Identifier: MIT */
/*
 * test_plugin_loader.c: the plugin loader refuses each broken fixture
 * (tests/plugins/broken_plugin.c) with one line naming the file and the
 * specific reason, loads the real plugins, and the host service table
 * (core/base/host.c) gives a plugin its config, log prefix and worker pool.
 */
#include "config.h"
#include "log.h"
#include "plugin_loader.h"
#include "workers.h"

#include <event2/event.h>
#include <fcntl.h>
#include <lms/auth.h>
#include <lms/storage.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char g_tmpdir[64];

/* Fail with both texts unless haystack contains needle. */
static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected a message containing \"%s\"\n      got \"%s\"",
                 needle, haystack);
}

static char *fixture(const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s.so", LMS_TEST_PLUGIN_DIR, name) > 0);
    return p;
}

/*
 * Load fixture name as kind and check the refusal: status code, one line,
 * starting with the fixture's path, containing reason; nothing left loaded.
 */
static void expect_refusal(const char *name, uint32_t kind, int code,
                           const char *reason)
{
    loaded_plugin p;
    lms_err err;
    char *path = fixture(name);
    int rc = plugin_load(path, NULL, kind, &p, &err);
    if (rc != code)
        fail_msg("%s: expected status %d, got %d (%s)", name, code, rc,
                 err.msg);
    assert_int_equal(err.code, code);
    assert_null(strchr(err.msg, '\n'));
    if (strncmp(err.msg, path, strlen(path)) != 0 ||
        strncmp(err.msg + strlen(path), ": ", 2) != 0)
        fail_msg("expected the message to start with \"%s: \", got \"%s\"",
                 path, err.msg);
    assert_contains(err.msg, reason);
    assert_null(p.dl);
    assert_null(p.desc);
    assert_null(p.path);
    free(path);
}

static void refuses_bad_magic(void **state)
{
    expect_refusal("broken_bad_magic", LMS_PLUGIN_AUTH,
                   LMS_FAILED_PRECONDITION,
                   "bad magic 0xdeadbeef (expected 0x4c4d5350, not an lms "
                   "plugin)");
}

static void refuses_other_abi_major_naming_both_versions(void **state)
{
    char want[128];
    snprintf(want, sizeof want,
             "plugin ABI %d.%d is not compatible with lmsd ABI %d.%d",
             LMS_ABI_MAJOR + 1, LMS_ABI_MINOR, LMS_ABI_MAJOR, LMS_ABI_MINOR);
    expect_refusal("broken_abi_major", LMS_PLUGIN_AUTH,
                   LMS_FAILED_PRECONDITION, want);
}

static void refuses_newer_abi_minor_naming_both_versions(void **state)
{
    char want[128];
    snprintf(want, sizeof want,
             "plugin ABI %d.%d is not compatible with lmsd ABI %d.%d (the "
             "plugin needs a newer lmsd)",
             LMS_ABI_MAJOR, LMS_ABI_MINOR + 1, LMS_ABI_MAJOR, LMS_ABI_MINOR);
    expect_refusal("broken_abi_minor", LMS_PLUGIN_AUTH,
                   LMS_FAILED_PRECONDITION, want);
}

static void refuses_small_descriptor(void **state)
{
    char want[128];
    snprintf(want, sizeof want, "descriptor is %zu bytes, lmsd ABI %d.%d "
             "needs at least %zu",
             offsetof(struct lms_plugin_descriptor, ops), LMS_ABI_MAJOR,
             LMS_ABI_MINOR, sizeof(struct lms_plugin_descriptor));
    expect_refusal("broken_small_descriptor", LMS_PLUGIN_AUTH,
                   LMS_FAILED_PRECONDITION, want);
}

static void refuses_wrong_kind(void **state)
{
    expect_refusal("broken_wrong_kind", LMS_PLUGIN_STORAGE,
                   LMS_FAILED_PRECONDITION,
                   "is a tutor plugin, expected storage");
}

static void refuses_missing_entry_symbol(void **state)
{
    expect_refusal("broken_no_entry", LMS_PLUGIN_AUTH, LMS_FAILED_PRECONDITION,
                   "does not export lms_plugin_entry (not an lms plugin)");
}

static void refuses_null_descriptor(void **state)
{
    expect_refusal("broken_null_entry", LMS_PLUGIN_AUTH,
                   LMS_FAILED_PRECONDITION, "lms_plugin_entry() returned NULL");
}

static void refuses_null_ops(void **state)
{
    expect_refusal("broken_null_ops", LMS_PLUGIN_AUTH, LMS_FAILED_PRECONDITION,
                   "has no auth ops table");
}

static void refuses_small_ops_table(void **state)
{
    char want[128];
    snprintf(want, sizeof want,
             "auth ops table is %zu bytes, lmsd ABI %d.%d needs at least %zu",
             offsetof(struct lms_auth_ops, verify), LMS_ABI_MAJOR,
             LMS_ABI_MINOR, sizeof(struct lms_auth_ops));
    expect_refusal("broken_small_ops", LMS_PLUGIN_AUTH,
                   LMS_FAILED_PRECONDITION, want);
}

static void refuses_null_storage_callback_by_name(void **state)
{
    expect_refusal("broken_storage_null_callback", LMS_PLUGIN_STORAGE,
                   LMS_FAILED_PRECONDITION,
                   "missing required storage callback 'user_get'");
}

/* Storage ABI 1.4 appended the records, without which lmsd's state
 * machine cannot apply commands: a storage plugin built against an older
 * SDK is refused, naming what it lacks and what to do. */
static void refuses_storage_built_against_abi_1_3(void **state)
{
    char want[160];
    snprintf(want, sizeof want,
             "was built against storage ABI %d.3; this lmsd needs %d.4 "
             "(records); rebuild it against the installed SDK",
             LMS_ABI_MAJOR, LMS_ABI_MAJOR);
    expect_refusal("old_storage_abi_1_3", LMS_PLUGIN_STORAGE,
                   LMS_FAILED_PRECONDITION, want);
}

/* Before ABI 1.4 a 1.2 storage plugin loaded (lmsd warned that it could
 * not check the store's owner); now it is refused like a 1.3 one. */
static void refuses_storage_built_against_abi_1_2(void **state)
{
    char want[160];
    snprintf(want, sizeof want,
             "was built against storage ABI %d.2; this lmsd needs %d.4 "
             "(records)", LMS_ABI_MAJOR, LMS_ABI_MAJOR);
    expect_refusal("old_storage_abi_1_2", LMS_PLUGIN_STORAGE,
                   LMS_FAILED_PRECONDITION, want);
}

/* The records are required like every other storage callback, and a
 * plugin that says 1.4 must bring 1.4's whole table. */
static void refuses_storage_without_record_list(void **state)
{
    expect_refusal("broken_storage_null_record_list", LMS_PLUGIN_STORAGE,
                   LMS_FAILED_PRECONDITION,
                   "missing required storage callback 'record_list'");
}

static void refuses_storage_table_short_of_its_minor(void **state)
{
    char want[160];
    snprintf(want, sizeof want, "storage ops table is %zu bytes, lmsd ABI "
             "%d.%d needs at least %zu",
             offsetof(struct lms_storage_ops, record_put), LMS_ABI_MAJOR,
             LMS_ABI_MINOR, sizeof(struct lms_storage_ops));
    expect_refusal("broken_storage_short_table", LMS_PLUGIN_STORAGE,
                   LMS_FAILED_PRECONDITION, want);
}

static void refuses_null_auth_callback_by_name(void **state)
{
    expect_refusal("broken_auth_null_callback", LMS_PLUGIN_AUTH,
                   LMS_FAILED_PRECONDITION,
                   "missing required auth callback 'hash'");
}

static void refuses_null_tutor_callback_by_name(void **state)
{
    expect_refusal("broken_tutor_null_ask", LMS_PLUGIN_TUTOR,
                   LMS_FAILED_PRECONDITION,
                   "missing required tutor callback 'ask'");
}

static void refuses_unknown_tutor_flag(void **state)
{
    char want[128];
    snprintf(want, sizeof want,
             "unknown tutor flags 0x80 (lmsd ABI %d.%d knows 0x3: blocking, "
             "streams)",
             LMS_ABI_MAJOR, LMS_ABI_MINOR);
    expect_refusal("broken_tutor_unknown_flag", LMS_PLUGIN_TUTOR,
                   LMS_FAILED_PRECONDITION, want);
}

static void refuses_missing_file(void **state)
{
    loaded_plugin p;
    lms_err err;
    int rc = plugin_load("no_such_plugin", LMS_TEST_PLUGIN_DIR,
                         LMS_PLUGIN_AUTH, &p, &err);
    assert_int_equal(rc, LMS_NOT_FOUND);
    assert_contains(err.msg, LMS_TEST_PLUGIN_DIR "/no_such_plugin.so: ");
    assert_contains(err.msg, "No such file or directory");
}

static void refuses_file_that_is_not_a_shared_object(void **state)
{
    char path[128];
    snprintf(path, sizeof path, "%s/text.so", g_tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not an ELF file\n", f);
    fclose(f);
    loaded_plugin p;
    lms_err err;
    int rc = plugin_load(path, NULL, LMS_PLUGIN_AUTH, &p, &err);
    assert_int_equal(rc, LMS_FAILED_PRECONDITION);
    assert_int_equal(strncmp(err.msg, path, strlen(path)), 0);
    assert_contains(err.msg, "cannot load plugin");
    unlink(path);
}

static void refuses_real_plugin_of_other_kind(void **state)
{
    loaded_plugin p;
    lms_err err;
    int rc = plugin_load("auth_password", NULL, LMS_PLUGIN_STORAGE, &p, &err);
    assert_int_equal(rc, LMS_FAILED_PRECONDITION);
    assert_contains(err.msg, LMS_PLUGIN_BUILD_DIR "/auth_password.so: is an "
                             "auth plugin, expected storage");
}

/* Load name from dir (NULL: the default) as kind, which must succeed. */
static void expect_load(const char *name, const char *dir, uint32_t kind,
                        const char *want_path)
{
    loaded_plugin p;
    lms_err err;
    int rc = plugin_load(name, dir, kind, &p, &err);
    if (rc != LMS_OK)
        fail_msg("%s: expected to load, got %d: %s", name, rc, err.msg);
    assert_non_null(p.dl);
    assert_non_null(p.desc);
    assert_int_equal(p.desc->kind, kind);
    assert_string_equal(p.path, want_path);
    plugin_unload(&p);
    assert_null(p.dl);
    assert_null(p.path);
}

static void loads_auth_password_from_build_dir(void **state)
{
    expect_load("auth_password", NULL, LMS_PLUGIN_AUTH,
                LMS_PLUGIN_BUILD_DIR "/auth_password.so");
    expect_load("auth_password.so", LMS_PLUGIN_BUILD_DIR, LMS_PLUGIN_AUTH,
                LMS_PLUGIN_BUILD_DIR "/auth_password.so");
}

static void loads_storage_sqlite_when_built(void **state)
{
    const char *path = LMS_PLUGIN_BUILD_DIR "/storage_sqlite.so";
    if (access(path, F_OK) != 0)
        skip(); /* not written yet */
    expect_load("storage_sqlite", NULL, LMS_PLUGIN_STORAGE, path);
}

static void loads_correct_fixtures(void **state)
{
    char *storage = fixture("fake_storage"), *tutor = fixture("fake_tutor");
    expect_load("fake_storage", LMS_TEST_PLUGIN_DIR, LMS_PLUGIN_STORAGE,
                storage);
    expect_load(tutor, NULL, LMS_PLUGIN_TUTOR, tutor);
    free(storage);
    free(tutor);
}

static void names_kinds(void **state)
{
    assert_string_equal(plugin_kind_name(LMS_PLUGIN_STORAGE), "storage");
    assert_string_equal(plugin_kind_name(LMS_PLUGIN_TUTOR), "tutor");
    assert_string_equal(plugin_kind_name(LMS_PLUGIN_AUTH), "auth");
    assert_string_equal(plugin_kind_name(42), "unknown");
}

/* ---- the host service table ---------------------------------------------- */

/* Write body to <tmpdir>/name and load it as a config. */
static lms_config *load_config(const char *name, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    lms_config *c;
    lms_err err;
    if (config_load(path, &c, &err) != LMS_OK)
        fail_msg("config_load: %s", err.msg);
    return c;
}

static void host_reads_the_plugin_subtree(void **state)
{
    lms_config *c = load_config("host.yaml", "node: { data_dir: /srv/lms }\n"
                                             "storage: { plugin: x }\n"
                                             "auth:\n"
                                             "  plugin: auth_password\n"
                                             "  time_cost: 3\n"
                                             "  pepper_file: /etc/pepper\n"
                                             "  strict: yes\n"
                                             "  memory_kib: lots\n");
    struct lms_plugin_ctx ctx = {.config = c->auth.node, .data_dir = c->data_dir};
    snprintf(ctx.name, sizeof ctx.name, "auth_password");
    const struct lms_host *h = plugin_host();
    assert_int_equal(h->size, sizeof(struct lms_host));
    long long n = 0;
    const char *s = NULL;
    int b = 0;
    lms_err err;
    assert_int_equal(h->config_int(&ctx, "time_cost", &n, &err), LMS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(h->config_string(&ctx, "pepper_file", &s, &err), LMS_OK);
    assert_string_equal(s, "/etc/pepper");
    assert_int_equal(h->config_bool(&ctx, "strict", &b, &err), LMS_OK);
    assert_int_equal(b, 1);
    n = 7;
    assert_int_equal(h->config_int(&ctx, "parallelism", &n, &err),
                     LMS_NOT_FOUND);
    assert_int_equal(n, 7);
    assert_int_equal(h->config_int(&ctx, "memory_kib", &n, &err),
                     LMS_INVALID_ARGUMENT);
    char want[160];
    snprintf(want, sizeof want, "%s/host.yaml:8: auth.memory_kib: expected an "
             "integer, got 'lots'", g_tmpdir);
    assert_string_equal(err.msg, want);
    assert_string_equal(h->data_dir(&ctx), "/srv/lms");
    assert_null(h->event_base(&ctx));
    config_free(c);
}

static void host_without_a_subtree_finds_nothing(void **state)
{
    struct lms_plugin_ctx ctx = {.name = "auth_password"};
    const char *s = "default";
    assert_int_equal(plugin_host()->config_string(&ctx, "x", &s, NULL),
                     LMS_NOT_FOUND);
    assert_string_equal(s, "default");
}

static void host_log_prefixes_the_plugin_name(void **state)
{
    char path[128];
    snprintf(path, sizeof path, "%s/log.txt", g_tmpdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int saved = dup(STDERR_FILENO);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, STDERR_FILENO);
    struct lms_plugin_ctx ctx = {.name = "tutor_local"};
    plugin_host()->log(&ctx, LMS_LOG_WARN, "model %s not found", "tiny");
    dup2(saved, STDERR_FILENO);
    close(saved);
    char buf[256] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    assert_true(n > 0);
    assert_contains(buf, "WARN  tutor_local: model tiny not found\n");
}

typedef struct job_state {
    struct event_base *base;
    int worked, done;
} job_state;

static void job_work(void *arg)
{
    ((job_state *)arg)->worked = 1;
}

static void job_done(void *arg)
{
    job_state *j = arg;
    j->done = j->worked ? 1 : -1;
    event_base_loopbreak(j->base);
}

static void host_runs_blocking_work_then_done_on_the_loop(void **state)
{
    job_state j = {.base = event_base_new()};
    assert_non_null(j.base);
    struct lms_plugin_ctx ctx = {.name = "t", .base = j.base};
    ctx.workers = workers_start(j.base, "test", 1, 1);
    assert_non_null(ctx.workers);
    const struct lms_host *h = plugin_host();
    assert_ptr_equal(h->event_base(&ctx), j.base);
    assert_int_equal(h->run_blocking(&ctx, job_work, job_done, &j), LMS_OK);
    /* the queue holds one job and the loop has not run its done yet */
    assert_int_equal(h->run_blocking(&ctx, job_work, job_done, &j),
                     LMS_RESOURCE_EXHAUSTED);
    event_base_dispatch(j.base);
    assert_int_equal(j.done, 1);
    workers_free(ctx.workers);
    ctx.workers = NULL;
    assert_int_equal(h->run_blocking(&ctx, job_work, job_done, &j),
                     LMS_UNAVAILABLE);
    event_base_free(j.base);
}

/* ---- main -------------------------------------------------------------- */

static int make_tmpdir(void **state)
{
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/lms-test-plugins-XXXXXX");
    return mkdtemp(g_tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    static const char *const files[] = {"text.so", "host.yaml", "log.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", g_tmpdir, files[i]);
        unlink(path);
    }
    return rmdir(g_tmpdir);
}

int main(void)
{
    lms_log_set_level(LMS_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_bad_magic),
        cmocka_unit_test(refuses_other_abi_major_naming_both_versions),
        cmocka_unit_test(refuses_newer_abi_minor_naming_both_versions),
        cmocka_unit_test(refuses_small_descriptor),
        cmocka_unit_test(refuses_wrong_kind),
        cmocka_unit_test(refuses_missing_entry_symbol),
        cmocka_unit_test(refuses_null_descriptor),
        cmocka_unit_test(refuses_null_ops),
        cmocka_unit_test(refuses_small_ops_table),
        cmocka_unit_test(refuses_null_storage_callback_by_name),
        cmocka_unit_test(refuses_storage_built_against_abi_1_3),
        cmocka_unit_test(refuses_storage_built_against_abi_1_2),
        cmocka_unit_test(refuses_storage_without_record_list),
        cmocka_unit_test(refuses_storage_table_short_of_its_minor),
        cmocka_unit_test(refuses_null_auth_callback_by_name),
        cmocka_unit_test(refuses_null_tutor_callback_by_name),
        cmocka_unit_test(refuses_unknown_tutor_flag),
        cmocka_unit_test(refuses_missing_file),
        cmocka_unit_test(refuses_file_that_is_not_a_shared_object),
        cmocka_unit_test(refuses_real_plugin_of_other_kind),
        cmocka_unit_test(loads_auth_password_from_build_dir),
        cmocka_unit_test(loads_storage_sqlite_when_built),
        cmocka_unit_test(loads_correct_fixtures),
        cmocka_unit_test(names_kinds),
        cmocka_unit_test(host_reads_the_plugin_subtree),
        cmocka_unit_test(host_without_a_subtree_finds_nothing),
        cmocka_unit_test(host_log_prefixes_the_plugin_name),
        cmocka_unit_test(host_runs_blocking_work_then_done_on_the_loop),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}

/* SPDX-License-Identifier: MIT */
/*
 * check_storage.c: lms-plugin-check's checks of a storage plugin: open and
 * close with the configured options, then the storage conformance suite
 * (tools/storage_suite), the very tests the build runs against
 * storage_sqlite, one report line per test.
 *
 * The suite is cmocka tests, so it runs in a forked child with cmocka's
 * TAP output on a pipe, and this process turns each TAP result into an
 * ok/FAIL/skip line. Why a child rather than a runner of our own: the
 * tests stay exactly the ones ctest runs (no second copy to drift), a
 * failing assertion's longjmp and whatever the plugin leaves behind stay
 * in the child, and a plugin that crashes or hangs kills only the child
 * (the watchdog of check_report.c still names the test in progress).
 *
 * Stores: each one a fresh directory under the checker's temporary data
 * dir with a file store of its own (host.h); with --isolate KEY each store
 * also gets its own value of that config key (<configured>_c1, _c2, ...),
 * for backends whose stores are not files, through a host table that
 * answers that one key and hands every other call to lmsd's own host.
 */
#include "plugin_check.h"

#include "filestore.h"
#include "storage_suite.h"

#include <errno.h>
#include <ftw.h>
#include <lms/storage.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h> /* after what it needs */

#define MAX_STORES 8

/* A store of the running test; ctx first, so the host can find the rest
 * from the pointer the plugin hands back. */
typedef struct tool_store {
    struct lms_plugin_ctx ctx;
    int used;
    char dir[512];
    char value[LMS_NAME_MAX + 1]; /* the isolated key's value */
} tool_store;

static struct {
    check_env *env;
    const char *isolate;
    const char *base; /* the configured value of the isolate key */
    unsigned serial;  /* stores made so far in this run */
    tool_store stores[MAX_STORES];
    struct lms_host host;
} tool;

/* The host's config_string, but the isolate key is the store's own. */
static int isolated_string(struct lms_plugin_ctx *ctx, const char *key,
                           const char **out, lms_err *err)
{
    tool_store *s = (tool_store *)ctx;
    if (tool.isolate && strcmp(key, tool.isolate) == 0) {
        *out = s->value;
        return LMS_OK;
    }
    return plugin_host()->config_string(ctx, key, out, err);
}

static struct lms_plugin_ctx *tool_store_ctx(void *arg, int n, lms_err *err)
{
    (void)arg;
    if (n < 1 || n > MAX_STORES) {
        lms_err_set(err, LMS_OUT_OF_RANGE, "store %d: at most %d", n,
                    MAX_STORES);
        return NULL;
    }
    tool_store *s = &tool.stores[n - 1];
    if (s->used)
        return &s->ctx;
    memset(s, 0, sizeof *s);
    unsigned k = ++tool.serial;
    snprintf(s->dir, sizeof s->dir, "%s/c%u", tool.env->data_dir, k);
    if (mkdir(s->dir, 0700) != 0) {
        lms_err_set(err, LMS_INTERNAL, "mkdir %s: %s", s->dir,
                    strerror(errno));
        return NULL;
    }
    s->ctx = tool.env->ctx; /* name, config, loop, workers */
    s->ctx.data_dir = s->dir;
    if (filestore_open(s->dir, &s->ctx.files, err) != LMS_OK)
        return NULL;
    snprintf(s->value, sizeof s->value, "%s_c%u", tool.base, k);
    s->used = 1;
    return &s->ctx;
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0;
}

static void tool_test_end(void *arg)
{
    (void)arg;
    for (int i = 0; i < MAX_STORES; i++) {
        tool_store *s = &tool.stores[i];
        if (!s->used)
            continue;
        filestore_free(s->ctx.files);
        nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        s->used = 0;
    }
}

/* The child: every group with TAP output on fd, then exit. */
static void run_suite_child(const storage_target *t, int fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the checker */
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO); /* cmocka's failure messages */
    close(fd);
    setvbuf(stdout, NULL, _IONBF, 0); /* keep the order of both streams */
    cmocka_set_message_output(CM_OUTPUT_TAP);
    int failed = 0;
    for (int g = 0; g < storage_suite_groups(); g++) {
        printf("# group %s\n", storage_suite_group_name(g));
        failed += storage_suite_run_group(t, g);
    }
    _exit(failed ? 1 : 0);
}

/* The TAP reader's state: the group, the last test reported, the
 * failure waiting for the lines that follow its "not ok", and the lines
 * seen since the last result (a failure's message comes first). */
typedef struct tap {
    char group[64], last[128];
    char pending[128];
    char msg[2048], seen[2048];
    int has_pending;
} tap;

static void append(char *buf, size_t cap, const char *line)
{
    size_t len = strlen(buf);
    if (len + 3 < cap) /* what does not fit is cut */
        snprintf(buf + len, cap - len, "%s%.*s", len ? "; " : "",
                 (int)(cap - len - 3), line);
}

/* "group/name", without cmocka's "test_" prefix. */
static void check_name(const tap *t, const char *test, char *out, size_t n)
{
    if (strncmp(test, "test_", 5) == 0)
        test += 5;
    snprintf(out, n, "%s/%.*s", t->group, (int)strcspn(test, " "), test);
}

static void flush_pending(tap *t)
{
    if (!t->has_pending)
        return;
    report_begin(t->pending);
    report_fail("%s", t->msg[0] ? t->msg : "failed");
    snprintf(t->last, sizeof t->last, "%s", t->pending);
    t->has_pending = 0;
    report_begin(t->last);
}

/* After each result the watchdog watches the next test. */
static void watch_next(tap *t)
{
    char name[200];
    snprintf(name, sizeof name, "the test after %s", t->last);
    report_begin(name);
}

static void tap_line(tap *t, char *line)
{
    line[strcspn(line, "\n")] = '\0';
    char name[128];
    if (strncmp(line, "# group ", 8) == 0) {
        flush_pending(t);
        snprintf(t->group, sizeof t->group, "%.*s", (int)sizeof t->group - 1,
                 line + 8);
    } else if (strncmp(line, "ok ", 3) == 0 && strstr(line, " - ")) {
        flush_pending(t);
        check_name(t, strstr(line, " - ") + 3, name, sizeof name);
        report_begin(name);
        report_ok("passed");
        snprintf(t->last, sizeof t->last, "%s", name);
        t->seen[0] = '\0';
        watch_next(t);
    } else if (strncmp(line, "not ok ", 7) == 0 && strstr(line, "# SKIP ")) {
        flush_pending(t);
        check_name(t, strstr(line, "# SKIP ") + 7, name, sizeof name);
        report_begin(name);
        report_skip("the plugin does not offer it (%s)",
                    t->seen[0] ? t->seen : "skipped by the test");
        snprintf(t->last, sizeof t->last, "%s", name);
        t->seen[0] = '\0';
        watch_next(t);
    } else if (strncmp(line, "not ok ", 7) == 0 && strstr(line, " - ")) {
        flush_pending(t);
        const char *test = strstr(line, " - ") + 3;
        check_name(t, test, t->pending, sizeof t->pending);
        snprintf(t->msg, sizeof t->msg, "%s", t->seen);
        if (strchr(test, ' ')) /* "Could not run test: ..." */
            append(t->msg, sizeof t->msg, strchr(test, ' ') + 1);
        t->seen[0] = '\0';
        t->has_pending = 1;
    } else if (line[0] == '#') {
        if (strncmp(line, "# ok - ", 7) == 0 ||
            strncmp(line, "# not ok - ", 11) == 0)
            flush_pending(t);
        else if (t->has_pending)
            append(t->msg, sizeof t->msg, line + 2);
    } else if (strncmp(line, "1..", 3) != 0 && line[0]) {
        append(t->seen, sizeof t->seen, line);
    }
}

/* Fork the suite, report its results, judge how the child ended. */
static void run_suite(const storage_target *t)
{
    int fds[2];
    report_begin("storage suite");
    if (pipe(fds) < 0) {
        report_fail("pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        report_fail("fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        run_suite_child(t, fds[1]);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    tap st = {.last = "the start"};
    char line[4096];
    int before = report_failures();
    while (in && fgets(line, sizeof line, in))
        tap_line(&st, line);
    flush_pending(&st);
    if (in)
        fclose(in);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    report_begin("storage suite");
    if (WIFSIGNALED(status))
        report_fail("the suite died of signal %d after %s (the plugin "
                    "crashed)%s%s",
                    WTERMSIG(status), st.last, st.seen[0] ? ": " : "",
                    st.seen);
    else if (WEXITSTATUS(status) != 0 && report_failures() == before)
        report_fail("the suite exited with status %d but reported no "
                    "failing test%s%s",
                    WEXITSTATUS(status), st.seen[0] ? ": " : "", st.seen);
    else
        report_disarm();
}

void check_storage(check_env *env)
{
    const struct lms_storage_ops *ops = env->plugin.desc->ops;
    void *inst = NULL;
    lms_err err;
    lms_err_clear(&err);
    report_begin("open");
    int rc = ops->open(plugin_host(), &env->ctx, &inst, &err);
    if (rc != LMS_OK) {
        report_fail("%s: %s", check_status_name(rc), err.msg);
        return;
    }
    report_ok("opened with data_dir %s", env->data_dir);
    report_begin("close");
    ops->close(inst);
    report_ok("closed");

    tool.env = env;
    tool.isolate = env->opts->isolate;
    tool.base = "lms_check";
    tool.host = *plugin_host();
    if (tool.isolate) {
        lms_err e;
        plugin_host()->config_string(&env->ctx, tool.isolate, &tool.base, &e);
        tool.host.config_string = isolated_string;
        report_note("each store gets its own %s: %s_c1, %s_c2, ... (the "
                    "checker cannot remove them: drop them afterwards)",
                    tool.isolate, tool.base, tool.base);
    }
    storage_target t = {
        .ops = ops,
        .host = &tool.host,
        .name = env->plugin.desc->name,
        .store = tool_store_ctx,
        .test_end = tool_test_end,
        .exact_messages = strcmp(env->plugin.desc->name, "storage_sqlite") == 0,
    };
    run_suite(&t);
}

/* SPDX-License-Identifier: MIT */
/*
 * lms-plugin-check.c: load an lms plugin outside lmsd and run a
 * conformance suite against it, so a plugin author (or an operator about to
 * deploy one) learns what is wrong before lmsd does.
 *
 *   lms-plugin-check [--config lmsd.yaml] [--timeout 10s] [--question TEXT]
 *                    [--isolate KEY] [--valgrind] [--verbose] FILE.so
 *
 * One line per check on stdout ("ok", "FAIL" or "skip", the check's name
 * and why), the plugin's log on stderr, and a summary; the exit status is 0
 * only when no check failed. --valgrind runs the same checks again in a
 * child under valgrind and adds a check that fails on any leak or memory
 * error. The checks themselves live in check_*.c (see plugin_check.h).
 */
#include "plugin_check.h"

#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <lms/tutor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define UNDER_VALGRIND_ENV "LMS_PLUGIN_CHECK_UNDER_VALGRIND"
#define DEFAULT_QUESTION "Why does my recursive factorial function never stop?"

static void usage(FILE *f)
{
    fputs(
        "usage: lms-plugin-check [options] FILE.so\n"
        "Load an lms plugin outside lmsd and check that it keeps the plugin\n"
        "contract (include/lms/*.h). Exit status 0 when every check passes.\n"
        "\n"
        "  --config FILE    an lmsd.yaml: the plugin gets the options of its\n"
        "                   slot (tutor:, storage: or auth:) from it\n"
        "  --timeout DUR    how long an answer may take: 10s (default),\n"
        "                   500ms, 2m, or plain seconds\n"
        "  --question TEXT  the question tutors are asked\n"
        "  --isolate KEY    storage: give each store of the suite its own\n"
        "                   value of this option (KEY_c1, ...), e.g.\n"
        "                   database; else stores differ by data dir only\n"
        "  --valgrind       run the checks under valgrind too; leaks and\n"
        "                   memory errors fail\n"
        "  --verbose        show the plugin's debug log (stderr)\n"
        "  --help           this text\n",
        f);
}

/* "250ms", "10s", "2m" or a number of seconds; -1 when s is none of them. */
static int64_t parse_duration(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0 || v > 86400000)
        return -1;
    if (strcmp(end, "ms") == 0)
        return v;
    if (strcmp(end, "s") == 0 || *end == '\0')
        return v * 1000;
    if (strcmp(end, "m") == 0)
        return v * 60000;
    return -1;
}

/* Parse argv into o; 0, or 2 after printing why (exit status). */
static int parse_args(int argc, char **argv, check_opts *o, int *valgrind)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"question", required_argument, NULL, 'q'},
        {"isolate", required_argument, NULL, 'i'},
        {"valgrind", no_argument, NULL, 'V'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:t:q:vh", longs, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'q':
            o->question = optarg;
            break;
        case 'i':
            o->isolate = optarg;
            break;
        case 'V':
            *valgrind = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 't':
            if ((o->timeout_ms = parse_duration(optarg)) <= 0) {
                fprintf(stderr,
                        "lms-plugin-check: --timeout %s: expected "
                        "a duration such as 10s, 500ms or 2m\n",
                        optarg);
                return 2;
            }
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    o->plugin = argv[optind];
    return 0;
}

/* ---- the checks, in this process ----------------------------------------- */

static int run_checks(check_opts *o)
{
    /* A bare file name is a file here, not a name to look up. */
    char path[4096];
    snprintf(path, sizeof path, "%s%s", strchr(o->plugin, '/') ? "" : "./",
             o->plugin);
    o->plugin = path;
    check_env env = {.opts = o};
    report_watchdog_install((2 * o->timeout_ms + 10000) *
                            (o->under_valgrind ? 4 : 1));
    if (check_descriptor(&env) == 0 && check_env_open(&env) == 0) {
        switch (env.plugin.desc->kind) {
        case LMS_PLUGIN_STORAGE:
            check_storage(&env);
            break;
        case LMS_PLUGIN_AUTH:
            check_auth(&env);
            break;
        default:
            if (check_tutor(&env) < 0) {
                /* The plugin still runs on some thread: do not free what
                 * it may use, just leave. */
                check_env_abandon(&env);
                if (!o->under_valgrind)
                    report_summary(o->plugin);
                fflush(stdout);
                _exit(1);
            }
        }
    }
    check_env_close(&env);
    if (!o->under_valgrind)
        report_summary(path);
    return report_failures() ? 1 : 0;
}

/* ---- the same checks under valgrind -------------------------------------- */

/* The path of prog in $PATH into out, or -1. */
static int find_in_path(const char *prog, char *out, size_t n)
{
    const char *p = getenv("PATH");
    while (p && *p) {
        size_t len = strcspn(p, ":");
        snprintf(out, n, "%.*s/%s", (int)len, p, prog);
        if (len && access(out, X_OK) == 0)
            return 0;
        p += len + (p[len] == ':');
    }
    return -1;
}

/* The lines of valgrind's log that sum it up, joined with "; ". */
static void valgrind_summary(const char *log, char *out, size_t n)
{
    static const char *const keys[] = {"definitely lost:", "indirectly lost:",
                                       "possibly lost:", "ERROR SUMMARY:"};
    FILE *f = fopen(log, "r");
    char line[512];
    size_t used = 0;
    out[0] = '\0';
    while (f && fgets(line, sizeof line, f)) {
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            char *at = strstr(line, keys[k]);
            if (!at || used >= n)
                continue;
            at[strcspn(at, "\n")] = '\0';
            used += (size_t)snprintf(out + used, n - used, "%s%s",
                                     used ? "; " : "", at);
        }
    }
    if (f)
        fclose(f);
}

/* Start argv under valgrind with stdout into a pipe; the child's pid. */
static pid_t spawn_valgrind(const char *valgrind, const char *log, int argc,
                            char **argv, int *out_fd)
{
    char **args = calloc((size_t)argc + 6, sizeof *args);
    char logopt[600], self[4096];
    int fds[2];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (!args || len <= 0 || pipe(fds) < 0) {
        free(args);
        return -1;
    }
    self[len] = '\0';
    snprintf(logopt, sizeof logopt, "--log-file=%s", log);
    int n = 0;
    args[n++] = (char *)"valgrind";
    args[n++] = (char *)"--leak-check=full";
    args[n++] = (char *)"--error-exitcode=99";
    args[n++] = logopt;
    args[n++] = self;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--valgrind") != 0)
            args[n++] = argv[i];
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        setenv(UNDER_VALGRIND_ENV, "1", 1);
        execv(valgrind, args);
        _exit(127);
    }
    free(args);
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

/* Pass the child's lines on (counting them), then judge its exit. */
static void collect(pid_t pid, int fd, const char *log)
{
    FILE *in = fdopen(fd, "r");
    char line[4096];
    while (in && fgets(line, sizeof line, in)) {
        fputs(line, stdout);
        report_count_line(line);
    }
    fflush(stdout);
    if (in)
        fclose(in);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    char sum[1024];
    valgrind_summary(log, sum, sizeof sum);
    report_begin("valgrind");
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        report_fail("could not start valgrind");
    else if (WIFSIGNALED(st))
        report_fail("the checks died of signal %d under valgrind (its report: "
                    "%s)",
                    WTERMSIG(st), log);
    else if (WEXITSTATUS(st) == 99)
        report_fail("%s (the whole report: %s)", sum, log);
    else {
        report_ok("no leaks and no memory errors");
        unlink(log);
    }
}

/* Why valgrind cannot run the checks here, or NULL and its path in out. */
static const char *no_valgrind(char *out, size_t n)
{
    if (find_in_path("valgrind", out, n) < 0)
        return "valgrind is not installed (not in $PATH)";
#if defined(__SANITIZE_ADDRESS__)
    return "this lms-plugin-check is built with AddressSanitizer, which "
           "valgrind cannot run (ASan checks memory instead)";
#endif
    return NULL;
}

static int run_under_valgrind(int argc, char **argv, check_opts *o)
{
    char valgrind[4096], log[] = "/tmp/lms-plugin-check-valgrind-XXXXXX";
    const char *why = no_valgrind(valgrind, sizeof valgrind);
    if (why) {
        report_begin("valgrind");
        report_skip("%s", why);
        return run_checks(o);
    }
    int fd = mkstemp(log), out;
    if (fd >= 0)
        close(fd);
    pid_t pid = fd < 0 ? -1 : spawn_valgrind(valgrind, log, argc, argv, &out);
    if (pid < 0) {
        perror("lms-plugin-check: cannot start valgrind");
        return 2;
    }
    collect(pid, out, log);
    report_summary(o->plugin);
    return report_failures() ? 1 : 0;
}

int main(int argc, char **argv)
{
    check_opts o = {.question = DEFAULT_QUESTION, .timeout_ms = 10000};
    int valgrind = 0;
    int rc = parse_args(argc, argv, &o, &valgrind);
    if (rc)
        return rc;
    const char *child = getenv(UNDER_VALGRIND_ENV);
    o.under_valgrind = child && strcmp(child, "1") == 0;
    lms_log_set_level(o.verbose ? LMS_LOG_DEBUG : LMS_LOG_WARN);
    if (valgrind && !o.under_valgrind)
        return run_under_valgrind(argc, argv, &o);
    return run_checks(&o);
}

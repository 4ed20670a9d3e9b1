/* SPDX-License-Identifier: MIT */
/*
 * check_report.c: lms-plugin-check's output. Every check ends in exactly one
 * line on stdout, "ok   name: detail", "FAIL name: reason" or
 * "skip name: why", and the run ends with a count of each.
 *
 * A plugin under test may crash or hang. Either would take the checker with
 * it and leave the user with a core dump or a silent terminal, so a fatal
 * signal or a check that outlives its time limit prints the FAIL line of
 * the check in progress from a signal handler (write(2) only) before the
 * process dies. The crash handler then hands the signal on to whoever had
 * it before (AddressSanitizer's report, or the default core dump).
 */
#include "plugin_check.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int n_ok, n_fail, n_skip;

/* The current check's name, and the message the watchdog prints, composed
 * in advance because a signal handler may not format. */
static char current[96];
static char hang_line[256];
static int64_t watchdog_ms;
static char cleanup_dir[256];

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static struct sigaction saved[sizeof fatal_signals / sizeof fatal_signals[0]];

static void write_str(const char *s)
{
    ssize_t w = write(STDOUT_FILENO, s, strlen(s));
    (void)w;
}

static void arm_alarm(int64_t ms)
{
    struct itimerval t = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &t, NULL);
}

void report_begin(const char *name)
{
    snprintf(current, sizeof current, "%s", name);
    snprintf(hang_line, sizeof hang_line,
             "FAIL %s: still running after %lld ms; the plugin hangs (the "
             "checker gives up)\n",
             name, (long long)watchdog_ms);
    if (watchdog_ms > 0)
        arm_alarm(watchdog_ms);
}

static void end(const char *tag, int *count, const char *fmt, va_list ap)
{
    if (watchdog_ms > 0)
        arm_alarm(0);
    printf("%s %s: ", tag, current[0] ? current : "check");
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    (*count)++;
    current[0] = '\0';
}

void report_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    end("ok  ", &n_ok, fmt, ap);
    va_end(ap);
}

void report_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    end("FAIL", &n_fail, fmt, ap);
    va_end(ap);
}

void report_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    end("skip", &n_skip, fmt, ap);
    va_end(ap);
}

void report_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

void report_disarm(void)
{
    if (watchdog_ms > 0)
        arm_alarm(0);
    current[0] = '\0';
}

void report_count_line(const char *line)
{
    if (strncmp(line, "ok ", 3) == 0)
        n_ok++;
    else if (strncmp(line, "FAIL ", 5) == 0)
        n_fail++;
    else if (strncmp(line, "skip ", 5) == 0)
        n_skip++;
}

int report_failures(void)
{
    return n_fail;
}

void report_summary(const char *plugin)
{
    printf("%s: %d checks: %d passed, %d failed, %d skipped\n", plugin,
           n_ok + n_fail + n_skip, n_ok, n_fail, n_skip);
    fflush(stdout);
}

void report_cleanup_dir(const char *dir)
{
    snprintf(cleanup_dir, sizeof cleanup_dir, "%s", dir);
}

static void on_alarm(int sig)
{
    (void)sig;
    write_str(hang_line);
    if (cleanup_dir[0])
        rmdir(cleanup_dir); /* async-signal-safe; only if the plugin left
                               nothing in it */
    _exit(1);
}

/* Name the check that was running, then hand the signal to the previous
 * handler (AddressSanitizer's, or the default action). */
static void on_fatal(int sig)
{
    char num[8];
    int n = sig, i = (int)sizeof num - 1;
    num[i] = '\0';
    do
        num[--i] = (char)('0' + n % 10);
    while ((n /= 10) && i > 0);
    write_str("FAIL ");
    write_str(current[0] ? current : "check");
    write_str(": the plugin crashed (signal ");
    write_str(num + i);
    write_str(")\n");
    if (cleanup_dir[0])
        rmdir(cleanup_dir);
    for (size_t k = 0; k < sizeof fatal_signals / sizeof fatal_signals[0]; k++)
        if (fatal_signals[k] == sig)
            sigaction(sig, &saved[k], NULL);
    raise(sig);
}

void report_watchdog_install(int64_t limit_ms)
{
    watchdog_ms = limit_ms;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_NODEFER;
    for (size_t k = 0; k < sizeof fatal_signals / sizeof fatal_signals[0]; k++)
        sigaction(fatal_signals[k], &sa, &saved[k]);
}

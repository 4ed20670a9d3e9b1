/* SPDX-License-Identifier: MIT */
/*
 * plugin_check.h: the internals of lms-plugin-check, shared by its files.
 *
 * lms-plugin-check loads a plugin with lmsd's own loader (core/
 * plugin_loader.c), hands it the same host services lmsd does (core/base/host.c)
 * and runs a conformance suite against it, printing one line per check.
 * The pieces:
 *   check_report.c     the ok/FAIL/skip lines, the summary, and the crash and
 *                      hang watchdogs that turn a dying plugin into a FAIL line
 *   check_plugin.c     descriptor and ABI checks, the host environment, and
 *                      the auth lifecycle checks
 *   check_storage.c    storage plugins: the conformance suite of
 *                      tools/storage_suite in a child, one line per test
 *   tutor_driver.c     drives a tutor like lmsd does: blocking plugins on a
 *                      dedicated thread, async ones on the libevent loop, and
 *                      records every callback an ask() gets
 *   check_tutor.c      the tutor conformance suite
 *   lms-plugin-check.c the command line and the re-run under valgrind
 */
#ifndef LMS_TOOLS_PLUGIN_CHECK_H
#define LMS_TOOLS_PLUGIN_CHECK_H

#include "config.h"
#include "plugin_loader.h"

#include <stdint.h>

/* ---- options ------------------------------------------------------------- */

typedef struct check_opts {
    const char *plugin; /* the .so to check (a path) */
    const char *config; /* an lmsd.yaml whose slot gives the options, or NULL */
    const char *question; /* the sample question */
    int64_t timeout_ms;   /* how long an answer may take */
    int verbose;          /* show the plugin's debug log */
    int under_valgrind;   /* re-run by --valgrind: keep the .so mapped */
    const char *isolate;  /* storage: the config key varied per store */
} check_opts;

/* ---- report (check_report.c) --------------------------------------------- */

/* Name the check that runs now: crash and hang messages name it. */
void report_begin(const char *name);
/* End the current check: one "ok", "FAIL" or "skip" line. */
__attribute__((format(printf, 1, 2))) void report_ok(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void report_fail(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void report_skip(const char *fmt, ...);
/* A line that is not a check ("# ..."). */
__attribute__((format(printf, 1, 2))) void report_note(const char *fmt, ...);
/* End the current check without a line (stops its watchdog). */
void report_disarm(void);
/* Count an "ok "/"FAIL "/"skip " line printed by a child process. */
void report_count_line(const char *line);
int report_failures(void);
/* "N checks: P passed, F failed, S skipped" */
void report_summary(const char *plugin);
/* Print a FAIL line and exit(1) from inside a signal handler if the
 * process gets a fatal signal, or if a check runs longer than limit_ms
 * (0: no limit). Re-armed by every report_begin(). */
void report_watchdog_install(int64_t limit_ms);
/* The empty directory those last words remove too ("" for none). */
void report_cleanup_dir(const char *dir);

/* ---- the host environment (check_plugin.c) ------------------------------- */

struct event_base;

typedef struct check_env {
    const check_opts *opts;
    loaded_plugin plugin;
    lms_config *config;        /* from --config, or NULL */
    struct lms_plugin_ctx ctx; /* what the host services see */
    struct event_base *base;
    struct workers *pool; /* behind host->run_blocking */
    char data_dir[256];   /* a fresh temporary directory */
} check_env;

/* The descriptor and ABI checks; on success env->plugin is loaded. */
int check_descriptor(check_env *env);
/* Loop, worker pool, temporary data dir, config slot. 0 or -1 (reported). */
int check_env_open(check_env *env);
/* Undo check_env_open and unload the plugin. */
void check_env_close(check_env *env);
/* Remove the temporary data dir only: the plugin is stuck, and everything
 * else stays as it is until the process exits. */
void check_env_abandon(check_env *env);
void check_storage(check_env *env);
void check_auth(check_env *env);
/* 0, or -1 when the plugin is stuck in a call or never finished an ask:
 * then nothing may be freed, and the caller exits at once. */
int check_tutor(check_env *env);

/* ---- helpers ------------------------------------------------------------- */

int64_t check_now_ms(void);  /* CLOCK_MONOTONIC */
int64_t check_wall_ms(void); /* CLOCK_REALTIME, as deadlines are */
const char *check_status_name(int status);

#endif

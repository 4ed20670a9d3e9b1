/* SPDX-License-Identifier: MIT */
/*
 * reload.h: what a SIGHUP changes (docs/operations.md, "Reloading the
 * configuration").
 *
 * lmsd reads its config file again. A file that does not load (YAML,
 * a key or a value that is wrong) changes nothing: the error is logged and
 * the node goes on as it was. Otherwise every setting that differs from
 * the running one is either
 *
 *  - live: applied at once, on the loop thread, and logged one line each
 *    ("reload: log.level info -> debug"): the log's level, format and
 *    slow_request; sessions.ttl (for sessions made from now on); the
 *    limits that are read where they are used (uploads, connections,
 *    timeouts, login throttling, sessions per user, the tutor's deadline);
 *  - or restart-only: left as it is, all of them named in one line
 *    ("reload: node.data_dir, listen.client changed: these need a restart;
 *    still using the old values").
 *
 * The tutor section is the tutor runtime's (tutor_runtime.h,
 * tutor_rt_load), which main reloads from the same file. The TLS files at
 * the running tls.* paths are read again by main too (tls_reload in
 * tls.h: certificate rotation); the paths themselves are restart-only.
 */
#ifndef LMS_CORE_RELOAD_H
#define LMS_CORE_RELOAD_H

#include "config.h"
#include "dispatch.h"
#include "login_guard.h"
#include "net.h"
#include "tutor_runtime.h"

#include <stddef.h>

/* One setting that differs: its key as in the file, whether it waits for a
 * restart (not applied), and both values as the log shows them ("" for a
 * section such as storage, which is named only). */
typedef struct reload_change {
    const char *key;
    int restart;
    char was[96], now[96];
} reload_change;

/* More than there are settings: a diff never fills it. */
#define RELOAD_MAX_CHANGES 64

/*
 * The settings in which next differs from running, in the order of the
 * file's sections, into out (up to cap); returns how many differ. Pure:
 * nothing is applied or logged. A live setting whose new value the running
 * node cannot take (max_upload_bytes not below the running
 * max_frame_bytes) counts as restart-only.
 */
size_t reload_diff(const lms_config *running, const lms_config *next, reload_change *out,
                   size_t cap);

/* Is key ("log.level") a live setting, one a reload applies? 0 for a
 * restart-only one or a key that is not a setting (lmsd.yaml(5) says so
 * for each key). */
int reload_is_live(const char *key);

/* What a reload reaches; a NULL member is left alone (a unit test). */
typedef struct reload_targets {
    dispatch *disp;
    net *net;
    tutor_rt *tutor;
    /* reload_read: what start checks of a config beyond its values (that
     * no one else may write the file: a reload must not take what start
     * would refuse); LMS_OK or err set. NULL: nothing. */
    int (*check)(const lms_config *c, lms_err *err);
} reload_targets;

/*
 * Loop thread: log the diff of next against running, then copy the live
 * settings that changed into running and hand the result to the log and
 * the targets. running then says what the node runs with (the next diff is
 * against it); next is only read. Returns the number of settings applied.
 */
size_t reload_apply(lms_config *running, const lms_config *next, const reload_targets *t);

/*
 * Loop thread, on SIGHUP: load running->path again, check it (t->check),
 * and reload_apply it. Returns the new config (for the tutor: tutor_rt_load
 * with owned) with the running values of the restart-only strings
 * (node.data_dir, plugin_dir, listen.*, tls.*: a tutor loaded from it sees
 * what the node runs with), or NULL when it does not load or pass; then
 * the error is logged and nothing changed.
 */
lms_config *reload_read(lms_config *running, const reload_targets *t);

/* What the config says for the parts a reload reaches, for their start
 * (main.c) and for a reload alike. */
dispatch_limits reload_dispatch_limits(const lms_config *c);
login_guard_options reload_login_options(const lms_config *c);
/* The limits of net_set_limits, filled into o (its other fields kept). */
void reload_net_limits(const lms_config *c, net_options *o);

#endif

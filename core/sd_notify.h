/* SPDX-License-Identifier: MIT */
/*
 * sd_notify.h: lmsd as a Type=notify service (packaging/systemd/,
 * docs/operations.md "Running under systemd"). Over the socket that
 * NOTIFY_SOCKET names, lmsd tells the service manager
 *
 *   READY=1     once the node serves (sdn_start says what that means),
 *   STATUS=...  one line a person reads in `systemctl status`, each time
 *               the node's role or leader changes (at most 4 a second;
 *               the applied index alone at most once a second),
 *   WATCHDOG=1  at half of WATCHDOG_USEC, from a timer on the loop: a
 *               stuck loop stops pinging and systemd restarts the node,
 *   STOPPING=1  when SIGTERM or SIGINT starts the drain.
 *
 * Without NOTIFY_SOCKET (lmsd not started by systemd), or in an lmsd built
 * without libsystemd (no LMS_HAVE_SYSTEMD), every call does nothing: no
 * timer, no socket, no change. Loop thread only.
 */
#ifndef LMS_CORE_SD_NOTIFY_H
#define LMS_CORE_SD_NOTIFY_H

#include "node.h"

#include <stddef.h>

struct event_base;

typedef struct sdn sdn;

/* How often the node's state is looked at: it bounds the STATUS= lines
 * to 4 a second. */
#define SDN_TICK_MS 250
/* A STATUS= line whose only news is the applied index waits this long
 * after the last one. */
#define SDN_PROGRESS_MS 1000

/* 1 when built with libsystemd (lmsd --version says "systemd: yes"). */
int sdn_compiled(void);

/* One STATUS= line now: what lmsd does before its loop runs (opening
 * storage, replaying the log), which can take a while. */
void sdn_status(const char *text);

/* Call once the client port listens. From then on, on base: READY=1 as
 * soon as the node serves, which is what /readyz calls ready
 * (metrics_node_ready: a member of its cluster that knows a leader, or
 * leads, and has applied what it knows committed, give or take
 * METRICS_READY_MAX_LAG entries), STATUS= lines and, when systemd asked
 * for them, WATCHDOG=1 pings. NULL when there is nobody to tell
 * (every function takes NULL) or out of memory (logged). */
sdn *sdn_start(struct event_base *base, node *n);

/* The drain has begun: STOPPING=1 and a last STATUS= line; READY=1 and
 * STATUS= updates stop, the watchdog pings go on until the loop ends. */
void sdn_stopping(sdn *s);

void sdn_free(sdn *s);

/* The STATUS= line of st, in two parts: role says what the node is
 * ("leader of term 4", "follower of node 2 (term 4)", "waiting for a
 * majority (candidate, term 7)"), progress how far it has applied
 * ("applied 1234", "applied 80 of 5000 committed"). Pure: for tests. */
void sdn_describe(const node_status *st, char *role, size_t role_len,
                  char *progress, size_t progress_len);

#endif

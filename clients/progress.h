/* SPDX-License-Identifier: MIT */
/*
 * progress.h: a one-line progress bar on stderr for large transfers. It only
 * shows when stderr is a terminal and the transfer is over 4 MiB, so scripts
 * and small requests never see it.
 */
#ifndef LMS_CLIENTS_PROGRESS_H
#define LMS_CLIENTS_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMS_PROGRESS_MIN_BYTES (4u << 20)

struct lms_progress {
    const char *label; /* "sending", "receiving" */
    uint64_t total, done;
    int64_t last_draw_ms;
    bool active;
};

/* Begin a transfer of total bytes; draws nothing unless allowed, stderr is a
 * tty and total exceeds LMS_PROGRESS_MIN_BYTES. */
void lms_progress_start(struct lms_progress *pg, const char *label, uint64_t total, bool allowed);
/* Count n more bytes; redraws at most ten times a second. */
void lms_progress_add(struct lms_progress *pg, size_t n);
/* Erase the bar. */
void lms_progress_end(struct lms_progress *pg);

#endif

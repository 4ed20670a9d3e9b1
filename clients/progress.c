/* SPDX-License-Identifier: MIT */
/*
 * progress.c: the stderr progress bar of progress.h.
 */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void draw(const struct lms_progress *pg)
{
    char bar[BAR_WIDTH + 1];
    unsigned pct = pg->total ? (unsigned)(pg->done * 100 / pg->total) : 100;
    unsigned fill = pct * BAR_WIDTH / 100;
    for (unsigned i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r%-9s [%s] %3u%%  %.1f of %.1f MiB", pg->label, bar, pct,
            (double)pg->done / (1 << 20), (double)pg->total / (1 << 20));
    fflush(stderr);
}

void lms_progress_start(struct lms_progress *pg, const char *label, uint64_t total, bool allowed)
{
    *pg = (struct lms_progress){.label = label, .total = total};
    pg->active = allowed && total > LMS_PROGRESS_MIN_BYTES && isatty(STDERR_FILENO);
    if (pg->active) {
        pg->last_draw_ms = mono_ms();
        draw(pg);
    }
}

void lms_progress_add(struct lms_progress *pg, size_t n)
{
    if (pg == NULL)
        return;
    pg->done += n;
    if (!pg->active)
        return;
    int64_t now = mono_ms();
    if (now - pg->last_draw_ms >= 100 || pg->done >= pg->total) {
        pg->last_draw_ms = now;
        draw(pg);
    }
}

void lms_progress_end(struct lms_progress *pg)
{
    if (pg->active)
        fprintf(stderr, "\r%*s\r", 80, "");
    pg->active = false;
}

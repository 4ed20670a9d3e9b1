/* SPDX-License-Identifier: MIT */
/*
 * clock.h: the two clocks lmsd reads, in milliseconds. Monotonic for
 * timeouts and durations (never jumps); wall for what is stored or shown
 * (created, expires).
 */
#ifndef LMS_CORE_CLOCK_H
#define LMS_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ms_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t mono_ms(void) { return clock_ms_of(CLOCK_MONOTONIC); }
static inline int64_t wall_ms(void) { return clock_ms_of(CLOCK_REALTIME); }

#endif

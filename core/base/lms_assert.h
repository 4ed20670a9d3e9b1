/* SPDX-License-Identifier: MIT */
/*
 * lms_assert.h: LMS_ASSERT(cond), an invariant check that stays on in every
 * build (debug, release, sanitizers, the simulator). It is for states that
 * a bug, never bad input, can reach: input from the network or the disk is
 * validated and refused with an error, not asserted. A failed assertion
 * names the file, line and condition on stderr and aborts, so a core dump
 * or the sanitizer's report shows where the state went wrong.
 */
#ifndef LMS_ASSERT_H
#define LMS_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define LMS_ASSERT(cond)                                                     \
    do {                                                                     \
        if (__builtin_expect(!(cond), 0)) {                                  \
            fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", __FILE__,    \
                    __LINE__, __func__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

#endif

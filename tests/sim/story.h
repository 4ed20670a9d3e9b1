/* SPDX-License-Identifier: MIT */
/*
 * story.h: what the story tests over fixture.c share: EXPECT (a check
 * that names the condition, what was expected and what came instead),
 * electing a node and proposing a run of commands.
 */
#ifndef LMS_TESTS_SIM_STORY_H
#define LMS_TESTS_SIM_STORY_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "fixture.h"

#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            print_error("%s:%d: expected %s: ", __FILE__, __LINE__, #cond); \
            print_error(__VA_ARGS__);                                       \
            print_error("\n");                                              \
            fail();                                                         \
        }                                                                   \
    } while (0)

typedef unsigned long long ull;

/* Node id leads (campaigning up to five times). */
static inline void elect(fx *f, raft_id id)
{
    for (int i = 0; i < 5 && fx_leader(f) != id; i++)
        fx_campaign(f, id);
    EXPECT(fx_leader(f) == id, "node %llu to lead, leader is %llu", (ull)id,
           (ull)fx_leader(f));
}

/* n commands "<prefix>0".. proposed on node id, each accepted. */
static inline void propose_n(fx *f, raft_id id, int n, const char *prefix)
{
    for (int i = 0; i < n; i++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "%s%d", prefix, i);
        int rc = fx_propose(f, id, cmd, NULL);
        EXPECT(rc == RAFT_OK, "proposal %s accepted, got %s", cmd,
               raft_strerror(rc));
    }
}

/* In a 3-node cluster whose node 1 is cut off, nodes 2 and 3 tick until
 * one of them leads (node 1 may still believe it does); that one. */
static inline raft_id take_over_from_1(fx *f)
{
    for (int i = 0; i < 100 && fx_leader(f) < 2; i++) {
        fx_tick(f, 2, 1);
        fx_tick(f, 3, 1);
        fx_deliver(f);
    }
    raft_id l = fx_leader(f);
    EXPECT(l == 2 || l == 3, "2 or 3 takes over, got %llu", (ull)l);
    return l;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * test_sd_notify.c: core/sd_notify.c's STATUS= line (sdn_describe), the
 * words a person reads in `systemctl status` for each state of a node:
 * leader, follower of which node, non-voting member, waiting for a
 * majority, not a member, catching up. Sending it is tested end to end
 * (tests/e2e/test_systemd.py).
 */
#include "metrics_http.h"
#include "sd_notify.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Node 2 of members 1..3 in term 7, everything applied at 40; its own
 * entry says role and whether it votes. */
static node_status status_of(const char *role, int voter)
{
    node_status st = {.id = 2, .term = 7, .commit = 40, .applied = 40, .n = 3};
    for (size_t i = 0; i < st.n; i++)
        st.members[i] = (node_member_status){.id = i + 1, .voter = 1,
                                             .role = "unknown"};
    st.members[1].role = role;
    st.members[1].voter = voter;
    return st;
}

static void expect(const node_status *st, const char *role, const char *progress)
{
    char r[160], p[96];
    sdn_describe(st, r, sizeof r, p, sizeof p);
    assert_string_equal(r, role);
    assert_string_equal(p, progress);
}

static void test_leader(void **state)
{
    (void)state;
    node_status st = status_of("leader", 1);
    st.is_leader = 1;
    st.leader = 2;
    expect(&st, "leader of term 7", "applied 40");
}

static void test_follower_names_its_leader(void **state)
{
    (void)state;
    node_status st = status_of("follower", 1);
    st.leader = 3;
    expect(&st, "follower of node 3 (term 7)", "applied 40");
}

static void test_non_voter_follows(void **state)
{
    (void)state;
    node_status st = status_of("learner", 0);
    st.leader = 1;
    expect(&st, "non-voting member following node 1 (term 7), catching up",
           "applied 40");
}

static void test_no_leader_waits_for_a_majority(void **state)
{
    (void)state;
    node_status st = status_of("candidate", 1);
    expect(&st, "waiting for a majority (candidate, term 7)", "applied 40");
    st.members[1].role = "pre-candidate";
    expect(&st, "waiting for a majority (pre-candidate, term 7)", "applied 40");
}

static void test_not_a_member(void **state)
{
    (void)state;
    node_status st = status_of("follower", 1);
    st.id = 4; /* not among 1..3 */
    st.leader = 1;
    expect(&st, "not a member of the cluster (term 7): waiting to be added "
                "(lms-admin cluster-add)", "applied 40");
}

/* Behind by more than /readyz allows: how far there is to go; within
 * it, the applied index alone (it changes every second on a busy node,
 * and that is all it changes). */
static void test_catching_up_says_how_far(void **state)
{
    (void)state;
    node_status st = status_of("follower", 1);
    st.leader = 1;
    st.commit = 5000;
    st.applied = 80;
    expect(&st, "follower of node 1 (term 7)", "applied 80 of 5000 committed");
    st.applied = st.commit - METRICS_READY_MAX_LAG;
    expect(&st, "follower of node 1 (term 7)", "applied 4900");
}

/* A short buffer holds a cut line, always terminated. */
static void test_short_buffers_are_cut(void **state)
{
    (void)state;
    node_status st = status_of("follower", 1);
    st.leader = 3;
    char r[9], p[5];
    memset(r, 'x', sizeof r);
    memset(p, 'x', sizeof p);
    sdn_describe(&st, r, sizeof r, p, sizeof p);
    assert_string_equal(r, "follower");
    assert_string_equal(p, "appl");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader),
        cmocka_unit_test(test_follower_names_its_leader),
        cmocka_unit_test(test_non_voter_follows),
        cmocka_unit_test(test_no_leader_waits_for_a_majority),
        cmocka_unit_test(test_not_a_member),
        cmocka_unit_test(test_catching_up_says_how_far),
        cmocka_unit_test(test_short_buffers_are_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_login_guard.c: core/app/login_guard.c, the throttle of logins, driven
 * with a clock of its own: the backoff and its reset, names and addresses,
 * logins in flight per connection (refused) and per address (in line),
 * and a flood of new names that cannot evict a locked one.
 */
#include "login_guard.h"

#include <lms/plugin.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static const login_guard_options OPTS = {
    .failures = 3, .address_failures = 0, .backoff_max_ms = 4000,
    .per_conn = 2, .per_address = 3,
};

static int c1, c2, c3; /* connections: their addresses are identities */

/* One login from conn at "10.0.0.1:5": admitted and over with verdict. */
static int attempt(login_guard *g, const void *conn, const char *name,
                   int verdict, int64_t now, login_waiter *w)
{
    int st = login_guard_admit(g, w, conn, "10.0.0.1:5", name, now);
    if (st == LOGIN_RUNNING)
        assert_null(login_guard_done(g, w, verdict, now));
    return st;
}

static void test_backoff_doubles_to_the_cap_and_success_resets(void **state)
{
    (void)state;
    login_guard *g = login_guard_new(&OPTS);
    login_waiter w;
    int64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(attempt(g, &c1, "alice", LOGIN_VERDICT_DENIED, t, &w),
                         LOGIN_RUNNING);
    /* locked for 1 s, with a message naming the wait */
    assert_int_equal(attempt(g, &c1, "alice", LOGIN_VERDICT_OK, t + 999, &w), LOGIN_NONE);
    assert_int_equal(w.status, LMS_RESOURCE_EXHAUSTED);
    assert_string_equal(w.msg, "too many failed logins for alice; try again in 1 s");
    /* another name is not */
    assert_int_equal(attempt(g, &c1, "bob", LOGIN_VERDICT_OK, t + 999, &w), LOGIN_RUNNING);
    /* each further failure doubles the wait: 2 s, 4 s, then the cap (4 s) */
    int64_t waits[] = {2000, 4000, 4000};
    t += 1000;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(attempt(g, &c1, "alice", LOGIN_VERDICT_DENIED, t, &w),
                         LOGIN_RUNNING);
        assert_int_equal(attempt(g, &c1, "alice", LOGIN_VERDICT_OK, t + waits[i] - 1, &w),
                         LOGIN_NONE);
        t += waits[i];
    }
    /* a success clears the name: three more failures before a lock */
    assert_int_equal(attempt(g, &c1, "alice", LOGIN_VERDICT_OK, t, &w), LOGIN_RUNNING);
    for (int i = 0; i < 2; i++)
        attempt(g, &c1, "alice", LOGIN_VERDICT_DENIED, t, &w);
    assert_int_equal(attempt(g, &c1, "alice", LOGIN_VERDICT_OK, t, &w), LOGIN_RUNNING);
    /* failures older than the window are forgotten */
    for (int i = 0; i < 2; i++)
        attempt(g, &c1, "carol", LOGIN_VERDICT_DENIED, t, &w);
    t += LOGIN_GUARD_WINDOW_MS + 1;
    attempt(g, &c1, "carol", LOGIN_VERDICT_DENIED, t, &w);
    assert_int_equal(attempt(g, &c1, "carol", LOGIN_VERDICT_OK, t, &w), LOGIN_RUNNING);
    login_guard_free(g);
}

static void test_addresses_are_throttled_whatever_the_name(void **state)
{
    (void)state;
    login_guard_options o = OPTS;
    o.failures = 0;
    o.address_failures = 2;
    login_guard *g = login_guard_new(&o);
    login_waiter w;
    attempt(g, &c1, "x1", LOGIN_VERDICT_DENIED, 0, &w);
    attempt(g, &c1, "x2", LOGIN_VERDICT_DENIED, 0, &w);
    assert_int_equal(login_guard_admit(g, &w, &c2, "10.0.0.1:6", "alice", 10), LOGIN_NONE);
    assert_string_equal(w.msg, "too many failed logins from 10.0.0.1; try again in 1 s");
    assert_int_equal(login_guard_admit(g, &w, &c3, "10.0.0.2:6", "alice", 10),
                     LOGIN_RUNNING);
    assert_null(login_guard_done(g, &w, LOGIN_VERDICT_OK, 10));
    login_guard_free(g);
}

/* One host may use any address of its IPv6 /64: they count as one. */
static void test_an_ipv6_slash_64_is_one_address(void **state)
{
    (void)state;
    login_guard_options o = OPTS;
    o.failures = 0;
    o.address_failures = 2;
    login_guard *g = login_guard_new(&o);
    login_waiter w;
    const char *peers[] = {"[2001:db8:1:2::1]:5", "[2001:db8:1:2:ffff:1:2:3]:6"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(login_guard_admit(g, &w, &c1, peers[i], "x", 0), LOGIN_RUNNING);
        assert_null(login_guard_done(g, &w, LOGIN_VERDICT_DENIED, 0));
    }
    assert_int_equal(login_guard_admit(g, &w, &c2, "[2001:db8:1:2::77]:7", "alice", 10),
                     LOGIN_NONE);
    assert_string_equal(w.msg, "too many failed logins from 2001:db8:1:2::/64; try "
                               "again in 1 s");
    /* the next /64 is another address; an IPv4-mapped one is its IPv4 */
    assert_int_equal(login_guard_admit(g, &w, &c3, "[2001:db8:1:3::1]:7", "alice", 10),
                     LOGIN_RUNNING);
    assert_null(login_guard_done(g, &w, LOGIN_VERDICT_OK, 10));
    attempt(g, &c1, "y1", LOGIN_VERDICT_DENIED, 20, &w);
    attempt(g, &c1, "y2", LOGIN_VERDICT_DENIED, 20, &w);
    assert_int_equal(login_guard_admit(g, &w, &c2, "[::ffff:10.0.0.1]:9", "bob", 30),
                     LOGIN_NONE);
    assert_string_equal(w.msg, "too many failed logins from 10.0.0.1; try again in 1 s");
    login_guard_free(g);
}

static void test_in_flight_per_connection_and_per_address(void **state)
{
    (void)state;
    login_guard *g = login_guard_new(&OPTS);
    login_waiter a, b, c, d, e;
    /* two on c1, the third on c1 refused */
    assert_int_equal(login_guard_admit(g, &a, &c1, "10.0.0.1:1", "u", 0), LOGIN_RUNNING);
    assert_int_equal(login_guard_admit(g, &b, &c1, "10.0.0.1:1", "u", 0), LOGIN_RUNNING);
    assert_int_equal(login_guard_admit(g, &c, &c1, "10.0.0.1:1", "u", 0), LOGIN_NONE);
    assert_non_null(strstr(c.msg, "too many logins in flight on this connection (at most 2)"));
    assert_null(login_guard_done(g, &c, LOGIN_VERDICT_NONE, 0)); /* never admitted */
    /* the address has 3 places: c2's second login waits */
    assert_int_equal(login_guard_admit(g, &c, &c2, "10.0.0.1:2", "v", 0), LOGIN_RUNNING);
    assert_int_equal(login_guard_admit(g, &d, &c2, "10.0.0.1:2", "w", 0), LOGIN_WAITING);
    assert_int_equal(login_guard_admit(g, &e, &c3, "10.0.0.1:3", "x", 0), LOGIN_WAITING);
    /* a's place goes to d, the first in line */
    login_waiter *next = login_guard_done(g, &a, LOGIN_VERDICT_OK, 0);
    assert_ptr_equal(next, &d);
    assert_null(next->next);
    assert_int_equal(d.state, LOGIN_RUNNING);
    /* e's name gets locked meanwhile: it leaves the line refused */
    for (int i = 0; i < 3; i++) {
        login_waiter f;
        assert_int_equal(login_guard_admit(g, &f, &c3, "10.0.0.9:3", "x", 0), LOGIN_RUNNING);
        assert_null(login_guard_done(g, &f, LOGIN_VERDICT_DENIED, 0));
    }
    next = login_guard_done(g, &b, LOGIN_VERDICT_OK, 0);
    assert_ptr_equal(next, &e);
    assert_int_equal(e.state, LOGIN_REFUSED);
    assert_non_null(strstr(e.msg, "too many failed logins for x"));
    assert_null(login_guard_done(g, &e, LOGIN_VERDICT_NONE, 0));
    assert_null(login_guard_done(g, &c, LOGIN_VERDICT_OK, 0));
    assert_null(login_guard_done(g, &d, LOGIN_VERDICT_OK, 0));
    /* everything released: c1 takes two again */
    assert_int_equal(login_guard_admit(g, &a, &c1, "10.0.0.1:1", "u", 0), LOGIN_RUNNING);
    assert_int_equal(login_guard_admit(g, &b, &c1, "10.0.0.1:1", "u", 0), LOGIN_RUNNING);
    assert_null(login_guard_done(g, &a, LOGIN_VERDICT_OK, 0));
    assert_null(login_guard_done(g, &b, LOGIN_VERDICT_OK, 0));
    login_guard_free(g);
}

/* 100,000 new names, one failure each, do not evict a locked name. */
static void test_a_flood_of_names_does_not_unlock_one(void **state)
{
    (void)state;
    login_guard *g = login_guard_new(&OPTS);
    login_waiter w;
    for (int i = 0; i < 3; i++)
        attempt(g, &c1, "victim", LOGIN_VERDICT_DENIED, 0, &w);
    char name[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof name, "random-%d", i);
        attempt(g, &c1, name, LOGIN_VERDICT_DENIED, 1, &w);
    }
    assert_int_equal(attempt(g, &c1, "victim", LOGIN_VERDICT_OK, 2, &w), LOGIN_NONE);
    login_guard_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_to_the_cap_and_success_resets),
        cmocka_unit_test(test_addresses_are_throttled_whatever_the_name),
        cmocka_unit_test(test_an_ipv6_slash_64_is_one_address),
        cmocka_unit_test(test_in_flight_per_connection_and_per_address),
        cmocka_unit_test(test_a_flood_of_names_does_not_unlock_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_install.c: a crash during a snapshot install (issue 8, bug 3: "a
 * node can wedge for good after a crash during snapshot install"), told
 * over tests/sim's fixture, and the restart rule lmsd and the simulator
 * share (core/repl/snapshot_wal.c: which WAL entries survive next to the
 * newest snapshot S).
 *
 * The story: a deposed leader holds a long tail of entries its term never
 * committed; the new leader compacts behind snapshot S and streams it to
 * the old one. lmsd used to give the received file its final name before
 * Raft took it and before the WAL was reset. A crash in between restarted
 * the node from S next to the old tail, whose terms are below S's: Raft
 * refused that log on every restart ("raft cannot start from the log ...
 * invalid argument"). The rule drops such a tail, and the node starts
 * from S alone and catches up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "story.h"
#include "snapshot_wal.h"

static const char *verdict_name(snapshot_wal_verdict v)
{
    return v == SNAPSHOT_WAL_KEEP ? "keep" : v == SNAPSHOT_WAL_DROP ? "drop"
                                                                    : "gap";
}

/* ---- the rule, case by case (snapshot S = 10, term 3) ------------------- */

static void expect_rule(snapshot_wal_view v, snapshot_wal_verdict want,
                        const char *what)
{
    snapshot_wal_verdict got = snapshot_wal_rule(10, 3, &v, NULL);
    EXPECT(got == want, "%s: %s, got %s", what, verdict_name(want),
           verdict_name(got));
}

static void restart_rule_keeps_a_log_that_continues_the_snapshot(void **state)
{
    (void)state;
    expect_rule((snapshot_wal_view){1, 15, 3, 0}, SNAPSHOT_WAL_KEEP,
                "the log holds (10, term 3)");
    expect_rule((snapshot_wal_view){1, 10, 3, 0}, SNAPSHOT_WAL_KEEP,
                "the log ends at (10, term 3)");
    expect_rule((snapshot_wal_view){11, 10, 0, 0}, SNAPSHOT_WAL_KEEP,
                "the log is empty after a reset to 10");
    expect_rule((snapshot_wal_view){11, 14, 0, 3}, SNAPSHOT_WAL_KEEP,
                "the log starts at 11 with term 3");
    expect_rule((snapshot_wal_view){11, 14, 0, 5}, SNAPSHOT_WAL_KEEP,
                "the log starts at 11 with a later term");
}

static void restart_rule_drops_a_log_of_another_history(void **state)
{
    (void)state;
    expect_rule((snapshot_wal_view){1, 15, 2, 0}, SNAPSHOT_WAL_DROP,
                "the log holds (10, term 2)");
    expect_rule((snapshot_wal_view){1, 15, 4, 0}, SNAPSHOT_WAL_DROP,
                "the log holds (10, term 4)");
    expect_rule((snapshot_wal_view){1, 7, 0, 0}, SNAPSHOT_WAL_DROP,
                "the log ends below 10");
    expect_rule((snapshot_wal_view){1, 0, 0, 0}, SNAPSHOT_WAL_DROP,
                "a fresh empty log");
    expect_rule((snapshot_wal_view){11, 14, 0, 2}, SNAPSHOT_WAL_DROP,
                "the log starts at 11 with term 2, below the snapshot's");
}

static void restart_rule_refuses_a_log_that_starts_past_the_snapshot(void **state)
{
    (void)state;
    expect_rule((snapshot_wal_view){12, 20, 0, 0}, SNAPSHOT_WAL_GAP,
                "the log starts at 12");
    expect_rule((snapshot_wal_view){30, 29, 0, 0}, SNAPSHOT_WAL_GAP,
                "an empty log reset to 29");
}

/* ---- the story ----------------------------------------------------------- */

static int state_has(const fx_node *n, const char *cmd)
{
    for (size_t i = 0; i < n->n_state; i++)
        if (!strcmp(n->state[i], cmd))
            return 1;
    return 0;
}

static char **strv_dup(char **v, size_t n)
{
    char **c = calloc(n + 1, sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = strdup(v[i]);
    return c;
}

static void strv_drop(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Node 1 leads alone and appends a tail no one else has; nodes 2 and 3
 * move on under one of them (*leader), which snapshots and compacts.
 * Returns the fixture with node 1 deposed but not yet told. */
static fx *deposed_leader_with_a_long_tail(raft_id *leader)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    propose_n(f, 1, 2, "a");
    fx_deliver(f);
    fx_isolate(f, 1);
    propose_n(f, 1, 20, "lost"); /* never committed: node 1 is alone */
    fx_deliver(f);
    raft_id l = take_over_from_1(f);
    propose_n(f, l, 5, "won");
    fx_deliver(f);
    fx_snapshot(f, l, 0);
    *leader = l;
    return f;
}

/* The WAL view of node n next to snapshot s. */
static snapshot_wal_view wal_view(const fx_node *n, const raft_snapshot_meta *s)
{
    snapshot_wal_view v = {1, 0, 0, 0};
    if (n->n_log) {
        v.first = n->log[0].index;
        v.last = n->log[n->n_log - 1].index;
    }
    for (size_t i = 0; i < n->n_log; i++) {
        if (n->log[i].index == s->index)
            v.term_at_snap = n->log[i].term;
        if (n->log[i].index == s->index + 1 && v.first == s->index + 1)
            v.term_after = n->log[i].term;
    }
    return v;
}

/* Raft started from snapshot s next to node n's whole log, as the old
 * restart did: the result of raft_new. */
static int start_next_to_the_old_log(const fx_node *n,
                                     const raft_snapshot_meta *s)
{
    raft_restore rs;
    memset(&rs, 0, sizeof rs);
    rs.hs = n->hs;
    rs.snapshot = s;
    rs.entries = n->log;
    rs.n_entries = n->n_log;
    rs.applied = s->index;
    raft_options o;
    raft_options_init(&o, n->id);
    raft *r = NULL;
    int rc = raft_new(&o, &rs, &r);
    raft_free(r);
    return rc;
}

/* Node 1's disk after the crash: snapshot s (and its state) under its
 * final name, the log as it was (the reset never became durable). What
 * the restart makes of it follows the rule. */
static void crash_with_the_file_and_without_the_reset(fx *f, const fx_node *src)
{
    fx_node *n = fx_node_of(f, 1);
    fx_crash(f, 1);
    snapshot_wal_view v = wal_view(n, &src->snap);
    EXPECT(v.last > src->snap.index && v.term_at_snap != src->snap.term,
           "node 1's log runs past snapshot %llu (to %llu) with another entry "
           "there (term %llu, the snapshot's is %llu)", (ull)src->snap.index,
           (ull)v.last, (ull)v.term_at_snap, (ull)src->snap.term);
    int rc = start_next_to_the_old_log(n, &src->snap);
    EXPECT(rc == RAFT_ERR_INVALID, "the old restart (keep the log) is refused "
           "by Raft: invalid argument, got %s", raft_strerror(rc));
    const char *why;
    snapshot_wal_verdict verdict =
        snapshot_wal_rule(src->snap.index, src->snap.term, &v, &why);
    EXPECT(verdict == SNAPSHOT_WAL_DROP, "the rule drops the log, got %s",
           verdict_name(verdict));
    /* What lmsd does then: reset the WAL to S, restore the store from S. */
    for (size_t i = 0; i < n->n_log; i++)
        blob_unref(n->log[i].data);
    n->n_log = 0;
    n->has_snap = 1;
    n->snap = src->snap;
    strv_drop(n->snap_state, n->snap_n);
    n->snap_state = strv_dup(src->snap_state, src->snap_n);
    n->snap_n = src->snap_n;
    strv_drop(n->state, n->n_state);
    n->state = strv_dup(src->snap_state, src->snap_n);
    n->n_state = src->snap_n;
    n->applied = src->snap.index;
}

static void crash_during_snapshot_install_restarts_from_the_snapshot_alone(
    void **state)
{
    (void)state;
    raft_id l;
    fx *f = deposed_leader_with_a_long_tail(&l);
    fx_node *n1 = fx_node_of(f, 1), *ld = fx_node_of(f, l);
    crash_with_the_file_and_without_the_reset(f, ld);
    fx_restart(f, 1);
    EXPECT(raft_get_last_index(n1->r) == ld->snap.index,
           "node 1 restarts at the snapshot's index %llu, got %llu",
           (ull)ld->snap.index, (ull)raft_get_last_index(n1->r));
    fx_heal(f);
    propose_n(f, l, 2, "after");
    fx_tick_all(f, 5);
    EXPECT(n1->applied == ld->applied, "node 1 catches up: applied %llu, "
           "the leader %llu", (ull)n1->applied, (ull)ld->applied);
    EXPECT(state_has(n1, "after1") && !state_has(n1, "lost0"),
           "node 1 holds the leader's entries and none of its lost tail");
    EXPECT(n1->n_state == ld->n_state, "the same state: %zu commands, the "
           "leader %zu", n1->n_state, ld->n_state);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(restart_rule_keeps_a_log_that_continues_the_snapshot),
        cmocka_unit_test(restart_rule_drops_a_log_of_another_history),
        cmocka_unit_test(restart_rule_refuses_a_log_that_starts_past_the_snapshot),
        cmocka_unit_test(
            crash_during_snapshot_install_restarts_from_the_snapshot_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_log_repair.c: log repair (issue 8, bug 1) as stories over real
 * Raft nodes (fixture.c): the members answer as lmsd's node_serve_fetch
 * does (fetch.c, from their running core/repl/raft), and core/repl/repair_plan.c,
 * the node's own decision code, decides what the repairing node writes.
 * Each story checks the repaired log entry by entry against the log of
 * the leader it must come from.
 *
 * The repairing node is node 5 of five (three others can elect a leader
 * while one is deposed and one repairs); it lost everything after the
 * committed prefix (entry 10 here), as a lying disk would make it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "story.h"

#define SELF 5
#define KEEP 10

/* What the repairing node's log holds after the prefix: (index, term). */
typedef struct held {
    raft_index index[256];
    raft_term term[256];
    size_t n;
    int restarts;
} held;

/* Five nodes, node 1 leads and KEEP entries are committed everywhere;
 * then node SELF is down (it will repair). */
static fx *committed_prefix(void)
{
    fx *f = fx_new(5, NULL);
    elect(f, 1);
    propose_n(f, 1, KEEP - 1, "c"); /* + the leader's empty entry */
    fx_deliver(f);
    EXPECT(raft_get_commit(fx_node_of(f, SELF)->r) == KEEP,
           "node %d commits %d, got %llu", SELF, KEEP,
           (ull)raft_get_commit(fx_node_of(f, SELF)->r));
    fx_crash(f, SELF);
    return f;
}

/* Nodes 2..4 (and SELF if it runs) tick until one of 2..4 leads a later
 * term than node 1's; that one. */
static raft_id take_over(fx *f)
{
    raft_id l = 0;
    for (int i = 0; i < 300 && !(l >= 2 && l <= 4); i++) {
        for (raft_id id = 2; id <= SELF; id++)
            if (fx_node_of(f, id)->alive)
                fx_tick(f, id, 1);
        fx_deliver(f);
        l = fx_leader(f);
    }
    EXPECT(l >= 2 && l <= 4, "one of nodes 2..4 takes over, leader is %llu",
           (ull)l);
    return l;
}

/* Node 1 leads on alone (deposed, not yet told) and appends n entries;
 * another member takes over (returned) and appends m, committed. */
static raft_id depose(fx *f, int n, int m)
{
    fx_isolate(f, 1);
    propose_n(f, 1, n, "lost");
    fx_deliver(f);
    raft_id to = take_over(f);
    EXPECT(raft_get_role(fx_node_of(f, 1)->r) == RAFT_LEADER,
           "node 1 still believes it leads");
    propose_n(f, to, m, "won");
    fx_deliver(f);
    return to;
}

static raft_term term_of(fx *f, raft_id id, raft_index i)
{
    raft_term t = 0;
    int rc = raft_term_at(fx_node_of(f, id)->r, i, &t);
    EXPECT(rc == RAFT_OK, "node %llu holds entry %llu: %s", (ull)id, (ull)i,
           raft_strerror(rc));
    return t;
}

static repair_plan start_plan(fx *f, raft_term floor)
{
    repair_plan p;
    repair_plan_init(&p, SELF, KEEP, term_of(f, 2, KEEP), floor, 0);
    return p;
}

/* Member `from` answers the plan's current request (at most max
 * entries); the step is carried out on h. */
static repair_step answer(fx *f, repair_plan *p, held *h, raft_id from,
                          size_t max, int64_t now)
{
    fetch_ask a;
    fetch_request(p, &a);
    fetch_reply r;
    fx_node *n = fx_node_of(f, from);
    fetch_serve(n->r, &n->snap, &a, max, &r);
    if (n->r)
        fx_process(f, from); /* a newer term the asker showed */
    repair_step s = fetch_apply(p, from, &r, now);
    if (s.restart) {
        h->n = 0;
        h->restarts++;
    }
    for (size_t i = 0; s.action == REPAIR_APPEND && i < s.count; i++) {
        h->index[h->n] = r.ents[i].index;
        h->term[h->n++] = r.ents[i].term;
    }
    fetch_reply_free(&r);
    EXPECT(KEEP + h->n == p->last || p->keep != KEEP,
           "the plan's last (%llu) is what was written (%llu)",
           (ull)p->last, (ull)(KEEP + h->n));
    return s;
}

/* h, after the prefix `after`, is node id's log, entry by entry, to its
 * end. */
static void expect_log_of(fx *f, raft_id id, const held *h, raft_index after)
{
    raft_index last = raft_get_last_index(fx_node_of(f, id)->r);
    EXPECT(after + h->n == last, "the log to end at %llu like node %llu's, "
           "got %llu", (ull)last, (ull)id, (ull)(after + h->n));
    for (size_t i = 0; i < h->n; i++) {
        raft_term t = term_of(f, id, h->index[i]);
        EXPECT(h->index[i] == after + 1 + i && h->term[i] == t,
               "entry %llu of term %llu (node %llu's), got %llu of term %llu",
               (ull)(after + 1 + i), (ull)t, (ull)id, (ull)h->index[i],
               (ull)h->term[i]);
    }
}

/* The scenario: entries 11..15 of the deposed leader's term from
 * member 1, then a piece from member 2, the leader of a later term. The
 * old repair appended 16..20 of term 6 after them: a log no leader ever
 * had, whose last entry matches the real leader's (so AppendEntries
 * never repairs 11..15). The plan drops 11..15 and takes 11..20 of
 * member 2 alone. */
static void repair_from_a_deposed_and_a_new_leader_builds_one_leaders_log(
    void **state)
{
    (void)state;
    fx *f = committed_prefix();
    raft_term old_term = raft_get_term(fx_node_of(f, 1)->r);
    raft_id l = depose(f, 10, 9); /* its empty entry + 9 */
    raft_term new_term = raft_get_term(fx_node_of(f, l)->r);
    EXPECT(term_of(f, 1, 15) == old_term && term_of(f, l, 20) == new_term,
           "11..15 of term %llu at node 1, up to 20 of term %llu at node %llu",
           (ull)old_term, (ull)new_term, (ull)l);
    repair_plan p = start_plan(f, old_term); /* node 5 never saw term 2 */
    held h = {0};
    repair_step s = answer(f, &p, &h, 1, 5, 0);
    EXPECT(s.action == REPAIR_APPEND && h.n == 5 && !p.done,
           "member 1's 11..15 taken first, got action %d and %zu entries",
           s.action, h.n);
    /* the new leader answers the request for 16.. */
    s = answer(f, &p, &h, l, 64, 10);
    EXPECT(s.restart && h.n == 0 && p.leader == l && p.term == new_term,
           "a restart from the prefix under member %llu (term %llu), got "
           "restart %d, %zu entries, leader %llu term %llu (%s)", (ull)l,
           (ull)new_term, s.restart, h.n, (ull)p.leader, (ull)p.term,
           s.reason);
    for (int i = 0; i < 10 && !p.done; i++)
        s = answer(f, &p, &h, l, 3, 20 + i);
    EXPECT(p.done, "repair done, got: %s", s.reason);
    expect_log_of(f, l, &h, KEEP);
    /* a late piece of the deposed leader changes nothing */
    s = answer(f, &p, &h, 1, 64, 40);
    EXPECT(s.action == REPAIR_IGNORE && h.n == 10 && p.leader == l,
           "ignored, got %d (%s)",
           s.action, s.reason);
    fx_free(f);
}

/* The source repair follows dies after a piece: only it is asked for
 * REPAIR_SILENT_MS, then every member; the new leader (a later term)
 * restarts the plan and its log is what the node ends with. */
static void repair_source_dies_then_another_answers(void **state)
{
    (void)state;
    fx *f = committed_prefix();
    propose_n(f, 1, 10, "more");
    fx_deliver(f);
    repair_plan p = start_plan(f, raft_get_term(fx_node_of(f, 1)->r));
    held h = {0};
    repair_step s = answer(f, &p, &h, 1, 4, 0);
    EXPECT(s.action == REPAIR_APPEND && h.n == 4 && repair_plan_ask_to(&p) == 1,
           "4 entries of member 1, then only it is asked; got %zu, asking "
           "%llu", h.n, (ull)repair_plan_ask_to(&p));
    fx_crash(f, 1);
    EXPECT(!repair_plan_tick(&p, REPAIR_SILENT_MS - 1) &&
               repair_plan_ask_to(&p) == 1,
           "member 1 still the one asked just before %d ms", REPAIR_SILENT_MS);
    EXPECT(repair_plan_tick(&p, REPAIR_SILENT_MS) && repair_plan_ask_to(&p) == 0,
           "every member asked after %d ms of silence", REPAIR_SILENT_MS);
    raft_id l = take_over(f), follower = l == 2 ? 3 : 2;
    s = answer(f, &p, &h, follower, 64, REPAIR_SILENT_MS + 1);
    EXPECT(s.action == REPAIR_IGNORE && repair_plan_ask_to(&p) == 0,
           "a follower's answer changes nothing, got %d (%s)", s.action,
           s.reason);
    s = answer(f, &p, &h, l, 64, REPAIR_SILENT_MS + 2);
    EXPECT(s.restart && p.leader == l, "member %llu of a later term restarts "
           "the plan, got restart %d leader %llu (%s)", (ull)l, s.restart,
           (ull)p.leader, s.reason);
    for (int i = 0; i < 10 && !p.done; i++)
        s = answer(f, &p, &h, l, 64, REPAIR_SILENT_MS + 3 + i);
    EXPECT(p.done, "repair done, got: %s", s.reason);
    expect_log_of(f, l, &h, KEEP);
    fx_free(f);
}

/* The leader compacted past the prefix: its answer names its snapshot,
 * the plan asks for it, takes it only from that leader in its term, and
 * fetches the entries after it. */
static void repair_falls_back_to_the_leaders_snapshot(void **state)
{
    (void)state;
    fx *f = committed_prefix();
    propose_n(f, 1, 20, "more");
    fx_deliver(f);
    fx_snapshot(f, 1, 0);
    raft_snapshot_meta snap = fx_node_of(f, 1)->snap;
    EXPECT(snap.index == 30, "node 1's snapshot at 30, got %llu",
           (ull)snap.index);
    propose_n(f, 1, 4, "after");
    fx_deliver(f);
    raft_term term = raft_get_term(fx_node_of(f, 1)->r);
    repair_plan p = start_plan(f, term);
    held h = {0};
    repair_step s = answer(f, &p, &h, 1, 64, 0);
    fetch_ask a;
    fetch_request(&p, &a);
    EXPECT(s.action == REPAIR_SNAPSHOT && a.want_snapshot &&
               p.snap_index == snap.index,
           "the snapshot asked for, got action %d, want_snapshot %d, "
           "snapshot %llu (%s)", s.action, a.want_snapshot,
           (ull)p.snap_index, s.reason);
    EXPECT(repair_plan_snapshot_ok(&p, 2, term, snap.index, snap.term) &&
               repair_plan_snapshot_ok(&p, 1, term + 1, snap.index, snap.term),
           "a stream of another member, or of another term, refused");
    const char *why = repair_plan_snapshot_ok(&p, 1, term, snap.index,
                                              snap.term);
    EXPECT(!why, "the leader's stream taken, got: %s", why);
    s = repair_plan_installed(&p, snap.index, snap.term, 1);
    EXPECT(!s.done && p.keep == snap.index,
           "the snapshot is the new prefix, got keep %llu done %d",
           (ull)p.keep, s.done);
    for (int i = 0; i < 10 && !p.done; i++)
        s = answer(f, &p, &h, 1, 64, 2 + i);
    EXPECT(p.done, "repair done, got: %s", s.reason);
    expect_log_of(f, 1, &h, snap.index);
    fx_free(f);
}

/* Found by the simulator (raft-sim --no-floor fails on seed 1985 of 3
 * nodes): node 5 acknowledged entries of the new leader's term and lost
 * them; node 1, deposed without knowing it, still answers as the leader
 * of the term before.
 * Following it, node 5 would vote for node 1 as if its log were whole.
 * The plan refuses a leader of a term older than the node's own. */
static void repair_ignores_a_leader_older_than_its_own_term(void **state)
{
    (void)state;
    fx *f = committed_prefix();
    fx_restart(f, SELF);
    raft_id l = depose(f, 10, 5);
    raft_term own = raft_get_term(fx_node_of(f, SELF)->r);
    EXPECT(raft_get_last_index(fx_node_of(f, SELF)->r) == 16 &&
               own == raft_get_term(fx_node_of(f, l)->r),
           "node 5 holds 11..16 of node %llu's term %llu, got last %llu "
           "term %llu", (ull)l, (ull)raft_get_term(fx_node_of(f, l)->r),
           (ull)raft_get_last_index(fx_node_of(f, SELF)->r), (ull)own);
    fx_crash(f, SELF); /* and its disk loses 11..16 */
    repair_plan unguarded = start_plan(f, 0), p = start_plan(f, own);
    held h0 = {0}, h = {0};
    repair_step s = answer(f, &unguarded, &h0, 1, 64, 0);
    EXPECT(s.action == REPAIR_APPEND, "without the floor, the deposed "
           "leader's entries are taken (the bug), got %d", s.action);
    s = answer(f, &p, &h, 1, 64, 0);
    /* ignored: it leads an older term, or (having seen the asker's term
     * in the request) it no longer leads at all */
    EXPECT(s.action == REPAIR_IGNORE && p.leader == 0 &&
               (strstr(s.reason, "older than this node's own") ||
                strstr(s.reason, "does not lead")),
           "node 1 (term %llu) ignored, got action %d leader %llu (%s)",
           (ull)raft_get_term(fx_node_of(f, 1)->r), s.action, (ull)p.leader,
           s.reason);
    for (int i = 0; i < 10 && !p.done; i++)
        s = answer(f, &p, &h, l, 64, 1 + i);
    EXPECT(p.done, "repair done, got: %s", s.reason);
    expect_log_of(f, l, &h, KEEP);
    fx_free(f);
}

/* The repairing node alone is in the newest term (its vote requests of
 * term T+1 reached nobody before it crashed): the live leader's term T is
 * older than its floor, so repair ignores it; and no Raft message of T+1
 * will ever reach the others while it repairs. The term in its fetch
 * makes that leader step down to T+1, as any Raft message of that term
 * would; the others elect a leader of a later term, which repair
 * follows. Without that the node waited forever. */
static void repair_in_a_newer_term_than_the_leader_moves_the_cluster(void **state)
{
    (void)state;
    fx *f = committed_prefix();
    raft_term t = raft_get_term(fx_node_of(f, 1)->r);
    repair_plan p = start_plan(f, t + 1);
    held h = {0};
    repair_step s = answer(f, &p, &h, 1, 64, 0);
    EXPECT(s.action == REPAIR_IGNORE && p.leader == 0,
           "the leader of term %llu is not followed, got action %d (%s)",
           (ull)t, s.action, s.reason);
    EXPECT(raft_get_term(fx_node_of(f, 1)->r) == t + 1 &&
               raft_get_role(fx_node_of(f, 1)->r) != RAFT_LEADER,
           "node 1 follows term %llu, got term %llu role %d", (ull)t + 1,
           (ull)raft_get_term(fx_node_of(f, 1)->r),
           (int)raft_get_role(fx_node_of(f, 1)->r));
    raft_id l = take_over(f);
    EXPECT(raft_get_term(fx_node_of(f, l)->r) >= t + 1,
           "a leader of term %llu or later, got %llu", (ull)t + 1,
           (ull)raft_get_term(fx_node_of(f, l)->r));
    propose_n(f, l, 3, "after");
    fx_deliver(f);
    for (int i = 0; i < 10 && !p.done; i++)
        s = answer(f, &p, &h, l, 64, 1 + i);
    EXPECT(p.done, "repair done, got: %s", s.reason);
    expect_log_of(f, l, &h, KEEP);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            repair_from_a_deposed_and_a_new_leader_builds_one_leaders_log),
        cmocka_unit_test(repair_source_dies_then_another_answers),
        cmocka_unit_test(repair_falls_back_to_the_leaders_snapshot),
        cmocka_unit_test(repair_ignores_a_leader_older_than_its_own_term),
        cmocka_unit_test(repair_in_a_newer_term_than_the_leader_moves_the_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

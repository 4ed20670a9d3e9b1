/* SPDX-License-Identifier: MIT */
/*
 * test_repair.c: log repair's decisions (core/repl/repair_plan.c) and the
 * checks of its messages (core/repl/peer_codec.c), with scripted answers from
 * members of different terms. The test keeps a model of the WAL that
 * carries out each step as node_repair.c does (truncate to the prefix,
 * append the piece) and checks after every step what the repair promises:
 * the prefix is untouched and every entry after it is one leader's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "peer_codec.h"
#include "repair_plan.h"

#include <stdio.h>
#include <string.h>

#define MAXI 64
#define KEEP 10
#define KEEP_TERM 4
#define SELF 3

/* A member's log: term[i] is the term of its entry i (1..last). */
typedef struct fake_log {
    uint64_t term[MAXI];
    uint64_t last;
} fake_log;

/* The repairing node's log as node_repair.c would have written it. */
typedef struct held {
    uint64_t term[MAXI], from[MAXI];
    uint64_t last;
} held;

typedef struct reply_buf {
    Lms__PeerFetchReply r;
    Lms__PeerEntry e[MAXI];
    Lms__PeerEntry *p[MAXI];
} reply_buf;

/* 1..KEEP in terms up to KEEP_TERM (what every leader has: committed),
 * then entries KEEP+1..last in the terms given. */
static fake_log log_of(uint64_t last, uint64_t t1, uint64_t from2, uint64_t t2)
{
    fake_log l = {.last = last};
    for (uint64_t i = 1; i <= KEEP; i++)
        l.term[i] = i < 5 ? 1 : KEEP_TERM;
    for (uint64_t i = KEEP + 1; i <= last; i++)
        l.term[i] = i < from2 ? t1 : t2;
    return l;
}

/* A leader's answer from log l in `term` to "entries from `from` on", at
 * most count of them: what node_serve_fetch sends. */
static Lms__PeerFetchReply *leader_reply(reply_buf *b, const fake_log *l,
                                         uint64_t term, uint64_t from,
                                         size_t count)
{
    lms__peer_fetch_reply__init(&b->r);
    b->r.is_leader = 1;
    b->r.term = term;
    b->r.last_index = l->last;
    b->r.prev_index = from - 1 < l->last ? from - 1 : l->last;
    b->r.prev_term = l->term[b->r.prev_index];
    size_t k = 0;
    for (uint64_t i = b->r.prev_index + 1; i <= l->last && k < count; i++, k++) {
        lms__peer_entry__init(&b->e[k]);
        b->e[k].index = i;
        b->e[k].term = l->term[i];
        b->p[k] = &b->e[k];
    }
    b->r.entries = b->p;
    b->r.n_entries = k;
    return &b->r;
}

static held held_init(void)
{
    held h = {.last = KEEP};
    fake_log base = log_of(KEEP, 0, 0, 0);
    memcpy(h.term, base.term, sizeof h.term);
    return h;
}

/* What node_repair.c does with an answer: check it, ask the plan, carry
 * out the step on the log; and what it must keep true. */
static repair_step feed(repair_plan *p, held *h, uint64_t from,
                        const Lms__PeerFetchReply *r, int64_t now)
{
    lms_err err = {0};
    if (peer_fetch_reply_check(r, &err) != LMS_OK)
        fail_msg("a scripted answer of member %llu was refused: %s",
                 (unsigned long long)from, err.msg);
    repair_step s = repair_plan_reply(p, from, r, now);
    if (s.restart)
        h->last = p->keep;
    if (s.action == REPAIR_APPEND) {
        for (size_t i = 0; i < s.count; i++) {
            assert_int_equal(r->entries[i]->index, h->last + 1);
            h->last++;
            h->term[h->last] = r->entries[i]->term;
            h->from[h->last] = from;
        }
    }
    if (h->last != p->last)
        fail_msg("the log ends at %llu, the plan says %llu",
                 (unsigned long long)h->last, (unsigned long long)p->last);
    return s;
}

/* The held log is the prefix plus leader `who`'s log (l) up to h->last. */
static void assert_one_leaders_log(const held *h, uint64_t who,
                                   const fake_log *l)
{
    fake_log base = log_of(KEEP, 0, 0, 0);
    for (uint64_t i = 1; i <= KEEP; i++)
        if (h->term[i] != base.term[i])
            fail_msg("prefix entry %llu changed", (unsigned long long)i);
    for (uint64_t i = KEEP + 1; i <= h->last; i++)
        if (h->from[i] != who || h->term[i] != l->term[i])
            fail_msg("entry %llu: expected term %llu from member %llu, got "
                     "term %llu from member %llu", (unsigned long long)i,
                     (unsigned long long)l->term[i], (unsigned long long)who,
                     (unsigned long long)h->term[i],
                     (unsigned long long)h->from[i]);
}

/* ---- the scenario, and restarts --------------------------------- */

/* Issue 8, bug 1: 11..15 of term 5 from member 1 (a deposed leader), then
 * 16..20 of term 6 from member 2 (the leader). Before the fix the log
 * ended as a mix of both; now the newer term restarts the repair from the
 * prefix and the log is member 2's alone. */
/* Found by review: the first member that said it leads took the lock in
 * any term, even one older than this node's own durable term. A leader
 * deposed behind a partition (term 5) still answering, while this node
 * had voted and acknowledged in term 6, gave it the old leader's
 * uncommitted entries where it had acknowledged committed ones. A leader
 * of an older term than the node's own is ignored; the one of its term
 * (or newer) is followed. */
static void leader_older_than_own_term_is_ignored(void **state)
{
    (void)state;
    fake_log stale = log_of(18, 5, 99, 5), cur = log_of(14, 6, 99, 6);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, 6, 0);
    Lms__PeerFetch f = LMS__PEER_FETCH__INIT;
    repair_plan_request(&p, &f);
    assert_int_equal(f.term, 6); /* an older leader that reads it steps down */
    repair_step s = feed(&p, &h, 1, leader_reply(&b, &stale, 5, KEEP + 1, 8), 10);
    assert_int_equal(s.action, REPAIR_IGNORE);
    assert_int_equal(h.last, KEEP);
    assert_int_equal(p.leader, 0);
    assert_non_null(strstr(s.reason, "older than this node's own"));
    s = feed(&p, &h, 2, leader_reply(&b, &cur, 6, KEEP + 1, 8), 20);
    assert_int_equal(s.action, REPAIR_APPEND);
    assert_true(s.done);
    assert_int_equal(h.last, 14);
    for (uint64_t i = KEEP + 1; i <= 14; i++)
        assert_int_equal(h.from[i], 2);
}

static void deposed_then_new_leader_gives_one_leaders_log(void **state)
{
    (void)state;
    fake_log m1 = log_of(18, 5, 99, 5), m2 = log_of(20, 6, 99, 6);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    assert_int_equal(repair_plan_ask_to(&p), 0);

    repair_step s = feed(&p, &h, 1, leader_reply(&b, &m1, 5, 11, 5), 10);
    assert_int_equal(s.action, REPAIR_APPEND);
    assert_int_equal(s.count, 5);
    assert_false(s.done);
    assert_int_equal(repair_plan_ask_to(&p), 1);

    s = feed(&p, &h, 2, leader_reply(&b, &m2, 6, 16, 5), 20);
    assert_true(s.restart);
    assert_int_equal(s.action, REPAIR_IGNORE); /* 16.. does not follow 10 */
    assert_int_equal(h.last, KEEP);
    assert_int_equal(repair_plan_ask_to(&p), 2);

    Lms__PeerFetch f = LMS__PEER_FETCH__INIT;
    repair_plan_request(&p, &f);
    assert_int_equal(f.from_index, KEEP + 1);
    assert_int_equal(f.prev_term, KEEP_TERM);
    s = feed(&p, &h, 2, leader_reply(&b, &m2, 6, f.from_index, 100), 30);
    assert_int_equal(s.action, REPAIR_APPEND);
    assert_true(s.done);
    assert_int_equal(h.last, 20);
    assert_one_leaders_log(&h, 2, &m2);
}

/* A newer leader's piece that starts right after the prefix is taken in
 * the same step as the restart. */
static void newer_leader_piece_after_prefix_restarts_and_appends(void **state)
{
    (void)state;
    fake_log m1 = log_of(18, 5, 99, 5), m2 = log_of(14, 5, 13, 6);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    feed(&p, &h, 1, leader_reply(&b, &m1, 5, 11, 5), 0);
    repair_step s = feed(&p, &h, 2, leader_reply(&b, &m2, 6, 11, 10), 0);
    assert_true(s.restart);
    assert_int_equal(s.action, REPAIR_APPEND);
    assert_int_equal(s.count, 4);
    assert_true(s.done);
    assert_one_leaders_log(&h, 2, &m2);
}

/* The locked leader's piece whose prev (index, term) is not the entry
 * held: everything after the prefix is dropped and fetched again. */
static void prev_mismatch_restarts_from_prefix(void **state)
{
    (void)state;
    fake_log m1 = log_of(18, 5, 99, 5);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    feed(&p, &h, 1, leader_reply(&b, &m1, 5, 11, 3), 0);
    assert_int_equal(h.last, 13);
    fake_log other = log_of(18, 3, 14, 5); /* 13 has term 3 there */
    repair_step s = feed(&p, &h, 1, leader_reply(&b, &other, 5, 14, 3), 0);
    assert_true(s.restart);
    assert_int_equal(s.action, REPAIR_IGNORE);
    assert_int_equal(h.last, KEEP);
    s = feed(&p, &h, 1, leader_reply(&b, &m1, 5, 11, 100), 0);
    assert_true(s.done);
    assert_one_leaders_log(&h, 1, &m1);
}

/* A leader whose entry at the end of the committed prefix has another
 * term is a deposed one (a later leader holds every committed entry): it
 * is ignored, every member is asked, and the real leader's log is taken. */
static void prefix_term_mismatch_is_a_deposed_leader(void **state)
{
    (void)state;
    /* a leader of term 5 deposed before entry KEEP (term 4) committed,
     * which holds another entry there */
    fake_log stale = log_of(18, 5, 99, 5), m2 = log_of(14, 6, 99, 6);
    stale.term[KEEP] = 3;
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    repair_step s = feed(&p, &h, 1, leader_reply(&b, &stale, 5, 11, 3), 0);
    assert_int_equal(s.action, REPAIR_IGNORE);
    assert_true(s.ask_all);
    assert_non_null(strstr(s.reason, "deposed"));
    assert_int_equal(repair_plan_ask_to(&p), 0);
    assert_int_equal(h.last, KEEP);
    s = feed(&p, &h, 2, leader_reply(&b, &m2, 6, 11, 100), 0);
    assert_true(s.done);
    assert_one_leaders_log(&h, 2, &m2);
}

/* A second answer to an older request (the same piece again) is not a
 * mismatch: it is ignored and nothing is dropped. */
static void duplicate_piece_is_ignored(void **state)
{
    (void)state;
    fake_log m1 = log_of(18, 5, 99, 5);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    feed(&p, &h, 1, leader_reply(&b, &m1, 5, 11, 3), 0);
    repair_step s = feed(&p, &h, 1, leader_reply(&b, &m1, 5, 11, 3), 0);
    assert_false(s.restart);
    assert_int_equal(s.action, REPAIR_IGNORE);
    assert_int_equal(h.last, 13);
}

/* ---- answers that are ignored ------------------------------------------- */

/* Locked to term 6: a leader of term 5, a second member claiming term 6,
 * a member that does not lead, and a leader whose log ends before the
 * prefix change nothing. */
static void stale_and_foreign_answers_are_ignored(void **state)
{
    (void)state;
    fake_log m1 = log_of(18, 5, 99, 5), m2 = log_of(20, 6, 99, 6);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    feed(&p, &h, 2, leader_reply(&b, &m2, 6, 11, 2), 0);
    assert_int_equal(h.last, 12);

    repair_step s = feed(&p, &h, 1, leader_reply(&b, &m1, 5, 13, 5), 0);
    assert_int_equal(s.action, REPAIR_IGNORE);
    assert_false(s.restart);
    assert_non_null(strstr(s.reason, "older term"));

    s = feed(&p, &h, 4, leader_reply(&b, &m2, 6, 13, 5), 0);
    assert_int_equal(s.action, REPAIR_IGNORE);
    assert_non_null(strstr(s.reason, "another member leads that term"));

    Lms__PeerFetchReply nl = LMS__PEER_FETCH_REPLY__INIT;
    nl.term = 7;
    nl.leader = 2;
    s = feed(&p, &h, 1, &nl, 0);
    assert_int_equal(s.action, REPAIR_IGNORE);
    assert_int_equal(repair_plan_ask_to(&p), 2);

    fake_log shorter = log_of(8, 1, 99, 1);
    s = feed(&p, &h, 4, leader_reply(&b, &shorter, 9, 9, 5), 0);
    assert_int_equal(s.action, REPAIR_IGNORE);
    assert_non_null(strstr(s.reason, "deposed"));

    assert_int_equal(h.last, 12);
    s = feed(&p, &h, 2, leader_reply(&b, &m2, 6, 13, 100), 0);
    assert_true(s.done);
    assert_one_leaders_log(&h, 2, &m2);
}

/* ---- liveness ----------------------------------------------------------- */

/* The locked leader falls silent: after REPAIR_SILENT_MS every member is
 * asked, and a leader of a newer term takes over from the prefix. */
static void silent_leader_then_another_answers(void **state)
{
    (void)state;
    fake_log m1 = log_of(18, 5, 99, 5), m2 = log_of(20, 6, 99, 6);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    feed(&p, &h, 1, leader_reply(&b, &m1, 5, 11, 3), 1000);
    assert_int_equal(repair_plan_tick(&p, 1000 + REPAIR_SILENT_MS - 1), 0);
    assert_int_equal(repair_plan_ask_to(&p), 1);
    assert_int_equal(repair_plan_tick(&p, 1000 + REPAIR_SILENT_MS), 1);
    assert_int_equal(repair_plan_ask_to(&p), 0);
    assert_int_equal(repair_plan_tick(&p, 1000 + 2 * REPAIR_SILENT_MS), 0);
    char buf[512];
    repair_plan_describe(&p, buf, sizeof buf);
    assert_non_null(strstr(buf, "fell silent"));

    repair_step s = feed(&p, &h, 2, leader_reply(&b, &m2, 6, 11, 100), 5000);
    assert_true(s.restart);
    assert_true(s.done);
    assert_one_leaders_log(&h, 2, &m2);
}

/* The silent leader answers again (same term): it is asked alone again
 * and the log goes on from where it was. */
static void silent_leader_that_returns_continues(void **state)
{
    (void)state;
    fake_log m1 = log_of(18, 5, 99, 5);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    feed(&p, &h, 1, leader_reply(&b, &m1, 5, 11, 3), 0);
    assert_int_equal(repair_plan_tick(&p, REPAIR_SILENT_MS), 1);
    repair_step s = feed(&p, &h, 1, leader_reply(&b, &m1, 5, 14, 100), 3000);
    assert_false(s.restart);
    assert_true(s.done);
    assert_int_equal(repair_plan_ask_to(&p), 1);
    assert_one_leaders_log(&h, 1, &m1);
}

/* The locked leader says it no longer leads: every member is asked at
 * once, without waiting for the silence. */
static void leader_that_stepped_down_makes_plan_ask_all(void **state)
{
    (void)state;
    fake_log m1 = log_of(18, 5, 99, 5);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    feed(&p, &h, 1, leader_reply(&b, &m1, 5, 11, 3), 0);
    Lms__PeerFetchReply nl = LMS__PEER_FETCH_REPLY__INIT;
    nl.term = 6;
    repair_step s = feed(&p, &h, 1, &nl, 10);
    assert_true(s.ask_all);
    assert_int_equal(repair_plan_ask_to(&p), 0);
    assert_int_equal(h.last, 13);
}

/* A leader's "compacted" answer: from_index lies behind its snapshot
 * (index, snap_term); its log ends at last. */
static Lms__PeerFetchReply compacted_reply(uint64_t term, uint64_t last,
                                           uint64_t index, uint64_t snap_term)
{
    Lms__PeerFetchReply r = LMS__PEER_FETCH_REPLY__INIT;
    r.is_leader = 1;
    r.term = term;
    r.last_index = last;
    r.error = (char *)"compacted";
    r.snapshot_index = index;
    r.snapshot_term = snap_term;
    return r;
}

/* What node_repair_snap.c does once a snapshot is installed: the held log
 * is the snapshot's (member who's entries up to index), nothing after. */
static repair_step install_snapshot(repair_plan *p, held *h, uint64_t who,
                                    const fake_log *l, uint64_t index,
                                    int64_t now)
{
    const char *why = repair_plan_snapshot_ok(p, who, p->term, index,
                                              l->term[index]);
    if (why)
        fail_msg("snapshot %llu of member %llu: expected accepted, got "
                 "refused: %s", (unsigned long long)index,
                 (unsigned long long)who, why);
    for (uint64_t i = p->keep + 1; i <= index; i++) {
        h->term[i] = l->term[i];
        h->from[i] = who;
    }
    h->last = index;
    return repair_plan_installed(p, index, l->term[index], now);
}

/* Issue 8, bug 4: the leader compacted the entries the log needs. The
 * plan asks it for its snapshot once (the request says want_snapshot),
 * waits through further "compacted" answers, installs it as the new
 * prefix and fetches the entries after it from the same leader. */
static void compacted_leader_snapshot_then_entries_after_it(void **state)
{
    (void)state;
    fake_log m2 = log_of(40, 5, 25, 6);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    Lms__PeerFetchReply r = compacted_reply(6, 40, 30, 6);
    repair_step s = feed(&p, &h, 2, &r, 0);
    assert_int_equal(s.action, REPAIR_SNAPSHOT);
    assert_non_null(strstr(s.reason, "snapshot 30"));
    assert_int_equal(h.last, KEEP);
    Lms__PeerFetch f = LMS__PEER_FETCH__INIT;
    repair_plan_request(&p, &f);
    assert_true(f.want_snapshot);
    assert_int_equal(f.from_index, KEEP + 1);
    assert_int_equal(repair_plan_ask_to(&p), 2);
    s = feed(&p, &h, 2, &r, 100); /* asked again while it streams */
    if (s.action != REPAIR_IGNORE)
        fail_msg("a second compacted answer: expected ignored (one stream "
                 "is asked for), got action %d", s.action);
    s = install_snapshot(&p, &h, 2, &m2, 30, 200);
    assert_false(s.done);
    assert_int_equal(p.keep, 30);
    assert_int_equal(p.keep_term, 6);
    repair_plan_request(&p, &f);
    if (f.want_snapshot || f.from_index != 31 || f.prev_index != 30 ||
        f.prev_term != 6)
        fail_msg("after snapshot 30 (term 6): expected a fetch from 31 after "
                 "(30, 6) without want_snapshot, got from %llu after (%llu, "
                 "%llu) want %d", (unsigned long long)f.from_index,
                 (unsigned long long)f.prev_index,
                 (unsigned long long)f.prev_term, f.want_snapshot);
    s = feed(&p, &h, 2, leader_reply(&b, &m2, 6, 31, 4), 300);
    assert_int_equal(s.action, REPAIR_APPEND);
    s = feed(&p, &h, 2, leader_reply(&b, &m2, 6, 35, 10), 400);
    assert_true(s.done);
    assert_int_equal(h.last, 40);
    assert_one_leaders_log(&h, 2, &m2);
}

/* A snapshot is taken only while the plan waits for one, from the leader
 * it follows, in that leader's term, past the last entry held, with a
 * term that fits. */
static void snapshot_only_from_the_locked_leader_in_its_term(void **state)
{
    (void)state;
    fake_log m2 = log_of(40, 6, 99, 6);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    assert_non_null(repair_plan_snapshot_ok(&p, 2, 6, 30, 6)); /* no lock */
    feed(&p, &h, 2, leader_reply(&b, &m2, 6, 11, 5), 0); /* holds 11..15 */
    assert_non_null(repair_plan_snapshot_ok(&p, 2, 6, 30, 6)); /* not asked */
    Lms__PeerFetchReply r = compacted_reply(6, 40, 30, 6);
    assert_int_equal(feed(&p, &h, 2, &r, 10).action, REPAIR_SNAPSHOT);
    struct {
        uint64_t from, term, index, snap_term;
        const char *what;
    } bad[] = {
        {1, 6, 30, 6, "another member"},
        {2, 7, 30, 6, "a stream sent in a newer term"},
        {2, 5, 30, 5, "a stream sent in an older term"},
        {2, 6, 15, 6, "a snapshot at the last entry held"},
        {2, 6, 12, 6, "a snapshot below the last entry held"},
        {2, 6, 30, 7, "a snapshot term above the leader's"},
        {2, 6, 30, 5, "a snapshot term below the last entry held"},
        {SELF, 6, 30, 6, "this node itself"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!repair_plan_snapshot_ok(&p, bad[i].from, bad[i].term,
                                     bad[i].index, bad[i].snap_term))
            fail_msg("%s: expected refused, got accepted", bad[i].what);
    assert_null(repair_plan_snapshot_ok(&p, 2, 6, 16, 6));
    assert_null(repair_plan_snapshot_ok(&p, 2, 6, 30, 6));
}

/* While the plan waits for one leader's snapshot, a leader of a newer term
 * answers: the plan follows it from the prefix, the old leader's stream is
 * refused, and the new leader's own answer decides what is asked. */
static void newer_leader_while_waiting_for_snapshot(void **state)
{
    (void)state;
    fake_log m1 = log_of(45, 7, 99, 7);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    Lms__PeerFetchReply r = compacted_reply(6, 40, 30, 6);
    feed(&p, &h, 2, &r, 0);
    repair_step s = feed(&p, &h, 1, leader_reply(&b, &m1, 7, 11, 5), 10);
    assert_int_equal(s.action, REPAIR_APPEND);
    assert_int_equal(p.leader, 1);
    assert_false(p.want_snapshot);
    assert_non_null(repair_plan_snapshot_ok(&p, 2, 6, 30, 6));
    Lms__PeerFetch f = LMS__PEER_FETCH__INIT;
    repair_plan_request(&p, &f);
    assert_false(f.want_snapshot);
    assert_one_leaders_log(&h, 1, &m1);
}

/* After a snapshot the prefix is the snapshot's: a leader of a newer term
 * restarts the repair from there, not from the old prefix, and a leader
 * whose log ends before the snapshot is a deposed one. */
static void snapshot_is_the_new_prefix_for_later_restarts(void **state)
{
    (void)state;
    fake_log m2 = log_of(40, 6, 99, 6), m1 = log_of(50, 6, 36, 8);
    fake_log stale = log_of(25, 6, 99, 6);
    repair_plan p;
    held h = held_init();
    reply_buf b;
    repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
    Lms__PeerFetchReply r = compacted_reply(6, 40, 30, 6);
    feed(&p, &h, 2, &r, 0);
    install_snapshot(&p, &h, 2, &m2, 30, 10);
    feed(&p, &h, 2, leader_reply(&b, &m2, 6, 31, 5), 20); /* 31..35 */
    repair_step s = feed(&p, &h, 4, leader_reply(&b, &stale, 9, 26, 5), 30);
    assert_int_equal(s.action, REPAIR_IGNORE);
    assert_int_equal(h.last, 35);
    s = feed(&p, &h, 1, leader_reply(&b, &m1, 8, 36, 5), 40);
    assert_true(s.restart);
    assert_int_equal(h.last, 30);
    assert_int_equal(p.keep, 30);
    s = feed(&p, &h, 1, leader_reply(&b, &m1, 8, 31, 30), 50);
    assert_true(s.done);
    assert_int_equal(h.last, 50);
    for (uint64_t i = 31; i <= 50; i++)
        if (h.from[i] != 1 || h.term[i] != m1.term[i])
            fail_msg("entry %llu: expected term %llu from member 1, got "
                     "term %llu from member %llu", (unsigned long long)i,
                     (unsigned long long)m1.term[i],
                     (unsigned long long)h.term[i],
                     (unsigned long long)h.from[i]);
}

/* ---- many interleavings --------------------------------------------------- */

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Three members answer in random order, pieces of random size for random
 * (often old) requests, some going silent: after every step the log is
 * the prefix plus one leader's log, and it always ends complete. */
static void random_interleavings_keep_one_leaders_log(void **state)
{
    (void)state;
    fake_log logs[4] = {{{0}, 0}, log_of(18, 5, 99, 5), log_of(20, 6, 15, 7),
                        log_of(8, 4, 99, 4)}; /* 3: ends before the prefix */
    uint64_t terms[4] = {0, 5, 7, 4}, x = 88172645463325252ull;
    int ended[4] = {0}, restarts = 0;
    for (int round = 0; round < 2000; round++) {
        repair_plan p;
        held h = held_init();
        reply_buf b;
        int64_t now = 0;
        repair_plan_init(&p, SELF, KEEP, KEEP_TERM, KEEP_TERM, 0);
        for (int i = 0; i < 400 && !p.done; i++) {
            now += (int64_t)(rnd(&x) % 700);
            repair_plan_tick(&p, now);
            uint64_t m = 1 + rnd(&x) % 3;
            uint64_t from = KEEP + 1 + rnd(&x) % 12;
            if (rnd(&x) % 2)
                from = p.last + 1; /* an answer to the latest request */
            repair_step s = feed(&p, &h, m,
                                 leader_reply(&b, &logs[m], terms[m], from,
                                              1 + rnd(&x) % 6), now);
            restarts += s.restart;
            if (p.leader)
                assert_one_leaders_log(&h, p.leader, &logs[p.leader]);
        }
        assert_true(p.done);
        assert_int_equal(h.last, logs[p.leader].last);
        ended[p.leader]++;
    }
    /* both endings and restarts happened, the stale member never won */
    assert_true(ended[1] > 0 && ended[2] > 0 && restarts > 0);
    assert_int_equal(ended[3], 0);
}

/* ---- hostile fields --------------------------------------------------------- */

static void expect_refused(const Lms__PeerFetchReply *r, const char *what)
{
    lms_err err = {0};
    int rc = peer_fetch_reply_check(r, &err);
    if (rc != LMS_INVALID_ARGUMENT || !err.msg[0])
        fail_msg("%s: expected refused (LMS_INVALID_ARGUMENT with a "
                 "reason), got %d \"%s\"", what, rc, err.msg);
}

static void hostile_replies_are_refused(void **state)
{
    (void)state;
    fake_log m = log_of(20, 5, 15, 6);
    reply_buf b;
    lms_err err = {0};
#define HOSTILE(what, change)                                                \
    do {                                                                     \
        leader_reply(&b, &m, 6, 11, 8);                                      \
        change;                                                              \
        expect_refused(&b.r, what);                                          \
    } while (0)
    leader_reply(&b, &m, 6, 11, 8);
    assert_int_equal(peer_fetch_reply_check(&b.r, &err), LMS_OK);
    HOSTILE("term 0", b.r.term = 0);
    HOSTILE("term 2^63", b.r.term = (uint64_t)1 << 63);
    HOSTILE("last index 2^64-1", b.r.last_index = UINT64_MAX);
    HOSTILE("prev after last", b.r.prev_index = 21);
    HOSTILE("prev term 0 at index 10", b.r.prev_term = 0);
    HOSTILE("prev term above the term", b.r.prev_term = 7);
    HOSTILE("a gap", b.e[3].index = 15);
    HOSTILE("an entry past last", b.r.last_index = 15);
    HOSTILE("terms going down", b.e[6].term = 5);
    HOSTILE("an entry below prev's term", b.e[0].term = 3);
    HOSTILE("an entry above the leader's term", b.e[7].term = 7);
    HOSTILE("an entry of term 0", (b.r.prev_index = 0, b.r.prev_term = 0,
                                   b.e[0].index = 1, b.r.n_entries = 1,
                                   b.e[0].term = 0));
    HOSTILE("type 7", b.e[2].type = 7);
    HOSTILE("an entry over the WAL's limit", b.e[0].data.len = (size_t)1 << 30);
    HOSTILE("a piece over 4 MiB", (b.e[0].data.len = (size_t)3 << 20,
                                   b.e[1].data.len = (size_t)3 << 20));
    HOSTILE("more entries than a piece holds",
            b.r.n_entries = PEER_FETCH_MAX_ENTRIES + 1);
    HOSTILE("entries with an error", b.r.error = (char *)"x");
    HOSTILE("a snapshot without an error", b.r.snapshot_index = 5);
    HOSTILE("entries from a member that does not lead", b.r.is_leader = 0);
    HOSTILE("a non-leader's term 2^64-1", (b.r.is_leader = 0,
                                           b.r.n_entries = 0, b.r.prev_index = 0,
                                           b.r.prev_term = 0,
                                           b.r.term = UINT64_MAX));
    HOSTILE("a snapshot newer than the term",
            (b.r.n_entries = 0, b.r.error = (char *)"compacted",
             b.r.snapshot_index = 12, b.r.snapshot_term = 9));
    HOSTILE("a snapshot past the last index",
            (b.r.n_entries = 0, b.r.error = (char *)"compacted",
             b.r.snapshot_index = 21, b.r.snapshot_term = 6));
    char long_error[PEER_FETCH_MAX_ERROR + 2];
    memset(long_error, 'e', sizeof long_error - 1);
    long_error[sizeof long_error - 1] = 0;
    HOSTILE("an error string too long",
            (b.r.n_entries = 0, b.r.error = long_error));
    HOSTILE("an error string with a newline",
            (b.r.n_entries = 0, b.r.error = (char *)"fine\nFORGED log line"));
    /* the one big entry alone is fine */
    leader_reply(&b, &m, 6, 11, 1);
    b.e[0].data.len = (size_t)64 << 20;
    assert_int_equal(peer_fetch_reply_check(&b.r, &err), LMS_OK);
#undef HOSTILE
}

static void hostile_requests_are_refused(void **state)
{
    (void)state;
    struct {
        uint64_t from, prev, prev_term, term;
        int ok;
    } cases[] = {
        {.from = 11, .prev = 10, .prev_term = 4, .ok = 1},
        {.from = 11, .prev = 10, .prev_term = 4, .term = 6, .ok = 1},
        {.from = 11, .prev = 10, .prev_term = 4, .term = UINT64_MAX},
        {.from = 11, .ok = 1}, /* an older member's request */
        {.from = 1, .ok = 1},
        {.from = 0},
        {.from = (uint64_t)1 << 63},
        {.from = 11, .prev = 9, .prev_term = 4},
        {.from = 11, .prev = 10, .prev_term = 0},
        {.from = 11, .prev = 0, .prev_term = 4},
        {.from = 11, .prev = 10, .prev_term = UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Lms__PeerFetch f = LMS__PEER_FETCH__INIT;
        f.from_index = cases[i].from;
        f.prev_index = cases[i].prev;
        f.prev_term = cases[i].prev_term;
        f.term = cases[i].term;
        lms_err err = {0};
        int rc = peer_fetch_check(&f, &err);
        if ((rc == LMS_OK) != cases[i].ok)
            fail_msg("fetch from %llu prev (%llu, %llu): expected %s, got %d "
                     "\"%s\"", (unsigned long long)f.from_index,
                     (unsigned long long)f.prev_index,
                     (unsigned long long)f.prev_term,
                     cases[i].ok ? "accepted" : "refused", rc, err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deposed_then_new_leader_gives_one_leaders_log),
        cmocka_unit_test(leader_older_than_own_term_is_ignored),
        cmocka_unit_test(newer_leader_piece_after_prefix_restarts_and_appends),
        cmocka_unit_test(prev_mismatch_restarts_from_prefix),
        cmocka_unit_test(prefix_term_mismatch_is_a_deposed_leader),
        cmocka_unit_test(duplicate_piece_is_ignored),
        cmocka_unit_test(stale_and_foreign_answers_are_ignored),
        cmocka_unit_test(silent_leader_then_another_answers),
        cmocka_unit_test(silent_leader_that_returns_continues),
        cmocka_unit_test(leader_that_stepped_down_makes_plan_ask_all),
        cmocka_unit_test(compacted_leader_snapshot_then_entries_after_it),
        cmocka_unit_test(snapshot_only_from_the_locked_leader_in_its_term),
        cmocka_unit_test(newer_leader_while_waiting_for_snapshot),
        cmocka_unit_test(snapshot_is_the_new_prefix_for_later_restarts),
        cmocka_unit_test(random_interleavings_keep_one_leaders_log),
        cmocka_unit_test(hostile_replies_are_refused),
        cmocka_unit_test(hostile_requests_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

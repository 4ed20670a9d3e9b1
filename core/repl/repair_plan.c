/* SPDX-License-Identifier: MIT */
/*
 * repair_plan.c: log repair's decisions, one answer at a time (see
 * repair_plan.h for the rule and why it keeps the log one leader's log).
 * Pure: no I/O, no clock of its own; node_repair.c carries out the steps
 * and tests/unit/test_repair.c scripts the answers.
 */
#include "repair_plan.h"

#include "lms_assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef unsigned long long ull;

/* The invariants between any two calls. */
static void check(const repair_plan *p)
{
    LMS_ASSERT(p->last >= p->keep);
    LMS_ASSERT(p->last_term >= p->keep_term);
    LMS_ASSERT(p->last > p->keep ? p->leader != 0 && p->term >= p->last_term
                                 : p->last_term == p->keep_term);
    LMS_ASSERT(!p->done || p->leader != 0);
    LMS_ASSERT(!p->want_snapshot ||
               (p->leader != 0 && p->snap_index > p->last && !p->done));
}

static void say(repair_step *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(repair_step *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof s->reason, fmt, ap);
    va_end(ap);
}

void repair_plan_init(repair_plan *p, uint64_t self, uint64_t keep,
                      uint64_t keep_term, uint64_t term_floor, int64_t now_ms)
{
    memset(p, 0, sizeof *p);
    p->self = self;
    p->floor = term_floor;
    p->keep = p->last = keep;
    p->keep_term = p->last_term = keep_term;
    p->heard_ms = now_ms;
    check(p);
}

/* Why an answer cannot be the lock's or take it over; NULL if it can. */
static const char *not_usable(const repair_plan *p, uint64_t from,
                              const Lms__PeerFetchReply *r)
{
    if (from == p->self)
        return "an answer from this node itself";
    if (!r->is_leader)
        return "it does not lead";
    if (r->term < p->floor)
        return "it leads a term older than this node's own (a deposed leader)";
    if (r->last_index < p->keep)
        return "its log ends before the committed prefix (a deposed leader)";
    if (r->term < p->term)
        return "it leads an older term than the one repair follows";
    if (r->term == p->term && from != p->leader)
        return "another member leads that term (one of them is wrong)";
    return NULL;
}

/* r comes from a leader of a newer term: follow it, from the prefix on. */
static void relock(repair_plan *p, uint64_t from, const Lms__PeerFetchReply *r,
                   repair_step *s)
{
    say(s, "member %llu leads term %llu (repair followed %llu of term %llu): "
        "starting over after the committed prefix %llu", (ull)from,
        (ull)r->term, (ull)p->leader, (ull)p->term, (ull)p->keep);
    s->restart = p->last > p->keep;
    p->leader = from;
    p->term = r->term;
    p->last = p->keep;
    p->last_term = p->keep_term;
    p->want_snapshot = 0;
}

/* The locked leader's piece r: take it if it continues what is held. */
static void take_piece(repair_plan *p, const Lms__PeerFetchReply *r,
                       repair_step *s)
{
    if (r->prev_index != p->last) {
        if (!s->restart)
            say(s, "a piece after %llu, but the log ends at %llu (an answer "
                "to an older request)", (ull)r->prev_index, (ull)p->last);
        return;
    }
    if (r->prev_term != p->last_term) {
        if (p->last == p->keep) {
            /* a leader of a term after the commit holds the committed
             * entry: this one is deposed (or our prefix is wrong, and no
             * leader will ever match: the nag says so) */
            p->ask_all = s->ask_all = 1;
            say(s, "member %llu (term %llu) has term %llu at entry %llu, "
                "where this node's committed entry has term %llu: a deposed "
                "leader; asking every member", (ull)p->leader, (ull)p->term,
                (ull)r->prev_term, (ull)p->keep, (ull)p->keep_term);
            return;
        }
        say(s, "the leader's entry %llu has term %llu, the one held has "
            "term %llu: starting over after the committed prefix %llu",
            (ull)p->last, (ull)r->prev_term, (ull)p->last_term, (ull)p->keep);
        s->restart = 1;
        p->last = p->keep;
        p->last_term = p->keep_term;
        p->want_snapshot = 0; /* its next answer says what it has */
        return;
    }
    for (size_t i = 0; i < r->n_entries; i++) {
        const Lms__PeerEntry *e = r->entries[i];
        /* peer_fetch_reply_check made these so */
        LMS_ASSERT(e->index == p->last + 1);
        LMS_ASSERT(e->term >= p->last_term && e->term <= p->term);
        p->last = e->index;
        p->last_term = e->term;
    }
    s->action = REPAIR_APPEND;
    s->count = r->n_entries;
    p->want_snapshot = 0;
    s->done = p->done = p->last >= p->target;
}

/* The locked leader cannot serve the next entries. */
static void leader_error(repair_plan *p, const Lms__PeerFetchReply *r,
                         repair_step *s)
{
    if (r->snapshot_index > p->last) {
        p->snap_index = r->snapshot_index;
        p->snap_term = r->snapshot_term;
        if (p->want_snapshot) {
            say(s, "waiting for the leader's snapshot (it has %llu)",
                (ull)r->snapshot_index);
            return;
        }
        p->want_snapshot = 1;
        s->action = REPAIR_SNAPSHOT;
        say(s, "the leader (member %llu, term %llu) compacted its log behind "
            "snapshot %llu (term %llu), past entry %llu (%s): asking it for "
            "that snapshot", (ull)p->leader, (ull)p->term,
            (ull)r->snapshot_index, (ull)r->snapshot_term, (ull)p->last + 1,
            r->error);
        return;
    }
    say(s, "the leader (member %llu) cannot send entries after %llu yet: %s",
        (ull)p->leader, (ull)p->last, r->error);
}

repair_step repair_plan_reply(repair_plan *p, uint64_t from,
                              const Lms__PeerFetchReply *r, int64_t now_ms)
{
    repair_step s;
    memset(&s, 0, sizeof s);
    check(p);
    if (!p->done && from == p->leader && !r->is_leader && !p->ask_all) {
        p->ask_all = s.ask_all = 1;
        say(&s, "member %llu no longer leads (it is in term %llu, its leader "
            "is %llu): asking every member", (ull)from, (ull)r->term,
            (ull)r->leader);
        return s;
    }
    const char *why = p->done ? "repair is done" : not_usable(p, from, r);
    if (why) {
        say(&s, "member %llu's answer ignored: %s", (ull)from, why);
        return s;
    }
    if (r->term > p->term)
        relock(p, from, r, &s);
    p->heard_ms = now_ms;
    p->ask_all = 0;
    p->target = r->last_index;
    LMS_ASSERT(p->target >= p->keep);
    if (r->error && r->error[0])
        leader_error(p, r, &s);
    else
        take_piece(p, r, &s);
    check(p);
    return s;
}

const char *repair_plan_snapshot_ok(const repair_plan *p, uint64_t from,
                                    uint64_t term, uint64_t index,
                                    uint64_t snap_term)
{
    check(p);
    if (p->done)
        return "repair is done";
    if (!p->want_snapshot)
        return "repair does not wait for a snapshot";
    if (from != p->leader)
        return "it comes from another member than the leader repair follows";
    if (term != p->term)
        return "it was sent in another term than the one repair follows";
    if (index <= p->last)
        return "it does not reach past the last entry held";
    if (snap_term < p->last_term || snap_term > p->term)
        return "its term is below the last entry held or above the leader's";
    return NULL;
}

repair_step repair_plan_installed(repair_plan *p, uint64_t index,
                                  uint64_t term, int64_t now_ms)
{
    LMS_ASSERT(!repair_plan_snapshot_ok(p, p->leader, p->term, index, term));
    repair_step s;
    memset(&s, 0, sizeof s);
    /* a snapshot holds only applied entries: committed, so the new prefix */
    p->keep = p->last = index;
    p->keep_term = p->last_term = term;
    p->want_snapshot = 0;
    p->heard_ms = now_ms;
    if (p->target < index)
        p->target = index;
    s.done = p->done = p->last >= p->target;
    say(&s, "installed snapshot %llu (term %llu) of member %llu (leader of "
        "term %llu): the committed prefix now ends there", (ull)index,
        (ull)term, (ull)p->leader, (ull)p->term);
    check(p);
    return s;
}

int repair_plan_tick(repair_plan *p, int64_t now_ms)
{
    if (p->done || !p->leader || p->ask_all ||
        now_ms - p->heard_ms < REPAIR_SILENT_MS)
        return 0;
    p->ask_all = 1;
    return 1;
}

uint64_t repair_plan_ask_to(const repair_plan *p)
{
    return p->ask_all ? 0 : p->leader;
}

void repair_plan_request(const repair_plan *p, Lms__PeerFetch *f)
{
    f->from_index = p->last + 1;
    f->prev_index = p->last;
    f->prev_term = p->last_term;
    f->want_snapshot = p->want_snapshot;
    f->term = p->floor;
}

void repair_plan_describe(const repair_plan *p, char *buf, size_t len)
{
    if (!p->leader)
        snprintf(buf, len, "the committed prefix ends at %llu (term %llu); "
                 "waiting for a leader to send entries %llu.. (a majority of "
                 "the members must be running)", (ull)p->keep,
                 (ull)p->keep_term, (ull)p->keep + 1);
    else
        snprintf(buf, len, "holding %llu..%llu from member %llu (leader of "
                 "term %llu, whose log ends at %llu); %s", (ull)p->keep + 1,
                 (ull)p->last, (ull)p->leader, (ull)p->term, (ull)p->target,
                 p->ask_all ? "it fell silent: asking every member"
                 : p->want_snapshot ? "waiting for its snapshot"
                                    : "asking it for the rest");
}

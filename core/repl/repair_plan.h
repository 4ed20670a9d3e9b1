/* SPDX-License-Identifier: MIT */
/*
 * repair_plan.h: what log repair (core/repl/node_repair.c) does with each
 * answer it gets, decided without I/O so that a test can script the
 * answers of several members in several terms.
 *
 * The rule it keeps: the repaired log is one leader's log. The prefix up
 * to `keep` (what the storage applied: committed) is never touched. Every
 * entry after it comes from ONE member in ONE term: the first member whose
 * answer says it leads locks (member, term). A piece is taken only where
 * its prev (index, term) is the last entry held. A leader of a higher term
 * makes the plan drop everything after `keep` and start over from it;
 * answers of lower terms, of other members, of leaders whose log ends
 * before `keep` or disagrees with it there (deposed), and pieces that
 * continue something else are ignored. A leader's log never loses entries within
 * its term, so what is held is always a prefix of that leader's log, and
 * Raft's log matching holds when the node rejoins.
 *
 * A leader that compacted its log past the last entry held cannot send
 * the entries after it: the plan then wants that leader's snapshot
 * (want_snapshot, asked with PeerFetch.want_snapshot). A snapshot is
 * taken only from the locked leader in the locked term and only past the
 * last entry held (repair_plan_snapshot_ok); once it is installed
 * (repair_plan_installed) it is the new committed prefix: snapshots hold
 * only applied, so committed, entries. Repair goes on after it, from the
 * same leader in the same term.
 *
 * Liveness: a locked member that stays silent for REPAIR_SILENT_MS is no
 * longer the only one asked (repair_plan_tick): every member is asked
 * again, and an answer from a leader of a higher term restarts the plan.
 *
 * The caller validates every answer with peer_fetch_reply_check first and
 * carries out each step in order: a restart truncates the log to `keep`
 * durably before anything new is written.
 */
#ifndef LMS_CORE_REPAIR_PLAN_H
#define LMS_CORE_REPAIR_PLAN_H

#include "peer.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* A locked member silent this long: every member is asked again. */
#define REPAIR_SILENT_MS 2000

typedef struct repair_plan {
    uint64_t self;            /* this node (its own answers are ignored) */
    uint64_t keep, keep_term; /* the committed prefix: never touched */
    uint64_t last, last_term; /* the last entry held (keep at first) */
    uint64_t leader, term;    /* the lock: entries after keep are its (0: none) */
    uint64_t floor;           /* this node's durable term: no older leader */
    uint64_t target;          /* the leader's last index, as it last said */
    int64_t heard_ms;         /* when the leader last answered */
    int ask_all;              /* the leader fell silent: ask every member */
    int want_snapshot;        /* the leader compacted past `last`: only its
                                 snapshot continues the log */
    uint64_t snap_index, snap_term; /* the leader's snapshot, as it said */
    int done;
} repair_plan;

typedef enum repair_action {
    REPAIR_IGNORE = 0, /* nothing to write (reason says why) */
    REPAIR_APPEND,     /* write the piece's first `count` entries */
    REPAIR_SNAPSHOT,   /* the leader compacted past `last`: ask it for
                          its snapshot (once: want_snapshot is set) */
} repair_action;

typedef struct repair_step {
    int restart;   /* first drop every entry after keep (durably) */
    repair_action action;
    size_t count;  /* REPAIR_APPEND: entries of the piece to write */
    int done;      /* afterwards the log holds the leader's last index */
    int ask_all;   /* the locked leader no longer leads, or its log
                      disagrees with the committed prefix: ask every
                      member now */
    char reason[256];
} repair_step;

/* Start with the prefix (keep, keep_term) held and nothing after it.
 * term_floor is this node's durable term: a member that leads an older
 * term is a deposed leader (a newer term exists, this node was in it), and
 * its log may hold uncommitted entries where this node acknowledged
 * committed ones; its answers are ignored. */
void repair_plan_init(repair_plan *p, uint64_t self, uint64_t keep,
                      uint64_t keep_term, uint64_t term_floor, int64_t now_ms);

/*
 * The answer r of member `from` (checked by peer_fetch_reply_check) at
 * now_ms: what to do with it. The plan's state already reflects the step
 * when it returns (the caller stops on any failure to carry it out).
 */
repair_step repair_plan_reply(repair_plan *p, uint64_t from,
                              const Lms__PeerFetchReply *r, int64_t now_ms);

/* At now_ms: 1 when the locked leader has just been found silent (the
 * caller logs why, from repair_plan_describe, and asks every member). */
int repair_plan_tick(repair_plan *p, int64_t now_ms);

/* Whom to ask next: the locked leader, or 0 for every member. */
uint64_t repair_plan_ask_to(const repair_plan *p);

/* The request to send: the entries after the last one held. */
void repair_plan_request(const repair_plan *p, Lms__PeerFetch *f);

/* May a snapshot stream from member `from`, sent in its Raft term
 * `term`, of snapshot (index, snap_term) be received and installed?
 * NULL if so, else why not. */
const char *repair_plan_snapshot_ok(const repair_plan *p, uint64_t from,
                                    uint64_t term, uint64_t index,
                                    uint64_t snap_term);

/* The snapshot (index, term), accepted by repair_plan_snapshot_ok, is
 * installed durably (storage restored, WAL reset after it): it is the new
 * committed prefix, and repair goes on after it from the same leader.
 * The step says whether the log now reaches the leader's last index. */
repair_step repair_plan_installed(repair_plan *p, uint64_t index,
                                  uint64_t term, int64_t now_ms);

/* What the plan holds and waits for, in words (for the log). */
void repair_plan_describe(const repair_plan *p, char *buf, size_t len);

#endif

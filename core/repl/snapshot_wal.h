/* SPDX-License-Identifier: MIT */
/*
 * snapshot_wal.h: the restart rule for a snapshot and the command log
 * beside it. A node restarts from its newest snapshot S (index, term) and
 * the WAL; this says which WAL entries survive next to S. It is pure (no
 * I/O, no allocation) so that lmsd (node_snapshot.c) and the simulator
 * (tests/sim/glue.c) apply the very same rule.
 *
 * Why a rule is needed: a snapshot install writes three things that do
 * not become durable together (the file under its final name, the WAL
 * reset to S, the store restored to S). A crash between them leaves S
 * next to a WAL that still holds the log the install replaced, whose
 * entries after S may belong to another history (lower terms, or a
 * different entry at S). S is committed state, so a WAL that does not
 * hold S's entry (S, term of S) cannot hold a committed entry after it
 * either (log matching): such a tail is dropped and the node starts from
 * S alone, catching up from the leader.
 */
#ifndef LMS_CORE_SNAPSHOT_WAL_H
#define LMS_CORE_SNAPSHOT_WAL_H

#include <stdint.h>

typedef enum snapshot_wal_verdict {
    SNAPSHOT_WAL_KEEP, /* the WAL continues S's log: keep its entries after S */
    SNAPSHOT_WAL_DROP, /* it ends below S or holds another log: reset it to S */
    SNAPSHOT_WAL_GAP,  /* it starts past S + 1: the entries between are
                          nowhere (a newer snapshot is missing) */
} snapshot_wal_verdict;

/* What the WAL holds, as far as the rule needs it. */
typedef struct snapshot_wal_view {
    uint64_t first, last;  /* its index range; empty: first == last + 1 */
    uint64_t term_at_snap; /* the term of entry S, when first <= S <= last */
    uint64_t term_after;   /* the term of entry S + 1, when first == S + 1
                              and the WAL is not empty */
} snapshot_wal_view;

/* The verdict for snapshot (snap_index > 0, snap_term) next to v; *why
 * (may be NULL) gets a short reason, a static string, for the log. */
snapshot_wal_verdict snapshot_wal_rule(uint64_t snap_index, uint64_t snap_term,
                                       const snapshot_wal_view *v,
                                       const char **why);

#endif

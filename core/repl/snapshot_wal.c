/* SPDX-License-Identifier: MIT */
/*
 * snapshot_wal.c: see snapshot_wal.h. The cases, for snapshot S of term T:
 *
 *   WAL starts past S + 1            GAP   (compacted behind a snapshot
 *                                           that is not here)
 *   WAL ends below S                 DROP  (an install cut short, or a
 *                                           log the install replaced)
 *   WAL holds S: its term is T       KEEP  (the same log: log matching)
 *                its term is not T   DROP  (another history past S)
 *   WAL starts at S + 1, empty       KEEP  (a reset to S)
 *     its first entry's term >= T    KEEP  (written after S: a reset to S
 *                                           or a compaction behind it)
 *     its first entry's term < T     DROP  (it cannot follow S)
 */
#include "snapshot_wal.h"

#include <stddef.h>

snapshot_wal_verdict snapshot_wal_rule(uint64_t snap_index, uint64_t snap_term,
                                       const snapshot_wal_view *v,
                                       const char **why)
{
    const char *reason;
    snapshot_wal_verdict verdict;
    if (v->first > snap_index + 1) {
        reason = "the log starts after the snapshot's next index";
        verdict = SNAPSHOT_WAL_GAP;
    } else if (v->last < snap_index) {
        reason = "the log ends below the snapshot";
        verdict = SNAPSHOT_WAL_DROP;
    } else if (v->first <= snap_index) {
        verdict = v->term_at_snap == snap_term ? SNAPSHOT_WAL_KEEP
                                               : SNAPSHOT_WAL_DROP;
        reason = verdict == SNAPSHOT_WAL_KEEP
                     ? "the log holds the snapshot's entry"
                     : "the log holds another entry at the snapshot's index";
    } else if (v->last == snap_index) {
        reason = "the log is empty after the snapshot";
        verdict = SNAPSHOT_WAL_KEEP;
    } else {
        verdict = v->term_after >= snap_term ? SNAPSHOT_WAL_KEEP
                                             : SNAPSHOT_WAL_DROP;
        reason = verdict == SNAPSHOT_WAL_KEEP
                     ? "the log starts right after the snapshot"
                     : "the log's first entry has a term below the "
                       "snapshot's";
    }
    if (why)
        *why = reason;
    return verdict;
}

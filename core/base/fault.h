/* SPDX-License-Identifier: MIT */
/*
 * fault.h: fault hooks for tests, compiled in only with -DLMS_FAULT_HOOKS=ON
 * (scripts/test builds with them; a release build has none, and every hook
 * is then an empty inline function).
 *
 * fault_fsync_stall(): the slow disk. When lmsd runs with the environment
 * variable LMSD_FAULT_FSYNC_STALL naming a file, each fsync of the command
 * log first sleeps for the number of milliseconds that file holds (read
 * at every batch, so a test changes it while lmsd runs; no file or 0: no
 * stall; at most 10 s). It runs on the log-writer thread, as a disk that
 * takes its time would stall it: group commit, durability order and
 * everything waiting on "durable" see a slow disk, nothing else changes.
 *
 * fault_storage(): a store that cannot be reached, as a database server
 * whose connection is lost would be (storage.h, LMS_UNAVAILABLE). When
 * lmsd runs with LMSD_FAULT_STORAGE naming a file, each apply batch reads
 * it: "down" makes the batch fail as unreachable before it begins (and
 * the check of a held batch's retry too); "lose-commit" commits the batch
 * and then reports its commit as unreachable, as a connection lost
 * between COMMIT and its answer would; anything else (or no file): no
 * fault. Read on the storage thread only.
 * fault_read_back(): "read-back" in the same file (which apply batches
 * take as no fault) makes every read of a write's answer after it was
 * applied (handlers_util.c, req_read_back) fail as unreachable, as a
 * database that goes away between the commit and the answer would.
 */
#ifndef LMS_FAULT_H
#define LMS_FAULT_H

#ifdef LMS_FAULT_HOOKS
/* Log, once at start, which hooks the environment turned on. */
void fault_hooks_announce(void);
void fault_fsync_stall(void);
#endif

enum fault_storage_mode {
    FAULT_STORAGE_NONE = 0,
    FAULT_STORAGE_DOWN = 1,
    FAULT_STORAGE_LOSE_COMMIT = 2,
};

#ifdef LMS_FAULT_HOOKS
int fault_storage(void);
int fault_read_back(void);
#else
static inline void fault_hooks_announce(void) {}
static inline void fault_fsync_stall(void) {}
static inline int fault_storage(void) { return FAULT_STORAGE_NONE; }
static inline int fault_read_back(void) { return 0; }
#endif

#endif

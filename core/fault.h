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
 */
#ifndef LMS_FAULT_H
#define LMS_FAULT_H

#ifdef LMS_FAULT_HOOKS
/* Log, once at start, which hooks the environment turned on. */
void fault_hooks_announce(void);
void fault_fsync_stall(void);
#else
static inline void fault_hooks_announce(void) {}
static inline void fault_fsync_stall(void) {}
#endif

#endif

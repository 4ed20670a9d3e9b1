/* SPDX-License-Identifier: MIT */
/*
 * log_writer.h: the thread that appends to the WAL and fsyncs it, with
 * group commit: every entry queued since the last fsync goes out in one
 * write batch and one fsync. When a batch is durable the loop is told the
 * highest durable index (on the loop thread, through an event).
 *
 * Every function here is called on the loop thread. Operations run in the
 * order they were queued (but see log_writer_hardstate); an
 * on_durable(index) call covers everything queued before the batch it
 * reports, truncations, compactions, resets and hardstates included.
 */
#ifndef LMS_CORE_LOG_WRITER_H
#define LMS_CORE_LOG_WRITER_H

#include "blob.h"
#include "wal.h"

struct event_base;
typedef struct log_writer log_writer;

/* on_durable(arg, index) runs on the loop thread after a batch is fsynced;
 * index is the WAL's last index after it (it moves back after
 * log_writer_truncate_after, and is the snapshot's index after
 * log_writer_reset with nothing appended since, below or above the old
 * one; log_writer_compact leaves it alone). Batches that finish before the loop gets to
 * run are reported once, with the latest index. on_error(arg, msg) runs on
 * the loop, once, when a write or fsync fails; the writer then refuses all
 * work (lmsd must stop: a log it cannot write is not a log). Neither may
 * call log_writer_stop; break out of the loop and stop from there.
 *
 * A full disk (ENOSPC, EDQUOT on a write: see wal.h) is not a failure:
 * the batch is held, the operations that did not go through are tried
 * again in order every second (logged once when it starts and once when
 * it ends), on_durable stays silent meanwhile (nothing new is durable, so
 * Raft neither acknowledges nor counts those entries), and the loop keeps
 * queuing behind it. log_writer_out_of_space tells the loop. */
typedef void (*log_writer_durable_fn)(void *arg, uint64_t index);
typedef void (*log_writer_error_fn)(void *arg, const char *msg);

/* Start the thread. On success the writer owns w (closes it at stop); on
 * failure w is still the caller's. space_dir: the directory whose file
 * system log_writer_disk_free reads (NULL: the log's). */
int log_writer_start(struct event_base *base, wal *w, const char *space_dir,
                     log_writer_durable_fn on_durable,
                     log_writer_error_fn on_error, void *arg,
                     log_writer **out, lms_err *err);

/* Queue one entry; the writer takes its own reference on data (the caller
 * keeps its own; NULL means no data). index must be the next one (the
 * WAL's last index + 1, then consecutive) and term must not go below the
 * previous entry's. Returns 0, LMS_INVALID_ARGUMENT (wrong index or term,
 * data above WAL_MAX_ENTRY_BYTES), LMS_UNAVAILABLE (stopped or failed) or
 * LMS_RESOURCE_EXHAUSTED. */
int log_writer_append(log_writer *lw, uint64_t index, uint64_t term,
                      uint32_t type, blob *data);

/* Queue the removal of every entry after index (Raft: a follower's
 * conflicting suffix), in order with the appends; the next append is then
 * index + 1. Entries queued but not yet written are dropped by it like
 * the written ones. Same return codes as log_writer_append. */
int log_writer_truncate_after(log_writer *lw, uint64_t index);

/* Queue log compaction (wal_compact): a durable snapshot covers the
 * entries up to index, so the WAL may delete the segments that hold
 * nothing else. It runs in order with the appends, so it only ever sees
 * the entries queued before it. Afterwards log_writer_truncate_after
 * refuses to cut below index (those entries may be gone). Returns 0,
 * LMS_UNAVAILABLE (stopped or failed) or LMS_RESOURCE_EXHAUSTED. */
int log_writer_compact(log_writer *lw, uint64_t index);

/* Queue a reset to an installed snapshot at index whose entry had term
 * (wal_reset): the log is emptied and continues at index + 1, whatever it
 * held. Entries queued before it but not yet written are dropped by it
 * like the written ones; the next append must be index + 1 at a term >=
 * term, and truncations below index are refused. The snapshot must be
 * durable before the reset is (save it before queuing this). Returns 0,
 * LMS_INVALID_ARGUMENT (index UINT64_MAX), LMS_UNAVAILABLE or
 * LMS_RESOURCE_EXHAUSTED. */
int log_writer_reset(log_writer *lw, uint64_t index, uint64_t term);

/* Queue a durable replacement of term and vote (Raft's hardstate), in the
 * WAL directory's atomic hardstate file (wal_save_hardstate). Within one
 * batch the newest hardstate is saved before any entry of the batch is
 * written, so an entry never becomes durable ahead of the term it was
 * written under, and a vote is never lost behind an entry. Returns 0,
 * LMS_UNAVAILABLE (stopped or failed) or LMS_RESOURCE_EXHAUSTED.
 * The file's acked index (wal.h) is kept by the writer itself: with every
 * hardstate, else at most once a second when the synced index moved, and
 * at stop; a failure to write it is reported like a failed fsync. */
int log_writer_hardstate(log_writer *lw, uint64_t term, uint64_t vote);

/* Operations queued so far (appends, truncations that did something,
 * compactions, resets, hardstates), counted from 1. A caller that notes
 * this number after queuing its step knows the step is durable once
 * log_writer_durable_ops() reaches it (check from on_durable). */
uint64_t log_writer_queued(const log_writer *lw);

/* The free bytes, for an unprivileged writer, of the file system of
 * space_dir (log_writer_start), as the writer thread last read them (statvfs: at its
 * start, then after a batch or an idle wake at most every
 * LOG_WRITER_DISK_FREE_MS, busy or idle), so the loop never waits on the file system
 * to learn them. 1 with *avail when known; 0 when not (statvfs failed).
 * *seq moves with each reading. */
#define LOG_WRITER_DISK_FREE_MS 200
int log_writer_disk_free(log_writer *lw, uint64_t *avail, uint64_t *seq);
/* How many of the queued operations are durable. Loop thread. */
uint64_t log_writer_durable_ops(log_writer *lw);

/* Is a batch held for lack of disk space? If so and msg is not NULL, the
 * WAL's error goes into msg. Loop thread. */
int log_writer_out_of_space(log_writer *lw, char *msg, size_t len);

/* How many batches were fsynced (one wal_sync each) so far. */
uint64_t log_writer_sync_count(log_writer *lw);

/* Finish what is queued (write and fsync), record the acked index, stop
 * the thread, close the WAL. With a batch held for space, one more try;
 * if the disk is still full, what is queued is dropped (logged): none of
 * it was durable, so none of it was acknowledged.
 * A last on_durable / on_error is delivered from here if one is pending.
 * NULL is a no-op. */
void log_writer_stop(log_writer *lw);

#endif

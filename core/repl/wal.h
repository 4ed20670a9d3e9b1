/* SPDX-License-Identifier: MIT */
/*
 * wal.h: the durable command log (write-ahead log) that Raft will extend.
 *
 * Layout in <dir>: segment files "wal-<first index, 20 digits>.log", each a
 * sequence of records:
 *
 *   u32 length (of the payload, little endian) | u32 crc32c (of the payload) |
 *   payload = u64 index | u64 term | u32 type | data
 *
 * A new segment starts when the current one passes the segment size: the
 * records that fill the old one are written, then the new file is created
 * empty (no header, no preallocation) and the next records go into it; one
 * wal_sync then fdatasyncs the old segment, the new one, and the directory,
 * in that order. At open every segment is first fdatasynced and dropped
 * from the page cache, so what is checked is what the disk holds; then
 * every record is checked; a torn or corrupt tail (short record, bad CRC,
 * index not following its predecessor, term lower than its predecessor's,
 * a segment that does not start where the one before it ended) is cut
 * off: the file is truncated at the last good record and later segments
 * are deleted. Every cut is reported (file, offset, what was lost) through
 * wal_options.report, or lmsd's log if that is NULL: a torn tail at WARN
 * (normal after a crash), damage at ERROR (synced entries were lost); see
 * wal_cut_kind for which is which.
 *
 * Term and vote are kept apart in <dir>/hardstate, replaced atomically
 * (write temp, fsync, rename, fsync dir), with `acked`: an index up to
 * which the log was durable when the file was written. It is how a synced
 * tail that vanished (a disk that lost writes it had confirmed) is told
 * from a torn one. It never claims more than was synced, and it goes down
 * durably before any truncation below it (wal_truncate_after, wal_reset),
 * so a legitimate truncation never looks like a loss. It lags: lmsd
 * (log_writer.c) rewrites it with every term or vote and otherwise about
 * once a second, so up to ~1 s of synced (and maybe acknowledged) entries
 * can still vanish undetected.
 *
 * Not thread-safe: one owner at a time (the log-writer thread after start).
 * The directory is flock()ed while open, so a second lmsd on the same data
 * dir is refused instead of corrupting the log.
 *
 * Raft snapshots: wal_compact drops whole segments that a snapshot
 * covers; wal_reset starts the log over after an installed snapshot. The
 * snapshot itself lives elsewhere (core/snapshot.c); the log only knows
 * where it starts.
 *
 * Errors: LMS_INVALID_ARGUMENT leaves the log untouched. So does a full
 * disk (ENOSPC or EDQUOT) met by a write: wal_append (its partial records
 * are cut off again, segments it created removed), the hardstate's temp
 * file (wal_save_hardstate, wal_save_acked, the acked lowering of
 * wal_truncate_after and wal_reset): the call returns
 * LMS_RESOURCE_EXHAUSTED, wal_out_of_space() says so, and the same call
 * may be repeated once there is space. Any other error from wal_append,
 * wal_sync, wal_truncate_after, wal_compact or wal_reset (I/O, out of
 * memory, a failed fsync whatever its errno, a full disk that cannot be
 * undone) marks the WAL failed: later writes are refused, because after a
 * failed write or fsync the kernel's view of the file cannot be trusted;
 * close and reopen (recovery) is the way out.
 */
#ifndef LMS_CORE_WAL_H
#define LMS_CORE_WAL_H

#include <lms/plugin.h>
#include <stddef.h>
#include <stdint.h>

#include "crc32c.h" /* crc32c(), as used in the records */

/* The largest data of one entry; wal_append refuses more. */
#define WAL_MAX_ENTRY_BYTES ((size_t)256 << 20)

typedef struct wal wal;

typedef struct wal_entry {
    uint64_t index;
    uint64_t term;
    uint32_t type; /* 0: command, others reserved for Raft (config changes) */
    const void *data;
    size_t len;
} wal_entry;

/* level is an enum lms_log_level: LMS_LOG_WARN or LMS_LOG_ERROR for what
 * recovery cut, LMS_LOG_INFO for what wal_compact and wal_reset removed. */
typedef void (*wal_report_fn)(void *arg, int level, const char *msg);

typedef struct wal_options {
    size_t segment_bytes; /* roll to a new segment past this; 0: 64 MiB;
                             at most 1 GiB */
    wal_report_fn report; /* what recovery cut; NULL: lmsd's log */
    void *report_arg;
} wal_options;

/* Open or create the WAL in dir (created if missing), recover as above.
 * opts may be NULL. */
int wal_open(const char *dir, const wal_options *opts, wal **out, lms_err *err);
/* Close the files (no sync: call wal_sync first). NULL is a no-op. */
void wal_close(wal *w);

/* first_index is 1 for a fresh log; last_index is first_index - 1 when the
 * log is empty (0 for a fresh log), and last_term 0. */
uint64_t wal_first_index(const wal *w);
uint64_t wal_last_index(const wal *w);
uint64_t wal_last_term(const wal *w);
/* How many bytes of the tail were cut at open (0 if none). */
uint64_t wal_truncated_bytes(const wal *w);
/* What the cut at open was, if any. WAL_CUT_DAMAGED: entries that were
 * durable (and maybe acknowledged to a Raft leader) were lost: the log now
 * ends below the hardstate's acked index, or a record that checks out
 * follows the bad spot in its segment (the bad one was written and synced
 * before it: damage, not a write in progress). WAL_CUT_UNFINISHED: every
 * other cut. The bad spot is after the last record known synced and
 * nothing valid follows it in its file: a write that no fsync covered
 * (short, zero-filled or half-written record, garbage a crash left in a
 * grown file, or a segment roll cut short: the new segment exists but
 * the old one lacks its last records, which were never synced, so
 * neither was anything in the new one: wal_sync syncs them in order).
 * Later segment files do not count as evidence either way: the kernel
 * writes different files back in any order. The acked index lags by up
 * to ~1 s, so a synced tail lost within that window is UNFINISHED too. */
enum wal_cut { WAL_CUT_NONE = 0, WAL_CUT_UNFINISHED, WAL_CUT_DAMAGED };
int wal_cut_kind(const wal *w);
/* The directory the WAL lives in (and its hardstate file). */
const char *wal_dir(const wal *w);

/* Append entries; their indexes must continue the log (last_index + 1, ...)
 * and their terms must not decrease. The batch goes out in as few
 * pwritev() calls as possible (small data is copied into one buffer,
 * large data is written from the caller's memory).
 * Written to the OS, not yet durable: call wal_sync. */
int wal_append(wal *w, const wal_entry *entries, size_t n, lms_err *err);
/* fdatasync every segment written since the last sync (and fsync the
 * directory if a segment was created or removed since then). */
int wal_sync(wal *w, lms_err *err);

/* Read entry index into *out; out->data is malloc'd (never NULL), caller
 * frees. LMS_NOT_FOUND outside [first_index, last_index], LMS_DATA_LOSS if
 * the record no longer matches its CRC. */
int wal_read(wal *w, uint64_t index, wal_entry *out, lms_err *err);
/* Delete every entry after index (Raft: a conflicting suffix); index may
 * be first_index - 1 to empty the log. Durable on return (the truncation
 * and everything appended before it are synced), so a crash can never
 * bring the cut entries back behind newer ones. When the hardstate's acked
 * is above index, it is lowered to index durably first. */
int wal_truncate_after(wal *w, uint64_t index, lms_err *err);

/* Log compaction: the entries up to index are covered by a durable
 * snapshot. Delete, oldest first, every segment all of whose entries are
 * <= index, but never the current (last) segment, even when index >=
 * last_index. Nothing else changes: entries above index, and those <=
 * index that share a segment with later ones, stay readable; appends go
 * on. first_index becomes the first index of the oldest remaining segment
 * (at most index + 1). index below first_index: a no-op. One INFO report
 * when something was removed; a failed unlink marks the WAL failed (the
 * segments removed before it are gone from the log all the same).
 * Crash: the last removal becomes durable at the next wal_sync, and at
 * most one removal is ever unsynced (an earlier one is fsynced before the
 * next unlink), so a crash can only bring back the newest removed segment,
 * which ends where the oldest kept one begins: the reopened log starts
 * earlier, with the same entries. */
int wal_compact(wal *w, uint64_t index, lms_err *err);

/* A snapshot at index, whose entry had term, was installed from the leader:
 * empty the log so that it continues at index + 1, whatever it held before
 * (index may be below, inside or past the old log). Every segment is
 * removed, newest first; then an empty segment named for index + 1 is
 * created; durable on return (the directory is fsynced in between and at
 * the end). Afterwards first_index = index + 1, last_index = index,
 * last_term = term, and wal_append takes index + 1 next, at a term >= term.
 * After a close and reopen first_index and last_index are the same, but
 * last_term is 0: the log holds no entry to read it from, so the caller
 * keeps it with the snapshot. index UINT64_MAX: LMS_INVALID_ARGUMENT.
 * One INFO report.
 * Crash before it returns: old and new segments are never on disk
 * together, so the reopened log is the new empty one, a fresh empty log at
 * 1, or a contiguous run of the old one (a prefix, unless the file system
 * reorders the unlinks: recovery reads from the oldest file left and cuts
 * at the first gap). So save the snapshot durably before calling this, and
 * at start-up reset again when the log ends before the snapshot's index.
 * The hardstate's acked is set to 0 durably first (a crash in between may
 * leave any run of the old log, or none), and rises again with the next
 * wal_save_acked or wal_save_hardstate. */
int wal_reset(wal *w, uint64_t index, uint64_t term, lms_err *err);

/* ---- hardstate: term, vote and acked in <dir>/hardstate ----------------
 * wal_open reads the file (one that is there but does not check out is
 * LMS_DATA_LOSS, never 0/0: that could make the node vote twice in a
 * term). Format: u32 magic | u32 crc32c of the rest | u64 term | u64 vote
 * | u64 acked, little endian; a 24-byte file without acked (written before
 * acked was kept) still loads, with acked 0 (claims nothing). */
typedef struct wal_hardstate {
    uint64_t term, vote;
    uint64_t acked; /* the log was durable up to here when this was written */
} wal_hardstate;

/* The node is about to start from this log (and a snapshot at
 * snapshot_index, 0 if none): LMS_FAILED_PRECONDITION, with a message
 * naming the file and what to do, when there is no hardstate file although
 * the node has state (the log holds entries or was reset to a snapshot, or
 * snapshot_index > 0): its term and vote are lost, and starting over from
 * term 0 could make it vote twice in a term. A fresh data dir passes. */
int wal_check_hardstate(const wal *w, uint64_t snapshot_index, lms_err *err);

/* Replace term and vote durably (atomic file replace); acked is written
 * with them: the synced index (wal_synced_index). The next step cannot
 * start before this returns, so an entry is never durable ahead of the
 * term it was written under. */
int wal_save_hardstate(wal *w, uint64_t term, uint64_t vote, lms_err *err);
/* Rewrite the hardstate with acked = the synced index, if there is a
 * hardstate and its acked differs (wal_acked_stale); else a no-op. One
 * file replace (write, fsync, rename, fsync dir): callers pace it. */
int wal_save_acked(wal *w, lms_err *err);
int wal_acked_stale(const wal *w);
/* The last write call failed only because the disk is full, and left the
 * log (and the hardstate file) as they were: repeat it later. */
int wal_out_of_space(const wal *w);
/* The acked index the hardstate file holds now (0 if there is none). */
uint64_t wal_acked_index(const wal *w);
/* The last index durable in the log: its last index at open (fdatasynced
 * there) or at the last wal_sync, lowered by truncations and resets. */
uint64_t wal_synced_index(const wal *w);

/* The same file by directory, for tools and tests: wal_hardstate_read sets
 * *found = 0 and *hs to zeros when there is no file. wal_hardstate_load
 * gives term and vote (0/0 when there is no file). wal_hardstate_save
 * writes acked 0; never call it on the directory of an open WAL (the WAL
 * would not know). */
int wal_hardstate_read(const char *dir, wal_hardstate *hs, int *found,
                       lms_err *err);
int wal_hardstate_load(const char *dir, uint64_t *term, uint64_t *vote,
                       lms_err *err);
int wal_hardstate_save(const char *dir, uint64_t term, uint64_t vote,
                       lms_err *err);

#endif

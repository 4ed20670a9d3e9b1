/*
 * wal.h: the durable command log (write-ahead log) that Raft will extend.
 *
 * Layout in <dir>: segment files "wal-<first index, 20 digits>.log", each a
 * sequence of records:
 *
 *   u32 length (of the payload, little endian) | u32 crc32c (of the payload) |
 *   payload = u64 index | u64 term | u32 type | data
 *
 * A new segment starts when the current one passes the segment size. At open
 * every record is checked; a torn or corrupt tail (short record, bad CRC,
 * index not following its predecessor, term lower than its predecessor's)
 * is cut off: the file is truncated at the last good record and later
 * segments are deleted. Corruption before the tail (a bad record followed
 * by more data) is also cut there. Every cut is reported (file, offset,
 * what was lost) through wal_options.report, or lmsd's log if that is NULL:
 * a torn tail at WARN (normal after a crash), corruption before the tail at
 * ERROR (fsynced entries were lost).
 *
 * Term and vote are kept apart in <dir>/hardstate, replaced atomically
 * (write temp, fsync, rename, fsync dir).
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
 * Errors: LMS_INVALID_ARGUMENT leaves the log untouched. Any other error
 * from wal_append, wal_sync, wal_truncate_after, wal_compact or wal_reset
 * (I/O, out of memory) marks the WAL failed: later writes are refused,
 * because after a failed write or fsync the kernel's view of the file
 * cannot be trusted; close and reopen (recovery) is the way out.
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
/* What the cut at open was, if any. WAL_CUT_UNFINISHED: the last record
 * was never completely written (the file ends inside it, or its length is
 * zero) and nothing follows: a write that an fsync never covered, so no
 * entry anyone was told about is lost. WAL_CUT_DAMAGED: a complete record
 * does not check out, or more data follows the bad one: entries that were
 * durable (and maybe acknowledged to a Raft leader) may be lost. */
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
 * bring the cut entries back behind newer ones. */
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
 * at start-up reset again when the log ends before the snapshot's index. */
int wal_reset(wal *w, uint64_t index, uint64_t term, lms_err *err);

/* Durable term and vote. Missing file: *term = 0, *vote = 0. A file that
 * is there but does not check out is LMS_DATA_LOSS, never 0/0 (that could
 * make the node vote twice in a term). */
int wal_hardstate_load(const char *dir, uint64_t *term, uint64_t *vote,
                       lms_err *err);
int wal_hardstate_save(const char *dir, uint64_t term, uint64_t vote,
                       lms_err *err);

#endif

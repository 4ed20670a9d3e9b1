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
 * index not following its predecessor) is cut off: the file is truncated at
 * the last good record and later segments are deleted. Corruption before
 * the tail (a bad record followed by good ones) is also cut there, and
 * reported through wal_open's log callback with the file and offset.
 *
 * Term and vote are kept apart in <dir>/hardstate, replaced atomically
 * (write temp, fsync, rename, fsync dir).
 *
 * Not thread-safe: one owner at a time (the log-writer thread after start).
 */
#ifndef LMS_CORE_WAL_H
#define LMS_CORE_WAL_H

#include <lms/plugin.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wal wal;

typedef struct wal_entry {
    uint64_t index;
    uint64_t term;
    uint32_t type; /* 0: command, others reserved for Raft (config changes) */
    const void *data;
    size_t len;
} wal_entry;

typedef struct wal_options {
    size_t segment_bytes; /* roll to a new segment past this; 0: 64 MiB */
} wal_options;

/* Open or create the WAL in dir (created if missing), recover as above.
 * opts may be NULL. */
int wal_open(const char *dir, const wal_options *opts, wal **out, lms_err *err);
void wal_close(wal *w);

/* 0 when empty. first_index is 1 for a fresh log. */
uint64_t wal_first_index(const wal *w);
uint64_t wal_last_index(const wal *w);
uint64_t wal_last_term(const wal *w);
/* How many bytes of the tail were cut at open (0 if none). */
uint64_t wal_truncated_bytes(const wal *w);

/* Append entries; their indexes must continue the log (last_index + 1, ...).
 * Written to the OS, not yet durable: call wal_sync. */
int wal_append(wal *w, const wal_entry *entries, size_t n, lms_err *err);
/* fsync the current segment (and the directory if a segment was created or
 * removed since the last sync). */
int wal_sync(wal *w, lms_err *err);

/* Read entry index into *out; out->data is malloc'd, caller frees. */
int wal_read(wal *w, uint64_t index, wal_entry *out, lms_err *err);
/* Delete every entry after index (Raft: a conflicting suffix). */
int wal_truncate_after(wal *w, uint64_t index, lms_err *err);

/* Durable term and vote. Missing file: *term = 0, *vote = 0. */
int wal_hardstate_load(const char *dir, uint64_t *term, uint64_t *vote,
                       lms_err *err);
int wal_hardstate_save(const char *dir, uint64_t term, uint64_t vote,
                       lms_err *err);

/* CRC32C (Castagnoli), as used in the records. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif

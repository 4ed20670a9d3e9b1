/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h: snapshot files in a node's snapshot directory.
 *
 * The storage plugin turns the state into a snapshot stream and back
 * (storage.h, docs/snapshots.md); this module gives the stream a home:
 * <dir>/snap-<index>.lmss, zero-padded to 20 digits so that names sort by
 * index, written atomically (temp file, fsync, rename, fsync of the
 * directory) so that a file with that name is always complete. It also
 * cuts a file into chunks for InstallSnapshot and puts received chunks
 * back together (under a temp name until the caller adopts the file). No libevent, no threads: callers run it where blocking on
 * disk is allowed (the storage thread; for a pinned view, lmsd's snapshot
 * thread).
 */
#ifndef LMS_CORE_SNAPSHOT_H
#define LMS_CORE_SNAPSHOT_H

#include <lms/storage.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_SUFFIX ".lmss"

/* "<dir>/snap-<index, 20 digits>.lmss" into out; -1 if it does not fit. */
int snapshot_path(const char *dir, uint64_t index, char *out, size_t cap);

/*
 * Write the store's state to <dir>/snap-<h->index>.lmss through a temp
 * file, atomically and durably; digest (may be NULL) gets the stream's
 * digest. An existing file of that index is replaced. On error no file of
 * that name is left behind unless one was there before.
 */
int snapshot_save(const struct lms_storage_ops *ops, void *inst,
                  const char *dir, const lms_snapshot_header *h,
                  uint8_t digest[LMS_SHA256_LEN], lms_err *err);

/* The same, of a view pinned with ops->snapshot_pin, on any thread (see
 * storage.h). cancel (may be NULL): once it reads nonzero the save stops
 * with LMS_ABORTED and leaves no file. */
int snapshot_save_view(const struct lms_storage_ops *ops, void *view,
                       const char *dir, const lms_snapshot_header *h,
                       uint8_t digest[LMS_SHA256_LEN], const atomic_int *cancel,
                       lms_err *err);

/* Replace the store's state with the snapshot file at path (see
 * snapshot_read in storage.h: all or nothing). out as there. */
int snapshot_load(const struct lms_storage_ops *ops, void *inst,
                  const char *path, lms_snapshot_header *out, lms_err *err);

/* What a snapshot file says about itself, from its header alone. */
typedef struct snapshot_info {
    uint64_t index;
    uint64_t term;
    int64_t created;
    uint64_t size;   /* of the file, bytes */
    uint8_t *config; /* malloc'd copy, NULL if empty; snapshot_info_free */
    size_t config_len;
    char backend[LMS_NAME_MAX + 1];
} snapshot_info;

/* Read the header of the file at path (cheap: one record). LMS_DATA_LOSS
 * when it is not a snapshot file. */
int snapshot_peek(const char *path, snapshot_info *info, lms_err *err);
void snapshot_info_free(snapshot_info *info);

/* Read the whole file at path: its header names (index, term), and its
 * records up to the trailer match the trailer's count and digest (the
 * canonical stream, docs/snapshots.md). LMS_DATA_LOSS, saying what is
 * wrong, if not; another code if the file cannot be read. A received
 * snapshot is checked so before Raft takes it: once the log is reset
 * after it, a file whose body does not load could never be replaced. */
int snapshot_verify(const char *path, uint64_t index, uint64_t term,
                    lms_err *err);

/* Read the whole file at path and check it as snapshot_verify does,
 * whatever index and term its header names (a backup, say): info (may be
 * NULL; snapshot_info_free) gets its header, digest (may be NULL) the
 * trailer's digest. Nothing may follow the trailer. */
int snapshot_check(const char *path, snapshot_info *info,
                   uint8_t digest[LMS_SHA256_LEN], lms_err *err);

/* Copy the snapshot file src (checked whole as snapshot_check does) to
 * <dir>/snap-<its index>.lmss, atomically and durably as snapshot_save
 * writes, with term and config in place of its own (and created now): a
 * backup becomes the first snapshot of a new cluster. The copy gets a
 * trailer of its own: digest (may be NULL) is the copy's. info (may be
 * NULL) gets src's header. A damaged src is LMS_DATA_LOSS and leaves no
 * file. */
int snapshot_rehead(const char *src, const char *dir, uint64_t term,
                    const uint8_t *config, size_t config_len,
                    snapshot_info *info, uint8_t digest[LMS_SHA256_LEN],
                    lms_err *err);

/*
 * The newest complete snapshot in dir: the highest index among files named
 * snap-<index>.lmss whose header parses and names that index (temp files
 * and damaged headers are skipped). path gets its name; info (may be NULL)
 * its header. LMS_NOT_FOUND when there is none.
 */
int snapshot_latest(const char *dir, char *path, size_t cap,
                    snapshot_info *info, lms_err *err);

/* Keep the keep newest snapshot files of dir and delete older ones (but
 * never the one of index protect, if not 0: the snapshot a node serves),
 * and any temp file of an index at or below the newest. */
int snapshot_prune(const char *dir, size_t keep, uint64_t protect,
                   lms_err *err);

/* ---- InstallSnapshot: the sender's side ---- */

/* A snapshot file cut in chunks of chunk bytes, at any offset (a chunk may
 * be sent again). */
typedef struct snapshot_reader {
    int fd;
    uint64_t size;
    size_t chunk;
} snapshot_reader;

int snapshot_reader_open(snapshot_reader *r, const char *path, size_t chunk,
                         lms_err *err);
/* The chunk at offset (a multiple of r->chunk, at most r->size) into buf
 * (r->chunk bytes): *len its length, *last set on the final one.
 * LMS_OUT_OF_RANGE for a bad offset. */
int snapshot_reader_read(snapshot_reader *r, uint64_t offset, void *buf,
                         size_t *len, int *last, lms_err *err);
void snapshot_reader_close(snapshot_reader *r);

/* ---- InstallSnapshot: the receiver's side ---- */

/* Chunks of snapshot index appended in order to <final name>.recv. */
typedef struct snapshot_receiver {
    int fd;
    uint64_t index;
    uint64_t received; /* bytes so far = the next offset expected */
    char dir[4096];
    char tmp[4096];
} snapshot_receiver;

/* Start receiving snapshot index into dir (a stale .recv is truncated). */
int snapshot_receiver_open(snapshot_receiver *rx, const char *dir,
                           uint64_t index, lms_err *err);
/* Append the chunk at offset. A chunk already received (offset + len <=
 * received, a retransmission) is ignored; a gap is LMS_OUT_OF_RANGE, and
 * the sender should restart from rx->received. */
int snapshot_receiver_write(snapshot_receiver *rx, uint64_t offset,
                            const void *data, size_t len, lms_err *err);
/* After the last chunk: check that total bytes arrived and make the file
 * durable, still under its temp name (into path, may be NULL; <final
 * name>.recv), which snapshot_latest never picks: the caller decides
 * whether it becomes the node's snapshot (snapshot_adopt) or goes
 * (snapshot_remove_recv). The receiver is closed and forgets the file in
 * every case; on error the temp file is removed. */
int snapshot_receiver_seal(snapshot_receiver *rx, uint64_t total,
                           char *path, size_t cap, lms_err *err);
/* seal, then adopt: the file under its final name (into path). */
int snapshot_receiver_finish(snapshot_receiver *rx, uint64_t total,
                             char *path, size_t cap, lms_err *err);
/* Give up: close and remove the temp file. Safe after finish. */
void snapshot_receiver_abort(snapshot_receiver *rx);

/* "<dir>/snap-<index>.lmss.recv": where a received snapshot waits. */
int snapshot_recv_path(const char *dir, uint64_t index, char *out, size_t cap);
/* A sealed received snapshot of index becomes dir's snapshot of that
 * index: rename <name>.recv to <name>, fsync dir. */
int snapshot_adopt(const char *dir, uint64_t index, lms_err *err);
/* Remove the received snapshot of index still under its temp name (no
 * error if there is none). */
int snapshot_remove_recv(const char *dir, uint64_t index, lms_err *err);
/* At start: remove every temp file of dir (nothing is being written or
 * received); *removed (may be NULL) gets how many. */
int snapshot_remove_temps(const char *dir, unsigned *removed, lms_err *err);

#endif

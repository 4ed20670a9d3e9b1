/* SPDX-License-Identifier: MIT */
/*
 * snap_stream.h: the backend-neutral half of a snapshot: records on the
 * wire (a 4-byte big-endian length, then one snapshot.proto Record), the
 * header and the trailer, and the SHA-256 digest of the canonical stream.
 *
 * Nothing here knows SQLite: a backend turns its rows into snapshot.proto
 * messages in the canonical order and hands them to snap_out, and applies
 * what snap_in hands back. snap_in checks everything a backend need not:
 * framing, decoding, the table order, that every file arrives whole in
 * canonical chunks, that record rows hold keys and values storage.h allows
 * in strictly ascending key order, and the trailer's count and digest. docs/snapshots.md
 * describes the format.
 */
#ifndef LMS_SNAP_STREAM_H
#define LMS_SNAP_STREAM_H

#include <lms/storage.h>

#include "snapshot.pb-c.h"

#include <openssl/evp.h>

#include <stddef.h>
#include <stdint.h>

/* The largest record a reader accepts: above lmsd's largest frame (64 MiB),
 * so any text a client could send fits, and a corrupt length cannot make
 * the reader allocate without bound. */
#define SNAP_RECORD_MAX ((72u << 20))

/* Writing: open (writes the header), records and chunks, close (writes the
 * trailer). Each call writes one whole record through write(). */
typedef struct snap_out {
    lms_snapshot_write_fn write;
    void *arg;
    EVP_MD_CTX *md; /* the digest of the canonical stream so far */
    uint64_t count; /* records since the header */
    uint8_t *buf;   /* one framed record */
    size_t cap;
} snap_out;

int snap_out_open(snap_out *o, const lms_snapshot_header *h,
                  const char *backend, lms_snapshot_write_fn write, void *arg,
                  lms_err *err);
/* A row record; r->body_case must not be HEADER, CHUNK or TRAILER. */
int snap_out_record(snap_out *o, const Lms__Snap__Record *r, lms_err *err);
/* One Chunk record of n (1..LMS_SNAPSHOT_CHUNK) bytes of the last row's
 * file. */
int snap_out_chunk(snap_out *o, const void *data, size_t n, lms_err *err);
/* Write the trailer and return the digest. */
int snap_out_close(snap_out *o, uint8_t digest[LMS_SHA256_LEN],
                   lms_err *err);
/* Free everything; safe on a zeroed, open or closed snap_out. */
void snap_out_free(snap_out *o);

/* Reading: open (reads and checks the header), then next until it hands out
 * NULL, which means the trailer has been read and verified. */
typedef struct snap_in {
    lms_snapshot_read_fn read;
    void *arg;
    EVP_MD_CTX *md; /* the digest of the canonical stream so far */
    uint64_t count;        /* records since the header */
    int last_table;        /* body case of the last row, for the order */
    uint64_t file_left;    /* bytes of the last row's file still to come */
    /* the key of the last record row (ABI 1.4), for their order */
    uint8_t last_key[LMS_RECORD_KEY_MAX];
    size_t last_key_len;
    uint8_t *buf;
    size_t cap;
    Lms__Snap__Record *header; /* valid until snap_in_free */
    Lms__Snap__Record *rec;    /* the last record handed out */
} snap_in;

int snap_in_open(snap_in *in, lms_snapshot_read_fn read, void *arg,
                 lms_err *err);
/* The next body record (row or chunk), valid until the next call; *rec is
 * NULL once the trailer has been verified. Malformed input: LMS_DATA_LOSS
 * naming the record's position. */
int snap_in_next(snap_in *in, const Lms__Snap__Record **rec, lms_err *err);
void snap_in_free(snap_in *in);

/* The file size a row record announces (0 for tables without files). */
uint64_t snap_file_size(const Lms__Snap__Record *r);
/* The SHA-256 that names r's file body (NULL for a record without one). */
const ProtobufCBinaryData *snap_file_sha(const Lms__Snap__Record *r);

#endif

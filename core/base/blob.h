/* SPDX-License-Identifier: MIT */
/*
 * blob.h: an immutable, reference-counted byte buffer, shared between the
 * loop, the log writer and the storage thread without copying (a 10 MB
 * submission is encoded once and handed along by reference).
 */
#ifndef LMS_CORE_BLOB_H
#define LMS_CORE_BLOB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct blob {
    atomic_uint refs;
    size_t len;
    uint8_t data[];
} blob;

/* A new blob of len bytes (contents uninitialised), one reference; NULL on
 * out of memory. */
blob *blob_new(size_t len);
/* A new blob holding a copy of data. */
blob *blob_copy(const void *data, size_t len);
blob *blob_ref(blob *b);
/* Drop one reference; frees on the last. NULL is a no-op. */
void blob_unref(blob *b);

#endif

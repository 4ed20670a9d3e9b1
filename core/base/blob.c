/* SPDX-License-Identifier: MIT */
/* blob.c: see blob.h. */
#include "blob.h"

#include <stdlib.h>
#include <string.h>

blob *blob_new(size_t len)
{
    blob *b = malloc(sizeof *b + len);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    return b;
}

blob *blob_copy(const void *data, size_t len)
{
    blob *b = blob_new(len);
    if (b && len)
        memcpy(b->data, data, len);
    return b;
}

blob *blob_ref(blob *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void blob_unref(blob *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

/* SPDX-License-Identifier: MIT */
/*
 * mysql_cache.c: the writer instance's write-through cache of rows.
 *
 * lmsd applies every committed command on one storage thread, through one
 * instance, and it is the only writer of its database (lmsd records an
 * owner per store and refuses a second node: core/store_owner.c). Most of
 * what an apply reads is what it or an earlier apply read or wrote: the
 * actor, the course's enrolment, the assignment, the submission, the
 * client's dedup record, and on the leader the row read back for the
 * answer. Each such get is one round trip to the server; this cache keeps
 * those rows on the instance so that a get of a row it knows costs none.
 *
 * It is exact or it is empty:
 *  - filled only by a get's answer (the row as the server returned it, or
 *    "no such row") and by a put whose row the server stores byte for byte
 *    as bound (client records, grades); any other put forgets its key;
 *  - rows are copied, their one pointer field too (never pointers into a
 *    statement's buffers);
 *  - dropped whole on rollback(), on any failed statement of the instance
 *    (a failed write may have rolled back the transaction: a deadlock
 *    does), on connecting (a lost connection's transaction is gone), on
 *    snapshot_read() (the state is replaced) and on migrate();
 *  - text keys are cached only when valid UTF-8, whose equality under the
 *    schema's utf8mb4_nopad_bin collation is byte equality;
 *  - bounded: past max_entries entries or MY_CACHE_MAX_BYTES bytes it drops
 *    everything and starts again; a row whose pointer field is larger than
 *    MY_CACHE_MAX_EXTRA is not kept.
 * Readers and snapshot views never use it (max_entries is 0 there): they
 * read in transactions of their own on connections of their own.
 */
#include "mysql_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MY_CACHE_MAX_BYTES (32u << 20)
#define MY_CACHE_MAX_EXTRA (1u << 20)
#define MY_CACHE_MIN_BUCKETS 1024u

/* One row: the row struct first (data is aligned for it), then the key,
 * then the extra bytes (the row's one pointer field, its NUL included for
 * a text). */
struct my_centry {
    struct my_centry *next;
    uint64_t hash;
    size_t rowlen, klen, xlen;
    int table;
    int found; /* 0: the server said there is no such row */
    _Alignas(max_align_t) unsigned char data[];
};

/* FNV-1a over the table and the key. */
static uint64_t my_cache_hash(int table, const void *key, size_t klen)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(unsigned)table;
    h *= 1099511628211ull;
    const unsigned char *p = key;
    for (size_t i = 0; i < klen; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static size_t my_centry_size(const my_centry *e)
{
    return sizeof *e + e->rowlen + e->klen + e->xlen;
}

/* The slot that points at the entry for (table, key), or at the NULL that
 * ends its bucket's chain. c->bucket must exist. */
static my_centry **my_cache_slot(my_cache *c, int table, const void *key,
                                 size_t klen, uint64_t h)
{
    my_centry **p = &c->bucket[h & (c->nbuckets - 1)];
    for (; *p; p = &(*p)->next) {
        my_centry *e = *p;
        if (e->hash == h && e->table == table && e->klen == klen &&
            memcmp(e->data + e->rowlen, key, klen) == 0)
            break;
    }
    return p;
}

/* Unlink and free the entry *p points at. */
static void my_cache_unlink(my_cache *c, my_centry **p)
{
    my_centry *e = *p;
    *p = e->next;
    c->count--;
    c->bytes -= my_centry_size(e);
    free(e);
}

/* See mysql_internal.h. */
int my_cache_on(const my_inst *s)
{
    return !s->readonly && s->cache.max_entries > 0;
}

/* See mysql_internal.h. */
int my_cache_text_key(const my_inst *s, const char *text, size_t n)
{
    return my_cache_on(s) && text != NULL && n <= 4 * LMS_TITLE_MAX &&
           my_utf8_ok(text, n);
}

/* See mysql_internal.h. */
int my_utf8_ok(const char *text, size_t n)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
        unsigned char b = p[i];
        size_t len;
        unsigned cp;
        if (b == 0)
            return 0;
        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
            cp = b & 0x1Fu;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            cp = b & 0x0Fu;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            cp = b & 0x07u;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0; /* overlong, a surrogate, beyond Unicode */
        i += len;
    }
    return 1;
}

/* See mysql_internal.h. */
int my_cache_get(my_inst *s, int table, const void *key, size_t klen,
                 void *row, size_t rowlen, const void **extra, size_t *xlen)
{
    my_cache *c = &s->cache;
    if (!my_cache_on(s) || c->bucket == NULL)
        return MY_CACHE_MISS;
    uint64_t h = my_cache_hash(table, key, klen);
    my_centry *e = *my_cache_slot(c, table, key, klen, h);
    if (e == NULL || (e->found && e->rowlen != rowlen)) {
        c->misses++;
        return MY_CACHE_MISS;
    }
    c->hits++;
    if (!e->found)
        return 0;
    memcpy(row, e->data, rowlen);
    if (extra)
        *extra = e->xlen ? e->data + e->rowlen + e->klen : NULL;
    if (xlen)
        *xlen = e->xlen;
    return 1;
}

/* See mysql_internal.h. */
void *my_cache_row(my_inst *s, int table, const void *key, size_t klen,
                   size_t rowlen)
{
    my_cache *c = &s->cache;
    if (!my_cache_on(s) || c->bucket == NULL)
        return NULL;
    uint64_t h = my_cache_hash(table, key, klen);
    my_centry *e = *my_cache_slot(c, table, key, klen, h);
    return e && e->found && e->rowlen == rowlen ? e->data : NULL;
}

/* See mysql_internal.h. */
void my_cache_forget(my_inst *s, int table, const void *key, size_t klen)
{
    my_cache *c = &s->cache;
    if (c->bucket == NULL)
        return;
    uint64_t h = my_cache_hash(table, key, klen);
    my_centry **p = my_cache_slot(c, table, key, klen, h);
    if (*p)
        my_cache_unlink(c, p);
}

/* See mysql_internal.h. */
void my_cache_set(my_inst *s, int table, const void *key, size_t klen,
                  const void *row, size_t rowlen, const void *extra,
                  size_t xlen)
{
    my_cache *c = &s->cache;
    if (!my_cache_on(s))
        return;
    if (row == NULL)
        rowlen = xlen = 0;
    if (xlen > MY_CACHE_MAX_EXTRA) {
        my_cache_forget(s, table, key, klen);
        return;
    }
    if (c->bucket == NULL) {
        size_t n = MY_CACHE_MIN_BUCKETS;
        while (n < c->max_entries && n < (1u << 20))
            n <<= 1;
        c->bucket = calloc(n, sizeof *c->bucket);
        if (c->bucket == NULL)
            return; /* no cache: every get asks the server */
        c->nbuckets = n;
    }
    uint64_t h = my_cache_hash(table, key, klen);
    my_centry **p = my_cache_slot(c, table, key, klen, h);
    if (*p)
        my_cache_unlink(c, p);
    size_t size = sizeof(my_centry) + rowlen + klen + xlen;
    if (c->count >= c->max_entries || c->bytes + size > MY_CACHE_MAX_BYTES) {
        my_cache_clear(s);
        c->drops++;
        p = my_cache_slot(c, table, key, klen, h);
    }
    my_centry *e = malloc(size);
    if (e == NULL)
        return; /* the key is forgotten: still exact */
    e->hash = h;
    e->table = table;
    e->found = row != NULL;
    e->rowlen = rowlen;
    e->klen = klen;
    e->xlen = xlen;
    if (rowlen)
        memcpy(e->data, row, rowlen);
    if (klen)
        memcpy(e->data + rowlen, key, klen);
    if (xlen)
        memcpy(e->data + rowlen + klen, extra, xlen);
    e->next = *p;
    *p = e;
    c->count++;
    c->bytes += size;
}

/* See mysql_internal.h. */
void my_cache_drop_if(my_inst *s, int table,
                      int (*stale)(const void *row, void *arg), void *arg)
{
    my_cache *c = &s->cache;
    if (c->bucket == NULL)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        my_centry **p = &c->bucket[i];
        while (*p) {
            my_centry *e = *p;
            if (e->table == table && e->found && stale(e->data, arg))
                my_cache_unlink(c, p);
            else
                p = &e->next;
        }
    }
}

/* See mysql_internal.h. */
void my_cache_clear(my_inst *s)
{
    my_cache *c = &s->cache;
    if (c->bucket == NULL || c->count == 0)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        my_centry *e = c->bucket[i];
        while (e) {
            my_centry *next = e->next;
            free(e);
            e = next;
        }
        c->bucket[i] = NULL;
    }
    c->count = 0;
    c->bytes = 0;
}

/* See mysql_internal.h. */
void my_cache_free(my_inst *s)
{
    my_cache_clear(s);
    free(s->cache.bucket);
    s->cache.bucket = NULL;
    s->cache.nbuckets = 0;
}

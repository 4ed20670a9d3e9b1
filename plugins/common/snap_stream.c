/* SPDX-License-Identifier: MIT */
/*
 * snap_stream.c: see snap_stream.h. The canonical stream, whose SHA-256
 * the trailer carries, is the canonical header (the Header record with only
 * format, index, term and config set, framed like any record) followed by
 * every framed record between the Header and the Trailer, byte for byte.
 * created and backend are left out so that two nodes with the same state
 * at the same index agree on the digest whenever and with whatever backend
 * they wrote it; the index, term and config are in, so a digest names one
 * state at one point of the log.
 */
#include "snap_stream.h"
#include "storage_record.h"

#include <stdlib.h>
#include <string.h>

/* ---- shared: buffers, framing, digests ---- */

static int snap_grow(uint8_t **buf, size_t *cap, size_t need, lms_err *err)
{
    if (need <= *cap)
        return LMS_OK;
    size_t want = *cap ? *cap : 4096;
    while (want < need)
        want *= 2;
    uint8_t *p = realloc(*buf, want);
    if (p == NULL)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "snapshot: out of memory for a %zu-byte record",
                           need);
    *buf = p;
    *cap = want;
    return LMS_OK;
}

/* Frame r into *buf (length prefix + packed record); *n is the frame's
 * size. */
static int snap_frame(const Lms__Snap__Record *r, uint8_t **buf, size_t *cap,
                      size_t *n, lms_err *err)
{
    size_t body = lms__snap__record__get_packed_size(r);
    if (body > SNAP_RECORD_MAX)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "snapshot: a record of %zu bytes is above the "
                           "limit of %u", body, SNAP_RECORD_MAX);
    int rc = snap_grow(buf, cap, body + 4, err);
    if (rc != LMS_OK)
        return rc;
    uint8_t *p = *buf;
    p[0] = (uint8_t)(body >> 24);
    p[1] = (uint8_t)(body >> 16);
    p[2] = (uint8_t)(body >> 8);
    p[3] = (uint8_t)body;
    lms__snap__record__pack(r, p + 4);
    *n = body + 4;
    return LMS_OK;
}

static int snap_digest_new(EVP_MD_CTX **md, lms_err *err)
{
    *md = EVP_MD_CTX_new();
    if (*md == NULL || EVP_DigestInit_ex(*md, EVP_sha256(), NULL) != 1)
        return lms_err_set(err, LMS_INTERNAL,
                           "snapshot: cannot start an SHA-256 digest");
    return LMS_OK;
}

static int snap_digest_add(EVP_MD_CTX *md, const void *p, size_t n,
                           lms_err *err)
{
    if (EVP_DigestUpdate(md, p, n) != 1)
        return lms_err_set(err, LMS_INTERNAL, "snapshot: SHA-256 failed");
    return LMS_OK;
}

static int snap_digest_end(EVP_MD_CTX *md, uint8_t out[LMS_SHA256_LEN],
                           lms_err *err)
{
    unsigned n = 0;
    if (EVP_DigestFinal_ex(md, out, &n) != 1 || n != LMS_SHA256_LEN)
        return lms_err_set(err, LMS_INTERNAL, "snapshot: SHA-256 failed");
    return LMS_OK;
}

/* Digest the canonical header: format, index, term and config of h. */
static int snap_digest_header(EVP_MD_CTX *md, const Lms__Snap__Header *h,
                              lms_err *err)
{
    Lms__Snap__Header canon = LMS__SNAP__HEADER__INIT;
    canon.format = h->format;
    canon.index = h->index;
    canon.term = h->term;
    canon.config = h->config;
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = LMS__SNAP__RECORD__BODY_HEADER;
    r.header = &canon;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    int rc = snap_frame(&r, &buf, &cap, &n, err);
    if (rc == LMS_OK)
        rc = snap_digest_add(md, buf, n, err);
    free(buf);
    return rc;
}

const ProtobufCBinaryData *snap_file_sha(const Lms__Snap__Record *r)
{
    if (r->body_case == LMS__SNAP__RECORD__BODY_SUBMISSION)
        return &r->submission->sha256;
    if (r->body_case == LMS__SNAP__RECORD__BODY_MATERIAL)
        return &r->material->sha256;
    return NULL;
}

uint64_t snap_file_size(const Lms__Snap__Record *r)
{
    if (r->body_case == LMS__SNAP__RECORD__BODY_SUBMISSION)
        return r->submission->size;
    if (r->body_case == LMS__SNAP__RECORD__BODY_MATERIAL)
        return r->material->size;
    return 0;
}

/* ---- writing ---- */

/* Frame r and hand it to the sink; digest it if it is part of the body. */
static int snap_out_put(snap_out *o, const Lms__Snap__Record *r, int body,
                        lms_err *err)
{
    size_t n = 0;
    int rc = snap_frame(r, &o->buf, &o->cap, &n, err);
    if (rc == LMS_OK && body)
        rc = snap_digest_add(o->md, o->buf, n, err);
    if (rc != LMS_OK)
        return rc;
    if (o->write(o->arg, o->buf, n) != 0)
        return lms_err_set(err, LMS_ABORTED,
                           "snapshot: the writer refused record %llu",
                           (unsigned long long)o->count + 1);
    if (body)
        o->count++;
    return LMS_OK;
}

int snap_out_open(snap_out *o, const lms_snapshot_header *h,
                  const char *backend, lms_snapshot_write_fn write, void *arg,
                  lms_err *err)
{
    memset(o, 0, sizeof *o);
    o->write = write;
    o->arg = arg;
    Lms__Snap__Header hd = LMS__SNAP__HEADER__INIT;
    hd.format = LMS_SNAPSHOT_FORMAT;
    hd.index = h->index;
    hd.term = h->term;
    hd.config.data = (uint8_t *)h->config;
    hd.config.len = h->config ? h->config_len : 0;
    hd.created = h->created;
    hd.backend = (char *)backend;
    int rc = snap_digest_new(&o->md, err);
    if (rc == LMS_OK)
        rc = snap_digest_header(o->md, &hd, err);
    if (rc != LMS_OK)
        return rc;
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = LMS__SNAP__RECORD__BODY_HEADER;
    r.header = &hd;
    return snap_out_put(o, &r, 0, err);
}

int snap_out_record(snap_out *o, const Lms__Snap__Record *r, lms_err *err)
{
    return snap_out_put(o, r, 1, err);
}

int snap_out_chunk(snap_out *o, const void *data, size_t n, lms_err *err)
{
    Lms__Snap__Chunk c = LMS__SNAP__CHUNK__INIT;
    c.data.data = (uint8_t *)data;
    c.data.len = n;
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = LMS__SNAP__RECORD__BODY_CHUNK;
    r.chunk = &c;
    return snap_out_put(o, &r, 1, err);
}

int snap_out_close(snap_out *o, uint8_t digest[LMS_SHA256_LEN],
                   lms_err *err)
{
    int rc = snap_digest_end(o->md, digest, err);
    if (rc != LMS_OK)
        return rc;
    Lms__Snap__Trailer t = LMS__SNAP__TRAILER__INIT;
    t.count = o->count;
    t.sha256.data = digest;
    t.sha256.len = LMS_SHA256_LEN;
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = LMS__SNAP__RECORD__BODY_TRAILER;
    r.trailer = &t;
    return snap_out_put(o, &r, 0, err);
}

void snap_out_free(snap_out *o)
{
    EVP_MD_CTX_free(o->md);
    free(o->buf);
    memset(o, 0, sizeof *o);
}

/* ---- reading ---- */

static int snap_bad(const snap_in *in, lms_err *err, const char *what)
{
    return lms_err_set(err, LMS_DATA_LOSS, "snapshot: record %llu: %s",
                       (unsigned long long)in->count + 1, what);
}

/* Read one framed record into in->buf; *n is the frame's size. */
static int snap_in_frame(snap_in *in, size_t *n, lms_err *err)
{
    uint8_t len[4];
    if (in->read(in->arg, len, sizeof len) != 0)
        return snap_bad(in, err, "the stream ends before the trailer");
    size_t body = (size_t)len[0] << 24 | (size_t)len[1] << 16 |
                  (size_t)len[2] << 8 | len[3];
    if (body == 0 || body > SNAP_RECORD_MAX)
        return snap_bad(in, err, "impossible record length");
    int rc = snap_grow(&in->buf, &in->cap, body + 4, err);
    if (rc != LMS_OK)
        return rc;
    memcpy(in->buf, len, 4);
    if (in->read(in->arg, in->buf + 4, body) != 0)
        return snap_bad(in, err, "the stream ends inside a record");
    *n = body + 4;
    return LMS_OK;
}

/* Read and decode the next record into *out (the caller frees it). */
static int snap_in_decode(snap_in *in, Lms__Snap__Record **out, size_t *n,
                          lms_err *err)
{
    int rc = snap_in_frame(in, n, err);
    if (rc != LMS_OK)
        return rc;
    *out = lms__snap__record__unpack(NULL, *n - 4, in->buf + 4);
    if (*out == NULL ||
        (*out)->body_case == LMS__SNAP__RECORD__BODY__NOT_SET)
        return snap_bad(in, err, "does not decode as a snapshot record");
    return LMS_OK;
}

int snap_in_open(snap_in *in, lms_snapshot_read_fn read, void *arg,
                 lms_err *err)
{
    memset(in, 0, sizeof *in);
    in->read = read;
    in->arg = arg;
    size_t n = 0;
    int rc = snap_digest_new(&in->md, err);
    if (rc == LMS_OK)
        rc = snap_in_decode(in, &in->header, &n, err);
    if (rc != LMS_OK)
        return rc;
    if (in->header->body_case != LMS__SNAP__RECORD__BODY_HEADER)
        return snap_bad(in, err, "the stream does not start with a header");
    if (in->header->header->format != LMS_SNAPSHOT_FORMAT)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "snapshot: format %u, this plugin reads format %d",
                           (unsigned)in->header->header->format,
                           LMS_SNAPSHOT_FORMAT);
    return snap_digest_header(in->md, in->header->header, err);
}

/* Check the trailer against what was read. */
static int snap_in_verify(snap_in *in, const Lms__Snap__Trailer *t,
                          lms_err *err)
{
    uint8_t digest[LMS_SHA256_LEN];
    if (in->file_left != 0)
        return snap_bad(in, err, "the trailer comes before a file ends");
    if (t->count != in->count)
        return lms_err_set(err, LMS_DATA_LOSS,
                           "snapshot: the trailer counts %llu records, the "
                           "stream has %llu", (unsigned long long)t->count,
                           (unsigned long long)in->count);
    int rc = snap_digest_end(in->md, digest, err);
    if (rc != LMS_OK)
        return rc;
    if (t->sha256.len != LMS_SHA256_LEN ||
        memcmp(t->sha256.data, digest, LMS_SHA256_LEN) != 0)
        return lms_err_set(err, LMS_DATA_LOSS,
                           "snapshot: the digest does not match the stream "
                           "(%llu records)", (unsigned long long)in->count);
    return LMS_OK;
}

/* A record row (ABI 1.4): a key storage.h allows (1..LMS_RECORD_KEY_MAX
 * bytes, no NUL) after the last one (bytewise, strictly: each key once),
 * a value of at most LMS_RECORD_VALUE_MAX bytes. */
static int snap_in_check_record(snap_in *in, const Lms__Snap__KeyedRecord *k,
                                lms_err *err)
{
    const ProtobufCBinaryData *key = &k->key;
    if (key->len == 0 || key->len > LMS_RECORD_KEY_MAX ||
        memchr(key->data, 0, key->len) != NULL)
        return snap_bad(in, err, "a record key that is empty, too long or "
                                 "holds a NUL byte");
    if (k->value.len > LMS_RECORD_VALUE_MAX)
        return snap_bad(in, err, "a record value above the limit");
    if (in->last_key_len > 0 &&
        storage_record_cmp(in->last_key, in->last_key_len, key->data,
                           key->len) >= 0)
        return snap_bad(in, err, "record keys out of order");
    memcpy(in->last_key, key->data, key->len);
    in->last_key_len = key->len;
    return LMS_OK;
}

/* The order rules: tables in Record field order, each file whole and cut
 * in canonical chunks right after its row, record rows by key. */
static int snap_in_check(snap_in *in, const Lms__Snap__Record *r,
                         lms_err *err)
{
    int table = (int)r->body_case;
    if (table == LMS__SNAP__RECORD__BODY_CHUNK) {
        uint64_t want = in->file_left < LMS_SNAPSHOT_CHUNK
                            ? in->file_left : LMS_SNAPSHOT_CHUNK;
        if (want == 0 || r->chunk->data.len != want)
            return snap_bad(in, err, "a file chunk of the wrong size");
        in->file_left -= want;
        return LMS_OK;
    }
    if (table == LMS__SNAP__RECORD__BODY_HEADER)
        return snap_bad(in, err, "a second header");
    if (in->file_left != 0)
        return snap_bad(in, err, "a row comes before the last file ends");
    if (table < in->last_table)
        return snap_bad(in, err, "tables out of order");
    in->last_table = table;
    in->file_left = snap_file_size(r);
    if (table == LMS__SNAP__RECORD__BODY_RECORD)
        return snap_in_check_record(in, r->record, err);
    return LMS_OK;
}

int snap_in_next(snap_in *in, const Lms__Snap__Record **rec, lms_err *err)
{
    *rec = NULL;
    if (in->rec)
        lms__snap__record__free_unpacked(in->rec, NULL);
    in->rec = NULL;
    size_t n = 0;
    int rc = snap_in_decode(in, &in->rec, &n, err);
    if (rc != LMS_OK)
        return rc;
    if (in->rec->body_case == LMS__SNAP__RECORD__BODY_TRAILER)
        return snap_in_verify(in, in->rec->trailer, err);
    rc = snap_in_check(in, in->rec, err);
    if (rc == LMS_OK)
        rc = snap_digest_add(in->md, in->buf, n, err);
    if (rc != LMS_OK)
        return rc;
    in->count++;
    *rec = in->rec;
    return LMS_OK;
}

void snap_in_free(snap_in *in)
{
    if (in->rec)
        lms__snap__record__free_unpacked(in->rec, NULL);
    if (in->header)
        lms__snap__record__free_unpacked(in->header, NULL);
    EVP_MD_CTX_free(in->md);
    free(in->buf);
    memset(in, 0, sizeof *in);
}

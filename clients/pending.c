/* SPDX-License-Identifier: MIT */
/*
 * pending.c: the unknown-outcome record of pending.h, as a small JSON file
 * in the session directory, and the request digest (OpenSSL's SHA-256,
 * fed by protobuf-c's packing without a copy of the request).
 */
#include "pending.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "output.h"
#include "session.h"

/* protobuf-c packs into this buffer: every piece goes into the digest. */
struct digest_sink {
    ProtobufCBuffer base;
    EVP_MD_CTX *md;
};

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    struct digest_sink *s = (struct digest_sink *)b;
    EVP_DigestUpdate(s->md, data, len);
}

static void update_str(EVP_MD_CTX *md, const char *s)
{
    if (s == NULL)
        s = "";
    EVP_DigestUpdate(md, s, strlen(s) + 1); /* with the NUL: fields cannot run together */
}

void lms_pending_digest(const uint8_t salt[16], const char *prog, const char *user,
                        const Lms__Request *req, uint8_t out[32])
{
    Lms__Request r = *req;
    r.id = 0;
    r.client_id = 0;
    r.seq = 0;
    r.token = (char *)"";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned len = 0;
    if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
        abort(); /* no SHA-256 in libcrypto: nothing sensible left to do */
    EVP_DigestUpdate(md, "lms pending write 1", 20);
    EVP_DigestUpdate(md, salt, 16);
    update_str(md, prog);
    update_str(md, user);
    struct digest_sink sink = {.base = {.append = sink_append}, .md = md};
    lms__request__pack_to_buffer(&r, &sink.base);
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

static int from_hex(const char *s, uint8_t *out, size_t n)
{
    if (s == NULL || strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return 0;
}

static const char *member(json_object *obj, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int lms_pending_load(const char *dir, struct lms_pending *p)
{
    memset(p, 0, sizeof *p);
    char *text = lms_home_read(dir, LMS_PENDING_FILE);
    if (text == NULL)
        return -1;
    json_object *obj = json_tokener_parse(text);
    free(text);
    if (obj == NULL)
        return -1;
    uint8_t id[8];
    json_object *seq = NULL, *written = NULL;
    int rc = from_hex(member(obj, "client_id"), id, sizeof id) < 0 ||
                     from_hex(member(obj, "salt"), p->salt, sizeof p->salt) < 0 ||
                     from_hex(member(obj, "digest"), p->digest, sizeof p->digest) < 0 ||
                     !json_object_object_get_ex(obj, "seq", &seq) ||
                     !json_object_object_get_ex(obj, "written", &written)
                 ? -1
                 : 0;
    if (rc == 0) {
        for (size_t i = 0; i < sizeof id; i++)
            p->client_id = p->client_id << 8 | id[i];
        p->seq = (uint64_t)json_object_get_int64(seq);
        p->written = json_object_get_int64(written);
        if (p->client_id == 0 || p->seq == 0)
            rc = -1;
    }
    json_object_put(obj);
    return rc;
}

bool lms_pending_matches(const struct lms_pending *p, const char *prog, const char *user,
                         const Lms__Request *req, int64_t now_ms)
{
    uint8_t d[32];
    /* written comes from a file: compared so that no extreme value overflows */
    if (p->written < now_ms - LMS_PENDING_MAX_AGE_MS || p->written > now_ms + 60000)
        return false;
    lms_pending_digest(p->salt, prog, user, req, d);
    return CRYPTO_memcmp(d, p->digest, sizeof d) == 0;
}

void lms_pending_make(struct lms_pending *p, uint64_t client_id, uint64_t seq, const char *prog,
                      const char *user, const Lms__Request *req, int64_t now_ms)
{
    memset(p, 0, sizeof *p);
    p->client_id = client_id;
    p->seq = seq;
    p->written = now_ms;
    if (getrandom(p->salt, sizeof p->salt, 0) != (ssize_t)sizeof p->salt) {
        /* a weaker salt is still a salt; the digest only has to match */
        uint64_t t = (uint64_t)now_ms ^ client_id;
        memcpy(p->salt, &t, sizeof t);
    }
    lms_pending_digest(p->salt, prog, user, req, p->digest);
}

int lms_pending_save(const char *dir, const struct lms_pending *p, char *err, size_t errlen)
{
    char id[17], salt[33], digest[65], text[320];
    uint8_t raw[8];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(p->client_id >> (56 - 8 * i));
    out_hex(raw, sizeof raw, id, sizeof id);
    out_hex(p->salt, sizeof p->salt, salt, sizeof salt);
    out_hex(p->digest, sizeof p->digest, digest, sizeof digest);
    snprintf(text, sizeof text,
             "{\"client_id\": \"%s\", \"seq\": %" PRIu64 ", \"salt\": \"%s\", \"digest\": "
             "\"%s\", \"written\": %" PRId64 "}\n",
             id, p->seq, salt, digest, p->written);
    /* not fsync'ed: it guards against a lost answer, not a lost machine */
    return lms_home_write(dir, LMS_PENDING_FILE, text, false, err, errlen);
}

void lms_pending_remove(const char *dir)
{
    lms_home_remove(dir, LMS_PENDING_FILE);
}

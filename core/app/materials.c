/* SPDX-License-Identifier: MIT */
/*
 * materials.c: see materials.h.
 */
#include "materials.h"

#include "lms_assert.h"
#include "records.pb-c.h"
#include "rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "mat/" 20 digits "/" 20 digits, and the NUL */
#define KEY_CAP (sizeof MATERIAL_KEY_PREFIX + 2 * 20 + 2)

static void state_key(uint64_t id, char key[KEY_CAP])
{
    snprintf(key, KEY_CAP, MATERIAL_KEY_PREFIX "%020" PRIu64, id);
}

static void version_key(uint64_t id, uint32_t v, char key[KEY_CAP])
{
    snprintf(key, KEY_CAP, MATERIAL_KEY_PREFIX "%020" PRIu64 "/%020" PRIu32, id, v);
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- the row's state -------------------------------------------------- */

int material_state_get(const struct lms_storage_ops *ops, void *st, uint64_t id,
                       material_state *out, lms_err *err)
{
    char key[KEY_CAP];
    lms_record r;
    memset(out, 0, sizeof *out);
    out->version = 1;
    state_key(id, key);
    int rc = ops->record_get(st, key, &r, err);
    if (rc == LMS_NOT_FOUND) {
        lms_err_clear(err);
        return LMS_OK;
    }
    if (rc != LMS_OK)
        return rc;
    Lms__MaterialRecord *m = lms__material_record__unpack(NULL, r.len, r.value);
    if (!m)
        return lms_err_set(err, LMS_INTERNAL,
                           "the stored material record %s does not decode", key);
    out->version = m->version ? m->version : 1;
    out->deleted = m->deleted;
    copy(out->deleted_by, sizeof out->deleted_by, m->deleted_by);
    out->deleted_at = m->deleted_at;
    out->archive_of = m->archive_of;
    out->archive_version = m->archive_version;
    lms__material_record__free_unpacked(m, NULL);
    return LMS_OK;
}

int material_state_put(const struct lms_storage_ops *ops, void *st, uint64_t id,
                       const material_state *s, lms_err *err)
{
    char key[KEY_CAP];
    state_key(id, key);
    Lms__MaterialRecord m = LMS__MATERIAL_RECORD__INIT;
    m.version = s->version;
    m.deleted = s->deleted != 0;
    m.deleted_by = (char *)s->deleted_by;
    m.deleted_at = s->deleted_at;
    m.archive_of = s->archive_of;
    m.archive_version = s->archive_version;
    uint8_t buf[LMS_NAME_MAX + 64];
    size_t n = lms__material_record__get_packed_size(&m);
    LMS_ASSERT(n <= sizeof buf);
    lms__material_record__pack(&m, buf);
    return ops->record_put(st, key, buf, n, err);
}

/* ---- versions ----------------------------------------------------------- */

/* The record r of version v into *out. */
static int decode_version(const lms_record *r, uint32_t v, material_version *out,
                          lms_err *err)
{
    memset(out, 0, sizeof *out);
    Lms__MaterialVersionRecord *m =
        lms__material_version_record__unpack(NULL, r->len, r->value);
    if (!m || m->sha256.len != LMS_SHA256_LEN) {
        if (m)
            lms__material_version_record__free_unpacked(m, NULL);
        return lms_err_set(err, LMS_INTERNAL,
                           "the stored material version %s does not decode", r->key);
    }
    out->version = v;
    copy(out->title, sizeof out->title, m->title);
    copy(out->file_name, sizeof out->file_name, m->file_name);
    out->size = m->size;
    memcpy(out->sha256, m->sha256.data, LMS_SHA256_LEN);
    copy(out->uploaded_by, sizeof out->uploaded_by, m->uploaded_by);
    out->uploaded = m->uploaded;
    out->row = m->row;
    lms__material_version_record__free_unpacked(m, NULL);
    return LMS_OK;
}

int material_version_get(const struct lms_storage_ops *ops, void *st, uint64_t id,
                         uint32_t v, material_version *out, lms_err *err)
{
    char key[KEY_CAP];
    lms_record r;
    version_key(id, v, key);
    int rc = ops->record_get(st, key, &r, err);
    return rc != LMS_OK ? rc : decode_version(&r, v, out, err);
}

int material_version_put(const struct lms_storage_ops *ops, void *st, uint64_t id,
                         const material_version *v, lms_err *err)
{
    char key[KEY_CAP];
    version_key(id, v->version, key);
    Lms__MaterialVersionRecord m = LMS__MATERIAL_VERSION_RECORD__INIT;
    m.title = (char *)v->title;
    m.file_name = (char *)v->file_name;
    m.size = v->size;
    m.sha256.data = (uint8_t *)v->sha256;
    m.sha256.len = LMS_SHA256_LEN;
    m.uploaded_by = (char *)v->uploaded_by;
    m.uploaded = v->uploaded;
    m.row = v->row;
    uint8_t buf[LMS_TITLE_MAX + LMS_FILENAME_MAX + LMS_NAME_MAX + LMS_SHA256_LEN + 64];
    size_t n = lms__material_version_record__get_packed_size(&m);
    LMS_ASSERT(n <= sizeof buf);
    lms__material_version_record__pack(&m, buf);
    return ops->record_put(st, key, buf, n, err);
}

typedef struct version_walk {
    material_version_fn each;
    void *arg;
    lms_err *err;
    int rc;
} version_walk;

static int version_each(void *arg, const lms_record *r)
{
    version_walk *w = arg;
    material_version v;
    /* the key ends in the version's 20 digits */
    size_t n = strlen(r->key);
    LMS_ASSERT(n > 20);
    unsigned long long num = strtoull(r->key + n - 20, NULL, 10);
    if (num == 0 || num > UINT32_MAX) {
        w->rc = lms_err_set(w->err, LMS_INTERNAL, "the material version key %s is damaged",
                            r->key);
        return 1;
    }
    if ((w->rc = decode_version(r, (uint32_t)num, &v, w->err)) != LMS_OK)
        return 1;
    return w->each(w->arg, &v);
}

int material_version_list(const struct lms_storage_ops *ops, void *st, uint64_t id,
                          material_version_fn each, void *arg, lms_err *err)
{
    char prefix[KEY_CAP];
    snprintf(prefix, sizeof prefix, MATERIAL_KEY_PREFIX "%020" PRIu64 "/", id);
    version_walk w = {.each = each, .arg = arg, .err = err, .rc = LMS_OK};
    int rc = ops->record_list(st, prefix, NULL, 0, version_each, &w, err);
    return rc != LMS_OK ? rc : w.rc;
}

void material_version_of(const lms_material *m, uint32_t version, material_version *out)
{
    memset(out, 0, sizeof *out);
    out->version = version;
    copy(out->title, sizeof out->title, m->title);
    copy(out->file_name, sizeof out->file_name, m->file_name);
    out->size = m->size;
    memcpy(out->sha256, m->sha256, LMS_SHA256_LEN);
    copy(out->uploaded_by, sizeof out->uploaded_by, m->uploaded_by);
    out->uploaded = m->created;
    out->row = m->id;
}

int material_shown(const struct lms_storage_ops *ops, void *st, uint64_t id,
                   int sees_deleted, int *shown, material_state *state, lms_err *err)
{
    material_state s;
    char why[RULE_MSG_MAX];
    *shown = 0;
    int rc = material_state_get(ops, st, id, &s, err);
    if (rc != LMS_OK)
        return rc;
    *shown = rule_material_shown(id, s.archive_of != 0, s.deleted, sees_deleted, why,
                                 sizeof why) == LMS_OK;
    if (state)
        *state = s;
    return LMS_OK;
}

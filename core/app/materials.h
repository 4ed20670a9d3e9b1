/* SPDX-License-Identifier: MIT */
/*
 * materials.h: what lmsd keeps about a course material beyond its row
 * (storage ABI 1.4 keyed records; records.proto has the messages):
 *
 *   "mat/<id>"            the row's state: which version it holds, whether
 *                         the material was deleted, or that the row is no
 *                         material but keeps an old version's file
 *   "mat/<id>/<version>"  each version of a replaced material
 *
 * (ids and versions as 20 zero-padded digits). The material's own row
 * always holds its latest version, so every reader that takes a row takes
 * the latest; an earlier version's file is kept by a row of its own (an
 * archive row, in the same course), so that the file store's body of
 * every version travels in every snapshot and backup with the rows (the
 * stream carries a body only after the row that names it) and is never
 * left unreferenced. Archive rows and deleted materials are filtered out
 * of every read path (material_shown, rule_material_shown).
 *
 * Written by apply only (sm.c); read by apply, the handlers and the
 * tutor's documents, each on its own storage handle.
 */
#ifndef LMS_CORE_MATERIALS_H
#define LMS_CORE_MATERIALS_H

#include <lms/storage.h>

#include <stdint.h>

#define MATERIAL_KEY_PREFIX "mat/"

typedef struct material_state {
    uint32_t version; /* the version the row holds: 1 until replaced */
    int deleted;      /* gone for the course's students */
    char deleted_by[LMS_NAME_MAX + 1];
    int64_t deleted_at;
    uint64_t archive_of; /* nonzero: this row keeps an old version of it */
    uint32_t archive_version;
} material_state;

typedef struct material_version {
    uint32_t version;
    char title[LMS_TITLE_MAX + 1];
    char file_name[LMS_FILENAME_MAX + 1];
    uint64_t size;
    uint8_t sha256[LMS_SHA256_LEN];
    char uploaded_by[LMS_NAME_MAX + 1];
    int64_t uploaded;
    uint64_t row; /* the material row that keeps the file */
} material_version;

/* The state of material row id into *out (version 1, nothing else set,
 * when there is no record): LMS_OK, or the storage's error; LMS_INTERNAL
 * when the stored value does not decode. Any thread, on its handle. */
int material_state_get(const struct lms_storage_ops *ops, void *st, uint64_t id,
                       material_state *out, lms_err *err);
/* Store it (inside apply's transaction). */
int material_state_put(const struct lms_storage_ops *ops, void *st, uint64_t id,
                       const material_state *s, lms_err *err);

/* Version v of material id into *out: LMS_NOT_FOUND when there is no
 * record of it (a material never replaced has none). */
int material_version_get(const struct lms_storage_ops *ops, void *st, uint64_t id,
                         uint32_t v, material_version *out, lms_err *err);
int material_version_put(const struct lms_storage_ops *ops, void *st, uint64_t id,
                         const material_version *v, lms_err *err);
/* Every recorded version of material id, oldest first. each() returning
 * nonzero stops the walk. */
typedef int (*material_version_fn)(void *arg, const material_version *v);
int material_version_list(const struct lms_storage_ops *ops, void *st, uint64_t id,
                          material_version_fn each, void *arg, lms_err *err);

/* The version that row m is, as a record. */
void material_version_of(const lms_material *m, uint32_t version, material_version *out);

/* Is row id a material that a caller sees (sees_deleted: one who may see
 * deleted ones too, the course's staff)? *shown 1 or 0; *state filled
 * (NULL: not wanted). */
int material_shown(const struct lms_storage_ops *ops, void *st, uint64_t id,
                   int sees_deleted, int *shown, material_state *state, lms_err *err);

#endif

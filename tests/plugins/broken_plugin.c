/* SPDX-License-Identifier: MIT */
/*
 * broken_plugin.c: fixtures for test_plugin_loader. tests/plugins/
 * CMakeLists.txt builds this file once per define below; each BROKEN_*
 * build has exactly one thing wrong, each FAKE_* build is a minimal correct
 * plugin whose callbacks do nothing (they are never called).
 *
 *   BROKEN_BAD_MAGIC        magic 0xdeadbeef
 *   BROKEN_ABI_MAJOR        ABI (major + 1).minor
 *   BROKEN_ABI_MINOR        ABI major.(minor + 1)
 *   BROKEN_SMALL_DESCRIPTOR descriptor_size too small
 *   BROKEN_WRONG_KIND       a tutor plugin (the test asks for storage)
 *   BROKEN_NO_ENTRY         exports no lms_plugin_entry
 *   BROKEN_NULL_ENTRY       lms_plugin_entry returns NULL
 *   BROKEN_NULL_OPS         auth plugin without an ops table
 *   BROKEN_SMALL_OPS        auth ops_size smaller than lms_auth_ops
 *   BROKEN_STORAGE_NULL_CALLBACK  storage plugin with user_get NULL
 *   OLD_STORAGE_ABI_1_3     a storage plugin built against ABI 1.3: its
 *                           table ends before the records (ABI 1.4)
 *   OLD_STORAGE_ABI_1_2     one built against ABI 1.2 (before meta_get)
 *   BROKEN_STORAGE_NULL_RECORD_LIST  ABI 1.4 storage with record_list NULL
 *   BROKEN_STORAGE_SHORT_TABLE  says ABI 1.4, brings 1.3's table
 *   BROKEN_AUTH_NULL_CALLBACK     auth plugin with hash NULL
 *   BROKEN_TUTOR_NULL_ASK         tutor plugin with ask NULL
 *   BROKEN_TUTOR_UNKNOWN_FLAG     tutor plugin with flag bit 1 << 7 set
 *   FAKE_STORAGE, FAKE_TUTOR      correct plugins of those kinds
 * With none of them it is a correct auth plugin. Tutors whose callbacks
 * do run (for lms-plugin-check's own tests) are in tutor_fixture.c.
 */
#include <lms/auth.h>
#include <lms/storage.h>
#include <lms/tutor.h>
#include <stddef.h>
#include <string.h>

/* Each build uses only some of the pieces below. */
#define FIXTURE __attribute__((unused))

/* The kinds are enum constants, which #if cannot see: decide by flags. */
#if defined(BROKEN_WRONG_KIND) || defined(FAKE_TUTOR) ||                      \
    defined(BROKEN_TUTOR_NULL_ASK) || defined(BROKEN_TUTOR_UNKNOWN_FLAG)
#define KIND LMS_PLUGIN_TUTOR
#define IS_TUTOR 1
#elif defined(BROKEN_STORAGE_NULL_CALLBACK) || defined(FAKE_STORAGE) ||     \
    defined(OLD_STORAGE_ABI_1_3) || defined(OLD_STORAGE_ABI_1_2) ||          \
    defined(BROKEN_STORAGE_NULL_RECORD_LIST) ||                              \
    defined(BROKEN_STORAGE_SHORT_TABLE)
#define KIND LMS_PLUGIN_STORAGE
#define IS_STORAGE 1
#else
#define KIND LMS_PLUGIN_AUTH
#endif

FIXTURE static int a_init(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                  void **inst, lms_err *err)
{
    *inst = NULL;
    return LMS_OK;
}
FIXTURE static void a_shutdown(void *inst) {}
FIXTURE static int a_verify(void *inst, const char *user, const char *password,
                    const char *stored, lms_err *err)
{
    return LMS_AUTH_NOT_MINE;
}
FIXTURE static int a_hash(void *inst, const char *password, char *out, size_t out_size,
                  lms_err *err)
{
    return LMS_UNIMPLEMENTED;
}

FIXTURE static const struct lms_auth_ops auth_ops = {
    .size = sizeof(struct lms_auth_ops),
    .init = a_init,
    .shutdown = a_shutdown,
    .verify = a_verify,
#ifndef BROKEN_AUTH_NULL_CALLBACK
    .hash = a_hash,
#endif
};

/* An older SDK's storage table: as long as it was then (the callbacks
 * appended since are past its end), its minor. */
#if defined(OLD_STORAGE_ABI_1_3)
#define STORAGE_OPS_SIZE offsetof(struct lms_storage_ops, record_put)
#define STORAGE_ABI_MINOR 3
#elif defined(OLD_STORAGE_ABI_1_2)
#define STORAGE_OPS_SIZE offsetof(struct lms_storage_ops, meta_get)
#define STORAGE_ABI_MINOR 2
#elif defined(BROKEN_STORAGE_SHORT_TABLE)
#define STORAGE_OPS_SIZE offsetof(struct lms_storage_ops, record_put)
#else
#define STORAGE_OPS_SIZE sizeof(struct lms_storage_ops)
#endif

/* Every storage callback points at one stub: the loader only checks that
 * they are set, and a test plugin need not spell out fifty of them. */
FIXTURE static struct lms_storage_ops storage_ops;
FIXTURE static void stub(void) {}

FIXTURE static void fill_storage_ops(void)
{
    void (*fn)(void) = stub;
    char *p = (char *)&storage_ops + offsetof(struct lms_storage_ops, open);
    char *end = (char *)&storage_ops + STORAGE_OPS_SIZE;
    for (; p + sizeof fn <= end; p += sizeof fn)
        memcpy(p, &fn, sizeof fn);
    storage_ops.size = STORAGE_OPS_SIZE;
#ifdef BROKEN_STORAGE_NULL_CALLBACK
    storage_ops.user_get = NULL;
#endif
#ifdef BROKEN_STORAGE_NULL_RECORD_LIST
    storage_ops.record_list = NULL;
#endif
}

FIXTURE static int t_ask(void *inst, const lms_tutor_question *q,
                         const lms_tutor_reply *reply, lms_err *err)
{
    return lms_err_set(err, LMS_UNIMPLEMENTED, "a loader fixture");
}

FIXTURE static const struct lms_tutor_ops tutor_ops = {
    .size = sizeof(struct lms_tutor_ops),
#ifdef BROKEN_TUTOR_UNKNOWN_FLAG
    .flags = LMS_TUTOR_BLOCKING | 1u << 7,
#else
    .flags = LMS_TUTOR_BLOCKING,
#endif
    .init = a_init,
    .shutdown = a_shutdown,
#ifndef BROKEN_TUTOR_NULL_ASK
    .ask = t_ask,
#endif
};

static struct lms_plugin_descriptor descriptor = {
#ifdef BROKEN_BAD_MAGIC
    .magic = 0xdeadbeefu,
#else
    .magic = LMS_PLUGIN_MAGIC,
#endif
#ifdef BROKEN_ABI_MAJOR
    .abi_major = LMS_ABI_MAJOR + 1,
#else
    .abi_major = LMS_ABI_MAJOR,
#endif
#ifdef BROKEN_ABI_MINOR
    .abi_minor = LMS_ABI_MINOR + 1,
#elif defined(STORAGE_ABI_MINOR)
    .abi_minor = STORAGE_ABI_MINOR,
#else
    .abi_minor = LMS_ABI_MINOR,
#endif
#ifdef BROKEN_SMALL_DESCRIPTOR
    .descriptor_size = offsetof(struct lms_plugin_descriptor, ops),
#else
    .descriptor_size = sizeof(struct lms_plugin_descriptor),
#endif
    .kind = KIND,
    .name = "broken",
    .version = "0.0.1",
    .description = "a loader test fixture",
};

static void fill_descriptor(void)
{
#if defined(IS_STORAGE)
    fill_storage_ops();
    descriptor.ops = &storage_ops;
    descriptor.ops_size = STORAGE_OPS_SIZE;
#elif defined(IS_TUTOR)
    descriptor.ops = &tutor_ops;
    descriptor.ops_size = sizeof tutor_ops;
#elif defined(BROKEN_NULL_OPS)
    descriptor.ops = NULL;
    descriptor.ops_size = sizeof auth_ops;
#elif defined(BROKEN_SMALL_OPS)
    descriptor.ops = &auth_ops;
    descriptor.ops_size = offsetof(struct lms_auth_ops, verify);
#else
    descriptor.ops = &auth_ops;
    descriptor.ops_size = sizeof auth_ops;
#endif
}

#ifdef BROKEN_NO_ENTRY
#define ENTRY lms_plugin_entry_misspelt
#else
#define ENTRY lms_plugin_entry
#endif

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *ENTRY(void);

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *ENTRY(void)
{
    fill_descriptor();
#ifdef BROKEN_NULL_ENTRY
    return NULL;
#else
    return &descriptor;
#endif
}

/* SPDX-License-Identifier: MIT */
/*
 * suite_fixture.h: what the tests of the storage conformance suite share
 * (and the SQLite-specific tests in tests/storage, which use the same
 * fixture with a target of their own): one store per fixture, opened
 * through the target of storage_suite.h, the seeds every test builds on,
 * and assertion helpers that print the plugin's error message when a call
 * does not return what was expected.
 */
#ifndef LMS_STORAGE_SUITE_FIXTURE_H
#define LMS_STORAGE_SUITE_FIXTURE_H

#include "storage_suite.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* One store of a test: its context (from the target), the instance, the
 * last call's error, and what migrate() reported. */
typedef struct fixture {
    struct lms_plugin_ctx *ctx;
    int n; /* its number in the test (storage_target.store) */
    void *st;
    lms_err err;
    int version;
} fixture;

/* The target of the running suite and its ops (set by storage_suite_use). */
extern const struct lms_storage_ops *fx_ops;
const storage_target *fx_target(void);
const struct lms_host *fx_host(void);
/* Make t the target of the fixture (storage_suite_run* do it). */
void storage_suite_use(const storage_target *t);

/* cmocka setup/teardown: store 1, opened and migrated; teardown closes
 * every store of the test and ends it at the target. */
int fx_setup(void **state);
int fx_teardown(void **state);

/* Close the store (if open) and open it again, same context, without
 * migrating. Returns what open() returned; err holds its message. */
int fx_reopen(fixture *fx);

/* Store n of the test (n >= 2; closed by teardown if the test does not
 * close it): opened, and migrated unless migrate is 0. */
void fx_open_store(fixture *other, int n, int migrate);
/* Open and migrate store n into other; close it with fx_close_other. */
void fx_open_other(fixture *other, int n);
void fx_close_other(fixture *other);

/* Assert that call returns code; on failure print the call, both codes and
 * the plugin's message. The call uses &fx->err. */
#define EXPECT_CODE(code, call)                                              \
    do {                                                                     \
        lms_err_clear(&fx->err);                                             \
        int rc_ = (call);                                                    \
        if (rc_ != (code))                                                   \
            fail_msg("%s returned %d, expected %d (%s); message: '%s'",      \
                     #call, rc_, (code), #code, fx->err.msg);                \
    } while (0)
#define EXPECT_OK(call) EXPECT_CODE(LMS_OK, call)

/* Assert that haystack contains needle, saying what it was looking for. */
#define EXPECT_CONTAINS(haystack, needle)                                    \
    do {                                                                     \
        if (strstr((haystack), (needle)) == NULL)                            \
            fail_msg("expected '%s' to contain '%s'", (haystack), (needle)); \
    } while (0)

/* A refusal's message: every plugin must fill it (storage.h); its wording
 * is checked only against storage_sqlite (storage_target.exact_messages). */
#define EXPECT_MESSAGE(msg, needle)                                          \
    do {                                                                     \
        if ((msg)[0] == '\0')                                                \
            fail_msg("the refusal came without a message (err.msg is "      \
                     "empty; storage.h: every call fills err)");             \
        if (fx_target()->exact_messages)                                     \
            EXPECT_CONTAINS((msg), (needle));                                \
    } while (0)

/* Store a file body in the host's file store (host.h), as lmsd's apply
 * does before the row that names it; sha gets its SHA-256. */
void fx_put_body(fixture *fx, const void *data, uint64_t size,
                 uint8_t sha[LMS_SHA256_LEN]);
/* Read a body of fx's file store back into out (size bytes). */
void fx_read_body(fixture *fx, const uint8_t sha[LMS_SHA256_LEN],
                  uint64_t size, unsigned char *out);

/* Begin, or commit with an applied index, asserting success. */
void fx_begin(fixture *fx);
void fx_commit(fixture *fx, uint64_t applied_index);

/* Collects the keys of listed rows as "a,b,c" for one string compare. */
typedef struct collect {
    char out[8192];
    int n;
    int limit; /* stop the walk after this many rows; 0: never */
} collect;

void collect_add(collect *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int collect_stop(const collect *c);

/* Seeds four users (alice, bob, carol students; ian instructor), two
 * courses (CS101, MA201) with enrolments, in one committed transaction. */
void fx_seed_people(fixture *fx);

/* Fill fx's store with rows of every table: users, courses, enrolments,
 * assignments, extensions, submissions (one of FX_BIG_FILE bytes with NUL
 * bytes, one empty), grades, queries of both kinds with the tutor's
 * fields, replies, materials, sessions, client records, course settings
 * and records (keys with 0x01 and 0xff bytes, the longest key, an empty
 * value); committed with applied index FX_FILLED_INDEX. */
#define FX_BIG_FILE (5u << 20)
#define FX_FILLED_INDEX 77
void fx_fill_everything(fixture *fx);

/* The applied index of fx's store. */
uint64_t fx_applied(fixture *fx);

/* The digest of fx's state at index (snapshot_write to a sink that only
 * counts): equal states give equal digests whatever the backend. */
void fx_digest(fixture *fx, uint64_t index, uint8_t digest[LMS_SHA256_LEN]);

/* Every row of every table of the store, as the list and get ops return
 * them (users, courses with enrolments, assignments with extensions of the
 * seeded students, submissions, grades, queries with replies, materials,
 * course settings, sessions of the seeded users, client records of ids
 * 1..9 and 2^62, every record), encoded as text; malloc'd. Two stores
 * that hold the same rows give the same text. */
char *fx_list_everything(fixture *fx);
/* Assert that a and b hold the same state: equal listings, and equal
 * digests at their common applied index. */
void fx_expect_same_state(fixture *a, fixture *b);

/* The groups, each a cmocka group run against the current target. */
int suite_lifecycle_tests(void);
int suite_entity_tests(void);
int suite_bytes_tests(void);
int suite_snapshot_tests(void);
int suite_reader_tests(void);
int suite_record_tests(void);

#endif

/*
 * storage_fixture.h: what the storage plugin tests share: the real plugin
 * loaded with dlopen from the build tree, a fake lms_host whose config
 * comes from a small key/value array and whose data dir is a fresh
 * temporary directory per test, and assertion helpers that print the
 * plugin's error message when a call does not return what was expected.
 */
#ifndef LMS_TEST_STORAGE_FIXTURE_H
#define LMS_TEST_STORAGE_FIXTURE_H

#include <lms/storage.h>

#include "fake_host.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>


/* One test's world: a data dir, a context and an open, migrated store. */
typedef struct fixture {
    struct lms_plugin_ctx ctx;
    void *st;
    lms_err err;
    int version; /* what migrate() reported */
} fixture;

/* The plugin under test, loaded once by fx_load_plugin(). */
extern const struct lms_plugin_descriptor *fx_desc;
extern const struct lms_storage_ops *fx_ops;
extern void *fx_dl;

int fx_load_plugin(void);
void fx_unload_plugin(void);
const struct lms_host *fx_host(void);

/* cmocka setup/teardown: a temp dir, then open + migrate with the default
 * config (path lms.db in the data dir). */
int fx_setup(void **state);
int fx_teardown(void **state);

/* Close the store (if open) and open it again with config, without
 * migrating. Returns what open() returned; err holds its message. */
int fx_reopen(fixture *fx, const char *const *config);
/* The database file of the default config. */
void fx_db_path(const fixture *fx, char *out, size_t cap);

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

/* Store a file body in the host's file store (host.h), as lmsd's apply
 * does before the row that names it; sha gets its SHA-256. */
void fx_put_body(fixture *fx, const void *data, uint64_t size,
                 uint8_t sha[LMS_SHA256_LEN]);

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

/* ---- for the snapshot tests (here and tests/unit/test_snapshot.c) ---- */

/* Open and migrate a second store in fx's data dir, with config (as for
 * fx_reopen; e.g. {"path", "b.db", NULL}); close it with fx_close_other. */
void fx_open_other(const fixture *fx, fixture *other,
                   const char *const *config);
void fx_close_other(fixture *other);

/* Fill fx's store with rows of every table: users, courses, enrolments,
 * assignments, extensions, submissions (one of FX_BIG_FILE bytes with NUL
 * bytes, one empty), grades, queries of both kinds with the tutor's
 * fields, replies, materials, sessions, client records and course
 * settings; committed with applied index FX_FILLED_INDEX. */
#define FX_BIG_FILE (5u << 20)
#define FX_FILLED_INDEX 77
void fx_fill_everything(fixture *fx);

/* Every row of every table of the database file at path, read with
 * libsqlite3 and encoded unambiguously (blobs byte for byte), plus the
 * applied index; malloc'd, *len its size. Equal dumps: equal stores. */
char *fx_dump_tables(const char *path, size_t *len);
/* Assert that two database files hold the same rows. */
void fx_expect_same_tables(const char *a, const char *b);

/* The applied index of fx's store. */
uint64_t fx_applied(fixture *fx);

int run_lifecycle_tests(void);
int run_entity_tests(void);
int run_snapshot_tests(void);
int run_reader_tests(void);

#endif

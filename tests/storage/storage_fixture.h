/* SPDX-License-Identifier: MIT */
/*
 * storage_fixture.h: the fixture of the SQLite-specific storage tests
 * (test_storage_sqlite.c, tests/unit/test_snapshot.c): the suite's fixture
 * (tools/storage_suite/suite_fixture.h) over storage_sqlite.so from the
 * build tree with the fake host (fake_target.h; each store in a data dir
 * of its own, default path lms.db in it), plus what only SQLite has:
 * other configs for a store, the database file's path, and a dump of a
 * database file read with libsqlite3 that compares two stores table by
 * table.
 */
#ifndef LMS_TEST_STORAGE_FIXTURE_H
#define LMS_TEST_STORAGE_FIXTURE_H

#include "fake_target.h"
#include "suite_fixture.h"

#include <string.h>

/* The plugin under test, loaded once by fx_load_plugin(). */
extern const struct lms_plugin_descriptor *fx_desc;
extern void *fx_dl;

/* Load storage_sqlite.so and make it the fixture's target; 0 on success. */
int fx_load_plugin(void);
void fx_unload_plugin(void);

/* Close the store (if open) and open it again with config (NULL: the
 * store's default), without migrating. Returns what open() returned; err
 * holds its message. */
int fx_reopen_with(fixture *fx, const char *const *config);
/* The database file of the default config (lms.db in its data dir). */
void fx_db_path(const fixture *fx, char *out, size_t cap);

/* Every row of every table of the database file at path, read with
 * libsqlite3 and encoded unambiguously (blobs byte for byte), plus the
 * applied index; malloc'd, *len its size. Equal dumps: equal stores. */
char *fx_dump_tables(const char *path, size_t *len);
/* Assert that two database files hold the same rows. */
void fx_expect_same_tables(const char *a, const char *b);

int run_lifecycle_tests(void);

#endif

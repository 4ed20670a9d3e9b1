/* SPDX-License-Identifier: MIT */
/*
 * test_storage_sqlite.c: what only storage_sqlite has, beside the
 * backend-neutral conformance suite that test_storage_suite runs against
 * it (tools/storage_suite: transactions, the applied index, every entity,
 * snapshots, readers): the descriptor itself, the one exported symbol,
 * open options and their errors, the database file (WAL mode, its path,
 * bodies kept out of it, background checkpoints), migrations from older
 * schema files (refusing a newer schema, versions 1, 2 and 4 brought up
 * to date) and list re-entry.
 *
 * Some tests look at the database file directly with libsqlite3 (another
 * connection), which is how an operator would check it too.
 */
#include "storage_fixture.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- direct access to the file ---- */

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        fail_msg("sqlite3_open %s: %s", path, sqlite3_errmsg(db));
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s on %s: %s", sql, path, msg);
    sqlite3_close(db);
}

/* Run sql on the file: SQLite's result code (the statement may fail). */
static int sql_try(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        fail_msg("sqlite3_open %s: %s", path, sqlite3_errmsg(db));
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* The first column of the first row of sql, as text. */
static void sql_text(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        fail_msg("%s on %s: %s", sql, path, sqlite3_errmsg(db));
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static uint64_t applied(fixture *fx)
{
    uint64_t index = 12345;
    EXPECT_OK(fx_ops->applied_index(fx->st, &index, &fx->err));
    return index;
}

/* ---- the descriptor ---- */

static void test_descriptor_is_complete(void **state)
{
    (void)state;
    assert_int_equal(fx_desc->magic, LMS_PLUGIN_MAGIC);
    assert_int_equal(fx_desc->abi_major, LMS_ABI_MAJOR);
    assert_int_equal(fx_desc->abi_minor, LMS_ABI_MINOR);
    assert_int_equal(fx_desc->descriptor_size,
                     sizeof(struct lms_plugin_descriptor));
    assert_int_equal(fx_desc->kind, LMS_PLUGIN_STORAGE);
    assert_string_equal(fx_desc->name, "storage_sqlite");
    assert_true(fx_desc->version && fx_desc->version[0]);
    assert_true(fx_desc->description && fx_desc->description[0]);
    assert_int_equal(fx_desc->ops_size, sizeof(struct lms_storage_ops));
    assert_int_equal(fx_ops->size, sizeof(struct lms_storage_ops));
    /* that no op is NULL: the suite's test_ops_table_is_complete */
}

static void test_only_the_entry_symbol_is_exported(void **state)
{
    (void)state;
    const char *internal[] = {"sq_open", "sq_ops", "sq_acquire",
                              "sq_user_put", "sq_migrate"};
    for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++)
        if (dlsym(fx_dl, internal[i]) != NULL)
            fail_msg("internal symbol %s is visible outside the plugin",
                     internal[i]);
}

/* ---- open and its options ---- */

static void test_fresh_store_is_empty_and_in_wal_mode(void **state)
{
    fixture *fx = *state;
    assert_true(fx->version >= 1);
    assert_int_equal(applied(fx), 0);
    uint64_t n = 99;
    EXPECT_OK(fx_ops->user_count(fx->st, &n, &fx->err));
    assert_int_equal(n, 0);

    char path[PATH_MAX + 16], mode[32], version[32];
    fx_db_path(fx, path, sizeof path);
    assert_int_equal(access(path, F_OK), 0); /* default path: lms.db */
    sql_text(path, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    sql_text(path, "PRAGMA user_version", version, sizeof version);
    if (atoi(version) != fx->version)
        fail_msg("user_version is %s, migrate() reported %d", version,
                 fx->version);
    EXPECT_CONTAINS(fx->ctx->last_log, path); /* "opened <path> ..." */
}

static void test_missing_directory_is_a_clear_error(void **state)
{
    fixture *fx = *state;
    const char *config[] = {"path", "/nonexistent-lms-dir/sub/lms.db", NULL};
    EXPECT_CODE(LMS_FAILED_PRECONDITION, fx_reopen_with(fx, config));
    assert_null(fx->st);
    EXPECT_CONTAINS(fx->err.msg, "/nonexistent-lms-dir/sub/lms.db");
    EXPECT_CONTAINS(fx->err.msg, "directory /nonexistent-lms-dir/sub");
    EXPECT_CONTAINS(fx->err.msg, "No such file or directory");
}

static void test_relative_path_is_under_data_dir(void **state)
{
    fixture *fx = *state;
    const char *config[] = {"path", "sub.db", "synchronous", "FULL",
                            "busy_timeout_ms", "100", NULL};
    EXPECT_OK(fx_reopen_with(fx, config));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/sub.db", fx->ctx->data_dir);
    if (access(path, F_OK) != 0)
        fail_msg("relative path sub.db should be created as %s", path);
}

static void test_absolute_path_is_used_as_is(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/abs.db", fx->ctx->data_dir);
    const char *config[] = {"path", path, "synchronous", "off", NULL};
    EXPECT_OK(fx_reopen_with(fx, config));
    assert_int_equal(access(path, F_OK), 0);
    EXPECT_OK(fx_ops->migrate(fx->st, NULL, &fx->err));
}

static void test_bad_options_are_refused_by_name(void **state)
{
    fixture *fx = *state;
    const char *sync[] = {"synchronous", "sometimes", NULL};
    EXPECT_CODE(LMS_INVALID_ARGUMENT, fx_reopen_with(fx, sync));
    EXPECT_CONTAINS(fx->err.msg, "synchronous");
    EXPECT_CONTAINS(fx->err.msg, "sometimes");

    const char *negative[] = {"busy_timeout_ms", "-5", NULL};
    EXPECT_CODE(LMS_INVALID_ARGUMENT, fx_reopen_with(fx, negative));
    EXPECT_CONTAINS(fx->err.msg, "busy_timeout_ms");

    /* A type error from the host's lookup comes back unchanged. */
    const char *text[] = {"busy_timeout_ms", "soon", NULL};
    EXPECT_CODE(LMS_INVALID_ARGUMENT, fx_reopen_with(fx, text));
    EXPECT_CONTAINS(fx->err.msg, "test.yaml:1: storage.busy_timeout_ms");

    const char *empty[] = {"path", "", NULL};
    EXPECT_CODE(LMS_INVALID_ARGUMENT, fx_reopen_with(fx, empty));
    EXPECT_CONTAINS(fx->err.msg, "path");
    assert_null(fx->st);
}

static void test_not_a_database_is_data_loss(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/junk.db", fx->ctx->data_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 512; i++)
        fputs("this is not an SQLite database. ", f);
    fclose(f);
    const char *config[] = {"path", "junk.db", NULL};
    EXPECT_CODE(LMS_DATA_LOSS, fx_reopen_with(fx, config));
    EXPECT_CONTAINS(fx->err.msg, path);
    EXPECT_CONTAINS(fx->err.msg, "not a database");
}

/* ABI 1.2: a body handed to submission_put is not the store's (the
 * suite checks the row); here, that it does not land in the database
 * file either: after a 5 MB submission the file and its WAL stay small. */
static void test_submission_bodies_stay_out_of_the_file(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    size_t size = 5u * 1024 * 1024 + 17;
    unsigned char *big = malloc(size);
    assert_non_null(big);
    memset(big, 0x5a, size);
    lms_assignment a = {.id = 12, .course = "CS101", .title = "t",
                        .description = "", .created_by = "ian"};
    lms_submission x = {.id = 200, .assignment_id = 12, .student = "bob",
                        .file_name = "big", .size = size, .attempt = 1,
                        .data = big};
    fx_begin(fx);
    EXPECT_OK(fx_ops->assignment_put(fx->st, &a, &fx->err));
    EXPECT_OK(fx_ops->submission_put(fx->st, &x, &fx->err));
    fx_commit(fx, 3);
    free(big);
    EXPECT_OK(fx_reopen_with(fx, NULL));
    char db[PATH_MAX + 16], wal[PATH_MAX + 32];
    fx_db_path(fx, db, sizeof db);
    snprintf(wal, sizeof wal, "%s-wal", db);
    struct stat st_db = {0}, st_wal = {0};
    assert_int_equal(stat(db, &st_db), 0);
    stat(wal, &st_wal); /* may be gone after the checkpoint at close */
    if (st_db.st_size + st_wal.st_size > (1 << 20))
        fail_msg("the database holds %lld bytes after a 5 MB submission",
                 (long long)(st_db.st_size + st_wal.st_size));
}

/* ---- persistence and migrations ---- */

/* Threads of this process named name. */
static int threads_named(const char *name)
{
    int n = 0;
    char path[300], comm[64];
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof comm, f) && strncmp(comm, name, strlen(name)) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Checkpoints run on a thread of the instance's own: the pages of a commit
 * that takes the WAL past its threshold (~1000 pages: 2 MB of rows) reach
 * the database file shortly after. */
#define CKPT_ROWS_BYTES (2u << 20)
static void test_checkpoints_happen_in_the_background(void **state)
{
    fixture *fx = *state;
    char db[PATH_MAX];
    fx_db_path(fx, db, sizeof db);
    assert_int_equal(threads_named("sqlite-ckpt"), 1); /* this instance's */
    long long before = file_size(db);
    fx_fill_everything(fx);
    /* one commit of 2 MB of rows (file bodies are the host's) */
    static char hash[2048];
    memset(hash, 'h', sizeof hash - 1);
    fx_begin(fx);
    for (unsigned i = 0; i < CKPT_ROWS_BYTES / (sizeof hash - 1); i++) {
        lms_user u = {.role = LMS_ROLE_STUDENT, .password_hash = hash};
        snprintf(u.name, sizeof u.name, "bulk%u", i);
        EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
    }
    fx_commit(fx, FX_FILLED_INDEX);
    long long later = file_size(db);
    for (int i = 0; i < 500 && later < CKPT_ROWS_BYTES; i++) {
        usleep(10000);
        later = file_size(db);
    }
    assert_true(later >= CKPT_ROWS_BYTES); /* the pages reached the file */
    assert_true(before < CKPT_ROWS_BYTES);
    /* and the store is intact and serves as before */
    assert_int_equal(applied(fx), FX_FILLED_INDEX);
    lms_submission s;
    EXPECT_OK(fx_ops->submission_get(fx->st, 20, 1, &s, &fx->err));
    assert_int_equal(s.size, FX_BIG_FILE);
    /* closing stops it (ASan: nothing leaks); reopening starts one */
    EXPECT_OK(fx_reopen_with(fx, NULL));
    assert_int_equal(threads_named("sqlite-ckpt"), 1);
    assert_int_equal(applied(fx), FX_FILLED_INDEX);
}

static void test_migrate_refuses_newer_schema(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16], sql[64], newer[32], known[32];
    fx_db_path(fx, path, sizeof path);
    fx_ops->close(fx->st);
    fx->st = NULL;
    int future = fx->version + 5;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", future);
    sql_exec(path, sql);

    EXPECT_OK(fx_reopen_with(fx, NULL)); /* open does not migrate */
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->migrate(fx->st, NULL, &fx->err));
    snprintf(newer, sizeof newer, "version %d", future);
    snprintf(known, sizeof known, "version %d", fx->version);
    EXPECT_CONTAINS(fx->err.msg, newer);
    EXPECT_CONTAINS(fx->err.msg, known);
    EXPECT_CONTAINS(fx->err.msg, path);

    /* Nothing else runs against a schema the plugin does not know. */
    lms_user u;
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->user_get(fx->st, "alice", &u, &fx->err));
    char version[16];
    sql_text(path, "PRAGMA user_version", version, sizeof version);
    assert_int_equal(atoi(version), future); /* left as it was */
}

/* Schema version 7 added lmsd's records (ABI 1.4): undo it. */
#define UNDO_VERSION_7 "DROP TABLE record;"

/* Version 6 added lmsd's records about the store (ABI 1.3), and version 5
 * took the file bodies out (ABI 1.2): undo those too, putting the columns
 * of version 4 back. */
#define UNDO_VERSION_5                                                       \
    UNDO_VERSION_7                                                           \
    "DROP TABLE host_meta;"                                                  \
    "ALTER TABLE submissions ADD COLUMN file BLOB NOT NULL DEFAULT x'' "     \
    "CHECK (length(file) = size);"                                           \
    "ALTER TABLE materials ADD COLUMN file BLOB NOT NULL DEFAULT x'' "       \
    "CHECK (length(file) = size);"

/* Take the file back to schema version 1 (what the single-node release
 * wrote) with one question in it. */
static void make_version_1(const char *path)
{
    sql_exec(path,
             UNDO_VERSION_5
             "DROP INDEX sessions_by_user;"
             "ALTER TABLE clients DROP COLUMN answer;"
             "INSERT INTO clients(client_id, seq, status, message, result_id, "
             "updated) VALUES(3, 4, 0, '', 5, 60);"
             "ALTER TABLE queries DROP COLUMN shared;"
             "DROP TABLE course_settings;"
             "DROP INDEX queries_by_student_kind;"
             "ALTER TABLE queries DROP COLUMN kind;"
             "ALTER TABLE queries DROP COLUMN escalated_from;"
             "ALTER TABLE queries DROP COLUMN provider;"
             "ALTER TABLE queries DROP COLUMN model;"
             "ALTER TABLE queries DROP COLUMN prompt_tokens;"
             "ALTER TABLE queries DROP COLUMN completion_tokens;"
             "ALTER TABLE queries DROP COLUMN latency_ms;"
             "INSERT INTO queries(id, course, student, title, body, created, "
             "resolved) VALUES(7, 'CS101', 'alice', 'Old', 'From v1', 70, 0);"
             "PRAGMA user_version = 1;");
}

static void test_migrates_a_version_1_file(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16], version[16];
    assert_true(fx->version >= 2);
    fx_seed_people(fx);
    fx_db_path(fx, path, sizeof path);
    fx_ops->close(fx->st);
    fx->st = NULL;
    make_version_1(path);

    EXPECT_OK(fx_reopen_with(fx, NULL));
    int v = 0;
    EXPECT_OK(fx_ops->migrate(fx->st, &v, &fx->err));
    assert_int_equal(v, fx->version);
    sql_text(path, "PRAGMA user_version", version, sizeof version);
    assert_int_equal(atoi(version), fx->version);
    lms_query q;
    EXPECT_OK(fx_ops->query_get(fx->st, 7, &q, &fx->err));
    assert_string_equal(q.text, "From v1");
    assert_int_equal(q.kind, LMS_QUERY_INSTRUCTOR);
    assert_int_equal(q.escalated_from, 0);
    assert_string_equal(q.provider, "");
    assert_int_equal(q.shared, 0);
    lms_course_settings cs;
    EXPECT_CODE(LMS_NOT_FOUND,
                fx_ops->course_settings_get(fx->st, "CS101", &cs, &fx->err));
    uint32_t n = 9;
    EXPECT_OK(fx_ops->query_count(fx->st, "CS101", "alice",
                                  LMS_QUERY_INSTRUCTOR, 0, 100, &n, &fx->err));
    assert_int_equal(n, 1);
    lms_client_record c; /* an old record: no rest of an answer */
    EXPECT_OK(fx_ops->client_get(fx->st, 3, &c, &fx->err));
    assert_int_equal(c.result_id, 5);
    assert_int_equal(c.answer_len, 0);
}

/* A version-6 file (ABI 1.3, before records) with a user: after migrate
 * its rows are there, the records are empty and work, and the digest of
 * the migrated store is what it was (no records, no rows in the stream). */
static void test_migrates_a_version_6_file_to_records(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16], version[16];
    assert_true(fx->version >= 7);
    fx_seed_people(fx);
    uint8_t before[LMS_SHA256_LEN], after[LMS_SHA256_LEN];
    fx_digest(fx, 1, before);
    fx_db_path(fx, path, sizeof path);
    fx_ops->close(fx->st);
    fx->st = NULL;
    sql_exec(path, UNDO_VERSION_7 "PRAGMA user_version = 6;");
    EXPECT_OK(fx_reopen_with(fx, NULL));
    lms_record r;
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->record_get(fx->st, "k", &r, &fx->err));
    int v = 0;
    EXPECT_OK(fx_ops->migrate(fx->st, &v, &fx->err));
    assert_int_equal(v, fx->version);
    sql_text(path, "PRAGMA user_version", version, sizeof version);
    assert_int_equal(atoi(version), fx->version);
    fx_digest(fx, 1, after);
    assert_memory_equal(before, after, LMS_SHA256_LEN);
    lms_user u;
    EXPECT_OK(fx_ops->user_get(fx->st, "alice", &u, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->record_get(fx->st, "k", &r, &fx->err));
    fx_begin(fx);
    EXPECT_OK(fx_ops->record_put(fx->st, "k", "v", 1, &fx->err));
    fx_commit(fx, 2);
    EXPECT_OK(fx_ops->record_get(fx->st, "k", &r, &fx->err));
    assert_int_equal(r.len, 1);
}

/* The record table's CHECKs hold storage.h's limits for rows that do not
 * come through record_put (an operator's SQL): an empty key, a key with a
 * NUL byte, a longer key or value. */
static void test_record_table_checks_its_rows(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16];
    fx_db_path(fx, path, sizeof path);
    static const char *const bad[] = {
        "INSERT INTO record(key, value) VALUES(x'', x'00')",
        "INSERT INTO record(key, value) VALUES(x'610062', x'00')",
        "INSERT INTO record(key, value) VALUES(zeroblob(256), x'00')",
        "INSERT INTO record(key, value) VALUES(x'61', zeroblob(1048577))",
        "INSERT INTO record(key, value) VALUES('text', x'00')",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sql_try(path, bad[i]) == 0)
            fail_msg("the record table took: %s", bad[i]);
    assert_int_equal(sql_try(path, "INSERT INTO record(key, value) "
                                   "VALUES(x'61', zeroblob(1048576))"), 0);
}

/* A version-2 file (before sharing) with a question and an instructor's
 * reply: after migrate the question is there, and private. */
static void test_migrates_a_version_2_file_to_private_questions(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16], version[16];
    assert_true(fx->version >= 3);
    fx_seed_people(fx);
    fx_db_path(fx, path, sizeof path);
    fx_ops->close(fx->st);
    fx->st = NULL;
    sql_exec(path,
             UNDO_VERSION_5
             "DROP INDEX sessions_by_user;"
             "ALTER TABLE queries DROP COLUMN shared;"
             "ALTER TABLE clients DROP COLUMN answer;"
             "INSERT INTO queries(id, course, student, title, body, created, "
             "resolved, kind) VALUES(7, 'CS101', 'bob', 'More time?', "
             "'My certificate', 70, 0, 0);"
             "INSERT INTO replies(id, query_id, author, body, created) "
             "VALUES(8, 7, 'ian', 'Three more days', 80);"
             "PRAGMA user_version = 2;");

    EXPECT_OK(fx_reopen_with(fx, NULL));
    int v = 0;
    EXPECT_OK(fx_ops->migrate(fx->st, &v, &fx->err));
    assert_int_equal(v, fx->version);
    sql_text(path, "PRAGMA user_version", version, sizeof version);
    assert_int_equal(atoi(version), fx->version);
    lms_query q;
    EXPECT_OK(fx_ops->query_get(fx->st, 7, &q, &fx->err));
    assert_string_equal(q.text, "My certificate");
    if (q.shared != 0)
        fail_msg("a question stored before sharing existed reads as shared "
                 "after migrate; it must stay private");
}

/* A version-4 file holds its file bodies in BLOB columns. Version 5 hands
 * every body to the host's file store (host.h), under its SHA-256, and
 * drops the columns: the rows stay, the bodies are the host's, byte for
 * byte. A body whose size is not its row's is refused (nothing changes). */
static void make_version_4(const char *path, const char *extra)
{
    char sql[4096];
    snprintf(sql, sizeof sql, UNDO_VERSION_5
             "INSERT INTO users(name, full_name, role, password_hash, created) "
             "VALUES('ann', 'Ann', 1, 'h', 1), ('ivy', 'Ivy', 2, 'h', 1);"
             "INSERT INTO courses(code, title, created) VALUES('C1', 'c', 1);"
             "INSERT INTO assignments(id, course, title, description, due, "
             "cutoff, max_points, max_attempts, max_size, hold_grades, "
             "released, created, created_by) VALUES(5, 'C1', 'a', '', 9, 0, "
             "10, 3, 1000, 0, 0, 1, 'ivy');"
             /* SHA-256("hello") and SHA-256("") */
             "INSERT INTO submissions(id, assignment_id, student, file_name, "
             "size, sha256, submitted, late, attempt, file) VALUES(6, 5, "
             "'ann', 'h.txt', 5, x'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', "
             "2, 0, 1, CAST('hello' AS BLOB));"
             "INSERT INTO materials(id, course, title, file_name, size, sha256, "
             "uploaded_by, created, file) VALUES(7, 'C1', 'm', 'e.txt', 0, "
             "x'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', "
             "'ivy', 3, x'');"
             "%s"
             "PRAGMA user_version = 4;", extra);
    sql_exec(path, sql);
}

static void test_migrates_a_version_4_file_bodies_to_the_host(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16], version[16], cols[256];
    fx_db_path(fx, path, sizeof path);
    fx_ops->close(fx->st);
    fx->st = NULL;
    make_version_4(path, "");
    EXPECT_OK(fx_reopen_with(fx, NULL));
    int v = 0;
    EXPECT_OK(fx_ops->migrate(fx->st, &v, &fx->err));
    sql_text(path, "PRAGMA user_version", version, sizeof version);
    assert_int_equal(atoi(version), fx->version);
    sql_text(path, "SELECT group_concat(name) FROM pragma_table_info("
             "'submissions')", cols, sizeof cols);
    if (strstr(cols, "file,") || strcmp(cols + strlen(cols) - 5, ",file") == 0)
        fail_msg("submissions still has a file column: %s", cols);
    lms_submission s;
    EXPECT_OK(fx_ops->submission_get(fx->st, 6, 1, &s, &fx->err));
    assert_null(s.data);
    const struct lms_host *h = fx_host();
    void *f = NULL;
    char body[8] = "";
    EXPECT_OK(h->file_open(fx->ctx, s.sha256, 5, &f, &fx->err));
    EXPECT_OK(h->file_read(f, 0, body, 5, &fx->err));
    EXPECT_OK(h->file_close(f, 0, &fx->err));
    assert_memory_equal(body, "hello", 5);
    lms_material m;
    EXPECT_OK(fx_ops->material_get(fx->st, 7, 1, &m, &fx->err));
    EXPECT_OK(h->file_open(fx->ctx, m.sha256, 0, &f, &fx->err));
    EXPECT_OK(h->file_close(f, 0, &fx->err));
}

static void test_version_5_refuses_a_body_that_is_not_its_name(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16], version[16];
    fx_db_path(fx, path, sizeof path);
    fx_ops->close(fx->st);
    fx->st = NULL;
    /* the body no longer hashes to the row's SHA-256 */
    make_version_4(path, "UPDATE submissions SET file = CAST('jello' AS BLOB);");
    EXPECT_OK(fx_reopen_with(fx, NULL));
    int v = 0;
    EXPECT_CODE(LMS_DATA_LOSS, fx_ops->migrate(fx->st, &v, &fx->err));
    EXPECT_CONTAINS(fx->err.msg, "SHA-256");
    sql_text(path, "PRAGMA user_version", version, sizeof version);
    assert_int_equal(atoi(version), 4); /* nothing changed */
}

/* ---- list callbacks ---- */

typedef struct reentry {
    fixture *fx;
    int depth;
    int inner_rc;
    char inner_msg[512];
    int got_user_rc;
} reentry;

static int reenter(void *arg, const void *row)
{
    reentry *r = arg;
    if (r->depth++ > 0)
        return 1; /* only reached if the plugin failed to refuse */
    lms_err e = {0};
    lms_user u;
    r->got_user_rc = fx_ops->user_get(r->fx->st, "bob", &u, &e);
    r->inner_rc = fx_ops->user_list(r->fx->st, reenter, r, &e);
    snprintf(r->inner_msg, sizeof r->inner_msg, "%s", e.msg);
    (void)row;
    return 1;
}

static void test_list_reentry_is_refused_not_corrupting(void **state)
{
    fixture *fx = *state;
    fx_seed_people(fx);
    reentry r = {.fx = fx};
    EXPECT_OK(fx_ops->user_list(fx->st, reenter, &r, &fx->err));
    assert_int_equal(r.got_user_rc, LMS_OK); /* another op: fine */
    assert_int_equal(r.inner_rc, LMS_FAILED_PRECONDITION);
    EXPECT_CONTAINS(r.inner_msg, "user_list");
    /* And the store is usable again afterwards. */
    uint64_t n = 0;
    EXPECT_OK(fx_ops->user_count(fx->st, &n, &fx->err));
    assert_int_equal(n, 4);
}

int run_lifecycle_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor_is_complete),
        cmocka_unit_test(test_only_the_entry_symbol_is_exported),
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_fresh_store_is_empty_and_in_wal_mode),
        T(test_missing_directory_is_a_clear_error),
        T(test_relative_path_is_under_data_dir),
        T(test_absolute_path_is_used_as_is),
        T(test_bad_options_are_refused_by_name),
        T(test_not_a_database_is_data_loss),
        T(test_submission_bodies_stay_out_of_the_file),
        T(test_checkpoints_happen_in_the_background),
        T(test_migrate_refuses_newer_schema),
        T(test_migrates_a_version_1_file),
        T(test_migrates_a_version_2_file_to_private_questions),
        T(test_migrates_a_version_4_file_bodies_to_the_host),
        T(test_migrates_a_version_6_file_to_records),
        T(test_record_table_checks_its_rows),
        T(test_version_5_refuses_a_body_that_is_not_its_name),
        T(test_list_reentry_is_refused_not_corrupting),
#undef T
    };
    return cmocka_run_group_tests_name("storage_sqlite", tests,
                                       NULL, NULL);
}

int main(void)
{
    if (fx_load_plugin() != 0)
        return 1;
    int failed = run_lifecycle_tests();
    fx_unload_plugin();
    return failed ? 1 : 0;
}

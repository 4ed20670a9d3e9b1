/* SPDX-License-Identifier: MIT */
/*
 * sqlite_schema.c: the storage_sqlite schema and its migrations.
 *
 * The schema version is SQLite's PRAGMA user_version (0 in a new file).
 * sq_migrations[i] takes a database from version i to i + 1; migrate()
 * applies the missing steps in order, each in its own transaction together
 * with the new user_version, so a crash leaves the file at some whole
 * version. A file whose version is newer than the last step is refused:
 * this plugin does not know what the newer one changed.
 *
 * Never edit a released step; append a new one.
 *
 * Notes on the tables:
 *  - STRICT tables, so a value of the wrong type is an error, not stored.
 *  - Names and codes compare with SQLite's default BINARY collation (byte
 *    order), which is what every backend must use for "ordered by name".
 *  - uint64 ids are stored as their int64 bit pattern; lmsd derives them
 *    from log indexes, which stay far below 2^63.
 *  - File BLOBs are the last column of their row: reading a column that
 *    follows a large blob would walk the blob's overflow pages.
 *  - An index exists for every filter of a list call, ending in the
 *    column the list is ordered by.
 */
#include "sqlite_internal.h"

#include <stddef.h>

#include <stdio.h>

static const char SQ_SCHEMA_1[] =
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY,"
    "  full_name TEXT NOT NULL,"
    "  role INTEGER NOT NULL,"
    "  password_hash TEXT NOT NULL,"
    "  created INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE courses ("
    "  code TEXT PRIMARY KEY,"
    "  title TEXT NOT NULL,"
    "  created INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE enrolments ("
    "  course TEXT NOT NULL REFERENCES courses(code),"
    "  user TEXT NOT NULL REFERENCES users(name),"
    "  role INTEGER NOT NULL,"
    "  PRIMARY KEY (course, user)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX enrolments_by_user ON enrolments(user, course);"

    "CREATE TABLE assignments ("
    "  id INTEGER PRIMARY KEY,"
    "  course TEXT NOT NULL REFERENCES courses(code),"
    "  title TEXT NOT NULL,"
    "  description TEXT NOT NULL,"
    "  due INTEGER NOT NULL,"
    "  cutoff INTEGER NOT NULL,"
    "  max_points REAL NOT NULL,"
    "  max_attempts INTEGER NOT NULL,"
    "  max_size INTEGER NOT NULL,"
    "  hold_grades INTEGER NOT NULL,"
    "  released INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX assignments_by_course ON assignments(course, id);"

    "CREATE TABLE extensions ("
    "  assignment_id INTEGER NOT NULL REFERENCES assignments(id),"
    "  student TEXT NOT NULL REFERENCES users(name),"
    "  until INTEGER NOT NULL,"
    "  PRIMARY KEY (assignment_id, student)"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE submissions ("
    "  id INTEGER PRIMARY KEY,"
    "  assignment_id INTEGER NOT NULL REFERENCES assignments(id),"
    "  student TEXT NOT NULL REFERENCES users(name),"
    "  file_name TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),"
    "  submitted INTEGER NOT NULL,"
    "  late INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  file BLOB NOT NULL CHECK (length(file) = size),"
    "  UNIQUE (assignment_id, student, attempt)"
    ") STRICT;"
    "CREATE INDEX submissions_by_assignment ON submissions(assignment_id, id);"
    "CREATE INDEX submissions_by_student ON submissions(student, id);"

    "CREATE TABLE grades ("
    "  submission_id INTEGER PRIMARY KEY REFERENCES submissions(id),"
    "  grade REAL NOT NULL,"
    "  feedback TEXT NOT NULL,"
    "  grader TEXT NOT NULL,"
    "  graded INTEGER NOT NULL"
    ") STRICT;"

    "CREATE TABLE queries ("
    "  id INTEGER PRIMARY KEY,"
    "  course TEXT NOT NULL REFERENCES courses(code),"
    "  student TEXT NOT NULL REFERENCES users(name),"
    "  title TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  resolved INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX queries_by_course ON queries(course, id);"
    "CREATE INDEX queries_by_student ON queries(student, id);"

    "CREATE TABLE replies ("
    "  id INTEGER PRIMARY KEY,"
    "  query_id INTEGER NOT NULL REFERENCES queries(id),"
    "  author TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX replies_by_query ON replies(query_id, id);"

    "CREATE TABLE materials ("
    "  id INTEGER PRIMARY KEY,"
    "  course TEXT NOT NULL REFERENCES courses(code),"
    "  title TEXT NOT NULL,"
    "  file_name TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),"
    "  uploaded_by TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  file BLOB NOT NULL CHECK (length(file) = size)"
    ") STRICT;"
    "CREATE INDEX materials_by_course ON materials(course, id);"

    /* No foreign key to users: a session is a cache of a login, and must
     * not stand in the way of anything done to its user. */
    "CREATE TABLE sessions ("
    "  token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),"
    "  user TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX sessions_by_expiry ON sessions(expires);"

    "CREATE TABLE clients ("
    "  client_id INTEGER PRIMARY KEY,"
    "  seq INTEGER NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  message TEXT NOT NULL,"
    "  result_id INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX clients_by_updated ON clients(updated);";

/* Version 2, the tutor: a query's kind (to the instructors or an exchange
 * with the tutor), the exchange it was escalated from, how the tutor made
 * its answer; per-course tutor settings. Rows of version 1 read as
 * questions to the instructors. */
static const char SQ_SCHEMA_2[] =
    "ALTER TABLE queries ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE queries ADD COLUMN escalated_from INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE queries ADD COLUMN provider TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE queries ADD COLUMN model TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE queries ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE queries ADD COLUMN completion_tokens INTEGER NOT NULL "
    "  DEFAULT 0;"
    "ALTER TABLE queries ADD COLUMN latency_ms INTEGER NOT NULL DEFAULT 0;"
    /* query_count: a student's questions of a kind in a course, by time */
    "CREATE INDEX queries_by_student_kind "
    "  ON queries(student, course, kind, created);"

    "CREATE TABLE course_settings ("
    "  course TEXT PRIMARY KEY REFERENCES courses(code),"
    "  system_prompt TEXT NOT NULL,"
    "  tutor_daily_limit INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;";

/* Version 3: a client's dedup record keeps the whole answer (an import's
 * per-row report, lms.RecordedRows; rows of version 2 have none), and
 * sharing: a question to the instructors that an instructor shared with
 * the course (its students and the tutor see it). Questions of earlier
 * versions stay private: nobody chose to share them. */
static const char SQ_SCHEMA_3[] =
    "ALTER TABLE clients ADD COLUMN answer BLOB NOT NULL DEFAULT x'';"
    "ALTER TABLE queries ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;";

/* Version 4: a user's sessions by age (session_list_user, which the cap
 * on sessions per user walks at every login). */
static const char SQ_SCHEMA_4[] =
    "CREATE INDEX sessions_by_user ON sessions(user, created, token_hash);";

/* Version 5 (storage ABI 1.2): file bodies live in the host's file store,
 * named by their SHA-256, not in the database. sq_bodies_out first hands
 * every body to the host (stored durably before this step commits); the
 * columns then go (their CHECK constraints with them). */
static const char SQ_SCHEMA_5[] =
    "ALTER TABLE submissions DROP COLUMN file;"
    "ALTER TABLE materials DROP COLUMN file;";

/* Hand table's bodies to the host's file store. */
static int sq_table_bodies_out(sq_inst *s, const char *table, lms_err *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT sha256, size, file FROM %s", table);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq_fail(s, src, err, "migrate %s: reading the files of %s",
                       s->path, table);
    int rc = LMS_OK;
    long moved = 0;
    while (rc == LMS_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        uint8_t sha[LMS_SHA256_LEN];
        sq_col_sha(st, 0, sha);
        uint64_t size = (uint64_t)sqlite3_column_int64(st, 1);
        const void *body = sqlite3_column_blob(st, 2);
        if ((uint64_t)sqlite3_column_bytes(st, 2) != size) {
            rc = lms_err_set(err, LMS_DATA_LOSS, "migrate %s: a file of %s "
                             "is not the size its row says", s->path, table);
            break;
        }
        if (s->host->size < offsetof(struct lms_host, file_close) +
                                sizeof s->host->file_close ||
            !s->host->file_create || !s->host->file_write ||
            !s->host->file_close) {
            rc = lms_err_set(err, LMS_FAILED_PRECONDITION,
                             "migrate %s: schema version 5 moves the files "
                             "to the host's file store, and this host has "
                             "none (lmsd older than plugin ABI 1.2)", s->path);
            break;
        }
        void *f = NULL;
        rc = s->host->file_create(s->ctx, sha, size, &f, err);
        if (rc == LMS_OK && size)
            rc = s->host->file_write(f, body, (size_t)size, err);
        if (f) {
            int crc = s->host->file_close(f, rc == LMS_OK, err);
            if (rc == LMS_OK)
                rc = crc;
        }
        moved++;
    }
    if (rc == LMS_OK && src != SQLITE_DONE)
        rc = sq_fail(s, src, err, "migrate %s: reading the files of %s",
                     s->path, table);
    sqlite3_finalize(st);
    if (rc == LMS_OK && moved)
        sq_log(s, LMS_LOG_INFO, "migrate %s: %ld file(s) of %s moved to the "
               "file store", s->path, moved, table);
    return rc;
}

static int sq_bodies_out(sq_inst *s, lms_err *err)
{
    int rc = sq_table_bodies_out(s, "submissions", err);
    return rc == LMS_OK ? sq_table_bodies_out(s, "materials", err) : rc;
}

/* Version 6 (storage ABI 1.3): lmsd's own records about the store
 * (meta_get/meta_put), apart from the plugin's meta and out of snapshots. */
static const char SQ_SCHEMA_6[] =
    "CREATE TABLE host_meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ") STRICT, WITHOUT ROWID;";

/* Version 7 (storage ABI 1.4): lmsd's records, opaque values under
 * byte-string keys. The key is a BLOB (a key need not be UTF-8; BLOBs
 * compare with memcmp, the order storage.h fixes); the CHECKs hold what
 * the plugin checks before it writes, for rows that come another way. */
static const char SQ_SCHEMA_7[] =
    "CREATE TABLE record ("
    "  key BLOB NOT NULL PRIMARY KEY"
    "    CHECK (length(key) BETWEEN 1 AND 255 AND instr(key, x'00') = 0),"
    "  value BLOB NOT NULL CHECK (length(value) <= 1048576)"
    ") STRICT, WITHOUT ROWID;";
_Static_assert(LMS_RECORD_KEY_MAX == 255 && LMS_RECORD_VALUE_MAX == 1048576,
               "schema version 7's CHECKs spell storage.h's limits");

/* sq_migrations[i] takes the schema from version i to version i + 1,
 * after sq_pre_steps[i] (if any) ran in the same transaction. */
static const char *const sq_migrations[] = {
    SQ_SCHEMA_1,
    SQ_SCHEMA_2,
    SQ_SCHEMA_3,
    SQ_SCHEMA_4,
    SQ_SCHEMA_5,
    SQ_SCHEMA_6,
    SQ_SCHEMA_7,
};
static int (*const sq_pre_steps[])(sq_inst *s, lms_err *err) = {
    NULL, NULL, NULL, NULL, sq_bodies_out, NULL, NULL,
};
_Static_assert(sizeof sq_pre_steps / sizeof sq_pre_steps[0] ==
                   sizeof sq_migrations / sizeof sq_migrations[0],
               "a pre-step slot for every migration");

const int SQ_SCHEMA_VERSION =
    (int)(sizeof sq_migrations / sizeof sq_migrations[0]);

static const sq_sql SQL_SCHEMA_GET = {SQ_SCHEMA_GET, 0, "migrate",
                                      "PRAGMA user_version"};

/* The schema version stored in the file (0 for a new file). */
int sq_schema_version(sq_inst *s, int *version, lms_err *err)
{
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_SCHEMA_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder none = sq_binder_of(st);
    rc = sq_step_row(s, &SQL_SCHEMA_GET, &none, err);
    if (rc == LMS_OK)
        *version = sqlite3_column_int(st, 0);
    else if (rc == LMS_NOT_FOUND)
        rc = sq_fail(s, SQLITE_ERROR, err, "reading the schema version");
    sq_release(st);
    return rc;
}

/* Run sql (several statements, no parameters); on failure fill err with
 * "migrate <path>: <what>: <sqlite message>". */
static int sq_exec(sq_inst *s, const char *sql, const char *what,
                   lms_err *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, err, "migrate %s: %s", s->path, what);
    return LMS_OK;
}

static int sq_refuse_newer(sq_inst *s, int version, lms_err *err)
{
    return lms_err_set(err, LMS_FAILED_PRECONDITION,
                       "migrate %s: the database has schema version %d, "
                       "newer than version %d, the latest this %s %s "
                       "knows; use a newer plugin",
                       s->path, version, SQ_SCHEMA_VERSION, SQ_PLUGIN_NAME,
                       SQ_PLUGIN_VERSION);
}

/*
 * One transaction of migrate(): read the version under the write lock
 * (another process may have migrated meanwhile) and apply the next step.
 * Sets *done when the schema is current. The transaction is always ended.
 */
static int sq_migrate_step(sq_inst *s, int *done, lms_err *err)
{
    int version = 0;
    int rc = sq_exec(s, "BEGIN IMMEDIATE", "starting a transaction", err);
    if (rc != LMS_OK)
        return rc;
    rc = sq_schema_version(s, &version, err);
    if (rc == LMS_OK && version > SQ_SCHEMA_VERSION)
        rc = sq_refuse_newer(s, version, err);
    if (rc == LMS_OK && version < SQ_SCHEMA_VERSION) {
        char step[96];
        snprintf(step, sizeof step, "step %d -> %d", version, version + 1);
        if (sq_pre_steps[version])
            rc = sq_pre_steps[version](s, err);
        if (rc == LMS_OK)
            rc = sq_exec(s, sq_migrations[version], step, err);
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version + 1);
        if (rc == LMS_OK)
            rc = sq_exec(s, bump, step, err);
    }
    if (rc == LMS_OK)
        rc = sq_exec(s, "COMMIT", "committing", err);
    if (rc != LMS_OK) {
        /* err already holds the first failure's message. */
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (version < SQ_SCHEMA_VERSION)
        sq_log(s, LMS_LOG_INFO, "migrated %s to schema version %d", s->path,
               version + 1);
    *done = version >= SQ_SCHEMA_VERSION;
    return LMS_OK;
}

/*
 * storage ops migrate(): bring the schema to SQ_SCHEMA_VERSION, one step
 * per transaction; idempotent. Refuses (FAILED_PRECONDITION, naming both
 * versions) a database newer than the plugin, and refuses to run inside an
 * open transaction.
 */
int sq_migrate(void *inst, int *version, lms_err *err)
{
    sq_inst *s = inst;
    if (!sqlite3_get_autocommit(s->db))
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "migrate: a transaction is open");
    int done = 0;
    while (!done) {
        int rc = sq_migrate_step(s, &done, err);
        if (rc != LMS_OK) {
            s->migrated = 0;
            return rc;
        }
    }
    s->migrated = 1;
    if (version)
        *version = SQ_SCHEMA_VERSION;
    return LMS_OK;
}

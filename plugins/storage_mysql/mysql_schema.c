/* SPDX-License-Identifier: MIT */
/*
 * mysql_schema.c: the storage_mysql schema and its migrations.
 *
 * The schema version is the row 'schema_version' of the meta table (0
 * while the table does not exist). my_migrations[i] takes a database from
 * version i to i + 1. This backend's history starts at its own version 1,
 * which is storage_sqlite's version 5: the same tables and columns, file
 * bodies not in the database (they live in lmsd's file store behind
 * host->file_*).
 *
 * MariaDB commits DDL implicitly, so a step cannot share a transaction
 * with its version bump: every statement of a step must be safe to run
 * again (CREATE TABLE IF NOT EXISTS, ...), the version is written after
 * the step's last statement, and a crash in between only repeats the
 * step. Concurrent migrate() calls (two lmsd on one database by mistake)
 * take turns on a named lock. A database whose version is newer than the
 * last step is refused: this plugin does not know what the newer one
 * changed. Never edit a released step; append a new one.
 *
 * Notes on the tables:
 *  - InnoDB (transactions, foreign keys), utf8mb4 with the collation
 *    utf8mb4_nopad_bin for every text: bytewise order, like SQLite's
 *    BINARY, and no trailing-space padding in comparisons ("a" and "a "
 *    are two names), which is what "ordered by name" means for every
 *    backend.
 *  - Names and codes are VARCHAR(64), titles VARCHAR(200), file names
 *    VARCHAR(255) (characters, so LMS_*_MAX bytes always fit); long texts
 *    LONGTEXT, hashes VARBINARY(32) checked to 32 bytes, a client's answer
 *    LONGBLOB; ids and indexes BIGINT UNSIGNED, times BIGINT, points and
 *    grades DOUBLE.
 *  - InnoDB ignores REFERENCES written on a column, so every foreign key
 *    is a table constraint. sessions has none: a session is a cache of a
 *    login and must not stand in the way of anything done to its user.
 *  - An index exists for every filter of a list call, ending in the
 *    column the list is ordered by.
 */
#include "mysql_internal.h"

#include <errmsg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MY_TABLE_OPTS \
    " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin"
#define NAME "VARCHAR(64) NOT NULL"
#define TITLE "VARCHAR(200) NOT NULL"
#define ID "BIGINT UNSIGNED NOT NULL"
#define TIME "BIGINT NOT NULL"
#define INT "INT NOT NULL"
#define UINT "INT UNSIGNED NOT NULL"
#define SHA(col) "VARBINARY(32) NOT NULL CHECK (LENGTH(" col ") = 32)"

/* Version 1: the LMS of storage_sqlite's version 5. */
static const char *const MY_SCHEMA_1[] = {
    "CREATE TABLE IF NOT EXISTS meta ("
    "  `key` VARCHAR(64) NOT NULL PRIMARY KEY,"
    "  value BIGINT UNSIGNED NOT NULL"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS users ("
    "  name " NAME " PRIMARY KEY,"
    "  full_name " TITLE ","
    "  role " INT ","
    "  password_hash LONGTEXT NOT NULL,"
    "  created " TIME
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS courses ("
    "  code " NAME " PRIMARY KEY,"
    "  title " TITLE ","
    "  created " TIME
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS enrolments ("
    "  course " NAME ","
    "  `user` " NAME ","
    "  role " INT ","
    "  PRIMARY KEY (course, `user`),"
    "  KEY enrolments_by_user (`user`, course),"
    "  CONSTRAINT enrolments_course FOREIGN KEY (course) "
    "    REFERENCES courses(code),"
    "  CONSTRAINT enrolments_user FOREIGN KEY (`user`) REFERENCES users(name)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS assignments ("
    "  id " ID " PRIMARY KEY,"
    "  course " NAME ","
    "  title " TITLE ","
    "  description LONGTEXT NOT NULL,"
    "  due " TIME ","
    "  cutoff " TIME ","
    "  max_points DOUBLE NOT NULL,"
    "  max_attempts " UINT ","
    "  max_size " ID ","
    "  hold_grades " INT ","
    "  released " INT ","
    "  created " TIME ","
    "  created_by " NAME ","
    "  KEY assignments_by_course (course, id),"
    "  CONSTRAINT assignments_course FOREIGN KEY (course) "
    "    REFERENCES courses(code)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS extensions ("
    "  assignment_id " ID ","
    "  student " NAME ","
    "  `until` " TIME ","
    "  PRIMARY KEY (assignment_id, student),"
    "  CONSTRAINT extensions_assignment FOREIGN KEY (assignment_id) "
    "    REFERENCES assignments(id),"
    "  CONSTRAINT extensions_student FOREIGN KEY (student) "
    "    REFERENCES users(name)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS submissions ("
    "  id " ID " PRIMARY KEY,"
    "  assignment_id " ID ","
    "  student " NAME ","
    "  file_name VARCHAR(255) NOT NULL,"
    "  size " ID ","
    "  sha256 " SHA("sha256") ","
    "  submitted " TIME ","
    "  late " INT ","
    "  attempt " UINT ","
    "  UNIQUE KEY submissions_attempt (assignment_id, student, attempt),"
    "  KEY submissions_by_assignment (assignment_id, id),"
    "  KEY submissions_by_student (student, id),"
    "  CONSTRAINT submissions_assignment FOREIGN KEY (assignment_id) "
    "    REFERENCES assignments(id),"
    "  CONSTRAINT submissions_student FOREIGN KEY (student) "
    "    REFERENCES users(name)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS grades ("
    "  submission_id " ID " PRIMARY KEY,"
    "  grade DOUBLE NOT NULL,"
    "  feedback LONGTEXT NOT NULL,"
    "  grader " NAME ","
    "  graded " TIME ","
    "  CONSTRAINT grades_submission FOREIGN KEY (submission_id) "
    "    REFERENCES submissions(id)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS queries ("
    "  id " ID " PRIMARY KEY,"
    "  course " NAME ","
    "  student " NAME ","
    "  title " TITLE ","
    "  body LONGTEXT NOT NULL,"
    "  created " TIME ","
    "  resolved " INT ","
    "  kind " INT ","
    "  escalated_from " ID ","
    "  provider " NAME ","
    "  model " TITLE ","
    "  prompt_tokens " UINT ","
    "  completion_tokens " UINT ","
    "  latency_ms " UINT ","
    "  shared " INT ","
    "  KEY queries_by_course (course, id),"
    "  KEY queries_by_student (student, id),"
    "  KEY queries_by_student_kind (student, course, kind, created),"
    "  CONSTRAINT queries_course FOREIGN KEY (course) "
    "    REFERENCES courses(code),"
    "  CONSTRAINT queries_student FOREIGN KEY (student) "
    "    REFERENCES users(name)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS replies ("
    "  id " ID " PRIMARY KEY,"
    "  query_id " ID ","
    "  author " NAME ","
    "  body LONGTEXT NOT NULL,"
    "  created " TIME ","
    "  KEY replies_by_query (query_id, id),"
    "  CONSTRAINT replies_query FOREIGN KEY (query_id) "
    "    REFERENCES queries(id)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS materials ("
    "  id " ID " PRIMARY KEY,"
    "  course " NAME ","
    "  title " TITLE ","
    "  file_name VARCHAR(255) NOT NULL,"
    "  size " ID ","
    "  sha256 " SHA("sha256") ","
    "  uploaded_by " NAME ","
    "  created " TIME ","
    "  KEY materials_by_course (course, id),"
    "  CONSTRAINT materials_course FOREIGN KEY (course) "
    "    REFERENCES courses(code)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS sessions ("
    "  token_hash " SHA("token_hash") ","
    "  `user` " NAME ","
    "  created " TIME ","
    "  expires " TIME ","
    "  PRIMARY KEY (token_hash),"
    "  KEY sessions_by_expiry (expires),"
    "  KEY sessions_by_user (`user`, created, token_hash)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS clients ("
    "  client_id " ID " PRIMARY KEY,"
    "  seq " ID ","
    "  status " INT ","
    "  message VARCHAR(255) NOT NULL,"
    "  result_id " ID ","
    "  updated " TIME ","
    "  answer LONGBLOB NOT NULL,"
    "  KEY clients_by_updated (updated)"
    ")" MY_TABLE_OPTS,

    "CREATE TABLE IF NOT EXISTS course_settings ("
    "  course " NAME " PRIMARY KEY,"
    "  system_prompt LONGTEXT NOT NULL,"
    "  tutor_daily_limit " UINT ","
    "  CONSTRAINT course_settings_course FOREIGN KEY (course) "
    "    REFERENCES courses(code)"
    ")" MY_TABLE_OPTS,
    NULL,
};

/* Version 2 (storage ABI 1.3): lmsd's own records about the store
 * (meta_get/meta_put), apart from the plugin's meta and out of snapshots. */
static const char *const MY_SCHEMA_2[] = {
    "CREATE TABLE IF NOT EXISTS host_meta ("
    "  `key` VARCHAR(64) NOT NULL PRIMARY KEY,"
    "  value " TITLE
    ")" MY_TABLE_OPTS,
    NULL,
};

/* Version 3 (storage ABI 1.4): lmsd's records, opaque values under
 * byte-string keys. VARBINARY compares bytewise without padding, the
 * shorter first on a tie: the order of storage_sqlite's BLOB key (a key
 * need not be UTF-8, so not a utf8mb4 column); MEDIUMBLOB holds the
 * largest value (1 MiB) with room to spare. The CHECKs hold what the
 * plugin checks before it writes, for rows that come another way. */
static const char *const MY_SCHEMA_3[] = {
    "CREATE TABLE IF NOT EXISTS record ("
    "  `key` VARBINARY(255) NOT NULL PRIMARY KEY"
    "    CHECK (LENGTH(`key`) >= 1 AND LOCATE(X'00', `key`) = 0),"
    "  value MEDIUMBLOB NOT NULL CHECK (LENGTH(value) <= 1048576)"
    ")" MY_TABLE_OPTS,
    NULL,
};
_Static_assert(LMS_RECORD_KEY_MAX == 255 && LMS_RECORD_VALUE_MAX == 1048576,
               "schema version 3 spells storage.h's limits");

/* my_migrations[i] takes the schema from version i to i + 1. */
static const char *const *const my_migrations[] = {
    MY_SCHEMA_1,
    MY_SCHEMA_2,
    MY_SCHEMA_3,
};

const int MY_SCHEMA_VERSION =
    (int)(sizeof my_migrations / sizeof my_migrations[0]);

/* One unsigned number (or *found = 0 for no row) from a query. */
static int my_scalar(my_inst *s, const char *sql, const char *what,
                     unsigned long long *out, int *found, lms_err *err)
{
    if (s->db == NULL)
        return my_fail(s, CR_SERVER_GONE_ERROR, "no connection", err, "%s",
                       what);
    if (mysql_real_query(s->db, sql, (unsigned long)strlen(sql)))
        return my_fail_db(s, err, "%s", what);
    MYSQL_RES *r = mysql_store_result(s->db);
    if (r == NULL)
        return my_fail_db(s, err, "%s", what);
    MYSQL_ROW row = mysql_fetch_row(r);
    *found = row != NULL && row[0] != NULL;
    if (*found)
        *out = strtoull(row[0], NULL, 10);
    mysql_free_result(r);
    return LMS_OK;
}

/* The schema version stored in the database (0 for a new one). */
int my_schema_version(my_inst *s, int *version, lms_err *err)
{
    unsigned long long n = 0, v = 0;
    int found = 0;
    int rc = my_scalar(s, "SELECT COUNT(*) FROM information_schema.tables "
                          "WHERE table_schema = DATABASE() AND "
                          "table_name = 'meta'",
                       "reading the schema version", &n, &found, err);
    if (rc != LMS_OK || n == 0) {
        *version = 0;
        return rc;
    }
    rc = my_scalar(s, "SELECT value FROM meta WHERE `key` = "
                      "'schema_version'",
                   "reading the schema version", &v, &found, err);
    if (rc == LMS_OK)
        *version = found ? (v > 1000000 ? 1000000 : (int)v) : 0;
    return rc;
}

static int my_refuse_newer(my_inst *s, int version, lms_err *err)
{
    return lms_err_set(err, LMS_FAILED_PRECONDITION,
                       "migrate %s: the database has schema version %d, "
                       "newer than version %d, the latest this %s %s "
                       "knows; use a newer plugin",
                       s->cfg->where, version, MY_SCHEMA_VERSION,
                       MY_PLUGIN_NAME, MY_PLUGIN_VERSION);
}

/* Apply the missing steps; the caller holds the migration lock. */
static int my_migrate_locked(my_inst *s, lms_err *err)
{
    int version = 0;
    int rc = my_schema_version(s, &version, err);
    if (rc != LMS_OK)
        return rc;
    if (version > MY_SCHEMA_VERSION)
        return my_refuse_newer(s, version, err);
    for (; version < MY_SCHEMA_VERSION; version++) {
        char step[64], bump[160];
        snprintf(step, sizeof step, "migrate: step %d -> %d", version,
                 version + 1);
        for (const char *const *q = my_migrations[version]; *q; q++) {
            rc = my_query(s, *q, step, err);
            if (rc != LMS_OK)
                return rc;
        }
        snprintf(bump, sizeof bump, "INSERT INTO meta(`key`, value) "
                 "VALUES('schema_version', %d) ON DUPLICATE KEY UPDATE "
                 "value = VALUES(value)", version + 1);
        rc = my_query(s, bump, step, err);
        if (rc != LMS_OK)
            return rc;
        my_log(s, LMS_LOG_INFO, "migrated %s to schema version %d",
               s->cfg->where, version + 1);
    }
    return LMS_OK;
}

/*
 * storage ops migrate(): bring the schema to MY_SCHEMA_VERSION;
 * idempotent. Refuses (FAILED_PRECONDITION, naming both versions) a
 * database newer than the plugin, and refuses to run inside an open
 * transaction (MariaDB would commit it).
 */
int my_migrate(void *inst, int *version, lms_err *err)
{
    my_inst *s = inst;
    if (s->in_tx)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "migrate: a transaction is open");
    if (s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "migrate: a reader cannot write");
    int rc = LMS_OK;
    if (s->lost || s->db == NULL)
        rc = my_connect(s, err);
    unsigned long long got = 0;
    int found = 0;
    if (rc == LMS_OK)
        rc = my_scalar(s, "SELECT GET_LOCK(LEFT(CONCAT('lms_migrate:', "
                          "DATABASE()), 64), 60)",
                       "migrate: taking the migration lock", &got, &found,
                       err);
    if (rc == LMS_OK && (!found || got != 1))
        rc = lms_err_set(err, LMS_UNAVAILABLE, "migrate %s: another "
                         "connection has held the migration lock for 60 s; "
                         "is another lmsd migrating this database?",
                         s->cfg->where);
    if (rc != LMS_OK) {
        s->migrated = 0;
        return rc;
    }
    my_cache_clear(s); /* the schema may change under it */
    rc = my_migrate_locked(s, err);
    my_cache_clear(s);
    if (s->db && !s->lost)
        my_scalar(s, "SELECT RELEASE_LOCK(LEFT(CONCAT('lms_migrate:', "
                     "DATABASE()), 64))", "migrate", &got, &found, NULL);
    s->migrated = rc == LMS_OK;
    if (rc == LMS_OK && version)
        *version = MY_SCHEMA_VERSION;
    return rc;
}

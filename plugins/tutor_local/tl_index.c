/* SPDX-License-Identifier: MIT */
/*
 * tl_index.c: the SQLite database that holds tutor_local's index.
 *
 * The index is derived state: lmsd offers every course document again
 * through learn() after each start, so every instance starts from an empty
 * index. init() deletes the file at index_path (only if it is a
 * tutor_local index: the application_id in its header says so; any other
 * file is refused, never overwritten) and creates it afresh. Deleting
 * rather than emptying it in place also means a reloaded instance never
 * disturbs the instance it replaces: the old one keeps reading its own,
 * now unlinked, file until shutdown. Because nothing in the file needs to
 * survive a crash, it runs without fsync (synchronous=OFF), with the
 * rollback journal in memory and an exclusive lock.
 *
 * Layout: courses(tab, code, npass, ntok) numbers each course and counts
 * its passages and their tokens; terms(tab, term, df) counts the passages
 * of a course that contain each stem (tl_stats.c); docs(seq, kind, id, tab)
 * numbers each learned document and remembers its course; each course has
 * one FTS5 table p<tab>(title, body, kind, doc_id, ordinal, lead) with the
 * last four UNINDEXED. A passage's rowid packs its document's seq, its
 * ordinal and its length (tl_internal.h), so a document's passages are
 * one rowid range: replacing a document deletes that range. One table per
 * course keeps the statistics that ranking uses per course, and makes
 * searching another course's documents impossible by construction.
 */
#include "tl_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "TLIX" in the header's application_id field (offset 68, big-endian). */
#define TL_APP_ID 0x544C4958
#define TL_SCHEMA_VERSION 1

static const char *const stmt_sql[TL_STMT_COUNT] = {
    [TL_BEGIN] = "BEGIN",
    [TL_COMMIT] = "COMMIT",
    [TL_ROLLBACK] = "ROLLBACK",
    [TL_COURSE_GET] = "SELECT tab FROM courses WHERE code = ?1",
    [TL_COURSE_ADD] = "INSERT INTO courses(code) VALUES(?1)",
    [TL_DOC_GET] = "SELECT seq, tab FROM docs WHERE kind = ?1 AND id = ?2",
    [TL_DOC_ADD] = "INSERT INTO docs(kind, id, tab) VALUES(?1, ?2, ?3)",
    [TL_DOC_MOVE] = "UPDATE docs SET tab = ?2 WHERE seq = ?1",
    [TL_TERM_ADD] = "INSERT INTO terms(tab, term, df) VALUES(?1, ?2, ?3) "
                    "ON CONFLICT(tab, term) DO UPDATE SET df = df + "
                    "excluded.df",
    [TL_TERM_GET] = "SELECT df FROM terms WHERE tab = ?1 AND term = ?2",
    [TL_STATS_ADD] = "UPDATE courses SET npass = npass + ?2, "
                     "ntok = ntok + ?3 WHERE tab = ?1",
    [TL_STATS_GET] = "SELECT npass, ntok FROM courses WHERE tab = ?1",
};

static const char schema_sql[] =
    "PRAGMA application_id = 1414285656;" /* TL_APP_ID */
    "PRAGMA user_version = 1;"            /* TL_SCHEMA_VERSION */
    "CREATE TABLE courses(tab INTEGER PRIMARY KEY, code TEXT NOT NULL "
    "UNIQUE, npass INTEGER NOT NULL DEFAULT 0, ntok INTEGER NOT NULL "
    "DEFAULT 0);"
    "CREATE TABLE terms(tab INTEGER NOT NULL, term TEXT NOT NULL, "
    "df INTEGER NOT NULL, PRIMARY KEY(tab, term)) WITHOUT ROWID;"
    "CREATE TABLE docs(seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
    "id INTEGER NOT NULL, tab INTEGER NOT NULL, UNIQUE(kind, id));";

int tl_status_of(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return LMS_OK;
    case SQLITE_NOMEM:
    case SQLITE_FULL:
    case SQLITE_TOOBIG:
        return LMS_RESOURCE_EXHAUSTED;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return LMS_UNAVAILABLE;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return LMS_FAILED_PRECONDITION;
    default:
        return LMS_INTERNAL;
    }
}

int tl_fail(tl_inst *t, int sqlite_rc, lms_err *err, const char *what)
{
    int code = tl_status_of(sqlite_rc);
    if (code == LMS_OK)
        code = LMS_INTERNAL;
    const char *msg = t->db ? sqlite3_errmsg(t->db) : sqlite3_errstr(sqlite_rc);
    return lms_err_set(err, code, TL_PLUGIN_NAME " index %s: %s: %s",
                       t->cfg.index_path, what, msg);
}

/*
 * Whether the file at path may be deleted: it does not exist, is empty, or
 * is a tutor_local index. LMS_OK, or FAILED_PRECONDITION naming the file.
 */
static int check_ours(const char *path, lms_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT
                   ? LMS_OK
                   : lms_err_set(err, LMS_FAILED_PRECONDITION,
                                 TL_PLUGIN_NAME ": cannot read index_path "
                                 "%s: %s", path, strerror(errno));
    unsigned char h[100];
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    uint32_t app = n == sizeof h ? (uint32_t)h[68] << 24 | h[69] << 16 |
                                       h[70] << 8 | h[71]
                                 : 0;
    if (n == 0 || (memcmp(h, "SQLite format 3", 16) == 0 && app == TL_APP_ID))
        return LMS_OK;
    return lms_err_set(err, LMS_FAILED_PRECONDITION,
                       TL_PLUGIN_NAME ": index_path %s exists and is not a "
                       "tutor_local index; refusing to overwrite it (choose "
                       "another index_path)", path);
}

/* Delete the index file and whatever SQLite may have left beside it. */
static int remove_index(const char *path, lms_err *err)
{
    static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};
    char name[4096];
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        if (snprintf(name, sizeof name, "%s%s", path, suffix[i]) >=
            (int)sizeof name)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               TL_PLUGIN_NAME ": index_path is too long");
        if (unlink(name) != 0 && errno != ENOENT)
            return lms_err_set(err, LMS_FAILED_PRECONDITION,
                               TL_PLUGIN_NAME ": cannot delete the old index "
                               "%s: %s", name, strerror(errno));
    }
    return LMS_OK;
}

int tl_index_open(tl_inst *t, lms_err *err)
{
    const char *path = t->cfg.index_path;
    int memory = strcmp(path, ":memory:") == 0;
    int rc = memory ? LMS_OK : check_ours(path, err);
    if (rc == LMS_OK && !memory)
        rc = remove_index(path, err);
    if (rc != LMS_OK)
        return rc;
    int src = sqlite3_open_v2(path, &t->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                  SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (src != SQLITE_OK)
        return tl_fail(t, src, err, "open");
    sqlite3_extended_result_codes(t->db, 1);
    src = sqlite3_exec(t->db,
                       "PRAGMA locking_mode = EXCLUSIVE;"
                       "PRAGMA journal_mode = MEMORY;"
                       "PRAGMA synchronous = OFF;"
                       "PRAGMA temp_store = MEMORY;",
                       NULL, NULL, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_exec(t->db, schema_sql, NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return tl_fail(t, src, err, "creating the schema");
    return tl_rank_register(t, err);
}

static void finalize_courses(tl_inst *t)
{
    for (size_t i = 0; i < t->ncourse; i++) {
        tl_course_stmts *c = &t->course[i];
        sqlite3_finalize(c->insert);
        sqlite3_finalize(c->remove);
        sqlite3_finalize(c->search);
        sqlite3_finalize(c->fetch);
        sqlite3_finalize(c->passages);
        memset(c, 0, sizeof *c);
    }
}

void tl_index_close(tl_inst *t)
{
    finalize_courses(t);
    free(t->course);
    t->course = NULL;
    t->ncourse = 0;
    for (int i = 0; i < TL_STMT_COUNT; i++) {
        sqlite3_finalize(t->stmt[i]);
        t->stmt[i] = NULL;
    }
    if (t->ptok != NULL)
        t->tok.xDelete(t->ptok);
    t->ptok = NULL;
    sqlite3_close(t->db); /* every statement is finalized: cannot be busy */
    t->db = NULL;
}

int tl_stmt(tl_inst *t, enum tl_stmt_id id, sqlite3_stmt **out, lms_err *err)
{
    if (t->stmt[id] == NULL) {
        int rc = sqlite3_prepare_v3(t->db, stmt_sql[id], -1,
                                    SQLITE_PREPARE_PERSISTENT, &t->stmt[id],
                                    NULL);
        if (rc != SQLITE_OK)
            return tl_fail(t, rc, err, stmt_sql[id]);
    }
    *out = t->stmt[id];
    return LMS_OK;
}

int tl_exec(tl_inst *t, enum tl_stmt_id id, lms_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tl_stmt(t, id, &st, err);
    if (rc != LMS_OK)
        return rc;
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = tl_fail(t, src, err, stmt_sql[id]);
    sqlite3_reset(st);
    return rc;
}

void tl_rollback(tl_inst *t)
{
    if (!sqlite3_get_autocommit(t->db))
        tl_exec(t, TL_ROLLBACK, NULL);
    finalize_courses(t);
}

/* ---- per-course tables ---- */

static const char create_sql[] =
    "CREATE VIRTUAL TABLE @T USING fts5(title, body, kind UNINDEXED, "
    "doc_id UNINDEXED, ordinal UNINDEXED, lead UNINDEXED, "
    "tokenize = 'porter unicode61 remove_diacritics 2')";
static const char insert_sql[] =
    "INSERT INTO @T(rowid, title, body, kind, doc_id, ordinal, lead) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char remove_sql[] = "DELETE FROM @T WHERE rowid BETWEEN ?1 AND ?2";
static const char search_sql[] =
    "SELECT rowid, tl_bm25(@T, ?3, ?4) AS score FROM @T WHERE @T MATCH ?1 "
    "ORDER BY score DESC, rowid LIMIT ?2";
static const char passages_sql[] =
    "SELECT title, body FROM @T WHERE rowid BETWEEN ?1 AND ?2";
static const char fetch_sql[] =
    "SELECT kind, doc_id, title, ordinal, body, lead FROM @T "
    "WHERE rowid = ?1";

/* tmpl with every "@T" replaced by the course's table name p<tab>. */
static void table_sql(const char *tmpl, int64_t tab, char *out, size_t cap)
{
    char name[32];
    snprintf(name, sizeof name, "p%lld", (long long)tab);
    size_t n = 0, nl = strlen(name);
    for (const char *p = tmpl; *p && n + nl + 1 < cap; p++) {
        if (p[0] == '@' && p[1] == 'T') {
            memcpy(out + n, name, nl);
            n += nl;
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

static int add_course(tl_inst *t, const char *course, int64_t *tab,
                      lms_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tl_stmt(t, TL_COURSE_ADD, &st, err);
    if (rc != LMS_OK)
        return rc;
    sqlite3_bind_text(st, 1, course, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_DONE)
        return tl_fail(t, src, err, "adding a course");
    *tab = sqlite3_last_insert_rowid(t->db);
    char sql[512];
    table_sql(create_sql, *tab, sql, sizeof sql);
    src = sqlite3_exec(t->db, sql, NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return tl_fail(t, src, err, "creating a course's table");
    return LMS_OK;
}

int tl_course_table(tl_inst *t, const char *course, int create, int64_t *tab,
                    lms_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tl_stmt(t, TL_COURSE_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sqlite3_bind_text(st, 1, course, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    *tab = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return tl_fail(t, src, err, "looking up a course");
    if (*tab != 0 || !create)
        return LMS_OK;
    return add_course(t, course, tab, err);
}

static int prepare_table_stmt(tl_inst *t, const char *tmpl, int64_t tab,
                              sqlite3_stmt **out, lms_err *err)
{
    if (*out != NULL)
        return LMS_OK;
    char sql[512];
    table_sql(tmpl, tab, sql, sizeof sql);
    int rc = sqlite3_prepare_v3(t->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                out, NULL);
    return rc == SQLITE_OK ? LMS_OK : tl_fail(t, rc, err, sql);
}

int tl_course_stmts_get(tl_inst *t, int64_t tab, tl_course_stmts **out,
                        lms_err *err)
{
    if (tab <= 0 || tab > INT32_MAX)
        return lms_err_set(err, LMS_INTERNAL,
                           TL_PLUGIN_NAME ": bad course table %lld",
                           (long long)tab);
    if ((size_t)tab >= t->ncourse) {
        size_t n = (size_t)tab + 16;
        tl_course_stmts *c = realloc(t->course, n * sizeof *c);
        if (c == NULL)
            return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
        memset(c + t->ncourse, 0, (n - t->ncourse) * sizeof *c);
        t->course = c;
        t->ncourse = n;
    }
    tl_course_stmts *c = &t->course[tab];
    int rc = prepare_table_stmt(t, insert_sql, tab, &c->insert, err);
    if (rc == LMS_OK)
        rc = prepare_table_stmt(t, remove_sql, tab, &c->remove, err);
    if (rc == LMS_OK)
        rc = prepare_table_stmt(t, search_sql, tab, &c->search, err);
    if (rc == LMS_OK)
        rc = prepare_table_stmt(t, fetch_sql, tab, &c->fetch, err);
    if (rc == LMS_OK)
        rc = prepare_table_stmt(t, passages_sql, tab, &c->passages, err);
    *out = c;
    return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * sqlite.c: the storage_sqlite plugin's entry point, lifecycle and
 * transactions.
 *
 * One instance is one SQLite connection to one database file, used only by
 * lmsd's storage thread (storage.h), so the connection is opened without
 * SQLite's own mutexes. The file is kept in WAL mode with foreign keys on.
 * commit() writes the Raft index of the last applied command into the meta
 * table inside the same transaction as the changes, which is what lets lmsd
 * replay exactly the missing commands after a crash.
 */
#include "sqlite_internal.h"
#include "storage_meta.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Options read from the plugin's config subtree. */
typedef struct sq_config {
    char *path; /* malloc'd, resolved against the data dir */
    int busy_timeout_ms;
    const char *synchronous; /* the PRAGMA to run */
    const char *sync_name;   /* as configured, for the log */
} sq_config;

static const sq_sql SQL_BEGIN = {SQ_BEGIN, 0, "begin", "BEGIN IMMEDIATE"};
/* A reader's: deferred, so it never asks for the write lock; its view of
 * the file is fixed at its first read. */
static const sq_sql SQL_BEGIN_READ = {SQ_BEGIN_READ, 0, "begin", "BEGIN"};
static const sq_sql SQL_COMMIT = {SQ_COMMIT, 0, "commit", "COMMIT"};
static const sq_sql SQL_ROLLBACK = {SQ_ROLLBACK, 0, "rollback", "ROLLBACK"};
static const sq_sql SQL_META_SET = {
    SQ_META_SET, SQ_NEEDS_SCHEMA | SQ_WRITES, "commit",
    "INSERT INTO meta(key, value) VALUES('applied_index', ?1) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"};
static const sq_sql SQL_META_GET = {
    SQ_META_GET, SQ_NEEDS_SCHEMA, "applied_index",
    "SELECT value FROM meta WHERE key = 'applied_index'"};

static const sq_sql SQL_HOST_META_SET = {
    SQ_HOST_META_SET, SQ_NEEDS_SCHEMA | SQ_WRITES, "meta_put",
    "INSERT INTO host_meta(key, value) VALUES(?1, ?2) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"};
static const sq_sql SQL_HOST_META_GET = {
    SQ_HOST_META_GET, SQ_NEEDS_SCHEMA, "meta_get",
    "SELECT value FROM host_meta WHERE key = ?1"};

void sq_log(sq_inst *s, int level, const char *fmt, ...)
{
    if (s->host == NULL || s->host->log == NULL)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->host->log(s->ctx, level, "%s", line);
}

/* "<dir>/<path>" for a relative path, a copy of path otherwise. */
static char *sq_resolve_path(const char *dir, const char *path)
{
    char *out;
    if (path[0] == '/' || dir == NULL || dir[0] == '\0')
        return strdup(path);
    size_t dl = strlen(dir);
    const char *sep = dir[dl - 1] == '/' ? "" : "/";
    if (asprintf(&out, "%s%s%s", dir, sep, path) < 0)
        return NULL;
    return out;
}

/* The PRAGMA for a `synchronous` option value, NULL if it is not one of
 * normal, full, off. */
static const char *sq_synchronous_pragma(const char *value)
{
    if (strcasecmp(value, "normal") == 0)
        return "PRAGMA synchronous = NORMAL";
    if (strcasecmp(value, "full") == 0)
        return "PRAGMA synchronous = FULL";
    if (strcasecmp(value, "off") == 0)
        return "PRAGMA synchronous = OFF";
    return NULL;
}

/*
 * Read path, busy_timeout_ms and synchronous from the config subtree,
 * applying the defaults (lms.db in the data dir, 5000 ms, normal). On
 * success cfg->path is malloc'd and owned by the caller.
 */
static int sq_read_config(const struct lms_host *host,
                          struct lms_plugin_ctx *ctx, sq_config *cfg,
                          lms_err *err)
{
    const char *path = "lms.db", *sync = "normal";
    long long busy = 5000;
    int rc = host->config_string(ctx, "path", &path, err);
    if (rc == LMS_OK || rc == LMS_NOT_FOUND)
        rc = host->config_int(ctx, "busy_timeout_ms", &busy, err);
    if (rc == LMS_OK || rc == LMS_NOT_FOUND)
        rc = host->config_string(ctx, "synchronous", &sync, err);
    if (rc != LMS_OK && rc != LMS_NOT_FOUND)
        return rc;
    if (path == NULL || path[0] == '\0')
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "storage_sqlite: option path is empty");
    if (busy < 0 || busy > INT_MAX)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "storage_sqlite: option busy_timeout_ms is %lld, "
                           "expected 0..%d", busy, INT_MAX);
    cfg->synchronous = sq_synchronous_pragma(sync);
    if (cfg->synchronous == NULL)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "storage_sqlite: option synchronous is '%s', "
                           "expected normal, full or off", sync);
    cfg->sync_name = sync;
    cfg->busy_timeout_ms = (int)busy;
    cfg->path = sq_resolve_path(host->data_dir ? host->data_dir(ctx) : NULL,
                                path);
    if (cfg->path == NULL)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    return LMS_OK;
}

/* Refuse early, with the directory's name, when the database's directory
 * is missing: SQLite would only say "unable to open database file". */
static int sq_check_dir(const char *path, lms_err *err)
{
    char *dir = strdup(path);
    if (dir == NULL)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    struct stat st;
    int rc = LMS_OK;
    if (stat(dir, &st) != 0)
        rc = lms_err_set(err, LMS_FAILED_PRECONDITION,
                         "cannot open database %s: directory %s: %s", path,
                         dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = lms_err_set(err, LMS_FAILED_PRECONDITION,
                         "cannot open database %s: %s is not a directory",
                         path, dir);
    free(dir);
    return rc;
}

/* Run a PRAGMA that returns one text row and copy that row into out. */
static int sq_pragma(sq_inst *s, const char *sql, char *out, size_t cap,
                     lms_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        sq_col_copy(st, 0, out, cap);
        rc = SQLITE_OK;
    } else if (rc != SQLITE_DONE) {
        rc = sq_fail(s, rc, err, "open %s: %s", s->path, sql);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    return LMS_OK;
}

/*
 * Configure a fresh connection: extended result codes, busy timeout, WAL
 * (checked: SQLite answers with the mode it actually chose, and a file it
 * cannot put in WAL mode keeps its old mode silently), foreign keys and the
 * synchronous level.
 *
 * synchronous=NORMAL is the default and is safe here: in WAL mode it can
 * lose the last transactions on a power failure, never corrupt the file,
 * and what it loses includes the applied index committed with them; lmsd's
 * own command log is fsynced, so it replays those commands from
 * applied_index(). (lmsd must therefore not discard log entries on the
 * strength of applied_index() alone.)
 */
static int sq_configure(sq_inst *s, const sq_config *cfg, lms_err *err)
{
    char mode[32] = "", fk[8] = "";
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, cfg->busy_timeout_ms);
    int rc = sq_pragma(s, "PRAGMA journal_mode = WAL", mode, sizeof mode, err);
    if (rc != LMS_OK)
        return rc;
    if (strcasecmp(mode, "wal") != 0)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "open %s: cannot enable WAL journal mode "
                           "(SQLite kept '%s')", s->path, mode);
    rc = sq_pragma(s, "PRAGMA foreign_keys = ON", fk, sizeof fk, err);
    if (rc == LMS_OK)
        rc = sq_pragma(s, "PRAGMA foreign_keys", fk, sizeof fk, err);
    if (rc != LMS_OK)
        return rc;
    if (strcmp(fk, "1") != 0)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "open %s: SQLite refused to enable foreign keys",
                           s->path);
    return sq_pragma(s, cfg->synchronous, mode, sizeof mode, err);
}

/* Open the file and configure the connection; s->db is set even on
 * failure, for sq_close to release. */
static int sq_connect(sq_inst *s, const sq_config *cfg, lms_err *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(s->path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        int sys = s->db ? sqlite3_system_errno(s->db) : 0;
        return lms_err_set(err, sq_status_of(rc), "cannot open database %s: "
                           "%s%s%s", s->path,
                           s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
                           sys ? ": " : "", sys ? strerror(sys) : "");
    }
    rc = sq_configure(s, cfg, err);
    if (rc == LMS_OK)
        rc = sq_ckpt_start(s, cfg->synchronous, err);
    if (rc != LMS_OK)
        return rc;
    int version = 0;
    rc = sq_schema_version(s, &version, err);
    s->migrated = rc == LMS_OK && version == SQ_SCHEMA_VERSION;
    return rc;
}

/*
 * storage ops open(): read the options, open (creating) the database and
 * configure it. Does not migrate; an existing database that is already at
 * the plugin's schema version is usable at once.
 */
int sq_open(const struct lms_host *host, struct lms_plugin_ctx *ctx,
            void **inst, lms_err *err)
{
    *inst = NULL;
    if (host == NULL || host->config_string == NULL ||
        host->config_int == NULL)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "storage_sqlite: the host offers no config lookup");
    sq_config cfg = {0};
    int rc = sq_read_config(host, ctx, &cfg, err);
    if (rc != LMS_OK)
        return rc;
    sq_inst *s = calloc(1, sizeof *s);
    if (s == NULL) {
        free(cfg.path);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    s->host = host;
    s->ctx = ctx;
    s->path = cfg.path;
    s->busy_timeout_ms = cfg.busy_timeout_ms;
    rc = sq_check_dir(s->path, err);
    if (rc == LMS_OK)
        rc = sq_connect(s, &cfg, err);
    if (rc != LMS_OK) {
        sq_close(s);
        return rc;
    }
    sq_log(s, LMS_LOG_INFO, "opened %s (SQLite %s, synchronous=%s, busy "
           "timeout %d ms, %s)", s->path, sqlite3_libversion(),
           cfg.sync_name, cfg.busy_timeout_ms,
           s->migrated ? "schema up to date" : "schema not migrated yet");
    lms_err_clear(err); /* a default's NOT_FOUND may have left a message */
    *inst = s;
    return LMS_OK;
}

/* Roll back an open transaction, close the connection, free s (an
 * instance, a reader or a snapshot view). */
static void sq_free_inst(sq_inst *s)
{
    sq_finalize_all(s);
    if (s->db) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        if (sqlite3_close(s->db) != SQLITE_OK)
            sq_log(s, LMS_LOG_ERROR, "closing %s: %s", s->path,
                   sqlite3_errmsg(s->db));
    }
    free(s->keep);
    free(s->path);
    free(s);
}

/* storage ops close(): roll back an open transaction, free everything. */
void sq_close(void *inst)
{
    sq_inst *s = inst;
    if (s == NULL)
        return;
    sq_ckpt_stop(s);
    sq_free_inst(s);
}

/* Run one of the transaction-control statements. */
static int sq_tx(sq_inst *s, const sq_sql *def, lms_err *err)
{
    sqlite3_stmt *st;
    int rc = sq_acquire(s, def, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder none = sq_binder_of(st);
    return sq_run(s, def, &none, err);
}

/* storage ops begin(): BEGIN IMMEDIATE, so the write lock is taken now and
 * a busy database fails here rather than halfway through a command. */
int sq_begin(void *inst, lms_err *err)
{
    sq_inst *s = inst;
    if (!sqlite3_get_autocommit(s->db))
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "begin: a transaction is already open");
    return sq_tx(s, s->readonly ? &SQL_BEGIN_READ : &SQL_BEGIN, err);
}

/*
 * storage ops commit(): write applied_index to meta, then COMMIT, both in
 * the open transaction. On failure the transaction may still be open (or
 * rolled back by SQLite); the caller calls rollback() either way.
 */
int sq_commit(void *inst, uint64_t applied_index, lms_err *err)
{
    sq_inst *s = inst;
    if (s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "commit: a reader cannot write");
    if (sqlite3_get_autocommit(s->db))
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "commit: no transaction is open");
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_META_SET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_i64(&b, (int64_t)applied_index);
    rc = sq_run(s, &SQL_META_SET, &b, err);
    if (rc != LMS_OK)
        return rc;
    return sq_tx(s, &SQL_COMMIT, err);
}

/* storage ops rollback(): discard the open transaction. LMS_OK when none is
 * open: SQLite rolls back by itself after some errors (disk full, I/O). */
int sq_rollback(void *inst, lms_err *err)
{
    sq_inst *s = inst;
    if (sqlite3_get_autocommit(s->db))
        return LMS_OK;
    return sq_tx(s, &SQL_ROLLBACK, err);
}

/* storage ops applied_index(): the index of the last commit, 0 if none. */
int sq_applied_index(void *inst, uint64_t *index, lms_err *err)
{
    sq_inst *s = inst;
    sqlite3_stmt *st;
    int rc = sq_acquire(s, &SQL_META_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder none = sq_binder_of(st);
    rc = sq_step_row(s, &SQL_META_GET, &none, err);
    if (rc == LMS_OK)
        *index = (uint64_t)sq_col_i64(st, 0);
    else if (rc == LMS_NOT_FOUND) {
        *index = 0;
        rc = LMS_OK;
    }
    sq_release(st);
    return rc;
}

/* storage ops meta_get(): lmsd's record key (host_meta), into out. */
int sq_meta_get(void *inst, const char *key, char *out, size_t cap,
                lms_err *err)
{
    sq_inst *s = inst;
    int rc = storage_meta_check_get(key, out, cap, err);
    if (rc != LMS_OK)
        return rc;
    if (s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "meta_get: on the instance, not a reader");
    sqlite3_stmt *st;
    rc = sq_acquire(s, &SQL_HOST_META_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, key, SIZE_MAX);
    rc = sq_step_row(s, &SQL_HOST_META_GET, &b, err);
    if (rc == LMS_OK) {
        const char *v = sq_col_text(st, 0);
        size_t n = strlen(v);
        if (n >= cap)
            rc = lms_err_set(err, LMS_OUT_OF_RANGE,
                             "meta_get: the value of %s is %zu bytes, more "
                             "than the %zu given", key, n, cap - 1);
        else
            memcpy(out, v, n + 1);
    }
    sq_release(st);
    return rc;
}

/* storage ops meta_put(): insert or replace lmsd's record key, inside the
 * open transaction. */
int sq_meta_put(void *inst, const char *key, const char *value, lms_err *err)
{
    sq_inst *s = inst;
    int rc = storage_meta_check_put(key, value, err);
    if (rc != LMS_OK)
        return rc;
    sqlite3_stmt *st;
    rc = sq_acquire(s, &SQL_HOST_META_SET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sq_binder b = sq_binder_of(st);
    sq_bind_text(&b, key, SIZE_MAX);
    sq_bind_text(&b, value, SIZE_MAX);
    return sq_run(s, &SQL_HOST_META_SET, &b, err);
}

/* See sqlite_internal.h. The connection is opened read-only: in WAL mode
 * it reads beside the instance's writer, and each of its read
 * transactions sees what was committed when it began. */
int sq_open_readonly(sq_inst *s, sq_inst **out, const char *what,
                     lms_err *err)
{
    *out = NULL;
    sq_inst *v = calloc(1, sizeof *v);
    if (v == NULL || (v->path = strdup(s->path)) == NULL) {
        free(v);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    v->host = s->host;
    v->ctx = s->ctx;
    v->migrated = s->migrated;
    v->readonly = 1;
    v->busy_timeout_ms = s->busy_timeout_ms;
    int src = sqlite3_open_v2(s->path, &v->db,
                              SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        int rc = sq_fail(v, src, err, "%s: opening %s", what, s->path);
        sq_reader_close(v);
        return rc;
    }
    sqlite3_extended_result_codes(v->db, 1);
    /* a writer's checkpoint may hold the WAL index for a moment */
    sqlite3_busy_timeout(v->db, s->busy_timeout_ms > 5000 ? s->busy_timeout_ms
                                                          : 5000);
    *out = v;
    return LMS_OK;
}

/* storage ops reader_open(): see storage.h. */
int sq_reader_open(void *inst, void **reader, lms_err *err)
{
    sq_inst *s = inst;
    *reader = NULL;
    if (s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "reader_open: called on a reader");
    if (!s->migrated)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "reader_open: the schema of %s is not migrated "
                           "yet (call migrate first)", s->path);
    if (!sqlite3_get_autocommit(s->db))
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "reader_open: a transaction is open");
    sq_inst *v;
    int rc = sq_open_readonly(s, &v, "reader_open", err);
    if (rc == LMS_OK)
        *reader = v;
    return rc;
}

/* storage ops reader_close(): see storage.h. */
void sq_reader_close(void *reader)
{
    if (reader != NULL)
        sq_free_inst(reader);
}

static const struct lms_storage_ops sq_ops = {
    .size = sizeof(struct lms_storage_ops),
    .open = sq_open,
    .close = sq_close,
    .migrate = sq_migrate,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .applied_index = sq_applied_index,
    .user_put = sq_user_put,
    .user_get = sq_user_get,
    .user_list = sq_user_list,
    .user_count = sq_user_count,
    .course_put = sq_course_put,
    .course_get = sq_course_get,
    .course_list = sq_course_list,
    .enrolment_put = sq_enrolment_put,
    .enrolment_get = sq_enrolment_get,
    .enrolment_list = sq_enrolment_list,
    .assignment_put = sq_assignment_put,
    .assignment_get = sq_assignment_get,
    .assignment_list = sq_assignment_list,
    .extension_put = sq_extension_put,
    .extension_get = sq_extension_get,
    .submission_put = sq_submission_put,
    .submission_get = sq_submission_get,
    .submission_list = sq_submission_list,
    .submission_count = sq_submission_count,
    .grade_put = sq_grade_put,
    .grade_get = sq_grade_get,
    .grade_list = sq_grade_list,
    .query_put = sq_query_put,
    .query_get = sq_query_get,
    .query_list = sq_query_list,
    .reply_put = sq_reply_put,
    .reply_list = sq_reply_list,
    .material_put = sq_material_put,
    .material_get = sq_material_get,
    .material_list = sq_material_list,
    .session_put = sq_session_put,
    .session_get = sq_session_get,
    .session_delete = sq_session_delete,
    .session_prune = sq_session_prune,
    .client_get = sq_client_get,
    .client_put = sq_client_put,
    .client_prune = sq_client_prune,
    .course_settings_put = sq_course_settings_put,
    .course_settings_get = sq_course_settings_get,
    .query_count = sq_query_count,
    .snapshot_write = sq_snapshot_write,
    .snapshot_read = sq_snapshot_read,
    .snapshot_pin = sq_snapshot_pin,
    .snapshot_write_view = sq_snapshot_write_view,
    .snapshot_unpin = sq_snapshot_unpin,
    .session_list_user = sq_session_list_user,
    .reader_open = sq_reader_open,
    .reader_close = sq_reader_close,
    .meta_get = sq_meta_get,
    .meta_put = sq_meta_put,
    .record_put = sq_record_put,
    .record_get = sq_record_get,
    .record_delete = sq_record_delete,
    .record_list = sq_record_list,
};

static const struct lms_plugin_descriptor sq_descriptor = {
    .magic = LMS_PLUGIN_MAGIC,
    .abi_major = LMS_ABI_MAJOR,
    .abi_minor = LMS_ABI_MINOR,
    .descriptor_size = sizeof(struct lms_plugin_descriptor),
    .kind = LMS_PLUGIN_STORAGE,
    .name = SQ_PLUGIN_NAME,
    .version = SQ_PLUGIN_VERSION,
    .description = "LMS tables in an SQLite database file (WAL mode)",
    .ops = &sq_ops,
    .ops_size = sizeof(struct lms_storage_ops),
};

/* The plugin's one exported symbol (plugin.h). */
LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void);

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void)
{
    return &sq_descriptor;
}

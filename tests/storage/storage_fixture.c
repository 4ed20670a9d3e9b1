/* SPDX-License-Identifier: MIT */
/*
 * storage_fixture.c: see storage_fixture.h. The SQLite-specific half of
 * the fixture: storage_sqlite.so through the fake target, other configs,
 * and database dumps read with libsqlite3.
 */
#include "storage_fixture.h"

#include <dlfcn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

const struct lms_plugin_descriptor *fx_desc;
void *fx_dl;

static storage_target target;

int fx_load_plugin(void)
{
    fake_target_opts o = {.plugin = LMS_PLUGIN_BUILD_DIR "/storage_sqlite.so"};
    if (fake_target_open(&o, &target, &fx_desc, &fx_dl) != 0)
        return -1;
    storage_suite_use(&target);
    return 0;
}

void fx_unload_plugin(void)
{
    if (fx_dl)
        dlclose(fx_dl);
    fx_dl = NULL;
}

int fx_reopen_with(fixture *fx, const char *const *config)
{
    fx->ctx->config = config ? config : fake_target_config(fx->n);
    return fx_reopen(fx);
}

void fx_db_path(const fixture *fx, char *out, size_t cap)
{
    snprintf(out, cap, "%s/lms.db", fx->ctx->data_dir);
}

static const char *const dump_tables[] = {
    "meta", "users", "courses", "enrolments", "assignments", "extensions",
    "submissions", "grades", "queries", "replies", "materials", "sessions",
    "clients", "course_settings",
};

/* Append the rows of table to out: per value a type tag, a length for
 * texts and blobs, and the bytes. */
static void dump_table(sqlite3 *db, const char *table, FILE *out)
{
    char sql[128];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    fprintf(out, "table %s\n", table);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            int type = sqlite3_column_type(st, i);
            if (type == SQLITE_INTEGER)
                fprintf(out, "i%lld|", sqlite3_column_int64(st, i));
            else if (type == SQLITE_FLOAT)
                fprintf(out, "f%.17g|", sqlite3_column_double(st, i));
            else {
                const void *p = sqlite3_column_blob(st, i);
                int n = sqlite3_column_bytes(st, i);
                fprintf(out, "%c%d:", type == SQLITE_TEXT ? 't' : 'b', n);
                if (n > 0)
                    fwrite(p, 1, (size_t)n, out);
                fputc('|', out);
            }
        }
        fputc('\n', out);
    }
    sqlite3_finalize(st);
}

char *fx_dump_tables(const char *path, size_t *len)
{
    sqlite3 *db = NULL;
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);
    assert_non_null(out);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg("sqlite3_open %s: %s", path, sqlite3_errmsg(db));
    for (size_t i = 0; i < sizeof dump_tables / sizeof dump_tables[0]; i++)
        dump_table(db, dump_tables[i], out);
    sqlite3_close(db);
    fclose(out);
    return buf;
}

void fx_expect_same_tables(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *da = fx_dump_tables(a, &na), *db = fx_dump_tables(b, &nb);
    size_t i = 0;
    while (i < na && i < nb && da[i] == db[i])
        i++;
    if (na != nb || i != na)
        fail_msg("%s and %s differ at byte %zu of their dumps (%zu and %zu "
                 "bytes): '%.80s' vs '%.80s'", a, b, i, na, nb, da + i,
                 db + i);
    free(da);
    free(db);
}

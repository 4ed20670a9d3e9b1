/*
 * storage_fixture.c: see storage_fixture.h. The fake host implements just
 * what a storage plugin uses: config lookups from the context's key/value
 * list, the data dir, and a log that remembers its last line. The snapshot
 * tests add a second store, a store with every kind of row, and a dump of
 * a database file that compares two stores table by table.
 */
#include "storage_fixture.h"

#include <openssl/evp.h>

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const struct lms_plugin_descriptor *fx_desc;
const struct lms_storage_ops *fx_ops;
void *fx_dl;

/* ---- the plugin ---- */

/* dlopen the built plugin the way lmsd does; 0 on success. */
const struct lms_host *fx_host(void)
{
    return fake_host();
}

int fx_load_plugin(void)
{
    fx_ops = fake_plugin_load(LMS_PLUGIN_BUILD_DIR "/storage_sqlite.so", &fx_dl,
                              &fx_desc);
    return fx_ops ? 0 : -1;
}

void fx_unload_plugin(void)
{
    if (fx_dl)
        dlclose(fx_dl);
    fx_dl = NULL;
}

/* ---- per-test world ---- */

static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(path);
}

static const char *const default_config[] = {NULL};

int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->ctx.data_dir, "/tmp/lms-storage-test-XXXXXX");
    if (mkdtemp(fx->ctx.data_dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    fx->ctx.config = default_config;
    EXPECT_OK(fx_ops->open(fx_host(), &fx->ctx, &fx->st, &fx->err));
    EXPECT_OK(fx_ops->migrate(fx->st, &fx->version, &fx->err));
    *state = fx;
    return 0;
}

int fx_teardown(void **state)
{
    fixture *fx = *state;
    if (fx->st)
        fx_ops->close(fx->st);
    nftw(fx->ctx.data_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

int fx_reopen(fixture *fx, const char *const *config)
{
    if (fx->st)
        fx_ops->close(fx->st);
    fx->st = NULL;
    fx->ctx.config = config ? config : default_config;
    lms_err_clear(&fx->err);
    return fx_ops->open(fx_host(), &fx->ctx, &fx->st, &fx->err);
}

void fx_db_path(const fixture *fx, char *out, size_t cap)
{
    snprintf(out, cap, "%s/lms.db", fx->ctx.data_dir);
}

void fx_begin(fixture *fx)
{
    EXPECT_OK(fx_ops->begin(fx->st, &fx->err));
}

void fx_commit(fixture *fx, uint64_t applied_index)
{
    EXPECT_OK(fx_ops->commit(fx->st, applied_index, &fx->err));
}

/* ---- collecting list rows ---- */

void collect_add(collect *c, const char *fmt, ...)
{
    size_t len = strlen(c->out);
    if (c->n > 0 && len + 1 < sizeof c->out)
        c->out[len++] = ',';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->out + len, sizeof c->out - len, fmt, ap);
    va_end(ap);
    c->n++;
}

int collect_stop(const collect *c)
{
    return c->limit > 0 && c->n >= c->limit;
}

/* ---- seed data ---- */

void fx_put_body(fixture *fx, const void *data, uint64_t size,
                 uint8_t sha[LMS_SHA256_LEN])
{
    unsigned n = 0;
    if (!EVP_Digest(size ? data : "", (size_t)size, sha, &n, EVP_sha256(),
                    NULL) || n != LMS_SHA256_LEN)
        fail_msg("SHA-256 of a seeded file failed");
    const struct lms_host *h = fx_host();
    void *f = NULL;
    EXPECT_OK(h->file_create(&fx->ctx, sha, size, &f, &fx->err));
    if (size)
        EXPECT_OK(h->file_write(f, data, (size_t)size, &fx->err));
    EXPECT_OK(h->file_close(f, 1, &fx->err));
}

static void put_user(fixture *fx, const char *name, int role)
{
    lms_user u = {.role = role, .password_hash = "$argon2id$fake",
                  .created = 1000};
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.full_name, sizeof u.full_name, "Full %s", name);
    EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
}

static void put_course(fixture *fx, const char *code, const char *title)
{
    lms_course c = {.created = 2000};
    snprintf(c.code, sizeof c.code, "%s", code);
    snprintf(c.title, sizeof c.title, "%s", title);
    EXPECT_OK(fx_ops->course_put(fx->st, &c, &fx->err));
}

static void put_enrolment(fixture *fx, const char *course, const char *user,
                          int role)
{
    lms_enrolment e = {.role = role};
    snprintf(e.course, sizeof e.course, "%s", course);
    snprintf(e.user, sizeof e.user, "%s", user);
    EXPECT_OK(fx_ops->enrolment_put(fx->st, &e, &fx->err));
}

void fx_seed_people(fixture *fx)
{
    fx_begin(fx);
    put_user(fx, "carol", LMS_ROLE_STUDENT);
    put_user(fx, "alice", LMS_ROLE_STUDENT);
    put_user(fx, "ian", LMS_ROLE_INSTRUCTOR);
    put_user(fx, "bob", LMS_ROLE_STUDENT);
    put_course(fx, "MA201", "Linear Algebra");
    put_course(fx, "CS101", "Programming in C");
    put_enrolment(fx, "CS101", "bob", LMS_ROLE_STUDENT);
    put_enrolment(fx, "CS101", "alice", LMS_ROLE_STUDENT);
    put_enrolment(fx, "CS101", "ian", LMS_ROLE_INSTRUCTOR);
    put_enrolment(fx, "MA201", "carol", LMS_ROLE_STUDENT);
    put_enrolment(fx, "MA201", "alice", LMS_ROLE_STUDENT);
    put_enrolment(fx, "MA201", "ian", LMS_ROLE_INSTRUCTOR);
    fx_commit(fx, 1);
}

/* ---- a second store, every kind of row, dumps ---- */

void fx_open_other(const fixture *fx, fixture *other,
                   const char *const *config)
{
    memset(other, 0, sizeof *other);
    other->ctx = fx->ctx;
    other->ctx.config = config;
    lms_err_clear(&other->err);
    int rc = fx_ops->open(fx_host(), &other->ctx, &other->st, &other->err);
    if (rc == LMS_OK)
        rc = fx_ops->migrate(other->st, &other->version, &other->err);
    if (rc != LMS_OK)
        fail_msg("opening a second store: %s", other->err.msg);
}

void fx_close_other(fixture *other)
{
    if (other->st)
        fx_ops->close(other->st);
    other->st = NULL;
}

uint64_t fx_applied(fixture *fx)
{
    uint64_t index = 0;
    EXPECT_OK(fx_ops->applied_index(fx->st, &index, &fx->err));
    return index;
}

/* A file of n bytes of a fixed pattern with NUL bytes in it. */
static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(((i + seed) * 2654435761u) >> 13);
    return p;
}

static void fill_work(fixture *fx)
{
    lms_assignment a = {.id = 10, .course = "CS101", .title = "Lab 1",
                        .description = "Write\na shell", .due = 5000,
                        .cutoff = 6000, .max_points = 12.5,
                        .max_attempts = 3, .max_size = 10u << 20,
                        .hold_grades = 1, .released = 0, .created = 4000,
                        .created_by = "ian"};
    EXPECT_OK(fx_ops->assignment_put(fx->st, &a, &fx->err));
    a.id = 11;
    strcpy(a.course, "MA201");
    a.description = "", a.cutoff = 0, a.hold_grades = 0, a.released = 1;
    EXPECT_OK(fx_ops->assignment_put(fx->st, &a, &fx->err));
    lms_extension x = {.assignment_id = 10, .student = "bob", .until = 7000};
    EXPECT_OK(fx_ops->extension_put(fx->st, &x, &fx->err));
    unsigned char *big = pattern(FX_BIG_FILE, 7);
    lms_submission s = {.id = 20, .assignment_id = 10, .student = "bob",
                        .file_name = "big.tar", .size = FX_BIG_FILE,
                        .submitted = 5500, .late = 1, .attempt = 1};
    fx_put_body(fx, big, FX_BIG_FILE, s.sha256);
    EXPECT_OK(fx_ops->submission_put(fx->st, &s, &fx->err));
    free(big);
    s.id = 21;
    s.size = 0;
    s.attempt = 2;
    s.late = 0;
    fx_put_body(fx, "", 0, s.sha256);
    strcpy(s.file_name, "empty.txt");
    EXPECT_OK(fx_ops->submission_put(fx->st, &s, &fx->err));
    lms_grade g = {.submission_id = 20, .grade = 11.75,
                   .feedback = "Good; \"quotes\" and\ttabs", .grader = "ian",
                   .graded = 8000};
    EXPECT_OK(fx_ops->grade_put(fx->st, &g, &fx->err));
}

static void fill_talk(fixture *fx)
{
    lms_query q = {.id = 30, .course = "CS101", .student = "alice",
                   .title = "Pointers?", .text = "What is *p?",
                   .created = 9000, .kind = LMS_QUERY_TUTOR,
                   .provider = "openai", .model = "gpt-x",
                   .prompt_tokens = 120, .completion_tokens = 340,
                   .latency_ms = 870};
    EXPECT_OK(fx_ops->query_put(fx->st, &q, &fx->err));
    lms_query q2 = {.id = 31, .course = "CS101", .student = "alice",
                    .title = "Still lost", .text = "Please help",
                    .created = 9100, .resolved = 1, .escalated_from = 30,
                    .shared = 1};
    EXPECT_OK(fx_ops->query_put(fx->st, &q2, &fx->err));
    lms_reply r = {.id = 32, .query_id = 31, .author = "ian",
                   .text = "See me", .created = 9200};
    EXPECT_OK(fx_ops->reply_put(fx->st, &r, &fx->err));
    unsigned char *doc = pattern(200000, 3);
    lms_material m = {.id = 40, .course = "MA201", .title = "Notes",
                      .file_name = "notes.pdf", .size = 200000,
                      .uploaded_by = "ian", .created = 9300};
    fx_put_body(fx, doc, 200000, m.sha256);
    EXPECT_OK(fx_ops->material_put(fx->st, &m, &fx->err));
    free(doc);
    lms_course_settings cs = {.course = "CS101",
                              .system_prompt = "Be Socratic.",
                              .tutor_daily_limit = 20};
    EXPECT_OK(fx_ops->course_settings_put(fx->st, &cs, &fx->err));
}

static void fill_sessions(fixture *fx)
{
    for (int i = 0; i < 3; i++) {
        lms_session x = {.token_hash = {(uint8_t)(0xf0 - i), 0, 7},
                         .created = 100 + i, .expires = 10000 + i};
        strcpy(x.user, i ? "bob" : "alice");
        EXPECT_OK(fx_ops->session_put(fx->st, &x, &fx->err));
    }
    lms_client_record c = {.client_id = 0x8000000000000001ull >> 1,
                           .seq = 9, .status = LMS_NOT_FOUND,
                           .message = "no such thing", .result_id = 20,
                           .updated = 9400};
    EXPECT_OK(fx_ops->client_put(fx->st, &c, &fx->err));
    c.client_id = 5;
    c.status = LMS_OK;
    c.message[0] = '\0';
    c.answer = "\x0a\x02\x08\x07"; /* a recorded report travels in snapshots */
    c.answer_len = 4;
    EXPECT_OK(fx_ops->client_put(fx->st, &c, &fx->err));
}

void fx_fill_everything(fixture *fx)
{
    fx_seed_people(fx);
    fx_begin(fx);
    fill_work(fx);
    fill_talk(fx);
    fill_sessions(fx);
    fx_commit(fx, FX_FILLED_INDEX);
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

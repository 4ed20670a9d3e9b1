/* SPDX-License-Identifier: MIT */
/*
 * suite_fixture.c: see suite_fixture.h. Stores come from the target
 * (storage_suite.h); the fixture remembers every instance a test opened so
 * that teardown closes them even when the test failed half way, before
 * the target removes what it made.
 */
#include "suite_fixture.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct lms_storage_ops *fx_ops;
static const storage_target *target;

/* Instances opened by the running test and not closed yet. */
static void *open_insts[16];

const storage_target *fx_target(void)
{
    return target;
}

const struct lms_host *fx_host(void)
{
    return target->host;
}

void storage_suite_use(const storage_target *t)
{
    target = t;
    fx_ops = t->ops;
}

static void remember(void *inst)
{
    for (size_t i = 0; i < sizeof open_insts / sizeof open_insts[0]; i++)
        if (open_insts[i] == NULL) {
            open_insts[i] = inst;
            return;
        }
    fail_msg("a test opened more than %zu stores",
             sizeof open_insts / sizeof open_insts[0]);
}

static void forget(void *inst)
{
    for (size_t i = 0; i < sizeof open_insts / sizeof open_insts[0]; i++)
        if (open_insts[i] == inst)
            open_insts[i] = NULL;
}

/* Close st (if any) and forget it. */
static void close_inst(void **st)
{
    if (*st) {
        forget(*st);
        fx_ops->close(*st);
    }
    *st = NULL;
}

/* The context of store n, failing the test when the target has none. */
static struct lms_plugin_ctx *store_ctx(int n)
{
    lms_err err;
    lms_err_clear(&err);
    struct lms_plugin_ctx *ctx = target->store(target->arg, n, &err);
    if (ctx == NULL)
        fail_msg("the target cannot make store %d: %s", n, err.msg);
    return ctx;
}

void fx_open_store(fixture *other, int n, int migrate)
{
    memset(other, 0, sizeof *other);
    other->n = n;
    other->ctx = store_ctx(n);
    lms_err_clear(&other->err);
    int rc = fx_ops->open(fx_host(), other->ctx, &other->st, &other->err);
    if (rc == LMS_OK)
        remember(other->st);
    if (rc == LMS_OK && migrate)
        rc = fx_ops->migrate(other->st, &other->version, &other->err);
    if (rc != LMS_OK)
        fail_msg("opening store %d: %s (%d)", n, other->err.msg, rc);
}

int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    *state = fx;
    fx_open_store(fx, 1, 1);
    return 0;
}

int fx_teardown(void **state)
{
    fixture *fx = *state;
    if (fx)
        close_inst(&fx->st);
    for (size_t i = 0; i < sizeof open_insts / sizeof open_insts[0]; i++)
        close_inst(&open_insts[i]);
    target->test_end(target->arg);
    free(fx);
    return 0;
}

int fx_reopen(fixture *fx)
{
    close_inst(&fx->st);
    lms_err_clear(&fx->err);
    int rc = fx_ops->open(fx_host(), fx->ctx, &fx->st, &fx->err);
    if (rc == LMS_OK)
        remember(fx->st);
    return rc;
}

void fx_open_other(fixture *other, int n)
{
    fx_open_store(other, n, 1);
}

void fx_close_other(fixture *other)
{
    close_inst(&other->st);
}

uint64_t fx_applied(fixture *fx)
{
    uint64_t index = 0;
    EXPECT_OK(fx_ops->applied_index(fx->st, &index, &fx->err));
    return index;
}

void fx_begin(fixture *fx)
{
    EXPECT_OK(fx_ops->begin(fx->st, &fx->err));
}

void fx_commit(fixture *fx, uint64_t applied_index)
{
    EXPECT_OK(fx_ops->commit(fx->st, applied_index, &fx->err));
}

void fx_read_body(fixture *fx, const uint8_t sha[LMS_SHA256_LEN],
                  uint64_t size, unsigned char *out)
{
    const struct lms_host *h = fx_host();
    void *f = NULL;
    EXPECT_OK(h->file_open(fx->ctx, sha, size, &f, &fx->err));
    EXPECT_OK(h->file_read(f, 0, out, (size_t)size, &fx->err));
    EXPECT_OK(h->file_close(f, 0, &fx->err));
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
    EXPECT_OK(h->file_create(fx->ctx, sha, size, &f, &fx->err));
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

/* lmsd's records (ABI 1.4): keys with bytes below and above ASCII, an
 * empty value, values with NUL bytes, the longest key. */
static void fill_records(fixture *fx)
{
    char longest[LMS_RECORD_KEY_MAX + 1];
    memset(longest, 0xff, LMS_RECORD_KEY_MAX);
    longest[LMS_RECORD_KEY_MAX] = '\0';
    unsigned char *v = pattern(3000, 5);
    const struct {
        const char *key;
        const void *value;
        size_t len;
    } recs[] = {
        {"acct/alice", "\x08\x01", 2},
        {"ann/CS101/00000000000000000042", "hello\0world", 11},
        {"\x01" "first", "", 0},
        {"inbox/\xc3\xa9ve", v, 3000},
        {"\xff\xfe", "\xff", 1},
        {longest, "z", 1},
    };
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++)
        EXPECT_OK(fx_ops->record_put(fx->st, recs[i].key, recs[i].value,
                                     recs[i].len, &fx->err));
    free(v);
}

void fx_fill_everything(fixture *fx)
{
    fx_seed_people(fx);
    fx_begin(fx);
    fill_work(fx);
    fill_talk(fx);
    fill_sessions(fx);
    fill_records(fx);
    fx_commit(fx, FX_FILLED_INDEX);
}


/* ---- comparing two stores through the API ---- */

/* A sink that only counts what it is given. */
static int count_sink(void *arg, const void *buf, size_t len)
{
    (void)buf;
    *(size_t *)arg += len;
    return 0;
}

void fx_digest(fixture *fx, uint64_t index, uint8_t digest[LMS_SHA256_LEN])
{
    static const unsigned char conf[] = {1, 2, 3};
    lms_snapshot_header h = {.index = index, .term = 1, .config = conf,
                             .config_len = sizeof conf, .created = 1};
    size_t n = 0;
    EXPECT_OK(fx_ops->snapshot_write(fx->st, &h, count_sink, &n, digest,
                                     &fx->err));
    assert_true(n > 0);
}

/* The listing of fx_list_everything: a memstream and the store it walks. */
typedef struct lister {
    FILE *out;
    fixture *fx;
} lister;

static void put_hex(FILE *out, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02x", b[i]);
}

/* A text field with its length, so that no two different values print
 * alike. */
static void put_text(FILE *out, const char *s)
{
    if (s == NULL) {
        fputs("(null)|", out);
        return;
    }
    fprintf(out, "%zu:%s|", strlen(s), s);
}

static int list_user(void *arg, const void *row)
{
    const lms_user *u = row;
    FILE *o = ((lister *)arg)->out;
    fputs("user ", o);
    put_text(o, u->name);
    put_text(o, u->full_name);
    put_text(o, u->password_hash);
    fprintf(o, "%d|%lld\n", u->role, (long long)u->created);
    return 0;
}

static int list_enrolment(void *arg, const void *row)
{
    const lms_enrolment *e = row;
    FILE *o = ((lister *)arg)->out;
    fputs(" enrolment ", o);
    put_text(o, e->course);
    put_text(o, e->user);
    fprintf(o, "%d\n", e->role);
    return 0;
}

static int list_material(void *arg, const void *row)
{
    const lms_material *m = row;
    FILE *o = ((lister *)arg)->out;
    fprintf(o, " material %llu|", (unsigned long long)m->id);
    put_text(o, m->course);
    put_text(o, m->title);
    put_text(o, m->file_name);
    put_text(o, m->uploaded_by);
    fprintf(o, "%llu|%lld|", (unsigned long long)m->size,
            (long long)m->created);
    put_hex(o, m->sha256, LMS_SHA256_LEN);
    fputc('\n', o);
    return 0;
}

static int list_course(void *arg, const void *row)
{
    lister *l = arg;
    const lms_course *c = row;
    fputs("course ", l->out);
    put_text(l->out, c->code);
    put_text(l->out, c->title);
    fprintf(l->out, "%lld|%d\n", (long long)c->created, c->my_role);
    return 0;
}

static int list_course_code(void *arg, const void *row)
{
    char (*codes)[LMS_NAME_MAX + 1] = arg;
    const lms_course *c = row;
    for (int i = 0; i < 64; i++)
        if (codes[i][0] == '\0') {
            snprintf(codes[i], sizeof codes[i], "%s", c->code);
            return 0;
        }
    return 1;
}

static int list_user_name(void *arg, const void *row)
{
    char (*names)[LMS_NAME_MAX + 1] = arg;
    const lms_user *u = row;
    for (int i = 0; i < 64; i++)
        if (names[i][0] == '\0') {
            snprintf(names[i], sizeof names[i], "%s", u->name);
            return 0;
        }
    return 1;
}

static void put_assignment(FILE *o, const lms_assignment *a)
{
    fprintf(o, "assignment %llu|", (unsigned long long)a->id);
    put_text(o, a->course);
    put_text(o, a->title);
    put_text(o, a->description);
    put_text(o, a->created_by);
    fprintf(o, "%lld|%lld|%.17g|%u|%llu|%d|%d|%lld\n", (long long)a->due,
            (long long)a->cutoff, a->max_points, (unsigned)a->max_attempts,
            (unsigned long long)a->max_size, a->hold_grades, a->released,
            (long long)a->created);
}

static int list_assignment(void *arg, const void *row)
{
    put_assignment(((lister *)arg)->out, row);
    return 0;
}

static void put_submission(FILE *o, const lms_submission *s)
{
    fprintf(o, "submission %llu|%llu|", (unsigned long long)s->id,
            (unsigned long long)s->assignment_id);
    put_text(o, s->student);
    put_text(o, s->file_name);
    fprintf(o, "%llu|%lld|%d|%u|%d|%s|", (unsigned long long)s->size,
            (long long)s->submitted, s->late, (unsigned)s->attempt,
            s->graded, s->data ? "data" : "-");
    put_hex(o, s->sha256, LMS_SHA256_LEN);
    fputc('\n', o);
}

static int list_submission(void *arg, const void *row)
{
    put_submission(((lister *)arg)->out, row);
    return 0;
}

static int list_grade(void *arg, const void *row)
{
    const lms_grade_view *v = row;
    FILE *o = ((lister *)arg)->out;
    fprintf(o, "grade %llu|%.17g|", (unsigned long long)v->grade->submission_id,
            v->grade->grade);
    put_text(o, v->grade->feedback);
    put_text(o, v->grade->grader);
    fprintf(o, "%lld\n ", (long long)v->grade->graded);
    put_submission(o, v->submission);
    fputc(' ', o);
    put_assignment(o, v->assignment);
    return 0;
}

static int list_reply(void *arg, const void *row)
{
    const lms_reply *r = row;
    FILE *o = ((lister *)arg)->out;
    fprintf(o, " reply %llu|%llu|", (unsigned long long)r->id,
            (unsigned long long)r->query_id);
    put_text(o, r->author);
    put_text(o, r->text);
    fprintf(o, "%lld\n", (long long)r->created);
    return 0;
}

static int list_query(void *arg, const void *row)
{
    const lms_query *q = row;
    FILE *o = ((lister *)arg)->out;
    fprintf(o, "query %llu|", (unsigned long long)q->id);
    put_text(o, q->course);
    put_text(o, q->student);
    put_text(o, q->title);
    put_text(o, q->text);
    put_text(o, q->provider);
    put_text(o, q->model);
    fprintf(o, "%lld|%d|%d|%llu|%u|%u|%u|%d\n", (long long)q->created,
            q->resolved, q->kind, (unsigned long long)q->escalated_from,
            (unsigned)q->prompt_tokens, (unsigned)q->completion_tokens,
            (unsigned)q->latency_ms, q->shared);
    return 0;
}

static int list_query_id(void *arg, const void *row)
{
    uint64_t *ids = arg;
    const lms_query *q = row;
    for (int i = 0; i < 64; i++)
        if (ids[i] == 0) {
            ids[i] = q->id;
            return 0;
        }
    return 1;
}

static int list_session(void *arg, const void *row)
{
    const lms_session *s = row;
    FILE *o = ((lister *)arg)->out;
    fputs("session ", o);
    put_hex(o, s->token_hash, LMS_SHA256_LEN);
    fputc('|', o);
    put_text(o, s->user);
    fprintf(o, "%lld|%lld\n", (long long)s->created, (long long)s->expires);
    return 0;
}

/* The extensions, course settings and client records fx's listing can
 * find by key (there is no list op for them). */
static void list_by_key(lister *l, char (*users)[LMS_NAME_MAX + 1],
                        char (*courses)[LMS_NAME_MAX + 1])
{
    fixture *fx = l->fx;
    FILE *o = l->out;
    uint64_t ids[64] = {0};
    for (int i = 0; i < 64 && courses[i][0]; i++) {
        lms_course_settings cs;
        int rc = fx_ops->course_settings_get(fx->st, courses[i], &cs,
                                             &fx->err);
        if (rc == LMS_NOT_FOUND)
            continue;
        if (rc != LMS_OK)
            fail_msg("course_settings_get %s: %s", courses[i], fx->err.msg);
        fputs("settings ", o);
        put_text(o, cs.course);
        put_text(o, cs.system_prompt);
        fprintf(o, "%u\n", (unsigned)cs.tutor_daily_limit);
    }
    EXPECT_OK(fx_ops->query_list(fx->st, NULL, NULL, list_query_id, ids,
                                 &fx->err));
    for (int i = 0; i < 64 && ids[i]; i++)
        EXPECT_OK(fx_ops->reply_list(fx->st, ids[i], list_reply, l,
                                     &fx->err));
    for (uint64_t a = 1; a < 64; a++)
        for (int i = 0; i < 64 && users[i][0]; i++) {
            lms_extension x;
            if (fx_ops->extension_get(fx->st, a, users[i], &x, &fx->err) !=
                LMS_OK)
                continue;
            fprintf(o, "extension %llu|", (unsigned long long)x.assignment_id);
            put_text(o, x.student);
            fprintf(o, "%lld\n", (long long)x.until);
        }
    uint64_t clients[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1ull << 62};
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++) {
        lms_client_record r;
        if (fx_ops->client_get(fx->st, clients[i], &r, &fx->err) != LMS_OK)
            continue;
        fprintf(o, "client %llu|%llu|%d|", (unsigned long long)r.client_id,
                (unsigned long long)r.seq, r.status);
        put_text(o, r.message);
        fprintf(o, "%llu|%lld|%zu:", (unsigned long long)r.result_id,
                (long long)r.updated, r.answer_len);
        put_hex(o, r.answer, r.answer_len);
        fputc('\n', o);
    }
}

static int list_record(void *arg, const lms_record *r)
{
    FILE *o = ((lister *)arg)->out;
    fputs("record ", o);
    put_hex(o, r->key, strlen(r->key));
    fprintf(o, "|%zu:", r->len);
    put_hex(o, r->value, r->len);
    fputc('\n', o);
    return 0;
}

char *fx_list_everything(fixture *fx)
{
    char *buf = NULL;
    size_t len = 0;
    lister l = {.out = open_memstream(&buf, &len), .fx = fx};
    assert_non_null(l.out);
    static char users[64][LMS_NAME_MAX + 1], courses[64][LMS_NAME_MAX + 1];
    memset(users, 0, sizeof users);
    memset(courses, 0, sizeof courses);
    fprintf(l.out, "applied %llu\n", (unsigned long long)fx_applied(fx));
    EXPECT_OK(fx_ops->user_list(fx->st, list_user, &l, &fx->err));
    EXPECT_OK(fx_ops->user_list(fx->st, list_user_name, users, &fx->err));
    EXPECT_OK(fx_ops->course_list(fx->st, NULL, list_course, &l, &fx->err));
    EXPECT_OK(fx_ops->course_list(fx->st, NULL, list_course_code, courses,
                                  &fx->err));
    for (int i = 0; i < 64 && courses[i][0]; i++) {
        EXPECT_OK(fx_ops->enrolment_list(fx->st, courses[i], 0,
                                         list_enrolment, &l, &fx->err));
        EXPECT_OK(fx_ops->material_list(fx->st, courses[i], list_material,
                                        &l, &fx->err));
    }
    EXPECT_OK(fx_ops->assignment_list(fx->st, NULL, list_assignment, &l,
                                      &fx->err));
    EXPECT_OK(fx_ops->submission_list(fx->st, 0, NULL, list_submission, &l,
                                      &fx->err));
    EXPECT_OK(fx_ops->grade_list(fx->st, NULL, NULL, list_grade, &l,
                                 &fx->err));
    EXPECT_OK(fx_ops->query_list(fx->st, NULL, NULL, list_query, &l,
                                 &fx->err));
    for (int i = 0; i < 64 && users[i][0]; i++)
        EXPECT_OK(fx_ops->session_list_user(fx->st, users[i], list_session,
                                            &l, &fx->err));
    list_by_key(&l, users, courses);
    EXPECT_OK(fx_ops->record_list(fx->st, NULL, NULL, 0, list_record, &l,
                                  &fx->err));
    fclose(l.out);
    return buf;
}

void fx_expect_same_state(fixture *a, fixture *b)
{
    char *la = fx_list_everything(a), *lb = fx_list_everything(b);
    size_t i = 0;
    while (la[i] && la[i] == lb[i])
        i++;
    if (la[i] != lb[i])
        fail_msg("stores %d and %d list different rows, from byte %zu: "
                 "'%.120s' vs '%.120s'", a->n, b->n, i, la + i, lb + i);
    free(la);
    free(lb);
    uint64_t index = fx_applied(a);
    assert_int_equal(fx_applied(b), index);
    uint8_t da[LMS_SHA256_LEN], db[LMS_SHA256_LEN];
    fx_digest(a, index, da);
    fx_digest(b, index, db);
    if (memcmp(da, db, sizeof da) != 0)
        fail_msg("stores %d and %d list the same rows but their snapshot "
                 "digests differ", a->n, b->n);
}

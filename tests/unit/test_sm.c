/* SPDX-License-Identifier: MIT */
/*
 * test_sm.c: the rules of the LMS, run through sm_apply() against the real
 * storage_sqlite plugin, loaded with dlopen as lmsd loads it and given a
 * small fake host (config from a key/value array, a temporary data dir).
 *
 * Every command goes through run(), which applies it in its own
 * transaction and, whenever the answer is a refusal or a deduplicated
 * retry, checks that a dump of every table is byte for byte what it was
 * before: "refused" must mean "nothing changed". Tests name the rule they
 * pin down; failures print the expected and the actual status and message.
 */
#include "sm.h"
#include "accounts.h"
#include "assignments.h"
#include "inbox.h"
#include "grade_history.h"
#include "materials.h"
#include "unenrolment.h"
#include "rm_tree.h"
#include "filestore.h"
#include "pb_text.h"
#include "utf8.h"

#include <dirent.h>
#include <dlfcn.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#define STUDENT LMS__ROLE__STUDENT
#define INSTRUCTOR LMS__ROLE__INSTRUCTOR
#define ADMIN LMS__ROLE__ADMIN

#define DAY (24LL * 3600 * 1000)
#define T0 1795996800000LL   /* 2026-11-30T00:00:00Z */
#define DUE (T0 + DAY)       /* 2026-12-01T00:00:00Z */
#define CUTOFF (DUE + DAY)   /* 2026-12-02T00:00:00Z */
#define MAX_SIZE 1000
#define PHC "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"

/* ---- a fake host -------------------------------------------------------- */

struct lms_plugin_ctx {
    const char *kv[8]; /* key, value, ..., NULL */
    const char *data_dir;
};

static const char *host_lookup(struct lms_plugin_ctx *ctx, const char *key)
{
    for (size_t i = 0; ctx->kv[i]; i += 2)
        if (strcmp(ctx->kv[i], key) == 0)
            return ctx->kv[i + 1];
    return NULL;
}

__attribute__((format(printf, 3, 4)))
static void host_log(struct lms_plugin_ctx *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    if (level < LMS_LOG_WARN)
        return;
    va_start(ap, fmt);
    fprintf(stderr, "storage_sqlite[%d]: ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int host_config_string(struct lms_plugin_ctx *ctx, const char *key,
                              const char **out, lms_err *err)
{
    const char *v = host_lookup(ctx, key);
    if (!v)
        return LMS_NOT_FOUND;
    *out = v;
    return LMS_OK;
}

static int host_config_int(struct lms_plugin_ctx *ctx, const char *key,
                           long long *out, lms_err *err)
{
    const char *v = host_lookup(ctx, key);
    if (!v)
        return LMS_NOT_FOUND;
    *out = strtoll(v, NULL, 10);
    return LMS_OK;
}

static int host_config_bool(struct lms_plugin_ctx *ctx, const char *key,
                            int *out, lms_err *err)
{
    const char *v = host_lookup(ctx, key);
    if (!v)
        return LMS_NOT_FOUND;
    *out = strcmp(v, "true") == 0;
    return LMS_OK;
}

static const char *host_data_dir(struct lms_plugin_ctx *ctx) { return ctx->data_dir; }

static struct event_base *host_event_base(struct lms_plugin_ctx *ctx) { return NULL; }

static int host_run_blocking(struct lms_plugin_ctx *ctx, void (*work)(void *),
                             void (*done)(void *), void *arg)
{
    return LMS_UNAVAILABLE;
}

static const struct lms_host host = {
    .size = sizeof host,
    .log = host_log,
    .config_string = host_config_string,
    .config_int = host_config_int,
    .config_bool = host_config_bool,
    .data_dir = host_data_dir,
    .event_base = host_event_base,
    .run_blocking = host_run_blocking,
};

static void *g_dl;
static const struct lms_storage_ops *g_ops;

static int load_plugin(void **state)
{
    const char *file = LMS_PLUGIN_BUILD_DIR "/storage_sqlite.so";
    g_dl = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!g_dl) {
        fprintf(stderr, "test_sm: cannot load %s: %s\n", file, dlerror());
        return -1;
    }
    lms_plugin_entry_fn entry =
        (lms_plugin_entry_fn)dlsym(g_dl, LMS_PLUGIN_ENTRY_SYMBOL);
    const struct lms_plugin_descriptor *d = entry ? entry() : NULL;
    if (!d || d->magic != LMS_PLUGIN_MAGIC || d->kind != LMS_PLUGIN_STORAGE ||
        !d->ops || d->ops_size < sizeof *g_ops) {
        fprintf(stderr, "test_sm: %s is not a storage plugin of this ABI\n", file);
        return -1;
    }
    g_ops = d->ops;
    return 0;
}

static int unload_plugin(void **state)
{
    if (g_dl)
        dlclose(g_dl);
    return 0;
}

/* ---- the fixture: one fresh store per test ------------------------------ */

typedef struct fx {
    char dir[64];
    char db[96];
    struct lms_plugin_ctx ctx;
    void *inst;
    sm m;
    uint64_t index;      /* of the last command applied */
    int64_t now;         /* the leader's clock for the next command */
    uint64_t client_id;  /* and seq: stamped on the next command */
    uint64_t seq;
    sm_result res;       /* the last answer */
    FILE *trace;         /* if set, every answer is written to it */
    uint64_t aid, sid, qid, tid; /* world(): assignment, submission, query,
                                  * tutor exchange */
    struct fx *twin;     /* a second store, closed with this one */
} fx;

static fx *fx_open(void)
{
    fx *f = calloc(1, sizeof *f);
    lms_err err = {0};
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_sm.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/lms.db", f->dir);
    f->ctx = (struct lms_plugin_ctx){.kv = {"path", f->db, "synchronous", "off"},
                                     .data_dir = f->dir};
    if (g_ops->open(&host, &f->ctx, &f->inst, &err) != LMS_OK)
        fail_msg("open %s: %s", f->db, err.msg);
    int version;
    if (g_ops->migrate(f->inst, &version, &err) != LMS_OK)
        fail_msg("migrate %s: %s", f->db, err.msg);
    f->m = (sm){.ops = g_ops, .st = f->inst};
    if (filestore_open(f->dir, &f->m.files, &err) != LMS_OK)
        fail_msg("file store in %s: %s", f->dir, err.msg);
    f->now = T0;
    return f;
}

static void fx_close(fx *f)
{
    if (f->twin)
        fx_close(f->twin);
    g_ops->close(f->inst);
    filestore_free(f->m.files);
    sm_result_free(&f->res);
    rm_tree(f->dir);
    free(f);
}

static int setup(void **state)
{
    *state = fx_open();
    return 0;
}

static int teardown(void **state)
{
    fx_close(*state);
    return 0;
}

/* ---- a dump of every table, to compare stores --------------------------- */

typedef struct dumper {
    FILE *out;
    char codes[32][LMS_NAME_MAX + 1];
    size_t ncodes;
    uint64_t qids[256];
    size_t nqids;
} dumper;

static int dump_record(void *arg, const lms_record *r)
{
    FILE *out = ((dumper *)arg)->out;
    fprintf(out, "record %s|", r->key);
    for (size_t i = 0; i < r->len; i++)
        fprintf(out, "%02x", ((const uint8_t *)r->value)[i]);
    fputc('\n', out);
    return 0;
}

static int dump_user(void *arg, const void *row)
{
    const lms_user *u = row;
    fprintf(((dumper *)arg)->out, "user %s|%s|%d|%s|%" PRId64 "\n", u->name,
            u->full_name, u->role, u->password_hash ? u->password_hash : "-",
            u->created);
    return 0;
}

static int dump_course(void *arg, const void *row)
{
    dumper *d = arg;
    const lms_course *c = row;
    fprintf(d->out, "course %s|%s|%" PRId64 "\n", c->code, c->title, c->created);
    if (d->ncodes < 32)
        strcpy(d->codes[d->ncodes++], c->code);
    return 0;
}

static int dump_enrolment(void *arg, const void *row)
{
    const lms_enrolment *e = row;
    fprintf(((dumper *)arg)->out, "enrolment %s|%s|%d\n", e->course, e->user, e->role);
    return 0;
}

static int dump_assignment(void *arg, const void *row)
{
    const lms_assignment *a = row;
    fprintf(((dumper *)arg)->out,
            "assignment %" PRIu64 "|%s|%s|%s|%" PRId64 "|%" PRId64 "|%.17g|%" PRIu32
            "|%" PRIu64 "|%d|%d|%" PRId64 "|%s\n",
            a->id, a->course, a->title, a->description, a->due, a->cutoff,
            a->max_points, a->max_attempts, a->max_size, a->hold_grades,
            a->released, a->created, a->created_by);
    return 0;
}

static void dump_sha(FILE *out, const uint8_t *h)
{
    for (int i = 0; i < LMS_SHA256_LEN; i++)
        fprintf(out, "%02x", h[i]);
}

static int dump_submission(void *arg, const void *row)
{
    const lms_submission *s = row;
    FILE *out = ((dumper *)arg)->out;
    fprintf(out, "submission %" PRIu64 "|%" PRIu64 "|%s|%s|%" PRIu64 "|", s->id,
            s->assignment_id, s->student, s->file_name, s->size);
    dump_sha(out, s->sha256);
    fprintf(out, "|%" PRId64 "|%d|%" PRIu32 "|%d\n", s->submitted, s->late,
            s->attempt, s->graded);
    return 0;
}

static int dump_grade(void *arg, const void *row)
{
    const lms_grade *g = ((const lms_grade_view *)row)->grade;
    fprintf(((dumper *)arg)->out, "grade %" PRIu64 "|%.17g|%s|%s|%" PRId64 "\n",
            g->submission_id, g->grade, g->feedback, g->grader, g->graded);
    return 0;
}

static int dump_query(void *arg, const void *row)
{
    dumper *d = arg;
    const lms_query *q = row;
    fprintf(d->out,
            "query %" PRIu64 "|%s|%s|%s|%s|%" PRId64 "|%d|%d|%" PRIu64 "|%s|%s|%" PRIu32
            "|%" PRIu32 "|%" PRIu32 "|%d\n",
            q->id, q->course, q->student, q->title, q->text, q->created, q->resolved,
            q->kind, q->escalated_from, q->provider, q->model, q->prompt_tokens,
            q->completion_tokens, q->latency_ms, q->shared);
    if (d->nqids < 256)
        d->qids[d->nqids++] = q->id;
    return 0;
}

static int dump_reply(void *arg, const void *row)
{
    const lms_reply *r = row;
    fprintf(((dumper *)arg)->out, "reply %" PRIu64 "|%" PRIu64 "|%s|%s|%" PRId64 "\n",
            r->id, r->query_id, r->author, r->text, r->created);
    return 0;
}

static int dump_material(void *arg, const void *row)
{
    const lms_material *m = row;
    FILE *out = ((dumper *)arg)->out;
    fprintf(out, "material %" PRIu64 "|%s|%s|%s|%" PRIu64 "|", m->id, m->course,
            m->title, m->file_name, m->size);
    dump_sha(out, m->sha256);
    fprintf(out, "|%s|%" PRId64 "\n", m->uploaded_by, m->created);
    return 0;
}

static void check_list(int rc, const char *what, const lms_err *err)
{
    if (rc != LMS_OK)
        fail_msg("%s failed (%d): %s", what, rc, err->msg);
}

/* Every row of every table the plugin can list, as text (malloc'd). */
static char *dump(fx *f)
{
    dumper d = {0};
    lms_err err = {0};
    char *buf = NULL;
    size_t len = 0;
    void *st = f->inst;
    d.out = open_memstream(&buf, &len);
    assert_non_null(d.out);
    check_list(g_ops->user_list(st, dump_user, &d, &err), "user_list", &err);
    check_list(g_ops->course_list(st, NULL, dump_course, &d, &err), "course_list", &err);
    for (size_t i = 0; i < d.ncodes; i++) {
        lms_course_settings cs;
        int rc = g_ops->course_settings_get(st, d.codes[i], &cs, &err);
        if (rc == LMS_OK)
            fprintf(d.out, "settings %s|%s|%" PRIu32 "\n", cs.course, cs.system_prompt,
                    cs.tutor_daily_limit);
        else if (rc != LMS_NOT_FOUND)
            fail_msg("course_settings_get %s failed (%d): %s", d.codes[i], rc, err.msg);
        check_list(g_ops->enrolment_list(st, d.codes[i], 0, dump_enrolment, &d, &err),
                   "enrolment_list", &err);
        check_list(g_ops->material_list(st, d.codes[i], dump_material, &d, &err),
                   "material_list", &err);
    }
    check_list(g_ops->assignment_list(st, NULL, dump_assignment, &d, &err),
               "assignment_list", &err);
    check_list(g_ops->submission_list(st, 0, NULL, dump_submission, &d, &err),
               "submission_list", &err);
    check_list(g_ops->grade_list(st, NULL, NULL, dump_grade, &d, &err), "grade_list", &err);
    check_list(g_ops->query_list(st, NULL, NULL, dump_query, &d, &err), "query_list", &err);
    for (size_t i = 0; i < d.nqids; i++)
        check_list(g_ops->reply_list(st, d.qids[i], dump_reply, &d, &err), "reply_list",
                   &err);
    check_list(g_ops->record_list(st, "", NULL, 0, dump_record, &d, &err), "record_list",
               &err);
    fclose(d.out);
    return buf;
}

/* ---- running commands ------------------------------------------------------ */

static const char *status_name(int s)
{
    switch (s) {
    case LMS_OK: return "OK";
    case LMS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case LMS_NOT_FOUND: return "NOT_FOUND";
    case LMS_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case LMS_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case LMS_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case LMS_UNAUTHENTICATED: return "UNAUTHENTICATED";
    case LMS_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    default: return "another status";
    }
}

static void trace(fx *f)
{
    const sm_result *r = &f->res;
    fprintf(f->trace, "%" PRIu64 ": %d %" PRIu64 " %d %s\n", f->index, r->status, r->id,
            r->deduplicated, r->message);
    for (size_t i = 0; i < r->nrows; i++)
        fprintf(f->trace, "  row %" PRIu32 " %s %d %s\n", r->rows[i].line, r->rows[i].name,
                r->rows[i].status, r->rows[i].message);
}

/* Apply cmd at the next index, as actor at f->now, in its own transaction.
 * A refusal or a deduplicated answer must leave every table unchanged. */
static const sm_result *run(fx *f, const char *actor, Lms__Command *cmd)
{
    lms_err err = {0};
    char *before = dump(f);
    sm_result_free(&f->res);
    cmd->actor = (char *)actor;
    cmd->time = f->now;
    cmd->client_id = f->client_id;
    cmd->seq = f->seq;
    f->index++;
    if (g_ops->begin(f->inst, &err) != LMS_OK)
        fail_msg("begin: %s", err.msg);
    int rc = sm_apply(&f->m, f->index, cmd, &f->res, &err);
    if (rc != LMS_OK)
        fail_msg("entry %" PRIu64 ": sm_apply failed (%d): %s", f->index, rc, err.msg);
    if (g_ops->commit(f->inst, f->index, &err) != LMS_OK)
        fail_msg("commit: %s", err.msg);
    sm_auth_end(&f->m); /* as node_apply.c after a batch's commit */
    if (f->res.status != LMS_OK || f->res.deduplicated) {
        char *after = dump(f);
        if (strcmp(before, after) != 0)
            fail_msg("entry %" PRIu64 " was answered %s \"%s\" but changed the state:\n"
                     "before:\n%s\nafter:\n%s",
                     f->index, status_name(f->res.status), f->res.message, before, after);
        free(after);
    }
    free(before);
    if (f->trace)
        trace(f);
    return &f->res;
}

/* A command with one body. Every member of the body union is a message
 * pointer, so any member carries the pointer for the case that is set. */
static const sm_result *send(fx *f, const char *actor, Lms__Command__BodyCase body,
                             void *msg)
{
    Lms__Command cmd = LMS__COMMAND__INIT;
    cmd.body_case = body;
    cmd.noop = msg;
    return run(f, actor, &cmd);
}

#define expect_status(r, status, needle) \
    expect_at(__FILE__, __LINE__, (r), (status), (needle))
#define expect_ok(r) expect_status((r), LMS_OK, NULL)

static void expect_at(const char *file, int line, const sm_result *r, int status,
                      const char *needle)
{
    if (r->status == status && (!needle || strstr(r->message, needle)))
        return;
    print_error("expected %s%s%s%s, got %s \"%s\"\n", status_name(status),
                needle ? " saying \"" : "", needle ? needle : "", needle ? "\"" : "",
                status_name(r->status), r->message);
    _fail(file, line);
}

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

static uint8_t g_sha[LMS_SHA256_LEN] = {0xde, 0xad, 0xbe, 0xef}; /* no file's */
static uint8_t g_file[4 * MAX_SIZE];

/* The SHA-256 of the first size bytes of g_file (apply checks a file's
 * SHA-256 against its bytes). A few slots, so that the value of one call
 * outlives the next. */
static const uint8_t *file_sha(size_t size)
{
    static uint8_t slots[8][LMS_SHA256_LEN];
    static unsigned next;
    uint8_t *out = slots[next++ % 8];
    unsigned n = 0;
    EVP_Digest(size ? g_file : (const uint8_t *)"", size, out, &n, EVP_sha256(),
               NULL);
    return out;
}

static ProtobufCBinaryData bytes(const void *p, size_t n)
{
    return (ProtobufCBinaryData){.len = n, .data = (uint8_t *)p};
}

/* ---- command builders ------------------------------------------------------- */

static Lms__CmdCreateUser user_body(const char *name, Lms__Role role)
{
    Lms__CmdCreateUser b = LMS__CMD_CREATE_USER__INIT;
    b.name = (char *)name;
    b.role = role;
    b.full_name = "A. Person";
    b.password_hash = PHC;
    return b;
}

static const sm_result *mk_user(fx *f, const char *actor, const char *name,
                                Lms__Role role)
{
    Lms__CmdCreateUser b = user_body(name, role);
    return send(f, actor, LMS__COMMAND__BODY_CREATE_USER, &b);
}

static const sm_result *mk_course(fx *f, const char *actor, const char *code,
                                  const char *title)
{
    Lms__CmdCreateCourse b = LMS__CMD_CREATE_COURSE__INIT;
    b.code = (char *)code;
    b.title = (char *)title;
    return send(f, actor, LMS__COMMAND__BODY_CREATE_COURSE, &b);
}

static const sm_result *enroll(fx *f, const char *actor, const char *course,
                               const char *user, Lms__Role role)
{
    Lms__CmdEnroll b = LMS__CMD_ENROLL__INIT;
    b.course = (char *)course;
    b.user = (char *)user;
    b.role = role;
    return send(f, actor, LMS__COMMAND__BODY_ENROLL, &b);
}

static Lms__CreateAssignmentRequest assignment_req(void)
{
    Lms__CreateAssignmentRequest a = LMS__CREATE_ASSIGNMENT_REQUEST__INIT;
    a.course = "CS101";
    a.title = "Lab 1";
    a.description = "Write hello world.";
    a.due = DUE;
    a.cutoff = CUTOFF;
    a.max_points = 10;
    a.max_attempts = 3;
    a.max_size = MAX_SIZE;
    return a;
}

static const sm_result *mk_assignment(fx *f, const char *actor,
                                      Lms__CreateAssignmentRequest *a)
{
    Lms__CmdCreateAssignment b = LMS__CMD_CREATE_ASSIGNMENT__INIT;
    b.a = a;
    return send(f, actor, LMS__COMMAND__BODY_CREATE_ASSIGNMENT, &b);
}

static Lms__CmdSubmit submit_body(uint64_t aid, size_t size)
{
    Lms__CmdSubmit b = LMS__CMD_SUBMIT__INIT;
    b.assignment_id = aid;
    b.file_name = "hello.c";
    b.data = bytes(g_file, size);
    b.sha256 = bytes(file_sha(size), LMS_SHA256_LEN);
    return b;
}

static const sm_result *submit(fx *f, const char *actor, uint64_t aid, size_t size)
{
    Lms__CmdSubmit b = submit_body(aid, size);
    return send(f, actor, LMS__COMMAND__BODY_SUBMIT, &b);
}

static const sm_result *grade(fx *f, const char *actor, uint64_t sid, double g,
                              const char *feedback)
{
    Lms__CmdGrade b = LMS__CMD_GRADE__INIT;
    b.submission_id = sid;
    b.grade = g;
    b.feedback = (char *)feedback;
    return send(f, actor, LMS__COMMAND__BODY_GRADE, &b);
}

static const sm_result *release(fx *f, const char *actor, uint64_t aid)
{
    Lms__CmdRelease b = LMS__CMD_RELEASE__INIT;
    b.assignment_id = aid;
    return send(f, actor, LMS__COMMAND__BODY_RELEASE, &b);
}

static const sm_result *extend(fx *f, const char *actor, uint64_t aid,
                               const char *student, int64_t until)
{
    Lms__CmdExtend b = LMS__CMD_EXTEND__INIT;
    b.assignment_id = aid;
    b.student = (char *)student;
    b.until = until;
    return send(f, actor, LMS__COMMAND__BODY_EXTEND, &b);
}

static Lms__EditAssignmentRequest edit_req(uint64_t aid)
{
    Lms__EditAssignmentRequest e = LMS__EDIT_ASSIGNMENT_REQUEST__INIT;
    e.assignment_id = aid;
    return e;
}

static const sm_result *edit(fx *f, const char *actor, Lms__EditAssignmentRequest *e)
{
    Lms__CmdEditAssignment b = LMS__CMD_EDIT_ASSIGNMENT__INIT;
    b.e = e;
    return send(f, actor, LMS__COMMAND__BODY_EDIT_ASSIGNMENT, &b);
}

static const sm_result *hide(fx *f, const char *actor, uint64_t aid, int hidden)
{
    Lms__CmdHideAssignment b = LMS__CMD_HIDE_ASSIGNMENT__INIT;
    b.assignment_id = aid;
    b.hidden = hidden;
    return send(f, actor, LMS__COMMAND__BODY_HIDE_ASSIGNMENT, &b);
}

static const sm_result *delete_assignment(fx *f, const char *actor, uint64_t aid)
{
    Lms__CmdDeleteAssignment b = LMS__CMD_DELETE_ASSIGNMENT__INIT;
    b.assignment_id = aid;
    return send(f, actor, LMS__COMMAND__BODY_DELETE_ASSIGNMENT, &b);
}

/* A new assignment of ins1 in CS101 (assignment_req), nothing submitted. */
static uint64_t fresh_assignment(fx *f)
{
    Lms__CreateAssignmentRequest a = assignment_req();
    const sm_result *r = mk_assignment(f, "ins1", &a);
    expect_ok(r);
    return r->id;
}

static const sm_result *ask(fx *f, const char *actor, const char *course,
                            const char *title, const char *text)
{
    Lms__CmdAsk b = LMS__CMD_ASK__INIT;
    b.course = (char *)course;
    b.title = (char *)title;
    b.text = (char *)text;
    return send(f, actor, LMS__COMMAND__BODY_ASK, &b);
}

static const sm_result *reply(fx *f, const char *actor, uint64_t qid, const char *text)
{
    Lms__CmdReply b = LMS__CMD_REPLY__INIT;
    b.query_id = qid;
    b.text = (char *)text;
    return send(f, actor, LMS__COMMAND__BODY_REPLY, &b);
}

static const sm_result *reply_share(fx *f, const char *actor, uint64_t qid,
                                    const char *text)
{
    Lms__CmdReply b = LMS__CMD_REPLY__INIT;
    b.query_id = qid;
    b.text = (char *)text;
    b.share = 1;
    return send(f, actor, LMS__COMMAND__BODY_REPLY, &b);
}

static const sm_result *share(fx *f, const char *actor, uint64_t qid, int shared)
{
    Lms__CmdShare b = LMS__CMD_SHARE__INIT;
    b.query_id = qid;
    b.shared = shared;
    return send(f, actor, LMS__COMMAND__BODY_SHARE, &b);
}

static const sm_result *resolve(fx *f, const char *actor, uint64_t qid)
{
    Lms__CmdResolve b = LMS__CMD_RESOLVE__INIT;
    b.query_id = qid;
    return send(f, actor, LMS__COMMAND__BODY_RESOLVE, &b);
}

static Lms__CmdUploadMaterial material_body(const char *course)
{
    Lms__CmdUploadMaterial b = LMS__CMD_UPLOAD_MATERIAL__INIT;
    b.course = (char *)course;
    b.title = "Week 1 slides";
    b.file_name = "week1.pdf";
    b.data = bytes(g_file, 100);
    b.sha256 = bytes(file_sha(100), LMS_SHA256_LEN);
    return b;
}

static const sm_result *upload(fx *f, const char *actor, const char *course)
{
    Lms__CmdUploadMaterial b = material_body(course);
    return send(f, actor, LMS__COMMAND__BODY_UPLOAD_MATERIAL, &b);
}

static Lms__TutorInfo g_info = {
    PROTOBUF_C_MESSAGE_INIT(&lms__tutor_info__descriptor),
    "tutor_openai", "gpt-4o-mini", 21, 8, 1500};

static Lms__CmdTutorExchange exchange_body(const char *course, const char *question)
{
    Lms__CmdTutorExchange b = LMS__CMD_TUTOR_EXCHANGE__INIT;
    b.course = (char *)course;
    b.title = "";
    b.question = (char *)question;
    b.answer = "Think about the loop invariant.";
    b.info = &g_info;
    return b;
}

static const sm_result *tutor(fx *f, const char *actor, const char *course,
                              const char *question)
{
    Lms__CmdTutorExchange b = exchange_body(course, question);
    return send(f, actor, LMS__COMMAND__BODY_TUTOR_EXCHANGE, &b);
}

static const sm_result *escalate(fx *f, const char *actor, uint64_t qid, const char *note)
{
    Lms__CmdEscalate b = LMS__CMD_ESCALATE__INIT;
    b.query_id = qid;
    b.text = (char *)note;
    return send(f, actor, LMS__COMMAND__BODY_ESCALATE, &b);
}

/* prompt NULL: leave it; limit < 0: leave it. */
static const sm_result *settings(fx *f, const char *actor, const char *course,
                                 const char *prompt, long limit)
{
    Lms__TutorSettingsRequest s = LMS__TUTOR_SETTINGS_REQUEST__INIT;
    s.course = (char *)course;
    s.set_prompt = prompt != NULL;
    s.system_prompt = prompt ? (char *)prompt : "";
    s.set_limit = limit >= 0;
    s.daily_limit = limit >= 0 ? (uint32_t)limit : 0;
    Lms__CmdTutorSettings b = LMS__CMD_TUTOR_SETTINGS__INIT;
    b.s = &s;
    return send(f, actor, LMS__COMMAND__BODY_TUTOR_SETTINGS, &b);
}

static const sm_result *new_session(fx *f, const char *user, const uint8_t *hash,
                                    size_t len)
{
    Lms__CmdCreateSession b = LMS__CMD_CREATE_SESSION__INIT;
    b.token_hash = bytes(hash, len);
    b.user = (char *)user;
    b.expires = f->now + DAY;
    return send(f, "", LMS__COMMAND__BODY_CREATE_SESSION, &b);
}

static const sm_result *set_password(fx *f, const char *actor, const char *user,
                                     const char *hash, int must_change,
                                     const uint8_t *expect, const uint8_t *keep)
{
    Lms__CmdSetPassword b = LMS__CMD_SET_PASSWORD__INIT;
    b.user = (char *)user;
    b.password_hash = (char *)hash;
    b.must_change = must_change;
    if (expect)
        b.expect_hash = bytes(expect, LMS_SHA256_LEN);
    if (keep)
        b.keep_session = bytes(keep, LMS_SHA256_LEN);
    return send(f, actor, LMS__COMMAND__BODY_SET_PASSWORD, &b);
}

static const sm_result *set_enabled(fx *f, const char *actor, const char *user, int enabled)
{
    Lms__CmdSetUserEnabled b = LMS__CMD_SET_USER_ENABLED__INIT;
    b.user = (char *)user;
    b.enabled = enabled;
    return send(f, actor, LMS__COMMAND__BODY_SET_USER_ENABLED, &b);
}

static const sm_result *announce(fx *f, const char *actor, const char *course,
                                 const char *title, const char *text)
{
    Lms__CmdAnnounce b = LMS__CMD_ANNOUNCE__INIT;
    b.course = (char *)course;
    b.title = (char *)title;
    b.text = (char *)text;
    return send(f, actor, LMS__COMMAND__BODY_ANNOUNCE, &b);
}

static const sm_result *inbox_seen(fx *f, const char *actor, const char *user, int64_t up_to)
{
    Lms__CmdInboxSeen b = LMS__CMD_INBOX_SEEN__INIT;
    b.user = (char *)user;
    b.up_to = up_to;
    return send(f, actor, LMS__COMMAND__BODY_INBOX_SEEN, &b);
}

/* Import rows (name, role) at lines 2, 3, ... */
static const sm_result *import(fx *f, const char *actor, const char *const *names,
                               const Lms__Role *roles, size_t n)
{
    Lms__CmdCreateUser rows[8], *ptrs[8];
    uint32_t lines[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        rows[i] = user_body(names[i], roles[i]);
        ptrs[i] = &rows[i];
        lines[i] = (uint32_t)i + 2;
    }
    Lms__CmdImportUsers b = LMS__CMD_IMPORT_USERS__INIT;
    b.n_users = b.n_lines = n;
    b.users = ptrs;
    b.lines = lines;
    return send(f, actor, LMS__COMMAND__BODY_IMPORT_USERS, &b);
}

/*
 * The standard world: admin root; instructors ins1 (teaches CS101) and
 * ins2 (teaches MA201); students stu1 (in CS101), stu2 (in MA201) and
 * spare (in nothing); assignment f->aid in CS101 (due DUE, cut-off CUTOFF,
 * 3 attempts, MAX_SIZE bytes, 10 points); stu1's submission f->sid to it,
 * stu1's question f->qid and stu1's exchange with the tutor f->tid.
 */
static void world(fx *f)
{
    f->now = T0;
    expect_ok(mk_user(f, "", "root", ADMIN));
    expect_ok(mk_user(f, "root", "ins1", INSTRUCTOR));
    expect_ok(mk_user(f, "root", "ins2", INSTRUCTOR));
    expect_ok(mk_user(f, "root", "stu1", STUDENT));
    expect_ok(mk_user(f, "root", "stu2", STUDENT));
    expect_ok(mk_user(f, "root", "spare", STUDENT));
    expect_ok(mk_course(f, "root", "CS101", "Introduction to Programming"));
    expect_ok(mk_course(f, "root", "MA201", "Linear Algebra"));
    expect_ok(enroll(f, "root", "CS101", "ins1", INSTRUCTOR));
    expect_ok(enroll(f, "root", "MA201", "ins2", INSTRUCTOR));
    expect_ok(enroll(f, "root", "CS101", "stu1", STUDENT));
    expect_ok(enroll(f, "root", "MA201", "stu2", STUDENT));
    Lms__CreateAssignmentRequest a = assignment_req();
    f->aid = mk_assignment(f, "ins1", &a)->id;
    expect_ok(&f->res);
    f->sid = submit(f, "stu1", f->aid, 10)->id;
    expect_ok(&f->res);
    f->qid = ask(f, "stu1", "CS101", "", "How do I compile?")->id;
    expect_ok(&f->res);
    f->tid = tutor(f, "stu1", "CS101", "What is a loop invariant?")->id;
    expect_ok(&f->res);
}

/* Readers for checks on stored rows. */
static lms_assignment get_assignment(fx *f, uint64_t id)
{
    lms_assignment a;
    lms_err err = {0};
    if (g_ops->assignment_get(f->inst, id, &a, &err) != LMS_OK)
        fail_msg("assignment %" PRIu64 " is not stored: %s", id, err.msg);
    return a;
}

static lms_submission get_submission(fx *f, uint64_t id)
{
    lms_submission s;
    lms_err err = {0};
    if (g_ops->submission_get(f->inst, id, 0, &s, &err) != LMS_OK)
        fail_msg("submission %" PRIu64 " is not stored: %s", id, err.msg);
    return s;
}

static asg_state get_state(fx *f, uint64_t id)
{
    asg_state x;
    lms_err err = {0};
    if (asg_get(g_ops, f->inst, id, &x, &err) != LMS_OK)
        fail_msg("the record of assignment %" PRIu64 ": %s", id, err.msg);
    return x;
}

static uint32_t count_submissions(fx *f, uint64_t aid, const char *student)
{
    uint32_t n = 0;
    lms_err err = {0};
    assert_int_equal(g_ops->submission_count(f->inst, aid, student, &n, &err), LMS_OK);
    return n;
}

static lms_query get_query(fx *f, uint64_t id)
{
    lms_query q;
    lms_err err = {0};
    if (g_ops->query_get(f->inst, id, &q, &err) != LMS_OK)
        fail_msg("query %" PRIu64 " is not stored: %s", id, err.msg);
    return q;
}

/* ---- users, sessions, bootstrap ---------------------------------------------- */

static void test_bootstrap_admin_only_on_empty_store(void **state)
{
    fx *f = *state;
    expect_status(mk_user(f, "", "first", STUDENT), LMS_PERMISSION_DENIED,
                  "the first user must be an admin");
    expect_ok(mk_user(f, "", "root", ADMIN));
    expect_status(mk_user(f, "", "root2", ADMIN), LMS_PERMISSION_DENIED,
                  "users already exist");
    expect_status(mk_user(f, "ghost", "root3", ADMIN), LMS_UNAUTHENTICATED,
                  "user ghost does not exist");
    lms_user u;
    lms_err err = {0};
    assert_int_equal(g_ops->user_get(f->inst, "root", &u, &err), LMS_OK);
    assert_int_equal(u.role, LMS_ROLE_ADMIN);
    assert_int_equal(u.created, T0);
    assert_string_equal(u.password_hash, PHC);
    uint64_t n;
    assert_int_equal(g_ops->user_count(f->inst, &n, &err), LMS_OK);
    assert_int_equal(n, 1);
}

static void test_create_user_rules(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(mk_user(f, "ins1", "newbie", STUDENT), LMS_PERMISSION_DENIED,
                  "only an admin may create users");
    const char *bad[] = {"", "-dash", ".dot", "has space", "slash/", "ümlaut"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_status(mk_user(f, "root", bad[i], STUDENT), LMS_INVALID_ARGUMENT,
                      "user name must be 1 to 64 characters");
    char *long_name = repeat('a', 65);
    expect_status(mk_user(f, "root", long_name, STUDENT), LMS_INVALID_ARGUMENT,
                  "user name");
    long_name[64] = '\0';
    expect_ok(mk_user(f, "root", long_name, STUDENT));
    free(long_name);
    expect_ok(mk_user(f, "root", "a.b_c-9", INSTRUCTOR));
    expect_status(mk_user(f, "root", "norole", LMS__ROLE__ROLE_NONE),
                  LMS_INVALID_ARGUMENT, "user norole: role must be student, instructor or admin");
    Lms__CmdCreateUser b = user_body("longfull", STUDENT);
    b.full_name = repeat('x', LMS_TITLE_MAX + 1);
    expect_status(send(f, "root", LMS__COMMAND__BODY_CREATE_USER, &b),
                  LMS_INVALID_ARGUMENT, "user longfull: the full name is 201 bytes; at most 200 are allowed");
    free(b.full_name);
    b = user_body("nopass", STUDENT);
    b.password_hash = "";
    expect_status(send(f, "root", LMS__COMMAND__BODY_CREATE_USER, &b),
                  LMS_INVALID_ARGUMENT, "password hash is empty");
    expect_status(mk_user(f, "root", "stu1", STUDENT), LMS_ALREADY_EXISTS,
                  "user stu1: already exists");
}

static void test_sessions(void **state)
{
    fx *f = *state;
    world(f);
    uint8_t h[LMS_SHA256_LEN] = {1, 2, 3};
    expect_status(new_session(f, "stu1", h, 31), LMS_INVALID_ARGUMENT,
                  "session token hash must be 32 bytes (got 31)");
    expect_status(new_session(f, "nobody", h, 32), LMS_NOT_FOUND,
                  "user nobody does not exist");
    expect_ok(new_session(f, "stu1", h, 32));
    lms_session s;
    lms_err err = {0};
    assert_int_equal(g_ops->session_get(f->inst, h, &s, &err), LMS_OK);
    assert_string_equal(s.user, "stu1");
    assert_int_equal(s.created, T0);
    assert_int_equal(s.expires, T0 + DAY);

    Lms__CmdDeleteSession d = LMS__CMD_DELETE_SESSION__INIT;
    d.token_hash = bytes(h, 32);
    expect_ok(send(f, "stu1", LMS__COMMAND__BODY_DELETE_SESSION, &d));
    assert_int_equal(g_ops->session_get(f->inst, h, &s, &err), LMS_NOT_FOUND);
    expect_ok(send(f, "stu1", LMS__COMMAND__BODY_DELETE_SESSION, &d));
    d.token_hash = bytes(h, 0);
    expect_status(send(f, "stu1", LMS__COMMAND__BODY_DELETE_SESSION, &d),
                  LMS_INVALID_ARGUMENT, "32 bytes");
}

/* sm.auth_epoch is a sequence lock (sm.h): odd from the first command of
 * a batch that changes users or sessions until the batch is committed
 * (sm_auth_end), then even and higher; commands that leave them alone do
 * not move it. The loop's authentication cache relies on it: nothing read
 * under an odd value is cached (found by review: a session read between
 * a logout's apply and its commit stayed cached after the commit). */
static void test_auth_epoch_is_a_sequence_lock(void **state)
{
    fx *f = *state;
    world(f);
    uint64_t e0 = atomic_load(&f->m.auth_epoch);
    assert_true(sm_auth_stable(e0));
    expect_ok(mk_course(f, "root", "AE101", "Epochs"));
    assert_int_equal(atomic_load(&f->m.auth_epoch), e0);
    uint8_t h[LMS_SHA256_LEN] = {7};
    /* inside one batch: odd from the first change until the end */
    lms_err err = {0};
    Lms__CmdCreateSession b = LMS__CMD_CREATE_SESSION__INIT;
    b.token_hash = bytes(h, LMS_SHA256_LEN);
    b.user = "stu1";
    b.expires = f->now + DAY;
    Lms__Command cmd = LMS__COMMAND__INIT;
    cmd.body_case = LMS__COMMAND__BODY_CREATE_SESSION;
    cmd.create_session = &b;
    cmd.time = f->now;
    sm_result res;
    assert_int_equal(g_ops->begin(f->inst, &err), LMS_OK);
    assert_int_equal(sm_apply(&f->m, ++f->index, &cmd, &res, &err), LMS_OK);
    assert_int_equal(res.status, LMS_OK);
    assert_int_equal(atomic_load(&f->m.auth_epoch), e0 + 1);
    assert_false(sm_auth_stable(atomic_load(&f->m.auth_epoch)));
    h[1] = 1;
    assert_int_equal(sm_apply(&f->m, ++f->index, &cmd, &res, &err), LMS_OK);
    assert_int_equal(atomic_load(&f->m.auth_epoch), e0 + 1); /* still odd */
    assert_int_equal(g_ops->commit(f->inst, f->index, &err), LMS_OK);
    assert_int_equal(atomic_load(&f->m.auth_epoch), e0 + 1); /* until the end */
    sm_auth_end(&f->m);
    assert_int_equal(atomic_load(&f->m.auth_epoch), e0 + 2);
    sm_auth_end(&f->m); /* nothing in flight: nothing moves */
    assert_int_equal(atomic_load(&f->m.auth_epoch), e0 + 2);
}

static const sm_result *capped_session(fx *f, const char *user, uint8_t id,
                                       uint32_t max)
{
    uint8_t h[LMS_SHA256_LEN] = {0};
    h[0] = id;
    Lms__CmdCreateSession b = LMS__CMD_CREATE_SESSION__INIT;
    b.token_hash = bytes(h, LMS_SHA256_LEN);
    b.user = (char *)user;
    b.expires = f->now + DAY;
    b.max_sessions = max;
    return send(f, "", LMS__COMMAND__BODY_CREATE_SESSION, &b);
}

static int has_session(fx *f, uint8_t id)
{
    uint8_t h[LMS_SHA256_LEN] = {0};
    h[0] = id;
    lms_session s;
    lms_err err = {0};
    return g_ops->session_get(f->inst, h, &s, &err) == LMS_OK;
}

/* CmdCreateSession.max_sessions: the user keeps at most that many, the
 * oldest ending first (by created, then token hash); other users' sessions
 * stay; 0 (entries from before the cap) means no cap. */
static void test_sessions_per_user_capped_oldest_end(void **state)
{
    fx *f = *state;
    world(f);
    expect_ok(capped_session(f, "stu1", 9, 0));
    f->now = T0 + 1;
    expect_ok(capped_session(f, "stu1", 3, 0)); /* same created as 4 */
    expect_ok(capped_session(f, "stu1", 4, 0));
    expect_ok(capped_session(f, "stu2", 1, 0)); /* another user's, oldest */
    f->now = T0 + 2;
    /* Three sessions of stu1 and a new one under a cap of 2: 9 (oldest)
     * and 3 (same time as 4, smaller hash) end. */
    expect_ok(capped_session(f, "stu1", 5, 2));
    if (has_session(f, 9) || has_session(f, 3) || !has_session(f, 4) ||
        !has_session(f, 5) || !has_session(f, 1))
        fail_msg("expected sessions 4 and 5 of stu1 and 1 of stu2, got 9:%d "
                 "3:%d 4:%d 5:%d 1:%d",
                 has_session(f, 9), has_session(f, 3), has_session(f, 4),
                 has_session(f, 5), has_session(f, 1));
    /* A cap of 1: only the new one is left. */
    f->now = T0 + 3;
    expect_ok(capped_session(f, "stu1", 6, 1));
    if (has_session(f, 4) || has_session(f, 5) || !has_session(f, 6))
        fail_msg("expected only session 6 of stu1, got 4:%d 5:%d 6:%d",
                 has_session(f, 4), has_session(f, 5), has_session(f, 6));
    /* No cap. */
    for (uint8_t i = 20; i < 30; i++)
        expect_ok(capped_session(f, "stu1", i, 0));
    assert_true(has_session(f, 6) && has_session(f, 20));
}

/* sm.auth_epoch moves with what may change who a token stands for, and
 * not with the everyday commands (dispatch.c caches authentication under
 * it). */
static void test_auth_epoch(void **state)
{
    fx *f = *state;
    world(f);
    uint8_t h[LMS_SHA256_LEN] = {7};
    uint64_t e = f->m.auth_epoch;
    expect_ok(new_session(f, "stu1", h, 32));
    assert_true(f->m.auth_epoch > e);
    e = f->m.auth_epoch;
    expect_ok(ask(f, "stu1", "CS101", "q", "a question"));
    expect_ok(mk_course(f, "root", "PH100", "Physics"));
    assert_int_equal(f->m.auth_epoch, e);
    Lms__CmdDeleteSession d = LMS__CMD_DELETE_SESSION__INIT;
    d.token_hash = bytes(h, 32);
    expect_ok(send(f, "stu1", LMS__COMMAND__BODY_DELETE_SESSION, &d));
    assert_true(f->m.auth_epoch > e);
    e = f->m.auth_epoch;
    expect_ok(mk_user(f, "root", "late", STUDENT));
    assert_true(f->m.auth_epoch > e);
    e = f->m.auth_epoch;
    /* a refused command may still have changed nothing, but counts */
    expect_status(mk_user(f, "root", "late", STUDENT), LMS_ALREADY_EXISTS,
                  "already exists");
    assert_true(f->m.auth_epoch > e);
}

static void test_import_reports_every_row(void **state)
{
    fx *f = *state;
    world(f);
    const char *names[] = {"new1", "bad name", "stu1", "new2", "new2", "norole"};
    const Lms__Role roles[] = {STUDENT, STUDENT, STUDENT, INSTRUCTOR, STUDENT,
                               LMS__ROLE__ROLE_NONE};
    const sm_result *r = import(f, "root", names, roles, 6);
    expect_ok(r);
    assert_int_equal(r->id, 2);
    assert_int_equal(r->nrows, 6);
    const int want[] = {LMS_OK, LMS_INVALID_ARGUMENT, LMS_ALREADY_EXISTS, LMS_OK,
                        LMS_ALREADY_EXISTS, LMS_INVALID_ARGUMENT};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(r->rows[i].line, i + 2);
        assert_string_equal(r->rows[i].name, names[i]);
        if (r->rows[i].status != want[i])
            fail_msg("row %zu (%s): expected %s, got %s \"%s\"", i, names[i],
                     status_name(want[i]), status_name(r->rows[i].status),
                     r->rows[i].message);
    }
    assert_string_equal(r->rows[0].message, "");
    assert_non_null(strstr(r->rows[2].message, "already exists"));
    assert_non_null(strstr(r->rows[5].message, "role must be"));
    lms_user u;
    lms_err err = {0};
    assert_int_equal(g_ops->user_get(f->inst, "new2", &u, &err), LMS_OK);
    assert_int_equal(u.role, LMS_ROLE_INSTRUCTOR);

    r = import(f, "ins1", names, roles, 1);
    expect_status(r, LMS_PERMISSION_DENIED, "only an admin may import users");
    assert_int_equal(r->nrows, 0);
    assert_null(r->rows);
    r = import(f, "root", names, roles, 0);
    expect_ok(r);
    assert_int_equal(r->id, 0);
}

/* ---- courses and enrolment ----------------------------------------------------- */

static void test_create_course_rules(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(mk_course(f, "ins1", "PH100", "Physics"), LMS_PERMISSION_DENIED,
                  "only an admin may create courses");
    expect_status(mk_course(f, "root", "", "Physics"), LMS_INVALID_ARGUMENT,
                  "course code must be 1 to 64 characters");
    expect_status(mk_course(f, "root", "PH 100", "Physics"), LMS_INVALID_ARGUMENT,
                  "course PH 100: a course code");
    expect_status(mk_course(f, "root", "PH100", ""), LMS_INVALID_ARGUMENT,
                  "course PH100: the title is empty");
    char *title = repeat('t', 201);
    expect_status(mk_course(f, "root", "PH100", title), LMS_INVALID_ARGUMENT,
                  "the title is 201 bytes");
    title[200] = '\0';
    expect_ok(mk_course(f, "root", "_PH.100-x", title));
    free(title);
    expect_status(mk_course(f, "root", "PH100", "\xff\xfe"), LMS_INVALID_ARGUMENT,
                  "title is not valid UTF-8");
    expect_status(mk_course(f, "root", "CS101", "Again"), LMS_ALREADY_EXISTS,
                  "course CS101: already exists");
    lms_course c;
    lms_err err = {0};
    assert_int_equal(g_ops->course_get(f->inst, "_PH.100-x", &c, &err), LMS_OK);
    assert_int_equal(strlen(c.title), 200);
    assert_int_equal(c.created, T0);
}

static void test_texts_are_utf8_and_messages_are_clean(void **state)
{
    fx *f = *state;
    world(f);
    const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xe2\x82",
                         "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_status(mk_course(f, "root", "PH100", bad[i]), LMS_INVALID_ARGUMENT,
                      "course PH100: the title is not valid UTF-8");
    expect_ok(mk_course(f, "root", "PH100", "Physik f\xc3\xbcr alle \xf0\x9f\x98\x80"));

    /* A refusal that echoes a client's bytes shows no escapes or bad UTF-8. */
    const sm_result *r = mk_user(f, "root", "\x1b[2Jevil\xff", STUDENT);
    expect_status(r, LMS_INVALID_ARGUMENT, "user ?[2Jevil?: a user name must be");
    const char *names[] = {"ok\x07name"};
    const Lms__Role roles[] = {STUDENT};
    r = import(f, "root", names, roles, 1);
    expect_ok(r);
    assert_string_equal(r->rows[0].name, "ok?name");
    assert_non_null(strstr(r->rows[0].message, "user ok?name: "));
}

static int enrolment_of(fx *f, const char *course, const char *user)
{
    int role = -1;
    lms_err err = {0};
    assert_int_equal(g_ops->enrolment_get(f->inst, course, user, &role, &err), LMS_OK);
    return role;
}

static void test_enroll_rules(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(enroll(f, "ins1", "CS101", "spare", STUDENT), LMS_PERMISSION_DENIED,
                  "only an admin may enroll users");
    expect_status(enroll(f, "root", "XX999", "spare", STUDENT), LMS_NOT_FOUND,
                  "course XX999 does not exist");
    expect_status(enroll(f, "root", "CS101", "nobody", STUDENT), LMS_NOT_FOUND,
                  "course CS101: user nobody does not exist");
    expect_status(enroll(f, "root", "CS101", "spare", INSTRUCTOR),
                  LMS_FAILED_PRECONDITION, "user spare is a student and cannot teach");
    expect_status(enroll(f, "root", "CS101", "ins2", STUDENT), LMS_FAILED_PRECONDITION,
                  "user ins2 is an instructor and cannot be enrolled as a student");
    expect_status(enroll(f, "root", "CS101", "root", STUDENT), LMS_FAILED_PRECONDITION,
                  "user root is an admin and cannot be enrolled");
    expect_status(enroll(f, "root", "CS101", "spare", ADMIN), LMS_INVALID_ARGUMENT,
                  "enrolment role must be student, instructor or ta");
    expect_status(enroll(f, "root", "CS101", "spare", LMS__ROLE__ROLE_NONE),
                  LMS_INVALID_ARGUMENT, "enrolment role");
    assert_int_equal(enrolment_of(f, "CS101", "spare"), LMS_ROLE_NONE);
    expect_ok(enroll(f, "root", "CS101", "spare", STUDENT));
    expect_ok(enroll(f, "root", "CS101", "spare", STUDENT));
    expect_ok(enroll(f, "root", "CS101", "ins2", INSTRUCTOR));
    assert_int_equal(enrolment_of(f, "CS101", "spare"), LMS_ROLE_STUDENT);
    assert_int_equal(enrolment_of(f, "CS101", "ins2"), LMS_ROLE_INSTRUCTOR);
}

/* ---- accounts: passwords, one-time passwords, disabled users ------------------- */

static account_state account_of(fx *f, const char *user)
{
    account_state a;
    lms_err err = {0};
    if (account_get(g_ops, f->inst, user, &a, &err) != LMS_OK)
        fail_msg("account_get %s: %s", user, err.msg);
    return a;
}

/* The SHA-256 of user's stored password hash: what passwd's leader sends. */
static void stored_hash_sha(fx *f, const char *user, uint8_t out[LMS_SHA256_LEN])
{
    lms_user u;
    lms_err err = {0};
    unsigned n = 0;
    assert_int_equal(g_ops->user_get(f->inst, user, &u, &err), LMS_OK);
    assert_true(EVP_Digest(u.password_hash, strlen(u.password_hash), out, &n, EVP_sha256(),
                           NULL) && n == LMS_SHA256_LEN);
}

static int session_of(fx *f, uint8_t id)
{
    uint8_t h[LMS_SHA256_LEN] = {id};
    lms_session s;
    lms_err err = {0};
    return g_ops->session_get(f->inst, h, &s, &err) == LMS_OK;
}

static void test_passwords(void **state)
{
    fx *f = *state;
    world(f);
    uint8_t a[LMS_SHA256_LEN] = {1}, b[LMS_SHA256_LEN] = {2}, sha[LMS_SHA256_LEN],
            stale[LMS_SHA256_LEN] = {9};
    expect_ok(new_session(f, "stu1", a, sizeof a));
    expect_ok(new_session(f, "stu1", b, sizeof b));
    /* someone else's password: admins only, and only as a one-time one */
    expect_status(set_password(f, "stu2", "stu1", "$new", 0, NULL, NULL),
                  LMS_PERMISSION_DENIED, "only an admin may reset passwords");
    /* one's own: against the hash the leader checked, which must be current */
    expect_status(set_password(f, "stu1", "stu1", "$new", 0, NULL, a), LMS_INVALID_ARGUMENT,
                  "the old password's hash is missing");
    expect_status(set_password(f, "stu1", "stu1", "$new", 0, stale, a),
                  LMS_FAILED_PRECONDITION, "user stu1: the password was changed meanwhile");
    expect_status(set_password(f, "stu1", "stu1", "", 0, stale, a), LMS_INVALID_ARGUMENT,
                  "the password hash is empty");
    expect_status(set_password(f, "root", "ghost", "$new", 1, NULL, NULL), LMS_NOT_FOUND,
                  "user ghost does not exist");
    stored_hash_sha(f, "stu1", sha);
    expect_ok(set_password(f, "stu1", "stu1", "$new-own", 0, sha, a));
    assert_true(session_of(f, 1));  /* the caller's stays */
    assert_false(session_of(f, 2)); /* the others end */
    assert_int_equal(account_of(f, "stu1").must_change, 0);
    /* the same command again (its hash is no longer the stored one) */
    expect_status(set_password(f, "stu1", "stu1", "$new-own", 0, sha, a),
                  LMS_FAILED_PRECONDITION, "changed meanwhile");
    /* an admin's reset: a one-time password, every session ends */
    expect_ok(set_password(f, "root", "stu1", "$one-time", 1, NULL, NULL));
    assert_false(session_of(f, 1));
    account_state st = account_of(f, "stu1");
    assert_int_equal(st.must_change, 1);
    assert_string_equal(st.changed_by, "root");
    /* the user's own change clears it */
    stored_hash_sha(f, "stu1", sha);
    expect_ok(set_password(f, "stu1", "stu1", "$mine-again", 0, sha, NULL));
    assert_int_equal(account_of(f, "stu1").must_change, 0);
}

static void test_disabled_users(void **state)
{
    fx *f = *state;
    world(f);
    uint8_t a[LMS_SHA256_LEN] = {1}, b[LMS_SHA256_LEN] = {2};
    expect_ok(new_session(f, "stu1", a, sizeof a));
    expect_status(set_enabled(f, "ins1", "stu1", 0), LMS_PERMISSION_DENIED,
                  "only an admin may disable users");
    expect_status(set_enabled(f, "root", "root", 0), LMS_FAILED_PRECONDITION,
                  "you cannot disable your own account");
    expect_status(set_enabled(f, "root", "ghost", 0), LMS_NOT_FOUND,
                  "user ghost does not exist");
    expect_ok(set_enabled(f, "root", "stu1", 0));
    assert_false(session_of(f, 1));
    assert_int_equal(account_of(f, "stu1").disabled, 1);
    expect_status(new_session(f, "stu1", b, sizeof b), LMS_PERMISSION_DENIED,
                  "user stu1 is disabled");
    /* the work stays: still enrolled */
    assert_int_equal(enrolment_of(f, "CS101", "stu1"), LMS_ROLE_STUDENT);
    expect_ok(set_enabled(f, "root", "stu1", 0)); /* again: nothing to do */
    expect_ok(set_enabled(f, "root", "stu1", 1));
    assert_int_equal(account_of(f, "stu1").disabled, 0);
    expect_ok(new_session(f, "stu1", b, sizeof b));
}

/* ---- assignments ---------------------------------------------------------------- */

static void expect_bad_assignment(fx *f, Lms__CreateAssignmentRequest a, const char *why)
{
    const sm_result *r = mk_assignment(f, "ins1", &a);
    if (r->status != LMS_INVALID_ARGUMENT || !strstr(r->message, why))
        fail_msg("assignment expected INVALID_ARGUMENT saying \"%s\", got %s \"%s\"",
                 why, status_name(r->status), r->message);
}

static void test_create_assignment_rules(void **state)
{
    fx *f = *state;
    world(f);
    Lms__CreateAssignmentRequest a = assignment_req();
    a.course = "XX999";
    expect_status(mk_assignment(f, "ins1", &a), LMS_NOT_FOUND,
                  "course XX999 does not exist");
    a = assignment_req();
    expect_status(mk_assignment(f, "ins2", &a), LMS_PERMISSION_DENIED,
                  "only the instructors of course CS101 may create assignments");
    Lms__CmdCreateAssignment empty = LMS__CMD_CREATE_ASSIGNMENT__INIT;
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_CREATE_ASSIGNMENT, &empty),
                  LMS_INVALID_ARGUMENT, "no assignment");

    a.title = "";
    expect_bad_assignment(f, a, "new assignment in course CS101: the title is empty");
    a = assignment_req();
    a.description = repeat('d', 64 * 1024 + 1);
    expect_bad_assignment(f, a, "the description is 65537 bytes; at most 65536 are allowed");
    free(a.description);
    a = assignment_req();
    a.due = 0;
    expect_bad_assignment(f, a, "a due time is required");
    a = assignment_req();
    a.cutoff = DUE - 1;
    expect_bad_assignment(f, a, "the cut-off 2026-11-30T23:59:59.999Z is before the due "
                                "time 2026-12-01T00:00:00Z");
    double bad_points[] = {0, -1, NAN, INFINITY};
    for (size_t i = 0; i < 4; i++) {
        a = assignment_req();
        a.max_points = bad_points[i];
        expect_bad_assignment(f, a, "maximum points must be a number above 0");
    }
    a = assignment_req();
    a.max_points = 1e308;
    expect_bad_assignment(f, a, "maximum points must be a number above 0 and at most 1e+06");
    a = assignment_req();
    a.max_attempts = UINT32_MAX;
    expect_bad_assignment(f, a, "maximum attempts must be at most 1000");
    a = assignment_req();
    a.due = INT64_MAX;
    expect_bad_assignment(f, a, "between 1970 and the end of year 9999");
    a = assignment_req();
    a.cutoff = INT64_MAX;
    expect_bad_assignment(f, a, "between 1970 and the end of year 9999");
    a = assignment_req();
    a.title = "Lab\x1b]0;pwned\x07";
    expect_bad_assignment(f, a, "title contains a control character (U+001B)");
    a = assignment_req();
    a.description = "line one\n\tline two\xc2\x9b";
    expect_bad_assignment(f, a, "description contains a control character (U+009B)");
    a = assignment_req();
    a.max_size = 0;
    expect_bad_assignment(f, a, "maximum file size");
}

static void test_create_assignment_stores_it(void **state)
{
    fx *f = *state;
    world(f);
    Lms__CreateAssignmentRequest a = assignment_req();
    a.cutoff = 0;
    a.hold_grades = 1;
    a.description = repeat('d', 64 * 1024);
    const sm_result *r = mk_assignment(f, "ins1", &a);
    free(a.description);
    expect_ok(r);
    assert_int_equal(r->id, f->index);
    lms_assignment x = get_assignment(f, r->id);
    assert_string_equal(x.course, "CS101");
    assert_string_equal(x.created_by, "ins1");
    assert_int_equal(x.created, T0);
    assert_int_equal(x.cutoff, 0);
    assert_int_equal(x.hold_grades, 1);
    assert_int_equal(x.released, 0);
    assert_int_equal(strlen(x.description), 64 * 1024);
}

/* ---- submissions ------------------------------------------------------------------ */

static void test_submit_stores_file_and_counts_attempts(void **state)
{
    fx *f = *state;
    world(f);
    f->now = DUE - 1;
    const sm_result *r = submit(f, "stu1", f->aid, MAX_SIZE);
    expect_ok(r);
    assert_int_equal(r->id, f->index);
    lms_submission s;
    lms_err err = {0};
    assert_int_equal(g_ops->submission_get(f->inst, r->id, 1, &s, &err), LMS_OK);
    assert_int_equal(s.assignment_id, f->aid);
    assert_string_equal(s.student, "stu1");
    assert_string_equal(s.file_name, "hello.c");
    assert_int_equal(s.size, MAX_SIZE);
    assert_memory_equal(s.sha256, file_sha(MAX_SIZE), LMS_SHA256_LEN);
    assert_null(s.data); /* the body is in the file store, put by apply */
    static uint8_t body[MAX_SIZE];
    assert_int_equal(filestore_get(f->m.files, s.sha256, s.size, body, &err),
                     LMS_OK);
    assert_memory_equal(body, g_file, MAX_SIZE);
    assert_int_equal(s.submitted, DUE - 1);
    assert_int_equal(s.attempt, 2);
    assert_int_equal(s.late, 0);
    f->now = DUE;
    r = submit(f, "stu1", f->aid, 1);
    expect_ok(r);
    s = get_submission(f, r->id);
    assert_int_equal(s.attempt, 3);
    assert_int_equal(s.late, 0); /* at the due time is still on time */
    assert_int_equal(s.size, 1);
    expect_status(submit(f, "stu1", f->aid, 1), LMS_FAILED_PRECONDITION,
                  "all 3 attempts used");
    assert_int_equal(count_submissions(f, f->aid, "stu1"), 3);
}

static void test_submit_late_and_cutoff(void **state)
{
    fx *f = *state;
    char want[96];
    world(f);
    f->now = DUE + 1;
    const sm_result *r = submit(f, "stu1", f->aid, 10);
    expect_ok(r);
    assert_int_equal(get_submission(f, r->id).late, 1);
    f->now = CUTOFF;
    expect_ok(submit(f, "stu1", f->aid, 10));
    f->now = CUTOFF + 1;
    snprintf(want, sizeof want,
             "assignment %" PRIu64 ": the cut-off 2026-12-02T00:00:00Z has passed", f->aid);
    expect_status(submit(f, "stu1", f->aid, 10), LMS_FAILED_PRECONDITION, want);
}

static void test_extension_moves_due_and_cutoff(void **state)
{
    fx *f = *state;
    world(f);
    f->now = CUTOFF + 1;
    expect_status(submit(f, "stu1", f->aid, 10), LMS_FAILED_PRECONDITION, "cut-off");
    expect_ok(extend(f, "ins1", f->aid, "stu1", CUTOFF + DAY));
    lms_extension x;
    lms_err err = {0};
    assert_int_equal(g_ops->extension_get(f->inst, f->aid, "stu1", &x, &err), LMS_OK);
    assert_int_equal(x.until, CUTOFF + DAY);
    const sm_result *r = submit(f, "stu1", f->aid, 10);
    expect_ok(r);
    assert_int_equal(get_submission(f, r->id).late, 0);
    f->now = CUTOFF + DAY + 1;
    expect_status(submit(f, "stu1", f->aid, 10), LMS_FAILED_PRECONDITION,
                  "the cut-off 2026-12-03T00:00:00Z has passed");

    /* No cut-off: an extension adds none. One that ends before the cut-off
     * moves the due time only. */
    Lms__CreateAssignmentRequest a = assignment_req();
    a.cutoff = 0;
    a.max_attempts = 0;
    uint64_t no_cutoff = mk_assignment(f, "ins1", &a)->id;
    expect_ok(extend(f, "ins1", no_cutoff, "stu1", DUE + 1000));
    f->now = DUE + 1001;
    r = submit(f, "stu1", no_cutoff, 10);
    expect_ok(r);
    assert_int_equal(get_submission(f, r->id).late, 1);
    f->now = DUE + 365 * DAY;
    expect_ok(submit(f, "stu1", no_cutoff, 10));
}

static void test_extend_rules(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(extend(f, "ins1", 9999, "stu1", CUTOFF), LMS_NOT_FOUND,
                  "assignment 9999 does not exist");
    expect_status(extend(f, "ins1", f->aid, "stu1", 0), LMS_INVALID_ARGUMENT,
                  "an extension needs an end time");
    /* one that ends at or before the due time would change nothing */
    char want[200];
    snprintf(want, sizeof want,
             "assignment %" PRIu64 ": the extension's end 2026-11-30T00:00:00Z is not after "
             "the assignment's due time 2026-12-01T00:00:00Z; an extension must end after it",
             f->aid);
    expect_status(extend(f, "ins1", f->aid, "stu1", DUE - DAY), LMS_INVALID_ARGUMENT, want);
    expect_status(extend(f, "ins1", f->aid, "stu1", DUE), LMS_INVALID_ARGUMENT,
                  "is not after the assignment's due time");
    expect_ok(extend(f, "ins1", f->aid, "stu1", DUE + 1));
    expect_status(extend(f, "ins1", f->aid, "stu2", CUTOFF), LMS_FAILED_PRECONDITION,
                  "stu2 is not a student of course CS101");
    expect_status(extend(f, "ins1", f->aid, "ins1", CUTOFF), LMS_FAILED_PRECONDITION,
                  "ins1 is not a student");
    expect_status(extend(f, "ins1", f->aid, "nobody", CUTOFF), LMS_FAILED_PRECONDITION,
                  "nobody is not a student");
    const sm_result *r = extend(f, "ins1", f->aid, "stu1", CUTOFF + DAY);
    expect_ok(r);
    assert_int_equal(r->id, f->aid);
}

static void test_submit_file_checks(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(submit(f, "stu1", 9999, 10), LMS_NOT_FOUND,
                  "assignment 9999 does not exist");
    char want[96];
    snprintf(want, sizeof want,
             "assignment %" PRIu64 ": the file is 1001 bytes; the assignment accepts at most 1000",
             f->aid);
    expect_status(submit(f, "stu1", f->aid, MAX_SIZE + 1), LMS_INVALID_ARGUMENT, want);
    char *long_name = repeat('n', 256);
    const char *bad_names[] = {"", "dir/file.c", "..", ".", long_name, "\xc3",
                               "a\x1b[31m.c", "evil\xe2\x80\xaegpj.exe", "two\nlines.c"};
    const char *why[] = {"the file name is empty", "must be one plain name: no '/'",
                         "must be one plain name", "must be one plain name",
                         "the file name is 256 bytes; at most 255 are allowed",
                         "not valid UTF-8", "file name contains a control character (U+001B)",
                         "file name contains an invisible formatting character (U+202E)",
                         "file name contains a control character (U+000A)"};
    for (size_t i = 0; i < sizeof why / sizeof why[0]; i++) {
        Lms__CmdSubmit b = submit_body(f->aid, 10);
        b.file_name = (char *)bad_names[i];
        expect_status(send(f, "stu1", LMS__COMMAND__BODY_SUBMIT, &b), LMS_INVALID_ARGUMENT,
                      why[i]);
    }
    free(long_name);
    /* an empty file is refused and spends no attempt (run() checks that
     * nothing changed) */
    char empty[96];
    snprintf(empty, sizeof empty, "assignment %" PRIu64 ": the file is empty", f->aid);
    expect_status(submit(f, "stu1", f->aid, 0), LMS_INVALID_ARGUMENT, empty);
    Lms__CmdSubmit b = submit_body(f->aid, 10);
    b.sha256 = bytes(g_sha, 31);
    expect_status(send(f, "stu1", LMS__COMMAND__BODY_SUBMIT, &b), LMS_INVALID_ARGUMENT,
                  "file SHA-256 must be 32 bytes (got 31)");
    b.sha256 = bytes(g_sha, 32);
    expect_status(send(f, "stu1", LMS__COMMAND__BODY_SUBMIT, &b), LMS_INVALID_ARGUMENT,
                  "the file SHA-256 is not the SHA-256 of its 10 bytes");
    b.sha256 = bytes(file_sha(10), 32);
    b.file_name = "résumé v2.txt";
    expect_ok(send(f, "stu1", LMS__COMMAND__BODY_SUBMIT, &b));
}

/* The text rule (utf8.h) the handlers and apply share: one line refuses
 * every control and bidi/invisible format character; a multi-line body
 * keeps newlines and tabs only. */
static void test_text_rule(void **state)
{
    (void)state;
    char msg[160];
    const char *ok_line[] = {"plain", "Physik f\xc3\xbcr alle \xf0\x9f\x98\x80", "a b"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(utf8_text_check("x", ok_line[i], strlen(ok_line[i]), UTF8_LINE,
                                         msg, sizeof msg), 0);
    struct { const char *s; size_t n; unsigned cp; } bad[] = {
        {"a\x1b", 2, 0x1B}, {"a\x07", 2, 0x07}, {"a\n", 2, 0x0A}, {"a\t", 2, 0x09},
        {"a\r", 2, 0x0D}, {"a\x7f", 2, 0x7F}, {"a\0b", 3, 0x00},
        {"\xc2\x9b", 2, 0x9B}, {"\xc2\x80", 2, 0x80}, {"\xe2\x80\xae", 3, 0x202E},
        {"\xe2\x80\xaa", 3, 0x202A}, {"\xe2\x81\xa9", 3, 0x2069},
        {"\xe2\x80\x8b", 3, 0x200B}, {"\xef\xbb\xbf", 3, 0xFEFF},
        {"\xe2\x80\xa8", 3, 0x2028}, {"\xd8\x9c", 2, 0x061C}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[16];
        snprintf(want, sizeof want, "(U+%04X)", bad[i].cp);
        assert_int_equal(utf8_text_check("the file name", bad[i].s, bad[i].n, UTF8_LINE,
                                         msg, sizeof msg), -1);
        if (!strstr(msg, want) || strncmp(msg, "the file name contains ", 23)) {
            print_error("case %zu: expected a message naming the field and %s, got \"%s\"\n",
                        i, want, msg);
            fail();
        }
    }
    assert_int_equal(utf8_text_check("b", "one\n\ttwo", 8, UTF8_MULTILINE, msg, sizeof msg), 0);
    assert_int_equal(utf8_text_check("b", "one\r\n", 5, UTF8_MULTILINE, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "U+000D"));
    assert_int_equal(utf8_text_check("b", "\xe2\x80\xae", 3, UTF8_MULTILINE, msg, sizeof msg), -1);
    char scrub[] = "ok\x1b[2J\xe2\x80\xaex\ny";
    utf8_text_scrub(scrub, strlen(scrub), UTF8_MULTILINE);
    assert_string_equal(scrub, "ok?[2J???x\ny");
}

/* A NUL inside a string field is found in the encoded request, where
 * protobuf-c would cut the string at it; NUL in bytes is data. */
static void test_nul_in_a_request_string(void **state)
{
    (void)state;
    char msg[160];
    /* Request{id: 1, submit (21) {assignment_id: 7, file_name: "a\0b.exe", data: "\0"}} */
    static const uint8_t nul_name[] = {0x08, 0x01, 0xAA, 0x01, 14, 0x08, 0x07, 0x12, 7, 'a',
                                       0,    'b',  '.',  'e',  'x', 'e',  0x1A, 1,    0};
    Lms__Request *r = lms__request__unpack(NULL, sizeof nul_name, nul_name);
    assert_non_null(r); /* decodes fine, with the name cut short: */
    assert_string_equal(r->submit->file_name, "a");
    lms__request__free_unpacked(r, NULL);
    assert_int_equal(pb_text_check(&lms__request__descriptor, nul_name, sizeof nul_name, msg,
                                   sizeof msg), -1);
    assert_string_equal(msg, "the file name contains a control character (U+0000); only "
                             "printable text is allowed");
    static const uint8_t nul_data[] = {0x08, 0x01, 0xAA, 0x01, 8,  0x08, 0x07, 0x12,
                                       1,    'a',  0x1A, 1,    0};
    assert_int_equal(pb_text_check(&lms__request__descriptor, nul_data, sizeof nul_data, msg,
                                   sizeof msg), 0);
    static const uint8_t cut[] = {0x08, 0x01, 0xAA, 0x01, 40, 0x08};
    assert_int_equal(pb_text_check(&lms__request__descriptor, cut, sizeof cut, msg, sizeof msg),
                     0);
}

/* Course codes ignore ASCII case: they keep the case they were created
 * with, any case finds them, and two codes cannot differ only in case. */
static void test_course_codes_ignore_case(void **state)
{
    fx *f = *state;
    world(f);
    lms_course c;
    lms_err err = {0};
    assert_int_equal(sm_course_find(g_ops, f->inst, "cs101", &c, &err), LMS_OK);
    assert_string_equal(c.code, "CS101");
    assert_int_equal(sm_course_find(g_ops, f->inst, "CS101", &c, &err), LMS_OK);
    assert_string_equal(c.code, "CS101");
    assert_int_equal(sm_course_find(g_ops, f->inst, "cS10", &c, &err), LMS_NOT_FOUND);
    assert_int_equal(sm_course_find(g_ops, f->inst, "", &c, &err), LMS_NOT_FOUND);
    char *long_code = repeat('c', LMS_NAME_MAX + 1);
    assert_int_equal(sm_course_find(g_ops, f->inst, long_code, &c, &err), LMS_NOT_FOUND);
    free(long_code);

    expect_status(mk_course(f, "root", "cs101", "Again"), LMS_ALREADY_EXISTS,
                  "course cs101: already exists as CS101");
    expect_status(enroll(f, "root", "cs102", "spare", STUDENT), LMS_NOT_FOUND,
                  "course cs102 does not exist");
    /* what is stored under a code spelt otherwise is stored under CS101 */
    expect_ok(enroll(f, "root", "cs101", "spare", STUDENT));
    int role = LMS_ROLE_NONE;
    assert_int_equal(g_ops->enrolment_get(f->inst, "CS101", "spare", &role, &err), LMS_OK);
    assert_int_equal(role, LMS_ROLE_STUDENT);
    const sm_result *r = ask(f, "spare", "Cs101", "", "Which room?");
    expect_ok(r);
    lms_query q;
    assert_int_equal(g_ops->query_get(f->inst, r->id, &q, &err), LMS_OK);
    assert_string_equal(q.course, "CS101");
    Lms__CreateAssignmentRequest a = assignment_req();
    a.course = "cs101";
    r = mk_assignment(f, "ins1", &a);
    expect_ok(r);
    assert_string_equal(get_assignment(f, r->id).course, "CS101");
}

/* ---- grades --------------------------------------------------------------------------- */

static void test_grade_rules(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(grade(f, "ins1", 9999, 5, ""), LMS_NOT_FOUND,
                  "submission 9999 does not exist");
    const double bad[] = {-0.5, 10.5, NAN, INFINITY};
    for (size_t i = 0; i < 4; i++)
        expect_status(grade(f, "ins1", f->sid, bad[i], ""), LMS_INVALID_ARGUMENT,
                      "is outside 0 to 10");
    char *fb = repeat('f', 64 * 1024 + 1);
    expect_status(grade(f, "ins1", f->sid, 5, fb), LMS_INVALID_ARGUMENT,
                  "the feedback is 65537 bytes; at most 65536 are allowed");
    fb[64 * 1024] = '\0';
    const sm_result *r = grade(f, "ins1", f->sid, 10, fb);
    free(fb);
    expect_ok(r);
    assert_int_equal(r->id, f->sid);
    expect_ok(grade(f, "ins1", f->sid, 0, "see me"));
    f->now = T0 + 5;
    expect_ok(grade(f, "ins1", f->sid, 7.5, "better"));
    lms_grade g;
    lms_err err = {0};
    assert_int_equal(g_ops->grade_get(f->inst, f->sid, &g, &err), LMS_OK);
    assert_true(g.grade == 7.5);
    assert_string_equal(g.feedback, "better");
    assert_string_equal(g.grader, "ins1");
    assert_int_equal(g.graded, T0 + 5);
    assert_int_equal(get_submission(f, f->sid).graded, 1);
}

static void test_release_is_idempotent(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(release(f, "ins1", 9999), LMS_NOT_FOUND, "assignment 9999");
    assert_int_equal(get_assignment(f, f->aid).released, 0);
    const sm_result *r = release(f, "ins1", f->aid);
    expect_ok(r);
    assert_int_equal(r->id, f->aid);
    expect_ok(release(f, "ins1", f->aid));
    lms_assignment a = get_assignment(f, f->aid);
    assert_int_equal(a.released, 1);
    assert_string_equal(a.description, "Write hello world.");
    assert_string_equal(a.title, "Lab 1");
}

/* ---- changing, hiding and deleting assignments ------------------------------------- */

static void test_edit_assignment_rules(void **state)
{
    fx *f = *state;
    char want[200];
    world(f);
    Lms__EditAssignmentRequest e = edit_req(9999);
    e.set_title = 1;
    e.title = "x";
    expect_status(edit(f, "ins1", &e), LMS_NOT_FOUND, "assignment 9999 does not exist");
    e = edit_req(f->aid);
    e.set_title = 1;
    e.title = "x";
    expect_status(edit(f, "ins2", &e), LMS_PERMISSION_DENIED,
                  "only the instructors of course CS101 may edit its assignments");
    expect_status(edit(f, "stu1", &e), LMS_PERMISSION_DENIED, "only the instructors");
    Lms__CmdEditAssignment none = LMS__CMD_EDIT_ASSIGNMENT__INIT;
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_EDIT_ASSIGNMENT, &none),
                  LMS_INVALID_ARGUMENT, "carries no changes");
    e = edit_req(f->aid);
    snprintf(want, sizeof want, "assignment %" PRIu64 ": nothing to change", f->aid);
    expect_status(edit(f, "ins1", &e), LMS_INVALID_ARGUMENT, want);
    e.set_late_penalty = 1;
    e.late_penalty = 101;
    expect_status(edit(f, "ins1", &e), LMS_INVALID_ARGUMENT, "the late penalty must be 0 to 100");
    e = edit_req(f->aid);
    e.set_due = 1;
    e.due = CUTOFF + 1; /* past the cut-off it keeps */
    expect_status(edit(f, "ins1", &e), LMS_INVALID_ARGUMENT, "is before the due time");
    e.set_cutoff = 1;
    e.cutoff = 0; /* none */
    expect_ok(edit(f, "ins1", &e));
    e = edit_req(f->aid);
    e.set_title = 1;
    e.title = "Lab\x1b]0;pwned\x07";
    expect_status(edit(f, "ins1", &e), LMS_INVALID_ARGUMENT, "control character (U+001B)");
    e = edit_req(f->aid);
    e.set_max_points = 1;
    e.max_points = NAN;
    expect_status(edit(f, "ins1", &e), LMS_INVALID_ARGUMENT, "maximum points must be a number");
    e.max_points = 4;
    expect_ok(grade(f, "ins1", f->sid, 8, ""));
    snprintf(want, sizeof want,
             "assignment %" PRIu64 ": 1 grade is above 4 points; regrade it first", f->aid);
    expect_status(edit(f, "ins1", &e), LMS_FAILED_PRECONDITION, want);
    e.max_points = 8; /* the grade itself is fine */
    expect_ok(edit(f, "ins1", &e));
    assert_true(get_assignment(f, f->aid).max_points == 8);
}

static void test_edit_assignment_changes_only_what_it_sets(void **state)
{
    fx *f = *state;
    world(f);
    f->now = T0 + 60000;
    Lms__EditAssignmentRequest e = edit_req(f->aid);
    e.set_title = e.set_description = e.set_due = e.set_late_penalty = 1;
    e.title = "Lab 1, corrected";
    e.description = "Write hello world in C.";
    e.due = DUE + DAY;
    e.late_penalty = 10;
    const sm_result *r = edit(f, "ins1", &e);
    expect_ok(r);
    assert_int_equal(r->id, f->aid);
    lms_assignment a = get_assignment(f, f->aid);
    assert_string_equal(a.title, "Lab 1, corrected");
    assert_string_equal(a.description, "Write hello world in C.");
    assert_int_equal(a.due, DUE + DAY);
    assert_int_equal(a.cutoff, CUTOFF); /* the rest as created */
    assert_true(a.max_points == 10);
    assert_int_equal(a.max_attempts, 3);
    assert_int_equal(a.max_size, MAX_SIZE);
    assert_string_equal(a.created_by, "ins1");
    assert_int_equal(a.created, T0);
    asg_state x = get_state(f, f->aid);
    assert_int_equal(x.late_penalty, 10);
    assert_int_equal(x.edit_count, 1);
    assert_int_equal(x.n_history, 1);
    assert_int_equal(x.history[0].at, T0 + 60000);
    assert_string_equal(x.history[0].by, "ins1");
    assert_string_equal(x.history[0].changed, "title, description, due, late-penalty");

    /* values it has already: OK, and nothing written, not even a note */
    char *before = dump(f);
    expect_ok(edit(f, "ins1", &e));
    char *after = dump(f);
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* a retry of an edit is answered from the record: one change noted */
    f->client_id = 9;
    f->seq = 1;
    e = edit_req(f->aid);
    e.set_max_size = 1;
    e.max_size = 5;
    expect_ok(edit(f, "ins1", &e));
    r = edit(f, "ins1", &e);
    expect_ok(r);
    assert_true(r->deduplicated);
    f->client_id = f->seq = 0;
    assert_int_equal(get_state(f, f->aid).edit_count, 2);

    /* the history keeps the newest ASG_HISTORY_MAX changes, the count all */
    for (uint32_t i = 0; i < ASG_HISTORY_MAX + 2; i++) {
        e = edit_req(f->aid);
        e.set_max_attempts = 1;
        e.max_attempts = 10 + i;
        expect_ok(edit(f, "ins1", &e));
    }
    x = get_state(f, f->aid);
    assert_int_equal(x.edit_count, ASG_HISTORY_MAX + 4);
    assert_int_equal(x.n_history, ASG_HISTORY_MAX);
    assert_string_equal(x.history[ASG_HISTORY_MAX - 1].changed, "max-attempts");
    assert_int_equal(get_assignment(f, f->aid).max_attempts, 10 + ASG_HISTORY_MAX + 1);
}

/* Fewer attempts or a smaller file keep what was handed in; they bind
 * only the submissions to come. */
static void test_edit_assignment_keeps_work(void **state)
{
    fx *f = *state;
    world(f); /* stu1 made 1 of 3 attempts, 10 bytes */
    expect_ok(submit(f, "stu1", f->aid, 10));
    Lms__EditAssignmentRequest e = edit_req(f->aid);
    e.set_max_attempts = e.set_max_size = 1;
    e.max_attempts = 1;
    e.max_size = 5;
    expect_ok(edit(f, "ins1", &e));
    assert_int_equal(count_submissions(f, f->aid, "stu1"), 2);
    assert_int_equal(get_submission(f, f->sid).size, 10);
    expect_status(submit(f, "stu1", f->aid, 5), LMS_FAILED_PRECONDITION, "all 1 attempts used");
    e = edit_req(f->aid);
    e.set_max_attempts = 1;
    e.max_attempts = 0;
    expect_ok(edit(f, "ins1", &e));
    expect_status(submit(f, "stu1", f->aid, 6), LMS_INVALID_ARGUMENT, "accepts at most 5");
    expect_ok(submit(f, "stu1", f->aid, 5));
}

static void test_hide_assignment(void **state)
{
    fx *f = *state;
    char want[96];
    world(f);
    expect_status(hide(f, "ins2", f->aid, 1), LMS_PERMISSION_DENIED,
                  "only the instructors of course CS101 may hide its assignments");
    expect_status(hide(f, "stu1", f->aid, 1), LMS_PERMISSION_DENIED, "only the instructors");
    expect_status(hide(f, "ins1", 9999, 1), LMS_NOT_FOUND, "assignment 9999 does not exist");
    const sm_result *r = hide(f, "ins1", f->aid, 1);
    expect_ok(r);
    assert_int_equal(r->id, f->aid);
    assert_true(get_state(f, f->aid).hidden);
    snprintf(want, sizeof want, "assignment %" PRIu64 " is hidden; it accepts no submissions",
             f->aid);
    expect_status(submit(f, "stu1", f->aid, 10), LMS_FAILED_PRECONDITION, want);
    expect_ok(grade(f, "ins1", f->sid, 7, "graded while hidden"));
    expect_ok(hide(f, "ins1", f->aid, 1)); /* already: nothing noted */
    assert_int_equal(get_state(f, f->aid).edit_count, 1);
    expect_ok(hide(f, "ins1", f->aid, 0));
    asg_state x = get_state(f, f->aid);
    assert_false(x.hidden);
    assert_int_equal(x.n_history, 2);
    assert_string_equal(x.history[0].changed, "hidden");
    assert_string_equal(x.history[1].changed, "unhidden");
    expect_ok(submit(f, "stu1", f->aid, 10));
}

static void test_delete_assignment(void **state)
{
    fx *f = *state;
    char want[200];
    world(f);
    snprintf(want, sizeof want,
             "assignment %" PRIu64 ": has 1 submission, so it cannot be deleted; hide it from "
             "the students instead: lms-instructor hide-assignment %" PRIu64, f->aid, f->aid);
    expect_status(delete_assignment(f, "ins1", f->aid), LMS_FAILED_PRECONDITION, want);
    uint64_t id = fresh_assignment(f);
    expect_status(delete_assignment(f, "ins2", id), LMS_PERMISSION_DENIED,
                  "only the instructors of course CS101 may delete its assignments");
    expect_status(delete_assignment(f, "root", id), LMS_PERMISSION_DENIED, "only the instructors");
    expect_ok(extend(f, "ins1", id, "stu1", CUTOFF + DAY));
    const sm_result *r = delete_assignment(f, "ins1", id);
    expect_ok(r);
    assert_int_equal(r->id, id);
    asg_state x = get_state(f, id);
    assert_true(x.deleted);
    assert_string_equal(x.history[x.n_history - 1].changed, "deleted");
    (void)get_assignment(f, id); /* the row stays: a tombstone, not a delete */
    snprintf(want, sizeof want, "assignment %" PRIu64 " does not exist", id);
    expect_status(submit(f, "stu1", id, 10), LMS_NOT_FOUND, want);
    expect_status(extend(f, "ins1", id, "stu1", CUTOFF + 2 * DAY), LMS_NOT_FOUND, want);
    expect_status(release(f, "ins1", id), LMS_NOT_FOUND, want);
    expect_status(hide(f, "ins1", id, 1), LMS_NOT_FOUND, want);
    expect_status(delete_assignment(f, "ins1", id), LMS_NOT_FOUND, want);
    Lms__EditAssignmentRequest e = edit_req(id);
    e.set_title = 1;
    e.title = "back";
    expect_status(edit(f, "ins1", &e), LMS_NOT_FOUND, want);
}

static void test_create_assignment_late_penalty(void **state)
{
    fx *f = *state;
    world(f);
    Lms__CreateAssignmentRequest a = assignment_req();
    a.late_penalty = 101;
    expect_bad_assignment(f, a, "the late penalty must be 0 to 100");
    a.late_penalty = 100;
    uint64_t id = mk_assignment(f, "ins1", &a)->id;
    expect_ok(&f->res);
    asg_state x = get_state(f, id);
    assert_int_equal(x.late_penalty, 100);
    assert_int_equal(x.edit_count, 0);
    lms_record rec;
    lms_err err = {0};
    char key[32];
    snprintf(key, sizeof key, "asg/%020" PRIu64, f->aid); /* created without one */
    assert_int_equal(g_ops->record_get(f->inst, key, &rec, &err), LMS_NOT_FOUND);
    snprintf(key, sizeof key, "asg/%020" PRIu64, id);
    assert_int_equal(g_ops->record_get(f->inst, key, &rec, &err), LMS_OK);
}

/* ---- questions and materials ------------------------------------------------------------ */

/* Ask with no title a question of blank lines, n 'q's and then tail; the
 * title must be the 'q's and the first want - n bytes of tail. */
static void expect_default_title(fx *f, size_t n, const char *tail, size_t want)
{
    char text[256] = "\n  \n";
    char *q = repeat('q', n);
    strcat(text, q);
    strcat(text, tail);
    free(q);
    const sm_result *r = ask(f, "stu1", "CS101", "", text);
    expect_ok(r);
    lms_query stored = get_query(f, r->id);
    if (strlen(stored.title) != want || strncmp(stored.title + n, tail, want - n) != 0)
        fail_msg("default title of \"%s\": expected %zu bytes, got \"%s\"", text, want,
                 stored.title);
    assert_string_equal(stored.text, text);
    assert_string_equal(stored.student, "stu1");
    assert_int_equal(stored.resolved, 0);
}

static void test_ask_rules_and_default_title(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(ask(f, "stu1", "XX999", "", "hi"), LMS_NOT_FOUND, "course XX999");
    expect_status(ask(f, "stu2", "CS101", "", "hi"), LMS_PERMISSION_DENIED,
                  "only students enrolled in course CS101 may ask questions");
    expect_status(ask(f, "stu1", "CS101", "", ""), LMS_INVALID_ARGUMENT,
                  "the question is empty");
    char *t = repeat('t', 201);
    expect_status(ask(f, "stu1", "CS101", t, "hi"), LMS_INVALID_ARGUMENT,
                  "the question's title is 201 bytes; at most 200 are allowed");
    free(t);

    /* The first line, cut at 80 bytes back to a character boundary: after
     * the lead byte of a 2-byte character, and inside a 3-byte one. */
    expect_default_title(f, 79, "\xc3\xa9 and more\nsecond line", 79);
    expect_default_title(f, 78, "\xe2\x82\xac and more", 78);
    expect_default_title(f, 77, "\xe2\x82\xac and more", 80);
    const sm_result *r = ask(f, "stu1", "CS101", "Short", "Why\xc3\xa9?");
    expect_ok(r);
    assert_string_equal(get_query(f, r->id).title, "Short");
    r = ask(f, "stu1", "CS101", "", "Line one\nline two");
    expect_ok(r);
    assert_string_equal(get_query(f, r->id).title, "Line one");
}

static int count_row(void *arg, const void *row)
{
    (*(int *)arg)++;
    return 0;
}

static void test_reply_and_resolve(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(reply(f, "ins1", 9999, "x"), LMS_NOT_FOUND, "query 9999 does not exist");
    expect_status(reply(f, "stu1", f->qid, ""), LMS_INVALID_ARGUMENT,
                  "the reply is empty");
    expect_status(reply(f, "ins2", f->qid, "x"), LMS_PERMISSION_DENIED,
                  "only the student who asked and the instructors and teaching assistants of its course");
    const sm_result *r = reply(f, "ins1", f->qid, "Use gcc.");
    expect_ok(r);
    assert_int_equal(r->id, f->index);
    expect_ok(reply(f, "stu1", f->qid, "Thanks!"));
    int n = 0;
    lms_err err = {0};
    assert_int_equal(g_ops->reply_list(f->inst, f->qid, count_row, &n, &err), LMS_OK);
    assert_int_equal(n, 2);
    expect_status(resolve(f, "stu2", f->qid), LMS_PERMISSION_DENIED, "may resolve it");
    expect_status(resolve(f, "stu1", 9999), LMS_NOT_FOUND, "query 9999");
    r = resolve(f, "stu1", f->qid);
    expect_ok(r);
    assert_int_equal(r->id, f->qid);
    expect_ok(resolve(f, "ins1", f->qid));
    lms_query q = get_query(f, f->qid);
    assert_int_equal(q.resolved, 1);
    assert_string_equal(q.text, "How do I compile?");
}

/* Sharing a question with the course: only its instructors, only a
 * question to the instructors that one of them answered; idempotent;
 * unsharing withdraws it; a refusal changes nothing. */
static void test_share_rules(void **state)
{
    fx *f = *state;
    world(f);
    assert_int_equal(get_query(f, f->qid).shared, 0);
    expect_status(share(f, "ins1", 9999, 1), LMS_NOT_FOUND, "query 9999 does not exist");
    expect_status(share(f, "ins1", f->qid, 1), LMS_FAILED_PRECONDITION,
                  "has no reply from an instructor of its course yet");
    expect_ok(reply(f, "stu1", f->qid, "I tried gcc, it failed."));
    expect_status(share(f, "ins1", f->qid, 1), LMS_FAILED_PRECONDITION,
                  "reply first: lms-instructor reply");
    expect_ok(reply(f, "ins1", f->qid, "Use gcc -Wall."));
    expect_status(share(f, "stu1", f->qid, 1), LMS_PERMISSION_DENIED,
                  "only the instructors and teaching assistants of course CS101 may share its questions");
    expect_status(share(f, "ins2", f->qid, 1), LMS_PERMISSION_DENIED,
                  "only the instructors and teaching assistants of course CS101 may share its questions");
    expect_status(share(f, "root", f->qid, 1), LMS_PERMISSION_DENIED, "only the instructors");
    expect_status(share(f, "ins1", f->tid, 1), LMS_FAILED_PRECONDITION,
                  "is an exchange with the tutor");
    assert_int_equal(get_query(f, f->qid).shared, 0);

    const sm_result *r = share(f, "ins1", f->qid, 1);
    expect_ok(r);
    assert_int_equal(r->id, f->qid);
    lms_query q = get_query(f, f->qid);
    assert_int_equal(q.shared, 1);
    assert_string_equal(q.text, "How do I compile?");
    assert_string_equal(q.student, "stu1");
    expect_ok(share(f, "ins1", f->qid, 1)); /* again: OK, still shared */
    assert_int_equal(get_query(f, f->qid).shared, 1);

    expect_status(share(f, "stu1", f->qid, 0), LMS_PERMISSION_DENIED,
                  "may withdraw its shared questions");
    expect_ok(share(f, "ins1", f->qid, 0));
    assert_int_equal(get_query(f, f->qid).shared, 0);
    expect_ok(share(f, "ins1", f->qid, 0)); /* again: OK, still private */
    assert_int_equal(get_query(f, f->qid).shared, 0);
}

/* reply with share: an instructor's reply that shares the question in the
 * same command; the student who asked may reply but not share. */
static void test_reply_and_share(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(reply_share(f, "stu1", f->qid, "never mind"), LMS_PERMISSION_DENIED,
                  "only the instructors and teaching assistants of course CS101 may share its questions");
    int n = 0;
    lms_err err = {0};
    assert_int_equal(g_ops->reply_list(f->inst, f->qid, count_row, &n, &err), LMS_OK);
    assert_int_equal(n, 0); /* the refused reply was not stored either */
    expect_status(reply_share(f, "ins2", f->qid, "x"), LMS_PERMISSION_DENIED, "only ");
    expect_status(reply_share(f, "ins1", f->tid, "x"), LMS_FAILED_PRECONDITION,
                  "exchange with the tutor");
    const sm_result *r = reply_share(f, "ins1", f->qid, "Use gcc.");
    expect_ok(r);
    assert_int_equal(r->id, f->index);
    lms_query q = get_query(f, f->qid);
    assert_int_equal(q.shared, 1);
    assert_string_equal(q.text, "How do I compile?");
    expect_ok(reply_share(f, "ins1", f->qid, "Or clang.")); /* shared already */
    assert_int_equal(get_query(f, f->qid).shared, 1);
    expect_ok(reply(f, "ins1", f->qid, "A plain reply keeps it shared."));
    assert_int_equal(get_query(f, f->qid).shared, 1);
}

/* ---- the tutor -------------------------------------------------------------- */

static int author_of_reply(void *arg, const void *row)
{
    const lms_reply *r = row;
    snprintf(arg, LMS_NAME_MAX + 1, "%s", r->author);
    return 0;
}

static void test_tutor_exchange_rules(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(tutor(f, "stu1", "XX999", "hi"), LMS_NOT_FOUND, "course XX999");
    expect_status(tutor(f, "stu2", "CS101", "hi"), LMS_PERMISSION_DENIED,
                  "only students enrolled in course CS101 may ask its tutor");
    expect_status(tutor(f, "ins1", "CS101", "hi"), LMS_PERMISSION_DENIED, "only students");
    expect_status(tutor(f, "stu1", "CS101", ""), LMS_INVALID_ARGUMENT, "the question is empty");
    Lms__CmdTutorExchange b = exchange_body("CS101", "hi");
    b.answer = "";
    expect_status(send(f, "stu1", LMS__COMMAND__BODY_TUTOR_EXCHANGE, &b),
                  LMS_INVALID_ARGUMENT, "the tutor answer is empty");
    b = exchange_body("CS101", "hi");
    b.info = NULL;
    expect_status(send(f, "stu1", LMS__COMMAND__BODY_TUTOR_EXCHANGE, &b),
                  LMS_INVALID_ARGUMENT, "no tutor info");
    Lms__TutorInfo nameless = g_info;
    nameless.provider = "";
    b = exchange_body("CS101", "hi");
    b.info = &nameless;
    expect_status(send(f, "stu1", LMS__COMMAND__BODY_TUTOR_EXCHANGE, &b),
                  LMS_INVALID_ARGUMENT, "tutor provider");

    const sm_result *r = tutor(f, "stu1", "CS101", "Why a loop?\nDetails");
    expect_ok(r);
    assert_int_equal(r->id, f->index);
    lms_query q = get_query(f, r->id);
    assert_int_equal(q.kind, LMS_QUERY_TUTOR);
    assert_int_equal(q.resolved, 1);
    assert_string_equal(q.title, "Why a loop?");
    assert_string_equal(q.provider, "tutor_openai");
    assert_string_equal(q.model, "gpt-4o-mini");
    assert_int_equal(q.prompt_tokens, 21);
    assert_int_equal(q.completion_tokens, 8);
    assert_int_equal(q.latency_ms, 1500);
    char author[LMS_NAME_MAX + 1] = "";
    int n = 0;
    lms_err err = {0};
    assert_int_equal(g_ops->reply_list(f->inst, r->id, count_row, &n, &err), LMS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(g_ops->reply_list(f->inst, r->id, author_of_reply, author, &err),
                     LMS_OK);
    assert_string_equal(author, SM_TUTOR_AUTHOR);
    /* a tutor exchange takes no replies: it is escalated instead */
    expect_status(reply(f, "ins1", r->id, "x"), LMS_FAILED_PRECONDITION, "lms-student escalate");
}

static void test_tutor_daily_limit(void **state)
{
    fx *f = *state;
    world(f); /* stu1 has used one tutor question on day T0 */
    expect_ok(settings(f, "ins1", "CS101", NULL, 2));
    expect_ok(ask(f, "stu1", "CS101", "", "an instructor question does not count"));
    expect_ok(tutor(f, "stu1", "CS101", "second"));
    f->now = T0 + DAY - 1;
    expect_status(tutor(f, "stu1", "CS101", "third"), LMS_RESOURCE_EXHAUSTED,
                  "you have used your 2 tutor questions for today in CS101; ask your "
                  "instructor instead: lms-student ask --course CS101 --instructor");
    f->now = T0 + DAY; /* a new UTC day */
    expect_ok(tutor(f, "stu1", "CS101", "next day"));
    expect_ok(tutor(f, "stu1", "CS101", "next day again"));
    expect_status(tutor(f, "stu1", "CS101", "too many"), LMS_RESOURCE_EXHAUSTED, NULL);
    expect_ok(settings(f, "ins1", "CS101", NULL, 0)); /* 0: no limit */
    expect_ok(tutor(f, "stu1", "CS101", "unlimited"));
    expect_ok(settings(f, "ins1", "CS101", NULL, 1));
    expect_status(tutor(f, "stu1", "CS101", "one"), LMS_RESOURCE_EXHAUSTED,
                  "your 1 tutor question for today");
}

static void test_escalate_rules(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(escalate(f, "stu1", 9999, ""), LMS_NOT_FOUND, "query 9999");
    expect_status(escalate(f, "stu2", f->tid, ""), LMS_PERMISSION_DENIED,
                  "only the student who asked may escalate it");
    expect_status(escalate(f, "ins1", f->tid, ""), LMS_PERMISSION_DENIED, "only");
    expect_status(escalate(f, "stu1", f->qid, ""), LMS_FAILED_PRECONDITION,
                  "only tutor answers are escalated");
    const sm_result *r = escalate(f, "stu1", f->tid, "I still do not get it.");
    expect_ok(r);
    uint64_t e = r->id;
    lms_query q = get_query(f, e);
    assert_int_equal(q.kind, LMS_QUERY_INSTRUCTOR);
    assert_int_equal(q.escalated_from, f->tid);
    assert_int_equal(q.resolved, 0);
    assert_string_equal(q.student, "stu1");
    assert_string_equal(q.course, "CS101");
    assert_string_equal(q.title, "What is a loop invariant?");
    char want[400];
    snprintf(want, sizeof want,
             "I still do not get it.\n\n--- escalated from the tutor exchange #%" PRIu64
             " (tutor_openai, gpt-4o-mini) ---\nQuestion:\nWhat is a loop invariant?\n\n"
             "The tutor answered:\nThink about the loop invariant.\n",
             f->tid);
    assert_string_equal(q.text, want);
    expect_ok(reply(f, "ins1", e, "An invariant holds before and after each pass."));
    r = escalate(f, "stu1", f->tid, ""); /* the note is optional */
    expect_ok(r);
    assert_non_null(strstr(get_query(f, r->id).text, "--- escalated from"));
}

static void test_tutor_settings_rules(void **state)
{
    fx *f = *state;
    lms_course_settings cs;
    lms_err err = {0};
    world(f);
    expect_status(settings(f, "stu1", "CS101", "x", -1), LMS_PERMISSION_DENIED,
                  "only the instructors of course CS101 may change its tutor settings");
    expect_status(settings(f, "ins2", "CS101", "x", -1), LMS_PERMISSION_DENIED, "only");
    expect_status(settings(f, "ins1", "XX999", "x", -1), LMS_NOT_FOUND, "course XX999");
    expect_status(settings(f, "ins1", "CS101", NULL, -1), LMS_INVALID_ARGUMENT,
                  "nothing to change");
    expect_status(settings(f, "ins1", "CS101", NULL, RULE_TUTOR_LIMIT_MAX + 1),
                  LMS_INVALID_ARGUMENT, "at most 10000");
    expect_status(settings(f, "ins1", "CS101", "\xff", -1), LMS_INVALID_ARGUMENT,
                  "not valid UTF-8");
    Lms__CmdTutorSettings empty = LMS__CMD_TUTOR_SETTINGS__INIT;
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_TUTOR_SETTINGS, &empty),
                  LMS_INVALID_ARGUMENT, "carries no settings");

    expect_ok(settings(f, "ins1", "CS101", "Answer in haiku.", -1));
    assert_int_equal(g_ops->course_settings_get(f->inst, "CS101", &cs, &err), LMS_OK);
    assert_string_equal(cs.system_prompt, "Answer in haiku.");
    assert_int_equal(cs.tutor_daily_limit, 0);
    expect_ok(settings(f, "ins1", "CS101", NULL, 7)); /* the prompt stays */
    assert_int_equal(g_ops->course_settings_get(f->inst, "CS101", &cs, &err), LMS_OK);
    assert_string_equal(cs.system_prompt, "Answer in haiku.");
    assert_int_equal(cs.tutor_daily_limit, 7);
    expect_ok(settings(f, "ins1", "CS101", "", -1)); /* back to the default */
    assert_int_equal(g_ops->course_settings_get(f->inst, "CS101", &cs, &err), LMS_OK);
    assert_string_equal(cs.system_prompt, "");
    assert_int_equal(cs.tutor_daily_limit, 7);
}

static void test_upload_material_rules(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(upload(f, "ins1", "XX999"), LMS_NOT_FOUND, "course XX999");
    expect_status(upload(f, "ins2", "CS101"), LMS_PERMISSION_DENIED,
                  "only the instructors of course CS101 may upload materials");
    Lms__CmdUploadMaterial b = material_body("CS101");
    b.title = "";
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_UPLOAD_MATERIAL, &b),
                  LMS_INVALID_ARGUMENT, "new material in course CS101: the title is empty");
    b = material_body("CS101");
    b.file_name = "a/b";
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_UPLOAD_MATERIAL, &b),
                  LMS_INVALID_ARGUMENT, "must be one plain name: no '/'");
    b = material_body("CS101");
    b.title = "Week\xe2\x81\xa6 1";
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_UPLOAD_MATERIAL, &b),
                  LMS_INVALID_ARGUMENT, "title contains an invisible formatting character (U+2066)");
    b = material_body("CS101");
    b.sha256 = bytes(g_sha, 0);
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_UPLOAD_MATERIAL, &b),
                  LMS_INVALID_ARGUMENT, "SHA-256 must be 32 bytes");
    const sm_result *r = upload(f, "ins1", "CS101");
    expect_ok(r);
    assert_int_equal(r->id, f->index);
    lms_material m;
    lms_err err = {0};
    assert_int_equal(g_ops->material_get(f->inst, r->id, 1, &m, &err), LMS_OK);
    assert_string_equal(m.title, "Week 1 slides");
    assert_string_equal(m.file_name, "week1.pdf");
    assert_string_equal(m.uploaded_by, "ins1");
    assert_int_equal(m.size, 100);
    assert_int_equal(m.created, T0);
    assert_memory_equal(m.sha256, file_sha(100), LMS_SHA256_LEN);
    uint8_t body[100];
    assert_int_equal(filestore_get(f->m.files, m.sha256, m.size, body, &err),
                     LMS_OK);
    assert_memory_equal(body, g_file, 100);
}

/* ---- corrections: material versions, unenrolment, grade history ------------------------- */

/* The SHA-256 of n bytes at p, in one of a few slots (as file_sha). */
static const uint8_t *sha_of(const void *p, size_t n)
{
    static uint8_t slots[4][LMS_SHA256_LEN];
    static unsigned next;
    uint8_t *out = slots[next++ % 4];
    unsigned len = 0;
    EVP_Digest(n ? p : (const void *)"", n, out, &len, EVP_sha256(), NULL);
    return out;
}

static Lms__CmdReplaceMaterial replace_body(uint64_t id, const char *text, const char *title)
{
    Lms__CmdReplaceMaterial b = LMS__CMD_REPLACE_MATERIAL__INIT;
    b.material_id = id;
    b.title = (char *)title;
    b.file_name = "week1-fixed.pdf";
    b.data = bytes(text, strlen(text));
    b.sha256 = bytes(sha_of(text, strlen(text)), LMS_SHA256_LEN);
    return b;
}

static const sm_result *replace_material(fx *f, const char *actor, uint64_t id,
                                         const char *text)
{
    Lms__CmdReplaceMaterial b = replace_body(id, text, "");
    return send(f, actor, LMS__COMMAND__BODY_REPLACE_MATERIAL, &b);
}

static const sm_result *delete_material(fx *f, const char *actor, uint64_t id)
{
    Lms__CmdDeleteMaterial b = LMS__CMD_DELETE_MATERIAL__INIT;
    b.material_id = id;
    return send(f, actor, LMS__COMMAND__BODY_DELETE_MATERIAL, &b);
}

static const sm_result *unenroll(fx *f, const char *actor, const char *course,
                                 const char *user)
{
    Lms__CmdUnenroll b = LMS__CMD_UNENROLL__INIT;
    b.course = (char *)course;
    b.user = (char *)user;
    return send(f, actor, LMS__COMMAND__BODY_UNENROLL, &b);
}

static lms_material get_material(fx *f, uint64_t id)
{
    lms_material m;
    lms_err err = {0};
    if (g_ops->material_get(f->inst, id, 0, &m, &err) != LMS_OK)
        fail_msg("material %" PRIu64 " is not stored: %s", id, err.msg);
    return m;
}

static material_state state_of(fx *f, uint64_t id)
{
    material_state s;
    lms_err err = {0};
    assert_int_equal(material_state_get(g_ops, f->inst, id, &s, &err), LMS_OK);
    return s;
}

static material_version version_of(fx *f, uint64_t id, uint32_t v)
{
    material_version x;
    lms_err err = {0};
    if (material_version_get(g_ops, f->inst, id, v, &x, &err) != LMS_OK)
        fail_msg("material %" PRIu64 " has no record of version %" PRIu32 ": %s", id, v,
                 err.msg);
    return x;
}

static void expect_body(fx *f, const uint8_t *sha, uint64_t size, const void *want)
{
    uint8_t buf[256];
    lms_err err = {0};
    assert_true(size <= sizeof buf);
    assert_int_equal(filestore_get(f->m.files, sha, size, buf, &err), LMS_OK);
    assert_memory_equal(buf, want, size);
}

static void test_replace_material(void **state)
{
    fx *f = *state;
    world(f);
    uint64_t m = upload(f, "ins1", "CS101")->id;
    expect_ok(&f->res);
    const char *v2 = "the corrected slides", *v3 = "the slides, third time";
    /* who, and what */
    expect_status(replace_material(f, "ins2", m, v2), LMS_PERMISSION_DENIED,
                  "material ");
    expect_status(replace_material(f, "ins2", m, v2), LMS_PERMISSION_DENIED,
                  "only the instructors of course CS101 may replace its materials");
    expect_status(replace_material(f, "stu1", m, v2), LMS_PERMISSION_DENIED,
                  "only the instructors of course CS101");
    expect_status(replace_material(f, "ins1", 999999, v2), LMS_NOT_FOUND,
                  "material 999999 does not exist");
    Lms__CmdReplaceMaterial b = replace_body(m, v2, "");
    b.file_name = "a/b";
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_REPLACE_MATERIAL, &b),
                  LMS_INVALID_ARGUMENT, "must be one plain name");
    b = replace_body(m, v2, "Bad\x1b title");
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_REPLACE_MATERIAL, &b),
                  LMS_INVALID_ARGUMENT, "control character");
    b = replace_body(m, v2, "");
    b.sha256 = bytes(file_sha(100), LMS_SHA256_LEN);
    expect_status(send(f, "ins1", LMS__COMMAND__BODY_REPLACE_MATERIAL, &b),
                  LMS_INVALID_ARGUMENT, "is not the SHA-256 of its 20 bytes");
    assert_int_equal(state_of(f, m).version, 1);

    /* version 2: the row holds it; version 1 moves to a row of its own */
    f->client_id = 77;
    f->seq = 1;
    const sm_result *r = replace_material(f, "ins1", m, v2);
    expect_ok(r);
    assert_int_equal(r->id, m);
    uint64_t keep1 = f->index;
    char *after = dump(f);
    r = replace_material(f, "ins1", m, v2); /* a retry: the first answer, nothing new */
    expect_ok(r);
    assert_true(r->deduplicated);
    assert_int_equal(r->id, m);
    char *again = dump(f);
    assert_string_equal(after, again);
    free(after);
    free(again);
    f->client_id = 0;
    lms_material row = get_material(f, m);
    assert_string_equal(row.file_name, "week1-fixed.pdf");
    assert_string_equal(row.title, "Week 1 slides"); /* no title: kept */
    assert_int_equal(row.size, strlen(v2));
    assert_memory_equal(row.sha256, sha_of(v2, strlen(v2)), LMS_SHA256_LEN);
    expect_body(f, row.sha256, row.size, v2);
    lms_material old = get_material(f, keep1);
    assert_string_equal(old.course, "CS101");
    assert_string_equal(old.file_name, "week1.pdf");
    assert_int_equal(old.created, T0);
    expect_body(f, old.sha256, old.size, g_file);
    material_state s = state_of(f, keep1);
    assert_int_equal(s.archive_of, m);
    assert_int_equal(s.archive_version, 1);
    s = state_of(f, m);
    assert_int_equal(s.version, 2);
    assert_int_equal(s.archive_of, 0);
    material_version v = version_of(f, m, 1);
    assert_string_equal(v.file_name, "week1.pdf");
    assert_int_equal(v.row, keep1);
    v = version_of(f, m, 2);
    assert_int_equal(v.row, m);
    assert_string_equal(v.uploaded_by, "ins1");
    /* the row that keeps version 1 is no material */
    expect_status(replace_material(f, "ins1", keep1, v3), LMS_NOT_FOUND,
                  "material ");
    assert_true(strstr(f->res.message, "does not exist") != NULL);
    expect_status(delete_material(f, "ins1", keep1), LMS_NOT_FOUND, "does not exist");

    /* version 3, with a new title */
    f->now += DAY;
    b = replace_body(m, v3, "Week 1 slides (v3)");
    expect_ok(send(f, "ins1", LMS__COMMAND__BODY_REPLACE_MATERIAL, &b));
    uint64_t keep2 = f->index;
    assert_int_equal(state_of(f, m).version, 3);
    assert_string_equal(get_material(f, m).title, "Week 1 slides (v3)");
    assert_int_equal(get_material(f, m).created, T0 + DAY);
    assert_int_equal(version_of(f, m, 1).row, keep1);
    assert_int_equal(version_of(f, m, 2).row, keep2);
    assert_int_equal(version_of(f, m, 3).row, m);
    assert_string_equal(version_of(f, m, 2).title, "Week 1 slides");
    assert_int_equal(state_of(f, keep2).archive_version, 2);
    expect_body(f, get_material(f, keep2).sha256, strlen(v2), v2);
}

static void test_delete_material(void **state)
{
    fx *f = *state;
    world(f);
    uint64_t m = upload(f, "ins1", "CS101")->id;
    expect_ok(&f->res);
    expect_status(delete_material(f, "stu1", m), LMS_PERMISSION_DENIED,
                  "material ");
    expect_status(delete_material(f, "ins2", m), LMS_PERMISSION_DENIED,
                  "only the instructors of course CS101 may delete its materials");
    expect_status(delete_material(f, "ins1", 424242), LMS_NOT_FOUND,
                  "material 424242 does not exist");
    f->now += DAY;
    const sm_result *r = delete_material(f, "ins1", m);
    expect_ok(r);
    assert_int_equal(r->id, m);
    material_state s = state_of(f, m);
    assert_true(s.deleted);
    assert_string_equal(s.deleted_by, "ins1");
    assert_int_equal(s.deleted_at, T0 + DAY);
    /* the row and its file stay, for the record */
    lms_material row = get_material(f, m);
    expect_body(f, row.sha256, row.size, g_file);
    /* deleting again changes nothing */
    char *before = dump(f);
    f->now += DAY;
    expect_ok(delete_material(f, "ins1", m));
    char *after = dump(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
    expect_status(replace_material(f, "ins1", m, "new"), LMS_NOT_FOUND,
                  "material ");
    expect_status(replace_material(f, "ins1", m, "new"), LMS_NOT_FOUND,
                  "it was deleted; upload the file as a new material instead");
    /* a student of the course still meets the role first */
    expect_status(delete_material(f, "stu1", m), LMS_PERMISSION_DENIED, "only the instructors");
}

static void test_unenroll(void **state)
{
    fx *f = *state;
    world(f);
    expect_status(unenroll(f, "ins1", "CS101", "stu1"), LMS_PERMISSION_DENIED,
                  "only an admin may unenroll users");
    expect_status(unenroll(f, "root", "XX999", "stu1"), LMS_NOT_FOUND,
                  "course XX999 does not exist");
    expect_status(unenroll(f, "root", "CS101", "ghost"), LMS_NOT_FOUND,
                  "user ghost does not exist");
    expect_status(unenroll(f, "root", "CS101", "spare"), LMS_FAILED_PRECONDITION,
                  "course CS101: user spare is not enrolled in it");
    f->now += DAY;
    expect_ok(unenroll(f, "root", "cs101", "stu1")); /* codes ignore case */
    assert_int_equal(enrolment_of(f, "CS101", "stu1"), LMS_ROLE_NONE);
    unenrolment u;
    int found;
    lms_err err = {0};
    assert_int_equal(unenrolment_get(g_ops, f->inst, "CS101", "stu1", &u, &found, &err),
                     LMS_OK);
    assert_true(found);
    assert_int_equal(u.role, LMS_ROLE_STUDENT);
    assert_int_equal(u.unenrolled, T0 + DAY);
    assert_string_equal(u.unenrolled_by, "root");
    /* every course check treats them as not enrolled; their work stays */
    expect_status(submit(f, "stu1", f->aid, 10), LMS_PERMISSION_DENIED,
                  "only students enrolled in course CS101 may submit");
    expect_status(ask(f, "stu1", "CS101", "", "Still here?"), LMS_PERMISSION_DENIED,
                  "only students enrolled in course CS101");
    expect_status(unenroll(f, "root", "CS101", "stu1"), LMS_FAILED_PRECONDITION,
                  "is not enrolled in it");
    assert_int_equal(get_submission(f, f->sid).attempt, 1);
    assert_string_equal(get_query(f, f->qid).student, "stu1");
    /* an instructor leaves too */
    expect_ok(unenroll(f, "root", "CS101", "ins1"));
    expect_status(grade(f, "ins1", f->sid, 5, "ok"), LMS_PERMISSION_DENIED,
                  "only the instructors and teaching assistants of course CS101");
    /* back, with their work */
    expect_ok(enroll(f, "root", "CS101", "stu1", STUDENT));
    assert_int_equal(unenrolment_get(g_ops, f->inst, "CS101", "stu1", &u, &found, &err),
                     LMS_OK);
    assert_false(found);
    expect_ok(submit(f, "stu1", f->aid, 10));
    assert_int_equal(get_submission(f, f->res.id).attempt, 2);
}

typedef struct history {
    uint64_t index[8];
    double grade[8];
    char grader[8][LMS_NAME_MAX + 1];
    char feedback[8][32];
    size_t n;
} history;

static int keep_history(void *arg, uint64_t index, const lms_grade *g)
{
    history *h = arg;
    assert_true(h->n < 8);
    h->index[h->n] = index;
    h->grade[h->n] = g->grade;
    snprintf(h->grader[h->n], sizeof h->grader[0], "%s", g->grader);
    snprintf(h->feedback[h->n], sizeof h->feedback[0], "%s", g->feedback);
    h->n++;
    return 0;
}

static history history_of(fx *f, uint64_t sid)
{
    history h = {0};
    lms_err err = {0};
    assert_int_equal(grade_history_list(g_ops, f->inst, sid, keep_history, &h, &err), LMS_OK);
    return h;
}

static void test_grade_history(void **state)
{
    fx *f = *state;
    world(f);
    /* a grade stored before the history was kept (by an older lmsd) */
    lms_err err = {0};
    lms_grade legacy = {.submission_id = f->sid, .grade = 4, .feedback = "old",
                        .graded = T0 - DAY};
    strcpy(legacy.grader, "ins1");
    assert_int_equal(g_ops->begin(f->inst, &err), LMS_OK);
    assert_int_equal(g_ops->grade_put(f->inst, &legacy, &err), LMS_OK);
    assert_int_equal(g_ops->commit(f->inst, f->index, &err), LMS_OK);
    assert_int_equal(history_of(f, f->sid).n, 0);
    /* a refused grade adds nothing (run() checks the whole state) */
    expect_status(grade(f, "ins1", f->sid, 11, "too much"), LMS_INVALID_ARGUMENT, "");
    expect_status(grade(f, "stu1", f->sid, 5, "mine"), LMS_PERMISSION_DENIED, "");
    f->now += DAY;
    expect_ok(grade(f, "ins1", f->sid, 6, "first regrade"));
    uint64_t first = f->index;
    f->now += DAY;
    expect_ok(grade(f, "ins1", f->sid, 7, ""));
    history h = history_of(f, f->sid);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.index[0], 0); /* the legacy grade, kept before it was replaced */
    assert_true(h.grade[0] == 4);
    assert_string_equal(h.feedback[0], "old");
    assert_int_equal(h.index[1], first);
    assert_true(h.grade[1] == 6);
    assert_string_equal(h.feedback[1], "first regrade");
    assert_int_equal(h.index[2], f->index);
    assert_true(h.grade[2] == 7);
    assert_string_equal(h.grader[2], "ins1");
    /* a submission graded only since: no entry 0 */
    uint64_t other = submit(f, "stu1", f->aid, 20)->id;
    expect_ok(&f->res);
    expect_ok(grade(f, "ins1", other, 9, "fine"));
    h = history_of(f, other);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.index[0], f->index);
}

/* ---- announcements and the inbox ------------------------------------------------------- */

/* A copy of a stored announcement (its text in a static buffer). */
typedef struct ann_copy {
    int found;
    announcement a;
    char text[256];
} ann_copy;

static int copy_announcement(void *arg, const announcement *a)
{
    ann_copy *c = arg;
    c->found = 1;
    c->a = *a;
    snprintf(c->text, sizeof c->text, "%s", a->text);
    c->a.text = c->text;
    return 0;
}

static ann_copy get_announcement(fx *f, const char *course, uint64_t id)
{
    ann_copy c = {0};
    lms_err err = {0};
    int rc = announcement_get(g_ops, f->inst, course, id, copy_announcement, &c, &err);
    if (rc != LMS_OK && rc != LMS_NOT_FOUND)
        fail_msg("announcement_get %s %" PRIu64 ": %s", course, id, err.msg);
    return c;
}

static int count_record(void *arg, const lms_record *r)
{
    ++*(size_t *)arg;
    return 0;
}

static size_t records_under(fx *f, const char *prefix)
{
    size_t n = 0;
    lms_err err = {0};
    check_list(g_ops->record_list(f->inst, prefix, NULL, 0, count_record, &n, &err),
               "record_list", &err);
    return n;
}

static void test_announce_rules(void **state)
{
    fx *f = *state;
    world(f);
    expect_ok(enroll(f, "root", "CS101", "spare", LMS__ROLE__TA));
    expect_status(announce(f, "ins1", "XX9", "", "Hello"), LMS_NOT_FOUND,
                  "course XX9 does not exist");
    const char *only = "only the instructors of course CS101 may post announcements";
    expect_status(announce(f, "ins2", "CS101", "", "Hello"), LMS_PERMISSION_DENIED, only);
    expect_status(announce(f, "stu1", "CS101", "", "Hello"), LMS_PERMISSION_DENIED, only);
    expect_status(announce(f, "spare", "CS101", "", "Hello"), LMS_PERMISSION_DENIED,
                  "an announcement speaks for the course");
    expect_status(announce(f, "ins1", "CS101", "", ""), LMS_INVALID_ARGUMENT,
                  "new announcement in course CS101: the announcement is empty");
    expect_status(announce(f, "ins1", "CS101", "Exam\x1b[2J", "Hello"), LMS_INVALID_ARGUMENT,
                  "the announcement's title contains a control character (U+001B)");
    expect_status(announce(f, "ins1", "CS101", "", "bad \xff byte"), LMS_INVALID_ARGUMENT,
                  "the announcement");
    char *big = repeat('a', RULE_TEXT_MAX + 1);
    expect_status(announce(f, "ins1", "CS101", "", big), LMS_INVALID_ARGUMENT,
                  "the announcement is 65537 bytes; at most 65536 are allowed");
    free(big);
    assert_int_equal(records_under(f, ANN_KEY_PREFIX), 0);

    /* stored under the course's own spelling, its id the log index */
    f->now = T0 + 1000;
    const sm_result *r = announce(f, "ins1", "cs101", "Exam", "Friday, room 2.\n\tBring a pen.");
    expect_ok(r);
    assert_int_equal(r->id, f->index);
    ann_copy c = get_announcement(f, "CS101", r->id);
    assert_true(c.found);
    assert_string_equal(c.a.course, "CS101");
    assert_string_equal(c.a.author, "ins1");
    assert_string_equal(c.a.title, "Exam");
    assert_string_equal(c.text, "Friday, room 2.\n\tBring a pen.");
    assert_int_equal(c.a.created, T0 + 1000);
    /* an admin may; the UTF-8 of a text is kept byte for byte */
    uint64_t by_admin = announce(f, "root", "CS101", "", "Pr\xc3\xbc" "fung \xe2\x9c\x93")->id;
    expect_ok(&f->res);
    assert_string_equal(get_announcement(f, "CS101", by_admin).text,
                        "Pr\xc3\xbc" "fung \xe2\x9c\x93");
    /* a retry (same client and seq) is answered from the record: one stored */
    f->client_id = 42;
    f->seq = 1;
    uint64_t first = announce(f, "ins1", "CS101", "", "Once")->id;
    expect_ok(&f->res);
    r = announce(f, "ins1", "CS101", "", "Once");
    expect_ok(r);
    assert_true(r->deduplicated);
    assert_int_equal(r->id, first);
    assert_int_equal(records_under(f, ANN_KEY_PREFIX "CS101/"), 3);
}

/* Newest first, and before: a page of the older ones. */
static int ids_of(void *arg, const announcement *a)
{
    uint64_t *v = arg;
    size_t i = 0;
    while (v[i])
        i++;
    v[i] = a->id;
    return i + 1 == 2; /* stop after two */
}

static void test_announcements_newest_first(void **state)
{
    fx *f = *state;
    world(f);
    uint64_t id[3];
    for (int i = 0; i < 3; i++) {
        id[i] = announce(f, "ins1", "CS101", "", "News")->id;
        expect_ok(&f->res);
    }
    expect_ok(announce(f, "ins2", "MA201", "", "Other news"));
    uint64_t got[4] = {0};
    lms_err err = {0};
    assert_int_equal(announcement_list(g_ops, f->inst, "CS101", 0, ids_of, got, &err), LMS_OK);
    assert_int_equal(got[0], id[2]);
    assert_int_equal(got[1], id[1]);
    assert_int_equal(got[2], 0);
    memset(got, 0, sizeof got);
    assert_int_equal(announcement_list(g_ops, f->inst, "CS101", id[1], ids_of, got, &err),
                     LMS_OK);
    assert_int_equal(got[0], id[0]);
    assert_int_equal(got[1], 0);
}

static void test_inbox_seen_moves_forward_only(void **state)
{
    fx *f = *state;
    world(f);
    int64_t seen = -1;
    lms_err err = {0};
    f->now = T0 + DAY;
    expect_status(inbox_seen(f, "stu1", "stu2", T0), LMS_PERMISSION_DENIED,
                  "only stu2 may mark their inbox read");
    expect_status(inbox_seen(f, "stu1", "stu1", f->now + RULE_INBOX_SKEW_MS + 1),
                  LMS_INVALID_ARGUMENT, "is in the future");
    expect_status(inbox_seen(f, "stu1", "stu1", 0), LMS_INVALID_ARGUMENT,
                  "the time read up to must be between 1970");
    assert_int_equal(records_under(f, INBOX_KEY_PREFIX), 0);
    expect_ok(inbox_seen(f, "stu1", "stu1", T0 + 5));
    assert_int_equal(inbox_mark_get(g_ops, f->inst, "stu1", &seen, &err), LMS_OK);
    assert_int_equal(seen, T0 + 5);
    /* an older mark (a late copy, another client) changes nothing */
    char *before = dump(f);
    expect_ok(inbox_seen(f, "stu1", "stu1", T0 + 1));
    char *after = dump(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* a retry of the same write is answered from the record */
    f->client_id = 9;
    f->seq = 1;
    expect_ok(inbox_seen(f, "stu1", "stu1", T0 + 10));
    const sm_result *r = inbox_seen(f, "stu1", "stu1", T0 + 10);
    expect_ok(r);
    assert_true(r->deduplicated);
    assert_int_equal(inbox_mark_get(g_ops, f->inst, "stu1", &seen, &err), LMS_OK);
    assert_int_equal(seen, T0 + 10);
    assert_int_equal(inbox_mark_get(g_ops, f->inst, "stu2", &seen, &err), LMS_OK);
    assert_int_equal(seen, 0);
}

/* "kind id" of each item, newest first, space-separated. */
static const char *inbox_of(fx *f, const char *user, int64_t since, int64_t until,
                            size_t max, size_t *more)
{
    static char out[1024];
    inbox_page p;
    lms_err err = {0};
    if (inbox_collect(g_ops, f->inst, user, since, until, max, &p, &err) != LMS_OK)
        fail_msg("inbox_collect %s: %s", user, err.msg);
    out[0] = '\0';
    for (size_t i = 0; i < p.n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s %" PRIu64,
                 i ? ", " : "", inbox_kind_name(p.items[i].kind), p.items[i].id);
    if (more)
        *more = p.more;
    inbox_page_free(&p);
    return out;
}

static const char *summary_of(fx *f, const char *user, int kind)
{
    static char out[INBOX_SUMMARY_MAX + 1];
    inbox_page p;
    lms_err err = {0};
    out[0] = '\0';
    if (inbox_collect(g_ops, f->inst, user, 0, 0, 100, &p, &err) != LMS_OK)
        fail_msg("inbox_collect %s: %s", user, err.msg);
    for (size_t i = 0; i < p.n && !out[0]; i++)
        if (p.items[i].kind == kind)
            snprintf(out, sizeof out, "%s", p.items[i].summary);
    inbox_page_free(&p);
    return out;
}

static void expect_inbox(fx *f, const char *user, int64_t since, int64_t until,
                         const char *want)
{
    const char *got = inbox_of(f, user, since, until, 100, NULL);
    if (strcmp(got, want) != 0)
        fail_msg("inbox of %s after %" PRId64 ": expected \"%s\", got \"%s\"", user,
                 since - T0, want, got);
}

static void test_inbox_items(void **state)
{
    fx *f = *state;
    world(f); /* at T0: assignment f->aid, submission f->sid, question f->qid */
    char want[512];
    expect_ok(enroll(f, "root", "CS101", "spare", LMS__ROLE__TA));
    f->now = T0 + 1000;
    uint64_t ann = announce(f, "ins1", "CS101", "Exam", "On Friday.\nBring a pen.")->id;
    f->now = T0 + 2000;
    Lms__CreateAssignmentRequest a = assignment_req();
    a.title = "Held lab";
    a.hold_grades = 1;
    uint64_t held = mk_assignment(f, "ins1", &a)->id;
    f->now = T0 + 3000;
    uint64_t hsub = submit(f, "stu1", held, 10)->id;
    expect_ok(grade(f, "ins1", f->sid, 8, "good"));
    expect_ok(grade(f, "spare", hsub, 9, "held"));
    f->now = T0 + 4000;
    expect_ok(reply(f, "ins1", f->qid, "Use gcc.\nOr clang."));
    expect_ok(reply(f, "stu1", f->qid, "Thanks")); /* one's own: no item */
    f->now = T0 + 5000;
    expect_ok(extend(f, "ins1", f->aid, "stu1", DUE + DAY));
    f->now = T0 + 6000;
    uint64_t other = announce(f, "ins2", "MA201", "", "Elsewhere")->id;
    expect_ok(&f->res);

    /* each kind once, newest first; not the held grade, not the tutor's
     * answer, not the student's own reply, nothing of MA201 */
    snprintf(want, sizeof want,
             "extension %" PRIu64 ", reply %" PRIu64 ", grade %" PRIu64
             ", assignment %" PRIu64 ", announcement %" PRIu64 ", assignment %" PRIu64,
             f->aid, f->qid, f->sid, held, ann, f->aid);
    expect_inbox(f, "stu1", 0, 0, want);
    assert_string_equal(summary_of(f, "stu1", INBOX_ANNOUNCEMENT), "Exam: On Friday.");
    assert_string_equal(summary_of(f, "stu1", INBOX_GRADE),
                        "grade 8/10 for \"Lab 1\" (attempt 1)");
    assert_string_equal(summary_of(f, "stu1", INBOX_REPLY),
                        "ins1 replied to \"How do I compile?\": Use gcc.");
    assert_string_equal(summary_of(f, "stu1", INBOX_EXTENSION),
                        "extension of \"Lab 1\" until 2026-12-02T00:00:00Z");
    assert_string_equal(summary_of(f, "stu1", INBOX_ASSIGNMENT),
                        "new assignment \"Held lab\", due 2026-12-01T00:00:00Z");
    /* the window: after since, at or before until */
    snprintf(want, sizeof want, "reply %" PRIu64 ", grade %" PRIu64 ", assignment %" PRIu64,
             f->qid, f->sid, held);
    expect_inbox(f, "stu1", T0 + 1000, T0 + 4000, want);
    expect_inbox(f, "stu1", T0 + 5000, 0, "");
    /* a page: the newest, and how many older ones were left out */
    size_t more = 0;
    snprintf(want, sizeof want, "extension %" PRIu64 ", reply %" PRIu64, f->aid, f->qid);
    assert_string_equal(inbox_of(f, "stu1", 0, 0, 2, &more), want);
    assert_int_equal(more, 4);
    /* a student of another course sees nothing of this one; a teaching
     * assistant sees the course's announcements, not its students' work */
    snprintf(want, sizeof want, "announcement %" PRIu64, other);
    expect_inbox(f, "stu2", 0, 0, want);
    snprintf(want, sizeof want, "announcement %" PRIu64, ann);
    expect_inbox(f, "spare", 0, 0, want);

    /* released: the held grade, at the time of the release */
    f->now = T0 + 7000;
    expect_ok(release(f, "ins1", held));
    assert_int_equal(records_under(f, INBOX_KEY_PREFIX ".released/"), 1);
    assert_int_equal(records_under(f, INBOX_KEY_PREFIX "stu1/ext/"), 1);
    snprintf(want, sizeof want, "grade %" PRIu64, hsub);
    expect_inbox(f, "stu1", T0 + 6000, 0, want);
    /* graded again after the release: seen at the new grading */
    f->now = T0 + 8000;
    expect_ok(grade(f, "ins1", hsub, 10, "better"));
    expect_inbox(f, "stu1", T0 + 7000, 0, want);
    assert_string_equal(inbox_of(f, "stu2", T0 + 6000, 0, 100, NULL), "");
    /* a course left (unenroll) is out of the inbox, announcements and all */
    expect_ok(unenroll(f, "root", "CS101", "stu1"));
    expect_inbox(f, "stu1", 0, 0, "");
}

/* Edits, hiding and deleting (edit-assignment and the rest), and a late
 * penalty, as a student's inbox shows them. */
static void test_inbox_assignment_changes(void **state)
{
    fx *f = *state;
    world(f); /* at T0: assignment f->aid (due DUE, cut-off CUTOFF) */
    char want[256];
    f->now = T0 + 1000;
    uint64_t gone = fresh_assignment(f), hidden = fresh_assignment(f);
    expect_ok(hide(f, "ins1", hidden, 1));
    expect_ok(delete_assignment(f, "ins1", gone));
    snprintf(want, sizeof want, "assignment %" PRIu64, f->aid);
    expect_inbox(f, "stu1", 0, 0, want); /* neither the hidden nor the deleted one */

    /* changes since: one item, at the newest, naming what changed in any */
    f->now = T0 + 2000;
    Lms__EditAssignmentRequest e = edit_req(f->aid);
    e.set_due = e.set_late_penalty = 1;
    e.due = CUTOFF;
    e.late_penalty = 10;
    expect_ok(edit(f, "ins1", &e));
    f->now = T0 + 3000;
    e = edit_req(f->aid);
    e.set_title = e.set_due = 1;
    e.title = "Lab 1b";
    e.due = DUE;
    expect_ok(edit(f, "ins1", &e));
    expect_inbox(f, "stu1", T0 + 1000, 0, want);
    assert_string_equal(summary_of(f, "stu1", INBOX_ASSIGNMENT),
                        "new assignment \"Lab 1b\", due 2026-12-01T00:00:00Z");
    inbox_page p;
    lms_err err = {0};
    assert_int_equal(inbox_collect(g_ops, f->inst, "stu1", T0 + 1000, 0, 10, &p, &err), LMS_OK);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.items[0].time, T0 + 3000);
    assert_string_equal(p.items[0].summary,
                        "assignment \"Lab 1b\" changed: due, late-penalty, title");
    inbox_page_free(&p);
    /* shown again: news; hidden: not */
    f->now = T0 + 4000;
    expect_ok(hide(f, "ins1", hidden, 0));
    expect_ok(hide(f, "ins1", f->aid, 1));
    snprintf(want, sizeof want, "assignment %" PRIu64, hidden);
    expect_inbox(f, "stu1", T0 + 3000, 0, want);
    assert_int_equal(inbox_collect(g_ops, f->inst, "stu1", T0 + 3000, 0, 10, &p, &err), LMS_OK);
    assert_string_equal(p.items[0].summary,
                        "assignment \"Lab 1\" is shown again, due 2026-12-01T00:00:00Z");
    inbox_page_free(&p);

    /* a grade with a late penalty, as `grades` counts it */
    f->now = DUE + DAY + DAY / 2; /* 1.5 days after the due time: 2 days late */
    Lms__CreateAssignmentRequest a = assignment_req();
    a.cutoff = 0;
    a.late_penalty = 10;
    uint64_t late = mk_assignment(f, "ins1", &a)->id;
    expect_ok(&f->res);
    f->now = DUE + 3 * DAY / 2;
    uint64_t sub = submit(f, "stu1", late, 10)->id;
    expect_ok(&f->res);
    expect_ok(grade(f, "ins1", sub, 8, "late"));
    assert_string_equal(summary_of(f, "stu1", INBOX_GRADE),
                        "grade 6/10 (8, 2 days late: -2) for \"Lab 1\" (attempt 1)");
}

/* ---- who may do what ---------------------------------------------------------------------- */

typedef const sm_result *(*op_fn)(fx *f, const char *actor);

static const sm_result *op_create_user(fx *f, const char *actor)
{
    char name[32];
    snprintf(name, sizeof name, "u%" PRIu64, f->index + 1);
    return mk_user(f, actor, name, STUDENT);
}

static const sm_result *op_import(fx *f, const char *actor)
{
    char name[32];
    const char *names[] = {name};
    const Lms__Role roles[] = {STUDENT};
    snprintf(name, sizeof name, "u%" PRIu64, f->index + 1);
    return import(f, actor, names, roles, 1);
}

static const sm_result *op_create_course(fx *f, const char *actor)
{
    char code[32];
    snprintf(code, sizeof code, "C%" PRIu64, f->index + 1);
    return mk_course(f, actor, code, "A course");
}

static const sm_result *op_enroll(fx *f, const char *actor)
{
    return enroll(f, actor, "CS101", "spare", STUDENT);
}

static const sm_result *op_create_assignment(fx *f, const char *actor)
{
    Lms__CreateAssignmentRequest a = assignment_req();
    return mk_assignment(f, actor, &a);
}

static const sm_result *op_submit(fx *f, const char *actor)
{
    return submit(f, actor, f->aid, 10);
}

static const sm_result *op_grade(fx *f, const char *actor)
{
    return grade(f, actor, f->sid, 5, "ok");
}

static const sm_result *op_release(fx *f, const char *actor)
{
    return release(f, actor, f->aid);
}

static const sm_result *op_extend(fx *f, const char *actor)
{
    return extend(f, actor, f->aid, "stu1", CUTOFF + DAY);
}

static const sm_result *op_ask(fx *f, const char *actor)
{
    return ask(f, actor, "CS101", "", "Is there a lab this week?");
}

static const sm_result *op_reply(fx *f, const char *actor)
{
    return reply(f, actor, f->qid, "Yes.");
}

static const sm_result *op_resolve(fx *f, const char *actor)
{
    return resolve(f, actor, f->qid);
}

static const sm_result *op_upload(fx *f, const char *actor)
{
    return upload(f, actor, "CS101");
}

static const sm_result *op_tutor(fx *f, const char *actor)
{
    return tutor(f, actor, "CS101", "What is a pointer?");
}

static const sm_result *op_unshare(fx *f, const char *actor)
{
    return share(f, actor, f->qid, 0);
}

static const sm_result *op_escalate(fx *f, const char *actor)
{
    return escalate(f, actor, f->tid, "Please help.");
}

static const sm_result *op_announce(fx *f, const char *actor)
{
    return announce(f, actor, "CS101", "", "Class is cancelled.");
}

static const sm_result *op_settings(fx *f, const char *actor)
{
    return settings(f, actor, "CS101", "Be brief.", 5);
}

static const sm_result *op_edit(fx *f, const char *actor)
{
    Lms__EditAssignmentRequest e = edit_req(f->aid);
    e.set_description = 1;
    e.description = "edited";
    return edit(f, actor, &e);
}

static const sm_result *op_hide(fx *f, const char *actor)
{
    return hide(f, actor, fresh_assignment(f), 1);
}

static const sm_result *op_delete(fx *f, const char *actor)
{
    return delete_assignment(f, actor, fresh_assignment(f));
}

/* Each on a material uploaded for it (ins1 may, so the op is theirs). */
static const sm_result *op_replace_material(fx *f, const char *actor)
{
    uint64_t m = upload(f, "ins1", "CS101")->id;
    return replace_material(f, actor, m, "a new version");
}

static const sm_result *op_delete_material(fx *f, const char *actor)
{
    uint64_t m = upload(f, "ins1", "CS101")->id;
    return delete_material(f, actor, m);
}

/* spare, enrolled (again) for it */
static const sm_result *op_unenroll(fx *f, const char *actor)
{
    enroll(f, "root", "CS101", "spare", STUDENT);
    return unenroll(f, actor, "CS101", "spare");
}

#define OK LMS_OK
#define NO LMS_PERMISSION_DENIED

/* Actors: an admin, CS101's instructor, another course's instructor, a
 * student of CS101, a student of another course. */
static const char *const actors[] = {"root", "ins1", "ins2", "stu1", "stu2"};

static const struct {
    const char *name;
    op_fn op;
    int want[5];
} matrix[] = {
    {"create_user", op_create_user, {OK, NO, NO, NO, NO}},
    {"import_users", op_import, {OK, NO, NO, NO, NO}},
    {"create_course", op_create_course, {OK, NO, NO, NO, NO}},
    {"enroll", op_enroll, {OK, NO, NO, NO, NO}},
    {"create_assignment", op_create_assignment, {NO, OK, NO, NO, NO}},
    {"submit", op_submit, {NO, NO, NO, OK, NO}},
    {"grade", op_grade, {NO, OK, NO, NO, NO}},
    {"release", op_release, {NO, OK, NO, NO, NO}},
    {"extend", op_extend, {NO, OK, NO, NO, NO}},
    {"ask", op_ask, {NO, NO, NO, OK, NO}},
    {"reply", op_reply, {NO, OK, NO, OK, NO}},
    {"resolve", op_resolve, {NO, OK, NO, OK, NO}},
    {"upload_material", op_upload, {NO, OK, NO, NO, NO}},
    {"tutor_exchange", op_tutor, {NO, NO, NO, OK, NO}},
    {"escalate", op_escalate, {NO, NO, NO, OK, NO}},
    {"tutor_settings", op_settings, {NO, OK, NO, NO, NO}},
    {"share", op_unshare, {NO, OK, NO, NO, NO}},
    {"edit_assignment", op_edit, {NO, OK, NO, NO, NO}},
    {"hide_assignment", op_hide, {NO, OK, NO, NO, NO}},
    {"delete_assignment", op_delete, {NO, OK, NO, NO, NO}},
    {"replace_material", op_replace_material, {NO, OK, NO, NO, NO}},
    {"delete_material", op_delete_material, {NO, OK, NO, NO, NO}},
    {"unenroll", op_unenroll, {OK, NO, NO, NO, NO}},
    {"announce", op_announce, {OK, OK, NO, NO, NO}},
};

static void test_authorization_matrix(void **state)
{
    fx *f = *state;
    world(f);
    for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++) {
        for (size_t j = 0; j < 5; j++) {
            const sm_result *r = matrix[i].op(f, actors[j]);
            int ok = r->status == matrix[i].want[j] &&
                     (r->status != NO || strstr(r->message, "only "));
            if (!ok)
                fail_msg("%s by %s: expected %s, got %s \"%s\"", matrix[i].name, actors[j],
                         status_name(matrix[i].want[j]), status_name(r->status),
                         r->message);
        }
    }
}

static void test_unknown_actor_is_unauthenticated(void **state)
{
    fx *f = *state;
    world(f);
    for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++) {
        const sm_result *r = matrix[i].op(f, "ghost");
        if (r->status != LMS_UNAUTHENTICATED || !strstr(r->message, "user ghost"))
            fail_msg("%s by an unknown user: expected UNAUTHENTICATED, got %s \"%s\"",
                     matrix[i].name, status_name(r->status), r->message);
        r = matrix[i].op(f, "");
        int want = matrix[i].op == op_create_user ? LMS_PERMISSION_DENIED
                                                  : LMS_UNAUTHENTICATED;
        if (r->status != want)
            fail_msg("%s with no actor: expected %s, got %s \"%s\"", matrix[i].name,
                     status_name(want), status_name(r->status), r->message);
    }
    Lms__CmdNoop noop = LMS__CMD_NOOP__INIT;
    expect_ok(send(f, "", LMS__COMMAND__BODY_NOOP, &noop));
    uint8_t h[LMS_SHA256_LEN] = {9};
    expect_ok(new_session(f, "stu1", h, sizeof h));
}

/* ---- dedup, housekeeping, unknown commands ---------------------------------------------- */

static void test_retry_is_answered_from_the_record(void **state)
{
    fx *f = *state;
    world(f);
    f->client_id = 42;
    f->seq = 1;
    const sm_result *r = submit(f, "stu1", f->aid, 10);
    expect_ok(r);
    uint64_t id = r->id;
    assert_false(r->deduplicated);
    r = submit(f, "stu1", f->aid, 10);
    expect_ok(r);
    assert_true(r->deduplicated);
    assert_int_equal(r->id, id);
    assert_int_equal(count_submissions(f, f->aid, "stu1"), 2);

    f->seq = 2; /* a refusal is remembered too */
    r = submit(f, "stu1", f->aid, MAX_SIZE + 1);
    expect_status(r, LMS_INVALID_ARGUMENT, "file is 1001 bytes");
    char msg[256];
    strcpy(msg, r->message);
    r = submit(f, "stu1", f->aid, MAX_SIZE + 1);
    expect_status(r, LMS_INVALID_ARGUMENT, NULL);
    assert_true(r->deduplicated);
    assert_string_equal(r->message, msg);

    f->seq = 1;
    expect_status(submit(f, "stu1", f->aid, 10), LMS_FAILED_PRECONDITION, "stale request");
    f->seq = 5;
    r = submit(f, "stu1", f->aid, 10);
    expect_ok(r);
    assert_false(r->deduplicated);
    assert_true(r->id > id);
    assert_int_equal(count_submissions(f, f->aid, "stu1"), 3);

    f->client_id = 43; /* another client's seq 1 is its own */
    f->seq = 1;
    r = ask(f, "stu1", "CS101", "", "Another question");
    expect_ok(r);
    assert_false(r->deduplicated);
    lms_client_record rec;
    lms_err err = {0};
    assert_int_equal(g_ops->client_get(f->inst, 42, &rec, &err), LMS_OK);
    assert_int_equal(rec.seq, 5);
    assert_int_equal(rec.status, LMS_OK);
    assert_int_equal(rec.updated, T0);
}

/* A retried import gets the first answer whole: every row's outcome,
 * the rows the leader refused before proposing included, from the
 * client's record (not "already exists" for the users it created); and
 * sm_record_answer, the rule dispatch answers retries with, says the same. */
static void test_retried_import_gets_the_whole_report(void **state)
{
    fx *f = *state;
    world(f);
    Lms__CmdCreateUser rows[2] = {user_body("new1", STUDENT), user_body("stu1", STUDENT)};
    Lms__CmdCreateUser *ptrs[2] = {&rows[0], &rows[1]};
    uint32_t lines[2] = {2, 3};
    Lms__ImportResult early = LMS__IMPORT_RESULT__INIT, bogus = LMS__IMPORT_RESULT__INIT;
    Lms__ImportResult *refused[2] = {&early, &bogus};
    early.line = 4;
    early.name = "wiz";
    early.status = LMS__STATUS__INVALID_ARGUMENT;
    early.message = "role must be student, instructor or admin";
    bogus.line = 5; /* a refusal the log cannot mean: reads as INVALID_ARGUMENT */
    bogus.name = "odd";
    bogus.status = (Lms__Status)12345;
    bogus.message = "?";
    Lms__CmdImportUsers b = LMS__CMD_IMPORT_USERS__INIT;
    b.n_users = b.n_lines = 2;
    b.users = ptrs;
    b.lines = lines;
    b.n_refused = 2;
    b.refused = refused;
    f->client_id = 4242;
    f->seq = 1;
    for (int round = 0; round < 2; round++) {
        const sm_result *r = send(f, "root", LMS__COMMAND__BODY_IMPORT_USERS, &b);
        expect_ok(r);
        assert_int_equal(r->deduplicated, round == 1);
        assert_int_equal(r->id, 1); /* created */
        assert_int_equal(r->nrows, 4);
        assert_int_equal(r->rows[0].line, 2);
        assert_string_equal(r->rows[0].name, "new1");
        assert_int_equal(r->rows[0].status, LMS_OK);
        assert_int_equal(r->rows[1].status, LMS_ALREADY_EXISTS);
        assert_int_equal(r->rows[2].line, 4);
        assert_string_equal(r->rows[2].name, "wiz");
        assert_int_equal(r->rows[2].status, LMS_INVALID_ARGUMENT);
        assert_string_equal(r->rows[2].message, early.message);
        assert_int_equal(r->rows[3].status, LMS_INVALID_ARGUMENT);
    }
    lms_client_record rec;
    lms_err err = {0};
    memset(&rec, 0, sizeof rec);
    assert_int_equal(g_ops->client_get(f->inst, 4242, &rec, &err), LMS_OK);
    sm_result res;
    assert_int_equal(sm_record_answer(&rec, 1, NULL, 0, &res), 1);
    assert_true(res.deduplicated);
    assert_int_equal(res.nrows, 4);
    assert_string_equal(res.rows[0].name, "new1");
    sm_result_free(&res);
    assert_int_equal(sm_record_answer(&rec, 2, NULL, 0, &res), 0); /* newer: apply it */
    assert_int_equal(sm_record_answer(&rec, 0, NULL, 0, &res), 1); /* older: stale */
    assert_int_equal(res.status, LMS_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "stale request"));
    sm_result_free(&res);
    /* a record whose rows do not decode still answers status and id */
    rec.answer = "\xff\xff\xff";
    rec.answer_len = 3;
    assert_int_equal(sm_record_answer(&rec, 1, NULL, 0, &res), 1);
    assert_int_equal(res.status, LMS_OK);
    assert_int_equal(res.id, 1);
    assert_int_equal(res.nrows, 0);
    sm_result_free(&res);
}

/* The record answers only the request that wrote it (Command.request,
 * the leader's digest of the caller, kind and body): another request with
 * the same (client_id, seq), from the same user or another, is refused and
 * changes nothing; it does not get the record's id, which its handler
 * would read back (another user's question, submission, grade). */
static void test_record_answers_only_its_request(void **state)
{
    fx *f = *state;
    world(f);
    uint8_t mine[32] = {1}, other[32] = {2};
    Lms__CmdAsk a = LMS__CMD_ASK__INIT;
    a.course = "MA201";
    a.title = "";
    a.text = "Is the exam open book?";
    Lms__Command cmd = LMS__COMMAND__INIT;
    cmd.body_case = LMS__COMMAND__BODY_ASK;
    cmd.ask = &a;
    cmd.request = bytes(mine, sizeof mine);
    f->client_id = 501;
    f->seq = 1;
    const sm_result *r = run(f, "stu2", &cmd);
    expect_ok(r);
    uint64_t qid = r->id;
    r = run(f, "stu2", &cmd); /* the same request again */
    expect_ok(r);
    assert_true(r->deduplicated);
    assert_int_equal(r->id, qid);

    Lms__CmdReply b = LMS__CMD_REPLY__INIT;
    b.query_id = f->qid; /* stu1's question */
    b.text = "hi";
    Lms__Command other_cmd = LMS__COMMAND__INIT;
    other_cmd.body_case = LMS__COMMAND__BODY_REPLY;
    other_cmd.reply = &b;
    other_cmd.request = bytes(other, sizeof other);
    r = run(f, "stu2", &other_cmd);
    expect_status(r, LMS_FAILED_PRECONDITION, "already sent another request");
    assert_false(r->deduplicated);
    assert_int_equal(r->id, 0);
    r = run(f, "stu1", &other_cmd); /* another user, the same */
    expect_status(r, LMS_FAILED_PRECONDITION, "already sent another request");
    assert_int_equal(r->id, 0);

    lms_client_record rec;
    lms_err err = {0};
    sm_result res;
    memset(&rec, 0, sizeof rec);
    assert_int_equal(g_ops->client_get(f->inst, 501, &rec, &err), LMS_OK);
    assert_int_equal(sm_record_answer(&rec, 1, mine, sizeof mine, &res), 1);
    assert_true(res.deduplicated);
    assert_int_equal(res.id, qid);
    assert_int_equal(sm_record_answer(&rec, 1, other, sizeof other, &res), 1);
    assert_int_equal(res.status, LMS_FAILED_PRECONDITION);
    assert_false(res.deduplicated);
    assert_int_equal(res.id, 0);
    /* no digest on either side (from before digests): not compared */
    assert_int_equal(sm_record_answer(&rec, 1, NULL, 0, &res), 1);
    assert_true(res.deduplicated);
    assert_int_equal(res.id, qid);
}

static void test_unknown_command(void **state)
{
    fx *f = *state;
    world(f);
    Lms__Command cmd = LMS__COMMAND__INIT;
    f->client_id = 7;
    f->seq = 1;
    expect_status(run(f, "root", &cmd), LMS_INVALID_ARGUMENT, "unknown command");
    cmd.body_case = LMS__COMMAND__BODY_GRADE; /* a body case with no body */
    f->seq = 2;
    expect_status(run(f, "root", &cmd), LMS_INVALID_ARGUMENT, "unknown command");
    Lms__CmdNoop noop = LMS__CMD_NOOP__INIT;
    cmd.body_case = (Lms__Command__BodyCase)99;
    cmd.noop = &noop;
    f->seq = 3;
    expect_status(run(f, "root", &cmd), LMS_INVALID_ARGUMENT, "unknown command");
    const sm_result *r = run(f, "root", &cmd);
    expect_status(r, LMS_INVALID_ARGUMENT, "unknown command");
    assert_true(r->deduplicated);
}

static void test_housekeeping_prunes_old_records(void **state)
{
    fx *f = *state;
    lms_client_record rec;
    lms_session s;
    lms_err err = {0};
    uint8_t old_token[LMS_SHA256_LEN] = {1}, new_token[LMS_SHA256_LEN] = {2};
    f->client_id = 9;
    f->seq = 1;
    expect_ok(mk_user(f, "", "root", ADMIN));
    f->client_id = 0;
    expect_ok(new_session(f, "root", old_token, LMS_SHA256_LEN)); /* expires T0+DAY */
    f->now = T0 + 2 * DAY;
    expect_ok(new_session(f, "root", new_token, LMS_SHA256_LEN)); /* T0+3*DAY */

    Lms__CmdNoop noop = LMS__CMD_NOOP__INIT;
    f->index = 1022;
    expect_ok(send(f, "", LMS__COMMAND__BODY_NOOP, &noop)); /* 1023: no pruning */
    assert_int_equal(g_ops->client_get(f->inst, 9, &rec, &err), LMS_OK);
    assert_int_equal(g_ops->session_get(f->inst, old_token, &s, &err), LMS_OK);
    f->client_id = 10;
    f->seq = 1;
    expect_ok(send(f, "", LMS__COMMAND__BODY_NOOP, &noop)); /* 1024 */
    assert_int_equal(g_ops->client_get(f->inst, 9, &rec, &err), LMS_NOT_FOUND);
    assert_int_equal(g_ops->client_get(f->inst, 10, &rec, &err), LMS_OK);
    assert_int_equal(g_ops->session_get(f->inst, old_token, &s, &err), LMS_NOT_FOUND);
    assert_int_equal(g_ops->session_get(f->inst, new_token, &s, &err), LMS_OK);
}

/* ---- determinism and storage failures ---------------------------------------------------- */

/* A little of everything, refusals and retries included. */
static void script(fx *f)
{
    const char *names[] = {"imp1", "imp 2", "imp3", "imp1"};
    const Lms__Role roles[] = {STUDENT, STUDENT, INSTRUCTOR, STUDENT};
    world(f);
    import(f, "root", names, roles, 4);
    enroll(f, "root", "CS101", "imp1", STUDENT);
    enroll(f, "root", "CS101", "imp3", INSTRUCTOR);
    f->client_id = 77;
    for (f->seq = 1; f->seq <= 3; f->seq++) {
        f->now += DAY / 2;
        submit(f, "imp1", f->aid, 100 * (size_t)f->seq);
        submit(f, "imp1", f->aid, 100 * (size_t)f->seq);
    }
    f->client_id = 0;
    extend(f, "imp3", f->aid, "imp1", CUTOFF + 2 * DAY);
    submit(f, "imp1", f->aid, 5);
    grade(f, "imp3", f->sid, 9.25, "Nice");
    grade(f, "ins1", f->sid + 1, 99, "too many");
    release(f, "ins1", f->aid);
    uint64_t q = ask(f, "imp1", "CS101", "", "What is a pointer?\nThanks")->id;
    reply(f, "imp3", q, "An address.");
    resolve(f, "imp1", q);
    upload(f, "imp3", "CS101");
    upload(f, "stu1", "CS101");
    mk_course(f, "root", "CS101", "dup");
    settings(f, "imp3", "CS101", "Socratic, please.", 1);
    settings(f, "imp1", "CS101", "mine now", -1);
    uint64_t t = tutor(f, "imp1", "CS101", "Is a pointer an integer?")->id;
    tutor(f, "imp1", "CS101", "over the limit");
    f->now += DAY;
    tutor(f, "imp1", "CS101", "next day");
    escalate(f, "imp1", t, "Still confused.");
    escalate(f, "stu1", t, "not mine");
    escalate(f, "imp1", q, "not a tutor answer");
    Lms__EditAssignmentRequest e = edit_req(f->aid);
    e.set_due = e.set_late_penalty = 1;
    e.due = DUE + DAY;
    e.late_penalty = 5;
    edit(f, "ins1", &e);
    hide(f, "ins1", f->aid, 1);
    delete_assignment(f, "ins1", f->aid);
    delete_assignment(f, "ins1", fresh_assignment(f));
}

static void test_same_log_same_state(void **state)
{
    fx *a = *state, *b = a->twin = fx_open();
    char *trace_a = NULL, *trace_b = NULL;
    size_t len_a, len_b;
    a->trace = open_memstream(&trace_a, &len_a);
    b->trace = open_memstream(&trace_b, &len_b);
    script(a);
    script(b);
    fclose(a->trace);
    fclose(b->trace);
    a->trace = b->trace = NULL;
    assert_string_equal(trace_a, trace_b);
    assert_non_null(strstr(trace_a, "row 3 imp 2 3"));
    char *dump_a = dump(a), *dump_b = dump(b);
    assert_string_equal(dump_a, dump_b);
    assert_non_null(strstr(dump_a, "material"));
    lms_client_record ra, rb;
    lms_err err = {0};
    assert_int_equal(g_ops->client_get(a->inst, 77, &ra, &err), LMS_OK);
    assert_int_equal(g_ops->client_get(b->inst, 77, &rb, &err), LMS_OK);
    assert_int_equal(ra.seq, rb.seq);
    assert_int_equal(ra.status, rb.status);
    assert_int_equal(ra.result_id, rb.result_id);
    assert_int_equal(ra.updated, rb.updated);
    assert_string_equal(ra.message, rb.message);
    free(dump_a);
    free(dump_b);
    free(trace_a);
    free(trace_b);
}

static int fail_course_put(void *inst, const lms_course *c, lms_err *err)
{
    return lms_err_set(err, LMS_INTERNAL, "injected: disk full");
}

static int fail_silently(void *inst, const lms_user *u, lms_err *err)
{
    return LMS_INTERNAL;
}

/* Apply cmd through a copy of the plugin's table with one call broken. */
static int apply_broken(fx *f, const struct lms_storage_ops *ops, Lms__Command *cmd,
                        sm_result *res, lms_err *err)
{
    sm m = {.ops = ops, .st = f->inst};
    lms_err e = {0};
    cmd->actor = "root";
    assert_int_equal(g_ops->begin(f->inst, &e), LMS_OK);
    int rc = sm_apply(&m, ++f->index, cmd, res, err);
    assert_int_equal(g_ops->rollback(f->inst, &e), LMS_OK);
    return rc;
}

static void test_storage_failure_is_an_error(void **state)
{
    fx *f = *state;
    world(f);
    struct lms_storage_ops broken = *g_ops;
    broken.course_put = fail_course_put;
    broken.user_put = fail_silently;
    Lms__CmdCreateCourse course = LMS__CMD_CREATE_COURSE__INIT;
    course.code = "PH100";
    course.title = "Physics";
    Lms__Command cmd = LMS__COMMAND__INIT;
    cmd.body_case = LMS__COMMAND__BODY_CREATE_COURSE;
    cmd.create_course = &course;
    sm_result res;
    lms_err err = {0};
    assert_int_equal(apply_broken(f, &broken, &cmd, &res, &err), LMS_INTERNAL);
    assert_string_equal(err.msg, "injected: disk full");

    const char *names[] = {"imp1", "imp2"};
    const Lms__Role roles[] = {STUDENT, STUDENT};
    Lms__CmdCreateUser rows[2] = {user_body(names[0], roles[0]), user_body(names[1], roles[1])};
    Lms__CmdCreateUser *ptrs[2] = {&rows[0], &rows[1]};
    Lms__CmdImportUsers imp = LMS__CMD_IMPORT_USERS__INIT;
    imp.n_users = 2;
    imp.users = ptrs;
    cmd.body_case = LMS__COMMAND__BODY_IMPORT_USERS;
    cmd.import_users = &imp;
    assert_int_equal(apply_broken(f, &broken, &cmd, &res, &err), LMS_INTERNAL);
    assert_non_null(strstr(err.msg, "storage failed applying log entry"));
    assert_null(res.rows);
    assert_int_equal(res.nrows, 0);
}

/* Review (h-review2): apply trusts the command's SHA-256 (put_body passes
 * verify = 0). A command whose bytes are not its SHA-256 (a buggy or
 * hostile leader, an entry damaged before it was framed) must not replace
 * the body another row already names: whatever it is answered, stu1's
 * file stays stu1's file. Today the second body, of another size, misses
 * filestore_has() and is renamed over the first: stu1's download is
 * DATA_LOSS from then on, on every node that applied it. */
static void test_a_wrong_sha_does_not_replace_another_body(void **state)
{
    fx *f = *state;
    world(f);
    f->now = DUE - 1;
    expect_ok(enroll(f, "root", "CS101", "spare", STUDENT));
    static const char mine[] = "stu1: int main(void) { return 0; }";
    uint8_t sha[LMS_SHA256_LEN];
    unsigned n = 0;
    assert_true(EVP_Digest(mine, sizeof mine - 1, sha, &n, EVP_sha256(), NULL));
    Lms__CmdSubmit b = submit_body(f->aid, 1);
    b.data = bytes(mine, sizeof mine - 1);
    b.sha256 = bytes(sha, sizeof sha);
    const sm_result *r = send(f, "stu1", LMS__COMMAND__BODY_SUBMIT, &b);
    expect_ok(r);
    uint64_t sid = r->id;

    Lms__CmdSubmit evil = submit_body(f->aid, 1);
    evil.data = bytes("x", 1);
    evil.sha256 = bytes(sha, sizeof sha); /* stu1's name, other bytes */
    expect_status(send(f, "spare", LMS__COMMAND__BODY_SUBMIT, &evil),
                  LMS_INVALID_ARGUMENT, "is not the SHA-256 of its 1 bytes");

    lms_submission s = get_submission(f, sid);
    char body[sizeof mine];
    lms_err err = {0};
    assert_int_equal(filestore_get(f->m.files, s.sha256, s.size, body, &err),
                     LMS_OK);
    assert_memory_equal(body, mine, sizeof mine - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_bootstrap_admin_only_on_empty_store),
        T(test_create_user_rules),
        T(test_sessions),
        T(test_passwords),
        T(test_disabled_users),
        T(test_auth_epoch_is_a_sequence_lock),
        T(test_sessions_per_user_capped_oldest_end),
        T(test_auth_epoch),
        T(test_import_reports_every_row),
        T(test_create_course_rules),
        T(test_texts_are_utf8_and_messages_are_clean),
        cmocka_unit_test(test_text_rule),
        cmocka_unit_test(test_nul_in_a_request_string),
        T(test_enroll_rules),
        T(test_create_assignment_rules),
        T(test_create_assignment_stores_it),
        T(test_create_assignment_late_penalty),
        T(test_edit_assignment_rules),
        T(test_edit_assignment_changes_only_what_it_sets),
        T(test_edit_assignment_keeps_work),
        T(test_hide_assignment),
        T(test_delete_assignment),
        T(test_submit_stores_file_and_counts_attempts),
        T(test_submit_late_and_cutoff),
        T(test_extension_moves_due_and_cutoff),
        T(test_extend_rules),
        T(test_submit_file_checks),
        T(test_course_codes_ignore_case),
        T(test_grade_rules),
        T(test_release_is_idempotent),
        T(test_ask_rules_and_default_title),
        T(test_reply_and_resolve),
        T(test_share_rules),
        T(test_reply_and_share),
        T(test_tutor_exchange_rules),
        T(test_tutor_daily_limit),
        T(test_escalate_rules),
        T(test_tutor_settings_rules),
        T(test_upload_material_rules),
        T(test_replace_material),
        T(test_delete_material),
        T(test_unenroll),
        T(test_grade_history),
        T(test_announce_rules),
        T(test_announcements_newest_first),
        T(test_inbox_seen_moves_forward_only),
        T(test_inbox_items),
        T(test_inbox_assignment_changes),
        T(test_authorization_matrix),
        T(test_unknown_actor_is_unauthenticated),
        T(test_retry_is_answered_from_the_record),
        T(test_retried_import_gets_the_whole_report),
        T(test_record_answers_only_its_request),
        T(test_unknown_command),
        T(test_housekeeping_prunes_old_records),
        T(test_same_log_same_state),
        T(test_storage_failure_is_an_error),
        T(test_a_wrong_sha_does_not_replace_another_body),
#undef T
    };
    return cmocka_run_group_tests_name("sm", tests, load_plugin, unload_plugin);
}

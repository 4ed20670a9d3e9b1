/* SPDX-License-Identifier: MIT */
/*
 * handlers_corrections.c: corrections to what a course already holds:
 * a new version of a material (replace-material) and its history
 * (material-history, download --version), deleting a material, taking a
 * user out of a course (unenroll) and the history of a submission's grades
 * (grade-history); and the filters that the other groups' lists apply for
 * them (deleted materials and the rows that keep old versions are no
 * materials; the work of students who left a course is left out of its
 * lists unless asked for).
 *
 * What is stored where: materials.h (the "mat/" records and the archive
 * rows), unenrolment.h ("unenr/"), grade_history.h ("gh/"). Like every
 * handler, these only reject early: apply (sm.c, its corrections section)
 * asks the same rules (rules.h) and decides.
 */
#include "handlers.h"

#include "grade_history.h"
#include "materials.h"
#include "unenrolment.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- materials -------------------------------------------------------- */

/* Load material row id and its state, and refuse a row that is no
 * material for anyone (it keeps an old version of another): NOT_FOUND, as
 * if it did not exist. 0, or -1 answered. */
static int load_material(req *r, uint64_t id, lms_material *m, material_state *s)
{
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    int rc = req_ops(r)->material_get(req_st(r), id, 0, m, &err);
    if (req_got(r, rc, &err, "material", id) < 0)
        return -1;
    if (material_state_get(req_ops(r), req_st(r), id, s, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    return req_verdict(r, rule_material_shown(id, s->archive_of != 0, 0, 0, why, sizeof why),
                       why);
}

/* A member of m's course (or an admin) reads it, to verb: a deleted one
 * only its staff (and admins) see, for everyone else it does not exist.
 * 0, or -1 answered. */
static int read_material(req *r, uint64_t id, lms_material *m, material_state *s,
                         const char *verb)
{
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    int role;
    if (load_material(r, id, m, s) < 0 ||
        req_check_course(r, m->course, COURSE_MEMBER, verb) < 0)
        return -1;
    if (req_course_role(r, m->course, &role, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    int sees_deleted = rule_is_staff(role) || r->who.role == LMS_ROLE_ADMIN;
    return req_verdict(r, rule_material_shown(id, 0, s->deleted, sees_deleted, why,
                                              sizeof why),
                       why);
}

static next_step replace_material_prepare(req *r)
{
    const Lms__ReplaceMaterialRequest *q = r->msg->replace_material;
    lms_material m;
    material_state s;
    char why[RULE_MSG_MAX];
    if (load_material(r, q->material_id, &m, &s) < 0 ||
        req_check_course(r, m.course, COURSE_INSTRUCTOR, "replace its materials") < 0 ||
        req_verdict_on(r, rule_material_replace(s.deleted, why, sizeof why), why,
                       "material %" PRIu64, m.id) < 0 ||
        (q->title[0] && req_check_text(r, &RULE_MATERIAL_TITLE, q->title) < 0) ||
        req_check_upload(r, q->file_name, q->data.len) < 0)
        return NEXT_RESPOND;
    return NEXT_WORK; /* hash the file off the storage thread */
}

static next_step replace_material_work(req *r)
{
    const Lms__ReplaceMaterialRequest *q = r->msg->replace_material;
    Lms__CmdReplaceMaterial *c = req_alloc(r, sizeof *c);
    lms__cmd_replace_material__init(c);
    c->material_id = q->material_id;
    c->title = q->title;
    c->file_name = q->file_name;
    c->data = q->data;
    c->sha256 = req_sha256(r, q->data);
    if (req_store_body(r, c->data, c->sha256) < 0)
        return NEXT_RESPOND;
    r->cmd.body_case = LMS__COMMAND__BODY_REPLACE_MATERIAL;
    r->cmd.replace_material = c;
    return NEXT_PROPOSE;
}

void req_answer_material(req *r, uint64_t id)
{
    lms_material m;
    material_state s;
    lms_err err = {0};
    int rc = req_ops(r)->material_get(req_st(r), id, 0, &m, &err);
    if (rc == LMS_OK)
        rc = material_state_get(req_ops(r), req_st(r), id, &s, &err);
    if (req_read_back(r, rc, &err, "material", id) < 0)
        return;
    r->resp.body_case = LMS__RESPONSE__BODY_MATERIAL;
    r->resp.material = pb_material(r, &m);
    r->resp.material->version = s.version;
}

static void replace_material_applied(req *r) { req_answer_material(r, r->res.id); }

static next_step delete_material_prepare(req *r)
{
    uint64_t id = r->msg->delete_material->material_id;
    lms_material m;
    material_state s;
    if (load_material(r, id, &m, &s) < 0 ||
        req_check_course(r, m.course, COURSE_INSTRUCTOR, "delete its materials") < 0)
        return NEXT_RESPOND;
    Lms__CmdDeleteMaterial *c = req_alloc(r, sizeof *c);
    lms__cmd_delete_material__init(c);
    c->material_id = id;
    r->cmd.body_case = LMS__COMMAND__BODY_DELETE_MATERIAL;
    r->cmd.delete_material = c;
    return NEXT_PROPOSE;
}

static Lms__MaterialVersion *pb_version(req *r, const material_version *v)
{
    Lms__MaterialVersion *m = req_alloc(r, sizeof *m);
    lms__material_version__init(m);
    m->version = v->version;
    m->title = req_strdup(r, v->title);
    m->file_name = req_strdup(r, v->file_name);
    m->size = v->size;
    m->sha256.len = LMS_SHA256_LEN;
    m->sha256.data = req_memdup(r, v->sha256, LMS_SHA256_LEN);
    m->uploaded_by = req_strdup(r, v->uploaded_by);
    m->uploaded = v->uploaded;
    return m;
}

typedef struct version_sink {
    req *r;
    ptr_vec *out;
} version_sink;

static int keep_version(void *arg, const material_version *v)
{
    version_sink *k = arg;
    ptr_vec_push(k->r, k->out, pb_version(k->r, v));
    return 0;
}

static next_step material_history_prepare(req *r)
{
    uint64_t id = r->msg->material_history->material_id;
    lms_material m;
    material_state s;
    lms_err err = {0};
    ptr_vec pv = {0};
    version_sink sink = {r, &pv};
    if (read_material(r, id, &m, &s, "read its materials' history") < 0)
        return NEXT_RESPOND;
    if (s.version > 1 &&
        material_version_list(req_ops(r), req_st(r), id, keep_version, &sink, &err) !=
            LMS_OK)
        return req_storage_error(r, &err);
    if (pv.n == 0) { /* never replaced: the row is version 1 */
        material_version v;
        material_version_of(&m, 1, &v);
        keep_version(&sink, &v);
    }
    Lms__MaterialHistoryResponse *h = req_alloc(r, sizeof *h);
    lms__material_history_response__init(h);
    h->material_id = id;
    h->course = req_strdup(r, m.course);
    h->n_versions = pv.n;
    h->versions = (Lms__MaterialVersion **)pv.v;
    h->deleted = s.deleted != 0;
    h->deleted_by = req_strdup(r, s.deleted_by);
    h->deleted_at = s.deleted_at;
    r->resp.body_case = LMS__RESPONSE__BODY_MATERIAL_HISTORY;
    r->resp.material_history = h;
    return NEXT_RESPOND;
}

/* download ID [--version N]: the row holds the latest version; an earlier
 * one is read from its record (materials.h), its file from the store. */
static next_step download_material_prepare(req *r)
{
    const Lms__DownloadMaterialRequest *q = r->msg->download_material;
    lms_material x;
    material_state s;
    char why[RULE_MSG_MAX];
    if (read_material(r, q->material_id, &x, &s, "download its materials") < 0 ||
        req_verdict_on(r, rule_material_version(q->version, s.version, why, sizeof why),
                       why, "material %" PRIu64, x.id) < 0)
        return NEXT_RESPOND;
    if (q->version && q->version != s.version) {
        material_version v;
        lms_err err = {0};
        int rc = material_version_get(req_ops(r), req_st(r), x.id, q->version, &v, &err);
        if (rc != LMS_OK) /* a replaced material has a record of every version */
            return req_storage_error(r, &err);
        snprintf(x.title, sizeof x.title, "%s", v.title);
        snprintf(x.file_name, sizeof x.file_name, "%s", v.file_name);
        snprintf(x.uploaded_by, sizeof x.uploaded_by, "%s", v.uploaded_by);
        x.size = v.size;
        x.created = v.uploaded;
        memcpy(x.sha256, v.sha256, LMS_SHA256_LEN);
    }
    uint8_t *body = req_file_body(r, x.sha256, x.size);
    if (!body)
        return NEXT_RESPOND;
    Lms__Material *m = pb_material(r, &x);
    m->version = q->version ? q->version : s.version;
    m->data.len = x.size;
    m->data.data = body;
    r->resp.body_case = LMS__RESPONSE__BODY_MATERIAL;
    r->resp.material = m;
    return NEXT_RESPOND;
}

int req_keep_shown_materials(req *r, ptr_vec *materials)
{
    size_t kept = 0;
    for (size_t i = 0; i < materials->n; i++) {
        Lms__Material *m = materials->v[i];
        material_state s;
        lms_err err = {0};
        int shown;
        if (material_shown(req_ops(r), req_st(r), m->id, 0, &shown, &s, &err) != LMS_OK)
            return req_storage_error(r, &err), -1;
        m->version = s.version;
        if (shown)
            materials->v[kept++] = m;
    }
    materials->n = kept;
    return 0;
}

/* ---- unenrolment ------------------------------------------------------ */

static next_step unenroll_prepare(req *r)
{
    Lms__UnenrollRequest *q = r->msg->unenroll;
    lms_user u;
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    int role = LMS_ROLE_NONE;
    if (req_check_course(r, q->course, COURSE_EXISTS, NULL) < 0)
        return NEXT_RESPOND;
    int rc = strlen(q->user) <= LMS_NAME_MAX
                 ? req_ops(r)->user_get(req_st(r), q->user, &u, &err)
                 : LMS_NOT_FOUND;
    if (rc == LMS_NOT_FOUND)
        return req_verdict(r, rule_missing("user", q->user, why, sizeof why), why),
               NEXT_RESPOND;
    if (rc != LMS_OK ||
        req_ops(r)->enrolment_get(req_st(r), q->course, q->user, &role, &err) != LMS_OK)
        return req_storage_error(r, &err);
    if (req_verdict_on(r, rule_unenroll(q->user, role, why, sizeof why), why, "course %s",
                       q->course) < 0)
        return NEXT_RESPOND;
    Lms__CmdUnenroll *c = req_alloc(r, sizeof *c);
    lms__cmd_unenroll__init(c);
    c->course = q->course;
    c->user = q->user;
    r->cmd.body_case = LMS__COMMAND__BODY_UNENROLL;
    r->cmd.unenroll = c;
    return NEXT_PROPOSE;
}

typedef struct left_sink {
    req *r;
    ptr_vec *names;
    int role; /* LMS_ROLE_NONE: whatever role they had */
} left_sink;

static int keep_left(void *arg, const char *user, const unenrolment *u)
{
    left_sink *k = arg;
    if (k->role == LMS_ROLE_NONE || u->role == k->role)
        ptr_vec_push(k->r, k->names, req_strdup(k->r, user));
    return 0;
}

int req_unenrolled(req *r, const char *course, int role, ptr_vec *names)
{
    left_sink sink = {r, names, role};
    lms_err err = {0};
    if (unenrolment_list(req_ops(r), req_st(r), course, keep_left, &sink, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    return 0;
}

/* Is name one of names? */
static int listed(const ptr_vec *names, const char *name)
{
    for (size_t i = 0; i < names->n; i++)
        if (strcmp(names->v[i], name) == 0)
            return 1;
    return 0;
}

static void *keep_left_code(req *r, const void *row, void *ctx)
{
    const lms_course *c = row;
    return c->my_role == LMS_ROLE_NONE ? req_strdup(r, c->code) : NULL;
}

/* The codes of the courses the caller left: their enrolment rows with no
 * role (course_list with a user lists them with my_role 0). */
static int left_courses(req *r, ptr_vec *codes)
{
    row_sink sink = {r, codes, keep_left_code, NULL};
    lms_err err = {0};
    if (req_ops(r)->course_list(req_st(r), r->who.name, row_sink_each, &sink, &err) !=
        LMS_OK)
        return req_storage_error(r, &err), -1;
    return 0;
}

static void *keep_assignment_id(req *r, const void *row, void *ctx)
{
    uint64_t *id = req_alloc(r, sizeof *id);
    *id = ((const lms_assignment *)row)->id;
    return id;
}

/* The ids (uint64_t *) of the assignments of the courses the caller left. */
static int left_assignments(req *r, ptr_vec *ids)
{
    ptr_vec codes = {0};
    row_sink sink = {r, ids, keep_assignment_id, NULL};
    lms_err err = {0};
    if (left_courses(r, &codes) < 0)
        return -1;
    for (size_t i = 0; i < codes.n; i++)
        if (req_ops(r)->assignment_list(req_st(r), codes.v[i], row_sink_each, &sink, &err) !=
            LMS_OK)
            return req_storage_error(r, &err), -1;
    return 0;
}

static int listed_id(const ptr_vec *ids, uint64_t id)
{
    for (size_t i = 0; i < ids->n; i++)
        if (*(const uint64_t *)ids->v[i] == id)
            return 1;
    return 0;
}

int req_drop_left_submissions(req *r, const char *course, ptr_vec *subs)
{
    ptr_vec names = {0}, ids = {0};
    if (course ? req_unenrolled(r, course, LMS_ROLE_NONE, &names) < 0
               : left_assignments(r, &ids) < 0)
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < subs->n; i++) {
        const Lms__Submission *x = subs->v[i];
        if (course ? !listed(&names, x->student) : !listed_id(&ids, x->assignment_id))
            subs->v[kept++] = subs->v[i];
    }
    subs->n = kept;
    return 0;
}

int req_drop_left_grades(req *r, const char *course, ptr_vec *grades)
{
    ptr_vec names = {0}, codes = {0};
    if (course ? req_unenrolled(r, course, LMS_ROLE_NONE, &names) < 0
               : left_courses(r, &codes) < 0)
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < grades->n; i++) {
        const Lms__GradeEntry *g = grades->v[i];
        if (course ? !listed(&names, g->student) : !listed(&codes, g->course))
            grades->v[kept++] = grades->v[i];
    }
    grades->n = kept;
    return 0;
}

int req_drop_left_queries(req *r, ptr_vec *queries)
{
    ptr_vec codes = {0};
    if (left_courses(r, &codes) < 0)
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < queries->n; i++)
        if (!listed(&codes, ((const Lms__Query *)queries->v[i])->course))
            queries->v[kept++] = queries->v[i];
    queries->n = kept;
    return 0;
}

/* ---- grade history ---------------------------------------------------- */

typedef struct history_sink {
    req *r;
    ptr_vec *out;
    const lms_submission *s;
    const lms_assignment *a;
} history_sink;

static int keep_entry(void *arg, uint64_t index, const lms_grade *g)
{
    history_sink *k = arg;
    ptr_vec_push(k->r, k->out, pb_grade(k->r, g, k->s, k->a));
    return 0;
}

static next_step grade_history_prepare(req *r)
{
    uint64_t id = r->msg->grade_history->submission_id;
    lms_submission s;
    lms_assignment a;
    lms_grade g;
    lms_err err = {0};
    ptr_vec pv = {0};
    history_sink sink = {r, &pv, &s, &a};
    if (req_load_submission(r, id, &s, &a, "see its grade history", 0) < 0)
        return NEXT_RESPOND;
    if (grade_history_list(req_ops(r), req_st(r), id, keep_entry, &sink, &err) != LMS_OK)
        return req_storage_error(r, &err);
    if (pv.n == 0) { /* graded before the history was kept, and not since */
        int rc = req_ops(r)->grade_get(req_st(r), id, &g, &err);
        if (rc == LMS_OK)
            keep_entry(&sink, 0, &g);
        else if (rc != LMS_NOT_FOUND)
            return req_storage_error(r, &err);
    }
    r->resp.body_case = LMS__RESPONSE__BODY_GRADE_HISTORY;
    r->resp.grade_history = pb_list(r, &lms__grade_history_response__descriptor, &pv);
    return NEXT_RESPOND;
}

#define B(x) LMS__REQUEST__BODY_##x
#define STUDENT_OR_INSTRUCTOR (ROLES_STUDENT | ROLES_INSTRUCTOR)
const handler handlers_corrections[] = {
    {.body = B(REPLACE_MATERIAL), .name = "replace-material", .roles = ROLES_INSTRUCTOR,
     .prepare = replace_material_prepare, .work = replace_material_work,
     .applied = replace_material_applied},
    {.body = B(DELETE_MATERIAL), .name = "delete-material", .roles = ROLES_INSTRUCTOR,
     .prepare = delete_material_prepare},
    {.body = B(MATERIAL_HISTORY), .name = "material-history", .roles = ROLES_ANY,
     .prepare = material_history_prepare},
    {.body = B(DOWNLOAD_MATERIAL), .name = "download", .roles = ROLES_ANY,
     .prepare = download_material_prepare},
    {.body = B(UNENROLL), .name = "unenroll", .roles = ROLES_ADMIN,
     .prepare = unenroll_prepare},
    {.body = B(GRADE_HISTORY), .name = "grade-history", .roles = STUDENT_OR_INSTRUCTOR,
     .prepare = grade_history_prepare},
    {.name = NULL}, /* the end */
};

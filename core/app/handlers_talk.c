/* SPDX-License-Identifier: MIT */
/*
 * handlers_talk.c: questions to the instructors (queries and their
 * replies) and course materials. A question to the tutor starts here too
 * (ask with tutor set) and goes on in handlers_tutor.c.
 *
 * A query is open to the student who asked it and to the instructors of
 * its course, until an instructor shares it with the course (share, or
 * reply with share): then every member of the course reads it, without
 * the student's name and with the instructors' replies only, and the
 * tutor learns from it (core/app/tutor_docs.c). Materials are hashed on the worker pool before proposing,
 * like submissions; downloads, new versions and deletions are
 * handlers_corrections.c's.
 */
#include "handlers.h"

#include <inttypes.h>
#include <string.h>

/* ---- queries ---------------------------------------------------------- */

static void *keep_reply(req *r, const void *row, void *ctx)
{
    return pb_reply(r, row);
}

int req_attach_replies(req *r, Lms__Query *m)
{
    ptr_vec pv = {0};
    row_sink sink = {r, &pv, keep_reply, NULL};
    lms_err err = {0};
    if (req_ops(r)->reply_list(req_st(r), m->id, row_sink_each, &sink, &err) !=
        LMS_OK)
        return req_storage_error(r, &err), -1;
    m->n_replies = pv.n;
    m->replies = (Lms__Reply **)pv.v;
    return 0;
}

/* Load query id: the caller must have asked it or teach its course
 * (rule_query_party), to verb ("reply to it"). */
static int load_query(req *r, uint64_t id, lms_query *q, const char *verb)
{
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    int rc = req_ops(r)->query_get(req_st(r), id, q, &err);
    if (req_got(r, rc, &err, "query", id) < 0)
        return -1;
    int role = LMS_ROLE_NONE;
    if (req_course_role(r, q->course, &role, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    return req_verdict_on(r, rule_query_party(q, r->who.name, role, verb, why, sizeof why),
                          why, "query %" PRIu64, id);
}

void req_answer_query(req *r, uint64_t id)
{
    lms_query q;
    lms_err err = {0};
    int rc = req_ops(r)->query_get(req_st(r), id, &q, &err);
    if (req_read_back(r, rc, &err, "query", id) < 0)
        return;
    Lms__Query *m = pb_query(r, &q);
    if (req_attach_replies(r, m) < 0)
        return;
    r->resp.body_case = LMS__RESPONSE__BODY_QUERY;
    r->resp.query = m;
}

/* A question to the course's instructors, or, with tutor set, to its
 * tutor (handlers_tutor.c). */
static next_step ask_prepare(req *r)
{
    const Lms__AskRequest *q = r->msg->ask;
    if (q->tutor)
        return tutor_ask_prepare(r);
    if (req_check_course(r, q->course, COURSE_STUDENT, "ask questions") < 0 ||
        req_check_text(r, &RULE_QUESTION, q->text) < 0 ||
        req_check_text(r, &RULE_QUESTION_TITLE, q->title) < 0)
        return NEXT_RESPOND;
    Lms__CmdAsk *c = req_alloc(r, sizeof *c);
    lms__cmd_ask__init(c);
    c->course = q->course;
    c->title = q->title;
    c->text = q->text;
    r->cmd.body_case = LMS__COMMAND__BODY_ASK;
    r->cmd.ask = c;
    return NEXT_PROPOSE;
}

static void ask_applied(req *r) { req_answer_query(r, r->res.id); }

typedef struct query_view {
    int all;   /* resolved ones too */
    int staff; /* the course's staff: not the exchanges with the tutor */
} query_view;

static void *keep_query(req *r, const void *row, void *ctx)
{
    const lms_query *q = row;
    const query_view *v = ctx;
    if (v->staff && q->kind == LMS_QUERY_TUTOR)
        return NULL; /* instructors read those with tutor-log */
    return v->all || !q->resolved ? pb_query(r, q) : NULL;
}

/* A shared question as the course sees it: nobody's in particular. */
static void *keep_shared(req *r, const void *row, void *ctx)
{
    const lms_query *q = row;
    if (q->kind != LMS_QUERY_INSTRUCTOR || !q->shared)
        return NULL;
    Lms__Query *m = pb_query(r, q);
    m->student = "";
    m->escalated_from = 0; /* the student's own exchange with the tutor */
    return m;
}

/* Keep only the replies of m's course's staff (as they are now):
 * what the student added to the thread stays between them. The same
 * replies make the tutor's document (tutor_docs.c). */
static int keep_instructor_replies(req *r, Lms__Query *m)
{
    size_t kept = 0;
    if (req_attach_replies(r, m) < 0)
        return -1;
    for (size_t i = 0; i < m->n_replies; i++) {
        int role = LMS_ROLE_NONE;
        lms_err err = {0};
        if (strlen(m->replies[i]->author) <= LMS_NAME_MAX &&
            req_ops(r)->enrolment_get(req_st(r), m->course, m->replies[i]->author,
                                      &role, &err) != LMS_OK)
            return req_storage_error(r, &err), -1;
        if (rule_is_staff(role))
            m->replies[kept++] = m->replies[i];
    }
    m->n_replies = kept;
    return 0;
}

/* The shared questions of the courses in codes (the course's FAQ), for
 * every member of the course alike. Ordered by course, then id. */
static next_step list_shared(req *r, const ptr_vec *codes)
{
    ptr_vec out = {0};
    row_sink sink = {r, &out, keep_shared, NULL};
    lms_err err = {0};
    for (size_t i = 0; i < codes->n; i++)
        if (req_ops(r)->query_list(req_st(r), codes->v[i], NULL, row_sink_each, &sink,
                                   &err) != LMS_OK)
            return req_storage_error(r, &err);
    for (size_t i = 0; i < out.n; i++)
        if (keep_instructor_replies(r, out.v[i]) < 0)
            return NEXT_RESPOND;
    r->resp.body_case = LMS__RESPONSE__BODY_QUERIES;
    r->resp.queries = pb_list(r, &lms__queries_response__descriptor, &out);
    return NEXT_RESPOND;
}

/* Students: their own queries, resolved or not, to the instructors and to
 * the tutor, in one course they take or all.
 * Staff (instructors, and TAs of the course given): the questions to them
 * of the courses they teach or assist in (or the one given), unresolved
 * unless `all`. Ordered by course, then id.
 * With `shared`: the course's FAQ (list_shared), for any member. */
static next_step list_queries_prepare(req *r)
{
    const Lms__ListQueriesRequest *q = r->msg->list_queries;
    int staff = r->who.role != LMS_ROLE_STUDENT;
    ptr_vec codes = {0}, out = {0};
    query_view view = {0};
    row_sink sink = {r, &out, keep_query, &view};
    lms_err err = {0};
    if (q->course[0]) {
        if (q->shared ? req_check_course(r, q->course, COURSE_MEMBER,
                                         "read its shared questions") < 0
                      : req_course_part(r, q->course, "list its questions", &staff) < 0)
            return NEXT_RESPOND;
        ptr_vec_push(r, &codes, q->course);
    } else if (q->shared) {
        if (req_my_courses(r, COURSE_MEMBER, &codes) < 0)
            return NEXT_RESPOND;
    } else if (!staff) {
        ptr_vec_push(r, &codes, NULL); /* any course */
    } else if (req_my_courses(r, COURSE_STAFF, &codes) < 0) {
        return NEXT_RESPOND;
    }
    if (q->shared)
        return list_shared(r, &codes);
    view.staff = staff;
    view.all = !staff || q->all;
    for (size_t i = 0; i < codes.n; i++)
        if (req_ops(r)->query_list(req_st(r), codes.v[i],
                                   staff ? NULL : r->who.name, row_sink_each,
                                   &sink, &err) != LMS_OK)
            return req_storage_error(r, &err);
    /* a student's own, of any course: not of those they left (unenroll) */
    if (!staff && !q->course[0] && req_drop_left_queries(r, &out) < 0)
        return NEXT_RESPOND;
    for (size_t i = 0; i < out.n; i++)
        if (req_attach_replies(r, out.v[i]) < 0)
            return NEXT_RESPOND;
    r->resp.body_case = LMS__RESPONSE__BODY_QUERIES;
    r->resp.queries = pb_list(r, &lms__queries_response__descriptor, &out);
    return NEXT_RESPOND;
}

static next_step reply_prepare(req *r)
{
    const Lms__ReplyRequest *q = r->msg->reply;
    lms_query x;
    char why[RULE_MSG_MAX];
    if (load_query(r, q->query_id, &x, "reply to it") < 0 ||
        req_verdict_on(r, rule_reply(&x, why, sizeof why), why, "query %" PRIu64, x.id) < 0 ||
        req_check_text(r, &RULE_REPLY, q->text) < 0)
        return NEXT_RESPOND;
    /* the student who asked may reply, not share */
    if (q->share && req_check_course(r, x.course, COURSE_STAFF, "share its questions") < 0)
        return NEXT_RESPOND;
    Lms__CmdReply *c = req_alloc(r, sizeof *c);
    lms__cmd_reply__init(c);
    c->query_id = q->query_id;
    c->text = q->text;
    c->share = q->share;
    r->cmd.body_case = LMS__COMMAND__BODY_REPLY;
    r->cmd.reply = c;
    return NEXT_PROPOSE;
}

/* res.id is the new reply's; answer with its query. */
static void reply_applied(req *r) { req_answer_query(r, r->msg->reply->query_id); }

static next_step resolve_prepare(req *r)
{
    uint64_t id = r->msg->resolve->query_id;
    lms_query x;
    if (load_query(r, id, &x, "resolve it") < 0)
        return NEXT_RESPOND;
    Lms__CmdResolve *c = req_alloc(r, sizeof *c);
    lms__cmd_resolve__init(c);
    c->query_id = id;
    r->cmd.body_case = LMS__COMMAND__BODY_RESOLVE;
    r->cmd.resolve = c;
    return NEXT_PROPOSE;
}

static void resolve_applied(req *r) { req_answer_query(r, r->msg->resolve->query_id); }

/* Share a question with its course, or withdraw it (ShareRequest): the
 * early checks of apply_share (rule_share). */
static next_step share_prepare(req *r)
{
    const Lms__ShareRequest *q = r->msg->share;
    lms_query x;
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    int rc = req_ops(r)->query_get(req_st(r), q->query_id, &x, &err);
    if (req_got(r, rc, &err, "query", q->query_id) < 0 ||
        req_check_course(r, x.course, COURSE_STAFF,
                         q->shared ? "share its questions" : "withdraw its shared questions") < 0)
        return NEXT_RESPOND;
    int replied = 0;
    if (x.kind == LMS_QUERY_INSTRUCTOR && q->shared && !x.shared &&
        sm_instructor_replied(req_ops(r), req_st(r), x.course, x.id, &replied, &err) != LMS_OK)
        return req_storage_error(r, &err);
    if (req_verdict_on(r, rule_share(&x, q->shared, replied, why, sizeof why), why,
                       "query %" PRIu64, x.id) < 0)
        return NEXT_RESPOND;
    Lms__CmdShare *c = req_alloc(r, sizeof *c);
    lms__cmd_share__init(c);
    c->query_id = q->query_id;
    c->shared = q->shared;
    r->cmd.body_case = LMS__COMMAND__BODY_SHARE;
    r->cmd.share = c;
    return NEXT_PROPOSE;
}

static void share_applied(req *r) { req_answer_query(r, r->msg->share->query_id); }

/* ---- materials -------------------------------------------------------- */

static next_step upload_material_prepare(req *r)
{
    const Lms__UploadMaterialRequest *q = r->msg->upload_material;
    if (req_check_course(r, q->course, COURSE_INSTRUCTOR, "upload materials") < 0 ||
        req_check_text(r, &RULE_MATERIAL_TITLE, q->title) < 0 ||
        req_check_upload(r, q->file_name, q->data.len) < 0)
        return NEXT_RESPOND;
    return NEXT_WORK; /* hash the file off the storage thread */
}

static next_step upload_material_work(req *r)
{
    const Lms__UploadMaterialRequest *q = r->msg->upload_material;
    Lms__CmdUploadMaterial *c = req_alloc(r, sizeof *c);
    lms__cmd_upload_material__init(c);
    c->course = q->course;
    c->title = q->title;
    c->file_name = q->file_name;
    c->data = q->data;
    c->sha256 = req_sha256(r, q->data);
    if (req_store_body(r, c->data, c->sha256) < 0)
        return NEXT_RESPOND;
    r->cmd.body_case = LMS__COMMAND__BODY_UPLOAD_MATERIAL;
    r->cmd.upload_material = c;
    return NEXT_PROPOSE;
}

static void upload_material_applied(req *r) { req_answer_material(r, r->res.id); }

static void *keep_material(req *r, const void *row, void *ctx)
{
    return pb_material(r, row);
}

static next_step list_materials_prepare(req *r)
{
    ptr_vec pv = {0};
    row_sink sink = {r, &pv, keep_material, NULL};
    if (req_list_visible(r, r->msg->list_materials->course,
                         req_ops(r)->material_list, &sink, "list its materials") < 0 ||
        req_keep_shown_materials(r, &pv) < 0)
        return NEXT_RESPOND;
    r->resp.body_case = LMS__RESPONSE__BODY_MATERIALS;
    r->resp.materials = pb_list(r, &lms__materials_response__descriptor, &pv);
    return NEXT_RESPOND;
}

#define B(x) LMS__REQUEST__BODY_##x
#define STUDENT_OR_INSTRUCTOR (ROLES_STUDENT | ROLES_INSTRUCTOR)
const handler handlers_talk[] = {
    {.body = B(ASK), .name = "ask", .roles = ROLES_STUDENT, .prepare = ask_prepare,
     .applied = ask_applied, .answered = tutor_ask_answered},
    {.body = B(LIST_QUERIES), .name = "queries", .roles = STUDENT_OR_INSTRUCTOR,
     .prepare = list_queries_prepare},
    {.body = B(REPLY), .name = "reply", .roles = STUDENT_OR_INSTRUCTOR,
     .prepare = reply_prepare, .applied = reply_applied},
    {.body = B(RESOLVE), .name = "resolve", .roles = STUDENT_OR_INSTRUCTOR,
     .prepare = resolve_prepare, .applied = resolve_applied},
    {.body = B(SHARE), .name = "share", .roles = STUDENT_OR_INSTRUCTOR,
     .prepare = share_prepare, .applied = share_applied},
    {.body = B(UPLOAD_MATERIAL), .name = "upload", .roles = ROLES_INSTRUCTOR,
     .prepare = upload_material_prepare, .work = upload_material_work,
     .applied = upload_material_applied},
    {.body = B(LIST_MATERIALS), .name = "materials", .roles = ROLES_ANY,
     .prepare = list_materials_prepare},
    {.name = NULL}, /* the end */
};

/* SPDX-License-Identifier: MIT */
/*
 * tutor_docs.c: reading the tutor's course documents out of storage (see
 * tutor_docs.h). Runs on the storage thread: at start-up and after a
 * reload, for every course (tutor_docs_all), and after each applied
 * command, for what it changed (tutor_docs_applied).
 *
 * Storage hands out rows that live only until the next call, so each list
 * walk first copies what it needs (ids, names, texts) and the documents
 * are built after the walk. Everything is copied into the documents, which
 * then travel to the loop and the tutor thread on their own.
 */
#include "tutor_docs.h"

#include "filestore.h"
#include "materials.h"

#include "lms_assert.h"
#include "log.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* A growable array of malloc'd strings (or of ids cast to pointers). */
typedef struct strv {
    char **v;
    size_t n, cap;
    int failed;
} strv;

static void strv_push(strv *s, char *p)
{
    if (!p) {
        s->failed = 1;
        return;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            free(p);
            s->failed = 1;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = p;
}

static void strv_free(strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int oom(lms_err *err)
{
    return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                       "out of memory reading the tutor's documents");
}

/* ---- the list of documents ------------------------------------------- */

static void item_free(tutor_doc_item *it)
{
    free(it->course);
    free(it->title);
    free(it->question);
    free(it->text);
    free(it);
}

void tutor_doc_list_free(tutor_doc_list *l)
{
    while (l->head) {
        tutor_doc_item *next = l->head->next;
        item_free(l->head);
        l->head = next;
    }
    l->tail = NULL;
    l->n = 0;
}

/* Append a document; text (len bytes) is copied, question may be NULL. */
static int add_doc(tutor_doc_list *l, const char *kind, uint64_t id,
                   const char *course, const char *title, const char *question,
                   const char *text, size_t len, lms_err *err)
{
    tutor_doc_item *it = calloc(1, sizeof *it);
    if (!it)
        return oom(err);
    it->course = strdup(course);
    it->title = strdup(title);
    it->question = question ? strdup(question) : NULL;
    it->text = malloc(len + 1);
    if (!it->course || !it->title || (question && !it->question) || !it->text) {
        item_free(it);
        return oom(err);
    }
    memcpy(it->text, text, len);
    it->text[len] = '\0';
    it->doc = (lms_tutor_doc){.course = it->course, .kind = kind, .id = id,
                              .title = it->title, .question = it->question,
                              .text = it->text, .len = len};
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    l->n++;
    return LMS_OK;
}

/* ---- materials ----------------------------------------------------------- */

static int is_text(const void *data, size_t len)
{
    return memchr(data, '\0', len) == NULL && utf8_valid(data, len);
}

/* Material id, if its file is text and it is shown to the course's
 * students (not deleted, not a row that keeps an old version of another:
 * materials.h). The row holds the latest version. withdraw: the tutor may
 * know the material already (a replace, a delete), so when it is no
 * longer a document, learn the empty document of its id (lms_tutor_doc:
 * len 0), which withdraws it. */
static int add_material(const sm *m, uint64_t id, int withdraw, tutor_doc_list *out,
                        lms_err *err)
{
    lms_material x;
    int shown;
    int rc = m->ops->material_get(m->st, id, 0, &x, err);
    if (rc == LMS_NOT_FOUND)
        return LMS_OK;
    if (rc == LMS_OK)
        rc = material_shown(m->ops, m->st, id, 0, &shown, NULL, err);
    if (rc != LMS_OK)
        return rc;
    if (!shown)
        return withdraw ? add_doc(out, "material", id, x.course, x.title, NULL, "", 0, err)
                        : LMS_OK;
    char *body = malloc(x.size ? (size_t)x.size : 1);
    if (!body)
        return oom(err);
    rc = filestore_get(m->files, x.sha256, x.size, body, err);
    int text = rc == LMS_OK && is_text(body, x.size);
    if (rc == LMS_NOT_FOUND || rc == LMS_DATA_LOSS) {
        /* one body missing costs the tutor that document, not the course */
        log_warn("tutor: material %llu left out: %s", (unsigned long long)id,
                 err->msg);
        lms_err_clear(err);
        rc = LMS_OK;
    }
    if (rc == LMS_OK && (text || withdraw))
        rc = add_doc(out, "material", id, x.course, x.title, NULL, body,
                     text ? x.size : 0, err);
    free(body);
    return rc;
}

static int keep_material_id(void *arg, const void *row)
{
    const lms_material *x = row;
    strv_push(arg, (char *)(uintptr_t)x->id);
    return 0;
}

static int add_materials(const sm *m, const char *course, tutor_doc_list *out,
                         lms_err *err)
{
    strv ids = {0};
    int rc = m->ops->material_list(m->st, course, keep_material_id, &ids, err);
    if (rc == LMS_OK && ids.failed)
        rc = oom(err);
    for (size_t i = 0; rc == LMS_OK && i < ids.n; i++)
        rc = add_material(m, (uint64_t)(uintptr_t)ids.v[i], 0, out, err);
    free(ids.v); /* ids, not strings */
    return rc;
}

/* ---- the instructors' answers ------------------------------------------ */

static int keep_user(void *arg, const void *row)
{
    strv_push(arg, strdup(((const lms_enrolment *)row)->user));
    return 0;
}

/* The names of course's staff: its instructors and teaching assistants. */
static int instructors_of(const sm *m, const char *course, strv *out, lms_err *err)
{
    int rc = m->ops->enrolment_list(m->st, course, LMS_ROLE_INSTRUCTOR, keep_user,
                                    out, err);
    if (rc == LMS_OK && !out->failed)
        rc = m->ops->enrolment_list(m->st, course, LMS_ROLE_TA, keep_user, out, err);
    return rc == LMS_OK && out->failed ? oom(err) : rc;
}

static int in_strv(const strv *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return 1;
    return 0;
}

/* The instructors' replies to one question, joined by blank lines. */
typedef struct reply_join {
    const strv *instructors;
    char *text;
    size_t len;
    int failed;
} reply_join;

static int join_reply(void *arg, const void *row)
{
    reply_join *j = arg;
    const lms_reply *x = row;
    if (j->failed || !in_strv(j->instructors, x->author))
        return 0;
    size_t n = strlen(x->text), sep = j->len ? 2 : 0;
    char *p = realloc(j->text, j->len + sep + n + 1);
    if (!p) {
        j->failed = 1;
        return 1;
    }
    memcpy(p + j->len, "\n\n", sep);
    memcpy(p + j->len + sep, x->text, n + 1);
    j->text = p;
    j->len += sep + n;
    return 0;
}

/* The answer document of query q (a question to the instructors), if an
 * instructor has replied to it. q->text must still be valid. */
static int add_answer(const sm *m, const lms_query *q, const strv *instructors,
                      tutor_doc_list *out, lms_err *err)
{
    reply_join j = {.instructors = instructors};
    char *question = strdup(q->text);
    if (!question)
        return oom(err);
    int rc = m->ops->reply_list(m->st, q->id, join_reply, &j, err);
    if (rc == LMS_OK && j.failed)
        rc = oom(err);
    if (rc == LMS_OK && j.len)
        rc = add_doc(out, "reply", q->id, q->course, q->title, question, j.text,
                     j.len, err);
    free(question);
    free(j.text);
    return rc;
}

/* Questions to the instructors of one course, copied: id, title, text. */
typedef struct query_copy {
    lms_query q;
    char *text;
} query_copy;

/* Only questions an instructor shared with the course: a question to the
 * instructors is private to its student and them until then. */
static int keep_question(void *arg, const void *row)
{
    const lms_query *q = row;
    if (q->kind != LMS_QUERY_INSTRUCTOR || !q->shared)
        return 0;
    query_copy *c = malloc(sizeof *c);
    if (c) {
        c->q = *q;
        c->text = strdup(q->text);
        c->q.text = c->text;
        if (!c->text) {
            free(c);
            c = NULL;
        }
    }
    strv_push(arg, (char *)c);
    return 0;
}

static void free_questions(strv *qs)
{
    for (size_t i = 0; i < qs->n; i++)
        free(((query_copy *)qs->v[i])->text);
    strv_free(qs);
}

static int add_answers(const sm *m, const char *course, const strv *instructors,
                       tutor_doc_list *out, lms_err *err)
{
    strv qs = {0};
    int rc = m->ops->query_list(m->st, course, NULL, keep_question, &qs, err);
    if (rc == LMS_OK && qs.failed)
        rc = oom(err);
    for (size_t i = 0; rc == LMS_OK && i < qs.n; i++)
        rc = add_answer(m, &((query_copy *)qs.v[i])->q, instructors, out, err);
    free_questions(&qs);
    return rc;
}

/* ---- entry points ---------------------------------------------------------- */

static int keep_code(void *arg, const void *row)
{
    strv_push(arg, strdup(((const lms_course *)row)->code));
    return 0;
}

static int add_course(const sm *m, const char *course, tutor_doc_list *out,
                      lms_err *err)
{
    strv instructors = {0};
    int rc = add_materials(m, course, out, err);
    if (rc == LMS_OK)
        rc = instructors_of(m, course, &instructors, err);
    if (rc == LMS_OK)
        rc = add_answers(m, course, &instructors, out, err);
    strv_free(&instructors);
    return rc;
}

int tutor_docs_all(const sm *m, tutor_doc_list *out, lms_err *err)
{
    strv codes = {0};
    int rc = m->ops->course_list(m->st, NULL, keep_code, &codes, err);
    if (rc == LMS_OK && codes.failed)
        rc = oom(err);
    for (size_t i = 0; rc == LMS_OK && i < codes.n; i++)
        rc = add_course(m, codes.v[i], out, err);
    strv_free(&codes);
    return rc;
}

/* The answer document of shared question id again, if actor is one of
 * its course's instructors (NULL: whoever). */
static int answer_again(const sm *m, uint64_t id, const char *actor,
                        tutor_doc_list *out, lms_err *err)
{
    lms_query q;
    strv instructors = {0};
    char course[LMS_NAME_MAX + 1];
    int rc = m->ops->query_get(m->st, id, &q, err);
    if (rc != LMS_OK || q.kind != LMS_QUERY_INSTRUCTOR || !q.shared)
        return rc == LMS_NOT_FOUND ? LMS_OK : rc;
    memcpy(course, q.course, sizeof course);
    rc = instructors_of(m, course, &instructors, err);
    if (rc == LMS_OK && (!actor || in_strv(&instructors, actor)) &&
        (rc = m->ops->query_get(m->st, id, &q, err)) == LMS_OK) /* q.text again */
        rc = add_answer(m, &q, &instructors, out, err);
    strv_free(&instructors);
    return rc;
}

/* After an instructor's reply to a shared question (or a reply that
 * shared it): its answer document again. A private question has none. */
static int reply_applied(const sm *m, const Lms__Command *cmd, tutor_doc_list *out,
                         lms_err *err)
{
    return answer_again(m, cmd->reply->query_id, cmd->actor, out, err);
}

/* After a share: the answer document. After an unshare: the empty
 * document of that kind and id, which withdraws it from every tutor
 * (lms_tutor_doc: len 0), on every node that applies the command. */
static int share_applied(const sm *m, const Lms__Command *cmd, tutor_doc_list *out,
                         lms_err *err)
{
    lms_query q;
    uint64_t id = cmd->share->query_id;
    if (cmd->share->shared)
        return answer_again(m, id, NULL, out, err);
    int rc = m->ops->query_get(m->st, id, &q, err);
    if (rc != LMS_OK)
        return rc == LMS_NOT_FOUND ? LMS_OK : rc;
    LMS_ASSERT(!q.shared); /* the command applied, with result OK */
    return add_doc(out, "reply", id, q.course, q.title, NULL, "", 0, err);
}

int tutor_docs_applied(const sm *m, const Lms__Command *cmd,
                       const sm_result *res, tutor_doc_list *out, lms_err *err)
{
    if (res->status != LMS_OK || res->deduplicated)
        return LMS_OK;
    switch (cmd->body_case) {
    case LMS__COMMAND__BODY_UPLOAD_MATERIAL:
        return add_material(m, res->id, 0, out, err);
    case LMS__COMMAND__BODY_REPLACE_MATERIAL: /* the row holds the new version */
    case LMS__COMMAND__BODY_DELETE_MATERIAL:
        return add_material(m, res->id, 1, out, err);
    case LMS__COMMAND__BODY_REPLY:
        return reply_applied(m, cmd, out, err);
    case LMS__COMMAND__BODY_SHARE:
        return share_applied(m, cmd, out, err);
    default:
        return LMS_OK;
    }
}

/* SPDX-License-Identifier: MIT */
/*
 * handlers.c: the table of request handlers (merged from the handler
 * groups in handlers_*.c) and the helpers they share to turn storage rows
 * into protocol messages.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

static const handler *const groups[] = {handlers_account, handlers_work,
                                        handlers_talk, handlers_tutor,
                                        handlers_cluster, handlers_backup,
                                        handlers_grading, handlers_corrections,
                                        handlers_assignment, handlers_inbox};

const handler *handler_find(Lms__Request__BodyCase body)
{
    if (body == LMS__REQUEST__BODY__NOT_SET)
        return NULL;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (const handler *h = groups[g]; h->name; h++)
            if (h->body == body)
                return h;
    return NULL;
}

void ptr_vec_push(req *r, ptr_vec *pv, void *p)
{
    if (pv->n == pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 16;
        void **v = req_alloc(r, cap * sizeof *v);
        if (pv->n)
            memcpy(v, pv->v, pv->n * sizeof *v);
        pv->v = v;
        pv->cap = cap;
    }
    pv->v[pv->n++] = p;
}

static ProtobufCBinaryData bytes(req *r, const void *p, size_t n)
{
    ProtobufCBinaryData b = {n, n ? req_memdup(r, p, n) : NULL};
    return b;
}

Lms__User *pb_user(req *r, const lms_user *u)
{
    Lms__User *m = req_alloc(r, sizeof *m);
    lms__user__init(m);
    m->name = req_strdup(r, u->name);
    m->full_name = req_strdup(r, u->full_name);
    m->role = (Lms__Role)u->role;
    m->created = u->created;
    return m;
}

Lms__Course *pb_course(req *r, const lms_course *c)
{
    Lms__Course *m = req_alloc(r, sizeof *m);
    lms__course__init(m);
    m->code = req_strdup(r, c->code);
    m->title = req_strdup(r, c->title);
    m->my_role = (Lms__Role)c->my_role;
    m->created = c->created;
    return m;
}

Lms__Assignment *pb_assignment(req *r, const lms_assignment *a)
{
    Lms__Assignment *m = req_alloc(r, sizeof *m);
    lms__assignment__init(m);
    m->id = a->id;
    m->course = req_strdup(r, a->course);
    m->title = req_strdup(r, a->title);
    m->description = req_strdup(r, a->description);
    m->due = a->due;
    m->cutoff = a->cutoff;
    m->max_points = a->max_points;
    m->max_attempts = a->max_attempts;
    m->max_size = a->max_size;
    m->hold_grades = a->hold_grades != 0;
    m->released = a->released != 0;
    m->created = a->created;
    m->my_due = a->due;
    m->my_cutoff = a->cutoff;
    return m;
}

/* The file itself is not copied: callers that send data set m->data to
 * the storage buffer, which stays valid until the answer is packed. */
Lms__Submission *pb_submission(req *r, const lms_submission *s)
{
    Lms__Submission *m = req_alloc(r, sizeof *m);
    lms__submission__init(m);
    m->id = s->id;
    m->assignment_id = s->assignment_id;
    m->student = req_strdup(r, s->student);
    m->file_name = req_strdup(r, s->file_name);
    m->size = s->size;
    m->sha256 = bytes(r, s->sha256, LMS_SHA256_LEN);
    m->submitted = s->submitted;
    m->late = s->late != 0;
    m->attempt = s->attempt;
    m->graded = s->graded != 0;
    return m;
}

Lms__Query *pb_query(req *r, const lms_query *q)
{
    Lms__Query *m = req_alloc(r, sizeof *m);
    lms__query__init(m);
    m->id = q->id;
    m->course = req_strdup(r, q->course);
    m->student = req_strdup(r, q->student);
    m->title = req_strdup(r, q->title);
    m->text = req_strdup(r, q->text);
    m->created = q->created;
    m->resolved = q->resolved != 0;
    m->kind = q->kind == LMS_QUERY_TUTOR ? LMS__QUERY_KIND__TO_TUTOR
                                         : LMS__QUERY_KIND__TO_INSTRUCTOR;
    m->escalated_from = q->escalated_from;
    m->shared = q->shared != 0;
    if (q->kind == LMS_QUERY_TUTOR) {
        Lms__TutorInfo *t = req_alloc(r, sizeof *t);
        lms__tutor_info__init(t);
        t->provider = req_strdup(r, q->provider);
        t->model = req_strdup(r, q->model);
        t->prompt_tokens = q->prompt_tokens;
        t->completion_tokens = q->completion_tokens;
        t->latency_ms = q->latency_ms;
        m->tutor = t;
    }
    return m;
}

Lms__Reply *pb_reply(req *r, const lms_reply *x)
{
    Lms__Reply *m = req_alloc(r, sizeof *m);
    lms__reply__init(m);
    m->id = x->id;
    m->author = req_strdup(r, x->author);
    m->text = req_strdup(r, x->text);
    m->created = x->created;
    return m;
}

Lms__Material *pb_material(req *r, const lms_material *x)
{
    Lms__Material *m = req_alloc(r, sizeof *m);
    lms__material__init(m);
    m->id = x->id;
    m->course = req_strdup(r, x->course);
    m->title = req_strdup(r, x->title);
    m->file_name = req_strdup(r, x->file_name);
    m->size = x->size;
    m->sha256 = bytes(r, x->sha256, LMS_SHA256_LEN);
    m->uploaded_by = req_strdup(r, x->uploaded_by);
    m->created = x->created;
    return m;
}

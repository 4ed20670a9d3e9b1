/* SPDX-License-Identifier: MIT */
/*
 * handlers_util.c: the early checks and list walks that the work and talk
 * handler groups share (contracts in handlers.h). Like the handlers, they
 * only reject early: sm_apply asks the same rules (rules.h) and decides.
 */
#include "fault.h"
#include "handlers.h"

#include "filestore.h"
#include "lms_assert.h"
#include "log.h"
#include "utf8.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int req_got(req *r, int rc, const lms_err *err, const char *what, uint64_t id)
{
    if (rc == LMS_OK)
        return 0;
    if (rc == LMS_NOT_FOUND) {
        char key[24], why[RULE_MSG_MAX];
        snprintf(key, sizeof key, "%" PRIu64, id);
        req_verdict(r, rule_missing(what, key, why, sizeof why), why);
    } else
        req_storage_error(r, err);
    return -1;
}

int req_read_back(req *r, int rc, const lms_err *err, const char *what,
                  uint64_t id)
{
    lms_err fault = {0};
    if (rc == LMS_OK && fault_read_back()) { /* a test build's hook (fault.h) */
        rc = lms_err_set(&fault, LMS_UNAVAILABLE, "fault hook: storage unreachable");
        err = &fault;
    }
    if (rc == LMS_OK)
        return 0;
    log_error("%s: applied, but cannot read back %s %" PRIu64 ": %s", r->h->name,
              what, id, rc == LMS_NOT_FOUND ? "not found" : err->msg);
    /* The change is stored; only its answer could not be read. INTERNAL
     * would make the CLI call a stored change refused. UNKNOWN makes the
     * client send the same write again (same client id and seq): the
     * cluster answers it from its record (answered_from_record) without
     * applying it twice, and reads it back again; a CLI that gives up says
     * to run the command again, which does the same. */
    req_fail(r, LMS_UNKNOWN,
             "stored, but %s %" PRIu64 " cannot be read back now (see the server log); "
             "run the same command again to see it",
             what, id);
    return -1;
}

int req_verdict(req *r, int st, const char *why)
{
    if (st == LMS_OK)
        return 0;
    req_fail(r, st, "%s", why);
    return -1;
}

int req_verdict_on(req *r, int st, const char *why, const char *fmt, ...)
{
    if (st == LMS_OK)
        return 0;
    char obj[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(obj, sizeof obj, fmt, ap);
    va_end(ap);
    req_fail(r, st, "%s: %s", obj, why);
    return -1;
}

int req_check_upload(req *r, const char *file_name, size_t len)
{
    char why[RULE_MSG_MAX];
    if (req_verdict(r, rule_file_name(file_name, why, sizeof why), why) < 0)
        return -1;
    return req_verdict(r, rule_file_size(len, req_limits(r)->max_upload_bytes, "this server",
                                         why, sizeof why),
                       why);
}

int req_check_text(req *r, const rule_field *f, const char *s)
{
    char why[RULE_MSG_MAX];
    return req_verdict(r, rule_text(f, s, why, sizeof why), why);
}

int req_check_course(req *r, char *course, enum course_need need, const char *verb)
{
    lms_course c;
    lms_err err = {0};
    char why[RULE_MSG_MAX];
    LMS_ASSERT(need == COURSE_EXISTS || verb != NULL);
    if (!course[0])
        return req_fail(r, LMS_INVALID_ARGUMENT, "give a course code"), -1;
    /* A longer code cannot exist (sm_course_find says so); never let
     * storage truncate it into the code of another course. */
    int rc = sm_course_find(req_ops(r), req_st(r), course, &c, &err);
    if (rc == LMS_NOT_FOUND)
        return req_verdict(r, rule_missing("course", course, why, sizeof why), why);
    if (rc != LMS_OK)
        return req_storage_error(r, &err), -1;
    /* The stored spelling from here on, for the lookups below, the
     * command and the answer: the two differ only in ASCII case, so they
     * have the same length. */
    LMS_ASSERT(strlen(c.code) == strlen(course));
    memcpy(course, c.code, strlen(c.code));
    if (need == COURSE_EXISTS)
        return 0;
    int role;
    if (req_course_role(r, course, &role, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    return req_verdict(r, rule_role((enum rule_need)need, r->who.role, role, course, verb,
                                    why, sizeof why),
                       why);
}

int req_course_part(req *r, char *course, const char *verb, int *staff)
{
    int role;
    lms_err err = {0};
    *staff = 0;
    if (req_check_course(r, course, COURSE_EXISTS, NULL) < 0)
        return -1;
    if (req_course_role(r, course, &role, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    *staff = rule_is_staff(role);
    if (*staff || role == LMS_ROLE_STUDENT)
        return 0;
    return req_check_course(r, course,
                            r->who.role == LMS_ROLE_STUDENT ? COURSE_STUDENT : COURSE_STAFF,
                            verb);
}

int row_sink_each(void *arg, const void *row)
{
    row_sink *s = arg;
    void *p = s->keep(s->r, row, s->ctx);
    if (p)
        ptr_vec_push(s->r, s->out, p);
    return 0;
}

/* A course of the caller's (who: their name) or of every course (who
 * NULL: rows with my_role 0) that need asks for. The caller's rows with
 * no role are courses they left (unenrolment.h): never theirs. */
typedef struct code_want {
    enum course_need need;
    const char *who;
} code_want;

static void *keep_code(req *r, const void *row, void *ctx)
{
    const lms_course *c = row;
    const code_want *w = ctx;
    if (w->who && c->my_role == LMS_ROLE_NONE)
        return NULL;
    if (w->need == COURSE_STAFF ? !rule_is_staff(c->my_role)
                                : w->need != COURSE_MEMBER && c->my_role != (int)w->need)
        return NULL;
    return req_strdup(r, c->code);
}

int req_my_courses(req *r, enum course_need need, ptr_vec *codes)
{
    lms_err err = {0};
    const char *who = need == COURSE_MEMBER && r->who.role == LMS_ROLE_ADMIN
                          ? NULL
                          : r->who.name;
    code_want want = {need, who};
    row_sink sink = {r, codes, keep_code, &want};
    if (req_ops(r)->course_list(req_st(r), who, row_sink_each, &sink, &err) !=
        LMS_OK)
        return req_storage_error(r, &err), -1;
    return 0;
}

int req_list_visible(req *r, char *course, course_list_fn list,
                     row_sink *sink, const char *verb)
{
    ptr_vec codes = {0};
    lms_err err = {0};
    if (course[0]) {
        if (req_check_course(r, course, COURSE_MEMBER, verb) < 0)
            return -1;
        ptr_vec_push(r, &codes, (void *)course);
    } else if (req_my_courses(r, COURSE_MEMBER, &codes) < 0) {
        return -1;
    }
    for (size_t i = 0; i < codes.n; i++)
        if (list(req_st(r), codes.v[i], row_sink_each, sink, &err) != LMS_OK)
            return req_storage_error(r, &err), -1;
    return 0;
}

void *pb_list(req *r, const ProtobufCMessageDescriptor *d, const ptr_vec *pv)
{
    const ProtobufCFieldDescriptor *f = &d->fields[0];
    if (d->n_fields != 1 || f->label != PROTOBUF_C_LABEL_REPEATED ||
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        abort(); /* a programming error: not a list response */
    ProtobufCMessage *m = req_alloc(r, d->sizeof_message);
    protobuf_c_message_init(d, m);
    *(size_t *)((char *)m + f->quantifier_offset) = pv->n;
    *(void ***)((char *)m + f->offset) = pv->v;
    return m;
}

ProtobufCBinaryData req_sha256(req *r, ProtobufCBinaryData data)
{
    ProtobufCBinaryData h = {LMS_SHA256_LEN, req_alloc(r, LMS_SHA256_LEN)};
    dispatch_sha256(data.data, data.len, h.data);
    return h;
}

int req_store_body(req *r, ProtobufCBinaryData data, ProtobufCBinaryData sha)
{
    lms_err err = {0};
    int rc = filestore_put(req_opts(r)->m->files, sha.data, data.data,
                           data.len, 0, &err);
    if (rc == LMS_OK)
        return 0;
    log_error("%s: storing the file: %s", r->h->name, err.msg);
    if (rc == LMS_RESOURCE_EXHAUSTED)
        req_fail(r, rc, "%s: the disk holding the files is full; nothing "
                 "was stored", r->h->name);
    else
        req_fail(r, LMS_UNKNOWN, "%s: the file could not be stored (see "
                 "the server log); nothing was stored", r->h->name);
    return -1;
}

uint8_t *req_file_body(req *r, const uint8_t sha[LMS_SHA256_LEN],
                       uint64_t size)
{
    lms_err err = {0};
    uint8_t *buf = req_alloc_try(r, (size_t)size);
    if (!buf) {
        log_warn("%s: no memory for a file of %llu bytes", r->h->name,
                 (unsigned long long)size);
        req_fail(r, LMS_RESOURCE_EXHAUSTED, "%s: the server is short of "
                 "memory for this file now; try again", r->h->name);
        return NULL;
    }
    if (filestore_get(req_opts(r)->m->files, sha, size, buf, &err) == LMS_OK)
        return buf;
    req_storage_error(r, &err);
    return NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * sm.c: the state machine, the one place where the rules of the LMS live.
 *
 * sm_apply() answers a retried write from the client's dedup record, or
 * else looks up the actor and hands the command to its handler (one static
 * function per command, found through a table indexed by the body case).
 * A handler checks everything first (who may do it, does the object exist,
 * are the arguments valid, is it still allowed at this time) and only then
 * writes, so a refused command leaves the state untouched. It reads nothing
 * but the command and the store: no clock, no randomness, no locale (ASCII
 * tests are spelled out, times are formatted with gmtime_r), so every node
 * reaches the same state and the same answers from the same log.
 *
 * The rules themselves are the pure predicates of rules.h, which the
 * handlers' early checks call too: a handler here looks up what a rule
 * needs (the actor's enrolment, the attempts made, the extension) and
 * hands its verdict to judge().
 *
 * Refusals are results: refuse() records the first reason in res and the
 * handler returns LMS_OK. A non-LMS_OK return always means storage failed.
 */
#include "sm.h"

#include "accounts.h"
#include "assignments.h"
#include "filestore.h"
#include "grade_history.h"
#include "materials.h"
#include "unenrolment.h"
#include "inbox.h"

#include "lms_assert.h"
#include "rules.h"
#include "utf8.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SM_DEFAULT_TITLE_MAX 80      /* a question's title from its text */
#define SM_HOUSEKEEPING_EVERY 1024   /* prune dedup records and sessions */

/* Everything a handler needs for one command. */
typedef struct apply_ctx {
    const struct lms_storage_ops *ops;
    void *st;
    struct filestore *files;
    uint64_t index;
    const Lms__Command *cmd;
    int actor_role; /* the actor's global role; LMS_ROLE_NONE if unknown */
    sm_result *res;
    lms_err *err;
    char obj[128];  /* what the command acts on: prefixes refusals */
    char why[RULE_MSG_MAX]; /* the reason a rule (rules.h) gives */
} apply_ctx;

/* ---- UTF-8 ------------------------------------------------------------- */

/* Cut a string that was truncated in the middle of a UTF-8 character back
 * to the last whole one. */
static void utf8_trim_end(char *s)
{
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < want)
        s[i - 1] = '\0';
}

/* Make text that echoes what a client sent safe to show: replace bytes
 * that are not UTF-8 and control characters (a terminal escape in a user
 * name, say) with '?'. */
static void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0, k; i < n; i += k) {
        k = utf8_char_len(p + i, n - i);
        if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
            p[i] = '?';
            k = 1;
        }
    }
}

/* ---- messages ---------------------------------------------------------- */

/* Copy the first n bytes of src (at most cap - 1, cut back to a UTF-8
 * character boundary) to dst and terminate it. */
static void copy_cut(char *dst, size_t cap, const char *src, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    utf8_trim_end(dst);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    copy_cut(dst, cap, src, strlen(src));
}

/*
 * Refuse the command: record status and the message (prefixed with the
 * object named by set_object(), if any) in res, unless an earlier check
 * already refused it, since the first reason is the one worth reporting.
 * Returns LMS_OK so a handler can `return refuse(...)`.
 */
__attribute__((format(printf, 3, 4)))
static int refuse(apply_ctx *c, int status, const char *fmt, ...)
{
    sm_result *r = c->res;
    if (r->status != LMS_OK)
        return LMS_OK;
    r->status = status;
    size_t n = 0;
    if (c->obj[0])
        n = (size_t)snprintf(r->message, sizeof r->message, "%s: ", c->obj);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message + n, sizeof r->message - n, fmt, ap);
    va_end(ap);
    utf8_trim_end(r->message);
    utf8_scrub(r->message);
    return LMS_OK;
}

static int refused(const apply_ctx *c) { return c->res->status != LMS_OK; }

/* Name the object that later refusals are about ("assignment 42"). */
__attribute__((format(printf, 2, 3)))
static void set_object(apply_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->obj, sizeof c->obj, fmt, ap);
    va_end(ap);
}

/* Name a user or course about to be created by the name it would have. */
static void set_new_object(apply_ctx *c, const char *kind, const char *name)
{
    if (name[0])
        set_object(c, "%s %.64s", kind, name);
    else
        set_object(c, "new %s", kind);
}

/* ---- rules: the predicates of rules.h ---------------------------------- */

/* Refuse with a rule's verdict st (its reason in c->why) unless it is
 * LMS_OK. Returns st. */
static int judge(apply_ctx *c, int st)
{
    if (st != LMS_OK)
        refuse(c, st, "%s", c->why);
    return st;
}

/* s as the text field f (rule_text). */
static void check_text(apply_ctx *c, const rule_field *f, const char *s)
{
    judge(c, rule_text(f, s, c->why, sizeof c->why));
}

static void check_sha256(apply_ctx *c, const char *what, const ProtobufCBinaryData *h)
{
    judge(c, rule_sha256(what, h->data ? h->len : 0, c->why, sizeof c->why));
}

/* A file's SHA-256 must be its bytes': the body is stored under it, and a
 * name that named other bytes would hand someone else's file out (or
 * clobber it). Decided from the command alone, so the same on every node
 * whatever its file store holds. */
static void check_file_sha256(apply_ctx *c, const ProtobufCBinaryData *body,
                              const ProtobufCBinaryData *h)
{
    check_sha256(c, "the file SHA-256", h);
    if (refused(c))
        return;
    uint8_t got[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!EVP_Digest(body->len ? body->data : (const uint8_t *)"", body->len,
                    got, &n, EVP_sha256(), NULL) ||
        n != LMS_SHA256_LEN || memcmp(got, h->data, LMS_SHA256_LEN) != 0)
        refuse(c, LMS_INVALID_ARGUMENT, "the file SHA-256 is not the SHA-256 "
               "of its %zu bytes", body->len);
}

/* Put a body in the file store before the row that names it: durable
 * before the apply commits (DESIGN.md). Its SHA-256 was checked against
 * the bytes (check_file_sha256), so the store does not hash them again (on
 * the leader the body is usually there already: its work stage put it
 * before proposing). A full disk is RESOURCE_EXHAUSTED: the batch is held
 * and applied again once there is room. */
static int put_body(apply_ctx *c, const ProtobufCBinaryData *body,
                    const ProtobufCBinaryData *sha)
{
    LMS_ASSERT(c->files != NULL);
    LMS_ASSERT(sha->len == LMS_SHA256_LEN);
    return filestore_put(c->files, sha->data, body->data, body->len, 0,
                         c->err);
}

/* ---- lookups: storage status out, refusal in c->res -------------------- */

/* A get's status: LMS_NOT_FOUND is an answer (found = 0), not a failure. */
static int got(apply_ctx *c, int rc, int *found)
{
    *found = rc == LMS_OK;
    if (rc != LMS_NOT_FOUND)
        return rc;
    lms_err_clear(c->err);
    return LMS_OK;
}

/* Names longer than the store holds cannot exist; never let a plugin
 * truncate one into the name of somebody else. */
static int fits_name(const char *s) { return strlen(s) <= LMS_NAME_MAX; }

/* Finish a get of the object "kind key": on LMS_NOT_FOUND refuse with
 * NOT_FOUND naming it (rule_missing); a storage failure is passed on. */
static int need_found(apply_ctx *c, int rc, const char *kind, const char *key)
{
    int found;
    rc = got(c, rc, &found);
    if (rc == LMS_OK && !found)
        judge(c, rule_missing(kind, key, c->why, sizeof c->why));
    return rc;
}

static int need_user(apply_ctx *c, const char *name, lms_user *out)
{
    int rc = fits_name(name) ? c->ops->user_get(c->st, name, out, c->err)
                             : LMS_NOT_FOUND;
    return need_found(c, rc, "user", name);
}

/* ASCII only: course codes are [A-Za-z0-9._-], and apply must not
 * depend on the locale. */
static int ascii_lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

static int ascii_case_equal(const char *a, const char *b)
{
    for (; *a && ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b); a++, b++)
        ;
    return *a == *b;
}

/* The walk of sm_course_find's fallback: the codes equal to want ignoring
 * case. */
typedef struct course_match {
    const char *want;
    lms_course found;
    int n;
} course_match;

static int course_match_each(void *arg, const void *row)
{
    course_match *m = arg;
    const lms_course *co = row;
    if (ascii_case_equal(co->code, m->want) && m->n++ == 0)
        m->found = *co;
    return 0;
}

int sm_course_find(const struct lms_storage_ops *ops, void *st, const char *code,
                   lms_course *out, lms_err *err)
{
    if (!fits_name(code))
        return LMS_NOT_FOUND;
    int rc = ops->course_get(st, code, out, err);
    /* A backend whose collation is looser than ASCII case (accents, say)
     * must not widen what a code matches: such a hit counts as a miss. */
    if (rc == LMS_OK && ascii_case_equal(out->code, code))
        return LMS_OK;
    if (rc != LMS_OK && rc != LMS_NOT_FOUND)
        return rc;
    lms_err_clear(err);
    /* Only a miss walks the courses: the common lookup stays one get. */
    course_match m = {.want = code};
    rc = ops->course_list(st, NULL, course_match_each, &m, err);
    if (rc != LMS_OK)
        return rc;
    if (m.n != 1)
        return LMS_NOT_FOUND;
    LMS_ASSERT(ascii_case_equal(m.found.code, code));
    *out = m.found;
    return LMS_OK;
}

/* The course whose code is code in any case: from here on a handler uses
 * out->code, the code as stored, never the command's spelling. */
static int need_course(apply_ctx *c, const char *code, lms_course *out)
{
    return need_found(c, sm_course_find(c->ops, c->st, code, out, c->err),
                      "course", code);
}

static int need_numbered(apply_ctx *c, int rc, const char *kind, uint64_t id)
{
    char key[24];
    snprintf(key, sizeof key, "%" PRIu64, id);
    return need_found(c, rc, kind, key);
}

/* Assignment id and its state (x may be NULL): a deleted one does not
 * exist (asg_load). */
static int need_assignment(apply_ctx *c, uint64_t id, lms_assignment *out, asg_state *x)
{
    return need_numbered(c, asg_load(c->ops, c->st, id, out, x, c->err), "assignment", id);
}

static int need_submission(apply_ctx *c, uint64_t id, lms_submission *out)
{
    return need_numbered(c, c->ops->submission_get(c->st, id, 0, out, c->err),
                         "submission", id);
}

static int need_query(apply_ctx *c, uint64_t id, lms_query *out)
{
    return need_numbered(c, c->ops->query_get(c->st, id, out, c->err), "query", id);
}

/* ---- who may do what --------------------------------------------------- */

/* Refuse unless the actor is an admin; verb says what for. */
static int need_admin(apply_ctx *c, const char *verb)
{
    judge(c, rule_role(RULE_NEED_ADMIN, c->actor_role, LMS_ROLE_NONE, NULL, verb, c->why,
                       sizeof c->why));
    return LMS_OK;
}

/* user's enrolment role in course; LMS_ROLE_NONE when not enrolled. */
static int enrolment_role(apply_ctx *c, const char *course, const char *user,
                          int *role)
{
    *role = LMS_ROLE_NONE;
    if (!fits_name(course) || !fits_name(user))
        return LMS_OK;
    return c->ops->enrolment_get(c->st, course, user, role, c->err);
}

/* Refuse unless the actor is enrolled in course as need asks (rule_role);
 * verb says what for ("grade it"). */
static int need_enrolled(apply_ctx *c, const char *course, enum rule_need need,
                         const char *verb)
{
    int have;
    int rc = enrolment_role(c, course, c->cmd->actor, &have);
    if (rc == LMS_OK)
        judge(c, rule_role(need, c->actor_role, have, course, verb, c->why,
                           sizeof c->why));
    return rc;
}

/* Load query id and check that the actor takes part in it: the student
 * who asked, or an instructor of its course. */
static int need_query_party(apply_ctx *c, uint64_t id, lms_query *q,
                            const char *verb)
{
    int rc = need_query(c, id, q);
    if (rc || refused(c))
        return rc;
    set_object(c, "query %" PRIu64, id);
    int role = LMS_ROLE_NONE;
    rc = enrolment_role(c, q->course, c->cmd->actor, &role);
    if (rc == LMS_OK)
        judge(c, rule_query_party(q, c->cmd->actor, role, verb, c->why, sizeof c->why));
    return rc;
}

/* ---- sessions and users ------------------------------------------------- */

static int apply_noop(apply_ctx *c) { return LMS_OK; }

/* The token hashes of a user's sessions, oldest first (session_list_user). */
typedef struct session_hashes {
    uint8_t (*v)[LMS_SHA256_LEN];
    size_t n, cap;
    int oom;
} session_hashes;

static int session_hash_each(void *arg, const void *row)
{
    session_hashes *h = arg;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        void *v = realloc(h->v, cap * sizeof *h->v);
        if (!v) {
            h->oom = 1;
            return 1; /* ends the walk; the caller reports it */
        }
        h->v = v;
        h->cap = cap;
    }
    memcpy(h->v[h->n++], ((const lms_session *)row)->token_hash, LMS_SHA256_LEN);
    return 0;
}

/* Make room for one more session of user under a cap of max (0: none):
 * end the oldest (by created, then token hash: the order of
 * session_list_user, the same on every node and backend) until fewer than
 * max are left. */
static int end_oldest_sessions(apply_ctx *c, const char *user, uint32_t max)
{
    if (max == 0)
        return LMS_OK;
    session_hashes h = {0};
    int rc = c->ops->session_list_user(c->st, user, session_hash_each, &h, c->err);
    if (h.oom)
        rc = lms_err_set(c->err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; rc == LMS_OK && h.n >= max && i <= h.n - max; i++)
        rc = c->ops->session_delete(c->st, h.v[i], c->err);
    free(h.v);
    return rc;
}

static int apply_create_session(apply_ctx *c)
{
    const Lms__CmdCreateSession *b = c->cmd->create_session;
    lms_user u;
    check_sha256(c, "the session token hash", &b->token_hash);
    if (refused(c))
        return LMS_OK;
    int rc = need_user(c, b->user, &u);
    if (rc || refused(c))
        return rc;
    account_state a;
    if ((rc = account_get(c->ops, c->st, u.name, &a, c->err)) != LMS_OK)
        return rc;
    if (a.disabled) /* disabled between the login's check and now */
        return refuse(c, LMS_PERMISSION_DENIED,
                      "user %s is disabled; ask an admin to enable it", u.name);
    rc = end_oldest_sessions(c, u.name, b->max_sessions);
    if (rc)
        return rc;
    lms_session s = {.created = c->cmd->time, .expires = b->expires};
    memcpy(s.token_hash, b->token_hash.data, LMS_SHA256_LEN);
    copy_str(s.user, sizeof s.user, u.name);
    return c->ops->session_put(c->st, &s, c->err);
}

static int apply_delete_session(apply_ctx *c)
{
    const Lms__CmdDeleteSession *b = c->cmd->delete_session;
    check_sha256(c, "the session token hash", &b->token_hash);
    if (refused(c))
        return LMS_OK;
    return c->ops->session_delete(c->st, b->token_hash.data, c->err);
}

/* End every session of user but keep (a token hash; NULL: none kept), in
 * the order session_list_user gives (the same everywhere). */
static int end_sessions(apply_ctx *c, const char *user, const uint8_t *keep)
{
    session_hashes h = {0};
    int rc = c->ops->session_list_user(c->st, user, session_hash_each, &h, c->err);
    if (h.oom)
        rc = lms_err_set(c->err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; rc == LMS_OK && i < h.n; i++)
        if (!keep || memcmp(h.v[i], keep, LMS_SHA256_LEN) != 0)
            rc = c->ops->session_delete(c->st, h.v[i], c->err);
    free(h.v);
    return rc;
}

static void set_changed(apply_ctx *c, account_state *a)
{
    a->changed = c->cmd->time;
    copy_str(a->changed_by, sizeof a->changed_by, c->cmd->actor);
}

/* A new password: the user's own (passwd: the leader checked the old one
 * against the hash whose SHA-256 is expect_hash; it must still be the
 * stored one, and the caller's session stays), or a one-time password an
 * admin set (every session ends). */
static int apply_set_password(apply_ctx *c)
{
    const Lms__CmdSetPassword *b = c->cmd->set_password;
    int self = strcmp(b->user, c->cmd->actor) == 0 && !b->must_change;
    if (!self)
        need_admin(c, "reset passwords");
    if (b->password_hash[0] == '\0')
        refuse(c, LMS_INVALID_ARGUMENT, "the password hash is empty");
    if (b->keep_session.len && b->keep_session.len != LMS_SHA256_LEN)
        refuse(c, LMS_INVALID_ARGUMENT, "the kept session is not a token hash");
    if (self && b->expect_hash.len != LMS_SHA256_LEN)
        refuse(c, LMS_INVALID_ARGUMENT, "the old password's hash is missing");
    if (refused(c))
        return LMS_OK;
    lms_user u;
    int rc = need_user(c, b->user, &u);
    if (rc || refused(c))
        return rc;
    set_object(c, "user %s", u.name);
    /* before any other storage call: u.password_hash is the plugin's */
    if (self) {
        uint8_t now[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        if (!EVP_Digest(u.password_hash, strlen(u.password_hash), now, &n, EVP_sha256(),
                        NULL) ||
            n != LMS_SHA256_LEN)
            return lms_err_set(c->err, LMS_INTERNAL, "SHA-256 failed");
        if (memcmp(now, b->expect_hash.data, LMS_SHA256_LEN) != 0)
            return refuse(c, LMS_FAILED_PRECONDITION,
                          "the password was changed meanwhile; nothing was changed now");
    }
    account_state a;
    if ((rc = account_get(c->ops, c->st, u.name, &a, c->err)) != LMS_OK)
        return rc;
    if (self && a.disabled)
        return refuse(c, LMS_PERMISSION_DENIED, "is disabled");
    u.password_hash = b->password_hash;
    if ((rc = c->ops->user_put(c->st, &u, c->err)) != LMS_OK)
        return rc;
    a.must_change = b->must_change;
    set_changed(c, &a);
    if ((rc = account_put(c->ops, c->st, u.name, &a, c->err)) != LMS_OK)
        return rc;
    return end_sessions(c, u.name, self && b->keep_session.len ? b->keep_session.data : NULL);
}

/* An admin disables a user (no login; their sessions end; their work
 * stays) or enables them again. Not themselves: some admin stays able to
 * log in. Setting the state the account has already writes nothing. */
static int apply_set_user_enabled(apply_ctx *c)
{
    const Lms__CmdSetUserEnabled *b = c->cmd->set_user_enabled;
    need_admin(c, b->enabled ? "enable users" : "disable users");
    if (refused(c))
        return LMS_OK;
    lms_user u;
    int rc = need_user(c, b->user, &u);
    if (rc || refused(c))
        return rc;
    set_object(c, "user %s", u.name);
    if (!b->enabled && strcmp(u.name, c->cmd->actor) == 0)
        return refuse(c, LMS_FAILED_PRECONDITION,
                      "you cannot disable your own account (another admin can)");
    account_state a;
    if ((rc = account_get(c->ops, c->st, u.name, &a, c->err)) != LMS_OK)
        return rc;
    if (!a.disabled == !!b->enabled)
        return LMS_OK;
    a.disabled = !b->enabled;
    set_changed(c, &a);
    if ((rc = account_put(c->ops, c->st, u.name, &a, c->err)) != LMS_OK)
        return rc;
    return b->enabled ? LMS_OK : end_sessions(c, u.name, NULL);
}

/* Validate and insert one new user: the shared body of create_user and of
 * each import row. */
static int add_user(apply_ctx *c, const Lms__CmdCreateUser *u)
{
    set_new_object(c, "user", u->name);
    judge(c, rule_user_name(u->name, c->why, sizeof c->why));
    judge(c, rule_user_role((int)u->role, c->why, sizeof c->why));
    check_text(c, &RULE_FULL_NAME, u->full_name);
    if (u->password_hash[0] == '\0')
        refuse(c, LMS_INVALID_ARGUMENT, "password hash is empty");
    if (refused(c))
        return LMS_OK;
    lms_user old;
    int found;
    int rc = got(c, c->ops->user_get(c->st, u->name, &old, c->err), &found);
    if (rc || found)
        return rc ? rc : refuse(c, LMS_ALREADY_EXISTS, "already exists");
    lms_user nu = {.role = (int)u->role, .password_hash = u->password_hash,
                   .created = c->cmd->time};
    copy_str(nu.name, sizeof nu.name, u->name);
    copy_str(nu.full_name, sizeof nu.full_name, u->full_name);
    rc = c->ops->user_put(c->st, &nu, c->err);
    if (rc != LMS_OK || !u->must_change_password)
        return rc;
    account_state a = {.must_change = 1, .changed = c->cmd->time};
    copy_str(a.changed_by, sizeof a.changed_by, c->cmd->actor);
    return account_put(c->ops, c->st, nu.name, &a, c->err);
}

/* With no actor, the one user that may be created is the first admin of
 * an empty store (lmsd --init-admin). */
static int check_bootstrap(apply_ctx *c, const Lms__CmdCreateUser *u)
{
    uint64_t n;
    int rc = c->ops->user_count(c->st, &n, c->err);
    if (rc)
        return rc;
    set_new_object(c, "user", u->name);
    if (n > 0)
        refuse(c, LMS_PERMISSION_DENIED,
               "users already exist; sign in as an admin to add more");
    else if (u->role != LMS__ROLE__ADMIN)
        refuse(c, LMS_PERMISSION_DENIED, "the first user must be an admin");
    return LMS_OK;
}

static int apply_create_user(apply_ctx *c)
{
    const Lms__CmdCreateUser *b = c->cmd->create_user;
    int rc;
    if (c->cmd->actor[0] == '\0')
        rc = check_bootstrap(c, b);
    else if (c->actor_role == LMS_ROLE_NONE)
        rc = refuse(c, LMS_UNAUTHENTICATED, "user %.64s does not exist; sign in again",
                    c->cmd->actor);
    else
        rc = need_admin(c, "create users");
    if (rc || refused(c))
        return rc;
    return add_user(c, b);
}

/* One row of an import: add_user with its own result, reported in row. */
static int import_row(apply_ctx *c, const Lms__CmdImportUsers *b, size_t i,
                      sm_row_result *row)
{
    sm_result *outer = c->res;
    sm_result mine = {0};
    c->res = &mine;
    int rc = add_user(c, b->users[i]);
    c->res = outer;
    c->obj[0] = '\0';
    row->line = i < b->n_lines ? b->lines[i] : 0;
    copy_str(row->name, sizeof row->name, b->users[i]->name);
    utf8_scrub(row->name);
    row->status = mine.status;
    copy_str(row->message, sizeof row->message, mine.message);
    return rc;
}

/* A row of a report from a command or a record, within bounds: a row the
 * leader refused before proposing (ok_allowed 0), or a recorded row. A
 * status out of range reads as INVALID_ARGUMENT: the row was not
 * imported. */
static void row_from_pb(const Lms__ImportResult *x, sm_row_result *row, int ok_allowed)
{
    int lowest = ok_allowed ? LMS__STATUS__OK : LMS__STATUS__CANCELLED;
    row->line = x->line;
    copy_str(row->name, sizeof row->name, x->name);
    utf8_scrub(row->name);
    row->status = (int)x->status >= lowest && x->status <= LMS__STATUS__UNAUTHENTICATED
                      ? (int)x->status
                      : LMS_INVALID_ARGUMENT;
    copy_str(row->message, sizeof row->message, x->message);
    utf8_scrub(row->message);
}

/* Every row is tried and reported, with the rows refused before proposing;
 * the command itself succeeds, with res->id = the number of users
 * created. */
static int apply_import_users(apply_ctx *c)
{
    const Lms__CmdImportUsers *b = c->cmd->import_users;
    need_admin(c, "import users");
    if (refused(c) || b->n_users == 0)
        return LMS_OK;
    /* (each count is bounded by the frame that carried it: no overflow) */
    size_t n = b->n_users + b->n_refused;
    if (judge(c, rule_import_size(n, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    c->res->rows = calloc(n, sizeof *c->res->rows);
    if (!c->res->rows)
        return lms_err_set(c->err, LMS_RESOURCE_EXHAUSTED,
                           "out of memory for the report of %zu imported users", n);
    c->res->nrows = n;
    for (size_t i = 0; i < b->n_users; i++) {
        int rc = import_row(c, b, i, &c->res->rows[i]);
        if (rc)
            return rc;
        if (c->res->rows[i].status == LMS_OK)
            c->res->id++;
    }
    for (size_t i = 0; i < b->n_refused; i++)
        row_from_pb(b->refused[i], &c->res->rows[b->n_users + i], 0);
    return LMS_OK;
}

/* ---- courses and enrolment ---------------------------------------------- */

static int apply_create_course(apply_ctx *c)
{
    const Lms__CmdCreateCourse *b = c->cmd->create_course;
    need_admin(c, "create courses");
    if (refused(c))
        return LMS_OK;
    set_new_object(c, "course", b->code);
    judge(c, rule_course_code(b->code, c->why, sizeof c->why));
    check_text(c, &RULE_COURSE_TITLE, b->title);
    if (refused(c))
        return LMS_OK;
    lms_course old;
    int found;
    /* codes are unique ignoring case: CS101 and cs101 are one course */
    int rc = got(c, sm_course_find(c->ops, c->st, b->code, &old, c->err), &found);
    if (rc || found)
        return rc ? rc
               : strcmp(old.code, b->code) == 0
                   ? refuse(c, LMS_ALREADY_EXISTS, "already exists")
                   : refuse(c, LMS_ALREADY_EXISTS, "already exists as %s (course codes "
                                                   "ignore case)", old.code);
    lms_course nc = {.created = c->cmd->time};
    copy_str(nc.code, sizeof nc.code, b->code);
    copy_str(nc.title, sizeof nc.title, b->title);
    return c->ops->course_put(c->st, &nc, c->err);
}

static int apply_enroll(apply_ctx *c)
{
    const Lms__CmdEnroll *b = c->cmd->enroll;
    lms_course co;
    lms_user u;
    int rc = need_admin(c, "enroll users");
    if (rc == LMS_OK && !refused(c))
        rc = need_course(c, b->course, &co);
    if (rc || refused(c))
        return rc;
    set_object(c, "course %s", co.code);
    rc = need_user(c, b->user, &u);
    if (rc || refused(c))
        return rc;
    if (judge(c, rule_enrolment(&u, (int)b->role, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    lms_enrolment e = {.role = (int)b->role};
    copy_str(e.course, sizeof e.course, co.code);
    copy_str(e.user, sizeof e.user, u.name);
    rc = c->ops->enrolment_put(c->st, &e, c->err);
    /* one who had left is back, with their work (unenrolment.h) */
    return rc != LMS_OK ? rc : unenrolment_delete(c->ops, c->st, co.code, u.name, c->err);
}

/* ---- assignments, submissions, grades ----------------------------------- */

static int apply_create_assignment(apply_ctx *c)
{
    const Lms__CreateAssignmentRequest *a = c->cmd->create_assignment->a;
    lms_course co;
    if (!a)
        return refuse(c, LMS_INVALID_ARGUMENT, "create_assignment carries no assignment");
    int rc = need_course(c, a->course, &co);
    if (rc == LMS_OK && !refused(c))
        rc = need_enrolled(c, co.code, RULE_NEED_INSTRUCTOR, "create assignments");
    if (rc || refused(c))
        return rc;
    set_object(c, "new assignment in course %s", co.code);
    lms_assignment x = {
        .id = c->index, .description = a->description, .due = a->due,
        .cutoff = a->cutoff, .max_points = a->max_points,
        .max_attempts = a->max_attempts, .max_size = a->max_size,
        .hold_grades = a->hold_grades, .created = c->cmd->time};
    check_text(c, &RULE_ASSIGNMENT_TITLE, a->title);
    check_text(c, &RULE_DESCRIPTION, a->description);
    judge(c, rule_assignment(&x, c->why, sizeof c->why));
    judge(c, rule_late_penalty(a->late_penalty, c->why, sizeof c->why));
    if (refused(c))
        return LMS_OK;
    copy_str(x.course, sizeof x.course, co.code);
    copy_str(x.title, sizeof x.title, a->title);
    copy_str(x.created_by, sizeof x.created_by, c->cmd->actor);
    c->res->id = c->index;
    rc = c->ops->assignment_put(c->st, &x, c->err);
    if (rc != LMS_OK || a->late_penalty == 0)
        return rc; /* no record: the defaults */
    asg_state st = {.late_penalty = a->late_penalty};
    return asg_put(c->ops, c->st, x.id, &st, c->err);
}

/* The end of the actor's extension of a into *until (0: none). */
static int extension_until(apply_ctx *c, const lms_assignment *a, int64_t *until)
{
    lms_extension x;
    int found;
    int rc = got(c, c->ops->extension_get(c->st, a->id, c->cmd->actor, &x, c->err),
                 &found);
    *until = rc == LMS_OK && found ? x.until : 0;
    return rc;
}

/* Time, attempts and the file (rule_submission, rule_file_name, the
 * SHA-256); *count is the attempts made so far. */
static int check_submission(apply_ctx *c, const lms_assignment *a,
                            const Lms__CmdSubmit *b, int64_t until, uint32_t *count)
{
    int rc = c->ops->submission_count(c->st, a->id, c->cmd->actor, count, c->err);
    if (rc)
        return rc;
    if (judge(c, rule_submission(a, c->cmd->time, until, *count, b->data.len, c->why,
                                 sizeof c->why)) != LMS_OK)
        return LMS_OK;
    judge(c, rule_file_name(b->file_name, c->why, sizeof c->why));
    check_file_sha256(c, &b->data, &b->sha256);
    return LMS_OK;
}

static int apply_submit(apply_ctx *c)
{
    const Lms__CmdSubmit *b = c->cmd->submit;
    lms_assignment a;
    asg_state x;
    int64_t until = 0, due, cutoff;
    uint32_t count = 0;
    int rc = need_assignment(c, b->assignment_id, &a, &x);
    if (rc || refused(c))
        return rc;
    if (judge(c, rule_assignment_open(a.id, x.hidden, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    set_object(c, "assignment %" PRIu64, a.id);
    rc = need_enrolled(c, a.course, RULE_NEED_STUDENT, "submit");
    if (rc == LMS_OK && !refused(c))
        rc = extension_until(c, &a, &until);
    if (rc == LMS_OK && !refused(c))
        rc = check_submission(c, &a, b, until, &count);
    if (rc || refused(c))
        return rc;
    rule_effective_times(a.due, a.cutoff, until, &due, &cutoff);
    lms_submission s = {
        .id = c->index, .assignment_id = a.id, .size = b->data.len,
        .submitted = c->cmd->time, .late = c->cmd->time > due,
        .attempt = count + 1};
    copy_str(s.student, sizeof s.student, c->cmd->actor);
    copy_str(s.file_name, sizeof s.file_name, b->file_name);
    memcpy(s.sha256, b->sha256.data, LMS_SHA256_LEN);
    c->res->id = c->index;
    rc = put_body(c, &b->data, &b->sha256);
    return rc != LMS_OK ? rc : c->ops->submission_put(c->st, &s, c->err);
}

static int record_grade(apply_ctx *c, const lms_grade *g); /* corrections, below */

static int apply_grade(apply_ctx *c)
{
    const Lms__CmdGrade *b = c->cmd->grade;
    lms_submission s;
    lms_assignment a;
    int rc = need_submission(c, b->submission_id, &s);
    if (rc || refused(c))
        return rc;
    set_object(c, "submission %" PRIu64, s.id);
    rc = need_assignment(c, s.assignment_id, &a, NULL);
    if (rc == LMS_OK && !refused(c))
        rc = need_enrolled(c, a.course, RULE_NEED_STAFF, "grade it");
    if (rc || refused(c))
        return rc;
    if (judge(c, rule_grader(c->cmd->actor, s.student, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    judge(c, rule_grade(b->grade, &a, c->why, sizeof c->why));
    check_text(c, &RULE_FEEDBACK, b->feedback);
    if (refused(c))
        return LMS_OK;
    lms_grade g = {.submission_id = s.id, .grade = b->grade,
                   .feedback = b->feedback, .graded = c->cmd->time};
    copy_str(g.grader, sizeof g.grader, c->cmd->actor);
    c->res->id = s.id;
    rc = record_grade(c, &g);
    return rc != LMS_OK ? rc : c->ops->grade_put(c->st, &g, c->err);
}

/* Load assignment id (and its state, x may be NULL) and check that the
 * actor teaches its course. a->description does not last past it. */
static int need_own_assignment(apply_ctx *c, uint64_t id, lms_assignment *a, asg_state *x,
                               const char *verb)
{
    int rc = need_assignment(c, id, a, x);
    if (rc || refused(c))
        return rc;
    set_object(c, "assignment %" PRIu64, id);
    return need_enrolled(c, a->course, RULE_NEED_INSTRUCTOR, verb);
}

static int apply_release(apply_ctx *c)
{
    uint64_t id = c->cmd->release->assignment_id;
    lms_assignment a;
    int rc = need_own_assignment(c, id, &a, NULL, "release its grades");
    if (rc || refused(c))
        return rc;
    c->res->id = id;
    if (a.released)
        return LMS_OK;
    /* Load again: the enrolment check invalidated a.description. */
    rc = c->ops->assignment_get(c->st, id, &a, c->err);
    if (rc)
        return rc;
    a.released = 1;
    rc = c->ops->assignment_put(c->st, &a, c->err);
    /* the time its students' inboxes show the held grades from */
    return rc ? rc : inbox_note_release(c->ops, c->st, id, c->cmd->time, c->cmd->actor, c->err);
}

static int apply_extend(apply_ctx *c)
{
    const Lms__CmdExtend *b = c->cmd->extend;
    lms_assignment a;
    int role;
    int rc = need_own_assignment(c, b->assignment_id, &a, NULL, "grant extensions");
    if (rc || refused(c))
        return rc;
    if (judge(c, rule_extension(&a, b->until, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    rc = enrolment_role(c, a.course, b->student, &role);
    if (rc)
        return rc;
    if (judge(c, rule_student_of(b->student, role, a.course, c->why, sizeof c->why)) !=
        LMS_OK)
        return LMS_OK;
    lms_extension x = {.assignment_id = a.id, .until = b->until};
    copy_str(x.student, sizeof x.student, b->student);
    c->res->id = a.id;
    rc = c->ops->extension_put(c->st, &x, c->err);
    /* the time the student's inbox shows it from */
    return rc ? rc : inbox_note_extension(c->ops, c->st, x.student, a.id, c->cmd->time,
                                          c->cmd->actor, b->until, c->err);
}

/* ---- questions ------------------------------------------------------------ */

/* A question's title when the student gave none: its first non-blank
 * line, cut to SM_DEFAULT_TITLE_MAX bytes. */
static void default_title(char *dst, size_t cap, const char *text)
{
    text += strspn(text, " \t\r\n");
    size_t n = strcspn(text, "\r\n");
    copy_cut(dst, cap, text, n < SM_DEFAULT_TITLE_MAX ? n : SM_DEFAULT_TITLE_MAX);
}

static int apply_ask(apply_ctx *c)
{
    const Lms__CmdAsk *b = c->cmd->ask;
    lms_course co;
    int rc = need_course(c, b->course, &co);
    if (rc == LMS_OK && !refused(c))
        rc = need_enrolled(c, co.code, RULE_NEED_STUDENT, "ask questions");
    if (rc || refused(c))
        return rc;
    check_text(c, &RULE_QUESTION, b->text);
    check_text(c, &RULE_QUESTION_TITLE, b->title);
    if (refused(c))
        return LMS_OK;
    lms_query q = {.id = c->index, .text = b->text, .created = c->cmd->time};
    copy_str(q.course, sizeof q.course, co.code);
    copy_str(q.student, sizeof q.student, c->cmd->actor);
    if (b->title[0])
        copy_str(q.title, sizeof q.title, b->title);
    else
        default_title(q.title, sizeof q.title, b->text);
    c->res->id = c->index;
    return c->ops->query_put(c->st, &q, c->err);
}

static int apply_reply(apply_ctx *c)
{
    const Lms__CmdReply *b = c->cmd->reply;
    lms_query q;
    int rc = need_query_party(c, b->query_id, &q, "reply to it");
    if (rc || refused(c))
        return rc;
    if (judge(c, rule_reply(&q, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    check_text(c, &RULE_REPLY, b->text);
    if (refused(c))
        return LMS_OK;
    if (b->share) /* the student who asked may reply, not share */
        rc = need_enrolled(c, q.course, RULE_NEED_STAFF, "share its questions");
    if (rc || refused(c))
        return rc;
    lms_reply r = {.id = c->index, .query_id = q.id, .text = b->text,
                   .created = c->cmd->time};
    copy_str(r.author, sizeof r.author, c->cmd->actor);
    c->res->id = c->index;
    rc = c->ops->reply_put(c->st, &r, c->err);
    if (rc || !b->share || q.shared)
        return rc;
    /* Load again: the enrolment check invalidated q.text. */
    if ((rc = c->ops->query_get(c->st, q.id, &q, c->err)) != LMS_OK)
        return rc;
    q.shared = 1;
    return c->ops->query_put(c->st, &q, c->err);
}

static int apply_resolve(apply_ctx *c)
{
    uint64_t id = c->cmd->resolve->query_id;
    lms_query q;
    int rc = need_query_party(c, id, &q, "resolve it");
    if (rc || refused(c))
        return rc;
    c->res->id = id;
    if (q.resolved)
        return LMS_OK;
    /* Load again: the enrolment check invalidated q.text. */
    rc = c->ops->query_get(c->st, id, &q, c->err);
    if (rc)
        return rc;
    q.resolved = 1;
    return c->ops->query_put(c->st, &q, c->err);
}

/* ---- sharing a question with the course ------------------------------------ */

typedef struct instructor_reply {
    char (*names)[LMS_NAME_MAX + 1]; /* the course's instructors */
    size_t n, cap;
    int failed, found;
} instructor_reply;

static int keep_instructor(void *arg, const void *row)
{
    instructor_reply *x = arg;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 8;
        void *v = realloc(x->names, cap * sizeof *x->names);
        if (!v) {
            x->failed = 1;
            return 1;
        }
        x->names = v;
        x->cap = cap;
    }
    copy_str(x->names[x->n++], sizeof *x->names, ((const lms_enrolment *)row)->user);
    return 0;
}

static int find_instructor_reply(void *arg, const void *row)
{
    instructor_reply *x = arg;
    const char *author = ((const lms_reply *)row)->author;
    for (size_t i = 0; i < x->n && !x->found; i++)
        x->found = strcmp(x->names[i], author) == 0;
    return x->found;
}

int sm_instructor_replied(const struct lms_storage_ops *ops, void *st,
                          const char *course, uint64_t query_id, int *yes,
                          lms_err *err)
{
    instructor_reply x = {0};
    *yes = 0;
    /* the course's staff: its instructors and teaching assistants */
    int rc = ops->enrolment_list(st, course, LMS_ROLE_INSTRUCTOR, keep_instructor, &x, err);
    if (rc == LMS_OK && !x.failed)
        rc = ops->enrolment_list(st, course, LMS_ROLE_TA, keep_instructor, &x, err);
    if (rc == LMS_OK && x.failed)
        rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                         "out of memory listing the instructors of %.64s", course);
    if (rc == LMS_OK && x.n)
        rc = ops->reply_list(st, query_id, find_instructor_reply, &x, err);
    free(x.names);
    if (rc == LMS_OK)
        *yes = x.found;
    return rc;
}

/* Share a question to the instructors with its course, or withdraw it:
 * only its course's instructors may, only such a question, and sharing
 * needs an instructor's reply (there is nothing to show before). Setting
 * the flag it has already is OK and writes nothing. */
static int apply_share(apply_ctx *c)
{
    const Lms__CmdShare *b = c->cmd->share;
    lms_query q;
    int rc = need_query(c, b->query_id, &q);
    if (rc || refused(c))
        return rc;
    set_object(c, "query %" PRIu64, b->query_id);
    rc = need_enrolled(c, q.course, RULE_NEED_STAFF,
                       b->shared ? "share its questions" : "withdraw its shared questions");
    if (rc || refused(c))
        return rc;
    int replied = 0;
    if (q.kind == LMS_QUERY_INSTRUCTOR && b->shared && !q.shared &&
        (rc = sm_instructor_replied(c->ops, c->st, q.course, q.id, &replied, c->err)))
        return rc;
    if (judge(c, rule_share(&q, b->shared, replied, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    c->res->id = q.id;
    if ((q.shared != 0) == b->shared)
        return LMS_OK;
    /* Load again: the checks above invalidated q.text. */
    if ((rc = c->ops->query_get(c->st, q.id, &q, c->err)) != LMS_OK)
        return rc;
    LMS_ASSERT(q.kind == LMS_QUERY_INSTRUCTOR && (q.shared != 0) != b->shared);
    q.shared = b->shared;
    return c->ops->query_put(c->st, &q, c->err);
}

/* ---- the tutor -------------------------------------------------------------- */

/* The course's settings, or the defaults (built-in prompt, no limit) when
 * none were set. out->system_prompt is valid until the next storage call. */
static int load_settings(apply_ctx *c, const char *course, lms_course_settings *out)
{
    int found;
    int rc = got(c, c->ops->course_settings_get(c->st, course, out, c->err), &found);
    if (rc == LMS_OK && !found) {
        memset(out, 0, sizeof *out);
        copy_str(out->course, sizeof out->course, course);
        out->system_prompt = "";
    }
    return rc;
}

/* Refuse when the actor has used the course's daily limit of tutor
 * questions on the UTC day of the command's time. */
static int check_tutor_limit(apply_ctx *c, const char *course)
{
    lms_course_settings s;
    uint32_t used = 0;
    int rc = load_settings(c, course, &s);
    if (rc || s.tutor_daily_limit == 0)
        return rc;
    int64_t day = rule_utc_day(c->cmd->time);
    rc = c->ops->query_count(c->st, course, c->cmd->actor, LMS_QUERY_TUTOR, day,
                             day + RULE_DAY_MS, &used, c->err);
    if (rc == LMS_OK)
        judge(c, rule_tutor_limit(s.tutor_daily_limit, used, course, c->why,
                                  sizeof c->why));
    return rc;
}

static void check_exchange(apply_ctx *c, const Lms__CmdTutorExchange *b)
{
    check_text(c, &RULE_QUESTION, b->question);
    check_text(c, &RULE_QUESTION_TITLE, b->title);
    check_text(c, &RULE_TUTOR_ANSWER, b->answer);
    if (!b->info) {
        refuse(c, LMS_INVALID_ARGUMENT, "the exchange carries no tutor info");
        return;
    }
    check_text(c, &RULE_TUTOR_PROVIDER, b->info->provider);
    check_text(c, &RULE_TUTOR_MODEL, b->info->model);
}

/* A student's question and the tutor's answer: a resolved query of kind
 * TUTOR whose one reply, by SM_TUTOR_AUTHOR, is the answer. */
static int apply_tutor_exchange(apply_ctx *c)
{
    const Lms__CmdTutorExchange *b = c->cmd->tutor_exchange;
    lms_course co;
    int rc = need_course(c, b->course, &co);
    if (rc == LMS_OK && !refused(c))
        rc = need_enrolled(c, co.code, RULE_NEED_STUDENT, "ask its tutor");
    if (rc == LMS_OK && !refused(c))
        check_exchange(c, b);
    if (rc == LMS_OK && !refused(c))
        rc = check_tutor_limit(c, co.code);
    if (rc || refused(c))
        return rc;
    const Lms__TutorInfo *i = b->info;
    lms_query q = {.id = c->index, .text = b->question, .created = c->cmd->time,
                   .resolved = 1, .kind = LMS_QUERY_TUTOR,
                   .prompt_tokens = i->prompt_tokens,
                   .completion_tokens = i->completion_tokens,
                   .latency_ms = i->latency_ms};
    copy_str(q.course, sizeof q.course, co.code);
    copy_str(q.student, sizeof q.student, c->cmd->actor);
    copy_str(q.provider, sizeof q.provider, i->provider);
    copy_str(q.model, sizeof q.model, i->model);
    if (b->title[0])
        copy_str(q.title, sizeof q.title, b->title);
    else
        default_title(q.title, sizeof q.title, b->question);
    lms_reply r = {.id = c->index, .query_id = c->index, .text = b->answer,
                   .created = c->cmd->time};
    copy_str(r.author, sizeof r.author, SM_TUTOR_AUTHOR);
    c->res->id = c->index;
    rc = c->ops->query_put(c->st, &q, c->err);
    return rc ? rc : c->ops->reply_put(c->st, &r, c->err);
}

/* The tutor's answer to exchange q: the text of its first reply by
 * SM_TUTOR_AUTHOR, malloc'd into *answer ("" if there is none). */
typedef struct answer_sink {
    char *text;
} answer_sink;

static int keep_tutor_answer(void *arg, const void *row)
{
    answer_sink *a = arg;
    const lms_reply *r = row;
    if (strcmp(r->author, SM_TUTOR_AUTHOR) != 0)
        return 0;
    a->text = strdup(r->text);
    return 1;
}

/* The escalated question: the student's note, then the exchange. */
static char *escalation_text(const char *note, const lms_query *q, const char *answer)
{
    char *out = NULL;
    int n = asprintf(&out,
                     "%s%s--- escalated from the tutor exchange #%" PRIu64
                     " (%s%s%s) ---\nQuestion:\n%s\n\nThe tutor answered:\n%s\n",
                     note, note[0] ? "\n\n" : "", q->id, q->provider,
                     q->model[0] ? ", " : "", q->model, q->text, answer);
    return n < 0 ? NULL : out;
}

/* Load exchange id and check that the actor, still a student of its
 * course, asked it. */
static int need_own_exchange(apply_ctx *c, uint64_t id, lms_query *q)
{
    int rc = need_query(c, id, q);
    if (rc || refused(c))
        return rc;
    set_object(c, "query %" PRIu64, id);
    if (judge(c, rule_escalate(q, c->cmd->actor, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    return need_enrolled(c, q->course, RULE_NEED_STUDENT, "ask questions");
}

/* A question to the instructors made from a tutor exchange: the student's
 * note with the question and the tutor's answer attached. */
static int apply_escalate(apply_ctx *c)
{
    const Lms__CmdEscalate *b = c->cmd->escalate;
    lms_query q;
    answer_sink a = {NULL};
    int rc = need_own_exchange(c, b->query_id, &q);
    if (rc || refused(c))
        return rc;
    check_text(c, &RULE_NOTE, b->text);
    if (refused(c))
        return LMS_OK;
    rc = c->ops->reply_list(c->st, q.id, keep_tutor_answer, &a, c->err);
    if (rc == LMS_OK)
        rc = c->ops->query_get(c->st, q.id, &q, c->err); /* q.text again */
    char *text = rc ? NULL : escalation_text(b->text, &q, a.text ? a.text : "");
    free(a.text);
    if (rc)
        return rc;
    if (!text)
        return lms_err_set(c->err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    lms_query e = {.id = c->index, .text = text, .created = c->cmd->time,
                   .kind = LMS_QUERY_INSTRUCTOR, .escalated_from = q.id};
    copy_str(e.course, sizeof e.course, q.course);
    copy_str(e.student, sizeof e.student, q.student);
    copy_str(e.title, sizeof e.title, q.title);
    c->res->id = c->index;
    rc = c->ops->query_put(c->st, &e, c->err);
    free(text);
    return rc;
}

/* An instructor of the course changes its system prompt and/or daily limit
 * of tutor questions; what is not set keeps its value. */
static int apply_tutor_settings(apply_ctx *c)
{
    const Lms__TutorSettingsRequest *b = c->cmd->tutor_settings->s;
    lms_course co;
    lms_course_settings s;
    if (!b)
        return refuse(c, LMS_INVALID_ARGUMENT, "tutor_settings carries no settings");
    int rc = need_course(c, b->course, &co);
    if (rc == LMS_OK && !refused(c))
        rc = need_enrolled(c, co.code, RULE_NEED_INSTRUCTOR, "change its tutor settings");
    if (rc || refused(c))
        return rc;
    set_object(c, "tutor settings of course %s", co.code);
    if (!b->set_prompt && !b->set_limit)
        refuse(c, LMS_INVALID_ARGUMENT, "nothing to change");
    if (b->set_prompt)
        check_text(c, &RULE_SYSTEM_PROMPT, b->system_prompt);
    if (b->set_limit)
        judge(c, rule_daily_limit(b->daily_limit, c->why, sizeof c->why));
    if (refused(c))
        return LMS_OK;
    rc = load_settings(c, co.code, &s);
    if (rc)
        return rc;
    if (b->set_prompt)
        s.system_prompt = b->system_prompt;
    if (b->set_limit)
        s.tutor_daily_limit = b->daily_limit;
    return c->ops->course_settings_put(c->st, &s, c->err);
}

/* ---- course materials ----------------------------------------------------- */

static int apply_upload_material(apply_ctx *c)
{
    const Lms__CmdUploadMaterial *b = c->cmd->upload_material;
    lms_course co;
    int rc = need_course(c, b->course, &co);
    if (rc == LMS_OK && !refused(c))
        rc = need_enrolled(c, co.code, RULE_NEED_INSTRUCTOR, "upload materials");
    if (rc || refused(c))
        return rc;
    set_object(c, "new material in course %s", co.code);
    check_text(c, &RULE_MATERIAL_TITLE, b->title);
    judge(c, rule_file_name(b->file_name, c->why, sizeof c->why));
    check_file_sha256(c, &b->data, &b->sha256);
    if (refused(c))
        return LMS_OK;
    lms_material mat = {.id = c->index, .size = b->data.len,
                        .created = c->cmd->time};
    copy_str(mat.course, sizeof mat.course, co.code);
    copy_str(mat.title, sizeof mat.title, b->title);
    copy_str(mat.file_name, sizeof mat.file_name, b->file_name);
    copy_str(mat.uploaded_by, sizeof mat.uploaded_by, c->cmd->actor);
    memcpy(mat.sha256, b->sha256.data, LMS_SHA256_LEN);
    c->res->id = c->index;
    rc = put_body(c, &b->data, &b->sha256);
    return rc != LMS_OK ? rc : c->ops->material_put(c->st, &mat, c->err);
}

/* lms-admin cluster-verify's marker: nothing changes (but the client's
 * dedup record); the answer is its index. Each node hashes its state
 * right after it (node_verify.c). */
static int apply_verify(apply_ctx *c)
{
    need_admin(c, "verify the cluster");
    if (!refused(c))
        c->res->id = c->index;
    return LMS_OK;
}

/* ---- changing, hiding and deleting assignments ------------------------------ */

/* Record a change of assignment id by the actor, now, in its state x. */
static int note_change(apply_ctx *c, uint64_t id, asg_state *x, const char *changed)
{
    asg_note(x, c->cmd->time, c->cmd->actor, changed);
    return asg_put(c->ops, c->st, id, x, c->err);
}

/* Change what the edit sets; lateness is judged against the times as they
 * are now (nothing stored per submission changes), fewer attempts or a
 * smaller file size keep what was handed in, and the points may not fall
 * below a grade already given. An edit that changes no value writes
 * nothing. */
static int apply_edit_assignment(apply_ctx *c)
{
    const Lms__EditAssignmentRequest *e = c->cmd->edit_assignment->e;
    lms_assignment a;
    asg_state x;
    uint32_t above = 0;
    char changed[ASG_CHANGED_MAX + 1];
    if (!e)
        return refuse(c, LMS_INVALID_ARGUMENT, "edit_assignment carries no changes");
    int rc = need_own_assignment(c, e->assignment_id, &a, &x, "edit its assignments");
    if (rc || refused(c))
        return rc;
    if (e->set_max_points && e->max_points < a.max_points)
        rc = asg_grades_above(c->ops, c->st, &a, e->max_points, &above, c->err);
    /* Load again: the enrolment check and the grades invalidated
     * a.description. */
    if (rc == LMS_OK)
        rc = c->ops->assignment_get(c->st, a.id, &a, c->err);
    if (rc)
        return rc;
    judge(c, rule_edit_given(asg_edit_apply(e, &a, &x, changed, sizeof changed), c->why,
                             sizeof c->why));
    if (e->set_title)
        check_text(c, &RULE_ASSIGNMENT_TITLE, e->title);
    if (e->set_description)
        check_text(c, &RULE_DESCRIPTION, e->description);
    judge(c, rule_assignment(&a, c->why, sizeof c->why));
    judge(c, rule_late_penalty(x.late_penalty, c->why, sizeof c->why));
    judge(c, rule_max_points_graded(a.max_points, above, c->why, sizeof c->why));
    if (refused(c))
        return LMS_OK;
    c->res->id = a.id;
    if (!changed[0])
        return LMS_OK;
    if ((rc = c->ops->assignment_put(c->st, &a, c->err)) != LMS_OK)
        return rc;
    return note_change(c, a.id, &x, changed);
}

/* Hide an assignment from its students, or show it again; setting what
 * it is already writes nothing. */
static int apply_hide_assignment(apply_ctx *c)
{
    const Lms__CmdHideAssignment *b = c->cmd->hide_assignment;
    lms_assignment a;
    asg_state x;
    int rc = need_own_assignment(c, b->assignment_id, &a, &x,
                                 b->hidden ? "hide its assignments" : "unhide its assignments");
    if (rc || refused(c))
        return rc;
    c->res->id = a.id;
    if (!x.hidden == !b->hidden)
        return LMS_OK;
    x.hidden = b->hidden;
    return note_change(c, a.id, &x, b->hidden ? "hidden" : "unhidden");
}

/* Delete an assignment nothing was submitted to: a tombstone in its
 * record (there is no storage op that deletes a row); from here on it
 * does not exist (asg_load). */
static int apply_delete_assignment(apply_ctx *c)
{
    uint64_t id = c->cmd->delete_assignment->assignment_id;
    lms_assignment a;
    asg_state x;
    uint32_t n = 0;
    int rc = need_own_assignment(c, id, &a, &x, "delete its assignments");
    if (rc == LMS_OK && !refused(c))
        rc = c->ops->submission_count(c->st, id, NULL, &n, c->err);
    if (rc || refused(c))
        return rc;
    if (judge(c, rule_delete_assignment(id, n, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    c->res->id = id;
    x.deleted = 1;
    return note_change(c, id, &x, "deleted");
}

/* ---- corrections: material versions, unenrolment, grade history -------- */

/* Material row id and its state: a material (not a row that keeps an old
 * version of another, materials.h) of a course the actor teaches, to verb
 * ("replace its materials"). A deleted one passes: each caller decides. */
static int need_own_material(apply_ctx *c, uint64_t id, lms_material *m,
                             material_state *s, const char *verb)
{
    int rc = need_numbered(c, c->ops->material_get(c->st, id, 0, m, c->err), "material",
                           id);
    if (rc == LMS_OK && !refused(c))
        rc = material_state_get(c->ops, c->st, id, s, c->err);
    if (rc || refused(c))
        return rc;
    if (judge(c, rule_material_shown(id, s->archive_of != 0, s->deleted, 1, c->why,
                                     sizeof c->why)) != LMS_OK)
        return LMS_OK;
    set_object(c, "material %" PRIu64, id);
    return need_enrolled(c, m->course, RULE_NEED_INSTRUCTOR, verb);
}

static void check_replacement(apply_ctx *c, const Lms__CmdReplaceMaterial *b,
                              const material_state *s)
{
    judge(c, rule_material_replace(s->deleted, c->why, sizeof c->why));
    if (b->title[0])
        check_text(c, &RULE_MATERIAL_TITLE, b->title);
    judge(c, rule_file_name(b->file_name, c->why, sizeof c->why));
    check_file_sha256(c, &b->data, &b->sha256);
    if (s->version == UINT32_MAX)
        refuse(c, LMS_FAILED_PRECONDITION, "has as many versions as it can have");
}

/* Keep the version row m holds in an archive row of its own (id: this
 * command's index; materials.h), so that its file stays referenced. */
static int keep_old_version(apply_ctx *c, const lms_material *m, const material_state *s)
{
    material_version v;
    material_version_of(m, s->version, &v);
    v.row = c->index;
    lms_material a = *m;
    a.id = c->index;
    material_state as = {.version = s->version, .archive_of = m->id,
                         .archive_version = s->version};
    int rc = c->ops->material_put(c->st, &a, c->err);
    if (rc == LMS_OK)
        rc = material_state_put(c->ops, c->st, a.id, &as, c->err);
    return rc != LMS_OK ? rc : material_version_put(c->ops, c->st, m->id, &v, c->err);
}

/* A new version of a material: the row takes it (every reader gets the
 * latest), the version it held moves to an archive row, and both are
 * recorded in the material's history. */
static int apply_replace_material(apply_ctx *c)
{
    const Lms__CmdReplaceMaterial *b = c->cmd->replace_material;
    lms_material m;
    material_state s;
    int rc = need_own_material(c, b->material_id, &m, &s, "replace its materials");
    if (rc || refused(c))
        return rc;
    check_replacement(c, b, &s);
    if (refused(c))
        return LMS_OK;
    if ((rc = keep_old_version(c, &m, &s)) != LMS_OK ||
        (rc = put_body(c, &b->data, &b->sha256)) != LMS_OK)
        return rc;
    if (b->title[0])
        copy_str(m.title, sizeof m.title, b->title);
    copy_str(m.file_name, sizeof m.file_name, b->file_name);
    copy_str(m.uploaded_by, sizeof m.uploaded_by, c->cmd->actor);
    m.size = b->data.len;
    m.created = c->cmd->time;
    memcpy(m.sha256, b->sha256.data, LMS_SHA256_LEN);
    s.version++;
    material_version v;
    material_version_of(&m, s.version, &v);
    c->res->id = m.id;
    if ((rc = c->ops->material_put(c->st, &m, c->err)) != LMS_OK ||
        (rc = material_version_put(c->ops, c->st, m.id, &v, c->err)) != LMS_OK)
        return rc;
    return material_state_put(c->ops, c->st, m.id, &s, c->err);
}

/* A tombstone: the row and its versions stay (the record of what was
 * taught), shown only to the course's staff. Deleting again changes
 * nothing. */
static int apply_delete_material(apply_ctx *c)
{
    lms_material m;
    material_state s;
    int rc = need_own_material(c, c->cmd->delete_material->material_id, &m, &s,
                               "delete its materials");
    if (rc || refused(c))
        return rc;
    c->res->id = m.id;
    if (s.deleted)
        return LMS_OK;
    s.deleted = 1;
    s.deleted_at = c->cmd->time;
    copy_str(s.deleted_by, sizeof s.deleted_by, c->cmd->actor);
    return material_state_put(c->ops, c->st, m.id, &s, c->err);
}

/* An admin takes user out of course: the enrolment row says no role
 * (enrolment_get answers LMS_ROLE_NONE: every course check refuses them)
 * and a record keeps that they were in it (unenrolment.h), so the
 * course's lists leave their work out. Their work stays stored. */
static int apply_unenroll(apply_ctx *c)
{
    const Lms__CmdUnenroll *b = c->cmd->unenroll;
    lms_course co;
    lms_user u;
    int role;
    int rc = need_admin(c, "unenroll users");
    if (rc == LMS_OK && !refused(c))
        rc = need_course(c, b->course, &co);
    if (rc || refused(c))
        return rc;
    set_object(c, "course %s", co.code);
    rc = need_user(c, b->user, &u);
    if (rc == LMS_OK && !refused(c))
        rc = enrolment_role(c, co.code, u.name, &role);
    if (rc || refused(c))
        return rc;
    if (judge(c, rule_unenroll(u.name, role, c->why, sizeof c->why)) != LMS_OK)
        return LMS_OK;
    unenrolment un = {.role = role, .unenrolled = c->cmd->time};
    copy_str(un.unenrolled_by, sizeof un.unenrolled_by, c->cmd->actor);
    lms_enrolment e = {.role = LMS_ROLE_NONE};
    copy_str(e.course, sizeof e.course, co.code);
    copy_str(e.user, sizeof e.user, u.name);
    rc = unenrolment_put(c->ops, c->st, co.code, u.name, &un, c->err);
    return rc != LMS_OK ? rc : c->ops->enrolment_put(c->st, &e, c->err);
}

static int any_entry(void *arg, uint64_t index, const lms_grade *g)
{
    *(int *)arg = 1;
    return 1;
}

/* Add g to its submission's grade history (grade_history.h), before the
 * grade row is replaced: a grade given before the history was kept goes
 * in first, as entry 0, so that regrading never loses it. */
static int record_grade(apply_ctx *c, const lms_grade *g)
{
    int any = 0, found;
    lms_grade old;
    int rc = grade_history_list(c->ops, c->st, g->submission_id, any_entry, &any, c->err);
    if (rc == LMS_OK && !any)
        rc = got(c, c->ops->grade_get(c->st, g->submission_id, &old, c->err), &found);
    if (rc == LMS_OK && !any && found)
        rc = grade_history_add(c->ops, c->st, 0, &old, c->err);
    return rc != LMS_OK ? rc : grade_history_add(c->ops, c->st, c->index, g, c->err);
}

/* ---- announcements and the inbox (inbox.h) ------------------------------------ */

/* An instructor of the course, or an admin (rule_announcer), posts an
 * announcement; its id is the log index. */
static int apply_announce(apply_ctx *c)
{
    const Lms__CmdAnnounce *b = c->cmd->announce;
    lms_course co;
    int role;
    int rc = need_course(c, b->course, &co);
    if (rc || refused(c))
        return rc;
    if ((rc = enrolment_role(c, co.code, c->cmd->actor, &role)) != LMS_OK)
        return rc;
    if (judge(c, rule_announcer(c->actor_role, role, co.code, c->why, sizeof c->why)))
        return LMS_OK;
    set_object(c, "new announcement in course %s", co.code);
    check_text(c, &RULE_ANNOUNCEMENT_TITLE, b->title);
    check_text(c, &RULE_ANNOUNCEMENT, b->text);
    if (refused(c))
        return LMS_OK;
    announcement a = {.id = c->index, .text = b->text, .created = c->cmd->time};
    copy_str(a.course, sizeof a.course, co.code);
    copy_str(a.author, sizeof a.author, c->cmd->actor);
    copy_str(a.title, sizeof a.title, b->title);
    c->res->id = c->index;
    return announcement_put(c->ops, c->st, &a, c->err);
}

/* A user read their own inbox up to b->up_to (rule_inbox_mark): the mark
 * only moves forward, so a late or repeated mark changes nothing. */
static int apply_inbox_seen(apply_ctx *c)
{
    const Lms__CmdInboxSeen *b = c->cmd->inbox_seen;
    int64_t seen;
    if (strcmp(b->user, c->cmd->actor) != 0)
        return refuse(c, LMS_PERMISSION_DENIED, "only %.64s may mark their inbox read",
                      b->user);
    if (judge(c, rule_inbox_mark(b->up_to, c->cmd->time, c->why, sizeof c->why)))
        return LMS_OK;
    int rc = inbox_mark_get(c->ops, c->st, b->user, &seen, c->err);
    if (rc != LMS_OK || b->up_to <= seen)
        return rc;
    return inbox_mark_put(c->ops, c->st, b->user, b->up_to, c->cmd->time, c->err);
}

/* ---- dispatch ------------------------------------------------------------- */

typedef int (*sm_handler)(apply_ctx *c);

/* Who may send a command: most need an actor that is a known user (else
 * apply refuses it as UNAUTHENTICATED); the rest check what they need
 * themselves (a session for a user being signed in, the first admin). */
enum apply_actor { ACTOR_KNOWN = 0, ACTOR_ANY = 1 };

#define C(x) LMS__COMMAND__BODY_##x
static const struct {
    sm_handler fn;
    enum apply_actor actor;
} handlers[] = {
    [C(NOOP)] = {.fn = apply_noop, .actor = ACTOR_ANY},
    [C(CREATE_SESSION)] = {.fn = apply_create_session, .actor = ACTOR_ANY},
    [C(DELETE_SESSION)] = {.fn = apply_delete_session, .actor = ACTOR_KNOWN},
    [C(CREATE_USER)] = {.fn = apply_create_user, .actor = ACTOR_ANY},
    [C(IMPORT_USERS)] = {.fn = apply_import_users, .actor = ACTOR_KNOWN},
    [C(CREATE_COURSE)] = {.fn = apply_create_course, .actor = ACTOR_KNOWN},
    [C(ENROLL)] = {.fn = apply_enroll, .actor = ACTOR_KNOWN},
    [C(CREATE_ASSIGNMENT)] = {.fn = apply_create_assignment, .actor = ACTOR_KNOWN},
    [C(SUBMIT)] = {.fn = apply_submit, .actor = ACTOR_KNOWN},
    [C(GRADE)] = {.fn = apply_grade, .actor = ACTOR_KNOWN},
    [C(RELEASE)] = {.fn = apply_release, .actor = ACTOR_KNOWN},
    [C(EXTEND)] = {.fn = apply_extend, .actor = ACTOR_KNOWN},
    [C(ASK)] = {.fn = apply_ask, .actor = ACTOR_KNOWN},
    [C(REPLY)] = {.fn = apply_reply, .actor = ACTOR_KNOWN},
    [C(RESOLVE)] = {.fn = apply_resolve, .actor = ACTOR_KNOWN},
    [C(UPLOAD_MATERIAL)] = {.fn = apply_upload_material, .actor = ACTOR_KNOWN},
    [C(TUTOR_EXCHANGE)] = {.fn = apply_tutor_exchange, .actor = ACTOR_KNOWN},
    [C(ESCALATE)] = {.fn = apply_escalate, .actor = ACTOR_KNOWN},
    [C(TUTOR_SETTINGS)] = {.fn = apply_tutor_settings, .actor = ACTOR_KNOWN},
    [C(SHARE)] = {.fn = apply_share, .actor = ACTOR_KNOWN},
    [C(VERIFY)] = {.fn = apply_verify, .actor = ACTOR_KNOWN},
    [C(SET_PASSWORD)] = {.fn = apply_set_password, .actor = ACTOR_KNOWN},
    [C(SET_USER_ENABLED)] = {.fn = apply_set_user_enabled, .actor = ACTOR_KNOWN},
    [C(EDIT_ASSIGNMENT)] = {.fn = apply_edit_assignment, .actor = ACTOR_KNOWN},
    [C(DELETE_ASSIGNMENT)] = {.fn = apply_delete_assignment, .actor = ACTOR_KNOWN},
    [C(HIDE_ASSIGNMENT)] = {.fn = apply_hide_assignment, .actor = ACTOR_KNOWN},
    [C(REPLACE_MATERIAL)] = {.fn = apply_replace_material, .actor = ACTOR_KNOWN},
    [C(DELETE_MATERIAL)] = {.fn = apply_delete_material, .actor = ACTOR_KNOWN},
    [C(UNENROLL)] = {.fn = apply_unenroll, .actor = ACTOR_KNOWN},
    [C(ANNOUNCE)] = {.fn = apply_announce, .actor = ACTOR_KNOWN},
    [C(INBOX_SEEN)] = {.fn = apply_inbox_seen, .actor = ACTOR_KNOWN},
};
#undef C

/* The actor's global role, LMS_ROLE_NONE when there is no such user. */
static int load_actor(apply_ctx *c)
{
    lms_user u;
    int found = 0, rc = LMS_OK;
    const char *name = c->cmd->actor;
    c->actor_role = LMS_ROLE_NONE;
    if (name[0] && fits_name(name))
        rc = got(c, c->ops->user_get(c->st, name, &u, c->err), &found);
    if (found)
        c->actor_role = u.role;
    return rc;
}

static int run_command(apply_ctx *c)
{
    size_t body = (size_t)c->cmd->body_case;
    /* Every member of the body union is a message pointer: a command whose
     * body case is set but whose body is missing is no command at all. */
    if (body >= sizeof handlers / sizeof handlers[0] || !handlers[body].fn ||
        !c->cmd->noop)
        return refuse(c, LMS_INVALID_ARGUMENT, "unknown command");
    int rc = load_actor(c);
    if (rc || handlers[body].actor == ACTOR_ANY || c->actor_role != LMS_ROLE_NONE)
        return rc ? rc : handlers[body].fn(c);
    if (c->cmd->actor[0] == '\0')
        return refuse(c, LMS_UNAUTHENTICATED, "sign in first");
    return refuse(c, LMS_UNAUTHENTICATED, "user %.64s does not exist; sign in again",
                  c->cmd->actor);
}

/* ---- dedup, housekeeping, the entry point ------------------------------------ */

/* The rows of res and the request's digest encoded for the record
 * (malloc'd; NULL when there is neither). */
static uint8_t *encode_answer(const sm_result *res, ProtobufCBinaryData request,
                              size_t *len)
{
    *len = 0;
    if (res->nrows == 0 && request.len == 0)
        return NULL;
    Lms__ImportResult *v = calloc(res->nrows ? res->nrows : 1, sizeof *v);
    Lms__ImportResult **pv = calloc(res->nrows ? res->nrows : 1, sizeof *pv);
    uint8_t *out = NULL;
    if (v && pv) {
        for (size_t i = 0; i < res->nrows; i++) {
            lms__import_result__init(&v[i]);
            v[i].line = res->rows[i].line;
            v[i].name = (char *)res->rows[i].name;
            v[i].status = (Lms__Status)res->rows[i].status;
            v[i].message = (char *)res->rows[i].message;
            pv[i] = &v[i];
        }
        Lms__RecordedRows m = LMS__RECORDED_ROWS__INIT;
        m.n_rows = res->nrows;
        m.rows = pv;
        m.request = request;
        *len = lms__recorded_rows__get_packed_size(&m);
        out = malloc(*len ? *len : 1);
        if (out)
            lms__recorded_rows__pack(&m, out);
    }
    free(v);
    free(pv);
    return out;
}

/* Keep the whole answer so that a retry of this (client_id, seq) gets it
 * again: status, message, id and the rows of a report; and the digest of
 * the request, so that only the same request gets it. */
static int remember(apply_ctx *c)
{
    lms_client_record r = {.client_id = c->cmd->client_id, .seq = c->cmd->seq,
                           .status = c->res->status, .result_id = c->res->id,
                           .updated = c->cmd->time};
    copy_str(r.message, sizeof r.message, c->res->message);
    uint8_t *rows = encode_answer(c->res, c->cmd->request, &r.answer_len);
    if ((c->res->nrows || c->cmd->request.len) && !rows)
        return lms_err_set(c->err, LMS_RESOURCE_EXHAUSTED,
                           "out of memory keeping the answer of client %" PRIu64,
                           r.client_id);
    r.answer = rows;
    int rc = c->ops->client_put(c->st, &r, c->err);
    free(rows);
    return rc;
}

/* The rows of a recorded answer; a record that does not decode keeps its
 * status, message and id (the rows are a report, not state). */
static int decode_rows(const Lms__RecordedRows *m, sm_result *res)
{
    if (!m || m->n_rows == 0 || m->n_rows > RULE_IMPORT_MAX)
        return LMS_OK;
    res->rows = calloc(m->n_rows, sizeof *res->rows);
    if (!res->rows)
        return LMS_RESOURCE_EXHAUSTED;
    res->nrows = m->n_rows;
    for (size_t i = 0; i < m->n_rows; i++)
        row_from_pb(m->rows[i], &res->rows[i], 1);
    return LMS_OK;
}

/* Was the record written by another request than the one with this
 * digest? Unknown (no digest on either side: a record or a command from
 * before digests) counts as the same. */
static int other_request(const Lms__RecordedRows *m, const uint8_t *request,
                         size_t request_len)
{
    if (!m || m->request.len == 0 || request_len == 0)
        return 0;
    return m->request.len != request_len ||
           memcmp(m->request.data, request, request_len) != 0;
}

int sm_record_answer(const lms_client_record *r, uint64_t seq, const uint8_t *request,
                     size_t request_len, sm_result *res)
{
    memset(res, 0, sizeof *res);
    if (seq > r->seq)
        return 0;
    if (seq < r->seq) {
        res->status = LMS_FAILED_PRECONDITION;
        snprintf(res->message, sizeof res->message,
                 "stale request: client %" PRIu64 " already sent request %" PRIu64
                 " (this one is %" PRIu64 ")",
                 r->client_id, r->seq, seq);
        return 1;
    }
    Lms__RecordedRows *m = NULL;
    if (r->answer && r->answer_len)
        m = lms__recorded_rows__unpack(NULL, r->answer_len, r->answer);
    if (other_request(m, request, request_len)) {
        /* Not a retry: its answer (an id, read back by the request's
         * handler) is another request's, maybe another user's. */
        lms__recorded_rows__free_unpacked(m, NULL);
        res->status = LMS_FAILED_PRECONDITION;
        snprintf(res->message, sizeof res->message,
                 "client %" PRIu64 " already sent another request as request %" PRIu64
                 "; a retry must repeat it exactly, a new write needs a new seq",
                 r->client_id, seq);
        return 1;
    }
    res->status = r->status;
    copy_str(res->message, sizeof res->message, r->message);
    res->id = r->result_id;
    res->deduplicated = 1;
    int rc = decode_rows(m, res);
    if (m)
        lms__recorded_rows__free_unpacked(m, NULL);
    if (rc != LMS_OK) {
        sm_result_free(res);
        return -1;
    }
    return 1;
}

/* Answer a retry from the client's record, apply a new request, refuse an
 * old one (its answer is gone: the client has moved on). */
static int answer(apply_ctx *c)
{
    const Lms__Command *cmd = c->cmd;
    lms_client_record r;
    int found;
    if (cmd->client_id == 0)
        return run_command(c);
    memset(&r, 0, sizeof r);
    int rc = got(c, c->ops->client_get(c->st, cmd->client_id, &r, c->err), &found);
    if (rc)
        return rc;
    if (found) {
        int known = sm_record_answer(&r, cmd->seq, cmd->request.data, cmd->request.len,
                                     c->res);
        if (known < 0)
            return lms_err_set(c->err, LMS_RESOURCE_EXHAUSTED,
                               "out of memory answering a retry of client %" PRIu64,
                               cmd->client_id);
        if (known > 0)
            return LMS_OK;
    }
    rc = run_command(c);
    return rc ? rc : remember(c);
}

/* Forget dedup records older than SM_CLIENT_RECORD_TTL_MS and expired
 * sessions. Driven by the index and the command's time, so every node
 * prunes the same rows at the same point of the log. */
static int housekeeping(apply_ctx *c)
{
    int64_t now = c->cmd->time;
    int64_t before = now >= INT64_MIN + SM_CLIENT_RECORD_TTL_MS
                         ? now - SM_CLIENT_RECORD_TTL_MS
                         : INT64_MIN;
    int rc = c->ops->client_prune(c->st, before, c->err);
    return rc ? rc : c->ops->session_prune(c->st, now, c->err);
}

/*
 * Apply the command at log index `index` inside the caller's transaction.
 * res is reset first; on LMS_OK it holds the answer (rows owned by the
 * caller: sm_result_free). On failure nothing is left allocated and err
 * says what failed; the caller must roll back and stop.
 */
/* May applying cmd change who a token stands for? Every kind not known
 * to leave users and sessions alone does (a new kind is safe by
 * default). */
static int changes_auth(const Lms__Command *cmd)
{
    switch (cmd->body_case) {
    case LMS__COMMAND__BODY_NOOP:
    case LMS__COMMAND__BODY_CREATE_COURSE:
    case LMS__COMMAND__BODY_ENROLL:
    case LMS__COMMAND__BODY_CREATE_ASSIGNMENT:
    case LMS__COMMAND__BODY_SUBMIT:
    case LMS__COMMAND__BODY_GRADE:
    case LMS__COMMAND__BODY_RELEASE:
    case LMS__COMMAND__BODY_EXTEND:
    case LMS__COMMAND__BODY_ASK:
    case LMS__COMMAND__BODY_REPLY:
    case LMS__COMMAND__BODY_RESOLVE:
    case LMS__COMMAND__BODY_UPLOAD_MATERIAL:
    case LMS__COMMAND__BODY_TUTOR_EXCHANGE:
    case LMS__COMMAND__BODY_ESCALATE:
    case LMS__COMMAND__BODY_TUTOR_SETTINGS:
    case LMS__COMMAND__BODY_SHARE:
    case LMS__COMMAND__BODY_VERIFY:
    case LMS__COMMAND__BODY_EDIT_ASSIGNMENT:
    case LMS__COMMAND__BODY_DELETE_ASSIGNMENT:
    case LMS__COMMAND__BODY_HIDE_ASSIGNMENT:
    case LMS__COMMAND__BODY_REPLACE_MATERIAL:
    case LMS__COMMAND__BODY_DELETE_MATERIAL:
    case LMS__COMMAND__BODY_UNENROLL:
    case LMS__COMMAND__BODY_ANNOUNCE:
    case LMS__COMMAND__BODY_INBOX_SEEN:
        return 0;
    default:
        return 1;
    }
}

void sm_auth_begin(sm *m)
{
    uint64_t e = atomic_load(&m->auth_epoch);
    if (sm_auth_stable(e))
        atomic_store(&m->auth_epoch, e + 1);
}

void sm_auth_end(sm *m)
{
    uint64_t e = atomic_load(&m->auth_epoch);
    if (!sm_auth_stable(e))
        atomic_store(&m->auth_epoch, e + 1);
}

int sm_apply(sm *m, uint64_t index, const Lms__Command *cmd, sm_result *res,
             lms_err *err)
{
    apply_ctx c = {.ops = m->ops, .st = m->st, .files = m->files,
                   .index = index, .cmd = cmd, .res = res, .err = err};
    memset(res, 0, sizeof *res);
    lms_err_clear(err);
    int rc = answer(&c);
    if (rc == LMS_OK && index % SM_HOUSEKEEPING_EVERY == 0)
        rc = housekeeping(&c);
    if (changes_auth(cmd) || index % SM_HOUSEKEEPING_EVERY == 0)
        sm_auth_begin(m); /* also on failure: the store may have changed;
                             the caller ends it once it commits or rolls
                             back (sm_auth_end) */
    if (rc != LMS_OK) {
        sm_result_free(res);
        if (err && err->code == LMS_OK)
            lms_err_set(err, rc, "storage failed applying log entry %" PRIu64, index);
    }
    return rc;
}

void sm_result_free(sm_result *res)
{
    free(res->rows);
    res->rows = NULL;
    res->nrows = 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * handlers_account.c: sessions, users, courses and enrolment.
 *
 * Passwords are checked and hashed on the worker pool (work()), never on
 * the loop or the storage thread and never in apply; the command carries
 * only the hash. Tokens are 256 random bits; only their SHA-256 is stored
 * or logged as part of a command.
 */
#include "handlers.h"

#include "accounts.h"
#include "lms_assert.h"
#include "log.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define HASH_MAX 512

/* Hash pw with the auth plugin into an arena string; NULL (and r->resp
 * set) on failure. Worker thread. */
static char *hash_password(req *r, const char *pw)
{
    const dispatch_options *o = req_opts(r);
    char *out = req_alloc(r, HASH_MAX);
    lms_err err = {0};
    if (o->auth->hash(o->auth_inst, pw, out, HASH_MAX, &err) != LMS_OK) {
        log_error("auth: cannot hash a password: %s", err.msg);
        req_fail(r, LMS_INTERNAL, "cannot hash the password; see the server log");
        return NULL;
    }
    return out;
}

/* ---- login / logout / whoami ---------------------------------------- */

typedef struct login_state {
    char *stored; /* the user's password hash, NULL if no such user */
    account_state acct;
    int assists;  /* a student who is a TA of some course (LoginResponse) */
} login_state;

static int find_assisted(void *arg, const void *row)
{
    int *yes = arg;
    *yes = ((const lms_course *)row)->my_role == LMS_ROLE_TA;
    return *yes; /* one is enough */
}


static next_step login_prepare(req *r)
{
    const Lms__LoginRequest *q = r->msg->login;
    if (!q->name[0] || strlen(q->name) > LMS_NAME_MAX)
        return req_fail(r, LMS_INVALID_ARGUMENT, "user name must be 1 to %d bytes",
                        LMS_NAME_MAX);
    if (!q->password[0] || strlen(q->password) > RULE_PASSWORD_MAX)
        return req_fail(r, LMS_INVALID_ARGUMENT, "password must be 1 to %d bytes",
                        RULE_PASSWORD_MAX);
    login_state *s = req_alloc(r, sizeof *s);
    r->scratch = s;
    lms_user u;
    lms_err err = {0};
    int rc = req_ops(r)->user_get(req_st(r), q->name, &u, &err);
    if (rc == LMS_OK) {
        s->stored = req_strdup(r, u.password_hash);
        snprintf(r->who.name, sizeof r->who.name, "%s", u.name);
        snprintf(r->who.full_name, sizeof r->who.full_name, "%s", u.full_name);
        r->who.role = u.role;
        r->who.created = u.created;
        if (account_get(req_ops(r), req_st(r), u.name, &s->acct, &err) != LMS_OK)
            return req_storage_error(r, &err);
        /* on the reader, not in the answer on the storage thread: only a
         * student's login needs it (lms-instructor, cmd_common.c) */
        if (u.role == LMS_ROLE_STUDENT &&
            req_ops(r)->course_list(req_st(r), u.name, find_assisted, &s->assists, &err) !=
                LMS_OK)
            return req_storage_error(r, &err);
        r->who.must_change = s->acct.must_change;
    } else if (rc != LMS_NOT_FOUND) {
        return req_storage_error(r, &err);
    }
    return NEXT_WORK;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static next_step login_work(req *r)
{
    const dispatch_options *o = req_opts(r);
    login_state *s = r->scratch;
    const Lms__LoginRequest *q = r->msg->login;
    lms_err err = {0};
    int verdict;
    if (s->stored) {
        verdict = o->auth->verify(o->auth_inst, q->name, q->password, s->stored, &err);
    } else {
        /* No such user: spend the same time, so timing does not tell. */
        char dummy[HASH_MAX];
        o->auth->hash(o->auth_inst, q->password, dummy, sizeof dummy, NULL);
        verdict = LMS_AUTH_DENIED;
    }
    if (verdict == LMS_AUTH_ERROR)
        log_error("auth: cannot verify user %s: %s", q->name, err.msg);
    /* The login guard counts a wrong password (an unknown name included),
     * not an error of the auth plugin. */
    r->login_verdict = verdict == LMS_AUTH_OK      ? LOGIN_VERDICT_OK
                       : verdict == LMS_AUTH_ERROR ? LOGIN_VERDICT_NONE
                                                   : LOGIN_VERDICT_DENIED;
    if (verdict != LMS_AUTH_OK) {
        log_info("login refused for '%s'", q->name);
        return req_fail(r, LMS_UNAUTHENTICATED, "invalid user name or password");
    }
    /* only to whoever knows the password: the account exists, disabled */
    if (s->acct.disabled) {
        log_info("login refused for '%s': the account is disabled", q->name);
        return req_fail(r, LMS_PERMISSION_DENIED,
                        "user %s is disabled; ask an admin to enable it", r->who.name);
    }
    uint8_t raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return req_fail(r, LMS_INTERNAL, "no randomness for a session token");
    hex(raw, sizeof raw, r->secret);
    explicit_bzero(raw, sizeof raw);

    Lms__CmdCreateSession *c = req_alloc(r, sizeof *c);
    lms__cmd_create_session__init(c);
    uint8_t *th = req_alloc(r, 32);
    dispatch_token_hash(r->secret, th);
    c->token_hash.data = th;
    c->token_hash.len = 32;
    c->user = r->who.name;
    c->expires = r->now + req_limits(r)->session_ttl_ms;
    c->max_sessions = req_limits(r)->max_sessions_per_user;
    r->who.session_expires = c->expires;
    r->cmd.body_case = LMS__COMMAND__BODY_CREATE_SESSION;
    r->cmd.create_session = c;
    return NEXT_PROPOSE;
}

static Lms__User *who_user(req *r)
{
    lms_user u = {0};
    snprintf(u.name, sizeof u.name, "%s", r->who.name);
    snprintf(u.full_name, sizeof u.full_name, "%s", r->who.full_name);
    u.role = r->who.role;
    u.created = r->who.created;
    Lms__User *m = pb_user(r, &u);
    m->must_change_password = r->who.must_change;
    return m;
}

static void login_applied(req *r)
{
    Lms__LoginResponse *m = req_alloc(r, sizeof *m);
    lms__login_response__init(m);
    LMS_ASSERT(r->scratch); /* login_prepare's, never a dedup answer */
    m->assists = ((login_state *)r->scratch)->assists;
    m->must_change_password = r->who.must_change;
    m->token = req_strdup(r, r->secret);
    m->user = who_user(r);
    m->expires = r->who.session_expires;
    r->resp.body_case = LMS__RESPONSE__BODY_LOGIN;
    r->resp.login = m;
    log_info("user '%s' logged in", r->who.name);
}

static next_step logout_prepare(req *r)
{
    Lms__CmdDeleteSession *c = req_alloc(r, sizeof *c);
    lms__cmd_delete_session__init(c);
    c->token_hash.data = req_memdup(r, r->who.token_hash, 32);
    c->token_hash.len = 32;
    r->cmd.body_case = LMS__COMMAND__BODY_DELETE_SESSION;
    r->cmd.delete_session = c;
    return NEXT_PROPOSE;
}

static next_step whoami_prepare(req *r)
{
    Lms__WhoamiResponse *m = req_alloc(r, sizeof *m);
    lms__whoami_response__init(m);
    m->user = who_user(r);
    m->expires = r->who.session_expires;
    r->resp.body_case = LMS__RESPONSE__BODY_WHOAMI;
    r->resp.whoami = m;
    return NEXT_RESPOND;
}

/* ---- users ---------------------------------------------------------- */

/* The early checks of apply's add_user, in its order, then the password
 * (which apply never sees). */
static next_step add_user_prepare(req *r)
{
    const Lms__AddUserRequest *q = r->msg->add_user;
    char why[RULE_MSG_MAX];
    /* named as apply names a user about to be created */
    const char *obj = q->name[0] ? "user " : "new user";
    if (req_verdict_on(r, rule_user_name(q->name, why, sizeof why), why, "%s%.64s", obj,
                       q->name) < 0 ||
        req_verdict_on(r, rule_user_role((int)q->role, why, sizeof why), why, "%s%.64s", obj,
                       q->name) < 0 ||
        req_check_text(r, &RULE_FULL_NAME, q->full_name) < 0 ||
        req_verdict(r, rule_password(q->password, why, sizeof why), why) < 0)
        return NEXT_RESPOND;
    lms_user u;
    lms_err err = {0};
    int rc = req_ops(r)->user_get(req_st(r), q->name, &u, &err);
    if (rc == LMS_OK)
        return req_fail(r, LMS_ALREADY_EXISTS, "user %s: already exists", q->name);
    if (rc != LMS_NOT_FOUND)
        return req_storage_error(r, &err);
    return NEXT_WORK;
}

static next_step add_user_work(req *r)
{
    const Lms__AddUserRequest *q = r->msg->add_user;
    char *h = hash_password(r, q->password);
    if (!h)
        return NEXT_RESPOND;
    Lms__CmdCreateUser *c = req_alloc(r, sizeof *c);
    lms__cmd_create_user__init(c);
    c->name = q->name;
    c->role = q->role;
    c->full_name = q->full_name;
    c->password_hash = h;
    c->must_change_password = q->must_change_password;
    r->cmd.body_case = LMS__COMMAND__BODY_CREATE_USER;
    r->cmd.create_user = c;
    return NEXT_PROPOSE;
}

static void add_user_applied(req *r)
{
    lms_user u;
    if (req_ops(r)->user_get(req_st(r), r->msg->add_user->name, &u, NULL) == LMS_OK) {
        r->resp.body_case = LMS__RESPONSE__BODY_USER;
        r->resp.user = pb_user(r, &u);
    }
}

/* The users and the account records, both ordered by name: merged. */
typedef struct user_walk {
    ptr_vec users;
    ptr_vec names;  /* of the account records (char *) */
    ptr_vec states; /* account_state * */
    size_t next;    /* the first record not matched yet */
} user_walk;

static int account_each(void *arg, const char *user, const account_state *a)
{
    req *r = arg;
    user_walk *w = r->scratch;
    ptr_vec_push(r, &w->names, req_strdup(r, user));
    ptr_vec_push(r, &w->states, req_memdup(r, a, sizeof *a));
    return 0;
}

static int user_each(void *arg, const void *row)
{
    req *r = arg;
    user_walk *w = r->scratch;
    const lms_user *u = row;
    Lms__User *m = pb_user(r, u);
    while (w->next < w->names.n && strcmp(w->names.v[w->next], u->name) < 0)
        w->next++; /* a record of a user that is not listed */
    if (w->next < w->names.n && strcmp(w->names.v[w->next], u->name) == 0) {
        const account_state *a = w->states.v[w->next++];
        m->disabled = a->disabled;
        m->must_change_password = a->must_change;
    }
    ptr_vec_push(r, &w->users, m);
    return 0;
}

static next_step list_users_prepare(req *r)
{
    user_walk *w = req_alloc(r, sizeof *w);
    ptr_vec *pv = &w->users;
    r->scratch = w;
    lms_err err = {0};
    if (account_list(req_ops(r), req_st(r), account_each, r, &err) != LMS_OK ||
        req_ops(r)->user_list(req_st(r), user_each, r, &err) != LMS_OK)
        return req_storage_error(r, &err);
    Lms__UsersResponse *m = req_alloc(r, sizeof *m);
    lms__users_response__init(m);
    m->n_users = pv->n;
    m->users = (Lms__User **)pv->v;
    r->resp.body_case = LMS__RESPONSE__BODY_USERS;
    r->resp.users = m;
    return NEXT_RESPOND;
}

/* ---- bulk import ---------------------------------------------------- */

typedef struct import_state {
    ptr_vec report;  /* Lms__ImportResult*, rows refused before proposing */
    ptr_vec valid;   /* Lms__ImportRow*, to hash and propose */
    ptr_vec roles;   /* role per valid row, as (void *)(intptr_t) */
    int proposed;    /* the command holds the early refusals too */
} import_state;

static int parse_role(const char *s)
{
    if (!strcasecmp(s, "student"))
        return LMS_ROLE_STUDENT;
    if (!strcasecmp(s, "instructor"))
        return LMS_ROLE_INSTRUCTOR;
    if (!strcasecmp(s, "admin"))
        return LMS_ROLE_ADMIN;
    return LMS_ROLE_NONE;
}

static void report_row(req *r, ptr_vec *pv, uint32_t line, const char *name,
                       int status, const char *msg)
{
    Lms__ImportResult *x = req_alloc(r, sizeof *x);
    lms__import_result__init(x);
    x->line = line;
    x->name = req_strdup(r, name);
    x->status = (Lms__Status)status;
    x->message = req_strdup(r, msg);
    ptr_vec_push(r, pv, x);
}

/* Early, per-row checks (the rules apply's add_user asks, and the
 * password, which apply never sees); the rest is sm_apply's. NULL, or the
 * reason (in why) with *status. */
static const char *import_row_problem(req *r, const Lms__ImportRow *row,
                                      int *status, char *why, size_t cap)
{
    lms_user u;
    if ((*status = rule_user_name(row->name, why, cap)) != LMS_OK ||
        (*status = rule_user_role(parse_role(row->role), why, cap)) != LMS_OK ||
        (*status = rule_text(&RULE_FULL_NAME, row->full_name, why, cap)) != LMS_OK ||
        (*status = rule_password(row->password, why, cap)) != LMS_OK)
        return why;
    import_state *s = r->scratch;
    for (size_t i = 0; i < s->valid.n; i++)
        if (!strcmp(((Lms__ImportRow *)s->valid.v[i])->name, row->name)) {
            *status = LMS_ALREADY_EXISTS;
            return "user appears twice in the file";
        }
    if (req_ops(r)->user_get(req_st(r), row->name, &u, NULL) == LMS_OK) {
        *status = LMS_ALREADY_EXISTS;
        return "user already exists";
    }
    return NULL;
}

static next_step import_prepare(req *r)
{
    const Lms__ImportUsersRequest *q = r->msg->import_users;
    import_state *s = req_alloc(r, sizeof *s);
    r->scratch = s;
    char why[RULE_MSG_MAX];
    if (q->n_rows == 0)
        return req_fail(r, LMS_INVALID_ARGUMENT, "no rows to import");
    if (req_verdict(r, rule_import_size(q->n_rows, why, sizeof why), why) < 0)
        return NEXT_RESPOND;
    for (size_t i = 0; i < q->n_rows; i++) {
        const Lms__ImportRow *row = q->rows[i];
        int status;
        const char *problem = import_row_problem(r, row, &status, why, sizeof why);
        if (problem) {
            report_row(r, &s->report, row->line, row->name, status, problem);
            continue;
        }
        ptr_vec_push(r, &s->valid, q->rows[i]);
        ptr_vec_push(r, &s->roles, (void *)(intptr_t)parse_role(row->role));
    }
    return NEXT_WORK;
}

/* The answer: the rows refused early (when nothing was proposed), else
 * the rows of the applied command, which holds the early ones too (also
 * when answered from the client's dedup record, with no scratch). */
static void import_answer(req *r)
{
    import_state *s = r->scratch;
    ptr_vec applied = {0}, *report = &applied;
    if (s && !s->proposed)
        report = &s->report;
    for (size_t i = 0; i < r->res.nrows; i++) {
        const sm_row_result *x = &r->res.rows[i];
        report_row(r, report, x->line, x->name, x->status,
                   x->status == LMS_OK ? "created" : x->message);
    }
    /* order the report by line */
    Lms__ImportResult **v = (Lms__ImportResult **)report->v;
    for (size_t i = 1; i < report->n; i++)
        for (size_t j = i; j > 0 && v[j - 1]->line > v[j]->line; j--) {
            Lms__ImportResult *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    Lms__ImportUsersResponse *m = req_alloc(r, sizeof *m);
    lms__import_users_response__init(m);
    m->n_results = report->n;
    m->results = v;
    m->created = (uint32_t)r->res.id;
    r->resp.body_case = LMS__RESPONSE__BODY_IMPORT_USERS;
    r->resp.import_users = m;
}

static next_step import_work(req *r)
{
    import_state *s = r->scratch;
    if (s->valid.n == 0) {
        import_answer(r);
        return NEXT_RESPOND;
    }
    Lms__CmdImportUsers *c = req_alloc(r, sizeof *c);
    lms__cmd_import_users__init(c);
    c->n_users = s->valid.n;
    c->users = req_alloc(r, s->valid.n * sizeof *c->users);
    c->n_lines = s->valid.n;
    c->lines = req_alloc(r, s->valid.n * sizeof *c->lines);
    for (size_t i = 0; i < s->valid.n; i++) {
        const Lms__ImportRow *row = s->valid.v[i];
        Lms__CmdCreateUser *u = req_alloc(r, sizeof *u);
        lms__cmd_create_user__init(u);
        u->name = row->name;
        u->role = (Lms__Role)(intptr_t)s->roles.v[i];
        u->full_name = row->full_name;
        u->must_change_password = r->msg->import_users->must_change_password;
        u->password_hash = hash_password(r, row->password);
        if (!u->password_hash)
            return NEXT_RESPOND;
        c->users[i] = u;
        c->lines[i] = row->line;
    }
    s->proposed = 1;
    c->n_refused = s->report.n;
    c->refused = (Lms__ImportResult **)s->report.v;
    r->cmd.body_case = LMS__COMMAND__BODY_IMPORT_USERS;
    r->cmd.import_users = c;
    return NEXT_PROPOSE;
}

/* ---- courses and enrolment ------------------------------------------ */

static next_step create_course_prepare(req *r)
{
    const Lms__CreateCourseRequest *q = r->msg->create_course;
    char why[RULE_MSG_MAX];
    if (req_verdict_on(r, rule_course_code(q->code, why, sizeof why), why, "%s%.64s",
                       q->code[0] ? "course " : "new course", q->code) < 0 ||
        req_check_text(r, &RULE_COURSE_TITLE, q->title) < 0)
        return NEXT_RESPOND;
    Lms__CmdCreateCourse *c = req_alloc(r, sizeof *c);
    lms__cmd_create_course__init(c);
    c->code = q->code;
    c->title = q->title;
    r->cmd.body_case = LMS__COMMAND__BODY_CREATE_COURSE;
    r->cmd.create_course = c;
    return NEXT_PROPOSE;
}

static void create_course_applied(req *r)
{
    lms_course c;
    if (req_ops(r)->course_get(req_st(r), r->msg->create_course->code, &c,
                               NULL) == LMS_OK) {
        r->resp.body_case = LMS__RESPONSE__BODY_COURSE;
        r->resp.course = pb_course(r, &c);
    }
}

static int course_each(void *arg, const void *row)
{
    req *r = arg;
    /* a row of the caller's with no role: a course they left */
    if (r->who.role != LMS_ROLE_ADMIN && ((const lms_course *)row)->my_role == LMS_ROLE_NONE)
        return 0;
    ptr_vec_push(r, r->scratch, pb_course(r, row));
    return 0;
}

static next_step list_courses_prepare(req *r)
{
    ptr_vec *pv = req_alloc(r, sizeof *pv);
    r->scratch = pv;
    lms_err err = {0};
    const char *who = r->who.role == LMS_ROLE_ADMIN ? NULL : r->who.name;
    if (req_ops(r)->course_list(req_st(r), who, course_each, r, &err) != LMS_OK)
        return req_storage_error(r, &err);
    Lms__CoursesResponse *m = req_alloc(r, sizeof *m);
    lms__courses_response__init(m);
    m->n_courses = pv->n;
    m->courses = (Lms__Course **)pv->v;
    r->resp.body_case = LMS__RESPONSE__BODY_COURSES;
    r->resp.courses = m;
    return NEXT_RESPOND;
}

static next_step enroll_prepare(req *r)
{
    const Lms__EnrollRequest *q = r->msg->enroll;
    char why[RULE_MSG_MAX];
    if (req_verdict(r, rule_enrol_role((int)q->role, why, sizeof why), why) < 0)
        return NEXT_RESPOND;
    Lms__CmdEnroll *c = req_alloc(r, sizeof *c);
    lms__cmd_enroll__init(c);
    c->course = q->course;
    c->user = q->user;
    c->role = q->role;
    r->cmd.body_case = LMS__COMMAND__BODY_ENROLL;
    r->cmd.enroll = c;
    return NEXT_PROPOSE;
}

/* ---- passwords and disabled accounts ---------------------------------- */

typedef struct passwd_state {
    char *stored; /* the caller's password hash as read */
} passwd_state;

/* passwd: the caller's own password. The old one is checked on a worker
 * like a login's, and throttled with logins of the same name and address
 * (dispatch.c, passwd_admitted; login_guard.h); the command carries the SHA-256 of the hash it was
 * checked against, so apply refuses if it changed meanwhile. */
static next_step change_password_prepare(req *r)
{
    const Lms__ChangePasswordRequest *q = r->msg->change_password;
    char why[RULE_MSG_MAX];
    if (!q->old_password[0] || strlen(q->old_password) > RULE_PASSWORD_MAX)
        return req_fail(r, LMS_INVALID_ARGUMENT, "the current password must be 1 to %d bytes",
                        RULE_PASSWORD_MAX);
    if (req_verdict(r, rule_password(q->new_password, why, sizeof why), why) < 0)
        return NEXT_RESPOND;
    if (strcmp(q->old_password, q->new_password) == 0)
        return req_fail(r, LMS_INVALID_ARGUMENT,
                        "the new password is the current one; choose another");
    lms_user u;
    lms_err err = {0};
    int rc = req_ops(r)->user_get(req_st(r), r->who.name, &u, &err);
    if (rc != LMS_OK)
        return rc == LMS_NOT_FOUND ? req_fail(r, LMS_UNAUTHENTICATED, "session's user is gone")
                                   : req_storage_error(r, &err);
    passwd_state *s = req_alloc(r, sizeof *s);
    s->stored = req_strdup(r, u.password_hash);
    r->scratch = s;
    return NEXT_WORK;
}

static next_step change_password_work(req *r)
{
    const dispatch_options *o = req_opts(r);
    const Lms__ChangePasswordRequest *q = r->msg->change_password;
    passwd_state *s = r->scratch;
    lms_err err = {0};
    int verdict = o->auth->verify(o->auth_inst, r->who.name, q->old_password, s->stored, &err);
    /* Counted by the login guard as a login of this name would be
     * (dispatch.c, passwd_admitted): a wrong guess is a failure, the right
     * password clears the name, an error of the plugin is neither. */
    r->login_verdict = verdict == LMS_AUTH_OK      ? LOGIN_VERDICT_OK
                       : verdict == LMS_AUTH_ERROR ? LOGIN_VERDICT_NONE
                                                   : LOGIN_VERDICT_DENIED;
    if (verdict == LMS_AUTH_ERROR) {
        log_error("auth: cannot verify user %s: %s", r->who.name, err.msg);
        return req_fail(r, LMS_INTERNAL, "cannot check the password; see the server log");
    }
    if (verdict != LMS_AUTH_OK) {
        log_info("passwd refused for '%s': wrong current password", r->who.name);
        return req_fail(r, LMS_PERMISSION_DENIED, "the current password is wrong");
    }
    char *h = hash_password(r, q->new_password);
    if (!h)
        return NEXT_RESPOND;
    Lms__CmdSetPassword *c = req_alloc(r, sizeof *c);
    lms__cmd_set_password__init(c);
    c->user = r->who.name;
    c->password_hash = h;
    uint8_t *expect = req_alloc(r, 32);
    dispatch_sha256(s->stored, strlen(s->stored), expect);
    c->expect_hash.data = expect;
    c->expect_hash.len = 32;
    c->keep_session.data = req_memdup(r, r->who.token_hash, 32);
    c->keep_session.len = 32;
    r->cmd.body_case = LMS__COMMAND__BODY_SET_PASSWORD;
    r->cmd.set_password = c;
    return NEXT_PROPOSE;
}

static void change_password_applied(req *r)
{
    log_info("user '%s' changed their password", r->who.name);
}

/* The user an admin's request names: it exists (early; apply decides). */
static int need_user_named(req *r, const char *name)
{
    char why[RULE_MSG_MAX];
    lms_user u;
    lms_err err = {0};
    if (req_verdict(r, rule_user_name(name, why, sizeof why), why) < 0)
        return -1;
    int rc = req_ops(r)->user_get(req_st(r), name, &u, &err);
    if (rc == LMS_NOT_FOUND)
        return req_verdict(r, rule_missing("user", name, why, sizeof why), why);
    if (rc != LMS_OK)
        return req_storage_error(r, &err), -1;
    return 0;
}

static next_step reset_password_prepare(req *r)
{
    const Lms__ResetPasswordRequest *q = r->msg->reset_password;
    char why[RULE_MSG_MAX];
    if (need_user_named(r, q->user) < 0 ||
        req_verdict(r, rule_password(q->password, why, sizeof why), why) < 0)
        return NEXT_RESPOND;
    return NEXT_WORK;
}

static next_step reset_password_work(req *r)
{
    const Lms__ResetPasswordRequest *q = r->msg->reset_password;
    char *h = hash_password(r, q->password);
    if (!h)
        return NEXT_RESPOND;
    Lms__CmdSetPassword *c = req_alloc(r, sizeof *c);
    lms__cmd_set_password__init(c);
    c->user = q->user;
    c->password_hash = h;
    c->must_change = 1;
    r->cmd.body_case = LMS__COMMAND__BODY_SET_PASSWORD;
    r->cmd.set_password = c;
    return NEXT_PROPOSE;
}

static void reset_password_applied(req *r)
{
    log_info("admin '%s' set a one-time password for '%s'", r->who.name,
             r->msg->reset_password->user);
}

static next_step set_user_enabled_prepare(req *r)
{
    const Lms__SetUserEnabledRequest *q = r->msg->set_user_enabled;
    if (need_user_named(r, q->user) < 0)
        return NEXT_RESPOND;
    if (!q->enabled && strcmp(q->user, r->who.name) == 0)
        return req_fail(r, LMS_FAILED_PRECONDITION,
                        "user %s: you cannot disable your own account (another admin can)",
                        q->user);
    Lms__CmdSetUserEnabled *c = req_alloc(r, sizeof *c);
    lms__cmd_set_user_enabled__init(c);
    c->user = q->user;
    c->enabled = q->enabled;
    r->cmd.body_case = LMS__COMMAND__BODY_SET_USER_ENABLED;
    r->cmd.set_user_enabled = c;
    return NEXT_PROPOSE;
}

#define B(x) LMS__REQUEST__BODY_##x
const handler handlers_account[] = {
    {.body = B(LOGIN), .name = "login", .roles = ROLES_NO_SESSION,
     .prepare = login_prepare, .work = login_work, .applied = login_applied},
    {.body = B(LOGOUT), .name = "logout", .roles = ROLES_ANY, .prepare = logout_prepare,
     .before_new_password = true},
    {.body = B(WHOAMI), .name = "whoami", .roles = ROLES_ANY, .prepare = whoami_prepare,
     .before_new_password = true},
    {.body = B(CHANGE_PASSWORD), .name = "passwd", .roles = ROLES_ANY,
     .prepare = change_password_prepare, .work = change_password_work,
     .applied = change_password_applied, .before_new_password = true,
     .checks_password = true},
    {.body = B(RESET_PASSWORD), .name = "reset-password", .roles = ROLES_ADMIN,
     .prepare = reset_password_prepare, .work = reset_password_work,
     .applied = reset_password_applied},
    {.body = B(SET_USER_ENABLED), .name = "set-user-enabled", .roles = ROLES_ADMIN,
     .prepare = set_user_enabled_prepare},
    {.body = B(ADD_USER), .name = "add-user", .roles = ROLES_ADMIN,
     .prepare = add_user_prepare, .work = add_user_work, .applied = add_user_applied},
    {.body = B(IMPORT_USERS), .name = "import-users", .roles = ROLES_ADMIN,
     .prepare = import_prepare, .work = import_work, .applied = import_answer},
    {.body = B(LIST_USERS), .name = "users", .roles = ROLES_ADMIN,
     .prepare = list_users_prepare},
    {.body = B(CREATE_COURSE), .name = "create-course", .roles = ROLES_ADMIN,
     .prepare = create_course_prepare, .applied = create_course_applied},
    {.body = B(LIST_COURSES), .name = "courses", .roles = ROLES_ANY,
     .prepare = list_courses_prepare},
    {.body = B(ENROLL), .name = "enroll", .roles = ROLES_ADMIN,
     .prepare = enroll_prepare},
    {.name = NULL}, /* the end */
};

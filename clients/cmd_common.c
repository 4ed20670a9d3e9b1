/* SPDX-License-Identifier: MIT */
/*
 * cmd_common.c: the subcommands shared by the programs, and the helpers for
 * files sent and received (see cmd_common.h).
 */
#include "cmd_common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "files.h"
#include "isotime.h"
#include "prompt.h"

const struct cli_param cmd_no_params[] = {
    CLI_END_PARAMS,
};

const struct cli_param cmd_login_params[] = {
    {.name = "NAME", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "your user name"},
    {.name = "password-stdin", .kind = CLI_FLAG,
     .help = "read the password as one line of standard input"},
    CLI_END_PARAMS,
};

const struct cli_param cmd_course_filter_params[] = {
    {.name = "course", .meta = "C", .kind = CLI_STRING, .help = "only this course"},
    CLI_END_PARAMS,
};

/* ---- session ------------------------------------------------------------ */

/* Which program is for which role: roles are global, and each program's
 * commands are the requests that the server allows to that one role. */
static const struct {
    Lms__Role role;
    const char *prog;
    const char *who; /* "students" */
} program_roles[] = {
    {.role = LMS__ROLE__STUDENT, .prog = "lms-student", .who = "students"},
    {.role = LMS__ROLE__INSTRUCTOR, .prog = "lms-instructor", .who = "instructors"},
    {.role = LMS__ROLE__ADMIN, .prog = "lms-admin", .who = "admins"},
};

/* The entry of program_roles for role (by_prog NULL) or for the program
 * named by_prog; -1 when there is none. */
static int program_role_index(Lms__Role role, const char *by_prog)
{
    for (size_t i = 0; i < sizeof program_roles / sizeof program_roles[0]; i++)
        if (by_prog ? strcmp(program_roles[i].prog, by_prog) == 0 : program_roles[i].role == role)
            return (int)i;
    return -1;
}

/*
 * End the session just created by login on the server, so that no live
 * token is left behind when it is not kept. Returns whether the server
 * confirmed it.
 */
static bool revoke_new_session(struct cli_ctx *ctx, char *token)
{
    Lms__LogoutRequest body = LMS__LOGOUT_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    char err[512];
    CLI_SET_BODY(&req, logout, LOGOUT, &body);
    req.token = token;
    /* the library directly: the caller reports, once, whatever happens */
    if (ctx->client == NULL ||
        lms_client_call(ctx->client, &req, &resp, err, sizeof err) != LMS_CLIENT_OK)
        return false;
    bool ok = resp->status == LMS__STATUS__OK;
    lms__response__free_unpacked(resp, NULL);
    return ok;
}

/*
 * Refuse a login whose user's role this program is not for (exit 1,
 * PERMISSION_DENIED), naming the program that fits; the new session is
 * ended on the server and not saved. LMS_EXIT_OK when the role fits or is
 * unknown (an old server, a program without a role).
 */
static int check_login_role(struct cli_ctx *ctx, const Lms__LoginResponse *lr, const char *user)
{
    int mine = program_role_index(LMS__ROLE__ROLE_NONE, ctx->prog->name);
    if (mine < 0 || lr->user == NULL || lr->user->role == LMS__ROLE__ROLE_NONE ||
        lr->user->role == program_roles[mine].role)
        return LMS_EXIT_OK;
    /* a student who is a teaching assistant somewhere grades there */
    if (program_roles[mine].role == LMS__ROLE__INSTRUCTOR && lr->assists &&
        lr->user->role == LMS__ROLE__STUDENT)
        return LMS_EXIT_OK;
    int fits = program_role_index(lr->user->role, NULL);
    const char *role = out_role_name(lr->user->role);
    bool ended = revoke_new_session(ctx, lr->token);
    const char *left = ended ? "" : " (the session could not be ended on the server; it "
                                    "lapses when it expires)";
    if (fits < 0 || role == NULL)
        return cli_fail(ctx, LMS_EXIT_FAILED, "PERMISSION_DENIED",
                        "%s has no role that %s is for (%s), so you were not logged in%s", user,
                        ctx->prog->name, program_roles[mine].who, left);
    return cli_fail(ctx, LMS_EXIT_FAILED, "PERMISSION_DENIED",
                    "%s is %s %s; %s is for %s, so you were not logged in%s. Use: %s login %s",
                    user, strchr("aeiou", role[0]) ? "an" : "a", role, ctx->prog->name,
                    program_roles[mine].who, left, program_roles[fits].prog, user);
}

int cmd_login(struct cli_ctx *ctx, const struct cli_args *a)
{
    char err[512], *password;
    const char *name = cli_str(a, "NAME");
    if (lms_read_password(cli_has(a, "password-stdin"), "Password: ", false, &password, err,
                          sizeof err) != LMS_PROMPT_OK)
        return cli_usage_error(ctx, "%s", err);

    Lms__LoginRequest body = LMS__LOGIN_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    body.name = (char *)name;
    body.password = password;
    CLI_SET_BODY(&req, login, LOGIN, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_LOGIN, &resp);
    lms_password_free(password);
    if (rc != LMS_EXIT_OK)
        return rc;

    const Lms__LoginResponse *lr = resp->login;
    const char *role = lr->user ? out_role_name(lr->user->role) : NULL;
    rc = check_login_role(ctx, lr, name);
    if (rc != LMS_EXIT_OK) {
        lms__response__free_unpacked(resp, NULL);
        return rc;
    }
    struct lms_session s = {
        .token = lr->token,
        .user = lr->user && lr->user->name[0] ? lr->user->name : (char *)name,
        .role = (char *)(role ? role : ""),
        .servers = (char *)cli_servers(ctx),
        .tls = (char *)lms_tls_mode_name(ctx->tls_mode),
        .cacert = ctx->cafile,
        .expires = lr->expires,
    };
    if (lms_session_save(ctx->home, &s, err, sizeof err) < 0)
        rc = cli_fail_errno(ctx, errno, err);
    else
        rc = cli_done(ctx, &lr->base, "logged in as %s (%s%s)%s%s%s", s.user,
                      role ? role : "no role",
                      lr->assists ? "; a teaching assistant of some course" : "",
                      lr->must_change_password
                          ? "; your password is a one-time password: change it now with '"
                          : "",
                      lr->must_change_password ? ctx->prog->name : "",
                      lr->must_change_password ? " passwd'" : "");
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

int cmd_logout(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__LogoutRequest body = LMS__LOGOUT_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    char err[512];
    CLI_SET_BODY(&req, logout, LOGOUT, &body);
    int rc = cli_call_raw(ctx, &req, &resp);
    /* forget the session whatever the server says: the user wants out */
    if (lms_session_remove(ctx->home, err, sizeof err) < 0 && rc == LMS_EXIT_OK) {
        lms__response__free_unpacked(resp, NULL);
        return cli_fail_errno(ctx, errno, err);
    }
    if (rc != LMS_EXIT_OK) {
        fprintf(stderr, "%s: the session was forgotten here, but the server could not be told\n",
                ctx->prog->name);
        return rc;
    }
    bool gone = resp->status == LMS__STATUS__UNAUTHENTICATED ||
                resp->status == LMS__STATUS__NOT_FOUND;
    if (resp->status == LMS__STATUS__OK || gone)
        rc = cli_done(ctx, NULL, "logged out%s", gone ? " (the session had already ended)" : "");
    else
        rc = cli_refused(ctx, resp);
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

const struct cli_param cmd_passwd_params[] = {
    {.name = "password-stdin", .kind = CLI_FLAG,
     .help = "read the current password, then the new one, as two lines of standard input "
             "(default: ask on the terminal, the new one twice)"},
    CLI_END_PARAMS,
};

int cmd_passwd(struct cli_ctx *ctx, const struct cli_args *a)
{
    char err[256], *old = NULL, *new = NULL;
    bool from_stdin = cli_has(a, "password-stdin");
    if (lms_read_password(from_stdin, "Current password: ", false, &old, err, sizeof err) !=
            LMS_PROMPT_OK ||
        lms_read_password(from_stdin, "New password: ", true, &new, err, sizeof err) !=
            LMS_PROMPT_OK) {
        if (old)
            lms_password_free(old);
        return cli_usage_error(ctx, "%s", err);
    }
    Lms__ChangePasswordRequest body = LMS__CHANGE_PASSWORD_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.old_password = old;
    body.new_password = new;
    CLI_SET_BODY(&req, change_password, CHANGE_PASSWORD, &body);
    int rc = cli_act(ctx, &req, "password changed; your other sessions were ended");
    lms_password_free(old);
    lms_password_free(new);
    return rc;
}

int cmd_whoami(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column fields[] = {
        {"name", "user.name", NULL},
        {"full name", "user.full_name", NULL},
        {"role", "user.role", NULL},
        {"expires", "expires", NULL},
        {"one-time password", "user.must_change_password", NULL},
    };
    Lms__WhoamiRequest body = LMS__WHOAMI_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    CLI_SET_BODY(&req, whoami, WHOAMI, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_WHOAMI, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    rc = cli_show_fields(ctx, &resp->whoami->base, CLI_COLUMNS(fields));
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

/* ---- lists -------------------------------------------------------------- */

int cmd_courses(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"CODE", "code", NULL},
        {"TITLE", "title", NULL},
        {"ROLE", "my_role", NULL},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_COURSES, "courses",
                                              CLI_COLUMNS(cols), "no courses"};
    Lms__ListCoursesRequest body = LMS__LIST_COURSES_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    CLI_SET_BODY(&req, list_courses, LIST_COURSES, &body);
    return cli_list(ctx, &req, &view);
}

/* The due time that applies to the caller: their extension, if any. */
static const char *fmt_my_due(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__Assignment *as = (const Lms__Assignment *)m;
    return out_field_text(m, as->my_due ? "my_due" : "due", buf, n);
}

/* The same for the cut-off (a server that predates my_cutoff sends 0). */
static const char *fmt_my_cutoff(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__Assignment *as = (const Lms__Assignment *)m;
    return out_field_text(m, as->my_cutoff ? "my_cutoff" : "cutoff", buf, n);
}

static const char *fmt_attempts(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__Assignment *as = (const Lms__Assignment *)m;
    return as->max_attempts ? out_field_text(m, "max_attempts", buf, n) : "unlimited";
}

/* The title (escaped, as every text shown), marked when the assignment is
 * hidden from its students (only its staff see it then). */
static const char *fmt_title(const ProtobufCMessage *m, char *buf, size_t n)
{
    static const char mark[] = " [hidden]";
    if (!((const Lms__Assignment *)m)->hidden || n <= sizeof mark)
        return out_field_text(m, "title", buf, n);
    /* room for the mark, whatever the title's length */
    const char *t = out_field_text(m, "title", buf, n - (sizeof mark - 1));
    if (t != buf)
        snprintf(buf, n - (sizeof mark - 1), "%s", t);
    memcpy(buf + strlen(buf), mark, sizeof mark);
    return buf;
}

static const char *fmt_late_penalty(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__Assignment *as = (const Lms__Assignment *)m;
    if (!as->late_penalty)
        return "none";
    snprintf(buf, n, "%" PRIu32 "%%/day", as->late_penalty);
    return buf;
}

int cmd_assignments(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"ID", "id", NULL},
        {"COURSE", "course", NULL},
        {"TITLE", NULL, fmt_title},
        {"DUE", NULL, fmt_my_due},
        {"CUTOFF", NULL, fmt_my_cutoff},
        {"POINTS", "max_points", NULL},
        {"ATTEMPTS", NULL, fmt_attempts},
        {"PENALTY", NULL, fmt_late_penalty},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_ASSIGNMENTS, "assignments",
                                              CLI_COLUMNS(cols), "no assignments"};
    Lms__ListAssignmentsRequest body = LMS__LIST_ASSIGNMENTS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    if (cli_has(a, "course"))
        body.course = (char *)cli_str(a, "course");
    CLI_SET_BODY(&req, list_assignments, LIST_ASSIGNMENTS, &body);
    return cli_list(ctx, &req, &view);
}

/* A student's own standing: "no", or "yes, 2 attempts". */
static const char *fmt_submitted(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__Assignment *as = (const Lms__Assignment *)m;
    if (!as->as_student)
        return "-"; /* a course the caller assists in or teaches */
    if (as->my_attempts == 0)
        return "no";
    snprintf(buf, n, "yes, %" PRIu32 " attempt%s", as->my_attempts,
             as->my_attempts == 1 ? "" : "s");
    return buf;
}

/* "unlimited", or "2 of 3" attempts left. */
static const char *fmt_left(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__Assignment *as = (const Lms__Assignment *)m;
    if (!as->as_student)
        return "-";
    if (as->max_attempts == 0)
        return "unlimited";
    uint32_t left = as->my_attempts < as->max_attempts ? as->max_attempts - as->my_attempts : 0;
    snprintf(buf, n, "%" PRIu32 " of %" PRIu32, left, as->max_attempts);
    return buf;
}

int cmd_my_assignments(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"ID", "id", NULL},
        {"COURSE", "course", NULL},
        {"TITLE", NULL, fmt_title},
        {"DUE", NULL, fmt_my_due},
        {"CUTOFF", NULL, fmt_my_cutoff},
        {"POINTS", "max_points", NULL},
        {"SUBMITTED", NULL, fmt_submitted},
        {"ATTEMPTS LEFT", NULL, fmt_left},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_ASSIGNMENTS, "assignments",
                                              CLI_COLUMNS(cols), "no assignments"};
    Lms__ListAssignmentsRequest body = LMS__LIST_ASSIGNMENTS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    if (cli_has(a, "course"))
        body.course = (char *)cli_str(a, "course");
    CLI_SET_BODY(&req, list_assignments, LIST_ASSIGNMENTS, &body);
    return cli_list(ctx, &req, &view);
}

/* 10485760 -> "10 MiB (10485760 bytes)"; a size that is no whole number of
 * KiB, MiB or GiB as bytes only. */
static const char *size_text(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"GiB", "MiB", "KiB"};
    for (int i = 0; i < 3; i++) {
        uint64_t unit = 1ull << (10 * (3 - i));
        if (n >= unit && n % unit == 0) {
            snprintf(buf, cap, "%" PRIu64 " %s (%" PRIu64 " bytes)", n / unit, units[i], n);
            return buf;
        }
    }
    snprintf(buf, cap, "%" PRIu64 " bytes", n);
    return buf;
}

/* When the assignment was last changed and, for its staff (who get the
 * history), by whom, then the changes kept, oldest first. */
static void print_edits(const Lms__Assignment *as)
{
    char t[LMS_TIME_BUFSZ], by[4 * 64 + 1], what[4 * 120 + 1];
    if (!as->edited)
        return;
    printf("edited:       %s", lms_time_format(as->edited, t));
    if (as->edited_by[0])
        printf(" by %s (%" PRIu32 " change%s)", out_escape(as->edited_by, by, sizeof by, false),
               as->edit_count, as->edit_count == 1 ? "" : "s");
    putchar('\n');
    for (size_t i = 0; i < as->n_edits; i++)
        printf("  %s by %s: %s\n", lms_time_format(as->edits[i]->at, t),
               out_escape(as->edits[i]->by, by, sizeof by, false),
               out_escape(as->edits[i]->changed, what, sizeof what, false));
}

/* One assignment as label: value lines, then its description. mine: the
 * caller is a student, whose own due time, attempts and submission show. */
static void print_assignment(const Lms__Assignment *as, bool mine)
{
    char t[LMS_TIME_BUFSZ], t2[LMS_TIME_BUFSZ], line[1024], title[4 * 200 + 1], course[4 * 64 + 1];
    int64_t due = mine && as->my_due ? as->my_due : as->due;
    int64_t cutoff = mine && as->my_due ? as->my_cutoff : as->cutoff;
    printf("assignment:   %" PRIu64 " in %s: %s\n", as->id,
           out_escape(as->course, course, sizeof course, false),
           out_escape(as->title, title, sizeof title, false));
    printf("due:          %s", lms_time_format(due, t));
    if (due != as->due)
        printf(" (your extension; the assignment's due time is %s)", lms_time_format(as->due, t2));
    if (cutoff)
        printf("\ncut-off:      %s (late submissions are accepted until then)\n",
               lms_time_format(cutoff, t));
    else
        printf("\ncut-off:      none (late submissions are accepted at any time)\n");
    printf("points:       %s\n", out_number(as->max_points, t, sizeof t));
    if (as->max_attempts && mine)
        printf("attempts:     %" PRIu32 " (you used %" PRIu32 "; %" PRIu32 " left)\n",
               as->max_attempts, as->my_attempts,
               as->my_attempts < as->max_attempts ? as->max_attempts - as->my_attempts : 0);
    else if (as->max_attempts)
        printf("attempts:     %" PRIu32 "\n", as->max_attempts);
    else if (mine)
        printf("attempts:     unlimited (you used %" PRIu32 ")\n", as->my_attempts);
    else
        printf("attempts:     unlimited\n");
    printf("max size:     %s\n", size_text(as->max_size, line, sizeof line));
    printf("grades:       %s\n", !as->hold_grades ? "shown to each student once graded"
                                 : as->released   ? "held, and released"
                                                  : "held until the instructors release them");
    if (as->late_penalty) /* none: no line, as before late penalties */
        printf("late penalty: %" PRIu32 "%% of the points per started day late\n",
               as->late_penalty);
    if (as->hidden)
        printf("hidden:       yes (its students neither see it nor submit to it)\n");
    if (mine && as->my_attempts)
        printf("submitted:    yes, last at %s\n", lms_time_format(as->my_last_submitted, t));
    else if (mine)
        printf("submitted:    no\n");
    print_edits(as);
    if (as->description[0]) {
        printf("description:\n");
        out_text_block(stdout, "  ", as->description);
    } else {
        printf("description:  none\n");
    }
}

const struct cli_param cmd_assignment_params[] = {
    CMD_ID_OPERAND("ASSIGNMENT_ID", "the assignment"),
    CLI_END_PARAMS,
};

int cmd_assignment(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__GetAssignmentRequest body = LMS__GET_ASSIGNMENT_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    body.assignment_id = cli_u64(a, "ASSIGNMENT_ID", 0);
    CLI_SET_BODY(&req, get_assignment, GET_ASSIGNMENT, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_ASSIGNMENT, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    if (ctx->json)
        cli_print_json(out_json_message(&resp->assignment->base));
    else
        print_assignment(resp->assignment, resp->assignment->as_student);
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}

int cmd_materials(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"ID", "id", NULL},
        {"COURSE", "course", NULL},
        {"TITLE", "title", NULL},
        {"FILE", "file_name", NULL},
        {"SIZE", "size", NULL},
        {"VERSION", "version", NULL},
        {"BY", "uploaded_by", NULL},
        {"UPLOADED", "created", NULL},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_MATERIALS, "materials",
                                              CLI_COLUMNS(cols), "no materials"};
    Lms__ListMaterialsRequest body = LMS__LIST_MATERIALS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    if (cli_has(a, "course"))
        body.course = (char *)cli_str(a, "course");
    CLI_SET_BODY(&req, list_materials, LIST_MATERIALS, &body);
    return cli_list(ctx, &req, &view);
}

static const char *fmt_late(const ProtobufCMessage *m, char *buf, size_t n)
{
    return ((const Lms__Submission *)m)->late ? "LATE" : "";
}

const char *cmd_fmt_identical(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__Submission *s = (const Lms__Submission *)m;
    char who[4 * 64 + 1];
    if (s->identical_to == 0)
        return "";
    out_escape(s->identical_student, who, sizeof who, false);
    if (s->identical_count > 1)
        snprintf(buf, n, "#%" PRIu64 " (%s) +%" PRIu32 " more", s->identical_to, who,
                 s->identical_count - 1);
    else
        snprintf(buf, n, "#%" PRIu64 " (%s)", s->identical_to, who);
    return buf;
}

int cmd_submissions_marked(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"ID", "id", NULL},
        {"ASSIGNMENT", "assignment_id", NULL},
        {"STUDENT", "student", NULL},
        {"ATTEMPT", "attempt", NULL},
        {"FILE", "file_name", NULL},
        {"SIZE", "size", NULL},
        {"SUBMITTED", "submitted", NULL},
        {"LATE", NULL, fmt_late},
        {"GRADED", "graded", NULL},
        {"IDENTICAL TO", NULL, cmd_fmt_identical},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_SUBMISSIONS, "submissions",
                                              CLI_COLUMNS(cols), "no submissions"};
    Lms__ListSubmissionsRequest body = LMS__LIST_SUBMISSIONS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.assignment_id = cli_u64(a, "assignment", 0);
    body.ungraded = cli_has(a, "ungraded");
    body.include_unenrolled = cli_has(a, "include-unenrolled");
    CLI_SET_BODY(&req, list_submissions, LIST_SUBMISSIONS, &body);
    return cli_list(ctx, &req, &view);
}

int cmd_submissions(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"ID", "id", NULL},
        {"ASSIGNMENT", "assignment_id", NULL},
        {"STUDENT", "student", NULL},
        {"ATTEMPT", "attempt", NULL},
        {"FILE", "file_name", NULL},
        {"SIZE", "size", NULL},
        {"SUBMITTED", "submitted", NULL},
        {"LATE", NULL, fmt_late},
        {"GRADED", "graded", NULL},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_SUBMISSIONS, "submissions",
                                              CLI_COLUMNS(cols), "no submissions"};
    Lms__ListSubmissionsRequest body = LMS__LIST_SUBMISSIONS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.assignment_id = cli_u64(a, "assignment", 0);
    body.ungraded = cli_has(a, "ungraded");
    CLI_SET_BODY(&req, list_submissions, LIST_SUBMISSIONS, &body);
    return cli_list(ctx, &req, &view);
}

const struct cli_param cmd_fetch_params[] = {
    CMD_ID_OPERAND("SUBMISSION_ID", "the submission"),
    CMD_OUTPUT_PARAM("submission"),
    CLI_END_PARAMS,
};

int cmd_fetch(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__FetchSubmissionRequest body = LMS__FETCH_SUBMISSION_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    char what[48];
    int rc = cmd_check_output(ctx, a);
    if (rc != LMS_EXIT_OK)
        return rc;
    body.submission_id = cli_u64(a, "SUBMISSION_ID", 0);
    CLI_SET_BODY(&req, fetch_submission, FETCH_SUBMISSION, &body);
    rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_SUBMISSION, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__Submission *s = resp->submission;
    snprintf(what, sizeof what, "submission %" PRIu64, body.submission_id);
    rc = cmd_save_download(ctx, a, &s->base, what, s->file_name, &s->data, &s->sha256);
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

/* ---- materials: download and history ------------------------------------ */

const struct cli_param cmd_download_params[] = {
    CMD_ID_OPERAND("MATERIAL_ID", "the material"),
    {.name = "version", .meta = "N", .kind = CLI_COUNT,
     .help = "an earlier version (see material-history; default: the latest)"},
    CMD_OUTPUT_PARAM("material"),
    CLI_END_PARAMS,
};

int cmd_download(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__DownloadMaterialRequest body = LMS__DOWNLOAD_MATERIAL_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    char what[64];
    int rc = cmd_check_output(ctx, a);
    if (rc != LMS_EXIT_OK)
        return rc;
    if (cli_has(a, "version") && cli_u64(a, "version", 0) == 0)
        return cli_usage_error(ctx, "--version: versions are numbered from 1");
    body.material_id = cli_u64(a, "MATERIAL_ID", 0);
    body.version = (uint32_t)cli_u64(a, "version", 0);
    CLI_SET_BODY(&req, download_material, DOWNLOAD_MATERIAL, &body);
    rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_MATERIAL, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__Material *m = resp->material;
    if (m->version > 1 || body.version)
        snprintf(what, sizeof what, "material %" PRIu64 " (version %" PRIu32 ")",
                 body.material_id, m->version);
    else
        snprintf(what, sizeof what, "material %" PRIu64, body.material_id);
    rc = cmd_save_download(ctx, a, &m->base, what, m->file_name, &m->data, &m->sha256);
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

const struct cli_param cmd_material_history_params[] = {
    CMD_ID_OPERAND("MATERIAL_ID", "the material"),
    CLI_END_PARAMS,
};

int cmd_material_history(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"VERSION", "version", NULL},
        {"TITLE", "title", NULL},
        {"FILE", "file_name", NULL},
        {"SIZE", "size", NULL},
        {"BY", "uploaded_by", NULL},
        {"UPLOADED", "uploaded", NULL},
        {"SHA256", "sha256", NULL},
    };
    Lms__MaterialHistoryRequest body = LMS__MATERIAL_HISTORY_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    body.material_id = cli_u64(a, "MATERIAL_ID", 0);
    CLI_SET_BODY(&req, material_history, MATERIAL_HISTORY, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_MATERIAL_HISTORY, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__MaterialHistoryResponse *h = resp->material_history;
    if (ctx->json) {
        cli_print_json(out_json_message(&h->base));
    } else {
        char when[LMS_TIME_BUFSZ], line[256];
        printf("material %" PRIu64 " of %s: %zu version%s\n", h->material_id, h->course,
               h->n_versions, h->n_versions == 1 ? "" : "s");
        if (h->deleted) {
            snprintf(line, sizeof line, "deleted by %s at %s; its students no longer see it",
                     h->deleted_by, lms_time_format(h->deleted_at, when));
            out_text_block(stdout, "", line);
        }
        out_table(stdout, cols, sizeof cols / sizeof cols[0],
                  (ProtobufCMessage *const *)h->versions, h->n_versions);
    }
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}

/* ---- query threads ------------------------------------------------------ */

static void print_post(const char *author, int64_t when, const char *text)
{
    char t[LMS_TIME_BUFSZ], line[512];
    snprintf(line, sizeof line, "  %s, %s:", author, lms_time_format(when, t));
    out_text_block(stdout, "", line);
    out_text_block(stdout, "    ", text);
}

const Lms__Reply *cmd_tutor_reply(const Lms__Query *q)
{
    for (size_t i = 0; q->kind == LMS__QUERY_KIND__TO_TUTOR && i < q->n_replies; i++)
        if (strcmp(q->replies[i]->author, "tutor") == 0)
            return q->replies[i];
    return NULL;
}

const char *cmd_tutor_info(const Lms__Query *q, char *buf, size_t n)
{
    const Lms__TutorInfo *t = q->tutor;
    if (t == NULL) {
        snprintf(buf, n, "tutor");
        return buf;
    }
    char took[32];
    if (t->latency_ms < 1000)
        snprintf(took, sizeof took, "%" PRIu32 " ms", t->latency_ms);
    else
        snprintf(took, sizeof took, "%.1f s", t->latency_ms / 1000.0);
    snprintf(buf, n, "%s%s%s, %" PRIu32 " prompt + %" PRIu32 " completion tokens, %s",
             t->provider, t->model[0] ? "/" : "", t->model, t->prompt_tokens,
             t->completion_tokens, took);
    return buf;
}

/* #12 [open] CS101: title, then the question and every reply; a tutor
 * exchange is marked [tutor], its answer says how it was made; a question
 * shared with the course is marked ", shared" (in the course's FAQ it
 * comes without the name of the student who asked). */
static void print_thread(const Lms__Query *q)
{
    char line[512], from[48] = "", info[256];
    bool tutor = q->kind == LMS__QUERY_KIND__TO_TUTOR;
    if (q->escalated_from)
        snprintf(from, sizeof from, " (from tutor exchange #%" PRIu64 ")", q->escalated_from);
    snprintf(line, sizeof line, "#%" PRIu64 " [%s%s] %s: %s%s", q->id,
             tutor ? "tutor" : q->resolved ? "resolved" : "open", q->shared ? ", shared" : "",
             q->course, q->title[0] ? q->title : "(no title)", from);
    out_text_block(stdout, "", line);
    print_post(q->student[0] ? q->student : "a student", q->created, q->text);
    const Lms__Reply *answer = cmd_tutor_reply(q);
    for (size_t i = 0; i < q->n_replies; i++) {
        const Lms__Reply *r = q->replies[i];
        if (r == answer)
            snprintf(info, sizeof info, "tutor (%s)", cmd_tutor_info(q, line, sizeof line));
        print_post(r == answer ? info : r->author, r->created, r->text);
    }
}

int cmd_show_threads(struct cli_ctx *ctx, const Lms__QueriesResponse *qr, const char *empty)
{
    if (ctx->json)
        return cli_print_json(out_json_message(&qr->base));
    if (qr->n_queries == 0)
        printf("%s\n", empty);
    for (size_t i = 0; i < qr->n_queries; i++) {
        if (i > 0)
            putchar('\n');
        print_thread(qr->queries[i]);
    }
    return LMS_EXIT_OK;
}

int cmd_queries(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ListQueriesRequest body = LMS__LIST_QUERIES_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    if (cli_has(a, "course"))
        body.course = (char *)cli_str(a, "course");
    body.all = cli_get(a, "all") == NULL || cli_has(a, "all");
    CLI_SET_BODY(&req, list_queries, LIST_QUERIES, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_QUERIES, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    rc = cmd_show_threads(ctx, resp->queries, body.all ? "no queries" : "no open queries");
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

int cmd_faq(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ListQueriesRequest body = LMS__LIST_QUERIES_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    if (cli_has(a, "course"))
        body.course = (char *)cli_str(a, "course");
    body.shared = true;
    CLI_SET_BODY(&req, list_queries, LIST_QUERIES, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_QUERIES, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    rc = cmd_show_threads(ctx, resp->queries, "no shared questions yet");
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

/* ---- announcements ------------------------------------------------------- */

const struct cli_param cmd_announce_params[] = {
    {.name = "course", .meta = "C", .kind = CLI_STRING, .flags = CLI_REQUIRED,
     .help = "the course whose members read it"},
    {.name = "title", .meta = "T", .kind = CLI_STRING, .help = "a short title (one line)"},
    {.name = "TEXT", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED | CLI_REST,
     .help = "the announcement (several words are joined with spaces)"},
    CLI_END_PARAMS,
};

int cmd_announce(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__AnnounceRequest body = LMS__ANNOUNCE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    body.course = (char *)cli_str(a, "course");
    if (cli_has(a, "title"))
        body.title = (char *)cli_str(a, "title");
    body.text = (char *)cli_str(a, "TEXT");
    CLI_SET_BODY(&req, announce, ANNOUNCE, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_ANNOUNCEMENT, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    rc = cli_done(ctx, &resp->announcement->base,
                  "posted announcement %" PRIu64 " to the members of %s",
                  resp->announcement->id, resp->announcement->course);
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

const struct cli_param cmd_announcements_params[] = {
    {.name = "course", .meta = "C", .kind = CLI_STRING,
     .help = "only this course (default: every course of yours)"},
    {.name = "before", .meta = "ID", .kind = CLI_ID,
     .help = "only those older than announcement ID (the next page)"},
    CLI_END_PARAMS,
};

/* #42 CS101, teach1, 2026-12-01T10:00:00Z: Exam moved
 *   The exam is on Friday now. */
static void print_announcement(const Lms__Announcement *m)
{
    char t[LMS_TIME_BUFSZ], line[512];
    snprintf(line, sizeof line, "#%" PRIu64 " %s, %s, %s%s%s", m->id, m->course, m->author,
             lms_time_format(m->created, t), m->title[0] ? ": " : "", m->title);
    out_text_block(stdout, "", line);
    out_text_block(stdout, "  ", m->text);
}

int cmd_announcements(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ListAnnouncementsRequest body = LMS__LIST_ANNOUNCEMENTS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    if (cli_has(a, "course"))
        body.course = (char *)cli_str(a, "course");
    body.before = cli_u64(a, "before", 0);
    CLI_SET_BODY(&req, list_announcements, LIST_ANNOUNCEMENTS, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_ANNOUNCEMENTS, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__AnnouncementsResponse *ar = resp->announcements;
    if (ctx->json) {
        cli_print_json(out_json_message(&ar->base));
    } else {
        if (ar->n_announcements == 0)
            printf("%s\n", body.before ? "no older announcements" : "no announcements");
        for (size_t i = 0; i < ar->n_announcements; i++) {
            if (i > 0)
                putchar('\n');
            print_announcement(ar->announcements[i]);
        }
        if (ar->more && ar->n_announcements > 0)
            printf("\nolder ones: %s announcements%s%s --before %" PRIu64 "\n",
                   ctx->prog->name, body.course[0] ? " --course " : "", body.course,
                   ar->announcements[ar->n_announcements - 1]->id);
    }
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}

/* ---- tutor settings ------------------------------------------------------ */

static void print_settings(const Lms__TutorSettings *s, bool student)
{
    char line[160];
    printf("course:        %s\n", s->course);
    if (s->daily_limit)
        snprintf(line, sizeof line, "%" PRIu32 " tutor questions per student per day",
                 s->daily_limit);
    else
        snprintf(line, sizeof line, "none");
    printf("daily limit:   %s", line);
    if (student)
        printf(" (%" PRIu32 " used today)", s->used_today);
    printf("\nsystem prompt%s:\n", s->default_prompt ? " (the default)" : "");
    out_text_block(stdout, "  ", s->system_prompt);
}

int cmd_tutor_settings(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__TutorSettingsRequest body = LMS__TUTOR_SETTINGS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    if (cli_has(a, "system-prompt") && cli_has(a, "default-prompt"))
        return cli_usage_error(ctx, "--system-prompt and --default-prompt exclude each other");
    body.course = (char *)cli_str(a, "course");
    body.set_prompt = cli_has(a, "system-prompt") || cli_has(a, "default-prompt");
    if (cli_has(a, "system-prompt"))
        body.system_prompt = (char *)cli_str(a, "system-prompt");
    body.set_limit = cli_has(a, "daily-limit");
    body.daily_limit = (uint32_t)cli_u64(a, "daily-limit", 0);
    CLI_SET_BODY(&req, tutor_settings, TUTOR_SETTINGS, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_TUTOR_SETTINGS, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    if (ctx->json)
        cli_print_json(out_json_message(&resp->tutor_settings->base));
    else
        print_settings(resp->tutor_settings, cli_get(a, "daily-limit") == NULL);
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}

/* ---- files -------------------------------------------------------------- */

int cmd_read_upload(struct cli_ctx *ctx, const char *path, uint8_t **data, size_t *len,
                    const char **name)
{
    char err[512];
    *name = lms_basename(path);
    if (*name == NULL)
        return cli_usage_error(ctx, "'%s' names no file", path);
    if (lms_file_read(path, data, len, err, sizeof err) < 0)
        return cli_fail_errno(ctx, errno, err);
    return LMS_EXIT_OK;
}

int cmd_check_output(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *path = cli_str(a, "output");
    if (path != NULL && strcmp(path, "-") == 0 && ctx->json)
        return cli_usage_error(ctx, "-o - writes the file to stdout, which --json needs");
    return LMS_EXIT_OK;
}

int cmd_save_download(struct cli_ctx *ctx, const struct cli_args *a, const ProtobufCMessage *m,
                      const char *what, const char *file_name, const ProtobufCBinaryData *data,
                      const ProtobufCBinaryData *sha256)
{
    char err[1024], want[2 * LMS_SHA256_LEN + 1], got[2 * LMS_SHA256_LEN + 1];
    uint8_t digest[LMS_SHA256_LEN];
    const char *path = cli_str(a, "output");

    lms_sha256(data->data, data->len, digest);
    out_hex(digest, sizeof digest, got, sizeof got);
    if (sha256->len != LMS_SHA256_LEN || memcmp(sha256->data, digest, LMS_SHA256_LEN) != 0)
        return cli_fail(ctx, LMS_EXIT_FAILED, "DATA_LOSS",
                        "the data received for %s do not match their sha256 (expected %s, got "
                        "%s); nothing saved",
                        what, out_hex(sha256->data, sha256->len < 32 ? sha256->len : 32, want,
                                      sizeof want), got);
    char shown[4 * 255 + 1]; /* escaped: 4 bytes per byte at worst */
    if (path == NULL && !lms_safe_file_name(file_name))
        return cli_fail(ctx, LMS_EXIT_FAILED, "INVALID_ARGUMENT",
                        "the file name '%s' from the server is not safe to use; choose one "
                        "with -o FILE",
                        out_escape(file_name, shown, sizeof shown, false));
    if (lms_file_write(path ? path : file_name, data->data, data->len, path != NULL, err,
                       sizeof err) < 0)
        return cli_fail_errno(ctx, errno, err);
    if (ctx->json) {
        json_object *obj = out_json_message(m);
        json_object_object_add(obj, "path", json_object_new_string(path ? path : file_name));
        return cli_print_json(obj);
    }
    if (path == NULL || strcmp(path, "-") != 0)
        printf("saved %s to %s (%zu bytes, sha256 %s)\n", what, path ? path : file_name,
               data->len, got);
    return LMS_EXIT_OK;
}

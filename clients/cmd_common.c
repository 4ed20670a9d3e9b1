/*
 * cmd_common.c: the subcommands shared by the programs, and the helpers for
 * files sent and received (see cmd_common.h).
 */
#include "cmd_common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "files.h"
#include "isotime.h"
#include "prompt.h"

const struct cli_param cmd_no_params[] = {CLI_END_PARAMS};

const struct cli_param cmd_login_params[] = {
    {"NAME", 0, NULL, CLI_STRING, CLI_POSITIONAL | CLI_REQUIRED, "your user name", NULL},
    {"password-stdin", 0, NULL, CLI_FLAG, 0, "read the password as one line of standard input",
     NULL},
    CLI_END_PARAMS,
};

const struct cli_param cmd_course_filter_params[] = {
    {"course", 0, "C", CLI_STRING, 0, "only this course", NULL},
    CLI_END_PARAMS,
};

/* ---- session ------------------------------------------------------------ */

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
    struct lms_session s = {
        .token = lr->token,
        .user = lr->user && lr->user->name[0] ? lr->user->name : (char *)name,
        .role = (char *)(role ? role : ""),
        .servers = (char *)cli_servers(ctx),
        .expires = lr->expires,
    };
    if (lms_session_save(ctx->home, &s, err, sizeof err) < 0)
        rc = cli_fail_errno(ctx, errno, err);
    else
        rc = cli_done(ctx, &lr->base, "logged in as %s (%s)", s.user, role ? role : "no role");
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

int cmd_whoami(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column fields[] = {
        {"name", "user.name", NULL},
        {"full name", "user.full_name", NULL},
        {"role", "user.role", NULL},
        {"expires", "expires", NULL},
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

static const char *fmt_attempts(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__Assignment *as = (const Lms__Assignment *)m;
    return as->max_attempts ? out_field_text(m, "max_attempts", buf, n) : "unlimited";
}

int cmd_assignments(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"ID", "id", NULL},
        {"COURSE", "course", NULL},
        {"TITLE", "title", NULL},
        {"DUE", NULL, fmt_my_due},
        {"CUTOFF", "cutoff", NULL},
        {"POINTS", "max_points", NULL},
        {"ATTEMPTS", NULL, fmt_attempts},
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

int cmd_materials(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"ID", "id", NULL},
        {"COURSE", "course", NULL},
        {"TITLE", "title", NULL},
        {"FILE", "file_name", NULL},
        {"SIZE", "size", NULL},
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

/* ---- query threads ------------------------------------------------------ */

static void print_post(const char *author, int64_t when, const char *text)
{
    char t[LMS_TIME_BUFSZ], line[512];
    snprintf(line, sizeof line, "  %s, %s:", author, lms_time_format(when, t));
    out_text_block(stdout, "", line);
    out_text_block(stdout, "    ", text);
}

/* #12 [open] CS101: title, then the question and every reply. */
static void print_thread(const Lms__Query *q)
{
    char line[512];
    snprintf(line, sizeof line, "#%llu [%s] %s: %s", (unsigned long long)q->id,
             q->resolved ? "resolved" : "open", q->course, q->title[0] ? q->title : "(no title)");
    out_text_block(stdout, "", line);
    print_post(q->student, q->created, q->text);
    for (size_t i = 0; i < q->n_replies; i++)
        print_post(q->replies[i]->author, q->replies[i]->created, q->replies[i]->text);
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
    const Lms__QueriesResponse *qr = resp->queries;
    if (ctx->json)
        cli_print_json(out_json_message(&qr->base));
    else if (qr->n_queries == 0)
        printf("%s\n", body.all ? "no queries" : "no open queries");
    for (size_t i = 0; !ctx->json && i < qr->n_queries; i++) {
        if (i > 0)
            putchar('\n');
        print_thread(qr->queries[i]);
    }
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
    if (path == NULL && !lms_safe_file_name(file_name))
        return cli_fail(ctx, LMS_EXIT_FAILED, "INVALID_ARGUMENT",
                        "the file name '%s' from the server is not safe to use; choose one "
                        "with -o FILE",
                        file_name);
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

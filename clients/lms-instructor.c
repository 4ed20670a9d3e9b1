/* SPDX-License-Identifier: MIT */
/*
 * lms-instructor.c: the instructors' client: set and correct assignments
 * (edit, hide, delete), fetch and grade submissions (and read their grade
 * history), release grades, grant extensions, answer questions, share
 * materials (new versions, deletion), export grades, read the tutor's log
 * and set the tutor, work through the to-grade queue and save every
 * submission at once.
 * Each subcommand is an entry in the table at the bottom; the frame around
 * them is cli.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_config.h"
#include "cli_doc.h"
#include "cmd_common.h"
#include "fetch_all.h"
#include "isotime.h"

#define DEFAULT_MAX_POINTS 100.0

static int cmd_create_assignment(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__CreateAssignmentRequest body = LMS__CREATE_ASSIGNMENT_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    char due[LMS_TIME_BUFSZ];
    body.course = (char *)cli_str(a, "course");
    body.title = (char *)cli_str(a, "title");
    if (cli_has(a, "description"))
        body.description = (char *)cli_str(a, "description");
    body.due = cli_time(a, "due", 0);
    body.cutoff = cli_time(a, "cutoff", 0);
    body.max_points = cli_num(a, "max-points", DEFAULT_MAX_POINTS);
    body.max_attempts = (uint32_t)cli_u64(a, "max-attempts", 0);
    body.max_size = cli_u64(a, "max-size", 0); /* 0: the server's default */
    body.hold_grades = cli_has(a, "hold-grades");
    body.late_penalty = (uint32_t)cli_u64(a, "late-penalty", 0);
    CLI_SET_BODY(&req, create_assignment, CREATE_ASSIGNMENT, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_ASSIGNMENT, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    rc = cli_done(ctx, &resp->assignment->base, "created assignment %" PRIu64 " in %s: %s (due %s)",
                  resp->assignment->id, body.course, body.title, lms_time_format(body.due, due));
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

/* Only the options given change; the server refuses an edit without any. */
static int cmd_edit_assignment(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__EditAssignmentRequest body = LMS__EDIT_ASSIGNMENT_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    char due[LMS_TIME_BUFSZ], cutoff[LMS_TIME_BUFSZ], points[32], attempts[16], title[1024];
    if (cli_has(a, "cutoff") && cli_has(a, "no-cutoff"))
        return cli_usage_error(ctx, "give --cutoff TIME or --no-cutoff, not both");
    body.assignment_id = cli_u64(a, "ID", 0);
    if ((body.set_title = cli_has(a, "title")))
        body.title = (char *)cli_str(a, "title");
    if ((body.set_description = cli_has(a, "description")))
        body.description = (char *)cli_str(a, "description");
    if ((body.set_due = cli_has(a, "due")))
        body.due = cli_time(a, "due", 0);
    if ((body.set_cutoff = cli_has(a, "cutoff") || cli_has(a, "no-cutoff")))
        body.cutoff = cli_time(a, "cutoff", 0); /* --no-cutoff: 0, none */
    if ((body.set_max_points = cli_has(a, "max-points")))
        body.max_points = cli_num(a, "max-points", 0);
    if ((body.set_max_attempts = cli_has(a, "max-attempts")))
        body.max_attempts = (uint32_t)cli_u64(a, "max-attempts", 0);
    if ((body.set_max_size = cli_has(a, "max-size")))
        body.max_size = cli_u64(a, "max-size", 0);
    if ((body.set_late_penalty = cli_has(a, "late-penalty")))
        body.late_penalty = (uint32_t)cli_u64(a, "late-penalty", 0);
    CLI_SET_BODY(&req, edit_assignment, EDIT_ASSIGNMENT, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_ASSIGNMENT, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__Assignment *x = resp->assignment;
    rc = cli_done(ctx, &x->base,
                  "assignment %" PRIu64 " is now: %s (due %s, cut-off %s, %s points, %s "
                  "attempts, late penalty %" PRIu32 "%% per day)",
                  x->id, out_field_text(&x->base, "title", title, sizeof title),
                  lms_time_format(x->due, due),
                  x->cutoff ? lms_time_format(x->cutoff, cutoff) : "none",
                  out_number(x->max_points, points, sizeof points),
                  x->max_attempts ? out_field_text(&x->base, "max_attempts", attempts,
                                                   sizeof attempts)
                                  : "unlimited",
                  x->late_penalty);
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

static int hide_or_not(struct cli_ctx *ctx, const struct cli_args *a, bool hidden)
{
    Lms__HideAssignmentRequest body = LMS__HIDE_ASSIGNMENT_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.assignment_id = cli_u64(a, "ID", 0);
    body.hidden = hidden;
    CLI_SET_BODY(&req, hide_assignment, HIDE_ASSIGNMENT, &body);
    if (hidden)
        return cli_act(ctx, &req,
                       "assignment %" PRIu64 " is hidden: its students no longer see it "
                       "and cannot submit to it (their grades stay)", body.assignment_id);
    return cli_act(ctx, &req, "assignment %" PRIu64 " is visible to its students again",
                   body.assignment_id);
}

static int cmd_hide_assignment(struct cli_ctx *ctx, const struct cli_args *a)
{
    return hide_or_not(ctx, a, true);
}

static int cmd_unhide_assignment(struct cli_ctx *ctx, const struct cli_args *a)
{
    return hide_or_not(ctx, a, false);
}

static int cmd_delete_assignment(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__DeleteAssignmentRequest body = LMS__DELETE_ASSIGNMENT_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.assignment_id = cli_u64(a, "ID", 0);
    CLI_SET_BODY(&req, delete_assignment, DELETE_ASSIGNMENT, &body);
    return cli_act(ctx, &req, "deleted assignment %" PRIu64, body.assignment_id);
}

static int cmd_grade(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__GradeRequest body = LMS__GRADE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    char grade[32];
    body.submission_id = cli_u64(a, "SUBMISSION_ID", 0);
    body.grade = cli_num(a, "grade", 0);
    if (cli_has(a, "feedback"))
        body.feedback = (char *)cli_str(a, "feedback");
    CLI_SET_BODY(&req, grade, GRADE, &body);
    return cli_act(ctx, &req, "graded submission %" PRIu64 ": %s", body.submission_id,
                   out_number(body.grade, grade, sizeof grade));
}

static int cmd_release(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ReleaseRequest body = LMS__RELEASE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.assignment_id = cli_u64(a, "assignment", 0);
    CLI_SET_BODY(&req, release, RELEASE, &body);
    return cli_act(ctx, &req, "released the grades of assignment %" PRIu64, body.assignment_id);
}

static int cmd_extend(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ExtendRequest body = LMS__EXTEND_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    char until[LMS_TIME_BUFSZ];
    body.assignment_id = cli_u64(a, "assignment", 0);
    body.student = (char *)cli_str(a, "student");
    body.until = cli_time(a, "until", 0);
    CLI_SET_BODY(&req, extend, EXTEND, &body);
    return cli_act(ctx, &req, "extended assignment %" PRIu64 " for %s until %s",
                   body.assignment_id, body.student, lms_time_format(body.until, until));
}

static int cmd_reply(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ReplyRequest body = LMS__REPLY_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.query_id = cli_u64(a, "QUERY_ID", 0);
    body.text = (char *)cli_str(a, "TEXT");
    body.share = cli_has(a, "share");
    CLI_SET_BODY(&req, reply, REPLY, &body);
    return cli_act(ctx, &req, "replied to query %" PRIu64 "%s", body.query_id,
                   body.share ? " and shared it with the course" : "");
}

static int share_or_not(struct cli_ctx *ctx, const struct cli_args *a, bool shared)
{
    Lms__ShareRequest body = LMS__SHARE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.query_id = cli_u64(a, "QUERY_ID", 0);
    body.shared = shared;
    CLI_SET_BODY(&req, share, SHARE, &body);
    if (shared)
        return cli_act(ctx, &req,
                       "shared query %" PRIu64 " with the course: its students see it "
                       "(without the asker's name) and the tutor may use the answer",
                       body.query_id);
    return cli_act(ctx, &req,
                   "query %" PRIu64 " is private again: withdrawn from the students and the tutor",
                   body.query_id);
}

static int cmd_share(struct cli_ctx *ctx, const struct cli_args *a)
{
    return share_or_not(ctx, a, true);
}

static int cmd_unshare(struct cli_ctx *ctx, const struct cli_args *a)
{
    return share_or_not(ctx, a, false);
}

static int cmd_resolve(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ResolveRequest body = LMS__RESOLVE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.query_id = cli_u64(a, "QUERY_ID", 0);
    CLI_SET_BODY(&req, resolve, RESOLVE, &body);
    return cli_act(ctx, &req, "resolved query %" PRIu64, body.query_id);
}

static int cmd_upload(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__UploadMaterialRequest body = LMS__UPLOAD_MATERIAL_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    const char *name;
    int rc = cmd_read_upload(ctx, cli_str(a, "FILE"), &body.data.data, &body.data.len, &name);
    if (rc != LMS_EXIT_OK)
        return rc;
    body.course = (char *)cli_str(a, "course");
    body.title = (char *)cli_str(a, "title");
    body.file_name = (char *)name;
    CLI_SET_BODY(&req, upload_material, UPLOAD_MATERIAL, &body);
    rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_MATERIAL, &resp);
    free(body.data.data);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__Material *m = resp->material;
    char sha[80];
    rc = cli_done(ctx, &m->base,
                  "uploaded material %" PRIu64 " to %s: %s (%" PRIu64 " bytes, sha256 %s)", m->id,
                  body.course, body.file_name, m->size,
                  out_field_text(&m->base, "sha256", sha, sizeof sha));
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

static int cmd_replace_material(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ReplaceMaterialRequest body = LMS__REPLACE_MATERIAL_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    const char *name;
    int rc = cmd_read_upload(ctx, cli_str(a, "FILE"), &body.data.data, &body.data.len, &name);
    if (rc != LMS_EXIT_OK)
        return rc;
    body.material_id = cli_u64(a, "MATERIAL_ID", 0);
    if (cli_has(a, "title"))
        body.title = (char *)cli_str(a, "title");
    body.file_name = (char *)name;
    CLI_SET_BODY(&req, replace_material, REPLACE_MATERIAL, &body);
    rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_MATERIAL, &resp);
    free(body.data.data);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__Material *m = resp->material;
    char sha[80];
    rc = cli_done(ctx, &m->base,
                  "material %" PRIu64 " is now version %" PRIu32 ": %s (%" PRIu64
                  " bytes, sha256 %s); the earlier versions are in its material-history",
                  m->id, m->version, m->file_name, m->size,
                  out_field_text(&m->base, "sha256", sha, sizeof sha));
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

static int cmd_delete_material(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__DeleteMaterialRequest body = LMS__DELETE_MATERIAL_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.material_id = cli_u64(a, "MATERIAL_ID", 0);
    CLI_SET_BODY(&req, delete_material, DELETE_MATERIAL, &body);
    return cli_act(ctx, &req,
                   "deleted material %" PRIu64 ": its students no longer see it; its "
                   "material-history keeps it for the course's staff",
                   body.material_id);
}

static int cmd_grade_history(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"GRADED", "graded", NULL},
        {"GRADER", "grader", NULL},
        {"GRADE", "grade", NULL},
        {"OF", "max_points", NULL},
        {"FEEDBACK", "feedback", NULL},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_GRADE_HISTORY, "grades",
                                              cols, sizeof cols / sizeof cols[0],
                                              "not graded yet"};
    Lms__GradeHistoryRequest body = LMS__GRADE_HISTORY_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.submission_id = cli_u64(a, "SUBMISSION_ID", 0);
    CLI_SET_BODY(&req, grade_history, GRADE_HISTORY, &body);
    return cli_list(ctx, &req, &view);
}

static int cmd_tutor_log(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__TutorLogRequest body = LMS__TUTOR_LOG_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    body.course = (char *)cli_str(a, "course");
    if (cli_has(a, "student"))
        body.student = (char *)cli_str(a, "student");
    CLI_SET_BODY(&req, tutor_log, TUTOR_LOG, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_QUERIES, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    rc = cmd_show_threads(ctx, resp->queries, "no questions to the tutor");
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

static int cmd_export_grades(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ExportGradesRequest body = LMS__EXPORT_GRADES_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    body.course = (char *)cli_str(a, "course");
    body.include_unenrolled = cli_has(a, "include-unenrolled");
    CLI_SET_BODY(&req, export_grades, EXPORT_GRADES, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_EXPORT_GRADES, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    if (ctx->json)
        cli_print_json(out_json_message(&resp->export_grades->base));
    else
        fputs(resp->export_grades->csv, stdout);
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}

static const char *fmt_queue_identical(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__ToGradeItem *it = (const Lms__ToGradeItem *)m;
    return it->submission ? cmd_fmt_identical(&it->submission->base, buf, n) : "";
}

static const char *fmt_queue_late(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__ToGradeItem *it = (const Lms__ToGradeItem *)m;
    return it->submission && it->submission->late ? "LATE" : "";
}

static int cmd_to_grade(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"SUBMISSION", "submission.id", NULL},
        {"COURSE", "course", NULL},
        {"ASSIGNMENT", "submission.assignment_id", NULL},
        {"TITLE", "assignment_title", NULL},
        {"STUDENT", "submission.student", NULL},
        {"ATTEMPT", "submission.attempt", NULL},
        {"SUBMITTED", "submission.submitted", NULL},
        {"LATE", NULL, fmt_queue_late},
        {"IDENTICAL TO", NULL, fmt_queue_identical},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_TO_GRADE, "queue",
                                              CLI_COLUMNS(cols), "nothing to grade"};
    Lms__ToGradeRequest body = LMS__TO_GRADE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    if (cli_has(a, "course"))
        body.course = (char *)cli_str(a, "course");
    CLI_SET_BODY(&req, to_grade, TO_GRADE, &body);
    return cli_list(ctx, &req, &view);
}

#define COURSE_PARAM(req) \
    {.name = "course", .meta = "C", .kind = CLI_STRING, .flags = (req), .help = "the course"}
#define ASSIGNMENT_PARAM                                                             \
    {.name = "assignment", .meta = "ID", .kind = CLI_ID, .flags = CLI_REQUIRED,      \
     .help = "the assignment"}

static const struct cli_param create_assignment_params[] = {
    COURSE_PARAM(CLI_REQUIRED),
    {.name = "title", .meta = "T", .kind = CLI_STRING, .flags = CLI_REQUIRED,
     .help = "the assignment's title"},
    {.name = "due", .meta = "TIME", .kind = CLI_TIME, .flags = CLI_REQUIRED,
     .help = "the deadline (ISO 8601; no zone: local time)"},
    {.name = "cutoff", .meta = "TIME", .kind = CLI_TIME,
     .help = "no submissions after this; late ones until then"},
    {.name = "max-points", .meta = "N", .kind = CLI_NUMBER,
     .help = "the full score (default 100)"},
    {.name = "max-attempts", .meta = "N", .kind = CLI_COUNT,
     .help = "submissions allowed per student (default 0: no limit)"},
    {.name = "max-size", .meta = "BYTES", .kind = CLI_SIZE,
     .help = "largest file accepted, e.g. 512KiB (default 10MiB, or the server's upload limit "
             "if lower)"},
    {.name = "hold-grades", .kind = CLI_FLAG, .help = "keep grades hidden until 'release'"},
    {.name = "description", .meta = "TEXT", .kind = CLI_STRING, .help = "what to do"},
    {.name = "late-penalty", .meta = "PCT", .kind = CLI_COUNT,
     .help = "percent of the points taken off a grade per started day late, 0-100 "
             "(default 0: none)"},
    CLI_END_PARAMS,
};

static const struct cli_param edit_assignment_params[] = {
    {.name = "ID", .kind = CLI_ID, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the assignment", .complete = CLI_COMPLETE_ASSIGNMENT},
    {.name = "title", .meta = "T", .kind = CLI_STRING, .help = "a new title"},
    {.name = "description", .meta = "TEXT", .kind = CLI_STRING, .help = "a new description"},
    {.name = "due", .meta = "TIME", .kind = CLI_TIME,
     .help = "a new deadline; lateness is judged by it, also for work handed in before"},
    {.name = "cutoff", .meta = "TIME", .kind = CLI_TIME, .help = "a new cut-off"},
    {.name = "no-cutoff", .kind = CLI_FLAG, .help = "remove the cut-off"},
    {.name = "max-points", .meta = "N", .kind = CLI_NUMBER,
     .help = "a new full score (not below a grade already given)"},
    {.name = "max-attempts", .meta = "N", .kind = CLI_COUNT,
     .help = "submissions allowed per student (0: no limit); those made stay"},
    {.name = "max-size", .meta = "BYTES", .kind = CLI_SIZE,
     .help = "largest file accepted from now on; files accepted stay"},
    {.name = "late-penalty", .meta = "PCT", .kind = CLI_COUNT,
     .help = "percent of the points taken off per started day late, 0-100"},
    CLI_END_PARAMS,
};

static const struct cli_param assignment_id_params[] = {
    {.name = "ID", .kind = CLI_ID, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the assignment", .complete = CLI_COMPLETE_ASSIGNMENT},
    CLI_END_PARAMS,
};

#define INCLUDE_UNENROLLED_PARAM                                                     \
    {.name = "include-unenrolled", .kind = CLI_FLAG,                                 \
     .help = "also the work of students who left the course (lms-admin unenroll)"}

static const struct cli_param submissions_params[] = {
    ASSIGNMENT_PARAM,
    {.name = "ungraded", .kind = CLI_FLAG, .help = "only those not graded yet"},
    INCLUDE_UNENROLLED_PARAM,
    CLI_END_PARAMS,
};

static const struct cli_param grade_params[] = {
    CMD_ID_OPERAND("SUBMISSION_ID", "the submission"),
    {.name = "grade", .meta = "G", .kind = CLI_NUMBER, .flags = CLI_REQUIRED,
     .help = "the points given"},
    {.name = "feedback", .meta = "TEXT", .kind = CLI_STRING,
     .help = "a comment for the student"},
    CLI_END_PARAMS,
};

static const struct cli_param assignment_params[] = {
    ASSIGNMENT_PARAM,
    CLI_END_PARAMS,
};

static const struct cli_param extend_params[] = {
    ASSIGNMENT_PARAM,
    {.name = "student", .meta = "NAME", .kind = CLI_STRING, .flags = CLI_REQUIRED,
     .help = "the student"},
    {.name = "until", .meta = "TIME", .kind = CLI_TIME, .flags = CLI_REQUIRED,
     .help = "the student's new deadline"},
    CLI_END_PARAMS,
};

static const struct cli_param queries_params[] = {
    COURSE_PARAM(0),
    {.name = "all", .kind = CLI_FLAG, .help = "resolved ones too (default: only open ones)"},
    CLI_END_PARAMS,
};

static const struct cli_param reply_params[] = {
    CMD_ID_OPERAND("QUERY_ID", "the query"),
    {.name = "share", .kind = CLI_FLAG,
     .help = "also share the question and its answers with the course (see 'share')"},
    {.name = "TEXT", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED | CLI_REST,
     .help = "the answer (several words are joined with spaces)"},
    CLI_END_PARAMS,
};

static const struct cli_param resolve_params[] = {
    CMD_ID_OPERAND("QUERY_ID", "the query"),
    CLI_END_PARAMS,
};

static const struct cli_param upload_params[] = {
    COURSE_PARAM(CLI_REQUIRED),
    {.name = "title", .meta = "T", .kind = CLI_STRING, .flags = CLI_REQUIRED,
     .help = "the material's title"},
    {.name = "FILE", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the file to share"},
    CLI_END_PARAMS,
};

static const struct cli_param export_params[] = {
    COURSE_PARAM(CLI_REQUIRED),
    {.name = "include-unenrolled", .kind = CLI_FLAG,
     .help = "also the students who left the course, and a last column \"enrolled\""},
    CLI_END_PARAMS,
};

static const struct cli_param replace_material_params[] = {
    CMD_ID_OPERAND("MATERIAL_ID", "the material"),
    {.name = "FILE", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "its new version"},
    {.name = "title", .meta = "T", .kind = CLI_STRING,
     .help = "a new title too (default: keep it)"},
    CLI_END_PARAMS,
};

static const struct cli_param material_id_params[] = {
    CMD_ID_OPERAND("MATERIAL_ID", "the material"),
    CLI_END_PARAMS,
};

static const struct cli_param submission_id_params[] = {
    CMD_ID_OPERAND("SUBMISSION_ID", "the submission"),
    CLI_END_PARAMS,
};

static const struct cli_param tutor_log_params[] = {
    COURSE_PARAM(CLI_REQUIRED),
    {.name = "student", .meta = "NAME", .kind = CLI_STRING,
     .help = "only this student's questions"},
    CLI_END_PARAMS,
};

static const struct cli_param tutor_settings_params[] = {
    COURSE_PARAM(CLI_REQUIRED),
    {.name = "system-prompt", .meta = "TEXT", .kind = CLI_STRING,
     .help = "what the tutor is told before each question"},
    {.name = "default-prompt", .kind = CLI_FLAG,
     .help = "go back to the built-in system prompt"},
    {.name = "daily-limit", .meta = "N", .kind = CLI_COUNT,
     .help = "tutor questions per student per day (UTC); 0: no limit"},
    CLI_END_PARAMS,
};

static const struct cli_command commands[] = {
    CMD_SESSION_COMMANDS,
    CLI_CONFIG_COMMANDS,
    {.name = "courses", .summary = "list the courses you teach", .params = cmd_no_params,
     .handler = cmd_courses, .flags = CLI_NEEDS_SESSION},
    {.name = "create-assignment", .summary = "set a new assignment",
     .params = create_assignment_params, .handler = cmd_create_assignment,
     .flags = CLI_NEEDS_SESSION},
    {.name = "edit-assignment", .summary = "change an assignment (only the options given)",
     .params = edit_assignment_params, .handler = cmd_edit_assignment,
     .flags = CLI_NEEDS_SESSION},
    {.name = "hide-assignment",
     .summary = "hide an assignment from its students (no listing, no submissions)",
     .params = assignment_id_params, .handler = cmd_hide_assignment,
     .flags = CLI_NEEDS_SESSION},
    {.name = "unhide-assignment", .summary = "show a hidden assignment to its students again",
     .params = assignment_id_params, .handler = cmd_unhide_assignment,
     .flags = CLI_NEEDS_SESSION},
    {.name = "delete-assignment",
     .summary = "delete an assignment nothing was submitted to (else: hide-assignment)",
     .params = assignment_id_params, .handler = cmd_delete_assignment,
     .flags = CLI_NEEDS_SESSION},
    {.name = "assignments", .summary = "list assignments", .params = cmd_course_filter_params,
     .handler = cmd_assignments, .flags = CLI_NEEDS_SESSION},
    {.name = "assignment", .summary = "show an assignment: its description and limits",
     .params = cmd_assignment_params, .handler = cmd_assignment, .flags = CLI_NEEDS_SESSION},
    {.name = "submissions",
     .summary = "list the submissions to an assignment (and which are identical)",
     .params = submissions_params, .handler = cmd_submissions_marked,
     .flags = CLI_NEEDS_SESSION},
    {.name = "to-grade", .summary = "list the latest attempts that await a grade, oldest first",
     .params = cmd_course_filter_params, .handler = cmd_to_grade, .flags = CLI_NEEDS_SESSION},
    {.name = "fetch-all",
     .summary = "save the latest submission of every student to an assignment",
     .params = cmd_fetch_all_params, .handler = cmd_fetch_all, .flags = CLI_NEEDS_SESSION},
    {.name = "fetch", .summary = "save a submitted file", .params = cmd_fetch_params,
     .handler = cmd_fetch, .flags = CLI_NEEDS_SESSION},
    {.name = "grade", .summary = "grade a submission", .params = grade_params,
     .handler = cmd_grade, .flags = CLI_NEEDS_SESSION},
    {.name = "release", .summary = "release the held grades of an assignment",
     .params = assignment_params, .handler = cmd_release, .flags = CLI_NEEDS_SESSION},
    {.name = "extend", .summary = "give a student a later deadline", .params = extend_params,
     .handler = cmd_extend, .flags = CLI_NEEDS_SESSION},
    {.name = "queries", .summary = "show students' questions with their replies",
     .params = queries_params, .handler = cmd_queries, .flags = CLI_NEEDS_SESSION},
    {.name = "reply", .summary = "answer a question", .params = reply_params,
     .handler = cmd_reply, .flags = CLI_NEEDS_SESSION},
    {.name = "resolve", .summary = "mark a question as resolved", .params = resolve_params,
     .handler = cmd_resolve, .flags = CLI_NEEDS_SESSION},
    {.name = "share",
     .summary = "show a question and your answers to the whole course (no student name) and "
                "let the tutor use them",
     .params = resolve_params, .handler = cmd_share, .flags = CLI_NEEDS_SESSION},
    {.name = "unshare", .summary = "make a shared question private again",
     .params = resolve_params, .handler = cmd_unshare, .flags = CLI_NEEDS_SESSION},
    {.name = "faq", .summary = "show the questions shared with your courses",
     .params = cmd_course_filter_params, .handler = cmd_faq, .flags = CLI_NEEDS_SESSION},
    {.name = "upload", .summary = "share a file with a course", .params = upload_params,
     .handler = cmd_upload, .flags = CLI_NEEDS_SESSION},
    {.name = "materials", .summary = "list course materials",
     .params = cmd_course_filter_params, .handler = cmd_materials, .flags = CLI_NEEDS_SESSION},
    {.name = "download", .summary = "save a course material (or an earlier version of it)",
     .params = cmd_download_params, .handler = cmd_download, .flags = CLI_NEEDS_SESSION},
    {.name = "replace-material",
     .summary = "upload a new version of a material (the earlier ones stay in its history)",
     .params = replace_material_params, .handler = cmd_replace_material,
     .flags = CLI_NEEDS_SESSION},
    {.name = "delete-material", .summary = "take a material away from its course's students",
     .params = material_id_params, .handler = cmd_delete_material,
     .flags = CLI_NEEDS_SESSION},
    {.name = "material-history",
     .summary = "list the versions of a material, and whether it was deleted",
     .params = cmd_material_history_params, .handler = cmd_material_history,
     .flags = CLI_NEEDS_SESSION},
    {.name = "grade-history",
     .summary = "list every grade a submission was given: who, when, what, oldest first",
     .params = submission_id_params, .handler = cmd_grade_history,
     .flags = CLI_NEEDS_SESSION},
    {.name = "announce", .summary = "post an announcement to the members of a course",
     .params = cmd_announce_params, .handler = cmd_announce, .flags = CLI_NEEDS_SESSION},
    {.name = "announcements", .summary = "read the announcements of your courses, newest first",
     .params = cmd_announcements_params, .handler = cmd_announcements,
     .flags = CLI_NEEDS_SESSION},
    {.name = "export-grades", .summary = "print a course's grades as CSV",
     .params = export_params, .handler = cmd_export_grades, .flags = CLI_NEEDS_SESSION},
    {.name = "tutor-log",
     .summary = "read your students' questions to the tutor and its answers",
     .params = tutor_log_params, .handler = cmd_tutor_log, .flags = CLI_NEEDS_SESSION},
    {.name = "tutor-settings",
     .summary = "show a course's tutor settings; change them with the options",
     .params = tutor_settings_params, .handler = cmd_tutor_settings,
     .flags = CLI_NEEDS_SESSION},
    CLI_DOC_COMMANDS,
    {.name = NULL},
};

static const struct cli_program program = {
    .name = "lms-instructor",
    .summary = "The instructor's client of the lms learning-management system.",
    .commands = commands,
};

int main(int argc, char **argv)
{
    return cli_main(&program, argc, argv);
}

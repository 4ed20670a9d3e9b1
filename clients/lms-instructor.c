/*
 * lms-instructor.c: the instructors' client: set assignments, fetch and
 * grade submissions, release grades, grant extensions, answer questions,
 * share materials, export grades, read the tutor's log and set the tutor.
 * Each subcommand is an entry in the table at the bottom; the frame around
 * them is cli.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd_common.h"
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
    CLI_SET_BODY(&req, create_assignment, CREATE_ASSIGNMENT, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_ASSIGNMENT, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    rc = cli_done(ctx, &resp->assignment->base, "created assignment %" PRIu64 " in %s: %s (due %s)",
                  resp->assignment->id, body.course, body.title, lms_time_format(body.due, due));
    lms__response__free_unpacked(resp, NULL);
    return rc;
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

#define COURSE_PARAM(req) {"course", 0, "C", CLI_STRING, (req), "the course", NULL}
#define ASSIGNMENT_PARAM {"assignment", 0, "ID", CLI_ID, CLI_REQUIRED, "the assignment", NULL}

static const struct cli_param create_assignment_params[] = {
    COURSE_PARAM(CLI_REQUIRED),
    {"title", 0, "T", CLI_STRING, CLI_REQUIRED, "the assignment's title", NULL},
    {"due", 0, "TIME", CLI_TIME, CLI_REQUIRED, "the deadline (ISO 8601; no zone: local time)",
     NULL},
    {"cutoff", 0, "TIME", CLI_TIME, 0, "no submissions after this; late ones until then", NULL},
    {"max-points", 0, "N", CLI_NUMBER, 0, "the full score (default 100)", NULL},
    {"max-attempts", 0, "N", CLI_COUNT, 0, "submissions allowed per student (default 0: no limit)",
     NULL},
    {"max-size", 0, "BYTES", CLI_SIZE, 0, "largest file accepted, e.g. 512KiB (default 10MiB, or the server's upload limit if lower)",
     NULL},
    {"hold-grades", 0, NULL, CLI_FLAG, 0, "keep grades hidden until 'release'", NULL},
    {"description", 0, "TEXT", CLI_STRING, 0, "what to do", NULL},
    CLI_END_PARAMS,
};

static const struct cli_param submissions_params[] = {
    ASSIGNMENT_PARAM,
    {"ungraded", 0, NULL, CLI_FLAG, 0, "only those not graded yet", NULL},
    CLI_END_PARAMS,
};

static const struct cli_param grade_params[] = {
    CMD_ID_OPERAND("SUBMISSION_ID", "the submission"),
    {"grade", 0, "G", CLI_NUMBER, CLI_REQUIRED, "the points given", NULL},
    {"feedback", 0, "TEXT", CLI_STRING, 0, "a comment for the student", NULL},
    CLI_END_PARAMS,
};

static const struct cli_param assignment_params[] = {ASSIGNMENT_PARAM, CLI_END_PARAMS};

static const struct cli_param extend_params[] = {
    ASSIGNMENT_PARAM,
    {"student", 0, "NAME", CLI_STRING, CLI_REQUIRED, "the student", NULL},
    {"until", 0, "TIME", CLI_TIME, CLI_REQUIRED, "the student's new deadline", NULL},
    CLI_END_PARAMS,
};

static const struct cli_param queries_params[] = {
    COURSE_PARAM(0),
    {"all", 0, NULL, CLI_FLAG, 0, "resolved ones too (default: only open ones)", NULL},
    CLI_END_PARAMS,
};

static const struct cli_param reply_params[] = {
    CMD_ID_OPERAND("QUERY_ID", "the query"),
    {"share", 0, NULL, CLI_FLAG, 0,
     "also share the question and its answers with the course (see 'share')", NULL},
    {"TEXT", 0, NULL, CLI_STRING, CLI_POSITIONAL | CLI_REQUIRED | CLI_REST,
     "the answer (several words are joined with spaces)", NULL},
    CLI_END_PARAMS,
};

static const struct cli_param resolve_params[] = {CMD_ID_OPERAND("QUERY_ID", "the query"),
                                                  CLI_END_PARAMS};

static const struct cli_param upload_params[] = {
    COURSE_PARAM(CLI_REQUIRED),
    {"title", 0, "T", CLI_STRING, CLI_REQUIRED, "the material's title", NULL},
    {"FILE", 0, NULL, CLI_STRING, CLI_POSITIONAL | CLI_REQUIRED, "the file to share", NULL},
    CLI_END_PARAMS,
};

static const struct cli_param export_params[] = {COURSE_PARAM(CLI_REQUIRED), CLI_END_PARAMS};

static const struct cli_param tutor_log_params[] = {
    COURSE_PARAM(CLI_REQUIRED),
    {"student", 0, "NAME", CLI_STRING, 0, "only this student's questions", NULL},
    CLI_END_PARAMS,
};

static const struct cli_param tutor_settings_params[] = {
    COURSE_PARAM(CLI_REQUIRED),
    {"system-prompt", 0, "TEXT", CLI_STRING, 0, "what the tutor is told before each question",
     NULL},
    {"default-prompt", 0, NULL, CLI_FLAG, 0, "go back to the built-in system prompt", NULL},
    {"daily-limit", 0, "N", CLI_COUNT, 0,
     "tutor questions per student per day (UTC); 0: no limit", NULL},
    CLI_END_PARAMS,
};

static const struct cli_command commands[] = {
    CMD_SESSION_COMMANDS,
    {"courses", "list the courses you teach", cmd_no_params, cmd_courses, CLI_NEEDS_SESSION},
    {"create-assignment", "set a new assignment", create_assignment_params,
     cmd_create_assignment, CLI_NEEDS_SESSION},
    {"assignments", "list assignments", cmd_course_filter_params, cmd_assignments,
     CLI_NEEDS_SESSION},
    {"submissions", "list the submissions to an assignment", submissions_params,
     cmd_submissions, CLI_NEEDS_SESSION},
    {"fetch", "save a submitted file", cmd_fetch_params, cmd_fetch, CLI_NEEDS_SESSION},
    {"grade", "grade a submission", grade_params, cmd_grade, CLI_NEEDS_SESSION},
    {"release", "release the held grades of an assignment", assignment_params, cmd_release,
     CLI_NEEDS_SESSION},
    {"extend", "give a student a later deadline", extend_params, cmd_extend, CLI_NEEDS_SESSION},
    {"queries", "show students' questions with their replies", queries_params, cmd_queries,
     CLI_NEEDS_SESSION},
    {"reply", "answer a question", reply_params, cmd_reply, CLI_NEEDS_SESSION},
    {"resolve", "mark a question as resolved", resolve_params, cmd_resolve, CLI_NEEDS_SESSION},
    {"share", "show a question and your answers to the whole course (no student name) and let "
              "the tutor use them",
     resolve_params, cmd_share, CLI_NEEDS_SESSION},
    {"unshare", "make a shared question private again", resolve_params, cmd_unshare,
     CLI_NEEDS_SESSION},
    {"faq", "show the questions shared with your courses", cmd_course_filter_params, cmd_faq,
     CLI_NEEDS_SESSION},
    {"upload", "share a file with a course", upload_params, cmd_upload, CLI_NEEDS_SESSION},
    {"materials", "list course materials", cmd_course_filter_params, cmd_materials,
     CLI_NEEDS_SESSION},
    {"export-grades", "print a course's grades as CSV", export_params, cmd_export_grades,
     CLI_NEEDS_SESSION},
    {"tutor-log", "read your students' questions to the tutor and its answers",
     tutor_log_params, cmd_tutor_log, CLI_NEEDS_SESSION},
    {"tutor-settings", "show a course's tutor settings; change them with the options",
     tutor_settings_params, cmd_tutor_settings, CLI_NEEDS_SESSION},
    {NULL, NULL, NULL, NULL, 0},
};

static const struct cli_program program = {
    "lms-instructor",
    "The instructor's client of the lms learning-management system.",
    commands,
};

int main(int argc, char **argv)
{
    return cli_main(&program, argc, argv);
}

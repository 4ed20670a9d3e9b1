/* SPDX-License-Identifier: MIT */
/*
 * lms-student.c: the students' client: hand in assignments, see grades,
 * ask the instructors or the course's tutor, fetch course materials. Each
 * subcommand is an entry in the table at the bottom; the frame around them
 * is cli.c.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_config.h"
#include "cli_doc.h"
#include "cmd_common.h"
#include "isotime.h"

static const char *fmt_status(const ProtobufCMessage *m, char *buf, size_t n)
{
    return ((const Lms__Submission *)m)->late ? "LATE" : "on time";
}

static int cmd_submit(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column fields[] = {
        {"submission", "id", NULL},
        {"assignment", "assignment_id", NULL},
        {"attempt", "attempt", NULL},
        {"file", "file_name", NULL},
        {"size", "size", NULL},
        {"sha256", "sha256", NULL},
        {"submitted", "submitted", NULL},
        {"status", NULL, fmt_status},
    };
    Lms__SubmitRequest body = LMS__SUBMIT_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    const char *name;
    const char *path = cli_str(a, "FILE");
    int rc = cmd_read_upload(ctx, path, &body.data.data, &body.data.len, &name);
    if (rc != LMS_EXIT_OK)
        return rc;
    if (body.data.len == 0) { /* the server refuses it too; say so before sending */
        free(body.data.data);
        return cli_fail(ctx, LMS_EXIT_FAILED, "INVALID_ARGUMENT",
                        "%s is empty; there is nothing to hand in (nothing was sent)", path);
    }
    body.assignment_id = cli_u64(a, "ASSIGNMENT_ID", 0);
    body.file_name = (char *)name;
    CLI_SET_BODY(&req, submit, SUBMIT, &body);
    rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_SUBMISSION, &resp);
    free(body.data.data);
    if (rc != LMS_EXIT_OK)
        return rc;
    rc = cli_show_fields(ctx, &resp->submission->base, CLI_COLUMNS(fields));
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

/* The grade that counts, out of the points; a late penalty is spelled
 * out: "65/100 (85, 2 days late: -20)". */
static const char *fmt_grade(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__GradeEntry *g = (const Lms__GradeEntry *)m;
    char grade[32], max[32], raw[32], off[32];
    double shown = g->penalty > 0 ? g->adjusted_grade : g->grade;
    int w = snprintf(buf, n, "%s/%s", out_number(shown, grade, sizeof grade),
                     out_number(g->max_points, max, sizeof max));
    if (g->penalty > 0 && w > 0 && (size_t)w < n)
        snprintf(buf + w, n - (size_t)w, " (%s, %" PRIu32 " day%s late: -%s)",
                 out_number(g->grade, raw, sizeof raw), g->days_late,
                 g->days_late == 1 ? "" : "s", out_number(g->penalty, off, sizeof off));
    return buf;
}

static int cmd_grades(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"COURSE", "course", NULL},
        {"ASSIGNMENT", "assignment_id", NULL},
        {"TITLE", "assignment_title", NULL},
        {"ATTEMPT", "attempt", NULL},
        {"GRADE", NULL, fmt_grade},
        {"GRADED", "graded", NULL},
        {"FEEDBACK", "feedback", NULL},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_GRADES, "grades",
                                              CLI_COLUMNS(cols), "no grades yet"};
    Lms__ListGradesRequest body = LMS__LIST_GRADES_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    if (cli_has(a, "course"))
        body.course = (char *)cli_str(a, "course");
    CLI_SET_BODY(&req, list_grades, LIST_GRADES, &body);
    return cli_list(ctx, &req, &view);
}

/* ---- the tutor ------------------------------------------------------------ */

/* How long the server may stay silent while the tutor thinks: longer than
 * any server's tutor deadline (at most 1 h; 60 s by default). */
#define TUTOR_WAIT_MS (61 * 60 * 1000)

/* What a terminal has shown of a streamed answer. */
struct shown {
    bool any;
    bool at_line_start;
};

static void show_piece(void *arg, const Lms__Response *partial)
{
    struct shown *s = arg;
    const char *text;
    if (partial->body_case != LMS__RESPONSE__BODY_TUTOR_CHUNK || !partial->tutor_chunk->text[0])
        return;
    text = partial->tutor_chunk->text;
    out_text_raw(stdout, text);
    fflush(stdout);
    s->any = true;
    s->at_line_start = text[strlen(text) - 1] == '\n';
}

/* The answer (unless streamed already) and, on a terminal, how it was made. */
static void show_answer(const Lms__Query *q, const struct shown *s, bool tty)
{
    char info[256];
    const Lms__Reply *answer = cmd_tutor_reply(q);
    if (!s->any)
        out_text_block(stdout, "", answer ? answer->text : "");
    else if (!s->at_line_start)
        putchar('\n');
    if (tty)
        printf("\n-- %s\nsaved as query %" PRIu64 "; to ask your instructor about it: "
               "lms-student escalate %" PRIu64 "\n",
               cmd_tutor_info(q, info, sizeof info), q->id, q->id);
}

/* On a terminal the answer is shown as it arrives; otherwise (or with
 * --json) only the final one. */
static int ask_tutor(struct cli_ctx *ctx, Lms__Request *req)
{
    bool tty = !ctx->json && isatty(STDOUT_FILENO);
    struct shown shown = {false, true};
    struct lms_call_opts opts = {.on_partial = tty ? show_piece : NULL, .arg = &shown,
                                 .wait_ms = TUTOR_WAIT_MS};
    Lms__Response *resp;
    int rc = cli_call_opts(ctx, req, &opts, LMS__RESPONSE__BODY_QUERY, &resp);
    if (rc != LMS_EXIT_OK) {
        if (!shown.at_line_start)
            putchar('\n');
        return rc;
    }
    if (ctx->json)
        cli_print_json(out_json_message(&resp->query->base));
    else
        show_answer(resp->query, &shown, tty);
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}

static int cmd_escalate(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__EscalateRequest body = LMS__ESCALATE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    body.query_id = cli_u64(a, "QUERY_ID", 0);
    if (cli_has(a, "TEXT"))
        body.text = (char *)cli_str(a, "TEXT");
    CLI_SET_BODY(&req, escalate, ESCALATE, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_QUERY, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    rc = cli_done(ctx, &resp->query->base,
                  "query %" PRIu64 " sent to the instructors of %s, with tutor exchange %" PRIu64
                  " attached",
                  resp->query->id, resp->query->course, body.query_id);
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

/* ---- asking ----------------------------------------------------------------- */

static int cmd_ask(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__AskRequest body = LMS__ASK_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    if (cli_has(a, "instructor") == cli_has(a, "tutor"))
        return cli_usage_error(ctx, cli_has(a, "tutor")
                                        ? "--instructor and --tutor exclude each other"
                                        : "choose whom to ask: --instructor or --tutor");
    body.course = (char *)cli_str(a, "course");
    if (cli_has(a, "title"))
        body.title = (char *)cli_str(a, "title");
    body.text = (char *)cli_str(a, "TEXT");
    body.tutor = cli_has(a, "tutor");
    CLI_SET_BODY(&req, ask, ASK, &body);
    if (body.tutor)
        return ask_tutor(ctx, &req);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY__NOT_SET, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    if (resp->body_case == LMS__RESPONSE__BODY_QUERY)
        rc = cli_done(ctx, out_response_body(resp),
                      "query %" PRIu64 " sent to the instructors of %s", resp->query->id,
                      body.course);
    else
        rc = cli_done(ctx, out_response_body(resp), "query sent to the instructors of %s",
                      body.course);
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

/* ---- the inbox -------------------------------------------------------------- */

#define INBOX_COLUMNS                                                                        \
    {"TIME", "time", NULL}, {"COURSE", "course", NULL}, {"KIND", "kind", NULL},              \
        {"ID", "id", NULL}, {"SUMMARY", "summary", NULL}

static const char *fmt_new(const ProtobufCMessage *m, char *buf, size_t n)
{
    return ((const Lms__InboxItem *)m)->unread ? "*" : "";
}

/* ms as 2026-12-01T23:59:00.123Z into buf (LMS_TIME_BUFSZ + 8 bytes): a
 * --since or --until that pages on exactly. */
static const char *time_ms(int64_t ms, char *buf)
{
    char t[LMS_TIME_BUFSZ];
    lms_time_format(ms - ms % 1000, t);
    size_t n = strlen(t);
    if (n > 0 && t[n - 1] == 'Z')
        t[n - 1] = '\0';
    snprintf(buf, LMS_TIME_BUFSZ + 8, "%s.%03dZ", t, (int)(ms % 1000));
    return buf;
}

static void show_inbox(const Lms__InboxResponse *ib, bool unread_only, bool all)
{
    static const struct out_column unread_cols[] = {INBOX_COLUMNS};
    static const struct out_column all_cols[] = {{"NEW", NULL, fmt_new}, INBOX_COLUMNS};
    char t[LMS_TIME_BUFSZ], since[LMS_TIME_BUFSZ + 8], until[LMS_TIME_BUFSZ + 8],
        opt[LMS_TIME_BUFSZ + 16];
    if (ib->n_items == 0 && unread_only)
        printf(ib->mark ? "nothing new since %s\n" : "nothing new\n",
               lms_time_format(ib->mark, t));
    else if (ib->n_items == 0)
        printf(all && !ib->until ? "nothing yet\n" : "nothing in that time\n");
    else if (unread_only)
        out_table(stdout, CLI_COLUMNS(unread_cols), (ProtobufCMessage *const *)ib->items,
                  ib->n_items);
    else
        out_table(stdout, CLI_COLUMNS(all_cols), (ProtobufCMessage *const *)ib->items,
                  ib->n_items);
    if (ib->more == 0 || ib->n_items == 0)
        return;
    const Lms__InboxItem *oldest = ib->items[ib->n_items - 1];
    snprintf(opt, sizeof opt, ib->since ? "--since %s" : "--all",
             time_ms(ib->since, since));
    printf("\n%" PRIu32 " older item%s not shown: lms-student inbox %s --until %s\n",
           ib->more, ib->more == 1 ? "" : "s", opt, time_ms(oldest->time, until));
}

/* Mark the inbox read up to up_to, after it was shown. A failure is said
 * on stderr only (stdout has the inbox, with --json its one document). */
static int mark_read(struct cli_ctx *ctx, int64_t up_to)
{
    Lms__InboxSeenRequest body = LMS__INBOX_SEEN_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp = NULL;
    bool json = ctx->json;
    body.up_to = up_to;
    CLI_SET_BODY(&req, inbox_seen, INBOX_SEEN, &body);
    ctx->json = false;
    int rc = cli_call_raw(ctx, &req, &resp);
    if (rc == LMS_EXIT_OK && resp->status != LMS__STATUS__OK)
        rc = cli_refused(ctx, resp);
    ctx->json = json;
    if (resp)
        lms__response__free_unpacked(resp, NULL);
    if (rc != LMS_EXIT_OK)
        fprintf(stderr, "%s: what is shown above may not be marked as read: it may show "
                        "again next time\n", ctx->prog->name);
    return rc;
}

static int cmd_inbox(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__InboxRequest body = LMS__INBOX_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    if (cli_has(a, "all") && cli_has(a, "since"))
        return cli_usage_error(ctx, "--all (everything) and --since (after a time) exclude "
                                    "each other");
    body.all = cli_has(a, "all");
    body.since = cli_time(a, "since", 0);
    body.until = cli_time(a, "until", 0);
    /* the unread ones are marked read once shown, like a mail client */
    bool unread_only = !body.all && !cli_has(a, "since") && !cli_has(a, "until");
    CLI_SET_BODY(&req, inbox, INBOX, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_INBOX, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__InboxResponse *ib = resp->inbox;
    if (ctx->json)
        cli_print_json(out_json_message(&ib->base));
    else
        show_inbox(ib, unread_only, body.all);
    fflush(stdout);
    if (unread_only && !cli_has(a, "keep-unread") && ib->n_items > 0)
        rc = mark_read(ctx, ib->newest);
    lms__response__free_unpacked(resp, NULL);
    return rc;
}

static const struct cli_param submit_params[] = {
    CMD_ID_OPERAND("ASSIGNMENT_ID", "the assignment"),
    {.name = "FILE", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the file to hand in, sent as is under its base name"},
    CLI_END_PARAMS,
};

static const struct cli_param submissions_params[] = {
    {.name = "assignment", .meta = "ID", .kind = CLI_ID, .help = "only this assignment"},
    CLI_END_PARAMS,
};

static const struct cli_param ask_params[] = {
    {.name = "course", .meta = "C", .kind = CLI_STRING, .flags = CLI_REQUIRED,
     .help = "the course the question is about"},
    {.name = "instructor", .kind = CLI_FLAG, .help = "ask the course's instructors"},
    {.name = "tutor", .kind = CLI_FLAG,
     .help = "ask the course's tutor; the answer is shown as it comes and kept"},
    {.name = "title", .meta = "T", .kind = CLI_STRING,
     .help = "a short title for the question"},
    {.name = "TEXT", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED | CLI_REST,
     .help = "the question (several words are joined with spaces)"},
    CLI_END_PARAMS,
};

static const struct cli_param escalate_params[] = {
    CMD_ID_OPERAND("QUERY_ID", "your exchange with the tutor"),
    {.name = "TEXT", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REST,
     .help = "a note for the instructors (several words are joined with spaces)"},
    CLI_END_PARAMS,
};

static const struct cli_param tutor_settings_params[] = {
    {.name = "course", .meta = "C", .kind = CLI_STRING, .flags = CLI_REQUIRED,
     .help = "the course"},
    CLI_END_PARAMS,
};

static const struct cli_param inbox_params[] = {
    {.name = "all", .kind = CLI_FLAG,
     .help = "everything, read or not (new ones marked *); marks nothing read"},
    {.name = "since", .meta = "TIME", .kind = CLI_TIME,
     .help = "what came after TIME, read or not; marks nothing read"},
    {.name = "until", .meta = "TIME", .kind = CLI_TIME,
     .help = "only what came at or before TIME (the next page); marks nothing read"},
    {.name = "keep-unread", .kind = CLI_FLAG, .help = "show the unread ones, leave them unread"},
    CLI_END_PARAMS,
};

static const struct cli_command commands[] = {
    CMD_SESSION_COMMANDS,
    CLI_CONFIG_COMMANDS,
    {.name = "courses", .summary = "list the courses you are enrolled in",
     .params = cmd_no_params, .handler = cmd_courses, .flags = CLI_NEEDS_SESSION},
    {.name = "assignments",
     .summary = "list assignments, with your due times and the attempts you have left",
     .params = cmd_course_filter_params, .handler = cmd_my_assignments,
     .flags = CLI_NEEDS_SESSION},
    {.name = "assignment",
     .summary = "show an assignment: its description, limits and your attempts",
     .params = cmd_assignment_params, .handler = cmd_assignment, .flags = CLI_NEEDS_SESSION},
    {.name = "submit", .summary = "hand in FILE for an assignment", .params = submit_params,
     .handler = cmd_submit, .flags = CLI_NEEDS_SESSION},
    {.name = "submissions", .summary = "list what you have handed in",
     .params = submissions_params, .handler = cmd_submissions, .flags = CLI_NEEDS_SESSION},
    {.name = "grades", .summary = "list your released grades",
     .params = cmd_course_filter_params, .handler = cmd_grades, .flags = CLI_NEEDS_SESSION},
    {.name = "ask", .summary = "ask the instructors or the tutor of a course a question",
     .params = ask_params, .handler = cmd_ask, .flags = CLI_NEEDS_SESSION},
    {.name = "escalate",
     .summary = "send an answer of the tutor to the instructors, with a note",
     .params = escalate_params, .handler = cmd_escalate, .flags = CLI_NEEDS_SESSION},
    {.name = "queries",
     .summary = "show your questions with their replies, and your tutor exchanges",
     .params = cmd_no_params, .handler = cmd_queries, .flags = CLI_NEEDS_SESSION},
    {.name = "faq",
     .summary = "read the questions and answers the instructors shared with your courses",
     .params = cmd_course_filter_params, .handler = cmd_faq, .flags = CLI_NEEDS_SESSION},
    {.name = "tutor-settings",
     .summary = "show a course's tutor limit (and how much you used today)",
     .params = tutor_settings_params, .handler = cmd_tutor_settings,
     .flags = CLI_NEEDS_SESSION},
    {.name = "materials", .summary = "list course materials",
     .params = cmd_course_filter_params, .handler = cmd_materials, .flags = CLI_NEEDS_SESSION},
    {.name = "inbox",
     .summary = "what is new for you: announcements, assignments, grades, replies, extensions "
                "(then marked read)",
     .params = inbox_params, .handler = cmd_inbox, .flags = CLI_NEEDS_SESSION},
    {.name = "announcements", .summary = "read the announcements of your courses, newest first",
     .params = cmd_announcements_params, .handler = cmd_announcements,
     .flags = CLI_NEEDS_SESSION},
    {.name = "download", .summary = "save a course material (or an earlier version of it)",
     .params = cmd_download_params, .handler = cmd_download, .flags = CLI_NEEDS_SESSION},
    {.name = "material-history", .summary = "list the versions of a course material",
     .params = cmd_material_history_params, .handler = cmd_material_history,
     .flags = CLI_NEEDS_SESSION},
    {.name = "fetch", .summary = "save a file you handed in", .params = cmd_fetch_params,
     .handler = cmd_fetch, .flags = CLI_NEEDS_SESSION},
    CLI_DOC_COMMANDS,
    {.name = NULL},
};

static const struct cli_program program = {
    .name = "lms-student",
    .summary = "The student's client of the lms learning-management system.",
    .commands = commands,
};

int main(int argc, char **argv)
{
    return cli_main(&program, argc, argv);
}

/* SPDX-License-Identifier: MIT */
/*
 * cmd_common.h: the subcommands that more than one program offers (login,
 * logout, whoami, courses, assignments, materials, download,
 * material-history, submissions, fetch, queries, faq, tutor-settings,
 * announce, announcements)
 * and the helpers that the program-specific ones share (reading a file to
 * send, saving a file received, building requests).
 */
#ifndef LMS_CLIENTS_CMD_COMMON_H
#define LMS_CLIENTS_CMD_COMMON_H

#include "cli.h"

/* Point the body oneof of request r at body b: CLI_SET_BODY(&req, submit, SUBMIT, &s). */
#define CLI_SET_BODY(r, member, CASE, b) \
    ((r)->body_case = LMS__REQUEST__BODY_##CASE, (r)->member = (b))

#define CLI_COLUMNS(cols) (cols), (sizeof(cols) / sizeof((cols)[0]))

/* -o FILE of the subcommands that save a file from the server. */
#define CMD_OUTPUT_PARAM(what)                                                               \
    {.name = "output", .short_name = 'o', .meta = "FILE", .kind = CLI_STRING,                \
     .help = "save as FILE, replacing it ('-': stdout); default: the " what "'s file name "  \
             "here, never replacing a file"}
/* A required numeric id operand. */
#define CMD_ID_OPERAND(op, text)                                                  \
    {.name = (op), .kind = CLI_ID, .flags = CLI_POSITIONAL | CLI_REQUIRED, .help = (text)}

extern const struct cli_param cmd_no_params[];
extern const struct cli_param cmd_login_params[];
extern const struct cli_param cmd_course_filter_params[];

int cmd_login(struct cli_ctx *ctx, const struct cli_args *a);
int cmd_logout(struct cli_ctx *ctx, const struct cli_args *a);
int cmd_whoami(struct cli_ctx *ctx, const struct cli_args *a);
/* passwd: the current password, then the new one (asked twice), on the
 * terminal or as two lines of standard input (--password-stdin). */
int cmd_passwd(struct cli_ctx *ctx, const struct cli_args *a);
extern const struct cli_param cmd_passwd_params[];
int cmd_courses(struct cli_ctx *ctx, const struct cli_args *a);
/* [--course C] */
int cmd_assignments(struct cli_ctx *ctx, const struct cli_args *a);
int cmd_materials(struct cli_ctx *ctx, const struct cli_args *a);
/* [--course C], for students: with whether they submitted and the
 * attempts they have left */
int cmd_my_assignments(struct cli_ctx *ctx, const struct cli_args *a);
/* ASSIGNMENT_ID (cmd_assignment_params): one assignment, its description
 * and limits as text (a student's session: with their own standing) */
extern const struct cli_param cmd_assignment_params[];
int cmd_assignment(struct cli_ctx *ctx, const struct cli_args *a);
/* MATERIAL_ID [--version N] [-o FILE]: save a material (its latest
 * version, or version N) */
extern const struct cli_param cmd_download_params[];
int cmd_download(struct cli_ctx *ctx, const struct cli_args *a);
/* MATERIAL_ID: its versions, oldest first, and whether it was deleted */
extern const struct cli_param cmd_material_history_params[];
int cmd_material_history(struct cli_ctx *ctx, const struct cli_args *a);
/* [--assignment ID] [--ungraded] */
int cmd_submissions(struct cli_ctx *ctx, const struct cli_args *a);
/* The same for instructors, with the IDENTICAL TO column, and
 * [--include-unenrolled] */
int cmd_submissions_marked(struct cli_ctx *ctx, const struct cli_args *a);
/* A submission's identical mark: "#12 (bob)", "#12 (bob) +2 more", or "". */
const char *cmd_fmt_identical(const ProtobufCMessage *m, char *buf, size_t n);
/* SUBMISSION_ID [-o FILE]: save a submitted file (cmd_fetch_params); the
 * server lets a student fetch only their own submissions */
extern const struct cli_param cmd_fetch_params[];
int cmd_fetch(struct cli_ctx *ctx, const struct cli_args *a);
/* [--course C] [--all]; a program that declares no --all lists every thread */
int cmd_queries(struct cli_ctx *ctx, const struct cli_args *a);
/* [--course C]: the questions the instructors shared with the course
 * (its FAQ), with their replies and without student names */
int cmd_faq(struct cli_ctx *ctx, const struct cli_args *a);
/* --course C, and for a program that declares them [--system-prompt TEXT |
 * --default-prompt] [--daily-limit N]: show (and change) the tutor settings */
int cmd_tutor_settings(struct cli_ctx *ctx, const struct cli_args *a);

/* announce --course C [--title T] TEXT: post an announcement (the
 * course's instructors and admins) */
extern const struct cli_param cmd_announce_params[];
int cmd_announce(struct cli_ctx *ctx, const struct cli_args *a);
/* announcements [--course C] [--before ID]: a course's announcements (or
 * those of every course of the caller), newest first, a page at a time */
extern const struct cli_param cmd_announcements_params[];
int cmd_announcements(struct cli_ctx *ctx, const struct cli_args *a);

/* Query threads as text (or the JSON of qr); empty: the line for none. */
int cmd_show_threads(struct cli_ctx *ctx, const Lms__QueriesResponse *qr, const char *empty);
/* The tutor's answer in a tutor exchange (its reply by "tutor"), or NULL. */
const Lms__Reply *cmd_tutor_reply(const Lms__Query *q);
/* "tutor_openai/gpt-4o-mini, 21 prompt + 8 completion tokens, 1.2 s" */
const char *cmd_tutor_info(const Lms__Query *q, char *buf, size_t n);

/* The entries every program's table starts with. */
#define CMD_SESSION_COMMANDS                                                                 \
    {.name = "login", .summary = "log in as NAME and keep the session",                      \
     .params = cmd_login_params, .handler = cmd_login},                                      \
    {.name = "logout", .summary = "end the session and forget it", .params = cmd_no_params,  \
     .handler = cmd_logout, .flags = CLI_NEEDS_SESSION},                                     \
    {.name = "whoami", .summary = "show who is logged in, and until when",                   \
     .params = cmd_no_params, .handler = cmd_whoami, .flags = CLI_NEEDS_SESSION},            \
    {.name = "passwd", .summary = "change your password (your other sessions end)",          \
     .params = cmd_passwd_params, .handler = cmd_passwd, .flags = CLI_NEEDS_SESSION}

/*
 * Read the file at path for sending: *data (free it) and *len, and its base
 * name in *name (points into path). Returns LMS_EXIT_OK or the reported
 * exit code.
 */
int cmd_read_upload(struct cli_ctx *ctx, const char *path, uint8_t **data, size_t *len,
                    const char **name);

/* Check -o before asking the server: "-o -" and --json both want stdout. */
int cmd_check_output(struct cli_ctx *ctx, const struct cli_args *a);

/*
 * Save a file received from the server after checking it against sha256:
 * to -o (args "output", replacing an existing file) or to file_name in the
 * current directory (never replacing one). Then report
 * "saved WHAT to PATH (N bytes, sha256 HEX)", or the JSON of m plus "path".
 */
int cmd_save_download(struct cli_ctx *ctx, const struct cli_args *a, const ProtobufCMessage *m,
                      const char *what, const char *file_name, const ProtobufCBinaryData *data,
                      const ProtobufCBinaryData *sha256);

#endif

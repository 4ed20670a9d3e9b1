/* SPDX-License-Identifier: MIT */
/*
 * cli_doc.h: the documents each CLI makes of its own tables: its manual
 * page (`lms-student --help-man`, run by the build) and its bash and zsh
 * completion (`lms-student completion bash|zsh`), with the hidden
 * `__complete courses` that the completion asks for course codes. The
 * command, parameter and global option tables that drive --help drive
 * these too, so a subcommand or option cannot be missing from the page
 * or the completion (tests/docs/ checks both).
 */
#ifndef LMS_CLIENTS_CLI_DOC_H
#define LMS_CLIENTS_CLI_DOC_H

#include <stdio.h>

#include "cli.h"

/* The exit codes of cli.h with what each means: --help and the man page. */
struct cli_exit_doc {
    int code;
    const char *text;
};
extern const struct cli_exit_doc cli_exit_docs[]; /* ends with text NULL */

/* The man page of prog, in roff (section 1). */
void cli_doc_man(FILE *f, const struct cli_program *prog);

/* prog's completion script for shell ("bash" or "zsh"). 0, or -1 for
 * another shell. */
int cli_doc_completion(FILE *f, const struct cli_program *prog, const char *shell);

extern const struct cli_param cli_completion_params[];
int cli_cmd_completion(struct cli_ctx *ctx, const struct cli_args *a);
extern const struct cli_param cli_complete_params[];
int cli_cmd_complete(struct cli_ctx *ctx, const struct cli_args *a);

/* How long __complete lets a call retry (LMS_CLIENT_TIMEOUT, seconds): a
 * completion must not hang the shell when the cluster is away. */
#define CLI_COMPLETE_TIMEOUT "1.5"

/* The rows every program's table ends with: completion (listed in --help)
 * and __complete (hidden: the completion scripts call it). */
#define CLI_DOC_COMMANDS                                                                      \
    {.name = "completion",                                                                    \
     .summary = "print a bash or zsh completion script for this program",                    \
     .params = cli_completion_params, .handler = cli_cmd_completion, .flags = CLI_LOCAL},     \
    {.name = "__complete",                                                                    \
     .summary = "print values for the completion scripts (course codes), quietly",           \
     .params = cli_complete_params, .handler = cli_cmd_complete,                              \
     .flags = CLI_LOCAL | CLI_HIDDEN}

#endif

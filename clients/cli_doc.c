/* SPDX-License-Identifier: MIT */
/*
 * cli_doc.c: a CLI's man page, made from the tables of cli.h and
 * cli_opts.h (see cli_doc.h): the global options, every command with its
 * usage line (cli_print_usage's, so the two agree), summary and params,
 * and the exit codes, variables and files the frame uses.
 */
#include "cli_doc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "roff.h"

#ifndef LMS_VERSION
#define LMS_VERSION "0.0.0"
#endif

const struct cli_exit_doc cli_exit_docs[] = {
    {.code = LMS_EXIT_OK, .text = "ok"},
    {.code = LMS_EXIT_FAILED, .text = "refused by the server, or a local failure"},
    {.code = LMS_EXIT_USAGE,
     .text = "usage error, or settings that cannot work: a config file that cannot be "
             "used (unknown key, bad YAML, writable by others), TLS settings that cannot "
             "(a CA file that cannot be loaded, plaintext to another machine)"},
    {.code = LMS_EXIT_UNREACHABLE,
     .text = "no server reachable or no leader; also a write whose outcome is unknown "
             "(running it again is safe)"},
    {.code = LMS_EXIT_AUTH, .text = "not logged in, or the session expired or was revoked"},
    {.text = NULL},
};

/* The variables the clients read (cli.c, session.c, lmsclient.c). */
static const struct {
    const char *name, *text;
} env_docs[] = {
    {"LMS_SERVERS", "The servers to contact, HOST:PORT[,...], when -s is not given."},
    {"LMS_HOME", "Where the session and config.yaml are kept, when --home is not given "
                 "(default $XDG_CONFIG_HOME/lms, else ~/.config/lms)."},
    {"LMS_CONFIG", "The client configuration file, when --config is not given (default "
                   "config.yaml in the session directory)."},
    {"LMS_CONTEXT", "The context of the configuration file to use, when --context is not "
                    "given."},
    {"LMS_CACERT", "Use TLS, trusting the CAs in this file (the cluster's ca.crt)."},
    {"LMS_TLS", "1: use TLS, trusting the system's CAs."},
    {"LMS_PLAINTEXT", "1: plaintext even to another machine (by default plaintext goes to this "
                      "machine only)."},
    {"XDG_CONFIG_HOME", "The base of the session directory, $XDG_CONFIG_HOME/lms (used "
                        "only when absolute; default ~/.config)."},
    {"LMS_CLIENT_TIMEOUT", "Seconds a call keeps retrying after its first failure (default 10)."},
    {"LMS_CLIENT_DEBUG", "If set, every failed attempt is traced on standard error."},
};

static const struct {
    const char *path, *text;
} file_docs[] = {
    {"~/.config/lms/session",
     "The login session (mode 0600, in a directory of mode 0700); --home or LMS_HOME "
     "choose another directory."},
    {"~/.config/lms/pending",
     "The write whose outcome was unknown, so that running the same command again is "
     "safe."},
    {"~/.config/lms/config.yaml",
     "The client configuration file: servers, cacert, tls, plaintext, and named contexts "
     "of them (see config view). Refused when others may write it."},
};

static bool is_operand(const struct cli_param *p)
{
    return (p->flags & CLI_POSITIONAL) != 0;
}

/* ---- the man page ------------------------------------------------------ */

/* text as a sentence: its first letter capital, ending with a period. */
static void man_sentence(FILE *f, const char *text)
{
    char *s = strdup(text);
    if (s == NULL)
        return;
    s[0] = (char)toupper((unsigned char)s[0]);
    roff_put(f, s, 0);
    size_t n = strlen(s);
    fputs(n > 0 && s[n - 1] != '.' ? ".\n" : "\n", f);
    free(s);
}

static void man_param(FILE *f, const struct cli_param *p)
{
    char opt[80];
    fputs(".TP\n", f);
    if (is_operand(p)) {
        snprintf(opt, sizeof opt, "%s%s", p->name, p->flags & CLI_REST ? "..." : "");
        roff_italic(f, opt);
    } else {
        if (p->short_name) {
            snprintf(opt, sizeof opt, "-%c", p->short_name);
            roff_bold(f, opt);
            fputs(", ", f);
        }
        snprintf(opt, sizeof opt, "--%s", p->name);
        roff_bold(f, opt);
        if (p->kind != CLI_FLAG) {
            fputc(' ', f);
            roff_italic(f, p->meta);
        }
    }
    fputc('\n', f);
    man_sentence(f, p->help ? p->help : "");
    if (p->flags & CLI_MULTI)
        fputs("May be given more than once.\n", f);
}

/* The usage line of cmd after "PROG CMD", as cli_print_usage writes it. */
static char *usage_args(const struct cli_program *prog, const struct cli_command *cmd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL)
        return NULL;
    cli_print_usage(m, prog->name, cmd->name, cmd->params);
    if (fclose(m) != 0) {
        free(text);
        return NULL;
    }
    size_t skip = strlen("usage: ") + strlen(prog->name) + 1 + strlen(cmd->name);
    memmove(text, text + (len >= skip ? skip : len), len - (len >= skip ? skip : len) + 1);
    text[strcspn(text, "\n")] = '\0';
    return text;
}

static void man_command(FILE *f, const struct cli_program *prog, const struct cli_command *c)
{
    char head[160];
    roff_request(f, ".SS", c->name);
    snprintf(head, sizeof head, "%s %s", prog->name, c->name);
    fputs(".B ", f);
    roff_put(f, head, ROFF_ARG); /* one line: an argument, unquoted */
    fputc('\n', f);
    char *args = usage_args(prog, c);
    if (args && *args) {
        roff_put(f, args + (*args == ' '), 0);
        fputc('\n', f);
    }
    free(args);
    fputs(".PP\n", f);
    man_sentence(f, c->summary);
    for (const struct cli_param *p = c->params; p->name != NULL; p++)
        man_param(f, p);
}

static void man_head(FILE *f, const struct cli_program *prog)
{
    char title[64];
    size_t i;
    for (i = 0; prog->name[i] && i + 1 < sizeof title; i++)
        title[i] = (char)toupper((unsigned char)prog->name[i]);
    title[i] = '\0';
    fprintf(f, ".\\\" Generated by %s --help-man from its tables (clients/cli_doc.c); do not "
               "edit.\n",
            prog->name);
    fputs(".TH ", f);
    roff_put(f, title, 0);
    fprintf(f, " 1 \"\" \"lms %s\" \"User Commands\"\n.SH NAME\n", LMS_VERSION);
    roff_put(f, prog->name, 0);
    fputs(" \\- ", f);
    char *s = strdup(prog->summary);
    if (s) { /* "The student's client ..." as a NAME line: no capital, no period */
        size_t n = strlen(s);
        if (n > 0 && s[n - 1] == '.')
            s[n - 1] = '\0';
        s[0] = (char)tolower((unsigned char)s[0]);
        roff_put(f, s, 0);
        free(s);
    }
    fputs("\n.SH SYNOPSIS\n.B ", f);
    roff_put(f, prog->name, 0);
    fputs("\n[\\fIglobal options\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n", f);
}

void cli_doc_man(FILE *f, const struct cli_program *prog)
{
    man_head(f, prog);
    fputs(".SH DESCRIPTION\n", f);
    roff_put(f, prog->summary, 0);
    fputs("\n.PP\n", f);
    fprintf(f, "The global options may come before or after the command. ");
    roff_put(f, "With --json, standard output carries exactly one JSON document: the result, "
                "or {\"error\": ..., \"status\": ...}; messages for people go to standard "
                "error in both modes. A write whose outcome is unknown (exit 3) is safe to run "
                "again: the cluster applies it at most once.",
             0);
    fputs("\n.PP\n", f);
    char line[200];
    snprintf(line, sizeof line,
             "%s help COMMAND, or COMMAND --help, shows a command's arguments. %s completion "
             "bash (or zsh) prints a completion script for the shell.",
             prog->name, prog->name);
    roff_put(f, line, 0);
    fputs("\n.SH \"GLOBAL OPTIONS\"\n", f);
    for (const struct cli_param *p = cli_global_params(); p->name != NULL; p++)
        man_param(f, p);
    fputs(".SH COMMANDS\n", f);
    for (const struct cli_command *c = prog->commands; c->name != NULL; c++)
        if (!(c->flags & CLI_HIDDEN))
            man_command(f, prog, c);
    fputs(".SH \"EXIT STATUS\"\n", f);
    for (const struct cli_exit_doc *e = cli_exit_docs; e->text != NULL; e++) {
        fprintf(f, ".TP\n.B %d\n", e->code);
        man_sentence(f, e->text);
    }
    fputs(".SH ENVIRONMENT\n", f);
    for (size_t i = 0; i < sizeof env_docs / sizeof env_docs[0]; i++) {
        fputs(".TP\n.B ", f);
        roff_put(f, env_docs[i].name, 0);
        fputc('\n', f);
        roff_put(f, env_docs[i].text, 0);
        fputc('\n', f);
    }
    fputs(".SH FILES\n", f);
    for (size_t i = 0; i < sizeof file_docs / sizeof file_docs[0]; i++) {
        fputs(".TP\n.I ", f);
        roff_put(f, file_docs[i].path, 0);
        fputc('\n', f);
        roff_put(f, file_docs[i].text, 0);
        fputc('\n', f);
    }
    fputs(".SH \"SEE ALSO\"\n", f);
    static const char *const pages[] = {"lms-student", "lms-instructor", "lms-admin"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
        if (strcmp(pages[i], prog->name) != 0) {
            fputs(".BR ", f);
            roff_put(f, pages[i], 0);
            fputs(" (1),\n", f);
        }
    fputs(".BR lmsd (8)\n", f);
}


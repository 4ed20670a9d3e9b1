/* SPDX-License-Identifier: MIT */
/*
 * cli.c: the subcommand dispatcher, error reporting and result printing
 * shared by the three programs (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_config.h"
#include "cli_doc.h"
#include "pending.h"

#ifndef LMS_VERSION
#define LMS_VERSION "0.0.0"
#endif

static const struct cli_param global_params[] = {
    {.name = "servers", .short_name = 's', .meta = "HOST:PORT[,...]", .kind = CLI_STRING,
     .help = "servers to contact (default $LMS_SERVERS, else servers: of the config file's "
             "context or top level, else the list saved at login, else 127.0.0.1:7400)"},
    {.name = "cacert", .meta = "FILE", .kind = CLI_STRING,
     .help = "use TLS, trusting the CAs in FILE, the cluster's ca.crt ($LMS_CACERT; "
             "cacert: in the config file)"},
    {.name = "tls", .kind = CLI_FLAG,
     .help = "use TLS, trusting the system's CAs ($LMS_TLS=1; tls: true in the config file)"},
    {.name = "plaintext", .kind = CLI_FLAG,
     .help = "plaintext even to another machine ($LMS_PLAINTEXT=1; plaintext: true in the "
             "config file); by default plaintext goes to this machine only; login remembers "
             "the choice"},
    {.name = "json", .kind = CLI_FLAG, .help = "print the result as one JSON document"},
    {.name = "home", .meta = "DIR", .kind = CLI_STRING,
     .help = "where the session (and config.yaml) are kept (default $LMS_HOME, else "
             "$XDG_CONFIG_HOME/lms, else ~/.config/lms)"},
    {.name = "config", .meta = "FILE", .kind = CLI_STRING,
     .help = "the client config file (default $LMS_CONFIG, else config.yaml in the session "
             "directory; see 'config view')"},
    {.name = "context", .meta = "NAME", .kind = CLI_STRING,
     .help = "the context of the config file to use (default $LMS_CONTEXT, else its "
             "context:)"},
    {.name = "help", .short_name = 'h', .kind = CLI_FLAG, .help = "show this help"},
    {.name = "version", .kind = CLI_FLAG, .help = "show the version"},
    CLI_END_PARAMS,
};

/* ---- reporting ---------------------------------------------------------- */

/* stderr gets "PROG: text"; with --json stdout gets {"error", "status"}.
 * A failure that reached a server also names the call's request id (rid,
 * NULL or "" for none): " (request id ID)" on stderr, "request_id" in the
 * JSON, so that the server's log line of the call can be found. */
static int report_rid(struct cli_ctx *ctx, int code, const char *status, const char *text,
                      const char *json_text, const char *rid)
{
    bool has_rid = rid != NULL && rid[0] != '\0';
    fflush(stdout);
    fprintf(stderr, "%s: %s%s%s%s\n", ctx->prog->name, text, has_rid ? " (request id " : "",
            has_rid ? rid : "", has_rid ? ")" : "");
    if (ctx->json) {
        json_object *obj = json_object_new_object();
        json_object_object_add(obj, "error", json_object_new_string(json_text));
        json_object_object_add(obj, "status", json_object_new_string(status));
        if (has_rid)
            json_object_object_add(obj, "request_id", json_object_new_string(rid));
        cli_print_json(obj);
    }
    return code;
}

static int report(struct cli_ctx *ctx, int code, const char *status, const char *text,
                  const char *json_text)
{
    return report_rid(ctx, code, status, text, json_text, NULL);
}

/* The request id of the call that just failed at a server. */
static const char *server_rid(const struct cli_ctx *ctx)
{
    return ctx->client != NULL ? lms_client_request_id(ctx->client) : NULL;
}

/* cli_fail for a failure that reached a server: with its request id. */
__attribute__((format(printf, 4, 5))) static int
fail_at_server(struct cli_ctx *ctx, int code, const char *status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return report_rid(ctx, code, status, msg, msg, server_rid(ctx));
}

int cli_fail(struct cli_ctx *ctx, int code, const char *status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return report(ctx, code, status, msg, msg);
}

static void print_usage_hint(const struct cli_ctx *ctx)
{
    if (ctx->cmd != NULL) {
        cli_print_usage(stderr, ctx->prog->name, ctx->cmd->name, ctx->cmd->params);
        fprintf(stderr, "run '%s %s --help' for more\n", ctx->prog->name, ctx->cmd->name);
    } else {
        fprintf(stderr, "usage: %s [global options] COMMAND [ARGS]\n", ctx->prog->name);
        fprintf(stderr, "run '%s --help' for the commands\n", ctx->prog->name);
    }
}

int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report(ctx, LMS_EXIT_USAGE, "INVALID_ARGUMENT", msg, msg);
    print_usage_hint(ctx);
    return LMS_EXIT_USAGE;
}

int cli_fail_errno(struct cli_ctx *ctx, int err, const char *msg)
{
    const char *status;
    switch (err) {
    case ENOENT:
        status = "NOT_FOUND";
        break;
    case EEXIST:
        status = "ALREADY_EXISTS";
        break;
    case EACCES:
    case EPERM:
        status = "PERMISSION_DENIED";
        break;
    case ENOMEM:
    case ENOSPC:
        status = "RESOURCE_EXHAUSTED";
        break;
    case EISDIR:
        status = "INVALID_ARGUMENT";
        break;
    default:
        status = "UNKNOWN";
    }
    return report(ctx, LMS_EXIT_FAILED, status, msg, msg);
}

static bool is_login(const struct cli_ctx *ctx)
{
    return ctx->cmd != NULL && strcmp(ctx->cmd->name, "login") == 0;
}

int cli_refused(struct cli_ctx *ctx, const Lms__Response *resp)
{
    char buf[32], text[1200];
    const char *status = lms_status_name(resp->status, buf, sizeof buf);
    if (resp->status == LMS__STATUS__UNAUTHENTICATED && !is_login(ctx))
        return fail_at_server(ctx, LMS_EXIT_AUTH, status,
                              "session expired or revoked; run: %s login NAME",
                              ctx->prog->name);
    char shown[1024];
    out_escape(resp->message, shown, sizeof shown, false);
    snprintf(text, sizeof text, "refused (%s)%s%s", status, resp->message[0] ? ": " : "",
             shown);
    return report_rid(ctx,
                      resp->status == LMS__STATUS__UNAUTHENTICATED ? LMS_EXIT_AUTH
                                                                   : LMS_EXIT_FAILED,
                      status, text, resp->message[0] ? resp->message : status,
                      server_rid(ctx));
}

/* ---- talking to the server ---------------------------------------------- */

const char *cli_servers(const struct cli_ctx *ctx)
{
    struct lms_cfg_flags flags = cli_cfg_flags(ctx);
    return lms_config_servers(&ctx->config, &flags, &ctx->session, NULL);
}

int cli_tls(const struct cli_ctx *ctx, enum lms_tls_mode *mode, char **cafile, char *err,
            size_t errlen)
{
    struct lms_cfg_flags flags = cli_cfg_flags(ctx);
    return lms_config_tls(&ctx->config, &flags, &ctx->session, mode, cafile, NULL, err, errlen);
}

/* The client of ctx, opened on the first call: LMS_EXIT_OK or the exit
 * code of what is wrong with the servers or the TLS settings. */
static int open_client(struct cli_ctx *ctx)
{
    char err[1024];
    if (ctx->client != NULL)
        return LMS_EXIT_OK;
    if (cli_tls(ctx, &ctx->tls_mode, &ctx->cafile, err, sizeof err) < 0)
        return cli_usage_error(ctx, "%s", err);
    struct lms_cfg_flags flags = cli_cfg_flags(ctx);
    struct lms_origin from;
    const char *servers = lms_config_servers(&ctx->config, &flags, &ctx->session, &from);
    ctx->client = lms_client_new(servers, err, sizeof err);
    if (ctx->client == NULL && (from.src == LMS_SRC_FILE || from.src == LMS_SRC_CONTEXT)) {
        /* not a mistake of this command line: say which line to fix */
        char where[600];
        return cli_fail(ctx, LMS_EXIT_USAGE, "INVALID_ARGUMENT", "%s (servers from %s)", err,
                        lms_origin_text(&ctx->config, &from, where, sizeof where));
    }
    if (ctx->client == NULL)
        return cli_usage_error(ctx, "%s", err);
    lms_client_set_progress(ctx->client, true);
    if (lms_client_set_tls(ctx->client, ctx->tls_mode, ctx->cafile, err, sizeof err) < 0)
        return cli_fail(ctx, LMS_EXIT_USAGE, "INVALID_ARGUMENT", "%s", err);
    return LMS_EXIT_OK;
}

int cli_call_raw(struct cli_ctx *ctx, Lms__Request *req, Lms__Response **out)
{
    return cli_call_raw_opts(ctx, req, NULL, out);
}

/* ---- writes whose outcome is unknown (pending.h) ------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Does this write get a pending record? Not a login: it carries a
 * password, and a second session is harmless (the server does not
 * deduplicate logins: each answer carries a token of its own). Not a
 * logout: what it ends is its token, which the digest leaves out, so a
 * later logout of another session would match and be answered from the
 * first one's record, ending nothing; and a logout run again with the
 * same token is safe without one (and the logout and login that a
 * revoked session calls for must not clear the record of a write whose
 * outcome is unknown). Not a tutor-settings that sets
 * nothing: that is a read, and must not replace the record of a write.
 * Not an inbox-seen, which `inbox` sends on its own after showing: a mark
 * that only moves forward is safe to send again without one, and must not
 * replace the record of the write the student may be checking on. */
static bool keeps_pending(const struct cli_ctx *ctx, const Lms__Request *req)
{
    if (req->body_case == LMS__REQUEST__BODY_INBOX_SEEN)
        return false;
    if (req->body_case == LMS__REQUEST__BODY_TUTOR_SETTINGS && req->tutor_settings != NULL &&
        !req->tutor_settings->set_prompt && !req->tutor_settings->set_limit)
        return false;
    return ctx->home != NULL && lms_request_is_write(req->body_case) &&
           req->body_case != LMS__REQUEST__BODY_LOGIN &&
           req->body_case != LMS__REQUEST__BODY_LOGOUT;
}

/* Before a write goes out: reuse the (client_id, seq) of the same write
 * whose outcome was unknown (*reused), else record this one as pending.
 * Returns whether a record is on disk (a rerun will find it). */
static bool pending_before(struct cli_ctx *ctx, const Lms__Request *req, struct lms_call_opts *o,
                           bool *reused)
{
    struct lms_pending p;
    const char *user = ctx->logged_in ? ctx->session.user : NULL;
    int64_t now = wall_ms();
    char err[512];
    if (lms_pending_load(ctx->home, &p) == 0 &&
        lms_pending_matches(&p, ctx->prog->name, user, req, now)) {
        o->client_id = p.client_id;
        o->seq = p.seq;
        *reused = true;
        if (!ctx->json)
            fprintf(stderr,
                    "%s: the last run of this command ended with its outcome unknown; "
                    "sending it again as the same request (the cluster applies it at most "
                    "once)\n",
                    ctx->prog->name);
        return true;
    }
    o->client_id = lms_client_id(ctx->client);
    o->seq = lms_client_take_seq(ctx->client);
    lms_pending_make(&p, o->client_id, o->seq, ctx->prog->name, user, req, now);
    if (lms_pending_save(ctx->home, &p, err, sizeof err) < 0) {
        lms_pending_remove(ctx->home); /* an older record must not match later */
        return false;
    }
    return true;
}

int cli_call_raw_opts(struct cli_ctx *ctx, Lms__Request *req, const struct lms_call_opts *opts,
                      Lms__Response **out)
{
    char err[1024];
    *out = NULL;
    int open = open_client(ctx);
    if (open != LMS_EXIT_OK)
        return open;
    if (ctx->logged_in)
        req->token = ctx->session.token;
    struct lms_call_opts o = {0};
    if (opts != NULL)
        o = *opts;
    bool pending = keeps_pending(ctx, req), reused = false;
    bool recorded = pending && pending_before(ctx, req, &o, &reused);
    enum lms_client_rc rc = lms_client_call_opts(ctx->client, req, &o, out, err, sizeof err);
    /* A rerun that reached no leader says nothing of the earlier run,
     * which may have stored the write: its outcome is still unknown. */
    if (reused &&
        (rc == LMS_CLIENT_UNREACHABLE || rc == LMS_CLIENT_NO_LEADER || rc == LMS_CLIENT_CONFIG)) {
        rc = LMS_CLIENT_UNKNOWN;
        size_t len = strlen(err);
        snprintf(err + len, sizeof err - len,
                 "; an earlier run of this command went out, so it may or may not have been "
                 "stored");
    }
    /* UNAUTHENTICATED is decided before the server looks at its record
     * (a session that expired or was revoked since the earlier run): it
     * says nothing of that run, and the rerun after the next login must
     * still find the record. Keeping it is harmless when nothing was
     * stored: the same (client_id, seq) is then applied as new. */
    bool unauthenticated = rc == LMS_CLIENT_OK && (*out)->status == LMS__STATUS__UNAUTHENTICATED;
    if (reused && unauthenticated && !is_login(ctx)) {
        lms__response__free_unpacked(*out, NULL);
        *out = NULL;
        return cli_fail(ctx, LMS_EXIT_AUTH, "UNAUTHENTICATED",
                        "session expired or revoked; run: %s login NAME, then this command "
                        "again (the outcome of its earlier run is still unknown; running it "
                        "again is safe)",
                        ctx->prog->name);
    }
    if (pending && rc != LMS_CLIENT_UNKNOWN && !(recorded && unauthenticated))
        lms_pending_remove(ctx->home); /* answered, or never sent */
    switch (rc) {
    case LMS_CLIENT_OK:
        return LMS_EXIT_OK;
    case LMS_CLIENT_UNREACHABLE:
        return cli_fail(ctx, LMS_EXIT_UNREACHABLE, "UNAVAILABLE", "%s%s", err,
                        lms_request_is_write(req->body_case) ? "; nothing was stored" : "");
    case LMS_CLIENT_NO_LEADER: /* servers answered: their logs know the call */
        return fail_at_server(ctx, LMS_EXIT_UNREACHABLE, "UNAVAILABLE", "%s%s", err,
                              lms_request_is_write(req->body_case) ? "; nothing was stored"
                                                                   : "");
    case LMS_CLIENT_UNKNOWN:
        if (!pending)
            return fail_at_server(ctx, LMS_EXIT_UNREACHABLE, "UNKNOWN", "outcome unknown: %s",
                                  err);
        if (recorded)
            return fail_at_server(ctx, LMS_EXIT_UNREACHABLE, "UNKNOWN",
                            "outcome unknown: %s. Run the same command again when the cluster "
                            "is back: that is safe, the cluster applies it at most once and "
                            "answers with the stored result",
                            err);
        return fail_at_server(ctx, LMS_EXIT_UNREACHABLE, "UNKNOWN",
                        "outcome unknown: %s. Check whether it was stored before running it "
                        "again (the record that makes a rerun safe could not be written in %s)",
                        err, ctx->home ? ctx->home : "the session directory");
    case LMS_CLIENT_LOCAL:
        return cli_fail(ctx, LMS_EXIT_FAILED, "RESOURCE_EXHAUSTED", "%s", err);
    case LMS_CLIENT_CONFIG:
        return cli_fail(ctx, LMS_EXIT_USAGE, "FAILED_PRECONDITION", "%s; nothing was sent", err);
    case LMS_CLIENT_BAD_REPLY:
        break;
    }
    return fail_at_server(ctx, LMS_EXIT_FAILED, "INTERNAL", "%s", err);
}

int cli_call(struct cli_ctx *ctx, Lms__Request *req, Lms__Response__BodyCase want,
             Lms__Response **out)
{
    return cli_call_opts(ctx, req, NULL, want, out);
}

int cli_call_opts(struct cli_ctx *ctx, Lms__Request *req, const struct lms_call_opts *opts,
                  Lms__Response__BodyCase want, Lms__Response **out)
{
    int rc = cli_call_raw_opts(ctx, req, opts, out);
    if (rc != LMS_EXIT_OK)
        return rc;
    if ((*out)->status != LMS__STATUS__OK)
        rc = cli_refused(ctx, *out);
    else if (want != LMS__RESPONSE__BODY__NOT_SET && (*out)->body_case != want)
        rc = cli_fail(ctx, LMS_EXIT_FAILED, "INTERNAL",
                      "unexpected answer from the server (response body %d, expected %d)",
                      (int)(*out)->body_case, (int)want);
    if (rc != LMS_EXIT_OK) {
        lms__response__free_unpacked(*out, NULL);
        *out = NULL;
    }
    return rc;
}

/* ---- showing results ---------------------------------------------------- */

int cli_print_json(json_object *obj)
{
    const char *text = json_object_to_json_string_ext(
        obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    printf("%s\n", text ? text : "null");
    json_object_put(obj);
    return LMS_EXIT_OK;
}

int cli_show_fields(struct cli_ctx *ctx, const ProtobufCMessage *m, const struct out_column *cols,
                    size_t ncols)
{
    if (ctx->json)
        return cli_print_json(out_json_message(m));
    out_fields(stdout, m, cols, ncols);
    return LMS_EXIT_OK;
}

int cli_list(struct cli_ctx *ctx, Lms__Request *req, const struct cli_list_view *view)
{
    Lms__Response *resp;
    int rc = cli_call(ctx, req, view->body, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    const ProtobufCMessage *body = out_response_body(resp);
    size_t n;
    ProtobufCMessage *const *rows = out_repeated(body, view->field, &n);
    if (ctx->json)
        cli_print_json(out_json_message(body));
    else if (n == 0)
        printf("%s\n", view->empty);
    else
        out_table(stdout, view->cols, view->ncols, rows, n);
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}

int cli_done(struct cli_ctx *ctx, const ProtobufCMessage *m, const char *fmt, ...)
{
    if (ctx->json) {
        json_object *obj = m ? out_json_message(m) : json_object_new_object();
        if (m == NULL)
            json_object_object_add(obj, "ok", json_object_new_boolean(1));
        return cli_print_json(obj);
    }
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return LMS_EXIT_OK;
}

int cli_act(struct cli_ctx *ctx, Lms__Request *req, const char *fmt, ...)
{
    Lms__Response *resp;
    int rc = cli_call(ctx, req, LMS__RESPONSE__BODY__NOT_SET, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    if (ctx->json) {
        cli_done(ctx, out_response_body(resp), "%s", "");
    } else {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
    }
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}

/* ---- help --------------------------------------------------------------- */

static void print_program_help(const struct cli_program *prog)
{
    printf("usage: %s [global options] COMMAND [ARGS]\n\n%s\n\nCommands:\n", prog->name,
           prog->summary);
    for (const struct cli_command *c = prog->commands; c->name != NULL; c++)
        if (!(c->flags & CLI_HIDDEN))
            printf("  %-18s %s\n", c->name, c->summary);
    printf("\nGlobal options (before or after the command):\n");
    cli_print_params(stdout, global_params);
    printf("\nRun '%s COMMAND --help' for the arguments of a command.\nExit status:\n",
           prog->name);
    for (const struct cli_exit_doc *e = cli_exit_docs; e->text != NULL; e++)
        printf("  %d  %s\n", e->code, e->text);
}

static void print_command_help(const struct cli_program *prog, const struct cli_command *cmd)
{
    cli_print_usage(stdout, prog->name, cmd->name, cmd->params);
    printf("\n%s\n", cmd->summary);
    if (cmd->params[0].name != NULL) {
        printf("\nArguments and options:\n");
        cli_print_params(stdout, cmd->params);
    }
    printf("\nGlobal options:\n");
    cli_print_params(stdout, global_params);
}

/* ---- main --------------------------------------------------------------- */

/* Is there a --json (or -h/--help) before any "--"? Decided before parsing,
 * so that even errors in the arguments come out as JSON. */
static bool has_word(int argc, char **argv, const char *a, const char *b)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], a) == 0 || (b != NULL && strcmp(argv[i], b) == 0))
            return true;
    return false;
}

/* Does the command name (one or two words) start argv? Returns how many
 * words it takes, or 0. */
static int name_words(const char *name, int argc, char *const *argv)
{
    const char *space = strchr(name, ' ');
    if (space == NULL)
        return argc > 0 && strcmp(argv[0], name) == 0 ? 1 : 0;
    size_t len = (size_t)(space - name);
    if (argc < 2 || strlen(argv[0]) != len || strncmp(argv[0], name, len) != 0)
        return 0;
    return strcmp(argv[1], space + 1) == 0 ? 2 : 0;
}

/* Is word the group of a two-word command name? */
static bool in_group(const char *name, const char *word)
{
    const char *space = strchr(name, ' ');
    return space != NULL && strlen(word) == (size_t)(space - name) &&
           strncmp(name, word, (size_t)(space - name)) == 0;
}

/* The command that argv (argc > 0) starts with, and how many words name it
 * in *words; NULL after reporting the usage error when there is none. */
static const struct cli_command *find_command(struct cli_ctx *ctx, int argc, char *const *argv,
                                              int *words)
{
    char group[256] = "";
    size_t len = 0;
    for (const struct cli_command *c = ctx->prog->commands; c->name != NULL; c++) {
        if ((*words = name_words(c->name, argc, argv)) > 0)
            return c;
        if (in_group(c->name, argv[0]) && len < sizeof group)
            len += (size_t)snprintf(group + len, sizeof group - len, "%s%s", len ? ", " : "",
                                    strchr(c->name, ' ') + 1);
    }
    if (len == 0)
        cli_usage_error(ctx, "unknown command '%s'", argv[0]);
    else if (argc < 2 || argv[1][0] == '-')
        cli_usage_error(ctx, "'%s' needs one of: %s (then --help for its arguments)", argv[0],
                        group);
    else
        cli_usage_error(ctx, "unknown command '%s %s' (%s takes one of: %s)", argv[0], argv[1],
                        argv[0], group);
    return NULL;
}

/* Take the global options out of a (later ones win). */
static void apply_globals(struct cli_ctx *ctx, const struct cli_args *a)
{
    if (cli_has(a, "json"))
        ctx->json = true;
    if (cli_has(a, "servers"))
        ctx->servers_opt = cli_str(a, "servers");
    if (cli_has(a, "cacert"))
        ctx->cacert_opt = cli_str(a, "cacert");
    if (cli_has(a, "tls"))
        ctx->tls_opt = true;
    if (cli_has(a, "plaintext"))
        ctx->plaintext_opt = true;
    if (cli_has(a, "home")) {
        free(ctx->home);
        ctx->home = strdup(cli_str(a, "home"));
    }
    if (cli_has(a, "config"))
        ctx->config_opt = cli_str(a, "config");
    if (cli_has(a, "context"))
        ctx->context_opt = cli_str(a, "context");
}

/* Load the config file and the session; a command that needs a session
 * fails with exit 4 without. */
static int load_session(struct cli_ctx *ctx)
{
    char err[512];
    bool needed = ctx->cmd->flags & CLI_NEEDS_SESSION;
    int crc = cli_load_config(ctx);
    if (crc != LMS_EXIT_OK)
        return crc;
    const char *dir = ctx->home;
    if (dir == NULL)
        return needed ? cli_fail(ctx, LMS_EXIT_AUTH, "UNAUTHENTICATED",
                                 "no home directory for the session; use --home DIR")
                      : LMS_EXIT_OK;
    int rc = lms_session_load(dir, &ctx->session, err, sizeof err);
    if (!needed)
        return LMS_EXIT_OK;
    if (rc == 1)
        return cli_fail(ctx, LMS_EXIT_AUTH, "UNAUTHENTICATED", "not logged in; run: %s login NAME",
                        ctx->prog->name);
    if (rc < 0)
        return cli_fail(ctx, LMS_EXIT_AUTH, "UNAUTHENTICATED", "%s; run: %s login NAME", err,
                        ctx->prog->name);
    ctx->logged_in = true;
    return LMS_EXIT_OK;
}

/* Parse the subcommand's arguments and run it. */
static int run_command(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_param *const tables[] = {ctx->cmd->params, global_params, NULL};
    struct cli_args args;
    char err[1024];
    int rc;
    if (has_word(argc, argv, "-h", "--help")) {
        print_command_help(ctx->prog, ctx->cmd);
        return LMS_EXIT_OK;
    }
    if (cli_parse(tables, argc, argv, false, &args, NULL, err, sizeof err) < 0) {
        rc = cli_usage_error(ctx, "%s", err);
    } else {
        apply_globals(ctx, &args);
        rc = ctx->cmd->flags & CLI_LOCAL ? LMS_EXIT_OK : load_session(ctx);
        if (rc == LMS_EXIT_OK)
            rc = ctx->cmd->handler(ctx, &args);
    }
    cli_args_free(&args);
    return rc;
}

/* "help" and "help COMMAND". */
static int run_help(struct cli_ctx *ctx, int argc, char **argv)
{
    int words;
    const struct cli_command *cmd = argc > 0 ? find_command(ctx, argc, argv, &words) : NULL;
    if (argc > 0 && cmd == NULL)
        return LMS_EXIT_USAGE;
    if (cmd != NULL)
        print_command_help(ctx->prog, cmd);
    else
        print_program_help(ctx->prog);
    return LMS_EXIT_OK;
}

/* "lms-student 0.1.0", or {"program", "version"} with --json. */
static int print_version(const struct cli_ctx *ctx)
{
    if (!ctx->json) {
        printf("%s %s\n", ctx->prog->name, LMS_VERSION);
        return LMS_EXIT_OK;
    }
    json_object *obj = json_object_new_object();
    json_object_object_add(obj, "program", json_object_new_string(ctx->prog->name));
    json_object_object_add(obj, "version", json_object_new_string(LMS_VERSION));
    return cli_print_json(obj);
}

/* Global options, then "help", then the subcommand. */
static int dispatch(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_param *const tables[] = {global_params, NULL};
    struct cli_args g;
    char err[1024];
    int used, rc = -1;
    bool help = false;
    if (cli_parse(tables, argc, argv, true, &g, &used, err, sizeof err) < 0) {
        rc = cli_usage_error(ctx, "%s", err);
    } else {
        apply_globals(ctx, &g);
        help = cli_has(&g, "help");
        if (cli_has(&g, "version")) {
            rc = print_version(ctx);
        } else if (used == argc && help) {
            print_program_help(ctx->prog);
            rc = LMS_EXIT_OK;
        } else if (used == argc) {
            rc = cli_usage_error(ctx, "no command given");
        }
    }
    cli_args_free(&g);
    if (rc >= 0)
        return rc;
    argc -= used;
    argv += used;
    if (strcmp(argv[0], "help") == 0)
        return run_help(ctx, argc - 1, argv + 1);
    int words;
    const struct cli_command *cmd = find_command(ctx, argc, argv, &words);
    if (cmd == NULL)
        return LMS_EXIT_USAGE;
    ctx->cmd = cmd;
    if (help) {
        print_command_help(ctx->prog, ctx->cmd);
        return LMS_EXIT_OK;
    }
    return run_command(ctx, argc - words, argv + words);
}

const struct cli_param *cli_global_params(void)
{
    return global_params;
}

int cli_main(const struct cli_program *prog, int argc, char **argv)
{
    struct cli_ctx ctx = {.prog = prog};
    if (argc == 2 && strcmp(argv[1], "--help-man") == 0) { /* for the build: cli_doc.h */
        cli_doc_man(stdout, prog);
        return fflush(stdout) == 0 ? LMS_EXIT_OK : LMS_EXIT_FAILED;
    }
    ctx.json = has_word(argc - 1, argv + 1, "--json", NULL);
    int rc = dispatch(&ctx, argc - 1, argv + 1);
    fflush(stdout);
    lms_client_free(ctx.client);
    free(ctx.cafile);
    lms_session_clear(&ctx.session);
    lms_config_free(&ctx.config);
    free(ctx.home);
    return rc;
}

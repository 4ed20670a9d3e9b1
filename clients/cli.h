/* SPDX-License-Identifier: MIT */
/*
 * cli.h: the frame shared by lms-student, lms-instructor and lms-admin. A
 * program is a table of subcommands, each a name, a summary, a table of
 * cli_param and a handler; cli_main() parses the global options (which may
 * also follow the subcommand), finds the subcommand, parses its arguments,
 * loads the session when the subcommand needs one and runs the handler.
 * Handlers report through the helpers below, which keep the exit codes and
 * the --json contract in one place:
 *
 *   0 ok; 1 refused by the server, or a local failure; 2 usage error, or a
 *   configuration that cannot work (TLS: see cli_tls); 3 no server reachable
 *   or no leader; 4 not logged in or session rejected.
 *
 * With --json, stdout carries exactly one JSON document: the result, or
 * {"error": "...", "status": "..."}; human-readable errors go to stderr in
 * both modes.
 */
#ifndef LMS_CLIENTS_CLI_H
#define LMS_CLIENTS_CLI_H

#include <json-c/json.h>
#include <stdbool.h>

#include "cli_opts.h"
#include "client.pb-c.h"
#include "client_config.h"
#include "lmsclient.h"
#include "output.h"
#include "session.h"

enum lms_exit {
    LMS_EXIT_OK = 0,
    LMS_EXIT_FAILED = 1,
    LMS_EXIT_USAGE = 2,
    LMS_EXIT_UNREACHABLE = 3,
    LMS_EXIT_AUTH = 4,
};

struct cli_ctx;
typedef int (*cli_handler)(struct cli_ctx *ctx, const struct cli_args *args);

#define CLI_NEEDS_SESSION 0x1u
/* Runs on this machine only: neither the config file nor the session is
 * loaded and no server is asked (-s, --home, --config and --context are
 * accepted and ignored, unless the handler loads them itself, as `config
 * view` does). */
#define CLI_LOCAL 0x2u
/* Left out of --help, the man page and completion: for the programs' own
 * use (__complete, which the completion scripts call). */
#define CLI_HIDDEN 0x4u

/* A command's name may be two words, "cluster-ca init": the first names a
 * group, and the program answers "cluster-ca" alone, or with a word that is
 * not one of the group's, with a usage error listing the group's commands. */
struct cli_command {
    const char *name;
    const char *summary;
    const struct cli_param *params; /* ends with an entry whose name is NULL */
    cli_handler handler;
    unsigned flags;
};

struct cli_program {
    const char *name; /* "lms-student" */
    const char *summary;
    const struct cli_command *commands; /* ends with an entry whose name is NULL */
};

struct cli_ctx {
    const struct cli_program *prog;
    const struct cli_command *cmd;
    bool json;
    const char *servers_opt; /* -s, or NULL */
    const char *cacert_opt;  /* --cacert, or NULL */
    bool tls_opt;            /* --tls */
    bool plaintext_opt;      /* --plaintext */
    const char *config_opt;  /* --config, or NULL */
    const char *context_opt; /* --context, or NULL */
    char *home;              /* --home, then the session directory (cli_load_config) */
    const char *home_from;   /* what chose it (lms_session_dir_from) */
    bool config_loaded;      /* cli_load_config ran */
    struct lms_origin config_from;   /* what chose the config file */
    struct lms_client_config config; /* its settings; empty until loaded */
    struct lms_session session;
    bool logged_in;
    struct lms_client *client; /* opened by the first call */
    enum lms_tls_mode tls_mode; /* how it talks (cli_tls), once it is open */
    char *cafile;               /* LMS_TLS_CAFILE: the CA file, absolute */
};

/* Run prog with the arguments of main(); returns the exit code. A lone
 * --help-man prints the man page (cli_doc.h), for the build. */
int cli_main(const struct cli_program *prog, int argc, char **argv);

/* The global options, which every command accepts (before or after it). */
const struct cli_param *cli_global_params(void);

/* ---- reporting: each returns the exit code it was given ---------------- */

/* "PROG: message" on stderr and, with --json, {"error", "status"} on stdout. */
int cli_fail(struct cli_ctx *ctx, int code, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A usage error (exit 2): the message, then the subcommand's usage line. */
int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A local failure (exit 1) whose status follows errno (ENOENT: NOT_FOUND...). */
int cli_fail_errno(struct cli_ctx *ctx, int err, const char *msg);
/* The server said no: "PROG: refused (STATUS): message", exit 1 (4 for
 * UNAUTHENTICATED). */
int cli_refused(struct cli_ctx *ctx, const Lms__Response *resp);

/* ---- talking to the server ---------------------------------------------- */

/*
 * Send req (with the session's token) and return the response in *out.
 * Transport failures are reported and turned into exit codes; any status of
 * the server is passed back as is. Returns LMS_EXIT_OK or the exit code.
 */
int cli_call_raw(struct cli_ctx *ctx, Lms__Request *req, Lms__Response **out);

/*
 * As cli_call_raw, but a status other than OK is reported (cli_refused), and
 * so is a response whose body is not want (unless want is NOT_SET).
 */
int cli_call(struct cli_ctx *ctx, Lms__Request *req, Lms__Response__BodyCase want,
             Lms__Response **out);

/* The same with call options (lmsclient.h): a streamed answer's pieces,
 * a longer wait for a slow answer. */
int cli_call_raw_opts(struct cli_ctx *ctx, Lms__Request *req, const struct lms_call_opts *opts,
                      Lms__Response **out);
int cli_call_opts(struct cli_ctx *ctx, Lms__Request *req, const struct lms_call_opts *opts,
                  Lms__Response__BodyCase want, Lms__Response **out);

/* The server list in use: -s, else $LMS_SERVERS, else the config file's
 * (its context's, then its top level's), else the one of the saved session,
 * else 127.0.0.1:7400 (lms_config_servers). */
const char *cli_servers(const struct cli_ctx *ctx);

/*
 * How to talk to the servers (tls.h): --cacert FILE, --tls, --plaintext;
 * else $LMS_CACERT, $LMS_TLS=1, $LMS_PLAINTEXT=1; else the config file's
 * choice (its context's, then its top level's); else what the session
 * remembers from login; else plaintext to loopback addresses only. A CA
 * file comes back absolute in *cafile (free it; NULL for the other modes).
 * 0, or -1 with the reason in err (contradicting choices at one level, a
 * bad value of a variable).
 */
int cli_tls(const struct cli_ctx *ctx, enum lms_tls_mode *mode, char **cafile, char *err,
            size_t errlen);

/* ---- showing results ---------------------------------------------------- */

/* Print obj on stdout as the one JSON document, and drop it. */
int cli_print_json(json_object *obj);

/* Show message m: its JSON, or one line per column in text mode. */
int cli_show_fields(struct cli_ctx *ctx, const ProtobufCMessage *m, const struct out_column *cols,
                    size_t ncols);

/* How a list response is shown. */
struct cli_list_view {
    Lms__Response__BodyCase body; /* the expected response body */
    const char *field;            /* its repeated field */
    const struct out_column *cols;
    size_t ncols;
    const char *empty; /* text when the list is empty, "no courses" */
};

/* Send req and show the list in the response: its JSON, or a table. */
int cli_list(struct cli_ctx *ctx, Lms__Request *req, const struct cli_list_view *view);

/* In text mode print the formatted line on stdout; with --json print the JSON
 * of m, or {"ok": true} when m is NULL. Returns LMS_EXIT_OK. */
int cli_done(struct cli_ctx *ctx, const ProtobufCMessage *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Send req; when it succeeds, show the response body as JSON with --json,
 * else print the formatted line. For the subcommands that change something
 * and only need to confirm it. */
int cli_act(struct cli_ctx *ctx, Lms__Request *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

/* SPDX-License-Identifier: MIT */
/*
 * cli_config.h: the CLIs' side of the client config file (client_config.h):
 * finding the session directory and the file, loading it once per run, and
 * `config view`, which shows each setting in effect and where it came from
 * (like `kubectl config view`), for when a command goes somewhere else than
 * expected.
 */
#ifndef LMS_CLIENTS_CLI_CONFIG_H
#define LMS_CLIENTS_CLI_CONFIG_H

#include "cli.h"

/*
 * Resolve the session directory (ctx->home: --home, $LMS_HOME,
 * $XDG_CONFIG_HOME/lms, ~/.config/lms) and load the config file (--config,
 * $LMS_CONFIG, else config.yaml in that directory) with its context. Runs
 * once; LMS_EXIT_OK, or exit 2 after reporting a file that cannot be used.
 */
int cli_load_config(struct cli_ctx *ctx);

/* What the command line of ctx says about servers and TLS. */
struct lms_cfg_flags cli_cfg_flags(const struct cli_ctx *ctx);

extern const struct cli_param cli_config_view_params[];
int cli_config_view(struct cli_ctx *ctx, const struct cli_args *a);

/* The entry of every program's table. */
#define CLI_CONFIG_COMMANDS                                                                  \
    {.name = "config view",                                                                  \
     .summary = "show the settings in effect (servers, TLS, session directory, config file, " \
                "context) and where each comes from; local, no server",                      \
     .params = cli_config_view_params, .handler = cli_config_view, .flags = CLI_LOCAL}

#endif

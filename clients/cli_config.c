/* SPDX-License-Identifier: MIT */
/*
 * cli_config.c: loading the client config file for a run, and `config
 * view` (see cli_config.h).
 */
#include "cli_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cli_param cli_config_view_params[] = {
    CLI_END_PARAMS,
};

struct lms_cfg_flags cli_cfg_flags(const struct cli_ctx *ctx)
{
    return (struct lms_cfg_flags){
        .servers = ctx->servers_opt,
        .cacert = ctx->cacert_opt,
        .tls = ctx->tls_opt,
        .plaintext = ctx->plaintext_opt,
    };
}

int cli_load_config(struct cli_ctx *ctx)
{
    char err[1024];
    bool named;
    if (ctx->config_loaded)
        return LMS_EXIT_OK;
    ctx->config_loaded = true;
    char *dir = lms_session_dir_from(ctx->home, &ctx->home_from);
    free(ctx->home);
    ctx->home = dir;
    char *path = lms_config_path(ctx->config_opt, dir, &ctx->config_from, &named);
    if (path == NULL && (named || dir != NULL))
        return cli_fail(ctx, LMS_EXIT_FAILED, "RESOURCE_EXHAUSTED", "out of memory");
    int rc = lms_config_load(&ctx->config, path, named, ctx->context_opt, err, sizeof err);
    free(path);
    /* exit 2 like a bad option: the run cannot go as configured, and
     * nothing was sent */
    if (rc < 0)
        return cli_fail(ctx, LMS_EXIT_USAGE, "INVALID_ARGUMENT", "%s", err);
    return LMS_EXIT_OK;
}

/* ---- config view ---------------------------------------------------------- */

/* One setting: a member {"value", "source", "name", "file", "line"} of doc
 * (returned, to add to), or a line "KEY  VALUE  (ORIGIN)" without --json. */
static json_object *show(const struct cli_ctx *ctx, json_object *doc, const char *key,
                         const char *value, const struct lms_origin *o, const char *note)
{
    if (doc == NULL) {
        char where[700];
        printf("%-8s %s  (%s%s%s)\n", key, value ? value : "-",
               lms_origin_text(&ctx->config, o, where, sizeof where), note ? "; " : "",
               note ? note : "");
        return NULL;
    }
    json_object *row = json_object_new_object();
    json_object_object_add(row, "value", value ? json_object_new_string(value) : NULL);
    json_object_object_add(row, "source", json_object_new_string(lms_src_name(o->src)));
    if (o->name != NULL)
        json_object_object_add(row, "name", json_object_new_string(o->name));
    if ((o->src == LMS_SRC_FILE || o->src == LMS_SRC_CONTEXT) && ctx->config.path != NULL) {
        json_object_object_add(row, "file", json_object_new_string(ctx->config.path));
        json_object_object_add(row, "line", json_object_new_int(o->line));
    }
    json_object_object_add(doc, key, row);
    return row;
}

/* The session file: who is logged in, as a line or a member of doc. */
static void show_session(const struct cli_ctx *ctx, json_object *doc, int loaded,
                         const char *why)
{
    char path[4200] = "";
    if (ctx->home != NULL)
        snprintf(path, sizeof path, "%s/session", ctx->home);
    const struct lms_session *s = &ctx->session;
    if (doc == NULL) {
        if (loaded == 0)
            printf("%-8s %s (%s)  (%s)\n", "session", s->user, s->role ? s->role : "no role",
                   path);
        else
            printf("%-8s %s  (%s)\n", "session", loaded > 0 ? "none" : why,
                   path[0] ? path : "no session directory");
        return;
    }
    json_object *row = json_object_new_object();
    json_object_object_add(row, "file", path[0] ? json_object_new_string(path) : NULL);
    json_object_object_add(row, "user", loaded == 0 ? json_object_new_string(s->user) : NULL);
    if (loaded == 0 && s->role != NULL)
        json_object_object_add(row, "role", json_object_new_string(s->role));
    if (loaded < 0)
        json_object_object_add(row, "error", json_object_new_string(why));
    json_object_object_add(doc, "session", row);
}

int cli_config_view(struct cli_ctx *ctx, const struct cli_args *a)
{
    char err[1024];
    int rc = cli_load_config(ctx);
    if (rc != LMS_EXIT_OK)
        return rc;
    /* the session's servers and TLS are the lowest level but one; a
     * damaged session reads as none here, and is named */
    int loaded = ctx->home ? lms_session_load(ctx->home, &ctx->session, err, sizeof err) : 1;
    struct lms_cfg_flags flags = cli_cfg_flags(ctx);
    struct lms_origin servers_from, tls_from;
    const char *servers = lms_config_servers(&ctx->config, &flags, &ctx->session, &servers_from);
    enum lms_tls_mode mode;
    char *cafile = NULL, tls_err[512];
    if (lms_config_tls(&ctx->config, &flags, &ctx->session, &mode, &cafile, &tls_from, tls_err,
                       sizeof tls_err) < 0)
        return cli_usage_error(ctx, "%s", tls_err);

    json_object *doc = ctx->json ? json_object_new_object() : NULL;
    struct lms_origin home_from = {.src = LMS_SRC_DEFAULT, .name = ctx->home_from};
    if (ctx->home_from != NULL)
        home_from.src = strcmp(ctx->home_from, "--home") == 0 ? LMS_SRC_FLAG : LMS_SRC_ENV;
    show(ctx, doc, "home", ctx->home, &home_from, NULL);
    json_object *row = show(ctx, doc, "config", ctx->config.path, &ctx->config_from,
                            ctx->config.path == NULL ? NULL
                            : ctx->config.found      ? "found"
                                                     : "not found, no settings");
    if (row != NULL)
        json_object_object_add(row, "found", json_object_new_boolean(ctx->config.found));
    const struct lms_cfg_level *c = ctx->config.chosen;
    show(ctx, doc, "context", c ? c->name : NULL, &ctx->config.chosen_from, NULL);
    show(ctx, doc, "servers", servers, &servers_from, NULL);
    show(ctx, doc, "tls", lms_tls_mode_name(mode), &tls_from,
         mode == LMS_TLS_DEFAULT ? "plaintext to this machine only" : NULL);
    if (doc != NULL || cafile != NULL)
        show(ctx, doc, "cacert", cafile, &tls_from, NULL);
    show_session(ctx, doc, loaded, err);
    free(cafile);
    return doc != NULL ? cli_print_json(doc) : LMS_EXIT_OK;
}

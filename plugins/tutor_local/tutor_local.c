/* SPDX-License-Identifier: MIT */
/*
 * tutor_local.c: the tutor_local plugin's entry point, options and
 * lifecycle.
 *
 * tutor_local is an offline tutor: no network, no model. It answers from
 * the course's own materials and the instructors' earlier replies, found
 * with SQLite FTS5 and ranked with BM25, and cites the material (or query)
 * and passage each excerpt comes from. It declares LMS_TUTOR_BLOCKING:
 * lmsd makes every call but init on one tutor thread, one at a time, so
 * the instance needs no locks and its SQLite connection is opened without
 * SQLite's mutexes.
 *
 * Options (under the tutor: slot):
 *   index_path     the index database, default tutor_local.db in the data
 *                  dir (relative paths are under it); ":memory:" keeps it
 *                  in memory. Rebuilt from scratch at every init.
 *   max_passages   passages quoted per answer, default 3 (1..10)
 *   passage_words  words per indexed passage, default 120 (20..1000)
 *   min_score      the BM25 score a passage needs when it lacks some word
 *                  of the question, default 0.25 (0..1000; see tl_rank.c)
 */
#include "tl_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tl_log(tl_inst *t, int level, const char *fmt, ...)
{
    if (t->host == NULL || t->host->log == NULL)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    t->host->log(t->ctx, level, "%s", line);
}

/* "<dir>/<path>" for a relative path; path itself when absolute, when it
 * is ":memory:" or when there is no data dir. NULL when out of memory. */
static char *resolve_path(const char *dir, const char *path)
{
    char *out;
    if (path[0] == '/' || strcmp(path, ":memory:") == 0 || dir == NULL ||
        dir[0] == '\0')
        return strdup(path);
    const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
    if (asprintf(&out, "%s%s%s", dir, sep, path) < 0)
        return NULL;
    return out;
}

/* Integer option key in lo..hi into *out, left alone when absent. */
static int int_option(tl_inst *t, const char *key, long long lo,
                      long long hi, int *out, lms_err *err)
{
    long long v = *out;
    int rc = t->host->config_int(t->ctx, key, &v, err);
    if (rc == LMS_NOT_FOUND)
        return LMS_OK;
    if (rc != LMS_OK)
        return rc;
    if (v < lo || v > hi)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           TL_PLUGIN_NAME ": option %s is %lld, expected "
                           "%lld..%lld", key, v, lo, hi);
    *out = (int)v;
    return LMS_OK;
}

/* min_score: a decimal number (the config API has no floats). */
static int score_option(tl_inst *t, double *out, lms_err *err)
{
    const char *s = NULL;
    int rc = t->host->config_string(t->ctx, "min_score", &s, err);
    if (rc == LMS_NOT_FOUND)
        return LMS_OK;
    if (rc != LMS_OK)
        return rc;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 ||
        v > 1000)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           TL_PLUGIN_NAME ": option min_score is '%s', "
                           "expected a number in 0..1000", s);
    *out = v;
    return LMS_OK;
}

static int read_config(tl_inst *t, lms_err *err)
{
    const char *path = "tutor_local.db";
    t->cfg.max_passages = 3;
    t->cfg.passage_words = 120;
    t->cfg.min_score = 0.25;
    int rc = t->host->config_string(t->ctx, "index_path", &path, err);
    if (rc == LMS_NOT_FOUND)
        rc = LMS_OK;
    if (rc == LMS_OK)
        rc = int_option(t, "max_passages", 1, 10, &t->cfg.max_passages, err);
    if (rc == LMS_OK)
        rc = int_option(t, "passage_words", 20, 1000, &t->cfg.passage_words,
                        err);
    if (rc == LMS_OK)
        rc = score_option(t, &t->cfg.min_score, err);
    if (rc != LMS_OK)
        return rc;
    if (path == NULL || path[0] == '\0')
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           TL_PLUGIN_NAME ": option index_path is empty");
    const char *dir = t->host->data_dir ? t->host->data_dir(t->ctx) : NULL;
    t->cfg.index_path = resolve_path(dir, path);
    if (t->cfg.index_path == NULL)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    return LMS_OK;
}

static void tl_shutdown(void *inst)
{
    tl_inst *t = inst;
    if (t == NULL)
        return;
    tl_index_close(t);
    free(t->cfg.index_path);
    free(t);
}

static int tl_init(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                   void **inst, lms_err *err)
{
    tl_inst *t = calloc(1, sizeof *t);
    if (t == NULL)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    t->host = host;
    t->ctx = ctx;
    int rc = read_config(t, err);
    if (rc == LMS_OK)
        rc = tl_index_open(t, err);
    if (rc != LMS_OK) {
        tl_shutdown(t);
        return rc;
    }
    tl_log(t, LMS_LOG_INFO, "index %s (rebuilt from the course documents); "
           "max_passages %d, passage_words %d, min_score %.2f",
           t->cfg.index_path, t->cfg.max_passages, t->cfg.passage_words,
           t->cfg.min_score);
    *inst = t;
    return LMS_OK;
}

static const struct lms_tutor_ops tl_ops = {
    .size = sizeof(struct lms_tutor_ops),
    .flags = LMS_TUTOR_BLOCKING,
    .init = tl_init,
    .shutdown = tl_shutdown,
    .ask = tl_ask,
    .cancel = NULL, /* ask() finishes before it returns */
    .learn = tl_learn,
};

static const struct lms_plugin_descriptor tl_descriptor = {
    .magic = LMS_PLUGIN_MAGIC,
    .abi_major = LMS_ABI_MAJOR,
    .abi_minor = LMS_ABI_MINOR,
    .descriptor_size = sizeof(struct lms_plugin_descriptor),
    .kind = LMS_PLUGIN_TUTOR,
    .name = TL_PLUGIN_NAME,
    .version = TL_PLUGIN_VERSION,
    .description = "offline tutor: cites the course's materials and earlier "
                   "answers (SQLite FTS5, BM25)",
    .ops = &tl_ops,
    .ops_size = sizeof tl_ops,
};

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void);

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void)
{
    return &tl_descriptor;
}

/* SPDX-License-Identifier: MIT */
/*
 * tl_stats.c: per-course term statistics, kept next to the FTS5 tables.
 *
 * BM25 needs, per course, the number of passages, their average length,
 * and for each term of a question the number of passages that contain it
 * (its df). FTS5 can only count a term's passages by walking its whole
 * doclist, which for a word found in most passages of a large course costs
 * more than the rest of the search; and without the df, a search cannot
 * know which words of a question are too common to be worth scoring every
 * passage for (tl_plan). So learn() keeps the counts itself, in the same
 * transaction as the passages: courses.npass and courses.ntok, and
 * terms(tab, term, df) keyed by the stems that the index's tokenizer
 * produces. A passage's length is its number of tokens, title and body,
 * exactly as FTS5 counts them.
 */
#include "tl_internal.h"

#include <stdlib.h>
#include <string.h>

static int strs_add(tl_strs *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *at = realloc(l->at, cap * sizeof *at);
        if (at == NULL)
            return -1;
        l->at = at;
        l->cap = cap;
    }
    l->at[l->n++] = l->buf.len;
    tl_buf_add(&l->buf, s, n);
    tl_buf_add(&l->buf, "", 1);
    return l->buf.failed ? -1 : 0;
}

static void strs_clear(tl_strs *l)
{
    l->n = 0;
    l->buf.len = 0;
}

static void strs_free(tl_strs *l)
{
    tl_buf_free(&l->buf);
    free(l->at);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The strings of l as pointers, sorted; NULL when out of memory (or l is
 * empty). The caller frees the array, not the strings. */
static const char **strs_sorted(const tl_strs *l)
{
    const char **p = malloc((l->n ? l->n : 1) * sizeof *p);
    if (p == NULL)
        return NULL;
    for (size_t i = 0; i < l->n; i++)
        p[i] = l->buf.s + l->at[i];
    qsort(p, l->n, sizeof *p, cmp_str);
    return p;
}

/* ---- reading a passage ---- */

typedef struct tl_reading {
    tl_strs *stems;
    int64_t ntok;
    int failed;
} tl_reading;

static int on_stem(void *arg, int tflags, const char *tok, int n, int start,
                   int end)
{
    tl_reading *r = arg;
    (void)start, (void)end;
    if (tflags & FTS5_TOKEN_COLOCATED)
        return SQLITE_OK;
    r->ntok++;
    /* a question's term is never longer: such a stem is never looked up */
    if (n > 0 && n < TL_STEM_MAX && strs_add(r->stems, tok, (size_t)n) != 0)
        return SQLITE_NOMEM;
    return SQLITE_OK;
}

static int tokenize(tl_inst *t, tl_reading *r, const char *text)
{
    size_t n = strlen(text);
    if (n == 0)
        return SQLITE_OK;
    return t->tok.xTokenize(t->ptok, r, FTS5_TOKENIZE_DOCUMENT, text,
                            n > INT32_MAX ? INT32_MAX : (int)n, on_stem);
}

int tl_bag_add(tl_inst *t, tl_bag *bag, const char *title, const char *body,
               int64_t *ntok, lms_err *err)
{
    tl_reading r = {&bag->one, 0, 0};
    strs_clear(&bag->one);
    int rc = tokenize(t, &r, title);
    if (rc == SQLITE_OK)
        rc = tokenize(t, &r, body);
    const char **p = rc == SQLITE_OK ? strs_sorted(&bag->one) : NULL;
    if (p == NULL)
        return lms_err_set(err, rc == SQLITE_OK ? LMS_RESOURCE_EXHAUSTED
                                                : tl_status_of(rc),
                           TL_PLUGIN_NAME ": cannot tokenize a passage");
    for (size_t i = 0; rc == SQLITE_OK && i < bag->one.n; i++)
        if (i == 0 || strcmp(p[i], p[i - 1]) != 0)
            rc = strs_add(&bag->all, p[i], strlen(p[i])) ? SQLITE_NOMEM : 0;
    free(p);
    if (rc != SQLITE_OK)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    bag->npass++;
    bag->ntok += r.ntok;
    *ntok = r.ntok;
    return LMS_OK;
}

/* ---- the tables ---- */

static int step_done(tl_inst *t, sqlite3_stmt *st, lms_err *err,
                     const char *what)
{
    int src = sqlite3_step(st);
    int rc = src == SQLITE_DONE ? LMS_OK : tl_fail(t, src, err, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Add sign * (passages of the bag containing it) to each stem's df. */
static int add_dfs(tl_inst *t, tl_bag *bag, int64_t tab, int sign,
                   lms_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tl_stmt(t, TL_TERM_ADD, &st, err);
    const char **p = rc == LMS_OK ? strs_sorted(&bag->all) : NULL;
    if (rc == LMS_OK && p == NULL)
        rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0, j; rc == LMS_OK && i < bag->all.n; i = j) {
        for (j = i + 1; j < bag->all.n && strcmp(p[j], p[i]) == 0; j++)
            ;
        sqlite3_bind_int64(st, 1, tab);
        sqlite3_bind_text(st, 2, p[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, sign * (int64_t)(j - i));
        rc = step_done(t, st, err, "counting terms");
    }
    free(p);
    return rc;
}

int tl_bag_flush(tl_inst *t, tl_bag *bag, int64_t tab, int sign,
                 lms_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = LMS_OK;
    if (bag->npass == 0)
        return LMS_OK;
    rc = add_dfs(t, bag, tab, sign, err);
    if (rc == LMS_OK)
        rc = tl_stmt(t, TL_STATS_ADD, &st, err);
    if (rc == LMS_OK) {
        sqlite3_bind_int64(st, 1, tab);
        sqlite3_bind_int64(st, 2, sign * bag->npass);
        sqlite3_bind_int64(st, 3, sign * bag->ntok);
        rc = step_done(t, st, err, "counting passages");
    }
    strs_clear(&bag->all);
    bag->npass = bag->ntok = 0;
    return rc;
}

void tl_bag_free(tl_bag *bag)
{
    strs_free(&bag->all);
    strs_free(&bag->one);
}

int tl_stats_get(tl_inst *t, int64_t tab, tl_terms *terms, int64_t *npass,
                 int64_t *ntok, lms_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tl_stmt(t, TL_STATS_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sqlite3_bind_int64(st, 1, tab);
    int src = sqlite3_step(st);
    *npass = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    *ntok = src == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = tl_fail(t, src, err, "reading a course's counts");
    sqlite3_reset(st);
    if (rc == LMS_OK)
        rc = tl_stmt(t, TL_TERM_GET, &st, err);
    for (int i = 0; rc == LMS_OK && i < terms->n; i++) {
        sqlite3_bind_int64(st, 1, tab);
        sqlite3_bind_text(st, 2, terms->stem[i], -1, SQLITE_STATIC);
        src = sqlite3_step(st);
        terms->df[i] = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            rc = tl_fail(t, src, err, "reading term counts");
        sqlite3_reset(st);
    }
    if (st != NULL)
        sqlite3_clear_bindings(st);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * tl_rank.c: the FTS5 auxiliary function that ranks passages, registered
 * on the index's connection, and the tokenizer shared with tl_query.c and
 * tl_stats.c.
 *
 * tl_bm25(tbl, min_score, stats) scores a passage with Okapi BM25 (k1 =
 * 1.2, b = 0.75, a title hit counting TL_TITLE_WEIGHT times a body hit)
 * like FTS5's own bm25(), with two differences:
 *
 *  - The inverse document frequency is Lucene's ln(1 + (N - n + 0.5) /
 *    (n + 0.5)), which stays positive. FTS5's bm25() clamps a term found in
 *    half the passages or more to ~1e-6, so in a small course (a syllabus
 *    of three passages) every score is ~0 and no relevance floor can tell
 *    a good match from none. With this idf a term found in every passage
 *    of a large course still scores ~0, which is what min_score uses to
 *    ignore words that say nothing about the course ("program" in a
 *    programming course).
 *  - The statistics come from the caller, not from FTS5 (tl_plan_make):
 *    `stats` is a blob of doubles: the average passage length, the number
 *    of terms searched for, the idf of each term of the question, then for
 *    each phrase of the query the term it stands for (a term can appear in
 *    several phrases, as in ("a" AND "b") OR ("a" AND "c"); its frequency
 *    is counted once). A passage's length is in its rowid. FTS5 would walk
 *    every phrase's doclist for the idf and run an SQL lookup per row for
 *    the length, which together cost several times the search itself.
 *
 * It returns 0 for a passage that is not relevant: one that scores below
 * min_score and lacks some term searched for. A passage with every term
 * is relevant whatever its score ("what is a matrix?" in a course
 * where every passage says "matrix"); one with only some must earn
 * min_score ("install the program" where only "program", found everywhere,
 * matches).
 *
 * It runs inside the search statement, on the tutor thread.
 */
#include "tl_internal.h"

#include <stdlib.h>
#include <string.h>

#define TL_TITLE_WEIGHT 2.0
#define TL_BM25_K1 1.2
#define TL_BM25_B 0.75
#define TL_COL_TITLE 0
#define TL_COL_BODY 1

/* One query's statistics, read from the blob on the first row and kept as
 * auxdata for the rest. */
typedef struct tl_stats {
    int nphrase, nterm, nused;
    double avgdl;
    double *idf;   /* per term */
    double *tfreq; /* per term, scratch for one row */
    double *pfreq; /* per phrase, scratch for one row */
    int *term_of;  /* per phrase */
} tl_stats;

/* Parse the blob (see above) for a query of np phrases; NULL if it does
 * not fit the query or out of memory (*rc says which). */
static tl_stats *stats_parse(sqlite3_value *blob, int np, int *rc)
{
    int nv = sqlite3_value_bytes(blob) / (int)sizeof(double);
    int nt = nv - 2 - np;
    const char *b = sqlite3_value_blob(blob); /* not aligned for doubles */
    *rc = SQLITE_MISMATCH;
    if (b == NULL || nt < 0)
        return NULL;
    *rc = SQLITE_NOMEM;
    tl_stats *st = sqlite3_malloc64(sizeof *st + (size_t)(2 * nt + np) *
                                    sizeof(double) + (size_t)np * sizeof(int));
    if (st == NULL)
        return NULL;
    double v[2];
    memcpy(v, b, sizeof v);
    st->nphrase = np;
    st->nterm = nt;
    st->avgdl = v[0] > 0.0 ? v[0] : 1.0;
    st->nused = (int)v[1];
    st->idf = (double *)(st + 1);
    st->tfreq = st->idf + nt;
    st->pfreq = st->tfreq + nt;
    st->term_of = (int *)(st->pfreq + np);
    memcpy(st->idf, b + 2 * sizeof(double), (size_t)nt * sizeof(double));
    *rc = SQLITE_OK;
    for (int k = 0; k < np; k++) {
        double term;
        memcpy(&term, b + (size_t)(2 + nt + k) * sizeof(double), sizeof term);
        st->term_of[k] = (int)term;
        if (st->term_of[k] < 0 || st->term_of[k] >= nt)
            *rc = SQLITE_MISMATCH;
    }
    if (*rc != SQLITE_OK) {
        sqlite3_free(st);
        return NULL;
    }
    return st;
}

static int stats_of(const Fts5ExtensionApi *api, Fts5Context *fts,
                    sqlite3_value *blob, tl_stats **out)
{
    tl_stats *st = api->xGetAuxdata(fts, 0);
    int rc = SQLITE_OK;
    if (st == NULL) {
        st = stats_parse(blob, api->xPhraseCount(fts), &rc);
        if (st != NULL) /* frees st on failure */
            rc = api->xSetAuxdata(fts, st, sqlite3_free);
    }
    *out = rc == SQLITE_OK ? st : NULL;
    return rc;
}

/* Each term's frequency in the current row: title hits weigh
 * TL_TITLE_WEIGHT, body hits 1; a term's phrase copies count once. */
static int term_freqs(const Fts5ExtensionApi *api, Fts5Context *fts,
                      tl_stats *st)
{
    int ninst = 0;
    int rc = api->xInstCount(fts, &ninst);
    memset(st->pfreq, 0, (size_t)st->nphrase * sizeof(double));
    memset(st->tfreq, 0, (size_t)st->nterm * sizeof(double));
    for (int i = 0; rc == SQLITE_OK && i < ninst; i++) {
        int ip, ic, io;
        rc = api->xInst(fts, i, &ip, &ic, &io);
        if (rc == SQLITE_OK && ip >= 0 && ip < st->nphrase)
            st->pfreq[ip] += ic == TL_COL_TITLE  ? TL_TITLE_WEIGHT
                             : ic == TL_COL_BODY ? 1.0
                                                 : 0.0;
    }
    for (int k = 0; k < st->nphrase; k++) {
        double *tf = &st->tfreq[st->term_of[k]];
        *tf = st->pfreq[k] > *tf ? st->pfreq[k] : *tf;
    }
    return rc;
}

static void tl_bm25(const Fts5ExtensionApi *api, Fts5Context *fts,
                    sqlite3_context *ctx, int nval, sqlite3_value **val)
{
    tl_stats *st = NULL;
    int rc = nval == 2 ? stats_of(api, fts, val[1], &st) : SQLITE_MISUSE;
    if (rc == SQLITE_OK)
        rc = term_freqs(api, fts, st);
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    double dl = (double)(api->xRowid(fts) & TL_MAX_LEN);
    double norm = TL_BM25_K1 * (1.0 - TL_BM25_B + TL_BM25_B * dl / st->avgdl);
    double score = 0.0;
    int matched = 0;
    for (int i = 0; i < st->nterm; i++)
        if (st->tfreq[i] > 0.0) {
            score += st->idf[i] * st->tfreq[i] * (TL_BM25_K1 + 1.0) /
                     (st->tfreq[i] + norm);
            matched++;
        }
    int relevant = score >= sqlite3_value_double(val[0]) ||
                   matched >= st->nused;
    sqlite3_result_double(ctx, relevant ? score : 0.0);
}

/* ---- registration ---- */

static fts5_api *fts5_api_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return api;
}

int tl_rank_register(tl_inst *t, lms_err *err)
{
    fts5_api *api = fts5_api_of(t->db);
    if (api == NULL || api->iVersion < 2)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           TL_PLUGIN_NAME ": this SQLite (%s) has no FTS5",
                           sqlite3_libversion());
    int rc = api->xCreateFunction(api, "tl_bm25", t, tl_bm25, NULL);
    void *ud = NULL;
    if (rc == SQLITE_OK)
        rc = api->xFindTokenizer(api, "porter", &ud, &t->tok);
    /* the arguments of the index's "porter unicode61 remove_diacritics 2" */
    static const char *const args[] = {"unicode61", "remove_diacritics",
                                       "2"};
    if (rc == SQLITE_OK)
        rc = t->tok.xCreate(ud, (const char **)args, 3, &t->ptok);
    if (rc != SQLITE_OK) {
        t->ptok = NULL;
        return tl_fail(t, rc, err, "registering the FTS5 functions");
    }
    return LMS_OK;
}

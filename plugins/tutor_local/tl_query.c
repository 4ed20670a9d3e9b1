/* SPDX-License-Identifier: MIT */
/*
 * tl_query.c: from a student's question to an FTS5 MATCH expression.
 *
 * The question is read by the index's own tokenizer (FTS5's "porter
 * unicode61"), so its words are split, case folded, stripped of
 * diacritics and stemmed exactly as the passages were: "Recursively"
 * becomes "recurs", like "recursion". Stop words, one-letter words and
 * repeated stems are dropped. Each remaining word goes into the expression
 * as the student wrote it, quoted: inside "..." AND, OR, NOT, NEAR, *, ^,
 * :, ( and ) are plain text, and a quote would be doubled (the tokenizer
 * never leaves one in a word). FTS5 stems the quoted word again when it
 * parses the expression, and gets the same stem.
 */
#include "tl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Questions are read up to this many bytes (the term limit is reached
 * long before in any real question). */
#define TL_QUESTION_SCAN (64 * 1024)

/* English function words and the words every question is made of; sorted
 * for bsearch. */
static const char *const stop_words[] = {
    "about", "above", "after", "again", "against", "all", "also", "am", "an",
    "and", "any", "anyone", "anything", "are", "aren", "as", "at", "be",
    "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "cannot", "could", "couldn", "did", "didn", "do", "does",
    "doesn", "doing", "don", "down", "during", "each", "explain", "few",
    "for", "from", "further", "get", "got", "had", "has", "have", "having",
    "he", "hello", "help", "her", "here", "hers", "hi", "him", "his", "how",
    "if", "in", "into", "is", "isn", "it", "its", "just", "know", "let",
    "ll", "me", "mean", "more", "most", "my", "need", "no", "nor", "not",
    "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
    "out", "over", "own", "please", "re", "same", "she", "should", "so",
    "some", "someone", "such", "tell", "than", "thank", "thanks", "that",
    "the", "their", "theirs", "them", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "under", "understand", "until",
    "up", "ve", "very", "want", "was", "wasn", "we", "were", "what", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "won",
    "would", "you", "your", "yours",
};

static int cmp_word(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

/* Whether the word (n bytes, as written) is a stop word, in any case. */
static int is_stop_word(const char *word, size_t n)
{
    char w[16];
    if (n >= sizeof w)
        return 0;
    for (size_t i = 0; i < n; i++)
        w[i] = word[i] >= 'A' && word[i] <= 'Z' ? (char)(word[i] + 32)
                                                : word[i];
    w[n] = '\0';
    return bsearch(w, stop_words, sizeof stop_words / sizeof *stop_words,
                   sizeof *stop_words, cmp_word) != NULL;
}

typedef struct tl_qstate {
    const char *question;
    tl_terms *out;
} tl_qstate;

/* The tokenizer's callback: keep the word as one more term. */
static int on_token(void *arg, int tflags, const char *tok, int n, int start,
                    int end)
{
    tl_qstate *st = arg;
    tl_terms *t = st->out;
    size_t len = (size_t)(end - start);
    if ((tflags & FTS5_TOKEN_COLOCATED) || len < 2 ||
        len > TL_TERM_MAX_BYTES || n <= 0 || n >= TL_STEM_MAX ||
        is_stop_word(st->question + start, len))
        return SQLITE_OK;
    for (int i = 0; i < t->n; i++)
        if (strncmp(t->stem[i], tok, (size_t)n) == 0 && t->stem[i][n] == 0)
            return SQLITE_OK;
    memcpy(t->stem[t->n], tok, (size_t)n);
    t->stem[t->n][n] = '\0';
    t->raw[t->n] = (tl_span){(size_t)start, (size_t)end};
    t->df[t->n] = 0;
    t->n++;
    return t->n == TL_MAX_TERMS ? SQLITE_DONE : SQLITE_OK;
}

int tl_question_terms(struct tl_inst *t, const char *question, tl_terms *out,
                      lms_err *err)
{
    tl_qstate st = {question, out};
    size_t n = strlen(question);
    if (n > TL_QUESTION_SCAN) { /* cut before a UTF-8 lead byte */
        n = TL_QUESTION_SCAN;
        while (n > 0 && ((unsigned char)question[n] & 0xC0) == 0x80)
            n--;
    }
    out->n = 0;
    int rc = t->tok.xTokenize(t->ptok, &st, FTS5_TOKENIZE_QUERY, question,
                              (int)n, on_token);
    if (rc != SQLITE_OK && rc != SQLITE_DONE)
        return lms_err_set(err, tl_status_of(rc) ? tl_status_of(rc)
                                                 : LMS_INTERNAL,
                           TL_PLUGIN_NAME ": cannot read the question (%s)",
                           sqlite3_errstr(rc));
    return LMS_OK;
}

/* ---- hits ---- */

typedef struct tl_hitscan {
    const tl_terms *terms;
    tl_hit *hit;
    size_t n, cap;
} tl_hitscan;

static int on_hit(void *arg, int tflags, const char *tok, int n, int start,
                  int end)
{
    tl_hitscan *h = arg;
    if ((tflags & FTS5_TOKEN_COLOCATED) || n <= 0 || n >= TL_STEM_MAX)
        return SQLITE_OK;
    for (int i = 0; i < h->terms->n; i++) {
        const char *stem = h->terms->stem[i];
        if (strncmp(stem, tok, (size_t)n) != 0 || stem[n] != '\0')
            continue;
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 16;
            tl_hit *hit = realloc(h->hit, cap * sizeof *hit);
            if (hit == NULL)
                return SQLITE_NOMEM;
            h->hit = hit;
            h->cap = cap;
        }
        h->hit[h->n++] = (tl_hit){(uint32_t)i, (uint32_t)start, (uint32_t)end};
        break; /* terms are distinct stems */
    }
    return SQLITE_OK;
}

int tl_term_hits(struct tl_inst *t, const tl_terms *terms, const char *text,
                 size_t len, tl_hit **hits, size_t *n)
{
    tl_hitscan h = {.terms = terms};
    int rc = len == 0 ? SQLITE_OK
                      : t->tok.xTokenize(t->ptok, &h, FTS5_TOKENIZE_DOCUMENT,
                                         text, len > INT32_MAX ? INT32_MAX
                                                               : (int)len,
                                         on_hit);
    if (rc != SQLITE_OK) {
        free(h.hit);
        return -1;
    }
    *hits = h.hit;
    *n = h.n;
    return 0;
}

/* ---- the plan ---- */

/* Sort term indexes rarest first, ties in question order (insertion sort:
 * at most TL_MAX_TERMS of them). */
static void sort_by_df(const tl_terms *terms, int *order)
{
    for (int i = 0; i < terms->n; i++)
        order[i] = i;
    for (int i = 1; i < terms->n; i++) {
        int x = order[i], j = i;
        for (; j > 0 && terms->df[order[j - 1]] > terms->df[x]; j--)
            order[j] = order[j - 1];
        order[j] = x;
    }
}

/* The passages expected to hold any of the terms, and both of terms a
 * and b, if terms occurred independently. */
static double expect_any(const tl_terms *terms, int64_t npass)
{
    double none = 1.0;
    for (int i = 0; i < terms->n; i++)
        none *= 1.0 - (double)terms->df[i] / (double)npass;
    return (double)npass * (1.0 - none);
}

static double expect_both(const tl_terms *terms, int64_t npass, int a, int b)
{
    return (double)terms->df[a] * (double)terms->df[b] / (double)npass;
}

/* A choice of singles and pairs; pair[k] holds two term indexes. */
typedef struct tl_choice {
    int single[TL_MAX_TERMS], nsingle;
    int pair[TL_MAX_PHRASES][2], npair;
    int all; /* AND every term instead */
} tl_choice;

/* The pairs among the common terms (order[from..]) that fit in budget,
 * fewest expected passages first (ties in pair order). */
static void choose_pairs(const tl_terms *terms, int64_t npass,
                         const int *order, int from, double budget,
                         tl_choice *c)
{
    int cand[TL_MAX_PHRASES][2], n = 0;
    int to = terms->n < from + TL_PAIR_TERMS ? terms->n : from + TL_PAIR_TERMS;
    for (int i = from; i < to; i++)
        for (int j = i + 1; j < to; j++) {
            int k = n++, a = order[i], b = order[j];
            double e = expect_both(terms, npass, a, b);
            for (; k > 0 && expect_both(terms, npass, cand[k - 1][0],
                                        cand[k - 1][1]) > e; k--)
                memcpy(cand[k], cand[k - 1], sizeof cand[k]);
            cand[k][0] = a;
            cand[k][1] = b;
        }
    for (int k = 0; k < n; k++) {
        double e = expect_both(terms, npass, cand[k][0], cand[k][1]);
        if (e > budget)
            break;
        budget -= e;
        memcpy(c->pair[c->npair++], cand[k], sizeof cand[k]);
    }
}

static void choose(const tl_terms *terms, int64_t npass, tl_choice *c)
{
    int order[TL_MAX_TERMS];
    memset(c, 0, sizeof *c);
    sort_by_df(terms, order);
    if (npass <= TL_ROW_BUDGET || terms->n == 1 ||
        expect_any(terms, npass) <= TL_ROW_BUDGET) {
        for (int i = 0; i < terms->n; i++)
            c->single[c->nsingle++] = i;
        return;
    }
    double budget = TL_ROW_BUDGET;
    int k = 0;
    for (; k < terms->n && (double)terms->df[order[k]] <= budget; k++) {
        budget -= (double)terms->df[order[k]];
        c->single[c->nsingle++] = order[k];
    }
    choose_pairs(terms, npass, order, k, budget, c);
    c->all = c->nsingle == 0 && c->npair == 0;
}

/* Append term i, quoted as the student wrote it, as the next phrase. */
static void add_phrase(tl_plan *p, const char *question, const tl_terms *t,
                       int i, const char *before)
{
    const tl_span *raw = &t->raw[i];
    tl_buf_puts(&p->match, p->nphrase == 0 ? "" : before);
    tl_buf_add(&p->match, "\"", 1);
    for (size_t k = raw->start; k < raw->end; k++)
        tl_buf_add(&p->match, question[k] == '"' ? "\"\"" : question + k,
                   question[k] == '"' ? 2 : 1);
    tl_buf_add(&p->match, "\"", 1);
    p->term_of[p->nphrase++] = i;
}

/* BM25's inverse document frequency, in Lucene's form that stays above 0
 * (see tl_rank.c). */
static double idf(int64_t npass, int64_t df)
{
    return log(1.0 + ((double)(npass - df) + 0.5) / ((double)df + 0.5));
}

/* The blob tl_bm25() reads, as doubles: average length, number of terms
 * searched for, idf of each question term, then each phrase's term. */
static void add_stats(tl_plan *p, const tl_terms *t, int64_t npass,
                      int64_t ntok)
{
    int used[TL_MAX_TERMS] = {0}, nused = 0;
    for (int k = 0; k < p->nphrase; k++)
        nused += used[p->term_of[k]]++ == 0;
    double v[2 + TL_MAX_TERMS + TL_MAX_PHRASES];
    size_t n = 0;
    v[n++] = npass > 0 && ntok > 0 ? (double)ntok / (double)npass : 1.0;
    v[n++] = nused;
    for (int i = 0; i < t->n; i++)
        v[n++] = idf(npass, t->df[i]);
    for (int k = 0; k < p->nphrase; k++)
        v[n++] = p->term_of[k];
    tl_buf_add(&p->stats, (const char *)v, n * sizeof *v);
}

int tl_plan_make(const char *question, const tl_terms *terms, int64_t npass,
                 int64_t ntok, tl_plan *p)
{
    tl_choice c;
    memset(p, 0, sizeof *p);
    choose(terms, npass, &c);
    tl_buf_add(&p->match, "", 0);
    if (c.all)
        for (int i = 0; i < terms->n; i++)
            add_phrase(p, question, terms, i, " AND ");
    for (int k = 0; k < c.nsingle; k++)
        add_phrase(p, question, terms, c.single[k], " OR ");
    for (int k = 0; k < c.npair; k++) {
        tl_buf_puts(&p->match, p->nphrase == 0 ? "(" : " OR (");
        add_phrase(p, question, terms, c.pair[k][0], "");
        tl_buf_puts(&p->match, " AND ");
        add_phrase(p, question, terms, c.pair[k][1], "");
        tl_buf_add(&p->match, ")", 1);
    }
    add_stats(p, terms, npass, ntok);
    return p->match.failed || p->stats.failed ? -1 : 0;
}

void tl_plan_free(tl_plan *p)
{
    tl_buf_free(&p->match);
    tl_buf_free(&p->stats);
}

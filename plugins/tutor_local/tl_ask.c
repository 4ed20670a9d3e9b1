/* SPDX-License-Identifier: MIT */
/*
 * tl_ask.c: ask(), answering a question from the course's own index.
 *
 * The question becomes terms, and the terms a plan (tl_query.c) using
 * the course's statistics (tl_stats.c); the course's FTS5 table is
 * searched with tl_bm25 (tl_rank.c), best first, ties by rowid. A passage
 * is used when it is relevant (it reaches min_score or has every term
 * searched for, see tl_rank.c) and scores at least 40% of the best passage
 * (so weak passages do not pad a good answer), at most max_passages of
 * them; a passage that matched only in its document's title is skipped
 * when that document is already cited.
 *
 * The answer points to the materials rather than answering for the
 * student, in the spirit of the course's default system prompt: a lead
 * sentence, then per passage its citation and a quoted excerpt, then how
 * to ask the instructor. When nothing qualifies it says so and suggests
 * asking the instructor.
 *
 * Everything is computed inside ask() on the tutor thread (the plugin is
 * LMS_TUTOR_BLOCKING), so done() is called before ask() returns LMS_OK;
 * on an error ask() returns it and done() is not called. The same index
 * and question give the same answer, byte for byte.
 */
#include "tl_internal.h"

#include <stdlib.h>
#include <string.h>

/* A passage below this share of the best passage's score is not used. */
#define TL_RELATIVE_FLOOR 0.4
/* Candidates fetched beyond max_passages, to replace passages dropped for
 * matching only in their document's title. */
#define TL_SPARE 4
#define TL_MAX_PICKS 16

/* One passage chosen for the answer. */
typedef struct tl_pick {
    int reply;
    uint64_t id;
    long long ordinal;
    char *title, *body;
    size_t len, lead; /* body's length; where a reply's answer starts */
    tl_hit *hits;
    size_t nhits;
} tl_pick;

static void picks_free(tl_pick *p, int n)
{
    for (int i = 0; i < n; i++) {
        free(p[i].title);
        free(p[i].body);
        free(p[i].hits);
        memset(&p[i], 0, sizeof p[i]);
    }
}

/* Whether p adds nothing: no hit in its text (only its document's title
 * matched) and a passage of the same document is already used. */
static int title_only_repeat(const tl_pick *used, int n, const tl_pick *p)
{
    if (p->nhits > 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (used[i].reply == p->reply && used[i].id == p->id)
            return 1;
    return 0;
}

/* The rowids of the passages to use, best first. */
static int search(tl_inst *t, tl_course_stmts *c, const tl_plan *plan,
                  int64_t *rowid, int *n, lms_err *err)
{
    sqlite3_stmt *st = c->search;
    double best = 0.0;
    int src;
    *n = 0;
    sqlite3_bind_text(st, 1, plan->match.s, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, plan->stats.s, (int)plan->stats.len,
                      SQLITE_STATIC);
    sqlite3_bind_int(st, 2, t->cfg.max_passages + TL_SPARE);
    sqlite3_bind_double(st, 3, t->cfg.min_score);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        double score = sqlite3_column_double(st, 1);
        if (*n == 0)
            best = score;
        if (score <= 0.0 || score < best * TL_RELATIVE_FLOOR)
            break;
        rowid[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return tl_fail(t, src, err, "searching");
    return LMS_OK;
}

static char *dup_text(sqlite3_stmt *st, int col, size_t *len)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *out = malloc(n + 1);
    if (out != NULL) {
        if (n > 0)
            memcpy(out, s, n);
        out[n] = '\0';
    }
    if (len != NULL)
        *len = n;
    return out;
}

/* Copy what the answer needs of the row that fetch stepped onto, and
 * find the terms in its body. */
static int copy_row(tl_inst *t, sqlite3_stmt *st, const tl_terms *terms,
                    tl_pick *p)
{
    const unsigned char *kind = sqlite3_column_text(st, 0);
    p->reply = kind != NULL && strcmp((const char *)kind, "reply") == 0;
    p->id = (uint64_t)sqlite3_column_int64(st, 1);
    p->title = dup_text(st, 2, NULL);
    p->ordinal = sqlite3_column_int64(st, 3);
    p->body = dup_text(st, 4, &p->len);
    long long lead = sqlite3_column_int64(st, 5);
    p->lead = lead > 0 && (size_t)lead <= p->len ? (size_t)lead : 0;
    if (p->title == NULL || p->body == NULL)
        return -1;
    return tl_term_hits(t, terms, p->body, p->len, &p->hits, &p->nhits);
}

static int fetch(tl_inst *t, tl_course_stmts *c, const tl_terms *terms,
                 int64_t rowid, tl_pick *p, lms_err *err)
{
    sqlite3_stmt *st = c->fetch;
    sqlite3_bind_int64(st, 1, rowid);
    int src = sqlite3_step(st), rc = LMS_OK;
    if (src == SQLITE_ROW && copy_row(t, st, terms, p) != 0)
        rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    else if (src != SQLITE_ROW)
        rc = tl_fail(t, src == SQLITE_DONE ? SQLITE_INTERNAL : src, err,
                     "reading a passage");
    sqlite3_reset(st);
    return rc;
}

/* Search course table tab with terms and fetch the passages to use. */
static int search_and_fetch(tl_inst *t, int64_t tab, const char *question,
                            tl_terms *terms, tl_pick *pick, int *n,
                            lms_err *err)
{
    tl_plan plan = {0};
    tl_course_stmts *c = NULL;
    int64_t npass = 0, ntok = 0, rowid[TL_MAX_PICKS];
    int found = 0;
    int rc = tl_stats_get(t, tab, terms, &npass, &ntok, err);
    if (rc == LMS_OK &&
        tl_plan_make(question, terms, npass, ntok, &plan) != 0)
        rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    if (rc == LMS_OK)
        rc = tl_course_stmts_get(t, tab, &c, err);
    if (rc == LMS_OK)
        rc = search(t, c, &plan, rowid, &found, err);
    for (int i = 0; rc == LMS_OK && i < found && *n < t->cfg.max_passages;
         i++) {
        tl_pick *p = &pick[(*n)++]; /* counted: holds memory even on error */
        rc = fetch(t, c, terms, rowid[i], p, err);
        if (rc == LMS_OK && title_only_repeat(pick, *n - 1, p)) {
            picks_free(p, 1);
            (*n)--;
        }
    }
    tl_plan_free(&plan);
    return rc;
}

/* Find the passages for the question in course; *n = 0 when there are
 * none, *nterms = 0 when the question has no words to look up. */
static int find(tl_inst *t, const char *course, const char *question,
                tl_pick *pick, int *n, int *nterms, lms_err *err)
{
    tl_terms terms;
    int64_t tab = 0;
    *n = 0;
    int rc = tl_question_terms(t, question, &terms, err);
    *nterms = rc == LMS_OK ? terms.n : 0;
    if (rc == LMS_OK && terms.n > 0)
        rc = tl_course_table(t, course, 0, &tab, err);
    if (rc != LMS_OK || tab == 0)
        return rc;
    return search_and_fetch(t, tab, question, &terms, pick, n, err);
}

/* ---- composing the answer ---- */

static void suggest_instructor(tl_buf *b, const char *course)
{
    tl_buf_printf(b, "ask your instructor: lms-student ask --course %s "
                     "--instructor \"your question\"", course);
}

static void compose_nothing(tl_buf *b, const char *course, int nterms)
{
    if (nterms == 0)
        tl_buf_puts(b, "Your question has no words I could look up in the "
                       "course materials. ");
    tl_buf_printf(b, "I could not find anything about this in the materials "
                     "of %s or in the instructors' earlier answers, so I "
                     "would rather not guess. Please ", course);
    suggest_instructor(b, course);
    tl_buf_add(b, "\n", 1);
}

static void compose_lead(tl_buf *b, const char *course, const tl_pick *p,
                         int n)
{
    int materials = 0, replies = 0;
    for (int i = 0; i < n; i++)
        p[i].reply ? replies++ : materials++;
    if (materials && replies)
        tl_buf_printf(b, "The materials of %s and your instructors' earlier "
                         "answers cover this.", course);
    else if (materials)
        tl_buf_printf(b, "The materials of %s cover this.", course);
    else
        tl_buf_puts(b, "Your instructors have answered a similar question "
                       "before.");
    tl_buf_puts(b, " Read these passages, then try the next step "
                   "yourself.\n");
}

/* One passage's citation and excerpt; 0 if its excerpt repeats one already
 * quoted (overlapping windows) and nothing was added. */
static int compose_pick(tl_buf *b, const tl_pick *p, tl_buf *quoted)
{
    tl_buf ex = {0};
    tl_excerpt(p->body, p->len, p->lead, p->hits, p->nhits,
               TL_EXCERPT_WORDS, &ex);
    int fresh = ex.len > 0 && !ex.failed;
    for (size_t at = 0; fresh && at < quoted->len;) {
        fresh = strcmp(quoted->s + at, ex.s) != 0;
        at += strlen(quoted->s + at) + 1;
    }
    if (fresh) {
        tl_buf_add(quoted, ex.s, ex.len + 1);
        if (p->reply)
            tl_buf_printf(b, "\nAn instructor answered a similar question "
                             "(\"%s\", query %llu): \"%s\"\n",
                          p->title, (unsigned long long)p->id, ex.s);
        else
            tl_buf_printf(b, "\nFrom \"%s\" (material %llu, passage %lld): "
                             "\"%s\"\n",
                          p->title, (unsigned long long)p->id, p->ordinal,
                          ex.s);
    }
    b->failed |= ex.failed;
    tl_buf_free(&ex);
    return fresh;
}

/* The answer's text and sources for the passages found. */
static void compose(tl_buf *b, const char *course, const tl_pick *p, int n,
                    lms_tutor_source *src, size_t *nsrc)
{
    tl_buf quoted = {0};
    *nsrc = 0;
    compose_lead(b, course, p, n);
    for (int i = 0; i < n; i++) {
        if (!compose_pick(b, &p[i], &quoted))
            continue;
        src[*nsrc] = (lms_tutor_source){
            .kind = p[i].reply ? "reply" : "material",
            .id = p[i].id,
            .title = p[i].title,
            .passage = p[i].body + p[i].lead,
        };
        (*nsrc)++;
    }
    tl_buf_puts(b, "\nIf this does not answer your question, ");
    suggest_instructor(b, course);
    tl_buf_add(b, "\n", 1);
    b->failed |= quoted.failed;
    tl_buf_free(&quoted);
}

static int check_ask(const lms_tutor_question *q, const lms_tutor_reply *r,
                     lms_err *err)
{
    if (r == NULL || r->done == NULL)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           TL_PLUGIN_NAME ": ask without a done callback");
    if (q == NULL || q->course == NULL || q->course[0] == '\0' ||
        q->question == NULL)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           TL_PLUGIN_NAME ": ask needs a course and a "
                           "question");
    return LMS_OK;
}

int tl_ask(void *inst, const lms_tutor_question *q,
           const lms_tutor_reply *reply, lms_err *err)
{
    tl_inst *t = inst;
    tl_buf text = {0};
    tl_pick pick[TL_MAX_PICKS] = {0};
    lms_tutor_source src[TL_MAX_PICKS];
    size_t nsrc = 0;
    int nterms = 0, n = 0;
    int rc = check_ask(q, reply, err);
    if (rc == LMS_OK)
        rc = find(t, q->course, q->question, pick, &n, &nterms, err);
    if (rc == LMS_OK && n > 0)
        compose(&text, q->course, pick, n, src, &nsrc);
    if (rc == LMS_OK && nsrc == 0) {
        text.len = 0;
        compose_nothing(&text, q->course, nterms);
    }
    if (rc == LMS_OK && text.failed)
        rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    if (rc == LMS_OK) {
        lms_tutor_answer a = {
            .text = text.s,
            .model = TL_MODEL,
            .prompt_tokens = tl_count_words(q->question),
            .completion_tokens = tl_count_words(text.s),
            .sources = nsrc ? src : NULL,
            .n_sources = nsrc,
        };
        reply->done(reply->arg, LMS_OK, &a, NULL);
    }
    picks_free(pick, n);
    tl_buf_free(&text);
    return rc;
}

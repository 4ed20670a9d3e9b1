/* SPDX-License-Identifier: MIT */
/*
 * tl_internal.h: what the files of the tutor_local plugin share.
 *
 * tutor_local.c holds the entry point, options, init and shutdown;
 * tl_index.c the SQLite index (file, schema, per-course FTS5 tables,
 * statements); tl_stats.c the per-course term statistics (passage count,
 * lengths, document frequencies); tl_rank.c the FTS5 auxiliary function
 * that scores passages; tl_query.c turns a question into terms, plans the
 * search and finds the terms in a passage; tl_text.c cleans text, cuts it into
 * passages and picks excerpts; tl_learn.c and tl_ask.c are the two tutor
 * operations. Nothing here is exported: only lms_plugin_entry is marked
 * LMS_PLUGIN_EXPORT.
 */
#ifndef LMS_TUTOR_LOCAL_INTERNAL_H
#define LMS_TUTOR_LOCAL_INTERNAL_H

#include <lms/tutor.h>

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define TL_PLUGIN_NAME "tutor_local"
#define TL_PLUGIN_VERSION "0.1.0"
#define TL_MODEL "tutor_local-bm25"

/* The most distinct terms taken from one question (the rest are ignored,
 * which bounds the cost of a pathological question). */
#define TL_MAX_TERMS 32
/* About how many passages one search may score: scoring costs ~1 us a
 * passage, so searches in a large course are planned to stay near this
 * (see tl_plan_make). */
#define TL_ROW_BUDGET 2000
/* Longest term and stem, in bytes. */
#define TL_TERM_MAX_BYTES 64
#define TL_STEM_MAX 256

/*
 * A passage's rowid packs (document seq << 32) | (ordinal << 12) | length:
 * its document's passages are one rowid range (replacing a document deletes
 * that range) and its length in tokens, which BM25 needs for every row it
 * scores, comes with the rowid instead of a lookup in FTS5's %_docsize
 * table (that lookup was two thirds of the cost of a search).
 */
#define TL_LEN_BITS 12
#define TL_MAX_LEN ((1 << TL_LEN_BITS) - 1)
#define TL_ORDINAL_BITS 20
#define TL_MAX_PASSAGES ((1 << TL_ORDINAL_BITS) - 1)
#define TL_SEQ_SHIFT (TL_LEN_BITS + TL_ORDINAL_BITS)
#define TL_MAX_SEQ ((int64_t)1 << 30)
/* Longest excerpt quoted in an answer, in words. */
#define TL_EXCERPT_WORDS 40

/* ---- growable strings (tl_text.c) ---- */

/* A NUL-terminated string that grows; failed stays set after the first
 * allocation failure so callers check once at the end. */
typedef struct tl_buf {
    char *s;
    size_t len, cap;
    int failed;
} tl_buf;

void tl_buf_add(tl_buf *b, const char *p, size_t n);
void tl_buf_puts(tl_buf *b, const char *s);
void tl_buf_printf(tl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tl_buf_free(tl_buf *b);

/* ---- text (tl_text.c) ---- */

/* A byte range [start, end) of some text. */
typedef struct tl_span {
    size_t start, end;
} tl_span;

/*
 * Copy n bytes of untrusted text into *out as valid UTF-8: invalid
 * sequences become U+FFFD, \r\n and \r become \n, other control characters
 * and NULs become spaces. Returns 0, or -1 when out of memory.
 */
int tl_clean_utf8(const char *text, size_t n, tl_buf *out);

/* text with every run of whitespace (newlines too) made one space and the
 * ends trimmed, appended to out. For titles. */
void tl_one_line(const char *text, size_t n, tl_buf *out);

/*
 * Cut cleaned text into passages of at most `words` words: paragraphs
 * (separated by blank lines) are packed together while they fit, a longer
 * paragraph is cut into windows that overlap by words/8. Each passage is
 * written to *out as its words joined by single spaces, paragraphs by
 * "\n", and NUL-separated; *count gets the number of passages (at most
 * TL_MAX_PASSAGES). Returns 0, or -1 when out of memory.
 */
int tl_split_passages(const char *text, size_t n, int words, tl_buf *out,
                      size_t *count);

/* Whitespace-separated words in s. */
uint32_t tl_count_words(const char *s);

/* One hit in a passage's body: which term of the question (its index in
 * tl_terms) and the byte range of the token it hit. */
typedef struct tl_hit {
    uint32_t phrase, start, end;
} tl_hit;

/*
 * Append to out the best excerpt of body[from..len): the sentence with
 * the most distinct terms hit (then most hits, then the earliest), with
 * the next sentence added when it is very short, cut to at most
 * max_words words around its first hit, "…" marking a cut. Newlines become
 * spaces. Deterministic: depends only on its arguments.
 */
void tl_excerpt(const char *body, size_t len, size_t from, const tl_hit *hits,
                size_t nhits, int max_words, tl_buf *out);

/* ---- questions (tl_query.c) ---- */

/* The terms of a question: where each is in the question, its stem as the
 * index knows it, and how many of the course's passages contain it. */
typedef struct tl_terms {
    int n;
    tl_span raw[TL_MAX_TERMS];
    char stem[TL_MAX_TERMS][TL_STEM_MAX];
    int64_t df[TL_MAX_TERMS];
} tl_terms;

/*
 * The terms of a question: its words as the index's tokenizer reads them
 * (folded, stemmed, punctuation dropped), without stop words, one-letter
 * words and repeats (by stem), at most TL_MAX_TERMS in order of first
 * appearance. df is left 0. LMS_OK or an error in err.
 */
struct tl_inst;
int tl_question_terms(struct tl_inst *t, const char *question, tl_terms *out,
                      lms_err *err);

/* Where the terms occur in text (tokenized as the index does), in text
 * order, into *hits (malloc'd, the caller frees) and *n. -1 when out of
 * memory or the tokenizer failed. */
int tl_term_hits(struct tl_inst *t, const tl_terms *terms, const char *text,
                 size_t len, tl_hit **hits, size_t *n);

/* Pairs are formed among at most this many of a question's common terms
 * (15 pairs); phrases in a plan are at most TL_MAX_TERMS + 2 * 15. */
#define TL_PAIR_TERMS 6
#define TL_MAX_PHRASES (TL_MAX_TERMS + TL_PAIR_TERMS * (TL_PAIR_TERMS - 1))

/*
 * How a question is searched in one course: the FTS5 expression, the
 * statistics blob that tl_bm25() reads (tl_rank.c), and for each phrase of
 * the expression the question term it stands for (a term can appear in
 * several phrases).
 */
typedef struct tl_plan {
    tl_buf match, stats;
    int nphrase;
    int term_of[TL_MAX_PHRASES];
} tl_plan;

/*
 * Plan the search of a course of npass passages holding ntok tokens. Every
 * term is quoted (so no FTS5 syntax survives). When the terms' passages
 * together are few (at most TL_ROW_BUDGET, estimated as if terms occurred
 * independently), they are simply ORed and every passage with any of them
 * is scored. Otherwise the rarest terms are searched alone while their
 * passages add up to at most TL_ROW_BUDGET, and the next TL_PAIR_TERMS
 * rarest only in pairs ("a" AND "b"), the pairs with the fewest expected
 * passages first, within the same budget: a passage that has only one
 * common word of the question is not scored (it would score low), one
 * that has several is. When not even one pair fits, the terms are ANDed.
 * Returns 0, or -1 when out of memory.
 */
int tl_plan_make(const char *question, const tl_terms *terms, int64_t npass,
                 int64_t ntok, tl_plan *plan);
void tl_plan_free(tl_plan *plan);

/* ---- the instance ---- */

typedef struct tl_config {
    char *index_path; /* malloc'd; ":memory:" or a resolved file name */
    int max_passages;
    int passage_words;
    double min_score;
} tl_config;

/* Statements that need a course's table, prepared on first use. */
typedef struct tl_course_stmts {
    sqlite3_stmt *insert, *remove, *search, *fetch, *passages;
} tl_course_stmts;

enum tl_stmt_id {
    TL_BEGIN,
    TL_COMMIT,
    TL_ROLLBACK,
    TL_COURSE_GET,
    TL_COURSE_ADD,
    TL_DOC_GET,
    TL_DOC_ADD,
    TL_DOC_MOVE,
    TL_TERM_ADD,
    TL_TERM_GET,
    TL_STATS_ADD,
    TL_STATS_GET,
    TL_STMT_COUNT
};

typedef struct tl_inst {
    const struct lms_host *host;
    struct lms_plugin_ctx *ctx;
    tl_config cfg;
    sqlite3 *db;
    sqlite3_stmt *stmt[TL_STMT_COUNT];
    tl_course_stmts *course; /* indexed by course table number */
    size_t ncourse;
    /* the index's own tokenizer (porter unicode61), to read questions and
     * count terms exactly as FTS5 does */
    fts5_tokenizer tok;
    Fts5Tokenizer *ptok;
} tl_inst;

void tl_log(tl_inst *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the index (tl_index.c) ---- */

/* Open (recreate) the index at t->cfg.index_path: see tl_index.c. */
int tl_index_open(tl_inst *t, lms_err *err);
void tl_index_close(tl_inst *t);

/* The lms_status for an SQLite result code; and "<what>: <sqlite message>"
 * into err with it, returning the status. */
int tl_status_of(int sqlite_rc);
int tl_fail(tl_inst *t, int sqlite_rc, lms_err *err, const char *what);

/* The cached statement for id, prepared on first use. */
int tl_stmt(tl_inst *t, enum tl_stmt_id id, sqlite3_stmt **out, lms_err *err);
/* Run a statement without results (BEGIN, COMMIT...) and reset it. */
int tl_exec(tl_inst *t, enum tl_stmt_id id, lms_err *err);
/* Roll back and forget the course statements (a rolled-back CREATE may
 * have taken a table number with it). */
void tl_rollback(tl_inst *t);

/* The table number of course, 0 if it has none (and create is 0). Creates
 * the course's FTS5 table when create is set; call inside a transaction. */
int tl_course_table(tl_inst *t, const char *course, int create, int64_t *tab,
                    lms_err *err);
/* The course's statement set, preparing what is missing. */
int tl_course_stmts_get(tl_inst *t, int64_t tab, tl_course_stmts **out,
                        lms_err *err);

/* ---- term statistics (tl_stats.c) ---- */

/* A list of NUL-terminated strings in one buffer. */
typedef struct tl_strs {
    tl_buf buf;
    size_t *at; /* where each string starts in buf */
    size_t n, cap;
} tl_strs;

/* The distinct stems of each passage of a batch (all), for the df table;
 * one is scratch space for the passage being read. */
typedef struct tl_bag {
    tl_strs all, one;
    int64_t npass, ntok;
} tl_bag;

/* Tokenize one passage (title + body) as the index does; add its distinct
 * stems to bag and count it; *ntok gets its length in tokens. */
int tl_bag_add(tl_inst *t, tl_bag *bag, const char *title, const char *body,
               int64_t *ntok, lms_err *err);
/* Add (sign 1) or take away (sign -1) the bag's counts in course table
 * tab's statistics, then empty the bag. */
int tl_bag_flush(tl_inst *t, tl_bag *bag, int64_t tab, int sign,
                 lms_err *err);
void tl_bag_free(tl_bag *bag);

/* The course's passage and token counts, and each term's df. */
int tl_stats_get(tl_inst *t, int64_t tab, tl_terms *terms, int64_t *npass,
                 int64_t *ntok, lms_err *err);

/* ---- FTS5 auxiliary functions (tl_rank.c) ---- */

/* Register tl_bm25() on t->db and set up the tokenizer. */
int tl_rank_register(tl_inst *t, lms_err *err);

/* ---- operations ---- */

int tl_learn(void *inst, const lms_tutor_doc *doc, lms_err *err);
int tl_ask(void *inst, const lms_tutor_question *q,
           const lms_tutor_reply *reply, lms_err *err);

#endif

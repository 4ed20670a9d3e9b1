/*
 * tl_query.c: from a student's question to an FTS5 MATCH expression.
 *
 * The question is read by FTS5's own unicode61 tokenizer (the index uses
 * "porter unicode61", so the words come out folded the same way and
 * Unicode punctuation is dropped the same way). Stop words, one-letter
 * words and repeats are dropped; the rest become quoted strings joined by
 * OR. Quoting is what keeps the student's text from being FTS5 syntax:
 * inside "..." AND, OR, NOT, NEAR, *, ^, :, ( and ) are plain text, and a
 * quote inside is doubled. FTS5 then applies the porter stemmer to each
 * string, so "recursive" finds "recursion".
 */
#include "tl_internal.h"

#include <stdlib.h>
#include <string.h>

/* Questions are read up to this many bytes (the term limit is reached
 * long before in any real question). */
#define TL_QUESTION_SCAN (64 * 1024)
/* Longer "words" are noise (base64, URLs) and are not searched. */
#define TL_TERM_MAX_BYTES 64

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

/* Whether the token (n bytes) is a stop word; tokens are folded already. */
static int is_stop_word(const char *tok, int n)
{
    char w[16];
    if (n <= 0 || (size_t)n >= sizeof w)
        return 0;
    memcpy(w, tok, (size_t)n);
    w[n] = '\0';
    return bsearch(w, stop_words, sizeof stop_words / sizeof *stop_words,
                   sizeof *stop_words, cmp_word) != NULL;
}

typedef struct tl_qstate {
    tl_buf *out;
    tl_buf seen; /* the terms so far, each followed by a NUL */
    int nterms;
} tl_qstate;

/* Whether the token is one of the terms already in the query. */
static int seen(const tl_qstate *st, const char *tok, int n)
{
    for (size_t at = 0; at < st->seen.len;) {
        const char *term = st->seen.s + at;
        size_t len = strlen(term);
        if (len == (size_t)n && memcmp(term, tok, len) == 0)
            return 1;
        at += len + 1;
    }
    return 0;
}

/* The tokenizer's callback: add the token as one more quoted term. */
static int on_token(void *arg, int tflags, const char *tok, int n, int start,
                    int end)
{
    tl_qstate *st = arg;
    (void)start, (void)end;
    if ((tflags & FTS5_TOKEN_COLOCATED) || n < 2 || n > TL_TERM_MAX_BYTES ||
        is_stop_word(tok, n) || seen(st, tok, n))
        return SQLITE_OK;
    tl_buf_add(&st->seen, tok, (size_t)n);
    tl_buf_add(&st->seen, "", 1);
    tl_buf_puts(st->out, st->nterms > 0 ? " OR \"" : "\"");
    for (int i = 0; i < n; i++) /* a quote is doubled (unicode61 has none) */
        tl_buf_add(st->out, tok[i] == '"' ? "\"\"" : tok + i,
                   tok[i] == '"' ? 2 : 1);
    tl_buf_add(st->out, "\"", 1);
    st->nterms++;
    if (st->out->failed || st->seen.failed)
        return SQLITE_NOMEM;
    return st->nterms == TL_MAX_TERMS ? SQLITE_DONE : SQLITE_OK;
}

int tl_build_query(struct tl_inst *t, const char *question, tl_buf *out,
                   int *nterms)
{
    tl_qstate st = {.out = out};
    size_t n = strlen(question);
    if (n > TL_QUESTION_SCAN) { /* cut before a UTF-8 lead byte */
        n = TL_QUESTION_SCAN;
        while (n > 0 && ((unsigned char)question[n] & 0xC0) == 0x80)
            n--;
    }
    tl_buf_add(out, "", 0);
    int rc = t->tok.xTokenize(t->qtok, &st, FTS5_TOKENIZE_QUERY, question,
                              (int)n, on_token);
    *nterms = st.nterms;
    tl_buf_free(&st.seen);
    if (rc != SQLITE_OK && rc != SQLITE_DONE)
        return -1;
    return out->failed ? -1 : 0;
}

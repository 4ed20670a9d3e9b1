/* SPDX-License-Identifier: MIT */
/*
 * tl_learn.c: learn(), adding one course document to the index.
 *
 * A material's text is cut into passages (tl_split_passages) and each is
 * stored with the material's title. An instructor's reply is stored as
 * passages of "question \n answer": the question (capped at passage_words
 * words) comes first in every passage so that a student's similar question
 * finds it, and `lead` remembers where the answer starts, so that the
 * excerpt quotes the instructor rather than the question.
 *
 * Learning a (kind, id) again replaces its passages: all of them, in one
 * transaction, so an ask() never sees half of a document.
 */
#include "tl_internal.h"

#include <stdlib.h>
#include <string.h>

/* A document made ready for the index. */
typedef struct tl_prepared {
    tl_buf title;    /* one line */
    tl_buf question; /* a reply's question, one line, "" otherwise */
    tl_buf passages; /* NUL-separated */
    size_t npassages;
} tl_prepared;

static void prepared_free(tl_prepared *p)
{
    tl_buf_free(&p->title);
    tl_buf_free(&p->question);
    tl_buf_free(&p->passages);
}

/* Clean s (n bytes) into one line, cut after max words. */
static int one_line(const char *s, size_t n, int max, tl_buf *out)
{
    tl_buf clean = {0};
    if (s != NULL && tl_clean_utf8(s, n, &clean) != 0) {
        tl_buf_free(&clean);
        return -1;
    }
    tl_one_line(clean.s ? clean.s : "", clean.len, out);
    tl_buf_free(&clean);
    int words = 0;
    for (size_t i = 0; i < out->len && !out->failed; i++)
        if (out->s[i] == ' ' && ++words == max) {
            out->s[i] = '\0';
            out->len = i;
            break;
        }
    return out->failed ? -1 : 0;
}

static int prepare(tl_inst *t, const lms_tutor_doc *doc, int reply,
                   tl_prepared *p, lms_err *err)
{
    tl_buf text = {0};
    int words = t->cfg.passage_words;
    int rc = one_line(doc->title, doc->title ? strlen(doc->title) : 0, words,
                      &p->title);
    if (rc == 0)
        rc = one_line(reply ? doc->question : NULL,
                      reply && doc->question ? strlen(doc->question) : 0,
                      words, &p->question);
    if (rc == 0 && doc->text != NULL)
        rc = tl_clean_utf8(doc->text, doc->len, &text);
    if (rc == 0)
        rc = tl_split_passages(text.s ? text.s : "", text.len, words,
                               &p->passages, &p->npassages);
    tl_buf_free(&text);
    if (rc != 0)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           TL_PLUGIN_NAME ": out of memory learning %s %llu",
                           doc->kind, (unsigned long long)doc->id);
    return LMS_OK;
}

/* The first and last rowid a document's passages can have. */
static int64_t first_rowid(int64_t seq)
{
    return seq << TL_SEQ_SHIFT;
}

static int64_t last_rowid(int64_t seq)
{
    return seq << TL_SEQ_SHIFT | (((int64_t)1 << TL_SEQ_SHIFT) - 1);
}

/* Delete the document's passages from course table tab and take them out
 * of the course's statistics. */
static int forget_passages(tl_inst *t, int64_t tab, int64_t seq,
                           lms_err *err)
{
    tl_course_stmts *c = NULL;
    tl_bag bag = {0};
    int64_t ntok;
    int rc = tl_course_stmts_get(t, tab, &c, err), src = SQLITE_DONE;
    if (rc == LMS_OK) {
        sqlite3_bind_int64(c->passages, 1, first_rowid(seq));
        sqlite3_bind_int64(c->passages, 2, last_rowid(seq));
        while (rc == LMS_OK && (src = sqlite3_step(c->passages)) == SQLITE_ROW)
            rc = tl_bag_add(t, &bag,
                            (const char *)sqlite3_column_text(c->passages, 0),
                            (const char *)sqlite3_column_text(c->passages, 1),
                            &ntok, err);
        if (rc == LMS_OK && src != SQLITE_DONE)
            rc = tl_fail(t, src, err, "reading a document's passages");
        sqlite3_reset(c->passages);
    }
    if (rc == LMS_OK)
        rc = tl_bag_flush(t, &bag, tab, -1, err);
    tl_bag_free(&bag);
    if (rc != LMS_OK)
        return rc;
    sqlite3_bind_int64(c->remove, 1, first_rowid(seq));
    sqlite3_bind_int64(c->remove, 2, last_rowid(seq));
    src = sqlite3_step(c->remove);
    rc = src == SQLITE_DONE ? LMS_OK
                            : tl_fail(t, src, err, "removing a passage");
    sqlite3_reset(c->remove);
    return rc;
}

/*
 * The document's seq, with its old passages forgotten if it was learned
 * before (from the table of the course it was in then) and its row
 * pointing at course table tab.
 */
static int doc_slot(tl_inst *t, const lms_tutor_doc *doc, int64_t tab,
                    int64_t *seq, lms_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tl_stmt(t, TL_DOC_GET, &st, err);
    if (rc != LMS_OK)
        return rc;
    sqlite3_bind_text(st, 1, doc->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)doc->id);
    int src = sqlite3_step(st);
    int64_t old_tab = src == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    *seq = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = tl_fail(t, src, err, "looking up a document");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != LMS_OK)
        return rc;
    if (old_tab != 0 && (rc = forget_passages(t, old_tab, *seq, err)))
        return rc;
    rc = tl_stmt(t, old_tab ? TL_DOC_MOVE : TL_DOC_ADD, &st, err);
    if (rc != LMS_OK)
        return rc;
    if (old_tab) {
        sqlite3_bind_int64(st, 1, *seq);
        sqlite3_bind_int64(st, 2, tab);
    } else {
        sqlite3_bind_text(st, 1, doc->kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)doc->id);
        sqlite3_bind_int64(st, 3, tab);
    }
    src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = tl_fail(t, src, err, "recording a document");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == LMS_OK && old_tab == 0)
        *seq = sqlite3_last_insert_rowid(t->db);
    if (rc == LMS_OK && *seq > TL_MAX_SEQ)
        rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                         TL_PLUGIN_NAME ": the index holds too many "
                         "documents");
    return rc;
}

/* Insert one passage as row (seq, ordinal, length) of the course's table
 * and count it in bag. */
static int insert_passage(tl_inst *t, tl_course_stmts *c, tl_bag *bag,
                          const lms_tutor_doc *doc, const tl_prepared *p,
                          const tl_buf *body, size_t lead, int64_t seq,
                          int64_t ordinal, lms_err *err)
{
    int64_t ntok = 0;
    int rc = tl_bag_add(t, bag, p->title.s, body->s, &ntok, err);
    if (rc != LMS_OK)
        return rc;
    sqlite3_stmt *st = c->insert;
    sqlite3_bind_int64(st, 1, first_rowid(seq) | ordinal << TL_LEN_BITS |
                                  (ntok < TL_MAX_LEN ? ntok : TL_MAX_LEN));
    sqlite3_bind_text(st, 2, p->title.s, (int)p->title.len, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, body->s, (int)body->len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, doc->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)doc->id);
    sqlite3_bind_int64(st, 6, ordinal);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)lead);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = tl_fail(t, src, err, "adding a passage");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Insert the prepared passages, counting them in the course's statistics
 * a batch at a time. */
static int insert_passages(tl_inst *t, const lms_tutor_doc *doc,
                           const tl_prepared *p, int64_t tab, int64_t seq,
                           lms_err *err)
{
    tl_course_stmts *c = NULL;
    tl_bag bag = {0};
    tl_buf body = {0};
    int rc = tl_course_stmts_get(t, tab, &c, err);
    const char *pass = p->passages.s;
    for (size_t i = 0; rc == LMS_OK && i < p->npassages; i++) {
        body.len = 0;
        if (p->question.len > 0) {
            tl_buf_add(&body, p->question.s, p->question.len);
            tl_buf_add(&body, "\n", 1);
        }
        size_t lead = body.len;
        tl_buf_puts(&body, pass);
        pass += strlen(pass) + 1;
        if (body.failed)
            rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
        if (rc == LMS_OK)
            rc = insert_passage(t, c, &bag, doc, p, &body, lead, seq,
                                (int64_t)i + 1, err);
        if (rc == LMS_OK && bag.npass == 64)
            rc = tl_bag_flush(t, &bag, tab, 1, err);
    }
    if (rc == LMS_OK)
        rc = tl_bag_flush(t, &bag, tab, 1, err);
    tl_bag_free(&bag);
    tl_buf_free(&body);
    return rc;
}

static int check_doc(const lms_tutor_doc *doc, int *reply, lms_err *err)
{
    if (doc == NULL || doc->course == NULL || doc->course[0] == '\0' ||
        doc->kind == NULL)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           TL_PLUGIN_NAME ": learn: a document needs a "
                           "course and a kind");
    *reply = strcmp(doc->kind, "reply") == 0;
    if (!*reply && strcmp(doc->kind, "material") != 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           TL_PLUGIN_NAME ": learn: unknown kind '%s' "
                           "(expected material or reply)", doc->kind);
    if (doc->len > (size_t)INT32_MAX)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           TL_PLUGIN_NAME ": learn: %s %llu is too large "
                           "(%zu bytes)", doc->kind,
                           (unsigned long long)doc->id, doc->len);
    return LMS_OK;
}

int tl_learn(void *inst, const lms_tutor_doc *doc, lms_err *err)
{
    tl_inst *t = inst;
    tl_prepared p = {0};
    int reply = 0;
    int64_t tab = 0, seq = 0;
    int rc = check_doc(doc, &reply, err);
    if (rc == LMS_OK)
        rc = prepare(t, doc, reply, &p, err);
    if (rc == LMS_OK)
        rc = tl_exec(t, TL_BEGIN, err);
    if (rc != LMS_OK) {
        prepared_free(&p);
        return rc;
    }
    rc = tl_course_table(t, doc->course, 1, &tab, err);
    if (rc == LMS_OK)
        rc = doc_slot(t, doc, tab, &seq, err);
    if (rc == LMS_OK)
        rc = insert_passages(t, doc, &p, tab, seq, err);
    if (rc == LMS_OK)
        rc = tl_exec(t, TL_COMMIT, err);
    if (rc != LMS_OK)
        tl_rollback(t);
    if (p.npassages == TL_MAX_PASSAGES)
        tl_log(t, LMS_LOG_WARN, "%s %llu: only the first %d passages are "
               "indexed", doc->kind, (unsigned long long)doc->id,
               TL_MAX_PASSAGES);
    prepared_free(&p);
    return rc;
}

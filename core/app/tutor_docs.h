/* SPDX-License-Identifier: MIT */
/*
 * tutor_docs.h: the course documents a tutor learns from, read from
 * storage (storage thread only): a material whose file is text (valid
 * UTF-8 without NUL bytes; other files are skipped), and an instructors'
 * answer: the replies of a course's instructors to one question to the
 * instructors that an instructor shared with the course, joined, with the
 * question (never the student's name; a question not shared is private and
 * no document). A document is learned again whole when it changes (a new
 * reply to the same question, a new version of a material), since learn()
 * replaces the document of the same kind and id; an unshared answer, a
 * deleted material and a material whose new version is not text are
 * learned as an empty document (len 0), which withdraws it.
 */
#ifndef LMS_CORE_TUTOR_DOCS_H
#define LMS_CORE_TUTOR_DOCS_H

#include "sm.h"

#include <lms/tutor.h>

typedef struct tutor_doc_item {
    lms_tutor_doc doc; /* its strings are the owned copies below */
    char *course, *title, *question, *text;
    struct tutor_doc_item *next;
} tutor_doc_item;

typedef struct tutor_doc_list {
    tutor_doc_item *head, *tail;
    size_t n;
} tutor_doc_list;

/* Append every document of every course to out. */
int tutor_docs_all(const sm *m, tutor_doc_list *out, lms_err *err);
/* Append the documents that the command cmd, just applied with result
 * res, created, changed or withdrew (an uploaded, replaced or deleted
 * material, an instructor's reply to a shared question, a share or an
 * unshare). */
int tutor_docs_applied(const sm *m, const Lms__Command *cmd,
                       const sm_result *res, tutor_doc_list *out, lms_err *err);
void tutor_doc_list_free(tutor_doc_list *l);

#endif

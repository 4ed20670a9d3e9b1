/* SPDX-License-Identifier: MIT */
/*
 * tutor_local_fixture.c: see tutor_local_fixture.h. The fake host
 * implements what a blocking tutor uses: config lookups from the
 * context's key/value list, the data dir, and a log that remembers its
 * last line. The corpus is written so that, with passage_words 50, every
 * paragraph (26 to 50 words) is exactly one passage.
 */
#include "tutor_local_fixture.h"

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const struct lms_plugin_descriptor *tlx_desc;
const struct lms_tutor_ops *tlx_ops;
static void *tlx_dl;

/* ---- the plugin ---- */

int tlx_load_plugin(void)
{
    tlx_ops = fake_plugin_load(LMS_PLUGIN_BUILD_DIR "/tutor_local.so", &tlx_dl,
                               &tlx_desc);
    return tlx_ops ? 0 : -1;
}

void tlx_unload_plugin(void)
{
    if (tlx_dl)
        dlclose(tlx_dl);
    tlx_dl = NULL;
}

/* ---- per-test world ---- */

const char *const tlx_test_config[] = {"passage_words", "50", NULL};

static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(path);
}

int tlx_init(tlx *fx, struct lms_plugin_ctx *ctx, const char *const *config,
             void **inst)
{
    ctx->config = config;
    snprintf(ctx->data_dir, sizeof ctx->data_dir, "%s", fx->dir);
    lms_err_clear(&fx->err);
    *inst = NULL;
    return tlx_ops->init(fake_host(), ctx, inst, &fx->err);
}

int tlx_setup(void **state)
{
    tlx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/lms-tutor-local-test-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    EXPECT_OK(tlx_init(fx, &fx->ctx, tlx_test_config, &fx->inst));
    *state = fx;
    return 0;
}

int tlx_teardown(void **state)
{
    tlx *fx = *state;
    if (fx->inst)
        tlx_ops->shutdown(fx->inst);
    if (fx->inst2)
        tlx_ops->shutdown(fx->inst2);
    nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* ---- learning ---- */

static void learn(void *inst, const lms_tutor_doc *doc)
{
    lms_err err = {0};
    int rc = tlx_ops->learn(inst, doc, &err);
    if (rc != LMS_OK)
        fail_msg("learn(%s %llu) returned %d: %s", doc->kind,
                 (unsigned long long)doc->id, rc, err.msg);
}

void tlx_material(void *inst, const char *course, uint64_t id,
                  const char *title, const char *text)
{
    lms_tutor_doc d = {.course = course, .kind = "material", .id = id,
                       .title = title, .text = text, .len = strlen(text)};
    learn(inst, &d);
}

void tlx_reply(void *inst, const char *course, uint64_t query_id,
               const char *title, const char *question, const char *text)
{
    lms_tutor_doc d = {.course = course, .kind = "reply", .id = query_id,
                       .title = title, .question = question, .text = text,
                       .len = strlen(text)};
    learn(inst, &d);
}

/* ---- asking ---- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void on_done(void *arg, int status, const lms_tutor_answer *a,
                    const lms_err *err)
{
    tlx_answer *out = arg;
    out->calls++;
    out->status = status;
    if (a == NULL) {
        if (err)
            out->text = strdup(err->msg);
        return;
    }
    free(out->text);
    out->text = dup_or_null(a->text);
    snprintf(out->model, sizeof out->model, "%s", a->model ? a->model : "");
    out->prompt_tokens = a->prompt_tokens;
    out->completion_tokens = a->completion_tokens;
    out->n_sources = a->n_sources;
    for (size_t i = 0; i < a->n_sources && i < TLX_MAX_SOURCES; i++) {
        snprintf(out->src[i].kind, sizeof out->src[i].kind, "%s",
                 a->sources[i].kind);
        out->src[i].id = a->sources[i].id;
        out->src[i].title = dup_or_null(a->sources[i].title);
        out->src[i].passage = dup_or_null(a->sources[i].passage);
    }
}

void tlx_ask(void *inst, const char *course, const char *question,
             tlx_answer *out)
{
    memset(out, 0, sizeof *out);
    lms_tutor_question q = {.course = course, .student = "alice",
                            .system_prompt = "You are a patient tutor.",
                            .question = question};
    lms_tutor_reply r = {.arg = out, .done = on_done};
    lms_err err = {0};
    int rc = tlx_ops->ask(inst, &q, &r, &err);
    if (rc != LMS_OK)
        fail_msg("ask(%s, '%.60s') returned %d: %s", course, question, rc,
                 err.msg);
    if (out->calls != 1)
        fail_msg("ask(%s, '%.60s'): done() was called %d times, expected "
                 "once", course, question, out->calls);
    if (out->status != LMS_OK || out->text == NULL)
        fail_msg("ask(%s, '%.60s'): done(%d) without an answer", course,
                 question, out->status);
    if (!tlx_valid_utf8(out->text))
        fail_msg("ask(%s, '%.60s'): the answer is not valid UTF-8", course,
                 question);
}

void tlx_answer_free(tlx_answer *a)
{
    free(a->text);
    for (size_t i = 0; i < a->n_sources && i < TLX_MAX_SOURCES; i++) {
        free(a->src[i].title);
        free(a->src[i].passage);
    }
    memset(a, 0, sizeof *a);
}

int tlx_source(const tlx_answer *a, const char *kind, uint64_t id)
{
    for (size_t i = 0; i < a->n_sources && i < TLX_MAX_SOURCES; i++)
        if (strcmp(a->src[i].kind, kind) == 0 && a->src[i].id == id)
            return (int)i;
    return -1;
}

int tlx_valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3
                                 : (*p >> 3) == 30 ? 4 : 0;
        if (n == 0 || (n == 2 && *p < 0xC2))
            return 0;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

/* ---- the corpus ---- */

typedef struct corpus_doc {
    const char *course;
    uint64_t id;
    const char *title, *question, *text;
} corpus_doc;

static const corpus_doc materials[] = {
    {"CS101", 11, "Week 1: Compiling and running", NULL,
     "A C program is turned into an executable by the compiler. On the lab "
     "machines we use gcc: type gcc -Wall -o hello hello.c to compile "
     "hello.c into a program called hello, then run it with ./hello from "
     "the same directory.\n\n"
     "Always compile with warnings enabled. The flags -Wall and -Wextra "
     "make gcc report suspicious code such as unused variables, missing "
     "return statements and implicit conversions. Treat every warning as a "
     "bug until you understand why it appears."},
    {"CS101", 12, "Week 2: Pointers", NULL,
     "A pointer is a variable that holds the address of another object. "
     "Declare one with an asterisk, as in int *p, and take the address of "
     "a variable with the ampersand operator, as in p = &x.\n\n"
     "Dereferencing a pointer with *p reads or writes the object it points "
     "to. Dereferencing a null pointer or a pointer to an object that no "
     "longer exists is undefined behaviour and usually crashes the program "
     "with a segmentation fault.\n\n"
     "Pointer arithmetic moves a pointer by whole elements, not bytes: if "
     "p points into an array of int, then p + 1 points to the next int. "
     "Arrays decay to a pointer to their first element when passed to a "
     "function."},
    {"CS101", 13, "Week 3: Recursion", NULL,
     "A recursive function is a function that calls itself. Every "
     "recursive function needs a base case that returns without calling "
     "itself, otherwise the calls never stop and the stack overflows.\n\n"
     "Each call gets its own stack frame with its own copies of the local "
     "variables. Deep recursion on large inputs can exhaust the stack, so "
     "prefer a loop when the depth grows with the size of the input."},
    {"CS101", 14, "Week 4: Dynamic memory", NULL,
     "Memory for objects whose size is only known at run time comes from "
     "the heap. Call malloc with the number of bytes you need; it returns "
     "a pointer to the new block, or NULL when no memory is left.\n\n"
     "Every block obtained from malloc must be given back exactly once "
     "with free when you no longer need it. Forgetting to call free leaks "
     "memory; calling free twice on the same pointer corrupts the heap.\n\n"
     "Tools help you find these mistakes. Build with -fsanitize=address to "
     "catch use after free and buffer overflows, and run valgrind on your "
     "program to list every leaked block with the line that allocated it."},
    {"CS101", 15, "Assignment 2: Linked lists", NULL,
     "Assignment 2 asks you to implement a singly linked list of strings "
     "with insert, remove and reverse operations. Submit a single file "
     "named list.c before the deadline; late submissions lose ten percent "
     "per day.\n\n"
     "Your list must not leak memory: the tests run your code under "
     "valgrind. You may use recursion or loops, but the reverse operation "
     "must work on lists with a million elements."},
    {"CS101", 16, "Week 5: Strings", NULL,
     "A string in C is an array of char that ends with a null character. "
     "The length reported by strlen does not count that terminator, so a "
     "buffer for a string of n characters needs n + 1 bytes.\n\n"
     "Never copy a string with strcpy into a buffer that might be too "
     "small. Use snprintf with the size of the destination, which always "
     "terminates the result and tells you when the text did not fit."},
    {"CS101", 17, "Course syllabus", NULL,
     "Programming in C meets twice a week. Grades are based on five "
     "assignments worth sixty percent and a final exam worth forty "
     "percent. The final exam is written on paper and closed book.\n\n"
     "Office hours are on Tuesdays from two to four in room 301. Questions "
     "about assignments can also be asked through the course's question "
     "system, where the instructors answer within two working days."},
    {"CS101", 18, "Week 6: Structs and arrays", NULL,
     "A struct groups related values under one name. Access a member with "
     "a dot, as in point.x, or through a pointer with an arrow, as in "
     "p->x, which is shorthand for (*p).x.\n\n"
     "A two-dimensional array such as int matrix[3][4] stores its rows one "
     "after the other in memory. The element matrix[i][j] lives at offset "
     "i * 4 + j from the start of the array."},
    {"MA201", 21, "Eigenvalues", NULL,
     "An eigenvector of a square matrix A is a nonzero vector v with A v = "
     "lambda v. The number lambda is the eigenvalue that belongs to v. "
     "Find the eigenvalues as the roots of the characteristic polynomial "
     "det(A - lambda I)."},
    {"MA201", 22, "Matrix multiplication", NULL,
     "The product of an m by n matrix and an n by p matrix is an m by p "
     "matrix. Entry i, j of the product is the dot product of row i of the "
     "first matrix with column j of the second one."},
};

static const corpus_doc replies[] = {
    {"CS101", 40, "Is recursion allowed?",
     "Can we use recursion in assignment 2, or does it have to be "
     "iterative?",
     "Recursion is fine for assignment 2 as long as your code handles long "
     "lists. Think about how deep the calls go when the list has a million "
     "elements before you choose."},
    {"CS101", 41, "Late submission",
     "What happens if I submit assignment 2 one day late?",
     "You lose ten percent for each day after the deadline, as the syllabus "
     "says. Talk to us before the deadline if you are ill."},
};

void tlx_learn_corpus(void *inst)
{
    for (size_t i = 0; i < sizeof materials / sizeof *materials; i++)
        tlx_material(inst, materials[i].course, materials[i].id,
                     materials[i].title, materials[i].text);
    for (size_t i = 0; i < sizeof replies / sizeof *replies; i++)
        tlx_reply(inst, replies[i].course, replies[i].id, replies[i].title,
                  replies[i].question, replies[i].text);
}

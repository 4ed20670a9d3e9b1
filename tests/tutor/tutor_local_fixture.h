/* SPDX-License-Identifier: MIT */
/*
 * tutor_local_fixture.h: what the tutor_local tests share: the real
 * tutor_local.so loaded with dlopen from the build tree and driven through
 * its descriptor, a fake lms_host (config from a key/value list, a fresh
 * temporary data dir per test), a done() callback that records everything
 * it is given, and a small corpus of course documents.
 */
#ifndef LMS_TEST_TUTOR_LOCAL_FIXTURE_H
#define LMS_TEST_TUTOR_LOCAL_FIXTURE_H

#include <lms/tutor.h>

#include "fake_host.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>


/* Everything one done() call handed over, copied. */
#define TLX_MAX_SOURCES 16
typedef struct tlx_answer {
    int calls; /* done() calls for this ask: must end up 1 */
    int status;
    char *text;
    char model[64];
    uint32_t prompt_tokens, completion_tokens;
    size_t n_sources;
    struct {
        char kind[16];
        uint64_t id;
        char *title;
        char *passage;
    } src[TLX_MAX_SOURCES];
} tlx_answer;

/* One test's world: a data dir and up to two plugin instances. */
typedef struct tlx {
    char dir[PATH_MAX];
    struct lms_plugin_ctx ctx, ctx2;
    void *inst, *inst2;
    lms_err err;
} tlx;

extern const struct lms_plugin_descriptor *tlx_desc;
extern const struct lms_tutor_ops *tlx_ops;

/* dlopen tutor_local.so the way lmsd does; 0 on success. */
int tlx_load_plugin(void);
void tlx_unload_plugin(void);

/* cmocka setup/teardown: a temp dir and an instance with tlx_test_config
 * (passage_words 50, index in the data dir). */
int tlx_setup(void **state);
int tlx_teardown(void **state);
extern const char *const tlx_test_config[];

/* init() an instance into *inst with config; returns init's status. */
int tlx_init(tlx *fx, struct lms_plugin_ctx *ctx, const char *const *config,
             void **inst);

/* learn() helpers; they assert LMS_OK. */
void tlx_material(void *inst, const char *course, uint64_t id,
                  const char *title, const char *text);
void tlx_reply(void *inst, const char *course, uint64_t query_id,
               const char *title, const char *question, const char *text);

/* ask() and check the contract: returns LMS_OK, done() exactly once, with
 * LMS_OK, an answer and valid UTF-8 text. Fills *out (free with
 * tlx_answer_free). */
void tlx_ask(void *inst, const char *course, const char *question,
             tlx_answer *out);
void tlx_answer_free(tlx_answer *a);

/* The index of the source of kind and id in a, or -1. */
int tlx_source(const tlx_answer *a, const char *kind, uint64_t id);

/* Whether s is well-formed UTF-8. */
int tlx_valid_utf8(const char *s);

/* Learn the corpus: CS101 (materials 11..18, replies 40, 41) and MA201
 * (materials 21, 22) into inst. */
void tlx_learn_corpus(void *inst);

/* Assert that call returns code, printing both and the plugin's message. */
#define EXPECT_CODE(code, call)                                              \
    do {                                                                     \
        lms_err_clear(&fx->err);                                             \
        int rc_ = (call);                                                    \
        if (rc_ != (code))                                                   \
            fail_msg("%s returned %d, expected %d (%s); message: '%s'",      \
                     #call, rc_, (code), #code, fx->err.msg);                \
    } while (0)
#define EXPECT_OK(call) EXPECT_CODE(LMS_OK, call)

#define EXPECT_CONTAINS(haystack, needle)                                    \
    do {                                                                     \
        if (strstr((haystack), (needle)) == NULL)                            \
            fail_msg("expected the answer to contain\n  %s\nbut it was\n%s", \
                     (needle), (haystack));                                  \
    } while (0)

#define EXPECT_LACKS(haystack, needle)                                       \
    do {                                                                     \
        if (strstr((haystack), (needle)) != NULL)                            \
            fail_msg("expected the answer not to contain\n  %s\nbut it "     \
                     "was\n%s", (needle), (haystack));                       \
    } while (0)

#endif

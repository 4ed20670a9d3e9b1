/* SPDX-License-Identifier: MIT */
/*
 * test_tutor_local.c: the tutor_local plugin, loaded from the build tree
 * and driven through its descriptor like lmsd drives it: init, learn the
 * course documents, ask, shutdown. Each test names the behaviour it pins
 * down; every ask is checked for the done() contract (exactly once, LMS_OK,
 * valid UTF-8) by tlx_ask().
 */
#include "tutor_local_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CS "CS101"
#define INSTRUCTOR_HINT "lms-student ask --course CS101 --instructor"

/* ---- the descriptor ---- */

static void descriptor_is_a_blocking_tutor(void **state)
{
    (void)state;
    assert_int_equal(tlx_desc->magic, LMS_PLUGIN_MAGIC);
    assert_int_equal(tlx_desc->abi_major, LMS_ABI_MAJOR);
    assert_true(tlx_desc->abi_minor <= LMS_ABI_MINOR);
    assert_int_equal(tlx_desc->kind, LMS_PLUGIN_TUTOR);
    assert_string_equal(tlx_desc->name, "tutor_local");
    assert_true(tlx_desc->ops_size >= sizeof(struct lms_tutor_ops));
    assert_true(tlx_ops->flags & LMS_TUTOR_BLOCKING);
    assert_non_null(tlx_ops->init);
    assert_non_null(tlx_ops->shutdown);
    assert_non_null(tlx_ops->ask);
    assert_non_null(tlx_ops->learn);
}

/* ---- answers and citations ---- */

static void answer_cites_the_material_and_passage(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "How do I give back memory I got from malloc?", &a);
    EXPECT_CONTAINS(a.text, "From \"Week 4: Dynamic memory\" (material 14, "
                            "passage 2): \"");
    EXPECT_CONTAINS(a.text, "with free when you no longer need it");
    int i = tlx_source(&a, "material", 14);
    assert_true(i >= 0);
    assert_string_equal(a.src[i].title, "Week 4: Dynamic memory");
    EXPECT_CONTAINS(a.src[i].passage, "Every block obtained from malloc");
    assert_string_equal(a.model, "tutor_local-bm25");
    tlx_answer_free(&a);
}

static void answer_points_to_materials_and_the_instructor(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "what does dereferencing a null pointer do", &a);
    /* a lead that sends the student to read, then the citation */
    EXPECT_CONTAINS(a.text, "The materials of CS101 cover this. Read these "
                            "passages, then try the next step yourself.");
    EXPECT_CONTAINS(a.text, "(material 12, passage 2)");
    EXPECT_CONTAINS(a.text, "If this does not answer your question, ask "
                            "your instructor: " INSTRUCTOR_HINT);
    tlx_answer_free(&a);
}

static void title_words_find_the_material(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "syllabus", &a);
    assert_int_equal(tlx_source(&a, "material", 17), 0);
    EXPECT_CONTAINS(a.text, "From \"Course syllabus\" (material 17, "
                            "passage 1)");
    tlx_answer_free(&a);
}

static void stemming_matches_other_forms_of_a_word(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    /* "recursive" and "recursion" share the stem "recurs" */
    tlx_ask(fx->inst, CS, "Recursively calling functions", &a);
    assert_true(tlx_source(&a, "material", 13) >= 0);
    tlx_answer_free(&a);
}

static void an_instructor_reply_to_a_similar_question_is_cited(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "Am I allowed to use recursion in assignment 2?",
            &a);
    EXPECT_CONTAINS(a.text, "An instructor answered a similar question "
                            "(\"Is recursion allowed?\", query 40): "
                            "\"Recursion is fine for assignment 2");
    /* the excerpt quotes the answer, not the question it answers */
    EXPECT_LACKS(a.text, "\"Can we use recursion");
    int i = tlx_source(&a, "reply", 40);
    assert_int_equal(i, 0);
    assert_string_equal(a.src[i].title, "Is recursion allowed?");
    assert_true(strncmp(a.src[i].passage, "Recursion is fine", 17) == 0);
    tlx_answer_free(&a);
}

static void a_reply_alone_gets_its_own_lead(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_reply(fx->inst, "CS102", 77, "Exam room",
              "Where is the exam held?",
              "The exam is in the main hall, bring your student card.");
    tlx_ask(fx->inst, "CS102", "where is the exam?", &a);
    EXPECT_CONTAINS(a.text, "Your instructors have answered a similar "
                            "question before.");
    EXPECT_CONTAINS(a.text, "(\"Exam room\", query 77): \"The exam is in "
                            "the main hall, bring your student card.\"");
    tlx_answer_free(&a);
}

static void another_courses_documents_are_never_used(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "How do I find the eigenvalues of a matrix?", &a);
    assert_int_equal(tlx_source(&a, "material", 21), -1);
    assert_int_equal(tlx_source(&a, "material", 22), -1);
    EXPECT_LACKS(a.text, "igenvalue");
    for (size_t i = 0; i < a.n_sources; i++)
        assert_true(a.src[i].id >= 11 && a.src[i].id <= 41);
    tlx_answer_free(&a);

    tlx_ask(fx->inst, "MA201", "How do I find the eigenvalues of a matrix?",
            &a);
    assert_int_equal(tlx_source(&a, "material", 21), 0);
    for (size_t i = 0; i < a.n_sources; i++)
        assert_true(a.src[i].id == 21 || a.src[i].id == 22);
    tlx_answer_free(&a);
}

static void nothing_relevant_suggests_the_instructor(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "What is the capital of France?", &a);
    assert_int_equal(a.n_sources, 0);
    EXPECT_CONTAINS(a.text, "I could not find anything about this in the "
                            "materials of CS101");
    EXPECT_CONTAINS(a.text, INSTRUCTOR_HINT " \"your question\"");
    EXPECT_LACKS(a.text, "From \"");
    tlx_answer_free(&a);

    /* a course the tutor has never seen a document of */
    tlx_ask(fx->inst, "EMPTY1", "How do pointers work?", &a);
    assert_int_equal(a.n_sources, 0);
    EXPECT_CONTAINS(a.text, "lms-student ask --course EMPTY1 --instructor");
    tlx_answer_free(&a);
}

/* A word in every passage of a course says nothing about any of them:
 * alone, next to words the course lacks, it is not a reason to cite. */
static void a_word_found_everywhere_is_not_enough(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    static const char *const topics[] = {
        "loops",  "arrays",   "files",    "sockets", "threads", "signals",
        "macros", "pointers", "testing",  "debugging", "linking", "make",
    };
    for (size_t i = 0; i < 12; i++) {
        char text[200];
        snprintf(text, sizeof text, "This week the program you write uses "
                 "%s. Read chapter %zu before the lab.", topics[i], i + 1);
        tlx_material(fx->inst, "PR100", 100 + i, topics[i], text);
    }
    tlx_ask(fx->inst, "PR100", "How do I install the program on Windows?",
            &a);
    assert_int_equal(a.n_sources, 0);
    tlx_answer_free(&a);
    /* with a distinctive word it is found */
    tlx_ask(fx->inst, "PR100", "a program with sockets", &a);
    assert_int_equal(tlx_source(&a, "material", 103), 0);
    tlx_answer_free(&a);
}

/* In a tiny course every passage may contain the word asked about; a
 * passage with every word of the question is still used. */
static void every_word_of_the_question_is_enough(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, "MA201", "matrix", &a);
    assert_true(a.n_sources >= 1);
    tlx_answer_free(&a);
}

/* A passage that shares one ordinary word with the question ("count"),
 * far below the best one, or that matched only in the title of a material
 * already cited, does not pad the answer. */
static void weak_passages_do_not_pad_the_answer(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "When is the final exam and what does it count "
            "for?", &a);
    assert_int_equal(a.n_sources, 1);
    assert_int_equal(tlx_source(&a, "material", 17), 0);
    tlx_answer_free(&a);
    /* "Structs" is in the title of both passages of material 18 */
    tlx_ask(fx->inst, CS, "What is a struct?", &a);
    assert_int_equal(a.n_sources, 1);
    EXPECT_CONTAINS(a.text, "(material 18, passage 1)");
    tlx_answer_free(&a);
}

static void max_passages_limits_the_citations(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    static const char *const config[] = {"passage_words", "50",
                                         "max_passages", "1", NULL};
    tlx_ops->shutdown(fx->inst);
    EXPECT_OK(tlx_init(fx, &fx->ctx, config, &fx->inst));
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "pointer", &a);
    assert_int_equal(a.n_sources, 1);
    tlx_answer_free(&a);
}

/* ---- passages ---- */

/* One 300-word paragraph with passage_words 50 is cut into windows that
 * step by 44 words; the last one ends with the paragraph. */
static void long_paragraphs_are_cut_into_numbered_windows(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    char text[4000] = "";
    for (int i = 0; i < 300; i++) {
        char w[16];
        snprintf(w, sizeof w, "%sw%03d", i ? " " : "", i);
        strcat(text, w);
    }
    tlx_material(fx->inst, CS, 50, "Word list", text);
    tlx_ask(fx->inst, CS, "w010", &a);
    EXPECT_CONTAINS(a.text, "(material 50, passage 1)");
    assert_int_equal(a.n_sources, 1);
    tlx_answer_free(&a);
    tlx_ask(fx->inst, CS, "w299", &a); /* only in the last, 250..299 */
    EXPECT_CONTAINS(a.text, "(material 50, passage 7)");
    assert_int_equal(a.n_sources, 1);
    tlx_answer_free(&a);
    tlx_ask(fx->inst, CS, "w046", &a); /* in the overlap of 1 and 2 */
    EXPECT_CONTAINS(a.text, "passage 1)");
    EXPECT_CONTAINS(a.text, "passage 2)");
    tlx_answer_free(&a);
}

static void short_paragraphs_share_a_passage(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_material(fx->inst, CS, 51, "Notes",
                 "Alpha heading\n\nFirst short paragraph mentions "
                 "quicksort.\n\nSecond short paragraph mentions heapsort.");
    tlx_ask(fx->inst, CS, "heapsort", &a);
    EXPECT_CONTAINS(a.text, "(material 51, passage 1): \"Second short "
                            "paragraph mentions heapsort.\"");
    int i = tlx_source(&a, "material", 51);
    assert_true(i >= 0);
    assert_string_equal(a.src[i].passage,
                        "Alpha heading\nFirst short paragraph mentions "
                        "quicksort.\nSecond short paragraph mentions "
                        "heapsort.");
    tlx_answer_free(&a);
}

static void long_sentences_are_trimmed_around_the_hit(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    char text[2000] = "Start";
    for (int i = 0; i < 45; i++)
        strcat(text, " filler");
    strcat(text, " zebra");
    for (int i = 0; i < 60; i++)
        strcat(text, " more");
    strcat(text, ".");
    static const char *const config[] = {"passage_words", "200", NULL};
    tlx_ops->shutdown(fx->inst);
    EXPECT_OK(tlx_init(fx, &fx->ctx, config, &fx->inst));
    tlx_material(fx->inst, CS, 52, "Long", text);
    tlx_ask(fx->inst, CS, "zebra", &a);
    /* 40 words starting 5 before the hit, cut on both sides */
    EXPECT_CONTAINS(a.text, "\"\xE2\x80\xA6" "filler filler filler filler "
                            "filler zebra more");
    EXPECT_CONTAINS(a.text, "more\xE2\x80\xA6\"");
    tlx_answer_free(&a);
}

/* ---- determinism and replacement ---- */

static void the_same_question_gets_the_same_answer(void **state)
{
    tlx *fx = *state;
    tlx_answer a, b;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "How long may a string be in a buffer?", &a);
    tlx_ask(fx->inst, CS, "How long may a string be in a buffer?", &b);
    assert_string_equal(a.text, b.text);
    assert_int_equal(a.n_sources, b.n_sources);
    tlx_answer_free(&a);
    tlx_answer_free(&b);
}

static void two_instances_fed_the_same_answer_alike(void **state)
{
    tlx *fx = *state;
    static const char *const memory[] = {"passage_words", "50",
                                         "index_path", ":memory:", NULL};
    static const char *const questions[] = {
        "How do I free memory?", "recursion assignment 2",
        "late submission penalty", "pointer arithmetic on arrays",
        "What is the capital of France?", "gcc warnings",
    };
    EXPECT_OK(tlx_init(fx, &fx->ctx2, memory, &fx->inst2));
    tlx_learn_corpus(fx->inst);
    tlx_learn_corpus(fx->inst2);
    for (size_t q = 0; q < sizeof questions / sizeof *questions; q++) {
        tlx_answer a, b;
        tlx_ask(fx->inst, CS, questions[q], &a);
        tlx_ask(fx->inst2, CS, questions[q], &b);
        assert_string_equal(a.text, b.text);
        assert_int_equal(a.n_sources, b.n_sources);
        for (size_t i = 0; i < a.n_sources; i++) {
            assert_int_equal(a.src[i].id, b.src[i].id);
            assert_string_equal(a.src[i].passage, b.src[i].passage);
        }
        tlx_answer_free(&a);
        tlx_answer_free(&b);
    }
}

static void learning_a_document_again_replaces_it(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_material(fx->inst, CS, 60, "Sorting",
                 "Quicksort picks a pivot and partitions the array around "
                 "it.\n\nIts worst case is quadratic when the pivot is "
                 "always the smallest element.\n\nRandom pivots make that "
                 "unlikely, which is why quicksort is fast in practice.");
    tlx_ask(fx->inst, CS, "quicksort pivot", &a);
    assert_true(tlx_source(&a, "material", 60) >= 0);
    tlx_answer_free(&a);

    tlx_material(fx->inst, CS, 60, "Sorting, revised",
                 "Mergesort splits the array in halves and merges them.");
    tlx_ask(fx->inst, CS, "quicksort pivot", &a);
    assert_int_equal(a.n_sources, 0);
    tlx_answer_free(&a);
    tlx_ask(fx->inst, CS, "mergesort", &a);
    assert_int_equal(tlx_source(&a, "material", 60), 0);
    assert_string_equal(a.src[0].title, "Sorting, revised");
    EXPECT_CONTAINS(a.text, "(material 60, passage 1)");
    tlx_answer_free(&a);

    /* a reply is replaced the same way, keyed by its query id */
    tlx_reply(fx->inst, CS, 90, "Q", "Is mergesort stable?", "Yes.");
    tlx_reply(fx->inst, CS, 90, "Q", "Is mergesort stable?",
              "Yes, if the merge takes from the left run on ties.");
    tlx_ask(fx->inst, CS, "is mergesort stable", &a);
    EXPECT_CONTAINS(a.text, "from the left run on ties");
    EXPECT_LACKS(a.text, "\"Yes.\"");
    tlx_answer_free(&a);
}

static void an_emptied_document_is_forgotten(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_material(fx->inst, CS, 61, "Tries", "A trie stores strings by "
                 "their prefixes.");
    tlx_material(fx->inst, CS, 61, "Tries", "");
    tlx_ask(fx->inst, CS, "trie prefixes", &a);
    assert_int_equal(a.n_sources, 0);
    tlx_answer_free(&a);
}

/* An unshared answer reaches a tutor as the empty document of its kind and
 * id, without its question (core/app/tutor_docs.c): nothing of it is quoted
 * again, neither the answer nor the question nor its query id. */
static void a_withdrawn_reply_is_never_quoted_again(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_reply(fx->inst, CS, 91, "More time?", "Can I get more time for the essay?",
              "Given your medical certificate I extend your deadline by 3 days.");
    tlx_ask(fx->inst, CS, "Can I get more time?", &a);
    assert_true(tlx_source(&a, "reply", 91) >= 0);
    tlx_answer_free(&a);

    lms_tutor_doc gone = {.course = CS, .kind = "reply", .id = 91,
                          .title = "More time?", .question = NULL, .text = "",
                          .len = 0};
    EXPECT_OK(tlx_ops->learn(fx->inst, &gone, &fx->err));
    tlx_ask(fx->inst, CS, "Can I get more time?", &a);
    assert_int_equal(tlx_source(&a, "reply", 91), -1);
    EXPECT_LACKS(a.text, "medical certificate");
    EXPECT_LACKS(a.text, "query 91");
    tlx_answer_free(&a);
    tlx_ask(fx->inst, CS, "essay deadline extend medical certificate", &a);
    assert_int_equal(tlx_source(&a, "reply", 91), -1);
    EXPECT_LACKS(a.text, "medical certificate");
    tlx_answer_free(&a);
}

static void a_document_moved_to_another_course_leaves_the_first(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_material(fx->inst, "MA201", 16, "Strings, moved",
                 "A string of n characters needs n + 1 bytes.");
    tlx_ask(fx->inst, CS, "strcpy snprintf strlen", &a);
    assert_int_equal(tlx_source(&a, "material", 16), -1);
    tlx_answer_free(&a);
    tlx_ask(fx->inst, "MA201", "string characters bytes", &a);
    assert_int_equal(tlx_source(&a, "material", 16), 0);
    tlx_answer_free(&a);
}

/* ---- large courses ---- */

/*
 * 2,600 passages: "gamma" in a third of them (867), "alpha" in 4/9 (1,156),
 * "beta" in 6/13 (1,200), "everywhere" in all; one needle passage with
 * all of them and "zanzibar". Above TL_ROW_BUDGET (2,000) passages the
 * search is planned: for "alpha beta gamma" the union is expected to be
 * ~2,080 passages, so it becomes "gamma" OR ("alpha" AND "beta"); for
 * "everywhere passage" not even a pair fits and the terms are ANDed. The
 * best passages must still come first.
 */
static void learn_large_course(void *inst)
{
    char text[256];
    for (int i = 0; i < 2600; i++) {
        snprintf(text, sizeof text, "Passage p%d is everywhere%s%s%s.", i,
                 i % 9 < 4 ? " alpha" : "", i % 13 < 6 ? " beta" : "",
                 i % 3 == 0 ? " gamma" : "");
        tlx_material(inst, "BIG1", 1000 + (uint64_t)i, "Filler", text);
    }
    tlx_material(inst, "BIG1", 999, "Needle",
                 "The needle is everywhere: alpha, beta and gamma meet in "
                 "zanzibar.");
}

static void large_courses_still_find_the_best_passage(void **state)
{
    tlx *fx = *state;
    tlx_answer a, b;
    learn_large_course(fx->inst);
    tlx_ask(fx->inst, "BIG1", "alpha beta gamma zanzibar", &a);
    assert_int_equal(tlx_source(&a, "material", 999), 0);
    tlx_answer_free(&a);
    /* common words only: passages with all of them come first */
    tlx_ask(fx->inst, "BIG1", "alpha beta gamma", &a);
    assert_int_equal(a.n_sources, 3);
    for (size_t i = 0; i < a.n_sources; i++) {
        EXPECT_CONTAINS(a.src[i].passage, "alpha");
        EXPECT_CONTAINS(a.src[i].passage, "beta");
        EXPECT_CONTAINS(a.src[i].passage, "gamma");
    }
    tlx_answer_free(&a);
    /* words in every passage: the terms are ANDed, and still answered */
    tlx_ask(fx->inst, "BIG1", "everywhere passage", &a);
    assert_true(a.n_sources >= 1);
    tlx_ask(fx->inst, "BIG1", "everywhere passage", &b);
    assert_string_equal(a.text, b.text);
    tlx_answer_free(&a);
    tlx_answer_free(&b);
}

/* ---- hostile and unusual questions ---- */

static void fts_syntax_in_the_question_is_just_text(void **state)
{
    tlx *fx = *state;
    static const char *const questions[] = {
        "\"malloc", "malloc\"", "malloc AND free OR NOT heap",
        "NEAR(malloc free, 2)", "(malloc)) ((free", "mall* -free",
        "malloc*", "title:malloc", "{title body}: malloc", "^malloc",
        "malloc\" OR \"1\"=\"1", "malloc + free - heap", "malloc; DROP TABLE",
        "\"\"\"\"", "* AND *", "NOT", "OR OR OR", "malloc NEAR/2 free",
        "body:", "\\malloc\\", "'malloc'", "malloc'); --",
    };
    tlx_learn_corpus(fx->inst);
    for (size_t i = 0; i < sizeof questions / sizeof *questions; i++) {
        tlx_answer a;
        tlx_ask(fx->inst, CS, questions[i], &a);
        if (strstr(questions[i], "malloc") && !strstr(questions[i], "mall*"))
            if (tlx_source(&a, "material", 14) < 0)
                fail_msg("'%s' did not find the malloc material:\n%s",
                         questions[i], a.text);
        tlx_answer_free(&a);
    }
}

static void an_empty_question_is_answered(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    static const char *const empty[] = {"", "   ", "?!", "what is it?",
                                        "\xF0\x9F\x98\x80"};
    for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
        tlx_ask(fx->inst, CS, empty[i], &a);
        assert_int_equal(a.n_sources, 0);
        EXPECT_CONTAINS(a.text, "Your question has no words I could look up");
        EXPECT_CONTAINS(a.text, INSTRUCTOR_HINT);
        tlx_answer_free(&a);
    }
}

static void a_very_long_question_is_answered(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    size_t n = 1 << 20;
    char *q = malloc(n + 1);
    assert_non_null(q);
    const char *words = "valgrind ";
    for (size_t i = 0; i < n; i++)
        q[i] = words[i % 9];
    q[n] = '\0';
    tlx_ask(fx->inst, CS, q, &a);
    assert_true(tlx_source(&a, "material", 14) >= 0);
    assert_int_equal(a.prompt_tokens, n / 9 + (n % 9 != 0));
    tlx_answer_free(&a);
    /* a million bytes of distinct words: only the first terms count */
    for (size_t i = 0; i < n; i++)
        q[i] = (char)('a' + (i * 7 + i / 26) % 26);
    for (size_t i = 7; i < n; i += 8)
        q[i] = ' ';
    tlx_ask(fx->inst, CS, q, &a);
    tlx_answer_free(&a);
    free(q);
}

static void utf8_text_is_indexed_and_quoted(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_material(fx->inst, "DE100", 70, "Übung 3: Zeiger",
                 "Ein Zeiger speichert die Adresse eines Objekts. Über den "
                 "Zeiger erreicht man das Objekt.\n\nStraße, Größe und "
                 "Maß sind Wörter mit ß. 日本語のテキストも使えます。");
    tlx_ask(fx->inst, "DE100", "Was speichert ein ZEIGER?", &a);
    EXPECT_CONTAINS(a.text, "From \"Übung 3: Zeiger\" (material 70, passage "
                            "1): \"Ein Zeiger speichert die Adresse eines "
                            "Objekts.");
    tlx_answer_free(&a);
    /* diacritics are folded both ways */
    tlx_ask(fx->inst, "DE100", "uber objekt", &a);
    assert_int_equal(tlx_source(&a, "material", 70), 0);
    tlx_answer_free(&a);
    tlx_ask(fx->inst, "DE100", "Größe", &a);
    assert_int_equal(tlx_source(&a, "material", 70), 0);
    EXPECT_CONTAINS(a.text, "Straße, Größe und Maß sind Wörter mit ß.");
    tlx_answer_free(&a);
}

static void invalid_utf8_never_reaches_the_answer(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    const char text[] = "Broken \xC3 bytes \xFF\xFE and \xED\xA0\x80 a "
                        "surrogate, then\0a NUL and \x01 controls near "
                        "kumquat.";
    lms_tutor_doc d = {.course = CS, .kind = "material", .id = 71,
                       .title = "Bad \xE2\x82 title", .text = text,
                       .len = sizeof text - 1};
    EXPECT_OK(tlx_ops->learn(fx->inst, &d, &fx->err));
    tlx_ask(fx->inst, CS, "kumquat \xFF\xC3", &a); /* tlx_ask checks UTF-8 */
    assert_int_equal(tlx_source(&a, "material", 71), 0);
    EXPECT_CONTAINS(a.text, "Broken \xEF\xBF\xBD bytes");
    EXPECT_CONTAINS(a.text, "then a NUL and controls near kumquat.");
    assert_true(tlx_valid_utf8(a.src[0].title));
    tlx_answer_free(&a);
}

/* ---- the contract ---- */

static int done_calls;
static void count_done(void *arg, int status, const lms_tutor_answer *a,
                       const lms_err *err)
{
    (void)arg, (void)status, (void)a, (void)err;
    done_calls++;
}

static void bad_calls_fail_without_calling_done(void **state)
{
    tlx *fx = *state;
    lms_tutor_question q = {.course = CS, .student = "alice",
                            .system_prompt = "", .question = "pointers"};
    lms_tutor_reply r = {.done = count_done};
    lms_tutor_reply no_done = {0};
    done_calls = 0;
    EXPECT_CODE(LMS_INVALID_ARGUMENT, tlx_ops->ask(fx->inst, &q, &no_done,
                                                   &fx->err));
    q.course = "";
    EXPECT_CODE(LMS_INVALID_ARGUMENT, tlx_ops->ask(fx->inst, &q, &r,
                                                   &fx->err));
    assert_int_equal(done_calls, 0);
    q.course = CS;
    EXPECT_OK(tlx_ops->ask(fx->inst, &q, &r, &fx->err));
    assert_int_equal(done_calls, 1);

    lms_tutor_doc d = {.course = CS, .kind = "slides", .id = 1, .text = "x",
                       .len = 1};
    EXPECT_CODE(LMS_INVALID_ARGUMENT, tlx_ops->learn(fx->inst, &d, &fx->err));
    EXPECT_CONTAINS(fx->err.msg, "unknown kind 'slides'");
    d.kind = "material";
    d.course = NULL;
    EXPECT_CODE(LMS_INVALID_ARGUMENT, tlx_ops->learn(fx->inst, &d, &fx->err));
}

static void token_counts_are_words_in_and_out(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ask(fx->inst, CS, "  how   does strlen count? ", &a);
    assert_int_equal(a.prompt_tokens, 4);
    uint32_t words = 0;
    int in = 0;
    for (const char *p = a.text; *p; p++) {
        int sp = *p == ' ' || *p == '\n';
        words += !sp && !in;
        in = !sp;
    }
    assert_int_equal(a.completion_tokens, words);
    tlx_answer_free(&a);
}

/* ---- options and the index file ---- */

static void bad_options_are_refused_by_name(void **state)
{
    tlx *fx = *state;
    void *inst;
    static const char *const zero[] = {"max_passages", "0", NULL};
    static const char *const words[] = {"passage_words", "5", NULL};
    static const char *const score[] = {"min_score", "lots", NULL};
    static const char *const path[] = {"index_path", "", NULL};
    static const char *const type[] = {"max_passages", "three", NULL};
    EXPECT_CODE(LMS_INVALID_ARGUMENT, tlx_init(fx, &fx->ctx2, zero, &inst));
    EXPECT_CONTAINS(fx->err.msg, "max_passages is 0, expected 1..10");
    EXPECT_CODE(LMS_INVALID_ARGUMENT, tlx_init(fx, &fx->ctx2, words, &inst));
    EXPECT_CONTAINS(fx->err.msg, "passage_words");
    EXPECT_CODE(LMS_INVALID_ARGUMENT, tlx_init(fx, &fx->ctx2, score, &inst));
    EXPECT_CONTAINS(fx->err.msg, "min_score is 'lots'");
    EXPECT_CODE(LMS_INVALID_ARGUMENT, tlx_init(fx, &fx->ctx2, path, &inst));
    EXPECT_CODE(LMS_INVALID_ARGUMENT, tlx_init(fx, &fx->ctx2, type, &inst));
    EXPECT_CONTAINS(fx->err.msg, "test.yaml:1: tutor.max_passages");
}

static void the_index_lives_in_the_data_dir(void **state)
{
    tlx *fx = *state;
    char path[PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/tutor_local.db", fx->dir);
    assert_int_equal(stat(path, &st), 0);
    EXPECT_CONTAINS(fx->ctx.last_log, path);
}

static void a_restart_starts_from_an_empty_index(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    tlx_ops->shutdown(fx->inst);
    EXPECT_OK(tlx_init(fx, &fx->ctx, tlx_test_config, &fx->inst));
    tlx_ask(fx->inst, CS, "malloc", &a);
    assert_int_equal(a.n_sources, 0); /* until lmsd offers the documents */
    tlx_answer_free(&a);
}

static void a_foreign_file_is_never_overwritten(void **state)
{
    tlx *fx = *state;
    void *inst;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/lms.db", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("the LMS database, say", f);
    fclose(f);
    static const char *const config[] = {"index_path", "lms.db", NULL};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                tlx_init(fx, &fx->ctx2, config, &inst));
    EXPECT_CONTAINS(fx->err.msg, "is not a tutor_local index");
    f = fopen(path, "r");
    char line[64] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "the LMS database, say");
}

/* A reload starts a new instance on the same index_path while the old one
 * still serves: the old one keeps its own (unlinked) file. */
static void a_reloaded_instance_leaves_the_old_one_working(void **state)
{
    tlx *fx = *state;
    tlx_answer a;
    tlx_learn_corpus(fx->inst);
    EXPECT_OK(tlx_init(fx, &fx->ctx2, tlx_test_config, &fx->inst2));
    tlx_ask(fx->inst, CS, "malloc", &a);
    assert_true(tlx_source(&a, "material", 14) >= 0);
    tlx_answer_free(&a);
    tlx_material(fx->inst, CS, 80, "Late", "Bloom filters answer maybe.");
    tlx_ask(fx->inst, CS, "bloom filters", &a);
    assert_int_equal(tlx_source(&a, "material", 80), 0);
    tlx_answer_free(&a);
    tlx_ask(fx->inst2, CS, "malloc", &a);
    assert_int_equal(a.n_sources, 0);
    tlx_answer_free(&a);
}

int main(void)
{
    if (tlx_load_plugin() != 0)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, tlx_setup, tlx_teardown)
    const struct CMUnitTest tests[] = {
        T(descriptor_is_a_blocking_tutor),
        T(answer_cites_the_material_and_passage),
        T(answer_points_to_materials_and_the_instructor),
        T(title_words_find_the_material),
        T(stemming_matches_other_forms_of_a_word),
        T(an_instructor_reply_to_a_similar_question_is_cited),
        T(a_reply_alone_gets_its_own_lead),
        T(a_withdrawn_reply_is_never_quoted_again),
        T(another_courses_documents_are_never_used),
        T(nothing_relevant_suggests_the_instructor),
        T(a_word_found_everywhere_is_not_enough),
        T(every_word_of_the_question_is_enough),
        T(weak_passages_do_not_pad_the_answer),
        T(max_passages_limits_the_citations),
        T(long_paragraphs_are_cut_into_numbered_windows),
        T(short_paragraphs_share_a_passage),
        T(long_sentences_are_trimmed_around_the_hit),
        T(the_same_question_gets_the_same_answer),
        T(two_instances_fed_the_same_answer_alike),
        T(learning_a_document_again_replaces_it),
        T(an_emptied_document_is_forgotten),
        T(a_document_moved_to_another_course_leaves_the_first),
        T(large_courses_still_find_the_best_passage),
        T(fts_syntax_in_the_question_is_just_text),
        T(an_empty_question_is_answered),
        T(a_very_long_question_is_answered),
        T(utf8_text_is_indexed_and_quoted),
        T(invalid_utf8_never_reaches_the_answer),
        T(bad_calls_fail_without_calling_done),
        T(token_counts_are_words_in_and_out),
        T(bad_options_are_refused_by_name),
        T(the_index_lives_in_the_data_dir),
        T(a_restart_starts_from_an_empty_index),
        T(a_foreign_file_is_never_overwritten),
        T(a_reloaded_instance_leaves_the_old_one_working),
    };
#undef T
    int failed = cmocka_run_group_tests_name("tutor_local", tests, NULL, NULL);
    tlx_unload_plugin();
    return failed;
}

/* SPDX-License-Identifier: MIT */
/*
 * tutor_example.c: the smallest useful lms tutor plugin, the one
 * docs/plugins.md walks through. It answers every question with a canned
 * hint that quotes the question and names the course.
 *
 * It declares itself blocking, so lmsd calls it on its tutor thread, one
 * call at a time, and it may answer from inside ask(). Its one option is
 * read at init from its section of lmsd.yaml:
 *
 *   tutor:
 *     plugin: /usr/local/lib/lms/tutor_example.so
 *     hint: "What is the smallest case you can solve by hand?"
 *
 * It includes only <lms/tutor.h> and links against nothing of lmsd's; the
 * CMakeLists.txt next to it builds it against the installed SDK.
 */
#include <lms/tutor.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_HINT "What is the smallest case you can solve by hand?"
#define ANSWER_FORMAT "You asked in %s: \"%s\". A hint, not the answer: %s"

typedef struct example {
    const char *hint; /* from the config: valid as long as the instance */
} example;

static int example_init(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                        void **inst, lms_err *err)
{
    const char *hint = DEFAULT_HINT; /* left alone when the key is absent */
    int rc = host->config_string(ctx, "hint", &hint, err);
    if (rc != LMS_OK && rc != LMS_NOT_FOUND)
        return rc; /* err already names the file, line and key */
    example *ex = malloc(sizeof *ex);
    if (!ex)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "tutor_example: out of memory");
    ex->hint = hint;
    host->log(ctx, LMS_LOG_INFO, "ready; hint: %s", hint);
    *inst = ex;
    return LMS_OK;
}

/* No ask() is outstanding by now: free the instance. */
static void example_shutdown(void *inst)
{
    free(inst);
}

/*
 * Blocking, so this runs on lmsd's tutor thread and may build the answer
 * right here. done() is called exactly once when ask() returns LMS_OK, and
 * never when it returns an error; the text need only live until done()
 * returns, and q only until ask() returns.
 */
static int example_ask(void *inst, const lms_tutor_question *q,
                       const lms_tutor_reply *reply, lms_err *err)
{
    const example *ex = inst;
    if (!q->question[0])
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "Please type a question for the tutor.");
    const char *course = q->course ? q->course : "your course";
    int n = snprintf(NULL, 0, ANSWER_FORMAT, course, q->question, ex->hint);
    char *text = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!text)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                           "tutor_example: out of memory");
    snprintf(text, (size_t)n + 1, ANSWER_FORMAT, course, q->question, ex->hint);
    lms_tutor_answer answer = {.text = text, .model = ""};
    reply->done(reply->arg, LMS_OK, &answer, NULL);
    free(text);
    return LMS_OK;
}

/* cancel and learn are optional and left out: lmsd then lets an ask run to
 * its end and offers no course documents. */
static const struct lms_tutor_ops example_ops = {
    .size = sizeof(struct lms_tutor_ops),
    .flags = LMS_TUTOR_BLOCKING,
    .init = example_init,
    .shutdown = example_shutdown,
    .ask = example_ask,
};

static const struct lms_plugin_descriptor example_descriptor = {
    .magic = LMS_PLUGIN_MAGIC,
    .abi_major = LMS_ABI_MAJOR,
    .abi_minor = LMS_ABI_MINOR,
    .descriptor_size = sizeof(struct lms_plugin_descriptor),
    .kind = LMS_PLUGIN_TUTOR,
    .name = "tutor_example",
    .version = "0.1.0",
    .description = "answers every question with a canned hint",
    .ops = &example_ops,
    .ops_size = sizeof example_ops,
};

/* The one symbol lmsd looks for. */
LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void);

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void)
{
    return &example_descriptor;
}

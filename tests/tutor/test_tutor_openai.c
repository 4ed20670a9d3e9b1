/* SPDX-License-Identifier: MIT */
/*
 * test_tutor_openai.c: the tutor_openai plugin, loaded the way lmsd loads
 * it (plugin_load, the real host table, options from a YAML file, a real
 * libevent loop), talking to mock_openai.py on loopback. Each test pins one
 * behaviour a student or an operator relies on: answers whole and streamed,
 * what is sent, retries (429 with Retry-After, 5xx) and when there are
 * none (401, 400, quota, after streamed text), deadlines, broken answers,
 * cancel and shutdown, and that the API key shows up in no message and no
 * log line: every test runs with stderr captured and searched for the key.
 *
 * The SSE framing and the backoff are also tested directly (their .c files
 * are compiled in), since a network rarely splits bytes the nasty ways.
 */
#include "clock.h"
#include "config.h"
#include "log.h"
#include "openai.h"
#include "plugin_loader.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <lms/tutor.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define KEY_ENV "LMS_TEST_OPENAI_KEY"
#define KEY "sk-test-7f3a9c1e5b2d4068SECRET"
#define MODEL "test-model"
#define SYSTEM "You are a patient tutor. Guide with hints."
#define ANSWER "Think about what stays true each time round the loop."
#define MOCK LMS_SOURCE_DIR "/tests/tutor/mock_openai.py"

static char g_tmpdir[64];
static pid_t g_mock;
static int g_port;
static int g_stderr = -1; /* the real stderr while a test's is captured */

/* ---- helpers ---------------------------------------------------------- */

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected a message containing \"%s\"\n      got \"%s\"",
                 needle, haystack);
}

static const char *status_name(int s)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED"};
    return s >= 0 && s <= 16 ? names[s] : "?";
}

/* Start mock_openai.py expecting key; its port comes on its first line. */
static pid_t mock_start(const char *key, int *port)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(LMS_PYTHON, LMS_PYTHON, MOCK, "--key", key, "--model", MODEL,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[32] = "";
    if (!f || !fgets(line, sizeof line, f) || (*port = atoi(line)) <= 0)
        fail_msg("mock_openai.py did not say its port (got \"%s\")", line);
    fclose(f);
    return pid;
}

static void mock_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    oai_buf *b = arg;
    return oai_buf_add(b, p, size * n, 1 << 20) == 0 ? size * n : 0;
}

/* A blocking request to the mock's control endpoints; returns its JSON. */
static json_object *mock_call(const char *method, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, path);
    oai_buf b = {0};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    json_object *o = json_tokener_parse(b.p ? b.p : "");
    oai_buf_free(&b);
    assert_non_null(o);
    return o;
}

static void mock_reset(void)
{
    json_object_put(mock_call("POST", "/_mock/reset"));
}

/* The stats of scenario key: its attempts and the time between the first
 * two (seconds; -1 with fewer than two). */
static int mock_attempts(const char *key, double *gap)
{
    json_object *s = mock_call("GET", "/_mock/stats"), *sc, *k, *n, *times;
    int attempts = 0;
    if (gap)
        *gap = -1;
    if (json_object_object_get_ex(s, "scenarios", &sc) &&
        json_object_object_get_ex(sc, key, &k)) {
        json_object_object_get_ex(k, "attempts", &n);
        attempts = json_object_get_int(n);
        json_object_object_get_ex(k, "times", &times);
        if (gap && json_object_array_length(times) >= 2)
            *gap = json_object_get_double(json_object_array_get_idx(times, 1)) -
                   json_object_get_double(json_object_array_get_idx(times, 0));
    }
    json_object_put(s);
    return attempts;
}

/* ---- the plugin under test ------------------------------------------- */

typedef struct fixture {
    lms_config *config;
    loaded_plugin plugin;
    struct lms_plugin_ctx ctx;
    struct event_base *base;
    struct event *ticker; /* proves the loop keeps running */
    int ticks;
    const struct lms_tutor_ops *ops;
    void *inst;
} fixture;

/* What the plugin told us about one question. */
typedef struct result {
    fixture *fx;
    int done;
    int status;
    char text[4096];
    char model[128];
    uint32_t prompt_tokens, completion_tokens;
    char err[512];
    int chunks;
    char streamed[4096];
    int cancel_on_chunk;        /* call cancel() from inside chunk() */
    struct result *ask_on_chunk; /* ask this one from inside chunk() */
    int shutdown_on_done;       /* call shutdown() from inside done() */
    int64_t started, finished;
} result;

static void on_tick(evutil_socket_t fd, short ev, void *arg)
{
    ((fixture *)arg)->ticks++;
}

/* The options every test starts from: the mock, fast backoff. */
static char *std_options(const char *extra)
{
    char *s;
    assert_true(asprintf(&s,
                         "  base_url: http://127.0.0.1:%d/v1/\n"
                         "  model: " MODEL "\n"
                         "  api_key_env: " KEY_ENV "\n"
                         "  backoff_base: 10ms\n"
                         "  backoff_max: 40ms\n%s",
                         g_port, extra) > 0);
    return s;
}

/* Load the plugin with options (YAML lines under tutor:) and call init. */
static int start_raw(fixture *fx, const char *options, lms_err *err)
{
    memset(fx, 0, sizeof *fx);
    char *path;
    assert_true(asprintf(&path, "%s/tutor.yaml", g_tmpdir) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "node: { data_dir: . }\nstorage: { plugin: x }\n"
               "tutor:\n  plugin: tutor_openai\n%s",
            options);
    fclose(f);
    lms_err e;
    if (config_load(path, &fx->config, &e) != LMS_OK)
        fail_msg("config_load: %s", e.msg);
    free(path);
    if (plugin_load("tutor_openai", NULL, LMS_PLUGIN_TUTOR, &fx->plugin, &e))
        fail_msg("plugin_load: %s", e.msg);
    fx->ops = fx->plugin.desc->ops;
    fx->base = event_base_new();
    fx->ticker = event_new(fx->base, -1, EV_PERSIST, on_tick, fx);
    struct timeval tick = {0, 20000};
    event_add(fx->ticker, &tick);
    fx->ctx.config = fx->config->tutor.node;
    fx->ctx.base = fx->base;
    snprintf(fx->ctx.name, sizeof fx->ctx.name, "tutor_openai");
    return fx->ops->init(plugin_host(), &fx->ctx, &fx->inst, err);
}

static void start(fixture *fx, const char *extra)
{
    char *options = std_options(extra);
    lms_err err;
    if (start_raw(fx, options, &err) != LMS_OK)
        fail_msg("init: %s", err.msg);
    free(options);
    mock_reset();
}

static void stop(fixture *fx)
{
    if (fx->inst)
        fx->ops->shutdown(fx->inst);
    event_free(fx->ticker);
    event_base_free(fx->base);
    plugin_unload(&fx->plugin);
    config_free(fx->config);
}

static void ask_with(fixture *fx, result *r, const char *question,
                     const lms_tutor_turn *history, size_t n_history,
                     int64_t deadline_in);

static void on_chunk(void *arg, const char *text, size_t len)
{
    result *r = arg;
    if (r->done)
        fail_msg("chunk() after done()");
    r->chunks++;
    size_t have = strlen(r->streamed);
    snprintf(r->streamed + have, sizeof r->streamed - have, "%.*s", (int)len,
             text);
    if (r->cancel_on_chunk)
        r->fx->ops->cancel(r->fx->inst, r);
    if (r->ask_on_chunk) {
        result *next = r->ask_on_chunk;
        r->ask_on_chunk = NULL;
        ask_with(r->fx, next, "[mock:ok#asked-in-chunk]", NULL, 0, 20000);
    }
}

static void on_done(void *arg, int status, const lms_tutor_answer *a,
                    const lms_err *err)
{
    result *r = arg;
    r->done++;
    r->status = status;
    r->finished = mono_ms();
    if ((status == LMS_OK) != (a != NULL))
        fail_msg("done(%s) with answer %p", status_name(status), (void *)a);
    if (a) {
        snprintf(r->text, sizeof r->text, "%s", a->text);
        snprintf(r->model, sizeof r->model, "%s", a->model);
        r->prompt_tokens = a->prompt_tokens;
        r->completion_tokens = a->completion_tokens;
    } else {
        assert_non_null(err);
        snprintf(r->err, sizeof r->err, "%s", err->msg);
        assert_null(strstr(err->msg, KEY));
    }
    if (r->shutdown_on_done) {
        r->fx->ops->shutdown(r->fx->inst);
        r->fx->inst = NULL;
    }
}

/* Ask question with a deadline deadline_in ms from now; ask must accept. */
static void ask_with(fixture *fx, result *r, const char *question,
                     const lms_tutor_turn *history, size_t n_history,
                     int64_t deadline_in)
{
    memset(r, 0, sizeof *r);
    r->fx = fx;
    r->started = mono_ms();
    lms_tutor_question q = {
        .course = "CS101", .student = "ann", .system_prompt = SYSTEM,
        .question = question, .history = history, .n_history = n_history,
        .deadline_ms = wall_ms() + deadline_in,
    };
    lms_tutor_reply reply = {.arg = r, .chunk = on_chunk, .done = on_done};
    lms_err err = {0};
    int rc = fx->ops->ask(fx->inst, &q, &reply, &err);
    if (rc != LMS_OK)
        fail_msg("ask(\"%s\") refused: %s %s", question, status_name(rc),
                 err.msg);
}

static void ask(fixture *fx, result *r, const char *question)
{
    ask_with(fx, r, question, NULL, 0, 20000);
}

/* Run the loop until every one of rs has its done() (at most 30 s), then a
 * little longer to catch a second done(). */
static void wait_all(fixture *fx, result *rs, size_t n)
{
    int64_t until = mono_ms() + 30000;
    for (size_t i = 0; i < n; i++) {
        while (!rs[i].done && mono_ms() < until)
            event_base_loop(fx->base, EVLOOP_ONCE);
        if (!rs[i].done)
            fail_msg("no done() for question %zu within 30 s", i);
    }
    for (int i = 0; i < 3; i++)
        event_base_loop(fx->base, EVLOOP_ONCE);
    for (size_t i = 0; i < n; i++)
        if (rs[i].done != 1)
            fail_msg("done() called %d times for question %zu", rs[i].done, i);
}

static void wait_done(fixture *fx, result *r)
{
    wait_all(fx, r, 1);
}

static void expect_status(const result *r, int status, const char *msg_part)
{
    if (r->status != status)
        fail_msg("expected %s, got %s (\"%s\")", status_name(status),
                 status_name(r->status), r->err);
    if (msg_part)
        assert_contains(r->err, msg_part);
}

static void expect_attempts(const char *key, int n)
{
    int got = mock_attempts(key, NULL);
    if (got != n)
        fail_msg("expected %d attempt(s) at [mock:%s], the mock saw %d", n,
                 key, got);
}

/* Ask question and wait for the answer: one fixture, one question. */
static void ask_once(const char *extra, const char *question, result *r)
{
    fixture fx;
    start(&fx, extra);
    ask(&fx, r, question);
    wait_done(&fx, r);
    stop(&fx);
}

/* ---- answers ---------------------------------------------------------- */

static void answers_a_question_whole(void **state)
{
    result r;
    ask_once("  stream: false\n", "What is a loop invariant?", &r);
    expect_status(&r, LMS_OK, NULL);
    assert_string_equal(r.text, ANSWER);
    assert_string_equal(r.model, MODEL "-mock");
    assert_int_equal(r.prompt_tokens, 21);
    assert_int_equal(r.completion_tokens, 8);
    assert_int_equal(r.chunks, 0);
    expect_attempts("ok", 1);
}

static void streams_an_answer_in_chunks(void **state)
{
    result r;
    ask_once("", "What is a loop invariant? [mock:stream]", &r);
    expect_status(&r, LMS_OK, NULL);
    if (r.chunks < 2)
        fail_msg("expected at least 2 chunks, got %d", r.chunks);
    assert_string_equal(r.streamed, ANSWER);
    assert_string_equal(r.text, ANSWER);
    assert_string_equal(r.model, MODEL "-mock");
    assert_int_equal(r.prompt_tokens, 21);
    assert_int_equal(r.completion_tokens, 8);
}

static void reassembles_a_stream_split_anywhere(void **state)
{
    result r;
    ask_once("", "[mock:sse-split]", &r);
    expect_status(&r, LMS_OK, NULL);
    assert_string_equal(r.streamed, ANSWER);
    assert_string_equal(r.text, ANSWER);
    assert_int_equal(r.completion_tokens, 8);
}

static void reads_plain_json_from_a_server_that_does_not_stream(void **state)
{
    result r;
    ask_once("", "[mock:json-stream]", &r);
    expect_status(&r, LMS_OK, NULL);
    assert_string_equal(r.text, ANSWER);
    assert_int_equal(r.chunks, 0);
}

/* The mock's [mock:echo] answer describes the request it got. */
static void sends_system_prompt_history_question_and_options(void **state)
{
    fixture fx;
    start(&fx, "  stream: false\n  max_tokens: 77\n"
               "  max_tokens_field: max_tokens\n  temperature: .2\n");
    lms_tutor_turn history[] = {{"user", "What is a loop?"},
                                {"assistant", "Something that repeats."}};
    char question[] = "And an invariant? [mock:echo]";
    result r;
    ask_with(&fx, &r, question, history, 2, 20000);
    memset(question, 'x', sizeof question - 1); /* the plugin keeps a copy */
    wait_done(&fx, &r);
    stop(&fx);
    expect_status(&r, LMS_OK, NULL);
    json_object *echo = json_tokener_parse(r.text), *v;
    assert_non_null(echo);
    json_object_object_get_ex(echo, "roles", &v);
    assert_string_equal(
        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
        "[\"system\",\"user\",\"assistant\",\"user\"]");
    json_object_object_get_ex(echo, "contents", &v);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)),
                        SYSTEM);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 2)),
                        "Something that repeats.");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 3)),
                        "And an invariant? [mock:echo]");
    json_object_object_get_ex(echo, "max_tokens_field", &v);
    assert_string_equal(json_object_get_string(v), "max_tokens");
    json_object_object_get_ex(echo, "max_tokens", &v);
    assert_int_equal(json_object_get_int(v), 77);
    json_object_object_get_ex(echo, "temperature", &v);
    assert_true(json_object_get_double(v) == 0.2);
    json_object_put(echo);
}

/* ---- retries ---------------------------------------------------------- */

static void retries_a_429_after_its_retry_after(void **state)
{
    result r;
    ask_once("", "[mock:429-then-ok]", &r);
    expect_status(&r, LMS_OK, NULL);
    assert_string_equal(r.text, ANSWER);
    double gap;
    int n = mock_attempts("429-then-ok", &gap);
    if (n != 2 || gap < 0.9)
        fail_msg("expected 2 attempts 1 s apart (Retry-After: 1), got %d "
                 "attempts %.3f s apart", n, gap);
    assert_true(r.finished - r.started >= 900);
}

static void honours_retry_after_as_an_http_date(void **state)
{
    result r;
    ask_once("", "[mock:429-date-then-ok]", &r);
    expect_status(&r, LMS_OK, NULL);
    double gap;
    int n = mock_attempts("429-date-then-ok", &gap);
    if (n != 2 || gap < 0.9)
        fail_msg("expected 2 attempts at least 1 s apart (Retry-After: a "
                 "date 2 s ahead), got %d attempts %.3f s apart", n, gap);
}

static void retries_a_500_then_answers(void **state)
{
    result r;
    ask_once("  stream: false\n", "[mock:500-then-ok]", &r);
    expect_status(&r, LMS_OK, NULL);
    assert_string_equal(r.text, ANSWER);
    expect_attempts("500-then-ok", 2);
}

static void gives_up_on_a_persistent_500_as_unavailable(void **state)
{
    result r;
    ask_once("  retries: 2\n", "[mock:500]", &r);
    expect_status(&r, LMS_UNAVAILABLE, "the tutor is unavailable right now");
    expect_attempts("500", 3);
}

static void gives_up_on_a_persistent_429_as_rate_limited(void **state)
{
    result r;
    ask_once("  retries: 1\n", "[mock:429]", &r);
    expect_status(&r, LMS_RESOURCE_EXHAUSTED,
                  "the tutor is busy (rate limited); try again in a minute");
    expect_attempts("429", 2);
}

static void does_not_wait_for_a_retry_after_past_the_deadline(void **state)
{
    result r;
    ask_once("", "[mock:503-long]", &r);
    expect_status(&r, LMS_UNAVAILABLE, "HTTP 503");
    expect_attempts("503-long", 1);
    assert_true(r.finished - r.started < 5000);
}

static void does_not_retry_a_401(void **state)
{
    result r;
    ask_once("", "[mock:401]", &r);
    expect_status(&r, LMS_PERMISSION_DENIED, "refused its credentials");
    expect_attempts("401", 1);
}

static void does_not_retry_a_400_and_masks_the_key_it_quotes(void **state)
{
    result r;
    ask_once("", "[mock:400]", &r);
    expect_status(&r, LMS_INVALID_ARGUMENT, "HTTP 400: Invalid request");
    assert_contains(r.err, "Bearer ****");
    expect_attempts("400", 1);
}

static void does_not_retry_an_exhausted_quota(void **state)
{
    result r;
    ask_once("", "[mock:quota]", &r);
    expect_status(&r, LMS_RESOURCE_EXHAUSTED,
                  "the tutor's quota is exhausted");
    expect_attempts("quota", 1);
}

static void retries_a_refused_connection_then_says_unavailable(void **state)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, len), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s); /* nothing listens there now */
    char *options;
    assert_true(asprintf(&options, "  base_url: http://127.0.0.1:%d/v1\n"
                         "  model: " MODEL "\n  api_key_env: " KEY_ENV "\n"
                         "  retries: 2\n  backoff_base: 10ms\n",
                         ntohs(a.sin_port)) > 0);
    fixture fx;
    lms_err err;
    if (start_raw(&fx, options, &err) != LMS_OK)
        fail_msg("init: %s", err.msg);
    free(options);
    result r;
    ask(&fx, &r, "anyone there?");
    wait_done(&fx, &r);
    stop(&fx);
    expect_status(&r, LMS_UNAVAILABLE, "the tutor cannot be reached");
}

/* ---- deadlines, broken answers, streams that go wrong ----------------- */

static void a_hang_ends_at_the_deadline_and_the_loop_keeps_running(void **state)
{
    fixture fx;
    start(&fx, "  timeout: 30s\n");
    result r;
    ask_with(&fx, &r, "[mock:hang]", NULL, 0, 600);
    wait_done(&fx, &r);
    int ticks = fx.ticks;
    stop(&fx);
    expect_status(&r, LMS_DEADLINE_EXCEEDED, "did not answer in time");
    int64_t took = r.finished - r.started;
    if (took < 500 || took > 5000)
        fail_msg("expected done() about 600 ms after ask(), took %lld ms",
                 (long long)took);
    if (ticks < 10) /* 20 ms ticks: about 30 expected */
        fail_msg("the loop ran only %d ticks during the hang", ticks);
    expect_attempts("hang", 1);
}

static void a_hang_past_the_attempt_timeout_is_retried(void **state)
{
    result r;
    ask_once("  timeout: 300ms\n  retries: 1\n", "[mock:hang]", &r);
    expect_status(&r, LMS_DEADLINE_EXCEEDED, "took too long to answer");
    expect_attempts("hang", 2);
}

static void a_broken_body_is_internal(void **state)
{
    result r;
    ask_once("  stream: false\n", "[mock:broken]", &r);
    expect_status(&r, LMS_INTERNAL, "the tutor sent a broken answer");
    expect_attempts("broken", 1);
    ask_once("", "[mock:no-choices]", &r);
    expect_status(&r, LMS_INTERNAL, "the tutor sent a broken answer");
}

static void a_broken_stream_is_internal_and_not_retried(void **state)
{
    result r;
    ask_once("", "[mock:sse-broken]", &r);
    expect_status(&r, LMS_INTERNAL, "the tutor sent a broken answer");
    assert_int_equal(r.chunks, 1);
    expect_attempts("sse-broken", 1);
}

static void a_stream_cut_off_is_not_retried(void **state)
{
    result r;
    ask_once("", "[mock:sse-cut]", &r);
    expect_status(&r, LMS_UNAVAILABLE, "cut off");
    assert_int_equal(r.chunks, 1);
    expect_attempts("sse-cut", 1);
}

static void a_stalled_stream_times_out_without_a_retry(void **state)
{
    result r;
    ask_once("  timeout: 400ms\n", "[mock:stream-stall]", &r);
    expect_status(&r, LMS_DEADLINE_EXCEEDED, "partway");
    assert_int_equal(r.chunks, 1);
    expect_attempts("stream-stall", 1);
}

static void refuses_a_question_past_its_deadline(void **state)
{
    fixture fx;
    start(&fx, "");
    result r = {0};
    lms_tutor_question q = {.system_prompt = SYSTEM, .question = "late",
                            .deadline_ms = wall_ms() - 1};
    lms_tutor_reply reply = {.arg = &r, .chunk = on_chunk, .done = on_done};
    lms_err err = {0};
    assert_int_equal(fx.ops->ask(fx.inst, &q, &reply, &err),
                     LMS_DEADLINE_EXCEEDED);
    for (int i = 0; i < 3; i++)
        event_base_loop(fx.base, EVLOOP_ONCE);
    stop(&fx);
    assert_int_equal(r.done, 0);
}

/* ---- cancel and shutdown ---------------------------------------------- */

static void cancel_ends_a_question_with_cancelled(void **state)
{
    fixture fx;
    start(&fx, "");
    result r, other;
    ask(&fx, &r, "[mock:hang#a]");
    ask(&fx, &other, "[mock:ok]");
    int64_t until = mono_ms() + 300;
    while (mono_ms() < until)
        event_base_loop(fx.base, EVLOOP_ONCE);
    fx.ops->cancel(fx.inst, &r);
    fx.ops->cancel(fx.inst, &r); /* twice is harmless */
    wait_done(&fx, &r);
    stop(&fx);
    expect_status(&r, LMS_CANCELLED, "cancelled");
    assert_int_equal(other.done, 1);
    expect_status(&other, LMS_OK, NULL);
}

static void cancel_from_inside_chunk_stops_the_stream(void **state)
{
    fixture fx;
    start(&fx, "");
    result r;
    ask(&fx, &r, "[mock:stream-stall]");
    r.cancel_on_chunk = 1;
    wait_done(&fx, &r);
    stop(&fx);
    expect_status(&r, LMS_CANCELLED, NULL);
    assert_int_equal(r.chunks, 1);
}

static void shutdown_cancels_questions_in_flight(void **state)
{
    fixture fx;
    start(&fx, "");
    result r;
    ask(&fx, &r, "[mock:hang]");
    int64_t until = mono_ms() + 200;
    while (mono_ms() < until)
        event_base_loop(fx.base, EVLOOP_ONCE);
    stop(&fx);
    assert_int_equal(r.done, 1);
    expect_status(&r, LMS_CANCELLED, NULL);
}

/* The host may ask, cancel or shut down from inside its own callbacks:
 * the plugin must not be inside curl, or touch freed state, when it does. */
static void callbacks_may_ask_again_and_shut_down(void **state)
{
    fixture fx;
    start(&fx, "");
    result rs[2];
    ask(&fx, &rs[0], "[mock:stream#first]");
    rs[0].ask_on_chunk = &rs[1];
    wait_all(&fx, rs, 2);
    expect_status(&rs[0], LMS_OK, NULL);
    expect_status(&rs[1], LMS_OK, NULL);
    assert_string_equal(rs[1].text, ANSWER);

    result last, hanging;
    ask(&fx, &hanging, "[mock:hang]");
    ask(&fx, &last, "[mock:ok#last]");
    last.shutdown_on_done = 1;
    wait_done(&fx, &last);
    assert_null(fx.inst);
    assert_int_equal(hanging.done, 1);
    expect_status(&hanging, LMS_CANCELLED, NULL);
    stop(&fx);
}

/* Many questions at once on one loop, no threads: each gets its answer. */
static void answers_many_questions_at_once(void **state)
{
    fixture fx;
    start(&fx, "");
    enum { N = 8 };
    result rs[N];
    char q[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(q[i], sizeof q[i], "[mock:%s#m%d]",
                 i == 0 ? "hang" : i == 1 ? "500-then-ok" : "stream", i);
        ask_with(&fx, &rs[i], q[i], NULL, 0, i == 0 ? 1500 : 20000);
    }
    wait_all(&fx, rs, N);
    stop(&fx);
    expect_status(&rs[0], LMS_DEADLINE_EXCEEDED, NULL);
    for (int i = 1; i < N; i++) {
        expect_status(&rs[i], LMS_OK, NULL);
        assert_string_equal(rs[i].text, ANSWER);
    }
    expect_attempts("500-then-ok#m1", 2);
}

/* ---- configuration ---------------------------------------------------- */

static void init_names_a_missing_key_variable(void **state)
{
    fixture fx;
    lms_err err = {0};
    int rc = start_raw(&fx, "  model: m\n  api_key_env: LMS_TEST_NO_SUCH_KEY\n",
                       &err);
    fx.inst = NULL;
    stop(&fx);
    assert_int_equal(rc, LMS_INVALID_ARGUMENT);
    assert_contains(err.msg, "LMS_TEST_NO_SUCH_KEY");
    assert_contains(err.msg, "not set");
}

static void init_refuses_bad_options(void **state)
{
    static const struct {
        const char *options, *message;
    } cases[] = {
        {"", "model is required"},
        {"  model: m\n  base_url: ftp://x\n", "base_url: expected an http"},
        {"  model: m\n  base_url: http://api.example.com/v1\n",
         "is plain http:// to a host that is not this machine"},
        {"  model: m\n  base_url: http://127.0.0.1.evil.example/v1\n", "allow_insecure_http"},
        {"  model: m\n  timeout: soon\n", "timeout: expected a duration"},
        {"  model: m\n  temperature: 3\n", "temperature: expected a number"},
        {"  model: m\n  max_tokens_field: tokens\n", "max_tokens_field"},
        {"  model: m\n  retries: 11\n", "retries = 11 is out of range"},
        {"  model: m\n  backoff_base: 2s\n  backoff_max: 1s\n", "backoff_max"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture fx;
        lms_err err = {0};
        char *o;
        assert_true(
            asprintf(&o, "%s  api_key_env: \"\"\n", cases[i].options) > 0);
        int rc = start_raw(&fx, o, &err);
        free(o);
        if (rc == LMS_OK)
            fx.ops->shutdown(fx.inst);
        fx.inst = NULL;
        stop(&fx);
        if (rc == LMS_OK)
            fail_msg("init accepted \"%s\"", cases[i].options);
        assert_contains(err.msg, cases[i].message);
    }
}

/* The key goes over plain http:// only to this machine. */
static void plain_http_only_to_loopback(void **state)
{
    (void)state;
    static const char *const loopback[] = {
        "http://127.0.0.1:8080/v1", "http://localhost/v1", "HTTP://LOCALHOST:1",
        "http://[::1]:11434/v1", "http://127.1.2.3", "https://api.openai.com/v1",
        "https://example.com", "http://user:pw@127.0.0.1/v1"};
    static const char *const remote[] = {
        "http://api.openai.com/v1", "http://10.0.0.5:8000", "http://127.0.0.1.nip.io/v1",
        "http://localhost.evil.example/", "http://[::2]/", "http://127.0.0.1@evil.example/",
        "http://0.0.0.0/"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++)
        if (oai_url_insecure(loopback[i]))
            fail_msg("%s: expected allowed, got called insecure", loopback[i]);
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
        if (!oai_url_insecure(remote[i]))
            fail_msg("%s: expected insecure, got allowed", remote[i]);
}

static void sends_no_key_when_api_key_env_is_empty(void **state)
{
    int port;
    pid_t keyless = mock_start("", &port); /* refuses any Authorization */
    char *options;
    assert_true(asprintf(&options, "  base_url: http://127.0.0.1:%d/v1\n"
                         "  model: " MODEL "\n  api_key_env: \"\"\n",
                         port) > 0);
    fixture fx;
    lms_err err;
    int rc = start_raw(&fx, options, &err);
    free(options);
    if (rc != LMS_OK)
        fail_msg("init: %s", err.msg);
    result r;
    ask(&fx, &r, "hello");
    wait_done(&fx, &r);
    stop(&fx);
    mock_stop(keyless);
    expect_status(&r, LMS_OK, NULL);
    assert_string_equal(r.text, ANSWER);
}

/* ---- pieces tested directly ------------------------------------------- */

typedef struct events {
    char all[1024];
    int n;
} events;

static int note_event(void *arg, const char *data, size_t len)
{
    events *e = arg;
    size_t have = strlen(e->all);
    snprintf(e->all + have, sizeof e->all - have, "<%.*s>", (int)len, data);
    e->n++;
    return 0;
}

/* Feed stream to a fresh parser in pieces of step bytes. */
static void sse_in_steps(const char *stream, size_t step, events *e)
{
    oai_sse s = {0};
    memset(e, 0, sizeof *e);
    size_t n = strlen(stream);
    for (size_t i = 0; i < n; i += step)
        assert_int_equal(oai_sse_feed(&s, stream + i,
                                      i + step > n ? n - i : step, note_event,
                                      e),
                         0);
    assert_int_equal(oai_sse_end(&s, note_event, e), 0);
    oai_sse_free(&s);
}

static void sse_frames_events_however_the_bytes_are_split(void **state)
{
    const char *stream = ": comment\r\n\r\n"
                         "data: {\"a\":1}\r\n\r\n"
                         "event: x\nid: 7\ndata:two\ndata: lines\n\n"
                         "data: cr\r\r"
                         "data: [DONE]\n\n"
                         "data: no blank line at the end";
    const char *want = "<{\"a\":1}><two\nlines><cr><[DONE]>"
                       "<no blank line at the end>";
    for (size_t step = 1; step <= strlen(stream); step++) {
        events e;
        sse_in_steps(stream, step, &e);
        if (strcmp(e.all, want) != 0)
            fail_msg("in %zu-byte pieces:\nexpected %s\n     got %s", step,
                     want, e.all);
    }
}

static void backoff_stays_within_its_exponential_cap(void **state)
{
    uint64_t rng = 42;
    for (int n = 1; n <= 8; n++) {
        int64_t cap = 100LL << (n - 1);
        if (cap > 1000)
            cap = 1000;
        int64_t most = 0;
        for (int i = 0; i < 200; i++) {
            int64_t d = oai_backoff_ms(n, 100, 1000, &rng);
            if (d < 0 || d > cap)
                fail_msg("retry %d: %lld ms is outside [0, %lld]", n,
                         (long long)d, (long long)cap);
            most = d > most ? d : most;
        }
        assert_true(most > cap / 2); /* jitter covers the range */
    }
}

/* ---- stderr capture: the key must appear in no log line --------------- */

static char *capture_path(void)
{
    static char path[96];
    snprintf(path, sizeof path, "%s/stderr.log", g_tmpdir);
    return path;
}

static int capture_stderr(void **state)
{
    fflush(stderr);
    g_stderr = dup(STDERR_FILENO);
    int fd = open(capture_path(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (g_stderr < 0 || fd < 0)
        return -1;
    dup2(fd, STDERR_FILENO);
    close(fd);
    return 0;
}

/* Put stderr back, pass on what was logged, and fail if the key is in it. */
static int check_stderr(void **state)
{
    fflush(stderr);
    dup2(g_stderr, STDERR_FILENO);
    close(g_stderr);
    FILE *f = fopen(capture_path(), "r");
    char line[2048];
    int leaked = 0;
    while (f && fgets(line, sizeof line, f)) {
        fputs(line, stderr);
        if (strstr(line, KEY)) {
            fprintf(stderr, "^^^ the API key is in this log line\n");
            leaked = 1;
        }
    }
    if (f)
        fclose(f);
    return leaked ? -1 : 0;
}

static int group_setup(void **state)
{
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/lms-tutor-openai-XXXXXX");
    if (!mkdtemp(g_tmpdir) || setenv(KEY_ENV, KEY, 1) < 0)
        return -1;
    unsetenv("LMS_TEST_NO_SUCH_KEY");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    lms_log_set_level(LMS_LOG_DEBUG);
    g_mock = mock_start(KEY, &g_port);
    return 0;
}

static int group_teardown(void **state)
{
    mock_stop(g_mock);
    curl_global_cleanup();
    unlink(capture_path());
    char path[96];
    snprintf(path, sizeof path, "%s/tutor.yaml", g_tmpdir);
    unlink(path);
    rmdir(g_tmpdir);
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, capture_stderr, check_stderr)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(answers_a_question_whole),
        T(streams_an_answer_in_chunks),
        T(reassembles_a_stream_split_anywhere),
        T(reads_plain_json_from_a_server_that_does_not_stream),
        T(sends_system_prompt_history_question_and_options),
        T(retries_a_429_after_its_retry_after),
        T(honours_retry_after_as_an_http_date),
        T(retries_a_500_then_answers),
        T(gives_up_on_a_persistent_500_as_unavailable),
        T(gives_up_on_a_persistent_429_as_rate_limited),
        T(does_not_wait_for_a_retry_after_past_the_deadline),
        T(does_not_retry_a_401),
        T(does_not_retry_a_400_and_masks_the_key_it_quotes),
        T(does_not_retry_an_exhausted_quota),
        T(retries_a_refused_connection_then_says_unavailable),
        T(a_hang_ends_at_the_deadline_and_the_loop_keeps_running),
        T(a_hang_past_the_attempt_timeout_is_retried),
        T(a_broken_body_is_internal),
        T(a_broken_stream_is_internal_and_not_retried),
        T(a_stream_cut_off_is_not_retried),
        T(a_stalled_stream_times_out_without_a_retry),
        T(refuses_a_question_past_its_deadline),
        T(cancel_ends_a_question_with_cancelled),
        T(cancel_from_inside_chunk_stops_the_stream),
        T(shutdown_cancels_questions_in_flight),
        T(callbacks_may_ask_again_and_shut_down),
        T(answers_many_questions_at_once),
        T(init_names_a_missing_key_variable),
        T(init_refuses_bad_options),
        T(sends_no_key_when_api_key_env_is_empty),
        T(plain_http_only_to_loopback),
        T(sse_frames_events_however_the_bytes_are_split),
        T(backoff_stays_within_its_exponential_cap),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

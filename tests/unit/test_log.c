/* SPDX-License-Identifier: MIT */
/*
 * test_log.c: core/base/log.c. A JSON line is one valid JSON object (read
 * back with json-c) whatever the message holds: quotes, backslashes,
 * newlines, control characters, refused format characters, bytes that are
 * not UTF-8, or more than fits; a text line keeps today's shape and quotes
 * a request's field values that need it; and lines written by many threads
 * at once arrive whole, one per record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 2026-11-26T20:03:31.123Z */
#define T0 INT64_C(1795723411123)

/* rec formatted into a line of cap bytes, NUL-terminated for the test. */
static size_t format(const lms_log_record *rec, char *buf, size_t cap)
{
    size_t n = lms_log_format_line(buf, cap - 1, rec);
    assert_true(n > 0 && n <= cap - 1);
    buf[n] = '\0';
    return n;
}

/* The line is one line: a single '\n', at its end; no other byte below
 * 0x20 (a terminal or a line-based reader sees it whole). */
static void assert_one_line(const char *line, size_t n)
{
    assert_int_equal(line[n - 1], '\n');
    for (size_t i = 0; i + 1 < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            fail_msg("byte %zu of the line is 0x%02X: %s", i, (unsigned char)line[i], line);
}

/* The line parsed as one JSON object (fails the test if it is not). */
static json_object *parse(const char *line, size_t n)
{
    json_tokener *tok = json_tokener_new();
    json_object *obj = json_tokener_parse_ex(tok, line, (int)n - 1);
    enum json_tokener_error e = json_tokener_get_error(tok);
    if (!obj || e != json_tokener_success || !json_object_is_type(obj, json_type_object))
        fail_msg("not one JSON object (%s): %s", json_tokener_error_desc(e), line);
    /* nothing after the object but the newline */
    assert_int_equal((size_t)json_tokener_get_parse_end(tok), n - 1);
    json_tokener_free(tok);
    return obj;
}

static const char *str(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

static int has(json_object *o, const char *key)
{
    return json_object_object_get_ex(o, key, NULL);
}

static void test_json_line_fields(void **state)
{
    (void)state;
    char buf[4096];
    lms_log_record rec = {.format = LMS_LOG_JSON, .level = LMS_LOG_WARN, .time_ms = T0,
                          .node = 3, .term = 7, .msg = "storage is slow", .msg_len = 15};
    size_t n = format(&rec, buf, sizeof buf);
    assert_one_line(buf, n);
    assert_string_equal(buf, "{\"time\":\"2026-11-26T20:03:31.123Z\",\"level\":\"warn\","
                             "\"node\":3,\"term\":7,\"msg\":\"storage is slow\"}\n");
    /* before the node knows a term, and from a plugin */
    rec = (lms_log_record){.format = LMS_LOG_JSON, .level = LMS_LOG_INFO, .time_ms = T0,
                           .node = 1, .prefix = "tutor_openai", .msg = "ready", .msg_len = 5};
    n = format(&rec, buf, sizeof buf);
    json_object *o = parse(buf, n);
    assert_false(has(o, "term"));
    assert_string_equal(str(o, "plugin"), "tutor_openai");
    assert_string_equal(str(o, "level"), "info");
    json_object_put(o);
}

static void test_json_escapes_what_a_message_holds(void **state)
{
    (void)state;
    static const struct {
        const char *what, *msg, *decoded;
    } cases[] = {
        {"quotes and backslashes", "say \"hi\" \\ bye", "say \"hi\" \\ bye"},
        {"a forged line", "x\n{\"level\":\"error\"}\r\tend", "x\n{\"level\":\"error\"}\r\tend"},
        {"control characters", "a\x01" "b\x1b[31mc\x7f" "d", "a\x01" "b\x1b[31mc\x7f" "d"},
        {"UTF-8 text", "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},
        /* a bidi override survives as a JSON escape, not as raw bytes */
        {"a bidi override", "ab\xe2\x80\xae" "cd", "ab\xe2\x80\xae" "cd"},
        /* not UTF-8: the text \xHH, as the text log writes it */
        {"bytes that are not UTF-8", "a\xff" "b\xc3", "a\\xFFb\\xC3"},
        {"an overlong NUL", "a\xc0\x80" "b", "a\\xC0\\x80b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[4096];
        lms_log_record rec = {.format = LMS_LOG_JSON, .level = LMS_LOG_ERROR, .time_ms = T0,
                              .msg = cases[i].msg, .msg_len = strlen(cases[i].msg)};
        size_t n = format(&rec, buf, sizeof buf);
        assert_one_line(buf, n);
        json_object *o = parse(buf, n);
        if (strcmp(str(o, "msg"), cases[i].decoded) != 0)
            fail_msg("%s: msg decodes to \"%s\", expected \"%s\" (line %s)", cases[i].what,
                     str(o, "msg"), cases[i].decoded, buf);
        json_object_put(o);
    }
    /* the raw line holds no ESC nor bidi override byte: safe to cat */
    char buf[4096];
    lms_log_record rec = {.format = LMS_LOG_JSON, .level = LMS_LOG_INFO, .time_ms = T0,
                          .msg = "\x1b]0;x\x07\xe2\x80\xae", .msg_len = 9};
    size_t n = format(&rec, buf, sizeof buf);
    assert_null(memchr(buf, 0x1b, n));
    assert_null(strstr(buf, "\xe2\x80\xae"));
    assert_non_null(strstr(buf, "\\u001B]0;x\\u0007\\u202E"));
    /* a NUL inside the message (msg_len counts it) */
    rec.msg = "a\0b";
    rec.msg_len = 3;
    n = format(&rec, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"msg\":\"a\\u0000b\""));
}

static void test_json_request_line(void **state)
{
    (void)state;
    char buf[4096];
    lms_log_request_fields f = {.request_id = "3f9c0a17b2d4e6f8", .user = "ali\"ce\n",
                                .op = "submit", .status = "PERMISSION_DENIED",
                                .peer = "127.0.0.1:40522", .duration_ns = 12345678};
    lms_log_record rec = {.format = LMS_LOG_JSON, .level = LMS_LOG_DEBUG, .time_ms = T0,
                          .node = 2, .term = 5, .msg = "request", .msg_len = 7, .req = &f};
    size_t n = format(&rec, buf, sizeof buf);
    assert_one_line(buf, n);
    json_object *o = parse(buf, n);
    assert_string_equal(str(o, "request_id"), "3f9c0a17b2d4e6f8");
    assert_string_equal(str(o, "user"), "ali\"ce\n");
    assert_string_equal(str(o, "op"), "submit");
    assert_string_equal(str(o, "status"), "PERMISSION_DENIED");
    assert_string_equal(str(o, "peer"), "127.0.0.1:40522");
    assert_string_equal(str(o, "msg"), "request");
    json_object *d;
    assert_true(json_object_object_get_ex(o, "duration_ms", &d));
    assert_true(json_object_is_type(d, json_type_double));
    assert_true(json_object_get_double(d) > 12.3449 && json_object_get_double(d) < 12.3451);
    json_object *t;
    assert_true(json_object_object_get_ex(o, "term", &t));
    assert_int_equal(json_object_get_int64(t), 5);
    json_object_put(o);
    /* a field left out (NULL) is not there */
    f.user = NULL;
    n = format(&rec, buf, sizeof buf);
    o = parse(buf, n);
    assert_false(has(o, "user"));
    json_object_put(o);
}

/* A message longer than the line: cut at a character, the request's
 * fields kept, the object closed. Quotes double in the escaped form. */
static void test_json_long_message_is_cut_not_broken(void **state)
{
    (void)state;
    size_t len = 10000;
    char *msg = malloc(len);
    assert_non_null(msg);
    for (size_t i = 0; i < len; i++)
        msg[i] = i % 3 == 0 ? '"' : i % 3 == 1 ? '\x01' : 'x';
    lms_log_request_fields f = {.request_id = "r1", .op = "whoami", .status = "OK",
                                .user = "bob", .duration_ns = 1000};
    for (size_t cap = LMS_LOG_LINE_MIN; cap <= 4096; cap += 61) {
        char *buf = malloc(cap + 1);
        assert_non_null(buf);
        lms_log_record rec = {.format = LMS_LOG_JSON, .level = LMS_LOG_INFO, .time_ms = T0,
                              .node = 1, .term = 1, .msg = msg, .msg_len = len, .req = &f};
        size_t n = format(&rec, buf, cap + 1);
        assert_true(n <= cap);
        assert_one_line(buf, n);
        json_object *o = parse(buf, n);
        assert_string_equal(str(o, "request_id"), "r1");
        assert_string_equal(str(o, "status"), "OK");
        assert_true(strlen(str(o, "msg")) < len);
        json_object_put(o);
        free(buf);
    }
    /* a long multi-byte text is cut between characters */
    char *euros = malloc(3 * 2000);
    for (size_t i = 0; i < 2000; i++)
        memcpy(euros + 3 * i, "\xe2\x82\xac", 3);
    char buf[1024];
    lms_log_record rec = {.format = LMS_LOG_JSON, .level = LMS_LOG_INFO, .time_ms = T0,
                          .msg = euros, .msg_len = 3 * 2000};
    size_t n = format(&rec, buf, sizeof buf);
    json_object *o = parse(buf, n);
    const char *m = str(o, "msg");
    assert_true(strlen(m) > 0 && strlen(m) % 3 == 0);
    json_object_put(o);
    free(euros);
    free(msg);
}

static void test_text_lines(void **state)
{
    (void)state;
    char buf[4096];
    /* an ordinary line as before */
    lms_log_record rec = {.format = LMS_LOG_TEXT, .level = LMS_LOG_INFO, .time_ms = T0,
                          .node = 1, .term = 9, .msg = "x\ny", .msg_len = 3};
    size_t n = format(&rec, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-26T20:03:31.123Z INFO  x\\x0Ay\n");
    /* a request line: key=value, quoted where needed */
    lms_log_request_fields f = {.request_id = "n1-42", .user = "Ann \"Lee\"", .op = "whoami",
                                .status = "OK", .peer = "[::1]:5000", .duration_ns = 2500000};
    rec = (lms_log_record){.format = LMS_LOG_TEXT, .level = LMS_LOG_DEBUG, .time_ms = T0,
                           .msg = "request", .msg_len = 7, .req = &f};
    n = format(&rec, buf, sizeof buf);
    assert_one_line(buf, n);
    assert_string_equal(buf, "2026-11-26T20:03:31.123Z DEBUG request request_id=n1-42 "
                             "user=\"Ann \\\"Lee\\\"\" op=whoami status=OK duration_ms=2.500 "
                             "peer=[::1]:5000\n");
    /* a value with a newline cannot end the line */
    f.user = "evil\n2026-01-01T00:00:00.000Z INFO  forged";
    n = format(&rec, buf, sizeof buf);
    assert_one_line(buf, n);
    assert_non_null(strstr(buf, "user=\"evil\\x0A2026"));
}

/* ---- through the writer: stderr as a pipe -------------------------------- */

#define THREADS 4
#define LINES 200

static void *log_many(void *arg)
{
    long t = (long)arg;
    lms_log_request_fields f = {.request_id = "abc", .op = "whoami", .status = "OK",
                                .duration_ns = 1};
    for (int i = 0; i < LINES; i++) {
        if (i % 2)
            log_info("thread %ld line %d \"quoted\"\n%s", t, i, "and a second line");
        else
            lms_log_request(LMS_LOG_INFO, &f, "thread %ld line %d", t, i);
    }
    return NULL;
}

/* What lines is read: everything written to fd until EOF. */
typedef struct reader {
    int fd;
    char *text;
    size_t len;
} reader;

static void *read_all(void *arg)
{
    reader *r = arg;
    size_t cap = 1 << 16;
    r->text = malloc(cap);
    for (;;) {
        if (cap - r->len < 4096)
            r->text = realloc(r->text, cap *= 2);
        ssize_t k = read(r->fd, r->text + r->len, cap - r->len - 1);
        if (k <= 0)
            break;
        r->len += (size_t)k;
    }
    r->text[r->len] = '\0';
    return NULL;
}

static void test_threads_write_whole_lines(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    reader rd = {.fd = p[0]};
    pthread_t reader_thread, th[THREADS];
    assert_int_equal(pthread_create(&reader_thread, NULL, read_all, &rd), 0);
    assert_true(dup2(p[1], STDERR_FILENO) >= 0);
    close(p[1]);
    lms_log_set_format(LMS_LOG_JSON);
    lms_log_set_node(4);
    lms_log_set_term(11);
    lms_log_set_level(LMS_LOG_INFO);
    log_debug("below the level: not written");
    assert_false(lms_log_enabled(LMS_LOG_DEBUG));
    assert_true(lms_log_enabled(LMS_LOG_WARN));
    for (long t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, log_many, (void *)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    /* the level changes at run time, for every thread */
    lms_log_set_level(LMS_LOG_DEBUG);
    log_debug("now written");
    dup2(saved, STDERR_FILENO); /* the pipe's last writer: the reader sees EOF */
    close(saved);
    pthread_join(reader_thread, NULL);
    lms_log_set_format(LMS_LOG_TEXT);
    lms_log_set_level(LMS_LOG_INFO);

    size_t lines = 0, requests = 0;
    for (char *line = rd.text, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        assert_non_null(end);
        json_object *o = parse(line, (size_t)(end - line) + 1);
        json_object *node;
        assert_true(json_object_object_get_ex(o, "node", &node));
        assert_int_equal(json_object_get_int64(node), 4);
        assert_string_equal(str(o, "level"), lines == THREADS * LINES ? "debug" : "info");
        requests += has(o, "request_id");
        assert_null(strstr(str(o, "msg"), "below the level"));
        json_object_put(o);
        lines++;
    }
    assert_int_equal(lines, THREADS * LINES + 1);
    assert_int_equal(requests, THREADS * LINES / 2);
    free(rd.text);
}

/* A message longer than the writer's buffer (2048 bytes) is cut by
 * vsnprintf at a byte: the character it cut in two is dropped, not shown
 * as the bytes \xE2\x82 of half a euro sign. */
static void test_writer_cuts_a_long_message_between_characters(void **state)
{
    (void)state;
    for (size_t pad = 2043; pad <= 2047; pad++) {
        char msg[2100];
        memset(msg, 'a', pad);
        for (size_t i = pad; i + 3 < sizeof msg; i += 3)
            memcpy(msg + i, "\xe2\x82\xac", 3);
        msg[sizeof msg - 1] = '\0';
        msg[pad + 3 * 10] = '\0';
        int p[2];
        assert_int_equal(pipe(p), 0);
        int saved = dup(STDERR_FILENO);
        assert_true(dup2(p[1], STDERR_FILENO) >= 0);
        close(p[1]);
        lms_log_set_format(LMS_LOG_JSON);
        log_info("%s", msg);
        lms_log_set_format(LMS_LOG_TEXT);
        dup2(saved, STDERR_FILENO);
        close(saved);
        char line[8192];
        ssize_t n = read(p[0], line, sizeof line - 1);
        close(p[0]);
        assert_true(n > 0);
        line[n] = '\0';
        assert_null(strstr(line, "\\\\x"));
        json_object *o = parse(line, (size_t)n);
        const char *m = str(o, "msg");
        size_t len = strlen(m);
        assert_true(len > 2040 && len <= 2047);
        assert_true((len - pad) % 3 == 0);
        json_object_put(o);
    }
}

static void test_names_parse_back(void **state)
{
    (void)state;
    for (int l = LMS_LOG_DEBUG; l <= LMS_LOG_ERROR; l++)
        assert_int_equal(lms_log_level_parse(lms_log_level_name(l)), l);
    assert_int_equal(lms_log_level_parse("warning"), LMS_LOG_WARN);
    assert_int_equal(lms_log_level_parse("loud"), -1);
    assert_int_equal(lms_log_format_parse("json"), LMS_LOG_JSON);
    assert_int_equal(lms_log_format_parse("TEXT"), LMS_LOG_TEXT);
    assert_int_equal(lms_log_format_parse("xml"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_line_fields),
        cmocka_unit_test(test_json_escapes_what_a_message_holds),
        cmocka_unit_test(test_json_request_line),
        cmocka_unit_test(test_json_long_message_is_cut_not_broken),
        cmocka_unit_test(test_writer_cuts_a_long_message_between_characters),
        cmocka_unit_test(test_text_lines),
        cmocka_unit_test(test_threads_write_whole_lines),
        cmocka_unit_test(test_names_parse_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c: core/base/metrics.c. Which bucket a value lands in (bounds
 * are inclusive upper bounds), cumulative bucket counts ending in +Inf,
 * _sum and _count, fixed-point formatting, label escaping, and that the
 * whole exposition names every family with HELP and TYPE.
 */
#include "metrics.h"

#include "client.pb-c.h"
#include "metrics_labels.h"

#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const uint64_t bounds[] = {10, 20, 40};

static char *render(const metrics_histogram *h, const char *labels)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    assert_int_equal(metrics_render_histogram(b, "t", labels, h), 0);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

static void values_land_in_the_first_bound_they_do_not_exceed(void **state)
{
    (void)state;
    metrics_histogram h = {.bounds = bounds, .n_bounds = 3, .unit_digits = 0};
    uint64_t vals[] = {0, 10, 11, 20, 40, 41, 1000};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        metrics_observe(&h, vals[i]);
    assert_int_equal(h.bucket[0], 2); /* 0, 10: le=10 is inclusive */
    assert_int_equal(h.bucket[1], 2); /* 11, 20 */
    assert_int_equal(h.bucket[2], 1); /* 40 */
    assert_int_equal(h.bucket[3], 2); /* 41, 1000: +Inf */
    assert_int_equal(h.sum, 0 + 10 + 11 + 20 + 40 + 41 + 1000);
}

static void buckets_render_cumulative_with_inf_sum_and_count(void **state)
{
    (void)state;
    metrics_histogram h = {.bounds = bounds, .n_bounds = 3, .unit_digits = 0};
    metrics_observe(&h, 5);
    metrics_observe(&h, 30);
    metrics_observe(&h, 30);
    metrics_observe(&h, 99);
    char *s = render(&h, "stage=\"x\"");
    const char *want = "t_bucket{stage=\"x\",le=\"10\"} 1\n"
                       "t_bucket{stage=\"x\",le=\"20\"} 1\n"
                       "t_bucket{stage=\"x\",le=\"40\"} 3\n"
                       "t_bucket{stage=\"x\",le=\"+Inf\"} 4\n"
                       "t_sum{stage=\"x\"} 164\n"
                       "t_count{stage=\"x\"} 4\n";
    if (strcmp(s, want) != 0)
        fail_msg("expected:\n%sgot:\n%s", want, s);
    free(s);
}

static void an_empty_histogram_without_labels_renders_zeros(void **state)
{
    (void)state;
    metrics_histogram h = {.bounds = bounds, .n_bounds = 3, .unit_digits = 0};
    char *s = render(&h, "");
    const char *want = "t_bucket{le=\"10\"} 0\nt_bucket{le=\"20\"} 0\n"
                       "t_bucket{le=\"40\"} 0\nt_bucket{le=\"+Inf\"} 0\n"
                       "t_sum 0\nt_count 0\n";
    if (strcmp(s, want) != 0)
        fail_msg("expected:\n%sgot:\n%s", want, s);
    free(s);
}

static void seconds_render_from_nanoseconds(void **state)
{
    (void)state;
    static const uint64_t ns[] = {50000, 1000000000, 2500000000};
    metrics_histogram h = {.bounds = ns, .n_bounds = 3, .unit_digits = 9};
    metrics_observe(&h, 1500000); /* 1.5 ms */
    char *s = render(&h, "");
    const char *want = "t_bucket{le=\"0.00005\"} 0\nt_bucket{le=\"1\"} 1\n"
                       "t_bucket{le=\"2.5\"} 1\nt_bucket{le=\"+Inf\"} 1\n"
                       "t_sum 0.0015\nt_count 1\n";
    if (strcmp(s, want) != 0)
        fail_msg("expected:\n%sgot:\n%s", want, s);
    free(s);
}

static void fixed_point_drops_trailing_zeros(void **state)
{
    (void)state;
    char b[32];
    metrics_format_fixed(b, sizeof b, 0, 9);
    assert_string_equal(b, "0");
    metrics_format_fixed(b, sizeof b, 10000000000ull, 9);
    assert_string_equal(b, "10");
    metrics_format_fixed(b, sizeof b, 1, 9);
    assert_string_equal(b, "0.000000001");
    metrics_format_fixed(b, sizeof b, 123456789012ull, 9);
    assert_string_equal(b, "123.456789012");
    metrics_format_fixed(b, sizeof b, 42, 0);
    assert_string_equal(b, "42");
}

static void label_values_are_escaped(void **state)
{
    (void)state;
    char b[64];
    assert_string_equal(metrics_escape_label(b, sizeof b, "plain"), "plain");
    assert_string_equal(metrics_escape_label(b, sizeof b, "a\"b\\c\nd"),
                        "a\\\"b\\\\c\\nd");
    /* cut short, never in the middle of an escape */
    assert_string_equal(metrics_escape_label(b, 4, "ab\"c"), "ab");
}

static void the_exposition_has_help_and_type_for_each_family(void **state)
{
    (void)state;
    metrics_labels_install(); /* the names lmsd gives them (dispatch_new) */
    metrics_request_done(LMS__REQUEST__BODY_ADD_USER, LMS__STATUS__OK);
    metrics_request_done(LMS__REQUEST__BODY_ADD_USER, LMS__STATUS__OK);
    metrics_request_done(LMS__REQUEST__BODY_LOGIN, LMS__STATUS__NOT_LEADER);
    metrics_request_done(0, LMS__STATUS__INVALID_ARGUMENT);
    metrics_request_done(9999, 777); /* unknown kind, unknown status */
    metrics_gauges g = {.term = 7, .commit = 12, .applied = 11, .leader_id = 2,
                        .is_leader = 0, .client_connections = 3};
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(metrics_render(b, &lms_metrics_g, &g), 0);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    const char *lines[] = {
        "# TYPE lms_raft_term gauge\nlms_raft_term 7\n",
        "lms_raft_commit_index 12\n",
        "lms_raft_applied_index 11\n",
        "lms_raft_leader_id 2\n",
        "lms_raft_is_leader 0\n",
        "lms_client_connections 3\n",
        "# TYPE lms_requests_total counter\n",
        "lms_requests_total{op=\"add_user\",status=\"OK\"} 2\n",
        "lms_requests_total{op=\"login\",status=\"NOT_LEADER\"} 1\n",
        "lms_requests_total{op=\"undecodable\",status=\"INVALID_ARGUMENT\"} 1\n",
        "lms_requests_total{op=\"unknown\",status=\"OTHER\"} 1\n",
        "# TYPE lms_request_seconds histogram\n",
        "lms_request_seconds_bucket{stage=\"propose_commit\",le=\"0.00005\"} 0\n",
        "lms_request_seconds_count{stage=\"apply\"} 0\n",
        "# TYPE lms_fsync_seconds histogram\n",
        "lms_log_batch_entries_bucket{le=\"4096\"} 0\n",
        "# TYPE lms_snapshots_taken_total counter\n",
        "lms_snapshot_bytes_total 0\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(s, lines[i]))
            fail_msg("expected the exposition to hold %sgot:\n%s", lines[i], s);
    /* every # TYPE comes right after its # HELP */
    for (const char *p = strstr(s, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
        const char *name = p + 7;
        size_t len = strcspn(name, " ");
        char help[96];
        snprintf(help, sizeof help, "# HELP %.*s ", (int)len, name);
        const char *h = strstr(s, help);
        if (!h || h > p)
            fail_msg("%.*s has no HELP before its TYPE", (int)len, name);
    }
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values_land_in_the_first_bound_they_do_not_exceed),
        cmocka_unit_test(buckets_render_cumulative_with_inf_sum_and_count),
        cmocka_unit_test(an_empty_histogram_without_labels_renders_zeros),
        cmocka_unit_test(seconds_render_from_nanoseconds),
        cmocka_unit_test(fixed_point_drops_trailing_zeros),
        cmocka_unit_test(label_values_are_escaped),
        cmocka_unit_test(the_exposition_has_help_and_type_for_each_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

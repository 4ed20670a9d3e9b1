/* SPDX-License-Identifier: MIT */
/*
 * test_client_isotime.c: the ISO 8601 times of the clients (clients/isotime.c):
 * every accepted form, local time per TZ, range checks and the UTC output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "isotime.h"

/* 2026-12-01T23:59:00Z */
#define T_20261201_2359 1796169540000LL
#define HOUR_MS 3600000LL

static int set_tz(void **state)
{
    /* Central European time without needing tzdata: UTC+1, UTC+2 in summer */
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    return 0;
}

static void expect_time(const char *text, int64_t want)
{
    char err[128] = "";
    int64_t got = 0;
    int rc = lms_time_parse(text, &got, err, sizeof err);
    if (rc != 0)
        fail_msg("'%s' was refused (%s), expected %lld", text, err, (long long)want);
    if (got != want)
        fail_msg("'%s' parsed as %lld, expected %lld", text, (long long)got, (long long)want);
}

static void expect_refused(const char *text)
{
    char err[128] = "";
    int64_t got = 0;
    if (lms_time_parse(text, &got, err, sizeof err) == 0)
        fail_msg("'%s' was accepted as %lld, expected a refusal", text, (long long)got);
    assert_true(err[0] != '\0');
}

static void utc_forms_are_accepted(void **state)
{
    expect_time("2026-12-01T23:59:00Z", T_20261201_2359);
    expect_time("2026-12-01t23:59:00z", T_20261201_2359);
    expect_time("2026-12-01T23:59Z", T_20261201_2359);
    expect_time("2026-12-01 23:59:00Z", T_20261201_2359);
    expect_time("2026-12-01T23:59:00.250Z", T_20261201_2359 + 250);
    expect_time("2026-12-01T23:59:00.5Z", T_20261201_2359 + 500);
    expect_time("2026-12-01T23:59:00.123456789Z", T_20261201_2359 + 123);
    expect_time("1970-01-01T00:00:00Z", 0);
}

static void zone_offsets_are_applied(void **state)
{
    expect_time("2026-12-01T23:59:00+01:00", T_20261201_2359 - HOUR_MS);
    expect_time("2026-12-01T23:59:00-01:00", T_20261201_2359 + HOUR_MS);
    expect_time("2026-12-01T23:59:00+0100", T_20261201_2359 - HOUR_MS);
    expect_time("2026-12-01T23:59:00+01", T_20261201_2359 - HOUR_MS);
    expect_time("2026-12-01T23:59+05:30", T_20261201_2359 - 5 * HOUR_MS - 30 * 60000);
    expect_time("2026-12-01T23:59:00+00:00", T_20261201_2359);
}

static void no_zone_means_local_time(void **state)
{
    /* December: CET = UTC+1 */
    expect_time("2026-12-01T23:59", T_20261201_2359 - HOUR_MS);
    expect_time("2026-12-01 23:59", T_20261201_2359 - HOUR_MS);
    expect_time("2026-12-01T23:59:00", T_20261201_2359 - HOUR_MS);
    /* a bare date is local midnight: 2026-11-30T23:00:00Z */
    expect_time("2026-12-01", T_20261201_2359 - 24 * HOUR_MS - 59 * 60000);
    /* July: CEST = UTC+2; 2026-07-01T10:00:00Z = 1782900000 */
    expect_time("2026-07-01T12:00", 1782900000000LL);
}

static void leap_days_are_checked(void **state)
{
    expect_time("2024-02-29T00:00:00Z", 1709164800000LL);
    expect_time("2000-02-29T00:00:00Z", 951782400000LL);
    expect_refused("2026-02-29T00:00:00Z");
    expect_refused("1900-02-29T00:00:00Z");
}

static void bad_input_is_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "tomorrow",
        "2026",
        "2026-12",
        "26-12-01",
        "2026-1-01",
        "2026-12-1",
        "2026/12/01",
        "2026-13-01",
        "2026-00-10",
        "2026-12-00",
        "2026-12-32",
        "2026-04-31",
        "2026-12-01T",
        "2026-12-01T23",
        "2026-12-01T23:5",
        "2026-12-01T24:00",
        "2026-12-01T23:60",
        "2026-12-01T23:59:60Z",
        "2026-12-01T23:59:00.Z",
        "2026-12-01T23:59Zjunk",
        "2026-12-01T23:59:00+1",
        "2026-12-01T23:59:00+01:",
        "2026-12-01T23:59:00+24:00",
        "2026-12-01T23:59:00+01:60",
        "2026-12-01X23:59",
        " 2026-12-01",
        "2026-12-01 ",
        "2026-12-01T23:59:00 Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(bad[i]);
}

static void expect_format(int64_t ms, const char *want)
{
    char buf[LMS_TIME_BUFSZ];
    const char *got = lms_time_format(ms, buf);
    if (strcmp(got, want) != 0)
        fail_msg("%lld formatted as '%s', expected '%s'", (long long)ms, got, want);
}

static void output_is_utc_with_z(void **state)
{
    expect_format(0, "1970-01-01T00:00:00Z");
    expect_format(T_20261201_2359, "2026-12-01T23:59:00Z");
    expect_format(T_20261201_2359 + 999, "2026-12-01T23:59:00Z");
    expect_format(-1, "1969-12-31T23:59:59Z");
    expect_format(-1000, "1969-12-31T23:59:59Z");
    expect_format(-1001, "1969-12-31T23:59:58Z");
}

static void output_parses_back(void **state)
{
    char buf[LMS_TIME_BUFSZ];
    for (int64_t ms = -86400000LL * 365; ms < 4102444800000LL; ms += 86399999LL * 37) {
        int64_t whole = ms - ((ms % 1000) + 1000) % 1000, back = 0;
        char err[128];
        assert_int_equal(lms_time_parse(lms_time_format(ms, buf), &back, err, sizeof err), 0);
        if (back != whole)
            fail_msg("%lld -> '%s' -> %lld", (long long)ms, buf, (long long)back);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utc_forms_are_accepted),
        cmocka_unit_test(zone_offsets_are_applied),
        cmocka_unit_test(no_zone_means_local_time),
        cmocka_unit_test(leap_days_are_checked),
        cmocka_unit_test(bad_input_is_refused),
        cmocka_unit_test(output_is_utc_with_z),
        cmocka_unit_test(output_parses_back),
    };
    return cmocka_run_group_tests(tests, set_tz, NULL);
}

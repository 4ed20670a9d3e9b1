/* SPDX-License-Identifier: MIT */
/*
 * isotime.c: parsing and printing of ISO 8601 times for the clients. The
 * parser is strict (every field range-checked, no trailing text) so that a
 * typo in a deadline is a usage error rather than a surprising date.
 */
#include "isotime.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Read exactly n decimal digits at *p into *out and advance *p. */
static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm),
 * so UTC times need neither timegm() nor TZ. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

struct parsed_time {
    int year, mon, day, hour, min, sec, msec;
    bool has_zone;
    int zone_sec; /* east of UTC */
};

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

static int parse_date(const char **p, struct parsed_time *t, char *err, size_t errlen)
{
    if (!take_digits(p, 4, &t->year) || *(*p)++ != '-' || !take_digits(p, 2, &t->mon) ||
        *(*p)++ != '-' || !take_digits(p, 2, &t->day))
        return fail(err, errlen, "expected a date YYYY-MM-DD");
    if (t->mon < 1 || t->mon > 12)
        return fail(err, errlen, "month out of range");
    if (t->day < 1 || t->day > days_in_month(t->year, t->mon))
        return fail(err, errlen, "day out of range");
    return 0;
}

static int parse_clock(const char **p, struct parsed_time *t, char *err, size_t errlen)
{
    if (!take_digits(p, 2, &t->hour) || *(*p)++ != ':' || !take_digits(p, 2, &t->min))
        return fail(err, errlen, "expected a time HH:MM");
    if (**p == ':') {
        (*p)++;
        if (!take_digits(p, 2, &t->sec))
            return fail(err, errlen, "expected seconds after HH:MM:");
        if (**p == '.' || **p == ',') {
            (*p)++;
            if (!isdigit((unsigned char)**p))
                return fail(err, errlen, "expected digits after the decimal point");
            for (int scale = 100; isdigit((unsigned char)**p); (*p)++, scale /= 10)
                t->msec += (**p - '0') * scale;
        }
    }
    if (t->hour > 23)
        return fail(err, errlen, "hour out of range");
    if (t->min > 59)
        return fail(err, errlen, "minute out of range");
    if (t->sec > 59)
        return fail(err, errlen, "second out of range");
    return 0;
}

static int parse_zone(const char **p, struct parsed_time *t, char *err, size_t errlen)
{
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        t->has_zone = true;
        return 0;
    }
    if (**p != '+' && **p != '-')
        return 0;
    int sign = *(*p)++ == '-' ? -1 : 1, hh, mm = 0;
    if (!take_digits(p, 2, &hh))
        return fail(err, errlen, "expected a zone offset +HH:MM");
    if (**p == ':') {
        (*p)++;
        if (!take_digits(p, 2, &mm))
            return fail(err, errlen, "expected a zone offset +HH:MM");
    } else if (isdigit((unsigned char)**p) && !take_digits(p, 2, &mm)) {
        return fail(err, errlen, "expected a zone offset +HHMM");
    }
    if (hh > 23 || mm > 59)
        return fail(err, errlen, "zone offset out of range");
    t->has_zone = true;
    t->zone_sec = sign * (hh * 3600 + mm * 60);
    return 0;
}

/* Local wall-clock time to seconds since the epoch, per TZ. */
static int local_to_epoch(const struct parsed_time *t, int64_t *secs, char *err, size_t errlen)
{
    struct tm tm = {
        .tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
        .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec, .tm_isdst = -1,
    };
    time_t v = mktime(&tm);
    if (v == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
        return fail(err, errlen, "not representable in local time");
    *secs = (int64_t)v;
    return 0;
}

int lms_time_parse(const char *s, int64_t *ms, char *err, size_t errlen)
{
    struct parsed_time t = {0};
    const char *p = s;

    if (parse_date(&p, &t, err, errlen) < 0)
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (parse_clock(&p, &t, err, errlen) < 0 || parse_zone(&p, &t, err, errlen) < 0)
            return -1;
    }
    if (*p != '\0')
        return fail(err, errlen, "unexpected text after the time");

    int64_t secs;
    if (t.has_zone) {
        secs = days_from_civil(t.year, t.mon, t.day) * 86400 + t.hour * 3600 + t.min * 60 + t.sec -
               t.zone_sec;
    } else if (local_to_epoch(&t, &secs, err, errlen) < 0) {
        return -1;
    }
    *ms = secs * 1000 + t.msec;
    return 0;
}

char *lms_time_format(int64_t ms, char *buf)
{
    /* floor division, so times before 1970 print the second they fall in */
    int64_t secs = ms / 1000 - (ms % 1000 < 0);
    time_t tt = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, LMS_TIME_BUFSZ, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, LMS_TIME_BUFSZ, "@%lld", (long long)ms);
    return buf;
}

int64_t lms_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SPDX-License-Identifier: MIT */
/*
 * isotime.h: the ISO 8601 times the command-line clients read and print.
 * The protocol counts milliseconds since the Unix epoch; users type
 * "2026-12-01T23:59:00Z", "2026-12-01T23:59:00+01:00", "2026-12-01T23:59",
 * "2026-12-01 23:59" or "2026-12-01" (a time without a zone is local time
 * per TZ) and read "2026-12-01T23:59:00Z" back.
 */
#ifndef LMS_CLIENTS_ISOTIME_H
#define LMS_CLIENTS_ISOTIME_H

#include <stddef.h>
#include <stdint.h>

/* Room for any formatted time, the terminating NUL included. */
#define LMS_TIME_BUFSZ 40

/*
 * Parse an ISO 8601 date or date-time into milliseconds since the epoch.
 * Accepted: YYYY-MM-DD, then optionally 'T', 't' or ' ' and HH:MM, :SS,
 * a fraction .fff (digits past milliseconds are dropped), and a zone
 * Z, +HH:MM, +HHMM or +HH (or '-'). Fields are range-checked (February 30th
 * is refused). Returns 0, or -1 with a short reason in err.
 */
int lms_time_parse(const char *s, int64_t *ms, char *err, size_t errlen);

/* Format ms as YYYY-MM-DDTHH:MM:SSZ in UTC (milliseconds are dropped).
 * Returns buf, which must hold LMS_TIME_BUFSZ bytes. */
char *lms_time_format(int64_t ms, char *buf);

/* Milliseconds since the epoch now, by the wall clock. */
int64_t lms_time_now_ms(void);

#endif

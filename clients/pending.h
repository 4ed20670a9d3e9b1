/* SPDX-License-Identifier: MIT */
/*
 * pending.h: the write whose outcome is unknown, kept between runs so that
 * running the same command again is safe.
 *
 * When a write ends without an answer from the cluster (lmsclient.h,
 * LMS_CLIENT_UNKNOWN), it may or may not be stored. The CLI keeps its
 * (client_id, seq) in DIR/pending (DIR as for the session file) with a
 * salted SHA-256 digest of the request: the program, the session's user
 * and the request body (never the request itself, which may hold a
 * password). The next write whose digest matches is sent with that
 * (client_id, seq): the cluster then answers it from its record of the
 * first one (the same submission id, the same attempt) instead of applying
 * it again, or applies it if the first never arrived. Any other write
 * replaces the file; a definite answer removes it. The file is written
 * before the request goes out, so a CLI killed mid-call leaves it too.
 *
 *   {"client_id": "5f1c...", "seq": 1, "salt": "...", "digest": "...",
 *    "written": 1796169540000}
 *
 * The cluster keeps a client's record for 24 hours (SM_CLIENT_RECORD_TTL_MS);
 * a pending write older than LMS_PENDING_MAX_AGE_MS is not reused.
 */
#ifndef LMS_CLIENTS_PENDING_H
#define LMS_CLIENTS_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.pb-c.h"

#define LMS_PENDING_FILE "pending"
#define LMS_PENDING_MAX_AGE_MS (23LL * 3600 * 1000)

struct lms_pending {
    uint64_t client_id, seq;
    uint8_t salt[16];
    uint8_t digest[32];
    int64_t written; /* ms since the epoch */
};

/* The digest of req as a write of prog by user (NULL: none), under salt:
 * the request's id, client_id, seq and token do not count. */
void lms_pending_digest(const uint8_t salt[16], const char *prog, const char *user,
                        const Lms__Request *req, uint8_t out[32]);

/* Load DIR/pending: 0, or -1 when there is none or it is damaged (then it
 * is ignored, as if there were none). */
int lms_pending_load(const char *dir, struct lms_pending *p);

/* Does p hold req (same digest) and is it young enough to be reused? */
bool lms_pending_matches(const struct lms_pending *p, const char *prog, const char *user,
                         const Lms__Request *req, int64_t now_ms);

/* A new record for req sent as (client_id, seq), with a fresh salt. */
void lms_pending_make(struct lms_pending *p, uint64_t client_id, uint64_t seq, const char *prog,
                      const char *user, const Lms__Request *req, int64_t now_ms);

/* Write p as DIR/pending (replacing any). 0, or -1 with err. */
int lms_pending_save(const char *dir, const struct lms_pending *p, char *err, size_t errlen);

/* Remove DIR/pending. */
void lms_pending_remove(const char *dir);

#endif

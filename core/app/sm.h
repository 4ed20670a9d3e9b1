/* SPDX-License-Identifier: MIT */
/*
 * sm.h: the state machine. sm_apply() is the one place where the rules of
 * the LMS decide (roles, enrolment, deadlines, cut-offs, attempt limits,
 * file size limits, the tutor's daily limit); the rules themselves are
 * the predicates of rules.h, which the handlers' early checks call too.
 * It is deterministic: it reads only the command (with the
 * leader's time stamp and the actor) and the stored state, so every node
 * and every storage backend reaches the same state from the same log.
 *
 * The caller opens the storage transaction (begin), applies one or more
 * commands, and commits with the index of the last one. Rule violations are
 * results, not errors: res->status says why a command was refused and the
 * state is unchanged. sm_apply returns non-LMS_OK only when storage fails,
 * which is fatal for the node (it must not diverge from its peers).
 */
#ifndef LMS_CORE_SM_H
#define LMS_CORE_SM_H

#include "command.pb-c.h"
#include "rules.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <lms/storage.h>

struct filestore;

typedef struct sm {
    const struct lms_storage_ops *ops;
    void *st; /* storage instance */
    /* The file store (core/base/filestore.h): the bodies of submissions and
     * materials, put there by apply before the rows that name them. */
    struct filestore *files;
    /* A sequence lock on who a token stands for (sessions and users):
     * written on the storage thread, read anywhere. Odd while a change to
     * them (a session created or deleted, users created or imported,
     * housekeeping, a snapshot installed) is applied and not yet committed
     * or rolled back (sm_auth_begin, sm_auth_end); even, and higher, once
     * it is. A reader loads it before its read transaction begins: what it
     * reads under an even value v is what v stands for until the value
     * moves. Caches of authentication (dispatch.c) hold only what was read
     * under an even value, and only while it is the current one. */
    _Atomic uint64_t auth_epoch;
} sm;

/* Per-row outcome of an import. */
typedef struct sm_row_result {
    uint32_t line;
    char name[LMS_NAME_MAX + 1];
    int status;
    char message[200];
} sm_row_result;

typedef struct sm_result {
    int status;          /* enum lms_status */
    char message[256];   /* why, when status != LMS_OK */
    uint64_t id;         /* the object created or acted on */
    int deduplicated;    /* answered from the client's record of a retry */
    sm_row_result *rows; /* import_users only; malloc'd */
    size_t nrows;
} sm_result;

/* How long the record of a client's last write is kept for dedup. */
#define SM_CLIENT_RECORD_TTL_MS (24LL * 3600 * 1000)

/* The author of the reply that holds a tutor's answer. */
#define SM_TUTOR_AUTHOR "tutor"

/* The rule for sharing needs to know whether query_id has a reply by one
 * of course's instructors (as they are now: those replies are what the
 * students and the tutor get): *yes = 1 when it has. Storage thread;
 * apply and the handler read it, rule_share (rules.h) decides. */
int sm_instructor_replied(const struct lms_storage_ops *ops, void *st,
                          const char *course, uint64_t query_id, int *yes,
                          lms_err *err);

/* Apply the command at log index `index`. See above for the contract.
 * res is reset on entry; on LMS_OK the caller owns res->rows (free with
 * sm_result_free). A deduplicated answer is the whole first answer
 * (status, message, id and an import's per-row report). On failure err
 * says what failed and nothing is left allocated in res. */
/* Storage thread: users or sessions are about to change (auth_epoch
 * becomes odd, if it is not already); the change is not committed yet. */
void sm_auth_begin(sm *m);
/* Storage thread: the changes since sm_auth_begin are committed or rolled
 * back (auth_epoch becomes even again; nothing if it is). */
void sm_auth_end(sm *m);
/* May what was read under epoch e be cached? (e is even: no change was in
 * flight when it was loaded.) */
static inline int sm_auth_stable(uint64_t e) { return (e & 1) == 0; }

int sm_apply(sm *m, uint64_t index, const Lms__Command *cmd, sm_result *res,
             lms_err *err);
void sm_result_free(sm_result *res);

/* A write (client_id, seq) against the client's record r: 0 when seq is
 * newer (apply it); 1 when the record answers it, in res: the recorded
 * answer for the same seq (deduplicated set; rows malloc'd), or the
 * refusal of an older seq, or of the same seq sent with another request
 * (request: its digest, Command.request; the record keeps the first one's;
 * empty on either side: not compared); -1 when out of memory. The one
 * rule for apply and for a leader answering a retry before proposing
 * (dispatch.c). */
int sm_record_answer(const lms_client_record *r, uint64_t seq, const uint8_t *request,
                     size_t request_len, sm_result *res);

/* Find the course whose code is code, ignoring ASCII case: a code keeps
 * the case it was created with, and any case finds it. An exact match
 * wins; otherwise the one stored code that equals code ignoring case.
 * LMS_NOT_FOUND (err cleared) when there is none, or when several stored
 * codes differ from code only in case (only data stored before codes were
 * case-insensitive can hold such codes); other statuses are storage
 * failures with err set. On LMS_OK, out->code equals code ignoring ASCII
 * case (so it has the same length). Deterministic: it reads only the
 * store. */
int sm_course_find(const struct lms_storage_ops *ops, void *st, const char *code,
                   lms_course *out, lms_err *err);

#endif

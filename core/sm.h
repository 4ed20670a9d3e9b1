/*
 * sm.h: the state machine. sm_apply() is the one place where the rules of
 * the LMS live (roles, enrolment, deadlines, cut-offs, attempt limits, file
 * size limits, the tutor's daily limit). It is deterministic: it reads only the command (with the
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

#include <inttypes.h>
#include <lms/storage.h>

typedef struct sm {
    const struct lms_storage_ops *ops;
    void *st; /* storage instance */
    /* Storage thread: moves whenever who a token stands for may have
     * changed (a session created or deleted, users created or imported,
     * housekeeping, a snapshot installed); caches of authentication
     * (dispatch.c) hold only what they saw under the current value. */
    uint64_t auth_epoch;
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

/* The longest text field of a command: a description, feedback, a
 * question, a reply, a note, a system prompt (handlers check it early). */
#define SM_TEXT_MAX (64 * 1024)

/* ---- the tutor -------------------------------------------------------- */

#define SM_DAY_MS (24LL * 3600 * 1000)
/* The longest tutor answer a CmdTutorExchange may carry (lmsd cuts longer
 * ones before proposing), the highest daily limit, and the author of the
 * reply that holds a tutor's answer. */
#define SM_TUTOR_ANSWER_MAX (256 * 1024)
#define SM_TUTOR_LIMIT_MAX 10000
#define SM_TUTOR_AUTHOR "tutor"

/* The start (ms) of the UTC day holding ms: a daily limit counts the tutor
 * questions created in [sm_utc_day(t), sm_utc_day(t) + SM_DAY_MS). */
int64_t sm_utc_day(int64_t ms);
/* The words for the daily limit's refusal, shared by apply and the
 * handler's early check. */
void sm_tutor_limit_message(char *buf, size_t n, uint32_t limit, const char *course);
/* How a student asks the instructors instead of the tutor, for messages: a
 * format taking the course code. */
#define SM_ASK_INSTRUCTOR \
    "lms-student ask --course %.64s --instructor \"your question\""

/* ---- sharing a question with the course -------------------------------- */

/* The refusals of a share, shared by apply and the handler's early check:
 * the first takes no argument, the second the query id. */
#define SM_SHARE_TUTOR                                                          \
    "is an exchange with the tutor; only questions to the instructors can be "  \
    "shared"
#define SM_SHARE_NO_REPLY                                                       \
    "has no reply from an instructor of its course yet, so there is nothing "   \
    "to share; reply first: lms-instructor reply %" PRIu64 " --share TEXT"
/* The rule for sharing: *yes = 1 when query_id has a reply by one of
 * course's instructors (as they are now: those replies are what the
 * students and the tutor get). Storage thread; apply and the handler. */
int sm_instructor_replied(const struct lms_storage_ops *ops, void *st,
                          const char *course, uint64_t query_id, int *yes,
                          lms_err *err);

/* Apply the command at log index `index`. See above for the contract.
 * res is reset on entry; on LMS_OK the caller owns res->rows (free with
 * sm_result_free). A deduplicated answer carries status, message and id
 * only (an import's per-row report is not kept). On failure err says what
 * failed and nothing is left allocated in res. */
int sm_apply(sm *m, uint64_t index, const Lms__Command *cmd, sm_result *res,
             lms_err *err);
void sm_result_free(sm_result *res);

#endif

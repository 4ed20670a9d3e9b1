/* SPDX-License-Identifier: MIT */
/*
 * storage.h: storage plugins (kind LMS_PLUGIN_STORAGE).
 *
 * A storage plugin keeps the state machine's tables. lmsd calls it from one
 * storage thread only, so an instance needs no locking. The rules (who may
 * do what, deadlines, limits) live in lmsd's apply(), not here: a plugin
 * stores and finds, and every backend must return the same rows in the same
 * order for the same calls, so that nodes with different backends agree.
 *
 * Writes happen only between begin() and commit(); commit() records the
 * Raft index of the last applied command in the same transaction, so after
 * a crash lmsd replays exactly the commands after applied_index().
 *
 * Conventions:
 *  - Every call returns LMS_OK or an lms_status and fills err.
 *  - get calls return LMS_NOT_FOUND (err may be left empty) when no row
 *    matches. They fill a caller-owned struct; its pointer fields (long
 *    texts, blobs) stay valid until the next call on the same instance.
 *  - list calls invoke each(arg, row) per row; row and everything it points
 *    to are valid only during the callback. A nonzero return from each()
 *    stops the walk, and the list call returns LMS_OK.
 *  - Names and codes are at most LMS_NAME_MAX bytes, titles LMS_TITLE_MAX,
 *    file names LMS_FILENAME_MAX (UTF-8, no NUL); lmsd checks before it
 *    proposes, so a plugin may truncate but must not overflow.
 *  - A full store: LMS_RESOURCE_EXHAUSTED from begin(), commit() or a
 *    write between them means the disk (or quota) is full, and nothing
 *    else. lmsd rolls back, holds the batch and retries it until space is
 *    freed; so out of memory, a value too big and other failures must use
 *    another code (INTERNAL, INVALID_ARGUMENT), or they are retried forever.
 *  - A store that cannot be reached (a database server's connection lost
 *    and not regained): LMS_UNAVAILABLE, and nothing else. From begin(),
 *    a write or commit(), lmsd rolls back (rollback() on a dead connection
 *    must return LMS_OK), holds the batch and retries it, as for a full
 *    store; commit() may return it even when the commit happened (its
 *    answer lost), because before each retry lmsd reads applied_index()
 *    and does not apply again a batch at or below it. So commit() must
 *    never return LMS_OK for a commit it is not sure of. A plugin that can
 *    reconnect does so by itself at the next begin() or read.
 *  - Times are int64 milliseconds since the epoch; 0 means "none".
 *  - Unless said otherwise, lists are ordered by id (or by name/code).
 */
#ifndef LMS_STORAGE_H
#define LMS_STORAGE_H

#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LMS_NAME_MAX 64
#define LMS_TITLE_MAX 200
#define LMS_FILENAME_MAX 255

enum lms_role {
    LMS_ROLE_NONE = 0,
    LMS_ROLE_STUDENT = 1,
    LMS_ROLE_INSTRUCTOR = 2,
    LMS_ROLE_ADMIN = 3,
    /* An enrolment role only, never a user's: a teaching assistant of the
     * course (grades, answers questions; changes none of its settings). */
    LMS_ROLE_TA = 4,
};

typedef struct lms_user {
    char name[LMS_NAME_MAX + 1];
    char full_name[LMS_TITLE_MAX + 1];
    int role; /* enum lms_role */
    const char *password_hash;
    int64_t created;
} lms_user;

typedef struct lms_course {
    char code[LMS_NAME_MAX + 1];
    char title[LMS_TITLE_MAX + 1];
    int64_t created;
    int my_role; /* course_list with a user: that user's enrolment role */
} lms_course;

typedef struct lms_enrolment {
    char course[LMS_NAME_MAX + 1];
    char user[LMS_NAME_MAX + 1];
    int role; /* LMS_ROLE_STUDENT, LMS_ROLE_INSTRUCTOR or LMS_ROLE_TA */
} lms_enrolment;

typedef struct lms_assignment {
    uint64_t id;
    char course[LMS_NAME_MAX + 1];
    char title[LMS_TITLE_MAX + 1];
    const char *description; /* never NULL in rows handed out ("" if none) */
    int64_t due;
    int64_t cutoff; /* 0: none */
    double max_points;
    uint32_t max_attempts; /* 0: unlimited */
    uint64_t max_size;     /* bytes */
    int hold_grades;
    int released;
    int64_t created;
    char created_by[LMS_NAME_MAX + 1];
} lms_assignment;

typedef struct lms_extension {
    uint64_t assignment_id;
    char student[LMS_NAME_MAX + 1];
    int64_t until;
} lms_extension;

typedef struct lms_submission {
    uint64_t id;
    uint64_t assignment_id;
    char student[LMS_NAME_MAX + 1];
    char file_name[LMS_FILENAME_MAX + 1];
    uint64_t size;
    uint8_t sha256[LMS_SHA256_LEN];
    int64_t submitted;
    int late;
    uint32_t attempt; /* 1-based, per (assignment, student) */
    int graded;       /* filled by get and list: a grade row exists */
    /* Since ABI 1.2 the body is not the store's: it lives in the host's
     * file store (host.h), named by sha256 and size. data is ignored by
     * put and NULL in every row handed out. */
    const void *data;
} lms_submission;

typedef struct lms_grade {
    uint64_t submission_id;
    double grade;
    const char *feedback; /* never NULL in rows handed out */
    char grader[LMS_NAME_MAX + 1];
    int64_t graded;
} lms_grade;

/* A grade with its submission and assignment, for grade_list. */
typedef struct lms_grade_view {
    const lms_grade *grade;
    const lms_submission *submission; /* data is NULL */
    const lms_assignment *assignment; /* description may be "" */
} lms_grade_view;

enum lms_query_kind {
    LMS_QUERY_INSTRUCTOR = 0, /* a question to the course's instructors */
    LMS_QUERY_TUTOR = 1,      /* an exchange with the tutor */
};

typedef struct lms_query {
    uint64_t id;
    char course[LMS_NAME_MAX + 1];
    char student[LMS_NAME_MAX + 1];
    char title[LMS_TITLE_MAX + 1];
    const char *text;
    int64_t created;
    int resolved;
    int kind;                /* enum lms_query_kind */
    uint64_t escalated_from; /* the tutor exchange it came from, or 0 */
    /* kind == LMS_QUERY_TUTOR: how the answer was made ("" otherwise) */
    char provider[LMS_NAME_MAX + 1];
    char model[LMS_TITLE_MAX + 1];
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
    uint32_t latency_ms;
    /* (ABI 1.1) kind == LMS_QUERY_INSTRUCTOR: an instructor shared it with the
     * course (its students see it, the tutor learns from it); 0: private
     * to the student and the course's instructors, as every question
     * starts (and every question stored before the flag existed). */
    int shared;
} lms_query;

/* Per-course tutor settings. */
typedef struct lms_course_settings {
    char course[LMS_NAME_MAX + 1];
    const char *system_prompt; /* NULL or "": the built-in default */
    uint32_t tutor_daily_limit; /* 0: no limit */
} lms_course_settings;

typedef struct lms_reply {
    uint64_t id;
    uint64_t query_id;
    char author[LMS_NAME_MAX + 1];
    const char *text;
    int64_t created;
} lms_reply;

typedef struct lms_material {
    uint64_t id;
    char course[LMS_NAME_MAX + 1];
    char title[LMS_TITLE_MAX + 1];
    char file_name[LMS_FILENAME_MAX + 1];
    uint64_t size;
    uint8_t sha256[LMS_SHA256_LEN];
    char uploaded_by[LMS_NAME_MAX + 1];
    int64_t created;
    const void *data; /* as for lms_submission */
} lms_material;

typedef struct lms_session {
    uint8_t token_hash[LMS_SHA256_LEN];
    char user[LMS_NAME_MAX + 1];
    int64_t created;
    int64_t expires;
} lms_session;

/* The last write of one client, to answer its retries (dedup). */
typedef struct lms_client_record {
    uint64_t client_id;
    uint64_t seq;
    int status;
    char message[256];
    uint64_t result_id;
    int64_t updated;
    /* (ABI 1.1) The rest of the answer, opaque to the store: an import's
     * per-row report (lms.RecordedRows). put: NULL/0 for none; get: valid
     * until the next call, NULL/0 for none. */
    const void *answer;
    size_t answer_len;
} lms_client_record;

typedef int (*lms_each_fn)(void *arg, const void *row);

/* (ABI 1.4) One keyed record (records, below). */
#define LMS_RECORD_KEY_MAX 255              /* bytes, no NUL inside */
#define LMS_RECORD_VALUE_MAX ((size_t)1 << 20)
typedef struct lms_record {
    const char *key;   /* NUL-terminated, 1..LMS_RECORD_KEY_MAX bytes */
    const void *value; /* opaque bytes (lmsd's protobuf); never NULL */
    size_t len;        /* 0..LMS_RECORD_VALUE_MAX */
} lms_record;

/*
 * Snapshots (ABI 1.0, appended). A snapshot is the whole state as a logical,
 * backend-neutral stream of records (proto/snapshot.proto, described in
 * docs/snapshots.md): a header, every row of every table in a canonical
 * form, and a trailer with the record count and the SHA-256 digest of the
 * canonical stream. Two stores with the same state, at the same index, term
 * and configuration, yield the same digest whatever their backend.
 *
 * The Chunk records after a submission's or a material's row carry its
 * body. Since ABI 1.2 the body is the host's (host.h, file store):
 * snapshot_write reads it with file_open/file_read, snapshot_read stores
 * it with file_create/file_write and file_close(keep = 1) before it
 * commits (the host checks it against its name), also for an empty body
 * (no chunks). The stream's format is unchanged.
 */
#define LMS_SNAPSHOT_FORMAT 1
#define LMS_SNAPSHOT_CHUNK 65536 /* bytes of a file per Chunk record */

typedef struct lms_snapshot_header {
    uint64_t index;     /* the applied index the state is at */
    uint64_t term;      /* the Raft term of the entry at index */
    const void *config; /* the Raft configuration at index; opaque bytes */
    size_t config_len;
    int64_t created;    /* ms since the epoch; informational */
    /* Filled by snapshot_read, ignored by snapshot_write: */
    uint32_t format;                  /* LMS_SNAPSHOT_FORMAT */
    char backend[LMS_NAME_MAX + 1];   /* the plugin that wrote it */
} lms_snapshot_header;

/* The sink of snapshot_write: take len bytes; 0 on success, nonzero to
 * abort the snapshot. */
typedef int (*lms_snapshot_write_fn)(void *arg, const void *buf, size_t len);
/* The source of snapshot_read: fill buf with exactly len bytes; 0 on
 * success, nonzero when the stream ends first or fails. */
typedef int (*lms_snapshot_read_fn)(void *arg, void *buf, size_t len);

struct lms_storage_ops {
    size_t size; /* sizeof(struct lms_storage_ops) */

    /* ---- lifecycle (all required) ---- */

    /* Open (creating if needed) from the plugin's config subtree. Does not
     * migrate. */
    int (*open)(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                void **inst, lms_err *err);
    void (*close)(void *inst);
    /* Bring the schema to the plugin's current version; *version is set to
     * it. Idempotent. Refuses a schema newer than the plugin knows. */
    int (*migrate)(void *inst, int *version, lms_err *err);

    /* ---- transactions ---- */
    int (*begin)(void *inst, lms_err *err);
    /* Record applied_index and commit, atomically. */
    int (*commit)(void *inst, uint64_t applied_index, lms_err *err);
    int (*rollback)(void *inst, lms_err *err);
    /* The applied index of the last commit; 0 on a fresh store. */
    int (*applied_index)(void *inst, uint64_t *index, lms_err *err);

    /* ---- users: put inserts, or replaces the row with that name ---- */
    int (*user_put)(void *inst, const lms_user *u, lms_err *err);
    int (*user_get)(void *inst, const char *name, lms_user *out, lms_err *err);
    int (*user_list)(void *inst, lms_each_fn each, void *arg, lms_err *err);
    int (*user_count)(void *inst, uint64_t *n, lms_err *err);

    /* ---- courses and enrolment ---- */
    int (*course_put)(void *inst, const lms_course *c, lms_err *err);
    int (*course_get)(void *inst, const char *code, lms_course *out,
                      lms_err *err);
    /* user == NULL: every course (my_role 0); else the courses user is
     * enrolled in, with my_role set. Ordered by code. */
    int (*course_list)(void *inst, const char *user, lms_each_fn each,
                       void *arg, lms_err *err);
    /* Insert or replace the enrolment of (course, user). */
    int (*enrolment_put)(void *inst, const lms_enrolment *e, lms_err *err);
    /* *role = LMS_ROLE_NONE and LMS_OK when not enrolled. */
    int (*enrolment_get)(void *inst, const char *course, const char *user,
                         int *role, lms_err *err);
    /* Enrolments of a course ordered by user; role 0 means any role. */
    int (*enrolment_list)(void *inst, const char *course, int role,
                          lms_each_fn each, void *arg, lms_err *err);

    /* ---- assignments: put inserts or replaces by id ---- */
    int (*assignment_put)(void *inst, const lms_assignment *a, lms_err *err);
    int (*assignment_get)(void *inst, uint64_t id, lms_assignment *out,
                          lms_err *err);
    /* course == NULL: all assignments. */
    int (*assignment_list)(void *inst, const char *course, lms_each_fn each,
                           void *arg, lms_err *err);
    /* Insert or replace the extension of (assignment_id, student). */
    int (*extension_put)(void *inst, const lms_extension *x, lms_err *err);
    int (*extension_get)(void *inst, uint64_t assignment_id,
                         const char *student, lms_extension *out, lms_err *err);

    /* ---- submissions (never updated; with_data is ignored since ABI 1.2:
     * bodies are the host's, see lms_submission.data) ---- */
    int (*submission_put)(void *inst, const lms_submission *s, lms_err *err);
    int (*submission_get)(void *inst, uint64_t id, int with_data,
                          lms_submission *out, lms_err *err);
    /* assignment_id == 0: any; student == NULL: any; data is NULL. */
    int (*submission_list)(void *inst, uint64_t assignment_id,
                           const char *student, lms_each_fn each, void *arg,
                           lms_err *err);
    int (*submission_count)(void *inst, uint64_t assignment_id,
                            const char *student, uint32_t *n, lms_err *err);

    /* ---- grades: one per submission, put inserts or replaces ---- */
    int (*grade_put)(void *inst, const lms_grade *g, lms_err *err);
    int (*grade_get)(void *inst, uint64_t submission_id, lms_grade *out,
                     lms_err *err);
    /* Graded submissions of course (NULL: any) and student (NULL: any),
     * rows are lms_grade_view, ordered by submission id. */
    int (*grade_list)(void *inst, const char *course, const char *student,
                      lms_each_fn each, void *arg, lms_err *err);

    /* ---- questions to the instructor ---- */
    int (*query_put)(void *inst, const lms_query *q, lms_err *err);
    int (*query_get)(void *inst, uint64_t id, lms_query *out, lms_err *err);
    /* course/student NULL: any. */
    int (*query_list)(void *inst, const char *course, const char *student,
                      lms_each_fn each, void *arg, lms_err *err);
    int (*reply_put)(void *inst, const lms_reply *r, lms_err *err);
    int (*reply_list)(void *inst, uint64_t query_id, lms_each_fn each,
                      void *arg, lms_err *err);

    /* ---- course materials (bodies are the host's, as for submissions) ---- */
    int (*material_put)(void *inst, const lms_material *m, lms_err *err);
    int (*material_get)(void *inst, uint64_t id, int with_data,
                        lms_material *out, lms_err *err);
    int (*material_list)(void *inst, const char *course, lms_each_fn each,
                         void *arg, lms_err *err);

    /* ---- sessions (by SHA-256 of the token) ---- */
    int (*session_put)(void *inst, const lms_session *s, lms_err *err);
    int (*session_get)(void *inst, const uint8_t *token_hash, lms_session *out,
                       lms_err *err);
    int (*session_delete)(void *inst, const uint8_t *token_hash, lms_err *err);
    /* Delete sessions with expires < before. */
    int (*session_prune)(void *inst, int64_t before, lms_err *err);

    /* ---- client dedup records ---- */
    int (*client_get)(void *inst, uint64_t client_id, lms_client_record *out,
                      lms_err *err);
    int (*client_put)(void *inst, const lms_client_record *r, lms_err *err);
    /* Delete records with updated < before. */
    int (*client_prune)(void *inst, int64_t before, lms_err *err);

    /* ---- tutor (ABI 1.0, appended) ---- */
    /* Insert or replace a course's settings; get returns LMS_NOT_FOUND when
     * none were ever set. */
    int (*course_settings_put)(void *inst, const lms_course_settings *s,
                               lms_err *err);
    int (*course_settings_get)(void *inst, const char *course,
                               lms_course_settings *out, lms_err *err);
    /* Number of queries of kind by student in course created in
     * [since, until). */
    int (*query_count)(void *inst, const char *course, const char *student,
                       int kind, int64_t since, int64_t until, uint32_t *n,
                       lms_err *err);

    /* ---- snapshots (ABI 1.0, appended; see lms_snapshot_header) ---- */
    /*
     * Write the whole state, as of one read transaction, to write(arg, ...)
     * as a snapshot stream with h's index, term, config and created; the
     * stream's digest goes to digest. Memory stays bounded whatever the
     * size of the store: files go out in LMS_SNAPSHOT_CHUNK pieces, and
     * write() is called once per record (never more than one row or chunk
     * at a time). Refused (FAILED_PRECONDITION) inside an open transaction
     * or before migrate(). A nonzero return of write() ends the call with
     * LMS_ABORTED; nothing in the store changes in any case.
     */
    int (*snapshot_write)(void *inst, const lms_snapshot_header *h,
                          lms_snapshot_write_fn write, void *arg,
                          uint8_t digest[LMS_SHA256_LEN], lms_err *err);
    /*
     * Replace the entire state with the snapshot read from read(arg, ...),
     * in one transaction that also sets the applied index to the header's
     * index. The trailer's count and digest are checked before committing;
     * a stream that is truncated, malformed, or fails either check is
     * refused with LMS_DATA_LOSS and the store keeps its old state and
     * applied index (as on any other error). On success *out is the
     * header, its config valid until the next call on the instance. Same
     * preconditions as snapshot_write.
     */
    int (*snapshot_read)(void *inst, lms_snapshot_read_fn read, void *arg,
                         lms_snapshot_header *out, lms_err *err);

    /* ---- snapshots in the background (ABI 1.0, appended) ----
     * Writing a large store takes a while; lmsd must not stop applying
     * and serving meanwhile. So it pins the state first, on the storage
     * thread, and streams the pinned view on a thread of its own while
     * the instance goes on as usual (a read transaction on a connection
     * of the view's own is the natural way).
     *
     * snapshot_pin: same thread and preconditions as snapshot_write (no
     * open transaction): *view gets a read-only view of the committed
     * state as it is now, which later writes to the instance do not
     * change. */
    int (*snapshot_pin)(void *inst, void **view, lms_err *err);
    /* Like snapshot_write, of the pinned view, on any one thread at a
     * time, concurrently with every other call on the instance. */
    int (*snapshot_write_view)(void *view, const lms_snapshot_header *h,
                               lms_snapshot_write_fn write, void *arg,
                               uint8_t digest[LMS_SHA256_LEN], lms_err *err);
    /* Release the view (any thread; before the instance is closed). */
    void (*snapshot_unpin)(void *view);

    /* ---- sessions of a user (ABI 1.1, appended) ---- */
    /* The sessions of user, expired ones included, oldest first: ordered
     * by created, then by token_hash (bytewise), so that every store walks
     * them in the same order (lmsd ends the oldest when a user would hold
     * more than limits.max_sessions_per_user). Rows are lms_session. */
    int (*session_list_user)(void *inst, const char *user, lms_each_fn each,
                             void *arg, lms_err *err);

    /* ---- readers (ABI 1.2, appended) ----
     * lmsd answers reads and runs the read-only checks of a write on a
     * small pool of threads beside the one that applies, so that they do
     * not queue behind apply. Each pool thread has a reader of its own.
     *
     * reader_open: on the thread that owns the instance, after migrate()
     * and outside a transaction: *reader gets a handle that sees the
     * committed state of the instance, as of the start of each read
     * transaction on it (so a reader never sees an uncommitted change, and
     * a read begun after commit() returned sees that commit). The handle
     * is passed as `inst` to begin() (a read transaction: what its reads
     * see stays fixed until rollback()), rollback(), applied_index() and
     * every *_get, *_list and *_count op; those calls on one reader run on
     * one thread at a time, concurrently with every call on the instance
     * and on other readers. A write through a reader is refused
     * (FAILED_PRECONDITION). A backend that cannot read beside its writer
     * returns LMS_UNIMPLEMENTED: lmsd then reads on the instance's own
     * thread, as before ABI 1.2. */
    int (*reader_open)(void *inst, void **reader, lms_err *err);
    /* Close a reader (any thread, before the instance is closed; no
     * transaction of the reader may be open across it). NULL-safe. */
    void (*reader_close)(void *reader);

    /* ---- the host's records about the store (ABI 1.3, appended) ----
     * A few short named values that lmsd keeps in the store about the
     * store itself, not about the state: which node of which cluster owns
     * it ("owner"), so that a node never runs on another node's store
     * (two nodes given one database) or on a store of another cluster.
     * They are not part of any snapshot: snapshot_write leaves them out
     * (digests do not change), and snapshot_read keeps them. The plugin
     * keeps them apart from its own records (a table of their own).
     * Instance only (not readers), storage thread.
     *
     * meta_get: the value of key into out (cap bytes, NUL-terminated);
     * LMS_NOT_FOUND when it has none, LMS_OUT_OF_RANGE when it does not
     * fit. meta_put: inside a transaction (committed with it), insert or
     * replace. Keys are at most LMS_NAME_MAX bytes of [a-z0-9_], values
     * at most LMS_TITLE_MAX bytes of UTF-8; others are INVALID_ARGUMENT.
     * (A plugin built against ABI 1.2 had neither; since 1.4 lmsd loads
     * only storage plugins built against 1.4 or later, so both are there.) */
    int (*meta_get)(void *inst, const char *key, char *out, size_t cap,
                    lms_err *err);
    int (*meta_put)(void *inst, const char *key, const char *value,
                    lms_err *err);

    /* ---- records (ABI 1.4, appended) ----
     * lmsd's newer state (account flags, announcements, grade history,
     * material versions, inbox marks...) as opaque values under byte-string
     * keys, one generic table instead of a typed table per feature in
     * every backend. Replicated state like the tables: written only
     * between begin() and commit() (FAILED_PRECONDITION otherwise, and
     * through a reader), discarded by rollback(), part of every snapshot
     * (record rows in key order: docs/snapshots.md), readable on readers
     * (each reader sees its own read transaction's view).
     *
     * Keys are 1..LMS_RECORD_KEY_MAX bytes of anything but NUL (lmsd builds
     * them like "acct/alice", "ann/CS101/00000000000000000042"), ordered
     * bytewise: memcmp, the shorter first on a tie (SQLite's BINARY,
     * MariaDB's VARBINARY), so 0x01 < "A" < "a" < non-ASCII < 0xff.
     * Values are 0..LMS_RECORD_VALUE_MAX bytes, stored and returned byte
     * for byte. An empty key, a longer key or value, or a value NULL with
     * len > 0 is LMS_INVALID_ARGUMENT (never truncated), as is a prefix
     * or cursor longer than LMS_RECORD_KEY_MAX. */

    /* Insert, or replace the value under key. */
    int (*record_put)(void *inst, const char *key, const void *value,
                      size_t len, lms_err *err);
    /* The record under key into *out: LMS_NOT_FOUND when there is none.
     * out->key is key; out->value (never NULL, also for len 0) stays
     * valid until the next call on inst. */
    int (*record_get)(void *inst, const char *key, lms_record *out,
                      lms_err *err);
    /* Delete the record under key; LMS_OK also when there is none. */
    int (*record_delete)(void *inst, const char *key, lms_err *err);
    /* The records whose key starts with prefix (NULL or "": all), in key
     * order (reverse nonzero: descending), starting strictly after
     * `after` (strictly before it, when reverse; NULL or "": from the
     * first, or the last): after is the last key of the previous page, a
     * cursor. each(arg, r) per record, r and what it points to valid
     * during the call; a nonzero return stops the walk (LMS_OK). A
     * prefix ending in 0xff bytes is a prefix like any other. */
    int (*record_list)(void *inst, const char *prefix, const char *after,
                       int reverse, int (*each)(void *arg, const lms_record *r),
                       void *arg, lms_err *err);
};

#ifdef __cplusplus
}
#endif
#endif /* LMS_STORAGE_H */

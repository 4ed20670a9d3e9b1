/* SPDX-License-Identifier: MIT */
/*
 * handlers.h: what a request handler sees (internal to core/).
 *
 * A handler is a row in the table of handlers.c: the request body it
 * serves, the global roles allowed to call it, and up to four functions.
 *
 *   prepare(r)  a reader thread (or the storage thread when there are no
 *               readers), inside a read transaction of its own storage
 *               handle (req_st): it only reads, and never sees anything
 *               the loop or the storage thread owns but the request. r->who
 *               is the authenticated caller (unless roles == 0). Either
 *               answer (fill r->resp via the body
 *               setters, or req_fail) and return NEXT_RESPOND, fill r->cmd's
 *               body and return NEXT_PROPOSE, return NEXT_WORK for work(),
 *               set r->tutor_q and return NEXT_TUTOR, or set r->scratch to
 *               a conf_change_req and return NEXT_CONF.
 *   work(r)     worker thread, no storage access: blocking work (hashing).
 *               Returns NEXT_RESPOND or NEXT_PROPOSE like prepare.
 *   answered(r, res)  loop, no storage access: the tutor answered
 *               r->tutor_q (or failed to). Returns NEXT_RESPOND or
 *               NEXT_PROPOSE like prepare. Meanwhile the engine sends
 *               each piece of a streamed answer to the client as a partial
 *               Response, and cancels the question if the client leaves.
 *   applied(r)  storage thread, after the command was applied with
 *               r->res.status == LMS_OK (refusals are answered by the
 *               engine): fill the answer, typically by reading back r->res.id.
 *
 * Everything a handler allocates for the answer or the command comes from
 * the request's arena (req_alloc, req_strdup) and is freed with it.
 * Checks in prepare are early rejections only: sm_apply decides. Both ask
 * the same predicates (rules.h), so both refuse with the same words.
 *
 * A row of a handler table is written with designated initializers; what
 * a handler does not have (work, applied, answered) is left out.
 */
#ifndef LMS_CORE_HANDLERS_H
#define LMS_CORE_HANDLERS_H

#include "assignments.h"
#include "client.pb-c.h"
#include "command.pb-c.h"
#include "dispatch.h"
#include "login_guard.h"
#include "rules.h"
#include "tutor_runtime.h"

#include <stdbool.h>

typedef enum next_step {
    NEXT_RESPOND = 0,
    NEXT_PROPOSE = 1,
    NEXT_WORK = 2,
    NEXT_TUTOR = 3,
    NEXT_CONF = 4, /* change the membership: r->scratch is a conf_change_req */
    NEXT_BACKUP = 5, /* stream a backup (handlers_backup.c, backup_start) */
} next_step;

/* NEXT_CONF: what prepare asks the engine to propose (node.h,
 * node_change_members); the answer is the proposal's, as for a command. */
typedef struct conf_change_req {
    int type; /* RAFT_CONF_ADD_LEARNER, RAFT_CONF_PROMOTE, RAFT_CONF_REMOVE */
    uint64_t id;
    const char *peer_addr, *client_addr;
} conf_change_req;

typedef struct req req;

#define ROLE_BIT(r) (1u << (r))
#define ROLES_NO_SESSION 0u /* anyone, signed in or not (login) */
#define ROLES_ANY (ROLE_BIT(LMS_ROLE_STUDENT) | ROLE_BIT(LMS_ROLE_INSTRUCTOR) | ROLE_BIT(LMS_ROLE_ADMIN))
#define ROLES_STUDENT ROLE_BIT(LMS_ROLE_STUDENT)
#define ROLES_INSTRUCTOR ROLE_BIT(LMS_ROLE_INSTRUCTOR)
#define ROLES_ADMIN ROLE_BIT(LMS_ROLE_ADMIN)

typedef struct handler {
    Lms__Request__BodyCase body;
    const char *name;
    unsigned roles; /* ROLES_NO_SESSION: no session needed (login) */
    next_step (*prepare)(req *r);
    next_step (*work)(req *r);     /* NULL: none */
    void (*applied)(req *r);       /* NULL: the engine answers OK */
    next_step (*answered)(req *r, const tutor_result *res); /* NULL: none */
    /* served while the caller's password is a one-time one that must be
     * changed first (passwd, whoami, logout); every other request is then
     * refused with FAILED_PRECONDITION */
    bool before_new_password;
    /* its work stage checks a password the caller typed (passwd's
     * current one): the login guard admits it once prepare knows whose,
     * and counts its verdict (r->login_verdict) as a login's */
    bool checks_password;
} handler;

typedef struct arena_chunk arena_chunk;

struct req {
    node_proposal prop; /* first: the node hands it back */
    dispatch *d;
    const handler *h;
    conn *c;
    Lms__Request *msg;
    arena_chunk *arena;
    int64_t now; /* ms, when the request started */

    /* the caller, once authenticated */
    struct {
        char name[LMS_NAME_MAX + 1];
        char full_name[LMS_TITLE_MAX + 1];
        int role;
        int64_t created;
        int64_t session_expires;
        uint8_t token_hash[32];
        int must_change; /* a one-time password (accounts.h) */
    } who;

    Lms__Response resp;
    Lms__Command cmd;  /* handlers set the body; the engine the rest */
    sm_result res;     /* during applied(): the apply result */
    blob *out;         /* the packed answer frame */
    blob *cmd_blob;
    next_step step;    /* engine: what the last stage asked for */
    req *batch_next;   /* engine: the next request of its prepare batch */
    int unconfirmed;   /* engine: a write that skipped the read barrier; an
                        * answer decided before proposing waits for one */
    uint64_t term;     /* engine: the leader's term when it took the request */
    int authenticated; /* engine: its token was valid, or a login succeeded
                        * (set off the loop; req_free marks the connection) */
    int held;          /* engine: a large answer; the connection holds */
    size_t frame_len;  /* engine: the request's frame, in bytes */
    req *key_next;     /* engine: next proposal in flight in its bucket */
    int keyed;         /* engine: in the table of proposals in flight */
    int from_record;   /* engine: answered from the client's dedup record */
    int copy_in_flight; /* engine: decided while an earlier copy was in flight */
    int digested;      /* engine: request_digest is set (request_digest()) */
    uint8_t request_digest[32];
    lms_tutor_question *tutor_q; /* NEXT_TUTOR: the question (arena) */
    login_waiter login; /* engine: a login's (passwd's) place in the guard */
    int login_verdict;  /* login's and passwd's work(): enum login_verdict */
    uint64_t t_in, t_queued; /* engine: metrics_now() at the frame, at the
                              * prepare queue (metrics.h) */
    void *st;          /* engine: the storage handle of the prepare stage
                        * (a reader), NULL elsewhere (req_st) */
    int token_hashed;  /* engine: who.token_hash is the token's */
    int auth_read;     /* engine: who was read from storage, by prepare */
    uint64_t auth_epoch; /* engine: sm.auth_epoch under which who was read */
    uint64_t snap_index; /* engine: the applied index prepare read at */
    dispatch_limits limits; /* engine: the loop's when the frame came */
    /* engine: the client's (rule_request_id), or one the server made */
    char request_id[RULE_REQUEST_ID_MAX + 1];

    /* handler scratch, lives as long as the request */
    void *scratch;
    char secret[128]; /* e.g. a token or password; wiped at the end */
};

/* The handler table and its lookup. */
const handler *handler_find(Lms__Request__BodyCase body);

/* Engine services for handlers. */
void *req_alloc(req *r, size_t n);      /* zeroed; never NULL (aborts on OOM) */
/* A large block of the arena, not zeroed: NULL when memory is short (a
 * file's body: the request is refused, the process goes on). */
void *req_alloc_try(req *r, size_t n);
char *req_strdup(req *r, const char *s);
void *req_memdup(req *r, const void *p, size_t n);
next_step req_fail(req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A storage error while preparing: INTERNAL, logged with the handler name. */
next_step req_storage_error(req *r, const lms_err *err);
const struct lms_storage_ops *req_ops(req *r);
void *req_st(req *r);
const dispatch_options *req_opts(req *r);
/* The limits the request is judged by (dispatch_limits). Any thread. */
const dispatch_limits *req_limits(req *r);
/* Caller's enrolment role in course into *role (LMS_ROLE_NONE if none);
 * LMS_OK, or the storage's error in err (never taken for "not enrolled":
 * a store that cannot be reached must not turn into a refusal). */
int req_course_role(req *r, const char *course, int *role, lms_err *err);

/* Fill protobuf messages from storage rows (strings copied to the arena). */
Lms__User *pb_user(req *r, const lms_user *u);
Lms__Course *pb_course(req *r, const lms_course *c);
Lms__Assignment *pb_assignment(req *r, const lms_assignment *a);
Lms__Submission *pb_submission(req *r, const lms_submission *s);
Lms__Query *pb_query(req *r, const lms_query *q);
Lms__Reply *pb_reply(req *r, const lms_reply *x);
Lms__Material *pb_material(req *r, const lms_material *m);

/* A growable array of pointers in the arena, for repeated fields. */
typedef struct ptr_vec {
    void **v;
    size_t n, cap;
} ptr_vec;
void ptr_vec_push(req *r, ptr_vec *pv, void *p);

/* Handler groups (one file each) export their prepare/applied functions
 * through these tables, merged by handlers.c. */
extern const handler handlers_account[];
extern const handler handlers_work[];
extern const handler handlers_talk[];
extern const handler handlers_tutor[];
extern const handler handlers_cluster[];
extern const handler handlers_backup[];
extern const handler handlers_grading[];
extern const handler handlers_assignment[];
extern const handler handlers_inbox[]; /* announcements and the inbox */

/* handlers_grading.c, shared with handlers_work.c */
/* The caller's own standing in assignment a when they take its course as
 * a student (as_student): the due time and cut-off after their extension
 * (my_due, my_cutoff), the attempts used and the last one's time
 * (my_attempts, my_last_submitted); nothing for its staff. 0, or -1 with
 * the storage error answered. */
int req_assignment_mine(req *r, Lms__Assignment *a);
/* Instructors' marks on the submissions subs (Lms__Submission *, all of
 * one assignment, every student's every attempt): each whose SHA-256
 * equals a submission of another student gets identical_to (the earliest
 * such), identical_student and identical_count (how many other students).
 * Students never get these (callers do not mark their lists). */
void req_mark_identical(req *r, const ptr_vec *subs);
extern const handler handlers_corrections[];

/* ---- handlers_assignment.c: what an assignment's record (assignments.h)
 * adds to the reads of assignments, submissions and grades ------------ */

/* Load assignment id and its state (x may be NULL): 0, or -1 answered
 * (NOT_FOUND "assignment N does not exist", for a deleted one too).
 * a->description lasts until the next storage call. */
int req_load_assignment(req *r, uint64_t id, lms_assignment *a, asg_state *x);
/* applied(): answer with assignment id as it is now, in the view of its
 * instructors (the caller: they create, change and release it). */
void req_answer_assignment(req *r, uint64_t id);
/* Fill m's fields from its record: the late penalty, hidden and when it
 * was last changed; staff (of its course, or an admin) also get who
 * changed it, how often, and the last changes. */
void pb_assignment_state(req *r, Lms__Assignment *m, const asg_state *x, int staff);

/* Keep of pv's assignments (Lms__Assignment *, in course order) those the
 * caller may see, with their records' fields: none that was deleted, and
 * a hidden one only where the caller is staff (an instructor or TA of its
 * course) or an admin. 0, or -1 answered. */
int req_assignments_visible(req *r, ptr_vec *pv);
/* The same for one assignment m with its state x (loaded by
 * req_load_assignment, so not deleted): a hidden one is refused to a
 * caller who is not staff (rule_assignment_visible). 0, or -1 answered. */
int req_assignment_visible(req *r, Lms__Assignment *m, const asg_state *x);

/* How late a submission is, judged now: by its assignment's due time as it
 * is now, moved by the student's extension (rule_effective_times). A
 * late_cache (NULL at first, then the arena's) keeps the assignments seen
 * over one request. */
typedef struct late_cache late_cache;
typedef struct lateness {
    uint32_t days;         /* started days late (rule_days_late); 0: on time */
    uint32_t late_penalty; /* the assignment's percent per day */
} lateness;
/* The started days late of a submission at submitted by student to
 * assignment aid, due at due (the extension is looked up only when it is
 * past due). 0, or -1 answered (a storage error). */
int req_days_late(req *r, uint64_t aid, int64_t due, const char *student, int64_t submitted,
                  uint32_t *days);
/* The same, the assignment's due time and penalty found through lc. 0, or
 * -1 answered. */
int req_lateness(req *r, late_cache **lc, uint64_t assignment_id, const char *student,
                 int64_t submitted, lateness *out);
/* Set each submission's late flag as judged now (the stored one is as it
 * was judged when it was handed in). 0 or -1 answered. */
int req_fix_late(req *r, Lms__Submission *const *v, size_t n);
/* The late policy's fields of g (grade, max_points set) for lateness l. */
void req_set_penalty(Lms__GradeEntry *g, const lateness *l);
/* req_set_penalty for each grade, by its assignment_id, student and
 * submitted. 0 or -1 answered. */
int req_grade_penalties(req *r, Lms__GradeEntry *const *v, size_t n);

/* handlers_backup.c: NEXT_BACKUP, on the loop: stream the backup to the
 * client as partial Responses, then answer (req_answer). */
void backup_start(req *r);
/* Loop: pack r->resp, send it and end the request (dispatch.c). */
void req_answer(req *r);

/* handlers_cluster.c: loop-owned state (Raft's) that a handler answers
 * from, taken on the loop after the read barrier and before prepare(). */
void handlers_loop_snapshot(req *r);

/* handlers_tutor.c: the tutor's half of `ask` (the AskRequest with tutor
 * set), for the ask row of handlers_talk. */
next_step tutor_ask_prepare(req *r);
next_step tutor_ask_answered(req *r, const tutor_result *res);

/* handlers_talk.c, shared with handlers_tutor.c */
/* Fill m->replies, oldest first. Not from inside another list walk. */
int req_attach_replies(req *r, Lms__Query *m);
/* applied(): answer with query id and its replies. */
void req_answer_query(req *r, uint64_t id);

/* handlers_work.c, shared with handlers_corrections.c */
/* Load submission id (without its file) and its assignment: its student
 * may touch their own when own_ok (while a member of its course), the
 * staff of its course any of it (teach: what for). 0, or -1 answered. */
int req_load_submission(req *r, uint64_t id, lms_submission *s, lms_assignment *a,
                        const char *teach, int own_ok);
Lms__GradeEntry *pb_grade(req *r, const lms_grade *g, const lms_submission *s,
                          const lms_assignment *a);

/* handlers_corrections.c, for the lists of the other groups: 0, or -1
 * answered (a storage error). */
/* Keep in materials (Lms__Material *) those its course's students see
 * (not deleted; not a row that keeps an old version: materials.h), with
 * their version set. */
int req_keep_shown_materials(req *r, ptr_vec *materials);
/* The names (char *) of the users who left course (its stored code)
 * having role there (LMS_ROLE_NONE: any), by name (unenrolment.h). */
int req_unenrolled(req *r, const char *course, int role, ptr_vec *names);
/* Leave out the work of those who left: with a course, the submissions
 * (Lms__Submission *) or grades (Lms__GradeEntry *) of the students who
 * left it (a staff list); with NULL, the caller's own in the courses they
 * left (their own list: they no longer have access). */
int req_drop_left_submissions(req *r, const char *course, ptr_vec *subs);
int req_drop_left_grades(req *r, const char *course, ptr_vec *grades);
/* Drop from queries (Lms__Query *) those of the courses the caller left. */
int req_drop_left_queries(req *r, ptr_vec *queries);

/* ---- shared by the work and talk groups (handlers_util.c) ----------
 * Checks return 0, or -1 with the refusal already in r->resp (the
 * handler then returns NEXT_RESPOND). */

/* A get by id: 0 when rc is LMS_OK; else NOT_FOUND "<what> <id> does not
 * exist" (rule_missing), or the storage error. */
int req_got(req *r, int rc, const lms_err *err, const char *what, uint64_t id);
/* The same in applied(): the command took effect but what it wrote cannot
 * be read back, which is the server's fault (INTERNAL, logged). */
int req_read_back(req *r, int rc, const lms_err *err, const char *what,
                  uint64_t id);
/* A rule's verdict st (rules.h) with its reason why: 0 when st is LMS_OK;
 * otherwise -1 with the refusal set. req_verdict_on prefixes the reason
 * with the object it is about ("assignment 7: "), as apply does. */
int req_verdict(req *r, int st, const char *why);
int req_verdict_on(req *r, int st, const char *why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* applied(): answer with material id as stored now, with its version. */
void req_answer_material(req *r, uint64_t id);
/* A file sent to the server's own limit (a material, a new version of
 * one): its name and its size against limits.max_upload_bytes. */
int req_check_upload(req *r, const char *file_name, size_t len);
/* s as the text field f (rule_text). */
int req_check_text(req *r, const rule_field *f, const char *s);

/* What req_check_course requires of the caller in the course (rule_role's
 * needs, or only that the course exists). */
enum course_need {
    COURSE_EXISTS = -1,                        /* nothing: the course exists */
    COURSE_MEMBER = RULE_NEED_MEMBER,          /* enrolled in any role, or admin */
    COURSE_STUDENT = RULE_NEED_STUDENT,        /* enrolled as a student */
    COURSE_INSTRUCTOR = RULE_NEED_INSTRUCTOR,  /* teaches it */
    COURSE_STAFF = RULE_NEED_STAFF,            /* teaches or assists (a TA) */
};
/* The course exists and the caller may verb ("grade it") there
 * (rule_role). Course codes ignore ASCII case (sm_course_find): on success
 * course is rewritten in place to the code as stored, so what follows
 * (lookups, the command, the answer) uses that spelling. */
int req_check_course(req *r, char *course, enum course_need need, const char *verb);
/* The caller's part in course (its stored code): *staff = 1 when they
 * teach or assist in it (all its students' work), 0 when they are one of
 * its students (their own). -1 (answered) when neither: refused in the
 * words of what a caller of their global role could have been (verb: what
 * for, "list its submissions"). */
int req_course_part(req *r, char *course, const char *verb, int *staff);

/* Walk a storage list, pushing keep(r, row, ctx) into *out (NULL: skip):
 * pass row_sink_each as the list's each() and a row_sink as its arg. */
typedef void *(*row_keep_fn)(req *r, const void *row, void *ctx);
typedef struct row_sink {
    req *r;
    ptr_vec *out;
    row_keep_fn keep;
    void *ctx;
} row_sink;
int row_sink_each(void *arg, const void *row);

/* Codes (char *) of the caller's courses: with COURSE_MEMBER every course
 * they are enrolled in (an admin: every course), with COURSE_INSTRUCTOR
 * those they teach, with COURSE_STAFF those they teach or assist in.
 * Ordered by code. */
int req_my_courses(req *r, enum course_need need, ptr_vec *codes);
/* A per-course list of the storage API (assignment_list, material_list). */
typedef int (*course_list_fn)(void *inst, const char *course, lms_each_fn each,
                              void *arg, lms_err *err);
/* list over course (the caller must be a member, or an admin, to verb),
 * or, when course is empty, over every course of
 * req_my_courses(COURSE_MEMBER). */
int req_list_visible(req *r, char *course, course_list_fn list,
                     row_sink *sink, const char *verb);

/* A response message of type d whose one field is a repeated message,
 * set to the elements of pv. */
void *pb_list(req *r, const ProtobufCMessageDescriptor *d, const ptr_vec *pv);
/* SHA-256 of data into the arena. Worker thread: files can be large. */
ProtobufCBinaryData req_sha256(req *r, ProtobufCBinaryData data);
/* Work stage, before proposing: put a file's body (sha: its SHA-256, just
 * computed) in the file store, so that apply on this node finds it there
 * and writes nothing. 0, or -1 with the refusal set (nothing was
 * proposed, so nothing was stored). */
int req_store_body(req *r, ProtobufCBinaryData data, ProtobufCBinaryData sha);
/* Prepare stage: the body of a file (sha, size bytes) from the file store
 * into the arena; NULL with the failure set (INTERNAL, logged). */
uint8_t *req_file_body(req *r, const uint8_t sha[LMS_SHA256_LEN],
                       uint64_t size);

#endif

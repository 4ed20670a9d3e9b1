/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c: the request engine (see dispatch.h and handlers.h): decode;
 * send a follower's clients to the leader (NOT_LEADER with its address);
 * on the leader, pass the read barrier (node_read_barrier: linearizable
 * reads); move the request through its stages on the right threads; pack
 * and send the answer. Handlers live in handlers_*.c.
 */
#include "dispatch.h"
#include "pb_text.h"

#include "clock.h"
#include "frame.h"
#include "handlers.h"
#include "lms_assert.h"
#include "log.h"
#include "metrics.h"
#include "accounts.h"
#include "metrics_labels.h"
#include "sm_node.h"
#include "workers.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/*
 * Requests waiting for the storage thread's prepare stage travel in
 * batches: one storage job runs every request that arrived while the
 * previous job was queued, inside one storage transaction. Each statement
 * then no longer takes and drops SQLite's file locks on its own (four to
 * eight fcntl calls per request), and the storage thread is woken once per
 * batch rather than once per request.
 */
#define PREP_BATCH_MAX 64

typedef struct prep_batch {
    dispatch *d;
    req *head, *tail;
    size_t n;
    int on_readers; /* submitted to d->o.readers, not the storage thread */
    uint64_t seq;   /* loop: the order it was submitted in */
    struct prep_batch *parked_next; /* loop: in d->parked */
} prep_batch;

/* Who a token stood for, as a prepare stage last read it (loop only; see
 * authenticate). */
#define AUTH_CACHE_SLOTS 256
typedef struct auth_slot {
    int used;
    uint64_t epoch; /* sm.auth_epoch when it was read */
    uint8_t token_hash[32];
    char name[LMS_NAME_MAX + 1];
    char full_name[LMS_TITLE_MAX + 1];
    int role;
    int must_change;
    int64_t created, expires;
} auth_slot;

/* Writes proposed and not yet answered, by (client_id, seq) (loop only):
 * a retry of one of them that is refused before proposing was judged on
 * a state without it, which may still commit (see copy_in_flight). */
#define KEY_BUCKETS 256
/* Completed writes remembered for copy_applied_since. */
#define RECENT_WRITES 1024

struct dispatch {
    dispatch_options o;
    dispatch_limits limits; /* loop only: what new requests get */
    uint64_t request_ids;   /* loop only: the ids this server made */
    req *keys[KEY_BUCKETS];
    auth_slot *auth; /* loop only; AUTH_CACHE_SLOTS, lazily */
    size_t inflight; /* requests decoded and not yet answered */
    login_guard *guard; /* loop only */
    /* The batch submitted to the storage thread and not yet started: the
     * loop adds to it, the storage thread takes it (under mu). */
    pthread_mutex_t mu;
    prep_batch *open;
    /* Loop: batches go on in the order they were submitted, whichever
     * reader finishes first: a client's pipelined writes must reach
     * node_propose in the order they came (their seq grows; the state
     * machine refuses a lower one after a higher). A batch that finishes
     * before an earlier one waits in parked (by seq). */
    uint64_t batch_seq, batch_done;
    prep_batch *parked;
    /* Loop: the writes this node applied lately, by (client_id, seq), with
     * the applied index when each completed (see copy_applied_since). */
    struct {
        uint64_t client_id, seq, applied;
    } recent[RECENT_WRITES];
    size_t recent_next;
    uint64_t recent_evicted; /* the highest applied index evicted */
};

struct arena_chunk {
    arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

#define ARENA_CHUNK 8192

void *req_alloc_try(req *r, size_t n)
{
    arena_chunk *a = malloc(sizeof *a + (n ? n : 1));
    if (!a)
        return NULL;
    a->cap = a->used = n ? n : 1; /* full: req_alloc never uses its room */
    a->next = r->arena;
    r->arena = a;
    return a->data;
}

void *req_alloc(req *r, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    arena_chunk *a = r->arena;
    if (!a || a->cap - a->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        a = malloc(sizeof *a + cap);
        if (!a)
            abort(); /* out of memory: nothing sensible left to do */
        a->cap = cap;
        a->used = 0;
        a->next = r->arena;
        r->arena = a;
    }
    void *p = (char *)a->data + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

void *req_memdup(req *r, const void *p, size_t n)
{
    void *q = req_alloc(r, n ? n : 1);
    if (n)
        memcpy(q, p, n);
    return q;
}

char *req_strdup(req *r, const char *s)
{
    if (!s)
        s = "";
    return req_memdup(r, s, strlen(s) + 1);
}

static void arena_free(req *r)
{
    while (r->arena) {
        arena_chunk *next = r->arena->next;
        free(r->arena);
        r->arena = next;
    }
}

next_step req_fail(req *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->resp.status = (Lms__Status)status;
    r->resp.message = req_strdup(r, msg);
    r->resp.body_case = LMS__RESPONSE__BODY__NOT_SET;
    return NEXT_RESPOND;
}

next_step req_storage_error(req *r, const lms_err *err)
{
    if (err->code == LMS_UNAVAILABLE) {
        /* A database server gone away (storage.h): nothing was decided,
         * so the client may retry (a retry of a write whose earlier copy
         * may be stored is answered UNKNOWN by respond_confirmed). One
         * line a second at most: every request meets it meanwhile. */
        static _Atomic int64_t last_ms;
        int64_t now = mono_ms(), then = atomic_load(&last_ms);
        if (now - then >= 1000 &&
            atomic_compare_exchange_strong(&last_ms, &then, now))
            log_warn("%s: storage: %s (requests are answered UNAVAILABLE "
                     "until it is back)", r->h->name, err->msg);
        return req_fail(r, LMS_UNAVAILABLE,
                        "the storage of this node cannot be reached (see "
                        "its log); nothing was stored; retry");
    }
    log_error("%s: storage: %s", r->h->name, err->msg);
    return req_fail(r, LMS_INTERNAL, "storage error; see the server log");
}

const struct lms_storage_ops *req_ops(req *r) { return r->d->o.m->ops; }
void *req_st(req *r) { return r->st ? r->st : r->d->o.m->st; }
const dispatch_options *req_opts(req *r) { return &r->d->o; }
const dispatch_limits *req_limits(req *r) { return &r->limits; }

int req_course_role(req *r, const char *course, int *role, lms_err *err)
{
    *role = LMS_ROLE_NONE;
    return req_ops(r)->enrolment_get(req_st(r), course, r->who.name, role, err);
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

/* OpenSSL's one-shot SHA256() looks the algorithm up again on every call;
 * fetch it once (an EVP_MD is shared by every thread). */
void dispatch_sha256(const void *data, size_t len, uint8_t out[32])
{
    static const uint8_t none[1];
    pthread_once(&sha256_once, sha256_fetch);
    if (!sha256_md ||
        !EVP_Digest(data ? data : none, len, out, NULL, sha256_md, NULL))
        abort(); /* no SHA-256 in libcrypto: nothing sensible left to do */
}

void dispatch_token_hash(const char *token, uint8_t out[32])
{
    dispatch_sha256(token, strlen(token), out);
}

/* ---- answers ------------------------------------------------------- */

static blob *pack_response(const Lms__Response *resp)
{
    size_t len = lms__response__get_packed_size(resp);
    blob *b = blob_new(len + 4);
    if (!b)
        return NULL;
    frame_len_put(b->data, (uint32_t)len);
    lms__response__pack(resp, b->data + 4);
    return b;
}

/* A frame answering request id with an error, outside any request. */
static blob *error_frame(uint64_t id, int status, const char *msg)
{
    Lms__Response resp = LMS__RESPONSE__INIT;
    resp.id = id;
    resp.status = (Lms__Status)status;
    resp.message = (char *)msg;
    return pack_response(&resp);
}

/* NOT_LEADER, with the leader's client address when this node knows it
 * (the client library goes there and stays). */
static blob *not_leader_frame(dispatch *d, uint64_t id)
{
    const char *leader = node_leader_client_addr(d->o.node);
    char msg[200];
    if (leader[0])
        snprintf(msg, sizeof msg, "not the leader; try %s", leader);
    else
        snprintf(msg, sizeof msg, "not the leader, and no leader is known "
                                  "yet; retry");
    Lms__Response resp = LMS__RESPONSE__INIT;
    resp.id = id;
    resp.status = LMS__STATUS__NOT_LEADER;
    resp.message = msg;
    resp.leader = (char *)leader;
    return pack_response(&resp);
}

blob *dispatch_on_oversize(void *arg, uint64_t len, uint32_t limit,
                           int authenticated)
{
    (void)arg;
    char msg[200];
    if (authenticated)
        snprintf(msg, sizeof msg,
                 "frame of %llu bytes exceeds the server's limit of %u bytes",
                 (unsigned long long)len, limit);
    else
        snprintf(msg, sizeof msg,
                 "frame of %llu bytes exceeds the limit of %u bytes for a "
                 "connection that has not logged in",
                 (unsigned long long)len, limit);
    return error_frame(0, LMS_RESOURCE_EXHAUSTED, msg);
}

blob *dispatch_on_too_many(void *arg, int per_ip, uint32_t limit)
{
    (void)arg;
    char msg[160];
    if (per_ip)
        snprintf(msg, sizeof msg, "too many connections from your address "
                                  "(limit %u); try again later", limit);
    else
        snprintf(msg, sizeof msg, "too many connections; try again later");
    return error_frame(0, LMS_UNAVAILABLE, msg);
}

blob *dispatch_on_plaintext(void *arg, const char *addr)
{
    (void)arg;
    char msg[320];
    snprintf(msg, sizeof msg,
             "%s speaks TLS on its client port; give the cluster's CA "
             "certificate with --cacert FILE or LMS_CACERT (or --tls to use "
             "the system's CAs)", addr);
    return error_frame(0, LMS_FAILED_PRECONDITION, msg);
}

/* Requests whose answer may be as large as a frame: while one is in flight
 * its connection is not read (conn_hold), so pipelining many of them
 * cannot pile up answers faster than the client reads them. */
static int large_answer(Lms__Request__BodyCase body)
{
    return body == LMS__REQUEST__BODY_DOWNLOAD_MATERIAL ||
           body == LMS__REQUEST__BODY_FETCH_SUBMISSION ||
           body == LMS__REQUEST__BODY_EXPORT_GRADES ||
           body == LMS__REQUEST__BODY_BACKUP;
}

/* Pack r->resp into r->out (any thread), so that storage memory the
 * answer points to is copied while still valid. */
static void finish(req *r)
{
    r->resp.id = r->msg->id;
    if (r->resp.status != LMS__STATUS__OK)
        r->resp.body_case = LMS__RESPONSE__BODY__NOT_SET;
    else if (r->resp.body_case == LMS__RESPONSE__BODY__NOT_SET) {
        Lms__Empty *e = req_alloc(r, sizeof *e);
        lms__empty__init(e);
        r->resp.body_case = LMS__RESPONSE__BODY_EMPTY;
        r->resp.empty = e;
    }
    /* a login that succeeded vouches for its connection as a valid token
     * does (net.h: conn_set_authenticated, marked in req_free) */
    if (r->h->body == LMS__REQUEST__BODY_LOGIN && r->resp.status == LMS__STATUS__OK)
        r->authenticated = 1;
    r->out = pack_response(&r->resp);
}

static void prepare_later(req *r);
static void login_end(req *r);
static int passwd_admitted(req *r);
static void work_later(req *r);

/* ---- the request's log line (log.h, lms_log_request) ----------------- */

/* Outcomes an operator must see: the server failed, or cannot say. */
static int status_alarming(int status)
{
    return status == LMS_INTERNAL || status == LMS_UNAVAILABLE || status == LMS_UNKNOWN ||
           status == LMS_DATA_LOSS;
}

static const char *status_name(int status)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&lms__status__descriptor, status);
    return v ? v->name : "OTHER";
}

/* Loop: an id for a request that came without one: this node's id and a
 * counter, "n1-42" (rule_request_id allows it; the client library's are
 * 16 hex digits, so the two do not meet unless a client makes them so). */
static void make_request_id(dispatch *d, char *out, size_t cap)
{
    snprintf(out, cap, "n%llu-%llu", (unsigned long long)d->o.node_id,
             (unsigned long long)++d->request_ids);
}

/* Loop: the request's id into out: the client's, or a new one when it
 * sent none or one that rule_request_id refuses. Returns that rule's
 * verdict, with why (RULE_MSG_MAX bytes). */
static int take_request_id(dispatch *d, const Lms__Request *msg, char *out, size_t cap,
                           char *why)
{
    LMS_ASSERT(cap > RULE_REQUEST_ID_MAX);
    int rc = rule_request_id(msg->request_id, why, RULE_MSG_MAX);
    if (rc == LMS_OK && msg->request_id && msg->request_id[0])
        snprintf(out, cap, "%s", msg->request_id);
    else
        make_request_id(d, out, cap);
    return rc;
}

/*
 * Loop: one line per finished request: at debug, or at warn when the
 * server failed (status_alarming) or it took longer than
 * log.slow_request (slow_ms; 0: never). Only what names the request: its
 * id, kind, status, time, caller and address; never its body or token.
 */
static void log_request(const char *request_id, const char *user, const char *op,
                        int status, const char *peer, uint64_t duration_ns, int64_t slow_ms)
{
    int slow = slow_ms > 0 && duration_ns > (uint64_t)slow_ms * 1000000u;
    int alarming = status_alarming(status);
    int level = slow || alarming ? LMS_LOG_WARN : LMS_LOG_DEBUG;
    if (!lms_log_enabled(level))
        return;
    lms_log_request_fields f = {.request_id = request_id,
                                .user = user && user[0] ? user : NULL,
                                .op = op,
                                .status = status_name(status),
                                .peer = peer,
                                .duration_ns = duration_ns};
    if (alarming)
        lms_log_request(level, &f, "request failed");
    else if (slow)
        lms_log_request(level, &f, "slow request (over %lld ms)", (long long)slow_ms);
    else
        lms_log_request(level, &f, "request");
}

/* Loop: r's line. A question to the tutor and a backup stream take as
 * long as the tutor or the client do: they are never "slow". */
static void log_req(req *r, uint64_t duration_ns)
{
    const char *user = r->who.name;
    if (!user[0] && r->h->body == LMS__REQUEST__BODY_LOGIN && r->msg->login)
        user = r->msg->login->name; /* the name tried: not a secret */
    int exempt = r->tutor_q || r->h->body == LMS__REQUEST__BODY_BACKUP;
    log_request(r->request_id, user, r->h->name, r->resp.status,
                r->c ? conn_peer(r->c) : NULL, duration_ns,
                exempt ? 0 : r->limits.slow_request_ms);
}

static void req_free(req *r)
{
    LMS_ASSERT(!r->keyed); /* on_complete took it out of the table */
    uint64_t now = metrics_now(), took = now > r->t_in ? now - r->t_in : 0;
    metrics_request_done(r->h->body, r->resp.status);
    metrics_observe(&lms_metrics_g.stage[METRICS_STAGE_TOTAL], took);
    log_req(r, took);
    login_end(r);
    r->d->inflight--;
    if (r->c) {
        if (r->authenticated)
            conn_set_authenticated(r->c);
        if (r->held)
            conn_hold(r->c, -1);
        conn_inflight_add(r->c, -1);
        conn_unref(r->c);
    }
    lms__request__free_unpacked(r->msg, NULL);
    blob_unref(r->out);
    blob_unref(r->cmd_blob);
    explicit_bzero(r->secret, sizeof r->secret);
    arena_free(r);
    free(r);
}

/* Loop: send frame, an answer with status that r->resp does not hold, and
 * end the request (the status is what the metrics count). */
static void end_with(req *r, blob *frame, int status)
{
    r->resp.status = (Lms__Status)status;
    conn_send(r->c, frame);
    req_free(r);
}

/* Loop: send the answer and end the request. */
static void respond(req *r)
{
    if (!r->out) {
        end_with(r, error_frame(r->msg->id, LMS_INTERNAL, "out of memory"),
                 LMS_INTERNAL);
        return;
    }
    conn_send(r->c, blob_ref(r->out));
    req_free(r);
}

void req_answer(req *r)
{
    finish(r);
    respond(r);
}

/* ---- writes in flight, by (client_id, seq) --------------------------- */

static req **key_bucket(dispatch *d, uint64_t client_id, uint64_t seq)
{
    uint64_t h = (client_id ^ (seq * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return &d->keys[(h >> 56) % KEY_BUCKETS];
}

static void key_add(req *r)
{
    if (!r->cmd.client_id || !r->cmd.seq)
        return;
    req **b = key_bucket(r->d, r->cmd.client_id, r->cmd.seq);
    r->key_next = *b;
    *b = r;
    r->keyed = 1;
}

static void key_remove(req *r)
{
    if (!r->keyed)
        return;
    for (req **p = key_bucket(r->d, r->cmd.client_id, r->cmd.seq); *p; p = &(*p)->key_next)
        if (*p == r) {
            *p = r->key_next;
            break;
        }
    r->keyed = 0;
}

/* Is a proposal of the same write as r (same client_id and seq, another
 * request: an earlier attempt) in flight on this node? */
static int copy_in_flight(req *r)
{
    if (!r->msg->client_id || !r->msg->seq)
        return 0;
    for (req *q = *key_bucket(r->d, r->msg->client_id, r->msg->seq); q; q = q->key_next)
        if (q != r && q->cmd.client_id == r->msg->client_id && q->cmd.seq == r->msg->seq)
            return 1;
    return 0;
}

/* Loop: remember that the write r was applied (it is complete). */
static void recent_add(req *r)
{
    if (!r->keyed)
        return;
    dispatch *d = r->d;
    size_t i = d->recent_next++ % RECENT_WRITES;
    if (d->recent[i].applied > d->recent_evicted)
        d->recent_evicted = d->recent[i].applied;
    d->recent[i].client_id = r->cmd.client_id;
    d->recent[i].seq = r->cmd.seq;
    d->recent[i].applied = node_applied_index(d->o.node);
}

/* Was a copy of the write r (same client_id and seq, an earlier attempt)
 * applied after the state r's prepare read (r->snap_index)? Then what
 * prepare decided without it (a refusal) may be wrong: the write is in.
 * copy_in_flight covers a copy still in flight; this one a copy that
 * completed while r was prepared beside it on a reader. Unsure (evicted
 * since) counts as yes. */
static int copy_applied_since(req *r)
{
    dispatch *d = r->d;
    if (!r->msg->client_id || !r->msg->seq)
        return 0;
    if (d->recent_evicted > r->snap_index)
        return 1;
    for (size_t i = 0; i < RECENT_WRITES && i < d->recent_next; i++)
        if (d->recent[i].client_id == r->msg->client_id &&
            d->recent[i].seq == r->msg->seq &&
            d->recent[i].applied > r->snap_index)
            return 1;
    return 0;
}

/* ---- the stages ---------------------------------------------------- */

static void next(req *r, next_step step);

/* A ProtobufCBuffer that hashes what is packed into it. */
typedef struct digest_buffer {
    ProtobufCBuffer base;
    EVP_MD_CTX *ctx;
    int failed;
} digest_buffer;

static void digest_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    digest_buffer *d = (digest_buffer *)b;
    if (!EVP_DigestUpdate(d->ctx, data, len))
        d->failed = 1;
}

/* The digest of the request r carries out (Command.request): SHA-256 of
 * the caller, the request's kind and its body as packed, passwords left
 * out (the client's record is replicated state and lives a day; a fast
 * hash of a password there would be a way to guess it): add-user's,
 * import-users', passwd's old and new, reset-password's one-time one. A
 * retry carries the same body, so it has the same digest; the record keeps
 * the first one's, and answers only a request with the same
 * (sm_record_answer).
 * Any thread; computed once. */
static const uint8_t *request_digest(req *r)
{
    if (r->digested)
        return r->request_digest;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &lms__request__descriptor, (unsigned)r->msg->body_case);
    pthread_once(&sha256_once, sha256_fetch);
    digest_buffer d = {.base = {.append = digest_append}, .ctx = EVP_MD_CTX_new()};
    uint32_t kind = (uint32_t)r->msg->body_case;
    uint8_t kind_le[4] = {kind & 0xff, (kind >> 8) & 0xff, (kind >> 16) & 0xff, kind >> 24};
    if (!sha256_md || !d.ctx || !EVP_DigestInit_ex(d.ctx, sha256_md, NULL) ||
        !EVP_DigestUpdate(d.ctx, r->who.name, strlen(r->who.name) + 1) ||
        !EVP_DigestUpdate(d.ctx, kind_le, sizeof kind_le))
        abort(); /* no SHA-256 in libcrypto: nothing sensible left to do */
    const ProtobufCMessage *body =
        f ? *(ProtobufCMessage *const *)((const char *)r->msg + f->offset) : NULL;
    if (body && r->msg->body_case == LMS__REQUEST__BODY_ADD_USER) {
        char *pw = r->msg->add_user->password;
        r->msg->add_user->password = (char *)"";
        protobuf_c_message_pack_to_buffer(body, &d.base);
        r->msg->add_user->password = pw;
    } else if (body && r->msg->body_case == LMS__REQUEST__BODY_IMPORT_USERS) {
        const Lms__ImportUsersRequest *q = r->msg->import_users;
        char **pw = req_alloc(r, (q->n_rows ? q->n_rows : 1) * sizeof *pw);
        for (size_t i = 0; i < q->n_rows; i++) {
            pw[i] = q->rows[i]->password;
            q->rows[i]->password = (char *)"";
        }
        protobuf_c_message_pack_to_buffer(body, &d.base);
        for (size_t i = 0; i < q->n_rows; i++)
            q->rows[i]->password = pw[i];
    } else if (body && r->msg->body_case == LMS__REQUEST__BODY_CHANGE_PASSWORD) {
        Lms__ChangePasswordRequest *q = r->msg->change_password;
        char *old_pw = q->old_password, *new_pw = q->new_password;
        q->old_password = q->new_password = (char *)"";
        protobuf_c_message_pack_to_buffer(body, &d.base);
        q->old_password = old_pw;
        q->new_password = new_pw;
    } else if (body && r->msg->body_case == LMS__REQUEST__BODY_RESET_PASSWORD) {
        char *pw = r->msg->reset_password->password;
        r->msg->reset_password->password = (char *)"";
        protobuf_c_message_pack_to_buffer(body, &d.base);
        r->msg->reset_password->password = pw;
    } else if (body) {
        protobuf_c_message_pack_to_buffer(body, &d.base);
    }
    if (d.failed || !EVP_DigestFinal_ex(d.ctx, r->request_digest, NULL))
        abort();
    EVP_MD_CTX_free(d.ctx);
    r->digested = 1;
    return r->request_digest;
}

/* Pack the command the handler built; any thread. */
static void pack_command(req *r)
{
    /* A login is never deduplicated: the answer of the first one holds a
     * token that only its client saw, so a retry must make a session of
     * its own rather than get the first one's record without the token. */
    int dedup = r->cmd.body_case != LMS__COMMAND__BODY_CREATE_SESSION;
    r->cmd.client_id = dedup ? r->msg->client_id : 0;
    r->cmd.seq = dedup ? r->msg->seq : 0;
    if (dedup && r->msg->client_id) {
        r->cmd.request.data = (uint8_t *)request_digest(r);
        r->cmd.request.len = sizeof r->request_digest;
    }
    r->cmd.time = r->now;
    r->cmd.actor = r->who.name;
    size_t len = lms__command__get_packed_size(&r->cmd);
    r->cmd_blob = blob_new(len);
    if (r->cmd_blob)
        lms__command__pack(&r->cmd, r->cmd_blob->data);
}

/* Loop: the cached caller of r's token, if still valid: read under the
 * current auth epoch (no session or user has changed since) and not
 * expired. r->auth_epoch is that epoch: the prepare stage checks it
 * against the epoch of its own read (authenticate). */
static int auth_cached(req *r)
{
    dispatch *d = r->d;
    if (!d->auth)
        return 0;
    const auth_slot *a = &d->auth[r->who.token_hash[0] % AUTH_CACHE_SLOTS];
    uint64_t epoch = atomic_load(&d->o.m->auth_epoch);
    if (!a->used || a->epoch != epoch || a->expires <= r->now ||
        memcmp(a->token_hash, r->who.token_hash, sizeof a->token_hash) != 0)
        return 0;
    memcpy(r->who.name, a->name, sizeof r->who.name);
    memcpy(r->who.full_name, a->full_name, sizeof r->who.full_name);
    r->who.role = a->role;
    r->who.must_change = a->must_change;
    r->who.created = a->created;
    r->who.session_expires = a->expires;
    r->auth_epoch = epoch;
    return 1;
}

/* Loop: remember whom r's prepare stage read its token to stand for,
 * under the epoch of that read; not if a change to users or sessions was
 * in flight then (an odd epoch, sm.h): what was read may be undone by its
 * commit at any moment, before the epoch moves again. */
static void auth_remember(req *r)
{
    dispatch *d = r->d;
    if (!sm_auth_stable(r->auth_epoch))
        return;
    if (!d->auth && !(d->auth = calloc(AUTH_CACHE_SLOTS, sizeof *d->auth)))
        return;
    auth_slot *a = &d->auth[r->who.token_hash[0] % AUTH_CACHE_SLOTS];
    a->used = 1;
    a->epoch = r->auth_epoch;
    memcpy(a->token_hash, r->who.token_hash, sizeof a->token_hash);
    memcpy(a->name, r->who.name, sizeof a->name);
    memcpy(a->full_name, r->who.full_name, sizeof a->full_name);
    a->role = r->who.role;
    a->must_change = r->who.must_change;
    a->created = r->who.created;
    a->expires = r->who.session_expires;
}

/* Loop, before the prepare stage: a token seen before under the current
 * auth epoch needs no storage lookup (sm.h: the epoch moves with every
 * command that may change sessions or users, and with a snapshot
 * install). */
static void authenticate_early(req *r)
{
    if (!r->h->roles || !r->msg->token || !r->msg->token[0])
        return;
    dispatch_token_hash(r->msg->token, r->who.token_hash);
    r->token_hashed = 1;
    if (auth_cached(r))
        r->authenticated = 1;
}

/* Prepare stage: who is calling? epoch: sm.auth_epoch as loaded before
 * this stage's read transaction began. A caller from the loop's cache is
 * believed if no change to users or sessions happened or began since (the
 * epoch is the same, so even: cache entries have even epochs); otherwise,
 * or without one, the storage says. */
static int authenticate(req *r, uint64_t epoch)
{
    const struct lms_storage_ops *ops = req_ops(r);
    if (r->authenticated && r->auth_epoch == epoch)
        return 0;
    r->authenticated = 0;
    if (!r->msg->token || !r->msg->token[0])
        return req_fail(r, LMS_UNAUTHENTICATED, "not logged in"), -1;
    if (!r->token_hashed)
        dispatch_token_hash(r->msg->token, r->who.token_hash);
    r->token_hashed = 1;
    lms_session s;
    lms_user u;
    lms_err err = {0};
    int rc = ops->session_get(req_st(r), r->who.token_hash, &s, &err);
    if (rc == LMS_NOT_FOUND)
        return req_fail(r, LMS_UNAUTHENTICATED,
                        "session expired or revoked; log in again"), -1;
    if (rc != LMS_OK)
        return req_storage_error(r, &err), -1;
    if (s.expires <= r->now)
        return req_fail(r, LMS_UNAUTHENTICATED,
                        "session expired; log in again"), -1;
    rc = ops->user_get(req_st(r), s.user, &u, &err);
    if (rc == LMS_NOT_FOUND)
        return req_fail(r, LMS_UNAUTHENTICATED, "session's user is gone"), -1;
    if (rc != LMS_OK) /* not a reason to log the user out */
        return req_storage_error(r, &err), -1;
    account_state acct;
    if (account_get(ops, req_st(r), u.name, &acct, &err) != LMS_OK)
        return req_storage_error(r, &err), -1;
    if (acct.disabled) /* its sessions were ended with it: only a race */
        return req_fail(r, LMS_UNAUTHENTICATED, "user %s is disabled", u.name), -1;
    snprintf(r->who.name, sizeof r->who.name, "%s", u.name);
    snprintf(r->who.full_name, sizeof r->who.full_name, "%s", u.full_name);
    r->who.role = u.role;
    r->who.must_change = acct.must_change;
    r->who.created = u.created;
    r->who.session_expires = s.expires;
    r->auth_epoch = epoch;
    r->auth_read = 1;
    r->authenticated = 1;
    return 0;
}

static const char *role_name(int role)
{
    switch (role) {
    case LMS_ROLE_STUDENT: return "students";
    case LMS_ROLE_INSTRUCTOR: return "instructors";
    case LMS_ROLE_ADMIN: return "admins";
    default: return "nobody";
    }
}

static void allowed_roles(unsigned roles, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int role = LMS_ROLE_STUDENT; role <= LMS_ROLE_ADMIN; role++)
        if (roles & ROLE_BIT(role))
            snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
                     buf[0] ? " and " : "", role_name(role));
}

/* Does the client's dedup record answer this write? A retry of a write
 * that is already applied must get the first answer (the same id, the same
 * report), not a verdict of today's state: the early checks of prepare
 * would refuse a second submission when the first one used the last
 * attempt, or call every imported user "already exists". A record exists
 * only for an applied, so committed, entry. The answer goes out after a
 * barrier, like every answer decided before proposing. Only the same
 * request from the same user (request_digest) gets the record's answer:
 * the handler's applied() reads back what the request or the record names
 * (a query, a submission, a grade), so another request with the same
 * (client_id, seq) would read another user's. Not for a login:
 * its answer is a token the record does not keep (dispatch does not let
 * logins be deduplicated, see pack_command). */
static int answered_from_record(req *r)
{
    if (!r->msg->seq || !r->msg->client_id || r->h->body == LMS__REQUEST__BODY_LOGIN)
        return 0;
    lms_client_record rec;
    lms_err err = {0};
    memset(&rec, 0, sizeof rec);
    int rc = req_ops(r)->client_get(req_st(r), r->msg->client_id, &rec, &err);
    if (rc == LMS_NOT_FOUND)
        return 0;
    if (rc != LMS_OK)
        return req_storage_error(r, &err), 1;
    int known = sm_record_answer(&rec, r->msg->seq, request_digest(r),
                                 sizeof r->request_digest, &r->res);
    if (known < 0)
        return req_fail(r, LMS_RESOURCE_EXHAUSTED, "out of memory"), 1;
    if (known == 0)
        return 0;
    r->from_record = 1;
    if (r->res.status != LMS_OK)
        req_fail(r, r->res.status, "%s", r->res.message);
    else if (r->h->applied)
        r->h->applied(r);
    sm_result_free(&r->res);
    return 1;
}

static void stage_prepare(req *r, uint64_t epoch)
{
    next_step step = NEXT_RESPOND;
    uint64_t t0 = metrics_now();
    metrics_observe(&lms_metrics_g.stage[METRICS_STAGE_QUEUE],
                    t0 > r->t_queued ? t0 - r->t_queued : 0);
    int auth_failed = r->h->roles && authenticate(r, epoch) < 0;
    if (r->h->roles)
        metrics_stage(METRICS_STAGE_AUTH, t0);
    if (auth_failed)
        goto out;
    if (r->h->roles && !(r->h->roles & ROLE_BIT(r->who.role))) {
        char who[64];
        allowed_roles(r->h->roles, who, sizeof who);
        req_fail(r, LMS_PERMISSION_DENIED, "%s: only %s may do this",
                 r->h->name, who);
        goto out;
    }
    if (r->h->roles && r->who.must_change && !r->h->before_new_password) {
        req_fail(r, LMS_FAILED_PRECONDITION,
                 "%s: your password is a one-time password; change it first "
                 "(passwd), then try again", r->h->name);
        goto out;
    }
    if (answered_from_record(r))
        goto out;
    t0 = metrics_now();
    step = r->h->prepare(r);
    metrics_stage(METRICS_STAGE_PREPARE, t0);
out:
    r->step = step;
    if (step == NEXT_RESPOND)
        finish(r);
    else if (step == NEXT_PROPOSE)
        pack_command(r);
}

static void stage_work(void *arg)
{
    req *r = arg;
    next_step step = r->h->work(r);
    r->step = step;
    if (step == NEXT_RESPOND)
        finish(r);
    else if (step == NEXT_PROPOSE)
        pack_command(r);
}

static void stage_done(void *arg)
{
    req *r = arg;
    next(r, r->step);
}

static void on_applied(node_proposal *p, const node_outcome *o)
{
    req *r = (req *)p;
    sm_result own;
    const sm_result *res = sm_node_outcome(o, &own);
    r->res = *res;
    if (res->status != LMS_OK) {
        req_fail(r, res->status, "%s", res->message);
    } else if (r->h->applied) {
        r->h->applied(r);
    }
    r->res.rows = NULL; /* owned by the caller */
    finish(r);
}

static void on_complete(node_proposal *p)
{
    recent_add((req *)p);
    key_remove((req *)p);
    respond((req *)p);
}

/* ---- the tutor stage (loop) ----------------------------------------- */

/* A piece of the tutor's answer: a partial Response with the request's id. */
static void tutor_chunk(void *arg, const char *text, size_t len)
{
    req *r = arg;
    Lms__TutorChunk chunk = LMS__TUTOR_CHUNK__INIT;
    Lms__Response resp = LMS__RESPONSE__INIT;
    (void)len; /* text is NUL-terminated, and a string is sent as one */
    chunk.text = (char *)text;
    resp.id = r->msg->id;
    resp.partial = 1;
    resp.body_case = LMS__RESPONSE__BODY_TUTOR_CHUNK;
    resp.tutor_chunk = &chunk;
    conn_send(r->c, pack_response(&resp));
}

static int tutor_wanted(void *arg)
{
    req *r = arg;
    return conn_is_open(r->c);
}

/* The tutor is done: the handler proposes the exchange or answers. */
static void tutor_done(void *arg, const tutor_result *res)
{
    req *r = arg;
    if (res->provider) /* a plugin was asked */
        metrics_tutor_done(res->status, res->latency_ms);
    next_step step = r->h->answered(r, res);
    if (step == NEXT_PROPOSE) {
        pack_command(r);
    } else {
        step = NEXT_RESPOND;
        finish(r);
    }
    next(r, step);
}

static void ask_tutor(req *r)
{
    tutor_callbacks cb = {.chunk = tutor_chunk, .done = tutor_done,
                          .wanted = tutor_wanted, .arg = r};
    lms_err err = {0};
    if (tutor_rt_ask(r->d->o.tutor, r->tutor_q, &cb, &err) != LMS_OK) {
        tutor_result res = {.status = err.code, .message = err.msg};
        tutor_done(r, &res);
    }
}

/* A read barrier did not pass (status: LMS_NOT_LEADER or
 * LMS_UNAVAILABLE): send the client elsewhere, or say why not now. */
static void refuse_read(req *r, int status)
{
    char why[sizeof(lms_err)] = "server is stopping; retry";
    if (status == LMS_UNAVAILABLE)
        node_apply_stuck(r->d->o.node, why, sizeof why);
    end_with(r, status == LMS_NOT_LEADER ? not_leader_frame(r->d, r->msg->id)
                                         : error_frame(r->msg->id, status, why),
             status);
}

/* The node would not take the request's proposal. */
static void refuse_proposal(req *r, const lms_err *err)
{
    /* A full disk refuses before proposing; but if an earlier copy of
     * this write may be committed and not yet applied, it may still be
     * stored: the client must not read this as a refusal. */
    if (err->code == LMS_RESOURCE_EXHAUSTED && r->msg->seq &&
        (copy_in_flight(r) ||
         node_may_hold_write(r->d->o.node, r->msg->client_id, r->msg->seq))) {
        char msg[sizeof err->msg + 64];
        snprintf(msg, sizeof msg, "%s; an earlier copy of this write may "
                 "still be stored; retry", err->msg);
        end_with(r, error_frame(r->msg->id, LMS_UNKNOWN, msg), LMS_UNKNOWN);
        return;
    }
    end_with(r, err->code == LMS_NOT_LEADER
                    ? not_leader_frame(r->d, r->msg->id)
                    : error_frame(r->msg->id, err->code, err->msg),
             err->code);
}

/* A write's answer decided before proposing (a refusal, or a retry's
 * recorded result) was read from this node's state without a read barrier
 * (see dispatch_on_frame). A deposed leader that does not know it yet
 * reads stale state: the new leader may have created the course it says
 * does not exist. So the answer goes out only once a barrier confirms
 * that this node still leads and applied everything committed before;
 * then every write the cluster acknowledged before the request arrived
 * was in the state the answer was decided on. Else the client is sent to
 * the leader, which decides afresh. */
/* An answer decided before proposing, for a write whose earlier copy
 * (an attempt the client gave up on) was proposed here and not yet
 * applied when the answer was decided: a refusal then judged a state
 * without that copy, which may still commit. The client asks again and
 * gets the copy's fate from the record. */
static void answer_unknown(req *r)
{
    end_with(r, error_frame(r->msg->id, LMS_UNKNOWN,
                            "an earlier copy of this write was not yet committed "
                            "when this one was answered; it may still be; retry"),
             LMS_UNKNOWN);
}

static void on_answer_confirmed(void *arg, int status)
{
    req *r = arg;
    /* Only a barrier in the term the request was taken in vouches for the
     * state it read: a leader deposed and elected again meanwhile (during
     * a slow work or tutor stage) may have missed another leader's writes
     * before it read. The client asks again. */
    if (status == LMS_OK && node_term(r->d->o.node) != r->term)
        status = LMS_NOT_LEADER;
    if (status == LMS_OK && (r->copy_in_flight || (!r->from_record && copy_in_flight(r)))) {
        answer_unknown(r);
        return;
    }
    if (status == LMS_OK) {
        respond(r);
        return;
    }
    refuse_read(r, status);
}

static void respond_confirmed(req *r)
{
    if (!r->from_record && (copy_in_flight(r) || copy_applied_since(r)))
        r->copy_in_flight = 1;
    if (!r->unconfirmed) {
        if (r->copy_in_flight)
            answer_unknown(r);
        else
            respond(r);
        return;
    }
    r->unconfirmed = 0;
    if (node_read_barrier(r->d->o.node, on_answer_confirmed, r) != LMS_OK)
        on_answer_confirmed(r, LMS_NOT_LEADER);
}

/* Loop: r's work stage on the pool. */
static void work_later(req *r)
{
    lms_err err = {0};
    /* The work stage may store a file: a write that would eat into
     * the disk's reserve is refused before it does. */
    if (r->msg->seq && node_check_room(r->d->o.node, r->frame_len, &err) != LMS_OK) {
        refuse_proposal(r, &err);
        return;
    }
    if (workers_submit(r->d->o.pool, stage_work, stage_done, r) < 0) {
        end_with(r, error_frame(r->msg->id, LMS_RESOURCE_EXHAUSTED,
                                "server busy; try again"),
                 LMS_RESOURCE_EXHAUSTED);
    }
}

static void next(req *r, next_step step)
{
    lms_err err = {0};
    switch (step) {
    case NEXT_RESPOND:
        respond_confirmed(r);
        return;
    case NEXT_TUTOR:
        ask_tutor(r);
        return;
    case NEXT_WORK:
        /* passwd's current password is a guess like a login's: the
         * guard admits it only now, once prepare has read whose it is */
        if (!passwd_admitted(r))
            return;
        work_later(r);
        return;
    case NEXT_PROPOSE:
        if (!r->cmd_blob) {
            end_with(r, error_frame(r->msg->id, LMS_INTERNAL, "out of memory"),
                     LMS_INTERNAL);
            return;
        }
        r->prop.applied = on_applied;
        r->prop.complete = on_complete;
        if (node_propose(r->d->o.node, r->cmd_blob, &r->prop, &err) != LMS_OK)
            refuse_proposal(r, &err);
        else
            key_add(r);
        return;
    case NEXT_BACKUP:
        backup_start(r);
        return;
    case NEXT_CONF: {
        const conf_change_req *cc = r->scratch;
        r->prop.applied = on_applied;
        r->prop.complete = on_complete;
        if (node_change_members(r->d->o.node, cc->type, cc->id, cc->peer_addr,
                                cc->client_addr, &r->prop, &err) != LMS_OK)
            refuse_proposal(r, &err);
        return;
    }
    }
}

/* ---- the prepare batches (see PREP_BATCH_MAX) ----------------------- */

/* A reader thread or the storage thread: take the batch (no more
 * requests join it), then prepare each request in one transaction. The
 * transaction only reads: it is rolled back. If it cannot be opened, each
 * statement runs on its own, as it would without batching. */
static void prep_batch_work(void *arg)
{
    prep_batch *b = arg;
    dispatch *d = b->d;
    pthread_mutex_lock(&d->mu);
    if (d->open == b)
        d->open = NULL;
    pthread_mutex_unlock(&d->mu);
    const struct lms_storage_ops *ops = d->o.m->ops;
    void *st = d->o.m->st;
    if (b->on_readers) {
        int i = workers_thread_index();
        LMS_ASSERT(i >= 0 && (size_t)i < d->o.n_readers);
        st = d->o.reader[i];
    }
    /* before the read transaction begins (sm.h, auth_epoch) */
    uint64_t epoch = atomic_load(&d->o.m->auth_epoch);
    int tx = ops->begin(st, NULL) == LMS_OK;
    /* the index of the state the batch reads (copy_applied_since); 0 when
     * unknown, which only makes a later check more careful */
    uint64_t snap = 0;
    if (tx && ops->applied_index(st, &snap, NULL) != LMS_OK)
        snap = 0;
    for (req *r = b->head; r; r = r->batch_next) {
        r->snap_index = snap;
        r->st = st;
        stage_prepare(r, epoch);
        r->st = NULL;
    }
    if (tx)
        ops->rollback(st, NULL);
}

/* Loop: each request of the batch goes on to its next stage, in order;
 * whom a token stands for, read by the batch, is remembered. */
static void prep_batch_run(prep_batch *b)
{
    req *r = b->head;
    free(b);
    while (r) {
        req *following = r->batch_next;
        r->batch_next = NULL;
        if (r->auth_read && r->authenticated)
            auth_remember(r);
        next(r, r->step);
        r = following;
    }
}

/* Loop: a batch is prepared. It goes on once every batch submitted before
 * it has (see dispatch.batch_seq); the ones it held back follow. */
static void prep_batch_done(void *arg)
{
    prep_batch *b = arg;
    dispatch *d = b->d;
    LMS_ASSERT(b->seq >= d->batch_done);
    if (b->seq != d->batch_done) {
        prep_batch **p = &d->parked;
        while (*p && (*p)->seq < b->seq)
            p = &(*p)->parked_next;
        b->parked_next = *p;
        *p = b;
        return;
    }
    prep_batch_run(b);
    d->batch_done++;
    while (d->parked && d->parked->seq == d->batch_done) {
        prep_batch *first = d->parked;
        d->parked = first->parked_next;
        prep_batch_run(first);
        d->batch_done++;
    }
}

/* Loop: queue r for the prepare stage, in a batch already on its way to
 * the storage thread if there is one it has not started. */
static void prepare_later(req *r)
{
    dispatch *d = r->d;
    r->t_queued = metrics_now();
    authenticate_early(r);
    pthread_mutex_lock(&d->mu);
    prep_batch *b = d->open;
    if (b && b->n < PREP_BATCH_MAX) {
        b->tail->batch_next = r;
        b->tail = r;
        b->n++;
        pthread_mutex_unlock(&d->mu);
        return;
    }
    pthread_mutex_unlock(&d->mu);
    b = calloc(1, sizeof *b);
    if (!b) {
        end_with(r, error_frame(r->msg->id, LMS_RESOURCE_EXHAUSTED,
                                "out of memory"),
                 LMS_RESOURCE_EXHAUSTED);
        return;
    }
    b->d = d;
    b->head = b->tail = r;
    b->n = 1;
    b->on_readers = d->o.readers != NULL;
    /* Published before the submit: the storage thread may take it at once.
     * Only this thread adds to batches, so a failed submit finds it as
     * it left it. */
    pthread_mutex_lock(&d->mu);
    d->open = b;
    pthread_mutex_unlock(&d->mu);
    /* Its place in line: its done callback runs on this thread, so not
     * before this function returns. */
    b->seq = d->batch_seq;
    if (workers_submit(b->on_readers ? d->o.readers : d->o.storage_thread,
                       prep_batch_work, prep_batch_done, b) >= 0) {
        d->batch_seq++;
    } else {
        pthread_mutex_lock(&d->mu);
        d->open = NULL;
        pthread_mutex_unlock(&d->mu);
        free(b);
        end_with(r, error_frame(r->msg->id, LMS_UNAVAILABLE, "server is stopping"),
                 LMS_UNAVAILABLE);
    }
}

/* ---- the login guard (login_guard.h; loop) ------------------------- */

/* Answer r with the guard's refusal (r->login.status and msg). passwd's
 * says it was its current password that was not checked. */
static void guard_refuse(req *r)
{
    const login_waiter *w = &r->login;
    if (!r->h->checks_password) {
        end_with(r, error_frame(r->msg->id, w->status, w->msg), w->status);
        return;
    }
    char msg[sizeof w->msg + 64];
    snprintf(msg, sizeof msg, "the current password was not checked: %s", w->msg);
    end_with(r, error_frame(r->msg->id, w->status, msg), w->status);
}

/* A login's request ends: the guard counts its verdict, and the logins
 * that waited for its place go on or are answered. */
static void login_end(req *r)
{
    login_waiter *w = login_guard_done(r->d->guard, &r->login, r->login_verdict,
                                       wall_ms());
    while (w) {
        login_waiter *following = w->next;
        req *q = (req *)((char *)w - offsetof(req, login));
        w->next = NULL;
        if (w->state == LOGIN_RUNNING && q->h->checks_password) {
            work_later(q); /* prepared already (passwd_admitted) */
        } else if (w->state == LOGIN_RUNNING) {
            handlers_loop_snapshot(q);
            prepare_later(q);
        } else {
            guard_refuse(q);
        }
        w = following;
    }
}

/* May the login r start? 1: go on; 0: it waits for a place, or was
 * answered (refused before reading the user or hashing anything). */
static int login_admitted(req *r)
{
    if (r->h->body != LMS__REQUEST__BODY_LOGIN)
        return 1;
    int state = login_guard_admit(r->d->guard, &r->login, r->c, conn_peer(r->c),
                                  r->msg->login->name, r->now);
    if (state == LOGIN_NONE) {
        /* debug: a flood of guesses must not flood the log too */
        log_debug("client %s: login for '%.64s' refused: %s", conn_peer(r->c),
                  r->msg->login->name, r->login.msg);
        guard_refuse(r);
    }
    return state == LOGIN_RUNNING;
}

/*
 * May passwd r check its caller's current password? The same guard as a
 * login of that name from that address (login_guard.h): a session does not
 * buy a second budget of guesses. Its work stage reports the verdict
 * (r->login_verdict) and login_end counts it. 1: go on; 0: it waits for a
 * place (login_end runs its work), or was answered, before any hash ran.
 */
static int passwd_admitted(req *r)
{
    if (!r->h->checks_password)
        return 1;
    LMS_ASSERT(r->who.name[0] && r->login.state == LOGIN_NONE);
    int state = login_guard_admit(r->d->guard, &r->login, r->c, conn_peer(r->c),
                                  r->who.name, wall_ms());
    if (state == LOGIN_NONE) {
        log_debug("client %s: passwd of '%s' refused: %s", conn_peer(r->c), r->who.name,
                  r->login.msg);
        guard_refuse(r);
    }
    return state == LOGIN_RUNNING;
}

/* ---- entry ---------------------------------------------------------- */

/* The leader confirmed it leads and applied everything committed before
 * the request arrived: what the request reads is linearizable. Only the
 * leader serves requests; followers send clients to it. */
static void on_barrier(void *arg, int status)
{
    req *r = arg;
    metrics_stage(METRICS_STAGE_BARRIER, r->t_in);
    if (status != LMS_OK) {
        refuse_read(r, status);
        return;
    }
    if (!login_admitted(r))
        return;
    handlers_loop_snapshot(r);
    prepare_later(r);
}

void dispatch_on_frame(void *arg, conn *c, const uint8_t *data, size_t len)
{
    dispatch *d = arg;
    Lms__Request *msg = lms__request__unpack(NULL, len, data);
    if (!msg) {
        log_warn("client %s: undecodable request frame of %zu bytes; closing",
                 conn_peer(c), len);
        metrics_request_done(0, LMS_INVALID_ARGUMENT);
        conn_close_after(c, error_frame(0, LMS_INVALID_ARGUMENT,
                                        "malformed request: the frame does "
                                        "not decode as lms.Request"));
        return;
    }
    uint64_t t_in = metrics_now();
    const handler *h = handler_find(msg->body_case);
    char nul[160]; /* a NUL would cut a string short without a word */
    int status = LMS_OK;
    if (!h) {
        status = LMS_UNIMPLEMENTED;
        conn_send(c, error_frame(msg->id, status,
                                 "unknown request type (not supported by "
                                 "this server version)"));
    } else if (pb_text_check(&lms__request__descriptor, data, len, nul, sizeof nul) < 0) {
        status = LMS_INVALID_ARGUMENT;
        conn_send(c, error_frame(msg->id, status, nul));
    }
    req *r = status == LMS_OK ? calloc(1, sizeof *r) : NULL;
    if (!r) {
        if (status == LMS_OK) {
            status = LMS_RESOURCE_EXHAUSTED;
            conn_send(c, error_frame(msg->id, status, "out of memory"));
        }
        char rid[RULE_REQUEST_ID_MAX + 1], why[RULE_MSG_MAX];
        uint64_t now = metrics_now();
        take_request_id(d, msg, rid, sizeof rid, why);
        metrics_request_done(msg->body_case, status);
        log_request(rid, NULL, h ? h->name : "unknown", status, conn_peer(c),
                    now > t_in ? now - t_in : 0, d->limits.slow_request_ms);
        lms__request__free_unpacked(msg, NULL);
        return;
    }
    r->t_in = t_in;
    r->d = d;
    d->inflight++;
    r->h = h;
    r->c = conn_ref(c);
    conn_inflight_add(c, 1);
    if (large_answer(msg->body_case)) {
        r->held = 1;
        conn_hold(c, 1);
    }
    r->msg = msg;
    r->frame_len = len;
    r->now = wall_ms();
    r->limits = d->limits;
    lms__response__init(&r->resp);
    lms__command__init(&r->cmd);
    char why[RULE_MSG_MAX];
    if (take_request_id(d, msg, r->request_id, sizeof r->request_id, why) != LMS_OK) {
        /* logged under the id the server made: the client's is no good */
        end_with(r, error_frame(msg->id, LMS_INVALID_ARGUMENT, why), LMS_INVALID_ARGUMENT);
        return;
    }
    if (msg->body_case == LMS__REQUEST__BODY_CLUSTER_VERIFY && !msg->seq &&
        msg->cluster_verify && msg->cluster_verify->index) {
        /* A node's own digest (handlers_cluster.c): about the node that
         * answers, so no barrier, and a follower answers too. */
        on_barrier(r, LMS_OK);
    } else if (msg->seq && node_ready_for_writes(d->o.node)) {
        /* A write goes on without a barrier (see node_ready_for_writes):
         * apply decides, and a deposed leader cannot commit. Only an
         * answer decided before proposing waits for one (respond_confirmed). */
        r->unconfirmed = 1;
        r->term = node_term(d->o.node);
        on_barrier(r, LMS_OK);
    } else if (node_read_barrier(d->o.node, on_barrier, r) != LMS_OK) {
        end_with(r, not_leader_frame(d, msg->id), LMS_NOT_LEADER);
    }
}

size_t dispatch_stray_answer(const uint8_t *data, size_t len, const char *text,
                             uint8_t *out, size_t cap)
{
    Lms__Request *m = lms__request__unpack(NULL, len, data);
    if (!m)
        return 0;
    int is_request = m->body_case != LMS__REQUEST__BODY__NOT_SET;
    Lms__Response resp = LMS__RESPONSE__INIT;
    resp.id = m->id;
    resp.status = LMS__STATUS__FAILED_PRECONDITION;
    resp.message = (char *)text;
    lms__request__free_unpacked(m, NULL);
    size_t n = lms__response__get_packed_size(&resp);
    if (!is_request || n > cap)
        return 0;
    return lms__response__pack(&resp, out);
}

dispatch *dispatch_new(const dispatch_options *opts)
{
    dispatch *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    metrics_labels_install(); /* the kinds and statuses it counts */
    d->o = *opts;
    dispatch_set_limits(d, &opts->limits);
    if (!(d->guard = login_guard_new(&opts->login))) {
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    return d;
}

void dispatch_set_limits(dispatch *d, const dispatch_limits *l)
{
    LMS_ASSERT(l->session_ttl_ms > 0 && l->max_upload_bytes > 0 &&
               l->max_sessions_per_user > 0 && l->slow_request_ms >= 0);
    d->limits = *l;
}

void dispatch_set_login(dispatch *d, const login_guard_options *o)
{
    login_guard_set_options(d->guard, o);
}

size_t dispatch_inflight(const dispatch *d) { return d->inflight; }

void dispatch_free(dispatch *d)
{
    if (!d)
        return;
    pthread_mutex_destroy(&d->mu);
    login_guard_free(d->guard);
    free(d->auth);
    free(d);
}

/* SPDX-License-Identifier: MIT */
/*
 * dispatch.h: the request path. A frame from the client port is decoded,
 * then handed to its handler in stages:
 *
 *   loop            a token seen before under the current auth epoch is
 *                   authenticated from the loop's cache
 *   a reader        authenticate the token (if not cached), check the role,
 *                   then the handler's prepare(): answer a read, or build
 *                   a Command. Requests queued together are prepared
 *                   together, in one read transaction of a storage reader
 *                   (storage.h), on one of limits.readers threads beside
 *                   the storage thread, so that they never queue behind
 *                   apply; on the storage thread itself when the backend
 *                   has no readers or limits.readers is 0
 *   worker pool     optional: expensive work (password hashing) that
 *                   prepare() asked for
 *   loop            optional: a question to the tutor (tutor.h), its
 *                   pieces streamed to the client as partial Responses
 *   loop            propose the Command to the node
 *   storage thread  after apply: the handler's applied() packs the answer
 *   loop            send it
 *
 * The loop thread never touches storage and never hashes a file or a
 * password; handlers never touch sockets.
 */
#ifndef LMS_CORE_DISPATCH_H
#define LMS_CORE_DISPATCH_H

#include "blob.h"
#include "login_guard.h"
#include "net.h"
#include "node.h"
#include "sm.h"

#include <lms/auth.h>

struct event_base;
struct workers;
struct tutor_rt;
typedef struct dispatch dispatch;

/* The settings that a SIGHUP may change while the node serves (reload.h).
 * The loop owns them (dispatch_set_limits); each request takes a copy when
 * its frame arrives (req_limits), which every thread that handles it reads:
 * no lock, and a request is judged by one set of them. */
typedef struct dispatch_limits {
    int64_t session_ttl_ms;         /* a new session's lifetime */
    uint64_t max_upload_bytes;
    uint32_t max_sessions_per_user; /* CmdCreateSession.max_sessions */
    int64_t slow_request_ms; /* a request slower logs at warn (0: never) */
} dispatch_limits;

typedef struct dispatch_options {
    dispatch_limits limits;
    uint64_t node_id; /* in the request ids the server makes */
    struct workers *storage_thread; /* one thread: runs storage calls in order */
    /* NULL, or n_readers threads, thread i reading through reader[i]
     * (storage.h, readers; workers_thread_index) */
    struct workers *readers;
    void *const *reader;
    size_t n_readers;
    struct workers *pool;           /* hashing and other blocking work */
    node *node;
    sm *m;
    const struct lms_auth_ops *auth;
    void *auth_inst;
    struct tutor_rt *tutor; /* questions to the tutor */
    login_guard_options login; /* throttling of logins (login_guard.h) */
    const char *storage_name; /* the storage plugin's name (cluster-verify) */
} dispatch_options;

dispatch *dispatch_new(const dispatch_options *opts);
void dispatch_free(dispatch *d);
/* Loop: requests from now on are judged by these limits (reload.h). */
void dispatch_set_limits(dispatch *d, const dispatch_limits *l);
/* Loop: logins from now on are throttled by these (login_guard.h). */
void dispatch_set_login(dispatch *d, const login_guard_options *o);

/* Requests decoded and not yet answered (for a graceful shutdown). */
size_t dispatch_inflight(const dispatch *d);

/* The callbacks for net_listen (arg = the dispatch). */
void dispatch_on_frame(void *arg, conn *c, const uint8_t *data, size_t len);
blob *dispatch_on_oversize(void *arg, uint64_t len, uint32_t limit,
                           int authenticated);
blob *dispatch_on_too_many(void *arg, int per_ip, uint32_t limit);
/* net's on_plaintext: FAILED_PRECONDITION, "ADDR speaks TLS ...". */
blob *dispatch_on_plaintext(void *arg, const char *addr);
/* The peer port's answer to a client that dialed it (node_options and
 * peer.h, stray_answer): a Response with FAILED_PRECONDITION and text,
 * for the id of the Request in data; 0 when data is not a Request. */
size_t dispatch_stray_answer(const uint8_t *data, size_t len, const char *text,
                             uint8_t *out, size_t cap);

/* SHA-256 of a session token, as stored. */
void dispatch_token_hash(const char *token, uint8_t out[32]);
/* SHA-256 of len bytes at data (NULL when len is 0). Any thread. */
void dispatch_sha256(const void *data, size_t len, uint8_t out[32]);

#endif

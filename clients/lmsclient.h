/* SPDX-License-Identifier: MIT */
/*
 * lmsclient.h: the client library shared by lms-student, lms-instructor and
 * lms-admin. It sends one Request at a time to an lms cluster and returns
 * the Response, hiding the cluster: it connects with a timeout, follows
 * NOT_LEADER hints to the leader (and stays there), and when a server is
 * unavailable or hangs up it retries the others with backoff, re-sending the
 * same request with the same (client_id, seq) so that the cluster applies a
 * write once however often it arrives.
 *
 * A call ends with an answer from the cluster (which may refuse), or, once
 * its deadline has passed, with one of two honest failures: nothing was
 * sent (LMS_CLIENT_UNREACHABLE, LMS_CLIENT_NO_LEADER, LMS_CLIENT_CONFIG), or
 * a write went out and no answer came back, so it may or may not be stored
 * (LMS_CLIENT_UNKNOWN). A transport failure is never reported as a refusal.
 *
 * Passwords and tokens do not cross a network in clear unless the caller
 * says so: by default the client speaks plaintext only to loopback
 * addresses, and TLS (lms_client_set_tls) verifies the server's
 * certificate and names.
 */
#ifndef LMS_CLIENTS_LMSCLIENT_H
#define LMS_CLIENTS_LMSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.pb-c.h"
#include "tls.h"

#define LMS_DEFAULT_SERVERS "127.0.0.1:7400"
#define LMS_DEFAULT_PORT "7400"
/* How long a call keeps retrying after its first failure; LMS_CLIENT_TIMEOUT
 * (seconds) overrides it. */
#define LMS_CLIENT_DEFAULT_TIMEOUT_MS 10000
/* Timeout of one TCP connect. */
#define LMS_CLIENT_CONNECT_TIMEOUT_MS 2000
/* NOT_LEADER hints followed per call before treating them as "no leader". */
#define LMS_CLIENT_MAX_REDIRECTS 5
/* lmsd accepts longer request frames only on a connection where a request
 * has authenticated (limits.preauth_frame_bytes, at least 4 KiB): before
 * sending a longer one on a fresh connection the client sends a whoami with
 * the same token. */
#define LMS_CLIENT_PREAUTH_FRAME 4096

enum lms_client_rc {
    LMS_CLIENT_OK = 0,
    LMS_CLIENT_UNREACHABLE, /* no server reached in time; a write was never sent */
    LMS_CLIENT_NO_LEADER,   /* servers answered NOT_LEADER/UNAVAILABLE until time ran out,
                             * before a write was sent to any leader */
    LMS_CLIENT_BAD_REPLY,   /* a response that is too large or does not decode */
    LMS_CLIENT_UNKNOWN,     /* a write went out and no definite answer came back before
                             * the deadline: it may or may not have been stored */
    LMS_CLIENT_LOCAL,       /* the request cannot be sent (too large, out of memory) */
    LMS_CLIENT_CONFIG,      /* no server can be used as configured (a certificate that is
                             * not trusted or names another host, TLS against plaintext,
                             * plaintext to another machine): nothing was sent */
};

struct lms_client;

/*
 * A client for the comma-separated "host:port" list servers ("[v6addr]:port"
 * for IPv6; the port defaults to 7400). Does not connect yet. Reads
 * LMS_CLIENT_TIMEOUT, and LMS_CLIENT_DEBUG (if set, every failed attempt is
 * traced on stderr). Returns NULL with the reason in err if the list or the
 * timeout is malformed or memory runs out.
 */
struct lms_client *lms_client_new(const char *servers, char *err, size_t errlen);
void lms_client_free(struct lms_client *c);

/*
 * How to talk to the servers (tls.h): plaintext to loopback addresses only
 * (LMS_TLS_DEFAULT, what a new client does), plaintext anywhere, or TLS
 * verified with the system's CAs or with those of cafile. The same for
 * every server of the list and every leader a server names. 0, or -1 with
 * the reason in err (the CAs cannot be loaded).
 */
int lms_client_set_tls(struct lms_client *c, enum lms_tls_mode mode, const char *cafile,
                       char *err, size_t errlen);

/* How long calls keep retrying, in milliseconds. */
void lms_client_set_timeout(struct lms_client *c, int timeout_ms);
/* Allow a progress bar on stderr for large frames (off by default). */
void lms_client_set_progress(struct lms_client *c, bool on);

/*
 * Send req and wait for its response. Sets req->id, req->client_id and
 * req->request_id (lms_client_request_id), and for a write (see
 * lms_request_is_write) a fresh req->seq; req->token is the caller's. On LMS_CLIENT_OK *resp holds the response, to be freed with
 * lms__response__free_unpacked(resp, NULL); its status is never NOT_LEADER
 * or UNAVAILABLE, which are retried. Otherwise err holds a message
 * for the user, e.g. "no lms server reachable at 127.0.0.1:7400 (connection
 * refused)".
 */
enum lms_client_rc lms_client_call(struct lms_client *c, Lms__Request *req, Lms__Response **resp,
                                   char *err, size_t errlen);

/* The pieces of a streamed answer (a tutor's, say) arrive as partial
 * Responses with the request's id before its final Response. */
typedef void (*lms_partial_fn)(void *arg, const Lms__Response *partial);

struct lms_call_opts {
    lms_partial_fn on_partial; /* NULL: partial Responses are skipped */
    void *arg;
    int wait_ms; /* how long the server may stay silent; 0: the timeout */
    /* A write sent with these (both nonzero) rather than a fresh seq of
     * this client: a seq taken with lms_client_take_seq, or the ids of an
     * earlier write whose outcome was unknown, so that the cluster answers
     * it from its record instead of applying it twice. */
    uint64_t client_id, seq;
};

/*
 * lms_client_call with options: partial Responses go to on_partial, in
 * order, as they arrive. Once one has, a lost connection is not retried
 * (the pieces would come again): a write ends LMS_CLIENT_UNKNOWN.
 */
enum lms_client_rc lms_client_call_opts(struct lms_client *c, Lms__Request *req,
                                        const struct lms_call_opts *o, Lms__Response **resp,
                                        char *err, size_t errlen);

/* Does a request of this kind change state (and so carry a seq)? */
bool lms_request_is_write(Lms__Request__BodyCase body);

/* Every request kind is one or the other; a kind added to client.proto
 * and not sorted here is UNCLASSIFIED, and test_client_requests fails:
 * a write sent without a client id and seq would not be deduplicated. */
enum lms_request_kind {
    LMS_REQUEST_UNCLASSIFIED = 0,
    LMS_REQUEST_READ,
    LMS_REQUEST_WRITE, /* a replicated command: sent with a client id and seq */
};
enum lms_request_kind lms_request_kind(Lms__Request__BodyCase body);

/* The random id of this client (process). */
uint64_t lms_client_id(const struct lms_client *c);
/* Take the next seq of this client for a write to be sent with
 * lms_call_opts {client_id = lms_client_id(c), seq}. */
uint64_t lms_client_take_seq(struct lms_client *c);
/* The request id of the last call (Request.request_id): 16 hex digits,
 * new for each call and the same on all of its retries and redirects, so
 * that the servers' log lines of the call can be found; "" before the
 * first call. A CLI shows it when a call that reached a server fails. */
#define LMS_CLIENT_REQUEST_ID_LEN 16
const char *lms_client_request_id(const struct lms_client *c);

/* "host:port" of the server that answered last (the leader, usually). */
const char *lms_client_current(const struct lms_client *c);

/* The name of a status, e.g. "FAILED_PRECONDITION"; "STATUS_42" if unknown. */
const char *lms_status_name(Lms__Status s, char *buf, size_t n);

#endif

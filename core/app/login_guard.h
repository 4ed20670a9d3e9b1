/* SPDX-License-Identifier: MIT */
/*
 * login_guard.h: who may try a password now (internal to core/).
 *
 * Logins are throttled on the node that serves them (the leader), in
 * memory, by the loop thread alone; the state is not replicated, and a
 * new leader starts with none (an attacker gains one fresh round of
 * guesses per failover, no more).
 *
 *  - Failed logins, per account name (known or not: an unknown name is
 *    throttled like any other, so a refusal tells nothing about whether
 *    the account exists) and per source address: after `failures` (per
 *    address: `address_failures`) failures within LOGIN_GUARD_WINDOW_MS,
 *    each further failure locks the name (address) for 1 s, doubling up to
 *    backoff_max_ms. A locked login is refused at once, without reading
 *    the user or running the password hash. A successful login clears its
 *    name (not its address). The tables have a fixed size: a flood of
 *    random names or addresses evicts entries with the fewest failures,
 *    not the locked ones.
 *  - Logins in flight (prepare, hash, commit): at most per_conn on one
 *    connection (more are refused: pipelined guesses get an answer, not a
 *    worker) and per_address from one address (more wait in line, in
 *    order, so one address cannot hold every worker of the pool).
 *
 * passwd's check of the current password goes through the guard as a
 * login of the caller's name from its address (dispatch.c,
 * passwd_admitted): a stolen session gets no budget of guesses of its own.
 */
#ifndef LMS_CORE_LOGIN_GUARD_H
#define LMS_CORE_LOGIN_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* Failures older than this are forgotten. */
#define LOGIN_GUARD_WINDOW_MS (15LL * 60 * 1000)
/* The first wait once a name or address is throttled. */
#define LOGIN_GUARD_BACKOFF_MIN_MS 1000LL

typedef struct login_guard_options {
    uint32_t failures;         /* per name before the backoff; 0: no throttle */
    uint32_t address_failures; /* per address before the backoff; 0: none */
    int64_t backoff_max_ms;    /* the longest wait */
    uint32_t per_conn;         /* logins in flight per connection, >= 1 */
    uint32_t per_address;      /* logins in flight per address, >= 1 */
} login_guard_options;

typedef struct login_guard login_guard;

/* A login's place in the guard; embedded in the request, zeroed with it. */
enum login_place {
    LOGIN_NONE = 0, /* not admitted (refused at once) */
    LOGIN_WAITING,  /* in line behind its address's logins in flight */
    LOGIN_RUNNING,  /* in flight */
    LOGIN_REFUSED,  /* left the line refused: status and msg say why */
};

typedef struct login_waiter {
    struct login_waiter *next;
    int state;         /* enum login_place */
    const void *conn;  /* the connection (identity only) */
    const char *name;  /* the account name tried (valid while in the guard) */
    char addr[64];     /* the source address, without the port */
    int status;        /* LOGIN_REFUSED, or a refusal of login_guard_admit */
    char msg[200];
} login_waiter;

/* The verdict of a login, for login_guard_done. */
enum login_verdict {
    LOGIN_VERDICT_NONE = 0, /* no password checked (bad input, an error) */
    LOGIN_VERDICT_OK = 1,
    LOGIN_VERDICT_DENIED = 2,
};

login_guard *login_guard_new(const login_guard_options *o);
void login_guard_free(login_guard *g);
/* From now on throttle by o (a reload): counts and locks already made
 * stay; a login in flight or in line keeps its place, and a line moves on
 * under the new per_address as its logins end. */
void login_guard_set_options(login_guard *g, const login_guard_options *o);

/*
 * May a login for name on conn (peer "ip:port") start at now (ms)? Fills w.
 * Returns LOGIN_RUNNING (go on), LOGIN_WAITING (w is in line: it comes
 * back from login_guard_done) or LOGIN_NONE (refused: w->status and
 * w->msg hold the answer).
 */
int login_guard_admit(login_guard *g, login_waiter *w, const void *conn,
                      const char *peer, const char *name, int64_t now);

/*
 * w's login is over (answered, or its request ended): count its verdict
 * and free its place. Returns the logins that leave the line because of
 * it, linked by next: LOGIN_RUNNING ones go on, LOGIN_REFUSED ones are
 * answered with their status and msg (and then passed here too).
 */
login_waiter *login_guard_done(login_guard *g, login_waiter *w, int verdict,
                               int64_t now);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * session.h: the login session that the clients keep between runs, in
 * DIR/session (DIR from --home, else $LMS_HOME, else $XDG_CONFIG_HOME/lms
 * when that is an absolute path, else ~/.config/lms). The file is a small
 * JSON object:
 *
 *   {"user": "alice", "role": "student", "servers": "127.0.0.1:7400",
 *    "tls": "cacert", "cacert": "/home/alice/lms/ca.crt",
 *    "expires": 1796169540000, "token": "..."}
 *
 * "tls" is how login talked to the servers (lms_tls_mode_name: "default",
 * "plaintext", "system", "cacert"), and "cacert" the CA file of "cacert";
 * files from before TLS have neither, which reads as "default".
 * created with mode 0600 in a directory created with mode 0700, and
 * replaced atomically (write a temporary file, fsync, rename).
 */
#ifndef LMS_CLIENTS_SESSION_H
#define LMS_CLIENTS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lms_session {
    char *token;
    char *user;
    char *role;    /* "student", "instructor", "admin" */
    char *servers; /* the server list used at login */
    char *tls;     /* how login talked to them (lms_tls_mode_name), or NULL */
    char *cacert;  /* the CA file of tls "cacert", absolute, or NULL */
    int64_t expires; /* ms since the epoch; 0 if unknown */
};

/* The session directory: home if given, else $LMS_HOME, else
 * $XDG_CONFIG_HOME/lms (only an absolute XDG_CONFIG_HOME counts, as the XDG
 * base directory spec says), else $HOME/.config/lms. NULL only when no home
 * directory can be found (or memory runs out). The caller frees the result. */
char *lms_session_dir(const char *home);
/* The same, and in *from what chose it: "--home", "LMS_HOME",
 * "XDG_CONFIG_HOME", or NULL for the default. */
char *lms_session_dir_from(const char *home, const char **from);

/* Load DIR/session into s. Returns 0, 1 if there is no session file, or -1
 * with the reason in err (unreadable or damaged file). */
int lms_session_load(const char *dir, struct lms_session *s, char *err, size_t errlen);

/* Save s as DIR/session, creating DIR (0700) as needed. 0 or -1 with err. */
int lms_session_save(const char *dir, const struct lms_session *s, char *err, size_t errlen);

/* Remove DIR/session. 0 (also if there was none) or -1 with err. */
int lms_session_remove(const char *dir, char *err, size_t errlen);

/* Free the strings of s (the token is wiped first) and zero it. */
void lms_session_clear(struct lms_session *s);

/* Other small files of the session directory (pending.h): DIR/name as a
 * string (at most 64 KiB; free it), or NULL with errno (ENOENT: none). */
char *lms_home_read(const char *dir, const char *name);
/* Replace DIR/name by text atomically (mode 0600, DIR created with 0700),
 * fsync'ed first if sync. 0, or -1 with err. */
int lms_home_write(const char *dir, const char *name, const char *text, bool sync, char *err,
                   size_t errlen);
/* Remove DIR/name if it exists. */
void lms_home_remove(const char *dir, const char *name);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * client_config.h: the clients' config file, and the precedence of every
 * place a connection setting can come from.
 *
 * The file (config.yaml in the session directory, or --config FILE,
 * $LMS_CONFIG) is a YAML mapping:
 *
 *   servers: db1:7400,db2:7400     # or a list: [db1:7400, db2:7400]
 *   cacert: ca.crt                 # relative to the file's directory
 *   tls: true                      # TLS with the system's CAs
 *   plaintext: false               # plaintext even to another machine
 *   context: prod                  # the context used by default
 *   contexts:
 *     prod: {servers: [db1:7400, db2:7400], cacert: prod-ca.crt}
 *     test: {servers: 127.0.0.1:7400, plaintext: true}
 *
 * Every key is optional; an unknown one is an error, so that a typo does
 * not pass silently. A context holds servers, cacert, tls and plaintext.
 *
 * Precedence, highest first: the command line, the environment, the
 * chosen context, the file's top level, what the saved session remembers
 * from login, the built-in default. The TLS settings (cacert, tls,
 * plaintext) are one choice per level: a level that names any of them
 * decides how to talk, and contradicting choices within one level are an
 * error (plaintext: true with tls: true or a cacert).
 */
#ifndef LMS_CLIENTS_CLIENT_CONFIG_H
#define LMS_CLIENTS_CLIENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "session.h"
#include "tls.h"

/* Where a setting came from, lowest precedence first. */
enum lms_src {
    LMS_SRC_DEFAULT = 0,
    LMS_SRC_SESSION, /* the session file, as login saved it */
    LMS_SRC_FILE,    /* the top level of the config file */
    LMS_SRC_CONTEXT, /* the chosen context of the config file */
    LMS_SRC_ENV,
    LMS_SRC_FLAG,
};

struct lms_origin {
    enum lms_src src;
    const char *name; /* FLAG: "--servers"; ENV: "LMS_SERVERS"; CONTEXT: its name; else NULL */
    int line;         /* FILE, CONTEXT: the line of the key in the file; else 0 */
};

/* The keys a level of the file can hold. */
enum lms_cfg_key {
    LMS_CFG_SERVERS = 0,
    LMS_CFG_CACERT,
    LMS_CFG_TLS,
    LMS_CFG_PLAINTEXT,
    LMS_CFG_NKEYS,
};

/* The settings of one level: the file's top level or one context. */
struct lms_cfg_level {
    char *name;                /* a context's name; NULL for the top level */
    int name_line;             /* where a context's name is */
    int line[LMS_CFG_NKEYS];   /* the line of each key; 0: the key is absent */
    char *servers;             /* "h:p,h:p" (a list is joined with commas) */
    char *cacert;              /* a relative path made relative to the file's directory */
    bool tls, plaintext;
};

struct lms_client_config {
    char *path;  /* the file looked for; NULL: there is none to look for */
    bool found;  /* it exists and was read */
    struct lms_cfg_level top;
    struct lms_cfg_level *contexts;
    size_t ncontexts;
    char *default_context; /* the file's context:, or NULL */
    int default_context_line;
    const struct lms_cfg_level *chosen; /* the context in use (into contexts), or NULL */
    struct lms_origin chosen_from;      /* who chose it: --context, $LMS_CONTEXT, the file */
};

/*
 * Which config file: opt (--config), else $LMS_CONFIG, else DIR/config.yaml
 * (NULL when dir is NULL too). *from (if not NULL) says which; *named
 * whether the user named the file (then it must exist). Free the result.
 */
char *lms_config_path(const char *opt, const char *dir, struct lms_origin *from, bool *named);

/*
 * Read the config file at path (NULL: no file) into cfg, and choose the
 * context: context_opt (--context), else $LMS_CONTEXT, else the file's
 * context:. A missing file is an empty config, unless must_exist. Refused:
 * a file that cannot be read, is not valid YAML, holds an unknown key or
 * a bad value, or is a regular file that is writable by group or others
 * or belongs to another user than the caller or root (it chooses where
 * passwords go, like ~/.ssh/config); a context that is not in the file.
 * 0, or -1 with the reason in err ("FILE:LINE: ..." when it has a line).
 * cfg must be released with lms_config_free() either way.
 */
int lms_config_load(struct lms_client_config *cfg, const char *path, bool must_exist,
                    const char *context_opt, char *err, size_t errlen);
void lms_config_free(struct lms_client_config *cfg);

/* What the command line says (NULL, false: nothing). */
struct lms_cfg_flags {
    const char *servers;
    const char *cacert;
    bool tls, plaintext;
};

/*
 * The server list: -s, else $LMS_SERVERS, else the context's, the file's,
 * the session's, else LMS_DEFAULT_SERVERS. cfg and s may be NULL. *from (if
 * not NULL) says where it came from. The result points into the inputs.
 */
const char *lms_config_servers(const struct lms_client_config *cfg,
                               const struct lms_cfg_flags *flags, const struct lms_session *s,
                               struct lms_origin *from);

/*
 * How to talk to the servers: --cacert, --tls, --plaintext; else
 * $LMS_CACERT, $LMS_TLS=1, $LMS_PLAINTEXT=1; else the context's choice, the
 * file's; else what the session remembers; else LMS_TLS_DEFAULT. A CA file
 * comes back absolute in *cafile (free it; NULL for the other modes). 0, or
 * -1 with the reason in err (contradicting options or variables, a bad
 * value of a variable).
 */
int lms_config_tls(const struct lms_client_config *cfg, const struct lms_cfg_flags *flags,
                   const struct lms_session *s, enum lms_tls_mode *mode, char **cafile,
                   struct lms_origin *from, char *err, size_t errlen);

/* "flag", "env", "context", "file", "session", "default". */
const char *lms_src_name(enum lms_src src);

/* An origin in words: "flag --servers", "env LMS_SERVERS", "context prod
 * (FILE:4)", "file FILE:2", "session", "default". Returns buf. */
const char *lms_origin_text(const struct lms_client_config *cfg, const struct lms_origin *o,
                            char *buf, size_t len);

#endif

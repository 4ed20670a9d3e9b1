/* SPDX-License-Identifier: MIT */
/*
 * client_config.c: reading the clients' config file with libyaml, and the
 * precedence of the settings (see client_config.h).
 *
 * The file is loaded as one YAML document (libyaml's document API keeps
 * each node's line, for messages) and checked whole: an unknown key or a
 * bad value anywhere, in a context that is not used too, is an error that
 * names the file, the line and the key, so that a typo never passes as
 * "no setting".
 */
#include "client_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "lmsclient.h"

#define CONFIG_FILE "config.yaml"

static const char *const key_names[LMS_CFG_NKEYS] = {
    [LMS_CFG_SERVERS] = "servers",
    [LMS_CFG_CACERT] = "cacert",
    [LMS_CFG_TLS] = "tls",
    [LMS_CFG_PLAINTEXT] = "plaintext",
};

/* One load: the file's name for messages, its directory for relative
 * paths, the document, where errors go. */
struct reader {
    const char *path;
    char *dir;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
};

/* "FILE:LINE: message" (or "FILE: message" without a line) into r->err;
 * returns -1. */
__attribute__((format(printf, 3, 4))) static int fail_at(struct reader *r, int line,
                                                         const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(r->err, r->errlen, "%s:%d: %s", r->path, line, msg);
    else
        snprintf(r->err, r->errlen, "%s: %s", r->path, msg);
    return -1;
}

static int oom(struct reader *r)
{
    snprintf(r->err, r->errlen, "out of memory");
    return -1;
}

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static const char *kind_of(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "mapping" : n->type == YAML_SEQUENCE_NODE ? "list"
                                                                                     : "string";
}

static yaml_node_t *node_at(const struct reader *r, int id)
{
    return yaml_document_get_node(r->doc, id);
}

/* YAML's null: an empty plain value ("servers:" and nothing), ~ or null. */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* The text of the scalar n, the value of key; NULL after the error when it
 * is no string, empty or holds a NUL (which C strings would cut off). */
static const char *text_of(struct reader *r, const char *key, const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE) {
        fail_at(r, line_of(n), "%s: expected a string, not a %s", key, kind_of(n));
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (is_null(n) || *s == '\0') {
        fail_at(r, line_of(n), "%s has no value", key);
        return NULL;
    }
    if (strlen(s) != n->data.scalar.length) {
        fail_at(r, line_of(n), "%s: the value holds a NUL character", key);
        return NULL;
    }
    return s;
}

static int read_bool(struct reader *r, const char *key, const yaml_node_t *n, bool *out)
{
    const char *s = n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : "";
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        *out = false;
    else if (n->type != YAML_SCALAR_NODE || is_null(n))
        return fail_at(r, line_of(n), "%s: expected true or false, not %s", key,
                       n->type == YAML_SCALAR_NODE ? "nothing" : kind_of(n));
    else
        return fail_at(r, line_of(n), "%s: expected true or false, not '%s'", key, s);
    return 0;
}

/* servers: "h:p,h:p" as is, or a list of entries joined with commas (the
 * form every other place takes). */
static int read_servers(struct reader *r, const char *key, const yaml_node_t *n, char **out)
{
    if (n->type == YAML_MAPPING_NODE)
        return fail_at(r, line_of(n), "%s: expected \"host:port,...\" or a list of them, not a "
                                      "mapping",
                       key);
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = text_of(r, key, n);
        if (s == NULL)
            return -1;
        return (*out = strdup(s)) == NULL ? oom(r) : 0;
    }
    const yaml_node_item_t *it = n->data.sequence.items.start, *end = n->data.sequence.items.top;
    if (it == end)
        return fail_at(r, line_of(n), "%s: the list is empty", key);
    size_t len = 0;
    for (const yaml_node_item_t *i = it; i < end; i++) {
        const yaml_node_t *item = node_at(r, *i);
        if (item->type != YAML_SCALAR_NODE)
            return fail_at(r, line_of(item), "%s: an entry of the list is a %s, not "
                                             "\"host:port\"",
                           key, kind_of(item));
        const char *s = text_of(r, key, item);
        if (s == NULL)
            return -1;
        len += strlen(s) + 1;
    }
    char *list = malloc(len);
    if (list == NULL)
        return oom(r);
    size_t at = 0;
    for (const yaml_node_item_t *i = it; i < end; i++) {
        const char *s = (const char *)node_at(r, *i)->data.scalar.value;
        at += (size_t)snprintf(list + at, len - at, "%s%s", at ? "," : "", s);
    }
    *out = list;
    return 0;
}

/* A path of the file: relative ones are relative to the file's directory,
 * not to wherever the command runs. */
static int read_path(struct reader *r, const char *key, const yaml_node_t *n, char **out)
{
    const char *s = text_of(r, key, n);
    if (s == NULL)
        return -1;
    if (s[0] == '/')
        *out = strdup(s);
    else if (asprintf(out, "%s/%s", r->dir, s) < 0)
        *out = NULL;
    return *out == NULL ? oom(r) : 0;
}

static int key_index(const char *name)
{
    for (int k = 0; k < LMS_CFG_NKEYS; k++)
        if (strcmp(name, key_names[k]) == 0)
            return k;
    return -1;
}

/* Setting k of level l from the value v; key is its dotted name. */
static int read_setting(struct reader *r, struct lms_cfg_level *l, int k, const char *key,
                        int line, const yaml_node_t *v)
{
    if (l->line[k] != 0)
        return fail_at(r, line, "%s is given twice (first on line %d)", key, l->line[k]);
    l->line[k] = line;
    switch (k) {
    case LMS_CFG_SERVERS:
        return read_servers(r, key, v, &l->servers);
    case LMS_CFG_CACERT:
        return read_path(r, key, v, &l->cacert);
    case LMS_CFG_TLS:
        return read_bool(r, key, v, &l->tls);
    default:
        return read_bool(r, key, v, &l->plaintext);
    }
}

/* One level's TLS choice must not contradict itself (prefix: "" or
 * "contexts.NAME."), as --plaintext with --cacert would not. */
static int check_level(struct reader *r, const struct lms_cfg_level *l, const char *prefix)
{
    const int *ln = l->line;
    if (ln[LMS_CFG_PLAINTEXT] && l->plaintext && ln[LMS_CFG_TLS] && l->tls)
        return fail_at(r, ln[LMS_CFG_PLAINTEXT],
                       "%splaintext: true contradicts %stls: true (line %d): choose plaintext "
                       "or TLS",
                       prefix, prefix, ln[LMS_CFG_TLS]);
    if (ln[LMS_CFG_PLAINTEXT] && l->plaintext && ln[LMS_CFG_CACERT])
        return fail_at(r, ln[LMS_CFG_PLAINTEXT],
                       "%splaintext: true contradicts %scacert (line %d), which means TLS: "
                       "choose plaintext or TLS",
                       prefix, prefix, ln[LMS_CFG_CACERT]);
    if (ln[LMS_CFG_TLS] && !l->tls && ln[LMS_CFG_CACERT])
        return fail_at(r, ln[LMS_CFG_TLS],
                       "%stls: false contradicts %scacert (line %d), which means TLS", prefix,
                       prefix, ln[LMS_CFG_CACERT]);
    return 0;
}

/* The key node of a mapping pair as text; NULL after the error. */
static const char *key_text(struct reader *r, const yaml_node_t *k, const char *where)
{
    if (k->type != YAML_SCALAR_NODE || is_null(k)) {
        fail_at(r, line_of(k), "%s: a key must be a word, not %s", where,
                k->type == YAML_SCALAR_NODE ? "empty" : kind_of(k));
        return NULL;
    }
    return (const char *)k->data.scalar.value;
}

static int read_context(struct reader *r, struct lms_cfg_level *c, const yaml_node_t *map)
{
    char prefix[300];
    snprintf(prefix, sizeof prefix, "contexts.%s.", c->name);
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(r, line_of(map),
                       "contexts.%s: expected a mapping of settings (servers, cacert, tls, "
                       "plaintext), not %s",
                       c->name, is_null(map) ? "nothing" : kind_of(map));
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_at(r, p->key);
        const char *name = key_text(r, k, prefix);
        if (name == NULL)
            return -1;
        char key[600];
        snprintf(key, sizeof key, "%s%s", prefix, name);
        int idx = key_index(name);
        if (idx < 0)
            return fail_at(r, line_of(k),
                           "unknown key '%s' (a context holds servers, cacert, tls and "
                           "plaintext)",
                           key);
        if (read_setting(r, c, idx, key, line_of(k), node_at(r, p->value)) < 0)
            return -1;
    }
    return check_level(r, c, prefix);
}

static int read_contexts(struct reader *r, struct lms_client_config *cfg, const yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(r, line_of(map), "contexts: expected a mapping of names to settings, "
                                        "not %s",
                       is_null(map) ? "nothing" : kind_of(map));
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    cfg->contexts = calloc(n ? n : 1, sizeof *cfg->contexts);
    if (cfg->contexts == NULL)
        return oom(r);
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_at(r, p->key);
        const char *name = key_text(r, k, "contexts");
        if (name == NULL)
            return -1;
        for (size_t i = 0; i < cfg->ncontexts; i++)
            if (strcmp(cfg->contexts[i].name, name) == 0)
                return fail_at(r, line_of(k), "contexts.%s is given twice (first on line %d)",
                               name, cfg->contexts[i].name_line);
        struct lms_cfg_level *c = &cfg->contexts[cfg->ncontexts++];
        c->name_line = line_of(k);
        if ((c->name = strdup(name)) == NULL)
            return oom(r);
        if (read_context(r, c, node_at(r, p->value)) < 0)
            return -1;
    }
    return 0;
}

static int read_top(struct reader *r, struct lms_client_config *cfg, const yaml_node_t *root)
{
    int contexts_line = 0;
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(r, line_of(root),
                       "expected a mapping of settings (servers:, cacert:, ...), not a %s",
                       kind_of(root));
    for (const yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_at(r, p->key), *v = node_at(r, p->value);
        const char *name = key_text(r, k, "the top level");
        if (name == NULL)
            return -1;
        int idx = key_index(name), line = line_of(k), rc;
        if (idx >= 0) {
            rc = read_setting(r, &cfg->top, idx, name, line, v);
        } else if (strcmp(name, "context") == 0) {
            if (cfg->default_context_line != 0)
                return fail_at(r, line, "context is given twice (first on line %d)",
                               cfg->default_context_line);
            cfg->default_context_line = line;
            const char *s = text_of(r, name, v);
            rc = s == NULL ? -1 : (cfg->default_context = strdup(s)) == NULL ? oom(r) : 0;
        } else if (strcmp(name, "contexts") == 0) {
            if (contexts_line != 0)
                return fail_at(r, line, "contexts is given twice (first on line %d)",
                               contexts_line);
            contexts_line = line;
            rc = read_contexts(r, cfg, v);
        } else {
            return fail_at(r, line,
                           "unknown key '%s' (expected servers, cacert, tls, plaintext, context "
                           "or contexts)",
                           name);
        }
        if (rc < 0)
            return -1;
    }
    return check_level(r, &cfg->top, "");
}

/* libyaml's complaint, with where it is. */
static int yaml_fail(struct reader *r, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return oom(r);
    yaml_mark_t m = p->error == YAML_READER_ERROR ? p->mark : p->problem_mark;
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->context != NULL) /* "while parsing a block mapping" */
        return fail_at(r, (int)m.line + 1, "not valid YAML: %s (column %d; %s that starts on "
                                           "line %d)",
                       problem, (int)m.column + 1, p->context, (int)p->context_mark.line + 1);
    return fail_at(r, (int)m.line + 1, "not valid YAML: %s (column %d)", problem,
                   (int)m.column + 1);
}

/* The directory of path, absolute when it can be found. */
static char *dir_of(const char *path)
{
    char *abs = realpath(path, NULL);
    char *d = abs ? abs : strdup(path);
    if (d == NULL)
        return NULL;
    char *slash = strrchr(d, '/');
    if (slash == NULL)
        strcpy(d, ".");
    else
        slash[slash == d ? 1 : 0] = '\0';
    return d;
}

/*
 * Anyone who can write the file chooses where the password of the next
 * login goes, and which CA vouches for the server: refuse it as ssh
 * refuses such a ~/.ssh/config, rather than warn where nobody looks. Only
 * regular files: /dev/null (no settings) is the system's.
 */
static int check_owner(struct reader *r, const struct stat *st)
{
    if (!S_ISREG(st->st_mode))
        return 0;
    if (st->st_uid != getuid() && st->st_uid != 0)
        return fail_at(r, 0,
                       "refused: the config file belongs to another user (uid %u), and it "
                       "chooses the servers your password goes to",
                       (unsigned)st->st_uid);
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return fail_at(r, 0,
                       "refused: the config file is writable by %s (mode %04o), and it chooses "
                       "the servers your password goes to; run: chmod go-w %s",
                       st->st_mode & S_IWOTH ? "others" : "its group",
                       (unsigned)(st->st_mode & 07777), r->path);
    return 0;
}

/* Parse the open file f into cfg (the top level and every context). */
static int parse(struct reader *r, struct lms_client_config *cfg, FILE *f)
{
    yaml_parser_t p;
    yaml_document_t doc, next;
    if (!yaml_parser_initialize(&p))
        return oom(r);
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        int rc = yaml_fail(r, &p);
        yaml_parser_delete(&p);
        return rc;
    }
    r->doc = &doc;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = root == NULL ? 0 : read_top(r, cfg, root); /* an empty file: no settings */
    /* a second document ("---") would be read by nothing: say so */
    if (rc == 0 && root != NULL) {
        if (!yaml_parser_load(&p, &next)) {
            rc = yaml_fail(r, &p);
        } else {
            const yaml_node_t *more = yaml_document_get_root_node(&next);
            if (more != NULL)
                rc = fail_at(r, line_of(more),
                             "a second YAML document; the config is one mapping");
            yaml_document_delete(&next);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return rc;
}

static int read_file(struct lms_client_config *cfg, const char *path, bool must_exist,
                     char *err, size_t errlen)
{
    struct reader r = {.path = path, .err = err, .errlen = errlen};
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && !must_exist)
            return 0; /* no file, no settings */
        return fail_at(&r, 0, "cannot read the config file: %s", strerror(errno));
    }
    int e = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (e != 0) {
        close(fd);
        return fail_at(&r, 0, "cannot read the config file: %s", strerror(e));
    }
    if (check_owner(&r, &st) < 0) {
        close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        return oom(&r);
    }
    cfg->found = true;
    int rc = (r.dir = dir_of(path)) == NULL ? oom(&r) : parse(&r, cfg, f);
    if (rc == 0 && ferror(f))
        rc = fail_at(&r, 0, "cannot read the config file: %s", strerror(errno));
    fclose(f);
    free(r.dir);
    return rc;
}

static const struct lms_cfg_level *find_context(const struct lms_client_config *cfg,
                                                const char *name)
{
    for (size_t i = 0; i < cfg->ncontexts; i++)
        if (strcmp(cfg->contexts[i].name, name) == 0)
            return &cfg->contexts[i];
    return NULL;
}

/* "it has: prod, test" or "it has no contexts". */
static const char *context_list(const struct lms_client_config *cfg, char *buf, size_t len)
{
    size_t at = (size_t)snprintf(buf, len, cfg->ncontexts ? "it has: " : "it has no contexts");
    for (size_t i = 0; i < cfg->ncontexts && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", cfg->contexts[i].name);
    return buf;
}

static int choose_context(struct lms_client_config *cfg, const char *opt, char *err,
                          size_t errlen)
{
    const char *env = getenv("LMS_CONTEXT"), *name = NULL;
    struct lms_origin from = {.src = LMS_SRC_DEFAULT};
    char list[512];
    /* the file's default is checked even when something overrides it: a
     * typo must not wait for the day nothing does */
    if (cfg->default_context != NULL && find_context(cfg, cfg->default_context) == NULL) {
        snprintf(err, errlen, "%s:%d: context: there is no context '%s' under contexts (%s)",
                 cfg->path, cfg->default_context_line, cfg->default_context,
                 context_list(cfg, list, sizeof list));
        return -1;
    }
    if (opt != NULL) {
        name = opt;
        from = (struct lms_origin){.src = LMS_SRC_FLAG, .name = "--context"};
    } else if (env != NULL && *env != '\0') {
        name = env;
        from = (struct lms_origin){.src = LMS_SRC_ENV, .name = "LMS_CONTEXT"};
    } else if (cfg->default_context != NULL) {
        name = cfg->default_context;
        from = (struct lms_origin){.src = LMS_SRC_FILE, .line = cfg->default_context_line};
    }
    if (name == NULL)
        return 0;
    cfg->chosen = find_context(cfg, name);
    cfg->chosen_from = from;
    if (cfg->chosen != NULL)
        return 0;
    if (!cfg->found)
        snprintf(err, errlen, "no context '%s' (%s): there is no config file%s%s", name,
                 from.name, cfg->path ? " " : "", cfg->path ? cfg->path : "");
    else
        snprintf(err, errlen, "no context '%s' (%s) in %s; %s", name, from.name, cfg->path,
                 context_list(cfg, list, sizeof list));
    return -1;
}

char *lms_config_path(const char *opt, const char *dir, struct lms_origin *from, bool *named)
{
    const char *env = getenv("LMS_CONFIG");
    struct lms_origin o = {.src = LMS_SRC_DEFAULT};
    char *path = NULL;
    if (opt != NULL) {
        o = (struct lms_origin){.src = LMS_SRC_FLAG, .name = "--config"};
        path = strdup(opt);
    } else if (env != NULL && *env != '\0') {
        o = (struct lms_origin){.src = LMS_SRC_ENV, .name = "LMS_CONFIG"};
        path = strdup(env);
    } else if (dir != NULL && asprintf(&path, "%s/%s", dir, CONFIG_FILE) < 0) {
        path = NULL;
    }
    if (from != NULL)
        *from = o;
    if (named != NULL)
        *named = o.src != LMS_SRC_DEFAULT;
    return path;
}

int lms_config_load(struct lms_client_config *cfg, const char *path, bool must_exist,
                    const char *context_opt, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (path != NULL && (cfg->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (path != NULL && read_file(cfg, path, must_exist, err, errlen) < 0)
        return -1;
    return choose_context(cfg, context_opt, err, errlen);
}

static void free_level(struct lms_cfg_level *l)
{
    free(l->name);
    free(l->servers);
    free(l->cacert);
}

void lms_config_free(struct lms_client_config *cfg)
{
    free(cfg->path);
    free_level(&cfg->top);
    for (size_t i = 0; i < cfg->ncontexts; i++)
        free_level(&cfg->contexts[i]);
    free(cfg->contexts);
    free(cfg->default_context);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- precedence ----------------------------------------------------------- */

const char *lms_config_servers(const struct lms_client_config *cfg,
                               const struct lms_cfg_flags *flags, const struct lms_session *s,
                               struct lms_origin *from)
{
    const char *env = getenv("LMS_SERVERS"), *v = LMS_DEFAULT_SERVERS;
    const struct lms_cfg_level *c = cfg ? cfg->chosen : NULL;
    struct lms_origin o = {.src = LMS_SRC_DEFAULT};
    if (flags != NULL && flags->servers != NULL) {
        v = flags->servers;
        o = (struct lms_origin){.src = LMS_SRC_FLAG, .name = "--servers"};
    } else if (env != NULL && *env != '\0') {
        v = env;
        o = (struct lms_origin){.src = LMS_SRC_ENV, .name = "LMS_SERVERS"};
    } else if (c != NULL && c->servers != NULL) {
        v = c->servers;
        o = (struct lms_origin){
            .src = LMS_SRC_CONTEXT, .name = c->name, .line = c->line[LMS_CFG_SERVERS]};
    } else if (cfg != NULL && cfg->top.servers != NULL) {
        v = cfg->top.servers;
        o = (struct lms_origin){.src = LMS_SRC_FILE, .line = cfg->top.line[LMS_CFG_SERVERS]};
    } else if (s != NULL && s->servers != NULL && *s->servers != '\0') {
        v = s->servers;
        o = (struct lms_origin){.src = LMS_SRC_SESSION};
    }
    if (from != NULL)
        *from = o;
    return v;
}

/* One level of the TLS choice given as options or variables: 1 if it
 * makes one, 0 if it says nothing, -1 if it contradicts itself. names:
 * how the level calls plaintext, tls and cacert. */
static int tls_level(bool plain, bool tls, const char *cacert, const char *const names[3],
                     enum lms_tls_mode *mode, const char **file, char *err, size_t errlen)
{
    if (plain && (tls || cacert != NULL)) {
        snprintf(err, errlen, "%s contradicts %s: choose plaintext or TLS", names[0],
                 cacert != NULL ? names[2] : names[1]);
        return -1;
    }
    *mode = plain ? LMS_TLS_PLAINTEXT : cacert ? LMS_TLS_CAFILE : LMS_TLS_SYSTEM;
    *file = cacert;
    return plain || tls || cacert != NULL;
}

/* $name as a flag: 1 ("1"), 0 (unset, "" or "0"), or -1 with err. */
static int env_flag(const char *name, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0' || strcmp(v, "0") == 0)
        return 0;
    if (strcmp(v, "1") == 0)
        return 1;
    snprintf(err, errlen, "bad %s '%s' (expected 1 or 0)", name, v);
    return -1;
}

/* A level of the file decides when it names any of the three keys (the
 * load refused contradictions): plaintext: true, else a cacert, else
 * tls: true; only false values choose the default (plaintext to this
 * machine only) over what lower levels say. *line: the deciding key's. */
static bool file_level_tls(const struct lms_cfg_level *l, enum lms_tls_mode *mode,
                           const char **file, int *line)
{
    const int *ln = l->line;
    *file = NULL;
    if (ln[LMS_CFG_PLAINTEXT] && l->plaintext) {
        *mode = LMS_TLS_PLAINTEXT;
        *line = ln[LMS_CFG_PLAINTEXT];
    } else if (ln[LMS_CFG_CACERT]) {
        *mode = LMS_TLS_CAFILE;
        *file = l->cacert;
        *line = ln[LMS_CFG_CACERT];
    } else if (ln[LMS_CFG_TLS] && l->tls) {
        *mode = LMS_TLS_SYSTEM;
        *line = ln[LMS_CFG_TLS];
    } else if (ln[LMS_CFG_TLS] || ln[LMS_CFG_PLAINTEXT]) {
        *mode = LMS_TLS_DEFAULT;
        *line = ln[LMS_CFG_TLS] && (!ln[LMS_CFG_PLAINTEXT] || ln[LMS_CFG_TLS] < ln[LMS_CFG_PLAINTEXT])
                    ? ln[LMS_CFG_TLS]
                    : ln[LMS_CFG_PLAINTEXT];
    } else {
        return false;
    }
    return true;
}

int lms_config_tls(const struct lms_client_config *cfg, const struct lms_cfg_flags *flags,
                   const struct lms_session *s, enum lms_tls_mode *mode, char **cafile,
                   struct lms_origin *from, char *err, size_t errlen)
{
    static const char *const opts[3] = {"--plaintext", "--tls", "--cacert"};
    static const char *const vars[3] = {"LMS_PLAINTEXT=1", "LMS_TLS=1", "LMS_CACERT"};
    static const struct lms_cfg_flags none = {0};
    const char *file = NULL, *env_ca = getenv("LMS_CACERT");
    const struct lms_cfg_level *c = cfg ? cfg->chosen : NULL;
    struct lms_origin o = {.src = LMS_SRC_DEFAULT};
    int line = 0;
    if (flags == NULL)
        flags = &none;
    *cafile = NULL;
    int rc = tls_level(flags->plaintext, flags->tls, flags->cacert, opts, mode, &file, err,
                       errlen);
    if (rc > 0)
        o = (struct lms_origin){.src = LMS_SRC_FLAG,
                                .name = flags->plaintext ? "--plaintext"
                                        : flags->cacert  ? "--cacert"
                                                         : "--tls"};
    if (rc == 0) {
        int plain = env_flag("LMS_PLAINTEXT", err, errlen);
        int tls = plain < 0 ? -1 : env_flag("LMS_TLS", err, errlen);
        if (tls < 0)
            return -1;
        env_ca = env_ca && *env_ca ? env_ca : NULL;
        rc = tls_level(plain, tls, env_ca, vars, mode, &file, err, errlen);
        if (rc > 0)
            o = (struct lms_origin){.src = LMS_SRC_ENV,
                                    .name = plain    ? "LMS_PLAINTEXT"
                                            : env_ca ? "LMS_CACERT"
                                                     : "LMS_TLS"};
    }
    if (rc < 0)
        return -1;
    if (rc == 0 && c != NULL && file_level_tls(c, mode, &file, &line)) {
        o = (struct lms_origin){.src = LMS_SRC_CONTEXT, .name = c->name, .line = line};
        rc = 1;
    }
    if (rc == 0 && cfg != NULL && file_level_tls(&cfg->top, mode, &file, &line)) {
        o = (struct lms_origin){.src = LMS_SRC_FILE, .line = line};
        rc = 1;
    }
    if (rc == 0) {
        /* what login used; an unknown word reads as the default, which
         * sends nothing across a network in clear */
        bool known = s != NULL && s->tls != NULL && lms_tls_mode_parse(s->tls, mode) == 0;
        if (!known || (*mode == LMS_TLS_CAFILE && (s->cacert == NULL || *s->cacert == '\0'))) {
            *mode = LMS_TLS_DEFAULT;
        } else {
            o.src = LMS_SRC_SESSION;
            file = *mode == LMS_TLS_CAFILE ? s->cacert : NULL;
        }
    }
    if (from != NULL)
        *from = o;
    if (file != NULL) {
        /* absolute, so that the session finds it from any directory */
        *cafile = realpath(file, NULL);
        if (*cafile == NULL)
            *cafile = strdup(file);
        if (*cafile == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

const char *lms_src_name(enum lms_src src)
{
    static const char *const names[] = {
        [LMS_SRC_DEFAULT] = "default", [LMS_SRC_SESSION] = "session",
        [LMS_SRC_FILE] = "file",       [LMS_SRC_CONTEXT] = "context",
        [LMS_SRC_ENV] = "env",         [LMS_SRC_FLAG] = "flag",
    };
    return (unsigned)src < sizeof names / sizeof names[0] ? names[src] : "default";
}

const char *lms_origin_text(const struct lms_client_config *cfg, const struct lms_origin *o,
                            char *buf, size_t len)
{
    const char *path = cfg && cfg->path ? cfg->path : "the config file";
    switch (o->src) {
    case LMS_SRC_FLAG:
    case LMS_SRC_ENV:
        snprintf(buf, len, "%s %s", lms_src_name(o->src), o->name ? o->name : "");
        break;
    case LMS_SRC_CONTEXT:
        snprintf(buf, len, "context %s, %s:%d", o->name ? o->name : "", path, o->line);
        break;
    case LMS_SRC_FILE:
        snprintf(buf, len, "file %s:%d", path, o->line);
        break;
    default:
        snprintf(buf, len, "%s", lms_src_name(o->src));
    }
    return buf;
}

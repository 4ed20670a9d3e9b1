/* SPDX-License-Identifier: MIT */
/*
 * config.c: lmsd's YAML configuration (see config.h and conf/lmsd.yaml).
 *
 * libyaml's event parser feeds a small recursive reader that builds a tree of
 * config_node: mappings, sequences and scalars, each remembering its line and
 * its dotted key path, so that every later error can say
 * "FILE:LINE: key.path: what is wrong (expected ...)". The tree is kept for
 * the life of the config: plugin slots point into it and plugins read their
 * own options through the config_* lookups.
 *
 * Decisions the schema leaves open (see docs/configuration.md):
 *  - a plain `~`, `null` or empty value counts as absent;
 *  - anchors and aliases are refused (a config should read top to bottom);
 *  - relative paths (data_dir, plugin_dir, a plugin given as a path) are
 *    relative to the directory of the config file, resolved lexically.
 */
#include "config.h"

#include "config_keys.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#define CONFIG_MAX_DEPTH 32
#define RAFT_MAX_MEMBERS 16 /* core/repl/raft's RAFT_MAX_SERVERS */

enum node_type { NODE_SCALAR, NODE_MAP, NODE_SEQ };

typedef struct map_entry {
    char *key;
    int line; /* line of the key */
    config_node *value;
} map_entry;

struct config_node {
    enum node_type type;
    int line;
    int plain;        /* a scalar written without quotes */
    char *path;       /* "storage.pool.size", "cluster.members[1]"; "" at root */
    const char *file; /* the file as named by the user, owned by the root */
    char *owned_file; /* set on the root only */
    char *text;       /* NODE_SCALAR */
    size_t n, cap;
    map_entry *entries;  /* NODE_MAP */
    config_node **items; /* NODE_SEQ */
};

/* ---- errors ------------------------------------------------------------ */

/* Format "FILE:LINE: PATH: what" (or "FILE:LINE: what" when path is empty)
 * into err and return LMS_INVALID_ARGUMENT. */
__attribute__((format(printf, 5, 6))) static int
cfg_error(lms_err *err, const char *file, int line, const char *path,
          const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (path && *path)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, "%s:%d: %s: %s", file,
                           line, path, what);
    return lms_err_set(err, LMS_INVALID_ARGUMENT, "%s:%d: %s", file, line,
                       what);
}

static const char *type_name(const config_node *v)
{
    return v->type == NODE_MAP ? "a mapping" : "a sequence";
}

/* The value v has the wrong type or form: "expected <expected>, got ...". */
static int type_error(const config_node *v, const char *expected, lms_err *err)
{
    if (v->type != NODE_SCALAR)
        return cfg_error(err, v->file, v->line, v->path, "expected %s, got %s",
                         expected, type_name(v));
    return cfg_error(err, v->file, v->line, v->path, "expected %s, got '%.60s'",
                     expected, v->text);
}

/* ---- the tree ---------------------------------------------------------- */

static void node_free(config_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->type == NODE_MAP) {
            free(n->entries[i].key);
            node_free(n->entries[i].value);
        } else {
            node_free(n->items[i]);
        }
    }
    free(n->entries);
    free(n->items);
    free(n->text);
    free(n->path);
    free(n->owned_file);
    free(n);
}

static config_node *node_new(enum node_type type, int line, const char *file,
                             char *path)
{
    config_node *n = calloc(1, sizeof *n);
    if (!n) {
        free(path);
        return NULL;
    }
    n->type = type;
    n->line = line;
    n->file = file;
    n->path = path;
    return n;
}

static int is_null(const config_node *v)
{
    if (v->type != NODE_SCALAR || !v->plain)
        return 0;
    return v->text[0] == '\0' || strcmp(v->text, "~") == 0 ||
           strcasecmp(v->text, "null") == 0;
}

static const map_entry *map_find(const config_node *map, const char *key,
                                 size_t keylen)
{
    if (!map || map->type != NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strlen(map->entries[i].key) == keylen &&
            memcmp(map->entries[i].key, key, keylen) == 0)
            return &map->entries[i];
    return NULL;
}

/* The value under key in map, or NULL when absent or null. */
static const config_node *map_get(const config_node *map, const char *key)
{
    const map_entry *e = map_find(map, key, strlen(key));
    return e && !is_null(e->value) ? e->value : NULL;
}

static int grow(config_node *n, size_t elem)
{
    if (n->n < n->cap)
        return 0;
    size_t cap = n->cap ? n->cap * 2 : 8;
    void **arr = n->type == NODE_MAP ? (void **)&n->entries : (void **)&n->items;
    void *p = realloc(*arr, cap * elem);
    if (!p)
        return -1;
    *arr = p;
    n->cap = cap;
    return 0;
}

/* ---- building the tree from libyaml events ------------------------------ */

typedef struct reader {
    yaml_parser_t yp;
    const char *file;
    lms_err *err;
} reader;

static int oom(lms_err *err)
{
    return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
}

/* Next event into ev; on a syntax error, err names file, line and libyaml's
 * problem text. */
static int next_event(reader *r, yaml_event_t *ev)
{
    if (yaml_parser_parse(&r->yp, ev))
        return LMS_OK;
    const yaml_parser_t *p = &r->yp;
    if (p->error == YAML_MEMORY_ERROR)
        return oom(r->err);
    yaml_mark_t m = p->error == YAML_READER_ERROR ? p->mark : p->problem_mark;
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->context) /* e.g. "while parsing a block mapping" */
        return cfg_error(r->err, r->file, (int)m.line + 1, NULL,
                         "YAML syntax error: %s (column %d; %s that starts "
                         "on line %d)",
                         problem, (int)m.column + 1, p->context,
                         (int)p->context_mark.line + 1);
    return cfg_error(r->err, r->file, (int)m.line + 1, NULL,
                     "YAML syntax error: %s (column %d)", problem,
                     (int)m.column + 1);
}

static int read_node(reader *r, yaml_event_t *ev, char *path, int depth,
                     config_node **out);

static char *child_path(const char *parent, const char *key)
{
    char *p = NULL;
    if (asprintf(&p, "%s%s%s", parent, *parent ? "." : "", key) < 0)
        return NULL;
    return p;
}

/* Read one key and its value into map m; *done is set at the mapping's end. */
static int read_entry(reader *r, config_node *m, int depth, int *done)
{
    yaml_event_t ev;
    int rc = next_event(r, &ev);
    if (rc)
        return rc;
    if (ev.type == YAML_MAPPING_END_EVENT) {
        yaml_event_delete(&ev);
        *done = 1;
        return LMS_OK;
    }
    int line = (int)ev.start_mark.line + 1;
    if (ev.type != YAML_SCALAR_EVENT) {
        yaml_event_delete(&ev);
        return cfg_error(r->err, r->file, line, m->path,
                         "expected a plain key, got a mapping or sequence");
    }
    const char *key = (const char *)ev.data.scalar.value;
    const map_entry *dup = map_find(m, key, ev.data.scalar.length);
    char *path = child_path(m->path, key);
    if (dup || !path) {
        int dup_line = dup ? dup->line : 0;
        yaml_event_delete(&ev);
        rc = !path ? oom(r->err)
                   : cfg_error(r->err, r->file, line, path,
                               "duplicate key (first defined on line %d)",
                               dup_line);
        free(path);
        return rc;
    }
    char *k = strndup(key, ev.data.scalar.length);
    yaml_event_delete(&ev);
    if (!k || grow(m, sizeof *m->entries)) {
        free(k);
        free(path);
        return oom(r->err);
    }
    map_entry *e = &m->entries[m->n];
    e->key = k;
    e->line = line;
    e->value = NULL;
    if ((rc = next_event(r, &ev))) {
        free(k);
        free(path);
        return rc;
    }
    m->n++; /* the entry is in place; node_free releases it from here on */
    return read_node(r, &ev, path, depth + 1, &e->value);
}

/* Read one sequence item into s; *done is set at the sequence's end. */
static int read_item(reader *r, config_node *s, int depth, int *done)
{
    yaml_event_t ev;
    int rc = next_event(r, &ev);
    if (rc)
        return rc;
    if (ev.type == YAML_SEQUENCE_END_EVENT) {
        yaml_event_delete(&ev);
        *done = 1;
        return LMS_OK;
    }
    char *path = NULL;
    if (asprintf(&path, "%s[%zu]", s->path, s->n) < 0)
        path = NULL;
    if (!path || grow(s, sizeof *s->items)) {
        yaml_event_delete(&ev);
        free(path);
        return oom(r->err);
    }
    s->items[s->n] = NULL;
    s->n++;
    return read_node(r, &ev, path, depth + 1, &s->items[s->n - 1]);
}

static config_node *scalar_node(reader *r, const yaml_event_t *ev, int line,
                                char *path)
{
    config_node *n = node_new(NODE_SCALAR, line, r->file, path);
    if (!n)
        return NULL;
    n->text = strndup((const char *)ev->data.scalar.value,
                      ev->data.scalar.length);
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (!n->text) {
        node_free(n);
        return NULL;
    }
    return n;
}

/*
 * Build the node that starts with event ev (consumed here) and everything
 * nested in it. path is taken over (freed on every path). On error *out may
 * hold a partial node, which the caller frees with its parent.
 */
static int read_node(reader *r, yaml_event_t *ev, char *path, int depth,
                     config_node **out)
{
    int line = (int)ev->start_mark.line + 1;
    yaml_event_type_t type = ev->type;
    int rc = LMS_OK;
    if (type == YAML_SCALAR_EVENT) {
        *out = scalar_node(r, ev, line, path);
        yaml_event_delete(ev);
        return *out ? LMS_OK : oom(r->err);
    }
    yaml_event_delete(ev);
    if (type == YAML_ALIAS_EVENT || depth > CONFIG_MAX_DEPTH) {
        rc = cfg_error(r->err, r->file, line, path, "%s",
                       type == YAML_ALIAS_EVENT
                           ? "aliases (*name) are not supported"
                           : "nested too deeply");
        free(path);
        return rc;
    }
    if (type != YAML_MAPPING_START_EVENT && type != YAML_SEQUENCE_START_EVENT) {
        free(path);
        return cfg_error(r->err, r->file, line, NULL, "unexpected YAML event");
    }
    config_node *n = node_new(type == YAML_MAPPING_START_EVENT ? NODE_MAP
                                                               : NODE_SEQ,
                              line, r->file, path);
    if (!(*out = n))
        return oom(r->err);
    int done = 0;
    while (!done && rc == LMS_OK)
        rc = n->type == NODE_MAP ? read_entry(r, n, depth, &done)
                                 : read_item(r, n, depth, &done);
    return rc;
}

/* Expect an event of the given type; anything else is reported as what. */
static int expect_event(reader *r, yaml_event_type_t type, const char *what)
{
    yaml_event_t ev;
    int rc = next_event(r, &ev);
    if (rc)
        return rc;
    int line = (int)ev.start_mark.line + 1;
    int ok = ev.type == type;
    yaml_event_delete(&ev);
    return ok ? LMS_OK : cfg_error(r->err, r->file, line, NULL, "%s", what);
}

/* Parse the single document of an open file into a tree rooted at a
 * mapping. */
static int read_document(reader *r, config_node **root)
{
    yaml_event_t ev;
    int rc = expect_event(r, YAML_STREAM_START_EVENT, "expected a YAML stream");
    if (rc || (rc = next_event(r, &ev)))
        return rc;
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        yaml_event_delete(&ev);
        return cfg_error(r->err, r->file, 1, NULL,
                         "the file is empty (expected a mapping with node: "
                         "and storage:)");
    }
    yaml_event_delete(&ev);
    if ((rc = next_event(r, &ev)))
        return rc;
    char *path = strdup("");
    if (!path) {
        yaml_event_delete(&ev);
        return oom(r->err);
    }
    if ((rc = read_node(r, &ev, path, 0, root)))
        return rc;
    if ((*root)->type != NODE_MAP)
        return type_error(*root, "a mapping at the top level", r->err);
    rc = expect_event(r, YAML_DOCUMENT_END_EVENT, "expected the document end");
    if (rc == LMS_OK)
        rc = expect_event(r, YAML_STREAM_END_EVENT,
                          "expected a single YAML document, found another");
    return rc;
}

/* Open path and parse it into a tree (the root owns a copy of path). */
static int load_tree(const char *path, config_node **out, lms_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lms_err_set(err, errno == ENOENT || errno == ENOTDIR
                                    ? LMS_NOT_FOUND
                                    : LMS_INVALID_ARGUMENT,
                           "%s: cannot open config file: %s", path,
                           strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "%s: cannot read config file: is a directory", path);
    }
    char *file = strdup(path);
    reader r = {.file = file, .err = err};
    if (!file || !yaml_parser_initialize(&r.yp)) {
        free(file);
        fclose(f);
        return oom(err);
    }
    yaml_parser_set_input_file(&r.yp, f);
    config_node *root = NULL;
    int rc = read_document(&r, &root);
    yaml_parser_delete(&r.yp);
    fclose(f);
    if (root)
        root->owned_file = file;
    else
        free(file);
    if (rc) {
        node_free(root);
        return rc;
    }
    *out = root;
    return LMS_OK;
}

/* ---- scalar forms ------------------------------------------------------ */

static int parse_int(const char *s, long long *out)
{
    if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+'))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/* A run of decimal digits at *s into *v (advancing *s); -1 on overflow or
 * when there is no digit. */
static int parse_digits(const char **s, uint64_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    while (*p == ' ')
        p++;
    *s = p;
    *v = x;
    return 0;
}

typedef struct unit {
    const char *name;
    uint64_t factor;
} unit;

/* digits, optional spaces, then one of units (matched without case). */
static int parse_with_unit(const char *s, const unit *units, uint64_t *out)
{
    uint64_t v;
    if (parse_digits(&s, &v) < 0)
        return -1;
    for (const unit *u = units; u->name; u++) {
        if (strcasecmp(s, u->name) != 0)
            continue;
        if (v > UINT64_MAX / u->factor)
            return -1;
        *out = v * u->factor;
        return 0;
    }
    return -1;
}

static int parse_duration(const char *s, int64_t *ms)
{
    static const unit units[] = {
        {"", 1000},         {"ms", 1},          {"s", 1000},
        {"m", 60 * 1000},   {"h", 3600 * 1000}, {"d", 86400 * 1000},
        {NULL, 0},
    };
    uint64_t v;
    if (parse_with_unit(s, units, &v) < 0 || v > INT64_MAX)
        return -1;
    *ms = (int64_t)v;
    return 0;
}

static int parse_size(const char *s, uint64_t *bytes)
{
    static const unit units[] = {
        {"", 1},
        {"B", 1},
        {"KiB", 1ull << 10},
        {"MiB", 1ull << 20},
        {"GiB", 1ull << 30},
        {"TiB", 1ull << 40},
        {"KB", 1000},
        {"MB", 1000 * 1000},
        {"GB", 1000 * 1000 * 1000},
        {"TB", 1000ull * 1000 * 1000 * 1000},
        {NULL, 0},
    };
    return parse_with_unit(s, units, bytes);
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* ---- lookups ----------------------------------------------------------- */

/*
 * Find the node at dotted key under n. LMS_NOT_FOUND when n is NULL or any
 * part is absent or null; LMS_INVALID_ARGUMENT when a part that should be a
 * mapping is something else.
 */
static int lookup(const config_node *n, const char *key,
                  const config_node **out, lms_err *err)
{
    const char *p = key;
    while (n) {
        if (n->type != NODE_MAP)
            return type_error(n, "a mapping", err);
        size_t len = strcspn(p, ".");
        const map_entry *e = map_find(n, p, len);
        if (!e || is_null(e->value))
            return LMS_NOT_FOUND;
        if (p[len] == '\0') {
            *out = e->value;
            return LMS_OK;
        }
        n = e->value;
        p += len + 1;
    }
    return LMS_NOT_FOUND;
}

int config_string(const config_node *n, const char *key, const char **out,
                  lms_err *err)
{
    const config_node *v;
    int rc = lookup(n, key, &v, err);
    if (rc)
        return rc;
    if (v->type != NODE_SCALAR)
        return type_error(v, "a string", err);
    *out = v->text;
    return LMS_OK;
}

int config_int(const config_node *n, const char *key, long long *out,
               lms_err *err)
{
    const config_node *v;
    long long x;
    int rc = lookup(n, key, &v, err);
    if (rc)
        return rc;
    if (v->type != NODE_SCALAR || parse_int(v->text, &x) < 0)
        return type_error(v, "an integer", err);
    *out = x;
    return LMS_OK;
}

int config_bool(const config_node *n, const char *key, int *out, lms_err *err)
{
    const config_node *v;
    int x;
    int rc = lookup(n, key, &v, err);
    if (rc)
        return rc;
    if (v->type != NODE_SCALAR || parse_bool(v->text, &x) < 0)
        return type_error(v, "true or false", err);
    *out = x;
    return LMS_OK;
}

int config_duration_ms(const config_node *n, const char *key, int64_t *out,
                       lms_err *err)
{
    const config_node *v;
    int64_t x;
    int rc = lookup(n, key, &v, err);
    if (rc)
        return rc;
    if (v->type != NODE_SCALAR || parse_duration(v->text, &x) < 0)
        return type_error(v, "a duration such as 250ms, 30s, 5m, 24h or 7d",
                          err);
    *out = x;
    return LMS_OK;
}

int config_size(const config_node *n, const char *key, uint64_t *out,
                lms_err *err)
{
    const config_node *v;
    uint64_t x;
    int rc = lookup(n, key, &v, err);
    if (rc)
        return rc;
    if (v->type != NODE_SCALAR || parse_size(v->text, &x) < 0)
        return type_error(
            v, "a size such as 4096, 512KiB, 64MiB, 1GiB (or KB/MB/GB)", err);
    *out = x;
    return LMS_OK;
}

int config_node_equal(const config_node *a, const config_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type || a->n != b->n)
        return 0;
    switch (a->type) {
    case NODE_SCALAR:
        return a->plain == b->plain && strcmp(a->text, b->text) == 0;
    case NODE_SEQ:
        for (size_t i = 0; i < a->n; i++)
            if (!config_node_equal(a->items[i], b->items[i]))
                return 0;
        return 1;
    case NODE_MAP:
        for (size_t i = 0; i < a->n; i++) {
            const char *key = a->entries[i].key;
            const map_entry *e = map_find(b, key, strlen(key));
            if (!e || !config_node_equal(a->entries[i].value, e->value))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* ---- validating lmsd's own sections ------------------------------------ */

/* Report at the value of key in sec: "FILE:LINE: sec.key: what". */
__attribute__((format(printf, 4, 5))) static int
value_error(const config_node *sec, const char *key, lms_err *err,
            const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const config_node *v = map_get(sec, key);
    return cfg_error(err, v->file, v->line, v->path, "%s", what);
}

/* Report a missing required key of map sec (at the line of sec). */
static int missing_error(const config_node *sec, const char *key,
                         const char *expected, lms_err *err)
{
    return cfg_error(err, sec->file, sec->line, NULL, "%s%s%s: missing (%s)",
                     sec->path, *sec->path ? "." : "", key, expected);
}

/* Every key of map must be one of section's in the table (config_keys.c),
 * so that the parser accepts exactly the keys lmsd.yaml(5) documents. */
static int check_keys(const config_node *map, const char *section, lms_err *err)
{
    for (size_t i = 0; i < map->n; i++) {
        if (config_key_find(section, map->entries[i].key))
            continue;
        char list[420]; /* fits lms_err with the path before it */
        config_key_names(section, list, sizeof list);
        const map_entry *e = &map->entries[i];
        return cfg_error(err, map->file, e->line, e->value->path,
                         "unknown key (expected one of: %s)", list);
    }
    return LMS_OK;
}

/* The mapping under root's key name, its keys checked against the table
 * unless it is a plugin slot, whose keys belong to the plugin. *out is
 * NULL when the section is absent or null. */
static int section(const config_node *root, const char *name,
                   const config_node **out, lms_err *err)
{
    const config_node *v = map_get(root, name);
    const config_key *row = config_key_find("", name);
    *out = NULL;
    if (!v)
        return LMS_OK;
    if (v->type != NODE_MAP)
        return type_error(v, "a mapping", err);
    *out = v;
    return row && row->type == CONFIG_PLUGIN ? LMS_OK : check_keys(v, name, err);
}

/* LMS_NOT_FOUND (an optional key left out) is fine: keep the default. */
static int optional(int rc)
{
    return rc == LMS_NOT_FOUND ? LMS_OK : rc;
}

/* p made absolute against dir; "." and ".." are resolved lexically. */
static char *abs_path(const char *dir, const char *p)
{
    char *joined = NULL;
    if (asprintf(&joined, "%s/%s", p[0] == '/' ? "" : dir, p) < 0)
        return NULL;
    char *out = malloc(strlen(joined) + 2);
    size_t o = 0;
    for (const char *s = joined; out && *s;) {
        size_t len = strcspn(s, "/");
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[--o] != '/') {
            }
        } else if (len > 0 && !(len == 1 && s[0] == '.')) {
            out[o++] = '/';
            memcpy(out + o, s, len);
            o += len;
        }
        s += len;
        s += strspn(s, "/");
    }
    if (out) {
        if (o == 0)
            out[o++] = '/';
        out[o] = '\0';
    }
    free(joined);
    return out;
}

/* The absolute, symlink-free directory holding the config file. */
static char *config_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    char *slash = strrchr(copy, '/');
    const char *dir = ".";
    if (slash == copy)
        dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = copy;
    }
    char *real = realpath(dir, NULL);
    free(copy);
    return real;
}

/* A path-valued string at key of sec, made absolute against dir; *out stays
 * NULL when absent. */
static int read_path(const config_node *sec, const char *key, const char *dir,
                     char **out, lms_err *err)
{
    const char *s = NULL;
    int rc = optional(config_string(sec, key, &s, err));
    if (rc || !s)
        return rc;
    if (!*s)
        return value_error(sec, key, err, "expected a path, got ''");
    return (*out = abs_path(dir, s)) ? LMS_OK : oom(err);
}

static int read_node_section(lms_config *c, const char *dir, lms_err *err)
{
    const config_node *sec;
    int rc = section(c->root, "node", &sec, err);
    if (rc)
        return rc;
    if (!sec)
        return missing_error(c->root, "node",
                             "expected node: { id: 1, data_dir: ./data }", err);
    long long id = 1;
    if ((rc = optional(config_int(sec, "id", &id, err))))
        return rc;
    if (id < 1)
        return value_error(sec, "id", err,
                           "%lld is out of range (expected a positive integer)",
                           id);
    c->node_id = (uint64_t)id;
    if ((rc = read_path(sec, "data_dir", dir, &c->data_dir, err)))
        return rc;
    if (!c->data_dir)
        return missing_error(sec, "data_dir",
                             "expected the directory for this node's data",
                             err);
    return LMS_OK;
}

/* Why s is not a valid "host:port", or NULL when it is. */
static const char *addr_problem(const char *s)
{
    const char *colon, *p;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1)
            return "an IPv6 address is written [addr]:port";
        for (p = s + 1; p < close; p++)
            if (!strchr("0123456789abcdefABCDEF:.", *p))
                return "bad character in the IPv6 address";
        if (close[1] != ':')
            return "missing :port";
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return "missing :port";
        if (colon == s)
            return "missing host (use 0.0.0.0 for every interface)";
        if (memchr(s, ':', (size_t)(colon - s)))
            return "an IPv6 address must be in brackets, e.g. [::1]:7400";
        for (p = s; p < colon; p++)
            if (!strchr("abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
                        *p))
                return "bad character in the host name";
    }
    long long port;
    if (strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        parse_int(colon + 1, &port) < 0 || port < 1 || port > 65535)
        return "the port must be a number from 1 to 65535";
    return NULL;
}

static int read_addr(const config_node *sec, const char *key, const char *dflt,
                     char **out, lms_err *err)
{
    const char *s = dflt;
    int rc = optional(config_string(sec, key, &s, err));
    if (rc || !s)
        return rc;
    const char *why = addr_problem(s);
    if (why)
        return value_error(sec, key, err,
                           "'%.80s' is not a valid address: %s (expected "
                           "host:port, e.g. 127.0.0.1:7400)",
                           s, why);
    return (*out = strdup(s)) ? LMS_OK : oom(err);
}

static int read_listen(lms_config *c, lms_err *err)
{
    const config_node *sec;
    int rc = section(c->root, "listen", &sec, err);
    if (rc || (rc = read_addr(sec, "client", "127.0.0.1:7400", &c->client_addr,
                              err)))
        return rc;
    if ((rc = read_addr(sec, "peer", NULL, &c->peer_addr, err)))
        return rc;
    if (c->peer_addr && strcmp(c->peer_addr, c->client_addr) == 0)
        return value_error(sec, "peer", err,
                           "%s is also listen.client (expected a different "
                           "address or port)",
                           c->peer_addr);
    if ((rc = read_addr(sec, "metrics", NULL, &c->metrics_addr, err)))
        return rc;
    if (c->metrics_addr && strcmp(c->metrics_addr, c->client_addr) == 0)
        return value_error(sec, "metrics", err,
                           "%s is also listen.client (expected a different "
                           "address or port)",
                           c->metrics_addr);
    if (c->metrics_addr && c->peer_addr &&
        strcmp(c->metrics_addr, c->peer_addr) == 0)
        return value_error(sec, "metrics", err,
                           "%s is also listen.peer (expected a different "
                           "address or port)",
                           c->metrics_addr);
    return LMS_OK;
}

static int read_log(lms_config *c, lms_err *err)
{
    const config_node *sec;
    const char *level = NULL, *format = NULL;
    c->slow_request_ms = 1000;
    int rc = section(c->root, "log", &sec, err);
    if (rc || (rc = optional(config_string(sec, "level", &level, err))) ||
        (rc = optional(config_string(sec, "format", &format, err))) ||
        (rc = optional(config_duration_ms(sec, "slow_request", &c->slow_request_ms, err))))
        return rc;
    c->log_level = LMS_LOG_INFO;
    if (level && (c->log_level = lms_log_level_parse(level)) < 0)
        return value_error(sec, "level", err,
                           "'%.40s' is not a log level (expected debug, info, "
                           "warn or error)",
                           level);
    c->log_format = LMS_LOG_TEXT;
    if (format && (c->log_format = lms_log_format_parse(format)) < 0)
        return value_error(sec, "format", err,
                           "'%.40s' is not a log format (expected text or json)", format);
    if (c->slow_request_ms < 0 || c->slow_request_ms > 3600 * 1000)
        return value_error(sec, "slow_request", err,
                           "%lld ms is out of range (expected 0, never, to 1h)",
                           (long long)c->slow_request_ms);
    return LMS_OK;
}

static int read_sessions(lms_config *c, lms_err *err)
{
    const config_node *sec;
    int rc = section(c->root, "sessions", &sec, err);
    c->session_ttl_ms = 24 * 3600 * 1000LL;
    if (rc || (rc = optional(config_duration_ms(sec, "ttl", &c->session_ttl_ms,
                                                err))))
        return rc;
    if (c->session_ttl_ms <= 0)
        return value_error(sec, "ttl", err,
                           "expected a duration longer than 0, such as 24h");
    return LMS_OK;
}

#define FRAME_MIN 4096u

#define TUTOR_DEADLINE_MIN_MS 1000LL
#define TUTOR_DEADLINE_MAX_MS 3600000LL

#define TIMEOUT_MIN_MS 100LL
#define TIMEOUT_MAX_MS 86400000LL

static int timeout_in_range(const config_node *sec, const char *key,
                            int64_t ms, lms_err *err)
{
    if (ms < TIMEOUT_MIN_MS || ms > TIMEOUT_MAX_MS)
        return value_error(sec, key, err,
                           "%lld ms is out of range (expected 100ms to 24h)",
                           (long long)ms);
    return LMS_OK;
}

/* The limits that keep a client from holding the server's connections,
 * memory and time without using them (net.h), each in range. */
static int read_client_limits(lms_config *c, const config_node *sec,
                              uint64_t frame, lms_err *err)
{
    long long per_ip = 64;
    uint64_t preauth = 64u << 10, rate = 64u << 10, output = 64ull << 20;
    int64_t frame_to = 10000, idle = 300000, preauth_idle = 20000;
    int rc;
    if ((rc = optional(config_int(sec, "max_connections_per_ip", &per_ip, err))) ||
        (rc = optional(config_size(sec, "preauth_frame_bytes", &preauth, err))) ||
        (rc = optional(config_duration_ms(sec, "frame_timeout", &frame_to, err))) ||
        (rc = optional(config_size(sec, "frame_min_rate", &rate, err))) ||
        (rc = optional(config_duration_ms(sec, "idle_timeout", &idle, err))) ||
        (rc = optional(config_duration_ms(sec, "preauth_idle_timeout",
                                          &preauth_idle, err))) ||
        (rc = optional(config_size(sec, "max_output_bytes", &output, err))))
        return rc;
    if (per_ip < 1 || per_ip > 1048576)
        return value_error(sec, "max_connections_per_ip", err,
                           "%lld is out of range (expected 1 to 1048576)",
                           per_ip);
    if (preauth < FRAME_MIN || preauth > frame)
        return value_error(sec, "preauth_frame_bytes", err,
                           "%llu bytes is out of range (expected 4KiB to "
                           "max_frame_bytes, %llu)",
                           (unsigned long long)preauth,
                           (unsigned long long)frame);
    if (rate < 1024 || rate > UINT32_MAX)
        return value_error(sec, "frame_min_rate", err,
                           "%llu bytes per second is out of range (expected "
                           "1KiB to 4294967295)", (unsigned long long)rate);
    if (output < (64u << 10))
        return value_error(sec, "max_output_bytes", err,
                           "%llu bytes is too small (expected at least 64KiB)",
                           (unsigned long long)output);
    if ((rc = timeout_in_range(sec, "frame_timeout", frame_to, err)) ||
        (rc = timeout_in_range(sec, "idle_timeout", idle, err)) ||
        (rc = timeout_in_range(sec, "preauth_idle_timeout", preauth_idle, err)))
        return rc;
    c->max_connections_per_ip = (uint32_t)per_ip;
    c->preauth_frame_bytes = (uint32_t)preauth;
    c->frame_timeout_ms = frame_to;
    c->frame_min_rate = (uint32_t)rate;
    c->idle_timeout_ms = idle;
    c->preauth_idle_timeout_ms = preauth_idle;
    c->max_output_bytes = output;
    return LMS_OK;
}

/* A count of limits between lo and hi (default dflt when absent). */
static int limit_count(const config_node *sec, const char *key, long long lo,
                       long long hi, uint32_t *out, lms_err *err)
{
    long long v = *out;
    int rc = optional(config_int(sec, key, &v, err));
    if (rc)
        return rc;
    if (v < lo || v > hi)
        return value_error(sec, key, err,
                           "%lld is out of range (expected %lld to %lld)", v,
                           lo, hi);
    *out = (uint32_t)v;
    return LMS_OK;
}

/* The limits on logins and sessions (docs/operations.md, "Logins"). */
static int read_login_limits(lms_config *c, const config_node *sec,
                             lms_err *err)
{
    c->max_sessions_per_user = 100;
    c->login_failures = 5;
    c->login_failures_per_address = 50;
    c->login_backoff_max_ms = 5 * 60 * 1000;
    c->logins_per_connection = 2;
    c->logins_per_address = 8;
    int rc;
    if ((rc = limit_count(sec, "max_sessions_per_user", 1, 100000,
                          &c->max_sessions_per_user, err)) ||
        (rc = limit_count(sec, "login_failures", 0, 1000, &c->login_failures,
                          err)) ||
        (rc = limit_count(sec, "login_failures_per_address", 0, 1000000,
                          &c->login_failures_per_address, err)) ||
        (rc = limit_count(sec, "logins_per_connection", 1, 1000,
                          &c->logins_per_connection, err)) ||
        (rc = limit_count(sec, "logins_per_address", 1, 100000,
                          &c->logins_per_address, err)) ||
        (rc = optional(config_duration_ms(sec, "login_backoff_max",
                                          &c->login_backoff_max_ms, err))))
        return rc;
    if (c->login_backoff_max_ms < 1000 || c->login_backoff_max_ms > 24LL * 3600 * 1000)
        return value_error(sec, "login_backoff_max", err,
                           "%lld ms is out of range (expected 1s to 1d)",
                           (long long)c->login_backoff_max_ms);
    return LMS_OK;
}

/* The limits, each in range, and an upload fitting in one frame. */
static int read_limits(lms_config *c, lms_err *err)
{
    const config_node *sec;
    uint64_t frame = 64ull << 20, upload = 32ull << 20;
    long long conns = 1024;
    int64_t deadline = 60000;
    int rc = section(c->root, "limits", &sec, err);
    if (rc || (rc = optional(config_size(sec, "max_frame_bytes", &frame, err))) ||
        (rc = optional(config_size(sec, "max_upload_bytes", &upload, err))) ||
        (rc = optional(config_int(sec, "max_connections", &conns, err))) ||
        (rc = optional(config_duration_ms(sec, "tutor_deadline", &deadline, err))) ||
        (rc = read_login_limits(c, sec, err)))
        return rc;
    c->disk_reserve = 256ull << 20;
    if ((rc = optional(config_size(sec, "disk_reserve", &c->disk_reserve, err))))
        return rc;
    c->readers = CONFIG_READERS_AUTO;
    if (map_get(sec, "readers") &&
        (rc = limit_count(sec, "readers", 0, CONFIG_READERS_MAX, &c->readers,
                          err)))
        return rc;
    if (deadline < TUTOR_DEADLINE_MIN_MS || deadline > TUTOR_DEADLINE_MAX_MS)
        return value_error(sec, "tutor_deadline", err,
                           "%lld ms is out of range (expected 1s to 1h)",
                           (long long)deadline);
    if (frame < FRAME_MIN || frame > UINT32_MAX)
        return value_error(sec, "max_frame_bytes", err,
                           "%llu bytes is out of range (expected 4KiB to "
                           "4294967295 bytes)",
                           (unsigned long long)frame);
    if (upload == 0)
        return value_error(sec, "max_upload_bytes", err,
                           "expected a size larger than 0");
    if (conns < 1 || conns > 1048576)
        return value_error(sec, "max_connections", err,
                           "%lld is out of range (expected 1 to 1048576)",
                           conns);
    if (upload >= frame)
        return value_error(
            sec, map_get(sec, "max_upload_bytes") ? "max_upload_bytes"
                                                  : "max_frame_bytes",
            err,
            "max_upload_bytes (%llu) must be smaller than max_frame_bytes "
            "(%llu): an upload travels in one frame with its request",
            (unsigned long long)upload, (unsigned long long)frame);
    c->max_frame_bytes = (uint32_t)frame;
    c->max_upload_bytes = upload;
    c->max_connections = (uint32_t)conns;
    c->tutor_deadline_ms = deadline;
    return read_client_limits(c, sec, frame, err);
}

/*
 * The plugin slot name: a mapping with at least `plugin: <name or path>`;
 * the other keys belong to the plugin. Absent: dflt (NULL for none), or an
 * error when required.
 */
static int read_slot(lms_config *c, const char *name, const char *dflt,
                     int required, const char *dir, plugin_slot *slot,
                     lms_err *err)
{
    const config_node *sec;
    const char *plugin = NULL;
    int rc = section(c->root, name, &sec, err);
    if (rc)
        return rc;
    if (!sec && required)
        return missing_error(c->root, name,
                             "expected a mapping with plugin: <name>, e.g. "
                             "storage: { plugin: storage_sqlite }",
                             err);
    if (!sec) {
        if (dflt && !(slot->plugin = strdup(dflt)))
            return oom(err);
        return LMS_OK;
    }
    if ((rc = optional(config_string(sec, "plugin", &plugin, err))))
        return rc;
    if (!plugin)
        return missing_error(sec, "plugin",
                             "expected the name of a plugin or a path to "
                             "its .so",
                             err);
    if (!*plugin)
        return value_error(sec, "plugin", err, "expected a plugin name, got ''");
    slot->plugin = strchr(plugin, '/') ? abs_path(dir, plugin) : strdup(plugin);
    slot->node = sec;
    return slot->plugin ? LMS_OK : oom(err);
}

#define TICK_MAX_MS 1000
#define TICKS_MAX 10000
#define SNAPSHOT_ENTRIES_DEFAULT 10000
#define SNAPSHOT_ENTRIES_MAX 100000000LL
#define KEEP_ENTRIES_DEFAULT 5000
#define SNAPSHOT_BYTES_DEFAULT ((uint64_t)64 << 20)
#define SNAPSHOT_BYTES_MIN ((uint64_t)64 << 10)
#define SEGMENT_BYTES_DEFAULT ((uint64_t)64 << 20)
#define SEGMENT_BYTES_MIN ((uint64_t)64 << 10)
#define SEGMENT_BYTES_MAX ((uint64_t)1 << 30)
#define SNAPSHOT_RATE_MIN ((uint64_t)64 << 10)

/* raft: the period of a tick and the election and heartbeat timeouts in
 * ticks (elections time out after election_ticks..2*election_ticks-1);
 * when to snapshot (every snapshot_entries applied entries, or
 * snapshot_bytes of entry data, whichever comes first), how many entries
 * to keep behind a snapshot for followers that lag a little, and the size
 * of a command log segment (the unit in which compaction frees disk);
 * snapshot_rate caps the bytes per second sent to followers that need a
 * snapshot (0: no cap); a peer's message whose term lies more than
 * max_term_jump above the node's is refused as forged or corrupt. */
static int read_raft(lms_config *c, lms_err *err)
{
    const config_node *sec;
    int64_t tick = 10;
    long long el = 10, hb = 1;
    long long snap_entries = SNAPSHOT_ENTRIES_DEFAULT;
    long long keep = KEEP_ENTRIES_DEFAULT;
    uint64_t snap_bytes = SNAPSHOT_BYTES_DEFAULT, seg = SEGMENT_BYTES_DEFAULT;
    uint64_t rate = 0;
    long long jump = 1LL << 20;
    int rc = section(c->root, "raft", &sec, err);
    if (rc || (rc = optional(config_duration_ms(sec, "tick", &tick, err))) ||
        (rc = optional(config_int(sec, "election_ticks", &el, err))) ||
        (rc = optional(config_int(sec, "heartbeat_ticks", &hb, err))) ||
        (rc = optional(config_int(sec, "snapshot_entries", &snap_entries, err))) ||
        (rc = optional(config_size(sec, "snapshot_bytes", &snap_bytes, err))) ||
        (rc = optional(config_int(sec, "keep_entries", &keep, err))) ||
        (rc = optional(config_size(sec, "segment_bytes", &seg, err))) ||
        (rc = optional(config_size(sec, "snapshot_rate", &rate, err))) ||
        (rc = optional(config_int(sec, "max_term_jump", &jump, err))))
        return rc;
    if (jump < 1 || jump > (1LL << 61))
        return value_error(sec, "max_term_jump", err,
                           "%lld is out of range (expected 1 to 2^61)", jump);
    if (snap_entries < 1 || snap_entries > SNAPSHOT_ENTRIES_MAX)
        return value_error(sec, "snapshot_entries", err,
                           "%lld is out of range (expected 1 to %lld)",
                           snap_entries, (long long)SNAPSHOT_ENTRIES_MAX);
    if (keep < 0 || keep > SNAPSHOT_ENTRIES_MAX)
        return value_error(sec, "keep_entries", err,
                           "%lld is out of range (expected 0 to %lld)", keep,
                           (long long)SNAPSHOT_ENTRIES_MAX);
    if (snap_bytes < SNAPSHOT_BYTES_MIN)
        return value_error(sec, "snapshot_bytes", err,
                           "%llu bytes is too small (at least 64KiB)",
                           (unsigned long long)snap_bytes);
    if (rate && rate < SNAPSHOT_RATE_MIN)
        return value_error(sec, "snapshot_rate", err,
                           "%llu bytes/s is too slow (0 for no cap, else at "
                           "least 64KiB)", (unsigned long long)rate);
    if (seg < SEGMENT_BYTES_MIN || seg > SEGMENT_BYTES_MAX)
        return value_error(sec, "segment_bytes", err,
                           "%llu bytes is out of range (expected 64KiB to 1GiB)",
                           (unsigned long long)seg);
    if (tick < 1 || tick > TICK_MAX_MS)
        return value_error(sec, "tick", err,
                           "%lld ms is out of range (expected 1ms to 1s)",
                           (long long)tick);
    if (hb < 1 || hb > TICKS_MAX)
        return value_error(sec, "heartbeat_ticks", err,
                           "%lld is out of range (expected 1 to %d)", hb,
                           TICKS_MAX);
    if (el <= hb || el > TICKS_MAX)
        return value_error(
            sec, map_get(sec, "election_ticks") ? "election_ticks"
                                                : "heartbeat_ticks",
            err,
            "election_ticks (%lld) must be larger than heartbeat_ticks "
            "(%lld) and at most %d",
            el, hb, TICKS_MAX);
    c->raft_tick_ms = tick;
    c->election_ticks = (uint32_t)el;
    c->heartbeat_ticks = (uint32_t)hb;
    c->snapshot_entries = (uint64_t)snap_entries;
    c->snapshot_bytes = snap_bytes;
    c->keep_entries = (uint64_t)keep;
    c->segment_bytes = seg;
    c->snapshot_rate = rate;
    c->max_term_jump = (uint64_t)jump;
    return LMS_OK;
}

/* One item of cluster.members: { id, peer, client }. */
static int read_member(const config_node *item, cluster_member *m,
                       lms_err *err)
{
    long long id = 0;
    if (item->type != NODE_MAP)
        return type_error(item,
                          "a mapping such as { id: 1, peer: 127.0.0.1:7501, "
                          "client: 127.0.0.1:7401 }",
                          err);
    int rc = check_keys(item, "cluster.members[]", err);
    if (rc || (rc = optional(config_int(item, "id", &id, err))))
        return rc;
    if (!map_get(item, "id"))
        return missing_error(item, "id", "expected the member's node id", err);
    if (id < 1)
        return value_error(item, "id", err,
                           "%lld is out of range (expected a positive integer)",
                           id);
    m->id = (uint64_t)id;
    if ((rc = read_addr(item, "peer", NULL, &m->peer_addr, err)) ||
        (rc = read_addr(item, "client", NULL, &m->client_addr, err)))
        return rc;
    if (!m->client_addr)
        return missing_error(item, "client",
                             "expected the address its clients use, e.g. "
                             "127.0.0.1:7401",
                             err);
    return LMS_OK;
}

/* The port of a valid host:port. */
static const char *port_of(const char *addr) { return strrchr(addr, ':') + 1; }

static int wildcard_host(const char *addr)
{
    return strncmp(addr, "0.0.0.0:", 8) == 0 || strncmp(addr, "[::]:", 5) == 0;
}

/* The member's address (key) must be where this node listens (mine). */
static int check_own_addr(const config_node *item, const char *key,
                          const char *addr, const char *mine,
                          const char *listen_key, lms_err *err)
{
    if (!addr || !mine || strcmp(addr, mine) == 0 ||
        (wildcard_host(mine) && strcmp(port_of(addr), port_of(mine)) == 0))
        return LMS_OK;
    return value_error(item, key, err,
                       "%s is this node, but it listens on %s (%s): "
                       "expected the same address",
                       addr, mine, listen_key);
}

/* Every member after the first: unique ids, and a peer address each when
 * there are several. */
static int check_members(lms_config *c, const config_node *seq, lms_err *err)
{
    for (size_t i = 0; i < c->n_members; i++) {
        const config_node *item = seq->items[i];
        for (size_t k = 0; k < i; k++)
            if (c->members[k].id == c->members[i].id)
                return value_error(item, "id", err,
                                   "duplicate member id %llu (also on line %d)",
                                   (unsigned long long)c->members[i].id,
                                   map_get(seq->items[k], "id")->line);
        if (c->n_members > 1 && !c->members[i].peer_addr)
            return missing_error(item, "peer",
                                 "expected the address the other nodes reach "
                                 "it at; every member of a cluster of more "
                                 "than one needs one",
                                 err);
        if (c->members[i].id != c->node_id)
            continue;
        int rc = check_own_addr(item, "client", c->members[i].client_addr,
                                c->client_addr, "listen.client", err);
        if (rc || (rc = check_own_addr(item, "peer", c->members[i].peer_addr,
                                       c->peer_addr, "listen.peer", err)))
            return rc;
    }
    return LMS_OK;
}

/* This node alone: the members list when there is no cluster section. */
static int single_member(lms_config *c, lms_err *err)
{
    c->members = calloc(1, sizeof *c->members);
    if (!c->members)
        return oom(err);
    c->n_members = 1;
    c->members[0].id = c->node_id;
    c->members[0].client_addr = strdup(c->client_addr);
    if (c->peer_addr)
        c->members[0].peer_addr = strdup(c->peer_addr);
    if (!c->members[0].client_addr || (c->peer_addr && !c->members[0].peer_addr))
        return oom(err);
    return LMS_OK;
}

static int read_members(lms_config *c, const config_node *sec, lms_err *err)
{
    const config_node *seq = map_get(sec, "members");
    if (!seq)
        return single_member(c, err);
    if (seq->type != NODE_SEQ)
        return type_error(seq, "a sequence of cluster members", err);
    if (seq->n == 0 || seq->n > RAFT_MAX_MEMBERS)
        return value_error(sec, "members", err,
                           "%zu members (expected 1 to %d)", seq->n,
                           RAFT_MAX_MEMBERS);
    if (!(c->members = calloc(seq->n, sizeof *c->members)))
        return oom(err);
    for (size_t i = 0; i < seq->n; i++) {
        c->n_members++;
        int rc = read_member(seq->items[i], &c->members[i], err);
        if (rc)
            return rc;
    }
    return check_members(c, seq, err);
}

/* cluster: { id, members }; then listen.peer is needed if anyone else
 * will connect. */
static int read_cluster(lms_config *c, lms_err *err)
{
    const config_node *sec;
    const char *id = "lms";
    int rc = section(c->root, "cluster", &sec, err);
    if (rc || (rc = optional(config_string(sec, "id", &id, err))))
        return rc;
    if (!*id || strlen(id) > 64)
        return value_error(sec, "id", err,
                           "expected a name of 1 to 64 characters");
    if (!(c->cluster_id = strdup(id)))
        return oom(err);
    if ((rc = read_members(c, sec, err)))
        return rc;
    c->joining = 1;
    for (size_t i = 0; i < c->n_members; i++)
        if (c->members[i].id == c->node_id)
            c->joining = 0;
    if ((c->n_members > 1 || c->joining) && !c->peer_addr) {
        const config_node *listen = map_get(c->root, "listen");
        return missing_error(listen ? listen : c->root,
                             listen ? "peer" : "listen",
                             "expected listen.peer, the address the other "
                             "nodes of the cluster connect to",
                             err);
    }
    return LMS_OK;
}

/* Is the host of "host:port" a loopback address (127/8, [::1], localhost)? */
static int loopback_addr(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]:", 6) == 0 ||
           strncmp(addr, "localhost:", 10) == 0;
}

/* tls: the files and whether each port uses them. A port that is on needs
 * its files; the peer port matters only when this node has one. */
static int read_tls(lms_config *c, const char *dir, lms_err *err)
{
    const config_node *sec;
    int rc = section(c->root, "tls", &sec, err);
    c->tls_peer = c->tls_client = 1;
    if (rc || (rc = read_path(sec, "ca", dir, &c->tls_ca, err)) ||
        (rc = read_path(sec, "cert", dir, &c->tls_cert, err)) ||
        (rc = read_path(sec, "key", dir, &c->tls_key, err)) ||
        (rc = read_path(sec, "client_cert", dir, &c->tls_client_cert, err)) ||
        (rc = read_path(sec, "client_key", dir, &c->tls_client_key, err)) ||
        (rc = optional(config_bool(sec, "peer", &c->tls_peer, err))) ||
        (rc = optional(config_bool(sec, "client", &c->tls_client, err))))
        return rc;
    const config_node *at = sec ? sec : c->root;
    const char *key = sec ? "cert" : "tls";
    if (!c->peer_addr)
        c->tls_peer = 0; /* no peer port: nothing to protect */
    /* a client port only this machine reaches may stay plaintext without
     * being told (lmsd logs a warning); one on a network may not */
    if (c->tls_client && !c->tls_cert && !c->tls_client_cert &&
        !map_get(sec, "client") && loopback_addr(c->client_addr))
        c->tls_client = 0;
    if (c->tls_peer && (!c->tls_ca || !c->tls_cert || !c->tls_key))
        return missing_error(
            at, sec ? (!c->tls_ca ? "ca" : !c->tls_cert ? "cert" : "key") : key,
            "the peer port needs mutual TLS: set tls.ca, tls.cert and tls.key "
            "(lms-admin cluster-ca makes them), or say tls.peer: off for a "
            "cluster on one trusted machine (loopback)",
            err);
    if ((c->tls_client_cert != NULL) != (c->tls_client_key != NULL))
        return missing_error(at, c->tls_client_cert ? "client_key" : "client_cert",
                             "tls.client_cert and tls.client_key go together",
                             err);
    if (c->tls_client && !c->tls_client_cert && (!c->tls_cert || !c->tls_key))
        return missing_error(
            at, sec ? (!c->tls_cert ? "cert" : "key") : key,
            "the client port needs TLS: set tls.cert and tls.key, or say "
            "tls.client: off (plaintext: passwords and tokens cross the "
            "network in clear)",
            err);
    return LMS_OK;
}

static int read_all(lms_config *c, const char *dir, lms_err *err)
{
    int rc = check_keys(c->root, "", err);
    if (rc || (rc = read_node_section(c, dir, err)) ||
        (rc = read_listen(c, err)) ||
        (rc = read_path(c->root, "plugin_dir", dir, &c->plugin_dir, err)) ||
        (rc = read_log(c, err)) || (rc = read_sessions(c, err)) ||
        (rc = read_limits(c, err)))
        return rc;
    if ((rc = read_slot(c, "storage", NULL, 1, dir, &c->storage, err)) ||
        (rc = read_slot(c, "auth", "auth_password", 0, dir, &c->auth, err)) ||
        (rc = read_slot(c, "tutor", NULL, 0, dir, &c->tutor, err)))
        return rc;
    if ((rc = read_raft(c, err)) || (rc = read_cluster(c, err)))
        return rc;
    return read_tls(c, dir, err);
}

int config_load(const char *path, lms_config **out, lms_err *err)
{
    *out = NULL;
    lms_err_clear(err);
    lms_config *c = calloc(1, sizeof *c);
    if (!c)
        return oom(err);
    char *dir = NULL;
    int rc = load_tree(path, &c->root, err);
    if (rc == LMS_OK && !(c->path = strdup(path)))
        rc = oom(err);
    if (rc == LMS_OK && !(dir = config_dir(path)))
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT,
                         "%s: cannot resolve the config file's directory: %s",
                         path, strerror(errno));
    if (rc == LMS_OK)
        rc = read_all(c, dir, err);
    free(dir);
    if (rc) {
        config_free(c);
        return rc;
    }
    *out = c;
    return LMS_OK;
}

void config_free(lms_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->data_dir);
    free(c->client_addr);
    free(c->peer_addr);
    free(c->metrics_addr);
    free(c->plugin_dir);
    free(c->storage.plugin);
    free(c->auth.plugin);
    free(c->tutor.plugin);
    for (size_t i = 0; i < c->n_members; i++) {
        free(c->members[i].peer_addr);
        free(c->members[i].client_addr);
    }
    free(c->members);
    free(c->cluster_id);
    free(c->tls_ca);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_client_cert);
    free(c->tls_client_key);
    node_free(c->root);
    free(c);
}

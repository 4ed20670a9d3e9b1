/* SPDX-License-Identifier: MIT */
/*
 * cli_opts.c: the table-driven argument parser and usage printer behind
 * cli_opts.h, and the strict number readers it converts values with.
 */
#include "cli_opts.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "isotime.h"

int lms_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int lms_parse_double(const char *s, double *out)
{
    if (s == NULL || *s == '\0' || isspace((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int lms_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1ull << 10},
        {"kib", 1ull << 10},
        {"kb", 1000ull},
        {"m", 1ull << 20},
        {"mib", 1ull << 20},
        {"mb", 1000000ull},
        {"g", 1ull << 30},
        {"gib", 1ull << 30},
        {"gb", 1000000000ull},
        {"t", 1ull << 40},
        {"tib", 1ull << 40},
        {"tb", 1000000000000ull},
    };
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].suffix) != 0)
            continue;
        if (v > UINT64_MAX / units[i].mult)
            return -1;
        *out = v * units[i].mult;
        return 0;
    }
    return -1;
}

static bool is_operand(const struct cli_param *p)
{
    return (p->flags & CLI_POSITIONAL) != 0;
}

/* The way a param is named in messages: "--course" or "FILE". */
static const char *display_name(const struct cli_param *p, char *buf, size_t n)
{
    if (is_operand(p))
        snprintf(buf, n, "%s", p->name);
    else
        snprintf(buf, n, "--%s", p->name);
    return buf;
}

/* Is word one of the '|'-separated choices? */
static bool is_choice(const char *choices, const char *word)
{
    size_t len = strlen(word);
    for (const char *c = choices; c != NULL; c = strchr(c, '|')) {
        if (*c == '|')
            c++;
        if (strncmp(c, word, len) == 0 && (c[len] == '|' || c[len] == '\0') && len > 0)
            return true;
    }
    return false;
}

/* Convert text for param p into v. Returns 0, or -1 with err set. */
static int convert(const struct cli_param *p, const char *text, struct cli_value *v, char *err,
                   size_t errlen)
{
    char name[64], why[128];
    int bad = 0;
    v->set = true;
    v->str = text;
    switch (p->kind) {
    case CLI_FLAG:
    case CLI_STRING:
        return 0;
    case CLI_ID:
        bad = lms_parse_u64(text, &v->u);
        break;
    case CLI_COUNT:
        bad = lms_parse_u64(text, &v->u) < 0 || v->u > UINT32_MAX ? -1 : 0;
        break;
    case CLI_NUMBER:
        bad = lms_parse_double(text, &v->d);
        break;
    case CLI_SIZE:
        bad = lms_parse_size(text, &v->u);
        break;
    case CLI_TIME:
        if (lms_time_parse(text, &v->t, why, sizeof why) == 0)
            return 0;
        snprintf(err, errlen,
                 "bad time for %s: '%s' (%s); use ISO 8601 like "
                 "2026-12-01T23:59:00Z, 2026-12-01T23:59 or 2026-12-01",
                 display_name(p, name, sizeof name), text, why);
        return -1;
    case CLI_CHOICE:
        if (is_choice(p->meta, text))
            return 0;
        snprintf(err, errlen, "%s must be one of %s, not '%s'",
                 display_name(p, name, sizeof name), p->meta, text);
        return -1;
    }
    if (bad == 0)
        return 0;
    static const char *const expected[] = {
        [CLI_ID] = "a whole number",
        [CLI_COUNT] = "a whole number below 2^32",
        [CLI_NUMBER] = "a number",
        [CLI_SIZE] = "a number of bytes, optionally with KiB, MiB or GiB",
    };
    snprintf(err, errlen, "bad number for %s: '%s' (expected %s)",
             display_name(p, name, sizeof name), text, expected[p->kind]);
    return -1;
}

/* Collect the params of all tables into a. Returns -1 if there are too many. */
static int collect_params(const struct cli_param *const *tables, struct cli_args *a)
{
    memset(a, 0, sizeof *a);
    for (; *tables != NULL; tables++) {
        for (const struct cli_param *p = *tables; p->name != NULL; p++) {
            if (a->n == CLI_MAX_PARAMS)
                return -1;
            a->params[a->n++] = p;
        }
    }
    return 0;
}

static int find_long(const struct cli_args *a, const char *name, size_t len)
{
    for (size_t i = 0; i < a->n; i++) {
        const struct cli_param *p = a->params[i];
        if (!is_operand(p) && strncmp(p->name, name, len) == 0 && p->name[len] == '\0')
            return (int)i;
    }
    return -1;
}

static int find_short(const struct cli_args *a, char c)
{
    for (size_t i = 0; i < a->n; i++)
        if (!is_operand(a->params[i]) && a->params[i]->short_name == c)
            return (int)i;
    return -1;
}

/* The index of the next operand param after index prev (-1: from the start),
 * or -1 if there is none. */
static int next_operand(const struct cli_args *a, int prev)
{
    for (size_t i = (size_t)(prev + 1); i < a->n; i++)
        if (is_operand(a->params[i]))
            return (int)i;
    return -1;
}

/* Append word to a CLI_REST operand, separated by a space. */
static int append_rest(struct cli_value *v, const char *word)
{
    size_t have = v->owned ? strlen(v->owned) : 0, len = strlen(word);
    char *s = realloc(v->owned, have + len + 2);
    if (s == NULL)
        return -1;
    if (have > 0)
        s[have++] = ' ';
    memcpy(s + have, word, len + 1);
    v->owned = s;
    v->str = s;
    v->set = true;
    return 0;
}

/* Keep one more value of a CLI_MULTI option. */
static int append_multi(struct cli_value *v, const char *value, char *err, size_t errlen)
{
    const char **all = realloc(v->all, (v->count + 1) * sizeof *all);
    if (all == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    all[v->count++] = value;
    v->all = all;
    return 0;
}

/* Parse one option word argv[*i] (and maybe its value in argv[*i + 1]). */
static int parse_option(struct cli_args *a, int argc, char **argv, int *i, char *err,
                        size_t errlen)
{
    const char *word = argv[*i], *value = NULL;
    int idx;
    if (word[1] == '-') {
        const char *name = word + 2, *eq = strchr(name, '=');
        idx = find_long(a, name, eq ? (size_t)(eq - name) : strlen(name));
        if (eq != NULL)
            value = eq + 1;
    } else {
        idx = find_short(a, word[1]);
        if (word[2] != '\0')
            value = word + 2;
    }
    if (idx < 0 && isdigit((unsigned char)word[1])) {
        snprintf(err, errlen,
                 "unknown option '%s' (a negative number? a value that starts with '-' goes "
                 "after --)",
                 word);
        return -1;
    }
    if (idx < 0) {
        snprintf(err, errlen, "unknown option '%s'", word);
        return -1;
    }
    const struct cli_param *p = a->params[idx];
    if (p->kind == CLI_FLAG) {
        if (value != NULL) {
            snprintf(err, errlen, "option --%s takes no value", p->name);
            return -1;
        }
        a->v[idx].set = true;
        return 0;
    }
    if (value == NULL) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "option --%s needs a value (%s)", p->name, p->meta);
            return -1;
        }
        value = argv[++*i];
    }
    if (convert(p, value, &a->v[idx], err, errlen) < 0)
        return -1;
    return p->flags & CLI_MULTI ? append_multi(&a->v[idx], value, err, errlen) : 0;
}

static int check_required(const struct cli_args *a, char *err, size_t errlen)
{
    for (size_t i = 0; i < a->n; i++) {
        const struct cli_param *p = a->params[i];
        char name[64];
        if (!(p->flags & CLI_REQUIRED) || a->v[i].set)
            continue;
        if (p->missing != NULL)
            snprintf(err, errlen, "%s", p->missing);
        else
            snprintf(err, errlen, "missing %s", display_name(p, name, sizeof name));
        return -1;
    }
    return 0;
}

int cli_parse(const struct cli_param *const *tables, int argc, char **argv,
              bool stop_at_operand, struct cli_args *out, int *used, char *err,
              size_t errlen)
{
    if (collect_params(tables, out) < 0) {
        snprintf(err, errlen, "too many options (internal error)");
        return -1;
    }
    bool options_done = false;
    int operand = -1, i;
    for (i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (!options_done && strcmp(w, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && w[0] == '-' && w[1] != '\0') {
            if (parse_option(out, argc, argv, &i, err, errlen) < 0)
                return -1;
            continue;
        }
        if (stop_at_operand)
            break;
        if (operand < 0 || !(out->params[operand]->flags & CLI_REST))
            operand = next_operand(out, operand);
        if (operand < 0) {
            snprintf(err, errlen, "unexpected argument '%s'", w);
            return -1;
        }
        const struct cli_param *p = out->params[operand];
        if (p->flags & CLI_REST) {
            if (append_rest(&out->v[operand], w) < 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        } else if (convert(p, w, &out->v[operand], err, errlen) < 0) {
            return -1;
        }
    }
    if (used != NULL)
        *used = i;
    return stop_at_operand ? 0 : check_required(out, err, errlen);
}

void cli_args_free(struct cli_args *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].owned);
        a->v[i].owned = NULL;
        free(a->v[i].all);
        a->v[i].all = NULL;
        a->v[i].count = 0;
    }
}

const struct cli_value *cli_get(const struct cli_args *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->params[i]->name, name) == 0)
            return &a->v[i];
    return NULL;
}

bool cli_has(const struct cli_args *a, const char *name)
{
    const struct cli_value *v = cli_get(a, name);
    return v != NULL && v->set;
}

const char *cli_str(const struct cli_args *a, const char *name)
{
    const struct cli_value *v = cli_get(a, name);
    return v != NULL && v->set ? v->str : NULL;
}

uint64_t cli_u64(const struct cli_args *a, const char *name, uint64_t dflt)
{
    const struct cli_value *v = cli_get(a, name);
    return v != NULL && v->set ? v->u : dflt;
}

const char *const *cli_strs(const struct cli_args *a, const char *name, size_t *n)
{
    const struct cli_value *v = cli_get(a, name);
    *n = v != NULL && v->set ? v->count : 0;
    return *n > 0 ? v->all : NULL;
}

double cli_num(const struct cli_args *a, const char *name, double dflt)
{
    const struct cli_value *v = cli_get(a, name);
    return v != NULL && v->set ? v->d : dflt;
}

int64_t cli_time(const struct cli_args *a, const char *name, int64_t dflt)
{
    const struct cli_value *v = cli_get(a, name);
    return v != NULL && v->set ? v->t : dflt;
}

/* " --course C", " [-o FILE]", " [--hold-grades]", " FILE", " TEXT..." */
static void print_usage_word(FILE *f, const struct cli_param *p)
{
    bool optional = !(p->flags & CLI_REQUIRED);
    fputs(optional ? " [" : " ", f);
    if (is_operand(p))
        fprintf(f, "%s%s", p->name, p->flags & CLI_REST ? "..." : "");
    else if (p->short_name)
        fprintf(f, "-%c", p->short_name);
    else
        fprintf(f, "--%s", p->name);
    if (!is_operand(p) && p->kind != CLI_FLAG)
        fprintf(f, " %s", p->meta);
    if (optional)
        fputc(']', f);
    if (p->flags & CLI_MULTI)
        fputs("...", f);
}

void cli_print_usage(FILE *f, const char *prog, const char *cmd, const struct cli_param *table)
{
    fprintf(f, "usage: %s %s", prog, cmd);
    for (const struct cli_param *p = table; p->name != NULL; p++)
        print_usage_word(f, p);
    fputc('\n', f);
}

void cli_print_params(FILE *f, const struct cli_param *table)
{
    for (const struct cli_param *p = table; p->name != NULL; p++) {
        char left[96], sh[8] = "    ";
        if (p->short_name)
            snprintf(sh, sizeof sh, "-%c, ", p->short_name);
        if (is_operand(p))
            snprintf(left, sizeof left, "%s", p->name);
        else
            snprintf(left, sizeof left, "%s--%s%s%s", sh, p->name,
                     p->kind == CLI_FLAG ? "" : " ", p->kind == CLI_FLAG ? "" : p->meta);
        if (strlen(left) > 30) /* too wide: the help goes on a line of its own */
            fprintf(f, "  %s\n  %-30s %s\n", left, "", p->help ? p->help : "");
        else
            fprintf(f, "  %-30s %s\n", left, p->help ? p->help : "");
    }
}

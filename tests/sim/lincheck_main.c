/* SPDX-License-Identifier: MIT */
/*
 * lincheck_main.c: lin-check, the simulator's linearizability checker
 * (linearize.c, unchanged) behind a command line, for histories recorded
 * outside the simulator: the e2e nemesis run (tests/e2e/test_nemesis.py)
 * writes one and runs
 *
 *   lin-check HISTORY
 *
 * HISTORY holds one operation on a register per line ('#' starts a
 * comment):
 *
 *   KEY CALL RETURN KIND VALUE
 *
 * KEY names the register (any word without blanks); CALL and RETURN are
 * microseconds on one clock, RETURN is "unknown" when the outcome is not
 * known (the write may have taken effect at any time after CALL, or
 * never); KIND is put or get; VALUE is the unsigned integer written or
 * read. Every register starts at 0. Each register is checked on its own.
 *
 * Exit status: 0 and "linearizable" on stdout; 1 and why not (the "client"
 * in the message is the line number of the op); 2 a malformed history or
 * usage; 3 a history too large to decide.
 */
#include "sim.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 64

typedef struct history {
    hist_op *ops;
    size_t n, cap;
    char (*keys)[KEY_MAX + 1]; /* register names; hist_op.key indexes */
    size_t n_keys, cap_keys;
} history;

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * size);
    if (!q) {
        fprintf(stderr, "lin-check: out of memory\n");
        exit(2);
    }
    *cap = n;
    return q;
}

static int key_index(history *h, const char *name)
{
    for (size_t i = 0; i < h->n_keys; i++)
        if (!strcmp(h->keys[i], name))
            return (int)i;
    h->keys = grow(h->keys, &h->cap_keys, h->n_keys + 1, sizeof *h->keys);
    snprintf(h->keys[h->n_keys], sizeof h->keys[0], "%s", name);
    return (int)h->n_keys++;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        return -1;
    *out = strtoull(s, &end, 10);
    return errno || *end ? -1 : 0;
}

/* One line into op; NULL, or what is wrong with it. */
static const char *parse_line(history *h, char *line, hist_op *op)
{
    char key[KEY_MAX + 2], call[32], ret[32], kind[8], value[32], extra[2];
    int got = sscanf(line, "%65s %31s %31s %7s %31s %1s", key, call, ret, kind,
                     value, extra);
    if (got != 5)
        return "expected KEY CALL RETURN KIND VALUE";
    if (strlen(key) > KEY_MAX)
        return "key longer than 64 characters";
    memset(op, 0, sizeof *op);
    if (!strcmp(kind, "put"))
        op->kind = H_PUT;
    else if (!strcmp(kind, "get"))
        op->kind = H_GET;
    else
        return "KIND is neither put nor get";
    if (parse_u64(call, &op->call) || parse_u64(value, &op->value))
        return "CALL and VALUE must be unsigned integers";
    if (!strcmp(ret, "unknown")) {
        if (op->kind == H_GET)
            return "a get whose result is unknown says nothing; leave it out";
        op->ret = SIM_INF;
    } else if (parse_u64(ret, &op->ret) || op->ret == SIM_INF) {
        return "RETURN must be an unsigned integer or \"unknown\"";
    } else if (op->ret < op->call) {
        return "RETURN before CALL";
    }
    op->key = key_index(h, key);
    return NULL;
}

static int read_history(FILE *f, const char *path, history *h)
{
    char line[512];
    for (int lineno = 1; fgets(line, sizeof line, f); lineno++) {
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(stderr, "%s:%d: line too long\n", path, lineno);
            return -1;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        h->ops = grow(h->ops, &h->cap, h->n + 1, sizeof *h->ops);
        const char *bad = parse_line(h, line, &h->ops[h->n]);
        if (bad) {
            fprintf(stderr, "%s:%d: %s\n", path, lineno, bad);
            return -1;
        }
        h->ops[h->n++].client = lineno;
    }
    return ferror(f) ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: lin-check HISTORY (one 'KEY CALL RETURN "
                        "put|get VALUE' a line; RETURN may be 'unknown')\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        fprintf(stderr, "lin-check: cannot open %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    history h = {0};
    int rc = read_history(f, argv[1], &h);
    fclose(f);
    for (size_t k = 0; rc == 0 && k < h.n_keys; k++) {
        char why[512] = "";
        int r = linearizable(h.ops, h.n, (int)k, why, sizeof why);
        if (r > 0)
            printf("not linearizable: key %s: %s (client = line number)\n",
                   h.keys[k], why);
        else if (r < 0)
            printf("undecided: key %s: the search gave up (too many "
                   "concurrent operations)\n", h.keys[k]);
        rc = r > 0 ? 1 : r < 0 ? 3 : 0;
    }
    if (rc == 0)
        printf("linearizable: %zu ops on %zu keys\n", h.n, h.n_keys);
    free(h.ops);
    free(h.keys);
    return rc < 0 ? 2 : rc;
}

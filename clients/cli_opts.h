/* SPDX-License-Identifier: MIT */
/*
 * cli_opts.h: declarative command-line options. A subcommand describes its
 * options and positional arguments in a table of cli_param; one parser turns
 * argv into typed values (ids, counts, numbers, times, sizes, choices) and
 * every mistake into a message that names the option, so that no handler
 * parses its own arguments. The same tables produce the usage lines and the
 * --help text.
 */
#ifndef LMS_CLIENTS_CLI_OPTS_H
#define LMS_CLIENTS_CLI_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cli_kind {
    CLI_FLAG,   /* no value */
    CLI_STRING, /* any text */
    CLI_ID,     /* unsigned 64-bit decimal */
    CLI_COUNT,  /* unsigned 32-bit decimal */
    CLI_NUMBER, /* finite decimal number, e.g. a grade */
    CLI_TIME,   /* ISO 8601, to milliseconds since the epoch */
    CLI_SIZE,   /* bytes, with an optional KiB/MiB/GiB/TiB suffix */
    CLI_CHOICE, /* one of the words of meta, "student|instructor" */
};

#define CLI_POSITIONAL 0x1u /* an operand, not an option */
#define CLI_REQUIRED 0x2u
#define CLI_REST 0x4u /* last operand: takes all remaining operands, joined by spaces */
#define CLI_MULTI 0x8u /* option that may be given more than once: every value is kept */

/* What shell completion offers for a param's value (cli_doc.c). AUTO, the
 * default, derives it from the param: a CLI_CHOICE its words, --course the
 * course codes and --assignment or ASSIGNMENT_ID the assignment ids (asked
 * of the server), a FILE or DIR a path; anything else nothing. */
enum cli_complete {
    CLI_COMPLETE_AUTO = 0,
    CLI_COMPLETE_NONE,
    CLI_COMPLETE_COURSE,
    CLI_COMPLETE_ASSIGNMENT,
    CLI_COMPLETE_FILE,
    CLI_COMPLETE_DIR,
};

struct cli_param {
    const char *name;   /* long option name (no dashes), or the operand's name */
    char short_name;    /* 0: none */
    const char *meta;   /* value placeholder in usage; CLI_CHOICE: the choices */
    enum cli_kind kind;
    unsigned flags;
    const char *help;
    const char *missing; /* message for an absent required param; NULL: generic */
    enum cli_complete complete; /* what completion offers for its value */
};

struct cli_value {
    bool set;
    const char *str; /* the text as given (NULL for a flag) */
    char *owned;     /* storage for a CLI_REST operand joined from several words */
    const char **all; /* CLI_MULTI: every value given, in order (str is the last) */
    size_t count;     /* CLI_MULTI: how many */
    uint64_t u;      /* CLI_ID, CLI_COUNT, CLI_SIZE */
    double d;        /* CLI_NUMBER */
    int64_t t;       /* CLI_TIME, ms */
};

/* The entry that ends a table of params. */
#define CLI_END_PARAMS {.name = NULL}

#define CLI_MAX_PARAMS 32

/* The parsed values, in the order of the params that the parser was given. */
struct cli_args {
    const struct cli_param *params[CLI_MAX_PARAMS];
    struct cli_value v[CLI_MAX_PARAMS];
    size_t n;
};

/*
 * Parse argv[0..argc) against the params of tables (a NULL-terminated list of
 * tables, each ending with an entry whose name is NULL). Options may come
 * before, between and after operands; "--" ends the options. With
 * stop_at_operand, parsing stops at the first operand and *used says how many
 * words were consumed (used by the global options before a subcommand), and
 * required params are not checked. Returns 0, or -1 with the reason in err;
 * out must be released with cli_args_free() either way.
 */
int cli_parse(const struct cli_param *const *tables, int argc, char **argv,
              bool stop_at_operand, struct cli_args *out, int *used, char *err,
              size_t errlen);

void cli_args_free(struct cli_args *a);

/* Accessors by param name. A name that the tables did not declare reads as
 * absent. cli_str() returns NULL when absent. */
const struct cli_value *cli_get(const struct cli_args *a, const char *name);
bool cli_has(const struct cli_args *a, const char *name);
const char *cli_str(const struct cli_args *a, const char *name);
uint64_t cli_u64(const struct cli_args *a, const char *name, uint64_t dflt);
/* Every value of a CLI_MULTI option, in the order given; *n = 0 when absent. */
const char *const *cli_strs(const struct cli_args *a, const char *name, size_t *n);
double cli_num(const struct cli_args *a, const char *name, double dflt);
int64_t cli_time(const struct cli_args *a, const char *name, int64_t dflt);

/* "usage: PROG CMD --course C [--cutoff TIME] FILE" for the params of table,
 * in the order of the table. */
void cli_print_usage(FILE *f, const char *prog, const char *cmd, const struct cli_param *table);
/* One line per param of table: "  -o, --output FILE  help". */
void cli_print_params(FILE *f, const struct cli_param *table);

/* Strict number readers: digits only (no sign, no spaces), range-checked.
 * Each returns 0, or -1 if s is not such a number. */
int lms_parse_u64(const char *s, uint64_t *out);
int lms_parse_double(const char *s, double *out);
/* Bytes: "10485760", "512KiB", "10MiB", "1GiB", "1TiB" (also K, M, G, T and
 * KB, MB, GB, TB = powers of 1000; case-insensitive; "B" allowed). */
int lms_parse_size(const char *s, uint64_t *out);

#endif

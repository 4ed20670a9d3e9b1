/* SPDX-License-Identifier: MIT */
/*
 * lmsd_doc.h: lmsd's command line as a table, and the documents made from
 * it and from the config key table: --help, lmsd(8), lmsd.yaml(5) and
 * the key list the doc tests compare with the page.
 *
 * main() builds getopt_long's tables from lmsd_options and keeps its own
 * switch on .val, so an option cannot be parsed without being documented.
 * The build runs `lmsd --help-man` and `lmsd --help-config-man=conf/lmsd.yaml`
 * after linking and installs the pages (docs/operations.md, "Manual pages").
 */
#ifndef LMS_CORE_LMSD_DOC_H
#define LMS_CORE_LMSD_DOC_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#define LMSD_OPT_SHORT 0x1u     /* also -<val>, e.g. -c */
#define LMSD_OPT_OPTIONAL 0x2u  /* the argument is optional: --opt[=ARG] */
#define LMSD_OPT_PACKAGING 0x4u /* for packagers and tests: in lmsd(8), not --help */

typedef struct lmsd_option {
    const char *name; /* the long name, "config" */
    int val;          /* getopt_long's answer (and the short option with LMSD_OPT_SHORT) */
    const char *arg;  /* the argument's name, "FILE"; NULL: none */
    unsigned flags;
    const char *help; /* one paragraph */
} lmsd_option;

/* lmsd's options, ending with a row whose name is NULL. */
extern const lmsd_option lmsd_options[];

#define LMSD_OPTIONS_MAX 16

/* getopt_long's long options (n entries at most, the last all zero) and
 * short option string (len bytes at most) from lmsd_options. */
void lmsd_getopt_tables(struct option *longopts, size_t n, char *shortopts, size_t len);

/* --help: the synopsis and the options without LMSD_OPT_PACKAGING. */
void lmsd_usage(FILE *f);

/* lmsd(8) in roff. */
void lmsd_man(FILE *f);

/* lmsd.yaml(5) in roff: every key of config_keys, the shipped plugins'
 * options, and example (a config file, e.g. conf/lmsd.yaml) as its
 * EXAMPLE when not NULL. 0, or -1 with the reason on stderr when example
 * cannot be read. */
int lmsd_config_man(FILE *f, const char *example);

/* "KEY<TAB>TYPE<TAB>EXAMPLE" per key lmsd accepts ("node.id", "storage.plugin",
 * "cluster.members[].id"); sections themselves are not listed, and a list
 * of mappings has "-" for its example (its items come from its keys). */
void lmsd_list_config_keys(FILE *f);

#endif

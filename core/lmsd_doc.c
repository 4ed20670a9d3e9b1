/* SPDX-License-Identifier: MIT */
/*
 * lmsd_doc.c: lmsd's option table, its --help, and the two manual pages
 * made from the option table and the config key tables (lmsd_doc.h).
 * Everything a page says about an option or a key comes from a table row;
 * the prose here is what no table holds (signals, exit status, files).
 */
#include "lmsd_doc.h"

#include "config_keys.h"
#include "lms_assert.h"
#include "plugin_options.h"
#include "reload.h"
#include "roff.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef LMS_VERSION
#define LMS_VERSION "0.0.0"
#endif

const lmsd_option lmsd_options[] = {
    {.name = "config", .val = 'c', .arg = "FILE", .flags = LMSD_OPT_SHORT,
     .help = "run a node with this configuration"},
    {.name = "accept-log-loss", .val = 'L',
     .help = "a node alone in its cluster whose command log lost acknowledged entries "
             "(damage before its tail) starts without them instead of refusing"},
    {.name = "adopt-storage", .val = 'A',
     .help = "take over a store that another node or cluster owns (after renaming the "
             "cluster or the node)"},
    {.name = "check-config", .val = 'C', .arg = "FILE",
     .help = "validate the configuration and its plugins, then exit"},
    {.name = "init-admin", .val = 'I', .arg = "NAME",
     .help = "create the first admin user; the password is read from stdin; only on an "
             "empty state"},
    {.name = "restore", .val = 'R', .arg = "BACKUP",
     .help = "make BACKUP (written by lms-admin backup) the state of this node, which must "
             "be new (empty data dir and store): it becomes a new cluster of the configured "
             "members at the backup's index; then exit. A damaged file changes nothing. "
             "Start the node normally afterwards"},
    {.name = "help", .val = 'h', .flags = LMSD_OPT_SHORT, .help = "show this help"},
    {.name = "version", .val = 'V', .flags = LMSD_OPT_SHORT, .help = "print the version"},
    {.name = "help-man", .val = 'M', .flags = LMSD_OPT_PACKAGING,
     .help = "print this manual page, lmsd(8), in roff"},
    {.name = "help-config-man", .val = 'Y', .arg = "EXAMPLE",
     .flags = LMSD_OPT_PACKAGING | LMSD_OPT_OPTIONAL,
     .help = "print lmsd.yaml(5) in roff, with the config file EXAMPLE as its example"},
    {.name = "list-config-keys", .val = 'K', .flags = LMSD_OPT_PACKAGING,
     .help = "list every configuration key lmsd accepts, with its type and an example "
             "value, one per line"},
    {.name = NULL},
};

/* The forms of the command line, after "lmsd ". */
static const char *const synopsis[] = {
    "--config FILE [--init-admin NAME | --restore BACKUP]",
    "--check-config FILE",
    "--version",
};

void lmsd_getopt_tables(struct option *longopts, size_t n, char *shortopts, size_t len)
{
    size_t i = 0, s = 0;
    for (const lmsd_option *o = lmsd_options; o->name; o++, i++) {
        LMS_ASSERT(i + 1 < n); /* room for this one and the terminator */
        int has = !o->arg                          ? no_argument
                  : o->flags & LMSD_OPT_OPTIONAL ? optional_argument
                                                   : required_argument;
        longopts[i] = (struct option){.name = o->name, .has_arg = has, .val = o->val};
        if (o->flags & LMSD_OPT_SHORT) {
            LMS_ASSERT(s + 3 < len);
            shortopts[s++] = (char)o->val;
            if (o->arg)
                shortopts[s++] = ':';
        }
    }
    longopts[i] = (struct option){.name = NULL};
    shortopts[s] = '\0';
}

/* ---- --help ------------------------------------------------------------ */

/* text, wrapped to width columns; the caller left the line at column col,
 * ready for the first word, and later lines are indented by indent. */
static void wrap(FILE *f, const char *text, size_t col, size_t indent, size_t width)
{
    int line_start = 1;
    for (const char *p = text; *p;) {
        size_t word = strcspn(p, " ");
        if (!line_start && col + 1 + word > width) {
            fprintf(f, "\n%*s", (int)indent, "");
            col = indent;
            line_start = 1;
        }
        if (!line_start) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, word, f);
        col += word;
        line_start = 0;
        p += word;
        p += strspn(p, " ");
    }
    fputc('\n', f);
}

void lmsd_usage(FILE *f)
{
    enum { HELP_COL = 27, WIDTH = 80 };
    for (size_t i = 0; i < sizeof synopsis / sizeof synopsis[0]; i++)
        fprintf(f, "%s lmsd %s\n", i == 0 ? "usage:" : "      ", synopsis[i]);
    fputc('\n', f);
    for (const lmsd_option *o = lmsd_options; o->name; o++) {
        if (o->flags & LMSD_OPT_PACKAGING)
            continue;
        char left[64];
        int n = snprintf(left, sizeof left, "  %s%c%s --%s%s%s",
                         o->flags & LMSD_OPT_SHORT ? "-" : " ",
                         o->flags & LMSD_OPT_SHORT ? o->val : ' ',
                         o->flags & LMSD_OPT_SHORT ? "," : " ", o->name, o->arg ? " " : "",
                         o->arg ? o->arg : "");
        /* the help starts at HELP_COL, or a space after a longer left part */
        int col = n < HELP_COL ? HELP_COL : n + 1;
        fprintf(f, "%-*s", col, left);
        wrap(f, o->help, (size_t)col, HELP_COL, WIDTH);
    }
}

/* ---- man pages: shared pieces ------------------------------------------ */

static void man_header(FILE *f, const char *title, int section, const char *volume)
{
    fprintf(f, ".\\\" Generated by lmsd from its tables (core/lmsd_doc.c); do not edit.\n");
    fprintf(f, ".TH %s %d \"\" \"lms %s\" \"%s\"\n", title, section, LMS_VERSION, volume);
}

/* A paragraph of plain text. */
static void man_para(FILE *f, const char *text)
{
    fputs(".PP\n", f);
    roff_put(f, text, 0);
    fputc('\n', f);
}

/* ---- lmsd(8) ------------------------------------------------------------ */

static void man_option(FILE *f, const lmsd_option *o)
{
    char name[64];
    fputs(".TP\n", f);
    if (o->flags & LMSD_OPT_SHORT) {
        snprintf(name, sizeof name, "-%c", o->val);
        roff_bold(f, name);
        fputs(", ", f);
    }
    snprintf(name, sizeof name, "--%s", o->name);
    roff_bold(f, name);
    if (o->arg) {
        fputs(o->flags & LMSD_OPT_OPTIONAL ? "[=" : " ", f);
        roff_italic(f, o->arg);
        fputs(o->flags & LMSD_OPT_OPTIONAL ? "]" : "", f);
    }
    fputc('\n', f);
    /* the help as a sentence: --help's "this help" is the page's "This help." */
    char *help = strdup(o->help);
    if (help) {
        help[0] = (char)toupper((unsigned char)help[0]);
        roff_put(f, help, 0);
        fputs(".\n", f);
    }
    free(help);
}

void lmsd_man(FILE *f)
{
    man_header(f, "LMSD", 8, "System Administration");
    fputs(".SH NAME\nlmsd \\- the lms learning\\-management server\n.SH SYNOPSIS\n", f);
    for (size_t i = 0; i < sizeof synopsis / sizeof synopsis[0]; i++) {
        fputs(i ? ".br\n.B lmsd\n" : ".B lmsd\n", f);
        roff_put(f, synopsis[i], 0);
        fputc('\n', f);
    }
    fputs(".SH DESCRIPTION\n", f);
    man_para(f, "lmsd is one node of an lms cluster. It serves the client port that "
                "lms-student, lms-instructor and lms-admin talk to, replicates every write "
                "through Raft to the other members, and keeps the state in a storage plugin. "
                "It reads one YAML file, described in lmsd.yaml(5), runs in the foreground "
                "and logs on standard error.");
    man_para(f, "--init-admin works only while the state has no users; afterwards admins "
                "add users with lms-admin add-user. lmsd runs with umask 077 and refuses to "
                "start when the config file, the data dir or plugin_dir is group- or "
                "world-writable.");
    fputs(".SH OPTIONS\n", f);
    for (const lmsd_option *o = lmsd_options; o->name; o++)
        if (!(o->flags & LMSD_OPT_PACKAGING))
            man_option(f, o);
    fputs(".SS \"For packagers\"\n", f);
    roff_put(f, "Not in --help: the build makes the manual pages with these, and the "
                "documentation tests compare the keys with the page.", 0);
    fputc('\n', f);
    for (const lmsd_option *o = lmsd_options; o->name; o++)
        if (o->flags & LMSD_OPT_PACKAGING)
            man_option(f, o);
    fputs(".SH SIGNALS\n", f);
    fputs(".TP\n.B SIGHUP\n", f);
    roff_put(f, "Re-read the config file and reload the tutor section from it, without "
                "dropping connections; any failure keeps the tutor it has. Of the other "
                "settings, those lmsd.yaml(5) marks as applied by a reload take effect; the "
                "rest need a restart. The TLS certificates and keys at the running tls.* "
                "paths are read again for the connections made from now on (certificate "
                "rotation); files that fail a check leave the current ones in use.", 0);
    fputs("\n.TP\n.BR SIGINT \", \" SIGTERM\n", f);
    roff_put(f, "Stop: a leader first hands its leadership to the most caught-up member, "
                "then lmsd stops accepting connections, lets requests in flight finish (up "
                "to 5 s), makes every queued command durable and exits 0. A second signal "
                "exits at once.", 0);
    fputs("\n.SH \"EXIT STATUS\"\n", f);
    fputs(".TP\n.B 0\nStopped by a signal, or a check, a restore or --init-admin succeeded.\n"
          ".TP\n.B 1\nA failure while running (storage, the command log, the network).\n"
          ".TP\n.B 2\nA usage error, or a configuration, plugin or TLS file that cannot "
          "work; the message names the file, the line and the key.\n",
          f);
    fputs(".SH FILES\n", f);
    fputs(".TP\n.I data_dir/wal/\n", f);
    roff_put(f, "The Raft command log and hardstate.", 0);
    fputs("\n.TP\n.I data_dir/snap/\n", f);
    roff_put(f, "The two newest snapshots.", 0);
    fputs("\n.TP\n.I data_dir/files/\n", f);
    roff_put(f, "Bodies of submissions and materials, named by their SHA-256.", 0);
    fputs("\n.SH \"SEE ALSO\"\n", f);
    fputs(".BR lmsd.yaml (5),\n.BR lms\\-admin (1),\n.BR lms\\-instructor (1),\n"
          ".BR lms\\-student (1)\n",
          f);
}

/* ---- lmsd.yaml(5) -------------------------------------------------------- */

/* What each type accepts (docs/configuration.md, "Values"). */
static const struct {
    enum config_type type;
    const char *text;
} type_docs[] = {
    {CONFIG_INT, "decimal, optionally signed: 42, -1."},
    {CONFIG_BOOL, "true/false, yes/no or on/off, in any case."},
    {CONFIG_DURATION, "a whole number with a unit: 250ms, 30s, 5m, 24h, 7d; a bare number "
                      "is seconds."},
    {CONFIG_SIZE, "a whole number of bytes, or with a unit: KiB, MiB, GiB, TiB (powers of "
                  "1024) or KB, MB, GB, TB (powers of 1000), in any case. 64M is refused "
                  "as ambiguous."},
    {CONFIG_ADDRESS, "host:port: an IPv4 address or host name, or an IPv6 address in "
                     "brackets ([::1]:7400); the port is 1 to 65535."},
    {CONFIG_PATH, "a file or directory. lmsd's own are relative to the directory of the "
                  "config file, not to the working directory (. and .. resolved "
                  "lexically); a plugin's option says what it is relative to."},
};

/* One key: its full dotted name (the doc test reads it back from the
 * rendered page), then its type and default, then its help. */
/* own: a key of lmsd's (not a plugin's): say whether SIGHUP applies it. */
static void man_key(FILE *f, const char *prefix, const config_key *k, int own)
{
    fputs(".TP\n", f);
    char full[160];
    snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", k->key);
    fputs(".B ", f);
    roff_put(f, full, 0);
    fputs("\n.br\n", f);
    fputs("\\fI", f);
    roff_put(f, config_type_name(k->type), 0);
    fputs("\\fR", f);
    if (k->dflt) {
        fputs(", default ", f);
        roff_put(f, k->dflt, 0);
    }
    fputs(".\n", f);
    roff_put(f, k->help, 0);
    if (own && k->type != CONFIG_SECTION && k->type != CONFIG_PLUGIN)
        roff_put(f, reload_is_live(full) ? " A reload (SIGHUP) applies a change."
                                         : " A change needs a restart.",
                 0);
    fputc('\n', f);
}

static void man_section_keys(FILE *f, const char *section)
{
    for (const config_key *k = config_keys; k->key; k++)
        if (strcmp(k->section, section) == 0)
            man_key(f, section, k, 1);
}

static void man_keys(FILE *f)
{
    fputs(".SH KEYS\n", f);
    for (const config_key *top = config_keys; top->key; top++) {
        if (*top->section)
            continue;
        fputs(".SS ", f);
        roff_put(f, top->key, 0);
        fputc('\n', f);
        if (top->type != CONFIG_SECTION && top->type != CONFIG_PLUGIN) {
            man_key(f, "", top, 1); /* a scalar at the top level */
            continue;
        }
        roff_put(f, top->help, 0);
        if (top->dflt) {
            fputs(" Default: ", f);
            roff_put(f, top->dflt, 0);
            fputc('.', f);
        }
        fputc('\n', f);
        man_section_keys(f, top->key);
        for (const config_key *k = config_keys; k->key; k++) {
            char items[96];
            snprintf(items, sizeof items, "%s.%s[]", top->key, k->key);
            if (strcmp(k->section, top->key) == 0 && k->type == CONFIG_LIST)
                man_section_keys(f, items); /* e.g. cluster.members[].id */
        }
    }
}

static void man_plugins(FILE *f)
{
    fputs(".SH \"PLUGIN OPTIONS\"\n", f);
    roff_put(f, "A plugin slot holds plugin: NAME and the plugin's own options, which the "
                "plugin reads and checks when lmsd starts (--check-config only loads it). "
                "The plugins shipped with lms:", 0);
    fputc('\n', f);
    for (const plugin_options *p = plugin_options_shipped; p->plugin; p++) {
        char head[96];
        snprintf(head, sizeof head, "%s (%s)", p->plugin, p->slot);
        roff_request(f, ".SS", head);
        roff_put(f, p->summary, 0);
        fputc('\n', f);
        for (const config_key *k = p->keys; k->key; k++)
            man_key(f, p->slot, k, 0);
    }
}

/* The example file in a no-fill block, each line escaped, without its
 * SPDX line. */
static int man_example(FILE *f, const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, "lmsd: cannot read the example %s: %s\n", path, strerror(errno));
        return -1;
    }
    fputs(".SH EXAMPLE\n", f);
    roff_put(f, "The commented configuration of a single node, as shipped in conf/lmsd.yaml:",
             0);
    fputs("\n.PP\n.nf\n", f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        if (strstr(line, "SPDX-License-Identifier:"))
            continue; /* the source file's license line is not the example's */
        if (!line[0])
            fputs("\\&", f); /* an empty line stays one */
        roff_put(f, line, 0);
        fputc('\n', f);
    }
    free(line);
    int bad = ferror(in);
    fclose(in);
    fputs(".fi\n", f);
    if (bad)
        fprintf(stderr, "lmsd: cannot read the example %s\n", path);
    return bad ? -1 : 0;
}

int lmsd_config_man(FILE *f, const char *example)
{
    man_header(f, "LMSD.YAML", 5, "File Formats");
    fputs(".SH NAME\nlmsd.yaml \\- configuration of lmsd, the lms server\n", f);
    fputs(".SH DESCRIPTION\n", f);
    roff_put(f, "lmsd reads one YAML file per node (lmsd --config FILE; lmsd --check-config "
                "FILE validates it and exits). Every mistake stops lmsd with one line naming "
                "the file, the line and the key path. Unknown keys are errors, except under "
                "a plugin slot, whose keys belong to the plugin. A key given twice in one "
                "mapping is an error. A null value (key:, ~, null) leaves the default. "
                "Anchors are ignored and aliases refused.",
             0);
    fputs("\n.SS Values\n", f);
    for (size_t i = 0; i < sizeof type_docs / sizeof type_docs[0]; i++) {
        fputs(".TP\n", f);
        roff_italic(f, config_type_name(type_docs[i].type));
        fputc('\n', f);
        roff_put(f, type_docs[i].text, 0);
        fputc('\n', f);
    }
    man_keys(f);
    man_plugins(f);
    if (example && man_example(f, example) < 0)
        return -1;
    fputs(".SH \"SEE ALSO\"\n.BR lmsd (8),\n.BR lms\\-admin (1)\n", f);
    return 0;
}

/* ---- the key list ---------------------------------------------------- */

void lmsd_list_config_keys(FILE *f)
{
    for (const config_key *k = config_keys; k->key; k++) {
        if (k->type == CONFIG_SECTION || k->type == CONFIG_PLUGIN)
            continue;
        fprintf(f, "%s%s%s\t%s\t%s\n", k->section, *k->section ? "." : "", k->key,
                config_type_name(k->type), k->example ? k->example : "-");
    }
}

/* SPDX-License-Identifier: MIT */
/*
 * config_keys.h: the one table of lmsd's own configuration keys.
 *
 * config.c takes the keys it allows in each section from this table
 * (check_keys), lmsd.yaml(5) is printed from it (lmsd --help-config-man),
 * and lmsd --list-config-keys lists it for the doc tests: a key the parser
 * accepts is a key the manual documents, with its type, default and a
 * valid example. tests/unit/test_config_keys.c loads a config that sets
 * every key to its example; tests/docs/check_sources.py checks that every
 * key config.c reads is here.
 *
 * Rows are in the order of the man page. A row's section is "" for the
 * top level, the name of a top-level mapping ("limits"), or a list of
 * mappings ("cluster.members[]": the keys of each item). Plugin slots
 * (CONFIG_PLUGIN) hold the plugin's own options, which lmsd does not check;
 * only their "plugin" key is lmsd's.
 */
#ifndef LMS_CORE_CONFIG_KEYS_H
#define LMS_CORE_CONFIG_KEYS_H

#include <stddef.h>

enum config_type {
    CONFIG_SECTION, /* a mapping of the keys whose section is this key */
    CONFIG_PLUGIN,  /* a plugin slot: plugin: NAME plus the plugin's options */
    CONFIG_STRING,
    CONFIG_INT,
    CONFIG_BOOL,     /* true/false, yes/no, on/off */
    CONFIG_DURATION, /* 250ms, 30s, 5m, 24h, 7d; a bare number is seconds */
    CONFIG_SIZE,     /* bytes, or with KiB/MiB/GiB/TiB or KB/MB/GB/TB */
    CONFIG_PATH,     /* relative to the config file's directory */
    CONFIG_ADDRESS,  /* host:port, [v6]:port */
    CONFIG_LIST,     /* a sequence; of mappings when "<section>.<key>[]" has keys */
};

typedef struct config_key {
    const char *section; /* "", "limits", "cluster.members[]" */
    const char *key;
    enum config_type type;
    const char *dflt;    /* the default as text; NULL: none (see help) */
    const char *example; /* a value config_load accepts; NULL for a section or
                          * a list of mappings (made from its items' keys) */
    const char *help;    /* one paragraph */
} config_key;

/* Every key, ending with a row whose key is NULL. */
extern const config_key config_keys[];

/* The row of key in section, or NULL when the table has none. */
const config_key *config_key_find(const char *section, const char *key);

/* "a, b, c": the keys of section in table order, cut to fit buf. */
void config_key_names(const char *section, char *buf, size_t len);

/* The type as a word for people: "duration", "plugin slot". */
const char *config_type_name(enum config_type t);

#endif

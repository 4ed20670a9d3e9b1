/* SPDX-License-Identifier: MIT */
/*
 * plugin_options.h: the options of the plugins shipped with lms, for
 * lmsd.yaml(5)'s PLUGIN OPTIONS. lmsd never checks these keys (a plugin
 * reads and refuses its own through the host's config services), so the
 * table is documentation only; tests/docs/check_sources.py greps each
 * plugin's sources for the keys it reads and fails on one missing here.
 */
#ifndef LMS_CORE_PLUGIN_OPTIONS_H
#define LMS_CORE_PLUGIN_OPTIONS_H

#include "config_keys.h"

typedef struct plugin_options {
    const char *plugin;      /* "storage_sqlite" */
    const char *slot;        /* the slot it goes in: "storage" */
    const char *summary;     /* one paragraph */
    const config_key *keys;  /* section "", ending with a row whose key is NULL */
} plugin_options;

/* One per shipped plugin, ending with a row whose plugin is NULL. */
extern const plugin_options plugin_options_shipped[];

#endif

/* SPDX-License-Identifier: MIT */
/*
 * plugin_loader.h: dlopen a plugin, check its descriptor, and bind it to a
 * host context (services in host.h).
 *
 * Checks, in order, each refused with one line naming the file and both
 * versions where versions are involved:
 *   - the file opens (dlerror's text) and exports lms_plugin_entry
 *   - magic (expected 0x4c4d5350, got 0x...)
 *   - ABI: major equal, plugin minor <= host minor
 *     ("plugins/x.so: plugin ABI 2.0 is not compatible with lmsd ABI 1.0")
 *   - descriptor_size large enough
 *   - kind (expected storage, got tutor)
 *   - the kind's oldest minor: storage needs 1.4 (records)
 *     ("plugins/x.so: was built against storage ABI 1.3; this lmsd needs
 *     1.4 (records); rebuild it against the installed SDK")
 *   - ops present, ops_size large enough, every required callback non-NULL
 *     (naming the callback)
 *   - tutors: flags hold only bits this lmsd knows (blocking, streams)
 * A missing file is LMS_NOT_FOUND, every other refusal
 * LMS_FAILED_PRECONDITION. The loader is plugin_loader.c, the host service
 * table (plugin_host) is host.c.
 */
#ifndef LMS_CORE_PLUGIN_LOADER_H
#define LMS_CORE_PLUGIN_LOADER_H

#include "config.h"

#include <lms/host.h>

#include <stddef.h>

struct event_base;
struct workers;

typedef struct loaded_plugin {
    void *dl;
    const struct lms_plugin_descriptor *desc;
    char *path;
} loaded_plugin;

/* Resolve name: contains '/' -> used as is; else <plugin_dir>/<name>.so
 * (plugin_dir NULL: the built-in directory). */
int plugin_load(const char *name, const char *plugin_dir, uint32_t kind,
                loaded_plugin *out, lms_err *err);
void plugin_unload(loaded_plugin *p);

/* Does the plugin's ops table (of struct type) reach field? A callback
 * appended in a later minor than the plugin's is past its table's end and
 * must not be read. */
#define PLUGIN_HAS_OP(desc, type, field)                                     \
    ((desc)->ops_size >=                                                     \
     offsetof(struct type, field) + sizeof(((struct type *)0)->field))

const char *plugin_kind_name(uint32_t kind);

/*
 * The context handed to a plugin instance: its name (log prefix), its
 * config subtree, the data dir, the event base and the worker pool.
 */
struct lms_plugin_ctx {
    char name[64];
    const config_node *config;
    const char *data_dir;
    struct event_base *base;
    struct workers *workers;
    struct filestore *files; /* the file store (host.h); NULL: none */
};

/* The host service table (static, shared by every instance). */
const struct lms_host *plugin_host(void);

#endif

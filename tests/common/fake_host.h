/* SPDX-License-Identifier: MIT */
/*
 * fake_host.h: the small lms_host that plugin tests hand to a real plugin
 * loaded from the build tree: config lookups from a key/value list, a data
 * dir, and a log that remembers its last line. Shared by the storage and
 * tutor_local fixtures.
 */
#ifndef LMS_TEST_FAKE_HOST_H
#define LMS_TEST_FAKE_HOST_H

#include <lms/host.h>

#include <limits.h>

/* The fake host's view of one plugin instance. config is a NULL-terminated
 * list of key, value pairs ("path", "x.db", NULL). */
struct lms_plugin_ctx {
    const char *const *config;
    char data_dir[PATH_MAX];
    char last_log[600];
    int nlogs;
};

/* slot names the config section in error messages ("storage.path"), as
 * lmsd's host does; fake_plugin_load sets it from the plugin's kind. */
const struct lms_host *fake_host(void);

/* Close the file store of data_dir (every body handle of it closed),
 * before the directory is removed. */
void fake_host_forget(const char *data_dir);

/* dlopen path the way lmsd does (RTLD_NOW | RTLD_LOCAL) and return its
 * descriptor's ops (and *dl, *desc), or NULL with the reason on stderr. */
const void *fake_plugin_load(const char *path, void **dl,
                             const struct lms_plugin_descriptor **desc);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * test_storage_suite.c: the storage conformance suite
 * (tools/storage_suite) against one storage plugin with the fake host:
 *
 *   test_storage_suite [--plugin FILE.so] [--isolate KEY] [--drop CMD]
 *                      [KEY=VALUE ...]
 *
 * Without arguments: storage_sqlite.so of the build, default options, each
 * store in a fresh data dir. KEY=VALUE pairs are the plugin's options;
 * --isolate KEY gives each store its own value of KEY (VALUE_<pid>_<n>,
 * e.g. a MariaDB database), and --drop CMD runs after each test once per
 * such value with {} replaced by it (e.g. a DROP DATABASE). The same
 * arguments may come from the environment, one per line, in
 * LMS_STORAGE_SUITE_ARGS (ctest fixtures that learn a socket at run time).
 */
#include "fake_target.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

/* argv, or the lines of LMS_STORAGE_SUITE_ARGS when there is no argument,
 * into o; 0, or 2 after saying why. */
static int parse(int argc, char **argv, fake_target_opts *o,
                 const char **pairs)
{
    char *args[MAX_ARGS];
    int n = 0;
    for (int i = 1; i < argc && n < MAX_ARGS; i++)
        args[n++] = argv[i];
    const char *env = getenv("LMS_STORAGE_SUITE_ARGS");
    if (n == 0 && env && *env) {
        char *copy = strdup(env);
        for (char *line = strtok(copy, "\n"); line && n < MAX_ARGS;
             line = strtok(NULL, "\n"))
            args[n++] = line; /* copy lives as long as the process */
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(args[i], "--plugin") == 0 && i + 1 < n)
            o->plugin = args[++i];
        else if (strcmp(args[i], "--isolate") == 0 && i + 1 < n)
            o->isolate = args[++i];
        else if (strcmp(args[i], "--drop") == 0 && i + 1 < n)
            o->drop = args[++i];
        else if (strchr(args[i], '=') && args[i][0] != '-' &&
                 k + 2 < 2 * MAX_ARGS) {
            char *eq = strchr(args[i], '=');
            *eq = '\0';
            pairs[k++] = args[i];
            pairs[k++] = eq + 1;
        } else {
            fprintf(stderr,
                    "usage: test_storage_suite [--plugin FILE.so] "
                    "[--isolate KEY] [--drop CMD] [KEY=VALUE ...]\n"
                    "bad argument: %s\n", args[i]);
            return 2;
        }
    }
    pairs[k] = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    static const char *pairs[2 * MAX_ARGS + 1];
    fake_target_opts o = {.plugin = LMS_PLUGIN_BUILD_DIR "/storage_sqlite.so",
                          .config = pairs};
    int rc = parse(argc, argv, &o, pairs);
    if (rc)
        return rc;
    storage_target t;
    const struct lms_plugin_descriptor *desc = NULL;
    void *dl = NULL;
    if (fake_target_open(&o, &t, &desc, &dl) != 0)
        return 1;
    int failed = storage_suite_run(&t);
    dlclose(dl);
    return failed ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c: lmsd's configuration loader (core/base/config.c). The input
 * is the file; it is loaded, and what loads is read back through the
 * lookups plugins use.
 */
#include "fuzz.h"

#include "config.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

static void lookups(const config_node *n)
{
    lms_err err = {0};
    const char *s;
    long long i;
    int b;
    int64_t ms;
    uint64_t sz;
    static const char *keys[] = {"plugin", "path", "a", "a.b", "timeout",
                                 "max", "size", "enabled", "x.y.z"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        (void)config_string(n, keys[k], &s, &err);
        (void)config_int(n, keys[k], &i, &err);
        (void)config_bool(n, keys[k], &b, &err);
        (void)config_duration_ms(n, keys[k], &ms, &err);
        (void)config_size(n, keys[k], &sz, &err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet++)
        lms_log_set_level(LMS_LOG_ERROR + 1);
    char path[512];
    fuzz_write_file(fuzz_tmpdir(), "lmsd.yaml", data, size, path, sizeof path);
    lms_config *c = NULL;
    lms_err err = {0};
    if (config_load(path, &c, &err) != LMS_OK) {
        if (getenv("LMS_FUZZ_VERBOSE")) /* why a seed does not load */
            fprintf(stderr, "fuzz_config: %s\n", err.msg);
        return 0;
    }
    FUZZ_CHECK(c && c->storage.plugin, "loaded without a storage plugin");
    lookups(c->storage.node);
    if (c->auth.node)
        lookups(c->auth.node);
    if (c->tutor.node)
        lookups(c->tutor.node);
    config_free(c);
    return 0;
}

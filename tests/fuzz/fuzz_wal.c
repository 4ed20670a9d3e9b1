/* SPDX-License-Identifier: MIT */
/*
 * fuzz_wal.c: WAL recovery (core/repl/wal.c). The input is a data directory's
 * log: its first byte says what else is there, the rest is split into
 * files:
 *
 *   bit 0: a hardstate file, the next 32 bytes (or what is left)
 *   bit 1: two segments; the next u16 (big endian) is the first one's
 *          length, and the second is named for the index after that
 *          segment's first record's (or 2)
 *   else:  the rest is one segment, wal-00000000000000000001.log
 *
 * The log is opened (recovery checks every record and cuts a bad tail),
 * every entry it kept is read back, and one entry appended to show the
 * recovered log takes writes.
 */
#include "fuzz.h"

#include "wal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void quiet(void *arg, int level, const char *msg) {}

static void clear(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p)
            unlink(p);
    }
    closedir(d);
}

static uint64_t first_record_index(const uint8_t *seg, size_t len)
{
    uint64_t idx = 0;
    if (len < 16)
        return 1;
    for (int i = 7; i >= 0; i--)
        idx = idx << 8 | seg[8 + i];
    return idx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[512], path[512], name[64];
    snprintf(dir, sizeof dir, "%s/wal", fuzz_tmpdir());
    (void)mkdir(dir, 0700);
    clear(dir);
    if (size == 0)
        return 0;
    uint8_t flags = data[0];
    size_t pos = 1;
    if (flags & 1) {
        size_t n = size - pos < 32 ? size - pos : 32;
        fuzz_write_file(dir, "hardstate", data + pos, n, path, sizeof path);
        pos += n;
    }
    size_t first = size - pos;
    if ((flags & 2) && size - pos >= 2) {
        first = (size_t)data[pos] << 8 | data[pos + 1];
        pos += 2;
        if (first > size - pos)
            first = size - pos;
    }
    uint64_t start = first_record_index(data + pos, first);
    if (start == 0 || start > (UINT64_MAX >> 1))
        start = 1;
    snprintf(name, sizeof name, "wal-%020llu.log", (unsigned long long)start);
    fuzz_write_file(dir, name, data + pos, first, path, sizeof path);
    pos += first;
    if (pos < size) {
        snprintf(name, sizeof name, "wal-%020llu.log",
                 (unsigned long long)start + 1);
        fuzz_write_file(dir, name, data + pos, size - pos, path, sizeof path);
    }

    wal_options o = {.report = quiet};
    wal *w = NULL;
    lms_err err = {0};
    if (wal_open(dir, &o, &w, &err) != LMS_OK)
        return 0;
    uint64_t firsti = wal_first_index(w), last = wal_last_index(w);
    FUZZ_CHECK(last + 1 >= firsti, "last_index below first_index - 1");
    for (uint64_t i = firsti; i <= last && i - firsti < 4096; i++) {
        wal_entry e;
        int rc = wal_read(w, i, &e, &err);
        FUZZ_CHECK(rc == LMS_OK, "a recovered entry does not read back");
        FUZZ_CHECK(e.index == i, "an entry reads back at another index");
        free((void *)e.data);
    }
    if (last < UINT64_MAX - 1) {
        wal_entry e = {.index = last + 1, .term = wal_last_term(w),
                       .data = "x", .len = 1};
        if (wal_append(w, &e, 1, &err) == LMS_OK)
            (void)wal_sync(w, &err);
    }
    wal_close(w);
    return 0;
}

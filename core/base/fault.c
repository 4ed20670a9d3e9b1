/* SPDX-License-Identifier: MIT */
/*
 * fault.c: the test builds' fault hooks (see fault.h). Nothing here is
 * compiled without LMS_FAULT_HOOKS.
 */
#include "fault.h"

#ifdef LMS_FAULT_HOOKS
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STALL_ENV "LMSD_FAULT_FSYNC_STALL"
#define STORAGE_ENV "LMSD_FAULT_STORAGE"
#define STALL_MAX_MS 10000L

void fault_hooks_announce(void)
{
    log_info("built with -DLMS_FAULT_HOOKS=ON (for tests): fault hooks are "
             "compiled in; they act only when their variables are set");
    const char *path = getenv(STALL_ENV);
    if (path && path[0])
        log_warn("fault hook (a test build): each command-log fsync waits "
                 "the milliseconds that %s holds", path);
    path = getenv(STORAGE_ENV);
    if (path && path[0])
        log_warn("fault hook (a test build): each apply batch reads %s "
                 "(down, lose-commit; read-back: answers of applied writes)", path);
}

/* The first bytes of the file at path, NUL-terminated ("" without one). */
static void read_small(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
}

/* The stall in ms that the file holds now; 0 without one. */
static long stall_ms(const char *path)
{
    char buf[32];
    read_small(path, buf, sizeof buf);
    long ms = strtol(buf, NULL, 10);
    return ms < 0 ? 0 : ms > STALL_MAX_MS ? STALL_MAX_MS : ms;
}

void fault_fsync_stall(void)
{
    static long last = -1;
    const char *path = getenv(STALL_ENV);
    if (!path || !path[0])
        return;
    long ms = stall_ms(path);
    if (ms != last) { /* only the log writer calls this */
        log_warn("fault hook: command-log fsyncs now stall %ld ms", ms);
        last = ms;
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int fault_storage(void)
{
    static int last = FAULT_STORAGE_NONE;
    const char *path = getenv(STORAGE_ENV);
    if (!path || !path[0])
        return FAULT_STORAGE_NONE;
    char buf[32];
    read_small(path, buf, sizeof buf);
    int mode = strncmp(buf, "down", 4) == 0          ? FAULT_STORAGE_DOWN
               : strncmp(buf, "lose-commit", 11) == 0 ? FAULT_STORAGE_LOSE_COMMIT
                                                      : FAULT_STORAGE_NONE;
    if (mode != last) { /* only the storage thread calls this */
        static const char *const names[] = {"none", "down", "lose-commit"};
        log_warn("fault hook: the storage fault is now %s", names[mode]);
        last = mode;
    }
    return mode;
}

int fault_read_back(void)
{
    const char *path = getenv(STORAGE_ENV);
    if (!path || !path[0])
        return 0;
    char buf[32];
    read_small(path, buf, sizeof buf);
    return strncmp(buf, "read-back", 9) == 0;
}
#endif

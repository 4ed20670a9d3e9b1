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
#include <time.h>
#include <unistd.h>

#define STALL_ENV "LMSD_FAULT_FSYNC_STALL"
#define STALL_MAX_MS 10000L

void fault_hooks_announce(void)
{
    log_info("built with -DLMS_FAULT_HOOKS=ON (for tests): fault hooks are "
             "compiled in; they act only when their variables are set");
    const char *path = getenv(STALL_ENV);
    if (path && path[0])
        log_warn("fault hook (a test build): each command-log fsync waits "
                 "the milliseconds that %s holds", path);
}

/* The stall in ms that the file holds now; 0 without one. */
static long stall_ms(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
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
#endif

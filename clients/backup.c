/* SPDX-License-Identifier: MIT */
/*
 * backup.c: lms-admin backup FILE (see backup.h and docs/clients.md).
 *
 * The leader streams the snapshot stream of one pinned view in partial
 * Responses (BackupChunk.data); they go to FILE.tmp as they arrive, so the
 * client holds one piece at a time whatever the state's size. The last
 * Response names the index, the size and the trailer's digest. FILE.tmp
 * is then fsynced and read back whole with the server's own snapshot
 * reader (core/repl/snapshot.c, snapshot_check: framing, record count and the
 * canonical digest); only if its size, index and digest all match is it
 * linked to FILE (which must not exist: link() never replaces one) and the
 * directory fsynced. Otherwise FILE.tmp is removed and nothing is left.
 */
#include "backup.h"

#include "backup_check.h"
#include "cmd_common.h"
#include "files.h"
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long the server may stay silent during a backup (pinning the view
 * waits for the apply batches queued before it). */
#define BACKUP_WAIT_MS 60000

const struct cli_param cmd_backup_params[] = {
    {.name = "FILE", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "where to save the backup; an existing file is never replaced"},
    CLI_END_PARAMS,
};

struct sink {
    int fd;
    uint64_t written;
    int err;            /* errno of a failed write; the rest is ignored */
    int bad;            /* a partial Response that is not a BackupChunk */
};

static void on_piece(void *arg, const Lms__Response *r)
{
    struct sink *s = arg;
    if (s->err || s->bad)
        return;
    if (r->body_case != LMS__RESPONSE__BODY_BACKUP || r->status != LMS__STATUS__OK) {
        s->bad = 1;
        return;
    }
    const uint8_t *p = r->backup->data.data;
    size_t len = r->backup->data.len;
    while (len > 0) {
        ssize_t n = write(s->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s->err = errno;
            return;
        }
        p += n;
        len -= (size_t)n;
        s->written += (uint64_t)n;
    }
}

static int fsync_parent(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Check the received file at tmp against the last Response, then put it
 * at path. LMS_EXIT_OK, or the reported failure (tmp is the caller's to
 * remove). */
static int finish(struct cli_ctx *ctx, const char *path, const char *tmp,
                  const struct sink *s, const Lms__BackupChunk *end)
{
    char want[2 * LMS_SHA256_LEN + 1], got[2 * LMS_SHA256_LEN + 1];
    if (end->sha256.len != LMS_SHA256_LEN)
        return cli_fail(ctx, LMS_EXIT_FAILED, "DATA_LOSS",
                        "the server's last answer holds no digest; nothing saved");
    out_hex(end->sha256.data, LMS_SHA256_LEN, want, sizeof want);
    if (s->written != end->size)
        return cli_fail(ctx, LMS_EXIT_FAILED, "DATA_LOSS",
                        "%" PRIu64 " bytes arrived but the server sent %" PRIu64
                        "; nothing saved",
                        s->written, end->size);
    uint8_t digest[LMS_SHA256_LEN];
    uint64_t index = 0, size = 0;
    char why[700];
    int rc = backup_check_file(tmp, &index, &size, digest, why, sizeof why);
    if (rc != 0)
        return cli_fail(ctx, LMS_EXIT_FAILED, rc > 0 ? "DATA_LOSS" : "INTERNAL",
                        "the backup received does not check out: %s; nothing saved", why);
    out_hex(digest, sizeof digest, got, sizeof got);
    if (memcmp(digest, end->sha256.data, LMS_SHA256_LEN) != 0 || index != end->index ||
        size != end->size)
        return cli_fail(ctx, LMS_EXIT_FAILED, "DATA_LOSS",
                        "the backup received (index %" PRIu64 ", %" PRIu64
                        " bytes, sha256 %s) is not what the server sent (index %" PRIu64
                        ", %" PRIu64 " bytes, sha256 %s); nothing saved",
                        index, size, got, end->index, end->size, want);
    if (link(tmp, path) != 0) {
        int e = errno;
        if (e == EEXIST)
            return cli_fail(ctx, LMS_EXIT_FAILED, "ALREADY_EXISTS",
                            "%s appeared meanwhile; not overwriting it (the backup is "
                            "not saved)",
                            path);
        return cli_fail_errno(ctx, e, "cannot save the backup");
    }
    unlink(tmp);
    if (fsync_parent(path) != 0)
        return cli_fail_errno(ctx, errno, "cannot make the backup durable");
    if (ctx->json) {
        json_object *obj = json_object_new_object();
        json_object_object_add(obj, "path", json_object_new_string(path));
        json_object_object_add(obj, "index", json_object_new_int64((int64_t)index));
        json_object_object_add(obj, "size", json_object_new_int64((int64_t)size));
        json_object_object_add(obj, "sha256", json_object_new_string(got));
        return cli_print_json(obj);
    }
    printf("saved a backup of the state at index %" PRIu64 " to %s (%" PRIu64
           " bytes, sha256 %s)\n",
           index, path, size, got);
    return LMS_EXIT_OK;
}

int cmd_backup(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *path = cli_str(a, "FILE");
    struct stat st;
    char tmp[4200];
    if (strcmp(path, "-") == 0)
        return cli_usage_error(ctx, "a backup is saved to a file, not to standard output");
    if (lstat(path, &st) == 0)
        return cli_fail(ctx, LMS_EXIT_FAILED, "ALREADY_EXISTS",
                        "%s already exists; not overwriting it", path);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return cli_usage_error(ctx, "the file name is too long");
    /* 0600: a backup holds every password hash and session */
    struct sink s = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                                0600)};
    if (s.fd < 0)
        return cli_fail_errno(ctx, errno, "cannot create the temporary file");
    Lms__BackupRequest body = LMS__BACKUP_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp = NULL;
    CLI_SET_BODY(&req, backup, BACKUP, &body);
    struct lms_call_opts opts = {.on_partial = on_piece, .arg = &s, .wait_ms = BACKUP_WAIT_MS};
    int rc = cli_call_opts(ctx, &req, &opts, LMS__RESPONSE__BODY_BACKUP, &resp);
    if (rc == LMS_EXIT_OK && s.bad)
        rc = cli_fail(ctx, LMS_EXIT_FAILED, "INTERNAL",
                      "unexpected answer from the server during the backup; nothing saved");
    else if (rc == LMS_EXIT_OK && s.err)
        rc = cli_fail(ctx, LMS_EXIT_FAILED, "INTERNAL", "cannot write %s: %s; nothing saved",
                      tmp, strerror(s.err));
    if (rc == LMS_EXIT_OK && fsync(s.fd) != 0)
        rc = cli_fail_errno(ctx, errno, "cannot make the backup durable");
    if (close(s.fd) != 0 && rc == LMS_EXIT_OK)
        rc = cli_fail_errno(ctx, errno, "cannot write the backup");
    if (rc == LMS_EXIT_OK)
        rc = finish(ctx, path, tmp, &s, resp->backup);
    if (rc != LMS_EXIT_OK)
        unlink(tmp);
    if (resp)
        lms__response__free_unpacked(resp, NULL);
    return rc;
}

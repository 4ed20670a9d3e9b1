/* SPDX-License-Identifier: MIT */
/*
 * handlers_backup.c: lms-admin backup FILE. An admin's BackupRequest
 * passes the read barrier and the role check like any read; the engine
 * then hands it to backup_start on the loop (NEXT_BACKUP), which has the
 * node stream the snapshot stream of a pinned view (node_backup,
 * node_backup.c) as partial Responses of at most 1 MiB of data each
 * (BackupChunk.data) and ends with a Response that is not partial: the
 * index, the size and the trailer's digest. A piece goes out only while
 * the client's output queue holds less than BACKUP_OUTPUT_MAX bytes, so a
 * client that reads slowly slows the writer down instead of filling
 * memory; one that leaves stops it. The connection reads nothing else
 * while the backup runs (dispatch.c, large_answer).
 */
#include "handlers.h"

#include "frame.h"
#include "log.h"

#include <string.h>

/* Queued answer bytes above which the next piece waits. */
#define BACKUP_OUTPUT_MAX ((size_t)2 << 20)

static next_step backup_prepare(req *r)
{
    (void)r;
    return NEXT_BACKUP;
}

/* The backup thread: a partial Response holding len bytes of the stream.
 * Only r->msg->id is read, which nothing changes. */
static blob *backup_wrap(void *arg, const uint8_t *data, size_t len)
{
    req *r = arg;
    Lms__BackupChunk chunk = LMS__BACKUP_CHUNK__INIT;
    Lms__Response resp = LMS__RESPONSE__INIT;
    chunk.data.data = (uint8_t *)data;
    chunk.data.len = len;
    resp.id = r->msg->id;
    resp.partial = 1;
    resp.body_case = LMS__RESPONSE__BODY_BACKUP;
    resp.backup = &chunk;
    size_t n = lms__response__get_packed_size(&resp);
    blob *b = blob_new(n + 4);
    if (!b)
        return NULL;
    frame_len_put(b->data, (uint32_t)n);
    lms__response__pack(&resp, b->data + 4);
    return b;
}

static int backup_room(void *arg)
{
    req *r = arg;
    if (!conn_is_open(r->c))
        return -1;
    return conn_output_pending(r->c) < BACKUP_OUTPUT_MAX;
}

static void backup_send(void *arg, blob *piece)
{
    req *r = arg;
    conn_send(r->c, piece);
}

static void backup_done(void *arg, const node_backup_end *end)
{
    req *r = arg;
    if (end->rc != LMS_OK) {
        req_fail(r, end->rc, "%s", end->msg);
    } else {
        Lms__BackupChunk *m = req_alloc(r, sizeof *m);
        lms__backup_chunk__init(m);
        m->index = end->index;
        m->size = end->size;
        m->sha256.data = req_memdup(r, end->sha256, sizeof end->sha256);
        m->sha256.len = sizeof end->sha256;
        r->resp.status = LMS__STATUS__OK;
        r->resp.body_case = LMS__RESPONSE__BODY_BACKUP;
        r->resp.backup = m;
        log_info("backup at index %llu for %s (%s): %llu bytes",
                 (unsigned long long)end->index, r->who.name, conn_peer(r->c),
                 (unsigned long long)end->size);
    }
    req_answer(r);
}

void backup_start(req *r)
{
    node_backup_sink sink = {backup_wrap, backup_room, backup_send,
                             backup_done, r};
    lms_err err = {0};
    if (node_backup(req_opts(r)->node, &sink, &err) != LMS_OK) {
        req_fail(r, err.code, "%s", err.msg);
        req_answer(r);
    }
}

#define B(x) LMS__REQUEST__BODY_##x

const handler handlers_backup[] = {
    {.body = B(BACKUP), .name = "backup", .roles = ROLES_ADMIN,
     .prepare = backup_prepare},
    {.name = NULL}, /* the end */
};

/* SPDX-License-Identifier: MIT */
/*
 * sm_node.c: see sm_node.h.
 */
#include "sm_node.h"

#include "lms_assert.h"
#include "metrics.h"
#include "pb_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int apply(void *arg, uint64_t index, const void *data, size_t len,
                 void **result, lms_err *err)
{
    sm_node *s = arg;
    sm_applied *a = calloc(1, sizeof *a);
    *result = NULL;
    if (!a)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    a->cmd = lms__command__unpack(NULL, len, data);
    if (!a->cmd) {
        /* Same bytes on every node, so the same refusal everywhere. */
        a->res.status = LMS_INTERNAL;
        snprintf(a->res.message, sizeof a->res.message,
                 "log entry %llu does not decode as a command",
                 (unsigned long long)index);
        *result = a;
        return LMS_OK;
    }
    uint64_t t0 = metrics_now();
    int rc = sm_apply(s->m, index, a->cmd, &a->res, err);
    metrics_stage(METRICS_STAGE_APPLY, t0);
    if (rc != LMS_OK) {
        lms__command__free_unpacked(a->cmd, NULL);
        free(a);
        return rc;
    }
    *result = a;
    return LMS_OK;
}

static void applied(void *arg, uint64_t index, const void *result)
{
    sm_node *s = arg;
    const sm_applied *a = result;
    if (a->cmd && s->on_applied)
        s->on_applied(s->arg, index, a->cmd, &a->res);
}

static void result_free(void *arg, void *result)
{
    sm_applied *a = result;
    (void)arg;
    if (!a)
        return;
    if (a->cmd)
        lms__command__free_unpacked(a->cmd, NULL);
    sm_result_free(&a->res);
    free(a);
}

static void replacing(void *arg)
{
    sm_node *s = arg;
    sm_auth_begin(s->m); /* every user and session may be another now */
}

static void settled(void *arg)
{
    sm_node *s = arg;
    sm_auth_end(s->m); /* committed or rolled back (sm.h) */
}

static int is_write(const void *data, size_t len, uint64_t client_id, uint64_t seq)
{
    Lms__Command *cmd = lms__command__unpack(NULL, len, data);
    if (!cmd)
        return 0;
    int same = cmd->client_id == client_id && cmd->seq == seq;
    lms__command__free_unpacked(cmd, NULL);
    return same;
}

int sm_node_is_marker(const void *data, size_t len)
{
    return data && len && pb_wire_has_field(data, len, LMS__COMMAND__BODY_VERIFY);
}

void sm_node_ops(sm_node *s, node_sm *ops)
{
    LMS_ASSERT(s->m && s->m->ops && s->m->st);
    *ops = (node_sm){
        .ops = s->m->ops,
        .st = s->m->st,
        .arg = s,
        .apply = apply,
        .applied = applied,
        .result_free = result_free,
        .replacing = replacing,
        .settled = settled,
        .is_write = is_write,
        .is_marker = sm_node_is_marker,
    };
}

const sm_result *sm_node_outcome(const node_outcome *o, sm_result *scratch)
{
    if (o->result)
        return &((const sm_applied *)o->result)->res;
    memset(scratch, 0, sizeof *scratch);
    scratch->status = o->status;
    snprintf(scratch->message, sizeof scratch->message, "%s",
             o->message ? o->message : "");
    return scratch;
}

/* SPDX-License-Identifier: MIT */
/*
 * node_verify.c: a digest of this node's state at a marker's index, for
 * lms-admin cluster-verify (client.proto ClusterVerifyRequest).
 *
 * The marker is a command (CmdVerify) that goes through the log like any
 * other, so every node applies it at the same index. An apply batch ends
 * with a marker (node_verify_is_marker, batch_size in node_apply.c). On
 * the storage thread the index is recorded as pending before that batch
 * commits (a reader that sees the commit must find the record), and right
 * after the commit the node pins a view of its store (snapshot_pin); the
 * snapshot thread then streams the view (snapshot_write_view, the backend-neutral
 * stream of docs/snapshots.md) into a sink that hashes it whole and per
 * table, at low priority, and records the result. Any node answers for
 * itself (node_verify_get), so the client can compare them all: equal
 * digests at one index are equal states, whatever the backends.
 *
 * The header of the hashed stream has the index and nothing else (term 0,
 * no configuration, created 0), so that it depends on the state alone.
 * The last VERIFY_KEEP results are kept, in memory only: a restart or a
 * snapshot install that goes past a marker leaves this node without a
 * digest for it ("missed").
 */
#include "node_internal.h"

#include "lms_assert.h"
#include "log.h"
#include "pb_wire.h"
#include "snapshot.pb-c.h"
#include "workers.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_KEEP 8
/* Above every field number of snapshot.proto's Record (tables are 2..14
 * and 17, "record"): md and rows are indexed by field number. At most
 * NODE_VERIFY_TABLES of them are tables (node_verify_info.tables). */
#define VERIFY_FIELDS_MAX 32

typedef struct verify_slot {
    int used;
    node_verify_info info;
} verify_slot;

struct node_verify {
    pthread_mutex_t mu;
    verify_slot slot[VERIFY_KEEP];
    size_t next; /* the slot the next marker takes (oldest first) */
};

/* One pinned view being hashed (snapshot thread). */
typedef struct verify_job {
    node *n;
    uint64_t index;
    void *view;
    /* the sink's state */
    EVP_MD_CTX *md[VERIFY_FIELDS_MAX];
    uint64_t rows[VERIFY_FIELDS_MAX];
    int table; /* the table of the last row: chunks are its */
    lms_err err;
    int rc;
    uint8_t digest[LMS_SHA256_LEN];
} verify_job;

/* ---- the marker ----------------------------------------------------------- */

int node_verify_is_marker(const node *n, const blob *data)
{
    return data && data->len && n->sm.is_marker(data->data, data->len);
}

/* ---- the registry ----------------------------------------------------------- */

int node_verify_open(node *n, lms_err *err)
{
    struct node_verify *v = calloc(1, sizeof *v);
    if (!v)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    pthread_mutex_init(&v->mu, NULL);
    n->verify = v;
    return LMS_OK;
}

void node_verify_free(node *n)
{
    if (!n->verify)
        return;
    pthread_mutex_destroy(&n->verify->mu);
    free(n->verify);
    n->verify = NULL;
}

/* The slot of index, or NULL; under v->mu. */
static verify_slot *slot_of(struct node_verify *v, uint64_t index)
{
    for (size_t i = 0; i < VERIFY_KEEP; i++)
        if (v->slot[i].used && v->slot[i].info.index == index)
            return &v->slot[i];
    return NULL;
}

/* Record index as pending (or failed with msg), replacing the oldest. */
static void record_start(struct node_verify *v, uint64_t index, int state,
                         const char *msg)
{
    pthread_mutex_lock(&v->mu);
    verify_slot *s = slot_of(v, index);
    if (!s) {
        s = &v->slot[v->next];
        v->next = (v->next + 1) % VERIFY_KEEP;
    }
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->info.index = index;
    s->info.state = state;
    snprintf(s->info.message, sizeof s->info.message, "%s", msg ? msg : "");
    pthread_mutex_unlock(&v->mu);
}

int node_verify_get(node *n, uint64_t index, uint64_t applied,
                    node_verify_info *out)
{
    struct node_verify *v = n->verify;
    memset(out, 0, sizeof *out);
    out->index = index;
    pthread_mutex_lock(&v->mu);
    verify_slot *s = slot_of(v, index);
    if (s)
        *out = s->info;
    pthread_mutex_unlock(&v->mu);
    if (!s)
        out->state = index > applied ? NODE_VERIFY_PENDING : NODE_VERIFY_MISSED;
    return out->state;
}

/* ---- hashing ------------------------------------------------------------ */

/* The sink of snapshot_write_view: one framed record per call (4-byte
 * length, then the Record), hashed into its table's digest. */
static int verify_sink(void *arg, const void *buf, size_t len)
{
    verify_job *j = arg;
    if (atomic_load(&j->n->snap_cancel))
        return -1; /* closing */
    const uint8_t *p = buf, *end = p + len, *rec = p + 4;
    uint64_t tag;
    if (len < 5 || pb_wire_varint(&rec, end, &tag) != 0)
        return -1;
    uint64_t field = tag >> 3;
    if (field == LMS__SNAP__RECORD__BODY_HEADER ||
        field == LMS__SNAP__RECORD__BODY_TRAILER)
        return 0; /* the whole stream's digest covers them */
    if (field != LMS__SNAP__RECORD__BODY_CHUNK) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
            &lms__snap__record__descriptor, (unsigned)field);
        if (!f || f->id >= VERIFY_FIELDS_MAX)
            return -1;
        j->table = (int)f->id;
        j->rows[j->table]++;
    }
    if (j->table <= 0 || !j->md[j->table])
        return -1; /* a chunk before any row: the stream is broken */
    return EVP_DigestUpdate(j->md[j->table], buf, len) == 1 ? 0 : -1;
}

static void job_free(verify_job *j)
{
    for (int i = 0; i < VERIFY_FIELDS_MAX; i++)
        if (j->md[i])
            EVP_MD_CTX_free(j->md[i]);
    free(j);
}

/* The Record fields that are tables (not header, chunk or trailer). */
static int is_table(const ProtobufCFieldDescriptor *f)
{
    return f->id != LMS__SNAP__RECORD__BODY_HEADER &&
           f->id != LMS__SNAP__RECORD__BODY_TRAILER &&
           f->id != LMS__SNAP__RECORD__BODY_CHUNK && f->id < VERIFY_FIELDS_MAX;
}

/* Snapshot thread: hash the pinned view, then let it go. */
static void verify_work(void *arg)
{
    verify_job *j = arg;
    node *n = j->n;
    workers_thread_background(); /* applies and reads come first */
    const ProtobufCMessageDescriptor *rd = &lms__snap__record__descriptor;
    j->rc = LMS_OK;
    for (unsigned i = 0; i < rd->n_fields && j->rc == LMS_OK; i++) {
        const ProtobufCFieldDescriptor *f = &rd->fields[i];
        if (!is_table(f))
            continue;
        j->md[f->id] = EVP_MD_CTX_new();
        if (!j->md[f->id] || EVP_DigestInit_ex(j->md[f->id], EVP_sha256(), NULL) != 1)
            j->rc = lms_err_set(&j->err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    lms_snapshot_header h = {.index = j->index};
    if (j->rc == LMS_OK)
        j->rc = n->sm.ops->snapshot_write_view(j->view, &h, verify_sink, j,
                                               j->digest, &j->err);
    n->sm.ops->snapshot_unpin(j->view);
    j->view = NULL;
    node_verify_info info = {.index = j->index, .state = NODE_VERIFY_DONE};
    if (j->rc != LMS_OK) {
        info.state = NODE_VERIFY_FAILED;
        snprintf(info.message, sizeof info.message, "hashing the state: %s",
                 j->err.msg[0] ? j->err.msg : "the stream was cut");
    } else {
        memcpy(info.sha256, j->digest, LMS_SHA256_LEN);
        for (unsigned i = 0; i < rd->n_fields; i++) {
            const ProtobufCFieldDescriptor *f = &rd->fields[i];
            if (!is_table(f))
                continue;
            LMS_ASSERT(info.n_tables < NODE_VERIFY_TABLES);
            node_verify_table *t = &info.tables[info.n_tables++];
            t->name = f->name;
            t->rows = j->rows[f->id];
            unsigned int mdlen = 0;
            if (EVP_DigestFinal_ex(j->md[f->id], t->sha256, &mdlen) != 1)
                info.state = NODE_VERIFY_FAILED;
        }
    }
    struct node_verify *v = n->verify;
    pthread_mutex_lock(&v->mu);
    verify_slot *s = slot_of(v, j->index);
    if (s)
        s->info = info;
    pthread_mutex_unlock(&v->mu);
    if (info.state == NODE_VERIFY_DONE)
        log_info("cluster-verify: state digest at index %llu taken",
                 (unsigned long long)j->index);
    else
        log_warn("cluster-verify: no digest at index %llu: %s",
                 (unsigned long long)j->index, info.message);
}

static void verify_done(void *arg)
{
    job_free(arg);
}

void node_verify_expect(node *n, uint64_t index)
{
    struct node_verify *v = n->verify;
    pthread_mutex_lock(&v->mu);
    int known = slot_of(v, index) != NULL;
    pthread_mutex_unlock(&v->mu);
    if (!known) /* a retried batch keeps what its first try recorded */
        record_start(v, index, NODE_VERIFY_PENDING, NULL);
}

void *node_verify_pin(node *n, uint64_t index)
{
    void *view = NULL;
    lms_err err = {0};
    if (n->sm.ops->snapshot_pin(n->sm.st, &view, &err) != LMS_OK) {
        char msg[sizeof err.msg + 32];
        snprintf(msg, sizeof msg, "pinning the state: %s", err.msg);
        record_start(n->verify, index, NODE_VERIFY_FAILED, msg);
        return NULL;
    }
    record_start(n->verify, index, NODE_VERIFY_PENDING, NULL);
    return view;
}

void node_verify_start(node *n, uint64_t index, void *view)
{
    verify_job *j = calloc(1, sizeof *j);
    if (j) {
        j->n = n;
        j->index = index;
        j->view = view;
    }
    if (!j || n->closing || !n->snap_thread ||
        workers_submit(n->snap_thread, verify_work, verify_done, j) != 0) {
        n->sm.ops->snapshot_unpin(view);
        free(j);
        record_start(n->verify, index, NODE_VERIFY_FAILED,
                     "the node is stopping");
    }
}

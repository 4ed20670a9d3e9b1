/* SPDX-License-Identifier: MIT */
/*
 * mysql_snapshot.c: storage ops snapshot_write, snapshot_pin,
 * snapshot_write_view, snapshot_unpin and snapshot_read for MariaDB, on
 * top of the backend-neutral snap_stream.c (the same stream, and so the
 * same digest, as storage_sqlite's for the same state).
 *
 * Table-driven: my_snap_tables lists every table in the canonical order
 * with its columns in the order of its snapshot.proto message's fields,
 * so one loop turns any row into its message (column i <-> field i, by
 * the field's protobuf type) and back into an INSERT. File bodies are the
 * host's (host.h): a submission's or material's row is followed by its
 * body's Chunk records, read from the host's file store on the way out
 * and handed to it on the way in.
 *
 * Memory stays bounded: rows are fetched one at a time from an unbuffered
 * result (mysql_stmt_fetch without store_result), so a table is never
 * held whole; the connection serves nothing else meanwhile, and it need
 * not, since bodies come through the host. snapshot_write reads inside one
 * START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY (one view of every
 * table); snapshot_pin starts that transaction on a connection of its own,
 * on the calling thread, so the view is as of the call, for
 * snapshot_write_view to stream from another thread; snapshot_read deletes
 * and refills every table in one transaction that commits, with the
 * header's index as applied index, only after the trailer has been
 * verified.
 */
#include "mysql_internal.h"
#include "snap_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A table in the snapshot: its Record field, its message, its columns in
 * field order, its primary key (the canonical order of rows), whether
 * its rows are followed by a file body. */
typedef struct my_snap_table {
    Lms__Snap__Record__BodyCase body;
    const ProtobufCMessageDescriptor *desc;
    const char *name;
    const char *cols;
    const char *key;
    int file;
} my_snap_table;

#define T(body, msg, name, cols, key, file)                                  \
    {LMS__SNAP__RECORD__BODY_##body, &lms__snap__##msg##__descriptor, name,  \
     cols, key, file}

/* Parents before children, as in sqlite_snapshot.c (the order of Record's
 * fields): each row's references exist when it is inserted. */
static const my_snap_table my_snap_tables[] = {
    T(USER, user, "users", "name, full_name, role, password_hash, created",
      "name", 0),
    T(COURSE, course, "courses", "code, title, created", "code", 0),
    T(ENROLMENT, enrolment, "enrolments", "course, `user`, role",
      "course, `user`", 0),
    T(ASSIGNMENT, assignment, "assignments",
      "id, course, title, description, due, cutoff, max_points, "
      "max_attempts, max_size, hold_grades, released, created, created_by",
      "id", 0),
    T(EXTENSION, extension, "extensions", "assignment_id, student, `until`",
      "assignment_id, student", 0),
    T(SUBMISSION, submission, "submissions",
      "id, assignment_id, student, file_name, size, sha256, submitted, late, "
      "attempt", "id", 1),
    T(GRADE, grade, "grades",
      "submission_id, grade, feedback, grader, graded", "submission_id", 0),
    T(QUERY, query, "queries",
      "id, course, student, title, body, created, resolved, kind, "
      "escalated_from, provider, model, prompt_tokens, completion_tokens, "
      "latency_ms, shared", "id", 0),
    T(REPLY, reply, "replies", "id, query_id, author, body, created", "id",
      0),
    T(MATERIAL, material, "materials",
      "id, course, title, file_name, size, sha256, uploaded_by, created",
      "id", 1),
    T(SESSION, session, "sessions", "token_hash, `user`, created, expires",
      "token_hash", 0),
    T(CLIENT, client, "clients",
      "client_id, seq, status, message, result_id, updated, answer",
      "client_id", 0),
    T(COURSE_SETTINGS, course_settings, "course_settings",
      "course, system_prompt, tutor_daily_limit", "course", 0),
    /* lmsd's records (ABI 1.4): VARBINARY keys, in byte order */
    T(RECORD, keyed_record, "record", "`key`, value", "`key`", 0),
};
#undef T

#define MY_SNAP_NTABLES (sizeof my_snap_tables / sizeof my_snap_tables[0])

/* Does t's message hold only scalar fields this plugin can store? */
static int my_snap_known_types(const my_snap_table *t)
{
    if (t->desc->n_fields > MY_MAX_PARAMS)
        return 0;
    for (unsigned i = 0; i < t->desc->n_fields; i++) {
        switch (t->desc->fields[i].type) {
        case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_BOOL: case PROTOBUF_C_TYPE_DOUBLE:
        case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES:
            if (t->desc->fields[i].label == PROTOBUF_C_LABEL_NONE)
                continue;
            return 0;
        default:
            return 0;
        }
    }
    return 1;
}

/* Prepare t's SELECT (writing) or INSERT (reading) into m. */
static int my_snap_prepare(my_inst *s, const my_snap_table *t, int insert,
                           my_stmt *m, lms_err *err)
{
    char sql[1024], params[128] = "";
    if (!my_snap_known_types(t))
        return lms_err_set(err, LMS_INTERNAL, "snapshot: a field of %s has "
                           "a type this plugin cannot store", t->name);
    if (insert) {
        size_t at = 0;
        for (unsigned i = 0; i < t->desc->n_fields; i++)
            at += (size_t)snprintf(params + at, sizeof params - at, "%s?",
                                   i ? ", " : "");
        snprintf(sql, sizeof sql, "INSERT INTO %s(%s) VALUES(%s)", t->name,
                 t->cols, params);
    } else {
        snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY %s", t->cols,
                 t->name, t->key);
    }
    char what[96];
    snprintf(what, sizeof what, "snapshot: preparing %s", t->name);
    int rc = my_stmt_prepare(s, m, sql, what, err);
    if (rc == LMS_OK && !insert && m->ncols != t->desc->n_fields) {
        rc = lms_err_set(err, LMS_INTERNAL, "snapshot: table %s has %u "
                         "columns for %u fields", t->name, m->ncols,
                         t->desc->n_fields);
        my_stmt_close(m);
    }
    return rc;
}

/* Column c into field f of msg; strings and bytes point into the column's
 * buffer, valid until the next fetch. */
static void my_snap_get(const my_col *c, const ProtobufCFieldDescriptor *f,
                        void *msg)
{
    char *p = (char *)msg + f->offset;
    int64_t v = f->type == PROTOBUF_C_TYPE_DOUBLE ||
                        f->type == PROTOBUF_C_TYPE_STRING ||
                        f->type == PROTOBUF_C_TYPE_BYTES
                    ? 0
                    : my_col_i64(c);
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: *(int32_t *)p = (int32_t)v; break;
    case PROTOBUF_C_TYPE_UINT32: *(uint32_t *)p = (uint32_t)v; break;
    case PROTOBUF_C_TYPE_INT64: *(int64_t *)p = v; break;
    case PROTOBUF_C_TYPE_UINT64: *(uint64_t *)p = (uint64_t)v; break;
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)p = v != 0; break;
    case PROTOBUF_C_TYPE_DOUBLE: *(double *)p = my_col_double(c); break;
    case PROTOBUF_C_TYPE_STRING:
        *(const char **)p = my_col_text(c);
        break;
    default: { /* BYTES (my_snap_known_types has checked) */
        ProtobufCBinaryData *b = (ProtobufCBinaryData *)p;
        int have = c->kind == MY_COL_BYTES && !c->is_null && c->len > 0;
        b->data = have ? (uint8_t *)c->buf : NULL;
        b->len = have ? c->len : 0;
    }
    }
}

/* Field f of msg as the next parameter of b. */
static void my_snap_bind(my_binder *b, const ProtobufCFieldDescriptor *f,
                         const void *msg)
{
    const char *p = (const char *)msg + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: my_bind_i64(b, *(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT32: my_bind_i64(b, *(const uint32_t *)p); break;
    case PROTOBUF_C_TYPE_INT64: my_bind_i64(b, *(const int64_t *)p); break;
    case PROTOBUF_C_TYPE_UINT64: my_bind_u64(b, *(const uint64_t *)p); break;
    case PROTOBUF_C_TYPE_BOOL:
        my_bind_i64(b, *(const protobuf_c_boolean *)p ? 1 : 0);
        break;
    case PROTOBUF_C_TYPE_DOUBLE: my_bind_double(b, *(const double *)p); break;
    case PROTOBUF_C_TYPE_STRING:
        my_bind_text(b, *(char *const *)p, SIZE_MAX);
        break;
    default: {
        const ProtobufCBinaryData *d = (const ProtobufCBinaryData *)p;
        my_bind_blob(b, d->data, d->len);
    }
    }
}

/* The body member of a Record that holds t's message. */
static ProtobufCMessage **my_snap_member(Lms__Snap__Record *r,
                                         const my_snap_table *t)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &lms__snap__record__descriptor, (unsigned)t->body);
    return (ProtobufCMessage **)((char *)r + f->offset);
}

/* ---- snapshot_write ---- */

typedef struct my_snap_writer {
    my_inst *s;
    snap_out out;
    uint8_t *chunk; /* LMS_SNAPSHOT_CHUNK bytes */
} my_snap_writer;

/* Does the host offer its file store (host.h, ABI 1.2)? */
static int my_snap_has_files(const my_inst *s, lms_err *err)
{
    const struct lms_host *h = s->host;
    if (h && h->size >= offsetof(struct lms_host, file_close) +
                            sizeof h->file_close &&
        h->file_open && h->file_read && h->file_create && h->file_write &&
        h->file_close)
        return 1;
    lms_err_set(err, LMS_FAILED_PRECONDITION, "snapshot: the host has no "
                "file store for the files of submissions and materials");
    return 0;
}

/* The SHA-256 naming the body of t's row r, if the host can store it:
 * NULL with err set otherwise. */
static const uint8_t *my_snap_body_name(const my_inst *s,
                                        const my_snap_table *t,
                                        const Lms__Snap__Record *r,
                                        lms_err *err)
{
    const ProtobufCBinaryData *sha = snap_file_sha(r);
    if (!sha || sha->len != LMS_SHA256_LEN) {
        lms_err_set(err, LMS_DATA_LOSS, "snapshot: a row of %s has no "
                    "SHA-256 of its file", t->name);
        return NULL;
    }
    return my_snap_has_files(s, err) ? sha->data : NULL;
}

/* Stream the body of the row just recorded from the host's file store as
 * Chunk records. */
static int my_snap_write_file(my_snap_writer *w, const my_snap_table *t,
                              const Lms__Snap__Record *r, lms_err *err)
{
    uint64_t size = snap_file_size(r);
    lms_err nerr = {0};
    const uint8_t *sha = my_snap_body_name(w->s, t, r, &nerr);
    if (!sha)
        return lms_err_set(err, nerr.code, "%s", nerr.msg);
    const struct lms_host *h = w->s->host;
    void *f = NULL;
    int rc = h->file_open(w->s->ctx, sha, size, &f, err);
    for (uint64_t off = 0; rc == LMS_OK && off < size;) {
        size_t n = size - off < LMS_SNAPSHOT_CHUNK ? (size_t)(size - off)
                                                   : LMS_SNAPSHOT_CHUNK;
        rc = h->file_read(f, off, w->chunk, n, err);
        if (rc == LMS_OK)
            rc = snap_out_chunk(&w->out, w->chunk, n, err);
        off += n;
    }
    if (f)
        h->file_close(f, 0, NULL);
    return rc;
}

/* Stream every row of t (and the rows' files) in key order, one row in
 * memory at a time. */
static int my_snap_write_table(my_snap_writer *w, const my_snap_table *t,
                               lms_err *err)
{
    my_stmt m;
    memset(&m, 0, sizeof m);
    ProtobufCMessage *msg = malloc(t->desc->sizeof_message);
    char what[96];
    snprintf(what, sizeof what, "snapshot: reading %s", t->name);
    int rc = msg ? my_snap_prepare(w->s, t, 0, &m, err)
                 : lms_err_set(err, LMS_INTERNAL, "out of memory");
    if (rc == LMS_OK)
        rc = my_execute(w->s, &m, what, err);
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = t->body;
    *my_snap_member(&r, t) = msg;
    int got = 0;
    while (rc == LMS_OK && (got = my_fetch(w->s, &m, what, err)) > 0) {
        t->desc->message_init(msg);
        for (unsigned i = 0; i < t->desc->n_fields; i++)
            my_snap_get(&m.cols[i], &t->desc->fields[i], msg);
        rc = snap_out_record(&w->out, &r, err);
        if (rc == LMS_OK && t->file && snap_file_size(&r) > 0)
            rc = my_snap_write_file(w, t, &r, err);
    }
    if (rc == LMS_OK && got < 0)
        rc = err ? err->code : LMS_INTERNAL;
    my_stmt_close(&m); /* discards the rows not read yet */
    free(msg);
    return rc;
}

/* The preconditions of the snapshot ops on an instance. */
static int my_snap_ready(my_inst *s, const char *what, lms_err *err)
{
    if (s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: called on a reader", what);
    if (!s->migrated)
        return lms_err_set(err, LMS_FAILED_PRECONDITION, "%s: the schema of "
                           "%s is not migrated yet (call migrate first)",
                           what, s->cfg->where);
    if (s->in_tx)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: a transaction is open", what);
    if (s->lost || s->db == NULL)
        return my_connect(s, err);
    return LMS_OK;
}

static const char MY_SNAP_BEGIN[] =
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";

/* The whole stream, from inside s's open read transaction. */
static int my_snap_write_all(my_inst *s, const lms_snapshot_header *h,
                             lms_snapshot_write_fn write, void *arg,
                             uint8_t digest[LMS_SHA256_LEN], lms_err *err)
{
    my_snap_writer w = {.s = s};
    int rc = LMS_OK;
    w.chunk = malloc(LMS_SNAPSHOT_CHUNK);
    if (w.chunk == NULL)
        rc = lms_err_set(err, LMS_INTERNAL, "out of memory");
    if (rc == LMS_OK)
        rc = snap_out_open(&w.out, h, MY_PLUGIN_NAME, write, arg, err);
    for (size_t i = 0; rc == LMS_OK && i < MY_SNAP_NTABLES; i++)
        rc = my_snap_write_table(&w, &my_snap_tables[i], err);
    if (rc == LMS_OK)
        rc = snap_out_close(&w.out, digest, err);
    snap_out_free(&w.out);
    free(w.chunk);
    return rc;
}

/* storage ops snapshot_write(): see storage.h. */
int my_snapshot_write(void *inst, const lms_snapshot_header *h,
                      lms_snapshot_write_fn write, void *arg,
                      uint8_t digest[LMS_SHA256_LEN], lms_err *err)
{
    my_inst *s = inst;
    int rc = my_snap_ready(s, "snapshot_write", err);
    if (rc == LMS_OK)
        rc = my_query(s, MY_SNAP_BEGIN, "snapshot_write: begin", err);
    if (rc != LMS_OK)
        return rc;
    rc = my_snap_write_all(s, h, write, arg, digest, err);
    if (s->db && !s->lost &&
        my_query(s, "ROLLBACK", "snapshot_write: ending", NULL) != LMS_OK)
        s->lost = 1; /* start afresh rather than inside that transaction */
    return rc;
}

/* ---- snapshots of a pinned view ----
 *
 * A view is a connection of its own to the same database, inside a
 * consistent-snapshot read-only transaction started by snapshot_pin on
 * the instance's thread while the instance had no transaction open:
 * InnoDB's MVCC keeps showing it exactly the state committed at that
 * moment, whatever the instance commits later, and neither blocks the
 * other. A view is a my_inst like a reader, so the writer above serves
 * both. */

/* storage ops snapshot_unpin(): any thread. */
void my_snapshot_unpin(void *view)
{
    my_free_inst(view);
}

/* storage ops snapshot_pin(): see storage.h. */
int my_snapshot_pin(void *inst, void **view, lms_err *err)
{
    my_inst *s = inst;
    *view = NULL;
    int rc = my_snap_ready(s, "snapshot_pin", err);
    my_inst *v = NULL;
    if (rc == LMS_OK)
        rc = my_open_peer(s, &v, "snapshot_pin", err);
    if (rc == LMS_OK)
        rc = my_query(v, MY_SNAP_BEGIN, "snapshot_pin: begin", err);
    if (rc != LMS_OK) {
        my_free_inst(v);
        return rc;
    }
    v->in_tx = 1;
    *view = v;
    return LMS_OK;
}

/* storage ops snapshot_write_view(): see storage.h. */
int my_snapshot_write_view(void *view, const lms_snapshot_header *h,
                           lms_snapshot_write_fn write, void *arg,
                           uint8_t digest[LMS_SHA256_LEN], lms_err *err)
{
    my_inst *v = view;
    if (v->lost || v->db == NULL)
        return lms_err_set(err, LMS_UNAVAILABLE, "snapshot_write_view: the "
                           "view's connection to %s was lost; pin again",
                           v->cfg->where);
    return my_snap_write_all(v, h, write, arg, digest, err);
}

/* ---- snapshot_read ---- */

typedef struct my_snap_reader {
    my_inst *s;
    snap_in in;
    my_stmt insert[MY_SNAP_NTABLES];
    void *file; /* the host's new body for the chunks that follow a row */
} my_snap_reader;

static const my_snap_table *my_snap_table_of(int body, size_t *index)
{
    for (size_t i = 0; i < MY_SNAP_NTABLES; i++)
        if ((int)my_snap_tables[i].body == body) {
            *index = i;
            return &my_snap_tables[i];
        }
    return NULL;
}

/* Insert the row r, and open its file for the chunks that follow. */
static int my_snap_read_row(my_snap_reader *rd, const Lms__Snap__Record *r,
                            lms_err *err)
{
    size_t i = 0;
    const my_snap_table *t = my_snap_table_of((int)r->body_case, &i);
    if (t == NULL)
        return lms_err_set(err, LMS_DATA_LOSS, "snapshot: a record of an "
                           "unknown kind (%d)", (int)r->body_case);
    int rc = LMS_OK;
    my_stmt *m = &rd->insert[i];
    if (m->st == NULL)
        rc = my_snap_prepare(rd->s, t, 1, m, err);
    if (rc != LMS_OK)
        return rc;
    const ProtobufCMessage *msg = *my_snap_member((Lms__Snap__Record *)r, t);
    my_binder b;
    my_binder_init(&b);
    for (unsigned f = 0; f < t->desc->n_fields; f++)
        my_snap_bind(&b, &t->desc->fields[f], msg);
    char what[96];
    snprintf(what, sizeof what, "snapshot: inserting into %s", t->name);
    if (b.overflow)
        return lms_err_set(err, LMS_INTERNAL, "%s: too many fields", what);
    if (mysql_stmt_bind_param(m->st, b.b))
        return my_fail(rd->s, mysql_stmt_errno(m->st), mysql_stmt_error(m->st),
                       err, "%s", what);
    rc = my_execute(rd->s, m, what, err);
    if (rc != LMS_OK || !t->file)
        return rc;
    lms_err nerr = {0};
    const uint8_t *sha = my_snap_body_name(rd->s, t, r, &nerr);
    if (!sha)
        return lms_err_set(err, nerr.code, "%s", nerr.msg);
    return rd->s->host->file_create(rd->s->ctx, sha, snap_file_size(r),
                                    &rd->file, err);
}

/* The body being written is complete (keep) or abandoned: hand it over. */
static int my_snap_file_done(my_snap_reader *rd, int keep, lms_err *err)
{
    if (!rd->file)
        return LMS_OK;
    void *f = rd->file;
    rd->file = NULL;
    return rd->s->host->file_close(f, keep, err);
}

/* Apply one body record: a row, or a chunk of the open file (snap_in has
 * checked that chunks come whole and in order after their row). */
static int my_snap_apply(my_snap_reader *rd, const Lms__Snap__Record *r,
                         lms_err *err)
{
    if (r->body_case != LMS__SNAP__RECORD__BODY_CHUNK) {
        int rc = my_snap_file_done(rd, 1, err);
        return rc == LMS_OK ? my_snap_read_row(rd, r, err) : rc;
    }
    if (!rd->file)
        return lms_err_set(err, LMS_DATA_LOSS, "snapshot: a chunk of a file "
                           "with no row before it");
    const ProtobufCBinaryData *d = &r->chunk->data;
    return rd->s->host->file_write(rd->file, d->data, d->len, err);
}

/* Empty every table, children first (DELETE, not TRUNCATE: TRUNCATE
 * would commit). */
static int my_snap_clear(my_inst *s, lms_err *err)
{
    for (size_t i = MY_SNAP_NTABLES; i-- > 0;) {
        char sql[64];
        snprintf(sql, sizeof sql, "DELETE FROM %s", my_snap_tables[i].name);
        int rc = my_query(s, sql, "snapshot_read: emptying the tables", err);
        if (rc != LMS_OK)
            return rc;
    }
    return LMS_OK;
}

/* Copy the stream's header into out; config kept until the next call. */
static int my_snap_header_out(my_inst *s, const Lms__Snap__Header *h,
                              lms_snapshot_header *out, lms_err *err)
{
    memset(out, 0, sizeof *out);
    out->index = h->index;
    out->term = h->term;
    out->created = h->created;
    out->format = h->format;
    snprintf(out->backend, sizeof out->backend, "%s",
             h->backend ? h->backend : "");
    out->config_len = h->config.len;
    out->config = h->config.len ? my_keep(s, h->config.data, h->config.len, 0)
                                : NULL;
    if (out->config == NULL && h->config.len)
        return lms_err_set(err, LMS_INTERNAL, "out of memory");
    return LMS_OK;
}

/*
 * The body of snapshot_read, inside its transaction. When a record cannot
 * be applied (a constraint fails, say), the rest of the stream is still
 * read and verified: a damaged stream is reported as LMS_DATA_LOSS, and
 * only an intact one that does not fit the schema by the apply error.
 */
static int my_snap_read_all(my_snap_reader *rd, lms_snapshot_read_fn read,
                            void *arg, lms_err *err)
{
    int rc = my_snap_clear(rd->s, err);
    if (rc == LMS_OK)
        rc = snap_in_open(&rd->in, read, arg, err);
    int applied = rc;
    lms_err apply_err = {0};
    const Lms__Snap__Record *r = NULL;
    while (rc == LMS_OK && (rc = snap_in_next(&rd->in, &r, err)) == LMS_OK &&
           r != NULL)
        if (applied == LMS_OK)
            applied = my_snap_apply(rd, r, &apply_err);
    /* the last body is whole only if the stream is: kept only then,
     * before the rows that name it commit */
    int last = my_snap_file_done(rd, rc == LMS_OK && applied == LMS_OK,
                                 &apply_err);
    if (applied == LMS_OK)
        applied = last;
    if (rc == LMS_OK && applied != LMS_OK)
        rc = lms_err_set(err, applied, "%s", apply_err.msg);
    return rc;
}

/* storage ops snapshot_read(): see storage.h. */
int my_snapshot_read(void *inst, lms_snapshot_read_fn read, void *arg,
                     lms_snapshot_header *out, lms_err *err)
{
    my_snap_reader rd;
    memset(&rd, 0, sizeof rd);
    rd.s = inst;
    my_inst *s = rd.s;
    my_cache_clear(s); /* every table is replaced */
    int rc = my_snap_ready(s, "snapshot_read", err);
    if (rc == LMS_OK)
        rc = my_query(s, "START TRANSACTION", "snapshot_read: begin", err);
    if (rc != LMS_OK)
        return rc;
    s->in_tx = 1;
    rc = my_snap_read_all(&rd, read, arg, err);
    for (size_t i = 0; i < MY_SNAP_NTABLES; i++)
        my_stmt_close(&rd.insert[i]);
    uint64_t index = rd.in.header ? rd.in.header->header->index : 0;
    if (rc == LMS_OK)
        rc = my_commit(s, index, err);
    if (rc == LMS_OK)
        rc = my_snap_header_out(s, rd.in.header->header, out, err);
    else
        my_rollback(s, NULL);
    snap_in_free(&rd.in);
    my_cache_clear(s);
    if (rc == LMS_OK)
        my_log(s, LMS_LOG_INFO, "installed a snapshot at index %llu "
               "written by %s", (unsigned long long)index, out->backend);
    return rc;
}

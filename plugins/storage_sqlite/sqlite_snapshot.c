/* SPDX-License-Identifier: MIT */
/*
 * sqlite_snapshot.c: storage ops snapshot_write and snapshot_read for
 * SQLite, on top of the backend-neutral snap_stream.c.
 *
 * Table-driven: sq_snap_tables lists every table in the canonical order
 * with its columns in the order of its snapshot.proto message's fields, so
 * one loop turns any row into its message (column i <-> field i, by the
 * field's protobuf type) and back into an INSERT. Tables with files
 * (submissions, materials) keep the file out of the row: it is streamed
 * with SQLite's incremental blob I/O in LMS_SNAPSHOT_CHUNK pieces, read by
 * rowid (their id) on the way out and written into a zeroblob() of the
 * row's size on the way in, so memory stays bounded by a chunk.
 *
 * snapshot_write reads inside one deferred transaction (one consistent
 * view); snapshot_pin opens that view on a connection of its own, for
 * snapshot_write_view to stream from another thread; snapshot_read
 * deletes and refills every table in one IMMEDIATE transaction that
 * commits, with the header's index as applied index, only after the
 * trailer has been verified.
 */
#include "snap_stream.h"
#include "sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A table in the snapshot: its Record field, its message, its columns in
 * field order, its primary key (the canonical order of rows). file: the
 * rows' files, in column "file", follow them as Chunk records. */
typedef struct sq_snap_table {
    Lms__Snap__Record__BodyCase body;
    const ProtobufCMessageDescriptor *desc;
    const char *name;
    const char *cols;
    const char *key;
    int file;
} sq_snap_table;

#define T(body, msg, name, cols, key, file)                                  \
    {LMS__SNAP__RECORD__BODY_##body, &lms__snap__##msg##__descriptor, name,  \
     cols, key, file}

/* Parents before children, so each row's references exist when it is
 * inserted; the order of Record's fields is the same. */
static const sq_snap_table sq_snap_tables[] = {
    T(USER, user, "users", "name, full_name, role, password_hash, created",
      "name", 0),
    T(COURSE, course, "courses", "code, title, created", "code", 0),
    T(ENROLMENT, enrolment, "enrolments", "course, user, role",
      "course, user", 0),
    T(ASSIGNMENT, assignment, "assignments",
      "id, course, title, description, due, cutoff, max_points, "
      "max_attempts, max_size, hold_grades, released, created, created_by",
      "id", 0),
    T(EXTENSION, extension, "extensions", "assignment_id, student, until",
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
    T(SESSION, session, "sessions", "token_hash, user, created, expires",
      "token_hash", 0),
    /* client ids are random 64-bit numbers, stored as SQLite's signed
     * integers: "client_id < 0" first sorts them as unsigned (those from
     * 2^63 up are negative here), the canonical order (docs/snapshots.md) */
    T(CLIENT, client, "clients",
      "client_id, seq, status, message, result_id, updated, answer",
      "client_id < 0, client_id", 0),
    T(COURSE_SETTINGS, course_settings, "course_settings",
      "course, system_prompt, tutor_daily_limit", "course", 0),
    /* lmsd's records (ABI 1.4): BLOB keys, in memcmp order */
    T(RECORD, keyed_record, "record", "key, value", "key", 0),
};
#undef T

#define SQ_SNAP_NTABLES (sizeof sq_snap_tables / sizeof sq_snap_tables[0])

/* The parameter that holds a file table's size: field "size". */
static int sq_snap_known_types(const sq_snap_table *t)
{
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

/* Prepare t's SELECT (writing) or INSERT (reading). */
static int sq_snap_prepare(sq_inst *s, const sq_snap_table *t, int insert,
                           sqlite3_stmt **st, lms_err *err)
{
    char sql[1024], params[256] = "";
    if (!sq_snap_known_types(t))
        return lms_err_set(err, LMS_INTERNAL, "snapshot: a field of %s has "
                           "a type this plugin cannot store", t->name);
    if (insert) {
        size_t at = 0;
        for (unsigned i = 1; i <= t->desc->n_fields; i++)
            at += (size_t)snprintf(params + at, sizeof params - at, "%s?%u",
                                   i > 1 ? ", " : "", i);
        snprintf(sql, sizeof sql, "INSERT INTO %s(%s) VALUES(%s)", t->name,
                 t->cols, params);
    } else {
        snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY %s", t->cols,
                 t->name, t->key);
    }
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, err, "snapshot: preparing %s", t->name);
    if (!insert && (unsigned)sqlite3_column_count(*st) != t->desc->n_fields)
        return lms_err_set(err, LMS_INTERNAL, "snapshot: table %s has %d "
                           "columns for %u fields", t->name,
                           sqlite3_column_count(*st), t->desc->n_fields);
    return LMS_OK;
}

/* Column i of st into field f of msg; strings and bytes point into st's
 * row, valid until the next step. */
static void sq_snap_get(sqlite3_stmt *st, int i,
                        const ProtobufCFieldDescriptor *f, void *msg)
{
    char *p = (char *)msg + f->offset;
    int64_t v = sqlite3_column_int64(st, i);
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: *(int32_t *)p = (int32_t)v; break;
    case PROTOBUF_C_TYPE_UINT32: *(uint32_t *)p = (uint32_t)v; break;
    case PROTOBUF_C_TYPE_INT64: *(int64_t *)p = v; break;
    case PROTOBUF_C_TYPE_UINT64: *(uint64_t *)p = (uint64_t)v; break;
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)p = v != 0; break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)p = sqlite3_column_double(st, i);
        break;
    case PROTOBUF_C_TYPE_STRING:
        *(const char **)p = sq_col_text(st, i);
        break;
    default: { /* BYTES (sq_snap_known_types has checked) */
        ProtobufCBinaryData *b = (ProtobufCBinaryData *)p;
        b->data = (uint8_t *)sqlite3_column_blob(st, i);
        b->len = b->data ? (size_t)sqlite3_column_bytes(st, i) : 0;
    }
    }
}

/* Field f of msg as the next parameter of b. */
static void sq_snap_bind(sq_binder *b, const ProtobufCFieldDescriptor *f,
                         const void *msg)
{
    const char *p = (const char *)msg + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: sq_bind_i64(b, *(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT32: sq_bind_i64(b, *(const uint32_t *)p); break;
    case PROTOBUF_C_TYPE_INT64: sq_bind_i64(b, *(const int64_t *)p); break;
    case PROTOBUF_C_TYPE_UINT64:
        sq_bind_i64(b, (int64_t)*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        sq_bind_i64(b, *(const protobuf_c_boolean *)p ? 1 : 0);
        break;
    case PROTOBUF_C_TYPE_DOUBLE: sq_bind_double(b, *(const double *)p); break;
    case PROTOBUF_C_TYPE_STRING:
        sq_bind_text(b, *(char *const *)p, SIZE_MAX);
        break;
    default: {
        const ProtobufCBinaryData *d = (const ProtobufCBinaryData *)p;
        sq_bind_blob(b, d->data, d->len);
    }
    }
}

/* The body member of a Record that holds t's message. */
static ProtobufCMessage **sq_snap_member(Lms__Snap__Record *r,
                                         const sq_snap_table *t)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &lms__snap__record__descriptor, (unsigned)t->body);
    return (ProtobufCMessage **)((char *)r + f->offset);
}

/* ---- snapshot_write ---- */

/* State of one snapshot_write. */
typedef struct sq_snap_writer {
    sq_inst *s;
    snap_out out;
    uint8_t *chunk; /* LMS_SNAPSHOT_CHUNK bytes */
} sq_snap_writer;

/* Does the host offer its file store (host.h, ABI 1.2)? */
static int sq_snap_has_files(const sq_inst *s, lms_err *err)
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
static const uint8_t *sq_snap_body_name(const sq_inst *s,
                                        const sq_snap_table *t,
                                        const Lms__Snap__Record *r,
                                        lms_err *err)
{
    const ProtobufCBinaryData *sha = snap_file_sha(r);
    if (!sha || sha->len != LMS_SHA256_LEN) {
        lms_err_set(err, LMS_DATA_LOSS, "snapshot: a row of %s has no "
                    "SHA-256 of its file", t->name);
        return NULL;
    }
    return sq_snap_has_files(s, err) ? sha->data : NULL;
}

/* Stream the body of the row just recorded (r: its sha256 and size) from
 * the host's file store as Chunk records. */
static int sq_snap_write_file(sq_snap_writer *w, const sq_snap_table *t,
                              const Lms__Snap__Record *r, lms_err *err)
{
    uint64_t size = snap_file_size(r);
    const uint8_t *sha = sq_snap_body_name(w->s, t, r, err);
    if (!sha)
        return err->code;
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

/* Stream every row of t (and the rows' files) in key order. */
static int sq_snap_write_table(sq_snap_writer *w, const sq_snap_table *t,
                               lms_err *err)
{
    sqlite3_stmt *st = NULL;
    ProtobufCMessage *msg = malloc(t->desc->sizeof_message);
    int rc = msg ? sq_snap_prepare(w->s, t, 0, &st, err)
                 : lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = t->body;
    *sq_snap_member(&r, t) = msg;
    int step = SQLITE_DONE;
    while (rc == LMS_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        t->desc->message_init(msg);
        for (unsigned i = 0; i < t->desc->n_fields; i++)
            sq_snap_get(st, (int)i, &t->desc->fields[i], msg);
        rc = snap_out_record(&w->out, &r, err);
        if (rc == LMS_OK && t->file && snap_file_size(&r) > 0)
            rc = sq_snap_write_file(w, t, &r, err);
    }
    if (rc == LMS_OK && step != SQLITE_DONE)
        rc = sq_fail(w->s, step, err, "snapshot: reading %s", t->name);
    sqlite3_finalize(st);
    free(msg);
    return rc;
}

/* The preconditions of both snapshot ops. */
static int sq_snap_ready(sq_inst *s, const char *what, lms_err *err)
{
    if (!s->migrated)
        return lms_err_set(err, LMS_FAILED_PRECONDITION, "%s: the schema of "
                           "%s is not migrated yet", what, s->path);
    if (!sqlite3_get_autocommit(s->db))
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: a transaction is open", what);
    return LMS_OK;
}

static int sq_snap_exec(sq_inst *s, const char *sql, lms_err *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, err, "snapshot: %s", sql);
    return LMS_OK;
}

/* The whole stream, from inside s's open read transaction. */
static int sq_snap_write_all(sq_inst *s, const lms_snapshot_header *h,
                             lms_snapshot_write_fn write, void *arg,
                             uint8_t digest[LMS_SHA256_LEN], lms_err *err)
{
    sq_snap_writer w = {.s = s};
    int rc = LMS_OK;
    w.chunk = malloc(LMS_SNAPSHOT_CHUNK);
    if (w.chunk == NULL)
        rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    if (rc == LMS_OK)
        rc = snap_out_open(&w.out, h, SQ_PLUGIN_NAME, write, arg, err);
    for (size_t i = 0; rc == LMS_OK && i < SQ_SNAP_NTABLES; i++)
        rc = sq_snap_write_table(&w, &sq_snap_tables[i], err);
    if (rc == LMS_OK)
        rc = snap_out_close(&w.out, digest, err);
    snap_out_free(&w.out);
    free(w.chunk);
    return rc;
}

/* storage ops snapshot_write(): see storage.h. */
int sq_snapshot_write(void *inst, const lms_snapshot_header *h,
                      lms_snapshot_write_fn write, void *arg,
                      uint8_t digest[LMS_SHA256_LEN], lms_err *err)
{
    sq_inst *s = inst;
    int rc = sq_snap_ready(s, "snapshot_write", err);
    if (rc != LMS_OK)
        return rc;
    rc = sq_snap_exec(s, "BEGIN", err);
    if (rc != LMS_OK)
        return rc;
    rc = sq_snap_write_all(s, h, write, arg, digest, err);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* read only */
    return rc;
}

/* ---- snapshots of a pinned view ----
 *
 * A view is a read-only connection of its own to the same file, inside a
 * read transaction started while the instance had no transaction open: in
 * WAL mode it goes on seeing exactly the state committed at that moment,
 * whatever the instance's connection commits later, and neither blocks
 * the other (checkpoints only stop short of the frames the view still
 * reads). A view is an sq_inst with nothing but the connection, so the
 * snapshot writer above serves both. */

void sq_snapshot_unpin(void *view)
{
    sq_reader_close(view);
}

/* storage ops snapshot_pin(): see storage.h. */
int sq_snapshot_pin(void *inst, void **view, lms_err *err)
{
    sq_inst *s = inst;
    *view = NULL;
    int rc = sq_snap_ready(s, "snapshot_pin", err);
    sq_inst *v = NULL;
    if (rc == LMS_OK)
        rc = sq_open_readonly(s, &v, "snapshot_pin", err);
    /* The read transaction, and with it the view, starts at its first
     * read: do one now, while the instance is between transactions. */
    if (rc == LMS_OK)
        rc = sq_snap_exec(v, "BEGIN", err);
    if (rc == LMS_OK)
        rc = sq_snap_exec(v, "SELECT count(*) FROM meta", err);
    if (rc != LMS_OK) {
        sq_reader_close(v);
        return rc;
    }
    *view = v;
    return LMS_OK;
}

/* storage ops snapshot_write_view(): see storage.h. */
int sq_snapshot_write_view(void *view, const lms_snapshot_header *h,
                           lms_snapshot_write_fn write, void *arg,
                           uint8_t digest[LMS_SHA256_LEN], lms_err *err)
{
    return sq_snap_write_all(view, h, write, arg, digest, err);
}

/* ---- snapshot_read ---- */

/* State of one snapshot_read: an INSERT per table, and the file being
 * filled (blob), if any. */
typedef struct sq_snap_reader {
    sq_inst *s;
    snap_in in;
    sqlite3_stmt *insert[SQ_SNAP_NTABLES];
    void *file; /* the host's new body for the chunks that follow a row */
} sq_snap_reader;

static const sq_snap_table *sq_snap_table_of(int body, size_t *index)
{
    for (size_t i = 0; i < SQ_SNAP_NTABLES; i++)
        if ((int)sq_snap_tables[i].body == body) {
            *index = i;
            return &sq_snap_tables[i];
        }
    return NULL;
}

/* Insert the row r, and open its file for the chunks that follow. */
static int sq_snap_read_row(sq_snap_reader *rd, const Lms__Snap__Record *r,
                            lms_err *err)
{
    size_t i = 0;
    const sq_snap_table *t = sq_snap_table_of((int)r->body_case, &i);
    if (t == NULL)
        return lms_err_set(err, LMS_DATA_LOSS, "snapshot: a record of an "
                           "unknown kind (%d)", (int)r->body_case);
    int rc = LMS_OK;
    if (rd->insert[i] == NULL)
        rc = sq_snap_prepare(rd->s, t, 1, &rd->insert[i], err);
    if (rc != LMS_OK)
        return rc;
    const ProtobufCMessage *msg =
        *sq_snap_member((Lms__Snap__Record *)r, t);
    sq_binder b = sq_binder_of(rd->insert[i]);
    for (unsigned f = 0; f < t->desc->n_fields; f++)
        sq_snap_bind(&b, &t->desc->fields[f], msg);
    sq_sql def = {.what = t->name};
    rc = sq_run(rd->s, &def, &b, err);
    if (rc != LMS_OK || !t->file)
        return rc;
    /* The row's body: from its chunks (none when it is empty) into the
     * host's file store, kept once the next record or the end shows it
     * whole (sq_snap_file_done). */
    const uint8_t *sha = sq_snap_body_name(rd->s, t, r, err);
    if (!sha)
        return err->code;
    return rd->s->host->file_create(rd->s->ctx, sha, snap_file_size(r),
                                    &rd->file, err);
}

/* The body being written is complete (keep) or abandoned: hand it over. */
static int sq_snap_file_done(sq_snap_reader *rd, int keep, lms_err *err)
{
    if (!rd->file)
        return LMS_OK;
    void *f = rd->file;
    rd->file = NULL;
    return rd->s->host->file_close(f, keep, err);
}

/* Apply one body record: a row, or a chunk of the open file (snap_in has
 * checked that chunks come whole and in order after their row). */
static int sq_snap_apply(sq_snap_reader *rd, const Lms__Snap__Record *r,
                         lms_err *err)
{
    if (r->body_case != LMS__SNAP__RECORD__BODY_CHUNK) {
        int rc = sq_snap_file_done(rd, 1, err);
        return rc == LMS_OK ? sq_snap_read_row(rd, r, err) : rc;
    }
    if (!rd->file)
        return lms_err_set(err, LMS_DATA_LOSS, "snapshot: a chunk of a file "
                           "with no row before it");
    const ProtobufCBinaryData *d = &r->chunk->data;
    return rd->s->host->file_write(rd->file, d->data, d->len, err);
}

/* Empty every table, children first. */
static int sq_snap_clear(sq_inst *s, lms_err *err)
{
    for (size_t i = SQ_SNAP_NTABLES; i-- > 0;) {
        char sql[64];
        snprintf(sql, sizeof sql, "DELETE FROM %s", sq_snap_tables[i].name);
        int rc = sq_snap_exec(s, sql, err);
        if (rc != LMS_OK)
            return rc;
    }
    return LMS_OK;
}

/* Copy the stream's header into out; config kept until the next call. */
static int sq_snap_header_out(sq_inst *s, const Lms__Snap__Header *h,
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
    out->config = h->config.len ? sq_keep(s, h->config.data, h->config.len, 0)
                                : NULL; /* an empty config is no failure */
    if (out->config == NULL && h->config.len)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    return LMS_OK;
}

/*
 * The body of snapshot_read, inside its transaction. When a record cannot
 * be applied (a constraint fails, say), the rest of the stream is still
 * read and verified: a damaged stream is reported as LMS_DATA_LOSS, and
 * only an intact one that does not fit the schema by the apply error.
 */
static int sq_snap_read_all(sq_snap_reader *rd, lms_snapshot_read_fn read,
                            void *arg, lms_err *err)
{
    int rc = sq_snap_clear(rd->s, err);
    if (rc == LMS_OK)
        rc = snap_in_open(&rd->in, read, arg, err);
    int applied = rc;
    lms_err apply_err = {0};
    const Lms__Snap__Record *r = NULL;
    while (rc == LMS_OK && (rc = snap_in_next(&rd->in, &r, err)) == LMS_OK &&
           r != NULL)
        if (applied == LMS_OK)
            applied = sq_snap_apply(rd, r, &apply_err);
    /* the last body is whole only if the stream is: it is kept only then,
     * before the rows that name it commit */
    int last = sq_snap_file_done(rd, rc == LMS_OK && applied == LMS_OK,
                                 &apply_err);
    if (applied == LMS_OK)
        applied = last;
    if (rc == LMS_OK && applied != LMS_OK)
        rc = lms_err_set(err, applied, "%s", apply_err.msg);
    return rc;
}

/* storage ops snapshot_read(): see storage.h. */
int sq_snapshot_read(void *inst, lms_snapshot_read_fn read, void *arg,
                     lms_snapshot_header *out, lms_err *err)
{
    sq_snap_reader rd = {.s = inst};
    int rc = sq_snap_ready(rd.s, "snapshot_read", err);
    if (rc != LMS_OK)
        return rc;
    rc = sq_snap_exec(rd.s, "BEGIN IMMEDIATE", err);
    if (rc != LMS_OK)
        return rc;
    rc = sq_snap_read_all(&rd, read, arg, err);
    for (size_t i = 0; i < SQ_SNAP_NTABLES; i++)
        sqlite3_finalize(rd.insert[i]);
    uint64_t index = rd.in.header ? rd.in.header->header->index : 0;
    if (rc == LMS_OK)
        rc = sq_commit(rd.s, index, err);
    if (rc == LMS_OK)
        rc = sq_snap_header_out(rd.s, rd.in.header->header, out, err);
    else
        sqlite3_exec(rd.s->db, "ROLLBACK", NULL, NULL, NULL);
    snap_in_free(&rd.in);
    if (rc == LMS_OK)
        sq_log(rd.s, LMS_LOG_INFO, "installed a snapshot at index %llu "
               "written by %s", (unsigned long long)index, out->backend);
    return rc;
}

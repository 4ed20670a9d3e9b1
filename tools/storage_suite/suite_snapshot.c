/* SPDX-License-Identifier: MIT */
/*
 * suite_snapshot.c: storage ops snapshot_write and snapshot_read of a
 * storage plugin, with the stream kept in memory: a store with every kind
 * of row (a 5 MB file with NUL bytes, the tutor's fields) copied into a
 * fresh store (compared through the API: every row listed, and the
 * digests), its file bodies arriving in the new store's file store byte
 * for byte, equal digests and byte-identical streams
 * from equal stores, the empty store, streams that are damaged (a flipped
 * byte anywhere that matters, truncated, a wrong digest or count) refused
 * with the target's old state and applied index intact, bounded pieces on
 * the way out, the preconditions, and a pinned view written on another
 * thread while the store changes.
 */
#include "suite_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A snapshot stream in memory: the sink records the largest piece it was
 * handed; the source reads from pos; fail_at makes the sink refuse once it
 * holds that many bytes. */
typedef struct membuf {
    unsigned char *p;
    size_t len, cap, pos, max_piece, fail_at;
    unsigned writes;
} membuf;

static int mem_write(void *arg, const void *buf, size_t len)
{
    membuf *m = arg;
    if (m->fail_at && m->len + len > m->fail_at)
        return -1;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = realloc(m->p, m->cap);
        assert_non_null(m->p);
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    m->max_piece = len > m->max_piece ? len : m->max_piece;
    m->writes++;
    return 0;
}

static int mem_read(void *arg, void *buf, size_t len)
{
    membuf *m = arg;
    if (len > m->len - m->pos)
        return -1;
    memcpy(buf, m->p + m->pos, len);
    m->pos += len;
    return 0;
}

static const unsigned char test_config[] = {0, 1, 2, 0, 'c', 'f', 'g'};

/* Snapshot fx's store at index into m. */
static void snap(fixture *fx, uint64_t index, membuf *m,
                 uint8_t digest[LMS_SHA256_LEN])
{
    lms_snapshot_header h = {.index = index, .term = 3,
                             .config = test_config,
                             .config_len = sizeof test_config,
                             .created = 1700000000000};
    EXPECT_OK(fx_ops->snapshot_write(fx->st, &h, mem_write, m, digest,
                                     &fx->err));
}

/* The bodies of a node's files live in the host's file store (ABI 1.2),
 * so a snapshot carries them from the file store of one store's context
 * into the file store of another's: byte for byte, under the same names.
 * A chunk damaged on the way is refused and leaves no body behind. */

static void test_files_travel_with_the_snapshot(void **state)
{
    fixture *fx = *state, c;
    uint8_t d1[LMS_SHA256_LEN];
    membuf m1 = {0};
    fx_fill_everything(fx);
    snap(fx, FX_FILLED_INDEX, &m1, d1);
    lms_submission s;
    EXPECT_OK(fx_ops->submission_get(fx->st, 20, 0, &s, &fx->err));

    /* a damaged chunk of the big file: refused, and its body not stored */
    membuf bad = m1;
    bad.p = malloc(m1.len);
    assert_non_null(bad.p);
    memcpy(bad.p, m1.p, m1.len);
    bad.p[m1.len / 2] ^= 0x40; /* inside the 5 MB file's chunks */
    fx_open_other(&c, 2);
    lms_snapshot_header out;
    lms_err_clear(&c.err);
    assert_int_equal(fx_ops->snapshot_read(c.st, mem_read, &bad, &out,
                                           &c.err), LMS_DATA_LOSS);
    void *f = NULL;
    lms_err err = {0};
    assert_int_equal(fx_host()->file_open(c.ctx, s.sha256, s.size, &f,
                                          &err), LMS_NOT_FOUND);
    free(bad.p);

    /* the intact stream: every body arrives, under its name */
    EXPECT_OK(fx_ops->snapshot_read(c.st, mem_read, &m1, &out, &c.err));
    unsigned char *want = malloc(FX_BIG_FILE), *got = malloc(FX_BIG_FILE);
    assert_non_null(want);
    assert_non_null(got);
    fx_read_body(fx, s.sha256, s.size, want);
    fx_read_body(&c, s.sha256, s.size, got);
    assert_memory_equal(got, want, FX_BIG_FILE);
    free(want);
    free(got);
    lms_material mat;
    EXPECT_OK(fx_ops->material_get(c.st, 40, 0, &mat, &c.err));
    unsigned char *doc = malloc((size_t)mat.size);
    unsigned char *doc0 = malloc((size_t)mat.size);
    assert_non_null(doc);
    assert_non_null(doc0);
    fx_read_body(&c, mat.sha256, mat.size, doc);
    fx_read_body(fx, mat.sha256, mat.size, doc0);
    assert_memory_equal(doc, doc0, (size_t)mat.size);
    free(doc);
    free(doc0);
    EXPECT_OK(fx_ops->submission_get(c.st, 21, 0, &s, &c.err)); /* empty */
    assert_int_equal(s.size, 0);
    fx_read_body(&c, s.sha256, 0, NULL);
    fx_close_other(&c);
    free(m1.p);
}

static void test_round_trip_into_a_fresh_store(void **state)
{
    fixture *fx = *state, b;
    uint8_t d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN];
    membuf m1 = {0}, m2 = {0};
    fx_fill_everything(fx);
    snap(fx, FX_FILLED_INDEX, &m1, d1);
    fx_open_other(&b, 2);
    lms_snapshot_header out;
    EXPECT_OK(fx_ops->snapshot_read(b.st, mem_read, &m1, &out, &b.err));
    assert_int_equal(m1.pos, m1.len);
    assert_int_equal(out.index, FX_FILLED_INDEX);
    assert_int_equal(out.term, 3);
    assert_int_equal(out.created, 1700000000000);
    assert_int_equal(out.format, LMS_SNAPSHOT_FORMAT);
    assert_string_equal(out.backend, fx_target()->name);
    assert_int_equal(out.config_len, sizeof test_config);
    assert_memory_equal(out.config, test_config, sizeof test_config);
    assert_int_equal(fx_applied(&b), FX_FILLED_INDEX);
    fx_expect_same_state(fx, &b);
    /* The copy snapshots to the same bytes and the same digest. */
    snap(&b, FX_FILLED_INDEX, &m2, d2);
    assert_memory_equal(d1, d2, LMS_SHA256_LEN);
    assert_int_equal(m1.len, m2.len);
    assert_memory_equal(m1.p, m2.p, m1.len);
    /* And the big file reads back through the ordinary op. */
    lms_submission s;
    EXPECT_OK(fx_ops->submission_get(b.st, 20, 1, &s, &b.err));
    assert_int_equal(s.size, FX_BIG_FILE);
    fx_close_other(&b);
    free(m1.p);
    free(m2.p);
}

/* An enrolment with no role (a user who left the course) is a row like
 * any other: it travels, and reads back as role NONE. */
static void test_enrolment_with_no_role_travels(void **state)
{
    fixture *fx = *state, b;
    uint8_t d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN];
    membuf m1 = {0}, m2 = {0};
    fx_seed_people(fx);
    fx_begin(fx);
    lms_enrolment left = {.course = "CS101", .user = "bob", .role = LMS_ROLE_NONE};
    EXPECT_OK(fx_ops->enrolment_put(fx->st, &left, &fx->err));
    fx_commit(fx, 2);
    snap(fx, 2, &m1, d1);
    fx_open_other(&b, 2);
    lms_snapshot_header out;
    EXPECT_OK(fx_ops->snapshot_read(b.st, mem_read, &m1, &out, &b.err));
    fx_expect_same_state(fx, &b);
    int role = -1;
    EXPECT_OK(fx_ops->enrolment_get(b.st, "CS101", "bob", &role, &b.err));
    assert_int_equal(role, LMS_ROLE_NONE);
    snap(&b, 2, &m2, d2);
    assert_memory_equal(d1, d2, LMS_SHA256_LEN);
    fx_close_other(&b);
    free(m1.p);
    free(m2.p);
}

static void test_pieces_stay_small(void **state)
{
    fixture *fx = *state;
    uint8_t d[LMS_SHA256_LEN];
    membuf m = {0};
    fx_fill_everything(fx);
    snap(fx, FX_FILLED_INDEX, &m, d);
    assert_true(m.len > FX_BIG_FILE);
    /* One record per write: a chunk and its framing at most. */
    assert_true(m.max_piece <= LMS_SNAPSHOT_CHUNK + 64);
    assert_true(m.writes > FX_BIG_FILE / LMS_SNAPSHOT_CHUNK);
    free(m.p);
}

static void test_digest_depends_on_state_index_not_time(void **state)
{
    fixture *fx = *state;
    uint8_t d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN], d3[LMS_SHA256_LEN];
    membuf m1 = {0}, m2 = {0}, m3 = {0};
    fx_seed_people(fx);
    snap(fx, 5, &m1, d1);
    lms_snapshot_header later = {.index = 5, .term = 3,
                                 .config = test_config,
                                 .config_len = sizeof test_config,
                                 .created = 1800000000000};
    EXPECT_OK(fx_ops->snapshot_write(fx->st, &later, mem_write, &m2, d2,
                                     &fx->err));
    assert_memory_equal(d1, d2, LMS_SHA256_LEN); /* created is not digested */
    snap(fx, 6, &m3, d3);
    assert_memory_not_equal(d1, d3, LMS_SHA256_LEN); /* the index is */
    free(m1.p);
    free(m2.p);
    free(m3.p);
}

static void test_empty_store(void **state)
{
    fixture *fx = *state, b;
    uint8_t d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN];
    membuf m1 = {0}, m2 = {0};
    fx_begin(fx);
    fx_commit(fx, 0); /* so that both stores have an applied index row */
    snap(fx, 0, &m1, d1);
    fx_open_other(&b, 2);
    snap(&b, 0, &m2, d2);
    assert_memory_equal(d1, d2, LMS_SHA256_LEN);
    assert_int_equal(m1.len, m2.len);
    /* Reading the empty snapshot empties a full store. */
    fx_fill_everything(&b);
    lms_snapshot_header out;
    EXPECT_OK(fx_ops->snapshot_read(b.st, mem_read, &m1, &out, &b.err));
    uint64_t n = 99;
    EXPECT_OK(fx_ops->user_count(b.st, &n, &b.err));
    assert_int_equal(n, 0);
    assert_int_equal(fx_applied(&b), 0);
    fx_expect_same_state(fx, &b);
    fx_close_other(&b);
    free(m1.p);
    free(m2.p);
}

/* Feed b the damaged stream (len bytes of p) and check that it is refused
 * with code and that b's rows, digest and applied index are what they
 * were. */
static void expect_refused(fixture *b, const void *p, size_t len, int code,
                           const char *what)
{
    char *before = fx_list_everything(b);
    uint64_t applied = fx_applied(b);
    uint8_t d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN];
    fx_digest(b, applied, d1);
    membuf m = {.p = (unsigned char *)p, .len = len};
    lms_snapshot_header out;
    lms_err_clear(&b->err);
    int rc = fx_ops->snapshot_read(b->st, mem_read, &m, &out, &b->err);
    if (rc != code)
        fail_msg("%s: snapshot_read returned %d, expected %d (%s)", what, rc,
                 code, b->err.msg);
    char *after = fx_list_everything(b);
    if (strcmp(before, after) != 0)
        fail_msg("%s: the refused snapshot changed the store", what);
    assert_int_equal(fx_applied(b), applied);
    fx_digest(b, applied, d2);
    if (memcmp(d1, d2, sizeof d1) != 0)
        fail_msg("%s: the refused snapshot changed the digest", what);
    free(before);
    free(after);
}

/* The offset of the last record (the trailer) of a stream. */
static size_t trailer_at(const unsigned char *p, size_t len)
{
    size_t at = 0, last = 0;
    while (at + 4 <= len) {
        last = at;
        at += 4 + ((size_t)p[at] << 24 | (size_t)p[at + 1] << 16 |
                   (size_t)p[at + 2] << 8 | p[at + 3]);
    }
    assert_int_equal(at, len);
    return last;
}

static void test_damaged_streams_are_refused(void **state)
{
    fixture *fx = *state, b;
    uint8_t d[LMS_SHA256_LEN];
    membuf m = {0};
    fx_fill_everything(fx);
    snap(fx, FX_FILLED_INDEX, &m, d);
    fx_open_other(&b, 2);
    fx_seed_people(&b); /* the old state: people, applied index 1 */
    unsigned char *bad = malloc(m.len);
    assert_non_null(bad);
    /* Header: len(4) 0a len 08 01 10 <index>. */
    assert_int_equal(m.p[9], FX_FILLED_INDEX);
    size_t trailer = trailer_at(m.p, m.len);
    size_t flips[] = {9, 200, 5000, m.len / 2, trailer - 3, m.len - 1};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        memcpy(bad, m.p, m.len);
        bad[flips[i]] ^= 0x20;
        char what[64];
        snprintf(what, sizeof what, "byte %zu flipped", flips[i]);
        expect_refused(&b, bad, m.len, LMS_DATA_LOSS, what);
    }
    size_t cuts[] = {0, 3, 40, m.len / 3, trailer, m.len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", cuts[i]);
        expect_refused(&b, m.p, cuts[i], LMS_DATA_LOSS, what);
    }
    /* Trailer: len(4) 82 01 len 08 <count> 12 20 <digest>. */
    memcpy(bad, m.p, m.len);
    assert_int_equal(bad[trailer + 7], 0x08);
    assert_true(bad[trailer + 8] < 0x7f);
    bad[trailer + 8]++;
    expect_refused(&b, bad, m.len, LMS_DATA_LOSS, "wrong count");
    memcpy(bad, m.p, m.len);
    bad[trailer + 11] ^= 1;
    expect_refused(&b, bad, m.len, LMS_DATA_LOSS, "wrong digest");
    /* The intact stream still goes in afterwards. */
    m.pos = 0;
    lms_snapshot_header out;
    EXPECT_OK(fx_ops->snapshot_read(b.st, mem_read, &m, &out, &b.err));
    assert_int_equal(fx_applied(&b), FX_FILLED_INDEX);
    fx_close_other(&b);
    free(bad);
    free(m.p);
}

static void test_preconditions_and_a_refusing_writer(void **state)
{
    fixture *fx = *state;
    uint8_t d[LMS_SHA256_LEN];
    membuf m = {0};
    lms_snapshot_header h = {.index = 1};
    fx_seed_people(fx);
    fx_begin(fx);
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->snapshot_write(fx->st, &h, mem_write, &m, d,
                                       &fx->err));
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->snapshot_read(fx->st, mem_read, &m, &h, &fx->err));
    EXPECT_OK(fx_ops->rollback(fx->st, &fx->err));
    m.fail_at = 100;
    EXPECT_CODE(LMS_ABORTED,
                fx_ops->snapshot_write(fx->st, &h, mem_write, &m, d,
                                       &fx->err));
    /* No transaction was left open. */
    fx_begin(fx);
    fx_commit(fx, 2);
    assert_int_equal(fx_applied(fx), 2);
    free(m.p);
}

/* A pinned view: the state at the pin, whatever the store does next, also
 * when the view is written on another thread; the store's own writes and
 * snapshots go on meanwhile. */
typedef struct view_job {
    void *view;
    lms_snapshot_header h;
    membuf m;
    uint8_t digest[LMS_SHA256_LEN];
    int rc;
    lms_err err;
} view_job;

static void *write_view_thread(void *arg)
{
    view_job *j = arg;
    j->rc = fx_ops->snapshot_write_view(j->view, &j->h, mem_write, &j->m,
                                        j->digest, &j->err);
    return NULL;
}

static void test_pinned_view_keeps_its_state(void **state)
{
    fixture *fx = *state;
    uint8_t before[LMS_SHA256_LEN], after[LMS_SHA256_LEN];
    membuf m1 = {0}, m2 = {0};
    fx_seed_people(fx);
    snap(fx, 1, &m1, before);
    view_job j = {.h = {.index = 1, .term = 3, .config = test_config,
                        .config_len = sizeof test_config,
                        .created = 1700000000000}};
    EXPECT_OK(fx_ops->snapshot_pin(fx->st, &j.view, &fx->err));
    assert_non_null(j.view);
    /* The store moves on: everything else, at index 2. */
    fx_fill_everything(fx);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, write_view_thread, &j), 0);
    snap(fx, FX_FILLED_INDEX, &m2, after); /* meanwhile, on this thread */
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j.rc, LMS_OK);
    /* The view wrote the state of the pin, byte for byte. */
    assert_memory_equal(j.digest, before, LMS_SHA256_LEN);
    assert_int_equal(j.m.len, m1.len);
    assert_memory_equal(j.m.p, m1.p, m1.len);
    assert_memory_not_equal(after, before, LMS_SHA256_LEN);
    fx_ops->snapshot_unpin(j.view);
    /* Not inside a transaction. */
    void *v = NULL;
    fx_begin(fx);
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->snapshot_pin(fx->st, &v, &fx->err));
    assert_null(v);
    EXPECT_OK(fx_ops->rollback(fx->st, &fx->err));
    fx_ops->snapshot_unpin(NULL); /* a no-op */
    free(m1.p);
    free(m2.p);
    free(j.m.p);
}

/* Put lmsd's record key = value in fx's store, in a transaction of its
 * own that leaves the applied index. */
static void meta_put(fixture *fx, const char *key, const char *value)
{
    uint64_t at = fx_applied(fx);
    fx_begin(fx);
    EXPECT_OK(fx_ops->meta_put(fx->st, key, value, &fx->err));
    fx_commit(fx, at);
}

static void expect_meta(fixture *fx, const char *key, const char *want)
{
    char got[LMS_TITLE_MAX + 1];
    EXPECT_OK(fx_ops->meta_get(fx->st, key, got, sizeof got, &fx->err));
    assert_string_equal(got, want);
}

/* ABI 1.3: lmsd's records about the store are the store's, not the
 * state's: kept across reopen and across an installed snapshot, never in
 * a snapshot or its digest; refused outside a transaction, through a
 * reader, and for keys or values storage.h does not allow. */
static void test_meta_belongs_to_the_store_not_the_state(void **state)
{
    fixture *fx = *state, b;
    char v[LMS_TITLE_MAX + 1];
    uint8_t d0[LMS_SHA256_LEN], d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN];
    EXPECT_CODE(LMS_NOT_FOUND,
                fx_ops->meta_get(fx->st, "owner_node", v, sizeof v, &fx->err));
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->meta_put(fx->st, "owner_node", "1", &fx->err));
    fx_fill_everything(fx);
    fx_digest(fx, FX_FILLED_INDEX, d0);

    fx_begin(fx);
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->meta_put(fx->st, "Owner Node", "1", &fx->err));
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->meta_put(fx->st, "", "1", &fx->err));
    char big[LMS_TITLE_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->meta_put(fx->st, "owner_node", big, &fx->err));
    EXPECT_OK(fx_ops->rollback(fx->st, &fx->err));
    meta_put(fx, "owner_cluster", "gr\xc3\xbcn-\xf0\x9f\x8c\xb2");
    meta_put(fx, "owner_node", "1");
    meta_put(fx, "owner_node", "2"); /* replaces */
    assert_int_equal(fx_applied(fx), FX_FILLED_INDEX);
    expect_meta(fx, "owner_node", "2");
    expect_meta(fx, "owner_cluster", "gr\xc3\xbcn-\xf0\x9f\x8c\xb2");
    EXPECT_CODE(LMS_OUT_OF_RANGE,
                fx_ops->meta_get(fx->st, "owner_node", v, 1, &fx->err));
    fx_digest(fx, FX_FILLED_INDEX, d1);
    assert_memory_equal(d0, d1, LMS_SHA256_LEN); /* not the state's */

    EXPECT_OK(fx_reopen(fx));
    EXPECT_OK(fx_ops->migrate(fx->st, NULL, &fx->err));
    expect_meta(fx, "owner_node", "2");

    /* Another store's snapshot replaces the state, not the records; and
     * the other store's records do not travel with its snapshot. */
    membuf m = {0};
    fx_open_other(&b, 2);
    meta_put(&b, "owner_node", "9");
    fx_seed_people(&b);
    snap(&b, fx_applied(&b), &m, d2);
    lms_snapshot_header out;
    EXPECT_OK(fx_ops->snapshot_read(fx->st, mem_read, &m, &out, &fx->err));
    expect_meta(fx, "owner_node", "2");
    expect_meta(fx, "owner_cluster", "gr\xc3\xbcn-\xf0\x9f\x8c\xb2");
    membuf m2 = {0};
    snap(fx, out.index, &m2, d1); /* the same header as b's */
    assert_memory_equal(d1, d2, LMS_SHA256_LEN);
    fx_close_other(&b);
    free(m.p);
    free(m2.p);
}

int suite_snapshot_tests(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_round_trip_into_a_fresh_store),
        T(test_enrolment_with_no_role_travels),
        T(test_files_travel_with_the_snapshot),
        T(test_pieces_stay_small),
        T(test_digest_depends_on_state_index_not_time),
        T(test_empty_store),
        T(test_damaged_streams_are_refused),
        T(test_preconditions_and_a_refusing_writer),
        T(test_pinned_view_keeps_its_state),
        T(test_meta_belongs_to_the_store_not_the_state),
#undef T
    };
    return cmocka_run_group_tests_name("storage suite: snapshots", tests,
                                       NULL, NULL);
}

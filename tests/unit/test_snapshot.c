/* SPDX-License-Identifier: MIT */
/*
 * test_snapshot.c: core/repl/snapshot.c against the real storage_sqlite plugin
 * (through tests/storage's fixture): a store with every kind of row saved
 * to a file and loaded into a fresh store, table for table, with equal
 * digests; the header read back by snapshot_peek; a damaged file refused
 * with the old state kept; a file cut in chunks and put back together by
 * the receiver (retransmissions, gaps, a short transfer); a sealed file
 * waiting under its temp name until it is adopted or removed;
 * snapshot_latest skipping temp files and damaged headers; snapshot_prune;
 * a backup checked whole (snapshot_check) and made the first snapshot of a
 * new cluster (snapshot_rehead), a damaged one refused with no file left.
 */
#include "snapshot.h"
#include "storage_fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char conf_bytes[] = {'m', 0, 'e', 'm'};

static lms_snapshot_header header_at(uint64_t index)
{
    lms_snapshot_header h = {.index = index, .term = 4,
                             .config = conf_bytes,
                             .config_len = sizeof conf_bytes,
                             .created = 123456};
    return h;
}

/* "<data dir>/<name>", creating it as a directory if mkdir. */
static void in_dir(const fixture *fx, const char *name, int mkdir_it,
                   char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", fx->ctx->data_dir, name);
    if (n < 0 || (size_t)n >= cap)
        fail_msg("path too long: %s/%s", fx->ctx->data_dir, name);
    if (mkdir_it && mkdir(out, 0755) != 0)
        fail_msg("mkdir %s", out);
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *p = malloc(*n ? *n : 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void test_save_and_load_round_trip(void **state)
{
    fixture *fx = *state, b;
    char dir[PATH_MAX], path[PATH_MAX], a_db[PATH_MAX], b_db[PATH_MAX];
    uint8_t d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN];
    fx_fill_everything(fx);
    in_dir(fx, "snap", 1, dir, sizeof dir);
    lms_snapshot_header h = header_at(FX_FILLED_INDEX);
    EXPECT_OK(snapshot_save(fx_ops, fx->st, dir, &h, d1, &fx->err));
    assert_int_equal(snapshot_path(dir, FX_FILLED_INDEX, path, sizeof path),
                     0);
    EXPECT_CONTAINS(path, "/snap-00000000000000000077.lmss");
    assert_true(exists(path));
    snapshot_info info;
    EXPECT_OK(snapshot_peek(path, &info, &fx->err));
    assert_int_equal(info.index, FX_FILLED_INDEX);
    assert_int_equal(info.term, 4);
    assert_int_equal(info.created, 123456);
    assert_string_equal(info.backend, "storage_sqlite");
    assert_int_equal(info.config_len, sizeof conf_bytes);
    assert_memory_equal(info.config, conf_bytes, sizeof conf_bytes);
    assert_true(info.size > FX_BIG_FILE);
    snapshot_info_free(&info);

    fx_open_other(&b, 2);
    lms_snapshot_header out;
    EXPECT_OK(snapshot_load(fx_ops, b.st, path, &out, &fx->err));
    assert_int_equal(out.index, FX_FILLED_INDEX);
    assert_int_equal(fx_applied(&b), FX_FILLED_INDEX);
    fx_db_path(fx, a_db, sizeof a_db);
    fx_db_path(&b, b_db, sizeof b_db);
    fx_expect_same_tables(a_db, b_db);
    in_dir(fx, "snap-b", 1, dir, sizeof dir);
    EXPECT_OK(snapshot_save(fx_ops, b.st, dir, &h, d2, &fx->err));
    assert_memory_equal(d1, d2, LMS_SHA256_LEN);
    fx_close_other(&b);
}

static void test_damaged_file_keeps_the_old_state(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX], path[PATH_MAX];
    fx_seed_people(fx);
    in_dir(fx, "snap", 1, dir, sizeof dir);
    lms_snapshot_header h = header_at(9);
    EXPECT_OK(snapshot_save(fx_ops, fx->st, dir, &h, NULL, &fx->err));
    snapshot_path(dir, 9, path, sizeof path);
    size_t n = 0;
    unsigned char *p = read_file(path, &n);
    p[n / 2] ^= 0x01;
    write_file(path, p, n);
    fx_begin(fx);
    fx_commit(fx, 3);
    lms_snapshot_header out;
    EXPECT_CODE(LMS_DATA_LOSS,
                snapshot_load(fx_ops, fx->st, path, &out, &fx->err));
    assert_int_equal(fx_applied(fx), 3);
    uint64_t users = 0;
    EXPECT_OK(fx_ops->user_count(fx->st, &users, &fx->err));
    assert_int_equal(users, 4);
    EXPECT_CODE(LMS_UNAVAILABLE, snapshot_load(fx_ops, fx->st, "/nonexistent",
                                               &out, &fx->err));
    free(p);
}

/* Found by review: a received snapshot whose header checks out but whose
 * body is damaged was renamed and the log reset after it before anything
 * read the body; its load then failed at every start. snapshot_verify
 * reads it all first: the header's index and term, the trailer's count
 * and digest. */
static void test_verify_reads_the_whole_file(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX], path[PATH_MAX];
    fx_seed_people(fx);
    in_dir(fx, "snapv", 1, dir, sizeof dir);
    lms_snapshot_header h = header_at(9);
    EXPECT_OK(snapshot_save(fx_ops, fx->st, dir, &h, NULL, &fx->err));
    snapshot_path(dir, 9, path, sizeof path);
    EXPECT_OK(snapshot_verify(path, 9, h.term, &fx->err));
    EXPECT_CODE(LMS_DATA_LOSS, snapshot_verify(path, 10, h.term, &fx->err));
    assert_non_null(strstr(fx->err.msg, "another index or term"));
    EXPECT_CODE(LMS_DATA_LOSS, snapshot_verify(path, 9, h.term + 1, &fx->err));
    size_t n = 0;
    unsigned char *p = read_file(path, &n);
    p[n - 40] ^= 0x01; /* in the last records, far from the header */
    write_file(path, p, n);
    EXPECT_CODE(LMS_DATA_LOSS, snapshot_verify(path, 9, h.term, &fx->err));
    p[n - 40] ^= 0x01;
    write_file(path, p, n - 3); /* cut short */
    EXPECT_CODE(LMS_DATA_LOSS, snapshot_verify(path, 9, h.term, &fx->err));
    assert_non_null(strstr(fx->err.msg, "before its trailer"));
    write_file(path, p, n);
    EXPECT_OK(snapshot_verify(path, 9, h.term, &fx->err));
    EXPECT_CODE(LMS_UNAVAILABLE,
                snapshot_verify("/nonexistent", 9, h.term, &fx->err));
    free(p);
}

/* Where the records between the header and the trailer of the stream p
 * (n bytes) begin and end. */
static void records_span(const unsigned char *p, size_t n, size_t *from,
                         size_t *to)
{
    size_t pos = 0, last = 0;
    *from = 0;
    while (pos + 4 <= n) {
        size_t len = (size_t)p[pos] << 24 | (size_t)p[pos + 1] << 16 |
                     (size_t)p[pos + 2] << 8 | p[pos + 3];
        assert_true(pos + 4 + len <= n);
        if (pos == 0)
            *from = 4 + len;
        last = pos;
        pos += 4 + len;
    }
    assert_int_equal(pos, n);
    *to = last;
}

/* A backup (any index and term) checked whole, and made the first
 * snapshot of another cluster: same index and records, new term and
 * configuration, a trailer of its own; it loads into a fresh store. A
 * damaged source leaves no file. */
static void test_check_and_rehead(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX], to[PATH_MAX], path[PATH_MAX], copy[PATH_MAX];
    fx_seed_people(fx);
    in_dir(fx, "snapb", 1, dir, sizeof dir);
    in_dir(fx, "snapr", 1, to, sizeof to);
    lms_snapshot_header h = header_at(12);
    uint8_t saved[LMS_SHA256_LEN], checked[LMS_SHA256_LEN], re[LMS_SHA256_LEN];
    EXPECT_OK(snapshot_save(fx_ops, fx->st, dir, &h, saved, &fx->err));
    snapshot_path(dir, 12, path, sizeof path);
    snapshot_info info;
    EXPECT_OK(snapshot_check(path, &info, checked, &fx->err));
    assert_int_equal(info.index, 12);
    assert_int_equal(info.term, 4);
    assert_memory_equal(saved, checked, LMS_SHA256_LEN);
    snapshot_info_free(&info);

    static const uint8_t cfg2[] = {'n', 'e', 'w'};
    EXPECT_OK(snapshot_rehead(path, to, 1, cfg2, sizeof cfg2, &info, re,
                              &fx->err));
    assert_int_equal(info.index, 12); /* the source's header */
    assert_int_equal(info.term, 4);
    snapshot_info_free(&info);
    snapshot_path(to, 12, copy, sizeof copy);
    EXPECT_OK(snapshot_verify(copy, 12, 1, &fx->err));
    EXPECT_OK(snapshot_check(copy, &info, checked, &fx->err));
    assert_memory_equal(re, checked, LMS_SHA256_LEN);
    assert_memory_not_equal(re, saved, LMS_SHA256_LEN); /* term and config */
    assert_int_equal(info.config_len, sizeof cfg2);
    assert_memory_equal(info.config, cfg2, sizeof cfg2);
    snapshot_info_free(&info);
    /* the same records between header and trailer, byte for byte */
    size_t an = 0, bn = 0, a0, a1, b0, b1;
    unsigned char *ap = read_file(path, &an), *bp = read_file(copy, &bn);
    records_span(ap, an, &a0, &a1);
    records_span(bp, bn, &b0, &b1);
    assert_int_equal(a1 - a0, b1 - b0);
    assert_memory_equal(ap + a0, bp + b0, a1 - a0);
    free(ap);
    free(bp);
    /* the copy loads */
    lms_snapshot_header got;
    EXPECT_OK(snapshot_load(fx_ops, fx->st, copy, &got, &fx->err));
    assert_int_equal(got.index, 12);

    /* damaged, cut short, or followed by more: refused, no file left */
    size_t n = 0;
    unsigned char *p = read_file(path, &n);
    unlink(copy);
    p[n / 2] ^= 0x10;
    write_file(path, p, n);
    EXPECT_CODE(LMS_DATA_LOSS, snapshot_check(path, NULL, NULL, &fx->err));
    EXPECT_CODE(LMS_DATA_LOSS, snapshot_rehead(path, to, 1, cfg2, sizeof cfg2,
                                               NULL, NULL, &fx->err));
    assert_false(exists(copy));
    p[n / 2] ^= 0x10;
    write_file(path, p, n - 1);
    EXPECT_CODE(LMS_DATA_LOSS, snapshot_check(path, NULL, NULL, &fx->err));
    unsigned char *longer = malloc(n + 1);
    assert_non_null(longer);
    memcpy(longer, p, n);
    longer[n] = 0;
    write_file(path, longer, n + 1);
    EXPECT_CODE(LMS_DATA_LOSS, snapshot_check(path, NULL, NULL, &fx->err));
    assert_non_null(strstr(fx->err.msg, "follow its trailer"));
    EXPECT_CODE(LMS_DATA_LOSS, snapshot_rehead(path, to, 1, cfg2, sizeof cfg2,
                                               NULL, NULL, &fx->err));
    assert_false(exists(copy));
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", copy);
    assert_false(exists(tmp));
    write_file(path, p, n);
    EXPECT_OK(snapshot_check(path, NULL, NULL, &fx->err));
    free(longer);
    free(p);
}

/* Send the file at path in chunks of chunk bytes into rx, sending the
 * second chunk twice and trying a gap once. */
static void send_chunks(fixture *fx, const char *path, size_t chunk,
                        snapshot_receiver *rx)
{
    snapshot_reader r;
    EXPECT_OK(snapshot_reader_open(&r, path, chunk, &fx->err));
    unsigned char *buf = malloc(chunk);
    assert_non_null(buf);
    size_t len = 0;
    int last = 0;
    for (uint64_t off = 0; !last; off += len) {
        EXPECT_OK(snapshot_reader_read(&r, off, buf, &len, &last, &fx->err));
        assert_true(len == chunk || last);
        EXPECT_OK(snapshot_receiver_write(rx, off, buf, len, &fx->err));
        if (off == chunk) /* a retransmission is harmless */
            EXPECT_OK(snapshot_receiver_write(rx, off, buf, len, &fx->err));
        if (off == 0 && !last) /* a gap is not */
            EXPECT_CODE(LMS_OUT_OF_RANGE, snapshot_receiver_write(
                            rx, 2 * chunk, buf, len, &fx->err));
    }
    EXPECT_CODE(LMS_OUT_OF_RANGE,
                snapshot_reader_read(&r, r.size + chunk, buf, &len, &last,
                                     &fx->err));
    EXPECT_CODE(LMS_OUT_OF_RANGE,
                snapshot_reader_read(&r, 7, buf, &len, &last, &fx->err));
    snapshot_reader_close(&r);
    free(buf);
}

static void test_chunked_transfer_round_trip(void **state)
{
    fixture *fx = *state, b;
    char src[PATH_MAX], dst[PATH_MAX], path[PATH_MAX], got[PATH_MAX];
    fx_fill_everything(fx);
    in_dir(fx, "leader", 1, src, sizeof src);
    in_dir(fx, "follower", 1, dst, sizeof dst);
    lms_snapshot_header h = header_at(FX_FILLED_INDEX);
    EXPECT_OK(snapshot_save(fx_ops, fx->st, src, &h, NULL, &fx->err));
    snapshot_path(src, FX_FILLED_INDEX, path, sizeof path);
    snapshot_receiver rx;
    EXPECT_OK(snapshot_receiver_open(&rx, dst, FX_FILLED_INDEX, &fx->err));
    send_chunks(fx, path, 1u << 20, &rx);
    EXPECT_OK(snapshot_receiver_finish(&rx, rx.received, got, sizeof got,
                                       &fx->err));
    snapshot_receiver_abort(&rx); /* harmless after finish */
    size_t n1 = 0, n2 = 0;
    unsigned char *a = read_file(path, &n1), *c = read_file(got, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, c, n1);
    free(a);
    free(c);
    fx_open_other(&b, 2);
    lms_snapshot_header out;
    EXPECT_OK(snapshot_load(fx_ops, b.st, got, &out, &fx->err));
    assert_int_equal(fx_applied(&b), FX_FILLED_INDEX);
    fx_close_other(&b);
}

static void test_short_transfer_is_refused(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX], final[PATH_MAX], tmp[PATH_MAX + 8];
    in_dir(fx, "follower", 1, dir, sizeof dir);
    snapshot_receiver rx;
    EXPECT_OK(snapshot_receiver_open(&rx, dir, 8, &fx->err));
    EXPECT_OK(snapshot_receiver_write(&rx, 0, "abc", 3, &fx->err));
    EXPECT_CODE(LMS_DATA_LOSS,
                snapshot_receiver_finish(&rx, 10, NULL, 0, &fx->err));
    snapshot_path(dir, 8, final, sizeof final);
    snprintf(tmp, sizeof tmp, "%s.recv", final);
    assert_false(exists(final));
    assert_false(exists(tmp));
}

/* Issue 8: a received snapshot is durable under its temp name, which no
 * restart picks, until the node adopts it (Raft installs it) or removes
 * it; a start removes every temp file. */
static void test_sealed_file_waits_under_its_temp_name(void **state)
{
    fixture *fx = *state;
    char src[PATH_MAX], dst[PATH_MAX], path[PATH_MAX], got[PATH_MAX];
    fx_seed_people(fx);
    in_dir(fx, "leader", 1, src, sizeof src);
    in_dir(fx, "follower", 1, dst, sizeof dst);
    uint64_t idx[] = {7, 8};
    for (size_t i = 0; i < 2; i++) {
        lms_snapshot_header h = header_at(idx[i]);
        EXPECT_OK(snapshot_save(fx_ops, fx->st, src, &h, NULL, &fx->err));
        snapshot_path(src, idx[i], path, sizeof path);
        snapshot_receiver rx;
        EXPECT_OK(snapshot_receiver_open(&rx, dst, idx[i], &fx->err));
        send_chunks(fx, path, 4096, &rx);
        EXPECT_OK(snapshot_receiver_seal(&rx, rx.received, got, sizeof got,
                                         &fx->err));
        snapshot_receiver_abort(&rx); /* the receiver forgot it: a no-op */
        EXPECT_CONTAINS(got, ".recv");
        assert_true(exists(got));
    }
    EXPECT_CODE(LMS_NOT_FOUND,
                snapshot_latest(dst, path, sizeof path, NULL, &fx->err));
    EXPECT_OK(snapshot_adopt(dst, 7, &fx->err));
    snapshot_info info;
    EXPECT_OK(snapshot_latest(dst, path, sizeof path, &info, &fx->err));
    assert_int_equal(info.index, 7);
    snapshot_info_free(&info);
    unsigned removed = 0;
    EXPECT_OK(snapshot_remove_temps(dst, &removed, &fx->err));
    assert_int_equal(removed, 1); /* 8's temp file */
    snapshot_recv_path(dst, 8, path, sizeof path);
    assert_false(exists(path));
    EXPECT_CODE(LMS_UNAVAILABLE, snapshot_adopt(dst, 8, &fx->err));
    EXPECT_OK(snapshot_remove_recv(dst, 8, &fx->err)); /* none: fine */
}

static void test_latest_skips_temp_and_damaged_files(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX], path[PATH_MAX], p[PATH_MAX + 32];
    in_dir(fx, "snap", 1, dir, sizeof dir);
    EXPECT_CODE(LMS_NOT_FOUND,
                snapshot_latest(dir, path, sizeof path, NULL, &fx->err));
    fx_seed_people(fx);
    uint64_t saved[] = {5, 12, 9};
    for (size_t i = 0; i < 3; i++) {
        lms_snapshot_header h = header_at(saved[i]);
        EXPECT_OK(snapshot_save(fx_ops, fx->st, dir, &h, NULL, &fx->err));
    }
    /* A torn temp file of a newer snapshot, a damaged newer file, a file
     * whose header names another index, and strangers. */
    snapshot_path(dir, 20, path, sizeof path);
    snprintf(p, sizeof p, "%s.tmp", path);
    write_file(p, "\0\0\0\x05torn", 8);
    snapshot_path(dir, 30, p, sizeof p);
    write_file(p, "garbage!", 8);
    snapshot_path(dir, 9, path, sizeof path);
    size_t n = 0;
    unsigned char *nine = read_file(path, &n);
    snapshot_path(dir, 40, p, sizeof p);
    write_file(p, nine, n);
    free(nine);
    snprintf(p, sizeof p, "%s/snap-99.lmss.bak", dir);
    write_file(p, "x", 1);
    snapshot_info info;
    EXPECT_OK(snapshot_latest(dir, path, sizeof path, &info, &fx->err));
    assert_int_equal(info.index, 12);
    EXPECT_CONTAINS(path, "snap-00000000000000000012.lmss");
    snapshot_info_free(&info);
}

static void test_prune_keeps_the_newest(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX], path[PATH_MAX], p[PATH_MAX + 8];
    in_dir(fx, "snap", 1, dir, sizeof dir);
    fx_seed_people(fx);
    uint64_t saved[] = {5, 9, 12};
    for (size_t i = 0; i < 3; i++) {
        lms_snapshot_header h = header_at(saved[i]);
        EXPECT_OK(snapshot_save(fx_ops, fx->st, dir, &h, NULL, &fx->err));
    }
    snapshot_path(dir, 7, path, sizeof path); /* a stale temp file */
    snprintf(p, sizeof p, "%s.tmp", path);
    write_file(p, "x", 1);
    snapshot_path(dir, 20, path, sizeof path); /* a transfer in progress */
    char recv[PATH_MAX + 8];
    snprintf(recv, sizeof recv, "%s.recv", path);
    write_file(recv, "x", 1);
    EXPECT_OK(snapshot_prune(dir, 2, 0, &fx->err));
    int want[][2] = {{5, 0}, {9, 1}, {12, 1}};
    for (size_t i = 0; i < 3; i++) {
        snapshot_path(dir, (uint64_t)want[i][0], path, sizeof path);
        assert_int_equal(exists(path), want[i][1]);
    }
    assert_false(exists(p));
    assert_true(exists(recv));
    /* The protected one stays, whatever its age. */
    lms_snapshot_header h15 = header_at(15);
    EXPECT_OK(snapshot_save(fx_ops, fx->st, dir, &h15, NULL, &fx->err));
    EXPECT_OK(snapshot_prune(dir, 1, 9, &fx->err));
    int after[][2] = {{9, 1}, {12, 0}, {15, 1}};
    for (size_t i = 0; i < 3; i++) {
        snapshot_path(dir, (uint64_t)after[i][0], path, sizeof path);
        assert_int_equal(exists(path), after[i][1]);
    }
}

int main(void)
{
    if (fx_load_plugin() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_save_and_load_round_trip),
        T(test_damaged_file_keeps_the_old_state),
        T(test_verify_reads_the_whole_file),
        T(test_check_and_rehead),
        T(test_chunked_transfer_round_trip),
        T(test_short_transfer_is_refused),
        T(test_sealed_file_waits_under_its_temp_name),
        T(test_latest_skips_temp_and_damaged_files),
        T(test_prune_keeps_the_newest),
#undef T
    };
    int failed = cmocka_run_group_tests_name("core/repl/snapshot.c", tests, NULL,
                                             NULL);
    fx_unload_plugin();
    return failed ? 1 : 0;
}

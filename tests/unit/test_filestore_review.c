/* SPDX-License-Identifier: MIT */
/*
 * test_filestore_review.c: what a review found in core/base/filestore.c.
 * Linked with -Wl,--wrap=fsync so that a test can see which fsyncs a put
 * makes, and act at the moment a directory is being synced.
 *
 *  - a put that finds the name already there returns LMS_OK without making
 *    that name durable: another put of the same body may still be between
 *    its rename and its directory fsync (two students handing in the same
 *    file, the work stage and apply), or a crash may have cut a put short
 *    right after its rename: a row then commits naming a body whose name a
 *    power cut can still take away.
 *  - opening the store removes what is in files/tmp before anything keeps a second
 *    lmsd away (the data-dir flock is taken later, by the WAL): a second
 *    lmsd started on the same data dir deletes the running one's bodies in
 *    flight, and their rename then fails (ENOENT, reported NOT_FOUND).
 */
#include "filestore.h"
#include "rm_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

int __real_fsync(int fd);
int __wrap_fsync(int fd);

typedef struct tfx {
    char dir[64];
    filestore *fs;
} tfx;

static tfx *g_t;
static int g_fsyncs;          /* every fsync */
static int g_armed;           /* act at the next fsync of g_dir_ino */
static ino_t g_dir_ino;
static const void *g_body;
static size_t g_len;
static uint8_t g_sha[32];
static int g_nested_rc = -1, g_nested_fsyncs = -1;

int __wrap_fsync(int fd)
{
    g_fsyncs++;
    struct stat st;
    if (g_armed && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
        st.st_ino == g_dir_ino) {
        /* The first put has renamed its body into files/XX and is about to
         * make that name durable: a second put of the same body now. */
        g_armed = 0;
        lms_err err = {0};
        int before = g_fsyncs;
        g_nested_rc = filestore_put(g_t->fs, g_sha, g_body, g_len, 0, &err);
        g_nested_fsyncs = g_fsyncs - before;
    }
    return __real_fsync(fd);
}

static void sha_of(const void *data, size_t len, uint8_t out[32])
{
    unsigned n = 0;
    assert_true(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL));
}

static void names_of(const tfx *t, const uint8_t sha[32], char *dir,
                     size_t dn, char *path, size_t pn)
{
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    snprintf(dir, dn, "%s/files/%.2s", t->dir, hex);
    snprintf(path, pn, "%s/files/%.2s/%s", t->dir, hex, hex);
}

static int setup(void **state)
{
    tfx *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/fs-review-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    lms_err err = {0};
    if (filestore_open(t->dir, &t->fs, &err) != LMS_OK)
        return -1;
    g_t = t;
    g_armed = 0;
    g_nested_rc = g_nested_fsyncs = -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tfx *t = *state;
    filestore_free(t->fs);
    rm_tree(t->dir);
    free(t);
    return 0;
}

/* Two puts of one body: the second must not report it stored (durably,
 * filestore.h) while the first has not yet synced the directory that
 * names it. */
static void test_a_concurrent_put_waits_for_the_name_to_be_durable(void **state)
{
    tfx *t = *state;
    static const char body[] = "the starter code everybody hands in";
    g_body = body;
    g_len = sizeof body - 1;
    sha_of(body, g_len, g_sha);
    char dir[256], path[320];
    names_of(t, g_sha, dir, sizeof dir, path, sizeof path);
    assert_int_equal(mkdir(dir, 0700), 0); /* so its inode is known now */
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    g_dir_ino = st.st_ino;
    g_armed = 1;
    lms_err err = {0};
    assert_int_equal(filestore_put(t->fs, g_sha, body, g_len, 0, &err), LMS_OK);
    assert_int_equal(g_armed, 0); /* the hook ran, between rename and fsync */
    /* The nested put returned LMS_OK ("stored, durably") having synced
     * nothing, while the only fsync of the name's directory was still to
     * come. Its caller would now propose / commit the row. */
    if (g_nested_rc == LMS_OK)
        assert_true(g_nested_fsyncs > 0);
}

/* A crash right after a put's rename leaves the name, not yet durable. A
 * put after the restart must make it durable before saying so. */
static void test_a_name_a_crash_left_is_made_durable_before_it_is_used(void **state)
{
    tfx *t = *state;
    static const char body[] = "renamed, then lmsd was killed";
    uint8_t sha[32];
    sha_of(body, sizeof body - 1, sha);
    char dir[256], path[320];
    names_of(t, sha, dir, sizeof dir, path, sizeof path);
    assert_int_equal(mkdir(dir, 0700), 0);
    FILE *f = fopen(path, "w"); /* what the rename left: no fsync after */
    assert_non_null(f);
    fwrite(body, 1, sizeof body - 1, f);
    fclose(f);
    /* restart */
    filestore_free(t->fs);
    lms_err err = {0};
    g_fsyncs = 0;
    assert_int_equal(filestore_open(t->dir, &t->fs, &err), LMS_OK);
    int before = g_fsyncs;
    assert_int_equal(filestore_put(t->fs, sha, body, sizeof body - 1, 0, &err),
                     LMS_OK);
    assert_true(g_fsyncs - before > 0); /* today: 0, the row commits next */
}

/* A second store opened on the same data dir (a second lmsd started by
 * mistake, a restart racing the old process) must not destroy the first
 * one's bodies in flight. */
static void test_a_second_open_keeps_bodies_in_flight(void **state)
{
    tfx *t = *state;
    static const char body[] = "a 32 MiB upload, being written";
    uint8_t sha[32];
    sha_of(body, sizeof body - 1, sha);
    lms_err err = {0};
    filestore_file *f;
    assert_int_equal(filestore_create(t->fs, sha, sizeof body - 1, &f, &err),
                     LMS_OK);
    assert_int_equal(filestore_write(f, body, 10, &err), LMS_OK);
    filestore *second = NULL;
    lms_err err2 = {0};
    (void)filestore_open(t->dir, &second, &err2); /* may well refuse */
    filestore_free(second);
    assert_int_equal(filestore_write(f, body + 10, sizeof body - 11, &err),
                     LMS_OK);
    int rc = filestore_finish(f, 1, &err);
    if (rc != LMS_OK)
        print_error("finish: %d %s\n", rc, err.msg);
    assert_int_equal(rc, LMS_OK);
    assert_true(filestore_has(t->fs, sha, sizeof body - 1));
}

/* What this process stored itself it knows durable: a second put of the
 * same body (the leader's apply after its work stage's put) syncs
 * nothing. */
static void test_a_body_this_process_stored_needs_no_second_sync(void **state)
{
    tfx *t = *state;
    static const char body[] = "stored by the work stage, found by apply";
    uint8_t sha[32];
    sha_of(body, sizeof body - 1, sha);
    lms_err err = {0};
    assert_int_equal(filestore_put(t->fs, sha, body, sizeof body - 1, 0, &err),
                     LMS_OK);
    int before = g_fsyncs;
    assert_int_equal(filestore_put(t->fs, sha, body, sizeof body - 1, 0, &err),
                     LMS_OK);
    assert_int_equal(g_fsyncs - before, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_a_concurrent_put_waits_for_the_name_to_be_durable),
        T(test_a_name_a_crash_left_is_made_durable_before_it_is_used),
        T(test_a_second_open_keeps_bodies_in_flight),
        T(test_a_body_this_process_stored_needs_no_second_sync),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

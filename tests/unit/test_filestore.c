/* SPDX-License-Identifier: MIT */
/*
 * test_filestore.c: core/base/filestore.c, the content-addressed store of file
 * bodies, on a real directory: names, durability steps visible on disk,
 * dedup, verification of bytes against their name, sizes, streamed
 * writes, leftovers of a crash, and the errors a caller maps to answers.
 */
#include "filestore.h"
#include "rm_tree.h"

#include <dirent.h>
#include <errno.h>
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

typedef struct tfx {
    char dir[64];
    filestore *fs;
} tfx;

static void sha_of(const void *data, size_t len, uint8_t out[32])
{
    unsigned n = 0;
    assert_true(EVP_Digest(len ? data : "", len, out, &n, EVP_sha256(), NULL));
    assert_int_equal(n, 32);
}

static void path_of(const tfx *t, const uint8_t sha[32], char *out, size_t n)
{
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    snprintf(out, n, "%s/files/%.2s/%s", t->dir, hex, hex);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    tfx *t = calloc(1, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/fs-test-XXXXXX");
    if (!t || !mkdtemp(t->dir))
        return -1;
    lms_err err = {0};
    if (filestore_open(t->dir, &t->fs, &err) != LMS_OK)
        return -1;
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

static void test_put_names_the_body_by_its_sha256(void **state)
{
    tfx *t = *state;
    static const char body[] = "int main(void)\0{ return 0; }";
    uint8_t sha[32];
    sha_of(body, sizeof body, sha);
    lms_err err = {0};
    assert_false(filestore_has(t->fs, sha, sizeof body));
    assert_int_equal(filestore_put(t->fs, sha, body, sizeof body, 1, &err),
                     LMS_OK);
    char path[256];
    path_of(t, sha, path, sizeof path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, sizeof body);
    assert_true(filestore_has(t->fs, sha, sizeof body));
    assert_false(filestore_has(t->fs, sha, sizeof body - 1)); /* size too */
    char got[sizeof body];
    assert_int_equal(filestore_get(t->fs, sha, sizeof body, got, &err), LMS_OK);
    assert_memory_equal(got, body, sizeof body); /* NULs included */
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/files/tmp", t->dir);
    assert_int_equal(count_entries(tmp), 0); /* nothing left behind */

    /* identical bodies are stored once: the second put writes nothing */
    assert_int_equal(filestore_put(t->fs, sha, body, sizeof body, 1, &err),
                     LMS_OK);
    struct stat again;
    assert_int_equal(stat(path, &again), 0);
    assert_int_equal(again.st_ino, st.st_ino);

    /* an empty body is a body */
    uint8_t empty[32];
    sha_of("", 0, empty);
    assert_int_equal(filestore_put(t->fs, empty, NULL, 0, 1, &err), LMS_OK);
    assert_true(filestore_has(t->fs, empty, 0));
    assert_int_equal(filestore_get(t->fs, empty, 0, NULL, &err), LMS_OK);
}

static void test_bytes_that_are_not_their_name_are_refused(void **state)
{
    tfx *t = *state;
    uint8_t sha[32];
    sha_of("hello", 5, sha);
    lms_err err = {0};
    assert_int_equal(filestore_put(t->fs, sha, "jello", 5, 1, &err),
                     LMS_DATA_LOSS);
    assert_non_null(strstr(err.msg, "SHA-256"));
    assert_false(filestore_has(t->fs, sha, 5));
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/files/tmp", t->dir);
    assert_int_equal(count_entries(tmp), 0);

    /* streamed: fewer or more bytes than announced */
    filestore_file *f;
    assert_int_equal(filestore_create(t->fs, sha, 5, &f, &err), LMS_OK);
    assert_int_equal(filestore_write(f, "hell", 4, &err), LMS_OK);
    assert_int_equal(filestore_finish(f, 1, &err), LMS_DATA_LOSS);
    assert_false(filestore_has(t->fs, sha, 5));
    assert_int_equal(filestore_create(t->fs, sha, 5, &f, &err), LMS_OK);
    assert_int_equal(filestore_write(f, "hello!", 6, &err), LMS_DATA_LOSS);
    assert_int_equal(filestore_finish(f, 0, &err), LMS_OK); /* abandoned */
    assert_int_equal(count_entries(tmp), 0);

    /* streamed in pieces, the right bytes: stored */
    assert_int_equal(filestore_create(t->fs, sha, 5, &f, &err), LMS_OK);
    assert_int_equal(filestore_write(f, "he", 2, &err), LMS_OK);
    assert_int_equal(filestore_write(f, "llo", 3, &err), LMS_OK);
    assert_int_equal(filestore_finish(f, 1, &err), LMS_OK);
    assert_true(filestore_has(t->fs, sha, 5));
}

static void test_reads_check_presence_and_size(void **state)
{
    tfx *t = *state;
    uint8_t sha[32];
    sha_of("hello", 5, sha);
    lms_err err = {0};
    char buf[8];
    assert_int_equal(filestore_get(t->fs, sha, 5, buf, &err), LMS_NOT_FOUND);
    assert_int_equal(filestore_put(t->fs, sha, "hello", 5, 0, &err), LMS_OK);
    assert_int_equal(filestore_get(t->fs, sha, 6, buf, &err), LMS_DATA_LOSS);
    filestore_file *f;
    assert_int_equal(filestore_open_body(t->fs, sha, 5, &f, &err), LMS_OK);
    assert_int_equal(filestore_read(f, 1, buf, 3, &err), LMS_OK);
    assert_memory_equal(buf, "ell", 3);
    assert_int_equal(filestore_read(f, 3, buf, 3, &err), LMS_DATA_LOSS);
    assert_int_equal(filestore_finish(f, 0, &err), LMS_OK);
}

static void test_leftovers_of_a_crash_are_removed_at_open(void **state)
{
    tfx *t = *state;
    char tmp[128], junk[160];
    snprintf(tmp, sizeof tmp, "%s/files/tmp", t->dir);
    snprintf(junk, sizeof junk, "%s/body-cut-short", tmp);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("half a body", f);
    fclose(f);
    filestore_free(t->fs);
    lms_err err = {0};
    assert_int_equal(filestore_open(t->dir, &t->fs, &err), LMS_OK);
    assert_int_equal(count_entries(tmp), 0);
}

static void test_an_unwritable_store_is_an_error(void **state)
{
    tfx *t = *state;
    /* files/tmp is no directory (root ignores permissions, so not those) */
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/files/tmp", t->dir);
    assert_int_equal(rmdir(tmp), 0);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fclose(f);
    uint8_t sha[32];
    sha_of("x", 1, sha);
    lms_err err = {0};
    int rc = filestore_put(t->fs, sha, "x", 1, 1, &err);
    unlink(tmp);
    assert_int_equal(rc, LMS_INTERNAL);
    assert_non_null(strstr(err.msg, "file store"));
    assert_false(filestore_has(t->fs, sha, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_put_names_the_body_by_its_sha256),
        T(test_bytes_that_are_not_their_name_are_refused),
        T(test_reads_check_presence_and_size),
        T(test_leftovers_of_a_crash_are_removed_at_open),
        T(test_an_unwritable_store_is_an_error),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

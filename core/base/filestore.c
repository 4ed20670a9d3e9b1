/* SPDX-License-Identifier: MIT */
/*
 * filestore.c: see filestore.h.
 */
#include "filestore.h"

#include "lms_assert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Names this process made durable itself lately (a put that finds one of
 * them needs no fsync: the leader's apply after its work stage's put). */
#define DURABLE_RECENT 256

struct filestore {
    char *root; /* <data_dir>/files */
    char *tmp;  /* <root>/tmp */
    int lock;   /* root, flocked: one lmsd per store */
    pthread_mutex_t mu; /* guards durable */
    uint8_t durable[DURABLE_RECENT][FILESTORE_SHA_LEN];
    size_t durable_next;
};

struct filestore_file {
    filestore *fs;
    int fd;
    int writing;
    uint8_t sha[FILESTORE_SHA_LEN];
    uint64_t size, written;
    EVP_MD_CTX *md; /* writing: the SHA-256 of what was written */
    char tmp_path[4200];
};

/* An I/O error as a status: a full disk is RESOURCE_EXHAUSTED (held and
 * retried by the caller); a missing body is NOT_FOUND only when it was
 * being read (reading); anything else is INTERNAL. */
static int io_error(lms_err *err, int e, const char *what, const char *path,
                    int reading)
{
    int code = e == ENOSPC || e == EDQUOT  ? LMS_RESOURCE_EXHAUSTED
               : e == ENOENT && reading    ? LMS_NOT_FOUND
                                           : LMS_INTERNAL;
    return lms_err_set(err, code, "file store: %s %s: %s", what, path,
                       strerror(e));
}


static void hex(const uint8_t *sha, char out[2 * FILESTORE_SHA_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < FILESTORE_SHA_LEN; i++) {
        out[2 * i] = digits[sha[i] >> 4];
        out[2 * i + 1] = digits[sha[i] & 15];
    }
    out[2 * FILESTORE_SHA_LEN] = '\0';
}

/* <root>/XX (dir) and <root>/XX/<hex> (path). */
static void names(const filestore *fs, const uint8_t *sha, char *dir,
                  size_t dlen, char *path, size_t plen)
{
    char h[2 * FILESTORE_SHA_LEN + 1];
    hex(sha, h);
    snprintf(dir, dlen, "%s/%.2s", fs->root, h);
    snprintf(path, plen, "%s/%.2s/%s", fs->root, h, h);
}

static int fsync_dir(const char *dir, lms_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, errno, "opening", dir, 0);
    int rc = fsync(fd) == 0 ? LMS_OK : io_error(err, errno, "syncing", dir, 0);
    close(fd);
    return rc;
}

static int make_dir(const char *dir, int *made, lms_err *err)
{
    *made = 0;
    if (mkdir(dir, 0700) == 0)
        return *made = 1, LMS_OK;
    if (errno == EEXIST)
        return LMS_OK;
    return io_error(err, errno, "creating", dir, 0);
}

int filestore_open(const char *data_dir, filestore **out, lms_err *err)
{
    *out = NULL;
    filestore *fs = calloc(1, sizeof *fs);
    size_t len = strlen(data_dir) + sizeof "/files/tmp";
    if (fs) {
        fs->root = malloc(len);
        fs->tmp = malloc(len);
    }
    if (fs)
        fs->lock = -1;
    if (!fs || !fs->root || !fs->tmp) {
        filestore_free(fs);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    snprintf(fs->root, len, "%s/files", data_dir);
    snprintf(fs->tmp, len, "%s/files/tmp", data_dir);
    fs->lock = -1;
    pthread_mutex_init(&fs->mu, NULL);
    int made;
    int rc = make_dir(fs->root, &made, err);
    if (rc == LMS_OK && made)
        rc = fsync_dir(data_dir, err);
    /* before anything is removed: a second lmsd on this data dir must not
     * take the running one's bodies in flight from under it */
    if (rc == LMS_OK &&
        (fs->lock = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = io_error(err, errno, "opening", fs->root, 0);
    if (rc == LMS_OK && flock(fs->lock, LOCK_EX | LOCK_NB) < 0)
        rc = errno == EWOULDBLOCK
                 ? lms_err_set(err, LMS_FAILED_PRECONDITION,
                               "file store %s is in use by another lmsd (one "
                               "lmsd per data dir)", fs->root)
                 : io_error(err, errno, "locking", fs->root, 0);
    if (rc == LMS_OK)
        rc = make_dir(fs->tmp, &made, err);
    DIR *d = rc == LMS_OK ? opendir(fs->tmp) : NULL;
    if (rc == LMS_OK && !d)
        rc = io_error(err, errno, "opening", fs->tmp, 0);
    if (d) { /* writes a crash cut short: never named, so never referenced */
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    if (rc != LMS_OK) {
        filestore_free(fs);
        return rc;
    }
    *out = fs;
    return LMS_OK;
}

void filestore_free(filestore *fs)
{
    if (!fs)
        return;
    if (fs->lock >= 0)
        close(fs->lock);
    if (fs->root && fs->tmp)
        pthread_mutex_destroy(&fs->mu);
    free(fs->root);
    free(fs->tmp);
    free(fs);
}

const char *filestore_dir(const filestore *fs) { return fs->root; }

int filestore_has(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                  uint64_t size)
{
    char dir[4200], path[4300];
    names(fs, sha, dir, sizeof dir, path, sizeof path);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           (uint64_t)st.st_size == size;
}

int filestore_create(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                     uint64_t size, filestore_file **out, lms_err *err)
{
    *out = NULL;
    filestore_file *f = calloc(1, sizeof *f);
    if (!f || !(f->md = EVP_MD_CTX_new()) ||
        !EVP_DigestInit_ex(f->md, EVP_sha256(), NULL)) {
        if (f)
            EVP_MD_CTX_free(f->md);
        free(f);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    f->fs = fs;
    f->writing = 1;
    f->size = size;
    memcpy(f->sha, sha, FILESTORE_SHA_LEN);
    snprintf(f->tmp_path, sizeof f->tmp_path, "%s/body-XXXXXX", fs->tmp);
    f->fd = mkostemp(f->tmp_path, O_CLOEXEC);
    if (f->fd < 0) {
        int rc = io_error(err, errno, "creating a file in", fs->tmp, 0);
        EVP_MD_CTX_free(f->md);
        free(f);
        return rc;
    }
    *out = f;
    return LMS_OK;
}

int filestore_write(filestore_file *f, const void *buf, size_t len,
                    lms_err *err)
{
    LMS_ASSERT(f->writing);
    if (len > f->size - f->written)
        return lms_err_set(err, LMS_DATA_LOSS,
                           "file store: more than the %llu bytes announced",
                           (unsigned long long)f->size);
    const char *p = buf;
    size_t left = len;
    while (left) {
        ssize_t n = write(f->fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return io_error(err, errno, "writing", f->tmp_path, 0);
        p += n;
        left -= (size_t)n;
    }
    if (f->md)
        EVP_DigestUpdate(f->md, buf, len);
    f->written += len;
    return LMS_OK;
}

int filestore_open_body(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                        uint64_t size, filestore_file **out, lms_err *err)
{
    *out = NULL;
    char dir[4200], path[4300];
    names(fs, sha, dir, sizeof dir, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, errno, "opening", path, 1);
    struct stat st;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
        close(fd);
        return lms_err_set(err, LMS_DATA_LOSS,
                           "file store: %s holds %lld bytes, its row says "
                           "%llu", path, (long long)st.st_size,
                           (unsigned long long)size);
    }
    filestore_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    f->fs = fs;
    f->fd = fd;
    f->size = size;
    memcpy(f->sha, sha, FILESTORE_SHA_LEN);
    *out = f;
    return LMS_OK;
}

int filestore_read(filestore_file *f, uint64_t off, void *buf, size_t len,
                   lms_err *err)
{
    LMS_ASSERT(!f->writing);
    char *p = buf;
    while (len) {
        ssize_t n = pread(f->fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lms_err_set(err, LMS_INTERNAL, "file store: reading a "
                               "body: %s", strerror(errno));
        if (n == 0)
            return lms_err_set(err, LMS_DATA_LOSS, "file store: a body "
                               "ends before its size");
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return LMS_OK;
}

/* Remember that sha's name is durable (this process synced it). */
static void durable_add(filestore *fs, const uint8_t *sha)
{
    pthread_mutex_lock(&fs->mu);
    memcpy(fs->durable[fs->durable_next++ % DURABLE_RECENT], sha,
           FILESTORE_SHA_LEN);
    pthread_mutex_unlock(&fs->mu);
}

static int durable_known(filestore *fs, const uint8_t *sha)
{
    int found = 0;
    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < DURABLE_RECENT && i < fs->durable_next && !found; i++)
        found = memcmp(fs->durable[i], sha, FILESTORE_SHA_LEN) == 0;
    pthread_mutex_unlock(&fs->mu);
    return found;
}

/* Check what was written against its name, make it durable and name it. */
static int store(filestore_file *f, lms_err *err)
{
    uint8_t got[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (f->written != f->size)
        return lms_err_set(err, LMS_DATA_LOSS, "file store: %llu bytes "
                           "written of the %llu announced",
                           (unsigned long long)f->written,
                           (unsigned long long)f->size);
    if (f->md && (!EVP_DigestFinal_ex(f->md, got, &n) ||
                  n != FILESTORE_SHA_LEN ||
                  memcmp(got, f->sha, FILESTORE_SHA_LEN) != 0))
        return lms_err_set(err, LMS_DATA_LOSS, "file store: the bytes do "
                           "not hash to the SHA-256 they are named by");
    if (fdatasync(f->fd) < 0)
        return io_error(err, errno, "syncing", f->tmp_path, 0);
    char dir[4200], path[4300];
    names(f->fs, f->sha, dir, sizeof dir, path, sizeof path);
    int made, rc = make_dir(dir, &made, err);
    if (rc == LMS_OK && made)
        rc = fsync_dir(f->fs->root, err);
    if (rc != LMS_OK)
        return rc;
    if (rename(f->tmp_path, path) < 0)
        return io_error(err, errno, "naming", path, 0);
    f->tmp_path[0] = '\0'; /* named: nothing to remove */
    rc = fsync_dir(dir, err);
    if (rc == LMS_OK)
        durable_add(f->fs, f->sha);
    return rc;
}

int filestore_finish(filestore_file *f, int keep, lms_err *err)
{
    if (!f)
        return LMS_OK;
    int rc = LMS_OK;
    if (f->writing && keep)
        rc = store(f, err);
    close(f->fd);
    if (f->writing && f->tmp_path[0])
        unlink(f->tmp_path);
    EVP_MD_CTX_free(f->md);
    free(f);
    return rc;
}

/* The body named sha is there: make sure its name is durable too before
 * anyone relies on it. Another put of the same body may still be between
 * its rename and its directory fsync, or a crash may have cut one short
 * there; when all is already on disk these cost little. */
static int make_durable(filestore *fs, const uint8_t *sha, lms_err *err)
{
    char dir[4200], path[4300];
    names(fs, sha, dir, sizeof dir, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, errno, "opening", path, 0);
    int rc = fdatasync(fd) == 0 ? LMS_OK
                                : io_error(err, errno, "syncing", path, 0);
    close(fd);
    if (rc == LMS_OK)
        rc = fsync_dir(dir, err);
    if (rc == LMS_OK)
        rc = fsync_dir(fs->root, err);
    if (rc == LMS_OK)
        durable_add(fs, sha);
    return rc;
}

int filestore_put(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                  const void *data, uint64_t len, int verify, lms_err *err)
{
    if (filestore_has(fs, sha, len))
        return durable_known(fs, sha) ? LMS_OK : make_durable(fs, sha, err);
    filestore_file *f;
    int rc = filestore_create(fs, sha, len, &f, err);
    if (rc != LMS_OK)
        return rc;
    if (!verify) {
        EVP_MD_CTX_free(f->md);
        f->md = NULL;
    }
    if (len)
        rc = filestore_write(f, data, (size_t)len, err);
    int frc = filestore_finish(f, rc == LMS_OK, err);
    return rc != LMS_OK ? rc : frc;
}

int filestore_get(filestore *fs, const uint8_t sha[FILESTORE_SHA_LEN],
                  uint64_t size, void *buf, lms_err *err)
{
    filestore_file *f;
    int rc = filestore_open_body(fs, sha, size, &f, err);
    if (rc != LMS_OK)
        return rc;
    if (size)
        rc = filestore_read(f, 0, buf, (size_t)size, err);
    filestore_finish(f, 0, NULL);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c: see snapshot.h. Durability follows the WAL's rule for files
 * that must appear whole: write a temp file, fsync it, rename it over the
 * final name, fsync the directory. A crash leaves either the old state of
 * the directory or the new one, plus perhaps a temp file that nothing
 * reads and snapshot_prune() removes. The file's contents are the storage
 * plugin's stream as is; only snapshot_peek() parses one record of it.
 */
#include "snapshot.h"

#include "snapshot.pb-c.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SNAP_IO_BUF (256u << 10) /* buffered file I/O of save and load */
#define SNAP_HEADER_MAX (16u << 20) /* a header record (config included) */

/* ---- small file helpers ---- */

static int sys_fail(lms_err *err, const char *what, const char *path)
{
    return lms_err_set(err, errno == ENOSPC || errno == EDQUOT
                                ? LMS_RESOURCE_EXHAUSTED
                                : LMS_UNAVAILABLE,
                       "snapshot: %s %s: %s", what, path, strerror(errno));
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read exactly len bytes; -1 with errno 0 at a premature end of file. */
static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *dir, lms_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sys_fail(err, "opening directory", dir);
    int rc = fsync(fd) == 0 ? LMS_OK : sys_fail(err, "fsync of", dir);
    close(fd);
    return rc;
}

/* fsync and close fd, then rename tmp to path and fsync dir. */
static int publish(int fd, const char *tmp, const char *path,
                   const char *dir, lms_err *err)
{
    if (fsync(fd) != 0) {
        int rc = sys_fail(err, "fsync of", tmp);
        close(fd);
        return rc;
    }
    if (close(fd) != 0)
        return sys_fail(err, "closing", tmp);
    if (rename(tmp, path) != 0)
        return sys_fail(err, "renaming into place", path);
    return fsync_dir(dir, err);
}

int snapshot_path(const char *dir, uint64_t index, char *out, size_t cap)
{
    /* Joined by hand: snprintf("%s/...") into a caller's buffer trips
     * -Wformat-truncation at -O2 even with the length checked. */
    char name[64];
    snprintf(name, sizeof name, "snap-%020" PRIu64 SNAPSHOT_SUFFIX, index);
    size_t dl = strlen(dir), nl = strlen(name);
    if (dl + 1 + nl + 1 > cap)
        return -1;
    memcpy(out, dir, dl);
    out[dl] = '/';
    memcpy(out + dl + 1, name, nl + 1);
    return 0;
}

/* ---- save and load: buffered sinks and sources for the plugin ---- */

typedef struct file_io {
    int fd;
    uint8_t *buf;
    size_t len; /* save: bytes buffered; load: bytes available at pos */
    size_t pos;
    int sys_errno; /* the failure behind a nonzero callback return */
    const atomic_int *cancel; /* save: stop when it becomes nonzero */
} file_io;

static int io_flush(file_io *io)
{
    if (io->len > 0 && write_all(io->fd, io->buf, io->len) != 0) {
        io->sys_errno = errno;
        return -1;
    }
    io->len = 0;
    return 0;
}

/* lms_snapshot_write_fn: buffer small pieces, write big ones through. */
static int io_write(void *arg, const void *buf, size_t len)
{
    file_io *io = arg;
    if (io->cancel && atomic_load(io->cancel))
        return -1;
    if (io->len + len > SNAP_IO_BUF && io_flush(io) != 0)
        return -1;
    if (len >= SNAP_IO_BUF) {
        if (write_all(io->fd, buf, len) == 0)
            return 0;
        io->sys_errno = errno;
        return -1;
    }
    memcpy(io->buf + io->len, buf, len);
    io->len += len;
    return 0;
}

/* lms_snapshot_read_fn over a buffered file. */
static int io_read(void *arg, void *buf, size_t len)
{
    file_io *io = arg;
    uint8_t *p = buf;
    while (len > 0) {
        if (io->pos == io->len) {
            ssize_t n = read(io->fd, io->buf, SNAP_IO_BUF);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                io->sys_errno = n < 0 ? errno : 0;
                return -1;
            }
            io->len = (size_t)n;
            io->pos = 0;
        }
        size_t take = io->len - io->pos < len ? io->len - io->pos : len;
        memcpy(p, io->buf + io->pos, take);
        io->pos += take;
        p += take;
        len -= take;
    }
    return 0;
}

/* Stream the store (or the pinned view) into the open temp file io->fd. */
static int save_stream(const struct lms_storage_ops *ops, void *src,
                       int view, const lms_snapshot_header *h, file_io *io,
                       uint8_t digest[LMS_SHA256_LEN], const char *tmp,
                       lms_err *err)
{
    int rc = view ? ops->snapshot_write_view(src, h, io_write, io, digest, err)
                  : ops->snapshot_write(src, h, io_write, io, digest, err);
    if (rc == LMS_OK && io_flush(io) != 0)
        rc = LMS_ABORTED;
    if (rc == LMS_ABORTED && io->sys_errno != 0) {
        errno = io->sys_errno;
        rc = sys_fail(err, "writing", tmp);
    } else if (rc == LMS_ABORTED && io->cancel && atomic_load(io->cancel)) {
        rc = lms_err_set(err, LMS_ABORTED, "snapshot: cancelled");
    }
    return rc;
}

static int save(const struct lms_storage_ops *ops, void *src, int view,
                const char *dir, const lms_snapshot_header *h,
                uint8_t digest[LMS_SHA256_LEN], const atomic_int *cancel,
                lms_err *err)
{
    char path[4096], tmp[4100];
    uint8_t ignored[LMS_SHA256_LEN];
    if (snapshot_path(dir, h->index, path, sizeof path) != 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "snapshot: directory name too long: %s", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    file_io io = {.fd = -1, .buf = malloc(SNAP_IO_BUF), .cancel = cancel};
    if (io.buf == NULL)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    io.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = io.fd < 0 ? sys_fail(err, "creating", tmp) : LMS_OK;
    if (rc == LMS_OK)
        rc = save_stream(ops, src, view, h, &io, digest ? digest : ignored,
                         tmp, err);
    if (rc == LMS_OK) {
        rc = publish(io.fd, tmp, path, dir, err);
        io.fd = -1;
    }
    if (io.fd >= 0)
        close(io.fd);
    if (rc != LMS_OK)
        unlink(tmp);
    free(io.buf);
    return rc;
}

int snapshot_save(const struct lms_storage_ops *ops, void *inst,
                  const char *dir, const lms_snapshot_header *h,
                  uint8_t digest[LMS_SHA256_LEN], lms_err *err)
{
    return save(ops, inst, 0, dir, h, digest, NULL, err);
}

int snapshot_save_view(const struct lms_storage_ops *ops, void *view,
                       const char *dir, const lms_snapshot_header *h,
                       uint8_t digest[LMS_SHA256_LEN], const atomic_int *cancel,
                       lms_err *err)
{
    return save(ops, view, 1, dir, h, digest, cancel, err);
}

int snapshot_load(const struct lms_storage_ops *ops, void *inst,
                  const char *path, lms_snapshot_header *out, lms_err *err)
{
    file_io io = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
    if (io.fd < 0)
        return sys_fail(err, "opening", path);
    io.buf = malloc(SNAP_IO_BUF);
    int rc = io.buf ? ops->snapshot_read(inst, io_read, &io, out, err)
                    : lms_err_set(err, LMS_RESOURCE_EXHAUSTED,
                                  "out of memory");
    if (rc != LMS_OK && io.sys_errno != 0) {
        errno = io.sys_errno; /* an I/O error, not a damaged file */
        rc = sys_fail(err, "reading", path);
    }
    close(io.fd);
    free(io.buf);
    return rc;
}

/* ---- the header of a file ---- */

/* Fill info from a decoded header record. */
static int info_from(const Lms__Snap__Record *r, snapshot_info *info,
                     lms_err *err)
{
    const Lms__Snap__Header *h = r->header;
    info->index = h->index;
    info->term = h->term;
    info->created = h->created;
    snprintf(info->backend, sizeof info->backend, "%s",
             h->backend ? h->backend : "");
    if (h->config.len > 0) {
        info->config = malloc(h->config.len);
        if (info->config == NULL)
            return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
        memcpy(info->config, h->config.data, h->config.len);
        info->config_len = h->config.len;
    }
    return LMS_OK;
}

/* Read and decode the first record of fd; *r is NULL if it is no header. */
static int read_header(int fd, Lms__Snap__Record **r)
{
    uint8_t len[4];
    *r = NULL;
    if (read_all(fd, len, sizeof len) != 0)
        return -1;
    size_t n = (size_t)len[0] << 24 | (size_t)len[1] << 16 |
               (size_t)len[2] << 8 | len[3];
    uint8_t *body = n <= SNAP_HEADER_MAX ? malloc(n ? n : 1) : NULL;
    if (body != NULL && read_all(fd, body, n) == 0)
        *r = lms__snap__record__unpack(NULL, n, body);
    free(body);
    if (*r != NULL && (*r)->body_case != LMS__SNAP__RECORD__BODY_HEADER) {
        lms__snap__record__free_unpacked(*r, NULL);
        *r = NULL;
    }
    return *r ? 0 : -1;
}

int snapshot_peek(const char *path, snapshot_info *info, lms_err *err)
{
    memset(info, 0, sizeof *info);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sys_fail(err, "opening", path);
    struct stat st;
    Lms__Snap__Record *r = NULL;
    int rc;
    if (fstat(fd, &st) != 0)
        rc = sys_fail(err, "stat of", path);
    else if (read_header(fd, &r) != 0)
        rc = lms_err_set(err, LMS_DATA_LOSS, "snapshot: %s does not start "
                         "with a snapshot header", path);
    else {
        rc = info_from(r, info, err);
        info->size = (uint64_t)st.st_size;
    }
    if (r)
        lms__snap__record__free_unpacked(r, NULL);
    close(fd);
    return rc;
}

/* ---- the whole file ---- */

#define SNAP_RECORD_MAX (72u << 20) /* a record: a row or a 64 KiB chunk */

typedef struct verify_in {
    int fd;
    uint8_t *buf;
    size_t cap;
    EVP_MD_CTX *md;
    uint8_t digest[LMS_SHA256_LEN]; /* the trailer's, once it matched */
    /* snapshot_rehead: the records also go to out, digested by omd */
    file_io *out;
    EVP_MD_CTX *omd;
    uint64_t out_count;
    int out_failed; /* writing out failed (out->sys_errno), not the file */
} verify_in;

/* The next framed record of v into v->buf (*n bytes, length included). */
static int verify_frame(verify_in *v, size_t *n)
{
    uint8_t len[4];
    if (read_all(v->fd, len, sizeof len) != 0)
        return -1;
    size_t body = (size_t)len[0] << 24 | (size_t)len[1] << 16 |
                  (size_t)len[2] << 8 | len[3];
    if (body == 0 || body > SNAP_RECORD_MAX)
        return -1;
    if (body + 4 > v->cap) {
        uint8_t *nb = realloc(v->buf, body + 4);
        if (!nb)
            return -1;
        v->buf = nb;
        v->cap = body + 4;
    }
    memcpy(v->buf, len, 4);
    *n = body + 4;
    return read_all(v->fd, v->buf + 4, body);
}

/* Add the canonical header (format, index, term, config; framed) of h
 * to md. */
static int digest_header(EVP_MD_CTX *md, const Lms__Snap__Header *h)
{
    Lms__Snap__Header canon = LMS__SNAP__HEADER__INIT;
    canon.format = h->format;
    canon.index = h->index;
    canon.term = h->term;
    canon.config = h->config;
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = LMS__SNAP__RECORD__BODY_HEADER;
    r.header = &canon;
    size_t len = lms__snap__record__get_packed_size(&r);
    uint8_t *b = malloc(len + 4);
    if (!b)
        return -1;
    b[0] = (uint8_t)(len >> 24);
    b[1] = (uint8_t)(len >> 16);
    b[2] = (uint8_t)(len >> 8);
    b[3] = (uint8_t)len;
    lms__snap__record__pack(&r, b + 4);
    int ok = EVP_DigestUpdate(md, b, len + 4);
    free(b);
    return ok ? 0 : -1;
}

static int verify_header(verify_in *v, const Lms__Snap__Header *h)
{
    return digest_header(v->md, h);
}

/* Walk the records after the header to the trailer: count and digest. */
static const char *verify_body(verify_in *v)
{
    uint64_t count = 0;
    for (;;) {
        size_t n = 0;
        if (verify_frame(v, &n) != 0)
            return "the file ends or breaks before its trailer";
        Lms__Snap__Record *r = lms__snap__record__unpack(NULL, n - 4,
                                                         v->buf + 4);
        if (!r || r->body_case == LMS__SNAP__RECORD__BODY__NOT_SET) {
            if (r)
                lms__snap__record__free_unpacked(r, NULL);
            return "a record does not decode";
        }
        if (r->body_case == LMS__SNAP__RECORD__BODY_HEADER) {
            lms__snap__record__free_unpacked(r, NULL);
            return "a second header follows the first";
        }
        if (r->body_case != LMS__SNAP__RECORD__BODY_TRAILER) {
            lms__snap__record__free_unpacked(r, NULL);
            if (!EVP_DigestUpdate(v->md, v->buf, n))
                return "SHA-256 failed";
            if (v->out && (io_write(v->out, v->buf, n) != 0 ||
                           !EVP_DigestUpdate(v->omd, v->buf, n))) {
                v->out_failed = 1;
                return "writing the copy failed";
            }
            count++;
            continue;
        }
        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned dlen = 0;
        const char *why = NULL;
        if (r->trailer->count != count)
            why = "the trailer's record count does not match";
        else if (!EVP_DigestFinal_ex(v->md, digest, &dlen) ||
                 dlen != LMS_SHA256_LEN ||
                 r->trailer->sha256.len != LMS_SHA256_LEN ||
                 memcmp(r->trailer->sha256.data, digest, dlen) != 0)
            why = "the digest does not match the records";
        else
            memcpy(v->digest, digest, LMS_SHA256_LEN);
        lms__snap__record__free_unpacked(r, NULL);
        uint8_t extra;
        ssize_t k;
        while (!why && (k = read(v->fd, &extra, 1)) < 0 && errno == EINTR)
            ;
        if (!why && k != 0)
            why = k > 0 ? "bytes follow its trailer" : "reading failed";
        v->out_count = count;
        return why;
    }
}

/* What check_file writes for snapshot_rehead: the header it puts first. */
typedef struct rehead_to {
    file_io *io;
    uint64_t term;
    const uint8_t *config;
    size_t config_len;
} rehead_to;

/* Write the framed record r to io (and digest it into md if not NULL). */
static int put_record(file_io *io, const Lms__Snap__Record *r)
{
    size_t len = lms__snap__record__get_packed_size(r);
    uint8_t *b = malloc(len + 4);
    if (!b) {
        io->sys_errno = ENOMEM;
        return -1;
    }
    b[0] = (uint8_t)(len >> 24);
    b[1] = (uint8_t)(len >> 16);
    b[2] = (uint8_t)(len >> 8);
    b[3] = (uint8_t)len;
    lms__snap__record__pack(r, b + 4);
    int rc = io_write(io, b, len + 4);
    free(b);
    return rc;
}

/* The new header (h's with term and config replaced, created now), then
 * the records as check_file reads them, then a trailer of their own. */
static int rehead_begin(verify_in *v, const rehead_to *to,
                        const Lms__Snap__Header *h)
{
    /* only the fields this version knows: nothing else of the source's
     * header (unknown fields) is carried over */
    Lms__Snap__Header nh = LMS__SNAP__HEADER__INIT;
    nh.format = h->format;
    nh.index = h->index;
    nh.backend = h->backend;
    nh.term = to->term;
    nh.config.data = (uint8_t *)to->config;
    nh.config.len = to->config_len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    nh.created = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = LMS__SNAP__RECORD__BODY_HEADER;
    r.header = &nh;
    if (!(v->omd = EVP_MD_CTX_new()) ||
        !EVP_DigestInit_ex(v->omd, EVP_sha256(), NULL) ||
        digest_header(v->omd, &nh) != 0)
        return -1;
    v->out = to->io;
    if (put_record(to->io, &r) != 0) {
        v->out_failed = 1;
        return -1;
    }
    return 0;
}

static int rehead_end(verify_in *v, uint8_t digest[LMS_SHA256_LEN])
{
    unsigned dlen = 0;
    if (!EVP_DigestFinal_ex(v->omd, digest, &dlen) || dlen != LMS_SHA256_LEN)
        return -1;
    Lms__Snap__Trailer t = LMS__SNAP__TRAILER__INIT;
    t.count = v->out_count;
    t.sha256.data = digest;
    t.sha256.len = LMS_SHA256_LEN;
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = LMS__SNAP__RECORD__BODY_TRAILER;
    r.trailer = &t;
    if (put_record(v->out, &r) != 0 || io_flush(v->out) != 0) {
        v->out_failed = 1;
        return -1;
    }
    return 0;
}

/* Read the snapshot file at path whole and check it (see snapshot_verify);
 * index and term (if not NULL) are what its header must say. info (may
 * be NULL) gets its header, digest (may be NULL) its digest. With to,
 * the checked stream is also written to to->io under a new header
 * (rehead_*), and digest is the new stream's. */
static int check_file(const char *path, const uint64_t *index,
                      const uint64_t *term, snapshot_info *info,
                      uint8_t *digest, const rehead_to *to, lms_err *err)
{
    verify_in v = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
    if (v.fd < 0)
        return sys_fail(err, "opening", path);
    struct stat st;
    Lms__Snap__Record *h = NULL;
    const char *why = NULL;
    int rc = LMS_OK;
    errno = 0;
    if (fstat(v.fd, &st) != 0)
        why = "it cannot be read";
    else if (read_header(v.fd, &h) != 0)
        why = "it does not start with a snapshot header";
    else if (h->header->format != LMS_SNAPSHOT_FORMAT)
        why = "it is of another snapshot format";
    else if ((index && h->header->index != *index) ||
             (term && h->header->term != *term))
        why = "its header names another index or term";
    else if (!(v.md = EVP_MD_CTX_new()) ||
             !EVP_DigestInit_ex(v.md, EVP_sha256(), NULL) ||
             verify_header(&v, h->header) != 0)
        why = "SHA-256 failed";
    else if (to && rehead_begin(&v, to, h->header) != 0)
        why = "SHA-256 failed";
    else
        why = verify_body(&v);
    int sys = errno;
    uint8_t newd[LMS_SHA256_LEN];
    if (!why && to && rehead_end(&v, newd) != 0)
        why = "SHA-256 failed";
    if (v.out_failed) {
        errno = to->io->sys_errno ? to->io->sys_errno : EIO;
        rc = sys_fail(err, "writing the copy of", path);
    } else if (why && sys) {
        /* a read failed: this node's disk, not the file's content */
        errno = sys;
        rc = sys_fail(err, "reading", path);
    } else if (why) {
        rc = lms_err_set(err, LMS_DATA_LOSS, "snapshot %s: %s", path, why);
    }
    if (rc == LMS_OK && info) {
        memset(info, 0, sizeof *info);
        rc = info_from(h, info, err);
        info->size = (uint64_t)st.st_size;
    }
    if (rc == LMS_OK && digest)
        memcpy(digest, to ? newd : v.digest, LMS_SHA256_LEN);
    if (h)
        lms__snap__record__free_unpacked(h, NULL);
    EVP_MD_CTX_free(v.md);
    EVP_MD_CTX_free(v.omd);
    free(v.buf);
    close(v.fd);
    return rc;
}

int snapshot_verify(const char *path, uint64_t index, uint64_t term,
                    lms_err *err)
{
    int rc = check_file(path, &index, &term, NULL, NULL, NULL, err);
    if (rc == LMS_DATA_LOSS) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        lms_err_set(err, LMS_DATA_LOSS, "%s (expected index %llu, term %llu)",
                    msg, (unsigned long long)index, (unsigned long long)term);
    }
    return rc;
}

int snapshot_check(const char *path, snapshot_info *info,
                   uint8_t digest[LMS_SHA256_LEN], lms_err *err)
{
    return check_file(path, NULL, NULL, info, digest, NULL, err);
}

int snapshot_rehead(const char *src, const char *dir, uint64_t term,
                    const uint8_t *config, size_t config_len,
                    snapshot_info *info, uint8_t digest[LMS_SHA256_LEN],
                    lms_err *err)
{
    snapshot_info got;
    int rc = snapshot_peek(src, &got, err);
    if (rc != LMS_OK)
        return rc;
    uint64_t index = got.index;
    snapshot_info_free(&got);
    char path[4096], tmp[4100];
    if (snapshot_path(dir, index, path, sizeof path) != 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "snapshot: directory name too long: %s", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    file_io io = {.fd = -1, .buf = malloc(SNAP_IO_BUF)};
    if (io.buf == NULL)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    io.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    rc = io.fd < 0 ? sys_fail(err, "creating", tmp) : LMS_OK;
    rehead_to to = {&io, term, config, config_len};
    if (rc == LMS_OK)
        rc = check_file(src, &index, NULL, info, digest, &to, err);
    if (rc == LMS_OK) {
        rc = publish(io.fd, tmp, path, dir, err);
        io.fd = -1;
    }
    if (io.fd >= 0)
        close(io.fd);
    if (rc != LMS_OK) {
        unlink(tmp);
        if (info)
            snapshot_info_free(info);
    }
    free(io.buf);
    return rc;
}

void snapshot_info_free(snapshot_info *info)
{
    free(info->config);
    info->config = NULL;
    info->config_len = 0;
}

/* ---- the directory ---- */

/* Is name a snapshot file (*temp = 0) or one of its temp files (*temp =
 * 1)? Sets *index. */
static int parse_name(const char *name, uint64_t *index, int *temp)
{
    if (strncmp(name, "snap-", 5) != 0 || name[5] < '0' || name[5] > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(name + 5, &end, 10);
    if (errno != 0 || strncmp(end, SNAPSHOT_SUFFIX, 5) != 0)
        return 0;
    end += strlen(SNAPSHOT_SUFFIX);
    *temp = strcmp(end, ".tmp") == 0 || strcmp(end, ".recv") == 0;
    if (*end != '\0' && !*temp)
        return 0;
    *index = v;
    return 1;
}

static int by_index_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The indexes of dir's snapshot files, newest first (malloc'd into *out);
 * temp files are not listed. */
static int list_snapshots(const char *dir, uint64_t **out, size_t *n,
                          lms_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return sys_fail(err, "opening directory", dir);
    uint64_t *v = NULL;
    size_t len = 0, cap = 0;
    struct dirent *e;
    int rc = LMS_OK, temp;
    uint64_t index;
    while (rc == LMS_OK && (e = readdir(d)) != NULL) {
        if (!parse_name(e->d_name, &index, &temp) || temp)
            continue;
        if (len == cap) {
            uint64_t *g = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
            if (g == NULL) {
                rc = lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
            v = g;
        }
        v[len++] = index;
    }
    closedir(d);
    if (rc == LMS_OK && len > 1)
        qsort(v, len, sizeof *v, by_index_desc);
    *out = v;
    *n = len;
    return rc;
}

int snapshot_latest(const char *dir, char *path, size_t cap,
                    snapshot_info *info, lms_err *err)
{
    uint64_t *v = NULL;
    size_t n = 0;
    int rc = list_snapshots(dir, &v, &n, err);
    int found = 0;
    for (size_t i = 0; rc == LMS_OK && !found && i < n; i++) {
        snapshot_info got;
        if (snapshot_path(dir, v[i], path, cap) != 0)
            rc = lms_err_set(err, LMS_INVALID_ARGUMENT,
                             "snapshot: directory name too long: %s", dir);
        else if (snapshot_peek(path, &got, NULL) == LMS_OK) {
            found = got.index == v[i];
            if (found && info)
                *info = got;
            else
                snapshot_info_free(&got);
        }
    }
    free(v);
    if (rc == LMS_OK && !found)
        rc = lms_err_set(err, LMS_NOT_FOUND, "snapshot: none in %s", dir);
    return rc;
}

/* Remove dir/name, logging nothing: a file that vanished is fine. */
static int remove_in(const char *dir, const char *name, lms_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (unlink(path) != 0 && errno != ENOENT)
        return sys_fail(err, "removing", path);
    return LMS_OK;
}

int snapshot_prune(const char *dir, size_t keep, uint64_t protect,
                   lms_err *err)
{
    uint64_t *v = NULL;
    size_t n = 0;
    int rc = list_snapshots(dir, &v, &n, err);
    uint64_t newest = n > 0 ? v[0] : 0, oldest_kept = 0;
    if (rc == LMS_OK && keep > 0 && n > 0)
        oldest_kept = v[(keep < n ? keep : n) - 1];
    free(v);
    DIR *d = rc == LMS_OK ? opendir(dir) : NULL;
    if (rc == LMS_OK && d == NULL)
        rc = sys_fail(err, "opening directory", dir);
    struct dirent *e;
    uint64_t index;
    int temp;
    while (rc == LMS_OK && (e = readdir(d)) != NULL) {
        if (!parse_name(e->d_name, &index, &temp))
            continue;
        int stale = temp ? n > 0 && index <= newest
                         : (keep == 0 || index < oldest_kept) &&
                               !(protect && index == protect);
        if (stale)
            rc = remove_in(dir, e->d_name, err);
    }
    if (d)
        closedir(d);
    return rc == LMS_OK ? fsync_dir(dir, err) : rc;
}

/* ---- InstallSnapshot: cutting a file in chunks ---- */

int snapshot_reader_open(snapshot_reader *r, const char *path, size_t chunk,
                         lms_err *err)
{
    struct stat st;
    r->fd = -1;
    r->chunk = chunk;
    if (chunk == 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "snapshot: chunk size 0");
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return sys_fail(err, "opening", path);
    if (fstat(r->fd, &st) != 0) {
        int rc = sys_fail(err, "stat of", path);
        snapshot_reader_close(r);
        return rc;
    }
    r->size = (uint64_t)st.st_size;
    return LMS_OK;
}

int snapshot_reader_read(snapshot_reader *r, uint64_t offset, void *buf,
                         size_t *len, int *last, lms_err *err)
{
    if (offset % r->chunk != 0 || offset > r->size ||
        (offset == r->size && offset != 0))
        return lms_err_set(err, LMS_OUT_OF_RANGE,
                           "snapshot: no chunk at offset %" PRIu64
                           " of a %" PRIu64 "-byte file", offset, r->size);
    size_t n = r->size - offset < r->chunk ? (size_t)(r->size - offset)
                                           : r->chunk;
    for (size_t got = 0; got < n;) {
        ssize_t k = pread(r->fd, (char *)buf + got, n - got,
                          (off_t)(offset + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return lms_err_set(err, LMS_UNAVAILABLE, "snapshot: reading a "
                               "chunk: %s", k < 0 ? strerror(errno)
                                                  : "the file shrank");
        got += (size_t)k;
    }
    *len = n;
    *last = offset + n == r->size;
    return LMS_OK;
}

void snapshot_reader_close(snapshot_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* ---- InstallSnapshot: putting the chunks back together ---- */

int snapshot_receiver_open(snapshot_receiver *rx, const char *dir,
                           uint64_t index, lms_err *err)
{
    memset(rx, 0, sizeof *rx);
    rx->fd = -1;
    rx->index = index;
    int n = snprintf(rx->dir, sizeof rx->dir, "%s", dir);
    if (n < 0 || (size_t)n >= sizeof rx->dir ||
        snapshot_path(dir, index, rx->tmp, sizeof rx->tmp - 5) != 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "snapshot: directory name too long: %s", dir);
    strcat(rx->tmp, ".recv");
    rx->fd = open(rx->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (rx->fd < 0)
        return sys_fail(err, "creating", rx->tmp);
    return LMS_OK;
}

int snapshot_receiver_write(snapshot_receiver *rx, uint64_t offset,
                            const void *data, size_t len, lms_err *err)
{
    if (rx->fd < 0)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "snapshot: the receiver is closed");
    if (len > 0 && offset + len <= rx->received)
        return LMS_OK; /* a retransmission of what we have */
    if (offset != rx->received)
        return lms_err_set(err, LMS_OUT_OF_RANGE,
                           "snapshot %" PRIu64 ": chunk at %" PRIu64
                           ", expected %" PRIu64, rx->index, offset,
                           rx->received);
    if (write_all(rx->fd, data, len) != 0)
        return sys_fail(err, "writing", rx->tmp);
    rx->received += len;
    return LMS_OK;
}

int snapshot_receiver_seal(snapshot_receiver *rx, uint64_t total,
                           char *path, size_t cap, lms_err *err)
{
    int rc = LMS_OK;
    if (rx->fd < 0)
        rc = lms_err_set(err, LMS_FAILED_PRECONDITION,
                         "snapshot: the receiver is closed");
    else if (rx->received != total)
        rc = lms_err_set(err, LMS_DATA_LOSS, "snapshot %" PRIu64 ": %" PRIu64
                         " bytes received of %" PRIu64, rx->index,
                         rx->received, total);
    else if (fsync(rx->fd) != 0)
        rc = sys_fail(err, "fsync of", rx->tmp);
    if (rc == LMS_OK) {
        int fd = rx->fd;
        rx->fd = -1;
        if (close(fd) != 0)
            rc = sys_fail(err, "closing", rx->tmp);
    }
    if (rc != LMS_OK) {
        snapshot_receiver_abort(rx);
        return rc;
    }
    if (path && cap > 0)
        snprintf(path, cap, "%s", rx->tmp);
    rx->tmp[0] = '\0'; /* the caller's now: adopt or remove */
    return LMS_OK;
}

int snapshot_receiver_finish(snapshot_receiver *rx, uint64_t total,
                             char *path, size_t cap, lms_err *err)
{
    uint64_t index = rx->index;
    int rc = snapshot_receiver_seal(rx, total, NULL, 0, err);
    if (rc == LMS_OK && (rc = snapshot_adopt(rx->dir, index, err)) != LMS_OK)
        snapshot_remove_recv(rx->dir, index, NULL);
    if (rc == LMS_OK && path && cap > 0)
        snapshot_path(rx->dir, index, path, cap);
    return rc;
}

void snapshot_receiver_abort(snapshot_receiver *rx)
{
    if (rx->fd >= 0) {
        close(rx->fd);
        rx->fd = -1;
    }
    if (rx->tmp[0] != '\0')
        unlink(rx->tmp);
    rx->tmp[0] = '\0';
}

int snapshot_recv_path(const char *dir, uint64_t index, char *out, size_t cap)
{
    if (cap < 5 || snapshot_path(dir, index, out, cap - 5) != 0)
        return -1;
    strcat(out, ".recv");
    return 0;
}

int snapshot_adopt(const char *dir, uint64_t index, lms_err *err)
{
    char tmp[4200], path[4200];
    if (snapshot_recv_path(dir, index, tmp, sizeof tmp) != 0 ||
        snapshot_path(dir, index, path, sizeof path) != 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "snapshot: directory name too long: %s", dir);
    if (rename(tmp, path) != 0)
        return sys_fail(err, "renaming into place", tmp);
    return fsync_dir(dir, err);
}

int snapshot_remove_recv(const char *dir, uint64_t index, lms_err *err)
{
    char tmp[4200];
    if (snapshot_recv_path(dir, index, tmp, sizeof tmp) != 0)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "snapshot: directory name too long: %s", dir);
    if (unlink(tmp) != 0 && errno != ENOENT)
        return sys_fail(err, "removing", tmp);
    return LMS_OK;
}

int snapshot_remove_temps(const char *dir, unsigned *removed, lms_err *err)
{
    unsigned count = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return sys_fail(err, "opening directory", dir);
    struct dirent *e;
    uint64_t index;
    int temp, rc = LMS_OK;
    while (rc == LMS_OK && (e = readdir(d)) != NULL)
        if (parse_name(e->d_name, &index, &temp) && temp) {
            rc = remove_in(dir, e->d_name, err);
            count += rc == LMS_OK;
        }
    closedir(d);
    if (removed)
        *removed = count;
    return rc == LMS_OK && count ? fsync_dir(dir, err) : rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * wal.c: see wal.h. The log is a list of segments; each segment keeps, in
 * memory, the file offset of every record it holds (built at open by
 * checking every record), so wal_read is one preadv of exactly that record.
 * wal_append stages a batch (record headers, and data up to COPY_MAX
 * bytes, copied into one buffer; larger data referenced where it lies) and
 * writes it with pwritev, so a batch of small entries costs one syscall.
 * Nothing is durable before wal_sync.
 */
#include "wal.h"

#include "lms_assert.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define REC_HDR 8  /* u32 length | u32 crc */
#define ENT_HDR 20 /* u64 index | u64 term | u32 type */
#define FULL_HDR (REC_HDR + ENT_HDR)
#define COPY_MAX 4096                 /* data up to this is copied, not referenced */
#define STAGE_FLUSH ((size_t)4 << 20) /* write out the staging buffer past this */
#define DEFAULT_SEGMENT ((size_t)64 << 20)
#define MAX_SEGMENT ((size_t)1 << 30)
#define SEG_NAME_LEN 29 /* "wal-" 20 digits ".log" NUL */
#define NO_SEG SIZE_MAX
#define HS_NAME "hardstate"
#define HS_TMP "hardstate.tmp"
#define HS_MAGIC 0x48534d4cu /* "LMSH" */
#define HS_SIZE_V1 24 /* magic | crc | term | vote */
#define HS_SIZE 32    /* ... | acked */

typedef struct wal_seg {
    uint64_t first; /* index of its first entry (from the file name) */
    uint64_t n;     /* entries it holds */
    uint64_t size;  /* bytes of good records: the next record goes here */
    uint64_t *offs; /* offs[i]: offset of entry first + i */
    size_t cap;
    int fd;
    char name[SEG_NAME_LEN];
} wal_seg;

/* A slice of the batch being staged: of the staging buffer (ext == NULL,
 * at off) or of the caller's memory (ext). */
typedef struct stage_piece {
    const uint8_t *ext;
    size_t off, len;
} stage_piece;

struct wal {
    char *dir;
    int dirfd;
    size_t segment_bytes;
    wal_report_fn report;
    void *report_arg;
    wal_seg *segs;
    size_t nsegs, segs_cap;
    uint64_t first_index, last_index, last_term;
    uint64_t truncated;
    int cut; /* enum wal_cut */
    size_t sync_from; /* first segment with unsynced writes, NO_SEG if none */
    int dir_dirty;
    int unlink_unsynced; /* wal_compact unlinked a segment since the last
                            directory fsync */
    int failed;
    int no_space; /* the last write call met a full disk (wal_out_of_space) */
    /* the hardstate file as last read or written (hs_found: it exists) */
    int hs_found;
    wal_hardstate hs;
    uint64_t synced; /* the log is durable up to this index */
    /* the batch wal_append is staging */
    uint8_t *buf;
    size_t buf_len, buf_cap;
    stage_piece *pieces;
    size_t npieces, pieces_cap;
    struct iovec *iov;
    size_t iov_cap;
    uint64_t pend_n, pend_bytes, pend_term;
};

static int lower_acked(wal *w, uint64_t index, lms_err *err);

/* ---- small helpers ---------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Make room for need elements of elem bytes in *p (capacity *cap). */
static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

/* An I/O error on file (NULL: the directory): marks the WAL failed. */
static int io_fail(wal *w, lms_err *err, const char *what, const char *file)
{
    int e = errno;
    w->failed = 1;
    return lms_err_set(err, LMS_INTERNAL, "wal %s%s%s: %s: %s", w->dir,
                       file ? "/" : "", file ? file : "", what, strerror(e));
}

/* A full disk: ENOSPC, or EDQUOT (the quota is the disk as far as the
 * node can tell). Both go away when space is freed; nothing else does. */
static int errno_is_full(int e) { return e == ENOSPC || e == EDQUOT; }

/* Like io_fail, but a full disk does not fail the WAL: the caller undoes
 * what the call did so far and returns the LMS_RESOURCE_EXHAUSTED this
 * gives (wal_out_of_space). */
static int io_err(wal *w, lms_err *err, const char *what, const char *file)
{
    int e = errno;
    if (!errno_is_full(e))
        return io_fail(w, err, what, file);
    w->no_space = 1;
    return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "wal %s%s%s: %s: %s",
                       w->dir, file ? "/" : "", file ? file : "", what,
                       strerror(e));
}

static int failed_err(const wal *w, lms_err *err)
{
    return lms_err_set(err, LMS_FAILED_PRECONDITION,
                       "wal %s: refusing to write after an earlier write "
                       "error; restart to recover the log",
                       w->dir);
}

__attribute__((format(printf, 3, 4))) static void
report(wal *w, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->report)
        w->report(w->report_arg, level, msg);
    else
        lms_log(level, "%s", msg);
}

/* pwritev (writing) or preadv all of iov at off, across short transfers
 * and EINTR; iov is consumed. 0, or -1 with errno set. */
static int rw_full(int fd, struct iovec *iov, size_t cnt, uint64_t off,
                   int writing)
{
    while (cnt > 0) {
        int c = cnt > IOV_MAX ? IOV_MAX : (int)cnt;
        ssize_t k = writing ? pwritev(fd, iov, c, (off_t)off)
                            : preadv(fd, iov, c, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = writing ? ENOSPC : ENODATA;
            return -1;
        }
        off += (uint64_t)k;
        size_t left = (size_t)k;
        while (cnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* ---- directories -------------------------------------------------------- */

static int fsync_dir_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* fsync the directory that holds path p (which has no trailing slash). */
static int fsync_parent(char *p)
{
    char *slash = strrchr(p, '/');
    if (!slash)
        return fsync_dir_path(".");
    if (slash == p)
        return fsync_dir_path("/");
    *slash = '\0';
    int rc = fsync_dir_path(p);
    *slash = '/';
    return rc;
}

/* mkdir -p dir; a directory it creates is made durable in its parent. */
static int make_dirs(const char *dir, lms_err *err)
{
    size_t len = strlen(dir);
    char *p = malloc(len + 1);
    if (!p)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    memcpy(p, dir, len + 1);
    int rc = 0;
    for (size_t i = 1; i <= len && !rc; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) == 0) {
            if (fsync_parent(p) < 0)
                rc = lms_err_set(err, LMS_INTERNAL, "wal: fsync the parent of %s: %s",
                                 p, strerror(errno));
        } else if (errno != EEXIST) {
            rc = lms_err_set(err, LMS_INTERNAL, "wal: cannot create %s: %s", p,
                             strerror(errno));
        }
        p[i] = c;
    }
    free(p);
    return rc;
}

/* ---- segments ----------------------------------------------------------- */

static void seg_name(char *buf, uint64_t first)
{
    snprintf(buf, SEG_NAME_LEN, "wal-%020" PRIu64 ".log", first);
}

/* "wal-<20 digits>.log" -> *first (>= 1); 0 if name is something else. */
static int parse_seg_name(const char *name, uint64_t *first)
{
    if (strlen(name) != SEG_NAME_LEN - 1 || strncmp(name, "wal-", 4) != 0 ||
        strcmp(name + 24, ".log") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 4; i < 24; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        unsigned d = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *first = v;
    return v >= 1;
}

static wal_seg *cur_seg(wal *w) { return &w->segs[w->nsegs - 1]; }

/* The segment holding index (which must be in the log). */
static wal_seg *find_seg(wal *w, uint64_t index)
{
    size_t lo = 0, hi = w->nsegs; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->segs[mid].first <= index)
            lo = mid;
        else
            hi = mid;
    }
    return &w->segs[lo];
}

static int push_seg(wal *w, uint64_t first)
{
    if (grow(&w->segs, &w->segs_cap, w->nsegs + 1, sizeof *w->segs) < 0)
        return -1;
    wal_seg *s = &w->segs[w->nsegs++];
    memset(s, 0, sizeof *s);
    s->first = first;
    s->fd = -1;
    seg_name(s->name, first);
    return 0;
}

/* Create an empty segment starting at first as the new current one. */
static int create_segment(wal *w, uint64_t first, lms_err *err)
{
    if (push_seg(w, first) < 0) {
        w->failed = 1;
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    wal_seg *s = cur_seg(w);
    s->fd = openat(w->dirfd, s->name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0644);
    if (s->fd < 0) {
        w->nsegs--;
        return io_err(w, err, "cannot create segment", s->name);
    }
    w->dir_dirty = 1;
    return 0;
}

/* fsync the directory: every segment created or removed so far is durable. */
static int sync_dir(wal *w, lms_err *err)
{
    if (fsync(w->dirfd) < 0)
        return io_fail(w, err, "fsync", NULL);
    w->dir_dirty = 0;
    w->unlink_unsynced = 0;
    return 0;
}

/* Remove the last segment: file and memory. */
static int drop_last_segment(wal *w, lms_err *err)
{
    wal_seg *s = cur_seg(w);
    if (unlinkat(w->dirfd, s->name, 0) < 0 && errno != ENOENT)
        return io_fail(w, err, "cannot delete segment", s->name);
    if (s->fd >= 0)
        close(s->fd);
    free(s->offs);
    w->nsegs--;
    w->dir_dirty = 1;
    if (w->sync_from != NO_SEG && w->sync_from >= w->nsegs)
        w->sync_from = w->nsegs ? w->nsegs - 1 : NO_SEG;
    return 0;
}

static uint64_t seg_file_size(wal *w, const wal_seg *s)
{
    struct stat st;
    if (fstatat(w->dirfd, s->name, &st, 0) < 0)
        return 0;
    return (uint64_t)st.st_size;
}

/* ---- recovery ----------------------------------------------------------- */

static int list_segments(wal *w, lms_err *err)
{
    int fd = dup(w->dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return io_fail(w, err, "cannot list", NULL);
    }
    struct dirent *de;
    uint64_t first;
    while ((de = readdir(d)) != NULL) {
        if (!parse_seg_name(de->d_name, &first))
            continue;
        if (push_seg(w, first) < 0) {
            closedir(d);
            return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
        }
    }
    closedir(d);
    for (size_t i = 1; i < w->nsegs; i++) /* few files: insertion sort */
        for (size_t j = i; j > 0 && w->segs[j - 1].first > w->segs[j].first; j--) {
            wal_seg t = w->segs[j];
            w->segs[j] = w->segs[j - 1];
            w->segs[j - 1] = t;
        }
    return 0;
}

/* Check the record at p (avail bytes to the end of the file) as the entry
 * after w->last_index. 0 and *reclen if good; else -1 and why set. */
static int check_record(const wal *w, const uint8_t *p, uint64_t avail,
                        uint64_t *reclen, char *why, size_t whylen)
{
    if (avail < REC_HDR) {
        snprintf(why, whylen, "short record header");
        return -1;
    }
    uint32_t len = get32(p);
    if (len < ENT_HDR || len > ENT_HDR + WAL_MAX_ENTRY_BYTES) {
        snprintf(why, whylen, "impossible record length %" PRIu32, len);
        return -1;
    }
    if (REC_HDR + (uint64_t)len > avail) {
        snprintf(why, whylen, "record of %" PRIu32 " bytes cut short", len);
        return -1;
    }
    *reclen = REC_HDR + (uint64_t)len;
    if (crc32c(0, p + REC_HDR, len) != get32(p + 4)) {
        snprintf(why, whylen, "CRC mismatch");
        return -1;
    }
    uint64_t index = get64(p + REC_HDR), term = get64(p + REC_HDR + 8);
    if (index != w->last_index + 1) {
        snprintf(why, whylen, "index %" PRIu64 " where %" PRIu64 " was expected",
                 index, w->last_index + 1);
        return -1;
    }
    if (term < w->last_term) {
        snprintf(why, whylen, "term %" PRIu64 " after term %" PRIu64, term,
                 w->last_term);
        return -1;
    }
    return 0;
}

/* Index the good records of segment s (mapped at p); *bad = offset of the
 * first bad one (size if none). */
static int scan_records(wal *w, wal_seg *s, const uint8_t *p, uint64_t size,
                        uint64_t *bad, char *why, size_t whylen, lms_err *err)
{
    uint64_t off = 0, reclen;
    while (off < size) {
        if (check_record(w, p + off, size - off, &reclen, why, whylen) < 0) {
            *bad = off;
            return 0;
        }
        if (grow(&s->offs, &s->cap, s->n + 1, sizeof *s->offs) < 0)
            return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
        s->offs[s->n++] = off;
        w->last_index++;
        w->last_term = get64(p + off + REC_HDR + 8);
        off += reclen;
    }
    *bad = size;
    return 0;
}

/* Whether a record that checks out starts anywhere in p[from, size), with
 * an index the log could have reached by then (after w->last_index, and
 * no further than one minimal record per byte left allows). Such a record
 * was written after the bad spot before it, and writes into one file go
 * out front to back, so the bad spot is damage to what was once written
 * (and maybe synced), not a write that never finished. Every offset is
 * tried: the bad spot's own length cannot be trusted to find the next
 * record. A cheap length and index test rules out almost every offset
 * before the CRC is computed. */
static uint64_t record_follows(const wal *w, const uint8_t *p, uint64_t from,
                               uint64_t size)
{
    uint64_t max_index = w->last_index + 1 + (size - from) / FULL_HDR;
    for (uint64_t off = from; off + FULL_HDR <= size; off++) {
        uint32_t len = get32(p + off);
        if (len < ENT_HDR || len > ENT_HDR + WAL_MAX_ENTRY_BYTES ||
            REC_HDR + (uint64_t)len > size - off)
            continue;
        uint64_t index = get64(p + off + REC_HDR);
        if (index <= w->last_index || index > max_index)
            continue;
        if (crc32c(0, p + off + REC_HDR, len) == get32(p + off + 4))
            return index;
    }
    return 0;
}

static int hs_write_at(wal *w, const wal_hardstate *hs, lms_err *err);

/* Damage was found: entries up to index (a good record after the bad
 * spot) were once in the log. The cut about to happen removes that
 * record, the only evidence; so first the hardstate's acked goes up to
 * index, durably. A later open then still finds the log short of acked
 * (damaged), whether this start is refused (a lone voter), fails or
 * crashes before repair marks itself; the next write of the hardstate
 * after a repair or --accept-log-loss brings acked back to what is
 * synced. Without a hardstate the start is refused anyway. */
static int keep_damage_evidence(wal *w, uint64_t index, lms_err *err)
{
    if (!w->hs_found || w->hs.acked >= index)
        return 0;
    wal_hardstate hs = w->hs;
    hs.acked = index;
    int rc = hs_write_at(w, &hs, err);
    if (!rc)
        w->hs = hs;
    return rc;
}

/* A cut that leaves the log at w->last_index is a torn tail (see
 * wal_cut_kind in wal.h) unless it went below what the hardstate records
 * as durable or other evidence (damaged) says synced data went bad. */
static int cut_is_torn(const wal *w, int damaged)
{
    return !damaged && w->last_index >= w->hs.acked;
}

/* Cut the log at offset off of segment k (whole: remove segment k itself),
 * delete every later segment, make that durable and report it. */
static int cut_tail(wal *w, size_t k, uint64_t off, int whole, uint64_t size,
                    const char *why, int torn, lms_err *err)
{
    uint64_t lost = 0;
    size_t removed = 0;
    char name[SEG_NAME_LEN];
    memcpy(name, w->segs[k].name, sizeof name);
    while (w->nsegs > k + (whole ? 0 : 1)) {
        lost += seg_file_size(w, cur_seg(w));
        int rc = drop_last_segment(w, err);
        if (rc)
            return rc;
        removed++;
    }
    if (!whole) {
        wal_seg *s = &w->segs[k];
        lost += size - off;
        if (ftruncate(s->fd, (off_t)off) < 0 || fsync(s->fd) < 0)
            return io_fail(w, err, "cannot truncate", s->name);
        s->size = off;
    }
    if (removed && fsync(w->dirfd) < 0)
        return io_fail(w, err, "fsync", NULL);
    w->dir_dirty = 0;
    w->truncated += lost;
    w->cut = torn ? WAL_CUT_UNFINISHED : WAL_CUT_DAMAGED;
    report(w, torn ? LMS_LOG_WARN : LMS_LOG_ERROR,
           "wal %s/%s: %s at offset %" PRIu64 "%s: cut %" PRIu64
           " bytes, %zu segment file(s) removed; log now ends at index %" PRIu64,
           w->dir, name, why, off,
           torn ? " (torn tail)" : " (corruption before the tail: synced "
                                   "entries were lost)",
           lost, removed, w->last_index);
    return 0;
}

/* Make what the scan of s reads come from the disk, not the page cache.
 * Why: when writeback fails (the fdatasync that made the last lmsd stop),
 * Linux may mark the failed pages clean and keep them cached with the new
 * data the disk never got (PostgreSQL's "fsyncgate"); a later fsync on a
 * new descriptor reports nothing. Read through the cache, those records
 * would check out, and this node would acknowledge them to a leader as
 * durable. So flush what is still dirty (the previous lmsd's unsynced
 * writes; failing here means the disk still refuses the data: do not
 * start), then drop the file's cached pages (only clean ones can be
 * dropped, hence the flush first), so the mmap below faults in what the
 * device holds. */
static int read_from_disk(wal *w, wal_seg *s, lms_err *err)
{
    if (fdatasync(s->fd) < 0)
        return io_fail(w, err,
                       "fdatasync at open failed, so the log cannot be "
                       "trusted; not starting (check the disk)",
                       s->name);
    int rc = posix_fadvise(s->fd, 0, 0, POSIX_FADV_DONTNEED);
    if (rc) {
        errno = rc;
        return io_fail(w, err, "cannot drop the cached pages to read the "
                       "log from disk", s->name);
    }
    return 0;
}

/* Open, map and check segment k; cut the log there if it goes bad. */
static int scan_segment(wal *w, size_t k, int *stop, lms_err *err)
{
    wal_seg *s = &w->segs[k];
    struct stat st;
    s->fd = openat(w->dirfd, s->name, O_RDWR | O_CLOEXEC);
    if (s->fd < 0)
        return io_fail(w, err, "cannot open", s->name);
    int rc = read_from_disk(w, s, err);
    if (rc)
        return rc;
    if (fstat(s->fd, &st) < 0)
        return io_fail(w, err, "cannot stat", s->name);
    uint64_t size = (uint64_t)st.st_size, bad = 0;
    const uint8_t *p = NULL;
    if (size) {
        p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, s->fd, 0);
        if (p == MAP_FAILED)
            return io_fail(w, err, "cannot map", s->name);
    }
    char why[160];
    rc = scan_records(w, s, p, size, &bad, why, sizeof why, err);
    uint64_t after = rc == 0 && bad < size ? record_follows(w, p, bad + 1, size)
                                           : 0;
    int damaged = after != 0;
    if (p)
        munmap((void *)p, (size_t)size);
    s->size = bad;
    if (damaged && !rc)
        rc = keep_damage_evidence(w, after, err);
    if (rc == 0 && bad < size) {
        *stop = 1;
        rc = cut_tail(w, k, bad, 0, size, why, cut_is_torn(w, damaged), err);
    }
    return rc;
}

/* Check every segment in order; cut at the first thing that is wrong. A
 * segment that does not start where the one before it ended is what a
 * crash in a roll leaves when the old segment's last records never
 * reached the disk (they were not synced, so nor was anything in the new
 * segment: a torn tail, unless the acked index says otherwise). */
static int recover(wal *w, lms_err *err)
{
    w->first_index = w->segs[0].first;
    w->last_index = w->first_index - 1;
    w->last_term = 0;
    for (size_t k = 0; k < w->nsegs; k++) {
        wal_seg *s = &w->segs[k];
        if (k > 0 && s->first != w->last_index + 1) {
            char why[160];
            snprintf(why, sizeof why, "segment starts at index %" PRIu64
                     " where %" PRIu64 " was expected", s->first,
                     w->last_index + 1);
            return cut_tail(w, k, 0, 1, 0, why, cut_is_torn(w, 0), err);
        }
        int stop = 0, rc = scan_segment(w, k, &stop, err);
        if (rc || stop)
            return rc;
    }
    return 0;
}

/* A log that ends below the acked index lost entries that were durable,
 * whether or not anything was cut (a segment file that vanished, or a
 * file that shrank at a record boundary, leave nothing to cut). */
static void check_acked(wal *w)
{
    if (w->last_index >= w->hs.acked)
        return;
    w->cut = WAL_CUT_DAMAGED;
    report(w, LMS_LOG_ERROR,
           "wal %s: the log ends at index %" PRIu64 ", but %s/%s records "
           "that it was durable up to index %" PRIu64 ": entries %" PRIu64
           "..%" PRIu64 " were lost after the disk confirmed them (and may "
           "have been acknowledged)",
           w->dir, w->last_index, w->dir, HS_NAME, w->hs.acked,
           w->last_index + 1, w->hs.acked);
}

/* ---- open / close --------------------------------------------------------- */

static int open_dir(wal *w, lms_err *err)
{
    int rc = make_dirs(w->dir, err);
    if (rc)
        return rc;
    w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0)
        return lms_err_set(err, LMS_INTERNAL, "wal %s: cannot open: %s", w->dir,
                           strerror(errno));
    if (flock(w->dirfd, LOCK_EX | LOCK_NB) < 0)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "wal %s: cannot lock (%s): is another lmsd using "
                           "this data dir?",
                           w->dir, strerror(errno));
    return 0;
}

int wal_open(const char *dir, const wal_options *opts, wal **out, lms_err *err)
{
    *out = NULL;
    size_t seg_bytes = opts && opts->segment_bytes ? opts->segment_bytes
                                                   : DEFAULT_SEGMENT;
    if (seg_bytes > MAX_SEGMENT)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "wal %s: segment size %zu is above the %zu limit",
                           dir, seg_bytes, MAX_SEGMENT);
    wal *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    }
    w->dirfd = -1;
    w->segment_bytes = seg_bytes;
    w->sync_from = NO_SEG;
    if (opts) {
        w->report = opts->report;
        w->report_arg = opts->report_arg;
    }
    int rc = open_dir(w, err);
    if (!rc)
        rc = wal_hardstate_read(w->dir, &w->hs, &w->hs_found, err);
    if (!rc)
        rc = list_segments(w, err);
    if (!rc && w->nsegs)
        rc = recover(w, err);
    if (!rc && w->nsegs) /* the names read were maybe never synced */
        rc = sync_dir(w, err);
    if (!rc && !w->nsegs) {
        w->first_index = 1;
        rc = create_segment(w, 1, err);
        if (!rc)
            rc = wal_sync(w, err);
    }
    if (!rc) {
        check_acked(w);
        w->synced = w->last_index; /* fdatasynced by read_from_disk */
    }
    if (rc) {
        wal_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

void wal_close(wal *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nsegs; i++) {
        if (w->segs[i].fd >= 0)
            close(w->segs[i].fd);
        free(w->segs[i].offs);
    }
    if (w->dirfd >= 0)
        close(w->dirfd); /* releases the flock */
    free(w->segs);
    free(w->buf);
    free(w->pieces);
    free(w->iov);
    free(w->dir);
    free(w);
}

uint64_t wal_first_index(const wal *w) { return w->first_index; }
uint64_t wal_last_index(const wal *w) { return w->last_index; }
uint64_t wal_last_term(const wal *w) { return w->last_term; }
uint64_t wal_truncated_bytes(const wal *w) { return w->truncated; }
const char *wal_dir(const wal *w) { return w->dir; }
int wal_cut_kind(const wal *w) { return w->cut; }
uint64_t wal_synced_index(const wal *w) { return w->synced; }
uint64_t wal_acked_index(const wal *w) { return w->hs.acked; }

/* ---- append / sync -------------------------------------------------------- */

static int check_batch(const wal *w, const wal_entry *e, size_t n, lms_err *err)
{
    uint64_t expect = w->last_index + 1, term = w->last_term;
    for (size_t i = 0; i < n; i++, expect++) {
        if (e[i].index != expect)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "wal %s: entry %zu of the batch has index %" PRIu64
                               ", expected %" PRIu64,
                               w->dir, i, e[i].index, expect);
        if (e[i].term < term)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "wal %s: entry %" PRIu64 " has term %" PRIu64
                               ", below the previous term %" PRIu64,
                               w->dir, e[i].index, e[i].term, term);
        if (e[i].len > WAL_MAX_ENTRY_BYTES)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "wal %s: entry %" PRIu64 " is %zu bytes, above "
                               "the %zu-byte limit",
                               w->dir, e[i].index, e[i].len, WAL_MAX_ENTRY_BYTES);
        if (e[i].len && !e[i].data)
            return lms_err_set(err, LMS_INVALID_ARGUMENT,
                               "wal %s: entry %" PRIu64 " has no data",
                               w->dir, e[i].index);
        term = e[i].term;
    }
    return 0;
}

static void add_piece(wal *w, const uint8_t *ext, size_t off, size_t len)
{
    stage_piece *last = w->npieces ? &w->pieces[w->npieces - 1] : NULL;
    if (!ext && last && !last->ext && last->off + last->len == off) {
        last->len += len;
        return;
    }
    w->pieces[w->npieces++] = (stage_piece){ext, off, len};
}

/* Encode e at the end of the staged batch (into the current segment). */
static int stage_entry(wal *w, const wal_entry *e, lms_err *err)
{
    wal_seg *s = cur_seg(w);
    int copy = e->len <= COPY_MAX;
    size_t need = FULL_HDR + (copy ? e->len : 0);
    if (grow(&w->buf, &w->buf_cap, w->buf_len + need, 1) < 0 ||
        grow(&w->pieces, &w->pieces_cap, w->npieces + 2, sizeof *w->pieces) < 0 ||
        grow(&s->offs, &s->cap, s->n + w->pend_n + 1, sizeof *s->offs) < 0)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "wal %s: out of memory",
                           w->dir);
    uint8_t *h = w->buf + w->buf_len;
    put32(h, (uint32_t)(ENT_HDR + e->len));
    put64(h + REC_HDR, e->index);
    put64(h + REC_HDR + 8, e->term);
    put32(h + REC_HDR + 16, e->type);
    uint32_t crc = crc32c(0, h + REC_HDR, ENT_HDR);
    put32(h + 4, crc32c(crc, e->data, e->len));
    if (copy && e->len)
        memcpy(h + FULL_HDR, e->data, e->len);
    add_piece(w, NULL, w->buf_len, need);
    w->buf_len += need;
    if (!copy)
        add_piece(w, e->data, 0, e->len);
    s->offs[s->n + w->pend_n] = s->size + w->pend_bytes;
    w->pend_n++;
    w->pend_bytes += FULL_HDR + e->len;
    w->pend_term = e->term;
    return 0;
}

static void reset_stage(wal *w)
{
    w->buf_len = w->npieces = 0;
    w->pend_n = w->pend_bytes = 0;
}

/* Write the staged batch to the current segment and index it. */
static int flush_stage(wal *w, lms_err *err)
{
    if (!w->pend_n)
        return 0;
    if (grow(&w->iov, &w->iov_cap, w->npieces, sizeof *w->iov) < 0)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "wal %s: out of memory",
                           w->dir);
    for (size_t i = 0; i < w->npieces; i++) {
        const stage_piece *pc = &w->pieces[i];
        w->iov[i].iov_base = (void *)(pc->ext ? pc->ext : w->buf + pc->off);
        w->iov[i].iov_len = pc->len;
    }
    wal_seg *s = cur_seg(w);
    if (rw_full(s->fd, w->iov, w->npieces, s->size, 1) < 0)
        return io_err(w, err, "write", s->name);
    s->n += w->pend_n;
    s->size += w->pend_bytes;
    w->last_index += w->pend_n;
    w->last_term = w->pend_term;
    if (w->sync_from == NO_SEG)
        w->sync_from = w->nsegs - 1;
    reset_stage(w);
    return 0;
}

/* Where wal_append started: what a full disk rolls back to. */
typedef struct append_mark {
    size_t nsegs, sync_from;
    uint64_t seg_n, seg_size, last_index, last_term;
} append_mark;

/* The disk filled up during wal_append: remove the segments it created and
 * cut the one it started in back to where it was, so the log is what it
 * was before the call (the cut bytes were never synced; a crash before the
 * cut reaches the disk leaves them as a torn tail that open cuts). A
 * failure to undo fails the WAL. Shrinking a file needs no space. */
static int undo_append(wal *w, const append_mark *m, lms_err *err)
{
    LMS_ASSERT(w->nsegs >= m->nsegs);
    lms_err ignored;
    while (w->nsegs > m->nsegs)
        if (drop_last_segment(w, &ignored))
            return io_fail(w, err, "cannot remove a segment after a full disk",
                           cur_seg(w)->name);
    wal_seg *s = cur_seg(w); /* a short write may have gone past s->size */
    if (ftruncate(s->fd, (off_t)m->seg_size) < 0)
        return io_fail(w, err, "cannot cut back after a full disk", s->name);
    s->n = m->seg_n;
    s->size = m->seg_size;
    w->last_index = m->last_index;
    w->last_term = m->last_term;
    w->sync_from = m->sync_from;
    if (w->sync_from != NO_SEG && w->sync_from >= w->nsegs)
        w->sync_from = w->nsegs - 1;
    return LMS_RESOURCE_EXHAUSTED;
}

int wal_append(wal *w, const wal_entry *entries, size_t n, lms_err *err)
{
    if (w->failed)
        return failed_err(w, err);
    w->no_space = 0;
    int rc = check_batch(w, entries, n, err);
    if (rc)
        return rc;
    append_mark m = {w->nsegs, w->sync_from, cur_seg(w)->n, cur_seg(w)->size,
                     w->last_index, w->last_term};
    for (size_t i = 0; i < n && !rc; i++) {
        wal_seg *s = cur_seg(w);
        if (s->n + w->pend_n > 0 && s->size + w->pend_bytes >= w->segment_bytes) {
            rc = flush_stage(w, err);
            if (!rc)
                rc = create_segment(w, w->last_index + 1, err);
        }
        if (!rc)
            rc = stage_entry(w, &entries[i], err);
        if (!rc && w->buf_len >= STAGE_FLUSH)
            rc = flush_stage(w, err);
    }
    if (!rc)
        rc = flush_stage(w, err);
    if (rc && w->no_space && !w->failed) {
        rc = undo_append(w, &m, err);
        reset_stage(w);
        LMS_ASSERT(w->failed || w->last_index == m.last_index);
        return rc;
    }
    if (rc) {
        w->failed = 1;
        reset_stage(w);
    }
    return rc;
}

int wal_out_of_space(const wal *w) { return w->no_space && !w->failed; }

int wal_sync(wal *w, lms_err *err)
{
    w->no_space = 0;
    if (w->failed)
        return failed_err(w, err);
    if (w->sync_from != NO_SEG) {
        for (size_t k = w->sync_from; k < w->nsegs; k++)
            if (fdatasync(w->segs[k].fd) < 0)
                return io_fail(w, err, "fdatasync", w->segs[k].name);
        w->sync_from = NO_SEG;
    }
    int rc = w->dir_dirty ? sync_dir(w, err) : 0;
    if (!rc)
        w->synced = w->last_index;
    return rc;
}

/* ---- read / truncate ------------------------------------------------------ */

/* Where entry index lies: its segment, offset and record length. */
static wal_seg *locate(wal *w, uint64_t index, uint64_t *off, uint64_t *len)
{
    wal_seg *s = find_seg(w, index);
    uint64_t i = index - s->first;
    *off = s->offs[i];
    *len = (i + 1 < s->n ? s->offs[i + 1] : s->size) - *off;
    return s;
}

int wal_read(wal *w, uint64_t index, wal_entry *out, lms_err *err)
{
    if (index < w->first_index || index > w->last_index)
        return lms_err_set(err, LMS_NOT_FOUND,
                           "wal %s: no entry %" PRIu64 " (log holds %" PRIu64
                           "..%" PRIu64 ")",
                           w->dir, index, w->first_index, w->last_index);
    uint64_t off, len;
    wal_seg *s = locate(w, index, &off, &len);
    size_t dlen = (size_t)(len - FULL_HDR);
    uint8_t h[FULL_HDR];
    uint8_t *data = malloc(dlen ? dlen : 1);
    if (!data)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    struct iovec iov[2] = {{h, FULL_HDR}, {data, dlen}};
    if (rw_full(s->fd, iov, dlen ? 2 : 1, off, 0) < 0) {
        int e = errno;
        free(data);
        return lms_err_set(err, LMS_INTERNAL, "wal %s/%s: read at %" PRIu64 ": %s",
                           w->dir, s->name, off, strerror(e));
    }
    uint32_t crc = crc32c(crc32c(0, h + REC_HDR, ENT_HDR), data, dlen);
    if (get32(h) != len - REC_HDR || crc != get32(h + 4) ||
        get64(h + REC_HDR) != index) {
        free(data);
        return lms_err_set(err, LMS_DATA_LOSS,
                           "wal %s/%s: entry %" PRIu64 " at offset %" PRIu64
                           " is corrupt (CRC or header mismatch)",
                           w->dir, s->name, index, off);
    }
    *out = (wal_entry){index, get64(h + REC_HDR + 8), get32(h + REC_HDR + 16),
                       data, dlen};
    return 0;
}

/* The term of entry index, from its record header. */
static int term_at(wal *w, uint64_t index, uint64_t *term, lms_err *err)
{
    uint64_t off, len;
    wal_seg *s = locate(w, index, &off, &len);
    uint8_t h[FULL_HDR];
    struct iovec iov = {h, sizeof h};
    if (rw_full(s->fd, &iov, 1, off, 0) < 0)
        return lms_err_set(err, LMS_INTERNAL, "wal %s/%s: read at %" PRIu64 ": %s",
                           w->dir, s->name, off, strerror(errno));
    if (get64(h + REC_HDR) != index)
        return lms_err_set(err, LMS_DATA_LOSS,
                           "wal %s/%s: entry %" PRIu64 " at offset %" PRIu64
                           " has a corrupt header", w->dir, s->name, index, off);
    *term = get64(h + REC_HDR + 8);
    return 0;
}

int wal_truncate_after(wal *w, uint64_t index, lms_err *err)
{
    w->no_space = 0;
    if (w->failed)
        return failed_err(w, err);
    if (index >= w->last_index)
        return 0;
    if (index + 1 < w->first_index)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "wal %s: cannot truncate after %" PRIu64
                           ": the log starts at %" PRIu64,
                           w->dir, index, w->first_index);
    uint64_t term = 0;
    int rc = index >= w->first_index ? term_at(w, index, &term, err) : 0;
    if (!rc)
        rc = lower_acked(w, index, err);
    if (rc)
        return rc;
    while (w->nsegs > 1 && cur_seg(w)->first > index) {
        if ((rc = drop_last_segment(w, err)) != 0) {
            /* failed now; keep wal_read inside the segments still held */
            w->last_index = cur_seg(w)->first + cur_seg(w)->n - 1;
            return rc;
        }
    }
    wal_seg *s = cur_seg(w);
    uint64_t keep = index + 1 - s->first;
    if (keep < s->n) {
        uint64_t off = s->offs[keep];
        if (ftruncate(s->fd, (off_t)off) < 0)
            return io_fail(w, err, "cannot truncate", s->name);
        s->n = keep;
        s->size = off;
    }
    if (w->sync_from == NO_SEG || w->sync_from > w->nsegs - 1)
        w->sync_from = w->nsegs - 1;
    w->last_index = index;
    w->last_term = term;
    return wal_sync(w, err);
}

/* ---- compaction / reset --------------------------------------------------- */

/* Forget segments [0, n) (their files are gone); n < w->nsegs. */
static void forget_first_segments(wal *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (w->segs[i].fd >= 0)
            close(w->segs[i].fd);
        free(w->segs[i].offs);
    }
    memmove(w->segs, w->segs + n, (w->nsegs - n) * sizeof *w->segs);
    w->nsegs -= n;
    if (w->sync_from != NO_SEG)
        w->sync_from = w->sync_from > n ? w->sync_from - n : 0;
    w->first_index = w->segs[0].first;
}

/* Segments are unlinked oldest first, and no two unlinks ever wait on the
 * same directory fsync: the first unlink of a call may wait for the next
 * wal_sync, but an unlink still unsynced (from this call or an earlier
 * one) is made durable before the next one. So all a crash can bring back
 * is the newest removed segment, which ends right where the oldest kept
 * one starts: recovery, which reads on from the oldest file it finds, sees
 * one contiguous log. Were the unlinks free to land in any order, an older
 * segment could come back without the one between it and the rest, and
 * recovery would cut the log at that gap, losing everything after it. */
int wal_compact(wal *w, uint64_t index, lms_err *err)
{
    w->no_space = 0;
    if (w->failed)
        return failed_err(w, err);
    size_t n = 0; /* segment n - 1 ends before segs[n].first */
    while (n + 1 < w->nsegs && w->segs[n + 1].first - 1 <= index)
        n++;
    uint64_t old_first = w->first_index;
    size_t done = 0;
    int rc = 0;
    for (; done < n; done++) {
        if (w->unlink_unsynced && (rc = sync_dir(w, err)) != 0)
            break;
        const char *name = w->segs[done].name;
        if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT) {
            rc = io_fail(w, err, "cannot delete segment", name);
            break;
        }
        w->dir_dirty = 1;
        w->unlink_unsynced = 1;
    }
    if (done) {
        forget_first_segments(w, done);
        report(w, LMS_LOG_INFO,
               "wal %s: compacted through index %" PRIu64 ": %zu segment "
               "file(s) removed (entries %" PRIu64 "..%" PRIu64 "); log now "
               "holds %" PRIu64 "..%" PRIu64,
               w->dir, index, done, old_first, w->first_index - 1,
               w->first_index, w->last_index);
    }
    return rc;
}

/* Every segment goes (newest first, like a truncation), the removals are
 * made durable, and only then is the new segment created and made durable:
 * old and new segments are never on disk together, so a crash leaves the
 * new empty log, a run of the old one, or no segment at all. */
int wal_reset(wal *w, uint64_t index, uint64_t term, lms_err *err)
{
    w->no_space = 0;
    if (w->failed)
        return failed_err(w, err);
    if (index == UINT64_MAX)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "wal %s: cannot reset to index %" PRIu64
                           ": the log could not continue after it",
                           w->dir, index);
    uint64_t old_first = w->first_index, old_last = w->last_index;
    size_t old_segs = w->nsegs;
    int rc = lower_acked(w, 0, err);
    if (rc)
        return rc;
    /* empty from here on, so that wal_read never looks into a segment that
     * is gone, even if a step below fails */
    w->first_index = index + 1;
    w->last_index = index;
    w->last_term = term;
    while (w->nsegs > 0 && !rc)
        rc = drop_last_segment(w, err);
    if (!rc)
        rc = sync_dir(w, err);
    if (!rc)
        rc = create_segment(w, index + 1, err);
    if (!rc)
        rc = sync_dir(w, err);
    if (rc) { /* the old segments are gone: a full disk cannot be undone */
        w->failed = 1;
        w->no_space = 0;
        return rc;
    }
    w->synced = index;
    char held[64] = "no entries";
    if (old_last >= old_first)
        snprintf(held, sizeof held, "entries %" PRIu64 "..%" PRIu64, old_first,
                 old_last);
    report(w, LMS_LOG_INFO,
           "wal %s: reset to a snapshot at index %" PRIu64 " (term %" PRIu64
           "): removed %zu segment file(s) holding %s; the log continues at "
           "index %" PRIu64,
           w->dir, index, term, old_segs, held, index + 1);
    return 0;
}

/* ---- hardstate -------------------------------------------------------------- */

int wal_hardstate_read(const char *dir, wal_hardstate *hs, int *found,
                       lms_err *err)
{
    memset(hs, 0, sizeof *hs);
    *found = 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, HS_NAME);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0)
        return lms_err_set(err, LMS_INTERNAL, "%s: cannot open: %s", path,
                           strerror(errno));
    uint8_t b[HS_SIZE + 1];
    ssize_t k;
    while ((k = pread(fd, b, sizeof b, 0)) < 0 && errno == EINTR) {
    }
    int e = errno;
    close(fd);
    if (k < 0)
        return lms_err_set(err, LMS_INTERNAL, "%s: read: %s", path, strerror(e));
    if ((k != HS_SIZE && k != HS_SIZE_V1) || get32(b) != HS_MAGIC ||
        get32(b + 4) != crc32c(0, b + 8, (size_t)k - 8))
        return lms_err_set(err, LMS_DATA_LOSS,
                           "%s: corrupt (%zd bytes, bad size, magic or CRC): "
                           "the node's term and vote are lost",
                           path, k);
    hs->term = get64(b + 8);
    hs->vote = get64(b + 16);
    hs->acked = k == HS_SIZE ? get64(b + 24) : 0;
    *found = 1;
    return 0;
}

int wal_hardstate_load(const char *dir, uint64_t *term, uint64_t *vote,
                       lms_err *err)
{
    wal_hardstate hs;
    int found, rc = wal_hardstate_read(dir, &hs, &found, err);
    *term = hs.term;
    *vote = hs.vote;
    return rc;
}

/* Write hs to dir's temp file and fsync it. */
static int hs_write_tmp(int dfd, const char *dir, const wal_hardstate *hs,
                        lms_err *err)
{
    uint8_t b[HS_SIZE];
    put32(b, HS_MAGIC);
    put64(b + 8, hs->term);
    put64(b + 16, hs->vote);
    put64(b + 24, hs->acked);
    put32(b + 4, crc32c(0, b + 8, HS_SIZE - 8));
    int fd = openat(dfd, HS_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        return lms_err_set(err, errno_is_full(e) ? LMS_RESOURCE_EXHAUSTED
                                                 : LMS_INTERNAL,
                           "%s/%s: cannot create: %s", dir, HS_TMP, strerror(e));
    }
    struct iovec iov = {b, sizeof b};
    int rc = rw_full(fd, &iov, 1, 0, 1) < 0 || fsync(fd) < 0 ? -1 : 0;
    int e = errno;
    close(fd);
    if (!rc)
        return 0;
    /* The old file still holds the old state; a full disk (at the write
     * or at the temp file's fsync, which no rename will ever follow) is
     * LMS_RESOURCE_EXHAUSTED: nothing changed, try again later. */
    unlinkat(dfd, HS_TMP, 0);
    return lms_err_set(err, errno_is_full(e) ? LMS_RESOURCE_EXHAUSTED
                                             : LMS_INTERNAL,
                       "%s/%s: write: %s", dir, HS_TMP, strerror(e));
}

/* Replace dir's hardstate with hs: temp file, fsync, rename, fsync dir. */
static int hs_write(int dfd, const char *dir, const wal_hardstate *hs,
                    lms_err *err)
{
    int rc = hs_write_tmp(dfd, dir, hs, err);
    if (!rc && renameat(dfd, HS_TMP, dfd, HS_NAME) < 0)
        rc = lms_err_set(err, LMS_INTERNAL, "%s: rename %s to %s: %s", dir,
                         HS_TMP, HS_NAME, strerror(errno));
    if (!rc && fsync(dfd) < 0)
        rc = lms_err_set(err, LMS_INTERNAL, "%s: fsync: %s", dir, strerror(errno));
    return rc;
}

/* hs as w's hardstate file, whatever w->synced says (the evidence of
 * damage at open: keep_damage_evidence); the caller updates w->hs. */
static int hs_write_at(wal *w, const wal_hardstate *hs, lms_err *err)
{
    return hs_write(w->dirfd, w->dir, hs, err);
}

int wal_hardstate_save(const char *dir, uint64_t term, uint64_t vote,
                       lms_err *err)
{
    int rc = make_dirs(dir, err);
    if (rc)
        return rc;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return lms_err_set(err, LMS_INTERNAL, "%s: cannot open: %s", dir,
                           strerror(errno));
    wal_hardstate hs = {term, vote, 0};
    rc = hs_write(dfd, dir, &hs, err);
    close(dfd);
    return rc;
}

/* Write hs as w's hardstate; a failure fails the WAL (after a failed
 * fsync nothing about the directory can be trusted). */
static int save_hs(wal *w, const wal_hardstate *hs, lms_err *err)
{
    LMS_ASSERT(hs->acked <= w->synced);
    int rc = hs_write(w->dirfd, w->dir, hs, err);
    if (rc == LMS_RESOURCE_EXHAUSTED && !w->failed) {
        w->no_space = 1; /* the old file stands (hs_write_tmp) */
        return rc;
    }
    if (rc) {
        w->failed = 1;
        return rc;
    }
    w->hs = *hs;
    w->hs_found = 1;
    return 0;
}

/* Before a truncation to index: a hardstate that claims more goes down to
 * index first, durably, so the truncation never reads as a loss at open. */
static int lower_acked(wal *w, uint64_t index, lms_err *err)
{
    if (w->synced > index)
        w->synced = index; /* from here on, nothing above is sure */
    if (!w->hs_found || w->hs.acked <= index)
        return 0;
    wal_hardstate hs = w->hs;
    hs.acked = w->synced;
    return save_hs(w, &hs, err);
}

int wal_save_hardstate(wal *w, uint64_t term, uint64_t vote, lms_err *err)
{
    w->no_space = 0;
    if (w->failed)
        return failed_err(w, err);
    wal_hardstate hs = {term, vote, w->synced};
    return save_hs(w, &hs, err);
}

int wal_acked_stale(const wal *w)
{
    return w->hs_found && w->hs.acked != w->synced;
}

int wal_save_acked(wal *w, lms_err *err)
{
    w->no_space = 0;
    if (w->failed)
        return failed_err(w, err);
    if (!wal_acked_stale(w))
        return 0;
    wal_hardstate hs = w->hs;
    hs.acked = w->synced;
    return save_hs(w, &hs, err);
}

int wal_check_hardstate(const wal *w, uint64_t snapshot_index, lms_err *err)
{
    if (w->hs_found)
        return 0;
    char held[128];
    if (w->last_index >= w->first_index)
        snprintf(held, sizeof held, "its log holds entries %" PRIu64 "..%" PRIu64,
                 w->first_index, w->last_index);
    else if (w->first_index > 1 || snapshot_index)
        snprintf(held, sizeof held, "it holds a snapshot at index %" PRIu64,
                 snapshot_index ? snapshot_index : w->first_index - 1);
    else
        return 0; /* a fresh data dir */
    return lms_err_set(err, LMS_FAILED_PRECONDITION,
                       "%s/%s is missing, but this node is not new (%s): its "
                       "term and vote are lost, and starting over at term 0 "
                       "could make it vote twice in a term. Restore the file "
                       "from a backup of this data dir, or remove the node "
                       "from the cluster (lms-admin cluster-remove ID), "
                       "empty its data dir and add it again (lms-admin "
                       "cluster-add)",
                       w->dir, HS_NAME, held);
}

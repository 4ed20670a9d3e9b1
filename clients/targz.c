/* SPDX-License-Identifier: MIT */
/*
 * targz.c: ustar members in a gzip stream (see targz.h). The format, from
 * POSIX pax's "ustar Interchange Format": 512-byte header blocks, each
 * file's data padded to a whole block, two zero blocks at the end.
 */
#include "targz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK 512

struct lms_targz {
    gzFile gz;
    char dir[156];
};

/* A plain name: 1..max bytes, no '/', not "." or "..". */
static int plain_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max && strchr(s, '/') == NULL && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

/* v in octal, zero-padded, in a field of width bytes ending in NUL (the
 * callers' values fit: sizes below 8 GiB, times before the year 2242). */
static void octal(char *field, size_t width, uint64_t v)
{
    field[width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0; v >>= 3)
        field[i] = (char)('0' + (v & 7));
}

static int put(struct lms_targz *t, const void *p, size_t n, char *err, size_t errlen)
{
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? 1u << 30 : (unsigned)n;
        if (gzwrite(t->gz, p, chunk) != (int)chunk) {
            int zerr;
            const char *why = gzerror(t->gz, &zerr);
            snprintf(err, errlen, "%s", zerr == Z_ERRNO ? strerror(errno) : why);
            return -1;
        }
        p = (const char *)p + chunk;
        n -= chunk;
    }
    return 0;
}

static int header(struct lms_targz *t, const char *name, char type, unsigned mode,
                  uint64_t size, int64_t mtime, char *err, size_t errlen)
{
    unsigned char h[BLOCK] = {0};
    char *c = (char *)h;
    memcpy(c, name, strlen(name)); /* name[100]: checked to fit */
    octal(c + 100, 8, mode);
    octal(c + 108, 8, 0);                            /* uid */
    octal(c + 116, 8, 0);                            /* gid */
    octal(c + 124, 12, size);                        /* at most 8 GiB - 1 */
    octal(c + 136, 12, mtime > 0 ? (uint64_t)mtime : 0);
    c[156] = type;
    memcpy(c + 257, "ustar", 6);                     /* magic, NUL included */
    memcpy(c + 263, "00", 2);                        /* version */
    memcpy(c + 345, t->dir, strlen(t->dir));         /* prefix[155] */
    memset(c + 148, ' ', 8);                         /* the checksum counts as spaces */
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf(c + 148, 8, "%06o", sum);
    c[155] = ' ';
    return put(t, h, BLOCK, err, errlen);
}

struct lms_targz *lms_targz_open(int fd, const char *dir, int64_t mtime, char *err,
                                 size_t errlen)
{
    if (!plain_name(dir, sizeof ((struct lms_targz *)0)->dir - 1)) {
        snprintf(err, errlen, "'%s' cannot name the archive's directory", dir);
        return NULL;
    }
    struct lms_targz *t = calloc(1, sizeof *t);
    int fd2 = fd >= 0 ? dup(fd) : -1; /* gzclose closes its own */
    if (t == NULL || fd2 < 0 || (t->gz = gzdopen(fd2, "wb")) == NULL) {
        snprintf(err, errlen, "cannot start the archive: %s",
                 t == NULL || fd2 < 0 ? strerror(errno) : "out of memory");
        if (fd2 >= 0)
            close(fd2);
        free(t);
        return NULL;
    }
    /* the directory is the prefix of every member; its own entry is
     * "dir/" in the name field */
    char name[LMS_TAR_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s/", dir);
    if (strlen(dir) + 1 > LMS_TAR_NAME_MAX ||
        header(t, name, '5', 0700, 0, mtime, err, errlen) < 0) {
        if (strlen(dir) + 1 > LMS_TAR_NAME_MAX)
            snprintf(err, errlen, "'%s' is too long for the archive's directory", dir);
        lms_targz_abort(t);
        return NULL;
    }
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    return t;
}

int lms_targz_add(struct lms_targz *t, const char *name, const void *data, size_t len,
                  int64_t mtime, char *err, size_t errlen)
{
    static const unsigned char zeros[BLOCK];
    if (!plain_name(name, LMS_TAR_NAME_MAX)) {
        snprintf(err, errlen, "'%s' cannot name a member of the archive", name);
        return -1;
    }
    if (header(t, name, '0', 0600, len, mtime, err, errlen) < 0 ||
        put(t, data, len, err, errlen) < 0)
        return -1;
    size_t pad = (BLOCK - len % BLOCK) % BLOCK;
    return pad ? put(t, zeros, pad, err, errlen) : 0;
}

int lms_targz_close(struct lms_targz *t, char *err, size_t errlen)
{
    static const unsigned char end[2 * BLOCK];
    int rc = put(t, end, sizeof end, err, errlen);
    int zrc = gzclose(t->gz);
    if (rc == 0 && zrc != Z_OK) {
        snprintf(err, errlen, "cannot finish the archive: %s",
                 zrc == Z_ERRNO ? strerror(errno) : "zlib error");
        rc = -1;
    }
    free(t);
    return rc;
}

void lms_targz_abort(struct lms_targz *t)
{
    if (t == NULL)
        return;
    gzclose(t->gz);
    free(t);
}

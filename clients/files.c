/* SPDX-License-Identifier: MIT */
/*
 * files.c: reading, writing and hashing local files for the clients.
 */
#include "files.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lms_file_read(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "cannot read %s: it is a directory", path);
        errno = EISDIR;
        return -1;
    }
    /* st_size is a hint only (pipes, files that grow) */
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, off = 0;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        errno = ENOMEM;
    while (buf != NULL) {
        if (off == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                errno = ENOMEM;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + off, cap - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n == 0) {
            close(fd);
            *data = buf;
            *len = off;
            return 0;
        } else if (errno != EINTR) {
            break;
        }
    }
    int e = errno;
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
    free(buf);
    close(fd);
    errno = e;
    return -1;
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

int lms_file_write(const char *path, const uint8_t *data, size_t len, bool overwrite, char *err,
                   size_t errlen)
{
    bool to_stdout = strcmp(path, "-") == 0;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
    int fd = to_stdout ? STDOUT_FILENO : open(path, flags, 0644);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST)
            snprintf(err, errlen,
                     "%s already exists; not overwriting it (name it with -o to replace it)", path);
        else
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    int rc = write_all(fd, data, len);
    int e = errno;
    if (!to_stdout && close(fd) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot write %s: %s", to_stdout ? "standard output" : path,
                 strerror(e));
        errno = e;
    }
    return rc;
}

void lms_sha256(const void *data, size_t len, uint8_t out[LMS_SHA256_LEN])
{
    unsigned int n = LMS_SHA256_LEN;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL))
        memset(out, 0, LMS_SHA256_LEN);
}

const char *lms_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    return *base ? base : NULL;
}

bool lms_safe_file_name(const char *name)
{
    if (name == NULL || *name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    char why[160];
    /* no control, bidi or invisible character: the name is shown in ls */
    return strchr(name, '/') == NULL &&
           utf8_text_check("the file name", name, strlen(name), UTF8_LINE, why,
                           sizeof why) == 0;
}

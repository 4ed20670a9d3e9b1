/* SPDX-License-Identifier: MIT */
/*
 * fetch_all.c: lms-instructor fetch-all (see fetch_all.h). The list comes
 * first; the latest attempt of each student is fetched one at a time (one
 * file in memory at a time), checked against the SHA-256 of the list, and
 * written whole or not at all: a temporary file in the directory (created
 * with O_EXCL, mode 0600, never through a link), fsynced, then linked to
 * its name (renamed over it with --force). manifest.csv comes last, so a
 * directory with a manifest holds everything it lists.
 */
#include "fetch_all.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd_common.h"
#include "csv_out.h"
#include "files.h"
#include "isotime.h"
#include "targz.h"
#include "utf8.h"

#define MANIFEST "manifest.csv"
#define NAME_MAX_DIR 255 /* NAME_MAX of Linux file systems */
#define EXT_MAX 16

const struct cli_param cmd_fetch_all_params[] = {
    {.name = "assignment", .meta = "ID", .kind = CLI_ID, .flags = CLI_REQUIRED,
     .help = "the assignment"},
    {.name = "tar", .meta = "FILE.tar.gz", .kind = CLI_STRING,
     .help = "write one compressed archive instead of a directory"},
    {.name = "force", .kind = CLI_FLAG,
     .help = "write into a directory that is not empty (replacing files of the same names), "
             "or replace the archive"},
    {.name = "DIR", .kind = CLI_STRING, .flags = CLI_POSITIONAL,
     .help = "a new or empty directory to save into (made with mode 0700)"},
    CLI_END_PARAMS,
};

/* ---- names ---------------------------------------------------------------- */

static bool keep_ascii(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '+';
}

/* s cleaned into out (cap > 0): the rule of lms_fetch_all_name. */
static size_t clean(const char *s, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), at = 0;
    for (size_t i = 0, k; i < n && at + 1 < cap; i += k ? k : 1) {
        k = utf8_char_len(p + i, n - i);
        bool ok = k == 1 ? keep_ascii(p[i])
                  : k > 1 ? utf8_cp_allowed(utf8_decode(p + i, k), UTF8_LINE) &&
                                utf8_decode(p + i, k) >= 0xA0
                          : false;
        if (ok && at + k < cap) {
            memcpy(out + at, p + i, k);
            at += k;
        } else if (ok) {
            break; /* a whole character or none */
        } else {
            out[at++] = '_';
        }
    }
    out[at] = '\0';
    return at;
}

size_t lms_fetch_all_name(char *out, size_t cap, const char *student, uint64_t id,
                          const char *file, size_t max)
{
    char who[4 * 64 + 1], f[4 * 256 + 1];
    if (max >= cap)
        max = cap - 1;
    clean(student, who, sizeof who);
    size_t flen = clean(file, f, sizeof f);
    if (flen == 0)
        flen = (size_t)snprintf(f, sizeof f, "file");
    size_t wlen = utf8_prefix(who, strlen(who), 64); /* names are at most 64 bytes */
    int pre = snprintf(out, cap, "%.*s-%" PRIu64 "-", (int)(wlen ? wlen : 7),
                       wlen ? who : "student", id);
    size_t room = max > (size_t)pre ? max - (size_t)pre : 0;
    if (flen > room) {
        /* keep the extension, cut the stem at a character boundary */
        const char *dot = strrchr(f, '.');
        size_t ext = dot && dot != f ? strlen(dot) : 0;
        if (ext > EXT_MAX || ext * 2 > room)
            ext = 0;
        size_t stem = utf8_prefix(f, flen - ext, room - ext);
        memmove(f + stem, f + flen - ext, ext + 1);
        flen = stem + ext;
    }
    snprintf(out + pre, cap - (size_t)pre, "%s", f);
    if (out[0] == '.' || out[0] == '-')
        out[0] = '_';
    return (size_t)pre + flen;
}

/* ---- where the files go ------------------------------------------------------ */

struct saver {
    const char *path; /* DIR, or the archive */
    bool force;
    int dfd;           /* DIR: its descriptor */
    bool made;         /* DIR: made by this run */
    int tfd;           /* archive: the temporary file */
    char *tmp;         /* archive: its path */
    struct lms_targz *tar;
    unsigned seq;
};

/* Is the directory at path empty? -1 with errno when it cannot be read. */
static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    closedir(d);
    return empty;
}

/* Before asking the server: may the target be written? */
static int saver_check(struct cli_ctx *ctx, struct saver *s, bool tar)
{
    struct stat st;
    char err[1024];
    if (tar) {
        if (stat(s->path, &st) == 0 && !s->force)
            return cli_fail(ctx, LMS_EXIT_FAILED, "ALREADY_EXISTS",
                            "%s already exists; not replacing it (--force replaces it)",
                            s->path);
        if (stat(s->path, &st) == 0 && S_ISDIR(st.st_mode))
            return cli_fail(ctx, LMS_EXIT_FAILED, "ALREADY_EXISTS", "%s is a directory",
                            s->path);
        return LMS_EXIT_OK;
    }
    if (stat(s->path, &st) < 0) {
        if (errno == ENOENT)
            return LMS_EXIT_OK; /* made once the list has come */
        snprintf(err, sizeof err, "cannot use %s: %s", s->path, strerror(errno));
        return cli_fail_errno(ctx, errno, err);
    }
    if (!S_ISDIR(st.st_mode))
        return cli_fail(ctx, LMS_EXIT_FAILED, "ALREADY_EXISTS",
                        "%s exists and is not a directory", s->path);
    int empty = dir_is_empty(s->path);
    if (empty < 0) {
        snprintf(err, sizeof err, "cannot read %s: %s", s->path, strerror(errno));
        return cli_fail_errno(ctx, errno, err);
    }
    if (!empty && !s->force)
        return cli_fail(ctx, LMS_EXIT_FAILED, "ALREADY_EXISTS",
                        "%s is not empty; fetch-all saves into a new or empty directory "
                        "(--force writes into it, replacing files of the same names)",
                        s->path);
    return LMS_EXIT_OK;
}

static int saver_open(struct saver *s, bool tar, uint64_t assignment, char *err, size_t errlen)
{
    if (tar) {
        size_t n = strlen(s->path) + 16;
        s->tmp = malloc(n);
        if (s->tmp == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        snprintf(s->tmp, n, "%s.XXXXXX", s->path);
        s->tfd = mkstemp(s->tmp);
        if (s->tfd < 0) {
            snprintf(err, errlen, "cannot create a file next to %s: %s", s->path,
                     strerror(errno));
            free(s->tmp);
            s->tmp = NULL;
            return -1;
        }
        char dir[32];
        snprintf(dir, sizeof dir, "assignment-%" PRIu64, assignment);
        s->tar = lms_targz_open(s->tfd, dir, (int64_t)time(NULL), err, errlen);
        return s->tar ? 0 : -1;
    }
    if (mkdir(s->path, 0700) == 0)
        s->made = true;
    else if (errno != EEXIST) {
        snprintf(err, errlen, "cannot make the directory %s: %s", s->path, strerror(errno));
        return -1;
    }
    s->dfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dfd < 0) {
        snprintf(err, errlen, "cannot open the directory %s: %s", s->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* name (a plain name, lms_fetch_all_name) in DIR, whole or not at all. */
static int save_in_dir(struct saver *s, const char *name, const uint8_t *data, size_t len,
                       char *err, size_t errlen)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".fetch-all.%ld.%u.tmp", (long)getpid(), s->seq++);
    int fd = openat(s->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file in %s: %s", s->path, strerror(errno));
        return -1;
    }
    int rc = write_all(fd, data, len) == 0 && fsync(fd) == 0 ? 0 : -1;
    int e = errno;
    if (close(fd) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot write %s/%s: %s", s->path, name, strerror(e));
    } else {
        /* link() never replaces: a name that appeared meanwhile is kept */
        rc = s->force ? renameat(s->dfd, tmp, s->dfd, name) : linkat(s->dfd, tmp, s->dfd, name, 0);
        e = errno;
        if (rc < 0 && e == EEXIST)
            snprintf(err, errlen, "%s/%s appeared meanwhile; not replacing it", s->path, name);
        else if (rc < 0)
            snprintf(err, errlen, "cannot save %s/%s: %s", s->path, name, strerror(e));
    }
    if (rc < 0 || !s->force) /* renamed: there is nothing left to remove */
        unlinkat(s->dfd, tmp, 0);
    errno = e;
    return rc;
}

static int saver_put(struct saver *s, const char *name, const uint8_t *data, size_t len,
                     int64_t mtime_ms, char *err, size_t errlen)
{
    err[0] = '\0';
    if (s->tar)
        return lms_targz_add(s->tar, name, data, len, mtime_ms / 1000, err, errlen);
    return save_in_dir(s, name, data, len, err, errlen);
}

/* Sync the directory, or finish the archive and put it in place. */
static int saver_finish(struct saver *s, char *err, size_t errlen)
{
    if (!s->tar) {
        if (fsync(s->dfd) < 0) {
            snprintf(err, errlen, "cannot sync %s: %s", s->path, strerror(errno));
            return -1;
        }
        return 0;
    }
    struct lms_targz *t = s->tar;
    s->tar = NULL;
    if (lms_targz_close(t, err, errlen) < 0)
        return -1;
    if (fsync(s->tfd) < 0) {
        snprintf(err, errlen, "cannot sync %s: %s", s->tmp, strerror(errno));
        return -1;
    }
    int rc = s->force ? rename(s->tmp, s->path) : link(s->tmp, s->path);
    if (rc < 0) {
        snprintf(err, errlen, "cannot save %s: %s", s->path,
                 errno == EEXIST ? "it appeared meanwhile; not replacing it" : strerror(errno));
        return -1;
    }
    if (!s->force)
        unlink(s->tmp);
    free(s->tmp);
    s->tmp = NULL;
    return 0;
}

/* Close what is open; an unfinished archive's temporary file goes. */
static void saver_close(struct saver *s)
{
    if (s->tar)
        lms_targz_abort(s->tar);
    if (s->tmp) {
        unlink(s->tmp);
        free(s->tmp);
    }
    if (s->tfd >= 0)
        close(s->tfd);
    if (s->dfd >= 0)
        close(s->dfd);
}

/* ---- the submissions ---------------------------------------------------------- */

/* By student, then attempt (then id): each student's latest ends their run. */
static int by_student_attempt(const void *a, const void *b)
{
    const Lms__Submission *x = *(Lms__Submission *const *)a;
    const Lms__Submission *y = *(Lms__Submission *const *)b;
    int c = strcmp(x->student, y->student);
    if (c == 0)
        c = (x->attempt > y->attempt) - (x->attempt < y->attempt);
    if (c == 0)
        c = (x->id > y->id) - (x->id < y->id);
    return c;
}

/* The latest attempt of each student in r's list, by student name: a new
 * array of pointers into r (*n of them); NULL only when out of memory. */
static Lms__Submission **latest_of_each(const Lms__SubmissionsResponse *r, size_t *n)
{
    Lms__Submission **v = malloc((r->n_submissions + 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    if (r->n_submissions > 0) {
        memcpy(v, r->submissions, r->n_submissions * sizeof *v);
        qsort(v, r->n_submissions, sizeof *v, by_student_attempt);
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n_submissions; i++)
        if (i + 1 == r->n_submissions || strcmp(v[i]->student, v[i + 1]->student) != 0)
            v[k++] = v[i];
    *n = k;
    return v;
}

/* One saved submission, for the manifest and --json. */
struct saved {
    const Lms__Submission *s;
    char name[NAME_MAX_DIR + 1];
};

/* Fetch s and check it is what the list said: its id, student, size and
 * SHA-256 (of the bytes received). The response in *out. */
static int fetch_one(struct cli_ctx *ctx, const Lms__Submission *s, Lms__Response **out)
{
    Lms__FetchSubmissionRequest body = LMS__FETCH_SUBMISSION_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    uint8_t digest[LMS_SHA256_LEN];
    body.submission_id = s->id;
    CLI_SET_BODY(&req, fetch_submission, FETCH_SUBMISSION, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_SUBMISSION, out);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__Submission *got = (*out)->submission;
    lms_sha256(got->data.data, got->data.len, digest);
    if (got->id != s->id || strcmp(got->student, s->student) != 0 || got->data.len != s->size ||
        s->sha256.len != LMS_SHA256_LEN || memcmp(s->sha256.data, digest, LMS_SHA256_LEN) != 0) {
        lms__response__free_unpacked(*out, NULL);
        *out = NULL;
        return cli_fail(ctx, LMS_EXIT_FAILED, "DATA_LOSS",
                        "submission %" PRIu64 " did not arrive as listed (id, student, size "
                        "or sha256 differ); the manifest was not written",
                        s->id);
    }
    return LMS_EXIT_OK;
}

/* The manifest as CSV in a new buffer (*len bytes), NULL when out of memory. */
static char *manifest_csv(const struct saved *v, size_t n, size_t *len)
{
    static const char *const header[] = {"student", "submission_id", "attempt", "submitted",
                                         "late", "sha256", "size", "file_name", "saved_as",
                                         "identical_to"};
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        return NULL;
    csv_write_record(f, header, sizeof header / sizeof header[0]);
    for (size_t i = 0; i < n; i++) {
        const Lms__Submission *s = v[i].s;
        char id[24], attempt[16], when[LMS_TIME_BUFSZ], sha[2 * LMS_SHA256_LEN + 1], size[24],
            same[24] = "";
        snprintf(id, sizeof id, "%" PRIu64, s->id);
        snprintf(attempt, sizeof attempt, "%" PRIu32, s->attempt);
        snprintf(size, sizeof size, "%" PRIu64, s->size);
        if (s->identical_to)
            snprintf(same, sizeof same, "%" PRIu64, s->identical_to);
        const char *row[] = {s->student, id, attempt, lms_time_format(s->submitted, when),
                             s->late ? "yes" : "no",
                             out_hex(s->sha256.data, s->sha256.len, sha, sizeof sha), size,
                             s->file_name, v[i].name, same};
        csv_write_record(f, row, sizeof row / sizeof row[0]);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int report_done(struct cli_ctx *ctx, uint64_t assignment, const struct saver *s,
                       bool tar, const struct saved *v, size_t n)
{
    if (!ctx->json) {
        printf("saved %zu submission%s of assignment %" PRIu64 " (the latest attempt of each "
               "student) to %s, with %s\n",
               n, n == 1 ? "" : "s", assignment, s->path,
               tar ? "manifest.csv inside" : MANIFEST);
        return LMS_EXIT_OK;
    }
    json_object *doc = json_object_new_object(), *files = json_object_new_array();
    json_object_object_add(doc, "assignment", json_object_new_uint64(assignment));
    json_object_object_add(doc, tar ? "tar" : "dir", json_object_new_string(s->path));
    json_object_object_add(doc, "manifest", json_object_new_string(MANIFEST));
    json_object_object_add(doc, "saved", json_object_new_uint64(n));
    for (size_t i = 0; i < n; i++) {
        json_object *f = out_json_message(&v[i].s->base);
        json_object_object_add(f, "saved_as", json_object_new_string(v[i].name));
        json_object_array_add(files, f);
    }
    json_object_object_add(doc, "files", files);
    return cli_print_json(doc);
}

/* Save the latest of each (n of them) and the manifest. */
static int save_all(struct cli_ctx *ctx, struct saver *s, Lms__Submission **latest, size_t n,
                    struct saved *v)
{
    char err[1024];
    size_t max = s->tar ? LMS_TAR_NAME_MAX : NAME_MAX_DIR;
    for (size_t i = 0; i < n; i++) {
        Lms__Response *resp;
        v[i].s = latest[i];
        lms_fetch_all_name(v[i].name, sizeof v[i].name, latest[i]->student, latest[i]->id,
                           latest[i]->file_name, max);
        int rc = fetch_one(ctx, latest[i], &resp);
        if (rc != LMS_EXIT_OK)
            return rc;
        const Lms__Submission *got = resp->submission;
        rc = saver_put(s, v[i].name, got->data.data, got->data.len, got->submitted, err,
                       sizeof err);
        lms__response__free_unpacked(resp, NULL);
        if (rc < 0)
            return cli_fail_errno(ctx, errno, err);
    }
    size_t len;
    char *csv = manifest_csv(v, n, &len);
    if (csv == NULL)
        return cli_fail_errno(ctx, ENOMEM, "out of memory writing the manifest");
    int rc = saver_put(s, MANIFEST, (const uint8_t *)csv, len, (int64_t)time(NULL) * 1000, err,
                       sizeof err);
    free(csv);
    if (rc == 0)
        rc = saver_finish(s, err, sizeof err);
    return rc < 0 ? cli_fail_errno(ctx, errno, err) : LMS_EXIT_OK;
}

int cmd_fetch_all(struct cli_ctx *ctx, const struct cli_args *a)
{
    uint64_t assignment = cli_u64(a, "assignment", 0);
    const char *dir = cli_str(a, "DIR"), *tar = cli_str(a, "tar");
    struct saver s = {.path = dir ? dir : tar, .force = cli_has(a, "force"), .dfd = -1,
                      .tfd = -1};
    char err[1024];
    if ((dir == NULL) == (tar == NULL))
        return cli_usage_error(ctx, dir ? "give DIR or --tar FILE.tar.gz, not both"
                                        : "give the directory to save into (DIR), or --tar "
                                          "FILE.tar.gz");
    int rc = saver_check(ctx, &s, tar != NULL);
    if (rc != LMS_EXIT_OK)
        return rc;

    Lms__ListSubmissionsRequest body = LMS__LIST_SUBMISSIONS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *list;
    body.assignment_id = assignment;
    CLI_SET_BODY(&req, list_submissions, LIST_SUBMISSIONS, &body);
    rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_SUBMISSIONS, &list);
    if (rc != LMS_EXIT_OK)
        return rc;
    size_t n = 0;
    Lms__Submission **latest = latest_of_each(list->submissions, &n);
    struct saved *v = calloc(n + 1, sizeof *v);
    if (latest == NULL || v == NULL)
        rc = cli_fail_errno(ctx, ENOMEM, "out of memory");
    else if (saver_open(&s, tar != NULL, assignment, err, sizeof err) < 0)
        rc = cli_fail_errno(ctx, errno, err);
    else
        rc = save_all(ctx, &s, latest, n, v);
    if (rc == LMS_EXIT_OK)
        rc = report_done(ctx, assignment, &s, tar != NULL, v, n);
    else if (s.made && dir_is_empty(s.path) == 1)
        rmdir(s.path); /* nothing came of it: leave no trace */
    saver_close(&s);
    free(v);
    free(latest);
    lms__response__free_unpacked(list, NULL);
    return rc;
}

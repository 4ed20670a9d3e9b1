/* SPDX-License-Identifier: MIT */
/*
 * session.c: reading and writing the session file of session.h with json-c.
 * The token is a secret: the file is private to the user from the moment
 * it exists, and the token's memory is wiped when it is let go.
 */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SESSION_FILE "session"
#define SESSION_MAX_BYTES 65536

char *lms_session_dir(const char *home)
{
    return lms_session_dir_from(home, NULL);
}

char *lms_session_dir_from(const char *home, const char **from)
{
    char *dir = NULL;
    const char *env = getenv("LMS_HOME"), *xdg = getenv("XDG_CONFIG_HOME");
    const char *chosen = NULL;
    if (home != NULL && *home != '\0') {
        chosen = "--home";
        dir = strdup(home);
    } else if (env != NULL && *env != '\0') {
        chosen = "LMS_HOME";
        dir = strdup(env);
    } else if (xdg != NULL && xdg[0] == '/') {
        /* the XDG base directory spec: a relative value is to be ignored */
        chosen = "XDG_CONFIG_HOME";
        if (asprintf(&dir, "%s/lms", xdg) < 0)
            dir = NULL;
    } else {
        const char *user_home = getenv("HOME");
        if (user_home == NULL || *user_home == '\0') {
            struct passwd *pw = getpwuid(getuid());
            user_home = pw ? pw->pw_dir : NULL;
        }
        if (user_home != NULL && asprintf(&dir, "%s/.config/lms", user_home) < 0)
            dir = NULL;
    }
    if (from != NULL)
        *from = chosen;
    return dir;
}

/* mkdir -p with mode 0700 for every directory created. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char *path = strdup(dir);
    if (path == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            free(path);
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(path);
    return 0;
}

static char *session_path(const char *dir, const char *suffix)
{
    char *path;
    return asprintf(&path, "%s/%s%s", dir, SESSION_FILE, suffix) < 0 ? NULL : path;
}

static char *dup_member(json_object *obj, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return strdup(json_object_get_string(v));
}

/* Read at most SESSION_MAX_BYTES of path into a NUL-terminated buffer.
 * Returns NULL with errno set on failure. */
static char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(SESSION_MAX_BYTES + 1);
    size_t len = 0;
    ssize_t n = 0;
    while (buf != NULL && len < SESSION_MAX_BYTES &&
           ((n = read(fd, buf + len, SESSION_MAX_BYTES - len)) > 0 || (n < 0 && errno == EINTR)))
        len += n > 0 ? (size_t)n : 0;
    int saved = errno;
    close(fd);
    if (buf == NULL || n < 0) {
        free(buf);
        errno = buf == NULL ? ENOMEM : saved;
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

int lms_session_load(const char *dir, struct lms_session *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    char *path = session_path(dir, "");
    char *text = path ? slurp(path) : NULL;
    if (text == NULL) {
        int e = path ? errno : ENOMEM;
        if (e != ENOENT)
            snprintf(err, errlen, "cannot read %s: %s", path ? path : dir, strerror(e));
        free(path);
        return e == ENOENT ? 1 : -1;
    }
    json_object *obj = json_tokener_parse(text);
    explicit_bzero(text, strlen(text));
    free(text);
    if (obj != NULL) {
        json_object *v;
        s->token = dup_member(obj, "token");
        s->user = dup_member(obj, "user");
        s->role = dup_member(obj, "role");
        s->servers = dup_member(obj, "servers");
        s->tls = dup_member(obj, "tls");
        s->cacert = dup_member(obj, "cacert");
        if (json_object_object_get_ex(obj, "expires", &v))
            s->expires = json_object_get_int64(v);
        json_object_put(obj);
    }
    if (s->token == NULL || s->user == NULL) {
        snprintf(err, errlen, "the session file %s is damaged", path);
        lms_session_clear(s);
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

static json_object *session_json(const struct lms_session *s)
{
    json_object *obj = json_object_new_object();
    json_object_object_add(obj, "user", json_object_new_string(s->user ? s->user : ""));
    json_object_object_add(obj, "role", json_object_new_string(s->role ? s->role : ""));
    json_object_object_add(obj, "servers", json_object_new_string(s->servers ? s->servers : ""));
    json_object_object_add(obj, "tls", json_object_new_string(s->tls ? s->tls : "default"));
    if (s->cacert != NULL)
        json_object_object_add(obj, "cacert", json_object_new_string(s->cacert));
    json_object_object_add(obj, "expires", json_object_new_int64(s->expires));
    json_object_object_add(obj, "token", json_object_new_string(s->token ? s->token : ""));
    return obj;
}

/* Write text to a new file at tmp (mode 0600), fsync it (if sync) and
 * rename it over path. */
static int write_atomically(const char *tmp, const char *path, const char *text, bool sync,
                            char *err, size_t errlen)
{
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    int bad = off < len || (sync && fsync(fd) < 0);
    bad |= close(fd) < 0;
    if (bad || rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int lms_session_save(const char *dir, const struct lms_session *s, char *err, size_t errlen)
{
    if (make_dirs(dir, err, errlen) < 0)
        return -1;
    char *path = session_path(dir, ""), *tmp = session_path(dir, ".tmp");
    json_object *obj = session_json(s);
    int rc = -1;
    if (path == NULL || tmp == NULL || obj == NULL) {
        snprintf(err, errlen, "out of memory");
    } else {
        int flags =
            JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE;
        char *text = strdup(json_object_to_json_string_ext(obj, flags));
        if (text != NULL)
            rc = write_atomically(tmp, path, text, true, err, errlen);
        else
            snprintf(err, errlen, "out of memory");
        if (text != NULL)
            explicit_bzero(text, strlen(text));
        free(text);
    }
    json_object_put(obj);
    free(path);
    free(tmp);
    return rc;
}

int lms_session_remove(const char *dir, char *err, size_t errlen)
{
    char *path = session_path(dir, "");
    if (path == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = unlink(path) < 0 && errno != ENOENT ? -1 : 0;
    if (rc < 0)
        snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
    free(path);
    return rc;
}

void lms_session_clear(struct lms_session *s)
{
    if (s->token != NULL)
        explicit_bzero(s->token, strlen(s->token));
    free(s->token);
    free(s->user);
    free(s->role);
    free(s->servers);
    free(s->tls);
    free(s->cacert);
    memset(s, 0, sizeof *s);
}

char *lms_home_read(const char *dir, const char *name)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    char *text = slurp(path);
    int e = errno;
    free(path);
    errno = e;
    return text;
}

int lms_home_write(const char *dir, const char *name, const char *text, bool sync, char *err,
                   size_t errlen)
{
    char *path = NULL, *tmp = NULL;
    int rc = -1;
    if (make_dirs(dir, err, errlen) < 0)
        return -1;
    if (asprintf(&path, "%s/%s", dir, name) < 0 || asprintf(&tmp, "%s/%s.tmp", dir, name) < 0)
        snprintf(err, errlen, "out of memory");
    else
        rc = write_atomically(tmp, path, text, sync, err, errlen);
    free(path);
    free(tmp);
    return rc;
}

void lms_home_remove(const char *dir, const char *name)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) >= 0) {
        unlink(path);
        free(path);
    }
}
